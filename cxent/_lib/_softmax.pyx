"""Kernels of softmax, log_softmax, logsumexp, sigmoid and log_sigmoid.

A. Layout: the Python layer views the input as ``(outer, C, inner)`` with the reduced ("class") axis in
   the middle, each dimension with its own stride, so a class axis that is not last and F-ordered
   inputs run without a transpose copy.  Element-wise kernels take ``(rows, cols)`` views.
B. Threading: ``prange`` over rows (``outer * inner``), static schedule, only when the Python layer says
   the work is large enough (``use_threads``; an OpenMP region costs microseconds).  Every output
   element depends on its own row only, so results are bitwise identical for any thread count.
C. Numerics: see ``_rows.pxd`` (shift by the max in the input dtype, double accumulation, log1p of the
   sum without the arg-max term).  The per-element math runs in double and is rounded once.
D. Kernels never validate and never allocate: the Python layer owns arrays, dtypes and shapes, and
   calls a kernel only for non-empty inputs.
"""

from cython.parallel cimport prange
from libc.math cimport exp, log, log1p, fabs, fmin, INFINITY
from cython cimport floating
cimport numpy as cnp

from cxent._lib._rows cimport (cx_kernels, cx_kernels_d, cx_kernels_t, row_affine, row_argmax,
                               row_log_norm, row_sumexp_store)

cx_kernels()  # choose the SIMD table once, at import
cnp.import_array()

# Element-wise kernels split each row into chunks of this many elements for the thread pool.
cdef enum:
    CHUNK = 8192


def softmax_rows(const floating[:, :, :] x, floating[:, :, :] out, bint log_out, bint use_threads):
    """out = softmax(x) (or log_softmax if ``log_out``) along axis 1 of ``(outer, C, inner)`` views."""
    cdef Py_ssize_t inner = x.shape[2], n = x.shape[1], nrows = x.shape[0] * x.shape[2]
    cdef Py_ssize_t xs0 = x.strides[0] // sizeof(floating), xs1 = x.strides[1] // sizeof(floating)
    cdef Py_ssize_t xs2 = x.strides[2] // sizeof(floating), ys0 = out.strides[0] // sizeof(floating)
    cdef Py_ssize_t ys1 = out.strides[1] // sizeof(floating), ys2 = out.strides[2] // sizeof(floating)
    cdef const floating* xp = &x[0, 0, 0]
    cdef floating* yp = &out[0, 0, 0]
    cdef Py_ssize_t r, o, i
    for r in prange(nrows, nogil=True, schedule="static", use_threads_if=use_threads):
        o = r // inner
        i = r - o * inner
        _softmax_row(xp + o * xs0 + i * xs2, n, xs1, yp + o * ys0 + i * ys2, ys1, log_out)


def softmax_small(x, axis, out, bint log_out, Py_ssize_t max_elements):
    """softmax (``log_out``: log_softmax) of the most common small call, in one compiled step.

    Serves an exact ``ndarray`` of shape ``(N, C)``, float32 or float64, C-contiguous, aligned and
    in native byte order, ``axis`` -1 or 1, no ``out=``, with fewer than ``max_elements`` elements
    (the serial range, where the per-call overhead matters).  The rows go through the same row
    routine as ``softmax_rows``, so the result is the general path's bit for bit.  Returns the new
    array, or None for any other call (the caller then takes the general path).
    """
    if type(x) is not cnp.ndarray or out is not None or type(axis) is not int:
        return None
    cdef cnp.ndarray a = x
    if cnp.PyArray_NDIM(a) != 2 or not (axis == -1 or axis == 1):
        return None
    cdef int xtype = cnp.PyArray_TYPE(a)
    if ((xtype != cnp.NPY_FLOAT32 and xtype != cnp.NPY_FLOAT64)
            or not cnp.PyArray_ISCARRAY_RO(a) or not cnp.PyArray_ISNOTSWAPPED(a)):
        return None
    cdef Py_ssize_t nrows = cnp.PyArray_DIM(a, 0), n = cnp.PyArray_DIM(a, 1), r
    if nrows == 0 or n == 0 or nrows * n >= max_elements:
        return None
    cdef cnp.ndarray res = cnp.PyArray_EMPTY(2, cnp.PyArray_DIMS(a), xtype, 0)
    with nogil:
        if xtype == cnp.NPY_FLOAT32:
            for r in range(nrows):
                _softmax_row(<const float*>cnp.PyArray_DATA(a) + r * n, n, 1,
                             <float*>cnp.PyArray_DATA(res) + r * n, 1, log_out)
        else:
            for r in range(nrows):
                _softmax_row(<const double*>cnp.PyArray_DATA(a) + r * n, n, 1,
                             <double*>cnp.PyArray_DATA(res) + r * n, 1, log_out)
    return res


