#!/usr/bin/env bash
# handler_explain.sh: wsb-handler --explain ADDRESS [vN] [--json] tells, for
# one client, why each node is or is not a candidate (with the numbers),
# the chance of each candidate, and the answer the CGI handler gives;
# --check names the filters that excluded nodes.  Real redis-server, real
# GeoLite2 test database (81.2.69.142 is London).
. "$(dirname "$0")/../lib.sh"
H="$BUILD/wsb-handler"
DB="$GEOIP_DIR/GeoLite2-City-Test.mmdb"
LONDON=81.2.69.142

t_redis_start
NOW=$(date +%s)
node() {   # id endpoint lat lon country continent versions extra-json (CHECKED=unix s: checked_at)
    printf '{"id":"%s","endpoint":"%s","location":"%s","lat":%s,"lon":%s,"country":"%s","continent":"%s","versions":%s,"checked_at":%s%s}' \
        "$1" "$2" "$1" "$3" "$4" "$5" "$6" "$7" "${CHECKED:-$NOW}" "$8"
}
write_fleet() {
    {
        echo "["
        node lon-1 wss://lon1.example.net/ws 51.5 -0.12 GB EU '["v1","v2"]' ',"online":true,"load":0.1,"connections":1000,"capacity":10000'
        echo ","
        node fra-1 wss://fra1.example.net/ws 50.11 8.68 DE EU '["v1"]' ',"online":true,"load":0.2,"connections":2000,"capacity":10000'
        echo ","
        node tyo-1 wss://tyo1.example.net/ws 35.68 139.69 JP AS '["v1"]' ',"online":true,"load":0.1,"connections":1000,"capacity":10000'
        echo ","
        CHECKED=$((NOW - 12)) node lon-off wss://lon2.example.net/ws 51.5 -0.12 GB EU '["v1"]' ',"online":false,"last_error":"timeout"'
        echo ","
        node lon-drain wss://lon3.example.net/ws 51.5 -0.12 GB EU '["v1"]' ',"online":true,"drain":true,"load":0.1'
        echo ","
        node lon-ws ws://lon4.example.net/ws 51.5 -0.12 GB EU '["v1"]' ',"online":true,"load":0.1'
        echo ","
        node lon-v2 wss://lon5.example.net/ws 51.5 -0.12 GB EU '["v2"]' ',"online":true,"load":0.1,"connections":1000,"capacity":10000'
        echo ","
        node lon-full wss://lon6.example.net/ws 51.5 -0.12 GB EU '["v1"]' ',"online":true,"load":0.93,"connections":18600,"capacity":20000'
        echo "]"
    } > "$T_DIR/fleet.json"
    t_state "$T_DIR/fleet.json"
}
write_fleet

explain() { env -i PATH="$PATH" WSB_REDIS_URL="$T_REDIS_URL" WSB_GEOIP_DB="$DB" "$@" "$H" --explain "${EX_ARGS[@]}"; }
cgi() {   # version [env...]: the CGI handler's body for a London client
    local v=$1; shift
    env -i PATH="$PATH" GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=GET REQUEST_URI="/$v/websocket/server" \
        REMOTE_ADDR=$LONDON WSB_REDIS_URL="$T_REDIS_URL" WSB_GEOIP_DB="$DB" "$@" "$H" </dev/null 2>>"$T_DIR/cgi.err" |
        tail -n 1
}
line() { printf '%s\n' "$2" | grep -E "^node $1 " || echo "(no line for $1)"; }

# --- v1 from London: one candidate, every filter once -------------------
EX_ARGS=("$LONDON")
out=$(explain); rc=$?
t_eq "explain: exit 0" 0 "$rc"
t_match "client line" "^client $LONDON" "$out"
t_match "geoip: database, coordinates, country, continent" \
    "geoip: .*GeoLite2-City-Test.mmdb: 51\.5[0-9]*, -0\.09[0-9]*, country GB, continent EU" "$out"
