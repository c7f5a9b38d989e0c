#!/usr/bin/env bash
# fault_lib.sh: helpers for the fault, soak and security tests
# (fault_*.sh, soak*.sh, security_*.sh), on top of tests/lib.sh.  Sourced
# by them; run on its own (as tests/run.sh does with every script here) it
# checks the helpers themselves.
#
#   f_lighttpd_start PROCS [VAR=VALUE...]
#                        lighttpd from examples/lighttpd/lighttpd.conf, templated
#                        for private ports and paths, PROCS handler processes,
#                        the handler environment overridden by VAR=VALUE (an
#                        empty VALUE removes the variable); sets F_BASE,
#                        F_HTTP_PORT, F_LIGHTTPD_PID.  F_ACCESSLOG=0 turns the
#                        access log off; F_HTTP_PORT_WANT=N reuses port N;
#                        F_HANDLER_CMD replaces the handler command line.
#   f_lighttpd_stop      stops it (SIGTERM, waits)
#   f_handler_pids       the pids of the handler processes lighttpd runs
#   f_req [curl args] URL  one request: F_STATUS, F_BODY, F_MS (duration),
#                        F_HEADERS (raw)
#   f_code / f_endpoint  error_code / endpoint of F_BODY ("" when absent)
#   f_wait_served URL    waits (5 s) until URL answers 200: every handler caches
#                        the state for WSB_CACHE_MS, so a state just written may
#                        not be seen at once
#   f_node ID ENDPOINT [ONLINE] [LOAD]   one node record for t_state
#   f_load_start URL SECONDS THREADS ["Header: value"...]
#                        a load generator in the background (a header value
#                        RANDOM_IP is a random IPv4 address per request)
#                        (keep-alive connections), returning once each client
#                        has had answers; its log goes to F_LOAD_LOG:
#                        one line per answer "t_ms status code endpoint
#                        latency_ms" (t_ms on the epoch clock), "ERR" lines
#                        for failed requests; F_LOAD_LOG.retries counts requests
#                        retried once because the server had just closed
#                        their kept-alive connection (as browsers retry)
#                        (F_LOAD_NAME=x: x.log, so that several can run; keep
#                        F_LOAD_PID and F_LOAD_LOG of each for f_load_stop)
#   f_load_stop          stops it and waits for its log
#   f_now_ms             epoch milliseconds
#   f_check PYTHON [ARGS]  runs a Python check over files; each line it prints,
#                        "ok NAME" or "fail NAME: WHY", becomes t_pass / t_fail
#   f_ports N            F_PORT_BASE: N consecutive free loopback ports
#   f_standin CONFIG     starts tests/tools/standin_node.py, waits until ready
#   f_sanitized          true when $BUILD/wsb-handler is built with ASan
if [ -z "${T_ROOT:-}" ]; then
    # shellcheck source=../lib.sh
    . "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
fi

f_now_ms() { date +%s%3N; }

