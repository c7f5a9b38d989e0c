#!/usr/bin/env bash
# multihost_tls.sh: the several-hosts shape with nothing in clear between
# "hosts" (README "Several hosts"), on loopback, from the examples:
#   - a test CA and certificates made here by openssl: the primary's server
#     certificate, a client certificate for the web host and one for the
#     probe host;
#   - the primary from examples/redis/primary-tls.conf: TLS only (port 0,
#     tls-port, client certificates required), ACL users from users.conf,
#     a unix socket for local administration;
#   - a web host's replica from examples/redis/replica-tls.conf: replicates
#     over TLS with its client certificate, listens on no TCP port, serves
#     the handler pool on a unix socket; the pool's second address is the
#     primary through the web host's stunnel (the counts' writes);
#   - the probe writing the primary through stunnel in client mode from
#     examples/stunnel/wsb-probe-redis.conf (CA and host name verified).
# A tunnel that does not trust the primary (wrong CA, wrong name) makes the
# probe fail loudly without writing.  Real probe, real stand-in nodes.
. "$(dirname "$0")/web_lib.sh"
PROBE="$BUILD/wsb-probe"
EX="$T_ROOT/examples"
LONDON=81.2.69.142     # GeoLite2-City-Test: London
PRIMARY_NAME=redis-primary.wsb.internal   # the name in the stunnel example's checkHost
die() { t_fail "$*"; t_summary; exit 1; }
# has_lines FILE LINE...: FILE holds each LINE, whole (a template applied).
has_lines() {
    local f=$1 l; shift
    for l in "$@"; do grep -qFx -- "$l" "$f" || { echo "$f: no line [$l]" >&2; return 1; }; done
}

# --- the test CA and the certificates ---
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=wsbalancer test CA" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
    -keyout "$T_DIR/ca.key" -out "$T_DIR/ca.crt" 2>"$T_DIR/openssl.log" || die "openssl: test CA"
# issue NAME EXTENDED_KEY_USAGE [SUBJECT_ALT_NAME]: NAME.crt and NAME.key signed by the test CA.
issue() {
    local n=$1 eku=$2 san=${3:-}
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$n" \
        -keyout "$T_DIR/$n.key" -out "$T_DIR/$n.csr" 2>>"$T_DIR/openssl.log" || return 1
    printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\n%s\n' \
        "$eku" "${san:+subjectAltName=$san}" > "$T_DIR/$n.ext"
    openssl x509 -req -in "$T_DIR/$n.csr" -CA "$T_DIR/ca.crt" -CAkey "$T_DIR/ca.key" -CAcreateserial -days 2 \
        -extfile "$T_DIR/$n.ext" -out "$T_DIR/$n.crt" 2>>"$T_DIR/openssl.log"
}
issue redis-primary serverAuth "DNS:$PRIMARY_NAME" || die "openssl: the primary's certificate"
issue web-1 clientAuth || die "openssl: the web host's certificate"
issue probe-1 clientAuth || die "openssl: the probe host's certificate"
# Another CA, which signed nothing of this deployment.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=some other CA" \
    -keyout "$T_DIR/other-ca.key" -out "$T_DIR/other-ca.crt" 2>>"$T_DIR/openssl.log" || die "openssl: other CA"
t_true "the test certificates verify against the test CA" bash -c "openssl verify -CAfile $T_DIR/ca.crt \
    $T_DIR/redis-primary.crt $T_DIR/web-1.crt $T_DIR/probe-1.crt >/dev/null"

# --- passwords and the ACL users (users.conf: the same users as users.acl) ---
HPW=$(openssl rand -hex 16); PPW=$(openssl rand -hex 16); RPW=$(openssl rand -hex 16); APW=$(openssl rand -hex 16)
printf '%s\n' "$HPW" > "$T_DIR/handler.redis-password"
printf '%s\n' "$PPW" > "$T_DIR/probe.redis-password"
sed -e "s/CHANGE-ME-handler/$HPW/" -e "s/CHANGE-ME-probe/$PPW/" "$EX/redis/users.conf" > "$T_DIR/users.conf"

