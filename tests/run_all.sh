#!/bin/bash
# Runs every test: the cmocka unit tests given as arguments, then the
# whole-program tests (tests/e2e_*.sh) and the layer check (tests/layers.sh).
# Prints one closing line,
# "N passed, N failed", counting individual tests; exits non-zero on any failure.
set -u
cd "$(dirname "$0")/.."
export OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
passed=0 failed=0 skipped=0 failures=""
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for t in "$@"; do
	name=$(basename "$t")
	start=$(date +%s)
	"$t" >"$log" 2>&1
	rc=$?
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
	s=$(grep -c '^\[  SKIPPED \]' "$log")
	p=${p:-0} f=${f:-0}
	if [ $rc -ne 0 ] && [ "$f" = 0 ]; then f=1; fi
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
	printf '%-24s %3d passed %3d failed %3d skipped  (%ds)\n' "$name" "$p" "$f" "$s" $(($(date +%s) - start))
	if [ "$f" != 0 ]; then
		failures="$failures $name"
		cat "$log"
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
