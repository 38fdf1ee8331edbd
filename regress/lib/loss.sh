# Random packet loss on an interface of a namespace, both directions:
# tc netem where the kernel has sch_netem, else nftables' netdev ingress
# and egress hooks with `numgen random` (the same 1-in-N drop, counted).
#
#   loss_on NS DEV PERCENT     loss_off NS DEV     loss_drops NS DEV

loss_on() {
	local n=$1 d=$2 pct=$3
	if in_ns "$n" tc qdisc add dev "$d" root netem loss "${pct}%" 2>/dev/null; then
		return 0
	fi
	in_ns "$n" nft -f - <<EOF2
table netdev loss_$d {
	chain in { type filter hook ingress device "$d" priority 0; numgen random mod 10000 < $((pct * 100)) counter drop; }
	chain out { type filter hook egress device "$d" priority 0; numgen random mod 10000 < $((pct * 100)) counter drop; }
}
EOF2
}

loss_off() {
	local n=$1 d=$2
	in_ns "$n" tc qdisc del dev "$d" root 2>/dev/null
	in_ns "$n" nft delete table netdev "loss_$d" 2>/dev/null
	return 0
}

# Packets dropped so far (nftables only; netem's count is in tc -s).
loss_drops() {
	in_ns "$1" nft list table netdev "loss_$2" 2>/dev/null | awk '/counter packets/ { for (i = 1; i <= NF; i++) if ($i == "packets") s += $(i + 1) } END { print s + 0 }'
}
