#!/bin/bash
# IPv6 CARP, dual stack: two firewalls and a client on one segment, carp1
# with 192.0.2.1/24 and 2001:db8::1/64 on one vhid (fw1 by carpctl, fw2 by
# netstart and hostname.carp1). Advertisements to ff02::12 with hop limit
# 255 (tcpdump, tshark), the client's ping6 and ping of the virtual
# addresses through a demotion and a shutdown (few lost), unsolicited
# neighbour advertisements with Override and the virtual MAC, the
# client's neighbour entry, no DAD failure on the new master, forged IPv6
# advertisements (hop limit 254, wrong HMAC) dropped and counted, a
# master-down timer per family. Ends with "N passed, N failed".

set -u
P=${P:-pfc6$$}
FW=fw1
source "$(dirname "$0")/../lib/suite.sh"
source "$LIB/tshark.sh"

carpctl() { local h=$1; shift; in_fw "$h" "$BIN/carpctl" "$@"; }
stat() { carpctl "$1" -s | awk -v k="$2" 'index($0, k) { print $1; exit }'; }
VMAC=00:00:5e:00:01:01

netns_add cl fw1 fw2 sw
no_ra
in_ns sw ip link add br0 type bridge
in_ns sw ip link set br0 type bridge mcast_snooping 0
in_ns sw ip link set br0 up
for h in cl fw1 fw2; do
	veth $h eth0 sw p$h
	in_ns sw ip link set p$h master br0 up
done
addr cl eth0 192.0.2.50/24 2001:db8::50/64
addr fw1 eth0 192.0.2.10/24 2001:db8::10/64
addr fw2 eth0 192.0.2.11/24 2001:db8::11/64
for h in fw1 fw2; do
	check "pfd starts on $h" pfd_start $h
	in_fw $h "$BIN/pfctl" -q -e
	printf 'set skip on lo\npass\n' >"$RUN/$h.conf"
	in_fw $h "$BIN/pfctl" -q -f "$RUN/$h.conf"
done

# fw1 by carpctl, one address of each family; fw2 by netstart.
carpctl fw1 carp1 inet 192.0.2.1/24 vhid 1 carpdev eth0 pass c6secret advskew 0
carpctl fw1 carp1 inet6 2001:db8::1 prefixlen 64 up
check "fw1 becomes MASTER" wait_carp fw1 carp1 MASTER 6
mkdir -p "$RUN/etc-fw2"
cat >"$RUN/etc-fw2/hostname.carp1" <<'EOT'
inet 192.0.2.1 255.255.255.0 192.0.2.255 vhid 1 carpdev eth0 pass c6secret advskew 100
inet6 2001:db8::1 64
up
EOT
chmod 600 "$RUN/etc-fw2/hostname.carp1"
in_fw fw2 "$BIN/netstart" -D "$RUN/etc-fw2" carp1
check "fw2 (netstart) is BACKUP" wait_carp fw2 carp1 BACKUP 3

out=$(carpctl fw1 carp1)
echo "$out" | sed 's/^/# /'
check "carpctl lists the inet line" grep -q $'^\tinet 192.0.2.1 netmask 0xffffff00 broadcast 192.0.2.255$' <<<"$out"
check "carpctl lists the inet6 line as ifconfig" grep -q $'^\tinet6 2001:db8::1 prefixlen 64$' <<<"$out"
check "fw2's block has it too (from hostname.carp1)" bash -c "carpctl fw2 carp1 | grep -q \$'^\\tinet6 2001:db8::1 prefixlen 64\$'"
check "the MASTER holds 2001:db8::1" bash -c "in_ns fw1 ip -6 addr show dev carp1 | grep -q 'inet6 2001:db8::1/64'"
check "the BACKUP does not hold 2001:db8::1" bash -c "! in_ns fw2 ip -6 addr show | grep -q '2001:db8::1/'"

