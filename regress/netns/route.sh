#!/bin/bash
# Policy routing with real packets: route-to (in and out), reply-to,
# dup-to, rtable, af-to (NAT64), divert-to (TPROXY), divert-reply and
# divert-packet (NFQUEUE), and the ip rules, tables and TPROXY chain pfd
# owns. Ends with "N passed, N failed".
#
#   client 10.1.0.2       -- lan0 10.1.0.1  [fw] wan1 10.2.0.1 -- s1 10.2.0.2 [srv]
#          2001:db8:1::2     2001:db8:1::1       wan2 10.3.0.1 -- s2 10.3.0.2 (10.9.0.2 on lo)
#                                                dup0 10.4.0.1 -- 10.4.0.2 sniffer
#
# The firewall routes 10.9.0.0/24 through wan1; the server answers through
# s1. Counting rules in the server's and sniffer's raw PREROUTING tell
# which link a packet took.

set -u
P=${P:-pfrt$$}
FW=fw1
source "$(dirname "$0")/../lib/suite.sh"
PROBE="python3 $LIB/sockprobe.py"

netns_add cl fw1 srv sn
all_ns sysctl -q -w net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
ipv4_only sn
veth cl eth0 fw1 lan0
veth srv s1 fw1 wan1
veth srv s2 fw1 wan2
veth sn eth0 fw1 dup0
addr cl eth0 10.1.0.2/24 2001:db8:1::2/64
route cl default 10.1.0.1
route cl default 2001:db8:1::1
addr fw1 lan0 10.1.0.1/24 2001:db8:1::1/64
addr fw1 wan1 10.2.0.1/24 2001:db8:2::1/64
addr fw1 wan2 10.3.0.1/24 2001:db8:3::1/64
addr fw1 dup0 10.4.0.1/24
for i in lan0 wan1 wan2 dup0; do in_ns fw1 sysctl -q -w net.ipv4.conf.$i.rp_filter=0; done
forwarding fw1
route fw1 10.9.0.0/24 10.2.0.2
route fw1 2001:db8:9::/64 2001:db8:2::2
addr srv s1 10.2.0.2/24 2001:db8:2::2/64
addr srv s2 10.3.0.2/24 2001:db8:3::2/64
in_ns srv ip addr add 10.9.0.2/32 dev lo
in_ns srv ip addr add 2001:db8:9::2/128 dev lo
route srv default 10.2.0.1
route srv default 2001:db8:2::1
# The divert-reply socket's address lives behind the firewall.
route srv 10.2.0.77/32 10.2.0.1
addr sn eth0 10.4.0.2/24

# Counting rules: count NS NAME MATCH... / packets NS NAME.
count() {
	local n=$1 name=$2
	shift 2
	in_ns "$n" iptables -t raw -A PREROUTING "$@" -m comment --comment "$name"
}
packets() {
	{
		in_ns "$1" iptables -t raw -L PREROUTING -vnx
		in_ns "$1" ip6tables -t raw -L PREROUTING -vnx 2>/dev/null
	} | awk -v c="/* $2 */" 'index($0, c) { print $1 }'
}
count srv s1_echo -i s1 -p icmp --icmp-type echo-request
in_ns srv ip6tables -t raw -A PREROUTING -i s1 -p ipv6-icmp --icmpv6-type echo-request -m comment --comment s1_echo6
in_ns srv ip6tables -t raw -A PREROUTING -i s2 -p ipv6-icmp --icmpv6-type echo-request -m comment --comment s2_echo6
count srv s2_echo -i s2 -p icmp --icmp-type echo-request
count srv s1_syn -i s1 -p tcp --dport 7000 --syn
count srv s2_syn -i s2 -p tcp --dport 7000 --syn
count srv s2_syn_nat -i s2 -p tcp --dport 7000 --syn -s 10.3.0.1
count srv s1_udp -i s1 -p udp --dport 5556
count srv s2_udp -i s2 -p udp --dport 5556
count srv s1_reply -i s1 -p tcp -s 10.3.0.1 --sport 7002
count srv s2_reply -i s2 -p tcp -s 10.3.0.1 --sport 7002
count srv port80 -p tcp --dport 80
count sn dup_req -p icmp --icmp-type echo-request -d 10.9.0.2
count sn dup_req_ttl63 -p icmp --icmp-type echo-request -d 10.9.0.2 -m ttl --ttl-eq 63
count sn dup_rep -p icmp --icmp-type echo-reply -s 10.9.0.2
# delta NS NAME BEFORE: packets counted since BEFORE.
delta() { echo $(($(packets "$1" "$2") - $3)); }

