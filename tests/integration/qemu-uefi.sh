#!/bin/bash
# Boots the UEFI loader under QEMU (TCG) + OVMF, one ESP image per case: the
# good path into the kernel and every loader error path.
# usage: qemu-uefi.sh BUILD_DIR [NAME_FILTER_REGEX]
# Each case gets BUILD_DIR/test/qemu/<case>/ (tree/, esp.img, serial.log) and
# prints "PASS qemu/<case> (Ns)" or "FAIL qemu/<case> <why>", also appended to
# BUILD_DIR/results.txt. Good cases end by themselves (the kernel powers off
# through isa-debug-exit: status (2<<1)|1 = 5 for "no VMX"); after a loader
# error OVMF goes on to its boot manager, so the case ends once the expected
# "returning ... to the firmware" line is in the serial log and QEMU is
# killed. The `screen` case keeps the machine on (power=halt), takes a
# screendump through the QEMU monitor and reads nestvisor's lines back out
# of it (qemu/screentext.c, built here): BUILD_DIR/test/qemu/screen/
# screen.ppm is the picture, screen.txt its text. Two cases run at a time.
set -uo pipefail
build=$1 filter=${2:-.}
here=$(cd "$(dirname "$0")" && pwd)
data=$here/qemu
loader=$build/BOOTX64.EFI
kernel=$build/nestvisor.elf
ovmf=/usr/share/ovmf/OVMF.fd
results=$build/results.txt
case_limit=30 # seconds; a good case takes ~4 (nearly all of it OVMF)
poll=0.2
parallel=2
esp=/EFI/nestvisor # on the ESP
exit_no_vmx=5      # kernel POWER_NO_VMX (2) through isa-debug-exit

screentext=$build/test/qemu/screentext # the host tool that reads the screen back

CASES="good modules linux no-config stale-key missing-kernel not-elf truncated-elf wrong-machine
no-note other-elf bad-config missing-module no-memory screen la57 memattr memattr-stuck"

# ---- helpers for building kernel variants ----

# Unsigned little-endian integer of N bytes at OFFSET in FILE.
read_le() { od -An -t "u$3" -j "$2" -N "$3" "$1" | tr -d ' '; }

# Writes VALUE as N little-endian bytes at OFFSET in FILE.
write_le() {
    local file=$1 off=$2 n=$3 value=$4 bytes="" i
    for ((i = 0; i < n; i++)); do
        bytes+=$(printf '\\x%02x' $(((value >> (8 * i)) & 0xff)))
    done
    printf "$bytes" | dd of="$file" bs=1 seek="$off" conv=notrunc status=none
}

# Offset of the last program header of TYPE (1 PT_LOAD, 4 PT_NOTE), ELF64
# spec: e_phoff at 32, e_phentsize at 54, e_phnum at 56.
find_phdr() {
    local file=$1 type=$2 phoff entsize num i at found=""
    phoff=$(read_le "$file" 32 8) entsize=$(read_le "$file" 54 2) num=$(read_le "$file" 56 2)
    for ((i = 0; i < num; i++)); do
        at=$((phoff + i * entsize))
        [ "$(read_le "$file" "$at" 4)" = "$type" ] && found=$at
    done
    echo "$found"
}

# ---- the cases: each stages files under $tree and sets what to expect ----
# expect: markers that must appear in this order; forbid: markers that must
# not appear; status: QEMU's exit status, or "" when the loader is to return
# to the firmware (the case then ends at its "to the firmware" line).

stage_loader() {
    mkdir -p "$tree/EFI/BOOT" "$tree$esp"
    cp "$loader" "$tree/EFI/BOOT/BOOTX64.EFI"
}
put() { cp "$1" "$tree$esp/$2"; }
expect_error() {
    expect=("nestvisor-loader: error: $1" "nestvisor-loader: returning $2 to the firmware")
    forbid=("nestvisor 0.1" "jumping to")
    status=""
}
# The kernel got control from the loader, with this command line.
expect_kernel() {
    expect+=("nestvisor-loader: boot services exited" "nestvisor 0.1"
             "loaded by UEFI at 0x" "command line \"$1\""
             "VMX unavailable: CPUID.1:ECX.VMX=0")
    forbid=("error:" "returning")
    status=$exit_no_vmx
}

