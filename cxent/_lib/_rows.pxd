# cython: language_level=3
"""Row primitives shared by the kernels (inline, nogil; one fused source for float32/float64).

A "row" is the C values along the class axis of one (outer, inner) position: a pointer and a stride in
elements.  Design notes:

A. Shift by the row maximum first (``d = x - m`` in the input dtype, the order of pytorch#11752), so
   exp never overflows and torch's inf/nan semantics fall out of IEEE arithmetic (``inf - inf = nan``).
B. Sums of exp(d) accumulate in double (float32: float partials over short blocks, added in double;
   ``_simd.h`` note D), so the error does not grow with C as torch's float32 lane sums do.
C. The log-normaliser is ``log1p(rest)`` where ``rest`` excludes the (first) arg-max term, which is
   exactly exp(0) = 1 for a finite maximum: a dominant logit then gives a loss of ~exp(-gap) instead of
   0 (scipy#19521).  The arg-max term enters as ``d - d`` with ``d = x[am] - m``: 0 for a finite
   maximum and nan for an infinite one (inf - inf), so +inf/-inf rows stay nan exactly as in torch.
D. Rows with unit stride (the common, contiguous case) run the vectorised kernels of ``_simd.h``
   (AVX2+FMA or portable, chosen at run time; float32 and float64 tables); strided rows the scalar
   loops here.
"""

from libc.math cimport exp, log1p
from cython cimport floating


cdef extern from "_simd.h" nogil:
    ctypedef struct cx_kernels_t:
        const char* name
        Py_ssize_t (*argmax)(const float* x, Py_ssize_t n) noexcept nogil
        double (*sumexp)(const float* x, Py_ssize_t n, float m, Py_ssize_t skip) noexcept nogil
        double (*wdot)(const float* x, Py_ssize_t n, float m, const float* w) noexcept nogil
        void (*softmax_out)(const float* x, Py_ssize_t n, float m, float inv,
                            float* y) noexcept nogil
        void (*logsoftmax_out)(const float* x, Py_ssize_t n, float m, float lnorm,
                               float* y) noexcept nogil
        void (*grad_out)(const float* x, Py_ssize_t n, float m, float a, float k, const float* w,
                         float* g) noexcept nogil
        double (*sumexp_store)(const float* x, Py_ssize_t n, float m, Py_ssize_t skip,
                               float* y) noexcept nogil
        void (*affine)(float* g, Py_ssize_t n, float a, float k, const float* w) noexcept nogil
        void (*sigmoid)(const float* x, Py_ssize_t n, float* y, int log_out) noexcept nogil
        double (*bce_logits)(const float* x, const float* y, Py_ssize_t n, const float* w,
                             float wsc, const float* pw, float pwsc, int has_pw, float* out,
                             float* g, const float* gout, float gsc) noexcept nogil
        void (*softmax_bwd)(const float* g, const float* y, Py_ssize_t n, float* out,
                            int log_out) noexcept nogil
        double (*read_sum)(const float* x, Py_ssize_t n) noexcept nogil
        void (*lognorm_rows)(const float* x, Py_ssize_t nrows, Py_ssize_t n, float* m,
                             double* lnorm) noexcept nogil
    const cx_kernels_t* cx_kernels() noexcept
    ctypedef struct cx_kernels_d_t:
        Py_ssize_t (*argmax)(const double* x, Py_ssize_t n) noexcept nogil
        double (*sumexp)(const double* x, Py_ssize_t n, double m, Py_ssize_t skip) noexcept nogil
        double (*sumexp_store)(const double* x, Py_ssize_t n, double m, Py_ssize_t skip,
                               double* y) noexcept nogil
        void (*affine)(double* g, Py_ssize_t n, double a, double k, const double* w) noexcept nogil
        void (*bce_logs_f)(const float* p, Py_ssize_t n, double* lp, double* l1p) noexcept nogil
        void (*bce_logs_d)(const double* p, Py_ssize_t n, double* lp, double* l1p) noexcept nogil
        void (*sigmoid)(const double* x, Py_ssize_t n, double* y, int log_out) noexcept nogil
        void (*softmax_bwd)(const double* g, const double* y, Py_ssize_t n, double* out,
                            int log_out) noexcept nogil
    const cx_kernels_d_t* cx_kernels_d() noexcept


cdef inline Py_ssize_t row_argmax(const floating* x, Py_ssize_t n, Py_ssize_t s) noexcept nogil:
    """Index of the first maximum of a row of n >= 1 values (nan never wins a comparison)."""
    cdef Py_ssize_t c, am = 0
    cdef floating m = x[0]
    if s == 1:
        if floating is float:
            return cx_kernels().argmax(x, n)
        else:
            return cx_kernels_d().argmax(x, n)
    for c in range(1, n):
        if x[c * s] > m:
            m = x[c * s]
            am = c
    return am


cdef inline double row_log_norm(const floating* x, Py_ssize_t n, Py_ssize_t s,
                                Py_ssize_t am) noexcept nogil:
    """log(sum_c exp(x_c - m)) with m = x[am], as log1p of the sum without the arg-max term (note C)."""
    cdef Py_ssize_t c
    cdef floating m = x[am * s]
    cdef floating d
    cdef double rest = 0.0
    if s == 1:
        if floating is float:
            rest = cx_kernels().sumexp(x, n, m, am)
        else:
            rest = cx_kernels_d().sumexp(x, n, m, am)
        d = x[am] - m  # 0, or nan when the maximum is infinite (note C)
        return log1p(rest + <double>(d - d))
    for c in range(n):
        if c != am:
            d = x[c * s] - m
            rest += exp(d)
    d = x[am * s] - m  # 0, or nan when the maximum is infinite (note C)
    rest += <double>(d - d)
    return log1p(rest)


cdef inline double row_sumexp_store(const floating* x, Py_ssize_t n, floating m, Py_ssize_t skip,
                                    floating* y) noexcept nogil:
    """y = exp(x - m) over a contiguous row, returning the sum ``row_log_norm`` forms without the
    ``skip`` term (bit for bit)."""
    if floating is float:
        return cx_kernels().sumexp_store(x, n, m, skip, y)
    else:
        return cx_kernels_d().sumexp_store(x, n, m, skip, y)


cdef inline void row_affine(floating* g, Py_ssize_t n, double a, double k,
                            const floating* w) noexcept nogil:
    """g = a g - k w over a contiguous row (w NULL: 1); a and k rounded to the row's dtype."""
    if floating is float:
        cx_kernels().affine(g, n, <float>a, <float>k, w)
    else:
        cx_kernels_d().affine(g, n, a, k, w)


cdef inline double row_wdot(const floating* x, Py_ssize_t n, floating m,
                            const floating* w) noexcept nogil:
    """sum_c w_c (x_c - m) over a contiguous row, in double."""
    cdef Py_ssize_t c
    cdef double acc = 0.0
    if floating is float:
        return cx_kernels().wdot(x, n, m, w)
    else:
        for c in range(n):
            acc += w[c] * <double>(x[c] - m)
        return acc