# load RULES...: a ruleset of these lines, states flushed.
LOAD_FLUSHES=1
ping_srv() { in_ns cl ping -q -c 3 -i 0.2 -W 1 10.9.0.2 >/dev/null; }
rules() { in_ns fw1 ip rule show; in_ns fw1 ip -6 rule show; }

# The nfq reader for divert-packet (a stand-in for an IDS).
NFQCOUNT="$BIN/examples/nfqcount"
[ -x "$NFQCOUNT" ] || (cd "$ROOT" && cargo build -q --example nfqcount -p libpf)

serve srv $PROBE echo 7000
serve fw1 $PROBE echo 7002
serve fw1 $PROBE proxy 127.0.0.1 3128
serve srv $PROBE udpcount 5555 "$RUN/srv.udp"
sleep 0.5

check "pfd starts" pfd_start fw1
check "pf enables" pfctl -q -e

# Without policy routing: the routing table's path (wan1).
load "pass"
b1=$(packets srv s1_echo) b2=$(packets srv s2_echo)
check "ping to the server works" ping_srv
check "without route-to the echo requests arrive on s1 (wan1)" test "$(delta srv s1_echo "$b1"):$(delta srv s2_echo "$b2")" = "3:0"

# route-to on an inbound rule: the mark before the routing decision.
load "pass" "pass in on lan0 proto { icmp tcp } to 10.9.0.2 route-to 10.3.0.2"
b1=$(packets srv s1_echo) b2=$(packets srv s2_echo)
check "route-to (in): ping works" ping_srv
check "route-to (in): the echo requests take wan2 ($(delta srv s1_echo "$b1") on s1, $(delta srv s2_echo "$b2") on s2)" test "$(delta srv s1_echo "$b1"):$(delta srv s2_echo "$b2")" = "0:3"
b1=$(packets srv s1_syn) b2=$(packets srv s2_syn)
out=$(in_ns cl $PROBE say 10.9.0.2 7000)
check "route-to (in): TCP works ($out)" test "$out" = hello
check "route-to (in): the SYN takes wan2" test "$(delta srv s1_syn "$b1"):$(delta srv s2_syn "$b2")" = "0:1"
check "route-to: pfctl -vvss shows route-to: 10.3.0.2@wan2" grep -q ' route-to: 10\.3\.0\.2@wan2' <<<"$(pfctl -vvss)"
check "route-to: an ip rule sends the selector to pfd's table" grep -Eq '^7066:.*fwmark 0x1000000/0x7f000000 lookup 7066001' <<<"$(rules)"
check "route-to: the table routes by the next hop" grep -q 'default via 10.3.0.2 dev wan2' <<<"$(in_ns fw1 ip route show table 7066001)"
check "route-to: a table without a route drops (unreachable rule at 7067)" grep -Eq '^7067:.*fwmark 0x1000000/0x7f000000 unreachable' <<<"$(rules)"

# The same for IPv6.
load "pass" "pass in on lan0 inet6 proto ipv6-icmp to 2001:db8:9::2 route-to 2001:db8:3::2"
b1=$(packets srv s1_echo6) b2=$(packets srv s2_echo6)
check "route-to (in, IPv6): ping6 works" in_ns cl ping -6 -q -c 3 -i 0.2 -W 1 2001:db8:9::2
check "route-to (in, IPv6): the echo requests take wan2 ($(delta srv s1_echo6 "$b1") on s1, $(delta srv s2_echo6 "$b2") on s2)" test "$(delta srv s1_echo6 "$b1"):$(delta srv s2_echo6 "$b2")" = "0:3"
check "route-to (IPv6): pfd's IPv6 table routes by the next hop" grep -q 'default via 2001:db8:3::2 dev wan2' <<<"$(in_ns fw1 ip -6 route show table all | grep 'table 7066')"

