#!/usr/bin/env bash
# security_endpoint.sh: a tampered Redis cannot make the balancer emit
# arbitrary bytes, and no request input reaches a response.
#
#   - Redis holds hostile records next to good ones (header injection,
#     script, quotes, other schemes, ws:// without WSB_ALLOW_INSECURE_WS,
#     control and non-ASCII bytes, overlong): only the good endpoints are
#     ever served, each a clean wss:// URL in a JSON body;
#   - hostile requests (a marker in the path, query, method, every header,
#     percent-encoded CR LF): the marker appears nowhere in any answer, every
#     header line is printable ASCII, and the handler's headers are its fixed
#     set.
. "$(dirname "$0")/fault_lib.sh"

t_redis_start
f_lighttpd_start 2 WSB_CACHE_MS=100 WSB_CORS_ORIGINS=https://app.example.com \
    || { t_fail "lighttpd did not start"; t_summary; exit 1; }

python3 - "$T_DIR/state.json" <<'PY'
import json, sys
good = [{"id": "good1", "endpoint": "wss://good1.example.net/ws", "location": "Good 1"},
        {"id": "good2", "endpoint": "wss://good2.example.net:8443/ws?v=1&t=a%20b", "location": "Zürich \"2\" <b>"}]
for n in good:
    n.update({"versions": ["v1"], "online": True, "load": 0.1})
json.dump(good, open(sys.argv[1], "w"))
PY
t_state "$T_DIR/state.json"
hostile() { printf '%s' "$2" | t_rcli -x HSET wsb:nodes "$1" >/dev/null; }
rec() { printf '{"endpoint":"%s","location":"X","versions":["v1"],"online":true,"load":0.01}' "$1"; }
hostile h1 "$(rec 'wss://evil.example/\r\nSet-Cookie: session=stolen')"
hostile h2 "$(printf '{"endpoint":"wss://evil.example/\r\nSet-Cookie: a=b","location":"X","versions":["v1"],"online":true,"load":0.01}')"
hostile h3 "$(rec 'wss://evil.example/\"}<script>alert(1)</script>')"
hostile h4 "$(rec 'javascript:alert(1)')"
hostile h5 "$(rec 'https://evil.example/')"
hostile h6 "$(rec 'ws://evil.example/insecure')"
# Two records that decode to a valid node, whatever their author meant: a
# string ends at an escaped NUL, and the first of two equal keys counts.
hostile h7 "$(rec 'wss://nul.example/\u0000evil-hidden')"
hostile h8 "$(printf '{"endpoint":"wss://evil.example/\xff\xfe","location":"X","versions":["v1"],"online":true,"load":0.01}')"
hostile h9 "$(rec "wss://evil.example/$(head -c 1100 /dev/zero | tr '\0' a)")"
hostile h10 "$(rec 'wss://evil.example/ space')"
hostile h11 "$(rec 'wss://evil.example/back\\\\slash')"
hostile h12 "$(rec 'wss://user:pass@evil.example/')"
hostile h13 '{"endpoint":"wss://evil.example/","location":"line\u2028break\r\nX: y","versions":["v1"],"online":true,"load":0.01}'
hostile h14 '{"endpoint":["wss://evil.example/"],"location":"X","versions":["v1"],"online":true,"load":0.01}'
hostile h15 '{"endpoint":"wss://first.example/","location":"X","versions":["v1"],"online":true,"load":0.01,"endpoint":"wss://evil.example/"}'
t_eq "17 records in Redis, 15 of them hostile" 17 "$(t_rcli HLEN wsb:nodes)"
sleep 0.25   # longer than WSB_CACHE_MS: every handler sees the whole state

