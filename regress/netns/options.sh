#!/bin/bash
# The basics of pf.conf that no other suite shows with real packets, one
# option at a time, so that regress/options.tsv can name a check for every
# word of the language: set block-policy, hostid, debug, timeouts (global
# and per rule), state-defaults and per-rule max, self, address ranges,
# :network / :broadcast / :0 / :peer, return-rst (ttl), return-icmp and
# return-icmp6 codes, antispoof, inet / inet6, icmp-type and icmp6-type
# with codes, modulate state, no state, no-sync, include, group, binat-to, log,
# set limit tables. Ends with "N passed, N failed".
#
#   client 10.1.0.2 -- int0 10.1.0.1 [fw] ext0 10.2.0.1 -- 10.2.0.2 server
#          2001:db8:1::2     ::1          2001:db8:2::1  -- ::2 (also .3 .4)

set -u
P=${P:-pfo$$}
source "$(dirname "$0")/../lib/suite.sh"

netns_add cl fw srv
no_ra
all_ns sysctl -q -w net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0
line_up fw inet6
addr fw int0 10.1.0.100/24
addr srv eth0 10.2.0.3/24 10.2.0.4/24
route srv 10.1.0.0/24 10.2.0.1
route srv default 2001:db8:2::1
# binat-to's public address: the server reaches it through the firewall.
in_ns srv ip neigh replace 10.2.0.50 lladdr "$(in_ns fw cat /sys/class/net/ext0/address)" dev eth0
sleep 1 # IPv6 addresses settle

# ping from a namespace: exit 0 when answered.
pings() { in_ns "$1" ping -c 1 -W 1 "${@:2}" >/dev/null 2>&1; }
udp() { in_ns "$1" timeout 10 python3 "$LIB/errprobe.py" udp "${@:2}"; }
udp_error() { in_ns cl timeout 10 python3 "$LIB/errprobe.py" udp-error "$@"; }
# Capture on a namespace's interface in the background into $RUN/$3.
sniff() {
	in_ns "$1" python3 "$LIB/sniff.py" "$2" "$4" >"$RUN/$3" 2>"$RUN/$3.err" &
	for _ in $(seq 50); do grep -q ready "$RUN/$3.err" 2>/dev/null && break; sleep 0.05; done
}
has_state() { pfctl -ss | grep -q "$1"; }

serve srv python3 "$LIB/errprobe.py" echo-server 7001 7002
serve srv python3 "$LIB/tcpprobe.py" server 80
wait_listen srv 80
check "pfd starts" pfd_start fw
check "pf enables" pfctl -q -e
load "pass"
check "sanity: TCP to the server" test "$(tcp 10.2.0.2 80)" = 0

# set block-policy: what a plain block does.
load "set block-policy return" "block in quick on int0 proto tcp to port 81" "pass"
r=$(tcp 10.2.0.2 81)
check "set block-policy return: a blocked connection is reset at once (exit $r)" test "$r" = 1
load "set block-policy drop" "block in quick on int0 proto tcp to port 81" "pass"
r=$(tcp 10.2.0.2 81)
check "set block-policy drop: a blocked connection times out (exit $r)" test "$r" = 124

# set hostid, set debug.
load "set hostid 0x1234abcd" "set debug notice" "pass"
check "set hostid: -vsi shows it" grep -q 'Hostid:   0x1234abcd' <<<"$(pfctl -vsi)"
check "set debug notice: -si shows it" grep -q 'Debug: notice' <<<"$(pfctl -si)"

