#!/usr/bin/env bash
# abidiff the built library against the committed baseline abi/libdevsys.abi.
# Fails on any removed or changed function/variable or type layout change
# (libabigail exit bits 4/8 with a non-addition change). Added functions are
# compatible. To accept a deliberate change, regenerate the baseline in the
# same commit: scripts/abi-baseline (see docs/abi.md).
set -euo pipefail
lib=$1 baseline=$2 srcdir=$3 bindir=$4
if ! command -v abidw >/dev/null || ! command -v abidiff >/dev/null; then
  why="abidw/abidiff not installed (apt-get install abigail-tools)"
  # Like dt_skip: CI must run every check. 77 is ctest's SKIP_RETURN_CODE here.
  case ${CI:-} in true | 1) echo "FAIL: CI=true forbids skipping: $why"; exit 1 ;; esac
  echo "skipped: $why"; exit 77
fi
[ -f "$baseline" ] || { echo "no ABI baseline at $baseline: run scripts/abi-baseline"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# --drop-private-types: the bodies of opaque handles (defined in lib/*.c, not in
# a public header) are not ABI; only types the public headers define are compared.
abidw --drop-private-types --no-corpus-path --no-comp-dir-path --headers-dir "$srcdir/include" --headers-dir "$bindir/include" \
      --out-file "$tmp/current.abi" "$lib"
set +e
abidiff --no-added-syms "$baseline" "$tmp/current.abi" >"$tmp/report.txt" 2>&1
rc=$?
set -e
cat "$tmp/report.txt"
if [ $((rc & 1)) -ne 0 ] || [ $((rc & 2)) -ne 0 ]; then
  echo "abidiff itself failed (exit $rc)"; exit 1
fi
if [ $((rc & 8)) -ne 0 ]; then
  echo "FAIL: incompatible ABI change against $baseline"; exit 1
fi
if [ $((rc & 4)) -ne 0 ]; then
  echo "FAIL: ABI change against $baseline (layout or signature); if deliberate, regenerate with scripts/abi-baseline"; exit 1
fi
echo "ABI compatible with $baseline"
