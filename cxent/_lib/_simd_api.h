/* The kernel tables of _simd.h: types only.  _simd.h (the code) is compiled once, into
 * cxent._lib._rows; the other extension modules include this header for the types and get the
 * table pointers from _rows (Cython's cross-module cdef functions).
 *
 * float32 and float64 tables have the same members (CX_TABLE below, instantiated per type):
 *   row arithmetic (unit-stride rows of n > CX_SHORT classes):
 *     argmax, sumexp (skip the arg-max term), sumexp_store (also y = exp(x - m); same sum bit for
 *     bit), wdot (sum w (x - m)), logsoftmax_out, affine (g = a g - k w), softmax_bwd;
 *   column arithmetic (tiles of CX_LANES rows, class-major: element (row j, class c) at
 *   x[c * cs + j], for n <= CX_SHORT): col_lognorm (per-row max, sum of exp and its log1p, each
 *   row summed in class order), col_map (log_softmax: (x - m) - a; else a exp(x - m) - k w);
 *   element-wise: sigmoid / log_sigmoid, bce_logs (BCE's two clamped logs, in double),
 *     bce_logits (BCE-with-logits losses, their sum and gradient over a span).
 */
#ifndef CXENT_SIMD_API_H
#define CXENT_SIMD_API_H
#include <Python.h>

#define CX_LANES 8
#define CX_SHORT 32

#define CX_TABLE(T, NAME)                                                                     \
    typedef struct {                                                                          \
        const char *name;                                                                     \
        Py_ssize_t (*argmax)(const T *x, Py_ssize_t n);                                       \
        double (*sumexp)(const T *x, Py_ssize_t n, T m, Py_ssize_t skip);                     \
        double (*sumexp_store)(const T *x, Py_ssize_t n, T m, Py_ssize_t skip, T *y);         \
        double (*wdot)(const T *x, Py_ssize_t n, T m, const T *w);                            \
        void (*logsoftmax_out)(const T *x, Py_ssize_t n, T m, T lnorm, T *y);                 \
        void (*affine)(T *g, Py_ssize_t n, T a, T k, const T *w);                             \
        void (*softmax_bwd)(const T *g, const T *y, Py_ssize_t n, T *out, int log_out);       \
        void (*col_lognorm)(const T *x, Py_ssize_t cs, Py_ssize_t n, T *m, double *rest,      \
                            double *lnorm);                                                   \
        void (*col_map)(const T *x, Py_ssize_t cs, Py_ssize_t n, const T *m, const T *a,      \
                        const T *k, const T *w, T *y, Py_ssize_t ycs, int log_mode);          \
        void (*sigmoid)(const T *x, Py_ssize_t n, T *y, int log_out);                         \
        void (*bce_logs)(const T *p, Py_ssize_t n, double *lp, double *l1p);                  \
        double (*bce_logits)(const T *x, const T *y, Py_ssize_t n, const T *w, T wsc,         \
                             const T *pw, T pwsc, int has_pw, T *out, T *g, const T *gout,    \
                             T gsc);                                                          \
    } NAME;

CX_TABLE(float, cx_table_f)
CX_TABLE(double, cx_table_d)

#endif
