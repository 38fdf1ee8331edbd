#!/bin/bash
# Anchors at run time, with real packets: rules loaded into an anchor with
# `pfctl -a` take effect through the anchor rules of the main ruleset
# (named, nested, wildcard, `load anchor`, inline), `-a path -F rules`
# removes them, a main ruleset reload keeps them, a failed load changes
# nothing, `set limit anchors` holds, and `-sA`, `-a path -sr`, `-a '*' -sr`
# and `-a '*' -Fr` work as OpenBSD's pfctl, and -g shows the skip steps
# and inactive tables. Ends with "N passed, N failed".
#
#   client 10.1.0.2 -- int0 10.1.0.1 [fw] ext0 10.2.0.1 -- 10.2.0.2 server

set -u
P=${P:-pfan$$}
FW=fw1
source "$(dirname "$0")/../lib/suite.sh"

netns_add cl fw1 srv
ipv4_only
line_up fw1
route srv default 10.2.0.1

# What a client's packet meets: "pass" or "block".
ping_srv() {
	if in_ns cl ping -c 1 -W 1 10.2.0.2 >/dev/null 2>&1; then echo pass; else echo block; fi
}

for port in 7000 7001 7002 7003; do
	serve srv python3 "$LIB/tcpprobe.py" server $port
done
serve srv python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", 7100))
while True:
    d, a = s.recvfrom(100); s.sendto(d, a)'
wait_listen srv 7100 udp

cat >"$RUN/ld.conf" <<'CONF'
pass in proto tcp to port 7003
CONF
cat >"$RUN/pf.conf" <<CONF
set skip on lo
block
pass out
pass in on int0 proto tcp to port 7001
anchor foo
anchor nest
anchor "wild/*"
anchor ld
load anchor ld from "$RUN/ld.conf"
anchor in on int0 proto udp {
	pass in proto udp to port 7100
}
CONF

check "pfd starts" pfd_start fw1
check "pf.conf with anchors loads" pfctl -q -f "$RUN/pf.conf"
check "pf enables" pfctl -q -e
sleep 0.3

# A named anchor: empty until pfctl -a fills it.
r=$(ping_srv)
check "an anchor nothing was loaded into matches nothing ($r)" test "$r" = block
check "pfctl -a foo -f - loads an anchor" bash -c "echo 'pass in proto icmp' | pfctl -a foo -f -"
r=$(ping_srv)
check "a rule loaded into foo takes effect through anchor foo ($r)" test "$r" = pass
check "-a foo -sr shows the anchor's rules" same "$(pfctl -a foo -sr)" "pass in proto icmp all"
check "-sr shows the main ruleset with the call" grep -qx 'anchor "foo" all' <<<"$(pfctl -sr)"
check "-ss shows the ping's state" grep -q 'icmp 10.2.0.2:[0-9]* <- 10.1.0.2' <<<"$(pfctl -ss)"
v=$(pfctl -a foo -vsr)
check "-a foo -vsr counts the rule's packets and state" grep -q 'Packets: 2 .* States: 1 ' <<<"$v"
v=$(pfctl -vsr)
v=$(grep -A1 -x 'anchor "foo" all' <<<"$v")
check "-vsr counts them on the anchor rule too" grep -q 'Packets: 2 .* States: 1 ' <<<"$v"

# A reload of the main ruleset keeps what was loaded into foo.
check "pf.conf reloads" pfctl -q -f "$RUN/pf.conf"
pfctl -q -F states
r=$(ping_srv)
check "foo's rules survive a main ruleset reload ($r)" test "$r" = pass

# A failed load changes nothing.
check "a bad file is refused" bash -c "! echo 'pass bogus' | pfctl -a foo -f - 2>/dev/null"
check "and foo keeps its rules" same "$(pfctl -a foo -sr)" "pass in proto icmp all"
check "_ anchors cannot be modified from the command line" bash -c "pfctl -a _1 -F rules 2>&1 | grep -q \"anchor names beginning with '_' cannot be modified from the command line\""

