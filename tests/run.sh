#!/usr/bin/env bash
# run.sh [unit|integration|all]: runs the unit test binaries and the
# integration scripts, adds up their counts, and ends with one line
# "N passed, N failed" (exit 1 when anything failed or a suite crashed).
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
what=${1:-all}
export BUILD
export T_RESULTS
T_RESULTS=$(mktemp /tmp/wsb-results.XXXXXX)
trap 'rm -f "$T_RESULTS"' EXIT
crashed=0
run_suite() {   # name, command...
    local name=$1; shift
    local before after
    before=$(wc -l < "$T_RESULTS")
    local start=$SECONDS
    "$@"
    local rc=$?
    after=$(wc -l < "$T_RESULTS")
    if [ "$after" -eq "$before" ] || { [ "$rc" -ne 0 ] && ! tail -n +"$((before + 1))" "$T_RESULTS" | awk '$3 > 0 {f=1} END {exit !f}'; }; then
        echo "SUITE $name exited $rc without reporting its failures: counted as one failure" >&2
        echo "$name 0 1" >> "$T_RESULTS"
        crashed=1
    fi
    echo "  ($name: $((SECONDS - start)) s)"
}

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
if [ "$what" = integration ] || [ "$what" = all ]; then
    for t in tests/integration/*.sh; do
        [ -f "$t" ] || continue
        if [ -n "${WSB_ONLY:-}" ] && [[ "$t" != *"$WSB_ONLY"* ]]; then continue; fi
        run_suite "$(basename "$t" .sh)" bash "$t"
    done
fi
awk '{p += $2; f += $3} END {printf "%d passed, %d failed\n", p, f; exit (f > 0)}' "$T_RESULTS"
rc=$?
[ "$crashed" -eq 0 ] || rc=1
exit $rc