t_match "version line" $'\nversion v1\n' "$out"
t_match "state line" "state live, round [0-9]+ s old; 8 nodes" "$out"
t_match "lon-1: candidate, its numbers" \
    "candidate: 2 km, room 8,000 of 10,000 \(1,000 used \+ 0 assigned\), slow start 1\.00, weight 8,000, p 1\.000" \
    "$(line lon-1 "$out")"
t_match "lon-off: offline with last_error and age" "offline \(last_error timeout, checked 1[2-4] s ago\)" \
    "$(line lon-off "$out")"
t_match "lon-drain: draining (inventory)" "draining \(inventory\)$" "$(line lon-drain "$out")"
t_match "lon-ws: ws:// not served" "ws:// endpoint not served \(WSB_ALLOW_INSECURE_WS=0\)$" "$(line lon-ws "$out")"
t_match "lon-v2: no v1" "no v1 \(lists v2\)$" "$(line lon-v2 "$out")"
t_match "lon-full: overloaded with its numbers" "overloaded \(0\.93 >= 0\.9: 18,600 \+ 0 assigned of 20,000\)$" \
    "$(line lon-full "$out")"
t_match "fra-1: too far, with the nearest and the band" \
    "too far \(63[0-9] km; nearest usable 2 km, band to 5[0-9] km\)$" "$(line fra-1 "$out")"
t_match "tyo-1: too far" "too far \(9,5[0-9][0-9] km; nearest usable 2 km" "$(line tyo-1 "$out")"
t_eq "candidates first" "node lon-1" "$(printf '%s\n' "$out" | grep '^node' | head -1 | awk '{print $1, $2}')"
t_eq "then the nearest excluded; Tokyo last" "node tyo-1" "$(printf '%s\n' "$out" | grep '^node' | tail -1 | awk '{print $1, $2}')"
t_eq "one line per node" 8 "$(printf '%s\n' "$out" | grep -c '^node')"
answer=$(printf '%s\n' "$out" | sed -n 's/^answer 200 //p')
t_eq "answer: the body the CGI handler gives the same client" "$(cgi v1)" "$answer"
t_match "answer names lon-1" '"endpoint":"wss://lon1.example.net/ws"' "$answer"

# The CGI answer above was counted: the fleet's assignments are read back.
t_match "lon-1: the CGI answer counted as assigned" "room 7,999 of 10,000 \(1,000 used \+ 1 assigned\)" \
    "$(line lon-1 "$(explain)")"

# --- v2: two candidates, probabilities ----------------------------------
EX_ARGS=("$LONDON" v2)
out=$(explain)
t_eq "v2: two candidates" 2 "$(printf '%s\n' "$out" | grep -c '^node [^ ]* *candidate:')"
t_match "v2: the others do not list v2" "no v2 \(lists v1\)" "$(line fra-1 "$out")"
t_match "v2: answer drawn among 2" "^answer 200, one of the 2 candidates drawn by weight" "$(printf '%s\n' "$out" | tail -1)"
EX_ARGS=("$LONDON" v2 --json)
json=$(explain)
t_true "v2 --json parses" python3 -m json.tool <<<"$json" >/dev/null
sum=$(python3 -c 'import json,sys; d=json.load(sys.stdin); print(round(sum(n["probability"] for n in d["nodes"] if n["candidate"]), 6))' <<<"$json")
t_eq "v2: probabilities sum to 1" 1.0 "$sum"
t_eq "v2 --json: summary" '{"candidate": 2, "no v2": 6}' \
    "$(python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["summary"]))' <<<"$json")"
t_eq "v2 --json: answer" "200 2" \
    "$(python3 -c 'import json,sys; a=json.load(sys.stdin)["answer"]; print(a["status"], a["candidates"])' <<<"$json")"

