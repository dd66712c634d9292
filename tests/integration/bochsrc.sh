#!/bin/bash
# Writes a Bochs configuration: the one place the project's bochsrc files are
# made (scenarios, make run, make bench, the Linux rigs).
# usage: bochsrc.sh OUT KEY=VALUE...
#   media=PATH       the boot medium (required)
#   boot=cdrom|disk  an El Torito ISO (default) or a raw disk image (an ESP)
#   serial=PATH      COM1's output file (required)
#   log=PATH         Bochs's own log (required)
#   model=NAME       CPU model (tigerlake)     cpus=N   CPU count (1)
#   megs=N           RAM in MiB (256)          ips=N    instructions/s (4000000)
#   bad_msrs=0|1     ignore_bad_msrs (0: unknown MSRs #GP)
#   firmware=bios|ovmf   legacy BIOS (default) or OVMF (upstream Bochs only,
#                    issue 11); ovmf needs vgarom=PATH from its build
#   bochs=2.7|upstream   the binary the file is for: Debian's Bochs 2.7
#                    (default) or the upstream build of tools/upstream-bochs.sh
#                    (no sound, nogui display); firmware=ovmf implies upstream
#   rom=PATH, vgarom=PATH   the BIOS and VGA BIOS images of firmware=bios
#                    (default: Debian's); upstream's come from its build
#   extra=LINE       one more line, verbatim (repeatable)
# Every device whose default Bochs would take from the host is set here:
# sound (Bochs 2.7 opens ALSA's default device otherwise and aborts where
# there is none), display, speaker, mouse, parallel port, clock. The last
# line is a marker that tests/integration/rig-selftest.sh looks for.
set -euo pipefail
out=$1
shift
media="" boot=cdrom serial="" log="" model=tigerlake cpus=1 megs=256 ips=4000000
bad_msrs=0 firmware=bios bochs=2.7 rom="" vgarom="" extras=()
for kv in "$@"; do
    case "$kv" in
    media=*) media=${kv#*=} ;;
    boot=*) boot=${kv#*=} ;;
    serial=*) serial=${kv#*=} ;;
    log=*) log=${kv#*=} ;;
    model=*) model=${kv#*=} ;;
    cpus=*) cpus=${kv#*=} ;;
    megs=*) megs=${kv#*=} ;;
    ips=*) ips=${kv#*=} ;;
    bad_msrs=*) bad_msrs=${kv#*=} ;;
    firmware=*) firmware=${kv#*=} ;;
    bochs=*) bochs=${kv#*=} ;;
    rom=*) rom=${kv#*=} ;;
    vgarom=*) vgarom=${kv#*=} ;;
    extra=*) extras+=("${kv#*=}") ;;
    *) echo "bochsrc.sh: unknown setting '$kv'" >&2; exit 2 ;;
    esac
done
for need in media serial log; do
    [ -n "${!need}" ] || { echo "bochsrc.sh: $need= is required" >&2; exit 2; }
done
[ "$firmware" = ovmf ] && bochs=upstream
case "$bochs" in
2.7 | upstream) ;;
*) echo "bochsrc.sh: bochs=$bochs: 2.7 or upstream" >&2; exit 2 ;;
esac
# Bochs emulates the CPUs round-robin, 16 instructions each by default.
cpu_line="cpu: model=$model, count=$cpus, ips=$ips, reset_on_triple_fault=0, ignore_bad_msrs=$bad_msrs"
[ "$cpus" -gt 1 ] && cpu_line="$cpu_line, quantum=16"
{
    echo "megs: $megs"
    echo "$cpu_line"
    echo "clock: sync=none, time0=946684800"
    case "$firmware" in
    bios)
        echo "romimage: file=${rom:-/usr/share/bochs/BIOS-bochs-latest}, options=fastboot"
        echo "vgaromimage: file=${vgarom:-/usr/share/vgabios/vgabios.bin}"
        if [ "$bochs" = 2.7 ]; then
            # Debian's Bochs 2.7 has no nogui; rfb with no client waits for
            # nobody and takes the first free port from 5900 up.
            echo 'display_library: rfb, options="timeout=0"'
        else
            echo "display_library: nogui"
        fi
        ;;
    ovmf)
        [ -n "$vgarom" ] || { echo "bochsrc.sh: firmware=ovmf needs vgarom=" >&2; exit 2; }
        echo "romimage: file=/usr/share/ovmf/OVMF.fd"
        echo "vgaromimage: file=$vgarom"
        echo "pci: enabled=1, chipset=i440fx, slot1=pcivga"
        # OVMF stops early without fw_cfg (shared/platform.md section 5).
        echo "fw_cfg: enabled=1"
        echo "display_library: nogui"
        ;;
    *) echo "bochsrc.sh: firmware=$firmware: bios or ovmf" >&2; exit 2 ;;
    esac
    case "$boot" in
    cdrom)
        echo "ata0-master: type=cdrom, path=\"$media\", status=inserted"
        echo "boot: cdrom"
        ;;
    disk)
        echo "ata0-master: type=disk, path=\"$media\", mode=flat"
        echo "boot: disk"
        ;;
    *) echo "bochsrc.sh: boot=$boot: cdrom or disk" >&2; exit 2 ;;
    esac
    echo "com1: enabled=1, mode=file, dev=\"$serial\""
    echo "port_e9_hack: enabled=1"
    echo "panic: action=fatal"
    echo "error: action=report"
    echo "log: \"$log\""
    if [ "$bochs" = 2.7 ]; then
        echo "sound: waveoutdrv=dummy, waveindrv=dummy, midioutdrv=dummy"
    else
        # A sound line there is a panic ("not compiled with lowlevel sound support").
        echo "# sound: none compiled into the upstream build (tools/upstream-bochs.sh)"
    fi
    echo "speaker: enabled=0"
    echo "mouse: enabled=0"
    echo "parport1: enabled=0"
    for x in "${extras[@]}"; do
        echo "$x"
    done
    echo "# host-independent: sound display speaker mouse parport clock"
} > "$out"