# Flushing one anchor.
out=$(pfctl -a foo -F rules 2>&1)
check "-a foo -F rules clears foo ($out)" test "$out" = "rules cleared"
pfctl -q -F states
r=$(ping_srv)
check "without foo's rule the ping is blocked ($r)" test "$r" = block
check "-a foo -sr is empty" same "$(pfctl -a foo -sr)" ""
check "the main ruleset is untouched" grep -qx 'anchor "foo" all' <<<"$(pfctl -sr)"

# Nested: nest calls sub, relative to itself.
echo 'anchor sub' | pfctl -a nest -f -
echo 'pass in proto tcp to port 7000' | pfctl -a nest/sub -f -
r=$(tcp_outcome cl 10.2.0.2 7000)
check "a rule in nest/sub passes through anchor nest, anchor sub ($r)" test "$r" = connected
echo 'pass in proto icmp' | pfctl -a rel -f -
r=$(ping_srv)
check "an anchor no rule calls is not evaluated ($r)" test "$r" = block
echo 'anchor "../../rel"' | pfctl -a nest/sub -f -
r=$(tcp_outcome cl 10.2.0.2 7000)
check "reloading nest/sub replaced its rules ($r)" test "$r" = timeout
r=$(ping_srv)
check "a relative ../../ call from nest/sub reaches rel ($r)" test "$r" = pass

# Wildcard: each child of wild, in name order; quick in one stops it all.
echo 'block in quick proto tcp to port 7001' | pfctl -a wild/a -f -
echo 'pass in proto tcp to port 7002' | pfctl -a wild/b -f -
r=$(tcp_outcome cl 10.2.0.2 7002)
check "anchor \"wild/*\" evaluates wild/b ($r)" test "$r" = connected
r=$(tcp_outcome cl 10.2.0.2 7001)
check "a quick block in wild/a overrides the main pass ($r)" test "$r" = timeout
pfctl -q -a wild/a -F rules
r=$(tcp_outcome cl 10.2.0.2 7001)
check "with wild/a flushed the main pass applies ($r)" test "$r" = connected

# load anchor and inline anchors.
r=$(tcp_outcome cl 10.2.0.2 7003)
check "load anchor: the file's rule passes through anchor ld ($r)" test "$r" = connected
r=$(udp_outcome cl 10.2.0.2 7100)
check "an anonymous inline anchor's rule applies ($r)" test "$r" = answer

# Listings.
# (wild/a went with its rules: nothing calls it by name)
check "-sA lists the anchors (pfctl's format, _ anchors hidden)" same "$(pfctl -sA)" "  foo
  ld
  nest
  nest/sub
  rel
  wild
  wild/b"
check "-vsA shows the anonymous anchor" same "$(pfctl -v -sA)" "  _1
  foo
  ld
  nest
  nest/sub
  rel
  wild
  wild/b"
check "-a nest -sA lists its children" same "$(pfctl -a nest -sA)" "  nest/sub"
out=$(pfctl -a nope -sA 2>&1)
check "-a nope -sA: $out" test "$out" = "pfctl: Anchor does not exist"
rec=$(pfctl -a '*' -sr)
check "-a '*' -sr prints the called anchors nested" grep -qx '  anchor "sub" all {' <<<"$rec"
check "-a '*' -sr lists a wildcard's children" grep -qx '  anchor "b" all {' <<<"$rec"
check "-a '*' -sr indents the children's rules" grep -qx '    pass in proto tcp from any to any port = 7002 flags S/SA' <<<"$rec"
sr=$(pfctl -sr)
check "-sr prints the inline anchor in braces" grep -qx 'anchor in on int0 proto udp all {' <<<"$sr"
check "-sr indents the inline anchor's rule" grep -qx '  pass in proto udp from any to any port = 7100' <<<"$sr"

# set limit anchors: a load that needs one more anchor is refused whole.
sed -i '1i set limit anchors 8' "$RUN/pf.conf"
check "pf.conf with set limit anchors 8 loads (8 anchors)" pfctl -q -f "$RUN/pf.conf"
out=$(echo 'anchor one_more' | pfctl -a rel -f - 2>&1)
check "a ninth anchor is refused ($out)" grep -q 'anchor limit' <<<"$out"
check "and rel keeps its rules" same "$(pfctl -a rel -sr)" "pass in proto icmp all"

