#!/bin/bash
# The rest of rule evaluation with real packets: tag / tagged from the in
# pass to the out pass and on states, once, probability, max-pkt-rate,
# pfctl -s labels, -k label|id|key, -x, -S/-L, set optimization, and ICMP /
# ICMPv6 errors through NAT (time exceeded from a router behind the NAT,
# port unreachable from the server), neighbour discovery states. Ends with "N passed, N failed".
#
#   client 10.1.0.2 -- int0 10.1.0.1 [fw] ext0 10.2.0.1 -- 10.2.0.254 [rt] 10.3.0.1 -- 10.3.0.2 server
#          2001:db8:1::2     ::1        2001:db8:2::1   -- 2001:db8:2::fe   2001:db8:3::1 -- 2001:db8:3::2

set -u
P=${P:-pfx$$}
source "$(dirname "$0")/../lib/suite.sh"
PROBE="$LIB/errprobe.py"

netns_add cl fw rt srv
no_ra
# Every probe gets its ICMP error, however fast they follow each other.
all_ns sysctl -q -w net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0
veth cl eth0 fw int0
veth fw ext0 rt eth0
veth rt eth1 srv eth0
addr cl eth0 10.1.0.2/24 2001:db8:1::2/64
addr fw int0 10.1.0.1/24 2001:db8:1::1/64
addr fw ext0 10.2.0.1/24 2001:db8:2::1/64
addr rt eth0 10.2.0.254/24 2001:db8:2::fe/64
addr rt eth1 10.3.0.1/24 2001:db8:3::1/64
addr srv eth0 10.3.0.2/24 2001:db8:3::2/64
route cl default 10.1.0.1
route cl default 2001:db8:1::1
route fw default 10.2.0.254
route fw default 2001:db8:2::fe
route rt 10.1.0.0/24 10.2.0.1
route rt 2001:db8:1::/64 2001:db8:2::1
route srv default 10.3.0.1
route srv default 2001:db8:3::1
forwarding fw
forwarding rt
sleep 1 # IPv6 addresses settle

probe() { local n=$1; shift; in_ns "$n" timeout 20 python3 "$PROBE" "$@"; }

serve srv python3 "$PROBE" echo-server 7001 7002 7003 7004 7005
check "pfd starts" pfd_start fw
check "pf enables" pfctl -q -e
sleep 0.3
check "sanity: the server answers through both routers" grep -q 'echoed=1' <<<"$(probe cl udp 10.3.0.2 7005 1)"

# --- tag / tagged -----------------------------------------------------------
ND='pass quick inet6 proto icmp6 icmp6-type { neighbrsol, neighbradv } no state'
load 'set skip on lo' "$ND" \
	'block out on ext0 inet proto udp label "blockout"' \
	'pass in on int0 proto udp to port 7001 tag GOOD label "good"' \
	'pass in on int0 proto udp to port 7002 label "untagged"' \
	'pass out on ext0 tagged GOOD no state label "tagged-out"' \
	'pass out on ext0 proto udp to port 7005' \
	'pass in on int0 proto icmp'
out=$(probe cl udp 10.3.0.2 7001 5)
check "tag: the in pass tags, the out pass lets tagged packets through ($out)" grep -q 'echoed=5' <<<"$out"
out=$(probe cl udp 10.3.0.2 7002 3)
check "tagged: the out pass blocks what the in pass did not tag ($out)" grep -q 'echoed=0' <<<"$out"
vsr=$(pfctl -vsr)
echo "$vsr" | sed 's/^/# /'
# The out rule keeps no state: every one of the 5 datagrams was matched by
# it, tagged by the in-state after the first one.
check "-sr prints tag and tagged as pfctl does" grep -qx 'pass out on ext0 all no state label "tagged-out" tagged GOOD' <<<"$vsr"
check "the state's tag is on every later packet (the stateless tagged out rule matched all 5)" \
	bash -c "grep -A1 'label \"tagged-out\"' <<<'$vsr' | grep -Eq 'Packets: 5 '"
check "the tagging in rule made one state that carried the rest (5 out, 5 back)" \
	bash -c "grep -A1 'label \"good\" tag GOOD' <<<'$vsr' | grep -Eq 'Packets: 10 +Bytes: [0-9]+ +States: 1 '"
