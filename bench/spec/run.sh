#!/bin/sh
# Spec benchmark: 10 000 generated task specs, parse + validate against the
# canonical task schema, for libdevsys, ajv 8 (+ js-yaml 4) and Python
# jsonschema (+ PyYAML CSafeLoader), all measured in this run. Prints
# docs/s, ratios and each process's peak RSS (GNU time).
# Usage: bench/spec/run.sh BUILD_DIR [N]
set -eu
build=${1:?usage: run.sh BUILD_DIR [N]}
n=${2:-10000}
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
  /usr/bin/time -f "%M" -o "$data/$name.rss" "$@" > "$data/$name.out"
  cat "$data/$name.out"
  echo "$name peak RSS: $(( $(cat "$data/$name.rss") / 1024 )) MiB"
}
measure libdevsys "$bin" "$data"
if [ -f "$src/.deps/node/node_modules/ajv/package.json" ]; then
  NODE_PATH="$src/.deps/node/node_modules" measure ajv node "$here/anchor_ajv.js" "$schema" "$data"
else
  echo "ajv: skipped (npm install --prefix $src/.deps/node ajv@8 js-yaml@4)" > "$data/ajv.out"; cat "$data/ajv.out"
fi
measure python /usr/bin/python3 "$here/anchor_py.py" "$schema" "$data"

rate() { awk -v t="$1 $2" '($1" "$2)==t { print $(NF-1) }' "$data"/*.out; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "n/a"; else printf "%.2fx", a / b }'; }
lj=$(rate libdevsys json); ly=$(rate libdevsys yaml)
aj=$(rate ajv json); ay=$(rate ajv yaml)
pj=$(rate python-jsonschema json); py=$(rate python-jsonschema yaml)
echo
echo "ratios (libdevsys / anchor, same run):"
echo "  JSON: vs ajv $(ratio "$lj" "$aj") (target >= 1.0x), vs python jsonschema $(ratio "$lj" "$pj") (target >= 50x)"
echo "  YAML: vs ajv+js-yaml $(ratio "$ly" "$ay"), vs python jsonschema+CSafeLoader $(ratio "$ly" "$py") (target >= 50x)"
echo "  libdevsys peak RSS $(( $(cat "$data/libdevsys.rss") / 1024 )) MiB (target < 64 MiB)"
