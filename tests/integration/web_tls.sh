#!/usr/bin/env bash
# web_tls.sh: the HTTPS variants of the web server examples, each started
# from its file templated only for ports, paths, certificates and the test's
# cache timings, with a certificate of a test CA made here
# (tests/tools/make_test_ca.sh):
#   - lighttpd from examples/lighttpd/lighttpd-tls.conf (mod_openssl; the
#     handler as lighttpd's own FastCGI processes);
#   - Apache from examples/apache/wsbalancer-tls.conf (mod_ssl with Debian's
#     mods-available/ssl.conf, mod_http2, mod_proxy_fcgi to a wsb-handler
#     pool started as examples/systemd/wsb-handler.service starts it);
#   - nginx from examples/nginx/wsbalancer-tls.conf, to the same pool.
# For each, through HTTPS with curl trusting the test CA: HTTP/2 is
# negotiated, a TLS 1.1 client is refused by the server, a client that does
# not trust the CA fails verification (curl exit 60), and TLS sessions are
# resumed (TLS 1.2 and 1.3).  For lighttpd and Apache the whole HTTP
# contract (tests/contract.sh) passes over https:// (HTTP/2), and a TLS 1.2
# CBC cipher is refused.  (browser_client.sh drives the nginx one with a
# browser.)
. "$(dirname "$0")/web_lib.sh"
. "$T_ROOT/tests/contract.sh"
EX="$T_ROOT/examples"

for tool in lighttpd apache2 nginx openssl; do
    command -v "$tool" >/dev/null || { t_fail "$tool is not installed (scripts/deps.sh)"; t_summary; exit 1; }
done
[ -e /usr/lib/lighttpd/mod_openssl.so ] || { t_fail "lighttpd-mod-openssl is not installed (scripts/deps.sh)"; t_summary; exit 1; }
w_sandbox_ok || { t_fail "no www-data user to run Apache's children"; t_summary; exit 1; }

"$T_ROOT/tests/tools/make_test_ca.sh" "$T_DIR/tls" >/dev/null 2>&1 || { t_fail "make_test_ca.sh"; t_summary; exit 1; }
CA="$T_DIR/tls/ca.pem"
# Every curl of this script, the contract suite's included, trusts the test
# CA and nothing else (an empty CA folder instead of Debian's /etc/ssl/certs);
# `command curl` is curl as built, trusting the system's CAs only.
mkdir -p "$T_DIR/no-cas"
curl() { command curl --cacert "$CA" --capath "$T_DIR/no-cas" "$@"; }

# tls_checks NAME HOST:PORT: the TLS checks of one server.
tls_checks() {
    local name=$1 hp=$2 url="https://$2/v1/websocket/server" out rc
    t_eq "$name: HTTP/2 over TLS with the test CA" "2 200" \
        "$(curl -s -o /dev/null -w '%{http_version} %{http_code}' --http2 "$url")"
    # A client able to speak TLS 1.1 (OpenSSL 3 needs security level 0 for
    # it; the control below shows this one can): the server refuses it.
    out=$(curl -sS -o /dev/null --tlsv1.1 --tls-max 1.1 --ciphers 'DEFAULT:@SECLEVEL=0' "$url" 2>&1); rc=$?
    t_eq "$name: a TLS 1.1 client is refused (curl exit 35)" 35 "$rc"
    t_match "  ... by the server (its protocol_version alert)" 'alert protocol version' "$out"
    out=$(command curl -sS -o /dev/null "$url" 2>&1); rc=$?
    t_eq "$name: a client that does not trust the test CA fails verification (curl exit 60)" 60 "$rc"
    t_match "  ... as a certificate problem" 'SSL certificate problem' "$out"
    local v
    for v in 1_2 1_3; do
        # An HTTP/1.0 request: the server closes after answering, so the
        # session (TLS 1.3: its ticket, sent after the handshake) is saved.
        printf 'GET /v1/websocket/server HTTP/1.0\r\nHost: localhost\r\n\r\n' |
            openssl s_client -connect "$hp" -servername localhost -tls$v -CAfile "$CA" -ign_eof \
                -sess_out "$T_DIR/sess" >/dev/null 2>&1
        t_match "$name: a TLS ${v/_/.} session is resumed" '^Reused, TLSv' \
            "$(openssl s_client -connect "$hp" -servername localhost -tls$v -CAfile "$CA" -sess_in "$T_DIR/sess" </dev/null 2>/dev/null | grep -E '^(New|Reused),')"
        rm -f "$T_DIR/sess"
    done
}
# cbc_refused NAME HOST:PORT: only AEAD ciphers for TLS 1.2.
cbc_refused() {
    t_true "$1: a TLS 1.2 CBC cipher (ECDHE-ECDSA-AES128-SHA) is refused" \
        bash -c "! openssl s_client -connect '$2' -tls1_2 -cipher ECDHE-ECDSA-AES128-SHA -CAfile '$CA' </dev/null >/dev/null 2>&1"
    t_match "  ... an AEAD one is taken" 'Cipher is ECDHE-ECDSA-AES128-GCM-SHA256' \
        "$(openssl s_client -connect "$2" -tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256 -CAfile "$CA" </dev/null 2>/dev/null | grep 'Cipher is')"
}

