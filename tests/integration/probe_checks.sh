#!/usr/bin/env bash
# probe_checks.sh: every check type and failure mode of wsb-probe against
# stand-in nodes on loopback: the outcome stored per node, its health, its
# load from status_url or the http check's body, TLS verified against the
# inventory's ca_file, and one log line per node state change only.
. "$(dirname "$0")/probe_lib.sh"

t_redis_start || exit 1
p_ca
p_ports 30 || exit 1
P=$P_BASE
port() { echo $((P + $1)); }

cat > "$T_DIR/standin.json" <<JSON
{"tls_cert": "$T_DIR/ca/server.pem", "tls_key": "$T_DIR/ca/server.key",
 "nodes": {
  "$(port 0)":  {"mode": "ok", "connections": 25, "capacity": 100},
  "$(port 1)":  {"mode": "ok", "tls": true, "load": 0.3},
  "$(port 2)":  {"mode": "ok", "tls": true, "cert": "$T_DIR/ca/untrusted.pem", "key": "$T_DIR/ca/untrusted.key"},
  "$(port 3)":  {"mode": "hang"},
  "$(port 4)":  {"mode": "hang_after_connect_tls", "tls": true},
  "$(port 5)":  {"mode": "garbage"},
  "$(port 6)":  {"mode": "bad_accept"},
  "$(port 7)":  {"mode": "no_upgrade"},
  "$(port 8)":  {"mode": "http_500"},
  "$(port 9)":  {"mode": "close"},
  "$(port 11)": {"mode": "bad_report"},
  "$(port 12)": {"mode": "huge_report"},
  "$(port 13)": {"mode": "ok", "connections": 40},
  "$(port 14)": {"mode": "slow", "delay_ms": 1500}
 }}
JSON
p_standin "$T_DIR/standin.json" || exit 1

ws() { echo "\"endpoint\": \"ws://127.0.0.1:$(port "$1")/ws\""; }
wss() { echo "\"endpoint\": \"wss://localhost:$(port "$1")/ws\""; }
http_check() { echo "\"check\": {\"type\": \"http\", \"url\": \"$1\"}"; }
U="http://127.0.0.1"
cat > "$T_DIR/inventory.json" <<JSON
{"allow_insecure_ws": true, "ca_file": "ca/ca.pem",
 "defaults": {"versions": ["v1"], "capacity": 1000, "location": "Loopback",
              "check": {"type": "websocket", "timeout_ms": 5000, "rise": 2, "fall": 2}},
 "nodes": [
  {"id": "ws-ok", $(ws 0), "status_url": "$U:$(port 0)/status"},
  {"id": "wss-ok", $(wss 1), "status_url": "https://localhost:$(port 1)/status"},
  {"id": "wss-untrusted", $(wss 2)},
  {"id": "ws-hang", $(ws 3), "check": {"timeout_ms": 1000}},
  {"id": "wss-hang-tls", $(wss 4), "check": {"timeout_ms": 1000}},
  {"id": "ws-garbage", $(ws 5)},
  {"id": "ws-bad-accept", $(ws 6)},
  {"id": "ws-no-upgrade", $(ws 7)},
  {"id": "ws-500", $(ws 8)},
  {"id": "ws-close", $(ws 9)},
  {"id": "ws-refused", $(ws 10)},
  {"id": "ws-bad-report", $(ws 11), "status_url": "$U:$(port 11)/status"},
  {"id": "ws-huge-report", $(ws 12), "status_url": "$U:$(port 12)/status"},
  {"id": "ws-report-refused", $(ws 0), "status_url": "$U:$(port 10)/status"},
  {"id": "ws-report-500", $(ws 0), "status_url": "$U:$(port 8)/status"},
  {"id": "ws-check-url", $(ws 10), "check": {"url": "ws://127.0.0.1:$(port 0)/other"}},
  {"id": "http-ok", $(ws 13), $(http_check "$U:$(port 13)/status")},
  {"id": "http-health", $(ws 13), $(http_check "$U:$(port 13)/health")},
  {"id": "https-ok", $(wss 1), $(http_check "https://localhost:$(port 1)/status")},
  {"id": "https-untrusted", $(wss 2), $(http_check "https://localhost:$(port 2)/status")},
  {"id": "http-500", $(ws 8), $(http_check "$U:$(port 8)/status")},
  {"id": "http-bad-report", $(ws 11), $(http_check "$U:$(port 11)/status")},
  {"id": "http-huge-report", $(ws 12), $(http_check "$U:$(port 12)/status")},
  {"id": "http-slow", $(ws 14), "check": {"type": "http", "url": "$U:$(port 14)/status", "timeout_ms": 500}},
  {"id": "http-garbage", $(ws 5), $(http_check "$U:$(port 5)/status")},
  {"id": "tcp-ok", $(ws 0), "check": {"type": "tcp"}},
  {"id": "tcp-hang", $(ws 3), "check": {"type": "tcp"}},
  {"id": "tcp-refused", $(ws 0), "check": {"type": "tcp", "address": "127.0.0.1:$(port 10)"}}
 ]}
JSON
N_NODES=28

start=$(date +%s%N)
p_probe --inventory "$T_DIR/inventory.json" --once
ms=$(( ($(date +%s%N) - start) / 1000000 ))
t_eq "first round exits 0 whatever the nodes' health" 0 "$P_RC"
# Nodes that answer get 5000 ms so that a loaded machine does not flake;
# the hanging ones 1000 ms.  The concurrency bound is probe_scale.sh's.
echo "  round over $N_NODES nodes (hanging ones with timeout 1000 ms) took $ms ms"

