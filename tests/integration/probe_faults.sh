#!/usr/bin/env bash
# probe_faults.sh: the probe's own faults are not the fleet's (README
# "Probe faults").  Side by side, against real stand-in nodes, the real
# probe and the real handler (CGI) with a real City database:
#   - the CA file replaced by a wrong one between rounds: every TLS check
#     fails tls_untrusted; the round is the probe's fault (exit 3, one
#     loud line, the live round marked), the handler keeps answering from
#     the last good verdicts, --check says so; the right CA: counted again;
#   - nodes named by host names whose resolver is gone (a stub DNS server
#     on loopback, the probe in its own mount namespace with a resolv.conf
#     naming it): the same;
#   - the probe out of file descriptors: those checks keep their nodes'
#     verdicts, the handler keeps answering;
#   - a canary that does not answer: the round is not counted at all;
#   - three of five regions stopped at once (refused): a real correlated
#     outage, which goes offline as usual; their clients move to the
#     nearest live region.
. "$(dirname "$0")/probe_lib.sh"
GEO="$T_ROOT/../shared/geoip/GeoLite2-City-Test.mmdb"
[ -e "$GEO" ] || GEO="$T_ROOT/shared/geoip/GeoLite2-City-Test.mmdb"

t_redis_start
p_ca
mkdir -p "$T_DIR/wrong"
"$T_ROOT/tests/tools/make_test_ca.sh" "$T_DIR/wrong" >/dev/null 2>&1
p_ports 12
TLS0=$P_BASE; PLAIN0=$((P_BASE + 5)); CANARY=$((P_BASE + 10)); NOTHING=$((P_BASE + 11))

{
    printf '{"tls_cert": "%s", "tls_key": "%s", "nodes": {' "$T_DIR/ca/server.pem" "$T_DIR/ca/server.key"
    for i in 0 1 2 3 4; do printf '"%d": {"mode": "ok", "tls": true}, ' $((TLS0 + i)); done
    for i in 0 1 2 3 4; do printf '"%d": {"mode": "ok"}, ' $((PLAIN0 + i)); done
    printf '"%d": {"mode": "ok"}}}' "$CANARY"
} > "$T_DIR/standin.json"
p_standin "$T_DIR/standin.json" || { t_fail "stand-in did not start"; t_summary; exit 1; }

# handler PREFIX [CLIENT]: the handler's CGI answer (headers and body)
handler() {
    env -i PATH="$PATH" REQUEST_METHOD=GET REQUEST_URI=/v1/websocket/server REMOTE_ADDR="${2:-127.0.0.1}" \
        WSB_REDIS_URL="$T_REDIS_URL" WSB_KEY_PREFIX="$1" WSB_GEOIP_DB="$GEO" WSB_ALLOW_INSECURE_WS=1 "$HANDLER" </dev/null 2>/dev/null
}
status_of() { head -1 <<<"$1" | grep -o '[0-9][0-9][0-9]' | head -1; }
endpoint_of() { grep -o '"endpoint":"[^"]*"' <<<"$1" | cut -d'"' -f4; }
check_line() { env -i PATH="$PATH" WSB_REDIS_URL="$T_REDIS_URL" WSB_KEY_PREFIX="$1" "$HANDLER" --check 2>&1; }
probe() {   # PREFIX INVENTORY [ARGS...]: one round; P_RC, P_ERR
    local prefix=$1 inv=$2; shift 2
    "$PROBE" --redis "$T_REDIS_URL" --prefix "$prefix" --inventory "$inv" --once "$@" 2>"$T_DIR/probe.err"
    P_RC=$?
    P_ERR=$(cat "$T_DIR/probe.err")
}

