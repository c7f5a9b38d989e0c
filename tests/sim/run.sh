#!/usr/bin/env bash
# run.sh: `make sim` (not part of `make test`; tests/integration/sim_short.sh
# is its short version).  One real Redis on a private unix socket, two real
# wsb-handler pools standing for two web hosts, frozen probe state written
# with wsb_statectl (a new round = the state written again, with a new round
# id), and tests/tools/wsb_sim driving both pools over kept FastCGI
# connections, following every answer as a client connected to its node.
#
# Four pools of one process stand for four web hosts by default (see
# tests/sim/lib.sh for why one process a pool).
#
# Scenarios (issue 12): (a) capacities 1:10, bursts of 50 % and 90 % of the
# candidates' room faster than one refresh, and one beyond the room (spill to
# the next nearest site, then 503); (b) a node holding 20,000 sessions dies
# and they all reconnect within seconds; (c) a node recovers (slow start as
# a ramp); (d) session-start budgets under a storm larger than them; (e)
# clients over the City test database's networks with nodes around the
# world; (f) the same load at two request rates (Redis commands).  Prints
# figures per scenario, then each target as met or missed.
#
#   SIM_ONLY="a b"   runs only those scenarios (default: a b c d e f)
#   SIM_POOLS=N      pools, standing for web hosts (default 4, at most 8)
#   SIM_WORKERS=N    processes per pool (default 1)
#   SIM_CACHE_MS=MS  WSB_CACHE_MS of the pools (default 1000)
#   SIM_KEEP=1       keeps the run's folder (driver outputs, logs)
# Any other WSB_* variable in the environment (WSB_NEAR_KM, ...) reaches the
# pools and the driver alike.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
GEOIP_DIR=${GEOIP_DIR:-$ROOT/../shared/geoip}
SIM_DIR=$(mktemp -d /tmp/wsb-sim.XXXXXX)
PIDS=()
sim_track() { PIDS+=("$1"); }
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
        kill -9 "$p" 2>/dev/null
    done
    if [ -n "${SIM_KEEP:-}" ]; then echo "kept $SIM_DIR"; else rm -rf "$SIM_DIR"; fi
}
trap cleanup EXIT
. "$ROOT/scripts/bench/lib.sh"   # target, fcmp, MET, MISSED
SIM_POOLS=${SIM_POOLS:-4}
. "$ROOT/tests/sim/lib.sh"
for f in "$BUILD/wsb-handler" "$BUILD/tests/wsb_statectl" "$BUILD/tests/wsb_sim"; do
    [ -x "$f" ] || { echo "sim: $f missing: make all unit-bins" >&2; exit 1; }
done
D=$SIM_DIR
# 64 kept connections in all, each with one request in flight.
SIM_CONNS=$(( (64 + SIM_POOLS - 1) / SIM_POOLS ))
SIM_ONLY=${SIM_ONLY:-a b c d e f}
want() { case " $SIM_ONLY " in *" $1 "*) return 0 ;; esac; return 1; }

echo "== machine"
echo "  $(nproc) cores, $(awk '/model name/ {sub(/.*: /,""); print; exit}' /proc/cpuinfo)"
echo "  $(redis-server --version | awk '{print $1, $3}') on a unix socket; $SIM_POOLS pools (hosts) x ${SIM_WORKERS:-1} process(es);" \
     "WSB_CACHE_MS=$SIM_CACHE_MS, WSB_MAX_LOAD=${WSB_MAX_LOAD:-0.9}, WSB_NEAR_KM=${WSB_NEAR_KM:-300};" \
     "driver: $SIM_POOLS x $SIM_CONNS kept FastCGI connections"
sim_start || exit 1

# Sites (lat lon).  The London clients of the test database are 2.6 km from
# LON; Paris is 344 km away, past WSB_NEAR_KM.
LON="51.51 -0.13"; PAR="48.86 2.35"; FRA="50.11 8.68"; STO="59.33 18.07"; TYO="35.68 139.69"
python3 - "$GEOIP_DIR/GeoLite2-City-Test.json" > "$D/london.txt" <<'PY'
import json, sys, ipaddress
for entry in json.load(open(sys.argv[1])):
    for net, rec in entry.items():
        if rec.get("city", {}).get("names", {}).get("en") == "London":
            n = ipaddress.ip_network(net, strict=False)
            print(n.network_address + (1 if n.num_addresses > 1 else 0))
