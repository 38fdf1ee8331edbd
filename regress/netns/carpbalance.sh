#!/bin/bash
# CARP load balancing (seed 002's active/active pair): two firewalls with
# carp1 `carpnodes 1:0,2:100` (fw1) and `1:100,2:0` (fw2) outside and
# carp2 `3:0,4:100` / `3:100,4:0` inside, so each is MASTER of one vhid
# on each side; four clients on the outside segment reach a server behind
# the pair through the virtual addresses. balancing ip: both firewalls
# forward part of the flows (the states each made), no flow by both (no
# duplicate replies, each dropped the other's share); pfsync copies each
# one's states to the other; one firewall shuts down, the other takes
# over every vhid and all flows go on, the TCP connections open across
# the takeover included. Then the
# same with balancing arp (the clients' ARP answered with the MAC of the
# node they hash to) and ip-stealth (the virtual MAC never a frame's
# source, so the bridge floods). Ends with "N passed, N failed".
#
#   c1..c4 10.0.0.11-14 --[br-out]-- eth0 fw1 .2 / fw2 .3 (carp1 .1)
#   srv 10.1.0.100      --[br-in]--- eth1 fw1 .2 / fw2 .3 (carp2 .1)
#                                    sync0 fw1 10.9.0.1 <-> fw2 10.9.0.2

set -u
P=${P:-pfcb$$}
source "$(dirname "$0")/../lib/suite.sh"
source "$LIB/tshark.sh"

CLIENTS="1 2 3 4"
netns_add c1 c2 c3 c4 fw1 fw2 srv sw
ipv4_only
for b in br-out br-in; do
	# No IGMP snooping: frames to the multicast virtual MAC are flooded.
	in_ns sw ip link add $b type bridge mcast_snooping 0
	in_ns sw ip link set $b up
done
for i in $CLIENTS; do
	veth c$i eth0 sw c${i}p
	# Fixed MACs: the arp balancing hash of these is split 2/2.
	in_ns c$i ip link set eth0 address 02:00:00:00:00:1$i
	in_ns sw ip link set c${i}p master br-out up
	addr c$i eth0 10.0.0.1$i/24
	route c$i default 10.0.0.1
done
veth srv eth0 sw sp
in_ns sw ip link set sp master br-in up
addr srv eth0 10.1.0.100/24
route srv default 10.1.0.1
for n in 1 2; do
	veth fw$n eth0 sw f${n}o
	veth fw$n eth1 sw f${n}i
	in_ns sw ip link set f${n}o master br-out up
	in_ns sw ip link set f${n}i master br-in up
	addr fw$n eth0 10.0.0.$((n + 1))/24
	addr fw$n eth1 10.1.0.$((n + 1))/24
	forwarding fw$n inet
done
# The sync link: pfsync carries each firewall's states to the other.
veth fw1 sync0 fw2 sync0
addr fw1 sync0 10.9.0.1/24
addr fw2 sync0 10.9.0.2/24
printf 'set skip on lo\npass\n' >"$RUN/pf.conf"
# A TCP echo service on the server, and a client that keeps one
# connection to it: a byte every 50 ms for $1 s, each echoed.
serve srv env PYTHONPATH="$LIB" python3 -c '
import socket, tcpecho
l = socket.create_server(("0.0.0.0", 7200)); tcpecho.echo_forever(l)'
cat >"$RUN/talk.py" <<'PY'
import socket, sys, time
s = socket.create_connection(("10.1.0.100", 7200), timeout=5)
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

BAL_PING="ping" BAL_SERVER=10.1.0.100 BAL_CLIENT=10.0.0.1 BAL_CLIENT_END="" BAL_CARP1="inet 10.0.0.1 255.255.255.0" BAL_CARP2="inet 10.1.0.1 255.255.255.0"
source "$LIB/balance.sh"

