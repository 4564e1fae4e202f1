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
from libc.math cimport exp, log, log1p, fabs, INFINITY
from libc.stdlib cimport free
from cython cimport floating
import numpy as np

cimport numpy as cnp
from cxent._lib._rows cimport (scratch, strided, CX_LANES, CX_LONG_TILE, CX_SHORT, CX_MAP_LOG, CX_MAP_AFFINE, operand,
                               array_operand, float_type, geometry, tile,
                               make_geometry, n_tiles, tile_at, lane_offset, cols_in, cols_out,
                               cols_flush, rows_in, rows_out, rows_flush, row_argmax, row_lognorm, row_rest, row_max, row_sum, row_norm, row_max_of, split_rows,
                               long_cols, long_cols_in, half_tile, group_of, long_group,
                               long_group_in, group_flush, CX_GROUP, CX_GROUP_LANES,
                               col_lognorm, col_map, row_affine, row_logsoftmax_out,
                               row_softmax_bwd, table_f, table_d)


cdef extern from "_omp_shim.h":
    int cxent_has_openmp() noexcept nogil
    int cxent_max_threads() noexcept nogil


cnp.import_array()


def openmp_info():
    """(built with OpenMP, threads a parallel region would use now)."""
    return bool(cxent_has_openmp()), cxent_max_threads()


cdef inline geometry geometry3(x):
    cdef cnp.ndarray a = x
    return make_geometry(cnp.PyArray_DIM(a, 0), cnp.PyArray_DIM(a, 1), cnp.PyArray_DIM(a, 2))


def softmax_rows(x, out, bint log_out, bint use_threads):
    """out = softmax(x) (or log_softmax if ``log_out``) along axis 1 of ``(outer, C, inner)``
    arrays of one float dtype, any strides."""
    cdef int tn = float_type(x)
    cdef operand xo = array_operand(x, 3, tn), yo = array_operand(out, 3, tn)
    cdef geometry g = geometry3(x)
    cdef Py_ssize_t per
    cdef void* sc
    buf = scratch(&g, (CX_GROUP if group_of(xo, &g) > 1 else 2) if g.n > CX_SHORT and strided(xo, yo, yo)
                  else 0, tn, use_threads, &per, &sc)  # long rows: a copied or gathered input tile
    # and an output tile, or a group's copy (note A)
    if tn == cnp.NPY_FLOAT32:
        _softmax_run(xo, yo, &g, log_out, <float*>sc, per, use_threads)
    else:
        _softmax_run(xo, yo, &g, log_out, <double*>sc, per, use_threads)


cdef inline bint _small_2d(object x, int tn, Py_ssize_t max_elements):
    # a non-empty C-contiguous, aligned, native 2-d ndarray of type tn, below max_elements
    if type(x) is not cnp.ndarray:
        return False
    cdef cnp.ndarray a = x
    return (cnp.PyArray_NDIM(a) == 2 and cnp.PyArray_TYPE(a) == tn and cnp.PyArray_ISCARRAY_RO(a)
            and cnp.PyArray_ISNOTSWAPPED(a) and 0 < cnp.PyArray_SIZE(a) < max_elements)


cdef inline bint _apart(cnp.ndarray a, cnp.ndarray b):
    # the buffers of two C-contiguous arrays share no byte
    cdef char* pa = <char*>cnp.PyArray_DATA(a)
    cdef char* pb = <char*>cnp.PyArray_DATA(b)
    return pa + cnp.PyArray_NBYTES(a) <= pb or pb + cnp.PyArray_NBYTES(b) <= pa


