#!/usr/bin/env bash
# probe_carry.sh: what wsb-probe writes for the handlers' assignment
# accounting, over real rounds against real stand-in nodes and a real
# Redis: the round's id; slow_start_s and max_new_per_s from the inventory
# in the records; the starts the handlers counted after a node's check
# (written here with redis-cli HINCRBY, as handlers do) carried into the new
# round's wsb:assigned:<id>, and those before not; the previous round's
# assigned key deleted; the new one expiring with the round; a starts key
# that cannot be read costing the carry only, with one warning; and all of
# it under the probe's ACL user of examples/redis/users.acl.
#
# P_BASE_WANT=N uses stand-in ports N..N+2 instead of free ones found at
# random (and T_REDIS_PORT_WANT a fixed Redis port), for runs beside others.
. "$(dirname "$0")/probe_lib.sh"

t_redis_start || exit 1
if [ -n "${P_BASE_WANT:-}" ]; then P_BASE=$P_BASE_WANT; else p_ports 3 || exit 1; fi
P=$P_BASE
standin() {   # delay_ms of the third node
    cat > "$T_DIR/standin.json.tmp" <<JSON
{"nodes": {"$P": {"mode": "ok", "connections": 10, "capacity": 100},
           "$((P + 1))": {"mode": "ok", "load": 0.5},
           "$((P + 2))": {"mode": "ok", "delay_ms": $1}}}
JSON
    mv -f "$T_DIR/standin.json.tmp" "$T_DIR/standin.json"
}
standin 0
p_standin "$T_DIR/standin.json" || exit 1
cat > "$T_DIR/inventory.json" <<JSON
{"allow_insecure_ws": true,
 "defaults": {"versions": ["v1"], "slow_start_s": 45, "check": {"timeout_ms": 6000, "rise": 1, "fall": 1}},
 "nodes": [
  {"id": "n1", "endpoint": "ws://127.0.0.1:$P/ws", "location": "Alpha", "status_url": "http://127.0.0.1:$P/status",
   "slow_start_s": 0, "max_new_per_s": 50},
  {"id": "n2", "endpoint": "ws://127.0.0.1:$((P + 1))/ws", "location": "Beta"},
  {"id": "n3", "endpoint": "ws://127.0.0.1:$((P + 2))/ws", "location": "Gamma",
   "slow_start_s": 86400, "max_new_per_s": 1000000000}
 ]}
JSON
run() { p_probe --inventory "$T_DIR/inventory.json" --once "$@"; }
locked() { [ "$(t_rcli EXISTS wsb:lock)" = 1 ]; }
# bg_round [URL]: starts a round in the background (the third node answers
# slowly) and returns once the round has begun: the probe holds its lock.
bg_round() {
    "$PROBE" --redis "${1:-$T_REDIS_URL}" --inventory "$T_DIR/inventory.json" --once 2>"$T_DIR/probe.err" &
    BG=$!
    T_PIDS+=("$BG")
    t_wait_for locked
    sleep 0.3   # past the round's start: its checks are under way
}
bg_wait() {
    wait "$BG"
    P_RC=$?
    P_ERR=$(cat "$T_DIR/probe.err")
    p_refresh
}
ms() { date +%s%3N; }

# ---- round 1: an id, and the inventory's pacing keys in the records
before=$(ms)
run
after=$(ms)
t_eq "round 1: exit 0" 0 "$P_RC"
id1=$(t_rcli HGET wsb:round id)
t_match "the round hash has an id (decimal digits)" '^[0-9]{1,20}$' "$id1"
t_true "  ... the unix ms of the write" test "$id1" -ge "$before" -a "$id1" -le "$after"
t_eq "n1: its own slow_start_s (0: off) and max_new_per_s" "0 50" "$(p_field n1 slow_start_s) $(p_field n1 max_new_per_s)"
t_eq "n2: slow_start_s from defaults, no max_new_per_s in the record" "45 " "$(p_field n2 slow_start_s) $(p_field n2 max_new_per_s)"
t_eq "n3: the largest values" "86400 1000000000" "$(p_field n3 slow_start_s) $(p_field n3 max_new_per_s)"
t_match "the handler decodes these records (none skipped)" "3 nodes" \
    "$(env -i PATH="$PATH" WSB_REDIS_URL="$T_REDIS_URL" "$HANDLER" --check 2>&1)"
t_eq "nothing carried into a first round: no assigned key" 0 "$(t_rcli EXISTS "wsb:assigned:$id1")"

