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
kernel=${LINUX_KERNEL:-build/linux/vmlinuz}
initrd=${LINUX_INITRD:-build/linux/initramfs.cpio}
model=${LINUX_MODEL:-tigerlake}
megs=${LINUX_MEGS:-256}
ips=${LINUX_IPS:-4000000}
limit=${LINUX_TIMEOUT:-300}
cmdline="$(cat "$here/cmdline") tsc_early_khz=$((ips / 1000)) ${LINUX_APPEND:-}"

mkdir -p "$out"
"$here/../../integration/mkiso.sh" "$out/linux.iso" "$nv" "$nvopts" \
    "$kernel" "l1 $cmdline" "$initrd" "l1-initrd" || exit 1
# Linux's decompressor reads IA32_MISC_ENABLE; nestvisor emulates it, but
# Linux also probes MSRs Bochs lacks through nestvisor's passthrough list,
# so Bochs runs as it does for the bare reference (bochs-direct.sh).
BOCHS_IGNORE_BAD_MSRS=${BOCHS_IGNORE_BAD_MSRS:-0} "$here/../../integration/bochs-run.sh" \
    "$out" "$out/linux.iso" "$model" "$limit" "$megs"