# redis_start NAME CONF: a redis-server whose redis.conf ends with the
# users and the templated example (as the examples say: the last lines);
# waits until its unix socket answers the admin user.
redis_start() {
    local name=$1 conf=$2
    mkdir -p "$T_DIR/$name"
    printf 'dir %s\nlogfile %s\nsave ""\nappendonly no\ninclude %s\ninclude %s\n' \
        "$T_DIR/$name" "$T_DIR/$name.log" "$T_DIR/users.conf" "$conf" > "$T_DIR/$name-redis.conf"
    redis-server "$T_DIR/$name-redis.conf" &
    REDIS_PID=$!
    T_PIDS+=("$REDIS_PID")
    t_wait_for env REDISCLI_AUTH="$APW" redis-cli -s "$T_DIR/$name.sock" --user admin PING \
        || { cat "$T_DIR/$name.log" >&2; return 1; }
}
padm() { REDISCLI_AUTH=$APW redis-cli -s "$T_DIR/primary.sock" --user admin "$@"; }
radm() { REDISCLI_AUTH=$APW redis-cli -s "$T_DIR/replica.sock" --user admin "$@"; }
# tcp_listeners PID: the TCP ports PID listens on, one a line.
tcp_listeners() { ss -Hltnp | grep "pid=$1," | awk '{ n = split($4, a, ":"); print a[n] }' | sort -u; }

# --- the primary: TLS only ---
TLS_PORT=$(t_free_port)
sed -e "s|^bind 10.0.0.10$|bind 127.0.0.1|" -e "s|^tls-port 6379$|tls-port $TLS_PORT|" \
    -e "s|/etc/redis/tls/redis-primary\.|$T_DIR/redis-primary.|" -e "s|/etc/redis/tls/wsb-ca.crt|$T_DIR/ca.crt|" \
    -e "s|/run/redis/redis-server.sock|$T_DIR/primary.sock|" \
    -e "s/CHANGE-ME-replica/$RPW/" -e "s/CHANGE-ME-admin/$APW/" "$EX/redis/primary-tls.conf" > "$T_DIR/primary-tls.conf"
has_lines "$T_DIR/primary-tls.conf" "bind 127.0.0.1" "tls-port $TLS_PORT" "tls-cert-file $T_DIR/redis-primary.crt" \
    "tls-key-file $T_DIR/redis-primary.key" "tls-ca-cert-file $T_DIR/ca.crt" "unixsocket $T_DIR/primary.sock" \
    || die "primary-tls.conf: the template did not apply"
redis_start primary "$T_DIR/primary-tls.conf" || die "the primary did not start"
PRIMARY_PID=$REDIS_PID
t_eq "primary: its only TCP listener is the TLS port" "$TLS_PORT" "$(tcp_listeners "$PRIMARY_PID" | tr '\n' ' ' | sed 's/ $//')"
t_eq "primary: no plain port (port 0)" "0" "$(padm CONFIG GET port | sed -n 2p)"
plain=$(printf 'PING\r\n' | timeout 5 python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 3); s.settimeout(3)
s.sendall(sys.stdin.buffer.read())
try: print(repr(s.recv(100)))
except Exception as e: print(type(e).__name__)' "$TLS_PORT" 2>&1)
t_true "plain TCP to the TLS port gets no Redis answer (got: $plain)" \
    bash -c "[[ ! '$plain' =~ ^b\'[-+] ]]"
t_match "  ... and the primary says so" 'Error accepting a client connection: .*(wrong version number|http request|packet length)' \
    "$(grep 'Error accepting' "$T_DIR/primary.log" | tail -1)"
