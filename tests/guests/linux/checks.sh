# shellcheck shell=bash disable=SC2154,SC2034 # prefix and log come from, status goes to, the caller
# Sourced by check-log.sh and check-l0.sh: the serial log as $text and the
# helpers that turn a check into a "PASS|FAIL <prefix><name>" line.
# The caller sets prefix and log first; status ends up 1 if a check failed.
status=0
died="$(dirname "$log")/bochs-died.txt"
if [ -f "$died" ]; then
    echo "FAIL ${prefix}bochs: $(paste -sd' ' "$died")"
    exit 1
fi
[ -f "$log" ] || { echo "FAIL ${prefix}log: no $log"; exit 1; }
# The console may use CRLF.
text=$(tr -d '\r' < "$log")
# shellcheck disable=SC2317 # has and hasnt are called through check
has() { grep -q -E "$1" <<< "$text"; }
# shellcheck disable=SC2317
hasnt() { ! has "$1"; }
# The first lines matching $1, or $2 when none does.
lines() {
    local l
    l=$(grep -E "$1" <<< "$text" | head -n 3 | paste -sd';' -)
    echo "${l:-$2}"
}
# check NAME WHY_IF_FAILED COMMAND...: PASS when COMMAND succeeds.
check() {
    local name=$1 why=$2
    shift 2
    if "$@"; then
        echo "PASS $prefix$name"
    else
        echo "FAIL $prefix$name: $why"
        status=1
    fi
}