def rows_small(int kind, x, y, axis, Py_ssize_t max_elements, out=None):
    """The gate of the common small call of the row functions along the last axis: ``kind`` 0
    softmax, 1 log_softmax (of ``x``), 2 logsumexp (of ``x``, no ``keepdims``), 3
    softmax_backward, 4 log_softmax_backward (``x`` = grad_output, ``y`` = output, of the same
    shape and type).  Each array a non-empty C-contiguous, aligned, native float32/float64
    ``(N, C)`` ``ndarray`` of fewer than ``max_elements`` elements, ``axis`` -1 or 1 (a Python
    int).  ``out``: None (a new array), or for kinds other than 2 a writeable array of the same
    kind, shape and type that is ``x`` itself (kinds 0 and 1: in place) or shares no byte with the
    inputs.  Runs the same tile routine as ``softmax_rows``, ``logsumexp_rows`` or
    ``softmax_backward_rows``, serially; returns the result (``out`` when given), or None for any
    other call (the Python layer then takes it)."""
    if type(x) is not cnp.ndarray or type(axis) is not int or not (axis == -1 or axis == 1):
        return None
    cdef int tn = cnp.PyArray_TYPE(<cnp.ndarray>x)
    if ((tn != cnp.NPY_FLOAT32 and tn != cnp.NPY_FLOAT64) or not _small_2d(x, tn, max_elements)
            or (kind >= 3 and not (_small_2d(y, tn, max_elements)
                                   and cnp.PyArray_SAMESHAPE(<cnp.ndarray>x, <cnp.ndarray>y)))):
        return None
    cdef cnp.ndarray a = x, res
    if out is not None:
        if (kind == 2 or not _small_2d(out, tn, max_elements)
                or not cnp.PyArray_ISWRITEABLE(<cnp.ndarray>out)
                or not cnp.PyArray_SAMESHAPE(a, <cnp.ndarray>out)):
            return None
        res = out
        if not ((res is a and kind <= 1) or (_apart(res, a)
                                            and (kind < 3 or _apart(res, <cnp.ndarray>y)))):
            return None
    cdef Py_ssize_t nrows = cnp.PyArray_DIM(a, 0), n = cnp.PyArray_DIM(a, 1)
    if out is None:
        res = cnp.PyArray_EMPTY(1 if kind == 2 else 2, cnp.PyArray_DIMS(a), tn, 0)
    cdef operand xo, yo, ro
    xo.p, xo.s0, xo.s1, xo.s2 = cnp.PyArray_DATA(a), n, 1, 0
    ro.p, ro.s0, ro.s1, ro.s2 = cnp.PyArray_DATA(res), 1 if kind == 2 else n, 1, 0
    if kind >= 3:
        yo.p, yo.s0, yo.s1, yo.s2 = cnp.PyArray_DATA(<cnp.ndarray>y), n, 1, 0
    cdef geometry g = make_geometry(nrows, n, 1)
    if tn == cnp.NPY_FLOAT32:  # unit-stride rows: nothing is gathered, no scratch
        _rows_small_run(kind, xo, yo, ro, &g, <float*>NULL)
    else:
        _rows_small_run(kind, xo, yo, ro, &g, <double*>NULL)
    return res


cdef void _rows_small_run(int kind, operand xo, operand yo, operand ro, const geometry* g,
                          floating* sc) noexcept nogil:
    cdef bint log_out = kind == 1 or kind == 4
    if kind <= 1:
        _softmax_run(xo, ro, g, log_out, sc, 0, False)
    elif kind == 2:
        _logsumexp_run(xo, ro, g, sc, 0, False)
    else:
        _backward_run(xo, yo, ro, g, log_out, sc, 0, False)


cdef void _softmax_run(operand x, operand y, const geometry* g, bint log_out, floating* sc,
                       Py_ssize_t per, bint use_threads) noexcept nogil:
    cdef Py_ssize_t u, k = group_of(x, g), nu = (n_tiles(g) + k - 1) // k
    # fewer long rows than threads: their statistics in parallel (pre), then the tiles serially
    cdef row_norm* pre = split_rows(<const floating*>x.p, x, g, use_threads)
    if use_threads and pre == NULL:
        for u in prange(nu, schedule="static"):
            _softmax_unit(x, y, g, u * k, k, log_out, sc + threadid() * per, NULL)
    else:  # serial: no OpenMP region (it costs about a microsecond)
        for u in range(nu):
            _softmax_unit(x, y, g, u * k, k, log_out, sc, pre)
    free(pre)


