# contract.sh: the HTTP contract suite (SPEC section 3, README "The HTTP
# contract"), run through any web server.  Source it after lib.sh and call
#
#     contract_suite BASE_URL HANDLER_LOG
#
# once the test's Redis (t_redis_start) and the web server are up.
# HANDLER_LOG is the file where the handler's stderr lands (lighttpd
# breakagelog, Apache ErrorLog, the pool's stderr).  The handler must run
# with the settings below: each web_*.sh templates them into the example it
# tests.  The suite stops and restarts the test's Redis near its end.
#
# Used by handler_lighttpd.sh (lighttpd mod_fastcgi), web_apache_fcgid.sh,
# web_apache_proxy_fcgi.sh, web_nginx.sh and web_nginx_spawn_fcgi.sh.

CONTRACT_TRUSTED_PROXIES="127.0.0.1/32"
CONTRACT_CORS_ORIGINS="https://app.example.com"
CONTRACT_CACHE_MS=100           # WSB_CACHE_MS
CONTRACT_STALE_MAX_MS=1500      # WSB_STALE_MAX_MS
CONTRACT_RETRY_MS=100           # WSB_REDIS_RETRY_MS
CONTRACT_GEOIP_DB="$GEOIP_DIR/GeoLite2-City-Test.mmdb"

# contract_env: the handler's environment as NAME=VALUE lines (for pools
# started with env, and for checking a templated example).
contract_env() {
    printf '%s\n' "WSB_REDIS_URL=$T_REDIS_URL" "WSB_GEOIP_DB=$CONTRACT_GEOIP_DB" \
        "WSB_TRUSTED_PROXIES=$CONTRACT_TRUSTED_PROXIES" "WSB_CORS_ORIGINS=$CONTRACT_CORS_ORIGINS" \
        "WSB_CACHE_MS=$CONTRACT_CACHE_MS" "WSB_STALE_MAX_MS=$CONTRACT_STALE_MAX_MS" \
        "WSB_REDIS_RETRY_MS=$CONTRACT_RETRY_MS"
}

