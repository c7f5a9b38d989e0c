#!/usr/bin/env bash
# probe_lib.sh: helpers for the probe's integration tests (probe_*.sh), on
# top of tests/lib.sh.  Sourced by them; run on its own (as tests/run.sh
# does with every script here) it checks the helpers themselves.
#
#   p_ports N            sets P_BASE: N consecutive free loopback ports,
#                        below the kernel's ephemeral range
#   p_standin CONFIG     starts the stand-in node server, waits until ready
#   p_ca                 makes the test CA in $T_DIR/ca (P_CA = ca.pem)
#   p_probe ARGS...      runs wsb-probe against the test's Redis; sets P_RC,
#                        stderr in $T_DIR/probe.err (also P_ERR); then p_refresh
#   p_refresh            reads every record of wsb:nodes once (into a file)
#   p_field ID FIELD     a field of node ID's record as of the last p_refresh
#                        ("" if none)
#   p_handler PATH       the handler's CGI answer for GET PATH
if [ -z "${T_ROOT:-}" ]; then
    # shellcheck source=../lib.sh
    . "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
fi
STANDIN="$T_ROOT/tests/tools/standin_node.py"
# The system interpreter starts in a tenth of the time of a pyenv shim.
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
PROBE="$BUILD/wsb-probe"
HANDLER="$BUILD/wsb-handler"

p_ports() {
    t_free_port_range "$1" && P_BASE=$T_PORT_BASE
}

p_standin() {
    t_standin_start "$1"
}

p_ca() {
    "$T_ROOT/tests/tools/make_test_ca.sh" "$T_DIR/ca" >/dev/null 2>&1
    P_CA="$T_DIR/ca/ca.pem"
}

p_probe() {
    "$PROBE" --redis "$T_REDIS_URL" "$@" 2>"$T_DIR/probe.err"
    P_RC=$?
    P_ERR=$(cat "$T_DIR/probe.err")
    p_refresh
    return 0
}

p_refresh() {
    t_rcli --raw HGETALL wsb:nodes | "$PY" -c '
import json, sys
lines = sys.stdin.read().split("\n")
for i in range(0, len(lines) - 1, 2):
    for k, v in json.loads(lines[i + 1]).items():
        print("%s\t%s\t%s" % (lines[i], k, v if isinstance(v, str) else json.dumps(v)))' > "$T_DIR/records.tsv"
}

p_field() {
    awk -F '\t' -v id="$1" -v f="$2" '$1 == id && $2 == f { print $3 }' "$T_DIR/records.tsv"
}

p_handler() {
    env -i PATH="$PATH" REQUEST_METHOD=GET REQUEST_URI="$1" REMOTE_ADDR=127.0.0.1 \
        WSB_REDIS_URL="$T_REDIS_URL" WSB_ALLOW_INSECURE_WS=1 "$HANDLER" </dev/null
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    p_ports 3
    t_true "p_ports: three free ports" test "$P_BASE" -ge 10000
    cat > "$T_DIR/s.json" <<JSON
{"nodes": {"$P_BASE": {"mode": "ok"}, "$((P_BASE + 1))": {"mode": "http_500"}}}
JSON
    t_true "p_standin starts the stand-in" p_standin "$T_DIR/s.json"
    t_eq "stand-in answers" '{"status":"ok"}' "$(curl -s -m 2 "http://127.0.0.1:$P_BASE/health")"
    t_true "wsb-probe is built" test -x "$PROBE"
    t_summary
fi
