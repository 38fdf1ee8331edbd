#!/bin/bash
# Source tracking, DoS limits and translation pools with real packets:
# max-src-conn with overload <bad> flush global filling the table and
# cutting the offender's connections, max-src-states, max-src-nodes,
# max-src-conn-rate, overload flush of one rule's states, pfctl -s Sources
# / -K / -F Sources, src.track, rdr-to pools (round-robin spreading over
# three servers, sticky-address, source-hash, least-states, random), nat-to
# pools (round-robin, sticky-address, bitmask), rdr-to and nat-to port
# ranges. Route-to pools are in route.sh.
# Ends with "N passed, N failed".
#
#   client 10.1.0.2-.6 -- int0 [fw1 10.1.0.1 | 10.2.0.1] ext0 -- server
#                                          10.2.0.2, 10.2.0.11 .12 .13
#   (fw1 also answers for the nat-to pools 10.2.0.16-.19, .21, .22)

set -u
P=${P:-pfst$$}
FW=fw1
source "$(dirname "$0")/../lib/suite.sh"

netns_add cl fw1 srv
line_up fw1
for a in 3 4 5 6; do in_ns cl ip addr add 10.1.0.$a/24 dev eth0; done
for a in 11 12 13; do in_ns srv ip addr add 10.2.0.$a/24 dev eth0; done
in_ns cl ip route replace default via 10.1.0.1 src 10.1.0.2
route srv default 10.2.0.1 src 10.2.0.2
# nat-to pool addresses the server must reach (ARP) on ext0.
for a in 16 17 18 19 21 22; do in_ns fw1 ip addr add 10.2.0.$a/32 dev ext0; done

POOL="{ 10.2.0.11 10.2.0.12 10.2.0.13 }"
cat >"$RUN/pf.conf" <<CONF
set skip on lo
set timeout src.track 4
table <bad> persist
block return
pass out
pass quick proto icmp
block in quick on int0 from <bad>
pass in on int0 proto tcp to 10.2.0.2 port 7000 keep state (max-src-conn 3, overload <bad> flush global)
pass in on int0 proto tcp to 10.2.0.2 port 7100 keep state (max-src-states 2)
pass in on int0 proto tcp to 10.2.0.2 port 7200 keep state (source-track rule, max-src-nodes 2)
pass in on int0 proto tcp to 10.2.0.2 port 7300 keep state (max-src-conn-rate 3/10, overload <bad>)
pass in on int0 proto tcp to 10.1.0.1 port 8000 rdr-to $POOL round-robin
pass in on int0 proto tcp to 10.1.0.1 port 8001 rdr-to $POOL round-robin sticky-address
pass in on int0 proto tcp to 10.1.0.1 port 8002 rdr-to $POOL source-hash 0x0123456789abcdef0123456789abcdef
pass in on int0 proto tcp to 10.1.0.1 port 8003 rdr-to $POOL least-states
pass in on int0 proto tcp to 10.1.0.1 port 8004 rdr-to $POOL random
pass in on int0 proto tcp to 10.1.0.1 port 8010:8019 rdr-to 10.2.0.2 port 9000:9004
pass in on int0 proto tcp to 10.2.0.2 port 9100:9104
pass out on ext0 proto tcp from 10.1.0.0/24 to 10.2.0.2 port 9100 nat-to 10.2.0.1 port 61000:61009
pass out on ext0 proto tcp from 10.1.0.0/24 to 10.2.0.2 port 9101 nat-to { 10.2.0.21 10.2.0.22 } round-robin
pass out on ext0 proto tcp from 10.1.0.0/24 to 10.2.0.2 port 9102 nat-to { 10.2.0.21 10.2.0.22 } round-robin sticky-address
pass out on ext0 proto tcp from 10.1.0.0/24 to 10.2.0.2 port 9103 nat-to 10.2.0.16/30 bitmask
pass out on ext0 proto tcp from 10.1.0.0/24 to 10.2.0.2 port 9104 nat-to 10.2.0.1 static-port
pass in on int0 proto tcp to 10.2.0.2 port 7400 keep state (max-src-conn 1, overload <bad> flush)
CONF

