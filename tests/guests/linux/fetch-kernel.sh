#!/bin/bash
# Fetches the Debian 12 cloud kernel package once into a cache directory,
# without installing anything into the host.
# usage: fetch-kernel.sh CACHE_DIR
# Leaves CACHE_DIR/kernel.deb (a symlink to the downloaded .deb) and prints
# its file name. The package is the one the linux-image-cloud-amd64
# metapackage depends on (apt-cache depends); when that cannot be resolved
# or downloaded, LINUX_PKG_PIN is tried. A .deb already in CACHE_DIR is
# reused as is, so the network is touched at most once.
set -euo pipefail
cache=$1
pin=${LINUX_PKG_PIN:-linux-image-6.1.0-56-cloud-amd64}
mkdir -p "$cache"
cd "$cache"
if [ -e kernel.deb ]; then
    readlink kernel.deb
    exit 0
fi
have=$(ls -1 linux-image-6.1.0-*-cloud-amd64_*_amd64.deb 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$have" ]; then
    pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
        awk '/Depends: linux-image-6\.1\.0-[0-9]+-cloud-amd64/ { print $2; exit }' || true)
    for p in $pkg $pin; do
        echo "fetch-kernel: apt-get download $p" >&2
        # apt-get may warn that _apt cannot write here (it then downloads as root).
        if apt-get download -q "$p" >&2; then
            break
        fi
    done
    have=$(ls -1 linux-image-6.1.0-*-cloud-amd64_*_amd64.deb 2>/dev/null | sort -V | tail -n 1 || true)
fi
if [ -z "$have" ]; then
    echo "fetch-kernel: could not download $pkg or $pin (try apt-get update)" >&2
    exit 1
fi
ln -sf "$have" kernel.deb
echo "$have"
