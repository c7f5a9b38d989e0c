#!/usr/bin/env bash
# security_acl.sh: the Redis ACLs of the README (Security), applied as written.
# The handler serves and the probe writes rounds (and drains) with their own
# users; the handler's user can write nothing and read no other key; the
# probe's user touches no other key; without a user nothing gets in.
. "$(dirname "$0")/fault_lib.sh"

DOC="$T_ROOT/README.md"
[ -f "$DOC" ] || DOC="$T_ROOT/README.md"
ACL=$(sed -n '/<!-- acl-begin -->/,/<!-- acl-end -->/p' "$DOC" | grep '^user ')
t_eq "the documentation lists three ACL users" 3 "$(printf '%s\n' "$ACL" | grep -c .)"
t_eq "  ... the two of examples/redis/users.acl, as written there" "$(cat "$T_ROOT/examples/redis/users.acl")" \
    "$(printf '%s\n' "$ACL" | grep -v '^user default ')"

T_REDIS_EXTRA="--enable-debug-command yes"   # so that only the ACL can refuse DEBUG
t_redis_start
adm() { redis-cli -p "$T_REDIS_PORT" --user admin --pass admin-pw --no-auth-warning "$@"; }
as() {   # user password redis-cli args...
    local u=$1 p=$2; shift 2
    redis-cli -p "$T_REDIS_PORT" --user "$u" --pass "$p" --no-auth-warning "$@" 2>&1
}
t_rcli ACL SETUSER admin on '>admin-pw' '~*' '&*' +@all >/dev/null
printf '%s\n' "$ACL" | sed -e 's/^user /ACL SETUSER /' -e 's/CHANGE-ME-handler/h-secret-pw/' \
    -e 's/CHANGE-ME-probe/p-secret-pw/' > "$T_DIR/acl.txt"
while IFS= read -r line; do
    # shellcheck disable=SC2086
    out=$(adm $line)
    t_eq "applies: ${line:0:40}..." OK "$out"
done < "$T_DIR/acl.txt"
t_match "the default user is off" "NOAUTH|WRONGPASS|NOPERM|disabled" "$(redis-cli -p "$T_REDIS_PORT" PING 2>&1)"

printf 'h-secret-pw\n' > "$T_DIR/handler.pw"
printf 'p-secret-pw\n' > "$T_DIR/probe.pw"
chmod 0400 "$T_DIR/handler.pw" "$T_DIR/probe.pw"
HURL="redis://wsb-handler@127.0.0.1:$T_REDIS_PORT/0"
PURL="redis://wsb-probe@127.0.0.1:$T_REDIS_PORT/0"

# --- the probe writes rounds with its user --------------------------------
f_ports 2 || { t_fail "no ports"; t_summary; exit 1; }
printf '{"nodes": {"%s": {"mode": "ok", "load": 0.1}, "%s": {"mode": "ok", "load": 0.2}}}\n' \
    "$F_PORT_BASE" "$((F_PORT_BASE + 1))" > "$T_DIR/standin.json"
f_standin "$T_DIR/standin.json" || { t_fail "stand-in did not start"; t_summary; exit 1; }
cat > "$T_DIR/inventory.json" <<JSON
{"allow_insecure_ws": true,
 "defaults": {"versions": ["v1"], "check": {"type": "websocket", "timeout_ms": 2000, "rise": 1, "fall": 1}},
 "nodes": [{"id": "a", "endpoint": "ws://127.0.0.1:$F_PORT_BASE/ws", "location": "A"},
           {"id": "b", "endpoint": "ws://127.0.0.1:$((F_PORT_BASE + 1))/ws", "location": "B"}]}
JSON
probe() { WSB_REDIS_PASSWORD_FILE="$T_DIR/probe.pw" "$BUILD/wsb-probe" --redis "$PURL" "$@" 2>>"$T_DIR/probe.err"; }
probe --inventory "$T_DIR/inventory.json" --once
t_eq "probe user: a round is written" 0 "$?"
probe --inventory "$T_DIR/inventory.json" --once
t_eq "probe user: a second round reads the first (hysteresis) and takes the lock again" 0 "$?"
t_eq "  ... both nodes online" 2 "$(adm HGETALL wsb:nodes | grep -c '"online":true')"
probe drain b >/dev/null
t_eq "probe user: drain at run time" 0 "$?"
t_eq "  ... written to wsb:admin" drain "$(adm HGET wsb:admin b)"
probe undrain b >/dev/null
t_eq "probe user: undrain" "" "$(adm HGET wsb:admin b)"
probe drain nosuchnode >/dev/null
t_true "probe user: draining an unknown id warns (HEXISTS allowed)" grep -q "node nosuchnode is not in wsb:nodes" "$T_DIR/probe.err"
probe undrain nosuchnode >/dev/null
t_true "probe: no AUTH or permission error logged" bash -c "! grep -qi 'NOPERM\|WRONGPASS\|NOAUTH\|error' '$T_DIR/probe.err'"