probe() { local n=$1; shift; in_ns "$n" python3 "$LIB/poolprobe.py" "$@"; }
# connect SRC HOST PORT: the server's HELLO line ("failed ..." if none).
conn() { probe cl connect "$@"; }
# The server address a connection from $1 to the firewall's port $2 got.
server_of() { conn "$1" 10.1.0.1 "$2" | awk '/^HELLO/ { split($2, a, ":"); print a[1] }'; }
# The states of source $1 seen coming in (pfctl -ss "<- SRC:PORT" lines); the
# forwarded packets' out states carry the source on the other side, and
# overload's flush leaves those, as OpenBSD's pf_src_connlimit does.
states_of() { pfctl -ss | grep -c "<- $1:" || true; }
# absent PATTERN TEXT: no line of TEXT matches.
absent() { ! grep -Eq "$1" <<<"$2"; }

probe srv server 7000 7100 7200 7300 8000 8001 8002 8003 8004 9000 9001 9002 9003 9004 9100 9101 9102 9103 9104 7400 2>>"$RUN/server.log" &
SERVER=$!
disown "$SERVER"
# waitfor PID...: wait for the given background clients (never the server).
waitfor() { local p; for p in "$@"; do wait "$p"; done; }
check "pfd starts" pfd_start fw1
check "pf enables" pfctl -q -e
check "a ruleset with source tracking, overload and pools loads (no longer refused)" pfctl -q -f "$RUN/pf.conf"
sr=$(pfctl -sr)
check "-sr: max-src-conn 3, overload <bad> flush global" grep -q 'max-src-conn 3, overload <bad> flush global)' <<<"$sr"
check "-sr: rdr-to the automatic table round-robin sticky-address" grep -Eq 'rdr-to <__automatic_[0-9]+> round-robin sticky-address$' <<<"$sr"
sleep 0.3

# --- max-src-conn 3, overload <bad> flush global --------------------------
held=()
for i in 1 2 3; do
	probe cl connect 10.1.0.2 10.2.0.2 7000 8 >"$RUN/held$i" &
	held+=($!)
done
sleep 1
check "three connections from 10.1.0.2 are made" test "$(cat "$RUN"/held[123] | grep -c '^HELLO')" = 3
in_ns cl ping -q -c 1 -W 1 -I 10.1.0.2 10.2.0.2 >/dev/null
sS=$(pfctl -sS)
echo "$sS" | sed 's/^/# /'
check "-sS: the source's node counts its 3 states and 3 connections" grep -Eq '^10\.1\.0\.2 \( states 3, connections 3, rate 0\.0/0s \)$' <<<"$sS"
check "the source has another state (ICMP, another rule) before the limit" test "$(states_of 10.1.0.2)" -ge 4
out=$(conn 10.1.0.2 10.2.0.2 7000)
check "the 4th completed connection is cut at its handshake ($out)" grep -q '^failed' <<<"$out"
check "max-src-conn: the offender fills the overload table" grep -qw '10.1.0.2' <<<"$(pfctl -t bad -T show)"
check "flush global: every state of the offender is gone, ICMP too" test "$(states_of 10.1.0.2)" = 0
waitfor "${held[@]}"
check "the offender's established connections are cut ($(cat "$RUN"/held[123] | grep -v HELLO | tr '\n' ' '))" test "$(cat "$RUN"/held[123] | grep -c '^cut')" = 3
check "-vsi: max-src-conn counted" test "$(counter max-src-conn)" -ge 1
check "-vsi: overload table insertion counted" test "$(counter 'overload table insertion')" -ge 1
check "-vsi: overload flush states counted" test "$(counter 'overload flush states')" -ge 1
check "-si: src-limit counted" test "$(counter src-limit)" -ge 1
out=$(conn 10.1.0.2 10.2.0.2 7100)
check "the overloaded source is blocked by the table ($out)" grep -q '^failed' <<<"$out"
out=$(conn 10.1.0.3 10.2.0.2 7000)
check "another source still connects ($out)" grep -q '^HELLO 10.2.0.2:7000 10.1.0.3:' <<<"$out"
check "-T flush empties the overload table" pfctl -q -t bad -T flush

