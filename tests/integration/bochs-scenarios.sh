#!/bin/bash
# Runs Bochs scenarios from a table (see tests/integration/bochs.scenarios).
# usage: bochs-scenarios.sh BUILD_DIR TABLE [NAME_FILTER_REGEX]
# With BOCHS_UEFI=1 every scenario boots through nestvisor's UEFI loader
# from an ESP on upstream Bochs + OVMF instead of GRUB on Bochs 2.7
# (results "uefi/<name>", directories BUILD_DIR/test/uefi/).
# Each scenario gets its own ISO and directory under BUILD_DIR/test/bochs/,
# runs under a timeout, and passes only if every expected marker appears in
# the serial log, in order, and no forbidden one does. Two run at a time.
set -uo pipefail
build=$1 table=$2 filter=${3:-.}
here=$(dirname "$0")
results=${BOCHS_RESULTS:-$build/results.txt}
export build here results

run_one() {
    local line=$1
    IFS='|' read -r name model megs limit cmdline modules expect forbid <<< "$line"
    trim() { local s=$1; s=${s#"${s%%[![:space:]]*}"}; s=${s%"${s##*[![:space:]]}"}; printf '%s' "$s"; }
    name=$(trim "$name"); model=$(trim "$model"); megs=$(trim "$megs"); limit=$(trim "$limit")
    cmdline=$(trim "$cmdline"); modules=$(trim "$modules"); expect=$(trim "$expect"); forbid=$(trim "$forbid")
    # The same table on the other boot path: ESP + OVMF on upstream Bochs.
    local kind=bochs
    [ "${BOCHS_UEFI:-0}" = 1 ] && kind=uefi
    local dir=$build/test/$kind/$name
    mkdir -p "$dir"
    local args=()
    if [ -n "$modules" ]; then
        IFS=',' read -ra mods <<< "$modules"
        for m in "${mods[@]}"; do
            m=$(trim "$m")
            local file=${m%% *} str=${m#* }
            [ "$file" = "$m" ] && str=""
            args+=("$build/$file" "$str")
        done
    fi
    local result="" detail="" media=$dir/boot.iso mk=$here/mkiso.sh
    if [ "${BOCHS_UEFI:-0}" = 1 ]; then
        media=$dir/esp.img mk=$here/mkesp.sh
    fi
    if ! "$mk" "$media" "$build/nestvisor.elf" "$cmdline" "${args[@]}"; then
        result=FAIL detail="could not build $(basename "$media")"
    else
        local start=$SECONDS
        # "model*N": N CPUs.
        local cpus=1
        case "$model" in *'*'*) cpus=${model#*\*}; model=${model%%\**} ;; esac
        BOCHS_CPUS=$cpus "$here/bochs-run.sh" "$dir" "$media" "$model" "$limit" "$megs"
        local status=$?
        local log=$dir/serial.log
        touch "$log"
        if [ $status -eq 3 ]; then
            result=FAIL
            detail="Bochs died before the guest printed anything: $(tail -n 1 "$dir/bochs-died.txt" | sed 's/^ *//')"
        fi
        # Expected markers must appear in this order.
        local rest
        rest=$(tr -d '\r' < "$log")
        IFS=';' read -ra marks <<< "$expect"
        for mk in "${marks[@]}"; do
            [ -n "$result" ] && break
            mk=$(trim "$mk")
            [ -z "$mk" ] && continue
            case "$rest" in
            *"$mk"*) rest=${rest#*"$mk"} ;;
            *) result=FAIL; detail="missing marker '$mk'"; break ;;
            esac
        done
        if [ -z "$result" ]; then
            IFS=';' read -ra bad <<< "$forbid"
            for mk in "${bad[@]}" "L0 exception"; do
                mk=$(trim "$mk")
                [ -z "$mk" ] && continue
                case "$expect" in *"$mk"*) continue ;; esac
                if tr -d '\r' < "$log" | grep -qF -- "$mk"; then
                    result=FAIL; detail="forbidden marker '$mk' present"; break
                fi
            done
        fi
        if [ -z "$result" ] && [ $status -eq 124 ]; then
            result=FAIL detail="timed out after ${limit}s"
        fi
        [ -z "$result" ] && result=PASS detail="$((SECONDS - start))s"
    fi
    echo "$result $kind/$name ($model) $detail" | tee -a "$results"
    if [ "$result" = FAIL ]; then
        cat "$dir/bochs-died.txt" 2>/dev/null
        echo "---- last lines of $dir/serial.log ----"
        tail -n 25 "$dir/serial.log" 2>/dev/null | tr -d '\r'
        echo "---- bochs.log errors ----"
        grep -E '^[0-9]+[ep]\[' "$dir/bochs.log" 2>/dev/null | tail -n 5
        echo "----"
        return 1
    fi
}
export -f run_one

grep -vE '^\s*(#|$)' "$table" | grep -E -- "^\s*($filter)" |
    tr '\n' '\0' | xargs -0 -P 2 -I{} bash -c 'run_one "$1"' _ {}
