#!/usr/bin/python3
"""Display pipeline benchmark (issues 7 and 17): Portico against raw x264, x11vnc + a VNC viewer,
the do-it-yourself ffmpeg x11grab + libx264 stream and Xpra (several encodings, the best one is
the peer), on the same scripted 1920x1080 workloads, --runs times each (medians and spread);
plus Portico's input-to-photon latency, idle bandwidth and behaviour behind a 2 Mbit/s link.
Every system is a real process on loopback; bytes are counted by a TCP relay in front of each
server; Portico, Xpra and the DIY stream all carry TLS. See bench/display/README.md.

Usage: bench/display/bench_display.py --build BUILD_DIR [--runs 3] [--active 10]
       [--out bench/results/display.json] [--only portico,xpra,...] [--workloads typing,...]
       [--xpra-encodings auto,h264,png,webp] [--skip-extras] [--keep]
Prints one JSON document (and writes it to --out after every run)."""

import argparse
import json
import os
import re
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
from stack import Stack  # noqa: E402
from relay import Relay, RfbRequestCounter, Sink  # noqa: E402
from benchmeta import HOST_X264, HOST_X264_CRF, Run, host_frame_log, now_utc, summary  # noqa: E402
import workload as workload_mod  # noqa: E402
import framecompare  # noqa: E402
import numpy as np  # noqa: E402

W, H = 1920, 1080
WORKLOAD_PY = os.path.join(HERE, "workload.py")
WORKLOADS = tuple(w for w in workload_mod.WORKLOADS if w != "idle")
# The full run's set (about an hour at --runs 3 on the 2-core VM); scrolling_big and dragging on request.
DEFAULT_SYSTEMS = ("portico", "raw_x264", "ffmpeg_x264", "xpra")  # x11vnc (no TLS, not a target peer) on request
DEFAULT_WORKLOADS = ("typing", "scrolling", "video", "scroll_fast", "scroll_slow", "editor", "browser", "typing_big")
TEXT_WORKLOADS = ("typing", "typing_big", "scroll_slow", "scrolling", "scrolling_big", "scroll_fast", "editor", "browser")
SYSTEMS = ("portico", "raw_x264", "x11vnc", "ffmpeg_x264", "xpra")
XPRA_ENCODINGS = ("auto", "h264", "webp")  # what Xpra 3.1 (Debian 12) offers; "scroll" is part of auto
FPS_CAP = 30     # every peer is capped at 30 frames a second (Portico has no cap: see README)
WARM_S = 1.0     # after "go", before the measurement window opens
SETTLE_S = 1.0   # the client's picture is checked exactly this long after the workload's last change
CRF = HOST_X264_CRF  # Portico's; the x264 peers use its settings (HOST_X264)
CLK_TCK = os.sysconf("SC_CLK_TCK")
PYTHON = sys.executable


