#!/bin/bash
# Broken L1 images for the Bochs scenarios "bad-image-*": nestvisor must
# refuse each with a clear reason and power off cleanly.
# usage: mkbadimages.sh OUT_DIR
#   text.bin             neither ELF nor Linux: no Multiboot header either
#   bzimage-old.bin      a Linux boot header of protocol 2.04 (too old)
#   bzimage-trunc.bin    a protocol 2.15 header describing 4 KiB of kernel,
#                        cut after 2 KiB
set -euo pipefail
out=$1
mkdir -p "$out"

# Writes VALUE as N little-endian bytes at OFFSET in FILE.
put() {
    local file=$1 off=$2 n=$3 value=$4 i bytes=""
    for ((i = 0; i < n; i++)); do
        bytes+=$(printf '\\x%02x' $(((value >> (8 * i)) & 0xff)))
    done
    printf '%b' "$bytes" | dd of="$file" bs=1 seek="$off" conv=notrunc status=none
}

# A bzImage header (Documentation/arch/x86/boot.rst): one setup sector
# after the boot sector, SYSSIZE paragraphs of kernel, "HdrS", VERSION,
# loaded high.
bzimage() {
    local file=$1 version=$2 size=$3
    head -c "$size" /dev/zero > "$file"
    put "$file" $((0x1f1)) 1 1            # setup_sects
    put "$file" $((0x1f4)) 4 $((4096 / 16)) # syssize: 4 KiB
    put "$file" $((0x1fe)) 2 $((0xaa55))  # boot_flag
    put "$file" $((0x201)) 1 $((0x66))    # end of the header: 0x202 + 0x66
    put "$file" $((0x202)) 4 $((0x53726448)) # "HdrS"
    put "$file" $((0x206)) 2 "$version"
    put "$file" $((0x211)) 1 1            # loadflags: LOADED_HIGH
    put "$file" $((0x214)) 4 $((0x100000)) # code32_start
}

printf 'This is not a kernel.\n' > "$out/text.bin"
bzimage "$out/bzimage-old.bin" $((0x0204)) $((1024 + 4096))
bzimage "$out/bzimage-trunc.bin" $((0x020f)) $((1024 + 2048))