# --- max-src-states 2 -----------------------------------------------------
probe cl connect 10.1.0.3 10.2.0.2 7100 3 >"$RUN/s1" &
s1=$!
probe cl connect 10.1.0.3 10.2.0.2 7100 3 >"$RUN/s2" &
s2=$!
sleep 1
out=$(conn 10.1.0.3 10.2.0.2 7100)
check "max-src-states 2: a third state from the source is refused ($out)" grep -q '^failed' <<<"$out"
out=$(conn 10.1.0.4 10.2.0.2 7100)
check "max-src-states 2: another source gets its own ($out)" grep -q '^HELLO' <<<"$out"
waitfor $s1 $s2
check "max-src-states 2: the two first connections lived" test "$(cat "$RUN/s1" "$RUN/s2" | grep -c '^alive')" = 2
check "-vsi: max-src-states counted" test "$(counter max-src-states)" -ge 1

# --- max-src-nodes 2 ------------------------------------------------------
o1=$(conn 10.1.0.4 10.2.0.2 7200)
o2=$(conn 10.1.0.5 10.2.0.2 7200)
o3=$(conn 10.1.0.6 10.2.0.2 7200)
check "max-src-nodes 2: two sources connect ($o1 / $o2)" test "${o1%% *}:${o2%% *}" = "HELLO:HELLO"
check "max-src-nodes 2: a third source is refused ($o3)" grep -q '^failed' <<<"$o3"
o4=$(conn 10.1.0.4 10.2.0.2 7200)
check "max-src-nodes 2: a tracked source still connects ($o4)" grep -q '^HELLO' <<<"$o4"
check "-vsi: max-src-nodes counted" test "$(counter max-src-nodes)" -ge 1

# --- max-src-conn-rate 3/10 -----------------------------------------------
ok=0
for i in 1 2 3; do conn 10.1.0.6 10.2.0.2 7300 | grep -q '^HELLO' && ok=$((ok + 1)); done
check "max-src-conn-rate 3/10: three quick connections are made" test "$ok" = 3
out=$(conn 10.1.0.6 10.2.0.2 7300)
check "max-src-conn-rate 3/10: the fourth within 10 s is cut ($out)" grep -q '^failed' <<<"$out"
check "max-src-conn-rate: the source goes into <bad>" grep -qw '10.1.0.6' <<<"$(pfctl -t bad -T show)"
check "-vsi: max-src-conn-rate counted" test "$(counter max-src-conn-rate)" -ge 1

# --- pfctl -s Sources, -K, -F Sources -------------------------------------
sS=$(pfctl -sS)
vsS=$(pfctl -vsS)
echo "$vsS" | sed 's/^/# /'
check "-sS: a global node (max-src-states) with its states and connections" grep -Eq '^10\.1\.0\.4 \( states [0-9]+, connections [0-9]+, rate 0\.0/0s \)$' <<<"$sS"
# The refused fourth connection counted in the rate; its state is gone, so
# the node is back to 3 connections (pf_src_tree_remove_state).
check "-sS: the conn-rate node shows 3 connections and its decaying rate estimate" grep -Eq '^10\.1\.0\.6 \( states [0-9]+, connections 3, rate [1-4]\.[0-9]/10s \)$' <<<"$sS"
check "-vsS: age, packets and bytes of a global node" grep -Eq '^   age 00:00:[0-9]{2}, [0-9]+ pkts, [0-9]+ bytes$' <<<"$vsS"
check "-vsS: a rule node names its rule" grep -Eq '^   age 00:00:[0-9]{2}, [0-9]+ pkts, [0-9]+ bytes, rule [67]$' <<<"$vsS"
err=$(pfctl -K 10.1.0.4 2>&1 >/dev/null)
check "-K 10.1.0.4 kills its nodes ($err)" grep -Eq '^killed [1-9][0-9]* src nodes from 1 sources and 0 destinations$' <<<"$err"
check "-sS has no node of 10.1.0.4 left" absent '^10\.1\.0\.4 ' "$(pfctl -sS)"
check "-sS still has 10.1.0.5's" grep -q '^10.1.0.5 ' <<<"$(pfctl -sS)"
err=$(pfctl -F Sources 2>&1 >/dev/null)
check "-F Sources: $err" test "$err" = "source tracking entries cleared"
check "-sS is empty after -F Sources" test -z "$(pfctl -sS)"
check "-F Sources leaves the states" test "$(pfctl -ss | wc -l)" -gt 0
check "-T flush empties the overload table again" pfctl -q -t bad -T flush

