#!/bin/bash
# Metrics and health on the HA pair (regress/lib/topo.sh): pfmetrics'
# Prometheus text parses (prometheus_client's parser) and has every
# family; a CARP failover by demotion shows in the state gauges, the
# transitions counters and the group demotion counter; a labelled rule's
# counters grow with traffic; pfsync's counters grow and `carpctl -s
# pfsync0` shows them; the textfile is written whole; the health check
# (`pfmetrics -c`) fails when the sync peer is silenced (its pfsyncd
# stopped, then the sync link down) or a bulk update is stuck, and passes
# again afterwards. Ends with "N passed, N failed".

set -u
P=${P:-pfme$$}
source "$(dirname "$0")/../lib/suite.sh"

PROM="/usr/bin/python3 $LIB/promtext.py"
# m FW NAME [LABEL=VALUE ...]: one value of FW's metrics (summed over the
# labels not given); scrape FW: the whole text.
scrape() { in_fw "$1" "$BIN/pfmetrics"; }
m() { local n=$1; shift; scrape "$n" | $PROM "$@"; }
# until SECS CMD...: CMD succeeds within SECS seconds.
until_ok() { local s=$1 i; shift; for i in $(seq $((s * 10))); do "$@" && return 0; sleep 0.1; done; return 1; }
healthy() { in_fw "$1" "$BIN/pfmetrics" -c -q "${@:2}" 2>/dev/null; }
unhealthy() { ! healthy "$@"; }
export -f scrape m until_ok healthy unhealthy
export PROM

topo_up
# The example rulesets, their NAT rule labelled (the last of the two
# alike, the one that matches).
for n in fw1 fw2; do
	cp -r "$EX/$n" "$RUN/etc-$n"
	sed -i 's/^\(pass out on \$ext_if inet from \$carp_int_if:network to any nat-to \$carp_ext_if\)$/\1 label "nat-inside"/' "$RUN/etc-$n/pf.conf"
done
check "the NAT rule has its label" grep -q 'label "nat-inside"' "$RUN/etc-fw1/pf.conf"
fw_start fw1
sleep 1
fw_start fw2
for n in fw1 fw2; do in_fw $n "$BIN/carpctl" sysctl net.inet.carp.preempt=1 >/dev/null; done
check "fw1 is MASTER on carp1" wait_carp fw1 carp1 MASTER 15
check "fw2 is BACKUP on carp1" wait_carp fw2 carp1 BACKUP 15
check "fw2 finished its bulk update" until_ok 15 grep -q 'bulk update complete' "$RUN/fw2.pfsyncd.log"

# ------------------------------------------------------------- the format
scrape fw1 >"$RUN/fw1.prom"
check "fw1's metrics parse (prometheus_client)" $PROM <"$RUN/fw1.prom"
for f in pf_enabled pf_states pf_state_inserts_total pf_counter_total pf_limit_counter_total \
	pf_queue_length pf_queues pf_engine_waits_total pf_engine_wait_seconds_total \
	pf_rule_packets_total pf_rule_evaluations_total pf_carp_state \
	pf_carp_transitions_total pf_carp_group_demote pf_carp_stats_total pf_pfsync_stats_total \
	pf_pfsync_bulk_phase pf_pfsync_peer_last_heard_timestamp_seconds pf_pfsync_healthy \
	pf_pfsync_repair_total pf_pfsync_defer_total; do
	check "family $f: HELP, TYPE and samples" bash -c "grep -q '^# HELP $f ' '$RUN/fw1.prom' && grep -q '^# TYPE $f ' '$RUN/fw1.prom' && grep -q '^$f[{ ]' '$RUN/fw1.prom'"
done
check "pf is enabled" same "$($PROM pf_enabled <"$RUN/fw1.prom")" 1
check "the states gauge is pfctl -si's" bash -c "[ \$($PROM pf_states <'$RUN/fw1.prom') -ge 1 ]"
check "fw2's bulk update is done" same "$(m fw2 pf_pfsync_bulk_phase phase=done)" 1
check "fw2 received one bulk update, fw1 sent one" same "$(m fw2 pf_pfsync_bulks_received_total) $(m fw1 pf_pfsync_bulks_sent_total)" "1 1"

