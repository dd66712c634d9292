#!/bin/bash
# The Linux figures of `make bench`: the test image booted directly on Bochs
# and as nestvisor's L1, with one CPU and with SMP_CPUS (4), all four runs
# at once, then
#   linux.boot_to_init.*      Linux's instructions from its 32-bit entry to
#                             /init (the TSC /init reads minus the TSC at
#                             the entry), under nestvisor / directly
#   linux.kvm.*               from nestvisor's exit statistics at power-off
#                             while KVM ran the kvmtest cases
#   smp.linux.boot_to_init.*  the same with SMP_CPUS CPUs (ticks: Bochs's
#                             clock, which runs the CPUs in turn)
#   smp.l0_kib_per_cpu        what nestvisor allocates per AP (its log)
#   linux.kvm.smp.*           nestvisor's exits while KVM ran only the SMP
#                             cases (ipi, migrate, allcpus) on SMP_CPUS CPUs
#   linux.kvm.apicv.*         nestvisor's exits while KVM ran only the apic
#                             case (1 CPU, a fifth run), APIC virtualization
#                             offered to L1 (nestvisor's default)
#   linux.kvm.apicv_off.*     the same with nestvisor's apicv=off: a sixth
#                             run (BENCH_APICV_OFF=0 leaves it out)
# All runs use the same Bochs configuration (ignore_bad_msrs=1, as the
# direct boot needs: Linux's decompressor reads IA32_MISC_ENABLE unguarded),
# so the ratios compare like with like.
# usage: bench-linux.sh NESTVISOR_ELF OUT_DIR
# Prints a table and "BENCH <name> <value>" lines; exits 1 if a figure is
# missing or a run failed its checks.
set -uo pipefail
here=$(dirname "$0")
nv=$1 out=$2
smp=${SMP_CPUS:-4}
smp_cases=ipi,migrate,allcpus
mkdir -p "$out"
params=$here/kvm_intel.${LINUX_MODEL:-tigerlake}
direct=$out/direct nested=$out/nested direct_smp=$out/direct-smp$smp nested_smp=$out/nested-smp$smp
nested_apic=$out/nested-apic nested_apic_off=$out/nested-apic-off
apicv_off=${BENCH_APICV_OFF:-1}
# Four Bochs share the cores: timeouts that only catch hangs.
export LINUX_TIMEOUT=${LINUX_TIMEOUT:-600}
"$here/bochs-direct.sh" "$direct" > "$out/direct.log" 2>&1 &
BOCHS_IGNORE_BAD_MSRS=1 "$here/bochs-nested.sh" "$nv" "$nested" > "$out/nested.log" 2>&1 &
BOCHS_CPUS=$smp LINUX_TIMEOUT=${LINUX_SMP_TIMEOUT:-900} LINUX_APPEND=KVMTEST_ARGS=$smp_cases \
    "$here/bochs-direct.sh" "$direct_smp" > "$out/direct-smp.log" 2>&1 &
BOCHS_CPUS=$smp LINUX_TIMEOUT=${LINUX_SMP_TIMEOUT:-900} LINUX_APPEND=KVMTEST_ARGS=$smp_cases \
    BOCHS_IGNORE_BAD_MSRS=1 "$here/bochs-nested.sh" "$nv" "$nested_smp" > "$out/nested-smp.log" 2>&1 &
# Only the apic case: every L2 exit of the run is one of its guest's.
LINUX_APPEND=KVMTEST_ARGS=apic BOCHS_IGNORE_BAD_MSRS=1 \
    "$here/bochs-nested.sh" "$nv" "$nested_apic" > "$out/nested-apic.log" 2>&1 &
if [ "$apicv_off" = 1 ]; then
    LINUX_APPEND=KVMTEST_ARGS=apic BOCHS_IGNORE_BAD_MSRS=1 \
        "$here/bochs-nested.sh" "$nv" "$nested_apic_off" apicv=off > "$out/nested-apic-off.log" 2>&1 &
fi
wait
status=0
# shellcheck disable=SC2046 # one word per case
{
    # kvm_intel's parameters: the reference is current, nestvisor matches it.
    "$here/check-log.sh" -p bench-linux/direct/ -k "$params" "$direct/serial.log"
    "$here/check-log.sh" -p bench-linux/nested/ -k "$params" "$nested/serial.log"
    "$here/check-l0.sh" -p bench-linux/nested/l0/ "$nested/serial.log" on
    "$here/check-log.sh" -p bench-linux/direct-smp/ -c "$smp" "$direct_smp/serial.log" open $(tr , ' ' <<< "$smp_cases")
    "$here/check-log.sh" -p bench-linux/nested-smp/ -c "$smp" "$nested_smp/serial.log" open $(tr , ' ' <<< "$smp_cases")
    "$here/check-l0.sh" -p bench-linux/nested-smp/l0/ -c "$smp/$smp" "$nested_smp/serial.log" on
    "$here/check-log.sh" -p bench-linux/nested-apic/ -k "$params" "$nested_apic/serial.log" open apic
    # Without APICv offered kvm_intel's parameters differ (flexpriority): no -k.
    if [ "$apicv_off" = 1 ]; then
        "$here/check-log.sh" -p bench-linux/nested-apic-off/ "$nested_apic_off/serial.log" open apic
    fi
} > "$out/results.txt" || status=1
grep '^FAIL' "$out/results.txt"

