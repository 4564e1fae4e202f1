"""Kernels of nll_loss and cross_entropy (class-index and probability targets).

A. Layout: logits/log-probabilities as ``(N, C, inner)`` views with any strides (class axis in the
   middle, ``inner`` = product of the spatial dims d1..dk); targets and per-row outputs as ``(N, inner)``.
B. Per-row results only: each kernel writes the loss of every (n, i) position in double, plus (index
   targets) the weight w[y] that position adds to the mean's denominator.  The batch reduction happens
   once, in Python, in a fixed order: results are bitwise identical for any thread count.
C. Targets are range-checked here, before any read at ``x[y]``: a bad target is counted, its row is
   skipped, and the Python layer raises IndexError (no separate pass over the targets).  An ignored
   target is tested first, so an ignore_index outside [0, C) is fine (torch's order).
D. Cross-entropy never materialises log-probabilities: per row, one max pass and one sum-of-exp pass in
   double (``_rows.pxd``), then ``-lp[y] = L - (x[y] - m)``; label smoothing needs only
   ``sum_c w_c (x_c - m)`` from the same row.  Torch's smoothing weighting (pytorch#104776):
   ``row = (1-eps) w[y] (-lp[y]) + eps/C sum_c w_c (-lp[c])``, divided by sum w[y] for the mean.
E. Probability targets: ``row = sum_c w_c q_c lp_c`` with ``q = t (1-eps) + eps/C``; the sign and the
   mean over N*inner are applied in Python (torch's N=0 sum is -0.0).  0 * -inf = nan as in torch.
"""

from cython.parallel cimport prange
from cython cimport floating
from libc.stdint cimport int64_t
from libc.math cimport NAN

from cxent._lib._rows cimport row_argmax, row_log_norm


def class_index_rows(const floating[:, :, :] x, const int64_t[:, :] target,
                     const floating[::1] weight, bint has_ignore, int64_t ignore_index,
                     bint logits, double eps, double[:, :] loss_out, double[:, :] wsum_out,
                     bint use_threads):
    """Per-row loss of nll (``logits=False``: x holds log-probabilities) or cross-entropy.

    Writes ``loss_out[n, i]`` and ``wsum_out[n, i]`` (w[y], or 0 for an ignored row); returns the number
    of rows whose target is out of range (those rows are left as nan).
    """
    cdef Py_ssize_t inner = x.shape[2], n = x.shape[1], nrows = x.shape[0] * x.shape[2]
    cdef Py_ssize_t xs0 = x.strides[0] // sizeof(floating), xs1 = x.strides[1] // sizeof(floating)
    cdef Py_ssize_t xs2 = x.strides[2] // sizeof(floating)
    cdef Py_ssize_t ts0 = target.strides[0] // 8, ts1 = target.strides[1] // 8
    cdef Py_ssize_t ls0 = loss_out.strides[0] // 8, ls1 = loss_out.strides[1] // 8
    cdef Py_ssize_t ws0 = wsum_out.strides[0] // 8, ws1 = wsum_out.strides[1] // 8
    cdef const floating* xp = &x[0, 0, 0]
    cdef const int64_t* tp = &target[0, 0]
    cdef double* lp = &loss_out[0, 0]
    cdef double* wp = &wsum_out[0, 0]
    cdef double wtot = 0.0
    cdef Py_ssize_t r, o, i, c, nbad = 0
    cdef int64_t y
    if logits and eps > 0.0:
        for c in range(n):
            wtot += weight[c]
    for r in prange(nrows, nogil=True, schedule="static", use_threads_if=use_threads):
        o = r // inner
        i = r - o * inner
        y = tp[o * ts0 + i * ts1]
        if has_ignore and y == ignore_index:
            lp[o * ls0 + i * ls1] = 0.0
            wp[o * ws0 + i * ws1] = 0.0
        elif y < 0 or y >= n:
            lp[o * ls0 + i * ls1] = NAN
            wp[o * ws0 + i * ws1] = NAN
            nbad += 1
        else:
            wp[o * ws0 + i * ws1] = weight[y]
            if logits:
                lp[o * ls0 + i * ls1] = _xent_row(xp + o * xs0 + i * xs2, n, xs1, y, &weight[0],
                                                  eps, wtot)
            else:
                lp[o * ls0 + i * ls1] = -(weight[y] * <double>xp[o * xs0 + i * xs2 + y * xs1])
    return nbad


cdef inline double _xent_row(const floating* x, Py_ssize_t n, Py_ssize_t s, Py_ssize_t y,
                             const floating* w, double eps, double wtot) noexcept nogil:
    # -w[y] lp[y], with lp[y] = (x[y] - m) - L; plus torch's smoothing term when eps > 0 (note D).
    cdef Py_ssize_t c, am = row_argmax(x, n, s)
    cdef floating m = x[am * s]
    cdef floating d = x[y * s] - m
    cdef double lnorm = row_log_norm(x, n, s, am), wd = 0.0
    cdef double loss = -(w[y] * (<double>d - lnorm))
    if eps <= 0.0:
        return loss
    for c in range(n):
        d = x[c * s] - m
        wd += w[c] * <double>d
    return (1.0 - eps) * loss + (eps / n) * (lnorm * wtot - wd)


def class_prob_rows(const floating[:, :, :] x, const floating[:, :, :] target,
                    const floating[::1] weight, double eps, double[:, :] loss_out,
                    bint use_threads):
    """loss_out[n, i] = sum_c w_c q_c lp_c (not negated) with q = target (1-eps) + eps/C (note E)."""
    cdef Py_ssize_t inner = x.shape[2], n = x.shape[1], nrows = x.shape[0] * x.shape[2]
    cdef Py_ssize_t xs0 = x.strides[0] // sizeof(floating), xs1 = x.strides[1] // sizeof(floating)
    cdef Py_ssize_t xs2 = x.strides[2] // sizeof(floating)
    cdef Py_ssize_t ts0 = target.strides[0] // sizeof(floating)
    cdef Py_ssize_t ts1 = target.strides[1] // sizeof(floating)
    cdef Py_ssize_t ts2 = target.strides[2] // sizeof(floating)
    cdef Py_ssize_t ls0 = loss_out.strides[0] // 8, ls1 = loss_out.strides[1] // 8
    cdef const floating* xp = &x[0, 0, 0]
    cdef const floating* tp = &target[0, 0, 0]
    cdef double* lp = &loss_out[0, 0]
    cdef Py_ssize_t r, o, i
    for r in prange(nrows, nogil=True, schedule="static", use_threads_if=use_threads):
        o = r // inner
        i = r - o * inner
        lp[o * ls0 + i * ls1] = _prob_row(xp + o * xs0 + i * xs2, n, xs1,
                                          tp + o * ts0 + i * ts2, ts1, &weight[0], eps)


cdef inline double _prob_row(const floating* x, Py_ssize_t n, Py_ssize_t s, const floating* t,
                             Py_ssize_t ts, const floating* w, double eps) noexcept nogil:
    # sum_c w_c q_c ((x_c - m) - L) = sum_c w_c q_c (x_c - m) - L sum_c w_c q_c
    cdef Py_ssize_t c, am = row_argmax(x, n, s)
    cdef floating m = x[am * s]
    cdef floating d
    cdef double lnorm = row_log_norm(x, n, s, am), q, wqd = 0.0, wq = 0.0
    for c in range(n):
        q = t[c * ts]
        if eps > 0.0:
            q = q * (1.0 - eps) + eps / n
        d = x[c * s] - m
        wqd += w[c] * q * <double>d
        wq += w[c] * q
    return wqd - lnorm * wq
