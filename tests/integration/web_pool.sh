#!/usr/bin/env bash
# web_pool.sh: `wsb-handler --listen ADDR --workers N [--threads T]`, the
# handler's own pre-forked pool: argument and socket errors, unix and TCP
# sockets, socket mode, a killed worker restarted (one log line each) with a
# growing delay when workers keep dying at once, SIGTERM stopping everything
# and removing the socket, a stale socket replaced, workers leaving with a
# killed pool, threads, busy polling (WSB_BUSY_POLL_US: no sleep between
# requests, sleep when idle), and the pool on a socket inherited as standard input
# (spawn-fcgi, systemd StandardInput=socket).  Requests are sent straight
# over FastCGI with cgi-fcgi (libfcgi-bin); no web server needed.
. "$(dirname "$0")/../lib.sh"
H="$BUILD/wsb-handler"

t_redis_start
printf '[{"id":"lon","endpoint":"wss://lon.example.net/ws","location":"London","lat":51.5,"lon":-0.1,"versions":["v1"],"online":true,"load":0.1}]' > "$T_DIR/s.json"
t_state "$T_DIR/s.json"
export WSB_REDIS_URL=$T_REDIS_URL

# fcgi ADDR [PATH]: one GET over FastCGI; prints the CGI response.
fcgi() {
    env -i PATH="$PATH" GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=GET REQUEST_URI="${2:-/v1/websocket/server}" \
        SCRIPT_NAME="${2:-/v1/websocket/server}" REMOTE_ADDR=127.0.0.1 \
        timeout 5 cgi-fcgi -bind -connect "$1" < /dev/null 2>/dev/null
}
served() { fcgi "$@" | grep -q '"location":"London"'; }
workers_of() { pgrep -P "$1" | sort; }
count_workers() { workers_of "$1" | wc -l; }
has_workers() { [ "$(count_workers "$1")" -eq "$2" ]; }   # pid n
# start_pool LOG ARGS...: starts a pool in the background, sets POOL_PID.
start_pool() {
    local log=$1; shift
    "$H" "$@" 2>>"$log" &
    POOL_PID=$!
    T_PIDS+=("$POOL_PID")
}
wait_gone() {   # pid: waits up to 5 s for the process to end
    for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.05; done
    return 1
}

# --- arguments and sockets that cannot work: exit 2 with the reason ---
expect_usage() {   # name, expected text, args...
    local name=$1 want=$2; shift 2
    "$H" "$@" </dev/null >"$T_DIR/out" 2>&1
    local rc=$?
    t_eq "$name: exit 2" 2 "$rc"
    t_true "$name: says '$want'" grep -q -- "$want" "$T_DIR/out"
}
expect_usage "--workers 0" "--workers: '0' is not a whole number in 1..1024" --listen "$T_DIR/x.sock" --workers 0
expect_usage "--threads 9999" "--threads: '9999'" --listen "$T_DIR/x.sock" --threads 9999
expect_usage "--socket-mode 999" "not an octal mode" --listen "$T_DIR/x.sock" --socket-mode 999
expect_usage "--socket-mode without --listen" "--socket-mode needs --listen" --socket-mode 0660
expect_usage "--socket-mode on TCP" "applies to a unix socket" --listen "127.0.0.1:$(t_free_port)" --socket-mode 0660
expect_usage "--listen without value" "--listen: needs" --listen
expect_usage "--listen nonsense" "neither a socket path" --listen nonsense
expect_usage "--listen bad port" "is not a port" --listen 127.0.0.1:99999
expect_usage "--listen missing folder" "bind: No such file or directory" --listen "$T_DIR/nope/x.sock"
expect_usage "--workers under CGI" "need a FastCGI socket" --workers 2
expect_usage "--check with --listen" "--check runs alone" --check --listen "$T_DIR/x.sock"
: > "$T_DIR/regular"
expect_usage "--listen on a regular file" "exists and is not a socket" --listen "$T_DIR/regular"
t_true "the regular file is left alone" test -f "$T_DIR/regular"
WSB_MAX_LOAD=2 "$H" --listen "$T_DIR/cfg.sock" --workers 2 </dev/null >"$T_DIR/out" 2>&1
t_eq "bad configuration: exit 2" 2 "$?"
t_true "bad configuration: names the variable" grep -q "configuration: WSB_MAX_LOAD" "$T_DIR/out"
t_true "bad configuration: no socket created" test ! -e "$T_DIR/cfg.sock"
out=$("$H" --help)
t_match "--help documents the pool" "--listen ADDR.*--workers N.*--threads T" "$(printf '%s' "$out" | tr '\n' ' ')"

