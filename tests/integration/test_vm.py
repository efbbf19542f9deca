"""VM desktops end to end: a real broker, a real session host running the console guest image in
QEMU (TCG on machines without usable KVM), and the headless client streaming it.

Usage: test_vm.py <case> <build_dir> <source_dir>; each case starts its own stack.
Exit 0 = pass, 1 = fail. The console image is built by the build (tests/unit/vm/console-image)."""

import glob
import json
import os
import re
import secrets
import signal
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from stack import Stack, descendants, wait_for  # noqa: E402
from test_e2e import png_rgb  # noqa: E402

BOOT_TIMEOUT = 180  # TCG on a loaded 2-core machine


class VmStack(Stack):
    """A stack whose host offers the console image as a VM desktop."""

    def __init__(self, build_dir, source_dir, name):
        super().__init__(build_dir, source_dir, name)
        image = os.path.join(build_dir, "tests/unit/vm/console-image")
        if not os.path.exists(os.path.join(image, "image.json")):
            raise AssertionError(f"the console image is missing: {image} (build the console_image target)")
        self.images = os.path.join(self.dir, "images")
        os.makedirs(self.images)
        os.symlink(image, os.path.join(self.images, "console"))
        self.vm_dir = os.path.join(self.dir, "vms")
        self.host_args = ["--images", self.images, "--vm-dir", self.vm_dir]

    def publish_desktop(self, pool, mode, spares=0, size=4, name=None, image="console", memory=256):
        out = subprocess.run([self.bin("portico-broker"), "publish-desktop", "--state", self.state, "--id", pool,
                              "--name", name or pool, "--image", image, "--mode", mode, "--size", str(size),
                              "--spares", str(spares), "--memory", str(memory), "--cpus", "1"],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        return pool

    def run_dirs(self):
        return sorted(glob.glob(os.path.join(self.vm_dir, "run", "vm-*")))

    def qemu_pids(self):
        return [p for p in descendants(self.host.pid) if (comm(p) or "").startswith("qemu-system")]

    def session_dir(self, exclude=()):
        """The runtime directory of the (single) session VM: the one not listed in `exclude`."""
        dirs = [d for d in self.run_dirs() if d not in exclude]
        return dirs[0] if len(dirs) == 1 else None

    def live_sessions(self, cookie):
        status, _, body = self.request("GET", "/api/v1/sessions", cookie=cookie)
        assert status == 200, (status, body)
        return body


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return None


def serial(run_dir):
    try:
        with open(os.path.join(run_dir, "serial.log"), errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def serial_lines(run_dir):
    """The lines on the guest's serial port (the guest's tty ends them with \\r\\n)."""
    return serial(run_dir).replace("\r\n", "\n").replace("\r", "\n").split("\n")


def serial_count(run_dir, text):
    """How many lines on the serial port end with exactly `text`. The end, not the whole line: the
    serial port's own shell may have left its prompt (no newline) just before the typed command's
    output arrives there. The text up to the newline must still be exactly right."""
    return sum(1 for line in serial_lines(run_dir) if line.endswith(text))


def input_events(run_dir):
    """The guest's input events that portico-input-probe printed on the serial port (struct
    input_event of x86-64: a 16-byte timeval, u16 type, u16 code, s32 value), as (type, code, value)."""
    out = []
    for hexed in re.findall(r"PORTICO_INPUT ([0-9a-f]{48})", serial(run_dir)):
        raw = bytes.fromhex(hexed)
        out.append(struct.unpack_from("<HHi", raw, 16))
    return out


# Characters the headless client types with Shift held (US layout).
SHIFTED = set('~!@#$%^&*()_+{}|:"<>?ABCDEFGHIJKLMNOPQRSTUVWXYZ')


def key_messages(text):
    """How many Key messages the headless client sends to type `text`: a press and a release per
    key, and a Shift press and release around each shifted character."""
    return sum(4 if c in SHIFTED else 2 for c in text)


def wait_guest_ready(run_dir, timeout=BOOT_TIMEOUT):
    wait_for(lambda: "PORTICO_GUEST_READY" in serial(run_dir), timeout, f"the guest in {run_dir} to boot")
    time.sleep(2)  # the VGA shell prints its prompt right after the serial banner


def connect(stack, resource, *args, duration=2):
    proc, stats = stack.client("--resource", resource, "--duration", str(duration), "--json", *args, timeout=240)
    assert proc.returncode == 0, f"client exited {proc.returncode}: {proc.stderr[-2000:]}"
    assert stats and stats["frames"] >= 1 and stats["decode_errors"] == 0, stats
    return stats


def type_and_see(stack, resource, run_dir, command, expect, png=None, timeout=40):
    """Types `command` once through the stream and waits for its output `expect`, exactly, at the end
    of a line on the guest's serial port. No second try: a lost keystroke is a bug, and it garbles
    the command or its output, so the test fails. (The guest says it is ready only once its shell's
    terminal is open, and keys typed from then on wait there for the shell.) The client must have
    sent every key, once; the command must run once."""
    before = serial_count(run_dir, expect)
    args = ["--type", command + "\\n", "--type-delay-ms", "60"]
    if png:
        args += ["--png", png]
    stats = connect(stack, resource, *args, duration=3)
    want = key_messages(command + "\n")
    assert stats["keys_sent"] == want, f"the client sent {stats['keys_sent']} key messages for {command!r}, not {want}"
    deadline = time.time() + timeout
    while serial_count(run_dir, expect) == before:
        if time.time() > deadline:
            raise AssertionError(f"{expect!r} not at the end of a line on the guest's serial port {timeout} s after "
                                 f"typing {command!r} once; {shell_state(stack, resource, run_dir, expect, before)}; "
                                 f"serial tail: {serial(run_dir)[-600:]!r}")
        time.sleep(0.2)
    assert serial_count(run_dir, expect) == before + 1, f"{expect!r} more than once: {serial(run_dir)[-600:]!r}"
    print(f"typed {command!r} once ({want} key messages): {expect!r} came back exactly, "
          f"{timeout - (deadline - time.time()):.1f} s after the client finished typing")
    return stats


def shell_state(stack, resource, run_dir, expect, before):
    """After a typed command gave no output in time: whether the guest's shell still answers. The
    test has already failed; this only says why, for the report. The shell runs one line at a time,
    so if the late output came before the probe's, the command was slow, not garbled; a shell that
    answers the probe without it got a garbled or incomplete line (a key lost or changed on its
    way); one that answers nothing is still running the command, or the guest hung."""
    probe = f"PROBE_{secrets.token_hex(4)}"
    connect(stack, resource, "--type", f"echo {probe} > /dev/ttyS0\\n", "--type-delay-ms", "60", duration=3)
    deadline = time.time() + 20
    while time.time() < deadline:
        if serial_count(run_dir, probe):
            if serial_count(run_dir, expect) > before:
                return ("the command's output came late, before a second command's: it ran, slowly (all keys "
                        "arrived)")
            return "the shell answered a second command, so the first line reached it garbled or incomplete"
        time.sleep(0.2)
    return "the shell did not answer a second command in 20 s either: the first is still running, or the guest hung"


# The guest's sync ends with a virtio flush, which QEMU (cache=writeback) turns into an fdatasync of
# the overlay on the host: on a CI disk busy with the other tests' writes that waited over 40 s once
# (the output came late, before a probe typed after it; every key had arrived). The flush is what
# makes the write survive QEMU's exit, so it stays, with the time a busy host's disk can take.
DISK_WRITE = "echo DISKMARK > /dev/vda; sync; echo WROTE > /dev/ttyS0"
DISK_WRITE_TIMEOUT = 120


def disk_probe(tag):
    # The first 512 bytes of the session's disk: the console guest has no file system, so the
    # test writes to the block device itself.
    return (f"head -c 512 /dev/vda | grep -q DISKMARK && echo HAS_{tag} > /dev/ttyS0 || echo NO_{tag} > /dev/ttyS0")


def changed_pixels(png_a, png_b):
    """How many pixels differ between two same-sized screens (a channel by more than 32)."""
    wa, ha, a = png_rgb(png_a)
    wb, hb, b = png_rgb(png_b)
    assert (wa, ha) == (wb, hb), f"the screen changed size: {wa}x{ha} -> {wb}x{hb}"
    return sum(1 for i in range(0, len(a), 3) if max(abs(a[i + k] - b[i + k]) for k in range(3)) > 32)


# ---- cases ----

def case_console(stack):
    """Stream the console desktop, type through it, pooled disks are discarded at logoff."""
    pool = stack.publish_desktop("console", "pooled")
    cookie = stack.login()
    status, _, resources = stack.request("GET", "/api/v1/resources", cookie=cookie)
    assert any(r["id"] == "console" and r["type"] == "desktop" for r in resources), resources

    t0 = time.time()
    first = connect(stack, pool, "--png", os.path.join(stack.dir, "boot.png"))
    run_dir = wait_for(stack.session_dir, 30, "the session's VM runtime directory")
    wait_guest_ready(run_dir)
    cold_boot_s = time.time() - t0
    print(f"cold boot: first frame {first['first_frame_ms']} ms, guest ready {cold_boot_s:.1f} s after launch")
    assert len(stack.qemu_pids()) == 1

    before = os.path.join(stack.dir, "before.png")
    connect(stack, pool, "--png", before)
    # Every kind of key the client types (lower and upper case, digits, plain and shifted
    # punctuation), typed once and compared exactly: one lost, doubled or wrong key fails. (Single
    # quotes keep the shell's hands off it.)
    mark = f"Mark_{secrets.token_hex(4)}-XYZ.0189 ~!@#$%^&*()+={{}}[]|:;<>?,/`"
    after = os.path.join(stack.dir, "after.png")
    type_and_see(stack, pool, run_dir, f"echo '{mark}' > /dev/ttyS0", mark, png=after)
    # The screen shows the typed command: the framebuffer changed and the change was streamed. More
    # than the blinking cursor (at most 8x16 pixels): the command's ~80 characters are on the screen.
    changed = changed_pixels(before, after)
    assert changed > 1000, f"the streamed screen did not show the typed command ({changed} pixels changed)"
    print(f"typing changed {changed} pixels of the streamed screen")

    # The portal's live picture of the desktop while nobody views it: a JPEG of the VM's screen,
    # made by the host from a fresh read of the VNC framebuffer.
    sid = stack.live_sessions(cookie)[0]["id"]
    status, headers, jpeg = stack.request("GET", f"/api/v1/sessions/{sid}/thumbnail", cookie=cookie)
    ctype = {k.lower(): v for k, v in headers}.get("content-type")
    assert status == 200 and ctype == "image/jpeg" and jpeg[:2] == b"\xff\xd8", (status, ctype, jpeg[:200])
    print(f"the desktop's live thumbnail: {len(jpeg)} bytes")

    # Pooled: write to the disk, log off, the next session starts from a clean clone. (The disk is
    # the real virtio block device, not a file the shell would create on /dev.)
    type_and_see(stack, pool, run_dir, "[ -b /dev/vda ] && echo IS_BLOCK > /dev/ttyS0", "IS_BLOCK")
    type_and_see(stack, pool, run_dir, DISK_WRITE, "WROTE", timeout=DISK_WRITE_TIMEOUT)
    type_and_see(stack, pool, run_dir, disk_probe("1"), "HAS_1")
    stats = connect(stack, pool, "--logoff", duration=1)
    assert stats["ended"] == "logged_off", stats
    wait_for(lambda: not stack.run_dirs(), 30, "the pooled VM's files to be removed")
    wait_for(lambda: not stack.qemu_pids(), 30, "QEMU to exit after logoff")
    wait_for(lambda: not stack.live_sessions(cookie), 15, "the broker to see the session end")

    connect(stack, pool)
    run_dir = wait_for(stack.session_dir, 30, "the second session's VM runtime directory")
    wait_guest_ready(run_dir)
    type_and_see(stack, pool, run_dir, disk_probe("2"), "NO_2")
    assert "HAS_2" not in serial(run_dir)


def case_dedicated(stack):
    """Dedicated: the user's disk survives logoff; deleting the pool removes it."""
    pool = stack.publish_desktop("mine", "dedicated")
    overlay = os.path.join(stack.vm_dir, "dedicated", "mine", "demo.qcow2")
    connect(stack, pool)
    run_dir = wait_for(stack.session_dir, 30, "the session's VM runtime directory")
    assert os.path.exists(overlay), "the user's overlay was not created where expected"
    wait_guest_ready(run_dir)
    type_and_see(stack, pool, run_dir, "[ -b /dev/vda ] && echo IS_BLOCK > /dev/ttyS0", "IS_BLOCK")
    type_and_see(stack, pool, run_dir, DISK_WRITE, "WROTE", timeout=DISK_WRITE_TIMEOUT)
    stats = connect(stack, pool, "--logoff", duration=1)
    assert stats["ended"] == "logged_off", stats
    wait_for(lambda: not stack.run_dirs(), 30, "the VM's runtime files to be removed")
    assert os.path.exists(overlay), "the dedicated disk must survive logoff"

    connect(stack, pool)
    run_dir = wait_for(stack.session_dir, 30, "the second session's VM runtime directory")
    wait_guest_ready(run_dir)
    type_and_see(stack, pool, run_dir, disk_probe("3"), "HAS_3")
    stats = connect(stack, pool, "--logoff", duration=1)
    assert stats["ended"] == "logged_off", stats
    wait_for(lambda: not stack.qemu_pids(), 30, "QEMU to exit after logoff")

    out = subprocess.run([stack.bin("portico-broker"), "delete-desktop", "--state", stack.state, "--id", pool],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    wait_for(lambda: not os.path.exists(os.path.dirname(overlay)), 30, "the deleted pool's disks to be removed")


def case_failure(stack):
    """QEMU killed: only that session ends, the broker hears, files are cleaned; no QEMU outlives its host."""
    pool = stack.publish_desktop("console", "pooled")
    cookie = stack.login()
    # An app session next to it must survive the VM's failure.
    app = subprocess.Popen([stack.bin("portico-client"), "--headless", "--broker", stack.url, "--user", "demo",
                            "--ca", os.path.join(stack.state, "tls/broker.crt"), "--resource", "Terminal",
                            "--duration", "1", "--json"], env=dict(os.environ, PORTICO_PASSWORD=stack.password),
                           stdout=subprocess.PIPE, text=True)
    assert app.wait(timeout=120) == 0
    connect(stack, pool)
    run_dir = wait_for(stack.session_dir, 30, "the session's VM runtime directory")
    wait_for(lambda: len(stack.qemu_pids()) == 1, 30, "QEMU to run")
    sessions = stack.live_sessions(cookie)
    assert {s["resource"] for s in sessions} == {"console", "terminal"}, sessions

    # A viewer is attached when QEMU dies: it is told the session ended with an error.
    viewer = subprocess.Popen([stack.bin("portico-client"), "--headless", "--broker", stack.url, "--user", "demo",
                               "--ca", os.path.join(stack.state, "tls/broker.crt"), "--resource", pool,
                               "--duration", "60", "--json"], env=dict(os.environ, PORTICO_PASSWORD=stack.password),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(4)
    os.kill(stack.qemu_pids()[0], signal.SIGKILL)
    out, err = viewer.communicate(timeout=60)
    stats = json.loads([line for line in out.splitlines() if line.startswith("{")][-1])
    assert stats["ended"] == "error", stats
    wait_for(lambda: not os.path.exists(run_dir), 30, "the dead VM's files to be removed")
    wait_for(lambda: [s["resource"] for s in stack.live_sessions(cookie)] == ["terminal"], 15,
             "the broker to hear that only the VM session ended")
    assert "stopped unexpectedly" in stack.read_log("host"), "the host log should say what happened to the VM"

    # kill -9 of the host: its VMs (a session's and a spare) die with it.
    stack.publish_desktop("spare", "pooled", spares=1)
    connect(stack, pool)
    wait_for(lambda: len(stack.qemu_pids()) == 2, 60, "a session VM and a spare VM")
    pids = stack.qemu_pids()
    stack.host.send_signal(signal.SIGKILL)
    stack.host.wait(timeout=10)
    wait_for(lambda: not any(os.path.exists(f"/proc/{p}") and comm(p) and comm(p).startswith("qemu") for p in pids),
             15, "every QEMU of the killed host to exit")

    # A restarted host removes the runtime files the killed one left behind.
    leftovers = stack.run_dirs()
    assert leftovers, "expected leftovers of the killed host"
    stack.start_host()
    wait_for(lambda: not any(os.path.exists(d) for d in leftovers), 10, "leftover runtime dirs to go")
    # Graceful stop with a VM running leaves no QEMU either.
    wait_for(lambda: len(stack.qemu_pids()) >= 1, 60, "the restarted host's spare VM")
    pids = stack.qemu_pids()
    stack.host.send_signal(signal.SIGTERM)
    stack.host.wait(timeout=30)
    wait_for(lambda: not any(os.path.exists(f"/proc/{p}") for p in pids), 15, "QEMU to exit with its host")
    assert not stack.run_dirs(), "a stopped host must leave no VM runtime files"


def case_spare(stack):
    """A pooled pool with a spare: a launch takes the booted spare (fast), and a new spare boots behind it."""
    pool = stack.publish_desktop("fast", "pooled", spares=1)
    wait_for(lambda: "spare VM for pool fast is ready" in stack.read_log("host"), BOOT_TIMEOUT, "the spare to boot")
    spare_dirs = stack.run_dirs()
    assert len(spare_dirs) == 1, spare_dirs

    t0 = time.time()
    stats = connect(stack, pool, "--png", os.path.join(stack.dir, "spare.png"))
    launch_s = time.time() - t0
    # The session runs in the spare's VM, whose guest was already up.
    assert "took a ready spare VM of pool fast" in stack.read_log("host")
    run_dir = spare_dirs[0]
    assert "PORTICO_GUEST_READY" in serial(run_dir)
    mark = "SPARE_MARK_" + secrets.token_hex(3).upper()
    type_and_see(stack, pool, run_dir, f"echo {mark} > /dev/ttyS0", mark)

    # A new spare boots behind it.
    wait_for(lambda: stack.read_log("host").count("spare VM for pool fast is ready") >= 2, BOOT_TIMEOUT,
             "a new spare to boot behind the taken one")
    assert len(stack.qemu_pids()) == 2

    # Cold boot of the same image for comparison (a pool without spares).
    stack.publish_desktop("cold", "pooled")
    t1 = time.time()
    before = set(stack.run_dirs())
    connect(stack, "cold")
    cold_dir = wait_for(lambda: stack.session_dir(exclude=before), 30, "the cold session's runtime directory")
    wait_guest_ready(cold_dir)
    cold_s = time.time() - t1 - 2  # wait_guest_ready's settle time
    print(f"spare: first frame {stats['first_frame_ms']} ms (client run {launch_s:.2f} s, guest already ready); "
          f"cold boot to guest ready {cold_s:.1f} s")
    assert stats["first_frame_ms"] < 3000, stats
    assert stats["first_frame_ms"] / 1000.0 < cold_s / 3, "a launch from a spare should be far faster than a cold boot"

    # Fewer spares: the idle one beyond the new count shuts down.
    stack.publish_desktop("fast", "pooled", spares=0)
    wait_for(lambda: len(stack.qemu_pids()) == 2, 30, "the spare beyond the count to shut down")


def desktop_image(stack):
    """The desktop guest image (deploy/guest/build-desktop-image.sh; cached after the first build)."""
    out = os.path.join(stack.dir, "desktop-image")
    proc = subprocess.run([os.path.join(stack.source, "deploy/guest/build-desktop-image.sh"), out],
                          capture_output=True, text=True, timeout=3600)
    assert proc.returncode == 0, f"cannot build the desktop image: {proc.stderr[-3000:]}"
    return os.path.realpath(out)


def case_browser_desktop(stack):
    """The quickstart's "Desktop" (desktop image, pooled, one spare) launched from the portal in Chromium."""
    chromium = os.environ.get("PORTICO_CHROMIUM", "/usr/bin/chromium")
    node_modules = os.path.join(stack.source, "tests/browser/node_modules/playwright-core")
    for need in (chromium, node_modules):
        assert os.path.exists(need), f"the browser test needs {need} (deploy/install-deps.sh --test)"
    wait_for(lambda: "spare VM for pool desktop is ready" in stack.read_log("host"), 600, "the Desktop spare to boot")
    artifacts = os.environ.get("PORTICO_ARTIFACTS", os.path.join(stack.dir, "artifacts"))
    env = dict(os.environ, PORTICO_URL=stack.url + "/", PORTICO_USER="demo", PORTICO_PASSWORD=stack.password,
               PORTICO_ARTIFACTS=artifacts, PORTICO_VM_RUN_DIR=os.path.join(stack.vm_dir, "run"),
               PORTICO_VM_ACCEL="kvm" if "accelerator kvm" in stack.read_log("host") else "tcg")
    proc = subprocess.run(["node", os.path.join(stack.source, "tests/browser/desktop.test.mjs")], env=env, timeout=900)
    assert proc.returncode == 0, "desktop browser test failed"
    # Launched from the booted spare; Log off in the page ended the VM and removed its files.
    cookie = stack.login()
    wait_for(lambda: not stack.live_sessions(cookie), 30, "the broker to see the desktop session end")
    assert "took a ready spare VM of pool desktop" in stack.read_log("host")
    print(f"screenshots in {artifacts}")


# Debian's network installer as the debian-installer-12-netboot-amd64 package installs it: a PXE tree
# (pxelinux.0, Debian's boot menu, the installer's kernel and initrd), made by Debian, not by us.
DEBIAN_INSTALLER_TREE = "/usr/lib/debian-installer/images/12/amd64/text"
DEBIAN_INSTALLER_NAME = "Debian installer"


def register_debian_installer(images):
    """Registers Debian's netboot installer in the host's images directory `images` exactly as
    deploy/guest/README.md ("Your own golden image") tells an admin: a directory with an image.json
    naming the boot files, nothing else. Returns the image's name."""
    if not os.path.exists(os.path.join(DEBIAN_INSTALLER_TREE, "pxelinux.0")):
        raise AssertionError(f"{DEBIAN_INSTALLER_TREE} is missing: install debian-installer-12-netboot-amd64 "
                             "(deploy/install-deps.sh --test)")
    image = os.path.join(images, "debian-installer")
    os.makedirs(image)
    with open(os.path.join(image, "image.json"), "w") as f:
        json.dump({"tftp": DEBIAN_INSTALLER_TREE, "bootfile": "pxelinux.0", "ready_seconds": 60}, f)
    return "debian-installer"


def case_browser_foreign(stack):
    """A golden image Portico did not build (Debian's netboot installer), booted through the documented
    path, streamed to Chromium and driven with the keyboard (tests/browser/desktop-foreign.test.mjs)."""
    chromium = os.environ.get("PORTICO_CHROMIUM", "/usr/bin/chromium")
    node_modules = os.path.join(stack.source, "tests/browser/node_modules/playwright-core")
    for need in (chromium, node_modules):
        assert os.path.exists(need), f"the browser test needs {need} (deploy/install-deps.sh --test)"
    log = stack.read_log("host")
    assert "debian-installer" in log and "image 'debian-installer'" not in log, f"the host did not take the image: {log[-2000:]}"
    artifacts = os.environ.get("PORTICO_ARTIFACTS", os.path.join(stack.dir, "artifacts"))
    env = dict(os.environ, PORTICO_URL=stack.url + "/", PORTICO_USER="demo", PORTICO_PASSWORD=stack.password,
               PORTICO_ARTIFACTS=artifacts, PORTICO_RESOURCE=DEBIAN_INSTALLER_NAME,
               PORTICO_VM_ACCEL="kvm" if "accelerator kvm" in log else "tcg")
    proc = subprocess.run(["node", os.path.join(stack.source, "tests/browser/desktop-foreign.test.mjs")], env=env,
                          timeout=1500)
    assert proc.returncode == 0, "the foreign-image browser test failed"
    # Log off in the page ended the VM: no QEMU, no runtime files, no session left.
    cookie = stack.login()
    wait_for(lambda: not stack.live_sessions(cookie), 30, "the broker to see the installer session end")
    wait_for(lambda: not stack.qemu_pids(), 30, "QEMU to exit after logoff")
    wait_for(lambda: not stack.run_dirs(), 30, "the VM's runtime files to be removed")
    print(f"screenshots in {artifacts}")


def case_browser_pointer(stack):
    """The console guest (no tablet driver: a relative PS/2 mouse) in Chromium: Pointer Lock on a
    click, motion into the guest's PS/2 mouse (tests/browser/vm-pointer.test.mjs)."""
    chromium = os.environ.get("PORTICO_CHROMIUM", "/usr/bin/chromium")
    node_modules = os.path.join(stack.source, "tests/browser/node_modules/playwright-core")
    for need in (chromium, node_modules):
        assert os.path.exists(need), f"the browser test needs {need} (deploy/install-deps.sh --test)"
    stack.publish_desktop("console", "pooled", name="Console")
    artifacts = os.environ.get("PORTICO_ARTIFACTS", os.path.join(stack.dir, "artifacts"))
    env = dict(os.environ, PORTICO_URL=stack.url + "/", PORTICO_USER="demo", PORTICO_PASSWORD=stack.password,
               PORTICO_ARTIFACTS=artifacts, PORTICO_VM_RUN_DIR=os.path.join(stack.vm_dir, "run"))
    proc = subprocess.run(["node", os.path.join(stack.source, "tests/browser/vm-pointer.test.mjs")], env=env, timeout=400)
    assert proc.returncode == 0, "relative pointer browser test failed"
    assert "the guest's pointer is relative" in stack.read_log("host")


CASES = {"console": case_console, "dedicated": case_dedicated, "failure": case_failure, "spare": case_spare,
         "browser_desktop": case_browser_desktop, "browser_foreign": case_browser_foreign,
         "browser_pointer": case_browser_pointer}


def main():
    case, build, source = sys.argv[1], sys.argv[2], sys.argv[3]
    stack = VmStack(build, source, f"vm-{case}")
    ok = False
    try:
        if case == "browser_desktop":
            os.symlink(desktop_image(stack), os.path.join(stack.images, "desktop"))
            stack.start()
            stack.publish_desktop("desktop", "pooled", spares=1, size=2, name="Desktop", image="desktop", memory=768)
        elif case == "browser_foreign":
            image = register_debian_installer(stack.images)
            stack.start()
            stack.publish_desktop("installer", "pooled", size=1, name=DEBIAN_INSTALLER_NAME, image=image, memory=1024)
        else:
            stack.start()
        CASES[case](stack)
        ok = True
        print(f"PASS vm {case}")
    except Exception as e:  # noqa: BLE001 - report any failure with the logs, the cause last
        import traceback
        stack.dump_logs()
        traceback.print_exc()
        print(f"FAILED: {type(e).__name__}: {e}")
    finally:
        stack.stop(keep=not ok)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
