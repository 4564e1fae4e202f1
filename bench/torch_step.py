"""A training step of a small MLP on the CPU with torch's loss against cxent.torch's (same process,
interleaved, medians): forward, loss, backward, SGD update.  Also the loss alone (forward and
backward of the loss on fixed logits).

    python bench/torch_step.py                  # 1 and all threads, two models
    python bench/torch_step.py --threads 1 --repeat 101
"""

import argparse
import os
import statistics
import time

import torch
import torch.nn.functional as F

import cxent.torch as ct

MODELS = {  # name: (batch, features, hidden, classes)
    "mnist-like 256x784-256-10": (256, 784, 256, 10),
    "wide head 512x256-512-10000": (512, 256, 512, 10000),
}
LOSSES = {"torch F.cross_entropy": F.cross_entropy, "cxent.torch.cross_entropy": ct.cross_entropy}


def step_timer(batch, features, hidden, classes, loss_fn, seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(features, hidden), torch.nn.ReLU(),
                                torch.nn.Linear(hidden, classes))
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    x, y = torch.randn(batch, features), torch.randint(0, classes, (batch,))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y, label_smoothing=0.1)
        loss.backward()
        opt.step()
        return loss

    return step


def loss_timer(batch, classes, loss_fn, seed=0):
    torch.manual_seed(seed)
    logits = torch.randn(batch, classes, requires_grad=True)
    y = torch.randint(0, classes, (batch,))

    def run():
        loss = loss_fn(logits, y, label_smoothing=0.1)
        (g,) = torch.autograd.grad(loss, logits)
        return g

    return run


def measure(fns, repeat):
    """Interleaved: each round times every function once; medians in ms."""
    times = {k: [] for k in fns}
    for f in fns.values():  # warm up
        for _ in range(3):
            f()
    for _ in range(repeat):
        for k, f in fns.items():
            t0 = time.perf_counter()
            f()
            times[k].append((time.perf_counter() - t0) * 1e3)
    return {k: statistics.median(v) for k, v in times.items()}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", default=f"1,{os.cpu_count()}")
    p.add_argument("--repeat", type=int, default=51)
    a = p.parse_args()
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs; medians of {a.repeat} interleaved "
          f"runs (ms); label_smoothing=0.1")
    print("\n| threads | case | torch loss | cxent.torch loss | torch / cxent |")
    print("|---:|---|---:|---:|---:|")
    for threads in [int(t) for t in a.threads.split(",")]:
        torch.set_num_threads(threads)
        from threadpoolctl import threadpool_limits
        with threadpool_limits(threads):
            for name, (n, d, h, c) in MODELS.items():
                for what, fns in (
                        ("training step", {k: step_timer(n, d, h, c, f) for k, f in LOSSES.items()}),
                        ("loss forward+backward", {k: loss_timer(n, c, f)
                                                   for k, f in LOSSES.items()})):
                    m = measure(fns, a.repeat)
                    t, c_ = m["torch F.cross_entropy"], m["cxent.torch.cross_entropy"]
                    print(f"| {threads} | {name}: {what} | {t:.3f} | {c_:.3f} | {t / c_:.2f}x |")


if __name__ == "__main__":
    main()
