#!/bin/bash
# Builds a GRUB (i386-pc) rescue ISO that boots the kernel with Multiboot2.
# usage: mkiso.sh OUT.iso KERNEL "KERNEL CMDLINE" [FILE "MODULE STRING"]...
set -euo pipefail
out=$1 kernel=$2 cmdline=$3
shift 3
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/boot/grub"
cp "$kernel" "$stage/boot/nestvisor.elf"
{
    echo "set timeout=0"
    echo "set default=0"
    echo "menuentry \"nestvisor\" {"
    echo "    multiboot2 /boot/nestvisor.elf $cmdline"
    i=0
    while [ $# -ge 2 ]; do
        cp "$1" "$stage/boot/module$i"
        echo "    module2 /boot/module$i $2"
        i=$((i + 1))
        shift 2
    done
    echo "    boot"
    echo "}"
} > "$stage/boot/grub/grub.cfg"
grub-mkrescue -d /usr/lib/grub/i386-pc --install-modules="multiboot2 normal iso9660 biosdisk configfile" \
    --fonts= --locales= --themes= -o "$out.tmp" "$stage" >/dev/null 2>&1 ||
    { echo "mkiso: grub-mkrescue failed for $out" >&2; exit 1; }
mv "$out.tmp" "$out"
