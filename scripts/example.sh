#!/bin/sh
# Builds the safefs tool and uses it on an example, from a fresh Debian
# machine (as root it installs the compiler and CMake if they are missing).
set -eu
cd "$(dirname "$0")/.."
if ! command -v cmake >/dev/null 2>&1 || ! command -v cc >/dev/null 2>&1; then
    apt-get update -q && apt-get install -y -q build-essential cmake
fi
cmake -S . -B build/tool -DCMAKE_BUILD_TYPE=Release -DSAFEFS_BUILD_TESTS=OFF \
      -DSAFEFS_BUILD_BENCH=OFF >/dev/null
cmake --build build/tool >/dev/null
mkdir -p build/example
printf '{"theme": "dark", "autosave": true}\n' > build/example/settings.json
echo "before: $(cat build/example/settings.json)"
printf '{"theme": "light", "autosave": true}\n' | build/tool/bin/safefs write build/example/settings.json
echo "after:  $(cat build/example/settings.json)"
ls -A build/example
