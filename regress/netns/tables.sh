#!/bin/bash
# Tables with real packets, in network namespaces: a table block that
# blocks, `! <t>`, negated entries, pfctl -t -T add/delete/replace/test/
# flush/zero/expire/kill changing verdicts live, -s Tables / -vvsT
# counters, persist and const, tables in anchors (and the fallback to the
# main ruleset's), `file` contents reloaded by pfctl -f, -T load, -F Tables,
# the limits. Ends with "N passed, N failed".
#
#   client 10.1.0.2 .3 .4 -- int0 10.1.0.1 [fw] ext0 10.2.0.1 -- 10.2.0.2 server

set -u
P=${P:-pftb$$}
FW=fw1
source "$(dirname "$0")/../lib/suite.sh"

netns_add cl fw1 srv
ipv4_only
line_up fw1
for a in 3 4; do in_ns cl ip addr add 10.1.0.$a/24 dev eth0; done
route srv 10.1.0.0/24 10.2.0.1

blocked() { ! reach "$1"; }
# The value of a counter line of -vvsT / -T show -v: field LABEL's packets.
packets() { awk -v l="$1" '$1 == l { print $4; exit }'; }

check "pfd starts" pfd_start fw1
check "pf enables" pfctl -q -e

# --- a table block that blocks ------------------------------------------------
conf block <<'EOF'
set skip on lo
table <bad> { 10.1.0.2 }
pass
block in quick on int0 from <bad>
EOF
check "a ruleset with a table loads" load_conf block
check "table block: the listed host is blocked" blocked 2
check "table block: another host passes" reach 3
check "-s Tables lists the table" bash -c "[ \"\$(pfctl -sT)\" = bad ]"
check "-vs Tables shows its flags (active, referenced)" bash -c "pfctl -vsT | grep -qxe \$'--a-r--\tbad'"
vv=$(pfctl -vvsT)
echo "$vv" | sed 's/^/# /'
check "-vvsT: Addresses: 1" grep -qxe $'\tAddresses:   1' <<<"$vv"
check "-vvsT: References: rules 1" grep -Eq $'^\tReferences:  \\[ Anchors: 0 +Rules: 1 +\\]$' <<<"$vv"
check "-vvsT: evaluations counted (match and no match)" grep -Eq $'^\tEvaluations: \\[ NoMatch: [1-9][0-9]* +Match: [1-9][0-9]* +\\]$' <<<"$vv"
check "-vvsT: In/Block counted" test "$(packets In/Block: <<<"$vv")" -ge 1
check "-vvsT: In/Pass not counted" test "$(packets In/Pass: <<<"$vv")" -eq 0
r=$(pfctl -t bad -T test 10.1.0.2 2>&1)
check "-T test of a member: exit 0, '1/1 addresses match.' ($r)" test "$r" = "1/1 addresses match."
pfctl -t bad -T test 10.1.0.3 >/dev/null 2>&1
check "-T test of a non-member exits 2" test $? -eq 2
r=$(pfctl -t bad -vvT test 10.1.0.2 10.1.0.3 2>/dev/null)
check "-T test -vv shows the match and the miss" test "$r" = "$(printf 'M  10.1.0.2\t 10.1.0.2\n   10.1.0.3\t nomatch')"

# --- ! <t> ----------------------------------------------------------------------
conf notbad <<'EOF'
set skip on lo
table <bad> { 10.1.0.2 }
block in on int0
pass in on int0 from ! <bad>
pass out
EOF
check "pass from ! <bad> loads" load_conf notbad
check "pass from ! <bad>: the listed host is blocked" blocked 2
check "pass from ! <bad>: another host passes" reach 3

