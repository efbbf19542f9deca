#!/usr/bin/env python3
"""Scripted, repeatable display workloads for bench_display.py. Runs on whatever X display
$DISPLAY names (Portico's private Xvfb as a published app, a plain Xvfb for x11vnc and ffmpeg, or
Xpra's own display), so every system sees the same pixels.

    workload.py WORKLOAD --dir DIR --active SECONDS [--clip FILE]

WORKLOAD is one of WORKLOADS below (or idle). The script opens its windows (the main
one 1920x1080 at 0,0), writes DIR/env.json (display, xauthority) and DIR/ready, waits for DIR/go,
changes the screen for SECONDS, writes DIR/done and then holds the screen still until killed.
It stays the session's main process: Portico ends an app session when its app exits.

Internal roles (run inside the terminals): _typist, _scroller, _page, _editor.

DIR/done holds the wall time of the workload's last change to the screen (written right after
it), so a client's picture can be checked exactly 1 s later."""

import argparse
import fcntl
import json
import os
import pty
import select
import termios
import tty
import signal
import subprocess
import sys
import time

W, H = 1920, 1080
TYPING_DELAY_S = 0.06     # ~16 characters a second: a fast typist
SCROLL_LINES_PER_S = 30   # a build log / `tail -f` on a busy server
EDITOR_KEYS_PER_S = 16    # typing into vi at the typist's pace
BROWSER_WHEEL_PER_S = 4   # wheel notches a second on the browser-like page (3 lines each)

# name: (role in the main terminal, lines a second for scrollers, xterm font options)
# The "big" variants use an antialiased TrueType font (Xft, DejaVu Sans Mono 15): grey edges on
# every glyph, where `fixed` is 1-bit.
BIG_FONT = ("-fa", "DejaVu Sans Mono", "-fs", "15")
WORKLOADS = {
    "typing": ("_typist", 0, ()),
    "typing_big": ("_typist", 0, BIG_FONT),
    "scroll_slow": ("_scroller", 1, ()),        # a pager stepping one line a second
    "scrolling": ("_scroller", SCROLL_LINES_PER_S, ()),
    "scrolling_big": ("_scroller", SCROLL_LINES_PER_S, BIG_FONT),
    "scroll_fast": ("_scroller", 60, ()),       # `seq`/a log tail at 60 lines a second
    "editor": ("_editor", 0, ()),
    "browser": (None, 0, ()),
    "dragging": ("_page", 0, ()),
    "video": ("_page", 0, ()),
    "idle": ("_page", 0, ()),
}
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
    while True:
        sys.stdout.write(text[i % len(text)])
        sys.stdout.flush()
        i += 1
        next_t += TYPING_DELAY_S
        if next_t >= end:
            break
        time.sleep(max(0.0, next_t - time.monotonic()))
    mark(a.dir, "done")  # the last change
    hold()


def role_scroller(a):
    for i in range(100):  # a full screen of text before the measurement starts
        print(text_line(i))
    sys.stdout.flush()
    wait_go(a.dir)
    end = time.monotonic() + a.active
    i = 100
    next_t = time.monotonic()
    while True:
        print(text_line(i), flush=True)
        i += 1
        next_t += 1.0 / a.rate
        if next_t >= end:
            break
        time.sleep(max(0.0, next_t - time.monotonic()))
    mark(a.dir, "done")  # the last change
    hold()


def editor_keys():
    """What the editor session types: new lines of prose, moves, a deleted line, repeated."""
    out = []
    for k in range(1000):
        out += ["o"] + list(PROSE.splitlines()[k % 3][:60]) + ["\x1b"]
        out += ["k"] * 3 + ["d", "d"] + ["j"] * 5 if k % 2 else ["0", "w", "w", "c", "w"] + list("changed") + ["\x1b"]
    return out


def role_editor(a):
    """vi on a file of 200 log lines, in a pty of its own whose keyboard this process types into
    (16 keys a second), so every system sees the same editor redraws without any input path."""
    path = os.path.join(a.dir, "edit.txt")
    with open(path, "w") as f:
        f.write("\n".join(text_line(i) for i in range(200)) + "\n")
    size = fcntl.ioctl(sys.stdout.fileno(), termios.TIOCGWINSZ, b"\0" * 8)
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp("vi", ["vi", "-u", "NONE", "-N", "+40", path])
    fcntl.ioctl(fd, termios.TIOCSWINSZ, size)
    # The terminal's answers to vi's queries (cursor position, colours) come in on our tty: raw
    # mode keeps the tty from echoing them onto the screen, and they are passed on to vi.
    tty.setraw(sys.stdin.fileno())

    def pump(until):
        while True:
            left = until - time.monotonic()
            r, _, _ = select.select([fd, sys.stdin.fileno()], [], [], max(0.0, left))
            if not r:
                return
            try:
                if sys.stdin.fileno() in r:
                    os.write(fd, os.read(sys.stdin.fileno(), 4096))
                if fd in r:
                    os.write(sys.stdout.fileno(), os.read(fd, 65536))
            except OSError:
                return
    pump(time.monotonic() + 1.0)  # vi draws its screen
    while not os.path.exists(os.path.join(a.dir, "go")):
        pump(time.monotonic() + 0.01)
    end = time.monotonic() + a.active
    next_t = time.monotonic()
    keys = editor_keys()
    for i, k in enumerate(keys):
        os.write(fd, k.encode())
        next_t += 1.0 / EDITOR_KEYS_PER_S
        if next_t >= end:
            break
        pump(next_t)
    pump(time.monotonic() + 0.05)  # the redraw of the last key reaches the terminal
    mark(a.dir, "done")
    while True:
        pump(time.monotonic() + 3600)


