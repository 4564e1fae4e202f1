"""binary_cross_entropy and binary_cross_entropy_with_logits, and their torch-style classes."""

import numpy as np

from cxent import _layout
from cxent._config import use_threads
from cxent._lib import _binary as _k
from cxent._losses import _divide, _Grad, _grad_output, _Loss, _same_memory, _sum
from cxent._validation import (
    broadcast_weight,
    check_out,
    check_reduction,
    float_array,
    reject_masked,
)

__all__ = ["binary_cross_entropy", "binary_cross_entropy_with_logits",
           "binary_cross_entropy_and_grad", "binary_cross_entropy_with_logits_and_grad", "BCELoss",
           "BCEWithLogitsLoss"]

_CHUNK = 8192  # = CHUNK in _binary.pyx: one partial sum per row-chunk


def _operands(input, target):
    """(input, target, dtype): same shape; float targets promote (np.result_type), others cast."""
    a = float_array(input, "input")
    reject_masked(target, "target")
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
        raise TypeError(f"`target` has dtype {t.dtype}; expected a real floating, integer or bool "
                        f"array")
    return a.astype(dtype, copy=False), t.astype(dtype, copy=False), dtype


def _run(kernel, arrays, weights, reduction, dtype, grad=None):
    """Call an element-wise loss kernel over same-shaped ``arrays`` and optional broadcast
    ``weights`` (None = absent); return (kernel's return value, reduced or 'none' loss, gradient)."""
    a = arrays[0]
    res = np.empty_like(a) if reduction == "none" else None
    gbuf, scale, gout = None, 1.0, None
    if grad is not None:
        scale, gout = _upstream(grad, reduction, a.shape)
        gbuf = _grad_array(a, grad)
        if reduction == "mean":
            scale = _divide(scale, float(a.size))
    if a.size == 0:
        loss = res if res is not None else _finish(np.zeros(0), 0, reduction, dtype)
        return None, loss, gbuf
    optional = [w for w in weights if w is not None] + [
        x for x in (res, gout, gbuf) if x is not None]
    views = _layout.coalesce_2d(*arrays, *optional)
    outputs = None
    if views is None:  # axes that do not merge (rare broadcasts or slices): contiguous copies
        views = [np.ascontiguousarray(x).reshape(1, -1) for x in arrays + optional]
        outputs = [(x, v) for x, v in zip(arrays + optional, views) if x is res or x is gbuf]
    rows, cols = views[0].shape
    partial = np.empty(rows * -(-cols // _CHUNK))
    it = iter(views[len(arrays):])
    wviews = [next(it) if w is not None else _dummy(dtype) for w in weights]
    out, gout_v, grad_v = (next(it) if x is not None else _dummy(dtype) for x in (res, gout, gbuf))
    ret = kernel(*views[:len(arrays)], *wviews, out, partial, res is not None,
                 *[w is not None for w in weights], grad_v, gout_v, scale, gbuf is not None,
                 gout is not None, use_threads(a.size))
    for target, view in outputs or ():  # copy results computed in contiguous scratch back
        target[...] = view.reshape(a.shape)
    return ret, (res if res is not None else _finish(partial, a.size, reduction, dtype)), gbuf


def _upstream(grad, reduction, shape):
    """(scalar factor, per-element factors in the input's dtype or None) from grad_output."""
    scale, g = _grad_output(grad, reduction, shape)
    return scale, (None if g is None else g.astype(grad.dtype, copy=False))


def _grad_array(a, grad):
    if grad.grad_out is None:
        return np.empty_like(a)
    out = check_out(grad.grad_out, a.shape, a.dtype, "grad_out")
    others = grad.operands[1:] if _same_memory(out, a) else grad.operands
    if any(np.may_share_memory(out, x) for x in others):
        raise ValueError("`grad_out` overlaps an argument without being `input` itself; pass the "
                         "input array itself (in-place) or a separate buffer")
    return out


_DUMMIES = {np.dtype(t): np.zeros((1, 1), t) for t in (np.float32, np.float64)}


def _dummy(dtype):
    """A (1, 1) stand-in for an absent operand (the kernel never reads it)."""
    return _DUMMIES[np.dtype(dtype)]


def _finish(partial, n, reduction, dtype):
    total = _sum(partial) + 0.0  # partials in a fixed order; the sum starts from +0
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
    return _bce(input, target, weight, reduction)[0]


def _bce(input, target, weight, reduction, grad=None):
    check_reduction(reduction)
    a, t, dtype = _operands(input, target)
    w = broadcast_weight(weight, a.shape, dtype, "weight")
    if grad is not None:
        grad.setup(dtype, [a, t] + ([w] if w is not None else []))
        if grad.grad_out is not None and np.may_share_memory(grad.grad_out, a):
            _check_probabilities(a, t)  # in place: validate before anything is overwritten
    bad, loss, g = _run(_k.bce_2d, [a, t], [w], reduction, dtype, grad)
    if bad and bad[0]:
        _raise_out_of_range(a, "input")
    if bad and bad[1]:
        _raise_out_of_range(t, "target")
    return loss, g


def _check_probabilities(a, t):
    for arr, name in ((a, "input"), (t, "target")):
        if not np.all((arr >= 0) & (arr <= 1)):
            _raise_out_of_range(arr, name)


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
    return _bce_logits(input, target, weight, reduction, pos_weight)[0]


def _bce_logits(input, target, weight, reduction, pos_weight, grad=None):
    check_reduction(reduction)
    a, t, dtype = _operands(input, target)
    w = broadcast_weight(weight, a.shape, dtype, "weight")
    pw = broadcast_weight(pos_weight, a.shape, dtype, "pos_weight")
    if grad is not None:
        grad.setup(dtype, [a, t] + [x for x in (w, pw) if x is not None])
    _, loss, g = _run(_k.bce_logits_2d, [a, t], [w, pw], reduction, dtype, grad)
    return loss, g


def binary_cross_entropy_and_grad(input, target, weight=None, reduction="mean", *,
                                  grad_output=None, grad_out=None):
    r""":func:`binary_cross_entropy` and its gradient with respect to ``input``, in one sweep.

    ``grad_output`` (scalar, or an array of the input's shape for ``'none'``) scales the gradient;
    ``grad_out`` is a buffer for it and may be ``input`` itself (the input is range-checked first).
    Returns ``(loss, grad_input)``.

    Notes
    -----
    .. math:: \frac{\partial \ell}{\partial p} = s\, w \frac{p - y}{\max(p(1-p), \epsilon)} g

    with torch's :math:`\epsilon` = float32(1e-12) = 9.99999996e-13 for every dtype, and
    :math:`s` = 1/numel for the mean.

    Examples
    --------
    >>> import numpy as np, cxent
    >>> cxent.binary_cross_entropy_and_grad(np.array([0.2, 0.9, 0.5]), np.array([0.0, 1.0, 0.3]),
    ...                                     reduction="sum")[1]
    array([ 1.25      , -1.11111111,  0.8       ])
    """
    return _bce(input, target, weight, reduction, _Grad(grad_output, grad_out, input))


def binary_cross_entropy_with_logits_and_grad(input, target, weight=None, reduction="mean",
                                              pos_weight=None, *, grad_output=None,
                                              grad_out=None):
    r""":func:`binary_cross_entropy_with_logits` and its gradient with respect to ``input``.

    ``grad_output`` and ``grad_out`` as :func:`binary_cross_entropy_and_grad`.
    Returns ``(loss, grad_input)``.

    Notes
    -----
    .. math:: \frac{\partial \ell}{\partial x} = s\, w \left[(1 + (p_w - 1) y)\,\sigma(x)
              - p_w y\right] g

    finite at :math:`x = \pm\infty` even where the loss is nan or inf (as torch).

    Examples
    --------
    >>> import numpy as np, cxent
    >>> loss, g = cxent.binary_cross_entropy_with_logits_and_grad(np.zeros(2), np.array([0.0, 1.0]))
    >>> g
    array([ 0.25, -0.25])
    """
    return _bce_logits(input, target, weight, reduction, pos_weight,
                       _Grad(grad_output, grad_out, input))


class BCELoss(_Loss):
    """Callable form of :func:`binary_cross_entropy` (``torch.nn.BCELoss``)."""

    _fn = staticmethod(binary_cross_entropy)
    _fn_and_grad = staticmethod(binary_cross_entropy_and_grad)
    _options = ("weight", "reduction")

    def __init__(self, weight=None, reduction="mean"):
        check_reduction(reduction)
        super().__init__(weight=weight, reduction=reduction)


class BCEWithLogitsLoss(_Loss):
    """Callable form of :func:`binary_cross_entropy_with_logits` (``torch.nn.BCEWithLogitsLoss``)."""

    _fn = staticmethod(binary_cross_entropy_with_logits)
    _fn_and_grad = staticmethod(binary_cross_entropy_with_logits_and_grad)
    _options = ("weight", "reduction", "pos_weight")

    def __init__(self, weight=None, reduction="mean", pos_weight=None):
        check_reduction(reduction)
        super().__init__(weight=weight, reduction=reduction, pos_weight=pos_weight)
