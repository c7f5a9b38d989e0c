#!/usr/bin/env bash
# web_slow_clients.sh: one client cannot stall the others.  While one
# offender trickles a body (3,000 bytes at 100 bytes/s), holds silent
# connections, does both at once, sends half a FastCGI record, or reads its
# answer a byte at a time, 30 plain requests on fresh connections are each
# answered within 50 ms (or, on a machine busy with other work, within twice
# the slowest of 30 plain requests timed just before: a stalled pool would
# hold them for seconds): straight over FastCGI to the pool (one worker, one
# thread, as the shipped unit runs it), through Apache mod_proxy_fcgi (which
# streams the body to the pool), nginx and lighttpd (examples/, templated
# for ports and paths only).  tests/tools/slow_clients.py drives each case.
# wsb-test: serial  (times each request to 50 ms)
. "$(dirname "$0")/web_lib.sh"
. "$T_ROOT/tests/contract.sh"
EX="$T_ROOT/examples"
SLOW="$T_ROOT/tests/tools/slow_clients.py"
LIMIT_MS=50
w_sandbox_ok || { t_fail "no www-data user to run Apache's children"; t_summary; exit 1; }

w_www_state_and_socket_dir
W_POOL_EXTRA=(--workers 1)   # one worker, as on a 2-CPU host: a stalled loop would stall everybody
w_pool_from_unit wsb-handler.service "$SOCK" www-data \
    || { t_fail "pool did not start"; cat "$T_DIR/pool.log" >&2; t_summary; exit 1; }
t_match "the shipped unit runs one thread per worker" '--threads 1( |$)' "${W_ARGS[*]}"
sleep 0.5
t_eq "one worker beside the supervisor" 2 "$(pgrep -c -f "wsb-handler --listen $SOCK")"

# check WHERE MODE ADDR OFFENDER: 30 plain requests beside the offender.
check() {
    local where=$1 mode=$2 addr=$3 kind=$4 out ok slowest alone limit
    out=$(timeout 60 python3 "$SLOW" "$mode" "$addr" "$kind" 30)
    read -r ok slowest _ offender alone <<< "$out"
    limit=$LIMIT_MS
    [[ "${alone:-}" =~ ^[0-9]+$ ]] && [ $((2 * alone)) -gt "$limit" ] && limit=$((2 * alone))
    t_eq "$where, beside a $kind client: 30 plain requests answered" 30 "${ok:-0}"
    t_true "$where, beside a $kind client: each within $limit ms (slowest ${slowest:-?} ms; alone ${alone:-?} ms)" \
        test "${slowest:-99999}" -lt "$limit"
    echo "$where $kind: $out" >> "$T_DIR/results"
    LAST_OFFENDER=$offender
}

for kind in trickle silent trickle+silent half slowread; do
    check "FastCGI to the pool" fcgi "$SOCK" "$kind"
done
check "FastCGI to the pool" fcgi "$SOCK" trickle
t_eq "FastCGI: the trickling client is answered before its body ends" 200 "$LAST_OFFENDER"

# Apache mod_proxy_fcgi, the README's recommendation, streams bodies.
HTTP_PORT=$(t_free_port)
sed -e "s|127.0.0.1:8080|127.0.0.1:$HTTP_PORT|g" \
    -e "s|/var/log/apache2/|$T_DIR/apache-|g" \
    -e "s|unix:/run/wsbalancer/handler.sock|unix:$SOCK|" \
    "$EX/apache/wsbalancer-proxy-fcgi.conf" > "$T_DIR/apache-site.conf"
w_apache_start "$T_DIR/apache-site.conf" proxy_fcgi \
    || { t_fail "apache2 -t failed"; cat "$T_DIR/apache-configtest.log" >&2; t_summary; exit 1; }