# Timeouts: global, then the rule's own.
load "set timeout { udp.first 2, udp.single 2, udp.multiple 2, interval 1 }" "pass"
udp cl 10.2.0.2 7001 1 >/dev/null
check "set timeout udp.* 2: the datagram made a state" has_state ':7001 '
sleep 4
check "set timeout udp.* 2: the state is gone 4 s later" fails has_state ':7001 '
load "set timeout interval 1" "pass in on int0 proto udp keep state (udp.first 2, udp.single 2, udp.multiple 2)" "pass out no state" "pass in on ext0 no state"
udp cl 10.2.0.2 7001 1 >/dev/null
check "a rule's own udp timeouts: the state exists" has_state ':7001 '
check "a rule's own udp timeouts: -vvss shows no other state" test "$(pfctl -ss | grep -c 7001)" = 1
sleep 4
check "a rule's own udp timeouts: the state is gone 4 s later" fails has_state ':7001 '

# Per-rule max and set state-defaults: the third flow makes no state.
three_flows() {
	local a b c
	a=$(udp cl 10.2.0.2 7001 1)
	b=$(udp cl 10.2.0.2 7001 1)
	c=$(udp cl 10.2.0.2 7001 1)
	echo "$a/$b/$c"
}
load "block in on int0 proto udp" "pass in on int0 proto udp to port 7001 keep state (max 2)" "pass out"
out=$(three_flows)
check "keep state (max 2): two flows pass, the third is blocked ($out)" test "$out" = "sent=1 echoed=1/sent=1 echoed=1/sent=1 echoed=0"
pfctl -q -F states
load "set state-defaults max 2" "block in on int0 proto udp" "pass in on int0 proto udp to port 7001" "pass out no state" "pass in on ext0 no state"
out=$(three_flows)
check "set state-defaults max 2: two flows pass, the third is blocked ($out)" test "$out" = "sent=1 echoed=1/sent=1 echoed=1/sent=1 echoed=0"
pfctl -q -F states

# Addresses: self, ranges, :network, :0, :broadcast, :peer.
load "block in on int0" "pass in on int0 inet proto icmp to self" "pass out"
check "to self: int0's address answers" pings cl 10.1.0.1
check "to self: ext0's address answers too" pings cl 10.2.0.1
check "to self: the server beyond is blocked" fails pings cl 10.2.0.2
load "block in quick on int0 proto icmp to 10.2.0.3 - 10.2.0.4" "pass"
check "address range: 10.2.0.2 is outside and answers" pings cl 10.2.0.2
check "address range: 10.2.0.3 is blocked" fails pings cl 10.2.0.3
check "address range: 10.2.0.4 is blocked" fails pings cl 10.2.0.4
load "block in quick on int0 inet proto icmp to ext0:network" "pass"
check "ext0:network: the server's network is blocked" fails pings cl 10.2.0.2
check "ext0:network: int0's own address is not in it" pings cl 10.1.0.1
load "block in on int0 inet proto icmp" "pass in on int0 inet proto icmp to (int0:0)" "pass out"
check "(int0:0): int0's first address answers" pings cl 10.1.0.1
check "(int0:0): its second address is left out" fails pings cl 10.1.0.100
bcast() {
	in_ns fw timeout 4 python3 -c "import socket;s=socket.socket(2,2);s.bind(('',7009));s.settimeout(2);s.recv(9);print('got')" >"$RUN/bcast" 2>/dev/null &
	local p=$!
	sleep 0.3
	in_ns cl python3 -c "import socket,time;s=socket.socket(2,2);s.setsockopt(1,6,1);[s.sendto(b'x',('10.1.0.255',7009)) or time.sleep(0.1) for i in range(5)]"
	wait $p
	grep -q got "$RUN/bcast"
}
load "block in quick on int0 proto udp to int0:broadcast port 7009" "pass"
check "int0:broadcast: a broadcast datagram to the firewall is blocked" fails bcast
load "pass"
check "int0:broadcast: without the rule it arrives" bcast

