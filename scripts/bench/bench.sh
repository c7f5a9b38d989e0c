#!/usr/bin/env bash
# bench.sh: `make bench`.  Measures, in one run on this machine, with wrk on
# loopback and the same FastCGI worker count for every contender:
#   (a) lighttpd serving the answer as a static file,
#   (b) a minimal libfcgi responder printing a constant JSON (the FastCGI floor),
#   (c) wsb-handler with the City database, clients spread over many addresses,
# for 10, 1,000 and 10,000 nodes; then instructions per decision (callgrind),
# handler resident memory, and a probe round over 1,000 stand-in nodes of
# which 100 hang.  Prints figures, ratios, and each target as met or not.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
SECS=${BENCH_SECONDS:-5}
CONC=${BENCH_CONNECTIONS:-64}
THREADS=${BENCH_THREADS:-2}
WORKERS=${BENCH_WORKERS:-4}
SIZES=${BENCH_SIZES:-"10 1000 10000"}
GEOIP_DIR=${GEOIP_DIR:-$ROOT/../shared/geoip}
T=$(mktemp -d /tmp/wsb-bench.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    sleep 0.3
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    rm -rf "$T"
}
trap cleanup EXIT
. "$ROOT/scripts/bench/lib.sh"

echo "== machine"
echo "  $(nproc) cores, $(awk '/model name/ {sub(/.*: /,""); print; exit}' /proc/cpuinfo)"
echo "  $(lighttpd -v 2>&1 | head -1), $(redis-server --version | awk '{print $1, $3}'), wrk -t$THREADS -c$CONC -d${SECS}s, $WORKERS FastCGI processes"

bench_redis_start
mkdir -p "$T/www"
printf '{"endpoint":"wss://eu-1.example.net/ws","location":"Frankfurt"}' > "$T/www/static.json"

# --- lighttpd with all three contenders ---
HPORT=$(free_port)
cat > "$T/lighttpd.conf" <<CONF
server.modules = ( "mod_fastcgi" )
server.bind = "127.0.0.1"
server.port = $HPORT
server.document-root = "$T/www"
server.errorlog = "$T/lighttpd-error.log"
server.breakagelog = "$T/handler.log"
server.max-fds = 16384
server.max-connections = 4096
mimetype.assign = ( ".json" => "application/json" )
fastcgi.server = (
  "/const/" => (( "bin-path" => "$BUILD/tests/fcgi_const", "socket" => "$T/const.sock",
                  "min-procs" => $WORKERS, "max-procs" => $WORKERS, "check-local" => "disable" )),
  "/lb/" => (( "bin-path" => "$BUILD/wsb-handler", "socket" => "$T/lb.sock",
               "min-procs" => $WORKERS, "max-procs" => $WORKERS, "check-local" => "disable",
               "bin-environment" => ( "WSB_REDIS_URL" => "$RURL",
                   "WSB_GEOIP_DB" => "$GEOIP_DIR/GeoLite2-City-Test.mmdb",
                   "WSB_TRUSTED_PROXIES" => "127.0.0.1/32", "WSB_LOG_LEVEL" => "warn" ) )),
)
CONF
lighttpd -D -f "$T/lighttpd.conf" &
PIDS+=($!)
BASE="http://127.0.0.1:$HPORT"
wait_for curl -sf "$BASE/static.json" || { echo "lighttpd did not start"; cat "$T/lighttpd-error.log"; exit 1; }

run_wrk() {   # path -> sets RPS P50 P99 ERR
    local out
    out=$(WSB_BENCH_PATH="$1" wrk -t"$THREADS" -c"$CONC" -d"${SECS}s" --timeout 5s -s "$ROOT/scripts/bench/xff.lua" "$BASE" 2>&1 | grep WSBRESULT)
    RPS=$(sed -n 's/.*rps=\([0-9]*\).*/\1/p' <<<"$out")
    P50=$(sed -n 's/.*p50_us=\([0-9]*\).*/\1/p' <<<"$out")
    P99=$(sed -n 's/.*p99_us=\([0-9]*\).*/\1/p' <<<"$out")
    ERR=$(sed -n 's/.*errors=\([0-9]*\) non2xx=\([0-9]*\).*/\1+\2/p' <<<"$out")
}
# Every command but the INFO that asks (the handler's change checks
# MULTI/EXEC/WATCH/EXISTS included).
redis_calls() { redis-cli -p "$RPORT" INFO commandstats | awk -F'[=,:]' '/^cmdstat_/ && !/^cmdstat_info:/ {s += $3} END {print s + 0}'; }
row() { printf '  %-34s %9s req/s   p50 %6s us   p99 %6s us   errors %s\n' "$1" "$2" "$3" "$4" "$5"; }

