#!/usr/bin/env bash
# fault_records.sh: garbage written into Redis with redis-cli, by hand or by
# a tampered Redis.  A bad node record is skipped and logged with its id
# and reason, the other nodes serve; keys of the wrong type make the state
# unreadable (last good state, then 503/100), never a crash; garbage in the
# admin hash is ignored.
. "$(dirname "$0")/fault_lib.sh"

t_redis_start
H="$BUILD/wsb-handler"
cgi() {   # one CGI GET; stdout is the answer, stderr goes to $T_DIR/cgi.err
    env -i PATH="$PATH" GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=GET REQUEST_URI=/v1/websocket/server \
        REMOTE_ADDR=127.0.0.1 WSB_REDIS_URL="$T_REDIS_URL" "$@" "$H" </dev/null 2>"$T_DIR/cgi.err"
}
good() {
    printf '[%s,%s]' "$(f_node good1 wss://good1.example.net/ws)" "$(f_node good2 wss://good2.example.net/ws)" \
        > "$T_DIR/good.json"
    t_state "$T_DIR/good.json"
}
# only_good NAME: 5 CGI answers, every one a good node (that the bad record
# is not in the snapshot at all, the "skipped" log line says).
only_good() {
    local i out
    for i in $(seq 5); do
        out=$(cgi)
        [[ "$out" =~ \{\"endpoint\":\"wss://good[12]\.example\.net/ws\",\"location\":\"good[12]\"\}$ ]] || {
            t_fail "$1: answer $i: $(printf '%s' "$out" | tail -c 200 | tr '\r\n' '  ')"
            return
        }
    done
    t_pass "$1: the good nodes serve"
}
# garbage NAME ID REASON_REGEX: with record $REC stored under ID, the good
# nodes serve and the log names the id and the reason.
garbage() {
    local name=$1 id=$2 reason=$3
    good
    printf '%s' "$REC" | t_rcli -x HSET wsb:nodes "$id" >/dev/null
    only_good "$name"
    local log
    log=$(cat "$T_DIR/cgi.err")
    t_match "$name: skipped and logged with its reason" "skipped 1 malformed node record.*first: node .*: $reason" "$log"
    t_eq "$name: the log stays one line" 1 "$(grep -c . "$T_DIR/cgi.err")"
}

EP=wss://bad.example.net/ws
rec() { REC=$1; }
rec 'not json';                                  garbage "not JSON" bad1 "record is not JSON"
rec '{"endpoint":"'$EP'","location":"X","versions":["v1"],"online":true'; garbage "truncated JSON" bad2 "record is not JSON"
rec '[1,2,3]';                                   garbage "a JSON array" bad3 "record is not a JSON object"
rec '';                                          garbage "an empty value" bad4 "record is not JSON"
rec '{"endpoint":"javascript:alert(1)","location":"X","versions":["v1"],"online":true}'
garbage "javascript: endpoint" bad5 "endpoint: must start with wss://"
rec '{"endpoint":"https://bad.example.net/","location":"X","versions":["v1"],"online":true}'
garbage "https:// endpoint" bad6 "endpoint: must start with wss://"
rec '{"endpoint":"wss://bad.example.net/\r\nSet-Cookie: a=b","location":"X","versions":["v1"],"online":true}'
garbage "CRLF in the endpoint (JSON escape)" bad7 "endpoint: byte .* is not a URL character"
rec "$(printf '{"endpoint":"wss://bad.example.net/\r\nX: y","location":"X","versions":["v1"],"online":true}')"
garbage "raw CR LF bytes in the endpoint" bad8 "endpoint: byte .* is not a URL character"
rec '{"endpoint":"wss://bad.example.net/\"<script>","location":"X","versions":["v1"],"online":true}'
garbage "a quote in the endpoint" bad9 "endpoint: byte .* is not a URL character"
rec '{"endpoint":"wss://user:pw@bad.example.net/","location":"X","versions":["v1"],"online":true}'
garbage "user info in the endpoint" bad10 "endpoint: must not carry user information"
rec '{"endpoint":"wss://'$(head -c 1100 /dev/zero | tr '\0' a)'","location":"X","versions":["v1"],"online":true}'
garbage "an endpoint over 1024 bytes" bad11 "endpoint: longer than 1024"
rec '{"endpoint":"wss://","location":"X","versions":["v1"],"online":true}'
garbage "an endpoint without a host" bad12 "endpoint: has no host"
rec '{"endpoint":"'$EP'","location":"a\u0007b","versions":["v1"],"online":true}'
garbage "a control character in the location" bad13 "location: must be UTF-8 text"
rec "$(printf '{"endpoint":"%s","location":"\xc3\x28","versions":["v1"],"online":true}' "$EP")"
garbage "invalid UTF-8 in the location" bad14 "location: must be UTF-8 text"
rec '{"endpoint":"'$EP'","location":"'$(head -c 200 /dev/zero | tr '\0' L)'","versions":["v1"],"online":true}'
garbage "a location over 128 bytes" bad15 "location: is longer than 128"
rec '{"endpoint":"'$EP'","location":"X","versions":[],"online":true}'
garbage "no versions" bad16 "versions: is empty"
rec '{"endpoint":"'$EP'","location":"X","versions":["v0"],"online":true}'
garbage "version v0" bad17 "versions: entries must be"
rec '{"endpoint":"'$EP'","location":"X","versions":'"$(python3 -c 'import json; print(json.dumps(["v%d" % i for i in range(1, 18)]))')"',"online":true}'
garbage "17 versions" bad18 "versions: more than 16"
rec '{"endpoint":"'$EP'","location":"X","versions":"v1","online":true}'
garbage "versions not an array" bad19 "versions: must be an array"
rec '{"endpoint":"'$EP'","location":"X","versions":["v1"],"online":"yes"}'
garbage "online as a string" bad20 "online: must be true or false"
rec '{"endpoint":"'$EP'","location":"X","versions":["v1"],"online":true,"load":"high"}'
garbage "load as a string" bad21 "load: must be a number"
rec '{"endpoint":"'$EP'","location":"X","versions":["v1"],"online":true,"lat":91,"lon":0}'
garbage "latitude 91" bad22 "lat: 91 is outside"
rec '{"endpoint":"'$EP'","location":"X","versions":["v1"],"online":true,"lat":10}'
garbage "latitude without longitude" bad23 "lat and lon go together"
rec '{"endpoint":"'$EP'","location":"X","versions":["v1"],"online":true,"load":-0.5}'
garbage "negative load" bad24 "load: -0.5 is outside"
rec '{"endpoint":"'$EP'","location":"X","versions":["v1"],"online":true,"country":"GBR"}'
garbage "a three-letter country" bad25 "country: must be a two-letter code"
rec '{"endpoint":"'$EP'","location":"X","versions":["v1"],"online":true,"pad":"'$(head -c 9000 /dev/zero | tr '\0' p)'"}'
garbage "a record over 8 KiB" bad26 "record is [0-9]* bytes, more than 8192"
rec '{"endpoint":"'$EP'","location":"X","versions":["v1"],"online":true,"x":'$(printf '[%.0s' $(seq 3000))$(printf ']%.0s' $(seq 3000))'}'
garbage "3000 nested arrays" bad27 "(record is not JSON|record is [0-9]* bytes)"
rec '{"endpoint":"'$EP'","location":"X","versions":["v1"],"online":true}'
garbage "an id with a space" "bad 28" "id may only hold"
garbage "an id over 64 bytes" "$(head -c 65 /dev/zero | tr '\0' i)" "id is longer than 64"
garbage "an id with a newline (log injection)" "$(printf 'x\nwsb-handler[1]: info: forged')" "id may only hold"
t_true "  ... no forged line in the log" bash -c "! grep -q '^wsb-handler\[1\]' '$T_DIR/cgi.err'"
rec "$(printf '{"endpoint":"wss://bad.example.net/\x01","location":"X","versions":["v1"],"online":true}')"
garbage "a raw control byte in the endpoint" bad29 "endpoint: byte .* is not a URL character"

# A NUL byte cannot pass through argv; redis-cli -x reads it from stdin.
good
printf '{"endpoint":"wss://nul.example.net/\0evil","location":"N","versions":["v1"],"online":true}' |
    t_rcli -x HSET wsb:nodes nul >/dev/null
seen=""
for i in $(seq 30); do
    out=$(cgi)
    case "$out" in *'"endpoint":"wss://good'*) ;; *) seen=$out; break ;; esac
