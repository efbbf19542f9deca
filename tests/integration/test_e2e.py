"""End-to-end tests of the foundation path with real processes on loopback.

Usage: test_e2e.py <case> <build_dir> <source_dir>; each case starts its own broker + session host.
Exit 0 = pass, 1 = fail, 77 = skipped (printed with the reason; only for a missing browser, or the
portal case run with PORTICO_NO_SS_KILL=1). Under CI=true nothing is skipped: what would be is a
failure."""

import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib

sys.path.insert(0, os.path.dirname(__file__))
from stack import DISPLAY_VERSION, Stack, WebSocket, run_case, hello, wait_for, x_screen_rgb  # noqa: E402

APP_NAMES = {"Xvfb", "xterm"}


def png_image_data(path):
    """(width, height, bit depth, colour type, the decompressed image data: filtered rows) of a PNG."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IHDR":
            header = struct.unpack(">IIBB", data[pos + 8:pos + 18])
        if kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + n]
        pos += 12 + n
    assert header, "PNG without IHDR"
    return (*header, zlib.decompress(idat))


def png_distinct_rows(path):
    """Counts a PNG's distinct (filtered) rows: a blank screen has 1 or 2, a terminal with text
    many. (Counting byte values fails on lossless text: black on white has only two.)"""
    width, _, depth, colour, raw = png_image_data(path)
    assert depth == 8, "8-bit PNG expected"
    stride = 1 + width * {0: 1, 2: 3, 4: 2, 6: 4}[colour]
    return len({raw[i:i + stride] for i in range(0, len(raw), stride)})


def session_app_processes(stack):
    return [name for _, name in stack.session_processes() if name in APP_NAMES]


def case_launch_and_type(stack):
    marker = os.path.join(stack.dir, "typed-through-the-stream")
    png = os.path.join(stack.dir, "screen.png")
    proc, stats = stack.client("--resource", "Terminal", "--type", f"touch {marker}\\n", "--duration", "4",
                               "--png", png)
    print(proc.stderr[-3000:])
    assert proc.returncode == 0, f"client exited {proc.returncode}"
    print("stats:", json.dumps(stats))
    assert stats["frames"] >= 1 and stats["video_frames"] >= 1, "no frames of the real xterm arrived"
    assert stats["keyframes"] >= 1
    assert stats["decode_errors"] == 0
    assert stats["bytes"] > 1000
    # The client's own stream figures: frames and bytes over the stream, decode time, Ping RTT.
    assert stats["fps"] > 0 and stats["kbps"] > 0, "client stats: no frame rate or bit rate"
    assert stats["decode_ms_median"] is not None and stats["decode_ms_median"] >= 0
    assert stats["rtt_ms_median"] is not None and 0 <= stats["rtt_ms_median"] < 2000, "no Pong answered a Ping"
    assert "stats: " in proc.stderr, "no periodic stats line on stderr"
    wait_for(lambda: os.path.exists(marker), 15, "the typed command to create the marker file")
    assert png_distinct_rows(png) > 8, "the captured screen is blank"
    assert any(n == "xterm" for n in session_app_processes(stack)), "the session should still run (no logoff)"


def case_logoff_cleans_up(stack):
    proc, stats = stack.client("--resource", "Terminal", "--duration", "1", "--logoff")
    assert proc.returncode == 0, proc.stderr
    assert stats["frames"] >= 1
    assert stats["ended"] == "logged_off", stats
    wait_for(lambda: not session_app_processes(stack), 15, "Xvfb and xterm to be gone after logoff")
    assert not os.listdir(os.path.join(stack.dir, "host", "sessions")), "session runtime dir left behind"

    # The app exiting ends the session too: typing `exit` closes xterm.
    proc, stats = stack.client("--resource", "Terminal", "--type", "exit\\n", "--duration", "8")
    assert proc.returncode == 0, proc.stderr
    assert stats["ended"] == "app_exited", stats
    wait_for(lambda: not session_app_processes(stack), 15, "Xvfb to be gone after the app exited")

    # Stopping the host leaves nothing running either.
    stack.client("--resource", "Terminal", "--duration", "1")
    assert session_app_processes(stack), "expected a running session before stopping the host"
    host_pid = stack.host.pid
    children = [p for p, _ in stack.session_processes()]
    stack.host.terminate()
    stack.host.wait(timeout=20)
    wait_for(lambda: not any(os.path.exists(f"/proc/{p}") for p in children), 15,
             f"processes of host {host_pid} to exit")


def expect_refused(ws, first_message, code, label):
    ws.send(first_message)
    opcode, payload = ws.recv()
    assert opcode == 2 and payload[0] == 0x86, f"{label}: expected an Error message, got opcode {opcode}"
    got = struct.unpack("<H", payload[1:3])[0]
    assert got == code, f"{label}: expected error code {code}, got {got}"
    opcode, _ = ws.recv()
    assert opcode == 8, f"{label}: expected the connection to close"
    ws.close()
    print(f"refused as expected: {label}")


def sign_with_broker_key(stack, payload):
    key = os.path.join(stack.state, "ticket-key.pem")
    message = os.path.join(stack.dir, "ticket-payload")
    with open(message, "wb") as f:
        f.write(payload)
    # Ed25519 signs the whole message at once, so openssl needs it as a file, not a pipe.
    sig = subprocess.run(["openssl", "pkeyutl", "-sign", "-inkey", key, "-rawin", "-in", message],
                         capture_output=True, check=True).stdout
    import base64
    b64 = lambda b: base64.urlsafe_b64encode(b).decode().rstrip("=")  # noqa: E731
    return b64(payload) + "." + b64(sig)


def case_bad_input(stack):
    import sqlite3
    db = os.path.join(stack.state, "portico.db")

    def snapshot():
        con = sqlite3.connect(db)
        rows = {t: con.execute(f"SELECT * FROM {t}").fetchall()
                for (t,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        con.close()
        return rows

    before = snapshot()
    status, _, body = stack.request("POST", "/api/v1/login", {"username": "demo", "password": "wrong"})
    assert status == 401, status
    assert body["error"]["code"] == "invalid_credentials", body
    status, _, body = stack.request("POST", "/api/v1/login", {"username": "nobody", "password": "x"})
    assert status == 401 and body["error"]["code"] == "invalid_credentials"
    after = snapshot()
    # Failed logins are audited and counted for the login throttle (the tables they may change).
    assert {k: v for k, v in before.items() if k not in ("login_failures", "audit", "sqlite_sequence")} == \
           {k: v for k, v in after.items() if k not in ("login_failures", "audit", "sqlite_sequence")}, \
        "a failed login changed the database"
    print("wrong password: 401 JSON, nothing changed")

    cookie = stack.login()
    status, _, body = stack.request("POST", "/api/v1/launch", {"resource": "no-such-app"}, cookie=cookie)
    assert status == 404 and body["error"]["code"] == "not_found", (status, body)
    status, _, body = stack.request("POST", "/api/v1/launch", "{not json", cookie=cookie)
    assert status == 400, status
    status, _, body = stack.request("POST", "/api/v1/launch", {"resource": "terminal"})
    assert status == 401, status
    print("unknown resource 404, malformed 400, anonymous 401")

    status, _, launch = stack.request("POST", "/api/v1/launch", {"resource": "terminal"}, cookie=cookie)
    assert status == 200, (status, launch)
    sid = launch["session_id"]
    host_port = int(launch["direct_url"].split(":")[2].split("/")[0])
    gateway = launch["gateway_path"]

    # No ticket at all: the first message is not Hello.
    expect_refused(WebSocket(host_port, "/display"), bytes([0x02, 1, 30, 0]), 9, "no Hello")
    # A forged ticket (garbage signature).
    expect_refused(WebSocket(host_port, "/display"), hello("eyJ0aWQiOiJ4In0.AAAA"), 3, "forged ticket")
    # A ticket signed with the real key but expired.
    claims = {"tid": "expired-1", "sid": sid, "usr": "demo", "hst": stack.host_id, "res": "terminal",
              "exp": int(time.time()) - 5}
    expired = sign_with_broker_key(stack, json.dumps(claims, separators=(",", ":")).encode())
    expect_refused(WebSocket(host_port, "/display"), hello(expired), 4, "expired ticket")
    # The same refusals through the broker's gateway.
    expect_refused(WebSocket(stack.port, gateway, cafile=os.path.join(stack.state, "tls/broker.crt")),
                   hello("x.y"), 3, "forged ticket via gateway")

    # The real ticket works once, then is a replay.
    ws = WebSocket(stack.port, gateway, cafile=os.path.join(stack.state, "tls/broker.crt"))
    ws.send(hello(launch["ticket"]))
    opcode, payload = ws.recv()
    assert payload[0] == 0x81, "expected ServerHello for the real ticket"
    # A malformed message closes this connection only.
    ws.send(bytes([0x03, 1]))
    while True:
        opcode, payload = ws.recv()
        if opcode == 8 or payload[0] == 0x86:
            break
    ws.close()
    expect_refused(WebSocket(host_port, "/display"), hello(launch["ticket"]), 5, "replayed ticket")

    log = stack.read_log("host")
    for reason in ("ticket_invalid", "ticket_expired", "ticket_replayed", "expected_hello"):
        assert reason in log, f"host log does not mention the refusal {reason}"
    # After all that the session still works for a fresh launch (reconnect to the same session).
    proc, stats = stack.client("--resource", "terminal", "--duration", "1")
    assert proc.returncode == 0 and stats["frames"] >= 1, proc.stderr
    assert stats["session_id"] == sid, "relaunch should reconnect to the running session"
    print("session unaffected by the bad connections; relaunch reconnected")


def browser_missing(stack):
    """Why the browser tests cannot run on this machine, or None (deploy/install-deps.sh --test
    installs all of it, so in CI they always run)."""
    chromium = os.environ.get("PORTICO_CHROMIUM", "/usr/bin/chromium")
    node_modules = os.path.join(stack.source, "tests/browser/node_modules/playwright-core")
    if os.path.exists(chromium) and os.path.exists(node_modules) and shutil.which("node"):
        return None
    return f"browser test needs {chromium}, node and playwright-core (run deploy/install-deps.sh --test)"


def skip(why):
    """The exit status of a case that cannot run on this machine: 77 (ctest: skipped) on a developer's
    machine, but a failure under CI=true, where deploy/install-deps.sh --test installed everything
    and a skip would leave the run green with the case untested."""
    if os.environ.get("CI") == "true":
        raise AssertionError(f"CI=true, so this cannot be skipped: {why}")
    print(f"SKIPPED: {why}")
    return 77


def run_browser_test(stack, script, what, ok=(0,), **extra_env):
    """Runs tests/browser/<script> in Node against this stack as the demo user (the common variables
    plus `extra_env`), screenshots into PORTICO_ARTIFACTS; fails unless it exits with one of `ok`.
    Returns the exit code."""
    artifacts = os.environ.get("PORTICO_ARTIFACTS", os.path.join(tempfile.gettempdir(), "portico-artifacts"))
    os.makedirs(artifacts, exist_ok=True)
    env = dict(os.environ, PORTICO_URL=stack.url + "/", PORTICO_USER="demo", PORTICO_PASSWORD=stack.password,
               PORTICO_ARTIFACTS=artifacts, **extra_env)
    proc = subprocess.run(["node", os.path.join(stack.source, "tests/browser", script)], env=env, timeout=240)
    assert proc.returncode in ok, f"{what} browser test failed"
    print(f"screenshots in {artifacts}")
    return proc.returncode


def workdir(stack):
    """A folder the browser tests' typed commands write their files into (PORTICO_WORKDIR)."""
    work = os.path.join(stack.dir, "typed")
    os.makedirs(work)
    return work


