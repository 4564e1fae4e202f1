"""softmax_kl_div: the distillation loss ``kl_div(log_softmax(student / T), softmax(teacher / T))``
and its gradient with respect to the student's logits."""

from __future__ import annotations


import numpy as np

from cxent import _layout
from cxent._common import as_dtype, divide, pairwise_total
from cxent._config import use_threads
from cxent._lib import _losses as _k
from cxent._softmax import softmax
from cxent._typing import ArrayLike, Axis, Loss, LossAndGrad
from cxent._validation import (
    DEFAULT_AXIS,
    axis_or_dim,
    float_array,
    int_axis,
    distill_options,
    real_number,
    scalar_if_0d,
)

__all__ = ["softmax_kl_div", "softmax_kl_div_and_grad"]


def _operands(student, teacher, temperature, axis, dim, reduction):
    s = float_array(student, "student_logits")
    t = float_array(teacher, "teacher_logits")
    temp = distill_options(s.shape, t.shape, temperature, reduction)
    ax = int_axis(axis_or_dim(axis, dim), s.ndim)
    dtype = np.result_type(s.dtype, t.dtype)
    return s.astype(dtype, copy=False), t.astype(dtype, copy=False), ax, temp, dtype


def _run(student, teacher, temperature, axis, dim, reduction, grad, grad_output):
    s, t, ax, temp, dtype = _operands(student, teacher, temperature, axis, dim, reduction)
    if reduction == "none" and grad:  # the terms from the kernel, their gradient in NumPy
        return (_run(s, t, temp, ax, None, "none", False, None),
                _none_grad(s / dtype.type(temp), t / dtype.type(temp), ax, temp, dtype,
                           grad_output))
    div = {"none": 1.0, "sum": 1.0, "mean": float(s.size),
           "batchmean": float(s.shape[0])}[reduction]  # torch: axis 0's size, whatever the class axis
    scale = None
    if grad:
        g_out = 1.0 if grad_output is None else real_number(np.asarray(grad_output).item()
                                                            if np.ndim(grad_output) == 0 else
                                                            grad_output, "grad_output")
        scale = divide(g_out, div) / temp
    rows, elem, g = kl_parts(s, t, temp, ax, reduction == "none", scale)
    if reduction == "none":
        return scalar_if_0d(elem)
    loss = as_dtype(divide(pairwise_total(rows), div), dtype)  # the rows in a fixed order
    return (loss, g) if grad else loss


def kl_parts(s, t, temp, ax, elements, scale):
    """``(rows, element terms or None, gradient or None)`` of same-shaped float arrays along
    ``ax``: the float64 row sums (the input's shape without ``ax``), the element terms when
    ``elements``, the gradient times ``scale`` unless it is None (``cxent.dask``'s blocks use it
    too)."""
    groups = _layout.row_groups(s.ndim, (ax,))[1]
    s3, t3 = _layout.merged_or_copy(s, groups), _layout.merged_or_copy(t, groups)
    rows = _layout.empty((s3.shape[0], s3.shape[2]), np.float64)
    elem = ev = gbuf = gv = None
    if elements:
        elem, ev, _ = _layout.result_like(s, groups)
    if scale is not None:
        gbuf, gv, _ = _layout.result_like(s, groups)
    if s.size:
        _k.softmax_kl_rows(s3, t3, temp, rows, ev, gv, 1.0 if scale is None else scale,
                           use_threads(2 * s.size))
    return rows.reshape(s.shape[:ax] + s.shape[ax + 1:]), elem, gbuf


def _none_grad(s, t, ax, temp, dtype, grad_output):
    """The gradient of 'none' for an upstream gradient g per element: (p sum_c g_c q_c - g q) / T
    (three NumPy-level sweeps; ``s`` and ``t`` divided by T)."""
    q = softmax(t, axis=ax).astype(np.float64)
    g = np.ones(s.shape) if grad_output is None else np.broadcast_to(
        np.asarray(grad_output, np.float64), s.shape)
    p = softmax(s, axis=ax).astype(np.float64)
    gq = g * q
    return ((p * gq.sum(axis=ax, keepdims=True) - gq) / temp).astype(dtype)


def softmax_kl_div(student_logits: ArrayLike, teacher_logits: ArrayLike,
                   temperature: float = 1.0, axis: Axis = DEFAULT_AXIS, *, dim: Axis = None,
                   reduction: str = "batchmean") -> Loss:
    r"""The distillation loss ``kl_div(log_softmax(student / T), softmax(teacher / T))`` along
    ``axis``, with :func:`kl_div`'s reductions (default 'batchmean': the KL divergence per sample).

    Equal to ``kl_div(log_softmax(s / T, axis), softmax(t / T, axis), reduction)`` (terms
    ``q (log q - log p)``, 0 where ``q = 0``), in one sweep over both inputs and the gradient
    (``_lib/_losses.pyx``'s ``softmax_kl_rows``): each row pair gathered once into per-thread
    scratch, both normalisers by the vectorised row arithmetic, the terms in double, the rows
    summed in a fixed order (bitwise identical for any layout and thread count).  'none' with a
    gradient runs three NumPy-level sweeps.  Hinton et al. multiply the loss by :math:`T^2`;
    this function does not.

    Parameters
    ----------
    student_logits, teacher_logits : array_like, the same shape
    temperature : float, default 1.0
        A finite number > 0; both logits are divided by it.
    axis : int, default -1 (``dim=`` is the same)
        The class axis.
    reduction : {'batchmean', 'mean', 'sum', 'none'}
        As :func:`kl_div`: 'batchmean' divides by the size of axis 0 (torch's rule, also for a
        1-d input, where that is the number of classes).

    Examples
    --------
    >>> import numpy as np, cxent
    >>> s, t = np.array([[1.0, 2.0, 3.0]]), np.array([[3.0, 2.0, 1.0]])
    >>> ref = cxent.kl_div(cxent.log_softmax(s / 2), cxent.log_softmax(t / 2), "batchmean",
    ...                    log_target=True)
    >>> bool(np.isclose(cxent.softmax_kl_div(s, t, temperature=2.0), ref))
    True
    """
    return _run(student_logits, teacher_logits, temperature, axis, dim, reduction, False, None)


def softmax_kl_div_and_grad(student_logits: ArrayLike, teacher_logits: ArrayLike,
                            temperature: float = 1.0, axis: Axis = DEFAULT_AXIS, *,
                            dim: Axis = None, reduction: str = "batchmean",
                            grad_output: ArrayLike | None = None) -> LossAndGrad:
    r""":func:`softmax_kl_div` and its gradient with respect to ``student_logits``:
    :math:`s' (\mathrm{softmax}(s / T) - q) / T` for the reductions, with ``s'`` the reduction's
    scale times ``grad_output`` (a scalar; for 'none' an array of the input's shape).

    Examples
    --------
    >>> import numpy as np, cxent
    >>> loss, g = cxent.softmax_kl_div_and_grad(np.zeros((1, 2)), np.array([[0.0, 1.0]]))
    >>> bool(np.allclose(g, [[0.23105858, -0.23105858]]))
    True
    """
    return _run(student_logits, teacher_logits, temperature, axis, dim, reduction, True,
                grad_output)
