#!/bin/bash
# Fail closed from boot to shutdown (pfd.8, FILES): a pfd that never had
# a ruleset blocks everything; the committed configuration (rules,
# options, tables with what pfctl -t added, enabled) survives kill -9 and
# is in force again before the first packet is read, a blocked port being
# polled all the while; states survive SIGTERM; a corrupt configuration
# file makes pfd block, not pass. Ends with "N passed, N failed".

set -u
P=${P:-pffc$$}
source "$(dirname "$0")/../lib/suite.sh"

netns_add cl fw srv
ipv4_only
line_up fw
route srv default 10.2.0.1
addr cl eth0 10.1.0.3/24
export PFD_STATE_DIR=$RUN/fw.state
serve srv python3 "$LIB/tcpprobe.py" server 7000
serve srv python3 "$LIB/tcpprobe.py" server 7001
wait_listen srv 7000
wait_listen srv 7001

# poll SECONDS FILE: connect to the blocked port 7001 every 20 ms or so for SECONDS;
# FILE gets "attempts connected".
poll() { in_ns cl python3 "$LIB/tcpprobe.py" poll 10.2.0.2 7001 "$1" "$2"; }
pfd_pid() { daemon_pid fw pfd; }
restart() {
	local sig=$1 pid
	pid=$(pfd_pid)
	kill -"$sig" "$pid"
	for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
	sleep "${2:-0}"
	pfd_start fw
}

# ------------------------------------------------------------- first boot
check "pfd starts with an empty state directory" pfd_start fw
check "no ruleset ever committed: the boot ruleset blocks" bash -c "pfctl -sr | grep -qx 'block drop all'"
check "pf is enabled from the start" bash -c "pfctl -si | grep -q '^Status: Enabled'"
check "the client cannot reach the server" fails reach 2
check "pfctl -e is no error while the boot ruleset runs" pfctl -q -e

conf main <<'EOF'
set limit states 1000
table <banned> persist { 10.9.9.9 }
block return in quick on int0 proto tcp to port 7001
block in quick on int0 from <banned>
pass
EOF
check "the first ruleset loads" load_conf main
check "pfctl -t adds an address" pfctl -q -t banned -T add 10.1.0.3
check "the ruleset file is written" test -s "$PFD_STATE_DIR/ruleset"
check "port 7000 connects" test "$(tcp_outcome cl 10.2.0.2 7000)" = connected
check "port 7001 is refused" test "$(tcp_outcome cl 10.2.0.2 7001)" = refused
check "10.1.0.3 is banned" fails reach 3
check "10.1.0.2 passes" reach 2
rules_before=$(pfctl -sr)
limits_before=$(pfctl -sm)

# ------------------------------------------------------- kill -9, restart
poll 4 "$RUN/poll1" &
poller=$!
sleep 0.5
restart KILL 1
wait $poller
read -r tries opened <"$RUN/poll1"
check "port 7001 was polled through the restart ($tries tries)" test "$tries" -ge 20
check "port 7001 was never reached during the restart ($opened of $tries)" test "$opened" -eq 0
check "the rules are back" same "$(pfctl -sr)" "$rules_before"
check "the limits are back" same "$(pfctl -sm)" "$limits_before"
check "pf is enabled again" bash -c "pfctl -si | grep -q '^Status: Enabled'"
check "the address pfctl -t added is back" bash -c "pfctl -t banned -T show | grep -q 10.1.0.3"
check "10.1.0.3 is still banned" fails reach 3
check "port 7000 connects after the restart" test "$(tcp_outcome cl 10.2.0.2 7000)" = connected
check "port 7001 is still refused" test "$(tcp_outcome cl 10.2.0.2 7001)" = refused
check "the log says the configuration was restored" grep -q "configuration restored" "$RUN/fw.pfd.log"
check "the hooks of the killed pfd were kept, not replaced" bash -c "grep 'packet hooks' '$RUN/fw.pfd.log' | tail -n 1 | grep -q 'of the last pfd kept'"

# ---------------------------------------------- SIGTERM keeps the states
in_ns cl python3 "$LIB/tcpprobe.py" client 10.2.0.2 7000 5 0.02 >"$RUN/probe" &
probe=$!
states_when '10.2.0.2:7000.*ESTABLISHED' >/dev/null
restart TERM
check "the states were written on SIGTERM" grep -q "states written to" "$RUN/fw.pfd.log"
check "and read back" grep -q "states restored" "$RUN/fw.pfd.log"
check "the connection's state is back" bash -c "pfctl -ss | grep -q '10.2.0.2:7000 .*ESTABLISHED'"
wait $probe
check "a connection open across SIGTERM and restart survived ($(tr '\n' ' ' <"$RUN/probe"))" grep -q survived=1 "$RUN/probe"
check "the state file is consumed" test ! -e "$PFD_STATE_DIR/states"

# -------------------------------------------------- a corrupt ruleset file
pid=$(pfd_pid)
kill -KILL "$pid"
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
printf 'PFDCONF\0garbage' >"$PFD_STATE_DIR/ruleset"
check "pfd starts with a corrupt ruleset file" pfd_start fw
check "it says so" grep -q "configuration unreadable" "$RUN/fw.pfd.log"
check "and blocks: the boot ruleset" bash -c "pfctl -sr | grep -qx 'block drop all'"
check "the client cannot reach the server" fails reach 2
check "port 7000 does not connect" test "$(tcp_outcome cl 10.2.0.2 7000)" != connected
check "the bad file is kept aside" test -e "$PFD_STATE_DIR/ruleset.bad"
check "a load ends the boot ruleset" load_conf main
check "10.1.0.2 passes again" reach 2

# ------------------------------------------ pfctl -d is kept across restarts
check "pfctl -d" pfctl -q -d
restart KILL
check "pf stays disabled after a restart" bash -c "pfctl -si | grep -q '^Status: Disabled'"
check "and port 7001 connects (no hooks)" test "$(tcp_outcome cl 10.2.0.2 7001)" = connected

summary