cdef void _softmax_unit(operand x, operand y, const geometry* g, Py_ssize_t t0, Py_ssize_t k,
                        bint log_out, floating* scratch, const row_norm* pre) noexcept nogil:
    # k tiles from t0: copied at once and computed down the copy's columns (long_group), the
    # output written into the copy and then flushed, or tile by tile
    cdef tile tl, sub
    cdef floating m[CX_GROUP_LANES]
    cdef floating am[CX_GROUP_LANES]
    cdef operand nowhere
    cdef floating* blk
    cdef Py_ssize_t t
    cdef int h
    if k > 1 and long_group(x, g, t0):
        long_group_in(x, g, t0, scratch, m, am)
        nowhere.p = NULL
        for t in range(k):
            tile_at(g, t0 + t, &tl)
            for h in range(2):
                half_tile(&tl, h, &sub)
                blk = scratch + (2 * t + h) * CX_LANES * g.n
                _softmax_cols(blk, CX_LANES, True, m + (2 * t + h) * CX_LANES,
                              am + (2 * t + h) * CX_LANES, nowhere, g, &sub, log_out, blk)
        group_flush(y, g, t0, scratch)
        return
    for t in range(t0, min(t0 + k, n_tiles(g))):
        _softmax_tile(x, y, g, t, log_out, scratch, pre)


cdef void _softmax_tile(operand x, operand y, const geometry* g, Py_ssize_t t, bint log_out,
                        floating* scratch, const row_norm* pre) noexcept nogil:
    cdef tile tl, sub
    cdef floating xs[CX_LANES * CX_SHORT]
    cdef floating ys[CX_LANES * CX_SHORT]
    cdef floating m[CX_LONG_TILE]
    cdef floating am[CX_LONG_TILE]
    cdef floating lnorm
    cdef Py_ssize_t cs
    cdef const floating* xt
    cdef const floating* xr[CX_LONG_TILE]
    cdef floating* yr[CX_LONG_TILE]
    cdef row_norm rn
    cdef int j
    tile_at(g, t, &tl)
    if g.n <= CX_SHORT:  # column arithmetic, 16 rows per tile, 8 per vector
        xt = cols_in(x, g, &tl, xs, &cs)
        _softmax_cols(xt, cs, xt == xs, m, NULL, y, g, &tl, log_out, ys)
        return
    if long_cols(x, g, &tl, False, sizeof(floating)):  # the row arithmetic down a copy's columns
        long_cols_in(x, g, &tl, scratch, m, am)
        for j in range(2):
            half_tile(&tl, j, &sub)
            _softmax_cols(scratch + j * CX_LANES * g.n, CX_LANES, True, m + j * CX_LANES,
                          am + j * CX_LANES, y, g, &sub, log_out, scratch + CX_LONG_TILE * g.n)
        return
    rows_in(x, g, &tl, scratch, xr)
    rows_out(y, g, &tl, scratch, yr)  # a gathered row is overwritten by its own result
    for j in range(tl.nr):
        row_max_of(xr[j], g.n, pre, tl.o[j] * g.inner + tl.i[j], &rn)
        if log_out:
            lnorm = <floating>log1p(row_sum(xr[j], g.n, &rn, NULL))
            row_logsoftmax_out(xr[j], g.n, xr[j][rn.am], lnorm, yr[j])
        else:  # one exp per element: store exp(x - m), then scale by 1 / sum
            row_affine(yr[j], g.n, 1.0 / (1.0 + row_sum(xr[j], g.n, &rn, yr[j])), 0.0, NULL)
    rows_flush(y, g, &tl, scratch)


