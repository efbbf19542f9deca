#!/usr/bin/env bash
# Fuzzing bench: runs every libFuzzer target of tests/fuzz for real (10 million executions each
# by default, or until a per-target time bound, whichever comes first) over a copy of its seed
# corpus, and writes bench/results/fuzz.json: commit, machine, load before and after, the exact
# command, and per target the executions, exec/s, crashes (any libFuzzer finding: crash, leak,
# UB, timeout, OOM, violated property) and coverage (cov/ft from libFuzzer's final line).
#
#   bench/fuzz/run.sh [--runs N] [--max-seconds S] [--jobs J] [--targets "a b"] [--build DIR] [--no-build]
#                     [--note TEXT]   (stored with the run, e.g. why a time bound was used)
#
# --targets runs some targets and keeps the others' results in fuzz.json (each names its run).
#
# Builds the fuzz folder first (clang; configure flags as in docs/architecture.md). Exits non-zero
# when any target found anything; the finding is kept in build-fuzz/bench/<run>/artifacts/.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
build=$repo/build-fuzz
runs=10000000
max_seconds=1800
jobs=2
targets="display control ticket launch_file palette http rfb package runtime_package"
no_build=0
note=""
cmdline="bench/fuzz/run.sh $*"
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --max-seconds) max_seconds=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --targets) targets=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --no-build) no_build=1; shift ;;
    --note) note=$2; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

export CCACHE_BASEDIR=$repo CCACHE_NOHASHDIR=1
[ "$no_build" = 1 ] || cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPORTICO_FUZZ=ON \
  -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang >/dev/null
[ "$no_build" = 1 ] || cmake --build "$build" -j"$(nproc)" >/dev/null

out=$build/bench/$(date -u +%Y%m%dT%H%M%S)-$$
artifacts=$out/artifacts
mkdir -p "$out" "$artifacts"
load_before=$(cat /proc/loadavg)
# The commit the targets were built from, taken now: HEAD may move while they run.
commit=$(git -C "$repo" rev-parse HEAD)
[ -z "$(git -C "$repo" status --porcelain --untracked-files=no)" ] && tree_dirty=false || tree_dirty=true
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)

run_one() {
  local t=$1 work=$out/corpus-$1
  mkdir -p "$work"
  cp -r "$repo/tests/fuzz/corpus/$t/." "$work/"
  local start=$(date +%s) rc=0
  # The sanitizer options ctest would set (tests/fuzz/sanitizers.cmake), here by hand.
  ASAN_OPTIONS=halt_on_error=1:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    "$build/tests/fuzz/fuzz_$t" -runs="$runs" -max_total_time="$max_seconds" -timeout=10 -rss_limit_mb=3072 \
      -print_final_stats=1 -artifact_prefix="$artifacts/$t-" "$work" >"$out/$t.log" 2>&1 || rc=$?
  echo "$rc $(( $(date +%s) - start ))" >"$out/$t.status"
  echo "[fuzz] $t: exit $rc after $(( $(date +%s) - start )) s"
}

running=0
for t in $targets; do
  run_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then wait -n || true; running=$((running - 1)); fi
done
wait || true
load_after=$(cat /proc/loadavg)

mkdir -p "$repo/bench/results"
/usr/bin/python3 - "$repo" "$out" "$artifacts" "$runs" "$max_seconds" "$jobs" "$cmdline" "$load_before" "$load_after" "$started" "$note" "$commit" "$tree_dirty" $targets <<'PY'
import json, os, re, sys
repo, out, artifacts, runs, max_seconds, jobs, cmdline, load_before, load_after, started, note, commit, tree_dirty, *targets = sys.argv[1:]
def first(pattern, text, cast=str):
    m = re.findall(pattern, text)
    return cast(m[-1]) if m else None
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
mem_kb = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal"))
run = {
    "commit": commit,
    "tree_dirty": tree_dirty == "true",
    "started": started,
    "machine": {"nproc": os.cpu_count(), "model_name": cpu, "memory_gib": round(mem_kb / 1024 / 1024, 1)},
    "load_before": load_before, "load_after": load_after,
    "command": cmdline,
    "per_target_command": f"fuzz_<target> -runs={runs} -max_total_time={max_seconds} -timeout=10 -rss_limit_mb=3072 "
                          "-print_final_stats=1 <copy of tests/fuzz/corpus/<target>>",
    "parallel_targets": int(jobs),
    "build": "clang 14, -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all, RelWithDebInfo",
    "targets": targets,
    "note": note,
}
# A run of some targets keeps the other targets' results from earlier runs (each names its run).
path = os.path.join(repo, "bench", "results", "fuzz.json")
result = {"runs": [], "targets": {}}
if os.path.exists(path):
    try:
        old = json.load(open(path))
        if "runs" in old:
            result = old
    except ValueError:
        pass
for t in targets:
    result["targets"].pop(t, None)
live = {r.get("run") for r in result["targets"].values()}
kept = [r for i, r in enumerate(result["runs"]) if i in live]
remap = {i: kept.index(r) for i, r in enumerate(result["runs"]) if i in live}
for r in result["targets"].values():
    r["run"] = remap[r["run"]]
result["runs"] = kept + [run]
run_index = len(result["runs"]) - 1
ok = True
for t in targets:
    log = open(os.path.join(out, f"{t}.log"), errors="replace").read()
    rc, secs = map(int, open(os.path.join(out, f"{t}.status")).read().split())
    execs = first(r"stat::number_of_executed_units:\s+(\d+)", log, int)
    final = [l for l in log.splitlines() if re.match(r"#\d+\s+(DONE|pulse|NEW|REDUCE|INITED)", l)]
    last = final[-1] if final else ""
    found = sorted(f for f in os.listdir(artifacts) if f.startswith(t + "-"))
    crashes = len(found) + (1 if rc != 0 and not found else 0)
    ok = ok and crashes == 0
    result["targets"][t] = {
        "executions": execs,
        "reached_runs": execs is not None and execs >= int(runs),
        "seconds": secs,
        "exec_per_sec": first(r"stat::average_exec_per_sec:\s+(\d+)", log, int),
        "crashes": crashes,
        "artifacts": found,
        "exit_code": rc,
        "cov": first(r"cov: (\d+)", last, int),
        "ft": first(r"ft: (\d+)", last, int),
        "corpus_units": first(r"corp: (\d+)", last, int),
        "peak_rss_mb": first(r"stat::peak_rss_mb:\s+(\d+)", log, int),
        "final_line": last,
        "run": run_index,
    }
json.dump(result, open(path, "w"), indent=2)
open(path, "a").write("\n")
print(f"[fuzz] wrote {path}")
for t in targets:
    r = result["targets"][t]
    print(f"[fuzz] {t:16} {r['executions']} execs in {r['seconds']} s ({r['exec_per_sec']}/s), crashes {r['crashes']}, cov {r['cov']} ft {r['ft']}")
sys.exit(0 if ok else 1)
PY
