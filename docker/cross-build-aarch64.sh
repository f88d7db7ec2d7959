#!/usr/bin/env bash
# Cross-builds actif for aarch64 (library, libactif, tests, example, actif_bench) with
# Debian's g++-aarch64-linux-gnu, runs the C++ tests under qemu-aarch64 through ctest,
# and compares the aarch64 outputs with golden outputs written by the x86 build.
#
#   docker/cross-build-aarch64.sh
#
# Build trees: build/ci-native (x86; the golden file is written there) and
# build/ci-aarch64. The emulated benchmark is separate (cpp/bench/record_emulated.py),
# since emulated timings are slow to take and say nothing about device speed.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { echo "== $* ($(date +%T))"; }
# shellcheck source=cpp/cmake_steps.sh
. cpp/cmake_steps.sh  # cmake_configure and ninja_build, as cpp/check.sh uses them

step "toolchain"
docker/install-deps.sh cross

step "x86 build: golden outputs"
mkdir -p build
cmake_configure build/ci-native -DCMAKE_BUILD_TYPE=Release
ninja_build build/ci-native actif_golden
GOLDEN=$PWD/build/ci-native/golden-x86.txt
build/ci-native/cpp/tests/actif_golden --write "$GOLDEN"

step "aarch64 cross build"
cmake_configure build/ci-aarch64 -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_TOOLCHAIN_FILE="$PWD/cpp/toolchains/aarch64-linux-gnu.cmake" -DACTIF_GOLDEN_REFERENCE="$GOLDEN"
ninja_build build/ci-aarch64
file build/ci-aarch64/cpp/tests/actif_tests | grep -q "ARM aarch64" || { echo "not an aarch64 binary" >&2; exit 1; }

step "ctest under qemu-aarch64 (golden_vs_reference compares with the x86 outputs)"
ctest --test-dir build/ci-aarch64 --output-on-failure

step "actif_bench runs under qemu-aarch64 (smoke run; timings are emulated)"
qemu-aarch64 -L /usr/aarch64-linux-gnu build/ci-aarch64/cpp/bench/actif_bench --hidden 16 --batch 1 --quick \
  --isa neon | grep -q '"isa": "neon"'
echo "aarch64: cross build, tests and golden comparison passed"
