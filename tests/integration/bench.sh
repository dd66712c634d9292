#!/bin/bash
# Runs the benchmark scenarios in Bochs and prints every figure, as a table
# and as one machine-readable line "BENCH <name> <value>" each. In Bochs a
# TSC tick is one emulated instruction, so the figures are exact and
# repeatable (shared/platform.md).
# usage: bench.sh BUILD_DIR [NAME_FILTER_REGEX]
set -uo pipefail
build=$1 filter=${2:-.}
here=$(dirname "$0")
out=$build/bench
mkdir -p "$out"
# The runs keep their PASS/FAIL lines out of the test results.
BOCHS_RESULTS=$out/results.txt "$here/bochs-scenarios.sh" "$build" "$here/bench.scenarios" "$filter" \
    > "$out/runs.log" 2>&1
status=$?
grep -E '^(PASS|FAIL)' "$out/runs.log"

figures=$out/figures.txt
: > "$figures"
log() { tr -d '\r' < "$build/test/bochs/$1/serial.log" 2>/dev/null; }

# Figures the guests print directly.
for dir in "$build"/test/bochs/bench-*; do
    [ -d "$dir" ] || continue
    log "$(basename "$dir")" | sed -n 's/^\[L1\] BENCH \([^ ]*\) \([^ ]*\)$/\1 \2/p' >> "$figures"
done
# Figures derived from the L0 exit counters a guest reported (BENCHDATA).
log bench-l1 | awk '/BENCHDATA/ {
    for (i = 1; i < NF; i++) v[$i] = $(i + 1)
    if (v["cpuid.exits"] > 0) printf "l1.cpuid.l0_insns %.1f\n", v["cpuid.l0_ticks"] / v["cpuid.exits"]
    if (v["vmcall.exits"] > 0) printf "l1.vmcall.l0_insns %.1f\n", v["vmcall.l0_ticks"] / v["vmcall.exits"]
}' >> "$figures"

echo
echo "nestvisor benchmarks (Bochs 2.7 tigerlake; ticks = emulated instructions)"
printf '  %-42s %12s\n' "figure" "value"
sort "$figures" | while read -r name value; do printf '  %-42s %12s\n' "$name" "$value"; done
for dir in "$build"/test/bochs/bench-*; do
    [ -d "$dir" ] || continue
    echo
    echo "L0's exit statistics of $(basename "$dir"):"
    log "$(basename "$dir")" | sed -n '/^exit statistics/,/^\[info\] power off/p' | sed '$d'
done
echo
sort "$figures" | sed 's/^/BENCH /'
[ -s "$figures" ] && [ $status -eq 0 ]
