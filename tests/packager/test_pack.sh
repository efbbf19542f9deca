#!/bin/bash
# Integration test of portico-pack driving the real binary: build, run in every isolation mode on a
# root where the host's copy is hidden, sandbox persistence and --reset, refusal of corrupt,
# truncated and untrusted packages, a host's launch with its trust list, the verified chunk cache,
# unprivileged run. Usage: test_pack.sh /path/to/portico-pack
set -u
PACK=${1:?usage: test_pack.sh /path/to/portico-pack}
PACK=$(readlink -f "$PACK")
# Not under /tmp: /tmp is deliberately shared with the host in every isolation mode.
W=$(mktemp -d /var/tmp/portico-pack-test.XXXXXX)
export HOME=$W/home XDG_CACHE_HOME= XDG_DATA_HOME= XDG_CONFIG_HOME=
mkdir -p "$HOME"
fails=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
expect_eq() { if [ "$1" == "$2" ]; then pass "$3"; else fail "$3 (got '$1', want '$2')"; fi; }
cleanup() { rm -rf "$W" /etc/portico-pack-test-$$ /etc/portico-pack-victim-$$ /opt/portico-pack-olddir-$$; }
trap cleanup EXIT
cd "$W"

"$PACK" keygen --out key.pem >/dev/null || fail keygen
"$PACK" keygen --out other.pem >/dev/null
expect_eq "$(stat -c %a key.pem)" 600 "private key is mode 0600"
"$PACK" build --entry /usr/bin/jq --entry /bin/dash --name jqtest --key key.pem -o jq.portico >build.log 2>&1 \
  || { cat build.log; fail "build"; }
"$PACK" inspect jq.portico --files >inspect.txt || fail "inspect"
grep -q "usr/lib/x86_64-linux-gnu/libonig.so.5" inspect.txt && pass "closure contains libonig" || fail "libonig missing"
grep -q "ld-linux-x86-64.so.2" inspect.txt && pass "package carries its loader" || fail "loader missing"

# The runtime at the front of every package is self-contained: statically linked, and it verifies
# and runs the package on a root that has no /usr at all (no libc, libcrypto, libzstd, libstdc++):
# a mount namespace whose root is pivoted to a directory holding only the package.
RT=$(dirname "$PACK")/portico-pack-runtime
[[ "$(ldd "$RT" 2>&1)" == *"not a dynamic executable"* ]] && pass "runtime is not a dynamic executable" \
  || fail "runtime is dynamically linked: $(ldd "$RT" 2>&1 | head -3)"
cat > pivot.py <<'PY'
# usage: pivot.py NEWROOT PROGRAM ARGS...: runs PROGRAM with NEWROOT as / (old root detached).
import ctypes, os, sys
root, argv = sys.argv[1], sys.argv[2:]
libc = ctypes.CDLL(None, use_errno=True)
def check(rc, what):
    if rc != 0:
        raise OSError(ctypes.get_errno(), what)
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
check(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "make / private")
check(libc.mount(root.encode(), root.encode(), None, MS_BIND, None), "bind new root")
check(libc.mount(b"/dev", (root + "/dev").encode(), None, MS_BIND | MS_REC, None), "bind /dev")
check(libc.mount(b"proc", (root + "/proc").encode(), b"proc", 0, None), "mount proc")
os.chdir(root)
check(libc.syscall(155, b".", b"."), "pivot_root")  # SYS_pivot_root on x86-64
check(libc.umount2(b".", 2), "detach old root")  # MNT_DETACH
os.chdir("/")
assert not os.path.exists("/usr") and not os.path.exists("/lib64"), "the minimal root has libraries"
os.environ.update(HOME="/home", PATH="/")
os.execv(argv[0], argv)
PY
# The portable SHA-256 (CPUs without the SHA extensions) verifies the same signature.
expect_eq "$(PORTICO_SHA256_PORTABLE=1 ./jq.portico -n '"portable sha"' -r 2>&1)" "portable sha" "portable SHA-256 path verifies the package"
MIN=$W/minroot && mkdir -p "$MIN/proc" "$MIN/dev" "$MIN/tmp" "$MIN/home" && cp jq.portico "$MIN/"
for mode in full writecopy; do
  out=$(echo '{"where":"minimal root"}' | unshare -m python3 pivot.py "$MIN" /jq.portico --portico-isolation=$mode -r .where 2>&1)
  expect_eq "$out" "minimal root" "package verifies and runs on a root without /usr ($mode)"
