#!/usr/bin/env python3
"""The windowed native client (issue 15) against a real broker and session host (stack.py), shown
on an Xvfb of its own (the "client display") and driven there with xdotool and xclip the way a
user's keyboard, mouse and clipboard would:

  window     the session starts at the client's --scale (144 DPI for 1.5); after build-to-lossless the client window's pixels (xwd of the window) equal the
             session's X screen (xwd of the host's Xvfb); the stats overlay toggles
             (Ctrl+Alt+Shift+S) and draws over the picture; resizing the client window resizes
             the session, and the pixels match again at the new size
  keyboard   keys typed into the client window reach the session as the right characters, on a
             US and then a German layout of the client display (setxkbmap)
  clipboard  text copied in the session lands on the client display's clipboard; text put on the
             client display's clipboard is pasted in the session; then images: a PNG an app puts on
             the session's CLIPBOARD as image/png (xclip -t image/png) is on the client display's
             CLIPBOARD as image/png, byte for byte, and one put there goes the other way (both
             ~1.5 MB: many 60 000-byte Clipboard pieces, and xclip hands them over in INCR pieces,
             which host and client both read)
  login_prompt  without --user and --password-file the user name and the password are asked on
             the client's terminal (a pty), the password with echo off
  login_dialog  the same without a terminal on stdin: the login window (named by its title, which
             names the broker) takes the user name and a wrong password, shows the broker's answer in
             red and changes its title (the broker audits login_failed), then the right password
             opens the session window, whose keys reach xterm; --user prefills the name, --scale 2
             doubles the window, Escape exits 6; an unreachable broker is shown in the window too. Screenshots login-dialog-*.png
  reconnect  the kernel cuts the client's TCP connection (ss -K): the client reconnects to the same
             session, whose picture and input work again
  vm_keyboard  a VM desktop (QEMU, the console guest) gets keys by physical position: z, y and ö
             typed on a German layout of the client display arrive as the US guest's y, z and ;
  vm_monitors  a VM desktop (the desktop image) spanning two monitors: the guest's screen is the
             combined 1824x768 and its RandR monitors, set by the guest's agent over a virtio-serial
             port, are the client's layout; Openbox in the guest maximises a window onto one monitor;
             a client on one monitor gives the guest one monitor again
  vm_pointer   a VM desktop whose guest has only a relative (PS/2) mouse: the window captures the
             pointer and xdotool's motion arrives in the guest exactly; the escape chord releases
             it; the guest's tablet driver loading switches the session and the window to absolute
  app_pointer  an app session whose app takes the pointer as a game does (SDL relative mouse mode):
             the window captures the pointer, xdotool's motion and a click arrive in the app exactly
             (its SDL xrel/yrel sums); when the app gives the pointer back the session and the window
             switch to absolute
  fullscreen under a window manager (openbox, whose Alt+Tab switches windows): Ctrl+Alt+Shift+F
             makes the window cover the client's screen and the session follow to its size, with
             the keyboard grabbed, so Alt+Tab reaches the session (held there) and not the window
             manager; the chord again gives back the window, its size and the keyboard
  launch_file  the client opened with a launch file from the portal's "Open in app" (no user, no
             password, no CA file): the window shows the session, and the reconnect case passes on
             the login the file's token gave
  launch_link  the same with the file's fields as a portico:// launch link (the URL handler the
             package registers), given as the desktop's %u would, with --error-window
  error_window  the client started by the desktop (--error-window) with a launch file whose token
             the broker holds expired: a message box titled "Portico: the session could not be
             opened" appears on the client display (screenshot kept), the client waits for it,
             and exits 3 once Return dismisses it, the reason in its log; a malformed launch link
             the same way with exit 2
  monitors   the client display has two monitors (1024x768, and 800x600 right of it) and the client
             spans them (--monitors all): the session's screen is the combined 1824x768, its RandR
             monitors (xrandr --listmonitors inside the session) are the client's layout with the
             same primary, and the client display's pixels equal the session's screen after
             build-to-lossless; openbox started in the session maximises xterm onto one monitor
             alone (not the 1824x768 screen); monitor 2 unplugged (its output off) makes the window
             cover monitor 1 and the session 1024x768 with one monitor, plugged in again 1824x768 with
             both; a client on monitor 2 alone (--monitors 2) makes it 800x600 with one monitor again.
             The two-monitor display is Xorg with the dummy video driver (xserver-xorg-video-dummy):
             its 16 RandR outputs can be switched on and placed with xrandr, and SDL 2.26 lists
             displays by RandR output. Xvfb 21.1 has a single output; the virtual monitors
             `xrandr --setmonitor` adds to it are not outputs, and SDL does not list them.

  test_native_window.py CASE BUILD_DIR SOURCE_DIR
Screenshots (PNG) are kept under $PORTICO_ARTIFACTS/native_window (ctest sets it to BUILD_DIR/artifacts; default: the temporary directory)."""

import contextlib
import os
import re
import select
import shutil
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
import types
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from grab_screen import session_display  # noqa: E402
from stack import Stack, free_port, run_case, wait_for, x_screen_rgb  # noqa: E402



def artifact(name):
    """Where a screenshot is kept: $PORTICO_ARTIFACTS/native_window/NAME."""
    folder = os.path.join(os.environ.get("PORTICO_ARTIFACTS", tempfile.gettempdir()), "native_window")
    os.makedirs(folder, exist_ok=True)
    return os.path.join(folder, name)
NEEDED = ("Xvfb", "xdotool", "xwd", "xclip", "setxkbmap", "ss", "openbox", "xprop", "xrandr")


