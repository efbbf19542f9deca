"""The quickstart as a new user runs it (issue 16, start-up): deploy/quickstart.sh on a terminal
(a pseudo-terminal here), from its own build directory, until it prints how to log in; then
Ctrl-C. Checked: the terminal gets a few lines (one per step, the build as a counter that rewrites
itself in place), never the install or build output, which is in build/quickstart-setup.log; the
broker's log names the address it bound (0.0.0.0, every address), not 127.0.0.1; the printed URL
serves the portal and the printed password logs in; Ctrl-C stops the broker and the host.

The quickstart builds in a fresh sibling of the test's build directory (<build>-quickstart, ignored
by git like every build-* folder, removed afterwards): at the same depth under the source tree, so
ccache's relative paths match and its compiles hit, and a build with its counter happens each run. PORTICO_NO_DESKTOP=1 leaves the VM desktop out (its image takes
minutes the first time; vm_browser_desktop covers it).

Usage: test_quickstart.py <build_dir> <source_dir>. Exit 0 = pass, 1 = fail, 77 = not root (the
quickstart's normal case) unless CI=true, where that is a failure."""

import json
import os
import pty
import re
import select
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import http.client

sys.path.insert(0, os.path.dirname(__file__))
from stack import free_port  # noqa: E402

READY = "Press Ctrl-C to stop."
READY_TIMEOUT_S = 900  # a build whose compiles miss ccache takes minutes on two cores
MAX_LINES = 16  # what the terminal may show before READY (it printed ~90 lines of build output once)


def screen_lines(raw):
    """The lines a terminal shows for `raw`: a carriage return moves back to the line's start and
    ESC [ K clears from there (a progress counter leaves only its last state, then nothing)."""
    out = []
    for line in raw.replace("\r\n", "\n").split("\n"):
        shown, col = [], 0
        for token in re.split(r"(\r|\x1b\[K)", line):
            if token == "\r":
                col = 0
            elif token == "\x1b[K":
                del shown[col:]
            else:
                shown[col:col + len(token)] = token
                col += len(token)
        text = "".join(shown).rstrip()
        if text:
            out.append(text)
    return out


def read_until(fd, proc, marker, timeout, raw):
    deadline = time.time() + timeout
    while marker not in raw[0]:
        if time.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {marker!r}; output:\n{raw[0][-3000:]}")
        if proc.poll() is not None:
            drain(fd, raw)
            raise AssertionError(f"the quickstart exited with {proc.returncode} before {marker!r}; output:\n{raw[0][-3000:]}")
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                raw[0] += os.read(fd, 65536).decode(errors="replace")
            except OSError:
                pass


def drain(fd, raw):
    while select.select([fd], [], [], 0.2)[0]:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            return
        if not chunk:
            return
        raw[0] += chunk.decode(errors="replace")


def https(port, method, path, body=None):
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=ssl._create_unverified_context())
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        r = conn.getresponse()
        return r.status, r.read().decode(errors="replace")
    finally:
        conn.close()


