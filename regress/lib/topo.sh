# The topologies the netns suites and regress/demo build (source it; it
# sources netns.sh for the building blocks):
#
# topo_up: the seed article's HA pair. Namespaces "${P}cl", "${P}fw1",
# "${P}fw2", "${P}srv" and "${P}sw" (the switch with two bridges):
#
#   client 192.168.99.50 --[br-in]-- hvn4 fw1 .1 / fw2 .2 (carp2 .254)
#                                     hvn2 169.254.0.1 <-> 169.254.0.0 hvn2
#   server 192.0.2.20    --[br-out]- hvn3 fw1 .10 / fw2 .11 (carp1 .1)
#
# line_up: one firewall between a client and a server (below).

source "$(dirname "${BASH_SOURCE[0]}")/netns.sh"

topo_up() {
	local n b
	netns_add cl fw1 fw2 srv sw
	# The article's hosts run IPv4 only; without this every interface
	# would add its IPv6 neighbour discovery states to `pfctl -ss`.
	ipv4_only
	in_ns sw ip link add br-in type bridge
	in_ns sw ip link add br-out type bridge
	for b in br-in br-out; do
		in_ns sw ip link set $b type bridge mcast_snooping 0
		in_ns sw ip link set $b up
	done
	# Client and server.
	veth cl eth0 sw c0
	veth srv eth0 sw s0
	in_ns sw ip link set c0 master br-in up
	in_ns sw ip link set s0 master br-out up
	addr cl eth0 192.168.99.50/24
	route cl default 192.168.99.254
	addr srv eth0 192.0.2.20/24
	# Firewalls: hvn3 outside, hvn4 inside, hvn2 the sync link.
	for n in 1 2; do
		veth fw$n hvn3 sw f${n}o
		veth fw$n hvn4 sw f${n}i
		in_ns sw ip link set f${n}o master br-out up
		in_ns sw ip link set f${n}i master br-in up
	done
	veth fw1 hvn2 fw2 hvn2
}

# Start a firewall the way it boots: sysctl.conf, pfd (enabled), pfsyncd,
# netstart with the etc-examples files, then pf.conf. Extra pfd flags in $PFD_FLAGS.
fw_start() {
	local n=$1
	local etc="$RUN/etc-$n"
	[ -d "$etc" ] || cp -r "$EX/$n" "$etc"
	in_ns "$n" sysctl -q -p "$etc/sysctl.conf"
	pfd_start "$n"
	in_fw "$n" "$BIN/pfctl" -q -e
	pfsyncd_start "$n"
	# As OpenBSD's rc: interfaces first, then the ruleset that names them.
	in_fw "$n" "$BIN/netstart" -D "$etc"
	in_fw "$n" "$BIN/pfctl" -q -f "$etc/pf.conf"
}

# Stop a firewall's daemons with a signal (TERM: clean, KILL: crash).
fw_stop() {
	local n=$1 sig=$2 d
	for d in pfsyncd pfd; do
		[ -f "$RUN/$n.$d.pid" ] && kill -"$sig" "$(cat "$RUN/$n.$d.pid")" 2>/dev/null
	done
	for d in pfsyncd pfd; do
		if [ -f "$RUN/$n.$d.pid" ]; then
			local pid; pid=$(cat "$RUN/$n.$d.pid")
			local i; for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
			rm -f "$RUN/$n.$d.pid"
		fi
	done
}

# Take a firewall's links down or up (a machine switched off or back on).
fw_links() {
	local n=$1 how=$2 i
	for i in hvn2 hvn3 hvn4; do in_ns "$n" ip link set "$i" "$how"; done
}

