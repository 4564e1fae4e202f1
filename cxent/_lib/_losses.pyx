"""Kernels of nll_loss and cross_entropy (class-index and probability targets), with gradients.

A. Layout: logits/log-probabilities and the gradient as ``(N, C, inner)`` operands with any strides
   (class axis in the middle, ``inner`` = product of d1..dk); targets and per-row outputs as
   ``(N, inner)``.  Rows go through the row engine in tiles (``_rows.pyx`` notes B-D): the same bits
   for every layout, a gradient buffer of any layout, or the input itself (in place).
B. Per-row results only: each kernel writes the loss of every (n, i) position in double, plus (index
   targets) the weight w[y] that position adds to the mean's denominator.  The batch reduction happens
   once, in Python, in a fixed order: results are bitwise identical for any thread count.  The loss
   and the gradient come from the same row program, so ``*_and_grad`` returns the plain loss bit for
   bit.
C. Targets are range-checked here, before any read at ``x[y]``: a bad target is counted, its row is
   skipped (loss nan, gradient row 0), and the Python layer raises IndexError.  An ignored target is
   tested first, so an ignore_index outside [0, C) is fine (torch's order).  ``target_weights`` is
   the same check alone, run before a gradient kernel so that nothing is written for a bad target
   (the mean's denominator must be known before the gradient is written, too).
D. Cross-entropy never materialises log-probabilities: per row the log-normaliser L (``_rows.pyx``
   note E), then ``-lp[y] = L - (x[y] - m)``; label smoothing needs only ``sum_c w_c (x_c - m)``.
   Torch's smoothing weighting (pytorch#104776):
   ``row = (1-eps) w[y] (-lp[y]) + eps/C sum_c w_c (-lp[c])``, divided by sum w[y] for the mean.
   z-loss adds ``z w[y] lse^2``.  The gradient ``scale * [(1-eps) w[y] (p - onehot) + eps/C (W p - w)
   + 2 z w[y] lse p]`` (``W = sum_c w_c``) is ``a exp(x - m) - k w`` per element (one exp each), its
   target entry recomputed in double with expm1 (p_y - 1 without cancellation).
E. Probability targets (row arithmetic for every C): ``row = sum_c w_c q_c lp_c`` (+ ``z lse^2``,
   unweighted) with ``q = t (1-eps) + eps/C``, sums in class order in double; the sign and the mean
   over N*inner are applied in Python (torch's N=0 sum is -0.0).  Gradient: ``scale * [p sum_k w_k
   q_k - w q + 2 z lse p]``.  0 * -inf = nan as torch.
"""

from cython.parallel cimport prange, threadid
from cython cimport floating
import numpy as np
from libc.stdint cimport int64_t
from libc.math cimport NAN, exp, expm1, log1p
from libc.stdlib cimport malloc, free
cimport numpy as cnp

from cxent._lib._rows cimport (CX_LANES, CX_SHORT, operand, operand2, operand3, geometry, tile,
                               make_geometry, n_tiles, tile_at, lane_offset, cols_in, cols_out,
                               cols_flush, rows_in, rows_out, rows_flush, row_argmax, row_rest,
                               col_lognorm, col_map, row_wdot, row_affine)
from cxent import _config

cnp.import_array()


cdef extern from "_omp_shim.h":
    int cxent_max_threads() noexcept nogil


ctypedef struct index_opts:
    bint has_ignore
    int64_t ignore
    bint logits  # False: nll_loss (x holds log-probabilities)
    double eps
    double zloss
    double wtot  # sum of the class weights
    double scale


cdef inline operand _targets(const int64_t[:, :] t):
    cdef operand v
    v.p = <void*>&t[0, 0]
    v.s0 = t.strides[0] // sizeof(int64_t)
    v.s1 = 0
    v.s2 = t.strides[1] // sizeof(int64_t)
    return v


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
                     double[:, :] wsum_out, floating[:, :, :] grad_out, double scale,
                     const double[:, :] row_scale, bint use_threads):
    """Per-row loss of nll (``logits=False``: x holds log-probabilities) or cross-entropy.

    Writes ``loss_out[n, i]`` and ``wsum_out[n, i]`` (w[y], or 0 for an ignored row) and, unless
    ``grad_out`` is None, the gradient times ``scale`` (times ``row_scale[n, i]`` unless None) into
    ``grad_out``.  Returns the number of rows whose target is out of range (left as nan).
    """
    cdef index_opts op
    cdef Py_ssize_t c
    op.has_ignore = has_ignore
    op.ignore = ignore_index
    op.logits = logits
    op.eps = eps
    op.zloss = zloss
    op.scale = scale
    op.wtot = 0.0
    for c in range(weight.shape[0]):
        op.wtot += weight[c]
    cdef geometry g = make_geometry(x.shape[0], x.shape[1], x.shape[2])
    return _index_run(operand3(x), _targets(target), &weight[0], &op, operand2(loss_out),
                      operand2(wsum_out), operand3(grad_out), operand2(row_scale), &g, use_threads)


