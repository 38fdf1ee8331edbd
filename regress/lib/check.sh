# Pass/fail bookkeeping for regress suites: each check prints one line,
# `summary` prints "N passed, N failed" and returns non-zero on failures.

PASS=0
FAIL=0

ok() { PASS=$((PASS + 1)); echo "ok - $*"; }
fail() { FAIL=$((FAIL + 1)); echo "FAIL - $*"; }

# check "description" command...: pass when the command succeeds.
check() {
	local d=$1
	shift
	if "$@" >/dev/null; then ok "$d"; else fail "$d"; fi
}

summary() {
	echo "$PASS passed, $FAIL failed"
	[ "$FAIL" -eq 0 ]
}

# fails command...: succeeds when the command fails (check "..." fails ...).
fails() { ! "$@"; }

# same GOT WANT: equal strings (whole listings); shows both when not.
same() { [ "$1" = "$2" ] || { echo "got:"; echo "$1"; echo "want:"; echo "$2"; } >&2; [ "$1" = "$2" ]; }
