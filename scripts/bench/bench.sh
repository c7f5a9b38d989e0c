#!/usr/bin/env bash
# bench.sh: `make bench`.  Measures, in one run on this machine, with wrk on
# loopback and the same FastCGI worker count for every contender:
#   (a) lighttpd serving the answer as a static file,
#   (b) a minimal libfcgi responder printing a constant JSON (the FastCGI floor),
#   (c) wsb-handler with the City database, clients spread over many addresses,
# for 10, 1,000 and 10,000 nodes, (b) and (c) alternating, three runs each,
# the best req/s and the median p99 of each kept; then instructions per decision and per full read of
# the state (callgrind) up to 100,000 nodes (the record limit), the pool
# behind nginx at 10,000 and 100,000 nodes (req/s, RSS), handler resident
# memory, and probe rounds over 1,000 and 10,000 stand-in nodes of which
# 10 % hang (scripts/bench/probe_round.sh).  Prints figures, ratios, and
# each target as met or not.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
SECS=${BENCH_SECONDS:-5}
CONC=${BENCH_CONNECTIONS:-64}
THREADS=${BENCH_THREADS:-2}
WORKERS=${BENCH_WORKERS:-4}
SIZES=${BENCH_SIZES:-"10 1000 10000"}
GEOIP_DIR=${GEOIP_DIR:-$ROOT/../shared/geoip}
. "$ROOT/scripts/bench/lib.sh"
bench_workdir bench

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
LIGHTTPD=$!
PIDS+=($LIGHTTPD)
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
declare -A C_RPS C_P99 B_RPS B_P99 C_RPR C_RPF P99_PAIRS P99_RATIO
for n in $SIZES; do
    python3 "$ROOT/scripts/bench/gen.py" nodes "$n" > "$T/nodes.json"
    "$BUILD/tests/wsb_statectl" --redis "$RURL" write "$T/nodes.json" --ttl 3600 || exit 1
    sleep 1.2   # every handler process's snapshot is now older than WSB_CACHE_MS
    for _ in $(seq 20); do curl -s -H 'X-Forwarded-For: 81.2.69.142' "$BASE/lb/v1/websocket/server" >/dev/null; done
    body=$(curl -s -H 'X-Forwarded-For: 81.2.69.142' "$BASE/lb/v1/websocket/server")
    case "$body" in *'"endpoint"'*) ;; *) echo "handler does not answer 200 at $n nodes: $body"; exit 1 ;; esac
    # (b) and (c) alternate, three runs each, best run of each kept for
    # req/s; for latency, the p99 of each (c) run over that of the (b) run
    # just before it, and the median of those ratios: a verdict that noise
    # on a shared machine cannot flip with one bad run, nor with the machine
    # slowing down for both between two pairs.  (The p99 of the best req/s
    # run was a draw: 0.75 x in one run, 1.20 x in the next; the ratio of
    # the two sides' median p99s took a slow pair's (c) against a fast
    # pair's (b): 1.18 x where the pairs said 1.10, 1.18 and 1.07.)
    B_RPS[$n]=0; C_RPS[$n]=0; calls=0; reqs=0; b_p99s=""; c_p99s=""; p99_ratios=""
    for rep in $(seq "${BENCH_REPEATS:-3}"); do
        run_wrk /const/
        row "(b) FastCGI floor ($n-node run $rep)" "$RPS" "$P50" "$P99" "$ERR"
        if [ "${RPS:-0}" -gt "${B_RPS[$n]}" ]; then B_RPS[$n]=$RPS; fi
        b_p99s="$b_p99s ${P99:-0}"
        before=$(redis_calls)
        run_wrk /lb/v1/websocket/server
        after=$(redis_calls)
        calls=$((calls + after - before)); reqs=$((reqs + ${RPS:-0} * SECS))
        row "(c) wsb-handler, $n nodes (run $rep)" "$RPS" "$P50" "$P99" "$ERR"
        if [ "${RPS:-0}" -gt "${C_RPS[$n]}" ]; then C_RPS[$n]=$RPS; fi
        c_p99s="$c_p99s ${P99:-0}"
        p99_ratios="$p99_ratios $(python3 -c "print('%.3f' % (${P99:-1e9} / max(1, ${b_p99s##* })))")"
    done
    B_P99[$n]=$(median "$b_p99s"); C_P99[$n]=$(median "$c_p99s")
    P99_PAIRS[$n]=${p99_ratios# }; P99_RATIO[$n]=$(median "$p99_ratios")
    C_RPR[$n]=$(python3 -c "print('%.6f' % ($calls / max(1, $reqs)))")
    # Per process and refresh (WSB_CACHE_MS 1000): what a refresh sends, at
    # most the change check (4), two HINCRBY per node that took clients and
    # the exchange's four (README "How a node is chosen").
    reps=${BENCH_REPEATS:-3}
    C_RPF[$n]=$(python3 -c "print('%.1f' % ($calls / ($WORKERS * $SECS * $reps)))")
    before=0; after=$calls
    printf '      best runs: c/b %.3f   c/a %.3f   p99 c/b of each pair %s, median %.2f   redis commands per request %s (%s over %s s)\n' \
        "$(python3 -c "print(${C_RPS[$n]}/${B_RPS[$n]})")" "$(python3 -c "print(${C_RPS[$n]}/$A_RPS)")" \
        "${P99_PAIRS[$n]}" "${P99_RATIO[$n]}" "${C_RPR[$n]}" "$((after - before))" "$((SECS * reps))"
    if [ "$n" = 10000 ] || [ "$n" = "${SIZES##* }" ]; then
        RSS_MAX=0
        for pid in $(pgrep -f "$BUILD/wsb-handler"); do
            kb=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
            [ "${kb:-0}" -gt "$RSS_MAX" ] && RSS_MAX=$kb
        done
        RSS_NODES=$n
    fi
done
# lighttpd and its FastCGI processes stop here: their handlers would read
# every state the later parts write (100,000 nodes: seconds of CPU each,
# four of them) while the pool, the callgrind runs and the probe rounds
# are measured.
lighttpd_kids=$(pgrep -P "$LIGHTTPD")
kill "$LIGHTTPD" 2>/dev/null; wait "$LIGHTTPD" 2>/dev/null
[ -n "$lighttpd_kids" ] && kill $lighttpd_kids 2>/dev/null

echo "== instructions per decision and per full read (callgrind; route, client address, GeoIP, selection, response bytes)"
declare -A INSN READ_INSN READ_US CANDS
for n in $SIZES ${BIG_SIZES:-100000}; do
    python3 "$ROOT/scripts/bench/gen.py" nodes "$n" > "$T/nodes.json"
    "$BUILD/tests/wsb_statectl" --redis "$RURL" write "$T/nodes.json" --ttl 3600 >/dev/null || { echo "  $n nodes: could not be written"; continue; }
    M=2000
    env_run=(env WSB_REDIS_URL="$RURL" WSB_GEOIP_DB="$GEOIP_DIR/GeoLite2-City-Test.mmdb" WSB_TRUSTED_PROXIES=127.0.0.1/32 WSB_CACHE_MS=60000 \
        WSB_REDIS_TIMEOUT_MS=10000)
    "${env_run[@]}" valgrind --tool=callgrind --callgrind-out-file="$T/cg.$n" \
        --toggle-collect=decide_batch "$BUILD/tests/bench_decide" "$T/addresses.txt" "$M" >/dev/null 2>"$T/cg.$n.err"
    total=$(awk '/^totals:|^summary:/ {print $2; exit}' "$T/cg.$n")
    INSN[$n]=$(( total / M ))
    "${env_run[@]}" valgrind --tool=callgrind --callgrind-out-file="$T/cgr.$n" \
        --toggle-collect=full_read "$BUILD/tests/bench_decide" "$T/addresses.txt" 1 >/dev/null 2>"$T/cgr.$n.err"
    READ_INSN[$n]=$(awk '/^totals:|^summary:/ {print $2; exit}' "$T/cgr.$n")
    best=""
    for _ in 1 2 3; do
        out=$("${env_run[@]}" "$BUILD/tests/bench_decide" "$T/addresses.txt" 1)
        us=$(sed -n 's/.*full_read_us=\([0-9]*\).*/\1/p' <<<"$out")
        CANDS[$n]=$(sed -n 's/.*candidates=\([0-9.]*\).*/\1/p' <<<"$out")
        if [ -z "$best" ] || [ "${us:-999999999}" -lt "$best" ]; then best=${us:-999999999}; fi
    done
    READ_US[$n]=$best
    printf '  %6s nodes: %8s instructions per request (%s candidates near a client, mean); full read of the state: %12s instructions, %7.1f ms (best of 3)\n' \
        "$n" "${INSN[$n]}" "${CANDS[$n]:-?}" "${READ_INSN[$n]}" "$(python3 -c "print($best / 1000)")"
done

echo "== the handler pool behind nginx at ${BIG_NGINX_SIZES:-10000 100000} nodes (fastcgi_pass, kept-alive connections, the example's parameters)"
NG_PORT=$(free_port)
nginx_example_params "$T/fastcgi_params"
cat > "$T/nginx.conf" <<CONF
user root;
worker_processes 2;
pid $T/nginx.pid;
error_log $T/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    upstream wsb { server unix:$T/pool.sock; keepalive $((2 * CONC)); }
    server {
        listen 127.0.0.1:$NG_PORT;
        location / {
            include $T/fastcgi_params;
            fastcgi_keep_conn on;
            fastcgi_pass wsb;
        }
    }
}
CONF
declare -A NG_RPS NG_P99 NG_RSS
for n in ${BIG_NGINX_SIZES:-10000 100000}; do
    python3 "$ROOT/scripts/bench/gen.py" nodes "$n" > "$T/nodes.json"
    "$BUILD/tests/wsb_statectl" --redis "$RURL" write "$T/nodes.json" --ttl 3600 >/dev/null || { echo "  $n nodes: could not be written"; continue; }
    # The default Redis timeouts, as an operator runs it: a state over
    # 16,384 nodes is read in HSCAN chunks, each far below 500 ms.
    WSB_REDIS_URL=$RURL WSB_GEOIP_DB="$GEOIP_DIR/GeoLite2-City-Test.mmdb" WSB_TRUSTED_PROXIES=127.0.0.1/32 \
        WSB_LOG_LEVEL=warn "$BUILD/wsb-handler" --listen "$T/pool.sock" --workers 1 --threads 1 --socket-mode 0666 \
        2>"$T/pool.log" &
    pool=$!
    PIDS+=($pool)
    [ -f "$T/nginx.pid" ] || nginx -c "$T/nginx.conf" -p "$T" || { cat "$T/nginx-error.log"; exit 1; }
    wait_for curl -sf -H 'X-Forwarded-For: 81.2.69.142' "http://127.0.0.1:$NG_PORT/v1/websocket/server" || { echo "  the pool does not answer at $n nodes"; cat "$T/pool.log"; }
    NG_RPS[$n]=0
    for rep in 1 2 3; do
        out=$(wrk -t"$THREADS" -c"$CONC" -d"${SECS}s" --timeout 5s -s "$ROOT/scripts/bench/xff.lua" "http://127.0.0.1:$NG_PORT" 2>&1 | grep WSBRESULT)
        rps=$(sed -n 's/.*rps=\([0-9]*\).*/\1/p' <<<"$out"); p99=$(sed -n 's/.*p99_us=\([0-9]*\).*/\1/p' <<<"$out")
        if [ "${rps:-0}" -gt "${NG_RPS[$n]}" ]; then NG_RPS[$n]=$rps; NG_P99[$n]=$p99; fi
    done
    rss=0; for p in $pool $(pgrep -P "$pool"); do rss=$((rss + $(awk '/VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0))); done
    NG_RSS[$n]=$rss
    printf '  %6s nodes: %8s req/s (best of 3)   p99 %6s us   pool rss %7s KiB (1 worker)\n' "$n" "${NG_RPS[$n]}" "${NG_P99[$n]}" "$rss"
    kill "$pool"; wait "$pool" 2>/dev/null; rm -f "$T/pool.sock"
done
[ -f "$T/nginx.pid" ] && kill "$(cat "$T/nginx.pid")"

echo "== probe rounds: stand-in nodes on loopback (tests/tools/standin_fast), 10 % hanging, timeout 1 s"
declare -A PROBE_WALL PROBE_RSS PROBE_OK
for n in ${PROBE_SIZES:-1000 10000}; do
    line=$(RURL=$RURL BUILD=$BUILD "$ROOT/scripts/bench/probe_round.sh" "$n" 10 1000 | grep PROBEROUND)
    echo "  $line"
    get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$line"; }
    PROBE_WALL[$n]=$(get wall_s); PROBE_RSS[$n]=$(get rss_kib)
    PROBE_OK[$n]=0
    # The measured round is the steady state only when the first one was written.
    [ "$(get rc)" = 0 ] && [ "$(get warm)" = ok ] && [ "$(get up)" = "$(get want_up)" ] && [ "$(get down)" = "$(get want_down)" ] && PROBE_OK[$n]=1
done

echo "== targets"
mid=1000
target "c/b >= 0.95 at 1,000 nodes ($(python3 -c "print('%.3f' % (${C_RPS[$mid]:-0}/max(1,${B_RPS[$mid]:-1})))"))" \
    fcmp "${C_RPS[$mid]:-0} >= 0.95 * ${B_RPS[$mid]:-1}"
target "p99 of (c) <= 1.1 x p99 of (b) at 1,000 nodes, median of the pairs (${P99_PAIRS[$mid]:-?}: ${P99_RATIO[$mid]:-?}; medians ${C_P99[$mid]:-?} vs ${B_P99[$mid]:-?} us)" \
    fcmp "${P99_RATIO[$mid]:-1e9} <= 1.1"
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
for n in ${PROBE_SIZES:-1000 10000}; do
    target "probe round, $n nodes with 10 % hanging: right verdicts and <= timeout + 1 s (${PROBE_WALL[$n]:-?} s)" \
        fcmp "${PROBE_OK[$n]:-0} == 1 and ${PROBE_WALL[$n]:-99} <= 2.0"
    [ "$n" -ge 10000 ] && target "probe round, $n nodes: peak RSS <= 32 MB ($(( ${PROBE_RSS[$n]:-0} / 1024 )) MB)" \
        fcmp "${PROBE_RSS[$n]:-1e9} <= 32 * 1024"
done
if [ -n "${READ_INSN[10000]:-}" ] && [ -n "${READ_INSN[100000]:-}" ]; then
    g=$(python3 -c "print('%.2f' % (${READ_INSN[100000]} / max(1, ${READ_INSN[10000]})))")
    target "a full read grows no faster than the nodes: 10,000 -> 100,000 nodes x$g instructions (linear = 10)" fcmp "$g <= 10 * 1.15"
fi
# A decision must grow with the candidates near the client (bench_decide
# prints their mean), not with the fleet: from 10,000 to 100,000 nodes its
# instructions may grow at most as much as the candidates do.  (The part
# above the 10-node decision is printed too: small, it grows by ratios
# that mean little.)
if [ -n "${INSN[10]:-}" ] && [ -n "${INSN[10000]:-}" ] && [ -n "${INSN[100000]:-}" ] && [ -n "${CANDS[10000]:-}" ] && [ -n "${CANDS[100000]:-}" ]; then
    g=$(python3 -c "print('%.2f' % (${INSN[100000]} / max(1, ${INSN[10000]})))")
    cg=$(python3 -c "print('%.2f' % (${CANDS[100000]} / max(0.1, ${CANDS[10000]})))")
    v=$(python3 -c "print('%.0f -> %.0f' % (${INSN[10000]} - ${INSN[10]}, ${INSN[100000]} - ${INSN[10]}))")
    target "a decision grows with the candidates near a client, not the fleet: 10,000 -> 100,000 nodes, x$g instructions, x$cg candidates (${CANDS[10000]} -> ${CANDS[100000]}; above the 10-node decision: $v)" \
        fcmp "$g <= max(1.0, $cg)"
fi
echo "bench: $MET targets met, $MISSED missed"