echo "== throughput (lighttpd on loopback)"
curl -sf "$BASE/const/" >/dev/null; curl -s "$BASE/lb/v1/websocket/server" >/dev/null
run_wrk /static.json; A_RPS=$RPS; A_P99=$P99
row "(a) static file" "$RPS" "$P50" "$P99" "$ERR"
declare -A C_RPS C_P99 B_RPS B_P99 C_RPR C_RPF
for n in $SIZES; do
    python3 "$ROOT/scripts/bench/gen.py" nodes "$n" > "$T/nodes.json"
    "$BUILD/tests/wsb_statectl" --redis "$RURL" write "$T/nodes.json" --ttl 3600 || exit 1
    sleep 1.2   # every handler process's snapshot is now older than WSB_CACHE_MS
    for _ in $(seq 20); do curl -s -H 'X-Forwarded-For: 81.2.69.142' "$BASE/lb/v1/websocket/server" >/dev/null; done
    body=$(curl -s -H 'X-Forwarded-For: 81.2.69.142' "$BASE/lb/v1/websocket/server")
    case "$body" in *'"endpoint"'*) ;; *) echo "handler does not answer 200 at $n nodes: $body"; exit 1 ;; esac
    run_wrk /const/; B_RPS[$n]=$RPS; B_P99[$n]=$P99
    row "(b) FastCGI floor ($n-node run)" "$RPS" "$P50" "$P99" "$ERR"
    before=$(redis_calls)
    run_wrk /lb/v1/websocket/server; C_RPS[$n]=$RPS; C_P99[$n]=$P99
    after=$(redis_calls)
    C_RPR[$n]=$(python3 -c "print('%.6f' % (($after - $before) / max(1, $RPS * $SECS)))")
    # Per process and refresh (WSB_CACHE_MS 1000): what a refresh sends, at
    # most the change check (4), two HINCRBY per node that took clients and
    # the exchange's four (README "How a node is chosen").
    C_RPF[$n]=$(python3 -c "print('%.1f' % (($after - $before) / ($WORKERS * $SECS)))")
    row "(c) wsb-handler, $n nodes" "$RPS" "$P50" "$P99" "$ERR"
    printf '      c/b %.3f   c/a %.3f   p99 c/b %.2f   redis commands per request %s (%s over %s s)\n' \
        "$(python3 -c "print(${C_RPS[$n]}/${B_RPS[$n]})")" "$(python3 -c "print(${C_RPS[$n]}/$A_RPS)")" \
        "$(python3 -c "print(${C_P99[$n]}/max(1,${B_P99[$n]}))")" "${C_RPR[$n]}" "$((after - before))" "$SECS"
    if [ "$n" = 10000 ] || [ "$n" = "${SIZES##* }" ]; then
        RSS_MAX=0
        for pid in $(pgrep -f "$BUILD/wsb-handler"); do
            kb=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
            [ "${kb:-0}" -gt "$RSS_MAX" ] && RSS_MAX=$kb
        done
        RSS_NODES=$n
    fi
done

echo "== instructions per decision (callgrind; route, client address, GeoIP, selection, response bytes)"
declare -A INSN
for n in $SIZES; do
    python3 "$ROOT/scripts/bench/gen.py" nodes "$n" > "$T/nodes.json"
    "$BUILD/tests/wsb_statectl" --redis "$RURL" write "$T/nodes.json" --ttl 3600 >/dev/null
    M=2000
    WSB_REDIS_URL="$RURL" WSB_GEOIP_DB="$GEOIP_DIR/GeoLite2-City-Test.mmdb" WSB_TRUSTED_PROXIES=127.0.0.1/32 \
        WSB_CACHE_MS=60000 valgrind --tool=callgrind --callgrind-out-file="$T/cg.$n" \
        --toggle-collect=decide_batch "$BUILD/tests/bench_decide" "$T/addresses.txt" "$M" >/dev/null 2>"$T/cg.$n.err"
    total=$(awk '/^totals:|^summary:/ {print $2; exit}' "$T/cg.$n")
    INSN[$n]=$(( total / M ))
    printf '  %6s nodes: %8s instructions per request\n' "$n" "${INSN[$n]}"
done

echo "== probe round: 1,000 stand-in nodes, 100 of them hang, timeout 1 s"
PROBE_WALL=""; PROBE_RSS=""
if [ -x "$BUILD/wsb-probe" ]; then
    # 1,000 free ports in a row: try random bases until the stand-in starts.
    started=""
    for attempt in 1 2 3 4 5 6 7 8; do
        base=$(( 20000 + RANDOM % 25000 ))
        python3 - "$base" "$T" <<'PY'