cdef Py_ssize_t _index_run(operand x, operand tgt, const floating* w, const index_opts* op,
                           operand loss, operand wsum, operand grad, operand rsc,
                           const geometry* g, bint use_threads):
    cdef Py_ssize_t per = 0 if (g.n <= CX_SHORT or not op.logits) else g.height * g.n
    cdef Py_ssize_t threads = cxent_max_threads() if use_threads else 1
    cdef floating[::1] sc = np.empty(max(1, per * threads),
                                     dtype=np.float32 if floating is float else np.float64)
    cdef Py_ssize_t t, nbad = 0
    for t in prange(n_tiles(g), nogil=True, schedule="static", use_threads_if=use_threads):
        nbad += _index_tile(x, tgt, w, op, loss, wsum, grad, rsc, g, t, &sc[0] + threadid() * per)
    return nbad


cdef Py_ssize_t _index_tile(operand x, operand tgt, const floating* w, const index_opts* op,
                            operand loss, operand wsum, operand grad, operand rsc,
                            const geometry* g, Py_ssize_t t, floating* scratch) noexcept nogil:
    # One tile of class_index_rows: targets checked per row (note C), then the nll gather, the
    # column program (C <= CX_SHORT) or the row program.  Returns the count of bad targets.
    cdef tile tl
    cdef int64_t y[8]
    cdef double rs[8]
    cdef int state[8]  # 0: compute, 1: ignored, 2: out of range
    cdef Py_ssize_t nbad = 0, off, c, n = g.n
    cdef double* lp = <double*>loss.p
    cdef double* wp = <double*>wsum.p
    cdef floating* gp = <floating*>grad.p
    cdef int j
    tile_at(g, t, &tl)
    for j in range(tl.nr):
        y[j] = (<const int64_t*>tgt.p)[lane_offset(tgt, &tl, j)]
        rs[j] = op.scale * (<const double*>rsc.p)[lane_offset(rsc, &tl, j)] if rsc.p != NULL else op.scale
        off = lane_offset(loss, &tl, j)
        if op.has_ignore and y[j] == op.ignore:
            state[j] = 1
            lp[off] = 0.0
            wp[lane_offset(wsum, &tl, j)] = 0.0
        elif y[j] < 0 or y[j] >= n:
            state[j] = 2
            lp[off] = NAN
            wp[lane_offset(wsum, &tl, j)] = NAN
            nbad += 1
        else:
            state[j] = 0
            wp[lane_offset(wsum, &tl, j)] = w[y[j]]
    if not op.logits:  # nll: one element per row; the gradient is -w[y] at the target only
        for j in range(tl.nr):
            off = lane_offset(x, &tl, j)
            if state[j] == 0:
                lp[lane_offset(loss, &tl, j)] = -(w[y[j]] * <double>(<const floating*>x.p)[off + y[j] * x.s1])
            if gp != NULL:
                off = lane_offset(grad, &tl, j)
                for c in range(n):
                    gp[off + c * grad.s1] = 0.0
                if state[j] == 0:
                    gp[off + y[j] * grad.s1] = <floating>(-rs[j] * w[y[j]])
        return nbad
    if n <= CX_SHORT:
        _xent_cols(x, w, op, loss, grad, g, &tl, y, rs, state)
    else:
        _xent_rows(x, w, op, loss, grad, g, &tl, y, rs, state, scratch)
    return nbad


