#!/usr/bin/env bash
# handler_watch.sh: change detection (README "Reading state") through
# lighttpd with two handler processes, WSB_CACHE_MS=100:
#   - an unchanged state is not read again: idle processes only ask
#     (MULTI, EXEC, WATCH, EXISTS) every WSB_CACHE_MS, no HGETALL;
#   - an operator's drain (HSET <prefix>admin id drain), a changed record, the
#     round's expiry and a FLUSHDB are seen within a refresh or two;
#   - through a replica, what is written on the primary is seen the same way;
#   - through a proxy that closes the connection on WATCH (as twemproxy does
#     with commands it does not know), the handler still serves and sees
#     changes, reading the whole state each time, with one warn line.
. "$(dirname "$0")/fault_lib.sh"
# Change detection is the subject here: rounds without an id, so that no
# assignment exchange (its own HGETALL every WSB_CACHE_MS) adds to the counts.
export T_STATE_NO_ID=1

T_REDIS_EXTRA="--repl-diskless-sync-delay 0" t_redis_start primary   # a replica's first sync at once
PRIMARY_PORT=$T_REDIS_PORT; PRIMARY_URL=$T_REDIS_URL
URL=""
state_ab() {   # a and b online, the round lives an hour
    printf '[%s,%s]' "$(f_node a wss://a.example.net/ws)" "$(f_node b wss://b.example.net/ws)" > "$T_DIR/ab.json"
    t_state "$T_DIR/ab.json" 3600
}
# answers N: the endpoints (or error codes) of N requests, sorted and counted
answers() {
    f_answers "$1" "$URL" endpoint error_code | awk -F'\t' '{ if ($1 == 200) print $2; else print "error " $3 }' |
        sort | uniq -c | awk '{print $2 " " $3}' | sed 's/ $//' | tr '\n' ',' | sed 's/,$//'
}
# stats PORT: reads INFO commandstats there once; stat COMMAND: its calls
# since the last CONFIG RESETSTAT, as that INFO said
stats() { STATS=$(redis-cli -p "$1" INFO commandstats | tr -d '\r'); }
stat() {
    local n
    n=$(printf '%s\n' "$STATS" | sed -n "s/^cmdstat_$1:calls=\([0-9]*\),.*/\1/p")
    echo "${n:-0}"
}
# settle: two refreshes at least
settle() { sleep 0.35; }

# --- one Redis: unchanged state, changes --------------------------------------
state_ab
f_lighttpd_start 2 WSB_CACHE_MS=100 || { t_fail "lighttpd did not start"; t_summary; exit 1; }
URL="$F_BASE/v1/websocket/server"
f_wait_served "$URL" || t_fail "served at all"
sleep 0.5   # each process: a plain first read, then one under a watch
redis-cli -p "$PRIMARY_PORT" CONFIG RESETSTAT >/dev/null
sleep 1     # no request
stats "$PRIMARY_PORT"
t_eq "idle, unchanged: no process reads the state again" 0 "$(stat hgetall)"
execs=$(stat exec)
t_true "  ... but both ask every WSB_CACHE_MS (EXEC: $execs in 1 s)" test "$execs" -ge 8 -a "$execs" -le 30
t_eq "  ... four commands per question" "$execs $execs $execs" "$(stat multi) $(stat watch) $(stat exists)"

redis-cli -p "$PRIMARY_PORT" CONFIG RESETSTAT >/dev/null
t_rcli HSET wsb:admin a drain >/dev/null
settle
t_eq "drained by an operator (HSET wsb:admin a drain): seen" "wss://b.example.net/ws" "$(answers 10)"
stats "$PRIMARY_PORT"
t_eq "  ... each process read the state once for it" 4 "$(stat hgetall)"
t_rcli HDEL wsb:admin a >/dev/null
t_rcli HSET wsb:nodes b "$(f_node b wss://b2.example.net/ws | sed 's/"id":"b",//')" >/dev/null
t_rcli HSET wsb:nodes a "$(f_node a wss://a.example.net/ws false | sed 's/"id":"a",//')" >/dev/null
settle
t_eq "undrained, a offline, b's endpoint changed: seen" "wss://b2.example.net/ws" "$(answers 10)"
t_rcli PEXPIRE wsb:round 200 >/dev/null
sleep 0.6
t_eq "the round expired: 101" "error 101" "$(answers 5)"
state_ab
settle
t_eq "a new round: both served" "wss://a.example.net/ws,wss://b.example.net/ws" "$(answers 30)"
t_rcli FLUSHDB >/dev/null
settle
t_eq "FLUSHDB: seen (no state: 100)" "error 100" "$(answers 5)"
state_ab
f_lighttpd_stop

