#!/usr/bin/env bash
# fault_geoip.sh: the GeoIP database truncated in place, replaced by the
# broken databases of MaxMind's test data, overwritten with random bytes,
# removed, and swapped for a Country database, while two handler processes
# answer a stream of located clients.  No process crashes or restarts, every
# answer stays a valid 200, and geography resumes when a good file returns.
. "$(dirname "$0")/fault_lib.sh"

GOOD="$GEOIP_DIR/GeoLite2-City-Test.mmdb"
DB="$T_DIR/geo.mmdb"
cp "$GOOD" "$DB"
t_redis_start
f_lighttpd_start 2 WSB_CACHE_MS=200 WSB_GEOIP_DB="$DB" WSB_GEOIP_CHECK_MS=100 \
    || { t_fail "lighttpd did not start"; t_summary; exit 1; }
URL="$F_BASE/v1/websocket/server"
LONDON_IP=81.2.69.142        # GeoLite2-City-Test: London, GB
{
    echo "["
    printf '{"id":"lon","endpoint":"wss://lon.example.net/ws","location":"London","lat":51.51,"lon":-0.13,"country":"GB","continent":"EU","versions":["v1"],"online":true,"capacity":1000000000,"load":0.2},'
    printf '{"id":"tyo","endpoint":"wss://tyo.example.net/ws","location":"Tokyo","lat":35.68,"lon":139.69,"country":"JP","continent":"AS","versions":["v1"],"online":true,"capacity":1000000000,"load":0.2}'
    echo "]"
} > "$T_DIR/state.json"
t_state "$T_DIR/state.json"

# 1 when 12 London requests in a row all get London (without geography
# each has an even chance of Tokyo).
geo_works() {
    python3 - "$URL" "$LONDON_IP" <<'PY'
import http.client, json, sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
c = http.client.HTTPConnection(u.hostname, u.port, timeout=5)
for _ in range(12):
    c.request("GET", u.path, headers={"X-Forwarded-For": sys.argv[2]})
    r = c.getresponse()
    body = r.read()
    if r.status != 200 or json.loads(body).get("endpoint") != "wss://lon.example.net/ws":
        sys.exit(1)
PY
}
# Waits up to 5 s for geography to come back.
geo_resumes() {
    local i
    for i in $(seq 25); do geo_works && return 0; sleep 0.2; done
    return 1
}
replace() { cp "$1" "$DB.new" && mv -f "$DB.new" "$DB"; }   # atomic, as an updater does

t_true "a good database: London client gets London" geo_resumes
PIDS=$(f_handler_pids)
t_match "two handler processes" '^[0-9]+ [0-9]+$' "$PIDS"
# Two clients from London, one from random addresses: every request walks
# the mapped search tree.
f_load_start "$URL" 120 2 "X-Forwarded-For: $LONDON_IP"
LOAD1_PID=$F_LOAD_PID LOAD1_LOG=$F_LOAD_LOG
F_LOAD_NAME=random f_load_start "$URL" 120 1 "X-Forwarded-For: RANDOM_IP"

# A fault, then the good file back: answers never fail, geography resumes.
fault() {   # name, command...
    local name=$1; shift
    "$@"
    sleep 0.6   # several check intervals of lookups against the damage
    t_eq "$name: handler processes still the same" "$PIDS" "$(f_handler_pids)"
    f_req -H "X-Forwarded-For: $LONDON_IP" "$URL"
    t_eq "$name: still answers 200" 200 "$F_STATUS"
    replace "$GOOD"
    t_true "$name: geography resumes once a good file is back" geo_resumes
}
truncate_in_place() { truncate -s 4096 "$DB"; }
truncate_to_zero() { : > "$DB"; }
overwrite_random() {   # same inode, same size, random bytes over the search tree and data
    dd if=/dev/urandom of="$DB" bs=1024 count=16 conv=notrunc status=none
    dd if=/dev/urandom of="$DB" bs=1024 seek=$(( $(stat -c %s "$DB") / 1024 - 8 )) count=8 conv=notrunc status=none
}
remove_file() { rm -f "$DB"; }
not_mmdb() { printf 'this is not a MaxMind database\n' > "$DB.new" && mv -f "$DB.new" "$DB"; }

fault "truncated in place (mapped: SIGBUS)" truncate_in_place
fault "truncated to 0 bytes" truncate_to_zero
fault "overwritten in place with random bytes" overwrite_random
fault "removed" remove_file
fault "replaced by a text file" not_mmdb
for broken in GeoIP2-City-Test-Broken-Double-Format.mmdb GeoIP2-City-Test-Invalid-Node-Count.mmdb \
              MaxMind-DB-test-broken-pointers-24.mmdb; do
    fault "replaced by $broken" replace "$GEOIP_DIR/$broken"
done

# Swapped for a Country database: same-country preference still applies.
replace "$GEOIP_DIR/GeoLite2-Country-Test.mmdb"
t_true "a Country database: London client still gets the GB node" geo_resumes
replace "$GOOD"
t_true "back to City" geo_resumes

f_load_stop                                    # the random one
F_LOAD_PID=$LOAD1_PID F_LOAD_LOG=$LOAD1_LOG
f_load_stop
f_check '
import sys
rows = [l.split() for f in sys.argv[1:] for l in open(f) if l.strip()]
bad = [r for r in rows if r[1] != "200" or r[3] == "-"]
print(("ok" if rows and not bad else "fail") + " under every fault, every answer was a 200 with an endpoint "
      "(%d answers, %d not%s)" % (len(rows), len(bad), (": " + " ".join(bad[0])) if bad else ""))
' "$LOAD1_LOG" "$T_DIR/random.log"
t_eq "no handler process crashed or restarted" "$PIDS" "$(f_handler_pids)"

# SIGBUS containment, seen from outside: with a check interval of an hour
# nothing looks at the file, so only a lookup that faulted on the shrunken
# mapping (and was caught) can make the handler notice a truncation.
f_lighttpd_stop
f_lighttpd_start 2 WSB_CACHE_MS=200 WSB_GEOIP_DB="$DB" WSB_GEOIP_CHECK_MS=3600000 \
    || { t_fail "lighttpd did not restart"; t_summary; exit 1; }
URL="$F_BASE/v1/websocket/server"
t_true "check interval 1 h: geography works" geo_resumes
PIDS=$(f_handler_pids)
before=$(wc -l < "$T_DIR/handler.log")
truncate -s 0 "$DB"
noticed() {
    f_req -H "X-Forwarded-For: $LONDON_IP" "$URL"
    tail -n +"$((before + 1))" "$T_DIR/handler.log" | grep -q "geoip: .*geo.mmdb"
}
t_true "truncated under the mapping: the faulting lookup is caught and the file reopened at once" \
    t_wait_for noticed
t_eq "  ... answers still 200" 200 "$F_STATUS"
t_eq "  ... and no process died" "$PIDS" "$(f_handler_pids)"
t_true "a failed open is logged with the file" grep -q "geoip: .*geo.mmdb" "$T_DIR/handler.log"
t_true "reopening is logged" grep -q "geoip: .*geo.mmdb (re)opened" "$T_DIR/handler.log"
t_true "nothing crashed in lighttpd's view" bash -c "! grep -qi 'died\|signal\|crash' '$T_DIR/error.log'"
t_no_sanitizer_reports "no sanitizer reports" "$T_DIR/handler.log" "$T_DIR/lighttpd.stderr"
t_summary
