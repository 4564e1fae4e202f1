"""Build and run-time configuration: ``show_config()`` and the serial/parallel decision."""

from __future__ import annotations

import importlib
import os
from typing import Any, TextIO
import platform
import sys

import numpy as np

from cxent._lib._rows import configure_cache, cache_stats, simd_path
from cxent._lib._softmax import openmp_info
from cxent._version import __version__

#: Below this many elements a call runs serially: an OpenMP region costs microseconds.
PARALLEL_THRESHOLD = 1 << 15

#: New outputs of at least this many bytes come from the cache of large outputs (``_lib/_pool.h``).
OUTPUT_CACHE_MIN = 4 << 20

_output_cache = 0  # bytes of idle outputs kept; 0: the cache is off


def _parse_bytes(text: str) -> int:
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    t = text.strip().upper().removesuffix("IB").removesuffix("B")
    num, unit = (t[:-1], t[-1]) if t and t[-1] in units else (t, "")
    try:
        value = int(num) * units[unit]
    except ValueError:
        raise ValueError(f"CXENT_OUTPUT_CACHE: expected a size in bytes such as 0, 536870912 or "
                         f"512M, got {text!r}") from None
    if value < 0:
        raise ValueError(f"CXENT_OUTPUT_CACHE: expected a size >= 0, got {text!r}")
    return value


def _numpy_hugepage() -> bool:
    """NumPy's own setting for its large allocations (NUMPY_MADVISE_HUGEPAGE)."""
    for name in ("numpy._core.multiarray", "numpy.core.multiarray"):  # NumPy 2, NumPy 1
        try:
            return bool(getattr(importlib.import_module(name), "_get_madvise_hugepage")())
        except (ImportError, AttributeError):
            continue
    return True  # pragma: no cover


def set_output_cache(max_bytes: int, max_idle_s: float = 5.0) -> None:
    """Keep at most ``max_bytes`` of freed large outputs for reuse (0: none; default 1 GiB, or
    ``CXENT_OUTPUT_CACHE``).  Blocks idle for ``max_idle_s`` seconds are returned to the OS at
    the next large allocation or free."""
    global _output_cache
    configure_cache(max_bytes, max_idle_s, _numpy_hugepage())
    _output_cache = max_bytes


def output_cache_on() -> bool:
    return _output_cache > 0


set_output_cache(_parse_bytes(os.environ.get("CXENT_OUTPUT_CACHE", "1G")))

_HAS_OPENMP = openmp_info()[0]


def use_threads(n_elements: int) -> bool:
    """Whether a kernel over ``n_elements`` should open a parallel region."""
    return _HAS_OPENMP and n_elements >= PARALLEL_THRESHOLD


def _simd_description() -> str:
    path = simd_path()
    where = ("every kernel, float32 and float64, in every layout (strided rows are gathered into "
             "the same vector code)" if path != "portable" else
             "the portable C kernels (baseline x86-64, vectorised by the compiler), in every layout")
    env = os.environ.get("CXENT_SIMD")
    forced = f" (forced by CXENT_SIMD={env})" if env in ("portable", "avx2") else ""
    return f"{path}{forced}: {where}"


def _cache_description() -> str:
    if not _output_cache:
        return "off (CXENT_OUTPUT_CACHE=0)"
    idle, blocks, hits, misses = cache_stats()
    return (f"up to {_output_cache >> 20} MiB of freed outputs >= {OUTPUT_CACHE_MIN >> 20} MiB "
            f"kept "
            f"for reuse (now {idle >> 20} MiB in {blocks} blocks; {hits} reuses, {misses} new "
            f"mappings)")


def build_info() -> dict[str, Any]:
    try:
        from cxent._build_info import BUILD_INFO
    except ImportError:  # pragma: no cover - only for a build that skipped setup.py's build_ext
        BUILD_INFO = {"compiler": "unknown", "extra_compile_args": "unknown", "openmp": _HAS_OPENMP}
    return dict(BUILD_INFO)


def config() -> dict[str, Any]:
    """The facts ``show_config`` prints, as a dict."""
    has_omp, threads = openmp_info()
    info = build_info()
    return {
        "cxent": __version__,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "compiler": info.get("compiler", "unknown"),
        "compile_args": info.get("extra_compile_args", "unknown"),
        "openmp": has_omp,
        "threads": threads,
        "parallel_threshold": PARALLEL_THRESHOLD,
        "simd": _simd_description(),
        "output_cache": _cache_description(),
    }


def show_config(file: TextIO | None = None) -> None:
    """Print cxent's version, build compiler and flags, OpenMP and thread count, and the SIMD path.

    Examples
    --------
    >>> import cxent
    >>> cxent.show_config()  # doctest: +ELLIPSIS
    cxent ...
    """
    cfg = config()
    lines = [f"cxent {cfg.pop('cxent')}"] + [f"  {k:<18} {v}" for k, v in cfg.items()]
    print("\n".join(lines), file=file or sys.stdout)