f_lighttpd_start() {
    local procs=$1; shift
    local port=${F_HTTP_PORT_WANT:-}
    [ -n "$port" ] || port=$(t_free_port)
    F_HTTP_PORT=$port
    mkdir -p "$T_DIR/www" "$T_DIR/run"
    python3 - "$T_ROOT/examples/lighttpd/lighttpd.conf" "$T_DIR/lighttpd.conf" "$port" "$T_DIR" \
        "${F_HANDLER_CMD:-$BUILD/wsb-handler}" "$procs" "${F_ACCESSLOG:-1}" "WSB_REDIS_URL=${T_REDIS_URL:-}" \
        "WSB_GEOIP_DB=$GEOIP_DIR/GeoLite2-City-Test.mmdb" "$@" <<'PY' || return 1
import re, sys
src, dst, port, tdir, handler, procs, accesslog = sys.argv[1:8]
env = {}
for kv in sys.argv[8:]:
    k, _, v = kv.partition("=")
    env[k] = v
text = open(src).read()
subs = {
    r'server\.port\s*=.*': 'server.port = %s' % port,
    r'server\.document-root\s*=.*': 'server.document-root = "%s/www"' % tdir,
    r'server\.errorlog\s*=.*': 'server.errorlog = "%s/error.log"' % tdir,
    r'server\.breakagelog\s*=.*': 'server.breakagelog = "%s/handler.log"' % tdir,
    r'accesslog\.filename\s*=.*': 'accesslog.filename = "%s"' % ("%s/access.log" % tdir if accesslog == "1" else "/dev/null"),
    r'server\.pid-file\s*=.*': 'server.pid-file = "%s/lighttpd.pid"' % tdir,
    r'"bin-path"\s*=>\s*"[^"]*"': '"bin-path" => "%s"' % handler,
    r'"socket"\s*=>\s*"[^"]*"': '"socket" => "%s/run/handler.sock"' % tdir,
    r'"min-procs"\s*=>\s*\d+': '"min-procs" => %s' % procs,
    r'"max-procs"\s*=>\s*\d+': '"max-procs" => %s' % procs,
}
for pat, rep in subs.items():
    text, n = re.subn(pat, lambda m: rep, text)
    if n == 0:
        sys.exit("fault_lib: the example has no line matching " + pat)
# The handler environment: replace the example's values, add the others.
m = re.search(r'"bin-environment"\s*=>\s*\(\n(.*?)\n(\s*)\),', text, re.S)
if not m:
    sys.exit("fault_lib: the example has no bin-environment block")
lines, seen = [], set()
for line in m.group(1).split("\n"):
    km = re.match(r'\s*"(WSB_[A-Z_]+)"\s*=>', line)
    if km and km.group(1) in env:
        seen.add(km.group(1))
        if env[km.group(1)] != "":
            lines.append('            "%s" => "%s",' % (km.group(1), env[km.group(1)]))
        continue
    lines.append(line)
for k, v in env.items():
    if k not in seen and v != "":
        lines.append('            "%s" => "%s",' % (k, v))
text = text[:m.start(1)] + "\n".join(lines) + text[m.end(1):]
open(dst, "w").write(text)
PY
    F_BASE="http://127.0.0.1:$port"
    lighttpd -D -f "$T_DIR/lighttpd.conf" 2>>"$T_DIR/lighttpd.stderr" &
    F_LIGHTTPD_PID=$!
    T_PIDS+=("$F_LIGHTTPD_PID")
    if ! t_wait_for curl -s -o /dev/null "$F_BASE/"; then
        echo "lighttpd did not start" >&2
        cat "$T_DIR/lighttpd.stderr" "$T_DIR/error.log" >&2 2>/dev/null
        return 1
    fi
}

f_lighttpd_stop() {
    kill "$F_LIGHTTPD_PID" 2>/dev/null
    local i
    for i in $(seq 100); do kill -0 "$F_LIGHTTPD_PID" 2>/dev/null || return 0; sleep 0.05; done
    kill -9 "$F_LIGHTTPD_PID" 2>/dev/null
}

f_handler_pids() {
    pgrep -P "$F_LIGHTTPD_PID" -x wsb-handler | sort -n | tr '\n' ' ' | sed 's/ $//'
}

f_req() {
    local t0 out
    t0=$(date +%s%N)
    out=$(curl -s -m 10 -D "$T_DIR/f_h" -o "$T_DIR/f_b" -w '%{http_code}' "$@")
    F_MS=$((($(date +%s%N) - t0) / 1000000))
    F_STATUS=$out
    F_HEADERS=$(cat "$T_DIR/f_h" 2>/dev/null)
    F_BODY=$(cat "$T_DIR/f_b" 2>/dev/null)
}

