#!/usr/bin/python3
"""docs/admin.md, "Several brokers behind HAProxy", done exactly as the guide says (issue 14): from
machines without Portico to PostgreSQL and HAProxy on `db`, two brokers and three session hosts,
installed from the .deb files cpack builds from this tree, started by systemd from the packages'
own units; then a user launches the published app through the load balancer with the real client
and gets frames from a session on one of the three hosts, and launches again after one broker's
machine was killed.

The machines (tests/packaging/booted.py): each is an overlay of this machine's / booted with
`systemd-nspawn --boot` (systemd is PID 1, journald logs, `systemctl start portico-broker` starts
the shipped hardened unit) in a network namespace of its own (tests/integration/netns.py), with
an address on the run's bridge. The commands are the guide's (tests/packaging/guide.py reads its
marked blocks, in order, and runs each on the machines its tag names). What the test does that
the guide leaves to the person, and how:
  - names: each machine's /etc/hosts holds the names the guide's `guide-test machines` line
    gives (the guide asks for DNS or /etc/hosts);
  - the machines start from this one, which is not empty: it has Portico's state from other runs
    (hidden in each machine: an overlay whiteout on /var/lib/portico) and PostgreSQL and HAProxy
    installed (their units masked on the machines where the guide does not install them; where it
    does, its `apt install` finds them installed, as after a download). The machines have no way
    out to Debian's archive, so their package lists are empty (an opaque /var/lib/apt/lists): apt
    takes the installed packages as the newest, installs nothing from the network, and resolves
    the Portico packages' dependencies among them;
  - copies between machines (the guide's `scp`, marked `guide-test copy`) go through the
    machines' roots, as no machine runs sshd;
  - the values the guide asks the person for (`VAR=<...>`): the load balancer's address, a
    database password (its settings), and each host's enrollment token (what the guide's
    enroll-token block printed for it).
A user's machine (`desk`, booted the same way) installs the portico-client package and runs
`portico-client --headless` against https://portico.example.org/ with the demo password `init`
printed, and asks the REST API (curl, as admin) where the session ran and which broker holds each
host.

Needs root, systemd-container, PostgreSQL and HAProxy (deploy/install-deps.sh --test): exit 77
without them, a failure under CI=true.

  test_admin_guide.py CPACK BUILD_DIR SOURCE_DIR
"""
import fnmatch
import glob
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from booted import BootedMachine, require_nspawn  # noqa: E402
from guide import Copy, Shells, parse  # noqa: E402
from netns import Network  # noqa: E402
from stack import wait_for  # noqa: E402
from test_packages import build_packages  # noqa: E402

# Units of this machine's packages that only the machines whose guide blocks install them start.
SERVICES_OF = {"postgresql": ["postgresql.service", "postgresql@.service"], "haproxy": ["haproxy.service"]}
LB_NAME = "portico.example.org"


def unavailable():
    """Why this machine cannot run the test, or None."""
    if os.geteuid() != 0:
        return "needs root (namespaces, mounts, systemd-nspawn)"
    why = require_nspawn()
    if why:
        return why
    if not shutil.which("haproxy") or not glob.glob("/usr/lib/postgresql/*/bin/postgres"):
        return "needs Debian's haproxy and postgresql installed (the guide's db machine installs them)"
    return None


def installed_by(guide, machine):
    """Debian packages the guide's blocks `apt install` by name on `machine`."""
    names = set()
    for step in guide.steps:
        if not isinstance(step, Copy) and machine in step.machines:
            for m in re.finditer(r"apt(?:-get)? install ((?:\S+ ?)+)", step.script):
                names.update(w for w in m.group(1).split() if not w.startswith(("-", "./")))
    return names


def boot_machines(guide, net, work, extra):
    nets = {name: net.machine(name) for name in [*guide.names, *extra]}
    hosts = "127.0.0.1 localhost\n::1 localhost ip6-localhost\n" + "".join(
        f"{nets[name].address} {' '.join(names)} {name}\n" for name, names in guide.names.items())
    machines = {}
    for name, m in nets.items():
        keep = installed_by(guide, name)
        masked = [unit for package, units in SERVICES_OF.items() if package not in keep for unit in units]
        machines[name] = BootedMachine(m, work, hosts, whiteouts=["var/lib/portico", "etc/portico"],
                                       emptied=["var/lib/apt/lists"], masked=masked)
    t0 = time.time()
    for m in machines.values():
        m.wait_booted()
    print(f"booted {len(machines)} machines in {time.time() - t0:.1f} s: "
          + ", ".join(f"{m.name} {m.address}" for m in machines.values()), flush=True)
    return machines