# --- the control: this curl does speak TLS 1.1 to a server that allows it ---
CTL_PORT=$(t_free_port)
openssl s_server -accept "127.0.0.1:$CTL_PORT" -cert "$T_DIR/tls/server.pem" -key "$T_DIR/tls/server.key" \
    -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' -www -quiet </dev/null >"$T_DIR/s_server.log" 2>&1 &
CTL_PID=$!; T_PIDS+=("$CTL_PID")
t_wait_for bash -c "echo > /dev/tcp/127.0.0.1/$CTL_PORT" 2>/dev/null
t_eq "control: the TLS 1.1 client gets through to a server that allows TLS 1.1" 200 \
    "$(curl -s -o /dev/null -w '%{http_code}' --tlsv1.1 --tls-max 1.1 --ciphers 'DEFAULT:@SECLEVEL=0' "https://127.0.0.1:$CTL_PORT/")"
kill "$CTL_PID"; wait "$CTL_PID" 2>/dev/null

# Redis (ACL users of examples/redis/users.acl), a state, the pool's run dir.
w_www_state_and_socket_dir

# --- lighttpd ---
LT_PORT=$(t_free_port)
mkdir -p "$T_DIR/www" "$T_DIR/lighttpd"
sed -e "s|server.port            = 8443|server.port = $LT_PORT|" \
    -e "s|/var/www/empty|$T_DIR/www|" \
    -e "s|/var/log/lighttpd/|$T_DIR/lighttpd/|g" \
    -e "s|/run/lighttpd-wsbalancer-tls.pid|$T_DIR/lighttpd/pid|" \
    -e "s|/etc/ssl/wsbalancer/fullchain.pem|$T_DIR/tls/server.pem|" \
    -e "s|/etc/ssl/wsbalancer/privkey.pem|$T_DIR/tls/server.key|" \
    -e "s|/usr/local/bin/wsb-handler|$BUILD/wsb-handler|" \
    -e "s|/run/lighttpd/wsb-handler-tls.sock|$T_DIR/lighttpd/handler.sock|" \
    -e "s|\"min-procs\"   => 4|\"min-procs\" => 2|" -e "s|\"max-procs\"   => 4|\"max-procs\" => 2|" \
    -e "s|redis://127.0.0.1:6379/0|$T_REDIS_URL|" \
    -e "s|/var/lib/GeoIP/GeoLite2-City.mmdb|$CONTRACT_GEOIP_DB|" \
    -e "s|\"WSB_CACHE_MS\"        => \"1000\",|\"WSB_CACHE_MS\" => \"$CONTRACT_CACHE_MS\", \"WSB_STALE_MAX_MS\" => \"$CONTRACT_STALE_MAX_MS\", \"WSB_REDIS_RETRY_MS\" => \"$CONTRACT_RETRY_MS\",|" \
    "$EX/lighttpd/lighttpd-tls.conf" > "$T_DIR/lighttpd.conf"
t_eq "lighttpd example: the template applied" 2 \
    "$(grep -c -e "server.port = $LT_PORT" -e "\"WSB_CACHE_MS\" => \"$CONTRACT_CACHE_MS\"" "$T_DIR/lighttpd.conf")"
lighttpd -tt -f "$T_DIR/lighttpd.conf" >"$T_DIR/lighttpd-configtest.log" 2>&1 \
    || { t_fail "lighttpd -tt failed"; cat "$T_DIR/lighttpd-configtest.log" >&2; t_summary; exit 1; }
lighttpd -D -f "$T_DIR/lighttpd.conf" 2>>"$T_DIR/lighttpd/stderr" &
LT_PID=$!; T_PIDS+=("$LT_PID")
BASE="https://127.0.0.1:$LT_PORT"
w_http_up "$BASE/" || { t_fail "lighttpd did not start"; cat "$T_DIR/lighttpd/stderr" "$T_DIR/lighttpd/wsbalancer-error.log" >&2; t_summary; exit 1; }
tls_checks lighttpd "127.0.0.1:$LT_PORT"
cbc_refused lighttpd "127.0.0.1:$LT_PORT"
t_true "  ... lighttpd logged both refusals" \
    bash -c "grep -q 'unsupported protocol' '$T_DIR/lighttpd/wsbalancer-error.log' && grep -q 'no shared cipher' '$T_DIR/lighttpd/wsbalancer-error.log'"
contract_suite "$BASE" "$T_DIR/lighttpd/wsbalancer-handler.log"
t_true "lighttpd: the contract ran over HTTP/2 (access log)" \
    test "$(grep -c '"GET /v1/websocket/server HTTP/2.0" 200' "$T_DIR/lighttpd/wsbalancer-access.log")" -ge 20