cdef inline void _softmax_row(const floating* x, Py_ssize_t n, Py_ssize_t s,
                              floating* y, Py_ssize_t ys, bint log_out) noexcept nogil:
    # log_softmax = (x - m) - L; softmax = exp(x - m) / exp(L), with L = log sum exp(x - m).
    cdef Py_ssize_t c, am = row_argmax(x, n, s)
    cdef floating m = x[am * s]
    cdef floating d
    cdef double lnorm, inv, rest
    if s == 1 and ys == 1:  # contiguous rows: the vectorised kernels (_rows.pxd note D)
        if log_out:
            lnorm = row_log_norm(x, n, 1, am)
            if floating is float:
                cx_kernels().logsoftmax_out(x, n, m, <float>lnorm, y)
            else:
                for c in range(n):
                    y[c] = <double>(x[c] - m) - lnorm
        else:  # one exp per element: store exp(x - m), then scale by 1 / sum
            d = x[am] - m
            rest = row_sumexp_store(x, n, m, am, y) + <double>(d - d)
            row_affine(y, n, 1.0 / (1.0 + rest), 0.0, NULL)
        return
    lnorm = row_log_norm(x, n, s, am)
    if log_out:
        for c in range(n):
            d = x[c * s] - m
            y[c * ys] = <floating>(<double>d - lnorm)
    else:
        inv = exp(-lnorm)
        for c in range(n):
            d = x[c * s] - m
            y[c * ys] = <floating>(exp(d) * inv)


def logsumexp_rows(const floating[:, :, :] x, floating[:, :] out, bint use_threads):
    """out[o, i] = log(sum_c exp(x[o, c, i])), torch's rule: the shift m is 0 where |max| is inf."""
    cdef Py_ssize_t inner = x.shape[2], n = x.shape[1], nrows = x.shape[0] * x.shape[2]
    cdef Py_ssize_t xs0 = x.strides[0] // sizeof(floating), xs1 = x.strides[1] // sizeof(floating)
    cdef Py_ssize_t xs2 = x.strides[2] // sizeof(floating)
    cdef Py_ssize_t ys0 = out.strides[0] // sizeof(floating), ys1 = out.strides[1] // sizeof(floating)
    cdef const floating* xp = &x[0, 0, 0]
    cdef floating* yp = &out[0, 0]
    cdef Py_ssize_t r, o, i
    for r in prange(nrows, nogil=True, schedule="static", use_threads_if=use_threads):
        o = r // inner
        i = r - o * inner
        yp[o * ys0 + i * ys1] = <floating>_logsumexp_row(xp + o * xs0 + i * xs2, n, xs1)


cdef inline double _logsumexp_row(const floating* x, Py_ssize_t n, Py_ssize_t s) noexcept nogil:
    cdef Py_ssize_t c, am = row_argmax(x, n, s)
    cdef double m = x[am * s], acc = 0.0
    if fabs(m) != INFINITY:  # also true for nan: nan + anything = nan
        return m + row_log_norm(x, n, s, am)
    for c in range(n):  # an infinite max: torch shifts by 0, giving +inf or -inf (or nan)
        acc += exp(<double>x[c * s])
    return log(acc)


def sigmoid_2d(const floating[:, :] x, floating[:, :] out, bint log_out, bint use_threads):
    """out = sigmoid(x) = 1 / (1 + exp(-x)), or log_sigmoid(x) = min(x, 0) - log1p(exp(-|x|))."""
    cdef Py_ssize_t ncols = x.shape[1], nchunks = (ncols + CHUNK - 1) // CHUNK
    cdef Py_ssize_t xs0 = x.strides[0] // sizeof(floating), xs1 = x.strides[1] // sizeof(floating)
    cdef Py_ssize_t ys0 = out.strides[0] // sizeof(floating), ys1 = out.strides[1] // sizeof(floating)
    cdef const floating* xp = &x[0, 0]
    cdef floating* yp = &out[0, 0]
    cdef Py_ssize_t t, r, j, j0, j1
    cdef double v
    cdef bint simd = xs1 == 1 and ys1 == 1
    for t in prange(x.shape[0] * nchunks, nogil=True, schedule="static", use_threads_if=use_threads):
        r = t // nchunks
        j0 = (t - r * nchunks) * CHUNK
        j1 = min(j0 + CHUNK, ncols)
        if simd:  # contiguous: the vectorised kernels (_rows.pxd note D)
            if floating is float:
                cx_kernels().sigmoid(xp + r * xs0 + j0, j1 - j0, yp + r * ys0 + j0, log_out)
            else:
                cx_kernels_d().sigmoid(xp + r * xs0 + j0, j1 - j0, yp + r * ys0 + j0, log_out)
            continue
        for j in range(j0, j1):
            v = xp[r * xs0 + j * xs1]
            if log_out:
                yp[r * ys0 + j * ys1] = <floating>(fmin(v, 0.0) - log1p(exp(-fabs(v))))
            else:
                yp[r * ys0 + j * ys1] = <floating>(1.0 / (1.0 + exp(-v)))


