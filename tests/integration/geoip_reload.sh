#!/usr/bin/env bash
# geoip_reload.sh: keeping GeoIP data fresh under a running handler pool
# (README "GeoIP data").  The pool starts before any database exists
# (no geography, logged), then the file is installed the way geoipupdate
# does it (written beside, renamed over), replaced by a database with other
# answers (City -> Country), by a broken file, and by
# examples/geoip/dbip-update.sh from a local HTTP server: every worker
# notices each change within WSB_GEOIP_CHECK_MS and answers by the new file,
# with no restart and no failed request.  (fault_geoip.sh covers in-place
# truncation and corrupt files under lighttpd.)
. "$(dirname "$0")/web_lib.sh"
LONDON=81.2.69.142      # City-Test: London (GB); Country-Test: GB
ASIA=111.235.160.1      # City-Test: no entry; Country-Test: Asia
CHANGCHUN=175.16.199.1  # City-Test: Changchun, China; Country-Test: no entry
CITY="$GEOIP_DIR/GeoLite2-City-Test.mmdb"
COUNTRY="$GEOIP_DIR/GeoLite2-Country-Test.mmdb"
GEODIR="$T_DIR/GeoIP"
DB="$GEODIR/GeoLite2-City.mmdb"
mkdir -p "$GEODIR"

t_redis_start
{
    echo "["
    printf '{"id":"lon","endpoint":"wss://lon.example.net/ws","location":"London","lat":51.51,"lon":-0.13,"country":"GB","continent":"EU","versions":["v1"],"online":true,"load":0.2},'
    printf '{"id":"tyo","endpoint":"wss://tyo.example.net/ws","location":"Tokyo","lat":35.68,"lon":139.69,"country":"JP","continent":"AS","versions":["v1"],"online":true,"load":0.2}'
    echo "]"
} > "$T_DIR/state.json"
t_state "$T_DIR/state.json"

SOCK="$T_DIR/handler.sock"
HENV=("WSB_REDIS_URL=$T_REDIS_URL" "WSB_GEOIP_DB=$DB" "WSB_GEOIP_CHECK_MS=200" "WSB_TRUSTED_PROXIES=127.0.0.1/32")
w_pool_start "$T_DIR/pool.log" HENV "$BUILD/wsb-handler" --listen "$SOCK" --workers 2 --threads 2
w_wait_socket "$SOCK" || { t_fail "pool did not start"; cat "$T_DIR/pool.log" >&2; t_summary; exit 1; }
WORKERS=$(pgrep -P "$W_POOL_PID" | sort | tr '\n' ' ')

# where IP: the location chosen for a client at IP ("" when not a 200).
where() { w_fcgi "$SOCK" /v1/websocket/server HTTP_X_FORWARDED_FOR="$1" | sed -n 's/.*"location":"\([^"]*\)".*/\1/p'; }
# always IP CITY: 16 answers in a row (both workers, several threads) are CITY
always() { local i; for i in $(seq 16); do [ "$(where "$1")" = "$2" ] || return 1; done; }
# spread IP: 30 answers show both nodes, and nothing but 200s
spread() {
    local i seen="" w
    for i in $(seq 30); do
        w=$(where "$1"); [ -n "$w" ] || return 1
        seen="$seen $w"
    done
    [[ $seen == *London* && $seen == *Tokyo* ]]
}
# install FILE: the way geoipupdate does it: a new file beside, renamed over
install_db() { cp "$1" "$GEODIR/.tmp.mmdb" && mv -f "$GEODIR/.tmp.mmdb" "$DB"; }
# changed: waits (up to 5 s) until IP is always CITY
changed() { t_wait_for always "$1" "$2"; }

t_true "no database yet: started anyway, logged" grep -q "geoip: .*GeoLite2-City.mmdb.*serving without geography" "$T_DIR/pool.log"
t_true "no database: a London client goes anywhere" spread $LONDON

