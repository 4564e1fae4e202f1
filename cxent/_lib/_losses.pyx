"""Kernels of nll_loss and cross_entropy (class-index and probability targets), with gradients.

A. Layout: logits/log-probabilities as ``(N, C, inner)`` views with any strides (class axis in the
   middle, ``inner`` = product of the spatial dims d1..dk); targets and per-row outputs as
   ``(N, inner)``; the gradient, when asked for, as a view like the input's (it may BE the input).
B. Per-row results only: each kernel writes the loss of every (n, i) position in double, plus (index
   targets) the weight w[y] that position adds to the mean's denominator.  The batch reduction happens
   once, in Python, in a fixed order: results are bitwise identical for any thread count.  The loss
   and the gradient come from the same row routine, so ``*_and_grad`` returns the plain loss bit for
   bit.
C. Targets are range-checked here, before any read at ``x[y]``: a bad target is counted, its row is
   skipped, and the Python layer raises IndexError.  An ignored target is tested first, so an
   ignore_index outside [0, C) is fine (torch's order).  ``target_weights`` is the same check alone,
   run before a gradient kernel so that nothing is written for a bad target (the mean's denominator
   must be known before the gradient is written, too).
D. Cross-entropy never materialises log-probabilities: per row, one max pass and one sum-of-exp pass
   in double (``_rows.pxd``), then ``-lp[y] = L - (x[y] - m)``; label smoothing needs only
   ``sum_c w_c (x_c - m)``.  Torch's smoothing weighting (pytorch#104776):
   ``row = (1-eps) w[y] (-lp[y]) + eps/C sum_c w_c (-lp[c])``, divided by sum w[y] for the mean.
   z-loss adds ``z w[y] lse^2``.  The gradient pass (a third read of the row, from cache) writes
   ``scale * [(1-eps) w[y] (p - onehot) + eps/C (W p - w) + 2 z w[y] lse p]`` with ``W = sum_c w_c``;
   each element is read before it is written, so the gradient may overwrite the logits.
E. Probability targets: ``row = sum_c w_c q_c lp_c`` (+ ``z lse^2``, unweighted) with
   ``q = t (1-eps) + eps/C``; the sign and the mean over N*inner are applied in Python (torch's N=0
   sum is -0.0).  Gradient: ``scale * [p sum_k w_k q_k - w q + 2 z lse p]``.  0 * -inf = nan as torch.
"""

from cython.parallel cimport prange
from cython cimport floating
import numpy as np
from libc.stdint cimport int64_t
from libc.math cimport NAN, exp, expm1, log1p

from libc.stdlib cimport malloc, free
cimport numpy as cnp

from cxent._lib._rows cimport (cx_kernels, cx_kernels_t, row_affine, row_argmax, row_log_norm,
                               row_sumexp_store, row_wdot)
from cxent import _config

cnp.import_array()

cx_kernels()  # choose the SIMD table once, at import

cdef enum:
    SHORT_ROW = 32  # float32 rows up to this length go through cx_kernels().lognorm_rows


def target_weights(const int64_t[:, :] target, const floating[::1] weight, bint has_ignore,
                   int64_t ignore_index, double[:, :] wsum_out, bint use_threads):
    """wsum_out[n, i] = w[y] (0 if ignored, nan if out of range); returns the count out of range."""
    cdef Py_ssize_t inner = target.shape[1], n = weight.shape[0]
    cdef Py_ssize_t r, o, i, nbad = 0
    cdef int64_t y
    for r in prange(target.shape[0] * inner, nogil=True, schedule="static",
                    use_threads_if=use_threads):
        o = r // inner
        i = r - o * inner
        y = target[o, i]
        if has_ignore and y == ignore_index:
            wsum_out[o, i] = 0.0
        elif y < 0 or y >= n:
            wsum_out[o, i] = NAN
            nbad += 1
        else:
            wsum_out[o, i] = weight[y]
    return nbad


