#!/usr/bin/env bash
# browser_client.sh: the reference client (examples/client/wsb-client.js)
# in headless Chromium, the way production runs: the balancer over HTTPS
# with HTTP/2 (nginx from examples/nginx/wsbalancer-tls.conf, a test CA made
# here), the handler pool as examples/systemd/wsb-handler.service starts it,
# nodes over wss:// (stand-ins that echo), and the browser trusting only the
# test CA (an NSS db in a private HOME).  The page comes from another origin
# than the balancer, so CORS is exercised for real.  It checks that the page
#   - gets an endpoint, connects and exchanges a message;
#   - survives its node being stopped: asks again with ?exclude=<it>, and
#     connects elsewhere;
#   - comes back to its affinity node when that returns;
#   - from an origin not in WSB_CORS_ORIGINS is refused by the browser
#     (the balancer still answered: the refusal is the browser's);
#   - can read Retry-After of a 503.
# Then the client's node --test runs against the same balancer.
# The outcome is read from the page's DOM over the DevTools protocol.
. "$(dirname "$0")/web_lib.sh"
EX="$T_ROOT/examples"

for tool in chromium certutil node nginx; do
    command -v "$tool" >/dev/null || { t_fail "$tool is not installed (scripts/deps.sh)"; t_summary; exit 1; }
done
NODE_WS=(node --experimental-websocket)

# --- TLS material, and a browser that trusts only its CA ---
"$T_ROOT/tests/tools/make_test_ca.sh" "$T_DIR/tls" >/dev/null 2>&1 || { t_fail "make_test_ca.sh"; t_summary; exit 1; }
export HOME="$T_DIR/home"
mkdir -p "$HOME/.pki/nssdb"
certutil -d "sql:$HOME/.pki/nssdb" -N --empty-password
certutil -d "sql:$HOME/.pki/nssdb" -A -n "wsbalancer test CA" -t "C,," -i "$T_DIR/tls/ca.pem"
t_match "the private NSS db trusts the test CA" 'wsbalancer test CA +C,,' "$(certutil -d "sql:$HOME/.pki/nssdb" -L)"

# --- nodes: a, b, c for v1 (each its own process, to stop one), and for
# v2 a node that refuses connections (nothing listens) and a busy live one ---
declare -A NODE_PORT NODE_PID
standin() {   # NAME: starts (again) the stand-in of node NAME on its port
    local name=$1 port=${NODE_PORT[$1]}
    printf '{"nodes": {"%s": {"mode": "ok", "tls": true, "echo": true}}, "tls_cert": "%s", "tls_key": "%s"}' \
        "$port" "$T_DIR/tls/server.pem" "$T_DIR/tls/server.key" > "$T_DIR/standin-$name.json"
    t_standin_start "$T_DIR/standin-$name.json" || return 1
    NODE_PID[$name]=$T_STANDIN_PID
}
for n in a b c live2; do NODE_PORT[$n]=$(t_free_port); standin "$n" || { t_fail "stand-in $n"; t_summary; exit 1; }; done
DEAD_PORT=$(t_free_port)
ep() { printf 'wss://localhost:%s/ws' "${NODE_PORT[$1]}"; }
node_json() {   # ID ENDPOINT VERSIONS CONNECTIONS
    printf '{"id":"%s","endpoint":"%s","location":"%s","versions":%s,"online":true,"capacity":1000,"connections":%s,"load":%s}' \
        "$1" "$2" "$1" "$3" "$4" "0.$(printf '%03d' "$4")"
}
{
    echo '['
    node_json a "$(ep a)" '["v1"]' 100; echo ','
    node_json b "$(ep b)" '["v1"]' 100; echo ','
    node_json c "$(ep c)" '["v1"]' 100; echo ','
    node_json dead2 "wss://localhost:$DEAD_PORT/ws" '["v2"]' 0; echo ','
    node_json live2 "$(ep live2)" '["v2"]' 800
    echo ']'
} > "$T_DIR/state.json"

# --- Redis, the pool (CORS for the page's origin), nginx over TLS ---
PAGE_PORT=$(t_free_port)
PAGE_ORIGIN="http://127.0.0.1:$PAGE_PORT"
OTHER_ORIGIN="http://localhost:$PAGE_PORT"
w_redis_acl_start
t_state "$T_DIR/state.json" || { t_fail "state write"; t_summary; exit 1; }
SOCK="$T_DIR/run/handler.sock"
mkdir -p "$T_DIR/run"
w_env_file "$EX/wsbalancer/handler.env" \
    "s|127.0.0.1:6379|127.0.0.1:$T_REDIS_PORT|" \
    "s|/etc/wsbalancer/handler.redis-password|$T_DIR/handler.redis-password|" \
    "s|^WSB_GEOIP_DB=.*|WSB_GEOIP_DB=|" \
    "s|^WSB_CORS_ORIGINS=.*|WSB_CORS_ORIGINS=$PAGE_ORIGIN|" \
    "s|^WSB_CACHE_MS=1000|WSB_CACHE_MS=100|"
