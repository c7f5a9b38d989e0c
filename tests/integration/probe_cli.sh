#!/usr/bin/env bash
# probe_cli.sh: wsb-probe as cron runs it: exit statuses and their one-line
# reasons, a bad inventory never touching Redis, the run lock (a second run
# exits 0 and says so), --interval/--for, SIGTERM, the environment, and a
# probe-side fault (out of file descriptors) that must not mark nodes down.
. "$(dirname "$0")/probe_lib.sh"

t_redis_start || exit 1
p_ports 44 || exit 1
P=$P_BASE
cat > "$T_DIR/standin.json" <<JSON
{"nodes": {"$P": {"mode": "ok"}, "$((P + 1))": {"mode": "hang"}},
 "port_ranges": [{"from": $((P + 4)), "to": $((P + 43)), "mode": "ok"}]}
JSON
p_standin "$T_DIR/standin.json" || exit 1
cat > "$T_DIR/good.json" <<JSON
{"allow_insecure_ws": true, "defaults": {"versions": ["v1"], "location": "L", "check": {"timeout_ms": 5000}},
 "nodes": [{"id": "a", "endpoint": "ws://127.0.0.1:$P/ws"}]}
JSON
key_exists() { [ "$(t_rcli EXISTS "$1")" = 1 ]; }
lines() { printf '%s' "$1" | grep -c ''; }
# Redis connections so far, counting this query's own.
conns() { t_rcli INFO stats | tr -d '\r' | sed -n 's/^total_connections_received://p'; }

# ---- arguments
out=$("$PROBE" --help); t_eq "--help: exit 0" 0 "$?"
t_match "--help: usage" "usage: wsb-probe --inventory FILE" "$out"
t_match "--version" "^wsb-probe [0-9]+\.[0-9]+" "$("$PROBE" --version)"
usage_case() {   # name, args...
    local name=$1; shift
    "$PROBE" "$@" >/dev/null 2>"$T_DIR/u.err"
    local rc=$?
    t_eq "usage: $name: exit 2" 2 "$rc"
    t_eq "usage: $name: one line" 1 "$(lines "$(cat "$T_DIR/u.err")")"
}
usage_case "no arguments"
usage_case "unknown argument" --inventory "$T_DIR/good.json" --bogus
usage_case "--interval 0" --inventory "$T_DIR/good.json" --interval 0
usage_case "--interval x" --inventory "$T_DIR/good.json" --interval x
usage_case "--for without --interval" --inventory "$T_DIR/good.json" --for 10
usage_case "--once with --interval" --inventory "$T_DIR/good.json" --once --interval 5
usage_case "--ttl 0" --inventory "$T_DIR/good.json" --ttl 0
usage_case "--log-level loud" --inventory "$T_DIR/good.json" --log-level loud
usage_case "drain without id" drain
usage_case "drain bad id" --redis "$T_REDIS_URL" drain "a b"
usage_case "bad --redis" --inventory "$T_DIR/good.json" --redis foo://x --once
usage_case "bad --prefix" --inventory "$T_DIR/good.json" --redis "$T_REDIS_URL" --prefix "a b" --once
WSB_KEY_PREFIX="x y" "$PROBE" --inventory "$T_DIR/good.json" --redis "$T_REDIS_URL" 2>"$T_DIR/u.err"
t_eq "bad WSB_KEY_PREFIX: exit 2" 2 "$?"
t_match "bad WSB_KEY_PREFIX: names it" "WSB_KEY_PREFIX: " "$(cat "$T_DIR/u.err")"

# ---- a bad inventory: non-zero, one line naming the place, Redis untouched
cat > "$T_DIR/bad.json" <<JSON
{"defaults": {"versions": ["v1"], "location": "L"},
 "nodes": [{"id": "a", "endpoint": "wss://a.example/ws"}, {"id": "b", "endpoint": "wss://b.example/ws"},
           {"id": "c", "endpoint": "wss://c.example/ws"}, {"id": "d", "endpoint": "ws://d.example/ws"}]}
