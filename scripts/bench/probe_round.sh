#!/usr/bin/env bash
# probe_round.sh N [HANG_PERCENT] [TIMEOUT_MS]: one `wsb-probe --once` round
# over N websocket stand-in nodes on loopback, every (100/HANG_PERCENT)-th of
# them hanging (default 10 %, timeout 1000 ms).  Prints one line:
#   PROBEROUND nodes=N hang=H warm=ok|failed|off rc=RC wall_s=W round_ms=R rss_kib=K cpu_s=C
#              standin_cpu_s=S up=U down=D want_up=.. want_down=..
# The stand-ins are tests/tools/standin_fast (C, one epoll loop): the Python
# stand-in cannot answer thousands of handshakes within a check's timeout on
# a busy machine, and would be what is measured.
# The measured round is the second of two (PROBE_WARM=0: the first), so that
# it carries the previous state's history, as an operator's rounds do.
# PROBE_HOST (default 127.0.0.1) names the stand-ins in the endpoints:
# "localhost" gives every check a name to resolve.
# Expects BUILD (the build directory) and RURL (a Redis of its own) or
# starts a private Redis.  Used by bench.sh; runs alone as well.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
N=${1:?usage: probe_round.sh N [HANG_PERCENT] [TIMEOUT_MS]}
HANG=${2:-10}
TIMEOUT_MS=${3:-1000}
. "$ROOT/scripts/bench/lib.sh"
bench_workdir proberound

if [ -z "${RURL:-}" ]; then
    RPORT=$(free_port)
    redis-server --bind 127.0.0.1 --port "$RPORT" --save '' --appendonly no --dir "$T" --logfile "$T/redis.log" &
    PIDS+=($!)
    for _ in $(seq 100); do redis-cli -p "$RPORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
    RURL="redis://127.0.0.1:$RPORT/0"
fi
RCLI=(redis-cli -u "$RURL")

n_hang=$(( HANG > 0 ? N * HANG / 100 : 0 ))
n_ok=$(( N - n_hang ))
# N ports in a row below the ephemeral range (where the probe's own
# connections come from): random bases until both stand-ins listen.
lo=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range)
started=""
for attempt in 1 2 3 4 5 6 7 8; do
    span=$(( lo - 1024 - N ))
    [ "$span" -gt 0 ] || { echo "probe_round: no $N ports below the ephemeral range ($lo)"; exit 1; }
    base=$(( 1024 + (RANDOM * 32768 + RANDOM) % span ))
    python3 - "$base" "$T" "$N" "$HANG" "$TIMEOUT_MS" "${PROBE_HOST:-127.0.0.1}" <<'PY'
import json, sys
base, t, n, hang, timeout = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
host = sys.argv[6]
n_hang = n * hang // 100 if hang > 0 else 0
n_ok = n - n_hang
# Every k-th node of the inventory hangs: hanging checks are spread over the
# round, not bunched at its end.
k = n // n_hang if n_hang else 0
ports, ok_i, hang_i = [], 0, 0
for i in range(n):
    if k and i % k == k - 1 and hang_i < n_hang:
        ports.append(base + n_ok + hang_i); hang_i += 1
    elif ok_i < n_ok:
        ports.append(base + ok_i); ok_i += 1
    else:
        ports.append(base + n_ok + hang_i); hang_i += 1
inv = {"allow_insecure_ws": True, "defaults": {"versions": ["v1"], "capacity": 1000,
       "check": {"type": "websocket", "timeout_ms": timeout, "rise": 1, "fall": 1}},
       "nodes": [{"id": "n%05d" % i, "endpoint": "ws://%s:%d/ws" % (host, p), "location": "loc%d" % i}
                 for i, p in enumerate(ports)]}
json.dump(inv, open(t + "/inventory.json", "w"))
PY
    rm -f "$T/standin.ready"
    hang_arg=(); [ "$n_hang" -gt 0 ] && hang_arg=(--hang "$((base + n_ok))-$((base + N - 1))")
    "$BUILD/tests/standin_fast" --ok "$base-$((base + n_ok - 1))" "${hang_arg[@]}" --ready-file "$T/standin.ready" \
        2>>"$T/standin.log" &
    spid=$!
    PIDS+=($spid)
    ok=""
    for _ in $(seq 600); do [ -f "$T/standin.ready" ] && { ok=1; break; }; kill -0 "$spid" 2>/dev/null || break; sleep 0.05; done
    if [ -n "$ok" ]; then started=1; break; fi
    kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null
done
[ -n "$started" ] || { echo "probe_round: the stand-ins could not start (no $N free ports in a row)"; cat "$T/standin.log"; exit 1; }

"${RCLI[@]}" DEL bench:round >/dev/null
# The steady state: one round first, unmeasured, so that the measured one
# reads a previous state of N nodes (their history) as every round but an
# operator's first does.  PROBE_WARM=0 measures a first round instead.
warm=off
if [ "${PROBE_WARM:-1}" = 1 ]; then
    warm=ok
    "$BUILD/wsb-probe" --inventory "$T/inventory.json" --redis "$RURL" --prefix bench: --once ${PROBE_ARGS:-} \
        2>"$T/probe-warm.log" || { warm=failed; echo "probe_round: the first (unmeasured) round failed:"; tail -5 "$T/probe-warm.log"; }
fi
# The stand-ins' CPU time during the round (utime + stime, clock ticks):
# when it is close to the wall time, they were what the round waited for.
standin_ticks() { awk '{print $14 + $15}' "/proc/$spid/stat" 2>/dev/null || echo 0; }
s_before=$(standin_ticks)
start=$(date +%s%N)
/usr/bin/time -f '%U %S %M' -o "$T/probe.time" ${PROBE_WRAP:-} "$BUILD/wsb-probe" --inventory "$T/inventory.json" --redis "$RURL" \
    --prefix bench: --once ${PROBE_ARGS:-} 2>"$T/probe.log"
rc=$?
[ -n "${PROBE_LOG:-}" ] && cp "$T/probe.log" "$PROBE_LOG"
wall=$(python3 -c "print('%.2f' % (($(date +%s%N) - $start) / 1e9))")
standin_cpu=$(python3 -c "print('%.2f' % (($(standin_ticks) - $s_before) / $(getconf CLK_TCK)))")
read -r cpu_u cpu_s rss < <(tail -1 "$T/probe.time")
# The round as the probe times it (state read to write; wall_s adds the
# process's start, inventory parse and exit).
round_ms=$(sed -n 's/.*info: round: .* \([0-9][0-9]*\) ms.*/\1/p' "$T/probe.log" | tail -1)
up=$("${RCLI[@]}" HGET bench:round up); down=$("${RCLI[@]}" HGET bench:round down)
echo "PROBEROUND nodes=$N hang=$n_hang warm=$warm rc=$rc wall_s=$wall round_ms=${round_ms:-?} rss_kib=$rss cpu_s=$(python3 -c "print('%.2f' % ($cpu_u + $cpu_s))") standin_cpu_s=$standin_cpu up=${up:-?} down=${down:-?} want_up=$n_ok want_down=$n_hang"
[ "$rc" = 0 ] || { echo "probe log:"; tail -5 "$T/probe.log"; }
