#!/usr/bin/env bash
# run.sh TARGET...: runs each libFuzzer target (built by `make fuzz`) for
# FUZZ_SECONDS from its seeds, and says what it found.  New corpus entries
# go to $FUZZ_BUILD/corpus/<target>/, crashes to $FUZZ_BUILD/crashes/<target>/;
# neither is committed.  Exit 1 when any target crashed.
set -u
cd "$(dirname "$0")/../.."
FUZZ_BUILD=${FUZZ_BUILD:-build/fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
declare -A MAX_LEN=([route]=4096 [xff]=8192 [record]=8448 [inventory]=16384 [report]=4096
                    [handshake]=4096 [redis_url]=2048 [select]=1024 [fcgi]=16384)
failed=0
printf '%-10s %12s %8s %6s %s\n' target execs exec/s cov result
for t in "$@"; do
    bin="$FUZZ_BUILD/fuzz_$t"
    [ -x "$bin" ] || { echo "$t: $bin not built" >&2; failed=1; continue; }
    work="$FUZZ_BUILD/corpus/$t"
    crashes="$FUZZ_BUILD/crashes/$t"
    mkdir -p "$work" "$crashes"
    dirs=("$work" "tests/fuzz/corpus/$t")
    [ -d "tests/fuzz/regress/$t" ] && dirs+=("tests/fuzz/regress/$t")
    log="$FUZZ_BUILD/$t.log"
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "$bin" -max_total_time="$FUZZ_SECONDS" -max_len="${MAX_LEN[$t]:-4096}" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$crashes/" "${dirs[@]}" > "$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    if [ "$rc" -eq 0 ]; then
        result=ok
    else
        result="CRASH (exit $rc): see $log; inputs in $crashes/"
        failed=1
    fi
    printf '%-10s %12s %8s %6s %s\n' "$t" "${execs:-?}" "${speed:-?}" "${cov:-?}" "$result"
done
if [ "$failed" -ne 0 ]; then
    echo "fuzz: a target crashed.  Fix it, then keep the input:" >&2
    echo "  cp $FUZZ_BUILD/crashes/<target>/crash-* tests/fuzz/regress/<target>/" >&2
fi
exit "$failed"
