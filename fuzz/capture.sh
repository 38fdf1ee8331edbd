#!/bin/bash
# fuzz/capture.sh CAPDIR: real traffic for the fuzz seeds, captured in
# network namespaces (regress/lib/topo.sh: the seed article's HA pair,
# namespaces named fzc<pid>*, removed at the end). Needs root and the
# debug binaries (BIN, default target/debug; fuzz/seed.sh builds them).
#
# While fw1 and fw2 boot, elect, replicate and fail over, AF_PACKET
# sniffers on fw1's hvn2 (sync), hvn3 (outside) and hvn4 (inside) record
# every frame (fuzz/seedcap.py sniff): CARP advertisements of both firewalls
# and fw1's bow-out, pfsync inserts, updates, deletes and a bulk update
# (fw2's pfsyncd restarted), and the data path: IPv4 and IPv6 pings (whole
# and fragmented), TCP connections (NATed, IPv6), a TCP connection pf
# answers with block return (RST), UDP to a closed port and pings with TTL
# 1 (ICMP errors quoting a header), neighbour discovery and ARP. pfctl and
# carpctl talk to fw1's pfd through a recording proxy (seedcap.py proxy).
# CAPDIR gets fw1-IFACE.cap and control/N.req|rep.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
CAP=${1:?usage: fuzz/capture.sh CAPDIR}
mkdir -p "$CAP/control" || exit 2
CAP=$(cd "$CAP" && pwd)
P=fzc$$
BIN=${BIN:-$ROOT/target/debug}
# shellcheck source=../regress/lib/topo.sh
source "$ROOT/regress/lib/topo.sh"
SEEDCAP="$HERE/seedcap.py"
PIDS=()

cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait "${PIDS[@]}" 2>/dev/null
	topo_down >/dev/null 2>&1
	rm -rf "$RUN"
}
trap cleanup EXIT

for b in pfd pfctl pfsyncd carpctl netstart; do
	if [ ! -x "$BIN/$b" ]; then
		echo "fuzz/capture.sh: no $BIN/$b (cargo build first)" >&2
		exit 2
	fi
done

# Start a background helper and wait until it says "ready".
helper() {
	local log=$1
	shift
	"$@" 2>"$log" &
	PIDS+=($!)
	local i
	for i in $(seq 100); do
		grep -q ready "$log" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "fuzz/capture.sh: $* did not start: $(cat "$log")" >&2
	return 1
}

topo_up
for i in hvn2 hvn3 hvn4; do
	helper "$RUN/sniff-$i.log" ip netns exec "$(ns fw1)" python3 "$SEEDCAP" sniff "$i" "$CAP/fw1-$i.cap" || exit 1
done

# Preemption, as regress/netns/ha.sh: fw1 (advskew 0) is MASTER once its
# boot demotions are gone, so the data path crosses the sniffed links.
PFD_FLAGS="-P" fw_start fw1
sleep 1
PFD_FLAGS="-P" fw_start fw2
wait_carp fw1 carp1 MASTER 15 && wait_carp fw1 carp2 MASTER 15 || echo "fuzz/capture.sh: fw1 not MASTER" >&2
wait_carp fw2 carp1 BACKUP 15 || echo "fuzz/capture.sh: fw2 not BACKUP" >&2

# IPv6 through fw1 (topo.sh runs the article's IPv4-only hosts).
for n in cl srv fw1; do
	in_ns $n sysctl -q -w net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0
done
for i in eth0; do
	in_ns cl sysctl -q -w net.ipv6.conf.$i.disable_ipv6=0
	in_ns srv sysctl -q -w net.ipv6.conf.$i.disable_ipv6=0
