#!/bin/bash
# Builds a FAT32 ESP image with mtools only (no root, no mounts).
# usage: mkesp.sh OUT.img TREE_DIR [SIZE_MIB]
# Every file under TREE_DIR lands at the same path in the image, e.g.
# TREE_DIR/EFI/BOOT/BOOTX64.EFI -> ::/EFI/BOOT/BOOTX64.EFI (the removable-
# media boot path, UEFI 2.10 section 3.5.1.1).
set -euo pipefail
out=$1 tree=$2 size_mib=${3:-64}
rm -f "$out.tmp"
truncate -s "${size_mib}M" "$out.tmp"
# mformat picks a cluster size that keeps FAT32's minimum cluster count.
mformat -i "$out.tmp" -F -v NESTVISOR ::
mcopy -s -Q -i "$out.tmp" "$tree"/* ::/
mv "$out.tmp" "$out"
