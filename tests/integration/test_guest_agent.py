#!/usr/bin/env python3
"""deploy/guest/portico-agent, the guest's end of the host's agent channel, on a real X server
(Xvfb, RandR 1.6) with a pty in place of its virtio-serial port (PORTICO_AGENT_PORT):

  - a two-monitor layout becomes the X server's RandR monitors (names, geometry, primary, the
    output on the first), and the agent answers with them;
  - a layout for a size the screen does not have yet waits for it (the resize comes a second
    later, as a guest's display driver applies it) and is then laid out;
  - one monitor again removes the agent's monitors (the output's own whole-screen one returns);
  - an unknown request gets "failed", and the agent goes on.

The VM test (tests/integration/test_native_window.py vm_monitors) runs the same script in the
desktop guest through QEMU's virtio-serial port.

  test_guest_agent.py SOURCE_DIR"""

import os
import pty
import re
import select
import shutil
import subprocess
import sys
import time
import tty

NEEDED = ("Xvfb", "xrandr")


def x_env(display):
    env = dict(os.environ, DISPLAY=display)
    env.pop("XAUTHORITY", None)
    return env


def xrandr(env, *args):
    return subprocess.run(["xrandr", *args], env=env, check=True, capture_output=True, text=True, timeout=30).stdout


def monitors(env):
    """[(name, w, h, x, y, primary)] as xrandr --listmonitors lists them."""
    found = []
    for line in xrandr(env, "--listmonitors").splitlines()[1:]:
        m = re.match(r"\s*\d+: ([+*]*)(\S+) (\d+)/\d+x(\d+)/\d+\+(\d+)\+(\d+)", line)
        assert m, f"xrandr --listmonitors: unexpected line {line!r}"
        found.append((m.group(2), int(m.group(3)), int(m.group(4)), int(m.group(5)), int(m.group(6)),
                      "*" in m.group(1)))
    return sorted(found)


def set_size(env, w, h):
    name = f"{w}x{h}"
    if name not in xrandr(env):
        xrandr(env, "--newmode", name, "60", str(w), str(w + 1), str(w + 2), str(w + 3), str(h), str(h + 1),
               str(h + 2), str(h + 3))
        xrandr(env, "--addmode", "screen", name)
    xrandr(env, "--output", "screen", "--mode", name)


class Agent:
    def __init__(self, script, env):
        # Held open here too: while the agent opens the port again (it does so between
        # connections), a pty whose slave nobody holds answers the master's reads with EIO.
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)  # a port passes bytes as they are: no echo, no line editing
        self.proc = subprocess.Popen(["sh", script], env=dict(env, PORTICO_AGENT_PORT=os.ttyname(self.slave)))
        self.pending = b""

    def send(self, line):
        os.write(self.master, (line + "\n").encode())

    def answer(self, timeout=20):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.pending:
            left = deadline - time.monotonic()
            assert left > 0, f"no answer in {timeout} s (read so far: {self.pending!r})"
            if select.select([self.master], [], [], left)[0]:
                self.pending += os.read(self.master, 4096)
        line, self.pending = self.pending.split(b"\n", 1)
        return line.decode().rstrip("\r")

    def ask(self, line, timeout=20):
        self.send(line)
        return self.answer(timeout)

    def stop(self):
        self.proc.kill()
        self.proc.wait(timeout=10)
        os.close(self.master)
        os.close(self.slave)


def main():
    missing = [t for t in NEEDED if not shutil.which(t)]
    if missing:
        print(f"missing tools: {missing} (deploy/install-deps.sh --test)")
        return 1 if os.environ.get("CI") == "true" else 77
    script = os.path.join(sys.argv[1], "deploy/guest/portico-agent")
    r, w = os.pipe()
    # -noreset: the X server keeps RandR monitors only while it lives; a guest's session always
    # has clients, this server has none between the test's xrandr calls.
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(w), "-screen", "0", "2048x1024x24", "-nolisten", "tcp",
                             "-noreset"], pass_fds=(w,), stderr=subprocess.DEVNULL)
    os.close(w)
    with os.fdopen(r) as f:
        env = x_env(":" + f.readline().strip())
    agent = None
    try:
        set_size(env, 1824, 768)
        agent = Agent(script, env)
        answer = agent.ask("layout 1824 768 1 0,0,1024,768 1024,0,800,600")
        want = [("PORTICO-0", 1024, 768, 0, 0, False), ("PORTICO-1", 800, 600, 1024, 0, True)]
        assert monitors(env) == want, f"two monitors, the second primary: {monitors(env)}"
        # The X server lists the primary first.
        assert answer == "applied 1824x768 *PORTICO-1 800/211x600/158+1024+0;PORTICO-0 1024/270x768/203+0+0 screen", \
            answer
        print(f"two monitors: {answer}")

        # A size the screen gets a second later.
        agent.send("layout 1600 900 0 0,0,800,900 800,0,800,900")
        time.sleep(1)
        set_size(env, 1600, 900)
        answer = agent.answer()
        assert answer.startswith("applied 1600x900 "), answer
        assert monitors(env) == [("PORTICO-0", 800, 900, 0, 0, True), ("PORTICO-1", 800, 900, 800, 0, False)], \
            monitors(env)
        print(f"waited for the size: {answer}")

        answer = agent.ask("layout 1600 900 0")
        assert monitors(env) == [("screen", 1600, 900, 0, 0, False)], monitors(env)
        assert answer == "applied 1600x900 +screen 1600/423x900/238+0+0 screen", answer
        print(f"one monitor again: {answer}")

        answer = agent.ask("resize 1 2")
        assert answer == "failed unknown request", answer
        assert agent.proc.poll() is None, "the agent should go on after a bad request"
        print("an unknown request: failed, and the agent goes on")
        return 0
    finally:
        if agent:
            agent.stop()
        xvfb.terminate()
        xvfb.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
