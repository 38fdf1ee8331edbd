#!/bin/bash
# pfd's fast path for established flows (bpf/fastpath.c): once pf passed
# a flow both ways and its state is established, the kernel passes its
# packets on its own, with nat-to and rdr-to rewritten there, while pf's
# state table stays the truth: counters (pfctl -vss) and expiry follow
# the kernel's, `pfctl -k` ends the offloaded flow, and pfsync carries
# its window so the backup takes it over. Ends with "N passed, N failed".
#
#   client 10.1.0.2 -- int0 10.1.0.1 [fw] ext0 10.2.0.1 -- 10.2.0.2 server
#                                        (rdr: 10.2.0.1:8000 -> 10.2.0.2:7100)

set -u
P=${P:-pffp$$}
source "$(dirname "$0")/../lib/suite.sh"
BULK="python3 $LIB/bulk.py"
SIZE=$((16 << 20))
netns_add cl fw srv
no_ra
line_up fw inet6
route srv default 10.2.0.1
route srv default 2001:db8:2::1

serve srv $BULK serve 7100
serve srv python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", 7300))
while True:
    d, a = s.recvfrom(100); s.sendto(d, a)'
# talk HOST PORT SECONDS [PATIENCE]: one TCP connection echoing a line
# every 0.1 s; prints "ok N" at the end, or "stopped N" at the first echo
# missing for PATIENCE seconds, default 1 (N: echoes that came back).
write_talk() {
cat >"$RUN/talk.py" <<'PY'
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2)
s.settimeout(float(sys.argv[4]) if len(sys.argv) > 4 else 1)
n, end = 0, time.time() + float(sys.argv[3])
while time.time() < end:
    try:
        s.sendall(b"ping\n")
        if s.recv(10) != b"ping\n":
            break
        n += 1
    except OSError:
        print("stopped", n, flush=True)
        sys.exit(0)
    time.sleep(0.1)
print("ok", n, flush=True)
PY
}
write_talk
echo_server() {
	serve srv python3 -c '
import socket, tcpecho
l = socket.create_server(("0.0.0.0", 7200)); tcpecho.echo_forever(l)'
}
# udp_burst N: N questions on one UDP socket, the answers counted.
udp_burst() {
	in_ns cl timeout 10 python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1)
s.connect(("10.2.0.2", 7300)); n = 0
for i in range(int(sys.argv[1])):
    s.send(b"q%d" % i)
    try:
        s.recv(100); n += 1
    except OSError: pass
print(n)' "$1"
}
echo_server
wait_listen srv 7200

check "pfd starts" pfd_start fw
check "pf enables" pfctl -q -e
check "pfctl -vsi shows the fast path" bash -c 'pfctl -vsi | grep -q "^Fast Path"'
fp() { counter "$1"; }
# Who forwards offloaded flows (pfctl -vsi): the program or the stack.
forwarder() { pfctl -vsi | awk '$1 == "forwarding" && $2 == "by" { print $3 }'; }
# The program forwards once pfd found nothing else on the forward path
# (daemon::fastforward, within a few seconds of pf being enabled).
for i in $(seq 50); do [ "$(forwarder)" = program ] && break; sleep 0.1; done
check "pfctl -vsi: forwarding by the program ($(forwarder))" test "$(forwarder)" = program

# An established TCP flow: the kernel passes its bulk, pfd's queue sees a
# handful of packets of it.
load "block" "pass proto tcp to port 7100"
q0=$(fp "queued to pfd") k0=$(fp "passed in kernel") w0=$(fp "left to pfd: window")
f0=$(fp "forwarded by the program") m0=$(fp state-mismatch)
out=$(in_ns cl timeout 60 $BULK up 10.2.0.2 7100 "$SIZE")
q=$(($(fp "queued to pfd") - q0)) k=$(($(fp "passed in kernel") - k0)) w=$(($(fp "left to pfd: window") - w0))
f=$(($(fp "forwarded by the program") - f0)) m=$(($(fp state-mismatch) - m0))
check "16 MB up arrive intact ($out)" test "$out" = "ok 10.1.0.2"
# The server's ACKs reach pfd until their own direction is offered: pf
# judges them by the window the program moved on, not by its last pull.
check "pf dropped none of them as a state mismatch ($m)" test "$m" = 0
check "the kernel passed them ($k packets), pfd's queue got $q ($w out of the window)" test "$k" -gt 100 -a "$q" -lt "$((k / 10))"
check "the program forwarded them itself at TC ingress ($f of $k, $(fp "forwarded by the stack") left to the stack)" test "$f" -gt 100 -a "$f" -ge "$((k * 9 / 10))"
b=$(pfctl -vss | awk '/:7100 / { s = 1; next } s && /bytes/ { for (i = 1; i <= NF; i++) if ($i == "bytes,") { split($(i-1), a, ":"); print a[1]; exit } }')
check "pfctl -vss counts the kernel's bytes ($b bytes out of the client)" test "${b:-0}" -gt "$SIZE"
out=$(in_ns cl timeout 60 $BULK down 10.2.0.2 7100 "$SIZE")
check "16 MB down arrive intact ($out)" test "$out" = ok

