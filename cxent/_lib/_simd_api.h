/* The kernel tables of _simd.h: types only.  _simd.h (the code) is compiled once, into
 * cxent._lib._rows; the other extension modules include this header for the types and get the
 * table pointers from _rows (Cython's cross-module cdef functions).
 *
 * float32 and float64 tables have the same members (CX_TABLE below, instantiated per type):
 *   row arithmetic (rows of n > CX_SHORT classes): argmax (the first index of the max, nan never
 *     winning; none: 0), sumexp (the sum of exp(x - m), m = x[am], without the arg-max term and
 *     with the terms below FLT_MIN as 0, in an order fixed by class index alone: float32, float
 *     partials per lane of blocks of 256 classes from class 0, groups of 32 in two chains, added
 *     into four double accumulators, the tail in masked groups of 8; float64 AVX2, four double
 *     chains over groups of 16, the tail into the first; portable float64, class order; with y,
 *     also y = exp(x - m), the same sum bit for bit), wdot (sum w (x - m)), logsoftmax_out,
 *     affine (g = a g - k w), softmax_bwd; the same arithmetic down a column tile: cols_copy
 *     (`lanes` adjacent rows, a multiple of CX_LONG_TILE up to CX_GROUP_LANES, x[c * cs + j],
 *     copied in one pass into column tiles of CX_LANES rows, with each row's argmax and max;
 *     cols_uncopy writes such column tiles back to `lanes` adjacent rows), col_long (sumexp's sums, L = log1p(rest), with y the
 *     stored exps, of CX_LANES rows of a column tile, each row's bits as the unit-stride kernel's);
 *   column arithmetic (tiles of CX_LANES (16) rows, class-major: element (row j, class c) at
 *   x[c * cs + j], for n <= CX_SHORT): col_lognorm (per-row max, sum of exp and its log1p, each
 *   row summed in class order, float32 in float blocks of 8 classes added in double; with y, also
 *   y = exp(x - m), the same sums bit for bit), col_map
 *   (CX_MAP_EXP: a exp(x - m) - k w; CX_MAP_LOG: (x - m) - a; CX_MAP_AFFINE: a x - k w);
 *   layout: tile_to_rows / rows_to_tile (a tile of `lanes` (a multiple of 8) adjacent rows, x[c * cs + j],
 *     to and from unit-stride rows rows[j * n + c]: 8x8 transposes on AVX2);
 *   element-wise: sigmoid / log_sigmoid, bce_probs (BCE's losses, their sum and gradient over
 *     a span, in double; bad[0] / bad[1] grow, nonzero, where inputs / targets fall outside
 *     [0, 1] or are nan),
 *     bce_logits (BCE-with-logits losses, their sum and gradient over a span), kl_logs (kl_div's
 *     log(t) in double, or exp(t) with log targets: valid for DBL_MIN < t < inf, resp. t <= 700;
 *     the caller recomputes other elements with libm), softcap (t = tanh(x / c) with x / c rounded
 *     to T, then y = c t in T: float32 tanh in double and rounded once, float64 libm's tanh);
 *   probability targets: wq_sums (a row's sums pd[c % 8] += q (x_c - m), pq[c % 8] += q with
 *     q = w_c t_c, or w_c (t_c (1 - eps) + eps / n) when eps > 0; x_c - m in T, the rest in
 *     double, each product and sum rounded on its own (no FMA), from 0; exact_zero: the terms
 *     with x_c == m add 0).
 */
#ifndef CXENT_SIMD_API_H
#define CXENT_SIMD_API_H
#include <Python.h>

#define CX_LANES 16 /* rows per column tile */
#define CX_LONG_TILE 32 /* rows per tile of long rows (their gathers read 128 bytes per class) */
#define CX_SHORT 32
#define CX_GROUP 4 /* tiles of long rows copied at once when their rows are adjacent (_rows.pyx note C) */
#define CX_GROUP_LANES (CX_GROUP * CX_LONG_TILE)

enum { CX_MAP_EXP = 0, CX_MAP_LOG = 1, CX_MAP_AFFINE = 2 };

#define CX_TABLE(T, NAME)                                                                     \
    typedef struct {                                                                          \
        const char *name;                                                                     \
        Py_ssize_t (*argmax)(const T *x, Py_ssize_t n);                                       \
        double (*sumexp)(const T *x, Py_ssize_t n, T m, Py_ssize_t am, T *y);                 \
        double (*wdot)(const T *x, Py_ssize_t n, T m, const T *w);                            \
        void (*logsoftmax_out)(const T *x, Py_ssize_t n, T m, T lnorm, T *y);                 \
        void (*affine)(T *g, Py_ssize_t n, T a, T k, const T *w);                             \
        void (*softmax_bwd)(const T *g, const T *y, Py_ssize_t n, T *out, int log_out);       \
        void (*col_lognorm)(const T *x, Py_ssize_t cs, Py_ssize_t n, T *m, double *rest,      \
                            double *lnorm, T *y, Py_ssize_t ycs);                             \
        void (*col_long)(const T *x, Py_ssize_t cs, Py_ssize_t n, const T *m, const T *am,    \
                         double *rest, double *lnorm, T *y, Py_ssize_t ycs);                  \
        void (*cols_copy)(const T *x, Py_ssize_t cs, Py_ssize_t n, int lanes, T *out, T *m,   \
                          T *am);                                                             \
        void (*cols_uncopy)(const T *buf, Py_ssize_t n, int lanes, T *x, Py_ssize_t cs);      \
        void (*col_map)(const T *x, Py_ssize_t cs, Py_ssize_t n, const T *m, const T *a,      \
                        const T *k, const T *w, T *y, Py_ssize_t ycs, int mode);              \
        void (*tile_to_rows)(const T *x, Py_ssize_t cs, Py_ssize_t n, int lanes, T *rows);    \
        void (*rows_to_tile)(const T *rows, Py_ssize_t n, int lanes, T *x, Py_ssize_t cs);    \
        void (*sigmoid)(const T *x, Py_ssize_t n, T *y, int log_out);                         \
        double (*bce_probs)(const T *p, const T *y, Py_ssize_t n, const T *w, T wsc, T *out,  \
                            T *g, const T *gout, double gsc, Py_ssize_t *bad);                \
        double (*bce_logits)(const T *x, const T *y, Py_ssize_t n, const T *w, T wsc,         \
                             const T *pw, T pwsc, int has_pw, T *out, T *g, const T *gout,    \
                             T gsc);                                                          \
        void (*kl_logs)(const T *t, Py_ssize_t n, int log_target, double *out);               \
        void (*softcap)(const T *x, Py_ssize_t n, T c, T *y, T *t);                           \
        void (*wq_sums)(const T *x, const T *t, const T *w, Py_ssize_t n, T m, double eps,    \
                        double *pd, double *pq, int exact_zero);                              \
    } NAME;

CX_TABLE(float, cx_table_f)
CX_TABLE(double, cx_table_d)

#endif
