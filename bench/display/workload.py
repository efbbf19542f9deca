#!/usr/bin/env python3
"""Scripted, repeatable display workloads for bench_display.py. Runs on whatever X display
$DISPLAY names (Portico's private Xvfb as a published app, a plain Xvfb for x11vnc and ffmpeg, or
Xpra's own display), so every system sees the same pixels.

    workload.py WORKLOAD --dir DIR --active SECONDS [--clip FILE]

WORKLOAD is typing, scrolling, dragging, video or idle. The script opens its windows (the main
one 1920x1080 at 0,0), writes DIR/env.json (display, xauthority) and DIR/ready, waits for DIR/go,
changes the screen for SECONDS, writes DIR/done and then holds the screen still until killed.
It stays the session's main process: Portico ends an app session when its app exits.

Internal roles (run inside the terminals): _typist, _scroller, _page."""

import argparse
import json
import os
import signal
import subprocess
import sys
import time

W, H = 1920, 1080
TYPING_DELAY_S = 0.06     # ~16 characters a second: a fast typist
SCROLL_LINES_PER_S = 30   # a build log / `tail -f` on a busy server
DRAG_STEPS_PER_S = 30
HERE = os.path.abspath(__file__)

WORDS = ("portico session host frame encoder tile damage region capture scroll latency viewer broker "
         "gateway ticket keyframe bitrate quality lossless refine motion pointer cursor window terminal "
         "display render pixel stream socket buffer thread").split()

PROSE = ("The quick brown fox jumps over the lazy dog. Pack my box with five dozen liquor jugs.\n"
         "How vexingly quick daft zebras jump! Sphinx of black quartz, judge my vow.\n"
         "$ make -j2 && ctest --output-on-failure  # 100% tests passed, 0 tests failed out of 42\n")


def text_line(i):
    """Line i of a deterministic pseudo-log (an LCG picks the words, so every run prints the same)."""
    x = (i * 2654435761 + 12345) & 0xFFFFFFFF
    words = []
    for _ in range(8 + x % 14):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        words.append(WORDS[x % len(WORDS)])
    return f"{i:07d} [{(x >> 8) % 100000:05d}] " + " ".join(words)


def wait_go(d):
    while not os.path.exists(os.path.join(d, "go")):
        time.sleep(0.01)


def mark(d, name):
    with open(os.path.join(d, name + ".tmp"), "w") as f:
        f.write(repr(time.time()))
    os.replace(os.path.join(d, name + ".tmp"), os.path.join(d, name))


def hold():
    while True:
        time.sleep(3600)


# ---- roles inside a terminal ----
def role_typist(a):
    # No echo/cursor surprises: the terminal shows exactly what we write, as a tty echoes typing.
    sys.stdout.write("$ cat > notes.txt\n")
    sys.stdout.flush()
    wait_go(a.dir)
    end = time.monotonic() + a.active
    text = PROSE * 50
    i = 0
    next_t = time.monotonic()
    while time.monotonic() < end:
        sys.stdout.write(text[i % len(text)])
        sys.stdout.flush()
        i += 1
        next_t += TYPING_DELAY_S
        time.sleep(max(0.0, next_t - time.monotonic()))
    mark(a.dir, "done")
    hold()


def role_scroller(a):
    for i in range(100):  # a full screen of text before the measurement starts
        print(text_line(i))
    sys.stdout.flush()
    wait_go(a.dir)
    end = time.monotonic() + a.active
    i = 100
    next_t = time.monotonic()
    while time.monotonic() < end:
        print(text_line(i), flush=True)
        i += 1
        next_t += 1.0 / SCROLL_LINES_PER_S
        time.sleep(max(0.0, next_t - time.monotonic()))
    mark(a.dir, "done")
    hold()


def role_page(a):
    for i in range(a.lines):
        print(text_line(i + a.offset))
    sys.stdout.flush()
    hold()


# ---- the workload's main process ----
def xdotool(*args, check=True):
    return subprocess.run(["xdotool", *map(str, args)], capture_output=True, text=True, check=check, timeout=30)


def find_window(classname, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        # Not --onlyvisible: Xpra keeps windows unviewable while no client is attached.
        r = xdotool("search", "--classname", classname, check=False)
        ids = r.stdout.split()
        if ids:
            return ids[0]
        time.sleep(0.05)
    raise RuntimeError(f"no window of class {classname} appeared")


def terminal(classname, role, a, geometry="320x83+0+0", extra=()):
    cmd = ["xterm", "-name", classname, "-geometry", geometry, "+sb", "-bg", "white", "-fg", "black",
           "-e", sys.executable, HERE, role, "--dir", a.dir, "--active", str(a.active), *extra]
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL)


