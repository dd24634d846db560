#!/bin/bash
# Resume: kill -9 mid-run, a torn last line, a changed job file, the run lock.
. tests/lib.sh
$WM run -q -o "$TMP/full" jobs/ci.yaml >/dev/null 2>&1
rows "$TMP/full/results.csv" >"$TMP/full.rows"

# 1. kill -9 of mpirun once a few rows are in, then run the same command again
kill_when "$TMP/k" '' 4 $MPIRUN -np 2 $WM run -q -o "$TMP/k" jobs/ci.yaml
before=$(($(wc -l <"$TMP/k/results.csv") - 1))
check "the killed run had finished some but not all jobs ($before of 16)" test "$before" -ge 3 -a "$before" -lt 16
$MPIRUN -np 2 $WM run -o "$TMP/k" jobs/ci.yaml >"$TMP/k.out" 2>&1
check "resume exits 0" test $? -eq 0
check "resume reports the finished jobs" grep -q "already finished" "$TMP/k.out"
rows "$TMP/k/results.csv" >"$TMP/k.rows"
check "resumed rows equal an uninterrupted run" cmp -s "$TMP/full.rows" "$TMP/k.rows"
dups=$(cut -d, -f1 "$TMP/k/results.csv" | sort | uniq -d | wc -l)
check "no job finished twice" test "$dups" -eq 0

# 2. a torn last line is dropped and its job run again
cp -r "$TMP/full" "$TMP/t"
head -n -2 "$TMP/full/results.csv" >"$TMP/t/results.csv"
tail -n 2 "$TMP/full/results.csv" | head -c 60 >>"$TMP/t/results.csv"
$WM run -q -o "$TMP/t" jobs/ci.yaml >/dev/null 2>&1
check "resume after a torn line exits 0" test $? -eq 0
rows "$TMP/t/results.csv" >"$TMP/t.rows"
check "torn line dropped, its job redone, rows equal" cmp -s "$TMP/full.rows" "$TMP/t.rows"
check "every line of results.csv is complete" test "$(tail -c 1 "$TMP/t/results.csv" | od -An -c | tr -d ' ')" = '\n'

# 3. a deleted model is detected and redone before its children need it
cp -r "$TMP/full" "$TMP/d"
emb=$(grep ',embed,' "$TMP/full/results.csv" | head -1 | cut -d, -f1)
rm "$TMP/d/models/$emb.npz"
grep -v "^[0-9a-f]*,$emb," "$TMP/full/results.csv" >"$TMP/d/results.csv" # drop its children's rows
check "the embed row itself is still in the journal" grep -q "^$emb," "$TMP/d/results.csv"
$WM run -q -o "$TMP/d" jobs/ci.yaml >/dev/null 2>&1
check "a run whose model file and attack rows are gone resumes" test $? -eq 0
rows "$TMP/d/results.csv" >"$TMP/d.rows"
check "rows after redoing a lost model equal an uninterrupted run" cmp -s "$TMP/full.rows" "$TMP/d.rows"

# 3b. a lost key (model still there) also makes its embed run again
cp -r "$TMP/full" "$TMP/kk"
rm "$TMP/kk/keys/$emb.npz"
grep -v "^[0-9a-f]*,$emb," "$TMP/full/results.csv" >"$TMP/kk/results.csv"
$WM run -q -o "$TMP/kk" jobs/ci.yaml >/dev/null 2>&1
check "a run whose key file is gone resumes" test $? -eq 0
rows "$TMP/kk/results.csv" >"$TMP/kk.rows"
check "rows after redoing a lost key equal an uninterrupted run" cmp -s "$TMP/full.rows" "$TMP/kk.rows"

# 4. a changed job file is refused, --extend adds the new jobs
sed 's/rate: \[0.3, 0.9\]/rate: [0.3, 0.6, 0.9]/' jobs/ci.yaml >"$TMP/ci2.yaml"
cp -r "$TMP/full" "$TMP/e"
cp jobs/ci.yaml "$TMP/ci.yaml"
$WM run -q -o "$TMP/e" "$TMP/ci2.yaml" >"$TMP/e.out" 2>&1
rc=$?
check "a changed job file is refused (exit 1)" test $rc -eq 1
check "the refusal names what changed and suggests --extend" grep -q "4 job(s) added.*--extend" "$TMP/e.out"
$WM run -q --extend -o "$TMP/e" "$TMP/ci2.yaml" >"$TMP/e2.out" 2>&1
check "--extend runs only the new jobs" test "$(($(wc -l <"$TMP/e/results.csv") - 1))" -eq 20

