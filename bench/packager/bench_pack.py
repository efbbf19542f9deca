#!/usr/bin/python3
"""Packager benchmark (issue 5's targets, checked here; issue 17).

Measures, with the packager in the given build:
  * size: each package (jq, a command-line tool; xterm, an X11 app) against `mksquashfs -comp zstd`
    of the very files it unpacks to (the whole file with its runtime, and the payload alone);
  * build time of the jq package (median of 3) and of the xterm package;
  * warm launch of the packaged jq in every isolation mode (full, writecopy, merged) against the
    same jq run natively, interleaved so that load from other processes hits every variant alike
    (median, p95, and CPU time of the launcher and everything it waited for);
  * cold launch (empty chunk cache) in the default isolation.

Targets (issue 5): whole package <= 1.05x squashfs-zstd of the same files, for jq and xterm; warm
launch <= 30 ms over native in every isolation mode, on the medians. A missed target prints a
`MISSED` line and the script exits 1 (after writing the result, which records the miss).

Usage: bench_pack.py BUILD/packager/portico-pack [--out bench/results/packager.json] [--runs 30]
A result recorded in bench/results/ is run under the bench lock:
  flock /tmp/portico-bench.lock /usr/bin/python3 bench/packager/bench_pack.py build/packager/portico-pack
"""
import argparse
import ctypes
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from benchmeta import Run, summary  # noqa: E402

SIZE_RATIO_MAX = 1.05  # package bytes / squashfs-zstd bytes of the same files
WARM_OVERHEAD_MS_MAX = 30.0  # median warm launch minus median native run
MIN_RUNS = 20
MODES = ("full", "writecopy", "merged")


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pack", help="path to portico-pack (its portico-pack-runtime must be next to it)")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "results",
                                                  "packager.json"))
    ap.add_argument("--runs", type=int, default=30, help=f"warm and cold launches per variant (>= {MIN_RUNS})")
    ap.add_argument("--entry", default="/usr/bin/jq", help="the command-line tool to package and launch")
    args = ap.parse_args()
    if args.runs < MIN_RUNS:
        ap.error(f"--runs must be at least {MIN_RUNS}: a median of fewer launches on a shared machine is noise")
    for tool in ("mksquashfs", "xterm"):
        if not shutil.which(tool):
            ap.error(f"{tool} is not installed (Debian: squashfs-tools, xterm)")
    return args


class Bench:
    """The packager under test and a private HOME (chunk cache, sandboxes) for its packages."""

    def __init__(self, pack, work):
        self.pack = os.path.abspath(pack)
        self.work = work
        self.env = dict(os.environ, HOME=os.path.join(work, "home"))
        for k in ("XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME"):
            self.env.pop(k, None)
        os.makedirs(self.env["HOME"])
        self.key = os.path.join(work, "key.pem")
        self.run([self.pack, "keygen", "--out", self.key])

    def run(self, cmd, **kw):
        result = subprocess.run(cmd, check=True, env=self.env, stdout=subprocess.DEVNULL, **kw)
        reap_orphans()
        return result

    def output(self, cmd):
        return subprocess.run(cmd, check=True, env=self.env, capture_output=True, text=True).stdout

    def timed(self, cmd):
        """(wall ms, CPU ms, background ms) of one run. Wall: until the command exits. Background:
        how long after that the last process it left behind ended (the runtime leaves the
        unmounting of a sandbox and the removal of stale overlay work dirs to processes that end
        after it; this script is their subreaper and waits for them outside the timed window, so
        they slow no later run). CPU: user + system of the command and of those processes; on a
        shared, loaded machine the wall clock partly measures waiting for a core."""
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t1 = time.perf_counter()
        reap_orphans()
        t2 = time.perf_counter()
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        return (t1 - t0) * 1000.0, (r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) * 1000.0, (t2 - t1) * 1000.0

    def build(self, out, name, entries, extra=()):
        cmd = [self.pack, "build", "--name", name, "--key", self.key, "-o", out]
        for e in entries:
            cmd += ["--entry", e]
        for a in extra:
            cmd += ["--add", a]
        return self.timed(cmd)[0]

    def cache_root(self, package):
        """The package's assembled root in the chunk cache (after one launch)."""
        name = self.output([self.pack, "inspect", package]).split()[1]
        roots = os.path.join(self.env["HOME"], ".cache", "portico", "roots")
        return os.path.join(roots, next(d for d in os.listdir(roots) if d.rsplit("-", 1)[0] == name))

    def trash_left(self, name):
        """Stale overlay work dirs a launch set aside and has not removed yet
        (packager/runtime/sandbox.c, "overlay work dirs")."""
        trash = os.path.join(self.env["HOME"], ".local", "share", "portico", "sandbox", name, "trash")
        return len(os.listdir(trash)) if os.path.isdir(trash) else 0


