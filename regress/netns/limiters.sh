#!/bin/bash
# State limiters and source limiters (OpenBSD 7.8) with real packets: a
# rule over its limiter's limit does not match (the rule before it
# decides) or, with (block), blocks; states give their places back; rate
# windows; source limiters per source, per network (inet mask) and in
# number of sources (entries); pfctl -s LimiterStates / LimiterSrcs [-v]
# and -I id -k source -k host; a TCP connection per source. Ends with
# "N passed, N failed".
#
#   client 10.1.0.2, .3 -- int0 10.1.0.1 [fw] ext0 10.2.0.1 -- 10.2.0.2 server
#          2001:db8:1::2, ::3       ::1          2001:db8:2::1 -- ::2

set -u
P=${P:-pfl$$}
source "$(dirname "$0")/../lib/suite.sh"

netns_add cl fw srv
all_ns sysctl -q -w net.ipv4.icmp_ratelimit=0
line_up fw inet6
addr cl eth0 10.1.0.3/24 2001:db8:1::3/64
route srv 10.1.0.0/24 10.2.0.1
route srv default 2001:db8:2::1
sleep 1 # IPv6 addresses and routers settle

# One echo request from the client (a new echo id each time, so a new
# state), from address $1: exit 0 when answered.
ping_from() { in_ns cl ping -c 1 -W 1 -I "$1" 10.2.0.2 >/dev/null 2>&1; }
ping6_from() { in_ns cl ping -6 -c 1 -W 1 -I "$1" 2001:db8:2::2 >/dev/null 2>&1; }
# Column $2 of the limiter line of pfctl -s $1 (after the header).
col() { pfctl -s "$1" | awk -v c="$2" 'NR == 2 { print $c }'; }
icmp_states() { pfctl -ss | grep -c " icmp "; }

serve srv python3 "$LIB/tcpprobe.py" server 80
wait_listen srv 80

check "pfd starts" pfd_start fw
check "pf enables" pfctl -q -e
load "pass"
check "sanity: the client pings the server" ping_from 10.1.0.2
# (the first IPv6 packets wait for neighbour discovery on both links)
for a in 2001:db8:1::2 2001:db8:1::3; do
	in_ns cl ping -6 -c 1 -W 3 -I $a 2001:db8:2::2 >/dev/null 2>&1
done
check "sanity: the client pings the server over IPv6" ping6_from 2001:db8:1::2

# (Rules on int0 only: the replies come in on ext0, where no state of
# theirs is, and pass by the default rule.)
# state limiter: one state at a time; over the limit the pass rule does
# not match and the block rule before it decides.
pfctl -q -F states
load 'set timeout icmp.error 120' 'state limiter "server" id 1 limit 1' \
	'block in on int0 proto icmp' 'pass in on int0 proto icmp state limiter "server"'
check "state limiter limit 1: the first ping makes its state" ping_from 10.1.0.2
check "state limiter limit 1: a second ping (a second state) is blocked" fails ping_from 10.1.0.2
check "state limiter limit 1: -s LimiterStates counts 1 in use, 1 refused (hardlim)" \
	test "$(col LimiterStates 2) $(col LimiterStates 5)" = "1 1"
check "state limiter limit 1: one ICMP state in -ss" test "$(icmp_states)" = 1
pfctl -q -F states
check "state limiter limit 1: the state gone, its place is free (inuse 0)" test "$(col LimiterStates 2)" = 0
check "state limiter limit 1: a new ping passes again" ping_from 10.1.0.2
check "state limiter: -sr prints the rule's limiter" \
	grep -q 'pass in on int0 proto icmp all state limiter server (no-match)' <<<"$(pfctl -sr)"

# rate 1/3: one new state per three seconds.
load 'set timeout icmp.error 120' 'state limiter "r" id 2 limit 1000 rate 1/3' \
	'block in on int0 proto icmp' 'pass in on int0 proto icmp state limiter "r"'
check "state limiter rate 1/3: the first ping passes" ping_from 10.1.0.2
check "state limiter rate 1/3: the next one at once is blocked" fails ping_from 10.1.0.2
check "state limiter rate 1/3: -s LimiterStates counts it (ratelim 1)" test "$(col LimiterStates 6)" = 1
sleep 3.2
check "state limiter rate 1/3: three seconds on, a ping passes" ping_from 10.1.0.2

# (block) blocks although a pass rule before matched; (no-match) lets
# that pass rule decide.
load 'state limiter "s" id 1 limit 1' 'pass' 'pass in on int0 proto icmp state limiter "s" (block)'
check "state limiter (block): the first ping passes" ping_from 10.1.0.2
check "state limiter (block): over the limit the ping is blocked despite pass" fails ping_from 10.1.0.2
load 'state limiter "s" id 1 limit 1' 'pass' 'pass in on int0 proto icmp state limiter "s" (no-match)'
check "state limiter (no-match): over the limit the pass before decides" ping_from 10.1.0.2
check "state limiter (no-match): and again" ping_from 10.1.0.2

