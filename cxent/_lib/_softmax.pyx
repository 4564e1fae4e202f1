"""Kernels of softmax, log_softmax, logsumexp, their backward functions, sigmoid and log_sigmoid.

A. Layout: ``(outer, C, inner)`` views with any strides, one ``operand`` each (``_rows.pxd``); rows
   go through the row engine in tiles (``_rows.pyx`` notes B-D), so every layout gives the same
   bits.  Element-wise kernels take spans of the logical flat index (``_binary.pyx`` note B).
B. Threading: ``prange`` over tiles, static schedule, only when the Python layer says the work is
   large enough (``use_threads``; an OpenMP region costs microseconds).  Every output element
   depends on its own row only, so results are bitwise identical for any thread count.
C. Numerics: ``_rows.pyx`` note E.  softmax = exp(x - m) / (1 + rest), log_softmax = (x - m) - L
   (torch's order, pytorch#11752); logsumexp = m + L, or, where |m| is infinite, torch's rule
   log(sum exp(x)) (shift 0).  Backward (from the forward output y, any C through the row
   arithmetic): softmax y (g - sum g y), log_softmax g - exp(y) sum g.
D. Kernels never validate and never allocate in the loop: the Python layer owns arrays, dtypes and
   shapes, and calls a kernel only for non-empty inputs.
"""

from cython.parallel cimport prange, parallel, threadid
from libc.math cimport exp, log, fabs, INFINITY
from cython cimport floating
import numpy as np

from cxent._lib._rows cimport (CX_LANES, CX_LONG_TILE, CX_SHORT, CX_MAP_LOG, CX_MAP_AFFINE, operand, operand2, operand3, geometry, tile,
                               make_geometry, n_tiles, tile_at, lane_offset, cols_in, cols_out,
                               cols_flush, rows_in, rows_out, rows_flush, row_argmax, row_lognorm, row_rest,
                               col_lognorm, col_map, row_affine, row_logsoftmax_out,
                               row_softmax_bwd, table_f, table_d)


cdef extern from "_omp_shim.h":
    int cxent_has_openmp() noexcept nogil
    int cxent_max_threads() noexcept nogil


def openmp_info():
    """(built with OpenMP, threads a parallel region would use now)."""
    return bool(cxent_has_openmp()), cxent_max_threads()


cdef scratch_for(const geometry* g, int operands, dtype, bint use_threads):
    """Per-thread scratch for gathered long rows (short rows use the stack)."""
    cdef Py_ssize_t per = operands * g.height * g.n if g.n > CX_SHORT else 0
    cdef Py_ssize_t threads = cxent_max_threads() if use_threads else 1
    return np.empty(max(1, per * threads), dtype=dtype), per


def softmax_rows(const floating[:, :, :] x, floating[:, :, :] out, bint log_out, bint use_threads):
    """out = softmax(x) (or log_softmax if ``log_out``) along axis 1 of ``(outer, C, inner)`` views."""
    cdef operand xo = operand3(x), yo = operand3(out)
    cdef geometry g = make_geometry(x.shape[0], x.shape[1], x.shape[2])
    buf, per_ = scratch_for(&g, 1, np.float32 if floating is float else np.float64, use_threads)
    cdef floating[::1] sc = buf
    cdef Py_ssize_t per = per_, t
    for t in prange(n_tiles(&g), nogil=True, schedule="static", use_threads_if=use_threads):
        _softmax_tile(xo, yo, &g, t, log_out, &sc[0] + threadid() * per)


