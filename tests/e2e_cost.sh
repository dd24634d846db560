#!/bin/bash
# The dry run's cost model (README, `run --dry-run`): every plug-in with a
# work function predicts the samples its job sends through the forward and
# backward passes, and a run of tests/fixtures/cost.yaml (tiny, in settings
# that cannot stop early; every such scheme and attack but blackmarks, whose
# empirical null needs 5 control models, and ewe, frontier and launder, whose
# counts depend on the data) must count exactly those, row by row: the
# forward and backward columns of results.csv.
. tests/lib.sh
$WM run --dry-run tests/fixtures/cost.yaml >"$TMP/dry" 2>&1
check "the dry run lists predicted forward and backward samples" \
	grep -q '^# job .* est_cpu_s *est_fwd *est_bwd$' "$TMP/dry"
$MPIRUN -np 3 $WM run -q -o "$TMP/run" tests/fixtures/cost.yaml >"$TMP/out" 2>&1
# the attacker's own deepsigns-bb mark (overwrite, piracy) fails on 500
# images: too few of its candidates are learned in one epoch (exit 3)
check "every row is ok but the attacker's own deepsigns-bb embeddings" sh -c \
	"[ \$(grep -c ',ok,' $TMP/run/results.csv) -ge 240 ] &&
	! grep ',failed,' $TMP/run/results.csv | grep -vq \"embedding the attacker's own deepsigns-bb mark\""
# forward of these is an estimate by design: class counts of the data taken
# as n / C (gradsigns' carriers, nullembed's true-filtered images in its
# verification, also of the attacker's own nullembed key) and dawn's log of
# watermarked answers (rate x queries)
check "every row's forward and backward samples are the predicted ones" sh -c \
	"python3 tests/cost_check.py --exact --approx-forward overwrite,piracy,embed:gradsigns,control:nullembed,control:dawn \
	$TMP/dry $TMP/run >$TMP/table"
# the check can fail: a prediction one sample off is caught
sed -E '0,/^  [0-9a-f]{16} attack .* [0-9]+ +[0-9]+$/s/ ([0-9]+)$/ 1\1/' "$TMP/dry" >"$TMP/dry2"
check "... and a prediction that is off is named" sh -c \
	"! python3 tests/cost_check.py --exact '$TMP/dry2' '$TMP/run' >/dev/null 2>'$TMP/err' && grep -q 'predicted' '$TMP/err'"
finish
