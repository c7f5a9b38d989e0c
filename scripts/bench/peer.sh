#!/usr/bin/env bash
# peer.sh: `make bench-peer`.  wsbalancer against the Node.js peer that a
# team would write instead (../shared/peers/node-balancer), both behind the
# same nginx (proxy_pass with upstream keepalive for the peer, fastcgi_pass
# with kept-alive FastCGI connections for the handler pool), the same nodes
# in both state layouts, the same wrk load and client addresses.  Prints
# requests/s, p50, p99, CPU seconds per 10,000 requests and resident memory
# of each side, the ratios, and the targets as met or not.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
SECS=${BENCH_SECONDS:-8}
CONC=${BENCH_CONNECTIONS:-64}
THREADS=${BENCH_THREADS:-2}
SIZES=${BENCH_SIZES:-"10 1000"}
POOL_WORKERS=${POOL_WORKERS:-$(( $(nproc) / 2 > 0 ? $(nproc) / 2 : 1 ))}
POOL_THREADS=${POOL_THREADS:-1}
NGINX_WORKERS=${NGINX_WORKERS:-2}
PEER_WORKERS=${PEER_WORKERS:-2}
PEER_SRC=${PEER_SRC:-$ROOT/../shared/peers/node-balancer}
GEOIP_DIR=${GEOIP_DIR:-$ROOT/../shared/geoip}
T=$(mktemp -d /tmp/wsb-peer.XXXXXX)
chmod 755 "$T"
PIDS=()
cleanup() {
    [ -f "$T/nginx.pid" ] && kill "$(cat "$T/nginx.pid")" 2>/dev/null
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    sleep 0.5
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    rm -rf "$T"
}
trap cleanup EXIT
. "$ROOT/scripts/bench/lib.sh"
py() { python3 -c "print($1)"; }

command -v node >/dev/null || { echo "bench-peer: node is not installed (apt-get install nodejs npm)"; exit 1; }
echo "== peer install (npm, into $T/peer)"
mkdir -p "$T/peer"
cp "$PEER_SRC/server.js" "$PEER_SRC/package.json" "$T/peer/"
(cd "$T/peer" && npm install --no-audit --no-fund --loglevel=error >/dev/null 2>"$T/npm.log") || { echo "npm install failed:"; cat "$T/npm.log"; exit 1; }
echo "  node $(node --version), ioredis $(node -p "require('$T/peer/node_modules/ioredis/package.json').version"), maxmind $(node -p "require('$T/peer/node_modules/maxmind/package.json').version")"
echo "  nginx $(nginx -v 2>&1 | sed 's/.*\///'), $NGINX_WORKERS workers; wrk -t$THREADS -c$CONC -d${SECS}s; $(nproc) cores"

bench_redis_start

# The peer: node:cluster workers.
PEER_PORT=$(free_port)
(cd "$T/peer" && PORT=$PEER_PORT HOST=127.0.0.1 REDIS_URL=$RURL GEOIP_DB="$GEOIP_DIR/GeoLite2-City-Test.mmdb" \
    WORKERS=$PEER_WORKERS exec node server.js >"$T/peer.log" 2>&1) &
PEER_PID=$!
PIDS+=($PEER_PID)

# The handler pool.
WSB_REDIS_URL=$RURL WSB_GEOIP_DB="$GEOIP_DIR/GeoLite2-City-Test.mmdb" WSB_TRUSTED_PROXIES=127.0.0.1/32 \
    WSB_LOG_LEVEL=warn "$BUILD/wsb-handler" --listen "$T/pool.sock" --workers "$POOL_WORKERS" \
    --threads "$POOL_THREADS" --socket-mode 0666 2>"$T/pool.log" &
POOL_PID=$!
PIDS+=($POOL_PID)

P_PEER=$(free_port); P_WSB=$(free_port)
cat > "$T/nginx.conf" <<CONF
user root;
worker_processes $NGINX_WORKERS;
pid $T/nginx.pid;
error_log $T/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    upstream peer { server 127.0.0.1:$PEER_PORT; keepalive 32; }
    upstream wsb  { server unix:$T/pool.sock; keepalive 32; }
    server {
        listen 127.0.0.1:$P_PEER;
        location / {
            proxy_pass http://peer;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For \$http_x_forwarded_for;
        }
    }
    server {
        listen 127.0.0.1:$P_WSB;
        location / {
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_NAME \$uri;
            fastcgi_keep_conn on;
            fastcgi_pass wsb;
        }
    }
}
CONF
nginx -c "$T/nginx.conf" -p "$T" || { cat "$T/nginx-error.log"; exit 1; }

