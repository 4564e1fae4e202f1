"""binary_cross_entropy and binary_cross_entropy_with_logits, and their torch-style classes."""

import numpy as np

from cxent import _layout
from cxent._config import use_threads
from cxent._lib import _binary as _k
from cxent._losses import _divide, _Loss
from cxent._validation import broadcast_weight, check_reduction, float_array

__all__ = ["binary_cross_entropy", "binary_cross_entropy_with_logits", "BCELoss",
           "BCEWithLogitsLoss"]

_CHUNK = 8192  # = CHUNK in _binary.pyx: one partial sum per row-chunk


def _operands(input, target):
    """(input, target, dtype): same shape; float targets promote (np.result_type), others cast."""
    a = float_array(input, "input")
    t = np.asarray(target)
    if t.shape != a.shape:
        raise ValueError(f"`target` must have the input's shape {a.shape}; got shape {t.shape} "
                         f"(torch deprecated broadcasting here)")
    if t.dtype.kind == "f":
        t = float_array(t, "target")
        dtype = np.result_type(a.dtype, t.dtype)
    elif t.dtype.kind in "biu":
        dtype = a.dtype  # 0/1 labels as integers or bools: exact in any float dtype
    else:
        t = float_array(t, "target")  # raises the TypeError
    return a.astype(dtype, copy=False), t.astype(dtype, copy=False), dtype