# --- v1 --json: the same report as JSON ---------------------------------
EX_ARGS=("$LONDON" --json)
json=$(explain)
t_true "v1 --json parses" python3 -m json.tool <<<"$json" >/dev/null
t_eq "v1 --json: geoip, reasons, answer" \
    "True GB EU | lon-1:candidate lon-off:offline lon-drain:draining (inventory) lon-ws:ws:// endpoint not served (WSB_ALLOW_INSECURE_WS=0) lon-v2:no v1 lon-full:overloaded fra-1:too far tyo-1:too far | 200 wss://lon1.example.net/ws" \
    "$(python3 -c '
import json,sys
d=json.load(sys.stdin); g=d["geoip"]
r={n["id"]:n["reason"] for n in d["nodes"]}
order=["lon-1","lon-off","lon-drain","lon-ws","lon-v2","lon-full","fra-1","tyo-1"]
print(g["found"], g["country"], g["continent"], "|", " ".join(i+":"+r[i] for i in order), "|", d["answer"]["status"], d["answer"]["endpoint"])' <<<"$json")"

# --- no location: private address, no database -------------------------
EX_ARGS=(10.1.2.3)
out=$(explain)
t_match "private address: not looked up" "geoip: .*private, loopback or reserved address: not looked up" "$out"
t_eq "private address: every usable node is a candidate" 3 "$(printf '%s\n' "$out" | grep -c 'candidate:')"
out=$(env -i PATH="$PATH" WSB_REDIS_URL="$T_REDIS_URL" "$H" --explain "$LONDON")
t_match "no database: said so" "geoip: no database \(WSB_GEOIP_DB unset\)" "$out"
out=$(env -i PATH="$PATH" WSB_REDIS_URL="$T_REDIS_URL" WSB_GEOIP_DB="$T_DIR/missing.mmdb" "$H" --explain "$LONDON" 2>/dev/null)
t_match "missing database: named" "geoip: .*missing.mmdb: no database" "$out"
out=$(env -i PATH="$PATH" WSB_REDIS_URL="$T_REDIS_URL" WSB_GEOIP_DB="$DB" "$H" --explain 2001:db8::1)
t_match "IPv6 documentation address: not looked up" "client 2001:db8::1" "$out"

# --- ws:// allowed: the ws:// node is now a London candidate -------------
EX_ARGS=("$LONDON")
out=$(explain WSB_ALLOW_INSECURE_WS=1)
t_match "WSB_ALLOW_INSECURE_WS=1: lon-ws a candidate" "candidate:" "$(line lon-ws "$out")"

# --- no nodes under the prefix: 503 (100), as the CGI handler answers
out=$(explain WSB_KEY_PREFIX=empty:)
t_match "no nodes: 0 nodes" "; 0 nodes" "$out"
t_eq "no nodes: answer as the CGI handler's" "$(cgi v1 WSB_KEY_PREFIX=empty:)" "$(printf '%s\n' "$out" | sed -n 's/^answer 503 //p')"

# --- bad input: exit 2, a clear message ---------------------------------
bad() {   # name expected-message args...
    local name=$1 msg=$2; shift 2
    env -i PATH="$PATH" WSB_REDIS_URL="$T_REDIS_URL" "$H" "$@" >"$T_DIR/bad.out" 2>"$T_DIR/bad.err"
    t_eq "$name: exit 2" 2 "$?"
    t_match "$name: message" "$msg" "$(cat "$T_DIR/bad.err")"
}
bad "unparsable address" "--explain: '81.2.69' is not an IPv4 or IPv6 address" --explain 81.2.69
bad "no address" "--explain: '' is not an IPv4 or IPv6 address" --explain
bad "v0" "--explain: 'v0' is not a version v1..v1000000" --explain "$LONDON" v0
bad "v1000001" "--explain: 'v1000001' is not a version v1..v1000000" --explain "$LONDON" v1000001
bad "not a version" "--explain: 'x1' is not a version" --explain "$LONDON" x1
bad "--json alone" "--json goes with --explain ADDRESS" --json
bad "--explain with --check" "--explain runs alone" --explain "$LONDON" --check
out=$(env -i PATH="$PATH" WSB_REDIS_URL="redis://127.0.0.1:$(t_free_port)/0" WSB_REDIS_CONNECT_TIMEOUT_MS=200 "$H" --explain "$LONDON" 2>&1)
t_eq "Redis unreachable: exit 1" 1 "$?"
t_match "Redis unreachable: said so" "wsb-handler: --explain: .*127\.0\.0\.1" "$out"

