#!/usr/bin/env python3
"""The robustness SoK's verdict table (Lukas et al., IEEE S&P 2022), regenerated
from a wmbench run (make sok, make sok-small; README "The SoK's table").

  sok.py RUNDIR > docs/sok.md
  sok.py --self-test

The SoK's rule (ATTACKS-MORE.md section 1, from the WRT code):
- threshold: the null models' matched counts (here: each scheme setting's
  owner key verified on the run's unmarked control models, matches = wm_acc x
  trigger-set size or (1 - BER) x bits) get one normal fitted (mean, MLE sd);
  the threshold count is the smallest integer whose normal CDF reaches 1 - p,
  p = 0.05; t = threshold / key length, rounded UP to two decimals;
- normalised watermark accuracy n(x) = max(0, 1/2 + (x - t) / (2 (1 - t))), x the
  matched fraction after the attack; t maps to 0.5, a perfect key to 1;
- success: n < 0.5 and |stealing loss| < 0.05, the loss measured from the
  marked model's test accuracy;
- equilibrium per scheme and category: the attacker's payoff is 10000 acc - n
  for a success, acc - n otherwise; the scheme picks the parameter set that
  minimises the attacker's best payoff; the point is the attacker's best
  attack against it. Means over seeds decide; the interval is over seeds.
wmbench's own verdict beside it: the `success` column (removed at the run's
calibrated alpha, under 5 points lost) of the same scheme setting, any attack
of the category, on the majority of seeds."""
import csv
import json
import math
import os
import sys
from collections import defaultdict

from stats import mean, num, t_interval

before_scheme = {}  # embed job id -> its scheme

# The SoK's equilibrium n on CIFAR-10 (ATTACKS-MORE.md section 2, decoded from
# WRT's radar-plot PDF); "DeepSigns" is the white-box scheme and its 0.03 is
# hard-coded in the plotting script, not data.
SOK = {
    "adi": (0.498, 0.494, 0.458),
    "zhang-content": (0.847, 0.473, 0.462),
    "zhang-noise": (0.343, 0.180, 0.020),
    "zhang-unrelated": (0.659, 0.500, 0.482),
    "ewe": (0.548, 0.495, 0.495),
    "frontier": (0.000, 0.337, 0.402),
    "blackmarks": (0.304, 0.000, 0.000),
    "uchida": (1.000, 0.000, 0.274),
    "deepmarks": (1.000, 0.185, 0.292),
    "deepsigns": (0.03, 0.03, 0.03),
    "dawn": (0.482, 0.482, 0.482),
}
SOK_NOTE = {"deepsigns": "hard-coded 0.03 in WRT's plotting script, not data",
            "zhang-unrelated": "MM exactly at the threshold (0.500): not a success"}
ORDER = ["adi", "zhang-content", "zhang-noise", "zhang-unrelated", "ewe", "frontier",
         "blackmarks", "uchida", "deepmarks", "deepsigns", "dawn", "nullembed", "gradsigns",
         "deepsigns-bb"]
CATS = [("IP", "input pre-processing"), ("MM", "model modification"),
        ("ME", "model extraction"), ("OP", "output")]


def phi(z):
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def sok_threshold(counts, length, p=0.05):
    """t from the null models' matched counts (one normal, MLE sd)."""
    m = sum(counts) / len(counts)
    sd = math.sqrt(sum((c - m) ** 2 for c in counts) / len(counts))
    c = 0
    while c <= length and (phi((c - m) / sd) if sd > 0 else float(c >= m)) < 1 - p:
        c += 1
    return math.ceil(round(100 * c / length, 9)) / 100


def normalise(x, t):
    if t >= 1:
        return 0.0 if x < 1 else 1.0
    return max(0.0, 0.5 + (x - t) / (2 * (1 - t)))


def matched(r):
    """Matched fraction of a row: wm_acc, or 1 - BER."""
    v = num(r["metric"])
    if v is None:
        return None
    return 1 - v if r["metric_name"] == "ber" else v


