#!/usr/bin/python3
"""The Debian packages as an admin gets them (issue 14): cpack builds the four packages from this
build tree, and everything below is checked on the .deb files themselves.

  - control fields: names, a Depends with the shared libraries (dpkg-shlibdeps) and the programs
    the host starts, conffiles, maintainer scripts; no file in two packages;
  - the files each installs (binaries, units, /etc/portico, web client, console, guest scripts,
    the client's .desktop file and launch-file MIME type, both validated);
  - a Debian changelog in each package (its version, its Maintainer) and man pages made from the
    programs' --help, which `man` renders; lintian asks for neither any more;
  - `systemd-analyze verify` on both units inside the unpacked root, and the broker's exposure
    score from `systemd-analyze security` (the hardening is really there); lintian's report when
    lintian is installed (printed, not judged: style);
  - the maintainer scripts, run under DPKG_ROOT with the system commands they call recorded;
  - /etc/portico/*.conf document every option the programs have, and every "#key = value" line in
    them is accepted when uncommented;
  - the broker from the package, started as its unit starts it (`serve --config` on the shipped
    broker.conf, state in a temp dir), serves the portal and the console; the host from the
    package, started as its unit starts it (through portico-session-helper as the portico-host
    account when this runs as root), enrolls and registers with it;
  - docs/admin.md's backup (`portico-broker backup`), taken while the broker serves, restored
    (`portico-broker restore`) into an empty state directory, is served by a broker with the same
    certificate, users and enrolled host.

  test_packages.py CPACK BUILD_DIR SOURCE_DIR
"""
import glob
import gzip
import os
import pwd
import re
import shutil
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from stack import Stack, descendants, ensure_service_account, wait_for  # noqa: E402

PACKAGES = {
    "portico-broker": ["usr/bin/portico-broker", "lib/systemd/system/portico-broker.service",
                       "etc/portico/broker.conf", "usr/share/portico/web/index.html",
                       "usr/share/portico/web/app.js", "usr/share/portico/console/index.html",
                       "usr/share/doc/portico-broker/admin.md"],
    "portico-host": ["usr/bin/portico-host", "usr/bin/portico-session-helper",
                     "lib/systemd/system/portico-host.service", "etc/portico/host.conf",
                     "usr/share/portico/guest/build-desktop-image.sh", "usr/share/portico/guest/pvh-kernel.sh",
                     "usr/share/doc/portico-host/admin.md"],
    "portico-client": ["usr/bin/portico-client", "usr/share/applications/portico-client.desktop",
                       "usr/share/mime/packages/portico-client.xml"],
    "portico-pack": ["usr/bin/portico-pack", "usr/bin/portico-pack-runtime"],
}
# Beside those: each package's Debian changelog, and a man page for its main program.
MAN_PAGES = {"portico-broker": "portico-broker", "portico-host": "portico-host", "portico-client": "portico-client",
             "portico-pack": "portico-pack"}
for _name, _program in MAN_PAGES.items():
    PACKAGES[_name] += [f"usr/share/doc/{_name}/changelog.Debian.gz", f"usr/share/man/man1/{_program}.1.gz"]
# What each package's Depends/Recommends must name, beyond dpkg-shlibdeps' libraries.
RELATIONS = {
    "portico-broker": {"Depends": ["adduser", "init-system-helpers", "procps", "libc6", "libssl3", "libsqlite3-0"]},
    "portico-host": {"Depends": ["xvfb", "passwd", "adduser", "libc6", "libx264-"],
                     "Recommends": ["xfonts-base", "xterm", "qemu-system-x86", "qemu-utils", "portico-pack"]},
    # the window, the login window's text and font, and the GPU drivers H.264 decoding uses when
    # it can (docs/native-client.md)
    "portico-client": {"Depends": ["libc6", "libsdl2-2.0-0", "libsdl2-ttf-2.0-0", "fonts-dejavu-core"],
                       "Recommends": ["va-driver-all"]},
    "portico-pack": {"Depends": ["libc6", "libzstd1"]},
}
SERVICES = {"portico-broker": "broker", "portico-host": "host"}


