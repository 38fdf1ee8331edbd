#!/bin/bash
# pfsync frames past pfd's queue (pfd.8, PFSYNC PAST THE QUEUE): once pf
# passed a pfsync flow by a state, its frames skip the queue both ways,
# so they never wait behind the data path's packets. The seed article's
# pair: with $FLOWS new UDP flows through fw1, fw2 receives hundreds of
# pfsync frames while its NFQUEUE sees only a few packets (CARP's
# advertisements), every state arrives, and the pfsync state's counters
# in `pfctl -vss` still count the frames. A rule loaded later blocks the
# flow once its state is killed, as pf would. pfctl -d removes the table,
# -e makes it empty. Ends with "N passed, N failed".

set -u
P=${P:-pfsp$$}
source "$(dirname "$0")/../lib/suite.sh"
FLOWS=${SYNCPASS_FLOWS:-2000}

topo_up
topo_flow_conf "set timeout { udp.first 300, udp.single 300 }"
fw_start fw1
sleep 1
fw_start fw2
check "fw1 is MASTER on carp2" wait_carp fw1 carp2 MASTER 15
check "fw2 finished its bulk update" bash -c "for i in \$(seq 100); do grep -q 'bulk update complete' '$RUN/fw2.pfsyncd.log' && exit 0; sleep 0.1; done; exit 1"

# `nft list set` of a firewall's in/out set: its elements, one a line.
listed() { in_ns "$1" nft list set ip pfd_syncpass "$2" 2>/dev/null | grep -o '"hvn2" \. [0-9.]* \. [0-9.]* counter packets [0-9]*'; }
# Packets the firewall's NFQUEUE was given so far (its id sequence).
# Fields: queue portid total copy_mode copy_range queue_dropped user_dropped id_sequence 1.
queued() { in_ns "$1" awk '{ n += $8 } END { print n + 0 }' /proc/net/netfilter/nfnetlink_queue; }
# Frames the in set counted from fw1 (169.254.0.1) on fw2.
counted_in() { listed fw2 in | awk '$3 == "169.254.0.1" { n += $NF } END { print n + 0 }'; }
wait_listed() { local i; for i in $(seq 40); do [ -n "$(listed "$1" "$2")" ] && return 0; sleep 0.25; done; return 1; }

check "fw1 lists its pfsync flow out past the queue" wait_listed fw1 out
check "fw2 lists fw1's pfsync flow in past the queue" wait_listed fw2 in
listed fw2 in | sed 's/^/# fw2 in: /'

q0=$(queued fw2)
c0=$(counted_in)
in_ns cl python3 "$LIB/udpflows.py" "$FLOWS" 2000
sleep 1.5
q1=$(queued fw2)
c1=$(counted_in)
frames=$((c1 - c0))
echo "# fw2: $frames pfsync frames from fw1 past the queue, $((q1 - q0)) packets queued meanwhile"
check "fw2 received pfsync frames past the queue ($frames)" test "$frames" -ge 100
check "fw2's queue saw few packets meanwhile ($((q1 - q0)) of $frames frames)" test $((q1 - q0)) -lt $((frames / 4))
synced() { in_fw "$1" "$BIN/pfctl" -ss | grep -E 'udp (192\.168\.99\.50|192\.0\.2\.20):' | sort; }
synced fw1 >"$RUN/fw1.states"
synced fw2 >"$RUN/fw2.states"
missing=$(comm -23 "$RUN/fw1.states" "$RUN/fw2.states" | wc -l)
check "every state of fw1 is on fw2 ($missing missing of $(wc -l <"$RUN/fw1.states"))" test "$missing" -eq 0

# The state that passed fw1's frames in counts them (each second).
sleep 1.2
in_fw fw2 "$BIN/pfctl" -vss | grep -A 1 ' pfsync ' | sed 's/^/# fw2: /'
pkts=$(in_fw fw2 "$BIN/pfctl" -vss | awk '/ pfsync / && /169\.254\.0\.1/ && /224\.0\.0\.240/ { s = 1; next } s && /pkts/ { split($0, a, ","); for (i in a) if (a[i] ~ /pkts/) { gsub(/[^0-9:]/, "", a[i]); split(a[i], p, ":"); print p[1] + p[2]; exit } }')
check "pfctl -vss: fw2's pfsync state counts the frames (${pkts:-none} >= $frames)" test "${pkts:-0}" -ge "$frames"

# A block rule loaded now: the state keeps passing the flow (as pf);
# killed, the flow is unlisted and its frames are filtered, and blocked.
sed -i 's/^pass quick on \$sync_if proto pfsync$/block drop quick on $sync_if proto pfsync/' "$RUN/etc-fw2/pf.conf"
check "fw2 loads a ruleset blocking pfsync" in_fw fw2 "$BIN/pfctl" -q -f "$RUN/etc-fw2/pf.conf"
check "fw2 still lists the flow while its state lives" wait_listed fw2 in
in_fw fw2 "$BIN/pfctl" -q -k 169.254.0.1
in_fw fw2 "$BIN/pfctl" -q -k 169.254.0.0
gone() { local i; for i in $(seq 20); do [ -z "$(listed fw2 in)" ] && return 0; sleep 0.25; done; return 1; }
check "fw2 unlists the flow once its state is killed" gone
r0=$(in_fw fw2 "$BIN/carpctl" -s pfsync0 | awk '/packets received/ { print $1; exit }')
in_ns cl python3 "$LIB/udpflows.py" 200 0 30000
sleep 1
r1=$(in_fw fw2 "$BIN/carpctl" -s pfsync0 | awk '/packets received/ { print $1; exit }')
check "fw2's pfsyncd hears nothing from fw1 now (${r0:-?} -> ${r1:-?})" test "${r1:-x}" = "${r0:-y}"
check "no pfsync state on fw2" bash -c "! PF_SOCKET='$RUN/fw2.sock' ip netns exec '$(ns fw2)' '$BIN/pfctl' -ss | grep -q pfsync"
check "fw2 lists no flow" test -z "$(listed fw2 in)$(listed fw2 out)"

# pfctl -d removes the table with the hooks, -e makes it empty again.
in_fw fw1 "$BIN/pfctl" -q -d
check "pfctl -d: fw1 has no pfd_syncpass table" bash -c "! ip netns exec '$(ns fw1)' nft list table ip pfd_syncpass >/dev/null 2>&1"
in_fw fw1 "$BIN/pfctl" -q -e
check "pfctl -e: fw1's table is back" in_ns fw1 nft list table ip pfd_syncpass
check "fw1 lists its flow out again" wait_listed fw1 out
summary
