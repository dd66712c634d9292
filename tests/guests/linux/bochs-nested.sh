#!/bin/bash
# Boots the Linux + KVM test image as nestvisor's L1 in Bochs: a GRUB
# (Multiboot2) ISO with nestvisor, the bzImage as its `l1` module and the
# initramfs as `l1-initrd` (docs/config.md).
# usage: bochs-nested.sh KERNEL OUT_DIR ["NESTVISOR OPTIONS"]
# Environment as bochs-direct.sh: LINUX_KERNEL, LINUX_INITRD, LINUX_MODEL,
# LINUX_MEGS, LINUX_IPS, LINUX_TIMEOUT, LINUX_APPEND.
# Leaves OUT_DIR/linux.iso, serial.log (nestvisor's and Linux's console on
# the same UART), bochs.log, stdout.log. Exit status: 0 when Bochs ended by
# itself, 124 on timeout; check-log.sh judges the log.
set -uo pipefail
here=$(dirname "$0")
nv=$1 out=$2 nvopts=${3:-}
# shellcheck source=tests/guests/linux/settings.sh
. "$here/settings.sh"

mkdir -p "$out"
# BOCHS_UEFI=1: from an ESP through nestvisor's UEFI loader on upstream
# Bochs + OVMF, else from a GRUB ISO on Bochs 2.7.
media=$out/linux.iso mk=mkiso.sh
[ "${BOCHS_UEFI:-0}" = 1 ] && media=$out/esp.img mk=mkesp.sh
"$here/../../integration/$mk" "$media" "$nv" "$nvopts" \
    "$kernel" "l1 $cmdline" "$initrd" "l1-initrd" || exit 1
# Bochs's ignore_bad_msrs stays 0 unless BOCHS_IGNORE_BAD_MSRS says
# otherwise: every MSR Linux touches meets nestvisor's MSR policy, #GP
# included. (bench-linux.sh sets 1, as the bare reference must have.)
BOCHS_IGNORE_BAD_MSRS=${BOCHS_IGNORE_BAD_MSRS:-0} BOCHS_IPS=$ips "$here/../../integration/bochs-run.sh" \
    "$out" "$media" "$model" "$limit" "$megs"
