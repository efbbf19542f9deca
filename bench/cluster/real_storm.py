#!/usr/bin/python3
"""The launch storm with real session starts (issue 14): PostgreSQL, the broker(s), HAProxy
(deploy/haproxy/haproxy.cfg) and session hosts each on a machine of its own (network namespaces,
tests/integration/cluster.py; needs root). Users launch through the load balancer with the
headless client (portico-client --headless: log in, launch, open the display channel through the
broker's gateway) and each waits for its first decoded frame; every launch starts a real session
on its host: a new Xvfb and the published app `Logo`, /usr/bin/xlogo (x11-apps), a small X client
that draws at once, so the figure is the cost of starting a session, not of the app.

Reported: launches per second to first frame (launches / wall time from the first launch to the
last first frame), launch-to-first-frame p50/p99 (the client's first_frame_ms: launch request to
first decoded frame; login comes before it), and the same per host. The broker-only figure, with
hosts simulated and nothing started, is bench/broker/storm.py's (broker_storm*.json).

    bench/cluster/real_storm.py [--build build] [--brokers 1] [--hosts 3] [--launches 30] [--concurrency 6]
        -> bench/results/cluster_real_storm.json (1 broker) or cluster_real_storm_2_brokers.json
"""

import argparse
import concurrent.futures
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
from benchmeta import Run, percentile, summary  # noqa: E402
from cluster import Cluster, add_users, api, password_of  # noqa: E402
from netns import require_root  # noqa: E402

APP_ID, APP_NAME, APP_COMMAND = "logo", "Logo", "/usr/bin/xlogo"


def latency(values):
    v = sorted(values)
    return {"p50": round(percentile(v, 0.5), 1), "p99": round(percentile(v, 0.99), 1), "max": round(v[-1], 1),
            "n": len(v)} if v else {"p50": None, "p99": None, "max": None, "n": 0}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    ap.add_argument("--brokers", type=int, default=1)
    ap.add_argument("--hosts", type=int, default=3)
    ap.add_argument("--launches", type=int, default=30, help="one per user, each a new session")
    ap.add_argument("--concurrency", type=int, default=6, help="clients launching at once")
    ap.add_argument("--out", help="default bench/results/cluster_real_storm[_N_brokers].json")
    args = ap.parse_args()
    why = require_root()
    if why:
        sys.exit(why)
    build = os.path.abspath(args.build)
    out = args.out or os.path.join(REPO, "bench", "results", "cluster_real_storm.json" if args.brokers == 1
                                   else f"cluster_real_storm_{args.brokers}_brokers.json")

    run = Run("cluster_real_storm")
    c = Cluster(build, REPO, "real-storm", brokers=args.brokers)
    # Room for every launch on any host: placement then spreads by load alone, and no launch meets
    # a host the broker still counts as having room after it filled (its count follows heartbeats).
    per_host = args.launches
    ok = False
    try:
        c.start()
        subprocess.run([c.stack.bin("portico-broker"), "publish", "--state", c.stack.state, *c.stack.database_args(),
                        "--id", APP_ID, "--name", APP_NAME, "--group", "users", "--", APP_COMMAND],
                       check=True, capture_output=True, timeout=60)
        hosts = [f"h{i}" for i in range(1, args.hosts + 1)]
        for h in hosts:
            c.add_host(h, extra=["--max-sessions", str(per_host)])
        admin = c.stack.login("admin", c.stack.admin_password)
        users = [f"u{i:04d}" for i in range(args.launches)]
        add_users(c.stack, admin, users)

        def launch(user):
            t0 = time.time()
            proc, stats = c.stack.client("--resource", APP_NAME, "--duration", "0", "--json", user=user,
                                         password=password_of(user), timeout=180)
            return {"user": user, "start": t0, "end": time.time(), "exit": proc.returncode, "stats": stats,
                    "stderr": proc.stderr[-500:] if proc.returncode else ""}

        t_start = time.time()
        with concurrent.futures.ThreadPoolExecutor(args.concurrency) as pool:
            results = list(pool.map(launch, users))
        done = [r for r in results if r["exit"] == 0 and r["stats"] and r["stats"]["first_frame_ms"] is not None]
        failed = [r for r in results if r not in done]
        # The first frame's moment: the client's launch-to-frame time after its login, so the storm
        # ends at the last first frame, not at the clients' exits.
        t_end = max((r["end"] for r in done), default=time.time())
        wall = t_end - t_start

        status, body = api(c.stack, "GET", "/api/v1/sessions?scope=all&limit=1000", cookie=admin)
        items = body["sessions"] if isinstance(body, dict) else body
        host_of = {s["id"]: s["host"] for s in items}
        by_host = {h: [] for h in hosts}
        for r in done:
            by_host.setdefault(host_of.get(r["stats"]["session_id"], "?"), []).append(r["stats"]["first_frame_ms"])
        ffm = [r["stats"]["first_frame_ms"] for r in done]
        client_total_ms = [(r["end"] - r["start"]) * 1000 for r in done]
        result = {
            **run.finish(),
            "what": ("real session starts: hosts on machines of their own (network namespaces), each launch a new "
                     f"Xvfb + {APP_COMMAND}; users launch through HAProxy with the headless client and wait for the "
                     "first decoded frame; PostgreSQL store"),
            "setup": {"brokers": args.brokers, "hosts": args.hosts, "max_sessions_per_host": per_host,
                      "launches": args.launches, "concurrency": args.concurrency, "app": APP_COMMAND,
                      "load_balancer": "HAProxy (deploy/haproxy/haproxy.cfg)", "store": "PostgreSQL"},
            "launch": {
                "ok": len(done), "failed": len(failed),
                "failures": [{"user": r["user"], "exit": r["exit"], "stderr": r["stderr"]} for r in failed][:5],
                "seconds": round(wall, 2),
                "launches_per_second_to_first_frame": round(len(done) / wall, 2) if wall > 0 else None,
                "launch_to_first_frame_ms": latency(ffm),
                "client_login_launch_first_frame_ms": latency(client_total_ms),
                "per_host": {h: {"sessions": len(v), "launch_to_first_frame_ms": latency(v)}
                             for h, v in sorted(by_host.items())},
                "first_frame_ms_summary": summary(ffm),
            },
            "note": ("launch_to_first_frame_ms is the client's own figure (launch request to first decoded frame); "
                     "client_login_launch_first_frame_ms adds the client process, its login (Argon2id) and exit. "
                     "Every machine shares this one's two cores: the figure is the whole installation's on them."),
        }
        Run.write(result, out)
        print(f"{len(done)}/{args.launches} launches to first frame in {wall:.1f} s: "
              f"{result['launch']['launches_per_second_to_first_frame']} /s, "
              f"p50 {result['launch']['launch_to_first_frame_ms']['p50']} ms, "
              f"p99 {result['launch']['launch_to_first_frame_ms']['p99']} ms; per host "
              + ", ".join(f"{h}: {v['sessions']}" for h, v in result["launch"]["per_host"].items()), file=sys.stderr)
        ok = not failed
        return 0 if ok else 1
    except Exception:
        c.dump_logs()
        raise
    finally:
        c.stop(keep=not ok)


if __name__ == "__main__":
    sys.exit(main())
