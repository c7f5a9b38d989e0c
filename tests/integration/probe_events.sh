#!/usr/bin/env bash
# probe_events.sh: every change of a node's state lands in the capped
# stream wsb:events with the round that made it (README "Monitoring"), and
# --on-change runs once per event, bounded in time, never fatal.  A node
# goes offline and back; a drain and an undrain; a canary that does not
# answer makes one probe_fault across two skipped rounds, and a probe_ok
# after; the stream's cap; a command that sleeps past its bound, one that
# fails; a Redis user without +xadd still writes its rounds.
. "$(dirname "$0")/probe_lib.sh"

t_redis_start
p_ports 3
A=$P_BASE; B=$((P_BASE + 1)); CANARY=$((P_BASE + 2)); NOTHING=$(t_free_port)
standin() {   # B's mode
    printf '{"nodes": {"%d": {"mode": "ok"}, "%d": {"mode": "%s"}, "%d": {"mode": "ok"}}}' \
        "$A" "$B" "$1" "$CANARY" > "$T_DIR/standin.tmp"
    mv "$T_DIR/standin.tmp" "$T_DIR/standin.json"
}
standin ok
p_standin "$T_DIR/standin.json" || { t_fail "stand-in"; t_summary; exit 1; }
cat > "$T_DIR/inv.json" <<JSON
{"allow_insecure_ws": true, "defaults": {"versions": ["v1"], "location": "L", "check": {"rise": 1, "fall": 2, "timeout_ms": 1000}},
 "nodes": [{"id": "a", "endpoint": "ws://127.0.0.1:$A/ws"}, {"id": "b", "endpoint": "ws://127.0.0.1:$B/ws"}]}
JSON
ENVLOG="$T_DIR/env.log"
cat > "$T_DIR/on-change.sh" <<SH
#!/bin/sh
read -r line || line=eof   # stdin is /dev/null
printf '%s|%s|%s|%s|%s|%s|%s\n' "\$WSB_EVENT" "\$WSB_NODE" "\$WSB_REASON" "\$WSB_AT" "\$WSB_ROUND" "\$WSB_PROBE" "\$line" >> "$ENVLOG"
SH
chmod +x "$T_DIR/on-change.sh"
ONCH=(--on-change "$T_DIR/on-change.sh")

xlen() { t_rcli XLEN wsb:events; }
# The fields of the stream's last entry as "event|node|reason|round".
last_entry() {
    t_rcli --raw XREVRANGE wsb:events + - COUNT 1 | "$PY" -c '
import sys
l = sys.stdin.read().split("\n")[1:]
f = dict(zip(l[0::2], l[1::2]))
print("|".join(f.get(k, "-") for k in ("event", "node", "reason", "round", "probe")))'
}

# ---- first checks, then b goes offline and comes back
p_probe --inventory "$T_DIR/inv.json" --once "${ONCH[@]}"
t_eq "first round: exit 0" 0 "$P_RC"
round=$(t_rcli HGET wsb:round id)
t_eq "first round: two online events" 2 "$(xlen)"
t_match "first round: the events name the round" "^online\|b\|first check: ok\|$round\|[^|]+:[0-9]+$" "$(last_entry)"
t_eq "first round: on-change ran twice" 2 "$(wc -l < "$ENVLOG")"
t_match "on-change: the environment, stdin /dev/null" "^online\|a\|first check: ok\|[0-9]{10}\|$round\|[^|]+:[0-9]+\|eof$" "$(head -1 "$ENVLOG")"
p_probe --inventory "$T_DIR/inv.json" --once "${ONCH[@]}"
t_eq "no change: no event" 2 "$(xlen)"
t_eq "no change: on-change not run" 2 "$(wc -l < "$ENVLOG")"
standin close
p_probe --inventory "$T_DIR/inv.json" --once "${ONCH[@]}"
t_eq "one failure (fall 2): no event yet" 2 "$(xlen)"
p_probe --inventory "$T_DIR/inv.json" --once "${ONCH[@]}"
round=$(t_rcli HGET wsb:round id)
t_match "offline: the event says why" "^offline\|b\|closed[^|]*, 2 failures in a row\|$round\|" "$(last_entry)"
t_match "offline: on-change told" "^offline\|b\|closed[^|]*, 2 failures in a row\|[0-9]+\|$round\|" "$(tail -1 "$ENVLOG")"
standin ok
p_probe --inventory "$T_DIR/inv.json" --once "${ONCH[@]}"
t_match "online again" "^online\|b\|1 checks ok\|$(t_rcli HGET wsb:round id)\|" "$(last_entry)"
t_eq "four events so far" 4 "$(xlen)"

