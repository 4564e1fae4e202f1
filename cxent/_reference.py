"""Plain-NumPy reference twin of cxent's public forward functions: test oracle and bench baseline.

A. What it is.  One function per public forward function of ``spec/api.md``, with the same name and
   signature, implementing the formula of ``spec/torch-semantics.md`` (sections 1-4) literally, in
   vectorised NumPy, for clarity rather than speed.  ``tests/`` compare cxent with it and ``bench/``
   times it as the "numpy-ref" column.
B. Precision.  Everything is computed in ``np.longdouble`` (80-bit extended on x86-64 Linux; plain
   float64 where the platform has nothing wider) and rounded once to the result dtype at the end.
   Arguments are first rounded to the dtype cxent computes in (a float64 ``weight`` given with a
   float32 input becomes float32), so the oracle sees exactly the numbers cxent sees.
   One deliberate improvement over torch's literal order: ``log(s)`` with ``s = sum(exp(x - m))`` is
   evaluated as ``log1p(s - 1)``, with the terms equal to 1 (``x == m``) counted exactly, so a
   dominant logit keeps its tiny loss (torch's float32 ``cross_entropy([[20., 0.]], [0])`` is 0.0,
   the exact value 2.06e-9; spec section 6.3).  cxent does the same.
C. Dtypes.  The result has the input's float dtype; bool/integer inputs give float64 and float16
   gives float32.  Probability targets (cross_entropy) and floating binary targets promote with
   ``np.result_type`` (a float64 target with a float32 input gives float64).  ``weight`` and
   ``pos_weight`` are cast to the result dtype.
D. Validation.  None beyond what the computation needs: this is an oracle, not a user-facing API.
   Out-of-range class targets do raise ``IndexError``, so a misused oracle fails loudly instead of
   reading a wrong class.  NumPy's floating-point warnings are silenced: the IEEE results (nan,
   +-inf, signed zeros) are the point, and the spec's tables say which ones torch gives.
"""

import functools

import numpy as np

try:  # NumPy >= 2.0
    from numpy.lib.array_utils import normalize_axis_tuple
except ImportError:  # pragma: no cover
    from numpy.core.numeric import normalize_axis_tuple  # type: ignore[no-redef]

__all__ = ["softmax", "log_softmax", "logsumexp", "sigmoid", "log_sigmoid", "nll_loss",
           "cross_entropy", "binary_cross_entropy", "binary_cross_entropy_with_logits"]

WIDE = np.longdouble  #: the computation dtype


def _quiet(fn):
    """Run ``fn`` with NumPy's floating-point warnings off (0/0 = nan is a specified result)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with np.errstate(all="ignore"):
            return fn(*args, **kwargs)

    return wrapper


# ----------------------------------------------------------------------------- dtypes and axes


def _float_dtype(dtype):
    """The dtype cxent computes an array of ``dtype`` in (spec/api.md, Conventions)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f" and dtype.itemsize <= 4:
        return np.dtype(np.float32)  # float16 -> float32
    return np.dtype(np.float64)  # float64, and bool/integer -> float64


def _widen(a, dtype):
    """``a`` rounded to ``dtype`` (what cxent sees), then widened for the computation."""
    return np.asarray(a).astype(dtype).astype(WIDE)


def _axes(axis, ndim):
    """``axis`` (int, tuple of ints, None = all) as a tuple of non-negative axes of an array with
    ``max(ndim, 1)`` dims (a 0-d array is treated as shape (1,), as torch accepts dim 0 / -1)."""
    if axis is None:
        return tuple(range(max(ndim, 1)))
    return normalize_axis_tuple(axis, max(ndim, 1))


def _deliver(result, out):
    """Return ``result``, written into ``out`` when one is given (signature parity with cxent)."""
    if out is None:
        return result
    out[...] = result
    return out


# ----------------------------------------------------------------------------- normalisers


def _log_sum_exp_shifted(x, m, axes):
    """``log(sum(exp(x - m)))`` over ``axes`` (kept as size 1), ``m`` broadcastable to ``x``.

    The terms with ``x == m`` are exactly 1: they are counted, and the others summed, so that
    ``log(ones + rest) = log1p((ones - 1) + rest)`` stays exact when ``rest`` is tiny (section B).
    """
    at_m = x == m
    rest = np.sum(np.where(at_m, 0, np.exp(x - m)), axis=axes, keepdims=True)
    ones = np.sum(at_m, axis=axes, keepdims=True)
    return np.log1p((ones - 1) + rest)