cdef void _xent_cols(operand x, const floating* w, const index_opts* op, operand loss,
                     operand grad, const geometry* g, const tile* tl, const int64_t* y,
                     const double* rs, const int* state) noexcept nogil:
    # cross-entropy of a tile of short rows, 8 rows per vector (note D)
    cdef floating xs[CX_LANES * CX_SHORT]
    cdef floating gs[CX_LANES * CX_SHORT]
    cdef floating m[8]
    cdef floating a[8]
    cdef floating k[8]
    cdef floating dy[8]
    cdef double rest[8]
    cdef double lnorm[8]
    cdef double lse[8]
    cdef Py_ssize_t cs, gcs, c, n = g.n
    cdef const floating* xt = cols_in(x, g, tl, xs, &cs)
    cdef floating* gt
    cdef double wy, lv, wd, coef, py, gy, eps = op.eps, z = op.zloss
    cdef int j
    col_lognorm(xt, cs, n, m, rest, lnorm)
    for j in range(CX_LANES):
        a[j] = 0.0
        k[j] = 0.0
        if j >= tl.nr or state[j] != 0:
            continue
        dy[j] = xt[y[j] * cs + j] - m[j]
        wy = w[y[j]]
        lse[j] = <double>m[j] + lnorm[j]
        lv = -(wy * (<double>dy[j] - lnorm[j]))
        if eps > 0.0:
            wd = 0.0
            for c in range(n):
                wd += w[c] * <double>(xt[c * cs + j] - m[j])
            lv = (1.0 - eps) * lv + (eps / n) * (lnorm[j] * op.wtot - wd)
        if z != 0.0:
            lv = lv + z * wy * lse[j] * lse[j]
        (<double*>loss.p)[lane_offset(loss, tl, j)] = lv
        coef = (1.0 - eps) * wy + (eps / n) * op.wtot + 2.0 * z * wy * lse[j]
        a[j] = <floating>(rs[j] * coef * exp(-lnorm[j]))
        k[j] = <floating>(rs[j] * eps / n)
    if grad.p == NULL:
        return
    gt = cols_out(grad, tl, gs, &gcs)
    col_map(xt, cs, n, m, a, k, w, gt, gcs, False)
    for j in range(tl.nr):
        if state[j] != 0:
            for c in range(n):
                gt[c * gcs + j] = 0.0
            continue
        wy = w[y[j]]
        py = exp(<double>dy[j] - lnorm[j])
        gy = (1.0 - eps) * wy * expm1(<double>dy[j] - lnorm[j])
        if eps > 0.0:
            gy = gy + (eps / n) * (op.wtot * py - wy)
        if z != 0.0:
            gy = gy + 2.0 * z * wy * lse[j] * py
        gt[y[j] * gcs + j] = <floating>(rs[j] * gy)
    cols_flush(grad, g, tl, gt)


cdef void _xent_rows(operand x, const floating* w, const index_opts* op, operand loss,
                     operand grad, const geometry* g, const tile* tl, const int64_t* y,
                     const double* rs, const int* state, floating* scratch) noexcept nogil:
    # cross-entropy of a tile of long rows, row by row on unit-stride rows (note D).  With a
    # gradient the sum-of-exp pass stores exp(x - m) into it and a pass from cache scales it; what
    # the loss needs of x is read before that store, so the gradient may overwrite x.
    cdef const floating* xr[8]
    cdef floating* gr[8]
    cdef Py_ssize_t am, c, n = g.n
    cdef floating mv, d
    cdef double lnorm, lse, wy, lv, wd = 0.0, coef, py, gy, eps = op.eps, z = op.zloss
    cdef int j
    rows_in(x, g, tl, scratch, xr)
    if grad.p != NULL:
        rows_out(grad, g, tl, scratch, gr)  # a gathered row is overwritten by its gradient
    for j in range(tl.nr):
        if state[j] != 0:
            if grad.p != NULL:
                for c in range(n):
                    gr[j][c] = 0.0
            continue
        am = row_argmax(xr[j], n)
        mv = xr[j][am]
        d = xr[j][y[j]] - mv
        wy = w[y[j]]
        if eps > 0.0:
            wd = row_wdot(xr[j], n, mv, w)
        lnorm = log1p(row_rest(xr[j], n, am, gr[j] if grad.p != NULL else NULL))
        lse = <double>mv + lnorm
        lv = -(wy * (<double>d - lnorm))
        if eps > 0.0:
            lv = (1.0 - eps) * lv + (eps / n) * (lnorm * op.wtot - wd)
        if z != 0.0:
            lv = lv + z * wy * lse * lse
        (<double*>loss.p)[lane_offset(loss, tl, j)] = lv
        if grad.p == NULL:
            continue
        coef = (1.0 - eps) * wy + (eps / n) * op.wtot + 2.0 * z * wy * lse
        row_affine(gr[j], n, rs[j] * coef * exp(-lnorm), rs[j] * eps / n, w)  # gr holds exp(x - m)
        py = exp(<double>d - lnorm)
        gy = (1.0 - eps) * wy * expm1(<double>d - lnorm)
        if eps > 0.0:
            gy = gy + (eps / n) * (op.wtot * py - wy)
        if z != 0.0:
            gy = gy + 2.0 * z * wy * lse * py
        gr[j][y[j]] = <floating>(rs[j] * gy)
    if grad.p != NULL:
        rows_flush(grad, g, tl, scratch)


