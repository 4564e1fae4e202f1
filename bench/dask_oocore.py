"""Out of core with cxent.dask: the mean cross-entropy and its gradient over float32 logits stored
on disk as one ``.npy`` file (memory-mapped), larger than a worker's memory limit, on a
dask.distributed LocalCluster with 1 and 2 worker processes (one thread each), against plain
cxent on the memory-mapped array in one process.

Each Dask task reads its block of rows from the ``.npy`` (a plain read at the block's offset) and
writes its gradient block into a second ``.npy`` the same way, so no worker ever holds more than a
few blocks (a memory map in the workers would count the file's pages in their resident memory,
which Dask's memory limit watches).  Throughput counts the logits read (the gradient written is the same
size again).  Peak memory: each worker process's ``ru_maxrss`` (file pages it mapped included),
and the plain run's, in a fresh subprocess.

    python bench/dask_oocore.py                 # 8 GiB of logits, workers limited to 2 GiB
    python bench/dask_oocore.py --gib 1 --worker-memory 0.4   # a quick run

NumPy asks the kernel for transparent huge pages for every array of 4 MiB or more.  On the VM
these figures come from, once the page cache holds the data files, each fresh 32 MiB block then
stalled in the kernel's memory compaction (0.3 s of system time for a 10 ms kernel call,
measured per task), so the runs set ``NUMPY_MADVISE_HUGEPAGE=0`` (``--hugepages`` keeps NumPy's
default).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

if "--hugepages" not in sys.argv:
    os.environ["NUMPY_MADVISE_HUGEPAGE"] = "0"  # read by NumPy at import, here and in the workers

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def make_data(path, rows, classes, seed=0):
    """float32 logits 3 N(0, 1) written block by block (never whole in memory), and targets."""
    if os.path.exists(path) and np.load(path, mmap_mode="r").shape == (rows, classes):
        return
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, classes))
    rng = np.random.default_rng(seed)
    step = max(1, (64 << 20) // (4 * classes))
    for r0 in range(0, rows, step):
        r1 = min(rows, r0 + step)
        out[r0:r1] = rng.standard_normal((r1 - r0, classes), dtype=np.float32) * 3
    out.flush()
    del out
    np.save(path + ".target.npy", rng.integers(0, classes, rows))


def _layout(path):
    """(header bytes, shape) of a C-ordered float32 ``.npy``."""
    with open(path, "rb") as f:
        major, _ = np.lib.format.read_magic(f)
        read = (np.lib.format.read_array_header_1_0 if major == 1 else
                np.lib.format.read_array_header_2_0)
        shape, fortran, dtype = read(f)
        assert not fortran and dtype == np.float32
        return f.tell(), shape


def _read_rows(path, block_info=None):
    # a block of whole rows read from the file (a plain read: no mapping left in the worker)
    (r0, r1), _ = block_info[None]["array-location"]
    offset, (_, classes) = _layout(path)
    with open(path, "rb") as f:
        f.seek(offset + 4 * r0 * classes)
        return np.fromfile(f, np.float32, (r1 - r0) * classes).reshape(r1 - r0, classes)


def _write_rows(g, path, block_info=None):
    (r0, r1), _ = block_info[0]["array-location"]
    offset, (_, classes) = _layout(path)
    with open(path, "r+b") as f:
        f.seek(offset + 4 * r0 * classes)
        np.ascontiguousarray(g).tofile(f)
    return np.full((1, 1), r1 - r0, np.int64)


def run_dask(path, workers, worker_memory, block_rows):
    import dask.array as da
    import distributed

    import cxent.dask as cd

    rows, classes = np.load(path, mmap_mode="r").shape
    target = np.load(path + ".target.npy")
    out_path = path + ".grad.npy"
    np.lib.format.open_memmap(out_path, mode="w+", dtype=np.float32, shape=(rows, classes))
    chunks = (block_rows, classes)
    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                  memory_limit=f"{worker_memory}GiB",
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        client.run(lambda: None)  # workers up
        best = None
        for _ in range(2):
            x = da.map_blocks(_read_rows, path, chunks=da.core.normalize_chunks(
                chunks, (rows, classes)), dtype=np.float32, meta=np.empty((0, 0), np.float32))
            loss, g = cd.cross_entropy_and_grad(x, target)  # NumPy targets: 8 bytes a row
            written = da.map_blocks(_write_rows, g, out_path, dtype=np.int64,
                                    chunks=((1,) * len(x.chunks[0]), (1,)))
            t0 = time.perf_counter()
            value, n_written = client.compute([loss, written.sum()], sync=True)
            dt = time.perf_counter() - t0
            assert n_written == rows
            best = dt if best is None else min(best, dt)
        peaks = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    return {"impl": f"cxent.dask, {workers} worker(s) x 1 thread, limit {worker_memory} GiB",
            "seconds": best, "loss": float(value),
            "peak_mib": max(peaks.values()) / 1024, "peaks_mib": sorted(
                round(v / 1024) for v in peaks.values())}


def run_plain(path, threads):
    code = f"""
import json, os, resource, time, numpy as np
from threadpoolctl import threadpool_limits
import cxent
x = np.load({path!r}, mmap_mode="r")
t = np.load({path!r} + ".target.npy")
out = np.load({path!r} + ".grad.npy", mmap_mode="r+")
best = None
with threadpool_limits({threads}):
    for _ in range(2):
        t0 = time.perf_counter()
        loss, g = cxent.cross_entropy_and_grad(x, t, grad_out=out)
        out.flush()
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
print(json.dumps({{"seconds": best, "loss": float(loss),
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    res = json.loads(r.stdout.strip().splitlines()[-1])
    res["impl"] = f"plain cxent on the memory-mapped .npy, {threads} thread(s)"
    return res


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--gib", type=float, default=8.0, help="GiB of float32 logits (default 8)")
    p.add_argument("--classes", type=int, default=32768)
    p.add_argument("--worker-memory", type=float, default=2.0, help="GiB per worker (default 2)")
    p.add_argument("--block-rows", type=int, default=256, help="rows per Dask block")
    p.add_argument("--path", default="/tmp/cxent_oocore_logits.npy")
    p.add_argument("--json", help="write the results here")
    p.add_argument("--hugepages", action="store_true",
                   help="keep NumPy's huge-page madvise (see the module docstring)")
    a = p.parse_args()
    rows = int(a.gib * (1 << 30) // (4 * a.classes))
    make_data(a.path, rows, a.classes)
    gb = rows * a.classes * 4 / 1e9
    print(f"logits: {rows} x {a.classes} float32 = {gb:.2f} GB on disk ({a.path}); "
          f"workers limited to {a.worker_memory} GiB; blocks of {a.block_rows} rows "
          f"({a.block_rows * a.classes * 4 / 2**20:.0f} MiB)")
    np.lib.format.open_memmap(a.path + ".grad.npy", mode="w+", dtype=np.float32,
                              shape=(rows, a.classes))
    results = [run_plain(a.path, 1), run_plain(a.path, os.cpu_count())]
    for w in (1, 2):
        results.append(run_dask(a.path, w, a.worker_memory, a.block_rows))
    print(f"\n| run | time (best of 2) | logits read | peak memory per process | loss |")
    print("|---|---|---|---|---|")
    for r in results:
        print(f"| {r['impl']} | {r['seconds']:.2f} s | {gb / r['seconds']:.2f} GB/s | "
              f"{r['peak_mib']:.0f} MiB | {r['loss']:.6f} |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
