#!/usr/bin/env python3
"""The dry run's cost model against a finished run.

usage: cost_check.py DRY RUNDIR [--exact] [--tolerance F] [--approx-forward P,P...]

DRY is `wmbench run --dry-run` of the job file RUNDIR ran. For every ok row
whose job the dry run counts in samples (est_fwd, est_bwd), the predicted
samples are compared with the row's forward and backward columns, and the
estimated CPU seconds with cpu_s (the work's own: an attack row's leaves out
the evaluation and verification that the estimate includes) and with the
whole job's wall_s, summed by kind and plug-in. Prints the
table; with --exact, exits 1 when a row's samples differ from the prediction
by more than the tolerance (default 0: exactly), naming the job. The
forward samples of the plug-ins named by --approx-forward (PLUGIN, or
KIND:PLUGIN for one kind of job) are estimates by design (class counts of
the data, an attacker's key's verification, ...): shown, not checked.
"""
import csv
import sys
from collections import defaultdict


def dry(path):
    """Per job line of a dry run, in order: (id, kind, attack name ('' for
    none), estimated CPU s, predicted forward, predicted backward), the
    samples None where the dry run prints '-'."""
    jobs = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if line.startswith('#') or not line.strip():
                continue
            c = line.split()
            if len(c) != 9:
                sys.exit(f'{path}:{n}: expected 9 columns (job kind parent seed scheme attack '
                         f'est_cpu_s est_fwd est_bwd), got {len(c)}')
            attack = c[5].split('{')[0]
            known = c[7] != '-'
            jobs.append((c[0], c[1], '' if attack == '-' else attack, float(c[6]),
                         float(c[7]) if known else None, float(c[8]) if known else None))
    return jobs


def main():
    args = sys.argv[1:]
    exact = '--exact' in args
    tol = 0.0
    if '--tolerance' in args:
        i = args.index('--tolerance')
        tol = float(args[i + 1])
        del args[i:i + 2]
    approx = set()
    if '--approx-forward' in args:
        i = args.index('--approx-forward')
        approx = set(args[i + 1].split(','))
        del args[i:i + 2]
    args = [a for a in args if a != '--exact']
    if len(args) != 2:
        sys.exit(__doc__.strip().splitlines()[2])
    est = {j[0]: j[1:] for j in dry(args[0])}
    path = args[1] + '/results.csv'
    bad, agg, seen = [], defaultdict(lambda: [0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]), 0
    with open(path) as f:
        for r in csv.DictReader(line for line in f if not line.startswith('#')):
            j = est.get(r['job_id'])
            if not j or r['status'] != 'ok':
                continue
            seen += 1
            kind, _, cpu, pf, pb = j
            plug = r['attack'] if kind == 'attack' else r['scheme'] if kind != 'train' else ''
            a = agg[(kind, plug)]
            a[0] += 1
            a[1] += cpu
            a[2] += float(r['cpu_s'] or 0)
            a[7] += float(r['wall_s'] or 0)
            if pf is None:
                continue
            mf, mb = float(r['forward'] or 0), float(r['backward'] or 0)
            a[3] += pf
            a[4] += mf
            a[5] += pb
            a[6] += mb
            for what, p, m in (('forward', pf, mf), ('backward', pb, mb)):
                if what == 'forward' and (plug in approx or f'{kind}:{plug}' in approx):
                    continue
                if abs(p - m) > tol * max(p, m):
                    bad.append(f'{path}: job {r["job_id"]} ({kind} {plug} '
                               f'{r["attack_params"] if kind == "attack" else r["scheme_params"]}): '
                               f'{what} {m:.0f} samples, predicted {p:.0f}')
    if not seen:
        sys.exit(f'{path}: no ok row matches a job of {args[0]}; expected the run of that job file')
    print('| kind | plug-in | rows | est. CPU s | cpu_s | cpu_s / est. | wall_s | wall_s / est. '
          '| forward pred./meas. | backward pred./meas. |')
    print('|---|---|---|---|---|---|---|---|---|---|')
    tot = [0.0, 0.0, 0.0]
    for (kind, plug), a in sorted(agg.items(), key=lambda kv: -kv[1][2]):
        tot[0] += a[1]
        tot[1] += a[2]
        tot[2] += a[7]
        ratio = a[2] / a[1] if a[1] else float('nan')
        wr = a[7] / a[1] if a[1] else float('nan')
        fw = '%.3f' % (a[3] / a[4]) if a[4] else ('exact (0)' if a[3] == 0 else '-')
        bw = '%.3f' % (a[5] / a[6]) if a[6] else ('exact (0)' if a[5] == 0 else '-')
        print(f'| {kind} | {plug or "-"} | {a[0]} | {a[1]:.1f} | {a[2]:.1f} | {ratio:.2f} | '
              f'{a[7]:.1f} | {wr:.2f} | {fw} | {bw} |')
    print(f'| all | | {seen} | {tot[0]:.0f} | {tot[1]:.0f} | {tot[1] / tot[0]:.2f} | '
          f'{tot[2]:.0f} | {tot[2] / tot[0]:.2f} | | |')
    for b in bad[:50]:
        print(b, file=sys.stderr)
    if bad:
        print(f'{len(bad)} predictions off by more than {tol:g}', file=sys.stderr)
        if exact:
            sys.exit(1)


if __name__ == '__main__':
    main()
