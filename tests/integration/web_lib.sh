#!/usr/bin/env bash
# web_lib.sh: helpers for the web server, pool, multi-host, GeoIP and demo
# tests (web_*.sh, multihost*.sh, geoip_reload*.sh), on top of tests/lib.sh.
# Sourced by them; run on its own (as tests/run.sh does with every script
# here) it checks the helpers themselves.  Every server runs on a private
# loopback port or a socket in $T_DIR and is stopped by the EXIT trap.
#
#   w_fcgi ADDR PATH [VAR=VALUE...]   one GET straight over FastCGI (cgi-fcgi)
#                        to a socket path or HOST:PORT; prints the CGI answer
#   w_unit_exec UNIT     the ExecStart= command line of a systemd unit, with
#                        /usr/local/bin/ and /usr/bin/ programs mapped to
#                        $BUILD and the system, as words in W_ARGS
#   w_env_file FILE SED...  the VAR=value lines of an env file (comments
#                        dropped) after the sed expressions, in W_ENV
#   w_pool_start LOG ENV_ARRAY_NAME ARGS...   wsb-handler (or ARGS[0] when
#                        it is a program path) with exactly that environment,
#                        in the background; W_POOL_PID
#   w_wait_socket PATH   waits until a unix socket accepts connections
#   w_apache_start SITE_CONF MODULES...   a private Apache (own ServerRoot,
#                        pid file, runtime folder) that loads the modules named
#                        (fcgid, proxy_fcgi...) and includes the templated site
#                        file; its main error log is $T_DIR/apache-main.log.
#                        Children run as www-data, so $T_DIR is made readable.
#   w_nginx_start SITE_CONF   a private nginx (workers as root) including the
#                        templated site file (http context); logs in $T_DIR
#   w_http_up URL        waits until URL answers (any status)
#   w_sandbox_ok         1 when the host can run Apache children as www-data
#   w_redis_acl_start    t_redis_start with the ACL users of
#                        examples/redis/users.acl (fresh passwords, also in
#                        $T_DIR/handler.redis-password, $T_DIR/probe.redis-password)
#   w_www_state_and_socket_dir   w_redis_acl_start, one London node in the
#                        state, and $T_DIR/run made as the unit's
#                        RuntimeDirectory for group www-data; SOCK is the
#                        socket path in it
#   w_pool_from_unit UNIT SOCK [GROUP]   the handler pool exactly as
#                        examples/systemd/UNIT starts it (plus the words in
#                        W_POOL_EXTRA, if any), with the environment
#                        of examples/wsbalancer/handler.env pointed at the
#                        test's Redis (ACL user) and the contract's settings
#                        (tests/contract.sh); the socket at SOCK; with GROUP it
#                        runs with that group (the unit's Group=); waits for
#                        the socket.  Log: $T_DIR/pool.log
#   w_nginx_example SOCK  nginx from the example site in front of the pool's
#                        socket SOCK; sets HTTP_PORT and BASE
#   w_three_cities TIMEOUT_MS   three stand-in nodes, London, Frankfurt and
#                        Tokyo (LON_PORT, FRA_PORT, TYO_PORT), and the probe's
#                        inventory of them in $T_DIR/inventory.json (checks of
#                        TIMEOUT_MS, rise 1, fall 1); returns 1 when the
#                        stand-in does not start
#   w_london MODE        London's stand-in mode from now on (ok, close, ...)
if [ -z "${T_ROOT:-}" ]; then
    # shellcheck source=../lib.sh
    . "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
fi

w_fcgi() {
    local addr=$1 path=$2; shift 2
    env -i PATH="$PATH" GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=GET REQUEST_URI="$path" \
        SCRIPT_NAME="${path%%\?*}" REMOTE_ADDR=127.0.0.1 "$@" \
        timeout 5 cgi-fcgi -bind -connect "$addr" < /dev/null 2>/dev/null
}

w_unit_exec() {
    local line
    line=$(sed -n 's/^ExecStart=//p' "$1" | head -1)
    line=${line//\/usr\/local\/bin\//$BUILD/}
    read -r -a W_ARGS <<< "$line"
}

w_env_file() {
    local file=$1; shift
    local sedargs=() e
    for e in "$@"; do sedargs+=(-e "$e"); done
    mapfile -t W_ENV < <(grep -E '^[A-Z_]+=' "$file" | sed "${sedargs[@]}")
}

w_pool_start() {
    local log=$1 envname=$2; shift 2
    local -n envref=$envname
    env -i PATH="$PATH" ASAN_OPTIONS="${ASAN_OPTIONS:-}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" \
        "${envref[@]}" "$@" </dev/null >>"$log" 2>&1 &
    W_POOL_PID=$!
    T_PIDS+=("$W_POOL_PID")
}

w_wait_socket() {
    local i
    for i in $(seq 200); do
        python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])' "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

