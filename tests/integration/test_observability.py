"""Observability (issue 14): the metrics of a real broker and a real session host against
docs/metrics.md (both directions: nothing served undocumented, nothing documented unserved), the
Grafana dashboard's queries against the metrics, the host's /metrics guard, and JSON logs
(PORTICO_LOG_FORMAT=json) parsed line by line from the real processes.

Usage: test_observability.py <case> <build_dir> <source_dir>. Exit 0 = pass, 1 = fail."""

import http.client
import json
import os
import re
import secrets
import signal
import ssl
import sys

sys.path.insert(0, os.path.dirname(__file__))
from stack import Stack, free_port, run_case, wait_for  # noqa: E402

HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


# ---- what the processes serve ----

def parse_exposition(text):
    """{family: {"type": t, "labels": set of label names, "samples": [(name, {label: value}, float)]}}
    from Prometheus text; every sample must belong to a family announced by # TYPE."""
    families = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            assert name not in families, f"family {name} announced twice"
            families[name] = {"type": kind, "labels": set(), "samples": []}
            continue
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$', line)
        assert m, f"not a sample line: {line!r}"
        name, labels_text, value = m.groups()
        labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', labels_text or ""))
        family = name
        if name not in families:
            base = next((name[:-len(s)] for s in HISTOGRAM_SUFFIXES if name.endswith(s)), None)
            assert base in families and families[base]["type"] == "histogram", f"{name} has no # TYPE"
            family = base
        families[family]["labels"].update(k for k in labels if k != "le")
        families[family]["samples"].append((name, labels, float(value)))
    return families


def value(families, name, **labels):
    """The sum of the samples of `name` (a family, or a histogram's _bucket/_sum/_count) whose
    labels include `labels`."""
    base = name if name in families else next(name[:-len(s)] for s in HISTOGRAM_SUFFIXES if name.endswith(s))
    family = families[base]
    return sum(v for n, l, v in family["samples"] if n == name and all(l.get(k) == w for k, w in labels.items()))


def https_get(port, path, cafile=None, token=None, method="GET"):
    ctx = ssl.create_default_context(cafile=cafile) if cafile else ssl._create_unverified_context()
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=30)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    conn.request(method, path, headers=headers)
    resp = conn.getresponse()
    body = resp.read().decode("utf-8", errors="replace")
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body


# ---- what the documentation and the dashboard say ----

def documented(source):
    """{"broker": {name: (type, labels)}, "host": {...}} from the tables of docs/metrics.md."""
    out = {"broker": {}, "host": {}}
    section = None
    with open(os.path.join(source, "docs", "metrics.md")) as f:
        for line in f:
            if line.startswith("## "):
                section = "broker" if "(`portico-broker`)" in line else "host" if "(`portico-host`)" in line else None
                continue
            m = re.match(r"^\| `(portico_[a-z0-9_]+)` \| (\w+) \| ([^|]*) \|", line)
            if not m:
                continue
            assert section, f"docs/metrics.md: {m.group(1)} is outside the broker and host sections"
            name, kind, labels = m.groups()
            assert name not in out[section], f"docs/metrics.md: {name} listed twice"
            out[section][name] = (kind, set(re.findall(r"`([a-z_]+)`", labels)))
    assert out["broker"] and out["host"], "docs/metrics.md: no metric tables found"
    return out


PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool",
                "offset", "inf", "nan",
                # aggregation operators: once "by (...)" is gone they are followed by "by", not "("
                "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk",
                "quantile"}