def case_browser(stack):
    if why := browser_missing(stack):
        return skip(why)
    marker = os.path.join(stack.dir, "typed-in-the-browser")
    grab = [sys.executable, os.path.join(stack.source, "tests/integration/grab_screen.py"), str(stack.host.pid)]
    run_browser_test(stack, "terminal.test.mjs", "terminal", PORTICO_MARKER=marker, PORTICO_GRAB_SCREEN=json.dumps(grab))
    assert os.path.exists(marker), "marker file missing"


def case_browser_portal(stack):
    """Portal, HiDPI, stats overlay, reconnect after a dropped WebSocket, toolbar keys (issue 6)."""
    if why := browser_missing(stack):
        return skip(why)
    work = workdir(stack)
    # 77: everything ran and passed except a part this machine cannot do (it says which); the
    # browser test itself fails instead under CI=true.
    code = run_browser_test(stack, "portal.test.mjs", "portal", ok=(0, 77), PORTICO_WORKDIR=work)
    expected = {"FILE1": "one\n", "FILE2": "two\n", "FILE3": "abc def\n"}
    for name, content in expected.items():
        with open(os.path.join(work, name)) as f:
            assert f.read() == content, f"{name} has the wrong content"
    # Log off from the portal's list ended the session on the host too.
    wait_for(lambda: not session_app_processes(stack), 15, "Xvfb and xterm to be gone after Log off")
    if code == 77:
        return skip("the portal browser test left a part untested (see its output)")