vss=$(pfctl -vss)
check "-vss shows the state's tag" grep -Eq '^   age .*, rule [0-9]+, tag GOOD$' <<<"$vss"
sl=$(pfctl -s labels)
echo "$sl" | sed 's/^/# /'
check "-s labels prints OpenBSD's nine columns" grep -Eq '^good [0-9]+ 10 [0-9]+ 5 [0-9]+ 5 [0-9]+ 1$' <<<"$sl"
check "-s labels counts the blocked packets" grep -Eq '^blockout [0-9]+ 3 [0-9]+ 0 0 3 [0-9]+ 0$' <<<"$sl"
check "-s labels lists each labelled rule" test "$(wc -l <<<"$sl")" -eq 4

# --- -k label / id / key ----------------------------------------------------
probe cl udp 10.3.0.2 7005 1 >/dev/null
n1=$(pfctl -ss | grep -c ':7001 ')
k=$(pfctl -k label -k good 2>&1)
check "-k label kills the states of that rule ($k)" \
	bash -c "[ '$k' = 'killed $n1 states' ] && [ $n1 -gt 0 ] && ! pfctl -ss | grep -q ':7001 '"
check "-k label leaves the other states" bash -c "pfctl -ss | grep -q ':7005 '"
id=$(pfctl -vvss | grep -A3 ':7005 ' | awk '/id:/ { printf("%s/%s", $2, $4); exit }')
k=$(pfctl -k id -k "$id" 2>&1)
check "-k id kills that state ($id: $k)" test "$k" = "killed 1 states"
k=$(pfctl -k id -k "$id" 2>&1)
check "-k id again kills nothing ($k)" test "$k" = "killed 0 states"
check "-k id without an id is a usage error" bash -c "pfctl -k id 2>&1 | grep -qx 'pfctl: no id specified'"
probe cl udp 10.3.0.2 7001 1 >/dev/null
key=$(pfctl -ss | awk '$2 == "udp" && $3 ~ /:7001$/ && $4 == "<-" { print "udp " $3 " <- " $5; exit }')
k=$(pfctl -k key -k "$key" 2>&1)
check "-k key kills the connection written as -ss writes it ($key: $k)" test "$k" = "killed 1 states"
k=$(pfctl -k key -k "udp 10.1.0.2:1 => 10.3.0.2:2" 2>&1)
check "-k key with a bad direction is refused ($k)" test "$k" = "pfctl: invalid direction: =>"

# --- -S / -L ------------------------------------------------------------------
probe cl udp 10.3.0.2 7005 1 >/dev/null
n=$(pfctl -ss | wc -l)
pfctl -S "$RUN/states"
check "-S writes 264-byte pfsync_state records" test "$(stat -c %s "$RUN/states")" -eq $((n * 264))
pfctl -q -F states
pfctl -L "$RUN/states"
check "-L puts the stored states back ($n)" test "$(pfctl -ss | wc -l)" -eq "$n"

# --- -x -----------------------------------------------------------------------
x=$(pfctl -x notice 2>&1)
check "-x sets the debug level ($x)" test "$x" = "debug level set to 'notice'"
check "-si shows it" bash -c "pfctl -si | grep -Eq 'Debug: notice$'"
x=$(pfctl -x loud 2>&1)
check "-x with an unknown level is refused" grep -q "pfctl: Unknown debug level 'loud'" <<<"$x"

# --- once ---------------------------------------------------------------------
pfctl -q -F states
load 'set skip on lo' "$ND" 'block in on int0 proto udp' 'pass in on int0 proto udp to port 7003 once'
out=$(probe cl udp 10.3.0.2 7003 3)
check "once: the first connection passes, all of it ($out)" grep -q 'echoed=3' <<<"$out"
check "once: -sr hides the fired rule" bash -c "! pfctl -sr | grep -q once"
check "once: -vvsr shows it # expired" bash -c "pfctl -vvsr | grep -qx '@[0-9]* pass in on int0 proto udp from any to any port = 7003 once # expired'"
out=$(probe cl udp 10.3.0.2 7003 2)
check "once: a second connection is blocked ($out)" grep -q 'echoed=0' <<<"$out"

# --- probability, max-pkt-rate ------------------------------------------------
pfctl -q -F states
load 'set skip on lo' "$ND" 'block in on int0 proto udp' \
	'pass in on int0 proto udp to port 7003 probability 50% no state' \
	'pass in on int0 proto udp to port 7004 max-pkt-rate 20/100 no state'