out=$(timeout 5 redis-cli --tls --cacert "$T_DIR/ca.crt" -h 127.0.0.1 -p "$TLS_PORT" PING 2>&1)
t_true "TLS without a client certificate is refused (got: $out)" bash -c "! grep -q -e PONG -e NOAUTH <<< '$out'"
t_match "  ... and the primary says so" 'peer did not return a certificate' "$(grep 'Error accepting' "$T_DIR/primary.log" | tail -1)"
out=$(timeout 5 redis-cli --tls --cacert "$T_DIR/ca.crt" --cert "$T_DIR/web-1.crt" --key "$T_DIR/web-1.key" \
    -h 127.0.0.1 -p "$TLS_PORT" PING 2>&1)
t_match "TLS with a client certificate reaches Redis, where the default user is off" 'NOAUTH' "$out"

# --- the web host's replica: replicates over TLS, serves a unix socket only ---
sed -e "s|^replicaof 10.0.0.10 6379$|replicaof 127.0.0.1 $TLS_PORT|" \
    -e "s|/etc/redis/tls/web-1\.|$T_DIR/web-1.|" -e "s|/etc/redis/tls/wsb-ca.crt|$T_DIR/ca.crt|" \
    -e "s|/run/redis/redis-server.sock|$T_DIR/replica.sock|" \
    -e "s/CHANGE-ME-replica/$RPW/" -e "s/CHANGE-ME-admin/$APW/" -e "s/CHANGE-ME-handler/$HPW/" \
    "$EX/redis/replica-tls.conf" > "$T_DIR/replica-tls.conf"
has_lines "$T_DIR/replica-tls.conf" "replicaof 127.0.0.1 $TLS_PORT" "tls-cert-file $T_DIR/web-1.crt" \
    "tls-key-file $T_DIR/web-1.key" "tls-ca-cert-file $T_DIR/ca.crt" "unixsocket $T_DIR/replica.sock" \
    || die "replica-tls.conf: the template did not apply"
redis_start replica "$T_DIR/replica-tls.conf" || die "the replica did not start"
REPLICA_PID=$REDIS_PID
link_up() { radm INFO replication | grep -q 'master_link_status:up'; }
for _ in 1 2 3; do t_wait_for link_up && break; done
t_true "the replica's link to the primary is up (over TLS: the primary has no other port)" link_up
t_match "the primary sees one replica" 'connected_slaves:1' "$(padm INFO replication | tr -d '\r')"
t_eq "the replica listens on no TCP port" "" "$(tcp_listeners "$REPLICA_PID")"
t_true "the replica authenticated as wsb-replica" \
    bash -c "REDISCLI_AUTH=$APW redis-cli -s $T_DIR/primary.sock --user admin CLIENT LIST | grep -q 'flags=S .*user=wsb-replica'"
t_match "the replica is read-only" 'READONLY' "$(radm SET x 1 2>&1)"

# --- stunnel in client mode: the probe host's, and the web host's ---
# tunnel NAME PORT CERT CA [CHECKHOST]: stunnel from the example, listening
# on 127.0.0.1:PORT, to the primary's TLS port; log $T_DIR/stunnel-NAME.log.
tunnel() {
    local name=$1 port=$2 cert=$3 ca=$4 host=${5:-$PRIMARY_NAME}
    sed -e "s|^accept = 127.0.0.1:6380$|accept = 127.0.0.1:$port|" -e "s|^connect = 10.0.0.10:6379$|connect = 127.0.0.1:$TLS_PORT|" \
        -e "s|/etc/stunnel/wsb/probe-1\.|$T_DIR/$cert.|" -e "s|/etc/stunnel/wsb/wsb-ca.crt|$T_DIR/$ca.crt|" \
        -e "s|^checkHost = $PRIMARY_NAME$|checkHost = $host|" \
        -e '/^set[ug]id = /d' -e "s|^debug = 4$|debug = 5\noutput = $T_DIR/stunnel-$name.log|" \
        "$EX/stunnel/wsb-probe-redis.conf" > "$T_DIR/stunnel-$name.conf"
    has_lines "$T_DIR/stunnel-$name.conf" "accept = 127.0.0.1:$port" "connect = 127.0.0.1:$TLS_PORT" \
        "cert = $T_DIR/$cert.crt" "key = $T_DIR/$cert.key" "CAfile = $T_DIR/$ca.crt" "checkHost = $host" || return 1
    stunnel4 "$T_DIR/stunnel-$name.conf" >>"$T_DIR/stunnel.err" 2>&1 &
    T_PIDS+=($!)
    t_wait_for bash -c "exec 3<>/dev/tcp/127.0.0.1/$port"
}
PROBE_TUNNEL=$(t_free_port); WEB_TUNNEL=$(t_free_port)
tunnel probe "$PROBE_TUNNEL" probe-1 ca || die "the probe host's stunnel did not start"
tunnel web "$WEB_TUNNEL" web-1 ca || die "the web host's stunnel did not start"
t_eq "through the probe host's tunnel, as wsb-probe" PONG \
    "$(REDISCLI_AUTH=$PPW redis-cli -p "$PROBE_TUNNEL" --user wsb-probe PING 2>&1)"

