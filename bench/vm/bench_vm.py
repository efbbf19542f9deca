#!/usr/bin/env python3
"""VM desktops benchmark: a real broker + session host on loopback running guest images in QEMU
(TCG where KVM is not usable), driven by the headless client.

Measures, per image (console always; desktop when its image exists):
  - cold boot: launch request to first decoded frame, and to the guest being ready (its serial
    marker), for a pool without spares;
  - from a spare: launch request to first decoded frame when a booted spare is taken;
  - host memory per VM beyond guest RAM: QEMU's RSS and PSS minus the resident part of the guest
    RAM mapping (so it is what the host pays on top of what the guest touched), split into
    anonymous memory (what every further VM costs: TCG's code cache, device state, heap) and
    file-backed pages (QEMU's binary and libraries, the guest kernel file: page cache that all
    VMs on the host share, counted whole for the first VM only);
  - stream frames/s and bytes/s with the desktop idle and while a terminal scrolls.

Targets (issue 4): spare <= 1 s, console cold boot <= 20 s under TCG, overhead <= 64 MiB/VM.

Usage: bench/vm/bench_vm.py [--build build] [--rounds 3] [--desktop-image DIR] [--out bench/results/vm.json]"""

import argparse
import glob
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
repo = os.path.dirname(os.path.dirname(here))
sys.path.insert(0, os.path.join(repo, "tests", "integration"))
from stack import Stack, descendants, wait_for  # noqa: E402


