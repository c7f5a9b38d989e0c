#!/usr/bin/env bash
# fault_webserver.sh: handler workers killed (one, all, SIGKILL and SIGTERM)
# and lighttpd restarted (graceful and hard) under load.  Only requests in
# flight at the moment of a kill may fail; within a second everything
# succeeds again, and the first request after a restart is already served
# from Redis (a new worker reads the state on its first request).  When
# every worker is killed, lighttpd may answer 503 until it has started new
# ones, which can take it up to two seconds (README, "lighttpd"); the second
# then counts from the restart.
. "$(dirname "$0")/fault_lib.sh"

t_redis_start
f_lighttpd_start 2 WSB_CACHE_MS=100 || { t_fail "lighttpd did not start"; t_summary; exit 1; }
URL="$F_BASE/v1/websocket/server"
printf '[%s]' "$(f_node a wss://a.example.net/ws)" > "$T_DIR/s.json"
t_state "$T_DIR/s.json"
two_new_workers() {   # the pool is back to two processes, none of them in $1
    local now p
    now=$(f_handler_pids)
    [[ "$now" =~ ^[0-9]+\ [0-9]+$ ]] || return 1
    for p in $1; do [[ " $now " == *" $p "* ]] && return 1; done
    return 0
}

f_wait_served "$URL"
# Both processes: a few more requests, longer than WSB_CACHE_MS apart.
for _ in 1 2 3 4; do f_req "$URL"; sleep 0.12; done
f_load_start "$URL" 60 4
EVENTS=()
event() { EVENTS+=("$(f_now_ms):0:$1"); }   # when:restarted (0: never down):what
restarted() { local e=${EVENTS[-1]}; EVENTS[-1]="${e%%:*}:$(f_now_ms):${e#*:*:}"; }

old=$(f_handler_pids)
victim=${old%% *}
event "one worker SIGKILLed"
kill -9 "$victim"
t_true "one worker killed: lighttpd starts a new one" t_wait_for two_new_workers "$victim"
sleep 1.2

old=$(f_handler_pids)
event "every worker SIGKILLed"
kill -9 $old
t_true "every worker killed: two new ones" t_wait_for two_new_workers "$old"
restarted
sleep 1.2

old=$(f_handler_pids)
victim=${old%% *}
event "one worker SIGTERMed"
kill -TERM "$victim"
t_true "one worker stopped with SIGTERM: a new one" t_wait_for two_new_workers "$victim"
sleep 1.2

old=$(f_handler_pids)
event "lighttpd graceful restart (SIGUSR1)"
kill -USR1 "$F_LIGHTTPD_PID"
t_true "graceful restart: new workers" t_wait_for two_new_workers "$old"
sleep 1.2
f_load_stop

f_check '
import sys
log, events = sys.argv[1], sys.argv[2:]
rows = sorted((l.split() for l in open(log) if l.strip()), key=lambda r: int(r[0]))
ev = [(int(t), int(up), name) for t, up, name in (e.split(":", 2) for e in events)]
def ok(r):
    return r[1] == "200" and r[3] == "wss://a.example.net/ws"
def end(r):   # a log line: start (ms), status, code, endpoint, duration (ms)
    return int(r[0]) + int(float(r[4]))
window = 1000
restart_max = 2000 + 500   # lighttpd: two seconds; this script: its polling under load
for i, (t, up, name) in enumerate(ev):
    nxt = ev[i + 1][0] if i + 1 < len(ev) else 1 << 62
    # A request belongs to the last fault before it ended: one that began
    # just before a fault and was in flight when it struck counts for it.
    mine = [r for r in rows if t <= end(r) < nxt]
    failed = [r for r in mine if not ok(r)]
    since, down = t, []
    if up:   # every worker was killed: lighttpd answered 503 until the restart
        print(("ok" if up - t <= restart_max else "fail") +
              " %s: lighttpd started new workers within %d ms (%d ms)" % (name, restart_max, up - t))
        since = up
        down = [r for r in failed if r[1] == "503" and int(r[0]) < up]
        failed = [r for r in failed if not (r[1] == "503" and int(r[0]) < up)]
    late = [r for r in failed if int(r[0]) >= since + window]
    print(("ok" if len(failed) <= 8 else "fail") + " %s: only requests in flight failed (%d of %d%s%s)" %
          (name, len(failed), len(mine), (": " + " ".join(failed[0])) if failed else "",
           "; %d answered 503 before the restart" % len(down) if up else ""))
    print(("ok" if mine and not late else "fail") + " %s: every request a second later succeeds (%d failed later)"
          % (name, len(late)))
    after = [r for r in mine if ok(r) and int(r[0]) >= t]
    print(("ok" if after and int(after[0][0]) - since < window else "fail") +
          " %s: served again %s ms after%s" % (name, int(after[0][0]) - t if after else "never",
                                               " (%d ms after the restart)" % (int(after[0][0]) - since)
                                               if up and after else ""))
before = [r for r in rows if end(r) < ev[0][0]]
print(("ok" if before and all(ok(r) for r in before) else "fail") + " before any fault: all served (%d)" % len(before))
notjson = [r for r in rows if r[2] == "NOTJSON" and r[1] == "200"]
print(("ok" if not notjson else "fail") + " every 200 is JSON")
' "$F_LOAD_LOG" "${EVENTS[@]}"
t_eq "graceful restart: no request failed (kept-alive connections closed: $(cat "$F_LOAD_LOG.retries") retried once)" \
    "" "$(awk -v t="${EVENTS[3]%%:*}" '$1 >= t && $2 != "200"' "$F_LOAD_LOG" | head -3)"

# Hard restart on the same port: the first request is served.
port=$F_HTTP_PORT
f_lighttpd_stop
f_req "$URL"
t_eq "lighttpd stopped: nothing answers" 000 "$F_STATUS"
F_HTTP_PORT_WANT=$port f_lighttpd_start 2 WSB_CACHE_MS=100 || { t_fail "lighttpd did not restart"; t_summary; exit 1; }
f_req "$URL"
t_eq "hard restart: the very first request is served from Redis" "200 wss://a.example.net/ws" "$F_STATUS $(f_endpoint)"
t_true "  ... in ${F_MS} ms" test "$F_MS" -lt 1000
t_true "the deaths are in lighttpd's log" grep -q "child signalled: 9" "$T_DIR/error.log"
t_no_sanitizer_reports "no sanitizer reports" "$T_DIR/handler.log" "$T_DIR/lighttpd.stderr"
t_summary