# What route-to sends while it comes in is filtered out where it leaves:
# OpenBSD's pf_route runs pf_test(PF_OUT) on the next hop's interface for
# a packet coming in. The kernel routes the marked packet and pfd's out pass
# meets it on wan2, with the in rule's tag: out rules there apply, nat-to
# there translates, and an if-bound state is made there.
# rule_packets N: the packets counted by rule @N of pfctl -vvsr.
rule_packets() { pfctl -vvsr | awk -v n="@$1" '$1 == n { f = 1; next } f && /Packets:/ { print $5; exit }'; }
load "pass" "block out quick on wan2 proto icmp" "pass in on lan0 proto icmp to 10.9.0.2 route-to 10.3.0.2"
b1=$(packets srv s1_echo) b2=$(packets srv s2_echo)
ping_srv
r=$?
check "route-to (in): block out on the new interface stops the requests (ping $r, $(delta srv s1_echo "$b1") on s1, $(delta srv s2_echo "$b2") on s2)" test "$r:$(delta srv s1_echo "$b1"):$(delta srv s2_echo "$b2")" = "1:0:0"
check "route-to (in): the block on wan2 counted them ($(rule_packets 1))" test "$(rule_packets 1)" = 3
load "pass" "block out quick on wan2 inet6 proto ipv6-icmp icmp6-type echoreq" "pass in on lan0 inet6 proto ipv6-icmp to 2001:db8:9::2 route-to 2001:db8:3::2"
b1=$(packets srv s1_echo6) b2=$(packets srv s2_echo6)
in_ns cl ping -6 -q -c 3 -i 0.2 -W 1 2001:db8:9::2 >/dev/null
r=$?
check "route-to (in, IPv6): block out on the new interface stops the requests (ping6 $r, $(delta srv s1_echo6 "$b1") on s1, $(delta srv s2_echo6 "$b2") on s2, $(rule_packets 1) blocked)" test "$r:$(delta srv s1_echo6 "$b1"):$(delta srv s2_echo6 "$b2"):$(rule_packets 1)" = "1:0:0:3"
load "block" "pass in on lan0 proto icmp to 10.9.0.2 route-to 10.3.0.2 tag RT" "pass out quick on wan2 tagged RT"
b2=$(packets srv s2_echo)
check "route-to (in): the in rule's tag meets 'pass out on wan2 tagged' there (ping works)" ping_srv
check "route-to (in, tagged): the requests took wan2 ($(delta srv s2_echo "$b2"))" test "$(delta srv s2_echo "$b2")" = 3
load "block" "pass in on lan0 proto icmp to 10.9.0.2 route-to 10.3.0.2" "pass out quick on wan2 tagged RT"
check "route-to (in): untagged, the requests meet block out on wan2" bash -c "! ip netns exec $(ns cl) ping -q -c 2 -i 0.2 -W 1 10.9.0.2"
load "match out on wan2 nat-to (wan2)" "pass" "pass in on lan0 proto tcp to 10.9.0.2 port 7000 route-to 10.3.0.2"
b=$(packets srv s2_syn_nat)
out=$(in_ns cl $PROBE say 10.9.0.2 7000)
check "route-to (in): nat-to on the new interface applies (the server sees 10.3.0.1 on s2; $out)" test "$out:$(delta srv s2_syn_nat "$b")" = "hello:1"
# if-bound: the server answers by s2 for this one (replies come in on wan2).
in_ns srv ip route add 10.1.0.0/24 via 10.3.0.1
load "set state-policy if-bound" "block" "pass in on lan0 proto icmp to 10.9.0.2 route-to 10.3.0.2" "pass out on wan2 proto icmp"
check "route-to (in, if-bound): ping works" ping_srv
vss=$(pfctl -vss)
echo "$vss" | sed 's/^/# /'
check "route-to (in, if-bound): one state on lan0 and its twin on wan2, each with the 3 requests and 3 replies" bash -c "
	[ \$(grep -c ' icmp ' <<<'$vss') = 2 ] &&
	grep -A1 '^lan0 icmp 10\.9\.0\.2:[0-9]* <- 10\.1\.0\.2:' <<<'$vss' | grep -q ' 3:3 pkts' &&
	grep -A1 '^wan2 icmp 10\.1\.0\.2:[0-9]* -> 10\.9\.0\.2:' <<<'$vss' | grep -q ' 3:3 pkts'"
in_ns srv ip route del 10.1.0.0/24 via 10.3.0.1

# route-to on an outbound rule: routed already, sent again by pfd; for
# forwarded and for the firewall's own packets.
load "pass" "pass out on wan1 proto tcp to 10.9.0.2 port 7000 route-to 10.3.0.2" \
	"pass out proto udp to 10.9.0.2 port 5556 route-to 10.3.0.2"
