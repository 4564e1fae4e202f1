"""The input funnel: every public function checks and converts its arguments here, and nowhere else.

Policy (``spec/api.md``): anything ``np.asarray`` accepts; float32/float64 computed natively;
bool/integer inputs computed in float64 and float16 in float32 (a widening of torch, which rejects
integer softmax); complex, object, structured, string, datetime and masked arrays raise TypeError.
Error messages name the argument, the bad value and what was expected.
"""

import operator

import numpy as np

from numpy.exceptions import AxisError  # NumPy >= 1.25 (pyproject.toml)

REDUCTIONS = ("none", "mean", "sum")
_INT64 = np.iinfo(np.int64)


def float_array(x, name):
    """``x`` as a native, aligned float32/float64 array (a copy only when a conversion is needed)."""
    reject_masked(x, name)
    a = np.asarray(x)
    kind = a.dtype.kind
    if kind == "f":
        if a.dtype.itemsize == 2:
            a = a.astype(np.float32)
        elif a.dtype.itemsize not in (4, 8):
            raise TypeError(f"`{name}` has dtype {a.dtype}; expected float32 or float64 "
                            f"(cast it with .astype(np.float64))")
    elif kind in "biu":
        a = a.astype(np.float64)
    else:
        raise TypeError(f"`{name}` has dtype {a.dtype}; expected a real floating, integer or bool "
                        f"array (complex, object, structured and string arrays are not supported)")
    if not a.dtype.isnative or not a.flags.aligned:
        a = a.astype(a.dtype.newbyteorder("="), order="K")  # documented: one copy
    return a


def check_reduction(reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"`reduction` must be one of 'none', 'mean', 'sum'; got {reduction!r}")


def check_label_smoothing(label_smoothing):
    """Torch's rule: values > 1 raise, negative values are silently treated as 0."""
    eps = float(label_smoothing)
    if not eps <= 1.0:
        raise ValueError(f"`label_smoothing` must be between 0.0 and 1.0; got {label_smoothing!r}")
    return max(eps, 0.0)


