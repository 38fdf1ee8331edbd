#!/bin/bash
# pfctl's ruleset optimizer with real packets, in network namespaces: rules
# that differ only in their source address become one rule on a const
# table <__automatic_N> (-sr, -vvsr's <name:N>, -s Tables), and the
# optimized ruleset filters exactly as the ruleset loaded as written
# (-o none), address by address; `set ruleset-optimization` and -o, and
# -o profile putting the busiest quick rule first from pfd's counters.
# Ends with "N passed, N failed".
#
#   client 10.1.0.2-.9 -- int0 10.1.0.1 [fw] ext0 10.2.0.1 -- 10.2.0.2 server

set -u
P=${P:-pfop$$}
FW=fw1
source "$(dirname "$0")/../lib/suite.sh"

netns_add cl fw1 srv
ipv4_only
line_up fw1
for a in 3 4 5 6 7 8 9; do in_ns cl ip addr add 10.1.0.$a/24 dev eth0; done
route srv 10.1.0.0/24 10.2.0.1

# The verdict for each client address, as "2:pass 3:block ...".
verdicts() {
	local a out=""
	for a in 2 3 4 5 6 7 8 9; do
		if reach $a; then out="$out $a:pass"; else out="$out $a:block"; fi
	done
	echo "$out"
}

check "pfd starts" pfd_start fw1
check "pf enables" pfctl -q -e

conf six <<'CONF'
pass
block in quick on int0 inet from { 10.1.0.3, 10.1.0.4, 10.1.0.5, 10.1.0.6, 10.1.0.7, 10.1.0.8 }
block in quick on int0 inet from 10.1.0.3
CONF

# --- as written -----------------------------------------------------------------
check "pfctl -o none -f loads the rules as written" pfctl -q -o none -f "$RUN/six.conf"
sr=$(pfctl -sr)
check "-o none: -sr shows the seven block rules" test "$(grep -c '^block drop in quick on int0 inet from 10.1.0.' <<<"$sr")" -eq 7
plain=$(verdicts)
check "-o none: .3 to .8 are blocked, .2 and .9 pass" test "$plain" = " 2:pass 3:block 4:block 5:block 6:block 7:block 8:block 9:pass"

# --- optimized (pfctl's default) ----------------------------------------------
check "pfctl -f (basic by default) loads" pfctl -q -f "$RUN/six.conf"
sr=$(pfctl -sr)
check "basic: the duplicate is gone and the six rules are one on a table" \
	test "$(grep -c '^block' <<<"$sr")" -eq 1
check "basic: -sr shows the automatic table" \
	grep -Eq '^block drop in quick on int0 inet from <__automatic_[0-9]+> to any$' <<<"$sr"
check "basic: -vvsr shows the table's six addresses" \
	grep -Eq '^@1 block drop in quick on int0 inet from <__automatic_[0-9]+:6> to any$' <<<"$(pfctl -vvsr)"
check "basic: -s Tables lists the automatic table" grep -Eq '__automatic_[0-9]+$' <<<"$(pfctl -sT)"
tname=$(grep -Eo '__automatic_[0-9]+' <<<"$sr" | head -1)
check "basic: the table holds .3 to .8" \
	test "$(pfctl -t "$tname" -T show | tr -d ' ' | tr '\n' ' ')" = "10.1.0.3 10.1.0.4 10.1.0.5 10.1.0.6 10.1.0.7 10.1.0.8 "
opt=$(verdicts)
check "the optimized ruleset filters exactly as the one loaded as written" test "$opt" = "$plain"
blocks=$(pfctl -vsr | awk '/^block/ { getline; print $5; exit }')
check "basic: the table rule counted the six blocked pings" test "${blocks:-0}" -ge 6

# --- set ruleset-optimization and -o ---------------------------------------------
{ echo "set ruleset-optimization none"; cat "$RUN/six.conf"; } | conf none
check "set ruleset-optimization none loads" pfctl -q -f "$RUN/none.conf"
check "set ruleset-optimization none: the rules as written" test "$(pfctl -sr | grep -c '^block')" -eq 7
check "set ruleset-optimization none: the automatic table is gone with its rule" bash -c "! pfctl -sT | grep -q __automatic_"
check "-o basic overrides set ruleset-optimization none" pfctl -q -o basic -f "$RUN/none.conf"
check "-o basic: one block rule" test "$(pfctl -sr | grep -c '^block')" -eq 1
check "-o basic: the same verdicts" test "$(verdicts)" = "$plain"
check "pfctl -o fast is refused" bash -c "! pfctl -o fast -f $RUN/six.conf 2>/dev/null"

# --- profile: the busiest quick rule first ---------------------------------------
conf prof <<'CONF'
pass
pass in quick on int0 inet proto icmp from 10.1.0.2 to any
pass in quick on int0 inet proto icmp from 10.1.0.9 to any
CONF
check "profile: the ruleset loads as written first" pfctl -q -o none -f "$RUN/prof.conf"
for i in 1 2 3; do reach 9; done
reach 2
check "profile: .9's rule matched more packets" \
	test "$(pfctl -vsr | awk '/from 10.1.0.9/ { getline; print $5 }')" -gt "$(pfctl -vsr | awk '/from 10.1.0.2/ { getline; print $5 }')"
check "pfctl -o profile -f loads" pfctl -q -o profile -f "$RUN/prof.conf"
check "profile: .9's rule now comes first" \
	test "$(pfctl -sr | grep -n 'quick' | head -1 | grep -c '10.1.0.9')" -eq 1
check "profile: the same verdicts" test "$(verdicts)" = " 2:pass 3:pass 4:pass 5:pass 6:pass 7:pass 8:pass 9:pass"
check "basic keeps the written order of those two" pfctl -q -f "$RUN/prof.conf"
check "basic: .2's rule first" test "$(pfctl -sr | grep -n 'quick' | head -1 | grep -c '10.1.0.2')" -eq 1

summary
