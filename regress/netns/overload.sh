#!/bin/bash
# Overload you can see and choose (pf.conf.5: set limit nfqueue, set
# fail-policy): with pfd stopped (SIGSTOP) the kernel queues up to the
# limit and drops the rest, counted in `pfctl -si` as congestion; `set
# fail-policy open` lets what finds no room pass unfiltered instead.
# A SYN flood at `set limit states 5000` (6000 spoofed SYNs from a
# flooder) fills the table of a plain keep-state ruleset and a client
# cannot connect; with `set syncookies always` and `synproxy state` the
# table never fills and a client connects and carries data during the
# flood. (`set syncookies adaptive` would not: the server's SYN|ACK makes
# the flood's states no longer half-open, as in OpenBSD.) With adaptive
# timeouts instead, a flood three times what the table drains unscaled
# keeps it near the limit but its states expire early, and a client
# connects during the flood (the reasoning is with the case below).
# Ends with "N passed, N failed".
#
#   client 10.1.0.2 -- int0 [fw] ext0 -- 10.2.0.2 server
#   flooder 10.3.0.2 (spoofs 198.18.0.0/15) -- int1 [fw]

set -u
P=${P:-pfov$$}
source "$(dirname "$0")/../lib/suite.sh"

netns_add cl fl fw srv
ipv4_only
line_up fw
route srv default 10.2.0.1
veth fl eth0 fw int1
addr fl eth0 10.3.0.2/24
addr fw int1 10.3.0.1/24
route fl default 10.3.0.1
route fw 198.18.0.0/15 10.3.0.2
serve srv python3 "$LIB/synflood.py" echo 7000
wait_listen srv 7000
# One queue: the limits below are per queue (pfd's default is one per CPU,
# and the pings would spread over them as the CPUs they came in on).
PFD_FLAGS="-n 1" check "pfd starts" pfd_start fw
check "pf enables" pfctl -q -e

congestion() { pfctl -si | awk '$1 == "congestion" {print $2}'; }
# pings COUNT: echo replies the client gets for COUNT pings 10 ms apart
# while pfd is stopped (then it goes on).
pings() {
	local pid got
	pid=$(daemon_pid fw pfd)
	kill -STOP "$pid"
	got=$(in_ns cl ping -n -q -i 0.01 -c "$1" -W 1 10.2.0.2 2>/dev/null | awk '/received/ {print $4}')
	kill -CONT "$pid"
	echo "${got:-0}"
}

load 'set limit { nfqueue 8, frags 8 }' 'pass'
check "pfctl -nvf prints the options back" bash -c "printf 'set limit nfqueue 8\nset fail-policy open\npass\n' | pfctl -nvf - | grep -qx 'set fail-policy open'"
check "pfctl -vsi shows the queue's length (8 + 8 for fragments)" bash -c "pfctl -vsi | grep -A3 '^Packet Queue' | grep -Eq '^  limit +16 '"
check "pfctl -sm shows the limit" bash -c "pfctl -sm | grep -Eq '^nfqueue +hard limit +8$'"
check "the client pings the server" reach 2
pfctl -q -F info
before=$(congestion)
got=$(pings 60)
sleep 1
after=$(congestion)
check "fail-policy closed: no answer while pfd is stopped ($got)" test "$got" -le 16
check "the kernel's drops are pf's congestion ($before -> $after)" test "$after" -ge $((before + 30))
check "pfctl -Fi clears them" bash -c "pfctl -q -F info; test \"\$(pfctl -si | awk '\$1 == \"congestion\" {print \$2}')\" -eq 0"

load 'set limit { nfqueue 8, frags 8 }' 'set fail-policy open' 'pass'
check "pfctl -vsi says fail-policy open" bash -c "pfctl -vsi | grep -Eq '^  fail-policy +open'"
got=$(pings 60)
check "fail-policy open: what finds no room passes unfiltered ($got answers of 60)" test "$got" -ge 30
load 'pass'
check "back to the default: fail-policy closed, 8192 + 8192" bash -c "pfctl -vsi | grep -A3 '^Packet Queue' | grep -Eq '^  limit +(73728|16384) '"
check "the client pings the server again" reach 2

# --- a SYN flood at the state limit -----------------------------------------
sf() { local n=$1; shift; in_ns "$n" python3 "$LIB/synflood.py" "$@"; }
entries() { pfctl -si | awk '/current entries/ { print $3; exit }'; }
memory() { pfctl -si | awk '$1 == "memory" {print $2}'; }
load 'set limit states 5000' 'pass'
pfctl -q -F states
sf fl flood 10.2.0.2 7000 6000 2000 >/dev/null
n=$(entries)
check "keep state: 6000 spoofed SYNs fill the table ($n of 5000)" test "$n" -ge 4990
m0=$(memory)
check "keep state: a client cannot connect to the full table" test "$(tcp_outcome cl 10.2.0.2 7000 2)" = timeout
check "keep state: its SYNs count as memory ($m0 -> $(memory))" test "$(memory)" -gt "$m0"