case_good() { # the shipped default config
    put "$kernel" nestvisor.elf
    put "$here/../../boot/efi/nestvisor.cfg" nestvisor.cfg
    expect=("nestvisor-loader: starting on UEFI"
            "nestvisor-loader: config \\EFI\\nestvisor\\nestvisor.cfg: kernel \\EFI\\nestvisor\\nestvisor.elf, 0 module(s), command line \"vmxcaps\""
            "nestvisor-loader: no EFI_MEMORY_ATTRIBUTE_PROTOCOL: the kernel's EfiLoaderCode pages keep the firmware's mapping"
            "nestvisor-loader: kernel \\EFI\\nestvisor\\nestvisor.elf: "
            ", entry 0x"
            "nestvisor-loader: hand-off at 0x"
            ", SMBIOS 0x")
    expect_kernel vmxcaps
    # QEMU's OVMF has SMBIOS; its F-segment is ROM (docs/boot.md, SMBIOS).
    unset 'expect[-1]'
    expect+=("smbios: SMBIOS 2.8 entry point from 0x" "VMX unavailable: CPUID.1:ECX.VMX=0")
}

# Test builds of the loader (boot/efi/efi.mk): firmware running with
# 5-level paging, and firmware with EFI_MEMORY_ATTRIBUTE_PROTOCOL that maps
# the kernel's pages non-executable (the build brings its own protocol).
case_la57() {
    cp "$build/efi/la57/BOOTX64.EFI" "$tree/EFI/BOOT/BOOTX64.EFI"
    put "$kernel" nestvisor.elf
    expect_error "the firmware runs with 5-level paging (CR4.LA57=1)" EFI_UNSUPPORTED
}

case_memattr() {
    cp "$build/efi/memattr/BOOTX64.EFI" "$tree/EFI/BOOT/BOOTX64.EFI"
    put "$kernel" nestvisor.elf
    expect=("nestvisor-loader: kernel range 0x" "was XP: cleared")
    expect_kernel ""
}

case_memattr-stuck() {
    cp "$build/efi/memattr-stuck/BOOTX64.EFI" "$tree/EFI/BOOT/BOOTX64.EFI"
    put "$kernel" nestvisor.elf
    expect_error '\EFI\nestvisor\nestvisor.elf: kernel range 0x' EFI_ACCESS_DENIED
    expect=("stays XP after ClearMemoryAttributes (EFI_SUCCESS)" "${expect[@]}")
}

case_modules() { # every key, CRLF endings, a module and an empty one
    put "$kernel" nestvisor.elf
    sed 's/$/\r/' "$data/modules.cfg" > "$tree$esp/nestvisor.cfg"
    head -c 1048576 /dev/zero > "$tree$esp/blob.bin"
    : > "$tree$esp/empty.bin"
    expect=("2 module(s), command line \"vmxcaps serial=0x3f8 baud=115200 loglevel=debug\""
            "nestvisor-loader: module blob: \\EFI\\nestvisor\\blob.bin, 1048576 bytes at 0x"
            "arguments \"first=1 second\""
            "nestvisor-loader: module empty: /EFI/nestvisor/empty.bin, 0 bytes at 0x")
    expect_kernel "vmxcaps serial=0x3f8 baud=115200 loglevel=debug"
}

# A Linux L1 from the ESP (docs/linux-l1.md): the bzImage and initrd reach
# the kernel whole, named l1 and l1-initrd, with a Linux-sized command line
# (the loader and the kernel take up to 2047 characters). The kernel then
# stops for want of VMX, as on any TCG machine; the bzImage itself is loaded
# by the same code as on the GRUB path (make test-linux).
linux_kernel=${LINUX_KERNEL:-$build/linux/vmlinuz}
linux_initrd=${LINUX_INITRD:-$build/linux/initramfs.cpio}
case_linux() {
    put "$kernel" nestvisor.elf
    put "$linux_kernel" vmlinuz
    put "$linux_initrd" initrd.cpio
    local args filler
    filler=$(printf 'x%.0s' $(seq 1 1500))
    args="console=ttyS0,115200 quiet pad=$filler tsc_early_khz=4000"
    {
        printf '%s\n' 'kernel=\EFI\nestvisor\nestvisor.elf'
        printf '%s\n' "module=\\EFI\\nestvisor\\vmlinuz l1 $args"
        printf '%s\n' 'module=\EFI\nestvisor\initrd.cpio l1-initrd'
    } > "$tree$esp/nestvisor.cfg"
    local ksize isize
    ksize=$(stat -c %s "$linux_kernel") isize=$(stat -c %s "$linux_initrd")
    expect=("nestvisor-loader: module l1: \\EFI\\nestvisor\\vmlinuz, $ksize bytes at 0x"
            "nestvisor-loader: module l1-initrd: \\EFI\\nestvisor\\initrd.cpio, $isize bytes at 0x")
    expect_kernel ""
    unset 'expect[-1]' # VMX unavailable: after the modules
    expect+=("module 0: 'l1' $ksize bytes, now at 0x" "module 1: 'l1-initrd' $isize bytes, now at 0x"
             "VMX unavailable: CPUID.1:ECX.VMX=0")
}

