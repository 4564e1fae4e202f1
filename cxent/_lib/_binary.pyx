"""Kernels of the element-wise losses, with gradients: binary_cross_entropy,
binary_cross_entropy_with_logits and kl_div (``kind``: BCE, BCE_LOGITS, KL, KL_LOG).

A. Layout: every operand is a ``(rows, cols)`` view in logical (C) order with its own strides
   (``_layout.flat_2d``); ``weight`` and ``pos_weight`` arrive broadcast to the input's shape (zero
   strides, no copy) or absent (None), as do the per-element upstream gradient ``gout`` (reduction
   'none'), the element losses ``out`` and the gradient ``grad``.
B. The walk is over the logical flat index k = row * cols + col, whatever the layout: tasks of
   CHUNK consecutive elements (one partial sum each, a partition fixed by the size alone), split
   into spans of SPAN elements; a span that is unit-stride in every operand is read in place, any
   other is gathered into stack buffers first (and its outputs scattered after).  Every element
   and every span sum goes through the same vectorised kernels either way, and Python adds the
   partials in a fixed order: results are bitwise identical for any layout and thread count.
C. Numerics: BCE's two logs, each clamped at -100 before multiplying, so 0 * (-inf) never occurs
   (torch's BCELoss), the whole span in the table's ``bce_probs`` (``_simd.h``: vectorised, the sum
   in eight partials by element index; float32 on AVX2 and AVX-512 in float pairs, note I, else
   in double); BCE-with-logits is torch's
   ``(1 - y) x - (1 + (pw - 1) y) logsigmoid(x)`` (float32: evaluated in float32 lanes, rearranged
   to avoid torch's cancellation for x << 0, ``_simd.h``; float64: in double).
D. Gradients (torch-semantics section 5), written in the same sweep, times ``scale`` (and ``gout``):
   BCE ``w (p - y) / max(p (1 - p), EPS)`` with torch's EPS = float32(1e-12) for every dtype;
   BCE-with-logits ``w [(1 + (pw - 1) y) sigmoid(x) - pw y]``, finite even at x = +-inf.  Each
   element is read before its gradient is written, so ``grad`` may be the input itself.
F. kl_div (torch's ``kl_div``): ``xlogy(t, t) - t x`` (0 for t = 0; nan for t < 0 or nan), or
   ``exp(t) (t - x)`` with log targets, each element in double and rounded once; gradient
   ``-t`` (``-exp(t)``) times the scale.  The logs and exps in double from the vectorised kernel
   (``kl_logs``, a few ulp of double), libm's outside its range.
E. BCE's range checks (input and target in [0, 1], nan rejected) run inside the kernel and are
   reported as counts, so valid input costs no extra pass; Python raises on a nonzero count.
"""

from cython.parallel cimport prange
from cython cimport floating
from libc.math cimport exp, log, INFINITY
from libc.float cimport DBL_MIN
from libc.string cimport memset
import numpy as np

cimport numpy as cnp
from cxent._lib._rows cimport operand, array_operand, float_scalar, float_type, table_f, table_d

cnp.import_array()

cdef enum:  # bin_args.kind
    BCE = 0
    BCE_LOGITS = 1
    KL = 2
    KL_LOG = 3

cdef enum:
    CHUNK = 8192  # elements of the flat index per task (= _binary.py's _CHUNK)
    SPAN = 512  # elements per kernel call

ctypedef struct flat2:  # a (rows, cols) operand; p NULL: absent
    void* p
    Py_ssize_t s0, s1

ctypedef struct bin_args:
    flat2 x, y, w, pw, out, grad, gout
    Py_ssize_t cols, size
    double scale
    int kind


cdef inline flat2 _flat(object a, int tn) except *:
    cdef operand o = array_operand(a, 2, tn)
    cdef flat2 v
    v.p = o.p
    v.s0 = o.s0
    v.s1 = o.s2
    return v


