"""A Portico installation of several machines, simulated on this one (tests/integration/netns.py),
for the cluster tests and benches: PostgreSQL on its own machine, one or more brokers each on its
own, HAProxy on its own with the configuration the admin guide ships (deploy/haproxy/haproxy.cfg,
rendered with the run's addresses), and session hosts each on its own. Users, clients and hosts
reach the brokers only through the load balancer. The processes are started by stack.Stack.

    c = Cluster(build, source, "cluster", brokers=1)
    c.start()                                 # database, brokers, load balancer up; no host yet
    c.add_host("h1")                          # enrolled with a one-time token through the LB
    c.stack.client("--resource", "Terminal")  # the headless client, through the LB
    c.stop()
"""

import http.client
import os
import re
import shutil
import socket
import ssl
import subprocess

from netns import Network, Postgres
from stack import Stack, run_case, stop_processes, wait_for

BROKER_PORT = 8443
LB_PORT = 443


def render_haproxy(template, bind, servers, run_dir):
    """The shipped configuration with this run's addresses: `bind` for the frontend, one `server`
    line per (name, address:port) in place of the examples, and the stats socket in run_dir (two
    runs at once must not share /run/haproxy). Everything else, balancing, health checks and
    timeouts included, is the shipped text."""
    out, placed = [], False
    for line in template.splitlines():
        s = line.strip()
        if s.startswith("server "):
            if not placed:
                out += [f"    server {name} {address}" for name, address in servers]
                placed = True
            continue
        if s.startswith("bind "):
            line = f"    bind {bind}"
        elif s.startswith("stats socket "):
            line = f"    stats socket {run_dir}/admin.sock mode 600 level admin"
        elif s.startswith("log /dev/log"):
            line = "    log stdout format raw local0"  # into the test's log file: haproxy runs in the foreground
        elif s == "daemon":
            continue
        out.append(line)
    if not placed:
        raise ValueError("the HAProxy configuration has no `server` line to replace")
    return "\n".join(out) + "\n"


def api(stack, method, path, body=None, cookie=None):
    """(status, JSON body) of a REST call to the stack's entry (the load balancer)."""
    status, _, payload = stack.request(method, path, body if body is not None else ({} if method != "GET" else None),
                                       cookie=cookie)
    return status, payload


def password_of(user):
    return user + "-password"


def add_users(stack, admin, names):
    """Portal users in the group `users` (entitled to the published apps); password_of(name)."""
    for name in names:
        status, body = api(stack, "POST", "/api/v1/users", {"name": name, "password": password_of(name)}, cookie=admin)
        assert status == 201, (status, body)
        status, body = api(stack, "PUT", f"/api/v1/groups/users/members/{name}", cookie=admin)
        assert status == 204, (status, body)


def connections_to_lb(machine=None, pid=None):
    """(address, port) of the established connections to the load balancer's port (443): of one
    process (root namespace, ss -p) or of everything on a machine."""
    args = ["ss", "-Htn" + ("p" if pid else ""), "state", "established"]
    out = (machine.run(args, capture_output=True, text=True) if machine else
           subprocess.run(args, capture_output=True, text=True)).stdout
    found = []
    for line in out.splitlines():
        if pid and f"pid={pid}," not in line:
            continue
        m = re.search(r"([\d.]+):(\d+)\s+[\d.]+:443\b", line)
        if m:
            found.append((m.group(1), int(m.group(2))))
    return found


