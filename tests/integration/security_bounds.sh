#!/usr/bin/env bash
# security_bounds.sh: every input has a size limit, and going over it is
# refused with a clear error, never a crash or an unbounded allocation:
# request headers and paths (web server and handler), X-Forwarded-For, node
# records, the number of nodes, load reports, the inventory, configuration.
. "$(dirname "$0")/fault_lib.sh"

H="$BUILD/wsb-handler"
t_redis_start
cgi() {
    env -i PATH="$PATH" GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=GET REQUEST_URI=/v1/websocket/server \
        REMOTE_ADDR=127.0.0.1 WSB_REDIS_URL="$T_REDIS_URL" "$@" "$H" </dev/null 2>"$T_DIR/cgi.err"
}

# --- requests through lighttpd ---------------------------------------------
cat > "$T_DIR/geo.json" <<'JSON'
[{"id":"lon","endpoint":"wss://lon.example.net/ws","location":"London","lat":51.51,"lon":-0.13,"versions":["v1"],"online":true,"load":0.2},
 {"id":"tyo","endpoint":"wss://tyo.example.net/ws","location":"Tokyo","lat":35.68,"lon":139.69,"versions":["v1"],"online":true,"load":0.2}]
JSON
t_state "$T_DIR/geo.json"
f_lighttpd_start 2 WSB_CACHE_MS=100 WSB_TRUSTED_PROXIES=127.0.0.1/32,10.0.0.0/8 \
    || { t_fail "lighttpd did not start"; t_summary; exit 1; }
URL="$F_BASE/v1/websocket/server"
f_req -H "Cookie: $(head -c 70000 /dev/zero | tr '\0' c)" "$URL"
t_match "a 70 KB header: refused by the web server (4xx)" '^4[0-9][0-9]$' "$F_STATUS"
f_req "$URL?$(head -c 70000 /dev/zero | tr '\0' q)"
t_match "a 70 KB request line: refused by the web server (4xx)" '^4[0-9][0-9]$' "$F_STATUS"
f_req -X POST --data-binary @<(head -c 5000000 /dev/zero) "$URL"
t_eq "a 5 MB POST body: 405 (the handler never reads a body)" 405 "$F_STATUS"
f_req "$URL"
t_eq "  ... and the next request is served" 200 "$F_STATUS"

# X-Forwarded-For over 4 KiB or 32 hops: the client has no location (both
# nodes are then served), while a short header locates the London client.
# The proxies 10.0.0.0/8 are trusted here, so the walk from the right passes
# over them to London.
ends() {   # header value: the sorted set of endpoints over 24 requests
    python3 - "$URL" "$1" <<'PY'
import http.client, json, sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
seen = set()
for _ in range(24):
    c.request("GET", u.path, headers={"X-Forwarded-For": sys.argv[2]})
    r = c.getresponse()
    seen.add(json.loads(r.read()).get("endpoint", "E%d" % r.status))
print(" ".join(sorted(seen)))
PY
}
BOTH="wss://lon.example.net/ws wss://tyo.example.net/ws"
t_eq "X-Forwarded-For 81.2.69.142: London" "wss://lon.example.net/ws" "$(ends 81.2.69.142)"
hops() { printf ', 10.0.0.%d' $(seq 1 "$1"); }
t_eq "London behind 31 trusted proxies (32 hops, the limit): London" "wss://lon.example.net/ws" \
    "$(ends "81.2.69.142$(hops 31)")"
t_eq "London behind 32 trusted proxies (33 hops): no location, any node" "$BOTH" "$(ends "81.2.69.142$(hops 32)")"
long="$(for i in $(seq 500); do printf '6.6.6.%d, ' $((i % 250 + 1)); done | head -c 4090)81.2.69.142"
t_eq "a header of $(printf '%s' "$long" | wc -c) bytes (limit 4096) ending in London: no location" "$BOTH" \
    "$(ends "$long")"
f_lighttpd_stop

# The path the handler joins (SCRIPT_NAME + PATH_INFO) is bounded: past
# 2 KiB it routes on REQUEST_URI instead.
big=$(head -c 3000 /dev/zero | tr '\0' a)
t_match "SCRIPT_NAME+PATH_INFO over 2 KiB: routed on REQUEST_URI" '"endpoint"' \
    "$(cgi SCRIPT_NAME="/$big" PATH_INFO=/v1/websocket/server REQUEST_URI=/v1/websocket/server)"
t_match "  ... and without a usable REQUEST_URI: 404" '"error_code":404' \
    "$(cgi SCRIPT_NAME="/$big" PATH_INFO="/x/$big" REQUEST_URI=/nothing)"

# --- node records and the node hash ----------------------------------------
t_state "$T_DIR/geo.json"
t_rcli HSET wsb:nodes big "{\"endpoint\":\"wss://big.example/\",\"location\":\"B\",\"versions\":[\"v1\"],\"online\":true,\"x\":\"$(head -c 9000 /dev/zero | tr '\0' x)\"}" >/dev/null
out=$(cgi)
t_match "a 9 KB record: the others serve" '"endpoint":"wss://(lon|tyo)' "$out"
t_true "  ... and it is refused as too large" grep -q "node big: record is 9[0-9]* bytes, more than 8192" "$T_DIR/cgi.err"

