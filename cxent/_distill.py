"""softmax_kl_div: the distillation loss ``kl_div(log_softmax(student / T), softmax(teacher / T))``
and its gradient with respect to the student's logits."""

from __future__ import annotations

import math

import numpy as np

from cxent._common import as_dtype, divide
from cxent._losses import cross_entropy_and_grad
from cxent._softmax import log_softmax, softmax
from cxent._typing import ArrayLike, Axis, FloatArray, Loss, LossAndGrad
from cxent._validation import (
    DEFAULT_AXIS,
    axis_or_dim,
    float_array,
    int_axis,
    kl_operands,
    real_number,
    scalar_if_0d,
)

__all__ = ["softmax_kl_div", "softmax_kl_div_and_grad"]


def _operands(student, teacher, temperature, axis, dim, reduction):
    s = float_array(student, "student_logits")
    t = float_array(teacher, "teacher_logits")
    if s.shape != t.shape:
        raise ValueError(f"`teacher_logits` must have the shape of `student_logits` {s.shape}; "
                         f"got {t.shape}")
    kl_operands(np.zeros(0), np.zeros(0), reduction, False)  # the reduction, checked
    temp = real_number(temperature, "temperature")
    if not (temp > 0.0 and temp < math.inf):
        raise ValueError(f"`temperature` must be a finite number > 0; got {temperature!r}")
    if s.ndim == 0:
        raise ValueError("`student_logits` must have a class axis; got a 0-d array")
    ax = int_axis(axis_or_dim(axis, dim), s.ndim)
    dtype = np.result_type(s.dtype, t.dtype)
    s, t = s.astype(dtype, copy=False), t.astype(dtype, copy=False)
    if temp != 1.0:
        s, t = s / dtype.type(temp), t / dtype.type(temp)
    return s, t, ax, temp, dtype


def _run(student, teacher, temperature, axis, dim, reduction, grad, grad_output):
    s, t, ax, temp, dtype = _operands(student, teacher, temperature, axis, dim, reduction)
    lq = log_softmax(t, axis=ax)  # the teacher's log-probabilities (one sweep)
    q = np.exp(lq)
    batch = s.shape[0]  # torch's batchmean: the size of axis 0, whatever the class axis
    if reduction == "none":  # the element terms q (log q - log p), torch's 'none'
        ls = log_softmax(s, axis=ax)
        loss = scalar_if_0d(as_dtype(q * (lq - ls), dtype))
        if not grad:
            return loss
        g = np.ones(s.shape) if grad_output is None else np.broadcast_to(
            np.asarray(grad_output, np.float64), s.shape)
        p = softmax(s, axis=ax).astype(np.float64)
        gq = g * q
        gs = (p * gq.sum(axis=ax, keepdims=True) - gq) / temp
        return loss, gs.astype(dtype)
    # sum over rows of KL = sum q log q + cross-entropy of the student against q (one fused sweep
    # over the student's rows with the probability-target kernel, which also gives the gradient)
    neg_entropy = math.fsum(np.sum(q * lq, axis=ax, dtype=np.float64).ravel())
    div = {"sum": 1.0, "mean": float(s.size), "batchmean": float(batch)}[reduction]
    g_out = 1.0 if grad_output is None else real_number(np.asarray(grad_output).item()
                                                        if np.ndim(grad_output) == 0 else
                                                        grad_output, "grad_output")
    s1, q1 = (s, q) if s.ndim == 1 else (np.moveaxis(s, ax, 1), np.moveaxis(q, ax, 1))
    ce, gce = cross_entropy_and_grad(s1, q1, reduction="sum",
                                     grad_output=divide(g_out, div) / temp)
    total = float(ce) + neg_entropy
    loss = as_dtype(divide(total, div), dtype)
    if not grad:
        return loss
    return loss, (gce if s.ndim == 1 else np.moveaxis(gce, 1, ax))


def softmax_kl_div(student_logits: ArrayLike, teacher_logits: ArrayLike,
                   temperature: float = 1.0, axis: Axis = DEFAULT_AXIS, *, dim: Axis = None,
                   reduction: str = "batchmean") -> Loss:
    r"""The distillation loss ``kl_div(log_softmax(student / T), softmax(teacher / T))`` along
    ``axis``, with :func:`kl_div`'s reductions (default 'batchmean': the KL divergence per sample).

    Equal to ``kl_div(log_softmax(s / T, axis), log_softmax(t / T, axis), reduction,
    log_target=True)``, without materialising the student's log-probabilities for 'mean',
    'batchmean' and 'sum': the teacher's log-softmax and softmax (two sweeps), then one fused sweep
    of :func:`cross_entropy_and_grad` with the teacher's probabilities as targets
    (:math:`\mathrm{KL} = \sum q \log q + \mathrm{CE}(s / T, q)`).  Not a single sweep over both
    inputs.  Hinton et al. multiply the loss by :math:`T^2`; this function does not.

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