# f_json_field NAME: field NAME of F_BODY, a JSON object ("" when the body
# is no single JSON object or has no such field).  jq when it is here: a
# Python start per answer is a third of a second on a loaded machine.
f_json_field() {
    if command -v jq >/dev/null; then
        printf '%s' "$F_BODY" | jq -rs --arg k "$1" \
            'if length == 1 and (.[0] | type) == "object" then .[0][$k] // "" else "" end' 2>/dev/null
        return 0
    fi
    printf '%s' "$F_BODY" | python3 -c '
import json, sys
try:
    v = json.load(sys.stdin).get(sys.argv[1], "")
except Exception:
    v = ""
print(v)' "$1"
}
f_code() { f_json_field error_code; }
f_endpoint() { f_json_field endpoint; }

# f_answers N URL FIELD...: N requests to URL (one curl, each on a new
# connection); one line per answer, tab-separated: its HTTP status, then
# each FIELD of its JSON body ("" when the body is no JSON object or has no
# such field).  One Python run parses them all.
f_answers() {
    local n=$1 url=$2 i d="$T_DIR/answers" args=()
    shift 2
    rm -rf "$d"
    mkdir -p "$d"
    for i in $(seq "$n"); do args+=(-o "$d/$i" "$url"); done
    curl -s -m 10 -H 'Connection: close' -w '%{http_code}\n' "${args[@]}" > "$d/status"
    python3 - "$d" "$n" "$@" <<'PY'
import json, sys
d, n, fields = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
status = open(d + "/status").read().split()
for i in range(n):
    try:
        with open("%s/%d" % (d, i + 1)) as f:
            v = json.load(f)
        if not isinstance(v, dict):
            v = {}
    except Exception:
        v = {}
    print("\t".join([status[i] if i < len(status) else "000"] + [str(v.get(k, "")) for k in fields]))
PY
}

f_served_once() { f_req "$1"; [ "$F_STATUS" = 200 ]; }
f_wait_served() { t_wait_for f_served_once "$1"; }

# A node of a billion connections' capacity: the load generators below send
# hundreds of thousands of clients within one frozen round, which would
# otherwise fill it (make sim and assign_fleet.sh are where nodes fill).
f_node() {   # id endpoint [online] [load]
    printf '{"id":"%s","endpoint":"%s","location":"%s","versions":["v1"],"online":%s,"capacity":1000000000,"load":%s}' \
        "$1" "$2" "$1" "${3:-true}" "${4:-0.2}"
}

# The load generator: THREADS keep-alive clients, GET URL as fast as they
# can until SECONDS pass or $T_DIR/load.stop appears.
f_load_start() {
    F_LOAD_LOG="$T_DIR/${F_LOAD_NAME:-load}.log"
    rm -f "$F_LOAD_LOG.stop" "$F_LOAD_LOG"
    cat > "$T_DIR/load.py" <<'PY'
import http.client, json, os, sys, threading, time, urllib.parse
url, out, seconds, threads, stop = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
headers = dict(h.split(": ", 1) for h in sys.argv[6:])
import random
def request_headers():
    # "RANDOM_IP" as a header value: a random IPv4 address per request
    return {k: ("%d.%d.%d.%d" % tuple(random.randint(1, 254) for _ in range(4)) if v == "RANDOM_IP" else v)
            for k, v in headers.items()}
u = urllib.parse.urlsplit(url)
path = u.path + ("?" + u.query if u.query else "")
end = time.time() + seconds
logs = [[] for _ in range(threads)]
retries = [0]
def worker(log):
    conn, reused = None, False
    while time.time() < end and not os.path.exists(stop):
        t0 = time.time()
        try:
            if conn is None:
                conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
                reused = False
            try:
                conn.request("GET", path, headers=request_headers())
                r = conn.getresponse()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                if not reused:
                    raise
                # The server closed a kept-alive connection as the request
                # went out: retried once on a new one, as browsers do.
                retries[0] += 1
                conn.close()
                conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
                conn.request("GET", path, headers=request_headers())
                r = conn.getresponse()
            reused = True
            body = r.read()
            ms = (time.time() - t0) * 1000
            try:
                j = json.loads(body)
                code, ep = j.get("error_code", "-"), j.get("endpoint", "-")
            except ValueError:
                code, ep = "NOTJSON", "-"
            log.append("%d %d %s %s %.1f" % (t0 * 1000, r.status, code, ep, ms))
            if len(log) == 20 and not os.path.exists(out + ".started"):
                open(out + ".started", "w").close()
            if r.getheader("connection", "").lower() == "close":
                conn.close(); conn = None
        except Exception as e:
            ms = (time.time() - t0) * 1000
            log.append("%d ERR %s - %.1f" % (t0 * 1000, type(e).__name__, ms))
            try:
                conn.close()
            except Exception:
                pass
            conn = None
            time.sleep(0.01)
ts = [threading.Thread(target=worker, args=(l,)) for l in logs]
for t in ts: t.start()
for t in ts: t.join()
open(out + ".retries", "w").write("%d\n" % retries[0])
with open(out + ".tmp", "w") as f:
    for l in logs:
        f.write("\n".join(l) + ("\n" if l else ""))
os.rename(out + ".tmp", out)
PY
    rm -f "$F_LOAD_LOG.started"
    python3 "$T_DIR/load.py" "$1" "$F_LOAD_LOG" "$2" "$3" "$F_LOAD_LOG.stop" "${@:4}" &
    F_LOAD_PID=$!
    T_PIDS+=("$F_LOAD_PID")
    # Running means answering: every handler process has a fresh snapshot.
    t_wait_for test -e "$F_LOAD_LOG.started"
}