def log(*a):
    print("[bench_display]", *a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- small helpers
def cpu_s(pid):
    """User + system CPU seconds of a process (all its threads)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return None


def rss_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def pct(values, p):
    v = sorted(values)
    if not v:
        return None
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def r2(x, n=2):
    return None if x is None else round(x, n)


def wait_until(t):
    d = t - time.time()
    if d > 0:
        time.sleep(d)


def wait_for(pred, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise RuntimeError(f"timed out after {timeout}s waiting for {what}")


_used_displays = set()


def free_display():
    for n in range(140, 600):
        if n in _used_displays or os.path.exists(f"/tmp/.X{n}-lock") or os.path.exists(f"/tmp/.X11-unix/X{n}"):
            continue
        _used_displays.add(n)
        return n
    raise RuntimeError("no free X display number")


class Procs:
    """Processes one measurement started; each is its own process group, ended by its id."""

    def __init__(self):
        self.items = []

    def start(self, cmd, log_path=None, env=None, **kw):
        out = open(log_path, "w") if log_path else subprocess.DEVNULL
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
                             stdin=kw.pop("stdin", subprocess.DEVNULL), **kw)
        self.items.append(p)
        return p

    def stop(self):
        for p in reversed(self.items):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except OSError:
                    pass
        deadline = time.time() + 5
        for p in reversed(self.items):
            try:
                p.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except OSError:
                    pass
                p.wait()
        self.items = []


def start_xvfb(procs, w=W, h=H, logdir=None):
    n = free_display()
    procs.start(["Xvfb", f":{n}", "-screen", "0", f"{w}x{h}x24", "-nolisten", "tcp", "-noreset"],
                log_path=os.path.join(logdir, f"Xvfb{n}.log") if logdir else None)
    wait_for(lambda: os.path.exists(f"/tmp/.X11-unix/X{n}"), 15, f"Xvfb :{n}")
    time.sleep(0.2)
    return f":{n}"


def grab(display, path, xauthority=None, x=0, y=0, window=None):
    """The display's W x H at x,y (or one window's content) as PNG, no pointer. xwd takes the
    picture at once (tens of ms, where ffmpeg needs a second or more to start on a loaded
    machine); ffmpeg converts it afterwards."""
    env = dict(os.environ, DISPLAY=display)
    if xauthority:
        env["XAUTHORITY"] = xauthority
    raw = path + ".xwd"
    r = subprocess.run(["xwd", "-silent", *(["-id", str(window)] if window else ["-root"]), "-out", raw],
                       env=env, capture_output=True, text=True, timeout=60)
    if r.returncode != 0 or not os.path.exists(raw):
        raise RuntimeError(f"xwd of {display} failed: {r.stderr[-300:]}")
    vf = "format=rgb24" if window else f"crop={W}:{H}:{x}:{y},format=rgb24"
    r = subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", raw, "-vf", vf, path], capture_output=True,
                       text=True, timeout=60)
    os.unlink(raw)
    if r.returncode != 0 or not os.path.exists(path):
        raise RuntimeError(f"converting the grab of {display} failed: {r.stderr[-300:]}")


def compare(ref, test):
    """PSNR (RGB, dB; 'exact' when identical) and SSIM of test against ref."""
    if not (ref and test and os.path.exists(ref) and os.path.exists(test)):
        return {"psnr_db": None, "ssim": None, "exact": None, "error": "missing image"}
    r = subprocess.run(["ffmpeg", "-hide_banner", "-i", test, "-i", ref, "-lavfi",
                        "[0:v]format=gbrp,split[a1][a2];[1:v]format=gbrp,split[b1][b2];[a1][b1]psnr;[a2][b2]ssim",
                        "-f", "null", "-"], capture_output=True, text=True, timeout=120)
    m = re.search(r"PSNR .*average:(\S+)", r.stderr)
    s = re.search(r"SSIM .*All:(\S+)", r.stderr)
    if not m:
        return {"psnr_db": None, "ssim": None, "exact": None, "error": r.stderr[-300:]}
    psnr = m.group(1)
    exact = psnr == "inf"
    return {"psnr_db": 99.0 if exact else round(float(psnr), 2), "ssim": round(float(s.group(1)), 5) if s else None,
            "exact": exact}


def make_cert(d):
    """A self-signed certificate for the peers' TLS (Xpra --bind-ssl, the DIY stream's sink):
    (cert, key, cert+key in one file as Xpra wants it)."""
    cert, key, both = (os.path.join(d, n) for n in ("peer-cert.pem", "peer-key.pem", "peer-both.pem"))
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days",
                    "2", "-subj", "/CN=localhost"], check=True, capture_output=True, timeout=60)
    with open(both, "w") as f:
        f.write(open(cert).read() + open(key).read())
    return cert, key, both


def read_mark(path, timeout):
    """The wall time a workload wrote into a mark file (e.g. done), waiting for it."""
    wait_for(lambda: os.path.exists(path), timeout, os.path.basename(path))
    with open(path) as f:
        return float(f.read())


def open_when_exists(path, timeout=60):
    wait_for(lambda: os.path.exists(path), timeout, path)
    return open(path)


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


# ---------------------------------------------------------------- systems
class System:
    """One system showing one workload: start() until ready to go, counters() for the window,
    grab_source()/grab_client() once the screen has settled, extra() figures, stop()."""
    name = "?"

    def __init__(self, bench, workload, wdir):
        self.b, self.workload, self.wdir = bench, workload, wdir
        self.procs = Procs()
        self.notes = []

    def workload_cmd(self):
        cmd = [PYTHON, WORKLOAD_PY, self.workload, "--dir", os.path.join(self.wdir, "wl"), "--active",
               str(self.b.active)]
        if self.workload == "video":
            cmd += ["--clip", self.b.clip]
        return cmd

    def wl(self, name):
        return os.path.join(self.wdir, "wl", name)

    def extra(self, t0, t1):
        return {}

    def delivered_frames(self, t0, t1):
        raise NotImplementedError  # per-frame video quality: Portico and the DIY stream only

    def align(self, ref, view):
        """Makes the source and client pictures comparable (same region); most need nothing."""

    def stop(self):
        self.procs.stop()


class Portico(System):
    name = "portico"

    def start(self):
        b = self.b
        os.makedirs(self.wl(""), exist_ok=True)
        self.frame_log = os.path.join(self.wdir, "client-frames.jsonl")
        self.record = os.path.join(self.wdir, "client.rec")
        self.cpu_pid = b.stack.host.pid
        # The client runs past the check moment (last change + 1 s); its --record keeps every
        # frame with the time it was painted, so the picture at that moment is replayed exactly.
        duration = b.pre + b.active + SETTLE_S + 1.5
        env = dict(os.environ, PORTICO_PASSWORD=b.stack.password)
        self.client = self.procs.start(
            [b.stack.bin("portico-client"), "--headless", "--broker", f"https://127.0.0.1:{b.relay.port}", "--user",
             "demo", "--ca", os.path.join(b.stack.state, "tls/broker.crt"), "--resource", f"bench-{self.workload}-{self.run}",
             "--size", f"{W}x{H}", "--duration", str(duration), "--record", self.record, "--frame-log",
             self.frame_log, "--json", "--logoff"], log_path=os.path.join(self.wdir, "client.out"), env=env)
        self.client_out = os.path.join(self.wdir, "client.out")
        wait_for(lambda: os.path.exists(self.wl("ready")), 120, "the workload in the Portico session")
        first = wait_for(lambda: self.frames_between(0, 1e18)[:1], 30, "the client's first frame")[0]
        with open(self.wl("env.json")) as f:
            self.env = json.load(f)
        self.go_at = first["wall_ms"] / 1000 + b.pre  # the client's --duration counts from its first frame

    def frames_between(self, t0, t1):
        out = []
        try:
            with open(self.frame_log) as f:
                for line in f:
                    if line.endswith("\n"):
                        e = json.loads(line)
                        if t0 <= e["wall_ms"] / 1000 <= t1:
                            out.append(e)
        except OSError:
            pass
        return out

    def counters(self):
        return {"bytes": self.b.relay.counts()[0], "cpu_s": cpu_s(self.cpu_pid), "t": time.time()}

    def frames_in(self, t0, t1):
        return len(self.frames_between(t0, t1))

    def grab_source(self, path):
        grab(self.env["display"], path, self.env["xauthority"])

    def wait_client(self):
        if getattr(self, "stats", None) is not None:
            return
        self.client.wait(timeout=90)
        with open(self.client_out) as f:
            lines = [l for l in f.read().splitlines() if l.startswith("{")]
        self.stats = json.loads(lines[-1]) if lines else {}
        if self.client.returncode != 0:
            raise RuntimeError(f"portico-client failed: {self.stats.get('error')}")

    def grab_client(self, path, at):
        """The client's picture as it was at wall time `at`, replayed from its recording."""
        self.wait_client()
        r = subprocess.run([self.b.stack.bin("portico-client"), "--replay", self.record, "--png", path, "--png-at-ms",
                            f"{at * 1000:.3f}"], capture_output=True, text=True, timeout=300)
        if r.returncode != 0 or not os.path.exists(path):
            raise RuntimeError(f"replaying the client's recording failed: {r.stderr[-300:]}")
        size = png_size(path)
        if size != (W, H):
            self.notes.append(f"client screen was {size[0]}x{size[1]}, not {W}x{H}")

    def delivered_frames(self, t0, t1):
        """rgb24 frames the client painted between t0 and t1 (replayed, with the painted time)."""
        self.wait_client()
        index = os.path.join(self.wdir, "replay-index.jsonl")
        p = subprocess.Popen([self.b.stack.bin("portico-client"), "--replay", self.record, "--raw-out", "/dev/stdout",
                              "--frame-log", index], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            with open_when_exists(index) as idx:
                while True:
                    line = idx.readline()  # written (and flushed) before the frame's pixels
                    while line and not line.endswith("\n"):
                        time.sleep(0.01)
                        line += idx.readline()
                    if not line:
                        if p.poll() is not None:
                            return
                        time.sleep(0.01)
                        continue
                    e = json.loads(line)
                    size = e["width"] * e["height"] * 3  # frames before the resize to 1080p are smaller
                    buf = p.stdout.read(size)
                    if len(buf) < size:
                        return
                    if (e["width"], e["height"]) == (W, H) and t0 <= e["wall_ms"] / 1000 <= t1:
                        yield np.frombuffer(buf, dtype=np.uint8).reshape(H, W, 3)
        finally:
            p.stdout.close()
            p.wait(timeout=60)

    def extra(self, t0, t1):
        ids = {e["id"] for e in self.frames_between(t0, t1)}
        sid = (self.stats or {}).get("session_id")
        costs, kinds = [], {}
        host = host_frame_log(self.b.frame_log_dir, sid)
        for e in host.values():
            if e["id"] in ids:
                costs.append(e["cpu_us"] / 1000)
                kinds[e["kind"]] = kinds.get(e["kind"], 0) + 1
        if not host:
            self.notes.append("no host frame log (PORTICO_FRAME_LOG_DIR) for this session")
        lat = [e["latency_ms"] for e in self.frames_between(t0, t1) if e.get("latency_ms") is not None]
        all_lat = joined_latency(self.frames_between(t0, t1), host)
        return {"frame_latency_ms": {"median": r2(statistics.median(all_lat)) if all_lat else None,
                                     "p95": r2(pct(all_lat, 95)), "n": len(all_lat)},
                "cpu_ms_per_frame_log": {"median": r2(statistics.median(costs)) if costs else None,
                                         "p99": r2(pct(costs, 99)), "mean": r2(statistics.fmean(costs)) if costs else None,
                                         "n": len(costs)},
                "frame_kinds": kinds,
                "video_frame_latency_ms": {"median": r2(statistics.median(lat)) if lat else None,
                                           "p95": r2(pct(lat, 95)), "n": len(lat)}}


class PeerOnXvfb(System):
    """A peer whose workload runs on a plain Xvfb we start."""

    def start_display(self):
        os.makedirs(self.wl(""), exist_ok=True)
        self.display = start_xvfb(self.procs, logdir=self.wdir)
        self.procs.start(self.workload_cmd(), log_path=os.path.join(self.wdir, "workload.log"),
                         env=dict(os.environ, DISPLAY=self.display))
        wait_for(lambda: os.path.exists(self.wl("ready")), 60, "the workload")

    def grab_source(self, path):
        grab(self.display, path)


class X11vnc(PeerOnXvfb):
    name = "x11vnc"

    def start(self):
        self.start_display()
        port = Relay.free_port()
        self.server = self.procs.start(["x11vnc", "-display", self.display, "-rfbport", str(port), "-localhost",
                                        "-nopw", "-forever", "-shared", "-noxrecord",
                                        # at most one update every 33 ms: the 30 fps cap
                                        "-defer", "33", "-wait", "33"],
                                       log_path=os.path.join(self.wdir, "x11vnc.log"))
        wait_for(lambda: "PORT=" in open(os.path.join(self.wdir, "x11vnc.log")).read(), 30, "x11vnc to listen")
        self.requests = RfbRequestCounter(W, H)
        self.relay = Relay(("127.0.0.1", port), watch_upstream=self.requests, name="vnc")
        # The viewer's screen is larger than the desktop so it shows it whole at 0,0 (no scrollbars).
        self.viewer_display = start_xvfb(self.procs, W + 64, H + 64, logdir=self.wdir)
        # Tight with JPEG at quality level 9 (libvncserver: JPEG quality 80 where Tight picks JPEG).
        self.viewer = self.procs.start(["xtightvncviewer", "-viewonly", "-encodings", "copyrect tight", "-quality",
                                        "9", f"127.0.0.1::{self.relay.port}"],
                                       log_path=os.path.join(self.wdir, "viewer.log"),
                                       env=dict(os.environ, DISPLAY=self.viewer_display))
        wait_for(lambda: self.relay.counts()[0] > 1000 and self.requests.value() >= 1, 30,
                 "the VNC viewer to receive the desktop")
        time.sleep(1.5)
        self.view_at = self.desktop_position()
        self.go_at = time.time()

    def desktop_position(self):
        """Where the viewer draws the remote desktop: its W x H window, absolute position."""
        r = subprocess.run(["xwininfo", "-root", "-tree"], capture_output=True, text=True, timeout=30,
                           env=dict(os.environ, DISPLAY=self.viewer_display))
        found = re.findall(rf"\s{W}x{H}[+-]-?\d+[+-]-?\d+\s+\+(-?\d+)\+(-?\d+)", r.stdout)
        if not found:
            raise RuntimeError("the VNC viewer shows no 1920x1080 desktop window")
        return int(found[-1][0]), int(found[-1][1])

    def counters(self):
        return {"bytes": self.relay.counts()[0], "frames": self.requests.value(), "cpu_s": cpu_s(self.server.pid),
                "t": time.time()}

    def grab_client(self, path, at):
        if self.viewer.poll() is not None:
            raise RuntimeError("the VNC viewer exited")
        grab(self.viewer_display, path, x=self.view_at[0], y=self.view_at[1])

    def stop(self):
        self.relay.close()
        super().stop()


class FfmpegX264(PeerOnXvfb):
    """The do-it-yourself stream: ffmpeg x11grab + libx264 zerolatency, MPEG-TS over TCP."""
    name = "ffmpeg_x264"

    def start(self):
        self.start_display()
        self.ts = os.path.join(self.wdir, "stream.ts")
        # TLS from ffmpeg to the sink, as Portico's stream carries TLS (ffmpeg's tls:// client
        # does not verify the certificate by default; the bytes are the same either way).
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(self.b.cert, self.b.key)
        # A live client decodes the stream as it arrives, as Portico's client does while Portico is
        # measured: one decoding thread, low delay and RGB pictures out, like Portico's (codec/
        # h264_decoder.cpp), so both streamers share the two cores with a decoder.
        live_decoder = ["ffmpeg", "-loglevel", "error", "-threads", "1", "-flags", "low_delay", "-f", "mpegts",
                        "-i", "pipe:0", "-pix_fmt", "bgra", "-f", "null", "-"]
        self.sink = Sink(self.ts, tls=tls, decoder=live_decoder, decoder_log=os.path.join(self.wdir, "decoder.log"))
        self.relay = Relay(("127.0.0.1", self.sink.port), name="diy")
        self.progress = os.path.join(self.wdir, "progress.txt")
        self.server = self.procs.start(
            ["ffmpeg", "-loglevel", "error", "-nostdin", "-f", "x11grab", "-draw_mouse", "0", "-framerate", "30",
             "-video_size", f"{W}x{H}", "-i", self.display, *HOST_X264, "-pix_fmt", "yuv420p", "-threads", "2",
             "-progress", self.progress, "-stats_period", "0.1", "-f", "mpegts",
             f"tls://127.0.0.1:{self.relay.port}"], log_path=os.path.join(self.wdir, "ffmpeg.log"))
        # ffmpeg connects to the relay and pushes: its bytes are the relay's client-to-target direction.
        wait_for(lambda: self.relay.counts()[1] > 1000, 30, "the ffmpeg stream to flow")
        time.sleep(1.5)
        self.go_at = time.time()

    def frames(self):
        try:
            with open(self.progress) as f:
                found = re.findall(r"^frame=(\d+)", f.read(), re.M)
            return int(found[-1]) if found else 0
        except OSError:
            return 0

    def counters(self):
        return {"bytes": self.relay.counts()[1], "frames": self.frames(), "cpu_s": cpu_s(self.server.pid),
                "t": time.time()}

    def grab_client(self, path, at):
        # The stream's picture at `at`: ffmpeg stops now, the last picture it sent is the client's.
        if self.server.poll() is not None:
            raise RuntimeError("ffmpeg exited early: " + open(os.path.join(self.wdir, "ffmpeg.log")).read()[-300:])
        os.killpg(self.server.pid, signal.SIGINT)
        self.server.wait(timeout=20)
        time.sleep(0.3)
        # What a client decodes: the last picture of the received stream.
        n = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_packets", "-show_entries",
                            "stream=nb_read_packets", "-of", "csv=p=0", self.ts], capture_output=True, text=True,
                           timeout=120).stdout.strip()
        r = subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", self.ts, "-vf", f"select=gte(n\\,{int(n.split()[0]) - 1})",
                            "-frames:v", "1", path], capture_output=True, text=True, timeout=120)
        if not os.path.exists(path):
            raise RuntimeError("cannot decode the DIY stream: " + r.stderr[-300:])

    def delivered_frames(self, t0, t1):
        """The stream's frames encoded between the window's counters (every frame a client decodes),
        decoded by ffmpeg and turned into RGB the way Portico's client does (framecompare.ClientColour)."""
        f0, f1 = self.window_frames
        colour = framecompare.ClientColour()
        p = subprocess.Popen(["ffmpeg", "-loglevel", "error", "-i", self.ts, "-f", "rawvideo", "-pix_fmt", "yuv420p",
                              "-"], stdout=subprocess.PIPE)
        try:
            for n, yuv in enumerate(framecompare.read_yuv_frames(p.stdout, W, H)):
                if f0 <= n < f1:
                    yield colour.rgb(yuv, W, H)
        finally:
            p.stdout.close()
            p.wait(timeout=120)

    def stop(self):
        self.relay.close()
        self.sink.close()
        super().stop()


