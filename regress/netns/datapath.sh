#!/bin/bash
# The data path with large transfers: pfd takes GSO packets whole from
# NFQUEUE (up to 64 KB each, their checksums possibly left to the card),
# gives them back rewritten (nat-to), and cuts them into segments where it
# sends them itself (route-to after routing, dup-to, af-to); every transfer's
# bytes are checked end to end. Forwarded packets are queued once: pf's
# `out` pass runs at PREROUTING for the interface the kernel will route
# them to, and POSTROUTING lets them go by unqueued only there (a packet
# routed elsewhere is filtered `out` where it goes). Also: the kernel's
# drops are pf's `congestion` counter. Ends with "N passed, N failed".
#
#   client 10.1.0.2      -- int0 10.1.0.1 [fw] ext0 10.2.0.1 -- eth0 10.2.0.2 [srv]
#          2001:db8:1::2    2001:db8:1::1      ext1 10.3.0.1 -- eth1 10.3.0.2 (10.9.0.2 on lo)
#                                              dup0 10.4.0.1 -- 10.4.0.2 sniffer
#
# The firewall routes 10.9.0.0/24 through ext0; the server answers by ext0.

set -u
HERE=$(cd "$(dirname "$0")" && pwd)
P=${P:-pfgso$$}
source "$HERE/../lib/topo.sh"
source "$HERE/../lib/check.sh"
BULK="python3 $HERE/../lib/bulk.py"
SIZE=$((8 << 20))
cleanup() {
	[ -f "$RUN/fw.pfd.pid" ] && kill "$(cat "$RUN/fw.pfd.pid")" 2>/dev/null
	for n in cl fw srv sn; do
		ip netns pids "$(ns $n)" 2>/dev/null | xargs -r kill 2>/dev/null
		ip netns del "$(ns $n)" 2>/dev/null
	done
	rm -rf "$RUN"
}
trap cleanup EXIT
mkdir -p "$RUN"

for n in cl fw srv sn; do
	ip netns add "$(ns $n)"
	in_ns $n ip link set lo up
	in_ns $n sysctl -q -w net.ipv6.conf.default.accept_ra=0 net.ipv6.conf.all.accept_ra=0
	for k in all default; do
		in_ns $n sysctl -q -w net.ipv4.conf.$k.rp_filter=0
	done
