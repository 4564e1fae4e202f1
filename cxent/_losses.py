"""nll_loss and cross_entropy (class-index and probability targets), and their torch-style classes.

validate -> lay out as ``(N, C, inner)`` -> per-row kernel -> one reduction in a fixed order.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from cxent import _layout
from cxent._config import use_threads
from cxent._typing import ArrayLike, FloatArray, Loss, LossAndGrad
from cxent._lib import _losses as _k
from cxent._common import LossFunction, as_dtype, divide, pairwise_total
from cxent._validation import (
    GradRequest,
    bad_target_error,
    check_label_smoothing,
    check_reduction,
    class_operands,
    grad_out_buffer,
    grad_output_factors,
    loss_options,
    scalar_if_0d,
)

__all__ = ["nll_loss", "cross_entropy", "nll_loss_and_grad", "cross_entropy_and_grad", "NLLLoss",
           "CrossEntropyLoss"]


def _grad_setup(a, grad, reduction, loss_shape, groups, others):
    """(scale, per-row scale or None, gradient array, its (N, C, inner) view, array to copy it
    into after the kernel or None); no gradient (grad None): (1.0, None, None, None, None)."""
    if grad is None:
        return 1.0, None, None, None, None
    scale, g = grad_output_factors(grad, reduction, loss_shape)
    row_scale = None if g is None else np.ascontiguousarray(g, dtype=np.float64).reshape(
        _layout.rows_shape(a.shape))
    return (scale, row_scale) + _layout.result_like(a, groups, grad_out_buffer(grad, a, others))


def _index_rows(op, opts, logits, grad, others):
    """(per-row losses (reduction 'none') or None, their sum, the sum of w[y], gradient or None)
    of index targets (``op``: ``ClassOperands``, ``opts``: ``LossOptions``)."""
    a = op.input
    groups, tgroups = _layout.class_groups(a.ndim)
    rows = _layout.rows_shape(a.shape)
    loss = _layout.empty(rows, np.float64) if opts.reduction == "none" else None
    scale, row_scale, gbuf, gview, copy_to = _grad_setup(a, grad, opts.reduction, op.loss_shape,
                                                         groups, others)
    total = wtotal = 0.0
    if not math.prod(rows):
        pass
    elif op.n_classes == 0:  # nothing to read: every target must be ignored
        if not (op.has_ignore and np.all(op.target == op.ignore)):
            raise bad_target_error(op.target, 0, op.has_ignore, op.ignore)
        if loss is not None:
            loss.fill(0.0)
    else:
        x = _layout.merged_or_copy(a, groups)
        t2 = _layout.merged_or_copy(op.target, tgroups).reshape(rows)
        # nll_loss without a gradient reads one element per row: its work is the row count (8192
        # rows of a 8192x32000 input: 0.04 ms on 1 thread, 0.27 ms with the 2-thread region)
        threads = use_threads(a.size if logits or grad is not None else math.prod(rows))
        if grad is not None:  # check targets and find the mean's denominator before any write
            bad, denom = _k.target_weights(t2, op.weight, op.n_classes, op.has_ignore, op.ignore,
                                           threads)
            if bad:
                raise bad_target_error(op.target, op.n_classes, op.has_ignore, op.ignore)
            if opts.reduction == "mean":
                # sum w[y] = 0 with rows left: torch's gradient is nan there (inf * 0), not +-inf
                scale = scale / denom if denom else math.nan
        bad, total, wtotal = _k.class_index_rows(x, t2, op.weight, op.has_ignore, op.ignore, logits,
                                                 opts.label_smoothing, opts.z_loss, loss, gview,
                                                 scale, row_scale, threads, opts.cap)
        if bad:
            raise bad_target_error(op.target, op.n_classes, op.has_ignore, op.ignore)
    if op.n_classes == 0 and logits and opts.label_smoothing > 0:
        # torch's smoothing weight eps / C is inf: 0 * inf = nan in every row and in the sum
        total = math.nan
        if loss is not None:
            loss.fill(math.nan)
    if copy_to is not None:
        np.copyto(copy_to, gbuf)
        gbuf = copy_to
    return (None if loss is None else loss.reshape(op.loss_shape)), total, wtotal, gbuf


def _reduce(loss, total, denom, reduction, dtype):
    """Torch's reductions: the per-row losses ('none'), or the sum, or sum / denom (nan for 0/0)."""
    if reduction == "none":
        return scalar_if_0d(as_dtype(loss, dtype))
    if reduction == "sum":
        return as_dtype(total, dtype)
    return as_dtype(divide(total, float(denom)), dtype)


