#!/usr/bin/env bash
# Copies the build's header-only and small packages (Eigen, CLI11, nlohmann/json, Catch2, zlib
# headers; from the Debian packages that scripts/setup.sh installs) into one prefix folder, so
# that a machine without them and without package access (an offline GPU node) can configure:
#
#   scripts/bundle_deps.sh .carry/prefix          # here, where setup.sh has run
#   cmake -S . -B build-gpu $(scripts/bundle_deps.sh --cmake-args .carry/prefix) ...   # there
#
# The Catch2 static libraries are copied as built here (x86-64, GCC 12); zlib's library itself
# is taken from the target machine.
set -euo pipefail
if [ "${1:-}" = "--cmake-args" ]; then
  p="$(cd "${2:?usage: bundle_deps.sh --cmake-args PREFIX}" && pwd)"
  z=$(ls /usr/lib/x86_64-linux-gnu/libz.so* /usr/lib64/libz.so* 2>/dev/null | head -1 || true)
  echo "-DCMAKE_PREFIX_PATH=$p -DZLIB_INCLUDE_DIR=$p/include${z:+ -DZLIB_LIBRARY=$z}"
  exit 0
fi
p="${1:?usage: bundle_deps.sh PREFIX | --cmake-args PREFIX}"
need() { [ -e "$1" ] || { echo "bundle_deps: $1 is missing; run scripts/setup.sh first" >&2; exit 2; }; }
for f in /usr/include/eigen3 /usr/include/CLI /usr/include/nlohmann /usr/include/catch2 /usr/include/zlib.h \
         /usr/share/eigen3/cmake /usr/share/cmake/CLI11 /usr/share/cmake/nlohmann_json /usr/lib/cmake/Catch2; do
  need "$f"
done
mkdir -p "$p/include" "$p/share/eigen3" "$p/share/cmake" "$p/lib/cmake"
cp -r /usr/include/eigen3 "$p/include/" && rm -rf "$p/include/eigen3/unsupported"
cp -r /usr/include/CLI /usr/include/nlohmann /usr/include/catch2 /usr/include/zlib.h /usr/include/zconf.h "$p/include/"
cp -r /usr/share/eigen3/cmake "$p/share/eigen3/"
cp -r /usr/share/cmake/CLI11 /usr/share/cmake/nlohmann_json "$p/share/cmake/"
cp -r /usr/lib/cmake/Catch2 "$p/lib/cmake/"
cp /usr/lib/libCatch2*.a "$p/lib/"
echo "bundle_deps: $(du -sh "$p" | cut -f1) in $p; configure there with: \$(scripts/bundle_deps.sh --cmake-args $p)"
