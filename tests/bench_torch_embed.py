"""PyTorch's side of gradsigns' embedding cost for `make bench`: one training
step of the same loss as schemes/gradsigns.c (batch 64 plus 6 mixed-in rows
of the target class, adam, one thread), with the signature loss's input
gradient differentiated by double backprop (torch.autograd.grad(...,
create_graph=True)), against a clean step of the same network and batch of
64. Prints the ratio for mlp and lenet5 (best of ROUNDS alternating runs of
SECS CPU seconds, as bench_embed.c measures). Run with /usr/bin/python3 (Debian's python3-torch).

Then nullembed's step, the same way: the batch of 64 with its 18 extra rows
(null_frac 0.25 and true_frac 0.03 of 64, cross-entropy, as schemes/nullembed.c
mixes them in), without and with torch.nn.utils.clip_grad_norm_ at 1 (the
scheme's default clip), against the clean step. Whole steps this far apart
(best of ROUNDS) cannot resolve a pass over the gradient, so the clip's own
CPU time inside the real steps is printed too, in microseconds a step and as
a share of the clean step, to set beside wmbench's (bench_embed's clip=0 row
and its optimiser phase).

    bench_torch_embed.py [SECS [ROUNDS]]"""
import sys
import time

import torch
import torch.nn.functional as F

from torch_models import lenet5, mlp

secs = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
torch.set_num_threads(1)
torch.manual_seed(1)

BITS, CARRIERS, LAMBDA, TARGET, EXTRA = 32, 64, 0.3, 0, 6  # gradsigns' defaults
NULL_ROWS, CLIP = 16 + 2, 1.0  # nullembed's defaults on a batch of 64


def timed(step):
    for d in (0.5, secs):
        n, t0 = 0, time.process_time()
        while True:
            step()
            n += 1
            t = time.process_time() - t0
            if t >= d:
                break
    return t / n


for name, make in (("mlp", mlp), ("lenet5", lenet5)):
    model = make()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(64, 1, 28, 28)
    y = torch.randint(0, 10, (64,))
    xm = torch.cat([x, torch.rand(EXTRA, 1, 28, 28)])
    ym = torch.cat([y, torch.full((EXTRA,), TARGET)])
    S = torch.randperm(784)[:CARRIERS]
    K = torch.rand(BITS, CARRIERS) * 2 - 1
    b = torch.randint(0, 2, (BITS,)).float()

    def clean():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()

    def marked():
        opt.zero_grad()
        model.train()
        loss = F.cross_entropy(model(xm), ym)
        # the carrier pass: the target-class rows, evaluation mode, as gradsigns does
        xc = xm[ym == TARGET].clone().requires_grad_(True)
        model.eval()
        lc = F.cross_entropy(model(xc), torch.full((xc.shape[0],), TARGET))
        (g,) = torch.autograd.grad(lc, xc, create_graph=True)
        gbar = g.sum(0).flatten()[S]
        lw = LAMBDA * F.binary_cross_entropy_with_logits(K @ gbar, b)
        model.train()
        (loss + lw).backward()
        opt.step()

    xn = torch.cat([x, x[:NULL_ROWS]])
    yn = torch.cat([y, y[:NULL_ROWS]])

    def rows():
        opt.zero_grad()
        F.cross_entropy(model(xn), yn).backward()
        opt.step()

    clip_t = [0.0, 0]  # the clip's own CPU time and calls

    def rows_clip():
        opt.zero_grad()
        F.cross_entropy(model(xn), yn).backward()
        t0 = time.process_time()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        clip_t[0] += time.process_time() - t0
        clip_t[1] += 1
        opt.step()

    best_c = best_m = best_r = best_rc = float("inf")
    for _ in range(rounds):
        best_c = min(best_c, timed(clean))
        best_m = min(best_m, timed(marked))
        best_r = min(best_r, timed(rows))
        best_rc = min(best_rc, timed(rows_clip))
    print("pytorch gradsigns %s: a step with double backprop (create_graph=True) %.2fx a clean "
          "step (%.2f ms against %.2f ms)" % (name, best_m / best_c, 1e3 * best_m, 1e3 * best_c))
    print("pytorch nullembed %s: %d more rows %+.1f %%, with clip_grad_norm_ %+.1f %% of a clean "
          "step (%.2f ms); clip_grad_norm_ itself %.0f us a step (%.1f %% of the clean step)" %
          (name, NULL_ROWS, 100 * (best_r / best_c - 1), 100 * (best_rc / best_c - 1),
           1e3 * best_c, 1e6 * clip_t[0] / clip_t[1], 100 * clip_t[0] / clip_t[1] / best_c))
