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

# Wine: prefer a 64-bit loader: Debian's /usr/lib/wine/wine64 or "wine64"
# on PATH (WineHQ, other distros); then plain "wine". (Debian's
# /usr/bin/wine wrapper prefers the 32-bit loader once wine32 is in.)
# The SAFEFS_WINE environment variable that scripts/wine-env.sh exports is
# that 64-bit loader too.
if(NOT SAFEFS_WINE AND DEFINED ENV{SAFEFS_WINE})
  set(SAFEFS_WINE "$ENV{SAFEFS_WINE}")
endif()
set(SAFEFS_WINE_LOADERS wine64 wine)
include(${CMAKE_CURRENT_LIST_DIR}/mingw-w64-common.cmake)
