#!/usr/bin/env python
"""Time cxent's public functions against NumPy, torch (eager, and torch.compile for the
cross-entropy, log_softmax and BCE-with-logits cases), SciPy, JAX+optax and scikit-learn.

    python bench/run.py                  # 64x10, 4096x1000 f32/f64, 8192x32000 f32; 1 and all
                                         # threads (~12 min on 2 cores)
    python bench/run.py --quick          # small/medium shapes, all threads, short budget (< 1 min)
    python bench/run.py --functions cross_entropy,sigmoid --threads 1 --shapes 4096x1000

Prints a table of per-call medians (ms), speed-ups ``peer median / cxent median`` (> 1: cxent is
faster) and the fraction of the machine's streaming-read bandwidth cxent reaches; writes every
sample to a JSON file and the speed-ups to a PNG (bench/results/).  What is timed lives in
``bench/_peers.py``.

Method (the development VM has 2 cores and +-20-40 % run-to-run noise; bench/README.md says more):

* Thread settings: every case runs at each ``--threads`` count (default 1 and all usable CPUs) in
  this one process: threadpoolctl limits the OpenMP runtimes (cxent's, torch's, scikit-learn's) and
  ``torch.set_num_threads`` torch's pool.  Single-threaded libraries (NumPy, SciPy) are timed in the
  1-thread setting only.  JAX's XLA pool is fixed when it starts: JAX is timed here in the
  all-threads setting, and at 1 thread by a worker process (``run.py --pinned-worker``) pinned to
  one CPU, whose cells are marked ``*``.
* Bandwidth: at each thread count a streaming read of 1 GiB (NumPy's max over one block per thread:
  one max per element, vectorised, one thread per block) gives the machine's read bandwidth; ``bw`` is the
  bandwidth cxent reaches reading its (N, C) inputs once (their bytes / median; outputs and class
  targets not counted), as a fraction of it.  The ``cross_entropy`` rows are also printed as a
  multiple of a plain read of the same logits.
* Each implementation of a case is warmed up once (that result is checked against cxent's), then
  an inner loop count is chosen so that one sample lasts >= ``--min-time`` (2 ms; one call for large
  shapes), as ``timeit.Timer.autorange`` does.
* Samples are interleaved: round r times every implementation once, starting at implementation
  r mod k, so slow drifts of this noisy VM hit all columns alike.  The median and min per call are
  reported.  Each implementation gets an equal share of a time budget per case: between 3 (1 with
  --quick; 2 for calls of a second or more) and --repeat samples.  numpy-ref, a long-double
  oracle, is skipped on large shapes.
* A short pause (``--settle``) precedes each sample, so that OpenMP workers of the previous
  implementation (torch's, cxent's) stop spinning before the next one starts.
* Every call allocates its outputs afresh, as users' code does; ``log_softmax(out=)`` is the
  pre-allocated variant, where the page faults of a fresh output are not timed.
* CPU time used by other processes during each case is measured (/proc/stat minus our own) and
  shown in the ``busy`` column: a disturbed row is flagged, not silently reported.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import math
import os
import platform
import statistics
import sys
import time
from contextlib import contextmanager, nullcontext
from datetime import datetime, timezone

QUICK_SHAPES = "64x10:f32,4096x1000:f32,4096x1000:f64"
DEFAULT_SHAPES = "64x10:f32,4096x1000:f32,4096x1000:f64,8192x32000:f32"
RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
DTYPES = {"f32": "float32", "float32": "float32", "f64": "float64", "float64": "float64"}
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
SHOWN_ENV = THREAD_ENV + ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_PROC_BIND", "CXENT_SIMD",
                          "THP_MEM_ALLOC_ENABLE", "NUMPY_MADVISE_HUGEPAGE")


# ----------------------------------------------------------------------------- command line


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Benchmark cxent against NumPy (cxent._reference and a lean composition), "
                    "torch, SciPy, JAX+optax and scikit-learn when installed.  Speed-up = peer "
                    "median / cxent median.")
    p.add_argument("--quick", action="store_true",
                   help=f"shapes {QUICK_SHAPES}, all threads only, 1..5 samples per "
                        "implementation, 0.4 s per case: under a minute")
    p.add_argument("--shapes", metavar="NxC[:f32|f64],...",
                   help="explicit shapes, e.g. '64x10,4096x1000:f64' (default dtype f32)")
    p.add_argument("--functions", metavar="NAMES",
                   help="comma list; a name matches exactly if it is a benchmark's name, else as "
                        "a substring (or an fnmatch pattern with * ?); see --list")
    p.add_argument("--impls", metavar="NAMES",
                   help="comma list of implementations to time (cxent is always timed): "
                        "numpy-ref, numpy, torch, scipy, jax, sklearn")
    p.add_argument("--threads", metavar="N,...",
                   help="thread counts to time every case at, e.g. '1,2' or 'all' (default: "
                        "'1,all'; --quick: 'all'); switched at run time with threadpoolctl and "
                        "torch.set_num_threads")
    p.add_argument("--repeat", type=int, metavar="R",
                   help="rounds of interleaved samples per case (default 7, --quick 5); given "
                        "explicitly, the per-case time budget no longer lowers it")
    p.add_argument("--min-time", type=float, default=2.0, metavar="MS",
                   help="minimum duration of one sample; the inner loop is sized to it (default 2)")
    p.add_argument("--budget", type=float, metavar="S",
                   help="seconds of samples per case, shared by its implementations; a slow "
                        "one gets fewer samples, down to 3 (2 for calls of 1 s or more, 1 with "
                        "--quick); default 6, --quick 0.4")
    p.add_argument("--ref-max-elements", type=int, default=1_000_000, metavar="K",
                   help="time numpy-ref (a long-double test oracle, 10-200x slower than cxent) "
                        "only on shapes of at most K elements (default 1000000; 0: always)")
    p.add_argument("--settle", type=float, default=1.0, metavar="MS",
                   help="pause before each sample (default 1 ms; 0 disables)")
    p.add_argument("--wait-idle", type=float, default=0.0, metavar="S",
                   help="on a shared machine: before each case, wait up to S seconds for other "
                        "processes to go quiet, and re-time a case disturbed anyway (twice at "
                        "most, keeping the least disturbed); default 0: do not wait")
    p.add_argument("--json", metavar="PATH",
                   help="where to write all samples as JSON (default "
                        "bench/results/run-<time>.json; '' disables)")
    p.add_argument("--plot", metavar="PATH",
                   help="where to write a PNG of the speed-ups (default: next to the JSON; needs "
                        "matplotlib)")
    p.add_argument("--no-plot", action="store_true", help="write no PNG")
    p.add_argument("--load", metavar="JSON",
                   help="time nothing: print the table of a saved results file (and --plot it)")
    p.add_argument("--no-check", action="store_true",
                   help="do not compare each implementation's result with cxent's")
    p.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    p.add_argument("--no-pinned-jax", action="store_true",
                   help="do not time JAX at 1 thread in a worker process pinned to one CPU")
    p.add_argument("--pinned-worker", action="store_true", help=argparse.SUPPRESS)  # see pinned_jax
    args = p.parse_args(argv)
    try:
        args.thread_counts = parse_threads(args.threads or ("all" if args.quick else "1,all"))
    except ValueError as err:
        p.error(f"--threads: {err}")
    if args.repeat is not None and args.repeat < 1:
        p.error("--repeat must be >= 1")
    return args


def usable_cpus():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def parse_threads(text):
    """Sorted distinct thread counts of '1,all'-style text ('all' = the usable CPUs)."""
    counts = set()
    for tok in filter(None, (t.strip().lower() for t in text.split(","))):
        n = usable_cpus() if tok == "all" else int(tok)
        if n < 1:
            raise ValueError(f"thread counts must be >= 1; got {tok!r}")
        counts.add(n)
    if not counts:
        raise ValueError("no thread count given")
    return sorted(counts)


def parse_shapes(text):
    shapes = []
    for item in filter(None, (s.strip() for s in text.split(","))):
        dims, _, dt = item.partition(":")
        try:
            n, c = (int(v) for v in dims.lower().split("x"))
            dtype = DTYPES[(dt or "f32").lower()]
        except (ValueError, KeyError):
            raise SystemExit(f"bench/run.py: bad shape {item!r}; expected NxC or NxC:f32|f64"
                             ) from None
        shapes.append(((n, c), dtype))
    return shapes


def select_functions(functions, text):
    import fnmatch

    if not text:
        return list(functions)
    names = [f.name for f in functions]
    chosen = set()
    for tok in filter(None, (s.strip() for s in text.split(","))):
        if tok in names:
            hits = [tok]
        elif any(ch in tok for ch in "*?["):
            hits = fnmatch.filter(names, tok)
        else:
            hits = [n for n in names if tok in n]
        if not hits:
            raise SystemExit(f"bench/run.py: --functions {tok!r} matches nothing; "
                             f"known: {', '.join(names)}")
        chosen.update(hits)
    return [f for f in functions if f.name in chosen]


# ----------------------------------------------------------------------------- imports


def import_cxent():
    """The installed cxent, else the source tree's in-place build; a clear exit if neither works."""
    try:
        import cxent
    except ImportError as first:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        if not os.path.isfile(os.path.join(root, "cxent", "__init__.py")):
            raise SystemExit(f"bench/run.py: cannot import cxent ({first}).\n"
                             "Install it first: pip install -e .   (from the repository root)")
        sys.path.insert(0, root)  # `python bench/run.py` puts bench/, not the root, on sys.path
        try:
            import cxent
        except ImportError as err:
            raise SystemExit(f"bench/run.py: cannot import cxent ({err}).\nBuild and install it "
                             "first: pip install -e .   (from the repository root)") from None
    try:
        cxent.softmax  # noqa: B018 - a half-written package imports but lacks the functions
    except AttributeError as err:
        raise SystemExit(f"bench/run.py: cxent at {cxent.__file__} is incomplete ({err})") from None
    return cxent


