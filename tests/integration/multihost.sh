#!/usr/bin/env bash
# multihost.sh: the several-hosts shape on loopback (README "Several
# hosts"): one primary Redis that the probe writes, a replica configured
# from examples/redis/replica.conf that a handler pool reads first
# (WSB_REDIS_URL="redis://replica,redis://primary").  The handler answers
# from the probe's latest round through the replica; with the primary gone
# the replica keeps serving until the round's TTL, then 101, never a stale
# node; with the replica gone the handler answers from the primary, with no
# failed request and no restart.  Real probe, real stand-in nodes.
. "$(dirname "$0")/web_lib.sh"
PROBE="$BUILD/wsb-probe"
LONDON=81.2.69.142     # GeoLite2-City-Test: London

# --- the primary, and the replica from the example ---
# (no 5 s wait before a replica's first sync: repl-diskless-sync-delay 0)
T_REDIS_EXTRA="--repl-diskless-sync-delay 0" t_redis_start primary
PRIMARY_PORT=$T_REDIS_PORT; PRIMARY_URL=$T_REDIS_URL; PRIMARY_PID=$T_REDIS_PID
sed -e "s|^replicaof 10.0.0.10 6379|replicaof 127.0.0.1 $PRIMARY_PORT|" -e "s|^bind 127.0.0.1 ::1|bind 127.0.0.1|" \
    "$T_ROOT/examples/redis/replica.conf" > "$T_DIR/replica.conf"
grep -q "replicaof 127.0.0.1 $PRIMARY_PORT" "$T_DIR/replica.conf" || { t_fail "example template did not apply"; t_summary; exit 1; }
T_REDIS_EXTRA="--include $T_DIR/replica.conf" t_redis_start replica
REPLICA_PORT=$T_REDIS_PORT; REPLICA_URL=$T_REDIS_URL; REPLICA_PID=$T_REDIS_PID
T_REDIS_PORT=$PRIMARY_PORT; T_REDIS_URL=$PRIMARY_URL   # t_rcli and t_state: the primary
t_wait_for bash -c "redis-cli -p $REPLICA_PORT INFO replication | grep -q 'master_link_status:up'"
t_true "the replica follows the primary" bash -c "redis-cli -p $REPLICA_PORT INFO replication | grep -q 'master_link_status:up'"
t_match "the replica is read-only" 'READONLY' "$(redis-cli -p "$REPLICA_PORT" SET x 1 2>&1)"

# --- three stand-in nodes and the probe's inventory ---
w_three_cities 2000 || { t_fail "stand-in nodes did not start"; t_summary; exit 1; }
# round [ARGS]: one probe round written to the primary; waits until the replica has it.
round() {
    "$PROBE" --inventory "$T_DIR/inventory.json" --redis "$PRIMARY_URL" --once "$@" 2>>"$T_DIR/probe.log" || return 1
    local at
    at=$(redis-cli -p "$PRIMARY_PORT" HGET wsb:round at)
    t_wait_for bash -c "[ \"\$(redis-cli -p $REPLICA_PORT HGET wsb:round at)\" = '$at' ] && [ \"\$(redis-cli -p $REPLICA_PORT HGET wsb:nodes lon)\" = \"\$(redis-cli -p $PRIMARY_PORT HGET wsb:nodes lon)\" ]"
}

# --- the handler pool on this "web host": the replica first, then the primary ---
SOCK="$T_DIR/handler.sock"
HENV=("WSB_REDIS_URL=$REPLICA_URL,$PRIMARY_URL" "WSB_GEOIP_DB=$GEOIP_DIR/GeoLite2-City-Test.mmdb"
      "WSB_TRUSTED_PROXIES=127.0.0.1/32" "WSB_ALLOW_INSECURE_WS=1" "WSB_CACHE_MS=100" "WSB_STALE_MAX_MS=10000"
      "WSB_REDIS_RETRY_MS=100" "WSB_REDIS_CONNECT_TIMEOUT_MS=200")
w_pool_start "$T_DIR/pool.log" HENV "$BUILD/wsb-handler" --listen "$SOCK" --workers 2 --threads 2
w_wait_socket "$SOCK" || { t_fail "pool did not start"; cat "$T_DIR/pool.log" >&2; t_summary; exit 1; }
from() { w_fcgi "$SOCK" /v1/websocket/server HTTP_X_FORWARDED_FOR="$1"; }
where() { from "$1" | sed -n 's/.*"location":"\([^"]*\)".*/\1/p; s/.*"error_code":\([0-9]*\).*/error \1/p'; }
settle() { sleep 0.25; }   # longer than WSB_CACHE_MS

