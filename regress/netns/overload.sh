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
# the flood's states no longer half-open, as in OpenBSD.)
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
check "pfd starts" pfd_start fw
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

summary
