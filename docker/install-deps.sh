#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages a build or test profile needs. CI and every
# Dockerfile in docker/ call this one script, so the images cannot drift from what is
# tested. Packages already installed are skipped, so a warm machine pays nothing.
#
#   docker/install-deps.sh PROFILE...
#
# Profiles:
#   build       compilers, CMake, Ninja, Python with venv (any architecture)
#   cross       g++ for aarch64 and user-mode QEMU (x86 hosts cross-building for ARM)
#   check       valgrind (leak checks of the C++ tests and the example)
#   fuzz        clang and its libFuzzer/sanitizer runtime (cpp/fuzz/run_libfuzzer.sh)
#   python-arm  the arm64 architecture enabled in dpkg, so that arm64 packages can be
#               downloaded (apt-get download) for the emulated-Python tests
set -euo pipefail

if [ "$#" -eq 0 ]; then
  sed -n '2,16p' "$0"
  exit 2
fi

packages=()
for profile in "$@"; do
  case "$profile" in
    build) packages+=(build-essential cmake ninja-build python3 python3-dev python3-venv python3-pip git ca-certificates) ;;
    cross) packages+=(g++-aarch64-linux-gnu qemu-user file) ;;
    check) packages+=(valgrind) ;;
    fuzz) packages+=(clang libclang-rt-dev) ;;
    python-arm) ;;
    *) echo "install-deps.sh: unknown profile '$profile'" >&2; exit 2 ;;
  esac
done

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

need_update=0
for profile in "$@"; do
  if [ "$profile" = python-arm ] && [ "$(dpkg --print-architecture)" != arm64 ]; then
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
      "${sudo_cmd[@]}" dpkg --add-architecture arm64
      need_update=1
    fi
    # Package lists may have been removed (as images do after installing).
    apt-cache show python3.11-minimal:arm64 >/dev/null 2>&1 || need_update=1
  fi
done

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then missing+=("$p"); fi
done
if [ "${#missing[@]}" -gt 0 ] || [ "$need_update" -eq 1 ]; then
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps.sh: installing ${missing[*]}"
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
