#!/usr/bin/env bash
# Installs what is missing, builds Portico, and runs a broker plus one local session host with
# a demo user, a published "Terminal" and a VM desktop "Desktop" (pooled, one spare booted).
# Prints the URL to open. Ctrl-C stops everything.
#
# As root (the normal case) nothing runs as root but the small session helper: the broker runs as
# the system account portico-broker, the session host as portico-host (each with its own private
# state directory), and every portal user's apps as that user's own Unix account, which the helper
# creates on first launch. Without root, everything runs as you in single-user mode (no isolation
# between portal users; the host says so in its log and in the console).
#
#   PORTICO_STATE       state directory (default /var/lib/portico as root, else ~/.local/state/portico)
#   PORTICO_PORT        HTTPS port of the portal (default 8443)
#   PORTICO_NO_DESKTOP  1 = skip the VM desktop (its image is built from Debian packages once,
#                       a few minutes, then cached in ~/.cache/portico/images)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${PORTICO_BUILD:-$repo/build}
if [ "$(id -u)" -eq 0 ]; then
  state=${PORTICO_STATE:-/var/lib/portico}
else
  state=${PORTICO_STATE:-${XDG_STATE_HOME:-$HOME/.local/state}/portico}
fi
port=${PORTICO_PORT:-8443}

# ccache hits across clones in different folders (CI clones afresh each run).
export CCACHE_BASEDIR=$repo CCACHE_NOHASHDIR=1

# Installing and building print hundreds of lines nobody needs unless a step fails: they go to a
# log file, and the terminal gets one line per step (the build's with its progress, on a terminal).
mkdir -p "$build"
setup_log=$build/quickstart-setup.log
: >"$setup_log"
step() {  # step LABEL COMMAND...: runs COMMAND with its output in the log; on failure shows the end of it
  local label=$1
  shift
  local rc
  set +e
  if [ -t 1 ]; then
    # Ninja's "[12/160] Building ..." lines become a counter that rewrites itself in place.
    "$@" 2>&1 | tee -a "$setup_log" | awk -v label="$label" '
      match($0, /^\[[0-9]+\/[0-9]+\]/) { printf "\r[portico] %s %s", label, substr($0, RSTART, RLENGTH); fflush() }
      END { printf "\r\033[K" }'
    rc=${PIPESTATUS[0]}
  else
    "$@" >>"$setup_log" 2>&1
    rc=$?
  fi
  set -e
  if [ "$rc" -ne 0 ]; then
    echo "[portico] $label failed (exit $rc); the end of $setup_log:" >&2
    tail -n 40 "$setup_log" >&2
    exit "$rc"
  fi
  echo "[portico] $label: done"
}
echo "[portico] installing and building (details in $setup_log)"
step "installing what is missing" "$repo/deploy/install-deps.sh"
# Without the tests: their tools (Node.js, Chromium, Python) come with install-deps.sh --test only.
step "configuring" cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF
step "building" cmake --build "$build" -j"$(nproc)" --target portico-broker portico-host portico-client \
  portico-session-helper
address=$(hostname -I 2>/dev/null | awk '{print $1}')

if [ "$(id -u)" -eq 0 ]; then
  # Separate, unprivileged accounts, and state directories that only their owner can read: a
  # session (running as its user) reaches neither the broker's keys and database nor the host's.
  for account in portico-broker portico-host; do
    id -u "$account" >/dev/null 2>&1 ||
      useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$account"
  done
  getent group kvm >/dev/null && usermod -a -G kvm portico-host  # KVM for VM desktops, where usable
  broker_state=$state/broker host_state=$state/host
  install -d -m 0755 "$state"
  install -d -m 0700 -o portico-broker -g portico-broker "$broker_state"
  install -d -m 0700 -o portico-host -g portico-host "$host_state"
  # What the services run, where their accounts can read it (a checkout under /root is not).
  install -d -m 0755 "$state/bin" "$state/share"
  install -m 0755 "$build/broker/portico-broker" "$build/session-host/portico-host" \
    "$build/session-host/portico-session-helper" "$state/bin/"
  rm -rf "$state/share/web" "$state/share/console"
  cp -r "$repo/client/web" "$state/share/web"
  cp -r "$repo/broker/console" "$state/share/console"
  chmod -R a+rX "$state/share"
  broker_bin=$state/bin/portico-broker host_bin=$state/bin/portico-host web_root=$state/share/web
  console_root=$state/share/console
  as_broker_prefix=(setpriv --reuid=portico-broker --regid=portico-broker --init-groups --reset-env --)
