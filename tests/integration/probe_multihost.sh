#!/usr/bin/env bash
# probe_multihost.sh: the probe from two hosts (README "Several hosts"),
# as examples/cron/wsb-probe documents it: both run `wsb-probe --once` at
# the same schedule; the lock in Redis (wsb:lock) lets one write per run,
# the other logs "another probe holds the lock" and exits 0.  The hosts
# are two cron-like loops, each in its own UTS namespace with its own host
# name (probe-a, probe-b), so their lock tokens (host:pid:random) and the
# rounds' `probe` field tell them apart.  Shown:
#   1. both alive: exactly one write per run slot, the other run skipped;
#   2. host A stopped (its cron gone): B keeps the state fresh;
#   3. host A killed with SIGKILL in the middle of a round while holding
#      the lock (a slow stand-in node makes the round last): B takes over
#      once the lock expires.
# The round's age (now - wsb:round id, sampled every 100 ms) is printed
# for each phase; the bounds asserted are generous (a missed slot more).
# wsb-test: serial  (cron slots of 2 s: every host runs every slot)
. "$(dirname "$0")/../lib.sh"
PROBE="$BUILD/wsb-probe"
INTERVAL=2          # seconds between runs: cron's minute, shortened
JITTER_MS=300       # each host's start within a slot: cron's and the clocks' skew
SLOW_MS=700         # the slow node: every round lasts at least this
TIMEOUT_MS=1500
# The lock's lifetime with --once (probe/run.c plan_rounds): the largest
# timeout x batches (1 here) + 10 s.
LOCK_MS=$((TIMEOUT_MS + 3000))   # probe/run.c plan_rounds: + 3 s (+ n/10 ms)
now_ms() { date +%s%3N; }

if ! unshare -u true 2>/dev/null; then
    echo "SKIP $T_NAME: cannot make a UTS namespace here (unshare -u needs root or user namespaces):" \
        "two probe hosts with their own names cannot be simulated"
    t_summary
    exit 0
fi

t_redis_start || exit 1
OK1=$(t_free_port); OK2=$(t_free_port); SLOW=$(t_free_port)
printf '{"nodes": {"%s": {"mode": "ok"}, "%s": {"mode": "ok"}, "%s": {"mode": "slow", "delay_ms": %d}}}' \
    "$OK1" "$OK2" "$SLOW" "$SLOW_MS" > "$T_DIR/standin.json"
t_standin_start "$T_DIR/standin.json" || { t_fail "stand-in nodes did not start"; t_summary; exit 1; }
cat > "$T_DIR/inventory.json" <<EOF
{ "allow_insecure_ws": true,
  "defaults": { "versions": ["v1"], "location": "L",
                "check": { "type": "websocket", "timeout_ms": $TIMEOUT_MS, "rise": 1, "fall": 1 } },
  "nodes": [ { "id": "ok-1", "endpoint": "ws://127.0.0.1:$OK1/ws" },
             { "id": "ok-2", "endpoint": "ws://127.0.0.1:$OK2/ws" },
             { "id": "slow", "endpoint": "ws://127.0.0.1:$SLOW/ws" } ] }
EOF

# The cron of one host: `wsb-probe --once` at every multiple of INTERVAL
# seconds of the wall clock (both hosts share the schedule), a random
# 0..JITTER_MS late; one line per run in runs.log: slot host status wrote
# skipped.  A file stop-HOST ends the loop before its next run (the cron
# line removed); a file late-HOST holds the ms this host's clock is late;
# the loop's own pid is in loop-HOST.pid.
cat > "$T_DIR/cron.sh" <<'EOF'
host=$1
hostname "$host" || exit 1
echo $$ > "$T_DIR/loop-$host.pid"
step=$((INTERVAL * 1000))
while :; do
    now=$(date +%s%3N)
    slot=$((now / step + 1))
    late=0; [ -e "$T_DIR/late-$host" ] && late=$(cat "$T_DIR/late-$host")
    wait_ms=$((slot * step + late + RANDOM % JITTER_MS - now))
    sleep "$((wait_ms / 1000)).$(printf '%03d' $((wait_ms % 1000)))"
    [ -e "$T_DIR/stop-$host" ] && exit 0
    env -i PATH="$PATH" WSB_REDIS_URL="$T_REDIS_URL" \
        "$PROBE" --inventory "$T_DIR/inventory.json" --once 2>"$T_DIR/run-$host.err"
    rc=$?
    wrote=0; grep -q 'info: round: ' "$T_DIR/run-$host.err" && wrote=1
    skipped=0; grep -q 'another probe holds the lock' "$T_DIR/run-$host.err" && skipped=1
    echo "$slot $host $rc $wrote $skipped" >> "$T_DIR/runs.log"
    sed "s/^/$host: /" "$T_DIR/run-$host.err" >> "$T_DIR/probe.log"
