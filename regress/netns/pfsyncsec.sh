#!/bin/bash
# pfsync on a shared sync network with a third host: syncpeer changed
# while pfsync0 runs, authenticated pfsync (`pass`), the rate limit on
# bulk requests, and tshark decoding the CARP and pfsync frames captured
# meanwhile. Ends with "N passed, N failed".
#
#   client 10.1.0.2 -- int0 [fw1] ext0 -- 10.2.0.2 server
#                      sync0 169.254.1.1 --[br-sync]-- 169.254.1.2 sync0 [fw2]
#                                                  \-- 169.254.1.3 eth0 [p3]

set -u
P=${P:-pfss$$}
source "$(dirname "$0")/../lib/suite.sh"
source "$LIB/tshark.sh"

netns_add cl fw1 fw2 srv sw p3
ipv4_only
line_up fw1
route srv default 10.2.0.1
in_ns sw ip link add br-sync type bridge
in_ns sw ip link set br-sync type bridge mcast_snooping 0
in_ns sw ip link set br-sync up
veth fw1 sync0 sw s1
veth fw2 sync0 sw s2
veth p3 eth0 sw s3
for l in s1 s2 s3; do in_ns sw ip link set $l master br-sync up; done
addr fw1 sync0 169.254.1.1/24
addr fw2 sync0 169.254.1.2/24
addr p3 eth0 169.254.1.3/24

conf fw <<'CONF'
set skip on lo
pass quick on sync0 proto pfsync
pass
CONF
for n in fw1 fw2; do
	# Members of group 4242 may read (carpctl pfsync0 without root).
	PFD_FLAGS="-G 4242" pfd_start $n
	check "$n: pfd starts" test -S "$RUN/$n.sock"
	check "$n: pf enabled, ruleset loaded" in_fw $n "$BIN/pfctl" -q -e -f "$RUN/fw.conf"
	pfsyncd_start $n
done
# Every frame on the sync network, and the CARP advertisements, for tshark.
capture fw1 "$RUN/pfsync.pcap" -i sync0 ip proto 240
dump_sync=$CAPTURE
(exec ip netns exec "$(ns fw1)" timeout 300 tcpdump --immediate-mode -i int0 -nn -U -w "$RUN/carp.pcap" ip proto 112 2>/dev/null) &
dump_carp=$!
check "fw1: a carp interface (advertisements to decode)" in_fw fw1 "$BIN/carpctl" carp1 inet 10.1.0.254 255.255.255.0 vhid 1 carpdev int0 pass carppass advskew 10 up
check "fw1: pfsync0 up, unicast to fw2" in_fw fw1 "$BIN/carpctl" pfsync0 syncdev sync0 syncpeer 169.254.1.2 up
check "fw2: pfsync0 up" in_fw fw2 "$BIN/carpctl" pfsync0 syncdev sync0 syncpeer 169.254.1.1 up
sleep 1

# A new state on fw1 (a ping with its own ICMP id) and whether fw2 has it.
new_state() { in_ns cl ping -c 1 -W 1 10.2.0.2 >/dev/null 2>&1; }
# flow PORT: a UDP datagram from the client's source port PORT (a state
# of its own on fw1); has_flow FW PORT: FW has that state (2 s).
flow() { in_ns cl python3 -c 'import socket, sys; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("", int(sys.argv[1]))); s.sendto(b"x", ("10.2.0.2", 9))' "$1"; }
has_flow() {
	local i
	for i in $(seq 20); do in_fw "$1" "$BIN/pfctl" -ss | grep -q "udp 10.1.0.2:$2 -> 10.2.0.2:9 " && return 0; sleep 0.1; done
	return 1
}
states_on() { in_fw "$1" "$BIN/pfctl" -ss | grep -c 'icmp 10.1.0.2:' || true; }
wait_states() { # FW N: until FW has N client states (2 s)
	local i
	for i in $(seq 20); do [ "$(states_on "$1")" -ge "$2" ] && return 0; sleep 0.1; done
	return 1
}
# pfsyncd's counters, logged on SIGHUP: the number before NAME.
pfsync_stat() {
	local log=$RUN/$1.pfsyncd.log n
	n=$(wc -l <"$log")
	kill -HUP "$(daemon_pid "$1" pfsyncd)"
	local i
	for i in $(seq 20); do tail -n +$((n + 1)) "$log" | grep -q 'statistics:' && break; sleep 0.1; done
	tail -n +$((n + 1)) "$log" | grep 'statistics:' | tail -1 | grep -o "[0-9]* $2" | awk '{print $1}'
}
# unicast_to NS ADDR: pfsync frames fw1 sends go to ADDR (seen in NS).
unicast_to() {
	local ns=$1 dst=$2 out
	in_ns "$ns" timeout 5 tcpdump --immediate-mode -i "$3" -nn -c 1 "ip proto 240 and src host 169.254.1.1 and dst host $dst" >"$RUN/uni.txt" 2>/dev/null &
	local t=$!
	sleep 0.5
	new_state
	wait $t
}

