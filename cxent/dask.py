"""cxent on Dask arrays: the same functions, lazy, on Dask's own scheduler (threads, processes or a
``dask.distributed`` cluster).  ``pip install "cxent[dask]"`` adds dask and distributed.

Every function of ``cxent`` (``softmax_kl_div`` included) takes ``dask.array`` inputs (targets,
weights and probability targets may be Dask or NumPy arrays) and returns Dask arrays: losses of ``'mean'``/``'sum'`` as lazy 0-d arrays that compute
to a NumPy scalar, per-element results and gradients chunked like the input.  Arguments are checked
when the graph is built (types, dtypes, shapes, options: the NumPy functions' errors); values (a
target out of range, a probability outside [0, 1]) when it is computed, naming the value and its
index in the whole array.

How it runs
-----------
* **The class axis in one chunk** (row-only chunking, any chunking of the other axes): each block
  goes through cxent's NumPy kernels, and the reductions are finished exactly as the NumPy call
  finishes them (the per-row float64 losses, one float64 per row, gathered into one task and
  summed in the kernel's order).  Results are **bitwise identical** to the NumPy call on the whole
  array, for any chunking.
* **The class axis split into several chunks** (vocabulary-parallel): each block yields per-row
  statistics in float64 (the block's log-sum-exp, the target's logit, the smoothing and
  probability-target sums), combined in a tree reduction along the class axis; the losses and the
  gradient follow from the combined log-normaliser.  No rechunk of the input.  Results agree with
  the NumPy call to float rounding (float32: a few ulp).
* The element-wise losses (BCE) are finished from the kernel's partial sums, one per 8192
  elements of the flat index.  Blocks that start at a multiple of 8192 elements of the whole array
  (leading-axis chunks whose element counts are multiples of 8192, trailing axes whole) are used
  as they are; otherwise the reduction runs on a flattened copy rechunked to such blocks (the
  gradient still on the input's blocks).  Bitwise identical to the NumPy call either way.
* Each task runs cxent's kernels (and BLAS) on one thread: Dask's workers are the parallelism.
* ``reduction="mean"`` with class-index targets needs the sum of the targets' weights before any
  gradient block: with NumPy targets (8 bytes a row) it is computed when the graph is built; with
  Dask targets it is a task every gradient block waits for, and Dask's ordering then ran gradient
  blocks ahead of their consumers (measured: blocks spilled to disk, 5x slower when the gradient
  and the loss are computed together).  Pass NumPy targets when they fit in memory.

Running on an existing cluster: create a ``dask.distributed.Client("tcp://scheduler:8786")`` before
computing; nothing else changes.  The workers need cxent installed.
"""

from __future__ import annotations

import contextlib
import functools
import math
import threading

import numpy as np

try:
    import dask.array as da
except ImportError as e:  # pragma: no cover - the extra is not installed
    raise ImportError("cxent.dask needs dask: pip install 'cxent[dask]'") from e

import cxent
from cxent import _binary, _losses
from cxent import _validation as V
from cxent._common import LossFunction, as_dtype, divide
from cxent._common import pairwise_total as _common_pairwise
from cxent._lib._losses import row_total, target_weights

__all__ = [
    "BCELoss",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "KLDivLoss",
    "NLLLoss",
    "binary_cross_entropy",
    "binary_cross_entropy_and_grad",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_and_grad",
    "cross_entropy",
    "cross_entropy_and_grad",
    "kl_div",
    "kl_div_and_grad",
    "softmax_kl_div",
    "softmax_kl_div_and_grad",
    "linear_cross_entropy",
    "linear_cross_entropy_and_grad",
    "log_sigmoid",
    "log_softmax",
    "log_softmax_backward",
    "logsumexp",
    "nll_loss",
    "nll_loss_and_grad",
    "sigmoid",
    "softmax",
    "softmax_backward",
]

_F64 = np.dtype(np.float64)
_STATS = np.dtype([("lse", "f8"), ("a", "f8"), ("b", "f8"), ("wy", "f8")])  # a class block's rows


# ---------------------------------------------------------------------------------------------
# one thread per task

_local = threading.local()


def _controller():
    from threadpoolctl import ThreadpoolController
    c = getattr(_local, "controller", None)
    if c is None:
        c = _local.controller = ThreadpoolController()
    return c


@contextlib.contextmanager
def _one_thread():
    """cxent's OpenMP runtime and BLAS limited to one thread in this task (Dask's threads and
    workers are the parallelism); a no-op when already inside such a task."""
    if getattr(_local, "serial", False):
        yield
        return
    _local.serial = True
    try:
        with _controller().limit(limits=1):
            yield
    finally:
        _local.serial = False


def _serial(fn):
    @functools.wraps(fn)
    def run(*args, **kwargs):
        with _one_thread():
            return fn(*args, **kwargs)
    return run


# ---------------------------------------------------------------------------------------------
# operands

def _dask(x, name):
    """``x`` as a Dask array (NumPy and array-likes wrapped); unknown chunk sizes raise."""
    if isinstance(x, da.Array):
        a = x
    else:
        V.reject_masked(x, name)
        a = da.from_array(np.asarray(x))
    if any(math.isnan(c) for cs in a.chunks for c in cs):
        raise ValueError(f"`{name}` has unknown chunk sizes; call `{name}.compute_chunk_sizes()` "
                         f"first")
    return a


def _float(x, name):
    a = _dask(x, name)
    dtype = V.float_dtype(a.dtype, name)
    return a if a.dtype == dtype else a.astype(dtype)


def _offset(block_info, k=0):
    """Where the block of argument ``k`` starts in its whole array."""
    return tuple(lo for lo, _ in block_info[k]["array-location"])


def _single(x, axes):
    return all(len(x.chunks[ax]) == 1 for ax in axes)


def _scalar(value, reduction):
    """A scalar ``grad_output`` (None: 1) as a float, or a 0-d Dask array."""
    if isinstance(value, da.Array):
        if value.ndim:
            raise ValueError(f"`grad_output` must be a scalar for reduction={reduction!r}; got "
                             f"shape {value.shape}")
        return value.astype(_F64)
    return V.grad_output_factors(V.GradRequest(value, None), reduction, ())[0]


def _gather(fn, *arrays, dtype=_F64, **kwargs):
    """A 0-d Dask array: ``fn`` of the whole of each array (one task)."""
    args = []
    for k, a in enumerate(arrays):
        args += [a, None] if a is None or not isinstance(a, da.Array) else \
            [a, tuple(f"{chr(97 + k)}{d}" for d in range(a.ndim))]
    return da.blockwise(_serial(fn), "", *args, concatenate=True, dtype=dtype,
                        meta=np.empty((), dtype), **kwargs)


# ---------------------------------------------------------------------------------------------
# normalisers and activations

def _lse64(x, axis, keepdims, computing_meta=False):
    """Float64 log-sum-exp of a block over ``axis``."""
    if computing_meta:
        return np.empty((0,) * x.ndim, _F64)
    return cxent.logsumexp(np.asarray(x, _F64), axis=axis, keepdims=True)


def _lse_tree(x, axes, keepdims, dtype):
    def combine(s, axis, keepdims, computing_meta=False):
        if computing_meta:
            return np.empty((0,) * s.ndim, _F64)
        return cxent.logsumexp(s, axis=axis, keepdims=True)

    def aggregate(s, axis, keepdims, computing_meta=False):
        if computing_meta:
            return np.empty((0,) * (s.ndim if keepdims else s.ndim - len(axis)), dtype)
        return as_dtype(cxent.logsumexp(s, axis=axis, keepdims=keepdims), dtype)

    return da.reduction(x, _serial(_lse64), _serial(aggregate), combine=_serial(combine),
                        axis=axes, keepdims=keepdims, dtype=dtype, concatenate=True)