w_unit_exec "$EX/systemd/wsb-handler.service"
W_ARGS=("${W_ARGS[@]//\/run\/wsbalancer\/handler.sock/$SOCK}")
w_pool_start "$T_DIR/pool.log" W_ENV "${W_ARGS[@]}"
w_wait_socket "$SOCK" || { t_fail "pool did not start"; cat "$T_DIR/pool.log" >&2; t_summary; exit 1; }

TLS_PORT=$(t_free_port)
sed -e "s|listen 127.0.0.1:8443 ssl http2;|listen 127.0.0.1:$TLS_PORT ssl http2;|" \
    -e "s|unix:/run/wsbalancer/handler.sock|unix:$SOCK|" \
    -e "s|/var/log/nginx/|$T_DIR/nginx-|g" \
    -e "s|/etc/ssl/wsbalancer/fullchain.pem|$T_DIR/tls/server.pem|" \
    -e "s|/etc/ssl/wsbalancer/privkey.pem|$T_DIR/tls/server.key|" \
    "$EX/nginx/wsbalancer-tls.conf" > "$T_DIR/site.conf"
grep -q "$TLS_PORT ssl" "$T_DIR/site.conf" || { t_fail "example template did not apply"; t_summary; exit 1; }
w_nginx_start "$T_DIR/site.conf" || { t_fail "nginx config test failed"; cat "$T_DIR/nginx-configtest.log" >&2; t_summary; exit 1; }
BALANCER="https://localhost:$TLS_PORT/v1/websocket/server"
for _ in $(seq 100); do curl -s -o /dev/null --cacert "$T_DIR/tls/ca.pem" "$BALANCER" && break; sleep 0.05; done
t_eq "nginx TLS example: HTTP/2 with the test CA" "2 200" \
    "$(curl -s -o /dev/null -w '%{http_version} %{http_code}' --http2 --cacert "$T_DIR/tls/ca.pem" "$BALANCER")"
t_true "nginx TLS example: a client without the test CA is refused" \
    bash -c "! curl -s -o /dev/null '$BALANCER'"
t_match "?exclude= through nginx: never the excluded node" '"endpoint":"wss://localhost:('"${NODE_PORT[b]}|${NODE_PORT[c]}"')/ws"' \
    "$(for _ in 1 2 3 4 5 6; do curl -s --cacert "$T_DIR/tls/ca.pem" -G --data-urlencode "exclude=$(ep a)" "$BALANCER"; echo; done | sort -u | tr '\n' ' ')"
t_true "  ... in six answers, not once" bash -c "! for _ in 1 2 3 4 5 6; do curl -s --cacert '$T_DIR/tls/ca.pem' -G --data-urlencode 'exclude=$(ep a)' '$BALANCER'; done | grep -q '${NODE_PORT[a]}'"
aff=$(for _ in 1 2 3 4 5; do curl -s --cacert "$T_DIR/tls/ca.pem" "$BALANCER?affinity=curl-key-7"; echo; done | sort -u)
t_eq "?affinity= through nginx: one node for a key" 1 "$(printf '%s\n' "$aff" | grep -c endpoint)"

# --- the page's server (another origin) ---
mkdir -p "$T_DIR/page"
cp "$EX/client/wsb-client.js" "$T_DIR/page/"
cp "$T_ROOT/tests/tools/browser_client_page.html" "$T_DIR/page/index.html"
echo '{"reconnect": 0}' > "$T_DIR/page/ctl.json"
python3 -m http.server "$PAGE_PORT" --bind 127.0.0.1 --directory "$T_DIR/page" >"$T_DIR/page.log" 2>&1 &
T_PIDS+=($!)
w_http_up "$PAGE_ORIGIN/index.html" || { t_fail "page server"; t_summary; exit 1; }

# --- Chromium ---
CDP_PORT=$(t_free_port)
chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run \
    --user-data-dir="$T_DIR/chrome" --remote-debugging-address=127.0.0.1 --remote-debugging-port="$CDP_PORT" \
    --remote-allow-origins='*' --enable-logging=stderr --v=0 about:blank >"$T_DIR/chromium.log" 2>&1 &
T_PIDS+=($!)
for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$CDP_PORT/json/version" && break; sleep 0.1; done
cdp() { "${NODE_WS[@]}" "$T_ROOT/tests/tools/cdp.mjs" "$CDP_PORT" "$@"; }
enc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
OUT='JSON.parse(document.getElementById("out").textContent)'