# ---- 1. the CA file replaced by a wrong one between rounds
cp "$T_DIR/ca/ca.pem" "$T_DIR/bundle.pem"
{
    printf '{"ca_file": "%s", "defaults": {"versions": ["v1"], "location": "L", "check": {"rise": 1, "fall": 1, "timeout_ms": 3000}}, "nodes": [' "$T_DIR/bundle.pem"
    for i in 0 1 2 3 4; do printf '%s{"id": "t%d", "endpoint": "wss://localhost:%d/ws"}' "$([ $i -gt 0 ] && echo ,)" $i $((TLS0 + i)); done
    printf ']}'
} > "$T_DIR/tls.json"
probe tls: "$T_DIR/tls.json"
t_eq "tls: first round counted" 0 "$P_RC"
t_eq "tls: five nodes up" 5 "$(t_rcli HGET tls:round up)"
at1=$(t_rcli HGET tls:round at)
a=$(handler tls:)
t_eq "tls: the handler answers" 200 "$(status_of "$a")"
cp "$T_DIR/wrong/ca.pem" "$T_DIR/bundle.pem"
sleep 1
probe tls: "$T_DIR/tls.json"
t_eq "tls, wrong CA: exit 3 (probe fault)" 3 "$P_RC"
t_match "tls, wrong CA: one loud line names the cause" \
    "error: probe fault: 5 of 5 checks failed with tls_untrusted \(first: node t0: .*\): this round is not counted; the nodes keep the verdicts of the last counted round \([0-9]+ s old, expiring in [0-9]+ s unless a round is counted\)" "$P_ERR"
t_eq "tls, wrong CA: exactly one error line" 1 "$(grep -c 'error:' <<<"$P_ERR")"
t_eq "tls, wrong CA: no node went offline" "" "$(grep -- '-> offline\|offline (' <<<"$P_ERR")"
t_eq "tls, wrong CA: the round was not rewritten" "$at1" "$(t_rcli HGET tls:round at)"
t_eq "tls, wrong CA: still five up" 5 "$(t_rcli HGET tls:round up)"
t_match "tls, wrong CA: the round is marked with the fault" "^5 of 5 checks failed with tls_untrusted" "$(t_rcli HGET tls:round fault)"
t_true "tls, wrong CA: the mark kept the round's TTL" test "$(t_rcli TTL tls:round)" -gt 0
a=$(handler tls:)
t_eq "tls, wrong CA: the handler keeps answering" 200 "$(status_of "$a")"
t_match "tls, wrong CA: with a node of the last verdicts" "^wss://localhost:$TLS0[0-9]*|^wss://localhost:[0-9]+/ws$" "$(endpoint_of "$a")"
t_match "tls, wrong CA: --check says the probe reports a fault" \
    "state live, round [0-9]+ s old, but the probe reports a fault since [0-9]+ s: 5 of 5 checks failed with tls_untrusted" \
    "$(check_line tls:)"
cp "$T_DIR/ca/ca.pem" "$T_DIR/bundle.pem"
probe tls: "$T_DIR/tls.json"
t_eq "tls, right CA again: counted" 0 "$P_RC"
t_eq "tls, right CA again: the fault mark is gone" "" "$(t_rcli HGET tls:round fault)"
t_match "tls, right CA again: --check" "state live, round [0-9]+ s old;" "$(check_line tls:)"

