"""A real Portico stack on loopback for integration tests: a broker and a session host as child
processes with a fresh state directory, plus helpers to talk to them (HTTPS REST, a minimal
WebSocket client, the headless native client). Nothing here is faked: every byte crosses real
TLS to the real binaries."""

import base64
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import time
import traceback


def _display_version():
    """The display protocol's version, read from the one place it is defined (protocol/display.hpp)."""
    header = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "protocol", "display.hpp")
    with open(header) as f:
        return int(re.search(r"kDisplayVersion = (\d+);", f.read()).group(1))


DISPLAY_VERSION = _display_version()  # docs/protocol.md, display channel


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def descendants(pid):
    """Every live process whose parent chain leads to pid (read from /proc)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
            parents[int(entry)] = ppid
        except (OSError, ValueError):
            continue
    out = []
    for p in parents:
        q = p
        while q in parents and q > 1:
            q = parents[q]
            if q == pid:
                out.append(p)
                break
    return out


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return None


def x_screen_rgb(display, xauthority, window=None):
    """(width, height, RGB bytes) of an X display's root window (or of one window, by id), read
    with xwd (x11-apps)."""
    target = ["-id", str(window)] if window else ["-root"]
    env = dict(os.environ, XAUTHORITY=xauthority) if xauthority else dict(os.environ)
    data = subprocess.run(["xwd", *target, "-silent", "-display", display], check=True, capture_output=True,
                          timeout=30, env=env).stdout
    f = struct.unpack(">25I", data[:100])
    header_size, fmt, width, height, byte_order, bpp, bpl = f[0], f[2], f[4], f[5], f[7], f[11], f[12]
    red, green, blue, ncolors = f[14], f[15], f[16], f[19]
    assert fmt == 2 and bpp == 32, f"xwd: ZPixmap at 32 bits per pixel expected (format {fmt}, {bpp} bpp)"
    assert (red, green, blue) == (0xFF0000, 0xFF00, 0xFF), "xwd: a 24-bit TrueColor visual expected"
    pixels = data[header_size + 12 * ncolors:]
    out = bytearray(width * height * 3)
    for y in range(height):
        row = pixels[y * bpl:y * bpl + width * 4]
        if byte_order == 1:  # MSBFirst: X, R, G, B
            r, g, b = row[1::4], row[2::4], row[3::4]
        else:  # LSBFirst: B, G, R, X
            r, g, b = row[2::4], row[1::4], row[0::4]
        line = out[y * width * 3:(y + 1) * width * 3]
        line[0::3], line[1::3], line[2::3] = r, g, b
        out[y * width * 3:(y + 1) * width * 3] = line
    return width, height, bytes(out)


SERVICE_ACCOUNT = "portico-host"      # what the quickstart runs the host as, too
TEST_UID_RANGE = "250000-259999"      # accounts the helper creates for test users
TEST_RUNTIME_DIR = "/run/portico-sessions-test"


def ensure_service_account():
    """The unprivileged account the session host runs as (a system account without a login)."""
    if subprocess.run(["id", "-u", SERVICE_ACCOUNT], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                        "--shell", "/usr/sbin/nologin", SERVICE_ACCOUNT], check=True, capture_output=True)
    return int(subprocess.run(["id", "-u", SERVICE_ACCOUNT], check=True, capture_output=True,
                              text=True).stdout), int(subprocess.run(["id", "-g", SERVICE_ACCOUNT], check=True,
                                                                     capture_output=True, text=True).stdout)


def prepare_service_state(stack_dir, state_dir, broker_ca):
    """The host's state directory, owned by the service account and private to it; the broker's
    certificate copied into it (the broker's own state stays private to the broker)."""
    uid, gid = ensure_service_account()
    os.chmod(stack_dir, 0o711)  # the service account may pass through, not list
    os.makedirs(state_dir, mode=0o700, exist_ok=True)
    ca_copy = os.path.join(state_dir, "broker-ca.crt")
    shutil.copyfile(broker_ca, ca_copy)
    for path in (state_dir, ca_copy):
        os.chown(path, uid, gid)
    return ca_copy


def stop_processes(procs):
    """SIGTERM to each running process (None entries are skipped), then each gets 15 s before SIGKILL."""
    procs = [p for p in procs if p]
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def run_case(stack, case):
    """Starts `stack`, runs case(stack) and returns the test's exit status: the case's own (77 for
    a skip) or 0. Any exception fails it (1) with the stack's logs and then the traceback printed
    (last, so that a report that keeps only an output's head and tail keeps the cause); a failed
    stack's folder is kept for a look."""
    ok = False
    try:
        stack.start()
        result = case(stack)
        ok = True
        return result or 0
    except Exception as e:  # noqa: BLE001 - report any failure with the logs
        stack.dump_logs()
        traceback.print_exc()
        print(f"FAILED: {type(e).__name__}: {e}")
        return 1
    finally:
        stack.stop(keep=not ok)


class Stack:
    def __init__(self, build_dir, source_dir, name="it"):
        self.build = build_dir
        self.source = source_dir
        self.dir = tempfile.mkdtemp(prefix=f"portico-{name}-")
        self.state = os.path.join(self.dir, "state")
        self.password = secrets.token_urlsafe(12)
        self.admin_password = secrets.token_urlsafe(12)
        # Where users, clients and hosts reach the broker: the broker itself on loopback, or the
        # load balancer in front of several (use_entry; tests/integration/cluster.py).
        self.address = "127.0.0.1"
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.database = None  # --database URL of every broker command (PostgreSQL); None: the state's SQLite
        self.broker = None
        self.host = None
        self.host_id = f"{name}-host"
        self.host_args = []  # extra portico-host flags (e.g. --images DIR)
        self.broker_args = []  # extra `portico-broker serve` flags (e.g. --metrics-token-file FILE)
        # True: the host runs as the unprivileged SERVICE_ACCOUNT under portico-session-helper and
        # each portal user's apps run as their own Unix account (needs root). False: the host runs
        # as this process's account and is told so explicitly (--single-user-mode).
        self.privsep = False

    # ---- processes ----
    def bin(self, name):
        for sub in ("broker", "session-host", "client/native", "packager"):
            p = os.path.join(self.build, sub, name)
            if os.path.exists(p):
                return p
        raise FileNotFoundError(name)

    def start(self):
        self.init()
        self.start_broker()
        self.start_host()
        return self

    def use_entry(self, address, port):
        """Users, clients and hosts reach the broker(s) at address:port from now on (a load balancer)."""
        self.address, self.port = address, port
        self.url = f"https://{address}:{port}"

    def database_args(self):
        return ["--database", self.database] if self.database else []

    def init(self, host_name=None):
        """`portico-broker init` of the stack's state (and its database); host_name goes into the
        TLS certificate beside localhost and 127.0.0.1 (the load balancer's address, say)."""
        args = [self.bin("portico-broker"), "init", "--state", self.state, *self.database_args(),
                "--demo-password", self.password, "--admin-password", self.admin_password]
        if host_name:
            args += ["--host-name", host_name]
        subprocess.run(args, check=True, capture_output=True, timeout=60)

    def start_broker(self, log_name="broker", machine=None, listen=None, extra=(), state=None):
        """Serves the state directory on the stack's port (again, after a kill: the fault suite). With
        a machine (tests/integration/netns.py), the broker runs in it and listens on `listen`, its
        address and port, and is returned rather than kept as the stack's broker; `state` is another
        broker's copy of the state directory (several brokers on one database)."""
        log = open(os.path.join(self.dir, f"{log_name}.log"), "w+")
        args = [self.bin("portico-broker"), "serve", "--state", state or self.state, *self.database_args(),
                "--listen", listen or f"127.0.0.1:{self.port}",
                "--web-root", os.path.join(self.source, "client/web"),
                "--console-root", os.path.join(self.source, "broker/console"), *self.broker_args, *extra]
        proc = machine.popen(args, stdout=log, stderr=subprocess.STDOUT) if machine else \
            subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        wait_for(lambda: "listening" in self.read_log(log_name) or proc.poll() is not None, 30, "the broker to listen")
        if proc.poll() is not None:
            raise RuntimeError(f"the broker ({log_name}) exited with {proc.returncode}:\n"
                               + self.read_log(log_name)[-3000:])
        if machine:
            return proc
        self.broker_log, self.broker = log, proc
        return proc

    def enroll_token(self, host_id=""):
        """A one-time enrollment token from the broker's CLI (what an admin gets from the console)."""
        args = [self.bin("portico-broker"), "enroll-token", "--state", self.state, *self.database_args()]
        if host_id:
            args += ["--host-id", host_id]
        return subprocess.run(args, check=True, capture_output=True, text=True, timeout=30).stdout.strip()

    def spawn_host(self, host_id, log_name, extra=(), state_name=None, auto_enroll=True, machine=None):
        """Starts a portico-host enrolled with mutual TLS (enrolling it on its first start). With a
        machine (tests/integration/netns.py) it runs there, its display endpoint on the machine's
        address, and reaches the broker at the stack's entry (use_entry)."""
        state_dir = os.path.join(self.dir, state_name or log_name)
        broker_ca = os.path.join(self.state, "tls/broker.crt")
        if self.privsep:
            broker_ca = prepare_service_state(self.dir, state_dir, broker_ca)
        args = [self.bin("portico-host"), "--broker", f"wss://{self.address}:{self.port}/api/v1/control",
                "--broker-ca", broker_ca, "--host-id", host_id, "--state-dir", state_dir, *extra]
        if machine:
            args += ["--listen", f"{machine.address}:0", "--public-address", machine.address]
        if auto_enroll and not os.path.exists(os.path.join(state_dir, "broker-client.crt")):
            args += ["--enroll", self.enroll_token(host_id)]
        env = None
        if self.privsep:
            args = [self.bin("portico-session-helper"), "--service-user", SERVICE_ACCOUNT, "--accounts", "create",
                    "--uid-range", TEST_UID_RANGE, "--runtime-dir", TEST_RUNTIME_DIR, "--", *args]
        else:
            args.append("--single-user-mode")
            # A single-user host's sessions inherit its HOME: give them an empty one, so the shell in
            # a session's xterm reads no dotfiles of the machine's account (a CI runner's .bashrc
            # that waits a minute on a stale pyenv lock kept every typed command from running).
            env = dict(os.environ, HOME=os.path.join(self.dir, "home"))
            os.makedirs(env["HOME"], mode=0o700, exist_ok=True)
        log = open(os.path.join(self.dir, f"{log_name}.log"), "w+")
        if machine:
            return machine.popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
        return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)

    def start_host(self):
        self.host = self.spawn_host(self.host_id, "host", extra=self.host_args)
        wait_for(lambda: "portico-host ready" in self.read_log("host"), 30, "the session host to register")

    def read_log(self, which):
        path = os.path.join(self.dir, f"{which}.log")
        try:
            with open(path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self, keep=False):
        stop_processes([self.host, self.broker])
        if not keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    def dump_logs(self):
        for which in ("broker", "host"):
            print(f"----- {which}.log -----")
            print(self.read_log(which)[-6000:])

    # ---- REST ----
    def ssl_context(self):
        ctx = ssl.create_default_context(cafile=os.path.join(self.state, "tls/broker.crt"))
        return ctx

    def request(self, method, path, body=None, cookie=None, content_type="application/json"):
        conn = http.client.HTTPSConnection(self.address, self.port, context=self.ssl_context(), timeout=30)
        headers = {}
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        if content_type and method in ("POST", "DELETE", "PUT", "PATCH"):
            headers["Content-Type"] = content_type
        if cookie:
            headers["Cookie"] = cookie
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        conn.close()
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = raw
        return resp.status, resp.getheaders(), payload

    def login(self, user="demo", password=None):
        status, headers, body = self.request("POST", "/api/v1/login",
                                             {"username": user, "password": password or self.password})
        assert status == 200, (status, body)
        cookie = next(v for k, v in headers if k.lower() == "set-cookie")
        return cookie.split(";")[0]

    # ---- headless client ----
    def client(self, *args, timeout=120, user="demo", password=None):
        env = dict(os.environ, PORTICO_PASSWORD=password or self.password)
        cmd = [self.bin("portico-client"), "--headless", "--broker", self.url, "--user", user,
               "--ca", os.path.join(self.state, "tls/broker.crt"), *args]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        stats = None
        for line in proc.stdout.splitlines():
            if line.startswith("{"):
                stats = json.loads(line)
        return proc, stats

    def session_processes(self):
        """Xvfb and app processes the host has running."""
        return [(p, comm(p)) for p in descendants(self.host.pid)]