# 5. a second run on the same directory is refused while the first holds the lock
(flock -x 9; sleep 3) 9>"$TMP/full/.lock" &
sleep 0.3
$WM run -q -o "$TMP/full" jobs/ci.yaml >"$TMP/l.out" 2>&1
check "a locked run directory is refused" grep -q "another wmbench run is writing" "$TMP/l.out"
wait
# 6. kill -9 of one rank (not mpirun): the run stops, the same command resumes
$MPIRUN -np 3 $WM run -q -o "$TMP/r" jobs/ci.yaml >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 600); do
	n=$(cat "$TMP/r/results.csv" 2>/dev/null | wc -l)
	[ "$n" -ge 4 ] && break
	sleep 0.05
done
victim=$(pgrep -f "wmbench run -q -o $TMP/r" | grep -v "^$pid\$" | tail -1)
kill -9 "$victim" 2>/dev/null
wait $pid 2>/dev/null
pkill -9 -f "wmbench run -q -o $TMP/r" 2>/dev/null
sleep 0.3
n=$(($(wc -l <"$TMP/r/results.csv") - 1))
check "kill -9 of one rank stopped the run part-way ($n of 16)" test "$n" -lt 16
check "kill -9 of one rank left no torn row (every line whole, ending in a newline)" python3 - "$TMP/r/results.csv" <<'PY'
import csv, sys
data = open(sys.argv[1], newline="").read()
rows = list(csv.reader(data.splitlines()))
sys.exit(not (data.endswith("\n") and all(len(r) == len(rows[0]) for r in rows)))
PY
$MPIRUN -np 3 $WM run -q -o "$TMP/r" jobs/ci.yaml >/dev/null 2>&1
rows "$TMP/r/results.csv" >"$TMP/r.rows"
check "after kill -9 of a rank, the resumed rows equal an uninterrupted run" cmp -s "$TMP/full.rows" "$TMP/r.rows"

# 7. SIGTERM (SLURM's time limit): rank 0 flushes and exits, the rerun resumes
$WM run -o "$TMP/s" jobs/ci.yaml >/dev/null 2>"$TMP/s.err" &
pid=$!
for _ in $(seq 1 600); do
	n=$(cat "$TMP/s/results.csv" 2>/dev/null | wc -l)
	[ "$n" -ge 4 ] && break
	sleep 0.05
done
kill -TERM $pid
wait $pid
rc=$?
check "SIGTERM ends the run with status 143" test $rc -eq 143
check "SIGTERM says how to resume" grep -q "interrupted;.*run the same command again to resume" "$TMP/s.err"
$WM run -q -o "$TMP/s" jobs/ci.yaml >/dev/null 2>&1
rows "$TMP/s/results.csv" >"$TMP/s.rows"
check "after SIGTERM, the resumed rows equal an uninterrupted run" cmp -s "$TMP/full.rows" "$TMP/s.rows"
check "progress lines report jobs done of total on stderr" grep -q "^\[wmbench\] [0-9]*/16 jobs done" "$TMP/s.err"

# 8. --retry-failed runs again only the jobs that failed
sed 's/  identity: {}/  identity: {}\n  distill: {student: cnn, epochs: 1}/' jobs/ci.yaml >"$TMP/fail.yaml"
$WM run -q -o "$TMP/f" "$TMP/fail.yaml" >/dev/null 2>&1
rc=$?
nf=$(grep -c ',failed,' "$TMP/f/results.csv")
check "a job that fails late is a failed row and the run goes on (exit 3, $nf failed)" test $rc -eq 3 -a "$nf" -eq 4
check "the failed row says why" grep -q ',failed,.*cnn' "$TMP/f/results.csv"
before=$(($(wc -l <"$TMP/f/results.csv") - 1))
$WM run -q -o "$TMP/f" "$TMP/fail.yaml" >/dev/null 2>&1
check "resuming without --retry-failed runs nothing" test "$(($(wc -l <"$TMP/f/results.csv") - 1))" -eq "$before"
$WM run -q --retry-failed -o "$TMP/f" "$TMP/fail.yaml" >/dev/null 2>&1
check "--retry-failed runs exactly the failed jobs again" test "$(($(wc -l <"$TMP/f/results.csv") - 1))" -eq $((before + nf))
finish
