#!/usr/bin/env bash
# fault_redis.sh: Redis killed under load, Redis slow (DEBUG SLEEP, CLIENT
# PAUSE), through lighttpd with two handler processes and a load generator.
#
#   - killed: the last good snapshot serves for WSB_STALE_MAX_MS, then every
#     answer is 503/100 within a second; within a second of Redis returning
#     fresh state is served, by the same handler processes;
#   - slow: no answer waits much longer than the command timeout, and the
#     last good snapshot keeps serving meanwhile.
. "$(dirname "$0")/fault_lib.sh"

STALE_MS=2000
T_REDIS_EXTRA="--enable-debug-command yes"
t_redis_start
f_lighttpd_start 2 WSB_CACHE_MS=100 WSB_STALE_MAX_MS=$STALE_MS WSB_REDIS_RETRY_MS=100 \
    WSB_REDIS_CONNECT_TIMEOUT_MS=200 WSB_REDIS_TIMEOUT_MS=300 || { t_fail "lighttpd did not start"; t_summary; exit 1; }
URL="$F_BASE/v1/websocket/server"

printf '[%s]' "$(f_node old wss://old.example.net/ws)" > "$T_DIR/old.json"
printf '[%s]' "$(f_node new wss://new.example.net/ws)" > "$T_DIR/new.json"
t_state "$T_DIR/old.json"
served() { f_req "$URL"; [ "$(f_endpoint)" = "$1" ]; }
t_true "the old state is served" t_wait_for served wss://old.example.net/ws
PIDS_BEFORE=$(f_handler_pids)
t_match "two handler processes" '^[0-9]+ [0-9]+$' "$PIDS_BEFORE"

# --- killed under load ---------------------------------------------------
f_load_start "$URL" 30 4
sleep 0.5
T_KILL=$(f_now_ms)
{ kill -9 "$T_REDIS_PID"; wait "$T_REDIS_PID"; } 2>/dev/null
sleep $(( STALE_MS / 1000 + 2 ))          # well past the stale limit
T_UP_ASK=$(f_now_ms)
T_REDIS_PORT_WANT=$T_REDIS_PORT t_redis_start redis2
T_UP=$(f_now_ms)
t_state "$T_DIR/new.json"
T_WRITTEN=$(f_now_ms)
sleep 2
f_load_stop
t_true "the load generator logged answers" test -s "$F_LOAD_LOG"
cp "$F_LOAD_LOG" "$T_DIR/kill.log"

f_check '
import sys
log, kill, up_ask, up, written, stale = sys.argv[1], *map(int, sys.argv[2:7])
rows = [l.split() for l in open(log) if l.strip()]
rows.sort(key=lambda r: int(r[0]))
def phase(lo, hi):
    return [r for r in rows if lo <= int(r[0]) < hi]
errs = [r for r in rows if r[1] == "ERR"]
print(("ok" if not errs else "fail") + " every request got an HTTP answer (%d requests, %d failed%s)" %
      (len(rows), len(errs), (": " + " ".join(errs[0])) if errs else ""))
notjson = [r for r in rows if r[1] != "ERR" and r[2] == "NOTJSON"]
print(("ok" if not notjson else "fail") + " every answer is JSON (%d not)" % len(notjson))
before = phase(0, kill)
print(("ok" if before and all(r[1] == "200" and r[3] == "wss://old.example.net/ws" for r in before) else "fail") +
      " before the kill: 200 old (%d answers)" % len(before))
# The snapshot was at most WSB_CACHE_MS old at the kill, so it serves for at
# least stale - cache - margin after it.
early = phase(kill, kill + stale - 600)
bad = [r for r in early if not (r[1] == "200" and r[3] == "wss://old.example.net/ws")]
print(("ok" if early and not bad else "fail") + " redis down, within WSB_STALE_MAX_MS: the last good state serves "
      "(%d answers, %d other%s)" % (len(early), len(bad), (": " + " ".join(bad[0])) if bad else ""))
