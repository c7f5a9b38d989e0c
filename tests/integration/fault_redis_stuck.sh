#!/usr/bin/env bash
# fault_redis_stuck.sh: a Redis that accepts connections but never answers
# (the real redis-server stopped with SIGSTOP) holds nobody:
#
#   - a CGI run waiting on it stops at once on SIGTERM (libfcgi's
#     initialisation used to swallow SIGTERM);
#   - a pool worker serves its last snapshot for the stale window, then
#     answers 503 (error 100) at once, never waiting for the refresher's
#     Redis attempts (each up to WSB_REDIS_TIMEOUT_MS, here 2 s);
#   - within a second of Redis going on again, fresh state is served.
. "$(dirname "$0")/web_lib.sh"

t_redis_start
printf '[{"id":"lon","endpoint":"wss://lon.example.net/ws","location":"London","lat":51.5,"lon":-0.1,"versions":["v1"],"online":true,"load":0.1}]' > "$T_DIR/one.json"
t_state "$T_DIR/one.json" 3600
SETTINGS=(WSB_REDIS_URL="$T_REDIS_URL" WSB_REDIS_TIMEOUT_MS=2000 WSB_REDIS_CONNECT_TIMEOUT_MS=2000
          WSB_CACHE_MS=100 WSB_STALE_MAX_MS=1000 WSB_REDIS_RETRY_MS=100)

# The pool, before Redis stops: it reads the state once.
SOCK="$T_DIR/handler.sock"
w_pool_start "$T_DIR/pool.log" SETTINGS "$BUILD/wsb-handler" --listen "$SOCK" --workers 1 --threads 1
w_wait_socket "$SOCK" || { t_fail "pool did not start"; cat "$T_DIR/pool.log" >&2; t_summary; exit 1; }
t_match "served before Redis stops" '"endpoint":"wss://lon' "$(w_fcgi "$SOCK" /v1/websocket/server)"

kill -STOP "$T_REDIS_PID"
trap 'kill -CONT "$T_REDIS_PID" 2>/dev/null; t_cleanup' EXIT

# A CGI run stuck on the stopped Redis, then SIGTERM.
env -i PATH="$PATH" ASAN_OPTIONS="${ASAN_OPTIONS:-}" "${SETTINGS[@]}" GATEWAY_INTERFACE=CGI/1.1 \
    REQUEST_METHOD=GET REQUEST_URI=/v1/websocket/server "$BUILD/wsb-handler" > "$T_DIR/cgi.out" 2> "$T_DIR/cgi.err" &
CGI=$!
sleep 0.5
kill -0 "$CGI" 2>/dev/null && t_pass "the CGI run waits on the stopped Redis" || t_fail "the CGI run should still wait on Redis"
t0=$(date +%s%N)
kill -TERM "$CGI"
wait "$CGI"
rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
t_eq "the CGI run ends by SIGTERM" 143 "$rc"
t_true "... at once (${ms} ms)" test "$ms" -lt 500

# The window closes: the last snapshot serves until the first attempt on
# the stopped Redis has failed (its 2 s timeout) and the window (1 s) is
# over; then 503 (100) at once, request after request.
unavailable() { w_fcgi "$SOCK" /v1/websocket/server | grep -q '"error_code":100'; }
closed_after=0
for i in $(seq 80); do unavailable && break; sleep 0.1; closed_after=$((closed_after + 100)); done
t_true "the stale window closes after the first failed attempt (${closed_after} ms after the CGI check)" \
    test "$closed_after" -lt 6000
slow=0 n_unavailable=0
for i in $(seq 10); do
    t0=$(date +%s%N)
    out=$(w_fcgi "$SOCK" /v1/websocket/server)
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    echo "$ms ms: $out" >> "$T_DIR/answers"
    [ "$ms" -lt 300 ] || slow=$((slow + 1))
    case $out in *'"error_code":100'*) n_unavailable=$((n_unavailable + 1)) ;; esac
    sleep 0.1   # spread over the refresher's attempts
done
t_eq "past the stale window: 503 with error 100" 10 "$n_unavailable"
t_eq "... each at once, not after the refresher's 2 s Redis attempts" 0 "$slow"

kill -CONT "$T_REDIS_PID"
fresh() { w_fcgi "$SOCK" /v1/websocket/server | grep -q '"endpoint":"wss://lon'; }
t_true "fresh state served again once Redis goes on" t_wait_for fresh
t_true "no pool worker died" bash -c "! grep -q 'pool: worker' '$T_DIR/pool.log'"
t_no_sanitizer_reports "no sanitizer reports" "$T_DIR/pool.log" "$T_DIR/cgi.err"
t_summary