# --- a unix socket pool ---
SOCK="$T_DIR/pool.sock"
start_pool "$T_DIR/pool.log" --listen "$SOCK" --workers 3 --socket-mode 0660
t_wait_for served "$SOCK"
t_true "unix socket pool serves" served "$SOCK"
t_eq "socket mode 0660" 660 "$(stat -c %a "$SOCK")"
t_wait_for has_workers "$POOL_PID" 3
t_eq "three workers" 3 "$(count_workers "$POOL_PID")"
t_true "start logged" grep -q "pool: serving $SOCK with 3 worker(s) of 1 thread(s)" "$T_DIR/pool.log"
fcgi "$SOCK" /nothing > "$T_DIR/r404"
t_true "404 through the pool" grep -q '^Status: 404' "$T_DIR/r404"
expect_usage "--listen on a live socket" "another process is serving this socket" --listen "$SOCK"
t_true "the live socket still serves" served "$SOCK"

# A killed worker is restarted, with one log line.
victim=$(workers_of "$POOL_PID" | head -1)
kill -9 "$victim"
t_wait_for grep -q "pid $victim) was killed by SIGKILL" "$T_DIR/pool.log"
t_true "killed worker logged" grep -q "worker [0-9]* (pid $victim) was killed by SIGKILL after [0-9]* ms.*; restarting it" "$T_DIR/pool.log"
t_wait_for has_workers "$POOL_PID" 3
t_eq "replaced: three workers again" 3 "$(count_workers "$POOL_PID")"
t_true "the killed pid is gone from the pool" bash -c "! pgrep -P $POOL_PID | grep -qx $victim"
t_true "still serves" served "$SOCK"
t_eq "one line for one restart" 1 "$(grep -c "pid $victim)" "$T_DIR/pool.log")"

# A worker stopped with SIGTERM finishes and is replaced too.
victim=$(workers_of "$POOL_PID" | head -1)
kill -TERM "$victim"
t_wait_for grep -q "pid $victim) exited with status 0" "$T_DIR/pool.log"
t_true "a worker stopped by SIGTERM exits 0 and is replaced" grep -q "pid $victim) exited with status 0" "$T_DIR/pool.log"

# Workers that die right after starting are restarted with a growing delay:
# kill every worker as soon as it is there, three times over.
kill_all_new() {   # waits for 3 workers none of which was killed yet, kills them
    local ws=""
    for _ in $(seq 250); do
        ws=$(workers_of "$POOL_PID")
        if [ "$(printf '%s\n' $ws | wc -l)" -eq 3 ] && ! printf '%s\n' $ws | grep -qxF -f "$T_DIR/killed"; then
            break
        fi
        sleep 0.02
    done
    printf '%s\n' $ws >> "$T_DIR/killed"
    kill -9 $ws
}
workers_of "$POOL_PID" > "$T_DIR/killed.old"; : > "$T_DIR/killed"
kill_all_new; kill_all_new; kill_all_new
t_wait_for grep -q 'restarting it in 200 ms' "$T_DIR/pool.log"
t_true "quick deaths: restarted after 100 ms, then 200 ms" \
    bash -c "grep -q 'pid [0-9]*) was killed by SIGKILL after [0-9]* ms (1 quick exits in a row); restarting it in 100 ms' '$T_DIR/pool.log' && grep -q '(2 quick exits in a row); restarting it in 200 ms' '$T_DIR/pool.log'"
t_wait_for has_workers "$POOL_PID" 3
t_eq "after the backoff: three workers" 3 "$(count_workers "$POOL_PID")"
t_true "served after the backoff" served "$SOCK"

# Parallel requests over many connections.
pids=()
for i in $(seq 30); do (served "$SOCK" && echo ok >> "$T_DIR/par") & pids+=($!); done
wait "${pids[@]}"
t_eq "30 parallel requests served" 30 "$(wc -l < "$T_DIR/par")"

# SIGTERM stops the pool: every worker, the socket file, exit 0.
ws=$(workers_of "$POOL_PID")
kill -TERM "$POOL_PID"
wait "$POOL_PID"
rc=$?
t_eq "SIGTERM: pool exits 0" 0 "$rc"
t_true "SIGTERM: socket removed" test ! -e "$SOCK"
alive=0; for w in $ws; do kill -0 "$w" 2>/dev/null && alive=$((alive + 1)); done
t_eq "SIGTERM: no worker left" 0 "$alive"
t_true "stop logged" grep -q "pool: stopping on SIGTERM" "$T_DIR/pool.log"

# --- a pool killed outright: workers follow it, the stale socket is reused ---
start_pool "$T_DIR/pool2.log" --listen "$SOCK" --workers 2 --threads 4
t_wait_for served "$SOCK"
t_true "pool with threads serves" served "$SOCK"
rm -f "$T_DIR/par"; pids=()
for i in $(seq 30); do (served "$SOCK" && echo ok >> "$T_DIR/par") & pids+=($!); done
wait "${pids[@]}"
t_eq "threads: 30 parallel requests served" 30 "$(wc -l < "$T_DIR/par")"
ws=$(workers_of "$POOL_PID")
{ kill -9 "$POOL_PID"; wait "$POOL_PID"; } 2>/dev/null
alive=1
for _ in $(seq 100); do
    alive=0; for w in $ws; do kill -0 "$w" 2>/dev/null && alive=$((alive + 1)); done
    [ "$alive" -eq 0 ] && break; sleep 0.05