def _row_max(x, axes):
    """Max over ``axes`` (kept); ``-inf`` for an empty reduction; nan if the row holds a nan."""
    return np.max(x, axis=axes, keepdims=True, initial=-np.inf)


def _normalise(x, axis, log):
    """softmax / log_softmax in torch's algorithm (spec 1.1): ``m = max``; then ``(x - m) - log(s)``
    or ``exp(x - m) / s``.  A row whose max is not finite (a ``+inf``, only ``-inf``, or a nan) is
    all nan, as torch's ``inf - inf`` makes it (spec 1.4)."""
    x = np.asarray(x)
    dtype = _float_dtype(x.dtype)
    xw = np.atleast_1d(_widen(x, dtype))
    axes = _axes(axis, x.ndim)
    m = _row_max(xw, axes)
    if log:
        res = (xw - m) - _log_sum_exp_shifted(xw, m, axes)
    else:
        e = np.exp(xw - m)
        res = e / np.sum(e, axis=axes, keepdims=True)
    res = np.where(np.isfinite(m), res, np.nan)
    return res.astype(dtype).reshape(x.shape)


@_quiet
def softmax(x, axis=-1, *, out=None):
    """``exp(x - m) / sum(exp(x - m))`` along ``axis`` (int, tuple of ints or None = all)."""
    return _deliver(_normalise(x, axis, log=False), out)


@_quiet
def log_softmax(x, axis=-1, *, out=None):
    """``(x - m) - log(sum(exp(x - m)))`` along ``axis`` (int, tuple of ints or None = all)."""
    return _deliver(_normalise(x, axis, log=True), out)


@_quiet
def logsumexp(x, axis=-1, *, keepdims=False, out=None):
    """``log(sum(exp(x - m))) + m`` over ``axis`` with torch's ``m := 0 where |m| == inf``
    (spec 1.1): ``+inf`` rows give ``inf``, all ``-inf`` or empty rows ``-inf``, nan rows nan.
    ``axis=None`` reduces every axis, ``axis=()`` none (the result is ``x`` as floats)."""
    x = np.asarray(x)
    dtype = _float_dtype(x.dtype)
    xw = np.atleast_1d(_widen(x, dtype))
    axes = _axes(axis, x.ndim)
    m = _row_max(xw, axes)
    m = np.where(np.isinf(m), 0, m)
    res = (_log_sum_exp_shifted(xw, m, axes) + m).astype(dtype)
    if x.ndim == 0:
        res = res.reshape(())
    elif not keepdims:
        res = np.squeeze(res, axis=axes)
    return _deliver(res, out)


@_quiet
def sigmoid(x, *, out=None):
    """``1 / (1 + exp(-x))`` (in extended precision: float32 results below -88.7 are the correctly
    rounded subnormals, where torch's float32 ``exp`` overflows and flushes them to 0)."""
    x = np.asarray(x)
    dtype = _float_dtype(x.dtype)
    return _deliver((1 / (1 + np.exp(-_widen(x, dtype)))).astype(dtype), out)


def _log_sigmoid_wide(x):
    """``min(x, 0) - log1p(exp(-|x|))`` (spec 4.3), in the dtype of ``x``."""
    return np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))


@_quiet
def log_sigmoid(x, *, out=None):
    """``log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|))``."""
    x = np.asarray(x)
    dtype = _float_dtype(x.dtype)
    return _deliver(_log_sigmoid_wide(_widen(x, dtype)).astype(dtype), out)


# ----------------------------------------------------------------------------- class losses


def _classes_last(x):
    """``x`` with torch's class axis (0 for 1-d input, else 1) moved last: ``(*loss_shape, C)``."""
    return np.moveaxis(x, 0 if x.ndim == 1 else 1, -1)


def _class_weight(weight, n_classes, dtype):
    """Class weights of length C, cast to ``dtype`` and widened (ones when None)."""
    return np.ones(n_classes, WIDE) if weight is None else _widen(weight, dtype)


