#!/usr/bin/env bash
# check_headers.sh COMPILER LANG STD INCLUDE_DIR GENERATED_INCLUDE_DIR
# Compiles devsys.h, and every public header alone (self-contained), with
# -Wall -Wextra -pedantic -Werror in the given language standard.
set -euo pipefail
cc=$1 lang=$2 std=$3 inc=$4 geninc=$5
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
for h in devsys.h $(cd "$inc" && find devsys -name '*.h' | sort); do
  printf '#include <%s>\n#include <%s>\nint main(void) { return 0; }\n' "$h" "$h" > "$tmp/t.$lang"
  [ "$lang" = c++ ] && sed -i 's/(void)/()/' "$tmp/t.$lang"
  if ! "$cc" -x "$lang" "$std" -I"$inc" -I"$geninc" -Wall -Wextra -pedantic -Werror -fsyntax-only "$tmp/t.$lang"; then
    echo "FAIL: <$h> does not compile as $lang $std"
    exit 1
  fi
  n=$((n + 1))
done
echo "$n headers compile as $lang $std"