# The advertisements on the wire, as the backup's segment sees them.
capture cl "$RUN/ads.pcap" -i eth0 'ip6 proto 112 or ip proto 112'
sleep 3.2
capture_stop
tcpdump -nn -e -v -r "$RUN/ads.pcap" 2>/dev/null >"$RUN/ads.txt"
head -4 "$RUN/ads.txt" | sed 's/^/# /'
n6=$(grep -c 'ethertype IPv6.*hlim 255, next-header VRRP (112) payload length: 36' "$RUN/ads.txt")
check "IPv6 advertisements: next header 112, hop limit 255, 36 bytes ($n6 in 3 s)" test "$n6" -ge 2
# Dual stack: the IPv4 advertisement leaves from the virtual MAC, the IPv6
# one from the carpdev's own (one frame a period from the virtual MAC).
fw1mac=$(in_ns fw1 cat /sys/class/net/eth0/address)
check "the IPv6 ones from fw1's eth0 MAC $fw1mac to 33:33:00:00:00:12" grep -qE "^[0-9:.]+ $fw1mac > 33:33:00:00:00:12, ethertype IPv6" "$RUN/ads.txt"
check "the IPv4 ones from the virtual MAC" grep -qE "^[0-9:.]+ $VMAC > 01:00:5e:00:00:12, ethertype IPv4" "$RUN/ads.txt"
fw1ll=$(in_ns fw1 ip -6 -o addr show dev eth0 scope link | awk '{print $4}' | cut -d/ -f1)
check "the source is fw1's eth0 link-local $fw1ll" grep -q "$fw1ll > ff02::12" "$RUN/ads.txt"
n4=$(grep -c '192.0.2.10 > 224.0.0.18' "$RUN/ads.txt")
check "and one IPv4 advertisement per period beside them ($n4)" test "$n4" -ge 2
bad=$(tshark_bad_frames "$RUN/ads.pcap")
check "tshark decodes them ($bad malformed)" test "$bad" -eq 0
check "tshark reads IPv6 CARP advertisements" test "$(tshark_count "$RUN/ads.pcap" 'ipv6 && carp')" -ge 2
check "fw2 counts IPv6 advertisements received" test "$(stat fw2 'packets received (IPv6)')" -ge 2
check "fw1 counts IPv6 advertisements sent" test "$(stat fw1 'packets sent (IPv6)')" -ge 2

# Neighbour solicitations for the virtual address: only the MASTER's
# carp1 answers (the BACKUP has withdrawn it, no carpdev answers with its
# own MAC).
in_ns cl ip -6 neigh flush dev eth0
capture cl "$RUN/ns.pcap" -i eth0 'icmp6 and (ip6[40] == 135 or ip6[40] == 136)'
in_ns cl ping -6 -c 2 -W 1 2001:db8::1 >/dev/null 2>&1
capture_stop
tcpdump -nn -e -vv -r "$RUN/ns.pcap" 2>/dev/null >"$RUN/ns.txt"
sol=$(grep -c 'neighbor solicitation, length 32, who has 2001:db8::1' "$RUN/ns.txt")
ans=$(grep 'tgt is 2001:db8::1, Flags \[solicited' "$RUN/ns.txt" | awk '{print $2}' | sort | uniq -c | sed 's/^ *//' | tr '\n' ' ')
echo "# NS for 2001:db8::1: $sol; answered by: $ans"
check "the client solicited 2001:db8::1 ($sol)" test "$sol" -ge 1
check "only the virtual MAC answered ($ans)" test "$ans" = "$sol $VMAC "
check "the client's neighbour entry for 2001:db8::1 is the virtual MAC" \
	bash -c "in_ns cl ip -6 neigh show 2001:db8::1 dev eth0 | grep -q 'lladdr $VMAC'"

# ping6 and ping the virtual addresses while fw1 is demoted: fw2 takes over.
# pings: NS LOG ARGS..., 20 per second for 4 s.
pings() { local n=$1 f=$2; shift 2; in_ns "$n" ping -n -q -i 0.05 -c 80 -W 1 "$@" >"$f" 2>&1; }
lost() { awk '/packets transmitted/ { print $1 - $4 }' "$1"; }
capture cl "$RUN/na.pcap" -i eth0 'icmp6 and ip6[40] == 136'
pings cl "$RUN/ping6a.txt" -6 2001:db8::1 &
p6=$!
pings cl "$RUN/ping4a.txt" 192.0.2.1 &
p4=$!
sleep 1
carpctl fw1 -g carp carpdemote 50
check "demoted fw1: fw2 becomes MASTER" wait_carp fw2 carp1 MASTER 3
check "and fw1 BACKUP" wait_carp fw1 carp1 BACKUP 3
wait $p6 $p4
capture_stop
l6=$(lost "$RUN/ping6a.txt")
l4=$(lost "$RUN/ping4a.txt")
echo "carp6.demote_lost_ping6=$l6 carp6.demote_lost_ping=$l4 (of 80 at 20/s)"
check "ping6 of 2001:db8::1 went on ($l6 of 80 lost)" test "${l6:-99}" -le 3
check "ping of 192.0.2.1 went on ($l4 of 80 lost)" test "${l4:-99}" -le 3
tcpdump -nn -e -vv -r "$RUN/na.pcap" 2>/dev/null >"$RUN/na.txt"
grep -A3 "tgt is 2001:db8::1" "$RUN/na.txt" | head -4 | sed 's/^/# /'
check "fw2 sent an unsolicited NA for 2001:db8::1 to ff02::1 from the virtual MAC" \
	grep -qE "^[0-9:.]+ $VMAC > 33:33:00:00:00:01" "$RUN/na.txt"
check "with the Override flag" grep -qE "tgt is 2001:db8::1, Flags \[override\]" "$RUN/na.txt"
check "and the virtual MAC as target link-layer address" grep -q "destination link-address option (2), length 8 (1): $VMAC" "$RUN/na.txt"
check "hop limit 255" grep -q "hlim 255, next-header ICMPv6 (58) payload length: 32) 2001:db8::1 > ff02::1" "$RUN/na.txt"
check "fw2 holds 2001:db8::1, not tentative or dadfailed" \
	bash -c "in_ns fw2 ip -6 addr show dev carp1 | grep 'inet6 2001:db8::1/64' | grep -vqE 'tentative|dadfailed'"