# One node whose certificate is untrusted is that node's: it goes offline.
{
    printf '{"ca_file": "%s", "defaults": {"versions": ["v1"], "location": "L", "check": {"rise": 1, "fall": 1, "timeout_ms": 3000}}, "nodes": [' "$T_DIR/bundle.pem"
    printf '{"id": "t0", "endpoint": "wss://localhost:%d/ws"}, {"id": "t1", "endpoint": "wss://localhost:%d/ws"}, ' "$TLS0" $((TLS0 + 1))
    printf '{"id": "t2", "endpoint": "wss://localhost:%d/ws"}, {"id": "t3", "endpoint": "wss://localhost:%d/ws"}]}' $((TLS0 + 2)) $((TLS0 + 3))
} > "$T_DIR/tls4.json"
"$PY" - "$T_DIR/standin.json" "$TLS0" "$T_DIR/wrong/server.pem" "$T_DIR/wrong/server.key" <<'PY'
import json, sys
p, port, cert, key = sys.argv[1:]
c = json.load(open(p)); c["nodes"][port].update({"cert": cert, "key": key}); json.dump(c, open(p + ".tmp", "w"))
import os; os.rename(p + ".tmp", p)
PY
probe tls1: "$T_DIR/tls4.json"
probe tls1: "$T_DIR/tls4.json"
t_eq "tls, one node untrusted: counted (exit 0)" 0 "$P_RC"
t_eq "tls, one node untrusted: it alone is down" "3 1" "$(t_rcli HGET tls1:round up) $(t_rcli HGET tls1:round down)"
t_match "tls, one node untrusted: its last_error" '"last_error":"tls_untrusted"' "$(t_rcli HGET tls1:nodes t0)"

# ---- 2. nodes named by host names whose resolver is gone
if unshare -m true 2>/dev/null && python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.153", 53))' 2>/dev/null; then
    python3 "$T_ROOT/tests/tools/stub_dns.py" --listen 127.0.0.153 --suffix .wsb.test --ready-file "$T_DIR/dns.ready" &
    DNS_PID=$!
    T_PIDS+=("$DNS_PID")
    t_wait_for test -e "$T_DIR/dns.ready"
    printf 'nameserver 127.0.0.153\noptions timeout:1 attempts:1\n' > "$T_DIR/resolv.conf"
    {
        printf '{"allow_insecure_ws": true, "defaults": {"versions": ["v1"], "location": "L", "check": {"rise": 1, "fall": 1}}, "nodes": ['
        for i in 0 1 2 3 4; do printf '%s{"id": "d%d", "endpoint": "ws://node%d.wsb.test:%d/ws"}' "$([ $i -gt 0 ] && echo ,)" $i $i $((PLAIN0 + i)); done
        printf ']}'
    } > "$T_DIR/dns.json"
    dns_probe() {
        unshare -m sh -c 'mount --bind "$1" /etc/resolv.conf && shift && exec "$@"' sh "$T_DIR/resolv.conf" \
            "$PROBE" --redis "$T_REDIS_URL" --prefix dns: --inventory "$T_DIR/dns.json" --once 2>"$T_DIR/probe.err"
        P_RC=$?
        P_ERR=$(cat "$T_DIR/probe.err")
    }
    dns_probe
    t_eq "dns: names resolve: counted" 0 "$P_RC"
    t_eq "dns: five up" 5 "$(t_rcli HGET dns:round up)"
    kill "$DNS_PID"; wait "$DNS_PID" 2>/dev/null
    dns_probe
    t_eq "dns, resolver gone: exit 3" 3 "$P_RC"
    t_match "dns, resolver gone: named as the probe's" "error: probe fault: 5 of 5 checks failed with dns \(first: node d0: " "$P_ERR"
    t_eq "dns, resolver gone: still five up" 5 "$(t_rcli HGET dns:round up)"
    a=$(handler dns:)
    t_eq "dns, resolver gone: the handler keeps answering" 200 "$(status_of "$a")"
    t_match "dns, resolver gone: from the last verdicts" "^ws://node[0-4].wsb.test:" "$(endpoint_of "$a")"
    # A resolver that does not answer at all (glibc would wait for it past
    # the checks' budget): the same, the outcome says so.
    python3 "$T_ROOT/tests/tools/stub_dns.py" --listen 127.0.0.153 --suffix .wsb.test --silent \
        --ready-file "$T_DIR/dns2.ready" &
    T_PIDS+=($!)
    t_wait_for test -e "$T_DIR/dns2.ready"
    sed -i 's/"fall": 1}}/"fall": 1, "timeout_ms": 500}}/' "$T_DIR/dns.json"
    printf 'nameserver 127.0.0.153\noptions timeout:3 attempts:1\n' > "$T_DIR/resolv.conf"
    dns_probe
    t_eq "dns, resolver silent: exit 3" 3 "$P_RC"
    t_match "dns, resolver silent: named as the probe's" "error: probe fault: 5 of 5 checks failed with dns \(first: node d0: no answer from the resolver within 500 ms\)" "$P_ERR"
    t_eq "dns, resolver silent: still five up" 5 "$(t_rcli HGET dns:round up)"
