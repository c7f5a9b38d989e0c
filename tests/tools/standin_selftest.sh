#!/usr/bin/env bash
# standin_selftest.sh - self-test of tests/tools/standin_node.py.
#
# Starts the stand-in node server on private loopback ports, checks every mode
# with curl / openssl s_client (and a tiny python WebSocket client for frames),
# and prints exactly one summary line "N passed, N failed".  Exit status is
# non-zero if any check failed.  Takes ~15 s.
#
# Ports: nodes on NODE_BASE..NODE_BASE+30 (default 39100), a 1,000-port range
# on RANGE_BASE..RANGE_BASE+999 (default 38100).  Override with
# STANDIN_SELFTEST_NODE_BASE / STANDIN_SELFTEST_RANGE_BASE.
# Set STANDIN_SELFTEST_VERBOSE=1 to see one line per check.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
SERVER="$HERE/standin_node.py"
NB=${STANDIN_SELFTEST_NODE_BASE:-39100}
RB=${STANDIN_SELFTEST_RANGE_BASE:-38100}
VERBOSE=${STANDIN_SELFTEST_VERBOSE:-0}
KEY="dGhlIHNhbXBsZSBub25jZQ=="
WANT_ACCEPT="s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

T=$(mktemp -d "${TMPDIR:-/tmp}/standin_selftest.XXXXXX")
SPID=""
cleanup() {
    if [ -n "$SPID" ]; then kill "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; fi
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PASS=0
FAIL=0
pass() { PASS=$((PASS + 1)); [ "$VERBOSE" = 1 ] && echo "PASS: $1"; return 0; }
fail() { FAIL=$((FAIL + 1)); echo "FAIL: $1${2:+ -- $2}" >&2; }
# check DESC CMD...: pass if CMD succeeds
check() { local d=$1; shift; if "$@" >/dev/null 2>&1; then pass "$d"; else fail "$d"; fi; }
# expect_eq DESC GOT WANT
expect_eq() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "got '$2', want '$3'"; fi; }

P_OK=$NB;          P_LOAD=$((NB + 1));   P_NOCAP=$((NB + 2))
P_TLS=$((NB + 3)); P_UNTR=$((NB + 4));   P_HANG=$((NB + 5))
P_HANGTLS=$((NB + 6)); P_HANGTLS2=$((NB + 7)); P_GARB=$((NB + 8))
P_500=$((NB + 9)); P_BADACC=$((NB + 10)); P_NOUPG=$((NB + 11))
P_BADREP=$((NB + 12)); P_HUGE=$((NB + 13)); P_SLOW=$((NB + 14))
P_CLOSE=$((NB + 15)); P_CHG=$((NB + 16))
R_LO=$RB; R_HI=$((RB + 999))

"$HERE/make_test_ca.sh" "$T/ca" || { echo "0 passed, 1 failed"; exit 1; }
CA="$T/ca/ca.pem"

write_config() {   # write_config CHG_MODE CHG_CONNECTIONS
    cat > "$T/cfg.json.tmp" <<EOF
{
  "tls_cert": "$T/ca/server.pem",
  "tls_key": "$T/ca/server.key",
  "nodes": {
    "$P_OK":      {"mode": "ok", "connections": 1234, "capacity": 20000},
    "$P_LOAD":    {"mode": "ok", "load": 0.42},
    "$P_NOCAP":   {"mode": "ok", "connections": 5},
    "$P_TLS":     {"mode": "ok", "tls": true, "connections": 3, "capacity": 10},
    "$P_UNTR":    {"mode": "ok", "tls": true, "cert": "$T/ca/untrusted.pem",
                   "key": "$T/ca/untrusted.key"},
    "$P_HANG":    {"mode": "hang"},
    "$P_HANGTLS": {"mode": "hang_after_connect_tls", "tls": true},
    "$P_HANGTLS2": {"mode": "hang", "tls": true},
    "$P_GARB":    {"mode": "garbage"},
    "$P_500":     {"mode": "http_500"},
    "$P_BADACC":  {"mode": "bad_accept"},
    "$P_NOUPG":   {"mode": "no_upgrade"},
    "$P_BADREP":  {"mode": "bad_report"},
    "$P_HUGE":    {"mode": "huge_report"},
    "$P_SLOW":    {"mode": "slow", "delay_ms": 600},
    "$P_CLOSE":   {"mode": "close"},
    "$P_CHG":     {"mode": "$1", "connections": $2, "capacity": 100}
  },
  "port_ranges": [{"from": $R_LO, "to": $R_HI, "mode": "ok", "connections": 1}]
}
EOF
    mv -f "$T/cfg.json.tmp" "$T/cfg.json"
}
write_config ok 11