# N node records through redis-cli --pipe.
fill() {   # hash count
    python3 - "$1" "$2" > "$T_DIR/fill.resp" <<'PY'
import sys
key, n = sys.argv[1], int(sys.argv[2])
out = sys.stdout.buffer
def cmd(*a):
    out.write(b"*%d\r\n" % len(a))
    for x in a:
        x = x.encode()
        out.write(b"$%d\r\n%s\r\n" % (len(x), x))
cmd("DEL", key)
batch = []
for i in range(n):
    if key.endswith("nodes"):
        v = '{"endpoint":"wss://n%d.example/","location":"N","versions":["v1"],"online":true,"load":0.5}' % i
    else:
        v = "drain"
    batch += ["n%d" % i, v]
    if len(batch) >= 2000 or i == n - 1:
        cmd("HSET", key, *batch)
        batch = []
PY
    t_rcli --pipe < "$T_DIR/fill.resp" >/dev/null
}
fill wsb:nodes 100000
t_eq "100,000 node records written" 100000 "$(t_rcli HLEN wsb:nodes)"
t_match "100,000 nodes (the limit): served" '"endpoint":"wss://n[0-9]+\.example/"' \
    "$(cgi WSB_REDIS_TIMEOUT_MS=5000)"
t_rcli HSET wsb:nodes one-more '{"endpoint":"wss://x.example/","location":"N","versions":["v1"],"online":true}' >/dev/null
t_match "100,001 nodes: the state is refused, 503/100" '"error_code":100' "$(cgi WSB_REDIS_TIMEOUT_MS=5000)"
t_true "  ... with a clear reason" grep -q "node hash has 100001 nodes, more than 100000" "$T_DIR/cgi.err"
t_state "$T_DIR/geo.json"
fill wsb:admin 100001
t_match "100,001 admin entries: refused, 503/100" '"error_code":100' "$(cgi WSB_REDIS_TIMEOUT_MS=5000)"
t_true "  ... with a clear reason" grep -q "admin hash has more than 100000 entries" "$T_DIR/cgi.err"
t_rcli DEL wsb:admin >/dev/null

# --- the probe: load reports and the inventory ------------------------------
f_ports 2 || { t_fail "no ports"; t_summary; exit 1; }
printf '{"nodes": {"%s": {"mode": "huge_report", "report_bytes": 70000}, "%s": {"mode": "ok", "connections": 5, "capacity": 10}}}\n' \
    "$F_PORT_BASE" "$((F_PORT_BASE + 1))" > "$T_DIR/standin.json"
f_standin "$T_DIR/standin.json" || { t_fail "stand-in did not start"; t_summary; exit 1; }
cat > "$T_DIR/inventory.json" <<JSON
{"allow_insecure_ws": true, "defaults": {"versions": ["v1"], "capacity": 100, "check": {"timeout_ms": 3000}},
 "nodes": [{"id": "huge", "endpoint": "ws://127.0.0.1:$F_PORT_BASE/ws", "location": "H",
            "status_url": "http://127.0.0.1:$F_PORT_BASE/status"},
           {"id": "fine", "endpoint": "ws://127.0.0.1:$((F_PORT_BASE + 1))/ws", "location": "F",
            "status_url": "http://127.0.0.1:$((F_PORT_BASE + 1))/status"}]}
JSON
"$BUILD/wsb-probe" --inventory "$T_DIR/inventory.json" --redis "$T_REDIS_URL" --once 2>"$T_DIR/probe.err"
t_eq "a 70 KB load report: the round completes" 0 "$?"
rec=$(t_rcli HGET wsb:nodes huge)
t_match "  ... the node is online, its report refused as report_too_large" '"online":true.*"last_error":"report_too_large"' "$rec"
t_true "  ... and its load unknown" bash -c "! printf '%s' '$rec' | grep -q '\"load\"'"
t_match "  ... the other node's report is read" '"load":0.5' "$(t_rcli HGET wsb:nodes fine)"
python3 -c '
import json, sys
nodes = [{"id": "n%d" % i, "endpoint": "wss://n%d.example.net/ws" % i, "location": "x" * 100} for i in range(80000)]
json.dump({"defaults": {"versions": ["v1"]}, "nodes": nodes, "_pad": "p" * (17 << 20)}, open(sys.argv[1], "w"))
' "$T_DIR/big.json"
"$BUILD/wsb-probe" --inventory "$T_DIR/big.json" --check-inventory >/dev/null 2>"$T_DIR/inv.err"
t_eq "an inventory over 16 MiB: refused (exit 2)" 2 "$?"
t_match "  ... saying so" "big.json: .*larger than 16777216 bytes" "$(cat "$T_DIR/inv.err")"

# --- configuration ----------------------------------------------------------
cfg_err() {   # VAR=VALUE expected-variable
    cgi "$1" >/dev/null
    t_match "${1:0:40}...: refused, naming $2" "configuration: $2: " "$(cat "$T_DIR/cgi.err")"
}
cfg_err "WSB_KEY_PREFIX=$(head -c 65 /dev/zero | tr '\0' k)" WSB_KEY_PREFIX
cfg_err "WSB_CORS_ORIGINS=https://$(head -c 300 /dev/zero | tr '\0' o).example" WSB_CORS_ORIGINS
cfg_err "WSB_REDIS_URL=redis://$(head -c 1100 /dev/zero | tr '\0' h)" WSB_REDIS_URL
cfg_err "WSB_REDIS_URL=$(printf 'redis://127.0.0.1:%d,' $(seq 6400 6408))redis://127.0.0.1:6409" WSB_REDIS_URL
cfg_err "WSB_GEOIP_DB=/$(head -c 5000 /dev/zero | tr '\0' g)" WSB_GEOIP_DB
t_no_sanitizer_reports "no sanitizer reports" "$T_DIR/cgi.err" "$T_DIR/probe.err" "$T_DIR/inv.err" "$T_DIR/handler.log"
t_summary
