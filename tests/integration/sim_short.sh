#!/usr/bin/env bash
# sim_short.sh: the short version of `make sim` (tests/sim/run.sh): one
# real Redis, two real handler pools standing for two web hosts (one
# process each: see tests/sim/lib.sh), frozen probe rounds, and
# tests/tools/wsb_sim driving both pools over kept FastCGI connections.  Asserts the key targets of issue 12 on small runs:
# a burst of 90 % of the room of three nodes sized 1:10 (20,000 / 2,000 /
# 10,000 at 30 / 30 / 60 %) leaves no node above WSB_MAX_LOAD and gives each
# node its share of the room within +-10 %, with Redis commands bounded by
# the refreshes, not the requests; a burst beyond the room spills to the
# next nearest site, then gets 503 only when no node has room, diverted
# within one WSB_CACHE_MS.
. "$(dirname "$0")/../lib.sh"
SIM_DIR=$T_DIR
sim_track() { T_PIDS+=("$1"); }
fcmp() { python3 -c "import sys; sys.exit(0 if ($1) else 1)"; }
. "$T_ROOT/tests/sim/lib.sh"

if ! sim_start; then
    t_fail "redis and two pools start"
    t_summary
    exit 1
fi
LON="51.51 -0.13"; PAR="48.86 2.35"
python3 - "$GEOIP_DIR/GeoLite2-City-Test.json" > "$T_DIR/london.txt" <<'PY'
import json, sys, ipaddress
for entry in json.load(open(sys.argv[1])):
    for net, rec in entry.items():
        if rec.get("city", {}).get("names", {}).get("en") == "London":
            n = ipaddress.ip_network(net, strict=False)
            print(n.network_address + (1 if n.num_addresses > 1 else 0))
PY
t_true "London client addresses from the City test database" test -s "$T_DIR/london.txt"
# shellcheck disable=SC2086
rec() { sim_node "$1" "$2" "$3" $4 "${5:-}"; }
procs=$SIM_PROCS

# --- a burst of 90 % of the room, faster than one refresh ---
sim_fleet "$T_DIR/a3.json" "$(rec big 20000 6000 "$LON")" "$(rec small 2000 600 "$LON")" "$(rec mid 10000 6000 "$LON")"
sim_round "$T_DIR/a3.json"
sim_drive a90 "$T_DIR/a3.json" "$T_DIR/london.txt" --requests 14580 > "$T_DIR/a90.report"
t_eq "90 %: every client placed" 14580 "$(sim_get a90 placed)"
t_true "90 %: both pools answered" bash -c "grep -q 'pool-a.sock [1-9]' '$T_DIR/a90.report' && grep -q 'pool-b.sock [1-9]' '$T_DIR/a90.report'"
t_true "90 %: peak projected load / WSB_MAX_LOAD <= 1 ($(sim_get a90 peak))" fcmp "$(sim_get a90 peak) <= 1.0"
t_eq "90 %: no overload event" 0 "$(sim_get a90 overloads)"
t_true "90 %: each node's share within 10 % of its share of the room ($(sim_get a90 share_err))" \
    fcmp "$(sim_get a90 share_err) <= 0.10"
t_true "90 %: every client within 1.5 x the nearest usable distance ($(sim_get a90 within))" \
    fcmp "$(sim_get a90 within) >= 0.999"
secs=$(sim_get a90 redis_secs); cmds=$(sim_get a90 redis_cmds)
t_true "redis commands follow the refreshes, not the requests ($cmds for 14580 requests in $secs s)" \
    fcmp "$cmds <= $procs * ($secs * 1000 / $SIM_CACHE_MS + 2) * 13 and $cmds < 14580 / 50"

# --- beyond the room: spill to the next nearest site, then 503 ---
sim_fleet "$T_DIR/spill.json" "$(rec lon-big 2000 600 "$LON")" "$(rec lon-small 200 60 "$LON")" \
    "$(rec lon-mid 1000 600 "$LON")" "$(rec par-1 500 150 "$PAR")" "$(rec par-2 500 150 "$PAR")"
sim_round "$T_DIR/spill.json"
sim_drive spill "$T_DIR/spill.json" "$T_DIR/london.txt" --requests 4000 --rate 1000 > "$T_DIR/spill.report"
site() { awk -v p="$1" -v col="$2" 'index($1, p) == 1 && NF == 10 {s += $col} END {print s + 0}' "$T_DIR/spill.report"; }
t_true "beyond the room: Paris took clients once London was full ($(site par- 8))" fcmp "$(site par- 8) > 0"
t_true "beyond the room: then 503 ($(sim_get spill e503))" fcmp "$(sim_get spill e503) > 0"
t_eq "beyond the room: no 503 while a node had room" 0 "$(sim_get spill turned_away_with_room)"
t_true "beyond the room: diverted within one WSB_CACHE_MS (overloads London $(site lon- 10), Paris $(site par- 10); 1000 arrive per WSB_CACHE_MS)" \
    fcmp "$(site lon- 10) <= 1000 and $(site par- 10) <= 1000"
t_true "503 Retry-After spread ($(sim_get spill ra_min)..$(sim_get spill ra_max) s)" fcmp "$(sim_get spill ra_distinct) >= 3"
[ "$T_FAIL" -eq 0 ] || { cat "$T_DIR/a90.report" "$T_DIR/spill.report" >&2; }
t_summary
