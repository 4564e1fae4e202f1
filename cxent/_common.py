"""What the loss modules share: the fixed-order sum, IEEE division, the torch-style class base."""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
from numpy.typing import NDArray

from cxent._interop import interop
from cxent._lib._losses import pairwise_sum
from cxent._typing import ArrayLike, FloatArray, Loss, LossAndGrad

__all__ = ["pairwise_total", "as_dtype", "divide", "LossFunction"]


def pairwise_total(a: NDArray[np.float64]) -> float:
    """Pairwise sum of a float64 array in C order: deterministic, and an overflow to inf
    is silent (as in torch) instead of a NumPy RuntimeWarning."""
    flat = np.ascontiguousarray(a).reshape(-1)  # C order: the same sum for every input layout
    return pairwise_sum(flat) if flat.size else 0.0


def as_dtype(value: Any, dtype: np.dtype) -> Any:
    """``value`` (a float or an array) in ``dtype`` (arrays: no copy when already in it); beyond
    its range +-inf, silently (as torch), not with NumPy's overflow warning."""
    with np.errstate(over="ignore"):
        if isinstance(value, np.ndarray):
            return value.astype(dtype, copy=False)
        return dtype.type(value)


def divide(total: float, denom: float) -> float:
    """total / denom in double with IEEE results for a zero denominator (0/0 = nan, x/0 = +-inf)."""
    if denom:
        return total / denom
    if total != total or total == 0:
        return math.nan
    return math.copysign(math.inf, total) * math.copysign(1.0, denom)


class LossFunction:
    """Shared machinery of the torch-style loss classes: keyword options bound at construction."""

    _fn: Callable[..., Loss]
    _fn_and_grad: Callable[..., LossAndGrad]
    _options: tuple[str, ...] = ()

    def __init__(self, **options: Any) -> None:
        for name in self._options:
            setattr(self, name, options[name])

    def __call__(self, input: ArrayLike, target: ArrayLike) -> Loss:
        return interop(type(self)._fn)(input, target,
                                       **{k: getattr(self, k) for k in self._options})

    def and_grad(self, input: ArrayLike, target: ArrayLike, *, grad_output: ArrayLike | None = None,
                 grad_out: FloatArray | None = None) -> LossAndGrad:
        """``(loss, grad_input)``: the loss as a call returns it, and its gradient (see the
        ``*_and_grad`` functions)."""
        return interop(type(self)._fn_and_grad)(input, target, grad_output=grad_output,
                                                grad_out=grad_out,
                                                **{k: getattr(self, k) for k in self._options})

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._options)
        return f"{type(self).__name__}({args})"