case_no-config() {
    put "$kernel" nestvisor.elf
    expect=("nestvisor-loader: no \\EFI\\nestvisor\\nestvisor.cfg, using the defaults")
    expect_kernel ""
}

case_stale-key() { # a loader built to pass a stale key to its first ExitBootServices()
    cp "$build/efi/stale-key/BOOTX64.EFI" "$tree/EFI/BOOT/BOOTX64.EFI"
    put "$kernel" nestvisor.elf
    expect=("nestvisor-loader: exiting boot services"
            "nestvisor-loader: ExitBootServices refused the first map key; a fresh map did it")
    expect_kernel ""
}

# The screen (docs/boot.md, "The screen"): under TCG the kernel stops at
# "VMX unavailable"; with power=halt the machine stays on, so its last
# picture can be taken. Every character cell of the screendump must be a
# glyph of the console's font or blank, and the text must be the end of the
# kernel's serial log as the console lays it out (wrapped at its width),
# down to the last line.
case_screen() {
    put "$kernel" nestvisor.elf
    printf '%s\n' 'cmdline=power=halt' > "$tree$esp/nestvisor.cfg"
    expect_kernel power=halt
    expect+=("halted: it is safe to turn the machine off")
    screen_at="halted: it is safe to turn the machine off"
    status=0 # the monitor's quit
}

case_missing-kernel() {
    put "$here/../../boot/efi/nestvisor.cfg" nestvisor.cfg
    expect_error '\EFI\nestvisor\nestvisor.elf: cannot open (EFI_NOT_FOUND)' EFI_NOT_FOUND
}

case_not-elf() { # the loader itself: a PE file, not an ELF one
    put "$loader" nestvisor.elf
    expect_error '\EFI\nestvisor\nestvisor.elf: not an ELF file (bad magic)' EFI_LOAD_ERROR
}

case_truncated-elf() { # headers intact, segments cut off
    head -c 2000 "$kernel" > "$tree$esp/nestvisor.elf"
    expect_error '\EFI\nestvisor\nestvisor.elf: ELF segment extends beyond the end of the file (program header 0)' \
        EFI_LOAD_ERROR
}

case_wrong-machine() { # e_machine (offset 18) = EM_AARCH64
    put "$kernel" nestvisor.elf
    write_le "$tree$esp/nestvisor.elf" 18 2 183
    expect_error '\EFI\nestvisor\nestvisor.elf: ELF file is not for x86-64' EFI_LOAD_ERROR
}

case_no-note() { # the real kernel with its note renamed "Nestvisor"
    put "$kernel" nestvisor.elf
    local ph
    ph=$(find_phdr "$tree$esp/nestvisor.elf" 4)
    [ -n "$ph" ] || { echo "no PT_NOTE in $kernel"; return 1; }
    write_le "$tree$esp/nestvisor.elf" $(($(read_le "$tree$esp/nestvisor.elf" $((ph + 8)) 8) + 12)) 1 0x4e
    expect_error '\EFI\nestvisor\nestvisor.elf: no "nestvisor" entry note (not a nestvisor kernel?)' \
        EFI_LOAD_ERROR
}

case_other-elf() { # a valid x86-64 ELF that is not a nestvisor kernel
    put "$build/efi/bootx64.so" nestvisor.elf
    expect_error '\EFI\nestvisor\nestvisor.elf: no "nestvisor" entry note' EFI_LOAD_ERROR
}

case_bad-config() {
    put "$kernel" nestvisor.elf
    put "$data/bad-config.cfg" nestvisor.cfg
    expect_error '\EFI\nestvisor\nestvisor.cfg: line 3: unknown key "kernal"' EFI_INVALID_PARAMETER
}

case_missing-module() {
    put "$kernel" nestvisor.elf
    put "$data/missing-module.cfg" nestvisor.cfg
    expect_error '\EFI\nestvisor\l1.elf: cannot open (EFI_NOT_FOUND)' EFI_NOT_FOUND
}