def run(args, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 120)
    return subprocess.run(args, **kw)


def require_tools():
    missing = [t for t in ("dpkg-deb", "systemd-analyze", "desktop-file-validate", "update-mime-database")
               if not shutil.which(t)]
    assert not missing, (f"missing {', '.join(missing)} (Debian dpkg, systemd, desktop-file-utils, "
                         "shared-mime-info; deploy/install-deps.sh --test installs them): cannot check the packages")


def build_packages(cpack, build, out):
    t0 = time.time()
    p = run([cpack, "--config", os.path.join(build, "CPackConfig.cmake"), "-G", "DEB", "-B", out], timeout=600)
    assert p.returncode == 0, f"cpack failed:\n{p.stdout[-4000:]}\n{p.stderr[-4000:]}"
    debs = {}
    for path in glob.glob(os.path.join(out, "*.deb")):
        debs[run(["dpkg-deb", "-f", path, "Package"]).stdout.strip()] = path
    assert sorted(debs) == sorted(PACKAGES), f"cpack made {sorted(debs)}, expected {sorted(PACKAGES)}"
    print(f"cpack: {len(debs)} packages in {time.time() - t0:.0f} s: "
          + ", ".join(f"{os.path.basename(p)} ({os.path.getsize(p) // 1024} KiB)" for p in debs.values()))
    return debs


def check_control(name, deb, work):
    fields = {}
    for field in ("Package", "Version", "Architecture", "Maintainer", "Depends", "Recommends", "Description"):
        fields[field] = run(["dpkg-deb", "-f", deb, field]).stdout.strip()
    assert fields["Depends"], f"{name}: empty Depends"
    assert re.fullmatch(r"\d+\.\d+\.\d+-\d+", fields["Version"]), f"{name}: version {fields['Version']!r}"
    assert fields["Description"].splitlines()[0].startswith("Portico"), f"{name}: description {fields['Description']!r}"
    for field, wanted in RELATIONS[name].items():
        names = [d.strip().split()[0] for d in fields[field].replace("|", ",").split(",") if d.strip()]
        for w in wanted:
            assert any(n == w or (w.endswith("-") and n.startswith(w)) for n in names), \
                f"{name}: {field} lacks {w}: {fields[field]}"
    control = os.path.join(work, "control", name)
    os.makedirs(os.path.dirname(control), exist_ok=True)
    p = run(["dpkg-deb", "-e", deb, control])
    assert p.returncode == 0, p.stderr
    if name in SERVICES:
        with open(os.path.join(control, "conffiles")) as f:
            assert f.read().split() == [f"/etc/portico/{SERVICES[name]}.conf"], f"{name}: conffiles"
        for script in ("postinst", "prerm", "postrm"):
            mode = os.stat(os.path.join(control, script)).st_mode
            assert mode & stat.S_IXUSR, f"{name}: {script} not executable"
    assert re.fullmatch(r".+ <[^<>@\s]+@[^<>\s]+>", fields["Maintainer"]), f"{name}: Maintainer {fields['Maintainer']!r}"
    print(f"{name} {fields['Version']} {fields['Architecture']}: Depends: {fields['Depends']}"
          + (f"; Recommends: {fields['Recommends']}" if fields["Recommends"] else ""))
    return control, fields