# --- --check names the filters ------------------------------------------
out=$(env -i PATH="$PATH" WSB_REDIS_URL="$T_REDIS_URL" "$H" --check)
t_match "--check: per-filter counts" \
    "8 nodes \(7 online, 4 eligible: 1 offline, 1 draining \(inventory\), 1 overloaded, 1 ws:// endpoint not served \(WSB_ALLOW_INSECURE_WS=0\), 1 draining, 1 overloaded\)" \
    "$out"
printf '[{"id":"only","endpoint":"ws://only.example.net/ws","location":"X","versions":["v1"],"online":true,"load":0.1}]' > "$T_DIR/one.json"
t_state "$T_DIR/one.json"
out=$(env -i PATH="$PATH" WSB_REDIS_URL="$T_REDIS_URL" "$H" --check)
t_match "--check: the operator's ws:// case says why" \
    "1 nodes \(1 online, 0 eligible: 1 ws:// endpoint not served \(WSB_ALLOW_INSECURE_WS=0\), 0 draining" "$out"
EX_ARGS=("$LONDON")
out=$(explain)
t_match "explain: the same case answers 503 (100)" '^answer 503 .*"error_code":100' "$(printf '%s\n' "$out" | tail -1)"
t_eq "explain: 503 as the CGI handler answers" "$(cgi v1)" "$(printf '%s\n' "$out" | tail -1 | sed 's/^answer 503 //')"

# --- a run-time drain, a slow start ------------------------------------
write_fleet
t_rcli HSET wsb:admin fra-1 drain >/dev/null
EX_ARGS=("$LONDON")
out=$(explain)
t_match "fra-1 drained at run time" "draining \(run time\)$" "$(line fra-1 "$out")"
t_rcli DEL wsb:admin >/dev/null
NOW=$(date +%s)
printf '[{"id":"new","endpoint":"wss://new.example.net/ws","location":"London","lat":51.5,"lon":-0.12,"versions":["v1"],"online":true,"load":0,"connections":0,"capacity":1000,"changed_at":%s,"slow_start_s":100,"checked_at":%s}]' \
    "$((NOW - 50))" "$NOW" > "$T_DIR/slow.json"
t_state "$T_DIR/slow.json"
out=$(explain)
t_match "slow start: half way through its window, factor ~0.5 and weight ~450" \
    "candidate: 2 km, room 900 of 1,000 \(0 used \+ 0 assigned\), slow start 0\.5[0-3], weight 4[5-7][0-9], p 1\.000" \
    "$(line new "$out")"

# --- many nodes: a count per reason, the candidates, the 10 nearest excluded
python3 - "$NOW" > "$T_DIR/many.json" <<'PY'
import json, sys
now = int(sys.argv[1])
nodes = []
for i in range(60):
    n = {"id": "n%02d" % i, "endpoint": "wss://n%d.example.net/ws" % i, "location": "L",
         "lat": 51.5 if i < 2 else 10 + i, "lon": -0.12 if i < 2 else 20 + i, "versions": ["v1"],
         "online": i % 3 != 2, "load": 0.1, "checked_at": now, "last_error": "refused"}
    nodes.append(n)
print(json.dumps(nodes))
PY
t_state "$T_DIR/many.json"
out=$(explain)
t_match "60 nodes: a count of the offline" $'\n  20 offline\n' "$out"
t_match "60 nodes: a count of the far" $'\n  38 too far\n' "$out"
t_eq "60 nodes: the 2 candidates and the 10 nearest excluded" 12 "$(printf '%s\n' "$out" | grep -c '^node')"
t_match "60 nodes: says how many are not shown" "\(48 more excluded nodes not shown\)" "$out"

t_summary