def logsumexp(x, axis=V.DEFAULT_AXIS, *, keepdims=False, dim=None):
    """:func:`cxent.logsumexp` of a Dask array (axis: int, tuple, or None for all).  Axes in one
    chunk: each block through cxent's kernel (bitwise as NumPy); axes split: float64 log-sum-exp per
    block, combined by a tree reduction of log-sum-exps."""
    x = _float(x, "x")
    axes = V.axes_tuple(V.axis_or_dim(axis, dim), x.ndim)
    if _single(x, axes):
        return x.map_blocks(_serial(cxent.logsumexp), axis=axes, keepdims=keepdims,
                            drop_axis=() if keepdims else axes,
                            chunks=tuple(((1,) if keepdims else None) if d in axes else c
                                         for d, c in enumerate(x.chunks)
                                         if keepdims or d not in axes),
                            dtype=x.dtype, meta=np.empty((0,) * x.ndim, x.dtype)) \
            if axes else x.map_blocks(_serial(cxent.logsumexp), axis=(), dtype=x.dtype)
    return _lse_tree(x, axes, keepdims, x.dtype)


def _from_lse(xb, lse, *, log):
    # x - lse in float64, then exp for softmax; a +inf log-normaliser means nan everywhere (torch)
    with np.errstate(invalid="ignore", over="ignore"):
        d = np.asarray(xb, _F64) - lse
        d = np.where(lse == np.inf, np.nan, d)
        return (d if log else np.exp(d)).astype(xb.dtype)


def _normaliser(x, axis, dim, dtype, log, fn):
    x = _float(x, "x")
    if dtype is not None:
        x = x.astype(V.cast_to(np.zeros(0, x.dtype), dtype).dtype)
    ax = V.int_axis(V.axis_or_dim(axis, dim), x.ndim)
    if x.ndim == 0 or _single(x, (ax,)):
        return x.map_blocks(_serial(fn), axis=ax, dtype=x.dtype)
    lse = _lse_tree(x, (ax,), True, _F64)
    return da.map_blocks(_serial(_from_lse), x, lse, log=log, dtype=x.dtype)


def softmax(x, axis=V.DEFAULT_AXIS, *, dim=None, dtype=None):
    """:func:`cxent.softmax` of a Dask array.  The axis in one chunk: cxent's kernel per block
    (bitwise as NumPy); split: ``exp(x - lse)`` in float64 from the tree-reduced log-normaliser."""
    return _normaliser(x, axis, dim, dtype, False, cxent.softmax)


def log_softmax(x, axis=V.DEFAULT_AXIS, *, dim=None, dtype=None):
    """:func:`cxent.log_softmax` of a Dask array (as :func:`softmax`: ``x - lse`` when split)."""
    return _normaliser(x, axis, dim, dtype, True, cxent.log_softmax)


def sigmoid(x):
    """:func:`cxent.sigmoid` of a Dask array, block by block (bitwise as NumPy)."""
    x = _float(x, "x")
    return x.map_blocks(_serial(cxent.sigmoid), dtype=x.dtype)


def log_sigmoid(x):
    """:func:`cxent.log_sigmoid` of a Dask array, block by block (bitwise as NumPy)."""
    x = _float(x, "x")
    return x.map_blocks(_serial(cxent.log_sigmoid), dtype=x.dtype)


def _dot64(gb, yb, axis, log=False):
    # the block's part of the sum over the class axis: of g * y (softmax), of g (log_softmax)
    g = np.asarray(gb, _F64)
    return np.sum(g if log else g * np.asarray(yb, _F64), axis=axis, keepdims=True)


def _backward(grad_output, output, axis, log, fn):
    y = _float(output, "output")
    g = _float(grad_output, "grad_output")
    if g.shape != y.shape:
        raise ValueError(f"`grad_output` must have the shape of `output` {y.shape}; got {g.shape}")
    dtype = np.result_type(y.dtype, g.dtype)
    y, g = y.astype(dtype), g.astype(dtype).rechunk(y.chunks)
    ax = V.int_axis(axis, y.ndim)
    if y.ndim == 0 or _single(y, (ax,)):
        return da.map_blocks(_serial(fn), g, y, axis=ax, dtype=dtype)
    s = da.map_blocks(_serial(_dot64), g, y, axis=ax, log=log, dtype=_F64,
                      chunks=tuple((1,) * len(c) if d == ax else c for d, c in enumerate(y.chunks)))
    s = s.sum(axis=ax, keepdims=True, dtype=_F64)  # a tree reduction over the class blocks

    def apply(gb, yb, sb):
        with np.errstate(invalid="ignore", over="ignore"):
            g64, y64 = np.asarray(gb, _F64), np.asarray(yb, _F64)
            r = g64 - np.exp(y64) * sb if log else y64 * (g64 - sb)
            return r.astype(dtype)

    return da.map_blocks(_serial(apply), g, y, s, dtype=dtype)


def softmax_backward(grad_output, output, axis=V.DEFAULT_AXIS, *, dim=None):
    """:func:`cxent.softmax_backward` on Dask arrays (split axis: the dot product in float64)."""
    return _backward(grad_output, output, V.axis_or_dim(axis, dim), False,
                     cxent.softmax_backward)


def log_softmax_backward(grad_output, output, axis=V.DEFAULT_AXIS, *, dim=None):
    """:func:`cxent.log_softmax_backward` on Dask arrays (split axis: the sum in float64)."""
    return _backward(grad_output, output, V.axis_or_dim(axis, dim), True,
                     cxent.log_softmax_backward)


# ---------------------------------------------------------------------------------------------
# nll_loss and cross_entropy

class _Plan:
    """A class-loss call checked at graph time: the operands as ``(N, C, d1, ...)`` Dask arrays
    (a 1-d input as one row) and what ``class_spec`` decided."""

    def __init__(self, input, target, weight, ignore_index, fn):
        x = _float(input, "input")
        t = _dask(target, "target")
        sp = V.class_spec(x.shape, x.dtype, t.shape, t.dtype, ignore_index, fn=fn)
        if x.dtype != sp.dtype:
            x = x.astype(sp.dtype)
        if x.ndim == 1:
            x = x[None]
            t = t[None] if sp.probs else t.reshape((1,))
        if sp.probs:
            t = _float(t, "target").astype(sp.dtype).rechunk(x.chunks)
        else:
            t = t.rechunk((x.chunks[0],) + x.chunks[2:])
        w = None
        if weight is not None:
            w = _dask(weight, "weight")
            w = w.astype(V.float_dtype(w.dtype, "weight"))
            V.check_class_weight_shape(w.shape, sp.n_classes)
            w = w.astype(sp.dtype).rechunk((x.chunks[1],))
        self.x, self.t, self.w, self.spec, self.fn = x, t, w, sp, fn
        self.target_arg, self.weight_arg = target, weight
        self.ignore_index = ignore_index
        self.split = len(x.chunks[1]) > 1
        self.rows_shape = (x.shape[0],) + x.shape[2:]
        self.n_rows = math.prod(self.rows_shape)
        self.spatial = (1,) * (x.ndim - 2)
        self.one_d = len(sp.loss_shape) == 0

    def target3(self):
        """The target broadcastable against the input's blocks: ``(N, 1, d1, ...)`` for indices."""
        return self.t if self.spec.probs else self.t[:, None]

    def weight3(self):
        """The class weight as ``(1, C, 1, ...)``, chunked like the input's class axis."""
        if self.w is None:
            return None
        return self.w.reshape((1, self.spec.n_classes) + self.spatial)

    def rows_like(self, a):
        """A per-row array (the loss's shape) as ``(N, 1, d1, ...)`` float64, chunked like the
        input's rows."""
        a = a.reshape(self.rows_shape).astype(_F64)
        return a.rechunk((self.x.chunks[0],) + self.x.chunks[2:])[:, None]

    def loss_shape(self, rows):
        return rows.reshape(self.spec.loss_shape) if self.spec.loss_shape != rows.shape else rows


