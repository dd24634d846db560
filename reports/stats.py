"""Shared by the report scripts (sok.py, search.py, tables.py, detect.py):
numbers from results.csv fields, means and a t interval over seeds, the job
file's order of plug-ins."""
import math
import os

# two-sided 95 % quantiles of Student's t by sample size (n - 1 degrees of freedom)
TQ = {3: 4.303, 4: 3.182, 5: 2.776, 6: 2.571, 7: 2.447, 8: 2.365, 9: 2.306, 10: 2.262}


def num(x):
    """A field as a float; None when empty, not a number or NaN."""
    try:
        v = float(x)
        return None if math.isnan(v) else v
    except (TypeError, ValueError):
        return None


def mean(xs):
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None


def t_interval(xs):
    """(mean, lo, hi): a 95 % t interval over the values, the range for two,
    the value itself for one; None when there are none (None values ignored)."""
    xs = [x for x in xs if x is not None]
    if not xs:
        return None
    m = sum(xs) / len(xs)
    if len(xs) < 3:
        return m, min(xs), max(xs)
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))
    h = TQ.get(len(xs), 1.96) * sd / math.sqrt(len(xs))
    return m, m - h, m + h


def jobfile_order(rundir, block):
    """The plug-in names of the run's jobfile.yaml `schemes:` or `attacks:`
    block, in the job file's order (one "  name: ..." line each, as the job
    files write them); [] when there is none. Reports order their rows by
    it: the order of rows in results.csv follows the schedule."""
    names, inside = [], False
    try:
        lines = open(os.path.join(rundir, "jobfile.yaml")).read().splitlines()
    except OSError:
        return names
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            inside = line.split(":")[0].strip() == block
            continue
        if inside and line.startswith("  ") and not line.startswith("   ") and ":" in line:
            name = line.split(":")[0].strip().strip("'\"")
            if name not in names:
                names.append(name)
    return names