def load_impls(impls, wanted):
    """``{name: module}`` of the importable implementations, ``{name: reason}`` of the others."""
    loaded, missing = {}, {}
    for impl in impls:
        if impl.name == "cxent" or (wanted is not None and impl.name not in wanted):
            continue  # cxent itself comes from import_cxent()
        try:
            loaded[impl.name] = impl.load()
        except Exception as err:  # ImportError, or a broken install
            missing[impl.name] = f"{type(err).__name__}: {err}"
    return loaded, missing


# ----------------------------------------------------------------------------- machine info


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def cpu_model():
    info = {}
    for line in _read("/proc/cpuinfo").splitlines():
        key, _, val = line.partition(":")
        key = key.strip()
        if key in ("model name", "cpu family", "model", "flags") and key not in info:
            info[key] = val.strip()
    name = info.get("model name") or platform.processor() or platform.machine()
    if "cpu family" in info:
        name += f" (family {info['cpu family']} model {info.get('model', '?')})"
    flags = set(info.get("flags", "").split())
    simd = [f for f in ("avx2", "fma", "avx512f") if f in flags]
    return name, simd


def openmp_runtimes():
    """Paths of the OpenMP runtimes mapped into this process (two of them can fight over cores)."""
    libs = set()
    for line in _read("/proc/self/maps").splitlines():
        path = line.split()[-1] if line.split() else ""
        base = os.path.basename(path)
        if base.startswith(("libgomp", "libiomp", "libomp")):
            libs.add(path)
    return sorted(libs)