def bce_flat(x, y, w, pos_weight, out, grad, gout, double scale, int kind, partial,
             bint use_threads):
    """Losses of binary_cross_entropy (``kind`` 0: x holds probabilities),
    binary_cross_entropy_with_logits (1) or kl_div (2; 3 with log targets; no weights) over
    same-shaped ``(rows, cols)`` float32/float64 arrays
    (absent operands None): the element losses into ``out`` (if given), each task's sum into the
    float64 ``partial`` (one per CHUNK elements), the gradient times ``scale`` (and ``gout``) into
    ``grad`` (if given).  Returns (bad input, bad target) counts (BCE's range check; 0 for
    logits)."""
    cdef int tn = float_type(x)
    cdef bin_args A
    A.x, A.y, A.w, A.pw = _flat(x, tn), _flat(y, tn), _flat(w, tn), _flat(pos_weight, tn)
    A.out, A.grad, A.gout = _flat(out, tn), _flat(grad, tn), _flat(gout, tn)
    cdef cnp.ndarray xa = x
    A.cols = cnp.PyArray_DIM(xa, 1)
    A.size = cnp.PyArray_DIM(xa, 0) * A.cols
    A.scale = scale
    if not 0 <= kind <= KL_LOG:
        raise ValueError(f"kernel operand: unknown kind {kind}")
    A.kind = kind
    cdef Py_ssize_t ntasks = (A.size + CHUNK - 1) // CHUNK
    cdef operand po = array_operand(partial, 1, cnp.NPY_FLOAT64)
    if cnp.PyArray_DIM(<cnp.ndarray>partial, 0) < ntasks or po.s1 != 1:
        raise ValueError("kernel operand: `partial` needs one contiguous float64 per task")
    cdef cnp.ndarray bad = cnp.PyArray_ZEROS(1, [2 * max(ntasks, 1)], cnp.NPY_INTP, 0)
    cdef Py_ssize_t* bp = <Py_ssize_t*>cnp.PyArray_DATA(bad)
    if tn == cnp.NPY_FLOAT32:
        _bce_run(&A, <double*>po.p, ntasks, bp, <float*>NULL, use_threads)
    else:
        _bce_run(&A, <double*>po.p, ntasks, bp, <double*>NULL, use_threads)
    cdef Py_ssize_t t, b0 = 0, b1 = 0
    for t in range(ntasks):
        b0 += bp[2 * t]
        b1 += bp[2 * t + 1]
    return b0, b1


cdef inline bint _plain(cnp.ndarray a, int tn) noexcept:
    return (cnp.PyArray_TYPE(a) == tn and cnp.PyArray_ISCARRAY_RO(a)
            and cnp.PyArray_ISNOTSWAPPED(a))


cdef int _small_weight(object v, cnp.ndarray a, int tn, flat2* f):
    # an absent weight (0), one that needs no conversion: the input's shape (1, s0 set by the
    # caller), or its last axis (C,), broadcast over the rows of a (rows, C) walk (2); else -1
    cdef cnp.ndarray w
    cdef int nd = cnp.PyArray_NDIM(a)
    f.p = NULL
    f.s0 = f.s1 = 0
    if v is None:
        return 0
    if type(v) is not cnp.ndarray:
        return -1
    w = v
    if not _plain(w, tn):
        return -1
    f.p, f.s1 = cnp.PyArray_DATA(w), 1
    if cnp.PyArray_SAMESHAPE(a, w):
        return 1
    if nd >= 1 and cnp.PyArray_NDIM(w) == 1 and cnp.PyArray_DIM(w, 0) == cnp.PyArray_DIM(a, nd - 1):
        return 2
    return -1


def bce_small(x, y, w, pw, bint logits, reduction, Py_ssize_t max_elements):
    """The gate of the common small call of both losses: same-shaped, non-empty, C-contiguous,
    aligned, native ``ndarray`` input and target of one float type, weights (``w``, and
    ``pw`` = pos_weight for logits) absent or such arrays of the input's type and shape or of its
    last axis, reduction 'mean' or 'sum', at most one task (CHUNK elements) and fewer than
    ``max_elements``.  Runs ``bce_flat``'s task routine over the ``(rows, C)`` walk, serially;
    returns the loss as a NumPy scalar of the input's type, or None for any other call and for
    BCE values outside [0, 1] (the Python layer then takes it, and reports)."""
    if (type(x) is not cnp.ndarray or type(y) is not cnp.ndarray or type(reduction) is not str
            or (reduction != "mean" and reduction != "sum") or (pw is not None and not logits)):
        return None
    cdef cnp.ndarray a = x, b = y
    cdef int tn = cnp.PyArray_TYPE(a)
    cdef Py_ssize_t n = cnp.PyArray_SIZE(a)
    cdef bin_args A
    if ((tn != cnp.NPY_FLOAT32 and tn != cnp.NPY_FLOAT64)
            or not cnp.PyArray_SAMESHAPE(a, b) or n == 0 or n > CHUNK or n >= max_elements
            or not (_plain(a, tn) and _plain(b, tn))):
        return None
    memset(&A, 0, sizeof(A))
    cdef int kw = _small_weight(w, a, tn, &A.w), kp = _small_weight(pw, a, tn, &A.pw)
    if kw < 0 or kp < 0:
        return None
    # one row, unless a weight is broadcast: then rows of the last axis (the same bits: note B)
    A.cols = cnp.PyArray_DIM(a, cnp.PyArray_NDIM(a) - 1) if kw == 2 or kp == 2 else n
    if kw == 1:
        A.w.s0 = A.cols
    if kp == 1:
        A.pw.s0 = A.cols
    A.x.p, A.x.s0, A.x.s1 = cnp.PyArray_DATA(a), A.cols, 1
    A.y.p, A.y.s0, A.y.s1 = cnp.PyArray_DATA(b), A.cols, 1
    A.size, A.scale, A.kind = n, 1.0, BCE_LOGITS if logits else BCE
    cdef Py_ssize_t bad[2]
    bad[0] = bad[1] = 0
    cdef double total
    if tn == cnp.NPY_FLOAT32:
        total = _task(&A, 0, <float*>NULL, bad)
    else:
        total = _task(&A, 0, <double*>NULL, bad)
    if bad[0] or bad[1]:
        return None
    total = total + 0.0  # as Python's sum of the partials, which starts from +0
    if reduction == "mean":
        total = total / n
    return float_scalar(total, tn)


