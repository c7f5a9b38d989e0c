#!/usr/bin/env bash
# probe_state.sh: what wsb-probe leaves in Redis across separate --once
# runs, read back through the handler (CGI): hysteresis counters, drain from
# the inventory and at run time, removal from the inventory, expiry of the
# state, and inventory -> probe -> Redis -> handler answers end to end.
. "$(dirname "$0")/probe_lib.sh"

t_redis_start || exit 1
p_ports 4 || exit 1
P=$P_BASE
standin() {   # modes of ports 0, 1, 2
    cat > "$T_DIR/standin.json.tmp" <<JSON
{"nodes": {"$P": {"mode": "$1", "connections": 10, "capacity": 100},
           "$((P + 1))": {"mode": "$2", "load": 0.5},
           "$((P + 2))": {"mode": "$3"}}}
JSON
    mv -f "$T_DIR/standin.json.tmp" "$T_DIR/standin.json"
}
inventory() {   # drain of n3 (true/false), then whether n3 is listed (1/0)
    {
        echo '{"allow_insecure_ws": true,'
        echo ' "defaults": {"versions": ["v1"], "check": {"timeout_ms": 5000, "rise": 2, "fall": 2}},'
        echo ' "nodes": ['
        echo "  {\"id\": \"n1\", \"endpoint\": \"ws://127.0.0.1:$P/ws\", \"location\": \"Alpha\", \"status_url\": \"http://127.0.0.1:$P/status\"},"
        echo -n "  {\"id\": \"n2\", \"endpoint\": \"ws://127.0.0.1:$((P + 1))/ws\", \"location\": \"Beta\", \"versions\": [\"v1\", \"v2\"]}"
        if [ "$2" = 1 ]; then
            echo ","
            echo "  {\"id\": \"n3\", \"endpoint\": \"ws://127.0.0.1:$((P + 2))/ws\", \"location\": \"Gamma\", \"drain\": $1}"
        fi
        echo ' ]}'
    } > "$T_DIR/inventory.json"
}
run() { p_probe --inventory "$T_DIR/inventory.json" --once "$@"; }
body() { p_handler "$1" | tr -d '\r' | sed '1,/^$/d'; }
# served PATH EXPECTED: the locations the handler hands out (an error as
# E<code>), sorted and unique, over at least 12 and at most 60 requests:
# it stops early once it has seen exactly EXPECTED.  Selection is random,
# weighted by headroom; 60 draws miss a node of weight 1/4 with p < 1e-7,
# and 12 draws catch a wrongly eligible one of weight 1/5 with p > 0.93.
served() {
    local i b seen="" got
    declare -A set=()
    for i in $(seq 60); do
        b=$(body "$1")
        got=$(sed -n 's/.*"location":"\([^"]*\)".*/\1/p; s/.*"error_code":\([0-9]*\).*/E\1/p' <<<"$b")
        set[${got:-?}]=1
        seen=$(printf '%s\n' "${!set[@]}" | sort | tr '\n' ' ')
        seen=${seen% }
        [ "$i" -ge 12 ] && [ "$seen" = "$2" ] && break
    done
    echo "$seen"
}
node_lines() { grep ': node ' <<<"$P_ERR"; }

standin ok ok ok
p_standin "$T_DIR/standin.json" || exit 1
inventory false 1

# ---- end to end: inventory -> probe -> Redis -> handler
t_eq "before any round: no servers (100)" '{"error_message":"no servers are currently available","error_code":100}' "$(body /v1/websocket/server)"
run
t_eq "round 1: exit 0" 0 "$P_RC"
t_eq "new nodes go online on their first success" "true true true" "$(p_field n1 online) $(p_field n2 online) $(p_field n3 online)"
t_eq "handler serves every online node for v1" "Alpha Beta Gamma" "$(served /v1/websocket/server "Alpha Beta Gamma")"
t_eq "handler: v2 only on n2" "{\"endpoint\":\"ws://127.0.0.1:$((P + 1))/ws\",\"location\":\"Beta\"}" "$(body /v2/websocket/server)"
t_eq "handler: unknown version (102)" '{"error_message":"no servers with this version are available","error_code":102}' "$(body /v7/websocket/server)"

# ---- hysteresis across separate runs (fall 2, rise 2)
standin http_500 ok ok
run
t_eq "1 failure of 2: still online" true "$(p_field n1 online)"
t_eq "fail_streak counted in Redis" 1 "$(p_field n1 fail_streak)"
t_eq "one log line for the change" 1 "$(node_lines | wc -l)"
t_match "log says why and how far" "node n1: still online, check failed \(bad_status: HTTP 500 instead of 101; 1 of 2 before offline\)" "$P_ERR"
t_eq "still served while within fall" "Alpha Beta Gamma" "$(served /v1/websocket/server "Alpha Beta Gamma")"
run
t_eq "2 failures of 2: offline" false "$(p_field n1 online)"
t_match "log: online -> offline" "node n1: online -> offline \(bad_status: HTTP 500 instead of 101, 2 failures in a row\)" "$P_ERR"
t_eq "an offline node is never served" "Beta Gamma" "$(served /v1/websocket/server "Beta Gamma")"
run
t_eq "no log line while it stays down the same way" "" "$(node_lines)"
t_eq "fail_streak keeps counting" 3 "$(p_field n1 fail_streak)"
standin ok ok ok
run
t_eq "1 success of 2: still offline" false "$(p_field n1 online)"
t_eq "ok_streak counted" 1 "$(p_field n1 ok_streak)"
t_match "log: recovering" "node n1: offline, check ok \(1 of 2 before online\)" "$P_ERR"
run
t_eq "2 successes of 2: online" true "$(p_field n1 online)"
t_match "log: offline -> online" "node n1: offline -> online \(2 checks ok\)" "$P_ERR"
t_eq "served again" "Alpha Beta Gamma" "$(served /v1/websocket/server "Alpha Beta Gamma")"
run
t_eq "quiet round: no node lines" "" "$(node_lines)"