# ------------------------------------------------------------ balancing ip
check "fw1 up with balancing ip" fw_up fw1 ip 1:0,2:100 3:0,4:100
check "fw2 up with balancing ip" fw_up fw2 ip 1:100,2:0 3:100,4:0
check "fw1 MASTER of vhid 1" node_state fw1 carp1 MASTER 1 8
check "fw2 MASTER of vhid 2" node_state fw2 carp1 MASTER 2 8
check "fw1 MASTER of vhid 3" node_state fw1 carp2 MASTER 3 3
check "fw2 MASTER of vhid 4" node_state fw2 carp2 MASTER 4 3
check "fw1 BACKUP of vhid 2" node_state fw1 carp1 BACKUP 2 3
check "fw2 BACKUP of vhid 1" node_state fw2 carp1 BACKUP 1 3
out=$(carpctl fw1 carp1)
echo "$out" | sed 's/^/# /'
check "carpctl shows the balancing line" grep -qx $'\tcarp: carpdev eth0 advbase 1 balancing ip' <<<"$out"
check "carpctl shows vhid 1's line" grep -qx $'\t\tstate MASTER vhid 1 advskew 0' <<<"$out"
check "carpctl shows vhid 2's line" grep -qx $'\t\tstate BACKUP vhid 2 advskew 100' <<<"$out"
check "carpctl shows the multicast virtual MAC" grep -qx $'\tlladdr 01:00:5e:00:01:01' <<<"$out"
check "carpctl shows status master" grep -qx $'\tstatus: master' <<<"$out"
check "eth0 accepts the multicast virtual MAC" bash -c "ip netns exec ${P}fw1 ip maddr show dev eth0 | grep -q 'link  01:00:5e:00:01:01'"
# What the clients see: both firewalls' advertisements (vhid 1 from fw1,
# 2 from fw2) from their carpdevs' own MACs, and ARP answered with the
# multicast virtual MAC.
in_ns c1 ip neigh flush dev eth0
capture sw "$RUN/ip.pcap" -i c1p 'proto 112 or arp'
in_ns c1 ping -c 1 -W 1 10.1.0.100 >/dev/null
sleep 1.3
capture_stop
bad=$(tshark_bad_frames "$RUN/ip.pcap")
check "tshark decodes the capture ($bad malformed)" test "$bad" -eq 0
check "advertisements of vhid 1 and 2 on the segment" test "$(tshark_count "$RUN/ip.pcap" 'carp.vhid == 1')" -ge 1 -a "$(tshark_count "$RUN/ip.pcap" 'carp.vhid == 2')" -ge 1
check "no frame leaves from a virtual MAC under balancing ip" test "$(tshark_count "$RUN/ip.pcap" 'eth.src[0:5] == 00:00:5e:00:01 || eth.src[0:5] == 01:00:5e:00:01')" -eq 0
check "the ARP reply gives the multicast virtual MAC" test "$(tshark_count "$RUN/ip.pcap" 'arp.opcode == 2 && arp.src.hw_mac == 01:00:5e:00:01:01')" -ge 1
check "all clients reach the server, no duplicates" all_ping
check "the clients learnt the multicast virtual MAC" bash -c "ip netns exec ${P}c1 ip neigh show 10.0.0.1 | grep -q '01:00:5e:00:01:01'"
check "both firewalls forward their share, no flow on both" owner_split
echo "# states to the server each made: fw1 $(made_all fw1), fw2 $(made_all fw2)"
lsdrop() { carpctl "$1" -s | awk '/dropped as another host.s share/ { print $1 }'; }
d1=$(lsdrop fw1) d2=$(lsdrop fw2)
echo "# packets dropped as the other's share: fw1 $d1, fw2 $d2"
check "each firewall dropped the other's share (carpctl -s)" test "${d1:-0}" -gt 0 -a "${d2:-0}" -gt 0

# A TCP connection from each client, through its owner; pfsync gives
# each firewall the other's states.
for i in $CLIENTS; do
	in_ns c$i timeout 20 python3 "$RUN/talk.py" 4 >"$RUN/talk$i" 2>&1 &
done
synced() {
	local i
	for i in $(seq 30); do
		pfss fw1 | grep -q '10.0.0.11:[0-9]* -> 10.1.0.100:7200 .*ESTABLISHED' &&
			pfss fw2 | grep -q '10.0.0.12:[0-9]* -> 10.1.0.100:7200 .*ESTABLISHED' && return 0
		sleep 0.1
	done
	return 1
}
check "pfsync: each firewall has the other's TCP states" synced
# fw2 shuts down: bows out of vhids 2 and 4, fw1 takes them over.
t0=$(date +%s%N)
kill -TERM "$(daemon_pid fw2 pfd)" "$(daemon_pid fw2 pfsyncd)"
check "fw1 takes over vhid 2" node_state fw1 carp1 MASTER 2 3
check "fw1 takes over vhid 4" node_state fw1 carp2 MASTER 4 3
echo "# takeover of vhid 2 after fw2's SIGTERM: $((($(date +%s%N) - t0) / 1000000)) ms"
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
for i in $CLIENTS; do echo "# c$i TCP across the takeover: $(cat "$RUN/talk$i")"; done
check "all flows go on through fw1 alone" all_ping
holds_all() { local i; for i in $CLIENTS; do holds "$1" $i || return 1; done; }
check "fw1 holds every flow now" holds_all fw1