load 'set limit states 5000' 'set syncookies always' 'pass' 'pass in proto tcp to port 7000 synproxy state'
pfctl -q -F states
m0=$(memory)
sf fl flood 10.2.0.2 7000 6000 2000 >/dev/null &
flood=$!
sleep 1.5
out=$(sf cl client 10.2.0.2 7000 200)
during=$(entries)
wait $flood
check "synproxy and syncookies: the table stays far from the limit during the flood ($during)" test "$during" -lt 100
check "synproxy and syncookies: a client connects and carries data during the flood ($out)" grep -q 'ok=1 sent=200 echoed=200' <<<"$out"
check "synproxy and syncookies: no SYN dropped for want of room ($m0 -> $(memory))" test "$(memory)" -eq "$m0"
check "synproxy and syncookies: -vsi counts the cookies" test "$(counter "syncookies sent")" -ge 5000

# --- adaptive timeouts under a SYN flood at the state limit -----------------
# 150 spoofed SYNs a second to 10.9.0.1, an address the firewall drops
# after pf (blackhole route): the flood's states stay as made, in
# tcp.first, with nothing to refresh them (a server's SYN|ACKs would
# keep them alive and blur the timing). `set limit states 1000` with
# tcp.first 20 drains 1000 / 20 = 50 states a second unscaled: the flood
# fills the table in 7 s and a client finds no room. With adaptive.start
# 200 and adaptive.end 1100 (above the limit, as pf.conf.5 advises) a
# state's timeout at n states is 20 * (1100 - n) / 900 s
# (pf_state_expires): 2 s at the limit, so the flood's states live a few
# seconds and each expiry run (once a second, the whole of so small a
# table) frees dozens of slots. The client's SYNs (at 0, 1, 3 and 7 s,
# Linux's retransmissions) find room within 8 s: a model of this flood
# and expiry missed with none of them in 500 runs; a full table would
# refuse all four.
in_ns fw ip route add blackhole 10.9.0.0/24
# lives: "N L" for the states to 10.9.0.1 in pfctl -vss, N of them, L
# the longest age + expires in (s) among them: their whole timeout.
lives() {
	pfctl -vss | awk '
		/ 10\.9\.0\.1:7000 / { f = 1; n++; next }
		f && $1 == "age" {
			split($2, a, ":"); split($5, b, ":")
			t = a[1] * 3600 + a[2] * 60 + a[3] + b[1] * 3600 + b[2] * 60 + b[3]
			if (t > max) max = t
			f = 0
		}
		END { print n + 0, max + 0 }'
}
load 'set limit states 1000' 'set timeout { tcp.first 20, adaptive.start 0, adaptive.end 0 }' 'pass'
pfctl -q -F states
m0=$(memory)
sf fl flood 10.9.0.1 7000 1800 150 >/dev/null &
flood=$!
sleep 9
n=$(entries)
out=$(tcp_outcome cl 10.2.0.2 7000 2)
wait $flood
unscaled=$(($(memory) - m0))
check "no scaling: 150 SYNs a second fill the table ($n of 1000)" test "$n" -ge 990
check "no scaling: a client cannot connect ($out)" test "$out" = timeout
check "no scaling: the SYNs beyond the limit count as memory ($unscaled in 12 s)" test "$unscaled" -ge 600

load 'set limit states 1000' 'set timeout { tcp.first 20, adaptive.start 200, adaptive.end 1100 }' 'pass'
pfctl -q -F states
m0=$(memory)
sf fl flood 10.9.0.1 7000 3000 150 >/dev/null &
flood=$!
sleep 8
read -r n life <<<"$(lives)"
# The longest life: the scaled timeout at the count of the last expiry
# run, which saw at least the count two seconds before (runs are a
# second apart, give or take their own delay, and the flood adds 150
# states a second), plus a second of rounding each for age and expiry.
before=$((n - 300 > 200 ? n - 300 : 200))
bound=$((20 * (1100 - before) / 900 + 2))
t0=$(date +%s%N)
out=$(sf cl client 10.2.0.2 7000 100)
took=$((($(date +%s%N) - t0) / 1000000))
wait $flood
scaled=$(($(memory) - m0))
check "adaptive: pfctl -st shows the thresholds" bash -c "pfctl -st | grep -Eq '^adaptive.start +200 states' && pfctl -st | grep -Eq '^adaptive.end +1100 states'"
check "adaptive: the flood's states live their scaled timeout, not tcp.first's 20 s ($n states, longest in -vss $life s, bound $bound s)" \
	test "$n" -ge 200 -a "$life" -le "$bound" -a "$life" -lt 20
check "adaptive: a client connects and carries data during the flood ($out, $took ms)" grep -q 'ok=1 sent=100 echoed=100' <<<"$out"
check "adaptive: within 8 s, by its fourth SYN ($took ms)" test "$took" -le 8500
check "adaptive: fewer SYNs refused for memory in 20 s than unscaled in 12 ($scaled < $unscaled)" test "$scaled" -lt "$unscaled"
in_ns fw ip route del blackhole 10.9.0.0/24

summary