def _pick(lp, y):
    """``lp[..., y]`` elementwise (``lp`` has classes last, ``y`` the loss shape)."""
    if lp.shape[-1] == 0:  # no classes: every target is ignored, nothing to read
        return np.zeros(y.shape, lp.dtype)
    return np.take_along_axis(lp, y[..., np.newaxis], axis=-1)[..., 0]


def _index_terms(lp, target, w, ignore_index):
    """Per-element ``(loss, w[y], kept)`` of nll on log-probabilities ``lp`` (classes last), 2.3.

    ``loss = -(w[y] * lp[y])`` (an exact 0 becomes -0.0, spec 2.7) where the target is kept, +0.0
    where it equals ``ignore_index`` (checked before the range check, spec 2.4).
    """
    n_classes = lp.shape[-1]
    t = np.asarray(target).reshape(lp.shape[:-1])  # (1,) -> () for a 1-d input (spec 2.2)
    kept = t != ignore_index
    bad = kept & ((t < 0) | (t >= n_classes))
    if np.any(bad):
        raise IndexError(f"target {t[bad].ravel()[0]} is out of bounds for {n_classes} classes")
    y = np.where(kept, t, 0).astype(np.intp)
    wy = np.where(kept, w[y] if n_classes else 0, 0)
    loss = np.where(kept, -(wy * _pick(lp, y)), 0.0)
    return loss, wy, kept


def _reduce(loss, denominator, reduction):
    """Torch's reductions: 'none' as is; 'sum' from +0; 'mean' = sum / denominator (0/0 = nan)."""
    if reduction == "none":
        return loss
    total = 0.0 + np.sum(loss)  # the sum starts from +0: all -0.0 terms give +0.0 (spec 2.7)
    return total if reduction == "sum" else total / denominator


def _finish(value, dtype, reduction):
    """The result rounded to ``dtype``: an array for 'none', a NumPy scalar otherwise."""
    value = np.asarray(value).astype(dtype)
    return value if reduction == "none" else value[()]


@_quiet
def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """``-w[y] * input[y]`` per element; mean divides by ``sum(w[y])`` over kept elements
    (spec 2.3: all ignored or ``sum(w[y]) = 0`` gives nan; an empty sum is +0.0)."""
    x = np.asarray(input)
    dtype = _float_dtype(x.dtype)
    lp = _classes_last(_widen(x, dtype))
    w = _class_weight(weight, lp.shape[-1], dtype)
    loss, wy, _ = _index_terms(lp, target, w, ignore_index)
    return _finish(_reduce(loss, np.sum(wy), reduction), dtype, reduction)


def _log_softmax_classes_last(x):
    """log_softmax over the last axis of a widened array (rows with a non-finite max: nan)."""
    m = _row_max(x, -1)
    return np.where(np.isfinite(m), (x - m) - _log_sum_exp_shifted(x, m, -1), np.nan)


@_quiet
def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0, *, z_loss=0.0):
    """Cross-entropy of logits with class-index targets (spec 2.3, 3.1) or probability targets
    (a floating target of the input's shape, spec 3.2).  A negative ``label_smoothing`` is 0.

    ``z_loss`` adds ``z_loss * logsumexp(input_i)**2`` to each element's loss (spec/api.md),
    weighted by ``w[y_i]`` and masked like it for index targets, unweighted for probability
    targets (cxent's choice: they have no single class).
    """
    x = np.asarray(input)
    t = np.asarray(target)
    eps = max(float(label_smoothing), 0.0)
    if t.shape == x.shape and t.dtype.kind == "f":
        return _cross_entropy_probabilities(x, t, weight, reduction, eps, z_loss)
    dtype = _float_dtype(x.dtype)
    xw = _classes_last(_widen(x, dtype))
    lp = _log_softmax_classes_last(xw)
    n_classes = lp.shape[-1]
    w = _class_weight(weight, n_classes, dtype)
    loss, wy, kept = _index_terms(lp, t, w, ignore_index)
    denominator = np.sum(wy)  # sum of w[y] over kept elements, also for the smoothing term
    # z-loss is added to each element's loss as it stands (after smoothing: spec/api.md)
    nll_reduced = _reduce(loss, denominator, reduction)
    if z_loss:
        z_reduced = _reduce(np.where(kept, wy * z_loss * _lse_classes_last(xw) ** 2, 0.0),
                            denominator, reduction)
    if eps == 0:  # bit-identical to no smoothing (spec 3.1)
        return _finish(nll_reduced + z_reduced if z_loss else nll_reduced, dtype, reduction)
    # spec 3.1: the smoothing term is sum_c w_c * (-lp_c), NOT multiplied by w[y] (pytorch#104776)
    smooth = np.where(kept, -np.sum(w * lp, axis=-1), 0.0)
    smooth_reduced = _reduce(smooth, denominator, reduction)
    # no classes: torch's eps / C is inf, so the (empty, 0) smoothing term of every row is nan
    coef = eps / n_classes if n_classes else np.float64(np.inf)
    with np.errstate(invalid="ignore"):
        total = (1 - eps) * nll_reduced + coef * smooth_reduced
        return _finish(total + z_reduced if z_loss else total, dtype, reduction)