done
cp jq.portico "$MIN/bad.portico" && python3 -c "f=open('$MIN/bad.portico','r+b'); f.seek(-500, 2); b=f.read(1); f.seek(-500, 2); f.write(bytes([b[0]^4]))"
out=$(unshare -m python3 pivot.py "$MIN" /bad.portico -n 1 2>&1); rc=$?
[ $rc -eq 65 ] && [[ "$out" == *"signature does not verify"* ]] && pass "tampered package refused on a root without /usr" \
  || fail "tampered package on the minimal root (rc=$rc: $out)"

# A root where jq and its libraries are not installed: hide them in a private mount namespace.
hide='for f in /usr/bin/jq $(readlink -f /usr/lib/x86_64-linux-gnu/libjq.so.1) $(readlink -f /usr/lib/x86_64-linux-gnu/libonig.so.5); do mount --bind /dev/null $f; done'
for mode in full writecopy merged; do
  out=$(echo '{"a":[1,{"b":"ok"}]}' | unshare -m sh -c "$hide; /usr/bin/jq -n 1 >/dev/null 2>&1 && echo HOST-JQ-VISIBLE; exec ./jq.portico --portico-isolation=$mode -r '.a[1].b'" 2>&1)
  expect_eq "$out" "ok" "jq runs from the package in $mode isolation with the host copy hidden"
done
out=$(./jq.portico --portico-entry=dash -c 'test -e /usr/bin/sha256sum && echo visible || echo hidden')
expect_eq "$out" "hidden" "full isolation hides host files"
out=$(./jq.portico --portico-isolation=writecopy --portico-entry=dash -c 'test -e /usr/bin/sha256sum && echo visible || echo hidden')
expect_eq "$out" "visible" "writecopy shows host files"

SB=$HOME/.local/share/portico/sandbox/jqtest
# full: a write to $HOME lands in the sandbox, not on the host, and persists between runs.
./jq.portico --portico-entry=dash -c 'echo full-data > $HOME/full.txt' || fail "write in full"
[ ! -e "$HOME/full.txt" ] && pass "full: write did not reach the host" || fail "full: write reached the host"
[ -f "$SB/full/upper$HOME/full.txt" ] && pass "full: write is in the sandbox" || fail "full: write not in the sandbox"
expect_eq "$(./jq.portico --portico-entry=dash -c 'read x < $HOME/full.txt; echo $x')" "full-data" "full: sandbox persists"
# writecopy: even /etc is writable, copied up into the sandbox.
./jq.portico --portico-isolation=writecopy --portico-entry=dash -c "echo wc > /etc/portico-pack-test-$$ && echo wc2 > \$HOME/wc.txt" \
  || fail "write in writecopy"
[ ! -e /etc/portico-pack-test-$$ ] && pass "writecopy: /etc write did not reach the host" || fail "writecopy: /etc write reached the host"
[ ! -e "$HOME/wc.txt" ] && pass "writecopy: home write did not reach the host" || fail "writecopy: home write reached the host"
[ -f "$SB/writecopy/upper/etc/portico-pack-test-$$" ] && pass "writecopy: write is in the sandbox" || fail "writecopy: not in sandbox"
expect_eq "$(./jq.portico --portico-isolation=writecopy --portico-entry=dash -c "cat /etc/portico-pack-test-$$ \$HOME/wc.txt" | tr '\n' ' ')" \
  "wc wc2 " "writecopy: sandbox persists"