# IPv6: forwarded by the program too (neighbour discovery passed).
load "block" "pass proto tcp to port 7100" "pass inet6 proto icmp6"
f0=$(fp "forwarded by the program")
out=$(in_ns cl timeout 60 $BULK up 2001:db8:2::2 7100 "$SIZE")
f=$(($(fp "forwarded by the program") - f0))
check "IPv6: 16 MB up arrive intact ($out), $f packets forwarded by the program" test "$out" = "ok 2001:db8:1::2" -a "$f" -gt 100
out=$(in_ns cl timeout 60 $BULK down 2001:db8:2::2 7100 "$SIZE")
check "IPv6: 16 MB down arrive intact ($out)" test "$out" = ok

# nat-to: the source rewritten at egress, the replies at ingress.
load "block" "pass proto tcp to port 7100" "match out on ext0 nat-to (ext0)"
pfctl -q -F states
e0=$(fp "rewritten at egress") k0=$(fp "passed in kernel") f0=$(fp "forwarded by the program")
out=$(in_ns cl timeout 60 $BULK up 10.2.0.2 7100 "$SIZE")
e=$(($(fp "rewritten at egress") - e0)) k=$(($(fp "passed in kernel") - k0)) f=$(($(fp "forwarded by the program") - f0))
check "nat-to: 16 MB arrive intact from the translated address ($out)" test "$out" = "ok 10.2.0.1"
check "nat-to: rewritten in the kernel ($e at egress, $k passed)" test "$e" -gt 100 -a "$k" -gt 100
check "nat-to: forwarded by the program ($f packets), rewritten at egress all the same (the source above)" test "$f" -gt 100
out=$(in_ns cl timeout 60 $BULK down 10.2.0.2 7100 "$SIZE")
check "nat-to: 16 MB down arrive intact ($out)" test "$out" = ok

# rdr-to: the destination rewritten at ingress, the replies' source at
# egress.
load "block" "pass in on int0 proto tcp to 10.2.0.1 port 8000 rdr-to 10.2.0.2 port 7100" "pass out on ext0 proto tcp to port 7100"
pfctl -q -F states
e0=$(fp "rewritten at egress") k0=$(fp "passed in kernel")
out=$(in_ns cl timeout 60 $BULK down 10.2.0.1 8000 "$SIZE")
e=$(($(fp "rewritten at egress") - e0)) k=$(($(fp "passed in kernel") - k0))
check "rdr-to: 16 MB down arrive intact ($out)" test "$out" = ok
check "rdr-to: rewritten in the kernel ($e replies at egress, $k passed)" test "$e" -gt 100 -a "$k" -gt 10

# TTL and hop limit: forwarded by the program or not, a packet leaves
# with them one down (the server answers with what it got; the client
# sends 64).
serve srv python3 -c '
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.bind(("::", 7301))
s.setsockopt(socket.IPPROTO_IP, 12, 1)  # IP_RECVTTL
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
while True:
    d, anc, _, a = s.recvmsg(100, 64)
    s.sendto(b"%d" % anc[0][2][0], a)'
# Bound before the first datagram (else a port unreachable: one "lost").
wait_listen srv 7301 udp
load "block" "pass proto udp to port 7301" "pass inet6 proto icmp6"
# ttls ADDRESS: the TTLs 40 datagrams to the server arrived with.
ttls() {
	in_ns cl timeout 10 python3 -c '
import socket, sys
a = sys.argv[1]; v6 = ":" in a
s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1)
if v6: s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 64)
else: s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 64)
s.connect((a, 7301)); out = set()
for i in range(40):
    s.send(b"q")
    try: out.add(s.recv(10).decode())
    except OSError: out.add("lost")
print(" ".join(sorted(out)))' "$1"
}
for a in 10.2.0.2 2001:db8:2::2; do
	f0=$(fp "forwarded by the program")
	t=$(ttls $a)
	f=$(($(fp "forwarded by the program") - f0))
	check "TTL to $a: 40 datagrams arrive with 63 ($t), $f forwarded by the program" test "$t" = 63 -a "$f" -gt 10
done