text() { tr -d '\r' < "$1/serial.log"; }
figures=$out/figures.txt
: > "$figures"
fig() { echo "$1 $2" >> "$figures"; }

# Boot to /init. Directly: the debugger's first stop at the kernel's entry
# (bochs-direct.sh). Under nestvisor: the TSC it logs as it enters L1.
init_tsc() { text "$1" | sed -n 's/^LINUX INIT REACHED .* tsc=\([0-9]*\).*/\1/p' | head -n 1; }
boot_to_init() { # PREFIX DIRECT_DIR NESTED_DIR
    local d_entry n_entry d_init n_init d n
    d_entry=$(sed -n 's/^kernel_entry_tick=\([0-9]*\).*/\1/p' "$2/summary.txt" 2>/dev/null)
    n_entry=$(text "$3" | sed -n 's/^\[info\] vm: entering L1 at 0x[0-9a-f]*, TSC \([0-9]*\)$/\1/p')
    d_init=$(init_tsc "$2") n_init=$(init_tsc "$3")
    if [ -n "$d_entry" ] && [ -n "$n_entry" ] && [ -n "$d_init" ] && [ -n "$n_init" ]; then
        d=$((d_init - d_entry)) n=$((n_init - n_entry))
        fig "$1.boot_to_init.direct_minsns" "$(awk -v x="$d" 'BEGIN { printf "%.1f", x / 1e6 }')"
        fig "$1.boot_to_init.nested_minsns" "$(awk -v x="$n" 'BEGIN { printf "%.1f", x / 1e6 }')"
        fig "$1.boot_to_init.ratio" "$(awk -v a="$n" -v b="$d" 'BEGIN { printf "%.3f", a / b }')"
    else
        echo "bench-linux: no $1 boot-to-init figure (entry $d_entry/$n_entry, init $d_init/$n_init)"
        status=1
    fi
}
boot_to_init linux "$direct" "$nested"
boot_to_init smp.linux "$direct_smp" "$nested_smp"

# KVM's guests under nestvisor. An L2 exit is one L1 sees (reflected); the
# L0 exits it costs are the L2's own (reflected or handled by L0) plus L1's
# VMX instructions (VMRESUME, the VMREAD/VMWRITEs that trap, VMCLEAR and
# VMPTRLD when KVM moves a vCPU, VMXON/VMXOFF on every CPU, ...). L1's
# other exits (CPUID, MSRs, I/O, xAPIC) are left out: they are mostly
# Linux's boot.
kvm_exits() { # PREFIX NESTED_DIR
    text "$2" | awk -v p="$1" '
    /^  exits of / { sec = $0; next }
    /^nested:/ || /^  exits per CPU/ { sec = "" }
    sec ~ /exits of L1/ && $1 ~ /^(19|20|21|23|24|25|26|27|50|53)$/ { vmx += $(NF - 2) }
    sec ~ /exits of L1/ && $1 ~ /^(23|25)$/ { vmrw += $(NF - 2) }
    sec ~ /exits of L2 handled by L0/ && $1 ~ /^[0-9]+$/ { l0 += $(NF - 2) }
    sec ~ /exits of L2 reflected/ && $1 ~ /^[0-9]+$/ { refl += $(NF - 2) }
    END {
        if (refl > 0) {
            printf "%s.l2_exits %d\n", p, refl
            printf "%s.l0_exits_per_l2_exit %.2f\n", p, (refl + l0 + vmx) / refl
            # The same without the trapped VMREAD/VMWRITE of L1: the set-up
            # of each guest by KVM (KVM_SET_SREGS and the like), fields
            # outside the shadow set; it grows with guests, not exits.
            printf "%s.l0_exits_per_l2_exit_without_vmrw %.2f\n", p, (refl + l0 + vmx - vmrw) / refl
        }
    }' >> "$figures"
}
kvm_exits linux.kvm "$nested"
kvm_exits linux.kvm.smp "$nested_smp"
kvm_exits linux.kvm.apicv "$nested_apic"
if [ "$apicv_off" = 1 ]; then kvm_exits linux.kvm.apicv_off "$nested_apic_off"; fi
# What an AP costs nestvisor (smp.l0_kib_per_cpu), from its own line.
kib=$(text "$nested_smp" | sed -n 's/^\[info\] smp: L0 memory per AP: \([0-9]*\) KiB.*/\1/p' | head -n 1)
if [ -n "$kib" ]; then fig smp.l0_kib_per_cpu "$kib"; else status=1; fi
# The SMP run's per-CPU exits and the L1 EPT violations among them (xAPIC
# writes L0 emulates while APs wait for their SIPI, most of them).
per_cpu=$(text "$nested_smp" | sed -n 's/^  exits per CPU: //p' | head -n 1)
fig smp.linux.l1_ept_violation_exits "$(text "$nested_smp" | awk '
    /^  exits of / { sec = $0; next }
    sec ~ /exits of L1/ && $1 == 48 { print $(NF - 2); exit }' | grep . || echo 0)"

