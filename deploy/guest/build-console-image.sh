#!/bin/sh
# Builds the "console" guest image for VM desktops: the installed Debian kernel plus a tiny busybox
# initramfs whose /init starts a root shell on the VGA console (tty0) and a second one on the serial
# port. Used by tests and as the smallest possible golden image; needs the Debian packages
# linux-image-amd64, busybox-static, cpio, qemu-utils. No network.
#
#   build-console-image.sh OUTDIR     -> OUTDIR/vmlinuz, OUTDIR/initrd.cpio.gz, OUTDIR/disk.qcow2,
#                                        OUTDIR/image.json (so OUTDIR can be an image for --images)
set -eu

out=${1:?usage: build-console-image.sh OUTDIR}
. "$(cd "$(dirname "$0")" && pwd)/pvh-kernel.sh"
mkdir -p "$out"

kernel=$(ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$kernel" ] || [ ! -r "$kernel" ]; then
    echo "build-console-image: no readable /boot/vmlinuz-* (install linux-image-amd64)" >&2
    exit 2
fi
busybox=/bin/busybox
# A dynamic busybox would need its libraries in the initramfs; ldd succeeds only on dynamic ones.
if [ ! -x "$busybox" ] || ldd "$busybox" >/dev/null 2>&1; then
    echo "build-console-image: need a static /bin/busybox (install busybox-static)" >&2
    exit 2
fi
command -v cpio >/dev/null || { echo "build-console-image: cpio missing" >&2; exit 2; }

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/sbin" "$root/proc" "$root/sys" "$root/dev" "$root/tmp" "$root/root" "$root/etc"
cp "$busybox" "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done

# The session's disk is virtio-blk: its drivers must be in the initramfs when the kernel has them
# as modules (Debian's does), or /dev/vda would not exist in the guest.
# The USB tablet's drivers (QEMU's pointer) and evdev go in too, as a list of their own: they are
# loaded only by portico-input-probe (below), so the boot does not wait for USB. Until they are, the
# guest has no tablet driver and QEMU's pointer is the PS/2 mouse: relative, as in a firmware or an
# installer. The PS/2 mouse's driver (psmouse) is a third list, for `portico-input-probe mouse`.
kver=$(basename "$kernel" | sed 's/^vmlinuz-//')
mkdir -p "$root/lib/portico-modules"
: > "$root/lib/portico-modules/order"
: > "$root/lib/portico-modules/input-order"
: > "$root/lib/portico-modules/mouse-order"
add_modules() {  # LIST MODULE...: copies the modules and their dependencies, in load order
    list=$1
    shift
    command -v modprobe >/dev/null && [ -d "/lib/modules/$kver" ] || return 0
    for m in "$@"; do
        modprobe --show-depends -S "$kver" "$m" 2>/dev/null | awk '$1 == "insmod" {print $2}'
    done | awk '!seen[$0]++' | while read -r ko; do
        case "$ko" in *.ko) ;; *) echo "build-console-image: $ko is compressed; need uncompressed modules" >&2; exit 2 ;; esac
        cp "$ko" "$root/lib/portico-modules/"
        basename "$ko" >> "$root/lib/portico-modules/$list"
    done
}
# And the display driver: a PVH-booted kernel (see pvh-kernel.sh) gets no VGA text console from a
# real-mode boot stage, so without a driver for QEMU's VGA adapter tty1 is drawn nowhere and the
# screen keeps the BIOS's last words while the shell runs. bochs (DRM) brings up fbcon on it.
add_modules order virtio_pci virtio_blk bochs
add_modules input-order xhci_pci usbhid hid_generic evdev
add_modules mouse-order psmouse evdev

