#!/bin/bash
# The decision rules on null trials (README "Decision rules"): a calibration
# run on the ci matrix with 200 fresh keys per unmarked model; nullembed at
# lambda 5 no longer fires on its unmarked models, every setting passes; and
# `wmbench verify` repeats each of the run's decisions from the model and the
# key file alone.
. tests/lib.sh
sed -e 's/seeds: \[1, 2\]/seeds: [1]/' \
	-e 's/^  alpha: 1e-3$/  alpha: 1e-3\n  calibrate: {models: 2, keys: 200}/' \
	-e 's/^  uchida: .*/&\n  nullembed: {lambda: 5}\n  gradsigns: {bb_samples: 10}/' \
	-e '/prune/d' jobs/ci.yaml >"$TMP/rules.yaml"

$MPIRUN -np 3 $WM run -q -o "$TMP/r" "$TMP/rules.yaml" >"$TMP/run.log" 2>&1
check "the calibration run exits 0" test $? -eq 0
$WM report "$TMP/r" >/dev/null 2>&1
check "report exits 0" test $? -eq 0
check "nullembed at lambda 5: no false positive in 2 models x 200 fresh keys; every setting passes" \
	python3 - "$TMP/r/report/calibration.csv" <<'PY'
import csv, sys
rows = {r["scheme"]: r for r in csv.DictReader(open(sys.argv[1]))}
print("# " + "; ".join("%s %s/%s pass=%s" % (s, r["false_positives"], r["trials"], r["pass"])
                       for s, r in sorted(rows.items())))
assert set(rows) == {"uchida", "nullembed", "gradsigns"}, rows
for r in rows.values():
    assert r["trials"] == "400" and r["pass"] == "yes", r
assert rows["nullembed"]["false_positives"] == "0", rows["nullembed"]
PY
check "nullembed's null p-values count one pattern as one unit (none below 1/C)" python3 - \
	"$TMP/r" <<'PY'
import csv, glob, os, sys
d = sys.argv[1]
ids = [r["job_id"] for r in csv.DictReader(open(os.path.join(d, "results.csv")))
       if r["kind"] == "calibration" and r["scheme"] == "nullembed"]
ps = [float(t["pvalue"]) for i in ids
      for t in csv.DictReader(open(os.path.join(d, "calibration", i + ".csv")))]
assert len(ps) == 400 and min(ps) >= 0.1, (len(ps), min(ps))
PY

# wmbench verify from the key file alone: the run's metric, p-value and decision
check "wmbench verify repeats the run's decision for every embed from the key alone" \
	verify_embeds "$TMP/r" 'assert kv["alpha"] == "0.001", kv
assert kv["dataset"].startswith("fashion (1000 test samples)"), kv'
# the key's context is what makes it so: on the whole test set gradsigns reads other images
id=$(python3 -c '
import csv, sys
print([r["job_id"] for r in csv.DictReader(open(sys.argv[1]))
       if r["kind"] == "embed" and r["scheme"] == "gradsigns"][0])' "$TMP/r/results.csv")
$WM verify --model "$TMP/r/models/$id.npz" --key "$TMP/r/keys/$id.npz" --test-subset 0 \
	>"$TMP/all.txt" 2>&1
check "--test-subset 0 overrides the key's subset (10000 test samples)" \
	grep -q "^dataset: fashion (10000 test samples)" "$TMP/all.txt"
$WM verify --model "$TMP/r/models/$id.npz" --key "$TMP/r/keys/$id.npz" --test-subset x \
	>"$TMP/bad.txt" 2>&1
check "a bad --test-subset is refused with the expected range" test $? -eq 2 -a \
	"$(grep -c "expected an integer in \[0, 100000000\]" "$TMP/bad.txt")" -eq 1
finish
