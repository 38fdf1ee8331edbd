#!/bin/bash
# CARP load balancing of IPv6 addresses (carpbalance.sh's active/active
# pair, IPv6 on the data networks): carp1 2001:db8::1 `carpnodes 1:0,2:100`
# (fw1) and `1:100,2:0` (fw2) outside, carp2 2001:db8:1::1 `3:0,4:100` /
# `3:100,4:0` inside, balancing ip. pfd answers neighbour solicitations
# for the virtual addresses on the leader's MASTER only, with the
# multicast virtual MAC from the carpdev's own MAC, and announces it on
# takeover; both firewalls forward their share of the clients' flows (the
# hash over the IPv6 addresses), none twice; pfsync copies each one's
# states to the other; one shuts down, the other takes every flow over,
# TCP connections included. Then ip-stealth: the bridge never learns a
# virtual MAC (no NA, NS or MLD leaves from one), and the host taking the
# leader over announces the address. balancing arp with an IPv6 address
# is refused. Ends with "N passed, N failed".
#
#   c1..c4 2001:db8::11-14 --[br-out]-- eth0 fw1 ::2 / fw2 ::3 (carp1 ::1)
#   srv 2001:db8:1::100    --[br-in]--- eth1 fw1 :1::2 / fw2 :1::3 (carp2 :1::1)
#                                       sync0 fw1 10.9.0.1 <-> fw2 10.9.0.2

set -u
P=${P:-pfb6$$}
source "$(dirname "$0")/../lib/suite.sh"
source "$LIB/tshark.sh"

CLIENTS="1 2 3 4"
MMAC=01:00:5e:00:01:01
netns_add c1 c2 c3 c4 fw1 fw2 srv sw
no_ra
for b in br-out br-in; do
	# No multicast snooping: frames to the multicast virtual MAC and to
	# the solicited-node groups are flooded.
	in_ns sw ip link add $b type bridge mcast_snooping 0
	in_ns sw ip link set $b up
done
for i in $CLIENTS; do
	veth c$i eth0 sw c${i}p
	in_ns sw ip link set c${i}p master br-out up
	addr c$i eth0 2001:db8::1$i/64
	route c$i default 2001:db8::1
done
veth srv eth0 sw sp
in_ns sw ip link set sp master br-in up
addr srv eth0 2001:db8:1::100/64
route srv default 2001:db8:1::1
for n in 1 2; do
	veth fw$n eth0 sw f${n}o
	veth fw$n eth1 sw f${n}i
	in_ns sw ip link set f${n}o master br-out up
	in_ns sw ip link set f${n}i master br-in up
	addr fw$n eth0 2001:db8::$((n + 1))/64
	addr fw$n eth1 2001:db8:1::$((n + 1))/64
	forwarding fw$n
done
veth fw1 sync0 fw2 sync0
addr fw1 sync0 10.9.0.1/24
addr fw2 sync0 10.9.0.2/24
printf 'set skip on lo\npass\n' >"$RUN/pf.conf"
serve srv env PYTHONPATH="$LIB" python3 -c '
import socket, tcpecho
l = socket.create_server(("::", 7200), family=socket.AF_INET6); tcpecho.echo_forever(l)'
cat >"$RUN/talk.py" <<'PY'
import socket, sys, time
s = socket.create_connection(("2001:db8:1::100", 7200), timeout=5)
end = time.time() + float(sys.argv[1])
sent = echoed = 0
try:
    while time.time() < end:
        s.sendall(b"x"); sent += 1
        if s.recv(1) == b"x":
            echoed += 1
        time.sleep(0.05)
except OSError as e:
    print("error", e)
print("echoed", echoed, "of", sent, flush=True)
sys.exit(0 if sent > 0 and echoed == sent else 1)
PY

BAL_PING="ping -6" BAL_SERVER=2001:db8:1::100 BAL_CLIENT=2001:db8::1 BAL_CLIENT_END="[" BAL_CARP1="inet6 2001:db8::1 prefixlen 64" BAL_CARP2="inet6 2001:db8:1::1 prefixlen 64"
source "$LIB/balance.sh"
flush_neigh() {
	local i
	for i in $CLIENTS; do in_ns c$i ip -6 neigh flush dev eth0; done
	in_ns srv ip -6 neigh flush dev eth0
}