done
EOF
export T_DIR PROBE INTERVAL JITTER_MS T_REDIS_URL
start_host() {
    rm -f "$T_DIR/stop-$1" "$T_DIR/loop-$1.pid"
    unshare -u bash "$T_DIR/cron.sh" "$1" &
    T_PIDS+=($!)
    t_wait_for test -s "$T_DIR/loop-$1.pid"
}
# sample SECONDS FILE: "now_ms id probe" every 100 ms.
sample() {
    local end=$(( $(now_ms) + $1 * 1000 ))
    while [ "$(now_ms)" -lt "$end" ]; do
        echo "$(now_ms) $(t_rcli HMGET wsb:round id probe | tr '\n' ' ')" >> "$2"
        sleep 0.1
    done
}
# max_age FILE: the largest (now - round id) in ms over the samples.
max_age() { awk '$2 ~ /^[0-9]+$/ { a = $1 - $2; if (a > m) m = a } END { print m + 0 }' "$1"; }
# Runs of slots FROM..TO: writes per slot, as "slot:writes" words, and checks.
writes_per_slot() { awk -v f="$1" -v t="$2" '$1 >= f && $1 <= t { w[$1] += $4 } END { for (s in w) print s ":" w[s] }' "$T_DIR/runs.log" | sort; }

start_host probe-a || { t_fail "host probe-a did not start"; t_summary; exit 1; }
start_host probe-b || { t_fail "host probe-b did not start"; t_summary; exit 1; }

# --- 1. both hosts alive ---
first_slot=$(( $(now_ms) / (INTERVAL * 1000) + 1 ))
sample 8 "$T_DIR/both.samples"
last_slot=$(( $(now_ms) / (INTERVAL * 1000) - 1 ))
sleep 0.3
per=$(writes_per_slot "$first_slot" "$last_slot" | tr '\n' ' ')
echo "both alive: writes per slot $per"
t_true "both alive: some slots ran (slots $first_slot..$last_slot)" test -n "$per"
t_true "both alive: exactly one write per slot" bash -c "! grep -qv ':1\$' <<< '$(writes_per_slot "$first_slot" "$last_slot")'"
runs=$(awk -v f="$first_slot" -v t="$last_slot" '$1 >= f && $1 <= t' "$T_DIR/runs.log" | wc -l)
writes=$(awk -v f="$first_slot" -v t="$last_slot" '$1 >= f && $1 <= t && $4 == 1' "$T_DIR/runs.log" | wc -l)
skips=$(awk -v f="$first_slot" -v t="$last_slot" '$1 >= f && $1 <= t && $5 == 1 && $3 == 0' "$T_DIR/runs.log" | wc -l)
t_eq "both alive: every run that did not write found the lock held and exited 0 ($runs runs, $writes writes)" \
    "$((runs - writes))" "$skips"
t_eq "both alive: both hosts ran every slot" "$((2 * (last_slot - first_slot + 1)))" "$runs"
t_match "  ... the skipped run said so, naming the holder" 'another probe holds the lock wsb:lock \(probe-[ab]:[0-9]+:[0-9a-f]{16}\); not running' \
    "$(cat "$T_DIR/probe.log")"
by_a=$(awk -v f="$first_slot" -v t="$last_slot" '$1 >= f && $1 <= t && $2 == "probe-a" && $4 == 1' "$T_DIR/runs.log" | wc -l)
by_b=$(awk -v f="$first_slot" -v t="$last_slot" '$1 >= f && $1 <= t && $2 == "probe-b" && $4 == 1' "$T_DIR/runs.log" | wc -l)
names=$(awk '{ print $3 }' "$T_DIR/both.samples" | sed 's/:.*//' | sort -u | tr '\n' ' ')
echo "both alive: rounds written by probe-a $by_a, by probe-b $by_b; probe field seen: $names; round age max $(max_age "$T_DIR/both.samples") ms"
t_match "the round's probe field names a host of the two" 'probe-[ab]' "$names"
t_eq "no run failed" "" "$(awk '$3 != 0' "$T_DIR/runs.log")"