# --- the handler serves with its user --------------------------------------
cgi() {
    env -i PATH="$PATH" GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=GET REQUEST_URI=/v1/websocket/server \
        REMOTE_ADDR=127.0.0.1 WSB_REDIS_URL="$HURL" WSB_REDIS_PASSWORD_FILE="$T_DIR/handler.pw" \
        WSB_ALLOW_INSECURE_WS=1 "$@" "$BUILD/wsb-handler" </dev/null 2>>"$T_DIR/cgi.err"
}
t_match "handler user: serves" '"endpoint":"ws://127.0.0.1:' "$(cgi)"
adm HSET wsb:admin a drain >/dev/null
out=""
for _ in $(seq 10); do out=$(cgi); done
t_match "handler user: reads the admin hash (a drained: always b)" "\"location\":\"B\"" "$out"
adm HDEL wsb:admin a >/dev/null
t_match "handler user: --check reads the whole state" '2 nodes' \
    "$(env -i PATH="$PATH" WSB_REDIS_URL="$HURL" WSB_REDIS_PASSWORD_FILE="$T_DIR/handler.pw" "$BUILD/wsb-handler" --check 2>&1)"
t_true "handler: no permission error logged" bash -c "! grep -qi 'NOPERM\|WRONGPASS' '$T_DIR/cgi.err'"

# --- a long-running handler with its user: change detection ----------------
# WATCH, MULTI and EXEC (README "Reading state") are in the documented ACL:
# an unchanged state is not read again, a drain is seen at once.
stats() { STATS=$(adm INFO commandstats | tr -d '\r'); }
stat() { local n; n=$(printf '%s\n' "$STATS" | sed -n "s/^cmdstat_$1:calls=\([0-9]*\),.*/\1/p"); echo "${n:-0}"; }
served_by() {   # the locations of 10 answers, sorted and unique
    local _
    for _ in $(seq 10); do f_req "$F_BASE/v1/websocket/server"; f_json_field location; done | sort -u | tr '\n' ' '
}
pool() {   # url password-file: lighttpd with one handler process
    : > "$T_DIR/handler.log"
    f_lighttpd_start 1 WSB_REDIS_URL="$1" WSB_REDIS_PASSWORD_FILE="$2" WSB_ALLOW_INSECURE_WS=1 WSB_CACHE_MS=100 \
        WSB_GEOIP_DB=
}
if pool "$HURL" "$T_DIR/handler.pw"; then
    f_wait_served "$F_BASE/v1/websocket/server"
    sleep 0.5
    adm CONFIG RESETSTAT >/dev/null
    sleep 1
    stats
    t_eq "handler user, long-running: an unchanged state is not read again" 0 "$(stat hgetall)"
    t_true "  ... it asks with MULTI/EXEC/WATCH every WSB_CACHE_MS ($(stat exec) EXEC in 1 s)" test "$(stat exec)" -ge 5
    adm HSET wsb:admin a drain >/dev/null
    sleep 0.35
    t_eq "  ... a drain is seen at once" "B " "$(served_by)"
    adm HDEL wsb:admin a >/dev/null
    t_true "  ... no refusal logged" bash -c "! grep -q 'no change detection\|NOPERM' '$T_DIR/handler.log'"
    f_lighttpd_stop
else
    t_fail "lighttpd did not start with the handler user"
fi

# An ACL from before change detection (the handler's line without +watch
# +multi +exec): the handler serves and sees changes, reading the whole state
# each time, and says so once.
OLD_ACL=$(printf '%s\n' "$ACL" | grep '^user wsb-handler ' | sed -e 's/^user wsb-handler /ACL SETUSER wsb-handler-old /' \
    -e 's/CHANGE-ME-handler/h-old-pw/' -e 's/ +watch//' -e 's/ +multi//' -e 's/ +exec//')
