#!/usr/bin/env bash
# web_events.sh: the FastCGI event loop of wsb-handler (a pool's worker, or a
# process on a socket a web server gave it).  Kept connections
# (FCGI_KEEP_CONN) are served request after request and cost no thread while
# idle: hundreds of idle connections do not stop a single-threaded process
# from answering; garbage, a closed connection or a half-sent request affect
# only their own connection; past 512 connections a process stops accepting
# until some close; SIGTERM with connections open stops at once.  Raw
# FastCGI through tests/tools/fcgi_conn.py; no web server needed.
. "$(dirname "$0")/../lib.sh"
H="$BUILD/wsb-handler"
FC="$T_ROOT/tests/tools/fcgi_conn.py"

t_redis_start
printf '[{"id":"lon","endpoint":"wss://lon.example.net/ws","location":"London","lat":51.5,"lon":-0.1,"versions":["v1"],"online":true,"load":0.1}]' > "$T_DIR/s.json"
t_state "$T_DIR/s.json"
export WSB_REDIS_URL=$T_REDIS_URL

SOCK="$T_DIR/pool.sock"
start_pool() {   # log args...
    local log=$1; shift
    "$H" "$@" 2>>"$log" &
    POOL_PID=$!
    T_PIDS+=("$POOL_PID")
    t_wait_for test -S "$SOCK"
    WORKER=""
    for _ in $(seq 100); do WORKER=$(pgrep -P "$POOL_PID" | head -1); [ -n "$WORKER" ] && break; sleep 0.05; done
}
fds() { ls "/proc/$1/fd" | wc -l; }

# --- one worker, one thread ---
start_pool "$T_DIR/p1.log" --listen "$SOCK" --workers 1 --threads 1
t_eq "200 requests on one kept connection, which stays open" "200 1" "$(python3 "$FC" "$SOCK" kept 200)"
t_eq "two kept connections taking turns" 100 "$(python3 "$FC" "$SOCK" interleave 50)"
base=$(fds "$WORKER")
t_eq "50 kept connections, each closed by the web server" 50 "$(python3 "$FC" "$SOCK" close-kept 50)"
sleep 0.3
t_eq "closed kept connections are released (descriptors back to $base)" "$base" "$(fds "$WORKER")"

# Hundreds of idle connections: one thread still answers a new one at once.
coproc IDLE { python3 "$FC" "$SOCK" idle 300; }
read -r -t 20 opened status ms <&"${IDLE[0]}"
t_eq "300 idle connections open" 300 "${opened:-}"
t_eq "a single-threaded process with 300 idle connections answers" 200 "${status:-}"
t_true "and at once (${ms:-?} ms)" test "${ms:-9999}" -lt 1000
exec {IDLE[1]}>&-
wait "$IDLE_PID" 2>/dev/null
sleep 0.3
t_eq "idle connections released when closed" "$base" "$(fds "$WORKER")"

t_eq "end of stdin sent after the answer (Apache): the kept connection lives on" 50 "$(python3 "$FC" "$SOCK" late-stdin 50)"
t_eq "a small body is read and ignored; the connection lives on" "200 200" "$(python3 "$FC" "$SOCK" body 1000)"
t_eq "a body over 128 KiB: answered, then the connection closes" "200 0" "$(python3 "$FC" "$SOCK" body 200000)"
half_closed_ms=$(python3 "$FC" "$SOCK" half-closed)
t_true "half a request, then the web server's side shut: closed at once, not after 10 s (${half_closed_ms} ms)" \
    test "$half_closed_ms" -gt 0 -a "$half_closed_ms" -lt 1000
t_eq "garbage closes its connection only; a kept one still answers" "1 1" "$(python3 "$FC" "$SOCK" garbage)"
t_true "still serves after garbage" test "$(python3 "$FC" "$SOCK" kept 3)" = "3 1"

# Past 512 connections the process stops accepting, and says so once;
# accepting resumes when they close.
coproc MANY { python3 "$FC" "$SOCK" idle 520; }
read -r -t 30 opened status ms <&"${MANY[0]}"
t_eq "520 connections opened" 520 "${opened:-}"
t_eq "past 512 open connections, a new one waits" 0 "${status:-}"
t_true "the limit is logged" grep -q "512 connections open in this process; new ones wait until some close" "$T_DIR/p1.log"
exec {MANY[1]}>&-
wait "$MANY_PID" 2>/dev/null
t_eq "accepting again once they closed" "3 1" "$(python3 "$FC" "$SOCK" kept 3)"
t_eq "limit logged once" 1 "$(grep -c "connections open in this process" "$T_DIR/p1.log")"
# Kept connections (each used once, as a web server's pool after a burst)
# do not hold the limit: the one unused longest is closed to make room.
read -r kept status ms closed <<< "$(python3 "$FC" "$SOCK" idle-kept 520)"
t_eq "520 kept connections, then a new one: answered" "520 200" "${kept:-} ${status:-}"
t_true "... at once (${ms:-?} ms)" test "${ms:-99999}" -lt 1000
t_true "... by closing kept ones unused longest (${closed:-?} closed)" test "${closed:-0}" -ge 9

# SIGTERM with connections open: the pool stops at once, exit 0.
coproc HOLD { python3 "$FC" "$SOCK" idle 20; }
read -r -t 20 opened status ms <&"${HOLD[0]}"
start=$(date +%s%N)
kill -TERM "$POOL_PID"; wait "$POOL_PID"; rc=$?
took=$(( ($(date +%s%N) - start) / 1000000 ))
t_eq "SIGTERM with 20 connections open: exit 0" 0 "$rc"
t_true "and within 2 s (${took} ms)" test "$took" -lt 2000
exec {HOLD[1]}>&-
wait "$HOLD_PID" 2>/dev/null

# --- two threads: a half-sent request holds one of them, not the process ---
start_pool "$T_DIR/p2.log" --listen "$SOCK" --workers 1 --threads 2
coproc HALF { python3 "$FC" "$SOCK" half; }
read -r -t 20 status ms <&"${HALF[0]}"
t_eq "two threads: a half-sent request does not stop the other" 200 "${status:-}"
t_true "and the other answers at once (${ms:-?} ms)" test "${ms:-9999}" -lt 1000
exec {HALF[1]}>&-
wait "$HALF_PID" 2>/dev/null
t_eq "two threads: kept connections" "100 1" "$(python3 "$FC" "$SOCK" kept 100)"
t_eq "two threads: two kept connections taking turns" 100 "$(python3 "$FC" "$SOCK" interleave 50)"
# Many clients at once over kept connections, both threads at work.
clients=()
for i in $(seq 8); do python3 "$FC" "$SOCK" kept 100 > "$T_DIR/par.$i" & clients+=($!); done
wait "${clients[@]}"
t_eq "two threads: 8 clients x 100 kept requests" "800" "$(cat "$T_DIR"/par.* | awk '{s += $1} END {print s}')"
kill -TERM "$POOL_PID"; wait "$POOL_PID"
t_eq "two threads: SIGTERM exit 0" 0 "$?"

t_no_sanitizer_reports "no sanitizer reports" "$T_DIR"/*.log
t_summary
