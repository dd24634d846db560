#!/bin/bash
# The layer check (tests/check_layers.py): first on a copy of the tree with
# deliberately bad includes, which it must name by file and line; then on the
# tree itself, one "ok"/"not ok" line per layer or broken rule.
# Run by `make layers`, and by tests/run_all.sh when CHECK_LAYERS=1.
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh

mkdir -p "$TMP/tree"
cp -r workers schemes attacks harness reports "$TMP/tree/"
# inserts an include as line 2 of a file of the copy
bad() { sed -i "2i #include \"$2\"" "$TMP/tree/$1"; }
bad workers/nn.c ../schemes/scheme.h
bad schemes/none.c ../attacks/attack.h
bad attacks/identity.c ../harness/runner.h
bad workers/util.c ../harness/job.h
bad harness/journal.c ../reports/report.c
bad reports/report.h ../workers/nn.h
bad schemes/uchida.c ../schemes/no_such.h
python3 tests/check_layers.py "$TMP/tree" >"$TMP/bad.out"
rc=$?
check "the check fails on a tree with bad includes" test $rc = 1
for want in "workers/nn.c:2: engine includes schemes/scheme.h" \
	"schemes/none.c:2: schemes includes attacks/attack.h" \
	"attacks/identity.c:2: attacks includes harness/runner.h (harness)" \
	"workers/util.c:2: engine includes harness/job.h (harness)" \
	"harness/journal.c:2: harness includes reports/report.c (reports)" \
	"reports/report.h:2: reports includes workers/nn.h (engine)" \
	"schemes/uchida.c:2: schemes includes \"../schemes/no_such.h\", which is no file"; do
	check "it names $want" grep -qF "not ok - $want" "$TMP/bad.out"
done
check "it reports nothing else on the bad tree" \
	test "$(grep -c '^not ok' "$TMP/bad.out")" = "$(($(grep -c '^not ok' <(python3 tests/check_layers.py)) + 7))"

# the tree itself
python3 tests/check_layers.py >"$TMP/tree.out"
cat "$TMP/tree.out"
nfail=$((nfail + $(grep -c '^not ok' "$TMP/tree.out")))
finish