contract_suite() {
    local BASE=$1 HANDLER_LOG=$2
    # req [curl args...] URL: sets STATUS, HEADERS (lower-cased names), BODY.
    req() {
        local out
        out=$(curl -s -D "$T_DIR/h" -o "$T_DIR/b" -w '%{http_code}' "$@")
        STATUS=$out
        HEADERS=$(tr -d '\r' < "$T_DIR/h" | sed 's/^\([^:]*\):/\L\1:/')
        BODY=$(< "$T_DIR/b")
    }
    header() { printf '%s\n' "$HEADERS" | sed -n "s/^$1: //p" | head -1; }
    from() { req -H "X-Forwarded-For: $1" "$BASE${2:-/v1/websocket/server}"; }
    endpoint_of() {   # the endpoint of a JSON answer, "" when there is none
        if [[ $BODY =~ ^\{\"endpoint\":\"([^\"\\]*)\" ]]; then printf '%s\n' "${BASH_REMATCH[1]}"; else echo; fi
    }

    node() {   # id city lat lon cc cont versions online load
        printf '{"id":"%s","endpoint":"wss://%s.example.net/ws","location":"%s","lat":%s,"lon":%s,"country":"%s","continent":"%s","versions":%s,"online":%s,"load":%s}' \
            "$1" "$1" "$2" "$3" "$4" "$5" "$6" "$7" "$8" "$9"
    }
    world() {   # the London node's online flag and load
        {
            echo "["
            node lon London 51.51 -0.13 GB EU '["v1"]' "$1" "$2"; echo ","
            node fra Frankfurt 50.11 8.68 DE EU '["v1","v2"]' true 0.3; echo ","
            node tyo Tokyo 35.68 139.69 JP AS '["v1","v2"]' true 0.2; echo ","
            node sea Seattle 47.61 -122.33 US NA '["v1"]' true 0.1
            echo "]"
        } > "$T_DIR/state.json"
        t_state "$T_DIR/state.json"
    }
    settle() { sleep 0.25; }   # longer than WSB_CACHE_MS

    world true 0.2
    settle

    # --- geography ---
    from 81.2.69.142
    t_eq "London client: 200" 200 "$STATUS"
    t_eq "London client: exact body" '{"endpoint":"wss://lon.example.net/ws","location":"London"}' "$BODY"
    t_eq "content-type" "application/json" "$(header content-type)"
    t_eq "cache-control" "no-store" "$(header cache-control)"
    from 2001:218::1
    t_eq "Japanese client (IPv6) gets Tokyo" "wss://tyo.example.net/ws" "$(endpoint_of)"
    from 216.160.83.56
    t_eq "US west coast client gets Seattle" "wss://sea.example.net/ws" "$(endpoint_of)"
    for i in $(seq 10); do
        from 89.160.20.112
        case "$(endpoint_of)" in wss://fra.*|wss://lon.*) ;; *) break ;; esac
    done
    t_match "Swedish client: a European node (both within WSB_NEAR_KM of the nearest)" '^wss://(fra|lon)\.' "$(endpoint_of)"
    from "6.6.6.6, 81.2.69.142"
    t_eq "right-most untrusted X-Forwarded-For entry is the client" "wss://lon.example.net/ws" "$(endpoint_of)"
    # Two header lines (a proxy that adds its own line, not to the client's):
    # the web server hands both over, in order, and the last one counts.
    req -H "X-Forwarded-For: 216.160.83.56" -H "X-Forwarded-For: 81.2.69.142" "$BASE/v1/websocket/server"
    t_eq "X-Forwarded-For in two header lines: the right-most untrusted entry of both is the client" \
        "wss://lon.example.net/ws" "$(endpoint_of)"
    from 81.2.69.142 /v2/websocket/server
    t_eq "v2 from London: Frankfurt (London lacks v2)" "wss://fra.example.net/ws" "$(endpoint_of)"
    seen=""
    for i in $(seq 40); do req "$BASE/v1/websocket/server"; seen="$seen $(endpoint_of)"; done
    n=$(printf '%s\n' $seen | sort -u | wc -l)
    t_true "no location (loopback client): spread over several nodes ($n)" test "$n" -ge 3

    # --- routes, methods, query ---
    req "$BASE/balancer/v1/websocket/server"
    t_eq "any prefix routes" 200 "$STATUS"
    req -H "X-Forwarded-For: 81.2.69.142" "$BASE/v1/websocket/server?route=/v2/websocket/server"
    t_eq "query string never routes" "wss://lon.example.net/ws" "$(endpoint_of)"
    req "$BASE/v1/websocket/servers"
    t_eq "unknown path: 404" 404 "$STATUS"
    t_match "404 is JSON" '^\{"error_message":"not found[^"]*","error_code":404\}$' "$BODY"
    req "$BASE/"
    t_eq "root: 404" 404 "$STATUS"
    req -X POST -d x=1 "$BASE/v1/websocket/server"
    t_eq "POST: 405" 405 "$STATUS"
    t_eq "405 Allow" "GET, HEAD, OPTIONS" "$(header allow)"
    t_match "405 is JSON" '"error_code":405' "$BODY"
    req -X DELETE "$BASE/v1/websocket/server"
    t_eq "DELETE: 405" 405 "$STATUS"
    req -I -H "X-Forwarded-For: 81.2.69.142" "$BASE/v1/websocket/server"
    t_eq "HEAD: 200" 200 "$STATUS"
    t_true "HEAD: no body" test -z "$(printf '%s' "$BODY" | grep -F '{')"
    t_eq "HEAD: content-type" "application/json" "$(header content-type)"

    # --- CORS ---
    req -H "Origin: https://app.example.com" "$BASE/v1/websocket/server"
    t_eq "allowed origin echoed from config" "https://app.example.com" "$(header access-control-allow-origin)"
    t_eq "vary origin" "Origin" "$(header vary)"
    req -H "Origin: https://evil.example.com" "$BASE/v1/websocket/server"
    t_eq "other origin: no CORS header" "" "$(header access-control-allow-origin)"
    t_eq "other origin: still answered" 200 "$STATUS"
    req -X OPTIONS -H "Origin: https://app.example.com" -H "Access-Control-Request-Method: GET" "$BASE/v1/websocket/server"
    t_eq "preflight: 204" 204 "$STATUS"
    t_eq "preflight: methods" "GET, HEAD, OPTIONS" "$(header access-control-allow-methods)"
    t_eq "preflight: origin" "https://app.example.com" "$(header access-control-allow-origin)"
    t_eq "preflight: max-age" "600" "$(header access-control-max-age)"

    # --- health, load and admin state ---
    world false 0.2; settle
    from 81.2.69.142
    t_eq "London offline: London client moves to Frankfurt" "wss://fra.example.net/ws" "$(endpoint_of)"
    world true 0.95; settle
    from 81.2.69.142
    t_eq "London overloaded: Frankfurt" "wss://fra.example.net/ws" "$(endpoint_of)"
    world true 0.9; settle
    from 81.2.69.142
    t_eq "load at WSB_MAX_LOAD counts as overloaded" "wss://fra.example.net/ws" "$(endpoint_of)"
    world true 0.2; settle
    t_rcli HSET wsb:admin lon drain >/dev/null; settle
    from 81.2.69.142
    t_eq "London drained with redis-cli: Frankfurt" "wss://fra.example.net/ws" "$(endpoint_of)"
    t_rcli HDEL wsb:admin lon >/dev/null; settle
    from 81.2.69.142
    t_eq "undrained: London again" "wss://lon.example.net/ws" "$(endpoint_of)"

    # --- error codes ---
    from 81.2.69.142 /v3/websocket/server
    t_eq "unknown version: 503" 503 "$STATUS"
    t_eq "unknown version: 102" '{"error_message":"no servers with this version are available","error_code":102}' "$BODY"
    t_match "503 has Retry-After" '^[0-9]+$' "$(header retry-after)"
    # Jittered (WSB_RETRY_AFTER 5): whole seconds in [ceil(5/2), 5 + floor(5/2)],
    # so that clients turned away together do not all come back together.
    local retries="" _
    for _ in $(seq 12); do
        from 81.2.69.142 /v3/websocket/server
        retries="$retries $(header retry-after)"
    done
    t_true "503 Retry-After within [3, 7]:$retries" \
        bash -c 'for v in $0; do [[ $v =~ ^[0-9]+$ ]] && [ "$v" -ge 3 ] && [ "$v" -le 7 ] || exit 1; done' "$retries"
    t_true "  ... and not one constant" test "$(printf '%s\n' $retries | sort -u | wc -l)" -ge 2
    t_eq "503 cache-control" "no-store" "$(header cache-control)"
    t_eq "503 content-type" "application/json" "$(header content-type)"
    echo '[' > "$T_DIR/off.json"
    node a A 1 1 DE EU '["v1"]' false 0.1 >> "$T_DIR/off.json"; echo ',' >> "$T_DIR/off.json"
    node b B 1 1 DE EU '["v2"]' true 0.1 >> "$T_DIR/off.json"; echo ']' >> "$T_DIR/off.json"
    t_state "$T_DIR/off.json"; settle
    req "$BASE/v1/websocket/server"
    t_eq "v1 nodes all offline: 101" '{"error_message":"no servers are currently online","error_code":101}' "$BODY"
    req "$BASE/v2/websocket/server"
    t_eq "v2 still served" 200 "$STATUS"
    printf '[%s]' "$(node a A 1 1 DE EU '["v1"]' true 0.97)" > "$T_DIR/hot.json"
    t_state "$T_DIR/hot.json"; settle
    req "$BASE/v1/websocket/server"
    t_eq "every v1 node overloaded: 100" '{"error_message":"no servers are currently available","error_code":100}' "$BODY"
    t_state "$T_DIR/state.json"; t_rcli DEL wsb:round >/dev/null; settle
    req "$BASE/v1/websocket/server"
    t_eq "state expired (no round key): 101, never a stale endpoint" 101 "$(printf '%s' "$BODY" | sed -n 's/.*"error_code":\([0-9]*\).*/\1/p')"
    t_rcli DEL wsb:nodes >/dev/null; settle
    req "$BASE/v1/websocket/server"
    t_eq "nothing registered: 100" 100 "$(printf '%s' "$BODY" | sed -n 's/.*"error_code":\([0-9]*\).*/\1/p')"

    # --- a malformed record (edited by hand) is skipped and logged ---
    world true 0.2
    t_rcli HSET wsb:nodes broken '{"endpoint":"javascript:alert(1)"' >/dev/null
    t_rcli HSET wsb:nodes evil '{"endpoint":"wss://x/\r\nSet-Cookie: a=b","location":"X","versions":["v1"],"online":true}' >/dev/null
    settle
    from 81.2.69.142
    t_eq "others still served" "wss://lon.example.net/ws" "$(endpoint_of)"
    for i in $(seq 30); do req "$BASE/v1/websocket/server"; [ "$STATUS" = 200 ] || break; done
    t_eq "a tampered record is never served" 200 "$STATUS"
    t_true "skip logged with the node id" grep -q "malformed node record.*node broken\|malformed node record.*node evil" "$HANDLER_LOG"

    # --- Redis stopped and restarted ---
    world true 0.2; settle
    for i in 1 2 3 4 5 6; do from 81.2.69.142; done   # every process has read this state
    sleep 1.8   # idle for longer than WSB_STALE_MAX_MS before the outage
    # Every process's refresher meets the outage within WSB_CACHE_MS of the
    # stop (perhaps while t_redis_stop still waits for Redis to exit), so each
    # one's stale window opens after this instant.  Ask for half the window
    # from here (a slow host, e.g. under ASan, asks fewer times, never past it).
    outage=$(date +%s%N)
    t_redis_stop
    from 81.2.69.142
    t_eq "redis just stopped (after an idle spell): last good state serves" "wss://lon.example.net/ws" "$(endpoint_of)"
    served=0 asked=0
    while [ $(( ($(date +%s%N) - outage) / 1000000 )) -lt $((CONTRACT_STALE_MAX_MS / 2)) ] && [ "$asked" -lt 16 ]; do
        from 81.2.69.142; asked=$((asked + 1))
        [ "$(endpoint_of)" = wss://lon.example.net/ws ] && served=$((served + 1))
    done
    t_eq "redis just stopped: every answer is the last good state ($asked asked)" "$asked" "$served"
    t_true "redis just stopped: asked at least twice" test "$asked" -ge 2
    sleep 1.8   # past WSB_STALE_MAX_MS
    start=$(date +%s%N)
    req "$BASE/v1/websocket/server"
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    t_eq "redis down past the stale limit: 503/100" "503 100" "$STATUS $(printf '%s' "$BODY" | sed -n 's/.*"error_code":\([0-9]*\).*/\1/p')"
    t_true "answered within a second while redis is down (${ms} ms)" test "$ms" -lt 1000
    T_REDIS_PORT_WANT=$T_REDIS_PORT t_redis_start redis2
    world true 0.2
    ok=""
    for i in $(seq 20); do sleep 0.1; from 81.2.69.142; [ "$STATUS" = 200 ] && { ok=1; break; }; done
    t_eq "redis back: fresh state within a second, no restart" "1 wss://lon.example.net/ws" "$ok $(endpoint_of)"
    t_true "redis outage logged" grep -q "state unreadable" "$HANDLER_LOG"
    # The process that logged the outage logs the recovery when it next reads
    # the state; with several processes, ask until a request reaches it.
    for i in $(seq 40); do grep -q "state readable again" "$HANDLER_LOG" && break; req "$BASE/v1/websocket/server"; sleep 0.05; done
    t_true "recovery logged" grep -q "state readable again" "$HANDLER_LOG"
    t_no_sanitizer_reports "no sanitizer reports from the handler" "$HANDLER_LOG"
}
