# regress/bench/ha's bulk part (sourced; HA_PARTS=bulk runs it alone).
#
# fw1 gets $HA_BULK_FLOWS (default 60000) one-packet UDP flows from the
# client (flowbench flows; two states each, in on hvn4 and out on hvn3,
# no NAT) while fw2's pfsyncd is stopped and fw2's states are flushed.
# Then fw2's pfsyncd starts: it asks for a bulk update, fw1 answers.
#   bench.ha.pfd.bulk_states          states on fw1 (pfsync's own excluded)
#   bench.ha.pfd.bulk_ms              fw2's pfsyncd started -> its log says
#                                     "bulk update complete" (BUS END in)
#   bench.ha.pfd.bulk_states_per_s    bulk_states / bulk_ms
#   bench.ha.pfd.bulk_send_states_per_s  fw1's pfsyncd's own figure
#   bench.ha.pfd.bulk_missing         states of fw1 not on fw2 afterwards
#   bench.ha.pfd.bulk_rcvdrops        drops of fw2's pfsync socket
#                                     (/proc/net/raw, protocol 240)
#   bench.ha.pfd.bulk_giveup_s        fw2's give-up time for this table
#                                     (OpenBSD's formula from its limit)
#   bench.ha.ratio.bulk_giveup        bulk_giveup_s / the bulk's time
# Measured (2 shared cores, release): 100,000 flows, 200,009 states in
# 1.55 s (128,954/s end to end, 139,869/s sent), 0 missing, 0 drops,
# give-up 3,520 s.
bulk_part() {
	local flows=${HA_BULK_FLOWS:-60000} n i t0 t1 ms have
	local limit=$((flows * 2 + 20000))
	# Room for the table, flows that outlive the bench.
	udp_pair_up "$limit"
	fw_stop_one fw2 pfsyncd
	in_fw fw2 "$BIN/pfctl" -q -F states
	echo "# flowbench: $(in_ns cl "$FLOWBENCH" flows 192.168.99.50 192.0.2.20 "$flows")"
	sleep 1
	# States pfsync sends (pfsync's own and CARP's stay home).
	synced() { in_fw "$1" "$BIN/pfctl" -ss | grep -v -e ' pfsync ' -e ' carp ' -e ' 240 ' -e ' 112 ' | sort; }
	synced fw1 >"$RUN/bulk.fw1"
	have=$(wc -l <"$RUN/bulk.fw1")
	echo "bench.ha.pfd.bulk_states=$have"
	local done0
	done0=$(grep -c 'bulk update complete' "$RUN/fw2.pfsyncd.log")
	t0=$(date +%s%N)
	pfsyncd_start fw2
	for i in $(seq 6000); do
		[ "$(grep -c 'bulk update complete' "$RUN/fw2.pfsyncd.log")" -gt "$done0" ] && break
		sleep 0.01
	done
	t1=$(date +%s%N)
	ms=$(((t1 - t0) / 1000000))
	echo "bench.ha.pfd.bulk_ms=$ms"
	echo "bench.ha.pfd.bulk_states_per_s=$((have * 1000 / (ms > 0 ? ms : 1)))"
	echo "bench.ha.pfd.bulk_send_states_per_s=$(sed -n 's/.*bulk update: sent .* (\([0-9]*\) states\/s).*/\1/p' "$RUN/fw1.pfsyncd.log" | tail -1)"
	synced fw2 >"$RUN/bulk.fw2"
	echo "bench.ha.pfd.bulk_missing=$(comm -23 "$RUN/bulk.fw1" "$RUN/bulk.fw2" | wc -l)"
	echo "bench.ha.pfd.bulk_rcvdrops=$(in_ns fw2 awk '$2 ~ /:00F0$/ { d += $NF } END { print d + 0 }' /proc/net/raw)"
	local giveup
	giveup=$(sed -n 's/.*giving up after \([0-9]*\) s.*/\1/p' "$RUN/fw2.pfsyncd.log" | tail -1)
	echo "bench.ha.pfd.bulk_giveup_s=${giveup:-none}"
	[ -n "$giveup" ] && echo "bench.ha.ratio.bulk_giveup=$(awk -v g="$giveup" -v m="$ms" 'BEGIN { printf "%.0f\n", g * 1000 / (m > 0 ? m : 1) }')"
	# Back to a bare pair for the other parts.
	fw_stop fw1 TERM
	fw_stop fw2 TERM
	fw_reset fw1
	fw_reset fw2
	rm -rf "$RUN/etc-fw1" "$RUN/etc-fw2"
}

# fw_stop_one FW DAEMON: one daemon stopped cleanly.
fw_stop_one() {
	local pid i
	pid=$(daemon_pid "$1" "$2")
	kill -TERM "$pid" 2>/dev/null
	for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
	rm -f "$RUN/$1.$2.pid"
}
