#!/bin/bash
# make fuzz: tests/fuzz/run.sh SECONDS TARGET... For each libFuzzer target
# (build-fuzz/fuzz/fuzz_NAME): replays its regression inputs
# (tests/fuzz/regress/NAME/, crashes found before and fixed), then fuzzes it
# for SECONDS from its seed corpus (tests/fuzz/corpus/NAME/, read only; new
# inputs go to build-fuzz/corpus/NAME/). Prints one line per target with its
# executions; a crash, leak, timeout or out-of-memory fails, and its input is
# left in build-fuzz/artifacts/.
set -u
cd "$(dirname "$0")/../.."
secs=$1
shift
log=$(mktemp)
trap 'rm -f "$log"' EXIT
failures="" total=0 start_all=$(date +%s)
mkdir -p build-fuzz/artifacts
# Limits: an input of at most 64 KB may not make a parser allocate more than
# 256 MB at once (memory is bounded by the file, not by what a header says)
# nor take more than 10 s.
opts=(-rss_limit_mb=2048 -malloc_limit_mb=256 -timeout=10 -max_len=65536 -print_final_stats=1)
for bin in "$@"; do
	name=$(basename "$bin" | sed 's/^fuzz_//')
	seeds=tests/fuzz/corpus/$name regress=tests/fuzz/regress/$name work=build-fuzz/corpus/$name
	mkdir -p "$work"
	if [ -d "$regress" ] && [ -n "$(ls -A "$regress")" ]; then
		if ! "$bin" "${opts[@]}" "$regress"/* >"$log" 2>&1; then
			cat "$log"
			failures="$failures $name(regression)"
			continue
		fi
	fi
	start=$(date +%s)
	"$bin" "${opts[@]}" -max_total_time="$secs" -artifact_prefix="build-fuzz/artifacts/$name-" \
		"$work" "$seeds" >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	execs=${execs:-0}
	total=$((total + execs))
	printf 'fuzz %-8s %9d executions in %3d s, corpus %4d inputs  %s\n' "$name" "$execs" \
		$(($(date +%s) - start)) "$(ls "$work" | wc -l)" "$([ $rc = 0 ] && echo ok || echo FAIL)"
	if [ $rc != 0 ]; then
		failures="$failures $name"
		grep -A40 -E '^==[0-9]+==|runtime error|out-of-memory|timeout' "$log" | head -80
	fi
done
echo "fuzz: $# targets, $total executions in $(($(date +%s) - start_all)) s"
if [ -n "$failures" ]; then
	echo "fuzz: failing:$failures (inputs in build-fuzz/artifacts/)" >&2
	exit 1
fi
