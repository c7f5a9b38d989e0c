#!/usr/bin/env bash
# soak_valgrind.sh: wsb-handler under valgrind memcheck, zero errors and
# zero leaks (definite, indirect, possible):
#   - as CGI, one run per kind of request and per failure path (routes,
#     methods, CORS, forwarded-for, GeoIP City/Country/broken, malformed
#     records, Redis down, wrong password, bad configuration, --check);
#   - as a FastCGI responder under lighttpd, serving requests while the
#     state changes, then stopped the way lighttpd stops it.
# In `make test` the FastCGI part serves 300 requests; `make valgrind-cgi`
# (part of `make valgrind`) serves 3000.
. "$(dirname "$0")/fault_lib.sh"

command -v valgrind >/dev/null || { t_fail "valgrind is not installed (scripts/deps.sh)"; t_summary; exit 1; }
if f_sanitized; then
    echo "soak_valgrind: $BUILD is built with AddressSanitizer, which memcheck cannot run; skipped"
    t_summary
    exit 0
fi
H="$BUILD/wsb-handler"
FCGI_REQUESTS=300
[ -n "${WSB_VALGRIND_FULL:-}" ] && FCGI_REQUESTS=3000
VG=(valgrind --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect,possible
    --errors-for-leak-kinds=definite,indirect,possible --track-fds=no)

t_redis_start
cat > "$T_DIR/state.json" <<'JSON'
[{"id":"lon","endpoint":"wss://lon.example.net/ws","location":"London","lat":51.51,"lon":-0.13,"country":"GB","continent":"EU","versions":["v1"],"online":true,"capacity":1000000000,"load":0.2},
 {"id":"fra","endpoint":"wss://fra.example.net/ws","location":"Frankfurt","lat":50.11,"lon":8.68,"country":"DE","continent":"EU","versions":["v1","v2"],"online":true,"capacity":1000000000,"load":0.3},
 {"id":"off","endpoint":"wss://off.example.net/ws","location":"Off","versions":["v3"],"online":false}]
JSON
t_state "$T_DIR/state.json"
t_rcli HSET wsb:nodes junk '{"endpoint":"javascript:1"' >/dev/null
t_rcli HSET wsb:admin fra drain "bad id" drain >/dev/null
printf 'pw-in-a-file\n' > "$T_DIR/pw"