def int_axis(axis, ndim, name="axis"):
    """``axis`` as a non-negative int for an array of ``ndim`` dims (0-d arrays accept 0 and -1)."""
    if isinstance(axis, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be an integer; got {axis!r}")
    try:
        ax = operator.index(axis)
    except TypeError:
        raise TypeError(f"`{name}` must be an integer, a tuple of integers or None; "
                        f"got {axis!r}") from None
    n = max(ndim, 1)  # a 0-d array takes axis 0 or -1 (torch's rule for softmax of a scalar)
    if not -n <= ax < n:
        raise AxisError(ax, ndim, msg_prefix=f"`{name}`")
    return ax % n


def axes_tuple(axis, ndim, name="axis"):
    """``axis`` (int, tuple of ints, or None for all) as a sorted tuple of distinct axes."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (tuple, list)):
        axes = [int_axis(a, ndim, name) for a in axis]
        if len(set(axes)) != len(axes):
            raise ValueError(f"`{name}` contains a repeated axis: {tuple(axis)!r}")
        if ndim == 0:
            return ()
        return tuple(sorted(axes))
    ax = int_axis(axis, ndim, name)
    return (ax,) if ndim else ()


def check_out(out, shape, dtype, name="out"):
    """``out`` must be an ndarray of exactly ``shape`` and ``dtype``, and writeable (never copied)."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"`{name}` must be a numpy.ndarray; got {type(out).__name__}")
    if out.dtype != dtype:
        raise TypeError(f"`{name}` has dtype {out.dtype}; expected {np.dtype(dtype)}")
    if out.shape != tuple(shape):
        raise ValueError(f"`{name}` has shape {out.shape}; expected {tuple(shape)}")
    if not out.flags.writeable:
        raise ValueError(f"`{name}` is read-only; expected a writeable array")
    if not out.dtype.isnative or not out.flags.aligned:
        raise ValueError(f"`{name}` must be aligned and in native byte order")
    return out


def class_weight(weight, n_classes, dtype, name="weight"):
    """A 1-d contiguous weight of length C in ``dtype`` (ones when None)."""
    if weight is None:
        return np.ones(n_classes, dtype=dtype)
    w = float_array(weight, name)
    if w.ndim != 1 or w.shape[0] != n_classes:
        raise ValueError(f"`{name}` must be a 1-d array with one value per class ({n_classes}); "
                         f"got shape {w.shape}")
    return np.ascontiguousarray(w, dtype=dtype)


def reject_masked(x, name):
    """Masked arrays raise TypeError: cxent would silently use the hidden values."""
    if isinstance(x, np.ma.MaskedArray):
        raise TypeError(f"`{name}` is a masked array; cxent ignores masks, pass `{name}.filled()` "
                        f"or the unmasked data explicitly")


def index_target(target, ignore_index, name="target"):
    """``(target, has_ignore, ignore)`` for the kernels: class indices of any integer dtype (torch
    accepts only int64/uint8: a documented widening), and the int64 form of ``ignore_index``."""
    reject_masked(target, name)
    t = np.asarray(target)
    if t.dtype.kind not in "iu":
        raise TypeError(f"`{name}` has dtype {t.dtype}; class-index targets must have an integer "
                        f"dtype (probability targets must be floating with the input's shape)")
    has_ignore, ign = ignore_as_int64(ignore_index)
    if t.dtype == np.uint64 and t.size and t.max() > _INT64.max:
        big = t > _INT64.max
        if not has_ignore:  # an ignore_index beyond int64 may match these values
            big &= t != ignore_index
        if big.any():
            bad = np.flatnonzero(big.ravel())[0]
            raise IndexError(f"`{name}` value {t.ravel()[bad]} at flat index {bad} is out of "
                             f"bounds")
        # every value beyond int64 is the ignore_index: map it to -1, which uint64 cannot hold
        t = np.where(t == ignore_index, np.int64(-1), t.astype(np.int64))
        has_ignore, ign = True, -1
    return t, has_ignore, ign


def ignore_as_int64(ignore_index):
    """(has_ignore, value) for the kernels: an ignore_index beyond int64 can never match a target."""
    try:
        v = operator.index(ignore_index)
    except TypeError:
        raise TypeError(f"`ignore_index` must be an integer; got {ignore_index!r}") from None
    if _INT64.min <= v <= _INT64.max:
        return True, v
    return False, 0


def broadcast_weight(weight, shape, dtype, name):
    """``weight`` cast to ``dtype`` and broadcast to ``shape`` (a view), which it may not enlarge;
    None stays None."""
    if weight is None:
        return None
    w = float_array(weight, name).astype(dtype, copy=False)
    try:
        full = np.broadcast_shapes(w.shape, shape)
    except ValueError:
        full = None
    if full != tuple(shape):
        raise ValueError(f"`{name}` of shape {w.shape} cannot be broadcast to the input's shape "
                         f"{tuple(shape)}")
    return np.broadcast_to(w, shape)


class GradRequest:
    """What a gradient call asked for: upstream ``grad_output`` and the ``grad_out`` buffer."""

    def __init__(self, grad_output, grad_out):
        self.grad_output = grad_output
        self.grad_out = grad_out


def grad_output_factors(grad, reduction, loss_shape):
    """(scalar factor, array of the loss's shape or None): ``grad_output`` validated.

    A scalar for 'mean'/'sum'; a scalar or an array of the loss's shape for 'none'; None means 1.
    """
    g = grad.grad_output
    if g is None:
        return 1.0, None
    g = np.asarray(g)
    if g.dtype.kind not in "biuf":
        raise TypeError(f"`grad_output` must be real numbers; got dtype {g.dtype}")
    if g.ndim == 0:
        return float(g), None
    if reduction != "none" or g.shape != tuple(loss_shape):
        expected = "a scalar" if reduction != "none" else f"a scalar or shape {tuple(loss_shape)}"
        raise ValueError(f"`grad_output` must be {expected} for reduction={reduction!r}; "
                         f"got shape {g.shape}")
    return 1.0, g