def summary(values):
    values = sorted(values)
    return {"median": round(statistics.median(values), 3), "min": round(values[0], 3), "max": round(values[-1], 3),
            "n": len(values)}


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def serial(run_dir):
    try:
        with open(os.path.join(run_dir, "serial.log"), errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def qemu_memory(pid, guest_mib):
    """RSS/PSS of QEMU and the resident part of its guest RAM mapping (the anonymous mapping of
    exactly the guest's size), in MiB."""
    maps, cur = [], None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            parts = line.split()
            if "-" in parts[0] and len(parts) >= 5 and ":" not in parts[0]:
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                cur = {"size_kb": (hi - lo) // 1024, "rss_kb": 0, "pss_kb": 0, "anon_kb": 0,
                       "name": parts[5] if len(parts) > 5 else ""}
                maps.append(cur)
            elif parts[0] == "Anonymous:" and cur is not None:
                cur["anon_kb"] = int(parts[1])
            elif parts[0] == "Rss:" and cur is not None:
                cur["rss_kb"] = int(parts[1])
            elif parts[0] == "Pss:" and cur is not None:
                cur["pss_kb"] = int(parts[1])
    rss = sum(m["rss_kb"] for m in maps) / 1024
    pss = sum(m["pss_kb"] for m in maps) / 1024
    guest = [m for m in maps if m["size_kb"] == guest_mib * 1024 and not m["name"]]
    guest_rss = sum(m["rss_kb"] for m in guest) / 1024
    anon = sum(m["anon_kb"] for m in maps) / 1024 - sum(m["anon_kb"] for m in guest) / 1024
    file_backed = sum(m["rss_kb"] for m in maps if m["name"].startswith("/")) / 1024
    return {"overhead_anon_mib": round(anon, 1), "file_backed_shared_mib": round(file_backed, 1),
            "rss_mib": round(rss, 1), "pss_mib": round(pss, 1), "guest_ram_mib": guest_mib,
            "guest_ram_resident_mib": round(guest_rss, 1), "overhead_rss_mib": round(rss - guest_rss, 1),
            "overhead_pss_mib": round(pss - guest_rss, 1)}


class Bench:
    def __init__(self, build, images):
        self.stack = Stack(build, repo, name="bench-vm")
        self.vm_dir = os.path.join(self.stack.dir, "vms")
        self.stack.host_args = ["--images", images, "--vm-dir", self.vm_dir]

    def publish(self, pool, image, spares, memory):
        subprocess.run([self.stack.bin("portico-broker"), "publish-desktop", "--state", self.stack.state, "--id", pool,
                        "--name", pool, "--image", image, "--mode", "pooled", "--size", "8", "--spares", str(spares),
                        "--memory", str(memory)], check=True, capture_output=True, timeout=30)

    def run_dirs(self):
        return set(glob.glob(os.path.join(self.vm_dir, "run", "vm-*")))

    def client(self, pool, *args, duration=1):
        proc, stats = self.stack.client("--resource", pool, "--duration", str(duration), "--json", *args, timeout=600)
        assert proc.returncode == 0 and stats, proc.stderr[-2000:]
        return stats

    def qemu_pid_of(self, run_dir):
        for p in descendants(self.stack.host.pid):
            if comm(p).startswith("qemu-system"):
                try:
                    with open(f"/proc/{p}/cmdline") as f:
                        if run_dir in f.read():
                            return p
                except OSError:
                    pass
        return None

    def cold(self, pool, rounds, ready_timeout):
        first, ready = [], []
        for _ in range(rounds):
            before = self.run_dirs()
            t0 = time.time()
            stats = self.client(pool)
            first.append(stats["first_frame_ms"] / 1000)
            run_dir = wait_for(lambda: (self.run_dirs() - before) and next(iter(self.run_dirs() - before)), 30, "run dir")
            wait_for(lambda: "PORTICO_GUEST_READY" in serial(run_dir), ready_timeout, "the guest to be ready")
            ready.append(time.time() - t0)
            self.client(pool, "--logoff")
            wait_for(lambda: not os.path.exists(run_dir), 30, "the VM to go")
        return {"launch_to_first_frame_s": summary(first), "launch_to_guest_ready_s": summary(ready)}

    def spare(self, pool, rounds, ready_timeout):
        first = []
        for i in range(rounds):
            log = lambda: self.stack.read_log("host").count(f"spare VM for pool {pool} is ready")  # noqa: E731
            wait_for(lambda: log() >= i + 1, ready_timeout, "a ready spare")
            stats = self.client(pool)
            first.append(stats["first_frame_ms"] / 1000)
            assert f"took a ready spare VM of pool {pool}" in self.stack.read_log("host")
            self.client(pool, "--logoff")
        return {"launch_to_first_frame_s": summary(first)}

    def stream(self, pool, memory, ready_timeout, scroll_command):
        before = self.run_dirs()
        self.client(pool)
        run_dir = next(iter(self.run_dirs() - before))
        wait_for(lambda: "PORTICO_GUEST_READY" in serial(run_dir), ready_timeout, "the guest to be ready")
        time.sleep(3)
        mem = qemu_memory(self.qemu_pid_of(run_dir), memory)
        idle = self.client(pool, duration=10)
        self.client(pool, "--type", scroll_command + "\\n", "--type-delay-ms", "40", duration=1)
        scrolling = self.client(pool, duration=10)
        mem_after = qemu_memory(self.qemu_pid_of(run_dir), memory)
        self.client(pool, "--logoff")

        def rates(s):
            t = max(s["elapsed_s"], 0.001)
            return {"seconds": round(t, 2), "frames_per_s": round(s["frames"] / t, 1),
                    "bytes_per_s": round(s["bytes"] / t), "width": s["width"], "height": s["height"]}
        return {"memory_ready": mem, "memory_after_scrolling": mem_after, "idle": rates(idle), "scrolling": rates(scrolling)}


def machine():
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    return {"host": platform.node(), "cpus": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
            "load_avg_at_start": [round(x, 2) for x in os.getloadavg()]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(repo, "build"))
    ap.add_argument("--rounds", type=int, default=3)
    cached = sorted(glob.glob(os.path.expanduser("~/.cache/portico/images/desktop-*/image.json")), key=os.path.getmtime)
    ap.add_argument("--desktop-image", default=os.path.dirname(cached[-1]) if cached else "",
                    help="a built desktop image directory (deploy/guest/build-desktop-image.sh); skipped if absent")
    ap.add_argument("--out", default=os.path.join(repo, "bench", "results", "vm.json"))
    args = ap.parse_args()
    build = os.path.abspath(args.build)

    console = os.path.join(build, "tests/unit/vm/console-image")
    assert os.path.exists(os.path.join(console, "image.json")), f"build the console image first: {console}"
    images = tempfile.mkdtemp(prefix="portico-bench-images-")
    for name, path in (("console", console), ("desktop", args.desktop_image)):
        if path and os.path.exists(os.path.join(path, "image.json")):
            os.symlink(os.path.realpath(path), os.path.join(images, name))

    result = {"benchmark": "vm", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": machine()}
    b = Bench(build, images)
    b.stack.start()
    try:
        log = b.stack.read_log("host")
        result["accelerator"] = "kvm" if "accelerator kvm" in log else "tcg"
        plan = [("console", 256, 600, "i=0; while true; do i=$((i+1)); echo scrolling line $i; done")]
        if os.path.exists(os.path.join(images, "desktop")):
            plan.append(("desktop", 512, 600, "yes scrolling in xterm"))
        for image, memory, timeout, scroll in plan:
            b.publish(f"{image}-cold", image, 0, memory)
            r = {"cold_boot": b.cold(f"{image}-cold", args.rounds, timeout)}
            r.update(b.stream(f"{image}-cold", memory, timeout, scroll))
            b.publish(f"{image}-spare", image, 1, memory)
            r["from_spare"] = b.spare(f"{image}-spare", args.rounds, timeout)
            b.publish(f"{image}-spare", image, 0, memory)  # stop its spare before the next image
            result[image] = r
    finally:
        b.stack.stop()

    c = result["console"]
    result["targets"] = {
        "spare_first_frame_le_1s": c["from_spare"]["launch_to_first_frame_s"]["median"] <= 1.0,
        "console_cold_boot_le_20s": c["cold_boot"]["launch_to_guest_ready_s"]["median"] <= 20.0,
        # Each further VM costs its anonymous overhead; the file-backed part is paid once per host.
        "overhead_le_64mib": c["memory_ready"]["overhead_anon_mib"] <= 64.0,
        "first_vm_overhead_pss_le_64mib": c["memory_ready"]["overhead_pss_mib"] <= 64.0,
    }
    text = json.dumps(result, indent=2)
    print(text)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text + "\n")


if __name__ == "__main__":
    main()