N=0
# vg NAME EXPECT_REGEX [VAR=VALUE...] [-- ARGS]: one CGI run under memcheck.
vg() {
    local name=$1 want=$2; shift 2
    local env=() args=()
    while [ $# -gt 0 ]; do
        if [ "$1" = -- ]; then shift; args=("$@"); break; fi
        env+=("$1"); shift
    done
    N=$((N + 1))
    local out rc
    out=$(env -i PATH="$PATH" GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=GET REQUEST_URI=/v1/websocket/server \
        REMOTE_ADDR=127.0.0.1 WSB_REDIS_URL="$T_REDIS_URL" WSB_GEOIP_DB="$GEOIP_DIR/GeoLite2-City-Test.mmdb" \
        WSB_TRUSTED_PROXIES=127.0.0.1/32 WSB_CORS_ORIGINS=https://app.example.com "${env[@]}" \
        "${VG[@]}" --log-file="$T_DIR/vg.$N" "$H" "${args[@]}" </dev/null 2>"$T_DIR/cgi.$N")
    rc=$?
    if [ "$rc" = 99 ] || ! grep -q "ERROR SUMMARY: 0 errors from 0 contexts" "$T_DIR/vg.$N"; then
        t_fail "$name: memcheck found errors or leaks"
        head -40 "$T_DIR/vg.$N" >&2
    else
        t_pass "$name: memcheck clean"
    fi
    t_match "$name: answer" "$want" "$out"
}

vg "GET, London client" '"endpoint":"wss://lon' HTTP_X_FORWARDED_FOR=81.2.69.142
vg "GET v2: its one node drained at run time" '"error_code":100' REQUEST_URI=/x/v2/websocket/server \
    HTTP_X_FORWARDED_FOR=2001:218::1
vg "GET v3: none online" '"error_code":101' REQUEST_URI=/v3/websocket/server
vg "GET v9: no such version" '"error_code":102' REQUEST_URI=/v9/websocket/server
vg "unknown path" '"error_code":404' REQUEST_URI=/nope
vg "POST" '"error_code":405' REQUEST_METHOD=POST
vg "HEAD" 'Status: 200' REQUEST_METHOD=HEAD
vg "CORS preflight" 'Access-Control-Allow-Origin: https://app.example.com' REQUEST_METHOD=OPTIONS \
    HTTP_ORIGIN=https://app.example.com
vg "forwarded-for chain, garbage" 'Status: 200' "HTTP_X_FORWARDED_FOR=junk, [2001:db8::1]:443, 1.2.3.4:80"
vg "a Country database" '"endpoint":"wss://lon' WSB_GEOIP_DB="$GEOIP_DIR/GeoLite2-Country-Test.mmdb" \
    HTTP_X_FORWARDED_FOR=81.2.69.142
vg "a broken GeoIP database" 'Status: 200' WSB_GEOIP_DB="$GEOIP_DIR/GeoIP2-City-Test-Broken-Double-Format.mmdb" \
    HTTP_X_FORWARDED_FOR=81.2.69.142
vg "a missing GeoIP database" 'Status: 200' WSB_GEOIP_DB="$T_DIR/none.mmdb"
vg "redis unreachable" '"error_code":100' WSB_REDIS_URL="redis://127.0.0.1:$(t_free_port)/0"
vg "two addresses, the second up" '"endpoint"' "WSB_REDIS_URL=redis://127.0.0.1:$(t_free_port)/0,$T_REDIS_URL"
vg "password file, wrong password" '"error_code":100' WSB_REDIS_PASSWORD_FILE="$T_DIR/pw"
vg "bad configuration" '"error_code":500' WSB_MAX_LOAD=7
vg "--check" 'nodes' -- --check
vg "--help" 'usage' -- --help

# FastCGI under lighttpd: one long-lived process, many requests, state churn.
F_HANDLER_CMD="/usr/bin/valgrind --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect,possible --log-file=$T_DIR/vg-fcgi.%p $H" \
F_ACCESSLOG=0 f_lighttpd_start 1 WSB_CACHE_MS=20 WSB_TRUSTED_PROXIES=127.0.0.1/32 \
    || { t_fail "lighttpd with a handler under valgrind did not start"; t_summary; exit 1; }
up() { curl -s -m 5 "$F_BASE/v1/websocket/server" | grep -q endpoint; }
waited_up() { local i; for i in $(seq 60); do up && return 0; sleep 0.5; done; return 1; }   # valgrind starts slowly
t_true "FastCGI under valgrind: serving" waited_up
python3 - "$F_BASE" "$FCGI_REQUESTS" "$T_REDIS_PORT" > "$T_DIR/fcgi.out" <<'PY'
import http.client, json, subprocess, sys, urllib.parse
base, n, port = sys.argv[1], int(sys.argv[2]), sys.argv[3]
u = urllib.parse.urlsplit(base)
c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
reqs = [("GET", "/v1/websocket/server", {"X-Forwarded-For": "81.2.69.142"}),
        ("GET", "/v2/websocket/server", {"X-Forwarded-For": "2001:218::1"}),
        ("GET", "/v9/websocket/server", {}), ("GET", "/nope", {}), ("POST", "/v1/websocket/server", {}),
        ("OPTIONS", "/v1/websocket/server", {"Origin": "https://app.example.com"}),
        ("GET", "/v1/websocket/server", {"X-Forwarded-For": "junk, 10.0.0.1"})]
bad = 0
for i in range(n):
    m, p, h = reqs[i % len(reqs)]
    c.request(m, p, headers=h)
    r = c.getresponse()
    b = r.read()
    if r.status not in (200, 204, 404, 405, 503) or (b and not isinstance(json.loads(b), dict)):
        bad += 1
    if i % 50 == 0:   # the state changes: snapshots are rebuilt, old ones freed
        subprocess.run(["redis-cli", "-p", port, "HSET", "wsb:admin", "lon", "drain" if i % 100 else "no"],
                       stdout=subprocess.DEVNULL)
print("requests", n, "bad", bad)
PY
t_eq "FastCGI under valgrind: $FCGI_REQUESTS requests answered" "requests $FCGI_REQUESTS bad 0" "$(cat "$T_DIR/fcgi.out")"
f_lighttpd_stop
# lighttpd stops its backends with SIGTERM; wait for memcheck's final report.
for _ in $(seq 100); do pgrep -f "log-file=$T_DIR/vg-fcgi" >/dev/null || break; sleep 0.1; done
logs=$(ls "$T_DIR"/vg-fcgi.* 2>/dev/null | wc -l)
t_true "FastCGI under valgrind: memcheck ran ($logs process)" test "$logs" -ge 1
# Every process memcheck watched (lighttpd starts the handler through
# valgrind) ended with a full report and nothing in it.
clean=$(grep -l "ERROR SUMMARY: 0 errors from 0 contexts" "$T_DIR"/vg-fcgi.* 2>/dev/null | wc -l)
if [ "$logs" -ge 1 ] && [ "$clean" = "$logs" ]; then
    t_pass "FastCGI under valgrind: memcheck clean after $FCGI_REQUESTS requests and a stop"
else
    t_fail "FastCGI under valgrind: memcheck found errors or leaks ($clean of $logs reports clean)"
    grep -v "^==[0-9]*== *$" "$T_DIR"/vg-fcgi.* | head -60 >&2
fi
t_summary