# ---- drain from the inventory
inventory true 1
run
t_eq "inventory drain stored" true "$(p_field n3 drain)"
t_eq "a draining node stays visible and online" true "$(p_field n3 online)"
t_eq "summary counts it" 1 "$(t_rcli HGET wsb:round draining)"
t_match "log: draining" "node n3: draining \(inventory\)" "$P_ERR"
t_eq "a draining node gets no new clients" "Alpha Beta" "$(served /v1/websocket/server "Alpha Beta")"
inventory false 1
run
t_eq "inventory undrain" false "$(p_field n3 drain)"

# ---- drain at run time: the subcommand, kept by later rounds
out=$("$PROBE" --redis "$T_REDIS_URL" drain n2 2>"$T_DIR/drain.err")
t_eq "drain: exit 0" 0 "$?"
t_match "drain: says so" "node n2 drained" "$out"
t_eq "drain: in wsb:admin" drain "$(t_rcli HGET wsb:admin n2)"
t_eq "drained at once (handler reads wsb:admin)" "Alpha Gamma" "$(served /v1/websocket/server "Alpha Gamma")"
run
run
t_eq "later rounds keep the run-time drain" drain "$(t_rcli HGET wsb:admin n2)"
t_eq "summary counts run-time drains" 1 "$(t_rcli HGET wsb:round draining)"
t_eq "still not served after rounds" "Alpha Gamma" "$(served /v1/websocket/server "Alpha Gamma")"
t_eq "v2 only on a draining node: 100" '{"error_message":"no servers are currently available","error_code":100}' "$(body /v2/websocket/server)"
t_eq "drained node still checked and visible" true "$(p_field n2 online)"
out=$("$PROBE" --redis "$T_REDIS_URL" undrain n2 2>/dev/null)
t_eq "undrain: exit 0" 0 "$?"
t_eq "undrain: gone from wsb:admin" "" "$(t_rcli HGET wsb:admin n2)"
t_eq "undrained node served again" "Alpha Beta Gamma" "$(served /v1/websocket/server "Alpha Beta Gamma")"
"$PROBE" --redis "$T_REDIS_URL" drain ghost >/dev/null 2>"$T_DIR/drain.err"
t_match "drain of an unknown id warns" "node ghost is not in wsb:nodes" "$(cat "$T_DIR/drain.err")"
"$PROBE" --redis "$T_REDIS_URL" undrain ghost >/dev/null 2>&1
# the documented redis-cli way
t_rcli HSET wsb:admin n1 drain >/dev/null
run
t_eq "redis-cli drain kept by rounds" "Beta Gamma" "$(served /v1/websocket/server "Beta Gamma")"
t_rcli HDEL wsb:admin n1 >/dev/null
t_eq "redis-cli undrain" "Alpha Beta Gamma" "$(served /v1/websocket/server "Alpha Beta Gamma")"
"$PROBE" --redis "$T_REDIS_URL" --prefix other: drain n1 >/dev/null 2>&1
t_eq "drain honours --prefix" drain "$(t_rcli HGET other:admin n1)"

# ---- removal from the inventory
inventory false 0
run
t_eq "removed node disappears from the state" 0 "$(t_rcli HEXISTS wsb:nodes n3)"
t_match "log: removed" "node n3: removed from the inventory" "$P_ERR"
t_eq "summary: 2 nodes" 2 "$(t_rcli HGET wsb:round nodes)"
t_eq "removed node not served" "Alpha Beta" "$(served /v1/websocket/server "Alpha Beta")"

# ---- expiry: the probe stops, the state expires, the handler answers 101
run --ttl 1
t_eq "short ttl" 1 "$(t_rcli HGET wsb:round ttl)"
sleep 2.2
t_eq "round key expired" 0 "$(t_rcli EXISTS wsb:round)"
t_eq "records stay for inspection" 2 "$(t_rcli HLEN wsb:nodes)"
t_eq "expired state: no servers online (101), never a stale endpoint" \
    '{"error_message":"no servers are currently online","error_code":101}' "$(body /v1/websocket/server)"
standin http_500 ok ok
run
t_match "next round notes the expiry" "the previous state had expired" "$P_ERR"
t_eq "after expiry nodes start without history" "false 1" "$(p_field n1 online) $(p_field n1 fail_streak)"
t_eq "after expiry: served from the new round" "Beta" "$(served /v1/websocket/server "Beta")"

# ---- an endpoint change starts the node over
standin ok ok ok
run
run
sed -i "s|ws://127.0.0.1:$P/ws|ws://127.0.0.1:$((P + 3))/ws|" "$T_DIR/inventory.json"
run
t_eq "moved endpoint: first check decides (refused -> offline at once)" "false refused" "$(p_field n1 online) $(p_field n1 last_error)"
t_summary