PY
sim_clients "$D/de.txt" DE
sim_clients "$D/se.txt" SE
sim_clients "$D/jp.txt" JP
sim_clients "$D/world.txt" world
echo "  clients: $(wc -l < "$D/london.txt") London networks, $(wc -l < "$D/de.txt") German, $(wc -l < "$D/se.txt") Swedish," \
     "$(wc -l < "$D/jp.txt") Japanese, $(wc -l < "$D/world.txt") located networks in all (GeoLite2-City-Test)"

# rec ID CAPACITY CONNECTIONS "LAT LON" [EXTRA]: one node record
# shellcheck disable=SC2086
rec() { sim_node "$1" "$2" "$3" $4 "${5:-}"; }

# --- (a) heterogeneous capacities ---------------------------------------
if want a; then
    sim_fleet "$D/a3.json" "$(rec big 20000 6000 "$LON")" "$(rec small 2000 600 "$LON")" "$(rec mid 10000 6000 "$LON")"
    for pct in 50 90; do
        n=$((16200 * pct / 100))
        echo "== (a) capacities 20,000 / 2,000 / 10,000 at 30 % / 30 % / 60 % (room 16,200), burst of $pct %: $n clients at once"
        sim_round "$D/a3.json"
        sim_drive "a3-$pct" "$D/a3.json" "$D/london.txt" --requests "$n"
    done
    sim_fleet "$D/a7.json" "$(rec n50k 50000 35000 "$LON")" "$(rec n30k 30000 12000 "$LON")" \
        "$(rec n20k 20000 14000 "$LON")" "$(rec n12k 12000 3600 "$LON")" "$(rec n8k 8000 4000 "$LON")" \
        "$(rec n5k 5000 1000 "$LON")" "$(rec n5k-b 5000 3500 "$LON")"
    for pct in 50 90; do
        n=$((43900 * pct / 100))
        echo "== (a) seven nodes of 5,000 to 50,000 at 20 % to 70 % (room 43,900), burst of $pct %: $n clients at once"
        sim_round "$D/a7.json"
        sim_drive "a7-$pct" "$D/a7.json" "$D/london.txt" --requests "$n"
    done
    sim_fleet "$D/spill.json" "$(rec lon-big 20000 6000 "$LON")" "$(rec lon-small 2000 600 "$LON")" \
        "$(rec lon-mid 10000 6000 "$LON")" "$(rec par-1 5000 1500 "$PAR")" "$(rec par-2 5000 1500 "$PAR")"
    SPILL_RATE=4000
    echo "== (a) beyond the room: 30,000 London clients at $SPILL_RATE/s for London's room of 16,200 and Paris's 6,000 (344 km away)"
    sim_round "$D/spill.json"
    sim_drive spill "$D/spill.json" "$D/london.txt" --requests 30000 --rate "$SPILL_RATE" --per-second
fi

# --- (b) a node holding 20,000 sessions dies -----------------------------
if want b; then
    sim_fleet "$D/dead.json" "$(rec dead 25000 20000 "$FRA" ",\"online\":false,\"changed_at\":$(date +%s)")" \
        "$(rec f25k 25000 7500 "$FRA")" "$(rec f10k 10000 4000 "$FRA")" "$(rec f5k 5000 1000 "$FRA")" \
        "$(rec f2k 2000 1000 "$FRA")"
    echo "== (b) a node with 20,000 sessions dies (round with it offline); its 20,000 clients reconnect within 3 s"
    sim_round "$D/dead.json"
    sim_drive dead "$D/dead.json" "$D/de.txt" --requests 20000 --rate 7000
fi

# --- (c) a node recovers: slow start -------------------------------------
if want c; then
    sim_fleet "$D/recover.json" "$(rec sto-1 40000 24000 "$STO")" "$(rec sto-2 40000 24000 "$STO")" \
        "$(rec back 40000 0 "$STO" ",\"changed_at\":$(date +%s),\"slow_start_s\":20")"
    echo "== (c) a node comes back (changed_at = now, slow_start_s 20) beside two at 60 %: 1,000 clients/s for 24 s"
    sim_round "$D/recover.json"
    sim_drive recover "$D/recover.json" "$D/se.txt" --requests 24000 --rate 1000 --watch back
fi

