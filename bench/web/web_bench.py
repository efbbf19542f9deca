#!/usr/bin/env python3
"""Web client benchmark: a real broker + session host on loopback, headless Chromium at 1920x1080
(bench/web/web_bench.mjs) against a real xterm session.

Measures arrival-to-painted (median, p95) for H.264 and for JPEG tiles, and browser
input-to-photon (key event -> changed pixels painted on the canvas). Targets: arrival-to-painted
p95 <= 10 ms, input-to-photon p95 <= 40 ms.

Usage: bench/web/web_bench.py [--build build] [--keys 60] [--out bench/results/web.json]
Prints one JSON document (and writes it to --out)."""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
repo = os.path.dirname(os.path.dirname(here))
sys.path.insert(0, os.path.join(repo, "tests", "integration"))
from stack import Stack  # noqa: E402


def machine():
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    return {"host": platform.node(), "cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(),
            "load_avg_1m": round(os.getloadavg()[0], 2)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(repo, "build"))
    ap.add_argument("--keys", type=int, default=60)
    ap.add_argument("--out", default=os.path.join(repo, "bench", "results", "web.json"))
    args = ap.parse_args()

    stack = Stack(os.path.abspath(args.build), repo, name="webbench").start()
    try:
        env = dict(os.environ, PORTICO_URL=stack.url + "/", PORTICO_USER="demo", PORTICO_PASSWORD=stack.password,
                   BENCH_KEYS=str(args.keys))
        proc = subprocess.run(["node", os.path.join(here, "web_bench.mjs")], env=env, capture_output=True, text=True,
                              timeout=300)
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            return 1
        result = json.loads(proc.stdout)
    finally:
        stack.stop()
    a2p = result["arrival_to_painted_ms"]
    i2p = result["input_to_photon_ms"]
    result["targets"] = {
        "arrival_to_painted_p95_le_10ms": {k: (v["p95"] is not None and v["p95"] <= 10) for k, v in a2p.items()},
        "input_to_photon_p95_le_40ms": i2p["p95"] is not None and i2p["p95"] <= 40,
    }
    doc = {"benchmark": "web", "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "machine": machine(), "command": "bench/web/web_bench.py " + " ".join(sys.argv[1:]), "result": result}
    text = json.dumps(doc, indent=2)
    print(text)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
