#!/bin/bash
# The control socket under attack, in a network namespace: pfd's limits
# (request size, deadlines, connections per uid) answer with clear
# errors; 10,000 hostile connections from an unprivileged member of the
# socket's group (idle, claiming 16 MiB, dribbling a large frame, connecting
# and closing) leave pfd under 64 MiB RSS with a bounded number of threads
# while root's `pfctl -si` is answered in 100 ms or less throughout and root's
# `pfctl -f` and `-T add -f` of a million addresses load. Prints the
# measured figures as "# ..." lines. Ends with "N passed, N failed".
#
#   fw: pfd -G 65534, the flood (uid 65534), the samplers

set -u
P=${P:-pfcf$$}
source "$(dirname "$0")/../lib/suite.sh"
FLOOD_CONNS=${FLOOD_CONNS:-10000}
FLOOD_SECS=${FLOOD_SECS:-15}
netns_add fw
ipv4_only

PFD_FLAGS="-G 65534"
check "pfd starts (read-only group 65534)" pfd_start fw
PID=$(daemon_pid fw pfd)
SOCK="$RUN/fw.sock"
# nobody (65534) floods; 65533 is another member of the group (primary gid).
as_nobody() { in_ns fw setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
# The system python: an unprivileged user may not reach root's.
PY3=/usr/bin/python3
as_other() { in_ns fw setpriv --reuid=65533 --regid=65534 --clear-groups "$@"; }
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$PID/status"; }
# pfd's CPU time so far (user + system), in clock ticks.
cpu() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; }

check "pf enables" pfctl -q -e
load 'set limit table-entries 2000000' 'pass all'
check "a member of the group reads (-si)" as_other env PF_SOCKET="$SOCK" "$BIN/pfctl" -si

# --- the limits, one at a time ------------------------------------------------
r=$(as_nobody "$PY3" - "$SOCK" <<'PY'
import socket, struct, sys
from ctlflood import error_message
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(5)
s.sendall(struct.pack("!2sHI", b"PF", 1, 16 << 20))
print(error_message(s.recv(4096)))
PY
)
check "a 16 MiB frame claim is refused at once ($r)" test "$r" = "control frame of 16777216 bytes exceeds the limit of 4194304"
# Root's connection may stay idle (pfsyncd and netstart keep theirs).
in_fw fw python3 - "$SOCK" >"$RUN/rootidle.out" 2>&1 <<'PY' &
import socket, struct, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(5)
time.sleep(7)
s.sendall(struct.pack("!2sHI", b"PF", 1, 1) + bytes([17]))
print("answered" if len(s.recv(8)) == 8 else "closed")
PY
ROOTIDLE=$!
r=$(as_nobody "$PY3" - "$SOCK" <<'PY'
import socket, sys, time
from ctlflood import error_message
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(20)
t = time.monotonic(); d = s.recv(4096)
print("%.0f %s" % (time.monotonic() - t, error_message(d)))
PY
)
check "an idle connection is closed after 5 s ($r)" grep -Eqx '[56] control connection closed: no complete request in 5 s' <<<"$r"
r=$(as_nobody "$PY3" - "$SOCK" <<'PY'
import socket, struct, sys, time
from ctlflood import error_message
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(0.5)
t = time.monotonic(); s.send(struct.pack("!2sHI", b"PF", 1, 100000))
d = b""
while not d and time.monotonic() - t < 20:
    try:
        s.send(b"\0" * 10)
        d = s.recv(4096)
    except socket.timeout:
        pass
print("%.0f %s" % (time.monotonic() - t, error_message(d)))
PY
)
check "a frame sent too slowly is closed after 5 s ($r)" grep -Eqx '[56] control connection closed: no complete request in 5 s' <<<"$r"
wait "$ROOTIDLE"
check "root's connection idle for 7 s is still answered ($(cat "$RUN/rootidle.out"))" test "$(cat "$RUN/rootidle.out")" = answered
r=$(as_nobody "$PY3" - "$SOCK" "$BIN/pfctl" <<'PY'
import os, socket, subprocess, sys
held = [socket.socket(socket.AF_UNIX) for _ in range(32)]
for s in held:
    s.connect(sys.argv[1])
env = dict(os.environ, PF_SOCKET=sys.argv[1])
r = subprocess.run([sys.argv[2], "-si"], env=env, capture_output=True, text=True)
print(r.stderr.strip())
PY
)
check "the 33rd connection of a uid is refused, with the reason ($r)" test "$r" = "pfctl: too many control connections of uid 65534 (limit 32)"

# --- a million table entries travel in frames under the limit -----------------
python3 -c 'for i in range(1000000): print("10.%d.%d.%d" % (i >> 16, (i >> 8) & 255, i & 255))' >"$RUN/million.txt"
t0=$(date +%s.%N)
r=$(pfctl -t million -T add -f "$RUN/million.txt" 2>&1)
t1=$(date +%s.%N)
echo "# -T add -f of 1,000,000 addresses: $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s, pfd RSS $(rss) kB"
check "-T add -f of 1,000,000 addresses ($r)" test "$r" = "1 table created.
1000000/1000000 addresses added."
check "-T show lists them all" test "$(pfctl -t million -T show | wc -l)" -eq 1000000
pfctl -q -t million -T kill
# The flood's memory is measured from pfd's RSS once the million
# addresses are freed (large blocks are unmapped at once: sys::heap::tune;
# the rest goes back with the malloc_trim every 10 s).
for i in $(seq 30); do [ "$(rss)" -lt 40000 ] && break; sleep 0.5; done