MAIN=$(cdp open "$PAGE_ORIGIN/index.html?mode=main&affinity=browser-key-1&balancer=$(enc "$BALANCER")")
t_true "a tab opened over the DevTools protocol" test -n "$MAIN"
first=$(cdp wait "$MAIN" "(s => s.opens.length >= 1 && s.opens[0].echoed && s.opens[0].endpoint)($OUT)" 15000)
first=${first//\"/}
t_match "the page connected to a node over wss:// and got its echo" "^wss://localhost:(${NODE_PORT[a]}|${NODE_PORT[b]}|${NODE_PORT[c]})/ws\$" "$first"
X=""
for n in a b c; do [ "$first" = "$(ep "$n")" ] && X=$n; done
if [ -z "$X" ]; then
    t_fail "first endpoint unknown: $first"; cdp wait "$MAIN" "document.getElementById('out').textContent" 100 >&2
    t_summary; exit 1
fi

# Stop the page's node: its WebSocket drops, the state still says online.
kill "${NODE_PID[$X]}"; wait "${NODE_PID[$X]}" 2>/dev/null
second=$(cdp wait "$MAIN" "(s => s.opens.length >= 2 && s.opens[1].echoed && s.opens[1].endpoint)($OUT)" 20000)
second=${second//\"/}
t_match "node $X stopped: the page reconnected to another node and exchanged a message" \
    "^wss://localhost:[0-9]+/ws\$" "$second"
t_true "  ... not the stopped one" test "$second" != "$first"
asked=$(cdp wait "$MAIN" "$OUT.events.filter(e => e.type === 'balancer').map(e => e.url).join(' ')" 1000)
t_match "  ... after asking with exclude=<the stopped node> and its affinity key" \
    "exclude=$(enc "$first" | sed 's/[.]/[.]/g')&affinity=browser-key-1" "$asked"
t_true "  ... which nginx passed on (access log, HTTP/2)" \
    grep -q "GET /v1/websocket/server?exclude=$(enc "$first").*HTTP/2.0\" 200" "$T_DIR/nginx-wsbalancer-access.log"

# The node returns: a reconnect brings the page back to it (affinity).
standin "$X" || t_fail "stand-in $X did not restart"
echo '{"reconnect": 1}' > "$T_DIR/page/ctl.json"
third=$(cdp wait "$MAIN" "(s => s.opens.length >= 3 && s.opens[2].echoed && s.opens[2].endpoint)($OUT)" 20000)
t_eq "node $X back: the page's affinity key brings it back there" "\"$first\"" "$third"

# --- CORS, for real: the allowed origin reads the answer, another is refused ---
ALLOWED=$(cdp open "$PAGE_ORIGIN/index.html?mode=cors&balancer=$(enc "$BALANCER")")
res=$(cdp wait "$ALLOWED" "$OUT.done && document.getElementById('out').textContent" 10000)
t_match "allowed origin $PAGE_ORIGIN: the page reads the endpoint" '\\"cors\\":\{\\"ok\\":true,\\"status\\":200' "$res"
t_match "  ... and a 503's Retry-After (exposed)" '\\"status503\\":503,\\"retryAfter\\":\\"[0-9]+\\"' "$res"
before=$(grep -c 'GET /v1/websocket/server HTTP/2.0" 200' "$T_DIR/nginx-wsbalancer-access.log")
OTHER=$(cdp open "$OTHER_ORIGIN/index.html?mode=cors&balancer=$(enc "$BALANCER")")
res=$(cdp wait "$OTHER" "$OUT.done && document.getElementById('out').textContent" 10000)
t_match "origin $OTHER_ORIGIN (not allowed): the browser refuses the answer" '\\"cors\\":\{\\"ok\\":false,\\"error\\":\\"TypeError\\"' "$res"
after=$(grep -c 'GET /v1/websocket/server HTTP/2.0" 200' "$T_DIR/nginx-wsbalancer-access.log")
t_true "  ... though the balancer answered it (200 in nginx's log): the refusal is the browser's" test "$after" -gt "$before"

# --- the client's node --test, against the same balancer ---
if NODE_EXTRA_CA_CERTS="$T_DIR/tls/ca.pem" WSB_TEST_BALANCER="$BALANCER" \
    "${NODE_WS[@]}" --test "$EX/client/wsb-client.test.mjs" > "$T_DIR/node-test.log" 2>&1; then
    t_pass "node --test examples/client against the balancer"
else
    t_fail "node --test examples/client against the balancer"; tail -40 "$T_DIR/node-test.log" >&2
fi
t_match "  ... ran every test, none skipped" '# pass 6' "$(grep -E '^# (pass|skipped)' "$T_DIR/node-test.log" | tr '\n' ' ')"

t_true "no pool worker died" bash -c "! grep -q 'pool: worker' '$T_DIR/pool.log'"
t_no_sanitizer_reports "no sanitizer reports from the handler" "$T_DIR/pool.log"
t_summary
