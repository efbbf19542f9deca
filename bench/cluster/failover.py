#!/usr/bin/python3
"""Failover of a broker under load (issue 14): PostgreSQL, two brokers, HAProxy
(deploy/haproxy/haproxy.cfg) and three session hosts, each on a machine of its own (network
namespaces, tests/integration/cluster.py; needs root). Users keep launching sessions of `Logo`
(/usr/bin/xlogo) through the load balancer while two users watch open sessions; then the broker
that carries a watched stream is killed with SIGKILL. Measured from the kill:

  (a) hosts re-homed: each host that was connected to the killed broker registered again (on
      the other: the only one left), from the host's own log;
  (b) a new launch succeeding: a launch through the load balancer, retried at once on failure,
      reaching its first frame;
  (c) an open session's stream resuming: the headless client watching a session whose display
      channel went through the killed broker. The headless client does not reconnect by itself
      (it exits, code 4, when the stream is lost); this bench starts it again at once, as the web
      client's own reconnection does, and the time is from the kill to its first frame of the
      same session.
And: no answered launch lost (every launch the broker answered with a session is, afterwards, a
session that is not lost or ended).

Targets: re-home <= 10 s, stream resumes <= 5 s, no answered launch lost.

    bench/cluster/failover.py [--build build] [--load-concurrency 2] -> bench/results/cluster_failover.json
"""

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
from benchmeta import Run  # noqa: E402
from cluster import Cluster, add_users, api, connections_to_lb, password_of  # noqa: E402
from netns import require_root  # noqa: E402

APP_ID, APP_NAME, APP_COMMAND = "logo", "Logo", "/usr/bin/xlogo"


def client_cmd(stack, user, *args):
    return [stack.bin("portico-client"), "--headless", "--broker", stack.url, "--user", user,
            "--ca", os.path.join(stack.state, "tls/broker.crt"), "--resource", APP_NAME, "--json", *args]


