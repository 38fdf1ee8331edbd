#!/bin/bash
# fwsync(8) between two firewalls, over OpenSSH: fw2 runs sshd (its own
# -f configuration, host and user keys made here, listening on the sync
# link's address in fw2's namespace only), pfd runs on both. fw2 sees
# fw1's configuration directory $T/etc through a bind mount of its own
# ($T/fw2etc, in sshd's private mount namespace), as two machines each
# have their /etc. fw1 pushes a ruleset and a hostname.carp1 file with
# fw2's differences (an address in pf.conf, advskew 128), which fw2
# loads (pfctl -sr) and configures (carpctl carp1); -n shows a diff and
# changes nothing; a ruleset that does not parse, or that pfd would
# refuse, is refused on fw1; a second push while one holds fw2's lock, a
# forged stream, a ruleset that parses on fw1 but not on fw2 (it names an
# interface fw2 lacks), one that fw2's differences make unloadable there,
# a carp1 whose netstart fails on fw2 and a load that fails on fw2 (no
# pfd at the socket) leave fw2's files and ruleset as they were; an
# unreachable peer is an error. Ends with "N passed, N failed".

set -u
P=${P:-pffs$$}
source "$(dirname "$0")/../lib/suite.sh"

SSHD=/usr/sbin/sshd
if [ ! -x "$SSHD" ] || ! command -v ssh-keygen >/dev/null; then
	fail "openssh-server and openssh-client are installed (regress/deps)"
	summary
	exit 1
fi

netns_add fw1 fw2
ipv4_only
veth fw1 sync0 fw2 sync0
veth fw1 lan0 fw2 lan0
addr fw1 sync0 10.9.0.1/24
addr fw2 sync0 10.9.0.2/24
addr fw1 lan0 10.1.0.1/24
addr fw2 lan0 10.1.0.2/24
# an interface only fw1 has
in_ns fw1 ip link add only1 type veth peer name only1p
addr fw1 only1 10.7.0.1/24

T=$RUN/fwsync
mkdir -p "$T/etc" "$T/fw2etc" "$T/ssh"
chmod 700 "$T/ssh"

# ------------------------------------------------------------------ sshd
ssh-keygen -q -t ed25519 -N '' -f "$T/ssh/host_key" -C fwsync-test-host
ssh-keygen -q -t ed25519 -N '' -f "$T/ssh/id" -C fwsync-test-user
cp "$T/ssh/id.pub" "$T/ssh/authorized_keys"
echo "10.9.0.2 $(cut -d' ' -f1,2 "$T/ssh/host_key.pub")" >"$T/ssh/known_hosts"
cat >"$T/ssh/sshd_config" <<EOF
ListenAddress 10.9.0.2:22
HostKey $T/ssh/host_key
PidFile $T/ssh/sshd.pid
AuthorizedKeysFile $T/ssh/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
X11Forwarding no
AllowTcpForwarding no
PermitTTY no
EOF
# fw2's own mount and UTS namespaces, as a second machine has its own
# file system and name: a private /run (sshd's privilege separation directory, fwsync's
# staging directories and lock) and $T/fw2etc as $T/etc.
on_fw2_fs() {
	in_ns fw2 unshare -m -u --propagation private sh -c \
		'hostname fw2 && mount -t tmpfs -o mode=755 fwsync-run /run && mkdir -m 755 /run/sshd &&
		mount --bind "$1" "$2" && shift 2 && exec "$@"' _ "$T/fw2etc" "$T/etc" "$@"
}
# a command in the namespace sshd runs in
in_sshd_fs() { nsenter -m -t "$(cat "$T/ssh/sshd.pid")" "$@"; }
check "sshd -t accepts its configuration" on_fw2_fs "$SSHD" -t -f "$T/ssh/sshd_config"
(on_fw2_fs "$SSHD" -D -e -f "$T/ssh/sshd_config" 2>>"$T/sshd.log" &)
check "sshd listens on fw2's sync address" wait_listen fw2 22

# --------------------------------------------------------------- the pfds
check "pfd runs on fw1" pfd_start fw1
check "pfd runs on fw2" pfd_start fw2
FW=fw2
# fw2 filters from the start: what is pushed must keep ssh open
printf 'pass\n' >"$RUN/boot.conf"
check "fw2: a first ruleset loads" pfctl -q -f "$RUN/boot.conf"
check "fw2: pf enabled" pfctl -q -e
export -f same in_sshd_fs
export T