cpu_ticks() {   # pids... -> utime+stime of them and their children threads
    local sum=0 p
    for p in "$@"; do
        [ -r "/proc/$p/stat" ] || continue
        sum=$((sum + $(awk '{print $14 + $15}' "/proc/$p/stat")))
    done
    echo "$sum"
}
rss_kb() { local sum=0 p; for p in "$@"; do sum=$((sum + $(awk '/VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0))); done; echo "$sum"; }
tree() { echo "$1 $(pgrep -P "$1" | tr '\n' ' ')"; }
nginx_pids() { local m; m=$(cat "$T/nginx.pid"); tree "$m"; }
run_wrk() {   # url
    local out
    out=$(wrk -t"$THREADS" -c"$CONC" -d"${SECS}s" --timeout 5s -s "$ROOT/scripts/bench/xff.lua" "$1" 2>&1 | grep WSBRESULT)
    RPS=$(sed -n 's/.*rps=\([0-9]*\).*/\1/p' <<<"$out"); P50=$(sed -n 's/.*p50_us=\([0-9]*\).*/\1/p' <<<"$out")
    P99=$(sed -n 's/.*p99_us=\([0-9]*\).*/\1/p' <<<"$out"); ERR=$(sed -n 's/.*errors=\([0-9]*\) non2xx=\([0-9]*\).*/\1+\2/p' <<<"$out")
}
measure() {   # label url side-pids... -> prints a row; sets RPS P99 CPU10K RSS
    local label=$1 url=$2; shift 2
    local pids="$* $(nginx_pids)"
    local hz; hz=$(getconf CLK_TCK)
    local before; before=$(cpu_ticks $pids)
    run_wrk "$url"
    local after; after=$(cpu_ticks $pids)
    CPU10K=$(py "'%.3f' % (($after - $before) / $hz / max(1, $RPS * $SECS) * 10000)")
    RSS=$(rss_kb "$@")
    printf '  %-30s %8s req/s  p50 %6s us  p99 %6s us  cpu %6s s/10k req  rss %7s KiB  errors %s\n' \
        "$label" "$RPS" "$P50" "$P99" "$CPU10K" "$RSS" "$ERR"
}

declare -A W_RPS W_P99 W_RSS P_RPS P_P99 P_RSS W_CPU P_CPU
for n in $SIZES; do
    redis-cli -p "$RPORT" FLUSHDB >/dev/null
    python3 "$ROOT/scripts/bench/gen.py" nodes "$n" > "$T/nodes.json"
    "$BUILD/tests/wsb_statectl" --redis "$RURL" write "$T/nodes.json" --ttl 3600 >/dev/null || exit 1
    python3 "$ROOT/scripts/bench/gen.py" peer-redis "$n" | redis-cli -p "$RPORT" >/dev/null
    sleep 1.2
    wait_for curl -sf -H 'X-Forwarded-For: 81.2.69.142' "http://127.0.0.1:$P_PEER/v1/websocket/server" || { echo "peer does not answer"; cat "$T/peer.log"; exit 1; }
    wait_for curl -sf -H 'X-Forwarded-For: 81.2.69.142' "http://127.0.0.1:$P_WSB/v1/websocket/server" || { echo "handler pool does not answer"; cat "$T/pool.log" "$T/nginx-error.log"; exit 1; }
    echo "== $n nodes (same nodes, same client addresses: same answers' geography on both sides)"
    echo "  peer answers:  $(curl -s -H 'X-Forwarded-For: 81.2.69.142' "http://127.0.0.1:$P_PEER/v1/websocket/server")"
    echo "  wsb answers:   $(curl -s -H 'X-Forwarded-For: 81.2.69.142' "http://127.0.0.1:$P_WSB/v1/websocket/server")"
    # Warm both up, then measure, alternating, three times each; keep each side's best run.
    run_wrk "http://127.0.0.1:$P_PEER/v1/websocket/server" >/dev/null; run_wrk "http://127.0.0.1:$P_WSB/v1/websocket/server" >/dev/null
    for rep in 1 2 3; do
        measure "peer (node, $PEER_WORKERS workers)" "http://127.0.0.1:$P_PEER/v1/websocket/server" $(tree "$PEER_PID")
        if [ "${RPS:-0}" -gt "${P_RPS[$n]:-0}" ]; then P_RPS[$n]=$RPS; P_P99[$n]=$P99; P_RSS[$n]=$RSS; P_CPU[$n]=$CPU10K; fi
        measure "wsbalancer ($POOL_WORKERS x $POOL_THREADS)" "http://127.0.0.1:$P_WSB/v1/websocket/server" $(tree "$POOL_PID")
        if [ "${RPS:-0}" -gt "${W_RPS[$n]:-0}" ]; then W_RPS[$n]=$RPS; W_P99[$n]=$P99; W_RSS[$n]=$RSS; W_CPU[$n]=$CPU10K; fi
    done
    printf '  ratios: req/s %.2f x   p99 %.2f x   cpu per request %.2f x   memory %.2f x  (wsbalancer / peer)\n' \
        "$(py "${W_RPS[$n]} / max(1, ${P_RPS[$n]})")" "$(py "${W_P99[$n]} / max(1, ${P_P99[$n]})")" \
        "$(py "${W_CPU[$n]} / max(0.0001, ${P_CPU[$n]})")" "$(py "${W_RSS[$n]} / max(1, ${P_RSS[$n]})")"
done
echo "  (nginx itself, shared by both: rss $(rss_kb $(nginx_pids)) KiB)"

echo "== targets"
for n in $SIZES; do
    want=1.0; [ "$n" -ge 1000 ] && want=1.5
    target "$n nodes: wsbalancer >= ${want} x the peer's requests/s (${W_RPS[$n]} vs ${P_RPS[$n]})" fcmp "${W_RPS[$n]} >= $want * ${P_RPS[$n]}"
    target "$n nodes: lower p99 than the peer (${W_P99[$n]} vs ${P_P99[$n]} us)" fcmp "${W_P99[$n]} < ${P_P99[$n]}"
    target "$n nodes: <= 1/5 of the peer's memory (${W_RSS[$n]} vs ${P_RSS[$n]} KiB)" fcmp "${W_RSS[$n]} * 5 <= ${P_RSS[$n]}"
done
echo "bench-peer: $MET targets met, $MISSED missed"
