"""Session isolation (issue 12) with real processes: portico-session-helper as root starts
portico-host as the unprivileged service account; two portal users' Terminal sessions (an xterm
running isolation_probe.sh) run as their own Unix accounts on one host. From inside each session
the probe tries to read every host and broker secret, the database, the other session's files and
X authority, and to connect to the other's X display. Every attempt must fail, while the session's
own display works. Needs root (CI runs as root); under CI=true anything missing is a failure."""

import os
import pwd
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Stack, TEST_RUNTIME_DIR, TEST_UID_RANGE, SERVICE_ACCOUNT, wait_for  # noqa: E402

USERS = ("pt-alice", "pt-bob")


def api(stack, method, path, body=None, cookie=None):
    status, _, payload = stack.request(method, path, body, cookie=cookie)
    return status, payload


def remove_test_accounts():
    lo, hi = (int(x) for x in TEST_UID_RANGE.split("-"))
    for name in USERS:
        try:
            if lo <= pwd.getpwnam(name).pw_uid <= hi:
                subprocess.run(["userdel", "-r", "-f", name], capture_output=True)
        except KeyError:
            pass


def case_two_users(stack):
    probe = os.path.join(stack.source, "tests/integration/isolation_probe.sh")
    lo, hi = TEST_UID_RANGE.split("-")
    host_state = os.path.join(stack.dir, "host")
    admin = stack.login("admin", stack.admin_password)
    for name in USERS:
        status, body = api(stack, "POST", "/api/v1/users", {"name": name, "password": name + "-password"}, cookie=admin)
        assert status == 201, (status, body)
    subprocess.run([stack.bin("portico-broker"), "publish", "--state", stack.state, "--id", "probe", "--name", "Probe",
                    "--user", USERS[0], "--user", USERS[1], "--", "xterm", "-hold", "-e", "/bin/sh", probe, host_state,
                    stack.state, TEST_RUNTIME_DIR, lo, hi, str(pwd.getpwnam(SERVICE_ACCOUNT).pw_uid)], check=True,
                   capture_output=True, timeout=30)

    sessions = {}
    for name in USERS:
        cookie = stack.login(name, name + "-password")
        status, body = api(stack, "POST", "/api/v1/launch", {"resource": "probe"}, cookie=cookie)
        assert status == 200, (name, status, body)
        sessions[name] = body["session_id"]

    results = {}
    for name in USERS:
        account = pwd.getpwnam(name)
        path = os.path.join(account.pw_dir, "isolation-probe.txt")
        wait_for(lambda: os.path.exists(path), 90, f"{name}'s probe to finish")
        with open(path) as f:
            results[name] = (account, f.read().splitlines())

    service_uid = pwd.getpwnam(SERVICE_ACCOUNT).pw_uid
    for name, (account, lines) in results.items():
        print(f"--- {name} (uid {account.pw_uid}) ---")
        print("\n".join(lines))
        ident = next(line for line in lines if line.startswith("ID "))
        assert f"uid={account.pw_uid} " in ident and f"user={name} " in ident, ident
        assert int(lo) <= account.pw_uid <= int(hi), "the session must run as an account the helper created"
        assert account.pw_uid not in (0, service_uid)
        assert os.stat(account.pw_dir).st_mode & 0o077 == 0, "the user's home is private"
        env = next(line for line in lines if line.startswith("ENV "))
        assert "PORTICO_SESSION_HELPER_FD" not in env and "INVOCATION_ID" not in env, env
        assert "OWN-DISPLAY ok" in lines, "the positive control: the session's own display must work"
        assert "DONE" in lines
        sessions_line = next(line for line in lines if line.startswith("SESSIONS "))
        assert sessions_line.startswith("SESSIONS 2 "), sessions_line
        allowed = [line for line in lines if line.startswith("ALLOWED")]
        assert not allowed, f"{name}'s session reached what it must not: {allowed}"
        denied = [line for line in lines if line.startswith("DENIED")]
        for what in ("x-connect ", "x-connect-with-their-cookie ", "other-xauthority ", "list other-session ",
                     "read guessed", "list state"):
            assert any(what in line for line in denied), f"{name}: no '{what}' attempt was made"
    # The host itself runs as the service account, not root; the apps as their users. Only this
    # stack's host (the helper's child) counts: other tests' hosts run beside it under ctest -j.
    host_pids = subprocess.run(["pgrep", "-P", str(stack.host.pid), "-x", "portico-host"], capture_output=True,
                               text=True).stdout.split()
    assert len(host_pids) == 1, host_pids
    for pid in host_pids:
        assert os.stat(f"/proc/{pid}").st_uid == service_uid

    # Ending a session ends every process of its account and removes its runtime directory.
    cookie = stack.login(USERS[0], USERS[0] + "-password")
    status, body = api(stack, "POST", f"/api/v1/sessions/{sessions[USERS[0]]}/logoff", cookie=cookie)
    assert status in (200, 204), (status, body)
    uid0 = results[USERS[0]][0].pw_uid

    def gone():
        left = [d for d in os.listdir("/proc") if d.isdigit() and os.path.exists(f"/proc/{d}")
                and _uid_of(d) == uid0]
        return not left and not os.path.exists(os.path.join(TEST_RUNTIME_DIR, sessions[USERS[0]]))
    wait_for(gone, 15, f"every process of {USERS[0]} to end")
    return "ok"


def _uid_of(pid):
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None


CASES = {"two_users": case_two_users}


def main():
    case, build, source = sys.argv[1], sys.argv[2], sys.argv[3]
    if os.geteuid() != 0:
        print("test_isolation: needs root (it creates Unix accounts and runs the privileged helper)")
        sys.exit(1 if os.environ.get("CI") == "true" else 77)
    remove_test_accounts()
    # A run that was killed leaves its sessions' runtime directories behind; the probe counts them.
    shutil.rmtree(TEST_RUNTIME_DIR, ignore_errors=True)
    stack = Stack(build, source, name="iso")
    stack.privsep = True
    ok = False
    try:
        stack.start()
        result = CASES[case](stack)
        ok = True
        print(f"{case}: {result}")
    finally:
        if not ok:
            stack.dump_logs()
        stack.stop()
        remove_test_accounts()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