# --- 2. host A stopped cleanly (its cron line removed) ---
touch "$T_DIR/stop-probe-a"
sleep "$INTERVAL"   # A's last run, if any, ends
first_slot=$(( $(now_ms) / (INTERVAL * 1000) + 1 ))
sample 5 "$T_DIR/clean.samples"
last_slot=$(( $(now_ms) / (INTERVAL * 1000) - 1 ))
age=$(max_age "$T_DIR/clean.samples")
bound=$((2 * INTERVAL * 1000 + TIMEOUT_MS))
echo "host A stopped: round age max $age ms (one interval plus a round: $((INTERVAL * 1000)) + ~$SLOW_MS ms; bound $bound ms)"
t_eq "host A stopped: no run of A" "" "$(awk -v f="$first_slot" '$1 >= f && $2 == "probe-a"' "$T_DIR/runs.log")"
t_true "host A stopped: B writes every slot ($(writes_per_slot "$first_slot" "$last_slot" | tr '\n' ' '))" \
    bash -c "[ \$(awk -v f=$first_slot -v t=$last_slot '\$1 >= f && \$1 <= t && \$2 == \"probe-b\" && \$4 == 1' '$T_DIR/runs.log' | wc -l) -eq $((last_slot - first_slot + 1)) ]"
t_true "host A stopped: the round never older than $bound ms (was $age)" test "$age" -le "$bound"

# --- 3. host A back, then killed with SIGKILL mid-round while holding the lock ---
# B's clock runs 400 ms late from now on: A takes each slot's lock first.
echo 400 > "$T_DIR/late-probe-b"
start_host probe-a || t_fail "host probe-a did not restart"
token=""
deadline=$(( $(now_ms) + 8 * INTERVAL * 1000 ))
while [ "$(now_ms)" -lt "$deadline" ]; do
    held=$(t_rcli GET wsb:lock)
    if [[ "$held" =~ ^probe-a:([0-9]+): ]]; then
        pid=${BASH_REMATCH[1]}
        lock_ttl=$(t_rcli PTTL wsb:lock)
        kill "$(cat "$T_DIR/loop-probe-a.pid")" 2>/dev/null    # the host is gone: no more cron runs
        kill -KILL "$pid" 2>/dev/null
        killed_at=$(now_ms)
        sleep 0.1   # a run that ended just before the kill released its lock
        if [ "$(t_rcli GET wsb:lock)" = "$held" ]; then token=$held; break; fi
        start_host probe-a   # it finished first: try again at a later slot
    fi
    sleep 0.05
done
t_true "host A killed while holding the lock ($token)" test -n "$token"
if [ -n "$token" ]; then
    : > "$T_DIR/kill.samples"
    # Sample until B has written after the lock's expiry (bounded).
    end=$(( killed_at + LOCK_MS + 3 * INTERVAL * 1000 + 2000 ))
    while [ "$(now_ms)" -lt "$end" ]; do
        line="$(now_ms) $(t_rcli HMGET wsb:round id probe | tr '\n' ' ')"
        echo "$line" >> "$T_DIR/kill.samples"
        set -- $line
        [ "${2:-0}" -gt "$killed_at" ] 2>/dev/null && [[ "${3:-}" == probe-b:* ]] && break
        sleep 0.1
    done
    age=$(max_age "$T_DIR/kill.samples")
    taken=$(awk -v k="$killed_at" '$2 ~ /^[0-9]+$/ && $2 > k { print $2 - k; exit }' "$T_DIR/kill.samples")
    bound=$((3 * INTERVAL * 1000 + LOCK_MS + TIMEOUT_MS))
    skipped=$(grep -c "probe-b: .*another probe holds the lock wsb:lock (probe-a:$pid:" "$T_DIR/probe.log")
    echo "host A killed mid-round: its lock had ${lock_ttl} ms to live; B skipped $skipped run(s) on A's lock;" \
        "B wrote ${taken:-never} ms after the kill; round age max $age ms" \
        "(interval + lock lifetime: $((INTERVAL * 1000)) + $LOCK_MS ms, + the wait for B's next slot and its round; bound $bound ms)"
    t_true "host A killed: B's runs found A's dead lock and exited 0" test "$skipped" -ge 1
    t_true "host A killed: B wrote once the lock expired" test -n "$taken"
    t_true "host A killed: the round never older than $bound ms (was $age)" test "$age" -le "$bound"
    t_true "host A killed: B did not write before the lock expired" test "${taken:-0}" -ge "$((lock_ttl - 500))"
fi
t_eq "no run failed" "" "$(awk '$3 != 0' "$T_DIR/runs.log")"
touch "$T_DIR/stop-probe-b"
t_no_sanitizer_reports "no sanitizer reports" "$T_DIR/probe.log"
t_summary
