#!/bin/bash
# One firewall between a client and a server, in network namespaces:
# filtering, block return, NAT, rdr, inline anchors, state listing and
# killing, counters, options, user rules, permissions, fail-closed. Ends with
# "N passed, N failed".
#
#   client 10.1.0.2 -- int0 10.1.0.1 [fw] ext0 10.2.0.1 -- 10.2.0.2 server

set -u
P=${P:-pfpf$$}
FW=fw1
source "$(dirname "$0")/../lib/suite.sh"

netns_add cl fw1 srv
ipv4_only
line_up fw1
# A way back without NAT too (pf disabled at the end).
route srv 10.1.0.0/24 10.2.0.1

cat >"$RUN/pf.conf" <<'CONF'
int_if = "int0"
ext_if = "ext0"
set skip on lo
set timeout udp.first 5
block return
pass
block return in on $int_if proto tcp to port 6000:6010
block drop in on $int_if proto tcp to port 6100
block return in on $int_if proto udp to port 6200
block return out log proto { tcp udp } user nobody
pass out on $ext_if inet from $int_if:network to any nat-to $ext_if
pass in on $ext_if proto tcp to port 8080 rdr-to 10.1.0.2 port 7000
# Evaluated in place: the quick pass in the inner anchor wins over the
# block after it (the NAT test below needs port 7000 open).
anchor "ports" in on $int_if proto tcp {
	block drop proto tcp to port 6300
	anchor proto tcp to port 7000 {
		pass quick
	}
	block return proto tcp to port 7000
}
CONF

check "pfd starts" pfd_start fw1
check "pf.conf loads" pfctl -q -f "$RUN/pf.conf"
check "pf enables" pfctl -q -e
check "enabling twice is refused" fails pfctl -e
rules=$(pfctl -sr)
check "-sr prints the NAT rule resolved" grep -qx 'pass out on ext0 inet from 10.1.0.0/24 to any flags S/SA nat-to 10.2.0.1' <<<"$rules"
check "-sr prints the rdr rule" grep -qx 'pass in on ext0 inet proto tcp from any to any port = 8080 flags S/SA rdr-to 10.1.0.2 port 7000' <<<"$rules"
check "-sr prints user as a uid" grep -qx 'block return out log proto tcp all user = 65534' <<<"$rules"
check "-sr prints an inline anchor in braces" grep -qx 'anchor "ports" in on int0 proto tcp all {' <<<"$rules"
check "-sr indents the nested anchor's rules" grep -qx '    pass quick all flags S/SA' <<<"$rules"

in_ns srv python3 "$LIB/tcpprobe.py" server 7000 &
in_ns cl python3 "$LIB/tcpprobe.py" server 7000 &
sleep 0.5

# A TCP connection with data, NATed.
out=$(in_ns cl python3 "$LIB/tcpprobe.py" client 10.2.0.2 7000 1)
check "TCP through NAT works ($out)" grep -q 'survived=1' <<<"$out"
hold_tcp cl 10.2.0.2 7000 3 &
states=$(states_when ' -> 10\.2\.0\.2:7000 +ESTABLISHED:ESTABLISHED$')
echo "$states" | sed 's/^/# /'
check "-ss shows the NAT form of the TCP state" grep -Eq '^all tcp 10\.2\.0\.1:[0-9]+ \(10\.1\.0\.2:[0-9]+\) -> 10\.2\.0\.2:7000       ESTABLISHED:ESTABLISHED$' <<<"$states"
check "-ss shows the inbound TCP state" grep -Eq '^all tcp 10\.2\.0\.2:7000 <- 10\.1\.0\.2:[0-9]+       ESTABLISHED:ESTABLISHED$' <<<"$states"
vstates=$(pfctl -vvss)
check "-vvss shows sequence windows, age, counters, ids" bash -c "grep -Eq '^   \[[0-9]+ \+ [0-9]+\]' <<<'$vstates' && grep -Eq '^   age [0-9]{2}:[0-9]{2}:[0-9]{2}, expires in' <<<'$vstates' && grep -Eq '^   id: [0-9a-f]{16} creatorid: [0-9a-f]{8}$' <<<'$vstates'"

# block return / block drop.
t0=$(date +%s%N)
r=$(tcp_outcome cl 10.2.0.2 6001 3)
ms=$((($(date +%s%N) - t0) / 1000000))
check "block return on TCP answers with a RST ($r, ${ms} ms)" test "$r" = refused
r=$(tcp_outcome cl 10.2.0.2 6100)
check "block drop stays silent ($r)" test "$r" = timeout
r=$(tcp_outcome cl 10.2.0.2 6300)
check "a block inside an anchor applies ($r)" test "$r" = timeout
r=$(udp_outcome cl 10.2.0.2 6200)
check "block return on UDP answers with ICMP port unreachable ($r)" test "$r" = refused
# A mid-connection packet without state: the pass rule wants S/SA.
r=$(in_ns cl timeout 5 python3 - <<'PY'
import socket, struct
from checksum import csum
src, dst = "10.1.0.2", "10.2.0.2"
tcp = struct.pack("!HHIIBBHHH", 40123, 7000, 1000, 2000, 5 << 4, 0x10, 1000, 0, 0)
ph = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(tcp))
tcp = tcp[:16] + struct.pack("!H", csum(ph + tcp)) + tcp[18:]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
s.settimeout(1)
s.sendto(tcp, (dst, 0))
try:
    while True:
        d = s.recv(100)
        sport, dport, seq, ack, off, flags = struct.unpack("!HHIIBB", d[20:34])
        if sport == 7000 and dport == 40123:
            print("rst" if flags & 4 else "other"); break
