"""Fused linear + cross-entropy for large vocabularies: the loss (and gradients) of
``cross_entropy(hidden @ weight.T + bias, target)`` without ever holding the ``(N, V)`` logits.

The rows are taken in chunks: per chunk, NumPy's BLAS computes the chunk's logits into one reused
``(rows, V)`` buffer (``matmul(out=)``), the row engine's cross-entropy kernel computes the chunk's
per-row losses and, for the gradient, overwrites the buffer with the logits' gradient in the same
sweep (``grad_out=`` the buffer), and BLAS turns that into the chunk's rows of ``grad_hidden`` and
adds its share of ``grad_weight``.  No third cross-entropy path: the chunk goes through
``cross_entropy_and_grad`` itself.

Memory: besides the outputs, one logits chunk (``rows x V``) (``softcap`` adds two rows of V per
thread: the kernel caps each row into scratch inside its sweep), and for the gradient a 4 MiB
buffer through which each chunk's share of ``grad_weight`` is added, a block of classes at a time
(NumPy's matmul has no accumulate-into form).  ``chunk_size=None``
takes as many rows as fit ``CHUNK_BUDGET`` bytes (32 MiB) of logits.

Threads: BLAS and the cross-entropy kernel run one after the other, never at once, each with its
own threads (OpenBLAS's and cxent's OpenMP), so they do not oversubscribe the cores.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from cxent import _layout
from cxent._common import divide
from cxent._losses import cross_entropy, cross_entropy_and_grad
from cxent._typing import ArrayLike, FloatArray, Loss
from cxent._validation import (
    GradRequest,
    chunk_rows,
    grad_output_factors,
    linear_operands,
    loss_options,
)

__all__ = ["linear_cross_entropy", "linear_cross_entropy_and_grad", "CHUNK_BUDGET"]

#: Bytes of logits per chunk when ``chunk_size`` is None.
CHUNK_BUDGET = 32 * 2**20
#: Bytes of the buffer through which each chunk's share of grad_weight is added, a block of
#: classes at a time.
GW_BLOCK = 4 * 2**20

LinearGrads = tuple[Loss, FloatArray, FloatArray, Optional[FloatArray]]


def linear_cross_entropy(hidden: ArrayLike, weight: ArrayLike, target: ArrayLike,
                         bias: ArrayLike | None = None, *, ignore_index: int = -100,
                         reduction: str = "mean", label_smoothing: float = 0.0,
                         z_loss: float = 0.0, softcap: float | None = None,
                         chunk_size: int | None = None) -> Loss:
    """``cross_entropy(hidden @ weight.T + bias, target, ...)`` without the ``(N, V)`` logits.

    Parameters
    ----------
    hidden : array_like, shape (N, D)
    weight : array_like, shape (V, D)
        The layout of ``torch.nn.Linear(D, V).weight``.
    target : array_like of int, shape (N,)
        Class indices in ``[0, V)``, or ``ignore_index``.
    bias : array_like, shape (V,), optional
    ignore_index, reduction, label_smoothing, z_loss
        As :func:`cross_entropy` (no class weights).
    softcap : float, optional
        Gemma 2's logit soft-capping: the logits become ``softcap * tanh(logits / softcap)``
        before the loss.
    chunk_size : int, optional
        Rows per chunk; None: as many as keep one chunk of logits within 32 MiB
        (``CHUNK_BUDGET // (V * itemsize)``, at least 1).

    Returns
    -------
    loss
        A NumPy scalar (``'mean'``, ``'sum'``) or an ``(N,)`` array (``'none'``), of the promoted
        dtype of ``hidden``, ``weight`` and ``bias`` (``np.result_type``; integer inputs float64).

    Notes
    -----
    Each chunk's logits come from BLAS (``hidden_chunk @ weight.T``, in the input dtype), so the
    values equal the unfused call's to BLAS's rounding; the per-row losses are the row engine's
    (``cross_entropy``: shift by the row max, log-sum-exp in double, <= 8 ulp of the row's scale);
    the batch sum adds the per-row losses, rounded to the dtype, in double.  Memory beyond the
    result: one chunk of logits (and, with ``softcap``, two rows of V per thread).
    """
    return _run(hidden, weight, target, bias, ignore_index, reduction, label_smoothing, z_loss,
                softcap, chunk_size, None)


def linear_cross_entropy_and_grad(hidden: ArrayLike, weight: ArrayLike, target: ArrayLike,
                                  bias: ArrayLike | None = None, *, ignore_index: int = -100,
                                  reduction: str = "mean", label_smoothing: float = 0.0,
                                  z_loss: float = 0.0, softcap: float | None = None,
                                  chunk_size: int | None = None,
                                  grad_output: ArrayLike | None = None) -> LinearGrads:
    """:func:`linear_cross_entropy` and its gradients, chunk by chunk.

    Parameters
    ----------
    hidden, weight, target, bias, ignore_index, reduction, label_smoothing, z_loss, softcap, chunk_size
        As :func:`linear_cross_entropy`.
    grad_output : scalar or array_like, optional
        The upstream gradient: a scalar for ``'mean'``/``'sum'``; a scalar or an ``(N,)`` array for
        ``'none'``.  None means 1.

    Returns
    -------
    (loss, grad_hidden, grad_weight, grad_bias)
        ``loss`` as :func:`linear_cross_entropy` returns it; ``grad_hidden`` (N, D),
        ``grad_weight`` (V, D) and ``grad_bias`` (V,) (None without a bias), in the loss's dtype.

    Notes
    -----
    Per chunk, with ``G`` the gradient of the loss with respect to the chunk's logits
    (:func:`cross_entropy_and_grad` with ``softcap``, written over the logits buffer):
    ``grad_hidden[chunk] = G @ weight``,
    ``grad_weight += G.T @ hidden[chunk]``, ``grad_bias += G.sum(0)``, each product by BLAS in the
    input dtype.  Memory beyond the results: one chunk of logits (with ``softcap``, two rows of V
    per thread more: the kernel's capped row and its tanh) and a 4 MiB
    buffer for the products of ``grad_weight``.
    """
    return _run(hidden, weight, target, bias, ignore_index, reduction, label_smoothing, z_loss,
                softcap, chunk_size, GradRequest(grad_output, None))


def _run(hidden, weight, target, bias, ignore_index, reduction, label_smoothing, z_loss, softcap,
         chunk_size, grad):
    op = linear_operands(hidden, weight, target, bias, ignore_index)
    cap = loss_options(reduction, label_smoothing, z_loss, softcap).cap or None  # checked once
    h, w, b, t = op.hidden, op.weight, op.bias, op.target
    n, v = h.shape[0], w.shape[0]
    dtype = h.dtype
    rows = chunk_rows(chunk_size, n, v, dtype.itemsize, CHUNK_BUDGET)
    kept = n - int(np.count_nonzero(t == op.ignore)) if op.has_ignore else n  # mean's denominator
    if grad is not None:
        scale, row_g = grad_output_factors(grad, reduction, (n,))
        if reduction == "mean":
            scale = divide(scale, kept)
        gh = _layout.empty(h.shape, dtype)
        gw = np.zeros(w.shape, dtype)
        # grad_weight's products are added block by block of classes, through a small buffer
        vblock = max(1, min(v, GW_BLOCK // max(1, h.shape[1] * dtype.itemsize)))
        gw_part = np.empty((vblock, h.shape[1]), dtype) if n > rows else None
        gb = None if b is None else np.zeros(v, dtype)
    buf = _layout.empty((rows, v), dtype)
    losses = np.empty(n, dtype)
    kw = dict(ignore_index=ignore_index, reduction="none", label_smoothing=label_smoothing,
              z_loss=z_loss, softcap=cap)
    for r0 in range(0, n, rows):
        r1 = min(n, r0 + rows)
        logits = buf[: r1 - r0]
        np.matmul(h[r0:r1], w.T, out=logits)
        if b is not None:
            logits += b
        if grad is None:
            losses[r0:r1] = cross_entropy(logits, t[r0:r1], **kw)
            continue
        go = np.full(r1 - r0, scale) if row_g is None else np.asarray(row_g[r0:r1]) * scale
        losses[r0:r1], g = cross_entropy_and_grad(logits, t[r0:r1], grad_output=go, grad_out=logits,
                                                  **kw)
        np.matmul(g, w, out=gh[r0:r1])
        if gw_part is None:  # one chunk: its product is grad_weight
            np.matmul(g.T, h[r0:r1], out=gw)
        else:
            for v0 in range(0, v, vblock):
                v1 = min(v, v0 + vblock)
                part = gw_part[: v1 - v0]
                np.matmul(g[:, v0:v1].T, h[r0:r1], out=part)
                gw[v0:v1] += part
        if gb is not None:
            gb += g.sum(axis=0)
    if reduction == "none":
        loss = losses
    else:
        total = math.fsum(losses.astype(np.float64))
        loss = dtype.type(divide(total, kept) if reduction == "mean" else total)
    if grad is None:
        return loss
    return loss, gh, gw, gb
