#!/usr/bin/python3
"""Runs the broker-only logon storm (`broker_storm`) and records it with the metadata every result
carries (bench/benchmeta.py) and its targets checked.

What it measures is the broker alone: the hosts are simulated in the storm process (they speak the
real control protocol over mTLS but start nothing and answer at once) and the users are logged in
beforehand. So a "launch" here is the broker's bookkeeping and answer, not a session starting;
the launch storm with real session starts is issue 14's.

    bench/broker/storm.py [--build build]      closed loop -> bench/results/broker_storm.json,
                                               open loop at 500/s -> broker_storm_open_loop_500.json
    bench/broker/storm.py --postgres [--brokers N]
        the same on PostgreSQL (a server of its own, started on a machine of its own: a network
        namespace, tests/integration/netns.py, so root), N brokers sharing it, the launches and
        hosts spread over them -> broker_storm_postgres[_N_brokers].json and
        broker_storm_postgres[_N_brokers]_open_loop_500.json
Exit 1 when a target is missed (the files are written either way).
"""

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from benchmeta import REPO, Run  # noqa: E402

sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

WHAT = ("broker only: hosts simulated in the storm process (real control protocol over mTLS, start nothing, "
        "answer at once); users logged in beforehand; a launch = REST request to answered ticket")
WHAT_PG = (" Store: PostgreSQL 15 on a machine of its own (network namespace, reached over a veth; fsync off, "
           "a test server), {brokers} broker(s) sharing it; the launching connections and the hosts are spread "
           "over the brokers, the durability round kills broker 0.")

# (result file, extra flags, targets as (name, JSON path, bound, "min" or "max"))
RUNS = [
    ("broker_storm.json", [], [
        ("closed-loop throughput >= 500 launches/s", ("launch", "launches_per_second"), 500, "min"),
        ("no launch answered and then lost across kill -9", ("durability", "ok"), True, "eq"),
    ]),
    ("broker_storm_open_loop_500.json", ["--rate", "500"], [
        ("open loop at 500/s: p99 <= 50 ms from scheduled arrival", ("launch", "latency_ms", "p99"), 50, "max"),
        ("open loop at 500/s: no errors", ("launch", "errors"), 0, "max"),
    ]),
]


def lookup(doc, path):
    for key in path:
        doc = doc[key]
    return doc


def check(doc, targets):
    out = {}
    for name, path, bound, kind in targets:
        value = lookup(doc, path)
        met = value >= bound if kind == "min" else value <= bound if kind == "max" else value == bound
        out[name] = {"value": value, "bound": bound, "met": met}
        print(f"{'met   ' if met else 'MISSED'} {name}: {value}", file=sys.stderr)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    ap.add_argument("--only", choices=[r[0] for r in RUNS], help="one of the two runs")
    ap.add_argument("--postgres", action="store_true", help="on PostgreSQL (its own server) instead of SQLite")
    ap.add_argument("--brokers", type=int, default=1, help="brokers sharing the PostgreSQL store (with --postgres)")
    args = ap.parse_args()
    if args.brokers > 1 and not args.postgres:
        sys.exit("--brokers needs --postgres: brokers share a PostgreSQL store")
    storm = os.path.join(args.build, "bench", "broker", "broker_storm")
    broker = os.path.join(args.build, "broker", "portico-broker")
    for path in (storm, broker):
        if not os.path.exists(path):
            sys.exit(f"{path} is missing: cmake --build {args.build} --target broker_storm portico-broker")

    network = pg = None
    if args.postgres:
        from netns import Network, Postgres, require_root
        why = require_root()
        if why:
            sys.exit(why)
        network = Network()
        pg = Postgres(network.machine("db"), max_connections=400)
    try:
        return run_all(args, storm, broker, pg)
    finally:
        if pg:
            pg.stop()
        if network:
            network.close()


def run_all(args, storm, broker, pg):
    all_met = True
    suffix = "" if not pg else "_postgres" + (f"_{args.brokers}_brokers" if args.brokers > 1 else "")
    for n, (name, flags, targets) in enumerate(RUNS):
        if args.only and name != args.only:
            continue
        out_name = name.replace("broker_storm", "broker_storm" + suffix)
        store_flags = []
        if pg:  # a new empty database per run: the storm's init fills it
            store_flags = ["--database", pg.create_database(f"storm{n}"), "--brokers", str(args.brokers)]
        run = Run("broker_storm")
        proc = subprocess.run([storm, "--broker-bin", broker, *flags, *store_flags], capture_output=True, text=True)
        sys.stderr.write(proc.stderr)
        if not proc.stdout.strip():
            sys.exit(f"broker_storm printed nothing (exit {proc.returncode})")
        doc = json.loads(proc.stdout)
        for key in ("benchmark", "date", "machine"):  # benchmeta records these, the same way as every bench
            doc.pop(key, None)
        what = WHAT + (WHAT_PG.format(brokers=args.brokers) if pg else "")
        result = {**run.finish(), "what": what, "storm_exit_status": proc.returncode, **doc}
        result["targets"] = check(doc, targets)
        result["pass"] = all(t["met"] for t in result["targets"].values())
        all_met &= result["pass"]
        Run.write(result, os.path.join(REPO, "bench", "results", out_name))
    return 0 if all_met else 1


if __name__ == "__main__":
    sys.exit(main())