# :peer, the far end of a point-to-point link: a tun device whose reader
# plays the peer.
in_ns fw ip tuntap add dev tun0 mode tun
in_ns fw ip addr add 10.6.0.1 peer 10.6.0.2 dev tun0
in_ns fw ip link set tun0 up
peer_gets() {
	in_ns fw python3 "$LIB/sniff.py" --tun tun0 2 >"$RUN/tun" 2>"$RUN/tun.err" &
	for _ in $(seq 50); do grep -q ready "$RUN/tun.err" 2>/dev/null && break; sleep 0.05; done
	in_ns fw ping -c 1 -W 1 10.6.0.2 >/dev/null 2>&1
	wait
	grep -q 'proto=icmp src=10.6.0.1 dst=10.6.0.2 .*type=8' "$RUN/tun"
}
load "block out quick on tun0 inet proto icmp to tun0:peer" "pass"
check "tun0:peer resolves to the peer address" grep -q 'block drop out quick on tun0 inet proto icmp from any to 10.6.0.2' <<<"$(pfctl -sr)"
check "tun0:peer: the echo request to the peer is blocked" fails peer_gets
load "pass"
check "tun0:peer: without the rule the peer gets it" peer_gets

# Return forms with their options.
load "block return-rst (ttl 7) in quick on int0 proto tcp to port 82" "pass"
sniff cl eth0 rst 3
r=$(tcp 10.2.0.2 82)
wait
check "return-rst (ttl 7): the connection is reset (exit $r)" test "$r" = 1
check "return-rst (ttl 7): the RST arrives with TTL 7" grep -Eq 'proto=tcp src=10.2.0.2 sport=82 .* ttl=7 flags=R' "$RUN/rst"
load "block return-icmp (net-unr) in quick on int0 proto udp to port 7002" "pass"
out=$(udp_error 10.2.0.2 7002 64)
check "return-icmp (net-unr): network unreachable comes back ($out)" grep -q 'type=3 code=0' <<<"$out"
load "block return-icmp6 (port-unr) in quick on int0 inet6 proto udp to port 7002" "pass"
out=$(udp_error 2001:db8:2::2 7002 64)
check "return-icmp6 (port-unr): port unreachable comes back ($out)" grep -q 'type=1 code=4' <<<"$out"

# antispoof.
load "pass" "antispoof quick for int0"
# The genuine ping first: it also gives the server its neighbour entry.
check "antispoof quick for int0: the server's own address still passes" pings srv 10.2.0.1
in_ns srv ip addr add 10.1.0.77/32 dev eth0
pings srv -I 10.1.0.77 10.2.0.1
spoofed=$(pfctl -vsr | grep -A1 'from 10.1.0.0/24' | grep -Eo 'Packets: [0-9]+' | head -1)
check "antispoof quick for int0: int0's network arriving on ext0 is blocked ($spoofed)" test "${spoofed#Packets: }" -gt 0
in_ns srv ip addr del 10.1.0.77/32 dev eth0

# Address families and ICMP types.
load "block in quick on int0 inet proto icmp" "pass"
check "inet: ping is blocked" fails pings cl 10.2.0.2
check "inet: ping6 still passes" pings cl 2001:db8:2::2
load "block in quick on int0 inet6 proto icmp6 icmp6-type echoreq code 0" "pass"
check "inet6 icmp6-type echoreq code 0: ping6 is blocked" fails pings cl 2001:db8:2::2
check "inet6 icmp6-type echoreq: ping still passes" pings cl 10.2.0.2
load "block in quick on int0 inet proto icmp icmp-type echoreq code 0" "pass"
check "icmp-type echoreq code 0: ping is blocked" fails pings cl 10.2.0.2
out=$(udp cl 10.2.0.2 7001 1)
check "icmp-type echoreq code 0: UDP still passes ($out)" test "$out" = "sent=1 echoed=1"

