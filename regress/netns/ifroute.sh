#!/bin/bash
# Interface-bound behaviour with real packets: if-bound and floating
# states, received-on on an out rule, urpf-failed and no-route against the
# kernel's routes, `on egress` following the default route, administrative
# groups (carpctl, netstart) in `on` and `set skip`, `pfctl -s Interfaces`
# and its counters, `-i` with -ss/-Fs/-k, `set loginterface`. Ends with
# "N passed, N failed".
#
#   cla 10.1.0.2 -- int0 10.1.0.1 [fw] ext0 10.2.0.1 -- 10.2.0.2 srv  (192.0.2.7 on lo)
#   clb 10.3.0.2 -- int2 10.3.0.1      ext1 10.4.0.1 -- 10.4.0.2 srv2 (192.0.2.7 on lo)

set -u
P=${P:-pfir$$}
source "$(dirname "$0")/../lib/suite.sh"

netns_add cla clb fw srv srv2
ipv4_only
all_ns sysctl -q -w net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
veth cla eth0 fw int0
veth clb eth0 fw int2
veth srv eth0 fw ext0
veth srv2 eth0 fw ext1
addr cla eth0 10.1.0.2/24
addr clb eth0 10.3.0.2/24
addr srv eth0 10.2.0.2/24
addr srv2 eth0 10.4.0.2/24
addr fw int0 10.1.0.1/24
addr fw int2 10.3.0.1/24
addr fw ext0 10.2.0.1/24
addr fw ext1 10.4.0.1/24
route cla default 10.1.0.1
route clb default 10.3.0.1
route srv default 10.2.0.1
route srv2 default 10.4.0.1
# 192.0.2.7 sits behind whichever default route the firewall uses.
in_ns srv ip addr add 192.0.2.7/32 dev lo
in_ns srv2 ip addr add 192.0.2.7/32 dev lo
forwarding fw
for i in int0 int2 ext0 ext1; do in_ns fw sysctl -q -w net.ipv4.conf.$i.rp_filter=0; done
route fw default 10.2.0.2

load() { printf '%b' "$1" >"$RUN/pf.conf"; pfctl -q -f "$RUN/pf.conf"; }

# A UDP listener on port 7 of srv and srv2, logging each payload.
cat >"$RUN/recv.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 7))
while True:
    d, a = s.recvfrom(2000)
    print(d.decode(errors="replace"), a[0], flush=True)
PY
# send.py SRC DST SPORT TOKEN: one UDP datagram to port 7 with any source
# address (spoofed ones included), out of the default route.
cat >"$RUN/send.py" <<'PY'
import socket, struct, sys
from checksum import csum
src, dst, sport, tok = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].encode()
udp = struct.pack("!HHHH", sport, 7, 8 + len(tok), 0) + tok
ph = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 17, len(udp))
udp = udp[:6] + struct.pack("!H", csum(ph + udp) or 0xffff) + udp[8:]
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                 socket.inet_aton(src), socket.inet_aton(dst))
ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
s.sendto(ip + udp, (dst, 0))
PY
in_ns srv python3 "$RUN/recv.py" >"$RUN/srv.log" 2>&1 &
in_ns srv2 python3 "$RUN/recv.py" >"$RUN/srv2.log" 2>&1 &

# send NS SRC DST SPORT: a datagram with a fresh token; prints the token.
send() {
	local n=$(($(cat "$RUN/n" 2>/dev/null || echo 0) + 1))
	echo "$n" >"$RUN/n"
	local tok
	tok=$(printf 'tok%07d' "$n") # 10 bytes: 38-byte datagrams
	in_ns "$1" python3 "$RUN/send.py" "$2" "$3" "$4" "$tok"
	echo "$tok"
}
# arrived TOKEN LOG: the datagram reached the listener (waits up to 2 s).
arrived() {
	local i
	for i in $(seq 40); do grep -q "^$1 " "$2" && return 0; sleep 0.05; done
	return 1
}
# dropped TOKEN LOG: it did not arrive within 0.8 s.
dropped() { sleep 0.8; ! grep -q "^$1 " "$2"; }

check "pfd starts" pfd_start fw
pfctl -q -e
sleep 0.3