def xent_small(input, target, weight, ignore_index, reduction, label_smoothing, z_loss,
               bint logits=True):
    """The gate of the most common small call of ``cross_entropy`` (``logits=False``:
    ``nll_loss``): a plain C-contiguous ``(N, C)`` float32/float64 ``ndarray`` in native byte
    order, int64 targets of shape ``(N,)``, default options, fewer than
    ``_config.PARALLEL_THRESHOLD`` elements read.  It checks that much in C and runs the same tile
    program and the same pairwise reduction as the general path, serially, skipping the Python
    layer's set-up.  Returns the loss as a NumPy scalar, or None for any other call (and for a
    target out of range, which the general path reports)."""
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
    cdef cnp.ndarray xa = input, ta = target
    if cnp.PyArray_NDIM(xa) != 2 or cnp.PyArray_NDIM(ta) != 1:
        return None
    cdef int xtype = cnp.PyArray_TYPE(xa)
    if ((xtype != cnp.NPY_FLOAT32 and xtype != cnp.NPY_FLOAT64)
            or cnp.PyArray_TYPE(ta) != cnp.NPY_INT64
            or not cnp.PyArray_ISCARRAY_RO(xa) or not cnp.PyArray_ISNOTSWAPPED(xa)
            or not cnp.PyArray_ISALIGNED(ta) or not cnp.PyArray_ISNOTSWAPPED(ta)):
        return None
    cdef Py_ssize_t nrows = cnp.PyArray_DIM(xa, 0), n = cnp.PyArray_DIM(xa, 1)
    if (nrows == 0 or n == 0 or cnp.PyArray_DIM(ta, 0) != nrows
            or (nrows * n if logits else nrows) >= _config.PARALLEL_THRESHOLD):
        return None
    if not (-9223372036854775807 - 1 <= ignore_index <= 9223372036854775807):
        return None
    cdef index_opts op
    op.has_ignore = True
    op.ignore = ignore_index
    op.logits = logits
    op.eps = 0.0
    op.zloss = 0.0
    op.wtot = <double>n
    op.scale = 1.0
    cdef geometry g = make_geometry(nrows, n, 1)
    cdef operand xo, to, lo, wo, none
    xo.p = cnp.PyArray_DATA(xa)
    xo.s0, xo.s1, xo.s2 = n, 1, 0
    to.p = cnp.PyArray_DATA(ta)
    to.s0, to.s1, to.s2 = cnp.PyArray_STRIDE(ta, 0) // 8, 0, 0
    none.p = NULL
    cdef double* buf = <double*>malloc(2 * nrows * sizeof(double))
    if buf == NULL:
        raise MemoryError()
    lo.p, lo.s0, lo.s1, lo.s2 = buf, 1, 0, 0
    wo.p, wo.s0, wo.s1, wo.s2 = buf + nrows, 1, 0, 0
    cdef Py_ssize_t nbad, r
    cdef double total, count = 0.0
    try:
        if xtype == cnp.NPY_FLOAT32:
            nbad = _index_run(xo, to, <const float*>_ones(n, True), &op, lo, wo, none, none, &g, False)
        else:
            nbad = _index_run(xo, to, <const double*>_ones(n, False), &op, lo, wo, none, none, &g, False)
        if nbad:
            return None
        total = _pairwise(buf, nrows) + 0.0  # + 0.0: from +0, as the Python layer's _reduce
        if mean:
            count = _pairwise(buf + nrows, nrows)
            total = total / count if count else NAN  # all rows ignored: 0 / 0
    finally:
        free(buf)
    return (np.float32 if xtype == cnp.NPY_FLOAT32 else np.float64)(total)


cdef cnp.ndarray _ONES_F = np.ones(0, np.float32)
cdef cnp.ndarray _ONES_D = np.ones(0, np.float64)