done
t_eq "pool killed with SIGKILL: its workers stop too" 0 "$alive"
t_true "stale socket file left behind" test -S "$SOCK"
start_pool "$T_DIR/pool3.log" --listen "$SOCK" --workers 1
t_wait_for served "$SOCK"
t_true "a stale socket is replaced" served "$SOCK"
kill -INT "$POOL_PID"; wait "$POOL_PID"
t_eq "SIGINT: exit 0" 0 "$?"

# --- busy polling (WSB_BUSY_POLL_US) ---
WSB_BUSY_POLL_US=10001 expect_usage "WSB_BUSY_POLL_US too large" "configuration: WSB_BUSY_POLL_US" --listen "$T_DIR/bp.sock" --workers 1
# busy_run ENV...: a one-worker pool with ENV answers 100 requests 2 ms
# apart on one kept connection, then idles a second.  Sets OK, LATE (gaps
# this side made over 8 ms: a loaded machine's delays), SLEPT (times the
# worker slept during the requests) and IDLE (its CPU ticks in the idle
# second).  Sleeps are counted by the kernel (voluntary context switches,
# every thread), which CPU contention from other tests does not change;
# WSB_CACHE_MS keeps the state refresher from waking in between.
sleeps() { cat /proc/"$1"/task/*/status | awk '/^voluntary_ctxt_switches/ {s += $2} END {print s + 0}'; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
busy_run() {
    OK=0; LATE=0; SLEPT=-1; IDLE=-1
    env WSB_CACHE_MS=60000 "$@" "$H" --listen "$T_DIR/bp.sock" --workers 1 >/dev/null 2>>"$T_DIR/bp.log" &
    POOL_PID=$!
    T_PIDS+=("$POOL_PID")
    if t_wait_for served "$T_DIR/bp.sock"; then
        local w s0 t1
        w=$(workers_of "$POOL_PID")
        s0=$(sleeps "$w")
        read -r OK LATE < <(python3 "$T_ROOT/tests/tools/fcgi_conn.py" "$T_DIR/bp.sock" paced 100 2)
        SLEPT=$(($(sleeps "$w") - s0)); t1=$(ticks "$w")
        sleep 1
        IDLE=$(($(ticks "$w") - t1))
    fi
    kill "$POOL_PID"; wait "$POOL_PID"
}
busy_run WSB_BUSY_POLL_US=0
t_eq "no busy polling: 100 paced requests answered" 100 "$OK"
t_true "no busy polling: the worker sleeps between requests ($SLEPT sleeps)" test "$SLEPT" -ge 80
busy_run WSB_BUSY_POLL_US=10000
t_eq "busy polling 10 ms: 100 requests 2 ms apart answered" 100 "$OK"
t_true "busy polling 10 ms: the worker does not sleep between them ($SLEPT sleeps, $LATE late gaps)" \
    test "$SLEPT" -ge 0 -a "$SLEPT" -le $((LATE + 10))
t_true "busy polling 10 ms: an idle worker sleeps ($IDLE CPU ticks in an idle second)" test "$IDLE" -ge 0 -a "$IDLE" -le 10
t_true "busy polling logged" grep -q "busy polling: each loop polls for 10000 us after its last request" "$T_DIR/bp.log"

# --- TCP ---
PORT=$(t_free_port)
start_pool "$T_DIR/tcp.log" --listen ":$PORT" --workers 2
t_wait_for served "127.0.0.1:$PORT"
t_true "TCP :PORT serves" served "127.0.0.1:$PORT"
t_match ":PORT listens on loopback only" "127\.0\.0\.1:$PORT" "$(ss -Hltn "sport = :$PORT")"
kill "$POOL_PID"; wait "$POOL_PID"
if python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1",0))' 2>/dev/null; then
    PORT=$(t_free_port)
    start_pool "$T_DIR/tcp6.log" --listen "[::1]:$PORT" --workers 1
    t_wait_for bash -c "ss -Hltn 'sport = :$PORT' | grep -q LISTEN"
    t_match "[::1]:PORT listens on IPv6 loopback" "\[::1\]:$PORT" "$(ss -Hltn "sport = :$PORT")"
    kill "$POOL_PID"; wait "$POOL_PID"
fi

# --- the pool on a socket inherited as standard input (spawn-fcgi -n) ---
spawn-fcgi -n -s "$T_DIR/spawn.sock" -M 0600 -- "$H" --workers 2 2>>"$T_DIR/spawn.log" &
POOL_PID=$!
T_PIDS+=("$POOL_PID")
t_wait_for served "$T_DIR/spawn.sock"
t_true "spawn-fcgi + --workers on standard input serves" served "$T_DIR/spawn.sock"
t_eq "two workers on standard input" 2 "$(count_workers "$POOL_PID")"
t_true "logged as standard input" grep -q "pool: serving the socket on standard input with 2 worker(s)" "$T_DIR/spawn.log"
kill "$POOL_PID"; wait "$POOL_PID"
t_eq "stdin pool: SIGTERM exits 0" 0 "$?"

t_no_sanitizer_reports "no sanitizer reports from the pools" "$T_DIR"/*.log
t_summary