# --- if-bound and floating states -------------------------------------
load 'set skip on lo\nblock in on int2\npass out\npass in on int0 proto udp to port 7 keep state (if-bound)\n'
t=$(send cla 10.1.0.2 10.2.0.2 5555)
check "a packet from cla passes and makes an if-bound state" arrived "$t" "$RUN/srv.log"
ss=$(pfctl -ss)
echo "$ss" | sed 's/^/# /'
check "-ss shows the state bound to int0" grep -qx 'int0 udp 10.2.0.2:7 <- 10.1.0.2:5555       NO_TRAFFIC:SINGLE' <<<"$ss"
check "-i int0 -ss shows only int0's states" bash -c "[ \"\$(pfctl -i int0 -ss | wc -l)\" = 1 ]"
t=$(send clb 10.1.0.2 10.2.0.2 5555)
check "if-bound: the same packet arriving on int2 is blocked" dropped "$t" "$RUN/srv.log"
load 'set skip on lo\nblock in on int2\npass out\npass in on int0 proto udp to port 7 keep state (floating)\n'
pfctl -q -F states
t=$(send cla 10.1.0.2 10.2.0.2 5556)
check "floating: a packet from cla passes" arrived "$t" "$RUN/srv.log"
check "-ss shows the floating state as all" bash -c "pfctl -ss | grep -qx 'all udp 10.2.0.2:7 <- 10.1.0.2:5556       NO_TRAFFIC:SINGLE'"
t=$(send clb 10.1.0.2 10.2.0.2 5556)
check "floating: the same packet arriving on int2 passes on the state" arrived "$t" "$RUN/srv.log"
# set state-policy if-bound binds every stateful rule.
load 'set state-policy if-bound\nset skip on lo\nblock in on int2\npass out\npass in on int0 proto udp to port 7\n'
pfctl -q -F states
t=$(send cla 10.1.0.2 10.2.0.2 5557)
check "set state-policy if-bound: cla passes" arrived "$t" "$RUN/srv.log"
t=$(send clb 10.1.0.2 10.2.0.2 5557)
check "set state-policy if-bound: the packet on int2 is blocked" dropped "$t" "$RUN/srv.log"
ss=$(pfctl -ss)
check "set state-policy if-bound: out state bound to ext0" grep -qx 'ext0 udp 10.1.0.2:5557 -> 10.2.0.2:7       SINGLE:NO_TRAFFIC' <<<"$ss"
k=$(pfctl -i ext0 -k 10.1.0.2 2>&1)
check "-i ext0 -k kills only ext0's state ($k)" bash -c "grep -q '^killed 1 states' <<<'$k' && pfctl -ss | grep -q '^int0 udp'"
f=$(pfctl -i int0 -F states 2>&1)
check "-i int0 -F states clears int0's states ($f)" bash -c "[ '$f' = '1 states cleared' ] && [ -z \"\$(pfctl -ss)\" ]"

# --- received-on --------------------------------------------------------
load 'set skip on lo\npass in\nblock out on ext0\npass out on ext0 received-on int0\n'
t=$(send cla 10.1.0.2 10.2.0.2 6000)
check "received-on int0 on an out rule passes cla's packet" arrived "$t" "$RUN/srv.log"
t=$(send clb 10.3.0.2 10.2.0.2 6000)
check "received-on int0 on an out rule blocks clb's packet" dropped "$t" "$RUN/srv.log"
t=$(send fw 10.2.0.1 10.2.0.2 6001)
check "received-on: a packet of the firewall itself was received nowhere" dropped "$t" "$RUN/srv.log"
load 'set skip on lo\npass in\nblock out on ext0\npass out on ext0 ! received-on int0\n'
t=$(send fw 10.2.0.1 10.2.0.2 6002)
check "! received-on int0 passes the firewall's own packet" arrived "$t" "$RUN/srv.log"
t=$(send cla 10.1.0.2 10.2.0.2 6003)
check "! received-on int0 blocks cla's packet" dropped "$t" "$RUN/srv.log"

# --- urpf-failed ----------------------------------------------------------
load 'set skip on lo\npass\nblock in quick from urpf-failed\n'
t=$(send clb 10.3.0.2 10.2.0.2 6100)
check "urpf-failed: a genuine source passes" arrived "$t" "$RUN/srv.log"
t=$(send clb 10.1.0.99 10.2.0.2 6101)
check "urpf-failed: a source routed via int0 arriving on int2 is blocked" dropped "$t" "$RUN/srv.log"
check "urpf-failed: the block rule counted it" bash -c "pfctl -vsr | grep -A1 '^block drop in quick from urpf-failed' | grep -Eq 'Packets: 1 '"

# --- no-route -------------------------------------------------------------
in_ns fw ip route del default
sleep 0.5
load 'set skip on lo\npass\nblock in quick to no-route\n'
t=$(send cla 10.1.0.2 192.0.2.7 6200)
check "no-route: a packet to an unroutable address is blocked by pf" bash -c "pfctl -vsr | grep -A1 '^block drop in quick from any to no-route' | grep -Eq 'Packets: 1 '"
in_ns fw ip route add default via 10.4.0.2
sleep 0.5
t=$(send cla 10.1.0.2 192.0.2.7 6201)
check "no-route: with a default route the packet passes" arrived "$t" "$RUN/srv2.log"

