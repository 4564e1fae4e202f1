"""Fused linear + cross-entropy (``cxent.linear_cross_entropy_and_grad``) against the unfused pair:
time and peak memory, float32.

    python bench/linear.py                       # N=4096, D=512, V=32000: every implementation
    python bench/linear.py --shape 16384x1024x128256 --impls cxent
    python bench/linear.py --impls cxent,torch --repeat 5
    python bench/linear.py --shape 16384x1024x128256 --impls torch --repeat 1 --mem-limit-gib 20
    python bench/linear.py --softcap 30 --impls cxent,torch     # Gemma 2's logit soft-capping
    python bench/linear.py --steps       # where cxent's time goes: BLAS products vs the kernel

Implementations (each in a fresh subprocess, so that its peak resident memory is its own):
  cxent           linear_cross_entropy_and_grad (default chunks: 32 MiB of logits)
  cxent-unfused   hidden @ weight.T, then cxent.cross_entropy_and_grad, then the two products
  torch           F.linear + F.cross_entropy, forward + backward (eager)
  torch-compile   the same two calls under torch.compile (compiled once, outside the timing)

Per implementation: the median of ``--repeat`` timed calls after one warm-up call, and the peak
resident memory above what the process held after creating its inputs (``ru_maxrss``); then that
peak less the gradients every implementation returns (grad_hidden, grad_weight, grad_bias: the
size of the inputs), as a share of the N x V float32 logits.  Threads: the process's defaults (OpenBLAS / torch / cxent's
OpenMP all use every core; BLAS and the cross-entropy kernel run one after the other).
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

IMPLS = ["cxent", "cxent-unfused", "torch", "torch-compile"]


def _child(impl, n, d, v, repeat, chunk_size=None, softcap=None):
    import numpy as np

    rng = np.random.default_rng(0)
    h = rng.standard_normal((n, d), dtype=np.float32)
    w = rng.standard_normal((v, d), dtype=np.float32)
    w *= 0.05  # in place: no temporary raises the baseline's peak
    b = np.zeros(v, np.float32)
    t = rng.integers(0, v, n)
    if impl.startswith("torch"):
        import torch
        import torch.nn.functional as F

        th, tw, tb = (torch.from_numpy(a) for a in (h, w, b))
        tt = torch.from_numpy(t)

        def step(hh, ww, bb, tgt):
            z = F.linear(hh, ww, bb)
            if softcap is not None:
                z = softcap * torch.tanh(z / softcap)
            return F.cross_entropy(z, tgt)

        if impl == "torch-compile":
            step = torch.compile(step)

        def run():
            hh, ww, bb = (x.detach().requires_grad_(True) for x in (th, tw, tb))
            loss = step(hh, ww, bb, tt)
            loss.backward()
            return float(loss)
    else:
        import cxent

        if impl == "cxent":
            def run():
                return float(cxent.linear_cross_entropy_and_grad(h, w, t, b, softcap=softcap,
                                                                 chunk_size=chunk_size)[0])
        else:
            def run():
                z = h @ w.T + b
                loss, g = cxent.cross_entropy_and_grad(z, t, grad_out=z, softcap=softcap)
                _ = (g @ w, g.T @ h, g.sum(axis=0))
                return float(loss)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    loss = run()  # warm-up (and torch.compile's compilation)
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return dict(impl=impl, median_s=statistics.median(times), first_s=first, loss=loss,
                peak_extra_mib=(peak - base) / 1024)


def _steps(n, d, v, repeat, softcap):
    """The loop of cxent/_linear.py written out with a timer per step (the same calls, default
    chunks): the three BLAS products, the cross-entropy kernel and the bias terms, per run."""
    import numpy as np

    import cxent
    from cxent._linear import CHUNK_BUDGET, GW_BLOCK

    rng = np.random.default_rng(0)
    h = rng.standard_normal((n, d), dtype=np.float32)
    w = rng.standard_normal((v, d), dtype=np.float32)
    w *= 0.05
    b = np.zeros(v, np.float32)
    t = rng.integers(0, v, n)
    rows = max(1, min(n, CHUNK_BUDGET // (v * 4)))
    buf = np.empty((rows, v), np.float32)
    gh, gw, gb = np.empty_like(h), np.zeros_like(w), np.zeros(v, np.float32)
    vblock = max(1, min(v, GW_BLOCK // (d * 4)))
    part = np.empty((vblock, d), np.float32)
    names = ["logits product", "bias", "cross-entropy kernel", "grad_hidden product",
             "grad_weight products + adds", "grad_bias"]
    print(f"cxent's fused loop step by step, float32, N={n} D={d} V={v}, {rows}-row chunks"
          f"{'' if softcap is None else f', softcap={softcap:g}'}; seconds per run")
    print("| run | total | " + " | ".join(names) + " |")
    print("|---:|---:|" + "---:|" * len(names))
    for r in range(repeat):
        acc = [0.0] * len(names)
        start = time.perf_counter()
        for r0 in range(0, n, rows):
            r1 = min(n, r0 + rows)
            z = buf[: r1 - r0]
            marks = [time.perf_counter()]
            np.matmul(h[r0:r1], w.T, out=z)
            marks.append(time.perf_counter())
            z += b
            marks.append(time.perf_counter())
            _, g = cxent.cross_entropy_and_grad(z, t[r0:r1], reduction="none", softcap=softcap,
                                                grad_output=np.full(r1 - r0, 1.0 / n), grad_out=z)
            marks.append(time.perf_counter())
            np.matmul(g, w, out=gh[r0:r1])
            marks.append(time.perf_counter())
            for v0 in range(0, v, vblock):
                v1 = min(v, v0 + vblock)
                np.matmul(g[:, v0:v1].T, h[r0:r1], out=part[: v1 - v0])
                gw[v0:v1] += part[: v1 - v0]
            marks.append(time.perf_counter())
            gb += g.sum(axis=0)
            marks.append(time.perf_counter())
            for k in range(len(names)):
                acc[k] += marks[k + 1] - marks[k]
        total = time.perf_counter() - start
        print(f"| {r + 1} | {total:.3f} | " + " | ".join(f"{x:.3f}" for x in acc) + " |")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--shape", default="4096x512x32000", help="NxDxV (default 4096x512x32000)")
    p.add_argument("--impls", default=",".join(IMPLS))
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--chunk-size", type=int, default=None,
                   help="cxent's chunk_size (rows; default: 32 MiB of logits)")
    p.add_argument("--mem-limit-gib", type=float, default=None,
                   help="cap each implementation's address space (RLIMIT_AS), so that one that "
                        "needs more memory than the machine has fails cleanly instead of swapping")
    p.add_argument("--softcap", type=float, default=None,
                   help="logit soft-capping (Gemma 2: 30) in every implementation")
    p.add_argument("--steps", action="store_true",
                   help="time cxent's fused loop step by step instead (BLAS vs the kernel)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    n, d, v = (int(x) for x in args.shape.split("x"))
    if args.steps:
        _steps(n, d, v, args.repeat, args.softcap)
        return
    if args.child:
        if args.mem_limit_gib:
            lim = int(args.mem_limit_gib * 2**30)
            resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
        print(json.dumps(_child(args.child, n, d, v, args.repeat, args.chunk_size, args.softcap)))
        return
    logits_mib = n * v * 4 / 2**20
    grads_mib = (n * d + v * d + v) * 4 / 2**20  # grad_hidden, grad_weight, grad_bias
    cap = "" if args.softcap is None else f", softcap={args.softcap:g}"
    print(f"linear + cross-entropy, forward + backward, float32, N={n} D={d} V={v}{cap} "
          f"(the logits: {logits_mib:.0f} MiB; the gradients: {grads_mib:.0f} MiB); "
          f"{os.cpu_count()} CPUs; median of {args.repeat}")
    print("| implementation | time s | first call s | peak extra memory MiB | beyond the gradients "
          "MiB | / logits | loss |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for impl in args.impls.split(","):
        cmd = [sys.executable, __file__, "--shape", args.shape, "--repeat", str(args.repeat),
               "--child", impl]
        if args.mem_limit_gib:
            cmd += ["--mem-limit-gib", str(args.mem_limit_gib)]
        if args.chunk_size:
            cmd += ["--chunk-size", str(args.chunk_size)]
        if args.softcap is not None:
            cmd += ["--softcap", str(args.softcap)]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            why = (r.stderr.strip().splitlines() or [f"exit code {r.returncode}"])[-1][:100]
            print(f"| {impl} | failed | | | | | {why} |")
            continue
        res = json.loads(r.stdout.strip().splitlines()[-1])
        label = impl + (f" (chunk_size={args.chunk_size})" if args.chunk_size and impl == "cxent"
                        else "")
        beyond = res['peak_extra_mib'] - grads_mib
        print(f"| {label} | {res['median_s']:.3f} | {res['first_s']:.2f} | "
              f"{res['peak_extra_mib']:.0f} | {beyond:.0f} | {beyond / logits_mib:.1%} | "
              f"{res['loss']:.6f} |")


if __name__ == "__main__":
    main()