w_http_up "http://127.0.0.1:$HTTP_PORT/" || { t_fail "Apache did not start"; t_summary; exit 1; }
for kind in trickle silent trickle+silent slowread; do
    check "Apache mod_proxy_fcgi" http "127.0.0.1:$HTTP_PORT" "$kind"
done

# nginx with kept FastCGI connections.
NGINX_PORT=$(t_free_port)
sed -e "s|listen 127.0.0.1:8080;|listen 127.0.0.1:$NGINX_PORT;|" \
    -e "s|unix:/run/wsbalancer/handler.sock|unix:$SOCK|" \
    -e "s|/var/log/nginx/|$T_DIR/nginx-|g" \
    "$EX/nginx/wsbalancer.conf" > "$T_DIR/nginx-site.conf"
w_nginx_start "$T_DIR/nginx-site.conf" || { t_fail "nginx config test failed"; t_summary; exit 1; }
w_http_up "http://127.0.0.1:$NGINX_PORT/" || { t_fail "nginx did not start"; t_summary; exit 1; }
for kind in trickle silent trickle+silent slowread; do
    check "nginx" http "127.0.0.1:$NGINX_PORT" "$kind"
done

# lighttpd starting the handler itself (bin-path), two processes.
LIGHTTPD_PORT=$(t_free_port)
mkdir -p "$T_DIR/www" "$T_DIR/lrun"
sed -e "s|server.port            = 8080|server.port = $LIGHTTPD_PORT|" \
    -e "s|/var/www/empty|$T_DIR/www|" \
    -e "s|/var/log/lighttpd/wsbalancer-error.log|$T_DIR/lighttpd-error.log|" \
    -e "s|/var/log/lighttpd/wsbalancer-access.log|$T_DIR/lighttpd-access.log|" \
    -e "s|/var/log/lighttpd/wsbalancer-handler.log|$T_DIR/lighttpd-handler.log|" \
    -e "s|/run/lighttpd-wsbalancer.pid|$T_DIR/lighttpd.pid|" \
    -e "s|/usr/local/bin/wsb-handler|$BUILD/wsb-handler|" \
    -e "s|/run/lighttpd/wsb-handler.sock|$T_DIR/lrun/handler.sock|" \
    -e "s|\"min-procs\"   => 4|\"min-procs\" => 2|" -e "s|\"max-procs\"   => 4|\"max-procs\" => 2|" \
    -e "s|redis://127.0.0.1:6379/0|redis://127.0.0.1:$T_REDIS_PORT/0|" \
    -e "s|/var/lib/GeoIP/GeoLite2-City.mmdb|$CONTRACT_GEOIP_DB|" \
    "$EX/lighttpd/lighttpd.conf" > "$T_DIR/lighttpd.conf"
# The example's handler reads Redis as the default user; this Redis has the
# ACL users: give it the handler's.
sed -i "s|redis://127.0.0.1:$T_REDIS_PORT/0|redis://wsb-handler:$(cat "$T_DIR/handler.redis-password")@127.0.0.1:$T_REDIS_PORT/0|" "$T_DIR/lighttpd.conf"
lighttpd -D -f "$T_DIR/lighttpd.conf" 2>>"$T_DIR/lighttpd.stderr" &
T_PIDS+=($!)
t_wait_for curl -s -o /dev/null "http://127.0.0.1:$LIGHTTPD_PORT/" || { t_fail "lighttpd did not start"; t_summary; exit 1; }
for kind in trickle silent trickle+silent slowread; do
    check "lighttpd" http "127.0.0.1:$LIGHTTPD_PORT" "$kind"
done

t_true "no pool worker died" bash -c "! grep -q 'pool: worker' '$T_DIR/pool.log'"
t_no_sanitizer_reports "no sanitizer reports from the pool" "$T_DIR/pool.log"
t_no_sanitizer_reports "no sanitizer reports from lighttpd's handlers" "$T_DIR/lighttpd-handler.log"
[ -n "${T_VERBOSE:-}" ] && cat "$T_DIR/results"
t_summary
