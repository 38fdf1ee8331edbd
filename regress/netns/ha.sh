#!/bin/bash
# The seed article's HA firewall pair, for real, in network namespaces:
# state replication, graceful stop of the master, preemption when it
# returns, a crash with the default and with a sub-second CARP setting,
# and hostile CARP, pfsync and pf.conf input. Prints the measurements as
# key=value lines and ends with "N passed, N failed".

set -u
P=${P:-pfha$$}
source "$(dirname "$0")/../lib/suite.sh"
source "$LIB/measure.sh"

# ping -i 0.01 gives only ~60 pings/s with iputils' timers; 0.009 gives
# ~110/s (the rate actually reached is printed as ha.ping_rate_pps).
PING_RATE=0.009
TCP_PORT=7000

# -------------------------------------------------------------------- setup
topo_up
PFD_FLAGS="-P" fw_start fw1
sleep 1
PFD_FLAGS="-P" fw_start fw2
in_ns srv python3 "$LIB/tcpprobe.py" server $TCP_PORT &

check "fw1 is MASTER on carp1" wait_carp fw1 carp1 MASTER 15
check "fw1 is MASTER on carp2" wait_carp fw1 carp2 MASTER 15
check "fw2 is BACKUP on carp1" wait_carp fw2 carp1 BACKUP 15
check "fw2 is BACKUP on carp2" wait_carp fw2 carp2 BACKUP 15
check "fw2 finished its bulk update" bash -c "for i in \$(seq 100); do grep -q 'bulk update complete' '$RUN/fw2.pfsyncd.log' && exit 0; sleep 0.1; done; exit 1"
# pfsyncd joins 224.0.0.240 before its request goes out: the first
# answer, however fast, is received (no second request 2 s later).
n=$(grep -c 'bulk update: sending' "$RUN/fw1.pfsyncd.log")
check "fw2's first bulk request was answered: fw1 sent one bulk update ($n)" test "$n" -eq 1
check "client reaches the server through the VIP" in_ns cl ping -c 3 -i 0.2 -W 1 192.0.2.20

# -------------------------------------------------------------- replication
# Time from the first echo request to the client's NAT state on fw2.
icmp_nat_line() { in_fw "$1" "$BIN/pfctl" -ss | grep -E '^all icmp 192\.0\.2\.1:[0-9]+ \(192\.168\.99\.50:[0-9]+\) -> 192\.0\.2\.20:8 '; }
rx_packets() { in_ns "$1" cat /sys/class/net/hvn4/statistics/rx_packets; }
in_fw fw1 "$BIN/pfctl" -q -F states
in_fw fw2 "$BIN/pfctl" -q -F states
sleep 0.3
fw2_rx0=$(rx_packets fw2)
fw1_rx0=$(rx_packets fw1)
t0=$(date +%s%N)
in_ns cl ping -i $PING_RATE -c 300 -W 1 192.0.2.20 >"$RUN/ping-repl.txt" 2>&1 &
ping_pid=$!
repl_ms=none
for i in $(seq 400); do
	if icmp_nat_line fw2 >/dev/null 2>&1; then
		repl_ms=$((($(date +%s%N) - t0) / 1000000))
		break
	fi
	sleep 0.005
done
wait $ping_pid
echo "ha.replication_ms=$repl_ms"
check "fw2 shows the client's ICMP state with its NAT form" icmp_nat_line fw2
check "replication lag under 1 s ($repl_ms ms)" test "$repl_ms" != none -a "${repl_ms/none/99999}" -lt 1000
check "fw1 and fw2 show the same translated state" test "$(icmp_nat_line fw1 | awk '{print $3,$4}')" = "$(icmp_nat_line fw2 | awk '{print $3,$4}')"
fw2_rx=$(($(rx_packets fw2) - fw2_rx0))
fw1_rx=$(($(rx_packets fw1) - fw1_rx0))
echo "# inside packets received during 300 pings: fw1 $fw1_rx, fw2 $fw2_rx"
check "the pings crossed fw1 ($fw1_rx packets in)" test "$fw1_rx" -ge 300
check "none of them crossed fw2 ($fw2_rx packets in)" test "$fw2_rx" -lt 30
check "no ping lost while fw1 is master" test "$(ping_lost "$RUN/ping-repl.txt")" -eq 0

