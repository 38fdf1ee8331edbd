#!/bin/bash
# pfd killed (-9) on the master of the HA pair and started again, as a
# service manager would, with traffic running: port 6000, blocked by the
# ruleset, is polled through the whole episode and never reached; a TCP
# connection through the VIP survives (the backup carries it with the
# states pfsync gave it, and the restarted pfd gets them back with a bulk
# update: pfd restores carp and pfsync0 itself, pfsyncd asks). Ends with
# "N passed, N failed".

set -u
P=${P:-pfhr$$}
source "$(dirname "$0")/../lib/suite.sh"

TCP_PORT=7000
topo_up
PFD_STATE_DIR=$RUN/fw1.state PFD_FLAGS="-P" fw_start fw1
sleep 1
PFD_STATE_DIR=$RUN/fw2.state PFD_FLAGS="-P" fw_start fw2
serve srv python3 "$LIB/tcpprobe.py" server $TCP_PORT
serve srv python3 "$LIB/tcpprobe.py" server 6000
wait_listen srv $TCP_PORT
wait_listen srv 6000
check "fw1 is MASTER on carp1" wait_carp fw1 carp1 MASTER 15
check "fw1 is MASTER on carp2" wait_carp fw1 carp2 MASTER 15
check "fw2 is BACKUP on carp1" wait_carp fw2 carp1 BACKUP 15
check "fw2 finished its bulk update" bash -c "for i in \$(seq 100); do grep -q 'bulk update complete' '$RUN/fw2.pfsyncd.log' && exit 0; sleep 0.1; done; exit 1"
check "port $TCP_PORT connects through the VIP" test "$(tcp_outcome cl 192.0.2.20 $TCP_PORT)" = connected
check "port 6000 is refused (block return ... to port 6000:6010)" test "$(tcp_outcome cl 192.0.2.20 6000)" = refused

# poll SECONDS FILE: connect to port 6000 every 20 ms or so for SECONDS;
# FILE gets "attempts connected".
poll() { in_ns cl python3 "$LIB/tcpprobe.py" poll 192.0.2.20 6000 "$1" "$2"; }

in_ns cl python3 "$LIB/tcpprobe.py" client 192.0.2.20 $TCP_PORT 25 0.02 >"$RUN/probe" 2>&1 &
probe=$!
poll 25 "$RUN/poll" &
poller=$!
sleep 2
pid=$(daemon_pid fw1 pfd)
kill -KILL "$pid"
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
check "fw2 takes over while fw1's pfd is dead" wait_carp fw2 carp1 MASTER 10
# The service manager starts pfd again (pfd alone: pfsyncd lives on).
pfd_again() { PFD_STATE_DIR=$RUN/fw1.state PFD_FLAGS="-P" pfd_start fw1; }
check "pfd starts again on fw1" pfd_again
check "it restored its configuration" grep -q "configuration restored" "$RUN/fw1.pfd.log"
check "and its carp interfaces and pfsync0, without netstart" grep -q "interfaces restored: 2 carp interfaces, pfsync0 up" "$RUN/fw1.pfd.log"
check "fw1's pfsyncd asked for and got a bulk update" bash -c "for i in \$(seq 200); do [ \$(grep -c 'bulk update complete' '$RUN/fw1.pfsyncd.log') -ge 2 ] && exit 0; sleep 0.1; done; exit 1"
check "fw1 is MASTER again (preempt)" wait_carp fw1 carp1 MASTER 20
check "fw1 has the connection's state again" bash -c "in_fw fw1 '$BIN/pfctl' -ss | grep -q '192.0.2.20:$TCP_PORT .*ESTABLISHED'"
wait $probe
wait $poller
read -r tries opened <"$RUN/poll"
check "port 6000 was polled all along ($tries tries)" test "$tries" -ge 100
check "port 6000 was never reached ($opened of $tries)" test "$opened" -eq 0
check "the TCP connection survived ($(tr '\n' ' ' <"$RUN/probe"))" grep -q survived=1 "$RUN/probe"

summary
