#!/bin/bash
# pfsync's bulk update at size, in the seed article's HA pair: fw1 holds
# some thousands of states fw2 never saw (fw2's pfsyncd stopped, its
# states flushed); fw2's pfsyncd starts, asks, and gets them all. The
# answer starts with BUS START in a frame of its own (as OpenBSD sends
# it), carries every state once and ends with BUS END; fw2's pfsync
# socket drops nothing. Ends with "N passed, N failed".

set -u
P=${P:-pfbk$$}
source "$(dirname "$0")/../lib/suite.sh"
source "$LIB/tshark.sh"
FLOWS=${BULK_FLOWS:-4000}

topo_up
# Flows living long enough for the test.
topo_flow_conf "set timeout { udp.first 300, udp.single 300 }"
PFD_FLAGS=-P fw_start fw1
sleep 1
PFD_FLAGS=-P fw_start fw2
check "fw1 is MASTER on carp2" wait_carp fw1 carp2 MASTER 15
check "fw2 finished its first bulk update" bash -c "for i in \$(seq 100); do grep -q 'bulk update complete' '$RUN/fw2.pfsyncd.log' && exit 0; sleep 0.1; done; exit 1"
pid=$(daemon_pid fw2 pfsyncd)
kill -TERM "$pid"
for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
check "fw2's pfsyncd stopped" bash -c "! kill -0 $pid 2>/dev/null"
in_fw fw2 "$BIN/pfctl" -q -F states

# $FLOWS one-datagram flows from distinct ports: two states each on fw1.
in_ns cl python3 - "$FLOWS" <<'PY'
import socket, sys
for i in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("192.168.99.50", 10000 + i))
    s.sendto(b"x", ("192.0.2.20", 20000))
    s.close()
PY
sleep 1
synced() { in_fw "$1" "$BIN/pfctl" -ss | grep -E 'udp (192\.168\.99\.50|192\.0\.2\.20):' | sort; }
synced fw1 >"$RUN/fw1.states"
have=$(wc -l <"$RUN/fw1.states")
check "fw1 holds the client's $((FLOWS * 2)) states ($have)" test "$have" -ge $((FLOWS * 2))
check "fw2 holds none of them" test "$(synced fw2 | wc -l)" -eq 0

# A big capture buffer: the answer comes at some 30,000 frames a second.
capture fw2 "$RUN/bulk.pcap" -B 65536 -i hvn2 ip proto 240 and src host 169.254.0.1
done0=$(grep -c 'bulk update complete' "$RUN/fw2.pfsyncd.log")
pfsyncd_start fw2
check "fw2's bulk update completes" bash -c "for i in \$(seq 300); do [ \$(grep -c 'bulk update complete' '$RUN/fw2.pfsyncd.log') -gt $done0 ] && exit 0; sleep 0.1; done; exit 1"
capture_stop
synced fw2 >"$RUN/fw2.states"
missing=$(comm -23 "$RUN/fw1.states" "$RUN/fw2.states" | wc -l)
check "every state of fw1 is on fw2 ($missing missing)" test "$missing" -eq 0
drops=$(in_ns fw2 awk '$2 ~ /:00F0$/ { d += $NF } END { print d + 0 }' /proc/net/raw)
check "fw2's pfsync socket dropped no frame ($drops)" test "$drops" -eq 0
sent=$(grep -c 'bulk update: sending' "$RUN/fw1.pfsyncd.log")
check "fw1 sent two bulk updates in all, one per request ($sent)" test "$sent" -eq 2

# The frames of the answer: action numbers per frame (10 BUS, 14 UPD) and
# BUS statuses (1 START, 2 END).
tshark "${TSHARK_OPTS[@]}" -r "$RUN/bulk.pcap" -T fields -E separator=';' \
	-e frame.number -e pfsync.action -e pfsync.bus.status -e pfsync.count 2>/dev/null >"$RUN/bulk.frames"
start=$(awk -F';' '$3 ~ /(^|,)1($|,)/ { print $1; exit }' "$RUN/bulk.frames")
end=$(awk -F';' '$3 ~ /(^|,)2($|,)/ { print $1 }' "$RUN/bulk.frames" | tail -1)
check "the answer has BUS START ($start) and BUS END ($end)" test -n "$start" -a -n "$end"
check "BUS START comes in a frame of its own" \
	bash -c "awk -F';' -v f='${start:-0}' '\$1 == f { exit !(\$2 == \"10\") } END { }' '$RUN/bulk.frames'"
upd=$(awk -F';' -v s="${start:-0}" -v e="${end:-0}" '$1 > s && $1 <= e {
	n = split($2, a, ","); split($4, c, ",")
	for (i = 1; i <= n; i++) if (a[i] == 14) u += c[i] }
	END { print u + 0 }' "$RUN/bulk.frames")
check "the states come between START and END, once ($upd UPD for $have)" test "$upd" -ge "$have" -a "$upd" -lt $((have * 2))
bad=$(tshark_bad_frames "$RUN/bulk.pcap")
check "tshark decodes the bulk frames ($bad malformed)" test "$bad" -eq 0

summary
