#!/bin/bash
# A real one-node SLURM cluster (Debian's slurmctld, slurmd, munge), started
# here: sbatch of jobs/ci.yaml through `wmbench slurm`, then scancel of a
# running job, resubmission, and a resumed run with nothing lost.
. tests/lib.sh
CL=$TMP/cluster
out=$(bash tests/slurm/cluster.sh start "$CL" 2>&1)
if [ $? -ne 0 ]; then
	echo "skip - SLURM tests: $(echo "$out" | tail -1)"
	finish
fi
trap 'bash tests/slurm/cluster.sh stop "$CL"; rm -rf "$TMP"' EXIT
export SLURM_CONF=$CL/slurm.conf
WMABS=$(realpath "$WM")
$WM run -q -o "$TMP/ref" jobs/ci.yaml >/dev/null 2>&1
rows "$TMP/ref/results.csv" >"$TMP/ref.rows"

wait_gone() { # wait_gone JOBID SECONDS
	for _ in $(seq 1 $(($2 * 10))); do
		[ -z "$(squeue -h -j "$1" 2>/dev/null)" ] && return 0
		sleep 0.1
	done
	return 1
}

# 1. sbatch, wait, check the CSV
mkdir -p "$TMP/sub"
(cd "$TMP/sub" && "$WMABS" slurm --ntasks-per-node 2 --time 00:10:00 --out "$TMP/s1" "$OLDPWD/jobs/ci.yaml") >"$TMP/s1.sh"
check "wmbench slurm writes an sbatch script using srun --mpi=pmix" grep -q "srun --mpi=pmix" "$TMP/s1.sh"
jid=$(cd "$TMP/sub" && sbatch --parsable "$TMP/s1.sh")
check "sbatch accepts the script (job $jid)" test -n "$jid"
check "the job finishes within 120 s" wait_gone "$jid" 120
check "the job's log shows the run summary" grep -q "16 ok, 0 failed" "$TMP"/sub/wmbench-ci-"$jid".out
rows "$TMP/s1/results.csv" >"$TMP/s1.rows" 2>/dev/null
check "results under SLURM equal a 1-process run" cmp -s "$TMP/ref.rows" "$TMP/s1.rows"
check "rank 1 did the work under srun" grep -q ',ok,.*,1,[^,]*,[0-9.]*,[0-9]*$' "$TMP/s1/results.csv"

# 2. scancel a running job, resubmit, resume with nothing lost
sed 's/epochs: 1/epochs: 3/' jobs/ci.yaml >"$TMP/ci3.yaml"
$WM run -q -o "$TMP/ref3" "$TMP/ci3.yaml" >/dev/null 2>&1
rows "$TMP/ref3/results.csv" >"$TMP/ref3.rows"
(cd "$TMP/sub" && "$WMABS" slurm --time 00:10:00 --out "$TMP/s2" "$TMP/ci3.yaml") >"$TMP/s2.sh"
jid=$(cd "$TMP/sub" && sbatch --parsable "$TMP/s2.sh")
for _ in $(seq 1 600); do
	n=$(cat "$TMP/s2/results.csv" 2>/dev/null | wc -l)
	[ "$n" -ge 4 ] && break
	sleep 0.1
done
scancel "$jid"
wait_gone "$jid" 30
n=$(($(wc -l <"$TMP/s2/results.csv") - 1))
check "scancel stopped the run part-way ($n of 16 rows)" test "$n" -ge 3 -a "$n" -lt 16
jid=$(cd "$TMP/sub" && sbatch --parsable "$TMP/s2.sh")
check "the resubmitted job finishes" wait_gone "$jid" 180
check "the resubmitted job resumed" grep -q "already finished" "$TMP"/sub/wmbench-*-"$jid".out
rows "$TMP/s2/results.csv" >"$TMP/s2.rows"
check "after scancel and resubmission nothing is lost or duplicated" cmp -s "$TMP/ref3.rows" "$TMP/s2.rows"
finish
