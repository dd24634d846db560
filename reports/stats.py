"""Shared by the report scripts (sok.py, search.py, tables.py): numbers from
results.csv fields, means and a t interval over seeds."""
import math

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
