#!/bin/bash
# Attack outcomes (README "results.csv", "Schemes and attacks"): forged where
# the pirate's key verifies; removed and success empty when the mark never
# took; a query-path attack's accuracy through its wrapped path; degenerate
# settings flagged in summary.csv; query-path attacks against white-box
# verification not expanded.
. tests/lib.sh
cat >"$TMP/out.yaml" <<'Y'
run:
  name: outcomes
  dataset: fashion
  model: mlp
  epochs: 1
  batch: 64
  optimizer: adam
  lr: 1e-3
  seeds: [1]
  alpha: 1e-3
  train_subset: 3000
  test_subset: 1000
schemes:
  none: {}
  uchida: {bits: 64, lambda: [0.01, 0]}
  adi: {}
attacks:
  identity: {}
  piracy: {}
  noise: {sigma: [0.1, 2]}
  input_noise: {sigma: 1}
  score_round: {decimals: 1}
Y
$WM run --dry-run "$TMP/out.yaml" >"$TMP/dry" 2>&1
check "dry run: 4 query-path jobs against white-box uchida counted as skipped" \
	grep -q "^# 4 not-applicable attack jobs skipped" "$TMP/dry"
check "dry run lists no query-path job on uchida" test \
	"$(grep -E ' uchida\{' "$TMP/dry" | grep -cE 'input_noise|score_round')" -eq 0
$MPIRUN -np 2 $WM run -q -o "$TMP/r" "$TMP/out.yaml" >/dev/null 2>&1
check "the run exits 0" test $? -eq 0
$WM report "$TMP/r" >/dev/null 2>&1
check "report exits 0" test $? -eq 0
check "outcome columns" python3 - "$TMP/r" <<'PY'
import csv, os, sys
d = sys.argv[1]
rows = {r["job_id"]: r for r in csv.DictReader(open(os.path.join(d, "results.csv")))}
rows = list(rows.values())
def one(scheme, attack, lam=None):
    rs = [r for r in rows if r["kind"] == "attack" and r["scheme"] == scheme and r["attack"] == attack
          and (lam is None or ("lambda=%s;" % lam) in r["scheme_params"])]
    assert len(rs) == 1, (scheme, attack, lam, len(rs))
    return rs[0]
# no query-path job on white-box uchida
assert not [r for r in rows if r["scheme"] == "uchida" and r["attack"] in ("input_noise", "score_round")]
# piracy on uchida: the pirate's key verifies, so forged = 1 and success = 1 while
# the owner's mark is still there (removed = 0)
p = one("uchida", "piracy", "0.01")
print("# uchida piracy: detected %s removed %s forged %s success %s; %s" % (
    p["detected"], p["removed"], p["forged"], p["success"], p["message"]))
assert "pirate" in p["message"] and "detected=1" in p["message"], p["message"]
assert p["forged"] == "1" and p["removed"] == "0", p
assert p["success"] == ("1" if float(p["acc_before"]) - float(p["acc"]) < 0.05 else "0"), p
# lambda 0 embeds nothing: not detected after embedding, so no attack on it
# can remove a mark: removed and success empty (identity was a "success" before)
e = [r for r in rows if r["kind"] == "embed" and "lambda=0;" in r["scheme_params"]][0]
assert e["detected"] == "0", e
for a in ("identity", "noise"):
    r = [r for r in rows if r["kind"] == "attack" and r["scheme"] == "uchida" and r["attack"] == a
         and "lambda=0;" in r["scheme_params"]][0]
    assert r["removed"] == "" and r["success"] == "", (a, r["removed"], r["success"])
i = one("uchida", "identity", "0.01")
assert i["removed"] == "0" and i["success"] == "0" and i["forged"] == "", i
# query-path accuracy through the wrapper: noise of sigma 1 on the inputs costs
# accuracy; rounding the scores to 1 decimal barely does
n = one("adi", "input_noise")
assert float(n["acc_before"]) - float(n["acc"]) > 0.05, (n["acc_before"], n["acc"])
s = one("adi", "score_round")
assert abs(float(s["acc_before"]) - float(s["acc"])) < 0.05, (s["acc_before"], s["acc"])
u = one("none", "input_noise")
assert float(u["acc_before"]) - float(u["acc"]) > 0.05, u
assert all(r["attack_queries"] == "0" for r in rows if r["kind"] == "attack")
PY
check "cost columns: CPU-seconds and network passes of each job's own work" python3 - "$TMP/r" <<'PY'
import csv, os, sys
d = sys.argv[1]
rows = list({r["job_id"]: r for r in csv.DictReader(open(os.path.join(d, "results.csv")))}.values())
t = [r for r in rows if r["kind"] == "train"][0]
# one epoch over the owner's part, forward and backward once per sample
owner = int(t["forward"])
print("# train: forward %s backward %s cpu_s %s train_s %s" % (t["forward"], t["backward"], t["cpu_s"], t["train_s"]))
assert 1000 < owner < 3000 and t["backward"] == t["forward"], t
assert float(t["cpu_s"]) > 0, t
for r in rows:
    if r["kind"] != "attack":
        continue
    f, b = int(r["forward"]), int(r["backward"])
    if r["attack"] in ("identity", "noise", "input_noise", "score_round"):
        # no training: noise changes weights, wrappers only wrap (their queries
        # are verification's)
        assert f == 0 and b == 0, (r["attack"], f, b)
    elif r["attack"] == "piracy" and r["scheme"] != "none":
        # the pirate embeds its own mark: training passes over the attacker's data
        assert f > 0 and b > 0, (r["attack"], f, b)
