"""The layout and small-call cases of the row-engine issue, cxent against torch, interleaved.

    python bench/layouts.py              # every case at 1 and 2 threads (about 3 minutes)
    python bench/layouts.py --group nchw --threads 2

Groups:
  nchw    (N, C, H, W) float32 logits, class axis 1: cross_entropy, cross_entropy_and_grad (torch:
          forward + autograd backward), log_softmax(axis=1)
  forder  4096x1000 float32 cross_entropy and log_softmax on C- and F-ordered input (torch on the
          F-ordered one too)
  small   64x10 float32: every public function, with the options users pass (weight, ignore_index,
          label_smoothing, reduction='none', probability targets, *_and_grad, BCE weight and
          pos_weight)

Method: per case, rounds of one sample of each implementation in turn (the start alternates), each
sample a loop of calls lasting >= 20 ms (single calls of 20 ms or more count alone); the median of 7
samples per implementation, in microseconds per call, and ``x = torch / cxent`` (> 1: cxent is
faster).  Threads: ``threadpoolctl.threadpool_limits`` (cxent's OpenMP) and
``torch.set_num_threads``.  Inputs: logits ``3 N(0, 1)``, int64 targets; fresh outputs each call.
"""

import argparse
import statistics
import time

import numpy as np


def _sample(fn, min_time=0.02):
    fn()
    t0 = time.perf_counter()
    fn()
    one = time.perf_counter() - t0
    n = max(1, int(min_time / max(one, 1e-9)))
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


def _interleaved(fns, rounds=7):
    times = [[] for _ in fns]
    for r in range(rounds):
        order = list(range(len(fns)))
        if r % 2:
            order.reverse()
        for k in order:
            times[k].append(_sample(fns[k]))
    return [statistics.median(t) for t in times]


def _grad(torch, F, loss):
    def make(tx, *rest):
        def run():
            x = tx.detach().requires_grad_()
            return torch.autograd.grad(loss(x, *rest), x)
        return run
    return make


