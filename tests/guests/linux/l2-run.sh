#!/bin/bash
# make linux-l2 / linux-l2-direct (README.md "Linux as L2"): boots the L1
# image with initramfs-l2.cpio and L2BOOT=1 in Bochs - as nestvisor's L1
# (nested) or on bare Bochs (direct) - so that its /init boots a second
# Linux as L2 through /l2boot; then checks the markers and prints figures.
# usage: l2-run.sh nested OUT_DIR NESTVISOR_ELF | l2-run.sh direct OUT_DIR
# Environment: what bochs-nested.sh / bochs-direct.sh take (LINUX_INITRD,
# LINUX_APPEND, LINUX_MEGS, LINUX_TIMEOUT, ...); LINUX_L2_RECHECK=1 skips
# the run and only checks the logs already in OUT_DIR.
# Leaves OUT_DIR/serial.log etc., results.txt (PASS|FAIL lines, also
# appended to build/results.txt) and figures.txt ("<name> <value>"), and
# prints both. Exits 1 if a check failed.
set -uo pipefail
here=$(dirname "$0")
mode=$1 out=$2 nv=${3:-}
case $mode in
nested) prefix=linux-l2/ ;;
direct) prefix=linux-l2-direct/ ;;
*) echo "usage: l2-run.sh nested OUT_DIR NESTVISOR_ELF | direct OUT_DIR" >&2; exit 2 ;;
esac
mkdir -p "$out"
rm -f "$out/results.txt" "$out/figures.txt" "$out/diagnosis.txt"
if [ -n "${LINUX_L2_RECHECK:-}" ]; then
    # Only the checks and figures, on the logs of the last run.
    bochs_status=$(cat "$out/bochs.status" 2>/dev/null || echo 0)
    start='' end=''
else
    echo "linux-l2: booting L1 ($mode) with an L2 inside, up to ${LINUX_TIMEOUT:-300} s; logs in $out/"
    start=$(date +%s.%N)
    if [ "$mode" = nested ]; then
        "$here/bochs-nested.sh" "$nv" "$out" > "$out/run.log" 2>&1
    else
        "$here/bochs-direct.sh" "$out" > "$out/run.log" 2>&1
    fi
    bochs_status=$?
    end=$(date +%s.%N)
    echo "$bochs_status" > "$out/bochs.status"
fi

log=$out/serial.log
# shellcheck source=tests/guests/linux/checks.sh
. "$here/checks.sh"
# shellcheck disable=SC2317 # called through check
nothing_in_service() { has '^L2BOOT PIC .* isr=0 ' && has '^L2BOOT LAPIC .* isr= irr='; }
{
    check bochs.ended "Bochs was stopped after ${LINUX_TIMEOUT:-300} s" test "$bochs_status" -eq 0
    check l1.init "no 'LINUX INIT REACHED'" has '^LINUX INIT REACHED'
    check l1.kvm "$(lines '^insmod kvm-intel:|^KVM UNAVAILABLE' 'kvm-intel not loaded')" has '^insmod kvm-intel: 0 '
    check l2.started "$(lines '^l2boot: error' 'no L2BOOT RUN line')" has '^L2BOOT RUN '
    check l2.init "the L2's /init never reported its TSC (no L2BOOT MARK)" has '^L2BOOT MARK '
    check l2.console "the L2's /init line never reached the console" has '^\[L2\] L2 INIT REACHED '
    check l2.poweroff "$(lines '^L2BOOT EXIT' 'no L2BOOT EXIT line')" has '^L2BOOT EXIT poweroff '
    check l1.l2_boot_done "$(lines '^L2 BOOT DONE' 'no L2 BOOT DONE line')" has '^L2 BOOT DONE status=0 '
    check l1.done "no 'LINUX TEST DONE'" has '^LINUX TEST DONE'
    check l2.no_panic "$(lines '\[L2\].*(Kernel panic|BUG:|Oops)' '')" hasnt '^\[L2\].*(Kernel panic|BUG:|Oops)'
    # An interrupt KVM injected that the L2 never took stays in service in
    # the PIC or the LAPIC and blocks the ones below it (timer, serial).
    check l2.no_stuck_irq "$(lines '^L2BOOT (PIC|LAPIC|EVENTS) ' 'no interrupt controller state printed')" \
        nothing_in_service
    if [ "$mode" = direct ]; then
        check l1.poweroff "no 'reboot: Power down'" has 'reboot: Power down'
    fi
} > "$out/results.txt"
if [ "$mode" = nested ]; then
    # nestvisor's side: L2 exits reflected, VMRESUMEs, EPT02 fills, no BUG:,
    # L1's clean power-off and nestvisor's own.
    "$here/check-l0.sh" -p "${prefix}l0/" "$log" on >> "$out/results.txt"