def interval(xs):
    """mean and a 95 % t interval over seeds (the range for two), cut to
    [0, 1], the range of n."""
    iv = t_interval(xs)
    if iv is None:
        return None, None, None
    m, lo, hi = iv
    return m, max(0.0, lo), min(1.0, hi)


def load(rundir):
    rows = {}
    with open(os.path.join(rundir, "results.csv"), newline="") as f:
        for r in csv.DictReader(f):
            rows[r["job_id"]] = r
    return [r for r in rows.values() if r["status"] == "ok"]


def categories(rundir):
    with open(os.path.join(rundir, "run.json")) as fh:
        js = json.load(fh)
    return {p["name"]: p.get("category") for p in js.get("plugins", []) if p.get("kind") == "attack"}


def table(rundir):
    return table_of(load(rundir), categories(rundir))


def table_of(rows, cats):
    setting = lambda r: (r["scheme"], r["scheme_params"])
    thr = {}
    for key in {setting(r) for r in rows if r["kind"] == "control"}:
        cs = [r for r in rows if r["kind"] == "control" and setting(r) == key]
        L = num(cs[0]["capacity"])
        counts = [matched(r) * L for r in cs if matched(r) is not None]
        if L and len(counts) >= 2:
            thr[key] = sok_threshold(counts, int(round(L)))
    # An attack removes a mark only if it was there: the marked model itself,
    # unattacked, must be detected under the same rule (n >= 0.5); attacks on
    # a seed's model that is not are left out of the equilibrium.
    before = {}  # embed job id -> n of the unattacked marked model
    for r in rows:
        if r["kind"] == "embed" and setting(r) in thr and matched(r) is not None:
            before[r["job_id"]] = normalise(matched(r), thr[setting(r)])
            before_scheme[r["job_id"]] = r["scheme"]
    # wmbench's own verdict has the same precondition under its own rule: the
    # embed row's `detected` (its calibrated decision, unattacked)
    wm_before = {r["job_id"]: r.get("detected") == "1" for r in rows if r["kind"] == "embed"}
    undetected = defaultdict(list)  # scheme -> n of its undetected marked models
    for r in rows:
        if r["job_id"] in before and before[r["job_id"]] < 0.5:
            undetected[r["scheme"]].append(before[r["job_id"]])
    att = [r for r in rows if r["kind"] == "attack" and r["scheme"] != "none" and setting(r) in thr
           and before.get(r["parent_id"], 0) >= 0.5]
    # per (scheme setting, category, attack setting): n, acc, loss per seed
    cell = defaultdict(list)
    for r in att:
        c = next((a for a, name in CATS if name == cats.get(r["attack"])), None)
        x = matched(r)
        if c is None or x is None or num(r["acc"]) is None or num(r["acc_before"]) is None:
            continue
        n = normalise(x, thr[setting(r)])
        cell[(setting(r), c, r["attack"], r["attack_params"])].append(
            (n, num(r["acc"]), num(r["acc_before"]) - num(r["acc"]), r["success"], r["removed"],
             wm_before.get(r["parent_id"], False)))
    out = {}
    for scheme in sorted({s for (s, _), _ in thr.items()}, key=lambda s: ORDER.index(s) if s in ORDER else 99):
        for c, _ in CATS:
            best = None  # (attacker's best payoff, p, a) minimised over p
            lowest = None
            for key in [k for k in thr if k[0] == scheme]:
                mine = [(k, v) for k, v in cell.items() if k[0] == key and k[1] == c]
                if not mine:
                    continue
                top = None
                for k, v in mine:
                    n, acc, loss = mean(x[0] for x in v), mean(x[1] for x in v), mean(x[2] for x in v)
                    succ = n < 0.5 and abs(loss) < 0.05
                    pay = (10000 * acc - n) if succ else (acc - n)
                    if top is None or pay > top[0]:
                        top = (pay, k, v, succ)
                    if succ and (lowest is None or n < lowest):
                        lowest = n
                if best is None or top[0] < best[0]:
                    best = top
            if best is None:
                continue
            _, k, v, succ = best
            m, lo, hi = interval([x[0] for x in v])
            # wmbench's verdict: any attack of the category, this scheme setting,
            # by the majority of the seeds whose mark wmbench detected unattacked
            def most(vv, i):
                d = [x for x in vv if x[5]]
                return sum(x[i] == "1" for x in d) * 2 > len(d)
            wm = [vv for kk, vv in cell.items() if kk[0] == k[0] and kk[1] == c]
            remk = sorted({kk[2] for kk, vv in cell.items() if kk[0] == k[0] and kk[1] == c and
                           most(vv, 3)})
            removed = bool(remk)
            costly = not removed and any(most(vv, 4) for vv in wm)
            loss = mean(x[2] for x in v)
            out[(scheme, c)] = dict(n=m, lo=lo, hi=hi, succ=succ, attack=k[2], ap=k[3], loss=loss,
                                    seeds=len(v), wm_seeds=sum(1 for x in v if x[5]),
                                    sp=k[0][1], lowest=lowest, wm=removed, costly=costly,
                                    t=thr[k[0]], remk=remk)
    return thr, out, before, undetected


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    if len(sys.argv) != 2:
        sys.exit(__doc__.split("\n\n")[1])
    rundir = sys.argv[1]
    thr, out, before, undetected = table(rundir)
    print("# The SoK's verdict table, regenerated on CPUs with intervals\n")
    print("Generated by `reports/sok.py` from the run `%s` (`make sok`, or `make sok-small`). "
          "Each cell: the normalised watermark accuracy n at the SoK's equilibrium (its rule: "
          "null threshold at p = 0.05 from the run's unmarked controls, normalisation, 5-point "
          "budget; README \"The SoK's table\"), the mean over seeds with a 95 %% interval "
          "(the range for two seeds; a t interval, cut to [0, 1], for more), **bold** when below 0.5 (removed within the budget); "
          "then wmbench's own verdict at the run's calibrated alpha, over the seeds whose "
          "mark wmbench's rule detects unattacked (removed: the `success` "
          "column of some attack of the category on the majority of those seeds; removed at 5+ "
          "points: `removed` but not within the budget; kept; how many seeds when not all; "
          "not detected unattacked by wmbench when none); then the SoK's "
          "published CIFAR-10 value. n/a: no attack of the category can act (query-path "
          "attacks on white-box schemes).\n" % os.path.basename(rundir.rstrip("/")))
    print("| scheme | t | " + " | ".join("%s (n, wmbench, SoK)" % c for c, _ in CATS) + " |")
    print("|---|---|" + "---|" * len(CATS))
    agree, disagree = [], []
    for scheme in sorted({s for s, _ in thr}, key=lambda s: ORDER.index(s) if s in ORDER else 99):
        cells = []
        ts = sorted({t for (s, _), t in thr.items() if s == scheme})
        for i, (c, _) in enumerate(CATS):
            v = out.get((scheme, c))
            sok = SOK.get(scheme)
            sv = sok[i] if sok and i < 3 else None
            if not v:
                why = "n/a"
                if scheme in undetected and not any(sch == scheme for sch, _ in out):
                    why = "not detected unattacked (n %.3f)" % mean(undetected[scheme])
                cells.append("%s%s" % (why, "; SoK %.3f" % sv if sv is not None else ""))
                continue
            nn = "%.3f [%.3f, %.3f]" % (v["n"], v["lo"], v["hi"])
            if v["succ"]:
                nn = "**%s**" % nn
            if not v["wm_seeds"]:
                wmv = "not detected unattacked by wmbench"
            else:
                wmv = ("removed" if v["wm"] else
                       "removed at 5+ points" if v["costly"] else "kept")
                if v["wm_seeds"] < v["seeds"]:
                    wmv += " (%d of %d seeds detected unattacked)" % (v["wm_seeds"], v["seeds"])
            cells.append("%s; %s; %s" % (nn, wmv, "SoK %.3f" % sv if sv is not None else "SoK -"))
            if sv is not None:
                (agree if v["succ"] == (sv < 0.5) else disagree).append(
                    "%s %s (here %.3f by %s, SoK %.3f)" % (scheme, c, v["n"], v["attack"], sv))
        print("| %s | %s | %s |" % (scheme, ", ".join("%.2f" % t for t in ts), " | ".join(cells)))
    print()
    print("Agree with the SoK (removed in both, or in neither): %s.\n" % ("; ".join(agree) or "none"))
    print("Disagree: %s.\n" % ("; ".join(disagree) or "none"))
    for s, why in SOK_NOTE.items():
        print("- SoK %s: %s." % (s, why))
    for (scheme, sp), t in sorted(thr.items()):
        if t >= 0.99:
            print("- %s {%s}: t = %.2f. The unmarked controls already match the key almost "
                  "everywhere, so the SoK's rule tells marked from unmarked by the last bits "
                  "only: n is 1 for a perfect match and 0 once a few bits flip. Its cells say "
                  "nothing about robustness; wmbench's calibrated verdict beside them does."
                  % (scheme, sp, t))
    print("\nMarked models detected before any attack under the SoK's rule (n >= 0.5 "
          "unattacked; only these enter the table, since an attack removes a mark only if "
          "it was there):\n")
    for scheme in sorted({s for s, _ in thr}, key=lambda s: ORDER.index(s) if s in ORDER else 99):
        ok = [n for j, n in before.items() if before_scheme[j] == scheme]
        print("- %s: %d of %d (unattacked n: %s)" % (
            scheme, sum(n >= 0.5 for n in ok), len(ok), ", ".join("%.3f" % n for n in sorted(ok))))
    print("\n## The equilibrium cell by cell\n")
    print("The parameter set the scheme picks, the attacker's best answer to it (the attack "
          "and its parameters), the mean accuracy the attack costs (from the marked model's "
          "test accuracy; the budget is 0.05) over the seeds, and the lowest n any attack of "
          "the category reached within the budget against any parameter set (- if none did), and "
          "the attacks of the category that wmbench's calibrated rule finds removing the mark "
          "of this parameter set within the budget on most seeds.\n")
    print("| scheme | category | scheme parameters | attacker's best attack | n | accuracy lost | seeds | lowest n within budget | wmbench: removed by |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (scheme, c), v in sorted(out.items(), key=lambda kv: (
            ORDER.index(kv[0][0]) if kv[0][0] in ORDER else 99, [a for a, _ in CATS].index(kv[0][1]))):
        print("| %s | %s | %s | %s%s | %.3f | %.3f | %d | %s | %s |" % (
            scheme, c, v["sp"] or "-", v["attack"], " {%s}" % v["ap"] if v["ap"] else "",
            v["n"], v["loss"], v["seeds"], "%.3f" % v["lowest"] if v["lowest"] is not None else "-",
            ", ".join(v["remk"]) or "-"))
    print("\nThresholds t per scheme setting (from the unmarked controls at p = 0.05):\n")
    for (scheme, sp), t in sorted(thr.items(), key=lambda kv: (
            ORDER.index(kv[0][0]) if kv[0][0] in ORDER else 99, kv[0][1])):
        print("- %s {%s}: t = %.2f" % (scheme, sp, t))