# ------------------------------------------------------------ balancing ip
capture sw "$RUN/up.pcap" -i c1p 'icmp6 and ip6[40] == 136'
check "fw1 up with balancing ip" fw_up fw1 ip 1:0,2:100 3:0,4:100
check "fw2 up with balancing ip" fw_up fw2 ip 1:100,2:0 3:100,4:0
check "fw1 MASTER of vhid 1" node_state fw1 carp1 MASTER 1 8
check "fw2 MASTER of vhid 2" node_state fw2 carp1 MASTER 2 8
check "fw1 MASTER of vhid 3" node_state fw1 carp2 MASTER 3 3
check "fw2 MASTER of vhid 4" node_state fw2 carp2 MASTER 4 3
check "fw1 BACKUP of vhid 2" node_state fw1 carp1 BACKUP 2 3
check "fw2 BACKUP of vhid 1" node_state fw2 carp1 BACKUP 1 3
capture_stop
out=$(carpctl fw1 carp1)
echo "$out" | sed 's/^/# /'
check "carpctl shows the balancing line" grep -qx $'\tcarp: carpdev eth0 advbase 1 balancing ip' <<<"$out"
check "carpctl lists the inet6 address" grep -q $'^\tinet6 2001:db8::1 prefixlen 64$' <<<"$out"
check "both hosts hold 2001:db8::1 (each is MASTER of a node)" bash -c "ip netns exec ${P}fw1 ip -6 addr show dev carp1 | grep -q 2001:db8::1/64 && ip netns exec ${P}fw2 ip -6 addr show dev carp1 | grep -q 2001:db8::1/64"
check "nft keeps the kernel's neighbour discovery off carp1" bash -c "ip netns exec ${P}fw1 nft list table inet pfd_carp1 | grep -q 'oifname \"carp1\" icmpv6 type'"
na_up=$(tshark_count "$RUN/up.pcap" "icmpv6.type == 136 && ipv6.dst == ff02::1 && icmpv6.nd.na.flag.o == 1 && icmpv6.opt.linkaddr == $MMAC && ipv6.src == 2001:db8::1")
check "the leader's new MASTER announced 2001:db8::1 with the multicast MAC ($na_up NAs)" test "$na_up" -ge 1

# Neighbour solicitations from a client: answered once each, by fw1 (the
# leader's MASTER), with the multicast virtual MAC, from fw1's eth0 MAC.
flush_neigh
capture sw "$RUN/nd.pcap" -i c1p 'icmp6 or ip6 proto 112'
in_ns c1 ping -6 -c 1 -W 1 2001:db8:1::100 >/dev/null
in_ns c1 ping -6 -c 1 -W 1 2001:db8::1 >/dev/null
sleep 1.3
capture_stop
fw1mac=$(in_ns fw1 cat /sys/class/net/eth0/address)
sol=$(tshark_count "$RUN/nd.pcap" 'icmpv6.type == 135 && icmpv6.nd.ns.target_address == 2001:db8::1')
ans=$(tshark_count "$RUN/nd.pcap" "icmpv6.type == 136 && icmpv6.nd.na.target_address == 2001:db8::1 && icmpv6.nd.na.flag.s == 1")
ansok=$(tshark_count "$RUN/nd.pcap" "icmpv6.type == 136 && icmpv6.nd.na.flag.s == 1 && icmpv6.opt.linkaddr == $MMAC && eth.src == $fw1mac && icmpv6.nd.na.flag.r == 1")
echo "# NS for 2001:db8::1: $sol, solicited NAs: $ans, with the multicast MAC from fw1's eth0: $ansok"
check "c1 solicited 2001:db8::1 ($sol)" test "$sol" -ge 1
check "each solicitation answered once ($ans NAs for $sol NSs)" test "$ans" -eq "$sol"
check "by fw1, with the multicast virtual MAC, Router set ($ansok)" test "$ansok" -eq "$ans"
check "the client's neighbour entry is the multicast virtual MAC" bash -c "ip netns exec ${P}c1 ip -6 neigh show 2001:db8::1 dev eth0 | grep -q 'lladdr $MMAC'"
check "no frame leaves from a virtual MAC under balancing ip" test "$(tshark_count "$RUN/nd.pcap" 'eth.src[0:5] == 00:00:5e:00:01 || eth.src[0:5] == 01:00:5e:00:01')" -eq 0
check "IPv6 advertisements of vhid 1 and 2 on the segment" test "$(tshark_count "$RUN/nd.pcap" 'ipv6 && carp.vhid == 1')" -ge 1 -a "$(tshark_count "$RUN/nd.pcap" 'ipv6 && carp.vhid == 2')" -ge 1
bad=$(tshark_bad_frames "$RUN/nd.pcap")
check "tshark decodes the capture ($bad malformed)" test "$bad" -eq 0
check "the virtual address answers ping6" in_ns c1 ping -6 -c 1 -W 1 2001:db8::1

check "all clients reach the server over IPv6, no duplicates" all_ping
check "both firewalls forward their share, no flow on both" owner_split
echo "# states to the server each made: fw1 $(made_all fw1), fw2 $(made_all fw2)"
lsdrop() { carpctl "$1" -s | awk '/dropped as another host.s share/ { print $1 }'; }
d1=$(lsdrop fw1) d2=$(lsdrop fw2)
echo "# packets dropped as the other's share: fw1 $d1, fw2 $d2"
check "each firewall dropped the other's share (carpctl -s)" test "${d1:-0}" -gt 0 -a "${d2:-0}" -gt 0

# TCP from each client through its owner; pfsync gives each firewall the
# other's states; fw2 shuts down and fw1 carries every connection on.
for i in $CLIENTS; do
	in_ns c$i timeout 20 python3 "$RUN/talk.py" 4 >"$RUN/talk$i" 2>&1 &
