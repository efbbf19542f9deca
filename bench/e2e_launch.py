#!/usr/bin/python3
"""Foundation benchmark: a real broker + session host on loopback, driven by the headless client.

Measures, over N rounds (median and p95 reported):
  - login latency (REST, Argon2id verify included),
  - cold launch to first decoded frame (new Xvfb + xterm each time),
  - reconnect to first decoded frame (the session already runs),
  - bytes and frames the stream sends for an idle terminal over 3 s, and for typing 40 characters.

Usage: bench/e2e_launch.py [--build build] [--rounds 10] [--out bench/results/e2e_launch.json]
Prints one JSON document (and writes it to --out)."""

import argparse
import json
import os
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
repo = os.path.dirname(here)
sys.path.insert(0, os.path.join(repo, "tests", "integration"))
sys.path.insert(0, here)
from benchmeta import Run, summary  # noqa: E402
from stack import Stack  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(repo, "build"))
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--out", default=os.path.join(here, "results", "e2e_launch.json"))
    args = ap.parse_args()

    run = Run("e2e_launch")
    stack = Stack(os.path.abspath(args.build), repo, name="bench").start()
    try:
        login_ms, cold_ms, reconnect_ms = [], [], []
        for _ in range(args.rounds):
            t = time.perf_counter()
            stack.login()
            login_ms.append((time.perf_counter() - t) * 1000)

            proc, stats = stack.client("--resource", "Terminal", "--duration", "0.5", "--json")
            assert proc.returncode == 0, proc.stderr
            cold_ms.append(stats["first_frame_ms"])
            proc, stats = stack.client("--resource", "Terminal", "--duration", "0.5", "--json", "--logoff")
            assert proc.returncode == 0, proc.stderr
            reconnect_ms.append(stats["first_frame_ms"])

        proc, idle = stack.client("--resource", "Terminal", "--duration", "3", "--json")
        proc, typing = stack.client("--resource", "Terminal", "--type", "echo the quick brown fox jumps over it\\n",
                                    "--type-delay-ms", "25", "--duration", "3", "--json", "--logoff")
        result = {
            "rounds": args.rounds,
            "login_ms": summary(login_ms),
            "cold_launch_to_first_frame_ms": summary(cold_ms),
            "reconnect_to_first_frame_ms": summary(reconnect_ms),
            "note_client_stats": "the first stream includes a full 1280x800 keyframe; the rest are tiles",
            "idle_3s": {k: idle[k] for k in ("frames", "video_frames", "tile_frames", "bytes")},
            "typing_40_chars_3s": {k: typing[k] for k in ("frames", "video_frames", "tile_frames", "bytes",
                                                          "decode_errors")},
        }
    finally:
        stack.stop()
    result = {**run.finish(), **result}
    text = json.dumps(result, indent=2)
    print(text)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text + "\n")


if __name__ == "__main__":
    main()
