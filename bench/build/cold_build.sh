#!/usr/bin/env bash
# Cold build of everything at one commit, the way issue 13 measures it: a fresh worktree, an
# empty build folder, ccache off, Ninja, RelWithDebInfo, BUILD_TESTING=ON, -j2. Records wall time
# and CPU time (user + sys of cmake --build and every compiler under it: the fairer figure when
# other work shares the cores) with the load before and after, and writes them as one run into
# bench/results/build.json under the given label (before, after, ...), keeping the other runs.
#
#   bench/build/cold_build.sh [--label after] [--jobs 2] [COMMIT]     (COMMIT: default HEAD)
#
# The worktree (/tmp/portico-cold-<commit>) is removed afterwards. Run it under
# flock /tmp/portico-bench.lock when others share the machine.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
label=after jobs=2 commit=HEAD
while [ $# -gt 0 ]; do
  case $1 in
    --label) label=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) commit=$1; shift ;;
  esac
done
commit=$(git -C "$repo" rev-parse "$commit")
wt=/tmp/portico-cold-${commit:0:10}
results=$repo/bench/results/build.json

git -C "$repo" worktree remove --force "$wt" 2>/dev/null || rm -rf "$wt"
git -C "$repo" worktree add --detach "$wt" "$commit" >/dev/null
trap 'git -C "$repo" worktree remove --force "$wt" >/dev/null 2>&1 || true' EXIT

export CCACHE_DISABLE=1
configure=(cmake -S "$wt" -B "$wt/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=ON)
build=(cmake --build "$wt/build" -j"$jobs")
"${configure[@]}" >/dev/null

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
/usr/bin/time -v -o "$wt/time.txt" "${build[@]}" >"$wt/build.log" 2>&1 || {
  tail -30 "$wt/build.log" >&2; echo "[cold_build] build failed" >&2; exit 1; }
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
tus=$(grep -c '^\[[0-9]*/[0-9]*\] Building' "$wt/build.log" || true)

/usr/bin/python3 - "$results" "$label" "$commit" "$started" "$load_before" "$load_after" "$wt/time.txt" \
  "$tus" "$jobs" "${configure[*]}" "${build[*]}" "$wt/build/.ninja_log" <<'PY'
import json, os, subprocess, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(sys.argv[1])), ".."))
from benchmeta import machine
path, label, commit, started, lb, la, timefile, tus, jobs, configure, build, ninja_log = sys.argv[1:]
t = {}
for line in open(timefile):
    k, _, v = line.strip().rpartition(": ")
    t[k] = v
def seconds(clock):  # h:mm:ss or m:ss.ss
    s = 0.0
    for part in clock.split(":"):
        s = s * 60 + float(part)
    return round(s, 1)
user, sys_ = float(t["User time (seconds)"]), float(t["System time (seconds)"])
run = {
    "commit": commit, "date": started, "machine": machine(),
    "load_before": [float(x) for x in lb.split()], "load_after": [float(x) for x in la.split()],
    "command": f"CCACHE_DISABLE=1 {configure} && /usr/bin/time -v {build}",
    "wall_s": seconds(t["Elapsed (wall clock) time (h:mm:ss or m:ss)"]),
    "user_s": round(user, 1), "sys_s": round(sys_, 1), "cpu_s": round(user + sys_, 1),
    "max_rss_kib": int(t["Maximum resident set size (kbytes)"]),
    "compile_steps": int(tus), "jobs": int(jobs),
}
# Where the time went: the slowest steps (Ninja's own start/end times per output, in ms).
steps = []
for line in open(ninja_log):
    if not line.startswith("#"):
        start, end, _, output, _ = line.rstrip("\n").split("\t")
        steps.append((int(end) - int(start), output))
steps.sort(reverse=True)
run["slowest_steps_s"] = [[round(ms / 1000, 1), out] for ms, out in steps[:15]]
doc = json.load(open(path)) if os.path.exists(path) else {}
doc.setdefault("runs", {})[label] = run
# The top level is what bench/check-fresh judges: the run of the newest commit measured (a
# baseline built afterwards at an older commit, to compare machines, does not replace it).
def committed(r):
    out = subprocess.run(["git", "-C", os.path.dirname(path), "log", "-1", "--format=%ct", r["commit"]],
                         capture_output=True, text=True)
    return int(out.stdout.strip() or 0)
newest = max(doc["runs"].values(), key=lambda r: (committed(r), r["date"]))
for k in ("commit", "date", "machine", "load_before", "load_after", "command"):
    doc[k] = newest[k]
doc["target"] = "cold build of everything <= 360 s wall on 2 cores (issue 13)"
with open(path + ".tmp", "w") as f:
    json.dump(doc, f, indent=2)
    f.write("\n")
os.replace(path + ".tmp", path)
print(json.dumps(run, indent=2))
PY
