#!/bin/bash
# Builds a GRUB (i386-pc) rescue ISO that boots one test guest directly,
# with no hypervisor: the guest is the Multiboot kernel. A copy of
# tests/integration/mkiso.sh that can also use GRUB's Multiboot (v1) loader.
# usage: mkiso.sh [-1] OUT.iso GUEST.elf "GUEST CMDLINE" [FILE "MODULE STRING"]...
#   -1   boot with `multiboot`/`module` (v1) instead of `multiboot2`/`module2`
set -euo pipefail
mb=multiboot2 mod=module2
if [ "${1:-}" = -1 ]; then
    mb=multiboot mod=module
    shift
fi
out=$1 kernel=$2 cmdline=$3
shift 3
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/boot/grub"
cp "$kernel" "$stage/boot/guest.elf"
{
    echo "set timeout=0"
    echo "set default=0"
    echo "menuentry \"guest\" {"
    echo "    $mb /boot/guest.elf $cmdline"
    i=0
    while [ $# -ge 2 ]; do
        cp "$1" "$stage/boot/module$i"
        echo "    $mod /boot/module$i $2"
        i=$((i + 1))
        shift 2
    done
    echo "    boot"
    echo "}"
} > "$stage/boot/grub/grub.cfg"
grub-mkrescue -d /usr/lib/grub/i386-pc \
    --install-modules="multiboot multiboot2 normal iso9660 biosdisk configfile" \
    --fonts= --locales= --themes= -o "$out.tmp" "$stage" >/dev/null 2>&1 ||
    { echo "mkiso: grub-mkrescue failed for $out" >&2; exit 1; }
mv "$out.tmp" "$out"
