#!/usr/bin/env bash
# Builds and checks the native C++ side on this machine (what CI runs).
#
#   cpp/check.sh native     Release build, ctest (kernels of every ISA, forward, stats,
#                           model reader, C API, golden outputs, the example)
#   cpp/check.sh sanitize   the same tests built with AddressSanitizer + UBSan (leaks
#                           included: LeakSanitizer runs at exit)
#   cpp/check.sh valgrind   the tests and the example under valgrind memcheck, failing
#                           on any error or leak
#
# Build trees: build/ci-native (shared with docker/cross-build-aarch64.sh, which
# takes its x86 golden outputs from there) and build/ci-sanitize. Ninja runs at most
# 2 jobs (JOBS=N to change).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-native}
# shellcheck source=cpp/cmake_steps.sh
. cpp/cmake_steps.sh

configure_and_build() {  # dir, extra cmake args...
  local dir=$1
  shift
  cmake_configure "$dir" -DACTIF_BUILD_TESTS=ON -DACTIF_BUILD_BENCH=ON -DACTIF_BUILD_EXAMPLES=ON "$@"
  ninja_build "$dir"
}

case "$mode" in
  native)
    mkdir -p build
    configure_and_build build/ci-native -DCMAKE_BUILD_TYPE=Release
    ctest --test-dir build/ci-native --output-on-failure
    ;;
  sanitize)
    mkdir -p build
    configure_and_build build/ci-sanitize -DCMAKE_BUILD_TYPE=RelWithDebInfo -DACTIF_SANITIZE=ON -DACTIF_BUILD_BENCH=OFF
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      ctest --test-dir build/ci-sanitize --output-on-failure
    ;;
  valgrind)
    docker/install-deps.sh check
    mkdir -p build
    configure_and_build build/ci-native -DCMAKE_BUILD_TYPE=Release
    vg=(valgrind --quiet --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect,possible
        --errors-for-leak-kinds=definite,indirect,possible)
    bin=build/ci-native
    "${vg[@]}" "$bin/cpp/tests/actif_tests"
    "${vg[@]}" "$bin/cpp/tests/actif_c_api_tests"
    "${vg[@]}" "$bin/cpp/examples/actif_stream_demo" cpp/tests/data/tiny_model.npz 50 >/dev/null
    echo "valgrind: no errors, no leaks (actif_tests, actif_c_api_tests, actif_stream_demo)"
    ;;
  *)
    sed -n '2,13p' "$0"
    exit 2
    ;;
esac