# The fields whose VMREAD/VMWRITE still exit, with their counts.
trapped=$(text "$nested" | sed -n '/^nested: L1.s VMREAD\/VMWRITE that exited/,/^nested: EPT02\|^\[/p' |
    awk '$2 == "VMREAD" || $3 == "VMREAD" { print }')
refl=$(awk '$1 == "linux.kvm.l2_exits" { print $2 }' "$figures")
fig linux.kvm.vmrw_trapped_fields "$(grep -c . <<< "$trapped")"
fig linux.kvm.vmrw_trapped_total "$(awk '{ s += $(NF - 2) + $NF } END { print s + 0 }' <<< "$trapped")"
if [ -n "$refl" ]; then
    # The busiest trapping field, per L2 exit: near 0 means no per-exit field traps.
    fig linux.kvm.vmrw_busiest_field_per_l2_exit \
        "$(awk -v r="$refl" '{ c = $(NF - 2) + $NF; if (c > m) m = c } END { printf "%.3f", m / r }' <<< "$trapped")"
else
    status=1
fi
# In the SMP run: the VMREAD/VMWRITEs that exited, per L2 exit (KVM's
# set-up ioctls and its moves between CPUs write fields L0 does not shadow).
smp_trapped=$(text "$nested_smp" | sed -n '/^nested: L1.s VMREAD\/VMWRITE that exited/,/^nested: EPT02\|^\[/p' |
    awk '$2 == "VMREAD" || $3 == "VMREAD" { s += $(NF - 2) + $NF } END { print s + 0 }')
smp_refl=$(awk '$1 == "linux.kvm.smp.l2_exits" { print $2 }' "$figures")
[ -n "$smp_refl" ] && fig linux.kvm.smp.vmrw_trapped_per_l2_exit \
    "$(awk -v t="$smp_trapped" -v r="$smp_refl" 'BEGIN { printf "%.2f", t / r }')"
# The kvmtest cases: TSC ticks (instructions) under nestvisor per direct.
case_ratio() { # FIGURE CASE NESTED_DIR DIRECT_DIR
    local a b
    a=$(text "$3" | sed -n "s/^INFO kvm\\.$2: \\([0-9]*\\) TSC ticks.*/\\1/p")
    b=$(text "$4" | sed -n "s/^INFO kvm\\.$2: \\([0-9]*\\) TSC ticks.*/\\1/p")
    [ -n "$a" ] && [ -n "$b" ] && fig "$1" "$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", a / b }')"
}
for c in realmode longmode io mmio hlt cpuid pages timer apic dirtylog nestedvmx; do
    case_ratio "linux.kvm.$c.ticks_ratio" "$c" "$nested" "$direct"
done
for c in $(tr , ' ' <<< "$smp_cases"); do
    case_ratio "linux.kvm.smp.$c.ticks_ratio" "$c" "$nested_smp" "$direct_smp"
done

echo
echo "Linux as L1 (Bochs 2.7 tigerlake, ignore_bad_msrs=1 in all runs; ticks = instructions, with"
echo "more than one CPU Bochs's clock, which runs the CPUs in turn)"
printf '  %-44s %12s\n' figure value
sort "$figures" | while read -r name value; do printf '  %-44s %12s\n' "$name" "$value"; done
echo
echo "VMREAD/VMWRITE fields that exited to L0 while KVM was L1 (counts over the whole run):"
if [ -n "$trapped" ]; then echo "$trapped"; else echo "  none"; fi
echo
echo "L0 exits per CPU in the $smp-CPU run: ${per_cpu:-not logged}"
echo "The $smp-CPU kvmtest cases:"
text "$nested_smp" | grep -E "^INFO kvm\.($(tr , '|' <<< "$smp_cases")):" | sed 's/^/  nested: /'
text "$direct_smp" | grep -E "^INFO kvm\.($(tr , '|' <<< "$smp_cases")):" | sed 's/^/  direct: /'
echo
sort "$figures" | sed 's/^/BENCH /'
figs="linux.kvm.l0_exits_per_l2_exit linux.kvm.smp.l0_exits_per_l2_exit smp.l0_kib_per_cpu"
figs="$figs linux.kvm.apicv.l0_exits_per_l2_exit"
if [ "$apicv_off" = 1 ]; then figs="$figs linux.kvm.apicv_off.l0_exits_per_l2_exit"; fi
for f in $figs; do
    grep -q "^$f " "$figures" || { echo "bench-linux: no $f"; status=1; }
done
exit $status
