"""Kernels of binary_cross_entropy and binary_cross_entropy_with_logits, with gradients.

A. Layout: every operand is a ``(rows, cols)`` view with its own strides; ``weight`` and ``pos_weight``
   arrive already broadcast to the input's shape (zero strides, no copy), or are absent
   (``has_w``/``has_pw`` false: any (1, 1) array is passed and never read).  The same holds for the
   per-element upstream gradient ``gout`` (reduction 'none') and the gradient output ``grad``.
B. Work is split into tasks of one row-chunk of at most CHUNK elements, a fixed partition that does not
   depend on the thread count.  With ``write_out`` the element losses go to ``out`` (reduction
   'none'); otherwise each task writes its double-precision partial sum to ``partial[task]`` and Python
   adds the partials in a fixed order: bitwise identical results for any thread count.
C. Numerics in double, rounded once: BCE clamps each log at -100 before multiplying, so 0 * (-inf)
   never occurs (torch's BCELoss docs); BCE-with-logits is torch's
   ``(1 - y) x - (1 + (pw - 1) y) logsigmoid(x)`` with ``logsigmoid(x) = min(x, 0) - log1p(exp(-|x|))``.
D. Gradients (torch-semantics section 5), written in the same sweep, times ``scale`` (and ``gout``):
   BCE ``w (p - y) / max(p (1 - p), EPS)`` with torch's EPS = float32(1e-12) for every dtype;
   BCE-with-logits ``w [(1 + (pw - 1) y) sigmoid(x) - pw y]``, finite even at x = +-inf.  Each
   element is read before its gradient is written, so ``grad`` may be the input itself.
E. BCE's range checks (input and target in [0, 1], nan rejected) run inside the kernel and are
   reported as counts, so valid input costs no extra pass; Python raises on a nonzero count.
"""

from cython.parallel cimport prange
from cython cimport floating
from libc.math cimport exp, log, log1p, fabs, fmin, fmax

from cxent._lib._rows cimport cx_kernels, cx_kernels_d
import numpy as np

cx_kernels()  # choose the SIMD table once, at import

cdef enum:
    CHUNK = 8192

# torch's BCE gradient epsilon: the float 1e-12, also for float64 (torch-semantics section 5)
cdef double BCE_EPS = <float>1e-12


def bce_2d(const floating[:, :] p, const floating[:, :] y, const floating[:, :] w,
           floating[:, :] out, double[::1] partial, bint write_out, bint has_w,
           floating[:, :] grad, const floating[:, :] gout, double scale, bint want_grad,
           bint has_gout, bint use_threads):
    """Element losses of binary_cross_entropy (and gradient); returns (bad input, bad target)."""
    cdef Py_ssize_t ncols = p.shape[1], nchunks = (ncols + CHUNK - 1) // CHUNK
    cdef Py_ssize_t ntasks = p.shape[0] * nchunks, t, r, j0
    cdef Py_ssize_t[:, ::1] bad = np.zeros((ntasks, 2), dtype=np.intp)
    cdef double acc
    for t in prange(ntasks, nogil=True, schedule="static", use_threads_if=use_threads):
        r = t // nchunks
        j0 = (t - r * nchunks) * CHUNK
        acc = _bce_span(p, y, w, out, write_out, has_w, grad, gout, scale, want_grad, has_gout,
                        r, j0, min(j0 + CHUNK, ncols), &bad[t, 0])
        if not write_out:
            partial[t] = acc
    return int(np.sum(bad[:, 0])), int(np.sum(bad[:, 1]))


cdef enum:
    LOG_SPAN = 512  # the logs of this many probabilities at a time, on the stack


cdef double _bce_span(const floating[:, :] p, const floating[:, :] y, const floating[:, :] w,
                      floating[:, :] out, bint write_out, bint has_w, floating[:, :] grad,
                      const floating[:, :] gout, double scale, bint want_grad, bint has_gout,
                      Py_ssize_t r, Py_ssize_t j0, Py_ssize_t j1, Py_ssize_t* bad) noexcept nogil:
    # One task of bce_2d: columns [j0, j1) of row r; returns the sum of the element losses (when
    # not write_out) and counts the out-of-range values into bad[0] (input) and bad[1] (target).
    # Contiguous probabilities get their two logs from the vectorised kernel, LOG_SPAN at a time.
    cdef double lp[LOG_SPAN]
    cdef double l1p[LOG_SPAN]
    cdef bint unit = p.strides[1] == sizeof(floating)
    cdef Py_ssize_t j, jb, je
    cdef double pv, yv, v, wv, gs, acc = 0.0, lpv, l1pv
    jb = j0
    while jb < j1:
        je = min(jb + LOG_SPAN, j1)
        if unit:
            if floating is float:
                cx_kernels_d().bce_logs_f(&p[r, jb], je - jb, lp, l1p)
            else:
                cx_kernels_d().bce_logs_d(&p[r, jb], je - jb, lp, l1p)
        for j in range(jb, je):
            pv = p[r, j]
            yv = y[r, j]
            wv = w[r, j] if has_w else 1.0
            if not (pv >= 0.0 and pv <= 1.0):
                bad[0] += 1
            if not (yv >= 0.0 and yv <= 1.0):
                bad[1] += 1
            if unit:
                lpv = lp[j - jb]
                l1pv = l1p[j - jb]
            else:
                lpv = fmax(log(pv), -100.0)
                l1pv = fmax(log1p(-pv), -100.0)
            v = (yv - 1.0) * l1pv - yv * lpv
            if has_w:
                v = v * wv
            if want_grad:
                gs = scale * gout[r, j] if has_gout else scale
                grad[r, j] = <floating>(gs * wv * (pv - yv) / fmax(pv * (1.0 - pv), BCE_EPS))
            if write_out:
                out[r, j] = <floating>v
            else:
                acc = acc + v
        jb = je
    return acc