class Xpra(System):
    """Xpra 3.1 with one encoding setting (a subclass per setting, see xpra_class), over TLS,
    capped at 30 frames a second, mmap off on both ends."""
    name = "xpra"
    encoding = "auto"
    COMMON = ["--mmap=no", "--speaker=off", "--microphone=off", "--clipboard=no", "--notifications=no",
              "--webcam=no", "--pulseaudio=no", "--bell=no", "--system-tray=no", "--dbus-proxy=no"]

    def start(self):
        os.makedirs(self.wl(""), exist_ok=True)
        self.sockdir = os.path.join(self.wdir, "xpra-sock")
        os.makedirs(self.sockdir, exist_ok=True)
        os.makedirs(os.path.join(self.wdir, "run"), mode=0o700, exist_ok=True)
        self.env = dict(os.environ, XDG_RUNTIME_DIR=os.path.join(self.wdir, "run"))
        port = Relay.free_port()
        self.display = f":{free_display()}"
        # Xpra's own Xvfb, with the workload as its child: the usual `xpra start` setup, where
        # Xpra manages each window (per-window encodings, scroll detection, video regions).
        # mmap off: a client on the same machine would otherwise get pixels through shared
        # memory and no bytes would cross the socket. TLS (--bind-ssl): Portico's bytes include
        # TLS. XPRA_BATCH_MIN_DELAY=33: at most one update of a window every 33 ms, the 30 fps
        # cap every peer has (Xpra's default minimum is 5 ms).
        self.server = self.procs.start(
            ["xpra", "start", self.display, "--daemon=no", f"--bind-ssl=127.0.0.1:{port}", f"--ssl-cert={self.b.cert_both}",
             f"--xvfb=Xvfb +extension Composite -screen 0 {W}x{H}x24+32 -nolisten tcp -noreset",
             "--start-child=" + " ".join(self.workload_cmd()), "--exit-with-children=no", "--mdns=no",
             "--printing=no", "--file-transfer=no", "--systemd-run=no", "--dbus-launch=", "--html=off",
             "--opengl=no", "--xsettings=no", f"--socket-dirs={self.sockdir}", f"--encoding={self.encoding}",
             *self.COMMON],
            log_path=os.path.join(self.wdir, "xpra-server.log"), env=dict(self.env, XPRA_BATCH_MIN_DELAY="33"))
        wait_for(lambda: os.path.exists(self.wl("ready")), 90, "the workload under Xpra")
        self.relay = Relay(("127.0.0.1", port), name="xpra")
        self.client_display = start_xvfb(self.procs, logdir=self.wdir)
        self.client_log = os.path.join(self.wdir, "xpra-client.log")
        self.client = self.procs.start(
            ["xpra", "attach", f"ssl://127.0.0.1:{self.relay.port}/", "--ssl-server-verify-mode=none",
             f"--encoding={self.encoding}", "--opengl=no", "--tray=no", "--desktop-scaling=off",
             f"--socket-dirs={self.sockdir}", *self.COMMON],
            log_path=self.client_log, env=dict(self.env, DISPLAY=self.client_display))
        wait_for(lambda: "Attached to" in open(self.client_log).read(), 60, "xpra attach")
        wait_for(lambda: self.relay.counts()[0] > 1000, 30, "the Xpra client to receive the window")
        time.sleep(1.0)
        info = self.info()
        if not any(k.startswith("client.") for k in info):
            raise RuntimeError("xpra info shows no attached client")
        if info.get("client.mmap.enabled", "False") == "True" or int(info.get("client.connection.mmap_bytecount", 0) or 0):
            raise RuntimeError("xpra negotiated mmap: bytes would bypass the socket")
        # What the client's screen shows before the workload: a client that never draws again
        # would keep showing it.
        self.before = os.path.join(self.wdir, "client-screen-before.png")
        grab(self.client_display, self.before)
        self.info_before = self.info()
        self.go_at = time.time()

    def info(self):
        r = subprocess.run(["xpra", "info", self.display, f"--socket-dirs={self.sockdir}"], capture_output=True,
                           text=True, timeout=30, env=self.env)
        out = {}
        for line in r.stdout.splitlines():
            k, _, v = line.partition("=")
            out[k.strip()] = v.strip()
        return out

    def counters(self):
        # Draw packets the server sent: one per refreshed region (a frame may need several).
        # No `xpra info` inside the window: it costs the server (and the machine) a second of CPU.
        return {"bytes": self.relay.counts()[0], "cpu_s": cpu_s(self.server.pid), "t": time.time()}

    def draw_packets(self):
        """(draw packets, seconds, frames per encoding) from just before "go" to now (after the
        check grab): Xpra's counters are read outside the measurement window."""
        info = self.info()
        sent, before = self.frames_by_encoding(info), self.frames_by_encoding(self.info_before)
        return (int(info.get("client.damage.packets_sent", 0)) - int(self.info_before.get("client.damage.packets_sent", 0)),
                time.time() - self.go_at, {k: v - before.get(k, 0) for k, v in sent.items() if v > before.get(k, 0)})

    @staticmethod
    def frames_by_encoding(info):
        """What Xpra actually sent: its per-window, per-encoding frame counters, summed."""
        out = {}
        for k, v in info.items():
            m = re.match(r"client\.window\.\d+\.total_frames\.(.+)$", k)
            if m and v.isdigit():
                out[m.group(1)] = out.get(m.group(1), 0) + int(v)
        return out

    # Xpra forwards windows, not a screen: its server display's root does not show them where the
    # client does, so quality compares the workload's front window on both sides, content only.
    def front_window(self, display):
        """Absolute x, y, width, height of the front app's largest viewable window."""
        how = {"video": ["--name", "benchvideo"], "browser": ["--classname", "dillo"]}.get(
            self.workload, ["--classname", "benchmain"])
        env = dict(os.environ, DISPLAY=display)
        ids = subprocess.run(["xdotool", "search", *how], capture_output=True, text=True, timeout=30,
                             env=env).stdout.split()
        best = None
        for i in ids:
            g = subprocess.run(["xwininfo", "-id", i], capture_output=True, text=True, timeout=30, env=env).stdout
            v = [re.search(rf"{k}:\s+(-?\d+)", g) for k in ("Absolute upper-left X", "Absolute upper-left Y",
                                                             "Width", "Height")]
            if all(v) and "IsViewable" in g:
                x, y, w, h = (int(m.group(1)) for m in v)
                if not best or w * h > best[2] * best[3]:
                    best, self.front_id = (x, y, w, h), i
        if not best:
            raise RuntimeError(f"no viewable workload window on {display}")
        self.notes.append(f"{display}: window {best[2]}x{best[3]} at {best[0]},{best[1]}")
        return best

    def grab_source(self, path):
        # Xpra's server composites windows off screen: the root shows nothing of them, so the
        # source is the window's own content (GetImage on the window).
        self.front_window(self.display)
        grab(self.display, path, window=self.front_id)

    def grab_client(self, path, at):
        if self.client.poll() is not None:
            raise RuntimeError("the xpra client exited")
        # The client's whole screen, kept as evidence that it paints; refused if blank/unchanged.
        self.screen = os.path.join(self.wdir, "client-screen.png")
        grab(self.client_display, self.screen)
        ok, why = framecompare.painted(self.screen, self.before)
        if not ok:
            raise RuntimeError(f"refused: {why} (see {self.screen})")
        self.view_path = path

    def align(self, ref, view):
        """The workload's front window, on both sides at the same size: Xpra forwards windows."""
        x, y, w, h = self.front_window(self.client_display)
        sw, sh = png_size(ref)
        x0, y0 = max(x, 0), max(y, 0)
        w, h = min(w - (x0 - x), W - x0, sw), min(h - (y0 - y), H - y0, sh)
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", self.screen, "-vf", f"crop={w}:{h}:{x0}:{y0},format=rgb24",
                        view], check=True, capture_output=True, timeout=60)
        if (sw, sh) != (w, h):  # same size on both sides for the comparison
            tmp = ref + ".full.png"
            os.replace(ref, tmp)
            subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", tmp, "-vf", f"crop={w}:{h}:0:0", ref], check=True,
                           capture_output=True, timeout=60)

    def extra(self, t0, t1):
        if self.workload == "dragging":
            self.notes.append("Xpra manages the windows (seamless mode): a window move is a geometry message, "
                              "not pixels, hence almost no bytes; the moved window overlaps the compared main "
                              "window differently on each side, so this quality figure is not comparable")
        return {"encoding_setting": self.encoding}

    def stop(self):
        self.relay.close()
        # A signalled xpra server leaves its Xvfb running (so a session could be taken over);
        # `xpra stop` ends both.
        try:
            subprocess.run(["xpra", "stop", self.display, f"--socket-dirs={self.sockdir}"], env=self.env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            pass
        super().stop()


def xpra_class(encoding):
    return type(f"Xpra_{encoding}", (Xpra,), {"name": f"xpra_{encoding.replace('/', '')}", "encoding": encoding})


# ---------------------------------------------------------------- raw x264 (per-frame baseline)
def run_raw_x264(b, workload, run):
    """Grab the workload's frames losslessly with x11grab, then time libx264 alone on them (same
    preset, tune, CRF, profile and thread count as Portico's encoder)."""
    wdir = os.path.join(b.tmp, f"run{run}", f"raw_x264-{workload}")
    os.makedirs(wdir, exist_ok=True)
    s = PeerOnXvfb(b, workload, wdir)
    grabbed = os.path.join(wdir, "grab.mkv")
    try:
        s.start_display()
        open(s.wl("go"), "w").close()
        time.sleep(WARM_S)
        r = subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "x11grab", "-draw_mouse", "0", "-framerate",
                            "30", "-video_size", f"{W}x{H}", "-i", s.display, "-t", str(b.active - WARM_S - 1),
                            "-c:v", "libx264rgb", "-preset", "ultrafast", "-qp", "0", grabbed],
                           capture_output=True, text=True, timeout=120, env=dict(os.environ, DISPLAY=s.display))
        if r.returncode != 0:
            raise RuntimeError("x11grab failed: " + r.stderr[-300:])
    finally:
        s.stop()
    # Decoding and dropping repeated frames (mpdecimate: Portico encodes only on damage) run in
    # their own process; only the encoder process is measured.
    dec = subprocess.Popen(["ffmpeg", "-loglevel", "error", "-i", grabbed, "-vf", "mpdecimate", "-fps_mode", "passthrough",
                            "-pix_fmt", "yuv420p",
                            "-f", "rawvideo", "-"], stdout=subprocess.PIPE)
    out264 = os.path.join(wdir, "out.264")
    enc = subprocess.Popen(["ffmpeg", "-hide_banner", "-nostats", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s",
                            f"{W}x{H}", "-r", "30", "-i", "-", *HOST_X264, "-threads", "2", "-x264-params",
                            "sliced-threads=1", "-f", "h264", "-y", out264],
                           stdin=dec.stdout, stderr=subprocess.PIPE, text=True)
    dec.stdout.close()
    err = enc.stderr.read()
    _, status, ru = os.wait4(enc.pid, 0)
    enc.returncode = status
    dec.wait()
    m = re.search(r"frame I:(\d+)", err), re.search(r"frame P:(\d+)", err)
    n = sum(int(x.group(1)) for x in m if x)
    if n == 0:
        raise RuntimeError("raw x264 encoded no frames: " + err[-300:])
    cpu = ru.ru_utime + ru.ru_stime
    return {"frames": n, "cpu_ms_per_frame": r2(cpu * 1000 / n), "bytes_per_frame": round(os.path.getsize(out264) / n),
            "note": "x11grab at 30 fps, lossless, repeated frames dropped (mpdecimate); libx264 veryfast/zerolatency "
                    f"CRF {CRF} baseline, 2 sliced threads; CPU of the encoder process only"}


