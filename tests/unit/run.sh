#!/bin/bash
# Runs cmocka test binaries and reports one PASS/FAIL line per test case.
# usage: run.sh BUILD_DIR BINARY...   (appends to BUILD_DIR/results.txt)
build=$1
shift
results=$build/results.txt
failed=0
for bin in "$@"; do
    suite=$(basename "$bin")
    suite=${suite#test_}
    out=$(CMOCKA_MESSAGE_OUTPUT=TAP "$bin" 2>&1)
    status=$?
    cases=$(printf '%s\n' "$out" | grep -cE '^(not )?ok ')
    while IFS= read -r line; do
        case "$line" in
        "ok "*) echo "PASS unit/$suite/${line#ok * - }" ;;
        "not ok "*) echo "FAIL unit/$suite/${line#not ok * - }" ;;
        esac
    done <<< "$out" | tee -a "$results"
    if [ $status -ne 0 ] || [ "$cases" -eq 0 ]; then
        echo "FAIL unit/$suite (exit status $status)" | tee -a "$results"
        printf '%s\n' "$out" | grep -vE '^(not )?ok |^1\.\.' | tail -20
        failed=1
    fi
done
exit $failed