def check_docs(root, fields):
    """Each package's changelog is a Debian changelog of the version and maintainer in its control
    file; each man page is a page of its program, from its --help."""
    for name, f in fields.items():
        with gzip.open(os.path.join(root, f"usr/share/doc/{name}/changelog.Debian.gz"), "rt") as c:
            lines = c.read().splitlines()
        assert lines[0] == f"{name} ({f['Version']}) unstable; urgency=medium", f"{name} changelog: {lines[0]!r}"
        trailer = next(line for line in lines if line.startswith(" -- "))
        assert trailer.startswith(f" -- {f['Maintainer']}  "), f"{name} changelog: {trailer!r} (Maintainer {f['Maintainer']})"
        program = MAN_PAGES[name]
        with gzip.open(os.path.join(root, f"usr/share/man/man1/{program}.1.gz"), "rt") as m:
            page = m.read()
        assert f'.TH {program.upper()} "1"' in page and ".SH NAME" in page, program
        assert f"{program} \\- Portico" in page, f"{program}.1 has no NAME line"
        # The page is the program's own help: its first usage line is in it.
        usage = run([os.path.join(root, "usr/bin", program), "--help"]).stdout
        first = next(w for w in usage.split() if w.startswith("--"))
        assert first.replace("-", "\\-") in page, f"{program}.1 lacks {first} from --help"
        p = run(["man", "-l", os.path.join(root, f"usr/share/man/man1/{program}.1.gz")],
                env=dict(os.environ, MANWIDTH="80", MAN_KEEP_FORMATTING=""))
        assert p.returncode == 0 and program in p.stdout, f"man -l {program}.1: {p.stderr[-1000:]}"
    print(f"changelogs of {', '.join(sorted(fields))} name their version and maintainer; "
          f"man pages of {', '.join(MAN_PAGES.values())} render")


def check_files(debs, root):
    owners = {}
    for name, deb in debs.items():
        listing = run(["dpkg-deb", "-c", deb]).stdout.splitlines()
        files = [line.split()[-1].lstrip("./") for line in listing if not line.startswith("d")]
        for f in files:
            assert f not in owners, f"{f} is in both {owners[f]} and {name}"
            owners[f] = name
        for wanted in PACKAGES[name]:
            assert wanted in files, f"{name} lacks {wanted}"
        assert not any(f.endswith("package.json") for f in files), f"{name} ships a package.json"
        p = run(["dpkg-deb", "-x", deb, root])
        assert p.returncode == 0, p.stderr
    for f in ("usr/bin/portico-broker", "usr/bin/portico-host", "usr/bin/portico-session-helper",
              "usr/bin/portico-client", "usr/bin/portico-pack", "usr/bin/portico-pack-runtime"):
        assert os.access(os.path.join(root, f), os.X_OK), f"{f} is not executable"
    # Every program runs from the package (its shared libraries are on this machine).
    for prog in ("portico-broker", "portico-host", "portico-session-helper", "portico-client", "portico-pack"):
        p = run([os.path.join(root, "usr/bin", prog), "--help"])
        assert p.returncode == 0, f"{prog} --help: exit {p.returncode}\n{p.stderr[-2000:]}"
    print(f"files: {len(owners)} in {len(debs)} packages, none in two; every program runs")


def check_launch_file_type(root, work):
    """The client opens the portal's launch files and portico:// launch links: its .desktop file is
    valid, names the type and the URL scheme (which update-desktop-database, as the package's
    trigger runs it, maps to it) and asks for the error window; and the type's shared-mime-info
    XML, compiled as the package's trigger compiles it, maps *.portico and a file starting with
    [portico-launch] to it."""
    desktop = os.path.join(root, "usr/share/applications/portico-client.desktop")
    p = run(["desktop-file-validate", desktop])
    assert p.returncode == 0 and not p.stdout.strip(), f"desktop-file-validate: {p.stdout}{p.stderr}"
    with open(desktop) as f:
        entry = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
    assert "application/x-portico-launch" in entry["MimeType"].split(";"), entry
    assert "x-scheme-handler/portico" in entry["MimeType"].split(";"), entry
    assert entry["Exec"] == "portico-client --error-window %u", entry
    apps = os.path.join(work, "applications")
    os.makedirs(apps)
    shutil.copy(desktop, apps)
    p = run(["update-desktop-database", apps])
    assert p.returncode == 0, f"update-desktop-database: {p.stdout}{p.stderr}"
    with open(os.path.join(apps, "mimeinfo.cache")) as f:
        cache = f.read()
    assert "x-scheme-handler/portico=portico-client.desktop;" in cache, cache
    mime = os.path.join(work, "mime")
    os.makedirs(os.path.join(mime, "packages"))
    shutil.copy(os.path.join(root, "usr/share/mime/packages/portico-client.xml"), os.path.join(mime, "packages"))
    p = run(["update-mime-database", "-V", mime])
    assert p.returncode == 0 and "error" not in (p.stdout + p.stderr).lower(), f"update-mime-database: {p.stdout}{p.stderr}"
    with open(os.path.join(mime, "globs2")) as f:
        assert "application/x-portico-launch:*.portico" in f.read(), "*.portico is not the launch-file type"
    with open(os.path.join(mime, "magic"), "rb") as f:
        assert b"[portico-launch]" in f.read(), "no magic for files starting with [portico-launch]"
    print("launch files: the .desktop file is valid and handles portico:// links, *.portico and [portico-launch] "
          "are application/x-portico-launch")