def class_index_rows(const floating[:, :, :] x, const int64_t[:, :] target,
                     const floating[::1] weight, bint has_ignore, int64_t ignore_index,
                     bint logits, double eps, double zloss, double[:, :] loss_out,
                     double[:, :] wsum_out, floating[:, :, :] grad_out, bint want_grad,
                     double scale, const double[:, :] row_scale, bint has_row_scale,
                     bint use_threads):
    """Per-row loss of nll (``logits=False``: x holds log-probabilities) or cross-entropy.

    Writes ``loss_out[n, i]`` and ``wsum_out[n, i]`` (w[y], or 0 for an ignored row) and, with
    ``want_grad``, the gradient times ``scale`` (times ``row_scale[n, i]`` if given) into
    ``grad_out``.  Returns the number of rows whose target is out of range (left as nan).
    """
    cdef Py_ssize_t inner = x.shape[2], n = x.shape[1], nrows = x.shape[0] * x.shape[2]
    cdef Py_ssize_t xs0 = x.strides[0] // sizeof(floating), xs1 = x.strides[1] // sizeof(floating)
    cdef Py_ssize_t xs2 = x.strides[2] // sizeof(floating)
    cdef Py_ssize_t gs0 = grad_out.strides[0] // sizeof(floating)
    cdef Py_ssize_t gs1 = grad_out.strides[1] // sizeof(floating)
    cdef Py_ssize_t gs2 = grad_out.strides[2] // sizeof(floating)
    cdef const floating* xp = &x[0, 0, 0]
    cdef floating* gp = &grad_out[0, 0, 0] if want_grad else NULL
    cdef floating* grow
    cdef double wtot = 0.0, rs
    cdef Py_ssize_t r, o, i, c, nbad = 0
    cdef int64_t y
    for c in range(n):
        wtot += weight[c]
    for r in prange(nrows, nogil=True, schedule="static", use_threads_if=use_threads):
        o = r // inner
        i = r - o * inner
        y = target[o, i]
        grow = gp + o * gs0 + i * gs2 if want_grad else NULL
        rs = scale * row_scale[o, i] if has_row_scale else scale
        if (has_ignore and y == ignore_index) or y < 0 or y >= n:
            if has_ignore and y == ignore_index:
                loss_out[o, i] = 0.0
                wsum_out[o, i] = 0.0
            else:
                loss_out[o, i] = NAN
                wsum_out[o, i] = NAN
                nbad += 1
            if want_grad:
                for c in range(n):
                    grow[c * gs1] = 0.0
        else:
            wsum_out[o, i] = weight[y]
            if logits:
                loss_out[o, i] = _xent_row(xp + o * xs0 + i * xs2, n, xs1, y, &weight[0], eps,
                                           wtot, zloss, grow, gs1, rs)
            else:
                loss_out[o, i] = _nll_row(xp + o * xs0 + i * xs2, n, xs1, y, weight[y], grow,
                                          gs1, rs)
    return nbad


cdef inline double _nll_row(const floating* x, Py_ssize_t n, Py_ssize_t s, Py_ssize_t y,
                            double wy, floating* g, Py_ssize_t gs, double scale) noexcept nogil:
    cdef double loss = -(wy * <double>x[y * s])
    cdef Py_ssize_t c
    if g != NULL:  # only the target entry has a gradient: -w[y]
        for c in range(n):
            g[c * gs] = 0.0
        g[y * gs] = <floating>(-scale * wy)
    return loss


cdef inline double _xent_row(const floating* x, Py_ssize_t n, Py_ssize_t s, Py_ssize_t y,
                             const floating* w, double eps, double wtot, double zloss,
                             floating* g, Py_ssize_t gs, double scale) noexcept nogil:
    # loss and (if g) gradient of one row; note D.  x may alias g: x[c] is read before g[c] is set.
    if s == 1 and (g == NULL or gs == 1):
        return _xent_row_unit(x, n, y, w, eps, wtot, zloss, g, scale)
    cdef Py_ssize_t c, am = row_argmax(x, n, s)
    cdef floating m = x[am * s]
    cdef floating d = x[y * s] - m
    cdef double lnorm = row_log_norm(x, n, s, am), wd = 0.0, lse = <double>m + lnorm
    cdef double loss = -(w[y] * (<double>d - lnorm)), inv, p, gc, wy = w[y]
    cdef double zcoef = 2.0 * zloss * wy * lse
    if g != NULL:
        inv = exp(-lnorm)
        for c in range(n):
            d = x[c * s] - m
            p = exp(d) * inv
            gc = (1.0 - eps) * wy * p
            if eps > 0.0:
                wd += w[c] * <double>d
                gc = gc + (eps / n) * (wtot * p - w[c])
            if zloss != 0.0:
                gc = gc + zcoef * p
            if c == y:
                gc = gc - (1.0 - eps) * wy
            g[c * gs] = <floating>(scale * gc)
    elif eps > 0.0:
        for c in range(n):
            d = x[c * s] - m
            wd += w[c] * <double>d
    if eps > 0.0:
        loss = (1.0 - eps) * loss + (eps / n) * (lnorm * wtot - wd)
    if zloss != 0.0:
        loss = loss + zloss * wy * lse * lse
    return loss