b1=$(packets srv s1_syn) b2=$(packets srv s2_syn)
out=$(in_ns cl $PROBE say 10.9.0.2 7000)
check "route-to (out): forwarded TCP works ($out)" test "$out" = hello
check "route-to (out): the SYN leaves by wan2, not wan1" test "$(delta srv s1_syn "$b1"):$(delta srv s2_syn "$b2")" = "0:1"
b1=$(packets srv s1_udp) b2=$(packets srv s2_udp)
in_ns fw1 $PROBE udpsend 10.9.0.2 5556 3
sleep 0.3
check "route-to (out): the firewall's own datagrams take wan2" test "$(delta srv s1_udp "$b1"):$(delta srv s2_udp "$b2")" = "0:3"

# What route-to sends while it goes out is not filtered again: OpenBSD's
# pf_route hands it to the next hop's interface (pf_test only for packets
# coming in). A block on wan2 does not stop it, and an if-bound state stays
# on wan1, so replies coming in on wan2 meet the rules there (FreeBSD binds
# such a state to the route-to interface instead).
load "pass" "block out quick on wan2 proto udp" "pass out proto udp to 10.9.0.2 port 5556 route-to 10.3.0.2"
b1=$(packets srv s1_udp) b2=$(packets srv s2_udp)
in_ns fw1 $PROBE udpsend 10.9.0.2 5556 3
sleep 0.3
check "route-to (out): a block out on the new interface does not apply ($(delta srv s1_udp "$b1") on s1, $(delta srv s2_udp "$b2") on s2)" test "$(delta srv s1_udp "$b1"):$(delta srv s2_udp "$b2")" = "0:3"
check "route-to (out): the block on wan2 saw nothing ($(rule_packets 1))" test "$(rule_packets 1)" = 0
in_ns srv ip route add 10.1.0.0/24 via 10.3.0.1
fwping() { in_ns fw1 ping -q -c 3 -i 0.2 -W 1 -I 10.1.0.1 10.9.0.2 >/dev/null; }
load "set state-policy if-bound" "block" "pass out proto icmp to 10.9.0.2 route-to 10.3.0.2"
b2=$(packets srv s2_echo)
fwping
r=$?
ss=$(pfctl -ss)
check "route-to (out, if-bound): the requests take wan2 ($(delta srv s2_echo "$b2")) and the replies coming in on wan2 meet block (ping $r)" test "$(delta srv s2_echo "$b2"):$r" = "3:1"
check "route-to (out, if-bound): the one state is on wan1" bash -c "[ \$(grep -c ' icmp ' <<<'$ss') = 1 ] && grep -q '^wan1 icmp 10\.1\.0\.1:' <<<'$ss'"
load "block" "pass out proto icmp to 10.9.0.2 route-to 10.3.0.2"
check "route-to (out, floating): the replies coming in on wan2 match the state" fwping
in_ns srv ip route del 10.1.0.0/24 via 10.3.0.1

# reply-to: the firewall answers by the link the connection came in on.
load "pass"
b1=$(packets srv s1_reply) b2=$(packets srv s2_reply)
out=$(in_ns srv $PROBE say 10.3.0.1 7002 10.9.0.2)
check "reply-to: baseline, the answers take the routing table's wan1 ($out)" test "$out:$(delta srv s2_reply "$b2")" = "hello:0"
load "pass" "pass in on wan2 proto tcp to port 7002 reply-to 10.3.0.2"
b1=$(packets srv s1_reply) b2=$(packets srv s2_reply)
out=$(in_ns srv $PROBE say 10.3.0.1 7002 10.9.0.2)
check "reply-to: the connection works ($out)" test "$out" = hello
check "reply-to: the answers go back by wan2 ($(delta srv s1_reply "$b1") on s1, $(delta srv s2_reply "$b2") on s2)" test "$(delta srv s1_reply "$b1")" = 0 -a "$(delta srv s2_reply "$b2")" -ge 2
check "reply-to: pfctl -vvss shows reply-to: 10.3.0.2@wan2" grep -q ' reply-to: 10\.3\.0\.2@wan2' <<<"$(pfctl -vvss)"

