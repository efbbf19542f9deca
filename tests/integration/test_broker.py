"""Broker integration tests (issue 3): the real broker and real portico-host processes on
loopback, enrolled with one-time tokens and speaking the control channel over mutual TLS.

Usage: test_broker.py <case> <build_dir> <source_dir>. Exit 0 = pass, 1 = fail."""

import concurrent.futures
import json
import os
import signal
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from stack import Stack, WebSocket, run_case, hello, wait_for  # noqa: E402


def admin(stack):
    return stack.login("admin", stack.admin_password)


def api(stack, method, path, body=None, cookie=None):
    status, _, payload = stack.request(method, path, body if body is not None else ({} if method != "GET" else None),
                                       cookie=cookie)
    return status, payload


def host_state(stack, cookie, host_id):
    status, h = api(stack, "GET", f"/api/v1/hosts/{host_id}", cookie=cookie)
    return h["state"] if status == 200 else None


def session_state(stack, cookie, sid):
    status, s = api(stack, "GET", f"/api/v1/sessions/{sid}", cookie=cookie)
    return s["state"] if status == 200 else None


def case_enrollment(stack):
    """The stack's host enrolled with a token on its first start; it is up over mutual TLS."""
    a = admin(stack)
    status, h = api(stack, "GET", f"/api/v1/hosts/{stack.host_id}", cookie=a)
    assert status == 200 and h["state"] == "up", (status, h)
    assert h["auth"] == "mtls", h
    assert len(h["cert_fingerprint"]) == 64
    assert os.path.exists(os.path.join(stack.dir, "host", "broker-client.key"))
    # Restarting it needs no token: the stored certificate authenticates it.
    stack.host.terminate()
    stack.host.wait(timeout=20)
    wait_for(lambda: host_state(stack, a, stack.host_id) == "down", 15, "the stopped host to be down")
    stack.host = stack.spawn_host(stack.host_id, "host-again", state_name="host", auto_enroll=False)
    wait_for(lambda: host_state(stack, a, stack.host_id) == "up", 30, "the restarted host to be up")
    # A token works once; a second host presenting a used token is refused and does not start.
    status, tok = api(stack, "POST", "/api/v1/enrollment-tokens", {"host_id": "second"}, cookie=a)
    assert status == 201, (status, tok)
    token = tok["token"]
    first = stack.spawn_host("second", "second", extra=["--enroll", token], auto_enroll=False)
    wait_for(lambda: host_state(stack, a, "second") == "up", 30, "the second host to enroll")
    first.terminate()
    first.wait(timeout=20)
    wait_for(lambda: host_state(stack, a, "second") == "down", 15, "the stopped second host to be down")
    # The same command again (a host.conf that still names the spent token): the host uses its
    # stored certificate and does not present the token again.
    again = stack.spawn_host("second", "second-again", extra=["--enroll", token], state_name="second",
                             auto_enroll=False)
    wait_for(lambda: host_state(stack, a, "second") == "up", 30, "the enrolled host restarted with its spent token")
    assert "already enrolled" in stack.read_log("second-again"), stack.read_log("second-again")[-2000:]
    again.terminate()
    again.wait(timeout=20)
    import shutil
    shutil.rmtree(os.path.join(stack.dir, "second"))
    replay = stack.spawn_host("second", "second-replay", extra=["--enroll", token], state_name="second",
                              auto_enroll=False)
    assert replay.wait(timeout=30) != 0, "a reused enrollment token must be refused"
    assert "already used" in stack.read_log("second-replay"), stack.read_log("second-replay")[-2000:]
    # Without a certificate or secret the host refuses to start.
    shutil.rmtree(os.path.join(stack.dir, "second"))
    import subprocess
    p = subprocess.run([stack.bin("portico-host"), "--broker", f"wss://127.0.0.1:{stack.port}/api/v1/control",
                        "--broker-ca", os.path.join(stack.state, "tls/broker.crt"), "--host-id", "third",
                        "--state-dir", os.path.join(stack.dir, "third")], capture_output=True, text=True, timeout=30)
    assert p.returncode != 0 and "not enrolled" in p.stderr + p.stdout, p.stderr
    status, audit = api(stack, "GET", "/api/v1/audit?action=host.enroll", cookie=a)
    assert len(audit) == 2, audit  # the stack's host and "second"; the restart needed none
    print("enrolled over mTLS; restart without token, and with its spent token; token single use; unenrolled host refused")


