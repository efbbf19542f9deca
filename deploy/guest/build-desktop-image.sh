#!/bin/sh
# Builds the "desktop" guest image for VM desktops from Debian packages only: a Debian 12 root file
# system (mmdebstrap, no root needed) with Xorg, the Openbox window manager, xterm and the Xfe file
# manager, started by a small init (no systemd: boots faster under TCG). The kernel and initramfs
# of the image's own linux-image-amd64 are copied out for direct kernel boot. Needs mmdebstrap,
# genext2fs, e2fsprogs, qemu-utils and the Debian mirror (nothing else from the network).
#
#   build-desktop-image.sh OUTDIR
#       -> OUTDIR is a symlink to the cached image: image.json, vmlinux (+ vmlinuz), initrd.img, disk.qcow2
#
# The result is cached by the hash of this script under ${PORTICO_IMAGE_CACHE:-~/.cache/portico/images},
# so a rerun is instant; change the script (or delete the cache) to rebuild.
set -eu

out=${1:?usage: build-desktop-image.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
cache_root=${PORTICO_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/portico/images}
key=$(cat "$here/build-desktop-image.sh" "$here/pvh-kernel.sh" "$here/portico-agent" | sha256sum | cut -c1-16)
. "$here/pvh-kernel.sh"
cache=$cache_root/desktop-$key
mirror=${PORTICO_DEBIAN_MIRROR:-http://deb.debian.org/debian}

link_out() {
    mkdir -p "$(dirname "$out")"
    if [ -L "$out" ] || [ ! -e "$out" ]; then
        ln -sfn "$cache" "$out"
    else
        echo "build-desktop-image: $out exists and is not a symlink; leaving it alone (image: $cache)" >&2
    fi
    echo "desktop image: $cache"
}

if [ -f "$cache/image.json" ]; then
    link_out
    exit 0
fi

for tool in mmdebstrap genext2fs resize2fs e2fsck qemu-img; do
    command -v "$tool" >/dev/null || { echo "build-desktop-image: $tool missing (deploy/install-deps.sh installs it)" >&2; exit 2; }
done

mkdir -p "$cache_root"
work=$(mktemp -d "$cache_root/.build-XXXXXX")
trap 'rm -rf "$work"' EXIT
files=$work/files
mkdir -p "$files" "$work/boot"

# PID 1 of the guest: mounts, udev (input devices, the display driver), then X with the session.
cat > "$files/portico-init" <<'INIT'
#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -o remount,rw /
hostname portico-desktop
echo 1 > /proc/sys/kernel/printk
/lib/systemd/systemd-udevd --daemon
udevadm trigger --action=add
udevadm settle --timeout=20
chmod 666 /dev/ttyS0
# A serial shell for the administrator (and tests).
(while true; do setsid sh -c 'exec sh -i </dev/ttyS0 >/dev/ttyS0 2>&1'; sleep 1; done) &
while true; do
    xinit /etc/portico/session -- /usr/bin/Xorg :0 vt1 -nolisten tcp -noreset >/var/log/portico-x.log 2>&1
    sleep 1
done
INIT

# The X session: a window manager, a file manager and a terminal. The terminal's shell prints
# PORTICO_GUEST_READY on the serial port, so "ready" means the desktop is really there (under TCG
# the windows take tens of seconds to appear after X starts). The terminal starts last so it has
# the keyboard focus, placed where the file manager does not cover it.
cat > "$files/session" <<'SESSION'
#!/bin/sh
xsetroot -solid '#2e3440'
# The viewer's window size reaches the guest as its virtual monitor's preferred mode (virtio-vga:
# the host passes the client's size request on); nothing in an Openbox session applies it, so
# this does, whenever RandR reports an output change.
xev -root -event randr | while read -r event _; do
    case $event in RRNotify|RRScreenChangeNotify) xrandr --output Virtual-1 --auto ;; esac
done &
# A viewer spanning several monitors: the layout comes over the agent's channel.
/usr/local/bin/portico-agent &
openbox &
sleep 1
xfe /root &
sleep 1
xterm -T Terminal -geometry 90x28+700+380 -e sh -c 'echo PORTICO_GUEST_READY > /dev/ttyS0; exec bash' &
wait
SESSION

cat > "$files/image.json" <<'JSON'
{
  "description": "Debian 12 with Xorg, Openbox, xterm and Xfe (deploy/guest/build-desktop-image.sh)",
  "kernel": "vmlinux",
  "initrd": "initrd.img",
  "append": "root=/dev/vda rw init=/sbin/portico-init console=tty0 console=ttyS0 quiet mitigations=off",
  "disk": "disk.qcow2",
  "ready_serial": "PORTICO_GUEST_READY",
  "display": "virtio"
}
JSON

echo "build-desktop-image: bootstrapping Debian 12 from $mirror (a few minutes)"
mmdebstrap --variant=apt --format=ext2 \
    --include=linux-image-amd64,initramfs-tools,udev,kmod,procps,xserver-xorg-core,xserver-xorg-input-libinput,xinit,x11-xserver-utils,x11-utils,openbox,xterm,xfe,xfonts-base,fonts-dejavu-core \
    --customize-hook="upload $files/portico-init /sbin/portico-init" \
    --customize-hook="upload $files/session /etc/portico/session" \
    --customize-hook="upload $here/portico-agent /usr/local/bin/portico-agent" \
    --customize-hook='chroot "$1" chmod 755 /sbin/portico-init /etc/portico/session /usr/local/bin/portico-agent' \
    --customize-hook='chroot "$1" sh -c "echo root:portico | chpasswd"' \
    --customize-hook='mkdir -p "$1/root/.config/xfe" && printf "[OPTIONS]\nroot_warn=0\n" > "$1/root/.config/xfe/xferc"' \
    --customize-hook="sync-out /boot $work/boot" \
    --setup-hook='mkdir -p "$1/etc/portico"' \
    bookworm "$work/root.ext2" "$mirror"

kernel=$(ls -1 "$work"/boot/vmlinuz-* | sort -V | tail -n 1)
initrd=$(ls -1 "$work"/boot/initrd.img-* | sort -V | tail -n 1)
[ -r "$kernel" ] && [ -r "$initrd" ] || { echo "build-desktop-image: no kernel/initrd in the image" >&2; exit 1; }

# Room to write in the guest (sessions write to their overlays, never to this file).
e2fsck -fy "$work/root.ext2" >/dev/null 2>&1 || true
resize2fs "$work/root.ext2" 2G >/dev/null
mkdir -p "$work/image"
qemu-img convert -q -f raw -O qcow2 "$work/root.ext2" "$work/image/disk.qcow2"
cp "$kernel" "$work/image/vmlinuz"
# The uncompressed kernel boots through PVH, skipping its slow self-decompression under TCG.
pvh_kernel "$kernel" "$work/image/vmlinux" || { echo "build-desktop-image: cannot extract the kernel from $kernel" >&2; exit 1; }
cp "$initrd" "$work/image/initrd.img"
cp "$files/image.json" "$work/image/image.json"
chmod 644 "$work/image/"*
rm -rf "$cache"
mv "$work/image" "$cache"
link_out
