#!/bin/bash
# A plug-in defined in a test file (tests/plugins/test_scale.c, registered with
# atk_register) is listed by `wmbench list` and runs through a matrix.
. tests/lib.sh
WMP=build/tests/wmbench-plugin
check "the test plug-in's wmbench builds" test -x $WMP
$WMP list attacks >"$TMP/list"
check "wmbench list shows the test attack" grep -q '^  test_scale .*test only' "$TMP/list"
check "and its parameter from the table" \
	grep -q '^      factor  *default 1  *a number in \[-100, 100\]' "$TMP/list"
check "the plain wmbench does not have it" sh -c "! $WM list attacks | grep -q test_scale"
cat >"$TMP/p.yaml" <<'Y'
run:
  name: plugin
  dataset: fashion
  model: mlp
  epochs: 1
  seeds: [1]
  train_subset: 3000
  test_subset: 500
schemes:
  uchida: {bits: 32}
attacks:
  identity: {}
  test_scale: {factor: [1, 0]}
Y
$WMP run -q -o "$TMP/run" "$TMP/p.yaml" >/dev/null 2>&1
check "the matrix runs: exit 0" test $? -eq 0
python3 - "$TMP/run/results.csv" >"$TMP/out" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
att = {(r["attack"], r["attack_params"]): r for r in rows
       if r["kind"] == "attack" and r["scheme"] == "uchida"}
ident = att[("identity", "")]
one, zero = att[("test_scale", "factor=1")], att[("test_scale", "factor=0")]
print("statuses", all(r["status"] == "ok" for r in rows))
print("same", one["metric"] == ident["metric"] and one["acc"] == ident["acc"])
print("zeroed", float(zero["acc"]) < 0.2 and zero["detected"] == "0")
PY
check "every row is ok" grep -q "statuses True" "$TMP/out"
check "factor 1 changes nothing (same BER and accuracy as identity)" grep -q "same True" "$TMP/out"
check "factor 0 destroys the model and the mark" grep -q "zeroed True" "$TMP/out"
finish
