#!/usr/bin/python3
"""Portico on several machines (issue 14), simulated with network namespaces (needs root):
PostgreSQL, the broker(s) and HAProxy (deploy/haproxy/haproxy.cfg) and three session hosts, each
on a machine of its own; everything users and hosts do goes through the load balancer.

    test_cluster.py one_broker  BUILD SOURCE   enrollment, launches to first frame, placement, a host killed
    test_cluster.py two_brokers BUILD SOURCE   a launch on broker A for a host on broker B; kill -9 of a broker
    test_cluster.py haproxy_config BUILD SOURCE  deploy/haproxy/haproxy.cfg and the tests' rendering pass haproxy -c

Exit 77 (skipped) without root or, for two_brokers, with a broker that cannot share its database
(no `serve --broker-id`); under CI=true both are failures, never a skip.
"""

import os
import shutil
import ssl
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import (BROKER_PORT, Cluster, add_users, api, connections_to_lb, password_of,  # noqa: E402
                     render_haproxy, run_cluster_case)
from netns import require_root  # noqa: E402
from stack import WebSocket, hello, wait_for  # noqa: E402

APP = "Terminal"


def launch_to_first_frame(stack, user):
    """The headless client through the load balancer: log in, launch, wait for the first frame."""
    proc, stats = stack.client("--resource", APP, "--duration", "0", "--json", user=user, password=password_of(user))
    assert proc.returncode == 0 and stats and stats["first_frame_ms"] is not None, (proc.returncode, stats,
                                                                                     proc.stderr[-2000:])
    return stats


def sessions(stack, admin, state=None):
    """session id -> the session's record, everyone's (admin), of `state` or of every live state."""
    path = "/api/v1/sessions?scope=all" + (f"&state={state}" if state else "")
    status, body = api(stack, "GET", path, cookie=admin)
    assert status == 200, (status, body)
    items = body["sessions"] if isinstance(body, dict) else body
    return {s["id"]: s for s in items}


def one_broker(c):
    stack = c.stack
    # Each host takes one session: the three launches below must land on three machines.
    for h in ("h1", "h2", "h3"):
        c.add_host(h, extra=["--max-sessions", "1"])
    admin = stack.login("admin", stack.admin_password)
    # The broker sees the user's own address through the load balancer (PROXY protocol v2), not
    # the balancer's: this test runs on the bridge's own address.
    status, audit = api(stack, "GET", "/api/v1/audit?action=login&limit=1", cookie=admin)
    assert status == 200, (status, audit)
    events = audit["events"] if isinstance(audit, dict) else audit
    assert events and events[0]["from"] == c.net.gateway, (events, c.lb.address)
    status, hosts = api(stack, "GET", "/api/v1/hosts", cookie=admin)
    up = {h["id"]: h for h in (hosts["hosts"] if isinstance(hosts, dict) else hosts) if h["state"] == "up"}
    assert set(up) == {"h1", "h2", "h3"}, hosts
    for h in up.values():  # each registered from its own machine, its control channel through the LB
        assert h["display_url"].startswith(f"wss://{c.host_machines[h['id']].address}:"), h
        assert broker_of(c, h["id"]) == "broker1", (h["id"], c.haproxy_command("show sess"))

    users = ["ann", "bob", "cai", "dan"]
    add_users(stack, admin, users)

    def host_sessions():
        status, body = api(stack, "GET", "/api/v1/hosts", cookie=admin)
        return {h["id"]: h["sessions"] for h in (body["hosts"] if isinstance(body, dict) else body)}
    placed = {}
    # One right after another: a heartbeat sent while a session starts, or before its host's next
    # one, must not make the broker forget it (HostRegistry: starting, started_unseen) and send the
    # next launch to the full host.
    for user in users[:3]:
        placed[user] = launch_to_first_frame(stack, user)["session_id"]
    live = sessions(stack, admin)
    on = {user: live[sid]["host"] for user, sid in placed.items()}
    print("placement:", on)
    assert sorted(on.values()) == ["h1", "h2", "h3"], on  # one per machine: spread by free capacity

    # Every host full: the fourth user is told so (503 no_host), not queued or lost.
    assert host_sessions() == {"h1": 1, "h2": 1, "h3": 1}, host_sessions()
    dan = stack.login("dan", password_of("dan"))
    status, body = api(stack, "POST", "/api/v1/launch", {"resource": "terminal"}, cookie=dan)
    assert status == 503 and body["error"]["code"] == "no_host", (status, body)

    # A machine dies: its session is lost, the other two keep running and their users reconnect.
    victim_user = "bob"
    victim = on[victim_user]
    c.hosts[victim].kill()
    c.hosts[victim].wait()
    wait_for(lambda: placed[victim_user] in sessions(stack, admin, "lost"), 30,
             f"the session on the killed host {victim} to be lost")
    status, h = api(stack, "GET", f"/api/v1/hosts/{victim}", cookie=admin)
    assert h["state"] != "up", h
    live = sessions(stack, admin)
    for user in ("ann", "cai"):
        assert placed[user] in live and live[placed[user]]["state"] not in ("lost", "ended"), live
        stats = launch_to_first_frame(stack, user)
        assert stats["session_id"] == placed[user], (user, stats)  # the same session, reconnected
    print("one broker behind HAProxy: 3 hosts enrolled through the LB, 3 sessions on 3 machines, "
          f"a 4th refused, {victim} killed: its session lost, the others reconnected")


