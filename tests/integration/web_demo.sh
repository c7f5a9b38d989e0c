#!/usr/bin/env bash
# web_demo.sh: scripts/demo.sh (`make demo`) cannot rot: run on a private
# port, non-interactive (DEMO_SECONDS=0) it shows each client the right
# node, the London node failing and its clients moving, and stops all it
# started; run as `make demo` runs it (until Ctrl-C) it serves until SIGINT
# and then stops everything and removes its folder; a busy port is a clear
# error.
. "$(dirname "$0")/web_lib.sh"
DEMO="$T_ROOT/scripts/demo.sh"
line_for() { grep -F "$1" "$T_DIR/demo.out" | grep -F -- "->" | sed -n "${2:-1}p"; }
loc() { sed -n 's/.*"location":"\([^"]*\)".*/\1/p'; }

# --- non-interactive ---
PORT=$(t_free_port)
DEMO_SECONDS=0 DEMO_PORT=$PORT DEMO_DIR="$T_DIR/demo" BUILD="$BUILD" timeout 50 "$DEMO" >"$T_DIR/demo.out" 2>&1
rc=$?
t_eq "DEMO_SECONDS=0: exit 0" 0 "$rc"
[ "$rc" -eq 0 ] || cat "$T_DIR/demo.out" >&2
t_true "it ran the real probe" grep -q "wsb-probe --inventory" "$T_DIR/demo.out"
t_true "it served through lighttpd on the given port" grep -q "lighttpd on http://127.0.0.1:$PORT" "$T_DIR/demo.out"
t_eq "London client -> London" London "$(line_for "(81.2.69.142)" | loc)"
t_eq "Japanese client (IPv6) -> Tokyo" Tokyo "$(line_for "(2001:218::1)" | loc)"
t_eq "US client -> Seattle" Seattle "$(line_for "(216.160.83.56)" | loc)"
t_eq "Swedish client -> Stockholm" Stockholm "$(line_for "(89.160.20.112)" | loc)"
t_eq "Chinese client -> Tokyo" Tokyo "$(line_for "(175.16.199.1)" | loc)"
t_match "an unknown API version: error 102" '"error_code":102' "$(line_for "API version 2")"
t_true "the probe saw London fail" grep -q "probe: node lon: online -> offline" "$T_DIR/demo.out"
t_eq "London down: the London client moves to Frankfurt" Frankfurt "$(line_for "(81.2.69.142)" 2 | loc)"
t_eq "London down: another UK client too" Frankfurt "$(line_for "(2.125.160.216)" | loc)"
t_true "the probe saw London return" grep -q "probe: node lon: offline -> online" "$T_DIR/demo.out"
t_eq "London back: London again" London "$(line_for "(81.2.69.142)" 3 | loc)"
t_true "it says it stopped" grep -q "^stopped.$" "$T_DIR/demo.out"
t_eq "nothing it started is left running" "" "$(pgrep -f "$T_DIR/demo" | tr '\n' ' ')"
t_true "the port is free again" bash -c "! (: < /dev/tcp/127.0.0.1/$PORT) 2>/dev/null"
t_true "a given DEMO_DIR is left in place" test -d "$T_DIR/demo"
t_true "no Redis on the default port was touched" bash -c "! grep -q ':6379' '$T_DIR/demo.out'"

# --- as `make demo` runs it: until Ctrl-C ---
PORT=$(t_free_port)
# A background job of a script starts with SIGINT ignored; a terminal's
# Ctrl-C reaches `make demo` with SIGINT in place: restore it before exec.
DEMO_PORT=$PORT BUILD="$BUILD" python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.execv(sys.argv[1], sys.argv[1:])' "$DEMO" >"$T_DIR/demo2.out" 2>&1 &
demo=$!
T_PIDS+=("$demo")
for _ in $(seq 400); do grep -q "Ctrl-C stops the demo\|^demo: " "$T_DIR/demo2.out" && break; sleep 0.1; done
t_true "interactive: waits for Ctrl-C" grep -q "Ctrl-C stops the demo" "$T_DIR/demo2.out"
dir=$(sed -n 's/^handler log: \(.*\)\/handler.log$/\1/p' "$T_DIR/demo2.out")
out=$(curl -s -H "X-Forwarded-For: 81.2.69.142" "http://127.0.0.1:$PORT/v1/websocket/server")
t_match "interactive: still serving after the show" '"location":"London"' "$out"
kill -INT "$demo"
wait "$demo"
t_eq "Ctrl-C: exit 0" 0 "$?"
t_true "Ctrl-C: it says it stopped" grep -q "^stopped.$" "$T_DIR/demo2.out"
t_eq "Ctrl-C: nothing it started is left running" "" "$( [ -n "$dir" ] && pgrep -f "$dir" | tr '\n' ' ')"
t_true "Ctrl-C: its temporary folder is removed" test -n "$dir" -a ! -e "$dir"

# --- a busy port ---
python3 -c 'import socket,time,sys; s=socket.socket(); s.bind(("127.0.0.1",int(sys.argv[1]))); s.listen(); time.sleep(30)' "$PORT" &
T_PIDS+=($!)
t_wait_for bash -c "(: < /dev/tcp/127.0.0.1/$PORT) 2>/dev/null"
DEMO_SECONDS=0 DEMO_PORT=$PORT BUILD="$BUILD" "$DEMO" >"$T_DIR/demo3.out" 2>&1
t_eq "busy port: exit 1" 1 "$?"
t_true "busy port: says which and what to do" grep -q "127.0.0.1:$PORT is in use; pick another port: DEMO_PORT=" "$T_DIR/demo3.out"
t_summary