def case_browser_input(stack):
    """Clipboard both ways, AltGr/dead-key characters, modifiers on blur, client cursor, RTT, touch (issue 6)."""
    if why := browser_missing(stack):
        return skip(why)
    work = workdir(stack)
    run_browser_test(stack, "input.test.mjs", "input", PORTICO_WORKDIR=work)
    with open(os.path.join(work, "keys"), encoding="utf-8") as f:
        assert f.read() == "!@#\u20ac@[~/\u00fc\u00e9z\n", "typed characters differ"
    # `exit` in the terminal ended the session; nothing of it is left running.
    wait_for(lambda: not session_app_processes(stack), 15, "Xvfb and xterm to be gone after exit")


def case_browser_session_menu(stack):
    """Daily use (issue 16): session menu, keyboard-only walk, one URL per session, favourites, 360 px phone."""
    if why := browser_missing(stack):
        return skip(why)
    work = workdir(stack)
    run_browser_test(stack, "session-menu.test.mjs", "session menu", PORTICO_WORKDIR=work)
    # Both sessions were logged off (one from the menu, the phone's from the list): nothing is left.
    wait_for(lambda: not session_app_processes(stack), 15, "Xvfb and xterm to be gone after Log off")


def case_browser_launch_file(stack):
    """"Open in the Portico app" (issue 15): the portal's button downloads a launch file, the real
    client runs with it (and refuses its second use), a session's button gives a reconnect file."""
    if why := browser_missing(stack):
        return skip(why)
    work = workdir(stack)
    run_browser_test(stack, "launch-file.test.mjs", "launch file", PORTICO_WORKDIR=work,
                     PORTICO_CLIENT=stack.bin("portico-client"))
    wait_for(lambda: not session_app_processes(stack), 15, "Xvfb and xterm to be gone after Log off")