# ---- round 2: starts after the new check are carried, those before are not
# (stand-in handlers: the previous round's counts, and the starts of seconds
# before the next round begins)
t_rcli HINCRBY "wsb:assigned:$id1" n1 10 >/dev/null
t_rcli EXPIRE "wsb:assigned:$id1" 600 >/dev/null
t0=$(date +%s)
t_rcli HINCRBY "wsb:starts:$((t0 - 1))" n1 100 >/dev/null
t_rcli HINCRBY "wsb:starts:$((t0 - 1))" n3 7 >/dev/null
t_rcli HINCRBY "wsb:starts:$((t0 - 2))" n2 40 >/dev/null
standin 2500
bg_round
s=$(date +%s)   # a second at or after the round's check of every node
t_rcli HINCRBY "wsb:starts:$s" n1 3 >/dev/null
t_rcli HINCRBY "wsb:starts:$s" n2 4 >/dev/null
t_rcli HINCRBY "wsb:starts:$s" ghost 9 >/dev/null   # not in the inventory
sleep 1
t_rcli HINCRBY "wsb:starts:$(date +%s)" n1 5 >/dev/null
bg_wait
t_eq "round 2: exit 0" 0 "$P_RC"
id2=$(t_rcli HGET wsb:round id)
checked=$(p_field n1 checked_at)
t_true "round 2 has a new id" test -n "$id2" -a "$id2" != "$id1"
t_true "  ... the starts written are at or after the round's check ($s >= $checked), the others before" \
    test "$s" -ge "$checked" -a "$((t0 - 1))" -lt "$checked"
t_eq "the previous round's assigned key is deleted" 0 "$(t_rcli EXISTS "wsb:assigned:$id1")"
t_eq "the new round's assigned key holds the starts since each node's check" "n1=8 n2=4" \
    "$(t_rcli --raw HGETALL "wsb:assigned:$id2" | paste -d= - - | sort | tr '\n' ' ' | sed 's/ $//')"
ttl=$(t_rcli TTL "wsb:assigned:$id2")
rttl=$(t_rcli HGET wsb:round ttl)
t_true "  ... and expires with the round (TTL $ttl of $rttl s)" test "$ttl" -gt 0 -a "$ttl" -le "$rttl" -a "$ttl" -ge "$((rttl - 30))"
t_eq "  ... no warning" "" "$(grep -i 'warn' <<<"$P_ERR")"

# ---- round 3: a starts key that cannot be read costs the carry, not the round
bg_round
bad=$(date +%s)
t_rcli SET "wsb:starts:$bad" not-a-hash EX 120 >/dev/null
bg_wait
t_eq "round 3: written all the same (exit 0)" 0 "$P_RC"
id3=$(t_rcli HGET wsb:round id)
t_true "  ... with a new id" test -n "$id3" -a "$id3" != "$id2"
t_eq "  ... one warning" 1 "$(grep -c 'assignment carry-over' <<<"$P_ERR")"
t_match "  ... that says why" "warn: assignment carry-over: cannot read wsb:starts:\*: .*WRONGTYPE.*counts start from zero" "$P_ERR"
t_eq "  ... no carry written" 0 "$(t_rcli EXISTS "wsb:assigned:$id3")"
t_eq "  ... the previous round's key still deleted" 0 "$(t_rcli EXISTS "wsb:assigned:$id2")"

# ---- round 4, under the probe's ACL user as the example writes it
acl=$(grep '^user wsb-probe ' "$T_ROOT/examples/redis/users.acl" | sed -e 's/^user wsb-probe //' -e 's/CHANGE-ME-probe/p-secret-pw/')
# shellcheck disable=SC2086
t_eq "the example's probe user applies" OK "$(t_rcli ACL SETUSER wsb-probe $acl)"
t_rcli DEL "wsb:starts:$bad" >/dev/null
t_rcli HINCRBY "wsb:assigned:$id3" n2 1 >/dev/null
bg_round "redis://wsb-probe:p-secret-pw@127.0.0.1:$T_REDIS_PORT/0"
s=$(date +%s)
t_rcli HINCRBY "wsb:starts:$s" n3 6 >/dev/null
bg_wait
t_eq "probe user: round written" 0 "$P_RC"
t_eq "  ... no permission refused, no warning" "" "$(grep -i 'NOPERM\|warn\|error' <<<"$P_ERR")"
id4=$(t_rcli HGET wsb:round id)
t_eq "  ... carried" 6 "$(t_rcli HGET "wsb:assigned:$id4" n3)"
t_eq "  ... the previous round's key deleted" 0 "$(t_rcli EXISTS "wsb:assigned:$id3")"
t_summary
