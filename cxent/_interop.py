"""Arrays in, the same arrays out: torch CPU tensors and JAX arrays read without a copy and the
results answered in the caller's type.

Every public function is wrapped by ``interop``.  A call whose arguments are all NumPy arrays,
Python/NumPy scalars, lists or None goes straight through (one type check per argument).  Otherwise
an argument whose type comes from ``torch`` or ``jax`` (found by its module name: neither library is
imported unless the caller's input is theirs) is read as a NumPy array — a torch CPU tensor through
``Tensor.numpy()`` (zero-copy; writeable, so it may be ``out=``/``grad_out=``), a JAX array through
``numpy.asarray`` (zero-copy, read-only) — and the results come back as the type of the first such
argument: ``torch.from_numpy`` (zero-copy; a NumPy scalar becomes a 0-d tensor, as torch's own
reductions return) or ``jax.numpy.asarray`` (one copy into JAX's buffer).  An ``out=`` tensor is
written in place and returned itself.

A tensor that requires grad is refused with a TypeError pointing to ``cxent.torch`` (the autograd
functions); a tensor on another device, with the conjugate or negative bit set, or of bfloat16
dtype is refused too, saying how to convert it.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

__all__ = ["interop"]

F = TypeVar("F", bound=Callable[..., Any])

_PLAIN = frozenset([np.ndarray, int, float, bool, str, type(None), list, tuple, np.float32,
                    np.float64, np.int64, np.int32, np.bool_, slice])
_FOREIGN = ("torch", "jax", "jaxlib")


def _origin(a: Any) -> str | None:
    """'torch' or 'jax' for an array of theirs, else None (no import of either)."""
    root = type(a).__module__.partition(".")[0]
    if root not in _FOREIGN:
        return None
    return "torch" if root == "torch" else "jax"


def _to_numpy(a: Any, kind: str, name: str) -> Any:
    if kind == "jax":
        return np.asarray(a)
    import torch
    if not isinstance(a, torch.Tensor):
        return a
    if a.requires_grad:
        raise TypeError(f"`{name}` is a torch tensor that requires grad; cxent's NumPy functions "
                        f"build no autograd graph: use cxent.torch (torch.autograd functions with "
                        f"torch.nn.functional's names), or pass `{name}.detach()`")
    if a.device.type != "cpu":
        raise TypeError(f"`{name}` is a torch tensor on {a.device}; cxent computes on the CPU: "
                        f"pass `{name}.cpu()`")
    if a.dtype == torch.bfloat16:
        raise TypeError(f"`{name}` has dtype torch.bfloat16, which NumPy cannot view; pass "
                        f"`{name}.float()`")
    if a.is_conj() or a.is_neg():
        raise TypeError(f"`{name}` has its conjugate or negative bit set; pass "
                        f"`{name}.resolve_conj().resolve_neg()`")
    return a.numpy()


def _from_numpy(r: Any, kind: str, outs: dict[int, Any]) -> Any:
    if isinstance(r, tuple):
        return tuple(_from_numpy(v, kind, outs) for v in r)
    if r is None:
        return None
    if id(r) in outs:  # an out= / grad_out= buffer the caller passed: its own object back
        return outs[id(r)]
    if kind == "torch":
        import torch
        return torch.from_numpy(np.asarray(r)) if isinstance(r, (np.ndarray, np.generic)) else r
    import jax.numpy as jnp
    return jnp.asarray(r) if isinstance(r, (np.ndarray, np.generic)) else r


def _foreign_call(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    kind = None
    for a in list(args) + list(kwargs.values()):
        kind = _origin(a)
        if kind:
            break
    if kind is None:
        return fn(*args, **kwargs)
    outs: dict[int, Any] = {}

    def convert(a: Any, name: str) -> Any:
        k = _origin(a)
        if k is None:
            return a
        v = _to_numpy(a, k, name)
        if name in ("out", "grad_out"):
            outs[id(v)] = a
        return v

    try:
        bound = inspect.signature(fn).bind(*args, **kwargs)
    except TypeError:  # let the function itself say what is wrong with the call
        return fn(*args, **kwargs)
    for name, value in bound.arguments.items():
        bound.arguments[name] = convert(value, name)
    result = fn(*bound.args, **bound.kwargs)
    return _from_numpy(result, kind, outs)


def interop(fn: F) -> F:
    """``fn`` answering torch tensors and JAX arrays in their own type (module docstring)."""

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        for a in args:
            if type(a) not in _PLAIN and _origin(a):
                return _foreign_call(fn, args, kwargs)
        if kwargs:
            for a in kwargs.values():
                if type(a) not in _PLAIN and _origin(a):
                    return _foreign_call(fn, args, kwargs)
        return fn(*args, **kwargs)

    return call  # type: ignore[return-value]
