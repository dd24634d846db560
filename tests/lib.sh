# Shared helpers for the whole-program tests: TAP-like "ok"/"not ok" lines.
export OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
WM=${WM:-./wmbench}
MPIRUN="mpirun --oversubscribe"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
nfail=0
ok() { echo "ok - $*"; }
notok() { echo "not ok - $*"; nfail=$((nfail + 1)); }
check() { # check "description" command...
	local d=$1
	shift
	if "$@"; then ok "$d"; else notok "$d"; fi
}
# rows of a results.csv sorted by job id, without placement and timing columns
rows() {
	python3 - "$1" <<'PY'
import csv, sys
rows = {}
for r in csv.DictReader(open(sys.argv[1])):
    for k in ("rank", "host", "wall_s", "peak_rss_kb", "train_s"):
        r.pop(k)
    rows[r["job_id"]] = r  # the last row of a job wins
for k in sorted(rows):
    print(",".join(rows[k].values()))
PY
}
# kill_when DIR PATTERN N CMD...: starts CMD (a `wmbench run -q -o DIR` under
# mpirun) in the background and kill -9s it and its ranks once DIR/results.csv
# has N lines matching PATTERN (grep -c), or after 30 s.
kill_when() {
	local dir=$1 pat=$2 min=$3 pid n
	shift 3
	"$@" >/dev/null 2>&1 &
	pid=$!
	for _ in $(seq 1 600); do
		n=$(grep -c -- "$pat" "$dir/results.csv" 2>/dev/null)
		[ "${n:-0}" -ge "$min" ] && break
		sleep 0.05
	done
	kill -9 $pid 2>/dev/null
	wait $pid 2>/dev/null
	pkill -9 -f "wmbench run -q -o $dir" 2>/dev/null
	sleep 0.5
}
finish() { exit $((nfail > 0)); }