def _nll(input, target, weight, ignore_index, reduction, grad=None):
    opts = loss_options(reduction)
    op = class_operands(input, target, weight, ignore_index, fn="nll_loss")
    loss, total, denom, g = _index_rows(op, opts, False, grad, [("weight", weight)])
    return _reduce(loss, total, denom, reduction, op.input.dtype), g


def _xent(input, target, weight, ignore_index, reduction, label_smoothing, z_loss, grad=None,
          softcap=None):
    opts = loss_options(reduction, label_smoothing, z_loss, softcap)
    op = class_operands(input, target, weight, ignore_index)
    others = [("weight", weight), ("target", target)]
    if op.probs:
        return _prob_loss(op, opts, grad, others)
    loss, total, denom, g = _index_rows(op, opts, True, grad, others[:1])
    return _reduce(loss, total, denom, reduction, op.input.dtype), g


def nll_loss(input: ArrayLike, target: ArrayLike, weight: ArrayLike | None = None,
             ignore_index: int = -100, reduction: str = "mean") -> Loss:
    r"""Negative log-likelihood loss, :func:`torch.nn.functional.nll_loss`'s semantics.

    Parameters
    ----------
    input : array_like, shape (C,), (N, C) or (N, C, d1, ..., dk)
        Log-probabilities (not checked, as in torch).  The class axis is 0 for 1-d input, else 1.
    target : array_like of integers, shape (), (1,), (N,) or (N, d1, ..., dk)
        Class indices in ``[0, C)`` or ``ignore_index``; any integer dtype (torch: int64/uint8 only).
    weight : array_like, shape (C,), optional
        Class weights, cast to the input's dtype.
    ignore_index : int, default -100
        Targets equal to it contribute nothing (checked before the range check, so any value works).
    reduction : {'mean', 'sum', 'none'}, default 'mean'

    Returns
    -------
    numpy scalar or ndarray
        ``'none'``: the per-element losses, shape of ``target`` (0-d for 1-d input; ignored entries
        +0.0).  ``'sum'``/``'mean'``: a NumPy scalar of the input's float dtype.

    Raises
    ------
    TypeError
        Non-numeric input, or a non-integer target.
    ValueError
        A 0-d input, mismatched target shape, bad weight shape or reduction.
    IndexError
        A target outside ``[0, C)`` that is not ``ignore_index``.

    Notes
    -----
    .. math:: \ell_i = -w_{y_i} x_{i, y_i}, \qquad
              \mathrm{mean} = \sum_i \ell_i \Big/ \sum_{i \,\mathrm{not\ ignored}} w_{y_i}

    Every target ignored gives ``nan`` for the mean (as torch: pytorch#70348).  Sums accumulate in
    double and are rounded once, so float32 results are at least as accurate as torch's.

    Examples
    --------
    >>> import numpy as np, cxent
    >>> lp = cxent.log_softmax(np.array([[1.0, 2.0, 3.0], [1.0, -1.0, 0.5]]), axis=1)
    >>> float(cxent.nll_loss(lp, [2, 0]))
    0.4812814...
    """
    small = _k.xent_small(input, target, weight, ignore_index, reduction, 0.0, 0.0, False)
    if small is not None:  # the common small call, served in one compiled step
        return small
    return _nll(input, target, weight, ignore_index, reduction)[0]


