# CMake toolchain file: cross-compile for 64-bit Windows with Debian's
# mingw-w64 (x86_64-w64-mingw32) and run test executables under Wine.
#
# Usage:
#   cmake -S . -B build-win \
#         -DCMAKE_TOOLCHAIN_FILE=cmake/mingw-w64-x86_64.cmake \
#         -DSAFEFS_MINGW_PREFIX=$PWD/build-win/deps      # optional
#
# SAFEFS_MINGW_PREFIX (cache or environment variable, ABSOLUTE path): an extra
# install prefix holding cross-built dependencies (e.g. CMocka built by
# scripts/build-cmocka-mingw.sh).  It is added to CMAKE_FIND_ROOT_PATH and
# CMAKE_PREFIX_PATH, so find_package(cmocka CONFIG) / find_library() /
# find_path() find it.  (-DCMAKE_PREFIX_PATH=<dir> alone does NOT work: with
# CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY it is re-rooted under the sysroot.)
#
# CMAKE_CROSSCOMPILING_EMULATOR is set to Wine, so add_test() commands that
# name an executable target run as "wine foo.exe" under ctest.  Source
# scripts/wine-env.sh first to get a private, initialised WINEPREFIX.

set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

set(SAFEFS_MINGW_TRIPLE x86_64-w64-mingw32)

# Pass these to try_compile() projects (they re-read this file).
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES SAFEFS_MINGW_PREFIX)

# --- Compilers -------------------------------------------------------------
# Prefer the "-posix" thread-model compilers (pthreads via libwinpthread);
# Debian's default alternative is the "-win32" model.
find_program(SAFEFS_MINGW_CC
  NAMES ${SAFEFS_MINGW_TRIPLE}-gcc-posix ${SAFEFS_MINGW_TRIPLE}-gcc
  REQUIRED)
find_program(SAFEFS_MINGW_CXX
  NAMES ${SAFEFS_MINGW_TRIPLE}-g++-posix ${SAFEFS_MINGW_TRIPLE}-g++)
find_program(SAFEFS_MINGW_WINDRES NAMES ${SAFEFS_MINGW_TRIPLE}-windres)

set(CMAKE_C_COMPILER "${SAFEFS_MINGW_CC}")
if(SAFEFS_MINGW_CXX)
  set(CMAKE_CXX_COMPILER "${SAFEFS_MINGW_CXX}")
endif()
if(SAFEFS_MINGW_WINDRES)
  set(CMAKE_RC_COMPILER "${SAFEFS_MINGW_WINDRES}")
endif()

# --- Search paths ----------------------------------------------------------
if(NOT DEFINED SAFEFS_MINGW_PREFIX AND DEFINED ENV{SAFEFS_MINGW_PREFIX})
  set(SAFEFS_MINGW_PREFIX "$ENV{SAFEFS_MINGW_PREFIX}")
endif()

# (appended, so a -DCMAKE_FIND_ROOT_PATH=... from the command line is kept)
list(APPEND CMAKE_FIND_ROOT_PATH /usr/${SAFEFS_MINGW_TRIPLE})
if(SAFEFS_MINGW_PREFIX)
  if(NOT IS_ABSOLUTE "${SAFEFS_MINGW_PREFIX}")
    message(FATAL_ERROR "SAFEFS_MINGW_PREFIX must be an absolute path "
                        "(got '${SAFEFS_MINGW_PREFIX}')")
  endif()
  list(APPEND CMAKE_FIND_ROOT_PATH "${SAFEFS_MINGW_PREFIX}")
  list(APPEND CMAKE_PREFIX_PATH "${SAFEFS_MINGW_PREFIX}")
  list(REMOVE_DUPLICATES CMAKE_PREFIX_PATH)
endif()
list(REMOVE_DUPLICATES CMAKE_FIND_ROOT_PATH)

# Programs come from the build host, everything else from the target roots.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# --- Static runtime ------------------------------------------------------
# Link libgcc and libwinpthread (and everything else) statically so the
# .exe files run under Wine without any MinGW DLL next to them.
set(CMAKE_EXE_LINKER_FLAGS_INIT    "-static -static-libgcc")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "-static -static-libgcc")
set(CMAKE_MODULE_LINKER_FLAGS_INIT "-static -static-libgcc")

# --- Wine as test runner -----------------------------------------------------
# Prefer a 64-bit loader: "wine64" on PATH (WineHQ / other distros), then
# Debian's /usr/lib/wine/wine64 (bookworm's /usr/bin/wine wrapper prefers the
# 32-bit loader and nags when wine32 is missing), then plain "wine".
# Override with -DSAFEFS_WINE=/path/to/wine (or the SAFEFS_WINE environment
# variable exported by scripts/wine-env.sh).
if(NOT SAFEFS_WINE AND DEFINED ENV{SAFEFS_WINE})
  set(SAFEFS_WINE "$ENV{SAFEFS_WINE}")
endif()
if(NOT SAFEFS_WINE)
  find_program(SAFEFS_WINE NAMES wine64 PATHS /usr/lib/wine NO_CACHE)
  if(NOT SAFEFS_WINE)
    find_program(SAFEFS_WINE NAMES wine NO_CACHE)
  endif()
endif()
if(SAFEFS_WINE)
  set(CMAKE_CROSSCOMPILING_EMULATOR "${SAFEFS_WINE}")
endif()