# --- match rules count every packet of their states ---------------------------
# pf_counters_inc: a state remembers the match rules its first packet went
# through; each of its packets counts for them and for their tables (Match).
conf mcount <<'EOF'
set skip on lo
table <m> counters { 10.1.0.2 }
pass
match in on int0 from <m>
match out on int0 to <m>
EOF
check "match rules with a table load" load_conf mcount
check "match counters: 3 pings pass" in_ns cl ping -c 3 -i 0.2 -W 1 -I 10.1.0.2 10.2.0.2
r=$(pfctl -t m -T show -vv)
echo "$r" | sed 's/^/# /'
check "match counters: the requests count In/Match (3)" test "$(packets In/Match: <<<"$r")" -eq 3
check "match counters: the replies, by the state, count Out/Match (3)" test "$(packets Out/Match: <<<"$r")" -eq 3
check "match counters: nothing under Pass" test "$(packets In/Pass: <<<"$r")" -eq 0
r=$(pfctl -vsr)
echo "$r" | sed 's/^/# /'
mr=$(grep -A1 '^match in on int0' <<<"$r" | tail -1)
check "match counters: -vsr counts the state's packets both ways for the match rule, and its state ($mr)" grep -Eq 'Packets: 6 +Bytes: [0-9]+ +States: 1 ' <<<"$mr"
mr=$(grep -A1 '^match out on int0' <<<"$r" | tail -1)
check "match counters: the later match rule, which the replies never reach, counts nothing ($mr)" grep -Eq 'Packets: 0 +Bytes: 0 +States: 0 ' <<<"$mr"

# --- negated entries ------------------------------------------------------------
conf neg <<'EOF'
set skip on lo
table <lan> { 10.1.0.0/24 !10.1.0.3 }
block in on int0
pass in on int0 from <lan>
pass out
EOF
check "a table with a negated entry loads" load_conf neg
check "negated entry: a host of the network passes" reach 2
check "negated entry: the excluded host is blocked" blocked 3
r=$(pfctl -t lan -T test 10.1.0.3 2>&1)
check "-T test: the negated host does not match ($r)" test "$r" = "0/1 addresses match."
r=$(pfctl -t lan -T show)
check "-T show prints the negated entry" test "$r" = "$(printf '   10.1.0.0/24\n  !10.1.0.3')"

# --- -T add/delete/replace change verdicts live --------------------------------
conf live <<'EOF'
set skip on lo
table <bad> persist
pass
block in quick on int0 from <bad>
EOF
check "an empty persistent table loads" load_conf live
check "live: nobody blocked yet" reach 3
r=$(pfctl -t bad -T add 10.1.0.3 2>&1)
check "-T add says '1/1 addresses added.' ($r)" test "$r" = "1/1 addresses added."
check "-T add: the added host is blocked at once" blocked 3
check "-T add: others still pass" reach 2
r=$(pfctl -t bad -T add 10.1.0.3 2>&1)
check "-T add again: '0/1 addresses added.' ($r)" test "$r" = "0/1 addresses added."
r=$(pfctl -t bad -vT add 10.1.0.4 10.1.0.3 2>/dev/null)
check "-T add -v shows what was added ($r)" test "$r" = "A  10.1.0.4"
r=$(pfctl -t bad -T delete 10.1.0.3 2>&1)
check "-T delete says '1/1 addresses deleted.' ($r)" test "$r" = "1/1 addresses deleted."
check "-T delete: the host passes again" reach 3
check "-T delete: the other added host stays blocked" blocked 4
r=$(pfctl -t bad -T replace 10.1.0.2 2>&1)
check "-T replace reports added and deleted ($r)" test "$r" = "$(printf '1 addresses added.\n1 addresses deleted.')"
check "-T replace: the new host is blocked" blocked 2
check "-T replace: the replaced host passes" reach 4
r=$(pfctl -t bad -T replace '!10.1.0.2' 2>&1)
check "-T replace to a negated entry: '1 addresses changed.' ($r)" test "$r" = "1 addresses changed."
check "the negated entry lets the host through" reach 2
echo 10.1.0.4 >"$RUN/addrs"
r=$(pfctl -t bad -T add -f "$RUN/addrs" 2>&1)
check "-T add -f file ($r)" test "$r" = "1/1 addresses added."
check "-T add -f: the host in the file is blocked" blocked 4
r=$(pfctl -t bad -T flush 2>&1)
check "-T flush: '2 addresses deleted.' ($r)" test "$r" = "2 addresses deleted."
check "-T flush: everyone passes" reach 4
r=$(pfctl -t new -T add 10.9.9.9 2>&1)
check "-T add creates a missing table ($r)" test "$r" = "$(printf '1 table created.\n1/1 addresses added.')"
check "a table made by -T add is persistent" bash -c "pfctl -vsT | grep -qxe \$'-pa----\tnew'"
r=$(pfctl -t new -T expire 3600 2>&1)
check "-T expire keeps young entries ($r)" test "$r" = "0/0 addresses expired."
sleep 1.1
r=$(pfctl -t new -T expire 0 2>&1)
check "-T expire 0 removes older entries ($r)" test "$r" = "1/1 addresses expired."
r=$(pfctl -t new -T kill 2>&1)
check "-T kill: '1 table deleted.' ($r)" test "$r" = "1 table deleted."
r=$(pfctl -t new -T show 2>&1)
check "a killed table does not exist ($r)" test "$r" = "pfctl: Table does not exist"
r=$(in_ns fw1 setpriv --reuid=65534 --regid=65534 --clear-groups env PF_SOCKET="$RUN/fw1.sock" "$BIN/pfctl" -t bad -T add 10.1.0.3 2>&1)
check "an unprivileged user cannot add to a table ($r)" reach 3