def check_units(root):
    units = [os.path.join(root, "lib/systemd/system", u) for u in ("portico-broker.service", "portico-host.service")]
    # verify resolves the units' dependencies (multi-user.target, sysinit.target...) inside the
    # root: this machine's own units stand in for a Debian system's. --recursive-errors=no: only
    # ours are judged; their ExecStart= programs are looked up in the root (the packages').
    p = run(["cp", "-an", "/lib/systemd/system/.", os.path.join(root, "lib/systemd/system/")])
    assert p.returncode == 0, p.stderr
    # The broker's ExecReload= runs /bin/kill (procps, in its Depends): this machine's stands in.
    os.makedirs(os.path.join(root, "bin"), exist_ok=True)
    shutil.copy2("/bin/kill", os.path.join(root, "bin/kill"))
    p = run(["systemd-analyze", "verify", f"--root={root}", "--man=no", "--generators=no", "--recursive-errors=no",
             *units])
    output = (p.stdout + p.stderr).strip()
    assert p.returncode == 0 and not output, f"systemd-analyze verify: exit {p.returncode}\n{output}"
    exposure = {}
    for unit in units:
        p = run(["systemd-analyze", "security", "--offline=true", f"--root={root}", "--no-pager", unit])
        m = re.search(r"Overall exposure level for \S+: ([0-9.]+) (\S+)", p.stdout)
        assert m, f"systemd-analyze security {unit}: exit {p.returncode}\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}"
        exposure[os.path.basename(unit)] = (float(m.group(1)), m.group(2))
    # The broker needs nothing but its state and a socket: systemd's own scale calls <= 2.0 "OK".
    assert exposure["portico-broker.service"][0] <= 2.0, exposure
    print("systemd-analyze verify: both units clean; exposure " +
          ", ".join(f"{u} {v} {w}" for u, (v, w) in exposure.items()))


def report_lintian(debs):
    """lintian's report, printed (style is the team's call), except what the packages now provide:
    a changelog, and a man page for each package's main program."""
    if not shutil.which("lintian"):
        print("lintian: not installed, no style report (apt-get install lintian)")
        return
    for name, deb in sorted(debs.items()):
        p = run(["lintian", "--tag-display-limit", "0", deb], timeout=300)
        tags = [line for line in p.stdout.splitlines() if re.match(r"^[EWINPCOX]: ", line)]
        print(f"lintian {name}: {len(tags)} tags" + "".join(f"\n    {t}" for t in tags))
        provided = [t for t in tags if re.search(r": (no-changelog|\S*changelog\S*missing\S*|wrong-name-for-\S*changelog)( |$)", t)
                    or f"no-manual-page [usr/bin/{MAN_PAGES[name]}]" in t]
        assert not provided, f"lintian {name}: {provided}"


