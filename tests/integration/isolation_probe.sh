#!/bin/sh
# Runs inside an app session as the session's user (test_isolation.py publishes it in an xterm).
# Tries to reach everything a session must not reach and writes one line per attempt to
# $HOME/isolation-probe.txt: "ALLOWED <what>" or "DENIED <what>", plus facts about itself.
#   $1  the host's state directory    $2  the broker's state directory
#   $3  the sessions' runtime base (the helper's --runtime-dir)   $4 $5  the helper's uid range
#   $6  the host's service account uid (its Xvfbs' sockets are this host's displays)
host_state=$1 broker_state=$2 runtime_base=$3 host_uid=$6
out=$HOME/isolation-probe.txt.part
: >"$out"
say() { echo "$*" >>"$out"; }
try_read() {  # try_read WHAT PATH: reading (or listing) it must fail
  if [ -d "$2" ]; then
    if ls "$2" >/dev/null 2>&1; then say "ALLOWED list $1 $2"; else say "DENIED list $1 $2"; fi
  elif cat "$2" >/dev/null 2>&1; then say "ALLOWED read $1 $2"; else say "DENIED read $1 $2"; fi
}
try_write() {
  if ( : >>"$2" ) 2>/dev/null; then say "ALLOWED write $1 $2"; else say "DENIED write $1 $2"; fi
}

say "ID uid=$(id -u) user=$(id -un) groups=$(id -G)"
say "ENV $(env | cut -d= -f1 | sort | tr '\n' ' ')"
# The other session must exist before the cross-session attempts mean anything.
for _ in $(seq 300); do
  [ "$(ls /tmp/.X11-unix 2>/dev/null | wc -l)" -ge 2 ] && [ "$(ls "$runtime_base" 2>/dev/null | wc -l)" -ge 2 ] && break
  sleep 0.1
done
say "SESSIONS $(ls "$runtime_base" | wc -l) DISPLAYS $(ls /tmp/.X11-unix | tr '\n' ' ')"

# Own display works (the positive control: a failing probe must not pass as "denied").
if xdpyinfo -display "$DISPLAY" >/dev/null 2>&1; then say "OWN-DISPLAY ok"; else say "OWN-DISPLAY failed"; fi

# Host and broker secrets, databases, keys, logs, every file below their state directories.
for dir in "$host_state" "$broker_state"; do
  try_read state "$dir"
  for f in "$dir"/* "$dir"/*/* "$dir"/*/*/*; do
    [ -e "$f" ] || continue
    try_read secret "$f"
  done
  try_write secret "$dir/portico.db"
done
# Guess the well-known names too (the listing above may be denied).
for f in broker-client.key display-key.pem ticket.key portico.db tls/broker.key ca/ca.key enrollment-secret \
         sessions; do
  try_read guessed "$host_state/$f"
  try_read guessed "$broker_state/$f"
done

# Other sessions: their runtime directories and X authority, and their X displays.
for d in "$runtime_base"/*; do
  [ "$d" = "$XDG_RUNTIME_DIR" ] && continue
  try_read other-session "$d"
  try_read other-xauthority "$d/Xauthority"
done
for sock in /tmp/.X11-unix/X*; do
  n=":${sock##*/X}"
  [ "$n" = "$DISPLAY" ] && continue
  # Only this host's displays: other X servers on the machine (a benchmark's, another test's)
  # are not Portico's to protect.
  if [ "$(stat -c %u "$sock")" != "$host_uid" ]; then say "NOT-THIS-HOST x-display $n"; continue; fi
  if xdpyinfo -display "$n" >/dev/null 2>&1; then say "ALLOWED x-connect $n"; else say "DENIED x-connect $n"; fi
  for d in "$runtime_base"/*; do
    [ "$d" = "$XDG_RUNTIME_DIR" ] && continue
    if XAUTHORITY="$d/Xauthority" xdpyinfo -display "$n" >/dev/null 2>&1; then
      say "ALLOWED x-connect-with-their-cookie $n"; else say "DENIED x-connect-with-their-cookie $n"; fi
  done
done
# Other users' homes, and the host's process (its environment and open files).
getent passwd | awk -F: -v lo="$4" -v hi="$5" '$3 >= lo && $3 <= hi {print $6}' | while read -r h; do
  [ "$h" = "$HOME" ] && continue
  try_read other-home "$h"
done
for pid in $(pgrep -x portico-host); do
  try_read host-environ "/proc/$pid/environ"
  if ls "/proc/$pid/fd" >/dev/null 2>&1; then say "ALLOWED list host-fds /proc/$pid/fd"; else say "DENIED list host-fds /proc/$pid/fd"; fi
done
say "DONE"
mv "$out" "$HOME/isolation-probe.txt"