# --- counters -----------------------------------------------------------------
conf counters <<'EOF'
set skip on lo
table <watch> counters { 10.1.0.2 10.1.0.3 }
block
pass in on int0 from <watch>
pass out on ext0
EOF
check "a counters table loads" load_conf counters
check "counters: a listed host passes" reach 2
v=$(pfctl -t watch -vT show)
echo "$v" | sed 's/^/# /'
check "-T show -v: per-address In/Pass counted" bash -c "awk '\$1 == \"10.1.0.2\" { m = 1 } m && \$1 == \"In/Pass:\" { print \$4; exit }' <<<'$v' | grep -qx '[1-9][0-9]*'"
check "-T show -v: an address without traffic has no counters" bash -c "awk '\$1 == \"10.1.0.3\" { m = 1; next } m && /Packets/ { f = 1 } END { exit f }' <<<'$v'"
vv=$(pfctl -vvsT)
check "-vvsT: the flags show counters" grep -qxe $'--a-r-C\twatch' <<<"$vv"
# The statistics of one table in -vvsT output: LABEL's packets.
tpackets() { awk -v t="$1" -v l="$2" '$1 ~ /^[-a-zA-Z]+$/ && $2 != "" { m = ($2 == t) } m && $1 == l { print $4; exit }'; }
check "-vvsT: In/Pass counted" test "$(tpackets watch In/Pass: <<<"$vv")" -ge 1
check "-vvsT: Out/Pass (the state's reply) counted" test "$(tpackets watch Out/Pass: <<<"$vv")" -ge 1
r=$(pfctl -t watch -T zero 2>&1)
check "-T zero: '1 table/stats cleared.' ($r)" test "$r" = "1 table/stats cleared."
check "-T zero: the counters are back to 0" test "$(pfctl -vvsT | tpackets watch In/Pass:)" -eq 0

# --- persist and const -----------------------------------------------------------
pfctl -q -F Tables
conf life <<'EOF'
set skip on lo
table <p> persist { 10.1.0.2 }
table <np> { 10.1.0.2 }
table <c> const { 10.1.0.2 }
pass
block in quick on int0 from <c>
EOF
check "persist/const ruleset loads" load_conf life
t=$(pfctl -vsT)
echo "$t" | sed 's/^/# /'
check "a persistent table without rules stays" grep -qxe $'-pa----\tp' <<<"$t"
check "a table that is neither persistent nor used goes" bash -c "! grep -q np <<<'$t'"
check "a const table shows c" grep -qxe $'c-a-r--\tc' <<<"$t"
r=$(pfctl -t c -T add 10.1.0.3 2>&1)
check "-T add to a const table is refused ($r)" test "$r" = "pfctl: Operation not permitted"
pfctl -t c -T delete 10.1.0.2 >/dev/null 2>&1
check "-T delete from a const table fails (exit 255)" test $? -eq 255
check "the const table still blocks" blocked 2