def case_heartbeat_loss(stack):
    demo = stack.login()
    a = admin(stack)
    status, launch = api(stack, "POST", "/api/v1/launch", {"resource": "terminal"}, cookie=demo)
    assert status == 200, (status, launch)
    sid = launch["session_id"]
    os.kill(stack.host.pid, signal.SIGSTOP)
    try:
        t0 = time.time()
        wait_for(lambda: host_state(stack, a, stack.host_id) == "down", 14, "the stopped host to be marked down")
        took = time.time() - t0
        assert took <= 12.5, f"host marked down after {took:.1f} s"
        assert session_state(stack, a, sid) == "lost"
        print(f"SIGSTOPped host down after {took:.1f} s; its session is lost")
        status, body = api(stack, "POST", "/api/v1/launch", {"resource": "terminal"}, cookie=demo)
        assert status == 503 and body["error"]["code"] == "no_host", (status, body)
    finally:
        os.kill(stack.host.pid, signal.SIGCONT)
    # It comes back by itself (the link reconnects), still running the session: the session is
    # revived (disconnected, its end forgotten) and the user's next launch reconnects to it.
    wait_for(lambda: host_state(stack, a, stack.host_id) == "up", 30, "the resumed host to reconnect")
    assert session_state(stack, a, sid) == "disconnected", session_state(stack, a, sid)
    status, revived = api(stack, "GET", "/api/v1/audit?action=session.revive", cookie=a)
    assert status == 200 and [e["target"] for e in revived] == [sid], revived
    status, again = api(stack, "POST", "/api/v1/launch", {"resource": "terminal"}, cookie=demo)
    assert status == 200 and again["session_id"] == sid and again["reconnected"], (status, again)
    status, m = None, stack.request("GET", "/metrics", cookie=a)[2]
    text = m.decode() if isinstance(m, bytes) else str(m)
    assert 'portico_sessions_finished_total{state="lost"} 1' in text, text


def case_drain_and_reconnect(stack):
    a = admin(stack)
    second = stack.spawn_host("b-host", "b-host")
    wait_for(lambda: host_state(stack, a, "b-host") == "up", 30, "the second host")
    demo = stack.login()
    status, first = api(stack, "POST", "/api/v1/launch", {"resource": "terminal"}, cookie=demo)
    assert status == 200
    home = first["direct_url"]
    status, s = api(stack, "GET", f"/api/v1/sessions/{first['session_id']}", cookie=a)
    home_host = s["host"]
    other_host = "b-host" if home_host == stack.host_id else stack.host_id
    assert api(stack, "POST", f"/api/v1/hosts/{home_host}/drain", cookie=a)[0] == 200

    # Reconnect: the user's session is on the draining host and still reachable.
    proc, stats = stack.client("--resource", "terminal", "--duration", "1")
    assert proc.returncode == 0, proc.stderr
    assert stats["session_id"] == first["session_id"], "reconnect should reuse the running session"
    wait_for(lambda: session_state(stack, a, first["session_id"]) == "disconnected", 10,
             "the host to report the session disconnected after the client left")
    status, again = api(stack, "POST", "/api/v1/launch", {"resource": "terminal"}, cookie=demo)
    assert status == 200 and again["reconnected"] and again["direct_url"] == home

    # New sessions go to the other host.
    assert api(stack, "POST", "/api/v1/users", {"name": "erin", "password": "erin-password"}, cookie=a)[0] == 201
    assert api(stack, "PUT", "/api/v1/groups/users/members/erin", cookie=a)[0] == 204
    erin = stack.login("erin", "erin-password")
    status, e = api(stack, "POST", "/api/v1/launch", {"resource": "terminal"}, cookie=erin)
    assert status == 200, (status, e)
    status, es = api(stack, "GET", f"/api/v1/sessions/{e['session_id']}", cookie=a)
    assert es["host"] == other_host, f"a new session went to the draining host {es['host']}"
    # Drain both: no host for new sessions.
    assert api(stack, "POST", f"/api/v1/hosts/{other_host}/drain", cookie=a)[0] == 200
    assert api(stack, "POST", "/api/v1/users", {"name": "finn", "password": "finn-password"}, cookie=a)[0] == 201
    assert api(stack, "PUT", "/api/v1/groups/users/members/finn", cookie=a)[0] == 204
    status, body = api(stack, "POST", "/api/v1/launch", {"resource": "terminal"}, cookie=stack.login("finn", "finn-password"))
    assert status == 503 and body["error"]["code"] == "no_host", (status, body)
    second.terminate()
    second.wait(timeout=20)
    print("drain: reconnect allowed, new sessions elsewhere, none when all drain")