# modulate state: the server sees another initial sequence number.
load "pass in on int0 proto tcp modulate state" "pass out on ext0 proto tcp no state" "pass in on ext0 proto tcp no state" "pass out on int0 proto tcp no state"
sniff cl eth0 isn_cl 2
sniff srv eth0 isn_srv 2
r=$(tcp 10.2.0.2 80)
wait
a=$(grep -m1 'dport=80 .*flags=S ' "$RUN/isn_cl" | grep -o 'seq=[0-9]*')
b=$(grep -m1 'dport=80 .*flags=S ' "$RUN/isn_srv" | grep -o 'seq=[0-9]*')
check "modulate state: the connection works (exit $r)" test "$r" = 0
check "modulate state: the server sees another initial sequence number ($a, $b)" test -n "$a" -a -n "$b" -a "$a" != "$b"

# no state: packets pass, nothing is kept.
pfctl -q -F states
load "pass no state"
out=$(udp cl 10.2.0.2 7001 1)
check "no state: the datagrams pass both ways ($out)" test "$out" = "sent=1 echoed=1"
check "no state: no state is made" fails has_state ':7001 '

# include, group, log.
echo "block in quick on int0 inet proto icmp" >"$RUN/inc.conf"
load "include \"$RUN/inc.conf\"" "pass"
check "include: the included file's rule applies" fails pings cl 10.2.0.2
load "block out quick proto udp group nogroup" "pass"
out=$(in_ns fw timeout 10 setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 "$LIB/errprobe.py" udp 10.2.0.2 7001 1)
check "group nogroup: a datagram of the group is blocked ($out)" test "$out" = "sent=1 echoed=0"
out=$(udp fw 10.2.0.2 7001 1)
check "group nogroup: root's datagram passes ($out)" test "$out" = "sent=1 echoed=1"
load "block in log quick on int0 inet proto icmp" "pass"
pings cl 10.2.0.2
sleep 0.5
check "log: the blocked ping is logged" grep -q '/(match) block in on int0: 10.1.0.2 > 10.2.0.2: icmp' "$RUN/fw.pfd.log"

# binat-to: both directions.
pfctl -q -F states
load "match on ext0 inet from 10.1.0.2 binat-to 10.2.0.50" "pass"
sniff srv eth0 binat 2
out=$(udp cl 10.2.0.2 7001 1)
wait
check "binat-to: the client's datagrams leave as 10.2.0.50 ($out)" grep -q 'proto=udp src=10.2.0.50 .* dst=10.2.0.2 dport=7001' "$RUN/binat"
check "binat-to: a ping to 10.2.0.50 from outside reaches the client" pings srv 10.2.0.50

# no-sync: pfsyncd sends the other states to the sync link, not these.
pfsyncd_start fw
carpctl pfsync0 syncdev ext0 up
pfctl -q -F states
load "pass out on ext0 proto pfsync" "pass in on int0 proto udp to port 7001 keep state (no-sync)" "pass in on int0 proto udp to port 7002" "pass out on ext0 proto udp no state" "pass in on ext0 proto udp no state"
sleep 1.5
sniff srv eth0 sync 4
udp cl 10.2.0.2 7001 1 >/dev/null
sleep 1.5 # pfsync's 1 s timer sends what is pending
# INS (13) sections: new states announced.
inserts() { grep -Eo 'actions=.*' "$RUN/sync" | grep -Eo '(^|=|,)13:[0-9]+' | grep -Eo '[0-9]+$' | awk '{ n += $1 } END { print n + 0 }'; }
n1=$(inserts)
udp cl 10.2.0.2 7002 1 >/dev/null
wait
n2=$(inserts)
check "keep state (no-sync): its state is not sent to the pfsync peer ($n1 inserts)" test "$n1" -eq 0
check "keep state: the other rule's state is sent ($((n2 - n1)) inserts)" test "$((n2 - n1))" -gt 0
kill "$(daemon_pid fw pfsyncd)" 2>/dev/null

# set limit tables.
printf '%s\n' "set limit tables 1" "table <a> persist { 10.9.0.1 }" "table <b> persist { 10.9.0.2 }" "pass" >"$RUN/two.conf"
check "set limit tables 1: a ruleset with two tables is refused" fails pfctl -q -f $RUN/two.conf 2>/dev/null

summary
