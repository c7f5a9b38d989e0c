#!/usr/bin/env bash
# web_apache_proxy_fcgi.sh: the HTTP contract (tests/contract.sh) through a
# real Apache 2.4 with mod_proxy_fcgi, configured from
# examples/apache/wsbalancer-proxy-fcgi.conf, forwarding to a wsb-handler
# pool started exactly as examples/systemd/wsb-handler.service starts it
# (ExecStart=, Group=www-data, examples/wsbalancer/handler.env), reading
# Redis as the read-only ACL user of examples/redis/users.acl.  Apache's
# children run as www-data and reach the pool through the socket's group.
# Templated only for ports, paths, secrets and the test's cache timings.
. "$(dirname "$0")/web_lib.sh"
. "$T_ROOT/tests/contract.sh"
EX="$T_ROOT/examples"
w_sandbox_ok || { t_fail "no www-data user to run Apache's children"; t_summary; exit 1; }

w_www_state_and_socket_dir
group=$(sed -n 's/^Group=//p' "$EX/systemd/wsb-handler.service")
t_eq "the unit runs the pool with the web server's group" www-data "$group"
w_pool_from_unit wsb-handler.service "$SOCK" "$group" \
    || { t_fail "pool did not start"; cat "$T_DIR/pool.log" >&2; t_summary; exit 1; }
t_eq "socket: group www-data, mode 0660" "www-data 660" "$(stat -c '%G %a' "$SOCK")"

HTTP_PORT=$(t_free_port)
sed -e "s|127.0.0.1:8080|127.0.0.1:$HTTP_PORT|g" \
    -e "s|/var/log/apache2/|$T_DIR/apache-|g" \
    -e "s|unix:/run/wsbalancer/handler.sock|unix:$SOCK|" \
    "$EX/apache/wsbalancer-proxy-fcgi.conf" > "$T_DIR/site.conf"
grep -q "unix:$SOCK" "$T_DIR/site.conf" || { t_fail "example template did not apply"; t_summary; exit 1; }
w_apache_start "$T_DIR/site.conf" proxy_fcgi \
    || { t_fail "apache2 -t failed"; cat "$T_DIR/apache-configtest.log" >&2; t_summary; exit 1; }
BASE="http://127.0.0.1:$HTTP_PORT"
w_http_up "$BASE/" || { t_fail "Apache did not start"; cat "$T_DIR/apache-main.log" >&2; t_summary; exit 1; }

# A burst: the pool's processes exist before the first request; nothing to spawn.
pids=()
for i in $(seq 48); do
    (curl -s -o /dev/null -w '%{http_code}\n' "$BASE/v1/websocket/server" >> "$T_DIR/burst") & pids+=($!)
done
wait "${pids[@]}"
t_eq "48 concurrent requests: all 200" "48" "$(grep -c '^200$' "$T_DIR/burst")"

contract_suite "$BASE" "$T_DIR/pool.log"

t_true "no proxy errors in Apache's logs" bash -c "! grep -E 'proxy.*:error|AH0[0-9]+: .*(refused|denied)' '$T_DIR/apache-main.log' '$T_DIR/apache-wsbalancer-error.log'"
t_true "no pool worker died" bash -c "! grep -q 'pool: worker' '$T_DIR/pool.log'"
t_no_sanitizer_reports "no sanitizer reports from the handler" "$T_DIR/pool.log"
t_summary
