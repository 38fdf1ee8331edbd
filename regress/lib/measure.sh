# Helpers that turn ping and tcpprobe output into the figures the HA suite
# reports.

# Lost pings from `ping` output (transmitted - received).
ping_lost() {
	awk '/packets transmitted/ { print $1 - $4; found = 1 } END { if (!found) print 9999 }' "$1"
}

# Pings sent per second, from `ping` output.
ping_rate() {
	awk '/packets transmitted/ { for (i = 1; i <= NF; i++) if ($i == "time") { t = $(i + 1) + 0 }; if (t > 0) printf "%d\n", $1 * 1000 / t }' "$1"
}

# Longest gap between consecutive replies of `ping -D` output, in ms.
ping_maxgap_ms() {
	awk -F'[][]' '/bytes from/ { t = $2 + 0; if (prev) { g = (t - prev) * 1000; if (g > max) max = g } prev = t }
		END { printf "%d\n", max }' "$1"
}

# A key=value field of a tcpprobe result line.
probe_field() {
	tr ' ' '\n' <"$1" | awk -F= -v k="$2" '$1 == k { print $2 }'
}
