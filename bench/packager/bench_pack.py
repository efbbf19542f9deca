#!/usr/bin/env python3
"""Packager benchmark: package size vs mksquashfs -comp zstd of the same files (a command-line tool,
jq, and an X11 app, xterm; the payload alone and the whole file with its runtime), build time, and
cold/warm launch time of the packaged command-line tool vs the same tool run natively (median of N).
Usage: bench_pack.py /path/to/portico-pack [--out bench/results/packager.json] [--runs 20]"""
import argparse, json, os, platform, resource, shutil, statistics, subprocess, tempfile, time

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


cpu_ms = {}  # CPU time (user + system, all descendants) of the last timed() call of each command


def timed(cmd, **kw):
    """Wall-clock ms of one run; its CPU ms go to cpu_ms. CPU time is what the runtime itself costs:
    on a shared, loaded machine the wall clock mostly measures waiting for a core."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=kw.get("env", env), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   input=kw.get("input"))
    wall = (time.perf_counter() - t0) * 1000.0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_ms[tuple(cmd)] = (r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) * 1000.0
    return wall


build_ms = [timed([pack, "build", "--entry", args.entry, "--name", name, "--key", key, "-o", pkg]) for _ in range(3)]


def size_report(package, run_argv):
    """Sizes of a package against squashfs images of the very files it unpacks to."""
    info = subprocess.run([pack, "inspect", package], env=env, capture_output=True, text=True, check=True).stdout
    runtime_bytes = int(info.split("runtime:")[1].split()[0])
    compressed = int(info.split("bytes unpacked,")[1].split()[0])
    pkg_bytes = os.path.getsize(package)
    subprocess.run([package] + run_argv, env=env, check=True, stdout=subprocess.DEVNULL)
    roots = os.path.join(env["HOME"], ".cache", "portico", "roots")
    pkg_name = subprocess.run([pack, "inspect", package], env=env, capture_output=True, text=True,
                              check=True).stdout.split()[1]
    root = os.path.join(roots, next(d for d in os.listdir(roots) if d.rsplit("-", 1)[0] == pkg_name))
    out = {"package_bytes": pkg_bytes, "runtime_bytes": runtime_bytes, "payload_bytes": pkg_bytes - runtime_bytes,
           "chunk_bytes": compressed, "index_bytes": pkg_bytes - runtime_bytes - compressed}
    for label, extra in (("squashfs_zstd_bytes", []), ("squashfs_zstd19_bytes", ["-Xcompression-level", "19"])):
        img = os.path.join(work, "same.squashfs")
        t0 = time.perf_counter()
        subprocess.run(["mksquashfs", root, img, "-comp", "zstd", *extra, "-noappend", "-quiet", "-e", ".portico-complete"],
                       check=True, stdout=subprocess.DEVNULL)
        if not extra:
            out["mksquashfs_ms"] = round((time.perf_counter() - t0) * 1000.0, 1)
        out[label] = os.path.getsize(img)
    out["ratio_payload_vs_squashfs_zstd"] = round(out["payload_bytes"] / out["squashfs_zstd_bytes"], 3)
    out["ratio_package_vs_squashfs_zstd"] = round(pkg_bytes / out["squashfs_zstd_bytes"], 3)
    return out


sizes = {name: size_report(pkg, ["-n", "1"])}
xterm = os.path.join(work, "xterm.portico")
subprocess.run([pack, "build", "--entry", "/usr/bin/xterm", "--entry", "/bin/dash", "--name", "xterm", "--key", key,
                "--add", "/etc/X11/app-defaults/XTerm", "--add", "/lib/terminfo/x/xterm", "-o", xterm],
               check=True, env=env, stdout=subprocess.DEVNULL)
sizes["xterm"] = size_report(xterm, ["--portico-entry=dash", "-c", "true"])
runtime_bin = os.path.join(os.path.dirname(pack), "portico-pack-runtime")
ldd = subprocess.run(["ldd", runtime_bin], capture_output=True, text=True)
runtime_static = "not a dynamic executable" in (ldd.stdout + ldd.stderr)

argv = ["-n", "1"]
# Interleaved so that load from other processes on this shared machine hits every variant alike.
variants = {"native": [args.entry] + argv}
for mode in ("full", "writecopy", "merged"):
    variants[mode] = [pkg, f"--portico-isolation={mode}"] + argv
samples = {k: [] for k in variants}
cpu = {k: [] for k in variants}
for _ in range(args.runs):
    for k, cmd in variants.items():
        samples[k].append(timed(cmd))
        cpu[k].append(cpu_ms[tuple(cmd)])
native = samples["native"]
launch = {}
for mode in ("full", "writecopy", "merged"):
    med = statistics.median(samples[mode])
    launch[mode] = {"warm_ms_median": round(med, 2), "warm_overhead_ms": round(med - statistics.median(native), 2),
                    "warm_cpu_ms_median": round(statistics.median(cpu[mode]), 2),
                    "warm_cpu_overhead_ms": round(statistics.median(cpu[mode]) - statistics.median(cpu["native"]), 2)}
cold, cold_cpu = [], []
for i in range(args.runs):
    shutil.rmtree(os.path.join(env["HOME"], ".cache"), ignore_errors=True)
    cold.append(timed([pkg] + argv))
    cold_cpu.append(cpu_ms[tuple([pkg] + argv)])
launch["full"]["cold_ms_median"] = round(statistics.median(cold), 2)
launch["full"]["cold_cpu_ms_median"] = round(statistics.median(cold_cpu), 2)

res = {
    "benchmark": "packager",
    "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    "machine": f"{platform.node()} ({os.cpu_count()} CPUs, shared)",
    "kernel": platform.release(),
    "tool": args.entry,
    "runs": args.runs,
    "runtime_bytes": sizes[name]["runtime_bytes"],
    "runtime_static": runtime_static,
    "sizes": sizes,
    "build_ms_median": round(statistics.median(build_ms), 1),
    "zstd_level": 19,
    "native_ms_median": round(statistics.median(native), 2),
    "native_cpu_ms_median": round(statistics.median(cpu["native"]), 2),
    "load_average": os.getloadavg(),
    "launch": launch,
    "targets": {"size_ratio_max": 1.05, "warm_overhead_ms_max": 30},
}
os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
with open(args.out, "w") as f:
    json.dump(res, f, indent=2)
print(json.dumps(res, indent=2))
shutil.rmtree(work, ignore_errors=True)