def cross_entropy(input: ArrayLike, target: ArrayLike, weight: ArrayLike | None = None,
                  ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0, *, z_loss: float = 0.0,
                  softcap: float | None = None) -> Loss:
    r"""Cross-entropy of logits, :func:`torch.nn.functional.cross_entropy`'s semantics.

    Parameters
    ----------
    input : array_like, shape (C,), (N, C) or (N, C, d1, ..., dk)
        Unnormalised logits; the class axis is 0 for 1-d input, else 1.
    target : array_like
        Either class indices of any integer dtype, shape (), (1,), (N,) or (N, d1, ..., dk); or
        class probabilities: a floating array of exactly ``input``'s shape.
    weight : array_like, shape (C,), optional
        Class weights, cast to the input's dtype.
    ignore_index : int, default -100
        Index targets equal to it contribute nothing.  With probability targets it must be negative
        (it is then unused).
    reduction : {'mean', 'sum', 'none'}, default 'mean'
    label_smoothing : float in [0, 1], default 0.0
        Mixes the target with the uniform distribution; a negative value means 0 (as torch).
    z_loss : float >= 0, default 0.0
        Adds ``z_loss * logsumexp(input_i)**2`` to each non-ignored element's loss (PaLM's auxiliary
        loss), weighted by that element's class weight ``w[y_i]`` (unweighted for probability
        targets, which have no single class).
    softcap : float > 0, optional
        Gemma 2's logit soft-capping: the loss of ``softcap * tanh(input / softcap)``, inside the
        kernel's sweep: each row is capped into a per-thread scratch row (float32: ``tanh`` in
        double, rounded once: within 1 ulp of ``tanh`` of the rounded quotient; float64: libm's
        ``tanh``, within 3 ulp), then the row program runs on it; no temporary of the input's
        size.  The loss's bound below then holds for the capped logits.

    Returns
    -------
    numpy scalar or ndarray
        As :func:`nll_loss`.  With probability targets the dtype follows
        ``np.result_type(input, target)`` (float64 target + float32 input gives float64, as torch).

    Raises
    ------
    TypeError, ValueError, IndexError
        As :func:`nll_loss`; also TypeError for a float target of another shape than ``input`` or an
        integer target of the same shape, ValueError for ``label_smoothing > 1`` or
        ``ignore_index >= 0`` with probability targets.

    Notes
    -----
    Index targets, per element :math:`i` with :math:`\ell p = \mathrm{log\_softmax}(x)`:

    .. math:: \ell_i = (1-\varepsilon)\, w_{y_i} (-\ell p_{i,y_i})
              + \frac{\varepsilon}{C} \sum_c w_c (-\ell p_{i,c}),
              \qquad \mathrm{mean} = \sum_i \ell_i \Big/ \sum_i w_{y_i}

    (torch's weighting of the smoothing term, pytorch#104776).  Probability targets:
    :math:`\ell_i = -\sum_c w_c q_{i,c}\, \ell p_{i,c}` with :math:`q = t(1-\varepsilon)+\varepsilon/C`,
    and the mean divides by :math:`N \cdot d_1 \cdots d_k` (not by the weights).
    The log-probabilities are never materialised: per row one max pass and one sum-of-exp pass in
    double.  ``x[y] - m`` is computed in the input dtype, then ``log1p`` of the sum without the
    arg-max term, so a confident correct prediction keeps its tiny loss instead of rounding to 0.

    Examples
    --------
    >>> import numpy as np, cxent
    >>> float(cxent.cross_entropy(np.array([[-3.0, 1.5, 2.7]], dtype=np.float32), [1]))
    1.46585071...
    """
    if softcap is None:
        small = _k.xent_small(input, target, weight, ignore_index, reduction, label_smoothing,
                              z_loss)
        if small is not None:  # the common small call, served in one compiled step
            return small
    return _xent(input, target, weight, ignore_index, reduction, label_smoothing, z_loss,
                 softcap=softcap)[0]


def _prob_rows(op, opts, grad, others):
    """(the kernel's float64 rows of probability targets, sum_c w_c q_c lp_c - z lse^2 of the
    loss's shape (the loss is their negation), gradient or None)."""
    a = op.input
    groups = _layout.class_groups(a.ndim)[0]
    rows = _layout.rows_shape(a.shape)
    loss = _layout.empty(rows, np.float64)
    scale, row_scale, gbuf, gview, copy_to = _grad_setup(a, grad, opts.reduction, op.loss_shape,
                                                         groups, others)
    if opts.reduction == "mean":
        scale = divide(scale, float(loss.size))
    if loss.size:
        if op.n_classes:
            _k.class_prob_rows(_layout.merged_or_copy(a, groups),
                               _layout.merged_or_copy(op.target, groups), op.weight,
                               opts.label_smoothing, opts.z_loss, loss, gview, scale, row_scale,
                               use_threads(a.size), opts.cap)
        else:  # no classes: an empty sum; z-loss of the empty row's lse = -inf is inf
            loss.fill(-math.inf if opts.z_loss else 0.0)
    if copy_to is not None:
        np.copyto(copy_to, gbuf)
        gbuf = copy_to
    return loss.reshape(op.loss_shape), gbuf


