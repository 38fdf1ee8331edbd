#!/bin/bash
# Where pfd's log lines go (pfd.8 ENVIRONMENT, libpf::log): with -d and
# standard error being the journal's stream ($JOURNAL_STREAM names it),
# each line goes there once, with its syslog priority (`<5>started`), and
# not through syslog as well; with -d and another standard error, to
# standard error (`pfd: started`) and to syslog. pfd runs in a mount
# namespace whose /dev/log is a socket this suite reads.
# Ends with "N passed, N failed".

set -u
P=${P:-pflg$$}
source "$(dirname "$0")/../lib/suite.sh"

netns_add fw

# syslog_sink FILE: a datagram socket at $RUN/log that appends what it
# receives to FILE, one datagram a line.
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "ab", buffering=0) as f:
    while True:
        f.write(s.recv(65536) + b"\n")' "$RUN/log" "$RUN/syslog" &
for i in $(seq 50); do [ -S "$RUN/log" ] && break; sleep 0.1; done

# run_pfd NAME JOURNAL: pfd -d for 2 s, standard error into $RUN/NAME.err,
# /dev/log being $RUN/log; JOURNAL=1 sets JOURNAL_STREAM to that file.
run_pfd() {
	: >"$RUN/$1.err"
	unshare -m bash -c '
		set -e
		mount --make-rprivate /
		mkdir -p "$1/olddev"
		mount --rbind /dev "$1/olddev"
		mount -t tmpfs none /dev
		for f in null zero random urandom net; do ln -s "$1/olddev/$f" /dev/$f; done
		ln -s "$1/log" /dev/log
		exec 2>>"$1/$2.err"
		[ "$3" = 1 ] && export JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2)
		exec timeout 2 ip netns exec "$4" "$5/pfd" -d -s "$1/$2.sock" -D none -L none --no-fastpath
	' _ "$RUN" "$1" "$2" "$(ns fw)" "$BIN"
	true
}

run_pfd journal 1
check "journal: the start line on standard error with its priority" \
	grep -qx '<5>started, hostid 0x[0-9a-f]*, control socket .*journal.sock' "$RUN/journal.err"
check "journal: each line once" \
	same "$(grep -c 'started' "$RUN/journal.err")" 1
check "journal: no line without a priority" fails grep -qv '^<[0-7]>' "$RUN/journal.err"
check "journal: nothing through syslog" fails grep -q 'started' "$RUN/syslog"

run_pfd plain 0
check "foreground: the start line on standard error" \
	grep -q '^pfd: started, hostid' "$RUN/plain.err"
check "foreground: the start line through syslog, once, as daemon.notice" \
	same "$(grep -c '^<29>.*pfd\[[0-9]*\]: started, hostid' "$RUN/syslog")" 1
summary
