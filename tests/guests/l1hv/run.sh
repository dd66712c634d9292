#!/bin/bash
# Boots l1hv in Bochs, on each CPU model given, in parallel, and checks the
# verdict. Bare (l1hv is the Multiboot2 kernel, real VT-x of Bochs) by
# default; with L1HV_NESTED=1 as L1 under nestvisor ("nested=on").
# usage: run.sh BUILD_DIR "MODEL..." ["l1hv ARGS"]
# Leaves BUILD_DIR/test/l1hv/<model>[-nested]/{serial.log,bochs.log}.
# Prints every PASS/FAIL/SKIP/BENCH line, then one summary line per model;
# exit status 0 iff every model ended with "GUEST l1hv DONE <n> passed 0 failed".
set -uo pipefail
build=$1 models=$2 args=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
nested=${L1HV_NESTED:-0}
limit=${L1HV_TIMEOUT:-180}

run_model() {
    local model=$1 suffix="" dir
    [ "$nested" = 1 ] && suffix=-nested
    dir=$build/test/l1hv/$model$suffix
    mkdir -p "$dir"
    if [ "$nested" = 1 ]; then
        "$root/tests/integration/mkiso.sh" "$dir/boot.iso" "$build/nestvisor.elf" "nested=on" \
            "$build/guests/l1hv.elf" "l1 $args" || return 1
    else
        "$root/tests/integration/mkiso.sh" "$dir/boot.iso" "$build/guests/l1hv.elf" "$args" ||
            return 1
    fi
    local start=$SECONDS
    "$root/tests/integration/bochs-run.sh" "$dir" "$dir/boot.iso" "$model" "$limit"
    local status=$? took=$((SECONDS - start))
    touch "$dir/serial.log"
    local done_line
    done_line=$(tr -d '\r' < "$dir/serial.log" | grep -o 'GUEST l1hv DONE .*' | tail -1)
    {
        tr -d '\r' < "$dir/serial.log" | grep -E '(PASS|FAIL|SKIP|BENCH|BENCHDATA) ' |
            sed "s/^/[$model$suffix] /"
        if [ $status -eq 124 ]; then
            echo "FAIL l1hv/$model$suffix: timeout after ${limit}s ($dir)"
        elif [ -z "$done_line" ]; then
            echo "FAIL l1hv/$model$suffix: no DONE line ($dir/serial.log)"
        elif [[ $done_line == *" 0 failed"* ]]; then
            echo "PASS l1hv/$model$suffix: $done_line (${took}s)"
        else
            echo "FAIL l1hv/$model$suffix: $done_line ($dir/serial.log)"
        fi
    } > "$dir/verdict.txt"
}

for m in $models; do
    run_model "$m" &
done
wait
status=0
for m in $models; do
    v=$build/test/l1hv/$m$([ "$nested" = 1 ] && echo -nested)/verdict.txt
    if [ -f "$v" ]; then
        cat "$v"
        tail -1 "$v" | grep -q '^PASS ' || status=1
    else
        echo "FAIL l1hv/$m: could not build the ISO"
        status=1
    fi
done
exit $status