cat >"$T/fwsync.conf" <<EOF
# fw1 pushes to fw2
peer root@10.9.0.2
ssh "ssh -F /dev/null -i $T/ssh/id -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile=$T/ssh/known_hosts -o StrictHostKeyChecking=yes"
remote "env PF_SOCKET=$RUN/fw2.sock $BIN/fwsync"
ruleset $T/etc/pf.conf
advskew 128
sync "$T/etc/hostname.*"
sync $T/etc/pf.conf {
	replace "me = \"10.9.0.1\"" "me = \"10.9.0.2\""
	run "touch $T/ran.pf"
}
EOF

cat >"$T/etc/pf.conf" <<'EOF'
me = "10.9.0.1"
set skip on lo
block in
pass out
pass in on sync0 proto tcp to $me port 22
pass quick on lan0 proto carp
EOF
cat >"$T/etc/hostname.carp1" <<'EOF'
inet 10.1.0.10 255.255.255.0 10.1.0.255 vhid 1 carpdev lan0 pass fwsyncpw advskew 0
EOF
cp "$T/etc/pf.conf" "$T/fw1.pf.conf"

# ------------------------------------------------------------- a dry run
check "fwsync -n exits 0" bash -c "in_fw fw1 '$BIN/fwsync' -n -f '$T/fwsync.conf' >'$T/dry.out' 2>'$T/dry.err'"
check "fwsync -n: a diff of pf.conf with fw2's address" grep -qx '+me = "10.9.0.2"' "$T/dry.out"
check "fwsync -n: hostname.carp1 would be new, advskew 128" grep -q '^+inet 10.1.0.10 .*advskew 128$' "$T/dry.out"
check "fwsync -n: nothing written on fw2" bash -c "[ -z \"\$(ls -A '$T/fw2etc')\" ]"
check "fwsync -n: fw2's rules untouched" bash -c "pfctl -sr | grep -qx 'pass all flags S/SA'"
check "fwsync -n: no run command" fails test -e "$T/ran.pf"

# ------------------------------------------------------------------ a push
check "fwsync pushes (exit 0)" bash -c "in_fw fw1 '$BIN/fwsync' -v -f '$T/fwsync.conf' >'$T/push.out' 2>&1"
cat "$T/push.out" | sed 's/^/	/'
check "fw2's pf.conf has fw2's address" grep -qx 'me = "10.9.0.2"' "$T/fw2etc/pf.conf"
check "fw1's pf.conf is as it was" cmp -s "$T/etc/pf.conf" "$T/fw1.pf.conf"
want='block drop in all
pass out all flags S/SA
pass in on sync0 inet proto tcp from any to 10.9.0.2 port = 22 flags S/SA
pass quick on lan0 proto carp all'
check "fw2 loaded the pushed ruleset (pfctl -sr)" bash -c 'same "$(pfctl -sr)" "$1"' _ "$want"
check "fw2's hostname.carp1 says advskew 128" grep -q 'vhid 1 carpdev lan0 pass fwsyncpw advskew 128$' "$T/fw2etc/hostname.carp1"
check "netstart ran on fw2: carp1 has advskew 128" bash -c "carpctl carp1 | grep -q 'vhid 1 advbase 1 advskew 128'"
check "netstart ran on fw2: carp1 has 10.1.0.10" bash -c "carpctl carp1 | grep -q 'inet 10.1.0.10 netmask 0xffffff00'"
check "the run command of pf.conf ran on fw2" test -e "$T/ran.pf"
check "no staging directory left on fw2" bash -c "! in_sshd_fs ls -A /run | grep -q 'fwsync\.[0-9]'"
check "fw2's lock is in fw2's /run" in_sshd_fs test -e /run/fwsync.lock
check "nothing of fwsync in the host's /run" bash -c "! ls -d /run/fwsync.* 2>/dev/null | grep -q ."
check "no temporary file left beside fw2's files" bash -c "! ls -A '$T/fw2etc' | grep -q fwsync"
check "the ssh session went through fw2's pf (a state on sync0)" bash -c "pfctl -ss | grep -q '^all tcp 10.9.0.2:22 <- 10.9.0.1:'"
rm -f "$T/ran.pf"
check "a second push with nothing new exits 0" bash -c "in_fw fw1 '$BIN/fwsync' -f '$T/fwsync.conf'"
check "nothing changed: no run command" fails test -e "$T/ran.pf"
check "fwsync -n with nothing new says so" bash -c "in_fw fw1 '$BIN/fwsync' -n -f '$T/fwsync.conf' | grep -q 'no changes'"

