#!/bin/sh
# The rockspec builds offline: install the built library into a temporary
# prefix (as a user's `cmake --install` would), `luarocks make` the binding
# against it into a temporary tree (no network: no dependency to fetch), and
# load the rock from that tree.
#
#   luarocks_make.sh LUAROCKS LUA BINDING_SOURCE_DIR CMAKE_BUILD_DIR
set -eu
luarocks=$1 lua=$2 src=$3 build=$4
if [ -z "$luarocks" ] || ! command -v "$luarocks" >/dev/null 2>&1; then
	echo "skipped: luarocks is not installed (scripts/deps/bindings.apt)"
	[ "${CI:-}" = true ] && exit 1
	exit 77
fi
tmp=$(mktemp -d /tmp/lua-rock-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; exit 1; }
libdir=$(dirname "$(find "$tmp/prefix" -name 'libdevsys.so.1' | head -n 1)")
[ -f "$tmp/prefix/include/devsys/features.h" ] || { echo "the install has no devsys/features.h"; exit 1; }
mkdir "$tmp/src"
cp -R "$src/src" "$src/devsys-1.0.0-1.rockspec" "$tmp/src/"
cd "$tmp/src"
# an empty configuration: no user settings, no rock servers
printf 'rocks_servers = {}\n' >"$tmp/config.lua"
LUAROCKS_CONFIG="$tmp/config.lua" "$luarocks" --lua-version 5.4 --tree "$tmp/tree" \
	make --deps-mode none devsys-1.0.0-1.rockspec DEVSYS_INCDIR="$tmp/prefix/include" DEVSYS_LIBDIR="$libdir"
so=$(find "$tmp/tree" -name devsys.so | head -n 1)
[ -n "$so" ] || { echo "luarocks make installed no devsys.so"; exit 1; }
TREE="$tmp/tree" LD_LIBRARY_PATH="$libdir" LUA_CPATH="$(dirname "$so")/?.so" "$lua" -e '
  local found = package.searchpath("devsys", package.cpath)
  local devsys = require "devsys"
  assert(found:find(os.getenv("TREE"), 1, true) == 1, "loaded " .. found .. ", not the rock")
  assert(devsys.feature_enabled("core"))
  if devsys.feature_enabled("secrets") then
    local m = devsys.masker(); m:add("K", "secret-value")
    assert(m:mask("a secret-value b") == "a [MASKED:K] b")
  else
    assert(devsys.masker == nil, "a build without secrets has no masker")
  end
  assert(devsys.task_id_check("ok"))
  assert(devsys._trace == nil, "the rock is built without call tracing")
  if devsys.feature_enabled("runner") then
    assert(type(devsys.register_runner) == "function", "the rock has the plug-in registrations")
  end
  if devsys.feature_enabled("pipeline") then
    assert(devsys.pipeline_stages()[1] == "validate", "the rock has the pipeline module")
  end
  print("rock ok: " .. found .. ", libdevsys " .. devsys.version())'
