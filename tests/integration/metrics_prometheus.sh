#!/usr/bin/env bash
# metrics_prometheus.sh: the /metrics exposition (README "Monitoring") for
# real: a wsb-handler pool started as examples/systemd/wsb-handler.service
# starts it, behind nginx configured from examples/nginx/wsbalancer.conf,
# reading Redis as the ACL users of examples/redis/users.acl, with a probe
# round over three stand-in nodes; a second pool as another host (its own
# WSB_METRICS_HOST) counts in the same Redis.  promtool (Debian's
# prometheus package) checks the exposition; a real Prometheus server on a
# private port scrapes it through nginx, and its HTTP API must show the
# counter this test's own requests moved.  The Grafana dashboard of
# examples/grafana/ queries only metrics that the exposition has.
. "$(dirname "$0")/web_lib.sh"
. "$T_ROOT/tests/contract.sh"
EX="$T_ROOT/examples"
LONDON=81.2.69.142

command -v prometheus >/dev/null && command -v promtool >/dev/null ||
    { t_fail "prometheus and promtool are missing (apt-get install prometheus; scripts/deps.sh)"; t_summary; exit 1; }

w_redis_acl_start
w_three_cities 2000 || { t_fail "stand-in nodes did not start"; t_summary; exit 1; }
PROBE_ENV=(WSB_REDIS_URL="redis://wsb-probe@127.0.0.1:$T_REDIS_PORT/0" WSB_REDIS_PASSWORD_FILE="$T_DIR/probe.redis-password")
env "${PROBE_ENV[@]}" "$BUILD/wsb-probe" --inventory "$T_DIR/inventory.json" --once 2>"$T_DIR/probe.log"
t_eq "a probe round as the probe's ACL user" 0 "$?"
t_true "the probe wrote its counters as its ACL user" bash -c "! grep -q 'metrics:' '$T_DIR/probe.log'"

SOCK="$T_DIR/run/handler.sock"
W_ENV_EXTRA=(WSB_ALLOW_INSECURE_WS=1)   # the stand-ins are ws://
w_pool_from_unit wsb-handler.service "$SOCK" || { t_fail "pool did not start"; cat "$T_DIR/pool.log" >&2; t_summary; exit 1; }
w_nginx_example "$SOCK" || { t_summary; exit 1; }

# A second host: another pool on its own socket, with its own host label.
SOCK2="$T_DIR/run2/handler.sock"
mkdir -p "$T_DIR/run2"
W2_ENV=("${W_ENV[@]}" "WSB_METRICS_HOST=second-host")
W2_ARGS=("${W_ARGS[@]//$SOCK/$SOCK2}")
w_pool_start "$T_DIR/pool2.log" W2_ENV "${W2_ARGS[@]}"
w_wait_socket "$SOCK2" || t_fail "second pool did not start"

# --- access ---
code=$(curl -s -o "$T_DIR/m0.txt" -w '%{http_code}' "$BASE/metrics")
t_eq "/metrics from loopback (WSB_METRICS_ALLOW's default)" 200 "$code"
t_match "Prometheus text content type" 'text/plain; version=0\.0\.4' \
    "$(curl -s -D - -o /dev/null "$BASE/metrics" | tr -d '\r' | grep -i '^content-type:')"
code=$(curl -s -o "$T_DIR/m-out.txt" -w '%{http_code}' -H "X-Forwarded-For: 203.0.113.9" "$BASE/metrics")
t_eq "/metrics for an outside client behind the trusted proxy: 404" 404 "$code"
t_match "the 404 is the contract's JSON" '"error_message"' "$(cat "$T_DIR/m-out.txt")"
t_eq "any path ending in /metrics" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/balancer/metrics")"
t_eq "POST /metrics: 404" 404 "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$BASE/metrics")"

# --- requests that move counters ---
for i in $(seq 30); do curl -s -o /dev/null -H "X-Forwarded-For: $LONDON" "$BASE/v1/websocket/server"; done
for i in $(seq 4); do curl -s -o /dev/null "$BASE/v9/websocket/server"; done
for i in $(seq 3); do curl -s -o /dev/null "$BASE/nowhere"; done
for i in $(seq 5); do w_fcgi "$SOCK2" /v1/websocket/server REMOTE_ADDR=$LONDON >/dev/null; done
LON_ENC=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "ws://127.0.0.1:$LON_PORT/ws")
for i in $(seq 2); do curl -s -o /dev/null -H "X-Forwarded-For: $LONDON" "$BASE/v1/websocket/server?exclude=$LON_ENC"; done

scrape() { curl -s "$BASE/metrics" > "$T_DIR/m.txt"; }
# The counts reach Redis at each process's next refresh (WSB_CACHE_MS).
value() {   # metric{labels} as written in the exposition: its value, or empty
    awk -v k="$1" '$1 == k {print $2}' "$T_DIR/m.txt"
}
sum_of() {  # name and a label filter (regex): the sum over matching series
    grep -E "^$1\{[^}]*$2" "$T_DIR/m.txt" | awk '{s += $NF} END {print s + 0}'
}
for i in $(seq 50); do
    scrape
    [ "$(sum_of wsb_answers_total 'status="200",code="0",version="v1"')" -ge 37 ] &&
        [ -n "$(value 'wsb_node_exclusions_total{node="lon"}')" ] && break
    sleep 0.1