def become_subreaper():
    """Orphans of the commands run here (the runtime's background teardown) become our children."""
    if ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def reap_orphans():
    """Waits for every child left (orphans reparented to us); none is running anything else."""
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def size_report(b, package, run_argv):
    """Sizes of a package against squashfs images of the very files it unpacks to."""
    info = b.output([b.pack, "inspect", package])
    runtime_bytes = int(info.split("runtime:")[1].split()[0])
    files_line = info.split("files:")[1].splitlines()[0].split()  # N entries, N chunks, N bytes unpacked, N bytes compressed
    pkg_bytes = os.path.getsize(package)
    b.run([package] + run_argv)  # assembles the root in the cache
    root = b.cache_root(package)
    out = {"package_bytes": pkg_bytes, "runtime_bytes": runtime_bytes, "payload_bytes": pkg_bytes - runtime_bytes,
           "chunk_bytes": int(files_line[7]), "index_bytes": pkg_bytes - runtime_bytes - int(files_line[7]),
           "entries": int(files_line[0]), "chunks": int(files_line[2]), "unpacked_bytes": int(files_line[4])}
    img = os.path.join(b.work, "same.squashfs")
    for label, extra in (("squashfs_zstd_bytes", []), ("squashfs_zstd19_bytes", ["-Xcompression-level", "19"])):
        t0 = time.perf_counter()
        subprocess.run(["mksquashfs", root, img, "-comp", "zstd", *extra, "-noappend", "-quiet",
                        "-e", ".portico-complete"], check=True, stdout=subprocess.DEVNULL)
        if not extra:
            out["mksquashfs_ms"] = round((time.perf_counter() - t0) * 1000.0, 1)
        out[label] = os.path.getsize(img)
    os.unlink(img)
    out["ratio_payload_vs_squashfs_zstd"] = round(out["payload_bytes"] / out["squashfs_zstd_bytes"], 3)
    out["ratio_package_vs_squashfs_zstd"] = round(pkg_bytes / out["squashfs_zstd_bytes"], 3)
    return out


def warm_launches(b, pkg, entry, name, runs):
    """Interleaved warm runs: native, then each isolation mode; the package's cache is warm."""
    argv = ["-n", "1"]
    variants = {"native": [entry] + argv}
    for mode in MODES:
        variants[mode] = [pkg, f"--portico-isolation={mode}"] + argv
    for cmd in variants.values():  # warm-up: chunk cache, sandbox dirs, page cache
        b.timed(cmd)
    wall = {k: [] for k in variants}
    cpu = {k: [] for k in variants}
    background = {k: [] for k in variants}
    for _ in range(runs):
        for k, cmd in variants.items():
            w, c, bg = b.timed(cmd)
            wall[k].append(w)
            cpu[k].append(c)
            background[k].append(bg)
    if b.trash_left(name):
        raise RuntimeError(f"the runtime left {b.trash_left(name)} stale overlay work dirs of {name} behind")
    return wall, cpu, background


def cold_launches(b, pkg, runs):
    """Launches with an empty chunk cache (default isolation): verify, decompress, hash, link."""
    argv = [pkg, "-n", "1"]
    wall, cpu = [], []
    for _ in range(runs):
        shutil.rmtree(os.path.join(b.env["HOME"], ".cache"), ignore_errors=True)
        w, c, _ = b.timed(argv)
        wall.append(w)
        cpu.append(c)
    return wall, cpu


def check_targets(sizes, launch):
    """{target name: {...: value, limit, met}} for every target issue 5 set."""
    targets = {}
    for name, s in sizes.items():
        targets[f"size_{name}"] = {"what": f"{name}: package bytes / squashfs-zstd bytes of the same files",
                                   "value": s["ratio_package_vs_squashfs_zstd"], "limit": SIZE_RATIO_MAX,
                                   "met": s["ratio_package_vs_squashfs_zstd"] <= SIZE_RATIO_MAX}
    for mode in MODES:
        v = launch[mode]["warm_overhead_ms"]
        targets[f"warm_launch_{mode}"] = {"what": f"{mode}: median warm launch minus median native run (ms)",
                                          "value": v, "limit": WARM_OVERHEAD_MS_MAX, "met": v <= WARM_OVERHEAD_MS_MAX}
    return targets