def machine_info(cxent, modules):
    import numpy as np

    name, simd = cpu_model()
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        affinity = os.cpu_count()
    mem = next((ln.split()[1] for ln in _read("/proc/meminfo").splitlines()
                if ln.startswith("MemTotal")), None)
    thp = _read("/sys/kernel/mm/transparent_hugepage/enabled").strip()
    info = {
        "cpu": name,
        "cpu_simd": simd,
        "logical_cpus": os.cpu_count(),
        "usable_cpus": affinity,
        "memory_gib": round(int(mem) / 2**20, 1) if mem else None,
        "transparent_hugepage": thp or None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "cxent": getattr(cxent, "__version__", "?"),
        "cxent_path": os.path.dirname(cxent.__file__),
        "env": {k: os.environ[k] for k in SHOWN_ENV if k in os.environ},
    }
    if "scipy" in modules:
        import scipy

        info["scipy"] = scipy.__version__
    if "jax" in modules:
        import optax

        info["jax"] = f"{modules['jax'].__version__} (optax {optax.__version__})"
    if "sklearn" in modules:
        import sklearn

        info["sklearn"] = sklearn.__version__
    if "torch" in modules:
        torch = modules["torch"]
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        try:
            info["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
        except AttributeError:
            pass
    info["openmp_runtimes"] = openmp_runtimes()
    buf = io.StringIO()
    try:
        cxent.show_config(file=buf)
    except Exception as err:  # show_config is diagnostics: never fatal
        buf.write(f"(cxent.show_config() failed: {err})")
    info["cxent_config"] = buf.getvalue().rstrip()
    return info


def print_header(info, impl_labels, missing, settings):
    print(f"# cxent benchmark  {settings['started']}")
    print(f"machine : {info['cpu']}, {info['usable_cpus']}/{info['logical_cpus']} CPUs usable, "
          f"SIMD {'+'.join(info['cpu_simd']) or 'none'}, {info['memory_gib']} GiB, "
          f"THP {info['transparent_hugepage']}")
    print(f"software: Python {info['python']}, numpy {info['numpy']}"
          + (f", scipy {info['scipy']}" if "scipy" in info else "")
          + (f", jax {info['jax']}" if "jax" in info else "")
          + (f", scikit-learn {info['sklearn']}" if "sklearn" in info else "")
          + (f", torch {info['torch']} ({info['torch_threads']} threads, "
             f"{info.get('torch_cpu_capability', '?')})" if "torch" in info else ""))
    print(f"cxent   : {info['cxent']} from {info['cxent_path']}")
    print(f"openmp  : {', '.join(info['openmp_runtimes']) or 'none loaded'}")
    if info["env"]:
        print("env     : " + " ".join(f"{k}={v}" for k, v in info["env"].items()))
    print(f"threads : {', '.join(map(str, settings['thread_counts']))} (each case at each count)")
    if info.get("read_gbs"):
        print("read bw : " + ", ".join(f"{v:.1f} GB/s at {n} thread{'s' * (n != '1')}"
                                       for n, v in info["read_gbs"].items())
              + "  (streaming read of 1 GiB; bw = cxent's (N, C) inputs read once, in GB/s, "
                "as a fraction of it)")
    print(f"timing  : samples >= {settings['min_time_ms']:g} ms, {settings['min_rounds']}.."
          f"{settings['repeat']} interleaved samples per implementation (budget "
          f"{settings['budget_s']:g} s per case), settle {settings['settle_ms']:g} ms; "
          "median per call in ms")
    for name, label in impl_labels.items():
        print(f"  {name:<10} {label}")
    for name, why in missing.items():
        print(f"  {name:<10} skipped: {why}")
    print(info["cxent_config"])
    print()


# ----------------------------------------------------------------------------- other load


class CpuMonitor:
    """CPU time used by *other* processes (and stolen by the hypervisor) while we time.

    The development VM is shared (test suites, builds): a case timed while others ran is flagged,
    not silently reported.  Linux only; elsewhere ``load`` returns None.
    """

    def __init__(self):
        try:
            self.hz = os.sysconf("SC_CLK_TCK")
        except (AttributeError, ValueError, OSError):
            self.hz = 100

    def snap(self):
        fields = _read("/proc/stat").split("\n", 1)[0].split()
        if len(fields) < 9 or fields[0] != "cpu":
            return None
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[1:9])
        own = os.times()  # with finished children: the pinned JAX worker is not "other"
        return (time.perf_counter(), (user + nice + system + irq + softirq) / self.hz,
                steal / self.hz, own.user + own.system + own.children_user + own.children_system)

    @staticmethod
    def load(a, b):
        """``(others, steal)`` in CPUs (average over the interval) between two snaps."""
        if a is None or b is None or b[0] <= a[0]:
            return None, None
        wall = b[0] - a[0]
        others = max(0.0, (b[1] - a[1]) - (b[3] - a[3])) / wall
        return round(others, 3), round((b[2] - a[2]) / wall, 3)


def wait_idle(limit_s, window=0.25):
    """Wait up to ``limit_s`` until other processes use < ``BUSY`` CPUs; returns seconds waited."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < limit_s:
        a = MONITOR.snap()
        time.sleep(window)
        others, _ = MONITOR.load(a, MONITOR.snap())
        if others is None or others < BUSY:
            break
    return time.perf_counter() - t0


# ----------------------------------------------------------------------------- threads, bandwidth


class Threads:
    """Switches the thread count at run time: threadpoolctl for the OpenMP runtimes (cxent's,
    torch's, scikit-learn's) and ``torch.set_num_threads`` for torch's own pool."""

    def __init__(self, modules):
        self.torch = modules.get("torch")
        try:
            import threadpoolctl
        except ImportError:
            threadpoolctl = None
        self.tpc = threadpoolctl

    @contextmanager
    def limit(self, n):
        if self.tpc is None and n != usable_cpus():
            raise SystemExit("bench/run.py: switching thread counts needs threadpoolctl "
                             "(pip install threadpoolctl, or pass --threads all)")
        ctx = (self.tpc.threadpool_limits(limits=n, user_api="openmp") if self.tpc
               else nullcontext())
        before = self.torch.get_num_threads() if self.torch else None
        with ctx:
            if self.torch:
                self.torch.set_num_threads(n)
            try:
                yield
            finally:
                if self.torch:
                    self.torch.set_num_threads(before)


def runs_at(impl, n, counts):
    """Whether implementation ``impl`` (an ``_peers.Impl``) is timed at thread count ``n``."""
    if impl.threaded == "none":  # single-threaded: once, with the 1-thread (smallest) setting
        return n == counts[0]
    if impl.threaded == "own":  # a pool fixed at start-up (JAX): with the all-threads setting
        return n == counts[-1]
    return True


