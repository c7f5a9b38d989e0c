#!/usr/bin/env bash
# probe_fence.sh: a round is written only while its probe holds the lock
# and the state is still the one the round began from (README "Several
# probe hosts").  Probe A starts a round (one node answers slowly, so the
# round lasts), is stopped with SIGSTOP, and stays stopped past its lock's
# lifetime (the test ends the lifetime with PEXPIRE instead of waiting it
# out); probe B takes the lock and writes a newer round; A resumes: it
# takes the free lock again but finds the newer round and skips its
# write, and says so.  The newer round stays.  And the flap damping of a
# node that fails every other check (README "Health and hysteresis").
# wsb-test: serial  (a stopped probe's lock lifetime against a slow node's check: timed)
. "$(dirname "$0")/probe_lib.sh"

t_redis_start
p_ports 3
SLOW=$P_BASE; FLAP=$((P_BASE + 1)); OK=$((P_BASE + 2))
standin() {   # FLAP's mode
    printf '{"nodes": {"%d": {"mode": "slow", "delay_ms": 2500}, "%d": {"mode": "%s"}, "%d": {"mode": "ok"}}}' \
        "$SLOW" "$FLAP" "$1" "$OK" > "$T_DIR/standin.tmp"
    mv "$T_DIR/standin.tmp" "$T_DIR/standin.json"
}
standin ok
p_standin "$T_DIR/standin.json" || { t_fail "stand-in"; t_summary; exit 1; }
cat > "$T_DIR/inv.json" <<JSON
{"allow_insecure_ws": true, "defaults": {"versions": ["v1"], "location": "L", "check": {"timeout_ms": 5000}},
 "nodes": [{"id": "slow", "endpoint": "ws://127.0.0.1:$SLOW/ws"}, {"id": "ok", "endpoint": "ws://127.0.0.1:$OK/ws"}]}
JSON

# B's rounds below need no slow node: each would wait 2.5 s for it.
cat > "$T_DIR/fast.json" <<JSON
{"allow_insecure_ws": true, "defaults": {"versions": ["v1"], "location": "L", "check": {"timeout_ms": 5000}},
 "nodes": [{"id": "ok", "endpoint": "ws://127.0.0.1:$OK/ws"}]}
JSON

lock_held() { [ -n "$(t_rcli GET wsb:lock)" ]; }
read_state() { t_rcli CLIENT LIST | grep -qE 'cmd=(hmget|hgetall|hscan)'; }   # the last commands of a state read (HGETALL or HSCAN of the nodes after HLEN)

# ---- fenced rounds
p_probe --inventory "$T_DIR/inv.json" --once
t_eq "a first round" 0 "$P_RC"
first=$(t_rcli HGET wsb:round id)
"$PROBE" --redis "$T_REDIS_URL" --inventory "$T_DIR/inv.json" --once 2>"$T_DIR/a.err" &
A=$!
t_wait_for lock_held
t_match "A holds the lock" ":$A:" "$(t_rcli GET wsb:lock)"
t_wait_for read_state   # A has read the state its round begins from
kill -STOP "$A"
t_eq "A's lock runs out while A is stopped" 1 "$(t_rcli PEXPIRE wsb:lock 1)"
sleep 0.1
"$PROBE" --redis "$T_REDIS_URL" --inventory "$T_DIR/inv.json" --once 2>"$T_DIR/b.err" &
B=$!
wait "$B"
t_eq "B writes a round" 0 $?
newer=$(t_rcli HGET wsb:round id)
t_true "B's round is newer" test "$newer" -gt "$first"
t_match "the round is B's" ":$B\$" "$(t_rcli HGET wsb:round probe)"
kill -CONT "$A"
wait "$A"
rc=$?
a_err=$(cat "$T_DIR/a.err")
t_eq "A: exit 1 (round not written)" 1 "$rc"
t_match "A says why" "round $newer was written since this round began \(from round $first\): this round is older; not written" "$a_err"
t_eq "the newer round stays" "$newer" "$(t_rcli HGET wsb:round id)"
t_match "B's round stays" ":$B\$" "$(t_rcli HGET wsb:round probe)"
t_eq "A released the lock it took again" 0 "$(t_rcli EXISTS wsb:lock)"

# Stopped for real past its lock's lifetime (no PEXPIRE): a round whose
# checks are older than the lock is not written, whatever the state says.
cat > "$T_DIR/quick.json" <<JSON
{"allow_insecure_ws": true, "defaults": {"versions": ["v1"], "location": "L", "check": {"timeout_ms": 900}},
 "nodes": [{"id": "slow", "endpoint": "ws://127.0.0.1:$SLOW/ws"}, {"id": "ok", "endpoint": "ws://127.0.0.1:$OK/ws"}]}