def place(win, x, y, w, h):
    xdotool("windowmove", "--sync", win, x, y, check=False)
    xdotool("windowsize", "--sync", win, w, h, check=False)


def drag_path(step):
    """A deterministic lap: the 640x400 window travels a rectangle inside the screen."""
    x0, y0, x1, y1 = 40, 40, W - 680, H - 440
    lap = 2 * (x1 - x0) + 2 * (y1 - y0)
    d = (step * 24) % lap
    if d < x1 - x0:
        return x0 + d, y0
    d -= x1 - x0
    if d < y1 - y0:
        return x1, y0 + d
    d -= y1 - y0
    if d < x1 - x0:
        return x1 - d, y1
    d -= x1 - x0
    return x0, y1 - d


def main_workload(a):
    os.makedirs(a.dir, exist_ok=True)
    with open(os.path.join(a.dir, "env.json"), "w") as f:
        json.dump({"display": os.environ.get("DISPLAY"), "xauthority": os.environ.get("XAUTHORITY"),
                   "pid": os.getpid()}, f)
    children = []

    def cleanup(*_):
        for c in children:
            if c.poll() is None:
                c.terminate()
        os._exit(0)

    signal.signal(signal.SIGTERM, cleanup)
    signal.signal(signal.SIGINT, cleanup)

    role = {"typing": "_typist", "scrolling": "_scroller"}.get(a.workload, "_page")
    extra = ("--lines", "100") if role == "_page" else ()
    children.append(terminal("benchmain", role, a, extra=extra))
    main_win = find_window("benchmain")
    place(main_win, 0, 0, W, H)
    xdotool("windowfocus", main_win, check=False)
    mover = None
    if a.workload == "dragging":
        children.append(terminal("benchdrag", "_page", a, geometry="106x30+40+40",
                                 extra=("--lines", "30", "--offset", "5000")))
        mover = find_window("benchdrag")
        place(mover, 40, 40, 640, 400)
    time.sleep(0.5)
    mark(a.dir, "ready")
    wait_go(a.dir)
    end = time.monotonic() + a.active
    if a.workload == "dragging":
        step = 0
        while time.monotonic() < end:
            # One xdotool process per second: 30 moves chained with sleeps (spawning one per move
            # would put the process start-up cost on the display being measured). --sync: without it
            # xdotool does not flush between moves, and the 30 moves reached the X server at once.
            args = []
            for _ in range(DRAG_STEPS_PER_S):
                x, y = drag_path(step)
                step += 1
                args += ["windowmove", "--sync", mover, x, y, "sleep", f"{1.0 / DRAG_STEPS_PER_S:.4f}"]
            xdotool(*args, check=False)
        mark(a.dir, "done")
    elif a.workload == "video":
        env = dict(os.environ, SDL_AUDIODRIVER="dummy")
        # No -autoexit: at the end ffplay holds the clip's last frame (the settled picture).
        children.append(subprocess.Popen(
            ["ffplay", "-loglevel", "error", "-an", "-noborder", "-left", "0", "-top", "0", "-x", str(W), "-y", str(H),
             "-window_title", "benchvideo", a.clip], env=env, stdin=subprocess.DEVNULL))
        # A window manager (Xpra's) may place the window itself: put it back at 0,0.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            ids = xdotool("search", "--name", "benchvideo", check=False).stdout.split()
            if ids:
                xdotool("windowmove", ids[0], 0, 0, check=False)
                break
            time.sleep(0.05)
        time.sleep(max(0.0, end - time.monotonic()))
        mark(a.dir, "done")
    elif a.workload == "idle":
        mark(a.dir, "done")
    # typing/scrolling: the terminal's role writes "done" itself.
    hold()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("workload")
    ap.add_argument("--dir", required=True)
    ap.add_argument("--active", type=float, default=12)
    ap.add_argument("--clip")
    ap.add_argument("--lines", type=int, default=100)
    ap.add_argument("--offset", type=int, default=0)
    a = ap.parse_args()
    roles = {"_typist": role_typist, "_scroller": role_scroller, "_page": role_page}
    if a.workload in roles:
        return roles[a.workload](a)
    if a.workload not in ("typing", "scrolling", "dragging", "video", "idle"):
        sys.exit(f"unknown workload {a.workload}")
    if a.workload == "video" and not (a.clip and os.path.exists(a.clip)):
        sys.exit("video needs --clip FILE")
    main_workload(a)


if __name__ == "__main__":
    main()
