#!/bin/bash
# Property inference (README "Detecting a mark from the weights"): a run with
# S = 4 marked and 4 unmarked shadow models completes, and reports/detect.py
# reports a held-out accuracy and an AUC with its interval per scheme; uchida
# at lambda 0.05 (it raises the marked layer's weight variance) is detectable.
. tests/lib.sh
cat >"$TMP/det.yaml" <<'Y'
run:
  name: det
  dataset: fashion
  model: mlp
  epochs: 1
  batch: 64
  optimizer: adam
  lr: 1e-3
  seeds: 1..8
  train_subset: 3000
  test_subset: 500
schemes:
  none: {}
  uchida: {bits: 64, lambda: 0.05}
  adi: {}
attacks:
  identity: {}
  prune: {rate: 0.5}
Y
$MPIRUN -np 3 $WM run -q -o "$TMP/d" "$TMP/det.yaml" >/dev/null 2>&1
check "the shadow-model run exits 0" test $? -eq 0
/usr/bin/python3 reports/detect.py "$TMP/d" >"$TMP/det.md" 2>"$TMP/err"
check "detect.py exits 0" test $? -eq 0
cat "$TMP/det.md" | grep '^| ' | sed 's/^/# /'
check "a row per marked scheme with 4 + 4 shadows, accuracy and AUC with an interval" sh -c \
	"grep -Eq '^\| uchida \| .* \| 4 \+ 4 \| [01]\.[0-9]{2} \| [01]\.[0-9]{2} \[[01]\.[0-9]{2}, [01]\.[0-9]{2}\]' $TMP/det.md &&
	 grep -Eq '^\| adi \| .* \| 4 \+ 4 \| ' $TMP/det.md"
check "uchida (lambda 0.05) is detectable from its weights" grep -Eq '^\| uchida \|.*\*\*yes\*\* \|$' "$TMP/det.md"
/usr/bin/python3 reports/detect.py "$TMP/d" --shadows 5 >/dev/null 2>"$TMP/err2"
check "too few seeds for S shadows is refused, saying how many" grep -q "has 8 seeds; expected at least 2S = 10" "$TMP/err2"
# The reports order rows by the job file, not by results.csv, whose order
# follows the schedule: with its rows reversed, the same documents.
mkdir "$TMP/rev" && cp "$TMP/d/jobfile.yaml" "$TMP/d/run.json" "$TMP/rev/" && ln -s "$TMP/d/models" "$TMP/rev/models"
{ head -1 "$TMP/d/results.csv"; tail -n +2 "$TMP/d/results.csv" | tac; } >"$TMP/rev/results.csv"
/usr/bin/python3 reports/detect.py "$TMP/rev" | sed 's/run `rev`/run `d`/' >"$TMP/det-rev.md"
python3 reports/tables.py robustness "$TMP/d" >"$TMP/rob.md"
python3 reports/tables.py robustness "$TMP/rev" | sed 's/directory `rev`/directory `d`/' >"$TMP/rob-rev.md"
check "detect.py and tables.py give the same rows in the same order from results.csv reversed" \
	sh -c "cmp -s $TMP/det.md $TMP/det-rev.md && cmp -s $TMP/rob.md $TMP/rob-rev.md &&
	grep -q '^| uchida | prune' $TMP/rob.md"
finish
