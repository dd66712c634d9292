#!/bin/bash
# The Linux figures of `make bench`: the test image booted directly on Bochs
# and as nestvisor's L1 (in parallel), then
#   linux.boot_to_init.*      Linux's instructions from its 32-bit entry to
#                             /init (the TSC /init reads minus the TSC at
#                             the entry), under nestvisor / directly
#   linux.kvm.*               from nestvisor's exit statistics at power-off
#                             while KVM ran the kvmtest cases
# Both runs use the same Bochs configuration (ignore_bad_msrs=1, as the
# direct boot needs: Linux's decompressor reads IA32_MISC_ENABLE unguarded),
# so the ratio compares like with like.
# usage: bench-linux.sh NESTVISOR_ELF OUT_DIR
# Prints a table and "BENCH <name> <value>" lines; exits 1 if a figure is
# missing or a run failed its checks.
set -uo pipefail
here=$(dirname "$0")
nv=$1 out=$2
mkdir -p "$out"
direct=$out/direct nested=$out/nested
"$here/bochs-direct.sh" "$direct" > "$out/direct.log" 2>&1 &
BOCHS_IGNORE_BAD_MSRS=1 "$here/bochs-nested.sh" "$nv" "$nested" > "$out/nested.log" 2>&1 &
wait
status=0
{
    "$here/check-log.sh" -p bench-linux/direct/ "$direct/serial.log"
    "$here/check-log.sh" -p bench-linux/nested/ "$nested/serial.log"
    "$here/check-l0.sh" -p bench-linux/nested/l0/ "$nested/serial.log" on
} > "$out/results.txt" || status=1
grep '^FAIL' "$out/results.txt"

text() { tr -d '\r' < "$1/serial.log"; }
figures=$out/figures.txt
: > "$figures"
fig() { echo "$1 $2" >> "$figures"; }

# Boot to /init. Directly: the debugger's first stop at the kernel's entry
# (bochs-direct.sh). Under nestvisor: the TSC it logs as it enters L1.
init_tsc() { text "$1" | sed -n 's/^LINUX INIT REACHED .* tsc=\([0-9]*\).*/\1/p' | head -n 1; }
d_entry=$(sed -n 's/^kernel_entry_tick=\([0-9]*\).*/\1/p' "$direct/summary.txt" 2>/dev/null)
n_entry=$(text "$nested" | sed -n 's/^\[info\] vm: entering L1 at 0x[0-9a-f]*, TSC \([0-9]*\)$/\1/p')
d_init=$(init_tsc "$direct") n_init=$(init_tsc "$nested")
if [ -n "$d_entry" ] && [ -n "$n_entry" ] && [ -n "$d_init" ] && [ -n "$n_init" ]; then
    d=$((d_init - d_entry)) n=$((n_init - n_entry))
    fig linux.boot_to_init.direct_minsns "$(awk -v x="$d" 'BEGIN { printf "%.1f", x / 1e6 }')"
    fig linux.boot_to_init.nested_minsns "$(awk -v x="$n" 'BEGIN { printf "%.1f", x / 1e6 }')"
    fig linux.boot_to_init.ratio "$(awk -v a="$n" -v b="$d" 'BEGIN { printf "%.3f", a / b }')"
else
    echo "bench-linux: no boot-to-init figure (entry $d_entry/$n_entry, init $d_init/$n_init)"
    status=1
fi

# KVM's guests under nestvisor. An L2 exit is one L1 sees (reflected); the
# L0 exits it costs are the L2's own (reflected or handled by L0) plus L1's
# VMX instructions (VMRESUME, the VMREAD/VMWRITEs that trap, ...). L1's
# other exits (CPUID, MSRs, I/O) are left out: they are mostly Linux's boot.
text "$nested" | awk '
    /^  exits of / { sec = $0; next }
    /^nested:/ { sec = "" }
    sec ~ /exits of L1/ && $1 ~ /^(19|20|21|23|24|25|26|27|50|53)$/ { vmx += $(NF - 2) }
    sec ~ /exits of L2 handled by L0/ && $1 ~ /^[0-9]+$/ { l0 += $(NF - 2) }
    sec ~ /exits of L2 reflected/ && $1 ~ /^[0-9]+$/ { refl += $(NF - 2) }
    END {
        if (refl > 0) {
            printf "linux.kvm.l2_exits %d\n", refl
            printf "linux.kvm.l0_exits_per_l2_exit %.2f\n", (refl + l0 + vmx) / refl
        }
    }' >> "$figures"
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
# The kvmtest cases: TSC ticks (instructions) under nestvisor per direct.
for c in realmode longmode io mmio hlt cpuid pages timer; do
    a=$(text "$nested" | sed -n "s/^INFO kvm\\.$c: \\([0-9]*\\) TSC ticks.*/\\1/p")
    b=$(text "$direct" | sed -n "s/^INFO kvm\\.$c: \\([0-9]*\\) TSC ticks.*/\\1/p")
    [ -n "$a" ] && [ -n "$b" ] && fig "linux.kvm.$c.ticks_ratio" "$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", a / b }')"
done

echo
echo "Linux as L1 (Bochs 2.7 tigerlake, ignore_bad_msrs=1 in both runs; ticks = instructions)"
printf '  %-44s %12s\n' figure value
sort "$figures" | while read -r name value; do printf '  %-44s %12s\n' "$name" "$value"; done
echo
echo "VMREAD/VMWRITE fields that exited to L0 while KVM was L1 (counts over the whole run):"
if [ -n "$trapped" ]; then echo "$trapped"; else echo "  none"; fi
echo
sort "$figures" | sed 's/^/BENCH /'
grep -q '^linux.kvm.l0_exits_per_l2_exit ' "$figures" || status=1
exit $status
