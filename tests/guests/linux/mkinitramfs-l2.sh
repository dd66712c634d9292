#!/bin/bash
# Packs the two initramfs images of `make linux-l2` (README.md "Linux as L2"):
#   L2_CPIO  the L2's own: busybox-static with a symlink per applet (but
#            modprobe, as in mkinitramfs.sh), /init (l2init) and /l2boot
#            (which the L2's /init runs as `l2boot -t` and `l2boot -P`)
#   OUT      the L1's: BASE (the normal initramfs.cpio, unchanged) with a
#            second newc archive appended (the kernel unpacks both) holding
#            /l2boot, /l2/vmlinuz, /l2/initramfs.cpio (L2_CPIO) and
#            /l2/cmdline (the L2's kernel command line, one line)
# usage: mkinitramfs-l2.sh OUT L2_CPIO STAGE_DIR BASE L2BOOT L2INIT KERNEL "L2 CMDLINE"
set -euo pipefail
out=$1 l2cpio=$2 stage=$3 base=$4 l2boot=$5 l2init=$6 kernel=$7 cmdline=$8
busybox=${BUSYBOX:-/bin/busybox}
if [ ! -x "$busybox" ] || readelf -lW "$busybox" | grep -q INTERP; then
    echo "mkinitramfs-l2: $busybox is missing or not static (package busybox-static)" >&2
    exit 1
fi
pack() { (cd "$1" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --owner=0:0 --quiet); }
rm -rf "$stage"
mkdir -p "$stage"/l2root/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp} "$stage"/l1/l2
cp "$busybox" "$stage/l2root/bin/busybox"
for a in $("$busybox" --list-full); do
    case "$a" in */modprobe) continue ;; esac
    [ -e "$stage/l2root/$a" ] || ln -s /bin/busybox "$stage/l2root/$a"
done
install -m 755 "$l2init" "$stage/l2root/init"
install -m 755 "$l2boot" "$stage/l2root/l2boot"
pack "$stage/l2root" > "$l2cpio.tmp"
mv "$l2cpio.tmp" "$l2cpio"

install -m 755 "$l2boot" "$stage/l1/l2boot"
cp "$kernel" "$stage/l1/l2/vmlinuz"
cp "$l2cpio" "$stage/l1/l2/initramfs.cpio"
printf '%s\n' "$cmdline" > "$stage/l1/l2/cmdline"
{ cat "$base"; pack "$stage/l1"; } > "$out.tmp"
mv "$out.tmp" "$out"