kill "$LT_PID"; wait "$LT_PID" 2>/dev/null   # and its handler processes

# --- the pool (started after lighttpd's contract run: its log holds only its
# own Redis outage), Apache and nginx in front of it ---
w_pool_from_unit wsb-handler.service "$SOCK" www-data \
    || { t_fail "pool did not start"; cat "$T_DIR/pool.log" >&2; t_summary; exit 1; }

AP_PORT=$(t_free_port)
sed -e "s|127.0.0.1:8443|127.0.0.1:$AP_PORT|g" \
    -e "s|/var/log/apache2/|$T_DIR/apache-|g" \
    -e "s|ServerName wsbalancer.localhost|ServerName localhost|" \
    -e "s|/etc/ssl/wsbalancer/fullchain.pem|$T_DIR/tls/server.pem|" \
    -e "s|/etc/ssl/wsbalancer/privkey.pem|$T_DIR/tls/server.key|" \
    -e "s|unix:/run/wsbalancer/handler.sock|unix:$SOCK|" \
    "$EX/apache/wsbalancer-tls.conf" > "$T_DIR/apache-tls.conf"
t_eq "Apache example: the template applied (Listen, VirtualHost, ProxyPass)" 3 \
    "$(grep -c -e "127.0.0.1:$AP_PORT" -e "unix:$SOCK" "$T_DIR/apache-tls.conf" | tr -d ' ')"
# What `a2enmod ssl` adds server-wide (Debian's ssl.conf: the session cache
# under APACHE_RUN_DIR, which apache2ctl would set; its AddType lines need
# mod_mime, as in Debian's mime.conf), then the site.
{
    echo "TypesConfig /etc/mime.types"
    echo "Define APACHE_RUN_DIR $T_DIR/apache-run"
    echo "Include /etc/apache2/mods-available/ssl.conf"
    echo "Include $T_DIR/apache-tls.conf"
} > "$T_DIR/site.conf"
w_apache_start "$T_DIR/site.conf" mime socache_shmcb ssl http2 proxy_fcgi \
    || { t_fail "apache2 -t failed"; cat "$T_DIR/apache-configtest.log" >&2; t_summary; exit 1; }
BASE="https://127.0.0.1:$AP_PORT"
w_http_up "$BASE/" || { t_fail "Apache did not start"; cat "$T_DIR/apache-main.log" >&2; t_summary; exit 1; }
tls_checks Apache "127.0.0.1:$AP_PORT"
cbc_refused Apache "127.0.0.1:$AP_PORT"
contract_suite "$BASE" "$T_DIR/pool.log"
t_true "Apache: the contract ran over HTTP/2 (access log)" \
    test "$(grep -c '"GET /v1/websocket/server HTTP/2.0" 200' "$T_DIR/apache-wsbalancer-access.log")" -ge 20
t_true "Apache: no proxy or TLS errors in its logs" \
    bash -c "! grep -E ':error\\]|AH0[0-9]+: .*(refused|denied)' '$T_DIR/apache-main.log' '$T_DIR/apache-wsbalancer-error.log'"

NG_PORT=$(t_free_port)
sed -e "s|listen 127.0.0.1:8443 ssl http2;|listen 127.0.0.1:$NG_PORT ssl http2;|" \
    -e "s|unix:/run/wsbalancer/handler.sock|unix:$SOCK|" \
    -e "s|/var/log/nginx/|$T_DIR/nginx-|g" \
    -e "s|/etc/ssl/wsbalancer/fullchain.pem|$T_DIR/tls/server.pem|" \
    -e "s|/etc/ssl/wsbalancer/privkey.pem|$T_DIR/tls/server.key|" \
    "$EX/nginx/wsbalancer-tls.conf" > "$T_DIR/nginx-site.conf"
t_eq "nginx example: the template applied" 2 \
    "$(grep -c -e "$NG_PORT ssl" -e "unix:$SOCK" "$T_DIR/nginx-site.conf")"
w_nginx_start "$T_DIR/nginx-site.conf" || { t_fail "nginx config test failed"; cat "$T_DIR/nginx-configtest.log" >&2; t_summary; exit 1; }
w_http_up "https://127.0.0.1:$NG_PORT/" || { t_fail "nginx did not start"; cat "$T_DIR/nginx-main.log" >&2; t_summary; exit 1; }
tls_checks nginx "127.0.0.1:$NG_PORT"
cbc_refused nginx "127.0.0.1:$NG_PORT"

t_true "no pool worker died" bash -c "! grep -q 'pool: worker' '$T_DIR/pool.log'"
t_no_sanitizer_reports "no sanitizer reports from the handler" "$T_DIR/pool.log" "$T_DIR/lighttpd/wsbalancer-handler.log"
t_summary