f_load_stop() {
    touch "$F_LOAD_LOG.stop"
    wait "$F_LOAD_PID" 2>/dev/null
    [ -s "$F_LOAD_LOG" ]
}

f_check() {
    local script=$1; shift
    local line
    while IFS= read -r line; do
        case "$line" in
            "ok "*) t_pass "${line#ok }" ;;
            "fail "*) t_fail "${line#fail }" ;;
            *) echo "$line" ;;
        esac
    done < <(python3 -c "$script" "$@" 2>&1 || echo "fail f_check: the check script failed")
}

f_ports() {
    t_free_port_range "$1" && F_PORT_BASE=$T_PORT_BASE
}

f_standin() {
    t_standin_start "$1" || return 1
    F_STANDIN_PID=$T_STANDIN_PID
}

f_sanitized() { ldd "$BUILD/wsb-handler" 2>/dev/null | grep -q libasan; }

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    t_redis_start
    t_true "f_lighttpd_start: lighttpd with 2 handlers" f_lighttpd_start 2 WSB_CACHE_MS=100
    printf '[%s]' "$(f_node a wss://a.example.net/ws)" > "$T_DIR/s.json"
    t_state "$T_DIR/s.json"
    t_true "f_wait_served" f_wait_served "$F_BASE/v1/websocket/server"
    f_req "$F_BASE/v1/websocket/server"
    t_eq "f_req: served" "200 wss://a.example.net/ws" "$F_STATUS $(f_endpoint)"
    t_match "f_handler_pids: two handler processes" '^[0-9]+ [0-9]+$' "$(f_handler_pids)"
    t_eq "f_answers: status and fields of each" "$(printf '200\twss://a.example.net/ws\t\n200\twss://a.example.net/ws\t')" \
        "$(f_answers 2 "$F_BASE/v1/websocket/server" endpoint error_code)"
    t_eq "f_answers: an error's code" "$(printf '404\t404')" "$(f_answers 1 "$F_BASE/nowhere" error_code)"
    t_eq "f_answers: no answer at all" "$(printf '000\t')" "$(f_answers 1 "http://127.0.0.1:1/" error_code)"
    f_load_start "$F_BASE/v1/websocket/server" 1 2
    sleep 0.5
    t_true "f_load: log written" f_load_stop
    t_match "f_load: answers logged" '^[0-9]+ 200 - wss://a.example.net/ws [0-9.]+$' "$(head -1 "$F_LOAD_LOG")"
    t_summary
fi