def case_browser_touch(stack):
    """The web client on a phone (issue 16): touch emulation at 390x844 and 360x740, the phone keyboard's
    text field (typed text, an Android Backspace, an IME composition), the extra-keys bar (sticky Ctrl
    interrupts a command, arrow recalls one), long-press = right click and pinch zoom with taps landing
    on the right cell (xterm's mouse reports), a readable session size."""
    if why := browser_missing(stack):
        return skip(why)
    work = workdir(stack)
    run_browser_test(stack, "touch.test.mjs", "touch", PORTICO_WORKDIR=work)

    def content(name):
        with open(os.path.join(work, name), encoding="utf-8") as f:
            return f.read()

    assert content("touch-typed") == "soft-42\n", "the phone keyboard's text differs"
    assert content("touch-ime") == "\u4f60\u597d\n", "the IME composition's committed text differs"
    assert content("touch-arrows") == "arrow\narrow\n", "the extra keys' arrow did not recall the command"
    assert not os.path.exists(os.path.join(work, "touch-late")), "Ctrl+C from the extra keys did not interrupt"
    # The right button's press as xterm reports it (ESC [ M, then 32 + 2), as cat -v shows it.
    assert '^[[M"' in content("touch-mouse"), "no right button press in xterm's mouse reports"
    wait_for(lambda: not session_app_processes(stack), 15, "Xvfb and xterm to be gone after exit")


def case_browser_console(stack):
    """The admin console (issue 3): hosts, drain, sessions with live stats, shadow, log off, audit, roles."""
    if why := browser_missing(stack):
        return skip(why)
    run_browser_test(stack, "console.test.mjs", "console", PORTICO_ADMIN_PASSWORD=stack.admin_password,
                     PORTICO_HOST_ID=stack.host_id)
    # Log off from the console ended the session on the host too.
    wait_for(lambda: not session_app_processes(stack), 15, "Xvfb and xterm to be gone after Log off")