else
  broker_state=$state host_state=$state/host
  mkdir -p "$host_state"
  broker_bin=$build/broker/portico-broker host_bin=$build/session-host/portico-host web_root=$repo/client/web
  console_root=$repo/broker/console
  as_broker_prefix=()
fi
as_broker() { "${as_broker_prefix[@]}" "$@"; }

# The demo password is generated, never fixed: a fresh one on first start, a new one on every
# later start (it is only ever printed here).
if [ -f "$broker_state/portico.db" ]; then
  credentials=$(as_broker "$broker_bin" reset-password --state "$broker_state" --user demo)
  # The console's admin (state directories from before the admin console have none).
  if admin_credentials=$(as_broker "$broker_bin" reset-password --state "$broker_state" --user admin 2>/dev/null); then
    credentials="$credentials
$(echo "$admin_credentials" | sed 's/^/admin /')"
  fi
else
  credentials=$(as_broker "$broker_bin" init --state "$broker_state" ${address:+--host-name "$address"})
fi

# VM desktops: the desktop guest image (Debian packages only; cached, so later starts are instant)
# published as "Desktop". Without it the portal simply offers Terminal.
images=$state/images
host_vm_args=()
if [ "${PORTICO_NO_DESKTOP:-0}" != 1 ]; then
  echo "[portico] preparing the desktop guest image (the first time takes a few minutes)"
  if "$repo/deploy/guest/build-desktop-image.sh" "$images/desktop" >>"$setup_log" 2>&1; then
    as_broker "$broker_bin" publish-desktop --state "$broker_state" --id desktop --name Desktop --image desktop --mode pooled \
      --size 4 --spares 1 --memory 768 --cpus 1 >/dev/null
    host_vm_args=(--images "$images")
  else
    echo "[portico] could not build the desktop image (see $setup_log); continuing without the Desktop resource"
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
install -d -m 0700 "$logs"
# A simple command, not the function: its pid is then the broker's own (setpriv execs it), so the
# cleanup's signal reaches the broker and not a subshell that would leave it running.
"${as_broker_prefix[@]}" "$broker_bin" serve --state "$broker_state" --listen "0.0.0.0:$port" --web-root "$web_root" \
  --console-root "$console_root" >"$logs/broker.log" 2>&1 &
broker_pid=$!
for _ in $(seq 100); do grep -q "listening" "$logs/broker.log" 2>/dev/null && break; sleep 0.1; done
grep -q "listening" "$logs/broker.log" || { cat "$logs/broker.log"; echo "[portico] the broker did not start"; exit 1; }

# The host authenticates with a certificate (mutual TLS, the broker's default): on its first start
# it enrolls with a one-time token issued for its host id; later starts reuse the certificate.
host_id="$(hostname -s)-local"
host_enroll=()
if [ ! -f "$host_state/broker-client.crt" ]; then
  host_enroll=(--enroll "$(as_broker "$broker_bin" enroll-token --state "$broker_state" --host-id "$host_id" --ttl 600)")
fi
host_cmd=("$host_bin" --broker "wss://127.0.0.1:$port/api/v1/control" --broker-ca "$host_state/broker-ca.crt"
  "${host_enroll[@]}" --host-id "$host_id" --name "local session host" --state-dir "$host_state" "${host_vm_args[@]}")
install -m 0644 "$broker_state/tls/broker.crt" "$host_state/broker-ca.crt"
if [ "$(id -u)" -eq 0 ]; then
  # The helper stays root (it only starts sessions as their users) and runs the host as portico-host.
  "$state/bin/portico-session-helper" --service-user portico-host -- "${host_cmd[@]}" >"$logs/host.log" 2>&1 &
else
  echo "[portico] not root: app sessions run as $(id -un) in single-user mode (no isolation between portal users)"
  "${host_cmd[@]}" --single-user-mode >"$logs/host.log" 2>&1 &
fi
host_pid=$!
pids=("$host_pid" "$broker_pid")
for _ in $(seq 150); do grep -q "portico-host ready" "$logs/host.log" 2>/dev/null && break; sleep 0.1; done
grep -q "portico-host ready" "$logs/host.log" || { cat "$logs/host.log"; echo "[portico] the session host did not start"; exit 1; }

echo
echo "Portico is running."
echo "$credentials" | grep -E "(user|password): " | sed 's/^demo //; s/^/  /'
echo "  open:  https://localhost:$port/${address:+   (or https://$address:$port/)}"
echo "  admin console: https://localhost:$port/console/ (log in as admin)"
echo "  (self-signed certificate: accept it in the browser; its file is $broker_state/tls/broker.crt)"
echo "  logs:  $logs"
echo "Press Ctrl-C to stop."
# If either process dies, stop the other too (the EXIT trap).
wait -n "$broker_pid" "$host_pid" || true