case_no-memory() { # last PT_LOAD's p_memsz (at +40) raised to 1 GiB: more than -m 512M
    put "$kernel" nestvisor.elf    # (the segment is linked at -2 GiB: more would wrap)
    local ph
    ph=$(find_phdr "$tree$esp/nestvisor.elf" 1)
    write_le "$tree$esp/nestvisor.elf" $((ph + 40)) 8 $((1 << 30))
    expect_error '\EFI\nestvisor\nestvisor.elf: not enough memory below 4 GiB for the kernel' \
        EFI_OUT_OF_RESOURCES
}

# ---- running one case ----

# Starts QEMU in the background; sets qemu_pid. With screen_at, the human
# monitor is on the FIFOs $dir/monitor.in and .out (QEMU's pipe chardev),
# which this shell holds open read-write first so that neither side's open
# blocks: fd 3 writes commands, fd 4 collects what the monitor says.
start_qemu() {
    local monitor=(-monitor none)
    if [ -n "$screen_at" ]; then
        mkfifo "$dir/monitor.in" "$dir/monitor.out"
        exec 3<> "$dir/monitor.in" 4<> "$dir/monitor.out"
        monitor=(-chardev pipe,id=mon,path="$dir/monitor" -mon chardev=mon,mode=readline)
    fi
    timeout --kill-after=2 "$case_limit" qemu-system-x86_64 -machine q35 -m 512M -bios "$ovmf" \
        -drive format=raw,file="$dir/esp.img" -display none -serial file:"$dir/serial.log" \
        "${monitor[@]}" -no-reboot -net none -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
        < /dev/null > "$dir/qemu.log" 2>&1 &
    qemu_pid=$!
}

# The last line reaches the UART a moment before the screen, so the
# screendump is taken again (up to 5 times, 0.5 s apart) until the screen
# shows it; then QEMU is told to quit. Sets screen_info ("cols=... unknown=...").
take_screenshot() {
    local shot=$dir/screen.ppm try
    for try in 1 2 3 4 5; do
        rm -f "$shot"
        printf 'screendump %s\n' "$shot" >&3
        # The monitor writes the file while it runs the command; wait until
        # the whole picture is there (screentext reads it all or fails).
        local wait
        for wait in $(seq 1 50); do
            screen_info=$("$screentext" "$shot" "$dir/screen.txt" 2> "$dir/screentext.log") && break
            screen_info=""
            sleep 0.1
        done
        [ -n "$screen_info" ] && [ "$(tail -n 1 "$dir/screen.txt")" = "[info] $screen_at" ] && break
        sleep 0.5
    done
    printf 'quit\n' >&3
    timeout 1 cat <&4 | tr -d '\r' > "$dir/monitor.log"
    exec 3>&- 4<&-
}

# Waits until QEMU exits or (if stop_at is set) the serial log shows it.
# Sets qemu_status (124: timed out, "killed": stopped by us).
wait_qemu() {
    local stop_at=$1
    while kill -0 "$qemu_pid" 2> /dev/null; do
        if [ -n "$stop_at" ] && tr -d '\r' < "$dir/serial.log" | grep -qF -- "$stop_at"; then
            if [ -n "$screen_at" ]; then
                take_screenshot
                wait "$qemu_pid"
                qemu_status=$?
                return
            fi
            kill "$qemu_pid" 2> /dev/null
            wait "$qemu_pid" 2> /dev/null
            qemu_status=killed
            return
        fi
        sleep "$poll"
    done
    wait "$qemu_pid"
    qemu_status=$?
}

# Sets why if the log lacks a marker (in order) or has a forbidden one.
check_log() {
    local rest mk
    rest=$(tr -d '\r' < "$dir/serial.log")
    for mk in "${expect[@]}"; do
        case "$rest" in
        *"$mk"*) rest=${rest#*"$mk"} ;;
        *) why="missing '$mk'"; return ;;
        esac
    done
    for mk in "${forbid[@]}"; do
        if tr -d '\r' < "$dir/serial.log" | grep -qF -- "$mk"; then
            why="unexpected '$mk'"
            return
        fi
    done
}

