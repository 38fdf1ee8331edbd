#!/bin/bash
# Overload you can see and choose (pf.conf.5: set limit nfqueue, set
# fail-policy): with pfd stopped (SIGSTOP) the kernel queues up to the
# limit and drops the rest, counted in `pfctl -si` as congestion; `set
# fail-policy open` lets what finds no room pass unfiltered instead.
# Ends with "N passed, N failed".

set -u
P=${P:-pfov$$}
source "$(dirname "$0")/../lib/suite.sh"

netns_add cl fw srv
ipv4_only
line_up fw
route srv default 10.2.0.1
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

summary
