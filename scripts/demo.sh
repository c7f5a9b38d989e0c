#!/usr/bin/env bash
# demo.sh: wsbalancer on one machine, end to end (`make demo`).
#
# Starts, all on loopback and all private to this run:
#   - a Redis on a free port and a unix socket (never the default 6379);
#   - stand-in WebSocket nodes in London, Frankfurt, Stockholm, Seattle and
#     Tokyo (tests/tools/standin_node.py, one process, ws:// on loopback);
#   - wsb-probe checking them every second (examples' inventory shape);
#   - lighttpd on 127.0.0.1:$DEMO_PORT (8080) with wsb-handler as FastCGI,
#     configured from examples/lighttpd/lighttpd.conf, with MaxMind's City
#     test database and the loopback trusted as a proxy, so a client's
#     country can be played with X-Forwarded-For.
# Then it asks for a few clients in different countries, stops the London
# node and shows its clients moving, brings it back, and keeps serving
# until Ctrl-C (or for $DEMO_SECONDS), then stops everything it started.
#
#   DEMO_PORT=8080     HTTP port on 127.0.0.1
#   DEMO_SECONDS=      unset: serve until Ctrl-C; 0: stop after the show;
#                      N: serve N seconds after the show
#   DEMO_DIR=          working folder (default: a new one in /tmp, removed
#                      at the end; a given one is left in place)
#   BUILD=build        where `make` put wsb-handler and wsb-probe
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
PORT=${DEMO_PORT:-8080}
SECONDS_AFTER=${DEMO_SECONDS-forever}
GEOIP_DIR=$(cd "$ROOT/../shared/geoip" 2>/dev/null && pwd)
[ -n "$GEOIP_DIR" ] || GEOIP_DIR="$ROOT/tests/data/geoip"
GEOIP_DB="$GEOIP_DIR/GeoLite2-City-Test.mmdb"

