#!/usr/bin/env bash
# web_nginx.sh: the HTTP contract (tests/contract.sh) through a real nginx
# configured from examples/nginx/wsbalancer.conf, with fastcgi_keep_conn to
# a wsb-handler pool started exactly as examples/systemd/wsb-handler.service
# starts it (its ExecStart= and the environment of
# examples/wsbalancer/handler.env), reading Redis as the read-only ACL user
# of examples/redis/users.acl.  Templated only for ports, paths, secrets and
# the test's cache timings.  web_nginx_spawn_fcgi.sh runs this same script
# with W_UNIT=wsb-handler-spawn-fcgi.service (spawn-fcgi makes the socket).
. "$(dirname "$0")/web_lib.sh"
. "$T_ROOT/tests/contract.sh"
EX="$T_ROOT/examples"

W_UNIT=${W_UNIT:-wsb-handler.service}
w_redis_acl_start
# A state before the pool starts: each process reads it before its first request.
printf '[{"id":"lon","endpoint":"wss://lon.example.net/ws","location":"London","lat":51.5,"lon":-0.1,"versions":["v1"],"online":true,"load":0.1}]' > "$T_DIR/one.json"
t_state "$T_DIR/one.json"
SOCK="$T_DIR/run/handler.sock"
w_pool_from_unit "$W_UNIT" "$SOCK" || { t_fail "pool did not start"; cat "$T_DIR/pool.log" >&2; t_summary; exit 1; }
t_true "handler.env names the handler's ACL user" bash -c "printf '%s\n' \"\${@}\" | grep -q '^WSB_REDIS_URL=redis://wsb-handler@'" _ "${W_ENV[@]}"
t_true "handler.env trusts the loopback proxy" bash -c "printf '%s\n' \"\${@}\" | grep -q '^WSB_TRUSTED_PROXIES=.*$CONTRACT_TRUSTED_PROXIES'" _ "${W_ENV[@]}"
t_true "handler.env allows the contract's CORS origin" bash -c "printf '%s\n' \"\${@}\" | grep -qx 'WSB_CORS_ORIGINS=$CONTRACT_CORS_ORIGINS'" _ "${W_ENV[@]}"
t_match "$W_UNIT runs the pool" '--threads [0-9]+' "${W_ARGS[*]}"
t_eq "socket mode from $W_UNIT" 660 "$(stat -c %a "$SOCK")"

# nginx with the example site.
w_nginx_example "$SOCK" || { t_summary; exit 1; }

# nginx-specific: kept FastCGI connections, and a burst over them (before
# the contract suite, which ends by restarting Redis).
for i in $(seq 20); do curl -s -o /dev/null "$BASE/v1/websocket/server"; done
kept=$(ss -xH state connected | grep -c "$SOCK")
t_true "nginx keeps FastCGI connections open to the pool ($kept)" test "$kept" -ge 1
pids=()
for i in $(seq 64); do
    (curl -s -o /dev/null -w '%{http_code}\n' "$BASE/v1/websocket/server" >> "$T_DIR/burst") & pids+=($!)
done
wait "${pids[@]}"
t_eq "64 concurrent requests over kept connections: all 200" "64" "$(grep -c '^200$' "$T_DIR/burst")"
contract_suite "$BASE" "$T_DIR/pool.log"

t_true "no pool worker died" bash -c "! grep -q 'pool: worker' '$T_DIR/pool.log'"
t_true "no upstream errors in nginx's log" bash -c "! grep -E '\\[(error|crit|alert)\\]' '$T_DIR/nginx-wsbalancer-error.log'"
t_no_sanitizer_reports "no sanitizer reports from the handler" "$T_DIR/pool.log"
t_summary
