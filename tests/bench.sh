#!/bin/bash
# make bench: measures and prints; no pass/fail thresholds here beyond the
# goals printed next to each figure.
cd "$(dirname "$0")/.."
export OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
SECS=${BENCH_SECS:-3}
ROUNDS=${BENCH_ROUNDS:-3}
OUT=/tmp/wmbench_bench.$$
: >"$OUT"
have_torch=0
/usr/bin/python3 -c 'import torch' 2>/dev/null && have_torch=1
echo "== training throughput (one thread, batch 64; best of $ROUNDS alternating runs of ${SECS} s) =="
for r in $(seq 1 "$ROUNDS"); do
	build/tests/bench_train "$SECS" >>"$OUT"
	[ $have_torch = 1 ] && /usr/bin/python3 tests/bench_torch.py "$SECS" >>"$OUT"
done
grep -m1 '^sgemm' "$OUT"
best() { awk -v w="$1" -v a="$2" '$1==w && $2==a && $3>m {m=$3} END {print m+0}' "$OUT"; }
for a in mlp lenet5; do
	w=$(best wmbench $a)
	printf 'wmbench %-7s %9.0f samples/s\n' $a "$w"
	if [ $have_torch = 1 ]; then
		p=$(best pytorch $a)
		goal=1.2; [ $a = lenet5 ] && goal=2
		printf 'pytorch %-7s %9.0f samples/s\n' $a "$p"
		awk -v a=$a -v w="$w" -v p="$p" -v g=$goal \
			'BEGIN {printf "ratio %-7s wmbench/pytorch = %.2fx (goal %.1fx)\n", a, w / p, g}'
	fi
done
[ $have_torch = 1 ] || echo "pytorch: not installed (apt-get install python3-torch) - no comparison"
rm -f "$OUT"
[ -x tests/bench_sched.sh ] && bash tests/bench_sched.sh
exit 0
