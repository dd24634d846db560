#!/bin/bash
# Scheduler benchmarks (make bench): speed-up from 1 to 2 workers on 20 equal
# jobs, coordinator overhead per job at 10,000 jobs on 8 oversubscribed ranks,
# expansion time, and rank 0 with 1 to 4,096 simulated workers (tests/bench_coord_sim.sh).
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
echo "== scale: a job file of 1,000,000 jobs (jobs/bench/sched1m.yaml; README \"Scale\") =="
read -r sec usr sys kb < <({ /usr/bin/time -f "%e %U %S %M" ./wmbench run --dry-run jobs/bench/sched1m.yaml >"$TMP/dry1m"; } 2>&1 | tail -1)
n=$(grep -c '^  ' "$TMP/dry1m")
awk -v n="$n" -v s="$sec" -v c="$(awk -v u="$usr" -v s="$sys" 'BEGIN {print u + s}')" -v kb="$kb" \
	'BEGIN {printf "--dry-run of %d jobs written to a file: %.2f s (goal 10 s), %.2f s of CPU; peak RSS %d MB\n", n, s, c, kb / 1024}'
# Runs a job file of no work (--synthetic 0) on rank 0 and 2 workers, rank 0
# under /usr/bin/time (its peak RSS); a worker's peak RSS is the largest
# peak_rss_kb of the rows it ran. With a second argument N, rank 0 stops as on
# SIGTERM after N rows (WMBENCH_STOP_AFTER): everything either holds for the
# matrix is allocated before the first job is handed out.
scale_run() {
	rm -rf "$TMP/s"
	WMBENCH_STOP_AFTER=${2:-0} mpirun --oversubscribe -x WMBENCH_STOP_AFTER \
		-np 1 /usr/bin/time -f "rank0 %M %U %S" ./wmbench run -q --synthetic 0 -o "$TMP/s" "$1" : \
		-np 2 ./wmbench run -q --synthetic 0 -o "$TMP/s" "$1" >"$TMP/s.out" 2>&1
	read -r rank0 usr sys < <(sed -n 's/^rank0 //p' "$TMP/s.out")
	rank0_cpu=$(awk -v u="$usr" -v s="$sys" 'BEGIN {print u + s}')
	worker=$(python3 - "$TMP/s/results.csv" <<'PY'
import csv, sys
print(max(int(r["peak_rss_kb"]) for r in csv.DictReader(open(sys.argv[1])) if r["rank"] not in ("", "0", "-1")))
PY
)
	rows=$(($(wc -l <"$TMP/s/results.csv") - 1))
}
sed 's/seeds: 1..100/seeds: 1..10/' jobs/bench/sched1m.yaml >"$TMP/s100k.yaml"
scale_run "$TMP/s100k.yaml"
grep sched: "$TMP/s.out"
awk -v n="$rows" -v t="$(sed -n 's/.* in \([0-9.]*\) s;.*/\1/p' "$TMP/s.out")" -v c="$rank0_cpu" \
	'BEGIN {printf "coordinator cost per job at %d jobs of no work, 2 workers, durability included: %.0f us of wall time (goal 100 us); rank 0 CPU %.0f us per job\n", n, 1e6 * t / n, 1e6 * c / n}'
scale_run jobs/bench/sched10k.yaml
w4=$worker
echo "10,100 jobs of no work, all run: rank 0 peak RSS $((rank0 / 1024)) MB; a worker's peak RSS $((worker / 1024)) MB"
scale_run jobs/bench/sched1m.yaml 20000
echo "1,000,000 jobs of no work, first $rows run: rank 0 peak RSS $((rank0 / 1024)) MB (goal 1024 MB); a worker's peak RSS $((worker / 1024)) MB"
awk -v a="$w4" -v b="$worker" 'BEGIN {printf "worker peak RSS at 10^6 vs 10^4 jobs: %.2fx (goal 1.00x: it holds no matrix)\n", b / a}'
bash tests/bench_coord_sim.sh