# ---------------------------------------------------------------- one measurement
def measure(b, cls, workload, run):
    wdir = os.path.join(b.tmp, f"run{run}", f"{cls.name}-{workload}")
    os.makedirs(wdir)
    s = cls(b, workload, wdir)
    s.run = run
    try:
        s.start()
        wait_until(s.go_at)
        open(s.wl("go"), "w").close()
        t_go = time.time()
        wait_until(t_go + WARM_S)
        c0 = s.counters()
        wait_until(t_go + b.active)
        c1 = s.counters()
        # "Exact within 1 s": the client's picture exactly 1 s after the workload's last change.
        done = read_mark(s.wl("done"), 30)
        check_at = done + SETTLE_S
        wait_until(check_at)
        ref, view = os.path.join(wdir, "source.png"), os.path.join(wdir, "client-view.png")
        late = time.time() - check_at  # how late the peers' grab starts (Portico's is replayed exactly)
        if isinstance(s, Portico):  # its picture is replayed afterwards; the session ends with the client
            s.grab_source(ref)
            s.grab_client(view, check_at)
        else:  # the peers' pictures are grabbed live: the client's first, at the moment
            s.grab_client(view, check_at)
            s.grab_source(ref)
        s.align(ref, view)
        dt = c1["t"] - c0["t"]
        sent = None
        if isinstance(s, Portico):
            frames = s.frames_in(c0["t"], c1["t"])
        elif isinstance(s, Xpra):  # counted over go..check, scaled to the window (see draw_packets)
            packets, span, sent = s.draw_packets()
            frames = round(packets * dt / span)
        else:
            frames = c1["frames"] - c0["frames"]
        cpu = None if c0["cpu_s"] is None or c1["cpu_s"] is None else c1["cpu_s"] - c0["cpu_s"]
        nbytes = c1["bytes"] - c0["bytes"]
        out = {"bytes_per_s": round(nbytes / dt), "frames_per_s": r2(frames / dt, 1), "frames": frames,
               "bytes_per_frame": round(nbytes / frames) if frames else None,
               "server_cpu_pct": r2(100 * cpu / dt, 1) if cpu is not None else None,
               "server_cpu_ms_per_frame": r2(cpu * 1000 / frames) if cpu is not None and frames else None,
               "quality": compare(ref, view), "window_s": r2(dt),
               "checked_s_after_last_change": r2(SETTLE_S + (0 if isinstance(s, Portico) else late), 3)}
        if sent is not None:  # Xpra: the encodings it actually sent (frames per encoding, go..check)
            out["encodings_sent"] = sent
        out.update(s.extra(c0["t"], c1["t"]))
        if workload == "video" and isinstance(s, (Portico, FfmpegX264)):
            s.window_frames = (c0.get("frames"), c1.get("frames"))
            pq = out["per_frame_quality"] = score_video(b, s, c0["t"], c1["t"])
            # Per distinct clip picture the client got: the figure "at equal delivered fps". A
            # frame-rate grabber (the DIY stream) also sends the pictures it grabbed twice; those
            # bytes are its own, so they stay in, as Portico's refinement would.
            if pq.get("distinct_clip_frames"):
                out["bytes_per_picture"] = round(nbytes / pq["distinct_clip_frames"])
        keep_artifacts(b, run, s.name, workload, wdir)
        if s.notes:
            out["notes"] = s.notes
        if nbytes <= 0 and workload != "idle":
            out["error"] = "no bytes reached the client during the workload"
        return out
    except Exception as e:  # one failing system must not lose the others' figures
        log(f"{cls.name}/{workload} failed: {e}")
        keep_artifacts(b, run, s.name, workload, wdir)
        return {"error": str(e)}
    finally:
        s.stop()