# reply-to on an outbound rule: the replies, coming in on wan1, are routed
# to the sniffer's link (10.4.0.2 on dup0) and filtered out there (pf_route
# runs pf_test(PF_OUT) on the new interface for a packet coming in).
load "pass" "pass out on wan1 proto icmp to 10.9.0.2 reply-to 10.4.0.2"
b=$(packets sn dup_rep)
ping_srv
check "reply-to (out rule): the replies go to the reply-to next hop on dup0 ($(delta sn dup_rep "$b"))" test "$(delta sn dup_rep "$b")" = 3
# If-bound, so that the client's state on lan0 does not match them on dup0
# (floating, it would, and pass them there as on OpenBSD).
load "set state-policy if-bound" "pass" "block out quick on dup0 proto icmp" "pass out on wan1 proto icmp to 10.9.0.2 reply-to 10.4.0.2"
b=$(packets sn dup_rep)
ping_srv
check "reply-to (out rule, if-bound): block out on dup0 stops them there ($(delta sn dup_rep "$b") arrived, $(rule_packets 1) blocked)" test "$(delta sn dup_rep "$b"):$(rule_packets 1)" = "0:3"
load "set state-policy if-bound" "block" "pass in on lan0 proto icmp" "pass out on wan1 proto icmp to 10.9.0.2 reply-to 10.4.0.2" "pass out on dup0 proto icmp no state"
b=$(packets sn dup_rep)
ping_srv
check "reply-to (out rule, if-bound): pass out on dup0 (no state: pf makes none for echo replies) lets them out there ($(delta sn dup_rep "$b"))" test "$(delta sn dup_rep "$b")" = 3

# dup-to: a copy of every packet of the state to the sniffer.
load "pass" "pass in on lan0 proto icmp dup-to 10.4.0.2"
b1=$(packets sn dup_req) b2=$(packets sn dup_rep) b3=$(packets sn dup_req_ttl63) b4=$(packets srv s1_echo)
check "dup-to: ping still works" ping_srv
check "dup-to: the original takes its normal path (wan1)" test "$(delta srv s1_echo "$b4")" = 3
check "dup-to: the sniffer gets a copy of each request ($(delta sn dup_req "$b1"))" test "$(delta sn dup_req "$b1")" = 3
check "dup-to: and of each reply ($(delta sn dup_rep "$b2"))" test "$(delta sn dup_rep "$b2")" = 3
check "dup-to: a forwarded copy has its TTL decremented" test "$(delta sn dup_req_ttl63 "$b3")" = 3

# rtable: Linux routing table 100 sends 10.9.0.0/24 by wan2.
in_ns fw1 ip route add 10.9.0.0/24 via 10.3.0.2 table 100
load "pass" "pass in on lan0 proto icmp to 10.9.0.2 rtable 100"
b1=$(packets srv s1_echo) b2=$(packets srv s2_echo)
check "rtable 100: ping works" ping_srv
check "rtable 100: the requests follow table 100 (wan2)" test "$(delta srv s1_echo "$b1"):$(delta srv s2_echo "$b2")" = "0:3"
check "rtable 100: ip rule fwmark ... lookup 100" grep -Eq '^7066:.*lookup 100' <<<"$(rules)"
load "pass" "pass in on lan0 proto icmp to 10.9.0.2 rtable 101"
check "rtable with an empty table: no route, as on OpenBSD" bash -c "! ip netns exec $(ns cl) ping -q -c 2 -i 0.2 -W 1 10.9.0.2"
load "match in on lan0 proto icmp rtable 100" "pass"
b2=$(packets srv s2_echo)
check "rtable from a match rule: ping works" ping_srv
check "rtable from a match rule: the requests take wan2" test "$(delta srv s2_echo "$b2")" = 3