# For tests of the pointer path (tests/unit/vm, tests/integration): loads the tablet's drivers
# (the guest's pointer becomes absolute) and prints each of its input events on the serial port as
# "PORTICO_INPUT <struct input_event in hex>", from PORTICO_INPUT_READY on (printed once the device
# is open, so no event after it is missed). `portico-input-probe mouse` does the same for the PS/2
# mouse, loading no USB driver, so the guest's pointer stays relative.
cat > "$root/bin/portico-input-probe" <<'PROBE'
#!/bin/busybox sh
list=input-order name=tablet
[ "${1:-}" = mouse ] && list=mouse-order name=ps/2
for m in $(cat /lib/portico-modules/$list); do insmod /lib/portico-modules/$m 2>/dev/null; done
for i in $(seq 50); do
    for e in /sys/class/input/event*; do
        grep -qi "$name" "$e/device/name" 2>/dev/null || continue
        (
            exec 3<"/dev/input/${e##*/}"
            echo PORTICO_INPUT_READY > /dev/ttyS0
            exec hexdump -v -e '"PORTICO_INPUT " 24/1 "%02x" "\n"' <&3 > /dev/ttyS0
        ) &
        exit 0
    done
    sleep 0.2
done
echo PORTICO_INPUT_MISSING > /dev/ttyS0
exit 1
PROBE
chmod 755 "$root/bin/portico-input-probe"

cat > "$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin 2>/dev/null
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null || mdev -s
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
export PATH=/bin:/sbin HOME=/root TERM=linux PS1='portico# '
# Kernel messages stay off the console so the shell prompt is what the screen shows.
echo 1 > /proc/sys/kernel/printk
for m in $(cat /lib/portico-modules/order); do insmod /lib/portico-modules/$m; done
# Wait (briefly) for the virtio disk, so commands typed at the prompt find /dev/vda.
for i in 1 2 3 4 5 6 7 8 9 10; do [ -b /dev/vda ] && break; sleep 0.2; done
chmod 666 /dev/ttyS0 2>/dev/null
# Respawned shells: exiting one gives a fresh prompt instead of a kernel panic.
# setsid + opening tty1 makes tty1 the shell's controlling terminal (job control, Ctrl-C).
# "Ready" is said once tty1 is open: keys typed before that would be dropped by the kernel (no one
# has the terminal open), keys typed after it wait in the terminal until the shell reads them.
(while true; do setsid sh -c 'exec </dev/tty1 >/dev/tty1 2>&1; clear; echo "Portico console guest"; echo; echo PORTICO_GUEST_READY > /dev/ttyS0; exec sh -i'; sleep 1; done) &
while true; do sh -i </dev/ttyS0 >/dev/ttyS0 2>&1; sleep 1; done
INIT
chmod 755 "$root/init"

( cd "$root" && find . | cpio -o -H newc --quiet ) | gzip -9 > "$out/initrd.cpio.gz.tmp"
mv "$out/initrd.cpio.gz.tmp" "$out/initrd.cpio.gz"
cp "$kernel" "$out/vmlinuz"
chmod 644 "$out/vmlinuz"
# Boot the uncompressed kernel (PVH) when it can be extracted: several seconds faster under TCG.
boot_kernel=vmlinuz
if pvh_kernel "$out/vmlinuz" "$out/vmlinux"; then
    boot_kernel=vmlinux
    chmod 644 "$out/vmlinux"
fi
# An empty golden disk, so linked clones (qcow2 overlays) can be exercised with this image too.
if command -v qemu-img >/dev/null; then
    [ -f "$out/disk.qcow2" ] || qemu-img create -q -f qcow2 "$out/disk.qcow2" 64M
fi
# What a session host needs to run it (portico-host --images DIR, with OUTDIR as DIR/console).
# mitigations=off: an emulated (TCG) CPU needs no speculative-execution defences and pays dearly
# for them (about half the boot); the guest runs one user's shell, nothing to isolate inside it.
cat > "$out/image.json.tmp" <<JSON
{
  "description": "Debian kernel + busybox shell on the VGA console (tests)",
  "kernel": "$boot_kernel",
  "initrd": "initrd.cpio.gz",
  "append": "console=tty0 console=ttyS0 quiet mitigations=off",
  "disk": "disk.qcow2",
  "ready_serial": "PORTICO_GUEST_READY"
}
JSON
mv "$out/image.json.tmp" "$out/image.json"
echo "console image: $out/$boot_kernel $out/initrd.cpio.gz ($(basename "$kernel"))"
