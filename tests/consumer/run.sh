#!/bin/sh
# Builds and runs tests/consumer the ways an application vendors safefs.
#   tests/consumer/run.sh WORKDIR
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
W=${1:?usage: run.sh WORKDIR}
rm -rf "$W"
mkdir -p "$W"
ok=0

echo "-- add_subdirectory, static"
cmake -S "$HERE" -B "$W/sub" -DSAFEFS_SOURCE_DIR="$ROOT" \
      -DCMAKE_C_FLAGS="-Wall -Wextra -Werror" >/dev/null
cmake --build "$W/sub" >/dev/null
"$W/sub/consumer" "$W/sub.txt" && "$W/sub/consumer_cxx" "$W/sub-cxx.txt"
ok=$((ok + 1))

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
    "$W/pkg-$kind/consumer" "$W/pkg-$kind.txt"
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
    LD_LIBRARY_PATH=$(dirname "$libdir") "$W/pc-$kind" "$W/pc-$kind.txt"
    ok=$((ok + 1))
done
echo "consumer: $ok passed, 0 failed"
