#!/usr/bin/env bash
# probe_scale.sh: all nodes are checked at once.  A round over 1,000
# stand-in nodes of which 100 hang with timeout_ms 1000 must finish in about
# that timeout (target <= 2 s, measured by `make bench` with every timeout at
# 1000 ms); the bound asserted here is a generous 4 s so that a loaded
# machine does not flake.  The 900 answering nodes get timeout_ms 5000 so
# that a stand-in server starved of CPU still answers them all: only the
# hanging nodes bound the round, which is the property under test.
# wsb-test: serial  (a round of 1,000 connections at once, timed to 4 s)
. "$(dirname "$0")/probe_lib.sh"

t_redis_start || exit 1
p_ports 1000 || exit 1
P=$P_BASE
cat > "$T_DIR/standin.json" <<JSON
{"port_ranges": [{"from": $P, "to": $((P + 899)), "mode": "ok", "connections": 100, "capacity": 1000},
                 {"from": $((P + 900)), "to": $((P + 999)), "mode": "hang"}]}
JSON
"$PY" - "$P" "$T_DIR/inventory.json" <<'PY'
import json, sys
base, path = int(sys.argv[1]), sys.argv[2]
inv = {"allow_insecure_ws": True,
       "defaults": {"versions": ["v1"], "capacity": 1000,
                    "check": {"type": "websocket", "timeout_ms": 5000, "rise": 1, "fall": 1}},
       "nodes": []}
for i in range(1000):
    n = {"id": "n%04d" % i, "endpoint": "ws://127.0.0.1:%d/ws" % (base + i), "location": "loc%d" % i}
    if i >= 900:
        n["check"] = {"timeout_ms": 1000}
    elif i % 5 == 0:
        n["status_url"] = "http://127.0.0.1:%d/status" % (base + i)
    inv["nodes"].append(n)
json.dump(inv, open(path, "w"))
PY
p_standin "$T_DIR/standin.json" || exit 1

TIME=()
[ -x /usr/bin/time ] && TIME=(/usr/bin/time -f '%M' -o "$T_DIR/rss")
# Round 1 on the default threads (one: a thread per 1,024 transfers at
# most), round 2 on three and round 3 on one: the same verdicts whatever
# the split (check.h).
threads=("" "--threads 3" "--threads 1")
parts=("on 1 thread," "on 3 threads" "on 1 thread,")
for round in 1 2 3; do
    start=$(date +%s%N)
    # shellcheck disable=SC2086
    "${TIME[@]}" "$PROBE" --redis "$T_REDIS_URL" --inventory "$T_DIR/inventory.json" --once --log-level debug \
        ${threads[$((round - 1))]} 2>"$T_DIR/probe.err"
    rc=$?
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    rss=$( [ -s "$T_DIR/rss" ] && tail -1 "$T_DIR/rss" || echo "?")
    echo "  round $round: 1,000 nodes (100 hang with timeout 1000 ms, 180 with status_url): wall $ms ms, peak RSS $rss KiB"
    t_eq "round $round: exit 0" 0 "$rc"
    t_true "round $round: within timeout + 3 s ($ms ms <= 4000; target <= 2000 in make bench)" test "$ms" -le 4000
    t_eq "round $round: 900 up" 900 "$(t_rcli HGET wsb:round up)"
    t_eq "round $round: 100 down" 100 "$(t_rcli HGET wsb:round down)"
    want=${parts[$((round - 1))]}
    t_match "round $round: ${threads[$((round - 1))]:-default threads}: the checks $want" \
        "checks: 1180 transfers $want" "$(grep 'debug: checks: .* transfers' "$T_DIR/probe.err")"
done
p_refresh
t_eq "hanging node: timeout" timeout "$(p_field n0950 last_error)"
t_eq "load from status_url" 0.1 "$(p_field n0000 load)"
t_eq "no status_url: load unknown" "" "$(p_field n0001 load)"
[ "$(t_rcli HGET wsb:round up)" = 900 ] || grep ': node ' "$T_DIR/probe.err" | sed 's/^/  /' | head -5
t_eq "later rounds: no node lines" 0 "$(grep -c ': node ' "$T_DIR/probe.err")"
t_summary
