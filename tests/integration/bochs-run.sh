#!/bin/bash
# Boots an ISO in Bochs 2.7, headless, and captures the serial log.
# usage: bochs-run.sh DIR ISO MODEL TIMEOUT_SECONDS [MEGS]
# Leaves DIR/serial.log, DIR/bochs.log, DIR/stdout.log. Exit status: 0 when
# Bochs ended by itself (it always reports 1; that is ignored), 124 on timeout.
set -uo pipefail
dir=$1 iso=$2 model=$3 limit=$4 megs=${5:-256}
mkdir -p "$dir"
rm -f "$dir/serial.log" "$dir/bochs.log"
cat > "$dir/bochsrc" <<RC
megs: $megs
cpu: model=$model, count=1, ips=${BOCHS_IPS:-4000000}, reset_on_triple_fault=0, ignore_bad_msrs=${BOCHS_IGNORE_BAD_MSRS:-0}
clock: sync=none, time0=946684800
romimage: file=/usr/share/bochs/BIOS-bochs-latest, options=fastboot
vgaromimage: file=/usr/share/vgabios/vgabios.bin
ata0-master: type=cdrom, path="$iso", status=inserted
boot: cdrom
com1: enabled=1, mode=file, dev="$dir/serial.log"
port_e9_hack: enabled=1
display_library: rfb, options="timeout=0"
panic: action=fatal
error: action=report
log: "$dir/bochs.log"
speaker: enabled=0
mouse: enabled=0
RC
echo continue > "$dir/debugger.rc"
timeout --kill-after=5 "$limit" bochs -q -f "$dir/bochsrc" -rc "$dir/debugger.rc" \
    < /dev/null > "$dir/stdout.log" 2>&1
status=$?
[ $status -eq 124 ] && exit 124
exit 0