def score_video(b, s, t0, t1):
    """PSNR of every frame the client got in the window against the clip frame it shows."""
    scores = framecompare.FrameScores()
    started = time.time()
    for frame in s.delivered_frames(t0, t1):
        scores.add(*b.clip_frames().match(frame))
    out = scores.result(t1 - t0)
    out["scoring_s"] = r2(time.time() - started, 1)
    # The ceiling: the source screen grabbed at the check (the player's own picture) against its clip frame.
    src = os.path.join(s.wdir, "source.png")
    if os.path.exists(src):
        from PIL import Image
        _, rgb_db, luma_db = b.clip_frames().match(np.asarray(Image.open(src).convert("RGB")))
        out["source_screen_vs_clip_db"], out["source_screen_vs_clip_luma_db"] = r2(rgb_db), r2(luma_db)
    return out


def keep_artifacts(b, run, system, workload, wdir):
    """Screenshots stay with the run (source, client view, Xpra's whole client screen)."""
    dest = os.path.join(b.artifacts, f"run{run}", f"{workload}-{system}")
    os.makedirs(dest, exist_ok=True)
    for name in ("source.png", "client-view.png", "client-screen.png", "client-screen-before.png"):
        if os.path.exists(os.path.join(wdir, name)):
            shutil.copy(os.path.join(wdir, name), dest)


# ---------------------------------------------------------------- Portico-only measurements
def portico_client(b, resource, duration, *extra, relay=None, timeout=300):
    env = dict(os.environ, PORTICO_PASSWORD=b.stack.password)
    cmd = [b.stack.bin("portico-client"), "--headless", "--broker", f"https://127.0.0.1:{(relay or b.relay).port}",
           "--user", "demo", "--ca", os.path.join(b.stack.state, "tls/broker.crt"), "--resource", resource,
           "--size", f"{W}x{H}", "--duration", str(duration), "--json", "--logoff", *extra]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def client_result(p, timeout=300):
    out, err = p.communicate(timeout=timeout)
    lines = [l for l in out.splitlines() if l.startswith("{")]
    stats = json.loads(lines[-1]) if lines else {}
    if p.returncode != 0:
        raise RuntimeError(f"portico-client exit {p.returncode}: {stats.get('error') or err[-300:]}")
    return stats


def input_to_photon(b, samples):
    d = os.path.join(b.tmp, "probe")
    os.makedirs(os.path.join(d, "wl"))
    p = portico_client(b, "bench-probe", 3, "--probe-latency", str(samples))
    stats = client_result(p)
    v = stats.get("probe_ms") or []
    return {"samples": len(v), "timeouts": stats.get("probe_timeouts", 0), "median_ms": r2(statistics.median(v)) if v else None,
            "p95_ms": r2(pct(v, 95)), "max_ms": r2(max(v)) if v else None,
            "path": "portico-client -> broker gateway (TLS) -> host (TLS), loopback; key = 'x' / BackSpace "
                    "alternately into an idle xterm; time from sending the key to the decoded frame that differs"}