JSON
p_probe --inventory "$T_DIR/good.json" --once
t_eq "good inventory: exit 0" 0 "$P_RC"
before_keys=$(t_rcli KEYS '*' | sort | tr '\n' ' ')
before_rec=$(t_rcli HGET wsb:nodes a)
bad_case() {   # name, file, expected message (regex)
    local c0 c1
    c0=$(conns)
    "$PROBE" --redis "$T_REDIS_URL" --inventory "$2" --once 2>"$T_DIR/probe.err"
    P_RC=$?
    c1=$(conns)
    P_ERR=$(cat "$T_DIR/probe.err")
    t_eq "$1: exit 2" 2 "$P_RC"
    t_eq "$1: one line" 1 "$(lines "$P_ERR")"
    t_match "$1: reason" "$3" "$P_ERR"
    t_eq "$1: Redis not even connected" 1 "$((c1 - c0))"
}
bad_case "ws:// endpoint" "$T_DIR/bad.json" "error: $T_DIR/bad.json: nodes\[3\]\.endpoint: must start with wss:// \(ws:// only with allow_insecure_ws\)$"
printf '{"nodes": [\n  {"id": }\n]}\n' > "$T_DIR/syntax.json"
bad_case "JSON syntax" "$T_DIR/syntax.json" "syntax.json: not valid JSON \(line 2, column 10\)$"
bad_case "missing file" "$T_DIR/none.json" "none.json: cannot open: No such file or directory$"
echo '{"ca_file": "nope.pem", "nodes": []}' > "$T_DIR/noca.json"
bad_case "unreadable ca_file" "$T_DIR/noca.json" "noca.json: ca_file: cannot read $T_DIR/nope.pem: No such file or directory$"
echo '{"nodes": [], "lattitude": 1}' > "$T_DIR/typo.json"
bad_case "unknown key" "$T_DIR/typo.json" "typo.json: lattitude: unknown key"
t_eq "state unchanged by bad runs: keys" "$before_keys" "$(t_rcli KEYS '*' | sort | tr '\n' ' ')"
t_eq "state unchanged by bad runs: record" "$before_rec" "$(t_rcli HGET wsb:nodes a)"

# --check-inventory validates only
c0=$(conns)
out=$("$PROBE" --inventory "$T_DIR/good.json" --check-inventory 2>&1)
t_eq "--check-inventory: exit 0" 0 "$?"
t_match "--check-inventory: summary" "good.json: 1 nodes ok \(websocket 1, http 0, tcp 0" "$out"
"$PROBE" --inventory "$T_DIR/bad.json" --check-inventory >/dev/null 2>&1
t_eq "--check-inventory: bad -> exit 2" 2 "$?"
t_eq "--check-inventory: Redis untouched" 1 "$(( $(conns) - c0 ))"

# ---- unreachable Redis: non-zero, one line
dead=$(t_free_port)
p_probe --inventory "$T_DIR/good.json" --once --redis "redis://127.0.0.1:$dead/0"
t_eq "unreachable Redis: exit 1" 1 "$P_RC"
t_eq "unreachable Redis: one line" 1 "$(lines "$P_ERR")"
t_match "unreachable Redis: reason" "error: redis 127.0.0.1:$dead/0: Connection refused$" "$P_ERR"

# ---- the environment: WSB_REDIS_URL and WSB_KEY_PREFIX, like the handler
WSB_REDIS_URL="$T_REDIS_URL" WSB_KEY_PREFIX="env:" "$PROBE" --inventory "$T_DIR/good.json" --once 2>/dev/null
t_eq "environment: exit 0" 0 "$?"
t_eq "environment: prefix and URL used" 1 "$(t_rcli HEXISTS env:nodes a)"
"$PROBE" --inventory "$T_DIR/good.json" --redis "unix://$T_REDIS_SOCK" --prefix sock: --once 2>/dev/null
t_eq "unix socket URL" 1 "$(t_rcli HEXISTS sock:nodes a)"

# ---- the lock
t_rcli SET lk:lock "otherhost:4242:beef" PX 20000 >/dev/null
p_probe --inventory "$T_DIR/good.json" --prefix lk: --once
t_eq "lock held elsewhere: exit 0" 0 "$P_RC"
t_match "lock held elsewhere: says so" "another probe holds the lock lk:lock \(otherhost:4242:beef\); not running" "$P_ERR"
t_eq "lock held elsewhere: no round written" 0 "$(t_rcli EXISTS lk:round)"
t_eq "lock held elsewhere: lock left alone" "otherhost:4242:beef" "$(t_rcli GET lk:lock)"

cat > "$T_DIR/slow.json" <<JSON
{"allow_insecure_ws": true, "defaults": {"versions": ["v1"], "location": "L", "check": {"timeout_ms": 5000}},
 "nodes": [{"id": "a", "endpoint": "ws://127.0.0.1:$P/ws"},
           {"id": "h", "endpoint": "ws://127.0.0.1:$((P + 1))/ws", "check": {"timeout_ms": 2000}}]}
JSON
"$PROBE" --redis "$T_REDIS_URL" --prefix cc: --inventory "$T_DIR/slow.json" --once 2>"$T_DIR/first.err" &
first=$!
T_PIDS+=("$first")
t_true "first run takes the lock" t_wait_for key_exists cc:lock
t_match "lock token is host:pid:random" ":$first:[0-9a-f]{16}$" "$(t_rcli GET cc:lock)"
p_probe --prefix cc: --inventory "$T_DIR/slow.json" --once
t_eq "overlapping run: exit 0" 0 "$P_RC"
t_match "overlapping run: says another probe holds the lock" "another probe holds the lock cc:lock" "$P_ERR"
wait "$first"
t_eq "first run completes: exit 0" 0 "$?"
t_eq "first run wrote its round" 2 "$(t_rcli HGET cc:round nodes)"
t_eq "lock released at the end" 0 "$(t_rcli EXISTS cc:lock)"