cdef void* _ones(Py_ssize_t n, bint f32):
    """Unit class weights of length >= n (cached, grown on demand)."""
    global _ONES_F, _ONES_D
    if f32:
        if _ONES_F.shape[0] < n:
            _ONES_F = np.ones(max(n, 64), np.float32)
        return cnp.PyArray_DATA(_ONES_F)
    if _ONES_D.shape[0] < n:
        _ONES_D = np.ones(max(n, 64), np.float64)
    return cnp.PyArray_DATA(_ONES_D)


def class_prob_rows(const floating[:, :, :] x, const floating[:, :, :] target,
                    const floating[::1] weight, double eps, double zloss, double[:, :] loss_out,
                    floating[:, :, :] grad_out, double scale, const double[:, :] row_scale,
                    bint use_threads):
    """loss_out[n, i] = sum_c w_c q_c lp_c - z lse^2 (not negated; note E), and, unless
    ``grad_out`` is None, the gradient of the negated value times ``scale`` (times ``row_scale``
    unless None)."""
    cdef operand xo = operand3(x), to = operand3(target), go = operand3(grad_out)
    cdef operand lo = operand2(loss_out), ro = operand2(row_scale)
    cdef geometry g = make_geometry(x.shape[0], x.shape[1], x.shape[2])
    cdef Py_ssize_t per = 2 * g.height * g.n, t
    cdef Py_ssize_t threads = cxent_max_threads() if use_threads else 1
    cdef floating[::1] sc = np.empty(per * threads, dtype=np.float32 if floating is float else np.float64)
    for t in prange(n_tiles(&g), nogil=True, schedule="static", use_threads_if=use_threads):
        _prob_tile(xo, to, &weight[0], eps, zloss, lo, go, scale, ro, &g, t,
                   &sc[0] + threadid() * per)


cdef void _prob_tile(operand x, operand tg, const floating* w, double eps, double zloss,
                     operand loss, operand grad, double scale, operand rsc, const geometry* g,
                     Py_ssize_t t, floating* scratch) noexcept nogil:
    cdef tile tl
    cdef const floating* xr[8]
    cdef const floating* tr[8]
    cdef floating* gr[8]
    cdef double rs
    cdef int j
    tile_at(g, t, &tl)
    rows_in(x, g, &tl, scratch, xr)
    rows_in(tg, g, &tl, scratch + g.height * g.n, tr)
    if grad.p != NULL:
        rows_out(grad, g, &tl, scratch, gr)
    for j in range(tl.nr):
        rs = scale * (<const double*>rsc.p)[lane_offset(rsc, &tl, j)] if rsc.p != NULL else scale
        (<double*>loss.p)[lane_offset(loss, &tl, j)] = _prob_row(
            xr[j], g.n, tr[j], w, eps, zloss, gr[j] if grad.p != NULL else NULL, rs)
    if grad.p != NULL:
        rows_flush(grad, g, &tl, scratch)


cdef double _prob_row(const floating* x, Py_ssize_t n, const floating* t, const floating* w,
                      double eps, double zloss, floating* g, double scale) noexcept nogil:
    # sum_c w_c q_c ((x_c - m) - L) = sum_c w_c q_c (x_c - m) - L sum_c w_c q_c; unit-stride rows.
    # Everything read from x is read before the store pass, so g may be x.
    cdef Py_ssize_t c, am = row_argmax(x, n)
    cdef floating m = x[am]
    cdef floating d
    cdef double lnorm, q, wqd = 0.0, wq = 0.0, inv, lse, pcoef
    for c in range(n):
        q = t[c]
        if eps > 0.0:
            q = q * (1.0 - eps) + eps / n
        d = x[c] - m
        wqd += w[c] * q * <double>d
        wq += w[c] * q
    lnorm = log1p(row_rest(x, n, am, g))  # g (if any) now holds exp(x - m)
    lse = <double>m + lnorm
    if g != NULL:  # d(-row)/dx_c = p_c sum_k w_k q_k - w_c q_c (+ 2 z lse p_c)
        inv = exp(-lnorm)
        pcoef = wq + 2.0 * zloss * lse if zloss != 0.0 else wq
        for c in range(n):
            q = t[c]
            if eps > 0.0:
                q = q * (1.0 - eps) + eps / n
            g[c] = <floating>(scale * (g[c] * inv * pcoef - w[c] * q))
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