def bce_logits_2d(const floating[:, :] x, const floating[:, :] y, const floating[:, :] w,
                  const floating[:, :] pos_weight, floating[:, :] out, double[::1] partial,
                  bint write_out, bint has_w, bint has_pw, floating[:, :] grad,
                  const floating[:, :] gout, double scale, bint want_grad, bint has_gout,
                  bint use_threads):
    """Element losses of binary_cross_entropy_with_logits (note C) and gradient (note D)."""
    cdef Py_ssize_t ncols = x.shape[1], nchunks = (ncols + CHUNK - 1) // CHUNK
    cdef Py_ssize_t t, r, j0, j1
    cdef double acc
    cdef bint simd = False
    if floating is float:  # vectorised when every operand is unit-stride (or broadcast) along cols
        simd = (x.strides[1] == 4 and y.strides[1] == 4
                and (not has_w or w.strides[1] in (0, 4))
                and (not has_pw or pos_weight.strides[1] in (0, 4))
                and (not write_out or out.strides[1] == 4)
                and (not want_grad or grad.strides[1] == 4)
                and (not has_gout or gout.strides[1] == 4))
    for t in prange(x.shape[0] * nchunks, nogil=True, schedule="static", use_threads_if=use_threads):
        r = t // nchunks
        j0 = (t - r * nchunks) * CHUNK
        j1 = min(j0 + CHUNK, ncols)
        if floating is float:
            if simd:
                acc = _bce_logits_span(x, y, w, pos_weight, out, grad, gout, r, j0, j1, has_w,
                                       has_pw, write_out, want_grad, has_gout, scale)
                if not write_out:
                    partial[t] = acc
                continue
        acc = _bce_logits_task(x, y, w, pos_weight, out, grad, gout, r, j0, j1, has_w, has_pw,
                               write_out, want_grad, has_gout, scale)
        if not write_out:
            partial[t] = acc


cdef double _bce_logits_task(const floating[:, :] x, const floating[:, :] y,
                             const floating[:, :] w, const floating[:, :] pos_weight,
                             floating[:, :] out, floating[:, :] grad, const floating[:, :] gout,
                             Py_ssize_t r, Py_ssize_t j0, Py_ssize_t j1, bint has_w, bint has_pw,
                             bint write_out, bint want_grad, bint has_gout,
                             double scale) noexcept nogil:
    # The general element loop of bce_logits_2d over columns [j0, j1) of row r (any strides, or
    # float64).  Contiguous float64 logits get log_sigmoid and sigmoid from the vectorised kernel,
    # LOG_SPAN at a time; otherwise libm.
    cdef double ls[LOG_SPAN]
    cdef double sg[LOG_SPAN]
    cdef bint unit = floating is double and x.strides[1] == sizeof(double)
    cdef Py_ssize_t j, jb = j0, je
    cdef double xv, yv, v, acc = 0.0, log_sig, sig, pw, wv, gs
    while jb < j1:
        je = min(jb + LOG_SPAN, j1)
        if floating is double:
            if unit:
                cx_kernels_d().sigmoid(&x[r, jb], je - jb, ls, 1)
                if want_grad:
                    cx_kernels_d().sigmoid(&x[r, jb], je - jb, sg, 0)
        for j in range(jb, je):
            xv = x[r, j]
            yv = y[r, j]
            if unit:
                log_sig = ls[j - jb]
            else:
                log_sig = fmin(xv, 0.0) - log1p(exp(-fabs(xv)))
            if has_pw:
                pw = pos_weight[r, j]
                v = (1.0 - yv) * xv - (1.0 + (pw - 1.0) * yv) * log_sig
            else:
                pw = 1.0
                v = (1.0 - yv) * xv - log_sig
            wv = w[r, j] if has_w else 1.0
            if has_w:
                v = v * wv
            if want_grad:
                gs = scale * gout[r, j] if has_gout else scale
                sig = sg[j - jb] if unit else 1.0 / (1.0 + exp(-xv))
                grad[r, j] = <floating>(gs * wv * ((1.0 + (pw - 1.0) * yv) * sig - pw * yv))
            if write_out:
                out[r, j] = <floating>v
            else:
                acc = acc + v
        jb = je
    return acc


cdef inline double _bce_logits_span(const float[:, :] x, const float[:, :] y, const float[:, :] w,
                                    const float[:, :] pw, float[:, :] out, float[:, :] grad,
                                    const float[:, :] gout, Py_ssize_t r, Py_ssize_t j0,
                                    Py_ssize_t j1, bint has_w, bint has_pw, bint write_out,
                                    bint want_grad, bint has_gout, double scale) noexcept nogil:
    # one row-chunk on the vectorised kernel; a zero-stride weight is passed as a scalar
    cdef const float* wp = NULL
    cdef const float* pp = NULL
    cdef float wsc = 1.0, psc = 1.0
    if has_w:
        if w.strides[1] == 0:
            wsc = w[r, j0]
        else:
            wp = &w[r, j0]
    if has_pw:
        if pw.strides[1] == 0:
            psc = pw[r, j0]
        else:
            pp = &pw[r, j0]
    return cx_kernels().bce_logits(&x[r, j0], &y[r, j0], j1 - j0, wp, wsc, pp, psc, has_pw,
                                   &out[r, j0] if write_out else NULL,
                                   &grad[r, j0] if want_grad else NULL,
                                   &gout[r, j0] if has_gout else NULL, <float>scale)
