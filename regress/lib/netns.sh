# Building blocks for topologies in network namespaces: namespaces named
# with a per-run prefix, veth links, addresses, routes, forwarding, pfd and
# pfsyncd on a firewall, background services, and the clean-up that undoes
# it all. Source it (topo.sh and suite.sh do); nothing here touches the
# host's own networks.
#
# Every namespace is "$P<name>": set P before sourcing, with $$ in it, so
# that parallel runs never collide (default pf$$). Files of the run (pfd
# sockets, logs, pid files, rulesets) live in $RUN.

: "${P:=pf$$}"
: "${ROOT:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${BIN:=$ROOT/target/debug}"
: "${EX:=$ROOT/etc-examples}"
: "${RUN:=/tmp/$P}"
LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# For commands that checks run through `bash -c` (see suite.sh).
export P RUN BIN

# The namespaces made so far, for all_ns and netns_down.
NETNS=()

ns() { echo "${P}$1"; }
in_ns() { local n=$1; shift; ip netns exec "$(ns "$n")" "$@"; }
# Run a command on a firewall with its pfd socket.
in_fw() { local n=$1; shift; PF_SOCKET="$RUN/$n.sock" ip netns exec "$(ns "$n")" "$@"; }
export -f ns in_ns in_fw

# netns_add NAME...: new namespaces with their loopback up.
netns_add() {
	local n
	mkdir -p "$RUN"
	for n in "$@"; do
		# Recorded first: a signal between the two still finds it to delete.
		NETNS+=("$n")
		ip netns add "$(ns "$n")"
		in_ns "$n" ip link set lo up
	done
}

# all_ns CMD...: run a command in every namespace made so far.
all_ns() {
	local n
	for n in "${NETNS[@]}"; do in_ns "$n" "$@"; done
}

# The names given, or else every namespace made so far.
ns_or_all() { if [ $# -gt 0 ]; then echo "$@"; else echo "${NETNS[@]}"; fi; }

# The namespace sysctls the suites set before their links exist.
# ipv4_only [NS...]: no IPv6 at all (no neighbour discovery states in
# `pfctl -ss`); no_ra [NS...]: IPv6 addresses only as configured.
# Without names: every namespace made so far.
ipv4_only() {
	local n
	for n in $(ns_or_all "$@"); do
		in_ns "$n" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	done
}
no_ra() {
	local n
	for n in $(ns_or_all "$@"); do
		in_ns "$n" sysctl -q -w net.ipv6.conf.default.accept_ra=0 net.ipv6.conf.all.accept_ra=0
	done
}

# veth NS1 IF1 NS2 IF2: a cable, interface IF1 in NS1 to IF2 in NS2.
veth() { ip link add "$2" netns "$(ns "$1")" type veth peer name "$4" netns "$(ns "$3")"; }

# addr NS IF ADDR/LEN...: the addresses on IF (IPv6 ones without duplicate
# address detection), and IF up.
addr() {
	local n=$1 i=$2 a
	shift 2
	for a in "$@"; do
		case $a in
		*:*) in_ns "$n" ip addr add "$a" dev "$i" nodad ;;
		*) in_ns "$n" ip addr add "$a" dev "$i" ;;
		esac
	done
	in_ns "$n" ip link set "$i" up
}

# route NS DEST GATEWAY [ARGS...]: a static route (IPv6 when the gateway
# is an IPv6 address); DEST may be `default`.
route() {
	local n=$1 d=$2 g=$3
	shift 3
	case $g in
	*:*) in_ns "$n" ip -6 route add "$d" via "$g" "$@" ;;
	*) in_ns "$n" ip route add "$d" via "$g" "$@" ;;
	esac
}

# forwarding NS [inet]: NS routes IPv4 and, unless `inet` is given or the
# namespace has IPv6 disabled, IPv6.
forwarding() {
	if [ "${2:-}" = inet ] || [ "$(in_ns "$1" sysctl -n net.ipv6.conf.all.disable_ipv6)" = 1 ]; then
		in_ns "$1" sysctl -q -w net.ipv4.ip_forward=1
	else
		in_ns "$1" sysctl -q -w net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
	fi
}

# pfd_start FW: pfd in namespace FW (extra flags in $PFD_FLAGS; its state
# directory $PFD_STATE_DIR, default `none`: nothing kept, pf starts
# disabled), its
# socket $RUN/FW.sock, log $RUN/FW.pfd.log, pid in $RUN/FW.pfd.pid.
# Succeeds once the control socket is there (5 s at the most).
pfd_start() {
	local n=$1 i
	rm -f "$RUN/$n.sock"
	# exec all the way down, so $! is the daemon itself.
	(PF_SOCKET="$RUN/$n.sock" exec ip netns exec "$(ns "$n")" "$BIN/pfd" -d -D "${PFD_STATE_DIR:-none}" ${PFD_FLAGS:-} >>"$RUN/$n.pfd.log" 2>&1) &
	echo $! >"$RUN/$n.pfd.pid"
	disown $!
	for i in $(seq 100); do [ -S "$RUN/$n.sock" ] && return 0; sleep 0.05; done
	return 1
}

# pfsyncd_start FW: pfsyncd beside FW's pfd (log $RUN/FW.pfsyncd.log, pid
# in $RUN/FW.pfsyncd.pid).
pfsyncd_start() {
	local n=$1
	(PF_SOCKET="$RUN/$n.sock" exec ip netns exec "$(ns "$n")" "$BIN/pfsyncd" -d >>"$RUN/$n.pfsyncd.log" 2>&1) &
	echo $! >"$RUN/$n.pfsyncd.pid"
	disown $!
}

# The pid of a daemon started above: daemon_pid FW pfd|pfsyncd.
daemon_pid() { cat "$RUN/$1.$2.pid"; }

# serve NS CMD...: a service in the background for the rest of the run
# (it goes with its namespace at clean-up).
serve() {
	local n=$1
	shift
	ip netns exec "$(ns "$n")" "$@" &
	disown $!
}

# wait_listen NS PORT [udp]: until something listens on TCP PORT in NS,
# or has UDP PORT bound (5 s).
wait_listen() {
	local i opt=-ltn
	[ "${3:-}" = udp ] && opt=-lun
	for i in $(seq 50); do in_ns "$1" ss $opt | grep -q ":$2 " && return 0; sleep 0.1; done
	return 1
}

# netns_down: kill the background jobs and everything running in the
# namespaces (pfd and pfsyncd included), delete the namespaces, and $RUN
# unless KEEP_RUN=1 (to read the logs after a failure).
netns_down() {
	local n j
	j=$(jobs -p)
	# Disowned first: no "Killed" notices from the shell for what follows.
	disown -a
	[ -z "$j" ] || kill $j 2>/dev/null
	for n in "${NETNS[@]}"; do ip netns pids "$(ns "$n")" 2>/dev/null | xargs -r kill -9 2>/dev/null; done
	for n in "${NETNS[@]}"; do ip netns del "$(ns "$n")" 2>/dev/null; done
	[ "${KEEP_RUN:-0}" = 1 ] || rm -rf "$RUN"
	return 0
}
