#!/bin/bash
# Boots nestvisor in Bochs, headless, and captures the serial log.
# usage: bochs-run.sh DIR MEDIA MODEL TIMEOUT_SECONDS [MEGS]
#   MEDIA: a GRUB ISO for Debian's Bochs 2.7 and its legacy BIOS (default),
#   or, with BOCHS_UEFI=1, an ESP disk image for upstream Bochs and OVMF
#   (tools/upstream-bochs.sh builds it once; shared/platform.md section 5).
#   BOCHS_UPSTREAM=1 boots the same GRUB ISO as the default on upstream Bochs
#   with upstream's own legacy BIOS and VGA BIOS: the rig for what Bochs 2.7
#   emulates wrongly (docs/bochs.md). BOCHS_UEFI=1 takes precedence.
# Environment: BOCHS_IPS (4000000), BOCHS_IGNORE_BAD_MSRS (0), BOCHS_CPUS (1),
# BOCHS_DEBUGGER_RC (debugger commands, Bochs 2.7 only; default "continue"),
# BOCHS_EXTRA_RC (one more bochsrc line), BOCHS_UEFI (0), BOCHS_UPSTREAM (0).
# Leaves DIR/bochsrc, serial.log, bochs.log, stdout.log. Exit status: 0 when
# Bochs ended by itself (it always reports 1; that is ignored), 124 on
# timeout, 3 when Bochs died before the guest wrote anything to the serial
# port: then DIR/bochs-died.txt holds Bochs's last words, which are printed.
set -uo pipefail
dir=$1 media=$2 model=$3 limit=$4 megs=${5:-256}
here=$(dirname "$0")
mkdir -p "$dir"
rm -f "$dir/serial.log" "$dir/bochs.log" "$dir/bochs-died.txt"
extra=()
[ -n "${BOCHS_EXTRA_RC:-}" ] && extra=("extra=$BOCHS_EXTRA_RC")
upstream=0
if [ "${BOCHS_UEFI:-0}" = 1 ]; then
    upstream=1
    bochs_dir=$("$here/../../tools/upstream-bochs.sh") || exit 2
    bochs=$bochs_dir/bin/bochs
    extra+=(firmware=ovmf boot=disk "vgarom=$bochs_dir/share/VGABIOS-lgpl/VGABIOS-lgpl-latest.bin")
    # A disk image keeps a lock file while Bochs runs: a stale one (a Bochs
    # killed hard) makes the next run refuse the disk.
    rm -f "$media.lock"
elif [ "${BOCHS_UPSTREAM:-0}" = 1 ]; then
    upstream=1
    bochs_dir=$("$here/../../tools/upstream-bochs.sh") || exit 2
    bochs=$bochs_dir/bin/bochs
    extra+=(firmware=bios bochs=upstream "rom=$bochs_dir/share/BIOS-bochs-latest"
        "vgarom=$bochs_dir/share/VGABIOS-lgpl/VGABIOS-lgpl-latest.bin")
else
    bochs=bochs
fi
"$here/bochsrc.sh" "$dir/bochsrc" media="$media" serial="$dir/serial.log" log="$dir/bochs.log" \
    model="$model" megs="$megs" cpus="${BOCHS_CPUS:-1}" ips="${BOCHS_IPS:-4000000}" \
    bad_msrs="${BOCHS_IGNORE_BAD_MSRS:-0}" "${extra[@]}" || exit 2

if [ $upstream = 1 ]; then
    # Built without the debugger and with a display that needs no port.
    # SIGINT, not SIGTERM, on timeout: Bochs then removes its disk lock.
    timeout -s INT --kill-after=5 "$limit" "$bochs" -q -f "$dir/bochsrc" \
        < /dev/null > "$dir/stdout.log" 2>&1
    status=$?
else
    printf '%s\n' "${BOCHS_DEBUGGER_RC:-continue}" > "$dir/debugger.rc"
    # Bochs 2.7's RFB display binds the first free port from 5900 up, but two
    # instances starting together can both bind one port; the loser's
    # listen() fails and it never retries on a fresh socket (">>PANIC<< RFB
    # could not bind any port"). So starts are serialized until RFB listens.
    exec 9> "${TMPDIR:-/tmp}/nestvisor-bochs-rfb.lock"
    flock 9
    timeout --kill-after=5 "$limit" bochs -q -f "$dir/bochsrc" -rc "$dir/debugger.rc" \
        < /dev/null > "$dir/stdout.log" 2>&1 9>&- &
    pid=$!
    for _ in $(seq 200); do
        grep -qE 'RFB.*(listening for connections|PANIC)' "$dir/bochs.log" 2>/dev/null && break
        kill -0 $pid 2>/dev/null || break
        sleep 0.05
    done
    exec 9>&-
    wait $pid
    status=$?
fi
[ $status -eq 124 ] && exit 124
"$here/bochs-died.sh" "$dir" && exit 3
exit 0
