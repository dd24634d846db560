#!/bin/bash
# The empirical null (README "Empirical null") through the whole program: a job
# file whose scheme needs one and has too few controls is refused before any
# work; on the ci matrix with 5 controls, each embed of zhang-content and
# frontier stores a fit of 5 control counts in its key, the control models are
# trained once per seed and shared by both schemes, the marked models are
# detected and the controls are not, and `wmbench verify` repeats every
# embed's decision from the model and the key alone.
. tests/lib.sh
sed -e 's/seeds: \[1, 2\]/seeds: [1]/' \
	-e 's/^  alpha: 1e-3$/  alpha: 1e-3\n  controls: 2/' \
	-e 's/^  uchida: .*/  zhang-content: {}\n  frontier: {}/' \
	-e '/prune/d' jobs/ci.yaml >"$TMP/few.yaml"
$WM run --dry-run "$TMP/few.yaml" >"$TMP/few.txt" 2>&1
check "too few controls for an empirical null: refused before any work (exit 1)" \
	test $? -eq 1
check "... naming the file, the scheme's line, run.controls and the minimum" \
	grep -q "few.yaml:[0-9]*:[0-9]*: scheme zhang-content decides by an empirical null .* run.controls is 2; expected run.controls >= 5" "$TMP/few.txt"
sed -e 's/controls: 2/controls: 5/' "$TMP/few.yaml" >"$TMP/nf.yaml"
$MPIRUN -np 3 $WM run -q -o "$TMP/r" "$TMP/nf.yaml" >"$TMP/run.log" 2>&1
check "the run exits 0" test $? -eq 0
check "5 control models for the one seed, trained once by ctlmodel jobs, shared by both schemes" \
	test "$(ls "$TMP/r/models/" | grep -c '^control-')" -eq 5 -a \
	"$(grep -c ',ctlmodel,.*,ok,' "$TMP/r/results.csv")" -eq 5
check "embeds detected with the fitted null (zhang-content: rank bound 1/6 in aux); controls not" \
	python3 - "$TMP/r/results.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
emb = [r for r in rows if r["kind"] == "embed"]
ctl = [r for r in rows if r["kind"] == "control"]
print("# embed: " + "; ".join("%s %s %s p %s aux %s" % (r["scheme"], r["status"], r["metric"],
      r["pvalue"], r["aux"]) for r in emb))
assert len(emb) == 2 and all(r["status"] == "ok" for r in emb), emb
for r in emb:
    assert r["detected"] == "1" and float(r["pvalue"]) < 1e-3, r
    if r["scheme"] == "zhang-content":
        assert abs(float(r["aux"]) - 1 / 6) < 1e-9, r
assert {r["scheme"] for r in emb} == {"zhang-content", "frontier"}, emb
assert len(ctl) == 10 and all(r["detected"] == "0" for r in ctl), ctl
PY
check "each key holds the 5 control counts and the fit" python3 - "$TMP/r" <<'PY'
import csv, io, os, sys, zipfile, struct
d = sys.argv[1]
for r in csv.DictReader(open(os.path.join(d, "results.csv"))):
    if r["kind"] != "embed":
        continue
    z = zipfile.ZipFile(os.path.join(d, "keys", r["job_id"] + ".npz"))
    names = set(z.namelist())
    assert {"null.counts.npy", "null.fit.npy"} <= names, names
    raw = z.read("null.fit.npy")
    hl = struct.unpack("<H", raw[8:10])[0]
    fit = struct.unpack("<6d", raw[10 + hl:10 + hl + 48])
    assert fit[0] == 5, fit
PY
check "wmbench verify repeats each embed's decision from the key's stored fit" verify_embeds "$TMP/r"

# Resume of a run stopped before its embeds: the control models on disk are
# not trained again (their ctlmodel rows stay single); one that is gone is.
rows "$TMP/r/results.csv" >"$TMP/r.rows"
cp -r "$TMP/r" "$TMP/s"
awk -F, 'NR == 1 || ($3 != "embed" && $3 != "control" && $3 != "attack")' \
	"$TMP/r/results.csv" >"$TMP/s/results.csv"
lost=$(ls "$TMP/s/models/" | grep '^control-' | head -1)
rm "$TMP/s/models/$lost"
$WM run -q -o "$TMP/s" "$TMP/nf.yaml" >"$TMP/s.log" 2>&1
rc=$?
check "a run stopped before its embeds resumes (exit 0)" test $rc -eq 0
check "... training again only the control model whose file is gone (6 ctlmodel rows: 5 + 1)" \
	test "$(grep -c ',ctlmodel,' "$TMP/s/results.csv")" -eq 6 -a -f "$TMP/s/models/$lost"
rows "$TMP/s/results.csv" >"$TMP/s.rows"
check "... and its rows equal the uninterrupted run's" cmp -s "$TMP/r.rows" "$TMP/s.rows"
# With a scheme that needs no null beside one that does, every embed waits
# for the seed's control models: the non-fit scheme's control jobs would else
# train a control model first (uncounted) and leave its ctlmodel job a cached
# model, so that the ctlmodel rows' forward and backward followed the schedule.
# Each of the 5 ctlmodel rows counts the training (1 epoch of the owner's
# 4,000 images) and the test accuracy (1,000), on 1 rank and on 3.
sed -e 's/^  frontier: {}/  uchida: {bits: 32}/' "$TMP/nf.yaml" >"$TMP/mix.yaml"
$WM run -q -o "$TMP/m1" "$TMP/mix.yaml" >/dev/null 2>&1
$MPIRUN -np 3 $WM run -q -o "$TMP/m3" "$TMP/mix.yaml" >/dev/null 2>&1
for d in m1 m3; do
	check "$d: every ctlmodel row counts its control model's training" python3 - "$TMP/$d/results.csv" <<'PY'
import csv, sys
r = [x for x in csv.DictReader(open(sys.argv[1])) if x["kind"] == "ctlmodel"]
print("# ctlmodel forward/backward: " + " ".join(x["forward"] + "/" + x["backward"] for x in r))
sys.exit(not (len(r) == 5 and all(x["forward"] == "5000" and x["backward"] == "4000" for x in r)))
PY
done
rows "$TMP/m1/results.csv" >"$TMP/m1.rows"
rows "$TMP/m3/results.csv" >"$TMP/m3.rows"
check "... and the same rows on 1 and 3 ranks" cmp -s "$TMP/m1.rows" "$TMP/m3.rows"
finish