def processes_of(exe_dir):
    """Pids of live processes whose executable is in exe_dir (the quickstart's installed programs)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            exe = os.readlink(f"/proc/{entry}/exe")
        except OSError:
            continue
        if exe.startswith(exe_dir + "/"):
            pids.append(int(entry))
    return pids


def main():
    build, source = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    if os.geteuid() != 0:
        print("the quickstart's normal case (service accounts, the session helper) needs root")
        return 1 if os.environ.get("CI") == "true" else 77
    work = tempfile.mkdtemp(prefix="portico-quickstart-")
    os.chmod(work, 0o755)  # the service accounts reach their state below it
    state = os.path.join(work, "state")
    port = free_port()
    qs_build = build.rstrip("/") + "-quickstart"
    subprocess.run(["rm", "-rf", qs_build], check=True)  # a fresh build: the counter is part of the test
    env = dict(os.environ, PORTICO_STATE=state, PORTICO_PORT=str(port), PORTICO_NO_DESKTOP="1", PORTICO_BUILD=qs_build,
               TERM="xterm")
    master, slave = pty.openpty()
    started = time.time()
    proc = subprocess.Popen([os.path.join(source, "deploy", "quickstart.sh")], stdin=slave, stdout=slave, stderr=slave,
                            env=env, start_new_session=True, close_fds=True)
    os.close(slave)
    raw = [""]
    bin_dir = os.path.join(state, "bin")
    try:
        read_until(master, proc, READY, READY_TIMEOUT_S, raw)
        took = time.time() - started
        lines = screen_lines(raw[0])
        print(f"the terminal after {took:.0f} s ({len(raw[0])} bytes written to it):")
        for line in lines:
            print(f"  | {line}")

        # Quiet: a few lines, none of them install or build output.
        assert len(lines) <= MAX_LINES, f"{len(lines)} lines on the terminal (at most {MAX_LINES})"
        noisy = [line for line in lines if re.match(r"^\s*(\[\d+/\d+\]|-- |ninja:|cmake|g\+\+|c\+\+|/usr/bin/)", line)
                 or "Building CXX" in line or "Linking" in line or "warning:" in line]
        assert not noisy, f"install or build output on the terminal: {noisy}"
        setup_log = os.path.join(qs_build, "quickstart-setup.log")
        assert lines[0] == f"[portico] installing and building (details in {setup_log})", f"first line: {lines[0]!r}"
        for step in ("installing what is missing", "configuring", "building"):
            assert f"[portico] {step}: done" in lines, f"no '[portico] {step}: done' line"
        with open(setup_log, errors="replace") as f:
            log_text = f.read()
        assert "Build files have been written to" in log_text, "the configure output is not in the setup log"
        built = re.findall(r"^\[\d+/\d+\] ", log_text, re.M)
        assert built, "the setup log has no build steps (was the build directory not fresh?)"
        # The terminal had the build's counter, rewritten in place (and cleared: screen_lines shows none).
        assert re.search(r"\r\[portico\] building \[\d+/\d+\]", raw[0]), "no progress counter while building"
        print(f"setup log: {len(log_text.splitlines())} lines ({len(built)} ninja steps), none on the terminal")

        # What to do next: the URL, the demo user and its password, the console.
        assert f"  open:  https://localhost:{port}/" in "\n".join(lines), "no URL line"
        user = next((line.split(":", 1)[1].strip() for line in lines if line.strip().startswith("user:")), None)
        password = next((line.split(":", 1)[1].strip() for line in lines if line.strip().startswith("password:")), None)
        assert user == "demo" and password, f"no demo user and password printed (user {user!r})"
        assert any(f"https://localhost:{port}/console/" in line for line in lines), "no console line"

        # The broker's log names the address it bound: every address, as the quickstart asks.
        with open(os.path.join(state, "logs", "broker.log"), errors="replace") as f:
            broker_log = f.read()
        listening = [line for line in broker_log.splitlines() if "listening on" in line]
        want = f"portico-broker listening on 0.0.0.0:{port} (every address of this machine)"
        assert len(listening) == 1 and listening[0].endswith(want), f"the broker's listen line is {listening}"
        print(f"broker log: {listening[0]}")

        status, body = https(port, "GET", "/")
        assert status == 200 and "<html" in body.lower(), f"GET / answered {status}"
        status, body = https(port, "POST", "/api/v1/login", {"username": user, "password": password})
        assert status == 200, f"logging in with the printed password answered {status}: {body}"
        print(f"https://localhost:{port}/ serves the portal; {user} logs in with the printed password")

        # Ctrl-C on the terminal: everything stops.
        before = len(raw[0])
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            raise AssertionError("the quickstart did not stop within 60 s of Ctrl-C")
        drain(master, raw)
        tail = screen_lines(raw[0][before:])
        assert "[portico] stopped" in tail, f"after Ctrl-C the terminal shows {tail}"
        left = processes_of(bin_dir)
        assert not left, f"processes left running after Ctrl-C: {left}"
        print(f"Ctrl-C: {tail}; nothing left running")
    except AssertionError as e:
        print(f"\nquickstart test FAILED: {e}")
        for p in (os.path.join(qs_build, "quickstart-setup.log"), *(os.path.join(state, "logs", n) for n in ("broker.log", "host.log"))):
            name = os.path.basename(p)
            if os.path.exists(p):
                with open(p, errors="replace") as f:
                    print(f"--- {name} (end) ---\n{f.read()[-2000:]}")
        return 1
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        for pid in processes_of(bin_dir):
            os.kill(pid, signal.SIGKILL)
        os.close(master)
        subprocess.run(["rm", "-rf", work, qs_build], check=False)
    print("quickstart test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
