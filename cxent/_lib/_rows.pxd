# cython: language_level=3
"""Row primitives shared by the kernels (inline, nogil; one fused source for float32/float64).

A "row" is the C values along the class axis of one (outer, inner) position: a pointer and a stride in
elements.  Design notes:

A. Shift by the row maximum first (``d = x - m`` in the input dtype, the order of pytorch#11752), so
   exp never overflows and torch's inf/nan semantics fall out of IEEE arithmetic (``inf - inf = nan``).
B. Sums of exp(d) accumulate in double, also for float32 inputs: more accurate than torch's float32
   lane sums (torch-semantics.md section 6), and float32 results are the correctly rounded double value.
C. The log-normaliser is ``log1p(rest)`` where ``rest`` excludes the (first) arg-max term, which is
   exactly exp(0) = 1 for a finite maximum: a dominant logit then gives a loss of ~exp(-gap) instead of
   0 (scipy#19521).  The arg-max term enters as ``exp(x[am] - m) - 1``, which is 0 for a finite maximum
   and nan for an infinite one, so +inf/-inf rows stay nan exactly as in torch.
"""

from libc.math cimport exp, log1p
from cython cimport floating


cdef inline Py_ssize_t row_argmax(const floating* x, Py_ssize_t n, Py_ssize_t s) noexcept nogil:
    """Index of the first maximum of a row of n >= 1 values (nan never wins a comparison)."""
    cdef Py_ssize_t c, am = 0
    cdef floating m = x[0]
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
    for c in range(n):
        if c != am:
            d = x[c * s] - m
            rest += exp(d)
    d = x[am * s] - m
    rest += exp(d) - 1.0
    return log1p(rest)
