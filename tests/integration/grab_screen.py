#!/usr/bin/env python3
"""Writes what a session host's Xvfb shows, as raw RGBA rows, for tests that compare it with what
a client painted:  grab_screen.py HOST_PID OUT_FILE  (prints "WIDTH HEIGHT").

Finds the one session display among the host's descendants, reads its screen with xwd (the X server's own
pixels: what the host captures) and converts the ZPixmap to RGBA."""

import os
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import comm, descendants  # noqa: E402


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


def xwd_to_rgba(data):
    fields = struct.unpack(">25I", data[:100])
    header_size, _, fmt, depth, width, height = fields[:6]
    byte_order, bits_per_pixel, bytes_per_line, ncolors = fields[7], fields[11], fields[12], fields[19]
    if fmt != 2 or bits_per_pixel != 32 or depth != 24:
        raise SystemExit(f"grab_screen: unsupported XWD (format {fmt}, depth {depth}, {bits_per_pixel} bpp)")
    pixels = data[header_size + ncolors * 12:]
    out = bytearray(width * height * 4)
    for y in range(height):
        row = pixels[y * bytes_per_line:y * bytes_per_line + width * 4]
        if byte_order == 0:  # LSBFirst: B, G, R, X
            out[y * width * 4:(y + 1) * width * 4] = row
            o = y * width * 4
            out[o:o + width * 4:4], out[o + 2:o + width * 4:4] = row[2::4], row[0::4]
        else:                # MSBFirst: X, R, G, B
            o = y * width * 4
            out[o:o + width * 4:4], out[o + 1:o + width * 4:4], out[o + 2:o + width * 4:4] = row[1::4], row[2::4], row[3::4]
        out[y * width * 4 + 3:(y + 1) * width * 4:4] = b"\xff" * width
    return width, height, bytes(out)


def main():
    host_pid, out = int(sys.argv[1]), sys.argv[2]
    display, auth = session_display(host_pid)
    env = dict(os.environ, XAUTHORITY=auth) if auth else None
    xwd = subprocess.run(["xwd", "-root", "-silent", "-display", display], capture_output=True, timeout=30, check=True,
                         env=env)
    width, height, rgba = xwd_to_rgba(xwd.stdout)
    with open(out, "wb") as f:
        f.write(rgba)
    print(width, height)


if __name__ == "__main__":
    main()
