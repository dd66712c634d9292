#!/bin/sh
# Installs the Debian 12 packages nestvisor's build and tests need, if any
# are missing. Runs apt-get (as root, or through sudo when available).
set -e
PACKAGES="build-essential nasm gnu-efi mtools xorriso grub-pc-bin grub-common
bochs bochsbios vgabios qemu-system-x86 ovmf libcmocka-dev clang lld
libclang-rt-14-dev busybox-static cpio lz4 kmod xz-utils git libncurses-dev"
missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