def check_maintainer_scripts(controls, work):
    """postinst/prerm/postrm under DPKG_ROOT, with adduser, chown, getent and the systemd helpers
    replaced by recorders: what they would do to a machine, without doing it to this one."""
    stubs = os.path.join(work, "stubs")
    os.makedirs(stubs)
    calls = os.path.join(work, "calls")
    for tool in ("adduser", "chown", "getent", "deb-systemd-helper", "deb-systemd-invoke", "systemctl"):
        with open(os.path.join(stubs, tool), "w") as f:
            f.write(f'#!/bin/sh\necho "{tool} $*" >>"{calls}"\nexit 0\n')
        os.chmod(os.path.join(stubs, tool), 0o755)
    env = dict(os.environ, PATH=f"{stubs}:/usr/bin:/bin")

    def script(name, which, *args, dpkg_root):
        open(calls, "w").close()
        p = run([os.path.join(controls[name], which), *args], env=dict(env, DPKG_ROOT=dpkg_root))
        assert p.returncode == 0, f"{name} {which} {args}: exit {p.returncode}\n{p.stderr}"
        with open(calls) as f:
            return f.read().splitlines(), p.stdout

    for name, part in SERVICES.items():
        unit = f"{name}.service"
        dpkg_root = os.path.join(work, f"dpkg-root-{part}")
        os.makedirs(dpkg_root)
        state = os.path.join(dpkg_root, "var/lib/portico", part)
        # A first install: the account, a private state directory handed to it, the unit enabled
        # but not started (it needs `init` / a configuration first), and what to do next.
        called, said = script(name, "postinst", "configure", "", dpkg_root=dpkg_root)
        assert any(c.startswith("adduser --system") and c.endswith(f" {name}") for c in called), called
        assert f"chown {name}:{name} {state}" in called, called
        assert stat.S_IMODE(os.stat(state).st_mode) == 0o700, oct(os.stat(state).st_mode)
        assert f"deb-systemd-helper enable {unit}" in called, called
        assert not any(c.startswith("deb-systemd-invoke") for c in called), called
        assert said.strip(), f"{name} postinst says nothing about what to do next"
        if name == "portico-host":
            assert "adduser --quiet portico-host kvm" in called, called  # getent (stub) finds a kvm group
        # An upgrade on a running system: the state is left alone, a running service restarted
        # (the broker then applies the migrations).
        os.makedirs(os.path.join(dpkg_root, "run/systemd/system"))
        open(os.path.join(state, "ticket-key.pem"), "w").close()
        called, _ = script(name, "postinst", "configure", "0.0.1-1", dpkg_root=dpkg_root)
        assert not any(c.startswith("chown") for c in called), called
        assert "systemctl --system daemon-reload" in called, called
        assert f"deb-systemd-invoke try-restart {unit}" in called, called
        # Removal stops it and masks the unit; purge forgets it; the state stays.
        called, _ = script(name, "prerm", "remove", dpkg_root=dpkg_root)
        assert called == [f"deb-systemd-invoke stop {unit}"], called
        called, _ = script(name, "postrm", "remove", dpkg_root=dpkg_root)
        assert f"deb-systemd-helper mask {unit}" in called, called
        called, _ = script(name, "postrm", "purge", dpkg_root=dpkg_root)
        assert f"deb-systemd-helper purge {unit}" in called, called
        assert os.path.exists(os.path.join(state, "ticket-key.pem")), "purge must not delete the state"
        called, _ = script(name, "prerm", "upgrade", "0.2.0-1", dpkg_root=dpkg_root)
        assert called == [], f"an upgrade's prerm must not stop the service: {called}"
    print("maintainer scripts: account, 0700 state, unit enabled not started; upgrade restarts; "
          "remove stops and masks; purge keeps the state")


OPTION = re.compile(r"^\s+(?:-\w,\s*)?--([a-z0-9][a-z0-9-]*)")
SETTING = re.compile(r"^(#?)([a-z0-9][a-z0-9-]*) = (.*)$")


def help_options(command):
    p = run(command)
    assert p.returncode == 0, p.stderr
    # The options CLI11 lists after its "Options:" line (the usage text above it names others').
    listed = p.stdout.split("\nOptions:\n", 1)
    assert len(listed) == 2, f"{command}: no Options: section in\n{p.stdout}"
    return {m.group(1) for line in listed[1].splitlines() if (m := OPTION.match(line))} - {"help", "config"}


def settings(path):
    """(key, value, commented) of each `key = value` / `#key = value` line of a shipped .conf."""
    with open(path) as f:
        return [(m.group(2), m.group(3), m.group(1) == "#") for line in f if (m := SETTING.match(line.rstrip("\n")))]


