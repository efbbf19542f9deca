#!/usr/bin/python3
"""Input-to-photon through the native client's window (issue 15): a real broker and session host
on loopback (tests/integration/stack.py), the windowed portico-client on an Xvfb of its own
showing the app session Terminal (xterm), 800x600.

Each sample: once the window has been still for 300 ms, a key is pressed on the client's X display
(alternately 'x' and BackSpace, so the prompt line stays short) with XTEST, the mechanism xdotool
uses, called in-process so the clock starts at the press and not at a process start; then the
client window's own pixels are grabbed in a loop (XGetImage of a band of the window around the
prompt line, libX11 through ctypes; ~0.1 ms each, with a 1 ms pause between grabs so the poller
does not take a core from what it measures) until they differ from before the key. The time is
the key press to the first grab that shows the change; its resolution is one grab plus the pause
(grab_ms is reported). The path measured: X event -> SDL -> KeyChar -> broker gateway -> host (XTEST into
xterm) -> capture -> encode -> gateway -> client decode -> texture -> present -> the client's X
screen.

With --vm the session is a VM desktop instead: the console guest (tests/unit/vm/console-image) in
QEMU (KVM where usable, TCG here), its VGA text console's shell; keys reach it as scancodes over
QEMU's VNC server, and the whole window is grabbed (the prompt can be on any row). Results go to
bench/results/native_client_vm.json.

Then, on the same stack and session, the headless client's own probe (--probe-latency: key sent
to the decoded frame that differs), so the result shows what the window's part adds under the
load of the moment.

Usage: bench/client/input_to_photon.py [--build build] [--samples 100] [--vm]
       [--out bench/results/native_client.json | native_client_vm.json with --vm]
Prints the JSON document it writes."""

import argparse
import ctypes
import ctypes.util
import json
import os
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
repo = os.path.dirname(os.path.dirname(here))
sys.path.insert(0, os.path.join(repo, "tests", "integration"))
sys.path.insert(0, os.path.dirname(here))
from benchmeta import Run, summary  # noqa: E402
from stack import Stack  # noqa: E402
from test_native_window import ClientDisplay, WindowClient, wait_window_matches  # noqa: E402
from test_vm import VmStack, wait_guest_ready  # noqa: E402

QUIET_S = 0.3
TIMEOUT_S = 2.0
POLL_PAUSE_S = 0.001
BAND_H = 64  # rows of the window grabbed: the prompt line of a cleared xterm is in the first ones
ZPIXMAP = 2
ALL_PLANES = 0xFFFFFFFF


class XImage(ctypes.Structure):
    # The leading fields of Xlib's XImage (X11/Xlib.h), up to bytes_per_line.
    _fields_ = [("width", ctypes.c_int), ("height", ctypes.c_int), ("xoffset", ctypes.c_int),
                ("format", ctypes.c_int), ("data", ctypes.c_void_p), ("byte_order", ctypes.c_int),
                ("bitmap_unit", ctypes.c_int), ("bitmap_bit_order", ctypes.c_int), ("bitmap_pad", ctypes.c_int),
                ("depth", ctypes.c_int), ("bytes_per_line", ctypes.c_int)]


class XClient:
    """libX11 + libXtst on one display: key presses (XTEST) and window grabs (XGetImage)."""

    def __init__(self, display):
        self.x = ctypes.CDLL(ctypes.util.find_library("X11"))
        self.xtst = ctypes.CDLL(ctypes.util.find_library("Xtst"))
        self.x.XOpenDisplay.restype = ctypes.c_void_p
        self.x.XOpenDisplay.argtypes = [ctypes.c_char_p]
        self.x.XGetImage.restype = ctypes.POINTER(XImage)
        self.x.XGetImage.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_int, ctypes.c_uint,
                                     ctypes.c_uint, ctypes.c_ulong, ctypes.c_int]
        self.x.XStringToKeysym.restype = ctypes.c_ulong
        self.x.XStringToKeysym.argtypes = [ctypes.c_char_p]
        self.x.XKeysymToKeycode.restype = ctypes.c_ubyte
        self.x.XKeysymToKeycode.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
        self.x.XFlush.argtypes = [ctypes.c_void_p]
        self.x.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]
        self.x.XFree.argtypes = [ctypes.c_void_p]
        self.xtst.XTestFakeKeyEvent.argtypes = [ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_ulong]
        self.dpy = self.x.XOpenDisplay(display.encode())
        assert self.dpy, f"cannot open X display {display}"

    def keycode(self, name):
        return self.x.XKeysymToKeycode(self.dpy, self.x.XStringToKeysym(name.encode()))

    def press(self, keycode):
        """Key down and up; returns once the X server has them (the clock starts here)."""
        self.xtst.XTestFakeKeyEvent(self.dpy, keycode, 1, 0)
        self.xtst.XTestFakeKeyEvent(self.dpy, keycode, 0, 0)
        self.x.XSync(self.dpy, 0)

    def grab(self, window, width, height):
        img = self.x.XGetImage(self.dpy, window, 0, 0, width, height, ALL_PLANES, ZPIXMAP)
        assert img, "XGetImage failed"
        data = ctypes.string_at(img.contents.data, img.contents.bytes_per_line * img.contents.height)
        self.x.XFree(img.contents.data)
        self.x.XFree(img)
        return data


