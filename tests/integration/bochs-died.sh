#!/bin/bash
# Did Bochs die before the guest wrote a byte to the serial port (a crash
# at start, a configuration Bochs refused, a missing ROM)? Then writes its
# last words to DIR/bochs-died.txt, prints them and exits 0; else exits 1.
# usage: bochs-died.sh DIR     (DIR as bochs-run.sh leaves it)
dir=$1
[ -s "$dir/serial.log" ] && exit 1
{
    echo "Bochs died before the guest wrote anything to the serial port; its last words:"
    # Its own errors and panics, and whatever it printed that is not a log
    # line (a libc abort, ALSA, a signal).
    grep -avE '^[0-9]{11}i\[' "$dir/stdout.log" 2>/dev/null | grep -avE '^\s*$|^=+$|^Bochs is exiting with|^Next at t=|^\(0\)|^<bochs' | tail -n 8
    grep -aE '^[0-9]+[ep]\[' "$dir/bochs.log" 2>/dev/null | tail -n 3
} | sed 's/^/  /; 1s/^  //' > "$dir/bochs-died.txt"
cat "$dir/bochs-died.txt"
exit 0
