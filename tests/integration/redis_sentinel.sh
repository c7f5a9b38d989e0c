#!/usr/bin/env bash
# redis_sentinel.sh: Redis failover with Sentinel (README "Redis Sentinel"),
# on loopback with real processes: a primary, two replicas from
# examples/redis/replica.conf, three redis-sentinel processes from
# examples/redis/sentinel.conf (quorum 2, down after 1000 ms), three
# stand-in nodes, the real probe every second with
# --redis redis-sentinel://S1,S2,S3/wsb, and two handler pools: one reading
# a replica (?role=replica), one the primary.  Under a steady load of
# requests the primary is SIGKILLed; Sentinel promotes a replica; the next
# probe round is written to the new primary; the handlers never answer 101
# and never name the node that is down; after London comes back the rounds
# reach both pools through the new topology.  Figures (printed, not
# asserted): the longest gap between written rounds, the answers that were
# 503 during the failover.
. "$(dirname "$0")/web_lib.sh"
PROBE="$BUILD/wsb-probe"
LONDON=81.2.69.142     # GeoLite2-City-Test: London
command -v redis-sentinel >/dev/null || { echo "redis-sentinel not installed (scripts/deps.sh)" >&2; t_fail "redis-sentinel missing"; t_summary; exit 1; }
bail() { t_fail "$1"; for f in "$T_DIR"/*.log; do echo "--- $f" >&2; tail -5 "$f" >&2; done; t_summary; exit 1; }
T0=$(date +%s%N)
elapsed() { local d=$(( ($(date +%s%N) - T0) / 100000000 )); echo "$((d / 10)).$((d % 10))"; }

# --- a primary and two replicas (replica.conf) ---
T_REDIS_EXTRA="--repl-diskless-sync-delay 0" t_redis_start primary || bail "primary did not start"
PRIMARY_PORT=$T_REDIS_PORT; PRIMARY_PID=$T_REDIS_PID
sed -e "s|^replicaof 10.0.0.10 6379|replicaof 127.0.0.1 $PRIMARY_PORT|" -e "s|^bind 127.0.0.1 ::1|bind 127.0.0.1|" \
    "$T_ROOT/examples/redis/replica.conf" > "$T_DIR/replica.conf"
grep -q "replicaof 127.0.0.1 $PRIMARY_PORT" "$T_DIR/replica.conf" || bail "replica.conf template did not apply"
REPLICA_PORTS=()
for n in 1 2; do
    # A replica that Sentinel promotes must also serve its own replica at once.
    T_REDIS_EXTRA="--include $T_DIR/replica.conf --repl-diskless-sync-delay 0" t_redis_start "replica$n" || bail "replica $n did not start"
    REPLICA_PORTS+=("$T_REDIS_PORT")
done
linked() { redis-cli -p "$1" INFO replication | grep -q 'master_link_status:up'; }
for p in "${REPLICA_PORTS[@]}"; do t_wait_for linked "$p" || bail "replica $p did not sync"; done
echo "  $(elapsed) s: replicas in sync"

# --- three sentinels (sentinel.conf), each with a writable copy in T_DIR ---
S_PORTS=()
for n in 1 2 3; do
    sp=$(t_free_port)
    sed -e "s|^port 26379|port $sp|" -e "s|^bind 127.0.0.1 10.0.0.11|bind 127.0.0.1|" \
        -e "s|^sentinel monitor wsb 10.0.0.10 6379 2|sentinel monitor wsb 127.0.0.1 $PRIMARY_PORT 2|" \
        -e "s|^sentinel down-after-milliseconds wsb 5000|sentinel down-after-milliseconds wsb 1000|" \
        -e "s|^sentinel failover-timeout wsb 60000|sentinel failover-timeout wsb 4000|" \
        "$T_ROOT/examples/redis/sentinel.conf" > "$T_DIR/sentinel$n.conf"
    echo "dir $T_DIR" >> "$T_DIR/sentinel$n.conf"
    for want in "port $sp" "bind 127.0.0.1\$" "monitor wsb 127.0.0.1 $PRIMARY_PORT 2" "down-after-milliseconds wsb 1000" "failover-timeout wsb 4000"; do
        grep -q "$want" "$T_DIR/sentinel$n.conf" || bail "sentinel.conf template did not apply: $want"
    done
    redis-sentinel "$T_DIR/sentinel$n.conf" --logfile "$T_DIR/sentinel$n.log" --daemonize no &
    T_PIDS+=($!)
    S_PORTS+=("$sp")
done
SURL="redis-sentinel://127.0.0.1:${S_PORTS[0]},127.0.0.1:${S_PORTS[1]},127.0.0.1:${S_PORTS[2]}/wsb"
mfield() { redis-cli -p "$1" SENTINEL master wsb 2>/dev/null | grep -A1 -x "$2" | tail -1; }
ready() {
    local sp
    for sp in "${S_PORTS[@]}"; do
        [ "$(mfield "$sp" num-other-sentinels)" = 2 ] && [ "$(mfield "$sp" num-slaves)" = 2 ] || return 1
        [ "$(redis-cli -p "$sp" SENTINEL replicas wsb | grep -c -x ok)" = 2 ] || return 1
    done
}
for _ in $(seq 150); do ready && break; sleep 0.1; done
t_true "three sentinels know the primary, both replicas (link ok) and each other" ready || bail "sentinels not ready"
echo "  $(elapsed) s: sentinels ready"
master_port() { redis-cli -p "${S_PORTS[$1]}" SENTINEL get-master-addr-by-name wsb 2>/dev/null | tail -1; }
t_eq "Sentinel names the primary" "$PRIMARY_PORT" "$(master_port 0)"

# --- three stand-in nodes, the inventory, the probe through the sentinels ---
w_three_cities 500 || bail "stand-in nodes did not start"
# --ttl 12: a round not renewed for 12 s expires and every answer would be
# 101; the failover must be followed well within that.
"$PROBE" --inventory "$T_DIR/inventory.json" --redis "$SURL" --interval 1 --for 50 --ttl 12 2>>"$T_DIR/probe.log" &
PROBE_PID=$!
T_PIDS+=("$PROBE_PID")
t_wait_for bash -c "redis-cli -p $PRIMARY_PORT HGET wsb:round id | grep -q ." || bail "no probe round on the primary"
t_pass "the probe writes its rounds to the primary Sentinel names"
echo "  $(elapsed) s: first round"

# --- two handler pools: one reads a replica, one the primary ---
HENV=("WSB_GEOIP_DB=$GEOIP_DIR/GeoLite2-City-Test.mmdb" "WSB_TRUSTED_PROXIES=127.0.0.1/32" "WSB_ALLOW_INSECURE_WS=1"
      "WSB_CACHE_MS=100" "WSB_STALE_MAX_MS=10000" "WSB_REDIS_RETRY_MS=100" "WSB_REDIS_CONNECT_TIMEOUT_MS=200"
      "WSB_REDIS_TIMEOUT_MS=500")
ENV_R=("${HENV[@]}" "WSB_REDIS_URL=$SURL?role=replica")
ENV_P=("${HENV[@]}" "WSB_REDIS_URL=$SURL")
SOCK_R="$T_DIR/replica-pool.sock"; SOCK_P="$T_DIR/primary-pool.sock"
w_pool_start "$T_DIR/pool-replica.log" ENV_R "$BUILD/wsb-handler" --listen "$SOCK_R" --workers 2 --threads 2
w_pool_start "$T_DIR/pool-primary.log" ENV_P "$BUILD/wsb-handler" --listen "$SOCK_P" --workers 2 --threads 2
w_wait_socket "$SOCK_R" && w_wait_socket "$SOCK_P" || bail "pools did not start"
where() { w_fcgi "$1" /v1/websocket/server HTTP_X_FORWARDED_FOR="$LONDON" | sed -n 's/.*"location":"\([^"]*\)".*/\1/p; s/.*"error_code":\([0-9]*\).*/error \1/p'; }
both_say() {   # both pools answer $1 to every one of 8 asks
    local i
    for i in $(seq 8); do [ "$(where "$SOCK_R")" = "$1" ] && [ "$(where "$SOCK_P")" = "$1" ] || return 1; done
}
until_both_say() { local i; for i in $(seq "${2:-100}"); do both_say "$1" && return 0; sleep 0.1; done; return 1; }
t_true "both pools answer London" until_both_say London
echo "  $(elapsed) s: pools answer"
t_true "the replica pool reads a replica" \
    bash -c "for p in ${REPLICA_PORTS[*]}; do redis-cli -p \$p INFO commandstats | grep -q cmdstat_watch && exit 0; done; exit 1"
t_true "the replica pool counts its answers on the primary" \
    bash -c "[ \$(redis-cli -p $PRIMARY_PORT KEYS 'wsb:assigned:*' | wc -l) -ge 1 ] && ! grep -q 'assignment accounting' '$T_DIR/pool-replica.log'"

# London goes down: both pools move its client to Frankfurt (London is now
# the dead endpoint no answer may name until it is back).
w_london close
t_true "London down: both pools answer Frankfurt" until_both_say Frankfurt

# --- steady load on both pools, and the round ids, recorded throughout ---
python3 - "$T_ROOT/tests/tools" "$SOCK_R" "$SOCK_P" "$T_DIR/load.stop" "$LONDON" > "$T_DIR/load.txt" 2>"$T_DIR/load.err" <<'PY' &
import sys, time, socket, struct
sys.path.insert(0, sys.argv[1])
import fcgi_conn as f
socks, stop, client = sys.argv[2:4], sys.argv[4], sys.argv[5]
import os

def ask(path):
    params = b"".join(f.nv(k, v) for k, v in (
        ("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/v1/websocket/server"), ("SCRIPT_NAME", "/v1/websocket/server"),
        ("REMOTE_ADDR", "127.0.0.1"), ("HTTP_X_FORWARDED_FOR", client), ("GATEWAY_INTERFACE", "CGI/1.1")))
    s = f.connect(path)
    try:
        s.sendall(f.record(f.BEGIN, 1, struct.pack(">HB5x", 1, 0)) + f.record(f.PARAMS, 1, params) +
                  f.record(f.PARAMS, 1) + f.record(f.STDIN, 1))
        out = b""
        while True:
            _, rtype, _, clen, plen, _ = struct.unpack(">BBHHBB", f.read_exact(s, 8))
            body = f.read_exact(s, clen + plen)[:clen]
            if rtype == f.STDOUT:
                out += body
            elif rtype == f.END:
                break
    finally:
        s.close()
    head, _, body = out.partition(b"\r\n\r\n")
    status = 200
    for line in head.decode("latin-1").split("\r\n"):
        if line.lower().startswith("status:"):
            status = int(line.split()[1])
    return status, body.decode("utf-8", "replace").replace(" ", "")

while not os.path.exists(stop):
    for i, path in enumerate(socks):
        t = time.time()
        try:
            status, body = ask(path)
        except Exception as e:
            status, body = 0, type(e).__name__
        print("%.3f %s %d %s" % (t, "replica" if i == 0 else "primary", status, body), flush=True)
    time.sleep(0.02)
PY
T_PIDS+=($!)
(
    while [ ! -e "$T_DIR/load.stop" ]; do
        m=$(redis-cli -p "${S_PORTS[0]}" SENTINEL get-master-addr-by-name wsb 2>/dev/null | tail -1)
        echo "$(date +%s.%N) $m $(redis-cli -p "$m" HGET wsb:round id 2>/dev/null)"
        sleep 0.1
    done > "$T_DIR/rounds.txt"
) &
T_PIDS+=($!)
sleep 1.5

# --- the primary dies ---
OLD_ID=$(redis-cli -p "$PRIMARY_PORT" HGET wsb:round id)
kill -9 "$PRIMARY_PID"
echo "  $(elapsed) s: primary 127.0.0.1:$PRIMARY_PORT SIGKILLed (last round id $OLD_ID)"
NEW_PORT=""
for _ in $(seq 300); do
    m=$(master_port 0)
    if [ -n "$m" ] && [ "$m" != "$PRIMARY_PORT" ] && [ "$(master_port 1)" = "$m" ] && [ "$(master_port 2)" = "$m" ]; then NEW_PORT=$m; break; fi
    sleep 0.1
done
[ -n "$NEW_PORT" ] || bail "Sentinel promoted no replica within 30 s"
echo "  $(elapsed) s: Sentinel names the new primary 127.0.0.1:$NEW_PORT"
t_true "Sentinel promoted one of the replicas" bash -c "[ '$NEW_PORT' = '${REPLICA_PORTS[0]}' ] || [ '$NEW_PORT' = '${REPLICA_PORTS[1]}' ]"
AT_PROMOTION=$(redis-cli -p "$NEW_PORT" HGET wsb:round id)
advanced() { local id; id=$(redis-cli -p "$NEW_PORT" HGET wsb:round id); [ -n "$id" ] && [ "$id" -gt "${AT_PROMOTION:-0}" ]; }
for _ in $(seq 150); do advanced && break; sleep 0.1; done
t_true "the next probe round is written to the new primary (round id past $AT_PROMOTION)" advanced
echo "  $(elapsed) s: round $(redis-cli -p "$NEW_PORT" HGET wsb:round id) written to the new primary (at $(redis-cli -p "$NEW_PORT" HGET wsb:round at))"
t_eq "  ... by the same probe process, still running" 0 "$(kill -0 "$PROBE_PID" 2>/dev/null; echo $?)"
t_match "  ... which logged its failed rounds through the sentinels" 'round not written: redis sentinel wsb: ' "$(cat "$T_DIR/probe.log")"

# London comes back: the next rounds reach both pools through the new primary.
sleep 1
w_london ok
BACK_AT=$(date +%s.%N)
t_true "London back: both pools answer London again (rounds flow through the new topology)" until_both_say London 150
sleep 0.5
touch "$T_DIR/load.stop"
sleep 0.3

# --- what the load saw ---
read -r N_R OK_R E100_R E101_R DEAD_R OTHER_R N_P OK_P E100_P E101_P DEAD_P OTHER_P <<< "$(python3 - "$T_DIR/load.txt" "$LON_PORT" "$BACK_AT" <<'PY'
import sys
rows = [l.split(" ", 3) for l in open(sys.argv[1]) if l.strip()]
lon, back = "127.0.0.1:%s" % sys.argv[2], float(sys.argv[3])
out = []
for pool in ("replica", "primary"):
    n = ok = e100 = e101 = dead = other = 0
    for t, p, status, body in rows:
        if p != pool:
            continue
        n += 1
        if status == "200" and '"endpoint"' in body:
            ok += 1
            if lon in body and float(t) < back:
                dead += 1
        elif status == "503" and '"error_code":100' in body:
            e100 += 1
        elif status == "503" and '"error_code":101' in body:
            e101 += 1
        else:
            other += 1
            print(t, p, status, body[:200], file=sys.stderr)
    out += [n, ok, e100, e101, dead, other]
print(*out)
PY
)"
read -r GAP ROUNDS <<< "$(python3 - "$T_DIR/rounds.txt" <<'PY'
import sys
ids = []
for l in open(sys.argv[1]):
    w = l.split()
    if len(w) == 3 and w[2].isdigit() and (not ids or int(w[2]) != ids[-1]):
        ids.append(int(w[2]))