# The sandbox lies inside an overlaid host dir ($HOME): the app sees none of it, and a write deep
# in $HOME lands in the upper dir at the same path.
out=$(./jq.portico --portico-isolation=writecopy --portico-entry=dash -c "ls -A '$SB' | wc -l; mkdir -p \$HOME/.config/deep && echo deep > \$HOME/.config/deep/f")
expect_eq "$out" "0" "writecopy: the app does not see its sandbox"
expect_eq "$(cat "$SB/writecopy/upper$HOME/.config/deep/f" 2>&1)" "deep" "writecopy: a deep write in \$HOME lands in the sandbox"
[ ! -e "$HOME/.config/deep" ] && pass "writecopy: deep write did not reach the host" || fail "writecopy: deep write reached the host"
# A host directory holding a mount (locked in the sandbox's user namespace, so it cannot be an
# overlay lower dir) is split: the mount's files show, and writes to them are copied up.
mkdir -p "$W/mp/inner" && echo host-dir > "$W/mp/plain"
out=$(unshare -m sh -c "mount -t tmpfs none '$W/mp/inner' && echo on-mount > '$W/mp/inner/f' &&
  ./jq.portico --portico-isolation=writecopy --portico-entry=dash -c \"cat '$W/mp/plain' '$W/mp/inner/f'; echo w >> '$W/mp/inner/f'\"" 2>&1 | tr '\n' ' ')
expect_eq "$out" "host-dir on-mount " "writecopy: a directory holding a mount is split and shown"
expect_eq "$(cat "$SB/writecopy/upper$W/mp/inner/f" 2>&1 | tr '\n' ' ')" "on-mount w " "writecopy: a write into the mount lands in the sandbox"
# The launch returns the app's status once every process of the app is gone; unmounting the
# sandbox and removing the stale overlay work dirs finish after it (nothing may pile up).
for mode in full writecopy merged; do
  ./jq.portico --portico-isolation=$mode --portico-entry=dash -c 'exit 7'; rc=$?
  expect_eq "$rc" "7" "$mode: the app's exit status"
done
rm -f "$HOME/late"
./jq.portico --portico-isolation=merged --portico-entry=dash -c '(sleep 1; touch $HOME/late) & exit 0'
sleep 2
[ ! -e "$HOME/late" ] && pass "a process the app left behind ended with the launch" || fail "the app's background process outlived the launch"
work_dirs() { find "$SB/writecopy/work" -type d | wc -l; }
before=$(work_dirs)
for i in 1 2 3; do ./jq.portico --portico-isolation=writecopy --portico-entry=dash -c true; done
for i in $(seq 100); do [ -z "$(ls -A "$SB/trash" 2>/dev/null)" ] && break; sleep 0.1; done
expect_eq "$(ls -A "$SB/trash" 2>/dev/null | wc -l)" "0" "stale overlay work dirs are removed after the launches"
expect_eq "$(work_dirs)" "$before" "overlay work dirs do not pile up"
# An upgrade loses nothing: a runtime before December 2026 split every directory on the way to the
# sandbox and kept files an app made directly in one in writecopy/split/<dir>, beside its own
# stubs (an empty file as a host file's mount point, an empty dir as a mount point). Made here by
# hand: the current runtime moves the app's files into the upper dir ($HOME is one overlay now),
# keeps the upper's copy where both have one (also a whiteout: a host file the app deleted through
# this runtime stays deleted), and drops the stubs.
echo host-gone > "$HOME/gone" && ./jq.portico --portico-isolation=writecopy --portico-entry=dash -c 'rm $HOME/gone'
OLD=$SB/writecopy/split$HOME
mkdir -p "$OLD/olddir" "$OLD/.config" "$SB/writecopy/upper$HOME" "$OLD/.local/share/oldapp/deeper" "$HOME/.local/share/oldapp/deeper"
echo old-deep > "$OLD/.local/share/oldapp/deeper/d.txt"  # upper/<...>/oldapp/deeper is made on the way
echo old-notes > "$OLD/notes.txt"; echo old-nested > "$OLD/olddir/a.txt"; echo old-cfg > "$OLD/.config/oldcfg"
echo host-file > "$HOME/hostfile" && : > "$OLD/hostfile"
echo old-conflict > "$OLD/conflict.txt" && echo new-conflict > "$SB/writecopy/upper$HOME/conflict.txt"
echo old-gone > "$OLD/gone"
/usr/bin/python3 -c "import os, stat; os.mknod('$OLD/wo', stat.S_IFCHR, 0)" || fail "cannot make a whiteout"  # moved, hides nothing
show='cat $HOME/notes.txt $HOME/olddir/a.txt $HOME/.config/oldcfg $HOME/.local/share/oldapp/deeper/d.txt $HOME/hostfile $HOME/conflict.txt $HOME/conflict.txt.portico-migrated-1
  test -e $HOME/gone && echo gone-visible; test -e $HOME/wo && echo wo-visible; cat $HOME/gone.portico-migrated-1; ls $HOME | grep -c hostfile'
