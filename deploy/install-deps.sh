#!/usr/bin/env bash
# Installs, from Debian 12 packages and the npm registry, everything Portico needs to build,
# run and test (--test), and benchmark against peers (--bench: --test's packages plus the peers).
# Idempotent: installs only what is missing. Run as root or with sudo available.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)

build_pkgs=(
  build-essential cmake ninja-build ccache pkg-config git
  lld  # the linker (cmake/PorticoBuild.cmake, means 8): a third of GNU ld's time per executable
  libboost-dev libssl-dev libsqlite3-dev libargon2-dev
  libpq-dev  # the PostgreSQL store (broker/pg_store.cpp, libpq)
  libx264-dev libturbojpeg0-dev libyuv-dev nlohmann-json3-dev catch2
  libcli11-dev  # the one argument and config-file parser of every executable (common/cli.hpp)
  libxcb1-dev libxcb-shm0-dev libxcb-damage0-dev libxcb-xtest0-dev libxcb-xfixes0-dev libxcb-randr0-dev
  libxcb-xkb-dev libxkbcommon-dev libxkbcommon-x11-dev
  libavcodec-dev libavutil-dev libpng-dev zlib1g-dev libzstd-dev
  musl-tools  # the static package runtime (packager/runtime)
  help2man  # the packages' man pages, from each program's --help (cmake/Packaging.cmake)
  libsdl2-dev  # the native client's window (client/native/session_window.cpp, docs/native-client.md)
  libx11-dev  # the native client's X error handler (client/native/x11_errors.cpp; SDL's X11 driver runs on Xlib)
  libsdl2-ttf-dev  # the native client's login window's text (client/native/login_dialog.cpp)
)
run_pkgs=(
  xvfb xterm x11-xkb-utils xkb-data xfonts-base openssl procps
  libpq5  # the broker's PostgreSQL client library (serve --database postgresql://...)
  fonts-dejavu-core  # "Monospace" for the demo Terminal's Xft font (scales with the session's DPI); the client's login window
  libsdl2-2.0-0  # the native client's window
  libsdl2-ttf-2.0-0  # the native client's login window (text in DejaVu Sans)
  # VM desktops: QEMU, and what deploy/guest/build-desktop-image.sh builds the desktop image with
  qemu-system-x86 qemu-utils mmdebstrap genext2fs e2fsprogs xz-utils  # xz: the guest kernel (pvh-kernel.sh)
)
test_pkgs=(
  chromium x11-utils x11-apps python3 jq squashfs-tools util-linux iproute2  # x11-apps: xwd (tests compare the X screen); iproute2: ss (drops a WebSocket)
  qemu-system-x86 qemu-utils busybox-static linux-image-amd64 cpio
  debian-installer-12-netboot-amd64  # a golden image made by Debian, not by us (vm_browser_foreign, bench/vm)
  clang libclang-rt-14-dev  # the libFuzzer targets (tests/fuzz): clang 14 and its fuzzer/sanitizer runtimes
  clang-format  # tools/format-check (.clang-format)
  postgresql  # the postgres-labelled tests start their own server from /usr/lib/postgresql/*/bin (pg_server.hpp)
  haproxy  # the cluster tests and benches: the load balancer in front of the brokers (deploy/haproxy/haproxy.cfg)
  xdotool xclip  # the native client's window tests drive its display (tests/integration/test_native_window.py)
  # native_window_monitors: a client display with two monitors. Xorg's dummy driver has RandR
  # outputs SDL lists as displays (Xvfb has one); xrandr switches them on.
  xserver-xorg-core xserver-xorg-video-dummy x11-xserver-utils
  openbox  # a window manager: full screen needs one on the client display; in a session one maximises onto a monitor
  systemd file  # tests/packaging: systemd-analyze verify; cpack's shlibdeps finds ELF files with file
  systemd-container  # tests/packaging/test_admin_guide.py: boots the guide's machines with systemd-nspawn
  desktop-file-utils shared-mime-info  # tests/packaging: desktop-file-validate, update-mime-database (the client's launch-file type)
)

# The peers bench/display/bench_display.py measures Portico against, and what they need to run
# well (Xpra without PIL, cairo bindings and the lz4/lzo packet compressors fails or degrades).
bench_pkgs=(
  ffmpeg x11vnc xtightvncviewer xdotool vim-tiny dillo  # vim-tiny, dillo: the editor and browser-like workloads
  xpra python3-pil python3-gi-cairo python3-numpy python3-lz4 python3-lzo python3-brotli
  python3-xdg python3-pyinotify python3-setproctitle python3-cpuinfo
  tigervnc-standalone-server tigervnc-viewer  # bench/client/cpu_per_frame.py: Xvnc and xtigervncviewer
)

mode="${1:-}"
want=("${build_pkgs[@]}" "${run_pkgs[@]}")
if [ "$mode" = "--test" ] || [ "$mode" = "--bench" ]; then want+=("${test_pkgs[@]}"); fi
if [ "$mode" = "--bench" ]; then want+=("${bench_pkgs[@]}"); fi

missing=()
# Node.js may come from elsewhere (e.g. NodeSource, whose nodejs bundles npm): only ask Debian
# for it when the commands are absent.
if { [ "$mode" = "--test" ] || [ "$mode" = "--bench" ]; } && ! { command -v node && command -v npm; } >/dev/null 2>&1; then
  want+=(nodejs npm)
fi
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

if [ ${#missing[@]} -gt 0 ]; then
  echo "[deps] installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "[deps] all Debian packages present"
fi

# The test packages from npm as each package-lock.json pins them, reinstalled when a checkout holds
# another version: playwright-core for the browser tests (1.61: the last that runs on Debian 12's
# Node.js 18), axe-core for their accessibility audit, and openapi-backend for the REST contract
# test (tests/contract; 5.20: Node.js 20).
if [ "$mode" = "--test" ] || [ "$mode" = "--bench" ]; then
  for dir_and_package in tests/browser:playwright-core tests/browser:axe-core tests/contract:openapi-backend; do
    dir=$here/${dir_and_package%%:*} package=${dir_and_package#*:}
    wanted=$(node -p 'require(process.argv[1]).dependencies[process.argv[2]]' "$dir/package.json" "$package")
    have=$(node -p 'require(process.argv[1]).version' "$dir/node_modules/$package/package.json" 2>/dev/null || true)
    if [ "$have" != "$wanted" ]; then
      echo "[deps] installing $package $wanted (npm) in ${dir_and_package%%:*}"
      (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    fi
  done
fi
