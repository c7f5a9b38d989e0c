#!/usr/bin/env bash
# run.sh [unit|integration|all]: runs the unit test binaries and the
# integration scripts, adds up their counts, and ends with one line
# "N passed, N failed" (exit 1 when anything failed or a suite crashed).
#
# Integration scripts run WSB_JOBS at a time (default: one more than the
# cores, at most 6; the cores alone under ASan or valgrind; WSB_JOBS=1 runs
# them one after the other with their output as it comes).  With more than
# one job, each script's output is kept in a file and printed whole when it
# ends.  A script with the line "# wsb-test: serial" (fixed ports, timing
# bounds, load of its own) runs alone, after the others.  The longest
# scripts start first: their times from the last run (in $BUILD), else the
# list below.  WSB_ONLY=PART runs the scripts whose name contains PART.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
what=${1:-all}
export BUILD
export T_RESULTS
T_RESULTS=$(mktemp /tmp/wsb-results.XXXXXX)
OUT=$(mktemp -d /tmp/wsb-run.XXXXXX)
trap 'rm -rf "$T_RESULTS" "$OUT"' EXIT
# Interrupted: the scripts running in the background stop too (each one's
# EXIT trap stops its servers).
stop_running() {
    local f
    for f in "$OUT"/*.pid; do [ -e "$f" ] && kill -TERM "$(cat "$f")" 2>/dev/null; done
    wait
    exit 130
}
trap stop_running INT TERM
crashed=0

# Seconds each script took on a 2-core machine, longest first: the order
# when $BUILD has no times of its own yet.  A script not listed counts 10 s.
KNOWN_TIMES="security_bounds 39 soak_valgrind 38 security_acl 30 redis_sentinel 29 probe_multihost 27
handler_watch 25 probe_fence 23 fault_redis 23 probe_scale 22 multihost_tls 21 sim_short 20 soak 19
probe_cli 19 fault_probe 19 assign_fleet 19 multihost 18 security_password 15 probe_carry 15
handler_lighttpd 15 fault_geoip 15 probe_faults 13"
TIMES_FILE="$BUILD/tests/integration.times"

# check_suite NAME RC RESULTS START: adds a suite's results (its own file) to
# T_RESULTS; a suite that reported nothing, or exited non-zero without
# reporting a failure, counts as one failure.
check_suite() {
    local name=$1 rc=$2 results=$3 start=$4
    if [ ! -s "$results" ] || { [ "$rc" -ne 0 ] && ! awk '$3 > 0 {f=1} END {exit !f}' "$results"; }; then
        echo "SUITE $name exited $rc without reporting its failures: counted as one failure" >&2
        echo "$name 0 1" >> "$results"
        crashed=1
    fi
    cat "$results" >> "$T_RESULTS"
    echo "  ($name: $((SECONDS - start)) s)"
}

# run_suite NAME COMMAND...: runs one suite in the foreground, output as it comes.
run_suite() {
    local name=$1; shift
    local start=$SECONDS results="$OUT/$name.results"
    : > "$results"
    T_RESULTS="$results" "$@"
    check_suite "$name" $? "$results" "$start"
    [ "$phase" = unit ] || echo "$name $((SECONDS - start))" >> "$OUT/times"
}

phase=unit
if [ "$what" = unit ] || [ "$what" = all ]; then
    for t in "$BUILD"/tests/test_*; do
        [ -x "$t" ] || continue
        if [ -n "${WSB_VALGRIND:-}" ]; then
            run_suite "$(basename "$t")" valgrind -q --error-exitcode=99 --leak-check=full \
                --show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect,possible "$t"
        else
            run_suite "$(basename "$t")" "$t"
        fi
    done
fi

# default_jobs: how many integration scripts at a time.  Most of a script's
# time is waiting (for servers, timers, Redis), so one more than the cores;
# under ASan or valgrind the processes themselves are the load.
default_jobs() {
    local cores
    cores=$(nproc 2>/dev/null || echo 2)
    if [ -n "${WSB_VALGRIND:-}" ] || ldd "$BUILD/wsb-handler" 2>/dev/null | grep -q libasan; then
        echo "$cores"
    else
        echo $(( cores + 1 > 6 ? 6 : cores + 1 ))
    fi
}

# by_time NAME...: the names, longest known time first.
by_time() {
    local n
    {
        [ -f "$TIMES_FILE" ] && cat "$TIMES_FILE"
        printf '%s\n' "$KNOWN_TIMES" | xargs -n2
        for n in "$@"; do echo "$n 10"; done
    } | awk -v want="$*" 'BEGIN { n = split(want, w, " "); for (i = 1; i <= n; i++) ok[w[i]] = 1 }
        ok[$1] && !seen[$1]++ { print $2, $1 }' | sort -k1,1nr -k2 | awk '{ print $2 }'
}

# A background suite: output, exit status and results in $OUT/NAME.*.
start_suite() {   # name script
    local name=$1 script=$2
    : > "$OUT/$name.results"
    ( T_RESULTS="$OUT/$name.results" bash "$script" > "$OUT/$name.log" 2>&1 &
      echo $! > "$OUT/$name.pid"
      wait $!
      echo $? > "$OUT/$name.rc.tmp"; mv "$OUT/$name.rc.tmp" "$OUT/$name.rc" ) &
    RUNNING[$name]=$SECONDS
}
# finish_done: prints and counts each background suite that has ended.
finish_done() {
    local name start
    for name in "${!RUNNING[@]}"; do
        [ -e "$OUT/$name.rc" ] || continue
        start=${RUNNING[$name]}
        unset "RUNNING[$name]"
        rm -f "$OUT/$name.pid"
        cat "$OUT/$name.log"
        check_suite "$name" "$(cat "$OUT/$name.rc")" "$OUT/$name.results" "$start"
        echo "$name $((SECONDS - start))" >> "$OUT/times"
    done
}

phase=integration
if [ "$what" = integration ] || [ "$what" = all ]; then
    jobs_max=${WSB_JOBS:-$(default_jobs)}
    [[ "$jobs_max" =~ ^[1-9][0-9]*$ ]] || { echo "WSB_JOBS must be a number from 1 up, not '$jobs_max'" >&2; exit 2; }
    every=() shared=() alone=()
    for t in tests/integration/*.sh; do
        [ -f "$t" ] || continue
        if [ -n "${WSB_ONLY:-}" ] && [[ "$t" != *"$WSB_ONLY"* ]]; then continue; fi
        every+=("$(basename "$t" .sh)")
        if grep -q '^# wsb-test: serial' "$t"; then alone+=("$(basename "$t" .sh)"); else shared+=("$(basename "$t" .sh)"); fi
    done
    wall=$SECONDS
    if [ "$jobs_max" -eq 1 ]; then
        for name in "${every[@]}"; do
            run_suite "$name" bash "tests/integration/$name.sh"
        done
    else
        echo "integration: ${#shared[@]} scripts $jobs_max at a time, then ${#alone[@]} alone (WSB_JOBS=$jobs_max)"
        declare -A RUNNING=()
        for name in $(by_time "${shared[@]}"); do
            while [ "${#RUNNING[@]}" -ge "$jobs_max" ]; do
                wait -n 2>/dev/null || true
                finish_done
            done
            start_suite "$name" "tests/integration/$name.sh"
        done
        while [ "${#RUNNING[@]}" -gt 0 ]; do
            wait -n 2>/dev/null || true
            finish_done
        done
        for name in $(by_time "${alone[@]}"); do
            echo "  ($name runs alone)"
            run_suite "$name" bash "tests/integration/$name.sh"
        done
    fi
    echo "integration: $((SECONDS - wall)) s in all"
    # Each script's time, for the order of the next run (a partial run
    # keeps the times of the scripts it did not run).
    if [ -d "$BUILD/tests" ]; then
        { cat "$OUT/times"; [ -f "$TIMES_FILE" ] && cat "$TIMES_FILE"; } 2>/dev/null |
            awk '!seen[$1]++' > "$TIMES_FILE.tmp" && mv "$TIMES_FILE.tmp" "$TIMES_FILE"
    fi
fi
awk '{p += $2; f += $3} END {printf "%d passed, %d failed\n", p, f; exit (f > 0)}' "$T_RESULTS"
rc=$?
[ "$crashed" -eq 0 ] || rc=1
exit $rc