def case_entitlement_roles_replay(stack):
    a = admin(stack)
    demo = stack.login()
    # An app demo is not entitled to: invisible and 403.
    status, app = api(stack, "POST", "/api/v1/apps", {"id": "xclock", "name": "Clock", "command": ["xterm"]}, cookie=a)
    assert status == 201, (status, app)
    status, res = api(stack, "GET", "/api/v1/resources", cookie=demo)
    assert [r["id"] for r in res] == ["terminal"], res
    status, body = api(stack, "POST", "/api/v1/launch", {"resource": "xclock"}, cookie=demo)
    assert status == 403 and body["error"]["code"] == "not_entitled", (status, body)
    # Helpdesk cannot edit apps or entitlements, but can read and act on sessions.
    assert api(stack, "POST", "/api/v1/users", {"name": "hd", "role": "helpdesk", "password": "helpdesk-pw"},
               cookie=a)[0] == 201
    hd = stack.login("hd", "helpdesk-pw")
    for method, path, body in (("PATCH", "/api/v1/apps/terminal", {"name": "X"}),
                               ("POST", "/api/v1/apps", {"id": "y", "name": "Y", "command": ["xterm"]}),
                               ("PUT", "/api/v1/apps/xclock/entitlements", {"entitlements": [{"user": "hd"}]}),
                               ("DELETE", "/api/v1/apps/xclock", None)):
        status, r = api(stack, method, path, body, cookie=hd)
        assert status == 403 and r["error"]["code"] == "forbidden", (method, path, status, r)
    assert api(stack, "GET", "/api/v1/apps", cookie=hd)[0] == 200
    # The user's session: launch, then a shadow ticket for the helpdesk.
    status, launch = api(stack, "POST", "/api/v1/launch", {"resource": "terminal"}, cookie=demo)
    assert status == 200
    port = int(launch["direct_url"].split(":")[2].split("/")[0])
    ws = WebSocket(port, "/display")
    ws.send(hello(launch["ticket"]))
    assert ws.recv()[1][0] == 0x81, "owner: expected ServerHello"
    status, shadow = api(stack, "POST", f"/api/v1/sessions/{launch['session_id']}/shadow", cookie=hd)
    assert status == 200 and shadow["view_only"], (status, shadow)
    sh = WebSocket(stack.port, shadow["gateway_path"], cafile=os.path.join(stack.state, "tls/broker.crt"))
    sh.send(hello(shadow["ticket"]))
    assert sh.recv()[1][0] == 0x81, "shadow: expected ServerHello"
    frames = 0
    deadline = time.time() + 10
    while frames < 1 and time.time() < deadline:
        op, payload = sh.recv()
        if payload and payload[0] in (0x82, 0x83):
            frames += 1
    assert frames >= 1, "the shadow got no frames"
    # The owner is still attached (the shadow replaced nobody): it still receives frames.
    got_owner_frame = False
    while time.time() < deadline + 5:
        op, payload = ws.recv()
        if payload and payload[0] in (0x82, 0x83):
            got_owner_frame = True
            break
    assert got_owner_frame, "the owner lost its stream when the shadow joined"
    # Ticket replay is refused by the host.
    rp = WebSocket(port, "/display")
    rp.send(hello(shadow["ticket"]))
    op, payload = rp.recv()
    assert payload[0] == 0x86 and struct.unpack("<H", payload[1:3])[0] == 5, "replayed shadow ticket accepted"
    for c in (ws, sh, rp):
        c.close()
    status, audit = api(stack, "GET", "/api/v1/audit?actor=hd", cookie=a)
    assert any(e["action"] == "session.shadow" for e in audit), audit
    print("entitlement 403, helpdesk 403 on app edits, shadow view-only next to the owner, replay refused")


def header(headers, name):
    return next((v for k, v in headers if k.lower() == name), None)