else
    echo "probe_faults: no mount namespace or no port 53 on 127.0.0.153 here: the resolver case is skipped" >&2
fi

# ---- 3. out of file descriptors: those checks keep their nodes' verdicts
{
    printf '{"allow_insecure_ws": true, "defaults": {"versions": ["v1"], "location": "L", "check": {"rise": 1, "fall": 1}}, "nodes": ['
    for i in 0 1 2 3 4; do printf '%s{"id": "f%d", "endpoint": "ws://127.0.0.1:%d/ws"}' "$([ $i -gt 0 ] && echo ,)" $i $((PLAIN0 + i)); done
    printf ']}'
} > "$T_DIR/fd.json"
probe fd: "$T_DIR/fd.json"
t_eq "fd: counted" 0 "$P_RC"
(ulimit -n 8; exec "$PROBE" --redis "$T_REDIS_URL" --prefix fd: --inventory "$T_DIR/fd.json" --once --max-parallel 10) \
    2>"$T_DIR/fd.err"
rc=$?
t_eq "fd, out of descriptors: exit 3" 3 "$rc"
t_match "fd, out of descriptors: named as the probe's" "probe fault: [0-9] of 5 checks could not run \(first: node f[0-9]: probe_no_fd" "$(cat "$T_DIR/fd.err")"
t_eq "fd, out of descriptors: still five up" 5 "$(t_rcli HGET fd:round up)"
t_eq "fd, out of descriptors: the handler keeps answering" 200 "$(status_of "$(handler fd:)")"

# ---- 4. a canary that must answer for a round to count
sed "s|{\"allow_insecure_ws\": true,|{\"allow_insecure_ws\": true, \"canary\": {\"address\": \"127.0.0.1:$CANARY\", \"timeout_ms\": 1000},|" \
    "$T_DIR/fd.json" > "$T_DIR/canary.json"
t_match "canary: --check-inventory names it" "canary tcp 127.0.0.1:$CANARY" "$("$PROBE" --inventory "$T_DIR/canary.json" --check-inventory 2>&1)"
probe can: "$T_DIR/canary.json"
t_eq "canary answers: counted" 0 "$P_RC"
sed -i "s|127.0.0.1:$CANARY|127.0.0.1:$NOTHING|" "$T_DIR/canary.json"
at1=$(t_rcli HGET can:round at)
sleep 1
probe can: "$T_DIR/canary.json"
t_eq "canary silent: exit 3" 3 "$P_RC"
t_match "canary silent: the line names it" "error: probe fault: the canary tcp 127.0.0.1:$NOTHING failed: refused" "$P_ERR"
t_eq "canary silent: the round was not rewritten" "$at1" "$(t_rcli HGET can:round at)"
t_eq "canary silent: the handler keeps answering" 200 "$(status_of "$(handler can:)")"