# --- the flood ------------------------------------------------------------------
{
	echo 'set limit table-entries 2000000'
	echo "table <big> file \"$RUN/big.txt\""
	for i in $(seq 1000); do echo "pass in proto tcp to port $i label \"rule$i\""; done
	echo 'block in from <big>'
} >"$RUN/big.conf"
head -100000 "$RUN/million.txt" >"$RUN/big.txt"
fds() { ls "/proc/$PID/fd" | wc -l; }
FD0=$(fds)
echo "# before the flood: pfd RSS $(rss) kB, $(awk '/^Threads:/ { print $2 }' "/proc/$PID/status") threads, $FD0 descriptors"
# The same sampling without the flood: how loaded the machine is anyway.
in_fw fw nice -n -10 python3 "$LIB/ctlflood.py" sample "$PID" 8 0.1 "$BIN/pfctl" -si 2>&1 | grep -v '^slow=' >"$RUN/baseline.out"
sed 's/^/# without the flood: /' "$RUN/baseline.out"
cpu0=$(cpu)
as_nobody "$PY3" "$LIB/ctlflood.py" flood "$SOCK" "$FLOOD_CONNS" "$FLOOD_SECS" >"$RUN/flood.out" 2>&1 &
FLOOD=$!
sleep 3
in_fw fw nice -n -10 python3 "$LIB/ctlflood.py" sample "$PID" $((FLOOD_SECS - 5)) 0.1 "$BIN/pfctl" -si >"$RUN/sample.out" 2>&1 &
SAMPLE=$!
sleep 2
t0=$(date +%s.%N)
check "pfctl -f of 1001 rules and a 100,000-address table loads during the flood" pfctl -f "$RUN/big.conf"
t1=$(date +%s.%N)
echo "# pfctl -f during the flood: $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s (from $t0 to $t1)"
check "-sr shows the 1001 rules" test "$(pfctl -sr | wc -l)" -eq 1001
check "-ss answers during the flood" pfctl -ss
check "another member of the group reads during the flood" as_other env PF_SOCKET="$SOCK" "$BIN/pfctl" -si
wait "$SAMPLE"
wait "$FLOOD"
echo "# pfd's CPU time during the ${FLOOD_SECS} s flood: $(( ($(cpu) - cpu0) * 1000 / $(getconf CLK_TCK) )) ms"
sed 's/^/# sample: /' "$RUN/sample.out"
sed 's/^/# flood: /' "$RUN/flood.out"
val() { awk -F= -v k="$1" '$1 == k { print $2; exit }' "$2"; }
made=$(val made "$RUN/flood.out")
check "the flood made at least $FLOOD_CONNS connections ($made)" test "${made:-0}" -ge "$FLOOD_CONNS"
check "the flood met the connection limit" grep -q 'message=[0-9]* too many control connections of uid 65534' "$RUN/flood.out"
check "the flood met the size limit" grep -q 'message=[0-9]* control frame of 16777216 bytes exceeds' "$RUN/flood.out"
check "the flood met the deadline or the byte budget" grep -Eq 'message=[0-9]* (control connection closed|too many request bytes)' "$RUN/flood.out"
runs=$(val runs "$RUN/sample.out")
check "pfctl -si sampled throughout the flood ($runs runs)" test "${runs:-0}" -ge 20
check "pfctl -si never failed during the flood" test "$(val failed "$RUN/sample.out")" = 0
# pfd's answer (a status request on a new connection, timed by the
# sampler) must come within 100 ms every time, and `pfctl -si` as a whole
# (which adds the start of a process, slowed by the flood's own CPU use
# on a 2-CPU machine) within 100 ms in half of its runs, its 95th
# percentile and slowest printed. The sampler runs at nice -10, as an administrator's
# shell would not compete with the flood; pfd runs at 0. On a machine
# loaded by others, the same sampling without the flood shows how much
# the machine delays on its own (its slowest pfctl -si): if over 50 ms,
# the bound is twice that instead of 100 ms, and the check says so.
within() { awk -v m="${1:-999}" -v b="$2" 'BEGIN { exit !(m <= b) }'; }
b=$(awk -v b="$(val max_ms "$RUN/baseline.out")" 'BEGIN { b *= 2; print (b > 100 ? b : 100) }')
rttmax=$(val rtt_max_ms "$RUN/sample.out")
check "pfd answered -si's request in <= $b ms throughout (max $rttmax ms)" within "$rttmax" "$b"
med=$(val median_ms "$RUN/sample.out")
check "pfctl -si answered in <= $b ms (median $med ms, 95% of runs: $(val p95_ms "$RUN/sample.out") ms, slowest $(val max_ms "$RUN/sample.out") ms)" within "$med" "$b"
maxrss=$(val max_rss_kb "$RUN/sample.out")
check "pfd stayed under 64 MiB RSS (max $maxrss kB)" test "${maxrss:-999999}" -lt 65536
check "pfd's threads stayed bounded ($(val max_threads "$RUN/sample.out"))" test "$(val max_threads "$RUN/sample.out")" -le 16
sleep 6
# Compared with pfd's own count before the flood (its sockets, timers and
# files vary with its features), not with a fixed number.
check "after the flood, pfd holds no connection of it ($(fds) descriptors, $FD0 before the flood; 2 spare)" test "$(fds)" -le $((FD0 + 2))
check "pfctl -si answers after the flood" pfctl -si
summary
