#!/usr/bin/env bash
# soak.sh: SOAK_REQUESTS requests (50,000 in `make test`; `make soak` runs
# 1,000,000) through lighttpd with wrk, a mix of every kind of request
# (located clients over IPv4 and IPv6, three versions, unknown paths, POST,
# CORS preflight; not HEAD, whose Content-Length without a body wrk's parser
# would wait for), while the state changes underneath (loads, drains,
# a bad record) so that snapshots are rebuilt all the time.
#
#   - every answer is one of the exact answers the state allows, each of
#     which is valid JSON (or empty, for HEAD and OPTIONS);
#   - no socket errors, no timeouts;
#   - each handler process's resident memory grows by less than 1 MiB and
#     its open file descriptors do not grow, after a warm-up.
# wsb-test: serial  (a load generator; no timeouts is asserted of a machine it has to itself)
. "$(dirname "$0")/fault_lib.sh"

N=${SOAK_REQUESTS:-50000}
LIMIT_S=${SOAK_LIMIT_S:-$(( N / 1000 + 60 ))}    # a bound on the run, not a speed target
WARM=$(( N / 10 < 5000 ? 5000 : N / 10 ))
command -v wrk >/dev/null || { t_fail "wrk is not installed (scripts/deps.sh)"; t_summary; exit 1; }

t_redis_start
F_ACCESSLOG=0 f_lighttpd_start 2 WSB_CACHE_MS=50 WSB_CORS_ORIGINS=https://app.example.com \
    || { t_fail "lighttpd did not start"; t_summary; exit 1; }

state() {   # load of lon, load of fra
    cat > "$T_DIR/state.json" <<JSON
[{"id":"lon","endpoint":"wss://lon.example.net/ws","location":"London","lat":51.51,"lon":-0.13,"country":"GB","continent":"EU","versions":["v1"],"online":true,"capacity":1000000000,"load":$1},
 {"id":"fra","endpoint":"wss://fra.example.net/ws","location":"Frankfurt","lat":50.11,"lon":8.68,"country":"DE","continent":"EU","versions":["v1","v2"],"online":true,"capacity":1000000000,"load":$2},
 {"id":"tyo","endpoint":"wss://tyo.example.net/ws?x=1&y=%41","location":"東京 (Tokyo)","lat":35.68,"lon":139.69,"country":"JP","continent":"AS","versions":["v1","v2"],"online":true,"capacity":1000000000,"load":0.3},
 {"id":"sea","endpoint":"wss://sea.example.net/ws","location":"Seattle \"WA\"","lat":47.61,"lon":-122.33,"versions":["v1"],"online":true},
 {"id":"off","endpoint":"wss://off.example.net/ws","location":"Offline","versions":["v1","v3"],"online":false}]
JSON
    t_state "$T_DIR/state.json" 600
}
state 0.2 0.3

# Every answer the handler may give, as "STATUS BODY" (one per line).
python3 - "$T_DIR/allowed.txt" <<'PY'
import json, sys
def body(ep, loc):
    return json.dumps({"endpoint": ep, "location": loc}, ensure_ascii=False, separators=(",", ":"))
def err(msg, code):
    return json.dumps({"error_message": msg, "error_code": code}, separators=(",", ":"))
ok = [body("wss://lon.example.net/ws", "London"), body("wss://fra.example.net/ws", "Frankfurt"),
      body("wss://tyo.example.net/ws?x=1&y=%41", "東京 (Tokyo)"), body("wss://sea.example.net/ws", 'Seattle "WA"')]
lines = ["200 " + b for b in ok]
lines += ["503 " + err("no servers are currently online", 101),
          "503 " + err("no servers with this version are available", 102),
          "503 " + err("no servers are currently available", 100),
          "404 " + err("not found: the balancer answers GET /v{N}/websocket/server", 404),
          "405 " + err("method not allowed: use GET, HEAD or OPTIONS", 405),
          "204 "]                      # OPTIONS: no body
for l in lines:                        # each allowed body is valid JSON
    b = l.split(" ", 1)[1]
    if b:
        json.loads(b)
