#!/bin/bash
# Translation as the rules go, with real packets: nat-to / rdr-to on match
# rules apply at once (the rules after them match the translated addresses
# and ports, as OpenBSD's pf_test_rule), a later match rule or the pass
# rule translates again on top, match quick; rdr-to the loopback network
# (route_localnet while pf needs it, loopback addresses from the wire
# still dropped). Ends with "N passed, N failed".
#
#   client 10.1.0.2 -- int0 10.1.0.1 [fw] ext0 10.2.0.1 -- 10.2.0.2 server
#          2001:db8:1::2     ::1         2001:db8:2::1  -- 2001:db8:2::2
#
# The server has no route back to the client's network: only what the
# firewall translates to its own address gets an answer.

set -u
P=${P:-pft$$}
source "$(dirname "$0")/../lib/suite.sh"
SOCK="$LIB/sockprobe.py"

netns_add cl fw srv
no_ra
line_up fw inet6
in_ns fw sysctl -q -w net.ipv4.conf.all.route_localnet=0
sleep 1 # IPv6 addresses settle

say() { in_ns cl timeout 10 python3 "$SOCK" say "$@"; }
# A ruleset, and no states of the one before.
LOAD_FLUSHES=1
localnet() { in_ns fw sysctl -n net.ipv4.conf.all.route_localnet; }

for n in srv fw; do
	serve $n python3 "$SOCK" echo 7
done
check "pfd starts" pfd_start fw
check "pf enables" pfctl -q -e
sleep 0.3
ND='pass quick inet6 proto icmp6 icmp6-type { neighbrsol, neighbradv } no state'

# --- nat-to on a match rule (FreeBSD's nat.sh:nat_match) ---------------------
load 'set skip on lo' "$ND" 'block' \
	'pass in on int0 inet proto tcp' \
	'match out on ext0 inet proto tcp nat-to (ext0)' \
	'pass out on ext0 inet proto tcp from (ext0) label "from-nat"'
out=$(say 10.2.0.2 7)
check "match nat-to: the pass rule naming the NAT address lets the connection out ($out)" test "$out" = hello
ss=$(pfctl -ss)
echo "$ss" | sed 's/^/# /'
check "match nat-to: -ss shows the state with its NAT form" \
	grep -Eq '^all tcp 10\.2\.0\.1:[0-9]+ \(10\.1\.0\.2:[0-9]+\) -> 10\.2\.0\.2:7 ' <<<"$ss"
vsr=$(pfctl -vsr)
check "match nat-to: the pass rule after it made the state" \
	bash -c "grep -A1 'label \"from-nat\"' <<<'$vsr' | grep -Eq 'States: 1 '"
load 'set skip on lo' "$ND" 'block label "default"' \
	'pass in on int0 inet proto tcp' \
	'match out on ext0 inet proto tcp nat-to (ext0)' \
	'pass out on ext0 inet proto tcp from 10.1.0.0/24'
out=$(say 10.2.0.2 7)
check "match nat-to: a later rule naming the client's own address no longer matches ($out)" \
	grep -q '^error' <<<"$out"
check "match nat-to: the default block counted the SYNs" \
	bash -c "pfctl -s labels | grep -Eq '^default [0-9]+ [1-9]'"

# --- a second translation on top ----------------------------------------------
# 10.2.0.50 is nobody's: a connection gets answers only if a later rule
# translated it again to the firewall's own address.
load 'set skip on lo' "$ND" 'block' \
	'pass in on int0 inet proto tcp' \
	'match out on ext0 inet nat-to 10.2.0.50' \
	'match out on ext0 inet from 10.2.0.50 nat-to 10.2.0.1' \
	'pass out on ext0 inet proto tcp from 10.2.0.1'
out=$(say 10.2.0.2 7)
check "a second match rule sees the first's address and translates again ($out)" test "$out" = hello
check "-ss shows the last translation" grep -Eq '^all tcp 10\.2\.0\.1:[0-9]+ \(10\.1\.0\.2:[0-9]+\) -> 10\.2\.0\.2:7 ' <<<"$(pfctl -ss)"
load 'set skip on lo' "$ND" 'block' \
	'pass in on int0 inet proto tcp' \
	'match out on ext0 inet nat-to 10.2.0.50' \
	'pass out on ext0 inet proto tcp from 10.2.0.50 nat-to (ext0) port 6000:6010'
out=$(say 10.2.0.2 7)
check "the pass rule's own nat-to replaces the match rule's ($out)" test "$out" = hello
check "-ss shows the pass rule's translation" grep -Eq '^all tcp 10\.2\.0\.1:60(0[0-9]|10) \(10\.1\.0\.2:[0-9]+\) -> 10\.2\.0\.2:7 ' <<<"$(pfctl -ss)"
load 'set skip on lo' "$ND" 'block' \
	'pass in on int0 inet proto tcp' \
	'pass out on ext0 inet proto tcp' \
	'match out quick on ext0 inet nat-to (ext0)' \
	'block out on ext0'
out=$(say 10.2.0.2 7)
check "match quick: ends evaluation, the pass before it decides with the translation ($out)" test "$out" = hello

