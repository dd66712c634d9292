#!/bin/bash
# Builds an ESP image that boots nestvisor through its UEFI loader, with the
# same arguments as mkiso.sh (the GRUB ISO), so that one scenario table
# serves both boot paths.
# usage: mkesp.sh OUT.img KERNEL "KERNEL CMDLINE" [FILE "MODULE STRING"]...
# Needs build/BOOTX64.EFI next to KERNEL (make efi).
set -euo pipefail
out=$1 kernel=$2 cmdline=$3
shift 3
here=$(dirname "$0")
loader=$(dirname "$kernel")/BOOTX64.EFI
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
esp=EFI/nestvisor
mkdir -p "$stage/EFI/BOOT" "$stage/$esp"
cp "$loader" "$stage/EFI/BOOT/BOOTX64.EFI"
cp "$kernel" "$stage/$esp/nestvisor.elf"
{
    echo "kernel=\\EFI\\nestvisor\\nestvisor.elf"
    echo "cmdline=$cmdline"
    i=0
    while [ $# -ge 2 ]; do
        cp "$1" "$stage/$esp/module$i"
        echo "module=\\EFI\\nestvisor\\module$i $2"
        i=$((i + 1))
        shift 2
    done
} > "$stage/$esp/nestvisor.cfg"
# The files plus room for FAT32's minimum cluster count.
mib=$(( $(du -sm "$stage" | cut -f1) + 40 ))
[ $mib -lt 64 ] && mib=64
"$here/../../boot/efi/mkesp.sh" "$out" "$stage" "$mib" >/dev/null ||
    { echo "mkesp: could not build $out" >&2; exit 1; }