def prob_total(rows):
    """The sum of probability-target losses from ``_prob_rows``' rows (torch negates the sum of
    the rows: an empty sum is -0.0)."""
    return -pairwise_total(rows)


def _prob_loss(op, opts, grad, others):
    """(loss reduced as asked, gradient or None) of probability targets."""
    loss, gbuf = _prob_rows(op, opts, grad, others)
    dtype = op.input.dtype
    if opts.reduction == "none":
        return as_dtype(-loss, dtype), gbuf
    total = prob_total(loss)
    if opts.reduction == "sum":
        return as_dtype(total, dtype), gbuf
    return as_dtype(divide(total, float(loss.size)), dtype), gbuf


def class_rows(input, target, weight=None, ignore_index=-100, label_smoothing=0.0, z_loss=0.0, *,
               fn="cross_entropy", grad_output=None, grad=False):
    """The unreduced parts of ``nll_loss``/``cross_entropy`` for ``cxent.dask``'s blocks:
    ``(probs, rows, gradient or None)``, the float64 row values the NumPy call reduces (index
    targets: the losses, totalled by ``row_total``; probability targets: their negations, by
    ``prob_total``) and the gradient times ``grad_output`` (a scalar, the mean's or the sum's
    scale, or an array of the rows' shape), bit for bit as that call computes them."""
    opts = loss_options("none", label_smoothing, z_loss)
    op = class_operands(input, target, weight, ignore_index, fn=fn)
    req = GradRequest(grad_output, None) if grad else None
    if op.probs:
        rows, g = _prob_rows(op, opts, req, [])
        return True, rows, g
    rows, _, _, g = _index_rows(op, opts, fn == "cross_entropy", req, [])
    return False, rows, g


def nll_loss_and_grad(input: ArrayLike, target: ArrayLike, weight: ArrayLike | None = None,
                      ignore_index: int = -100, reduction: str = "mean", *,
                      grad_output: ArrayLike | None = None,
                      grad_out: FloatArray | None = None) -> LossAndGrad:
    r""":func:`nll_loss` and its gradient with respect to ``input``, in one pass.

    Parameters
    ----------
    input, target, weight, ignore_index, reduction
        As :func:`nll_loss`.
    grad_output : scalar or array_like, optional
        The upstream gradient: a scalar for ``'mean'``/``'sum'``; a scalar or an array of the loss's
        shape for ``'none'``.  None means 1.
    grad_out : ndarray, optional
        Buffer of ``input``'s shape and dtype for the gradient; may be ``input`` itself (in-place).

    Returns
    -------
    (loss, grad_input)
        ``loss`` exactly as :func:`nll_loss` returns it, ``grad_input`` of ``input``'s shape/dtype.

    Notes
    -----
    :math:`\partial \ell / \partial x_{i,c} = -s\, m_i w_{y_i} \delta_{c y_i} g`, with ``s`` = 1 for
    ``'sum'``/``'none'`` and :math:`1 / \sum_i m_i w_{y_i}` for ``'mean'`` (all targets ignored: the
    loss is nan and the gradient all zeros, as torch).

    Examples
    --------
    >>> import numpy as np, cxent
    >>> loss, g = cxent.nll_loss_and_grad(np.log(np.array([[0.5, 0.5], [0.9, 0.1]])), [0, 1])
    >>> g
    array([[-0.5,  0. ],
           [ 0. , -0.5]])
    """
    if grad_output is None and grad_out is None:
        fast = _k.nll_grad_small(input, target, weight, ignore_index, reduction)
        if fast is not None:  # the common small call, served in one compiled step
            return fast
    return _nll(input, target, weight, ignore_index, reduction, GradRequest(grad_output, grad_out))