cdef inline double _xent_row_unit(const floating* x, Py_ssize_t n, Py_ssize_t y,
                                  const floating* w, double eps, double wtot, double zloss,
                                  floating* g, double scale) noexcept nogil:
    # _xent_row for a contiguous row, on the vectorised kernels of _simd.h.  With a gradient, one
    # exp per element: the sum-of-exp pass stores e_c = exp(x_c - m) into g (the sum is the
    # unstored one bit for bit, so the loss is the plain loss), and a second pass from cache turns
    # it into a * e_c - k * w_c; the target entry is then recomputed in double with expm1
    # (p_y - 1 without cancellation).  Everything read from x (x[y], the smoothing dot) is read
    # before the store pass, so g may be x.  Short float32 rows use the row-batched kernel's
    # arithmetic, so that xent_small agrees with this bit for bit.
    cdef Py_ssize_t am = 0
    cdef floating m, d, dam
    cdef double lnorm, lse, wy = w[y], loss, wd = 0.0, coef, py, gy, rest
    cdef bint short_row = floating is float and n <= SHORT_ROW
    if short_row:
        cx_kernels().lognorm_rows(<const float*>x, 1, n, <float*>&m, &lnorm)
    else:
        am = row_argmax(x, n, 1)
        m = x[am]
    d = x[y] - m
    if eps > 0.0:
        wd = row_wdot(x, n, m, w)
    if not short_row:
        if g == NULL:
            lnorm = row_log_norm(x, n, 1, am)
        else:
            dam = x[am] - m  # 0, or nan when the maximum is infinite (_rows.pxd note C)
            rest = row_sumexp_store(x, n, m, am, g) + <double>(dam - dam)
            lnorm = log1p(rest)
    lse = <double>m + lnorm
    loss = -(wy * (<double>d - lnorm))
    if g != NULL:
        coef = (1.0 - eps) * wy + (eps / n) * wtot
        if zloss != 0.0:
            coef = coef + 2.0 * zloss * wy * lse
        if short_row:
            cx_kernels().grad_out(<const float*>x, n, m, <float>(scale * coef * exp(-lnorm)),
                                  <float>(scale * eps / n), <const float*>w, <float*>g)
        else:  # g holds exp(x - m)
            row_affine(g, n, scale * coef * exp(-lnorm), scale * eps / n, w)
        py = exp(<double>d - lnorm)
        gy = (1.0 - eps) * wy * expm1(<double>d - lnorm)
        if eps > 0.0:
            gy = gy + (eps / n) * (wtot * py - wy)
        if zloss != 0.0:
            gy = gy + 2.0 * zloss * wy * lse * py
        g[y] = <floating>(scale * gy)
    if eps > 0.0:
        loss = (1.0 - eps) * loss + (eps / n) * (lnorm * wtot - wd)
    if zloss != 0.0:
        loss = loss + zloss * wy * lse * lse
    return loss