cdef extern from "_omp_shim.h":
    int cxent_has_openmp() noexcept nogil
    int cxent_max_threads() noexcept nogil


def openmp_info():
    """(built with OpenMP, threads a parallel region would use now)."""
    return bool(cxent_has_openmp()), cxent_max_threads()


def simd_path():
    """The name of the float32 kernel table in use: "avx2_fma" or "portable"."""
    return cx_kernels().name.decode()


def softmax_backward_rows(const floating[:, :, :] g, const floating[:, :, :] y,
                          floating[:, :, :] out, bint log_out, bint use_threads):
    """Vector-Jacobian product from the forward output ``y`` along axis 1 of ``(outer, C, inner)``:
    softmax ``y (g - sum(g y))``, log_softmax ``g - exp(y) sum(g)``; sums in double."""
    cdef Py_ssize_t inner = y.shape[2], n = y.shape[1], nrows = y.shape[0] * y.shape[2]
    cdef Py_ssize_t gs0 = g.strides[0] // sizeof(floating), gs1 = g.strides[1] // sizeof(floating)
    cdef Py_ssize_t gs2 = g.strides[2] // sizeof(floating), ys0 = y.strides[0] // sizeof(floating)
    cdef Py_ssize_t ys1 = y.strides[1] // sizeof(floating), ys2 = y.strides[2] // sizeof(floating)
    cdef Py_ssize_t os0 = out.strides[0] // sizeof(floating)
    cdef Py_ssize_t os1 = out.strides[1] // sizeof(floating)
    cdef Py_ssize_t os2 = out.strides[2] // sizeof(floating)
    cdef const floating* gp = &g[0, 0, 0]
    cdef const floating* yp = &y[0, 0, 0]
    cdef floating* op = &out[0, 0, 0]
    cdef Py_ssize_t r, o, i
    for r in prange(nrows, nogil=True, schedule="static", use_threads_if=use_threads):
        o = r // inner
        i = r - o * inner
        _backward_row(gp + o * gs0 + i * gs2, gs1, yp + o * ys0 + i * ys2, ys1,
                      op + o * os0 + i * os2, os1, n, log_out)


cdef inline void _backward_row(const floating* g, Py_ssize_t gs, const floating* y, Py_ssize_t ys,
                               floating* out, Py_ssize_t os, Py_ssize_t n,
                               bint log_out) noexcept nogil:
    cdef Py_ssize_t c
    cdef double acc = 0.0
    if gs == 1 and ys == 1 and os == 1:  # contiguous: the vectorised kernels (_rows.pxd note D)
        if floating is float:
            cx_kernels().softmax_bwd(g, y, n, out, log_out)
        else:
            cx_kernels_d().softmax_bwd(g, y, n, out, log_out)
        return
    for c in range(n):
        if log_out:
            acc += g[c * gs]
        else:
            acc += <double>g[c * gs] * y[c * ys]
    for c in range(n):
        if log_out:
            out[c * os] = <floating>(g[c * gs] - exp(<double>y[c * ys]) * acc)
        else:
            out[c * os] = <floating>(y[c * ys] * (g[c * gs] - acc))


def stream_read_sum(const float[::1] a, bint use_threads):
    """Sum of a contiguous float32 array: a plain streaming read, the benchmark's bandwidth probe.

    Blocks of 64 Ki elements go to the thread pool; the kernel does one add per element, so its speed
    is the speed memory delivers data (private helper of ``bench/run.py``, not public API).
    """
    cdef Py_ssize_t n = a.shape[0], nblocks = (n + 65535) // 65536, b, lo, hi
    cdef double total = 0.0
    if n == 0:
        return 0.0
    cdef const float* p = &a[0]
    for b in prange(nblocks, nogil=True, schedule="static", use_threads_if=use_threads):
        lo = b * 65536
        hi = lo + 65536
        if hi > n:
            hi = n
        total += cx_kernels().read_sum(p + lo, hi - lo)
    return total