# ------------------------------------------------------------------ textfile
check "pfmetrics -o writes the file" in_fw fw1 "$BIN/pfmetrics" -o "$RUN/pf.prom"
check "the file parses and holds the CARP state" bash -c "$PROM pf_carp_state interface=carp1 state=MASTER <'$RUN/pf.prom' | grep -qx 1"
check "no temporary file left beside it" same "$(ls -A "$RUN" | grep -c '^\.pf\.prom')" 0
check "pfmetrics -o into a missing directory fails" fails in_fw fw1 "$BIN/pfmetrics" -o "$RUN/none/pf.prom"
check "pfd unreachable: pfmetrics -o fails" fails env PF_SOCKET="$RUN/no.sock" "$BIN/pfmetrics" -o "$RUN/pf.prom"
check "... and the file says so alone (pf_metrics_ok 0)" same "$(grep -v '^#' "$RUN/pf.prom")" "pf_metrics_ok 0"

# --------------------------------------------------------- per-rule counters
rule_pkts() { m fw1 pf_rule_packets_total label=nat-inside; }
before=$(rule_pkts)
in_ns cl ping -c 10 -i 0.05 -W 1 192.0.2.20 >/dev/null
after=$(rule_pkts)
check "the labelled NAT rule counted the pings ($before -> $after)" test "$after" -ge $((before + 10))
scrape fw1 >"$RUN/fw1.prom"
check "its sample carries the rule's text, quotes escaped" grep -qF 'label="nat-inside",rule="pass out on hvn3 inet from 192.168.99.0/24 to any flags S/SA label \"nat-inside\" nat-to 192.0.2.1",dir="out"}' "$RUN/fw1.prom"

# --------------------------------------------------------------- failover
t1=$(m fw1 pf_carp_transitions_total interface=carp1)
t2=$(m fw2 pf_carp_transitions_total interface=carp1)
check "fw1's gauges: carp1 MASTER 1, BACKUP 0" same "$(m fw1 pf_carp_state interface=carp1 state=MASTER) $(m fw1 pf_carp_state interface=carp1 state=BACKUP)" "1 0"
check "fw2's gauges: carp1 MASTER 0, BACKUP 1" same "$(m fw2 pf_carp_state interface=carp1 state=MASTER) $(m fw2 pf_carp_state interface=carp1 state=BACKUP)" "0 1"
in_fw fw1 "$BIN/carpctl" -g carp carpdemote 50
check "fw1 demoted: fw2 takes carp1 over" wait_carp fw2 carp1 MASTER 10
check "fw1's group demotion counter shows 50" same "$(m fw1 pf_carp_group_demote group=carp)" 50
check "fw1's carp1 advertises the demotion" same "$(m fw1 pf_carp_demote interface=carp1)" 50
check "fw2's gauges after failover: MASTER 1, BACKUP 0" until_ok 3 bash -c '[ "$(m fw2 pf_carp_state interface=carp1 state=MASTER) $(m fw2 pf_carp_state interface=carp1 state=BACKUP)" = "1 0" ]'
check "fw1's gauges after failover: MASTER 0, BACKUP 1" until_ok 3 bash -c '[ "$(m fw1 pf_carp_state interface=carp1 state=MASTER)" = 0 ]'
check "fw2's transitions counter grew ($t2 -> $(m fw2 pf_carp_transitions_total interface=carp1))" test "$(m fw2 pf_carp_transitions_total interface=carp1)" -gt "$t2"
check "fw1's transitions counter grew ($t1 -> $(m fw1 pf_carp_transitions_total interface=carp1))" test "$(m fw1 pf_carp_transitions_total interface=carp1)" -gt "$t1"
check "fw2's preempt counter (transitions to master) is 1 or more" bash -c "[ \$(m fw2 pf_carp_stats_total counter=preempt) -ge 1 ]"
in_fw fw1 "$BIN/carpctl" -g carp -carpdemote 50
check "fw1 undemoted: it preempts carp1 back" wait_carp fw1 carp1 MASTER 10
check "fw1's demotion counter back to 0" same "$(m fw1 pf_carp_group_demote group=carp)" 0

