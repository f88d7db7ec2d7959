# Sourced (not run) by cpp/check.sh and docker/cross-build-aarch64.sh: configure and
# build a CMake tree quietly into DIR.cmake.log / DIR.build.log, printing the log and
# exiting only when a step fails. Run from the repository root; JOBS caps ninja (2).

cmake_configure() {  # dir, cmake args...
  local dir=$1
  shift
  cmake -S . -B "$dir" -G Ninja "$@" >"$dir.cmake.log" 2>&1 || { cat "$dir.cmake.log"; exit 1; }
}

ninja_build() {  # dir, targets... (none: all)
  local dir=$1
  shift
  ninja -C "$dir" -j"${JOBS:-2}" "$@" >"$dir.build.log" 2>&1 || { tail -50 "$dir.build.log"; exit 1; }
}