cdef void _softmax_cols(const floating* xt, Py_ssize_t cs, bint private, floating* m,
                        const floating* am, operand y, const geometry* g, const tile* tl,
                        bint log_out, floating* ys) noexcept nogil:
    # a column tile xt (short rows, or half a tile of long rows with their arg-max am and max
    # m); private: xt is a copy, which may be overwritten; ys: room for an output tile that is
    # not in place
    cdef floating a[CX_LANES]
    cdef double rest[CX_LANES]
    cdef double lnorm[CX_LANES]
    cdef Py_ssize_t ycs, ecs, n = g.n
    cdef floating* yt = cols_out(y, tl, ys, &ycs)
    cdef floating* et
    cdef int j
    if log_out:
        col_lognorm(xt, cs, n, m, am, rest, lnorm, NULL, 0)
        for j in range(CX_LANES):
            a[j] = <floating>lnorm[j]
        col_map(xt, cs, n, m, a, NULL, NULL, yt, ycs, CX_MAP_LOG)
    else:  # one exp per element: exp(x - m) stored by the sum pass (into the private copy if
        # there is one, else into the output), then scaled into the output
        et, ecs = (<floating*>xt, cs) if private else (yt, ycs)
        col_lognorm(xt, cs, n, m, am, rest, lnorm, et, ecs)
        for j in range(CX_LANES):
            a[j] = <floating>(1.0 / (1.0 + rest[j]))
        col_map(et, ecs, n, m, a, NULL, NULL, yt, ycs, CX_MAP_AFFINE)
    cols_flush(y, g, tl, yt)


def logsumexp_rows(x, out, bint use_threads):
    """out[o, i] = log(sum_c exp(x[o, c, i])), torch's rule: the shift m is 0 where |max| is inf;
    ``out`` is ``(outer, inner)``."""
    cdef int tn = float_type(x)
    cdef operand xo = array_operand(x, 3, tn), oo = array_operand(out, 2, tn)
    cdef geometry g = geometry3(x)
    cdef Py_ssize_t per
    cdef void* sc
    buf = scratch(&g, (CX_GROUP if group_of(xo, &g) > 1 else 1) if g.n > CX_SHORT and strided(xo, xo, xo)
                  else 0, tn, use_threads, &per, &sc)
    if tn == cnp.NPY_FLOAT32:
        _logsumexp_run(xo, oo, &g, <float*>sc, per, use_threads)
    else:
        _logsumexp_run(xo, oo, &g, <double*>sc, per, use_threads)


cdef void _logsumexp_run(operand x, operand out, const geometry* g, floating* sc, Py_ssize_t per,
                         bint use_threads) noexcept nogil:
    cdef Py_ssize_t u, k = group_of(x, g), nu = (n_tiles(g) + k - 1) // k
    # fewer long rows than threads: their statistics in parallel (pre), then the tiles serially
    cdef row_norm* pre = split_rows(<const floating*>x.p, x, g, use_threads)
    if use_threads and pre == NULL:
        for u in prange(nu, schedule="static"):
            _logsumexp_unit(x, <floating*>out.p, out.s0, out.s2, g, u * k, k, sc + threadid() * per,
                            NULL)
    else:  # serial: no OpenMP region (it costs about a microsecond)
        for u in range(nu):
            _logsumexp_unit(x, <floating*>out.p, out.s0, out.s2, g, u * k, k, sc, pre)
    free(pre)


cdef void _logsumexp_unit(operand x, floating* out, Py_ssize_t os0, Py_ssize_t os1,
                          const geometry* g, Py_ssize_t t0, Py_ssize_t k, floating* scratch,
                          const row_norm* pre) noexcept nogil:
    # k tiles from t0, copied at once (long_group) or tile by tile
    cdef tile tl, sub
    cdef floating m[CX_GROUP_LANES]
    cdef floating am[CX_GROUP_LANES]
    cdef Py_ssize_t t, c
    cdef int h
    if k > 1 and long_group(x, g, t0):
        long_group_in(x, g, t0, scratch, m, am)
        for t in range(k):
            tile_at(g, t0 + t, &tl)
            for h in range(2):
                half_tile(&tl, h, &sub)
                c = (2 * t + h) * CX_LANES
                _logsumexp_cols(scratch + c * g.n, CX_LANES, m + c, am + c, out, os0, os1, g, &sub)
        return
    for t in range(t0, min(t0 + k, n_tiles(g))):
        _logsumexp_tile(x, out, os0, os1, g, t, scratch, pre)