done
HOST=$(hostname | tr -c 'A-Za-z0-9.\n-' '_' | cut -c1-64)
t_eq "answers 200 v1 of this host's processes" 32 "$(sum_of wsb_answers_total "host=\"$HOST\",status=\"200\",code=\"0\",version=\"v1\"")"
t_eq "answers 200 v1 of the second host" 5 "$(sum_of wsb_answers_total 'host="second-host",status="200",code="0",version="v1"')"
t_eq "503 / 102 for a version no node lists: version=\"other\"" 4 "$(sum_of wsb_answers_total 'status="503",code="102",version="other"')"
t_eq "404s counted (3 unknown paths, 2 refused scrapes)" 5 "$(sum_of wsb_answers_total 'status="404",code="404",version="none"')"
t_eq "the London clients were located" 37 "$(sum_of wsb_geoip_lookups_total 'result="located"')"
t_true "answers per node add up to the 200s (37)" test "$(sum_of wsb_node_answers_total 'node=')" -eq 37
t_eq "exclusions counted for the excluded node" 2 "$(value 'wsb_node_exclusions_total{node="lon"}')"
t_eq "  ... and for no other" 2 "$(sum_of wsb_node_exclusions_total 'node=')"
t_true "refreshes counted" test "$(sum_of wsb_state_refreshes_total "host=\"$HOST\"")" -ge 1
t_true "full reads counted" test "$(sum_of wsb_state_full_reads_total "host=\"$HOST\"")" -ge 1
t_eq "the GeoIP database is up on this host" 1 "$(value "wsb_geoip_database_up{host=\"$HOST\"}")"
t_eq "redis read by the scrape" 1 "$(value "wsb_metrics_redis_up{host=\"$HOST\"}")"
t_eq "probe: one round" 1 "$(value wsb_probe_rounds_total)"
t_eq "probe: three checks ok" 3 "$(value 'wsb_probe_checks_total{outcome="ok"}')"
t_eq "probe: three nodes up" 3 "$(value 'wsb_probe_nodes{state="up"}')"
t_eq "probe: no fault" 0 "$(value wsb_probe_fault)"
t_match "probe: round duration" '^[0-9.]+$' "$(value wsb_probe_round_duration_seconds)"
t_eq "node lon online" 1 "$(value 'wsb_node_online{node="lon"}')"
t_eq "node lon's capacity" 1000 "$(value 'wsb_node_capacity{node="lon"}')"
t_match "node info names the endpoint and last outcome" "wsb_node_info\\{node=\"lon\",endpoint=\"ws://127.0.0.1:$LON_PORT/ws\",location=\"London\",last_outcome=\"ok\",filter=\"none\"\\} 1" "$(grep '^wsb_node_info{node="lon"' "$T_DIR/m.txt")"
t_true "the London clients were assigned to lon (since its check)" test "$(value 'wsb_node_assigned{node="lon"}')" -ge 30
t_true "snapshot age is small" awk -v a="$(value "wsb_snapshot_age_seconds{host=\"$HOST\"}")" 'BEGIN {exit !(a >= 0 && a < 5)}'

# --- the format ---
promtool check metrics < "$T_DIR/m.txt" > "$T_DIR/promtool.log" 2>&1
t_eq "promtool check metrics passes" 0 "$?"
t_eq "promtool has nothing to say" "" "$(cat "$T_DIR/promtool.log")"
t_true "every family has HELP and TYPE" bash -c "[ \"\$(grep -c '^# HELP ' '$T_DIR/m.txt')\" -eq \"\$(grep -c '^# TYPE ' '$T_DIR/m.txt')\" ]"
t_true "counters end in _total" bash -c "! grep '^# TYPE .* counter\$' '$T_DIR/m.txt' | grep -v '_total counter\$'"

# Redis contents edited by hand never break the exposition.
t_rcli --user default HSET wsb:metrics:handlers 'bad|answers|abc|1|v1' 5 'x y|refreshes' 3 "$HOST|answers|200|0|v1" notanumber \
    'evil"host|refreshes' 1 'h|answers|200|00|v1' 2 >/dev/null
