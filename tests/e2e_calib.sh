#!/bin/bash
# Calibration (run.calibrate): the same trials on 1 and 3 ranks, the side
# files, report/calibration.csv, and resume after kill -9 and a lost side file.
. tests/lib.sh
sed -e 's/seeds: \[1, 2\]/seeds: [1]/' -e 's/train_subset: 6000/train_subset: 1500/' \
	-e 's/test_subset: 1000/test_subset: 500/' \
	-e 's/^  alpha: 1e-3$/  alpha: 1e-3\n  calibrate: {models: 2, keys: 20}/' \
	-e 's/^  uchida: .*/&\n  deepsigns-bb: {K: 5, ft_lr: 0.005, ft_epochs: 4}/' \
	-e '/prune/d' jobs/ci.yaml >"$TMP/cal.yaml"
# the calibration jobs only, without placement and timing columns
calrows() { rows "$1" | grep -E ',(calmodel|calowner|calibration),'; }

$WM run --dry-run "$TMP/cal.yaml" >"$TMP/dry" 2>&1
check "dry run lists 2 calmodel, 20 calowner and 4 calibration jobs" test \
	"$(grep -c ' calmodel ' "$TMP/dry") $(grep -c ' calowner ' "$TMP/dry") $(grep -c ' calibration ' "$TMP/dry")" = "2 20 4"

$WM run -q -o "$TMP/one" "$TMP/cal.yaml" >/dev/null 2>&1
check "the calibration run on 1 rank exits 0" test $? -eq 0
$MPIRUN -np 3 $WM run -q -o "$TMP/three" "$TMP/cal.yaml" >/dev/null 2>&1
check "the calibration run on 3 ranks exits 0" test $? -eq 0
check "the calibration jobs ran on both workers" test \
	"$(python3 -c '
import csv, sys
print(len({r["rank"] for r in csv.DictReader(open(sys.argv[1]))
           if r["kind"] in ("calowner", "calibration")}))' "$TMP/three/results.csv")" -eq 2
