#!/bin/bash
# pflog: the packets rules log reach pflog0 live (tcpdump -i pflog0: the
# packet alone, link type DLT_RAW, all Linux allows on an interface),
# NFLOG group 117 live (tcpdump -i nflog:117, tshark: the rule number,
# action, direction and interface as the prefix) and pflogd's pcap file
# (DLT_PFLOG: tcpdump -e prints the rule number, action, direction and
# interface): a blocked and logged ping, a passed
# and logged TCP connection (its first packet only: log without `all`),
# log (matches), log (to pflog1), a rule without log, pflogd -f - into
# tcpdump, SIGHUP and the size limit, a pflogd that never reads (pfd
# neither stalls nor grows; the loss is told). Ends with "N passed, N failed".
#
#   client 10.1.0.2 -- int0 10.1.0.1 [fw] ext0 10.2.0.1 -- 10.2.0.2 server

set -u
P=${P:-pfl$$}
source "$(dirname "$0")/../lib/suite.sh"

netns_add cl fw srv
ipv4_only
line_up fw
route srv default 10.2.0.1

pings() { in_ns cl ping -c 1 -W 1 "$@" >/dev/null 2>&1; }
SOCK="$RUN/fw.sock.pflog"
# pflogd_start NAME ARGS...: pflogd in fw, pid in $RUN/NAME.pid.
pflogd_start() {
	local n=$1
	shift
	(exec ip netns exec "$(ns fw)" "$BIN/pflogd" -D -L "$SOCK" "$@" >>"$RUN/$n.log" 2>&1) &
	echo $! >"$RUN/$n.pid"
	disown $!
}
# The pflogd files as tcpdump -e prints them.
show() { tcpdump -n -e -r "$1" 2>/dev/null; }
# rule NR ACTION DIR IF: the regex of tcpdump -e's pflog prefix: OpenBSD's
# tcpdump prints "rule 3/(match) block in on eth0:", Debian's (4.99)
# "rule 3/0(match): block in on eth0:" and "unkn(12)" for PF_MATCH.
rule() {
	local a=$2
	[ "$a" = match ] && a='(match|unkn\(12\))'
	echo "rule $1/0?\(match\):? $a $3 on $4:"
}
records() { show "$1" | wc -l; }
# until FILE has N records (3 s at the most).
wait_records() {
	local i
	for i in $(seq 30); do [ "$(records "$1")" -ge "$2" ] && return 0; sleep 0.1; done
	return 1
}

serve srv python3 "$LIB/tcpprobe.py" server 80
wait_listen srv 80
check "pfd starts" pfd_start fw
check "pf enables" pfctl -q -e
check "pfd made pflog0, up" bash -c "ip netns exec $(ns fw) ip link show pflog0 | grep -q 'UP'"
check "pflog0 has no IPv6 (nothing of its own shows in a capture)" \
	test "$(in_ns fw sysctl -n net.ipv6.conf.pflog0.disable_ipv6)" = 1
check "pfd's pflog socket is root's alone" test "$(stat -c %a "$SOCK")" = 600

pflogd_start pflogd -f "$RUN/pflog"
pflogd_start pflogd1 -i pflog1 -f "$RUN/pflog1"
for _ in $(seq 30); do [ -s "$RUN/pflog" ] && [ -s "$RUN/pflog1" ] && break; sleep 0.1; done
check "pflogd writes a pcap header of link type PFLOG" \
	bash -c "tcpdump -r '$RUN/pflog' 2>&1 | grep -q 'link-type PFLOG'"
sleep 0.5 # both pflogds connected

# Live: tcpdump on pflog0 started before the traffic (exec: $! is
# tcpdump itself, so the kill below reaches it).
(exec ip netns exec "$(ns fw)" tcpdump -n -l -i pflog0 >"$RUN/live" 2>"$RUN/live.err") &
LIVE=$!
# And on NFLOG group 117, pflog0's by default.
(exec ip netns exec "$(ns fw)" tcpdump -n -e -l -i nflog:117 >"$RUN/nflog" 2>"$RUN/nflog.err") &
NFLOG=$!
for _ in $(seq 50); do grep -q listening "$RUN/live.err" 2>/dev/null &&
	grep -q listening "$RUN/nflog.err" 2>/dev/null && break; sleep 0.1; done