def idle(b, seconds):
    d = os.path.join(b.tmp, "idle")
    os.makedirs(os.path.join(d, "wl"))
    frame_log = os.path.join(d, "frames.jsonl")
    p = portico_client(b, "bench-idle", b.pre + seconds, "--frame-log", frame_log)
    wait_for(lambda: os.path.exists(frame_log) and os.path.getsize(frame_log) > 0, 60, "the idle session's first frame")
    with open(frame_log) as f:
        first = json.loads(f.readline())["wall_ms"] / 1000
    wait_until(first + b.pre)
    b0, t0 = b.relay.counts()[0], time.time()
    wait_until(first + b.pre + seconds - 0.5)
    b1, t1 = b.relay.counts()[0], time.time()
    client_result(p)
    with open(frame_log) as f:
        frames = sum(1 for line in f if t0 <= json.loads(line)["wall_ms"] / 1000 <= t1)
    return {"bytes_per_s": r2((b1 - b0) / (t1 - t0), 1), "frames": frames, "window_s": r2(t1 - t0),
            "what": "xterm showing a page of text, nothing changing, 1920x1080; bytes on the wire (TLS) to the client"}


def joined_latency(client_entries, host):
    """Client receive wall time minus the host's capture wall time, per frame id (same machine clock).
    Works for every frame kind without a timestamp on the wire."""
    return [e["wall_ms"] - host[e["id"]]["capture_us"] / 1000 for e in client_entries
            if e["id"] in host and host[e["id"]].get("capture_us")]


def slow_link_dir(workload):
    return "slow-link" if workload == "scrolling" else f"slow-link-{workload}"


def slow_link_resource(workload):
    return "bench-slow" if workload == "scrolling" else f"bench-slow-{workload}"


def slow_link(b, seconds, workload="scrolling"):
    """A workload for `seconds` with the client behind a 2 Mbit/s token-bucket relay: scrolling
    (~0.4 Mbit/s of copies and strips: the link is not the bottleneck) or video (wants several
    Mbit/s: the link is saturated, so flow control and quality adaptation decide the latency)."""
    rate = 2_000_000 // 8
    relay = Relay(("127.0.0.1", b.stack.port), rate_bytes_s=rate, name="slow")
    d = os.path.join(b.tmp, slow_link_dir(workload))
    os.makedirs(os.path.join(d, "wl"), exist_ok=True)
    frame_log = os.path.join(d, "frames.jsonl")
    # A separate published app (own workload dir) running the workload.
    p = portico_client(b, slow_link_resource(workload), b.pre + seconds + 1, "--frame-log", frame_log, relay=relay,
                       timeout=seconds + 120)
    host = b.stack.host.pid
    rss = []
    try:
        wait_for(lambda: os.path.exists(os.path.join(d, "wl", "ready")), 60, "the slow-link workload")
        wait_for(lambda: os.path.exists(frame_log) and os.path.getsize(frame_log) > 0, 60, "the first frame over 2 Mbit/s")
        with open(frame_log) as f:
            first = json.loads(f.readline())["wall_ms"] / 1000
        wait_until(first + b.pre)
        open(os.path.join(d, "wl", "go"), "w").close()
        t_go = time.time()
        b0 = relay.counts()[0]
        while time.time() < t_go + seconds:
            rss.append((round(time.time() - t_go, 1), r2(rss_mb(host), 1)))
            time.sleep(1.0)
        b1, t1 = relay.counts()[0], time.time()
        stats = client_result(p, timeout=120)
    finally:
        relay.close()
    entries = []
    with open(frame_log) as f:
        for line in f:
            e = json.loads(line)
            if t_go + WARM_S <= e["wall_ms"] / 1000 <= t1:
                entries.append(e)
    host = host_frame_log(b.frame_log_dir, stats.get("session_id"))
    lat = joined_latency(entries, host)
    stamped = [e["latency_ms"] for e in entries if e["latency_ms"] is not None]
    kinds = {}
    for e in entries:
        k = host.get(e["id"], {}).get("kind", "unknown")
        kinds[k] = kinds.get(k, 0) + 1
    values = [v for _, v in rss if v is not None]
    settled = [v for t, v in rss if v is not None and t >= 5]
    return {"link": "2 Mbit/s token bucket (16 kB burst) on the server-to-client direction, 64 kB socket buffers",
            "workload": workload, "seconds": seconds, "bytes_per_s": round((b1 - b0) / (t1 - t_go)), "frames": len(entries),
            "frames_per_s": r2(len(entries) / (t1 - t_go), 1),
            "newest_frame_latency_ms": {"median": r2(statistics.median(lat)) if lat else None, "p95": r2(pct(lat, 95)),
                                        "max": r2(max(lat)) if lat else None, "n": len(lat),
                                        "unmatched": len(entries) - len(lat),
                                        "video_frames_stamped_median": r2(statistics.median(stamped)) if stamped else None},
            "frame_kinds": kinds,
            "host_rss_mb": {"first": values[0] if values else None, "last": values[-1] if values else None,
                            "min": min(values) if values else None, "max": max(values) if values else None,
                            "drift_after_5s": r2(settled[-1] - settled[0], 1) if len(settled) > 1 else None,
                            "range_after_5s": r2(max(settled) - min(settled), 1) if settled else None,
                            "samples": rss},
            "client": {k: stats.get(k) for k in ("frames", "video_frames", "tile_frames", "decode_errors", "bytes", "fps",
                                                 "kbps", "decode_ms_median", "rtt_ms_median")},
            "latency_note": "per frame id: the client's receive wall time (--frame-log) minus the capture wall time in "
                            "the host's frame log (PORTICO_FRAME_LOG_DIR capture_us; refinement frames: when they were "
                            "made), same machine clock; every frame kind, no timestamp on the wire needed"}


# ---------------------------------------------------------------- aggregation and targets
def aggregate(runs):
    """One figure from several runs' dicts: numbers -> median, min, max, n; anything else ->
    the list of values seen (e.g. quality.exact of every run); nested dicts recursively."""
    runs = [r for r in runs if isinstance(r, dict)]
    keys = []
    for r in runs:
        keys += [k for k in r if k not in keys]
    out = {}
    for k in keys:
        vals = [r[k] for r in runs if k in r]
        if all(isinstance(v, dict) for v in vals):
            out[k] = aggregate(vals)
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            sm = summary(vals, digits=3)
            out[k] = {"median": sm["median"], "min": sm["min"], "max": sm["max"], "n": sm["n"]}
        else:
            out[k] = vals
    return out


def med(fig, *path):
    """The median of an aggregated figure (None when absent)."""
    v = fig
    for p in path:
        v = v.get(p) if isinstance(v, dict) else None
    return v.get("median") if isinstance(v, dict) else None


def combine(per_run, systems):
    """workloads -> system -> aggregate over runs; runs with an error are left out (listed)."""
    out = {}
    for w in per_run[0]["workloads"] if per_run else ():
        per_run_w = [r for r in per_run if w in r["workloads"]]
        out[w] = {}
        names = []
        for r in per_run:
            names += [n for n, v in r["workloads"].get(w, {}).items() if isinstance(v, dict) and n not in names]
        for n in names:
            results = [r["workloads"][w].get(n) for r in per_run_w]
            good = [x for x in results if x and "error" not in x]
            agg = aggregate(good) if good else {}
            agg["runs_ok"] = len(good)
            errors = [x["error"] for x in results if x and "error" in x]
            if errors:
                agg["errors"] = errors
            out[w][n] = agg
        xpras = {n: f for n, f in out[w].items() if n.startswith("xpra_") and "errors" not in f
                 and med(f, "bytes_per_s") is not None}
        if xpras:  # the peer: the Xpra setting with the fewest bytes among those verified painting in every run it ran
            best = min(xpras, key=lambda n: med(xpras[n], "bytes_per_s"))
            out[w]["xpra_best"] = {"setting": best, "bytes_per_s": med(xpras[best], "bytes_per_s"),
                                   "bytes_per_s_by_setting": {n: med(f, "bytes_per_s") for n, f in xpras.items()}}
    return out


