"""Kernels of binary_cross_entropy and binary_cross_entropy_with_logits.

A. Layout: every operand is a ``(rows, cols)`` view with its own strides; ``weight`` and ``pos_weight``
   arrive already broadcast to the input's shape (zero strides, no copy), or are absent
   (``has_w``/``has_pw`` false: any (1, 1) array is passed and never read).
B. Work is split into tasks of one row-chunk of at most CHUNK elements, a fixed partition that does not
   depend on the thread count.  With ``write_out`` the element losses go to ``out`` (reduction
   'none'); otherwise each task writes its double-precision partial sum to ``partial[task]`` and Python
   adds the partials in a fixed order: bitwise identical results for any thread count.
C. Numerics in double, rounded once: BCE clamps each log at -100 before multiplying, so 0 * (-inf)
   never occurs (torch's BCELoss docs); BCE-with-logits is torch's
   ``(1 - y) x - (1 + (pw - 1) y) logsigmoid(x)`` with ``logsigmoid(x) = min(x, 0) - log1p(exp(-|x|))``.
D. BCE's range checks (input and target in [0, 1], nan rejected) run inside the kernel and are
   reported as counts, so valid input costs no extra pass; Python raises on a nonzero count.
"""

from cython.parallel cimport prange
from cython cimport floating
from libc.math cimport exp, log, log1p, fabs, fmin, fmax

cdef enum:
    CHUNK = 8192


def bce_2d(const floating[:, :] p, const floating[:, :] y, const floating[:, :] w,
           floating[:, :] out, double[::1] partial, bint write_out, bint has_w, bint use_threads):
    """Element losses of binary_cross_entropy; returns (bad input count, bad target count)."""
    cdef Py_ssize_t ncols = p.shape[1], nchunks = (ncols + CHUNK - 1) // CHUNK
    cdef Py_ssize_t t, r, j, j0, j1, bad_p = 0, bad_y = 0
    cdef double pv, yv, v, acc
    for t in prange(p.shape[0] * nchunks, nogil=True, schedule="static", use_threads_if=use_threads):
        r = t // nchunks
        j0 = (t - r * nchunks) * CHUNK
        j1 = min(j0 + CHUNK, ncols)
        acc = 0.0
        for j in range(j0, j1):
            pv = p[r, j]
            yv = y[r, j]
            if not (pv >= 0.0 and pv <= 1.0):
                bad_p += 1
            if not (yv >= 0.0 and yv <= 1.0):
                bad_y += 1
            v = (yv - 1.0) * fmax(log1p(-pv), -100.0) - yv * fmax(log(pv), -100.0)
            if has_w:
                v = v * w[r, j]
            if write_out:
                out[r, j] = <floating>v
            else:
                acc = acc + v
        if not write_out:
            partial[t] = acc
    return bad_p, bad_y


def bce_logits_2d(const floating[:, :] x, const floating[:, :] y, const floating[:, :] w,
                  const floating[:, :] pos_weight, floating[:, :] out, double[::1] partial,
                  bint write_out, bint has_w, bint has_pw, bint use_threads):
    """Element losses of binary_cross_entropy_with_logits (note C); same output protocol as bce_2d."""
    cdef Py_ssize_t ncols = x.shape[1], nchunks = (ncols + CHUNK - 1) // CHUNK
    cdef Py_ssize_t t, r, j, j0, j1
    cdef double xv, yv, v, acc, log_sig
    for t in prange(x.shape[0] * nchunks, nogil=True, schedule="static", use_threads_if=use_threads):
        r = t // nchunks
        j0 = (t - r * nchunks) * CHUNK
        j1 = min(j0 + CHUNK, ncols)
        acc = 0.0
        for j in range(j0, j1):
            xv = x[r, j]
            yv = y[r, j]
            log_sig = fmin(xv, 0.0) - log1p(exp(-fabs(xv)))
            if has_pw:
                v = (1.0 - yv) * xv - (1.0 + (pos_weight[r, j] - 1.0) * yv) * log_sig
            else:
                v = (1.0 - yv) * xv - log_sig
            if has_w:
                v = v * w[r, j]
            if write_out:
                out[r, j] = <floating>v
            else:
                acc = acc + v
        if not write_out:
            partial[t] = acc