cdef void _logsumexp_tile(operand x, floating* out, Py_ssize_t os0, Py_ssize_t os1,
                          const geometry* g, Py_ssize_t t, floating* scratch,
                          const row_norm* pre) noexcept nogil:
    cdef tile tl, sub
    cdef floating xs[CX_LANES * CX_SHORT]
    cdef floating m[CX_LONG_TILE]
    cdef floating am[CX_LONG_TILE]
    cdef double lnorm
    cdef Py_ssize_t cs
    cdef const floating* xt
    cdef const floating* xr[CX_LONG_TILE]
    cdef row_norm rn
    cdef int j
    tile_at(g, t, &tl)
    if g.n <= CX_SHORT:
        xt = cols_in(x, g, &tl, xs, &cs)
        _logsumexp_cols(xt, cs, m, NULL, out, os0, os1, g, &tl)
        return
    if long_cols(x, g, &tl, True, sizeof(floating)):
        long_cols_in(x, g, &tl, scratch, m, am)
        for j in range(2):
            half_tile(&tl, j, &sub)
            _logsumexp_cols(scratch + j * CX_LANES * g.n, CX_LANES, m + j * CX_LANES,
                            am + j * CX_LANES, out, os0, os1, g, &sub)
        return
    rows_in(x, g, &tl, scratch, xr)
    for j in range(tl.nr):
        row_max_of(xr[j], g.n, pre, tl.o[j] * g.inner + tl.i[j], &rn)
        lnorm = log1p(row_sum(xr[j], g.n, &rn, NULL))
        out[tl.o[j] * os0 + tl.i[j] * os1] = <floating>_lse(xr[j][rn.am], lnorm, xr[j], g.n, 1)


cdef void _logsumexp_cols(const floating* xt, Py_ssize_t cs, floating* m, const floating* am,
                          floating* out, Py_ssize_t os0, Py_ssize_t os1, const geometry* g,
                          const tile* tl) noexcept nogil:
    cdef double rest[CX_LANES]
    cdef double lnorm[CX_LANES]
    cdef int j
    col_lognorm(xt, cs, g.n, m, am, rest, lnorm, NULL, 0)
    for j in range(tl.nr):
        out[tl.o[j] * os0 + tl.i[j] * os1] = <floating>_lse(m[j], lnorm[j], xt + j, g.n, cs)


cdef inline double _lse(floating m, double lnorm, const floating* x, Py_ssize_t n,
                        Py_ssize_t s) noexcept nogil:
    if fabs(<double>m) != INFINITY:  # also true for nan: nan + anything = nan
        return <double>m + lnorm
    return _lse_unshifted(x, n, s)


cdef double _lse_unshifted(const floating* x, Py_ssize_t n, Py_ssize_t s) noexcept nogil:
    # an infinite max: torch shifts by 0, giving +inf or -inf (or nan); in class order
    cdef double acc = 0.0
    cdef Py_ssize_t c
    for c in range(n):
        acc += exp(<double>x[c * s])
    return log(acc)


def softmax_backward_rows(g, y, out, bint log_out, bint use_threads):
    """Vector-Jacobian product from the forward output ``y`` along axis 1 of ``(outer, C, inner)``
    arrays: softmax ``y (g - sum(g y))``, log_softmax ``g - exp(y) sum(g)`` (note C); ``out`` may
    be ``g``."""
    cdef int tn = float_type(y)
    cdef operand go = array_operand(g, 3, tn), yo = array_operand(y, 3, tn)
    cdef operand oo = array_operand(out, 3, tn)
    cdef geometry geo = geometry3(y)
    cdef Py_ssize_t per
    cdef void* sc
    buf = scratch(&geo, 2 if strided(go, yo, oo) else 0, tn, use_threads, &per, &sc)
    if tn == cnp.NPY_FLOAT32:
        _backward_run(go, yo, oo, &geo, log_out, <float*>sc, per, use_threads)
    else:
        _backward_run(go, yo, oo, &geo, log_out, <double*>sc, per, use_threads)