t_true "probe round 1 (written to the primary, seen on the replica)" round
settle
t_eq "London client, through the replica: London" London "$(where $LONDON)"
# The state is read (with WATCH) from the replica; only the assignment counts
# go to the primary, which sees no WATCH from the handlers (the probe's
# fenced writes WATCH there, once a round, and no probe runs meanwhile).
watches() { redis-cli -p "$1" INFO commandstats | tr -d '\r' | sed -n 's/^cmdstat_watch:calls=\([0-9]*\),.*/\1/p'; }
w_primary=$(watches "$PRIMARY_PORT")
for _ in $(seq 10); do where $LONDON >/dev/null; sleep 0.1; done
t_true "the handler reads the replica (its WATCHes are there)" test "$(watches "$REPLICA_PORT")" -gt 0
t_eq "  ... not the primary (no WATCH there while the handler serves)" "$w_primary" "$(watches "$PRIMARY_PORT")"
t_true "  ... and counts its answers on the primary (the replica answers READONLY)" \
    bash -c "[ \$(redis-cli -p $PRIMARY_PORT KEYS 'wsb:assigned:*' | wc -l) -ge 1 ]"
t_true "  ... moving past the replica at once, without a warning" \
    bash -c "! grep -q 'assignment accounting' '$T_DIR/pool.log'"
sleep 1.2   # WSB_METRICS_FLUSH_MS: the processes' counters follow the counts
t_true "  ... and so do its metrics: the hosts' counters are on the primary" \
    bash -c "[ \"\$(redis-cli -p $PRIMARY_PORT HGETALL wsb:metrics:handlers | grep -c '|answers|200|0|v1\$')\" -ge 1 ]"
t_true "  ... with the answers per node" bash -c "[ \"\$(redis-cli -p $PRIMARY_PORT HGET wsb:metrics:nodes 'answers|lon')\" -ge 10 ]"
t_true "  ... without a metrics warning" bash -c "! grep -q 'metrics:' '$T_DIR/pool.log'"

# London fails: the next round moves the London client, through the replica.
w_london close
t_true "probe round 2: London down" round
settle
t_eq "London node down: the London client moves to Frankfurt" Frankfurt "$(where $LONDON)"
t_match "the replica's record says why" '"online":false' "$(redis-cli -p "$REPLICA_PORT" HGET wsb:nodes lon)"
w_london ok
t_true "probe round 3: London back" round
settle
t_eq "London node back: London again" London "$(where $LONDON)"

# --- the primary is lost: the replica serves the last round until its TTL ---
t_true "probe round 4 with a 3 s state lifetime" round --ttl 3
kill "$PRIMARY_PID"
for _ in $(seq 100); do kill -0 "$PRIMARY_PID" 2>/dev/null || break; sleep 0.05; done
settle
t_eq "primary down: the replica still serves the last round" London "$(where $LONDON)"
sleep 3.2
t_eq "primary down past the round's TTL: 101 from the replica, not a stale node" "error 101" "$(where $LONDON)"
t_true "the handler never lost the replica" bash -c "! grep -q 'state unreadable' '$T_DIR/pool.log'"

# The primary returns (empty: nothing saved); the next round reaches the handler.
T_REDIS_PORT_WANT=$PRIMARY_PORT T_REDIS_EXTRA="--repl-diskless-sync-delay 0" t_redis_start primary2
PRIMARY_PID=$T_REDIS_PID
t_wait_for bash -c "redis-cli -p $REPLICA_PORT INFO replication | grep -q 'master_link_status:up'"
t_true "probe round 5 after the primary's return" round
settle
t_eq "primary back: answers from the new round" London "$(where $LONDON)"

# --- the replica is lost: the handler answers from the primary ---
# Every worker first reads the latest round (a worker that sat idle through
# the phases above would serve its own last snapshot until it reconnects,
# WSB_REDIS_RETRY_MS later).
for i in $(seq 20); do where $LONDON >/dev/null; done
sleep 0.15
for i in $(seq 20); do where $LONDON >/dev/null; done
kill "$REPLICA_PID"
for _ in $(seq 100); do kill -0 "$REPLICA_PID" 2>/dev/null || break; sleep 0.05; done
bad=0
for i in $(seq 20); do
    w=$(where $LONDON)
    [ "$w" = London ] || { bad=$((bad + 1)); echo "answer $i after the replica's loss: [$w]" >&2; }
    sleep 0.05
done
t_eq "replica killed: every answer still right (last good state, then the primary)" 0 "$bad"
w_london close
"$PROBE" --inventory "$T_DIR/inventory.json" --redis "$PRIMARY_URL" --once 2>>"$T_DIR/probe.log"
t_eq "probe round 6 (primary only): exit 0" 0 "$?"
ok=""
for i in $(seq 20); do [ "$(where $LONDON)" = Frankfurt ] && { ok=1; break; }; sleep 0.1; done
t_eq "without the replica, the handler follows the primary's rounds" 1 "$ok"
t_true "the handler logged the replica's loss and reading from the primary" \
    grep -q "redis 127.0.0.1:$REPLICA_PORT/0: connection lost .*now reading from redis 127.0.0.1:$PRIMARY_PORT/0" "$T_DIR/pool.log"
t_true "no pool worker died or restarted" bash -c "! grep -q 'pool: worker' '$T_DIR/pool.log'"
t_no_sanitizer_reports "no sanitizer reports" "$T_DIR/pool.log" "$T_DIR/probe.log"
t_summary