def cross_entropy_and_grad(input: ArrayLike, target: ArrayLike, weight: ArrayLike | None = None,
                           ignore_index: int = -100, reduction: str = "mean",
                           label_smoothing: float = 0.0, *, z_loss: float = 0.0,
                           softcap: float | None = None, grad_output: ArrayLike | None = None,
                           grad_out: FloatArray | None = None) -> LossAndGrad:
    r""":func:`cross_entropy` and its gradient with respect to ``input``, in one sweep over memory.

    Parameters
    ----------
    input, target, weight, ignore_index, reduction, label_smoothing, z_loss, softcap
        As :func:`cross_entropy`; with ``softcap`` the gradient is that of the capped logits
        times ``1 - tanh(input / softcap)**2``.
    grad_output : scalar or array_like, optional
        The upstream gradient: a scalar for ``'mean'``/``'sum'``; a scalar or an array of the loss's
        shape for ``'none'``.  None means 1.
    grad_out : ndarray, optional
        Buffer of ``input``'s shape and dtype for the gradient.  ``grad_out=input`` overwrites the
        logits with the gradient: no N x C allocation at all.

    Returns
    -------
    (loss, grad_input)
        ``loss`` bit for bit as :func:`cross_entropy` returns it; ``grad_input`` of ``input``'s shape
        and dtype (of the promoted dtype for float64 probability targets with float32 input).

    Notes
    -----
    Per row, with :math:`p = \mathrm{softmax}(x)`, :math:`W = \sum_c w_c` and the scale ``s``
    (:math:`1/\sum_i m_i w_{y_i}` for the mean, 1 for the sum, :math:`g_i` for none):

    .. math:: \frac{\partial \ell}{\partial x_c} = s\, m_i \Big[(1-\varepsilon) w_y (p_c - \delta_{cy})
              + \frac{\varepsilon}{C} (W p_c - w_c) + 2 z\, w_y\, \mathrm{lse}\; p_c\Big] g

    Probability targets: :math:`s' [p_c \sum_k w_k q_k - w_c q_c + 2 z\, \mathrm{lse}\, p_c]`.
    Each row is read three times (max, sum of exp, gradient), the last two from cache, and the
    gradient is written once: no N x C temporary (torch makes about six passes and three N x C
    allocations).  The gradient's ``p`` are :func:`softmax`'s stored exps (``x - m``'s rounding
    error carried): class-index targets, no options, within 4 ulp (float64: 7) of
    ``max(|g|, p)``, tested (``tests/test_accuracy_bounds.py``).

    Examples
    --------
    >>> import numpy as np, cxent
    >>> x = np.array([[1.0, 2.0, 3.0], [1.0, -1.0, 0.5]])
    >>> loss, g = cxent.cross_entropy_and_grad(x, [2, 0])
    >>> bool(np.allclose(g.sum(axis=1), 0))
    True
    >>> loss, g = cxent.cross_entropy_and_grad(x, [2, 0], grad_out=x)  # in place
    >>> g is x
    True
    """
    if softcap is None and grad_output is None and grad_out is None:
        fast = _k.xent_grad_small(input, target, weight, ignore_index, reduction,
                                  label_smoothing, z_loss)
        if fast is not None:  # the common small call, served in one compiled step
            return fast
    return _xent(input, target, weight, ignore_index, reduction, label_smoothing, z_loss,
                 GradRequest(grad_output, grad_out), softcap)


class NLLLoss(LossFunction):
    """Callable form of :func:`nll_loss` (``torch.nn.NLLLoss``): ``NLLLoss(...)(input, target)``."""

    _fn = staticmethod(nll_loss)
    _fn_and_grad = staticmethod(nll_loss_and_grad)
    _options = ("weight", "ignore_index", "reduction")

    def __init__(self, weight: ArrayLike | None = None, ignore_index: int = -100,
                 reduction: str = "mean") -> None:
        check_reduction(reduction)
        super().__init__(weight=weight, ignore_index=ignore_index, reduction=reduction)


class CrossEntropyLoss(LossFunction):
    """Callable form of :func:`cross_entropy` (``torch.nn.CrossEntropyLoss``).

    Examples
    --------
    >>> import numpy as np, cxent
    >>> loss = cxent.CrossEntropyLoss(label_smoothing=0.1)
    >>> float(loss(np.array([[1.0, 2.0, 3.0]]), [2]))
    0.5076059...
    """

    _fn = staticmethod(cross_entropy)
    _fn_and_grad = staticmethod(cross_entropy_and_grad)
    _options = ("weight", "ignore_index", "reduction", "label_smoothing")

    def __init__(self, weight: ArrayLike | None = None, ignore_index: int = -100,
                 reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        check_reduction(reduction)
        check_label_smoothing(label_smoothing)
        super().__init__(weight=weight, ignore_index=ignore_index, reduction=reduction,
                         label_smoothing=label_smoothing)
