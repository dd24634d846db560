#!/usr/bin/python3
"""compare_results.py - are two runs' results the same?

usage: compare_results.py A/results.csv B/results.csv

Compares the rows of two results.csv files by job id, ignoring the columns
that describe where and how long a job ran (train_s, cpu_s, rank, host, wall_s,
peak_rss_kb). A job listed twice (after --retry-failed) counts with its last
row. Prints the number of rows compared and every difference (job id,
column, both values); exits 0 when the results are identical, 1 when not,
2 when a file cannot be read or the two have different columns.
"""
import csv
import sys

IGNORED = {"train_s", "cpu_s", "rank", "host", "wall_s", "peak_rss_kb"}


def load(path):
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            rows = {r["job_id"]: r for r in reader}
            return reader.fieldnames or [], rows
    except (OSError, KeyError, csv.Error) as e:
        print(f"compare_results: {path}: {e}", file=sys.stderr)
        sys.exit(2)


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    cols_a, a = load(sys.argv[1])
    cols_b, b = load(sys.argv[2])
    added = [c for c in cols_b if c not in cols_a]
    if [c for c in cols_b if c in cols_a] != cols_a:
        # a column dropped or moved: the files do not describe the same thing
        print(f"compare_results: the columns differ:\n  {cols_a}\n  {cols_b}", file=sys.stderr)
        return 2
    if added:
        # a change that adds columns (cost columns, say) keeps the old ones comparable
        print(f"compare_results: columns added in {sys.argv[2]} (not compared): "
              + ", ".join(added))
    if not a or not b:
        print("compare_results: no rows in " + (sys.argv[1] if not a else sys.argv[2]),
              file=sys.stderr)
        return 2
    cols = [c for c in cols_a if c not in IGNORED]
    diffs = []
    for jid in sorted(set(a) | set(b)):
        if jid not in b:
            diffs.append(f"{jid}: only in {sys.argv[1]}")
        elif jid not in a:
            diffs.append(f"{jid}: only in {sys.argv[2]}")
        else:
            diffs += [f"{jid} {c}: {a[jid][c]!r} vs {b[jid][c]!r}"
                      for c in cols if a[jid][c] != b[jid][c]]
    for d in diffs[:50]:
        print(d)
    if len(diffs) > 50:
        print(f"... and {len(diffs) - 50} more differences")
    print(f"{len(a)} and {len(b)} jobs; {len(cols)} columns compared "
          f"(ignored: {', '.join(sorted(IGNORED))}); "
          + ("identical" if not diffs else f"{len(diffs)} differences"))
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