w_http_up() {
    local i
    for i in $(seq 200); do
        curl -s -o /dev/null --max-time 2 "$1" && return 0
        sleep 0.05
    done
    return 1
}

w_sandbox_ok() { id www-data >/dev/null 2>&1; }

w_apache_start() {
    local site=$1; shift
    local m=/usr/lib/apache2/modules mod
    chmod 755 "$T_DIR"
    mkdir -p "$T_DIR/apache-run" "$T_DIR/fcgid"
    chown www-data "$T_DIR/fcgid"
    {
        echo "ServerRoot $T_DIR"
        echo "PidFile $T_DIR/apache2.pid"
        echo "DefaultRuntimeDir $T_DIR/apache-run"
        echo "Mutex file:$T_DIR/apache-run default"
        echo "ErrorLog $T_DIR/apache-main.log"
        echo "LogLevel warn"
        echo "User www-data"
        echo "Group www-data"
        echo "ServerName localhost"
        echo "LoadModule mpm_event_module $m/mod_mpm_event.so"
        echo "LoadModule authz_core_module $m/mod_authz_core.so"
        echo "LoadModule alias_module $m/mod_alias.so"
        for mod in "$@"; do
            case $mod in
                fcgid) echo "LoadModule fcgid_module $m/mod_fcgid.so"
                       echo "FcgidIPCDir $T_DIR/fcgid"
                       echo "FcgidProcessTableFile $T_DIR/fcgid/shm" ;;
                proxy_fcgi) echo "LoadModule proxy_module $m/mod_proxy.so"
                            echo "LoadModule proxy_fcgi_module $m/mod_proxy_fcgi.so" ;;
                *) echo "LoadModule ${mod}_module $m/mod_$mod.so" ;;
            esac
        done
        echo 'LogFormat "%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\"" combined'
        echo "Include $site"
    } > "$T_DIR/apache2.conf"
    apache2 -f "$T_DIR/apache2.conf" -t >"$T_DIR/apache-configtest.log" 2>&1 || return 1
    apache2 -f "$T_DIR/apache2.conf" -DFOREGROUND 2>>"$T_DIR/apache-main.log" &
    T_PIDS+=($!)
}

w_nginx_start() {
    local site=$1
    cat > "$T_DIR/nginx.conf" <<EOF
user root;
worker_processes 2;
pid $T_DIR/nginx.pid;
error_log $T_DIR/nginx-main.log;
events { worker_connections 1024; }
http {
    client_body_temp_path $T_DIR/nginx-tmp;
    include $site;
}
EOF
    mkdir -p "$T_DIR/nginx-tmp"
    nginx -t -c "$T_DIR/nginx.conf" -p "$T_DIR" >"$T_DIR/nginx-configtest.log" 2>&1 || return 1
    nginx -c "$T_DIR/nginx.conf" -p "$T_DIR" -g 'daemon off;' 2>>"$T_DIR/nginx-main.log" &
    T_PIDS+=($!)
}

# w_nginx_example SOCK: nginx from examples/nginx/wsbalancer.conf, templated
# only for its port, the pool's socket SOCK and log paths, started and
# answering; sets HTTP_PORT and BASE.  Returns 1 (reported) when it does not.
w_nginx_example() {
    HTTP_PORT=$(t_free_port)
    sed -e "s|listen 127.0.0.1:8080;|listen 127.0.0.1:$HTTP_PORT;|" \
        -e "s|unix:/run/wsbalancer/handler.sock|unix:$1|" \
        -e "s|/var/log/nginx/|$T_DIR/nginx-|g" \
        "$T_ROOT/examples/nginx/wsbalancer.conf" > "$T_DIR/site.conf"
    grep -q "$HTTP_PORT" "$T_DIR/site.conf" || { t_fail "example template did not apply"; return 1; }
    w_nginx_start "$T_DIR/site.conf" || { t_fail "nginx config test failed"; cat "$T_DIR/nginx-configtest.log" >&2; return 1; }
    BASE="http://127.0.0.1:$HTTP_PORT"
    w_http_up "$BASE/" || { t_fail "nginx did not start"; cat "$T_DIR/nginx-main.log" >&2; return 1; }
}

w_redis_acl_start() {
    local hpw ppw
    hpw=$(openssl rand -hex 16); ppw=$(openssl rand -hex 16)
    sed -e "s/CHANGE-ME-handler/$hpw/" -e "s/CHANGE-ME-probe/$ppw/" "$T_ROOT/examples/redis/users.acl" > "$T_DIR/users.acl"
    printf '%s\n' "$hpw" > "$T_DIR/handler.redis-password"
    printf '%s\n' "$ppw" > "$T_DIR/probe.redis-password"
    chmod 644 "$T_DIR/handler.redis-password"
    T_REDIS_EXTRA="--aclfile $T_DIR/users.acl"
    t_redis_start
}