class Cluster:
    def __init__(self, build, source, name="cluster", brokers=1, broker_args=()):
        self.stack = Stack(build, source, name)
        self.source = source
        self.broker_count = brokers
        self.broker_args = list(broker_args)
        self.net = None
        self.pg = None
        self.brokers = {}  # name -> Popen
        self.broker_machines = {}
        self.hosts = {}  # host id -> Popen
        self.host_machines = {}
        self.haproxy = None

    # ---- bring-up ----
    def start(self):
        self.net = Network()
        self.pg = Postgres(self.net.machine("db"))
        self.stack.database = self.pg.url
        self.lb = self.net.machine("lb")
        self.stack.init(host_name=self.lb.address)
        for i in range(1, self.broker_count + 1):
            self.start_broker(f"broker{i}")
        self.start_haproxy()
        self.stack.use_entry(self.lb.address, LB_PORT)
        self.wait_backends_up(list(self.brokers))
        return self

    def broker_state_dir(self, name):
        """broker1 serves the state `init` made; every other broker a copy of it (same TLS pair,
        ticket key and host CA), as the admin guide says."""
        if name == "broker1":
            return self.stack.state
        copy = os.path.join(self.stack.dir, f"state-{name}")
        if not os.path.exists(copy):
            shutil.copytree(self.stack.state, copy, symlinks=True)
        return copy

    def start_broker(self, name):
        machine = self.broker_machines.get(name) or self.net.machine(name)
        self.broker_machines[name] = machine
        # Every client reaches a broker from the load balancer's address; HAProxy names the client
        # in a PROXY protocol header (send-proxy-v2), which a broker reads from its trusted proxy.
        extra = ["--trusted-proxy", self.lb.address, *self.broker_args]
        if self.broker_count > 1:
            extra += ["--broker-id", name]
        self.brokers[name] = self.stack.start_broker(name, machine=machine, listen=f"{machine.address}:{BROKER_PORT}",
                                                     extra=extra, state=self.broker_state_dir(name))
        return self.brokers[name]

    def kill_broker(self, name):
        self.brokers[name].kill()
        self.brokers[name].wait()

    def start_haproxy(self):
        with open(os.path.join(self.source, "deploy/haproxy/haproxy.cfg")) as f:
            template = f.read()
        servers = [(name, f"{m.address}:{BROKER_PORT}") for name, m in self.broker_machines.items()]
        self.haproxy_cfg = os.path.join(self.stack.dir, "haproxy.cfg")
        with open(self.haproxy_cfg, "w") as f:
            f.write(render_haproxy(template, f"{self.lb.address}:{LB_PORT}", servers, self.stack.dir))
        log = open(os.path.join(self.stack.dir, "haproxy.log"), "w+")
        self.haproxy = self.lb.popen(["haproxy", "-db", "-f", self.haproxy_cfg], stdout=log, stderr=subprocess.STDOUT)

    def haproxy_command(self, command):
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(os.path.join(self.stack.dir, "admin.sock"))
            s.sendall(command.encode() + b"\n")
            out = b""
            while chunk := s.recv(65536):
                out += chunk
        return out.decode()

    def brokers_behind(self, connections):
        """The brokers HAProxy sent these client connections (address, port) to, from its `show sess`."""
        out = set()
        sess = self.haproxy_command("show sess").splitlines()
        for address, port in connections:
            for line in sess:
                if f"src={address}:{port} " in line:
                    m = re.search(r"srv=(\S+)", line)
                    if m:
                        out.add(m.group(1))
        return out

    def backend_states(self):
        """name -> HAProxy's status of each broker (UP, DOWN, ...), from its stats socket. A server
        counts as UP before its first check, so "UP" is reported only once a check has passed."""
        lines = self.haproxy_command("show stat").splitlines()
        if not lines:
            return {}
        header = lines[0].lstrip("# ").split(",")
        states = {}
        for line in lines[1:]:
            row = dict(zip(header, line.split(",")))
            if row.get("pxname") == "brokers" and row.get("svname") not in ("BACKEND", "FRONTEND", None):
                checked = row.get("check_status", "").startswith("L7OK")
                states[row["svname"]] = row["status"] if checked or not row["status"].startswith("UP") else "UNCHECKED"
        return states

    def wait_backends_up(self, names, timeout=30):
        def up():
            if self.haproxy.poll() is not None:
                raise RuntimeError("haproxy exited:\n" + self.stack.read_log("haproxy")[-3000:])
            try:
                states = self.backend_states()
            except OSError:
                return False
            return all(states.get(n, "").startswith("UP") for n in names)
        try:
            wait_for(up, timeout, f"HAProxy to see {', '.join(names)} up")
        except AssertionError as e:
            raise AssertionError(f"{e}; their health checks: {self.health_answers(names)}") from None

    def health_answers(self, names):
        """What each broker itself answers to HAProxy's check (GET /api/v1/health), to say why one is down."""
        out = {}
        for n in names:
            conn = http.client.HTTPSConnection(self.broker_machines[n].address, BROKER_PORT, timeout=5,
                                               context=ssl._create_unverified_context())
            try:
                conn.request("GET", "/api/v1/health")
                r = conn.getresponse()
                out[n] = f"{r.status} {r.read()[:200]!r}"
            except OSError as e:
                out[n] = str(e)
            finally:
                conn.close()
        return out

    def add_host(self, host_id, extra=(), wait=True):
        """A session host on a machine of its own, enrolled with a one-time token through the LB."""
        machine = self.host_machines.get(host_id) or self.net.machine(host_id)
        self.host_machines[host_id] = machine
        self.hosts[host_id] = self.stack.spawn_host(host_id, host_id, extra=extra, machine=machine)
        if wait:
            self.wait_host_ready(host_id)
        return self.hosts[host_id]

    def wait_host_ready(self, host_id, timeout=60):
        def ready():
            if self.hosts[host_id].poll() is not None:
                raise RuntimeError(f"host {host_id} exited:\n" + self.stack.read_log(host_id)[-3000:])
            return "portico-host ready" in self.stack.read_log(host_id)
        wait_for(ready, timeout, f"host {host_id} to register")

    def registrations(self, host_id):
        """How often the host has registered (once per control connection it opened)."""
        return len(re.findall(r"broker: registered as ", self.stack.read_log(host_id)))

    # ---- teardown ----
    def stop(self, keep=False):
        stop_processes([*self.hosts.values(), *self.brokers.values(), self.haproxy])
        if self.pg:
            self.pg.stop()
        if self.net:
            self.net.close()  # whatever is left in the namespaces (a host's Xvfb and apps)
        if not keep:
            shutil.rmtree(self.stack.dir, ignore_errors=True)

    def dump_logs(self):
        for which in ["haproxy", *self.brokers, *self.hosts]:
            print(f"----- {which}.log -----")
            print(self.stack.read_log(which)[-5000:])
        if self.pg:
            print("----- postgres -----")
            print(self.pg.read_log()[-2000:])


def run_cluster_case(cluster, case):
    """stack.run_case for a cluster (it starts, dumps its logs and stops like a Stack)."""
    return run_case(cluster, case)
