#!/usr/bin/env bash
# handler_lighttpd.sh: the HTTP contract end to end through a real lighttpd
# (configured from examples/lighttpd/lighttpd.conf) with wsb-handler as
# FastCGI, a private redis-server, and the real GeoLite2 City test database.
. "$(dirname "$0")/../lib.sh"

t_redis_start
HTTP_PORT=$(t_free_port)
mkdir -p "$T_DIR/www" "$T_DIR/run"

# The example, templated only for ports, paths and test timings.
sed -e "s|server.port            = 8080|server.port = $HTTP_PORT|" \
    -e "s|/var/www/empty|$T_DIR/www|" \
    -e "s|/var/log/lighttpd/wsbalancer-error.log|$T_DIR/error.log|" \
    -e "s|/var/log/lighttpd/wsbalancer-access.log|$T_DIR/access.log|" \
    -e "s|/var/log/lighttpd/wsbalancer-handler.log|$T_DIR/handler.log|" \
    -e "s|/run/lighttpd-wsbalancer.pid|$T_DIR/lighttpd.pid|" \
    -e "s|/usr/local/bin/wsb-handler|$BUILD/wsb-handler|" \
    -e "s|/run/lighttpd/wsb-handler.sock|$T_DIR/run/handler.sock|" \
    -e "s|\"min-procs\"   => 4|\"min-procs\" => 2|" -e "s|\"max-procs\"   => 4|\"max-procs\" => 2|" \
    -e "s|redis://127.0.0.1:6379/0|$T_REDIS_URL|" \
    -e "s|/var/lib/GeoIP/GeoLite2-City.mmdb|$GEOIP_DIR/GeoLite2-City-Test.mmdb|" \
    -e "s|\"WSB_CACHE_MS\"        => \"1000\",|\"WSB_CACHE_MS\" => \"100\", \"WSB_STALE_MAX_MS\" => \"1500\", \"WSB_REDIS_RETRY_MS\" => \"100\",|" \
    "$T_ROOT/examples/lighttpd/lighttpd.conf" > "$T_DIR/lighttpd.conf"
grep -q "$BUILD/wsb-handler" "$T_DIR/lighttpd.conf" || { t_fail "example template did not apply"; t_summary; exit 1; }

lighttpd -D -f "$T_DIR/lighttpd.conf" 2>>"$T_DIR/lighttpd.stderr" &
T_PIDS+=($!)
BASE="http://127.0.0.1:$HTTP_PORT"
t_wait_for curl -s -o /dev/null "$BASE/" || { t_fail "lighttpd did not start"; cat "$T_DIR/lighttpd.stderr" "$T_DIR/error.log" >&2; t_summary; exit 1; }

# Every assertion of the HTTP contract: tests/contract.sh, shared with the
# Apache and nginx tests.
. "$T_ROOT/tests/contract.sh"
contract_suite "$BASE" "$T_DIR/handler.log"

# Redis restarted while the handler processes sit idle on their old
# connections: the very first request after it is served, not 503.
printf '[{"id":"lon","endpoint":"wss://lon.example.net/ws","location":"London","lat":51.5,"lon":-0.1,"versions":["v1"],"online":true,"load":0.1}]' > "$T_DIR/one.json"
t_state "$T_DIR/one.json"
for i in 1 2 3 4 5 6 7 8; do curl -s -o /dev/null "$BASE/v1/websocket/server"; done   # every process connected
t_redis_stop
T_REDIS_PORT_WANT=$T_REDIS_PORT t_redis_start redis3
sed 's/"lon"/"tyo"/; s/lon.example/tyo.example/; s/London/Tokyo/' "$T_DIR/one.json" > "$T_DIR/two.json"
t_state "$T_DIR/two.json"
sleep 0.3   # longer than WSB_CACHE_MS: the next request reads Redis on its old connection
got=""
for i in 1 2 3 4; do body=$(curl -s "$BASE/v1/websocket/server"); echo "$body" >> "$T_DIR/bodies"; got="$got $(echo "$body" | sed -n 's/.*"location":"\([^"]*\)".*/\1/p')"; done
t_eq "first requests after a Redis restart on idle connections get the new state" " Tokyo Tokyo Tokyo Tokyo" "$got"

t_summary
