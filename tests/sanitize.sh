#!/bin/bash
# make sanitize: runs the unit tests given as arguments (built with ASan and
# UBSan into build-san/), then a 2-rank jobs/ci.yaml run of build-san/wmbench.
# Fails on a failing test, a failed job, or any sanitizer report, also one
# whose exit status would be lost. ASAN_OPTIONS, LSAN_OPTIONS and
# UBSAN_OPTIONS come from the Makefile's sanitize target; SAN_JOBS unit tests
# (default 2) run at once.
set -u
cd "$(dirname "$0")/.."
export OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
report='ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: [A-Za-z]*Sanitizer'
jobs=${SAN_JOBS:-2} # unit tests at once: they are single-threaded and 3-5x slower here
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
failures="" total=$(date +%s)

# check NAME RC SECONDS LOG: one line per step; the log on a failure or a report.
check() {
	local status=ok
	if [ "$2" -ne 0 ] || grep -Eq "$report" "$4"; then
		status=FAIL
		failures="$failures $1"
		cat "$4"
	fi
	printf '%-24s %-4s (exit %d, %ds)\n' "$1" "$status" "$2" "$3"
}

# each test writes NAME.log and NAME.rc (exit status and seconds)
printf '%s\n' "$@" | xargs -P "$jobs" -I{} bash -c \
	's=$(date +%s); "$1" >"$2/$(basename "$1").log" 2>&1; echo $? $(($(date +%s) - s)) >"$2/$(basename "$1").rc"' \
	_ {} "$logs"
for t in "$@"; do
	name=$(basename "$t")
	read -r rc secs <"$logs/$name.rc" 2>/dev/null || rc=1 secs=0
	check "$name" "$rc" "$secs" "$logs/$name.log"
done

out=build-san/runs/ci
rm -rf "$out"
start=$(date +%s)
# Open MPI's own leaks are suppressed by frames that only the slow, full unwind
# on every allocation reaches (tests/lsan.supp); the unit tests, which never
# start MPI, run with the fast unwinder (3-5x slower than build/ otherwise)
export ASAN_OPTIONS="$ASAN_OPTIONS:fast_unwind_on_malloc=0"
mpirun --oversubscribe -np 2 -x ASAN_OPTIONS -x LSAN_OPTIONS -x UBSAN_OPTIONS \
	-x OPENBLAS_NUM_THREADS build-san/wmbench run -q -o "$out" jobs/ci.yaml >"$logs/ci.log" 2>&1
check "mpirun -np 2 ci.yaml" $? $(($(date +%s) - start)) "$logs/ci.log"

echo "sanitize: $# unit test programs and a 2-rank ci run in $(($(date +%s) - total)) s"
if [ -n "$failures" ]; then
	echo "sanitize: failing:$failures" >&2
	exit 1
fi
echo "sanitize: no sanitizer report"
