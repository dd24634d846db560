#!/bin/bash
# The adaptive search (README "Adaptive search"): a bisection over prune rates
# grows its probe jobs during the run, finds the same weakest removing rate as
# the full grid with fewer jobs, and a resumed run re-finds every grown job in
# the journal instead of running it again. Bad search entries are refused.
. tests/lib.sh
cat >"$TMP/search.yaml" <<'Y'
run:
  name: search
  dataset: fashion
  model: mlp
  epochs: 1
  batch: 64
  optimizer: adam
  lr: 1e-3
  seeds: [1, 2]
  alpha: 1e-3
  train_subset: 3000
  test_subset: 500
schemes:
  uchida: {bits: 64, lambda: 0.01}
search:
  prune: {rate: "0:1:0.0625", scope: layer}
Y
sed 's/^search:/attacks:/; s/name: search/name: grid/' "$TMP/search.yaml" >"$TMP/grid.yaml"
$WM run --dry-run "$TMP/search.yaml" >"$TMP/dry" 2>&1
check "dry run announces the search and its bound on probes" \
	grep -q "^# search prune over rate (17 values): 2 marked models, up to 8 probe jobs each" "$TMP/dry"
$MPIRUN -np 3 $WM run -q -o "$TMP/s" "$TMP/search.yaml" >/dev/null 2>&1
check "the search run exits 0" test $? -eq 0
$MPIRUN -np 3 $WM run -q -o "$TMP/g" "$TMP/grid.yaml" >/dev/null 2>&1
check "the grid run exits 0" test $? -eq 0
check "search.csv: the grid's weakest removing rate, per seed, in fewer jobs" python3 - "$TMP/s" "$TMP/g" <<'PY'
import csv, os, sys
s, g = sys.argv[1], sys.argv[2]
found = {r["seed"]: r for r in csv.DictReader(open(os.path.join(s, "search.csv")))}
assert set(found) == {"1", "2"}, found
grid = [r for r in csv.DictReader(open(os.path.join(g, "results.csv"))) if r["kind"] == "attack"
        and r["scheme"] == "uchida"]
probes = [r for r in csv.DictReader(open(os.path.join(s, "results.csv"))) if r["kind"] == "attack"]
for seed, f in found.items():
    rs = sorted((float(r["attack_params"].split("rate=")[1].split(";")[0]), r["removed"])
                for r in grid if r["seed"] == seed)
    weakest = min((v for v, rem in rs if rem == "1"), default=None)
    kept = max((v for v, rem in rs if rem == "0" and (weakest is None or v < weakest)), default=None)
    print("# seed %s: search %s (%s, %s probes: %s); grid weakest %s of %d jobs" % (
        seed, f["weakest"], f["status"], f["probes"], f["probed"], weakest, len(rs)))
    assert f["status"] == ("found" if weakest is not None else "not_removed"), f
    assert weakest is None or float(f["weakest"]) == weakest, (f["weakest"], weakest)
    assert kept is None or float(f["strongest_kept"]) == kept, (f["strongest_kept"], kept)
    assert int(f["probes"]) <= 3 + 4 < len(rs), f["probes"]
    # every probe is a row of results.csv with the probed rate
    mine = [r for r in probes if r["seed"] == seed]
    assert len(mine) == int(f["probes"]), (len(mine), f["probes"])
    if weakest is not None:
        hit = [r for r in mine if float(r["attack_params"].split("rate=")[1].split(";")[0]) == weakest]
        assert len(hit) == 1 and hit[0]["removed"] == "1", hit
        # the grid job of the same rate has the same id: a probe is an attack job like any other
        assert hit[0]["job_id"] in {r["job_id"] for r in grid}, hit[0]["job_id"]
PY
python3 reports/search.py "$TMP/s" --grid "$TMP/g" >"$TMP/report.md" 2>&1
check "reports/search.py: both seeds' searches found the grid's answer, in fewer jobs than its 34" \
	python3 - "$TMP/report.md" "$TMP/s/search.csv" <<'PY'
import csv, sys
text = open(sys.argv[1]).read()
line = [l for l in text.splitlines() if l.startswith("| uchida |")]
assert len(line) == 1, text
cells = [c.strip() for c in line[0].strip("|").split("|")]
ss = list(csv.DictReader(open(sys.argv[2])))
probes = sum(int(s["probes"]) for s in ss)
found = sum(s["status"] == "found" for s in ss)
print("# " + " | ".join(cells[2:]))
assert cells[3] == "rate (17 values)", cells
assert cells[4].startswith("%d / %d / 0 / 0" % (found, 2 - found)), cells
assert cells[7] == "%d (34)" % probes and probes < 34, cells
assert cells[8] == "2 of 2", cells
PY
python3 reports/search.py "$TMP/g" >"$TMP/nosearch" 2>&1
check "reports/search.py on a run without a search names the missing file" \
	grep -q "g/search.csv: no such file; expected a run with a search: section" "$TMP/nosearch"
rows_before=$(wc -l <"$TMP/s/results.csv")
cp "$TMP/s/search.csv" "$TMP/search_first.csv"
$MPIRUN -np 3 $WM run -o "$TMP/s" "$TMP/search.yaml" >"$TMP/resume" 2>&1
check "a resumed run re-finds every grown job: nothing runs again" \
	test "$(wc -l <"$TMP/s/results.csv")" -eq "$rows_before"
check "the resumed search.csv is the same" cmp "$TMP/search_first.csv" "$TMP/s/search.csv"
# one rank: the same answers (the probes' ids and seeds do not depend on ranks)
$WM run -q -o "$TMP/s1" "$TMP/search.yaml" >/dev/null 2>&1
check "one rank gives the same search.csv" cmp "$TMP/search_first.csv" "$TMP/s1/search.csv"
cat >"$TMP/bad.yaml" <<'Y'
run:
  model: mlp
schemes:
  uchida: {}
search:
  prune: {rate: 0.5}
Y
$WM run --dry-run "$TMP/bad.yaml" >/dev/null 2>"$TMP/e1"
check "a search entry without a list of strengths is refused with file:line:col" \
	grep -q "bad.yaml:6:3: search entry prune has no parameter with several values; expected exactly one" "$TMP/e1"
sed -i 's/  prune: {rate: 0.5}/  prune: {rate: [0.1, 0.5], scope: [layer, global]}/' "$TMP/bad.yaml"
$WM run --dry-run "$TMP/bad.yaml" >/dev/null 2>"$TMP/e2"
check "two searched parameters are refused, naming them" grep -q "(rate, scope)" "$TMP/e2"
sed -i 's/  prune: .*/  prune: {rate: [0.1, 5]}/' "$TMP/bad.yaml"
$WM run --dry-run "$TMP/bad.yaml" >/dev/null 2>"$TMP/e3"
check "a value the attack refuses is refused before any work" grep -q "rate.*5.*expected" "$TMP/e3"
finish
