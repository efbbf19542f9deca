#!/usr/bin/env python3
"""Packager benchmark: package size vs mksquashfs -comp zstd of the same files, build time, and
cold/warm launch time of a packaged command-line tool vs the same tool run natively (median of N).
Usage: bench_pack.py /path/to/portico-pack [--out bench/results/packager.json] [--runs 20]"""
import argparse, json, os, platform, shutil, statistics, subprocess, tempfile, time

ap = argparse.ArgumentParser()
ap.add_argument("pack")
ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "results", "packager.json"))
ap.add_argument("--runs", type=int, default=20)
ap.add_argument("--entry", default="/usr/bin/jq")
args = ap.parse_args()
pack = os.path.abspath(args.pack)
work = tempfile.mkdtemp(prefix="portico-bench-", dir="/var/tmp")
env = dict(os.environ, HOME=os.path.join(work, "home"))
for k in ("XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME"):
    env.pop(k, None)
os.makedirs(env["HOME"])
key = os.path.join(work, "key.pem")
subprocess.run([pack, "keygen", "--out", key], check=True, env=env, stdout=subprocess.DEVNULL)
pkg = os.path.join(work, "tool.portico")
name = os.path.basename(args.entry)


def timed(cmd, **kw):
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=kw.get("env", env), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   input=kw.get("input"))
    return (time.perf_counter() - t0) * 1000.0


build_ms = [timed([pack, "build", "--entry", args.entry, "--name", name, "--key", key, "-o", pkg]) for _ in range(3)]
info = subprocess.run([pack, "inspect", pkg], env=env, capture_output=True, text=True, check=True).stdout
runtime_bytes = int(info.split("runtime:")[1].split()[0])
pkg_bytes = os.path.getsize(pkg)

# The same files: the package root the runtime assembles (hard links, like the package dedups).
subprocess.run([pkg, "-n", "1"], env=env, check=True, stdout=subprocess.DEVNULL)
roots = os.path.join(env["HOME"], ".cache", "portico", "roots")
root = os.path.join(roots, os.listdir(roots)[0])
sq = os.path.join(work, "same.squashfs")
t0 = time.perf_counter()
subprocess.run(["mksquashfs", root, sq, "-comp", "zstd", "-noappend", "-quiet", "-e", ".portico-complete"],
               check=True, stdout=subprocess.DEVNULL)
sq_ms = (time.perf_counter() - t0) * 1000.0
sq_bytes = os.path.getsize(sq)
sq19 = os.path.join(work, "same19.squashfs")
subprocess.run(["mksquashfs", root, sq19, "-comp", "zstd", "-Xcompression-level", "19", "-noappend", "-quiet",
                "-e", ".portico-complete"], check=True, stdout=subprocess.DEVNULL)
sq19_bytes = os.path.getsize(sq19)

argv = ["-n", "1"]
# Interleaved so that load from other processes on this shared machine hits every variant alike.
variants = {"native": [args.entry] + argv}
for mode in ("full", "writecopy", "merged"):
    variants[mode] = [pkg, f"--portico-isolation={mode}"] + argv
samples = {k: [] for k in variants}
for _ in range(args.runs):
    for k, cmd in variants.items():
        samples[k].append(timed(cmd))
native = samples["native"]
launch = {}
for mode in ("full", "writecopy", "merged"):
    med = statistics.median(samples[mode])
    launch[mode] = {"warm_ms_median": round(med, 2), "warm_overhead_ms": round(med - statistics.median(native), 2)}
cold = []
for i in range(args.runs):
    shutil.rmtree(os.path.join(env["HOME"], ".cache"), ignore_errors=True)
    cold.append(timed([pkg] + argv))
launch["full"]["cold_ms_median"] = round(statistics.median(cold), 2)

res = {
    "benchmark": "packager",
    "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    "kernel": platform.release(),
    "tool": args.entry,
    "runs": args.runs,
    "package_bytes": pkg_bytes,
    "runtime_bytes": runtime_bytes,
    "payload_bytes": pkg_bytes - runtime_bytes,
    "squashfs_zstd_bytes": sq_bytes,
    "squashfs_zstd19_bytes": sq19_bytes,
    "ratio_payload_vs_squashfs_zstd": round((pkg_bytes - runtime_bytes) / sq_bytes, 3),
    "ratio_package_vs_squashfs_zstd": round(pkg_bytes / sq_bytes, 3),
    "build_ms_median": round(statistics.median(build_ms), 1),
    "zstd_level": 19,
    "mksquashfs_ms": round(sq_ms, 1),
    "native_ms_median": round(statistics.median(native), 2),
    "load_average": os.getloadavg(),
    "launch": launch,
    "targets": {"size_ratio_max": 1.05, "warm_overhead_ms_max": 30},
}
os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
with open(args.out, "w") as f:
    json.dump(res, f, indent=2)
print(json.dumps(res, indent=2))
shutil.rmtree(work, ignore_errors=True)