cdef void _softmax_tile(operand x, operand y, const geometry* g, Py_ssize_t t, bint log_out,
                        floating* scratch) noexcept nogil:
    cdef tile tl
    cdef floating m[CX_LANES]
    cdef floating a[CX_LANES]
    cdef floating xs[CX_LANES * CX_SHORT]
    cdef floating ys[CX_LANES * CX_SHORT]
    cdef double rest[CX_LANES]
    cdef double lnorm[CX_LANES]
    cdef Py_ssize_t cs, ycs, n = g.n
    cdef const floating* xt
    cdef floating* yt
    cdef const floating* xr[CX_LONG_TILE]
    cdef floating* yr[CX_LONG_TILE]
    cdef int j
    tile_at(g, t, &tl)
    if n <= CX_SHORT:  # column arithmetic, 16 rows per tile, 8 per vector
        xt = cols_in(x, g, &tl, xs, &cs)
        yt = cols_out(y, &tl, ys, &ycs)
        if log_out:
            col_lognorm(xt, cs, n, m, rest, lnorm, NULL, 0)
            for j in range(CX_LANES):
                a[j] = <floating>lnorm[j]
            col_map(xt, cs, n, m, a, NULL, NULL, yt, ycs, CX_MAP_LOG)
        else:  # one exp per element: exp(x - m) stored by the sum pass, then scaled
            col_lognorm(xt, cs, n, m, rest, lnorm, yt, ycs)
            for j in range(CX_LANES):
                a[j] = <floating>(1.0 / (1.0 + rest[j]))
            col_map(yt, ycs, n, m, a, NULL, NULL, yt, ycs, CX_MAP_AFFINE)
        cols_flush(y, g, &tl, yt)
        return
    rows_in(x, g, &tl, scratch, xr)
    rows_out(y, g, &tl, scratch, yr)  # a gathered row is overwritten by its own result
    for j in range(tl.nr):
        if log_out:
            a[0] = <floating>row_lognorm(xr[j], n, m)
            row_logsoftmax_out(xr[j], n, m[0], a[0], yr[j])
        else:  # one exp per element: store exp(x - m), then scale by 1 / sum
            rest[0] = row_rest(xr[j], n, row_argmax(xr[j], n), yr[j])
            row_affine(yr[j], n, 1.0 / (1.0 + rest[0]), 0.0, NULL)
    rows_flush(y, g, &tl, scratch)


def logsumexp_rows(const floating[:, :, :] x, floating[:, :] out, bint use_threads):
    """out[o, i] = log(sum_c exp(x[o, c, i])), torch's rule: the shift m is 0 where |max| is inf."""
    cdef operand xo = operand3(x)
    cdef geometry g = make_geometry(x.shape[0], x.shape[1], x.shape[2])
    cdef floating* op = &out[0, 0]
    cdef Py_ssize_t os0 = out.strides[0] // sizeof(floating), os1 = out.strides[1] // sizeof(floating)
    buf, per_ = scratch_for(&g, 1, np.float32 if floating is float else np.float64, use_threads)
    cdef floating[::1] sc = buf
    cdef Py_ssize_t per = per_, t
    for t in prange(n_tiles(&g), nogil=True, schedule="static", use_threads_if=use_threads):
        _logsumexp_tile(xo, op, os0, os1, &g, t, &sc[0] + threadid() * per)


cdef void _logsumexp_tile(operand x, floating* out, Py_ssize_t os0, Py_ssize_t os1,
                          const geometry* g, Py_ssize_t t, floating* scratch) noexcept nogil:
    cdef tile tl
    cdef floating m[CX_LONG_TILE]
    cdef floating xs[CX_LANES * CX_SHORT]
    cdef double rest[CX_LONG_TILE]
    cdef double lnorm[CX_LONG_TILE]
    cdef Py_ssize_t cs = 1, n = g.n
    cdef const floating* xt = NULL
    cdef const floating* xr[CX_LONG_TILE]
    cdef int j
    tile_at(g, t, &tl)
    if n <= CX_SHORT:
        xt = cols_in(x, g, &tl, xs, &cs)
        col_lognorm(xt, cs, n, m, rest, lnorm, NULL, 0)
    else:
        rows_in(x, g, &tl, scratch, xr)
        for j in range(tl.nr):
            lnorm[j] = row_lognorm(xr[j], n, &m[j])
    for j in range(tl.nr):
        if fabs(<double>m[j]) != INFINITY:  # also true for nan: nan + anything = nan
            out[tl.o[j] * os0 + tl.i[j] * os1] = <floating>(m[j] + lnorm[j])
        elif n <= CX_SHORT:
            out[tl.o[j] * os0 + tl.i[j] * os1] = <floating>_lse_unshifted(xt + j, n, cs)
        else:
            out[tl.o[j] * os0 + tl.i[j] * os1] = <floating>_lse_unshifted(xr[j], n, 1)


cdef double _lse_unshifted(const floating* x, Py_ssize_t n, Py_ssize_t s) noexcept nogil:
    # an infinite max: torch shifts by 0, giving +inf or -inf (or nan); in class order
    cdef double acc = 0.0
    cdef Py_ssize_t c
    for c in range(n):
        acc += exp(<double>x[c * s])
    return log(acc)