# --- (d) session-start budgets under a storm ------------------------------
if want d; then
    sim_fleet "$D/budget.json" "$(rec tyo-1 50000 10000 "$TYO" ',"max_new_per_s":300')" \
        "$(rec tyo-2 50000 10000 "$TYO" ',"max_new_per_s":600')" "$(rec tyo-3 30000 6000 "$TYO" ',"max_new_per_s":900')"
    echo "== (d) budgets 300 + 600 + 900 starts/s, a storm of 12,000 clients at once; each turned-away client comes back after its Retry-After"
    sim_round "$D/budget.json"
    sim_drive budget "$D/budget.json" "$D/jp.txt" --requests 12000 --retry --until 60 --per-second
fi

# --- (e) clients all over the world ---------------------------------------
if want e; then
    w() { rec "$@"; }
    sim_fleet "$D/world.json" \
        "$(w lon 20000 8000 "51.51 -0.13")" "$(w fra 20000 10000 "50.11 8.68")" "$(w par 10000 3000 "48.86 2.35")" \
        "$(w ams 10000 5000 "52.37 4.90")" "$(w sto 5000 1000 "59.33 18.07")" "$(w waw 5000 2000 "52.23 21.01")" \
        "$(w mad 5000 1500 "40.42 -3.70")" "$(w mil 5000 2000 "45.46 9.19")" "$(w ist 10000 4000 "41.01 28.98")" \
        "$(w mow 10000 3000 "55.76 37.62")" "$(w dxb 5000 1000 "25.20 55.27")" "$(w bom 10000 5000 "19.08 72.88")" \
        "$(w sin 10000 3000 "1.35 103.82")" "$(w hkg 10000 4000 "22.32 114.17")" "$(w tyo 20000 6000 "35.68 139.69")" \
        "$(w sel 5000 1000 "37.57 126.98")" "$(w syd 5000 2000 "-33.87 151.21")" "$(w nyc 20000 8000 "40.71 -74.01")" \
        "$(w sjc 10000 4000 "37.34 -121.89")" "$(w gru 5000 1500 "-23.55 -46.63")" "$(w jnb 2000 500 "-26.20 28.05")"
    echo "== (e) 21 sites around the world (capacities 2,000 to 20,000), 20,000 clients from every located network of the test database"
    sim_round "$D/world.json"
    sim_drive world "$D/world.json" "$D/world.txt" --requests 20000
fi

# --- (f) Redis commands at two request rates -------------------------------
if want f; then
    sim_fleet "$D/rate.json" "$(rec big 200000 60000 "$LON")" "$(rec small 20000 6000 "$LON")" "$(rec mid 100000 60000 "$LON")"
    # The hosts' metrics fields start afresh, so that the bound below counts
    # only the counters these runs move (earlier scenarios' answers, 503s
    # among them, would loosen it).
    redis-cli -s "$SIM_REDIS" --scan --pattern '*metrics:handlers' | while read -r k; do
        redis-cli -s "$SIM_REDIS" DEL "$k" >/dev/null
    done
    for r in 1000 8000; do
        echo "== (f) the same fleet, 6 s at $r requests/s"
        sim_round "$D/rate.json"
        sim_drive "rate-$r" "$D/rate.json" "$D/london.txt" --requests $((r * 6)) --rate "$r"
    done
fi

echo "== targets"
g() { sim_get "$@"; }
ran() { [ -f "$D/$1.sim" ]; }
list() {   # key label...: "label value, ..." over the runs that ran
    local key=$1 out="" l; shift
    for l in "$@"; do ran "$l" && out="$out${out:+, }$l $(g "$l" "$key")"; done
    echo "$out"
}
all_cmp() {   # key op limit label...: every run that ran holds key op limit
    local key=$1 op=$2 lim=$3 l; shift 3
    for l in "$@"; do ran "$l" || continue; fcmp "$(g "$l" "$key") $op $lim" || return 1; done
}
UPTO90=""
for l in a3-50 a3-90 a7-50 a7-90 dead world; do ran "$l" && UPTO90="$UPTO90 $l"; done
if [ -n "$UPTO90" ]; then
    # shellcheck disable=SC2086
    target "peak projected load / WSB_MAX_LOAD <= 1.0, bursts up to 90 % of room ($(list peak $UPTO90))" \
        all_cmp peak '<=' 1.0 $UPTO90
    # shellcheck disable=SC2086
    target "no overload event, bursts up to 90 % of room ($(list overloads $UPTO90))" all_cmp overloads '<=' 0 $UPTO90
    # shellcheck disable=SC2086
    target "each node's share within +-10 % of its share of the room ($(list share_err $UPTO90 recover))" \
        all_cmp share_err '<=' 0.10 $UPTO90 recover