install_db "$CITY"
changed $LONDON London
t_true "City database installed (rename): London client -> London" always $LONDON London
t_true "the reopen is logged" grep -q "geoip: $DB (re)opened" "$T_DIR/pool.log"
t_true "City database: a client in Changchun -> Tokyo (nearest)" always $CHANGCHUN Tokyo
t_true "City database: no entry for $ASIA, so it goes anywhere" spread $ASIA

install_db "$COUNTRY"
changed $ASIA Tokyo
t_true "replaced by a Country database: $ASIA (Asia) -> Tokyo (same continent)" always $ASIA Tokyo
t_true "Country database: no entry for Changchun's address any more: anywhere" spread $CHANGCHUN
t_true "Country database: London client -> London (same country)" always $LONDON London

# A broken replacement: logged, no geography, still answering.
head -c 4096 "$CITY" > "$GEODIR/.tmp.mmdb" && mv -f "$GEODIR/.tmp.mmdb" "$DB"
t_wait_for grep -q "geoip: .*GeoLite2-City.mmdb.*serving without geography until the file is fixed" <(tail -n +3 "$T_DIR/pool.log")
sleep 0.5
t_true "a broken replacement: every answer still a 200, from anywhere" spread $LONDON
t_true "the broken file is logged" bash -c "tail -n +3 '$T_DIR/pool.log' | grep -q 'serving without geography until the file is fixed'"

# examples/geoip/dbip-update.sh from a local HTTP server.
mkdir -p "$T_DIR/www"
gzip -c "$CITY" > "$T_DIR/www/dbip-city-lite-$(date -u +%Y-%m).mmdb.gz"
HTTP_PORT=$(t_free_port)
python3 -m http.server --bind 127.0.0.1 --directory "$T_DIR/www" "$HTTP_PORT" >"$T_DIR/http.log" 2>&1 &
T_PIDS+=($!)
w_http_up "http://127.0.0.1:$HTTP_PORT/"
DBIP_BASE_URL="http://127.0.0.1:$HTTP_PORT" DBIP_TARGET="$DB" "$T_ROOT/examples/geoip/dbip-update.sh" >"$T_DIR/dbip.out" 2>&1
t_eq "dbip-update.sh: exit 0" 0 "$?"
t_match "dbip-update.sh says what it installed" "installed http://127.0.0.1:$HTTP_PORT/dbip-city-lite-.*\\.mmdb\\.gz as $DB" "$(cat "$T_DIR/dbip.out")"
changed $LONDON London
t_true "after dbip-update.sh: London client -> London again" always $LONDON London
t_eq "dbip-update.sh leaves no temporary file" "GeoLite2-City.mmdb" "$(ls -A "$GEODIR" | tr '\n' ' ' | sed 's/ $//')"
# Nothing to fetch, or a file that is no database: the old file stays.
before=$(md5sum < "$DB")
rm -f "$T_DIR/www/"*.gz
DBIP_BASE_URL="http://127.0.0.1:$HTTP_PORT" DBIP_TARGET="$DB" "$T_ROOT/examples/geoip/dbip-update.sh" >"$T_DIR/dbip.out" 2>&1
t_eq "dbip-update.sh with nothing to fetch: exit 1" 1 "$?"
head -c 5000 /dev/urandom | gzip -c > "$T_DIR/www/dbip-city-lite-$(date -u +%Y-%m).mmdb.gz"
DBIP_BASE_URL="http://127.0.0.1:$HTTP_PORT" DBIP_TARGET="$DB" "$T_ROOT/examples/geoip/dbip-update.sh" >"$T_DIR/dbip.out" 2>&1
t_eq "dbip-update.sh with a file that is no database: exit 1" 1 "$?"
t_true "... saying so" grep -q "does not open as a MaxMind DB" "$T_DIR/dbip.out"
t_eq "the installed database is untouched" "$before" "$(md5sum < "$DB")"
t_true "still London" always $LONDON London

t_eq "the same worker processes throughout (no restart)" "$WORKERS" "$(pgrep -P "$W_POOL_PID" | sort | tr '\n' ' ')"
t_true "no worker died" bash -c "! grep -q 'pool: worker' '$T_DIR/pool.log'"
t_no_sanitizer_reports "no sanitizer reports" "$T_DIR/pool.log"
t_summary
