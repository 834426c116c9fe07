#!/bin/sh
# Build CMocka for MinGW-w64 (x86_64, or the target of the toolchain file
# SAFEFS_MINGW_TOOLCHAIN names) from Debian's cmocka *source* package and
# install it (static library only) into PREFIX.
#
#   scripts/build-cmocka-mingw.sh PREFIX        # e.g. build-win/deps
#
# Needs: apt, dpkg-dev (dpkg-source), cmake, mingw-w64, network access to the
# machine's configured Debian mirror.  /etc/apt is never modified: a private
# apt configuration (under the work dir) gets deb-src entries derived from
# the machine's own /etc/apt/sources.list.d/debian.sources or
# /etc/apt/sources.list.
#
# Result in PREFIX:
#   include/cmocka.h, include/cmocka_pbc.h
#   lib/libcmocka.a                       (static; no DLL is installed)
#   lib/cmake/cmocka/cmocka-config.cmake  (CMOCKA_INCLUDE_DIR, CMOCKA_LIBRARY,
#                                          CMOCKA_LIBRARIES, target cmocka::cmocka)
#   lib/pkgconfig/cmocka.pc
#
# Idempotent: exits at once if PREFIX already holds the installed library.
# Environment:
#   SAFEFS_MINGW_TOOLCHAIN  toolchain file (default: ../cmake/mingw-w64-x86_64.cmake)
#   SAFEFS_KEEP_WORK=1      keep the work dir (apt lists, sources, build tree)
set -eu

if [ $# -ne 1 ] || [ -z "$1" ]; then
    echo "usage: $0 PREFIX" >&2
    exit 2
fi

mkdir -p "$1"
PREFIX=$(cd "$1" && pwd)

if [ -f "$PREFIX/lib/libcmocka.a" ] && [ -f "$PREFIX/include/cmocka.h" ] &&
   [ -f "$PREFIX/lib/cmake/cmocka/cmocka-config.cmake" ]; then
    echo "cmocka (MinGW) already installed in $PREFIX"
    exit 0
fi

SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
TOOLCHAIN=${SAFEFS_MINGW_TOOLCHAIN:-$SCRIPT_DIR/../cmake/mingw-w64-x86_64.cmake}
TOOLCHAIN=$(cd "$(dirname "$TOOLCHAIN")" && pwd)/$(basename "$TOOLCHAIN")
[ -f "$TOOLCHAIN" ] || { echo "toolchain file not found: $TOOLCHAIN" >&2; exit 1; }

for tool in apt-get dpkg-source cmake; do
    command -v "$tool" >/dev/null 2>&1 ||
        { echo "$0: '$tool' not found (install apt, dpkg-dev, cmake)" >&2; exit 1; }
done

WORK=$(dirname "$PREFIX")/cmocka-mingw-work
APTDIR=$WORK/apt
rm -rf "$WORK"
mkdir -p "$APTDIR/sources.list.d" "$APTDIR/lists/partial" \
         "$APTDIR/cache/archives/partial" "$WORK/src" "$WORK/build"

t0=$(date +%s)

# --- 1. private apt configuration with deb-src entries ----------------------
# deb822 (.sources): every stanza becomes a source-only stanza (Types: deb-src);
# URIs/Suites/Components/Signed-By are kept as the machine has them.
deb822_to_src() { sed -e 's/^types:.*/Types: deb-src/I' "$1"; }
# one-line format (.list / sources.list): "deb ..." -> "deb-src ..."; other
# lines (comments, existing deb-src) are dropped to avoid duplicates.
list_to_src() { sed -n -e 's/^[[:space:]]*deb[[:space:]]/deb-src /p' "$1"; }

: > "$APTDIR/sources.list"
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    deb822_to_src /etc/apt/sources.list.d/debian.sources \
        > "$APTDIR/sources.list.d/debian.sources"
fi
if [ -f /etc/apt/sources.list ]; then
    list_to_src /etc/apt/sources.list > "$APTDIR/sources.list"
fi
if [ ! -s "$APTDIR/sources.list" ] &&
   [ ! -s "$APTDIR/sources.list.d/debian.sources" ]; then
    # No debian.sources / sources.list (e.g. derivative distro): use whatever
    # is configured in sources.list.d.
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] && deb822_to_src "$f" > "$APTDIR/sources.list.d/$(basename "$f")"
    done
    for f in /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] && list_to_src "$f" > "$APTDIR/sources.list.d/$(basename "$f")"
    done
fi
if [ -z "$(cat "$APTDIR/sources.list" "$APTDIR"/sources.list.d/* 2>/dev/null)" ]; then
    echo "$0: no apt sources found in /etc/apt" >&2
    exit 1
fi

