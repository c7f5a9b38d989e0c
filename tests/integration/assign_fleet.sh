#!/usr/bin/env bash
# assign_fleet.sh: fleet-wide assignment accounting end to end, with one real
# redis-server and two real handler pools (`wsb-handler --listen SOCK
# --workers 2`, two "web hosts" of two processes each), driven over FastCGI
# from a London client address (GeoLite2-City-Test):
#   - state written by hand (no round id): no counts in Redis, answers never
#     run out (the control: without accounting, every pool fills the node);
#   - the count crosses processes and hosts: pool 2 sees pool 1's answers in
#     wsb:assigned:<round id> and stops sending clients to the small node once
#     the fleet's total reaches its room;
#   - a new round starts the count afresh;
#   - Redis stopped (SIGSTOP) mid-burst: answers keep coming, fast, from the
#     last counts; one log line per process; the counts land when it returns;
#   - slow start: a node that just came online gets a visibly smaller share;
#   - start budgets: 503/100 past max_new_per_s, with jittered Retry-After.
. "$(dirname "$0")/web_lib.sh"
H="$BUILD/wsb-handler"
LONDON=81.2.69.142     # GeoLite2-City-Test: London
CACHE_MS=100

# Redis on a unix socket only (no TCP port to collide on).
T_REDIS_SOCK="$T_DIR/redis.sock"
mkdir -p "$T_DIR/redis"
redis-server --port 0 --unixsocket "$T_REDIS_SOCK" --unixsocketperm 700 --save '' --appendonly no \
    --dir "$T_DIR/redis" --logfile "$T_DIR/redis.log" --daemonize no &
T_REDIS_PID=$!
T_PIDS+=("$T_REDIS_PID")
T_REDIS_URL="unix://$T_REDIS_SOCK"
R() { redis-cli -s "$T_REDIS_SOCK" "$@"; }
t_wait_for R PING || { t_fail "redis did not start"; cat "$T_DIR/redis.log" >&2; t_summary; exit 1; }

# --- the driver: paced FastCGI requests, one fresh connection each (so that
# a pool's workers share them), alternating over the given sockets; one line
# per answer: "index socket status location|- error_code|- retry_after|-
# ms sent_at_ms"
cat > "$T_DIR/drive.py" <<'PY'
import json, socket, struct, sys, time
socks, n, interval_ms, addr = sys.argv[1].split(","), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]

def record(rtype, content=b""):
    return struct.pack(">BBHHBB", 1, rtype, 1, len(content), 0, 0) + content

def nv(k, v):
    k, v = k.encode(), v.encode()
    return bytes([len(k), len(v)]) + k + v

params = b"".join(nv(k, v) for k, v in (
    ("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/v1/websocket/server"),
    ("SCRIPT_NAME", "/v1/websocket/server"), ("REMOTE_ADDR", addr), ("GATEWAY_INTERFACE", "CGI/1.1")))
request = (record(1, struct.pack(">HB5x", 1, 0)) + record(4, params) + record(4) + record(5))