fi
if ran spill; then
    site_sum() { awk -v p="$1" -v col="$2" 'index($1, p) == 1 && NF == 10 {s += $col} END {print s + 0}' "$D/spill.out"; }
    one=$((SPILL_RATE * SIM_CACHE_MS / 1000))
    target "beyond the room: spill to Paris, then 503/100 only when no node had room (Paris took $(site_sum par- 8), $(g spill e503) answered 503, $(g spill turned_away_with_room) of them while a node had room)" \
        fcmp "$(site_sum par- 8) > 0 and $(g spill e503) > 0 and $(g spill turned_away_with_room) == 0"
    target "beyond the room: diverted within one WSB_CACHE_MS (overload events at London $(site_sum lon- 10), at Paris $(site_sum par- 10); arrivals in one WSB_CACHE_MS: $one)" \
        fcmp "$(site_sum lon- 10) <= $one and $(site_sum par- 10) <= $one"
fi
if ran world; then
    others=$(list within a3-90 a7-90 dead recover budget)
    target ">= 95 % within 1.5 x the nearest usable distance (world $(g world within)${others:+; $others})" \
        all_cmp within '>=' 0.95 world a3-90 a7-90 dead recover budget
fi
if ran recover; then
    first=$(awk '/since changed_at/ {print $8; exit}' "$D/recover.out" | tr -d '%')
    last=$(awk '/since changed_at/ {v = $8} END {print v}' "$D/recover.out" | tr -d '%')
    target "slow start: the returning node's share ramps up ($first % in its first second, $last % in the last)" \
        fcmp "${first:-100} * 2.5 <= ${last:-0}"
fi
if ran budget; then
    target "budgets: 503 with a spread Retry-After ($(g budget e503) answers, $(g budget ra_min)..$(g budget ra_max) s, $(g budget ra_distinct) distinct values), every client placed in the end ($(g budget waiting) waiting)" \
        fcmp "$(g budget e503) > 0 and $(g budget ra_distinct) >= 3 and $(g budget waiting) == 0"
    # Each process knows the others' starts as of its last exchange (one
    # WSB_CACHE_MS old at most) and takes an even share of a budget until the
    # counts show its part: the fleet holds a budget to within what the other
    # processes take between two exchanges, the storm's first second included.
    target "budgets: starts in any second at most 1.6 x each node's budget, the storm's first second included (worst $(g budget budget_ratio) x; from the second second $(g budget budget_ratio_after) x; $SIM_POOLS processes, WSB_CACHE_MS $SIM_CACHE_MS)" \
        fcmp "$(g budget budget_ratio) <= 1.6"
fi
if ran rate-1000 && ran rate-8000; then
    lo=$(g rate-1000 redis_per_s); hi=$(g rate-8000 redis_per_s)
    # The most a refresh sends with 3 nodes taking clients: the change check
    # (4); three HINCRBY a node (assigned, starts, and the node's answers for
    # /metrics); the exchange's HINCRBY, two EXPIRE, HGETALL (4); and the
    # process's metrics flush, at most once a second (WSB_CACHE_MS 1000 here:
    # once a refresh): one HINCRBY per counter that moved, one HSET of the
    # gauges, so at most its host's fields in metrics:handlers less one.
    mf=$(g rate-8000 metrics_fields_per_host)
    bound=$(awk -v f="${mf:-0}" 'BEGIN { printf "%.1f", 4 + 3 * 3 + 4 + (f > 1 ? f - 1 : 0) }')
    target "redis commands independent of the request rate: 8 x the rate, $(awk -v a="$hi" -v b="$lo" 'BEGIN {printf "%.2f", a / b}') x the commands ($lo/s at 1,000 req/s, $hi/s at 8,000; per process and refresh $(g rate-1000 redis_per_refresh) and $(g rate-8000 redis_per_refresh), at most $bound with 3 nodes and ${mf:-0} metrics fields a host)" \
        fcmp "$hi <= 1.25 * $lo and $(g rate-1000 redis_per_refresh) <= $bound and $(g rate-8000 redis_per_refresh) <= $bound"
fi
echo "sim: $MET targets met, $MISSED missed"