def xent_small(input, target, weight, ignore_index, reduction, label_smoothing, z_loss,
               bint logits=True):
    """``cross_entropy`` (or, ``logits=False``, ``nll_loss``) of the most common small call, without
    the Python layer's general machinery.

    Serves an exact ``ndarray`` of shape ``(N, C)``, float32 or float64, C-contiguous, aligned and in
    native byte order, with int64 targets of shape ``(N,)``, no weight, no smoothing, no z-loss,
    ``'mean'`` or ``'sum'``, and fewer than ``_config.PARALLEL_THRESHOLD`` elements read (N * C;
    N for nll_loss): the serial range, where the per-call overhead matters.  It runs the same row
    routines as ``class_index_rows`` and the same reduction as the Python layer, so the result is
    the general path's bit for bit.  Returns the loss as a NumPy scalar, or None for any other call
    (and for a target out of range, which the general path reports): the caller then takes the
    general path.
    """
    cdef int64_t ign
    cdef bint mean
    if (type(input) is not cnp.ndarray or type(target) is not cnp.ndarray or weight is not None
            or type(ignore_index) is not int or type(label_smoothing) is not float
            or label_smoothing != 0.0 or type(z_loss) is not float or z_loss != 0.0):
        return None
    if reduction == "mean":
        mean = True
    elif reduction == "sum":
        mean = False
    else:
        return None
    cdef cnp.ndarray x = input, t = target
    if cnp.PyArray_NDIM(x) != 2 or cnp.PyArray_NDIM(t) != 1:
        return None
    cdef int xtype = cnp.PyArray_TYPE(x)
    if ((xtype != cnp.NPY_FLOAT32 and xtype != cnp.NPY_FLOAT64)
            or cnp.PyArray_TYPE(t) != cnp.NPY_INT64
            or not cnp.PyArray_ISCARRAY_RO(x) or not cnp.PyArray_ISNOTSWAPPED(x)
            or not cnp.PyArray_ISALIGNED(t) or not cnp.PyArray_ISNOTSWAPPED(t)):
        return None
    cdef Py_ssize_t nrows = cnp.PyArray_DIM(x, 0), n = cnp.PyArray_DIM(x, 1)
    if (nrows == 0 or n == 0 or cnp.PyArray_DIM(t, 0) != nrows
            or (nrows * n if logits else nrows) >= _config.PARALLEL_THRESHOLD):
        return None
    if not (-9223372036854775807 - 1 <= ignore_index <= 9223372036854775807):
        return None
    ign = ignore_index
    cdef double* loss = <double*>malloc(nrows * sizeof(double))
    if loss == NULL:
        raise MemoryError()
    cdef Py_ssize_t count
    cdef double total
    with nogil:
        if xtype == cnp.NPY_FLOAT32:
            count = _xent_serial(<const float*>cnp.PyArray_DATA(x), nrows, n,
                                 <const char*>cnp.PyArray_DATA(t), cnp.PyArray_STRIDE(t, 0), ign,
                                 logits, loss)
        else:
            count = _xent_serial(<const double*>cnp.PyArray_DATA(x), nrows, n,
                                 <const char*>cnp.PyArray_DATA(t), cnp.PyArray_STRIDE(t, 0), ign,
                                 logits, loss)
        if count >= 0:
            total = _pairwise(loss, nrows) + 0.0  # + 0.0: from +0, as the Python layer's _reduce
    free(loss)
    if count < 0:
        return None
    if mean:
        total = total / count if count else NAN  # all rows ignored: 0 / 0
    return (np.float32 if xtype == cnp.NPY_FLOAT32 else np.float64)(total)


cdef Py_ssize_t _xent_serial(const floating* x, Py_ssize_t nrows, Py_ssize_t n, const char* tp,
                             Py_ssize_t ts, int64_t ign, bint logits, double* loss) noexcept nogil:
    # Per-row losses of xent_small (unit weights); returns the number of rows not ignored, or -1
    # for a target out of range.  Short float32 rows go through lognorm_rows 256 rows at a time
    # (the same per-row arithmetic as _xent_row_unit, which runs it one row at a time).
    cdef Py_ssize_t r, r0, nr, count = 0
    cdef int64_t y
    cdef float mb[256]
    cdef double lb[256]
    cdef floating* ones
    cdef float d
    if not logits:  # nll_loss: as _nll_row with w[y] = 1
        for r in range(nrows):
            y = (<const int64_t*>(tp + r * ts))[0]
            if y == ign:
                loss[r] = 0.0
            elif y < 0 or y >= n:
                return -1
            else:
                loss[r] = -(1.0 * <double>x[r * n + y])
                count += 1
        return count
    if floating is float:
        if n <= SHORT_ROW:
            for r0 in range(0, nrows, 256):
                nr = min(256, nrows - r0)
                cx_kernels().lognorm_rows(x + r0 * n, nr, n, mb, lb)
                for r in range(r0, r0 + nr):
                    y = (<const int64_t*>(tp + r * ts))[0]
                    if y == ign:
                        loss[r] = 0.0
                        continue
                    if y < 0 or y >= n:
                        return -1
                    d = x[r * n + y] - mb[r - r0]
                    loss[r] = -(1.0 * (<double>d - lb[r - r0]))
                    count += 1
            return count
    ones = <floating*>malloc(n * sizeof(floating))
    if ones == NULL:
        return -1
    for r in range(n):
        ones[r] = 1.0
    for r in range(nrows):
        y = (<const int64_t*>(tp + r * ts))[0]
        if y == ign:
            loss[r] = 0.0
            continue
        if y < 0 or y >= n:
            count = -1
            break
        loss[r] = _xent_row(x + r * n, n, 1, y, ones, 0.0, <double>n, 0.0, NULL, 1, 1.0)
        count += 1
    free(ones)
    return count


