#!/bin/bash
# Scheduler benchmarks (make bench): speed-up from 1 to 2 workers on 20 equal
# jobs, and coordinator overhead per job at 10,000 jobs on 8 oversubscribed ranks.
cd "$(dirname "$0")/.."
export OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
SEC=${SCHED_JOB_UNITS:-0.5}
echo "== scheduling: 20 equal jobs of fixed CPU work (--synthetic $SEC) =="
t1=$( { /usr/bin/time -f %e mpirun --oversubscribe -np 2 ./wmbench run -q --synthetic "$SEC" -o "$TMP/a" jobs/bench/sched20.yaml >"$TMP/a.out"; } 2>&1 | tail -1)
t2=$( { /usr/bin/time -f %e mpirun --oversubscribe -np 3 ./wmbench run -q --synthetic "$SEC" -o "$TMP/b" jobs/bench/sched20.yaml >"$TMP/b.out"; } 2>&1 | tail -1)
grep sched: "$TMP/a.out" "$TMP/b.out" | sed 's/^[^:]*://'
s1=$(sed -n 's/.* in \([0-9.]*\) s;.*/\1/p' "$TMP/a.out")
s2=$(sed -n 's/.* in \([0-9.]*\) s;.*/\1/p' "$TMP/b.out")
awk -v a="$s1" -v b="$s2" 'BEGIN {printf "scheduling time: 1 worker %.2f s, 2 workers %.2f s: speed-up %.2fx (goal 1.8x)\n", a, b, a / b}'
awk -v a="$t1" -v b="$t2" 'BEGIN {printf "whole command incl. mpirun start-up: %.2f s vs %.2f s: %.2fx\n", a, b, a / b}'
echo "== coordinator overhead: 10100 jobs of no work, 8 ranks (7 workers) on 2 cores =="
mpirun --oversubscribe -np 8 ./wmbench run -q --synthetic 0 -o "$TMP/c" jobs/bench/sched10k.yaml | grep sched:
echo "== expansion: --dry-run time against job count =="
for n in 10 100; do
	sed "s/seeds: 1..100/seeds: 1..$n/" jobs/bench/sched10k.yaml >"$TMP/e$n.yaml"
	s=$( { /usr/bin/time -f %e ./wmbench run --dry-run "$TMP/e$n.yaml" >/dev/null; } 2>&1 | tail -1)
	echo "$((n * 101)) jobs: ${s} s"
done