class Watcher:
    """A user watching an open session: the headless client with a long --duration; when it
    exits (its stream lost), it is started again at once and the moment of its first frame noted."""

    def __init__(self, c, user):
        self.c, self.user = c, user
        self.env = dict(os.environ, PORTICO_PASSWORD=password_of(user))
        self.session = None
        self.lost_at = None
        self.resumed_at = None
        self.resumed_session = None
        self.proc = self._start()

    def _start(self):
        return subprocess.Popen(client_cmd(self.c.stack, self.user, "--duration", "3600"), env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def wait_streaming(self, timeout=60):
        """Until the client has its first frame: its display channel is then the newest connection."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            status, body = api(self.c.stack, "GET", "/api/v1/sessions?scope=all", cookie=self.c.admin)
            mine = [s for s in (body["sessions"] if isinstance(body, dict) else body) if s["user"] == self.user]
            if mine and mine[0]["state"] == "active":
                self.session = mine[0]["id"]
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"watcher {self.user} exited: {self.proc.stderr.read()[-1000:]}")
            time.sleep(0.2)
        raise RuntimeError(f"watcher {self.user} has no active session")

    def follow(self, deadline):
        """After the kill: wait for the stream to drop, then reconnect (a new client) until a frame."""
        try:
            self.proc.wait(timeout=max(1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            return  # the stream did not drop
        self.lost_at = time.time()
        while time.time() < deadline:
            t = time.time()
            proc = subprocess.run(client_cmd(self.c.stack, self.user, "--duration", "0"), env=self.env,
                                  capture_output=True, text=True, timeout=60)
            stats = next((json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")), None)
            if proc.returncode == 0 and stats and stats.get("first_frame_ms") is not None:
                self.resumed_at = t + stats["first_frame_ms"] / 1000
                self.resumed_session = stats["session_id"]
                return


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    ap.add_argument("--load-concurrency", type=int, default=2, help="users launching at once, all along")
    ap.add_argument("--out", default=os.path.join(REPO, "bench", "results", "cluster_failover.json"))
    args = ap.parse_args()
    why = require_root()
    if why:
        sys.exit(why)
    run = Run("cluster_failover")
    c = Cluster(os.path.abspath(args.build), REPO, "failover", brokers=2)
    ok = False
    try:
        c.start()
        stack = c.stack
        subprocess.run([stack.bin("portico-broker"), "publish", "--state", stack.state, *stack.database_args(),
                        "--id", APP_ID, "--name", APP_NAME, "--group", "users", "--", APP_COMMAND],
                       check=True, capture_output=True, timeout=60)
        hosts = ["h1", "h2", "h3"]
        for h in hosts:
            c.add_host(h, extra=["--max-sessions", "60"])
        c.admin = stack.login("admin", stack.admin_password)
        users = [f"u{i:03d}" for i in range(120)] + ["w1", "w2"]
        add_users(stack, c.admin, users)

        watchers = [Watcher(c, "w1"), Watcher(c, "w2")]
        for w in watchers:
            w.wait_streaming()
        stream_brokers = {w.user: c.brokers_behind(connections_to_lb(pid=w.proc.pid)) for w in watchers}
        victim = next((sorted(b)[0] for b in stream_brokers.values() if b), "broker1")
        watched = [w for w in watchers if victim in stream_brokers[w.user]]
        survivor = next(n for n in c.brokers if n != victim)
        home = {h: c.brokers_behind(connections_to_lb(machine=c.host_machines[h])) for h in hosts}
        regs_before = {h: c.registrations(h) for h in hosts}

        # Load: launches all along, each recorded with whether the broker answered it.
        launches, stop_load = [], threading.Event()
        free_users = list(users[:-2])
        lock = threading.Lock()

        def load_worker():
            while not stop_load.is_set():
                with lock:
                    if not free_users:
                        return
                    user = free_users.pop()
                t = time.time()
                proc, stats = stack.client("--resource", APP_NAME, "--duration", "0", "--json", user=user,
                                           password=password_of(user), timeout=120)
                with lock:
                    launches.append({"user": user, "start": t, "end": time.time(), "exit": proc.returncode,
                                     "session_id": (stats or {}).get("session_id")})

        pool = concurrent.futures.ThreadPoolExecutor(args.load_concurrency)
        for _ in range(args.load_concurrency):
            pool.submit(load_worker)
        time.sleep(5)

        # ---- the kill ----
        t_kill = time.time()
        c.kill_broker(victim)
        follow = [threading.Thread(target=w.follow, args=(t_kill + 30,)) for w in watched]
        for t in follow:
            t.start()
        moved = [h for h in hosts if victim in home[h]]
        rehomed_at = {}
        new_launch_at = None
        probe = users[-3]  # a user of the load's list kept for the probe
        with lock:
            if probe in free_users:
                free_users.remove(probe)
        while time.time() < t_kill + 60 and (len(rehomed_at) < len(moved) or new_launch_at is None):
            for h in moved:
                if h not in rehomed_at and c.registrations(h) > regs_before[h]:
                    rehomed_at[h] = time.time()
            if new_launch_at is None:
                proc, stats = stack.client("--resource", APP_NAME, "--duration", "0", "--json", user=probe,
                                           password=password_of(probe), timeout=60)
                if proc.returncode == 0 and stats and stats.get("first_frame_ms") is not None:
                    new_launch_at = time.time()
            time.sleep(0.05)
        for t in follow:
            t.join()
        time.sleep(5)
        stop_load.set()
        pool.shutdown(wait=True)

        # ---- no answered launch lost ----
        time.sleep(3)
        status, body = api(stack, "GET", "/api/v1/sessions?scope=all&limit=1000", cookie=c.admin)
        live = {s["id"]: s for s in (body["sessions"] if isinstance(body, dict) else body)}
        answered = [x for x in launches if x["session_id"]]
        lost = [x for x in answered if x["session_id"] not in live]
        rehome_s = max((t - t_kill for t in rehomed_at.values()), default=None)
        stream_s = max((w.resumed_at - t_kill for w in watched if w.resumed_at), default=None)
        result = {
            **run.finish(),
            "what": ("kill -9 of the broker carrying a watched stream, with launches going on through HAProxy; "
                     "2 brokers on PostgreSQL, 3 hosts, each on a machine of its own (network namespaces)"),
            "setup": {"brokers": 2, "hosts": len(hosts), "load_concurrency": args.load_concurrency,
                      "app": APP_COMMAND, "killed": victim, "survivor": survivor,
                      "hosts_on_killed_broker": moved, "watched_streams_on_killed_broker": [w.user for w in watched],
                      "stream_client": ("headless client, started again at once when its stream is lost "
                                        "(it does not reconnect by itself)")},
            "rehome_s": round(rehome_s, 2) if rehome_s is not None else (0 if not moved else None),
            "rehome_s_per_host": {h: round(t - t_kill, 2) for h, t in rehomed_at.items()},
            "new_launch_s": round(new_launch_at - t_kill, 2) if new_launch_at else None,
            "stream_resume_s": round(stream_s, 2) if stream_s is not None else None,
            "streams_not_interrupted": [w.user for w in watched if w.lost_at is None],
            "stream_lost_after_s": {w.user: round(w.lost_at - t_kill, 2) for w in watched if w.lost_at},
            "stream_same_session": all(w.resumed_session == w.session for w in watched if w.resumed_at),
            "launches": {"during_run": len(launches), "answered": len(answered),
                         "failed": len([x for x in launches if x["exit"] != 0]),
                         "answered_then_lost": len(lost), "lost_examples": lost[:3]},
        }
        targets = {
            "hosts re-homed <= 10 s": result["rehome_s"] is not None and result["rehome_s"] <= 10,
            "stream resumes <= 5 s": bool(watched) and all(
                w.lost_at is None or (w.resumed_at and w.resumed_at - t_kill <= 5) for w in watched),
            "a new launch succeeded": result["new_launch_s"] is not None,
            "no answered launch lost": not lost,
        }
        result["targets"] = targets
        result["pass"] = all(targets.values())
        Run.write(result, args.out)
        for k, v in targets.items():
            print(f"{'met   ' if v else 'MISSED'} {k}", file=sys.stderr)
        print(f"re-home {result['rehome_s']} s, new launch {result['new_launch_s']} s, stream resumed "
              f"{result['stream_resume_s']} s, answered launches lost: {len(lost)}/{len(answered)}", file=sys.stderr)
        ok = True
        return 0 if result["pass"] else 1
    except Exception:
        c.dump_logs()
        raise
    finally:
        c.stop(keep=not ok)


if __name__ == "__main__":
    sys.exit(main())