# --------------------------------------------------- syncpeer while running
check "fw1 sends its inserts unicast to fw2" unicast_to fw2 169.254.1.2 sync0
check "fw2 has the state" wait_states fw2 1
check "fw1: syncpeer changed while up" in_fw fw1 "$BIN/carpctl" pfsync0 syncpeer 169.254.1.3
check "fw1 still up and shows the new peer" bash -c "in_fw fw1 '$BIN/carpctl' pfsync0 | grep -q 'syncpeer: 169.254.1.3' && in_fw fw1 '$BIN/carpctl' pfsync0 | grep -q 'flags=.*RUNNING'"
check "fw1's frames now go unicast to 169.254.1.3" unicast_to p3 169.254.1.3 eth0
check "the peer change started no new bulk request" test "$(grep -c 'pfsync0 up' "$RUN/fw1.pfsyncd.log")" -eq 1
check "fw1: syncpeer back to fw2" in_fw fw1 "$BIN/carpctl" pfsync0 syncpeer 169.254.1.2

# ------------------------------------------------------- forged bulk requests
sent0=$(grep -c 'bulk update: sending' "$RUN/fw1.pfsyncd.log")
FORGE_DEV=eth0 FORGE_COUNT=20 in_ns p3 python3 "$LIB/forge.py" pfsync 224.0.0.240 bulkreq
sleep 1
sent=$(($(grep -c 'bulk update: sending' "$RUN/fw1.pfsyncd.log") - sent0))
refused=$(pfsync_stat fw1 'bulk requests refused')
echo "pfsync.forged_bulk_requests=20 bulk_updates_sent=$sent refused=$refused"
check "20 forged bulk requests: at most 3 bulk updates sent ($sent)" test "$sent" -ge 1 -a "$sent" -le 3
check "the refused requests are counted ($refused)" test "${refused:-0}" -ge 1
check "and logged" grep -q 'bulk request from 169.254.1.3 refused: rate limit' "$RUN/fw1.pfsyncd.log"

# ------------------------------------------------------ authenticated pfsync
for n in fw1 fw2; do
	check "$n: pass set while up" in_fw $n "$BIN/carpctl" pfsync0 pass s3cret
done
check "carpctl shows auth: on, not the pass" bash -c "out=\$(in_fw fw1 '$BIN/carpctl' pfsync0); grep -q 'auth: on' <<<\"\$out\" && ! grep -q s3cret <<<\"\$out\""
nonroot() { PF_SOCKET="$RUN/fw1.sock" ip netns exec "$(ns fw1)" setpriv --reuid=65534 --regid=4242 --clear-groups "$BIN/carpctl" "$@"; }
check "a non-root reader sees auth: on" bash -c "$(declare -f nonroot); nonroot pfsync0 | grep -q 'auth: on'"
flow 40001
check "same pass on both: the state reaches fw2" has_flow fw2 40001
bad0=$(pfsync_stat fw2 badauth)
check "fw2: a different pass" in_fw fw2 "$BIN/carpctl" pfsync0 pass other
flow 40002
check "fw1 has the state" has_flow fw1 40002
sleep 1.5
bad=$(pfsync_stat fw2 badauth)
check "wrong pass: frames dropped and counted (badauth $bad0 -> $bad)" test "${bad:-0}" -gt "${bad0:-0}"
check "wrong pass: no state created on fw2" fails has_flow fw2 40002
check "wrong pass: logged" grep -q 'pfsync: frame from 169.254.1.1 dropped: bad authentication' "$RUN/fw2.pfsyncd.log"
check "fw2: pass s3cret again; fw1: -pass" bash -c "in_fw fw2 '$BIN/carpctl' pfsync0 pass s3cret && in_fw fw1 '$BIN/carpctl' pfsync0 -pass"
bad0=$bad
flow 40003
sleep 1.5
bad=$(pfsync_stat fw2 badauth)
check "missing pass: frames dropped and counted (badauth $bad0 -> $bad)" test "${bad:-0}" -gt "${bad0:-0}"
check "missing pass: no state created on fw2" fails has_flow fw2 40003
check "missing pass: logged" grep -q 'dropped: not authenticated' "$RUN/fw2.pfsyncd.log"
# A forged bulk request without the pass starts nothing.
check "fw1: pass s3cret again" in_fw fw1 "$BIN/carpctl" pfsync0 pass s3cret
sleep 6
sent0=$(grep -c 'bulk update: sending' "$RUN/fw1.pfsyncd.log")
FORGE_DEV=eth0 in_ns p3 python3 "$LIB/forge.py" pfsync 224.0.0.240 bulkreq
sleep 0.5
check "a forged bulk request without the pass starts no bulk update" test "$(grep -c 'bulk update: sending' "$RUN/fw1.pfsyncd.log")" -eq "$sent0"
flow 40004
check "same pass again: states sync" has_flow fw2 40004