cdef void _backward_run(operand g, operand y, operand out, const geometry* geo, bint log_out,
                        floating* sc, Py_ssize_t per, bint use_threads) noexcept nogil:
    cdef Py_ssize_t t
    if use_threads:
        for t in prange(n_tiles(geo), schedule="static"):
            _backward_tile(g, y, out, geo, t, log_out, sc + threadid() * per)
    else:  # serial: no OpenMP region (it costs about a microsecond)
        for t in range(n_tiles(geo)):
            _backward_tile(g, y, out, geo, t, log_out, sc)


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


def sigmoid_small(x, bint log_out, Py_ssize_t max_elements):
    """The gate of the common small call of sigmoid/log_sigmoid: a non-empty C-contiguous, aligned,
    native float32/float64 ``ndarray`` of fewer than ``max_elements`` elements, no ``out=``.  Runs
    the same span routine as ``sigmoid_flat``, serially, into a new array; None for any other
    call (the Python layer then takes it)."""
    if type(x) is not cnp.ndarray:
        return None
    cdef cnp.ndarray a = x
    cdef int tn = cnp.PyArray_TYPE(a)
    cdef Py_ssize_t n = cnp.PyArray_SIZE(a)
    if ((tn != cnp.NPY_FLOAT32 and tn != cnp.NPY_FLOAT64) or not cnp.PyArray_ISCARRAY_RO(a)
            or not cnp.PyArray_ISNOTSWAPPED(a) or n == 0 or n >= max_elements):
        return None
    cdef cnp.ndarray res = cnp.PyArray_EMPTY(cnp.PyArray_NDIM(a), cnp.PyArray_DIMS(a), tn, 0)
    cdef operand xo, yo
    xo.p, xo.s0, xo.s1, xo.s2 = cnp.PyArray_DATA(a), 0, 0, 1
    yo.p, yo.s0, yo.s1, yo.s2 = cnp.PyArray_DATA(res), 0, 0, 1
    if tn == cnp.NPY_FLOAT32:
        _sigmoid_run(<const float*>xo.p, xo, <float*>yo.p, yo, 1, n, log_out, False)
    else:
        _sigmoid_run(<const double*>xo.p, xo, <double*>yo.p, yo, 1, n, log_out, False)
    return res


def sigmoid_flat(x, out, bint log_out, bint use_threads):
    """out = sigmoid(x) = 1 / (1 + exp(-x)), or log_sigmoid(x) = min(x, 0) - log1p(exp(-|x|)), over
    ``(rows, cols)`` arrays walked in the same order; strided spans are gathered, so every element
    goes through the same vectorised code."""
    cdef int tn = float_type(x)
    cdef operand xo = array_operand(x, 2, tn), yo = array_operand(out, 2, tn)
    cdef cnp.ndarray a = x
    cdef Py_ssize_t rows = cnp.PyArray_DIM(a, 0), cols = cnp.PyArray_DIM(a, 1)
    if tn == cnp.NPY_FLOAT32:
        _sigmoid_run(<const float*>xo.p, xo, <float*>yo.p, yo, rows, cols, log_out, use_threads)
    else:
        _sigmoid_run(<const double*>xo.p, xo, <double*>yo.p, yo, rows, cols, log_out, use_threads)


cdef void _sigmoid_run(const floating* xp, operand x, floating* yp, operand y, Py_ssize_t rows,
                       Py_ssize_t cols, bint log_out, bint use_threads) noexcept nogil:
    cdef Py_ssize_t per_row = (cols + SPAN - 1) // SPAN, t, r, j0
    if use_threads:
        for t in prange(rows * per_row, schedule="static"):
            r = t // per_row
            j0 = (t - r * per_row) * SPAN
            _sigmoid_span(xp + r * x.s0 + j0 * x.s2, x.s2, min(SPAN, cols - j0), yp + r * y.s0 + j0 * y.s2,
                          y.s2, log_out)
    else:  # serial: no OpenMP region (it costs about a microsecond)
        for t in range(rows * per_row):
            r = t // per_row
            j0 = (t - r * per_row) * SPAN
            _sigmoid_span(xp + r * x.s0 + j0 * x.s2, x.s2, min(SPAN, cols - j0), yp + r * y.s0 + j0 * y.s2,
                          y.s2, log_out)


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
