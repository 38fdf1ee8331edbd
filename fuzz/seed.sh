#!/bin/bash
# fuzz/seed.sh [corpus-dir]: fills fuzz/corpus/<target>/ with the seeds:
# the .in and .ok files of OpenBSD's pfctl regress corpus (default
# ../shared/corpus/openbsd-pfctl beside the checkout) and etc-examples/*/pf.conf.
# The seeds are copied at run time and never committed (fuzz/corpus is in
# .gitignore). Existing corpus entries (what earlier runs found) are kept.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SRC=${1:-$ROOT/../shared/corpus/openbsd-pfctl}
TARGETS=${FUZZ_TARGETS:-parse parse_print}

n=0
for t in $TARGETS; do
	mkdir -p "$HERE/corpus/$t"
done
if [ -d "$SRC" ]; then
	for f in "$SRC"/*.in "$SRC"/*.ok; do
		[ -f "$f" ] || continue
		for t in $TARGETS; do
			install -m 0644 "$f" "$HERE/corpus/$t/seed-$(basename "$f")"
		done
		n=$((n + 1))
	done
else
	echo "fuzz/seed.sh: $SRC: no such directory; seeding from etc-examples only" >&2
fi
for f in "$ROOT"/etc-examples/*/pf.conf; do
	[ -f "$f" ] || continue
	d=$(basename "$(dirname "$f")")
	for t in $TARGETS; do
		install -m 0644 "$f" "$HERE/corpus/$t/seed-etc-$d-pf.conf"
	done
	n=$((n + 1))
done
echo "fuzz/seed.sh: $n seed files into fuzz/corpus/{${TARGETS// /,}}"