def case_packaged_app(stack):
    """A published app that is a signed package (issue 5) streams like any app. The host starts it
    only through its own runtime with its trust list: a tampered copy and a package signed by a
    publisher it does not trust are refused before anything of them runs, and the launch fails
    with that reason."""
    pack = stack.bin("portico-pack")
    key = os.path.join(stack.dir, "publisher.pem")
    package = os.path.join(stack.dir, "xterm.portico")
    subprocess.run([pack, "keygen", "--out", key], check=True, capture_output=True)
    shutil.copy(key + ".pub", stack.trust_dir)
    stranger_key = os.path.join(stack.dir, "stranger.pem")  # signs validly, but nobody trusts it
    subprocess.run([pack, "keygen", "--out", stranger_key], check=True, capture_output=True)
    subprocess.run([pack, "build", "--entry", "/usr/bin/xterm", "--entry", "/bin/dash", "--name", "xterm",
                    "--key", key, "--isolation", "full", "--add", "/etc/X11/app-defaults/XTerm",
                    "--add", "/lib/terminfo/x/xterm", "-o", package], check=True, capture_output=True, timeout=120)
    untrusted = os.path.join(stack.dir, "untrusted.portico")
    subprocess.run([pack, "build", "--entry", "/usr/bin/xterm", "--name", "xterm", "--key", stranger_key,
                    "-o", untrusted], check=True, capture_output=True, timeout=120)
    tampered = os.path.join(stack.dir, "tampered.portico")
    with open(package, "rb") as f:
        data = bytearray(f.read())
    data[len(data) * 3 // 4] ^= 0x01  # inside the compressed payload
    with open(tampered, "wb") as f:
        f.write(data)
    os.chmod(tampered, 0o755)
    broker = stack.bin("portico-broker")
    for rid, name, path in (("xterm-pkg", "Packaged Terminal", package), ("tampered", "Tampered", tampered),
                            ("untrusted", "Untrusted", untrusted)):
        subprocess.run([broker, "publish", "--state", stack.state, "--id", rid, "--name", name, "--",
                        path, "-e", "/bin/dash"], check=True, capture_output=True)

    marker = os.path.join(stack.dir, "written-by-packaged-app")  # /tmp is shared with the sandbox
    proc, stats = stack.client("--resource", "Packaged Terminal", "--type", f"echo packaged > {marker}\\n",
                               "--duration", "3", "--logoff")
    assert proc.returncode == 0, proc.stderr
    assert stats["frames"] >= 1 and stats["decode_errors"] == 0, stats
    wait_for(lambda: os.path.exists(marker) and open(marker).read().strip() == "packaged", 15,
             "the packaged app to write the marker")
    print("packaged xterm streamed and took input")

    proc, stats = stack.client("--resource", "Tampered", "--duration", "1")
    assert proc.returncode == 3, f"a tampered package should be refused (exit {proc.returncode})"
    assert "REFUSED" in proc.stderr, proc.stderr
    print("tampered package refused:", next(l for l in proc.stderr.splitlines() if "REFUSED" in l)[:240])

    # Validly signed, but by a publisher the host does not trust: refused before anything runs.
    proc, stats = stack.client("--resource", "Untrusted", "--duration", "1")
    assert proc.returncode == 3, f"a package by an untrusted publisher should be refused (exit {proc.returncode})"
    assert "REFUSED" in proc.stderr and "trust" in proc.stderr, proc.stderr
    print("untrusted publisher refused:", next(l for l in proc.stderr.splitlines() if "REFUSED" in l)[:240])


def png_rgb(path):
    """(width, height, RGB bytes) of an 8-bit RGB PNG such as the headless client writes."""
    width, height, depth, colour, raw = png_image_data(path)
    assert depth == 8 and colour == 2, "8-bit RGB PNG expected"
    stride = width * 3
    out = bytearray(stride * height)
    prev = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if kind == 1:
            for i in range(3, stride):
                line[i] = (line[i] + line[i - 3]) & 0xFF
        elif kind == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev))
        elif kind == 3:
            for i in range(stride):
                left = line[i - 3] if i >= 3 else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif kind == 4:
            for i in range(stride):
                a = line[i - 3] if i >= 3 else 0
                b, c = prev[i], prev[i - 3] if i >= 3 else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        out[y * stride:(y + 1) * stride] = line
        prev = line
    return width, height, bytes(out)


def read_frame_log(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.startswith("{")]


def rss_pss_mb(pid):
    """Resident and proportional set size of a process, in MiB (from /proc/<pid>/smaps_rollup)."""
    values = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("Rss", "Pss"):
                values[key] = int(rest.split()[0]) / 1024
    return values["Rss"], values["Pss"]


