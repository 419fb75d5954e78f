#!/bin/sh
# The out-of-tree example runner registers and runs. Usage: example_echo.sh EXAMPLE
out=$("$1" deploy --dry-run) || { echo "FAIL: exit status $?"; exit 1; }
want='[echo] would run: deploy --dry-run
result: ok, exit 0'
[ "$out" = "$want" ] || { echo "FAIL: got '$out'"; exit 1; }
echo "example ok"