out=$(probe cl udp 10.3.0.2 7003 400 1)
e=$(sed -n 's/.*echoed=\([0-9]*\).*/\1/p' <<<"$out")
# 400 draws at 50%: mean 200, standard deviation 10; 140..260 is six of them.
check "probability 50%: about half of 400 pass ($e)" test "${e:-0}" -ge 140 -a "${e:-0}" -le 260
out=$(probe cl udp 10.3.0.2 7004 40 5)
check "max-pkt-rate 20/100: 20 of a burst of 40 pass ($out)" grep -q 'echoed=20' <<<"$out"

# --- set optimization ---------------------------------------------------------
load 'set optimization aggressive' 'pass'
check "set optimization aggressive sets pfctl's timeouts" bash -c "pfctl -st | grep -qx 'tcp.established           18000s'"

# --- os fingerprints -----------------------------------------------------------
for port in 7101 7102 7103; do
	serve srv python3 "$LIB/tcpprobe.py" server $port
done
cat >"$RUN/test.os" <<'OS'
# window:ttl:df:size:options:class:version:subtype:description
*:64:1:60:M*,S,T,N,W*:Testix:1.0::a Linux SYN as this suite's client sends it
*:128:1:52:M*,N,W8,N,N,S:Windows:10::not the client
bad:64:1:60:.:Broken:1::a line pfctl skips
OS
pfctl -q -F states
out=$(load "set fingerprints \"$RUN/test.os\"" 'set skip on lo' "$ND" 'block in on int0 proto tcp' \
	'pass in on int0 proto tcp from any os "Testix" to port 7101' \
	'pass in on int0 proto tcp from any os "Windows" to port 7102' \
	'pass in on int0 proto tcp from any os unknown to port 7103' 2>&1)
check "set fingerprints loads the file, reporting the bad line ($out)" grep -qx "$RUN/test.os:4 non-digit character in window size" <<<"$out"
tcp_try() {
	in_ns cl timeout 6 python3 -c '
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2); print("connected")
except OSError as e: print("failed")' "$@"
}
sleep 0.3
r=$(tcp_try 10.3.0.2 7101)
check "os \"Testix\": the client's SYN carries that fingerprint, it connects ($r)" test "$r" = connected
r=$(tcp_try 10.3.0.2 7102)
check "os \"Windows\": not the client's, blocked ($r)" test "$r" = failed
r=$(tcp_try 10.3.0.2 7103)
check "os unknown: the client's SYN is known, blocked ($r)" test "$r" = failed
so=$(pfctl -s osfp)
echo "$so" | sed 's/^/# /'
check "-s osfp lists the loaded classes, versions and subtypes" bash -c "grep -qx 'Testix	1.0	' <<<'$so' && grep -qx 'Windows	10	' <<<'$so' && head -1 <<<'$so' | grep -qx 'Class	Version	Subtype(subversion)'"
check "-sr shows the os of a rule" bash -c "pfctl -sr | grep -q 'from any os \"Testix\" to any port = 7101'"
pfctl -F osfp
r=$(tcp_try 10.3.0.2 7103)
check "-F osfp: without fingerprints every SYN is unknown ($r)" test "$r" = connected
r=$(tcp_try 10.3.0.2 7101)
check "-F osfp: and os \"Testix\" matches nothing ($r)" test "$r" = failed

# --- neighbour discovery states ---------------------------------------------
# icmp6.sh:repeat: only solicitations pass by rule. A solicitation goes to
# the target's solicited-node group, the advertisement comes back unicast
# from the target: pf keys the state by the target, so it matches.
load 'set skip on lo' 'block all' \
	'pass quick inet6 proto ipv6-icmp icmp6-type neighbrsol keep state (if-bound)'
for i in 1 2 3; do
	in_ns cl ip -6 neigh flush dev eth0
	in_ns cl ping -6 -c 1 -W 1 2001:db8:1::1 >/dev/null 2>&1
	nb=$(in_ns cl ip -6 neigh show 2001:db8:1::1 dev eth0)
	check "ND $i: the advertisement answering the solicitation passes by its state ($nb)" grep -q lladdr <<<"$nb"
done
ss=$(pfctl -vss)
echo "$ss" | sed 's/^/# /'
check "ND: one if-bound state, keyed by the target, not the multicast group" \
	grep -Eq '^int0 ipv6-icmp 2001:db8:1::1\[135\] <- 2001:db8:1::2\[[0-9]+\] ' <<<"$ss"
check "ND: the state carried the solicitations and the advertisements (3:3)" \
	grep -Eq '^   age .*, 3:3 pkts, ' <<<"$ss"