def case_no_input_stops_broker(stack):
    """Issue 12: requests that used to end the broker's network threads (an unknown JSON key cut
    in the middle of a UTF-8 character; a failed login whose stored name is cut the same way, then
    read back by the console's Audit tab) are answered, and the real broker process still serves."""
    key = "k" * 63 + "\u00e9"  # the cut at 64 bytes falls inside the é
    body = json.dumps({key: 1, "token": "t", "host_id": "h", "csr_pem": "x"})
    for _ in range(6):  # more than the broker's network threads (2)
        status, _, payload = stack.request("POST", "/api/v1/enroll", body)
        assert status == 400 and payload["error"]["code"] == "bad_request", (status, payload)
    name = "u" * 127 + "\u20ac"  # € straddles byte 128, where the audit row cuts the name
    status, _, payload = stack.request("POST", "/api/v1/login", {"username": name, "password": "wrong"})
    assert status == 401, (status, payload)
    a = admin(stack)
    status, audit = api(stack, "GET", "/api/v1/audit?action=login_failed", cookie=a)
    assert status == 200 and audit and audit[0]["actor"] == "u" * 127, (status, audit)
    # A user name that tries to forge a log line is logged escaped, on one line.
    forged = "mallory\n00:00:00.000 INFO  [broker] user 'admin' logged in from 10.0.0.1"
    status, _, _ = stack.request("POST", "/api/v1/login", {"username": forged, "password": "wrong"})
    assert status == 401
    # Still serving: logins, the API, static files; the process is alive and no thread was lost.
    demo = stack.login()
    status, me = api(stack, "GET", "/api/v1/me", cookie=demo)
    assert status == 200 and me["user"] == "demo", (status, me)
    status, headers, _ = stack.request("GET", "/")
    assert status == 200 and (header(headers, "strict-transport-security") or "").startswith("max-age="), headers
    assert stack.broker.poll() is None, "the broker exited"
    log = stack.read_log("broker")
    assert "network thread stopped" not in log and "handler threw" not in log, log[-3000:]
    assert not any(line.startswith("00:00:00.000 INFO  [broker] user 'admin'") for line in log.splitlines()), log[-3000:]
    assert "mallory\\n00:00:00.000" in log, log[-3000:]
    print("6 cut-key enrolls, a cut-name failed login and the audit read answered; the broker still serves")


def case_login_throttle(stack):
    """Issue 12: parallel wrong passwords beyond the limit are refused (429 + Retry-After) before
    any hashing, however slow it is; the right password works once the delay has passed; /metrics
    needs an admin."""
    def attempt(_):
        status, headers, payload = stack.request("POST", "/api/v1/login", {"username": "demo", "password": "wrong"})
        return status, header(headers, "retry-after"), payload
    with concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(attempt, range(12)))
    statuses = sorted(r[0] for r in results)
    assert statuses.count(401) == 5 and statuses.count(429) == 7, statuses
    waits = [int(r[1]) for r in results if r[0] == 429]
    assert all(w >= 1 for w in waits), results
    # The first delay is 1 s after the last failure was known: then the right password works.
    time.sleep(max(waits) + 0.5)
    stack.login()
    status, _, _ = stack.request("GET", "/metrics")
    assert status == 401, status
    status, _, text = stack.request("GET", "/metrics", cookie=admin(stack))
    text = text.decode() if isinstance(text, bytes) else str(text)
    assert status == 200 and 'portico_logins_total{result="rate_limited"} 7' in text, (status, text[-2000:])
    print("12 parallel wrong passwords: 5 hashed (401), 7 refused (429); the right one works after the delay")


# Cases that need only the broker (no session host, so no X server).
BROKER_ONLY = {"no_input_stops_broker", "login_throttle"}

CASES = {"no_input_stops_broker": case_no_input_stops_broker, "login_throttle": case_login_throttle,
         "enrollment": case_enrollment, "heartbeat_loss": case_heartbeat_loss,
         "drain_and_reconnect": case_drain_and_reconnect, "entitlement_roles_replay": case_entitlement_roles_replay}


def main():
    case, build, source = sys.argv[1], sys.argv[2], sys.argv[3]
    stack = Stack(build, source, name=case.replace("_", "-"))
    if case in BROKER_ONLY:
        stack.start_host = lambda: None
    return run_case(stack, CASES[case])


if __name__ == "__main__":
    sys.exit(main())