done
in_ns sn sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
ip link add eth0 netns "$(ns cl)" type veth peer name int0 netns "$(ns fw)"
ip link add ext0 netns "$(ns fw)" type veth peer name eth0 netns "$(ns srv)"
ip link add ext1 netns "$(ns fw)" type veth peer name eth1 netns "$(ns srv)"
ip link add dup0 netns "$(ns fw)" type veth peer name eth0 netns "$(ns sn)"
addr() { in_ns "$1" ip addr add "$3" dev "$2" nodad 2>/dev/null || in_ns "$1" ip addr add "$3" dev "$2"; }
addr cl eth0 10.1.0.2/24
addr cl eth0 2001:db8:1::2/64
addr fw int0 10.1.0.1/24
addr fw int0 2001:db8:1::1/64
addr fw ext0 10.2.0.1/24
addr fw ext0 2001:db8:2::1/64
addr fw ext1 10.3.0.1/24
addr fw dup0 10.4.0.1/24
addr srv eth0 10.2.0.2/24
addr srv eth0 2001:db8:2::2/64
addr srv eth1 10.3.0.2/24
addr srv lo 10.9.0.2/32
addr sn eth0 10.4.0.2/24
for l in "cl eth0" "fw int0" "fw ext0" "fw ext1" "fw dup0" "srv eth0" "srv eth1" "sn eth0"; do
	in_ns ${l% *} ip link set ${l#* } up
done
for i in int0 ext0 ext1 dup0; do
	in_ns fw sysctl -q -w net.ipv4.conf.$i.rp_filter=0
done
in_ns cl ip route add default via 10.1.0.1
in_ns cl ip -6 route add default via 2001:db8:1::1
in_ns srv ip route add default via 10.2.0.1
in_ns srv ip -6 route add default via 2001:db8:2::1
in_ns fw sysctl -q -w net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
in_ns fw ip route add 10.9.0.0/24 via 10.2.0.2
sleep 1 # IPv6 addresses settle

# Byte counters: count NS NAME MATCH... / bytes NS NAME.
count() {
	local n=$1 name=$2
	shift 2
	in_ns "$n" iptables -t raw -A PREROUTING "$@" -m comment --comment "$name"
}
bytes() { in_ns "$1" iptables -t raw -L PREROUTING -vnx | awk -v c="/* $2 */" 'index($0, c) { print $2 }'; }
count srv eth0_data -i eth0 -p tcp --dport 7100
count srv eth1_data -i eth1 -p tcp --dport 7100
count sn dup_data -p tcp --dport 7100

pfctl() { in_fw fw "$BIN/pfctl" "$@"; }
load() { printf '%s\n' "$@" >"$RUN/pf.conf" && pfctl -q -f "$RUN/pf.conf" && pfctl -q -F states; }
# The average size of the packets rule N passed (GSO packets whole: more
# than the 1500-byte MTU).
rule_avg() { pfctl -vvsr | awk -v n="@$1" '$1 == n { f = 1; next } f && /Packets:/ { if ($5 > 0) print int($7 / $5); else print 0; exit }'; }
up() { in_ns cl timeout 60 $BULK up "$1" 7100 "$SIZE"; }
down() { in_ns cl timeout 60 $BULK down "$1" 7100 "$SIZE"; }

in_ns srv $BULK serve 7100 &
disown $!
sleep 0.5
rm -f "$RUN/fw.sock"
(PF_SOCKET="$RUN/fw.sock" exec ip netns exec "$(ns fw)" "$BIN/pfd" -d -D none >>"$RUN/fw.pfd.log" 2>&1) &
echo $! >"$RUN/fw.pfd.pid"
disown $!
for i in $(seq 100); do [ -S "$RUN/fw.sock" ] && break; sleep 0.05; done
check "pfd starts" test -S "$RUN/fw.sock"
check "pf enables" pfctl -q -e

load "block" "pass proto tcp to port 7100" "pass inet6 proto ipv6-icmp"
out=$(up 10.2.0.2)
check "8 MB up through pf arrive intact ($out)" test "$out" = "ok 10.1.0.2"
out=$(down 10.2.0.2)
check "8 MB down through pf arrive intact ($out)" test "$out" = ok
avg=$(rule_avg 1)
check "pf saw GSO packets whole (average $avg bytes a packet)" test "$avg" -gt 1500
out=$(in_ns cl timeout 60 $BULK up 2001:db8:2::2 7100 "$SIZE")
check "IPv6: 8 MB up arrive intact ($out)" test "$out" = "ok 2001:db8:1::2"

load "block" "pass proto tcp to port 7100" "match out on ext0 nat-to (ext0)"
out=$(up 10.2.0.2)
check "nat-to: 8 MB up arrive intact, rewritten GSO packets given back ($out)" test "$out" = "ok 10.2.0.1"
out=$(down 10.2.0.2)
check "nat-to: 8 MB down arrive intact ($out)" test "$out" = ok

# route-to on an outbound rule: pfd sends the packets again itself, in
# segments the kernel cut for it.
load "pass" "pass out on ext0 proto tcp to 10.9.0.2 port 7100 route-to 10.3.0.2"
b0=$(bytes srv eth0_data) b1=$(bytes srv eth1_data)
out=$(up 10.9.0.2)
d0=$(($(bytes srv eth0_data) - b0)) d1=$(($(bytes srv eth1_data) - b1))
check "route-to (out): 8 MB up arrive intact ($out)" test "$out" = "ok 10.1.0.2"
check "route-to (out): the data took ext1 ($d1 bytes), not ext0 ($d0)" test "$d1" -gt "$SIZE" -a "$d0" -lt 100000
avg=$(rule_avg 1)
check "route-to (out): the rule saw GSO packets whole (average $avg bytes)" test "$avg" -gt 1500

# dup-to: a copy of each segment to the sniffer, the original whole.
load "pass" "pass in on int0 proto tcp to port 7100 dup-to 10.4.0.2"
b=$(bytes sn dup_data)
out=$(up 10.2.0.2)
d=$(($(bytes sn dup_data) - b))
check "dup-to: 8 MB up arrive intact ($out)" test "$out" = "ok 10.1.0.2"
check "dup-to: the sniffer got a copy of all of it ($d bytes)" test "$d" -gt "$SIZE"

# af-to: IPv6 clients reach the IPv4 server through 64:ff9b::/96, both ways.
load "pass" "pass in on int0 inet6 from any to 64:ff9b::/96 af-to inet from 10.2.0.1"
out=$(in_ns cl timeout 60 $BULK up 64:ff9b::a02:2 7100 "$SIZE")
check "af-to: 8 MB up over NAT64 arrive intact ($out)" test "$out" = "ok 10.2.0.1"
out=$(in_ns cl timeout 60 $BULK down 64:ff9b::a02:2 7100 "$SIZE")
check "af-to: 8 MB down over NAT64 arrive intact ($out)" test "$out" = ok
avg=$(rule_avg 1)
check "af-to: the rule saw GSO packets whole (average $avg bytes)" test "$avg" -gt 1500

# Queued once: POSTROUTING's rule for ext0 lets the predicted packets by
# (those of flows the fast path forwards itself do not get there).
fwd_tc() { pfctl -vsi | awk '/^  forwarded by the program / { print $5; exit }'; }
post() { in_ns fw iptables -t mangle -L PFD_POST -vnx | awk -v w="$1" '$3 == w && (w != "RETURN" || $7 == "ext0") { n += $1 } END { print n + 0 }'; }
load "block" "pass proto tcp to port 7100"
r0=$(post RETURN) q0=$(post NFQUEUE) f0=$(fwd_tc)
out=$(up 10.2.0.2)
r=$(($(post RETURN) - r0)) qd=$(($(post NFQUEUE) - q0)) f=$(($(fwd_tc) - f0))
check "queued once: $r packets skipped POSTROUTING's queue on ext0, $f were forwarded at TC ingress by the fast path (no POSTROUTING), $qd queued there ($out)" test "$out" = "ok 10.1.0.2" -a "$((r + f))" -gt 100 -a "$qd" -lt "$(((r + f) / 10))"
check "queued once: the packets were filtered out on ext0 all the same (states on both sides)" test "$(pfctl -ss | grep -c ':7100 ')" -ge 1
load "block" "pass in proto tcp to port 7100" "pass out on int0 proto tcp" "block out on ext0 proto tcp to port 7100"
out=$(up 10.2.0.2)
check "queued once: block out on ext0 stops the packets ($out)" test "$out" != "ok 10.1.0.2"

# The system's own rules between pfd's hooks (a mark set in mangle
# PREROUTING, after pfd's verdict, routes by table 100 through ext1): pf
# cannot know where such packets go when they come in, and filters them
# `out` at POSTROUTING, where they really leave.
in_ns fw ip route add 10.9.0.0/24 via 10.3.0.2 table 100
in_ns fw ip rule add fwmark 0x40000/0x40000 lookup 100 pref 100
in_ns fw iptables -t mangle -A PREROUTING -p tcp --dport 7100 -d 10.9.0.2 -j MARK --or-mark 0x40000
sleep 0.1
load "pass" "block out on ext1 proto tcp to port 7100"
out=$(up 10.9.0.2)
check "rerouted by the system's rules: block out on the real interface (ext1) applies ($out)" test "$out" != "ok 10.1.0.2"
load "pass"
b0=$(bytes srv eth0_data) b1=$(bytes srv eth1_data) q0=$(post NFQUEUE)
out=$(up 10.9.0.2)
d0=$(($(bytes srv eth0_data) - b0)) d1=$(($(bytes srv eth1_data) - b1)) qd=$(($(post NFQUEUE) - q0))
check "rerouted by the system's rules: passed, 8 MB arrive intact by ext1 ($out, $d1 bytes on ext1, $d0 on ext0)" test "$out" = "ok 10.1.0.2" -a "$d1" -gt "$SIZE"
check "rerouted by the system's rules: the packets were queued at POSTROUTING ($qd)" test "$qd" -gt 100
in_ns fw iptables -t mangle -D PREROUTING -p tcp --dport 7100 -d 10.9.0.2 -j MARK --or-mark 0x40000
in_ns fw ip rule del pref 100
sleep 0.1
r0=$(post RETURN) q0=$(post NFQUEUE) f0=$(fwd_tc)
out=$(up 10.2.0.2)
r=$(($(post RETURN) - r0)) qd=$(($(post NFQUEUE) - q0)) f=$(($(fwd_tc) - f0))
check "without them, queued once again ($r skipped, $f forwarded at TC ingress, $qd queued; $out)" test "$out" = "ok 10.1.0.2" -a "$((r + f))" -gt 100 -a "$qd" -lt "$(((r + f) / 10))"

check "pfctl -si shows the congestion counter (kernel drops)" grep -Eq '^  congestion +[0-9]+ ' <<<"$(pfctl -si)"

summary