def role_page(a):
    for i in range(a.lines):
        print(text_line(i + a.offset))
    sys.stdout.flush()
    hold()


def write_page(d):
    """A long static HTML page: headings, paragraphs of the pseudo-log's words, a table and
    coloured boxes, like a documentation page. Returns its path."""
    parts = ["<html><head><title>benchpage</title></head><body bgcolor='#ffffff'>"]
    for s in range(40):
        parts.append(f"<h2>Section {s}: {' '.join(WORDS[(s * 7 + k) % len(WORDS)] for k in range(4))}</h2>")
        parts.append("<p>" + " ".join(text_line(s * 10 + k)[16:] for k in range(6)) + "</p>")
        if s % 3 == 0:
            rows = "".join(f"<tr><td>{text_line(s * 100 + r)[:7]}</td><td bgcolor='#{(s * 40 + r * 20) % 256:02x}c0e0'>"
                           f"{text_line(s * 100 + r)[16:60]}</td></tr>" for r in range(6))
            parts.append(f"<table border=1 cellpadding=4>{rows}</table>")
        parts.append("<ul>" + "".join(f"<li>{text_line(s * 50 + k)[16:70]}</li>" for k in range(4)) + "</ul>")
    parts.append("</body></html>")
    path = os.path.join(d, "page.html")
    with open(path, "w") as f:
        f.write("\n".join(parts))
    return path


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


def terminal(classname, role, a, geometry="320x83+0+0", extra=(), font=()):
    cmd = ["xterm", "-name", classname, "-geometry", geometry, "+sb", "-bg", "white", "-fg", "black", *font,
           "-e", sys.executable, HERE, role, "--dir", a.dir, "--active", str(a.active), "--rate", str(a.rate), *extra]
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

    role, a.rate, font = WORKLOADS[a.workload]
    if role:
        extra = ("--lines", "100") if role == "_page" else ()
        children.append(terminal("benchmain", role, a, extra=extra, font=font))
        main_win = find_window("benchmain")
    else:  # browser: dillo (FLTK, no JavaScript) on a static page
        children.append(subprocess.Popen(["dillo", "-g", f"{W}x{H}+0+0", write_page(a.dir)],
                                         stdin=subprocess.DEVNULL, env=dict(os.environ, HOME=a.dir)))
        main_win = find_window("dillo", timeout=30)
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
    elif a.workload == "browser":
        xdotool("mousemove", W // 2, H // 2, check=False)
        next_t = time.monotonic()
        while True:
            xdotool("click", "5", check=False)  # one wheel notch down
            next_t += 1.0 / BROWSER_WHEEL_PER_S
            if next_t >= end:
                break
            time.sleep(max(0.0, next_t - time.monotonic()))
        time.sleep(0.1)  # the page's redraw of the last notch
        mark(a.dir, "done")
    elif a.workload == "idle":
        mark(a.dir, "done")
    # typing/scrolling/editor: the terminal's role writes "done" itself.
    hold()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("workload")
    ap.add_argument("--dir", required=True)
    ap.add_argument("--active", type=float, default=12)
    ap.add_argument("--clip")
    ap.add_argument("--lines", type=int, default=100)
    ap.add_argument("--offset", type=int, default=0)
    ap.add_argument("--rate", type=float, default=SCROLL_LINES_PER_S, help="lines a second (_scroller)")
    a = ap.parse_args()
    roles = {"_typist": role_typist, "_scroller": role_scroller, "_page": role_page, "_editor": role_editor}
    if a.workload in roles:
        return roles[a.workload](a)
    if a.workload not in WORKLOADS:
        sys.exit(f"unknown workload {a.workload}")
    if a.workload == "video" and not (a.clip and os.path.exists(a.clip)):
        sys.exit("video needs --clip FILE")
    main_workload(a)


if __name__ == "__main__":
    main()