# ---- drain and undrain
out=$("$PROBE" --redis "$T_REDIS_URL" drain b "${ONCH[@]}" 2>"$T_DIR/drain.err")
t_eq "drain: exit 0" 0 $?
t_match "drain: said" "node b drained" "$out"
t_match "drain: an event" "^drained\|b\|wsb-probe drain\|\|" "$(last_entry)"
t_match "drain: on-change told" "^drained\|b\|wsb-probe drain\|[0-9]+\|\|" "$(tail -1 "$ENVLOG")"
"$PROBE" --redis "$T_REDIS_URL" undrain b 2>/dev/null >/dev/null
t_match "undrain: an event" "^undrained\|b\|wsb-probe undrain\|" "$(last_entry)"

# ---- a probe fault: one event for the episode, and probe_ok after it
sed "s|{\"allow_insecure_ws\": true,|{\"allow_insecure_ws\": true, \"canary\": {\"address\": \"127.0.0.1:$NOTHING\", \"timeout_ms\": 1000},|" \
    "$T_DIR/inv.json" > "$T_DIR/canary.json"
before=$(xlen)
p_probe --inventory "$T_DIR/canary.json" --once "${ONCH[@]}"
t_eq "canary silent: exit 3" 3 "$P_RC"
t_match "canary silent: probe_fault" "^probe_fault\|-\|the canary tcp 127.0.0.1:$NOTHING failed: refused" "$(last_entry)"
t_match "canary silent: on-change told" "^probe_fault\|\|the canary tcp" "$(tail -1 "$ENVLOG")"
p_probe --inventory "$T_DIR/canary.json" --once "${ONCH[@]}"
t_eq "canary silent again: exit 3" 3 "$P_RC"
t_eq "two skipped rounds: one probe_fault" $((before + 1)) "$(xlen)"
t_eq "two skipped rounds: on-change once" 1 "$(grep -c '^probe_fault|' "$ENVLOG")"
sed -i "s|127.0.0.1:$NOTHING|127.0.0.1:$CANARY|" "$T_DIR/canary.json"
p_probe --inventory "$T_DIR/canary.json" --once "${ONCH[@]}"
t_eq "canary back: exit 0" 0 "$P_RC"
t_match "canary back: probe_ok" "^probe_ok\|-\|rounds are counted again \(probe fault since [0-9]+: the canary" "$(last_entry)"
t_eq "canary back: on-change told" 1 "$(grep -c '^probe_ok|' "$ENVLOG")"
t_eq "the fault mark is gone" "" "$(t_rcli HGET wsb:round fault)"

# ---- the cap: MAXLEN ~ keeps the stream near --events-max
t_rcli CONFIG SET stream-node-max-entries 4 >/dev/null
for i in $(seq 15); do
    "$PROBE" --redis "$T_REDIS_URL" --events-max 5 drain a >/dev/null 2>&1
    "$PROBE" --redis "$T_REDIS_URL" --events-max 5 undrain a >/dev/null 2>&1
done
n=$(xlen)
t_true "the stream is capped (XLEN $n, --events-max 5, nodes of 4)" test "$n" -le 9
t_match "the newest entry stays" "^undrained\|a\|" "$(last_entry)"