# Many answers from the balancer, raw.
python3 - "$F_BASE" > "$T_DIR/answers.txt" <<'PY'
import socket, sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
out = []
for i in range(300):
    s = socket.create_connection((u.hostname, u.port))
    s.sendall(b"GET /v1/websocket/server HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
    s.close()
    sys.stdout.write(data.hex() + "\n")
PY
f_check '
import json, re, sys
good = {"wss://good1.example.net/ws", "wss://good2.example.net:8443/ws?v=1&t=a%20b",
        "wss://nul.example/", "wss://first.example/"}
served, bad = set(), []
url = re.compile(r"^wss://[A-Za-z0-9\-._~:/?#\[\]@!$&()*+,;=%]+$")
for line in open(sys.argv[1]):
    raw = bytes.fromhex(line.strip())
    head, _, body = raw.partition(b"\r\n\r\n")
    if not all(0x20 <= c < 0x7f for c in head.replace(b"\r\n", b"")):
        bad.append("header bytes"); continue
    if b"evil" in raw or b"Set-Cookie" in raw or b"script" in raw.lower():
        bad.append("hostile text in the answer"); continue
    j = json.loads(body.decode("utf-8"))
    ep = j.get("endpoint")
    if ep not in good or not url.match(ep) or len(ep) > 1024:
        bad.append("endpoint %r" % ep); continue
    served.add(ep)
print(("ok" if not bad else "fail") + " 300 answers: only the good endpoints, clean bytes (%d bad%s)" %
      (len(bad), (": " + bad[0]) if bad else ""))
print(("ok" if served == good else "fail") + " the two good nodes, the NUL-cut one and the first-key one are served (%d)"
      % len(served))
' "$T_DIR/answers.txt"
t_true "the 12 malformed records are logged as skipped (ws:// is valid, only never served)" \
    grep -q "skipped 12 malformed node record" "$T_DIR/handler.log"

# ws:// is served only where allowed.
cgi() {
    env -i PATH="$PATH" GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=GET REQUEST_URI=/v1/websocket/server \
        REMOTE_ADDR=127.0.0.1 WSB_REDIS_URL="$T_REDIS_URL" "$@" "$BUILD/wsb-handler" </dev/null 2>/dev/null
}
t_rcli DEL wsb:nodes >/dev/null
t_rcli HSET wsb:nodes plain "$(rec 'ws://plain.example/ws')" >/dev/null
t_rcli HSET wsb:round at 1 >/dev/null
t_match "a ws:// record, WSB_ALLOW_INSECURE_WS unset: never served (100)" '"error_code":100' "$(cgi)"
t_match "a ws:// record, WSB_ALLOW_INSECURE_WS=0: never served" '"error_code":100' "$(cgi WSB_ALLOW_INSECURE_WS=0)"
t_match "a ws:// record, WSB_ALLOW_INSECURE_WS=1: served" '"endpoint":"ws://plain.example/ws"' \
    "$(cgi WSB_ALLOW_INSECURE_WS=1)"
t_state "$T_DIR/state.json"

# Hostile requests: the marker must appear nowhere in any answer.
python3 - "$F_BASE" > "$T_DIR/hostile.txt" <<'PY'
import socket, sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
M = "Zq9Mark"
paths = ["/v1/websocket/server", "/%s/v1/websocket/server" % M, "/v1/websocket/server?%s=1&cb=%s" % (M, M),
         "/v1/websocket/server%%0d%%0aSet-Cookie:%%20%s=1" % M, "/%s%%0d%%0aX:%%20y" % M,
         "/v1/websocket/server/..%%2f%s" % M, "/v1/websocket/server#%s" % M, "/" + M * 300,
         "/v1/websocket/server?" + M * 500]
headers = ["Origin: https://%s.example" % M, "Origin: https://app.example.com.%s" % M,
           "X-Forwarded-For: %s, 1.2.3.4" % M, "User-Agent: %s" % M, "Cookie: a=%s" % M,
           "Referer: https://%s/" % M, "Access-Control-Request-Headers: %s" % M,
           "Access-Control-Request-Method: %s" % M, "X-%s: %s" % (M, M), "Accept: %s" % M]
methods = ["GET", "HEAD", "OPTIONS", "POST", "PUT", "DELETE", "PATCH"]
n = 0
for p in paths:
    for m in methods:
        req = "%s %s HTTP/1.1\r\nHost: %s.example\r\n%s\r\nConnection: close\r\n" % (m, p, M, "\r\n".join(headers))
        if m in ("POST", "PUT", "PATCH"):
            req += "Content-Type: text/%s\r\nContent-Length: 7\r\n\r\n%s" % (M, M)
        else:
            req += "\r\n"
        s = socket.create_connection((u.hostname, u.port))
        s.sendall(req.encode())
        data = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
        s.close()
        n += 1
        sys.stdout.write("%s %s %s\n" % (m, p[:60].encode().hex(), data.hex()))
PY
f_check '
import sys
M = b"Zq9Mark"
handler_headers = {b"status", b"content-type", b"cache-control", b"retry-after", b"allow",
                   b"access-control-allow-origin", b"vary", b"access-control-allow-methods",
                   b"access-control-max-age", b"content-length"}
server_headers = {b"date", b"server", b"connection", b"transfer-encoding", b"keep-alive", b"accept-ranges"}
lines = [l.split() for l in open(sys.argv[1])]
leaks, badhdr, names, statuses, ours = [], [], set(), {}, 0
for m, p, h in lines:
    raw = bytes.fromhex(h)
    head, _, body = raw.partition(b"\r\n\r\n")
    status = head.split(b" ", 2)[1].decode() if head.startswith(b"HTTP/") else "?"
    statuses[status] = statuses.get(status, 0) + 1
    if M.lower() in raw.lower():
        leaks.append("%s %s -> %s" % (m, bytes.fromhex(p).decode(), raw[:120]))
    for hl in head.split(b"\r\n")[1:]:
        if not all(0x20 <= c < 0x7f for c in hl):
            badhdr.append(hl[:60])
        names.add(hl.split(b":", 1)[0].strip().lower())
    if b"cache-control: no-store" in head.lower():
        ours += 1
print(("ok" if not leaks else "fail") + " %d hostile requests: the marker is in no answer (%d leaks%s)" %
      (len(lines), len(leaks), (": " + leaks[0]) if leaks else ""))
print(("ok" if not badhdr else "fail") + " every header line is printable ASCII")
extra = names - handler_headers - server_headers
print(("ok" if not extra else "fail") + " only the fixed headers of the handler and those of the server: %s" %
      b" ".join(sorted(extra)).decode())
print(("ok" if ours >= len(lines) // 2 else "fail") + " most answers came from the handler (%d of %d), statuses %s" %
      (ours, len(lines), statuses))
' "$T_DIR/hostile.txt"
t_no_sanitizer_reports "no sanitizer reports" "$T_DIR/handler.log" "$T_DIR/lighttpd.stderr"
t_summary
