#!/usr/bin/env python3
"""check_layers.py - every #include "..." points down the layers.

Usage: check_layers.py [ROOT]   (default: the repository holding this file)

Reads every #include "..." of the C sources and headers in workers/,
schemes/, attacks/, harness/ and reports/, resolves it to a file of the tree
and prints one line per rule broken:
    not ok - FILE:LINE: LAYER includes PATH (LAYER): RULE
then one "ok - LAYER: N includes point down" line per layer that breaks
none. Exits 1 if any include breaks a rule or cannot be resolved, else 0.

The layers, lowest first. A file may include headers of its own layer and of
the layers its row allows; nothing else. The job runner (harness/runner.c)
sits with the harness, above the plug-ins it calls.
An include is resolved as the library is built: relative to the including
file's folder; one that names no file of the tree breaks the rules too.
"""
import os
import re
import sys

# (layer, files it holds: a folder or a folder/stem prefix, layers it may include)
LAYERS = [
    ("engine", ["workers/"], []),
    ("schemes", ["schemes/"], ["engine"]),
    ("attacks", ["attacks/"], ["engine", "schemes"]),
    ("harness", ["harness/"], ["engine", "schemes", "attacks", "reports-api"]),
    # reports/ is a leaf beside the stack: it reads results, not the engine
    ("reports", ["reports/"], ["util"]),
]
# Headers that form layers of their own for the rules above: a single file
# (longest prefix wins over its folder's layer).
SINGLE = [
    ("util", "workers/util.h"),  # the one engine header reports/ may use
    ("reports-api", "reports/report.h"),  # what harness/ calls of reports/:
    ("reports-api", "reports/results.h"),  # the results.csv row it writes,
    ("reports-api", "reports/runjson.h"),  # and run.json
]
# Which layers a layer counts as, for "may include": util is part of the
# engine, reports-api part of reports.
PART_OF = {"util": "engine", "reports-api": "reports"}
FOLDERS = ["workers", "schemes", "attacks", "harness", "reports"]
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def layer_of(path, singles=True):
    """The layer of a repository-relative path, or None outside the layers."""
    if singles:
        for name, p in SINGLE:
            if path == p:
                return name
    best = None
    for name, prefixes, _ in LAYERS:
        for p in prefixes:
            if path.startswith(p) and (best is None or len(p) > len(best[1])):
                best = (name, p)
    return best[0] if best else None


def allowed(src, dst):
    """Whether a file of layer src may include a header of layer dst."""
    if dst == src or PART_OF.get(dst) == src:
        return True
    rules = {name: ok for name, _, ok in LAYERS}
    return dst in rules[src] or PART_OF.get(dst) in rules[src]


def resolve(root, path, inc):
    """The repository-relative file an #include "inc" of path names, or None.
    As the library is built (no -I of its own): relative to the including
    file's folder."""
    cand = os.path.normpath(os.path.join(os.path.dirname(path), inc))
    if not cand.startswith("..") and os.path.isfile(os.path.join(root, cand)):
        return cand
    return None


def describe(name):
    """A layer as its files: "schemes (schemes/)", "workers/util.h"."""
    for n, p in SINGLE:
        if n == name:
            return p
    prefixes = {n: p for n, p, _ in LAYERS}[name]
    return "%s (%s)" % (name, " ".join(x + ("*" if not x.endswith("/") else "")
                                        for x in prefixes))


def rule_text(src):
    may = {name: o for name, _, o in LAYERS}[src]
    return "%s may include only %s" % (src, ", ".join(describe(x) for x in [src] + may))


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                           os.path.join(os.path.dirname(__file__), ".."))
    bad = {}
    count = {name: 0 for name, _, _ in LAYERS}
    for folder in FOLDERS:
        top = os.path.join(root, folder)
        for dirpath, _, files in sorted(os.walk(top)):
            for f in sorted(files):
                if not f.endswith((".c", ".h")):
                    continue
                path = os.path.relpath(os.path.join(dirpath, f), root)
                src = layer_of(path, singles=False)
                with open(os.path.join(root, path), errors="replace") as fh:
                    for n, line in enumerate(fh, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        count[src] += 1
                        target = resolve(root, path, m.group(1))
                        if target is None:
                            msg = "%s:%d: %s includes \"%s\", which is no file of the tree" % (
                                path, n, src, m.group(1))
                        else:
                            dst = layer_of(target)
                            if dst is None or allowed(src, dst):
                                continue
                            msg = "%s:%d: %s includes %s (%s): %s" % (
                                path, n, src, target, PART_OF.get(dst, dst), rule_text(src))
                        bad.setdefault(src, []).append(msg)
    for name, _, _ in LAYERS:
        for msg in bad.get(name, []):
            print("not ok - " + msg)
        if name not in bad:
            print("ok - %s: %d includes point down" % (name, count[name]))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