# ------------------------------------------------------------------ pfsync
i1=$(m fw2 pf_pfsync_stats_total counter=ipackets)
o1=$(m fw1 pf_pfsync_stats_total counter=opackets)
sleep 2.5
check "fw2's pfsync input counter grows (keepalives at least: $i1 -> $(m fw2 pf_pfsync_stats_total counter=ipackets))" test "$(m fw2 pf_pfsync_stats_total counter=ipackets)" -ge $((i1 + 2))
check "fw1's pfsync output counter grows" test "$(m fw1 pf_pfsync_stats_total counter=opackets)" -ge $((o1 + 2))
check "fw2 heard fw1 within the last 2 s" bash -c "m fw2 pf_pfsync_peer_silence_seconds | awk '{ exit !(\$1 < 2) }'"
in_fw fw2 "$BIN/carpctl" -s pfsync0 >"$RUN/pfsync0.txt" 2>&1
check "carpctl -s pfsync0: netstat's first line" grep -q '^pfsync:$' "$RUN/pfsync0.txt"
check "carpctl -s pfsync0: packets received, as the metric" bash -c "n=\$(awk '/packets? received \\(IPv4\\)/ { print \$1 }' '$RUN/pfsync0.txt'); [ \"\$n\" -ge $((i1 + 2)) ]"
check "carpctl -s pfsync0: the bulk update and the peer" bash -c "grep -q 'bulk update done for' '$RUN/pfsync0.txt' && grep -q 'peer last heard' '$RUN/pfsync0.txt'"
check "the insert lag family is declared" bash -c "grep -q '^# TYPE pf_pfsync_insert_lag_seconds gauge' '$RUN/fw1.prom'"
check "repair counters as carpctl -s pfsync0 shows them (gaps, repaired, lost)" \
	same "$(m fw2 pf_pfsync_repair_total counter=gaps) $(m fw2 pf_pfsync_repair_total counter=repaired) $(m fw2 pf_pfsync_repair_total counter=lost)" "$(awk '/ repaired, .* lost/ { print $1, $8, $10 }' "$RUN/pfsync0.txt")"
check "defer counters as carpctl -s pfsync0 shows them" \
	same "$(m fw2 pf_pfsync_defer_total counter=deferred) $(m fw2 pf_pfsync_defer_total counter=acked)" "$(awk '/packets? deferred:/ { print $1, $4 }' "$RUN/pfsync0.txt")"
check "carpctl -s pfsync0: 17 lines of netstat's" same "$(grep -c -e '^pfsync:' -e 'received (IPv' -e 'sent (IPv' -e 'discarded' -e 'shorter' -e 'stale state' -e 'lookup/insert' -e 'send' "$RUN/pfsync0.txt")" 17

# ------------------------------------------------------------------ health
check "health: both pass" bash -c 'healthy fw1 && healthy fw2'
check "health: pfmetrics -c says ok" same "$(in_fw fw2 "$BIN/pfmetrics" -c)" "pfsync: ok"
check "health gauge 1 on fw2" same "$(m fw2 pf_pfsync_healthy)" 1
# Silenced: fw1's pfsyncd stopped.
kill -TERM "$(daemon_pid fw1 pfsyncd)"
check "fw1's pfsyncd stopped: fw2's check fails within 5 s (-w 2)" until_ok 5 unhealthy fw2 -w 2
check "its message names the silence" bash -c "in_fw fw2 '$BIN/pfmetrics' -c -w 2 2>&1 | grep -q 'sync peer silent for'"
check "fw1's own check fails: pfsync0 up, no pfsyncd" bash -c "in_fw fw1 '$BIN/pfmetrics' -c 2>&1 | grep -q 'pfsyncd is not running'"
check "health gauge 0 on fw2 (default 5 s)" until_ok 6 bash -c '[ "$(m fw2 pf_pfsync_healthy)" = 0 ]'
# A bulk update that nobody answers: fw2's pfsync0 down and up.
in_fw fw2 "$BIN/carpctl" pfsync0 down
in_fw fw2 "$BIN/carpctl" pfsync0 up
check "fw2's new bulk request is pending" until_ok 3 bash -c '[ "$(m fw2 pf_pfsync_bulk_phase phase=requested)" = 1 ]'
check "and stuck past 2 s (-b 2)" until_ok 5 bash -c "in_fw fw2 '$BIN/pfmetrics' -c -w 100 -b 2 2>&1 | grep -q 'bulk update requested for'"
pfsyncd_start fw1
check "fw1's pfsyncd back: fw2's check passes again (-w 2)" until_ok 15 healthy fw2 -w 2
check "fw2's bulk update is done again (its request repeated every 2 s)" until_ok 10 bash -c '[ "$(m fw2 pf_pfsync_bulk_phase phase=done)" = 1 ]'
check "fw1's check passes again" until_ok 5 healthy fw1 -w 2
# Silenced: the sync link down.
in_ns fw1 ip link set hvn2 down
check "sync link down: fw2's check fails (-w 2)" until_ok 5 unhealthy fw2 -w 2
in_ns fw1 ip link set hvn2 up
check "sync link up: fw2's check passes again (-w 2)" until_ok 10 healthy fw2 -w 2
check "the metrics still parse" bash -c "scrape fw2 | $PROM >/dev/null"

summary