def read_exact(s, k):
    buf = b""
    while len(buf) < k:
        chunk = s.recv(k - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf

def ask(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect(path)
        s.sendall(request)
        out = b""
        while True:
            _, rtype, _, clen, plen, _ = struct.unpack(">BBHHBB", read_exact(s, 8))
            body = read_exact(s, clen + plen)[:clen]
            if rtype == 6:
                out += body
            elif rtype == 3:
                break
    except (OSError, EOFError):
        return 0, "-", "-", "-"
    finally:
        s.close()
    head, _, body = out.partition(b"\r\n\r\n")
    status, retry = 200, "-"
    for line in head.decode("latin-1").split("\r\n"):
        k, _, v = line.partition(":")
        if k.lower() == "status":
            status = int(v.split()[0])
        elif k.lower() == "retry-after":
            retry = v.strip()
    try:
        j = json.loads(body)
    except ValueError:
        j = {}
    return status, j.get("location", "-"), str(j.get("error_code", "-")), retry

t0 = time.monotonic()
for i in range(n):
    due = t0 + i * interval_ms / 1000.0
    now = time.monotonic()
    if due > now:
        time.sleep(due - now)
    start = time.monotonic()
    status, loc, code, retry = ask(socks[i % len(socks)])
    print(i, i % len(socks) + 1, status, loc, code, retry, int((time.monotonic() - start) * 1000),
          int((start - t0) * 1000), flush=True)
PY
# drive OUT SOCKS N INTERVAL_MS: the answers in $T_DIR/OUT
drive() { python3 "$T_DIR/drive.py" "$2" "$3" "$4" "$LONDON" > "$T_DIR/$1"; }
# count OUT AWK_CONDITION: answers of OUT matching the condition
# ($3 status, $4 location, $5 error_code, $6 Retry-After, $7 ms, $8 sent at
# ms from the start, $2 pool)
count() { awk "$2 {n++} END {print n + 0}" "$T_DIR/$1"; }
assigned() { R HGET "wsb:assigned:$1" "$2" | awk '{print $1 + 0}'; }
# settle: long enough for every process to flush its counts and read the
# fleet's back (a count reaches Redis at the answering process's next
# refresh, the others read it at theirs: two refreshes, plus scheduling)
settle() { sleep 0.4; }

NOW=$(date +%s)
OLD=$((NOW - 100000))
# node ID LOCATION LAT LON CAPACITY CONNECTIONS [EXTRA_JSON]: a record,
# online, changed_at $CHANGED_AT (default: long ago)
node() {
    local load
    load=$(awk -v c="$6" -v k="$5" 'BEGIN {printf "%.4f", c / k}')
    printf '{"id":"%s","endpoint":"wss://%s.example.net/ws","location":"%s","lat":%s,"lon":%s,"versions":["v1"],"online":true,"load":%s,"connections":%s,"capacity":%s,"changed_at":%s%s}' \
        "$1" "$1" "$2" "$3" "$4" "$load" "$6" "$5" "${CHANGED_AT:-$OLD}" "${7:-}"
}
# A: London, capacity 100, 40 connections: room 0.9 * 100 - 40 = 50.
# B: Sydney, far beyond WSB_NEAR_KM, big: London clients spill there only
# when A has no room left.
NODE_A=$(node A London 51.51 -0.13 100 40)
NODE_B=$(node B Sydney -33.87 151.21 100000 0)
ROOM_A=50

# --- state written by hand: no round id ---
R HSET wsb:nodes A "$NODE_A" B "$NODE_B" >/dev/null
R HSET wsb:round at "$NOW" probe manual >/dev/null
R EXPIRE wsb:round 300 >/dev/null

HENV=("WSB_REDIS_URL=unix://$T_REDIS_SOCK" "WSB_GEOIP_DB=$GEOIP_DIR/GeoLite2-City-Test.mmdb" "WSB_CACHE_MS=$CACHE_MS"
      "WSB_STALE_MAX_MS=60000" "WSB_REDIS_TIMEOUT_MS=300" "WSB_REDIS_CONNECT_TIMEOUT_MS=200" "WSB_REDIS_RETRY_MS=100"
      "WSB_RETRY_AFTER=5" "WSB_MAX_LOAD=0.9" "WSB_NEAR_KM=300")
P1="$T_DIR/pool1.sock"; P2="$T_DIR/pool2.sock"
w_pool_start "$T_DIR/pool1.log" HENV "$H" --listen "$P1" --workers 2
POOL1=$W_POOL_PID
w_pool_start "$T_DIR/pool2.log" HENV "$H" --listen "$P2" --workers 2
POOL2=$W_POOL_PID
if ! w_wait_socket "$P1" || ! w_wait_socket "$P2"; then
    t_fail "the pools did not start"; cat "$T_DIR"/pool*.log >&2; t_summary; exit 1
fi
drive warm "$P1,$P2" 2 0
t_eq "both pools answer, from London to London" "2" "$(count warm '$4 == "London"')"

# 100 answers per pool within 1 s, 4 processes: without counts kept in Redis
# each process's own count vanishes at its refresh, so A (room 50) never
# fills and nothing spills to B.
drive byhand "$P1,$P2" 200 5
settle
t_eq "state by hand: 200 answers, all 200" 200 "$(count byhand '$3 == 200')"
t_eq "  ... all to A: without a round id nothing is counted fleet-wide (4x its room)" 200 "$(count byhand '$4 == "London"')"
t_eq "  ... no wsb:assigned key" "" "$(R --scan --pattern 'wsb:assigned:*')"
t_eq "  ... no wsb:starts key" "" "$(R --scan --pattern 'wsb:starts:*')"

# --- a round with an id: the count crosses processes and hosts ---
printf '[%s,%s]' "$NODE_A" "$NODE_B" > "$T_DIR/ab.json"
t_state "$T_DIR/ab.json" 300
ID1=$(R HGET wsb:round id)
t_match "the round has an id" '^[0-9]{13}$' "$ID1"
settle
drive p1 "$P1" 40 10
t_eq "pool 1: 40 answers, all to A (room 50)" 40 "$(count p1 '$4 == "London"')"
a_is() { [ "$(assigned "$1" "$2")" = "$3" ]; }
t_wait_for a_is "$ID1" A 40
t_eq "  ... wsb:assigned:<round id> holds them (pool 1's two processes)" 40 "$(assigned "$ID1" A)"
ttl=$(R TTL "wsb:assigned:$ID1")
t_true "  ... and expires with the round ($ttl s, round ttl 300)" test "$ttl" -gt 0 -a "$ttl" -le 300
settle
# Pool 2 alone would see room 50 and send all 40 to A.  With the fleet's
# 40 it has 10 left.  Slack: an answer reaches Redis at its process's next
# refresh and the other processes at theirs, so a process can be blind to
# another's answers for up to two refreshes (2 x 100 ms); at 80 ms a request
# that is ~3 answers, +1 in flight, +1 for a late refresh on a loaded host.
# (Whatever the timing, each of pool 2's 2 workers gives A at most the 10 it
# sees left: never more than 20.)
SLACK=5
drive p2 "$P2" 40 80
a2=$(count p2 '$4 == "London"')
t_true "pool 2 sees pool 1's count: A gets $a2 of 40 (room left 10, slack $SLACK)" \
    test "$a2" -ge $((ROOM_A - 40)) -a "$a2" -le $((ROOM_A - 40 + SLACK))
t_eq "  ... the rest spills to B" $((40 - a2)) "$(count p2 '$4 == "Sydney"')"
t_true "  ... fleet-wide, A got $((40 + a2)): at most its room $ROOM_A + $SLACK" test $((40 + a2)) -le $((ROOM_A + SLACK))
total_is() { [ "$(($(assigned "$1" A) + $(assigned "$1" B)))" = "$2" ]; }
t_wait_for total_is "$ID1" 80
settle
drive p3 "$P1,$P2" 40 10
t_eq "A full fleet-wide: both pools send nothing more to A" 0 "$(count p3 '$4 == "London"')"
t_eq "  ... 40 answers, all to B" 40 "$(count p3 '$4 == "Sydney"')"
settle
t_eq "wsb:assigned: A counts every answer of both pools" $((40 + a2)) "$(assigned "$ID1" A)"
t_eq "wsb:assigned: B too" $((40 - a2 + 40)) "$(assigned "$ID1" B)"

# --- Redis stops mid-burst ---
# 150 answers over 3 s from both pools; Redis stopped (SIGSTOP: connections
# hang, as with a frozen host) from 1.0 s to 2.2 s.  A is full in this round:
# every process goes on knowing it from the last counts.
for f in pool1 pool2; do wc -l < "$T_DIR/$f.log" > "$T_DIR/$f.mark"; done
drive outage "$P1,$P2" 150 20 &
DRIVER=$!
sleep 1.0
kill -STOP "$T_REDIS_PID"
sleep 1.2
kill -CONT "$T_REDIS_PID"
wait "$DRIVER"
t_eq "Redis stopped mid-burst: 150 answers, all 200" 150 "$(count outage '$3 == 200')"
slow=$(awk '$7 > 100' "$T_DIR/outage" | wc -l)
max=$(awk '$7 > m {m = $7} END {print m + 0}' "$T_DIR/outage")
t_eq "  ... none took over 100 ms (slowest $max ms; Redis timeout 300 ms)" 0 "$slow"
aout=$(count outage '$4 == "London"'); bout=$(count outage '$4 == "Sydney"')
t_eq "  ... none to A: full, as the last counts say" 0 "$aout"
logged() {   # new lines of both pool logs since the mark
    for f in pool1 pool2; do tail -n +$(($(cat "$T_DIR/$f.mark") + 1)) "$T_DIR/$f.log"; done
}
logged > "$T_DIR/outage.log"
# Each process meets the outage at its next refresh: one error line.  A
# process whose state check passed just before Redis stopped meets it in its
# count exchange first: one more, a warning about the accounting.
n_state=$(grep -c 'error: state unreadable: redis' "$T_DIR/outage.log")
n_acct=$(grep -c 'warn: assignment accounting: ' "$T_DIR/outage.log")
n_err=$(grep -c 'error: \|warn: ' "$T_DIR/outage.log")
t_eq "  ... one error line per process (4), naming Redis" "4 4" \
    "$n_state $(grep 'error: state unreadable: redis' "$T_DIR/outage.log" | sed 's/\].*//' | sort -u | wc -l)"
t_true "  ... at most one about the accounting per process ($n_acct)" test "$n_acct" -le 4 -a \
    "$(grep 'warn: assignment accounting: ' "$T_DIR/outage.log" | sed 's/\].*//' | sort -u | wc -l)" = "$n_acct"
t_eq "  ... and no other error or warn line" "$((n_state + n_acct))" "$n_err"
B1=$((40 - a2 + 40))
b_at_least() { [ "$(assigned "$1" B)" -ge "$2" ]; }
t_wait_for b_at_least "$ID1" $((B1 + bout))
settle
# An exchange cut by the stop was received by Redis, which runs it when it
# resumes, and is sent again by its process: those answers count twice (a
# known over-count, in the safe direction: see the report).  Exact otherwise.
over=0
[ "$n_acct" -eq 0 ] || over=$((n_acct * 6))   # one refresh's answers of a process: 100 ms at 20 ms a request, +1
got=$(assigned "$ID1" B)
t_true "Redis back: the $bout answers of the burst land in the count (B: $B1 + $bout = $got, +$over at most)" \
    test "$got" -ge $((B1 + bout)) -a "$got" -le $((B1 + bout + over))
t_eq "  ... A unchanged" $((40 + a2)) "$(assigned "$ID1" A)"
readable() { [ "$(logged | grep -c 'state readable again')" -eq 4 ]; }
t_wait_for readable
t_eq "  ... one line per process says Redis is readable again" 4 "$(logged | grep -c 'state readable again')"

# --- a new round starts the count afresh ---
sleep 0.01
t_state "$T_DIR/ab.json" 300
ID2=$(R HGET wsb:round id)
t_true "a new round, a new id ($ID1 -> $ID2)" test "$ID2" -gt "$ID1"
settle
drive r2 "$P1,$P2" 40 10
t_eq "new round: A gets clients again (all 40: room 50)" 40 "$(count r2 '$4 == "London"')"
settle
t_eq "  ... counted under the new id" 40 "$(assigned "$ID2" A)"
t_eq "  ... the old round's count is left as it was (it expires)" $((40 + a2)) "$(assigned "$ID1" A)"

# --- slow start: a node that just came online gets a smaller share ---
# Two identical nodes in London, room 9000 each; N1 came online now with a
# 600 s window: weight x 0.1 (WSB_SLOW_START_MIN) for the first minute, so
# its expected share is 0.1 / 1.1 = 9 % (18 of 200, sd 4); without slow
# start it would be 50 % (P(<= 40 of 200) ~ 1e-17).
printf '[%s,%s]' "$(CHANGED_AT=$(date +%s) node N1 London-new 51.51 -0.13 10000 0 ',"slow_start_s":600')" \
    "$(node N2 London-old 51.50 -0.12 10000 0 ',"slow_start_s":600')" > "$T_DIR/ss.json"
t_state "$T_DIR/ss.json" 300
settle
drive ss "$P1,$P2" 200 5
new=$(count ss '$4 == "London-new"'); old=$(count ss '$4 == "London-old"')
t_eq "slow start: 200 answers" 200 $((new + old))
t_true "  ... the node in its window gets $new (expected ~18; under 40)" test "$new" -le 40
t_true "  ... but not nothing (the 10 % floor)" test "$new" -ge 3

# --- start budgets: a storm turns into a ramp ---
# One node, big, with max_new_per_s 20: a burst of 300 over 1.5 s from both
# pools.  Past its budget the answer is 503/100 with a Retry-After drawn from
# [ceil(5/2), 5 + floor(5/2)] = [3, 7].
printf '[%s]' "$(node C London-budget 51.51 -0.13 100000 0 ',"max_new_per_s":20')" > "$T_DIR/budget.json"
t_state "$T_DIR/budget.json" 300
settle
drive budget "$P1,$P2" 300 5
ok=$(count budget '$3 == 200'); refused=$(count budget '$3 == 503 && $5 == 100')
dur=$(awk '{t = $8} END {print int(t / 1000) + 1}' "$T_DIR/budget")   # whole seconds, rounded up
t_eq "budget: every answer is 200 or 503/100" 300 $((ok + refused))
# Until the counts show its part, each of the four processes takes an even
# share of the budget (5): the first 5 answers pass whoever gives them.
t_eq "  ... the first 5 (an even share of its budget) are all 200" 5 "$(awk '$1 < 5 && $3 == 200' "$T_DIR/budget" | wc -l)"
first=$(awk '$3 == 503 {print $1; exit}' "$T_DIR/budget")
# The first 503 comes once the fleet's count of this second reaches 20: at
# 5 ms a request, ~40 answers can pass unseen within two refreshes; the four
# processes' own counts alone stop them by 4 x 20 = 80.
t_true "  ... then 503/100, from answer ${first:-none} on (under 80)" test "${first:-999}" -lt 80
t_true "  ... $refused of 300 refused" test "$refused" -ge 150
# About 20 a second fleet-wide over the burst's seconds, plus what passes
# unseen when the window opens (~40, as above).  Without the fleet's
# window each process would start afresh at each of its refreshes: nearly
# all 300 would pass.
t_true "  ... $ok answered over $dur s: about 20 a second fleet-wide (at most 20 x ($dur + 1) + 40)" \
    test "$ok" -le $((20 * (dur + 1) + 40)) -a "$ok" -le 150
retry=$(awk '$3 == 503 {print $6}' "$T_DIR/budget" | sort -n | uniq -c | awk '{printf "%s:%s ", $2, $1}')
t_eq "  ... Retry-After within [3, 7]" 0 "$(awk '$3 == 503 && ($6 < 3 || $6 > 7)' "$T_DIR/budget" | wc -l)"
t_true "  ... and spread ($retry): at least 3 values" test "$(awk '$3 == 503 {print $6}' "$T_DIR/budget" | sort -u | wc -l)" -ge 3
settle
starts=$(R --scan --pattern 'wsb:starts:*' | while read -r k; do R HGET "$k" C; done | awk '{s += $1} END {print s + 0}')
t_eq "  ... wsb:starts:<unix s> counts every start" "$ok" "$starts"
ttl=$(R TTL "$(R --scan --pattern 'wsb:starts:*' | head -1)")
t_true "  ... and expires within 120 s ($ttl s)" test "$ttl" -gt 0 -a "$ttl" -le 120

kill "$POOL1" "$POOL2"
t_no_sanitizer_reports "no sanitizer reports" "$T_DIR/pool1.log" "$T_DIR/pool2.log"
t_summary