want="old-notes old-nested old-cfg old-deep host-file new-conflict old-conflict old-gone 1 "
for i in 1 2; do
  out=$(./jq.portico --portico-isolation=writecopy --portico-entry=dash -c "$show" 2>"mig$i.err" | tr '\n' ' ')
  expect_eq "$out" "$want" "writecopy launch $i after an upgrade: the old runtime's files show at their paths, the upper's copy wins"
done
grep -q "conflict.txt: kept the newer entry; the one an older runtime left is now conflict.txt.portico-migrated-1" mig1.err \
  && pass "the kept-aside file is reported" || fail "no warning for the conflict ($(cat mig1.err))"
[ ! -s mig2.err ] && pass "the second launch migrates nothing and warns of nothing" || fail "second launch: $(cat mig2.err)"
expect_eq "$(cat "$SB/writecopy/upper$HOME/notes.txt" 2>&1)" "old-notes" "the old file is now in the upper dir"
[ -c "$SB/writecopy/upper$HOME/wo" ] && pass "a whiteout from split/ is moved to the upper dir" || fail "the whiteout was not moved"
left=$(find "$SB/writecopy/split" -mindepth 1 -not -type d 2>/dev/null | wc -l)
expect_eq "$left" "0" "nothing is left in writecopy/split"
[ "$(cat "$HOME/hostfile")" == host-file ] && [ ! -e "$HOME/notes.txt" ] && pass "the migration left the host untouched" \
  || fail "the migration touched the host"
# merged: writes go to the host.
./jq.portico --portico-isolation=merged --portico-entry=dash -c 'echo merged > $HOME/merged.txt'
expect_eq "$(cat "$HOME/merged.txt" 2>&1)" "merged" "merged: write reached the host"
# --reset clears the sandbox.
out=$(./jq.portico --portico-reset --portico-entry=dash -c 'test -e $HOME/full.txt && echo still-there || echo gone')
expect_eq "$out" "gone" "--reset clears the sandbox"
"$PACK" run jq.portico --reset --entry dash -- -c 'true'
[ ! -e "$SB/writecopy" ] && pass "run --reset removed writecopy data" || fail "reset left data"