# --- egress ---------------------------------------------------------------
load 'set skip on lo\npass in\nblock out\npass out on egress\n'
check "egress is ext1 (the default route)" bash -c "[ \"\$(pfctl -i egress -sI | tr '\n' ' ')\" = 'egress ext1 ' ]"
t=$(send cla 10.1.0.2 192.0.2.7 6300)
check "on egress: out via ext1 passes" arrived "$t" "$RUN/srv2.log"
t=$(send cla 10.1.0.2 10.2.0.2 6301)
check "on egress: out via ext0 (not egress) is blocked" dropped "$t" "$RUN/srv.log"
in_ns fw ip route replace default via 10.2.0.2
ok_egress() { [ "$(pfctl -i egress -sI | tr '\n' ' ')" = 'egress ext0 ' ]; }
for i in $(seq 40); do ok_egress && break; sleep 0.05; done
check "egress follows the default route to ext0" ok_egress
t=$(send cla 10.1.0.2 10.2.0.2 6302)
check "on egress: out via ext0 now passes" arrived "$t" "$RUN/srv.log"
t=$(send cla 10.1.0.2 10.4.0.2 6303)
check "on egress: out via ext1 now blocked" dropped "$t" "$RUN/srv2.log"

# --- administrative groups: carpctl and netstart --------------------------
load 'set skip on lo\npass\nblock in on lanb\n'
carpctl int2 group lanb
check "carpctl int2 shows the group" bash -c "carpctl int2 | grep -qx $'\tgroups: int lanb'"
t=$(send clb 10.3.0.2 10.2.0.2 6400)
check "on <group>: carpctl int2 group lanb blocks int2" dropped "$t" "$RUN/srv.log"
t=$(send cla 10.1.0.2 10.2.0.2 6401)
check "on <group>: int0 is not in lanb" arrived "$t" "$RUN/srv.log"
carpctl int2 -group lanb
t=$(send clb 10.3.0.2 10.2.0.2 6402)
check "on <group>: carpctl int2 -group lanb lets int2 through" arrived "$t" "$RUN/srv.log"
check "carpctl refuses a group ending in a digit" bash -c "! carpctl int2 group lan9 2>/dev/null"
mkdir -p "$RUN/etc"
printf 'group trusted\n' >"$RUN/etc/hostname.int0"
netstart -D "$RUN/etc" int0
load 'set skip on { lo trusted }\nblock in\n'
t=$(send cla 10.1.0.2 10.2.0.2 6500)
check "set skip on <group>: netstart's group line skips int0" arrived "$t" "$RUN/srv.log"
t=$(send clb 10.3.0.2 10.2.0.2 6501)
check "set skip on <group>: int2 is still filtered" dropped "$t" "$RUN/srv.log"
vsi=$(pfctl -vsI)
echo "$vsi" | sed 's/^/# /'
check "-vsI marks the skipped group and member" bash -c "grep -qx 'int0 (skip)' <<<'$vsi' && grep -qx 'trusted (skip)' <<<'$vsi' && grep -qx 'int2' <<<'$vsi'"
carpctl int2 group trusted
t=$(send clb 10.3.0.2 10.2.0.2 6502)
check "set skip follows membership: int2 joins trusted and is skipped" arrived "$t" "$RUN/srv.log"
carpctl int2 -group trusted

# --- -s Interfaces -vv, -i, set loginterface ------------------------------
load 'set skip on lo\nset loginterface int0\npass\nblock in quick on int0 proto udp from any port 6666 to any port 7\n'
pfctl -q -i int0 -F info
before=$(pfctl -i int0 -vvsI)
echo "$before" | sed 's/^/# /'
check "-vvsI prints Cleared, References and the eight counters" bash -c "[ \$(grep -c '^	In4/Pass: ' <<<'$before') = 1 ] && grep -Eq '^	Cleared:     [A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9]{2} [0-9:]{8} [0-9]{4}$' <<<'$before' && grep -Eq '^	References:  \[ States:  [0-9]+ +Rules: 1 +\]$' <<<'$before' && [ \$(grep -c 'Packets: ' <<<'$before') = 8 ]"
check "-i int0 -F info zeroed int0's counters" grep -Eq '^	In4/Pass:    \[ Packets: 0 +Bytes: 0 +\]$' <<<"$before"
for p in 6600 6601 6602; do t=$(send cla 10.1.0.2 10.2.0.2 $p); done
arrived "$t" "$RUN/srv.log"
t=$(send cla 10.1.0.2 10.2.0.2 6666)
sleep 0.3
after=$(pfctl -i int0 -vvsI)
echo "$after" | sed 's/^/# /'
check "-vvsI counts int0's passed packets (3 datagrams of 38 bytes)" grep -Eq '^	In4/Pass:    \[ Packets: 3 +Bytes: 114 +\]$' <<<"$after"
check "-vvsI counts int0's blocked packet" grep -Eq '^	In4/Block:   \[ Packets: 1 +Bytes: 38 +\]$' <<<"$after"
si=$(pfctl -si)
check "-si shows set loginterface's counters" bash -c "grep -q '^Interface Stats for int0' <<<'$si' && grep -A3 '^  Packets In' <<<'$si' | grep -Eq '^    Passed +3 +0\$'"
f=$(pfctl -i int0 -F info 2>&1)
check "-i int0 -F info says so ($f)" test "$f" = "pf: statistics cleared for interface int0"
check "-sI lists interfaces and groups, sorted" bash -c "pfctl -sI | tr '\n' ' ' | grep -qx 'all egress ext ext0 ext1 int int0 int2 lo pflog pflog0 trusted '"

summary
