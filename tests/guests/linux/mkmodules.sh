#!/bin/bash
# Copies kvm.ko, kvm-intel.ko and irqbypass.ko out of an unpacked kernel
# package, stripped so that insmod is fast in Bochs (README.md, "Modules"):
# - the appended module signature is cut off (the kernel does not enforce
#   signatures);
# - .BTF is removed (no BTF parsing at load);
# - __mcount_loc is removed: otherwise ftrace checks every one of its call
#   sites with a linear kallsyms search of the module (~100 M instructions
#   for kvm.ko); without it the call sites stay `call __fentry__`, and
#   __fentry__ is a bare RET while no function tracer runs;
# - the symbols not needed for relocation are stripped.
# Also writes OUT/order: the modules in load order, computed from their
# modinfo depends= fields.
# usage: mkmodules.sh UNPACKED_PKG_DIR OUT_DIR
set -euo pipefail
pkg=$1 out=$2
MODULES="kvm kvm-intel irqbypass"
magic='~Module signature appended~'
mkdir -p "$out"
declare -A deps
for m in $MODULES; do
    src=$(find "$pkg/lib/modules" -name "$m.ko" | head -n 1)
    [ -n "$src" ] || { echo "mkmodules: $m.ko not in $pkg" >&2; exit 1; }
    cp "$src" "$out/$m.ko.tmp"
    # Signature layout: module | PKCS#7 blob (sig_len) | struct module_signature
    # (12 bytes, sig_len big-endian in the last 4) | magic + "\n" (28 bytes).
    size=$(stat -c %s "$out/$m.ko.tmp")
    if [ "$(tail -c 28 "$out/$m.ko.tmp" | head -c 27)" = "$magic" ]; then
        siglen=$(tail -c 32 "$out/$m.ko.tmp" | head -c 4 | od -An -tu1 |
            awk '{ print (($1 * 256 + $2) * 256 + $3) * 256 + $4 }')
        truncate -s $((size - 28 - 12 - siglen)) "$out/$m.ko.tmp"
    fi
    objcopy --remove-section .BTF --remove-section __mcount_loc --remove-section .rela__mcount_loc \
        "$out/$m.ko.tmp"
    strip --strip-unneeded "$out/$m.ko.tmp"
    if tail -c 28 "$out/$m.ko.tmp" | grep -q "$magic"; then
        echo "mkmodules: $m.ko still carries a signature" >&2; exit 1
    fi
    mv "$out/$m.ko.tmp" "$out/$m.ko"
    deps[$m]=$(modinfo -F depends "$out/$m.ko" | tr ',' ' ')
done
# Topological order; module names use '_' where file names use '-'.
order="" left="$MODULES"
while [ -n "$left" ]; do
    next=""
    for m in $left; do
        ok=1
        for d in ${deps[$m]}; do
            case " $order " in *" ${d//_/-} "*) ;; *) ok=0 ;; esac
        done
        if [ $ok = 1 ]; then order="$order $m"; else next="$next $m"; fi
    done
    [ "$next" != "$left" ] || { echo "mkmodules: unresolved dependencies:$left" >&2; exit 1; }
    left=${next# }
    [ -n "$next" ] || left=""
done
echo "${order# }" > "$out/order"
