#!/bin/sh
# Builds and runs tests/consumer the ways an application vendors safefs:
# add_subdirectory, FetchContent, install + find_package (static and
# shared), install + pkg-config; natively, and cross-built with MinGW and
# run under Wine (add_subdirectory, find_package static and shared).
#   tests/consumer/run.sh WORKDIR
# Environment: SAFEFS_WINEPREFIX (default WORKDIR/wineprefix) for Wine;
# the MinGW part is skipped, with a message, if MinGW or Wine is missing
# (scripts/test.sh installs both).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
W=${1:?usage: run.sh WORKDIR}
rm -rf "$W"
mkdir -p "$W"
ok=0

# check_run EXE OUT [RUNNER...]: run one consumer (the C one writes
# "vendored", the C++ one "c++") and check what it wrote.
check_run() {
    exe=$1 out=$2
    shift 2
    case $exe in *_cxx*) want="c++" ;; *) want=vendored ;; esac
    "$@" "$exe" "$out"
    [ "$(cat "$out")" = "$want" ] || { echo "$exe wrote the wrong content to $out"; exit 1; }
}

# A source archive of the working tree, as a release tarball would be.
# (Tracked and not-ignored files; outside a git checkout, all but build/.)
(cd "$ROOT" && if git ls-files >/dev/null 2>&1; then
     git ls-files -co --exclude-standard -z | tar czf "$W/safefs-src.tar.gz" --null -T - \
         --transform 's,^,safefs/,'
 else
     tar czf "$W/safefs-src.tar.gz" --exclude=./build --transform 's,^\.,safefs,' .
 fi)

for how in sub fetch; do
    echo "-- $how (add_subdirectory / FetchContent), static"
    if [ $how = sub ]; then src="-DSAFEFS_SOURCE_DIR=$ROOT"; else src="-DSAFEFS_FETCH_URL=file://$W/safefs-src.tar.gz"; fi
    cmake -S "$HERE" -B "$W/$how" "$src" -DCMAKE_C_FLAGS="-Wall -Wextra -Werror" >/dev/null
    cmake --build "$W/$how" >/dev/null
    check_run "$W/$how/consumer" "$W/$how.txt"
    check_run "$W/$how/consumer_cxx" "$W/$how-cxx.txt"
    ok=$((ok + 1))
done

for kind in static shared; do
    echo "-- install ($kind) + find_package"
    shared=OFF
    [ $kind = shared ] && shared=ON
    cmake -S "$ROOT" -B "$W/lib-$kind" -DBUILD_SHARED_LIBS=$shared \
          -DSAFEFS_BUILD_TESTS=OFF -DSAFEFS_BUILD_BENCH=OFF \
          -DCMAKE_INSTALL_PREFIX="$W/prefix-$kind" >/dev/null
    cmake --build "$W/lib-$kind" >/dev/null
    cmake --install "$W/lib-$kind" >/dev/null
    cmake -S "$HERE" -B "$W/pkg-$kind" -DCMAKE_PREFIX_PATH="$W/prefix-$kind" >/dev/null
    cmake --build "$W/pkg-$kind" >/dev/null
    check_run "$W/pkg-$kind/consumer" "$W/pkg-$kind.txt"
    check_run "$W/pkg-$kind/consumer_cxx" "$W/pkg-$kind-cxx.txt"
    ok=$((ok + 1))
    if [ $kind = shared ]; then
        # only the public API is exported from the shared library
        lib=$(find "$W/prefix-shared" -name 'libsafefs.so.*' | head -n 1)
        if nm -D --defined-only "$lib" | awk '{print $3}' | grep -v '^safefs_[a-z]' | grep -q .; then
            echo "shared library exports more than safefs_*:"
            nm -D --defined-only "$lib" | awk '{print $3}' | grep -v '^safefs_[a-z]'
            exit 1
        fi
        nm -D --defined-only "$lib" | grep -q ' safefs_write_file$'
        ok=$((ok + 1))
    fi

    echo "-- install ($kind) + pkg-config"
    libdir=$(find "$W/prefix-$kind" -name safefs.pc -exec dirname {} \;)
    PKG_CONFIG_PATH=$libdir
    export PKG_CONFIG_PATH
    # shellcheck disable=SC2046
    cc -std=c99 -Wall -Wextra -Wpedantic -Werror -o "$W/pc-$kind" "$HERE/main.c" \
       $(pkg-config --cflags --libs safefs)
    LD_LIBRARY_PATH=$(dirname "$libdir") check_run "$W/pc-$kind" "$W/pc-$kind.txt"
    ok=$((ok + 1))