def _weight_vector(wb):
    return None if wb is None else np.ascontiguousarray(wb).reshape(-1)


def _row_scale(go):
    """A block's per-row ``grad_output`` ``(n, 1, d...)`` as ``(n, d...)``, or a scalar as is."""
    return go[:, 0] if isinstance(go, np.ndarray) and go.ndim else go


def _rows_block(xb, tb, wb, go, *, plan, eps, z, grad, block_info=None):
    # the NumPy call's float64 rows (and gradient) of one block whose class axis is whole
    t = tb if plan.probs else tb[:, 0]
    try:
        _, rows, g = _losses.class_rows(xb, t, _weight_vector(wb), plan.ignore_index, eps, z,
                                        fn=plan.fn, grad_output=_row_scale(go), grad=grad)
    except IndexError:
        raise _target_error(t, plan, _offset(block_info, 1)) from None
    return (rows, g) if grad else rows


def _target_error(t, opts, offset):
    """The NumPy call's IndexError for a block's bad target, with its index in the whole target
    (``offset``: where the block starts in the ``(N, 1, d1, ...)`` target)."""
    _, has_ignore, ign = V.index_target(t, opts.ignore_index)
    return V.bad_target_error(t, opts.n_classes, has_ignore, ign, (offset[0],) + tuple(offset[2:]))


class _Opts:
    """What the tasks need of a plan (small: it travels with every task)."""

    def __init__(self, plan):
        self.probs = plan.spec.probs
        self.fn = plan.fn
        self.ignore_index = plan.ignore_index
        self.n_classes = plan.spec.n_classes


def _index_targets(t, opts):
    """(int64 targets, valid rows, any bad) of a block of class-index targets."""
    t64, has_ignore, ign = V.index_target(t, opts.ignore_index)
    t64 = t64.astype(np.int64, copy=False)
    ignored = (t64 == ign) if has_ignore else np.zeros(t64.shape, bool)
    bad = ~ignored & ((t64 < 0) | (t64 >= opts.n_classes))
    return t64, ~ignored & ~bad, bool(bad.any())


def _stats_block(xb, tb, wb, *, opts, logits, eps, block_info=None):
    # Per-row statistics of one class block, in float64 (the class axis split): the block's
    # log-sum-exp; index targets: the target's logit and weight when the target is in this block
    # (a, wy) and sum_c w_c x_c (b, for smoothing); probability targets: sum_c w_c q_c (a) and
    # sum_c w_c q_c x_c (b).
    c0, nc = _offset(block_info)[1], xb.shape[1]
    out = np.zeros((xb.shape[0], 1) + xb.shape[2:], _STATS)
    if not out.size:
        return out
    with np.errstate(invalid="ignore", over="ignore"):
        x64 = np.asarray(xb, _F64)
        w = None if wb is None else np.asarray(wb, _F64)
        if logits:
            out["lse"] = cxent.logsumexp(x64, axis=1, keepdims=True)
        if opts.probs:
            q = np.asarray(tb, _F64)
            if eps > 0.0:
                q = q * (1.0 - eps) + eps / opts.n_classes
            wq = q if w is None else q * w
            out["a"] = wq.sum(axis=1, keepdims=True)
            out["b"] = (wq * x64).sum(axis=1, keepdims=True)
            return out
        local = tb.astype(np.int64) - c0  # uint64 beyond int64 wraps negative: in no block
        inb = (local >= 0) & (local < nc)
        at = np.clip(local, 0, nc - 1)
        out["a"] = np.where(inb, np.take_along_axis(x64, at, axis=1), 0.0)
        wy = 1.0 if w is None else np.take_along_axis(np.broadcast_to(w, x64.shape), at, axis=1)
        out["wy"] = np.where(inb, wy, 0.0)
        if eps > 0.0:
            out["b"] = (x64 if w is None else x64 * w).sum(axis=1, keepdims=True)
    return out


def _stats_combine(s, axis, keepdims, logits=True, computing_meta=False):
    out = np.zeros(tuple(1 if d in axis else n for d, n in enumerate(s.shape)), _STATS)
    if computing_meta or not out.size:
        return out
    if logits:
        out["lse"] = cxent.logsumexp(np.ascontiguousarray(s["lse"]), axis=axis, keepdims=True)
    for f in ("a", "b", "wy"):
        out[f] = s[f].sum(axis=axis, keepdims=True)
    return out


def _ident(s, axis, keepdims, computing_meta=False):
    return s


def _split_rows(st, tb, W, *, opts, logits, eps, z, block_info=None):
    # the float64 rows (the NumPy call's sign) of a split class axis from the combined statistics
    st = st[:, 0]
    lse, a, b, wy = st["lse"], st["a"], st["b"], st["wy"]
    with np.errstate(invalid="ignore", over="ignore"):
        if opts.probs:  # sum_c w q (x - lse) - z lse^2: the NumPy rows, the loss negated
            rows = b - lse * a - (z * lse * lse if z else 0.0)
            return np.where(lse == np.inf, np.nan, rows)
        _, valid, bad = _index_targets(tb[:, 0], opts)
        if bad:
            raise _target_error(tb[:, 0], opts, _offset(block_info, 1))
        if not logits:
            rows = -(wy * a)
        else:
            rows = (1.0 - eps) * wy * (lse - a) if eps else wy * (lse - a)
            if eps:
                rows = rows + (eps / opts.n_classes) * (W * lse - b)
            if z:
                rows = rows + z * wy * lse * lse
        rows = np.where(lse == np.inf, np.nan, rows)  # a +inf logit: nan, as log_softmax
        return np.where(valid, rows, 0.0)


def _split_grad(xb, tb, wb, st, go, scale, W, *, opts, logits, eps, z, block_info=None):
    # the gradient of one class block of a split class axis (float64, then the input's dtype)
    c0, nc = _offset(block_info)[1], xb.shape[1]
    s = scale * (go if isinstance(go, np.ndarray) and go.ndim else 1.0)
    with np.errstate(invalid="ignore", over="ignore"):
        w = None if wb is None else np.asarray(wb, _F64)
        lse = st["lse"]
        if logits:
            p = np.where(lse == np.inf, np.nan, np.exp(np.asarray(xb, _F64) - lse))
        if opts.probs:
            q = np.asarray(tb, _F64)
            if eps > 0.0:
                q = q * (1.0 - eps) + eps / opts.n_classes
            g = p * st["a"] - (q if w is None else w * q)
            if z:
                g = g + 2.0 * z * lse * p
            return (g * s).astype(xb.dtype)
        _, valid, _ = _index_targets(tb[:, 0], opts)
        valid = valid[:, None]
        wy = st["wy"]
        local = tb.astype(np.int64) - c0
        onehot = np.arange(nc).reshape((1, nc) + (1,) * (xb.ndim - 2)) == local
        if not logits:
            g = np.where(onehot, -wy, 0.0)
        else:
            g = ((1.0 - eps) * wy + (eps / opts.n_classes) * W + 2.0 * z * wy * lse) * p
            g = g - np.where(onehot, (1.0 - eps) * wy, 0.0)
            if eps:
                g = g - (eps / opts.n_classes) * (1.0 if w is None else w)
        return np.where(valid, g * s, 0.0).astype(xb.dtype)