def write_conf(path, source, overrides):
    """`source` with every "#key = value" line uncommented and the keys in `overrides` replaced."""
    lines = []
    for key, value, _ in settings(source):
        lines.append(f"{key} = {overrides.pop(key, value)}")
    lines += [f"{k} = {v}" for k, v in overrides.items()]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def check_documented(root, conf, command):
    keys = [k for k, _, _ in settings(conf)]
    assert len(keys) == len(set(keys)), f"{conf}: a key twice"
    options = help_options(command)
    assert set(keys) == options, (f"{os.path.basename(conf)} and {os.path.basename(command[0])}'s options differ: "
                                  f"undocumented {sorted(options - set(keys))}, unknown {sorted(set(keys) - options)}")


def unit_exec_start(root, unit):
    with open(os.path.join(root, "lib/systemd/system", unit)) as f:
        line = next(line for line in f if line.startswith("ExecStart="))
    return line[len("ExecStart="):].split()


def in_root(root, argv):
    return [os.path.join(root, a.lstrip("/")) if a.startswith("/usr/bin/") else a for a in argv]


def run_broker_and_host(root, work):
    broker_conf = os.path.join(root, "etc/portico/broker.conf")
    host_conf = os.path.join(root, "etc/portico/host.conf")
    check_documented(root, broker_conf, [os.path.join(root, "usr/bin/portico-broker"), "serve", "--help"])
    check_documented(root, host_conf, [os.path.join(root, "usr/bin/portico-host"), "--help"])
    # Every example and default in host.conf passes the host's own checks.
    all_host = os.path.join(work, "host-all.conf")
    write_conf(all_host, host_conf, {})
    p = run([os.path.join(root, "usr/bin/portico-host"), "--config", all_host, "--help"])
    assert p.returncode == 0, f"host.conf with every line uncommented: {p.stderr[-2000:]}"

    stack = Stack(build_dir=None, source_dir=None, name="packages")
    ok = False
    try:
        # init as the admin guide says, into a temp state dir.
        p = run([os.path.join(root, "usr/bin/portico-broker"), "init", "--state", stack.state,
                 "--demo-password", stack.password, "--admin-password", stack.admin_password], timeout=60)
        assert p.returncode == 0, p.stderr
        start_packaged_broker(root, stack, "broker")
        for path, marker in (("/", b"<html"), ("/console/", b"<html")):
            status, _, body = stack.request("GET", path)
            assert status == 200 and marker in body.lower(), (path, status, body[:200])
        print("broker from the package: serve --config (broker.conf, every option at its default) answers "
              "GET / and /console/ with 200")
        host_id = start_packaged_host(root, stack)
        check_backup_restore(root, stack, host_id)
        ok = True
    finally:
        if not ok:
            stack.dump_logs()
        stack.stop(keep=False)


def start_packaged_broker(root, stack, log_name):
    """The broker as portico-broker.service starts it, on the shipped broker.conf with every option
    at its documented default but for where this test puts things (stack.state, stack.port)."""
    conf = os.path.join(stack.dir, f"{log_name}.conf")
    write_conf(conf, os.path.join(root, "etc/portico/broker.conf"), {
        "state": f'"{stack.state}"', "listen": f'"127.0.0.1:{stack.port}"',
        "web-root": f'"{root}/usr/share/portico/web"', "console-root": f'"{root}/usr/share/portico/console"'})
    argv = unit_exec_start(root, "portico-broker.service")
    assert argv == ["/usr/bin/portico-broker", "serve", "--config", "/etc/portico/broker.conf"], argv
    argv = in_root(root, argv)
    argv[argv.index("/etc/portico/broker.conf")] = conf
    stack.broker_log = open(os.path.join(stack.dir, f"{log_name}.log"), "w+")
    stack.broker = subprocess.Popen(argv, stdout=stack.broker_log, stderr=subprocess.STDOUT)
    wait_for(lambda: "listening" in stack.read_log(log_name) or stack.broker.poll() is not None, 30,
             "the packaged broker to listen")
    assert stack.broker.poll() is None, stack.read_log(log_name)