def class_prob_rows(const floating[:, :, :] x, const floating[:, :, :] target,
                    const floating[::1] weight, double eps, double zloss, double[:, :] loss_out,
                    floating[:, :, :] grad_out, bint want_grad, double scale,
                    const double[:, :] row_scale, bint has_row_scale, bint use_threads):
    """loss_out[n, i] = sum_c w_c q_c lp_c - z lse^2 (not negated; note E), and the gradient of
    the negated value times ``scale`` (times ``row_scale``) if ``want_grad``."""
    cdef Py_ssize_t inner = x.shape[2], n = x.shape[1], nrows = x.shape[0] * x.shape[2]
    cdef Py_ssize_t xs0 = x.strides[0] // sizeof(floating), xs1 = x.strides[1] // sizeof(floating)
    cdef Py_ssize_t xs2 = x.strides[2] // sizeof(floating)
    cdef Py_ssize_t ts0 = target.strides[0] // sizeof(floating)
    cdef Py_ssize_t ts1 = target.strides[1] // sizeof(floating)
    cdef Py_ssize_t ts2 = target.strides[2] // sizeof(floating)
    cdef Py_ssize_t gs0 = grad_out.strides[0] // sizeof(floating)
    cdef Py_ssize_t gs1 = grad_out.strides[1] // sizeof(floating)
    cdef Py_ssize_t gs2 = grad_out.strides[2] // sizeof(floating)
    cdef const floating* xp = &x[0, 0, 0]
    cdef const floating* tp = &target[0, 0, 0]
    cdef floating* gp = &grad_out[0, 0, 0] if want_grad else NULL
    cdef Py_ssize_t r, o, i
    cdef double rs
    for r in prange(nrows, nogil=True, schedule="static", use_threads_if=use_threads):
        o = r // inner
        i = r - o * inner
        rs = scale * row_scale[o, i] if has_row_scale else scale
        loss_out[o, i] = _prob_row(xp + o * xs0 + i * xs2, n, xs1, tp + o * ts0 + i * ts2, ts1,
                                   &weight[0], eps, zloss,
                                   gp + o * gs0 + i * gs2 if want_grad else NULL, gs1, rs)


cdef inline double _prob_row(const floating* x, Py_ssize_t n, Py_ssize_t s, const floating* t,
                             Py_ssize_t ts, const floating* w, double eps, double zloss,
                             floating* g, Py_ssize_t gs, double scale) noexcept nogil:
    # sum_c w_c q_c ((x_c - m) - L) = sum_c w_c q_c (x_c - m) - L sum_c w_c q_c
    cdef Py_ssize_t c, am = row_argmax(x, n, s)
    cdef floating m = x[am * s]
    cdef floating d
    cdef double lnorm = 0.0, q, wqd = 0.0, wq = 0.0, inv, lse, pcoef
    cdef bint store = g != NULL and s == 1 and gs == 1
    if not store:
        lnorm = row_log_norm(x, n, s, am)
    for c in range(n):
        q = t[c * ts]
        if eps > 0.0:
            q = q * (1.0 - eps) + eps / n
        d = x[c * s] - m
        wqd += w[c] * q * <double>d
        wq += w[c] * q
    if store:
        # contiguous: exp(x - m) stored by the vectorised sum-of-exp pass (whose sum is
        # row_log_norm's bit for bit), then scaled in place; x was read above, so g may be x
        d = x[am] - m
        lnorm = log1p(row_sumexp_store(x, n, m, am, g) + <double>(d - d))
        lse = <double>m + lnorm
        inv = exp(-lnorm)
        pcoef = wq + 2.0 * zloss * lse if zloss != 0.0 else wq
        for c in range(n):
            q = t[c * ts]
            if eps > 0.0:
                q = q * (1.0 - eps) + eps / n
            g[c] = <floating>(scale * (g[c] * inv * pcoef - w[c] * q))
    else:
        lse = <double>m + lnorm
    if g != NULL and not store:  # d(-row)/dx_c = p_c sum_k w_k q_k - w_c q_c (+ 2 z lse p_c)
        inv = exp(-lnorm)
        pcoef = wq + 2.0 * zloss * lse if zloss != 0.0 else wq
        for c in range(n):
            q = t[c * ts]
            if eps > 0.0:
                q = q * (1.0 - eps) + eps / n
            d = x[c * s] - m
            g[c * gs] = <floating>(scale * (exp(d) * inv * pcoef - w[c] * q))
    if zloss != 0.0:
        return wqd - lnorm * wq - zloss * lse * lse
    return wqd - lnorm * wq


def pairwise_sum(const double[::1] a):
    """Sum of ``a`` by pairwise recursion over blocks of 128 (deterministic, O(log n) error)."""
    cdef double s
    with nogil:
        s = _pairwise(&a[0], a.shape[0])
    return s


cdef double _pairwise(const double* a, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i, h
    cdef double s = 0.0
    if n <= 128:
        for i in range(n):
            s += a[i]
        return s
    h = n // 2
    return _pairwise(a, h) + _pairwise(a + h, n - h)