def softmax_backward_rows(const floating[:, :, :] g, const floating[:, :, :] y,
                          floating[:, :, :] out, bint log_out, bint use_threads):
    """Vector-Jacobian product from the forward output ``y`` along axis 1 of ``(outer, C, inner)``:
    softmax ``y (g - sum(g y))``, log_softmax ``g - exp(y) sum(g)`` (note C); ``out`` may be ``g``."""
    cdef operand go = operand3(g), yo = operand3(y), oo = operand3(out)
    cdef geometry geo = make_geometry(y.shape[0], y.shape[1], y.shape[2])
    cdef Py_ssize_t per = 2 * geo.height * geo.n, t
    cdef Py_ssize_t threads = cxent_max_threads() if use_threads else 1
    cdef floating[::1] sc = np.empty(per * threads, dtype=np.float32 if floating is float else np.float64)
    for t in prange(n_tiles(&geo), nogil=True, schedule="static", use_threads_if=use_threads):
        _backward_tile(go, yo, oo, &geo, t, log_out, &sc[0] + threadid() * per)


cdef void _backward_tile(operand g, operand y, operand out, const geometry* geo, Py_ssize_t t,
                         bint log_out, floating* scratch) noexcept nogil:
    # the row arithmetic for every C: rows gathered where their class stride is not 1
    cdef tile tl
    cdef const floating* gr[CX_LONG_TILE]
    cdef const floating* yr[CX_LONG_TILE]
    cdef floating* orow[CX_LONG_TILE]
    cdef int j
    tile_at(geo, t, &tl)
    rows_in(g, geo, &tl, scratch, gr)
    rows_in(y, geo, &tl, scratch + geo.height * geo.n, yr)
    rows_out(out, geo, &tl, scratch, orow)  # a gathered g row is overwritten by its result
    for j in range(tl.nr):
        row_softmax_bwd(gr[j], yr[j], geo.n, orow[j], log_out)
    rows_flush(out, geo, &tl, scratch)


cdef enum:
    SPAN = 512  # element-wise kernels work on spans of this many elements of the flat index


def sigmoid_flat(const floating[:, :] x, floating[:, :] out, bint log_out, bint use_threads):
    """out = sigmoid(x) = 1 / (1 + exp(-x)), or log_sigmoid(x) = min(x, 0) - log1p(exp(-|x|)), over
    ``(rows, cols)`` views walked in the same order; strided spans are gathered, so every element
    goes through the same vectorised code."""
    cdef Py_ssize_t rows = x.shape[0], cols = x.shape[1], per_row = (cols + SPAN - 1) // SPAN
    cdef Py_ssize_t t, r, j0
    cdef Py_ssize_t xs0 = x.strides[0] // sizeof(floating), xs1 = x.strides[1] // sizeof(floating)
    cdef Py_ssize_t ys0 = out.strides[0] // sizeof(floating), ys1 = out.strides[1] // sizeof(floating)
    cdef const floating* xp = &x[0, 0]
    cdef floating* yp = &out[0, 0]
    for t in prange(rows * per_row, nogil=True, schedule="static", use_threads_if=use_threads):
        r = t // per_row
        j0 = (t - r * per_row) * SPAN
        _sigmoid_span(xp + r * xs0 + j0 * xs1, xs1, min(SPAN, cols - j0), yp + r * ys0 + j0 * ys1,
                      ys1, log_out)


cdef void _sigmoid_span(const floating* x, Py_ssize_t xs, Py_ssize_t n, floating* y, Py_ssize_t ys,
                        bint log_out) noexcept nogil:
    cdef floating xb[SPAN]
    cdef floating yb[SPAN]
    cdef Py_ssize_t k
    if xs == 1 and ys == 1:
        _sigmoid(x, n, y, log_out)
        return
    for k in range(n):
        xb[k] = x[k * xs]
    _sigmoid(xb, n, yb, log_out)
    for k in range(n):
        y[k * ys] = yb[k]


cdef inline void _sigmoid(const floating* x, Py_ssize_t n, floating* y, bint log_out) noexcept nogil:
    if floating is float:
        table_f().sigmoid(x, n, y, log_out)
    else:
        table_d().sigmoid(x, n, y, log_out)