load "pass" "block in log quick on int0 inet proto icmp" "pass in log on int0 proto tcp to port 80"
check "a blocked ping goes unanswered" fails pings 10.2.0.2
check "a logged TCP connection is made" test "$(tcp 10.2.0.2 80)" = 0
wait_records "$RUN/pflog" 2
sleep 0.3
kill "$LIVE" "$NFLOG" 2>/dev/null
wait "$LIVE" "$NFLOG" 2>/dev/null
check "live on pflog0: the blocked ping" grep -q 'IP 10.1.0.2 > 10.2.0.2: ICMP echo request' "$RUN/live"
check "live on pflog0: the TCP connection's SYN" grep -Eq 'IP 10\.1\.0\.2\.[0-9]+ > 10\.2\.0\.2\.80: Flags \[S\]' "$RUN/live"
check "live on pflog0: only the first packet of the connection (log without all)" \
	test "$(grep -c '10\.2\.0\.2\.80:' "$RUN/live")" = 1
check "live on pflog0: link type RAW (Linux has no DLT_PFLOG interfaces)" grep -q 'link-type RAW' "$RUN/live.err"
sed 's/^/    /' "$RUN/nflog"
check "live on nflog:117: link type NFLOG" grep -q 'link-type NFLOG' "$RUN/nflog.err"
check "live on nflog:117: the blocked ping" \
	grep -Eq 'resource ID 117, family IPv4.*: (IP )?10\.1\.0\.2 > 10\.2\.0\.2: ICMP echo request' "$RUN/nflog"
check "live on nflog:117: the TCP connection's SYN, and nothing else" \
	bash -c "grep -Eq '10\.1\.0\.2\.[0-9]+ > 10\.2\.0\.2\.80: Flags \[S\]' '$RUN/nflog' && [ \$(grep -c 'resource ID' '$RUN/nflog') = 2 ]"

out=$(show "$RUN/pflog")
echo "$out" | sed 's/^/    /'
check "file: the ping, rule 1, block in on int0" \
	grep -Eq "$(rule 1 block in int0) 10\.1\.0\.2 > 10\.2\.0\.2: ICMP echo request" <<<"$out"
check "file: the SYN, rule 2, pass in on int0" \
	grep -Eq "$(rule 2 pass in int0) 10\.1\.0\.2\.[0-9]+ > 10\.2\.0\.2\.80: Flags \[S\]" <<<"$out"
check "file: nothing else (rule 0 has no log; log without all)" test "$(wc -l <<<"$out")" = 2
check "file of pflog1: nothing yet" test "$(records "$RUN/pflog1")" = 0

# tshark on nflog:117: the pf fields, as the prefix, the hook and the
# interface's index.
(exec ip netns exec "$(ns fw)" tshark -l -n -i nflog:117 -T fields -e nflog.prefix \
	-e nflog.hook -e nflog.ifindex_indev -e ip.dst >"$RUN/tshark" 2>"$RUN/tshark.err") &
TSHARK=$!
for _ in $(seq 100); do grep -q Capturing "$RUN/tshark.err" 2>/dev/null && break; sleep 0.1; done
sleep 1 # pfd looks for a newly bound group once a second
pings 10.2.0.2
tcp 10.2.0.2 80 >/dev/null
for _ in $(seq 30); do [ "$(wc -l <"$RUN/tshark")" -ge 2 ] && break; sleep 0.1; done
kill "$TSHARK" 2>/dev/null
wait "$TSHARK" 2>/dev/null
sed 's/^/    /' "$RUN/tshark"
int0=$(in_ns fw cat /sys/class/net/int0/ifindex)
check "tshark on nflog:117: the ping, rule 1/(match) block in on int0, pre-routing, int0's index" \
	grep -qx "rule 1/(match) block in on int0	0	$int0	10.2.0.2" "$RUN/tshark"
check "tshark on nflog:117: the SYN, rule 2/(match) pass in on int0" \
	grep -qx "rule 2/(match) pass in on int0	0	$int0	10.2.0.2" "$RUN/tshark"

# log (matches): every rule matching after it is logged.
load "match log (matches) inet proto icmp" "pass" "pass in on int0 inet proto icmp"
check "log (matches): the ping passes" pings 10.2.0.2
wait_records "$RUN/pflog" 9
out=$(show "$RUN/pflog" | tail -n +5)
echo "$out" | sed 's/^/    /'
for want in "0 match in int0" "1 pass in int0" "2 pass in int0" "0 match out ext0" "1 pass out ext0"; do
	set -- $want
	check "log (matches): rule $1 $2 $3 on $4" grep -Eq "$(rule "$@") 10\.1\.0\.2 > 10\.2\.0\.2: ICMP echo request" <<<"$out"
done
check "log (matches): the reply, on the states, is not logged" fails grep -q 'echo reply' <<<"$out"