# Refusals: nothing may run (the payload would create $HOME/RAN in merged mode).
size=$(stat -c %s jq.portico)
refused() {  # file, expected message, label
  rm -f "$HOME/RAN"
  msg=$("$PACK" run "$1" --isolation merged --entry dash "${@:4}" -- -c 'touch $HOME/RAN' 2>&1); rc=$?
  if [ $rc -eq 65 ] && [[ "$msg" == *"$2"* ]] && [ ! -e "$HOME/RAN" ]; then pass "$3: $msg"; else fail "$3 (rc=$rc msg=$msg)"; fi
}
for off in 200 $((size / 2)) $((size - 150)) $((size - 40)) $((size - 5)); do
  cp jq.portico flip.portico
  python3 -c "import sys; f=open('flip.portico','r+b'); f.seek($off); b=f.read(1); f.seek($off); f.write(bytes([b[0]^1]))"
  case $off in $((size - 5))) want="trailer";; *) want="signature does not verify";; esac
  refused flip.portico "$want" "flipped byte at $off refused"
done
head -c $((size - 1000)) jq.portico > cut.portico; chmod +x cut.portico
refused cut.portico "truncated" "truncated package refused"
refused jq.portico "not in the trust list" "wrong key refused" --trust other.pem.pub
"$PACK" verify jq.portico --trust key.pem.pub >/dev/null && pass "right key accepted" || fail "right key refused"
rm -f "$HOME/RAN"; ./cut.portico -c 'touch $HOME/RAN' >/dev/null 2>&1; rc=$?
[ $rc -eq 65 ] && [ ! -e "$HOME/RAN" ] && pass "truncated package refuses to self-run" || fail "truncated self-run rc=$rc"
# Configured trust list (~/.config/portico/trusted-keys) applies to direct execution too.
mkdir -p "$HOME/.config/portico/trusted-keys" && cp other.pem.pub "$HOME/.config/portico/trusted-keys/"
msg=$(./jq.portico -n 1 2>&1); rc=$?
[ $rc -eq 65 ] && [[ "$msg" == *"not in the trust list"* ]] && pass "configured trust list enforced" || fail "trust list not enforced ($rc $msg)"
cp key.pem.pub "$HOME/.config/portico/trusted-keys/"
expect_eq "$(./jq.portico -n 1 2>&1)" "1" "trusted after adding the key"
rm -rf "$HOME/.config/portico"

# A host's launch (portico-pack-runtime --package): the host's own runtime and trust list, never
# the package's front, never the session user's own list. Each refusal: status 65, the reason, and
# nothing of the package ran (the payload would create $HOME/RAN).
mkdir -p trust-mine trust-other trust-empty && cp key.pem.pub trust-mine/ && cp other.pem.pub trust-other/
host_refused() {  # file, expected message, label, trust flags...
  rm -f "$HOME/RAN"
  msg=$("$RT" --package "$1" "${@:4}" --entry dash -- -c 'touch $HOME/RAN' 2>&1); rc=$?
  if [ $rc -eq 65 ] && [[ "$msg" == *"$2"* ]] && [ ! -e "$HOME/RAN" ]; then pass "host launch: $3: $msg"; else fail "host launch: $3 (rc=$rc msg=$msg)"; fi
}
host_refused jq.portico "no trusted publisher keys configured" "no trust list"
host_refused jq.portico "no trusted publisher keys configured" "empty trust list" --trust-dir trust-empty
host_refused jq.portico "not in the trust list" "untrusted publisher" --trust-dir trust-other
mkdir -p "$HOME/.config/portico/trusted-keys" && cp key.pem.pub "$HOME/.config/portico/trusted-keys/"
host_refused jq.portico "not in the trust list" "the user's own trust list is ignored" --trust-dir trust-other
rm -rf "$HOME/.config/portico"
cp jq.portico unsigned.portico && python3 -c "f=open('unsigned.portico','r+b'); f.seek(-160, 2); f.write(bytes(64))"
host_refused unsigned.portico "signature does not verify" "unsigned package" --trust-dir trust-mine
host_refused cut.portico "truncated" "truncated package" --trust-dir trust-mine
host_refused flip.portico "REFUSED" "modified package" --trust-dir trust-mine
out=$("$RT" --package jq.portico --trust-dir trust-mine --verify-only 2>&1)
[[ "$out" == "verified: jqtest "*"(trusted)" ]] && pass "host verify-only: $out" || fail "host verify-only ($out)"
out=$(echo '{"v":"host"}' | "$RT" --package jq.portico --trust-dir trust-mine -- -r .v 2>&1)
expect_eq "$out" "host" "host launch runs a trusted package"
# App arguments after -- are the app's, even ones that look like the runtime's.
out=$("$RT" --package jq.portico --trust-dir trust-mine --entry dash -- -c 'echo "$0"' --portico-trust=x 2>&1)
expect_eq "$out" "--portico-trust=x" "host launch passes app arguments verbatim"

