"""What an admin does to a running broker (issue 14): serve a CA-issued certificate and renew it
with a reload (SIGHUP) that no open connection notices; back the broker up while it works and
restore it. Real broker and host processes, a real TLS client, real openssl-made certificates.

Usage: test_admin_ops.py <case> <build_dir> <source_dir>. Exit 0 = pass, 1 = fail."""

import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from stack import Stack, WebSocket, run_case, hello, wait_for  # noqa: E402


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca_chain(d):
    """A root CA, an intermediate it signs and a server certificate for 127.0.0.1 the intermediate
    signs, as a public CA issues them: returns (root.crt, fullchain.pem (leaf + intermediate), key)."""
    os.makedirs(d, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "root.key", "-out", "root.crt", "-days", "30",
            "-subj", "/CN=Test Root CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    openssl("req", *ec, "-keyout", "inter.key", "-out", "inter.csr", "-subj", "/CN=Test Intermediate CA", cwd=d)
    with open(os.path.join(d, "inter.ext"), "w") as f:
        f.write("basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n")
    openssl("x509", "-req", "-in", "inter.csr", "-CA", "root.crt", "-CAkey", "root.key", "-CAcreateserial",
            "-out", "inter.crt", "-days", "30", "-extfile", "inter.ext", cwd=d)
    openssl("req", *ec, "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=127.0.0.1", cwd=d)
    with open(os.path.join(d, "leaf.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", "leaf.csr", "-CA", "inter.crt", "-CAkey", "inter.key", "-CAcreateserial",
            "-out", "leaf.crt", "-days", "30", "-extfile", "leaf.ext", cwd=d)
    with open(os.path.join(d, "fullchain.pem"), "w") as out:
        for part in ("leaf.crt", "inter.crt"):
            with open(os.path.join(d, part)) as f:
                out.write(f.read())
    return os.path.join(d, "root.crt"), os.path.join(d, "fullchain.pem"), os.path.join(d, "leaf.key")


def served_certificate(port, cafile=None):
    """SHA-256 of the leaf certificate a fresh TLS connection is given (verified against cafile
    when one is given: then the chain the broker sends must reach it)."""
    if cafile:
        ctx = ssl.create_default_context(cafile=cafile)
    else:
        ctx = ssl._create_unverified_context()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            return hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()


def file_sha256(pem):
    der = ssl.PEM_cert_to_DER_cert(open(pem).read().split("-----END CERTIFICATE-----")[0] +
                                   "-----END CERTIFICATE-----\n")
    return hashlib.sha256(der).hexdigest()


def ping_pong(ws, ping_id):
    """Sends a display Ping and waits for its Pong (frames in between are skipped)."""
    ws.send(bytes([0x0A]) + struct.pack("<IQ", ping_id, 12345))
    deadline = time.time() + 10
    while time.time() < deadline:
        op, payload = ws.recv()
        assert op != 8, "the display stream closed"
        if payload and payload[0] == 0x89:
            got_id, _ = struct.unpack("<IQ", payload[1:13])
            if got_id == ping_id:
                return
    raise AssertionError(f"no Pong for Ping {ping_id}")


def api(stack, method, path, body=None, cookie=None):
    status, _, payload = stack.request(method, path, body, cookie=cookie)
    return status, payload


def install(src, dst, mode):
    shutil.copyfile(src, dst + ".new")
    os.chmod(dst + ".new", mode)
    os.replace(dst + ".new", dst)  # as `install` does: the broker never reads half a file


def case_tls_reload(stack):
    # The broker serves the admin's files (--tls-cert/--tls-key), at first a copy of init's pair.
    live = os.path.join(stack.dir, "live")
    cert, key = os.path.join(live, "fullchain.pem"), os.path.join(live, "privkey.pem")
    self_signed = os.path.join(stack.state, "tls/broker.crt")
    old = served_certificate(stack.port, cafile=self_signed)
    assert old == file_sha256(self_signed), "the broker does not serve --tls-cert"

    # Open before the reload: a display stream through the gateway and the host's control channel.
    demo = stack.login()
    status, launch = api(stack, "POST", "/api/v1/launch", {"resource": "terminal"}, cookie=demo)
    assert status == 200, (status, launch)
    ws = WebSocket(stack.port, launch["gateway_path"], cafile=self_signed)
    ws.send(hello(launch["ticket"]))
    assert ws.recv()[1][0] == 0x81, "expected ServerHello"
    ping_pong(ws, 1)
    host_log_before = stack.read_log("host")

    # Renewal: a CA-issued chain replaces the files, then SIGHUP (what `systemctl reload` sends).
    root, fullchain, leaf_key = make_ca_chain(os.path.join(stack.dir, "ca"))
    install(fullchain, cert, 0o644)
    install(leaf_key, key, 0o600)
    stack.broker.send_signal(signal.SIGHUP)
    wait_for(lambda: "TLS certificate reloaded" in stack.read_log("broker"), 10, "the reload to be logged")
    new = served_certificate(stack.port, cafile=root)  # only the root trusted: the intermediate is sent
    assert new == file_sha256(fullchain) and new != old, (new, old)

    # What was open goes on: the stream answers, the host never reconnected, and a launch (sent to
    # the host over its old control channel) starts a session.
    ping_pong(ws, 2)
    assert stack.broker.poll() is None
    assert "portico-host ready" not in stack.read_log("host")[len(host_log_before):], "the host re-registered"
    stack.ssl_context = lambda: ssl.create_default_context(cafile=root)
    admin = stack.login("admin", stack.admin_password)
    assert api(stack, "POST", "/api/v1/apps", {"id": "term2", "name": "Term2", "command": ["xterm"]},
               cookie=admin)[0] == 201
    assert api(stack, "PUT", "/api/v1/apps/term2/entitlements", {"entitlements": [{"user": "demo"}]},
               cookie=admin)[0] == 200
    status, second = api(stack, "POST", "/api/v1/launch", {"resource": "term2"}, cookie=stack.login())
    assert status == 200 and not second.get("reconnected"), (status, second)

    # A bad renewal (a key of another certificate) is refused: logged, audited, the new pair kept.
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "other.key",
            "-out", "other.crt", "-days", "1", "-subj", "/CN=other", cwd=os.path.join(stack.dir, "ca"))
    install(os.path.join(stack.dir, "ca", "other.key"), key, 0o600)
    stack.broker.send_signal(signal.SIGHUP)
    wait_for(lambda: "TLS reload failed" in stack.read_log("broker"), 10, "the failed reload to be logged")
    line = next(x for x in stack.read_log("broker").splitlines() if "TLS reload failed" in x)
    assert key in line and "does not match" in line, line
    assert served_certificate(stack.port, cafile=root) == new
    ping_pong(ws, 3)
    # A missing file, the same.
    os.rename(cert, cert + ".gone")
    stack.broker.send_signal(signal.SIGHUP)
    wait_for(lambda: stack.read_log("broker").count("TLS reload failed") == 2, 10, "the second failure")
    assert served_certificate(stack.port, cafile=root) == new and stack.broker.poll() is None
    ws.close()

    status, audit = api(stack, "GET", "/api/v1/audit", cookie=admin)
    actions = [e["action"] for e in audit]
    assert actions.count("tls.reload") == 1 and actions.count("tls.reload_failed") == 2, actions

    # At start, a bad pair stops the broker with a message naming the file.
    os.rename(cert + ".gone", cert)
    for args, named in ((["--tls-cert", cert + ".missing"], cert + ".missing"), ([], key)):
        proc = subprocess.run([stack.bin("portico-broker"), "serve", "--state", stack.state, "--listen",
                               "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key, *args],
                              capture_output=True, text=True, timeout=30)
        assert proc.returncode != 0 and named in proc.stderr + proc.stdout, (args, proc.returncode, proc.stderr)
    print("reload: new connections get the CA-issued chain, the open stream and control channel go on; "
          "a bad key or a missing file keeps the pair in use; a bad pair at start names its file")


def backup(stack, to):
    return subprocess.run([stack.bin("portico-broker"), "backup", "--state", stack.state, "--to", to],
                          capture_output=True, text=True, timeout=60)


def restore(stack, frm, state):
    return subprocess.run([stack.bin("portico-broker"), "restore", "--from", frm, "--state", state],
                          capture_output=True, text=True, timeout=60)


def case_backup_restore(stack):
    admin = stack.login("admin", stack.admin_password)
    demo = stack.login()
    # History before the backup: a session launched and logged off.
    status, ended = api(stack, "POST", "/api/v1/launch", {"resource": "terminal"}, cookie=demo)
    assert status == 200, (status, ended)
    assert api(stack, "POST", f"/api/v1/sessions/{ended['session_id']}/logoff", {}, cookie=demo)[0] in (200, 202, 204)
    wait_for(lambda: any(h["id"] == ended["session_id"]
                         for h in api(stack, "GET", "/api/v1/sessions/history?scope=all", cookie=admin)[1]), 20,
             "the logged-off session in the history")
    audit_before = {e["id"] for e in api(stack, "GET", "/api/v1/audit?limit=10000", cookie=admin)[1]}

    # The backup is taken while logins and launches write (the broker goes on serving).
    stop = threading.Event()
    writes = []

    def write_load():
        while not stop.is_set():
            cookie = stack.login()
            status, body = api(stack, "POST", "/api/v1/launch", {"resource": "terminal"}, cookie=cookie)
            writes.append(status)

    loader = threading.Thread(target=write_load)
    loader.start()
    try:
        wait_for(lambda: len(writes) >= 2, 30, "logins and launches to be under way")
        folder = os.path.join(stack.dir, "backup")
        p = backup(stack, folder)
        assert p.returncode == 0, p.stderr
        during = len(writes)
        wait_for(lambda: len(writes) >= during + 2, 30, "the broker to go on serving after the backup")
    finally:
        stop.set()
        loader.join(timeout=60)
    assert set(writes) == {200}, writes
    manifest = json.load(open(os.path.join(folder, "manifest.json")))
    assert manifest["store"] == "sqlite" and manifest["schema_version"] > 0, manifest
    names = {f["path"]: f for f in manifest["files"]}
    assert set(names) == {"portico.db", "ticket-key.pem", "enrollment-secret", "ca/ca.crt", "ca/ca.key",
                          "tls/broker.crt", "tls/broker.key"}, names
    for rel in ("ticket-key.pem", "enrollment-secret", "ca/ca.key", "tls/broker.key", "portico.db"):
        assert names[rel]["mode"] == "0600" and os.stat(os.path.join(folder, rel)).st_mode & 0o777 == 0o600, rel
    assert os.stat(folder).st_mode & 0o777 == 0o700
    for proc in (stack.host, stack.broker):
        proc.terminate()
        proc.wait(timeout=30)

    # A damaged backup is refused, naming the file, and makes nothing.
    for rel, damage in (("ticket-key.pem", "truncate"), ("portico.db", "edit"), ("manifest.json", "delete")):
        bad = os.path.join(stack.dir, f"bad-{damage}")
        shutil.copytree(folder, bad)
        path = os.path.join(bad, rel)
        if damage == "truncate":
            os.truncate(path, os.path.getsize(path) // 2)
        elif damage == "edit":
            with open(path, "r+b") as f:
                f.seek(os.path.getsize(path) - 100)
                byte = f.read(1)
                f.seek(-1, 1)
                f.write(bytes([byte[0] ^ 0xFF]))
        else:
            os.remove(path)
        target = os.path.join(stack.dir, f"state-{damage}")
        p = restore(stack, bad, target)
        assert p.returncode != 0 and path in p.stderr, (damage, p.returncode, p.stderr)
        assert not os.path.exists(target), f"a refused restore made {target}"
    # A target that is not empty is refused.
    p = restore(stack, folder, stack.state)
    assert p.returncode != 0 and "not empty" in p.stderr, p.stderr

    # The restored state directory: a broker starts from it with the users, history and audit of before.
    stack.state = os.path.join(stack.dir, "restored")
    p = restore(stack, folder, stack.state)
    assert p.returncode == 0, p.stderr
    assert os.stat(os.path.join(stack.state, "ca/ca.key")).st_mode & 0o777 == 0o600
    stack.start_broker("restored")
    demo = stack.login()  # the same password, and the restored certificate (stack.ssl_context)
    admin = stack.login("admin", stack.admin_password)
    history = api(stack, "GET", "/api/v1/sessions/history?scope=all", cookie=admin)[1]
    assert any(h["id"] == ended["session_id"] for h in history), history
    audit_after = {e["id"] for e in api(stack, "GET", "/api/v1/audit?limit=10000", cookie=admin)[1]}
    assert audit_before <= audit_after, sorted(audit_before - audit_after)
    print(f"backup during {len(writes)} logins+launches; damaged backups refused naming the file; the restored "
          f"broker has the users, {len(history)} history rows and all {len(audit_before)} audit events of before")


def start_with_own_files(stack):
    """init, then the broker on --tls-cert/--tls-key files outside the state directory."""
    subprocess.run([stack.bin("portico-broker"), "init", "--state", stack.state, "--demo-password", stack.password,
                    "--admin-password", stack.admin_password], check=True, capture_output=True, timeout=60)
    live = os.path.join(stack.dir, "live")
    os.makedirs(live)
    install(os.path.join(stack.state, "tls/broker.crt"), os.path.join(live, "fullchain.pem"), 0o644)
    install(os.path.join(stack.state, "tls/broker.key"), os.path.join(live, "privkey.pem"), 0o600)
    stack.broker_args += ["--tls-cert", os.path.join(live, "fullchain.pem"),
                          "--tls-key", os.path.join(live, "privkey.pem")]
    stack.start_broker()
    stack.start_host()
    return stack


CASES = {"tls_reload": case_tls_reload, "backup_restore": case_backup_restore}


def main():
    case, build, source = sys.argv[1], sys.argv[2], sys.argv[3]
    stack = Stack(build, source, name=case.replace("_", "-"))
    if case == "tls_reload":
        stack.start = lambda: start_with_own_files(stack)
    return run_case(stack, CASES[case])


if __name__ == "__main__":
    sys.exit(main())
