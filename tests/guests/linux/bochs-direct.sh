#!/bin/bash
# Boots the Linux + KVM test image on bare Bochs (Bochs's own VT-x, no
# nestvisor): a GRUB (i386-pc) ISO with `linux` + `initrd`, then Bochs.
# usage: bochs-direct.sh [OUT_DIR]            (default build/linux/direct)
# Environment:
#   LINUX_KERNEL, LINUX_INITRD  default build/linux/vmlinuz, build/linux/initramfs.cpio
#   LINUX_MODEL (tigerlake), LINUX_MEGS (256), LINUX_IPS (4000000),
#   LINUX_TIMEOUT (seconds, 300), BOCHS_CPUS (CPU count, 1)
#   LINUX_APPEND  more kernel arguments; ones the kernel does not know reach
#                 /init as variables, e.g. KVMTEST_ARGS="-m 16 timer" or
#                 INIT_DMESG=1 (tests/guests/linux/init)
# Leaves OUT_DIR/linux.iso, bochsrc, serial.log, bochs.log, stdout.log and
# summary.txt (wall time and instruction counts, README.md "Measuring").
# Exit status: 0 when Bochs ended by itself, 124 on timeout; whether the
# tests passed is check-log.sh's business.
set -uo pipefail
here=$(dirname "$0")
out=${1:-build/linux/direct}
# shellcheck source=tests/guests/linux/settings.sh
. "$here/settings.sh"
cmdline="$cmdline tsc_early_khz=$((ips / 1000))"

mkdir -p "$out"
iso="$out/linux.iso"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/boot/grub"
cp "$kernel" "$stage/boot/vmlinuz"
initrd_name=$(basename "$initrd")
cp "$initrd" "$stage/boot/$initrd_name"
cat > "$stage/boot/grub/grub.cfg" <<CFG
set timeout=0
set default=0
menuentry "linux" {
    linux /boot/vmlinuz $cmdline
    initrd /boot/$initrd_name
    boot
}
CFG
grub-mkrescue -d /usr/lib/grub/i386-pc --install-modules="linux normal iso9660 biosdisk configfile" \
    --fonts= --locales= --themes= -o "$iso.tmp" "$stage" >/dev/null 2>&1 ||
    { echo "bochs-direct: grub-mkrescue failed" >&2; exit 1; }
mv "$iso.tmp" "$iso"

rm -f "$out/summary.txt"
# ignore_bad_msrs=1 (Bochs's default): Linux's decompressor reads
# IA32_MISC_ENABLE (0x1a0), which Bochs does not implement; with 0 that #GP
# is a triple fault before the kernel prints anything.
# The debugger stops twice at linear 0x1000000: GRUB's jump to the
# kernel's 32-bit entry (the decompressor, loaded at the kernel's preferred
# address) and the decompressed kernel's startup_64, which lands there too
# (nokaslr). Each stop prints "Next at t=<ticks>"; then the breakpoint goes.
# With more than one CPU (BOCHS_CPUS) Bochs 2.7's debugger misses the first
# stop; a second breakpoint at 0x1000200, where the 32-bit entry jumps to
# the decompressor's 64-bit code ~32 K instructions later, stands in for it
# (summary.txt names the address).
start=$(date +%s.%N)
BOCHS_IGNORE_BAD_MSRS=1 BOCHS_IPS=$ips BOCHS_DEBUGGER_RC=$'lb 0x1000000\nlb 0x1000200\nc\nd 2\nc\nd 1\nc' \
    "$here/../../integration/bochs-run.sh" "$out" "$iso" "$model" "$limit" "$megs"
status=$?
end=$(date +%s.%N)

# Figures. Bochs's TSC and its log timestamps count ticks: one per emulated
# instruction, plus the time skipped while the CPU idles (HLT/MWAIT), which
# Linux reports as idle in /proc/uptime.
stops=$(sed -n 's/^Next at t=\([0-9]*\)$/\1/p' "$out/stdout.log" | tail -n +2 | tr '\n' ' ')
entry_at=$(sed -n 's/^([0-9]*) Breakpoint [0-9]*, \(0x[0-9a-f]*\) .*/\1/p' "$out/stdout.log" | head -n 1)
last=$(tail -n 1 "$out/bochs.log" 2>/dev/null | sed -n 's/^\([0-9]*\)[a-z].*/\1/p')
marker() { tr -d '\r' < "$out/serial.log" 2>/dev/null | grep -E "^$1 " | head -n 1; }
field() { sed -n "s/.* $1=\\([0-9.]*\\).*/\\1/p" <<< "$2"; }
init_line=$(marker "LINUX INIT REACHED")
done_line=$(marker "LINUX TEST DONE")
# shellcheck disable=SC2086 # word splitting wanted
set -- $stops
entry=${1:-} startup64=${2:-}
{
    echo "model=$model cpus=${BOCHS_CPUS:-1} megs=$megs ips=$ips"
    echo "cmdline=$cmdline"
    awk -v s="$start" -v e="$end" 'BEGIN { printf "wall_seconds=%.1f\n", e - s }'
    [ -n "$last" ] && echo "total_ticks=$((10#$last))"
    [ -n "$entry" ] && echo "kernel_entry_tick=$entry (BIOS + GRUB before it; stop at $entry_at)"
    [ -n "$startup64" ] && echo "startup_64_tick=$startup64 (decompression: $((startup64 - entry)))"
    if [ -n "$init_line" ]; then
        up=$(field uptime "$init_line") idle=$(field idle "$init_line") tsc=$(field tsc "$init_line")
        awk -v u="$up" -v i="$idle" -v ips="$ips" 'BEGIN {
            printf "init_uptime=%s init_idle=%s init_busy_instructions_M=%.0f\n", u, i, (u - i) * ips / 1e6 }'
        if [ -n "$tsc" ] && [ -n "$entry" ]; then
            echo "init_tsc=$tsc entry_to_init_ticks=$((tsc - entry)) startup_64_to_init_ticks=$((tsc - startup64))"
        fi
    fi
    if [ -n "$done_line" ]; then
        up=$(field uptime "$done_line") idle=$(field idle "$done_line")
        awk -v u="$up" -v i="$idle" -v ips="$ips" 'BEGIN {
            printf "done_uptime=%s done_idle=%s done_busy_instructions_M=%.0f\n", u, i, (u - i) * ips / 1e6 }'
    fi
    [ $status -eq 124 ] && echo "timeout=$limit"
} > "$out/summary.txt"
cat "$out/summary.txt"
[ $status -eq 124 ] && exit 124
exit 0
