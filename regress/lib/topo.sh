# Network-namespace topology of the seed article, shared by regress/demo and
# the netns suite. Source it; everything it makes lives in namespaces named
# "${P}cl", "${P}fw1", "${P}fw2", "${P}srv" and "${P}sw" (the switch with
# two bridges), and in $RUN. Nothing touches the host's own networks.
#
#   client 192.168.99.50 --[br-in]-- hvn4 fw1 .1 / fw2 .2 (carp2 .254)
#                                     hvn2 169.254.0.1 <-> 169.254.0.0 hvn2
#   server 192.0.2.20    --[br-out]- hvn3 fw1 .10 / fw2 .11 (carp1 .1)

: "${P:=pf$$}"
: "${ROOT:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${BIN:=$ROOT/target/debug}"
: "${EX:=$ROOT/etc-examples}"
: "${RUN:=/tmp/$P}"

ns() { echo "${P}$1"; }
in_ns() { local n=$1; shift; ip netns exec "$(ns "$n")" "$@"; }
# Run a command on a firewall with its pfd socket.
in_fw() { local n=$1; shift; PF_SOCKET="$RUN/$n.sock" ip netns exec "$(ns "$n")" "$@"; }

topo_up() {
	mkdir -p "$RUN"
	local n b
	for n in cl fw1 fw2 srv sw; do
		ip netns add "$(ns $n)"
		in_ns $n ip link set lo up
		# The article's hosts run IPv4 only; without this every interface
		# would add its IPv6 neighbour discovery states to `pfctl -ss`.
		in_ns $n sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	done
	in_ns sw ip link add br-in type bridge
	in_ns sw ip link add br-out type bridge
	for b in br-in br-out; do
		in_ns sw ip link set $b type bridge mcast_snooping 0
		in_ns sw ip link set $b up
	done
	# Client and server.
	ip link add eth0 netns "$(ns cl)" type veth peer name c0 netns "$(ns sw)"
	ip link add eth0 netns "$(ns srv)" type veth peer name s0 netns "$(ns sw)"
	in_ns sw ip link set c0 master br-in up
	in_ns sw ip link set s0 master br-out up
	in_ns cl ip addr add 192.168.99.50/24 dev eth0
	in_ns cl ip link set eth0 up
	in_ns cl ip route add default via 192.168.99.254
	in_ns srv ip addr add 192.0.2.20/24 dev eth0
	in_ns srv ip link set eth0 up
	# Firewalls: hvn3 outside, hvn4 inside, hvn2 the sync link.
	for n in 1 2; do
		ip link add hvn3 netns "$(ns fw$n)" type veth peer name f${n}o netns "$(ns sw)"
		ip link add hvn4 netns "$(ns fw$n)" type veth peer name f${n}i netns "$(ns sw)"
		in_ns sw ip link set f${n}o master br-out up
		in_ns sw ip link set f${n}i master br-in up
	done
	ip link add hvn2 netns "$(ns fw1)" type veth peer name hvn2 netns "$(ns fw2)"
}

# Start a firewall the way it boots: sysctl.conf, pfd (enabled), pfsyncd,
# netstart with the etc-examples files, then pf.conf. Extra pfd flags in $PFD_FLAGS.
fw_start() {
	local n=$1
	local etc="$RUN/etc-$n"
	[ -d "$etc" ] || cp -r "$EX/$n" "$etc"
	in_ns "$n" sysctl -q -p "$etc/sysctl.conf"
	rm -f "$RUN/$n.sock"
	# exec all the way down, so $! is the daemon itself.
	(PF_SOCKET="$RUN/$n.sock" exec ip netns exec "$(ns "$n")" "$BIN/pfd" -d ${PFD_FLAGS:-} >>"$RUN/$n.pfd.log" 2>&1) &
	echo $! >"$RUN/$n.pfd.pid"
	disown $!
	local i
	for i in $(seq 100); do [ -S "$RUN/$n.sock" ] && break; sleep 0.05; done
	in_fw "$n" "$BIN/pfctl" -q -e
	(PF_SOCKET="$RUN/$n.sock" exec ip netns exec "$(ns "$n")" "$BIN/pfsyncd" -d >>"$RUN/$n.pfsyncd.log" 2>&1) &
	echo $! >"$RUN/$n.pfsyncd.pid"
	disown $!
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

topo_down() {
	local n d
	for n in fw1 fw2; do
		for d in pfsyncd pfd; do
			[ -f "$RUN/$n.$d.pid" ] && kill -KILL "$(cat "$RUN/$n.$d.pid")" 2>/dev/null
		done
	done
	jobs -p | xargs -r kill 2>/dev/null
	for n in cl fw1 fw2 srv sw; do ip netns pids "$(ns $n)" 2>/dev/null | xargs -r kill -9 2>/dev/null; done
	for n in cl fw1 fw2 srv sw; do ip netns del "$(ns $n)" 2>/dev/null; done
	wait 2>/dev/null
}