check "ND: no state for the solicited-node group" bash -c "! grep -q 'ff02::1:ff' <<<'$ss'"
load 'set skip on lo' 'block all' \
	'pass quick inet6 proto ipv6-icmp icmp6-type neighbrsol no state'
pfctl -q -F states
in_ns cl ip -6 neigh flush dev eth0
in_ns cl ping -6 -c 1 -W 1 2001:db8:1::1 >/dev/null 2>&1
nb=$(in_ns cl ip -6 neigh show 2001:db8:1::1 dev eth0)
check "ND: without the state the advertisement is blocked ($nb)" bash -c "! grep -q lladdr <<<'$nb'"

# --- ICMP errors through NAT --------------------------------------------------
pfctl -q -F states
load 'set skip on lo' "$ND" 'block' 'block in on ext0 inet proto icmp label "icmp-in"' 'pass in on int0' \
	'pass out on ext0 inet from int0:network nat-to ext0' \
	'pass out on ext0 inet6 from int0:network nat-to 2001:db8:2::1'
out=$(probe cl udp-error 10.3.0.2 33434 2)
check "UDP, TTL exceeded at the router behind the NAT reaches the client ($out)" test "$out" = "type=11 code=0 from=10.2.0.254"
out=$(probe cl udp-error 10.3.0.2 9999 8)
check "UDP, port unreachable from the server reaches the client ($out)" test "$out" = "type=3 code=3 from=10.3.0.2"
out=$(probe cl icmp-error 10.3.0.2 2)
check "ping, TTL exceeded comes back with the client's own echo id ($out)" test "$out" = "type=11 from=10.2.0.254 id_ok=1 seq_ok=1"
out=$(probe cl udp-error 2001:db8:3::2 33434 2)
check "IPv6 UDP, hop limit exceeded behind the NAT reaches the client ($out)" test "$out" = "type=3 code=0 from=2001:db8:2::fe"
out=$(probe cl udp-error 2001:db8:3::2 9999 8)
check "IPv6 UDP, port unreachable reaches the client ($out)" test "$out" = "type=1 code=4 from=2001:db8:3::2"
out=$(probe cl icmp-error 2001:db8:3::2 2)
check "IPv6 ping, time exceeded quotes the client's own id ($out)" test "$out" = "type=3 from=2001:db8:2::fe id_ok=1 seq_ok=1"
ss=$(pfctl -ss)
check "the NAT states exist (errors made none of their own)" bash -c "! grep -q 'icmp.* 10\.2\.0\.254' <<<'$ss'"
check "the errors above matched their states, none reached the rules" bash -c "pfctl -s labels | grep -Eq '^icmp-in [0-9]+ 0 '"
# forged_unreach SRC SPORT: from rt, a port unreachable to the NAT address
# quoting a UDP datagram SRC:SPORT -> 10.3.0.2:53 nobody sent.
forged_unreach() {
	in_ns rt timeout 5 python3 - "$1" "$2" <<'PY'
import socket, struct, sys
from checksum import csum
q = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28, 1, 0, 64, 17, 0, socket.inet_aton(sys.argv[1]), socket.inet_aton("10.3.0.2"))
q = q[:10] + struct.pack("!H", csum(q)) + q[12:] + struct.pack("!HHHH", int(sys.argv[2]), 53, 8, 0)
m = struct.pack("!BBHI", 3, 3, 0, 0) + q
m = m[:2] + struct.pack("!H", csum(m)) + m[4:]
socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).sendto(m, ("10.2.0.1", 0))
print("sent")
PY
}
# An error no state knows goes to the rules, which block it.
out=$(forged_unreach 10.2.0.1 55555)
sleep 0.3
check "an ICMP error no state knows is blocked by the rules ($out)" bash -c "pfctl -s labels | grep -Eq '^icmp-in [0-9]+ 1 '"
# An error not addressed to the sender of what it quotes is dropped before
# any rule; at debug level notice (-x above) pfd says so.
out=$(forged_unreach 10.2.0.77 5555)
sleep 0.5
check "a misaddressed ICMP error is dropped as state-mismatch, not by a rule" bash -c "pfctl -s labels | grep -Eq '^icmp-in [0-9]+ 1 ' && pfctl -si | grep -Eq '^  state-mismatch +[1-9]'"
check "-x notice: pfd logs the drop and its reason" grep -q 'pf: dropped, state-mismatch: .*10\.2\.0\.254 > 10\.2\.0\.1' "$RUN/fw.pfd.log"

summary
