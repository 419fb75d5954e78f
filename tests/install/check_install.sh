#!/usr/bin/env bash
# check_install.sh BUILD_DIR CONSUMER_SRC
set -euo pipefail
build=$1 consumer=$2 readme=${3:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log"
libdir=$(dirname "$(find "$prefix" -name 'libdevsys.so.1' | head -n 1)")
[ -n "$libdir" ] || { echo "libdevsys.so.1 not installed"; exit 1; }
for f in "$prefix/include/devsys.h" "$prefix/include/devsys/version.h" "$libdir/libdevsys.a" \
         "$libdir/pkgconfig/devsys.pc" "$libdir/cmake/devsys/devsysConfig.cmake"; do
  [ -e "$f" ] || { echo "missing after install: $f"; exit 1; }
done
grep -q '^Requires.private:' "$libdir/pkgconfig/devsys.pc"

# 1. pkg-config, shared
export PKG_CONFIG_PATH=$libdir/pkgconfig
cc -o "$tmp/pc_shared" "$consumer/main.c" $(pkg-config --cflags --libs devsys) -Wl,-rpath,"$libdir"
"$tmp/pc_shared" "$tmp/ws1" | tee "$tmp/out1"
grep -q 'consumer ok' "$tmp/out1"
ldd "$tmp/pc_shared" | grep "$libdir/libdevsys.so.1" >/dev/null

# 2. pkg-config, static (Requires.private pulls the dependencies)
cc -o "$tmp/pc_static" "$consumer/main.c" $(pkg-config --cflags devsys) "$libdir/libdevsys.a" \
   $(pkg-config --static --libs devsys | sed 's/-ldevsys//')
"$tmp/pc_static" "$tmp/ws2" | grep 'consumer ok' >/dev/null
if ldd "$tmp/pc_static" | grep libdevsys >/dev/null; then echo "static consumer links libdevsys.so"; exit 1; fi

# 3. find_package(devsys 1 CONFIG)
cmake -S "$consumer" -B "$tmp/cm" -DCMAKE_PREFIX_PATH="$prefix" >"$tmp/cm.log"
cmake --build "$tmp/cm" >>"$tmp/cm.log"
"$tmp/cm/consumer" "$tmp/ws3" | grep 'consumer ok' >/dev/null

# 4. SameMajorVersion: asking for version 2 must fail
mkdir -p "$tmp/v2"
sed 's/find_package(devsys 1 CONFIG REQUIRED)/find_package(devsys 2 CONFIG REQUIRED)/' "$consumer/CMakeLists.txt" > "$tmp/v2/CMakeLists.txt"
cp "$consumer/main.c" "$tmp/v2/"
if cmake -S "$tmp/v2" -B "$tmp/v2b" -DCMAKE_PREFIX_PATH="$prefix" >"$tmp/v2.log" 2>&1; then
  echo "find_package(devsys 2) unexpectedly succeeded"; exit 1
fi
# 5. The README's C example, compiled and run exactly as printed there.
if [ -n "$readme" ]; then
  awk '/^```c$/{on=1; next} /^```$/{on=0} on' "$readme" > "$tmp/readme.c"
  [ -s "$tmp/readme.c" ] || { echo "no C example found in $readme"; exit 1; }
  cc -std=c99 -Wall -Wextra -Werror -o "$tmp/readme" "$tmp/readme.c" $(pkg-config --cflags --libs devsys) -Wl,-rpath,"$libdir"
  (cd "$tmp" && DEVSYS_WORKSPACE="$tmp/ws-readme" ./readme) | grep 'task folder: .*/tasks/fix-login-1' >/dev/null
fi
echo "install consumer checks passed (pkg-config shared+static, find_package, SameMajorVersion)"
