#!/bin/bash
# Packs the test initramfs: busybox-static with a symlink per applet, /init,
# the stripped KVM modules with their load order, and /kvmtest.
# usage: mkinitramfs.sh OUT.cpio[.gz|.lz4] STAGE_DIR INIT KVMTEST MODULES_DIR
# The compression follows OUT's suffix (none, gzip, lz4 legacy format).
set -euo pipefail
out=$1 stage=$2 init=$3 kvmtest=$4 mods=$5
busybox=${BUSYBOX:-/bin/busybox}
# A static binary has no program interpreter (there is no libc in here).
if [ ! -x "$busybox" ] || readelf -lW "$busybox" | grep -q INTERP; then
    echo "mkinitramfs: $busybox is missing or not static (package busybox-static)" >&2
    exit 1
fi
rm -rf "$stage"
mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,lib/modules,proc,sys,dev,tmp,root}
cp "$busybox" "$stage/bin/busybox"
# Every applet but modprobe: the kernel runs /sbin/modprobe (a user-mode
# helper) for each request_module() during boot, and with no such file each
# attempt fails at once instead of exec'ing busybox (tests/guests/linux/README.md).
for a in $("$busybox" --list-full); do
    case "$a" in */modprobe) continue ;; esac
    [ -e "$stage/$a" ] || ln -s /bin/busybox "$stage/$a"
done
install -m 755 "$init" "$stage/init"
install -m 755 "$kvmtest" "$stage/kvmtest"
for m in $(cat "$mods/order"); do cp "$mods/$m.ko" "$stage/lib/modules/"; done
cp "$mods/order" "$stage/lib/modules/order"
tmp="$out.tmp"
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --owner=0:0 --quiet) > "$tmp.cpio"
case "$out" in
*.gz) gzip -9 -n -c "$tmp.cpio" > "$tmp" ;;
*.lz4) lz4 -l -9 -q -c "$tmp.cpio" > "$tmp" ;;
*) cp "$tmp.cpio" "$tmp" ;;
esac
rm -f "$tmp.cpio"
mv "$tmp" "$out"
