#!/usr/bin/env bash
# security_password.sh: the Redis password (WSB_REDIS_PASSWORD_FILE) never
# shows in a command line, in a process environment, in a log line (at
# debug level, through outages and refused logins) or in an error text, for
# the handler under lighttpd, the handler as CGI and --check, and the probe.
. "$(dirname "$0")/fault_lib.sh"

PW='Pw-7f3a9c-never-shown'
T_REDIS_EXTRA="--requirepass $PW"    # the server's own command line is not ours to judge
t_redis_start
# t_redis_start pings without a password: wait for AUTH instead.
t_wait_for redis-cli -p "$T_REDIS_PORT" -a "$PW" --no-auth-warning ping
rc() { redis-cli -p "$T_REDIS_PORT" -a "$PW" --no-auth-warning "$@"; }
printf '%s\n' "$PW" > "$T_DIR/pw"
chmod 0400 "$T_DIR/pw"
printf '[%s]' "$(f_node a wss://a.example.net/ws)" > "$T_DIR/s.json"
PWURL="redis://:$PW@127.0.0.1:$T_REDIS_PORT/0"
"$BUILD/tests/wsb_statectl" --redis "$PWURL" write "$T_DIR/s.json" >/dev/null
t_eq "state written with the password" 1 "$(rc HLEN wsb:nodes)"

# Every place a password could leak to, for the given processes.
no_pw_in_procs() {   # name, pids...
    local name=$1; shift
    local p leaked=""
    for p in "$@"; do
        tr '\0' ' ' < "/proc/$p/cmdline" | grep -qF "$PW" && leaked="$leaked cmdline:$p"
        tr '\0' '\n' < "/proc/$p/environ" | grep -qF "$PW" && leaked="$leaked environ:$p"
    done
    t_eq "$name: not in the command line or environment of $# processes" "" "$leaked"
}
no_pw_in_files() {   # name, files...
    local name=$1; shift
    local hits
    hits=$(grep -lF "$PW" "$@" 2>/dev/null | tr '\n' ' ')
    t_eq "$name: not in $*" "" "$hits"
}

# --- the handler under lighttpd, at debug level ------------------------------
f_lighttpd_start 2 WSB_CACHE_MS=100 WSB_REDIS_RETRY_MS=100 WSB_STALE_MAX_MS=300 WSB_LOG_LEVEL=debug \
    WSB_REDIS_PASSWORD_FILE="$T_DIR/pw" || { t_fail "lighttpd did not start"; t_summary; exit 1; }
URL="$F_BASE/v1/websocket/server"
f_req "$URL"
t_eq "the handler authenticates from the password file" "200 wss://a.example.net/ws" "$F_STATUS $(f_endpoint)"
PIDS=$(f_handler_pids)
# shellcheck disable=SC2086
no_pw_in_procs "handler under lighttpd" $PIDS "$F_LIGHTTPD_PID"
t_true "the lighttpd configuration names the file, not the password" \
    bash -c "grep -q 'WSB_REDIS_PASSWORD_FILE' '$T_DIR/lighttpd.conf' && ! grep -qF '$PW' '$T_DIR/lighttpd.conf'"