late = phase(kill + stale + 700, up_ask)
bad = [r for r in late if not (r[1] == "503" and r[2] == "100")]
print(("ok" if late and not bad else "fail") + " redis down past WSB_STALE_MAX_MS: 503/100 "
      "(%d answers, %d other%s)" % (len(late), len(bad), (": " + " ".join(bad[0])) if bad else ""))
down = phase(kill, up_ask)
worst = max((float(r[-1]) for r in down), default=0)
print(("ok" if down and worst < 1000 else "fail") + " redis down: every answer within 1 s (slowest %.0f ms, "
      "connect timeout 200 ms)" % worst)
fresh = [r for r in phase(written, 1 << 62) if r[3] == "wss://new.example.net/ws"]
first = int(fresh[0][0]) if fresh else None
print(("ok" if first is not None and first - up < 1000 else "fail") + " redis back: fresh state served within "
      "a second (%s ms after redis answered, %d ms after the state was written)" %
      (first - up if first else "never", (first - written) if first else -1))
after = phase(written + 1000, 1 << 62)
bad = [r for r in after if not (r[1] == "200" and r[3] == "wss://new.example.net/ws")]
print(("ok" if after and not bad else "fail") + " a second after redis returned: only fresh state "
      "(%d answers, %d other)" % (len(after), len(bad)))
' "$F_LOAD_LOG" "$T_KILL" "$T_UP_ASK" "$T_UP" "$T_WRITTEN" "$STALE_MS"
t_eq "no handler process was restarted" "$PIDS_BEFORE" "$(f_handler_pids)"
t_true "the outage was logged" grep -q "state unreadable" "$T_DIR/handler.log"
t_true "the stale limit was logged" grep -q "answering 503" "$T_DIR/handler.log"
t_true "the recovery was logged" grep -q "state readable again" "$T_DIR/handler.log"

# --- slow: DEBUG SLEEP and CLIENT PAUSE ---------------------------------
# With WSB_REDIS_TIMEOUT_MS=300 no request may wait for a stuck Redis; the
# snapshot (younger than WSB_STALE_MAX_MS) serves meanwhile.
slow_phase() {   # name, function that keeps redis stuck and returns when it is free again
    local name=$1 stall=$2
    t_state "$T_DIR/old.json"
    t_wait_for served wss://old.example.net/ws
    f_load_start "$URL" 30 16
    sleep 0.3
    local t0 t1
    t0=$(f_now_ms)
    "$stall"
    t1=$(f_now_ms)
    sleep 0.5
    f_load_stop
    f_check '
import sys
log, name, t0, t1 = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rows = [l.split() for l in open(log) if l.strip()]
during = [r for r in rows if t0 <= int(r[0]) < t1]
worst = max((float(r[-1]) for r in during), default=0)
print(("ok" if len(during) >= 4 and worst < 1000 else "fail") +
      " %s: latency bounded by the timeout (%d answers while redis was stuck for %d ms, slowest %.0f ms)" %
      (name, len(during), t1 - t0, worst))
bad = [r for r in during if not (r[1] == "200" and r[3] == "wss://old.example.net/ws")]
print(("ok" if not bad else "fail") + " %s: the last good state serves meanwhile (%d other%s)" %
      (name, len(bad), (": " + " ".join(bad[0])) if bad else ""))
' "$F_LOAD_LOG" "$name" "$t0" "$t1"
}
stall_sleep() { t_rcli DEBUG SLEEP 1.5 >/dev/null; }
# CLIENT PAUSE returns at once; the pause ends 1500 ms later.
stall_pause() { t_rcli CLIENT PAUSE 1500 ALL >/dev/null; sleep 1.5; }
slow_phase "DEBUG SLEEP 1.5" stall_sleep
slow_phase "CLIENT PAUSE 1500 ALL" stall_pause
t_eq "still the same handler processes" "$PIDS_BEFORE" "$(f_handler_pids)"
t_true "a timeout was logged" grep -qi "timed out\|timeout\|Resource temporarily unavailable" "$T_DIR/handler.log"
t_no_sanitizer_reports "no sanitizer reports" "$T_DIR/handler.log" "$T_DIR/lighttpd.stderr"
t_summary
