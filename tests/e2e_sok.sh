#!/bin/bash
# The SoK's rule (README "The SoK's table"): the threshold, its rounding up and
# the normalisation reproduce a hand-computed example; the table renders from
# a tiny run with controls, one scheme per kind of metric and an attack of each
# category, with its intervals and the SoK's published values beside.
. tests/lib.sh
check "sok.py: the SoK's rule on a hand-computed example" python3 reports/sok.py --self-test
cat >"$TMP/sok.yaml" <<'Y'
run:
  name: sok-tiny
  dataset: fashion
  model: mlp
  epochs: 1
  optimizer: adam
  lr: 1e-3
  seeds: 1..2
  controls: 5
  train_subset: 3000
  test_subset: 500
schemes:
  none: {}
  uchida: {bits: [32, 64]}
  adi: {}
attacks:
  prune: {rate: [0.5, 0.95]}
  retrain: {epochs: 1}
  input_noise: {}
  label_only: {}
Y
$MPIRUN -np 3 $WM run -q -o "$TMP/s" "$TMP/sok.yaml" >/dev/null 2>&1
check "the tiny run exits 0" test $? -eq 0
python3 reports/sok.py "$TMP/s" >"$TMP/sok.md" 2>"$TMP/err"
check "sok.py writes the table" test $? -eq 0
grep '^| ' "$TMP/sok.md" | sed 's/^/# /'
check "uchida: IP and OP n/a (white box), MM and ME with intervals and the SoK's values" \
	grep -Eq '^\| uchida \| [0-9.]+(, [0-9.]+)? \| n/a; SoK 1.000 \| .*\[[0-9.]+, [0-9.]+\]; (removed|kept); SoK 0.000 \| .*SoK 0.274 \| n/a \|$' "$TMP/sok.md"
check "adi: a cell in every category" grep -Eq '^\| adi \| [0-9., ]+ \|( [^|]*\[[^|]*\|){4}$' "$TMP/sok.md"
finish
