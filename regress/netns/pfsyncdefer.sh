#!/bin/bash
# pfsync defer with asymmetric paths, as pfsync(4) describes them: two
# firewalls on the same inside and outside networks, the client's route
# through fw1, the server's route back through fw2. fw2 lets in from the
# outside only what matches a state, so the reply to a new connection
# passes only if fw1's state reached fw2 first. With `defer`, fw1 holds
# the packet that created the state until fw2 acknowledged the insert (or
# 20 ms). Prints the round trips; ends with "N passed, N failed".
#
#   client 10.1.0.2 --[br-in]-- int0 fw1 .1 / fw2 .11
#                                sync0 169.254.1.1 <-> 169.254.1.2 sync0
#   server 10.2.0.2 --[br-out]- ext0 fw1 .1 / fw2 .11

set -u
P=${P:-pfsd$$}
source "$(dirname "$0")/../lib/suite.sh"
source "$LIB/tshark.sh"
PORT=7007

netns_add cl fw1 fw2 srv sw
ipv4_only
in_ns sw ip link add br-in type bridge
in_ns sw ip link add br-out type bridge
in_ns sw ip link set br-in up
in_ns sw ip link set br-out up
veth cl eth0 sw c0
veth srv eth0 sw s0
in_ns sw ip link set c0 master br-in up
in_ns sw ip link set s0 master br-out up
for n in 1 2; do
	veth fw$n int0 sw f${n}i
	veth fw$n ext0 sw f${n}o
	in_ns sw ip link set f${n}i master br-in up
	in_ns sw ip link set f${n}o master br-out up
done
veth fw1 sync0 fw2 sync0
addr cl eth0 10.1.0.2/24
addr srv eth0 10.2.0.2/24
addr fw1 int0 10.1.0.1/24
addr fw1 ext0 10.2.0.1/24
addr fw1 sync0 169.254.1.1/30
addr fw2 int0 10.1.0.11/24
addr fw2 ext0 10.2.0.11/24
addr fw2 sync0 169.254.1.2/30
route cl default 10.1.0.1
route srv default 10.2.0.11
forwarding fw1 inet
forwarding fw2 inet
for n in fw1 fw2; do
	in_ns $n sysctl -q -w net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.default.send_redirects=0
done
serve srv python3 "$LIB/flowrtt.py" serve $PORT

# Both firewalls: in from the outside only with a state.
conf fw <<'CONF'
set skip on lo
pass quick on sync0 proto pfsync
block
pass in on int0
pass out
CONF
for n in fw1 fw2; do
	check "$n: pfd starts" pfd_start $n
	check "$n: pf enabled, ruleset loaded" in_fw $n "$BIN/pfctl" -q -e -f "$RUN/fw.conf"
	pfsyncd_start $n
	check "$n: pfsync0 up with defer" in_fw $n "$BIN/carpctl" pfsync0 syncdev sync0 defer up
done
check "fw1 shows defer: on" bash -c "in_fw fw1 '$BIN/carpctl' pfsync0 | grep -q 'defer: on'"
for n in fw1 fw2; do
	check "$n: bulk update done" bash -c "for i in \$(seq 100); do grep -q 'bulk update complete' '$RUN/$n.pfsyncd.log' && exit 0; sleep 0.1; done; exit 1"
done

# probe N [tcp]: N new UDP (or TCP) flows from the client; the line
# flowrtt.py prints.
probe() { in_ns cl python3 "$LIB/flowrtt.py" probe "${2:-udp}" 10.2.0.2 $PORT "$1" 0.5; }
answered() { awk '{print $2}' <<<"$1"; }
# The largest and the median round trip (ms, integers) of a probe line.
rtt_max() { tr ' ' '\n' <<<"${1#*rtt_ms }" | grep -v lost | sort -n | tail -1 | cut -d. -f1; }
rtt_median() { tr ' ' '\n' <<<"${1#*rtt_ms }" | grep -v lost | sort -n | awk '{a[NR]=$1} END {print int(a[int((NR+1)/2)])}'; }

# ------------------------------------------------- asymmetric, with defer
capture fw1 "$RUN/defer.pcap" -i sync0 ip proto 240
out=$(probe 10)
capture_stop
echo "# defer on: $out"
echo "pfsync.defer.asym_answered=$(answered "$out")/10"
check "defer: every new flow answered through the other firewall ($(answered "$out")/10)" test "$(answered "$out")" -eq 10
tcp=$(probe 10 tcp)
echo "# defer on, TCP: $tcp"
echo "pfsync.defer.asym_tcp_answered=$(answered "$tcp")/10"
check "defer: every new TCP connection made through both firewalls ($(answered "$tcp")/10)" test "$(answered "$tcp")" -eq 10
check "defer: fw2 has the client's states" bash -c "in_fw fw2 '$BIN/pfctl' -ss | grep -q '10.1.0.2:[0-9]* -> 10.2.0.2:$PORT'"
# The peer's ack releases the packet well before the 20 ms are up (a
# loaded machine may delay one past them: the median is checked).
check "defer: acked, not timed out (median round trip $(rtt_median "$out") ms < 15, max $(rtt_max "$out") ms)" test "$(rtt_median "$out")" -lt 15

