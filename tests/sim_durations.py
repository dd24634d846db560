#!/usr/bin/env python3
"""Per-job durations for the coordinator simulation (tests/bench_coord_sim.sh).

usage: sim_durations.py MEASURED_DRY TIMES.csv TARGET_DRY

MEASURED_DRY is `wmbench run --dry-run` of the job file that was run,
TIMES.csv its measured rows (tests/fixtures/robustness_times.csv: job_id,
kind, attack, status, wall_s), TARGET_DRY the dry run of the study to simulate.
Prints one duration in seconds per job of TARGET_DRY, in its order.

The cost model's estimates (the dry run's est_cpu_s) are off by a factor that
depends on the kind of job and on the machine and engine the measured run
used, so each target job gets its estimate times the measured/estimated
ratio of the same kind and attack in the measured run, else of the same kind,
else of all jobs. On stderr: the ratios used.
"""
import csv
import sys
from collections import defaultdict

import cost_check  # tests/: its dry-run parser


def dry_jobs(path):
    """(id, kind, attack name, estimated s) per job line of a dry run."""
    return [j[:4] for j in cost_check.dry(path)]


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__.strip().splitlines()[2])
    est = {j[0]: j for j in dry_jobs(sys.argv[1])}
    by_key, by_kind, every = defaultdict(lambda: [0.0, 0.0]), defaultdict(lambda: [0.0, 0.0]), [0.0, 0.0]
    matched = 0
    with open(sys.argv[2]) as f:
        for r in csv.DictReader(line for line in f if not line.startswith('#')):
            if r['job_id'] not in est or not r['wall_s']:
                continue
            _, kind, attack, e = est[r['job_id']]
            w = float(r['wall_s'])
            matched += 1
            for acc in (by_key[(kind, attack)], by_kind[kind], every):
                acc[0] += w
                acc[1] += e
    if not matched:
        sys.exit(f'{sys.argv[2]}: no row matches a job of {sys.argv[1]}; expected the '
                 'rows of that job file\'s run')
    ratio = lambda a: a[0] / a[1] if a[1] > 0 else None
    used = defaultdict(int)
    for _, kind, attack, e in dry_jobs(sys.argv[3]):
        for key, acc in (((kind, attack), by_key.get((kind, attack))),
                         ((kind, '*'), by_kind.get(kind)), (('*', '*'), every)):
            if acc and ratio(acc):
                used[key] += 1
                print(f'{e * ratio(acc):.6f}')
                break
    print(f'sim_durations: {matched} measured rows; ratio measured/estimated by kind: ' +
          ', '.join(f'{k} {ratio(a):.2f}' for k, a in sorted(by_kind.items())) +
          f'; jobs timed by kind+attack {sum(v for k, v in used.items() if k[1] != "*")}, '
          f'by kind {sum(v for k, v in used.items() if k[0] != "*" and k[1] == "*")}, '
          f'by the overall ratio {used[("*", "*")]}', file=sys.stderr)


if __name__ == '__main__':
    main()