# ---------------------------------------------------------------- start up
python3 "$SERVER" --host 0.0.0.0 --config "$T/cfg.json" --ready-file "$T/ready0" \
    >/dev/null 2>&1
rc=$?
if [ $rc -ne 0 ] && [ ! -e "$T/ready0" ]; then pass "refuses non-loopback --host"
else fail "refuses non-loopback --host" "rc=$rc"; fi

python3 "$SERVER" --config "$T/cfg.json" --pidfile "$T/pid" --ready-file "$T/ready" \
    2>"$T/stderr" &
SPID=$!
for _ in $(seq 100); do
    [ -e "$T/ready" ] && break
    kill -0 "$SPID" 2>/dev/null || break
    sleep 0.1
done
if [ ! -e "$T/ready" ]; then
    fail "server became ready" "$(tail -3 "$T/stderr")"
    echo "$PASS passed, $FAIL failed"
    exit 1
fi
pass "server became ready"
expect_eq "pidfile holds server pid" "$(tr -d '[:space:]' < "$T/pid")" "$SPID"

# ---------------------------------------------------------------- helpers
C=(curl -s --http1.1 -m 3)
UPG=(-H "Connection: Upgrade" -H "Upgrade: websocket"
     -H "Sec-WebSocket-Key: $KEY" -H "Sec-WebSocket-Version: 13")
body() { "${C[@]}" "$@"; }
code() { "${C[@]}" -o /dev/null -w '%{http_code}' "$@"; }
# upgrade URL [curl args]: dumps response head to $T/h, echoes curl's exit code
upgrade() { curl -s --http1.1 -m 1 -D "$T/h" -o /dev/null "${UPG[@]}" "$@"; echo $?; }
status_line() { head -1 "$T/h" | tr -d '\r'; }
accept_hdr() { grep -i '^Sec-WebSocket-Accept:' "$T/h" | cut -d' ' -f2 | tr -d '\r'; }
crc() { "$@" >/dev/null 2>&1; echo $?; }   # exit code of a command

U="http://127.0.0.1"
TLSR=(--cacert "$CA" --resolve "localhost:$P_TLS:127.0.0.1"
      --resolve "localhost:$P_UNTR:127.0.0.1" --resolve "localhost:$P_HANGTLS:127.0.0.1"
      --resolve "localhost:$P_HANGTLS2:127.0.0.1")

# ---------------------------------------------------------------- ok
rc=$(upgrade "$U:$P_OK/ws")
expect_eq "ok: upgrade -> 101" "$(status_line)" "HTTP/1.1 101 Switching Protocols"
expect_eq "ok: Sec-WebSocket-Accept for RFC sample key" "$(accept_hdr)" "$WANT_ACCEPT"
expect_eq "ok: upgraded connection held open" "$rc" 28
expect_eq "ok: upgrade without key -> 400" \
    "$(code -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' "$U:$P_OK/")" 400
expect_eq "ok: upgrade with invalid key -> 400" \
    "$(code -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Key: abc' -H 'Sec-WebSocket-Version: 13' "$U:$P_OK/")" 400
expect_eq "ok: upgrade with version 8 -> 426" \
    "$(code -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H "Sec-WebSocket-Key: $KEY" -H 'Sec-WebSocket-Version: 8' "$U:$P_OK/")" 426
expect_eq "ok: /status JSON" "$(body "$U:$P_OK/status")" '{"connections":1234,"capacity":20000}'
expect_eq "ok: /health" "$(body "$U:$P_OK/health")" '{"status":"ok"}'
expect_eq "ok: other path gives status JSON" "$(body "$U:$P_OK/some/where?x=1")" '{"connections":1234,"capacity":20000}'
check "ok: Content-Length set" sh -c "curl -s -m 3 -D - -o /dev/null $U:$P_OK/status | grep -qi '^Content-Length: 37'"
expect_eq "ok: load node reports load" "$(body "$U:$P_LOAD/status")" '{"load":0.42}'
expect_eq "ok: capacity omitted when absent" "$(body "$U:$P_NOCAP/status")" '{"connections":5}'

