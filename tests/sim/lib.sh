# shellcheck shell=bash
# lib.sh: what tests/sim/run.sh (`make sim`) and
# tests/integration/sim_short.sh share: one private Redis on a unix socket,
# handler pools standing for web hosts, frozen probe rounds written with
# wsb_statectl, and runs of the wsb_sim driver whose figures (its SIM line)
# and Redis command counts are kept per run.
#
# Expects BUILD (absolute), GEOIP_DIR, SIM_DIR (a private folder), and a
# function sim_track PID that records a process to stop at exit.
#
# SIM_POOLS pools (hosts) of SIM_WORKERS processes each.  One process a
# pool by default: the workers of a pool share its listening socket, and
# the kernel wakes one of them for new connections (EPOLLEXCLUSIVE), mostly
# the same idle one, so with --workers 2 how many processes get the driver's
# kept connections (and so take part in the accounting) is left to chance.

SIM_CACHE_MS=${SIM_CACHE_MS:-1000}
SIM_POOLS=${SIM_POOLS:-2}
SIM_WORKERS=${SIM_WORKERS:-1}

# sim_start: redis-server on $SIM_DIR/redis.sock (no TCP) and SIM_POOLS
# pools (pool-a, pool-b, ...) of SIM_WORKERS processes each, over it.  Sets
# SIM_REDIS, SIM_URL, SIM_SOCKETS, SIM_PROCS (processes in all).
sim_start() {
    SIM_REDIS="$SIM_DIR/redis.sock"
    SIM_URL="unix://$SIM_REDIS"
    redis-server --port 0 --unixsocket "$SIM_REDIS" --unixsocketperm 700 --save '' --appendonly no \
        --dir "$SIM_DIR" --logfile "$SIM_DIR/redis.log" --daemonize no &
    sim_track $!
    for _ in $(seq 100); do redis-cli -s "$SIM_REDIS" ping >/dev/null 2>&1 && break; sleep 0.05; done
    redis-cli -s "$SIM_REDIS" ping >/dev/null 2>&1 || { echo "redis did not start" >&2; return 1; }
    export WSB_REDIS_URL="$SIM_URL" WSB_GEOIP_DB="$GEOIP_DIR/GeoLite2-City-Test.mmdb" WSB_CACHE_MS="$SIM_CACHE_MS" \
        WSB_LOG_LEVEL=warn
    # Some state before the pools start, so that their first read finds nodes.
    printf '[{"id":"boot","endpoint":"wss://boot.sim.example.net/ws","location":"boot","lat":0,"lon":0,"versions":["v1"],"online":true,"load":0,"connections":0,"capacity":1}]' \
        > "$SIM_DIR/boot.json"
    "$BUILD/tests/wsb_statectl" --redis "$SIM_URL" write "$SIM_DIR/boot.json" --ttl 3600 >/dev/null || return 1
    local p names
    names=$(echo a b c d e f g h | cut -d' ' -f1-"$SIM_POOLS")
    SIM_SOCKETS=""
    SIM_PROCS=$((SIM_POOLS * SIM_WORKERS))
    for p in $names; do
        "$BUILD/wsb-handler" --listen "$SIM_DIR/pool-$p.sock" --workers "$SIM_WORKERS" --threads 1 \
            2>>"$SIM_DIR/pool-$p.log" &
        sim_track $!
        SIM_SOCKETS="$SIM_SOCKETS${SIM_SOCKETS:+,}$SIM_DIR/pool-$p.sock"
    done
    for p in $names; do
        for _ in $(seq 200); do [ -S "$SIM_DIR/pool-$p.sock" ] && break; sleep 0.05; done
        [ -S "$SIM_DIR/pool-$p.sock" ] || { echo "pool $p did not start: $(tail -3 "$SIM_DIR/pool-$p.log")" >&2; return 1; }
    done
}

# sim_node ID CAPACITY CONNECTIONS LAT LON [EXTRA]: one node record (JSON),
# online, its load consistent with its connections; EXTRA is more fields
# (',"changed_at":1767000000'; ',"online":false' replaces the online flag).
sim_node() {
    local load online=',"online":true'
    load=$(awk -v c="$3" -v k="$2" 'BEGIN { printf "%.4f", c / k }')
    case "${6:-}" in *'"online"'*) online="" ;; esac
    printf '{"id":"%s","endpoint":"wss://%s.sim.example.net/ws","location":"%s","lat":%s,"lon":%s,"versions":["v1"]%s,"load":%s,"connections":%s,"capacity":%s%s}' \
        "$1" "$1" "$1" "$4" "$5" "$online" "$load" "$3" "$2" "${6:-}"
}

# sim_fleet FILE RECORD...: the records as one JSON array in FILE.
sim_fleet() {
    local f=$1; shift
    local IFS=,
    printf '[%s]\n' "$*" > "$f"
}

