#!/bin/bash
# CARP and pfsync administration on the seed's firewall pair: carpctl up,
# down, destroy, state, demotion, sysctl, bad arguments, netstart errors,
# pfsync0 configuration. Ends with "N passed, N failed".

set -u
P=${P:-pfcarp$$}
FW=fw1
source "$(dirname "$0")/../lib/suite.sh"

# carpctl FW ARGS...: carpctl on either firewall.
carpctl() { local h=$1; shift; in_fw "$h" "$BIN/carpctl" "$@"; }
export -f carpctl
both_master_ok() { wait_carp "$1" carp1 MASTER "${2:-10}" && wait_carp "$1" carp2 MASTER "${2:-10}"; }

topo_up
PFD_FLAGS=-P fw_start fw1
sleep 1
fw_start fw2
check "fw1 becomes MASTER" both_master_ok fw1 15
check "fw2 is BACKUP" wait_carp fw2 carp1 BACKUP 10

out=$(carpctl fw1 carp1)
check "carpctl shows the ifconfig block" grep -q $'^\tcarp: MASTER carpdev hvn3 vhid 1 advbase 1 advskew 0$' <<<"$out"
check "carpctl shows the virtual MAC" grep -q $'^\tlladdr 00:00:5e:00:01:01$' <<<"$out"
check "carpctl shows the address with netmask and broadcast" grep -q $'^\tinet 192.0.2.1 netmask 0xffffff00 broadcast 192.0.2.255$' <<<"$out"
check "the BACKUP does not hold the virtual address" bash -c "! ip netns exec $(ns fw2) ip -4 addr show | grep -q 192.0.2.1/"
check "the MASTER holds it" bash -c "ip netns exec $(ns fw1) ip -4 addr show carp1 | grep -q 'inet 192.0.2.1/24'"
# The macvlans stay up; a gate (nft netdev table) passes their traffic on
# the MASTER only.
check "the BACKUP's carp1 is up" bash -c "ip netns exec $(ns fw2) ip -o link show carp1 | grep -q '<.*,UP'"
gate() { in_ns "$1" nft list table netdev pfd_gate_carp1 2>/dev/null | grep -c "policy $2"; }
check "the BACKUP's gate drops both ways" test "$(gate fw2 drop)" = 2
check "the MASTER's gate accepts both ways" test "$(gate fw1 accept)" = 2
check "carpctl -a lists carp1, carp2 and pfsync0" bash -c "carpctl fw1 -a | grep -c -E '^(carp1|carp2|pfsync0):' | grep -qx 3"
check "pfsync0 shows its syncdev" bash -c "carpctl fw1 pfsync0 | grep -q \$'\\tpfsync: syncdev: hvn2 maxupd: 128 defer: off'"

# Administrative down: the master bows out, the backup takes over at once.
t0=$(date +%s%N)
carpctl fw1 carp1 down
check "carp1 down on fw1: fw2 takes over at once" wait_carp fw2 carp1 MASTER 1
ms=$((($(date +%s%N) - t0) / 1000000))
echo "# takeover after carpctl carp1 down: $ms ms"
check "carp1 down shows INIT" wait_carp fw1 carp1 INIT 1
carpctl fw1 carp1 up
check "carp1 up again: fw1 preempts (preempt on)" wait_carp fw1 carp1 MASTER 10

# Demotion: a demoted master gives way even to a slower backup.
carpctl fw1 -g carp carpdemote 50
check "demoted fw1 steps down" wait_carp fw1 carp1 BACKUP 5
check "fw2 takes over from the demoted master" wait_carp fw2 carp1 MASTER 5
check "-g carp shows the demote count" bash -c "carpctl fw1 -g carp | grep -qx 'carp: carp demote count 50'"
carpctl fw1 -g carp -carpdemote 50
check "undemoted fw1 preempts again" wait_carp fw1 carp1 MASTER 10

# sysctl-style switches.
check "sysctl reads preempt" bash -c "carpctl fw1 sysctl net.inet.carp.preempt | grep -qx 'net.inet.carp.preempt=1'"
check "sysctl sets preempt" bash -c "carpctl fw2 sysctl net.inet.carp.preempt=1 | grep -qx 'net.inet.carp.preempt=1'"
check "sysctl refuses unknown names" bash -c "! carpctl fw1 sysctl net.inet.carp.bogus 2>/dev/null"