def promql_metrics(expr):
    """The metric names a PromQL expression reads: identifiers that are not functions, keywords,
    label names (inside {} or the lists after by/on/...), strings or durations."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)                     # string literals
    e = re.sub(r"\{[^}]*\}", "", e)                                   # label matchers
    e = re.sub(r"\[[^\]]*\]", "", e)                                  # ranges ($__rate_interval, 5m)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", r"\1", e)  # label lists
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", e):
        word = m.group(0)
        rest = e[m.end():].lstrip()
        if rest.startswith("(") or word.lower() in PROMQL_WORDS:
            continue  # a function call or a keyword
        if m.start() > 0 and (e[m.start() - 1].isdigit() or e[m.start() - 1] in "$."):
            continue  # 1e3, $variables
        names.add(word)
    return names


def dashboard_exprs(source):
    with open(os.path.join(source, "deploy", "grafana", "portico.json")) as f:
        dash = json.load(f)
    exprs, datasources = [], []

    def walk(panels):
        for p in panels:
            walk(p.get("panels", []))
            if p.get("type") == "row":
                continue
            datasources.append((p.get("title"), p.get("datasource")))
            for t in p.get("targets", []):
                exprs.append((p.get("title"), t["expr"]))
                datasources.append((p.get("title"), t.get("datasource")))

    walk(dash["panels"])
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    return dash, exprs, datasources, variables


# ---- cases ----

def case_metrics(stack):
    """The broker's and the host's /metrics against docs/metrics.md and the dashboard."""
    token = stack.metrics_token
    status, headers, text = https_get(stack.port, "/metrics", cafile=os.path.join(stack.state, "tls/broker.crt"),
                                      token=token)
    assert status == 200, (status, text[:500])
    assert headers["content-type"].startswith("text/plain; version=0.0.4"), headers

    # The host's guard: no token or a wrong one is 401 (with the challenge), another method 405.
    port = stack.host_port
    status, headers, _ = https_get(port, "/metrics")
    assert status == 401 and headers.get("www-authenticate", "").startswith("Bearer"), (status, headers)
    status, _, _ = https_get(port, "/metrics", token=token + "x")
    assert status == 401, status
    status, _, _ = https_get(port, "/metrics", token=token, method="POST")
    assert status == 405, status
    status, _, _ = https_get(port, "/other", token=token)
    assert status == 404, status

    # A real session streams through the broker's gateway to the headless client.
    proc, stats = stack.client("--resource", "Terminal", "--duration", "2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert stats["frames"] >= 1, stats

    def host_families():
        status, headers, text = https_get(port, "/metrics", token=token)
        assert status == 200, (status, text[:500])
        assert headers["content-type"].startswith("text/plain; version=0.0.4"), headers
        return parse_exposition(text)

    # Once the client has gone, the session runs on with nobody watching: disconnected.
    host = wait_for(lambda: (lambda f: f if value(f, "portico_host_sessions", kind="app", state="disconnected") == 1
                             else None)(host_families()), 15, "the host to count the session as disconnected")
    frames = value(host, "portico_host_frames_total")
    assert frames >= stats["frames"], (frames, stats)  # the client cannot get more than the host sent
    assert value(host, "portico_host_frames_total", kind="video") >= stats["video_frames"], stats
    assert value(host, "portico_host_frame_bytes_total") > 1000
    assert value(host, "portico_host_encode_seconds_count") == frames
    assert value(host, "portico_host_viewers") == 0
    assert value(host, "portico_host_session_limit") == 20
    assert value(host, "portico_host_memory_bytes", state="total") > 0
    assert value(host, "portico_host_cpus") >= 1
    build = host["portico_host_build_info"]["samples"]
    assert len(build) == 1 and build[0][1]["host_id"] == stack.host_id, build
    print(f"host: {frames:.0f} frames ({stats['frames']} reached the client), "
          f"{value(host, 'portico_host_frame_bytes_total'):.0f} bytes")

    status, _, text = https_get(stack.port, "/metrics", cafile=os.path.join(stack.state, "tls/broker.crt"),
                                token=token)
    broker = parse_exposition(text)
    assert value(broker, "portico_launches_total", result="ok") >= 1
    assert value(broker, "portico_logins_total", result="ok") >= 1
    assert value(broker, "portico_hosts", state="up") == 1
    assert value(broker, "portico_launch_latency_seconds_count") >= 1

    # docs/metrics.md names exactly what each process serves: names, types and label names.
    docs = documented(stack.source)
    problems = []
    for section, served in (("broker", broker), ("host", host)):
        listed = docs[section]
        for name in sorted(set(served) - set(listed)):
            problems.append(f"{section} serves {name}, which docs/metrics.md does not list")
        for name in sorted(set(listed) - set(served)):
            problems.append(f"docs/metrics.md lists {name} for the {section}, which does not serve it")
        for name in sorted(set(served) & set(listed)):
            kind, labels = listed[name]
            if kind != served[name]["type"]:
                problems.append(f"{name}: documented as {kind}, served as {served[name]['type']}")
            if labels != served[name]["labels"]:
                problems.append(f"{name}: documented labels {sorted(labels)}, served {sorted(served[name]['labels'])}")
    assert not problems, "\n".join(problems)

    # Every metric the dashboard queries exists (a histogram's series by their suffixes). The
    # reader of PromQL must see a name that is not ours, or this check could never fail.
    assert promql_metrics('sum by (job) (rate(up{job="x"}[5m])) / on (job) other_total') == {"up", "other_total"}
    dash, exprs, datasources, variables = dashboard_exprs(stack.source)
    series = set()
    for served in (broker, host):
        for name, family in served.items():
            series.add(name)
            if family["type"] == "histogram":
                series.update(name + s for s in HISTOGRAM_SUFFIXES)
    assert exprs, "the dashboard has no queries"
    unknown = [(title, name) for title, expr in exprs for name in promql_metrics(expr) if name not in series]
    assert not unknown, f"dashboard queries of metrics nobody serves: {unknown}"
    used = {name for _, expr in exprs for name in promql_metrics(expr)}
    for must in ("portico_launch_latency_seconds_bucket", "portico_sessions", "portico_logins_total", "portico_hosts",
                 "portico_host_frame_bytes_total", "portico_host_frames_total",
                 "portico_host_encode_seconds_bucket"):
        assert must in used, f"the dashboard shows nothing of {must}"
    assert any("histogram_quantile" in e and "portico_launch_latency_seconds_bucket" in e for _, e in exprs)
    # The data source is a variable, used by every panel and query.
    assert variables.get("datasource", {}).get("type") == "datasource", variables.keys()
    wrong = [t for t, ds in datasources if not ds or ds.get("uid") != "${datasource}"]
    assert not wrong, f"panels not on the ${{datasource}} variable: {wrong}"
    host_query = variables["host"]["query"]
    host_query = host_query["query"] if isinstance(host_query, dict) else host_query
    assert promql_metrics(re.sub(r"^label_values\((\w+),.*\)$", r"\1", host_query)) <= series, host_query
    print(f"{len(docs['broker'])} broker and {len(docs['host'])} host metrics documented and served; "
          f"{len(exprs)} dashboard queries over {len(used)} series")

    # A host started without --metrics-token-file does not serve /metrics at all.
    plain_port = free_port()
    plain = stack.spawn_host("plain-host", "plain-host", extra=["--listen", f"127.0.0.1:{plain_port}"])
    try:
        wait_for(lambda: "portico-host ready" in stack.read_log("plain-host"), 30, "the second host to register")
        status, _, _ = https_get(plain_port, "/metrics", token=token)
        assert status == 404, status
    finally:
        plain.terminate()
        plain.wait(timeout=20)


def case_json_logs(stack):
    """With PORTICO_LOG_FORMAT=json every line the broker and the host write is one JSON object,
    whatever a client put in the message."""
    # A user name with a newline, an escape sequence and a C1 control: it reaches the log in a
    # failed login line.
    evil = "mallory\n{\"level\":\"error\"}\x1b[2J\u009b"
    status, _, _ = stack.request("POST", "/api/v1/login", {"username": evil, "password": "wrong"})
    assert status == 401, status
    # A session's start, stream and end put the host's other lines in the log too.
    proc, stats = stack.client("--resource", "Terminal", "--duration", "1", "--logoff")
    assert proc.returncode == 0 and stats["frames"] >= 1, proc.stderr[-3000:]
    # The processes end (and flush) before their logs are read.
    for p in (stack.host, stack.broker):
        p.send_signal(signal.SIGTERM)
    for p in (stack.host, stack.broker):
        assert p.wait(timeout=20) == 0
    for which, component in (("broker", "portico-broker"), ("host", "portico-host")):
        lines = stack.read_log(which).splitlines()
        assert len(lines) >= 3, (which, lines)
        messages = []
        for number, line in enumerate(lines, 1):
            try:
                entry = json.loads(line)
            except ValueError as e:
                raise AssertionError(f"{which}.log line {number} is not JSON ({e}): {line!r}")
            assert set(entry) == {"ts", "level", "component", "msg"}, (which, number, entry)
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["ts"]), entry
            assert entry["level"] in ("debug", "info", "warn", "error"), entry
            assert entry["component"] == component, entry
            messages.append(entry["msg"])
        print(f"{which}: {len(lines)} lines, each one JSON object")
        if which == "broker":
            assert any("listening" in m for m in messages), messages
            forged = [m for m in messages if "mallory" in m]
            assert forged and evil in forged[0], forged
        else:
            assert any("portico-host ready" in m for m in messages), messages


CASES = {"metrics": case_metrics, "json_logs": case_json_logs}


def main():
    case, build, source = sys.argv[1], sys.argv[2], sys.argv[3]
    stack = Stack(build, source, name=f"obs-{case.replace('_', '-')}")
    if case == "json_logs":
        os.environ["PORTICO_LOG_FORMAT"] = "json"  # inherited by the broker and the host
    else:
        stack.metrics_token = secrets.token_urlsafe(24)
        token_file = os.path.join(stack.dir, "metrics-token")
        with open(token_file, "w") as f:
            f.write(stack.metrics_token + "\n")
        stack.broker_args = ["--metrics-token-file", token_file]
        stack.host_port = free_port()
        stack.host_args = ["--metrics-token-file", token_file, "--listen", f"127.0.0.1:{stack.host_port}"]
    return run_case(stack, CASES[case])


if __name__ == "__main__":
    sys.exit(main())