JSON
"$PROBE" --redis "$T_REDIS_URL" --inventory "$T_DIR/quick.json" --once 2>"$T_DIR/a.err" &
A=$!
t_wait_for lock_held
t_wait_for read_state
kill -STOP "$A"
ttl_ms=$(t_rcli PTTL wsb:lock)
t_true "A's lock lives about a round's budget (${ttl_ms} ms)" test "$ttl_ms" -gt 2000 -a "$ttl_ms" -le 3901
for _ in $(seq 60); do [ "$(t_rcli EXISTS wsb:lock)" = 0 ] && break; sleep 0.1; done
t_eq "A's lock expired while A was stopped" 0 "$(t_rcli EXISTS wsb:lock)"
p_probe --inventory "$T_DIR/fast.json" --once
t_eq "B writes meanwhile" 0 "$P_RC"
newer=$(t_rcli HGET wsb:round id)
kill -CONT "$A"
wait "$A"
t_eq "A, resumed past its lock: exit 1" 1 $?
t_match "A says its checks are too old" "this round took [0-9]+ ms, longer than the probe lock's lifetime \([0-9]+ ms\): its checks are too old to write; not written" "$(cat "$T_DIR/a.err")"
t_eq "A, resumed past its lock: B's round stays" "$newer" "$(t_rcli HGET wsb:round id)"

# A probe whose lock another holds when it would write: not written either.
"$PROBE" --redis "$T_REDIS_URL" --inventory "$T_DIR/inv.json" --once 2>"$T_DIR/a.err" &
A=$!
t_wait_for lock_held
kill -STOP "$A"
t_rcli SET wsb:lock other-host:1:feed PX 20000 >/dev/null
kill -CONT "$A"
wait "$A"
t_eq "lock taken by another: exit 1" 1 $?
t_match "lock taken by another: said" "lost the probe lock wsb:lock" "$(cat "$T_DIR/a.err")"
t_eq "lock taken by another: the round stays" "$newer" "$(t_rcli HGET wsb:round id)"
t_eq "lock taken by another: its lock stays" other-host:1:feed "$(t_rcli GET wsb:lock)"
t_rcli DEL wsb:lock >/dev/null

# ---- --min-gap: a second probe host on an unaligned timer does nothing
# while the last round (any probe's) is younger than the gap
p_probe --inventory "$T_DIR/fast.json" --once
before=$(t_rcli HGET wsb:round id)
p_probe --inventory "$T_DIR/fast.json" --once --min-gap 30
t_eq "min-gap: a fresh round: exit 0" 0 "$P_RC"
t_match "min-gap: said" "info: the last round \(by [^)]+:[0-9]+\) is [0-9]+ s old, under --min-gap 30 s: not running" "$P_ERR"
t_eq "min-gap: nothing written" "$before" "$(t_rcli HGET wsb:round id)"
t_eq "min-gap: the lock is released" 0 "$(t_rcli EXISTS wsb:lock)"
sleep 1.1
p_probe --inventory "$T_DIR/fast.json" --once --min-gap 1
t_true "min-gap: an older round: written" test "$(t_rcli HGET wsb:round id)" -gt "$before"

# ---- flap damping: a node that fails every other check
t_rcli FLUSHALL >/dev/null
cat > "$T_DIR/flap.json" <<JSON
{"allow_insecure_ws": true, "defaults": {"versions": ["v1"], "location": "L", "check": {"rise": 2, "fall": 3, "timeout_ms": 1000}},
 "nodes": [{"id": "flap", "endpoint": "ws://127.0.0.1:$FLAP/ws"}, {"id": "ok", "endpoint": "ws://127.0.0.1:$OK/ws"}]}
JSON
went_off=0; max_streak=0
for i in $(seq 1 10); do
    if [ $((i % 2)) -eq 0 ]; then standin close; else standin ok; fi
    p_probe --inventory "$T_DIR/flap.json" --once
    streak=$(p_field flap fail_streak)
    [ "${streak:-0}" -gt "$max_streak" ] && max_streak=$streak
    if [ "$went_off" = 0 ] && [ "$(p_field flap online)" = false ]; then
        went_off=$i
        flap_log=$P_ERR
    fi
done
t_eq "flapping: never 3 failures in a row" 1 "$max_streak"
t_eq "flapping: offline at its 4th failure (the 8th check)" 8 "$went_off"
t_match "flapping: the log says why" "node flap: online -> offline \(flapping: 4 of its last 10 checks failed; this one: closed" "${flap_log:-}"
t_match "flapping: the window is in the record" '^[-+]{10}$' "$(p_field flap recent)"
standin ok
p_probe --inventory "$T_DIR/flap.json" --once
t_eq "flapping: stays off after one success (rise 2)" false "$(p_field flap online)"
p_probe --inventory "$T_DIR/flap.json" --once
t_eq "flapping: back after rise (2) successes in a row" true "$(p_field flap online)"
t_eq "flapping: the steady node never left" true "$(p_field ok online)"
t_summary