# A login refused (the password changed, connections dropped), then an
# outage, then back.
rc CONFIG SET requirepass other-password-1 >/dev/null
redis-cli -p "$T_REDIS_PORT" -a other-password-1 --no-auth-warning CLIENT KILL TYPE normal >/dev/null
for _ in $(seq 5); do f_req "$URL"; sleep 0.2; done
t_eq "a refused login: 503/100 once the stale limit passed" "503 100" "$F_STATUS $(f_code)"
redis-cli -p "$T_REDIS_PORT" -a other-password-1 --no-auth-warning CONFIG SET requirepass "$PW" >/dev/null
ok=""
for _ in $(seq 20); do f_req "$URL"; [ "$F_STATUS" = 200 ] && { ok=1; break; }; sleep 0.1; done
t_eq "the password works again: served" 1 "$ok"
t_redis_stop
for _ in $(seq 5); do f_req "$URL"; sleep 0.2; done
T_REDIS_PORT_WANT=$T_REDIS_PORT t_redis_start redis2
t_wait_for redis-cli -p "$T_REDIS_PORT" -a "$PW" --no-auth-warning ping
"$BUILD/tests/wsb_statectl" --redis "$PWURL" write "$T_DIR/s.json" >/dev/null
ok=""
for _ in $(seq 20); do f_req "$URL"; [ "$F_STATUS" = 200 ] && { ok=1; break; }; sleep 0.1; done
t_eq "after an outage: served again" 1 "$ok"
t_true "the refused login is logged" grep -q "AUTH refused" "$T_DIR/handler.log"
t_true "the outage is logged" grep -q "state unreadable" "$T_DIR/handler.log"
no_pw_in_files "handler under lighttpd, debug level, outage and refused login" \
    "$T_DIR/handler.log" "$T_DIR/error.log" "$T_DIR/access.log" "$T_DIR/lighttpd.stderr"

# --- CGI and --check ---------------------------------------------------------
cgi() {
    env -i PATH="$PATH" GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=GET REQUEST_URI=/v1/websocket/server \
        REMOTE_ADDR=127.0.0.1 WSB_LOG_LEVEL=debug "$@" "$BUILD/wsb-handler" </dev/null
}
check() { env -i PATH="$PATH" WSB_LOG_LEVEL=debug "$@" "$BUILD/wsb-handler" --check; }
DEAD="127.0.0.1:$(t_free_port)"
{
    cgi WSB_REDIS_URL="redis://127.0.0.1:$T_REDIS_PORT/0" WSB_REDIS_PASSWORD_FILE="$T_DIR/pw"
    cgi WSB_REDIS_URL="redis://$DEAD/0" WSB_REDIS_PASSWORD_FILE="$T_DIR/pw"
    cgi WSB_REDIS_URL="$PWURL"
    cgi WSB_REDIS_URL="redis://:$PW@$DEAD/0"
    cgi WSB_REDIS_URL="redis://:$PW@127.0.0.1:99999/0"                  # a configuration error
    cgi WSB_REDIS_URL="redis://:$PW@127.0.0.1:$T_REDIS_PORT/0" WSB_MAX_LOAD=2
    cgi WSB_REDIS_URL="redis://user:$PW@[::1/0"
    cgi WSB_REDIS_URL="redis://:$PW@127.0.0.1:$T_REDIS_PORT/0,redis://:$PW@$DEAD/0,bogus://x"
    check WSB_REDIS_URL="redis://127.0.0.1:$T_REDIS_PORT/0" WSB_REDIS_PASSWORD_FILE="$T_DIR/pw"
    check WSB_REDIS_URL="redis://$DEAD/0" WSB_REDIS_PASSWORD_FILE="$T_DIR/pw"
    check WSB_REDIS_URL="redis://:$PW@$DEAD/0"
    check WSB_REDIS_URL="redis://:$PW@127.0.0.1:$T_REDIS_PORT/0" WSB_KEY_PREFIX="bad prefix"
} > "$T_DIR/cgi.out" 2> "$T_DIR/cgi.err"
t_eq "CGI with the password file serves" 2 "$(grep -c '"endpoint":"wss://a.example.net/ws"' "$T_DIR/cgi.out")"
t_match "--check with the password file reads the state" '1 nodes' "$(cat "$T_DIR/cgi.out")"
t_true "the errors were met (unreachable, bad port, bad URL)" \
    bash -c "grep -q '$DEAD' '$T_DIR/cgi.err' && grep -q 'port must be' '$T_DIR/cgi.err' && grep -q 'WSB_REDIS_URL' '$T_DIR/cgi.err'"
no_pw_in_files "CGI and --check answers and logs (password in the file or the URL, errors of every kind)" \
    "$T_DIR/cgi.out" "$T_DIR/cgi.err"