# The chunk cache is verified on every reuse: a file of an extracted root changed between launches
# (by anything that ran as the user) is refused, removed, and extracted afresh at the next launch.
CACHE=$HOME/.cache/portico
"$RT" --package jq.portico --trust-dir trust-mine --entry dash -- -c true || fail "warm the cache"
ROOT=$(ls -d "$CACHE"/roots/jqtest-* | head -1)
DASH=$(readlink -f "$ROOT/bin/dash" 2>/dev/null); [[ "$DASH" == "$ROOT"/* ]] || DASH=$ROOT/usr/bin/dash
chmod u+w "$DASH" && printf '#!/bin/sh\ntouch $HOME/RAN\n' > "$DASH"
host_refused jq.portico "was modified after it was extracted" "tampered cached file" --trust-dir trust-mine
[ ! -e "$ROOT" ] && pass "tampered cached root removed" || fail "tampered cached root kept"
out=$("$RT" --package jq.portico --trust-dir trust-mine --entry dash -- -c 'echo fresh' 2>&1)
expect_eq "$out" "fresh" "next launch re-extracts from the package"
# A file added to the root (e.g. /etc/ld.so.preload, read by the package's loader) is refused too.
ROOT=$(ls -d "$CACHE"/roots/jqtest-* | head -1)
mkdir -p "$ROOT/etc" && echo /nonexistent.so > "$ROOT/etc/ld.so.preload"
host_refused jq.portico "not part of the package" "file added to the cached root" --trust-dir trust-mine
# A tampered chunk that is not linked into a root any more: replaced from the package on reuse.
"$RT" --package jq.portico --trust-dir trust-mine --entry dash -- -c true >/dev/null 2>&1
ROOT=$(ls -d "$CACHE"/roots/jqtest-* | head -1) && rm -rf "$ROOT"
CHUNK=$(ls "$CACHE"/chunks/ | head -1) && chmod u+w "$CACHE/chunks/$CHUNK" && echo evil >> "$CACHE/chunks/$CHUNK"
msg=$("$RT" --package jq.portico --trust-dir trust-mine -- -n '"after chunk tamper"' -r 2>&1)
[[ "$msg" == *"does not match its hash: replacing it"*"after chunk tamper" ]] && pass "tampered chunk replaced on reuse" \
  || fail "tampered chunk on reuse ($msg)"
[ "$(sha256sum < "$CACHE/chunks/$CHUNK" | cut -c1-64)" == "$CHUNK" ] && pass "replaced chunk matches its address" || fail "chunk not replaced"
# An unfinished root planted where the package's root goes is not adopted as it is.
ROOT=$(ls -d "$CACHE"/roots/jqtest-* | head -1) && rm -rf "$ROOT" && mkdir -p "$ROOT/etc" && echo planted > "$ROOT/etc/planted"
out=$("$RT" --package jq.portico --trust-dir trust-mine -- -n '"over a planted root"' -r 2>&1)
[ "$out" == "over a planted root" ] && [ ! -e "$ROOT/etc/planted" ] && [ -e "$ROOT/.portico-complete" ] \
  && pass "a planted unfinished root is replaced" || fail "planted root ($out)"

# Unprivileged: an ordinary user (nobody) gets the full sandbox through a user namespace.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  U=$W/nobody && mkdir -p "$U" && cp jq.portico "$U/" && chown -R 65534:65534 "$U" && chmod 755 "$W"
  out=$(cd "$U" && echo '{"x":7}' | setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=$U ./jq.portico .x 2>&1)
  expect_eq "$out" "7" "unprivileged user runs the package in full isolation"
  out=$(cd "$U" && setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=$U ./jq.portico --portico-entry=dash -c 'echo nb > $HOME/n.txt; read x < $HOME/n.txt; echo $x' 2>&1)
  expect_eq "$out" "nb" "unprivileged write in the sandbox"
  [ -f "$U/.local/share/portico/sandbox/jqtest/full/upper$U/n.txt" ] && [ ! -e "$U/n.txt" ] && pass "unprivileged write in sandbox only" || fail "unprivileged sandbox"
  # writecopy twice: the second launch moves the first one's overlay work dirs (mode 0, made by
  # the kernel) aside as the user, and they are removed.
  for i in 1 2; do
    out=$(cd "$U" && setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=$U ./jq.portico --portico-isolation=writecopy --portico-entry=dash -c 'echo wc$i >> $HOME/w.txt; cat $HOME/w.txt | wc -l' 2>&1)
    expect_eq "$out" "$i" "unprivileged writecopy launch $i"
  done
  T=$U/.local/share/portico/sandbox/jqtest/trash
  for i in $(seq 100); do [ -z "$(ls -A "$T" 2>/dev/null)" ] && break; sleep 0.1; done
  [ -d "$T" ] && [ -z "$(ls -A "$T")" ] && [ ! -e "$U/w.txt" ] && pass "unprivileged writecopy: stale work dirs removed, writes in the sandbox" \
    || fail "unprivileged writecopy: trash $(ls -A "$T" 2>&1 | head -3)"
else
  fail "cannot test as an unprivileged user (need root + setpriv to switch to nobody)"
fi

# An X11 application (xterm) from a package, full isolation, on a real Xvfb: it starts the
# packaged shell, whose write lands in the sandbox.
if command -v Xvfb >/dev/null; then
  "$PACK" build --entry /usr/bin/xterm --entry /bin/dash --name xtermtest --key key.pem \
    --add /etc/X11/app-defaults/XTerm --add /lib/terminfo/x/xterm -o xterm.portico >/dev/null 2>&1 || fail "build xterm"
  disp=$(( 90 + RANDOM % 400 ))
  Xvfb :$disp -screen 0 640x480x24 -nolisten tcp >/dev/null 2>&1 & xpid=$!
  for i in $(seq 50); do [ -e /tmp/.X11-unix/X$disp ] && break; sleep 0.1; done
  DISPLAY=:$disp timeout 20 ./xterm.portico -e /bin/dash -c 'echo from-xterm > $HOME/xt.txt' >/dev/null 2>&1
  rc=$?
  kill $xpid 2>/dev/null; wait $xpid 2>/dev/null
  XSB=$HOME/.local/share/portico/sandbox/xtermtest/full/upper$HOME/xt.txt
  [ $rc -eq 0 ] && [ "$(cat "$XSB" 2>/dev/null)" == "from-xterm" ] && [ ! -e "$HOME/xt.txt" ] \
    && pass "packaged xterm runs on Xvfb in full isolation" || fail "packaged xterm (rc=$rc)"
else
  fail "Xvfb not installed: cannot test the X11 package"
fi

# Setup capture: an installer run in a writecopy sandbox; the package holds exactly what it
# installed (plus the ELF closure from the host), the host is untouched, and the package runs.
if command -v cc >/dev/null; then
  mkdir -p cap && (cd cap &&
    echo 'const char* hello_text(void) { return "hello from a captured install"; }' > lib.c &&
    printf '#include <stdio.h>\nconst char* hello_text(void);\nint main(void) { puts(hello_text()); return 0; }\n' > main.c &&
    cc -shared -fPIC -o libportico-cap.so lib.c && cc -o portico-cap-$$ main.c -L. -lportico-cap) || fail "compile capture fixture"
  (cd cap && "$PACK" capture --name captest --key ../key.pem -o ../cap.portico -- sh -c \
    "install -D -m755 portico-cap-$$ /usr/local/bin/portico-cap-$$ && install -D -m644 libportico-cap.so /usr/local/lib/libportico-cap.so && mkdir -p /usr/local/share/portico-cap-$$ && echo data > /usr/local/share/portico-cap-$$/data.txt && echo cap > /var/log/portico-cap-$$.log" \
    >../capture.log 2>&1) || { cat capture.log; fail "capture"; }
  [ ! -e /usr/local/bin/portico-cap-$$ ] && [ ! -e /var/log/portico-cap-$$.log ] && pass "capture left the host untouched" || fail "capture wrote to the host"
  "$PACK" inspect cap.portico --files > cap.txt
  got=$(grep '^f ' cap.txt | awk '{print $3}' | grep '^usr/local' | sort | tr '\n' ' ')
  expect_eq "$got" "usr/local/bin/portico-cap-$$ usr/local/lib/libportico-cap.so usr/local/share/portico-cap-$$/data.txt " \
    "capture packaged exactly the installed files"
  grep -q "^excluded:  /var/log" capture.log && pass "installer log excluded" || fail "installer log not excluded"
  grep -q "^entry:     /usr/local/bin/portico-cap-$$" capture.log && pass "entry point chosen from the installed files" || fail "entry not chosen"
  expect_eq "$(./cap.portico 2>&1)" "hello from a captured install" "captured package runs (full isolation)"
  # An installer that deletes host files (one file, one directory) and creates others: the package
  # records the deletions and the runtime hides them in writecopy and merged; the host keeps them.
  V=/etc/portico-pack-victim-$$ && echo victim > $V && mkdir -p /opt/portico-pack-olddir-$$ && touch /opt/portico-pack-olddir-$$/f
  "$PACK" capture --name deltest --key key.pem --entry /bin/dash -o del.portico -- sh -c \
    "rm $V && rm -r /opt/portico-pack-olddir-$$ && echo new > /etc/portico-pack-new-$$" >del.log 2>&1 || { cat del.log; fail "capture with deletions"; }
  grep -q "^deleted:   $V" del.log && pass "capture reports the deleted file" || fail "capture did not report the deletion"
  "$PACK" inspect del.portico --files > del.txt
  grep -q "^w 0000 ${V#/} (deleted)" del.txt && grep -q "^w 0000 opt/portico-pack-olddir-$$ (deleted)" del.txt \
    && pass "inspect lists the deletions" || { cat del.txt; fail "inspect does not list the deletions"; }
  [ -f $V ] && [ -f /opt/portico-pack-olddir-$$/f ] && pass "capture did not delete the host files" || fail "capture deleted host files"
  for mode in writecopy merged; do
    out=$(./del.portico --portico-isolation=$mode -c "test -e $V && echo victim-visible; test -e /opt/portico-pack-olddir-$$ && echo dir-visible; test -e /etc/passwd && echo host-visible" 2>&1)
    expect_eq "$out" "host-visible" "$mode hides what the installer deleted, shows the rest of the host"
  done
  out=$(./del.portico --portico-isolation=writecopy -c "cat /etc/portico-pack-new-$$" 2>&1)
  expect_eq "$out" "new" "writecopy shows the file the installer created"
  [ "$(cat $V)" == victim ] && pass "host file untouched after the runs" || fail "host file changed"
  rm -rf $V /opt/portico-pack-olddir-$$
else
  fail "no C compiler: cannot test capture"
fi

echo "$fails failure(s)"
exit $((fails > 0))