def copy(step, machines, debs, source):
    if step.source.startswith("build:"):
        files = [p for name, p in debs.items() if fnmatch.fnmatch(os.path.basename(p), step.source[6:])]
    elif step.source.startswith("source:"):
        files = [os.path.join(source, step.source[7:])]
    else:
        name, _, path = step.source.partition(":")
        files = [machines[name].path(path)]
    assert files and all(os.path.isfile(f) for f in files), f"docs/admin.md:{step.line}: nothing to copy at {step.source}"
    for name in step.machines:
        for f in files:
            target = machines[name].path(os.path.join(step.destination, os.path.basename(f)))
            shutil.copyfile(f, target)
    print(f"== copied {', '.join(os.path.basename(f) for f in files)} to {','.join(step.machines)}:{step.destination}",
          flush=True)


def run_guide(guide, machines, debs, source, shells):
    outputs = {}
    for step in guide.steps:
        if isinstance(step, Copy):
            copy(step, machines, debs, source)
            continue
        for name in (list(guide.names) if step.machines == ["all"] else step.machines):
            t0 = time.time()
            p = machines[name].sh(shells.script(step, name), timeout=240, check=False)
            print(f"== docs/admin.md:{step.line} on {name} ({time.time() - t0:.1f} s), exit {p.returncode}\n"
                  f"{p.stdout}{p.stderr}", flush=True)
            assert p.returncode == 0, f"docs/admin.md:{step.line} failed on {name}"
            shells.record(step, p.stdout)
            outputs.setdefault(step.line, {})[name] = p.stdout
    return outputs