done
synced() {
	local i
	for i in $(seq 30); do
		pfss fw1 | grep -q '2001:db8::11\[[0-9]*\] -> 2001:db8:1::100\[7200\] .*ESTABLISHED' &&
			pfss fw2 | grep -q '2001:db8::12\[[0-9]*\] -> 2001:db8:1::100\[7200\] .*ESTABLISHED' && return 0
		sleep 0.1
	done
	pfss fw1 | grep 7200 | sed 's/^/# fw1: /' >&2
	return 1
}
check "pfsync: each firewall has the other's IPv6 TCP states" synced
kill -TERM "$(daemon_pid fw2 pfd)" "$(daemon_pid fw2 pfsyncd)"
check "fw1 takes over vhid 2" node_state fw1 carp1 MASTER 2 3
check "fw1 takes over vhid 4" node_state fw1 carp2 MASTER 4 3
for i in $(seq 30); do ! kill -0 "$(daemon_pid fw2 pfd)" 2>/dev/null && break; sleep 0.1; done
talks() {
	local i ok=0
	for i in $CLIENTS; do
		echo "# c$i TCP across the takeover: $(cat "$RUN/talk$i")"
		grep -q '^echoed \([0-9]*\) of \1$' "$RUN/talk$i" || ok=1
	done
	return $ok
}
wait
check "every TCP connection went on across the takeover (states from pfsync)" talks
check "all flows go on through fw1 alone" all_ping

# ------------------------------------------------------ balancing ip-stealth
# The virtual MAC never leaves as a frame's source (advertisements, NAs
# from the carpdev's MAC, the kernel's NS, NA and MLD dropped): the
# bridge never learns it and floods the clients' frames to both.
for b in br-out br-in; do in_ns sw bridge fdb flush dev $b dynamic; done
carpctl fw1 carp1 balancing ip-stealth
carpctl fw1 carp2 balancing ip-stealth
check "fw2 back with balancing ip-stealth" fw_up fw2 ip-stealth 1:100,2:0 3:100,4:0
check "fw2 MASTER of vhid 2 again (preempt)" node_state fw2 carp1 MASTER 2 8
check "fw2 MASTER of vhid 4 again" node_state fw2 carp2 MASTER 4 3
for n in fw1 fw2; do in_fw $n "$BIN/pfctl" -q -F states; done
flush_neigh
check "balancing ip-stealth: all clients reach the server, no duplicates" all_ping
check "balancing ip-stealth: the clients use the unicast virtual MAC" bash -c "ip netns exec ${P}c1 ip -6 neigh show 2001:db8::1 | grep -q '00:00:5e:00:01:01'"
check "balancing ip-stealth: both firewalls forward their share, no flow on both" owner_split
in_ns sw bridge fdb show br br-out | grep '00:00:5e:00:01' | sed 's/^/# learnt: /'
check "balancing ip-stealth: the bridge never learnt a virtual MAC" bash -c "! ip netns exec ${P}sw bridge fdb show br br-out | grep -q '00:00:5e:00:01'"

# balancing arp balances ARP only: an IPv6 address is refused with the reason.
e=$(carpctl fw1 carp1 balancing arp 2>&1)
check "balancing arp with an IPv6 address refused ($e)" grep -q 'balancing arp: IPv6 addresses cannot be balanced' <<<"$e"
check "carp1 kept balancing ip-stealth" bash -c "carpctl fw1 carp1 | grep -qx \$'\\tcarp: carpdev eth0 advbase 1 balancing ip-stealth'"

# fw1 shuts down: fw2 takes over the leader (vhid 1) and announces the
# address with the unicast virtual MAC, from its eth0's MAC.
fw2mac=$(in_ns fw2 cat /sys/class/net/eth0/address)
capture sw "$RUN/takeover.pcap" -i c1p 'icmp6 and ip6[40] == 136'
kill -TERM "$(daemon_pid fw1 pfd)" "$(daemon_pid fw1 pfsyncd)"
check "fw2 takes over the leader, vhid 1" node_state fw2 carp1 MASTER 1 5
capture_stop
na=$(tshark_count "$RUN/takeover.pcap" "icmpv6.type == 136 && ipv6.dst == ff02::1 && icmpv6.nd.na.flag.o == 1 && icmpv6.nd.na.target_address == 2001:db8::1 && icmpv6.opt.linkaddr == 00:00:5e:00:01:01 && eth.src == $fw2mac")
check "fw2 announced 2001:db8::1 on takeover, from its eth0's MAC ($na NAs)" test "$na" -ge 1
for i in $(seq 30); do ! kill -0 "$(daemon_pid fw1 pfd)" 2>/dev/null && break; sleep 0.1; done
check "all flows go on through fw2 alone" all_ping
check "the bridge still never learnt a virtual MAC" bash -c "! ip netns exec ${P}sw bridge fdb show br br-out | grep -q '00:00:5e:00:01'"

summary