# --- rdr-to pools ---------------------------------------------------------
got=$(for i in 1 2 3 4 5 6; do server_of 10.1.0.2 8000; done | tr '\n' ' ')
check "round-robin spreads 6 connections over the 3 servers in turn ($got)" test "$got" = "10.2.0.11 10.2.0.12 10.2.0.13 10.2.0.11 10.2.0.12 10.2.0.13 "
a=$(for i in 1 2 3 4; do server_of 10.1.0.3 8001; done | sort -u)
b=$(for i in 1 2 3 4; do server_of 10.1.0.4 8001; done | sort -u)
check "sticky-address keeps 10.1.0.3 on one server ($(echo $a))" test "$(wc -w <<<"$a")" = 1
check "sticky-address keeps 10.1.0.4 on one server ($(echo $b))" test "$(wc -w <<<"$b")" = 1
check "sticky-address: round-robin gave the two sources different servers" test "$a" != "$b"
check "-sS shows the sticky mapping (rdr-to)" grep -Eq "^10\.1\.0\.3 rdr-to $a \( states [0-9]+, connections 0, rate 0\.0/0s \)$" <<<"$(pfctl -sS)"
ok=1
seen=""
for c in 2 3 4 5; do
	x=$(server_of 10.1.0.$c 8002)
	y=$(server_of 10.1.0.$c 8002)
	[ -n "$x" ] && [ "$x" = "$y" ] || ok=0
	seen="$seen $x"
done
check "source-hash: each source lands on the same server every time ($seen)" test "$ok" = 1
lsp=()
for i in 1 2 3; do
	probe cl connect 10.1.0.5 10.1.0.1 8003 3 >"$RUN/ls$i" &
	lsp+=($!)
	sleep 0.3
done
waitfor "${lsp[@]}"
ls=$(cat "$RUN"/ls[123] | awk '/^HELLO/ { split($2, a, ":"); print a[1] }' | sort -u | tr '\n' ' ')
check "least-states: three held connections go to three servers ($ls)" test "$ls" = "10.2.0.11 10.2.0.12 10.2.0.13 "
rnd=$(for i in $(seq 9); do server_of 10.1.0.2 8004; done)
check "random: 9 connections, all to pool members ($(echo $rnd))" test "$(grep -cE '^10\.2\.0\.1[123]$' <<<"$rnd")" = 9
check "random: more than one server is used" test "$(sort -u <<<"$rnd" | wc -l)" -ge 2

# --- port ranges ----------------------------------------------------------
out=$(conn 10.1.0.2 10.1.0.1 8012)
check "rdr-to port 9000:9004: 8012 maps to 9002 ($out)" grep -q '^HELLO 10.2.0.2:9002 ' <<<"$out"
out=$(conn 10.1.0.2 10.1.0.1 8018)
check "rdr-to port 9000:9004: 8018 maps to 9003 ($out)" grep -q '^HELLO 10.2.0.2:9003 ' <<<"$out"
ports=$(for i in 1 2 3; do conn 10.1.0.2 10.2.0.2 9100 | awk '/^HELLO/ { split($3, a, ":"); print a[1] ":" a[2] }'; done | tr '\n' ' ')
check "nat-to port 61000:61009: the server sees 10.2.0.1 from ports in the range ($ports)" test "$(grep -oE '10\.2\.0\.1:610(0[0-9])' <<<"$ports" | wc -l)" = 3
check "-ss shows the NAT form with a port of the range" grep -Eq '^all tcp 10\.2\.0\.1:610(0[0-9]) \(10\.1\.0\.2:[0-9]+\) -> 10\.2\.0\.2:9100 ' <<<"$(pfctl -ss)"

