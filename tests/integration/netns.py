"""Machines for the tests and benches of several machines, simulated on this one with network
namespaces (needs root): a bridge, and one namespace per machine with its own veth, its own address
on the run's /24 (10.77.<subnet>.<n>) and its own loopback. Processes run inside a machine with
`ip netns exec`, so a broker, a host or PostgreSQL there sees only its own address and the
bridge, as it would on a real network. This process stays in the root namespace, which has the
bridge's address (.1) and reaches every machine.

Names carry a run id (this process's pid and a counter) so two tests can run at once. Teardown
kills every process in the run's namespaces and deletes them and the bridge; it runs on close(),
at exit, on SIGTERM/SIGINT (Ctrl-C), and a run whose process died without it (kill -9) is swept
by the next Network created, which finds its record under /run/portico-netns.

    with Network() as net:                       # or net = Network(); ...; net.close()
        db = net.machine("db")                   # Machine: .name .address .popen(args) .run(args)
        pg = Postgres(db, workdir)               # a real PostgreSQL listening on db.address
"""

import atexit
import fcntl
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

RECORDS = "/run/portico-netns"
PREFIX = "pt"  # every interface and namespace this module makes starts with it


def _ip(*args, check=True):
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def _alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _kill_namespace(ns):
    """Every process in namespace `ns`: SIGTERM, 3 s, then SIGKILL; then the namespace itself."""
    def pids():
        out = _ip("netns", "pids", ns, check=False).stdout.split()
        return [int(p) for p in out if p.isdigit()]

    for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 2.0)):
        for p in pids():
            try:
                os.kill(p, sig)
            except ProcessLookupError:
                pass
        deadline = time.time() + wait
        while pids() and time.time() < deadline:
            time.sleep(0.05)
    _ip("netns", "del", ns, check=False)


def _teardown(record):
    for ns in record["namespaces"]:
        _kill_namespace(ns)
    _ip("link", "del", record["bridge"], check=False)  # takes the veths' root ends with it


def sweep_dead_runs():
    """Tears down the runs whose process is gone (a test killed with -9 leaves its record)."""
    for path in glob.glob(os.path.join(RECORDS, "*.json")):
        try:
            with open(path) as f:
                record = json.load(f)
        except (OSError, ValueError):
            continue
        if not _alive(record["pid"]):
            _teardown(record)
            os.unlink(path)


def _free_subnet():
    """A 10.77.N.0/24 no interface of this machine is on (another run's bridge, for one)."""
    used = set(int(m) for m in re.findall(r"inet 10\.77\.(\d+)\.", _ip("-o", "addr").stdout))
    for n in [*range(os.getpid() % 200 + 10, 250), *range(10, 250)]:
        if n not in used:
            return n
    raise RuntimeError("no free 10.77.N.0/24 subnet for the test network")


def require_root(ci_fails=True):
    """Namespaces need root. Returns None when they can be made; else the reason. Callers exit 77
    (skipped) with it, unless CI=true, where a machine without root fails the test."""
    if os.geteuid() == 0 and shutil.which("ip"):
        return None
    why = "network namespaces need root and iproute2 (ip)"
    if ci_fails and os.environ.get("CI") == "true":
        raise SystemExit(f"FAILED: {why} (CI=true: not skipped)")
    return why


class Machine:
    """One simulated machine: a network namespace with one address on the run's bridge."""

    def __init__(self, network, name, ns, address):
        self.network, self.name, self.ns, self.address = network, name, ns, address

    def command(self, args):
        return ["ip", "netns", "exec", self.ns, *args]

    def popen(self, args, **kwargs):
        return subprocess.Popen(self.command(args), **kwargs)

    def run(self, args, **kwargs):
        return subprocess.run(self.command(args), **kwargs)

    def processes(self):
        return [int(p) for p in _ip("netns", "pids", self.ns, check=False).stdout.split() if p.isdigit()]

    def __repr__(self):
        return f"Machine({self.name}, {self.address})"