cdef void _bce_run(const bin_args* A, double* partial, Py_ssize_t ntasks, Py_ssize_t* bad,
                   floating* kind, bint use_threads) noexcept nogil:
    cdef Py_ssize_t t
    if use_threads:
        for t in prange(ntasks, schedule="static"):
            partial[t] = _task(A, t, kind, &bad[2 * t])
    else:  # serial: no OpenMP region (it costs about a microsecond)
        for t in range(ntasks):
            partial[t] = _task(A, t, kind, &bad[2 * t])


cdef double _task(const bin_args* A, Py_ssize_t t, floating* kind, Py_ssize_t* bad) noexcept nogil:
    # one task: flat elements [t * CHUNK, ...) in spans of SPAN; ``kind`` only selects the dtype
    cdef Py_ssize_t k0 = t * CHUNK, k1 = min(k0 + CHUNK, A.size), k
    cdef double acc = 0.0
    k = k0
    while k < k1:
        acc += _span(A, k, min(SPAN, k1 - k), kind, bad)
        k += SPAN
    return acc


cdef extern from *:
    void __builtin_prefetch(const void* p) noexcept nogil


cdef inline void _prefetch(const floating* p, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t k = 0, step = 64 // sizeof(floating)
    while k < n:
        __builtin_prefetch(p + k)
        k += step


cdef inline bint _unit(flat2 a, bint bcast_ok) noexcept nogil:
    return a.p == NULL or a.s1 == 1 or (bcast_ok and a.s1 == 0)


cdef void _gather(flat2 a, Py_ssize_t r, Py_ssize_t c, Py_ssize_t cols, Py_ssize_t n,
                  floating* buf) noexcept nogil:
    cdef const floating* p = <const floating*>a.p
    cdef Py_ssize_t k
    for k in range(n):
        buf[k] = p[r * a.s0 + c * a.s1]
        c += 1
        if c == cols:
            c = 0
            r += 1


cdef void _scatter(flat2 a, Py_ssize_t r, Py_ssize_t c, Py_ssize_t cols, Py_ssize_t n,
                   const floating* buf) noexcept nogil:
    cdef floating* p = <floating*>a.p
    cdef Py_ssize_t k
    for k in range(n):
        p[r * a.s0 + c * a.s1] = buf[k]
        c += 1
        if c == cols:
            c = 0
            r += 1


cdef double _span(const bin_args* A, Py_ssize_t k0, Py_ssize_t n, floating* kind,
                  Py_ssize_t* bad) noexcept nogil:
    # One span of the flat index, in place when it lies in one row and every operand is unit-stride
    # there (weights may be broadcast: stride 0), else through stack buffers (note B).
    cdef floating xb[SPAN]
    cdef floating yb[SPAN]
    cdef floating wb[SPAN]
    cdef floating pb[SPAN]
    cdef floating ob[SPAN]
    cdef floating gb[SPAN]
    cdef floating ub[SPAN]
    cdef Py_ssize_t r = k0 // A.cols, c = k0 - r * A.cols
    cdef bint direct = (c + n <= A.cols and _unit(A.x, False) and _unit(A.y, False)
                        and _unit(A.w, True) and _unit(A.pw, True) and _unit(A.out, False)
                        and _unit(A.grad, False) and _unit(A.gout, False))
    cdef const floating* px
    cdef const floating* py
    cdef const floating* pw = NULL
    cdef const floating* ppw = NULL
    cdef const floating* pg = NULL
    cdef floating* po = NULL
    cdef floating* pgr = NULL
    cdef floating wsc = 1.0, pwsc = 1.0
    cdef double acc
    if direct:
        px = <const floating*>A.x.p + r * A.x.s0 + c
        py = <const floating*>A.y.p + r * A.y.s0 + c
        if A.w.p != NULL:
            if A.w.s1 == 0:
                wsc = (<const floating*>A.w.p)[r * A.w.s0]
            else:
                pw = <const floating*>A.w.p + r * A.w.s0 + c
        if A.pw.p != NULL:
            if A.pw.s1 == 0:
                pwsc = (<const floating*>A.pw.p)[r * A.pw.s0]
            else:
                ppw = <const floating*>A.pw.p + r * A.pw.s0 + c
        if A.out.p != NULL:
            po = <floating*>A.out.p + r * A.out.s0 + c
        if A.grad.p != NULL:
            pgr = <floating*>A.grad.p + r * A.grad.s0 + c
        if A.gout.p != NULL:
            pg = <const floating*>A.gout.p + r * A.gout.s0 + c
    else:
        _gather(A.x, r, c, A.cols, n, xb)
        _gather(A.y, r, c, A.cols, n, yb)
        px, py = xb, yb
        if A.w.p != NULL:
            _gather(A.w, r, c, A.cols, n, wb)
            pw = wb
        if A.pw.p != NULL:
            _gather(A.pw, r, c, A.cols, n, pb)
            ppw = pb
        if A.gout.p != NULL:
            _gather(A.gout, r, c, A.cols, n, ub)
            pg = ub
        if A.out.p != NULL:
            po = ob
        if A.grad.p != NULL:
            pgr = gb
    if direct and c + 2 * n <= A.cols:  # the next span's lines, ahead of the streams
        _prefetch(px + n, n)
        _prefetch(py + n, n)
    if A.kind == KL or A.kind == KL_LOG:
        acc = _kl(px, py, n, po, pgr, pg, A.scale, A.kind == KL_LOG)
    elif A.kind == BCE_LOGITS:
        if floating is float:
            acc = table_f().bce_logits(px, py, n, pw, wsc, ppw, pwsc, A.pw.p != NULL, po, pgr, pg,
                                       <float>A.scale)
        else:
            acc = table_d().bce_logits(px, py, n, pw, wsc, ppw, pwsc, A.pw.p != NULL, po, pgr, pg,
                                       A.scale)
    elif floating is float:  # BCE: note C
        acc = table_f().bce_probs(px, py, n, pw, wsc, po, pgr, pg, A.scale, bad)
    else:
        acc = table_d().bce_probs(px, py, n, pw, wsc, po, pgr, pg, A.scale, bad)
    if not direct:
        if A.out.p != NULL:
            _scatter(A.out, r, c, A.cols, n, ob)
        if A.grad.p != NULL:
            _scatter(A.grad, r, c, A.cols, n, gb)
    return acc


cdef double _kl(const floating* x, const floating* t, Py_ssize_t n, floating* out,
                floating* grad, const floating* gout, double scale, bint log_target) noexcept nogil:
    # kl_div over a contiguous span (note F): the logs (or exps) from the vectorised kernel, libm
    # for the elements outside its range (0, negative, subnormal, inf and nan targets; exps of
    # targets above 700)
    cdef double lk[SPAN]
    cdef Py_ssize_t j
    cdef double xv, tv, e, v, gs, acc = 0.0
    if floating is float:
        table_f().kl_logs(t, n, log_target, lk)
    else:
        table_d().kl_logs(t, n, log_target, lk)
    for j in range(n):
        xv = x[j]
        tv = t[j]
        if log_target:
            e = lk[j] if tv <= 700.0 else exp(tv)
            v = e * (tv - xv)
        else:
            e = tv
            if tv > DBL_MIN and tv < INFINITY:
                v = tv * lk[j] - tv * xv
            else:
                v = (0.0 if tv == 0.0 else tv * log(tv)) - tv * xv
        if grad != NULL:
            gs = scale * gout[j] if gout != NULL else scale
            grad[j] = <floating>(-(gs * e))
        if out != NULL:
            out[j] = <floating>v
        acc = acc + v
    return acc
