#!/bin/bash
# Boots an ISO in Bochs and follows its serial log until Bochs ends.
# usage: run-live.sh BUILD_DIR ISO MODEL [TIMEOUT]
build=$1 iso=$2 model=$3 limit=${4:-600}
dir=$build/run
mkdir -p "$dir"
: > "$dir/serial.log"
tail -n +1 -F "$dir/serial.log" 2>/dev/null &
tailpid=$!
"$(dirname "$0")/bochs-run.sh" "$dir" "$iso" "$model" "$limit" 512
status=$?
sleep 0.3
kill $tailpid 2>/dev/null
wait $tailpid 2>/dev/null
[ $status -eq 124 ] && echo "run: Bochs timed out after ${limit}s" >&2
echo "(serial log: $dir/serial.log, Bochs log: $dir/bochs.log)"