except socket.timeout:
    print("timeout")
PY
)
check "a lone ACK without state is refused with a RST ($r)" test "$r" = rst

# rdr-to: the server reaches the client's service through the firewall.
out=$(in_ns srv python3 "$LIB/tcpprobe.py" client 10.2.0.1 8080 1)
check "rdr-to forwards to the inside ($out)" grep -q 'survived=1' <<<"$out"
check "-ss shows the rdr form" bash -c "pfctl -ss | grep -Eq '^all tcp 10\.1\.0\.2:7000 \(10\.2\.0\.1:8080\) <- 10\.2\.0\.2:[0-9]+ '"

# user rules use the socket owner of local traffic.
r=$(in_ns fw1 setpriv --reuid=65534 --regid=65534 --clear-groups timeout 5 python3 -c '
import socket
try:
    socket.create_connection(("10.2.0.2", 7000), timeout=2); print("connected")
except ConnectionRefusedError: print("refused")
except OSError as e: print("other", e)')
check "block ... user nobody refuses nobody's connection ($r)" test "$r" = refused
r=$(in_ns fw1 timeout 5 python3 -c '
import socket
socket.create_connection(("10.2.0.2", 7000), timeout=2); print("connected")')
check "root's connection passes ($r)" test "$r" = connected

# Counters and the other listings.
vsr=$(pfctl -vsr)
check "-vsr counts packets on the pass rule" grep -Eq '^  \[ Evaluations: [0-9]+ +Packets: [1-9][0-9]* +Bytes: [1-9]' <<<"$vsr"
check "-vsr shows who loaded the rules" grep -Eq '^  \[ Inserted: uid 0 pid [0-9]+ State Creations: ' <<<"$vsr"
check "-st shows the timeout set in pf.conf" bash -c "pfctl -st | grep -qx 'udp.first                     5s'"
check "-st shows defaults" bash -c "pfctl -st | grep -qx 'tcp.established           86400s'"
check "-sm shows the state limit" bash -c "pfctl -sm | grep -qx 'states        hard limit   100000'"
check "-si shows the status line" bash -c "pfctl -si | grep -Eq '^Status: Enabled( for [0-9]+ days [0-9:]+)? +Debug: err$'"
check "-sa shows every section" bash -c "pfctl -sa | grep -c -E '^(FILTER RULES|STATES|INFO|TIMEOUTS|LIMITS):$' | grep -qx 5"

# Killing states.
n=$(pfctl -ss | grep -c '10\.1\.0\.2')
k=$(pfctl -k 10.1.0.2 2>&1)
check "-k kills the client's states ($k)" bash -c "[ \$(pfctl -ss | grep -c '10\.1\.0\.2 ') -eq 0 ] && [ $n -gt 0 ]"
f=$(pfctl -F states 2>&1)
check "-F states clears the table ($f)" bash -c "grep -Eq '^[0-9]+ states cleared$' <<<'$f' && [ -z \"\$(pfctl -ss)\" ]"

# A full state table: new connections are dropped, counted and logged,
# existing states are kept.
{ echo "set limit states 4"; cat "$RUN/pf.conf"; } >"$RUN/small.conf"
pfctl -q -f "$RUN/small.conf"
pfctl -q -F states
in_ns cl python3 -c '
import socket
for p in range(9000, 9010):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b"x", ("10.2.0.2", p))'
sleep 0.3
n=$(pfctl -ss | wc -l)
mem=$(pfctl -si | awk '$1 == "memory" { print $2 }')
check "a full state table holds its limit ($n states)" test "$n" -le 4
check "the drops are counted under memory ($mem)" test "${mem:-0}" -gt 0
check "and logged" grep -q 'state table full (4 states' "$RUN/fw1.pfd.log"
pfctl -q -f "$RUN/pf.conf"

# Permissions: only root changes anything.
r=$(in_ns fw1 setpriv --reuid=65534 --regid=65534 --clear-groups env PF_SOCKET="$RUN/fw1.sock" "$BIN/pfctl" -F rules 2>&1)
check "an unprivileged user cannot flush the rules ($r)" bash -c "[ -n \"\$(pfctl -sr)\" ]"

# Fail-closed: pfd gone, nothing passes; pfctl -d lets traffic through.
kill -KILL "$(daemon_pid fw1 pfd)"
sleep 0.3
check "with pfd dead, traffic is blocked (fail-closed)" fails in_ns cl ping -c 2 -i 0.2 -W 1 10.2.0.2
d=$(pfctl -d 2>&1)
check "pfctl -d without pfd removes the hooks ($d)" in_ns cl ping -c 2 -i 0.2 -W 1 10.2.0.2
check "no pfd chains are left" bash -c "! ip netns exec $(ns fw1) iptables -t raw -S | grep -q PFD"
check "nor the raw and mangle tables iptables made for them ($(in_ns fw1 nft list tables | tr '\n' ' '))" bash -c "! ip netns exec $(ns fw1) nft list tables | grep -qE ' (raw|mangle)$'"

summary