# A firewall back from the dead: no leftovers of its last life.
fw_reset() {
	local n=$1
	in_ns "$n" iptables -w -t raw -F 2>/dev/null
	in_ns "$n" iptables -w -t mangle -F 2>/dev/null
	local l
	for l in $(in_ns "$n" ip -o link show type macvlan 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
		in_ns "$n" ip link del "$l"
	done
	for l in hvn2 hvn3 hvn4; do in_ns "$n" ip addr flush dev "$l"; done
}

carp_state() { in_fw "$1" "$BIN/carpctl" "$2" 2>/dev/null | awk '/carp:/ {print $2}'; }

wait_carp() {
	local n=$1 ifn=$2 want=$3 secs=${4:-15} i
	for i in $(seq $((secs * 20))); do
		[ "$(carp_state "$n" "$ifn")" = "$want" ] && return 0
		sleep 0.05
	done
	return 1
}

# The seed pair's clean-up (demo's name for it).
topo_down() { netns_down; }

# line_up FW [inet6]: one firewall between a client and a server, in the
# namespaces cl, FW and srv (netns_add them first, and set their sysctls):
#
#   client 10.1.0.2 -- int0 10.1.0.1 [FW] ext0 10.2.0.1 -- 10.2.0.2 server
#   inet6: 2001:db8:1::2     ::1          2001:db8:2::1  -- ::2
#
# The client's default route is the firewall, which forwards (IPv4, and
# IPv6 with inet6). How the server routes back is the suite's choice
# (`route srv default 10.2.0.1`, or none at all to see only what NAT
# brings back); more addresses with `addr`.
line_up() {
	local fw=$1 v6=${2:-}
	veth cl eth0 "$fw" int0
	veth "$fw" ext0 srv eth0
	if [ "$v6" = inet6 ]; then
		addr cl eth0 10.1.0.2/24 2001:db8:1::2/64
		addr "$fw" int0 10.1.0.1/24 2001:db8:1::1/64
		addr "$fw" ext0 10.2.0.1/24 2001:db8:2::1/64
		addr srv eth0 10.2.0.2/24 2001:db8:2::2/64
		route cl default 10.1.0.1
		route cl default 2001:db8:1::1
		forwarding "$fw"
	else
		addr cl eth0 10.1.0.2/24
		addr "$fw" int0 10.1.0.1/24
		addr "$fw" ext0 10.2.0.1/24
		addr srv eth0 10.2.0.2/24
		route cl default 10.1.0.1
		forwarding "$fw" inet
	fi
}

# reach N: a ping from the client's address 10.1.0.N gets an answer from
# the server 10.2.0.2.
reach() { in_ns cl ping -c 1 -W 1 -I "10.1.0.$1" 10.2.0.2 >/dev/null 2>&1; }

# topo_flow_conf SETLINES: fw1's and fw2's example configs copied to
# $RUN/etc-fwN with SETLINES (sed `a` text) after `set skip on lo`, and the
# UDP flows to 192.0.2.20 port >= 20000 passed without NAT (its port pool
# is per destination): for tests that fill the state table with flows.
topo_flow_conf() {
	local n
	for n in fw1 fw2; do
		rm -rf "$RUN/etc-$n"
		cp -r "$EX/$n" "$RUN/etc-$n"
		sed -i -e "/^set skip on lo/a $1" \
			-e "/^# NAT to the server network/i pass out quick on \$ext_if inet proto udp from \$int_if:network to 192.0.2.20 port >= 20000" \
			"$RUN/etc-$n/pf.conf"
	done
}

# topo_sync_drop N: fw1 and fw2 drop one pfsync frame in N on the way in
# (nft, before anything else sees them), for the repair path's tests.
topo_sync_drop() {
	local n
	for n in fw1 fw2; do
		in_ns $n nft -f - <<NFT
table ip pfsyncdrop {
	chain pre {
		type filter hook prerouting priority -400; policy accept;
		ip protocol 240 numgen random mod $1 == 0 counter drop
	}
}
NFT
	done
}
# topo_sync_dropped FW: the frames FW's topo_sync_drop rule dropped so far.
topo_sync_dropped() {
	in_ns "$1" nft list table ip pfsyncdrop |
		awk '/counter/ { for (i = 1; i < NF; i++) if ($i == "packets") print $(i + 1) }'
}