echo '# changed' >>"$T/etc/hostname.carp1"
# one process (nsenter, then bash, then sleep) holds the lock: killing it
# frees it
nsenter -m -t "$(cat "$T/ssh/sshd.pid")" bash -c 'exec 9>/run/fwsync.lock && flock 9 && touch "$1" && exec sleep 30' _ "$T/locked" &
HOLDER=$!
for _ in $(seq 100); do [ -e "$T/locked" ] && break; sleep 0.05; done
check "a push while another holds fw2's lock fails" fails bash -c "in_fw fw1 '$BIN/fwsync' -f '$T/fwsync.conf' 2>'$T/lock.out'"
kill "$HOLDER"
wait "$HOLDER" 2>/dev/null
check "and says another push is in progress" grep -q 'another push is in progress' "$T/lock.out"
check "and changed nothing" fails grep -q changed "$T/fw2etc/hostname.carp1"
sed -i '/# changed/d' "$T/etc/hostname.carp1"

snapshot() { (cd "$T/fw2etc" && sha1sum * && ls -A) >"$1"; pfctl -sr >>"$1"; }
snapshot "$T/before"

# ------------------------------------------ a ruleset that does not parse
cat >"$T/etc/pf.conf" <<'EOF'
me = "10.9.0.1"
set skip on lo
pass in on sync0 proto tcp to $me port 22 frobnicate
EOF
check "a broken pf.conf is refused on fw1 (exit 1)" fails bash -c "in_fw fw1 '$BIN/fwsync' -f '$T/fwsync.conf' >'$T/broken.out' 2>&1"
check "the error names pf.conf and its line" grep -q "^$T/etc/pf.conf:3: syntax error" "$T/broken.out"
check "and says nothing was pushed" grep -q 'nothing pushed to root@10.9.0.2' "$T/broken.out"
snapshot "$T/after"
check "fw2 unchanged: files and rules" cmp -s "$T/before" "$T/after"

# ------------------------ a ruleset pfd cannot enforce: refused on fw1
cp "$T/fw1.pf.conf" "$T/etc/pf.conf"
echo 'pass in on lan0 proto tcp keep state (pflow)' >>"$T/etc/pf.conf"
check "a ruleset pfd would refuse is refused on fw1 (exit 1)" fails bash -c "in_fw fw1 '$BIN/fwsync' -f '$T/fwsync.conf' >'$T/pflow.out' 2>&1"
check "the error names pf.conf, its line and why" grep -qx "$T/etc/pf.conf:7: pflow: not supported on Linux (no pflow(4) export)" "$T/pflow.out"
snapshot "$T/after"
check "fw2 unchanged: files and rules" cmp -s "$T/before" "$T/after"

# --------------- the same only on fw2, through a difference: refused there
cp "$T/fw1.pf.conf" "$T/etc/pf.conf"
echo '#fw2-extra' >>"$T/etc/pf.conf"
cp "$T/fwsync.conf" "$T/fwsync.conf.orig"
cat >>"$T/fwsync.conf" <<EOF
sync $T/etc/pf.conf {
	replace "#fw2-extra" "pass in on lan0 proto tcp keep state (pflow)"
}
EOF
check "fw2's version cannot load there: the push fails (exit 1)" fails bash -c "in_fw fw1 '$BIN/fwsync' -f '$T/fwsync.conf' >'$T/peerpflow.out' 2>&1"
sed 's/^/	/' "$T/peerpflow.out"
check "fw2 names its pf.conf's line and why" grep -qx "$T/etc/pf.conf:7: pflow: not supported on Linux (no pflow(4) export)" "$T/peerpflow.out"
check "and says nothing changed" grep -q "$T/etc/pf.conf would not load (staged, with this node's differences): nothing changed" "$T/peerpflow.out"
snapshot "$T/after"
check "fw2 unchanged: files and rules" cmp -s "$T/before" "$T/after"
mv "$T/fwsync.conf.orig" "$T/fwsync.conf"