set -- \
    -o "Dir::Etc::SourceList=$APTDIR/sources.list" \
    -o "Dir::Etc::SourceParts=$APTDIR/sources.list.d" \
    -o "Dir::State::Lists=$APTDIR/lists" \
    -o "Dir::Cache=$APTDIR/cache" \
    -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache="
if [ "$(id -u)" = 0 ]; then
    # _apt cannot write into our private dirs; download as root instead.
    set -- "$@" -o APT::Sandbox::User=root
fi

retry() {
    n=1
    until "$@"; do
        [ $n -ge 3 ] && return 1
        n=$((n + 1)); echo "retrying ($n/3): $*" >&2; sleep 5
    done
}

echo "== apt-get update (private source lists in $APTDIR)"
retry apt-get "$@" -q update

echo "== apt-get source cmocka"
(cd "$WORK/src" && retry apt-get "$@" -q source --download-only cmocka)
dsc=
for f in "$WORK/src"/cmocka_*.dsc; do [ -f "$f" ] && dsc=$f; done
[ -n "$dsc" ] || { echo "$0: no cmocka .dsc downloaded" >&2; exit 1; }
dpkg-source -x "$dsc" "$WORK/src/cmocka"

# --- 2. cross-compile ---------------------------------------------------------
echo "== configure/build cmocka ($(basename "$dsc" .dsc)) for MinGW"
# cmocka 1.1.x always builds the shared library; WITH_STATIC_LIB adds and
# installs the static one (libcmocka-static.a).  Newer cmocka (>= 1.1.6) uses
# BUILD_SHARED_LIBS instead; set both, unknown options are ignored.
cmake -S "$WORK/src/cmocka" -B "$WORK/build" \
    -DCMAKE_TOOLCHAIN_FILE="$TOOLCHAIN" \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_INSTALL_PREFIX="$PREFIX" \
    -DCMAKE_INSTALL_LIBDIR=lib \
    -DCMAKE_INSTALL_INCLUDEDIR=include \
    -DCMAKE_DISABLE_FIND_PACKAGE_Doxygen=ON \
    -DWITH_STATIC_LIB=ON \
    -DBUILD_SHARED_LIBS=OFF \
    -DWITH_EXAMPLES=OFF \
    -DUNIT_TESTING=OFF \
    -DPICKY_DEVELOPER=OFF \
    -Wno-dev >/dev/null
cmake --build "$WORK/build" -j "$(nproc 2>/dev/null || echo 2)"
cmake --install "$WORK/build" >/dev/null

# --- 3. normalise the install: static library only -----------------------------
if [ -f "$PREFIX/lib/libcmocka-static.a" ]; then
    mv -f "$PREFIX/lib/libcmocka-static.a" "$PREFIX/lib/libcmocka.a"
fi
# Drop the DLL and its import library so that nothing (find_library prefers
# .dll.a, pkg-config -lcmocka) can pick the shared variant by accident.
rm -f "$PREFIX/lib/libcmocka.dll.a" "$PREFIX/bin/cmocka.dll" \
      "$PREFIX/bin/libcmocka.dll"
rmdir "$PREFIX/bin" 2>/dev/null || true
[ -f "$PREFIX/lib/libcmocka.a" ] || { echo "$0: libcmocka.a missing after install" >&2; exit 1; }

# cmocka 1.1.5's config file points CMOCKA_LIBRARY at the import library and
# defines no target; replace it with a relocatable one for the static lib.
mkdir -p "$PREFIX/lib/cmake/cmocka"
cat > "$PREFIX/lib/cmake/cmocka/cmocka-config.cmake" <<'EOF'
# cmocka (static, MinGW-w64) -- generated by build-cmocka-mingw.sh
get_filename_component(_cmocka_prefix "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)
set(CMOCKA_INCLUDE_DIR "${_cmocka_prefix}/include")
set(CMOCKA_LIBRARY "${_cmocka_prefix}/lib/libcmocka.a")
set(CMOCKA_LIBRARIES "${CMOCKA_LIBRARY}")
if(NOT TARGET cmocka::cmocka)
  add_library(cmocka::cmocka STATIC IMPORTED)
  set_target_properties(cmocka::cmocka PROPERTIES
    IMPORTED_LOCATION "${CMOCKA_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${CMOCKA_INCLUDE_DIR}")
endif()
unset(_cmocka_prefix)
mark_as_advanced(CMOCKA_LIBRARY CMOCKA_INCLUDE_DIR)
EOF
rm -f "$PREFIX"/lib/cmake/cmocka/cmocka-targets*.cmake

if [ "${SAFEFS_KEEP_WORK:-0}" != 1 ]; then
    rm -rf "$WORK"
fi

echo "cmocka (MinGW, static) installed in $PREFIX in $(( $(date +%s) - t0 )) s"
