#!/usr/bin/env bash
# security_acl.sh: the Redis ACLs of the README (Security), applied as written.
# The handler serves and the probe writes rounds (and drains) with their own
# users; the handler's user writes its assignment counts (wsb:assigned:*,
# wsb:starts:*: its answers show up there) and nothing else, and reads no
# other key; the probe's user touches no other key; without a user nothing
# gets in.
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
# Each CGI process adds its one answer to the round's assignment counts as
# it ends (HINCRBY + EXPIRE, allowed on wsb:assigned:* and wsb:starts:*).
ROUND_ID=$(adm HGET wsb:round id)
t_match "the probe's round has an id" '^[0-9]{13}$' "$ROUND_ID"
assigned_sum() { adm HVALS "wsb:assigned:$ROUND_ID" | awk '{s += $1} END {print s + 0}'; }
t_eq "handler user: its 11 answers are counted in wsb:assigned:<round id>" 11 "$(assigned_sum)"
t_true "  ... the key expires with the round" test "$(adm TTL "wsb:assigned:$ROUND_ID")" -gt 0
t_true "  ... and so do the starts (wsb:starts:<unix s>, 120 s)" test "$(adm --scan --pattern 'wsb:starts:*' | wc -l)" -ge 1

# --- a long-running handler with its user: change detection ----------------
# WATCH, MULTI and EXEC (README "Reading state") are in the documented ACL:
# an unchanged state is not read again, a drain is seen at once.
stats() { STATS=$(adm INFO commandstats | tr -d '\r'); }
stat() { local n; n=$(printf '%s\n' "$STATS" | sed -n "s/^cmdstat_$1:calls=\([0-9]*\),.*/\1/p"); echo "${n:-0}"; }
served_by() {   # the locations of 10 answers, sorted and unique
    f_answers 10 "$F_BASE/v1/websocket/server" location | cut -f2 | sort -u | tr '\n' ' '
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
    timeout 1 redis-cli -p "$T_REDIS_PORT" --user admin --pass admin-pw --no-auth-warning MONITOR > "$T_DIR/monitor.txt"
    stats
    # HGETALL is also how each refresh reads the fleet's counts back: tell
    # the two apart by key.
    t_eq "handler user, long-running: an unchanged state is not read again" 0 \
        "$(grep -ci '"hgetall" "wsb:\(nodes\|admin\)"' "$T_DIR/monitor.txt")"
    t_true "  ... only the counts are, once per refresh ($(stat hgetall) HGETALL in 1 s)" \
        test "$(grep -ci '"hgetall" "wsb:assigned:' "$T_DIR/monitor.txt")" -ge 5
    t_true "  ... it asks with MULTI/EXEC/WATCH every WSB_CACHE_MS ($(stat exec) EXEC in 1 s)" test "$(stat exec)" -ge 5
    adm HSET wsb:admin a drain >/dev/null
    sleep 0.35
    t_eq "  ... a drain is seen at once" "B " "$(served_by)"
    adm HDEL wsb:admin a >/dev/null
    t_true "  ... no refusal logged" bash -c "! grep -q 'no change detection\|NOPERM' '$T_DIR/handler.log'"
    sleep 0.35
    before=$(assigned_sum)
    served_by >/dev/null
    sleep 0.35
    t_eq "  ... its 10 answers are counted at its next refresh" "$((before + 10))" "$(assigned_sum)"
    f_lighttpd_stop
else
    t_fail "lighttpd did not start with the handler user"
fi

# The handler's line without the write part (no key patterns for the counts,
# no +hincrby +expire): the handler serves from the state, counting only its
# own answers, and says so in one line.
RO_ACL=$(printf '%s\n' "$ACL" | grep '^user wsb-handler ' | sed -e 's/^user wsb-handler /ACL SETUSER wsb-handler-ro /' \
    -e 's/CHANGE-ME-handler/h-ro-pw/' -e 's/ ~wsb:assigned:\*//' -e 's/ ~wsb:starts:\*//' -e 's/ +hincrby//' -e 's/ +expire//' \
    -e 's/ (~wsb:metrics:[^)]*)//g')
# shellcheck disable=SC2086
t_eq "a read-only handler line applies" OK "$(adm $RO_ACL)"
printf 'h-ro-pw\n' > "$T_DIR/handler-ro.pw"
chmod 0400 "$T_DIR/handler-ro.pw"
t_match "  ... it cannot count" NOPERM "$(as wsb-handler-ro h-ro-pw HINCRBY "wsb:assigned:$ROUND_ID" a 1)"
if pool "redis://wsb-handler-ro@127.0.0.1:$T_REDIS_PORT/0" "$T_DIR/handler-ro.pw"; then
    before=$(assigned_sum)
    f_wait_served "$F_BASE/v1/websocket/server"
    t_eq "read-only handler user: serves" "A B " "$(served_by)"
    sleep 0.35
    t_eq "  ... one warn line names the refused accounting" 1 \
        "$(grep -c 'warn: assignment accounting: .*NOPERM' "$T_DIR/handler.log")"
    t_eq "  ... nothing counted" "$before" "$(assigned_sum)"
    t_true "  ... nothing unreadable" bash -c "! grep -q 'state unreadable' '$T_DIR/handler.log'"
    f_lighttpd_stop
else
    t_fail "lighttpd did not start with the read-only handler user"
fi

# The handler's line from before the accounting (no +hmget either, so the
# round's id is unreadable): the handler serves as before, counts nothing in
# Redis, and says once what to grant.
PRE_ACL=$(printf '%s\n' "$ACL" | grep '^user wsb-handler ' | sed -e 's/^user wsb-handler /ACL SETUSER wsb-handler-pre /' \
    -e 's/CHANGE-ME-handler/h-pre-pw/' -e 's/ ~wsb:assigned:\*//' -e 's/ ~wsb:starts:\*//' -e 's/ +hincrby//' \
    -e 's/ +expire//' -e 's/ +hmget//' -e 's/ (~wsb:metrics:[^)]*)//g')
# shellcheck disable=SC2086
t_eq "the handler line before the accounting applies" OK "$(adm $PRE_ACL)"
printf 'h-pre-pw\n' > "$T_DIR/handler-pre.pw"
chmod 0400 "$T_DIR/handler-pre.pw"
if pool "redis://wsb-handler-pre@127.0.0.1:$T_REDIS_PORT/0" "$T_DIR/handler-pre.pw"; then
    before=$(assigned_sum)
    f_wait_served "$F_BASE/v1/websocket/server"
    t_eq "handler user without +hmget: serves" "A B " "$(served_by)"
    sleep 0.35
    t_eq "  ... one warn line says what to grant" 1 "$(grep -c "warn: .*round's id is unreadable (HMGET: NOPERM.*+hmget" "$T_DIR/handler.log")"
    t_eq "  ... one warn line says the metrics' counts are refused" 1 "$(grep -c 'warn: metrics: .*NOPERM.*users.acl' "$T_DIR/handler.log")"
    t_eq "  ... and no other warn line" 2 "$(grep -c 'warn:' "$T_DIR/handler.log")"
    t_eq "  ... nothing counted" "$before" "$(assigned_sum)"
    t_true "  ... nothing unreadable" bash -c "! grep -q 'state unreadable' '$T_DIR/handler.log'"
    f_lighttpd_stop
else
    t_fail "lighttpd did not start with the handler user from before the accounting"
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
can() {   # name, expected reply (regex), user password, command...
    local name=$1 want=$2; shift 2
    t_match "$name" "$want" "$(as "$@")"
}
can "handler user can count: HINCRBY wsb:assigned:<id>" '^[0-9]+$' "${H[@]}" HINCRBY wsb:assigned:42 a 1
can "handler user can count: EXPIRE wsb:assigned:<id>" '^1$' "${H[@]}" EXPIRE wsb:assigned:42 60
can "handler user can count: HINCRBY wsb:starts:<s>" '^[0-9]+$' "${H[@]}" HINCRBY wsb:starts:1700000000 a 1
can "handler user can count: EXPIRE wsb:starts:<s>" '^1$' "${H[@]}" EXPIRE wsb:starts:1700000000 120
can "handler user can read the counts back: HGETALL" '^a' "${H[@]}" HGETALL wsb:assigned:42
can "handler user can flush its metrics: HINCRBY wsb:metrics:handlers" '^[0-9]+$' "${H[@]}" HINCRBY wsb:metrics:handlers 'h|refreshes' 1
can "handler user can flush its metrics: HSET wsb:metrics:handlers (gauges)" '^[01]$' "${H[@]}" HSET wsb:metrics:handlers 'h|flushed_at' 1
can "handler user can count answers per node: HINCRBY wsb:metrics:nodes" '^[0-9]+$' "${H[@]}" HINCRBY wsb:metrics:nodes 'answers|a' 1
can "handler user can read the probe's counters: HGETALL wsb:metrics:probe" '' "${H[@]}" HGETALL wsb:metrics:probe
can "handler user can read the counts back: HMGET" '^1$' "${H[@]}" HMGET wsb:starts:1700000000 a
can "handler user can read the round's id: HMGET wsb:round" '^[0-9]+' "${H[@]}" HMGET wsb:round id ttl
t_eq "  ... the counts are there" 1 "$(adm HGET wsb:assigned:42 a)"
noperm "handler user cannot write a node" "${H[@]}" HSET wsb:nodes evil '{"endpoint":"wss://evil"}'
noperm "handler user cannot HINCRBY a node's record" "${H[@]}" HINCRBY wsb:nodes a 1
noperm "handler user cannot HINCRBY the round" "${H[@]}" HINCRBY wsb:round at 1
noperm "handler user cannot delete the round" "${H[@]}" DEL wsb:round
noperm "handler user cannot HINCRBY the admin hash" "${H[@]}" HINCRBY wsb:admin a 1
noperm "handler user cannot HINCRBY other wsb: keys" "${H[@]}" HINCRBY wsb:other a 1
noperm "handler user cannot HINCRBY a look-alike key" "${H[@]}" HINCRBY wsb:assignedX a 1
noperm "handler user cannot HINCRBY outside wsb:" "${H[@]}" HINCRBY other:assigned:1 a 1
noperm "handler user cannot EXPIRE the lock" "${H[@]}" EXPIRE wsb:lock 1
noperm "handler user cannot HSET the counts (only HINCRBY)" "${H[@]}" HSET wsb:assigned:42 a 999999
noperm "handler user cannot HSET the answers per node" "${H[@]}" HSET wsb:metrics:nodes answers\|a 1
noperm "handler user cannot EXPIRE the answers per node" "${H[@]}" EXPIRE wsb:metrics:nodes 0
noperm "handler user cannot EXPIRE the hosts' counters" "${H[@]}" EXPIRE wsb:metrics:handlers 0
noperm "handler user cannot DEL the hosts' counters" "${H[@]}" DEL wsb:metrics:handlers
noperm "handler user cannot HINCRBY the probe's counters" "${H[@]}" HINCRBY wsb:metrics:probe rounds 1
noperm "handler user cannot HSET the state through the metrics selector" "${H[@]}" HSET wsb:nodes a x
noperm "handler user cannot DEL the counts" "${H[@]}" DEL wsb:assigned:42
noperm "handler user cannot rename the counts onto the state" "${H[@]}" RENAME wsb:assigned:42 wsb:nodes
noperm "handler user cannot copy the counts onto the state" "${H[@]}" COPY wsb:assigned:42 wsb:nodes REPLACE
t_match "handler user cannot HINCRBY the state inside MULTI/EXEC" "NOPERM" \
    "$(printf 'MULTI\nHINCRBY wsb:assigned:42 a 1\nHINCRBY wsb:nodes a 1\nEXEC\n' | as "${H[@]}")"
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
t_eq "the state is untouched: two nodes" 2 "$(adm HLEN wsb:nodes)"
t_eq "  ... the round is still there" 1 "$(adm EXISTS wsb:round)"
t_eq "  ... no other wsb: key was made" "" "$(adm --scan --pattern 'wsb:*' | grep -v '^wsb:\(nodes\|round\|admin\|events\|assigned:.*\|starts:.*\|metrics:handlers\|metrics:nodes\|metrics:probe\)$')"
t_match "a wrong handler password: 503/100" '"error_code":100' \
    "$(printf 'wrong\n' > "$T_DIR/wrong.pw"; env -i PATH="$PATH" GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=GET \
        REQUEST_URI=/v1/websocket/server REMOTE_ADDR=127.0.0.1 WSB_REDIS_URL="$HURL" \
        WSB_REDIS_PASSWORD_FILE="$T_DIR/wrong.pw" "$BUILD/wsb-handler" </dev/null 2>"$T_DIR/wrong.err")"
t_true "  ... logged as AUTH refused" grep -q "AUTH refused" "$T_DIR/wrong.err"
t_true "no password in any log" bash -c "! grep -q 'secret-pw' '$T_DIR/probe.err' '$T_DIR/cgi.err' '$T_DIR/wrong.err'"
t_summary
