#!/usr/bin/env bash
# Builds Portico's Debian packages: portico-broker, portico-host, portico-client and portico-pack
# (cmake/Packaging.cmake), from a Release build of their own, into one directory.
#
#   deploy/build-packages.sh [OUTDIR]     (default build-packages/debs)
#
#   PORTICO_PACKAGE_BUILD   the build directory (default build-packages)
#   PORTICO_BUILD_TYPE      CMake build type (default Release)
#   PORTICO_JOBS            parallel compile jobs (default: every core)
#   PORTICO_MAINTAINER      the packages' Maintainer, "Name <email>" (default: the CMake cache's,
#                           "Portico maintainers <portico@localhost>")
#
# Needs what deploy/install-deps.sh installs (build-essential brings dpkg-shlibdeps, which makes
# each package depend on the shared libraries its programs link). Install the result with
# `apt install ./OUTDIR/portico-broker_*.deb` (docs/admin.md).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${PORTICO_PACKAGE_BUILD:-$repo/build-packages}
out=${1:-$build/debs}
export CCACHE_BASEDIR=$repo CCACHE_NOHASHDIR=1

# /usr: the programs' compiled-in defaults (the broker's web root) are where the packages put things.
cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE="${PORTICO_BUILD_TYPE:-Release}" \
  -DCMAKE_INSTALL_PREFIX=/usr -DBUILD_TESTING=OFF ${PORTICO_MAINTAINER:+"-DPORTICO_MAINTAINER=$PORTICO_MAINTAINER"}
cmake --build "$build" -j"${PORTICO_JOBS:-$(nproc)}" --target portico-broker portico-host portico-session-helper portico-client \
  portico-pack portico_pack_runtime man_pages
rm -rf "$build/cpack"
(cd "$build" && cpack -G DEB -B "$build/cpack")
mkdir -p "$out"
rm -f "$out"/portico-*.deb
mv "$build"/cpack/*.deb "$out/"
echo "packages in $out:"
ls -1 "$out"/*.deb
