#!/bin/bash
# synproxy state and set syncookies with real packets: pfd answers the
# client's SYN itself and opens the connection to the server only after
# the client's handshake; a SYN flood from spoofed sources never reaches
# the server, and with syncookies it does not fill the state table either.
# Ends with "N passed, N failed".
#
#   client 10.1.0.2 2001:db8:1::2 -- int0 [fw] ext0 -- 10.2.0.2 2001:db8:2::2 server
#   flooder 10.3.0.2 (spoofs 198.18.0.0/15) -- int1 [fw]

set -u
P=${P:-pfsp$$}
FW=fw1
source "$(dirname "$0")/../lib/suite.sh"

netns_add cl fl fw1 srv
all_ns sysctl -q -w net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
line_up fw1 inet6
route srv default 10.2.0.1
route srv default 2001:db8:2::1
veth fl eth0 fw1 int1
addr fl eth0 10.3.0.2/24
addr fw1 int1 10.3.0.1/24
route fl default 10.3.0.1
# The flooder's spoofed sources are routed back to it (their SYN|ACKs die
# there, unanswered, as a flood's do).
route fw1 198.18.0.0/15 10.3.0.2

# $1: the syncookies line; $2: extra lines.
rules() {
	cat >"$RUN/pf.conf" <<CONF
set skip on lo
set limit states ${LIMIT:-2000}
$1
block
pass out
pass quick inet6 proto icmp6
pass quick proto icmp
pass in on { int0 int1 } proto tcp to port 7000:7009 synproxy state
pass in on int0 proto tcp to 10.1.0.1 port 8080 rdr-to 10.2.0.2 port 7000 synproxy state
${2:-}
CONF
	pfctl -q -f "$RUN/pf.conf"
}

sf() { local n=$1; shift; in_ns "$n" python3 "$LIB/synflood.py" "$@"; }
entries() { pfctl -si | awk '/current entries/ { print $3; exit }'; }

check "pfd starts" pfd_start fw1
check "pf enables" pfctl -q -e
check "a synproxy ruleset loads (no longer refused)" rules "set syncookies never"
check "-sr prints synproxy state" grep -q 'proto tcp from any to any port 7000:7009 flags S/SA synproxy state' <<<"$(pfctl -sr)"

sf srv echo 7000 &
sf fw1 echo 7001 &
sleep 0.5

# --- synproxy alone -------------------------------------------------------
out=$(sf cl client 10.2.0.2 7000 200)
check "a synproxied connection carries data both ways ($out)" grep -q 'ok=1 sent=200 echoed=200' <<<"$out"
out=$(sf cl client 2001:db8:2::2 7000 200)
check "a synproxied IPv6 connection carries data both ways ($out)" grep -q 'ok=1 sent=200 echoed=200' <<<"$out"
out=$(sf cl client 10.1.0.1 8080 100)
check "synproxy with rdr-to: pf's SYN goes to the translated server ($out)" grep -q 'ok=1 sent=100 echoed=100' <<<"$out"
out=$(sf cl client 10.1.0.1 7001 100)
check "a synproxied connection to a service on the firewall itself ($out)" grep -q 'ok=1 sent=100 echoed=100' <<<"$out"
out=$(sf cl client 2001:db8:1::1 7001 100)
check "a synproxied IPv6 connection to the firewall itself ($out)" grep -q 'ok=1 sent=100 echoed=100' <<<"$out"
check "-si counts the proxied packets as synproxy" test "$(counter synproxy)" -ge 12
hold_tcp cl 10.2.0.2 7000 4 &
states=$(states_when ' -> 10\.2\.0\.2:7000 +ESTABLISHED:ESTABLISHED$')
echo "$states" | sed 's/^/# /'
check "-ss: the proxied connection is established on both sides" grep -Eq '^all tcp 10\.2\.0\.2:7000 <- 10\.1\.0\.2:[0-9]+       ESTABLISHED:ESTABLISHED$' <<<"$states"
check "-ss: pf's own SYN made the server-side state" grep -Eq '^all tcp 10\.1\.0\.2:[0-9]+ -> 10\.2\.0\.2:7000       ESTABLISHED:ESTABLISHED$' <<<"$states"
vstates=$(pfctl -vss)
check "-vss shows the sequence number translation (seqdiff)" grep -Eq '^   \[[0-9]+ \+ [0-9]+\]\(\+[0-9]+\)  \[[0-9]+ \+ [0-9]+\]\(\+[0-9]+\)$' <<<"$vstates"

# --- the handshake, step by step ------------------------------------------
# Port 7009 has no listener: the server refuses pf's SYN, the client's side
# stays waiting (PROXY:DST).
syns=$(mktemp)
sf srv count eth0 7008 3 >"$syns" &
sleep 0.5
out=$(sf fl handshake 198.18.0.7 10.2.0.2 7008 4242 syn)
check "pf answers the SYN itself: SYN|ACK, window 0, the client's MSS ($out)" grep -Eq 'synack=1 .*ackok=1 win=0 mss=1460' <<<"$out"
check "-ss shows the half-proxied state as PROXY:SRC" grep -qx 'all tcp 10.2.0.2:7008 <- 198.18.0.7:4242       PROXY:SRC' <<<"$(pfctl -ss)"
wait $!
check "the server saw no SYN before the client's ACK ($(cat "$syns"))" grep -q 'flood=0 other=0' "$syns"
out=$(sf fl handshake 198.18.0.8 10.2.0.2 7009 4243 ack)
sleep 0.5
states=$(pfctl -ss)
echo "$states" | grep 198.18 | sed 's/^/# /'
check "after the client's ACK pf opened the connection: PROXY:DST until the server answers" grep -qx 'all tcp 10.2.0.2:7009 <- 198.18.0.8:4243       PROXY:DST' <<<"$states"
check "pf's SYN to the server has its own state on ext0's side" grep -Eq '^all tcp 198\.18\.0\.8:4243 -> 10\.2\.0\.2:7009       ' <<<"$states"
rst=$(mktemp)
sf fl resets eth0 198.18.0.8 2 >"$rst" &
sleep 0.5
pfctl -q -k 198.18.0.8
wait $!
check "a killed PROXY:DST state resets its client ($(cat "$rst"))" grep -q 'rst=1 from=10.2.0.2:7009>4243' "$rst"
rm -f "$rst" "$syns"