class Desk:
    """A user's machine: the portico-client package, the brokers' certificate, curl."""

    def __init__(self, machine, debs, ca):
        self.m = machine
        shutil.copyfile(debs["portico-client"], machine.path("/root/" + os.path.basename(debs["portico-client"])))
        shutil.copyfile(ca, machine.path("/root/broker.crt"))
        machine.sh("apt install -y ./portico-client_*.deb >/dev/null")

    def launch(self, password):
        p = self.m.sh(f"PORTICO_PASSWORD='{password}' portico-client --headless --broker https://{LB_NAME} "
                      "--user demo --ca /root/broker.crt --resource Terminal --duration 2 --json", timeout=120,
                      check=False)
        stats = next((json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")), None)
        assert p.returncode == 0 and stats and stats["frames"] > 0 and not stats["error"], \
            f"portico-client: exit {p.returncode}\n{p.stdout[-2000:]}\n{p.stderr[-3000:]}"
        return stats

    def api(self, method, path, body=None):
        data = f"-H 'Content-Type: application/json' -d '{json.dumps(body)}'" if body is not None else ""
        p = self.m.sh(f"curl -sS --fail-with-body -b /root/cookies -c /root/cookies --cacert /root/broker.crt "
                      f"-X {method} {data} https://{LB_NAME}{path}", timeout=60)
        return json.loads(p.stdout) if p.stdout.strip() else None


def hosts_of(desk):
    body = desk.api("GET", "/api/v1/hosts")
    return {h["id"]: h for h in (body["hosts"] if isinstance(body, dict) else body)}


def check_services(machines, brokers, hosts):
    """The services run as the packages' units run them: each broker as portico-broker; each host's
    helper as root with portico-host under it as portico-host."""
    for name in brokers:
        state = machines[name].sh("systemctl is-active portico-broker; ps -o user= -C portico-broker").stdout.split()
        assert state == ["active", "portico-broker"], f"{name}: portico-broker {state}"
    for name in hosts:
        m = machines[name]
        state = m.sh("systemctl is-active portico-host; ps -o user= -C portico-session-helper; "
                     "ps -o user= -C portico-host").stdout.split()
        assert state == ["active", "root", "portico-host"], f"{name}: portico-host {state}"
    print(f"systemd runs portico-broker on {', '.join(brokers)} as portico-broker, and portico-host on "
          f"{', '.join(hosts)} (helper root, host portico-host)", flush=True)


def session_host(machines, hosts, session_id):
    """The hosts whose journal names the session."""
    return [h for h in hosts
            if machines[h].sh(f"journalctl -q -u portico-host -g '{session_id}' | head -1", check=False).stdout.strip()]


def launch_and_place(desk, machines, hosts, password, what):
    stats = desk.launch(password)
    placed = session_host(machines, hosts, stats["session_id"])
    assert len(placed) == 1, f"{what}: session {stats['session_id']} is in the journal of {placed}"
    print(f"{what}: demo launched Terminal through {LB_NAME}: {stats['frames']} frames, first after "
          f"{stats['first_frame_ms']:.0f} ms, session {stats['session_id']} on {placed[0]}", flush=True)
    return stats["session_id"]


def check_portal(desk):
    """The portal and the console through the load balancer: the packaged broker finds the files
    its package installed."""
    codes = [desk.m.sh(f"curl -sS -o /dev/null -w '%{{http_code}}' --cacert /root/broker.crt https://{LB_NAME}{path}").stdout
             for path in ("/", "/console/")]
    assert codes == ["200", "200"], f"GET / and /console/ through {LB_NAME}: {codes}"
    print(f"the portal and the console answer 200 through {LB_NAME}")


def main():
    cpack, build, source = sys.argv[1:4]
    why = unavailable()
    if why:
        if os.environ.get("CI") == "true":
            print(f"FAILED: {why} (CI=true: not skipped)")
            return 1
        print(f"SKIPPED: {why}")
        return 77
    with open(os.path.join(source, "docs/admin.md")) as f:
        guide = parse(f.read())
    brokers = [n for n in guide.names if n.startswith("broker")]
    hosts = [n for n in guide.names if n.startswith("host")]
    assert len(brokers) == 2 and len(hosts) == 3 and "db" in guide.names, guide.names
    work = os.path.join(build, "packaging", "admin-guide")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    debs = build_packages(cpack, build, os.path.join(work, "debs"))
    net, machines, ok = Network(), {}, False
    t0 = time.time()
    try:
        machines = boot_machines(guide, net, tempfile.mkdtemp(dir=work), ["desk"])
        settings = {"LB_ADDRESS": machines["db"].address, "DB_PASSWORD": "db-" + os.urandom(12).hex()}
        unknown = guide.placeholders() - set(settings) - {s.prints for s in guide.steps if getattr(s, "prints", None)}
        assert not unknown, f"docs/admin.md asks for {sorted(unknown)}, which nothing gives"
        outputs = run_guide(guide, machines, debs, source, Shells(settings))
        print(f"the guide ran in {time.time() - t0:.0f} s", flush=True)
        init_output = "".join(out for runs in outputs.values() for out in runs.values())
        password = re.search(r"^demo password: (\S+)$", init_output, re.M).group(1)
        admin_password = re.search(r"^admin password: (\S+)$", init_output, re.M).group(1)
        check_services(machines, brokers, hosts)

        desk = Desk(machines["desk"], debs, machines["broker1"].path("/var/lib/portico/broker/tls/broker.crt"))
        desk.api("POST", "/api/v1/login", {"username": "admin", "password": admin_password})
        up = hosts_of(desk)
        assert sorted(up) == hosts and all(h["state"] == "up" for h in up.values()), up
        print("hosts through the load balancer: " + ", ".join(f"{h} up on {up[h]['broker']}" for h in hosts))
        check_portal(desk)
        first = launch_and_place(desk, machines, hosts, password, "launch")

        # broker1's machine dies (its init killed: every process of it at once, no goodbye).
        victim = "broker1"
        os.kill(machines[victim].init_pid, signal.SIGKILL)
        killed = time.time()
        machines[victim].proc.wait(timeout=30)
        wait_for(lambda: all(h["broker"] == "broker2" and h["state"] == "up" for h in hosts_of(desk).values()), 30,
                 "every host to re-home on broker2")
        print(f"{victim}'s machine killed: every host up on broker2 after {time.time() - killed:.1f} s", flush=True)
        # demo's session outlived the broker: launching again reconnects to it, through broker2.
        again = launch_and_place(desk, machines, hosts, password, f"launch with {victim} dead")
        assert again == first, f"demo's session {first} was not found again (got {again})"
        # Logged off, a launch starts a new session, placed by broker2 alone.
        desk.api("POST", f"/api/v1/sessions/{first}/logoff", {})
        wait_for(lambda: desk.api("GET", f"/api/v1/sessions/{first}")["state"] == "ended", 30,
                 f"session {first} to end")
        new = launch_and_place(desk, machines, hosts, password, f"new session with {victim} dead")
        assert new != first, new
        ok = True
    finally:
        if not ok:
            for name, m in machines.items():
                if m.init_pid and m.proc.poll() is None:
                    out = m.sh("journalctl -q -u portico-broker -u portico-host -u haproxy -u 'postgresql*' "
                               "--no-pager | tail -60; systemctl --failed --no-pager", check=False).stdout
                    print(f"----- {name} journal -----\n{out}")
        for m in machines.values():
            m.stop()
        net.close()
        for m in machines.values():
            m.remove()
    shutil.rmtree(work, ignore_errors=True)
    print(f"admin_guide: passed in {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