t_rcli --user default HSET wsb:metrics:nodes 'answers|bad id' 3 'answers|' 1 >/dev/null
t_rcli --user default HSET wsb:metrics:probe 'checks|Bad-Outcome' 3 rounds x >/dev/null
scrape
promtool check metrics < "$T_DIR/m.txt" > "$T_DIR/promtool2.log" 2>&1
t_eq "promtool passes with garbage in the counters' hashes" 0 "$?"
t_true "garbage fields are left out" bash -c "! grep -E 'bad id|Bad-Outcome|evil|host=\"bad\"' '$T_DIR/m.txt'"
# A count edited into garbage would refuse every later HINCRBY of the
# host: the next flush sets it anew (a counter reset) and says so once.
for i in $(seq 2); do curl -s -o /dev/null -H "X-Forwarded-For: $LONDON" "$BASE/v1/websocket/server"; done
for i in $(seq 50); do
    scrape
    [ -n "$(value "wsb_answers_total{host=\"$HOST\",status=\"200\",code=\"0\",version=\"v1\"}")" ] && break
    sleep 0.1
done
t_eq "a count edited into garbage is set anew by the next flush" 2 \
    "$(value "wsb_answers_total{host=\"$HOST\",status=\"200\",code=\"0\",version=\"v1\"}")"
t_eq "  ... with one warning naming the field" 1 "$(grep -c "warn: metrics: .*'$HOST|answers|200|0|v1' holds no count" "$T_DIR/pool.log")"

# --- a real Prometheus scraping through nginx ---
PROM_PORT=$(t_free_port)
cat > "$T_DIR/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: wsbalancer
    metrics_path: /metrics
    static_configs:
      - targets: ['127.0.0.1:$HTTP_PORT']
YML
promtool check config "$T_DIR/prometheus.yml" >/dev/null 2>&1 || t_fail "promtool rejects the test's prometheus.yml"
prometheus --config.file="$T_DIR/prometheus.yml" --storage.tsdb.path="$T_DIR/prom" \
    --web.listen-address="127.0.0.1:$PROM_PORT" >"$T_DIR/prometheus.log" 2>&1 &
T_PIDS+=($!)
PROM="http://127.0.0.1:$PROM_PORT"
promql() {   # query: the first result's value, or empty
    curl -s --get --data-urlencode "query=$1" "$PROM/api/v1/query" |
        python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")' 2>/dev/null
}
Q="sum(wsb_answers_total{status=\"200\",version=\"v1\",host=\"$HOST\"})"
before=""
for i in $(seq 100); do before=$(promql "$Q"); [ -n "$before" ] && break; sleep 0.2; done
t_match "Prometheus scraped the balancer through nginx" '^[0-9]+$' "$before"
t_eq "the scrape target is up" 1 "$(promql 'up{job="wsbalancer"}')"
for i in $(seq 25); do curl -s -o /dev/null -H "X-Forwarded-For: $LONDON" "$BASE/v1/websocket/server"; done
after=$before
for i in $(seq 100); do
    after=$(promql "$Q")
    [ -n "$after" ] && [ "$after" -ge $((before + 25)) ] && break
    sleep 0.2
done
t_eq "Prometheus's API shows the 25 answers this test asked for" "$((before + 25))" "$after"
t_eq "and the probe's counter" 3 "$(promql 'wsb_probe_checks_total{outcome="ok"}')"

# --- the dashboard queries only metrics that exist ---
DASH="$EX/grafana/wsbalancer-dashboard.json"
t_true "dashboard is valid JSON" python3 -m json.tool "$DASH" >/dev/null
scrape
missing=$(python3 - "$DASH" "$T_DIR/m.txt" "$T_DIR/queries.txt" <<'PY'
import json, re, sys
dash = json.load(open(sys.argv[1]))
have = set()
for line in open(sys.argv[2]):
    m = re.match(r'# TYPE (\S+) ', line)
    if m:
        have.add(m.group(1))
exprs = []
def walk(o):
    if isinstance(o, dict):
        for k, v in o.items():
            if k == "expr" and isinstance(v, str):
                exprs.append(v)
            else:
                walk(v)
    elif isinstance(o, list):
        for v in o:
            walk(v)
walk(dash)
with open(sys.argv[3], "w") as q:   # the queries as Grafana would send them
    for e in exprs:
        q.write(e.replace("$__rate_interval", "1m").replace("$host", ".*").replace("$node", ".*") + "\n")
names = set(n for e in exprs for n in re.findall(r'\bwsb_[a-z_]+', e))
print(len(exprs), len(names), " ".join(sorted(names - have)))
PY
)
t_true "the dashboard has queries ($missing)" test "$(echo "$missing" | cut -d' ' -f1)" -ge 8
t_eq "every metric the dashboard queries is in the exposition" "" "$(echo "$missing" | cut -d' ' -f3-)"
bad=0
while IFS= read -r q; do
    st=$(curl -s --get --data-urlencode "query=$q" "$PROM/api/v1/query" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])' 2>/dev/null)
    [ "$st" = success ] || { bad=$((bad + 1)); echo "Prometheus rejects: $q" >&2; }
done < "$T_DIR/queries.txt"
t_eq "Prometheus accepts every query of the dashboard ($(wc -l < "$T_DIR/queries.txt"))" 0 "$bad"

t_true "no pool worker died" bash -c "! grep -q 'pool: worker' '$T_DIR/pool.log' '$T_DIR/pool2.log'"
t_eq "no other metrics warning in the pools' logs" 1 "$(cat "$T_DIR/pool.log" "$T_DIR/pool2.log" | grep -c 'metrics:')"
t_no_sanitizer_reports "no sanitizer reports from the handler" "$T_DIR/pool.log" "$T_DIR/pool2.log"
t_summary
