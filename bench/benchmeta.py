"""What every benchmark result records about its run (issue 17): the commit, the machine, the
load before and after, and the exact command. One module, so the fields mean the same in every
file under bench/results/ and `bench/check-fresh` can read them all.

    from benchmeta import Run          # after sys.path.insert(0, <repo>/bench)
    run = Run("display")               # takes the commit and the load now: HEAD may move meanwhile
    result = {..., **run.finish()}     # adds load_after; call it when the measuring is done
    run.write(result, path)            # JSON, indented, with a newline at the end

Statistics live here too (`summary`), so a median or a p95 is computed one way everywhere, and
so does the reader of the host's per-frame log that several benches join with their own.
"""

import datetime
import json
import os
import platform
import shlex
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The host's x264 settings (codec/h264_encoder.cpp, the CRF of session-host/stream/stream_session.cpp)
# as ffmpeg options: the x264 peers and the reference clips use them, so their bytes and decoding
# cost compare with Portico's at the same settings.
HOST_X264_CRF = 18
HOST_X264 = ["-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-crf", str(HOST_X264_CRF),
             "-profile:v", "baseline"]


def _git(*args):
    return subprocess.run(["git", "-C", REPO, *args], capture_output=True, text=True).stdout.strip()


def loadavg():
    """The 1, 5 and 15 minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]


def machine():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
        with open("/proc/meminfo") as f:
            mem_kib = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
    except (OSError, StopIteration):
        mem_kib = 0
    return {"host": platform.node(), "nproc": os.cpu_count(), "cpu_model": model, "memory_mib": mem_kib // 1024,
            "kernel": platform.release()}


def now_utc():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def command_line(argv=None):
    """The command that reproduces this run, from the repository's root."""
    argv = list(sys.argv if argv is None else argv)
    script = os.path.relpath(os.path.abspath(argv[0]), REPO) if argv and argv[0].endswith(".py") else argv[0]
    return " ".join(shlex.quote(a) for a in ["/usr/bin/python3", script, *argv[1:]])


class Run:
    """The metadata of one benchmark run; created when the run starts."""

    def __init__(self, benchmark, argv=None):
        self.meta = {
            "benchmark": benchmark,
            "date": now_utc(),
            "commit": _git("rev-parse", "HEAD"),
            # A dirty tree means the figures are of code no commit holds.
            "tree_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
            "machine": machine(),
            "load_before": loadavg(),
            "command": command_line(argv),
        }

    def finish(self):
        """The metadata, with the load after the run; merge it into the result."""
        return {**self.meta, "load_after": loadavg(), "finished": now_utc()}

    @staticmethod
    def write(result, path):
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
        os.replace(tmp, path)


def host_frame_log(log_dir, session_id):
    """The host's per-frame log of one session (PORTICO_FRAME_LOG_DIR/<id>.jsonl) by frame id; {}
    when there is none. A last line still being written is left out."""
    frames = {}
    path = os.path.join(log_dir, f"{session_id}.jsonl")
    if session_id and os.path.exists(path):
        with open(path) as f:
            for line in f:
                if line.endswith("\n"):
                    e = json.loads(line)
                    frames[e["id"]] = e
    return frames


def percentile(sorted_values, q):
    """Nearest-rank percentile of an already sorted list (q in 0..1)."""
    return sorted_values[min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))]


def summary(values, digits=2):
    """median, p95, min, max and n of a list of numbers (None when empty)."""
    if not values:
        return {"median": None, "p95": None, "min": None, "max": None, "n": 0}
    v = sorted(values)
    n = len(v)
    median = v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2
    return {"median": round(median, digits), "p95": round(percentile(v, 0.95), digits), "min": round(v[0], digits),
            "max": round(v[-1], digits), "n": n}