# --- rdr-to on a match rule ---------------------------------------------------
load 'set skip on lo' "$ND" 'block' \
	'match in on int0 inet proto tcp to 10.1.0.1 port 8007 rdr-to 10.2.0.2 port 7' \
	'pass in on int0 inet proto tcp to 10.2.0.2 port 7 label "to-rdr"' \
	'pass out on ext0 inet proto tcp nat-to (ext0)'
out=$(say 10.1.0.1 8007)
check "match rdr-to: the pass rule naming the new destination and port lets it in ($out)" test "$out" = hello
ss=$(pfctl -ss)
echo "$ss" | sed 's/^/# /'
check "match rdr-to: -ss shows the redirection" \
	grep -Eq '^all tcp 10\.2\.0\.2:7 \(10\.1\.0\.1:8007\) <- 10\.1\.0\.2:[0-9]+ ' <<<"$ss"
load 'set skip on lo' "$ND" 'block label "default"' \
	'match in on int0 inet proto tcp to 10.1.0.1 port 8007 rdr-to 10.2.0.2 port 7' \
	'pass in on int0 inet proto tcp to 10.1.0.1 port 8007' \
	'pass out on ext0 inet proto tcp nat-to (ext0)'
out=$(say 10.1.0.1 8007)
check "match rdr-to: a later rule naming the old destination no longer matches ($out)" grep -q '^error' <<<"$out"

# --- rdr-to the loopback network (FreeBSD's route_to.sh:multiwan) ---------------
check "route_localnet is off before pf redirects anything there" test "$(localnet)" = 0
load 'set skip on lo' "$ND" \
	'match in on int0 inet proto tcp to 10.1.0.1 port 7007 rdr-to 127.0.0.1 port 7' \
	'block in' 'block out' \
	'pass in quick on int0 inet proto tcp from any to 127.0.0.1 port 7'
out=$(say 10.1.0.1 7007)
check "rdr-to 127.0.0.1: the firewall's own service on the loopback answers ($out)" test "$out" = hello
ss=$(pfctl -ss)
echo "$ss" | sed 's/^/# /'
check "rdr-to 127.0.0.1: -ss shows the redirection" \
	grep -Eq '^all tcp 127\.0\.0\.1:7 \(10\.1\.0\.1:7007\) <- 10\.1\.0\.2:[0-9]+ ' <<<"$ss"
check "rdr-to 127.0.0.1: pfd turned route_localnet on" test "$(localnet)" = 1
# A datagram to 127.0.0.1 straight from the wire (ip_input's RFC 1122
# check), and the same to the firewall's address as a control: only the
# control is seen (it creates a state), the loopback one is dropped before
# pf, by pfd now that Linux would let it in.
load 'set skip on lo' "$ND" 'pass'
mac=$(in_ns fw cat /sys/class/net/int0/address)
wire() {
	in_ns cl python3 - "$mac" "$1" <<'EOF'
import socket, struct, sys
mac = bytes.fromhex(sys.argv[1].replace(":", ""))
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF
udp = struct.pack("!HHHH", 40000, 9, 12, 0) + b"wire"
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                 socket.inet_aton("10.1.0.2"), socket.inet_aton(sys.argv[2]))
ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
src = open("/sys/class/net/eth0/address").read().strip()
s.send(mac + bytes.fromhex(src.replace(":", "")) + b"\x08\x00" + ip + udp)
EOF
}
wire 127.0.0.1
wire 10.1.0.1
sleep 0.3
ss=$(pfctl -ss)
check "a datagram from the wire to 10.1.0.1 makes its state (control)" grep -q '10\.1\.0\.1:9 <- 10\.1\.0\.2:40000' <<<"$ss"
check "a datagram from the wire to 127.0.0.1 is dropped before pf (no state)" bash -c "! grep -q '127\.0\.0\.1:9' <<<'$ss'"
check "pfctl -d puts route_localnet back" bash -c "pfctl -q -d && [ \$(ip netns exec $(ns fw) sysctl -n net.ipv4.conf.all.route_localnet) = 0 ]"
check "pf enables again" pfctl -q -e
load 'set skip on lo' "$ND" \
	'match in on int0 inet proto tcp to 10.1.0.1 port 7007 rdr-to 127.0.0.1 port 7' \
	'block in' 'pass out' \
	'pass in quick on int0 inet proto tcp from any to 127.0.0.1 port 7'
out=$(say 10.1.0.1 7007)
check "rdr-to 127.0.0.1 after pfctl -d / -e: route_localnet on again ($out)" bash -c "[ '$out' = hello ] && [ \$(ip netns exec $(ns fw) sysctl -n net.ipv4.conf.all.route_localnet) = 1 ]"
printf '%s\n' 'pass in on int0 inet6 proto tcp to port 7007 rdr-to ::1 port 7' >"$RUN/v6lo.conf"
out=$(pfctl -f "$RUN/v6lo.conf" 2>&1)
check "rdr-to ::1 is refused: Linux never delivers ::1 from another interface" \
	grep -q 'v6lo.conf:1: rdr-to ::1: not supported on Linux' <<<"$out"
kill "$(daemon_pid fw pfd)" 2>/dev/null
for i in $(seq 100); do kill -0 "$(daemon_pid fw pfd)" 2>/dev/null || break; sleep 0.05; done
check "pfd exiting puts route_localnet back" test "$(localnet)" = 0
in_ns fw iptables -w -t raw -F 2>/dev/null
in_ns fw iptables -w -t mangle -F 2>/dev/null

summary
