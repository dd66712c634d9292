#!/bin/bash
# Tests of the Bochs rig itself (part of make test-bochs). A rig that hides
# a broken machine turns every scenario into a "missing marker" line; these
# checks catch that class of failure directly.
# usage: rig-selftest.sh BUILD_DIR       (needs BUILD_DIR/nestvisor.elf)
# Appends "PASS|FAIL rig/<check>" lines to $BOCHS_RESULTS or BUILD_DIR/results.txt.
set -uo pipefail
build=$1
here=$(dirname "$0")
top=$(cd "$here/../.." && pwd)
results=${BOCHS_RESULTS:-$build/results.txt}
dir=$build/test/rig
mkdir -p "$dir"
iso=$dir/bare.iso
"$here/mkiso.sh" "$iso" "$build/nestvisor.elf" "" || exit 1
status=0
verdict() { # NAME OK WHY
    if [ "$2" = 0 ]; then
        echo "PASS rig/$1" | tee -a "$results"
    else
        echo "FAIL rig/$1: $3" | tee -a "$results"
        status=1
    fi
}

# 1. Every host-dependent Bochs device is set explicitly, for both firmwares.
for fw in bios ovmf; do
    rc=$dir/bochsrc.$fw
    "$here/bochsrc.sh" "$rc" media=x.iso serial=s.log log=b.log firmware=$fw vgarom=v.bin
    missing=""
    sound='^sound: waveoutdrv=dummy, waveindrv=dummy, midioutdrv=dummy$'
    [ $fw = ovmf ] && sound='^# sound: none compiled into the upstream build'
    for want in "$sound" '^display_library: ' \
        '^speaker: enabled=0$' '^mouse: enabled=0$' '^parport1: enabled=0$' '^clock: sync=none' \
        '^com1: enabled=1, mode=file' '^log: '; do
        grep -qE "$want" "$rc" || missing="$missing '$want'"
    done
    verdict "bochsrc.$fw.host_independent" "$([ -z "$missing" ]; echo $?)" "bochsrc lacks$missing"
done

# 2. One place writes Bochs configurations: no other script has a bochsrc
# line of its own.
others=$(cd "$top" && git ls-files 2>/dev/null | grep -E '\.(sh|mk)$|Makefile$' |
    grep -vE '^tests/integration/(bochsrc|rig-selftest).sh$' | xargs grep -lE '^[^#]*(romimage|vgaromimage|ata0-master):' 2>/dev/null)
verdict bochsrc.one_place "$([ -z "$others" ]; echo $?)" "bochsrc lines written outside tests/integration/bochsrc.sh: $others"

# 3. Bochs that dies before the guest prints anything is reported as such,
# with its own last words: here a ROM image that does not exist stands in
# for the sound crash of issue 9 (both kill Bochs before the BIOS runs).
BOCHS_EXTRA_RC="romimage: file=$dir/no-such-rom.bin" \
    "$here/bochs-run.sh" "$dir/early-death" "$iso" tigerlake 30 > "$dir/early-death.out" 2>&1
st=$?
words=$(cat "$dir/early-death/bochs-died.txt" 2>/dev/null)
ok=1
[ $st -eq 3 ] && grep -q "no-such-rom.bin" <<< "$words" && grep -q "^Bochs died before" <<< "$words" && ok=0
verdict bochs.early_death_reported "$ok" "exit status $st (want 3), last words: ${words:-none}"

# 4. The same rig does not call a healthy run dead: nestvisor without an
# L1 prints its banner and powers off.
"$here/bochs-run.sh" "$dir/healthy" "$iso" tigerlake 60 > "$dir/healthy.out" 2>&1
st=$?
ok=1
[ $st -eq 0 ] && [ ! -e "$dir/healthy/bochs-died.txt" ] && grep -q "bring-up complete" "$dir/healthy/serial.log" && ok=0
verdict bochs.healthy_not_dead "$ok" "exit status $st, serial log: $(head -c 200 "$dir/healthy/serial.log" 2>/dev/null)"
# 5. Bochs runs started at the same moment all come up (they share the
# host's TCP ports for their RFB displays).
for i in 1 2 3 4; do
    "$here/bochs-run.sh" "$dir/parallel$i" "$iso" tigerlake 60 > "$dir/parallel$i.out" 2>&1 &
done
wait
bad=""
for i in 1 2 3 4; do
    grep -q "bring-up complete" "$dir/parallel$i/serial.log" 2>/dev/null ||
        bad="$bad run $i: $(tail -n 1 "$dir/parallel$i/bochs-died.txt" 2>/dev/null || echo 'no banner')"
done
verdict bochs.parallel_starts "$([ -z "$bad" ]; echo $?)" "$bad"
exit $status
