#!/usr/bin/env bash
# Driven by ctest (tests/CMakeLists.txt); also usable by hand (docs/reliability.md).
#   fuzz.sh build SOURCE_DIR BINARY_DIR CONFIG_INCLUDE   build the libFuzzer targets with clang++
#   fuzz.sh run BINARY_DIR TARGET SECONDS CORPUS_DIR     fuzz one target for SECONDS
# Exit 77 (ctest: skipped) when clang++ with libFuzzer is not available.
set -uo pipefail
mode=$1
if [ "$mode" = build ]; then
  src=$2 bin=$3 config_include=$4
  clang=$(command -v clang++ || command -v clang++-14 || true)
  if [ -z "$clang" ]; then
    echo "SKIPPED: clang++ not found; the libFuzzer targets need it (apt-get install clang, or scripts/setup.sh)."
    echo "The seeded mutation driver (ctest -R fuzz.replay) still runs every target with this build's compiler."
    exit 77
  fi
  probe=$(mktemp -d)
  echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' > "$probe/p.cpp"
  if ! "$clang" -fsanitize=fuzzer,address,undefined "$probe/p.cpp" -o "$probe/p" 2> "$probe/err"; then
    echo "SKIPPED: $clang cannot build -fsanitize=fuzzer,address,undefined programs:"; cat "$probe/err"
    rm -rf "$probe"; exit 77
  fi
  rm -rf "$probe"
  launcher=()
  command -v ccache > /dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  generator=()
  command -v ninja > /dev/null && generator=(-G Ninja)
  cmake -S "$src" -B "$bin" "${generator[@]}" -DCMAKE_CXX_COMPILER="$clang" "${launcher[@]}" \
        -DFUZZ_CONFIG_INCLUDE="$config_include" > "$bin.configure.log" 2>&1 || { cat "$bin.configure.log"; exit 1; }
  cmake --build "$bin" -j "$(nproc)" || exit 1
  exit 0
fi
if [ "$mode" = run ]; then
  bin=$2 target=$3 seconds=$4 corpus=$5
  exe="$bin/fuzz_$target"
  if [ ! -x "$exe" ]; then echo "SKIPPED: $exe was not built (see the fuzz.build test)"; exit 77; fi
  # New inputs go to a scratch corpus in the build tree; the committed seeds are read only.
  mkdir -p "$bin/corpus-$target" "$bin/artifacts"
  log="$bin/fuzz_$target.log"
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$exe" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 -print_final_stats=1 \
    -artifact_prefix="$bin/artifacts/$target-" "$bin/corpus-$target" "$corpus" > "$log" 2>&1
  status=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
  echo "fuzz_$target: ${runs:-?} executions in ${seconds}s under ASan+UBSan, exit $status"
  if [ $status -ne 0 ]; then
    tail -60 "$log"
    echo "A crash input is in $bin/artifacts/; add it to tests/fuzz/corpus/$target/ with the fix, so it is a test case forever."
  fi
  exit $status
fi
echo "usage: fuzz.sh build SOURCE BINARY CONFIG_INCLUDE | run BINARY TARGET SECONDS CORPUS" >&2
exit 2
