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
    for k in ("rank", "host", "wall_s", "peak_rss_kb", "train_s", "cpu_s"):
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
# verify_embeds DIR [PYTHON]: `wmbench verify` on every ok embed of run DIR, from its
# model and key file alone, must repeat the run's metric, p-value and decision
# (exit 0 iff detected); PYTHON, if given, runs with the printed lines in `kv`
# (further assertions). Returns 1, naming the failing embeds, if any differ.
verify_embeds() {
	local dir=$1 extra=${2:-} bad=0 id scheme metric pvalue detected out rc
	while IFS=, read -r id scheme metric pvalue detected; do
		out=$($WM verify --model "$dir/models/$id.npz" --key "$dir/keys/$id.npz" 2>&1)
		rc=$?
		python3 - "$out" "$metric" "$pvalue" "$detected" "$rc" "$extra" <<'PY' ||
import sys
out, metric, pvalue, detected, rc, extra = sys.argv[1:]
kv = dict(l.split(": ", 1) for l in out.splitlines() if ": " in l)
m = float(kv.get("ber", kv.get("wm_acc", "nan")))
p = float(kv["p-value"])
assert abs(m - float(metric)) <= 1e-5 * max(1, abs(m)), (m, metric)
assert abs(p - float(pvalue)) <= 1e-5 * max(p, 1e-300), (p, pvalue)
assert (int(rc) == 0) == (detected == "1"), (rc, detected)
exec(extra)
PY
			{
				echo "# $scheme: $out"
				bad=1
			}
	done < <(python3 -c '
import csv, sys
for r in csv.DictReader(open(sys.argv[1])):
    if r["kind"] == "embed" and r["status"] == "ok":
        print(",".join((r["job_id"], r["scheme"], r["metric"], r["pvalue"], r["detected"])))' \
		"$dir/results.csv")
	return $bad
}
finish() { exit $((nfail > 0)); }