PY
check "summary.csv: weight noise sigma 2 is degenerate, identity is not" python3 - \
	"$TMP/r/report/summary.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
deg = {(r["scheme"], r["attack"]): r["degenerate"] for r in rows if r["kind"] == "attack"
       and r["attack_params"] != "sigma=0.1"}
print("# noise sigma 2: the unmarked model loses %s" % [r["unmarked_acc_drop"] for r in rows
      if r["kind"] == "attack" and r["scheme"] == "none" and r["attack_params"] == "sigma=2"][0])
assert deg[("uchida", "noise")] == "1" and deg[("none", "noise")] == "1", deg
assert deg[("uchida", "identity")] == "0", deg
assert all(r["degenerate"] == "" for r in rows if r["kind"] != "attack")
PY
check "the figures draw it: the heatmap's data marks the noise column" python3 - \
	"$TMP/r/report" <<'PY'
import os, sys
d = sys.argv[1]
dat = [l.split() for l in open(os.path.join(d, "success_heatmap.dat")) if l[0] != "#" and l.strip()]
assert any(c[4] == "1" for c in dat) and any(c[4] == "0" for c in dat), dat
assert "has_deg = 1" in open(os.path.join(d, "success_heatmap.gp")).read()
assert "deg_acc_lines = ' " in open(os.path.join(d, "robustness_noise_ber.gp")).read()
PY
check "figures: text on the page, nothing overlaps" /usr/bin/python3 tests/layout_check.py \
	"$TMP"/r/report/*.pdf
# resuming with another alpha, or a results.csv of another version, is refused
sed 's/^  alpha: 1e-3$/  alpha: 1e-2/' "$TMP/out.yaml" >"$TMP/alpha.yaml"
$WM run -q -o "$TMP/r" "$TMP/alpha.yaml" >"$TMP/alpha.txt" 2>&1
check "resume with another alpha is refused, naming both" test $? -ne 0 -a \
	"$(grep -c "run.alpha changed from 0.001 to 0.01" "$TMP/alpha.txt")" -eq 1
cp -r "$TMP/r" "$TMP/old"
sed -i '1s/,removed,forged,success,queries,attack_queries,/,success,queries,/' "$TMP/old/results.csv"
$WM run -q -o "$TMP/old" "$TMP/out.yaml" >"$TMP/old.txt" 2>&1
check "resume of a results.csv with another version's header is refused with the reason" \
	test $? -ne 0 -a "$(grep -c "results.csv:1: the header is not this wmbench's" "$TMP/old.txt")" -eq 1

# distill queries the marked model once per attacker sample
sed -e '/^attacks:/,$d' "$TMP/out.yaml" >"$TMP/d.yaml"
printf 'attacks:\n  distill: {epochs: 1, attacker_data: 0.1}\n' >>"$TMP/d.yaml"
sed -i -e 's/^  adi: {}$//' -e 's/lambda: \[0.01, 0\]/lambda: 0.01/' "$TMP/d.yaml"
$WM run -q -o "$TMP/dd" "$TMP/d.yaml" >/dev/null 2>&1
check "distill's attack_queries: one per attacker sample it labelled" python3 - "$TMP/dd" <<'PY'
import csv, os, sys
rows = [r for r in csv.DictReader(open(os.path.join(sys.argv[1], "results.csv"))) if r["attack"] == "distill"]
assert rows and all(int(r["attack_queries"]) > 0 for r in rows), [r["attack_queries"] for r in rows]
assert len({r["attack_queries"] for r in rows}) == 1, rows
print("# distill attack_queries %s, verification queries %s" % (rows[0]["attack_queries"], rows[0]["queries"]))
PY
finish
