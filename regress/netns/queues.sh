#!/bin/bash
# pfd with several queues (-n 2): each packet goes to the queue of the CPU
# it came in on (--queue-balance with --queue-cpu-fanout), so the flows
# between one pair of hosts spread over the queues and their threads
# (--queue-balance alone hashed the addresses only: one queue for them
# all). Flows whose packets reach pfd by both queues keep one state each,
# translated alike. Ends with "N passed, N failed".
#
#   client 10.1.0.2 -- int0 10.1.0.1 [fw] ext0 10.2.0.1 -- 10.2.0.2 server

set -u
P=${P:-pfqs$$}
source "$(dirname "$0")/../lib/suite.sh"
netns_add cl fw srv
ipv4_only
line_up fw
route srv default 10.2.0.1
serve srv python3 -c '
import socket, tcpecho
l = socket.create_server(("0.0.0.0", 7400)); tcpecho.echo_forever(l)'
serve srv python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", 7401))
while True:
    d, a = s.recvfrom(100); s.sendto(d, a)'
wait_listen srv 7400
wait_listen srv 7401 udp

# CPUs the clients run on: two where there are two.
CPUS=(0 0)
[ "$(nproc)" -ge 2 ] && CPUS=(0 1)
want=$(printf '%s\n' "${CPUS[@]}" | sort -u | wc -l)

PFD_FLAGS="-n 2" check "pfd starts with two queues" pfd_start fw
check "pf enables" pfctl -q -e
load 'set skip on lo' 'block' 'match out on ext0 nat-to ext0' 'pass' 'pass in on int0 proto icmp'
hooks=$(in_fw fw iptables -t raw -S PFD_PRE)
check "the hooks spread by CPU over queues 7066 and 7067" grep -q -- "--queue-balance 7066:7067 .*--queue-cpu-fanout" <<<"$hooks"

# seq QUEUE: packets the kernel gave queue QUEUE so far (id_sequence).
queued() { in_ns fw awk -v q="$1" '$1 == q { print $8 }' /proc/net/netfilter/nfnetlink_queue; }
q0=$(queued 7066)
q1=$(queued 7067)

# conns CPU N: N TCP connections from a client on CPU, each echoing 1 KB;
# prints how many came back whole.
conns() {
	in_ns cl taskset -c "$1" python3 -c '
import socket, sys
ok = 0
for i in range(int(sys.argv[1])):
    s = socket.create_connection(("10.2.0.2", 7400), timeout=2)
    d = bytes([i % 256]) * 1024
    s.sendall(d)
    got = b""
    while len(got) < len(d):
        b = s.recv(4096)
        if not b:
            break
        got += b
    ok += got == d
    s.close()
print(ok)' "$2"
}
# udp CPU N BASE: N UDP flows from a client on CPU, from ports BASE on
# (each its own: an ephemeral port could come again and make two flows
# one); prints how many were answered.
udp() {
	in_ns cl taskset -c "$1" python3 -c '
import socket, sys
ok = 0
for i in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1)
    s.bind(("10.1.0.2", int(sys.argv[2]) + i))
    s.sendto(b"u%d" % i, ("10.2.0.2", 7401))
    try:
        ok += s.recv(100) == b"u%d" % i
    except OSError:
        pass
print(ok)' "$2" "$3"
}
t0=$(conns "${CPUS[0]}" 20)
t1=$(conns "${CPUS[1]}" 20)
u0=$(udp "${CPUS[0]}" 20 40000)
u1=$(udp "${CPUS[1]}" 20 40100)
check "TCP: 20 connections from CPU ${CPUS[0]} echoed ($t0)" test "$t0" = 20
check "TCP: 20 connections from CPU ${CPUS[1]} echoed ($t1)" test "$t1" = 20
check "UDP: 20 flows from CPU ${CPUS[0]} answered ($u0)" test "$u0" = 20
check "UDP: 20 flows from CPU ${CPUS[1]} answered ($u1)" test "$u1" = 20
d0=$(($(queued 7066) - q0))
d1=$(($(queued 7067) - q1))
echo "# packets queued: 7066 $d0, 7067 $d1"
used=$(((d0 > 0) + (d1 > 0)))
check "the flows between one pair of hosts used $want queue(s) ($used: $d0 and $d1 packets)" test "$used" -ge "$want"
states=$(pfctl -ss)
n=$(grep -cE "10\.2\.0\.1:[0-9]+ \(10\.1\.0\.2:[0-9]+\) -> 10\.2\.0\.2:740[01] " <<<"$states")
check "one translated state per flow ($n of 80)" test "$n" = 80
si=$(pfctl -vsi)
check "pfctl -vsi: 2 queues" grep -Eq "^  queues +2 " <<<"$si"
check "pfctl -vsi: how often a thread waited for the engine ($(awk '$1 == "engine" && $2 == "waits" { print $3 }' <<<"$si"))" grep -Eq "^  engine waits +[0-9]+ " <<<"$si"
check "the data path counted no drops (pfctl -si congestion)" bash -c '[ "$(pfctl -si | awk "\$1 == \"congestion\" { print \$2 }")" = 0 ]'
summary
