#!/bin/bash
# Results before and after a refactor: runs jobs/ci.yaml on 1 and on 3 ranks
# and jobs/every.yaml (every scheme under every attack) on 3 ranks, then
# compares each results.csv with the same run in a saved directory
# (tests/compare_results.py: job by job, minus time, rank, host and RSS).
#   tests/same_results.sh --save DIR   run and keep the results in DIR
#   tests/same_results.sh DIR          run and compare with DIR
# Add QUICK=1 to include make quick's matrix (jobs/quick.yaml, 338 jobs).
set -u
cd "$(dirname "$0")/.."
export OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
save=0
[ "${1:-}" = --save ] && { save=1; shift; }
[ $# -eq 1 ] || { echo "usage: tests/same_results.sh [--save] DIR" >&2; exit 2; }
base=$1
out=$base
[ $save = 1 ] || out=$(mktemp -d)
runs="ci1:1:jobs/ci.yaml ci3:3:jobs/ci.yaml every:3:jobs/every.yaml"
[ "${QUICK:-0}" = 1 ] && runs="$runs quick:3:jobs/quick.yaml"
rc=0
for r in $runs; do
	IFS=: read -r name np file <<<"$r"
	rm -rf "$out/$name"
	if [ "$np" = 1 ]; then
		./wmbench run -q -o "$out/$name" "$file" >/dev/null 2>&1
	else
		mpirun --oversubscribe -np "$np" ./wmbench run -q -o "$out/$name" "$file" >/dev/null 2>&1
	fi
	[ $save = 1 ] && { echo "saved $out/$name"; continue; }
	printf '%-6s ' "$name"
	/usr/bin/python3 tests/compare_results.py "$base/$name/results.csv" "$out/$name/results.csv" |
		tail -1 || rc=1
	/usr/bin/python3 tests/compare_results.py "$base/$name/results.csv" "$out/$name/results.csv" \
		>/dev/null || rc=1
done
[ $save = 1 ] || rm -rf "$out"
exit $rc
