#!/bin/bash
# Checks the serial log of a Linux + KVM test run (tests/guests/linux/init).
# usage: check-log.sh [-p PREFIX] SERIAL_LOG [CASE...]
# Passes when /init was reached, the modules loaded, kvm_intel's ept, vpid,
# unrestricted_guest and nested parameters were printed, every kvmtest case
# named (default: all of them) printed PASS, none printed FAIL, and the
# run got to "LINUX TEST DONE". Prints one "PASS|FAIL <PREFIX><check>" line
# per check (PREFIX defaults to "linux/") and exits 1 if any failed.
set -uo pipefail
prefix=linux/
if [ "${1:-}" = -p ]; then prefix=$2; shift 2; fi
log=$1
shift
cases=${*:-open realmode longmode io mmio hlt cpuid pages timer}
# shellcheck source=tests/guests/linux/checks.sh
. "$(dirname "$0")/checks.sh"

check init "no 'LINUX INIT REACHED' (the kernel did not get to /init)" has '^LINUX INIT REACHED'
for m in irqbypass kvm kvm-intel; do
    check "insmod.$m" "$(lines "^insmod $m:" "not attempted")" has "^insmod $m: 0 "
done
for p in ept vpid unrestricted_guest nested; do
    value=$(grep -E "^kvm_intel\.$p=" <<< "$text" | head -n 1)
    check "param.$p${value:+ ($value)}" "kvm_intel.$p not printed" test -n "$value"
done
for c in $cases; do
    check "kvm.$c" "$(lines "^FAIL kvm\.$c:" "no result")" has "^PASS kvm\.$c\$"
done
check kvmtest.nofail "$(lines '^FAIL kvm\.' '')" hasnt '^FAIL kvm\.'
check kvmtest.done "$(lines '^KVMTEST DONE' 'no KVMTEST DONE line')" has '^KVMTEST DONE [0-9]+ passed 0 failed'
check end "no 'LINUX TEST DONE'" has '^LINUX TEST DONE'
exit $status
