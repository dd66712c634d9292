#!/bin/sh
# make fuzz-long: runs libFuzzer targets one after the other, each for
# FUZZ_SECONDS (default 600) or, if FUZZ_RUNS is set, for that many
# executions, at nice FUZZ_NICE (default 10), and writes one summary line per
# target (executions, time, exec/s, libFuzzer's cov: and ft:, corpus) to
# OUT/long-summary.txt. Each target's log is OUT/long-NAME.log; new inputs
# go to OUT/long-NAME-corpus (fresh each run; the committed corpus is only
# read); a crash leaves OUT/long-NAME-crash-* and makes the exit status 1.
# The commit in the summary is git's HEAD ("+changes" if the tree differs)
# or FUZZ_COMMIT.
#
#   fuzz-long.sh OUT "NAMES TO RUN" "NAME BINARY CORPUS MAX_LEN"...
set -u
out=$1
want=$2
shift 2
seconds=${FUZZ_SECONDS:-600}
runs=${FUZZ_RUNS:-}
nice=${FUZZ_NICE:-10}
# FUZZ_COMMIT names the source when it is not a git checkout (an export).
if [ -n "${FUZZ_COMMIT:-}" ]; then
    commit=$FUZZ_COMMIT dirty=
else
    commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
    dirty=$(git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo "+changes" || true)
fi
status=0
mkdir -p "$out"
names=""
for spec in "$@"; do
    names="$names ${spec%% *}"
done

for spec in "$@"; do
    set -- $spec
    name=$1 bin=$2 corpus=$3 maxlen=$4
    case " $want " in *" $name "*) ;; *) continue ;; esac
    log=$out/long-$name.log
    scratch=$out/long-$name-corpus
    rm -rf "$scratch" && mkdir -p "$scratch"
    rm -f "$out"/long-$name-crash-* "$out"/long-$name-timeout-* "$out"/long-$name-oom-* "$out"/long-$name-leak-*
    if [ -n "$runs" ]; then limit="-runs=$runs"; else limit="-max_total_time=$seconds"; fi
    echo "fuzz-long: $name ($limit) ..."
    start=$(date +%s)
    nice -n "$nice" "$bin" $limit -max_len="$maxlen" -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$out/long-$name-" "$scratch" "$corpus" >"$log" 2>&1
    rc=$?
    end=$(date +%s)
    wall=$((end - start))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+' "$log" | grep 'cov:' | tail -1)
    cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
    corp=$(echo "$last" | sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p')
    result=PASS
    if [ $rc -ne 0 ]; then
        result="FAIL(rc=$rc, see $log)"
        status=1
    fi
    line="$name date=$(date -u +%Y-%m-%dT%H:%MZ) commit=$commit$dirty runs=${execs:-?} seconds=$wall exec/s=${eps:-?} cov=${cov:-?} ft=${ft:-?} corpus=${corp:-?} $result"
    echo "$line" >"$out/long-$name.summary"
    echo "fuzz-long: $line"
done

# One line per target, in the order given, from this run or an earlier one.
: >"$out/long-summary.txt"
for name in $names; do
    [ -f "$out/long-$name.summary" ] && cat "$out/long-$name.summary" >>"$out/long-summary.txt"
done
echo "fuzz-long: summary in $out/long-summary.txt"
exit $status