# --- three stand-in nodes and the probe's inventory ---
w_three_cities 2000 || die "stand-in nodes did not start"
# probe_via PORT: one round as wsb-probe through the tunnel listening on PORT.
probe_via() {
    env -i PATH="$PATH" WSB_REDIS_URL="redis://wsb-probe@127.0.0.1:$1/0" WSB_REDIS_PASSWORD_FILE="$T_DIR/probe.redis-password" \
        "$PROBE" --inventory "$T_DIR/inventory.json" --once 2>>"$T_DIR/probe.log"
}
# round: one probe round through the probe host's tunnel; waits until the replica has it.
round() {
    probe_via "$PROBE_TUNNEL" || return 1
    local id
    id=$(padm HGET wsb:round id)
    t_wait_for bash -c "[ \"\$(REDISCLI_AUTH=$APW redis-cli -s $T_DIR/replica.sock --user admin HGET wsb:round id)\" = '$id' ]"
}

# --- the handler pool on the web host: the replica's socket, then the primary through the tunnel ---
SOCK="$T_DIR/handler.sock"
HENV=("WSB_REDIS_URL=unix://$T_DIR/replica.sock?user=wsb-handler,redis://wsb-handler@127.0.0.1:$WEB_TUNNEL/0"
      "WSB_REDIS_PASSWORD_FILE=$T_DIR/handler.redis-password"
      "WSB_GEOIP_DB=$GEOIP_DIR/GeoLite2-City-Test.mmdb"
      "WSB_TRUSTED_PROXIES=127.0.0.1/32" "WSB_ALLOW_INSECURE_WS=1" "WSB_CACHE_MS=100" "WSB_STALE_MAX_MS=10000"
      "WSB_REDIS_RETRY_MS=100" "WSB_REDIS_CONNECT_TIMEOUT_MS=500")
w_pool_start "$T_DIR/pool.log" HENV "$BUILD/wsb-handler" --listen "$SOCK" --workers 2 --threads 2
w_wait_socket "$SOCK" || { cat "$T_DIR/pool.log" >&2; die "pool did not start"; }
from() { w_fcgi "$SOCK" /v1/websocket/server HTTP_X_FORWARDED_FOR="$1"; }
where() { from "$1" | sed -n 's/.*"location":"\([^"]*\)".*/\1/p; s/.*"error_code":\([0-9]*\).*/error \1/p'; }
settle() { sleep 0.25; }   # longer than WSB_CACHE_MS

t_true "probe round 1 through stunnel (written to the primary, seen on the replica)" round
t_match "the round names the probe" "^$(hostname):[0-9]+$" "$(radm HGET wsb:round probe)"
settle
t_match "London client, through the replica: the London node's endpoint" "\"ws://127.0.0.1:$LON_PORT/ws\"" "$(from $LONDON)"
t_true "the handler reads the replica's socket (as wsb-handler, named in its unix:// URL)" \
    bash -c "REDISCLI_AUTH=$APW redis-cli -s $T_DIR/replica.sock --user admin CLIENT LIST | grep -q 'flags=U .*user=wsb-handler'"