gaps = [b - a for a, b in zip(ids, ids[1:])]
print("%.1f" % (max(gaps) / 1000.0 if gaps else -1), len(ids))
PY
)"
echo "  figures: longest gap between written rounds ${GAP} s ($ROUNDS rounds seen); answers under load:" \
     "replica pool $N_R ($OK_R ok, $E100_R 503/100, $E101_R 503/101, $OTHER_R other)," \
     "primary pool $N_P ($OK_P ok, $E100_P 503/100, $E101_P 503/101, $OTHER_P other)"
echo "  replica pool: $(grep -c 'no replica to read' "$T_DIR/pool-replica.log") process(es) read the primary for want of a healthy replica during the failover," \
     "$(grep -c 'reading from the replica .* again' "$T_DIR/pool-replica.log") back on a replica before the end"
t_true "the load ran through the failover" bash -c "[ ${N_R:-0} -ge 50 ] && [ ${N_P:-0} -ge 50 ]"
t_eq "no answer was 101 (replica pool)" 0 "$E101_R"
t_eq "no answer was 101 (primary pool)" 0 "$E101_P"
t_eq "no answer named the dead node (replica pool)" 0 "$DEAD_R"
t_eq "no answer named the dead node (primary pool)" 0 "$DEAD_P"
t_eq "no other failure (replica pool)" 0 "$OTHER_R"
t_eq "no other failure (primary pool)" 0 "$OTHER_P"
t_true "the rounds resumed well within the round's TTL (gap ${GAP} s < 12 s)" \
    python3 -c "import sys; sys.exit(not (0 < float('$GAP') < 12))"

# --- what the logs say ---
t_true "the primary pool reads the new primary, named with the master" \
    grep -q -F "127.0.0.1:$NEW_PORT/0 (sentinel wsb primary)" "$T_DIR/pool-primary.log"
t_true "every failure names the sentinels' master (each sentinel's reason), never a password" \
    bash -c "! grep -h -E '(error|warn): (state unreadable|round not written|assignment accounting)' '$T_DIR'/pool-*.log '$T_DIR/probe.log' | grep -v -q 'redis sentinel wsb: '"
t_true "no pool worker died or restarted" bash -c "! grep -q 'pool: worker' '$T_DIR/pool-replica.log' '$T_DIR/pool-primary.log'"
t_no_sanitizer_reports "no sanitizer reports" "$T_DIR/pool-replica.log" "$T_DIR/pool-primary.log" "$T_DIR/probe.log"
echo "  $(elapsed) s in all"
t_summary
