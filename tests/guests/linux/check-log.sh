#!/bin/bash
# Checks the serial log of a Linux + KVM test run (tests/guests/linux/init).
# usage: check-log.sh [-p PREFIX] [-c CPUS] [-k REFERENCE] SERIAL_LOG [CASE...]
# Passes when /init was reached with CPUS CPUs (default 1) online, all of
# them with the vmx flag, the modules loaded, kvm_intel's ept, vpid,
# unrestricted_guest and nested parameters were printed, every kvmtest case
# named (default: all) printed PASS, none printed FAIL, and the run got to
# "LINUX TEST DONE". With one CPU the SMP cases (ipi, migrate, allcpus)
# must print SKIP instead: they need two. Prints one "PASS|FAIL
# <PREFIX><check>" line per check (PREFIX defaults to "linux/") and exits 1
# if any failed. With -k, every kvm_intel parameter must have the value the
# REFERENCE file gives (kvm_intel.tigerlake: bare Bochs), none more or less.
set -uo pipefail
prefix=linux/ cpus=1 reference=''
while [ $# -gt 0 ]; do
    case $1 in
    -p) prefix=$2; shift 2 ;;
    -c) cpus=$2; shift 2 ;;
    -k) reference=$2; shift 2 ;;
    *) break ;;
    esac
done
log=$1
shift
smp_cases="ipi migrate allcpus"
cases='' skip_cases=''
# shellcheck disable=SC2048 # the names are words
for c in ${*:-open realmode longmode io mmio hlt cpuid pages timer apic dirtylog nestedvmx $smp_cases}; do
    if [ "$cpus" -lt 2 ] && grep -qw -- "$c" <<< "$smp_cases"; then
        skip_cases="$skip_cases $c"
    else
        cases="$cases $c"
    fi
done
# shellcheck source=tests/guests/linux/checks.sh
. "$(dirname "$0")/checks.sh"

check init "no 'LINUX INIT REACHED' (the kernel did not get to /init)" has '^LINUX INIT REACHED'
# /sys/devices/system/cpu/online as Linux prints it: "0" or "0-<n-1>".
online=0
[ "$cpus" -gt 1 ] && online="0-$((cpus - 1))"
line=$(grep -m 1 '^LINUX CPUS ' <<< "$text")
check "cpus.online ($cpus)" "${line:-no 'LINUX CPUS' line}" \
    has "^LINUX CPUS online=$online nproc=$cpus vmx=$cpus\$"
for m in irqbypass kvm kvm-intel; do
    check "insmod.$m" "$(lines "^insmod $m:" "not attempted")" has "^insmod $m: 0 "
done
for p in ept vpid unrestricted_guest nested; do
    value=$(grep -E "^kvm_intel\.$p=" <<< "$text" | head -n 1)
    check "param.$p${value:+ ($value)}" "kvm_intel.$p not printed" test -n "$value"
done
if [ -n "$reference" ]; then
    want=$(tr -d '\r' < "$reference" | grep '^kvm_intel\.' | sort)
    got=$(grep '^kvm_intel\.' <<< "$text" | sort -u)
    check "params.printed" "no kvm_intel parameters printed" test -n "$got"
    while IFS='=' read -r name value; do
        seen=$(grep -m 1 "^$name=" <<< "$got")
        check "params.${name#kvm_intel.} ($value)" "${seen:-not printed}, bare Bochs: $value" \
            test "$seen" = "$name=$value"
    done <<< "$want"
    extra=$(comm -13 <(cut -d= -f1 <<< "$want") <(cut -d= -f1 <<< "$got") | paste -sd' ' -)
    check params.no_others "not in $(basename "$reference"): $extra" test -z "$extra"
fi
for c in $cases; do
    check "kvm.$c" "$(lines "^(FAIL|SKIP) kvm\.$c:" "no result")" has "^PASS kvm\.$c\$"
done
# A skipped case is checked as skipped, never counted as passed.
for c in $skip_cases; do
    check "kvm.$c.skipped ($cpus CPU)" "$(lines "^(PASS|FAIL) kvm\.$c(:|\$)" "no SKIP line")" \
        eval "has '^SKIP kvm\\.$c: ' && hasnt '^(PASS|FAIL) kvm\\.$c(:|\$)'"
done
check kvmtest.nofail "$(lines '^FAIL kvm\.' '')" hasnt '^FAIL kvm\.'
check kvmtest.done "$(lines '^KVMTEST DONE' 'no KVMTEST DONE line')" has '^KVMTEST DONE [0-9]+ passed 0 failed'
check end "no 'LINUX TEST DONE'" has '^LINUX TEST DONE'
exit $status