# ----------------------------------------------------------- balancing arp
check "fw2 back with balancing arp" fw_up fw2 arp 1:100,2:0 3:100,4:0
carpctl fw1 carp1 balancing arp
carpctl fw1 carp2 balancing arp
check "fw2 MASTER of vhid 2 again (preempt)" node_state fw2 carp1 MASTER 2 8
check "fw2 MASTER of vhid 4 again" node_state fw2 carp2 MASTER 4 3
check "fw1 BACKUP of vhid 2" node_state fw1 carp1 BACKUP 2 3
check "carpctl shows balancing arp" bash -c "carpctl fw1 carp1 | grep -qx \$'\\tcarp: carpdev eth0 advbase 1 balancing arp'"
in_fw fw1 "$BIN/pfctl" -q -F states
for i in $CLIENTS; do in_ns c$i ip neigh flush dev eth0; done
in_ns srv ip neigh flush dev eth0
check "balancing arp: all clients reach the server, no duplicates" all_ping
macs=$(for i in $CLIENTS; do in_ns c$i ip neigh show 10.0.0.1 | awk '{print $5}'; done | sort | uniq -c)
echo "$macs" | sed 's/^/# virtual MAC the clients use: /'
check "the clients were answered with both nodes' MACs" bash -c "grep -q '00:00:5e:00:01:01' <<<'$macs' && grep -q '00:00:5e:00:01:02' <<<'$macs'"
m1=$(made_all fw1)
m2=$(made_all fw2)
echo "# balancing arp: states to the server: fw1 $m1, fw2 $m2"
check "balancing arp: both firewalls forward" test "$m1" -gt 0 -a "$m2" -gt 0

# ------------------------------------------------------ balancing ip-stealth
# A unicast virtual MAC that never leaves as a frame's source: the bridge
# never learns it and floods the clients' frames to both firewalls.
for n in fw1 fw2; do
	carpctl $n carp1 balancing ip-stealth
	carpctl $n carp2 balancing ip-stealth
	in_fw $n "$BIN/pfctl" -q -F states
done
for i in $CLIENTS; do in_ns c$i ip neigh flush dev eth0; done
in_ns srv ip neigh flush dev eth0
# What balancing arp taught the bridges goes.
for b in br-out br-in; do in_ns sw bridge fdb flush dev $b dynamic; done
check "balancing ip-stealth: all clients reach the server, no duplicates" all_ping
check "balancing ip-stealth: the clients use the unicast virtual MAC" bash -c "ip netns exec ${P}c1 ip neigh show 10.0.0.1 | grep -q '00:00:5e:00:01:01'"
check "balancing ip-stealth: both firewalls forward their share, no flow on both" owner_split
in_ns sw bridge fdb show br br-out | grep '00:00:5e:00:01' | sed 's/^/# learnt: /'
check "balancing ip-stealth: the bridge never learnt a virtual MAC" bash -c "! ip netns exec ${P}sw bridge fdb show br br-out | grep -q '00:00:5e:00:01'"

# ------------------------------------------------------ balancing ip-unicast
# For a hub: the bridges stop learning and flood every frame.
for p in c1p c2p c3p c4p f1o f2o sp f1i f2i; do in_ns sw bridge link set dev $p learning off; done
for b in br-out br-in; do in_ns sw bridge fdb flush dev $b dynamic; done
for n in fw1 fw2; do
	carpctl $n carp1 balancing ip-unicast
	carpctl $n carp2 balancing ip-unicast
	in_fw $n "$BIN/pfctl" -q -F states
done
for i in $CLIENTS; do in_ns c$i ip neigh flush dev eth0; done
in_ns srv ip neigh flush dev eth0
check "balancing ip-unicast: all clients reach the server, no duplicates" all_ping
check "balancing ip-unicast: both firewalls forward their share, no flow on both" owner_split

# Bad configurations are refused with the reason.
e=$(carpctl fw1 carp3 inet 10.0.0.9 255.255.255.0 carpdev eth0 vhid 9 balancing ip 2>&1)
check "balancing without carpnodes refused ($e)" grep -q 'needs carpnodes' <<<"$e"
e=$(carpctl fw1 carp3 inet 10.0.0.9 255.255.255.0 carpdev eth0 carpnodes 1:0,9:0 2>&1)
check "a vhid another interface uses refused ($e)" grep -q 'vhid 1 already in use on eth0' <<<"$e"

summary
