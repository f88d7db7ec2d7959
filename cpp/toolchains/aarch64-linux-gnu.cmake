# Cross-compiles actif for 64-bit ARM Linux (Jetson, Raspberry Pi 3/4/5) with Debian's
# g++-aarch64-linux-gnu, and runs the built programs under user-mode QEMU so that ctest
# works on an x86 host. binfmt_misc need not be registered: the emulator is always
# called explicitly.
#
#   cmake -S . -B build/aarch64 -G Ninja -DCMAKE_TOOLCHAIN_FILE=cpp/toolchains/aarch64-linux-gnu.cmake
#
# ACTIF_AARCH64_SYSROOT (default /usr/aarch64-linux-gnu, where the Debian cross packages
# put the target's libc and libstdc++) is what QEMU uses as the target's root (-L).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(ACTIF_AARCH64_TRIPLE aarch64-linux-gnu CACHE STRING "GNU triple of the cross compiler")
set(CMAKE_C_COMPILER ${ACTIF_AARCH64_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${ACTIF_AARCH64_TRIPLE}-g++)

if(NOT DEFINED ACTIF_AARCH64_SYSROOT)
  set(ACTIF_AARCH64_SYSROOT /usr/${ACTIF_AARCH64_TRIPLE})
endif()
set(ACTIF_AARCH64_SYSROOT ${ACTIF_AARCH64_SYSROOT} CACHE PATH "Target root that QEMU resolves the loader and libraries in")

find_program(ACTIF_QEMU_AARCH64 qemu-aarch64)
if(ACTIF_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${ACTIF_QEMU_AARCH64} -L ${ACTIF_AARCH64_SYSROOT})
endif()

# Libraries and headers come from the cross root only; programs (python, ninja) from the host.
set(CMAKE_FIND_ROOT_PATH ${ACTIF_AARCH64_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