def targets(res):
    R = res["workloads"]
    t = {}

    def ratio(a, b):
        return r2(a / b, 3) if a is not None and b else None

    # Typing and scrolling (every text variant): bytes <= 0.5x Xpra's best, text exact 1 s after the last change.
    text = {}
    for w in TEXT_WORKLOADS:
        if w not in R or "portico" not in R[w]:
            continue
        ours = med(R[w]["portico"], "bytes_per_s")
        best = R[w].get("xpra_best", {})
        exact = R[w]["portico"].get("quality", {}).get("exact")
        rt = ratio(ours, best.get("bytes_per_s"))
        text[w] = {"ours_bytes_per_s": ours, "xpra_best_bytes_per_s": best.get("bytes_per_s"),
                   "xpra_best_setting": best.get("setting"), "ratio": rt, "text_exact_1s_every_run": exact,
                   "ours_bytes_per_frame": med(R[w]["portico"], "bytes_per_frame"),
                   "pass": rt is not None and rt <= 0.5 and bool(exact) and all(exact)}
    t["text_bytes_vs_xpra_best"] = {"target": "<= 0.5x Xpra's best setting, text exact 1.0 s after the last change "
                                              "(every run)", "by_workload": text,
                                    "pass": bool(text) and all(v["pass"] for v in text.values())}
    # Video: bytes <= 0.8x the DIY stream at equal or better mean PSNR over every frame, at equal delivered fps.
    if "video" in R and "portico" in R["video"] and "ffmpeg_x264" in R["video"]:
        o, d = R["video"]["portico"], R["video"]["ffmpeg_x264"]
        ob, db = med(o, "bytes_per_s"), med(d, "bytes_per_s")
        op, dp = med(o, "per_frame_quality", "mean_psnr_db"), med(d, "per_frame_quality", "mean_psnr_db")
        of, df = med(o, "per_frame_quality", "distinct_clip_frames_per_s"), med(d, "per_frame_quality",
                                                                                 "distinct_clip_frames_per_s")
        rt = ratio(ob, db)
        # The streams deliver different numbers of pictures (the player drops frames under load,
        # differently beside each system), so "at equal delivered fps" is bytes per delivered
        # distinct picture; bytes/s are reported beside it.
        opic, dpic = med(o, "bytes_per_picture"), med(d, "bytes_per_picture")
        rpic = ratio(opic, dpic)
        t["video_bytes_vs_diy_x264"] = {
            "target": "bytes per delivered distinct picture <= 0.8x the DIY stream's, mean PSNR over every "
                      "delivered frame >= the DIY stream's, delivered distinct pictures/s >= 0.95x the DIY stream's",
            "ours_bytes_per_picture": opic, "diy_bytes_per_picture": dpic, "ratio_per_picture": rpic,
            "ours_bytes_per_s": ob, "diy_bytes_per_s": db, "ratio_per_s": rt, "ours_mean_psnr_db": op,
            "diy_mean_psnr_db": dp, "ours_distinct_fps": of, "diy_distinct_fps": df,
            # Not part of the target: the encoder-sensitive view (see framecompare.py).
            "ours_mean_luma_psnr_db": med(o, "per_frame_quality", "mean_luma_psnr_db"),
            "diy_mean_luma_psnr_db": med(d, "per_frame_quality", "mean_luma_psnr_db"),
            "pass": bool(rpic is not None and rpic <= 0.8 and op is not None and dp is not None and op >= dp
                         and of is not None and df and of >= 0.95 * df)}
    # Server cost per frame (every workload): the host's own per-frame CPU <= 1.0x libx264 alone.
    cost = {}
    for w, f in R.items():
        ours, raw = med(f.get("portico", {}), "cpu_ms_per_frame_log", "mean"), med(f.get("raw_x264", {}), "cpu_ms_per_frame")
        if ours is not None and raw:
            cost[w] = {"ours_ms": ours, "raw_x264_ms": raw, "ratio": ratio(ours, raw), "pass": ours <= raw}
    t["cpu_per_frame_vs_raw_x264"] = {"target": "<= 1.0x", "by_workload": cost,
                                      "pass": bool(cost) and all(v["pass"] for v in cost.values()),
                                      "how": "median over runs of the mean host frame-log cpu_us (capture+convert+"
                                             "encode, whole process) of the frames the client received, against "
                                             "libx264 alone on the workload's grabbed frames (same settings)"}
    itp = res.get("input_to_photon", {})
    t["input_to_photon_p95"] = {"target_ms": 30, "p95_ms": itp.get("p95_ms"), "median_ms": itp.get("median_ms"),
                                "pass": itp.get("p95_ms") is not None and itp["p95_ms"] <= 30 and not itp.get("timeouts"),
                                "note": "input to decode in the headless client, not to photons"}
    idl = res.get("idle", {})
    t["idle_bytes_per_s"] = {"target": 1000, "value": idl.get("bytes_per_s"),
                             "pass": idl.get("bytes_per_s") is not None and idl["bytes_per_s"] <= 1000}
    for key in ("slow_link", "slow_link_video"):
        sl = res.get(key, {})
        if not sl:
            continue
        p95 = (sl.get("newest_frame_latency_ms") or {}).get("p95")
        t[f"{key}_newest_frame_p95"] = {"target_ms": 300, "p95_ms": p95, "pass": p95 is not None and p95 <= 300,
                                        "link_mbit_s": r2((sl.get("bytes_per_s") or 0) * 8 / 1e6, 2)}
        rng = (sl.get("host_rss_mb") or {}).get("range_after_5s")
        drift = (sl.get("host_rss_mb") or {}).get("drift_after_5s")
        t[f"{key}_host_memory_flat"] = {"target_mb": 10, "range_mb": rng, "drift_mb": drift,
                                        "pass": rng is not None and rng <= 10 and abs(drift or 0) <= 10}
    return t


# ---------------------------------------------------------------- main
class Bench:
    pass


def make_clip(seconds):
    cache = os.path.join(os.path.expanduser("~"), ".cache", "portico-bench")
    os.makedirs(cache, exist_ok=True)
    clip = os.path.join(cache, f"testsrc2-1080p30-{int(seconds)}s.mp4")
    if not os.path.exists(clip):
        log("generating the video clip (ffmpeg testsrc2, 1080p30)")
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                        f"testsrc2=size={W}x{H}:rate=30", "-t", str(seconds), "-c:v", "libx264", "-preset", "veryfast",
                        "-crf", "10", "-pix_fmt", "yuv420p", clip + ".tmp.mp4"], check=True, timeout=600)
        os.replace(clip + ".tmp.mp4", clip)
    return clip


