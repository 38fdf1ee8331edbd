# What a netns suite (regress/netns/*.sh) sources first: the building
# blocks (netns.sh), the topologies (topo.sh), check and summary
# (check.sh), the clean-up of every namespace when the suite exits, however
# it ends, and the helpers the suites share. A new suite writes its
# topology in a few lines and then only its checks:
#
#   set -u
#   P=${P:-pfxy$$}          # namespace prefix: short, unique, with $$
#   source "$(dirname "$0")/../lib/suite.sh"
#   netns_add cl fw srv
#   ipv4_only
#   line_up fw
#   route srv default 10.2.0.1
#   check "pfd starts" pfd_start fw
#   check "pf enables" pfctl -q -e
#   load 'block' 'pass out' 'pass in on int0 proto icmp'
#   check "the client pings the server" reach 2
#   summary

source "$(dirname "${BASH_SOURCE[0]}")/topo.sh"
source "$(dirname "${BASH_SOURCE[0]}")/check.sh"
trap netns_down EXIT
mkdir -p "$RUN"
# Python snippets and helpers import the lib's modules (checksum.py),
# leaving no bytecode in the tree.
export PYTHONPATH="$LIB${PYTHONPATH:+:$PYTHONPATH}" PYTHONDONTWRITEBYTECODE=1

# pfctl, carpctl and netstart on the firewall $FW (default fw; a suite
# whose firewall namespace is fw1 sets FW=fw1). Exported, so that checks
# can pipe them in `bash -c "pfctl -sr | grep -q ..."`.
export FW=${FW:-fw}
pfctl() { in_fw "$FW" "$BIN/pfctl" "$@"; }
carpctl() { in_fw "$FW" "$BIN/carpctl" "$@"; }
netstart() { in_fw "$FW" "$BIN/netstart" "$@"; }
export -f pfctl carpctl netstart

# load LINE...: a ruleset of these lines ($RUN/pf.conf), loaded. With
# LOAD_FLUSHES=1 the states are flushed too: each case starts clean.
load() {
	printf '%s\n' "$@" >"$RUN/pf.conf" && pfctl -q -f "$RUN/pf.conf" &&
		if [ "${LOAD_FLUSHES:-0}" = 1 ]; then pfctl -q -F states; fi
}

# conf NAME <<EOF: a ruleset written to $RUN/NAME.conf; load_conf NAME
# loads it.
conf() { cat >"$RUN/$1.conf"; }
load_conf() { pfctl -q -f "$RUN/$1.conf"; }

# The value of a counter of pfctl -vsi ("  NAME ... N ..."), by name.
counter() { pfctl -vsi | awk -v n="$1" 'index($0, "  " n " ") == 1 { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+$/) { print $i; exit } }'; }

# tcp_outcome NS HOST PORT [SECONDS]: how a TCP connection from NS ends:
# connected, refused (a RST), or timeout (no answer within SECONDS,
# default 1, or another error).
tcp_outcome() {
	in_ns "$1" timeout 5 python3 -c '
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])).close(); print("connected")
except ConnectionRefusedError: print("refused")
except OSError: print("timeout")' "$2" "$3" "${4:-1}"
}

# udp_outcome NS HOST PORT: what a UDP question from NS to an echo meets:
# answer, refused (ICMP port unreachable) or timeout (1 s, or another error).
udp_outcome() {
	in_ns "$1" timeout 5 python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1)
s.connect((sys.argv[1], int(sys.argv[2]))); s.send(b"q")
try:
    s.recv(10); print("answer")
except ConnectionRefusedError: print("refused")
except OSError: print("timeout")' "$2" "$3"
}

# hold_tcp NS HOST PORT SECONDS: a TCP connection from NS that sends a
# byte, reads its echo and stays open SECONDS (run it in the background).
hold_tcp() {
	in_ns "$1" python3 -c '
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2]))); s.sendall(b"x"); s.recv(1); time.sleep(float(sys.argv[3]))' "$2" "$3" "$4"
}

# states_when REGEX: `pfctl -ss` once a line of it matches the extended
# REGEX, or after 5 s as it then is (a connection started in the
# background may take a while to come up on a loaded machine).
states_when() {
	local i out
	for i in $(seq 50); do
		out=$(pfctl -ss)
		grep -Eq "$1" <<<"$out" && break
		sleep 0.1
	done
	echo "$out"
}

# tcp HOST PORT: a TCP connect from the client cl, printed as its exit
# status: 0 connected, 1 refused (RST), 124 timed out.
tcp() { in_ns cl timeout 3 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; echo $?; }