def main():
    args = parse_args()
    run = Run("packager")
    become_subreaper()
    work = tempfile.mkdtemp(prefix="portico-bench-", dir="/var/tmp")  # not /tmp: the sandboxes share it
    try:
        b = Bench(args.pack, work)
        name = os.path.basename(args.entry)
        pkg = os.path.join(work, "tool.portico")
        build_ms = [b.build(pkg, name, [args.entry]) for _ in range(3)]
        sizes = {name: size_report(b, pkg, ["-n", "1"])}
        xterm = os.path.join(work, "xterm.portico")
        xterm_build_ms = b.build(xterm, "xterm", ["/usr/bin/xterm", "/bin/dash"],
                                 ["/etc/X11/app-defaults/XTerm", "/lib/terminfo/x/xterm"])
        sizes["xterm"] = size_report(b, xterm, ["--portico-entry=dash", "-c", "true"])
        sizes["xterm"]["build_ms"] = round(xterm_build_ms, 1)

        wall, cpu, background = warm_launches(b, pkg, args.entry, name, args.runs)
        cold_wall, cold_cpu = cold_launches(b, pkg, args.runs)
        native = summary(wall["native"])
        native_cpu = summary(cpu["native"])
        launch = {}
        for mode in MODES:
            w, c = summary(wall[mode]), summary(cpu[mode])
            paired = [m - n for m, n in zip(wall[mode], wall["native"])]
            launch[mode] = {"warm_ms": w, "warm_cpu_ms": c,
                            "warm_overhead_ms": round(w["median"] - native["median"], 2),
                            "warm_overhead_p95_ms": round(w["p95"] - native["p95"], 2),
                            "warm_paired_overhead_ms": summary(paired),
                            "warm_cpu_overhead_ms": round(c["median"] - native_cpu["median"], 2),
                            "background_ms": summary(background[mode])}
        launch["full"]["cold_ms"] = summary(cold_wall)
        launch["full"]["cold_cpu_ms"] = summary(cold_cpu)
        runtime_bin = os.path.join(os.path.dirname(b.pack), "portico-pack-runtime")
        ldd = subprocess.run(["ldd", runtime_bin], capture_output=True, text=True)
        targets = check_targets(sizes, launch)
        result = {
            "tool": args.entry,
            "runs": args.runs,
            "runtime_bytes": sizes[name]["runtime_bytes"],
            "runtime_static": "not a dynamic executable" in (ldd.stdout + ldd.stderr),
            "zstd_level": 19,
            "build_ms": summary(build_ms, 1),
            "sizes": sizes,
            "native_ms": native,
            "native_cpu_ms": native_cpu,
            "launch": launch,
            "notes": ("warm_overhead_ms = median(mode) - median(native) over interleaved runs (the target); "
                      "warm_paired_overhead_ms: median and p95 of each run's difference from the native run before "
                      "it. Wall times end when the command "
                      "exits. background_ms: how long after that the processes it left behind ended (the "
                      "runtime leaves the unmounting of the sandbox, which syncs the upper dirs' file "
                      "system once per overlay, and the removal of stale overlay work dirs to them); the "
                      "bench waits for them outside the timed window, and their CPU is in the CPU figures."),
            "targets": targets,
            "all_targets_met": all(t["met"] for t in targets.values()),
        }
        result = {**run.finish(), **result}
        Run.write(result, args.out)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    for tname, t in targets.items():
        print(f"{'met' if t['met'] else 'MISSED'}: {tname}: {t['value']} (limit {t['limit']}; {t['what']})")
    for mode in MODES:
        l = launch[mode]
        print(f"{mode}: warm median {l['warm_ms']['median']} ms (p95 {l['warm_ms']['p95']}), native "
              f"{native['median']} ms (p95 {native['p95']}): +{l['warm_overhead_ms']} ms, CPU +{l['warm_cpu_overhead_ms']} ms")
    print(f"cold launch (full): median {launch['full']['cold_ms']['median']} ms; load {result['load_before']} -> "
          f"{result['load_after']}; written to {os.path.relpath(args.out)}")
    missed = [n for n, t in targets.items() if not t["met"]]
    if missed:
        print(f"MISSED {len(missed)} target(s): {', '.join(missed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