import json, sys
base, t = int(sys.argv[1]), sys.argv[2]
cfg = {"nodes": {}, "port_ranges": [{"from": base, "to": base + 899, "mode": "ok", "connections": 100, "capacity": 1000},
                                    {"from": base + 900, "to": base + 999, "mode": "hang"}]}
json.dump(cfg, open(t + "/standin.json", "w"))
inv = {"allow_insecure_ws": True, "defaults": {"versions": ["v1"], "capacity": 1000,
       "check": {"type": "websocket", "timeout_ms": 1000, "rise": 1, "fall": 1}},
       "nodes": [{"id": "n%04d" % i, "endpoint": "ws://127.0.0.1:%d/ws" % (base + i), "location": "loc%d" % i}
                 for i in range(1000)]}
json.dump(inv, open(t + "/inventory.json", "w"))
PY
        rm -f "$T/standin.ready"
        python3 "$ROOT/tests/tools/standin_node.py" --config "$T/standin.json" --ready-file "$T/standin.ready" --quiet 2>/dev/null &
        spid=$!
        for _ in $(seq 200); do [ -f "$T/standin.ready" ] && break; kill -0 "$spid" 2>/dev/null || break; sleep 0.05; done
        if [ -f "$T/standin.ready" ]; then PIDS+=($spid); started=1; break; fi
        kill "$spid" 2>/dev/null
    done
    [ -n "$started" ] || { echo "  stand-in nodes could not start (no 1,000 free ports)"; }
    start=$(date +%s%N)
    /usr/bin/time -f '%M' -o "$T/probe.time" "$BUILD/wsb-probe" --inventory "$T/inventory.json" --redis "$RURL" \
        --prefix bench: --once 2>"$T/probe.log"
    rc=$?
    PROBE_WALL=$(python3 -c "print('%.2f' % (($(date +%s%N) - $start) / 1e9))")
    PROBE_RSS=$(tail -1 "$T/probe.time")
    up=$(redis-cli -p "$RPORT" HGET bench:round up); down=$(redis-cli -p "$RPORT" HGET bench:round down)
    echo "  exit $rc, wall ${PROBE_WALL} s, peak RSS ${PROBE_RSS} KiB, up ${up:-?}, down ${down:-?}"
    # A round that did not see 900 up and 100 down measured something else.
    if [ -z "$started" ] || [ "$rc" != 0 ] || [ "${up:-}" != 900 ] || [ "${down:-}" != 100 ]; then PROBE_WALL=99; fi
else
    echo "  (no build/wsb-probe yet)"
fi

echo "== targets"
mid=1000
target "c/b >= 0.95 at 1,000 nodes ($(python3 -c "print('%.3f' % (${C_RPS[$mid]:-0}/max(1,${B_RPS[$mid]:-1})))"))" \
    fcmp "${C_RPS[$mid]:-0} >= 0.95 * ${B_RPS[$mid]:-1}"
target "p99 of (c) <= 1.1 x p99 of (b) at 1,000 nodes (${C_P99[$mid]:-?} vs ${B_P99[$mid]:-?} us)" \
    fcmp "${C_P99[$mid]:-1e9} <= 1.1 * ${B_P99[$mid]:-0}"
target "<= 20,000 instructions per decision at 1,000 nodes (${INSN[$mid]:-?})" fcmp "${INSN[$mid]:-1e9} <= 20000"
if [ -n "${INSN[10]:-}" ] && [ -n "${INSN[10000]:-}" ]; then
    growth=$(python3 -c "print('%.2f' % ((${INSN[10000]} - ${INSN[10]}) / max(1, ${INSN[1000]} - ${INSN[10]})))")
    target "growth no worse than linear from 10 to 10,000 nodes ((I10k-I10)/(I1k-I10) = $growth, linear = 10.1)" \
        fcmp "$growth <= 10.1 * 1.15"
fi
target "handler resident memory <= 16 MB with a ${RSS_NODES:-?}-node snapshot ($(( ${RSS_MAX:-0} / 1024 )) MB)" \
    fcmp "${RSS_MAX:-999999999} <= 16 * 1024"
target "redis commands independent of rate: per process and refresh at most 8 + 2 per node ($mid nodes: ${C_RPF[$mid]:-?}, bound $((8 + 2 * mid)); ${C_RPR[$mid]:-?} per request at ${C_RPS[$mid]:-?} req/s)" \
    fcmp "${C_RPF[$mid]:-1e9} <= 8 + 2 * $mid"
[ -n "$PROBE_WALL" ] && target "probe round, 1,000 nodes with 100 hanging, <= 2 s (${PROBE_WALL} s)" fcmp "$PROBE_WALL <= 2.0"
echo "bench: $MET targets met, $MISSED missed"