# af-to: IPv6 clients reach the IPv4 server through 64:ff9b::/96.
load "pass" "pass in on lan0 inet6 from any to 64:ff9b::/96 af-to inet from 10.2.0.1"
check "af-to: ping6 64:ff9b::10.9.0.2 is answered by the IPv4 server" in_ns cl ping -6 -q -c 3 -i 0.2 -W 1 64:ff9b::a09:2
out=$(in_ns cl $PROBE say 64:ff9b::a09:2 7000)
check "af-to: TCP over NAT64 works ($out)" test "$out" = hello
hold_tcp cl 64:ff9b::a09:2 7000 3 &
ss=$(states_when '\(64:ff9b::a09:2\[7000\]\) +ESTABLISHED:ESTABLISHED$')
echo "$ss" | sed 's/^/# /'
check "af-to: pfctl -ss shows the state with both families" grep -Eq '^all tcp 10\.2\.0\.1:[0-9]+ \(2001:db8:1::2\[[0-9]+\]\) -> 10\.9\.0\.2:7000 \(64:ff9b::a09:2\[7000\]\)       ESTABLISHED:ESTABLISHED$' <<<"$ss"
check "af-to: the echo state is ICMPv6 to ICMP" grep -Eq '^all ipv6-icmp 10\.2\.0\.1:[0-9]+ \(2001:db8:1::2\[[0-9]+\]\) -> 10\.9\.0\.2:[0-9]+ \(64:ff9b::a09:2\[[0-9]+\]\)' <<<"$ss"
out=$(in_ns cl python3 -c '
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.settimeout(2)
s.connect(("64:ff9b::a09:2", 7999)); s.send(b"x")
try:
    s.recv(10); print("answer")
except ConnectionRefusedError: print("refused")
except OSError as e: print("other", e)')
check "af-to: the server's ICMP port unreachable reaches the client as ICMPv6 ($out)" test "$out" = refused

# divert-to: a transparent proxy on the firewall takes the connection.
load "pass" "pass in on lan0 proto tcp to port 80 divert-to 127.0.0.1 port 3128"
b=$(packets srv port80)
out=$(in_ns cl $PROBE say 10.9.0.2 80)
check "divert-to: the local proxy accepts, seeing the original destination ($out)" test "$out" = "proxy 10.9.0.2:80"
check "divert-to: nothing reaches the server's port 80" test "$(delta srv port80 "$b")" = 0
check "divert-to: TPROXY rule in pfd's mangle chain" grep -q -- '-j TPROXY --on-port 3128 --on-ip 127.0.0.1' <<<"$(in_ns fw1 iptables -t mangle -S PFD_TPROXY)"

# divert-reply: replies to a socket bound to an address not on the host.
load "pass"
out=$(in_ns fw1 $PROBE nonlocal 10.2.0.77 10.9.0.2 7000)
check "divert-reply: without it the replies do not reach the socket ($out)" test "$out" != hello
load "pass" "pass out on wan1 proto tcp from 10.2.0.77 divert-reply"
out=$(in_ns fw1 $PROBE nonlocal 10.2.0.77 10.9.0.2 7000)
check "divert-reply: with it they do ($out)" test "$out" = hello

# divert-packet: NFQUEUE 8000, read by a stand-in IDS that accepts.
(exec ip netns exec "$(ns fw1)" "$NFQCOUNT" 8000 "$RUN/nfq.count") &
nfq_pid=$!
sleep 0.3
load "pass" "pass in on lan0 proto udp to port 5555 divert-packet port 8000"
s0=$(cat "$RUN/srv.udp")
in_ns cl $PROBE udpsend 10.9.0.2 5555 5
sleep 0.5
check "divert-packet: the queue reader sees every datagram ($(cat "$RUN/nfq.count"))" test "$(cat "$RUN/nfq.count")" = 5
check "divert-packet: what it accepts reaches the server" test "$(($(cat "$RUN/srv.udp") - s0))" = 5
kill $nfq_pid
wait $nfq_pid 2>/dev/null
s0=$(cat "$RUN/srv.udp")
in_ns cl $PROBE udpsend 10.9.0.2 5555 3
sleep 0.5
check "divert-packet: without a reader the packets stop (fail-closed, $(cat "$RUN/nfq.count") seen)" test "$(($(cat "$RUN/srv.udp") - s0))" = 0
printf 'pass\npass in divert-packet port 7066\n' >"$RUN/bad.conf"
err=$(pfctl -f "$RUN/bad.conf" 2>&1 | head -1)
check "divert-packet to pfd's own queue is refused ($err)" grep -q "NFQUEUE 7066 is pfd's own" <<<"$err"
printf 'pass in on lan0 proto tcp route-to (wan2:peer)\n' >"$RUN/bad.conf"
err=$(pfctl -f "$RUN/bad.conf" 2>&1 | head -1)
check "a route pool of a point-to-point peer is refused ($err)" grep -q '(wan2:peer): not supported on Linux' <<<"$err"

# Route pools go through the pool code (engine::nat::pool): every type.
# conns N: N connections from the client; prints "by wan1:by wan2".
conns() {
	local b1 b2 i
	b1=$(packets srv s1_syn) b2=$(packets srv s2_syn)
	for i in $(seq "$1"); do in_ns cl $PROBE say 10.9.0.2 7000 >/dev/null; done
	echo "$(delta srv s1_syn "$b1"):$(delta srv s2_syn "$b2")"
}
# Round-robin over a list: consecutive connections alternate.
load "pass" "pass in on lan0 proto tcp to 10.9.0.2 port 7000 route-to { 10.2.0.2, 10.3.0.2 }"
check "route-to round-robin: 4 connections, 2 by each next hop" test "$(conns 4)" = "2:2"
load "pass" "pass in on lan0 proto tcp to 10.9.0.2 port 7000 route-to { 10.2.0.2, 10.3.0.2 } round-robin sticky-address"
got=$(conns 4)
check "route-to round-robin sticky-address: the client keeps one next hop ($got)" grep -Eq '^(4:0|0:4)$' <<<"$got"
check "route-to sticky-address: -sS shows the client's route-to node" grep -Eq '^10\.1\.0\.2 route-to 10\.[23]\.0\.2 \( states [0-9]+, connections 0, rate 0\.0/0s \)$' <<<"$(pfctl -sS)"
load "pass" "pass in on lan0 proto tcp to 10.9.0.2 port 7000 route-to { 10.2.0.2, 10.3.0.2 } source-hash"
got=$(conns 4)
check "route-to source-hash: one source, one next hop ($got)" grep -Eq '^(4:0|0:4)$' <<<"$got"
load "pass" "pass in on lan0 proto tcp to 10.9.0.2 port 7000 route-to { 10.2.0.2, 10.3.0.2 } random"
got=$(conns 12)
check "route-to random: 12 connections over both next hops ($got)" bash -c "IFS=: read a b <<<'$got'; [ \$((a + b)) = 12 ] && [ \$a -gt 0 ] && [ \$b -gt 0 ]"
load "table <hops> { 10.2.0.2 10.3.0.2 }" "pass" "pass in on lan0 proto tcp to 10.9.0.2 port 7000 route-to <hops> round-robin"
check "route-to <table> round-robin: 4 connections, 2 by each next hop" test "$(conns 4)" = "2:2"
pfctl -q -t hops -T delete 10.3.0.2
check "route-to <table>: a next hop deleted from the table is no longer used" test "$(conns 3)" = "3:0"
load "pass" "pass in on lan0 proto tcp to 10.9.0.2 port 7000 route-to { 10.2.0.2, 10.3.0.2 } least-states"
check "route-to least-states: connections alternate while none lives" grep -Eq '^[1-3]:[1-3]$' <<<"$(conns 4)"

# What pfd owns goes with pfctl -d and comes back with -e.
load "pass" "pass in on lan0 proto tcp to port 80 divert-to 127.0.0.1 port 3128" "pass in on lan0 route-to 10.3.0.2"
check "pfd's rules are in place" grep -q '^7066:' <<<"$(rules)"
pfctl -q -d
check "pfctl -d removes pfd's ip rules" bash -c "! grep -Eq '^706[67]:' <<<'$(rules)'"
check "pfctl -d removes pfd's tables" test -z "$(in_ns fw1 ip route show table 7066001)$(in_ns fw1 ip route show table 7066000)"
check "pfctl -d removes the TPROXY chain" bash -c "! ip netns exec $(ns fw1) iptables -t mangle -S PFD_TPROXY 2>/dev/null"
pfctl -q -e
check "pfctl -e puts them back" grep -q 'lookup 7066' <<<"$(rules)"
kill -TERM "$(daemon_pid fw1 pfd)"
for i in $(seq 50); do kill -0 "$(daemon_pid fw1 pfd)" 2>/dev/null || break; sleep 0.1; done
check "pfd's exit removes its ip rules" bash -c "! grep -Eq '^706[67]:' <<<'$(rules)'"
# A crash leaves them (and the hooks); pfctl -d without pfd lifts both.
check "pfd starts again" pfd_start fw1
pfctl -q -e
load "pass" "pass in on lan0 route-to 10.3.0.2"
kill -KILL "$(daemon_pid fw1 pfd)"
sleep 0.3
check "after a crash pfd's ip rules stay" grep -q '^7066:' <<<"$(rules)"
pfctl -q -d 2>/dev/null
check "pfctl -d without pfd removes them" bash -c "! grep -Eq '^706[67]:' <<<'$(rules)'"

summary