# sim_round FILE: FILE as a new probe round (a new round id: the
# assignment counts start afresh), then waits until every pool process has
# read it (one WSB_CACHE_MS and a margin).
sim_round() {
    "$BUILD/tests/wsb_statectl" --redis "$SIM_URL" write "$1" --ttl 3600 >/dev/null || return 1
    sleep "$(awk -v ms="$SIM_CACHE_MS" 'BEGIN { print (ms + 400) / 1000 }')"
}

# sim_clients FILE ISO...: one client address per located network of the
# City test database in those countries (every located one with "world").
sim_clients() {
    local f=$1; shift
    python3 - "$GEOIP_DIR/GeoLite2-City-Test.json" "$@" > "$f" <<'PY'
import ipaddress, json, sys
want = set(sys.argv[2:])
for entry in json.load(open(sys.argv[1])):
    for net, rec in entry.items():
        if "location" not in rec:
            continue
        cc = rec.get("country", {}).get("iso_code", "")
        if "world" not in want and cc not in want:
            continue
        n = ipaddress.ip_network(net, strict=False)
        if n.version == 6 and n.prefixlen < 96 and str(n).startswith("::"):
            continue   # IPv4-embedded ranges repeat the IPv4 entries
        print(n.network_address + (1 if n.num_addresses > 1 else 0))
PY
}

# Every Redis command so far but the INFO that asks.
sim_redis_calls() {
    redis-cli -s "$SIM_REDIS" INFO commandstats |
        awk -F'[=,:]' '/^cmdstat_/ && !/^cmdstat_info:/ {s += $3} END {print s + 0}'
}

# sim_drive LABEL STATE CLIENTS [wsb_sim options]: one run of the driver
# against the pools; prints its report (indented) and the Redis commands
# the pools sent meanwhile; keeps the SIM line's fields for sim_get, plus
# redis_per_req, redis_per_s and redis_per_refresh.  Waits after the run
# until every process has flushed its counts (one WSB_CACHE_MS).
sim_drive() {
    local label=$1 state=$2 clients=$3; shift 3
    local before after t0 t1 rc
    before=$(sim_redis_calls)
    t0=$(date +%s%N)
    "$BUILD/tests/wsb_sim" --state "$state" --sockets "$SIM_SOCKETS" --clients "$clients" --label "$label" \
        --conns "${SIM_CONNS:-32}" "$@" \
        > "$SIM_DIR/$label.out" 2> "$SIM_DIR/$label.err"
    rc=$?
    t1=$(date +%s%N)
    after=$(sim_redis_calls)
    grep -v '^SIM ' "$SIM_DIR/$label.out"
    [ "$rc" -eq 0 ] || { echo "  wsb_sim failed ($rc): $(tail -3 "$SIM_DIR/$label.err")"; }
    local line
    line=$(grep '^SIM ' "$SIM_DIR/$label.out")
    line="$line $(awk -v d="$((after - before))" -v ns="$((t1 - t0))" -v w="$SIM_PROCS" -v ms="$SIM_CACHE_MS" \
        -v line="$line" 'BEGIN {
            n = split(line, kv, " "); req = 0
            for (i = 1; i <= n; i++) { split(kv[i], p, "="); if (p[1] == "requests") req = p[2] }
            s = ns / 1e9
            printf "redis_cmds=%d redis_secs=%.3f redis_per_req=%.6f redis_per_s=%.1f redis_per_refresh=%.2f", d, s,
                (req > 0 ? d / req : 0), d / s, d / (w * s * 1000 / ms) }')"
    # The fields a process's metrics flush may add to: metrics:handlers
    # holds "host|name" fields, a host's processes share theirs (the pools
    # here run on one host); two of a host's are gauges, set by one HSET.
    local mkey mfields=0
    mkey=$(redis-cli -s "$SIM_REDIS" --scan --pattern '*metrics:handlers' | head -1)
    [ -n "$mkey" ] && mfields=$(redis-cli -s "$SIM_REDIS" HKEYS "$mkey" |
        awk -F'|' '{n[$1]++} END {m = 0; for (h in n) if (n[h] > m) m = n[h]; print m}')
    line="$line metrics_fields_per_host=${mfields:-0}"
    echo "$line" > "$SIM_DIR/$label.sim"
    printf '  redis: %s commands per request (%s commands in %s s: %s per second, %s per process and refresh)\n' \
        "$(sim_get "$label" redis_per_req)" "$(sim_get "$label" redis_cmds)" "$(sim_get "$label" redis_secs)" \
        "$(sim_get "$label" redis_per_s)" "$(sim_get "$label" redis_per_refresh)"
    sleep "$(awk -v ms="$SIM_CACHE_MS" 'BEGIN { print (ms + 300) / 1000 }')"
    return "$rc"
}

# sim_get LABEL KEY: a figure of a run.
sim_get() {
    [ -f "$SIM_DIR/$1.sim" ] || { echo ""; return; }
    tr ' ' '\n' < "$SIM_DIR/$1.sim" | sed -n "s/^$2=//p" | head -1
}
