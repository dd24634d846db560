"""The same training step as bench_train.c in PyTorch (one thread, batch 64,
SGD momentum 0.9), on random inputs of Fashion-MNIST's shape. Run with
/usr/bin/python3 (Debian's python3-torch)."""
import sys
import time

import torch
import torch.nn as nn

torch.set_num_threads(1)
torch.manual_seed(1)
secs = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Dropout(0.2),
                         nn.Linear(512, 512), nn.ReLU(), nn.Dropout(0.2), nn.Linear(512, 10))


def lenet5():
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                         nn.Linear(84, 10))


for name, make in (("mlp", mlp), ("lenet5", lenet5)):
    model = make()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.rand(64, 1, 28, 28)
    y = torch.randint(0, 10, (64,))
    for phase, dur in ((0, 0.5), (1, secs)):
        steps, t0 = 0, time.perf_counter()
        while True:
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
            steps += 1
            t = time.perf_counter() - t0
            if t >= dur:
                break
    print("pytorch %-7s %9.0f samples/s  (%d steps of batch 64 in %.2f s, 1 thread, torch %s)"
          % (name, steps * 64 / t, steps, t, torch.__version__))
