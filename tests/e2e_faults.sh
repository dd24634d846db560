#!/bin/bash
# Faults of the run directory (issue 18): a full disk, a read-only mount, a path
# through a file. Each gives a message with the errno text and the path; a full
# disk gives `failed` rows and --retry-failed completes the run with every
# earlier row intact. Needs mount(8) on tmpfs (root): skipped otherwise.
. tests/lib.sh
MNT=$TMP/mnt
mkdir -p "$MNT"
if ! mount -t tmpfs -o size=3m tmpfs "$MNT" 2>/dev/null; then
	echo "skip - tmpfs mounts need root (mount -t tmpfs failed)"
	exit 0
fi
trap 'umount "$MNT" 2>/dev/null; rm -rf "$TMP"' EXIT

# the reference: the same matrix on a disk with room
$MPIRUN -np 2 $WM run -q -o "$TMP/ref" jobs/ci.yaml >/dev/null 2>&1
rows "$TMP/ref/results.csv" >"$TMP/ref.rows"

# 1. a full disk: failed rows that name the cause, the run goes on to the end
$MPIRUN -np 2 $WM run -q -o "$MNT/r" jobs/ci.yaml >"$TMP/full.out" 2>&1
rc=$?
check "a full disk: exit 3 (some jobs failed), not a crash" test $rc -eq 3
check "a full disk: every job has a row" test "$(tail -n +2 "$MNT/r/results.csv" | cut -d, -f1 | sort -u | wc -l)" -eq "$(wc -l <"$TMP/ref.rows")"
check "a full disk: the failed rows name the cause" grep -q "No space left on device" "$MNT/r/results.csv"
cp "$MNT/r/results.csv" "$TMP/before.csv"
# every row that was ok before is kept as it was
python3 - "$TMP/before.csv" >"$TMP/ok.ids" <<'PY'
import csv, sys
print("\n".join(r["job_id"] for r in csv.DictReader(open(sys.argv[1])) if r["status"] == "ok"))
PY
mount -o remount,size=64m "$MNT"
$MPIRUN -np 2 $WM run -q --retry-failed -o "$MNT/r" jobs/ci.yaml >/dev/null 2>&1
check "a full disk, then room: --retry-failed completes the run" test $? -eq 0
rows "$MNT/r/results.csv" >"$TMP/r.rows"
check "a full disk, then room: the rows equal an undisturbed run" cmp -s "$TMP/ref.rows" "$TMP/r.rows"
lost=0
while read -r id; do
	grep -q "^$id,.*,ok," "$MNT/r/results.csv" || lost=$((lost + 1))
done <"$TMP/ok.ids"
check "a full disk: no row that was ok is lost ($(wc -l <"$TMP/ok.ids") kept)" test $lost -eq 0

# 2. a read-only mount: a new run directory, and resuming an existing one
mount -o remount,ro "$MNT"
$WM run -q -o "$MNT/new" jobs/ci.yaml 2>"$TMP/e1"
check "read-only, new run directory: exit 1" test $? -eq 1
check "read-only, new run directory: path and errno text" grep -q "$MNT/new: cannot create directory: Read-only file system" "$TMP/e1"
$WM run -q -o "$MNT/r" jobs/ci.yaml 2>"$TMP/e2"
check "read-only, existing run: exit 1" test $? -eq 1
check "read-only, existing run: path and errno text" grep -q "$MNT/r/.lock: .*Read-only file system" "$TMP/e2"
check "read-only: the finished rows are untouched" cmp -s "$TMP/r.rows" <(rows "$MNT/r/results.csv")

# 3. a run directory under a path that cannot exist (a component is a file)
: >"$TMP/afile"
$WM run -q -o "$TMP/afile/run" jobs/ci.yaml 2>"$TMP/e3"
check "a path through a file: exit 1" test $? -eq 1
check "a path through a file: path and errno text" grep -q "$TMP/afile/run: cannot create directory: Not a directory" "$TMP/e3"
# a missing parent is created, as mkdir -p does
$WM run -q -n -o "$TMP/no/such/dir" jobs/ci.yaml >/dev/null 2>&1
check "a missing parent: a dry run creates nothing" test ! -e "$TMP/no"
exit $nfail
