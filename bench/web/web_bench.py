#!/usr/bin/env python3
"""Web client benchmark: a real broker + session host on loopback, headless Chromium at 1920x1080
(bench/web/web_bench.mjs) against a real xterm session.

Measures, per frame kind (H.264 while the terminal scrolls at full speed; PNG/JPEG tiles while
typing), arrival-to-painted: from the WebSocket message event to just after the draw calls that put
the frame on the canvas (display.js paint hook). Also reported: arrival to the next animation frame
(the frame that composites it), the split arrival->decoded / decoded->painted, how many frames were
still waiting when each arrived, and browser input-to-photon (keydown -> the echo painted).
Targets: arrival-to-painted p95 <= 10 ms, input-to-photon p95 <= 40 ms.

Usage: bench/web/web_bench.py [--build build] [--keys 60] [--runs 1] [--out bench/results/web.json]
With --runs N the session is run N times and the samples pooled. Prints one JSON document (and
writes it to --out); machine.load_avg_1m is taken before and after, since the figures depend on it."""

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
repo = os.path.dirname(os.path.dirname(here))
sys.path.insert(0, os.path.join(repo, "tests", "integration"))
from stack import Stack  # noqa: E402

CLIP_SECONDS = 8


def machine():
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    return {"host": platform.node(), "cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(),
            "load_avg_1m": round(os.getloadavg()[0], 2)}