# --- through a replica --------------------------------------------------------
T_REDIS_EXTRA="--replicaof 127.0.0.1 $PRIMARY_PORT" t_redis_start replica
REPLICA_PORT=$T_REDIS_PORT; REPLICA_URL=$T_REDIS_URL
T_REDIS_PORT=$PRIMARY_PORT; T_REDIS_URL=$PRIMARY_URL   # t_rcli and t_state: the primary
t_wait_for bash -c "redis-cli -p $REPLICA_PORT INFO replication | grep -q 'master_link_status:up'"
on_replica() { t_wait_for bash -c "[ \"\$(redis-cli -p $REPLICA_PORT $1)\" = '$2' ]"; }
on_replica "HGET wsb:nodes a" "$(t_rcli HGET wsb:nodes a)"
f_lighttpd_start 2 WSB_CACHE_MS=100 WSB_REDIS_URL="$REPLICA_URL" || { t_fail "lighttpd did not start"; t_summary; exit 1; }
URL="$F_BASE/v1/websocket/server"
f_wait_served "$URL" || t_fail "served through the replica"
sleep 0.5
redis-cli -p "$REPLICA_PORT" CONFIG RESETSTAT >/dev/null
sleep 1
stats "$REPLICA_PORT"
t_eq "replica, unchanged: no process reads the state again" 0 "$(stat hgetall)"
t_true "  ... they ask the replica every WSB_CACHE_MS" test "$(stat exec)" -ge 8
t_rcli HSET wsb:admin a drain >/dev/null
on_replica "HGET wsb:admin a" drain
settle
t_eq "replica: a drain written on the primary is seen" "wss://b.example.net/ws" "$(answers 10)"
t_rcli HDEL wsb:admin a >/dev/null
t_rcli PEXPIRE wsb:round 200 >/dev/null
sleep 0.6
t_eq "replica: the round expired on the primary: 101" "error 101" "$(answers 5)"
state_ab
settle
t_eq "replica: a new round on the primary is seen" "wss://a.example.net/ws,wss://b.example.net/ws" \
    "$(answers 30)"
f_lighttpd_stop

# --- through a proxy that closes the connection on WATCH --------------------
PROXY_PORT=$(t_free_port)
cat > "$T_DIR/proxy.py" <<'PY'
import socket, sys, threading
lport, rport, ready = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", lport))
srv.listen(64)
open(ready, "w").close()
def close(*socks):
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
def pipe(src, dst, refuse_watch):
    try:
        while True:
            d = src.recv(65536)
            if not d or (refuse_watch and b"\r\nWATCH\r\n" in d.upper()):
                break
            dst.sendall(d)
    except OSError:
        pass
    close(src, dst)
while True:
    c, _ = srv.accept()
    r = socket.create_connection(("127.0.0.1", rport))
    threading.Thread(target=pipe, args=(c, r, True), daemon=True).start()
    threading.Thread(target=pipe, args=(r, c, False), daemon=True).start()
PY
python3 "$T_DIR/proxy.py" "$PROXY_PORT" "$PRIMARY_PORT" "$T_DIR/proxy.ready" 2>>"$T_DIR/proxy.err" &
T_PIDS+=($!)
t_wait_for test -e "$T_DIR/proxy.ready" || t_fail "the proxy did not start"
: > "$T_DIR/handler.log"
f_lighttpd_start 1 WSB_CACHE_MS=100 WSB_REDIS_URL="redis://127.0.0.1:$PROXY_PORT/0" ||
    { t_fail "lighttpd did not start"; t_summary; exit 1; }
URL="$F_BASE/v1/websocket/server"
f_wait_served "$URL" || t_fail "served through the proxy"
sleep 0.5
t_eq "proxy without WATCH: serves" "wss://a.example.net/ws,wss://b.example.net/ws" "$(answers 30)"
t_rcli HSET wsb:admin b drain >/dev/null
settle
t_eq "proxy without WATCH: a drain is seen" "wss://a.example.net/ws" "$(answers 10)"
redis-cli -p "$PRIMARY_PORT" CONFIG RESETSTAT >/dev/null
sleep 1
stats "$PRIMARY_PORT"
hgetall=$(stat hgetall)
t_true "  ... by reading the whole state every WSB_CACHE_MS ($hgetall HGETALL in 1 s)" test "$hgetall" -ge 8
t_eq "  ... no EXEC sent" 0 "$(stat exec)"
t_eq "one warn line says why" 1 "$(grep -c 'no change detection (the connection closed after WATCH' "$T_DIR/handler.log")"
t_true "  ... and nothing was unreadable" bash -c "! grep -q 'state unreadable' '$T_DIR/handler.log'"
f_lighttpd_stop
t_no_sanitizer_reports "no sanitizer reports" "$T_DIR/handler.log" "$T_DIR/lighttpd.stderr"
t_summary