t_true "  ... and watches the state there (its change detection)" \
    bash -c "REDISCLI_AUTH=$APW redis-cli -s $T_DIR/replica.sock --user admin INFO commandstats | grep -q cmdstat_watch"
t_true "  ... not on the primary (no WATCH from wsb-handler there; its counts go there)" \
    bash -c "! REDISCLI_AUTH=$APW redis-cli -s $T_DIR/primary.sock --user admin CLIENT LIST | grep 'user=wsb-handler' | grep -q 'cmd=watch'"
for _ in $(seq 10); do from $LONDON >/dev/null; done
settle
t_true "  ... and its counts reach the primary through the web host's tunnel" \
    bash -c "[ \$(REDISCLI_AUTH=$APW redis-cli -s $T_DIR/primary.sock --user admin KEYS 'wsb:assigned:*' | wc -l) -ge 1 ]"
t_true "  ... without an accounting warning" bash -c "! grep -q 'assignment accounting' '$T_DIR/pool.log'"

w_london close
t_true "probe round 2: London down" round
settle
t_eq "London node down: the London client moves to Frankfurt" Frankfurt "$(where $LONDON)"
t_match "  ... with Frankfurt's endpoint" "\"ws://127.0.0.1:$FRA_PORT/ws\"" "$(from $LONDON)"
w_london ok
t_true "probe round 3: London back" round
settle
t_eq "London node back: London again" London "$(where $LONDON)"

# --- a tunnel that does not trust the primary: the probe fails, nothing is written ---
before=$(padm HGET wsb:round id)
BAD_CA=$(t_free_port); BAD_NAME=$(t_free_port)
tunnel bad-ca "$BAD_CA" probe-1 other-ca || die "the wrong-CA stunnel did not start"
tunnel bad-name "$BAD_NAME" probe-1 ca wrong-name.wsb.internal || die "the wrong-name stunnel did not start"
: > "$T_DIR/probe.log"
probe_via "$BAD_CA"
t_eq "wrong CA in stunnel: the probe exits 1" 1 "$?"
t_match "  ... and says which Redis failed" "error: redis 127.0.0.1:$BAD_CA/0: .*(reset|closed|refused)" "$(cat "$T_DIR/probe.log")"
t_match "  ... stunnel's log says why" 'CERT: Pre-verification error: .*certificate verify failed' "$(cat "$T_DIR/stunnel-bad-ca.log")"
: > "$T_DIR/probe.log"
probe_via "$BAD_NAME"
t_eq "wrong host name (checkHost) in stunnel: the probe exits 1" 1 "$?"
t_match "  ... and says which Redis failed" "error: redis 127.0.0.1:$BAD_NAME/0: " "$(cat "$T_DIR/probe.log")"
t_match "  ... stunnel's log says why" 'CERT: Subject checks failed' "$(cat "$T_DIR/stunnel-bad-name.log")"
t_eq "neither wrote a round" "$before" "$(padm HGET wsb:round id)"
settle
t_eq "the handler still answers from the last round" London "$(where $LONDON)"
t_true "the good tunnel still writes" round

echo "multihost_tls: primary listens on TLS port $TLS_PORT only; replica on a unix socket only;" \
    "primary's clients: $(padm CLIENT LIST | grep -c 'user=wsb-replica') wsb-replica, $(padm CLIENT LIST | grep -c 'user=wsb-handler') wsb-handler (counts, via stunnel);" \
    "TLS handshakes refused by the primary: $(grep -c 'Error accepting' "$T_DIR/primary.log")"
t_no_sanitizer_reports "no sanitizer reports" "$T_DIR/pool.log" "$T_DIR/probe.log"
t_summary
