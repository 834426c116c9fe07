# The part of the MinGW-w64 toolchain files (mingw-w64-x86_64.cmake,
# mingw-w64-i686.cmake) that is the same for both: they set
# CMAKE_SYSTEM_PROCESSOR, SAFEFS_MINGW_TRIPLE and SAFEFS_WINE_LOADERS (the
# Wine loaders to look for, in order of preference), then include this.

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
# The loader for this target's bitness (SAFEFS_WINE_LOADERS, set by the
# including file). Override with -DSAFEFS_WINE=/path/to/wine.
if(NOT SAFEFS_WINE)
  foreach(_safefs_loader ${SAFEFS_WINE_LOADERS})
    if(NOT SAFEFS_WINE)
      find_program(SAFEFS_WINE NAMES ${_safefs_loader} PATHS /usr/lib/wine NO_CACHE
                   NO_DEFAULT_PATH)
    endif()
    if(NOT SAFEFS_WINE)
      find_program(SAFEFS_WINE NAMES ${_safefs_loader} NO_CACHE)
    endif()
  endforeach()
endif()
if(SAFEFS_WINE)
  set(CMAKE_CROSSCOMPILING_EMULATOR "${SAFEFS_WINE}")
endif()
