#!/usr/bin/env python3
"""VM desktops benchmark: a real broker + session host on loopback running guest images in QEMU
(TCG where KVM is not usable), driven by the headless client.

Measures, with the console image (deploy/guest/build-console-image.sh, built by the build):
  - cold boot: launch request to first decoded frame, and to the guest being ready (its serial
    marker), for a pool without spares;
  - from a spare: launch request to first decoded frame when a booted, ready spare is taken;
  - host memory as PSS (/proc/PID/smaps_rollup: shared pages split between the processes that map
    them, so the PSS of all QEMUs adds up to what they cost together) beyond guest RAM (minus the
    resident part of the guest RAM mapping, from /proc/PID/smaps): for the first VM alone, and per
    additional VM (the growth of the QEMUs' summed PSS from one to three ready VMs, halved);
  - stream frames/s and bytes/s, idle and while the guest scrolls its screen. Rates count only the
    frames received inside the window they describe (idle: a fixed window after the first frame;
    scrolling: from the guest's start marker to its end marker on the serial port), so login,
    launch and typing are not in them. The scroll must verifiably run: the guest reports on its
    serial port how many lines it printed, and the bench fails if it printed none or if the
    stream did not carry more frames and bytes than when idle.
And with a golden image Portico did not build (Debian's network installer from the Debian package
debian-installer-12-netboot-amd64, PXE-booted as deploy/guest/README.md describes): launch to first
decoded frame, to Debian's boot menu on the screen, and from Enter on "Install" to the installer's
first question on the screen (both seen in the PNGs of reconnecting clients, polled: their
resolution is stated).

Targets (issues 4, 17): spare to first frame <= 1 s; console cold boot <= 20 s under TCG; host
memory beyond guest RAM <= 64 MiB (PSS), for the first VM and per additional VM.

Usage: flock /tmp/portico-bench.lock /usr/bin/python3 bench/vm/bench_vm.py [--build build] [--rounds 3]
       [--out bench/results/vm.json]"""

import argparse
import io
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time

here = os.path.dirname(os.path.abspath(__file__))
repo = os.path.dirname(os.path.dirname(here))
sys.path.insert(0, os.path.join(repo, "bench"))
sys.path.insert(0, os.path.join(repo, "tests", "integration"))
from benchmeta import Run, summary  # noqa: E402
from stack import Stack, descendants, wait_for  # noqa: E402
from test_vm import DEBIAN_INSTALLER_NAME, register_debian_installer  # noqa: E402

TARGET_OVERHEAD_MIB = 64.0
IDLE_WINDOW_S = 10.0
SCROLL_SECONDS = 10  # how long the guest's scroll loop runs


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


# ---- memory ----

def pss_mib(pid):
    """The process's proportional set size and its anonymous and file-backed parts (smaps_rollup), MiB."""
    fields = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if parts[0] in ("Pss:", "Pss_Anon:", "Pss_File:", "Pss_Shmem:"):
                fields[parts[0][:-1]] = int(parts[1]) / 1024
    assert "Pss" in fields, f"no Pss in /proc/{pid}/smaps_rollup"
    return fields


def guest_ram_resident_mib(pid, guest_mib):
    """The resident part of QEMU's guest RAM: the one anonymous mapping of exactly the guest's size.
    Fails if there is not exactly one, rather than subtracting the wrong thing."""
    size_kb, rss_kb, found, cur = guest_mib * 1024, 0, 0, None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            parts = line.split()
            if re.fullmatch(r"[0-9a-f]+-[0-9a-f]+", parts[0]):
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                cur = (hi - lo) // 1024 == size_kb and len(parts) == 5
                found += cur
            elif cur and parts[0] == "Rss:":
                rss_kb += int(parts[1])
    assert found == 1, f"expected one {guest_mib} MiB guest RAM mapping in QEMU {pid}, found {found}"
    return rss_kb / 1024