w_pool_from_unit() {
    local unit=$1 sock=$2 group=${3:-}
    mkdir -p "$(dirname "$sock")"
    w_env_file "$T_ROOT/examples/wsbalancer/handler.env" \
        "s|127.0.0.1:6379|127.0.0.1:$T_REDIS_PORT|" \
        "s|/etc/wsbalancer/handler.redis-password|$T_DIR/handler.redis-password|" \
        "s|/var/lib/GeoIP/GeoLite2-City.mmdb|$CONTRACT_GEOIP_DB|" \
        "s|^WSB_CACHE_MS=1000|WSB_CACHE_MS=$CONTRACT_CACHE_MS|"
    W_ENV+=("WSB_STALE_MAX_MS=$CONTRACT_STALE_MAX_MS" "WSB_REDIS_RETRY_MS=$CONTRACT_RETRY_MS")
    W_ENV+=(${W_ENV_EXTRA[@]+"${W_ENV_EXTRA[@]}"})
    w_unit_exec "$T_ROOT/examples/systemd/$unit"
    W_ARGS=("${W_ARGS[@]//\/run\/wsbalancer\/handler.sock/$sock}" ${W_POOL_EXTRA[@]+"${W_POOL_EXTRA[@]}"})
    [ -n "$group" ] && W_ARGS=(setpriv --regid "$group" --clear-groups -- "${W_ARGS[@]}")
    w_pool_start "$T_DIR/pool.log" W_ENV "${W_ARGS[@]}"
    w_wait_socket "$sock"
}

w_www_state_and_socket_dir() {
    w_redis_acl_start
    # A state before the pool starts: each process reads it before its first request.
    printf '[{"id":"lon","endpoint":"wss://lon.example.net/ws","location":"London","lat":51.5,"lon":-0.1,"versions":["v1"],"online":true,"load":0.1}]' > "$T_DIR/one.json"
    t_state "$T_DIR/one.json"
    chmod 755 "$T_DIR"
    SOCK="$T_DIR/run/handler.sock"
    mkdir -p "$T_DIR/run"; chgrp www-data "$T_DIR/run"; chmod 750 "$T_DIR/run"   # the unit's RuntimeDirectory
}

# Run on its own: check the helpers.
w_london() {
    printf '{"nodes": {"%s": {"mode": "%s", "connections": 100, "capacity": 1000}, "%s": {"mode": "ok", "connections": 300, "capacity": 1000}, "%s": {"mode": "ok", "connections": 200, "capacity": 1000}}}' \
        "$LON_PORT" "$1" "$FRA_PORT" "$TYO_PORT" > "$T_DIR/standin.tmp"
    mv "$T_DIR/standin.tmp" "$T_DIR/standin.json"
}

w_three_cities() {
    LON_PORT=$(t_free_port); FRA_PORT=$(t_free_port); TYO_PORT=$(t_free_port)
    w_london ok
    t_standin_start "$T_DIR/standin.json" || return 1
    cat > "$T_DIR/inventory.json" <<EOF
{ "allow_insecure_ws": true,
  "defaults": { "versions": ["v1"], "capacity": 1000,
                "check": { "type": "websocket", "timeout_ms": $1, "rise": 1, "fall": 1 } },
  "nodes": [
    { "id": "lon", "endpoint": "ws://127.0.0.1:$LON_PORT/ws", "location": "London", "latitude": 51.51, "longitude": -0.13 },
    { "id": "fra", "endpoint": "ws://127.0.0.1:$FRA_PORT/ws", "location": "Frankfurt", "latitude": 50.11, "longitude": 8.68 },
    { "id": "tyo", "endpoint": "ws://127.0.0.1:$TYO_PORT/ws", "location": "Tokyo", "latitude": 35.68, "longitude": 139.69 } ] }
EOF
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    printf '[Unit]\n[Service]\nExecStart=/usr/local/bin/wsb-handler --listen /run/x.sock --workers 2\n' > "$T_DIR/u.service"
    w_unit_exec "$T_DIR/u.service"
    t_eq "w_unit_exec maps /usr/local/bin to the build" "$BUILD/wsb-handler --listen /run/x.sock --workers 2" "${W_ARGS[*]}"
    printf '# comment\nWSB_A=1\n\nWSB_B=/var/x\n' > "$T_DIR/e.env"
    w_env_file "$T_DIR/e.env" "s|/var/x|/tmp/y|"
    t_eq "w_env_file keeps VAR=value lines, templated" "WSB_A=1 WSB_B=/tmp/y" "${W_ENV[*]}"
    t_redis_start
    env_list=("WSB_REDIS_URL=$T_REDIS_URL")
    w_pool_start "$T_DIR/pool.log" env_list "$BUILD/wsb-handler" --listen "$T_DIR/p.sock" --workers 1
    t_true "w_wait_socket sees the pool" w_wait_socket "$T_DIR/p.sock"
    t_match "w_fcgi gets an answer" '^Status: 503' "$(w_fcgi "$T_DIR/p.sock" /v1/websocket/server)"
    t_summary
fi
