#!/bin/bash
# Runs every test: the cmocka unit tests given as arguments, then the
# whole-program tests (tests/e2e_*.sh) and the layer check (tests/layers.sh).
# Prints one line per test program and one closing line,
# "N passed, N failed", counting individual tests; exits non-zero on any failure.
set -u
cd "$(dirname "$0")/.."
export OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
passed=0 failed=0 skipped=0 failures=""
log=$(mktemp)
# The unit tests run on one core each and are independent (each makes its own
# temporary directory), so CHECK_JOBS of them (default: the cores) run at
# once; their lines and logs are printed in the order given (a log also holds
# the shell's line for a test killed by a signal). Each test's own seconds are
# its wall time, which sharing the cores stretches.
jobs=${CHECK_JOBS:-$(nproc)}
case $jobs in
'' | *[!0-9]* | 0) echo "run_all.sh: CHECK_JOBS is '$jobs'; expected a whole number of at least 1" >&2; exit 2 ;;
esac
units=$(mktemp -d) || exit 1
trap 'rm -f "$log"; rm -rf "$units"' EXIT
echo "$# unit test programs, $jobs at once"
printf '%s\n' "$@" | xargs -r -P "$jobs" -I{} bash -c \
	's=$(date +%s) n=$(basename "$1"); exec >"$2/$n.log" 2>&1; "$1"; echo $? $(($(date +%s) - s)) >"$2/$n.rc"' \
	_ {} "$units"
for t in "$@"; do
	name=$(basename "$t")
	ulog="$units/$name.log"
	rc=1 secs=0 # no .rc file: the test did not finish
	[ -f "$units/$name.rc" ] && read -r rc secs <"$units/$name.rc"
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$ulog" | tail -1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$ulog" | tail -1)
	s=$(grep -c '^\[  SKIPPED \]' "$ulog")
	p=${p:-0} f=${f:-0}
	if [ "$rc" -ne 0 ] && [ "$f" = 0 ]; then f=1; fi
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
	printf '%-24s %3d passed %3d failed %3d skipped  (%ds)\n' "$name" "$p" "$f" "$s" "$secs"
	if [ "$f" != 0 ]; then
		failures="$failures $name"
		cat "$ulog"
	fi
done
for t in tests/e2e_*.sh tests/layers.sh; do
	name=$(basename "$t" .sh)
	start=$(date +%s)
	bash "$t" >"$log" 2>&1
	rc=$?
	p=$(grep -c '^ok ' "$log")
	f=$(grep -c '^not ok ' "$log")
	s=$(grep -c '^skip ' "$log")
	if [ $rc -ne 0 ] && [ "$f" = 0 ]; then f=1; fi
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
	printf '%-24s %3d passed %3d failed %3d skipped  (%ds)\n' "$name" "$p" "$f" "$s" $(($(date +%s) - start))
	grep -E '^(skip|not ok) ' "$log" || true
	if [ "$f" != 0 ]; then
		failures="$failures $name"
		cat "$log"
	fi
done
[ -n "$failures" ] && echo "failing:$failures"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