# --- tables in anchors --------------------------------------------------------
pfctl -q -t p -T kill
conf anchor <<'EOF'
set skip on lo
table <root> { 10.1.0.4 }
pass
anchor "guard" in on int0 {
	table <bad> { 10.1.0.3 }
	block quick from <bad>
	block quick from <root>
}
pass in quick on int0 from <root>
EOF
check "a table defined in an anchor loads" load_conf anchor
check "anchor table: its host is blocked" blocked 3
check "anchor table: others pass" reach 2
check "an anchor's rule falls back to the main ruleset's table" blocked 4
r=$(pfctl -a guard -t bad -T show)
check "-a guard -t bad -T show ($r)" test "$r" = "   10.1.0.3"
r=$(pfctl -t bad -T show 2>&1)
check "the anchor's table is not the main ruleset's ($r)" test "$r" = "pfctl: Table does not exist"
t=$(pfctl -a '*' -vsT)
echo "$t" | sed 's/^/# /'
check "-a '*' -vsT lists the anchor's table with its anchor" grep -qxe $'--a-r--\tbad@guard' <<<"$t"
check "the fallback table shows h (referenced by an anchor)" grep -qxe $'--a-rh-\troot' <<<"$t"
pfctl -a guard -t bad -T delete 10.1.0.3 >/dev/null 2>&1
check "-a guard -t bad -T delete lets the host through" reach 3
# An inline anchor keeps its rules when the main ruleset is reloaded
# without it (pfctl replaces only the anchors a file has, as on OpenBSD):
# they go with -a guard -F rules.
check "-a guard -F rules empties the anchor" pfctl -q -a guard -F rules

# --- file contents reloaded by pfctl -f --------------------------------------------
echo 10.1.0.2 >"$RUN/bad.txt"
cat >"$RUN/file.conf" <<EOF
set skip on lo
table <f> persist file "$RUN/bad.txt"
pass
block in quick on int0 from <f>
EOF
check "a table file loads" load_conf file
check "file: its host is blocked" blocked 2
printf '# now another\n10.1.0.3\n' >"$RUN/bad.txt"
check "pfctl -f again" load_conf file
check "file reloaded: the new host is blocked" blocked 3
check "file reloaded: the old host passes" reach 2

# --- -T load, -F Tables ------------------------------------------------------------
conf tload <<'EOF'
table <loaded> persist { 10.1.0.4 }
block all
EOF
rules_before=$(pfctl -sr)
check "-T load loads only tables" pfctl -q -t x -T load -f "$RUN/tload.conf"
check "-T load: the rules did not change" test "$(pfctl -sr)" = "$rules_before"
check "-T load: the table is there" test "$(pfctl -t loaded -T show)" = "   10.1.0.4"
printf 'table <loaded> persist { 10.1.0.3 }\n' | in_fw fw1 "$BIN/pfctl" -q -Tl -f - 
check "-Tl -f - (no -t, standard input) replaces the contents" test "$(pfctl -t loaded -T show)" = "   10.1.0.3"
r=$(pfctl -F Tables 2>&1)
check "-F Tables: '2 tables deleted.' ($r)" test "$r" = "2 tables deleted."
check "-F Tables: nothing left to show" test -z "$(pfctl -sT)"
check "-F Tables: the emptied table blocks nobody" reach 3

# --- limits -------------------------------------------------------------------------
load_conf block
conf limit <<'EOF'
set limit table-entries 2
table <big> persist { 10.1.0.2 10.1.0.3 10.1.0.4 }
block all
EOF
r=$(pfctl -f "$RUN/limit.conf" 2>&1)
echo "# $r"
check "a ruleset whose table exceeds table-entries is refused" bash -c "! pfctl -q -f $RUN/limit.conf 2>/dev/null"
check "the refusal says which limit" grep -q 'set limit table-entries 2' <<<"$r"
check "the running ruleset stays" bash -c "[ \"\$(pfctl -sT)\" = bad ]"
check "and still blocks its table's host" blocked 2

summary