def _index_denominator(t, w, *, opts, raise_bad=True):
    # sum of w[y] over the rows not ignored, in the kernel's order; a bad target raises (with its
    # index in the whole target), or gives None with raise_bad False
    t64, has_ignore, ign = V.index_target(t, opts.ignore_index)
    t2 = np.ascontiguousarray(t64, np.int64).reshape(t64.shape[0] if t64.ndim else 1, -1)
    bad, denom = target_weights(t2, _weight_vector(w), opts.n_classes, has_ignore, ign, False)
    if bad and raise_bad:
        raise V.bad_target_error(t, opts.n_classes, has_ignore, ign)
    return None if bad else denom


def _eager_denominator(plan, opts):
    """The mean's denominator now, when the targets (and weights) are NumPy arrays: a Python
    float, not a task that every gradient block would wait for (with it, Dask's ordering ran the
    gradient blocks ahead of their consumers and spilled them to disk: measured).  None when an
    operand is lazy or a target is bad (the tasks raise that, when computed)."""
    if isinstance(plan.target_arg, da.Array) or isinstance(plan.weight_arg, da.Array):
        return None
    t = np.asarray(plan.target_arg)
    if t.dtype == np.uint64:  # values beyond int64 may raise in index_target: leave it to the tasks
        return None
    w = V.class_weight(plan.weight_arg, opts.n_classes, plan.x.dtype)
    return _index_denominator(t.reshape(plan.rows_shape), w, opts=opts, raise_bad=False)


def _mean_scale(g, denom):
    return g / denom if denom else math.nan  # as the NumPy call: no rows' weight: nan


def _finish(total, denom, *, reduction, dtype):
    if reduction == "sum":
        return as_dtype(total, dtype)
    return as_dtype(divide(total, float(denom)), dtype)


def _class_loss(input, target, weight, ignore_index, reduction, label_smoothing, z_loss, fn,
                grad=None):
    """(loss, gradient or None) of nll_loss / cross_entropy on Dask arrays."""
    opts_ = V.loss_options(reduction, label_smoothing, z_loss)
    eps, z = opts_.label_smoothing, opts_.z_loss
    plan = _Plan(input, target, weight, ignore_index, fn)
    opts = _Opts(plan)
    logits = fn == "cross_entropy"
    x, t3, w3, dtype = plan.x, plan.target3(), plan.weight3(), plan.x.dtype
    probs = plan.spec.probs

    # the gradient's scale: the mean's denominator comes from the targets alone
    scale, go, denom = 1.0, None, None
    if not probs and reduction == "mean":
        denom = _eager_denominator(plan, opts)
        if denom is None:
            denom = _gather(_index_denominator, plan.t, plan.w, opts=opts)
    if grad is not None:
        gval = grad.value
        if reduction == "none" and not _is_scalar(gval):
            go = _dask(gval, "grad_output")
            if go.dtype.kind not in "biuf":
                raise TypeError(f"`grad_output` must be real numbers; got dtype {go.dtype}")
            if go.shape != tuple(plan.spec.loss_shape):
                raise ValueError(f"`grad_output` must be a scalar or shape "
                                 f"{tuple(plan.spec.loss_shape)} for reduction='none'; got shape "
                                 f"{go.shape}")
            go = plan.rows_like(go)
        else:
            scale = _scalar(gval, reduction)
            if reduction == "mean" and not probs:
                scale = (_mean_scale(scale, denom) if not isinstance(scale, da.Array) and
                         not isinstance(denom, da.Array) else _gather(_mean_scale, scale, denom))
            elif reduction == "mean":
                scale = (_gather(divide, scale, float(plan.n_rows))
                         if isinstance(scale, da.Array) else divide(scale, float(plan.n_rows)))
    if not plan.split:
        rows, g = _whole_rows(plan, opts, x, t3, w3, eps, z, scale, go, grad is not None)
    else:
        rows, g = _split(plan, opts, logits, x, t3, w3, eps, z, scale, go, grad is not None)

    if reduction == "none":
        none = functools.partial(_none_loss, probs=probs, dtype=dtype)
        loss = (_gather(lambda r: none(r.reshape(())), rows, dtype=dtype) if plan.one_d else
                rows.map_blocks(none, dtype=dtype, meta=np.empty((0,) * rows.ndim, dtype)))
    else:
        total = _gather(_losses.prob_total if probs else functools.partial(
            _index_total, n_classes=plan.spec.n_classes), rows)
        loss = _gather(functools.partial(_finish, reduction=reduction, dtype=dtype), total,
                       denom if not probs else float(plan.n_rows), dtype=dtype)
    if g is not None and plan.one_d:
        g = g[0]
    return loss, g


class _Grad:
    """A gradient request: the upstream ``grad_output`` (None: 1)."""

    def __init__(self, value):
        self.value = value


def _is_scalar(value):
    return np.ndim(value) == 0


def _none_loss(rows, *, probs, dtype):
    # the NumPy call's 'none' losses from its float64 rows (probability targets: negated)
    return V.scalar_if_0d(as_dtype(-rows if probs else rows, dtype))


def _index_total(rows, *, n_classes):
    return row_total(np.ascontiguousarray(rows, _F64).reshape(-1), n_classes)


def _pick(pair, k):
    return pair[k]


def _pick_rows(pair):
    return pair[0][:, None]


def _whole_rows(plan, opts, x, t3, w3, eps, z, scale, go, want):
    """(rows, gradient or None) when the class axis is one chunk: cxent's kernels per block."""
    fn = functools.partial(_rows_block, plan=opts, eps=eps, z=z, grad=want)
    nd = x.ndim
    if not want:
        return da.map_blocks(_serial(fn), x, t3, w3, None, drop_axis=1, dtype=_F64,
                             meta=np.empty((0,) * (nd - 1), _F64)), None
    pair = da.map_blocks(_serial(fn), x, t3, w3, go if go is not None else scale, dtype=object,
                         meta=np.empty((0,) * nd, object))
    # (no drop_axis on the pairs: Dask would take a pair for a nested list of blocks)
    rows = pair.map_blocks(_pick_rows, dtype=_F64, chunks=(x.chunks[0], (1,)) + x.chunks[2:],
                           meta=np.empty((0,) * nd, _F64))[:, 0]
    g = pair.map_blocks(_pick, 1, dtype=x.dtype, meta=np.empty((0,) * nd, x.dtype))
    return rows, g


