# Helpers of the carp balancing suites (carpbalance.sh, carpbalance6.sh):
# clients c1..cN ($CLIENTS) ping the server through fw1 and fw2, each
# firewall passing its share. The suite sets, before sourcing this:
#   BAL_PING    the ping command and family ("ping" or "ping -6")
#   BAL_SERVER  the server's address
#   BAL_CLIENT  client C's address is ${BAL_CLIENT}C as `pfctl -vvss`
#               prints it, followed by BAL_CLIENT_END ("" or "[": IPv6
#               addresses are printed with the port in brackets)
#   BAL_CARP1, BAL_CARP2  the address words of carp1 (clients' side, on
#               eth0) and carp2 (server's side, on eth1) for carpctl

carpctl() { local h=$1; shift; in_fw "$h" "$BIN/carpctl" "$@"; }
pfss() { in_fw "$1" "$BIN/pfctl" -ss 2>/dev/null; }
export -f carpctl pfss

# fw_up FW MODE OUTNODES INNODES: pfd with $RUN/pf.conf, pfsync on sync0,
# carp1 and carp2 balanced in MODE over the given carpnodes.
fw_up() {
	PFD_FLAGS=-P pfd_start "$1" &&
		in_fw "$1" "$BIN/pfctl" -q -e &&
		in_fw "$1" "$BIN/pfctl" -q -f "$RUN/pf.conf" &&
		pfsyncd_start "$1" &&
		carpctl "$1" pfsync0 up syncdev sync0 &&
		carpctl "$1" carp1 $BAL_CARP1 carpdev eth0 pass out1 balancing "$2" carpnodes "$3" &&
		carpctl "$1" carp2 $BAL_CARP2 carpdev eth1 pass in2 balancing "$2" carpnodes "$4"
}
# node_state FW IF STATE VHID SECS: until carpctl shows the node so.
node_state() {
	local i
	for i in $(seq $((${5:-10} * 10))); do
		carpctl "$1" "$2" 2>/dev/null | grep -q $'^\t\tstate '"$3 vhid $4 " && return 0
		sleep 0.1
	done
	return 1
}
export -f node_state

# pings C: 10 echo requests to the server; "received dups" on stdout.
pings() {
	in_ns c$1 $BAL_PING -n -c 10 -i 0.05 -W 1 "$BAL_SERVER" 2>/dev/null |
		awk '/packets transmitted/ { r = $4; d = 0; if ($6 ~ /^\+/) d = substr($6, 2); print r, d }'
}
# all_ping: every client gets 10 of 10 replies, none duplicated.
all_ping() {
	local i ok=0
	for i in $CLIENTS; do pings $i >"$RUN/ping$i" & done
	wait
	for i in $CLIENTS; do
		echo "# c$i: received/dups $(cat "$RUN/ping$i")"
		[ "$(cat "$RUN/ping$i")" = "10 0" ] || ok=1
	done
	return $ok
}
# made FW C: the states of client C's flows to the server that FW made
# itself (its hostid as creator; pfsync copies the others').
made() {
	local hid
	hid=$(in_fw "$1" "$BIN/pfctl" -vsi 2>/dev/null | awk '/^Hostid:/ { print substr($2, 3) }')
	in_fw "$1" "$BIN/pfctl" -vvss 2>/dev/null |
		awk -v pat="$BAL_CLIENT$2$BAL_CLIENT_END" -v srv="-> $BAL_SERVER" -v host="$hid" '
		/^[a-z]/ { m = index($0, pat) && index($0, srv) }
		m && /creatorid:/ && $4 == host { n++ }
		END { print n + 0 }'
}
holds() { [ "$(made "$1" "$2")" -gt 0 ]; }
# made_all FW: how many states to the server FW made.
made_all() { local i n=0; for i in $CLIENTS; do n=$((n + $(made "$1" $i))); done; echo $n; }
# owner_split: even clients hash to node 0 (fw1), odd ones to node 1
# (fw2) in both suites; each flow's state on its owner only.
owner_split() {
	local i ok=0 own other
	for i in $CLIENTS; do
		if [ $((i % 2)) = 0 ]; then own=fw1 other=fw2; else own=fw2 other=fw1; fi
		holds $own $i || { echo "# c$i: no state on $own" >&2; ok=1; }
		! holds $other $i || { echo "# c$i: state on $other too" >&2; ok=1; }
	done
	return $ok
}