class WebSocket:
    """Just enough of RFC 6455 (client side) to speak the display protocol in tests."""

    def __init__(self, port, path, cafile=None, pinned=None, rcvbuf=None, address="127.0.0.1"):
        raw = socket.socket()
        raw.settimeout(15)
        if rcvbuf:  # before connect, so the window the host sees is small from the first segment
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        raw.connect((address, port))
        ctx = ssl.create_default_context(cafile=cafile) if cafile else ssl._create_unverified_context()
        self.sock = ctx.wrap_socket(raw, server_hostname=address)
        key = base64.b64encode(os.urandom(16)).decode()
        req = (f"GET {path} HTTP/1.1\r\nHost: {address}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
        self.sock.sendall(req.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise ConnectionError("closed during handshake")
            head += chunk
        self.status = int(head.split(b" ")[1])
        if self.status != 101:
            raise ConnectionError(f"upgrade refused with HTTP {self.status}")

    def send(self, payload, opcode=2):
        header = bytes([0x80 | opcode])
        n = len(payload)
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 65536:
            header += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def _exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("closed")
            buf += chunk
        return buf

    def recv(self):
        """Returns (opcode, payload); opcode 8 = close."""
        b0, b1 = self._exact(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack(">H", self._exact(2))[0]
        elif n == 127:
            n = struct.unpack(">Q", self._exact(8))[0]
        return b0 & 0x0F, self._exact(n)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def hello(ticket, version=DISPLAY_VERSION):
    t = ticket.encode()
    return bytes([0x01]) + struct.pack("<HH", version, len(t)) + t