def _lse_classes_last(x):
    """logsumexp over the last axis of a widened array (torch's rule for infinite maxima)."""
    m = _row_max(x, -1)
    m = np.where(np.isinf(m), 0, m)
    return (_log_sum_exp_shifted(x, m, -1) + m)[..., 0]


def _cross_entropy_probabilities(x, t, weight, reduction, eps, z_loss):
    """Spec 3.2: ``l_i = -sum_c w_c q_ic lp_ic`` with ``q = t (1 - eps) + eps / C``; the mean
    divides by ``N * d1 * ... * dk`` (not by the weights).  The negation is applied after each
    sum, so the empty 'sum' is -0.0, as in torch."""
    dtype = np.result_type(_float_dtype(x.dtype), t.dtype)
    xw = _classes_last(_widen(x, dtype))
    lp = _log_softmax_classes_last(xw)
    n_classes = lp.shape[-1]
    q = _classes_last(_widen(t, dtype))
    if eps > 0 and n_classes:  # no classes: nothing to smooth (an empty sum)
        q = q * (1 - eps) + eps / n_classes
    terms = _class_weight(weight, n_classes, dtype) * q * lp
    if reduction == "none":
        loss = -np.sum(terms, axis=-1)
    else:
        loss = -np.sum(terms)
        if reduction == "mean":
            loss = loss / np.prod(lp.shape[:-1])
    if z_loss:
        lse2 = z_loss * _lse_classes_last(xw) ** 2
        loss = loss + (lse2 if reduction == "none" else _reduce(lse2, lse2.size, reduction))
    return _finish(loss, dtype, reduction)


# ----------------------------------------------------------------------------- binary losses


def _binary_operands(input, target):
    """(input, target, result dtype): a floating target promotes (``np.result_type``), any other
    target takes the input's dtype."""
    x, t = np.asarray(input), np.asarray(target)
    dtype = _float_dtype(x.dtype)
    if t.dtype.kind == "f":
        dtype = np.result_type(dtype, _float_dtype(t.dtype))
    return _widen(x, dtype), _widen(t, dtype), dtype


def _weighted_reduce(loss, weight, dtype, reduction):
    """``loss * weight`` (broadcast), then 'none' | 'sum' | 'mean' = sum / numel (spec 4.1)."""
    if weight is not None:
        loss = loss * _widen(weight, dtype)
    return _finish(_reduce(loss, loss.size, reduction), dtype, reduction)


@_quiet
def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """``(y - 1) * max(log1p(-p), -100) - y * max(log(p), -100)`` (spec 4.1: the clamp comes before
    the multiply, so ``0 * -inf`` never occurs; p = y = 1 gives -0.0)."""
    p, y, dtype = _binary_operands(input, target)
    loss = (y - 1) * np.maximum(np.log1p(-p), -100) - y * np.maximum(np.log(p), -100)
    return _weighted_reduce(loss, weight, dtype, reduction)


@_quiet
def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean",
                                     pos_weight=None):
    """``(1 - y) * x - lw * log_sigmoid(x)`` with ``lw = 1 + (pos_weight - 1) * y`` (spec 4.2;
    ``pos_weight`` broadcasts against ``y``).  ``x = +-inf`` gives nan where torch does."""
    x, y, dtype = _binary_operands(input, target)
    lw = 1 if pos_weight is None else 1 + (_widen(pos_weight, dtype) - 1) * y
    loss = (1 - y) * x - lw * _log_sigmoid_wide(x)
    return _weighted_reduce(loss, weight, dtype, reduction)