def start_packaged_host(root, stack):
    """The host as portico-host.service starts it (through the helper, as the portico-host
    account, when this runs as root), enrolled with a one-time token."""
    host_id = "packaged-host"
    host_state = os.path.join(stack.dir, "host-state")
    argv = in_root(root, unit_exec_start(root, "portico-host.service"))
    argv[argv.index("/etc/portico/host.conf")] = os.path.join(root, "etc/portico/host.conf")
    token = run([os.path.join(root, "usr/bin/portico-broker"), "enroll-token", "--state", stack.state,
                 "--host-id", host_id]).stdout.strip()
    overrides = ["--broker", f"wss://127.0.0.1:{stack.port}/api/v1/control", "--broker-ca",
                 os.path.join(host_state, "broker-ca.crt"), "--host-id", host_id, "--state-dir", host_state,
                 "--enroll", token]
    os.makedirs(host_state, mode=0o700)
    shutil.copyfile(os.path.join(stack.state, "tls/broker.crt"), os.path.join(host_state, "broker-ca.crt"))
    privileged = os.geteuid() == 0
    if privileged:
        uid, gid = ensure_service_account()
        os.chmod(stack.dir, 0o711)
        for path in (host_state, os.path.join(host_state, "broker-ca.crt")):
            os.chown(path, uid, gid)
    else:
        print("not root: the packaged host runs without its helper (--single-user-mode)")
        argv = argv[argv.index("--") + 1:] + ["--single-user-mode"]
    log = open(os.path.join(stack.dir, "host.log"), "w+")
    stack.host = subprocess.Popen(argv + overrides, stdout=log, stderr=subprocess.STDOUT)
    wait_for(lambda: "portico-host ready" in stack.read_log("host") or stack.host.poll() is not None, 30,
             "the packaged host to register")
    assert stack.host.poll() is None, stack.read_log("host")
    admin = stack.login("admin", stack.admin_password)
    status, _, host = stack.request("GET", f"/api/v1/hosts/{host_id}", cookie=admin)
    assert status == 200 and host["state"] == "up", (status, host)
    if privileged:
        users = {pwd.getpwuid(os.stat(f"/proc/{c}").st_uid).pw_name for c in descendants(stack.host.pid)}
        assert users == {"portico-host"}, f"the helper's children run as {users}"
    print(f"host from the package: {'helper (root) + portico-host as portico-host' if privileged else 'alone'}, "
          f"enrolled with a one-time token, registered and up")
    return host_id


def check_backup_restore(root, stack, host_id):
    """docs/admin.md's backup (`portico-broker backup` while the broker runs) restored with
    `portico-broker restore` into an empty state directory: a broker serves it with the same
    certificate, users and hosts."""
    broker = os.path.join(root, "usr/bin/portico-broker")
    backup = os.path.join(stack.dir, "backup")
    p = run([broker, "backup", "--state", stack.state, "--to", backup])
    assert p.returncode == 0, f"backup: {p.stderr}"
    stack.broker.terminate()
    stack.broker.wait(timeout=30)
    stack.state = os.path.join(stack.dir, "restored")
    os.makedirs(stack.state, mode=0o700)  # as the guide's `install -d`: restore takes an empty one
    p = run([broker, "restore", "--from", backup, "--state", stack.state])
    assert p.returncode == 0, f"restore: {p.stderr}"
    start_packaged_broker(root, stack, "restored")
    admin = stack.login("admin", stack.admin_password)  # the CA file is the restored certificate
    status, _, host = stack.request("GET", f"/api/v1/hosts/{host_id}", cookie=admin)
    assert status == 200, (status, host)
    print("portico-broker backup while serving, restore into an empty state: the broker serves it, "
          "same certificate, users and enrolled host")


def main():
    cpack, build, source = sys.argv[1:4]
    require_tools()
    work = os.path.join(build, "packaging", "test")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    root = os.path.join(work, "root")
    debs = build_packages(cpack, build, os.path.join(work, "debs"))
    checked = {name: check_control(name, deb, work) for name, deb in sorted(debs.items())}
    controls = {name: c for name, (c, _) in checked.items()}
    check_files(debs, root)
    check_docs(root, {name: f for name, (_, f) in checked.items()})
    check_launch_file_type(root, work)
    check_units(root)
    report_lintian(debs)
    check_maintainer_scripts(controls, work)
    run_broker_and_host(root, work)
    shutil.rmtree(work, ignore_errors=True)
    print("packages: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