# id, online, last_error
expect() {
    t_eq "$1: online" "$2" "$(p_field "$1" online)"
    t_eq "$1: last_error" "$3" "$(p_field "$1" last_error)"
}
expect ws-ok true ok
expect wss-ok true ok
expect wss-untrusted false tls_untrusted
expect ws-hang false timeout
expect wss-hang-tls false timeout
expect ws-garbage false bad_response
expect ws-bad-accept false bad_handshake
expect ws-no-upgrade false bad_status
expect ws-500 false bad_status
expect ws-close false closed
expect ws-refused false refused
expect ws-bad-report true bad_report
expect ws-huge-report true report_too_large
expect ws-report-refused true report_failed
expect ws-report-500 true report_failed
expect ws-check-url true ok
expect http-ok true ok
expect http-health true ok
expect https-ok true ok
expect https-untrusted false tls_untrusted
expect http-500 false bad_status
expect http-bad-report true bad_report
expect http-huge-report true report_too_large
expect http-slow false timeout
expect http-garbage false bad_response
expect tcp-ok true ok
expect tcp-hang true ok
expect tcp-refused false refused

# Load: connections / capacity (the report's capacity overrides the
# inventory's), or the reported load, or unknown.
t_eq "ws-ok: load from status_url connections/capacity" 0.25 "$(p_field ws-ok load)"
t_eq "ws-ok: connections recorded" 25 "$(p_field ws-ok connections)"
t_eq "ws-ok: report capacity overrides the inventory's" 100 "$(p_field ws-ok capacity)"
t_eq "wss-ok: load reported over https" 0.3 "$(p_field wss-ok load)"
t_eq "http-ok: load from the http check's body (inventory capacity)" 0.04 "$(p_field http-ok load)"
t_eq "http-health: no report in the body: load unknown" "" "$(p_field http-health load)"
t_eq "ws-bad-report: load unknown" "" "$(p_field ws-bad-report load)"
t_eq "ws-huge-report: load unknown" "" "$(p_field ws-huge-report load)"
t_eq "ws-hang: a down node has no load" "" "$(p_field ws-hang load)"
t_eq "ws-hang: capacity from the inventory" 1000 "$(p_field ws-hang capacity)"
t_eq "https-ok: load" 0.3 "$(p_field https-ok load)"

# The websocket check really upgrades: the stand-in counted the 101s.
stats=$(curl -s -m 2 "$U:$(port 0)/__stats")
t_match "stand-in saw real upgrades on the ok node" "\"$(port 0)\": ?[1-9]" \
    "$("$PY" -c 'import json,sys; print(json.dumps(json.loads(sys.argv[1])["upgrades"]))' "$stats")"
t_match "huge report was not read to its end" "report is larger than 64 KiB" "$P_ERR"

# Logging: one line per node on the first round, naming the outcome ...
t_eq "first round: one log line per node" "$N_NODES" "$(grep -c ': node ' <<<"$P_ERR")"
t_match "log names outcome and detail" "node ws-hang: offline \(first check: timeout: no answer within 1000 ms\)" "$P_ERR"
t_match "log: bad accept" "node ws-bad-accept: offline \(first check: bad_handshake: wrong Sec-WebSocket-Accept\)" "$P_ERR"
t_match "log: tls" "node wss-untrusted: offline \(first check: tls_untrusted: " "$P_ERR"
t_match "log: round summary" "round: $N_NODES nodes, 14 up, 14 down, 0 draining" "$P_ERR"
# ... and none when nothing changed.
p_probe --inventory "$T_DIR/inventory.json" --once
t_eq "second round exits 0" 0 "$P_RC"
t_eq "second round: no node lines when nothing changed" 0 "$(grep -c ': node ' <<<"$P_ERR")"
t_eq "second round: counters kept in Redis" 2 "$(p_field ws-hang fail_streak)"
t_eq "second round: ok streak" 2 "$(p_field ws-ok ok_streak)"

# The round summary.
t_eq "summary: nodes" "$N_NODES" "$(t_rcli HGET wsb:round nodes)"
t_eq "summary: up" 14 "$(t_rcli HGET wsb:round up)"
t_eq "summary: down" 14 "$(t_rcli HGET wsb:round down)"
t_eq "summary: draining" 0 "$(t_rcli HGET wsb:round draining)"
t_match "summary: time" '^[0-9]{10}$' "$(t_rcli HGET wsb:round at)"
t_match "summary: duration" '^[0-9]+$' "$(t_rcli HGET wsb:round duration_ms)"
t_match "summary: probe" ":[0-9]+$" "$(t_rcli HGET wsb:round probe)"
ttl=$(t_rcli TTL wsb:round)
t_true "summary expires (TTL $ttl s, default 180)" test "$ttl" -gt 170 -a "$ttl" -le 180

# Without ca_file the system CAs are used: the test CA is not trusted.
# The TLS checks are a few of this round's (under half): their nodes' own
# problem, not a probe fault (README "Probe faults"); they go offline with
# tls_untrusted.  probe_faults.sh has the fleet-wide case.
sed 's|"ca_file": "ca/ca.pem",||' "$T_DIR/inventory.json" > "$T_DIR/inv-noca.json"
p_probe --inventory "$T_DIR/inv-noca.json" --prefix noca: --once
t_eq "no ca_file: exit 0" 0 "$P_RC"
t_eq "no ca_file: test CA not trusted" '"last_error":"tls_untrusted"' \
    "$(t_rcli HGET noca:nodes wss-ok | grep -o '"last_error":"[a-z_]*"')"
t_summary