fi

figures=$out/figures.txt
: > "$figures"
fig() { [ -n "$2" ] && echo "linux.l2.$1 $2" >> "$figures"; }
field() { sed -n "s/.* $1=\\([0-9.]*\\).*/\\1/p" <<< "$2" | head -n 1; }
mega() { [ -n "$1" ] && awk -v x="$1" 'BEGIN { printf "%.1f", x / 1e6 }'; }
init=$(grep -E '^L2BOOT MARK ' <<< "$text" | head -n 1)
exitl=$(grep -E '^L2BOOT EXIT ' <<< "$text" | head -n 1)
stats=$(grep -E '^L2BOOT STATS ' <<< "$text" | head -n 1)
l2init=$(grep -E '^\[L2\] L2 INIT REACHED ' <<< "$text" | head -n 1)
fig boot_to_init_minsns "$(mega "$(field boot_to_init_ticks "$init")")"
fig run_minsns "$(mega "$(field ticks "$exitl")")"
fig init_uptime "$(field uptime "$l2init")"
fig init_idle "$(field idle "$l2init")"
fig kvm_exits "$(field exits "$stats")"
fig kvm_irq_exits "$(field irq_exits "$stats")"
fig kvm_io_exits "$(field io_exits "$stats")"
fig kvm_userspace_io "$(field userspace_io "$stats")"
fig kvm_halt_exits "$(field halt_exits "$stats")"
fig kvm_insn_emulation "$(field insn_emulation "$stats")"
[ -n "$start" ] && fig wall_seconds "$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.1f", e - s }')"
last=$(tail -n 1 "$out/bochs.log" 2>/dev/null | sed -n 's/^ *\([0-9]*\)[a-z].*/\1/p')
fig bochs_total_minsns "$(mega "$last")"
# The L2's share of the wall time, assuming Bochs runs as fast then as on
# average over the whole run (BIOS, GRUB, L1's boot, the L2, power-off).
ticks=$(field ticks "$exitl")
if [ -n "$start" ] && [ -n "$ticks" ] && [ -n "$last" ]; then
    fig l2_wall_seconds_est "$(awk -v s="$start" -v e="$end" -v t="$ticks" -v l="$((10#$last))" \
        'BEGIN { printf "%.1f", (e - s) * t / l }')"
fi
if [ "$mode" = nested ]; then
    # nestvisor's exit statistics at power-off (the whole run: L1's boot,
    # then mostly the L2's).
    counts() { sed -n "s/^  exits of $1: \\([0-9]*\\)\$/\\1/p" <<< "$text" | head -n 1; }
    fig l0.l1_exits "$(counts 'L1 (handled by L0)')"
    fig l0.l2_exits_reflected "$(counts 'L2 reflected to L1')"
    fig l0.l2_exits_handled_by_l0 "$(counts 'L2 handled by L0')"
    awk '
        /^  exits of / { sec = $0; next }
        /^nested:/ || /^\[/ { sec = "" }
        sec ~ /exits of L1/ && $1 == 24 { print "linux.l2.l0.l1_vmresume", $(NF - 2) }
        sec ~ /exits of L1/ && $1 ~ /^(19|20|21|23|24|25|26|27|50|53)$/ { vmx += $(NF - 2) }
        sec ~ /exits of L2 handled by L0/ && $1 ~ /^[0-9]+$/ { l0 += $(NF - 2) }
        sec ~ /exits of L2 reflected/ && $1 ~ /^[0-9]+$/ { refl += $(NF - 2) }
        sec ~ /exits of L2 reflected/ && $1 ~ /^[0-9]+$/ {
            r = $2; for (i = 3; i < NF - 2; i++) r = r "_" $i
            printf "linux.l2.l0.reflected.%s %d\n", r, $(NF - 2) }
        END { if (refl > 0) printf "linux.l2.l0.l0_exits_per_l2_exit %.2f\n", (refl + l0 + vmx) / refl }
    ' <<< "$text" >> "$figures"
    fills=$(sed -n 's/^nested: EPT02 fills \([0-9]*\) (+\([0-9]*\) at VMRESUME).*/\1 \2/p' <<< "$text")
    [ -n "$fills" ] && fig l0.ept02_fills "$(awk '{ print $1 + $2 }' <<< "$fills")"
    other=$(dirname "$out")/l2-direct/figures.txt
else
    other=$(dirname "$out")/l2/figures.txt
fi
# The ratio nested / direct, when the other run's figures are there and
# come from the same configuration.
config="ips=${LINUX_IPS:-} megs=${LINUX_MEGS:-} append=${LINUX_APPEND:-} initrd=$(cksum < "${LINUX_INITRD:-/dev/null}" 2>/dev/null)"
[ -n "${LINUX_L2_RECHECK:-}" ] || echo "$config" > "$out/config.txt"
if [ -f "$other" ] && cmp -s "$out/config.txt" "$(dirname "$other")/config.txt"; then
    get() { awk -v n="linux.l2.$2" '$1 == n { print $2 }' "$1"; }
    if [ "$mode" = nested ]; then n=$figures d=$other; else n=$other d=$figures; fi
    for f in boot_to_init_minsns run_minsns wall_seconds; do
        a=$(get "$n" $f) b=$(get "$d" $f)
        [ -n "$a" ] && [ -n "$b" ] &&
            echo "linux.l2.$f.ratio_nested_direct $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", a / b }')" >> "$figures"
    done
fi

# A stuck interrupt under nestvisor: Bochs logs every EPT violation with
# the guest's linear address; those on the L2's IDT (Linux 6.1's
# read-only alias at 0xfffffe0000000000, 16 bytes a vector) happened while
# an event was being delivered, the first sign of a lost injection.
if [ "$mode" = nested ] && grep -q '^FAIL .*l2\.no_stuck_irq' "$out/results.txt"; then
    {
        echo "diagnosis: at the end $(grep -E '^L2BOOT PIC ' <<< "$text" | head -n 1)"
        echo "diagnosis: $(grep -E '^L2BOOT EVENTS ' <<< "$text" | head -n 1)"
        echo "diagnosis: an interrupt KVM (L1) injected into the L2 never reached it (still in service)."
        echo "diagnosis: EPT violations while the L2's IDT was read (event delivery), from bochs.log:"
        grep 'VMEXIT: EPT violation' "$out/bochs.log" 2>/dev/null |
            sed -n 's/^\([0-9]*\)e.* paddr \(0x[0-9a-f]*\) laddr 0xfffffe0000000\([0-9a-f]*\)$/\1 \2 \3/p' |
            while read -r tick paddr off; do
                printf 'diagnosis:   tick %d: guest paddr %s, IDT entry of vector %#x\n' \
                    "$((10#$tick))" "$paddr" "$((0x$off / 16))"
            done
    } > "$out/diagnosis.txt"
    cat "$out/diagnosis.txt"
fi

cat "$out/results.txt"
[ -n "${LINUX_L2_RECHECK:-}" ] || tee -a build/results.txt < "$out/results.txt" > /dev/null 2>&1 || true
echo "Linux as L2 ($mode, Bochs $(sed -n 's/^cpu: model=\([a-z0-9_]*\).*/\1/p' "$out/bochsrc" 2>/dev/null), minsns = M instructions = M TSC ticks):"
sed 's/^/  /' "$figures"
grep -q '^FAIL ' "$out/results.txt" && { echo "linux-l2 ($mode): FAILED (logs in $out/)"; exit 1; }
exit 0