def case_slow_link(stack):
    """Issue 7: a real client behind a 2 Mbit/s link while its terminal scrolls flat out. The host's
    memory stays flat, the slow client keeps getting frames, a second session on the same host is
    not slowed down, and once the scrolling stops the slow client ends with exactly the screen the
    session shows (its prompt)."""
    sys.path.insert(0, os.path.join(stack.source, "bench", "display"))
    from relay import Relay  # noqa: E402 - the benchmarks' throttling relay

    # Warm-up: the first full-screen frames of the scroll are the largest; the allocator keeps what
    # they needed (one step of ~10 MiB), after which memory must stay flat.
    scroll_s, warmup_s = 20, 6
    broker = stack.bin("portico-broker")
    subprocess.run([broker, "publish", "--state", stack.state, "--id", "terminal-2", "--name", "Terminal 2", "--",
                    "xterm"], check=True, capture_output=True, timeout=30)
    env = dict(os.environ, PORTICO_PASSWORD=stack.password)

    def client(url, resource, text, duration, frame_log, *extra):
        cmd = [stack.bin("portico-client"), "--headless", "--broker", url, "--user", "demo",
               "--ca", os.path.join(stack.state, "tls/broker.crt"), "--resource", resource, "--type", text,
               "--type-delay-ms", "10", "--duration", str(duration), "--frame-log", frame_log, "--json", *extra]
        return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def result(proc, label):
        out, err = proc.communicate(timeout=120)
        lines = [line for line in out.splitlines() if line.startswith("{")]
        assert proc.returncode == 0 and lines, f"{label} client exited {proc.returncode}: {err[-2000:]}"
        return json.loads(lines[-1])

    # The other session: a terminal printing a line ten times a second, straight to the broker.
    fast_log = os.path.join(stack.dir, "fast-frames.jsonl")
    fast = client(stack.url, "Terminal 2", "while :; do date +%s.%N; sleep 0.1; done\\n", scroll_s + 18, fast_log)
    wait_for(lambda: os.path.exists(fast_log) and os.path.getsize(fast_log) > 0, 30, "the second session's first frame")

    relay = Relay(("127.0.0.1", stack.port), rate_bytes_s=2_000_000 // 8, name="slow-link")
    started, stopped = os.path.join(stack.dir, "scroll-started"), os.path.join(stack.dir, "scroll-stopped")
    slow_log, slow_png = os.path.join(stack.dir, "slow-frames.jsonl"), os.path.join(stack.dir, "slow.png")
    command = f"touch {started}; timeout {scroll_s} seq -s ' ' 1 999999999; clear; touch {stopped}\\n"
    # Full HD, one endless line of rising numbers wrapping across the screen: more than 2 Mbit/s would
    # carry. The numbers never repeat, so no two screens match (a loop printing the same line over
    # and over gives screens that repeat whenever the wrap lines up again, and bytes that come and go).
    slow = client(f"https://127.0.0.1:{relay.port}", "Terminal", command, scroll_s + 16, slow_log, "--png", slow_png,
                  "--size", "1920x1080")
    try:
        wait_for(lambda: os.path.exists(started), 40, "the scroll to start in the throttled session")
        t_start = os.path.getmtime(started)
        memory = []  # (seconds since the scroll started, RSS MiB, PSS MiB) of portico-host
        link = []  # (seconds since the scroll started, bytes the relay passed to the client so far)
        while not os.path.exists(stopped) and time.time() < t_start + scroll_s + 10:
            memory.append((time.time() - t_start, *rss_pss_mb(stack.host.pid)))
            link.append((time.time() - t_start, relay.counts()[0]))
            time.sleep(0.5)
        wait_for(lambda: os.path.exists(stopped), 15, "the scroll to stop")
        t_stop = os.path.getmtime(stopped)
        slow_stats = result(slow, "throttled")
        fast_stats = result(fast, "second")
        down = relay.counts()[0]
    finally:
        relay.close()
        for p in (slow, fast):
            if p.poll() is None:
                p.kill()
    print("throttled client:", json.dumps({k: slow_stats.get(k) for k in
                                            ("session_id", "width", "height", "frames", "video_frames", "tile_frames",
                                             "keyframes", "decode_errors", "kbps")}))
    print(f"relay carried {down / 1e6:.1f} MB downstream")
    assert slow_stats["decode_errors"] == 0 and fast_stats["decode_errors"] == 0, (slow_stats, fast_stats)
    assert slow_stats["session_id"] != fast_stats["session_id"], "expected two sessions"
    # The link really was the bottleneck: the scroll wants more than 2 Mbit/s. Two witnesses. The
    # host, the only party that knows what it had to send, says its viewer held capture back for
    # more than half of a second (LinkQuality steps down). And the link carried most of what it
    # can: not all, because FlowControl keeps about one frame in flight for freshness, so the link
    # idles while the ack comes back and the next frame is captured and encoded (88% of 2 Mbit/s on
    # a quiet machine, 75% beside TCG guests on two cores).
    busy = [(t, n) for t, n in link if t >= warmup_s]
    used = (busy[-1][1] - busy[0][1]) / (busy[-1][0] - busy[0][0]) if len(busy) > 1 else 0
    held = [line for line in stack.read_log("host").splitlines()
            if f"session {slow_stats['session_id']}: viewers' links hold capture back" in line]
    print(f"link use while scrolling: {used * 8 / 1e6:.2f} Mbit/s of 2; the host held capture back {len(held)} times")
    assert held, "the host never held capture back for the throttled viewer; the case proves nothing"
    assert used >= 0.6 * 250_000, "the scroll left most of the 2 Mbit/s link unused; the case proves nothing"

    # Memory: flat after warm-up (the client is slow, the host must not queue for it).
    settled = [(t, rss, pss) for t, rss, pss in memory if t >= warmup_s]
    assert len(settled) >= 8, f"too few memory samples: {memory}"
    rss_growth = max(r for _, r, _ in settled) - settled[0][1]
    pss_growth = max(p for _, _, p in settled) - settled[0][2]
    print(f"portico-host after {warmup_s} s: RSS {settled[0][1]:.1f} -> max {max(r for _, r, _ in settled):.1f} MiB "
          f"(+{rss_growth:.1f}), PSS +{pss_growth:.1f} MiB over {len(settled)} samples")
    print("RSS MiB every 0.5 s from the scroll's start:", " ".join(f"{r:.0f}" for _, r, _ in memory))
    # Queuing for a slow client grows without end; a step of one more 1080p frame buffer (8.3 MiB)
    # while the encoder settles does not. So: no growth over the second half of the window beyond
    # 4 MiB, and the whole window within two frame buffers.
    half = len(settled) // 2
    late_growth = max(r for _, r, _ in settled[half:]) - max(r for _, r, _ in settled[:half])
    frame_mib = slow_stats["width"] * slow_stats["height"] * 4 / 2**20
    print(f"growth over the second half of the window: {late_growth:+.1f} MiB; one frame buffer {frame_mib:.1f} MiB")
    assert late_growth <= 4, f"host memory still growing after the first half of the window: {settled}"
    assert rss_growth <= 2 * frame_mib and pss_growth <= 2 * frame_mib, f"host memory grew: {settled}"

    # The throttled client kept receiving frames during the scroll (no stall).
    slow_frames = read_frame_log(slow_log)
    during = [e for e in slow_frames if t_start + 1 <= e["wall_ms"] / 1000 <= t_stop]
    times = [e["wall_ms"] / 1000 for e in during]
    gaps = [b - a for a, b in zip([t_start + 1] + times, times + [t_stop])]
    latency = sorted(e["latency_ms"] for e in during if e["latency_ms"] is not None)
    print(f"throttled: {len(times)} frames while scrolling ({len(times) / (t_stop - t_start - 1):.1f}/s), longest gap "
          f"{max(gaps):.2f} s; video frames capture-to-receive median {latency[len(latency) // 2] if latency else 0:.0f} ms, "
          f"p95 {latency[int(0.95 * (len(latency) - 1))] if latency else 0:.0f} ms, max {latency[-1] if latency else 0:.0f} ms")
    # A stall would be the link carrying nothing new: the host waiting for acks that never come, or
    # the frames in flight too big to ever arrive. (How fresh the frames are is bench/display's
    # newest-frame latency figure, not a pass/fail here.)
    assert max(gaps) <= 3.0, "the throttled client went more than 3 s without a frame"

    # The other session was not slowed down: ten changes a second still arrive as frames.
    fast_frames = read_frame_log(fast_log)
    fast_during = [e["wall_ms"] / 1000 for e in fast_frames if t_start + 1 <= e["wall_ms"] / 1000 <= t_stop]
    fast_gaps = [b - a for a, b in zip(fast_during, fast_during[1:])]
    fast_rate = len(fast_during) / (t_stop - t_start - 1)
    print(f"second session: {fast_rate:.1f} frames/s meanwhile, longest gap {max(fast_gaps, default=0):.2f} s")
    assert fast_rate >= 5, "the second session's frame rate dropped"
    assert max(fast_gaps, default=99) <= 1.0, "the second session stalled"

    # Recovery: after the scroll stops the newest screen arrives within seconds...
    after = [e["wall_ms"] / 1000 for e in slow_frames if e["wall_ms"] / 1000 > t_stop]
    assert after, "no frame arrived after the scroll stopped"
    print(f"throttled: last frame {after[-1] - t_stop:.2f} s after the scroll stopped ({len(after)} frames after)")
    # What is in flight drains first: FlowControl keeps about 150 ms of the link's measured rate in
    # flight (one frame here), so this is well under a second; 5 s leaves room for a loaded CI machine.
    assert after[-1] - t_stop <= 5, "the throttled client was still catching up 5 s after the scroll stopped"
    # ... and the client's final screen is exactly what the session's display shows: the prompt.
    display = re.search(rf"session {re.escape(slow_stats['session_id'])}: started '[^']*' on display (:\d+)",
                        stack.read_log("host"))
    assert display, "the host log does not name the throttled session's display"
    cw, ch, client_rgb = png_rgb(slow_png)
    xauthority = os.path.join(stack.dir, "host", "sessions", slow_stats["session_id"], "Xauthority")
    xw, xh, x_rgb = x_screen_rgb(display.group(1), xauthority)
    assert (cw, ch) == (xw, xh), f"client screen {cw}x{ch}, X screen {xw}x{xh}"
    differing = sum(1 for i in range(0, len(x_rgb), 3) if x_rgb[i:i + 3] != client_rgb[i:i + 3])
    print(f"final screen {cw}x{ch}: {differing} pixels differ from the X display; {png_distinct_rows(slow_png)} "
          "distinct rows")
    assert differing == 0, "the throttled client did not converge to the session's screen"
    assert png_distinct_rows(slow_png) > 1, "the final screen is blank (no prompt)"


def case_browser_app_pointer(stack):
    """An app that takes the pointer as games do (SDL relative mouse mode) in Chromium: Pointer Lock
    on a click, motion and a click into the app exactly, released when the app lets go (issue 15)."""
    if why := browser_missing(stack):
        return skip(why)
    app = os.path.join(stack.dir, "relative-app")
    shutil.copy(os.path.join(stack.build, "tests/integration/portico_test_relative_app"), app)
    os.chmod(app, 0o755)
    report = os.path.join(stack.dir, "relative-app.txt")
    subprocess.run([stack.bin("portico-broker"), "publish", "--state", stack.state, "--id", "relative-app", "--name",
                    "Relative App", "--", app, report], check=True, capture_output=True)
    run_browser_test(stack, "app-pointer.test.mjs", "app relative pointer", PORTICO_REPORT=report)
    log = stack.read_log("host")
    assert "took the pointer (relative" in log and "let the pointer go" in log, "the host did not log both switches"


def tile_encodings(payload):
    """The encodings of a TileFrame's tiles (docs/protocol.md: 0x83, copies of 12 bytes, then tiles)."""
    copies = struct.unpack_from("<H", payload, 9)[0]
    at = 11 + copies * 12
    count = struct.unpack_from("<H", payload, at)[0]
    at += 2
    encodings = []
    for _ in range(count):
        encoding, length = struct.unpack_from("<BI", payload, at + 8)
        encodings.append(encoding)
        at += 13 + length
    assert at == len(payload), "TileFrame length does not add up"
    return encodings


def case_older_client(stack):
    """A client of display version 3 (before compact palette tiles, encoding 4) is served at its
    version by a real host; a current client reconnecting to the same session gets compact tiles."""
    cookie = stack.login()

    def watch(version):
        status, _, launch = stack.request("POST", "/api/v1/launch", {"resource": "terminal"}, cookie=cookie)
        assert status == 200, (status, launch)
        port = int(launch["direct_url"].split(":")[2].split("/")[0])
        ws = WebSocket(port, "/display")
        ws.send(hello(launch["ticket"], version))
        opcode, payload = ws.recv()
        assert payload[0] == 0x81, f"version {version}: expected ServerHello, got type {payload[0]:#x}"
        assert struct.unpack_from("<H", payload, 1)[0] == version, "ServerHello is not at the client's version"
        # The keyframe is H.264; refinement then re-sends the still terminal as palette tiles.
        encodings = []
        deadline = time.time() + 15
        while 3 not in encodings and 4 not in encodings and time.time() < deadline:
            opcode, payload = ws.recv()
            if payload and payload[0] in (0x82, 0x83):
                ws.send(bytes([0x05]) + payload[1:5])  # FrameAck: keep frames coming
            if payload and payload[0] == 0x83:
                encodings += tile_encodings(payload)
        ws.close()
        return encodings

    old = watch(3)
    assert 3 in old and 4 not in old, f"a version 3 client got tile encodings {sorted(set(old))}"
    new = watch(DISPLAY_VERSION)
    assert 4 in new and 3 not in new, f"a version {DISPLAY_VERSION} client got tile encodings {sorted(set(new))}"
    print(f"version 3 client: classic palette tiles {sorted(set(old))}; "
          f"version {DISPLAY_VERSION}: compact {sorted(set(new))}")


CASES = {"launch_and_type": case_launch_and_type, "older_client": case_older_client, "logoff_cleans_up": case_logoff_cleans_up,
         "bad_input": case_bad_input, "browser": case_browser, "browser_portal": case_browser_portal,
         "browser_input": case_browser_input, "browser_touch": case_browser_touch,
         "browser_console": case_browser_console,
         "browser_session_menu": case_browser_session_menu, "browser_launch_file": case_browser_launch_file,
         "browser_app_pointer": case_browser_app_pointer,
         "packaged_app": case_packaged_app, "slow_link": case_slow_link}


def main():
    case, build, source = sys.argv[1], sys.argv[2], sys.argv[3]
    stack = Stack(build, source, name=case.replace("_", "-"))
    # The publishers this host trusts (case_packaged_app puts its key there).
    stack.trust_dir = os.path.join(stack.dir, "trusted-keys")
    os.makedirs(stack.trust_dir)
    stack.host_args += ["--package-trust-dir", stack.trust_dir]
    return run_case(stack, CASES[case])


if __name__ == "__main__":
    sys.exit(main())