# --------------------------- a ruleset that parses on fw1 but not on fw2
cat >"$T/etc/pf.conf" <<'EOF'
me = "10.9.0.1"
set skip on lo
block in
pass out
pass in on sync0 proto tcp to $me port 22
pass in on lan0 from only1:network
EOF
check "fw1 parses it (only1 is fw1's)" bash -c "in_fw fw1 '$BIN/pfctl' -nf '$T/etc/pf.conf'"
check "fw2 refuses it: the push fails (exit 1)" fails bash -c "in_fw fw1 '$BIN/fwsync' -f '$T/fwsync.conf' >'$T/peer.out' 2>&1"
sed 's/^/	/' "$T/peer.out"
check "pfctl -nf's message on fw2 names pf.conf and its line" grep -qx "$T/etc/pf.conf:6: could not parse host specification" "$T/peer.out"
check "and what fw2 lacks" grep -qx 'no IP address found for only1:network' "$T/peer.out"
check "fw2 says nothing changed" grep -q "$T/etc/pf.conf refused by pfctl -nf (staged, with this node's differences): nothing changed" "$T/peer.out"
snapshot "$T/after"
check "fw2 unchanged: files and rules" cmp -s "$T/before" "$T/after"

# --------------------------------- netstart fails on fw2: all put back
cp "$T/fw1.pf.conf" "$T/etc/pf.conf"
echo 'pass in on lan0 proto icmp' >>"$T/etc/pf.conf"
cat >"$T/etc/hostname.carp1" <<'EOF'
inet 10.1.0.10 255.255.255.0 10.1.0.255 vhid 1 carpdev nosuch0 pass fwsyncpw advskew 0
EOF
check "a carp1 on an interface fw2 lacks: the push fails" fails bash -c "in_fw fw1 '$BIN/fwsync' -f '$T/fwsync.conf' >'$T/ns.out' 2>&1"
sed 's/^/	/' "$T/ns.out"
check "fw2 says the old files and ruleset are back" grep -qx 'fwsync: fw2: netstart carp1: exit status: 1: the old files are back, the old ruleset loaded' "$T/ns.out"
snapshot "$T/after"
check "fw2 unchanged: files and rules" cmp -s "$T/before" "$T/after"
check "carp1 on fw2 still on lan0" bash -c "carpctl carp1 | grep -q 'carpdev lan0'"

# ------------------------------------------- a forged stream on fw2's -r
SSH=(ssh -F /dev/null -i "$T/ssh/id" -o IdentitiesOnly=yes -o BatchMode=yes -o "UserKnownHostsFile=$T/ssh/known_hosts")
garbage() { printf 'fwsync 1\noptions dry=0 verbose=0\nconfig 0\n\nfile 644 3 /etc/../x\nabc\nend\n' | in_fw fw1 "${SSH[@]}" root@10.9.0.2 "$BIN/fwsync -r" >"$T/forged.out" 2>&1; }
check "fwsync -r refuses a forged stream (exit 1)" fails garbage
check "and says why" grep -q 'bad stream: /etc/../x: not a plain absolute path' "$T/forged.out"
snapshot "$T/after"
check "fw2 unchanged: files and rules" cmp -s "$T/before" "$T/after"

# ------------- no pfd at fw2's socket: the load fails there, all put back
# (fw2's pfd keeps running, or no packet would pass: it fails closed; the
# push is pointed at a socket nobody listens on)
files_of() { (cd "$T/fw2etc" && sha1sum * && ls -A) >"$1"; }
files_of "$T/before.files"
pfctl -sr >"$T/rules.before"
sed "s|PF_SOCKET=$RUN/fw2.sock|PF_SOCKET=$RUN/nosuch.sock|" "$T/fwsync.conf" >"$T/nopfd.conf"
cp "$T/fw1.pf.conf" "$T/etc/pf.conf"
echo 'pass in on lan0 proto udp' >>"$T/etc/pf.conf"
check "no pfd on fw2: the push fails (exit 1)" fails bash -c "in_fw fw1 '$BIN/fwsync' -f '$T/nopfd.conf' >'$T/nopfd.out' 2>&1"
sed 's/^/	/' "$T/nopfd.out"
check "fw2 says the ruleset did not load and the old files are back" grep -q "pfctl -f $T/etc/pf.conf: exit status: 1: ruleset not loaded, the old files are back" "$T/nopfd.out"
files_of "$T/after.files"
check "fw2's files unchanged" cmp -s "$T/before.files" "$T/after.files"
check "fw2's rules unchanged" bash -c "pfctl -sr | cmp -s - '$T/rules.before'"

# ------------------------------------------------------- ssh that fails
sed -i 's/^peer .*/peer root@10.9.0.3/' "$T/fwsync.conf"
cp "$T/fw1.pf.conf" "$T/etc/pf.conf"
check "an unreachable peer: exit 1" fails bash -c "in_fw fw1 timeout 20 '$BIN/fwsync' -f '$T/fwsync.conf' -v >'$T/ssh.out' 2>&1"
check "and says ssh failed" grep -q 'root@10.9.0.3: ssh failed' "$T/ssh.out"

summary
