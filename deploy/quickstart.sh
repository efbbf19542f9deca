#!/usr/bin/env bash
# Installs what is missing, builds Portico, and runs a broker plus one local session host with
# a demo user, a published "Terminal" and a VM desktop "Desktop" (pooled, one spare booted).
# Prints the URL to open. Ctrl-C stops everything.
#
#   PORTICO_STATE       state directory (default ~/.local/state/portico)
#   PORTICO_PORT        HTTPS port of the portal (default 8443)
#   PORTICO_NO_DESKTOP  1 = skip the VM desktop (its image is built from Debian packages once,
#                       a few minutes, then cached in ~/.cache/portico/images)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${PORTICO_BUILD:-$repo/build}
state=${PORTICO_STATE:-${XDG_STATE_HOME:-$HOME/.local/state}/portico}
port=${PORTICO_PORT:-8443}

# ccache hits across clones in different folders (CI clones afresh each run).
export CCACHE_BASEDIR=$repo CCACHE_NOHASHDIR=1

"$repo/deploy/install-deps.sh"
# Without the tests: their tools (Node.js, Chromium, Python) come with install-deps.sh --test only.
cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target portico-broker portico-host portico-client

broker_bin=$build/broker/portico-broker
host_bin=$build/session-host/portico-host
address=$(hostname -I 2>/dev/null | awk '{print $1}')

# The demo password is generated, never fixed: a fresh one on first start, a new one on every
# later start (it is only ever printed here).
if [ -f "$state/portico.db" ]; then
  credentials=$("$broker_bin" reset-password --state "$state" --user demo)
  # The console's admin (state directories from before the admin console have none).
  if admin_credentials=$("$broker_bin" reset-password --state "$state" --user admin 2>/dev/null); then
    credentials="$credentials
$(echo "$admin_credentials" | sed 's/^/admin /')"
  fi
else
  credentials=$("$broker_bin" init --state "$state" ${address:+--host-name "$address"})
fi

# VM desktops: the desktop guest image (Debian packages only; cached, so later starts are instant)
# published as "Desktop". Without it the portal simply offers Terminal.
images=$state/images
host_vm_args=()
if [ "${PORTICO_NO_DESKTOP:-0}" != 1 ]; then
  echo "[portico] preparing the desktop guest image (the first time takes a few minutes)"
  if "$repo/deploy/guest/build-desktop-image.sh" "$images/desktop"; then
    "$broker_bin" publish-desktop --state "$state" --id desktop --name Desktop --image desktop --mode pooled \
      --size 4 --spares 1 --memory 768 --cpus 1 >/dev/null
    host_vm_args=(--images "$images")
  else
    echo "[portico] could not build the desktop image; continuing without the Desktop resource"
  fi
fi

pids=()
cleanup() {
  trap - INT TERM EXIT
  echo
  echo "[portico] stopping..."
  # The host first, so it ends its sessions (Xvfb, apps) and tells the broker.
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  echo "[portico] stopped"
}
trap cleanup INT TERM EXIT

logs=$state/logs
mkdir -p "$logs"
"$broker_bin" serve --state "$state" --listen "0.0.0.0:$port" --web-root "$repo/client/web" --console-root "$repo/broker/console" \
  >"$logs/broker.log" 2>&1 &
broker_pid=$!
for _ in $(seq 100); do grep -q "listening" "$logs/broker.log" 2>/dev/null && break; sleep 0.1; done
grep -q "listening" "$logs/broker.log" || { cat "$logs/broker.log"; echo "[portico] the broker did not start"; exit 1; }

"$host_bin" --broker "wss://127.0.0.1:$port/api/v1/control" --broker-ca "$state/tls/broker.crt" \
  --secret-file "$state/enrollment-secret" --host-id "$(hostname -s)-local" --name "local session host" \
  --state-dir "$state/host" "${host_vm_args[@]}" >"$logs/host.log" 2>&1 &
host_pid=$!
pids=("$host_pid" "$broker_pid")
for _ in $(seq 150); do grep -q "portico-host ready" "$logs/host.log" 2>/dev/null && break; sleep 0.1; done
grep -q "portico-host ready" "$logs/host.log" || { cat "$logs/host.log"; echo "[portico] the session host did not start"; exit 1; }

echo
echo "Portico is running."
echo "$credentials" | grep -E "(user|password): " | sed 's/^demo //; s/^/  /'
echo "  open:  https://localhost:$port/${address:+   (or https://$address:$port/)}"
echo "  admin console: https://localhost:$port/console/ (log in as admin)"
echo "  (self-signed certificate: accept it in the browser; its file is $state/tls/broker.crt)"
echo "  logs:  $logs"
echo "Press Ctrl-C to stop."
# If either process dies, stop the other too (the EXIT trap).
wait -n "$broker_pid" "$host_pid" || true