def write_png(path, width, height, rgb):
    """An 8-bit RGB PNG of raw rows (the test's artifacts; no imaging library needed)."""
    raw = b"".join(b"\0" + rgb[y * width * 3:(y + 1) * width * 3] for y in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


class ClientDisplay:
    """An Xvfb for the client (no window manager unless asked: the client's window sits at the top
    left and gets the keyboard focus from xdotool)."""

    wm = None  # openbox, when asked for

    def __init__(self, width=1280, height=1024, window_manager=False):
        r, w = os.pipe()
        self.proc = subprocess.Popen(["Xvfb", "-displayfd", str(w), "-screen", "0", f"{width}x{height}x24",
                                      "-nolisten", "tcp", "-noreset"], pass_fds=(w,), stderr=subprocess.DEVNULL)
        os.close(w)
        with os.fdopen(r) as f:
            self.display = ":" + f.readline().strip()
        self.env = dict(os.environ, DISPLAY=self.display)
        self.env.pop("XAUTHORITY", None)
        if window_manager:  # openbox with Debian's rc.xml: A-Tab is its NextWindow
            self.wm = subprocess.Popen(["openbox", "--sm-disable"], env=self.env, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
            wait_for(self.alt_tab_taken, 10, "openbox to take Alt+Tab on the client display")

    # Whether another client holds a passive grab of Alt+Tab on the root window: grabbing it here
    # then fails with BadAccess. That is the window manager ready to switch windows with it.
    ALT_TAB_PROBE = (
        "import ctypes\n"
        "x = ctypes.cdll.LoadLibrary('libX11.so.6')\n"
        "x.XOpenDisplay.restype = ctypes.c_void_p\n"
        "x.XDefaultRootWindow.restype = ctypes.c_ulong\n"
        "x.XStringToKeysym.restype = ctypes.c_ulong\n"
        "d = ctypes.c_void_p(x.XOpenDisplay(None))\n"
        "errors = []\n"
        "handler = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)(lambda *a: errors.append(1) or 0)\n"
        "x.XSetErrorHandler(handler)\n"
        "root = ctypes.c_ulong(x.XDefaultRootWindow(d))\n"
        "tab = x.XKeysymToKeycode(d, ctypes.c_ulong(x.XStringToKeysym(b'Tab')))\n"
        "x.XGrabKey(d, tab, 8, root, 1, 1, 1)\n"  # Mod1Mask (Alt), GrabModeAsync
        "x.XSync(d, 0)\n"
        "if not errors:\n"
        "    x.XUngrabKey(d, tab, 8, root)\n"
        "    x.XSync(d, 0)\n"
        "print('taken' if errors else 'free')\n")

    def alt_tab_taken(self):
        return subprocess.run(["/usr/bin/python3", "-c", self.ALT_TAB_PROBE], env=self.env, capture_output=True,
                              text=True, timeout=30).stdout.strip() == "taken"

    def run(self, *args, **kw):
        return subprocess.run(list(args), env=self.env, check=True, capture_output=True, text=True, timeout=30, **kw)

    def xdotool(self, *args):
        return self.run("xdotool", *args).stdout.strip()

    def stop(self):
        if self.wm:
            self.wm.terminate()
            self.wm.wait(timeout=10)
        self.proc.terminate()
        self.proc.wait(timeout=10)


class TwoMonitorDisplay(ClientDisplay):
    """Xorg with the dummy driver, two of its outputs on: DUMMY0 1024x768 at 0,0 (primary) and
    DUMMY1 800x600 at 1024,0 (top-aligned), so the screen is 1824x768. No window manager, no input
    devices (xdotool's XTEST needs none)."""

    MONITORS = [(1024, 768, 0, 0), (800, 600, 1024, 0)]  # w, h, x, y; the first is primary
    CONFIG = """Section "ServerFlags"
  Option "AutoAddDevices" "false"
EndSection
Section "Device"
  Identifier "dummy"
  Driver "dummy"
  VideoRam 64000
EndSection
Section "Screen"
  Identifier "screen"
  Device "dummy"
  DefaultDepth 24
  SubSection "Display"
    Depth 24
    Virtual 2048 1024
  EndSubSection
EndSection
"""

    def __init__(self):  # noqa: super().__init__ would start an Xvfb
        self.dir = tempfile.mkdtemp(prefix="portico-xorg-")
        conf = os.path.join(self.dir, "xorg.conf")
        with open(conf, "w") as f:
            f.write(self.CONFIG)
        os.mkdir(os.path.join(self.dir, "conf.d"))  # and none of the machine's xorg.conf.d
        r, w = os.pipe()
        self.proc = subprocess.Popen(
            ["Xorg", "-displayfd", str(w), "-config", conf, "-configdir", os.path.join(self.dir, "conf.d"),
             "-logfile", os.path.join(self.dir, "Xorg.log"), "-noreset", "-nolisten", "tcp", "-novtswitch",
             "-sharevts"], pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(w)
        with os.fdopen(r) as f:
            number = f.readline().strip()
        assert number, f"Xorg did not start; its log:\n{self.log()}"
        self.display = ":" + number
        self.env = dict(os.environ, DISPLAY=self.display)
        self.env.pop("XAUTHORITY", None)
        (w0, h0, _, _), (w1, h1, x1, y1) = self.MONITORS
        self.run("xrandr", "--output", "DUMMY0", "--mode", f"{w0}x{h0}", "--pos", "0x0", "--primary")
        self.run("xrandr", "--addmode", "DUMMY1", f"{w1}x{h1}")
        self.run("xrandr", "--output", "DUMMY1", "--mode", f"{w1}x{h1}", "--pos", f"{x1}x{y1}")
        got = monitors_of(self.display, None)
        assert got == [m + (i == 0,) for i, m in enumerate(self.MONITORS)], f"the client display's monitors: {got}"

    def stop(self):
        super().stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def log(self):
        try:
            with open(os.path.join(self.dir, "Xorg.log"), errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return "(no log)"


def monitors_of(display, xauthority):
    """An X display's RandR monitors, as xrandr --listmonitors prints them: [(w, h, x, y, primary)]."""
    env = dict(os.environ, DISPLAY=display)
    if xauthority:
        env["XAUTHORITY"] = xauthority
    out = subprocess.run(["xrandr", "--listmonitors"], env=env, check=True, capture_output=True, text=True,
                         timeout=30).stdout
    found = []
    for line in out.splitlines()[1:]:
        m = re.match(r"\s*\d+: ([+*]*)\S+ (\d+)/\d+x(\d+)/\d+\+(\d+)\+(\d+)", line)
        assert m, f"xrandr --listmonitors: unexpected line {line!r}"
        found.append((int(m.group(2)), int(m.group(3)), int(m.group(4)), int(m.group(5)), "*" in m.group(1)))
    return sorted(found, key=lambda t: (t[3], t[2]))


class WindowClient:
    """portico-client (no --headless) on the client display, logging to a file."""

    def __init__(self, stack, disp, *extra, resource="Terminal", launch_file=None):
        self.stack, self.disp = stack, disp
        pw = os.path.join(stack.dir, "password")
        with open(pw, "w") as f:
            f.write(stack.password + "\n")
        self.log_path = os.path.join(stack.dir, "window-client.log")
        self.log = open(self.log_path, "w")
        # A launch file names the broker, its certificate and the resource, and stands in for the login.
        how = [launch_file] if launch_file else [stack.url, "--resource", resource, "--user", "demo", "--password-file",
                                                 pw, "--ca", os.path.join(stack.state, "tls/broker.crt")]
        env = dict(disp.env)
        env.pop("PORTICO_PASSWORD", None)
        self.proc = subprocess.Popen([stack.bin("portico-client"), *how, *extra], env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_for(lambda: "connected to session" in self.text() or self.proc.poll() is not None, 30,
                 "the client to connect")
        assert self.proc.poll() is None, f"the client exited:\n{self.text()}"
        self.window = int(disp.run("xdotool", "search", "--sync", "--name", "^Portico:").stdout.split()[0])
        disp.xdotool("windowfocus", "--sync", str(self.window))
        self.session_id = re.search(r"connected to session (\S+)", self.text()).group(1)

    def text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def pixels(self):
        return x_screen_rgb(self.disp.display, None, window=self.window)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=15)
        assert self.proc.returncode == 0, f"the client exited with {self.proc.returncode}:\n{self.text()[-3000:]}"


@contextlib.contextmanager
def window_client(stack, disp, *args, **kw):
    """A WindowClient on `disp` for the with-block, which must leave it running (it is stopped and
    must exit 0). If the block fails the client's log is printed; either way the client is gone and
    the display stopped afterwards."""
    client = None
    try:
        client = WindowClient(stack, disp, *args, **kw)
        yield client
        client.stop()
    except BaseException:
        if client:
            print("----- window-client.log -----")
            print(client.text()[-4000:])
        raise
    finally:
        if client and client.proc.poll() is None:
            client.proc.kill()
        disp.stop()


def move_relative(disp, dx, dy, times):
    """`times` pointer moves of (dx, dy) on the client display, as a mouse makes them."""
    for _ in range(times):
        disp.xdotool("mousemove_relative", "--", str(dx), str(dy))
        time.sleep(0.05)


def missing_tools(needed=()):
    """None when every tool (or file) the cases drive the client display with is here, with
    `needed` too; else the test's exit status (a skip, but a failure under CI=true)."""
    missing = [t for t in (*NEEDED, *needed)
               if not os.path.exists(t) and subprocess.run(["which", t], capture_output=True).returncode != 0]
    if not missing:
        return None
    print(f"missing tools: {missing} (deploy/install-deps.sh --test)")
    return 1 if os.environ.get("CI") == "true" else 77


def portal_launch_file(stack):
    """A launch file for Terminal as the portal's "Open in app" downloads it (logged in as demo)."""
    status, _, body = stack.request("POST", "/api/v1/launch-files", {"resource": "terminal"}, cookie=stack.login())
    assert status == 200, (status, body)
    path = os.path.join(stack.dir, "Terminal.portico")
    with open(path, "wb") as f:
        f.write(body)
    return path


def launch_link(path):
    """The launch file at `path` as a portico:// launch link (docs/native-client.md, "Launch links"):
    the broker as the authority, the other fields as the query in the file's order."""
    with open(path) as f:
        fields = [line.rstrip("\n").split("=", 1) for line in f if "=" in line]
    broker = dict(fields)["broker"]
    query = "&".join(f"{k}={v}" for k, v in fields if k != "broker")
    return f"portico://{broker.split('://', 1)[1]}/launch?{query}"


def with_client(case, extra=(), window_manager=False, launch_file=False, display=None, needed=(),
                size=("--size", "800x600")):
    """Runs case(stack, disp, client) with a client display (display(), else an Xvfb, with a window
    manager if asked) and a windowed client (size, plus extra options; with launch_file, started
    with a launch file from the portal instead of a login)."""
    def run(stack):
        if (status := missing_tools(needed)) is not None:
            return status
        disp = display() if display else ClientDisplay(window_manager=window_manager)
        client = None
        try:
            given = None
            if launch_file:
                given = portal_launch_file(stack)
                if launch_file == "link":
                    given = launch_link(given)
            client = WindowClient(stack, disp, *size, *extra, launch_file=given)
            case(stack, disp, client)
            client.stop()
        except BaseException:
            if client:
                print("----- window-client.log -----")
                print(client.text()[-4000:])
                try:  # what the window and the session showed when it failed
                    write_png(artifact(f"{case.__name__}-failed-window.png"), *client.pixels())
                    write_png(artifact(f"{case.__name__}-failed-session.png"), *session_screen(stack))
                except Exception as e:  # noqa: BLE001 - the failure above is what matters
                    print(f"no failure screenshots: {e}")
            raise
        finally:
            if client and client.proc.poll() is None:
                client.proc.kill()
            disp.stop()
    return run


def session_screen(stack):
    return x_screen_rgb(*session_display(stack.host.pid))


def wait_window_matches(stack, client, name, timeout=30):
    """Waits until the window shows exactly the session's screen (build-to-lossless done); keeps
    both pictures as artifacts. Returns the size."""
    last = {}

    def same():
        try:
            sw, sh, srgb = session_screen(stack)
            ww, wh, wrgb = client.pixels()
        except subprocess.CalledProcessError as e:
            # xwd fails (BadMatch) when it reads a screen RandR is resizing under it: look again.
            print(f"xwd: {e.stderr.decode(errors='replace').strip()[:200]}")
            return False
        last.update(session=(sw, sh, srgb), window=(ww, wh, wrgb))
        return (sw, sh) == (ww, wh) and srgb == wrgb and (sw, sh)

    try:
        size = wait_for(same, timeout, f"the client window to equal the session's screen ({name})")
    finally:
        if last:
            write_png(artifact(f"{name}-session.png"), *last["session"])
            write_png(artifact(f"{name}-window.png"), *last["window"])
    if last:
        (sw, sh, srgb), (ww, wh, wrgb) = last["session"], last["window"]
        if (sw, sh) == (ww, wh):
            differing = sum(1 for i in range(0, len(srgb), 3) if srgb[i:i + 3] != wrgb[i:i + 3])
            print(f"{name}: window {ww}x{wh}, session {sw}x{sh}, {differing} differing pixels")
    return size


def type_into_session(disp, *keys):
    """xdotool keys (keysym names) pressed on the client display, one after another."""
    disp.xdotool("key", "--delay", "40", *keys)


def shell_file(stack, name):
    return os.path.join(stack.dir, name)


def wait_file(path, want, timeout=20):
    def check():
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                return f.read() == want
        except OSError:
            return False
    try:
        wait_for(check, timeout, f"{path} to hold {want!r}")
    except AssertionError:
        got = open(path, encoding="utf-8", errors="replace").read() if os.path.exists(path) else None
        raise AssertionError(f"{path}: wanted {want!r}, got {got!r}") from None


def start_cat(disp, path):
    """In the session's xterm: `cat > path` (typed on a US layout), and wait until cat runs (it has
    created the file): keys typed before the shell reads its line would reach it, not cat."""
    disp.xdotool("type", "--delay", "30", f"cat > {path}")
    type_into_session(disp, "Return")
    wait_for(lambda: os.path.exists(path), 20, f"the shell to run cat > {path}")
    time.sleep(0.3)  # cat has opened the file; let it reach its read()


def end_cat(disp):
    type_into_session(disp, "Return", "ctrl+d")


def case_window(stack, disp, client):
    # HiDPI: --scale 1.5 launches the session at 144 DPI (96 x scale).
    dpi = re.search(r"started 'xterm' on display \S+ \(\d+x\d+, (\d+) dpi\)", stack.read_log("host"))
    assert dpi and dpi.group(1) == "144", f"the session should run at 144 DPI for --scale 1.5: {dpi and dpi.group(0)}"
    size = wait_window_matches(stack, client, "window")
    assert size == (800, 600), f"the session should have followed the 800x600 window, is {size}"
    print(f"window equals the session's screen at {size[0]}x{size[1]} (session at {dpi.group(1)} DPI)")
    # The decoder was chosen on its own and said so: VA-API on a machine with a GPU's render node,
    # software (and why) elsewhere.
    decoding = re.search(r"H\.264 decoding: (VA-API|software \(no VA-API: [^)]+\))", client.text())
    assert decoding, f"the client should log how it decodes H.264:\n{client.text()[-2000:]}"
    render_nodes = [n for n in (os.listdir("/dev/dri") if os.path.isdir("/dev/dri") else []) if n.startswith("renderD")]
    if not render_nodes:
        assert decoding.group(1) == "software (no VA-API: no GPU render node in /dev/dri)", decoding.group(1)
    print(f"H.264 decoding: {decoding.group(1)}")

    # The stats overlay: drawn over the picture's top-left corner, gone again on the second toggle.
    disp.xdotool("mousemove", "--window", str(client.window), "400", "300")
    type_into_session(disp, "ctrl+alt+shift+s")
    _, _, before = session_screen(stack)

    def overlay_shown():
        w, h, rgb = client.pixels()
        corner = [rgb[(y * w + x) * 3:(y * w + x) * 3 + 3] for y in range(0, 40) for x in range(0, 200)]
        base = [before[(y * w + x) * 3:(y * w + x) * 3 + 3] for y in range(0, 40) for x in range(0, 200)]
        return corner != base and (w, h, rgb)

    shot = wait_for(overlay_shown, 10, "the stats overlay to appear")
    write_png(artifact("window-stats-overlay.png"), *shot)
    type_into_session(disp, "ctrl+alt+shift+s")
    wait_window_matches(stack, client, "window-overlay-off", timeout=10)
    print("stats overlay shown and hidden again")

    # Resize follows: the client window 700x500 -> the session 700x500.
    disp.xdotool("windowsize", str(client.window), "700", "500")
    size = wait_window_matches(stack, client, "window-resized")
    assert size == (700, 500), f"the session should have followed the 700x500 window, is {size}"
    print("resizing the window resized the session to 700x500")


@with_client
def case_keyboard(stack, disp, client):
    wait_window_matches(stack, client, "keyboard-start")
    disp.xdotool("mousemove", "--window", str(client.window), "400", "300")
    us = shell_file(stack, "us.txt")
    start_cat(disp, us)
    disp.xdotool("type", "--delay", "40", "Hello, World! @#$%^&*()_+{}|:\"<>? ~`")
    end_cat(disp)
    wait_file(us, "Hello, World! @#$%^&*()_+{}|:\"<>? ~`\n")
    print("US layout: ASCII punctuation and shifted characters arrived")

    de = shell_file(stack, "de.txt")
    start_cat(disp, de)
    disp.run("setxkbmap", "de")
    # On the German layout: z and y swap places, @ is AltGr+Q, EUR is AltGr+E, / is Shift+7, and
    # umlauts have keys of their own. The client sends characters, so the session (a US layout)
    # gets them right.
    type_into_session(disp, "z", "y", "at", "EuroSign", "slash", "udiaeresis", "odiaeresis", "ssharp", "Z")
    end_cat(disp)
    disp.run("setxkbmap", "us")
    wait_file(de, "zy@€/üößZ\n")
    print("German layout: zy@€/üößZ arrived as typed")


@with_client
def case_clipboard(stack, disp, client):
    wait_window_matches(stack, client, "clipboard-start")
    disp.xdotool("mousemove", "--window", str(client.window), "400", "300")
    # Session -> client: select the first line in xterm (PRIMARY; the host sends the selection).
    disp.xdotool("type", "--delay", "30", "clear; echo COPY-ME-4242")
    type_into_session(disp, "Return")
    time.sleep(0.8)
    # A drag across the first line (not a triple click: xterm's 250 ms multi-click window is timing
    # the path to the session would have to keep under load).
    w = str(client.window)
    disp.xdotool("mousemove", "--window", w, "1", "8", "mousedown", "1")
    disp.xdotool("mousemove", "--window", w, "60", "9", "mousemove", "--window", w, "250", "9")
    disp.xdotool("mouseup", "1")

    def local_clipboard():
        r = subprocess.run(["xclip", "-o", "-selection", "clipboard"], env=disp.env, capture_output=True, text=True,
                           timeout=10)
        return r.returncode == 0 and "COPY-ME-4242" in r.stdout and r.stdout

    got = wait_for(local_clipboard, 10, "the session's selection on the client display's clipboard")
    print(f"session -> client clipboard: {got!r}")

    # Client -> session: text on the client display's clipboard, pasted in xterm with Shift+Insert.
    pasted = shell_file(stack, "pasted.txt")
    disp.xdotool("mousemove", "--window", str(client.window), "400", "300")
    start_cat(disp, pasted)
    text = "from the client clipboard: grüße €5"
    subprocess.run(["xclip", "-selection", "clipboard"], input=text, env=disp.env, text=True, check=True, timeout=10)
    # The client reads the clipboard when it gains focus and once a second while focused, and says
    # when it sent it; the paste waits for that.
    want = f"clipboard to the session: {len(text.encode())} bytes"
    wait_for(lambda: want in client.text(), 10, "the client to send its clipboard to the session")
    type_into_session(disp, "shift+Insert")
    time.sleep(0.5)
    end_cat(disp)
    wait_file(pasted, text + "\n")
    print("client -> session clipboard: pasted in xterm")
    clipboard_images(stack, disp, client)


def noise_png(path, width, height, seed):
    """A PNG of random pixels (it hardly compresses: ~width*height*3 bytes, several pieces)."""
    import random
    rng = random.Random(seed)
    write_png(path, width, height, bytes(rng.getrandbits(8) for _ in range(width * height * 3)))
    with open(path, "rb") as f:
        return f.read()


def read_png_clipboard(env):
    r = subprocess.run(["xclip", "-o", "-selection", "clipboard", "-t", "image/png"], env=env, capture_output=True,
                       timeout=10)
    return r.stdout if r.returncode == 0 else None


def offer_png(env, path):
    """xclip owning CLIPBOARD with the file as image/png only (no text form), in the foreground."""
    return subprocess.Popen(["xclip", "-quiet", "-selection", "clipboard", "-t", "image/png", "-i", path], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def clipboard_images(stack, disp, client):
    display, xauthority = session_display(stack.host.pid)
    session_env = dict(os.environ, DISPLAY=display)
    if xauthority:
        session_env["XAUTHORITY"] = xauthority
    # Session -> client: an app in the session copies an image.
    from_session = noise_png(artifact("clipboard-from-session.png"), 720, 720, 1)
    owner = offer_png(session_env, artifact("clipboard-from-session.png"))
    try:
        got = wait_for(lambda: read_png_clipboard(disp.env) == from_session, 15,
                       "the session's image on the client display's CLIPBOARD as image/png")
    finally:
        owner.terminate()
        owner.wait(timeout=10)
    assert got
    assert f"clipboard image from the session: {len(from_session)} bytes" in client.text()
    # xclip hands over more than ~1 MiB in INCR pieces: the host read it that way.
    assert "clipboard: an app sends its image in pieces (INCR)" in stack.read_log("host"), "the host read no INCR"
    print(f"session -> client clipboard: a {len(from_session)}-byte PNG, byte for byte")

    # Client -> session: a program on the client display copies an image; the client sends it
    # (focused: at once or on its next look, once a second) and the session's CLIPBOARD offers it.
    from_client = noise_png(artifact("clipboard-from-client.png"), 700, 700, 2)
    owner = offer_png(disp.env, artifact("clipboard-from-client.png"))
    try:
        want = f"clipboard image to the session: {len(from_client)} bytes"
        wait_for(lambda: want in client.text(), 15, "the client to send the image to the session")
        wait_for(lambda: read_png_clipboard(session_env) == from_client, 10,
                 "the client's image on the session's CLIPBOARD as image/png")
        assert "clipboard: the local image comes in pieces (INCR)" in client.text(), "the client read no INCR"
    finally:
        owner.terminate()
        owner.wait(timeout=10)
    print(f"client -> session clipboard: a {len(from_client)}-byte PNG, byte for byte")


def reconnect_after_drop(stack, disp, client):
    wait_window_matches(stack, client, "reconnect-before")
    conns = subprocess.run(["ss", "-tnpH", "state", "established", "dport", f"= :{stack.port}"], capture_output=True,
                           text=True, check=True).stdout.splitlines()
    mine = [line for line in conns if f"pid={client.proc.pid}," in line]
    assert mine, f"no established connection of the client to port {stack.port}:\n" + "\n".join(conns)
    for line in mine:
        local, peer = line.split()[2:4]
        subprocess.run(["ss", "-K", "-t", "src", local, "dst", peer], check=True, capture_output=True)
    print(f"aborted {len(mine)} client TCP connection(s) with ss -K")
    wait_for(lambda: "reconnected to session" in client.text(), 30, "the client to reconnect")
    again = re.search(r"reconnected to session (\S+)", client.text()).group(1)
    assert again == client.session_id, f"reconnected to {again}, not to {client.session_id}"
    # The screen and the keyboard work again on the new connection.
    disp.xdotool("mousemove", "--window", str(client.window), "400", "300")
    after = shell_file(stack, "after.txt")
    start_cat(disp, after)
    disp.xdotool("type", "--delay", "40", "after the drop")
    end_cat(disp)
    wait_file(after, "after the drop\n")
    wait_window_matches(stack, client, "reconnect-after")
    print(f"reconnected to the same session {again}; typing and the picture work again")


def session_keys_down(stack, *keysyms):
    """Which of the keysyms' keys are held down on the session's X display (XQueryKeymap)."""
    display, xauthority = session_display(stack.host.pid)
    py = ("import ctypes, sys\n"
          "x = ctypes.cdll.LoadLibrary('libX11.so.6')\n"
          "x.XOpenDisplay.restype = ctypes.c_void_p\n"
          "x.XStringToKeysym.restype = ctypes.c_ulong\n"
          "d = ctypes.c_void_p(x.XOpenDisplay(None))\n"
          "assert d, 'cannot open the display'\n"
          "k = (ctypes.c_ubyte * 32)()\n"
          "x.XQueryKeymap(d, k)\n"
          "for name in sys.argv[1:]:\n"
          "    code = x.XKeysymToKeycode(d, ctypes.c_ulong(x.XStringToKeysym(name.encode())))\n"
          "    if code and k[code // 8] >> (code % 8) & 1: print(name)\n")
    env = dict(os.environ, DISPLAY=display)
    if xauthority:
        env["XAUTHORITY"] = xauthority
    out = subprocess.run(["/usr/bin/python3", "-c", py, *keysyms], env=env, check=True, capture_output=True,
                         text=True, timeout=30).stdout
    return set(out.split())


def alt_tab_reaches_session(stack, disp):
    """Holds Alt+Tab on the client display: the keys of it the session then sees held."""
    disp.xdotool("keydown", "alt")
    disp.xdotool("keydown", "Tab")
    try:
        time.sleep(0.5)  # through the client and the host to the session's X server
        return session_keys_down(stack, "Alt_L", "Tab")
    finally:
        disp.xdotool("keyup", "Tab")
        disp.xdotool("keyup", "alt")


def window_state(disp, window):
    return disp.run("xprop", "-id", str(window), "_NET_WM_STATE").stdout


KEYBOARD_GRAB_PROBE = (
    "import ctypes\n"
    "x = ctypes.cdll.LoadLibrary('libX11.so.6')\n"
    "x.XOpenDisplay.restype = ctypes.c_void_p\n"
    "x.XDefaultRootWindow.restype = ctypes.c_ulong\n"
    "d = ctypes.c_void_p(x.XOpenDisplay(None))\n"
    "r = x.XGrabKeyboard(d, ctypes.c_ulong(x.XDefaultRootWindow(d)), 0, 1, 1, ctypes.c_ulong(0))\n"
    "x.XUngrabKeyboard(d, ctypes.c_ulong(0))\n"
    "x.XSync(d, 0)\n"
    "print({0: 'free', 1: 'grabbed'}.get(r, r))\n")


def keyboard_grabbed(disp):
    """Whether a client holds the client display's keyboard (another's XGrabKeyboard: AlreadyGrabbed)."""
    out = subprocess.run(["/usr/bin/python3", "-c", KEYBOARD_GRAB_PROBE], env=disp.env, capture_output=True, text=True,
                         timeout=30).stdout.strip()
    assert out in ("free", "grabbed"), out
    return out == "grabbed"


def case_fullscreen(stack, disp, client):
    size = wait_window_matches(stack, client, "fullscreen-before")
    assert size == (800, 600), size
    assert not keyboard_grabbed(disp), "windowed, the client should leave the keyboard to the window manager"

    type_into_session(disp, "ctrl+alt+shift+f")
    wait_for(lambda: "_NET_WM_STATE_FULLSCREEN" in window_state(disp, client.window), 10,
             "the window manager to make the window full screen")
    size = wait_window_matches(stack, client, "fullscreen-on")
    assert size == (1280, 1024), f"full screen on a 1280x1024 display: the session should follow, is {size}"
    assert keyboard_grabbed(disp), "in full screen the client should grab the keyboard"
    # openbox holds Alt+Tab (ClientDisplay waited for its grab): with the client's grab the keys
    # reach the session instead, and the window stays full screen.
    held = alt_tab_reaches_session(stack, disp)
    assert held == {"Alt_L", "Tab"}, f"in full screen Alt+Tab should reach the session (keyboard grabbed), got {held}"
    wait_for(lambda: not session_keys_down(stack, "Alt_L", "Tab"), 5, "Alt and Tab released in the session")
    assert "_NET_WM_STATE_FULLSCREEN" in window_state(disp, client.window), "Alt+Tab took the window out of full screen"
    print("full screen: the window covers the 1280x1024 display, the session followed, Alt+Tab reached it")

    type_into_session(disp, "ctrl+alt+shift+f")
    wait_for(lambda: "_NET_WM_STATE_FULLSCREEN" not in window_state(disp, client.window), 10,
             "the window to leave full screen")
    size = wait_window_matches(stack, client, "fullscreen-off")
    assert size == (800, 600), f"leaving full screen should give back the 800x600 window and session, got {size}"
    assert not keyboard_grabbed(disp), "after full screen the client should let go of the keyboard"
    print("the chord again: the 800x600 window and session, the keyboard let go")


def case_vm_keyboard(stack):
    """A VM desktop (the console guest in QEMU, its keyboard a US one) takes keys by physical
    position: typed on the client display's German layout, z and y arrive swapped and ö arrives
    as the US ; key, where an app session gets the characters themselves (case_keyboard)."""
    from test_vm import serial_count, wait_guest_ready
    if (status := missing_tools()) is not None:
        return status
    pool = stack.publish_desktop("console", "pooled")
    disp = ClientDisplay()
    with window_client(stack, disp, "--size", "800x600", resource=pool) as client:
        run_dir = wait_for(stack.session_dir, 30, "the session's VM runtime directory")
        wait_guest_ready(run_dir)
        disp.xdotool("mousemove", "--window", str(client.window), "400", "300")
        # The guest's VGA shell: cat copies what is typed to the serial port, where the test reads it.
        disp.xdotool("type", "--delay", "60", "cat > /dev/ttyS0")
        type_into_session(disp, "Return")
        time.sleep(1.5)  # cat is reading (TCG: the guest is slow)
        disp.run("setxkbmap", "de")
        try:
            disp.xdotool("type", "--delay", "80", "zyö")
            type_into_session(disp, "Return")
        finally:
            disp.run("setxkbmap", "us")
        type_into_session(disp, "ctrl+d")
        wait_for(lambda: serial_count(run_dir, "yz;") == 1, 30,
                 "the guest to print 'yz;' for z, y and ö typed on a German layout")
        print("VM desktop: z, y, ö typed on a German layout reached the US guest as the keys at their places: 'yz;'")


EV_KEY, EV_REL, REL_X, REL_Y, BTN_LEFT = 1, 2, 0, 1, 0x110


def case_vm_pointer(stack):
    """A VM desktop whose guest has no tablet driver (the console guest before usbhid loads: its
    pointer is QEMU's PS/2 mouse, relative, as in a firmware or an installer): the host reports the
    relative mode, the window captures the pointer (SDL relative mouse mode), and motion made with
    xdotool on the client display reaches the guest's PS/2 mouse as exactly that motion (its evdev
    events, printed on the serial port by portico-input-probe mouse). Ctrl+Alt+Shift+G gives the
    pointer back (motion then stays on the client), a click takes it again without reaching the
    guest, a click while captured does. Loading the tablet's driver in the guest switches the
    session to absolute, and the window gives the pointer back by itself. One VM boot."""
    from test_vm import input_events, serial, wait_guest_ready
    if (status := missing_tools()) is not None:
        return status
    pool = stack.publish_desktop("console", "pooled")
    disp = ClientDisplay()

    def motion():
        events = input_events(run_dir)
        return (sum(v for t, c, v in events if t == EV_REL and c == REL_X),
                sum(v for t, c, v in events if t == EV_REL and c == REL_Y),
                [v for t, c, v in events if t == EV_KEY and c == BTN_LEFT])

    def wait_motion(want, what):
        try:
            wait_for(lambda: want(motion()), 30, what)
        except AssertionError as e:
            raise AssertionError(f"{e}; the guest saw (sum x, sum y, left button) {motion()}") from None

    with window_client(stack, disp, "--size", "800x600", resource=pool) as client:
        run_dir = wait_for(stack.session_dir, 30, "the session's VM runtime directory")
        wait_for(lambda: "the guest's pointer is relative" in stack.read_log("host"), 60,
                 "the host to report the guest's relative pointer")
        wait_for(lambda: "pointer captured" in client.text(), 30, "the window to capture the pointer")
        assert "the session's pointer is relative" in client.text()
        wait_guest_ready(run_dir)
        disp.xdotool("type", "--delay", "60", "portico-input-probe mouse")
        type_into_session(disp, "Return")
        wait_for(lambda: "PORTICO_INPUT_READY" in serial(run_dir) or "PORTICO_INPUT_MISSING" in
                 serial(run_dir), 60, "the guest's PS/2 mouse probe")
        assert "PORTICO_INPUT_READY" in serial(run_dir), "the guest found no PS/2 mouse"

        move_relative(disp, 10, 5, 12)  # 120, 60 in 12 steps
        wait_motion(lambda m: m[:2] == (120, 60),
                    "the guest's PS/2 mouse to report the motion made on the client display (120, 60)")
        print("VM desktop, relative pointer: 12 moves of (10, 5) on the client display reached the guest's "
              "PS/2 mouse as (120, 60)")

        disp.xdotool("key", "ctrl+alt+shift+g")  # the escape chord gives the pointer back
        wait_for(lambda: "pointer released" in client.text(), 15, "the chord to release the pointer")
        move_relative(disp, 7, 7, 5)
        disp.xdotool("mousemove", "--window", str(client.window), "300", "200", "click", "1")  # takes it again
        wait_for(lambda: client.text().count("pointer captured") == 2, 15, "a click to capture the pointer again")
        disp.xdotool("click", "1")  # captured: this one is the guest's
        move_relative(disp, -4, 3, 5)
        wait_motion(lambda m: m[:2] == (100, 75) and m[2] == [1, 0],
                    "the motion made while captured (-20, 15) and one click, and nothing made while released")
        print("released by Ctrl+Alt+Shift+G: motion stayed on the client; the capturing click stayed too; "
              "the click and motion while captured reached the guest")

        # The tablet's driver makes the guest's pointer absolute: the window lets the pointer go.
        disp.xdotool("type", "--delay", "60", "portico-input-probe")
        type_into_session(disp, "Return")
        wait_for(lambda: "the session's pointer is absolute" in client.text(), 90,
                 "the session to switch to an absolute pointer once the guest's tablet driver loads")
        wait_for(lambda: client.text().count("pointer released") == 2, 15, "the window to release the pointer")
        print("the guest's tablet driver loaded: the session switched to absolute and the window released the pointer")


def case_app_pointer(stack):
    """An app session whose app takes the pointer as a game does (tests/integration/relative_app.c:
    SDL's relative mouse mode, a hidden cursor and a pointer grab): the host sees the grab and
    reports the relative mode, the window captures the pointer, and motion made with xdotool on the
    client display reaches the app as exactly that motion (its SDL xrel/yrel sums), a left click
    with it. A right click makes the app give the pointer back: the session switches to absolute
    and the window releases the pointer by itself."""
    if (status := missing_tools()) is not None:
        return status
    # The app and its report in the stack's folder, which the session's user can reach.
    app = os.path.join(stack.dir, "relative-app")
    shutil.copy(os.path.join(stack.build, "tests/integration/portico_test_relative_app"), app)
    os.chmod(app, 0o755)
    report = shell_file(stack, "relative-app.txt")
    subprocess.run([stack.bin("portico-broker"), "publish", "--state", stack.state, "--id", "relative-app", "--name",
                    "Relative App", "--", app, report], check=True, capture_output=True)
    disp = ClientDisplay()

    with window_client(stack, disp, "--size", "800x600", resource="Relative App") as client:
        wait_for(lambda: "took the pointer (relative" in stack.read_log("host"), 30,
                 "the host to see the app's pointer grab")
        wait_for(lambda: "pointer captured" in client.text(), 30, "the window to capture the pointer")
        assert "the session's pointer is relative" in client.text()
        # What reached the app before the capture (SDL centres the pointer as it takes it) is the baseline.
        time.sleep(1)
        mode, x0, y0, clicks = open(report).read().split()
        assert mode == "relative", open(report).read()
        x0, y0, clicks = int(x0), int(y0), int(clicks)
        move_relative(disp, 10, 5, 12)  # 120, 60 in 12 steps
        disp.xdotool("click", "1")
        wait_file(report, f"relative {x0 + 120} {y0 + 60} {clicks + 1}\n")
        print("app session, relative pointer: 12 moves of (10, 5) and a click on the client display reached the "
              "app as SDL relative motion (120, 60) and one click")

        disp.xdotool("click", "3")  # the app gives the pointer back
        wait_file(report, f"absolute {x0 + 120} {y0 + 60} {clicks + 1}\n")
        wait_for(lambda: "let the pointer go" in stack.read_log("host"), 15, "the host to see the app let go")
        wait_for(lambda: "the session's pointer is absolute" in client.text(), 15,
                 "the session to switch to an absolute pointer")
        wait_for(lambda: "pointer released" in client.text(), 15, "the window to release the pointer")
        print("the app let go of the pointer: the session switched to absolute and the window released it")


def case_login_prompt(stack):
    """Without --user and --password-file the client asks on its terminal (a pty here), the
    password with echo off: the password must not appear in what the terminal shows."""
    import pty
    disp = ClientDisplay()
    pid, fd = pty.fork()
    if pid == 0:
        env = dict(disp.env)
        env.pop("PORTICO_PASSWORD", None)
        os.execve(stack.bin("portico-client"), [stack.bin("portico-client"), stack.url, "--resource", "Terminal",
                                                "--ca", os.path.join(stack.state, "tls/broker.crt")], env)
    seen = b""

    def read_for(seconds, pattern=None):
        """Reads what the terminal shows (never blocking past the time), until pattern appears."""
        nonlocal seen
        deadline = time.time() + seconds
        while time.time() < deadline and not (pattern and re.search(pattern, seen)):
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.time()))
            if not ready:
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the client has gone
                return
            if not chunk:
                return
            seen += chunk

    def read_until(pattern, timeout=20):
        read_for(timeout, pattern)
        assert re.search(pattern, seen), f"wanted {pattern!r} on the terminal, saw {seen!r}"

    try:
        read_until(rb"Portico user: ")
        os.write(fd, b"demo\n")
        read_until(rb"Password for demo: ")
        os.write(fd, stack.password.encode() + b"\n")
        read_until(rb"connected to session")
        assert stack.password.encode() not in seen, f"the password was echoed: {seen!r}"
        assert b"demo" in seen, "the user name should be echoed"
        print("the client asked for the user (echoed) and the password (not echoed) on its terminal and connected")
    finally:
        os.kill(pid, 15)
        # Keep reading while it ends: a client blocked writing its log to a full pty would never exit.
        status = None
        deadline = time.time() + 20
        while status is None and time.time() < deadline:
            read_for(0.2)
            done, st = os.waitpid(pid, os.WNOHANG)
            if done:
                status = st
        if status is None:
            os.kill(pid, 9)
            _, status = os.waitpid(pid, 0)
            print(f"the client did not end within 20 s of SIGTERM; terminal output: {seen[-2000:]!r}")
        os.close(fd)
        disp.stop()
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, f"the client ended with status {status}"


OPENBOX_RC = """<?xml version="1.0"?>
<openbox_config xmlns="http://openbox.org/3.4/rc">
  <applications>
    <application class="XTerm">
      <decor>no</decor>
      <maximized>yes</maximized>
    </application>
  </applications>
</openbox_config>
"""


def maximise_in_session(stack, display, xauthority):
    """Runs openbox in the session (an app session has no window manager of its own) with a rule
    that maximises xterm, and returns xterm's geometry then (w, h, x, y). Openbox finds monitors
    through Xinerama, which the X server answers from the RandR monitors."""
    rc = os.path.join(stack.dir, "openbox-rc.xml")
    with open(rc, "w") as f:
        f.write(OPENBOX_RC)
    env = dict(os.environ, DISPLAY=display, XAUTHORITY=xauthority or "", HOME=stack.dir)
    wm = subprocess.Popen(["openbox", "--config-file", rc], env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    try:
        def geometry():
            ids = subprocess.run(["xdotool", "search", "--onlyvisible", "--class", "XTerm"], env=env,
                                 capture_output=True, text=True, timeout=10).stdout.split()
            if len(ids) != 1:
                return None
            out = subprocess.run(["xdotool", "getwindowgeometry", ids[0]], env=env, capture_output=True,
                                 text=True, timeout=10).stdout
            pos = re.search(r"Position: (-?\d+),(-?\d+)", out)
            size = re.search(r"Geometry: (\d+)x(\d+)", out)
            return pos and size and (int(size.group(1)), int(size.group(2)), int(pos.group(1)), int(pos.group(2)))

        last = {}

        def maximised():
            last["g"] = geometry()
            return last["g"] in TwoMonitorDisplay.MONITORS

        try:
            wait_for(maximised, 20, "openbox to maximise xterm")
        except AssertionError:
            pass  # the caller's assertion says what was seen
        return last.get("g")
    finally:
        wm.terminate()
        wm.wait(timeout=10)


def case_monitors(stack, disp, client):
    listed = disp.run(stack.bin("portico-client"), "--list-monitors").stdout
    assert re.search(r"^1: DUMMY0 1024x768 at 0,0 \(primary\)$", listed, re.M) and \
        re.search(r"^2: DUMMY1 800x600 at 1024,0$", listed, re.M), f"--list-monitors printed:\n{listed}"
    wait_for(lambda: session_screen(stack)[:2] == (1824, 768), 20, "the session to become 1824x768")
    # Text across both monitors, so the comparison below sees the second monitor's part too.
    disp.xdotool("mousemove", "--window", str(client.window), "400", "300")
    disp.xdotool("type", "--delay", "30", "printf 'SPAN-%04d ' $(seq 90)")
    type_into_session(disp, "Return")

    def text_on_second_monitor():
        w, h, rgb = session_screen(stack)
        return sum(1 for y in range(0, 60) for x in range(1100, 1800) if rgb[(y * w + x) * 3] < 128) > 100

    wait_for(text_on_second_monitor, 20, "the printed text to reach the second monitor's part of the session")
    size = wait_window_matches(stack, client, "monitors-all")
    assert size == (1824, 768), f"spanning 1024x768 + 800x600 should make the session 1824x768, not {size}"
    # The window is the client display's whole screen: the display's pixels are the session's.
    shots = {}

    def display_is_session():
        shots["session"], shots["display"] = session_screen(stack), x_screen_rgb(disp.display, None)
        return shots["session"] == shots["display"]

    try:
        wait_for(display_is_session, 10, "the client display's pixels to equal the session's screen")
    finally:
        write_png(artifact("monitors-all-display.png"), *shots["display"])
    display, xauthority = session_display(stack.host.pid)
    want = [m + (i == 0,) for i, m in enumerate(TwoMonitorDisplay.MONITORS)]
    got = wait_for(lambda: (lambda g: g == want and g)(monitors_of(display, xauthority)), 15,
                   "the session's RandR monitors to be the client's")
    print(f"session 1824x768; its monitors {got} equal the client's; the client display equals the session")
    # Which monitor openbox picks is its business; that it fills exactly one is the layout's doing.
    maximised = maximise_in_session(stack, display, xauthority)
    assert maximised in TwoMonitorDisplay.MONITORS, \
        f"xterm maximised by a window manager should fill one monitor, not {maximised}"
    print(f"xterm maximised by openbox in the session fills one monitor alone: {maximised}")

    # Monitor 2 unplugged (its RandR output switched off): the window covers monitor 1 alone and
    # the session follows to 1024x768 with one monitor; plugged in again, both and the layout.
    disp.run("xrandr", "--output", "DUMMY1", "--off")
    wait_for(lambda: session_screen(stack)[:2] == (1024, 768), 20, "the session to become 1024x768 after the unplug")
    size = wait_window_matches(stack, client, "monitors-unplugged")
    assert size == (1024, 768), f"with monitor 2 unplugged the session should be 1024x768, not {size}"
    got = wait_for(lambda: (lambda g: len(g) == 1 and g)(monitors_of(display, xauthority)), 15,
                   "the session to have one monitor after the unplug")
    assert got[0][:4] == (1024, 768, 0, 0), f"the session's one monitor after the unplug: {got}"
    (w1, h1, x1, y1) = TwoMonitorDisplay.MONITORS[1]
    disp.run("xrandr", "--output", "DUMMY1", "--mode", f"{w1}x{h1}", "--pos", f"{x1}x{y1}")
    wait_for(lambda: session_screen(stack)[:2] == (1824, 768), 20, "the session to become 1824x768 again")
    size = wait_window_matches(stack, client, "monitors-replugged")
    assert size == (1824, 768), f"with monitor 2 back the session should be 1824x768 again, not {size}"
    wait_for(lambda: monitors_of(display, xauthority) == want, 15, "the session's two monitors to come back")
    print("monitor 2 unplugged: the session became 1024x768 with one monitor; plugged in: 1824x768 and both again")

    # One monitor of the two: the window covers monitor 2, the session becomes its size, and its
    # one monitor is the whole screen again.
    client.stop()
    one = WindowClient(stack, disp, "--monitors", "2")
    try:
        size = wait_window_matches(stack, one, "monitors-second")
        assert size == (800, 600), f"--monitors 2 should make the session 800x600, not {size}"
        got = wait_for(lambda: (lambda g: len(g) == 1 and g)(monitors_of(display, xauthority)), 15,
                       "the session to have one monitor again")
        assert got[0][:4] == (800, 600, 0, 0), f"the session's one monitor: {got}"
        geometry = disp.xdotool("getwindowgeometry", str(one.window))
        assert "Position: 1024,0" in geometry and "Geometry: 800x600" in geometry, geometry
        print(f"--monitors 2: the window covers monitor 2, the session is 800x600 with one monitor {got[0]}")
    finally:
        one.stop()
    # with_client stops the first client, which has ended (0) already.


def case_vm_monitors(stack):
    """A VM desktop (the desktop image: virtio-vga, Openbox) spanning the two monitors: the guest's
    screen becomes 1824x768 and its agent (deploy/guest/portico-agent, over the virtio-serial
    port) makes the client's layout its RandR monitors, which the host logs as the guest reports
    them; an xterm that Openbox maximises in the guest fills one monitor, not the span (xwininfo
    in the guest, on the serial port); a client on monitor 2 alone gets the guest one 800x600
    monitor again."""
    from test_vm import serial, wait_guest_ready
    if (status := missing_tools(("Xorg", "/usr/lib/xorg/modules/drivers/dummy_drv.so"))) is not None:
        return status
    pool = stack.publish_desktop("desk", "pooled", image="desktop", memory=768)
    disp = TwoMonitorDisplay()
    laid_out = "the guest laid out its monitors: "

    def guest_layouts():
        return [line.split(laid_out, 1)[1] for line in stack.read_log("host").splitlines() if laid_out in line]

    with window_client(stack, disp, "--monitors", "all", resource=pool) as client:
        run_dir = wait_for(stack.session_dir, 30, "the session's VM runtime directory")
        wait_guest_ready(run_dir)
        # The agent answers once the guest's screen has the size: 1824x768 is the guest's now.
        got = wait_for(lambda: guest_layouts(), 120, "the guest's agent to lay out the monitors")[-1]
        want = "1824x768 *PORTICO-0 1024/270x768/203+0+0 Virtual-1;PORTICO-1 800/211x600/158+1024+0"
        assert got == want, f"the guest's monitors: {got!r}, want {want!r}"
        print(f"VM desktop spanning two monitors: the guest's screen and monitors are {got}")
        shot = x_screen_rgb(disp.display, None)
        write_png(artifact("vm-monitors-display.png"), *shot)

        # A window maximised by the guest's Openbox fills one monitor. Under TCG the session's
        # windows appear over seconds, and a new one takes the focus: wait until both are there
        # (the file manager over 300,300, the terminal's white at 900,600; the window shows the
        # guest 1:1) and the picture holds still, then click into the terminal and start the
        # xterm from there. The new xterm takes the keyboard focus, so the next command runs in
        # its shell.
        last = {}

        def desktop_up():  # both windows there, and the same picture 2 s apart
            time.sleep(2)
            w, _, rgb = now = x_screen_rgb(disp.display, None)
            before, last["shot"] = last.get("shot"), now

            def pixel(x, y):
                return tuple(rgb[(y * w + x) * 3:(y * w + x) * 3 + 3])

            return pixel(300, 300) != (0x2e, 0x34, 0x40) and pixel(900, 600) == (255, 255, 255) and now == before

        wait_for(desktop_up, 120, "the guest's file manager and terminal to be up and still")
        disp.xdotool("mousemove", "--window", str(client.window), "900", "600", "click", "1")
        time.sleep(2)
        disp.xdotool("type", "--delay", "60", "xterm -maximized -T Big -e sh -c 'echo BIG_UP > /dev/ttyS0; exec sh' &")
        type_into_session(disp, "Return")
        try:
            wait_for(lambda: "BIG_UP" in serial(run_dir), 90, "the maximised xterm to start in the guest")
        except AssertionError:
            write_png(artifact("vm-monitors-typed.png"), *x_screen_rgb(disp.display, None))
            print("----- the guest's serial port -----\n" + serial(run_dir)[-3000:])
            raise
        # Typing before the new xterm is mapped would split the next command between the two
        # terminals when the focus moves: wait until one monitor shows it (mostly white).
        def white_share(shot, x0, x1, y1):
            w, _, rgb = shot
            px = [(x, y) for y in range(40, y1, 16) for x in range(x0 + 8, x1 - 8, 16)]
            return sum(1 for x, y in px if rgb[(y * w + x) * 3:(y * w + x) * 3 + 3] == b"\xff\xff\xff") / len(px)

        def big_shown():
            shot = x_screen_rgb(disp.display, None)
            return white_share(shot, 0, 1024, 740) > 0.9 or white_share(shot, 1024, 1824, 580) > 0.9

        wait_for(big_shown, 60, "the maximised xterm to fill a monitor on the client's display")
        time.sleep(1)
        disp.xdotool("type", "--delay", "60", "xwininfo -name Big | grep -E 'Absolute|Width|Height' > /dev/ttyS0")
        type_into_session(disp, "Return")

        def geometry():
            found = {k: int(v) for k, v in re.findall(r"(Absolute upper-left X|Absolute upper-left Y|Width|Height):\s+(-?\d+)",
                                                      serial(run_dir))}
            return len(found) == 4 and found

        try:
            g = wait_for(geometry, 60, "xwininfo's geometry of the maximised xterm on the serial port")
        except AssertionError:
            write_png(artifact("vm-monitors-xwininfo.png"), *x_screen_rgb(disp.display, None))
            print("----- the guest's serial port -----\n" + serial(run_dir)[-3000:])
            raise
        x, w, h = g["Absolute upper-left X"], g["Width"], g["Height"]
        # Openbox's frame (title bar, border) and xterm's character cells take a little of it.
        in_first = x >= 0 and x + w <= 1024 and w > 950 and h > 650
        in_second = x >= 1024 and x + w <= 1824 and w > 730 and h > 500
        assert in_first or in_second, f"the maximised xterm should fill one monitor, not {g}"
        write_png(artifact("vm-monitors-maximised.png"), *x_screen_rgb(disp.display, None))
        print(f"an xterm maximised by the guest's Openbox fills one monitor: {g}")

        # One monitor: the layout goes, the guest has one monitor of 800x600.
        client.stop()
        one = WindowClient(stack, disp, "--monitors", "2", resource=pool)
        try:
            got = wait_for(lambda: (lambda g: g and g[-1].startswith("800x600") and g[-1])(guest_layouts()), 120,
                           "the guest to have one 800x600 monitor")
            # The output's own monitor again (its physical size is the display driver's).
            assert re.fullmatch(r"800x600 \+\*?Virtual-1 800/\d+x600/\d+\+0\+0 Virtual-1", got), got
            print(f"--monitors 2: the guest has one monitor again: {got}")
        finally:
            one.stop()


ERROR_WINDOW_TITLE = "Portico: the session could not be opened"


def failing_client(stack, disp, target, want_exit, want_log, shot):
    """portico-client started as the desktop starts it (--error-window, the launch file or link,
    nothing else), failing: its message box appears and it waits; Return dismisses the box, and
    the client exits with `want_exit`, `want_log` in its stderr."""
    log_path = os.path.join(stack.dir, f"{shot}.log")
    with open(log_path, "w") as log:
        proc = subprocess.Popen([stack.bin("portico-client"), "--error-window", target], env=disp.env, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        def box():
            # xwininfo, not xdotool search: SDL's X11 message box is a bare override-less top-level
            # window that xdotool's search does not list (getwindowname and key reach it).
            try:
                tree = disp.run("xwininfo", "-root", "-tree").stdout
            except subprocess.CalledProcessError:
                return None  # BadWindow: a window went away while xwininfo walked the tree; look again
            m = re.search(r"^\s*(0x[0-9a-f]+) \"" + re.escape(ERROR_WINDOW_TITLE) + '"', tree, re.M)
            return m and m.group(1)
        window = wait_for(lambda: box() or proc.poll() is not None, 30, "the error window to appear")
        assert proc.poll() is None, f"the client exited ({proc.returncode}) without showing the error window:\n" \
                                    f"{open(log_path).read()}"
        assert disp.xdotool("getwindowname", window) == ERROR_WINDOW_TITLE
        time.sleep(0.3)  # the box has drawn its text
        write_png(artifact(f"{shot}.png"), *x_screen_rgb(disp.display, None, window=int(window, 16)))
        time.sleep(1)
        assert proc.poll() is None, "the client should wait until the error window is dismissed"
        disp.xdotool("windowfocus", "--sync", window)
        disp.xdotool("key", "Return")
        proc.wait(timeout=15)
        text = open(log_path).read()
        assert proc.returncode == want_exit, f"exit {proc.returncode}, wanted {want_exit}:\n{text}"
        assert want_log in text, f"{want_log!r} not in the client's log:\n{text}"
        print(f"{shot}: error window shown, dismissed with Return, exit {proc.returncode}: "
              f"{text.strip().splitlines()[-1]}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def case_error_window(stack):
    if (status := missing_tools(("xwininfo",))) is not None:
        return status
    disp = ClientDisplay()
    try:
        path = portal_launch_file(stack)
        # The broker's record of the token says it expired (as it would a minute later), so the
        # test need not wait the minute; the broker itself refuses it at redeem.
        with sqlite3.connect(os.path.join(stack.state, "portico.db"), timeout=10) as db:
            expired = db.execute("UPDATE launch_tokens SET expires_at = created_at - 1").rowcount
        assert expired == 1, f"expected one launch token in the broker's store, changed {expired}"
        failing_client(stack, disp, path, 3, "this launch file has expired", "error-window-expired")
        # A malformed link (cut short: a character of the token missing) fails before any network.
        failing_client(stack, disp, launch_link(portal_launch_file(stack))[:-1], 2, "launch link: ",
                       "error-window-malformed-link")
    finally:
        disp.stop()


LOGIN_DIALOG_TITLE = "Portico: sign in to "  # client/native/login_dialog.hpp
LOGIN_FAILED_MARK = " (sign-in failed)"


def red_pixels(rgb):
    """How many pixels are the login window's error red (#b00020, and its anti-aliased edges)."""
    return sum(1 for i in range(0, len(rgb), 3) if rgb[i] > 140 and rgb[i + 1] < 70 and rgb[i + 2] < 90)


class DialogClient:
    """portico-client started as a desktop menu starts it: stdin no terminal, no --user (unless
    given) and no password, so it asks in its login window. Logs to a file."""

    def __init__(self, stack, disp, url, *extra, name="login-dialog"):
        self.disp = disp
        self.log_path = os.path.join(stack.dir, f"{name}.log")
        env = dict(disp.env)
        env.pop("PORTICO_PASSWORD", None)
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(
                [stack.bin("portico-client"), url, "--resource", "Terminal", "--ca",
                 os.path.join(stack.state, "tls/broker.crt"), "--size", "800x600", *extra],
                env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        found = wait_for(lambda: self.windows("^" + re.escape(LOGIN_DIALOG_TITLE)) or self.proc.poll() is not None,
                         30, "the login window to appear")
        assert self.proc.poll() is None, f"the client exited ({self.proc.returncode}):\n{self.text()}"
        assert len(found) == 1, f"one login window expected, found {found}"
        self.window = found[0]
        host = url.split("://", 1)[1]
        assert self.title() == LOGIN_DIALOG_TITLE + host, f"the login window should name {host}: {self.title()!r}"
        disp.xdotool("windowfocus", "--sync", str(self.window))

    def windows(self, pattern):
        """The client display's mapped windows whose name matches (xdotool search; none: []). The
        login window is made hidden and shown once drawn: before that it cannot take the focus."""
        r = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", pattern], env=self.disp.env, capture_output=True,
                           text=True, timeout=30)
        return [int(w) for w in r.stdout.split()]

    def title(self):
        return self.disp.xdotool("getwindowname", str(self.window))

    def shot(self, name):
        """The login window's pixels, kept as an artifact."""
        w, h, rgb = x_screen_rgb(self.disp.display, None, window=self.window)
        write_png(artifact(f"{name}.png"), w, h, rgb)
        return rgb

    def text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def sign_in(self, password):
        """Types the password (into the focused field) and presses Return."""
        self.disp.xdotool("type", "--delay", "30", password)
        self.disp.xdotool("key", "Return")

    def cancel(self):
        """Escape: the client exits 6 (the user cancelled the login), saying so."""
        self.disp.xdotool("windowfocus", "--sync", str(self.window))
        self.disp.xdotool("key", "Escape")
        self.proc.wait(timeout=15)
        assert self.proc.returncode == 6, f"Escape should exit 6, exited {self.proc.returncode}:\n{self.text()}"
        assert "portico-client: login cancelled" in self.text(), self.text()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def case_login_dialog(stack):
    """Started without a terminal (stdin /dev/null) and without --user or a password, the client
    asks in its login window: a wrong password shows the broker's answer in the same window (the
    broker audits the failed login), the right one opens the session window, whose keys reach
    xterm; Escape exits 6; a broker that cannot be reached is said in the window too."""
    if (status := missing_tools()) is not None:
        return status
    disp = ClientDisplay()
    clients = []
    try:
        c = DialogClient(stack, disp, stack.url)
        clients.append(c)
        empty = c.shot("login-dialog-empty")
        disp.xdotool("type", "--delay", "30", "demo")
        disp.xdotool("key", "Tab")
        c.sign_in("not-the-password")
        wait_for(lambda: c.title().endswith(LOGIN_FAILED_MARK) or c.proc.poll() is not None, 30,
                 "the login window to show the failed sign-in")
        assert c.proc.poll() is None, f"a wrong password should not end the client:\n{c.text()}"
        assert c.windows("^Portico:") == [c.window], "the same login window, and no other, should ask again"
        failed = wait_for(lambda: (rgb := c.shot("login-dialog-wrong-password")) and red_pixels(rgb) > 50 and rgb,
                          10, "the broker's error in red in the login window")
        assert red_pixels(empty) == 0 and failed != empty
        assert "wrong user name or password" in c.text(), f"the broker's answer should be logged:\n{c.text()}"
        status, _, audit = stack.request("GET", "/api/v1/audit?action=login_failed",
                                         cookie=stack.login("admin", stack.admin_password))
        assert status == 200 and any(a["actor"] == "demo" for a in audit), (status, audit)
        print(f"wrong password: the login window says so ({red_pixels(failed)} red pixels), title "
              f"{c.title()!r}; the broker audited login_failed for demo")

        # The password field is empty again and has the focus: the right password signs in.
        c.sign_in(stack.password)
        wait_for(lambda: "connected to session" in c.text() or c.proc.poll() is not None, 30, "the client to connect")
        assert c.proc.poll() is None, f"the client exited:\n{c.text()}"
        session_window = int(disp.run("xdotool", "search", "--sync", "--name", "^Portico: Terminal").stdout.split()[0])
        wait_for(lambda: not c.windows("^" + re.escape(LOGIN_DIALOG_TITLE)), 10, "the login window to close")
        disp.xdotool("windowfocus", "--sync", str(session_window))
        view = types.SimpleNamespace(window=session_window,
                                     pixels=lambda: x_screen_rgb(disp.display, None, window=session_window))
        wait_window_matches(stack, view, "login-dialog-session")
        disp.xdotool("mousemove", "--window", str(session_window), "400", "300")
        typed = shell_file(stack, "after-login.txt")
        start_cat(disp, typed)
        disp.xdotool("type", "--delay", "40", "signed in")
        end_cat(disp)
        wait_file(typed, "signed in\n")
        for secret in (stack.password, "not-the-password"):
            assert secret not in c.text(), "a password is in the client's log"
        print("the right password opened the session window; keys typed there reached xterm; no password logged")
        c.proc.terminate()
        c.proc.wait(timeout=15)
        assert c.proc.returncode == 0, f"the client exited with {c.proc.returncode}:\n{c.text()[-3000:]}"

        # --user prefills the user name; --scale 2 (X11 reports no pixel ratio) doubles the window
        # and its text; Escape cancels: exit 6.
        c = DialogClient(stack, disp, stack.url, "--user", "demo", "--scale", "2", name="login-dialog-cancel")
        clients.append(c)
        geometry = disp.xdotool("getwindowgeometry", str(c.window))
        assert "Geometry: 960x540" in geometry, f"--scale 2 should make the 480x270 window 960x540: {geometry}"
        c.shot("login-dialog-prefilled-scale-2")
        c.cancel()
        print("--scale 2: a 960x540 login window; Escape in it: exit 6, 'login cancelled'")

        # A broker that cannot be reached: the window says so and asks again.
        c = DialogClient(stack, disp, f"https://127.0.0.1:{free_port()}", "--user", "demo", name="login-dialog-down")
        clients.append(c)
        c.sign_in("whatever")
        wait_for(lambda: c.title().endswith(LOGIN_FAILED_MARK) or c.proc.poll() is not None, 30,
                 "the login window to show the unreachable broker")
        assert c.proc.poll() is None, f"an unreachable broker should not end the client:\n{c.text()}"
        wait_for(lambda: red_pixels(c.shot("login-dialog-unreachable")) > 50, 10, "the error in the login window")
        assert re.search(r"login window: .*(refused|connect)", c.text(), re.I), c.text()
        print(f"unreachable broker: shown in the login window: {c.text().strip().splitlines()[-1]}")
        c.cancel()
    except BaseException:
        for c in clients:
            print(f"----- {c.log_path} -----")
            print(c.text()[-3000:])
        raise
    finally:
        for c in clients:
            c.kill()
        disp.stop()


CASES = {"login_prompt": case_login_prompt, "login_dialog": case_login_dialog, "window": with_client(case_window, extra=("--scale", "1.5")), "keyboard": case_keyboard, "clipboard": case_clipboard,
         "reconnect": with_client(reconnect_after_drop),
         # A launch file opens the window without a login, and the cookie its redeem gave serves the reconnect.
         "launch_file": with_client(reconnect_after_drop, launch_file=True),
         # A launch link as the desktop hands it over (x-scheme-handler/portico, %u), the same way.
         "launch_link": with_client(reconnect_after_drop, launch_file="link", extra=("--error-window",)),
         "error_window": case_error_window,
         "fullscreen": with_client(case_fullscreen, window_manager=True),
         "vm_keyboard": case_vm_keyboard,
         "vm_pointer": case_vm_pointer,
         "app_pointer": case_app_pointer,
         "vm_monitors": case_vm_monitors,
         "monitors": with_client(case_monitors, extra=("--monitors", "all"), display=TwoMonitorDisplay,
                                 needed=("Xorg", "/usr/lib/xorg/modules/drivers/dummy_drv.so"), size=())}

if __name__ == "__main__":
    if sys.argv[1] in ("vm_keyboard", "vm_pointer", "vm_monitors"):
        from test_vm import VmStack, desktop_image
        stack = VmStack(sys.argv[2], sys.argv[3], name=f"native-{sys.argv[1]}")
        if sys.argv[1] == "vm_monitors":
            os.symlink(desktop_image(stack), os.path.join(stack.images, "desktop"))
    else:
        stack = Stack(sys.argv[2], sys.argv[3], name=f"native-{sys.argv[1]}")
    sys.exit(run_case(stack, CASES[sys.argv[1]]))