def wait_quiet(xc, window, width, height):
    """The window's pixels once still for QUIET_S, and whether they got still within 5 s (a sample
    taken on a screen that never stills could time a change the key did not cause)."""
    last = xc.grab(window, width, height)
    still_since = time.perf_counter()
    give_up = still_since + 5
    while time.perf_counter() - still_since < QUIET_S:
        if time.perf_counter() >= give_up:
            return last, False
        time.sleep(0.01)
        now = xc.grab(window, width, height)
        if now != last:
            last, still_since = now, time.perf_counter()
    return last, True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(repo, "build"))
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--vm", action="store_true", help="a VM desktop (the console guest) instead of xterm")
    ap.add_argument("--out")
    args = ap.parse_args()
    out = args.out or os.path.join(repo, "bench", "results", "native_client_vm.json" if args.vm else "native_client.json")

    run = Run("native_client_input_to_photon" + ("_vm" if args.vm else ""))
    os.environ.setdefault("PORTICO_ARTIFACTS", os.path.join(os.path.abspath(args.build), "artifacts"))
    if args.vm:
        stack = VmStack(os.path.abspath(args.build), repo, name="bench-native-vm")
        stack.start()
        resource = stack.publish_desktop("console", "pooled")
    else:
        stack = Stack(os.path.abspath(args.build), repo, name="bench-native").start()
        resource = "Terminal"
    disp = ClientDisplay()
    client = None
    try:
        client = WindowClient(stack, disp, "--size", "800x600", resource=resource)
        if args.vm:
            wait_guest_ready(stack.session_dir())
            geometry = disp.xdotool("getwindowgeometry", str(client.window))
            width, height = map(int, geometry.split("Geometry: ")[1].split()[0].split("x"))
        else:
            width, height = wait_window_matches(stack, client, "bench-start")
        disp.xdotool("mousemove", "--window", str(client.window), "400", "300")
        # The guest's console cursor blinks: hidden (DECTCEM), so only the typed keys change pixels.
        disp.xdotool("type", "--delay", "30", "printf '\\033[?25l'; clear" if args.vm else "clear")
        disp.xdotool("key", "Return")
        time.sleep(1)
        xc = XClient(disp.display)
        keys = [xc.keycode("x"), xc.keycode("BackSpace")]
        band = height if args.vm else min(BAND_H, height)
        grab_ms, photon_ms, timeouts, not_quiet = [], [], 0, 0
        for i in range(args.samples):
            before, quiet = wait_quiet(xc, client.window, width, band)
            not_quiet += not quiet
            xc.press(keys[i % 2])
            t0 = time.perf_counter()
            while True:
                g0 = time.perf_counter()
                now = xc.grab(client.window, width, band)
                t = time.perf_counter()
                grab_ms.append((t - g0) * 1000)
                if now != before:
                    photon_ms.append((t - t0) * 1000)
                    break
                if t - t0 > TIMEOUT_S:
                    timeouts += 1
                    break
                # A pause between grabs: polling back to back would take a whole core from the
                # client, its X server and the host on a two-core machine and slow what it measures.
                time.sleep(POLL_PAUSE_S)
        client.stop()
        client = None
        # The same session, key and stack through the headless client (input to decode, no window),
        # measured right after: what the window's path (SDL, texture, present, X) adds under the
        # machine's load at the time.
        proc, stats = stack.client("--resource", resource, "--duration", "1", "--probe-latency",
                                   str(args.samples), "--json", timeout=600)
        assert stats and proc.returncode == 0, f"headless probe failed: {proc.stderr[-2000:]}"
        result = {
            **run.finish(),
            "what": "key press (XTEST on the client's X display) to the client window's pixels changing; " + (
                    f"VM desktop (console guest, QEMU {'KVM' if 'accelerator kvm' in stack.read_log('host') else 'TCG'}) {width}x{height}" if args.vm
                    else "app session Terminal (xterm) 800x600") + ", broker gateway, loopback",
            "grabber": f"XGetImage of the window's top {band} rows x {width} (libX11 via ctypes), every "
                       f"{POLL_PAUSE_S * 1000:g} ms + the grab's own time (resolution: grab_ms + that pause)",
            "input_to_photon_ms": summary(photon_ms),
            "timeouts": timeouts,
            "samples_on_a_screen_not_still": not_quiet,
            "grab_ms": summary(grab_ms, 3),
            "target_p95_ms": 16,
            "headless_input_to_decode_ms": summary(stats.get("probe_ms", [])),
            "headless_timeouts": stats.get("probe_timeouts"),
            "samples_ms": [round(v, 2) for v in photon_ms],
        }
        Run.write(result, out)
        print(json.dumps({k: v for k, v in result.items() if k != "samples_ms"}, indent=2))
    finally:
        if client and client.proc.poll() is None:
            client.proc.kill()
        disp.stop()
        stack.stop()


if __name__ == "__main__":
    main()
