#!/usr/bin/env bash
# web_redis_acl.sh: the Redis ACL users of examples/redis/ (users.acl and
# its commented twin users.conf) on a real redis-server: the handler,
# connecting as wsb-handler with WSB_REDIS_PASSWORD_FILE, serves and counts
# its answers in wsb:assigned:<round id> (CGI and a FastCGI pool), but can
# write nothing else and read nothing outside wsb:*; the probe, as wsb-probe,
# runs a round against a stand-in node, takes its lock and drains, but
# cannot touch other keys; a wrong password is a clear log line that never
# shows the password.
. "$(dirname "$0")/web_lib.sh"
H="$BUILD/wsb-handler"
PROBE="$BUILD/wsb-probe"

w_redis_acl_start
HPW=$(< "$T_DIR/handler.redis-password"); PPW=$(< "$T_DIR/probe.redis-password")

# users.conf (redis.conf form, with comments) defines the same users.
sed -e "s/CHANGE-ME-handler/$HPW/" -e "s/CHANGE-ME-probe/$PPW/" "$T_ROOT/examples/redis/users.conf" > "$T_DIR/users.conf"
P2=$(t_free_port)
redis-server --bind 127.0.0.1 --port "$P2" --save '' --appendonly no --dir "$T_DIR" --include "$T_DIR/users.conf" \
    --logfile "$T_DIR/redis-conf.log" --daemonize no &
T_PIDS+=($!)
t_wait_for redis-cli -p "$P2" ping
norm() { redis-cli -p "$1" ACL LIST | tr -d '()' | tr ' ' '\n' | sort | tr '\n' ' '; }   # selectors' rules may print in either order
t_eq "users.conf and users.acl define the same users" "$(norm "$T_REDIS_PORT")" "$(norm "$P2")"
t_match "users.acl: wsb-handler and wsb-probe" "user wsb-handler on .*user wsb-probe on" "$(redis-cli -p "$T_REDIS_PORT" ACL LIST | tr '\n' ' ')"

as_handler() { REDISCLI_AUTH=$HPW redis-cli -p "$T_REDIS_PORT" --user wsb-handler "$@" 2>&1; }
as_probe() { REDISCLI_AUTH=$PPW redis-cli -p "$T_REDIS_PORT" --user wsb-probe "$@" 2>&1; }

# --- the probe user writes a real round ---
NODE_PORT=$(t_free_port)
printf '{"nodes": {"%s": {"mode": "ok", "connections": 10, "capacity": 100}}}' "$NODE_PORT" > "$T_DIR/standin.json"
python3 "$T_ROOT/tests/tools/standin_node.py" --config "$T_DIR/standin.json" --ready-file "$T_DIR/standin.ready" --quiet \
    2>>"$T_DIR/standin.err" &
T_PIDS+=($!)
t_wait_for test -e "$T_DIR/standin.ready" || { t_fail "stand-in node did not start"; t_summary; exit 1; }
cat > "$T_DIR/inventory.json" <<EOF
{ "allow_insecure_ws": true,
  "defaults": { "versions": ["v1"], "check": { "type": "websocket", "timeout_ms": 2000, "rise": 1, "fall": 1 } },
  "nodes": [ { "id": "local-1", "endpoint": "ws://127.0.0.1:$NODE_PORT/ws", "location": "Loopback" } ] }
EOF
PROBE_ENV=(WSB_REDIS_URL="redis://wsb-probe@127.0.0.1:$T_REDIS_PORT/0" WSB_REDIS_PASSWORD_FILE="$T_DIR/probe.redis-password")
env "${PROBE_ENV[@]}" "$PROBE" --inventory "$T_DIR/inventory.json" --once 2>"$T_DIR/probe.log"
t_eq "probe round as wsb-probe: exit 0" 0 "$?"
t_match "the round is in Redis" '"online":true' "$(redis-cli -p "$T_REDIS_PORT" HGET wsb:nodes local-1)"
t_true "the probe released its lock (GET + EVAL DEL as wsb-probe)" test -z "$(redis-cli -p "$T_REDIS_PORT" GET wsb:lock)"
env "${PROBE_ENV[@]}" "$PROBE" drain local-1 >/dev/null 2>>"$T_DIR/probe.log"
t_eq "drain as wsb-probe" "drain" "$(redis-cli -p "$T_REDIS_PORT" HGET wsb:admin local-1)"
env "${PROBE_ENV[@]}" "$PROBE" undrain local-1 >/dev/null 2>>"$T_DIR/probe.log"
t_eq "undrain as wsb-probe" "" "$(redis-cli -p "$T_REDIS_PORT" HGET wsb:admin local-1)"
t_true "no permission errors from the probe" bash -c "! grep -qi 'noperm' '$T_DIR/probe.log'"

