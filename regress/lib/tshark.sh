# tshark on captured CARP and pfsync frames (source it). Debian's tshark
# decodes CARP only when IP's and IPv6's heuristic dissectors go first
# (protocol 112 is VRRP's too), and has no pfsync dissector: pfsync.lua is ours, from
# if_pfsync.h. IP header checksums are checked as well.

TSHARK_OPTS=(-o ip.try_heuristic_first:TRUE -o ipv6.try_heuristic_first:TRUE -o ip.check_checksum:TRUE -X "lua_script:$LIB/pfsync.lua")

# tshark_count FILE FILTER: frames of FILE matching the display FILTER.
tshark_count() { tshark "${TSHARK_OPTS[@]}" -r "$1" -Y "$2" 2>/dev/null | wc -l; }

# tshark_malformed FILE: "Malformed" and "Expert Info (Error" lines of
# FILE's full decode.
tshark_malformed() { tshark "${TSHARK_OPTS[@]}" -r "$1" -V 2>&1 | grep -cE 'Malformed|Expert Info \(Error' || true; }

# tshark_bad_frames FILE: how many frames of FILE have such a line.
tshark_bad_frames() {
	tshark "${TSHARK_OPTS[@]}" -r "$1" -V 2>&1 |
		awk '/^Frame [0-9]+:/ { f = $2 } /Malformed|Expert Info \(Error/ { bad[f] = 1 } END { n = 0; for (k in bad) n++; print n }'
}

# capture NS FILE TCPDUMP-ARGS...: tcpdump in NS writing FILE, in the
# background (300 s at most) until capture_stop; its pid in CAPTURE (the
# process is tcpdump's `timeout` itself, which passes the signal on, so
# tcpdump is gone when capture_stop returns). Immediate mode: without it
# the kernel hands packets over up to a second late, and a tcpdump
# stopped meanwhile writes none of them.
capture() {
	local n=$1 f=$2
	shift 2
	(exec ip netns exec "$(ns "$n")" timeout 300 tcpdump --immediate-mode -nn -U -w "$f" "$@" 2>/dev/null) &
	CAPTURE=$!
	local i
	for i in $(seq 30); do [ -s "$f" ] && break; sleep 0.1; done
	sleep 0.2
}
capture_stop() {
	sleep 0.3
	kill "$CAPTURE" 2>/dev/null
	wait "$CAPTURE" 2>/dev/null
}