# One failover event under 100 pings/s and a TCP connection sending data.
# $1: name, $2: seconds of traffic, $3: when (s) to run $4...
under_load() {
	local name=$1 secs=$2 at=$3
	shift 3
	in_ns cl python3 "$LIB/tcpprobe.py" client 192.0.2.20 $TCP_PORT "$secs" >"$RUN/tcp-$name.txt" 2>&1 &
	local tcp_pid=$!
	in_ns cl ping -D -i $PING_RATE -c $((secs * 100)) -W 1 192.0.2.20 >"$RUN/ping-$name.txt" 2>&1 &
	local ping_pid=$!
	sleep "$at"
	"$@"
	wait $ping_pid
	wait $tcp_pid
	cat "$RUN/tcp-$name.txt" | sed 's/^/# tcp: /'
}

# ----------------------------------------------------------------- graceful
graceful_stop() {
	fw_stop fw1 TERM
	fw_links fw1 down
}
under_load graceful 8 2.5 graceful_stop
lost=$(ping_lost "$RUN/ping-graceful.txt")
surv=$(probe_field "$RUN/tcp-graceful.txt" survived)
echo "ha.ping_rate_pps=$(ping_rate "$RUN/ping-graceful.txt")"
echo "ha.graceful.ping_lost=$lost"
echo "ha.graceful.tcp_survived=${surv:-0}"
check "graceful: 0 pings lost ($lost)" test "$lost" -eq 0
check "graceful: the TCP connection carried on" test "${surv:-0}" = 1
check "graceful: fw2 is MASTER on carp1" wait_carp fw2 carp1 MASTER 2
check "graceful: fw2 is MASTER on carp2" wait_carp fw2 carp2 MASTER 2

# ------------------------------------------------------------------ preempt
# fw1 boots again (preemption on) and waits until it is $1 on carp1.
fw1_back() {
	fw_reset fw1
	fw_links fw1 up
	PFD_FLAGS="-P" fw_start fw1
	wait_carp fw1 carp1 "$1" 20
}
fw1_returns() { fw1_back MASTER && wait_carp fw1 carp2 MASTER 5; }
under_load preempt 14 2 fw1_returns
lost=$(ping_lost "$RUN/ping-preempt.txt")
surv=$(probe_field "$RUN/tcp-preempt.txt" survived)
echo "ha.preempt.ping_lost=$lost"
echo "ha.preempt.tcp_survived=${surv:-0}"
check "preempt: fw1 is MASTER again on carp1" wait_carp fw1 carp1 MASTER 1
check "preempt: fw1 is MASTER again on carp2" wait_carp fw1 carp2 MASTER 1
check "preempt: fw2 went back to BACKUP" wait_carp fw2 carp1 BACKUP 3
check "preempt: the TCP connection survived" test "${surv:-0}" = 1
# The fast path's program forwarded the connection itself on both, carp
# interfaces or not (a closed gate holds it off that interface's packets).
fwd_prog() { in_fw "$1" "$BIN/pfctl" -vsi | awk '/^  forwarded by the program / { print $5; exit }'; }
n1=$(fwd_prog fw1)
n2=$(fwd_prog fw2)
echo "ha.preempt.forwarded_by_program=fw1:${n1:-none},fw2:${n2:-none}"
check "preempt: fw2's program forwarded packets itself while MASTER (${n2:-none})" test "${n2:-0}" -gt 0
check "preempt: fw1's program forwarded packets itself after taking over (${n1:-none})" test "${n1:-0}" -gt 0

# -------------------------------------------------------------------- crash
crash() {
	fw_stop fw1 KILL
	fw_links fw1 down
}
under_load crash 10 2.5 crash
lost=$(ping_lost "$RUN/ping-crash.txt")
gap=$(ping_maxgap_ms "$RUN/ping-crash.txt")
surv=$(probe_field "$RUN/tcp-crash.txt" survived)
echo "ha.crash.ping_lost=$lost"
echo "ha.crash.failover_ms=$gap"
echo "ha.crash.tcp_survived=${surv:-0}"
# fw2's master-down time is 3 x advbase + advskew/256 = 3.5 s after the
# last advertisement heard: the gap falls between 2.5 and 3.5 s.
check "crash: fw2 took over within its master-down time (gap $gap ms, at most 3500)" test "$gap" -ge 2000 -a "$gap" -le 3700
rate=$(ping_rate "$RUN/ping-crash.txt")
check "crash: loss bounded by the master-down time ($lost pings at $rate/s)" test $((lost * 1000 / (rate > 0 ? rate : 1))) -le 3700
check "crash: the TCP connection survived" test "${surv:-0}" = 1