# --- adaptive ---------------------------------------------------------------
# (Before any `always`: cookies switched on stay on until a key rotation
# finds the flood over, in every mode but never.)
# Plain keep state: half-open states count (synproxy states do not, as in
# OpenBSD: pf has answered their client).
# The server never hears of these SYNs: their states stay half-open.
LIMIT=200 rules "set syncookies adaptive (start 10%, end 5%)" "pass in on int1 proto tcp to port 7100
block out quick on ext0 proto tcp to port 7100"
pfctl -q -F states
vsi=$(pfctl -vsi)
check "-vsi shows the adaptive watermarks in states" bash -c "grep -Eq '^  start +20 states$' <<<'$vsi' && grep -Eq '^  end +10 states$' <<<'$vsi'"
base_floods=$(counter "synfloods detected")
sf fl flood 10.2.0.2 7100 500 1000 >/dev/null
n=$(entries)
check "adaptive: half-open states stop just above the start watermark ($n)" test "$n" -ge 20 -a "$n" -le 30
check "adaptive: -vsi counts the flood detected" test "$(counter "synfloods detected")" -eq $((base_floods + 1))
check "adaptive: -si shows the half-open states" test "$(pfctl -si | awk '/half-open tcp/ { print $3 }')" -ge 20
out=$(sf cl client 10.2.0.2 7000 50)
check "adaptive, under flood: a client still connects ($out)" grep -q 'ok=1 sent=50 echoed=50' <<<"$out"

pfctl -q -F states

# --- syncookies -------------------------------------------------------------
check "set syncookies always loads" rules "set syncookies always"
base_sent=$(counter "syncookies sent")
out=$(sf cl client 10.2.0.2 7000 100)
check "with syncookies a connection carries data ($out)" grep -q 'ok=1 sent=100 echoed=100' <<<"$out"
out=$(sf cl client 2001:db8:1::1 7001 50)
check "with syncookies an IPv6 connection to the firewall works ($out)" grep -q 'ok=1 sent=50 echoed=50' <<<"$out"
check "-vsi counts syncookies sent" test "$(counter "syncookies sent")" -ge $((base_sent + 2))
check "-vsi counts syncookies validated" test "$(counter "syncookies validated")" -ge 2
out=$(sf fl handshake 198.18.0.9 10.2.0.2 7000 4244 syn)
check "a cookie SYN|ACK makes no state ($out)" bash -c "grep -q 'synack=1' <<<'$out' && ! pfctl -ss | grep -q 198.18.0.9"

# --- the flood --------------------------------------------------------------
# 6000 spoofed SYNs at 2000 a second while a real client connects and talks.
flood_case() {
	local label=$1 client=$2 syns out="" fl cnt during
	syns=$(mktemp)
	sf srv count eth0 7000 5 >"$syns" &
	cnt=$!
	sleep 0.5
	sf fl flood 10.2.0.2 7000 6000 2000 >/dev/null &
	fl=$!
	sleep 1
	[ "$client" = yes ] && out=$(sf cl client 10.2.0.2 7000 300)
	during=$(entries)
	wait $fl
	wait $cnt
	echo "# $label: server saw $(cat "$syns"), $during states during the flood, client $out"
	FLOOD_RESULT="$(cat "$syns") states=$during $out"
	rm -f "$syns"
}
LIMIT=1000 rules "set syncookies always"
pfctl -q -F states
base_sent=$(counter "syncookies sent")
flood_case "syncookies always" yes
check "SYN flood, syncookies: the server sees 0 of its SYNs ($FLOOD_RESULT)" grep -q 'flood=0 other=[1-9]' <<<"$FLOOD_RESULT"
check "SYN flood, syncookies: the state table stays nearly empty ($FLOOD_RESULT)" test "$(sed -n 's/.*states=\([0-9]*\).*/\1/p' <<<"$FLOOD_RESULT")" -lt 20
check "SYN flood, syncookies: a real client connects meanwhile and carries data" grep -q 'ok=1 sent=300 echoed=300' <<<"$FLOOD_RESULT"
check "SYN flood, syncookies: -vsi counts the cookies ($(counter "syncookies sent"))" test "$(counter "syncookies sent")" -ge $((base_sent + 5400))

LIMIT=1000 rules "set syncookies never"
pfctl -q -F states
flood_case "synproxy alone" no
check "SYN flood, synproxy alone: the server sees 0 of its SYNs ($FLOOD_RESULT)" grep -q 'flood=0 other=' <<<"$FLOOD_RESULT"
check "SYN flood, synproxy alone: the table fills to its limit (why syncookies)" test "$(entries)" -ge 990
check "SYN flood, synproxy alone: -si counts the refused states as memory" test "$(counter memory)" -gt 0
pfctl -q -F states

pfctl -q -d
summary
