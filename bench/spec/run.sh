#!/bin/sh
# Spec benchmark: 10 000 generated task specs (10 % of them invalid: a wrong
# type, a missing repo.url, a privileged key, a bad duration), parse + validate
# against the canonical task schema, for libdevsys, ajv 8 (+ js-yaml 4) and Python
# jsonschema (+ PyYAML CSafeLoader), all measured in this run. Prints
# docs/s, ratios and each process's peak RSS (GNU time). The three run in
# turn ROUNDS times (default 3) and each keeps its best rate, so that load
# from other processes on a shared machine skews the ratios less.
# The valid count of all three must match the generator's before any ratio
# is printed. Then the YAML floor (bench_spec --yaml-floor): libdevsys YAML to
# document, no validation, against libyaml's event parse on the same documents.
# Usage: bench/spec/run.sh BUILD_DIR [N] [ROUNDS]
# Figures in docs/specs.md came from:
#   cmake -S . -B build/rel -DCMAKE_BUILD_TYPE=RelWithDebInfo && cmake --build build/rel -j2
#   npm install --prefix .deps/node ajv@8 js-yaml@4      (once)
#   bench/spec/run.sh build/rel 10000 3                 (run twice)
set -eu
build=${1:?usage: run.sh BUILD_DIR [N] [ROUNDS]}
n=${2:-10000}
rounds=${3:-3}
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
schema="$src/specs/task.schema.json"
data=$(mktemp -d "${TMPDIR:-/tmp}/devsys-bench-spec.XXXXXX")
trap 'rm -rf "$data"' EXIT
bin="$build/bench/spec/bench_spec"
[ -x "$bin" ] || { echo "missing $bin: build the project first" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "needs GNU time (apt-get install time)" >&2; exit 2; }

/usr/bin/python3 "$here/gen.py" "$n" "$data"
measure() { # name cmd...
  name=$1; shift
  /usr/bin/time -f "%M" -o "$data/$name.rss.$r" "$@" > "$data/$name.out.$r"
  cat "$data/$name.out.$r"
  echo "$name peak RSS: $(( $(cat "$data/$name.rss.$r") / 1024 )) MiB"
}
r=1
while [ "$r" -le "$rounds" ]; do
  echo "-- round $r of $rounds"
  measure libdevsys "$bin" "$data"
  if [ -f "$src/.deps/node/node_modules/ajv/package.json" ]; then
    NODE_PATH="$src/.deps/node/node_modules" measure ajv node "$here/anchor_ajv.js" "$schema" "$data"
  else
    echo "ajv: skipped (npm install --prefix $src/.deps/node ajv@8 js-yaml@4)"
  fi
  measure python /usr/bin/python3 "$here/anchor_py.py" "$schema" "$data"
  r=$((r + 1))
done

# The three validators must agree, with each other and with the generator, on
# how many specs are valid (per format, every round) before any ratio means anything.
want=$(cat "$data/expected_valid")
bad=$(cat "$data"/*.out.* | awk -v w="$want" '$5 != w { print $1 " " $2 ": " $5 " valid, expected " w }')
if [ -n "$bad" ]; then
  echo "MISMATCH: the validators disagree on the valid count; no ratio printed" >&2
  echo "$bad" >&2
  exit 1
fi
echo "valid count: all validators and formats agree, $want of $n valid"

# best rate over the rounds
rate() { cat "$data"/*.out.* | awk -v t="$1 $2" '($1" "$2)==t && $(NF-1) > best { best = $(NF-1) } END { if (best) print best }'; }
peak() { cat "$data/$1".rss.* 2>/dev/null | sort -n | tail -1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "n/a"; else printf "%.2fx", a / b }'; }
lj=$(rate libdevsys json); ly=$(rate libdevsys yaml)
aj=$(rate ajv json); ay=$(rate ajv yaml)
pj=$(rate python-jsonschema json); py=$(rate python-jsonschema yaml)
echo
echo "best of $rounds rounds: libdevsys json $lj yaml $ly; ajv json ${aj:-n/a} yaml ${ay:-n/a}; python json $pj yaml $py (docs/s)"
echo "ratios (libdevsys / anchor, same run):"
echo "  JSON: vs ajv $(ratio "$lj" "$aj") (target >= 1.0x), vs python jsonschema $(ratio "$lj" "$pj") (target >= 50x)"
echo "  YAML: vs ajv+js-yaml $(ratio "$ly" "$ay"), vs python jsonschema+CSafeLoader $(ratio "$ly" "$py") (target >= 50x)"
echo "  libdevsys peak RSS $(( $(peak libdevsys) / 1024 )) MiB (target < 64 MiB; includes both input files, ~$(( $(wc -c < "$data/specs.jsonl") / 1048576 + $(wc -c < "$data/specs.yaml") / 1048576 )) MiB)"

# The YAML floor, like for like on the same documents: libdevsys parsing each
# YAML document into its document model (devsys_spec_load_buffer, no
# validation) against libyaml's event parse alone, alternating, best of 5.
echo
"$bin" "$data" --yaml-floor