# ---- on-change bounded in time, its failure logged, never fatal
t_rcli DEL wsb:nodes wsb:round >/dev/null   # every node starts over: two events
p_probe --inventory "$T_DIR/inv.json" --once --on-change 'sleep 31.25' --on-change-timeout 1
t_eq "a sleeper: exit 0" 0 "$P_RC"
t_match "a sleeper: killed and said" "warn: --on-change: event online a: killed after [0-9]+ ms \(bound 1 s each, [0-9]+ ms a round\)" "$P_ERR"
t_true "a sleeper: the round is written" test -n "$(t_rcli HGET wsb:round id)"
t_true "a sleeper: no sleep is left" sh -c "! pgrep -f '^sleep 31.25' >/dev/null"
t_rcli DEL wsb:nodes wsb:round >/dev/null
p_probe --inventory "$T_DIR/inv.json" --once --on-change 'echo to-stderr; exit 7'
t_eq "a failing command: exit 0" 0 "$P_RC"
t_match "a failing command: its status said" "warn: --on-change: event online b: the command exited with status 7" "$P_ERR"
t_match "a failing command: its stdout goes to stderr" "to-stderr" "$P_ERR"
t_match "--help names --on-change" "--on-change CMD" "$("$PROBE" --help)"
"$PROBE" --redis "$T_REDIS_URL" --inventory "$T_DIR/inv.json" --on-change '' 2>"$T_DIR/e.err"
t_eq "an empty --on-change: exit 2" 2 $?
t_match "an empty --on-change: said" "--on-change: empty command" "$(cat "$T_DIR/e.err")"

# ---- a user without +xadd (an ACL from before the events): rounds still land
t_rcli ACL SETUSER old on '>old-pw' resetkeys '~wsb:*' resetchannels -@all +hgetall +hmget +hexists +exists \
    +multi +exec +discard +watch +unwatch +del +hset +hdel +expire +set +get +eval +pexpire +role +auth +select \
    +ping +hello >/dev/null
OLD="redis://old:old-pw@127.0.0.1:$T_REDIS_PORT/0"
t_rcli DEL wsb:nodes wsb:round wsb:events >/dev/null
"$PROBE" --redis "$OLD" --inventory "$T_DIR/inv.json" --once 2>"$T_DIR/old.err"
t_eq "no +xadd: exit 0" 0 $?
t_true "no +xadd: the round is written" test -n "$(t_rcli HGET wsb:round id)"
p_refresh
t_eq "no +xadd: its nodes too" true "$(p_field b online)"
t_eq "no +xadd: one warning" 1 "$(grep -c 'XADD to the events stream refused' "$T_DIR/old.err")"
t_match "no +xadd: it says what to grant" "grant the probe's user \+xadd" "$(cat "$T_DIR/old.err")"
t_eq "no +xadd: no stream" 0 "$(xlen)"
"$PROBE" --redis "$OLD" --inventory "$T_DIR/canary.json" --once 2>/dev/null
sed -i "s|127.0.0.1:$CANARY|127.0.0.1:$NOTHING|" "$T_DIR/canary.json"
"$PROBE" --redis "$OLD" --inventory "$T_DIR/canary.json" --once 2>"$T_DIR/old.err"
t_eq "no +xadd, a probe fault: exit 3" 3 $?
t_match "no +xadd, a probe fault: the round is marked" "the canary" "$(t_rcli HGET wsb:round fault)"
t_eq "no +xadd, a probe fault: one warning" 1 "$(grep -c 'XADD to the events stream refused' "$T_DIR/old.err")"
"$PROBE" --redis "$OLD" drain a >/dev/null 2>"$T_DIR/old.err"
t_eq "no +xadd, drain: exit 0" 0 $?
t_eq "no +xadd, drain: done" drain "$(t_rcli HGET wsb:admin a)"
t_match "no +xadd, drain: warned" "drain a: done, but its event is not in wsb:events" "$(cat "$T_DIR/old.err")"
t_summary
