#!/bin/bash
# wmbench report on a real run of jobs/ci.yaml: figures, CSVs readable by pandas
# with no options (when pandas is installed), a bundle with relative paths only.
. tests/lib.sh
$WM run -q -o "$TMP/ci" jobs/ci.yaml >/dev/null 2>&1
$WM report --bundle "$TMP/ci" >"$TMP/out" 2>&1
check "report exits 0" test $? -eq 0
for f in robustness_prune tradeoff success_heatmap; do
	check "$f: PDF passes pdfinfo, PNG and SVG exist" sh -c \
		"pdfinfo $TMP/ci/report/$f.pdf >/dev/null && [ -s $TMP/ci/report/$f.png ] && [ -s $TMP/ci/report/$f.svg ]"
done
check "report.md lists the figures and the provenance" sh -c \
	"grep -q robustness_prune.png $TMP/ci/report/report.md && grep -q 'job file SHA-256' $TMP/ci/report/report.md"
check "the bundle holds only relative paths under ci/" sh -c \
	"tar tzf $TMP/ci.tar.gz | grep -qv '^ci/' && exit 1; ! tar tzf $TMP/ci.tar.gz | grep -q '\\.\\.'"
check "summary.csv: uchida prune 0.9 has n = 2 seeds" \
	grep -q '^uchida,[^,]*,prune,rate=0.9;scope=layer,attack,2,0,' "$TMP/ci/report/summary.csv"
if /usr/bin/python3 -c 'import pandas' 2>/dev/null; then
	check "pandas reads summary.csv and results.csv with no options" /usr/bin/python3 -c "
import pandas as pd
s = pd.read_csv('$TMP/ci/report/summary.csv'); r = pd.read_csv('$TMP/ci/results.csv')
assert len(r) == 16 and r['job_id'].is_unique
assert s['n'].dtype.kind == 'i' and s['metric_mean'].dtype.kind == 'f'
u = s[(s.scheme == 'uchida') & (s.attack == 'identity')].acc_mean.iloc[0]
assert abs(u - r[(r.scheme == 'uchida') & (r.attack == 'identity')].acc.mean()) < 1e-12"
else
	echo "skip - pandas check: python3-pandas is not installed"
fi
# an installed binary finds its gnuplot templates under PREFIX/share/wmbench
make --no-print-directory install PREFIX="$TMP/inst" >/dev/null 2>&1
check "make install puts the binary, job files and templates under PREFIX" sh -c \
	"[ -x $TMP/inst/bin/wmbench ] && [ -s $TMP/inst/share/wmbench/jobs/quick.yaml ] && [ -s $TMP/inst/share/wmbench/jobs/papers/uchida_pruning.yaml ] && [ -s $TMP/inst/share/wmbench/reports/robustness.gp ]"
rm -rf "$TMP/ci/report"
(cd / && "$TMP/inst/bin/wmbench" report "$TMP/ci" >/dev/null 2>&1)
check "the installed binary draws the figures from another directory" test -s "$TMP/ci/report/tradeoff.png"
finish