# WebSocket frames: ping -> pong, close -> close (python client, stdlib only)
check "ok: ws ping/pong and close handshake" python3 - "$P_OK" <<'EOF'
import base64, os, socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3)
key = base64.b64encode(os.urandom(16)).decode()
s.sendall(("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % key).encode())
buf = b""
while b"\r\n\r\n" not in buf:
    buf += s.recv(4096)
assert buf.startswith(b"HTTP/1.1 101"), buf
rest = buf.split(b"\r\n\r\n", 1)[1]
def frame(op, payload):
    m = os.urandom(4)
    return bytes([0x80 | op, 0x80 | len(payload)]) + m + bytes(c ^ m[i % 4] for i, c in enumerate(payload))
def read(n):
    global rest
    while len(rest) < n:
        d = s.recv(4096)
        assert d, "eof"
        rest += d
    out, rest = rest[:n], rest[n:]
    return out
s.sendall(frame(0x9, b"hi"))
assert read(4) == b"\x8a\x02hi"
s.sendall(frame(0x8, struct.pack("!H", 1000)))
assert read(4) == b"\x88\x02\x03\xe8"
assert s.recv(10) == b""
EOF

# ---------------------------------------------------------------- TLS
expect_eq "tls: https with --cacert ca.pem (localhost)" \
    "$(body "${TLSR[@]}" "https://localhost:$P_TLS/status")" '{"connections":3,"capacity":10}'
expect_eq "tls: https with --cacert ca.pem (IP SAN 127.0.0.1)" \
    "$(body --cacert "$CA" "https://127.0.0.1:$P_TLS/health")" '{"status":"ok"}'
rc=$(upgrade "${TLSR[@]}" "https://localhost:$P_TLS/ws")
expect_eq "tls: upgrade over TLS -> right accept" "$(accept_hdr)" "$WANT_ACCEPT"
expect_eq "tls: untrusted cert rejected (curl 60)" \
    "$(crc curl -s -m 3 "${TLSR[@]}" "https://localhost:$P_UNTR/status")" 60
expect_eq "tls: per-node cert served" \
    "$(body --cacert "$T/ca/untrusted.pem" --resolve "localhost:$P_UNTR:127.0.0.1" "https://localhost:$P_UNTR/health")" '{"status":"ok"}'
check "tls: openssl s_client verifies with ca.pem" sh -c \
    "openssl s_client -connect 127.0.0.1:$P_TLS -servername localhost -CAfile '$CA' -verify_return_error </dev/null 2>&1 | grep -q 'Verify return code: 0 (ok)'"
check "tls: openssl s_client rejects untrusted" sh -c \
    "! openssl s_client -connect 127.0.0.1:$P_UNTR -servername localhost -CAfile '$CA' -verify_return_error </dev/null >/dev/null 2>&1"

# ---------------------------------------------------------------- failure modes
expect_eq "hang: curl -m 1 times out" "$(crc curl -s -m 1 "$U:$P_HANG/status")" 28
expect_eq "hang_after_connect_tls: TLS handshake never completes" \
    "$(crc curl -s -m 1 "${TLSR[@]}" "https://localhost:$P_HANGTLS/status")" 28
check "hang_after_connect_tls: TCP connect succeeds" python3 -c "
import socket; socket.create_connection(('127.0.0.1', $P_HANGTLS), timeout=1).close()"
expect_eq "hang on tls port: handshake ok, then no answer" \
    "$(crc curl -s -m 1 "${TLSR[@]}" "https://localhost:$P_HANGTLS2/status")" 28

rc=$(crc curl -s -m 3 "$U:$P_GARB/status")
if [ "$rc" != 0 ] && [ "$rc" != 28 ]; then pass "garbage: curl fails fast (rc=$rc)"
else fail "garbage: curl fails fast" "rc=$rc"; fi
out=$(curl -s -m 3 --http0.9 "$U:$P_GARB/status" | head -c 64 | od -An -c | tr -d ' \n')
case "$out" in
    ""|HTTP*) fail "garbage: non-HTTP bytes returned" "$out" ;;
    *) pass "garbage: non-HTTP bytes returned" ;;
esac

expect_eq "http_500: /status -> 500" "$(code "$U:$P_500/status")" 500
expect_eq "http_500: upgrade -> 500" "$(code "${UPG[@]}" "$U:$P_500/")" 500
check "http_500: small body" sh -c "test -n \"\$(curl -s -m 3 $U:$P_500/)\""

upgrade "$U:$P_BADACC/" >/dev/null
expect_eq "bad_accept: 101" "$(status_line)" "HTTP/1.1 101 Switching Protocols"
a=$(accept_hdr)
if [ -n "$a" ] && [ "$a" != "$WANT_ACCEPT" ]; then pass "bad_accept: wrong accept value"
else fail "bad_accept: wrong accept value" "$a"; fi