def summary(values):
    if not values:
        return {"median": None, "p95": None, "max": None, "n": 0}
    v = sorted(values)
    n = len(v)
    median = v[(n - 1) // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2
    p95 = v[min(n - 1, round(0.95 * (n - 1)))]
    return {"median": round(median, 2), "p95": round(p95, 2), "max": round(v[-1], 2), "n": n}


SCROLL_SECONDS = 8  # web_bench.mjs's default


def cpu_layouts(which):
    """{name: (server CPUs, browser CPUs)}. "split": the browser on half of the CPUs and the broker,
    host, Xvfb and app on the other half, as on a real deployment where the browser runs on the
    user's machine; "shared": everything on every CPU (this one machine plays both)."""
    cpus = sorted(os.sched_getaffinity(0))
    layouts = {}
    if which in ("split", "both"):
        if len(cpus) < 2:
            print("web bench: --cpus split needs at least 2 CPUs; measuring shared only", file=sys.stderr)
        else:
            layouts["split"] = (set(cpus[: len(cpus) // 2]), set(cpus[len(cpus) // 2:]))
    if which in ("shared", "both") or not layouts:
        layouts["shared"] = (set(cpus), set(cpus))
    return layouts


def measure(args, clip, server_cpus, client_cpus):
    """Runs the browser session args.runs times against one stack; returns the pooled result."""
    all_cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, server_cpus)  # the broker, host, Xvfb and app inherit it
    try:
        stack = Stack(os.path.abspath(args.build), repo, name="webbench").start()
    finally:
        os.sched_setaffinity(0, all_cpus)
    runs = []
    try:
        env = dict(os.environ, PORTICO_URL=stack.url + "/", PORTICO_USER="demo", PORTICO_PASSWORD=stack.password,
                   BENCH_KEYS=str(args.keys), BENCH_CLIP=clip, BENCH_CLIP_SECONDS=str(CLIP_SECONDS),
                   BENCH_SCROLL_SECONDS=str(SCROLL_SECONDS))
        for _ in range(args.runs):
            proc = subprocess.run(["node", os.path.join(here, "web_bench.mjs")], env=env, capture_output=True,
                                  text=True, timeout=300, preexec_fn=lambda: os.sched_setaffinity(0, client_cpus))
            if proc.returncode != 0:
                raise RuntimeError("web_bench.mjs failed:\n" + proc.stderr)
            runs.append(json.loads(proc.stdout))
    finally:
        stack.stop()

    def pooled(kind, key):
        return [x for r in runs for x in r["samples"][kind][key]]

    kinds = ("h264", "h264_scrolling", "h264_video_clip", "h264_full", "h264_reduced", "tiles", "tiles_while_typing",
             "tiles_other")
    metrics = ["arrival_to_painted", "arrival_to_next_animation_frame", "arrival_to_decoded", "decoded_to_painted",
               "frames_ahead_at_arrival", "tiles_per_frame"]
    first = runs[0]
    result = {"server_cpus": sorted(server_cpus), "browser_cpus": sorted(client_cpus), "viewport": first["viewport"],
              "session": first["session"], "chromium": first["chromium"], "runs": len(runs)}
    for m in metrics:
        suffix = "" if m in ("frames_ahead_at_arrival", "tiles_per_frame") else "_ms"
        result[m + suffix] = {k: summary(pooled(k, m)) for k in kinds}
    # Pacing trades frames for latency only when the client is the bottleneck: show the rate too.
    result["h264_frames_per_s"] = {
        "scrolling": round(len(pooled("h264_scrolling", "arrival_to_painted")) / (SCROLL_SECONDS * len(runs)), 1),
        "video_clip": round(len(pooled("h264_video_clip", "arrival_to_painted")) / (CLIP_SECONDS * len(runs)), 1),
        "clip_source_fps": 30}
    i2p = [x for r in runs for x in r["samples"]["input_to_photon"]]
    result["input_to_photon_ms"] = {**summary(i2p), "keys": sum(r["keys"] for r in runs),
                                    "without_echo": sum(r["keys_without_echo"] for r in runs),
                                    "pixels_changed_by_typing": [r["pixels_changed_by_typing"] for r in runs]}
    result["per_run_p95_ms"] = [{"h264": summary(r["samples"]["h264"]["arrival_to_painted"])["p95"],
                                 "h264_video_clip": summary(r["samples"]["h264_video_clip"]["arrival_to_painted"])["p95"],
                                 "tiles": summary(r["samples"]["tiles"]["arrival_to_painted"])["p95"],
                                 "input_to_photon": summary(r["samples"]["input_to_photon"])["p95"]} for r in runs]
    result["rtt_ms_median"] = [r["rtt_ms_median"] for r in runs]
    n_h264 = len(pooled("h264", "arrival_to_painted"))
    result["h264_reduced_share"] = round(len(pooled("h264_reduced", "arrival_to_painted")) / n_h264, 3) if n_h264 else None
    result["decode_errors"] = sum(r["decode_errors"] for r in runs)
    a2p = result["arrival_to_painted_ms"]
    i2p_s = result["input_to_photon_ms"]
    result["targets"] = {
        "arrival_to_painted_p95_le_10ms": {k: (a2p[k]["p95"] is not None and a2p[k]["p95"] <= 10) for k in ("h264", "tiles")},
        "input_to_photon_p95_le_40ms": i2p_s["p95"] is not None and i2p_s["p95"] <= 40,
    }
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(repo, "build"))
    ap.add_argument("--keys", type=int, default=60)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--cpus", choices=("split", "shared", "both"), default="both",
                    help="split: browser and server side on separate CPUs (as on two machines); shared: all on all")
    ap.add_argument("--out", default=os.path.join(repo, "bench", "results", "web.json"))
    args = ap.parse_args()

    if not shutil.which("ffplay"):
        print("web bench: ffplay is missing (deploy/install-deps.sh --bench installs ffmpeg)", file=sys.stderr)
        return 1
    clip_dir = tempfile.mkdtemp(prefix="webbench-clip-")
    clip = os.path.join(clip_dir, "clip.mp4")
    # The display bench's clip (testsrc2: moving colour gradients, text and a clock), at the
    # session's size so ffplay does not scale it.
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size=1920x1040:rate=30",
                    "-t", str(CLIP_SECONDS), "-c:v", "libx264", "-preset", "veryfast", "-crf", "10", "-pix_fmt",
                    "yuv420p", clip], check=True, timeout=300)
    load_before = round(os.getloadavg()[0], 2)
    result = {}
    try:
        for name, (server_cpus, client_cpus) in cpu_layouts(args.cpus).items():
            result[name] = measure(args, clip, server_cpus, client_cpus)
    except RuntimeError as e:
        print(e, file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(clip_dir, ignore_errors=True)

    mach = machine()
    mach["load_avg_1m"] = {"before": load_before, "after": mach["load_avg_1m"]}
    doc = {"benchmark": "web", "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "machine": mach, "command": "bench/web/web_bench.py " + " ".join(sys.argv[1:]), "result": result}
    text = json.dumps(doc, indent=2)
    print(text)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