# state backup / master.
carpctl fw2 carp2 state master
check "state master on fw2" bash -c "for i in \$(seq 40); do carpctl fw2 -s | grep -q . ; [ -n \"\$(grep 'carp2: state transition: BACKUP -> MASTER' $RUN/fw2.pfd.log)\" ] && exit 0; sleep 0.05; done; exit 1"
check "fw2 gives way again to fw1's better advertisements" wait_carp fw2 carp2 BACKUP 3
check "fw1 stayed MASTER on carp2" wait_carp fw1 carp2 MASTER 1
carpctl fw1 carp2 state backup
check "state backup on fw1" wait_carp fw1 carp2 BACKUP 1
# Nobody advertises now; fw1's master-down (3 s) ends before fw2's (4.5 s).
check "fw1 times out first and is MASTER again" wait_carp fw1 carp2 MASTER 5
check "fw2 stayed BACKUP" wait_carp fw2 carp2 BACKUP 1

# Bad arguments change nothing.
before=$(carpctl fw1 carp1)
e=$(carpctl fw1 carp1 vhid 300 2>&1)
check "vhid 300 refused ($e)" grep -q 'vhid' <<<"$e"
e=$(carpctl fw1 carp1 advskew 255 2>&1)
check "advskew 255 refused ($e)" grep -q 'advskew' <<<"$e"
e=$(carpctl fw1 carp1 carpdev nosuch0 2>&1)
check "unknown carpdev refused ($e)" grep -q 'nosuch0' <<<"$e"
e=$(carpctl fw1 carp1 inet 10.0.0.1 netmask 255.0.255.0 2>&1)
check "non-contiguous mask refused ($e)" test -n "$e"
check "nothing changed" test "$(carpctl fw1 carp1)" = "$before"
e=$(carpctl fw1 eth0 up 2>&1)
check "carpctl refuses real interfaces ($e)" grep -q 'not a carp or pfsync interface' <<<"$e"

# A new carp interface, then destroyed.
carpctl fw1 carp3 inet 192.0.2.3 255.255.255.0 vhid 3 carpdev hvn3 pass three
check "carp3 created as a macvlan" in_ns fw1 ip link show carp3
carpctl fw1 carp3 destroy
check "carp3 destroyed" bash -c "! ip netns exec $(ns fw1) ip link show carp3 2>/dev/null"
check "carp3 gone from carpctl" bash -c "! carpctl fw1 carp3 2>/dev/null"

# pf filters CARP itself: advertisements go out on the carpdev.
printf 'block\npass quick on { hvn2 hvn3 hvn4 } proto { carp pfsync }\n' >"$RUN/deny.conf"
in_fw fw2 "$BIN/pfctl" -q -f "$RUN/deny.conf"
sleep 2
check "default deny with pass on the carpdevs: fw2 still hears fw1" wait_carp fw2 carp1 BACKUP 1
printf 'block out quick on hvn3 proto carp\npass\n' >"$RUN/mute.conf"
in_fw fw1 "$BIN/pfctl" -q -f "$RUN/mute.conf"
# States come before rules: the advertisements' state must go too.
in_fw fw1 "$BIN/pfctl" -q -k 192.0.2.10
check "block out on hvn3 proto carp silences fw1: fw2 takes carp1 over" wait_carp fw2 carp1 MASTER 7
check "fw2 kept BACKUP on carp2 (hvn4 not blocked)" wait_carp fw2 carp2 BACKUP 1
check "the blocked advertisements are logged" grep -q 'carp1: advertisement blocked by pf (out on hvn3)' "$RUN/fw1.pfd.log"
in_fw fw1 "$BIN/pfctl" -q -f "$RUN/etc-fw1/pf.conf"
in_fw fw2 "$BIN/pfctl" -q -f "$RUN/etc-fw2/pf.conf"
check "unblocked, fw1 preempts carp1 back" wait_carp fw1 carp1 MASTER 7
check "-ss shows the outgoing advertisement state on the carpdev" bash -c "for i in \$(seq 30); do pfctl -ss | grep -q '^all carp 192.0.2.10 -> 224.0.0.18       SINGLE:NO_TRAFFIC$' && exit 0; sleep 0.1; done; exit 1"

# netstart reports bad hostname.if lines with file and line.
mkdir -p "$RUN/bad"
printf 'inet 192.0.2.5 255.255.255.0 vhid 5 carpdev hvn3\nvhid 999\n' >"$RUN/bad/hostname.carp5"
e=$(in_fw fw1 "$BIN/netstart" -D "$RUN/bad" carp5 2>&1)
check "netstart names the bad line ($e)" grep -q 'vhid' <<<"$e"
check "netstart's exit status says so" bash -c "! netstart -D $RUN/bad carp5 2>/dev/null"
printf '!echo configured $if > %s/cmd.out\n' "$RUN" >"$RUN/bad/hostname.hvn4"
in_fw fw1 "$BIN/netstart" -D "$RUN/bad" hvn4
check "netstart runs ! lines with \$if" grep -qx 'configured hvn4' "$RUN/cmd.out"

summary