# What fw1 counted (carpctl -s pfsync0, OpenBSD's defer-add, defer-ack,
# defer-run): defer: N packets deferred: A released on ack, T on timeout, ...
defer_line() { in_fw fw1 "$BIN/carpctl" -s pfsync0 | grep 'deferred:'; }
dcount() { defer_line | awk -v f="$1" '{ print $f }'; }
echo "# fw1: $(defer_line)"
check "carpctl -s pfsync0: fw1 deferred the first packets ($(dcount 1))" test "$(dcount 1)" -ge 20
check "carpctl -s pfsync0: released on the peer's ack ($(dcount 4))" test "$(dcount 4)" -ge 10
tmo_before=$(dcount 8)

# What went over the sync link: inserts asking for an ack (PFSTATE_ACK,
# 0x0010), the peer's INS_ACKs, as tshark decodes them.
n_ack=$(tshark_count "$RUN/defer.pcap" 'pfsync.action == 13 && pfsync.state_flags & 0x0010')
n_iack=$(tshark_count "$RUN/defer.pcap" 'pfsync.action == 2')
bad=$(tshark_malformed "$RUN/defer.pcap")
echo "pfsync.tshark.defer ins_with_ack=$n_ack ins_ack=$n_iack malformed=$bad"
check "tshark: fw1's inserts ask for an ack ($n_ack frames)" test "$n_ack" -ge 10
check "tshark: fw2's INS_ACKs ($n_iack frames)" test "$n_iack" -ge 10
check "tshark: no malformed frame ($bad warnings)" test "$bad" -eq 0

# ----------------------------------------------- asymmetric, without defer
check "fw1: -defer" in_fw fw1 "$BIN/carpctl" pfsync0 -defer
out=$(probe 10)
echo "# defer off: $out"
echo "pfsync.defer.asym_answered_without=$(answered "$out")/10"
check "without defer the reply races the state: flows lost ($(answered "$out")/10 answered)" test "$(answered "$out")" -lt 10
tcp=$(probe 10 tcp)
echo "# defer off, TCP: $tcp"
echo "pfsync.defer.asym_tcp_answered_without=$(answered "$tcp")/10"
check "without defer TCP connections fail or wait for a SYN resend ($(answered "$tcp")/10 within 0.5 s)" test "$(answered "$tcp")" -lt 10

# ------------------------------------ no ack from the peer: held 20 ms at most
# The server routes back through fw1 (a symmetric path), and fw2's pfsyncd
# is gone: nobody acks fw1's inserts.
check "fw1: defer again" in_fw fw1 "$BIN/carpctl" pfsync0 defer
in_ns srv ip route replace default via 10.2.0.1
out=$(probe 10)
echo "# defer on, peer acking, symmetric: $out"
acked_med=$(rtt_median "$out")
kill "$(daemon_pid fw2 pfsyncd)"
sleep 0.5
# How long fw1 held each question: from its arrival on int0 to its
# departure on ext0, by the kernel's timestamps.
(exec ip netns exec "$(ns fw1)" timeout 300 tcpdump --immediate-mode -i any -nn -tt -l -Q inout "udp port $PORT and src host 10.1.0.2" >"$RUN/held.txt" 2>/dev/null) &
dump=$!
sleep 1
out=$(probe 10)
sleep 0.3
kill $dump 2>/dev/null
wait $dump 2>/dev/null
echo "# defer on, no ack: $out"
held=$(awk '{ split($0, f, " "); t = f[1]; ifn = f[2]; for (i = 1; i <= NF; i++) if ($i ~ /^10\.1\.0\.2\./) sp = $i;
	if (ifn == "int0") a[sp] = t; else if (ifn == "ext0" && (sp in a)) printf "%d\n", (t - a[sp]) * 1000 + 0.5 }' "$RUN/held.txt" | sort -n)
n=$(wc -l <<<"$held")
med=$(awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}' <<<"$held")
max=$(tail -1 <<<"$held")
echo "# held (ms): $(echo $held)"
echo "pfsync.defer.rtt_acked_median_ms=$acked_med"
echo "pfsync.defer.held_noack_median_ms=$med"
echo "pfsync.defer.held_noack_max_ms=$max"
check "no ack: every flow answered ($(answered "$out")/10)" test "$(answered "$out")" -eq 10
check "no ack: fw1's hold of each first packet measured ($n of 10)" test "$n" -eq 10
check "no ack: the first packet was held (median $med ms >= 19)" test "${med:-0}" -ge 19
# 20 ms from the millisecond clock, seen by a thread that looks every
# millisecond: 19 to 21 ms, plus whatever the scheduler adds.
check "no ack: held no more than 20 ms (median $med ms <= 21; max $max ms)" test "${med:-99}" -le 21
echo "# fw1: $(defer_line)"
check "carpctl -s pfsync0: no ack, released on timeout ($tmo_before -> $(dcount 8))" test "$(dcount 8)" -ge $((tmo_before + 10))
check "carpctl -s pfsync0: none held now ($(dcount 15))" test "$(dcount 15)" -eq 0
check "pfd and pfsyncd on fw1 still running" kill -0 "$(daemon_pid fw1 pfd)" "$(daemon_pid fw1 pfsyncd)"

summary