# --- the handler user serves ---
cgi() {
    env -i PATH="$PATH" GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=GET REQUEST_URI=/v1/websocket/server \
        REMOTE_ADDR=127.0.0.1 WSB_ALLOW_INSECURE_WS=1 "$@" "$H" < /dev/null 2>>"$T_DIR/handler.log"
}
out=$(cgi WSB_REDIS_URL="redis://wsb-handler@127.0.0.1:$T_REDIS_PORT/0" WSB_REDIS_PASSWORD_FILE="$T_DIR/handler.redis-password")
t_match "handler as wsb-handler with a password file: 200" '^Status: 200' "$out"
t_match "handler as wsb-handler: the probe's node" "\"endpoint\":\"ws://127.0.0.1:$NODE_PORT/ws\"" "$out"
out=$(env -i PATH="$PATH" WSB_REDIS_URL="redis://wsb-handler@127.0.0.1:$T_REDIS_PORT/0" \
      WSB_REDIS_PASSWORD_FILE="$T_DIR/handler.redis-password" WSB_ALLOW_INSECURE_WS=1 "$H" --check 2>&1)
t_match "--check as wsb-handler" '1 nodes \(1 online' "$out"

# ... counts its answers, fleet-wide, in the round's wsb:assigned key ...
ROUND_ID=$(redis-cli -p "$T_REDIS_PORT" HGET wsb:round id)
assigned() { redis-cli -p "$T_REDIS_PORT" HGET "wsb:assigned:$ROUND_ID" local-1; }
t_eq "the CGI answer is counted in wsb:assigned:<round id>" 1 "$(assigned)"
SOCK="$T_DIR/handler.sock"
HENV=("WSB_REDIS_URL=redis://wsb-handler@127.0.0.1:$T_REDIS_PORT/0"
      "WSB_REDIS_PASSWORD_FILE=$T_DIR/handler.redis-password" WSB_ALLOW_INSECURE_WS=1 WSB_CACHE_MS=100)
w_pool_start "$T_DIR/pool.log" HENV "$H" --listen "$SOCK" --workers 2
if w_wait_socket "$SOCK"; then
    n=0
    for _ in $(seq 20); do
        w_fcgi "$SOCK" /v1/websocket/server | grep -q "\"endpoint\":\"ws://127.0.0.1:$NODE_PORT/ws\"" && n=$((n + 1))
    done
    t_eq "a pool of two workers as wsb-handler: 20 answers" 20 "$n"
    counted() { [ "$(assigned)" -ge "$1" ]; }
    t_wait_for counted 21
    sleep 0.3
    t_eq "  ... counted at their next refresh: 1 + 20" 21 "$(assigned)"
    t_true "  ... no permission error logged" bash -c "! grep -qi 'noperm' '$T_DIR/pool.log'"
    kill "$W_POOL_PID"
else
    t_fail "the pool did not start as wsb-handler"
fi

# ... and may do nothing else.
for cmd in "HSET wsb:nodes x y" "DEL wsb:nodes" "SET wsb:lock x" "HSET wsb:admin local-1 drain" "EXPIRE wsb:round 1" \
           "HINCRBY wsb:nodes local-1 1" "HINCRBY wsb:round at 1" "HINCRBY wsb:other x 1" "EXPIRE wsb:lock 1" \
           "HSET wsb:assigned:1 local-1 0" "DEL wsb:assigned:1" "FLUSHALL" "CONFIG GET *" "KEYS *" "EVAL return 1 0"; do
    read -r -a words <<< "$cmd"   # split, never glob
    t_match "wsb-handler cannot: $cmd" 'NOPERM' "$(as_handler "${words[@]}")"
done
redis-cli -p "$T_REDIS_PORT" SET secret 42 >/dev/null
t_match "wsb-handler cannot read keys outside wsb:*" 'NOPERM' "$(as_handler HGETALL secret)"
t_eq "the state is intact" 1 "$(redis-cli -p "$T_REDIS_PORT" HLEN wsb:nodes)"

# --- the probe user is confined to wsb:* ---
t_match "wsb-probe cannot write outside wsb:*" 'NOPERM' "$(as_probe SET secret 0)"
t_match "wsb-probe cannot FLUSHALL" 'NOPERM' "$(as_probe FLUSHALL)"
t_match "wsb-probe cannot CONFIG" 'NOPERM' "$(as_probe CONFIG SET appendonly yes)"
t_eq "the other key is intact" 42 "$(redis-cli -p "$T_REDIS_PORT" GET secret)"

# --- a wrong password: a clear log line, a 503, never the password ---
printf 'not-the-password\n' > "$T_DIR/wrong"
: > "$T_DIR/handler.log"
out=$(cgi WSB_REDIS_URL="redis://wsb-handler@127.0.0.1:$T_REDIS_PORT/0" WSB_REDIS_PASSWORD_FILE="$T_DIR/wrong")
t_match "wrong password: 503/100" '"error_code":100' "$out"
t_true "wrong password: AUTH refused is logged" grep -q "AUTH refused" "$T_DIR/handler.log"
t_true "wrong password: the password is never logged" bash -c "! grep -q 'not-the-password' '$T_DIR/handler.log'"
t_no_sanitizer_reports "no sanitizer reports" "$T_DIR/handler.log" "$T_DIR/probe.log"
t_summary
