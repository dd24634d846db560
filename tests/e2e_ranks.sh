#!/bin/bash
# jobs/ci.yaml gives the same rows on 1 and 2 ranks (placement/timing aside),
# and the model files are bit-identical.
. tests/lib.sh
$WM run -q -o "$TMP/r1" jobs/ci.yaml >"$TMP/out1" 2>&1
check "ci.yaml on 1 process exits 0" test $? -eq 0
$MPIRUN -np 2 $WM run -q -o "$TMP/r2" jobs/ci.yaml >"$TMP/out2" 2>&1
check "ci.yaml under mpirun -np 2 exits 0" test $? -eq 0
n1=$(($(wc -l <"$TMP/r1/results.csv") - 1))
check "one row per job ($n1 rows, 16 jobs)" test "$n1" -eq 16
rows "$TMP/r1/results.csv" >"$TMP/a"
rows "$TMP/r2/results.csv" >"$TMP/b"
check "rows on 1 and 2 ranks are identical" cmp -s "$TMP/a" "$TMP/b"
check "every row is ok" test "$(grep -c ',ok,' "$TMP/r1/results.csv")" -eq 16
same=1
for f in "$TMP"/r1/models/*.npz; do
	cmp -s "$f" "$TMP/r2/models/$(basename "$f")" || same=0
done
check "model files are bit-identical on 1 and 2 ranks" test $same -eq 1
check "rank 1 ran the jobs under mpirun" grep -q ',1,' "$TMP/r2/results.csv"
check "uchida embeds are detected with BER 0" \
	python3 -c "
import csv,sys
r=[x for x in csv.DictReader(open('$TMP/r1/results.csv')) if x['kind']=='embed']
sys.exit(not (len(r)==2 and all(float(x['metric'])==0 and x['detected']=='1' for x in r)))"
check "run.json records the job file hash and the ranks" \
	grep -q "\"ranks\": 2" "$TMP/r2/run.json"
# Workers never expand the matrix: rank 0 sends each job, and a worker makes
# its identity again. A worker that read another job file (here: another lr)
# fails each job it gets with a message saying so, rather than run another
# job or hang; the jobs under them are skipped.
sed 's/^  lr: 1e-3$/  lr: 2e-3/' jobs/ci.yaml >"$TMP/other.yaml"
$MPIRUN -np 1 $WM run -q -o "$TMP/x" jobs/ci.yaml : -np 1 $WM run -q -o "$TMP/x" "$TMP/other.yaml" >"$TMP/outx" 2>&1
check "a worker with another job file: the run ends (exit 3)" test $? -eq 3
check "its rows fail, naming the job file that differs" \
	grep -q "rank 1: job [0-9a-f]* is job [0-9a-f]* here: .*other.yaml differs between rank 0 and this rank; expected the same job file on every rank" "$TMP/x/results.csv"
check "no row is ok" test "$(grep -c ',ok,' "$TMP/x/results.csv")" -eq 0
# A worker lost to an MPI failure (rank 0's third send is made to fail): a
# message names rank, call and peer; its job goes to the other worker; the
# rows equal the undisturbed run's.
WMBENCH_FAULT_SEND=3 $MPIRUN -np 3 -x WMBENCH_FAULT_SEND $WM run -q -o "$TMP/f3" jobs/ci.yaml >"$TMP/outf" 2>&1
check "a failed MPI_Send to one worker: the run completes on the other (exit 0)" test $? -eq 0
check "the failure is a message naming rank 0, the call and the worker" \
	grep -q "wmbench: rank 0: MPI_Send (injected by WMBENCH_FAULT_SEND) with rank [12] failed" "$TMP/outf"
rows "$TMP/f3/results.csv" >"$TMP/c"
check "its rows equal the undisturbed run's" cmp -s "$TMP/a" "$TMP/c"
# the only worker lost: the run stops with the finished rows kept, and says so
WMBENCH_FAULT_SEND=2 $MPIRUN -np 2 -x WMBENCH_FAULT_SEND $WM run -q -o "$TMP/f2" jobs/ci.yaml >"$TMP/outg" 2>&1
check "no worker left: exit 3, with the count of jobs not run and how to resume" sh -c \
	"[ $? -eq 3 ] && grep -q 'jobs not run: no worker rank is left' $TMP/outg"
$MPIRUN -np 2 $WM run -q -o "$TMP/f2" jobs/ci.yaml >/dev/null 2>&1
rows "$TMP/f2/results.csv" >"$TMP/d"
check "resumed without the fault, the rows equal the undisturbed run's" cmp -s "$TMP/a" "$TMP/d"
# Control models are shared by every scheme setting of a seed and trained by
# whichever control job finds them missing; that training is not the row's
# work, so every control row counts only its own passes (here the 1,000 test
# images), on 1 rank and on 2. Counting it made two control rows of
# jobs/every.yaml trade 2,667 passes from run to run.
sed -e 's/^  alpha: 1e-3$/  alpha: 1e-3\n  controls: 1/' \
	-e 's/^  uchida: {bits: 64, lambda: 0.01}/  uchida: {bits: [32, 64], lambda: 0.01}/' \
	-e '/^  prune:/d' jobs/ci.yaml >"$TMP/ctl.yaml"
$WM run -q -o "$TMP/c1" "$TMP/ctl.yaml" >/dev/null 2>&1
$MPIRUN -np 3 $WM run -q -o "$TMP/c3" "$TMP/ctl.yaml" >/dev/null 2>&1
check "4 control rows sharing 2 control models each count 1,000 forward and 0 backward passes" \
	python3 -c "
import csv,sys
r=[x for x in csv.DictReader(open('$TMP/c1/results.csv')) if x['kind']=='control']
sys.exit(not (len(r)==4 and all(x['forward']=='1000' and x['backward']=='0' for x in r)))"
rows "$TMP/c1/results.csv" >"$TMP/e1"
rows "$TMP/c3/results.csv" >"$TMP/e3"
check "... and the same rows on 1 and 3 ranks" cmp -s "$TMP/e1" "$TMP/e3"
finish