def cases(group, torch, F):
    import cxent
    rng = np.random.default_rng(0)
    out = []
    if group == "nchw":
        for shape in [(8, 21, 256, 256), (8, 150, 64, 64), (4, 21, 128, 128)]:
            x = (rng.standard_normal(shape) * 3).astype(np.float32)
            t = rng.integers(0, shape[1], (shape[0],) + shape[2:])
            tx, tt = torch.from_numpy(x), torch.from_numpy(t)
            name = "x".join(map(str, shape))
            out.append((f"cross_entropy {name}", lambda x=x, t=t: cxent.cross_entropy(x, t),
                        lambda tx=tx, tt=tt: F.cross_entropy(tx, tt)))
            out.append((f"cross_entropy_and_grad {name}",
                        lambda x=x, t=t: cxent.cross_entropy_and_grad(x, t),
                        _grad(torch, F, F.cross_entropy)(tx, tt)))
            out.append((f"log_softmax(axis=1) {name}", lambda x=x: cxent.log_softmax(x, axis=1),
                        lambda tx=tx: torch.log_softmax(tx, 1)))
    elif group == "forder":
        x = (rng.standard_normal((4096, 1000)) * 3).astype(np.float32)
        t = rng.integers(0, 1000, 4096)
        xf = np.asfortranarray(x)
        tt = torch.from_numpy(t)
        for label, a in (("C", x), ("F", xf)):
            ta = torch.from_numpy(a)
            out.append((f"cross_entropy 4096x1000 {label}", lambda a=a: cxent.cross_entropy(a, t),
                        lambda ta=ta: F.cross_entropy(ta, tt)))
            out.append((f"log_softmax 4096x1000 {label}", lambda a=a: cxent.log_softmax(a, axis=1),
                        lambda ta=ta: torch.log_softmax(ta, 1)))
    else:
        x = (rng.standard_normal((64, 10)) * 3).astype(np.float32)
        t = rng.integers(0, 10, 64)
        w = rng.uniform(0.5, 2, 10).astype(np.float32)
        q = cxent.softmax(rng.standard_normal((64, 10)).astype(np.float32))
        p = cxent.sigmoid(x)
        y = (rng.random((64, 10)) > 0.5).astype(np.float32)
        tx, tt, tw, tq, tp, ty = map(torch.from_numpy, (x, t, w, q, p, y))
        sm, lsm = cxent.softmax(x), cxent.log_softmax(x)
        tsm, tlsm = torch.from_numpy(sm), torch.from_numpy(lsm)
        g = _grad(torch, F, lambda a, *r: F.cross_entropy(a, *r))
        out += [
            ("cross_entropy", lambda: cxent.cross_entropy(x, t), lambda: F.cross_entropy(tx, tt)),
            ("cross_entropy(weight)", lambda: cxent.cross_entropy(x, t, weight=w),
             lambda: F.cross_entropy(tx, tt, weight=tw)),
            ("cross_entropy(ignore_index=3)", lambda: cxent.cross_entropy(x, t, ignore_index=3),
             lambda: F.cross_entropy(tx, tt, ignore_index=3)),
            ("cross_entropy(label_smoothing)", lambda: cxent.cross_entropy(x, t, label_smoothing=0.1),
             lambda: F.cross_entropy(tx, tt, label_smoothing=0.1)),
            ("cross_entropy(reduction='none')", lambda: cxent.cross_entropy(x, t, reduction="none"),
             lambda: F.cross_entropy(tx, tt, reduction="none")),
            ("cross_entropy(probs)", lambda: cxent.cross_entropy(x, q), lambda: F.cross_entropy(tx, tq)),
            ("cross_entropy_and_grad", lambda: cxent.cross_entropy_and_grad(x, t), g(tx, tt)),
            ("cross_entropy_and_grad(weight)", lambda: cxent.cross_entropy_and_grad(x, t, weight=w),
             _grad(torch, F, lambda a: F.cross_entropy(a, tt, weight=tw))(tx)),
            ("nll_loss", lambda: cxent.nll_loss(lsm, t), lambda: F.nll_loss(tlsm, tt)),
            ("nll_loss_and_grad", lambda: cxent.nll_loss_and_grad(lsm, t),
             _grad(torch, F, lambda a: F.nll_loss(a, tt))(tlsm)),
            ("softmax", lambda: cxent.softmax(x), lambda: torch.softmax(tx, -1)),
            ("log_softmax", lambda: cxent.log_softmax(x), lambda: torch.log_softmax(tx, -1)),
            ("logsumexp", lambda: cxent.logsumexp(x), lambda: torch.logsumexp(tx, -1)),
            ("sigmoid", lambda: cxent.sigmoid(x), lambda: torch.sigmoid(tx)),
            ("log_sigmoid", lambda: cxent.log_sigmoid(x), lambda: F.logsigmoid(tx)),
            ("softmax_backward", lambda: cxent.softmax_backward(x, sm),
             lambda: torch._softmax_backward_data(tx, tsm, -1, tx.dtype)),
            ("log_softmax_backward", lambda: cxent.log_softmax_backward(x, lsm),
             lambda: torch._log_softmax_backward_data(tx, tlsm, -1, tx.dtype)),
            ("binary_cross_entropy", lambda: cxent.binary_cross_entropy(p, y),
             lambda: F.binary_cross_entropy(tp, ty)),
            ("binary_cross_entropy(weight)", lambda: cxent.binary_cross_entropy(p, y, weight=w),
             lambda: F.binary_cross_entropy(tp, ty, weight=tw)),
            ("binary_cross_entropy_and_grad", lambda: cxent.binary_cross_entropy_and_grad(p, y),
             _grad(torch, F, lambda a: F.binary_cross_entropy(a, ty))(tp)),
            ("bce_with_logits", lambda: cxent.binary_cross_entropy_with_logits(x, y),
             lambda: F.binary_cross_entropy_with_logits(tx, ty)),
            ("bce_with_logits(pos_weight)",
             lambda: cxent.binary_cross_entropy_with_logits(x, y, pos_weight=w),
             lambda: F.binary_cross_entropy_with_logits(tx, ty, pos_weight=tw)),
            ("bce_with_logits_and_grad",
             lambda: cxent.binary_cross_entropy_with_logits_and_grad(x, y),
             _grad(torch, F, lambda a: F.binary_cross_entropy_with_logits(a, ty))(tx)),
        ]
        out = [(f"{n} 64x10", a, b) for n, a, b in out]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--group", default="nchw,forder,small")
    ap.add_argument("--threads", default="1,2")
    args = ap.parse_args()
    import torch
    import torch.nn.functional as F
    from threadpoolctl import threadpool_limits

    import cxent
    print(f"# cxent {cxent.__version__} ({cxent._config.simd_path()}), torch {torch.__version__}")
    print("| case | thr | cxent us | torch us | x |")
    print("|---|---:|---:|---:|---:|")
    for group in args.group.split(","):
        for name, fa, fb in cases(group, torch, F):
            for n in map(int, args.threads.split(",")):
                with threadpool_limits(n, user_api="openmp"):
                    torch.set_num_threads(n)
                    a, b = _interleaved([fa, fb])
                print(f"| {name} | {n} | {a * 1e6:.1f} | {b * 1e6:.1f} | {b / a:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
