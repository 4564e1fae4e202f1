"""Build and run-time configuration: ``show_config()`` and the serial/parallel decision."""

from __future__ import annotations

import os
from typing import Any, TextIO
import platform
import sys

import numpy as np

from cxent._lib._rows import simd_path
from cxent._lib._softmax import openmp_info
from cxent._version import __version__

#: Below this many elements a call runs serially: an OpenMP region costs microseconds.
PARALLEL_THRESHOLD = 1 << 15

_HAS_OPENMP = openmp_info()[0]


def use_threads(n_elements: int) -> bool:
    """Whether a kernel over ``n_elements`` should open a parallel region."""
    return _HAS_OPENMP and n_elements >= PARALLEL_THRESHOLD


def _simd_description() -> str:
    path = simd_path()
    where = ("every kernel, float32 and float64, in every layout (strided rows are gathered into "
             "the same vector code)" if path != "portable" else
             "the portable C kernels (baseline x86-64, vectorised by the compiler), in every layout")
    forced = " (forced by CXENT_SIMD=portable)" if os.environ.get("CXENT_SIMD") == "portable" else ""
    return f"{path}{forced}: {where}"


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