def _split(plan, opts, logits, x, t3, w3, eps, z, scale, go, want):
    """(rows, gradient or None) when the class axis is split: per-block statistics, a tree
    reduction over the class blocks, then the rows and the gradient block by block."""
    nd = x.ndim
    k = len(x.chunks[1])
    stats = da.map_blocks(_serial(functools.partial(_stats_block, opts=opts, logits=logits,
                                                    eps=eps)),
                          x, t3, w3, dtype=_STATS,
                          chunks=(x.chunks[0], (1,) * k) + x.chunks[2:],
                          meta=np.empty((0,) * nd, _STATS))
    comb = functools.partial(_stats_combine, logits=logits)
    st = da.reduction(stats, _ident, _serial(comb), combine=_serial(comb), axis=1,
                      keepdims=True, dtype=_STATS, concatenate=True,
                      meta=np.empty((0,) * nd, _STATS))
    W = float(plan.spec.n_classes) if plan.w is None else plan.w.sum(dtype=_F64)
    rows = da.map_blocks(_serial(functools.partial(_split_rows, opts=opts, logits=logits,
                                                   eps=eps, z=z)),
                         st, t3, W, drop_axis=1, dtype=_F64, meta=np.empty((0,) * (nd - 1), _F64))
    if not want:
        return rows, None
    g = da.map_blocks(_serial(functools.partial(_split_grad, opts=opts, logits=logits, eps=eps,
                                                z=z)),
                      x, t3, w3, st, go, scale, W, dtype=x.dtype,
                      meta=np.empty((0,) * nd, x.dtype))
    return rows, g


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """:func:`cxent.nll_loss` on Dask arrays (a lazy 0-d array for 'mean'/'sum')."""
    return _class_loss(input, target, weight, ignore_index, reduction, 0.0, 0.0, "nll_loss")[0]


def nll_loss_and_grad(input, target, weight=None, ignore_index=-100, reduction="mean", *,
                      grad_output=None):
    """:func:`cxent.nll_loss_and_grad` on Dask arrays: ``(loss, grad_input)``, the gradient
    chunked like ``input``."""
    return _class_loss(input, target, weight, ignore_index, reduction, 0.0, 0.0, "nll_loss",
                       _Grad(grad_output))


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0, *, z_loss=0.0):
    """:func:`cxent.cross_entropy` on Dask arrays (class-index or probability targets; the class
    axis, 0 for 1-d input and 1 otherwise, may be split into chunks)."""
    return _class_loss(input, target, weight, ignore_index, reduction, label_smoothing, z_loss,
                       "cross_entropy")[0]


def cross_entropy_and_grad(input, target, weight=None, ignore_index=-100, reduction="mean",
                           label_smoothing=0.0, *, z_loss=0.0, grad_output=None):
    """:func:`cxent.cross_entropy_and_grad` on Dask arrays: ``(loss, grad_input)``, the
    gradient chunked like ``input``; one pass over the logits (their blocks are read once, by
    the task that writes the gradient block, when the class axis is whole)."""
    return _class_loss(input, target, weight, ignore_index, reduction, label_smoothing, z_loss,
                       "cross_entropy", _Grad(grad_output))


# ---------------------------------------------------------------------------------------------
# binary_cross_entropy and binary_cross_entropy_with_logits

def _binary_plan(input, target, weight, pos_weight, kl=False):
    x = _float(input, "input")
    t = _dask(target, "target")
    if kl and t.shape != x.shape:  # kl_div's target broadcasts to the input's shape
        V.check_broadcast_to(t.shape, x.shape, "target")
        t = da.broadcast_to(t, x.shape)
    if t.shape != x.shape:
        raise ValueError(f"`target` must have the input's shape {x.shape}; got shape {t.shape} "
                         f"(torch deprecated broadcasting here)")
    dtype = V.elementwise_dtype(x.dtype, t.dtype)
    x = x.astype(dtype)
    t = t.astype(dtype).rechunk(x.chunks)
    ws = []
    for w, name in ((weight, "weight"), (pos_weight, "pos_weight")):
        if w is not None:
            w = _float(w, name)
            V.check_broadcast_to(w.shape, x.shape, name)
            w = da.broadcast_to(w.astype(dtype), x.shape).rechunk(x.chunks)
        ws.append(w)
    return x, t, ws[0], ws[1], dtype


def _binary_block(xb, tb, wb, pb, go, *, logits, reduction, grad, block_info=None):
    # one block through the NumPy call: the 'none' losses, or the partial sums and the gradient
    # (logits: False BCE, True BCE with logits, "kl" / "kl_log" kl_div)
    if logits in ("kl", "kl_log"):
        lt = logits == "kl_log"
        if reduction == "none":
            if grad:
                return cxent.kl_div_and_grad(xb, tb, "none", lt, grad_output=go)
            return cxent.kl_div(xb, tb, "none", lt)
        parts, g = _binary.kl_parts(xb, tb, lt, grad_output=go, grad=grad)
        return (parts, g) if grad else parts
    try:
        if reduction == "none":
            fn = (cxent.binary_cross_entropy_with_logits_and_grad if logits else
                  cxent.binary_cross_entropy_and_grad) if grad else \
                (cxent.binary_cross_entropy_with_logits if logits else cxent.binary_cross_entropy)
            kw = {"pos_weight": pb} if logits else {}
            if grad:
                return fn(xb, tb, wb, "none", grad_output=go, **kw)
            return fn(xb, tb, wb, "none", **kw)
        parts, g = _binary.binary_parts(logits, xb, tb, wb, pb, grad_output=go, grad=grad)
        return (parts, g) if grad else parts
    except ValueError:
        for arr, name in ((xb, "input"), (tb, "target")):
            if not logits and not np.all((arr >= 0) & (arr <= 1)):
                raise V.probability_error(arr, name, _offset(block_info)) from None
        raise


def _aligned(x):
    """Whether every block but the last starts at a multiple of the kernel's partial-sum size in
    the whole array's flat index (leading-axis blocks, trailing axes whole)."""
    if x.ndim == 0:
        return True
    inner = math.prod(x.shape[1:])
    return (_single(x, range(1, x.ndim)) and
            all(c * inner % _binary._CHUNK == 0 for c in x.chunks[0][:-1]))


def _flat_blocks(a, step):
    return None if a is None else a.reshape(-1).rechunk(step)