check "fw2 holds 192.0.2.1" bash -c "in_ns fw2 ip -4 addr show dev carp1 | grep -q 'inet 192.0.2.1/24'"
check "fw1 withdrew both" bash -c "! in_ns fw1 ip addr show | grep -qE '192.0.2.1/|2001:db8::1/'"
check "the client's neighbour entry is still the virtual MAC" \
	bash -c "in_ns cl ip -6 neigh show 2001:db8::1 dev eth0 | grep -q 'lladdr $VMAC'"
check "the client's ARP entry is the virtual MAC" \
	bash -c "in_ns cl ip -4 neigh show 192.0.2.1 dev eth0 | grep -q 'lladdr $VMAC'"
carpctl fw1 -g carp -carpdemote 50
sleep 0.5
check "undemoted fw1 stays BACKUP (no preempt)" wait_carp fw1 carp1 BACKUP 1

# Forged IPv6 advertisements from the client: hop limit 254, then a wrong
# HMAC with advskew 0 (it would win over fw2's 100 if taken).
t0=$(stat fw1 "discarded for wrong TTL")
a0=$(stat fw1 "discarded for bad authentication")
m0=$(stat fw1 "transitions to master")
in_ns cl python3 "$LIB/carp6forge.py" eth0 254 10 | sed 's/^/# /'
in_ns cl python3 "$LIB/carp6forge.py" eth0 255 10 1 0 | sed 's/^/# /'
sleep 0.3
t1=$(stat fw1 "discarded for wrong TTL")
a1=$(stat fw1 "discarded for bad authentication")
check "hop limit 254: dropped and counted ($t0 -> $t1)" test $((t1 - t0)) -ge 10
check "wrong HMAC: dropped and counted ($a0 -> $a1)" test $((a1 - a0)) -ge 10
check "the forgeries changed nothing: fw2 MASTER" wait_carp fw2 carp1 MASTER 1
check "fw1 BACKUP, no transition" test "$(stat fw1 'transitions to master')" = "$m0"
check "the drops are logged" grep -q "advertisement from fe80::.* dropped: TTL is not 255" "$RUN/fw1.pfd.log"

# A master-down timer per family (as OpenBSD): fw1 stops hearing IPv6
# advertisements but still hears fw2's IPv4 ones, and takes over after
# the IPv6 master-down interval; fw2 gives way to its better advertisements.
in_ns fw1 ip6tables -w -t raw -I PREROUTING -p 112 -j DROP
check "fw1 deaf to IPv6 advertisements: MASTER by its IPv6 timer" wait_carp fw1 carp1 MASTER 6
check "fw2 steps down to BACKUP" wait_carp fw2 carp1 BACKUP 2
in_ns fw1 ip6tables -w -t raw -D PREROUTING -p 112 -j DROP
check "IPv6 heard again: fw1 stays MASTER" wait_carp fw1 carp1 MASTER 1
check "fw2 stays BACKUP" bash -c "sleep 1.5; [ \"\$(in_fw fw2 \"\$BIN/carpctl\" carp1 | awk '/carp:/ {print \$2}')\" = BACKUP ]"

# fw1 shut down: it bows out by IPv4 and IPv6, fw2 takes over at once.
pings cl "$RUN/ping6b.txt" -6 2001:db8::1 &
p6=$!
pings cl "$RUN/ping4b.txt" 192.0.2.1 &
p4=$!
sleep 1
[ -n "${CARP6_DEBUG:-}" ] && capture sw "$RUN/vmac.pcap" -e -i pfw1 "ether src $VMAC"
kill -TERM "$(daemon_pid fw1 pfd)"
check "fw1's pfd shut down: fw2 MASTER again" wait_carp fw2 carp1 MASTER 2
wait $p6 $p4
[ -n "${CARP6_DEBUG:-}" ] && { capture_stop; tcpdump -nn -e -r "$RUN/vmac.pcap" 2>/dev/null | sed 's/^/# vmac from fw1: /'; }
l6=$(lost "$RUN/ping6b.txt")
l4=$(lost "$RUN/ping4b.txt")
echo "carp6.shutdown_lost_ping6=$l6 carp6.shutdown_lost_ping=$l4 (of 80 at 20/s)"
check "ping6 went on through the shutdown ($l6 of 80 lost)" test "${l6:-99}" -le 5
check "ping went on through the shutdown ($l4 of 80 lost)" test "${l4:-99}" -le 5
check "fw2 holds 2001:db8::1 again" bash -c "in_ns fw2 ip -6 addr show dev carp1 | grep 'inet6 2001:db8::1/64' | grep -vqE 'tentative|dadfailed'"

summary
