#!/usr/bin/env python3
"""Writes what a session host's Xvfb shows, as raw RGB rows, for tests that compare it with what
a client painted:  grab_screen.py HOST_PID OUT_FILE  (prints "WIDTH HEIGHT").

Finds the one session display among the host's descendants and reads its screen with xwd (the X
server's own pixels: what the host captures)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import comm, descendants, x_screen_rgb  # noqa: E402


def session_display(host_pid):
    """(DISPLAY, XAUTHORITY) of the one session the host runs, from its app's environment (Xvfb is
    started with -displayfd, so its command line does not name the display)."""
    found = set()
    for pid in descendants(host_pid):
        if comm(pid) == "Xvfb":  # inherits the host's own environment, not the session's
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = dict(v.split("=", 1) for v in f.read().decode(errors="replace").split("\0") if "=" in v)
        except OSError:
            continue
        if "DISPLAY" in env:
            found.add((env["DISPLAY"], env.get("XAUTHORITY")))
    if len(found) != 1:
        raise SystemExit(f"grab_screen: expected one session display under host {host_pid}, found {sorted(found)}")
    return found.pop()


def main():
    host_pid, out = int(sys.argv[1]), sys.argv[2]
    width, height, rgb = x_screen_rgb(*session_display(host_pid))
    with open(out, "wb") as f:
        f.write(rgb)
    print(width, height)


if __name__ == "__main__":
    main()
