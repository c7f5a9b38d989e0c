#!/usr/bin/env bash
# handler_cgi.sh: wsb-handler as plain CGI: configuration errors name the
# variable, --check describes the state, and an unreachable Redis answers
# 503/100 quickly.
. "$(dirname "$0")/../lib.sh"
H="$BUILD/wsb-handler"

cgi() {   # env assignments...: runs one CGI GET request
    env -i PATH="$PATH" GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=GET REQUEST_URI=/v1/websocket/server \
        REMOTE_ADDR=81.2.69.142 "$@" "$H" < /dev/null 2>"$T_DIR/stderr"
    local rc=$?
    cat "$T_DIR/stderr" >> "$T_DIR/all-stderr"
    return $rc
}

for bad in "WSB_MAX_LOAD=1.5" "WSB_MAX_LOAD=abc" "WSB_CACHE_MS=-1" "WSB_REDIS_URL=http://x" \
           "WSB_TRUSTED_PROXIES=10.0.0.0/40" "WSB_CORS_ORIGINS=not-an-origin" "WSB_KEY_PREFIX=a b" \
           "WSB_LOG_LEVEL=loud" "WSB_REDIS_PASSWORD_FILE=/nonexistent/pw" "WSB_ALLOW_INSECURE_WS=maybe" \
           "WSB_NEAR_KM=-5" "WSB_REDIS_TIMEOUT_MS=0"; do
    var=${bad%%=*}
    out=$(cgi "$bad")
    t_match "$bad: 500 JSON" '^Status: 500' "$out"
    t_match "$bad: JSON body" '"error_code":500' "$out"
    t_true "$bad: log names $var" grep -q "configuration: $var" "$T_DIR/stderr"
    env -i PATH="$PATH" "$bad" "$H" --check >/dev/null 2>"$T_DIR/check"
    t_eq "$bad: --check exits 2" 2 "$?"
done
out=$(cgi "WSB_REDIS_URL=redis://:topsecret@127.0.0.1:1")
t_true "password never in logs" bash -c "! grep -q topsecret '$T_DIR/stderr'"

# Redis unreachable: a quick 503/100, not a hang.
port=$(t_free_port)
start=$(date +%s%N)
out=$(cgi "WSB_REDIS_URL=redis://127.0.0.1:$port/0")
ms=$(( ($(date +%s%N) - start) / 1000000 ))
t_match "unreachable redis: 503" '^Status: 503' "$out"
t_match "unreachable redis: error 100" '"error_code":100\}$' "$out"
t_true "unreachable redis: answered in ${ms} ms (< 1000)" test "$ms" -lt 1000
t_true "unreachable redis: logged with its address" grep -q "127.0.0.1:$port" "$T_DIR/stderr"
# A blackholed address (nothing answers SYN) is bounded by the connect timeout.
port2=$(t_free_port)   # outside the timed part: a python start on a loaded host takes seconds
start=$(date +%s%N)
out=$(cgi "WSB_REDIS_URL=redis://127.0.0.1:$port/0,redis://127.0.0.1:$port2/0" WSB_REDIS_CONNECT_TIMEOUT_MS=100)
ms=$(( ($(date +%s%N) - start) / 1000000 ))
t_true "two unreachable addresses: ${ms} ms (< 1000)" test "$ms" -lt 1000

t_redis_start
printf '[{"id":"lon","endpoint":"wss://lon.example.net/ws","location":"London","lat":51.5,"lon":-0.1,"versions":["v1"],"online":true,"load":0.1}]' > "$T_DIR/s.json"
t_state "$T_DIR/s.json"
out=$(cgi "WSB_REDIS_URL=$T_REDIS_URL")
t_match "CGI serves" '\{"endpoint":"wss://lon.example.net/ws","location":"London"\}$' "$out"
out=$(cgi "WSB_REDIS_URL=unix://$T_REDIS_SOCK")
t_match "unix socket URL" '"location":"London"' "$out"
out=$(cgi "WSB_REDIS_URL=redis://127.0.0.1:$port/0,$T_REDIS_URL")
t_match "failover to the second address" '"location":"London"' "$out"
out=$(cgi "WSB_REDIS_URL=$T_REDIS_URL" WSB_KEY_PREFIX=other:)
t_match "another prefix sees no nodes: 100" '"error_code":100' "$out"
out=$(env -i PATH="$PATH" WSB_REDIS_URL="$T_REDIS_URL" "$H" --check)
t_eq "--check exit" 0 "$?"
t_match "--check describes the state" '1 nodes \(1 online, 1 eligible' "$out"
out=$(env -i PATH="$PATH" WSB_REDIS_URL="$T_REDIS_URL" WSB_GEOIP_DB="$T_DIR/missing.mmdb" "$H" --check 2>&1)
t_match "--check reports a missing GeoIP file" 'missing.mmdb' "$out"
out=$(cgi "WSB_REDIS_URL=$T_REDIS_URL" "WSB_GEOIP_DB=$GEOIP_DIR/GeoIP2-City-Test-Broken-Double-Format.mmdb")
t_match "broken GeoIP database: still serves" '"location":"London"' "$out"
out=$(cgi "WSB_REDIS_URL=$T_REDIS_URL" "WSB_GEOIP_DB=$T_DIR/none.mmdb")
t_match "missing GeoIP database: still serves" '"location":"London"' "$out"
t_true "missing GeoIP database: one clear log line" grep -q "geoip: .*none.mmdb" "$T_DIR/stderr"

# Password from a file, against a Redis that requires one.
redis-cli -p "$T_REDIS_PORT" CONFIG SET requirepass 's3cr3t-pw' >/dev/null
printf 's3cr3t-pw\n' > "$T_DIR/pw"
out=$(cgi "WSB_REDIS_URL=$T_REDIS_URL" "WSB_REDIS_PASSWORD_FILE=$T_DIR/pw")
t_match "password file" '"location":"London"' "$out"
printf 'wrong\n' > "$T_DIR/pw"
out=$(cgi "WSB_REDIS_URL=$T_REDIS_URL" "WSB_REDIS_PASSWORD_FILE=$T_DIR/pw")
t_match "wrong password: 503/100" '"error_code":100' "$out"
t_true "wrong password: logged without the password" bash -c "grep -q 'AUTH refused' '$T_DIR/stderr' && ! grep -q s3cr3t '$T_DIR/stderr'"
redis-cli -p "$T_REDIS_PORT" -a 's3cr3t-pw' --no-auth-warning CONFIG SET requirepass '' >/dev/null

out=$("$H" --help)
t_match "--help" 'usage: wsb-handler' "$out"
"$H" --bogus 2>/dev/null
t_eq "unknown argument: exit 2" 2 "$?"
t_no_sanitizer_reports "no sanitizer reports from CGI runs" "$T_DIR/all-stderr"
t_summary
