"""Throwaway Debian machines with a real init, for the admin guide's test (test_admin_guide.py):
each is an overlay of this machine's / (lower: /, read-only; upper: a temp dir, so the machine's
writes go nowhere else), booted by `systemd-nspawn --boot` in a network namespace of
tests/integration/netns.py (its own address on the run's bridge). systemd is PID 1 in it, so
`apt install`, `systemctl enable --now` and the packages' hardened units run as on a real machine.

The overlay is mounted in a mount namespace of its own (`unshare --mount`) that holds nothing but
nspawn: it goes when the machine stops, and no other process sees it. The test reaches a machine's
files through /proc/<its init>/root and runs commands in it with nsenter.

    m = BootedMachine(net.machine("db"), workdir, hosts="10.77.9.2 db.example.org db\\n...",
                      whiteouts=["var/lib/portico"], masked=["haproxy.service"])
    m.wait_booted()
    m.sh("systemctl is-active haproxy")     # CompletedProcess, a login shell's environment
    m.stop()
"""

import os
import shutil
import signal
import subprocess
import tempfile
import time

# A root shell's environment, as a login on the machine gives it (nothing of the test's leaks in).
LOGIN_ENV = ["env", "-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root",
             "USER=root", "LOGNAME=root", "LANG=C.UTF-8", "TERM=dumb", "DEBIAN_FRONTEND=noninteractive"]


def require_nspawn():
    """None when machines can be booted here, else why not."""
    missing = [t for t in ("systemd-nspawn", "unshare", "nsenter") if not shutil.which(t)]
    if missing:
        return f"missing {', '.join(missing)} (Debian systemd-container, util-linux)"
    if not os.path.exists("/lib/systemd/systemd"):
        return "no /lib/systemd/systemd to boot (Debian systemd)"
    return None


class BootedMachine:
    def __init__(self, machine, workdir, hosts, whiteouts=(), emptied=(), masked=()):
        """`machine`: a netns.Machine (its namespace becomes the container's network). `hosts`:
        the machine's /etc/hosts (the names the guide uses, as DNS would give them). `whiteouts`:
        paths of this machine (relative to /) the booted one starts without. `masked`: units of
        this machine's installed packages that the booted one does not start. `emptied`: directories
        the booted one has empty (an opaque overlay directory)."""
        self.machine, self.name, self.address = machine, machine.name, machine.address
        self.dir = tempfile.mkdtemp(prefix=f"portico-{self.name}-", dir=workdir)
        upper, work, self.root_mount = (os.path.join(self.dir, d) for d in ("upper", "work", "root"))
        for d in (upper, work, self.root_mount):
            os.makedirs(d)
        self._write(upper, "etc/hosts", hosts)
        self._write(upper, "etc/hostname", self.name + "\n")
        for path in whiteouts:  # an overlay whiteout: the lower's entry is hidden
            target = os.path.join(upper, path)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.mknod(target, 0o600 | 0o020000, os.makedev(0, 0))
        for path in emptied:
            target = os.path.join(upper, path)
            os.makedirs(target)
            os.setxattr(target, "trusted.overlay.opaque", b"y")
        for unit in masked:
            link = os.path.join(upper, "etc/systemd/system", unit)
            os.makedirs(os.path.dirname(link), exist_ok=True)
            os.symlink("/dev/null", link)
        self.log_path = os.path.join(self.dir, "console.log")
        self.log = open(self.log_path, "w+")
        boot = ('mount -t overlay overlay -o "lowerdir=/,upperdir=$1,workdir=$2" "$3" && '
                'exec systemd-nspawn -q --boot --register=no --keep-unit -D "$3" -M "$4" '
                '--network-namespace-path="/run/netns/$5"')
        self.proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", boot, "sh",
                                      upper, work, self.root_mount, self.name, machine.ns],
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        self.init_pid = None

    @staticmethod
    def _write(upper, path, text):
        target = os.path.join(upper, path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "w") as f:
            f.write(text)

    def _find_init(self):
        """The container's PID 1 (systemd): nspawn's child."""
        try:
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                children = [int(p) for p in f.read().split()]
        except OSError:
            return None
        for child in children:
            try:
                with open(f"/proc/{child}/comm") as f:
                    if f.read().strip() == "systemd":
                        return child
            except OSError:
                pass
        return None

    def wait_booted(self, timeout=120):
        """Until systemd says the boot is over (running, or degraded: a unit of this machine's that
        fails in a container is not the guide's concern; `failed_units` names them)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name}: systemd-nspawn exited {self.proc.returncode}:\n{self.console()[-3000:]}")
            self.init_pid = self.init_pid or self._find_init()
            if self.init_pid:
                state = self.sh("systemctl is-system-running --wait", timeout=max(1, deadline - time.time()),
                                check=False).stdout.strip()
                if state in ("running", "degraded"):
                    return state
            time.sleep(0.5)
        raise RuntimeError(f"{self.name}: not booted after {timeout} s:\n{self.console()[-3000:]}")

    def failed_units(self):
        return self.sh("systemctl list-units --failed --plain --no-legend", check=False).stdout.split("\n")

    def command(self, argv):
        # No --wd: nsenter opens that directory before it enters the mount namespace (this
        # machine's /root); entering it starts at the machine's /, and the shell goes home itself.
        return ["nsenter", "-t", str(self.init_pid), "-m", "-u", "-i", "-n", "-p", "--", *LOGIN_ENV, *argv]

    def sh(self, script, timeout=300, check=True, input=None):
        """`script` run by bash as root on the machine; stdout and stderr captured apart."""
        p = subprocess.run(self.command(["bash", "-c", "cd /root\n" + script]), capture_output=True, text=True, timeout=timeout,
                           input=input)
        if check and p.returncode != 0:
            raise AssertionError(f"{self.name}: `{script}` exit {p.returncode}\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
        return p

    def path(self, path):
        """Where this machine's `path` is, seen from the test (through its init's root)."""
        return f"/proc/{self.init_pid}/root/{path.lstrip('/')}"

    def console(self):
        self.log.flush()
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self, timeout=30):
        """A clean poweroff (nspawn passes SIGTERM on to systemd as one), then SIGKILL."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)