done
t_true "a NUL byte inside a record never reaches an answer" \
    bash -c "! printf '%s' \"\$1\" | grep -q evil" _ "$seen"

# Several bad records at once, through lighttpd under load.
good
for i in 1 2 3 4 5; do
    t_rcli HSET wsb:nodes "junk$i" "{\"endpoint\":\"javascript:$i\"" >/dev/null
done
f_lighttpd_start 2 WSB_CACHE_MS=100 || { t_fail "lighttpd did not start"; t_summary; exit 1; }
f_load_start "$F_BASE/v1/websocket/server" 2 4
sleep 1
f_load_stop
f_check '
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
bad = [r for r in rows if not (r[1] == "200" and r[3] in ("wss://good1.example.net/ws", "wss://good2.example.net/ws"))]
print(("ok" if rows and not bad else "fail") + " five bad records among two good: %d answers, all good nodes (%d not)"
      % (len(rows), len(bad)))
' "$F_LOAD_LOG"
t_true "the count of skipped records is logged" grep -q "skipped 5 malformed node record" "$T_DIR/handler.log"

# Keys of the wrong type: the state is unreadable, not half-read.
t_rcli DEL wsb:nodes >/dev/null
t_rcli SET wsb:nodes "a string, not a hash" >/dev/null
out=$(cgi)
t_match "wsb:nodes is a string: 503/100" '"error_code":100\}$' "$out"
t_true "  ... logged as a Redis error" grep -q "WRONGTYPE" "$T_DIR/cgi.err"
good
t_rcli DEL wsb:admin >/dev/null
t_rcli RPUSH wsb:admin drain >/dev/null
out=$(cgi)
t_match "wsb:admin is a list: 503/100" '"error_code":100\}$' "$out"
t_rcli DEL wsb:admin >/dev/null
t_rcli DEL wsb:round >/dev/null
t_rcli SET wsb:round x >/dev/null
out=$(cgi)
t_match "wsb:round is a string: it still exists, the state is live" '"endpoint":"wss://good' "$out"
good
# Garbage in the admin hash: ignored; a proper entry drains.
t_rcli HSET wsb:admin good1 DRAIN "bad id" drain good2 "drain " nonexistent drain >/dev/null
for i in $(seq 20); do out=$(cgi); [[ "$out" == *good1* ]] && break; done
t_match "garbage admin entries drain nothing" 'good1' "$out"
t_rcli HSET wsb:admin good1 drain >/dev/null
for i in $(seq 20); do out=$(cgi); [[ "$out" == *good1* ]] && break; done
t_match "a proper admin entry drains" 'good2' "$out"
t_no_sanitizer_reports "no sanitizer reports" "$T_DIR/cgi.err" "$T_DIR/handler.log"
t_summary