# shellcheck disable=SC2086
t_eq "an ACL without +watch +multi +exec applies" OK "$(adm $OLD_ACL)"
printf 'h-old-pw\n' > "$T_DIR/handler-old.pw"
chmod 0400 "$T_DIR/handler-old.pw"
if pool "redis://wsb-handler-old@127.0.0.1:$T_REDIS_PORT/0" "$T_DIR/handler-old.pw"; then
    f_wait_served "$F_BASE/v1/websocket/server"
    t_eq "handler user without WATCH: serves" "A B " "$(served_by)"
    adm HSET wsb:admin b drain >/dev/null
    sleep 0.35
    t_eq "  ... sees a drain" "A " "$(served_by)"
    adm HDEL wsb:admin b >/dev/null
    sleep 0.35
    t_eq "  ... one warn line names the refusal" 1 "$(grep -c 'warn: .*no change detection (WATCH: NOPERM' "$T_DIR/handler.log")"
    t_true "  ... nothing unreadable" bash -c "! grep -q 'state unreadable' '$T_DIR/handler.log'"
    f_lighttpd_stop
else
    t_fail "lighttpd did not start with the old handler user"
fi

# --- and nothing more -----------------------------------------------------
adm SET other:key secret-value >/dev/null
H=(wsb-handler h-secret-pw)
P=(wsb-probe p-secret-pw)
noperm() {   # name, user password, command...
    local name=$1; shift
    t_match "$name" "NOPERM|ERR.*(permission|no permissions)" "$(as "$@")"
}
noperm "handler user cannot write a node" "${H[@]}" HSET wsb:nodes evil '{"endpoint":"wss://evil"}'
noperm "handler user cannot delete the state" "${H[@]}" DEL wsb:nodes
t_match "handler user cannot write inside MULTI/EXEC" "NOPERM" \
    "$(printf 'MULTI\nHSET wsb:nodes evil x\nEXEC\n' | as "${H[@]}")"
noperm "handler user cannot WATCH other keys" "${H[@]}" WATCH other:key
noperm "handler user cannot drain" "${H[@]}" HSET wsb:admin a drain
noperm "handler user cannot renew the round" "${H[@]}" EXPIRE wsb:round 100000
noperm "handler user cannot take the probe lock" "${H[@]}" SET wsb:lock x NX PX 1000
noperm "handler user cannot read the lock" "${H[@]}" GET wsb:lock
noperm "handler user cannot read other keys" "${H[@]}" GET other:key
noperm "handler user cannot list keys" "${H[@]}" KEYS '*'
noperm "handler user cannot run scripts" "${H[@]}" EVAL "return redis.call('SET','wsb:nodes','x')" 0
noperm "handler user cannot flush" "${H[@]}" FLUSHALL
noperm "handler user cannot reconfigure Redis" "${H[@]}" CONFIG SET requirepass x
noperm "handler user cannot read the ACLs" "${H[@]}" ACL LIST
noperm "probe user cannot read other keys" "${P[@]}" GET other:key
noperm "probe user cannot write other keys" "${P[@]}" SET other:key x
noperm "probe user cannot reach other keys through a script" "${P[@]}" EVAL "return redis.call('GET', KEYS[1])" 1 other:key
noperm "probe user cannot list keys" "${P[@]}" KEYS '*'
noperm "probe user cannot flush" "${P[@]}" FLUSHALL
noperm "probe user cannot reconfigure Redis" "${P[@]}" CONFIG SET appendonly yes
noperm "probe user cannot debug" "${P[@]}" DEBUG SLEEP 0
noperm "probe user cannot subscribe" "${P[@]}" SUBSCRIBE wsb
t_eq "the other key is untouched" secret-value "$(adm GET other:key)"
t_match "a wrong handler password: 503/100" '"error_code":100' \
    "$(printf 'wrong\n' > "$T_DIR/wrong.pw"; env -i PATH="$PATH" GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=GET \
        REQUEST_URI=/v1/websocket/server REMOTE_ADDR=127.0.0.1 WSB_REDIS_URL="$HURL" \
        WSB_REDIS_PASSWORD_FILE="$T_DIR/wrong.pw" "$BUILD/wsb-handler" </dev/null 2>"$T_DIR/wrong.err")"
t_true "  ... logged as AUTH refused" grep -q "AUTH refused" "$T_DIR/wrong.err"
t_true "no password in any log" bash -c "! grep -q 'secret-pw' '$T_DIR/probe.err' '$T_DIR/cgi.err' '$T_DIR/wrong.err'"
t_summary