def _run(kernel, arrays, weights, reduction, dtype):
    """Call an element-wise loss kernel over same-shaped ``arrays`` and optional broadcast
    ``weights`` (None = absent); return (kernel's return value, the reduced or 'none' result)."""
    a = arrays[0]
    res = np.empty_like(a) if reduction == "none" else None
    if a.size == 0:
        return None, (res if res is not None else _finish(np.zeros(0), 0, reduction, dtype))
    present = [w for w in weights if w is not None]
    operands = arrays + present + ([res] if res is not None else [])
    views = _layout.coalesce_2d(*operands)
    tmp = None
    if views is None:  # axes that do not merge (rare broadcasts or slices): one contiguous copy
        views = [np.ascontiguousarray(x).reshape(1, -1) for x in arrays + present]
        if res is not None:
            tmp = np.empty(a.size, dtype)
            views.append(tmp.reshape(1, -1))
    rows, cols = views[0].shape
    partial = np.empty(rows * -(-cols // _CHUNK))
    it = iter(views[len(arrays):])
    wviews = [next(it) if w is not None else _dummy(dtype) for w in weights]
    out = views[-1] if res is not None else _dummy(dtype)
    ret = kernel(*views[:len(arrays)], *wviews, out, partial, res is not None,
                 *[w is not None for w in weights], use_threads(a.size))
    if tmp is not None:
        res[...] = tmp.reshape(a.shape)
    if res is not None:
        return ret, res
    return ret, _finish(partial, a.size, reduction, dtype)


_DUMMIES = {np.dtype(t): np.zeros((1, 1), t) for t in (np.float32, np.float64)}


def _dummy(dtype):
    """A (1, 1) stand-in for an absent operand (the kernel never reads it)."""
    return _DUMMIES[np.dtype(dtype)]


def _finish(partial, n, reduction, dtype):
    total = float(partial.sum()) + 0.0  # partials in a fixed order; the sum starts from +0
    if reduction == "sum":
        return dtype.type(total)
    return dtype.type(_divide(total, float(n)))


def _raise_out_of_range(arr, name):
    bad = ~((arr >= 0) & (arr <= 1))
    pos = tuple(int(i) for i in np.argwhere(bad)[0]) if arr.ndim else ()
    raise ValueError(f"`{name}` must hold probabilities in [0, 1]; found {int(bad.sum())} values "
                     f"outside, e.g. {arr[pos]} at index {pos}")


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    r"""Binary cross-entropy of probabilities, :func:`torch.nn.functional.binary_cross_entropy`.

    Parameters
    ----------
    input : array_like
        Probabilities in ``[0, 1]`` (checked; nan rejected).
    target : array_like, same shape as ``input``
        Targets in ``[0, 1]`` (checked).  A float64 target with float32 input gives a float64 result
        (``np.result_type``; torch raises); integer/bool targets are cast to the input's dtype.
    weight : array_like, optional
        Broadcast to the input's shape (it may not enlarge it); cast to the result dtype.
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        The mean divides by the number of elements (not by the weights).

    Returns
    -------
    numpy scalar or ndarray

    Raises
    ------
    TypeError, ValueError
        Bad dtypes; shape mismatch, values outside ``[0, 1]``, bad weight, bad reduction.

    Notes
    -----
    .. math:: \ell = -w \left[ y \max(\log p, -100) + (1 - y) \max(\log(1 - p), -100) \right]

    Each log is clamped at -100 before the multiply (so ``0 * log 0`` never yields nan), exactly as
    torch's ``BCELoss``; ``log(1 - p)`` is evaluated as ``log1p(-p)``.

    Examples
    --------
    >>> import numpy as np, cxent
    >>> float(cxent.binary_cross_entropy(np.array([0.2, 0.9, 0.5]), np.array([0.0, 1.0, 0.3])))
    0.34055042...
    """
    check_reduction(reduction)
    a, t, dtype = _operands(input, target)
    w = broadcast_weight(weight, a.shape, dtype, "weight")
    bad, value = _run(_k.bce_2d, [a, t], [w], reduction, dtype)
    bad_p, bad_y = bad or (0, 0)
    if bad_p:
        _raise_out_of_range(a, "input")
    if bad_y:
        _raise_out_of_range(t, "target")
    return value


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean",
                                     pos_weight=None):
    r"""Binary cross-entropy of logits, :func:`torch.nn.functional.binary_cross_entropy_with_logits`.

    Parameters
    ----------
    input : array_like
        Logits.
    target : array_like, same shape as ``input``
        Targets (not range-checked, as torch).  Dtype rules as :func:`binary_cross_entropy`.
    weight : array_like, optional
        Broadcast to the input's shape.
    reduction : {'mean', 'sum', 'none'}, default 'mean'
    pos_weight : array_like, optional
        Weight of the positive term, broadcast against the input (along the last axis for shape (C,)).

    Returns
    -------
    numpy scalar or ndarray

    Notes
    -----
    .. math:: \ell = w \left[ (1 - y) x - (1 + (p_w - 1) y) \log \sigma(x) \right], \quad
              \log \sigma(x) = \min(x, 0) - \log(1 + e^{-|x|})

    torch's formula, stable for any finite ``x``.  At ``x = +inf, y = 1`` (and ``x = -inf``) the
    value is nan, as in torch.

    Examples
    --------
    >>> import numpy as np, cxent
    >>> x = np.array([-3.0, -0.5, 0.0, 2.0, 10.0]); y = np.array([0.0, 1.0, 0.5, 1.0, 0.0])
    >>> float(cxent.binary_cross_entropy_with_logits(x, y))
    2.36855698...
    """
    check_reduction(reduction)
    a, t, dtype = _operands(input, target)
    w = broadcast_weight(weight, a.shape, dtype, "weight")
    pw = broadcast_weight(pos_weight, a.shape, dtype, "pos_weight")
    return _run(_k.bce_logits_2d, [a, t], [w, pw], reduction, dtype)[1]


class BCELoss(_Loss):
    """Callable form of :func:`binary_cross_entropy` (``torch.nn.BCELoss``)."""

    _fn = staticmethod(binary_cross_entropy)
    _options = ("weight", "reduction")

    def __init__(self, weight=None, reduction="mean"):
        check_reduction(reduction)
        super().__init__(weight=weight, reduction=reduction)


class BCEWithLogitsLoss(_Loss):
    """Callable form of :func:`binary_cross_entropy_with_logits` (``torch.nn.BCEWithLogitsLoss``)."""

    _fn = staticmethod(binary_cross_entropy_with_logits)
    _options = ("weight", "reduction", "pos_weight")

    def __init__(self, weight=None, reduction="mean", pos_weight=None):
        check_reduction(reduction)
        super().__init__(weight=weight, reduction=reduction, pos_weight=pos_weight)
