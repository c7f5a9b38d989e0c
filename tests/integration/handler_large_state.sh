#!/usr/bin/env bash
# handler_large_state.sh: the handler at the record limit (100,000 nodes),
# a pool of 3 processes with the default Redis timeouts.  The state is read
# in HSCAN chunks, never in one reply of the whole hash; while Redis stalls
# (CLIENT PAUSE) with a full read due in every process, the processes serve
# their last snapshot, and what their timed-out reads leave queued in Redis
# does not pile up in its memory (a whole-hash HGETALL left behind per
# attempt was ~30 MB each); when Redis answers again they read the new
# state.  README "Large fleets".
. "$(dirname "$0")/../lib.sh"
H="$BUILD/wsb-handler"
N=100000

t_redis_start
python3 "$T_ROOT/scripts/bench/gen.py" nodes "$N" > "$T_DIR/nodes.json"
"$BUILD/tests/wsb_statectl" --redis "$T_REDIS_URL" write "$T_DIR/nodes.json" --ttl 3600 >/dev/null ||
    { t_fail "writing $N nodes"; t_summary; exit 1; }
t_eq "the state holds $N nodes" "$N" "$(t_rcli HLEN wsb:nodes)"

fcgi() {   # one GET over FastCGI from a client in London; prints the CGI response
    env -i PATH="$PATH" GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=GET REQUEST_URI=/v1/websocket/server \
        SCRIPT_NAME=/v1/websocket/server REMOTE_ADDR=81.2.69.142 \
        timeout 5 cgi-fcgi -bind -connect "$T_DIR/pool.sock" < /dev/null 2>/dev/null
}
served() { fcgi | grep -q '"endpoint"'; }
stat() { t_rcli INFO commandstats | sed -n "s/^cmdstat_$1:calls=\([0-9]*\),.*/\1/p" | tr -d '\r'; }
mem() { t_rcli INFO memory | sed -n "s/^$1:\([0-9]*\).*/\1/p" | tr -d '\r'; }

WSB_REDIS_URL=$T_REDIS_URL WSB_GEOIP_DB="$GEOIP_DIR/GeoLite2-City-Test.mmdb" WSB_LOG_LEVEL=info \
    "$H" --listen "$T_DIR/pool.sock" --workers 3 2>"$T_DIR/pool.log" &
POOL=$!
T_PIDS+=("$POOL")
for _ in $(seq 150); do served && break; sleep 0.1; done
t_true "the pool answers at $N nodes" served
sleep 1.5   # every process has read the state (and watches it)
scans=$(stat hscan)
t_true "  ... read in HSCAN chunks ($scans calls for 3 processes)" test "${scans:-0}" -ge 3
t_eq "  ... no read failed" "" "$(grep 'unreadable' "$T_DIR/pool.log")"
base=$(mem used_memory)
# Redis's memory, sampled every 20 ms from here to the end (a paused Redis
# answers the sample when it goes on: at once when what queued is done).
( while :; do mem used_memory; sleep 0.02; done > "$T_DIR/mem.txt" 2>/dev/null ) &
SAMPLER=$!
T_PIDS+=("$SAMPLER")

# A change every process must read in full, then Redis stalls for 3 s: each
# full read (and change check) times out, again and again.
t_rcli HSET wsb:admin n0001 drain >/dev/null
t_rcli CONFIG RESETSTAT >/dev/null
t_rcli CLIENT PAUSE 3000 ALL >/dev/null
start=$(date +%s%N)
ok=0 bad=0
while [ $(( ($(date +%s%N) - start) / 1000000 )) -lt 2800 ]; do
    if served; then ok=$((ok + 1)); else bad=$((bad + 1)); fi
    sleep 0.2
done
t_true "Redis stalled: the last snapshot serves ($ok answered, $bad not)" test "$ok" -ge 5 -a "$bad" -eq 0
sleep 0.5
for _ in $(seq 100); do [ "$(grep -c 'state readable again' "$T_DIR/pool.log")" -ge 3 ] && break; sleep 0.1; done
t_true "  ... reads failed while it stalled" grep -q 'state unreadable' "$T_DIR/pool.log"
t_eq "  ... every process reads the state again after it" 3 "$(grep -c 'state readable again' "$T_DIR/pool.log")"
sleep 1
kill "$SAMPLER" 2>/dev/null
peak=$(sort -n "$T_DIR/mem.txt" | tail -1)
grown=$(( (${peak:-0} - base) / 1048576 ))
t_true "  ... Redis's memory did not pile up (at most $grown MB over the $((base / 1048576)) MB before; bound 32)" \
    test "$grown" -le 32 -a "$(wc -l < "$T_DIR/mem.txt")" -ge 20
clients=$(t_rcli INFO clients | sed -n 's/^connected_clients:\([0-9]*\).*/\1/p' | tr -d '\r')
t_true "  ... nor its connections ($clients)" test "$clients" -le 16
t_true "the pool answers after it" served
t_true "the pool is still whole" test "$(pgrep -P "$POOL" | wc -l)" -eq 3
t_summary