# A netfilter rule of the system's own on the forward path: the program
# leaves the offloaded flow to the IP stack, where the rule sees it, and
# forwards it again once the rule is gone.
# per_s FIELD: how much a fast path figure of pfctl -vsi grows in 1 s.
per_s() { local a; a=$(fp "$1"); sleep 1; echo $(($(fp "$1") - a)); }
fwd() { per_s "forwarded by the program"; }
load "block" "pass proto tcp to port 7200"
pfctl -q -F states
in_ns cl python3 "$RUN/talk.py" 10.2.0.2 7200 9 >"$RUN/talk.out" 2>&1 &
sleep 2
f=$(fwd)
check "a talking connection is forwarded by the program ($f packets in 1 s)" test "$f" -gt 5
printf '%s\n' 'table inet fpx {' 'chain through {' 'type filter hook forward priority 0; policy accept;' 'tcp dport 7200 counter' '}' '}' >"$RUN/fpx.nft"
in_ns fw nft -f "$RUN/fpx.nft"
sleep 0.5
f=$(fwd)
c=$(in_ns fw nft list table inet fpx | awk '/counter/ { for (i = 1; i < NF; i++) if ($i == "packets") print $(i + 1) }')
check "a forward rule of the system's own: the stack forwards the flow ($f by the program, the rule counted ${c:-0})" test "$f" = 0 -a "${c:-0}" -gt 5
check "pfctl -vsi: forwarding by the stack ($(forwarder))" test "$(forwarder)" = stack
in_ns fw nft delete table inet fpx
sleep 0.5
f=$(fwd)
check "the rule gone: the program forwards it again ($f packets in 1 s)" test "$f" -gt 5
wait
check "the connection carried on throughout ($(cat "$RUN/talk.out"))" grep -q "^ok" "$RUN/talk.out"

# A route change reaches the program at once: its cached route lookups go
# with the route generation pfd moves on when the kernel tells. A
# blackhole route for the server: the program leaves the client's packets
# to the stack (which drops them); the route gone, it forwards them again
# and the connection carries on.
in_ns cl python3 "$RUN/talk.py" 10.2.0.2 7200 10 6 >"$RUN/talk.out" 2>&1 &
sleep 2
f=$(fwd)
check "route change: the program forwards a talking connection ($f packets in 1 s)" test "$f" -gt 5
in_ns fw ip route add blackhole 10.2.0.2/32
s=$(per_s "forwarded by the stack")
check "route change: a blackhole route for the server, the program leaves the client's packets to the stack ($s in 1 s)" test "$s" -gt 0
in_ns fw ip route del blackhole 10.2.0.2/32
sleep 2.5
f=$(fwd)
check "route change: the route gone, the program forwards the connection again ($f packets in 1 s)" test "$f" -gt 5
wait
check "route change: the connection carried on ($(cat "$RUN/talk.out"))" grep -q "^ok" "$RUN/talk.out"

# pfctl -k: the offloaded flow stops when the ruleset blocks it.
load "block" "pass proto tcp to port 7200"
in_ns cl python3 "$RUN/talk.py" 10.2.0.2 7200 8 >"$RUN/talk.out" 2>&1 &
sleep 2
k0=$(fp "passed in kernel")
sleep 1
k=$(($(fp "passed in kernel") - k0))
check "a talking connection is offloaded ($k packets in the kernel in 1 s, $(fp flows) flows)" test "$k" -gt 5
load "block"
sleep 0.5
check "a new ruleset leaves it running (its state stays)" bash -c "! grep -q stopped $RUN/talk.out"
pfctl -q -k 10.1.0.2
wait
check "pfctl -k ends it: the kernel does not pass it ($(cat "$RUN/talk.out"))" grep -q "^stopped" "$RUN/talk.out"
check "pfctl -k: no flow left in the kernel ($(fp flows))" test "$(fp flows)" = 0

# Expiry: the kernel's last-seen time keeps a UDP state alive; once the
# flow is quiet the state expires and leaves the kernel's map.
load "set timeout { udp.first 3, udp.single 3, udp.multiple 3 }" "pass proto udp to port 7300"
pfctl -q -F states
k0=$(fp "passed in kernel")
n=$(udp_burst 40)
k=$(($(fp "passed in kernel") - k0))
check "UDP: 40 answers ($n), the kernel passed $k packets" test "$n" = 40 -a "$k" -gt 20
for i in 1 2 3 4; do udp_burst 5 >/dev/null; sleep 1; done
check "UDP: a state the kernel kept busy 4 s outlives its 3 s timeout" bash -c 'pfctl -ss | grep -q ":7300 "'
check "UDP: its flow is in the kernel ($(fp flows))" test "$(fp flows)" -ge 1
sleep 5
check "UDP: quiet, the state expires" bash -c '! pfctl -ss | grep -q ":7300 "'
check "UDP: and its flow left the kernel ($(fp flows) flows, $(fp "map entries") entries)" test "$(fp flows)" = 0 -a "$(fp "map entries")" = 0

