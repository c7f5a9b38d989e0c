# lib.sh: helpers for integration tests, sourced by tests/integration/*.sh.
# Every server a test starts runs on a private port or unix socket inside
# $T_DIR and is stopped by the EXIT trap.  Results: "N passed, N failed".
set -u
T_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$T_ROOT/$BUILD" ;; esac
T_NAME=$(basename "$0" .sh)
T_DIR=$(mktemp -d "/tmp/wsb-$T_NAME.XXXXXX")
T_PASS=0
T_FAIL=0
T_PIDS=()
GEOIP_DIR="$T_ROOT/../shared/geoip"
[ -d "$GEOIP_DIR" ] || GEOIP_DIR="$T_ROOT/tests/data/geoip"

t_cleanup() {
    local pid
    for pid in "${T_PIDS[@]}"; do
        kill "$pid" 2>/dev/null
    done
    for pid in "${T_PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
        kill -9 "$pid" 2>/dev/null
    done
    if [ -n "${T_KEEP:-}" ]; then echo "kept $T_DIR"; else rm -rf "$T_DIR"; fi
}
trap t_cleanup EXIT

t_pass() { T_PASS=$((T_PASS + 1)); [ -n "${T_VERBOSE:-}" ] && echo "ok   $*"; return 0; }
t_fail() { T_FAIL=$((T_FAIL + 1)); echo "FAIL $T_NAME: $*" >&2; return 0; }

# t_eq NAME EXPECTED ACTUAL
t_eq() {
    if [ "$2" = "$3" ]; then t_pass "$1"; else t_fail "$1: expected [$2], got [$3]"; fi
}
# t_match NAME REGEX ACTUAL
t_match() {
    if [[ "$3" =~ $2 ]]; then t_pass "$1"; else t_fail "$1: [$3] does not match /$2/"; fi
}
# t_true NAME COMMAND...: passes when the command succeeds
t_true() {
    local name=$1; shift
    if "$@"; then t_pass "$name"; else t_fail "$name: '$*' failed"; fi
}

t_summary() {
    echo "$T_NAME: $T_PASS passed, $T_FAIL failed"
    [ -n "${T_RESULTS:-}" ] && echo "$T_NAME $T_PASS $T_FAIL" >> "$T_RESULTS"
    [ "$T_FAIL" -eq 0 ]
}

# t_free_port: a TCP port on 127.0.0.1 that nothing listens on now.
t_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# t_free_port_range N: sets T_PORT_BASE to the first of N consecutive TCP
# ports on 127.0.0.1 that nothing listens on now (for many stand-in nodes),
# below the kernel's ephemeral range.  Tries up to 500 random places in one
# Python run: other tests (and other users of the machine) may hold
# thousands of ports in that range at a time.
t_free_port_range() {
    T_PORT_BASE=$(python3 - "$1" <<'PY'
import random, socket, sys
n = int(sys.argv[1])
try:
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
except (OSError, ValueError, IndexError):
    low = 32768
top = max(low, 10000 + n + 1)
def free(base):
    for p in range(base, base + n):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
        except OSError:
            return False
        finally:
            s.close()
    return True
for _ in range(500):
    base = random.randrange(10000, top - n)
    if free(base):
        print(base)
        sys.exit(0)
sys.exit(1)
PY
    ) && return 0
    echo "no $1 free ports found" >&2
    return 1
}

# t_standin_start CONFIG: starts tests/tools/standin_node.py on CONFIG and
# waits (up to 15 s) until every port listens; sets T_STANDIN_PID.
t_standin_start() {
    local cfg=$1 ready="$1.ready" i
    rm -f "$ready"
    python3 "$T_ROOT/tests/tools/standin_node.py" --config "$cfg" --ready-file "$ready" --quiet \
        2>>"$T_DIR/standin.err" &
    T_STANDIN_PID=$!
    T_PIDS+=("$T_STANDIN_PID")
    for i in $(seq 300); do
        [ -e "$ready" ] && return 0
        kill -0 "$T_STANDIN_PID" 2>/dev/null || break
        sleep 0.05
    done
    echo "stand-in did not start: $(tail -2 "$T_DIR/standin.err")" >&2
    return 1
}

# t_wait_for CMD...: retries CMD for up to 5 s.
t_wait_for() {
    local i
    for i in $(seq 100); do "$@" >/dev/null 2>&1 && return 0; sleep 0.05; done
    return 1
}

# t_redis_start [NAME]: starts a private redis-server on a free port and a
# unix socket; sets T_REDIS_PORT, T_REDIS_SOCK, T_REDIS_URL, T_REDIS_PID.
t_redis_start() {
    local name=${1:-redis}
    T_REDIS_PORT=${T_REDIS_PORT_WANT:-$(t_free_port)}
    T_REDIS_SOCK="$T_DIR/$name.sock"
    mkdir -p "$T_DIR/$name"
    redis-server --bind 127.0.0.1 --port "$T_REDIS_PORT" --unixsocket "$T_REDIS_SOCK" --unixsocketperm 700 \
        --save '' --appendonly no --dir "$T_DIR/$name" --logfile "$T_DIR/$name.log" \
        --daemonize no ${T_REDIS_EXTRA:-} &
    T_REDIS_PID=$!
    T_PIDS+=("$T_REDIS_PID")
    T_REDIS_URL="redis://127.0.0.1:$T_REDIS_PORT/0"
    t_wait_for redis-cli -p "$T_REDIS_PORT" ping || { echo "redis did not start" >&2; cat "$T_DIR/$name.log" >&2; return 1; }
}

t_redis_stop() {
    kill "$T_REDIS_PID" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$T_REDIS_PID" 2>/dev/null || break; sleep 0.05; done
}

# t_rcli ARGS...: redis-cli against the test's redis.
t_rcli() { redis-cli -p "$T_REDIS_PORT" "$@"; }

# t_state FILE [TTL]: writes a round of node states (JSON array) through the
# common/ state writer.  With T_STATE_NO_ID=1 the round has no id, as state
# written by hand: handlers keep no assignment counts for it.
t_state() {
    "$BUILD/tests/wsb_statectl" --redis "$T_REDIS_URL" write "$1" ${2:+--ttl "$2"} ${T_STATE_NO_ID:+--no-id}
}

# t_no_sanitizer_reports NAME FILE...: fails when a sanitizer (ASan, UBSan)
# reported anything in the given logs (the handler's stderr under a web server).
t_no_sanitizer_reports() {
    local name=$1; shift
    if grep -l -E 'AddressSanitizer|LeakSanitizer|runtime error:|UndefinedBehaviorSanitizer' "$@" 2>/dev/null | grep -q .; then
        t_fail "$name: sanitizer report in $(grep -l -E 'Sanitizer|runtime error:' "$@" 2>/dev/null | tr '\n' ' ')"
        grep -h -A20 -E 'AddressSanitizer|runtime error:' "$@" 2>/dev/null | head -40 >&2
    else
        t_pass "$name"
    fi
}