calrows "$TMP/one/results.csv" >"$TMP/one.rows"
calrows "$TMP/three/results.csv" >"$TMP/three.rows"
check "26 calibration rows" test "$(wc -l <"$TMP/one.rows")" -eq 26
check "calibration rows identical on 1 and 3 ranks" cmp -s "$TMP/one.rows" "$TMP/three.rows"
check "trial files identical on 1 and 3 ranks" diff -r "$TMP/one/calibration" "$TMP/three/calibration"
check "one trial file per calibration job" test "$(ls "$TMP/one/calibration" | wc -l)" -eq 4
bad=0
for f in "$TMP"/one/calibration/*.csv; do
	id=$(basename "$f" .csv)
	fp=$(python3 -c '
import csv, sys
print([r["detected"] for r in csv.DictReader(open(sys.argv[1])) if r["job_id"] == sys.argv[2]][-1])' \
		"$TMP/one/results.csv" "$id")
	n=$(($(wc -l <"$f") - 1))
	sum=$(awk -F, 'NR > 1 && $5 == 1 {s++} END {print s + 0}' "$f")
	[ "$n" -eq 20 ] && [ "$sum" = "$fp" ] || bad=1
done
check "each trial file holds 20 keys and the row's false positives" test $bad -eq 0
key1=$(for f in "$TMP"/one/calibration/*.csv; do sed -n 2p "$f"; done | sort | uniq | wc -l)
check "trial files differ between models and settings (fresh keys)" test "$key1" -ge 2

$WM report "$TMP/one" >/dev/null 2>&1
check "report exits 0" test $? -eq 0
c="$TMP/one/report/calibration.csv"
check "calibration.csv: a header and one row per scheme setting" test "$(wc -l <"$c" 2>/dev/null)" -eq 3
check "calibration.csv: 2 models x 20 keys = 40 trials per setting and a pass value" python3 - "$c" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert {r["scheme"] for r in rows} == {"uchida", "deepsigns-bb"}, rows
for r in rows:
    assert r["models"] == "2" and r["keys"] == "20" and r["trials"] == "40", r
    assert r["pass"] in ("yes", "no"), r
    assert float(r["fpr_ci95_low"]) <= float(r["fpr"]) <= float(r["fpr_ci95_high"]), r
    assert r["alpha"] == "0.001", r
    assert r["keys_from"] == ("owner models" if r["scheme"] == "deepsigns-bb" else "keygen"), r
PY

# a run that has not finished (a calibration row missing) gives no verdict
cp -r "$TMP/one" "$TMP/part" && rm -rf "$TMP/part/report"
first=$(grep -n ',calibration,' "$TMP/part/results.csv" | head -1 | cut -d: -f1)
sed -i "${first}d" "$TMP/part/results.csv"
$WM report "$TMP/part" >/dev/null 2>&1
check "a missing calibration row makes its setting incomplete, not pass" python3 - \
	"$TMP/part/report/calibration.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert sorted(r["pass"] == "incomplete" for r in rows) == [False, True], rows
PY

# the figure of null p-values: one ECDF per setting, the whole key, text on
# the page with the installed fonts and with DejaVu only (a bare Debian)
f="$TMP/one/report/calibration"
check "the null p-value figure is drawn (PDF, PNG, SVG)" \
	test -s "$f.pdf" -a -s "$f.png" -a -s "$f.svg" -a ! -e "$f.log"
check "its data has one block per setting, each ECDF ending at 1" python3 - "$f.dat" <<'PY'
import sys
blocks = [b for b in open(sys.argv[1]).read().split("\n\n\n") if "# line" in b]
assert len(blocks) == 2, len(blocks)
for b in blocks:
    pts = [tuple(map(float, l.split())) for l in b.splitlines() if l and not l.startswith("#")]
    assert pts and abs(pts[-1][1] - 1) < 1e-12, pts[-1:]
    assert all(a[0] <= b[0] and a[1] < b[1] for a, b in zip(pts, pts[1:]))
PY
check "its text lies on the page, nothing overlaps" /usr/bin/python3 tests/layout_check.py "$f.pdf"
cat >"$TMP/dejavu.conf" <<X
<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig><dir>/usr/share/fonts/truetype/dejavu</dir><cachedir>$TMP/fc</cachedir>
<include ignore_missing="yes">/etc/fonts/conf.d</include></fontconfig>
X
cp -r "$TMP/one" "$TMP/dv" && rm -rf "$TMP/dv/report"
FONTCONFIG_FILE="$TMP/dejavu.conf" $WM report "$TMP/dv" >/dev/null 2>&1
check "with DejaVu only too" sh -c "test ! -e '$TMP/dv/report/calibration.log' &&
	/usr/bin/python3 tests/layout_check.py '$TMP/dv/report/calibration.pdf'"

# kill -9 of mpirun in the middle, then the same command again
kill_when "$TMP/k" ',calowner,' 3 $MPIRUN -np 2 $WM run -q -o "$TMP/k" "$TMP/cal.yaml"
before=$(($(wc -l <"$TMP/k/results.csv") - 1))
check "the killed run had finished some but not all jobs ($before of 30)" test "$before" -ge 3 -a "$before" -lt 30
$MPIRUN -np 2 $WM run -q -o "$TMP/k" "$TMP/cal.yaml" >/dev/null 2>&1
check "resume exits 0" test $? -eq 0
calrows "$TMP/k/results.csv" >"$TMP/k.rows"
check "resumed calibration rows equal an uninterrupted run" cmp -s "$TMP/one.rows" "$TMP/k.rows"
check "resumed trial files equal an uninterrupted run" diff -r "$TMP/one/calibration" "$TMP/k/calibration"
check "no job finished twice" test "$(cut -d, -f1 "$TMP/k/results.csv" | sort | uniq -d | wc -l)" -eq 0

# a lost trial file makes its job run again; a lost owner key, its owner job
cp -r "$TMP/one" "$TMP/lost"
f=$(ls "$TMP/lost/calibration" | head -1)
rm "$TMP/lost/calibration/$f" "$(ls "$TMP"/lost/keys/*.npz | head -1)"
$WM run -q -o "$TMP/lost" "$TMP/cal.yaml" >/dev/null 2>&1
check "a run with a lost trial file and owner key resumes" test $? -eq 0
calrows "$TMP/lost/results.csv" >"$TMP/lost.rows"
check "the lost trial file is written again, identical" cmp -s "$TMP/one/calibration/$f" "$TMP/lost/calibration/$f"
check "rows after redoing lost files equal an uninterrupted run" cmp -s "$TMP/one.rows" "$TMP/lost.rows"

# owner models that fail to embed: the calibration jobs verify the keys of the
# owners that did (tests/plugins/test_flaky.c fails some owners by design)
WMP=build/tests/wmbench-plugin
cat >"$TMP/flaky.yaml" <<'Y'
run:
  name: flaky
  dataset: fashion
  model: mlp
  epochs: 1
  seeds: [1]
  train_subset: 1500
  test_subset: 300
  calibrate: {models: 2, keys: 5, owners: 20}
schemes:
  test_flaky: {}
attacks:
  identity: {}
Y
$MPIRUN -np 2 $WMP run -q -o "$TMP/fl" "$TMP/flaky.yaml" >/dev/null 2>&1
check "a calibration run with failing owner models exits (not 0: jobs failed)" test $? -ne 0
$WM report "$TMP/fl" >/dev/null 2>&1 # the report needs no plug-in code
check "its report exits 0 and draws the null p-values" test $? -eq 0 -a -s "$TMP/fl/report/calibration.pdf"
check "the calibration jobs ran on the owners that embedded, and say which did not" python3 - "$TMP/fl" <<'PY'
import csv, os, sys
d = sys.argv[1]
rows = {r["job_id"]: r for r in csv.DictReader(open(os.path.join(d, "results.csv")))}.values()
owners = [r for r in rows if r["kind"] == "calowner"]
failed = sorted(int(r["seed"]) for r in owners if r["status"] == "failed")
ok = len(owners) - len(failed)
print("# %d of %d owners failed: %s" % (len(failed), len(owners), failed))
assert len(owners) == 20 and 0 < len(failed) < 20, failed
cal = [r for r in rows if r["kind"] == "calibration"]
assert len(cal) == 2 and all(r["status"] == "ok" for r in cal), cal
for r in cal:
    assert ("%d of 20 owner keys verified" % ok) in r["message"], r["message"]
    t = list(csv.DictReader(open(os.path.join(d, "calibration", r["job_id"] + ".csv"))))
    assert len(t) == 20 and sorted(int(x["key"]) for x in t if x["detected"] == "-1") == failed
    assert abs(float(r["metric"]) * ok - int(r["detected"])) < 1e-9, r
c = list(csv.DictReader(open(os.path.join(d, "report", "calibration.csv"))))
assert len(c) == 1 and c[0]["trials"] == str(2 * ok) and c[0]["pass"] in ("yes", "no"), c
PY
calrows "$TMP/fl/results.csv" >"$TMP/fl.rows"
$MPIRUN -np 2 $WMP run -q -o "$TMP/fl" "$TMP/flaky.yaml" >/dev/null 2>&1
calrows "$TMP/fl/results.csv" >"$TMP/fl2.rows"
check "resuming it runs nothing again and changes no row" cmp -s "$TMP/fl.rows" "$TMP/fl2.rows"

# a trial file cut short (a full disk, a partial copy) is redone too
cp -r "$TMP/one" "$TMP/cut"
f=$(ls "$TMP/cut/calibration" | tail -1)
head -c -7 "$TMP/one/calibration/$f" >"$TMP/cut/calibration/$f"
$WM run -q -o "$TMP/cut" "$TMP/cal.yaml" >/dev/null 2>&1
check "a trial file cut mid-line is written again, identical" cmp -s "$TMP/one/calibration/$f" \
	"$TMP/cut/calibration/$f"
head -n 5 "$TMP/one/calibration/$f" >"$TMP/cut/calibration/$f"
$WM run -q -o "$TMP/cut" "$TMP/cal.yaml" >/dev/null 2>&1
check "a trial file missing whole lines is written again, identical" cmp -s \
	"$TMP/one/calibration/$f" "$TMP/cut/calibration/$f"
finish
