# lib.sh: what bench.sh, peer.sh and probe_round.sh share: a private
# folder and the processes to stop at exit, free ports, waiting, targets
# and medians,
# a private Redis with the client addresses, and the example's nginx
# FastCGI parameters.  Expects ROOT (and
# GEOIP_DIR for the Redis); counts targets in MET and MISSED.

# bench_workdir NAME: T, a private folder (/tmp/wsb-NAME.XXXXXX), and PIDS,
# the processes the bench starts; at exit bench_stop_more runs when the
# bench defines it, then every PID is stopped (KILL after a grace) and T
# removed.
bench_workdir() {
    T=$(mktemp -d "/tmp/wsb-$1.XXXXXX")
    PIDS=()
    trap bench_cleanup EXIT
}
bench_cleanup() {
    declare -F bench_stop_more >/dev/null && bench_stop_more
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    sleep 0.5
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    rm -rf "$T"
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { for _ in $(seq 200); do "$@" >/dev/null 2>&1 && return 0; sleep 0.05; done; return 1; }
MET=0; MISSED=0
target() {   # description, command that succeeds when the target is met
    local what=$1; shift
    if "$@"; then echo "  [met]    $what"; MET=$((MET + 1)); else echo "  [MISSED] $what"; MISSED=$((MISSED + 1)); fi
}
fcmp() { python3 -c "import sys; sys.exit(0 if ($1) else 1)"; }
# The median of a list of numbers ("12 30 7" -> 12).
median() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{v[NR]=$1} END {print NR ? v[int((NR + 1) / 2)] : 0}'; }

# nginx_example_params OUT: the FastCGI parameters of
# examples/nginx/wsbalancer.conf (only what the handler reads) into OUT,
# for an `include`: the benches pass requests to the handler as an operator
# following the example does.  Exits when there are none.
nginx_example_params() {
    grep -E '^[[:space:]]*fastcgi_(param|pass_request_headers)[[:space:]]' "$ROOT/examples/nginx/wsbalancer.conf" > "$1"
    grep -q 'REMOTE_ADDR' "$1" || { echo "bench: no FastCGI parameters in examples/nginx/wsbalancer.conf"; exit 1; }
}

# bench_redis_start: a private redis-server (RPORT, RURL) and the client
# addresses of the City test database in $T/addresses.txt (WSB_BENCH_ADDRS).
bench_redis_start() {
    RPORT=$(free_port)
    redis-server --bind 127.0.0.1 --port "$RPORT" --save '' --appendonly no --dir "$T" --logfile "$T/redis.log" &
    PIDS+=($!)
    wait_for redis-cli -p "$RPORT" ping || { echo "redis did not start"; exit 1; }
    RURL="redis://127.0.0.1:$RPORT/0"
    python3 "$ROOT/scripts/bench/gen.py" addresses "$GEOIP_DIR/GeoLite2-City-Test.json" > "$T/addresses.txt"
    export WSB_BENCH_ADDRS="$T/addresses.txt"
}
