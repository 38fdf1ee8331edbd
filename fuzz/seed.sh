#!/bin/bash
# fuzz/seed.sh [pfctl-corpus-dir]: fills fuzz/corpus/<target>/ with seeds
# for the targets in $FUZZ_TARGETS (default: all), at run time; nothing
# generated is committed (fuzz/corpus and fuzz/captures are in
# .gitignore). Existing corpus entries (what earlier runs found) are kept.
#
#   parse, parse_print  the .in and .ok files of OpenBSD's pfctl regress
#                       corpus (default ../shared/corpus/openbsd-pfctl beside
#                       the checkout) and etc-examples/*/pf.conf
#   hostname_if         etc-examples/*/hostname.*, the examples of
#                       hostname.if(5) and the carpctl lines of regress/netns
#                       (first byte: which interface the file is for)
#   carp, pfsync,       real traffic: fuzz/capture.sh runs the seed
#   packet, wire,       article's HA pair in network namespaces and captures
#   control             CARP, pfsync, the data path and pfctl/carpctl's
#                       control-socket streams; fuzz/seedcap.py cuts them into
#                       each target's input format. Captured once into
#                       fuzz/captures/ (FUZZ_RECAPTURE=1 captures again);
#                       needs root and the debug binaries (built if missing).
#                       Without root, or if the capture fails, the few seeds
#                       committed in fuzz/seeds/<target>/ (captured the same
#                       way) are used alone.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SRC=${1:-$ROOT/../shared/corpus/openbsd-pfctl}
TARGETS=${FUZZ_TARGETS:-parse parse_print carp pfsync packet wire control hostname_if}
CORPUS=$HERE/corpus

wants() {
	local t
	for t in $TARGETS; do
		for w in "$@"; do [ "$t" = "$w" ] && return 0; done
	done
	return 1
}

for t in $TARGETS; do
	mkdir -p "$CORPUS/$t"
done

# pf.conf
n=0
if wants parse parse_print; then
	if [ -d "$SRC" ]; then
		for f in "$SRC"/*.in "$SRC"/*.ok; do
			[ -f "$f" ] || continue
			for t in parse parse_print; do
				wants $t && install -m 0644 "$f" "$CORPUS/$t/seed-$(basename "$f")"
			done
			n=$((n + 1))
		done
	else
		echo "fuzz/seed.sh: $SRC: no such directory; pf.conf seeds from etc-examples only" >&2
	fi
	for f in "$ROOT"/etc-examples/*/pf.conf; do
		[ -f "$f" ] || continue
		d=$(basename "$(dirname "$f")")
		for t in parse parse_print; do
			wants $t && install -m 0644 "$f" "$CORPUS/$t/seed-etc-$d-pf.conf"
		done
		n=$((n + 1))
	done
	echo "fuzz/seed.sh: $n pf.conf seeds"
fi

# hostname.if: one byte for the interface (0 carp1, 1 pfsync0, 2 a real
# interface), then the file.
hn_seed() {
	local name=$1 pick
	case $2 in
	carp*) pick='\000' ;;
	pfsync*) pick='\001' ;;
	*) pick='\002' ;;
	esac
	{
		printf "$pick"
		cat
	} >"$CORPUS/hostname_if/seed-$name"
}
if wants hostname_if; then
	n=0
	for f in "$ROOT"/etc-examples/*/hostname.*; do
		[ -f "$f" ] || continue
		ifn=${f##*/hostname.}
		hn_seed "etc-$(basename "$(dirname "$f")")-$ifn" "$ifn" <"$f"
		n=$((n + 1))
	done
	# The man page's examples: "$ cat /etc/hostname.IF" then the file.
	awk -v dir="$CORPUS/hostname_if" '
		/^\.Bd -literal/ { inb = 1; out = ""; k++; next }
		/^\.Ed/ { inb = 0; next }
		inb && /^\$ cat \/etc\/hostname\./ { sub(/.*hostname\./, ""); ifn = $0; out = dir "/seed-man-" k "-" ifn; pick[out] = ifn; next }
		inb { if (out == "") { out = dir "/seed-man-" k "-em0"; pick[out] = "em0" } lines[out] = lines[out] $0 "\n" }
		END { for (o in lines) { p = pick[o] ~ /^carp/ ? 0 : pick[o] ~ /^pfsync/ ? 1 : 2; printf "%c%s", p, lines[o] > o } }
	' "$ROOT/man/hostname.if.5"
	# carpctl lines of the netns suites (ifconfig arguments, good and bad).
	i=0
	while IFS= read -r line; do
		i=$((i + 1))
		ifn=${line%% *}
		printf '%s\n' "${line#* }" | hn_seed "netns-$i-$ifn" "$ifn"
	done <<'EOF'
carp1 down
carp1 up
carp2 state master
carp2 state backup
carp1 vhid 300
carp1 advskew 255
carp1 carpdev nosuch0
carp1 inet 10.0.0.1 netmask 255.0.255.0
carp3 inet 192.0.2.3 255.255.255.0 vhid 3 carpdev hvn3 pass three
carp3 destroy
carp5 inet 192.0.2.5 255.255.255.0 vhid 5 carpdev hvn3
carp5 vhid 999
pfsync0 syncdev ext0 up
pfsync0 syncpeer 169.254.0.0 maxupd 64 defer -syncdev
carp1 inet6 2001:db8::1 64 vhid 1 carpdev hvn3 carppeer 192.0.2.11 advbase 2 group dmz -group dmz
EOF
	echo "fuzz/seed.sh: $((n + i)) hostname.if seeds and the man page's examples"
fi

# Captured traffic.
if wants carp pfsync packet wire control; then
	CAP=$HERE/captures
	captured=0
	if [ -f "$CAP/done" ] && [ -z "${FUZZ_RECAPTURE:-}" ]; then
		captured=1
	elif [ "$(id -u)" -eq 0 ] && command -v ip >/dev/null && command -v python3 >/dev/null; then
		BIN=${BIN:-$ROOT/target/debug}
		if [ ! -x "$BIN/pfd" ] || [ ! -x "$BIN/pfsyncd" ]; then
			echo "fuzz/seed.sh: building the binaries the capture runs" >&2
			(cd "$ROOT" && cargo build --workspace --quiet) || true
		fi
		rm -rf "$CAP"
		echo "fuzz/seed.sh: capturing CARP, pfsync, data-path and control traffic (fuzz/capture.sh)"
		if BIN=$BIN "$HERE/capture.sh" "$CAP"; then
			touch "$CAP/done"
			captured=1
		else
			echo "fuzz/seed.sh: capture failed; committed seeds only" >&2
		fi
	else
		echo "fuzz/seed.sh: not root: no capture, committed seeds only" >&2
	fi
	if [ $captured -eq 1 ]; then
		# shellcheck disable=SC2086
		python3 "$HERE/seedcap.py" seeds "$CAP" "$CORPUS" $TARGETS
	fi
	for t in carp pfsync packet wire control; do
		wants $t || continue
		for f in "$HERE/seeds/$t"/*; do
			[ -f "$f" ] && install -m 0644 "$f" "$CORPUS/$t/"
		done
	done
fi
exit 0