def read_bandwidth(counts, threads, gib=1.0, repeat=7):
    """``{threads: GB/s}`` of a streaming read of ``gib`` GiB (float32) at each thread count: NumPy's
    vectorised max over one contiguous block per thread (NumPy releases the GIL in reductions)."""
    import numpy as np
    from concurrent.futures import ThreadPoolExecutor

    a = np.ones(int(gib * 2**30) // 4, dtype=np.float32)  # written: its pages are faulted in
    out = {}
    for n in counts:
        blocks = np.array_split(a, n)
        with ThreadPoolExecutor(n) as pool:
            def read():
                return max(pool.map(np.maximum.reduce, blocks))
            read()
            ts = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                read()
                ts.append(time.perf_counter() - t0)
        out[n] = a.nbytes / statistics.median(ts) / 1e9
    return out


# ----------------------------------------------------------------------------- timing


def _batch(fn, number):
    gc_was = gc.isenabled()
    gc.disable()
    try:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        return time.perf_counter() - t0
    finally:
        if gc_was:
            gc.enable()


TRUST_FIRST = 0.05  #: seconds: a warm-up call at least this long sizes the inner loop (to 1)
SLOW_CALL = 1.0  #: seconds: a call at least this long (1 GiB shapes) gets ...
SLOW_ROUNDS = 2  #: ... at most this many samples when the budget allows fewer than min_rounds


def calibrate(fn, min_time, first=None):
    """Inner loop count so that one sample lasts >= ``min_time`` s, and the per-call estimate.

    ``first`` is the duration of a warm-up call already made.  A first call may include one-time
    set-up (torch's first softmax call takes milliseconds, the next ones microseconds), so it is
    trusted only when it is long (>= ``TRUST_FIRST`` s: large shapes, slow peers) and then saves a
    call; otherwise calibration times the function afresh.
    """
    if first is not None and first >= max(min_time, TRUST_FIRST):
        return 1, first
    number = 1
    while True:
        t = _batch(fn, number)
        if t >= min_time or number >= 10**7:
            return number, t / number
        grow = min_time / max(t, 1e-9) * 1.25  # aim past the target; timeit's autorange
        number = max(number * 2, min(int(math.ceil(number * grow)), number * 100))


def time_case(fns, first, s):
    """Interleaved samples (seconds per call) of each ``{name: fn}``, and the inner loop counts.

    ``first``: ``{name: warm-up seconds}``; ``s``: the settings.  Each implementation gets an equal
    share of the case's time budget: ``min_rounds <= rounds <= repeat`` samples (exactly ``repeat``
    when it was given; a call of ``SLOW_CALL`` or more may get only ``SLOW_ROUNDS``).  Round r
    starts at implementation r mod k; an implementation whose rounds are used up drops out of the
    later rounds.
    """
    names = list(fns)
    min_time, settle = s["min_time_ms"] / 1e3, s["settle_ms"] / 1e3
    numbers, rounds = {}, {}
    for name in names:
        numbers[name], est = calibrate(fns[name], min_time, first.get(name))
        if s["repeat_fixed"]:
            rounds[name] = s["repeat"]
        else:
            share = s["budget_s"] / len(names) / (numbers[name] * est + settle)
            floor = s["min_rounds"] if est < SLOW_CALL else min(s["min_rounds"], SLOW_ROUNDS)
            rounds[name] = max(floor, min(s["repeat"], int(share)))
    samples = {n: [] for n in names}
    for r in range(max(rounds.values(), default=0)):
        for k in range(len(names)):
            name = names[(r + k) % len(names)]
            if r >= rounds[name]:
                continue
            if settle:
                time.sleep(settle)
            samples[name].append(_batch(fns[name], numbers[name]) / numbers[name])
    return samples, numbers


def summarize(times):
    ts = sorted(times)
    q = statistics.quantiles(ts, n=4) if len(ts) >= 2 else [ts[0]] * 3
    return {"median_ms": statistics.median(ts) * 1e3, "min_ms": ts[0] * 1e3,
            "q1_ms": q[0] * 1e3, "q3_ms": q[2] * 1e3}


# ----------------------------------------------------------------------------- table


def fmt_ms(v):
    if v is None:
        return "-"
    return f"{v:.4f}" if v < 1 else f"{v:.4g}" if v < 1000 else f"{v:.0f}"


def fmt_ratio(v, flag=""):
    if v is None or not math.isfinite(v):
        return "-"
    return (f"{v:.2f}x" if v < 10 else f"{v:.1f}x" if v < 100 else f"{v:.0f}x") + flag


class Table:
    """A fixed-width, markdown-compatible table printed row by row as cases finish."""

    def __init__(self, peers, name_width):
        self.peers = peers
        self.cols = [("function", max(8, name_width), "<"), ("shape", 14, "<"), ("thr", 3, ">"),
                     ("cxent ms", 8, ">"), ("(min)", 8, ">"), ("bw", 4, ">")]
        for p in peers:
            self.cols += [(p, 9, ">"), ("x", 7, ">")]
        self.cols.append(("busy", 4, ">"))

    def _line(self, cells):
        return "| " + " | ".join(f"{cell:{align}{width}}" for (_, width, align), cell
                                 in zip(self.cols, cells)) + " |"

    def header(self):
        print(self._line([c[0] for c in self.cols]))
        print("|" + "|".join(("-" * (w + 1) + ":") if a == ">" else ("-" * (w + 2))
                             for _, w, a in self.cols) + "|", flush=True)

    def row(self, name, shape, threads, cxent_cells, peer_cells, busy):
        cells = [name, shape, str(threads), *cxent_cells]
        for p in self.peers:
            cells += list(peer_cells.get(p, ("", "")))
        cells.append(f"{busy:.1f}" if busy is not None and busy >= BUSY else "")
        print(self._line(cells), flush=True)


# ----------------------------------------------------------------------------- the run


MONITOR = CpuMonitor()
#: Other processes' average CPU use during a case from which its row shows it ("busy").
BUSY = 0.15


def tolerance(dtype):
    return 1e-4 if dtype == "float32" else 1e-9


def check_result(result, want, dtype):
    """``max_rel_err`` of a peer's result against cxent's, and ``check``: ok or mismatch."""
    try:
        err = _peers().max_rel_error(result, want)
    except Exception as e:  # noqa: BLE001 - a failed comparison is reported, not fatal
        return {"max_rel_err": None, "check": "mismatch", "check_error": str(e)[:200]}
    if not math.isfinite(err):  # nan in the result, or another shape: JSON has no nan/inf
        return {"max_rel_err": None, "check": "mismatch",
                "check_error": "shape differs" if err == float("inf") else "nan in the result"}
    return {"max_rel_err": err, "check": "ok" if err <= tolerance(dtype) else "mismatch"}


def run_case(func, shape, dtype, arrays, modules, args, settings, absent, threads):
    """Time every implementation of one case at ``threads`` threads; returns its result records."""
    peers = _peers()
    waited = wait_idle(settings["wait_idle_s"]) if settings["wait_idle_s"] else 0.0
    fns, first, records, errors, want = {}, {}, {}, {}, None
    impls = {i.name: i for i in peers.IMPLS}
    for impl, mod in modules.items():
        make = func.factory(impl)
        if make is None or not runs_at(impls[impl], threads, settings["thread_counts"]):
            continue
        if impl in peers.MIRRORS and not hasattr(mod, func.api):
            absent.setdefault(impl, []).append(func.api)  # e.g. a reference still being written
            continue
        if impl == "numpy-ref" and 0 < settings["ref_max_elements"] < shape[0] * shape[1]:
            absent.setdefault("numpy-ref (size)", []).append(f"{shape[0]}x{shape[1]}")
            continue
        try:
            fn = make(mod, arrays)
            t0 = time.perf_counter()
            result = fn()  # warm-up; the result is checked against cxent's
            first[impl] = time.perf_counter() - t0
        except Exception as err:  # noqa: BLE001 - one failing implementation must not stop the run
            errors[impl] = f"{type(err).__name__}: {err}".splitlines()[0][:200]
            if impl == "cxent":  # no speed-up to report: spend no time on the peers
                break
            continue
        if impl not in settings["untimed"]:
            fns[impl], records[impl] = fn, {}
        if impl == "cxent":  # first in `modules`: kept until the peers are checked
            want = result
        elif want is not None and not args.no_check:
            records[impl] = check_result(result, want, dtype)
        result = None  # 1 GiB outputs: hold at most two at a time
    want = None
    snap0 = MONITOR.snap()
    samples, numbers = time_case(fns, first, settings)
    others, steal = MONITOR.load(snap0, MONITOR.snap())
    out = []
    base = None
    for impl in modules:
        rec = {"function": func.name, "api": func.api, "shape": list(shape), "dtype": dtype,
               "impl": impl, "threads": threads, "others_cpu": others,
               "steal_cpu": steal, "waited_idle_s": round(waited, 2)}
        if impl in errors:
            rec.update(error=errors[impl])
        elif impl in samples:
            rec.update(summarize(samples[impl]), inner_loops=numbers[impl],
                       first_call_ms=round(first[impl] * 1e3, 6),
                       samples_ms=[round(t * 1e3, 6) for t in samples[impl]], **records[impl])
        else:
            continue
        out.append(rec)
        if impl == "cxent" and "median_ms" in rec:
            base = rec["median_ms"]
            bw = settings["read_gbs"].get(threads)
            nbytes = len(func.streamed()) * shape[0] * shape[1] * (4 if dtype == "float32" else 8)
            if bw and nbytes:  # the (N, C) inputs read once, at the streaming-read speed
                rec["read_bytes"] = nbytes
                rec["read_ms"] = nbytes / (bw * 1e9) * 1e3
                rec["bw_fraction"] = rec["read_ms"] / rec["median_ms"]
    for rec in out:
        if base and rec["impl"] != "cxent" and "median_ms" in rec:
            rec["speedup"] = rec["median_ms"] / base
    return out


RETRIES = 2  #: re-timings of a disturbed case under --wait-idle
PINNED = "pinned worker"  #: ``process`` of the records timed by the pinned JAX worker
PINNED_SHARE = 4  #: the worker's per-case budget: about JAX's share in a case of 4 implementations


def pinned_jax(args, funcs, shapes, settings):
    """JAX at 1 thread, timed in a worker process pinned to one CPU.

    XLA sizes its thread pool when JAX starts and no flag of jax 0.10 limits it afterwards
    (``--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1`` still runs 2 threads), so
    the 1-thread JAX numbers come from ``run.py --pinned-worker``: the same cases, JAX only (cxent
    is called once per case for the result check), in a process whose CPU affinity is one CPU.
    Returns ``{(function, shape, dtype): record}`` and a note if the worker failed.
    """
    import subprocess
    import tempfile

    names = [f.name for f in funcs if f.factory("jax")]
    if not names:
        return {}, None
    fd, path = tempfile.mkstemp(prefix="cxent-bench-jax-", suffix=".json")
    os.close(fd)
    cmd = [sys.executable, os.path.abspath(__file__), "--pinned-worker", "--impls", "jax",
           "--threads", "1", "--functions", ",".join(names), "--no-plot", "--json", path,
           "--shapes", ",".join(f"{n}x{c}:{dtype}" for (n, c), dtype in shapes),
           "--min-time", str(settings["min_time_ms"]), "--settle", str(settings["settle_ms"]),
           "--budget", str(settings["budget_s"] / PINNED_SHARE),
           "--ref-max-elements", str(settings["ref_max_elements"])]
    cmd += ["--repeat", str(settings["repeat"])] if settings["repeat_fixed"] else []
    cmd += ["--quick"] if args.quick else []
    cmd += ["--no-check"] if args.no_check else []
    print(f"jax at 1 thread: timing in a worker pinned to one CPU ({len(names)} functions x "
          f"{len(shapes)} shapes) ...", flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError):
        why = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        return {}, f"the pinned JAX worker failed ({why}): JAX has no 1-thread cells"
    finally:
        os.unlink(path)
    print(f"jax at 1 thread: done in {time.perf_counter() - t0:.0f} s (CPU "
          f"{doc['machine'].get('pinned_cpu')})\n", flush=True)
    return {(r["function"], tuple(r["shape"]), r["dtype"]): r for r in doc["results"]
            if r["impl"] == "jax"}, None


def merge_pinned(rec, recs):
    """The worker's record of one case, as a 1-thread cell of this process's row ``recs``."""
    rec = dict(rec, threads=1, process=PINNED)
    base = next((r.get("median_ms") for r in recs if r["impl"] == "cxent"), None)
    if base and "median_ms" in rec:
        rec["speedup"] = rec["median_ms"] / base
    return rec


def pin_to_one_cpu():
    """Restrict this process (before JAX starts) to its last usable CPU; returns that CPU."""
    cpu = max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def disturbance(recs):
    """Other processes' CPU use while a case ran (0 when unknown)."""
    return max((r.get("others_cpu") or 0.0 for r in recs), default=0.0)


def needed_later(funcs, i):
    return {k for f in funcs[i + 1:] for k in f.args}


def shape_label(shape, dtype):
    return f"{shape[0]}x{shape[1]} {dtype.replace('float', 'f')}"


def print_case(table, recs, notes):
    """Print one case's row; append its notes; True if other processes disturbed it."""
    if not recs:  # cxent lacks the function: noted once at the end
        return False
    by = {r["impl"]: r for r in recs}
    head = recs[0]
    label = shape_label(head["shape"], head["dtype"])
    cells = {}
    for impl, r in by.items():
        if "error" in r:
            cells[impl] = ("err", "")
            notes.append(f"{head['function']} {label}: {impl} failed: {r['error']}")
            continue
        flag = "*" if r.get("process") == PINNED else ""
        if r.get("check") == "mismatch":
            flag += "!"
            how = (f"max rel. error {r['max_rel_err']:.3g} (tolerance "
                   f"{tolerance(head['dtype']):g})" if r.get("max_rel_err") is not None
                   else r.get("check_error", "?"))
            notes.append(f"{head['function']} {label}: {impl} differs from cxent: {how}")
        cells[impl] = (fmt_ms(r["median_ms"]), fmt_ratio(r.get("speedup"), flag))
        if impl == "cxent":
            cells[impl] = (fmt_ms(r["median_ms"]), fmt_ms(r["min_ms"]))
    cx = by.get("cxent", {})
    busy = cx.get("others_cpu")
    bw = f"{cx['bw_fraction']:.0%}" if cx.get("bw_fraction") else "-"
    table.row(head["function"], label, head.get("threads") or "-",
              (*cells.get("cxent", ("-", "-")), bw), cells, busy)
    return busy is not None and busy >= BUSY


def run_all(funcs, shapes, modules, args, settings, table, threads, pinned):
    """Time every case at every thread count, printing rows as they finish; ``pinned``: the
    worker's JAX records (:func:`pinned_jax`), merged into the 1-thread rows."""
    peers = _peers()
    results, notes, n_busy, absent = [], [], 0, {}
    for shape, dtype in shapes:
        arrays = {}
        for i, func in enumerate(funcs):
            for kind in func.args:
                if kind not in arrays:
                    arrays[kind] = peers.make_input(kind, shape, dtype)
            for n in settings["thread_counts"]:
                with threads.limit(n):
                    recs = run_case(func, shape, dtype, arrays, modules, args, settings, absent, n)
                    for _ in range(RETRIES if settings["wait_idle_s"] or settings["quick"] else 0):
                        if disturbance(recs) < BUSY:
                            break
                        again = run_case(func, shape, dtype, arrays, modules, args, settings, {},
                                         n)
                        if disturbance(again) < disturbance(recs):
                            recs = again
                if n == 1 and (func.name, shape, dtype) in pinned:
                    recs.append(merge_pinned(pinned[func.name, shape, dtype], recs))
                results += recs
                n_busy += print_case(table, recs, notes)
            for kind in list(arrays):  # free what the remaining functions do not read
                if kind not in needed_later(funcs, i):
                    del arrays[kind]
        del arrays
        gc.collect()
    for impl, apis in absent.items():
        if impl == "numpy-ref (size)":
            notes.append(f"numpy-ref not timed on {', '.join(dict.fromkeys(apis))} "
                         f"(> --ref-max-elements {settings['ref_max_elements']})")
        else:
            notes.append(f"{impl} has no {', '.join(dict.fromkeys(apis))}: left blank")
    counts = settings["thread_counts"]
    if len(counts) > 1:  # the blank cells of implementations timed at one setting only
        kinds = {i.name: i.threaded for i in peers.IMPLS}
        for kind, n, why in (("none", counts[0], "single-threaded"),
                             ("own", counts[-1], ("XLA's thread pool is sized when JAX starts "
                                                  "and cannot be limited afterwards"))):
            names = [name for name in modules if kinds[name] == kind]
            if kind == "own" and pinned:
                notes.append(f"* {', '.join(names)} at 1 thread: timed in a worker process pinned "
                             "to one CPU (XLA's thread pool cannot be limited in this one), "
                             "against this process's cxent median")
            elif names:
                notes.append(f"{', '.join(names)} timed at {n} thread{'s' * (n != 1)} only "
                             f"({why}): blank at the other thread counts")
    if n_busy:
        notes.append(f"{n_busy} case(s) ran while other processes used >= {BUSY:g} CPUs on "
                     "average ('busy' column): their numbers are disturbed; re-run them on an "
                     "idle machine")
    return results, notes


READ_RATIO_FUNCTION = "cross_entropy"  #: the row compared with a plain read of its input
READ_RATIO_MIN_BYTES = 2**20  #: ... on inputs of at least this size (in cache: not a stream)


def print_read_ratios(results):
    """cxent's ``cross_entropy`` time over a streaming read of the same logits, per row."""
    rows = [r for r in results if r["impl"] == "cxent" and r["function"] == READ_RATIO_FUNCTION
            and r.get("read_ms") and r.get("read_bytes", 0) >= READ_RATIO_MIN_BYTES]
    if not rows:
        return
    print()
    print(f"{READ_RATIO_FUNCTION} time / streaming-read time of the same logits (1.0: as fast as "
          "a plain read; the issue's target is <= 2.0 at 8192x32000 on 1 thread):")
    for r in rows:
        n = r["threads"]
        print(f"  {shape_label(r['shape'], r['dtype']):<15} {n} thread{'s' * (n != 1)}: "
              f"{fmt_ms(r['median_ms']):>7} ms / {fmt_ms(r['read_ms']):>7} ms = "
              f"{r['median_ms'] / r['read_ms']:.2f}")


def geomean(values):
    values = [v for v in values if v and math.isfinite(v) and v > 0]
    return math.exp(sum(map(math.log, values)) / len(values)) if values else None


def disturbed(r):
    """Whether other processes used >= BUSY CPUs while the record's case ran."""
    return (r.get("others_cpu") or 0.0) >= BUSY


def summary(results, peers):
    """Geometric-mean speed-ups per shape and thread count, without the cases that differ from
    cxent's result or ran disturbed (the table and the plot mark those)."""
    keys = list(dict.fromkeys((tuple(r["shape"]), r["dtype"], r.get("threads")) for r in results))
    out = {}
    for shape, dtype, n in keys:
        out[f"{shape_label(shape, dtype)}, {n or '-'} thr"] = {p: geomean([
            r.get("speedup") for r in results if r["impl"] == p and tuple(r["shape"]) == shape
            and r["dtype"] == dtype and r.get("threads") == n and r.get("check") != "mismatch"
            and not disturbed(r)])
            for p in peers}
    return out


def print_summary(summ, peers):
    if not summ or not peers:
        return
    print()
    print("Geometric-mean speed-up of cxent per shape (peer median / cxent median; results that "
          "differ, and cases marked busy, left out):")
    print("| shape, threads        | " + " | ".join(f"{p:>9}" for p in peers) + " |")
    print("|-----------------------|" + "|".join("-" * 10 + ":" for _ in peers) + "|")
    for label, row in summ.items():
        print(f"| {label:<21} | " + " | ".join(f"{fmt_ratio(row[p]):>9}" for p in peers) + " |")


def plot(results, peers, path, title=None):
    """Speed-ups as horizontal bars from 1x (left: cxent slower, right: faster), log scale, the
    ratio printed at each bar's end; one panel per shape and thread count, each with its own
    x-range; cases disturbed by other processes hatched and marked "busy" (left out of the
    summary, as in the table).  ``title``: machine, date and cxent version (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FixedLocator, NullLocator
    except ImportError:
        print(f"bench/run.py: matplotlib is not installed; no plot written to {path}",
              file=sys.stderr)
        return
    shapes = list(dict.fromkeys((tuple(r["shape"]), r["dtype"]) for r in results))
    counts = sorted({r.get("threads") or 0 for r in results})
    funcs = list(dict.fromkeys(r["function"] for r in results))
    if not any(r.get("speedup") for r in results) or not peers:
        print("bench/run.py: no speed-ups to plot", file=sys.stderr)
        return
    fig, axes = plt.subplots(len(counts), len(shapes), sharey=True, squeeze=False,
                             figsize=(4.2 * len(shapes) + 3.2,
                                      (0.3 * len(funcs) * len(peers) / 2 + 1.2) * len(counts)
                                      + 0.9))
    height = 0.8 / len(peers)
    panels = [(ax, shape, dtype, n) for row, n in zip(axes, counts)
              for ax, (shape, dtype) in zip(row, shapes)]
    for ax, shape, dtype, n in panels:
        shown = []
        for j, p in enumerate(peers):
            for i, f in enumerate(funcs):
                r = next((r for r in results if r["function"] == f and r["impl"] == p
                          and tuple(r["shape"]) == shape and r["dtype"] == dtype
                          and (r.get("threads") or 0) == n), None)
                if not (r and r.get("speedup")):
                    continue
                x, y, busy = r["speedup"], i + (j - (len(peers) - 1) / 2) * height, disturbed(r)
                ax.barh([y], [x - 1.0], left=1.0, height=height, color=f"C{j}",
                        label=p, hatch="///" if busy else None, alpha=0.55 if busy else 1.0)
                mark = (" busy" if busy else "") + (" !" if r.get("check") == "mismatch" else "")
                ax.text(x * (1.04 if x >= 1 else 1 / 1.04), y, f"{x:.2f}x{mark}", va="center",
                        ha="left" if x >= 1 else "right", fontsize=6)
                shown.append(x)
        lo, hi = min(shown + [1.0]), max(shown + [1.0])
        lo, hi = min(lo, 0.8) / 1.6, max(hi, 1.25) * 1.6  # room for the printed ratios
        ax.axvline(1.0, color="k", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlim(lo, hi)
        ticks = [t for t in (0.01, 0.03, 0.1, 0.3, 0.5, 1, 2, 3, 5, 10, 30, 100, 300, 1000)
                 if lo <= t <= hi]
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticklabels([f"{t:g}x" for t in ticks], fontsize="small")
        ax.set_title(f"{shape[0]}x{shape[1]} {dtype}, {n or '?'} thread{'s' * (n != 1)}",
                     fontsize="medium")
        ax.grid(axis="x", alpha=0.3)
    for row in axes:
        row[0].set_yticks(range(len(funcs)))
        row[0].set_yticklabels(funcs, fontsize="small")
        row[0].set_ylim(len(funcs) - 0.5, -0.5)
    fig.supxlabel("speed-up of cxent = peer median / cxent median (bars from 1x: right, cxent "
                  "faster; left, slower; hatched: busy, disturbed by other processes)",
                  fontsize="medium")
    if title:
        fig.suptitle(title, fontsize="medium")
    handles = {}
    for ax in axes.flat:  # a peer may be timed in some panels only (JAX, NumPy)
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    fig.legend(list(handles.values()), list(handles), loc="upper center", ncol=len(peers),
               frameon=False, bbox_to_anchor=(0.5, 1 - 0.35 / fig.get_figheight()))
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.75 / fig.get_figheight()))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"plot written to {path}")


def plot_title(machine, settings):
    """The PNG's title: cxent version and SIMD path, machine, date, thread counts."""
    counts = settings.get("thread_counts") or []
    return (f"cxent {machine.get('cxent', '?')}  |  {machine.get('cpu', '?')}, "
            f"{machine.get('usable_cpus', '?')} CPUs  |  "
            f"{str(settings.get('started', ''))[:16]}  |  "
            f"threads {', '.join(map(str, counts)) or '?'}")


def _peers():
    try:
        from . import _peers as peers  # python -m bench.run
    except ImportError:
        import _peers as peers  # python bench/run.py: bench/ is sys.path[0]
    return peers


def replay(args):
    """``--load``: the table, summary and notes of a saved run, and its plot if asked."""
    with open(args.load) as f:
        doc = json.load(f)
    results = doc["results"]
    peers = [i for i in dict.fromkeys(r["impl"] for r in results) if i != "cxent"]
    names = list(dict.fromkeys(r["function"] for r in results))
    m = doc.get("machine", {})
    print(f"# cxent benchmark  {doc['settings'].get('started')}  (from {args.load})")
    print(f"machine : {m.get('cpu')}, {m.get('usable_cpus')} CPUs; cxent {m.get('cxent')}, "
          f"numpy {m.get('numpy')}, torch {m.get('torch', '-')}, scipy {m.get('scipy', '-')}\n")
    table = Table(peers, max(map(len, names), default=8))
    table.header()
    cases = {}
    for r in results:
        cases.setdefault((r["function"], tuple(r["shape"]), r["dtype"], r.get("threads")),
                         []).append(r)
    for recs in cases.values():
        print_case(table, recs, [])
    print_read_ratios(results)
    print_summary(summary(results, peers), peers)
    if doc.get("notes"):
        print()
        for note in doc["notes"]:
            print(f"note: {note}")
    if args.plot:
        plot(results, peers, args.plot, plot_title(m, doc["settings"]))
    return 0


def main(argv=None):
    args = parse_args(argv)
    peers = _peers()
    if args.list:
        for f in peers.FUNCTIONS:
            print(f"{f.name:<44} cxent.{f.api}  peers: {', '.join(f.peers) or '-'}")
        return 0
    if args.load:
        return replay(args)
    pinned_cpu = pin_to_one_cpu() if args.pinned_worker else None
    cxent = import_cxent()
    wanted = None
    if args.impls:
        wanted = {s.strip() for s in args.impls.split(",") if s.strip()}
        unknown = wanted - {i.name for i in peers.IMPLS}
        if unknown:
            raise SystemExit(f"bench/run.py: unknown --impls {sorted(unknown)}; "
                             f"known: {[i.name for i in peers.IMPLS]}")
    modules, missing = load_impls(peers.IMPLS, wanted)
    modules["cxent"] = cxent
    shapes = parse_shapes(args.shapes or (QUICK_SHAPES if args.quick else DEFAULT_SHAPES))
    funcs = select_functions(peers.FUNCTIONS, args.functions)
    settings = {
        "started": datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds"),
        "min_time_ms": args.min_time,
        "repeat": args.repeat or (5 if args.quick else 7),
        "repeat_fixed": args.repeat is not None,
        "min_rounds": 1 if args.quick else min(3, args.repeat or 3),
        "ref_max_elements": args.ref_max_elements,
        "wait_idle_s": args.wait_idle,
        "quick": bool(args.quick),
        "budget_s": args.budget if args.budget is not None else (0.4 if args.quick else 6.0),
        "settle_ms": args.settle,
        "thread_counts": args.thread_counts,
        "untimed": ["cxent"] if args.pinned_worker else [],  # the worker checks against cxent
        "argv": sys.argv[1:] if argv is None else list(argv),
    }
    order = [i.name for i in peers.IMPLS if i.name in modules]
    modules = {name: modules[name] for name in order}
    threads = Threads(modules)
    settings["read_gbs"] = ({} if args.pinned_worker
                            else read_bandwidth(settings["thread_counts"], threads))
    info = machine_info(cxent, modules)
    if pinned_cpu is not None:
        info["pinned_cpu"] = pinned_cpu
    info["read_gbs"] = {str(n): round(v, 2) for n, v in settings["read_gbs"].items()}
    print_header(info, {i.name: i.label for i in peers.IMPLS if i.name in modules}, missing,
                 settings)
    peer_names = [n for n in order if n != "cxent" and any(f.factory(n) for f in funcs)]
    t0, snap0 = time.perf_counter(), MONITOR.snap()
    counts = settings["thread_counts"]
    pinned, failed = {}, None
    if ("jax" in modules and counts[0] == 1 < counts[-1] and not args.pinned_worker
            and not args.no_pinned_jax):
        pinned, failed = pinned_jax(args, funcs, shapes, settings)
    table = Table(peer_names, max(len(f.name) for f in funcs))
    table.header()
    results, notes = run_all(funcs, shapes, modules, args, settings, table, threads, pinned)
    notes += [failed] if failed else []
    elapsed = time.perf_counter() - t0
    others, steal = MONITOR.load(snap0, MONITOR.snap())
    info["others_cpu_during_run"], info["steal_cpu_during_run"] = others, steal
    print_read_ratios(results)
    summ = summary(results, peer_names)
    print_summary(summ, peer_names)
    if notes:
        print()
        for note in notes:
            print(f"note: {note}")
    print(f"\n{len(results)} timings in {elapsed:.0f} s; x = peer median / cxent median "
          "(> 1: cxent faster); ! = result differs from cxent's; busy = CPUs used by other "
          "processes during the case" + ("; * = timed in the pinned JAX worker" if pinned else ""))
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
        info["peak_rss_gib"] = round(peak, 2)
        print(f"peak memory (RSS) {peak:.2f} GiB")
    except (ImportError, AttributeError):
        pass
    if others is not None:
        print(f"other processes used {others:.2f} CPUs on average during the run"
              + (f", hypervisor steal {steal:.2f}" if steal else ""))
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    if args.json is None:
        args.json = os.path.join(RESULTS_DIR, f"run-{stamp}.json")
    if args.plot is None and not args.no_plot:
        args.plot = (os.path.splitext(args.json)[0] if args.json
                     else os.path.join(RESULTS_DIR, f"run-{stamp}")) + ".png"
    settings["read_gbs"] = {str(n): v for n, v in settings["read_gbs"].items()}  # JSON keys
    if args.json:
        doc = {"schema": 2, "settings": settings, "machine": info,
               "impls": {i.name: {"label": i.label, "available": i.name in modules,
                                  "skipped": missing.get(i.name)} for i in peers.IMPLS},
               "elapsed_s": round(elapsed, 1), "notes": notes, "results": results,
               "summary": summ}
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1, allow_nan=False)
        print(f"results written to {args.json}")
    if args.plot and not args.no_plot:
        plot(results, peer_names, args.plot, plot_title(info, settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