class Network:
    _counter = 0

    def __init__(self):
        os.makedirs(RECORDS, exist_ok=True)
        Network._counter += 1
        self.run_id = f"{os.getpid()}{Network._counter}"[-9:]  # names stay within IFNAMSIZ (15)
        self.bridge = f"{PREFIX}b{self.run_id}"
        self.machines = {}
        self.record_path = os.path.join(RECORDS, f"{self.run_id}.json")
        self._closed = False
        # Choosing a free subnet and taking it is one step for runs starting at the same moment.
        with open(os.path.join(RECORDS, ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            sweep_dead_runs()
            self.subnet = _free_subnet()
            self.prefix = f"10.77.{self.subnet}"
            self.gateway = f"{self.prefix}.1"
            self._save()
            _ip("link", "add", self.bridge, "type", "bridge")
            _ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        atexit.register(self.close)
        for sig in (signal.SIGTERM, signal.SIGINT):
            if signal.getsignal(sig) in (signal.SIG_DFL, signal.default_int_handler):
                signal.signal(sig, _exit_on_signal)

    def _save(self):
        record = {"pid": os.getpid(), "bridge": self.bridge,
                  "namespaces": [m.ns for m in self.machines.values()]}
        with open(self.record_path, "w") as f:
            json.dump(record, f)

    def machine(self, name):
        """A new machine on the bridge, its loopback up; its address is the next free one."""
        n = len(self.machines) + 2
        ns = f"{PREFIX}{self.run_id}-{name}"
        address = f"{self.prefix}.{n}"
        outer, inner = f"{PREFIX}v{self.run_id}{n}", f"{PREFIX}i{self.run_id}{n}"
        m = Machine(self, name, ns, address)
        self.machines[name] = m
        self._save()  # before the namespace exists: a crash from here on is still swept
        _ip("netns", "add", ns)
        _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
        _ip("link", "set", inner, "netns", ns)
        _ip("link", "set", outer, "master", self.bridge, "up")
        m.run(["ip", "link", "set", "lo", "up"], check=True)
        m.run(["ip", "link", "set", inner, "name", "eth0"], check=True)
        m.run(["ip", "addr", "add", f"{address}/24", "dev", "eth0"], check=True)
        m.run(["ip", "link", "set", "eth0", "up"], check=True)
        return m

    def close(self):
        if self._closed:
            return
        self._closed = True
        _teardown({"bridge": self.bridge, "namespaces": [m.ns for m in self.machines.values()]})
        try:
            os.unlink(self.record_path)
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _exit_on_signal(signum, frame):
    # SystemExit unwinds the test's finally blocks and then runs atexit: the network goes too.
    raise SystemExit(128 + signum)


def _pg_bin():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: (len(p), p))
    if not found:
        raise RuntimeError("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres): "
                           "deploy/install-deps.sh --test installs it (Debian package postgresql)")
    return os.path.dirname(found[-1])


class Postgres:
    """A real PostgreSQL server on `machine` (initdb into a temporary directory, run as `nobody`
    because postgres refuses root), listening on the machine's address, port 5432, and accepting
    the role `portico` with a password (scram-sha-256) from the run's subnet: what a database
    server on its own machine looks like to the brokers. `url` is the brokers' database URL."""

    PORT = 5432
    USER = "portico"
    DATABASE = "portico"

    def __init__(self, machine, workdir=None, max_connections=200):
        self.machine = machine
        self.bin = _pg_bin()
        self.dir = tempfile.mkdtemp(prefix="portico-pg-", dir=workdir)
        self.password = "pg-" + os.urandom(9).hex()
        nobody = subprocess.run(["id", "-u", "nobody"], capture_output=True, text=True, check=True).stdout.strip()
        os.chmod(self.dir, 0o700)
        os.chown(self.dir, int(nobody), -1)
        pwfile = os.path.join(self.dir, "pw")
        with open(pwfile, "w") as f:
            f.write(self.password + "\n")
        os.chown(pwfile, int(nobody), -1)
        self.log_path = os.path.join(self.dir, "server.log")
        self.log = open(self.log_path, "a")
        os.chown(self.log_path, int(nobody), -1)
        as_nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
        # Trust only on the socket, which lives in the 0700 directory; scram over TCP.
        subprocess.run([*as_nobody, f"{self.bin}/initdb", "-D", f"{self.dir}/data", "-U", self.USER,
                        f"--pwfile={pwfile}", "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8",
                        "--locale=C", "--no-sync"], check=True, stdout=self.log, stderr=subprocess.STDOUT, timeout=120)
        os.unlink(pwfile)
        with open(f"{self.dir}/data/pg_hba.conf", "a") as f:
            f.write(f"host all {self.USER} {machine.network.prefix}.0/24 scram-sha-256\n")
        # No fsync: a test database needs no durability, and the benches measure the brokers.
        self.proc = machine.popen([*as_nobody, f"{self.bin}/postgres", "-D", f"{self.dir}/data", "-k", self.dir,
                                   "-p", str(self.PORT), "-c", f"listen_addresses={machine.address}",
                                   "-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off",
                                   "-c", f"max_connections={max_connections}"],
                                  stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while self.psql("postgres", "SELECT 1", check=False).returncode != 0:
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("postgres did not start:\n" + self.read_log()[-3000:])
            time.sleep(0.2)
        self.psql("postgres", f"CREATE DATABASE {self.DATABASE} OWNER {self.USER}")
        self.url = self.url_of(self.DATABASE)

    def url_of(self, database):
        return (f"postgresql://{self.USER}:{self.password}@{self.machine.address}:{self.PORT}/{database}"
                "?connect_timeout=5")

    def psql(self, database, sql, check=True):
        """Runs `sql` over TCP from the root namespace, as a broker would; stdout is the rows."""
        return subprocess.run(["psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql,
                               self.url_of(database)], capture_output=True, text=True, check=check, timeout=60)

    def create_database(self, name):
        self.psql("postgres", f"CREATE DATABASE {name} OWNER {self.USER}")
        return self.url_of(name)

    def read_log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
