#!/bin/bash
# A thousand ranks (make bench, from tests/bench_sched.sh): rank 0's real
# coordinator loop with 1 to 4,096 simulated workers (harness/coord_sim.c,
# tests/bench_coord_sim.c), replaying MPI costs measured here between 2 ranks
# (tests/bench_mpi.c) and job durations measured in a real run.
# The study is jobs/full.yaml (14,780 jobs): (a) each job's estimated cost
# times the measured/estimated ratio of its kind and attack in
# runs/robustness (tests/fixtures/robustness_times.csv, tests/sim_durations.py);
# (b) every job 10 ms.
cd "$(dirname "$0")/.."
export OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
TMP=$(mktemp -d)
# the ideal runs time nothing: their journals may go to a tmpfs
ITMP=$(mktemp -d -p /dev/shm 2>/dev/null || mktemp -d)
trap 'rm -rf "$TMP" "$ITMP"' EXIT
WORKERS=${SIM_WORKERS:-1,8,64,256,1024}
SHORT=${SIM_SHORT_S:-0.01}
STUDY=jobs/full.yaml

echo "== MPI costs: 2 ranks, 4,000 round trips of a run's messages =="
mpirun --oversubscribe -np 2 build/tests/bench_mpi 4000 >"$TMP/mpi" || exit 1
grep '^mpi:' "$TMP/mpi"
args=$(sed -n 's/^simargs: //p' "$TMP/mpi")
awk '/^simargs:/ {printf "mpi: one-way latency of a job index %.2f us, of a row %.2f us (goal < 10 us on one node)\n", $3, $5}' "$TMP/mpi"

./wmbench run --dry-run jobs/robustness.yaml >"$TMP/rob.dry" &&
	./wmbench run --dry-run $STUDY >"$TMP/study.dry" &&
	python3 tests/sim_durations.py "$TMP/rob.dry" tests/fixtures/robustness_times.csv \
		"$TMP/study.dry" >"$TMP/dur" || exit 1

sim() { # label, duration options, workers
	local label=$1 workers=$2
	shift 2
	build/tests/bench_coord_sim "$@" --workers "$workers" --label "$label" --ideal-tmp "$ITMP" $args $STUDY "$TMP" \
		2> >(grep -v '^\[wmbench\]' >&2) >"$TMP/$label" || exit 1
	cat "$TMP/$label"
}
echo "== $STUDY with simulated workers: (a) measured durations (real mix) =="
sim real "$WORKERS" --durations "$TMP/dur"
echo "== (b) short jobs: every job $SHORT s =="
sim short "$WORKERS,4096" --short "$SHORT"
# the table's columns after the label: workers makespan_s ideal_s bound_s
# ratio dag_bound jobs/s cpu_% fsync_% us/job
awk -v short="$SHORT" '
$1 == "real:" && $2 ~ /^[0-9]+$/ { rw = $2; rmk = $3; rid = $4; rb = $5; rdag = $7; rcpu = $9; rfs = $10 }
$1 == "real:" && /critical path/ { rcp = $(NF - 1); match($0, /mean [0-9.]+/); rmean = substr($0, RSTART + 5, RLENGTH - 5) }
$1 == "short:" && $2 ~ /^[0-9]+$/ {
	w = $2
	if (w == 64) eff64 = $8 / (w / short)
	if ($8 > peak) { peak = $8; pw = w; pcpu = $9; pfs = $10; pbusy = 1e6 * ($9 + $10) / 100 / $8 }
	if ($9 + $10 >= 90 && !sat) sat = w
	lw = w
}
END {
	printf "real mix, %d workers: makespan %.0f s; critical path %.0f s, max(critical path, work/workers) %.0f s: %.2fx; DAG bound %.0f s: %.2fx (goal <= 1.2x)\n", rw, rmk, rcp, rb, rmk / rb, rdag, rmk / rdag
	printf "real mix, %d workers: makespan above the same schedule with rank 0 free: %.3f %% (goal < 1 %%); rank 0 CPU %.2f %%, fsync %.2f %% of the time\n", rw, 100 * (rmk - rid) / rid, rcpu, rfs
	printf "short jobs (%g s): peak %.0f jobs/s at %d workers, rank 0 CPU %.0f %% + fsync %.0f %%: %.1f us of rank 0 per job (goal <= 100 us)\n", short, peak, pw, pcpu, pfs, pbusy
	printf "short jobs (%g s): rank 0 saturates (CPU + fsync >= 90 %%) at %s workers\n", short, sat ? sat : "more than " lw
	printf "short jobs (%g s): workers one coordinator keeps busy = peak jobs/s x job length: %.0f (goal >= 256)\n", short, peak * short
	printf "short jobs (%g s): 64 workers get %.0f %% of the ideal throughput (goal >= 90 %%)\n", short, 100 * eff64
	printf "real mix: workers one coordinator feeds = mean job %.1f s / %.1f us of rank 0 per job: %.0f (goal >= 1024)\n", rmean, pbusy, rmean / (pbusy * 1e-6)
}' "$TMP/real" "$TMP/short"