def versions():
    def first_line(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.splitlines()[0].strip()
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return None
    return {"ffmpeg": first_line(["ffmpeg", "-version"]), "xpra": first_line(["xpra", "--version"]),
            "x11vnc": first_line(["x11vnc", "-version"]),
            "vnc_viewer": "xtightvncviewer (Debian " + (first_line(["dpkg-query", "-W", "-f=${Version}", "xtightvncviewer"]) or "?") + ")"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    ap.add_argument("--runs", type=int, default=3, help="measurements of every workload x system (medians, spread)")
    ap.add_argument("--active", type=float, default=10, help="seconds each workload changes the screen")
    ap.add_argument("--probe-samples", type=int, default=100)
    ap.add_argument("--slow-seconds", type=float, default=60)
    ap.add_argument("--only", default=",".join(DEFAULT_SYSTEMS), help="of " + ", ".join(SYSTEMS))
    ap.add_argument("--workloads", default=",".join(DEFAULT_WORKLOADS), help="of " + ", ".join(WORKLOADS))
    ap.add_argument("--xpra-encodings", default=",".join(XPRA_ENCODINGS), help="Xpra settings tried; the best is the peer")
    ap.add_argument("--skip-extras", action="store_true", help="no input-to-photon, idle or slow link")
    ap.add_argument("--keep", action="store_true", help="keep the whole work directory (logs, recordings)")
    ap.add_argument("--out", default=os.path.join(REPO, "bench", "results", "display.json"))
    args = ap.parse_args()
    for tool in ("Xvfb", "xterm", "xdotool", "ffmpeg", "ffplay", "x11vnc", "xtightvncviewer", "xpra", "xwd", "openssl",
                 "vi", "dillo"):
        if not shutil.which(tool):
            sys.exit(f"bench_display: {tool} is missing; run deploy/install-deps.sh --bench")
    systems = [s for s in args.only.split(",") if s]
    workloads = [w for w in args.workloads.split(",") if w]
    for w in workloads:
        if w not in WORKLOADS:
            sys.exit(f"bench_display: unknown workload {w} (known: {', '.join(WORKLOADS)})")
    for s_ in systems:
        if s_ not in SYSTEMS:
            sys.exit(f"bench_display: unknown system {s_} (known: {', '.join(SYSTEMS)})")
    if args.runs < 1:
        sys.exit("bench_display: --runs wants at least 1")

    # A TERM (e.g. a timeout) unwinds through the finally blocks, which end every process started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    meta = Run("display")
    started = time.time()
    b = Bench()
    b.active = args.active
    b.pre = 3.0  # seconds between the Portico client's first frame and "go" (the resize to 1080p settles)
    b.tmp = tempfile.mkdtemp(prefix="portico-bench-display-")
    # Screenshots of every measurement are kept (the Xpra client's screen is the evidence that it painted).
    b.artifacts = os.path.join(tempfile.gettempdir(), "portico-bench-display-artifacts-" + meta.meta["date"].replace(":", ""))
    os.makedirs(b.artifacts, exist_ok=True)
    b.cert, b.key, b.cert_both = make_cert(b.tmp)
    # The clip ends about a second before the workload does (ffplay needs a moment to start), so
    # the settled picture is its last frame, held.
    b.clip = make_clip(args.active - 1)
    clip_cache = {}

    def clip_frames():  # decoded once, when the first video frame is scored (1.7 GB of pictures)
        if "clip" not in clip_cache:
            clip_cache["clip"] = framecompare.Clip(b.clip, W, H)
        return clip_cache["clip"]
    b.clip_frames = clip_frames
    b.frame_log_dir = os.path.join(b.tmp, "host-frames")
    os.makedirs(b.frame_log_dir)
    os.environ["PORTICO_FRAME_LOG_DIR"] = b.frame_log_dir
    classes = {"portico": [Portico], "x11vnc": [X11vnc], "ffmpeg_x264": [FfmpegX264],
               "xpra": [xpra_class(e) for e in args.xpra_encodings.split(",") if e]}

    res = {"benchmark": "display", "versions": versions(),
           "setup": {"screen": f"{W}x{H}", "runs": args.runs, "active_s": args.active,
                     "measure_window_s": args.active - WARM_S, "check_s_after_last_change": SETTLE_S, "crf": CRF,
                     "peer_fps_cap": FPS_CAP, "xpra_settings": args.xpra_encodings.split(","),
                     "artifacts": b.artifacts},
           "workloads": {}, "runs": []}

    need_portico = "portico" in systems or not args.skip_extras
    b.stack = Stack(os.path.abspath(args.build), REPO, name="bench-display")
    if need_portico:
        b.stack.start()
        b.relay = Relay(("127.0.0.1", b.stack.port), name="portico")
    broker = b.stack.bin("portico-broker") if need_portico else None

    def publish(rid, workload, wdir, active=args.active, clip=b.clip):
        cmd = [PYTHON, WORKLOAD_PY, workload, "--dir", os.path.join(wdir, "wl"), "--active", str(active)]
        if workload == "video":
            cmd += ["--clip", clip]
        subprocess.run([broker, "publish", "--state", b.stack.state, "--id", rid, "--name", rid, "--", *cmd],
                       check=True, capture_output=True)

    def write(final):
        res["workloads"] = combine(res["runs"], systems)
        res["targets"] = targets(res)
        res["run_s"] = round(time.time() - started, 1)
        res["complete"] = final
        out = {**res, **meta.finish()}
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        Run.write(out, args.out)
        return out
    try:
        if need_portico:
            for w in workloads:
                # The workload dir is per run: Portico launches the published command anew each time.
                for run in range(args.runs):
                    publish(f"bench-{w}-{run}", w, os.path.join(b.tmp, f"run{run}", f"portico-{w}"))
            publish("bench-probe", "idle", os.path.join(b.tmp, "probe"))
            publish("bench-idle", "idle", os.path.join(b.tmp, "idle"))
            for w in ("scrolling", "video"):
                publish(slow_link_resource(w), w, os.path.join(b.tmp, slow_link_dir(w)), args.slow_seconds,
                        make_clip(args.slow_seconds) if w == "video" else None)
        def settings_for(system, w, run):
            """Every Xpra setting in the first run; afterwards the one that won it (fewest bytes
            with the client verified painting), or all again if none did."""
            if system != "xpra" or run == 0:
                return classes[system]
            first = res["runs"][0]["workloads"].get(w, {})
            ok = {c.name: c for c in classes["xpra"] if c.name in first and "error" not in first[c.name]}
            if not ok:
                return classes["xpra"]
            return [ok[min(ok, key=lambda n: first[n]["bytes_per_s"])]]

        # Workload by workload, its runs back to back: a bench cut short (time) keeps every run of
        # the workloads it reached, first those the targets were set on. The file is written
        # after every workload x run.
        res["runs"] = [{"run": run, "workloads": {}} for run in range(args.runs)]
        for w in workloads:
            for run in range(args.runs):
                one = res["runs"][run]
                one["workloads"][w] = cell = {"started": now_utc(), "load_before": list(os.getloadavg())}
                for s_ in systems:
                    if s_ == "raw_x264":
                        log(f"{w} / run {run} / raw_x264")
                        t = time.time()
                        try:
                            r = run_raw_x264(b, w, run)
                        except Exception as e:
                            log(f"raw_x264/{w} failed: {e}")
                            r = {"error": str(e)}
                        r["run_s"] = r2(time.time() - t, 1)
                        cell["raw_x264"] = r
                        continue
                    if s_ == "x11vnc" and run > 0:
                        continue  # not a target peer: measured in the first run only (time)
                    for cls in settings_for(s_, w, run):
                        log(f"{w} / run {run} / {cls.name}")
                        t = time.time()
                        r = measure(b, cls, w, run)
                        r["run_s"] = r2(time.time() - t, 1)
                        cell[cls.name] = r
                cell["load_after"] = list(os.getloadavg())
                write(False)
        if not args.skip_extras:
            for key, fn, arg in (("input_to_photon", input_to_photon, args.probe_samples), ("idle", idle, 10),
                                 ("slow_link", slow_link, args.slow_seconds),
                                 ("slow_link_video", lambda b, s: slow_link(b, s, "video"), args.slow_seconds)):
                log(key)
                try:
                    res[key] = fn(b, arg)
                except Exception as e:
                    log(f"{key} failed: {e}")
                    res[key] = {"error": str(e)}
    finally:
        if need_portico:
            b.relay.close()
            b.stack.stop(keep=args.keep)
        if not args.keep:
            shutil.rmtree(b.tmp, ignore_errors=True)
        else:
            log("kept", b.tmp, b.stack.dir)
    res["notes"] = NOTES
    out = write(True)
    print(json.dumps(out, indent=2))


NOTES = [
    "Shared, noisy 2-core machine: other jobs ran during the measurement (load_before/load_after, and per run); "
    "ratios are more trustworthy than absolute times.",
    "Bytes are TCP payload through a counting relay in front of each server. TLS on Portico (client to broker "
    "gateway), Xpra (--bind-ssl, ssl:// client) and the DIY stream (ffmpeg tls:// to the sink); x11vnc is plain "
    "RFB (xtightvncviewer has no TLS): its bytes lack TLS's few per cent.",
    "Frame-rate cap: every peer at 30 frames/s (ffmpeg -framerate 30, x11vnc -defer 33 -wait 33, Xpra "
    "XPRA_BATCH_MIN_DELAY=33). Portico has no cap of its own (it sends on damage, up to its encode rate): every "
    "figure is also given per delivered frame (bytes_per_frame, server_cpu_ms_per_frame).",
    "Frames: Portico = display frames the client received; x11vnc = incremental FramebufferUpdateRequests; "
    "ffmpeg = frames encoded; Xpra = draw packets sent (one per region, a frame may be several).",
    "Quality: the client's picture exactly 1.0 s after the workload's last change (Portico: replayed from the "
    "client's --record at that wall time; peers: grabbed at that moment, the lateness is in "
    "checked_s_after_last_change) against an xwd grab of the source display, PSNR over RGB, 99 = identical.",
    "Video per-frame quality: every frame the client received in the window, matched by content to the clip frame "
    "it shows (bench/display/framecompare.py), PSNR over RGB; SSIM is not computed per frame.",
    "Xpra: several encoding settings run; the peer is the one with the fewest bytes among those whose client was "
    "verified to paint (a whole-screen grab of its display, kept in the artifacts, must not be blank or unchanged "
    "from before the workload) in every run. encodings_sent counts what it actually sent.",
]


if __name__ == "__main__":
    main()
