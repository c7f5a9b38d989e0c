#!/usr/bin/env bash
# web_units.sh: the scheduling and service files of examples/ are real:
# every systemd unit passes `systemd-analyze verify`; the example inventory
# validates; the probe runs as wsb-probe.service runs it (its ExecStart=
# with examples/wsbalancer/probe.env, as the wsb-probe ACL user) and as the
# crontab line runs it (its environment and command, through /bin/sh),
# against stand-in nodes on loopback, and the handler serves what it wrote.
# Templated only for paths, ports, secrets and the cron line's timings.
. "$(dirname "$0")/web_lib.sh"
EX="$T_ROOT/examples"
PROBE="$BUILD/wsb-probe"

# --- systemd units ---
mkdir -p "$T_DIR/units"
for u in "$EX"/systemd/*; do
    sed -e "s|/usr/local/bin/|$BUILD/|g" "$u" > "$T_DIR/units/$(basename "$u")"
done
n=$(ls "$T_DIR/units" | wc -l)
t_true "four units in examples/systemd ($n)" test "$n" -ge 4
(cd "$T_DIR/units" && systemd-analyze verify --man=no ./*.service ./*.timer) >"$T_DIR/verify.log" 2>&1
t_eq "systemd-analyze verify: exit 0" 0 "$?"
t_eq "systemd-analyze verify: no complaint" "" "$(cat "$T_DIR/verify.log")"
t_true "the timer starts wsb-probe.service (same name)" test -f "$EX/systemd/wsb-probe.service" -a -f "$EX/systemd/wsb-probe.timer"
t_true "the probe service runs one round" grep -q '^ExecStart=.*wsb-probe .*--once' "$EX/systemd/wsb-probe.service"
t_true "the pool service restarts on failure" grep -q '^Restart=on-failure' "$EX/systemd/wsb-handler.service"

# --- cron files: five time fields, a user, a command ---
for c in "$EX"/cron/*; do
    bad=$(grep -vE '^\s*(#|$)' "$c" | grep -vE '^[A-Z_]+=' | awk 'NF < 7 {print}' | head -1)
    t_eq "$(basename "$c"): every job line has time fields, user and command" "" "$bad"
done

# --- the example inventory ---
out=$("$PROBE" --inventory "$EX/wsbalancer/inventory.json" --check-inventory 2>&1)
t_eq "examples/wsbalancer/inventory.json validates" 0 "$?"
t_match "... with its four nodes" '4 nodes ok' "$out"

# --- Redis with the ACL users, stand-in nodes, a loopback inventory ---
w_redis_acl_start
A_PORT=$(t_free_port); B_PORT=$(t_free_port)
printf '{"nodes": {"%s": {"mode": "ok", "connections": 10, "capacity": 100}, "%s": {"mode": "ok", "load": 0.5}}}' \
    "$A_PORT" "$B_PORT" > "$T_DIR/standin.json"
python3 "$T_ROOT/tests/tools/standin_node.py" --config "$T_DIR/standin.json" --ready-file "$T_DIR/standin.ready" --quiet \
    2>>"$T_DIR/standin.err" &
T_PIDS+=($!)
t_wait_for test -e "$T_DIR/standin.ready" || { t_fail "stand-in nodes did not start"; t_summary; exit 1; }
cat > "$T_DIR/inventory.json" <<EOF
{ "allow_insecure_ws": true,
  "defaults": { "versions": ["v1"], "check": { "type": "websocket", "timeout_ms": 2000, "rise": 1, "fall": 1 } },
  "nodes": [ { "id": "a", "endpoint": "ws://127.0.0.1:$A_PORT/ws", "location": "A" },
             { "id": "b", "endpoint": "ws://127.0.0.1:$B_PORT/ws", "location": "B" } ] }
EOF
TEMPLATE=(-e "s|127.0.0.1:6379|127.0.0.1:$T_REDIS_PORT|" -e "s|/etc/wsbalancer/probe.redis-password|$T_DIR/probe.redis-password|"
          -e "s|/etc/wsbalancer/inventory.json|$T_DIR/inventory.json|" -e "s|/usr/local/bin/|$BUILD/|g")

# The probe as wsb-probe.service runs it.
w_env_file "$EX/wsbalancer/probe.env" "${TEMPLATE[@]:1:1}" "${TEMPLATE[@]:3:1}"
w_unit_exec "$EX/systemd/wsb-probe.service"
W_ARGS=("${W_ARGS[@]//\/etc\/wsbalancer\/inventory.json/$T_DIR/inventory.json}")
env -i PATH="$PATH" "${W_ENV[@]}" "${W_ARGS[@]}" 2>"$T_DIR/service.log"
t_eq "wsb-probe.service's command with probe.env: exit 0" 0 "$?"
t_match "a round written as the wsb-probe user" '"online":true' "$(t_rcli HGET wsb:nodes a)"
t_eq "two nodes up" 2 "$(t_rcli HGET wsb:round up)"
out=$(env -i PATH="$PATH" GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=GET REQUEST_URI=/v1/websocket/server REMOTE_ADDR=127.0.0.1 \
      WSB_ALLOW_INSECURE_WS=1 WSB_REDIS_URL="redis://wsb-handler@127.0.0.1:$T_REDIS_PORT/0" \
      WSB_REDIS_PASSWORD_FILE="$T_DIR/handler.redis-password" "$BUILD/wsb-handler" </dev/null 2>>"$T_DIR/handler.log")
t_match "the handler serves the probe's round" "\"endpoint\":\"ws://127.0.0.1:($A_PORT|$B_PORT)/ws\"" "$out"

# The probe as the crontab line runs it: its environment, its command, /bin/sh.
CRON="$EX/cron/wsb-probe"
mapfile -t CENV < <(grep -E '^[A-Z_]+=' "$CRON" | sed "${TEMPLATE[@]}")
line=$(grep -vE '^\s*(#|$)' "$CRON" | grep -vE '^[A-Z_]+=' | head -1)
t_match "the cron line runs as the wsbalancer user" '^ *\* \* \* +\* +\* +wsbalancer ' "$line"
cmd=$(printf '%s\n' "$line" | awk '{for (i = 7; i <= NF; i++) printf "%s%s", $i, (i < NF ? " " : "")}' | sed "${TEMPLATE[@]}" \
      -e 's|--interval 10 --for 50|--interval 1 --for 2|' -e "s/| logger -t wsb-probe/| cat >> '${T_DIR//\//\\/}\\/cron.log'/")
cmd=${cmd//wsb-probe --inventory/$BUILD/wsb-probe --inventory}
t_match "templated cron command" "wsb-probe --inventory $T_DIR/inventory.json --interval 1 --for 2 2>&1 \\| cat >> '$T_DIR/cron.log'" "$cmd"
before=$(t_rcli HGET wsb:round at)
env -i "${CENV[@]}" /bin/sh -c "$cmd" &
first=$!
sleep 0.3
env -i "${CENV[@]}" /bin/sh -c "$cmd"
t_eq "a second cron run while one is running: exit 0" 0 "$?"
t_true "... and it says another probe holds the lock" grep -q "another probe holds the lock" "$T_DIR/cron.log"
wait "$first"
t_eq "the cron run: exit 0" 0 "$?"
t_true "the cron run wrote rounds" test "$(t_rcli HGET wsb:round at)" != "$before"
t_true "no permission errors" bash -c "! grep -qi noperm '$T_DIR/cron.log' '$T_DIR/service.log'"
t_no_sanitizer_reports "no sanitizer reports" "$T_DIR/cron.log" "$T_DIR/service.log" "$T_DIR/handler.log"
t_summary