# --- src.track timeout ----------------------------------------------------
check "-F states" pfctl -q -F states
vsS=$(pfctl -vsS)
echo "$vsS" | sed 's/^/# /'
check "src.track 4: a node whose states are gone stays, expiring within 4 s" grep -Eq '^   age [0-9]{2}:[0-9]{2}:[0-9]{2}, expires in 00:00:0[0-4], [0-9]+ pkts, [0-9]+ bytes, rule [0-9]+$' <<<"$vsS"
out=$(server_of 10.1.0.3 8001)
check "sticky-address: the mapping outlives the states until src.track ($out)" test "$out" = "$a"
check "-F states again" pfctl -q -F states
sleep 6
check "src.track 4: the nodes are gone once the timeout passes" test -z "$(pfctl -sS)"
check "-vsi: the source tracking table shows removals" test "$(pfctl -vsi | awk '/^Source Tracking Table/ { f = 1 } f && $1 == "removals" { print $2; exit }')" -ge 1

# --- nat-to pools -----------------------------------------------------------
# natsrc SRC PORT: the source address the server sees.
natsrc() { conn "$1" 10.2.0.2 "$2" | awk '/^HELLO/ { split($3, a, ":"); print a[1] }'; }
got=$(for i in 1 2 3 4; do natsrc 10.1.0.2 9101; done | tr '\n' ' ')
check "nat-to round-robin: connections alternate over the pool ($got)" test "$got" = "10.2.0.21 10.2.0.22 10.2.0.21 10.2.0.22 "
a=$(for i in 1 2 3; do natsrc 10.1.0.3 9102; done | sort -u)
b=$(for i in 1 2 3; do natsrc 10.1.0.4 9102; done | sort -u)
check "nat-to sticky-address: 10.1.0.3 keeps one address ($(echo $a))" test "$(wc -w <<<"$a")" = 1
check "nat-to sticky-address: 10.1.0.4 keeps one address ($(echo $b))" test "$(wc -w <<<"$b")" = 1
check "nat-to sticky-address: the two sources got different addresses" test "$a" != "$b"
check "-sS shows the sticky mapping (nat-to)" grep -Eq "^10\.1\.0\.3 nat-to $a \( states [0-9]+, connections 0, rate 0\.0/0s \)$" <<<"$(pfctl -sS)"
got=$(natsrc 10.1.0.5 9103):$(natsrc 10.1.0.6 9103)
check "nat-to 10.2.0.16/30 bitmask: .5 becomes .17, .6 becomes .18 ($got)" test "$got" = "10.2.0.17:10.2.0.18"
out=$(conn 10.1.0.2:40404 10.2.0.2 9104)
check "nat-to static-port: the server sees 10.2.0.1 with the client's own port ($out)" grep -q '^HELLO 10.2.0.2:9104 10.2.0.1:40404$' <<<"$out"

# --- overload <bad> flush (this rule's states only) -------------------------
probe cl connect 10.1.0.5 10.2.0.2 7000 4 >"$RUN/other" &
o=$!
probe cl connect 10.1.0.5 10.2.0.2 7400 4 >"$RUN/first" &
f=$!
sleep 1
out=$(conn 10.1.0.5 10.2.0.2 7400)
check "max-src-conn 1: the second connection is cut ($out)" grep -q '^failed' <<<"$out"
waitfor $o $f
check "overload flush: the source's connection of that rule is cut ($(tail -1 "$RUN/first"))" test "$(tail -1 "$RUN/first")" = cut
check "overload flush: its connection of another rule lives ($(tail -1 "$RUN/other"))" test "$(tail -1 "$RUN/other")" = alive
check "overload flush: the source is in <bad>" grep -qw '10.1.0.5' <<<"$(pfctl -t bad -T show)"

# --- set limit src-nodes ------------------------------------------------------
cat >"$RUN/limit.conf" <<CONF
set skip on lo
set limit src-nodes 1
pass
pass in on int0 proto tcp to 10.2.0.2 port 7100 keep state (max-src-states 5)
CONF
check "a ruleset with set limit src-nodes 1 loads" pfctl -q -f "$RUN/limit.conf"
pfctl -q -F Sources
out=$(conn 10.1.0.2 10.2.0.2 7100)
check "set limit src-nodes 1: the first source connects ($out)" grep -q '^HELLO' <<<"$out"
out=$(conn 10.1.0.3 10.2.0.2 7100)
check "set limit src-nodes 1: a second source is refused ($out)" grep -q '^failed' <<<"$out"
check "-sm shows the src-nodes limit" grep -Eq '^src-nodes +hard limit +1$' <<<"$(pfctl -sm)"

summary