# Sets why unless the screendump shows the end of the kernel's log: only
# glyphs of the console font (screentext's unknown=0), and its rows equal
# to the last rows of the serial log from the kernel's first line on,
# wrapped at the screen's width, ending with the screen_at line.
check_screen() {
    local cols unknown rows
    if [ -z "$screen_info" ]; then
        why="no readable screendump: $(tail -n 1 "$dir/screentext.log" 2> /dev/null)"
        return
    fi
    echo "$screen_info" > "$dir/screen.info"
    cols=$(sed -n 's/.*cols=\([0-9]*\).*/\1/p' <<< "$screen_info")
    unknown=$(sed -n 's/.*unknown=\([0-9]*\).*/\1/p' <<< "$screen_info")
    if [ "$unknown" != 0 ]; then
        why="screen: $unknown cells or margin pixels are not the console's (see $dir/screen.ppm)"
        return
    fi
    tr -d '\r' < "$dir/serial.log" |
        awk -v cols="$cols" '/^\[info\] screen: / { on = 1 }
            on && length($0) == 0 { print ""; next }
            on { for (i = 1; i <= length($0); i += cols) print substr($0, i, cols) }' |
        sed 's/ *$//' > "$dir/screen.expected"
    rows=$(wc -l < "$dir/screen.txt")
    if [ "$rows" -lt 10 ]; then
        why="screen: only $rows rows of text (see $dir/screen.txt)"
    elif ! tail -n "$rows" "$dir/screen.expected" | cmp -s - "$dir/screen.txt"; then
        why="screen: its text is not the end of the kernel's serial log (diff $dir/screen.expected $dir/screen.txt)"
    elif [ "$(tail -n 1 "$dir/screen.txt")" != "[info] $screen_at" ]; then
        why="screen: the last line is not '[info] $screen_at'"
    fi
}

run_case() {
    local name=$1 start=$SECONDS
    dir=$build/test/qemu/$name tree=$build/test/qemu/$name/tree
    expect=() forbid=() status="" why="" screen_at="" screen_info=""
    rm -rf "$dir"
    mkdir -p "$dir"
    : > "$dir/serial.log"
    stage_loader
    if ! "case_$name" > "$dir/stage.log" 2>&1; then
        why="could not stage the case: $(tail -n 1 "$dir/stage.log")"
    elif ! "$here/../../boot/efi/mkesp.sh" "$dir/esp.img" "$tree" > "$dir/mkesp.log" 2>&1; then
        why="could not build the ESP: $(tail -n 1 "$dir/mkesp.log")"
    else
        start_qemu
        local stop_at=""
        [ -z "$status" ] && stop_at="to the firmware"
        [ -n "$screen_at" ] && stop_at=$screen_at
        wait_qemu "$stop_at"
        check_log
        [ -z "$why" ] && [ -n "$screen_at" ] && check_screen
        if [ -z "$why" ] && [ "$qemu_status" = 124 ]; then
            why="timed out after ${case_limit}s"
        elif [ -z "$why" ] && [ -n "$status" ] && [ "$qemu_status" != "$status" ]; then
            why="QEMU exit status $qemu_status, want $status"
        fi
    fi
    if [ -z "$why" ]; then
        echo "PASS qemu/$name ($((SECONDS - start))s)" | tee -a "$results"
        return 0
    fi
    echo "FAIL qemu/$name $why" >> "$results"
    # One write, so that the two cases running at once do not interleave.
    printf '%s\n' "FAIL qemu/$name $why" "---- last lines of $dir/serial.log ----" \
        "$(tr -d '\r' < "$dir/serial.log" | tail -n 20)" "----"
    return 1
}

preflight() {
    local missing="" tool
    for tool in qemu-system-x86_64 mformat mcopy timeout od cc mkfifo; do
        command -v "$tool" > /dev/null || missing+=" $tool"
    done
    [ -r "$ovmf" ] || missing+=" $ovmf"
    [ -r "$loader" ] || missing+=" $loader"
    [ -r "$build/efi/stale-key/BOOTX64.EFI" ] || missing+=" $build/efi/stale-key/BOOTX64.EFI"
    [ -r "$kernel" ] || missing+=" $kernel"
    if [ -n "$missing" ]; then
        echo "FAIL qemu/setup missing:$missing (make deps; make)" | tee -a "$results"
        exit 1
    fi
}

preflight
mkdir -p "$build/test/qemu"
if ! cc -std=c11 -O2 -Wall -Wextra -Werror -I"$here/../.." -o "$screentext" "$data/screentext.c" \
    "$here/../../drivers/fbcon_font.c" 2> "$build/test/qemu/screentext.build.log"; then
    echo "FAIL qemu/setup cannot build $screentext: $(head -n 1 "$build/test/qemu/screentext.build.log")" |
        tee -a "$results"
    exit 1
fi
failed=0
running=0
for name in $CASES; do
    [[ $name =~ $filter ]] || continue
    run_case "$name" &
    running=$((running + 1))
    if [ "$running" -ge "$parallel" ]; then
        wait -n || failed=1
        running=$((running - 1))
    fi
done
while [ "$running" -gt 0 ]; do
    wait -n || failed=1
    running=$((running - 1))
done
exit $failed