# pfsync failover: the seed article's HA pair (topo_up), a connection
# offloaded on fw1, fw1 crashes, fw2 carries it on with the state pfsync
# gave it.
netns_down
NETNS=()
mkdir -p "$RUN"
write_talk
topo_up
PFD_FLAGS="-P" fw_start fw1
sleep 1
PFD_FLAGS="-P" fw_start fw2
check "failover: fw1 is MASTER" wait_carp fw1 carp1 MASTER 15
check "failover: fw2 is BACKUP" wait_carp fw2 carp2 BACKUP 15
echo_server
wait_listen srv 7200

# A fast stream (pfcore::fastpath::FAST_BYTES_PER_S, 64 MB/s) is pulled
# four times a second and its pfsync update goes out at once: fw2's copy
# of the window follows every ~250 ms, not once a second (a stream over
# 17 Gbit/s would move it more than 2 GB between two updates, which the
# peer takes for a step back). fw2's state is sampled every 0.1 s; the
# gaps between its changes, the first and the last left out (before the
# flow is known fast, and its end), stay under 0.7 s.
serve srv $BULK serve 7100
wait_listen srv 7100
FW=fw1
for i in $(seq 50); do [ "$(forwarder)" = program ] && break; sleep 0.1; done
stale() { in_fw fw2 "$BIN/carpctl" -s pfsync0 | awk '/stale state/ { print $1; exit }'; }
stale0=$(stale)
t0=$(date +%s%N)
in_ns cl $BULK down 192.0.2.20 7100 $((2 << 30)) >"$RUN/fast.out" 2>&1 &
bulk=$!
FW=fw2
: >"$RUN/fast.samples"
while kill -0 $bulk 2>/dev/null; do
	w=$(pfctl -vvss | grep -A3 "192.0.2.20:7100" | grep "\[" | tr -d '\n')
	echo "$(date +%s%3N) $w" >>"$RUN/fast.samples"
	sleep 0.1
done
wait $bulk
ms=$((($(date +%s%N) - t0) / 1000000))
gaps=$(awk '{ t = $1; $1 = ""; if ($0 != prev) { if (pt) printf "%d ", t - pt; pt = t; prev = $0 } }' "$RUN/fast.samples")
inner=$(echo "$gaps" | awk '{ for (i = 2; i < NF; i++) print $i }')
maxgap=$(echo "$inner" | sort -n | tail -1)
echo "# fast stream: 2 GB in $ms ms; fw2's window changed after (ms): $gaps"
check "fast stream: the transfer is whole ($(cat "$RUN/fast.out"))" grep -q "^ok" "$RUN/fast.out"
check "fast stream: fw2's window changed 4 times or more ($(echo "$inner" | grep -c .) inner gaps)" test "$(echo "$inner" | grep -c .)" -ge 4
check "fast stream: fw2's window follows within 0.7 s (${maxgap:-none} ms)" test "${maxgap:-99999}" -le 700
check "fast stream: no update fw2 took for stale ($stale0 -> $(stale))" test "$(stale)" = "$stale0"

in_ns cl python3 "$RUN/talk.py" 192.0.2.20 7200 14 8 >"$RUN/talk.out" 2>&1 &
sleep 3
FW=fw1
k=$(fp "passed in kernel")
check "failover: the connection is offloaded on fw1 ($(fp flows) flows, $k packets in the kernel)" test "$(fp flows)" -ge 1 -a "$k" -gt 10
check "failover: the program forwards it itself, carp interfaces or not ($(fp "forwarded by the program") packets)" test "$(fp "forwarded by the program")" -gt 10
FW=fw2
check "failover: fw2 has its state" bash -c 'pfctl -ss | grep -q "192.0.2.20:7200"'
fw_stop fw1 KILL
fw_links fw1 down
wait
check "failover: fw2 took over" wait_carp fw2 carp2 MASTER 5
check "failover: the connection carried on through fw2 ($(cat "$RUN/talk.out"))" grep -q "^ok" "$RUN/talk.out"
check "failover: fw2 offloads it in turn ($(fp flows) flows)" test "$(fp "passed in kernel")" -gt 10
check "failover: and forwards it itself ($(fp "forwarded by the program") packets)" test "$(fp "forwarded by the program")" -gt 10

summary