# Recursive flush: every anchor's rules and the main ruleset's.
out=$(pfctl -a '*' -F rules 2>/dev/null)
check "-a '*' -F rules lists what it removes" grep -qx '  wild/b' <<<"$out"
check "and ends with the main ruleset" test "$(tail -1 <<<"$out")" = "  /"
check "no rules remain in any anchor" same "$(pfctl -a '*' -sr)" ""
check "no anchors remain" same "$(pfctl -v -sA)" ""
pfctl -q -F states
r=$(ping_srv)
check "with no rules at all the ping passes ($r)" test "$r" = pass

# --- pfctl -g: skip steps as committed, inactive tables -------------------------
cat >"$RUN/g.conf" <<'CONF'
set skip on lo
block
pass out
pass in on int0 proto tcp to port 7001
pass in on int0 proto tcp to port 7002
block in from <undefined>
anchor "gw/*"
CONF
check "-g: a ruleset with a wildcard anchor loads" pfctl -q -f "$RUN/g.conf"
pfctl -q -F states
r=$(ping_srv)
check "-g: the empty wildcard anchor passes nothing ($r)" test "$r" = block
echo pass | pfctl -q -g -f - -a gw/sub
r=$(ping_srv)
check "-g -f - -a gw/sub loads a child the wildcard anchor runs ($r)" test "$r" = pass
g=$(pfctl -gsr)
echo "$g" | sed 's/^/# /'
skip() { grep -A1 "^@$1 " <<<"$g" | tail -1; }
check "-gsr numbers the rules" grep -qx '@0 block drop all' <<<"$g"
# pfctl's optimizer (on by default, as in OpenBSD) has moved `pass out`
# after the two int0 rules that share more with each other.
check "-gsr: the optimizer's order" test "$(grep -c '^@3 pass out all' <<<"$g")" -eq 1
check "-gsr: skip steps of @0 (pf_calc_skip_steps)" test "$(skip 0)" = "  [ Skip steps: r=end f=end sa=4 da=end sp=end ]"
check "-gsr: skip steps of @1" test "$(skip 1)" = "  [ Skip steps: i=3 d=3 r=end f=end p=3 sa=4 da=end sp=end ]"
check "-gsr: skip steps of @2" test "$(skip 2)" = "  [ Skip steps: r=end f=end sa=4 da=end sp=end ]"
check "-gsr: skip steps of @3" test "$(skip 3)" = "  [ Skip steps: i=end r=end f=end p=end da=end sp=end dp=end ]"
check "-gsr: skip steps of @4" test "$(skip 4)" = "  [ Skip steps: i=end r=end f=end p=end da=end sp=end dp=end ]"
check "-gsr: a table's size as with -vv (<undefined:*>: not active)" grep -qx '@4 block drop in from <undefined:\*> to any' <<<"$g"
check "-gsr: the last rule skips to the end on everything" test "$(skip 5)" = "  [ Skip steps: i=end d=end r=end f=end p=end sa=end da=end sp=end dp=end ]"
check "-gsr: the queue line (no queues)" test "$(grep -c '^  \[ queue: qname= qid=0 pqname= pqid=0 \]$' <<<"$g")" -eq 6
gv=$(pfctl -gvsr)
check "-gvsr: the counters without the Inserted line" bash -c "grep -q 'Evaluations:' <<<'$gv' && ! grep -q 'Inserted:' <<<'$gv'"
check "-vsr keeps the Inserted line" grep -q 'Inserted: uid' <<<"$(pfctl -vsr)"
check "-sT hides the table only referenced" bash -c "! pfctl -sT | grep -q undefined"
check "-g -sT shows it" test "$(pfctl -g -sT)" = "undefined"
check "-g -vsT shows its flags (referenced, not active)" test "$(pfctl -g -vsT)" = "$(printf -- '----r--\tundefined')"

summary