done

# ---- MinGW, run under Wine ----------------------------------------------------
TOOLCHAIN=$ROOT/cmake/mingw-w64-x86_64.cmake
if ! command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1; then
    echo "-- MinGW consumers skipped: x86_64-w64-mingw32-gcc not found"
else
    SAFEFS_WINEPREFIX=${SAFEFS_WINEPREFIX:-$W/wineprefix}
    export SAFEFS_WINEPREFIX
    set -- # wine-env.sh reads $1 as its prefix
    . "$ROOT/scripts/wine-env.sh"
    [ -n "$SAFEFS_WINE" ] || { echo "Wine not found"; exit 1; }
    echo "-- MinGW add_subdirectory, static, under Wine"
    cmake -S "$HERE" -B "$W/mingw-sub" -DCMAKE_TOOLCHAIN_FILE="$TOOLCHAIN" \
          -DSAFEFS_SOURCE_DIR="$ROOT" -DCMAKE_C_FLAGS="-Wall -Wextra -Werror" >/dev/null
    cmake --build "$W/mingw-sub" >/dev/null
    check_run "$W/mingw-sub/consumer.exe" "$W/mingw-sub.txt" "$SAFEFS_WINE"
    check_run "$W/mingw-sub/consumer_cxx.exe" "$W/mingw-sub-cxx.txt" "$SAFEFS_WINE"
    ok=$((ok + 1))
    for kind in static shared; do
        echo "-- MinGW install ($kind) + find_package, under Wine"
        shared=OFF
        [ $kind = shared ] && shared=ON
        cmake -S "$ROOT" -B "$W/mingw-lib-$kind" -DCMAKE_TOOLCHAIN_FILE="$TOOLCHAIN" \
              -DBUILD_SHARED_LIBS=$shared -DSAFEFS_BUILD_TESTS=OFF -DSAFEFS_BUILD_BENCH=OFF \
              -DCMAKE_INSTALL_PREFIX="$W/mingw-prefix-$kind" >/dev/null
        cmake --build "$W/mingw-lib-$kind" >/dev/null
        cmake --install "$W/mingw-lib-$kind" >/dev/null
        cmake -S "$HERE" -B "$W/mingw-pkg-$kind" -DCMAKE_TOOLCHAIN_FILE="$TOOLCHAIN" \
              -DSAFEFS_MINGW_PREFIX="$W/mingw-prefix-$kind" >/dev/null
        cmake --build "$W/mingw-pkg-$kind" >/dev/null
        if [ $kind = shared ]; then
            # the DLL is found beside the program, as an installer puts it
            cp "$W/mingw-prefix-shared/bin/"*.dll "$W/mingw-pkg-shared/"
            if x86_64-w64-mingw32-objdump -p "$W/mingw-pkg-shared/consumer.exe" |
                grep -q 'DLL Name: libsafefs.dll'; then :; else
                echo "consumer.exe does not import libsafefs.dll"; exit 1
            fi
        fi
        check_run "$W/mingw-pkg-$kind/consumer.exe" "$W/mingw-pkg-$kind.txt" "$SAFEFS_WINE"
        check_run "$W/mingw-pkg-$kind/consumer_cxx.exe" "$W/mingw-pkg-$kind-cxx.txt" "$SAFEFS_WINE"
        ok=$((ok + 1))
    done
fi
echo "consumer: $ok passed, 0 failed"
