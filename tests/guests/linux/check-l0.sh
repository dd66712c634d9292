#!/bin/bash
# Checks nestvisor's side of a Linux-as-L1 run (bochs-nested.sh).
# usage: check-l0.sh [-p PREFIX] [-c N/M] SERIAL_LOG on|off
#   -c N/M: the machine has M CPUs and L1 gets N of them (default 1/1): the
#        log says so, L1 started each of its N-1 APs (INIT-SIPI-SIPI), every
#        one of its CPUs exited to L0, and the M-N others were hidden.
#   on:  nesting offered. nestvisor reflected L2 exits to L1 (KVM's guests
#        ran on vmcs02) and filled EPT02, reported no bug, and powered off
#        when L1 asked; kvm_intel took PML (tigerlake) and read its index
#        without an exit.
#   off: VMX hidden. kvm_intel refused to load, Linux went on to the end
#        of /init, L1 executed no VMX instruction, and nestvisor powered off
#        when L1 asked: no hang, no L0 crash.
# Prints one "PASS|FAIL <PREFIX><check>" line per check; exits 1 if any failed.
set -uo pipefail
prefix=linux-l0/ l1_cpus=1 cpus=1
while [ $# -gt 0 ]; do
    case $1 in
    -p) prefix=$2; shift 2 ;;
    -c) l1_cpus=${2%/*} cpus=${2#*/}; shift 2 ;;
    *) break ;;
    esac
done
log=$1 mode=$2
# shellcheck source=tests/guests/linux/checks.sh
. "$(dirname "$0")/checks.sh"
# The count on the statistics line "  exits of <what>: N" (0 if absent).
count() { sed -n "s/^  exits of $1: \\([0-9]*\\)\$/\\1/p" <<< "$text" | head -n 1; }
# A row "  NN <reason> count ..." inside the section headed "exits of $1".
row() {
    awk -v sec="  exits of $1:" -v r="$2" '
        index($0, sec) == 1 { on = 1; next }
        /^  exits of / || /^nested:/ || /^\[/ { on = 0 }
        on && $1 == r { print $(NF - 2); exit }' <<< "$text"
}
# shellcheck disable=SC2317
positive() { [ "${1:-0}" -gt 0 ] 2>/dev/null; }

check l1.booted "nestvisor did not enter L1" has '^\[info\] L1: Linux bzImage'
check l1.poweroff "L1's power-off request never reached nestvisor" \
    has '^\[info\] L1 powered the machine off'
check l0.power_off "nestvisor did not power off" has '^\[info\] power off \(status 0\)'
# Linux's TSC rate: nestvisor's measurement, through CPUID 0x15/0x16 (no
# tsc_early_khz on the command line), within 2%.
l0_khz=$(sed -n 's/^\[info\] tsc: \([0-9]*\) kHz.*/\1/p' <<< "$text" | head -n 1)
l1_mhz=$(sed -n 's/^LINUX TSC tsc: Detected \([0-9.]*\) MHz/\1/p' <<< "$text" | head -n 1)
# shellcheck disable=SC2317 # called through check
tsc_agrees() { awk -v l0="${l0_khz:-0}" -v l1="${l1_mhz:-0}" 'BEGIN { d = l1 * 1000 - l0; if (d < 0) d = -d; exit !(l0 > 0 && d * 100 <= l0 * 2) }'; }
check "linux.tsc (Linux ${l1_mhz:-?} MHz, nestvisor ${l0_khz:-?} kHz)" \
    "Linux's TSC rate is not the one nestvisor measured" tsc_agrees
check l0.no_bug "$(grep -E 'BUG:|^\[error\]' <<< "$text" | head -n 2 | paste -sd';' -)" \
    hasnt 'BUG:|^\[error\]'
# The CPUs: how many L1 got, that it started its APs and that each ran.
check "smp.l1_cpus ($l1_cpus of $cpus)" "$(lines '^\[info\] vm: L1 gets ' 'no CPU count logged')" \
    has "^\[info\] vm: L1 gets $l1_cpus of $cpus CPUs"
for ((c = 1; c < cpus; c++)); do
    if [ "$c" -lt "$l1_cpus" ]; then
        check "smp.cpu$c.started" "L1 did not start cpu$c" has "^\[info/cpu$c\] cpu$c: L1 started it at "
    else
        check "smp.cpu$c.hidden" "cpu$c was not kept from L1" \
            eval "has '^\[info\] vm: cpu$c \(APIC [0-9]+\) is nestvisor.s: hidden from L1.s MADT' && hasnt '^\[info/cpu$c\] cpu$c: L1 started it'"
    fi
done
if [ "$l1_cpus" -gt 1 ]; then
    per_cpu=$(grep -m 1 '^  exits per CPU:' <<< "$text")
    # shellcheck disable=SC2317 # called through check
    all_exited() {
        for ((c = 0; c < l1_cpus; c++)); do
            n=$(sed -n "s/.* cpu$c \([0-9]*\).*/\1/p" <<< "$per_cpu")
            [ "${n:-0}" -gt 0 ] || return 1
        done
    }
    check "smp.exits_per_cpu (${per_cpu#  exits per CPU: })" "${per_cpu:-no per-CPU exit counts}" all_exited
fi
case $mode in
on)
    reflected=$(count "L2 reflected to L1")
    check "l2.reflected (${reflected:-0})" "no L2 exit was reflected to L1" positive "$reflected"
    for r in 1 48; do # external interrupt (L1's timer), EPT violation (EPT12)
        n=$(row "L2 reflected to L1" $r)
        check "l2.reflected.reason$r (${n:-0})" "no exit with reason $r reflected" positive "$n"
    done
    n=$(row "L1 (handled by L0)" 24)
    check "l1.vmresume (${n:-0})" "L1 never executed VMRESUME" positive "$n"
    fills=$(sed -n 's/^nested: EPT02 fills \([0-9]*\) (+\([0-9]*\) at VMRESUME).*/\1 \2/p' <<< "$text")
    check "ept02.filled ($fills)" "no EPT02 statistics line or no fills" \
        test "$(awk '{ print $1 + $2 }' <<< "${fills:-0 0}")" -gt 0
    # Every "on" run is on Bochs tigerlake, which has PML: nestvisor offers
    # it (emulated, docs/nested.md), so kvm_intel turns it on.
    check param.pml "$(lines '^kvm_intel\.pml=' 'kvm_intel.pml not printed')" has '^kvm_intel\.pml=Y$'
    # ... and the guest PML index KVM reads after every exit is shadowed:
    # no trapped VMREAD of it.
    check pml_index.shadowed "$(lines '^  GUEST_PML_INDEX ' '')" hasnt '^  GUEST_PML_INDEX +hot +VMREAD +[1-9]'
    ;;
off)
    check kvm.refused "kvm-intel loaded or was not tried" has '^insmod kvm-intel: [1-9]'
    check kvm.unavailable "no 'KVM UNAVAILABLE' line" has '^KVM UNAVAILABLE'
    check linux.went_on "Linux did not reach the end of /init" has '^LINUX TEST DONE'
    check l1.no_vmx "L1 got as far as a VMX instruction" \
        hasnt '^ +(19|20|21|23|24|25|26|27|50|53) (VMCLEAR|VMLAUNCH|VMPTRLD|VMREAD|VMRESUME|VMWRITE|VMXOFF|VMXON|INVEPT|INVVPID) '
    check l2.none "an L2 ran" hasnt '^  exits of L2'
    ;;
*)
    echo "check-l0.sh: mode must be on or off" >&2
    exit 2
    ;;
esac
exit $status