done
for i in hvn3 hvn4; do in_ns fw1 sysctl -q -w net.ipv6.conf.$i.disable_ipv6=0; done
in_ns fw1 sysctl -q -w net.ipv6.conf.all.forwarding=1
in_ns cl ip -6 addr add fd00:99::50/64 dev eth0 nodad
in_ns cl ip -6 route add default via fd00:99::1
in_ns fw1 ip -6 addr add fd00:99::1/64 dev hvn4 nodad
in_ns fw1 ip -6 addr add 2001:db8:2::10/64 dev hvn3 nodad
in_ns srv ip -6 addr add 2001:db8:2::20/64 dev eth0 nodad
in_ns srv ip -6 route add default via 2001:db8:2::10

helper "$RUN/echo.log" ip netns exec "$(ns srv)" python3 "$SEEDCAP" echo 8080 || exit 1

# The data path, one kind of traffic at a time (the seeds are cut at pauses).
step() {
	"$@" >/dev/null 2>&1
	sleep 0.5
}
step in_ns cl ping -c 3 -i 0.2 -W 1 192.0.2.20
step in_ns cl ping -c 2 -i 0.2 -W 1 -s 3000 192.0.2.20
step in_ns cl python3 "$SEEDCAP" talk 192.0.2.20 8080
step in_ns cl python3 "$SEEDCAP" talk 192.0.2.20 6000
step in_ns cl python3 "$SEEDCAP" udp 192.0.2.20 9
step in_ns cl ping -c 2 -i 0.2 -W 1 -t 1 192.0.2.20
step in_ns cl ping -6 -c 3 -i 0.2 -W 1 2001:db8:2::20
step in_ns cl ping -6 -c 2 -i 0.2 -W 1 -s 3000 2001:db8:2::20
step in_ns cl python3 "$SEEDCAP" talk 2001:db8:2::20 8080
step in_ns cl python3 "$SEEDCAP" udp 2001:db8:2::20 9
step in_ns cl ping -6 -c 2 -i 0.2 -W 1 -t 1 2001:db8:2::20
step in_ns srv python3 "$SEEDCAP" udp 192.0.2.1 9

# The control socket: pfctl and carpctl through the recording proxy.
helper "$RUN/proxy.log" python3 "$SEEDCAP" proxy "$RUN/proxy.sock" "$RUN/fw1.sock" "$CAP/control" || exit 1
ctl() { PF_SOCKET="$RUN/proxy.sock" ip netns exec "$(ns fw1)" "$@" >/dev/null 2>&1; }
for a in -sr -vvsr -ss -vvss -si -vsi -sa -st -sm -sI -vsI -sl -s Sources -s labels -s osfp; do
	# shellcheck disable=SC2086
	ctl "$BIN/pfctl" $a
done
ctl "$BIN/pfctl" -t fuzzseed -T add 192.0.2.99 10.0.0.0/8 2001:db8::/32
ctl "$BIN/pfctl" -t fuzzseed -T show
ctl "$BIN/pfctl" -t fuzzseed -T test 10.1.2.3
ctl "$BIN/pfctl" -t fuzzseed -T delete 10.0.0.0/8
ctl "$BIN/pfctl" -f "$RUN/etc-fw1/pf.conf"
ctl "$BIN/pfctl" -k 192.0.2.99
ctl "$BIN/pfctl" -x info
ctl "$BIN/carpctl" carp1
ctl "$BIN/carpctl" pfsync0
ctl "$BIN/carpctl" carp1 advskew 10
ctl "$BIN/carpctl" -g carp carpdemote 0

# A bulk update: fw2's pfsyncd restarted asks fw1 for every state.
kill -TERM "$(cat "$RUN/fw2.pfsyncd.pid")" 2>/dev/null
sleep 0.5
(PF_SOCKET="$RUN/fw2.sock" exec ip netns exec "$(ns fw2)" "$BIN/pfsyncd" -d >>"$RUN/fw2.pfsyncd.log" 2>&1) &
echo $! >"$RUN/fw2.pfsyncd.pid"
sleep 3
# fw1 bows out; fw2 takes over and advertises.
fw_stop fw1 TERM
sleep 3
exit 0
