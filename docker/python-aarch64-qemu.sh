#!/usr/bin/env bash
# The Jetson case on an x86 machine: cross-builds the actif._core extension for
# aarch64 and runs the C++-backed Python tests with an aarch64 CPython under QEMU.
#
#   docker/python-aarch64-qemu.sh [--quick] [PYTEST ARGS...]
#
# The target Python is Debian's arm64 python3.11 (apt-get download + dpkg -x into a
# folder, no installation), NumPy and pytest are their aarch64/pure wheels from PyPI
# (pip download --platform), and qemu-aarch64 -L <folder> runs it; binfmt_misc is not
# needed. Everything lives under build/aarch64-python (git-ignored) and is reused on
# the next run. Without options it runs the C++-backed, Numba-free tests
# (tests/test_parity.py for every kernel set, tests/test_c_api_fixture.py); --quick
# keeps only the NEON parity cases (the forced-scalar ones run natively and in ctest).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
WORK=${ACTIF_ARM_PYTHON_DIR:-$REPO/build/aarch64-python}
ROOT=$WORK/root          # the unpacked arm64 Debian packages
SITE=$WORK/site          # aarch64 wheels, unpacked
PKG=$WORK/pkg            # the actif package with the cross-built _core
NUMPY_VERSION=${ACTIF_ARM_NUMPY:-2.4.6}
PYTEST_VERSION=${ACTIF_ARM_PYTEST:-9.2.0}
HOST_PYTHON=${PYTHON:-python3}

quick=0
if [ "${1:-}" = "--quick" ]; then quick=1; shift; fi

step() { echo "== $* ($(date +%T))"; }

step "toolchain and arm64 package lists"
docker/install-deps.sh cross python-arm

if [ ! -x "$ROOT/usr/bin/python3.11" ]; then
  step "downloading Debian's arm64 CPython 3.11 and its libraries"
  mkdir -p "$WORK/debs" "$ROOT"
  (cd "$WORK/debs" && apt-get download -qq \
    python3.11-minimal:arm64 libpython3.11-minimal:arm64 libpython3.11-stdlib:arm64 libpython3.11-dev:arm64 \
    libc6:arm64 libgcc-s1:arm64 libstdc++6:arm64 zlib1g:arm64 libexpat1:arm64 libffi8:arm64 libbz2-1.0:arm64 \
    liblzma5:arm64 libssl3:arm64 libuuid1:arm64 libcrypt1:arm64)
  for deb in "$WORK"/debs/*.deb; do dpkg -x "$deb" "$ROOT"; done
fi

if [ ! -d "$SITE/numpy" ]; then
  step "downloading NumPy $NUMPY_VERSION (aarch64) and pytest $PYTEST_VERSION wheels"
  mkdir -p "$WORK/wheels" "$SITE"
  "$HOST_PYTHON" -m pip download -q --only-binary=:all: --platform manylinux_2_28_aarch64 \
    --platform manylinux2014_aarch64 --python-version 3.11 --implementation cp --abi cp311 --abi abi3 \
    --abi none -d "$WORK/wheels" "numpy==$NUMPY_VERSION" "pytest==$PYTEST_VERSION"
  for whl in "$WORK"/wheels/*.whl; do "$HOST_PYTHON" -m zipfile -e "$whl" "$SITE"; done
fi

# The interpreter as CMake and pytest see it: an aarch64 python3.11 behind QEMU.
PY=$WORK/python3.11-aarch64
cat > "$PY" <<WRAP
#!/bin/sh
exec qemu-aarch64 -L "$ROOT" "$ROOT/usr/bin/python3.11" "\$@"
WRAP
chmod +x "$PY"
"$PY" -c "import platform, sys; print('target python', sys.version.split()[0], platform.machine())"

step "cross-building actif._core for aarch64"
# pybind11 is header-only: use the host's, or fetch it into this work folder (a fresh
# CI venv has it only inside pip's isolated build environment).
if ! PYBIND11_DIR=$("$HOST_PYTHON" -m pybind11 --cmakedir 2>/dev/null); then
  "$HOST_PYTHON" -m pip install -q --target "$WORK/host-pybind11" "pybind11>=2.12"
  PYBIND11_DIR=$(PYTHONPATH="$WORK/host-pybind11" "$HOST_PYTHON" -m pybind11 --cmakedir)
fi
cmake -S "$REPO" -B "$WORK/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_TOOLCHAIN_FILE="$REPO/cpp/toolchains/aarch64-linux-gnu.cmake" \
  -DACTIF_BUILD_PYTHON=ON -DACTIF_BUILD_TESTS=OFF -DACTIF_BUILD_BENCH=OFF -DACTIF_BUILD_EXAMPLES=OFF \
  -DACTIF_BUILD_C_API=OFF -DPython_EXECUTABLE="$PY" \
  -DPython_INCLUDE_DIR="$ROOT/usr/include/python3.11" -DCMAKE_CXX_FLAGS="-idirafter $ROOT/usr/include" \
  -Dpybind11_DIR="$PYBIND11_DIR" >"$WORK/cmake.log"
ninja -C "$WORK/build" -j2 _core >"$WORK/ninja.log"

rm -rf "$PKG" && mkdir -p "$PKG"
cp -r "$REPO/python/actif" "$PKG/actif"
cp "$WORK"/build/_core.cpython-311-aarch64-linux-gnu.so "$PKG/actif/"

step "tests under qemu-aarch64"
if [ "$quick" -eq 1 ]; then
  tests=(tests/test_parity.py -k "cpp-neon" tests/test_c_api_fixture.py)
else
  tests=(tests/test_parity.py tests/test_c_api_fixture.py)
fi
PYTHONPATH="$PKG:$SITE" PYTHONNOUSERSITE=1 PYTHONDONTWRITEBYTECODE=1 \
  "$PY" -m pytest -q -p no:cacheprovider "${tests[@]}" "$@"