# --------------------------------------------------- crash, sub-second CARP
# fw1 returns, then both run advbase 0: fw1 advskew 20 (an advertisement
# every 78 ms), fw2 advskew 60 (master down after 3/256 s + 234 ms = 246
# ms; regress/netns/carpfast.sh and regress/bench/ha go down to 1/256 s).
fw1_returns
check "fw1 is MASTER again before the fast crash" wait_carp fw1 carp1 MASTER 1
for c in carp1 carp2; do
	in_fw fw1 "$BIN/carpctl" $c advbase 0 advskew 20
done
sleep 0.3
for c in carp1 carp2; do
	in_fw fw2 "$BIN/carpctl" $c advbase 0 advskew 60
done
sleep 1
check "fast timers: fw1 still MASTER" wait_carp fw1 carp1 MASTER 1
check "fast timers: fw2 still BACKUP" wait_carp fw2 carp1 BACKUP 1
under_load crash_fast 6 2 crash
lost=$(ping_lost "$RUN/ping-crash_fast.txt")
gap=$(ping_maxgap_ms "$RUN/ping-crash_fast.txt")
surv=$(probe_field "$RUN/tcp-crash_fast.txt" survived)
echo "ha.crash_fast.ping_lost=$lost"
echo "ha.crash_fast.failover_ms=$gap"
echo "ha.crash_fast.tcp_survived=${surv:-0}"
check "fast crash: failover under a second ($gap ms)" test "$gap" -le 1000
check "fast crash: the TCP connection survived" test "${surv:-0}" = 1

# fw1 comes back once more (it is the sender of the hostile pfsync frames);
# fw2 keeps its faster timers, so fw1 stays BACKUP.
check "fw1 returns after the fast crash" fw1_back BACKUP

# ------------------------------------------------------------ hostile input
stat() { in_fw fw2 "$BIN/carpctl" -s | awk -v k="$1" 'index($0, k) { print $1; exit }'; }
badauth0=$(stat "bad authentication")
badttl0=$(stat "wrong TTL")
in_ns srv python3 "$LIB/forge.py" carp 224.0.0.18 1 wrongpass 255 0
in_ns srv python3 "$LIB/forge.py" carp 224.0.0.18 1 hvn3pass 64 0
sleep 0.3
check "forged CARP: wrong password counted" test "$(stat "bad authentication")" -gt "$badauth0"
check "forged CARP: TTL 64 counted" test "$(stat "wrong TTL")" -gt "$badttl0"
check "forged CARP: fw2 stays MASTER" wait_carp fw2 carp1 MASTER 1
check "forged CARP: logged" grep -q "dropped: bad authentication" "$RUN/fw2.pfd.log"
before=$(wc -l <"$RUN/fw2.pfsyncd.log")
for k in badver badlen truncated badact badval junk; do
	FORGE_DEV=hvn2 in_ns fw1 python3 "$LIB/forge.py" pfsync 224.0.0.240 $k
	sleep 1.05
done
logged=$(tail -n +$((before + 1)) "$RUN/fw2.pfsyncd.log" | grep -c 'malformed frame')
check "malformed pfsync frames rejected and logged ($logged of 6)" test "$logged" -eq 6
check "pfsyncd and pfd still running after them" kill -0 "$(daemon_pid fw2 pfd)" "$(daemon_pid fw2 pfsyncd)"
rules0=$(in_fw fw2 "$BIN/pfctl" -sr)
printf 'pass\nblock in proto tcp from any to any port 99999\npass out on $nosuch\n' >"$RUN/bad.conf"
out=$(in_fw fw2 "$BIN/pfctl" -f "$RUN/bad.conf" 2>&1)
echo "$out" | sed 's/^/# /'
check "malformed pf.conf: errors name file and line" bash -c "grep -q '^$RUN/bad.conf:2: ' <<<'$out' && grep -q '^$RUN/bad.conf:3: ' <<<'$out'"
check "malformed pf.conf: nothing loaded" test "$(in_fw fw2 "$BIN/pfctl" -sr)" = "$rules0"

summary