# A rule without log logs nothing.
n=$(records "$RUN/pflog")
load "pass"
pings 10.2.0.2
tcp 10.2.0.2 80 >/dev/null
sleep 0.5
check "no log: nothing is logged ($n records before and after)" test "$(records "$RUN/pflog")" = "$n"

# log (to pflog1): to pflog1's reader only.
load "pass" "block in log (to pflog1) quick on int0 proto tcp to port 81"
tcp 10.2.0.2 81 >/dev/null
wait_records "$RUN/pflog1" 1
check "log (to pflog1): in pflog1's file" \
	grep -Eq "$(rule 1 block in int0) 10\.1\.0\.2\.[0-9]+ > 10\.2\.0\.2\.81" <<<"$(show "$RUN/pflog1")"
check "log (to pflog1): not in pflog0's" test "$(records "$RUN/pflog")" = "$n"
check "pfd made pflog1 when a rule needed it" in_ns fw ip link show pflog1

# pflogd -f - | tcpdump -r -: OpenBSD's live view with the header.
load "pass" "block in log quick on int0 inet proto icmp"
mkfifo "$RUN/fifo"
(exec tcpdump -n -e -l -r - <"$RUN/fifo" >"$RUN/pipe" 2>"$RUN/pipe.err") &
READER=$!
(exec ip netns exec "$(ns fw)" "$BIN/pflogd" -D -L "$SOCK" -f - >"$RUN/fifo" 2>>"$RUN/pipe.err") &
WRITER=$!
sleep 1
pings 10.2.0.2
for _ in $(seq 30); do grep -q 'rule 1' "$RUN/pipe" && break; sleep 0.1; done
check "pflogd -f - | tcpdump -e -r -: rule 1, block in on int0" \
	grep -Eq "$(rule 1 block in int0) 10\.1\.0\.2 > 10\.2\.0\.2: ICMP echo request" "$RUN/pipe"
# gone PID: until the process is gone (3 s at the most).
gone() { local i; for i in $(seq 30); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done; return 1; }
kill "$WRITER"
check "pflogd -f -: exits on SIGTERM" gone "$WRITER"
check "pflogd -f -: its reader sees the end of the stream" gone "$READER"

# SIGHUP: newsyslog moved the file; pflogd begins a new one.
mv "$RUN/pflog" "$RUN/pflog.moved"
kill -HUP "$(cat "$RUN/pflogd.pid")"
sleep 1
pings 10.2.0.2
wait_records "$RUN/pflog" 1
check "SIGHUP: a new file with the next record" test "$(records "$RUN/pflog")" = 1
check "SIGHUP: the old file is whole" test "$(records "$RUN/pflog.moved")" -ge 8

# The size limit: the file moves to FILE.0.
kill "$(cat "$RUN/pflogd1.pid")"
pflogd_start pflogd2 -f "$RUN/small" -S 600
sleep 1
for i in 1 2 3 4 5 6; do pings 10.2.0.2; done
sleep 0.5
check "-S 600: the full file moved to small.0" test -s "$RUN/small.0"
check "-S 600: neither file is over the limit" \
	bash -c "[ \$(stat -c %s '$RUN/small') -le 600 ] && [ \$(stat -c %s '$RUN/small.0') -le 600 ]"
check "-S 600: no record lost ($(records "$RUN/small.0") + $(records "$RUN/small"))" \
	test $(($(records "$RUN/small.0") + $(records "$RUN/small"))) = 6
check "pfd lost nothing" fails grep -q 'logged packets lost' "$RUN/fw.pfd.log"

# A pflogd that never reads: pfd neither stalls nor grows; the loss is
# counted and told.
in_ns fw python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.send(b"\0"); time.sleep(120)' "$SOCK" &
sleep 0.5
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$(daemon_pid fw pfd)/status"; }
before=$(rss)
had=$(records "$RUN/pflog")
load "pass" "block in log quick on int0 inet proto udp to port 9"
in_ns cl timeout 60 python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(30000): s.sendto(b"x" * 64, ("10.2.0.2", 9))'
check "a stuck pflogd: TCP through pfd still works" test "$(tcp 10.2.0.2 80)" = 0
after=$(rss)
check "a stuck pflogd: pfd's memory stays ($before kB -> $after kB)" test "$after" -lt $((before + 16384))
lost() { grep -q 'logged packets lost' "$RUN/fw.pfd.log"; }
for _ in $(seq 120); do lost && break; sleep 0.1; done
check "a stuck pflogd: the lost packets are logged" lost
now=$(records "$RUN/pflog")
check "a stuck pflogd: the one that reads still writes ($had -> $now records)" test "$now" -gt $((had + 1000))

summary