open(sys.argv[1], "w", encoding="utf-8").write("\n".join(lines) + "\n")
PY

cat > "$T_DIR/soak.lua" <<'LUA'
-- Cycles through a mix of requests; checks every answer against the
-- allowed set; each thread stops after its share of requests.
local allowed = {}
for line in io.lines(os.getenv("SOAK_ALLOWED")) do allowed[line] = true end
local share = tonumber(os.getenv("SOAK_SHARE"))
local ips = { "81.2.69.142", "2001:218::1", "216.160.83.56", "89.160.20.112", "175.16.199.1",
              "10.1.2.3", "2a02:cf40::1", "not-an-ip", "1.2.3.4, 81.2.69.142", "::ffff:81.2.69.142" }
local kinds = {
  function(i) return wrk.format("GET", "/v1/websocket/server", { ["X-Forwarded-For"] = ips[i % #ips + 1] }) end,
  function(i) return wrk.format("GET", "/balancer/v2/websocket/server?cb=" .. i, { ["X-Forwarded-For"] = ips[(i * 7) % #ips + 1] }) end,
  function(i) return wrk.format("GET", "/v1/websocket/server", { Origin = "https://app.example.com" }) end,
  function(i) return wrk.format("GET", "/v3/websocket/server") end,
  function(i) return wrk.format("GET", "/v9/websocket/server") end,
  function(i) return wrk.format("GET", "/v1/websocket/servers") end,
  function(i) return wrk.format("POST", "/v1/websocket/server", { ["Content-Type"] = "text/plain" }, "x=1") end,
  function(i) return wrk.format("OPTIONS", "/v1/websocket/server", { Origin = "https://app.example.com", ["Access-Control-Request-Method"] = "GET" }) end,
  function(i) return wrk.format("GET", "/v1/websocket/server", { ["X-Forwarded-For"] = string.rep("1.2.3.4,", 600) }) end,
}
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end
-- globals: done() reads them from each thread with thread:get()
n, bad, first_bad, count = 0, 0, "", 0
function request()
  n = n + 1
  return kinds[n % #kinds + 1](n)
end
function response(status, headers, body)
  count = count + 1
  local key = status .. " " .. (body or "")
  if not allowed[key] then
    bad = bad + 1
    if first_bad == "" then first_bad = key:sub(1, 200) end
  end
  if count == share then
    -- wrk only ends at its -d limit or on SIGINT: say this thread is done
    local f = io.open(os.getenv("SOAK_DONE") .. "." .. id, "w")
    f:close()
    wrk.thread:stop()
  end
end
function done(summary, latency, requests)
  local total, nbad, fb = 0, 0, ""
  for _, t in ipairs(threads) do
    total = total + t:get("count")
    nbad = nbad + t:get("bad")
    if fb == "" then fb = t:get("first_bad") end
  end
  local e = summary.errors
  io.write(string.format("SOAK answers=%d bad=%d connect=%d read=%d write=%d timeout=%d status=%d duration_us=%d p99_us=%d max_us=%d\n",
    total, nbad, e.connect, e.read, e.write, e.timeout, e.status, summary.duration,
    latency:percentile(99), latency.max))
  if fb ~= "" then io.write("SOAK first_bad=" .. fb .. "\n") end
end
LUA

# The state keeps changing: loads, a run-time drain, a malformed record.
churn() {
    local i=0
    while [ ! -e "$T_DIR/churn.stop" ]; do
        i=$((i + 1))
        state "0.$((i % 8 + 1))" "0.$(((i + 3) % 8 + 1))"
        if [ $((i % 3)) = 0 ]; then t_rcli HSET wsb:admin lon drain >/dev/null; else t_rcli HDEL wsb:admin lon >/dev/null; fi
        [ $((i % 4)) = 0 ] && t_rcli HSET wsb:nodes junk '{"endpoint":"javascript:x"' >/dev/null
        sleep 0.2
    done
}

run_wrk() {   # requests, seconds, output file
    rm -f "$T_DIR"/done.*
    SOAK_ALLOWED="$T_DIR/allowed.txt" SOAK_SHARE=$(( ($1 + 1) / 2 )) SOAK_DONE="$T_DIR/done" \
        wrk -t2 -c16 -d"$2"s --timeout 5s -s "$T_DIR/soak.lua" "$F_BASE" > "$3" 2>&1 &
    local w=$!
    while kill -0 "$w" 2>/dev/null; do
        if [ -e "$T_DIR/done.1" ] && [ -e "$T_DIR/done.2" ]; then
            kill -INT "$w"
            break
        fi
        sleep 0.1
    done
    wait "$w"
}
measure() {   # prints "pid rss_kb fds" per handler process
    local p
    for p in $(f_handler_pids); do
        echo "$p $(awk '/^VmRSS:/ {print $2}' "/proc/$p/status") $(ls "/proc/$p/fd" | wc -l)"
    done
}

churn &
CHURN=$!
T_PIDS+=("$CHURN")
run_wrk "$WARM" 60 "$T_DIR/warm.out"
t_match "warm-up: $WARM requests, every answer allowed" "SOAK answers=[0-9]+ bad=0 connect=0 read=0 write=0 timeout=0" \
    "$(grep '^SOAK answers' "$T_DIR/warm.out")"
BEFORE=$(measure)
t0=$(f_now_ms)
run_wrk "$N" "$LIMIT_S" "$T_DIR/soak.out"
t1=$(f_now_ms)
AFTER=$(measure)
touch "$T_DIR/churn.stop"
wait "$CHURN"
line=$(grep '^SOAK answers' "$T_DIR/soak.out")
answers=$(printf '%s' "$line" | sed -n 's/.*answers=\([0-9]*\).*/\1/p')
t_true "$N requests answered within ${LIMIT_S} s (${answers:-0} in $(( (t1 - t0) / 1000 )) s)" \
    test "${answers:-0}" -ge "$N"
t_match "every answer is one of the allowed JSON answers, no socket errors, no timeouts" \
    "bad=0 connect=0 read=0 write=0 timeout=0" "$line"
grep '^SOAK first_bad' "$T_DIR/soak.out" >&2
t_match "the same handler processes before and after" "^$(echo "$BEFORE" | awk '{print $1}' | tr '\n' ' ')$" \
    "$(echo "$AFTER" | awk '{print $1}' | tr '\n' ' ')"
while read -r pid rss fds; do
    a=$(echo "$AFTER" | awk -v p="$pid" '$1 == p')
    [ -n "$a" ] || continue
    rss2=$(echo "$a" | awk '{print $2}') fds2=$(echo "$a" | awk '{print $3}')
    if f_sanitized; then
        # ASan holds freed memory in quarantine: RSS says nothing there;
        # LeakSanitizer checks leaks at exit instead.
        echo "handler $pid: resident memory ${rss} -> ${rss2} kB (ASan build: not judged)"
    else
        t_true "handler $pid: resident memory ${rss} -> ${rss2} kB (growth < 1024 kB)" test $((rss2 - rss)) -lt 1024
    fi
    t_true "handler $pid: open file descriptors ${fds} -> ${fds2} (no growth)" test "$fds2" -le "$fds"
done <<< "$BEFORE"
{
    echo "soak: $N requests in $(( t1 - t0 )) ms ($(( ${answers:-0} * 1000 / (t1 - t0 + 1) )) requests/s)"
    echo "$line"
    echo "before (pid rss_kb fds):"; echo "$BEFORE"
    echo "after:"; echo "$AFTER"
} > "$T_DIR/soak.summary"
[ -n "${SOAK_REPORT:-}" ] && cp "$T_DIR/soak.summary" "$SOAK_REPORT"
[ -n "${T_VERBOSE:-}${SOAK_REPORT:-}" ] && cat "$T_DIR/soak.summary"
t_no_sanitizer_reports "no sanitizer reports" "$T_DIR/handler.log" "$T_DIR/lighttpd.stderr"
t_summary