# source limiter: one state per source, 128 sources.
load 'set timeout icmp.error 120' 'source limiter "server" id 1 entries 128 limit 1' \
	'block in on int0 proto icmp' 'pass in on int0 proto icmp source limiter "server"'
check "source limiter limit 1: 10.1.0.2's first ping passes" ping_from 10.1.0.2
check "source limiter limit 1: 10.1.0.2's second is blocked" fails ping_from 10.1.0.2
check "source limiter limit 1: another source, 10.1.0.3, passes" ping_from 10.1.0.3
v=$(pfctl -v -s LimiterSrcs)
check "source limiter: -s LimiterSrcs counts the refusal (hardlim 1)" test "$(col LimiterSrcs 5)" = 1
check "source limiter: -v shows 10.1.0.2/32 with hardlim 1" \
	grep -q '10.1.0.2/32 inuse 1 admit 1 hardlim 1 ratelim 0' <<<"$v"
check "source limiter: -v shows 10.1.0.3/32 with hardlim 0" \
	grep -q '10.1.0.3/32 inuse 1 admit 1 hardlim 0 ratelim 0' <<<"$v"
check "source limiter: -I 1 -k source -k 10.1.0.2 kills its entry" pfctl -q -I 1 -k source -k 10.1.0.2
check "source limiter: after the kill 10.1.0.2 pings again" ping_from 10.1.0.2
check "source limiter: -k source without -I is refused" fails pfctl -q -k source -k 10.1.0.2 2>/dev/null

# inet mask 24: both client addresses are one source.
load 'source limiter "net" id 1 entries 10 limit 1 inet mask 24' \
	'block in on int0 proto icmp' 'pass in on int0 proto icmp source limiter "net"'
check "source limiter inet mask 24: 10.1.0.2 passes" ping_from 10.1.0.2
check "source limiter inet mask 24: 10.1.0.3, same /24, is blocked" fails ping_from 10.1.0.3
check "source limiter inet mask 24: one entry, 10.1.0.0/24" \
	grep -q '10.1.0.0/24 inuse 1' <<<"$(pfctl -v -s LimiterSrcs)"

# inet6 mask 64: both IPv6 client addresses are one source.
load 'source limiter "v6" id 4 entries 10 limit 1 inet6 mask 64' \
	'block in on int0 inet6 proto ipv6-icmp icmp6-type echoreq' \
	'pass in on int0 inet6 proto ipv6-icmp icmp6-type echoreq source limiter "v6"'
check "source limiter inet6 mask 64: 2001:db8:1::2 passes" ping6_from 2001:db8:1::2
check "source limiter inet6 mask 64: 2001:db8:1::3, same /64, is blocked" fails ping6_from 2001:db8:1::3
check "source limiter inet6 mask 64: one entry, 2001:db8:1::/64" \
	grep -q '2001:db8:1::/64 inuse 1' <<<"$(pfctl -v -s LimiterSrcs)"

# entries 1: room for one source only.
load 'source limiter "one" id 1 entries 1 limit 5' \
	'block in on int0 proto icmp' 'pass in on int0 proto icmp source limiter "one"'
check "source limiter entries 1: 10.1.0.2 passes" ping_from 10.1.0.2
check "source limiter entries 1: a second source finds no entry (blocked)" fails ping_from 10.1.0.3
check "source limiter entries 1: -s LimiterSrcs counts it (addrlim 1)" test "$(col LimiterSrcs 7)" = 1

# TCP: one connection per source; the second is refused (block return).
pfctl -q -F states
load 'source limiter "tcp" id 3 entries 16 limit 1' 'block return in on int0 proto tcp' \
	'pass in on int0 proto tcp to port 80 source limiter "tcp"'
in_ns cl bash -c 'exec 3<>/dev/tcp/10.2.0.2/80; sleep 4' 2>/dev/null &
holder=$!
sleep 0.5
check "source limiter TCP: the first connection holds the source's place (inuse 1)" \
	test "$(col LimiterSrcs 4)" = 1
r=$(tcp 10.2.0.2 80)
check "source limiter TCP: a second connection from the source is reset (exit $r)" test "$r" = 1
kill $holder 2>/dev/null
wait $holder 2>/dev/null
pfctl -q -F states
r=$(tcp 10.2.0.2 80)
check "source limiter TCP: with the states flushed a connection opens again (exit $r)" test "$r" = 0

# A rule naming a limiter that is not defined is refused.
printf '%s\n' 'pass in state limiter "nope"' >"$RUN/bad.conf"
check "a rule naming an undefined state limiter is refused" \
	grep -q 'state limiter nope is not defined' <<<"$(pfctl -nf "$RUN/bad.conf" 2>&1)"

summary