say() { printf '%s\n' "$*"; }
step() { printf '\n== %s\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

# --- what is needed ---
missing=""
for c in redis-server redis-cli lighttpd python3 curl; do
    command -v "$c" >/dev/null 2>&1 || missing="$missing $c"
done
[ -z "$missing" ] || die "missing:$missing (run: make deps, or apt-get install redis-server lighttpd python3 curl)"
[ -x "$BUILD/wsb-handler" ] || die "$BUILD/wsb-handler is not built (run: make)"
[ -f "$GEOIP_DB" ] || die "no GeoIP test database at $GEOIP_DB"
# free_ports N: N distinct free loopback ports, one per line.
free_ports() {
    python3 -c 'import socket,sys
ss=[socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss: s.bind(("127.0.0.1", 0))
print("\n".join(str(s.getsockname()[1]) for s in ss))' "$1"
}
(: < "/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && die "127.0.0.1:$PORT is in use; pick another port: DEMO_PORT=8081 make demo"
mapfile -t PORTS < <(free_ports 6)   # Redis, then one per node

if [ -n "${DEMO_DIR:-}" ]; then
    DIR=$DEMO_DIR; KEEP_DIR=1; mkdir -p "$DIR"
else
    DIR=$(mktemp -d /tmp/wsb-demo.XXXXXX); KEEP_DIR=""
fi
PIDS=()
stopping=""
cleanup() {
    [ -n "$stopping" ] && return
    stopping=1
    step "stopping everything the demo started"
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
        kill -9 "$pid" 2>/dev/null
    done
    [ -n "$KEEP_DIR" ] || rm -rf "$DIR"
    say "stopped."
}
trap cleanup EXIT
trap 'exit 0' INT TERM
wait_for() {   # tries CMD for up to 10 s
    local i
    for i in $(seq 200); do "$@" >/dev/null 2>&1 && return 0; sleep 0.05; done
    return 1
}

# --- Redis ---
step "Redis: private, on loopback"
RPORT=${PORTS[0]}
redis-server --bind 127.0.0.1 --port "$RPORT" --unixsocket "$DIR/redis.sock" --unixsocketperm 700 --save '' \
    --appendonly no --dir "$DIR" --logfile "$DIR/redis.log" --daemonize no &
PIDS+=($!)
wait_for redis-cli -p "$RPORT" ping || die "redis did not start: $(tail -3 "$DIR/redis.log")"
REDIS_URL="redis://127.0.0.1:$RPORT/0"
say "redis-server on 127.0.0.1:$RPORT (look inside: redis-cli -p $RPORT HGETALL wsb:round)"

# --- stand-in nodes ---
step "WebSocket nodes (stand-ins on loopback)"
NODES=(
    "lon London 51.51 -0.13 GB EU"
    "fra Frankfurt 50.11 8.68 DE EU"
    "sto Stockholm 59.33 18.07 SE EU"
    "sea Seattle 47.61 -122.33 US NA"
    "tyo Tokyo 35.68 139.69 JP AS"
)
declare -A NODE_PORT
i=1
for n in "${NODES[@]}"; do
    set -- $n
    NODE_PORT[$1]=${PORTS[$i]}
    i=$((i + 1))
done
standin_config() {   # London's mode
    local first=1 n id mode
    {
        printf '{"nodes": {'
        for n in "${NODES[@]}"; do
            set -- $n
            id=$1; mode=ok
            [ "$id" = lon ] && mode=${LONDON_MODE:-ok}
            [ -z "$first" ] && printf ', '
            first=""
            printf '"%s": {"mode": "%s", "connections": %d, "capacity": 1000}' "${NODE_PORT[$id]}" "$mode" $(( (RANDOM % 40) * 10 + 100 ))
        done
        printf '}}\n'
    } > "$DIR/standin.tmp"
    mv "$DIR/standin.tmp" "$DIR/standin.json"
}
LONDON_MODE=ok standin_config
python3 "$ROOT/tests/tools/standin_node.py" --config "$DIR/standin.json" --ready-file "$DIR/standin.ready" --quiet \
    2>>"$DIR/standin.log" &
PIDS+=($!)
wait_for test -e "$DIR/standin.ready" || die "stand-in nodes did not start: $(tail -3 "$DIR/standin.log")"
for n in "${NODES[@]}"; do
    set -- $n
    say "$(printf '%-10s ws://127.0.0.1:%s/ws' "$2" "${NODE_PORT[$1]}")"
done

# --- the probe ---
step "the probe: every node checked every second, written to Redis"
{
    printf '{ "allow_insecure_ws": true,\n  "defaults": { "versions": ["v1"], "capacity": 1000,\n'
    printf '    "check": { "type": "websocket", "timeout_ms": 1000, "rise": 1, "fall": 1 } },\n  "nodes": [\n'
    first=1
    for n in "${NODES[@]}"; do
        set -- $n
        [ -z "$first" ] && printf ',\n'
        first=""
        printf '    { "id": "%s", "endpoint": "ws://127.0.0.1:%s/ws", "location": "%s", "latitude": %s, "longitude": %s, "country": "%s", "continent": "%s", "status_url": "http://127.0.0.1:%s/status" }' \
            "$1" "${NODE_PORT[$1]}" "$2" "$3" "$4" "$5" "$6" "${NODE_PORT[$1]}"
    done
    printf '\n  ]\n}\n'
} > "$DIR/inventory.json"
if [ -x "$BUILD/wsb-probe" ]; then
    "$BUILD/wsb-probe" --inventory "$DIR/inventory.json" --check-inventory 2>&1 | sed 's/^/  /'
    "$BUILD/wsb-probe" --inventory "$DIR/inventory.json" --redis "$REDIS_URL" --interval 1 --ttl 30 \
        2>>"$DIR/probe.log" &
    PIDS+=($!)
    PROBE=real
    say "wsb-probe --inventory $DIR/inventory.json --interval 1  (log: $DIR/probe.log)"
else
    # Without the probe (not built here), the demo writes the rounds itself.
    [ -x "$BUILD/tests/wsb_statectl" ] || die "neither $BUILD/wsb-probe nor $BUILD/tests/wsb_statectl is built"
    PROBE=statectl
    say "wsb-probe is not built: the demo writes node states itself (build/tests/wsb_statectl)"
fi
write_state() {   # statectl stand-in for a probe round; London online?
    local first=1 online
    {
        printf '['
        for n in "${NODES[@]}"; do
            set -- $n
            online=true
            [ "$1" = lon ] && online=${LONDON_ONLINE:-true}
            [ -z "$first" ] && printf ','
            first=""
            printf '{"id":"%s","endpoint":"ws://127.0.0.1:%s/ws","location":"%s","lat":%s,"lon":%s,"country":"%s","continent":"%s","versions":["v1"],"online":%s,"load":0.3}' \
                "$1" "${NODE_PORT[$1]}" "$2" "$3" "$4" "$5" "$6" "$online"
        done
        printf ']'
    } > "$DIR/state.json"
    "$BUILD/tests/wsb_statectl" --redis "$REDIS_URL" write "$DIR/state.json" --ttl 3600 >/dev/null
}
node_online() { redis-cli -p "$RPORT" HGET wsb:nodes "$1" | grep -q "\"online\":$2"; }
if [ "$PROBE" = statectl ]; then LONDON_ONLINE=true write_state; fi
wait_for node_online lon true || die "the probe wrote no round: $(tail -3 "$DIR/probe.log" 2>/dev/null)"
say "round: $(redis-cli -p "$RPORT" HGET wsb:round up) nodes up"

# --- lighttpd + wsb-handler ---
step "lighttpd on http://127.0.0.1:$PORT with wsb-handler (examples/lighttpd/lighttpd.conf)"
mkdir -p "$DIR/www" "$DIR/run"
sed -e "s|server.port            = 8080|server.port = $PORT|" \
    -e "s|/var/www/empty|$DIR/www|" \
    -e "s|/var/log/lighttpd/wsbalancer-error.log|$DIR/lighttpd-error.log|" \
    -e "s|/var/log/lighttpd/wsbalancer-access.log|$DIR/access.log|" \
    -e "s|/var/log/lighttpd/wsbalancer-handler.log|$DIR/handler.log|" \
    -e "s|/run/lighttpd-wsbalancer.pid|$DIR/lighttpd.pid|" \
    -e "s|/usr/local/bin/wsb-handler|$BUILD/wsb-handler|" \
    -e "s|/run/lighttpd/wsb-handler.sock|$DIR/run/handler.sock|" \
    -e "s|\"min-procs\"   => 4|\"min-procs\" => 2|" -e "s|\"max-procs\"   => 4|\"max-procs\" => 2|" \
    -e "s|redis://127.0.0.1:6379/0|$REDIS_URL|" \
    -e "s|/var/lib/GeoIP/GeoLite2-City.mmdb|$GEOIP_DB|" \
    -e "s|\"WSB_CACHE_MS\"        => \"1000\",|\"WSB_CACHE_MS\" => \"200\", \"WSB_ALLOW_INSECURE_WS\" => \"1\",|" \
    "$ROOT/examples/lighttpd/lighttpd.conf" > "$DIR/lighttpd.conf"
grep -q "WSB_ALLOW_INSECURE_WS" "$DIR/lighttpd.conf" || die "could not adapt examples/lighttpd/lighttpd.conf"
lighttpd -D -f "$DIR/lighttpd.conf" 2>>"$DIR/lighttpd.stderr" &
PIDS+=($!)
BASE="http://127.0.0.1:$PORT"
wait_for curl -s -o /dev/null "$BASE/" || die "lighttpd did not start: $(cat "$DIR/lighttpd.stderr" "$DIR/lighttpd-error.log" 2>/dev/null | tail -3)"
say "handler log: $DIR/handler.log"

# --- the show ---
CLIENTS=(
    "81.2.69.142 London, UK"
    "2001:218::1 Japan"
    "216.160.83.56 Milton, USA"
    "89.160.20.112 Linkoping, Sweden"
    "175.16.199.1 Changchun, China"
)
ask() {   # ip label: one request as that client
    local ip=$1; shift
    local body
    body=$(curl -s -H "X-Forwarded-For: $ip" "$BASE/v1/websocket/server")
    printf '  %-28s %-16s -> %s\n' "$*" "($ip)" "$body"
}
step "which node each client gets (GET /v1/websocket/server, client address in X-Forwarded-For)"
say "  e.g.: curl -H 'X-Forwarded-For: 81.2.69.142' $BASE/v1/websocket/server"
for c in "${CLIENTS[@]}"; do ask $c; done
printf '  %-28s %-16s -> %s\n' "no location (loopback)" "(127.0.0.1)" "$(curl -s "$BASE/v1/websocket/server")"
printf '  %-28s %-16s -> %s\n' "API version 2 (none has it)" "" "$(curl -s "$BASE/v2/websocket/server")"

step "the London node fails"
if [ "$PROBE" = real ]; then
    LONDON_MODE=close standin_config
    wait_for node_online lon false || say "  (the probe did not notice within 10 s)"
    say "  probe: $(grep 'node lon' "$DIR/probe.log" | tail -1 | sed 's/^[^:]*: [a-z]*: //')"
else
    LONDON_ONLINE=false write_state
fi
sleep 0.3   # longer than WSB_CACHE_MS
ask 81.2.69.142 London, UK
ask 2.125.160.216 Boxford, UK

step "the London node comes back"
if [ "$PROBE" = real ]; then
    LONDON_MODE=ok standin_config
    wait_for node_online lon true || say "  (the probe did not notice within 10 s)"
    say "  probe: $(grep 'node lon' "$DIR/probe.log" | tail -1 | sed 's/^[^:]*: [a-z]*: //')"
else
    LONDON_ONLINE=true write_state
fi
sleep 0.3
ask 81.2.69.142 London, UK

step "serving"
say "  $BASE/v1/websocket/server   (try other addresses with X-Forwarded-For;"
say "  the test database's networks: $GEOIP_DIR/GeoLite2-City-Test.json)"
say "  state:  redis-cli -p $RPORT HGETALL wsb:round;  redis-cli -p $RPORT HGET wsb:nodes lon"
say "  drain:  redis-cli -p $RPORT HSET wsb:admin fra drain"
case "$SECONDS_AFTER" in
    forever) say "  Ctrl-C stops the demo."; while :; do sleep 1; done ;;
    0) ;;
    *) say "  for $SECONDS_AFTER s"; sleep "$SECONDS_AFTER" ;;
esac
exit 0
