#!/bin/sh
# Prints "N passed, M failed" from a results file; fails if anything failed
# or nothing ran.
results=$1
passed=$(grep -c '^PASS ' "$results" 2>/dev/null)
failed=$(grep -c '^FAIL ' "$results" 2>/dev/null)
passed=${passed:-0}
failed=${failed:-0}
if [ "$failed" -gt 0 ]; then
    echo "failures:"
    grep '^FAIL ' "$results" | sed 's/^/  /'
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
