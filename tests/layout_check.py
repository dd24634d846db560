#!/usr/bin/python3
"""layout_check.py - checks the text layout of PDF figures.

usage: layout_check.py FILE.pdf ...

Reads every word's box with `pdftotext -bbox` (poppler-utils) and fails when
  - a word lies outside its page by more than SLACK points (clipped text), or
  - two horizontal words overlap: their boxes intersect by more than
    MIN_ACROSS points across and by more than MIN_HEIGHT_FRAC of the smaller
    word's height (a key printed over an axis label, say).

pdftotext reports no rotation, so horizontal words are told apart by their
height: a horizontal word is as tall as one text line of its font, and the
line heights present are those of the words that are clearly horizontal
(at least 1.5 times as wide as tall). Rotated words (the y label, the
heatmap's slanted column names) are as tall as their text is long, or cut
into fragments taller than a line; they are checked against the page only.
A slanted label may also come out as pieces one line high: runs of words
that follow each other in the text stream, each to the right of the last
and on another baseline, are taken as slanted and not compared.

Prints one line per problem, naming the file, the words and their boxes;
exits 1 if there is any (or a PDF has no words at all: pdftotext drops text
that lies wholly off the page), 2 on a usage or pdftotext error.
"""
import html
import re
import subprocess
import sys

SLACK = 2.0
MIN_ACROSS = 1.0
MIN_HEIGHT_FRAC = 0.3
LINE_TOL = 0.25

PAGE = re.compile(r'<page width="([-0-9.]+)" height="([-0-9.]+)">')
WORD = re.compile(r'<word xMin="([-0-9.]+)" yMin="([-0-9.]+)" '
                  r'xMax="([-0-9.]+)" yMax="([-0-9.]+)">(.*?)</word>')


def die(msg):
    print("layout_check: " + msg, file=sys.stderr)
    sys.exit(2)


def pages(path):
    """Yields (width, height, words) per page; a word is (x0, y0, x1, y1, text)."""
    try:
        out = subprocess.run(["pdftotext", "-bbox", "-raw", path, "-"], capture_output=True,
                             text=True, check=False)
    except FileNotFoundError:
        die("pdftotext not found; install poppler-utils")
    if out.returncode:
        die(f"{path}: pdftotext failed: {out.stderr.strip()}")
    page = None
    for line in out.stdout.splitlines():
        m = PAGE.search(line)
        if m:
            if page:
                yield page
            page = (float(m.group(1)), float(m.group(2)), [])
            continue
        m = WORD.search(line)
        if m and page:
            box = tuple(float(m.group(i)) for i in range(1, 5))
            page[2].append(box + (html.unescape(m.group(5)),))
    if page:
        yield page


def stepping(a, b):
    """b follows a in the text stream as the next piece of one slanted label:
    to its right, close by, on another baseline."""
    ha, hb = a[3] - a[1], b[3] - b[1]
    dy = abs((a[1] + a[3]) / 2 - (b[1] + b[3]) / 2)
    return (b[0] >= a[0] - 1 and b[0] - a[2] < max(ha, hb)
            and 0.2 * min(ha, hb) < dy < 2 * max(ha, hb))


def horizontal(words):
    """The words whose height is one text line of a font on the page, less
    the pieces of slanted labels (runs of words that step up or down)."""
    lines = [w[3] - w[1] for w in words if (w[2] - w[0]) >= 1.5 * (w[3] - w[1])]
    slanted = [False] * len(words)
    for i in range(1, len(words)):
        if stepping(words[i - 1], words[i]):
            slanted[i - 1] = slanted[i] = True
    return [w for i, w in enumerate(words) if not slanted[i]
            and any(abs((w[3] - w[1]) - h) <= LINE_TOL for h in lines)]


def show(w):
    return f"'{w[4]}' [{w[0]:.1f},{w[1]:.1f} {w[2]:.1f},{w[3]:.1f}]"


def check(path):
    problems = []
    for n, (pw, ph, words) in enumerate(pages(path), 1):
        where = f"{path} page {n} ({pw:.0f}x{ph:.0f} pt)"
        for w in words:
            if w[0] < -SLACK or w[1] < -SLACK or w[2] > pw + SLACK or w[3] > ph + SLACK:
                problems.append(f"{where}: {show(w)} lies outside the page")
        hw = horizontal(words)
        for i, a in enumerate(hw):
            for b in hw[i + 1:]:
                across = min(a[2], b[2]) - max(a[0], b[0])
                down = min(a[3], b[3]) - max(a[1], b[1])
                small = min(a[3] - a[1], b[3] - b[1])
                if across > MIN_ACROSS and down > MIN_HEIGHT_FRAC * small:
                    problems.append(f"{where}: {show(a)} overlaps {show(b)} "
                                    f"by {across:.1f} x {down:.1f} pt")
    return problems


def main():
    if len(sys.argv) < 2:
        die("usage: layout_check.py FILE.pdf ...")
    problems = []
    for path in sys.argv[1:]:
        if sum(len(p[2]) for p in pages(path)) == 0:
            problems.append(f"{path}: no words found (a figure without text, or text "
                            "wholly off the page)")
        problems += check(path)
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