def self_test():
    """The rule on a hand-computed example (tests/e2e_sok.sh)."""
    # 6 null models, key length 10, matched counts 2, 3, 3, 4, 5, 3: mean
    # 20/6 = 3.333, MLE sd sqrt(((4/3)^2 + 3 (1/3)^2 + (2/3)^2 + (5/3)^2)/6)
    # = 0.943; CDF at 4 is phi(0.707) = 0.760, at 5 phi(1.768) = 0.961 >= 0.95:
    # threshold 5, t = 0.50
    t = sok_threshold([2, 3, 3, 4, 5, 3], 10)
    assert t == 0.5, t
    # n: t -> 0.5, perfect -> 1, 0.8 -> 0.5 + 0.3 / 1 = 0.8, 0.3 -> 0.3, 0 -> 0
    for x, want in ((0.5, 0.5), (1.0, 1.0), (0.8, 0.8), (0.3, 0.3), (0.0, 0.0)):
        assert abs(normalise(x, t) - want) < 1e-12, (x, normalise(x, t), want)
    # rounding UP to two decimals: counts 0, 1, 0, 1, 0, 2, 1, 0 of 64 keys: mean
    # 0.625, sd 0.696; CDF at 1 is phi(0.539) = 0.705, at 2 phi(1.976) = 0.976
    t2 = sok_threshold([0, 1, 0, 1, 0, 2, 1, 0], 64)
    assert t2 == 0.04, t2  # 2/64 = 0.03125 -> 0.04
    # t = 0.04: x = 0.9 -> 0.5 + 0.86 / 1.92 = 0.9479...
    assert abs(normalise(0.9, t2) - (0.5 + 0.86 / 1.92)) < 1e-12
    # the table: a mark must be detected unattacked to be removed. Scheme x,
    # key length 10, the six null counts above (t = 0.5); seed 1's marked model
    # matches 9 (n 0.9), seed 2's only 4 (n 0.4: not there to remove). Pruning
    # leaves 2 matched on both at no accuracy cost: only seed 1 counts.
    def row(kind, jid, seed, m, parent="", acc="0.9", det="1"):
        return dict(kind=kind, job_id=jid, parent_id=parent, scheme="x", scheme_params="",
                    attack="prune" if kind == "attack" else "", attack_params="", seed=seed,
                    metric_name="wm_acc", metric=str(m), capacity="10", acc=acc,
                    acc_before="0.9", success="1", removed="1", status="ok", detected=det)
    rows = [row("control", "c%d" % i, 1, c / 10) for i, c in enumerate([2, 3, 3, 4, 5, 3])]
    rows += [row("embed", "e1", 1, 0.9), row("embed", "e2", 2, 0.4),
             row("attack", "a1", 1, 0.2, "e1"), row("attack", "a2", 2, 0.2, "e2")]
    before_scheme.clear()
    thr, out, before, undetected = table_of(rows, {"prune": "model modification"})
    assert thr == {("x", ""): 0.5}, thr
    assert abs(before["e1"] - 0.9) < 1e-12 and abs(before["e2"] - 0.4) < 1e-12, before
    assert undetected == {"x": [before["e2"]]}, undetected
    c = out[("x", "MM")]
    assert c["seeds"] == 1 and abs(c["n"] - 0.2) < 1e-12 and c["succ"], c
    assert c["wm"] and c["wm_seeds"] == 1, c
    # three seeds: a t interval (4.303 s / sqrt 3), cut to n's range [0, 1]
    m, lo, hi = interval([0.0, 0.5, 1.0])
    assert m == 0.5 and lo == 0.0 and hi == 1.0, (m, lo, hi)
    m, lo, hi = interval([0.4, 0.5, 0.6])
    assert abs(hi - (0.5 + 4.303 * 0.1 / math.sqrt(3))) < 1e-12 and abs(lo - (1 - hi)) < 1e-12
    # wmbench's verdict counts only seeds its own rule detected unattacked: with
    # e1 not detected by it, the SoK cell stays and wmbench's has no seed (its
    # success column is 0 there: not there to remove, not "kept")
    rows2 = [dict(r, detected="0") if r["job_id"] == "e1" else
             dict(r, success="0", removed="0") if r["job_id"] == "a1" else r for r in rows]
    before_scheme.clear()
    c2 = table_of(rows2, {"prune": "model modification"})[1][("x", "MM")]
    assert c2["succ"] and c2["wm_seeds"] == 0 and not c2["wm"] and not c2["costly"], c2
    print("sok.py self-test: threshold, rounding up and normalisation as computed by hand; "
          "an undetected marked model is left out, under either rule")


main()
