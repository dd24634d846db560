"""The same measurements as bench_train.c in PyTorch, for `make bench`: a
training step (batch 64, SGD momentum 0.9) and inference (forward only under
torch.no_grad(), batch 1,024) of mlp, lenet5 and cnn, on random inputs of each
model's shape, at THREADS threads (default 1). Run with /usr/bin/python3
(Debian's python3-torch).

    bench_torch.py [SECS [THREADS [all|train|infer [ARCH]]]]"""
import sys
import time

import torch
import torch.nn as nn

from torch_models import cnn, lenet5, mlp

secs = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
threads = int(sys.argv[2]) if len(sys.argv) > 2 else 1
mode = sys.argv[3] if len(sys.argv) > 3 else "all"
only = sys.argv[4] if len(sys.argv) > 4 else None
torch.set_num_threads(threads)
torch.manual_seed(1)


def timed(step, dur):
    """Runs step for 0.5 s (warm-up), then for dur seconds; returns (calls, seconds)."""
    for d in (0.5, dur):
        n, t0 = 0, time.perf_counter()
        while True:
            step()
            n += 1
            t = time.perf_counter() - t0
            if t >= d:
                break
    return n, t


shapes = {"mlp": (1, 28, 28), "lenet5": (1, 28, 28), "cnn": (3, 32, 32)}
plural = "s" if threads > 1 else ""
for name, make in (("mlp", mlp), ("lenet5", lenet5), ("cnn", cnn)):
    if only and only != name:
        continue
    model = make()
    if mode != "infer":
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        loss_fn = nn.CrossEntropyLoss()
        x = torch.rand(64, *shapes[name])
        y = torch.randint(0, 10, (64,))

        def train_step():
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()

        n, t = timed(train_step, secs)
        print("pytorch train %-7s %9.0f samples/s  (%d steps of batch 64 in %.2f s, %d thread%s, "
              "torch %s)" % (name, n * 64 / t, n, t, threads, plural, torch.__version__))
    if mode != "train":
        model.eval()
        xi = torch.rand(1024, *shapes[name])

        def infer():
            with torch.no_grad():
                model(xi)

        n, t = timed(infer, secs)
        print("pytorch infer %-7s %9.0f samples/s  (%d forwards of batch 1024 in %.2f s, "
              "%d thread%s)" % (name, n * 1024 / t, n, t, threads, plural))
