#!/bin/bash
# make bench: measures and prints; no pass/fail thresholds here beyond the
# goals printed next to each figure.
cd "$(dirname "$0")/.."
export OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
SECS=${BENCH_SECS:-3}
echo "== training throughput (one thread, batch 64) =="
build/tests/bench_train "$SECS" | tee /tmp/wmbench_bench.$$
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
	/usr/bin/python3 tests/bench_torch.py "$SECS" | tee -a /tmp/wmbench_bench.$$
	for a in mlp lenet5; do
		w=$(awk -v a=$a '$1=="wmbench" && $2==a {print $3}' /tmp/wmbench_bench.$$)
		p=$(awk -v a=$a '$1=="pytorch" && $2==a {print $3}' /tmp/wmbench_bench.$$)
		goal=1.2; [ $a = lenet5 ] && goal=2
		awk -v a=$a -v w="$w" -v p="$p" -v g=$goal \
			'BEGIN {printf "ratio %-7s wmbench/pytorch = %.2fx (goal %.1fx)\n", a, w / p, g}'
	done
else
	echo "pytorch: not installed (apt-get install python3-torch) - no comparison"
fi
rm -f /tmp/wmbench_bench.$$
[ -x tests/bench_sched.sh ] && bash tests/bench_sched.sh
exit 0
