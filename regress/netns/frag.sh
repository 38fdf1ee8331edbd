#!/bin/bash
# Fragments and normalization with real packets: reassembly (set reassemble
# yes|no [no-df], the fragment keyword), fragments against port rules,
# fragmented datagrams delivered, IPv6 fragments, scrub (max-mss, no-df,
# random-id, min-ttl, set-tos, reassemble tcp), set tos, tos, sloppy,
# allow-opts, and the kernel's own reassembly when conntrack is in use.
# Ends with "N passed, N failed".
#
#   client 10.1.0.2 -- int0 10.1.0.1 [fw] ext0 10.2.0.1 -- 10.2.0.2 server
#          2001:db8:1::2     ::1          2001:db8:2::1  --  ::2

set -u
P=${P:-pff$$}
source "$(dirname "$0")/../lib/suite.sh"
FP="$LIB/fragprobe.py"

netns_add cl fw srv
no_ra
line_up fw inet6
route srv default 10.2.0.1
route srv default 2001:db8:2::1
for l in "cl eth0" "fw int0" "fw ext0" "srv eth0"; do
	# Offloads would hand tcpdump merged segments.
	in_ns ${l% *} ethtool -K ${l#* } gro off gso off tso off >/dev/null 2>&1
done
sleep 1 # IPv6 addresses settle

# Each case starts from its own ruleset and no states.
LOAD_FLUSHES=1
fp() { local n=$1; shift; in_ns "$n" timeout 20 python3 "$FP" "$@"; }

# The server counts UDP datagrams per port ("PORT LEN" lines).
GOT="$RUN/got"
: >"$GOT"
serve srv python3 "$FP" server "$GOT" 9000 9999
serve srv python3 "$FP" tcp-server 8080
# How many datagrams of LEN bytes reached PORT since the last `reset`.
got() { sleep 0.5; awk -v p="$1" -v l="$2" '$1 == p && $2 == l { n++ } END { print n + 0 }' "$GOT"; }
reset() { : >"$GOT"; }

# tcpdump on the server's wire (the client's with CAPNS=cl): cap_start
# FILTER..., then cap_stop prints what it saw (one line per packet, -v).
cap_start() {
	rm -f "$RUN/cap" "$RUN/cap.err"
	ip netns exec "$(ns "${CAPNS:-srv}")" tcpdump -i eth0 -l -nn -v -s 200 "$@" >"$RUN/cap" 2>"$RUN/cap.err" &
	CAP=$!
	for _ in $(seq 50); do grep -q listening "$RUN/cap.err" 2>/dev/null && break; sleep 0.1; done
}
cap_stop() {
	sleep 0.6
	kill "$CAP" 2>/dev/null
	wait "$CAP" 2>/dev/null
	cat "$RUN/cap"
}
# Fragments the server's wire carried (any offset, MF or not).
frag_lines() { grep -cE 'offset [1-9][0-9]*|flags \[\+\]' <<<"$1"; }
# The Fragments counter NAME of pfctl -vsi.
# (current entries, searches, inserts, removals)
frag_counter() { pfctl -vsi | awk -v n="$1" '/^Fragments/ { f = 1; next } f && $1 == n { print $1 == "current" ? $3 : $2; exit }'; }

check "pfd starts" pfd_start fw
check "pf enables" pfctl -q -e
ND='pass quick inet6 proto icmp6 icmp6-type { neighbrsol, neighbradv } no state'

# --- reassembly (set reassemble yes, the default) ------------------------------
load 'set skip on lo' "$ND" 'pass' 'block in on int0 proto udp to port 9999'
reset
fp cl udp 10.2.0.2 9000 3000
check "a fragmented UDP datagram to a passed port is delivered" test "$(got 9000 3000)" -eq 1
fp cl udp 10.2.0.2 9000 3000 --order reverse
check "fragments in reverse order are reassembled and delivered" test "$(got 9000 3000)" -eq 2
in_ns cl ping -c 2 -s 3000 -W 2 -q 10.2.0.2 >/dev/null
check "ping -s 3000 (fragmented both ways) gets its answers" in_ns cl ping -c 2 -s 3000 -W 2 -q 10.2.0.2
cap_start 'udp or (ip[6:2] & 0x1fff != 0)'
fp cl udp 10.2.0.2 9999 3000 --id 101
fp cl udp 10.2.0.2 9999 3000 --id 102 --order nofirst
fp cl udp 10.2.0.2 9999 3000 --id 103 --order firstlast
cap=$(cap_stop)
check "block ... port 9999 blocks the fragmented datagram" test "$(got 9999 3000)" -eq 0
check "no fragment of a datagram to port 9999 reaches the server, whatever the order ($(frag_lines "$cap") seen)" \
	test "$(frag_lines "$cap")" -eq 0
si=$(pfctl -vsi)
echo "$si" | sed -n '/^Fragments/,/^Counters/p' | sed 's/^/# /'
check "pfctl -vsi counts fragment inserts" bash -c "grep -A4 '^Fragments' <<<'$si' | grep -Eq '^  inserts +[1-9]'"
check "the datagram with no first fragment is still held (current entries)" \
	bash -c "grep -A1 '^Fragments' <<<'$si' | grep -Eq '^  current entries +[1-9]'"
check "the rule blocked once per datagram (2 datagrams; the third, without its first fragment, never completed)" \
	bash -c "pfctl_vsr=\$(pfctl -vsr); grep -A1 'port = 9999' <<<\"\$pfctl_vsr\" | grep -Eq 'Packets: 2 '"
pfctl -ss | grep ':9000 ' | sed 's/^/# /'
check "each passed datagram made one state each way (not one per fragment)" \
	test "$(pfctl -ss | grep -c ':9000 ')" -eq 2

# Held fragments wait in the kernel's queues (pfd's, 7066 on: one per CPU,
# a packet in the one of the CPU it came in on) until their datagram
# completes or the frag timeout drops them.
qtotal() { in_ns fw awk '{ n += $3 } END { print n + 0 }' /proc/net/netfilter/nfnetlink_queue; }
load 'set timeout frag 3' 'set skip on lo' "$ND" 'pass'
rem=$(frag_counter removals)
fp cl udp 10.2.0.2 9000 3000 --id 105 --order nofirst
sleep 0.5
held=$(qtotal)
check "fragments without their first one wait in the kernel's queue ($held packets)" test "${held:-0}" -ge 3
sleep 4.5
check "set timeout frag 3: they are dropped when it runs out (queue $(qtotal), $(frag_counter current) held)" \
	test "$(qtotal)" -eq 0 -a "$(frag_counter current)" -eq 0
check "pfctl -vsi counts their removal ($rem before, $(frag_counter removals) after)" \
	test "$(frag_counter removals)" -ge $((rem + 3))

# set limit frags: no more fragments wait than that.
load 'set limit frags 2' 'set skip on lo' "$ND" 'pass'
reset
fp cl udp 10.2.0.2 9000 3000 --id 107
fp cl udp 10.2.0.2 9000 1500 --id 108
check "set limit frags 2: a datagram of 4 fragments cannot wait whole and is lost" test "$(got 9000 3000)" -eq 0
check "set limit frags 2: a datagram of 2 fragments still passes" test "$(got 9000 1500)" -eq 1
load 'set skip on lo' "$ND" 'pass'

# Translation: nat-to rewrites every fragment of the datagram.
load 'set skip on lo' "$ND" 'pass' 'pass out on ext0 inet nat-to 10.2.0.1'
reset
cap_start 'udp or (ip[6:2] & 0x1fff != 0)'
fp cl udp 10.2.0.2 9000 3000 --id 106
cap=$(cap_stop)
check "nat-to: the fragmented datagram arrives whole (UDP checksum right after translation)" test "$(got 9000 3000)" -eq 1
check "nat-to: every fragment carries the translated source ($(grep -c '10.2.0.1' <<<"$cap") of 4)" \
	test "$(grep -c ' 10.2.0.1' <<<"$cap")" -ge 4 -a "$(grep -c '10.1.0.2' <<<"$cap")" -eq 0

# IPv6.
load 'set skip on lo' "$ND" 'pass' 'block in on int0 proto udp to port 9999'
reset
fp cl udp6 2001:db8:2::2 9000 3000
check "an IPv6 fragmented datagram to a passed port is delivered" test "$(got 9000 3000)" -eq 1
cap_start 'ip6'
fp cl udp6 2001:db8:2::2 9999 3000
fp cl udp6 2001:db8:2::2 9999 3000 --order nofirst
cap=$(cap_stop)
check "no IPv6 fragment to the blocked port reaches the server ($(grep -c 'frag' <<<"$cap") seen)" \
	bash -c "! grep -q frag <<<'$cap' && [ $(got 9999 3000) -eq 0 ]"
check "ping -6 -s 3000 gets its answers" in_ns cl ping -6 -c 2 -s 3000 -W 2 -q 2001:db8:2::2

# Overlapping fragments that would rewrite the first one's ports are not
# let through as another port: the datagram is dropped or stays blocked.
# (fragprobe sends 1000-byte pieces; a 2000-byte piece at offset 0 with
# other ports would overlap; the engine unit tests cover the trimming.)

# DF on a fragment: dropped unless set reassemble yes no-df.
reset
fp cl udp 10.2.0.2 9000 3000 --df
check "fragments with DF set are dropped (set reassemble yes)" test "$(got 9000 3000)" -eq 0
load 'set reassemble yes no-df' 'set skip on lo' "$ND" 'pass'
cap_start 'udp and dst port 9000 or (ip[6:2] & 0x1fff != 0)'
fp cl udp 10.2.0.2 9000 3000 --df
cap=$(cap_stop)
check "set reassemble yes no-df: fragments with DF pass" test "$(got 9000 3000)" -eq 1
check "set reassemble yes no-df: DF is cleared on them" bash -c "grep -q 'offset' <<<'$cap' && ! grep -q 'DF' <<<'$cap'"

# --- set reassemble no ---------------------------------------------------------
load 'set reassemble no' 'set skip on lo' "$ND" 'pass' 'block in on int0 proto udp to port 9999'
reset
ins=$(frag_counter inserts)
cap_start 'udp or (ip[6:2] & 0x1fff != 0)'
fp cl udp 10.2.0.2 9000 3000 --order reverse --id 201
fp cl udp 10.2.0.2 9999 3000 --id 202
fp cl udp 10.2.0.2 9999 3000 --order firstlast --id 203
cap=$(cap_stop)
check "set reassemble no: a fragmented datagram to a passed port is delivered" test "$(got 9000 3000)" -eq 1
check "set reassemble no: fragments are forwarded as they came, unreassembled (4 of 4)" \
	test "$(grep -c 'id 201,' <<<"$cap")" -eq 4
check "set reassemble no: no fragment of the blocked datagrams passes, first fragment first or last" \
	test "$(got 9999 3000)" -eq 0 -a "$(grep -cE 'id 20[23],' <<<"$cap")" -eq 0
check "set reassemble no: nothing goes through the reassembly queue ($ins inserts before and after)" \
	test "$(frag_counter inserts)" = "$ins"
load 'set reassemble no' 'set skip on lo' "$ND" 'pass' 'block in on int0 fragment'
reset
fp cl udp 10.2.0.2 9000 3000
fp cl udp 10.2.0.2 9000 500 --frag 0
check "set reassemble no: block fragment blocks fragments" test "$(got 9000 3000)" -eq 0
check "set reassemble no: block fragment leaves whole packets alone" test "$(got 9000 500)" -eq 1
load 'set skip on lo' "$ND" 'pass' 'block in on int0 fragment'
reset
fp cl udp 10.2.0.2 9000 3000
check "set reassemble yes: fragment rules never match (pf sees the reassembled datagram)" test "$(got 9000 3000)" -eq 1

# --- scrub -----------------------------------------------------------------------
load 'set skip on lo' "$ND" 'match in on int0 scrub (max-mss 1200)' 'pass'
cap_start 'tcp[tcpflags] & tcp-syn != 0'
in_ns cl timeout 5 python3 -c 'import socket; socket.create_connection(("10.2.0.2", 8080), timeout=3).close()'
cap=$(cap_stop)
echo "$cap" | head -4 | sed 's/^/# /'
check "scrub (max-mss 1200) rewrites the SYN's MSS" grep -q 'mss 1200' <<<"$cap"
check "the server answers with its own MSS (1460)" grep -q 'mss 1460' <<<"$cap"
pfctl -q -F states
CAPNS=cl cap_start 'tcp[tcpflags] & tcp-syn != 0'
in_ns cl timeout 5 python3 -c 'import socket; socket.create_connection(("10.2.0.2", 8080), timeout=3).close()'
cap=$(CAPNS=cl cap_stop)
check "scrub (max-mss 1200) clamps the server's SYN|ACK too (the state's scrub works both ways)" \
	bash -c "grep -F 'Flags [S.]' <<<'$cap' | grep -q 'mss 1200'"
load 'set skip on lo' "$ND" 'pass'
cap_start 'tcp[tcpflags] & tcp-syn != 0'
in_ns cl timeout 5 python3 -c 'import socket; socket.create_connection(("10.2.0.2", 8080), timeout=3).close()'
cap=$(cap_stop)
check "without scrub the MSS is the client's (1460)" grep -q 'mss 1460' <<<"$cap"

load 'set skip on lo' "$ND" 'pass in on int0 proto icmp scrub (min-ttl 64)' 'pass out'
cap_start 'icmp[icmptype] == icmp-echo'
in_ns cl ping -c 1 -t 5 -W 2 -q 10.2.0.2 >/dev/null
cap=$(cap_stop)
check "scrub (min-ttl 64): a TTL 5 packet leaves with TTL 64 (raised, then forwarded)" grep -Eq 'ttl 6[34]' <<<"$cap"

load 'set skip on lo' "$ND" 'pass in on int0 proto icmp scrub (no-df)' 'pass out'
cap_start 'icmp[icmptype] == icmp-echo'
in_ns cl ping -c 1 -M do -s 1000 -W 2 -q 10.2.0.2 >/dev/null
cap=$(cap_stop)
check "scrub (no-df) clears DF" bash -c "grep -q 'ICMP echo request' <<<'$cap' && ! grep -q 'DF' <<<'$cap'"

load 'set skip on lo' "$ND" 'pass in on int0 proto udp scrub (random-id)' 'pass out'
cap_start 'udp dst port 9000'
fp cl udp 10.2.0.2 9000 100 --frag 0 --id 0x4242
fp cl udp 10.2.0.2 9000 100 --frag 0 --id 0x4242 --sport 40001
cap=$(cap_stop)
check "scrub (random-id) gives a new IP id" bash -c "[ \$(grep -c 'proto UDP' <<<'$cap') -eq 2 ] && ! grep -q 'id 16962' <<<'$cap'"
load 'set skip on lo' "$ND" 'pass'
cap_start 'udp dst port 9000'
fp cl udp 10.2.0.2 9000 100 --frag 0 --id 0x4242
cap=$(cap_stop)
check "without random-id the IP id stays" grep -q 'id 16962' <<<"$cap"

load 'set skip on lo' "$ND" 'pass in on int0 proto icmp set tos lowdelay' 'pass out'
cap_start 'icmp[icmptype] == icmp-echo'
in_ns cl ping -c 1 -W 2 -q 10.2.0.2 >/dev/null
cap=$(cap_stop)
check "set tos lowdelay sets the TOS to 0x10" grep -q 'tos 0x10' <<<"$cap"
load 'set skip on lo' "$ND" 'match in on int0 proto icmp set tos 0x08' 'pass'
cap_start 'icmp[icmptype] == icmp-echo'
in_ns cl ping -c 1 -W 2 -q 10.2.0.2 >/dev/null
cap=$(cap_stop)
check "set tos 0x08 on a match rule sets the TOS (OpenBSD's form of scrub set-tos)" grep -q 'tos 0x8' <<<"$cap"

# reassemble tcp: pf modulates the TCP timestamps it passes.
load 'set skip on lo' "$ND" 'match in on int0 proto tcp scrub (reassemble tcp)' 'pass'
cap_start 'tcp[tcpflags] & tcp-syn != 0'
ip netns exec "$(ns cl)" tcpdump -i eth0 -l -nn -v 'tcp[tcpflags] == tcp-syn' >"$RUN/capc" 2>/dev/null &
CC=$!
sleep 1
in_ns cl timeout 5 python3 -c 'import socket; socket.create_connection(("10.2.0.2", 8080), timeout=3).close()'
cap=$(cap_stop)
kill $CC 2>/dev/null
wait $CC 2>/dev/null
tc=$(grep -o 'TS val [0-9]*' "$RUN/capc" | head -1)
ts=$(grep -F 'Flags [S],' <<<"$cap" | grep -o 'TS val [0-9]*' | head -1)
check "scrub (reassemble tcp) modulates the SYN's timestamp (client $tc, server sees $ts)" \
	bash -c "[ -n '$tc' ] && [ -n '$ts' ] && [ '$tc' != '$ts' ]"
check "scrub (reassemble tcp): the connection still works" \
	in_ns cl timeout 5 python3 -c 'import socket; c = socket.create_connection(("10.2.0.2", 8080), timeout=3); c.sendall(b"x" * 10000); c.close()'

# --- tos ---------------------------------------------------------------------------
load 'set skip on lo' "$ND" 'pass' 'block in on int0 proto icmp tos 0x10'
check "tos 0x10: packets with that TOS are blocked" bash -c "! ip netns exec $(ns cl) ping -c 1 -Q 0x10 -W 1 -q 10.2.0.2 >/dev/null"
check "tos 0x10: other packets pass" in_ns cl ping -c 1 -W 2 -q 10.2.0.2

# --- allow-opts ----------------------------------------------------------------------
load 'set skip on lo' "$ND" 'pass'
reset
fp cl udp 10.2.0.2 9000 100 --frag 0 --opt
check "IP options are dropped without allow-opts" test "$(got 9000 100)" -eq 0
check "pfctl -si counts them (ip-option)" bash -c "pfctl -si | grep -Eq '^  ip-option +[1-9]'"
load 'set skip on lo' "$ND" 'pass in on int0 proto udp allow-opts' 'pass out allow-opts'
reset
fp cl udp 10.2.0.2 9000 100 --frag 0 --opt
check "allow-opts lets IP options through" test "$(got 9000 100)" -eq 1

# --- sloppy ------------------------------------------------------------------------
load 'set skip on lo' "$ND" 'pass out' 'pass in on int0 proto tcp'
cap_start 'tcp dst port 8080'
fp cl tcp-oow 10.2.0.2 8080 OUTOFWINDOW1 >/dev/null
cap=$(cap_stop)
# The out-of-window segment is the one with 12 bytes of data.
check "full TCP tracking drops a segment outside the window" bash -c "grep -q 'length 5' <<<'$cap' && ! grep -q 'length 12' <<<'$cap'"
load 'set skip on lo' "$ND" 'pass out keep state (sloppy)' 'pass in on int0 proto tcp keep state (sloppy)'
cap_start 'tcp dst port 8080'
fp cl tcp-oow 10.2.0.2 8080 OUTOFWINDOW2 >/dev/null
cap=$(cap_stop)
check "keep state (sloppy) lets it through" grep -q 'length 12' <<<"$cap"
check "pfctl -vsr prints sloppy" bash -c "pfctl -sr | grep -q 'keep state (sloppy)'"

# --- Linux reassembles first when conntrack is in use --------------------------------
# Any rule using conntrack in the namespace turns on netfilter's defrag
# before pfd's hooks: pf sees whole datagrams, as with set reassemble yes.
load 'set skip on lo' "$ND" 'pass' 'block in on int0 proto udp to port 9999'
in_ns fw iptables -w -A FORWARD -m conntrack --ctstate INVALID -j DROP
reset
cap_start 'udp or (ip[6:2] & 0x1fff != 0)'
fp cl udp 10.2.0.2 9000 3000
fp cl udp 10.2.0.2 9999 3000
cap=$(cap_stop)
check "with conntrack's defrag: a fragmented datagram to a passed port is delivered" test "$(got 9000 3000)" -eq 1
check "with conntrack's defrag: the blocked port stays blocked" \
	bash -c "[ $(got 9999 3000) -eq 0 ] && ! grep -q '10.2.0.2.9999' <<<'$cap'"
in_ns fw iptables -w -D FORWARD -m conntrack --ctstate INVALID -j DROP

check "pfd is still running" kill -0 "$(daemon_pid fw pfd)"
summary
