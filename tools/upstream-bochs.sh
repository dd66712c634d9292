#!/bin/bash
# Builds the pinned upstream Bochs (3.0.devel: OVMF with VMX, issue 11) once,
# into a cache outside the build tree that `make clean` and fresh clones on
# the same machine reuse, and prints its directory (bin/bochs, share/).
# Source: ../shared/third_party/bochs/bochs-<commit>.tar.xz next to the
# checkout, checked against its sha256; without it, the same commit of the
# public repository. ~5 min on 2 cores; needs build-essential and, for the
# configure line of ../shared/third_party/bochs/README.md (--with-term),
# libncurses-dev (tools/deps.sh).
# Environment: NESTVISOR_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/nestvisor).
set -euo pipefail
commit=783b58fd6d9bae598a07c59719122322fa0edce6
short=${commit:0:7}
sha256=188bc3c920a0a6aec047de631233b7cac29be20871fe7d06cbd405b68ab0336a
repo=https://github.com/bochs-emu/Bochs.git
top=$(cd "$(dirname "$0")/.." && pwd)
tarball=$top/../shared/third_party/bochs/bochs-$short.tar.xz
cache=${NESTVISOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nestvisor}
dir=$cache/bochs-$short
if [ -x "$dir/bin/bochs" ]; then
    echo "$dir"
    exit 0
fi
mkdir -p "$cache"
# One build at a time; a second caller waits and then finds it done.
exec 9> "$cache/bochs-$short.lock"
flock 9
if [ -x "$dir/bin/bochs" ]; then
    echo "$dir"
    exit 0
fi
work=$(mktemp -d "$cache/bochs-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
log=$cache/bochs-$short.build.log
echo "upstream-bochs: building Bochs $short once into $dir (log: $log)" >&2
{
    if [ -f "$tarball" ]; then
        echo "source: $tarball"
        echo "$sha256  $tarball" | sha256sum -c -
        tar -xJf "$tarball" -C "$work"
    else
        echo "source: $repo at $commit (no $tarball)"
        git init -q "$work/repo"
        git -C "$work/repo" fetch -q --depth 1 "$repo" "$commit"
        git -C "$work/repo" checkout -q FETCH_HEAD
        mv "$work/repo/bochs" "$work/bochs"
    fi
    cd "$work/bochs"
    ./configure --enable-x86-64 --enable-vmx=2 --enable-smp --enable-cpu-level=6 \
        --enable-all-optimizations --enable-pci --enable-usb --enable-avx --enable-evex \
        --enable-debugger=no --with-nogui --with-term
    make -j"$(nproc)"
} > "$log" 2>&1 || { echo "upstream-bochs: the build failed; last lines of $log:" >&2; tail -n 20 "$log" >&2; exit 1; }
mkdir -p "$work/out/bin" "$work/out/share"
cp "$work/bochs/bochs" "$work/out/bin/"
cp -r "$work/bochs/bios/." "$work/out/share/"
rm -rf "$dir"
mv "$work/out" "$dir"
echo "$dir"