def _binary_loss(logits, input, target, weight, reduction, pos_weight, grad=None):
    kl = logits in ("kl", "kl_log")
    if kl:
        V.check_kl_options(reduction, logits == "kl_log")
    else:
        V.check_reduction(reduction)
    x, t, w, pw, dtype = _binary_plan(input, target, weight, pos_weight, kl)
    n_mean = float(x.size)
    if reduction == "batchmean":  # kl_div: the sum over the batch size (a 0-d input: the sum)
        n_mean = float(x.shape[0] if x.ndim else 1)
        reduction = "mean"
    nd = x.ndim
    want = grad is not None
    go = None
    if want:
        gval = grad.value
        if reduction == "none" and not _is_scalar(gval):
            go = _dask(gval, "grad_output")
            if go.shape != x.shape:
                raise ValueError(f"`grad_output` must be a scalar or shape {x.shape} for "
                                 f"reduction='none'; got shape {go.shape}")
            go = go.astype(dtype).rechunk(x.chunks)
        else:
            go = _scalar(gval, reduction)
            if reduction == "mean":
                go = (_gather(divide, go, n_mean) if isinstance(go, da.Array)
                      else divide(go, n_mean))
    fn = _serial(functools.partial(_binary_block, logits=logits, reduction=reduction, grad=want))
    meta = np.empty((0,) * nd, dtype)
    if reduction == "none":
        if not want:
            return da.map_blocks(fn, x, t, w, pw, None, dtype=dtype, meta=meta), None
        pair = da.map_blocks(fn, x, t, w, pw, go, dtype=object, meta=np.empty((0,) * nd, object))
        return (pair.map_blocks(_pick, 0, dtype=dtype, meta=meta),
                pair.map_blocks(_pick, 1, dtype=dtype, meta=meta))
    g = None
    finish = functools.partial(_binary.finish, n=n_mean, reduction=reduction, dtype=dtype)
    if x.size == 0:
        loss = _gather(lambda: finish(np.zeros(0)), dtype=dtype)
        if want:
            g = x.map_blocks(np.zeros_like, dtype=dtype, meta=meta)
        return loss, g
    # The partial sums need blocks that start at multiples of _CHUNK in the flat index: the
    # input's own blocks, flattened, when they do (the gradient comes with them); otherwise a
    # flat copy rechunked so, and the gradient from the input's blocks in a second pass.
    aligned = _aligned(x)
    step = None if aligned else _binary._CHUNK * max(1, round(math.prod(x.chunksize) /
                                                               _binary._CHUNK))
    flat = [None if a is None else (a.reshape(-1) if aligned else a.reshape(-1).rechunk(step))
            for a in (x, t, w, pw)]
    nparts = (tuple(-(-c // _binary._CHUNK) for c in flat[0].chunks[0]),)
    m1 = np.empty((0,), _F64)
    if want and aligned:
        pair = da.map_blocks(fn, *flat, go, dtype=object, meta=np.empty((0,), object))
        parts = pair.map_blocks(_pick, 0, chunks=nparts, dtype=_F64, meta=m1)
        g = pair.map_blocks(_pick, 1, dtype=dtype, meta=np.empty((0,), dtype))
        g = g.reshape(x.shape).rechunk(x.chunks)
    else:
        nograd = _serial(functools.partial(_binary_block, logits=logits, reduction=reduction,
                                           grad=False))
        parts = da.map_blocks(nograd, *flat, None, chunks=nparts, dtype=_F64, meta=m1)
        if want:
            pair = da.map_blocks(fn, x, t, w, pw, go, dtype=object,
                                 meta=np.empty((0,) * nd, object))
            g = pair.map_blocks(_pick, 1, dtype=dtype, meta=meta)
    return _gather(finish, parts, dtype=dtype), g


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """:func:`cxent.binary_cross_entropy` on Dask arrays (bitwise as NumPy for any chunking)."""
    return _binary_loss(False, input, target, weight, reduction, None)[0]


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean",
                                     pos_weight=None):
    """:func:`cxent.binary_cross_entropy_with_logits` on Dask arrays (bitwise as NumPy)."""
    return _binary_loss(True, input, target, weight, reduction, pos_weight)[0]


def binary_cross_entropy_and_grad(input, target, weight=None, reduction="mean", *,
                                  grad_output=None):
    """:func:`cxent.binary_cross_entropy_and_grad` on Dask arrays: ``(loss, grad_input)``."""
    return _binary_loss(False, input, target, weight, reduction, None, _Grad(grad_output))


def binary_cross_entropy_with_logits_and_grad(input, target, weight=None, reduction="mean",
                                              pos_weight=None, *, grad_output=None):
    """:func:`cxent.binary_cross_entropy_with_logits_and_grad` on Dask arrays."""
    return _binary_loss(True, input, target, weight, reduction, pos_weight, _Grad(grad_output))


def kl_div(input, target, reduction="mean", log_target=False):
    """:func:`cxent.kl_div` on Dask arrays (bitwise as NumPy for any chunking)."""
    return _binary_loss("kl_log" if log_target else "kl", input, target, None, reduction,
                        None)[0]


def kl_div_and_grad(input, target, reduction="mean", log_target=False, *, grad_output=None):
    """:func:`cxent.kl_div_and_grad` on Dask arrays: ``(loss, grad_input)``."""
    return _binary_loss("kl_log" if log_target else "kl", input, target, None, reduction, None,
                        _Grad(grad_output))


# ---------------------------------------------------------------------------------------------
# softmax_kl_div

_KLS = np.dtype([("ls", "f8"), ("lt", "f8"), ("a", "f8")])  # a block's rows (split class axis)


def _skl_block(sb, tb, *, temp, ax, elements, scale):
    # the class axis whole: the NumPy call's rows, element terms or gradient of one block
    from cxent import _distill
    rows, elem, g = _distill.kl_parts(sb, tb, temp, ax, elements, scale)
    return elem if elements else (rows, g) if scale is not None else rows


def _skl_none_grad(sb, tb, gb, *, temp, ax, reduction):
    # 'none' with a per-element upstream gradient: the NumPy call on the block
    return cxent.softmax_kl_div_and_grad(sb, tb, temp, ax, reduction="none", grad_output=gb)


def _skl_stats(sb, tb, *, temp, ax):
    # a class block's float64 statistics: student and teacher log-sum-exp, and
    # a = sum_c exp(t_c - lt) (t_c - s_c) over the block (logits divided by T)
    with np.errstate(invalid="ignore", over="ignore"):
        ss = np.asarray(sb / sb.dtype.type(temp), _F64)
        tt = np.asarray(tb / tb.dtype.type(temp), _F64)
        out = np.empty(tuple(1 if d == ax else n for d, n in enumerate(ss.shape)), _KLS)
        if not ss.size:
            return out
        out["ls"] = cxent.logsumexp(ss, axis=ax, keepdims=True)
        out["lt"] = cxent.logsumexp(tt, axis=ax, keepdims=True)
        e = np.exp(tt - out["lt"])
        out["a"] = np.sum(np.where(e > 0, e * (tt - ss), 0.0), axis=ax, keepdims=True)
    return out


def _skl_combine(st, axis, keepdims, computing_meta=False):
    out = np.empty(tuple(1 if d in axis else n for d, n in enumerate(st.shape)), _KLS)
    if computing_meta or not out.size:
        return out
    with np.errstate(invalid="ignore", over="ignore"):
        lt = cxent.logsumexp(np.ascontiguousarray(st["lt"]), axis=axis, keepdims=True)
        out["ls"] = cxent.logsumexp(np.ascontiguousarray(st["ls"]), axis=axis, keepdims=True)
        out["lt"] = lt
        w = np.exp(st["lt"] - lt)  # each block's share of the teacher's mass
        out["a"] = np.sum(np.where(w > 0, w * st["a"], 0.0), axis=axis, keepdims=True)
    return out


def _skl_split_rows(st, *, ax):
    # KL of a row = sum_c q (t - s) - (lt - ls)   (sum_c q = 1)
    with np.errstate(invalid="ignore"):
        return np.squeeze(st["a"] - st["lt"] + st["ls"], axis=ax)


def _skl_split_map(sb, tb, st, go, sgq, *, temp, ax, what, dtype):
    # a class block's element terms ('none'), g q ('gq'), or gradient ('grad': of a reduction,
    # go its scale; 'none_grad': go the upstream gradient, sgq its row sums of g q), from the
    # combined statistics
    with np.errstate(invalid="ignore", over="ignore"):
        ss = np.asarray(sb / sb.dtype.type(temp), _F64)
        tt = np.asarray(tb / tb.dtype.type(temp), _F64)
        lq, ls = tt - st["lt"], ss - st["ls"]
        q = np.exp(lq)
        if what == "none":
            return np.where(q > 0, q * (lq - ls), -(q * ls)).astype(dtype)
        if what == "gq":
            return go * q
        if what == "none_grad":
            return ((np.exp(ls) * sgq - go * q) / temp).astype(dtype)
        return (go * (np.exp(ls) - q)).astype(dtype)


def _softmax_kl(student, teacher, temperature, axis, dim, reduction, grad):
    s = _float(student, "student_logits")
    t = _float(teacher, "teacher_logits")
    temp = V.distill_options(s.shape, t.shape, temperature, reduction)
    ax = V.int_axis(V.axis_or_dim(axis, dim), s.ndim)
    dtype = np.result_type(s.dtype, t.dtype)
    s, t = s.astype(dtype), t.astype(dtype).rechunk(s.chunks)
    nd = s.ndim
    div = {"none": 1.0, "sum": 1.0, "mean": float(s.size),
           "batchmean": float(s.shape[0])}[reduction]
    scale = None
    if grad is not None and reduction != "none":
        scale = divide(_scalar(grad.value, "sum"), div) / temp
    rmeta, emeta = np.empty((0,) * (nd - 1), _F64), np.empty((0,) * nd, dtype)
    g = None
    if _single(s, (ax,)):
        kw = {"temp": temp, "ax": ax}
        if reduction == "none":
            if grad is None:
                return da.map_blocks(_serial(functools.partial(
                    _skl_block, elements=True, scale=None, **kw)), s, t, dtype=dtype, meta=emeta), None
            go = grad.value
            go = da.from_array(np.broadcast_to(np.asarray(go, _F64), s.shape)) if \
                not isinstance(go, da.Array) else go.astype(_F64)
            go = go.rechunk(s.chunks)
            pair = da.map_blocks(_serial(functools.partial(_skl_none_grad, reduction="none", **kw)),
                                 s, t, go, dtype=object, meta=np.empty((0,) * nd, object))
            return (pair.map_blocks(_pick, 0, dtype=dtype, meta=emeta),
                    pair.map_blocks(_pick, 1, dtype=dtype, meta=emeta))
        fn = _serial(functools.partial(_skl_block, elements=False, scale=scale, **kw))
        if scale is None:
            rows = da.map_blocks(fn, s, t, drop_axis=ax, dtype=_F64, meta=rmeta)
        else:
            pair = da.map_blocks(fn, s, t, dtype=object, meta=np.empty((0,) * nd, object))
            rows = pair.map_blocks(lambda p: np.expand_dims(p[0], ax), dtype=_F64,
                                   chunks=tuple((1,) if d == ax else c
                                                for d, c in enumerate(s.chunks)),
                                   meta=emeta).squeeze(axis=ax) if nd > 1 else \
                pair.map_blocks(lambda p: np.asarray(p[0]).reshape(1), dtype=_F64,
                                chunks=((1,),), meta=np.empty((0,), _F64))
            g = pair.map_blocks(_pick, 1, dtype=dtype, meta=emeta)
    else:
        k = len(s.chunks[ax])
        stats = da.map_blocks(_serial(functools.partial(_skl_stats, temp=temp, ax=ax)), s, t,
                              dtype=_KLS, chunks=tuple((1,) * k if d == ax else c
                                                       for d, c in enumerate(s.chunks)),
                              meta=np.empty((0,) * nd, _KLS))
        st = da.reduction(stats, _ident, _serial(_skl_combine), combine=_serial(_skl_combine),
                          axis=ax, keepdims=True, dtype=_KLS, concatenate=True,
                          meta=np.empty((0,) * nd, _KLS))
        mp = functools.partial(_skl_split_map, temp=temp, ax=ax, dtype=dtype)
        if reduction == "none":
            elem = da.map_blocks(_serial(functools.partial(mp, what="none")), s, t, st, None,
                                 None, dtype=dtype, meta=emeta)
            if grad is None:
                return elem, None
            # d/ds of sum_c g_c terms_c = (p sum_c g_c q_c - g q) / T: a second tree reduction
            go = grad.value
            go = (go.astype(_F64) if isinstance(go, da.Array) else
                  da.from_array(np.broadcast_to(np.asarray(go, _F64), s.shape))).rechunk(s.chunks)
            gq = da.map_blocks(_serial(functools.partial(mp, what="gq")), s, t, st, go, None,
                               dtype=_F64, meta=np.empty((0,) * nd, _F64))
            sgq = gq.sum(axis=ax, keepdims=True, dtype=_F64)
            g = da.map_blocks(_serial(functools.partial(mp, what="none_grad")), s, t, st, go, sgq,
                              dtype=dtype, meta=emeta)
            return elem, g
        rows = da.map_blocks(_serial(functools.partial(_skl_split_rows, ax=ax)), st,
                             drop_axis=ax, dtype=_F64, meta=rmeta)
        if scale is not None:
            g = da.map_blocks(_serial(functools.partial(mp, what="grad")), s, t, st, scale,
                              None, dtype=dtype, meta=emeta)
    loss = _gather(functools.partial(_skl_finish, div=div, dtype=dtype), rows, dtype=dtype)
    return loss, g


def _skl_finish(rows, *, div, dtype):
    return as_dtype(divide(_common_pairwise(np.asarray(rows, _F64)), div), dtype)


def softmax_kl_div(student_logits, teacher_logits, temperature=1.0, axis=V.DEFAULT_AXIS, *,
                   dim=None, reduction="batchmean"):
    """:func:`cxent.softmax_kl_div` on Dask arrays (the class axis whole: bitwise as NumPy;
    split: per-block float64 statistics combined by a tree reduction)."""
    return _softmax_kl(student_logits, teacher_logits, temperature, axis, dim, reduction,
                       None)[0]


def softmax_kl_div_and_grad(student_logits, teacher_logits, temperature=1.0,
                            axis=V.DEFAULT_AXIS, *, dim=None, reduction="batchmean",
                            grad_output=None):
    """:func:`cxent.softmax_kl_div_and_grad` on Dask arrays: ``(loss, grad_student)``."""
    return _softmax_kl(student_logits, teacher_logits, temperature, axis, dim, reduction,
                       _Grad(grad_output))


# ---------------------------------------------------------------------------------------------
# torch-style callables

class _DaskLoss(LossFunction):
    def and_grad(self, input, target, *, grad_output=None):
        """``(loss, grad_input)`` as the ``*_and_grad`` function returns them."""
        return type(self)._fn_and_grad(input, target, grad_output=grad_output,
                                       **{k: getattr(self, k) for k in self._options})


class CrossEntropyLoss(_DaskLoss):
    """:class:`cxent.CrossEntropyLoss` on Dask arrays."""

    _fn = staticmethod(cross_entropy)
    _fn_and_grad = staticmethod(cross_entropy_and_grad)
    _options = ("weight", "ignore_index", "reduction", "label_smoothing")

    def __init__(self, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        super().__init__(weight=weight, ignore_index=ignore_index, reduction=reduction,
                         label_smoothing=label_smoothing)


class NLLLoss(_DaskLoss):
    """:class:`cxent.NLLLoss` on Dask arrays."""

    _fn = staticmethod(nll_loss)
    _fn_and_grad = staticmethod(nll_loss_and_grad)
    _options = ("weight", "ignore_index", "reduction")

    def __init__(self, weight=None, ignore_index=-100, reduction="mean"):
        super().__init__(weight=weight, ignore_index=ignore_index, reduction=reduction)


class BCELoss(_DaskLoss):
    """:class:`cxent.BCELoss` on Dask arrays."""

    _fn = staticmethod(binary_cross_entropy)
    _fn_and_grad = staticmethod(binary_cross_entropy_and_grad)
    _options = ("weight", "reduction")

    def __init__(self, weight=None, reduction="mean"):
        super().__init__(weight=weight, reduction=reduction)


class KLDivLoss(_DaskLoss):
    """:class:`cxent.KLDivLoss` on Dask arrays."""

    _fn = staticmethod(kl_div)
    _fn_and_grad = staticmethod(kl_div_and_grad)
    _options = ("reduction", "log_target")

    def __init__(self, reduction="mean", log_target=False):
        super().__init__(reduction=reduction, log_target=log_target)


class BCEWithLogitsLoss(_DaskLoss):
    """:class:`cxent.BCEWithLogitsLoss` on Dask arrays."""

    _fn = staticmethod(binary_cross_entropy_with_logits)
    _fn_and_grad = staticmethod(binary_cross_entropy_with_logits_and_grad)
    _options = ("weight", "reduction", "pos_weight")

    def __init__(self, weight=None, reduction="mean", pos_weight=None):
        super().__init__(weight=weight, reduction=reduction, pos_weight=pos_weight)


# ---------------------------------------------------------------------------------------------
# linear_cross_entropy

def _whole(a, name):
    """A small operand (``weight``, ``bias``) as one Dask chunk (it travels to every task)."""
    return None if a is None else _float(a, name).rechunk(-1)


def _linear_block(hb, tb, wb, bb, scale, rb, *, kw, grad):
    # rb: the block's row indices (where its rows sit in the whole array)
    try:
        if not grad:
            return cxent.linear_cross_entropy(hb, wb, tb, bb, reduction="none", **kw)
        return cxent.linear_cross_entropy_and_grad(hb, wb, tb, bb, reduction="none",
                                                   grad_output=scale, **kw)
    except IndexError:
        t = np.asarray(tb).astype(np.int64)
        _, has_ignore, ign = V.index_target(tb, kw["ignore_index"])
        bad = (t < 0) | (t >= wb.shape[0])
        if has_ignore:
            bad &= t != ign
        k = int(np.flatnonzero(bad)[0])
        raise IndexError(f"`target` value {t[k]} at index {k + int(rb[0])} is out "
                         f"of bounds for V={wb.shape[0]} classes") from None


def _kept(t, *, ignore_index):
    _, has_ignore, ign = V.index_target(t, ignore_index)
    return int(t.size - np.count_nonzero(t == ign)) if has_ignore else int(t.size)


def _linear(hidden, weight, target, bias, ignore_index, reduction, label_smoothing, z_loss,
            softcap, chunk_size, grad):
    h = _float(hidden, "hidden")
    w, b = _whole(weight, "weight"), _whole(bias, "bias")
    t = _dask(target, "target")
    dtype = V.linear_spec(h.shape, h.dtype, w.shape, w.dtype, None if b is None else b.shape,
                          None if b is None else b.dtype, t.shape, t.dtype, ignore_index)
    V.loss_options(reduction, label_smoothing, z_loss)
    V.softcap_value(softcap)
    h = h.astype(dtype).rechunk((h.chunks[0], -1))
    w = w.astype(dtype)
    b = None if b is None else b.astype(dtype)
    t = t.rechunk((h.chunks[0],))
    kw = {"ignore_index": ignore_index, "label_smoothing": label_smoothing, "z_loss": z_loss,
          "softcap": softcap, "chunk_size": chunk_size}
    kept = _gather(functools.partial(_kept, ignore_index=ignore_index), t, dtype=np.int64)
    scale, go = 1.0, None
    if grad is not None:
        gval = grad.value
        if reduction == "none" and not _is_scalar(gval):
            go = _dask(gval, "grad_output")
            if go.shape != (h.shape[0],):
                raise ValueError(f"`grad_output` must be a scalar or shape {(h.shape[0],)} for "
                                 f"reduction='none'; got shape {go.shape}")
            go = go.astype(_F64).rechunk((h.chunks[0],))
        else:
            scale = _scalar(gval, reduction)
            if reduction == "mean":
                scale = _gather(divide, scale, kept)
    nb = len(h.chunks[0])
    ridx = da.arange(h.shape[0], chunks=(h.chunks[0],))
    fn = _serial(functools.partial(_linear_block, kw=kw, grad=grad is not None))
    if grad is None:
        rows = da.blockwise(fn, "n", h, "nd", t, "n", w, "vd", b, None if b is None else "v",
                            None, None, ridx, "n", dtype=dtype, concatenate=True,
                            meta=np.empty((0,), dtype))
        gh = gw = gb = None
    else:
        quad = da.blockwise(fn, "n", h, "nd", t, "n", w, "vd", b, None if b is None else "v",
                            go if go is not None else scale, "n" if go is not None else
                            (None if not isinstance(scale, da.Array) else ""), ridx, "n",
                            dtype=object, concatenate=True, meta=np.empty((0,), object))
        rows = quad.map_blocks(_pick, 0, dtype=dtype, meta=np.empty((0,), dtype))
        gh = quad.map_blocks(_pick, 1, chunks=(h.chunks[0], (h.shape[1],)), new_axis=1,
                             dtype=dtype, meta=np.empty((0, 0), dtype))
        V_, D = w.shape
        parts = quad.map_blocks(lambda q: q[2][None], chunks=((1,) * nb, (V_,), (D,)),
                                new_axis=[1, 2], dtype=dtype, meta=np.empty((0, 0, 0), dtype))
        gw = parts.sum(axis=0, dtype=dtype)  # a tree reduction of the blocks' grad_weight
        gb = None
        if b is not None:
            bparts = quad.map_blocks(lambda q: q[3][None], chunks=((1,) * nb, (V_,)), new_axis=1,
                                     dtype=dtype, meta=np.empty((0, 0), dtype))
            gb = bparts.sum(axis=0, dtype=dtype)
    if reduction == "none":
        loss = rows
    else:
        loss = _gather(functools.partial(_linear_finish, reduction=reduction, dtype=dtype), rows,
                       kept, dtype=dtype)
    return loss if grad is None else (loss, gh, gw, gb)


def _linear_finish(rows, kept, *, reduction, dtype):
    total = math.fsum(np.asarray(rows, _F64))  # as the NumPy call: exact sum of the row losses
    return dtype.type(divide(total, kept) if reduction == "mean" else total)


def linear_cross_entropy(hidden, weight, target, bias=None, *, ignore_index=-100,
                         reduction="mean", label_smoothing=0.0, z_loss=0.0, softcap=None,
                         chunk_size=None):
    """:func:`cxent.linear_cross_entropy` with ``hidden`` (and ``target``) a Dask array chunked by
    rows: each row block runs the NumPy function (its own memory-bounded chunks of ``chunk_size``
    rows) against the whole ``weight``; the losses are summed exactly (``math.fsum``), as there."""
    return _linear(hidden, weight, target, bias, ignore_index, reduction, label_smoothing, z_loss,
                   softcap, chunk_size, None)


def linear_cross_entropy_and_grad(hidden, weight, target, bias=None, *, ignore_index=-100,
                                  reduction="mean", label_smoothing=0.0, z_loss=0.0, softcap=None,
                                  chunk_size=None, grad_output=None):
    """:func:`cxent.linear_cross_entropy_and_grad` on Dask arrays: ``(loss, grad_hidden,
    grad_weight, grad_bias)``; ``grad_hidden`` chunked like ``hidden``, ``grad_weight`` and
    ``grad_bias`` the sum of the row blocks' parts by a tree reduction (one (V, D) part per row
    block in memory at a time per task)."""
    return _linear(hidden, weight, target, bias, ignore_index, reduction, label_smoothing, z_loss,
                   softcap, chunk_size, _Grad(grad_output))
