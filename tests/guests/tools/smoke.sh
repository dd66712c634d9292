#!/bin/bash
# Boots every test guest directly under GRUB in Bochs (no hypervisor) and
# checks what must work on bare metal: the runtime (long mode, exceptions,
# output, power-off), both Multiboot versions, the timer/HLT test, the
# triple fault, and every case that does not need nestvisor.
# usage: smoke.sh BUILD_DIR [MB1_GUESTS] [NAME_REGEX]
# Leaves BUILD_DIR/test/guests-smoke/<scenario>/{serial.log,bochs.log}.
set -uo pipefail
build=$1 mb1=${2:-hlt} filter=${3:-[^ |]+}
here=$(cd "$(dirname "$0")" && pwd)
model=${SMOKE_MODEL:-tigerlake}
export build mb1 here model

# scenario | guest | command line | cases that must PASS | markers that must appear
# ("-" = the guest must end with "GUEST <guest> DONE"; "triple" = must triple fault)
table() {
cat <<'T'
cpuid   | cpuid  | rtselftest       | rt_no_fault rt_de rt_bp rt_ud rt_gp rt_gp_error rt_pf rt_pf_info rt_recovery smx_clear osxsave_mirror waitpkg_clear leaf_14_zero hv_range_zero vendor brand_string | -
msr     | msr    |                  | fs_base_rw gs_base_rw kernel_gs_base_rw star_rw lstar_rw cstar_rw fmask_rw sysenter_cs_rw sysenter_esp_rw sysenter_eip_rw tsc_aux_rw pat_rw efer_read tsc_read feature_control_write_gp bogus_12345678_read_gp bogus_12345678_write_gp bogus_c0001234_read_gp bogus_c0001234_write_gp mtrrcap_read mtrr_def_type_rw mtrr_physbase_rw | -
cr      | cr     | nested=0         | cr0_ne_clear cr0_ne_set cr0_restore cr4_vmxe_clear cr4_pge cr4_osfxsr cr4_osxmmexcpt cr4_osxsave cr4_fsgsbase cr4_smxe_gp cr4_bit31_gp cr4_bit63_gp cr8_rw | -
io      | io     |                  | lsr scratch | io: this line was written to COM1 with port I/O
hlt     | hlt    | rounds=5         | multiboot1 multiboot1_info pit_interrupt pit_vector pit_hlt_wake lapic_interrupt lapic_vector lapic_hlt_wake | GUEST hlt DONE 8 passed 0 failed
hidden  | hidden |                  | | SKIP hidden.sink: nestvisor absent;GUEST hidden DONE 0 passed 0 failed
triple  | triple |                  | | triple
apsteal | apsteal |                 | madt_found madt_one_cpu no_cpu_taken still_running | -
bench   | bench  | loops=20000      | | BENCH l1.cpuid.roundtrip_insns ;SKIP bench.vmcall
crash   | io     | crash=ud         | | FAIL unexpected exception 6 at RIP;GUEST io DONE 0 passed 1 failed
T
}

run_one() {
    local line=$1
    IFS='|' read -r name guest cmdline cases markers <<< "$line"
    trim() { local s=$1; s=${s#"${s%%[![:space:]]*}"}; s=${s%"${s##*[![:space:]]}"}; printf '%s' "$s"; }
    name=$(trim "$name"); guest=$(trim "$guest"); cmdline=$(trim "$cmdline")
    cases=$(trim "$cases"); markers=$(trim "$markers")
    local dir=$build/test/guests-smoke/$name
    mkdir -p "$dir"
    rm -f "$dir/serial.log" "$dir/bochs.log"
    local v1=""
    case " $mb1 " in *" $guest "*) v1=-1 ;; esac
    if ! "$here/mkiso.sh" $v1 "$dir/boot.iso" "$build/guests/$guest.elf" "$cmdline"; then
        echo "FAIL guests-smoke/$name: could not build the ISO"
        return 1
    fi
    local start=$SECONDS
    "$here/../../integration/bochs-run.sh" "$dir" "$dir/boot.iso" "$model" 60 256
    local status=$?
    local log
    log=$(tr -d '\r' < "$dir/serial.log" 2>/dev/null)
    local problems=()
    [ $status -eq 124 ] && problems+=("timed out")
    for c in $cases; do
        grep -qxF "PASS $guest.$c" <<< "$log" || problems+=("no 'PASS $guest.$c'")
    done
    if [ "$markers" = triple ]; then
        grep -qF "triple: about to triple fault" <<< "$log" || problems+=("no announcement")
        [ "$(tail -n 1 <<< "$log")" = "triple: about to triple fault" ] ||
            problems+=("output after the announcement")
        grep -qF "3rd (13) exception with no resolution" "$dir/bochs.log" ||
            problems+=("bochs.log shows no triple fault")
    else
        [ "$markers" = - ] && markers="GUEST $guest DONE"
        IFS=';' read -ra marks <<< "$markers"
        for mk in "${marks[@]}"; do
            grep -qF -- "$mk" <<< "$log" || problems+=("missing '$mk'")
        done
        grep -qF "Shutdown port: shutdown requested" "$dir/bochs.log" ||
            problems+=("did not power off through port 0x8900")
    fi
    if [ ${#problems[@]} -eq 0 ]; then
        echo "PASS guests-smoke/$name ($((SECONDS - start))s; $(grep -c '^PASS ' <<< "$log") PASS, $(grep -c '^FAIL ' <<< "$log") FAIL lines)"
    else
        local IFS=';'
        echo "FAIL guests-smoke/$name: ${problems[*]}"
        tail -n 15 <<< "$log" | sed 's/^/    | /'
        return 1
    fi
}
export -f run_one

table | grep -E -- "^($filter)\s*\|" | tr '\n' '\0' | xargs -0 -P 2 -I{} bash -c 'run_one "$1"' _ {}