def direct(c, name):
    """A view of the stack that talks to broker `name` itself, not through the load balancer. The
    brokers share a certificate made for the load balancer's address, so the chain is checked
    and the name is not."""
    import copy
    view = copy.copy(c.stack)
    view.use_entry(c.broker_machines[name].address, BROKER_PORT)

    def ssl_context():
        ctx = ssl.create_default_context(cafile=os.path.join(c.stack.state, "tls/broker.crt"))
        ctx.check_hostname = False
        return ctx
    view.ssl_context = ssl_context
    return view


def broker_of(c, host_id):
    """The broker HAProxy put host_id's control connection through (None while it has none)."""
    behind = c.brokers_behind(connections_to_lb(machine=c.host_machines[host_id]))
    return next(iter(behind)) if len(behind) == 1 else None


def two_brokers(c):
    stack = c.stack
    c.add_host("h1", extra=["--max-sessions", "4"])
    admin = stack.login("admin", stack.admin_password)
    add_users(stack, admin, ["ann", "bob"])
    home = wait_for(lambda: broker_of(c, "h1"), 10, "h1's control connection through HAProxy")
    other = next(n for n in c.brokers if n != home)
    print(f"h1 is connected to {home}; launching through {other}")

    # A launch that reaches the broker the host is not connected to.
    via = direct(c, other)
    ann = via.login("ann", password_of("ann"))
    status, t = api(via, "POST", "/api/v1/launch", {"resource": "terminal"}, cookie=ann)
    assert status == 200, (status, t)
    ws = WebSocket(BROKER_PORT, t["gateway_path"], address=c.broker_machines[other].address)
    ws.send(hello(t["ticket"]))
    deadline = time.time() + 20
    frames = 0
    while frames == 0 and time.time() < deadline:
        opcode, payload = ws.recv()
        assert opcode != 8, "the display channel closed"
        frames += payload[:1] in (b"\x82", b"\x83")  # video_frame, tile_frame (protocol/display.hpp)
    assert frames, "no frame through the other broker's gateway"

    # While it streams, both brokers' consoles show its live figures: the host reports them to its
    # holder, which shares them in the host's row (LiveStats through Cluster::live_json).
    streaming = threading.Event()
    streaming.set()

    def drain():
        while streaming.is_set():
            try:
                ws.recv()
            except Exception:
                return
    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    for name in (home, other):
        view = direct(c, name)
        cookie = view.login("admin", stack.admin_password)
        live = wait_for(lambda: (sessions(view, cookie).get(t["session_id"]) or {}).get("stats"), 15,
                        f"the stream's live figures on {name}'s console")
        assert live["viewers"] == 1 and live["kbps"] is not None and live["fps"] is not None, (name, live)
    streaming.clear()
    ws.close()
    reader.join(timeout=20)

    # kill -9 of h1's broker: h1 re-homes to the other within 10 s, and a launch through the LB works.
    before = c.registrations("h1")
    t0 = time.time()
    c.kill_broker(home)
    wait_for(lambda: c.registrations("h1") > before, 10, "h1 to register again (on the surviving broker)")
    rehome_s = time.time() - t0
    wait_for(lambda: broker_of(c, "h1") == other, 5, f"h1 on {other}")
    stats = launch_to_first_frame(stack, "bob")
    print(f"two brokers: a launch through {other} for h1 on {home} streamed, its live figures shown by both "
          f"brokers; kill -9 {home}: h1 re-homed "
          f"in {rehome_s:.1f} s, a new launch reached its first frame in {stats['first_frame_ms']} ms")


def haproxy_config(source):
    """The shipped configuration, and the test's rendering of it, are what HAProxy accepts, and the
    rendering changes only the addresses and the stats socket."""
    import tempfile
    shipped = os.path.join(source, "deploy/haproxy/haproxy.cfg")
    check = subprocess.run(["haproxy", "-c", "-f", shipped], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    with open(shipped) as f:
        template = f.read()
    with tempfile.TemporaryDirectory() as d:
        text = render_haproxy(template, "10.77.9.3:443", [("b1", "10.77.9.4:8443"), ("b2", "10.77.9.5:8443")], d)
        path = os.path.join(d, "haproxy.cfg")
        with open(path, "w") as f:
            f.write(text)
        check = subprocess.run(["haproxy", "-c", "-f", path], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
    kept = [line for line in template.splitlines()
            if not line.strip().startswith(("server ", "bind ", "stats socket", "log /dev/log", "daemon"))]
    assert all(line in text.splitlines() for line in kept), "the rendering changed more than the addresses"
    for line in ("balance leastconn", "option httpchk GET /api/v1/health", "option redispatch", "retries 3",
                 "mode tcp"):
        assert any(x.strip() == line for x in text.splitlines()), line
    assert "server b1 10.77.9.4:8443" in text and "server b2 10.77.9.5:8443" in text
    print("deploy/haproxy/haproxy.cfg and its rendering pass haproxy -c")


CASES = {"one_broker": (one_broker, 1), "two_brokers": (two_brokers, 2)}


def main():
    case, build, source = sys.argv[1], sys.argv[2], sys.argv[3]
    if case == "haproxy_config":
        if not shutil.which("haproxy"):
            print("FAILED: haproxy is not installed (deploy/install-deps.sh --test)")
            return 1
        haproxy_config(source)
        return 0
    fn, brokers = CASES[case]
    why = require_root()
    if why:
        print(f"SKIPPED: {why}")
        return 77
    c = Cluster(build, source, f"cl-{case}", brokers=brokers)
    if not shutil.which("haproxy"):
        msg = "haproxy is not installed (deploy/install-deps.sh --test)"
        if os.environ.get("CI") == "true":
            print(f"FAILED: {msg}")
            return 1
        print(f"SKIPPED: {msg}")
        return 77
    return run_cluster_case(c, fn)


if __name__ == "__main__":
    sys.exit(main())
