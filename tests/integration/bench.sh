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
log bench-l1 | sed -n 's/^\[L1\] BENCH \(l1\.[^ ]*\) \([^ ]*\)$/\1 \2/p' >> "$figures"
# Figures derived from the L0 exit counters a guest reported (BENCHDATA).
log bench-l1 | awk '/BENCHDATA/ {
    for (i = 1; i < NF; i++) v[$i] = $(i + 1)
    if (v["cpuid.exits"] > 0) printf "l1.cpuid.l0_insns %.1f\n", v["cpuid.l0_ticks"] / v["cpuid.exits"]
    if (v["vmcall.exits"] > 0) printf "l1.vmcall.l0_insns %.1f\n", v["vmcall.l0_ticks"] / v["vmcall.exits"]
}' >> "$figures"

# The nested round trip (tests/guests/l1hv/bench.c): L0 exits and L0
# instructions per L2 exit handled by L1, over all levels.
nested_figures() { # scenario prefix
    log "$1" | awk -v p="$2" '
    /BENCH l1hv.cpuid.roundtrip_insns/ { rt = $NF }
    /BENCHDATA l1hv.l2_exits/ { n = $NF }
    /BENCHDATA l1hv.level/ {
        lvl = $3
        for (i = 4; i < NF; i += 2) v[lvl, $i] = $(i + 1)
    }
    END {
        if (n <= 0) exit
        exits = v["l1hv.level0", "all.exits"] + v["l1hv.level1", "all.exits"] + v["l1hv.level2", "all.exits"]
        ticks = v["l1hv.level0", "all.ticks"] + v["l1hv.level1", "all.ticks"] + v["l1hv.level2", "all.ticks"]
        printf "%s.cpuid.l0_exits_per_l2_exit %.2f\n", p, exits / n
        printf "%s.vmrw.l0_exits %d\n", p, v["l1hv.level0", "vmread.exits"] + v["l1hv.level0", "vmwrite.exits"]
        printf "%s.cpuid.l0_insns %.0f\n", p, ticks / n
        printf "%s.cpuid.roundtrip_insns %s\n", p, rt
    }' >> "$figures"
}
nested_figures bench-nested nested
nested_figures bench-nested-noshadow nested_noshadow

# EPT-on-EPT (l1hv bench_ept): shadow fills while L2 touches 64 MiB once,
# in 4 KiB and in 2 MiB EPT12 leaves, and the CPUID round trip under EPT12.
log bench-nested-ept | awk '
    /BENCH l1hv.ept.cpuid.roundtrip_insns/ { printf "nested_ept.cpuid.roundtrip_insns %s\n", $NF }
    /BENCHDATA l1hv.ept.touch64m_4k l0_faults/ {
        printf "ept02.fill4k.l0_insns %.0f\n", $7 / $5
        printf "ept02.touch64m.faults %d\n", $5
    }
    /BENCHDATA l1hv.ept.touch64m_2m l0_faults/ { printf "ept02.fill2m.l0_insns %.0f\n", $7 / $5 }
    /BENCHDATA l1hv.ept.touch64m_4k shadow_pages/ { printf "ept02.touch64m.shadow_kib %d\n", $NF * 4 }
' >> "$figures"

# L1's VMCS shadowing for its L2 (l1hv bench_vshadow): the exits to L1 that
# L2's VMREAD/VMWRITE of shadowed fields cause (goal 0), L0's instructions
# for each it does instead, and each as L2 sees it.
log bench-nested-vshadow | awk '
    function kv(first) { delete v; for (i = first; i < NF; i += 2) v[$i] = $(i + 1) }
    /BENCH l1hv.vshadow.vmrw_insns/ { printf "nested_vmcs_shadow.vmrw.roundtrip_insns %s\n", $NF }
    /BENCHDATA l1hv.vshadow accesses/ { kv(4); printf "nested_vmcs_shadow.vmrw.l1_exits %d\n", v["l1_exits"] }
    /BENCHDATA l1hv.vshadow.level1/ {
        kv(4)
        n = v["vmread.exits"] + v["vmwrite.exits"]
        if (n > 0) printf "nested_vmcs_shadow.vmrw.l0_insns %.0f\n", (v["vmread.ticks"] + v["vmwrite.ticks"]) / n
    }
' >> "$figures"

# SMP (l1hv bench_smp, 4 CPUs): a vmcs12 moved to another CPU (VMCLEAR there,
# VMPTRLD + VMLAUNCH here) beyond a plain VMRESUME, as L1 sees it and in
# L0's own handler ticks; L0 exits per IPI once all APs run (expected 0);
# one single-context INVEPT as L1 sees it and in L0's handler.
log bench-smp | awk '
    function kv(first) { delete v; for (i = first; i < NF; i += 2) v[$i] = $(i + 1) }
    /BENCH l1hv.smp.migrate_ticks/ { printf "smp.vmcs12_migrate.l0_insns %s\n", $NF }
    /BENCHDATA l1hv.smp.migrate rounds/ {
        kv(4)
        if (v["rounds"] > 0)
            printf "smp.vmcs12_migrate.l0_handler_insns %.0f\n",
                (v["vmclear.ticks"] + v["vmptrld.ticks"] + v["vmlaunch.ticks"] - v["vmresume.ticks"]) / v["rounds"]
    }
    /BENCHDATA l1hv.smp.ipi ipis/ {
        kv(4)
        if (v["ipis"] > 0) printf "smp.ipi.l0_exits %.2f\n", (v["exits"] - v["baseline"]) / v["ipis"]
    }
    /BENCH l1hv.smp.invept_ticks/ { printf "smp.invept.l0_insns %s\n", $NF }
    /BENCHDATA l1hv.smp.invept cpus/ {
        kv(4)
        if (v["count"] > 0) printf "smp.invept.l0_handler_insns %.0f\n", v["ticks"] / v["count"]
    }
' >> "$figures"

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