# a run whose lock expired takes it again; one whose lock was taken over stops
"$PROBE" --redis "$T_REDIS_URL" --prefix lx: --inventory "$T_DIR/good.json" --interval 1 --for 4 2>"$T_DIR/lx.err" &
pid=$!
T_PIDS+=("$pid")
t_true "interval run writes a round (lx)" t_wait_for key_exists lx:round
t_rcli DEL lx:lock >/dev/null
wait "$pid"
t_eq "expired lock: run goes on, exit 0" 0 "$?"
t_match "expired lock: taken again" "warn: the probe lock lx:lock had expired; taken again" "$(cat "$T_DIR/lx.err")"
"$PROBE" --redis "$T_REDIS_URL" --prefix lo: --inventory "$T_DIR/good.json" --interval 1 2>"$T_DIR/lo.err" &
pid=$!
T_PIDS+=("$pid")
t_true "interval run writes a round (lo)" t_wait_for key_exists lo:round
t_rcli SET lo:lock "otherhost:1:feed" >/dev/null
wait "$pid"
t_eq "lock taken over: the run stops, exit 1" 1 "$?"
t_match "lock taken over: says so" "error: lost the probe lock lo:lock" "$(cat "$T_DIR/lo.err")"
t_eq "lock taken over: the other holder's lock left alone" "otherhost:1:feed" "$(t_rcli GET lo:lock)"

# ---- --interval S --for T
start=$(date +%s%N)
p_probe --inventory "$T_DIR/good.json" --prefix iv: --interval 1 --for 3 --log-level debug
ms=$(( ($(date +%s%N) - start) / 1000000 ))
t_eq "--interval 1 --for 3: exit 0" 0 "$P_RC"
t_eq "--interval 1 --for 3: three rounds" 3 "$(grep -c 'debug: round: ' <<<"$P_ERR")"
t_true "--interval 1 --for 3: rounds at 0, 1, 2 s ($ms ms)" test "$ms" -ge 1900 -a "$ms" -lt 8000
t_match "--interval: summary line" "info: 3 rounds in [0-9]+ ms, 0 not written, 0 with probe faults" "$P_ERR"
t_eq "--interval: default TTL is at least 180 s" 180 "$(t_rcli HGET iv:round ttl)"
t_eq "--interval: lock released" 0 "$(t_rcli EXISTS iv:lock)"
p_probe --inventory "$T_DIR/good.json" --prefix iv2: --interval 100 --for 1
t_eq "--interval 100: TTL 3 x interval" 300 "$(t_rcli HGET iv2:round ttl)"

"$PROBE" --redis "$T_REDIS_URL" --prefix sig: --inventory "$T_DIR/good.json" --interval 1 2>"$T_DIR/sig.err" &
pid=$!
T_PIDS+=("$pid")
t_true "interval run writes a round" t_wait_for key_exists sig:round
kill -TERM "$pid"
wait "$pid"
t_eq "SIGTERM: clean exit 0" 0 "$?"
t_eq "SIGTERM: lock released" 0 "$(t_rcli EXISTS sig:lock)"

# ---- a probe fault is not a dead node: out of file descriptors
{
    echo '{"allow_insecure_ws": true, "defaults": {"versions": ["v1"], "location": "L", "check": {"fall": 1, "timeout_ms": 5000}}, "nodes": ['
    for i in $(seq 0 39); do
        [ "$i" -gt 0 ] && echo ","
        echo "{\"id\": \"f$i\", \"endpoint\": \"ws://127.0.0.1:$((P + 4 + i))/ws\"}"
    done
    echo ']}'
} > "$T_DIR/many.json"
p_probe --inventory "$T_DIR/many.json" --prefix fd: --once
t_eq "40 nodes up before" 40 "$(t_rcli HGET fd:round up)"
(ulimit -n 28; "$PROBE" --redis "$T_REDIS_URL" --prefix fd: --inventory "$T_DIR/many.json" --once \
    --max-parallel 100) 2>"$T_DIR/fd.err"
rc=$?
err=$(cat "$T_DIR/fd.err")
t_eq "probe fault: exit 3 (round written, some checks could not run)" 3 "$rc"
t_match "probe fault: logged as the probe's problem" "error: probe fault: [0-9]+ of 40 checks could not run \(first: node f[0-9]+: probe_no_fd: socket: Too many open files\); those nodes keep their previous state" "$err"
t_eq "probe fault: no node marked offline" "" "$(grep -- '-> offline' <<<"$err")"
t_eq "probe fault: all 40 still up" 40 "$(t_rcli HGET fd:round up)"
t_eq "probe fault: last_error kept" ok "$(t_rcli HGET fd:nodes f39 | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["last_error"])')"
t_summary
