#!/usr/bin/env bash
# Installs what is missing, builds Portico once, and runs every test (unit, integration with real
# processes on loopback, browser tests in headless Chromium) through ctest.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${PORTICO_BUILD:-$repo/build}

# ccache hits across clones in different folders (CI clones afresh each run).
export CCACHE_BASEDIR=$repo CCACHE_NOHASHDIR=1

"$repo/deploy/install-deps.sh" --test

start=$(date +%s)
# BUILD_TESTING explicitly: the quickstart may have configured the same build folder without tests.
cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=ON >/dev/null
cmake --build "$build" -j"$(nproc)"
echo "[test] built in $(( $(date +%s) - start )) s"

cd "$build"
ctest --output-on-failure -j"$(nproc)" --timeout 300 "$@"
