"""The element-wise losses: binary_cross_entropy, binary_cross_entropy_with_logits and kl_div,
and their torch-style classes."""

from __future__ import annotations

import numpy as np

from cxent import _layout
from cxent._config import PARALLEL_THRESHOLD, use_threads
from cxent._typing import ArrayLike, FloatArray, Loss, LossAndGrad
from cxent._lib import _binary as _k
from cxent._common import LossFunction, as_dtype, divide, pairwise_total
from cxent._validation import (
    scalar_if_0d,
    GradRequest,
    binary_operands,
    check_probabilities,
    check_reduction,
    grad_out_buffer,
    grad_output_factors,
    check_kl_options,
    kl_operands,
    probability_error,
)

__all__ = ["binary_cross_entropy", "binary_cross_entropy_with_logits",
           "binary_cross_entropy_and_grad", "binary_cross_entropy_with_logits_and_grad", "BCELoss",
           "BCEWithLogitsLoss", "kl_div", "kl_div_and_grad", "KLDivLoss"]

_KL, _KL_LOG = 2, 3  # the kernel's kinds of kl_div (0 and 1, False and True, are the BCEs)

_CHUNK = 8192  # = CHUNK in _binary.pyx: one partial sum per CHUNK elements of the flat index


def _run(logits, a, t, w, pw, reduction, dtype, grad=None, others=(), parts=False):
    """Run the element-wise loss kernel over ``a``, ``t`` and the optional broadcast weights
    (None = absent); return (kernel's return value, reduced or 'none' loss, gradient).  With
    ``parts`` (reduction 'sum' or 'mean'): the partial sums (one per ``_CHUNK`` elements) instead
    of the reduced loss, for ``cxent.dask``, which finishes them with ``finish``."""
    res = _layout.empty_like(a) if reduction == "none" else None
    gbuf, scale, gout = None, 1.0, None
    if grad is not None:
        scale, gout = grad_output_factors(grad, reduction, a.shape)
        if gout is not None:
            gout = gout.astype(dtype, copy=False)
        gbuf = grad_out_buffer(grad, a, others)
        if gbuf is None:
            gbuf = _layout.empty_like(a)
        if reduction == "mean":
            scale = divide(scale, float(a.size))
    if a.size == 0:
        loss = res if res is not None or parts else finish(np.zeros(0), 0, reduction, dtype)
        return None, (np.zeros(0) if parts else loss), gbuf
    views, copies = _layout.flat_2d_or_copies([a, t, w, pw, gout], [res, gbuf])
    partial = np.empty(-(-a.size // _CHUNK))
    ret = _k.bce_flat(*views[:4], views[5], views[6], views[4], scale, logits, partial,
                      use_threads(a.size))
    for target, c in copies:
        np.copyto(target, c)
    if res is None and not parts:
        res = finish(partial, a.size, reduction, dtype)
    return ret, (partial if parts else scalar_if_0d(res)), gbuf


def finish(partial, n, reduction, dtype):
    """The 'sum' or 'mean' (over ``n`` elements) from the kernel's partial sums."""
    # partials in a fixed order; the sum starts from +0
    total = (float(partial[0]) if partial.size == 1 else pairwise_total(partial)) + 0.0
    if reduction == "sum":
        return as_dtype(total, dtype)
    return as_dtype(divide(total, float(n)), dtype)


def binary_cross_entropy(input: ArrayLike, target: ArrayLike, weight: ArrayLike | None = None,
                         reduction: str = "mean") -> Loss:
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
    torch's ``BCELoss``; ``log(1 - p)`` is evaluated as ``log1p(-p)``.  float32 on AVX2 and
    AVX-512: float arithmetic 8 lanes wide, each log and the loss carried as a pair of floats
    (``1 - p`` and ``1 - y`` as exact pairs, exact products), rounded once: within 0.54 ulp;
    portable float32: the logs and the loss in double, within 0.501 ulp.  float64 within 2 ulp
    (AVX2 and AVX-512: a table-driven log within 0.52 ulp; portable: libm's log, within 2.1 ulp;
    ``tests/test_accuracy_bounds.py``).  The gradient is computed in double.  The elements
    are walked in logical (C) order in fixed chunks: the same bits for any layout and thread count.

    Examples
    --------
    >>> import numpy as np, cxent
    >>> float(cxent.binary_cross_entropy(np.array([0.2, 0.9, 0.5]), np.array([0.0, 1.0, 0.3])))
    0.34055042...
    """
    small = _k.bce_small(input, target, weight, None, False, reduction, PARALLEL_THRESHOLD)
    if small is not None:  # the common small call, through its compiled gate
        return small
    return _bce(input, target, weight, reduction)[0]


def _bce(input, target, weight, reduction, grad=None, parts=False):
    check_reduction(reduction)
    a, t, w, _, dtype = binary_operands(input, target, weight)
    if grad is not None and grad.grad_out is not None and np.may_share_memory(grad.grad_out, a):
        check_probabilities(a, t)  # in place: validate before anything is overwritten
    bad, loss, g = _run(False, a, t, w, None, reduction, dtype, grad,
                        [("target", target), ("weight", weight)], parts)
    if bad and bad[0]:  # a range error the kernel reports
        raise probability_error(a, "input")
    if bad and bad[1]:
        raise probability_error(t, "target")
    return loss, g


def binary_cross_entropy_with_logits(input: ArrayLike, target: ArrayLike,
                                     weight: ArrayLike | None = None, reduction: str = "mean",
                                     pos_weight: ArrayLike | None = None) -> Loss:
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
    value is nan, as in torch.  Both dtypes compute ``log1p(exp(-|x|))`` (float32: in float32
    vector lanes, :func:`log_sigmoid`'s exp and log1p) and rearrange the loss so that ``x << 0``
    does not cancel as torch's does: ``x < 0``: ``-p_w y x + (1 + (p_w - 1) y) log1p(e)``, else
    ``(1 - y) x + (1 + (p_w - 1) y) log1p(e)``, times ``w``.  Accuracy of the element losses
    (``reduction='none'``, normal results): <= 2 ulp for float32 and float64 (tested on 2e6
    values; float32 1.92 measured).  The elements are walked in logical (C) order in fixed chunks, each chunk's
    sum in double, the chunks added pairwise: the same bits for any memory layout and thread count.

    Examples
    --------
    >>> import numpy as np, cxent
    >>> x = np.array([-3.0, -0.5, 0.0, 2.0, 10.0]); y = np.array([0.0, 1.0, 0.5, 1.0, 0.0])
    >>> float(cxent.binary_cross_entropy_with_logits(x, y))
    2.36855698...
    """
    small = _k.bce_small(input, target, weight, pos_weight, True, reduction, PARALLEL_THRESHOLD)
    if small is not None:  # the common small call, through its compiled gate
        return small
    return _bce_logits(input, target, weight, reduction, pos_weight)[0]


def _bce_logits(input, target, weight, reduction, pos_weight, grad=None, parts=False):
    check_reduction(reduction)
    a, t, w, pw, dtype = binary_operands(input, target, weight, pos_weight)
    _, loss, g = _run(True, a, t, w, pw, reduction, dtype, grad,
                      [("target", target), ("weight", weight), ("pos_weight", pos_weight)], parts)
    return loss, g


def binary_parts(logits, input, target, weight=None, pos_weight=None, *, grad_output=None,
                 grad=False):
    """``(partial sums, gradient or None)`` of ``binary_cross_entropy(_with_logits)`` for
    ``cxent.dask``'s blocks: the kernel's partial sums of the element losses (``finish`` reduces
    them as the NumPy call does, when the block starts at a multiple of ``_CHUNK`` elements of the
    whole array) and the gradient times the scalar ``grad_output`` (the mean's or sum's scale)."""
    req = GradRequest(grad_output, None) if grad else None
    if logits:
        return _bce_logits(input, target, weight, "sum", pos_weight, req, parts=True)
    return _bce(input, target, weight, "sum", req, parts=True)


def binary_cross_entropy_and_grad(input: ArrayLike, target: ArrayLike,
                                  weight: ArrayLike | None = None, reduction: str = "mean", *,
                                  grad_output: ArrayLike | None = None,
                                  grad_out: FloatArray | None = None) -> LossAndGrad:
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
    return _bce(input, target, weight, reduction, GradRequest(grad_output, grad_out))


def binary_cross_entropy_with_logits_and_grad(input: ArrayLike, target: ArrayLike,
                                              weight: ArrayLike | None = None,
                                              reduction: str = "mean",
                                              pos_weight: ArrayLike | None = None, *,
                                              grad_output: ArrayLike | None = None,
                                              grad_out: FloatArray | None = None) -> LossAndGrad:
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
                       GradRequest(grad_output, grad_out))


class BCELoss(LossFunction):
    """Callable form of :func:`binary_cross_entropy` (``torch.nn.BCELoss``)."""

    _fn = staticmethod(binary_cross_entropy)
    _fn_and_grad = staticmethod(binary_cross_entropy_and_grad)
    _options = ("weight", "reduction")

    def __init__(self, weight: ArrayLike | None = None, reduction: str = "mean") -> None:
        check_reduction(reduction)
        super().__init__(weight=weight, reduction=reduction)


class BCEWithLogitsLoss(LossFunction):
    """Callable form of :func:`binary_cross_entropy_with_logits` (``torch.nn.BCEWithLogitsLoss``)."""

    _fn = staticmethod(binary_cross_entropy_with_logits)
    _fn_and_grad = staticmethod(binary_cross_entropy_with_logits_and_grad)
    _options = ("weight", "reduction", "pos_weight")

    def __init__(self, weight: ArrayLike | None = None, reduction: str = "mean",
                 pos_weight: ArrayLike | None = None) -> None:
        check_reduction(reduction)
        super().__init__(weight=weight, reduction=reduction, pos_weight=pos_weight)


def _kl(input, target, reduction, log_target, grad=None, parts=False):
    a, t, dtype = kl_operands(input, target, reduction, log_target)
    batch = a.shape[0] if a.ndim else 1
    red = "sum" if reduction == "batchmean" else reduction
    if grad is not None and reduction == "batchmean":
        scale, _ = grad_output_factors(grad, "sum", ())
        grad = GradRequest(divide(scale, float(batch)), grad.grad_out)
    mean_of_batch = reduction == "batchmean" and not parts
    _, loss, g = _run(_KL_LOG if log_target else _KL, a, t, None, None, red, dtype, grad,
                      [("target", target)], parts or mean_of_batch)
    if mean_of_batch:  # the sum in double over the batch size, rounded once
        loss = finish(loss, batch, "mean", dtype)
    return loss, g


def kl_div(input: ArrayLike, target: ArrayLike, reduction: str = "mean",
           log_target: bool = False) -> Loss:
    r"""Kullback-Leibler divergence, :func:`torch.nn.functional.kl_div`'s semantics.

    Parameters
    ----------
    input : array_like
        Log-probabilities (not checked, as torch), e.g. :func:`log_softmax` of a model's logits.
    target : array_like
        Probabilities (``log_target=False``; not checked) or log-probabilities, broadcast to the
        input's shape (it may not enlarge it: torch broadcasts both ways).  A float64 target with
        float32 input gives a float64 result (``np.result_type``); integers are cast.
    reduction : {'mean', 'batchmean', 'sum', 'none'}, default 'mean'
        'mean' divides by every element (torch's, which warns that it is not the KL divergence);
        'batchmean' by ``input.shape[0]`` (the true KL divergence per sample; a 0-d input: the sum).
    log_target : bool, default False

    Returns
    -------
    numpy scalar or ndarray
        The input's shape for 'none' (a NumPy scalar for 0-d input), else a NumPy scalar.

    Notes
    -----
    .. math:: \ell = \mathrm{xlogy}(t, t) - t x \quad\text{or, with log targets,}\quad
              \ell = e^{t} (t - x)

    as torch: ``0 log 0 = 0``, so a zero target contributes 0 (but nan against an input of
    ``-inf``, 0 times -inf); a negative or nan target gives nan.  Each element in double (libm's
    ``log``/``exp``): float32 results are rounded once, within half an ulp plus a few double
    roundings of the terms ``t log t`` and ``t x`` (torch rounds each step in float32); float64
    within 2 ulp of those terms (both tested).  The sums as the BCE losses' (a fixed order:
    bitwise identical for any layout and thread count).

    Examples
    --------
    >>> import numpy as np, cxent
    >>> p, q = np.array([[0.5, 0.5]]), np.array([[0.9, 0.1]])
    >>> float(cxent.kl_div(np.log(p), q, reduction="batchmean"))
    0.36806420...
    """
    return _kl(input, target, reduction, log_target)[0]


def kl_div_and_grad(input: ArrayLike, target: ArrayLike, reduction: str = "mean",
                    log_target: bool = False, *, grad_output: ArrayLike | None = None,
                    grad_out: FloatArray | None = None) -> LossAndGrad:
    r""":func:`kl_div` and its gradient with respect to ``input``, in one sweep.

    Parameters and returns as :func:`binary_cross_entropy_and_grad` (``grad_out`` may be ``input``
    itself).

    Notes
    -----
    .. math:: \frac{\partial \ell}{\partial x} = -s\, t\, g \quad\text{or}\quad -s\, e^{t} g

    with ``s`` = 1/numel ('mean'), 1/N ('batchmean'), 1 otherwise (torch autograd's values).

    Examples
    --------
    >>> import numpy as np, cxent
    >>> cxent.kl_div_and_grad(np.log([0.5, 0.5]), np.array([0.9, 0.1]), reduction="sum")[1]
    array([-0.9, -0.1])
    """
    return _kl(input, target, reduction, log_target, GradRequest(grad_output, grad_out))


def kl_parts(input, target, log_target=False, *, grad_output=None, grad=False):
    """``(partial sums, gradient or None)`` of ``kl_div`` for ``cxent.dask``'s blocks, as
    ``binary_parts``."""
    req = GradRequest(grad_output, None) if grad else None
    return _kl(input, target, "sum", log_target, req, parts=True)


class KLDivLoss(LossFunction):
    """Callable form of :func:`kl_div` (``torch.nn.KLDivLoss``).

    Examples
    --------
    >>> import numpy as np, cxent
    >>> loss = cxent.KLDivLoss(reduction="batchmean", log_target=True)
    >>> float(loss(np.log([[0.5, 0.5]]), np.log([[0.9, 0.1]])))
    0.36806420...
    """

    _fn = staticmethod(kl_div)
    _fn_and_grad = staticmethod(kl_div_and_grad)
    _options = ("reduction", "log_target")

    def __init__(self, reduction: str = "mean", log_target: bool = False) -> None:
        check_kl_options(reduction, log_target)
        super().__init__(reduction=reduction, log_target=log_target)