# A replayed frame: fw1's clear (pfctl -F states) captured on the sync
# network and sent again from p3 once fw2 has new states of fw1. Its HMAC
# is good, its number old: dropped, and fw2 keeps the states.
capture fw2 "$RUN/clear.pcap" -i sync0 ip proto 240 and src host 169.254.1.1
in_fw fw1 "$BIN/pfctl" -q -F states
check "fw1's clear empties fw2 of fw1's states" bash -c "for i in \$(seq 20); do in_fw fw2 '$BIN/pfctl' -ss | grep -q ' 10.1.0.2:' || exit 0; sleep 0.1; done; exit 1"
capture_stop
flow 40005
check "a new state of fw1 on fw2" has_flow fw2 40005
rep0=$(pfsync_stat fw2 replayed)
FORGE_DEV=eth0 in_ns p3 python3 "$LIB/forge.py" replay "$RUN/clear.pcap"
sleep 1
rep=$(pfsync_stat fw2 replayed)
check "replayed frames dropped and counted (replayed $rep0 -> $rep)" test "${rep:-0}" -gt "${rep0:-0}"
check "the replayed clear removed nothing on fw2" has_flow fw2 40005
check "replay logged" grep -q 'pfsync: frame from 169.254.1.1 dropped: replayed' "$RUN/fw2.pfsyncd.log"
sleep 0.3
n=$(in_fw fw2 "$BIN/carpctl" -s pfsync0 | awk '/discarded for bad HMAC/ {print $1}')
check "carpctl -s pfsync0 counts them as bad HMAC ($n >= $((bad + rep)))" test "${n:-0}" -ge $((bad + rep))
# fw2's pfsyncd restarts: its bulk request (numbered from its new start,
# above its old numbers) is taken by fw1, and fw1's signed bulk update
# brings the states back.
done0=$(grep -c 'bulk update complete' "$RUN/fw2.pfsyncd.log")
kill "$(daemon_pid fw2 pfsyncd)"
sleep 1
in_fw fw2 "$BIN/pfctl" -q -F states
pfsyncd_start fw2
check "restarted fw2: authenticated bulk update complete" bash -c "for i in \$(seq 100); do [ \$(grep -c 'bulk update complete' '$RUN/fw2.pfsyncd.log') -gt $done0 ] && exit 0; sleep 0.1; done; exit 1"
check "restarted fw2: fw1's states back" has_flow fw2 40005

# ------------------------------------------------------------------ tshark
sleep 1
kill $dump_sync $dump_carp 2>/dev/null
wait $dump_sync $dump_carp 2>/dev/null
for f in pfsync carp; do
	n=$(tshark_count "$RUN/$f.pcap" "$f")
	bad=$(tshark_malformed "$RUN/$f.pcap")
	echo "pfsync.tshark.$f frames=$n malformed=$bad"
	check "tshark decodes the captured $f frames ($n)" test "$n" -ge 5
	check "tshark: no malformed $f frame ($bad warnings)" test "$bad" -eq 0
done
n=$(tshark_count "$RUN/pfsync.pcap" pfsync.hmac)
check "tshark: frames with the pass's HMAC trailer among them ($n)" test "$n" -ge 3
n=$(tshark_count "$RUN/pfsync.pcap" 'pfsync.action == 10')
check "tshark: the bulk update's BUS messages among them ($n)" test "$n" -ge 1
# The checker is not blind: forged malformed frames are reported.
capture p3 "$RUN/forged.pcap" -i eth0 ip proto 240 and src host 169.254.1.3
for k in badver badlen truncated badact; do
	FORGE_DEV=eth0 in_ns p3 python3 "$LIB/forge.py" pfsync 224.0.0.240 $k
done
capture_stop
bad=$(tshark_bad_frames "$RUN/forged.pcap")
lines=$(tshark_malformed "$RUN/forged.pcap")
check "tshark flags each forged malformed pfsync frame ($bad of 4 frames, $lines lines)" test "$bad" -eq 4 -a "$lines" -ge 4

summary