expect_eq "no_upgrade: upgrade request -> 200" "$(code "${UPG[@]}" "$U:$P_NOUPG/")" 200

upgrade "$U:$P_BADREP/" >/dev/null
expect_eq "bad_report: upgrade still 101 + right accept" "$(accept_hdr)" "$WANT_ACCEPT"
expect_eq "bad_report: /status body" "$(body "$U:$P_BADREP/status")" 'not json{{'

expect_eq "huge_report: 10 MiB /status" \
    "$(curl -s -m 5 -o /dev/null -w '%{size_download}' "$U:$P_HUGE/status")" 10485760

t=$(curl -s -m 5 -o /dev/null -w '%{http_code} %{time_total}' "$U:$P_SLOW/status")
if [ "${t%% *}" = 200 ] && awk -v t="${t#* }" 'BEGIN{exit !(t >= 0.55)}'; then
    pass "slow: answers after delay_ms ($t)"
else fail "slow: answers after delay_ms" "$t"; fi

# 52 = empty reply; 56 = reset (the request raced the close): both are right.
rc=$(crc curl -s -m 3 "$U:$P_CLOSE/")
case "$rc" in
    52|56) pass "close: connection closed without reply" ;;
    *) fail "close: connection closed without reply" "curl rc=$rc" ;;
esac

# ---------------------------------------------------------------- robustness
reply=$(python3 - "$P_OK" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3)
s.sendall(b"\x01\x02 complete nonsense\r\n\r\n")
print(s.recv(100).split(b"\r\n")[0].decode())
EOF
)
expect_eq "malformed request -> 400" "$reply" "HTTP/1.1 400 Bad Request"
check "abrupt disconnects do not hurt" python3 - "$P_OK" "$P_TLS" "$P_HUGE" <<'EOF'
import socket, sys
ok, tls, huge = map(int, sys.argv[1:])
for port, data in ((ok, b"GET /st"), (ok, b""), (tls, b"\x16\x03\x01\x00"),
                   (huge, b"GET /status HTTP/1.1\r\n\r\n")):
    s = socket.create_connection(("127.0.0.1", port), timeout=3)
    s.sendall(data)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()   # RST
EOF
expect_eq "server alive after abuse" "$(body "$U:$P_OK/health")" '{"status":"ok"}'

# ---------------------------------------------------------------- stats
check "/__stats counts hits" python3 - "$P_OK" "$P_500" <<'EOF'
import json, sys, urllib.request
ok, p500 = sys.argv[1:]
st = json.load(urllib.request.urlopen("http://127.0.0.1:%s/__stats" % ok, timeout=3))
assert st["hits"][ok] >= 5 and st["hits"][p500] == 3, st
assert st["upgrades"][ok] >= 2 and st["accepts"][ok] >= st["hits"][ok], st
EOF

# ---------------------------------------------------------------- runtime config change
expect_eq "config: before change" "$(body "$U:$P_CHG/status")" '{"connections":11,"capacity":100}'
sleep 0.01
write_config http_500 77
expect_eq "config: mode change takes effect" "$(code "$U:$P_CHG/status")" 500
write_config ok 77
expect_eq "config: connections change takes effect" "$(body "$U:$P_CHG/status")" '{"connections":77,"capacity":100}'
echo '{"nodes": {' > "$T/cfg.json"            # broken file: keep previous
expect_eq "config: broken file keeps previous config" "$(body "$U:$P_CHG/status")" '{"connections":77,"capacity":100}'
write_config ok 77

# ---------------------------------------------------------------- 1,000 ports
urls=()
for ((p = R_LO; p <= R_HI; p++)); do urls+=(-o /dev/null "$U:$p/status"); done
n=$(curl -s -m 30 --parallel --parallel-max 20 -w '%{http_code}\n' "${urls[@]}" 2>/dev/null | grep -c '^200$')
expect_eq "1000-port range: all ports answer 200" "$n" 1000
expect_eq "1000-port range: report JSON" "$(body "$U:$R_HI/status")" '{"connections":1}'

# ---------------------------------------------------------------- shutdown
if grep -q Traceback "$T/stderr"; then fail "no tracebacks on stderr" "$(grep -m1 -A3 Traceback "$T/stderr")"
else pass "no tracebacks on stderr"; fi
kill -TERM "$SPID"
wait "$SPID"
expect_eq "SIGTERM: clean exit status" "$?" 0
SPID=""
if [ ! -e "$T/pid" ] && [ ! -e "$T/ready" ]; then pass "SIGTERM: pid/ready files removed"
else fail "SIGTERM: pid/ready files removed"; fi

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