def qemu_memory(pid, guest_mib):
    pss = pss_mib(pid)
    guest = guest_ram_resident_mib(pid, guest_mib)
    # The parts say where an overhead comes from: anonymous (TCG's code cache, VGA memory, heap) or
    # file-backed (QEMU's binary and libraries, the guest's kernel and initrd: shared between VMs).
    return {"pss_mib": round(pss["Pss"], 1), "pss_anon_mib": round(pss.get("Pss_Anon", 0), 1),
            "pss_file_mib": round(pss.get("Pss_File", 0), 1), "guest_ram_mib": guest_mib,
            "guest_ram_resident_mib": round(guest, 1), "overhead_pss_mib": round(pss["Pss"] - guest, 1)}


# ---- frame logs ----

def read_frame_log(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def window_rates(frames, t0_ms, t1_ms):
    """Frames and bytes received in (t0, t1], per second of that window."""
    inside = [f for f in frames if t0_ms < f["wall_ms"] <= t1_ms]
    before = [f["bytes_total"] for f in frames if f["wall_ms"] <= t0_ms]
    start_bytes = before[-1] if before else 0
    end_bytes = inside[-1]["bytes_total"] if inside else start_bytes
    seconds = (t1_ms - t0_ms) / 1000
    return {"seconds": round(seconds, 2), "frames": len(inside), "frames_per_s": round(len(inside) / seconds, 2),
            "bytes_per_s": round((end_bytes - start_bytes) / seconds)}


class SerialWatch(threading.Thread):
    """Notes the wall time (ms) at which each of `patterns` first appears on a serial log, polling
    every 20 ms (the markers' timing error)."""

    def __init__(self, run_dir, patterns, timeout):
        super().__init__(daemon=True)
        self.run_dir, self.patterns, self.deadline = run_dir, patterns, time.time() + timeout
        self.seen, self.matches = {}, {}

    def run(self):
        while len(self.seen) < len(self.patterns) and time.time() < self.deadline:
            text = serial(self.run_dir)
            now = time.time() * 1000
            for p in self.patterns:
                m = re.search(p, text)
                if m and p not in self.seen:
                    self.seen[p], self.matches[p] = now, m
            time.sleep(0.02)


# ---- pictures (PNG from the headless client) ----

def png_stats(path):
    from PIL import Image  # python3-pil (deploy/install-deps.sh --bench)
    with open(path, "rb") as f:
        im = Image.open(io.BytesIO(f.read())).convert("RGB")
    px = list(im.getdata())
    non_black = sum(1 for r, g, b in px if r + g + b > 48)
    colours = len({(r >> 3, g >> 3, b >> 3) for r, g, b in px[::7]})
    return {"width": im.width, "height": im.height, "non_black_share": round(non_black / len(px), 3),
            "colours": colours}


class Bench:
    def __init__(self, build, images):
        self.stack = Stack(build, repo, name="bench-vm")
        self.vm_dir = os.path.join(self.stack.dir, "vms")
        self.stack.host_args = ["--images", images, "--vm-dir", self.vm_dir]

    def publish(self, pool, image, spares, memory, size=8, name=None):
        subprocess.run([self.stack.bin("portico-broker"), "publish-desktop", "--state", self.stack.state, "--id", pool,
                        "--name", name or pool, "--image", image, "--mode", "pooled", "--size", str(size),
                        "--spares", str(spares), "--memory", str(memory), "--cpus", "1"],
                       check=True, capture_output=True, timeout=30)

    def run_dirs(self):
        root = os.path.join(self.vm_dir, "run")
        return {os.path.join(root, d) for d in os.listdir(root) if d.startswith("vm-")} if os.path.isdir(root) else set()

    def client(self, pool, *args, duration=1, timeout=600):
        proc, stats = self.stack.client("--resource", pool, "--duration", str(duration), "--json", *args, timeout=timeout)
        assert proc.returncode == 0 and stats and stats["decode_errors"] == 0, proc.stderr[-2000:]
        return stats

    def qemu_pids(self):
        return [p for p in descendants(self.stack.host.pid) if comm(p).startswith("qemu-system")]

    def qemu_pid_of(self, run_dir):
        for p in self.qemu_pids():
            try:
                with open(f"/proc/{p}/cmdline") as f:
                    if run_dir in f.read():
                        return p
            except OSError:
                pass
        raise AssertionError(f"no QEMU for {run_dir}")

    def ready_count(self, pool):
        return self.stack.read_log("host").count(f"spare VM for pool {pool} is ready")

    def logoff(self, pool, run_dir):
        self.client(pool, "--logoff")
        wait_for(lambda: not os.path.exists(run_dir), 60, "the VM to go")

    # ---- console ----

    def cold(self, pool, rounds, ready_timeout):
        first, ready = [], []
        for _ in range(rounds):
            before = self.run_dirs()
            t0 = time.time()
            stats = self.client(pool)
            first.append(stats["first_frame_ms"] / 1000)
            run_dir = wait_for(lambda: next(iter(self.run_dirs() - before), None), 30, "the run dir")
            wait_for(lambda: "PORTICO_GUEST_READY" in serial(run_dir), ready_timeout, "the guest to be ready")
            ready.append(time.time() - t0)
            self.logoff(pool, run_dir)
        return {"launch_to_first_frame_s": summary(first, 3), "launch_to_guest_ready_s": summary(ready, 3)}

    def spare(self, pool, rounds, ready_timeout):
        first = []
        for i in range(rounds):
            wait_for(lambda: self.ready_count(pool) >= i + 1, ready_timeout, "a ready spare")
            before = self.stack.read_log("host").count(f"took a ready spare VM of pool {pool}")
            stats = self.client(pool)
            first.append(stats["first_frame_ms"] / 1000)
            assert self.stack.read_log("host").count(f"took a ready spare VM of pool {pool}") == before + 1, \
                "the launch did not take a ready spare"
            self.client(pool, "--logoff")
        return {"launch_to_first_frame_s": summary(first, 3)}

    def stream(self, pool, memory, ready_timeout):
        """Idle and scrolling rates of one session, and the memory of its VM (the only one running)."""
        before = self.run_dirs()
        self.client(pool)
        run_dir = next(iter(self.run_dirs() - before))
        wait_for(lambda: "PORTICO_GUEST_READY" in serial(run_dir), ready_timeout, "the guest to be ready")
        time.sleep(3)
        assert len(self.qemu_pids()) == 1, "the first VM's memory must be measured with no other VM running"
        first_vm = qemu_memory(self.qemu_pid_of(run_dir), memory)

        log = os.path.join(self.stack.dir, "idle-frames.jsonl")
        self.client(pool, "--frame-log", log, duration=IDLE_WINDOW_S + 2)
        frames = read_frame_log(log)
        # From the first frame on (the picture every attach starts with is not idle traffic).
        idle = window_rates(frames, frames[0]["wall_ms"], frames[0]["wall_ms"] + IDLE_WINDOW_S * 1000)

        # The guest prints numbered lines to its screen (tty1) for SCROLL_SECONDS and reports on its
        # serial port when it starts and how many lines it printed when it ends.
        tag = secrets.token_hex(3)
        command = (f"echo S{tag} >/dev/ttyS0;e=$(($(date +%s)+{SCROLL_SECONDS}));n=0;"
                   f"while [ $(date +%s) -lt $e ];do seq $n $((n+49));n=$((n+50));done;echo E{tag} $n >/dev/ttyS0")
        start_re, end_re = f"S{tag}\\b", f"E{tag} (\\d+)"
        watch = SerialWatch(run_dir, [start_re, end_re], timeout=120)
        watch.start()
        log = os.path.join(self.stack.dir, "scroll-frames.jsonl")
        # The client stays well past the end marker (typing the command takes ~10 s under TCG): a
        # window it did not watch to the end would count too few frames.
        self.client(pool, "--type", command + "\\n", "--type-delay-ms", "40", "--frame-log", log,
                    duration=SCROLL_SECONDS + 30)
        client_end_ms = time.time() * 1000
        watch.join()
        assert end_re in watch.seen, f"the scroll command did not finish in the guest: {serial(run_dir)[-500:]!r}"
        assert watch.seen[end_re] < client_end_ms - 1000, "the client left before the guest's scroll ended"
        lines = int(watch.matches[end_re].group(1))
        assert lines >= 100, f"the guest printed only {lines} lines while scrolling"
        frames = read_frame_log(log)
        scrolling = window_rates(frames, watch.seen[start_re], watch.seen[end_re])
        scrolling["lines_printed"] = lines
        scrolling["lines_per_s"] = round(lines / scrolling["seconds"], 1)
        assert scrolling["frames_per_s"] > idle["frames_per_s"] and scrolling["bytes_per_s"] > idle["bytes_per_s"], \
            f"the stream did not change while the guest scrolled: idle {idle}, scrolling {scrolling}"
        after = qemu_memory(self.qemu_pid_of(run_dir), memory)
        self.logoff(pool, run_dir)
        return {"first_vm_memory": first_vm, "first_vm_memory_after_scrolling": after,
                "idle": idle, "scrolling": scrolling}

    def additional_vms(self, pool, image, memory, ready_timeout, count=3):
        """Summed PSS beyond guest RAM of `count` ready spares against one; per additional VM."""
        assert not self.qemu_pids(), "no other VM may run while the per-VM cost is measured"

        def measure(n):
            self.publish(pool, image, n, memory)
            wait_for(lambda: self.ready_count(pool) >= n and len(self.qemu_pids()) == n, ready_timeout * n,
                     f"{n} ready spares")
            time.sleep(3)
            mems = [qemu_memory(p, memory) for p in self.qemu_pids()]
            return {"vms": n, "pss_mib_sum": round(sum(m["pss_mib"] for m in mems), 1),
                    "overhead_pss_mib_sum": round(sum(m["overhead_pss_mib"] for m in mems), 1), "each": mems}
        one = measure(1)
        many = measure(count)
        self.publish(pool, image, 0, memory)
        wait_for(lambda: not self.qemu_pids(), 60, "the spares to stop")
        per = (many["overhead_pss_mib_sum"] - one["overhead_pss_mib_sum"]) / (count - 1)
        return {"one": one, "many": many, "per_additional_vm_overhead_pss_mib": round(per, 1)}

    # ---- a golden image Portico did not build ----

    def poll_screen(self, pool, accept, timeout, what, since):
        """Reconnects every ~1.5 s with --png until accept(png_stats) holds. Returns when the last
        client that did not see it started (the screen changed after that), when the one that saw
        it ended (the screen had changed by then), and its stats. `since`: when the change was caused."""
        png = os.path.join(self.stack.dir, "poll.png")
        deadline = time.time() + timeout
        last_miss = since
        while time.time() < deadline:
            t = time.time()
            self.client(pool, "--png", png, duration=0.5)
            s = png_stats(png)
            if accept(s):
                return last_miss, time.time(), s
            last_miss = t
            time.sleep(max(0.0, 1.5 - (time.time() - t)))
        raise AssertionError(f"{what} did not appear within {timeout} s")

    def foreign(self, pool, image, rounds, timeout):
        first, menu, installer = [], [], []
        for _ in range(rounds):
            before = self.run_dirs()
            t0 = time.time()
            stats = self.client(pool)
            first.append(stats["first_frame_ms"] / 1000)
            run_dir = wait_for(lambda: next(iter(self.run_dirs() - before), None), 30, "the run dir")
            # Debian's boot menu: its 640x480 splash, many colours, hardly any black.
            seen_from, seen_by, m = self.poll_screen(
                pool, lambda s: s["width"] == 640 and s["colours"] >= 16 and s["non_black_share"] > 0.9, timeout,
                "Debian's boot menu", t0)
            menu.append((seen_from - t0, seen_by - t0))
            # Enter on "Install": the installer's kernel boots and asks its first question, in
            # another mode than the splash and mostly not black (newt's blue and grey).
            t1 = time.time()
            self.client(pool, "--type", "\\n", duration=0.5)
            seen_from, seen_by, q = self.poll_screen(
                pool, lambda s: s["width"] != 640 and s["non_black_share"] > 0.5 and s["colours"] >= 4, timeout,
                "the installer's first question", t1)
            installer.append((seen_from - t1, seen_by - t1))
            self.logoff(pool, run_dir)

        def spans(pairs):
            return {"seen_by_s": summary([b for _, b in pairs], 1), "not_before_s": summary([a for a, _ in pairs], 1)}
        return {"image": "Debian 12 network installer (debian-installer-12-netboot-amd64), PXE boot",
                "launch_to_first_frame_s": summary(first, 3), "launch_to_boot_menu": spans(menu),
                "enter_to_installer_question": spans(installer), "menu_screen": m, "installer_screen": q,
                "method": "screens polled by reconnecting headless clients with --png every ~1.5 s: the screen "
                          "changed after not_before_s (start of the last client that did not see it) and by "
                          "seen_by_s (end of the first client that did)"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(repo, "build"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--foreign-rounds", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(repo, "bench", "results", "vm.json"))
    args = ap.parse_args()
    run = Run("vm")
    build = os.path.abspath(args.build)

    console = os.path.join(build, "tests/unit/vm/console-image")
    assert os.path.exists(os.path.join(console, "image.json")), f"build the console image first: {console}"
    images = tempfile.mkdtemp(prefix="portico-bench-images-")
    os.symlink(os.path.realpath(console), os.path.join(images, "console"))
    foreign_image = register_debian_installer(images)

    b = Bench(build, images)
    b.stack.start()
    result = {}
    try:
        result["accelerator"] = "kvm" if "accelerator kvm" in b.stack.read_log("host") else "tcg"
        c = {"cold_boot": None}
        b.publish("console-cold", "console", 0, 256)
        c["cold_boot"] = b.cold("console-cold", args.rounds, 600)
        c.update(b.stream("console-cold", 256, 600))
        b.publish("console-spare", "console", 1, 256)
        c["from_spare"] = b.spare("console-spare", args.rounds, 600)
        b.publish("console-spare", "console", 0, 256)
        wait_for(lambda: not b.qemu_pids(), 60, "the spare to stop")
        c["memory_per_vm"] = b.additional_vms("console-mem", "console", 256, 600)
        result["console"] = c
        b.publish("installer", foreign_image, 0, 1024, size=1, name=DEBIAN_INSTALLER_NAME)
        result["foreign_image"] = b.foreign("installer", foreign_image, args.foreign_rounds, 900)
    finally:
        b.stack.stop()

    c = result["console"]
    first_overhead = c["first_vm_memory"]["overhead_pss_mib"]
    per_vm = c["memory_per_vm"]["per_additional_vm_overhead_pss_mib"]
    result["targets"] = {
        "spare_first_frame_le_1s": {"value_s": c["from_spare"]["launch_to_first_frame_s"]["median"], "target_s": 1.0},
        "console_cold_boot_le_20s": {"value_s": c["cold_boot"]["launch_to_guest_ready_s"]["median"], "target_s": 20.0},
        "first_vm_overhead_pss_le_64mib": {"value_mib": first_overhead, "target_mib": TARGET_OVERHEAD_MIB},
        "per_additional_vm_overhead_pss_le_64mib": {"value_mib": per_vm, "target_mib": TARGET_OVERHEAD_MIB},
    }
    for t in result["targets"].values():
        value, target = (t.get("value_s"), t.get("target_s")) if "value_s" in t else (t["value_mib"], t["target_mib"])
        t["met"] = value <= target
    result = {**run.finish(), **result}
    print(json.dumps(result, indent=2))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    run.write(result, args.out)
    missed = [k for k, t in result["targets"].items() if not t["met"]]
    if missed:
        print(f"targets missed: {', '.join(missed)}", file=sys.stderr)


if __name__ == "__main__":
    main()