# A password file the handler cannot use names the file, never its content.
head -c 300 /dev/zero | tr '\0' 'x' > "$T_DIR/long.pw"
printf '%s' "$PW" > "$T_DIR/unreadable.pw"
chmod 000 "$T_DIR/unreadable.pw"
for f in "$T_DIR/long.pw" "$T_DIR/missing.pw"; do
    cgi WSB_REDIS_URL="redis://127.0.0.1:$T_REDIS_PORT/0" WSB_REDIS_PASSWORD_FILE="$f" >/dev/null 2>"$T_DIR/pwf.err"
    t_match "password file $(basename "$f"): the error names the variable and the file" \
        "WSB_REDIS_PASSWORD_FILE: .*$(basename "$f")" "$(cat "$T_DIR/pwf.err")"
    t_true "  ... and not its content" bash -c "! grep -q xxxxxxxx '$T_DIR/pwf.err'"
done

# --- the probe -------------------------------------------------------------
f_ports 1 || { t_fail "no port"; t_summary; exit 1; }
printf '{"nodes": {"%s": {"mode": "ok"}}}\n' "$F_PORT_BASE" > "$T_DIR/standin.json"
f_standin "$T_DIR/standin.json" || { t_fail "stand-in did not start"; t_summary; exit 1; }
cat > "$T_DIR/inventory.json" <<JSON
{"allow_insecure_ws": true, "defaults": {"versions": ["v1"]},
 "nodes": [{"id": "a", "endpoint": "ws://127.0.0.1:$F_PORT_BASE/ws", "location": "A"}]}
JSON
WSB_LOG_LEVEL=debug WSB_REDIS_PASSWORD_FILE="$T_DIR/pw" "$BUILD/wsb-probe" --inventory "$T_DIR/inventory.json" \
    --redis "redis://127.0.0.1:$T_REDIS_PORT/0" --interval 1 --for 3 2>"$T_DIR/probe.err" &
PP=$!
T_PIDS+=("$PP")
sleep 1
no_pw_in_procs "probe, running" "$PP"
wait "$PP"
t_eq "the probe authenticates from the password file" 0 "$?"
{
    WSB_LOG_LEVEL=debug "$BUILD/wsb-probe" --inventory "$T_DIR/inventory.json" --redis "redis://:$PW@$DEAD/0" --once
    WSB_LOG_LEVEL=debug WSB_REDIS_PASSWORD_FILE="$T_DIR/pw" "$BUILD/wsb-probe" --inventory "$T_DIR/inventory.json" \
        --redis "redis://$DEAD/0" --once
    WSB_LOG_LEVEL=debug "$BUILD/wsb-probe" --inventory "$T_DIR/inventory.json" --redis "redis://:$PW@127.0.0.1:0/0" --once
    printf 'wrong\n' > "$T_DIR/wrong.pw"
    WSB_LOG_LEVEL=debug WSB_REDIS_PASSWORD_FILE="$T_DIR/wrong.pw" "$BUILD/wsb-probe" \
        --inventory "$T_DIR/inventory.json" --redis "redis://127.0.0.1:$T_REDIS_PORT/0" --once
} >"$T_DIR/probe2.out" 2>"$T_DIR/probe2.err"
t_true "probe errors were met (unreachable, bad port, refused login)" \
    bash -c "grep -q '$DEAD' '$T_DIR/probe2.err' && grep -qi 'port' '$T_DIR/probe2.err' && grep -q 'AUTH refused\|WRONGPASS' '$T_DIR/probe2.err'"
no_pw_in_files "probe logs and errors (password in the file or on the command line)" \
    "$T_DIR/probe.err" "$T_DIR/probe2.out" "$T_DIR/probe2.err"
t_no_sanitizer_reports "no sanitizer reports" "$T_DIR/handler.log" "$T_DIR/cgi.err" "$T_DIR/probe.err" "$T_DIR/probe2.err"
t_summary
