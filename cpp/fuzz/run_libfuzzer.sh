#!/usr/bin/env bash
# Build the native libFuzzer targets with clang (-fsanitize=fuzzer,address,undefined)
# and run each for a bounded time; any crash or sanitizer report fails the script.
#
#   cpp/fuzz/run_libfuzzer.sh            # build, then 60 s per target
#   cpp/fuzz/run_libfuzzer.sh 10         # 10 s per target
#   cpp/fuzz/run_libfuzzer.sh 0          # build only
#
# Targets: fuzz_running_stats_from_bytes, fuzz_c_api_model_load.
# Needs clang and its fuzzer runtime (Debian: apt-get install clang libclang-rt-14-dev,
# or the clang version you have). Settings: CXX_FUZZ (compiler), ACTIF_FUZZ_BUILD
# (build directory, default build/fuzz), ACTIF_FUZZ_ARTIFACTS (crash reproducers).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
seconds=${1:-60}
out=${ACTIF_FUZZ_BUILD:-$root/build/fuzz}
artifacts=${ACTIF_FUZZ_ARTIFACTS:-$(mktemp -d -t actif-libfuzzer-XXXXXX)}
cxx=${CXX_FUZZ:-}
if [ -z "$cxx" ]; then
  for c in clang++ clang++-19 clang++-18 clang++-17 clang++-16 clang++-15 clang++-14; do
    if command -v "$c" >/dev/null 2>&1; then cxx=$c; break; fi
  done
fi
if [ -z "$cxx" ]; then
  echo "run_libfuzzer.sh: no clang++ found (apt-get install clang libclang-rt-14-dev)" >&2
  exit 2
fi
mkdir -p "$out" "$artifacts"
# actif/constants.hpp is generated from python/actif/constants.json, as the CMake build does.
cmake -DACTIF_CONSTANTS_JSON="$root/python/actif/constants.json" \
  -DACTIF_CONSTANTS_HEADER="$out/generated/include/actif/constants.hpp" -P cpp/cmake/constants_header.cmake
flags=(-std=c++17 -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
       -fno-sanitize-recover=undefined -I"$root/cpp/include" -I"$out/generated/include")

targets=()
echo "building fuzz_running_stats_from_bytes with $cxx"
"$cxx" "${flags[@]}" cpp/fuzz/fuzz_running_stats_from_bytes.cpp cpp/src/running_stats.cpp \
  -o "$out/fuzz_running_stats_from_bytes"
targets+=("fuzz_running_stats_from_bytes:tests/fuzz/corpus/stats")

echo "building fuzz_c_api_model_load with $cxx"
# every core and loader source, scalar kernels only (the fuzzer checks parsing, not SIMD)
mapfile -t sources < <(find cpp/src -name '*.cpp' ! -path '*/kernels/*' | sort)
"$cxx" "${flags[@]}" -pthread cpp/fuzz/fuzz_c_api_model_load.cpp "${sources[@]}" \
  cpp/src/kernels/dispatch.cpp cpp/src/kernels/scalar.cpp -o "$out/fuzz_c_api_model_load"
targets+=("fuzz_c_api_model_load:tests/fuzz/corpus/model")

[ "$seconds" -gt 0 ] || exit 0
failed=0
passed=0
for entry in "${targets[@]}"; do
  name=${entry%%:*}
  seeds=${entry#*:}
  found=$(mktemp -d -t "actif-$name-XXXXXX")
  log="$artifacts/$name.log"
  start=$(date +%s)
  if "$out/$name" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=30 -print_final_stats=1 \
       -artifact_prefix="$artifacts/$name-" "$found" "$seeds" >"$log" 2>&1; then
    echo "$name: passed ($(( $(date +%s) - start )) s, $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$') runs)"
    passed=$((passed + 1))
  else
    echo "$name: FAILED, log and reproducer in $artifacts"
    tail -30 "$log"
    failed=$((failed + 1))
  fi
  rm -rf "$found"
done
echo "libfuzzer: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
