#!/usr/bin/env bash
# Installs what is missing, builds Portico once, and runs every test (unit, integration with real
# processes on loopback, browser tests in headless Chromium) through ctest; then the same unit and
# integration tests built with AddressSanitizer + UndefinedBehaviorSanitizer, and the libFuzzer
# targets briefly (docs/architecture.md, "Fuzzing and sanitizers"). Stops at the first stage that
# fails, says which, and exits non-zero. Arguments go to the main ctest run only.
# PORTICO_ASAN=0 skips the ASan + UBSan stages, PORTICO_FUZZ_TESTS=0 the fuzz stages (for a quick
# local run; CI runs them all).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${PORTICO_BUILD:-$repo/build}
asan_build=${PORTICO_ASAN_BUILD:-$repo/build-asan}
fuzz_build=${PORTICO_FUZZ_BUILD:-$repo/build-fuzz}

# ccache hits across clones in different folders (CI clones afresh each run).
export CCACHE_BASEDIR=$repo CCACHE_NOHASHDIR=1

stage=""
stage_start=0
begin() {
  [ -n "$stage" ] && echo "[test] stage '$stage' passed in $(( $(date +%s) - stage_start )) s"
  stage=$1
  stage_start=$(date +%s)
  echo "[test] stage '$stage'"
}
trap 'rc=$?; if [ $rc -ne 0 ]; then echo "[test] FAILED in stage '"'"'$stage'"'"' (exit $rc)" >&2; fi' EXIT

begin deps
"$repo/deploy/install-deps.sh" --test

# Which figures in bench/results/ no longer describe the code (a report; it fails nothing).
begin bench-freshness
/usr/bin/python3 "$repo/bench/check-fresh"

begin build
# BUILD_TESTING explicitly: the quickstart may have configured the same build folder without tests.
cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=ON >/dev/null
cmake --build "$build" -j"$(nproc)"

begin tests
(cd "$build" && ctest --output-on-failure -j"$(nproc)" --timeout 300 "$@")

if [ "${PORTICO_ASAN:-1}" != "0" ]; then
  begin asan-build
  cmake -S "$repo" -B "$asan_build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=ON -DPORTICO_SANITIZE=ON >/dev/null
  cmake --build "$asan_build" -j"$(nproc)"

  # The same unit and integration tests under ASan + UBSan (options: tests/fuzz/sanitizers.cmake).
  # Not the browser and VM tests: under the sanitizers they take several times their usual minutes
  # and exercise the same C++ code paths as the integration tests that do run. Nor three tests whose
  # subject the sanitizers' runtime itself changes: the two that run this process out of file
  # descriptors (UBSan checks memory through a pipe, so with none left it reports every checked
  # object as invalid), and e2e_slow_link, which asserts the host's memory stays flat (ASan keeps
  # freed memory in a 256 MiB quarantine, so RSS climbs by design). They run in the stage above.
  begin asan-tests
  (cd "$asan_build" && ctest --output-on-failure -j"$(nproc)" --timeout 600 -LE 'browser|vm|fuzz' \
     -E 'EMFILE|out of file descriptors|^e2e_slow_link$')
fi

if [ "${PORTICO_FUZZ_TESTS:-1}" != "0" ]; then
  # Each libFuzzer target for PORTICO_FUZZ_SECONDS (15) over its seed corpus, clang + ASan + UBSan.
  begin fuzz-build
  cmake -S "$repo" -B "$fuzz_build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPORTICO_FUZZ=ON \
    -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang >/dev/null
  cmake --build "$fuzz_build" -j"$(nproc)"

  begin fuzz-tests
  (cd "$fuzz_build" && ctest --output-on-failure -j"$(nproc)" -L fuzz)
fi
begin done