# ---- 5. three of five regions go dark at once: a real outage
p_ports 5
R0=$P_BASE
printf '{"nodes": {"%d": {"mode": "ok"}, "%d": {"mode": "ok"}}}' $((R0 + 1)) $((R0 + 3)) > "$T_DIR/live.json"
printf '{"nodes": {"%d": {"mode": "ok"}, "%d": {"mode": "ok"}, "%d": {"mode": "ok"}}}' "$R0" $((R0 + 2)) $((R0 + 4)) > "$T_DIR/dark.json"
p_standin "$T_DIR/live.json" || t_fail "live regions' stand-in"
LIVE_PID=$T_STANDIN_PID
p_standin "$T_DIR/dark.json" || t_fail "dark regions' stand-in"
DARK_PID=$T_STANDIN_PID
cat > "$T_DIR/regions.json" <<JSON
{"allow_insecure_ws": true, "defaults": {"versions": ["v1"], "check": {"rise": 1, "fall": 1}},
 "nodes": [
  {"id": "london", "endpoint": "ws://127.0.0.1:$R0/ws", "location": "London", "latitude": 51.51, "longitude": -0.09},
  {"id": "sweden", "endpoint": "ws://127.0.0.1:$((R0 + 1))/ws", "location": "Linkoping", "latitude": 58.41, "longitude": 15.62},
  {"id": "china", "endpoint": "ws://127.0.0.1:$((R0 + 2))/ws", "location": "Changchun", "latitude": 43.88, "longitude": 125.32},
  {"id": "seattle", "endpoint": "ws://127.0.0.1:$((R0 + 3))/ws", "location": "Milton", "latitude": 47.25, "longitude": -122.31},
  {"id": "manila", "endpoint": "ws://127.0.0.1:$((R0 + 4))/ws", "location": "Manila", "latitude": 13.0, "longitude": 122.0}
 ]}
JSON
probe reg: "$T_DIR/regions.json"
t_eq "regions: five up" 5 "$(t_rcli HGET reg:round up)"
t_eq "regions: a London client gets London" "ws://127.0.0.1:$R0/ws" "$(endpoint_of "$(handler reg: 81.2.69.142)")"
t_eq "regions: a Changchun client gets Changchun" "ws://127.0.0.1:$((R0 + 2))/ws" "$(endpoint_of "$(handler reg: 175.16.199.1)")"
kill "$DARK_PID"; wait "$DARK_PID" 2>/dev/null
probe reg: "$T_DIR/regions.json"
t_eq "regions dark: counted (exit 0): it is the fleet's outage" 0 "$P_RC"
t_eq "regions dark: three down, two up" "2 3" "$(t_rcli HGET reg:round up) $(t_rcli HGET reg:round down)"
t_eq "regions dark: no probe fault" "" "$(grep 'probe fault' <<<"$P_ERR")"
t_eq "regions dark: the London client moves to Sweden" "ws://127.0.0.1:$((R0 + 1))/ws" "$(endpoint_of "$(handler reg: 81.2.69.142)")"
for ip in 175.16.199.1 202.196.224.1 89.160.20.115 216.160.83.57; do
    e=$(endpoint_of "$(handler reg: $ip)")
    t_match "regions dark: client $ip gets a live region" "^ws://127.0.0.1:($((R0 + 1))|$((R0 + 3)))/ws$" "$e"
done

# ---- the all-down policy (README "When nodes are down"), as --check says it
kill "$LIVE_PID" 2>/dev/null   # the live regions too: every node refuses
wait "$LIVE_PID" 2>/dev/null
probe reg: "$T_DIR/regions.json"
t_eq "all down: counted (exit 0)" 0 "$P_RC"
t_eq "all down: five down" 5 "$(t_rcli HGET reg:round down)"
a=$(handler reg: 81.2.69.142)
t_eq "all down: 503" 503 "$(status_of "$a")"
t_match "all down: error 101" '"error_code":101' "$a"
t_match "all down: --check says which case holds" "state live, round [0-9]+ s old; .*every node is offline: answers are 503 \(101\)" "$(check_line reg:)"
t_rcli DEL reg:round >/dev/null   # as when its TTL runs out
a=$(handler reg: 81.2.69.142)
t_match "expired: 503 with error 101" '"error_code":101' "$a"
t_match "expired: --check says so" "state EXPIRED \(no round within its TTL" "$(check_line reg:)"
t_summary
