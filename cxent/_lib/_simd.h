/* Vectorised row kernels for cxent (float32 and float64), with run-time dispatch.
 *
 * A. One source, two builds: the CX_DEFINE_KERNELS template below is expanded once with
 *    __attribute__((target("avx2,fma"))) (the x86-64-v3 path: GCC/Clang vectorise the loops 8 wide
 *    with hardware FMA) and once for the baseline ISA the extension is compiled for (SSE2 on
 *    x86-64, NEON etc. elsewhere).  No -march=native, no -ffast-math: the loops vectorise because the
 *    math is branch-free plain C and the reductions carry `#pragma omp simd reduction`.
 * B. cx_table_f32() picks the table once (cx_simd_level): AVX-512 (F, VL, DQ, BW) when the CPU
 *    has it and CXENT_SIMD is neither "avx2" nor "portable" (G); AVX2+FMA when the CPU has both
 *    (__builtin_cpu_supports) and CXENT_SIMD is not "portable"; the portable table otherwise.
 *    cx_table_f64() is the float64 table of the same path (F).
 * C. exp: Cody-Waite reduction x = n ln2 + r and a degree-6 minimax polynomial (<= 1.03 ulp on
 *    [-103.9, 88.7], checked exhaustively: the note above CX_EXP_C2), 2^n applied in two steps
 *    so subnormal results are right; -inf -> 0, +inf -> inf, nan -> nan.  Sums of exp(x - max)
 *    use a variant that flushes results below FLT_MIN to 0 (they cannot change a sum that
 *    contains 1).
 * D. Row sums: float partial sums over blocks (each lane adds at most 16 terms) accumulated in
 *    double, so the error does not grow with C.  The arg-max term is left out of the sum
 *    (_rows.pyx note E); a sum with the exps stored is the unstored sum bit for bit.  The order of
 *    a row's additions depends on class indices only (blocks from class 0, the arg-max masked in
 *    the group that holds it), so the column kernels (col_long) repeat it lane by lane.
 * E. On the AVX2+FMA path the hottest loops (max/arg-max, sum of exp, exp stored, gradient,
 *    sigmoid, short rows 8 at a time) are written with intrinsics: the same polynomial, two sum
 *    chains, masked tails, a prefetch of the next row; the compiler's version of the same C spends
 *    ~2x longer on compare-and-blend sequences.
 * F. float64 (AVX2, 4 lanes): exp by its Taylor polynomial to r^13, log table-driven (16
 *    intervals, log1p's series, no division: CX_LOG_PD); the portable float64 table uses libm.
 * G. AVX-512: the AVX2 table with its compute-bound members 16 (float64: 8) lanes wide (sum of
 *    exp of rows, the column kernels and the group copy, sigmoid, BCE-with-logits, the
 *    element-wise output passes).  The vector code is written once for both widths (the
 *    CX_*_PS / CX_*_PD macros, with per-width helpers for conditions and masks), so an element
 *    takes the same operations on either path, and sums pair the wide lanes back into AVX2's
 *    chains: both paths give the same bits (tests/test_simd_paths.py), so the column kernels'
 *    repetition of the row order holds on both.
 * H. Stored exps (softmax, the gradients): d = x - m is rounded before the exp, an error of up to
 *    |d| 2^-24 relative in exp(d) (float64: 2^-53).  Since m >= x, min(x, -m) + max(x, -m) is a
 *    Fast2Sum (the first has the larger magnitude), so lo = max - (d - min) is d's rounding error
 *    exactly, and the stored value is e (1 + lo), one FMA on the exp e (the *_st functions;
 *    CX_DIFF_ERR for the scalar ones).  The row sums keep the plain exp (no extra work in the
 *    sum-only passes, and a stored sum is the unstored one bit for bit).  float32 softmax at
 *    4096 x 1000: 17.9 -> 3.0 ulp.
 * I. float32 BCE (cx_bce_probs_f_avx2; the AVX-512 table takes the same kernel) in float
 *    arithmetic, 8 lanes, where the float64 kernels run 4: each log as a pair hi + lo
 *    (cx_log8_hl): u = 2^k z, z in [0.703125, 1.40625) in 8 intervals (permutations of 8-entry
 *    tables: invc as a float, log c as two; tools/log_table.py --float), z invc - 1 = r + tp
 *    exactly (one FMA), log1p's series to r^7 (|r| < 0.058: truncation below 2^-30 of the
 *    result), k ln2 + log c + r by exact Fast2Sums, the small parts added last.  1 - p and 1 - y
 *    are exact pairs, the products exact (FMA), so the loss is one rounding of a value within
 *    about 2^-28 relative: 0.536 ulp measured (tests/test_accuracy_bounds.py) against 0.5003 for
 *    the double kernel it replaced, at half its instructions per element.
 */
#ifndef CXENT_SIMD_H
#define CXENT_SIMD_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <Python.h>

#define CX_BLOCK 128
/* H: the rounding error of d = v + nm (nm = -m, m >= v), exactly: Fast2Sum of min(v, nm) (the
   larger magnitude) and max(v, nm) */
#define CX_DIFF_ERR(v, nm, d) (((v) < (nm) ? (nm) : (v)) - ((d) - ((v) < (nm) ? (v) : (nm))))
#define CX_COL_BLOCK 8 /* the short rows' sums: float blocks of 8 classes, added in double */

#if defined(__GNUC__) || defined(__clang__)
#define CX_UNUSED __attribute__((unused))
#define CX_PREFETCH(p) __builtin_prefetch(p)
#else /* e.g. MSVC (the cibuildwheel Windows build; never compiled by this repository's CI) */
#define CX_UNUSED
#define CX_PREFETCH(p) ((void)(p))
#endif

#include "_simd_api.h"

/* exp(r) = 1 + r + r^2 (c2 + c3 r + ... + c6 r^4) on |r| <= ln2 / 2: a minimax fit of the relative
   error (3.1e-9).  Against double exp, every float32 in range: the portable build's
   (r + r^2 (...)) + 1 is within 0.99 ulp on [-103.97, 88.72] (1.03 with hardware FMA); the AVX2
   kernels' cx_exp8_nonpos (arguments <= 0) ends with 1 + r (1 + r (c2 + ...)), each step one
   FMA, so that the last rounds a value near 1 once (the inner c2 + ... by Estrin's scheme, for a
   short chain): within 0.91 ulp on [-103.97, 0] (0.90 measured; 0.48 % of the values above
   0.5 ulp, against 3.5 % and 1.26 ulp for the form (1 + r) + r^2 (...)). */
#define CX_EXP_C2 4.99999940e-01f
#define CX_EXP_C3 1.66665211e-01f
#define CX_EXP_C4 4.16683890e-02f
#define CX_EXP_C5 8.36875010e-03f
#define CX_EXP_C6 1.38144998e-03f

#define CX_EXP_BODY(FMA, xc, p)                                                              \
    const float shift_ = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */       \
    float n_ = (xc * 1.44269504088896341f + shift_) - shift_;                                \
    float r_ = FMA(n_, -0.693359375f, xc);                                                   \
    r_ = FMA(n_, 2.12194440e-4f, r_);                                                        \
    p = CX_EXP_C6;                                                                           \
    p = FMA(p, r_, CX_EXP_C5);                                                               \
    p = FMA(p, r_, CX_EXP_C4);                                                               \
    p = FMA(p, r_, CX_EXP_C3);                                                               \
    p = FMA(p, r_, CX_EXP_C2);                                                               \
    float s_ = FMA(p * r_, r_, r_);                                                          \
    p = s_ + 1.0f;                                                                           \
    float plo_ = (1.0f - p) + s_; /* that addition's rounding error (Fast2Sum; unused but   \
                                     by cx_expf_lo) */                                       \
    (void)plo_;                                                                              \
    int32_t ni_ = (int32_t)(n_ == n_ ? n_ : 0.0f); /* nan: p is nan, the scale unused */

#define CX_DEFINE_KERNELS(SUFFIX, ATTR, FMA)                                                 \
ATTR static inline float cx_expf_lo_##SUFFIX(float x, float *elo) {                        \
    /* exp(x), and (elo not NULL) its last rounding's error, scaled alike (0 out of range) */ \
    const float hi = 88.72283935546875f, lo = -103.972084045410f;                            \
    float xc = x > hi ? hi : x; /* nan x stays nan */                                        \
    xc = xc < lo ? lo : xc;                                                                  \
    float p;                                                                                 \
    CX_EXP_BODY(FMA, xc, p)                                                                  \
    int32_t n1 = ni_ >> 1, n2 = ni_ - n1;                                                    \
    uint32_t b1 = (uint32_t)(n1 + 127) << 23, b2 = (uint32_t)(n2 + 127) << 23;              \
    float s1, s2;                                                                            \
    memcpy(&s1, &b1, 4);                                                                     \
    memcpy(&s2, &b2, 4);                                                                     \
    float res = p * s1 * s2;                                                                 \
    if (elo) *elo = x < lo || x > hi ? 0.0f : plo_ * s1 * s2;                                 \
    res = x < lo ? 0.0f : res;                                                               \
    return x > hi ? INFINITY : res; /* nan: xc and so p are nan, so res is */                \
}                                                                                            \
ATTR static inline float cx_expf_##SUFFIX(float x) { return cx_expf_lo_##SUFFIX(x, NULL); }  \
ATTR static inline float cx_expf_st_##SUFFIX(float v, float m, float e) {                    \
    /* H: the stored exp(v - m) for v <= m (or nan) from e = cx_expf(v - m): e (1 + lo), lo    \
       d = v - m's rounding error (CX_DIFF_ERR) */                                           \
    float nm = -m, d = v + nm;                                                               \
    return d < -103.972084045410f ? 0.0f : FMA(e, CX_DIFF_ERR(v, nm, d), e); /* nan: e nan */ \
}                                                                                            \
ATTR static inline float cx_expf_nonpos_##SUFFIX(float d) {                                 \
    const float lo = -87.3365478515625f; /* log(FLT_MIN) */                                  \
    float xc = d < lo ? lo : d;                                                              \
    float p;                                                                                 \
    CX_EXP_BODY(FMA, xc, p)                                                                  \
    uint32_t b = (uint32_t)(ni_ + 127) << 23;                                                \
    float s;                                                                                 \
    memcpy(&s, &b, 4);                                                                       \
    float res = p * s;                                                                       \
    return d < lo ? 0.0f : res; /* nan: p is nan, so res is */                               \
}                                                                                            \
ATTR static Py_ssize_t cx_argmax_##SUFFIX(const float *x, Py_ssize_t s, Py_ssize_t n) {      \
    /* the first index of the largest element of x[c * s] (nan never wins; none: 0) */       \
    float m = -INFINITY;                                                                     \
    for (Py_ssize_t i = 0; i < n; i++) m = x[i * s] > m ? x[i * s] : m;                      \
    for (Py_ssize_t i = 0; i < n; i++)                                                       \
        if (x[i * s] == m) return i;                                                         \
    return 0;                                                                                \
}                                                                                            \
ATTR static Py_ssize_t cx_argmax_row_##SUFFIX(const float *x, Py_ssize_t n) {                \
    return cx_argmax_##SUFFIX(x, 1, n);                                                      \
}                                                                                            \
ATTR static inline float cx_term_##SUFFIX(float v, float m, int skip, float *y) {            \
    /* one term of the row arithmetic's sum: exp(v - m), 0 below FLT_MIN and at the skipped  \
       arg-max; y (if any) = exp(v - m) with subnormals kept */                              \
    float d = v - m, e = cx_expf_##SUFFIX(d);                                                \
    if (y) *y = cx_expf_st_##SUFFIX(v, m, e);                                                 \
    return skip || d < -87.3365478515625f ? 0.0f : e;                                        \
}                                                                                            \
ATTR static double cx_rowsum_##SUFFIX(const float *x, Py_ssize_t s, Py_ssize_t n, float m,   \
                                     Py_ssize_t am, float *y, Py_ssize_t ys) {               \
    /* The row arithmetic's sum (_simd_api.h) over x[c * s], written out in scalar C: the lanes \
       of the AVX2 kernel are the array indices here.  With y, y[c * ys] = exp(x - m). */    \
    double acc[4] = {0.0, 0.0, 0.0, 0.0};                                                    \
    float e[32];                                                                             \
    Py_ssize_t i = 0;                                                                        \
    while (i + 32 <= n) {                                                                    \
        float p[16] = {0.0f};                                                                \
        Py_ssize_t stop = i + 256 <= n ? i + 256 : n - (n - i) % 32;                         \
        for (; i < stop; i += 32) {                                                          \
            for (int j = 0; j < 32; j++)                                                     \
                e[j] = cx_term_##SUFFIX(x[(i + j) * s], m, i + j == am,                      \
                                        y ? y + (i + j) * ys : NULL);                        \
            for (int l = 0; l < 8; l++) {                                                    \
                p[l] += e[l] + e[l + 8];                                                     \
                p[l + 8] += e[l + 16] + e[l + 24];                                           \
            }                                                                                \
        }                                                                                    \
        for (int q = 0; q < 4; q++)                                                          \
            acc[q] += (double)(p[q] + p[q + 8]) + (double)(p[q + 4] + p[q + 12]);            \
    }                                                                                        \
    for (; i < n; i += 8) {                                                                  \
        for (int j = 0; j < 8; j++)                                                          \
            e[j] = i + j < n ? cx_term_##SUFFIX(x[(i + j) * s], m, i + j == am,              \
                                                y ? y + (i + j) * ys : NULL)                 \
                             : 0.0f;                                                         \
        for (int q = 0; q < 4; q++) acc[q] += (double)e[q] + (double)e[q + 4];               \
    }                                                                                        \
    return (acc[0] + acc[2]) + (acc[1] + acc[3]);                                            \
}                                                                                            \
ATTR static double cx_sumexp_##SUFFIX(const float *x, Py_ssize_t n, float m, Py_ssize_t am,  \
                                     float *y) {                                             \
    return cx_rowsum_##SUFFIX(x, 1, n, m, am, y, 1);                                         \
}                                                                                            \
ATTR static double cx_wdot_##SUFFIX(const float *x, Py_ssize_t n, float m, const float *w) { \
    /* sum_c w_c (x_c - m), or sum_c (x_c - m) when w is NULL; float blocks into double */   \
    double acc = 0.0;                                                                        \
    for (Py_ssize_t i = 0; i < n; i += CX_BLOCK) {                                           \
        Py_ssize_t e = i + CX_BLOCK < n ? i + CX_BLOCK : n;                                  \
        float b = 0.0f;                                                                      \
        if (w) {                                                                             \
            _Pragma("omp simd reduction(+:b)")                                               \
            for (Py_ssize_t j = i; j < e; j++) b += w[j] * (x[j] - m);                       \
        } else {                                                                             \
            _Pragma("omp simd reduction(+:b)")                                               \
            for (Py_ssize_t j = i; j < e; j++) b += x[j] - m;                                \
        }                                                                                    \
        acc += b;                                                                            \
    }                                                                                        \
    return acc;                                                                              \
}                                                                                            \
ATTR static void cx_logsoftmax_out_##SUFFIX(const float *x, Py_ssize_t n, float m,          \
                                            float lnorm, float *y) {                         \
    if (x == y) {                                                                            \
        _Pragma("omp simd")                                                                  \
        for (Py_ssize_t i = 0; i < n; i++) y[i] = (y[i] - m) - lnorm;                        \
    } else {                                                                                 \
        const float *restrict xr = x;                                                        \
        float *restrict yr = y;                                                              \
        _Pragma("omp simd")                                                                  \
        for (Py_ssize_t i = 0; i < n; i++) yr[i] = (xr[i] - m) - lnorm;                      \
    }                                                                                        \
}                                                                                            \
ATTR static void cx_affine_##SUFFIX(float *g, Py_ssize_t n, float a, float k, const float *w) { \
    /* g_c = a g_c - k w_c  (w NULL: w_c = 1; k = 0: a plain scaling) */                     \
    if (k == 0.0f) {                                                                         \
        _Pragma("omp simd")                                                                  \
        for (Py_ssize_t i = 0; i < n; i++) g[i] *= a;                                        \
    } else if (w) {                                                                          \
        _Pragma("omp simd")                                                                  \
        for (Py_ssize_t i = 0; i < n; i++) g[i] = FMA(a, g[i], -k * w[i]);                   \
    } else {                                                                                 \
        _Pragma("omp simd")                                                                  \
        for (Py_ssize_t i = 0; i < n; i++) g[i] = FMA(a, g[i], -k);                          \
    }                                                                                        \
}                                                                                            \
ATTR static inline float cx_log1pf_##SUFFIX(float t, float tlo) {                          \
    /* log1p(t + tlo) for t in [0, 1] (or nan), tlo small: Cephes logf of u = 1 + t on its    \
       mantissa, c = (t - (u - 1)) + tlo (u's rounding error and tlo) entering as c / u among \
       its small terms (as CX_LOG1P_PS) */                                                   \
    float u = 1.0f + t, cu = ((t - (u - 1.0f)) + tlo) / u;                                   \
    int32_t bits;                                                                            \
    memcpy(&bits, &u, 4);                                                                    \
    int32_t e = ((bits >> 23) & 0xff) - 126;                                                 \
    int32_t mb = (bits & 0x007fffff) | 0x3f000000;                                           \
    float mant;                                                                              \
    memcpy(&mant, &mb, 4);                                                                   \
    int small = mant < 0.707106781186547524f;                                                \
    e = small ? e - 1 : e;                                                                   \
    float x = small ? mant + mant - 1.0f : mant - 1.0f;                                      \
    float z = x * x;                                                                         \
    float p = 7.0376836292E-2f;                                                              \
    p = FMA(p, x, -1.1514610310E-1f);                                                        \
    p = FMA(p, x, 1.1676998740E-1f);                                                         \
    p = FMA(p, x, -1.2420140846E-1f);                                                        \
    p = FMA(p, x, 1.4249322787E-1f);                                                         \
    p = FMA(p, x, -1.6668057665E-1f);                                                        \
    p = FMA(p, x, 2.0000714765E-1f);                                                         \
    p = FMA(p, x, -2.4999993993E-1f);                                                        \
    p = FMA(p, x, 3.3333331174E-1f);                                                         \
    float fe = (float)e;                                                                     \
    float r = FMA(p * x, z, FMA(-2.12194440e-4f, fe, -0.5f * z)) + cu;                       \
    return FMA(0.693359375f, fe, x + r);                                                     \
}                                                                                            \
ATTR static void cx_sigmoid_##SUFFIX(const float *x, Py_ssize_t n, float *y, int log_out) { \
    /* sigmoid = 1 / (1 + e) for x >= 0, e / (1 + e) below (subnormals kept), e = exp(-|x|); \
       log_sigmoid = min(x, 0) - log1p(e) */                                                 \
    if (log_out) {                                                                           \
        _Pragma("omp simd")                                                                  \
        for (Py_ssize_t i = 0; i < n; i++) {                                                 \
            float v = x[i];                                                                  \
            float elo, e = cx_expf_lo_##SUFFIX(-fabsf(v), &elo);                             \
            y[i] = (v < 0.0f ? v : 0.0f) - cx_log1pf_##SUFFIX(e, elo);                       \
        }                                                                                    \
    } else {                                                                                 \
        _Pragma("omp simd")                                                                  \
        for (Py_ssize_t i = 0; i < n; i++) {                                                 \
            float v = x[i];                                                                  \
            float e = cx_expf_##SUFFIX(-fabsf(v));                                           \
            float r = (v >= 0.0f ? 1.0f : e) / (1.0f + e); /* one rounded division */         \
            y[i] = v != v ? v : r;                                                           \
        }                                                                                    \
    }                                                                                        \
}                                                                                            \
ATTR static double cx_bce_logits_##SUFFIX(const float *x, const float *y, Py_ssize_t n,     \
        const float *w, float wsc, const float *pw, float pwsc, int has_pw, float *out,      \
        float *g, const float *gout, float gsc) {                                            \
    /* Element losses (1 - y) x - lw logsigmoid(x), lw = 1 + (pw - 1) y, times w; written to  \
       `out` if given; gradient w [lw sigmoid(x) - pw y] times gsc (and gout) to `g` if given; \
       returns the sum of the losses (float blocks of 256 into double).  w / pw: an array, or \
       NULL and the scalar wsc / pwsc; has_pw = 0: no pos_weight at all. */                   \
    float ls[256], v[256], gr[256];                                                          \
    double acc = 0.0;                                                                        \
    for (Py_ssize_t i0 = 0; i0 < n; i0 += 256) {                                             \
        Py_ssize_t m = n - i0 < 256 ? n - i0 : 256;                                          \
        const float *xb = x + i0, *yb = y + i0;                                              \
        /* ls = log1p(exp(-|x|)); the loss is rearranged without torch's cancellation for   \
           x << 0:  x < 0: -pw y x + lw ls,  x >= 0: (1 - y) x + lw ls  (x = -inf: nan, as      \
           torch's (1 - y) x - lw logsigmoid(x) gives) */                                    \
        _Pragma("omp simd")                                                                  \
        for (Py_ssize_t j = 0; j < m; j++) {                                                 \
            float a = xb[j], elo, e = cx_expf_lo_##SUFFIX(-fabsf(a), &elo);                  \
            ls[j] = cx_log1pf_##SUFFIX(e, elo);                                              \
            gr[j] = (a >= 0.0f ? 1.0f : e) / (1.0f + e); /* sigmoid(x), as cx_sigmoid */     \
        }                                                                                    \
        if (!has_pw) {                                                                       \
            _Pragma("omp simd")                                                              \
            for (Py_ssize_t j = 0; j < m; j++) {                                             \
                float a = xb[j], t = a < 0.0f ? -yb[j] * a : (1.0f - yb[j]) * a;             \
                v[j] = a == -INFINITY ? NAN : t + ls[j];                                     \
                gr[j] = gr[j] - yb[j];                                                       \
            }                                                                                \
        } else if (pw) {                                                                     \
            const float *pb = pw + i0;                                                       \
            _Pragma("omp simd")                                                              \
            for (Py_ssize_t j = 0; j < m; j++) {                                             \
                float a = xb[j], lw = 1.0f + (pb[j] - 1.0f) * yb[j];                         \
                float t = a < 0.0f ? -pb[j] * yb[j] * a : (1.0f - yb[j]) * a;                \
                v[j] = a == -INFINITY ? NAN : t + lw * ls[j];                                \
                gr[j] = lw * gr[j] - pb[j] * yb[j];                                          \
            }                                                                                \
        } else {                                                                             \
            _Pragma("omp simd")                                                              \
            for (Py_ssize_t j = 0; j < m; j++) {                                             \
                float a = xb[j], lw = 1.0f + (pwsc - 1.0f) * yb[j];                          \
                float t = a < 0.0f ? -pwsc * yb[j] * a : (1.0f - yb[j]) * a;                 \
                v[j] = a == -INFINITY ? NAN : t + lw * ls[j];                                \
                gr[j] = lw * gr[j] - pwsc * yb[j];                                           \
            }                                                                                \
        }                                                                                    \
        if (w) {                                                                             \
            const float *wb = w + i0;                                                        \
            _Pragma("omp simd")                                                              \
            for (Py_ssize_t j = 0; j < m; j++) { v[j] *= wb[j]; gr[j] *= wb[j]; }            \
        } else if (wsc != 1.0f) {                                                            \
            _Pragma("omp simd")                                                              \
            for (Py_ssize_t j = 0; j < m; j++) { v[j] *= wsc; gr[j] *= wsc; }                \
        }                                                                                    \
        float b = 0.0f;                                                                      \
        _Pragma("omp simd reduction(+:b)")                                                   \
        for (Py_ssize_t j = 0; j < m; j++) b += v[j];                                        \
        acc += b;                                                                            \
        if (out) memcpy(out + i0, v, (size_t)m * sizeof(float));                             \
        if (g && gout) {                                                                     \
            const float *ob = gout + i0;                                                     \
            _Pragma("omp simd")                                                              \
            for (Py_ssize_t j = 0; j < m; j++) g[i0 + j] = gr[j] * gsc * ob[j];              \
        } else if (g) {                                                                      \
            _Pragma("omp simd")                                                              \
            for (Py_ssize_t j = 0; j < m; j++) g[i0 + j] = gr[j] * gsc;                      \
        }                                                                                    \
    }                                                                                        \
    return acc;                                                                              \
}                                                                                            \
ATTR static float cx_softmax_bwd_sum_##SUFFIX(const float *g, const float *y, Py_ssize_t n,  \
                                            int log_out) {                                   \
    /* softmax_bwd's sum: sum g y (softmax) or sum g (log_softmax), float blocks, double */  \
    double acc = 0.0;                                                                        \
    for (Py_ssize_t i = 0; i < n; i += CX_BLOCK) {                                           \
        Py_ssize_t e = i + CX_BLOCK < n ? i + CX_BLOCK : n;                                  \
        float b = 0.0f;                                                                      \
        if (log_out) {                                                                       \
            _Pragma("omp simd reduction(+:b)")                                               \
            for (Py_ssize_t j = i; j < e; j++) b += g[j];                                    \
        } else {                                                                             \
            _Pragma("omp simd reduction(+:b)")                                               \
            for (Py_ssize_t j = i; j < e; j++) b += g[j] * y[j];                             \
        }                                                                                    \
        acc += b;                                                                            \
    }                                                                                        \
    return (float)acc;                                                                       \
}                                                                                            \
ATTR static void cx_softmax_bwd_out_##SUFFIX(const float *g, const float *y, Py_ssize_t n,   \
                                             float *out, int log_out, float s) {             \
    /* softmax_bwd's element-wise pass, given the sum s (out may be g) */                    \
    if (log_out) {                                                                           \
        _Pragma("omp simd")                                                                  \
        for (Py_ssize_t j = 0; j < n; j++) out[j] = g[j] - cx_expf_##SUFFIX(y[j]) * s;       \
    } else {                                                                                 \
        _Pragma("omp simd")                                                                  \
        for (Py_ssize_t j = 0; j < n; j++) out[j] = y[j] * (g[j] - s);                       \
    }                                                                                        \
}                                                                                            \
ATTR static void cx_softmax_bwd_##SUFFIX(const float *g, const float *y, Py_ssize_t n,       \
                                         float *out, int log_out) {                          \
    /* softmax: y (g - sum g y); log_softmax: g - exp(y) sum g */                            \
    float s = cx_softmax_bwd_sum_##SUFFIX(g, y, n, log_out);                                 \
    cx_softmax_bwd_out_##SUFFIX(g, y, n, out, log_out, s);                                   \
}                                                                                            \
ATTR static void cx_col_lognorm_##SUFFIX(const float *x, Py_ssize_t cs, Py_ssize_t n,       \
                                         float *mo, double *resto, double *lno, float *y,    \
                                         Py_ssize_t ycs) {                                   \
    /* Column arithmetic (_simd_api.h): per lane j (a row, x[c * cs + j]) the max m (nan never \
       wins over the first), rest = the sum of exp(x - m) over the terms below the max plus    \
       (number of maxima - 1), in class order (float sums over blocks of CX_COL_BLOCK classes, \
       added in double), and log1p(rest); an infinite max gives nan.  With y: the stored exps  \
       (H; subnormals kept; terms below FLT_MIN count 0 in the sum either way, so the sums are \
       the same); y may be x. */                                                              \
    const float lo = -87.3365478515625f;                                                     \
    float m[CX_LANES], cnt[CX_LANES];                                                        \
    double rest[CX_LANES];                                                                   \
    for (int j = 0; j < CX_LANES; j++) {                                                     \
        m[j] = x[j];                                                                         \
        rest[j] = 0.0;                                                                       \
        cnt[j] = -1.0f;                                                                      \
    }                                                                                        \
    for (Py_ssize_t c = 1; c < n; c++)                                                       \
        for (int j = 0; j < CX_LANES; j++) {                                                 \
            float v = x[c * cs + j];                                                         \
            m[j] = v > m[j] ? v : m[j];                                                      \
        }                                                                                    \
    for (Py_ssize_t cb = 0; cb < n; cb += CX_COL_BLOCK) {                                   \
        float rf[CX_LANES] = {0.0f};                                                         \
        for (Py_ssize_t c = cb; c < cb + CX_COL_BLOCK && c < n; c++)                         \
            for (int j = 0; j < CX_LANES; j++) {                                             \
                float v = x[c * cs + j], d = v - m[j], e = cx_expf_nonpos_##SUFFIX(d);       \
                if (y) y[c * ycs + j] = cx_expf_st_##SUFFIX(v, m[j], cx_expf_##SUFFIX(d));   \
                rf[j] += d == 0.0f || d < lo ? 0.0f : e;                                     \
                cnt[j] += d == 0.0f ? 1.0f : 0.0f;                                           \
            }                                                                                \
        for (int j = 0; j < CX_LANES; j++) rest[j] += (double)rf[j];                         \
    }                                                                                        \
    for (int j = 0; j < CX_LANES; j++) {                                                     \
        double t = rest[j] + (double)cnt[j];                                                 \
        mo[j] = m[j];                                                                        \
        resto[j] = t;                                                                        \
        lno[j] = log1p((double)t);                                                           \
    }                                                                                        \
}                                                                                            \
ATTR static void cx_col_long_##SUFFIX(const float *x, Py_ssize_t cs, Py_ssize_t n,           \
                                     const float *m, const float *am, double *resto,         \
                                     double *lno, float *y, Py_ssize_t ycs) {                \
    /* The row arithmetic's sums (cx_sumexp: rows of n > CX_SHORT) of CX_LANES rows laid out as \
       a column tile (x[c * cs + j]), lane by lane, given each row's arg-max am[j] (as a float) \
       and m[j] = x[am[j]] (cx_cols_copy): the same sums as the unit-stride row bit for bit; \
       rest includes m - m (nan for an infinite max) and lno = log1p(rest) (libm), as row_rest \
       and row_lognorm (_rows.pyx) give */                                                   \
    for (int j = 0; j < CX_LANES; j++) {                                                     \
        resto[j] = cx_rowsum_##SUFFIX(x + j, cs, n, m[j], (Py_ssize_t)am[j], y ? y + j : NULL, ycs) \
                   + (double)(m[j] - m[j]);                                                  \
        lno[j] = log1p(resto[j]);                                                            \
    }                                                                                        \
}                                                                                            \
ATTR static void cx_col_map_##SUFFIX(const float *x, Py_ssize_t cs, Py_ssize_t n,           \
                                     const float *m, const float *a, const float *k,         \
                                     const float *w, float *y, Py_ssize_t ycs, int mode) {   \
    /* per lane j: CX_MAP_EXP a_j exp(x - m_j) - k_j w_c, CX_MAP_LOG (x - m_j) - a_j,          \
       CX_MAP_AFFINE a_j x - k_j w_c (k NULL: 0, w NULL: 1; m unused by AFFINE); element-wise, \
       so y may be x (same cs) */                                                            \
    for (Py_ssize_t c = 0; c < n; c++)                                                       \
        for (int j = 0; j < CX_LANES; j++) {                                                 \
            float v = x[c * cs + j];                                                         \
            float kw = k ? k[j] * (w ? w[c] : 1.0f) : 0.0f;                                  \
            y[c * ycs + j] = mode == CX_MAP_LOG ? (v - m[j]) - a[j]                          \
                             : mode == CX_MAP_AFFINE ? FMA(a[j], v, -kw)                     \
                             : FMA(a[j], cx_expf_st_##SUFFIX(v, m[j],                        \
                                                             cx_expf_##SUFFIX(v - m[j])),     \
                                   -kw);                                                      \
        }                                                                                    \
}                                                                                            \

/* Portable float64 kernels: libm exp, sums in order (the scalar loops of _rows.pxd). */
static Py_ssize_t cx_argmax_s_d(const double *x, Py_ssize_t s, Py_ssize_t n) {
    /* as cx_argmax_portable: the first index of the largest of x[c * s] (nan never wins; none: 0) */
    double m = -INFINITY;
    for (Py_ssize_t i = 0; i < n; i++) m = x[i * s] > m ? x[i * s] : m;
    for (Py_ssize_t i = 0; i < n; i++)
        if (x[i * s] == m) return i;
    return 0;
}
static Py_ssize_t cx_argmax_d_portable(const double *x, Py_ssize_t n) { return cx_argmax_s_d(x, 1, n); }
static inline double cx_exp_st_d(double v, double m, double e) {
    /* H: the stored exp(v - m) (v <= m) from e = exp(v - m): e (1 + lo), lo d = v - m's rounding
       error (CX_DIFF_ERR) */
    double nm = -m, d = v + nm;
    return e == 0.0 ? e : e + e * CX_DIFF_ERR(v, nm, d); /* the error is nan at v = -inf */
}
static double cx_rowsum_d_portable(const double *x, Py_ssize_t s, Py_ssize_t n, double m,
                                   Py_ssize_t am, double *y, Py_ssize_t ys) {
    /* the float64 portable row arithmetic's sum over x[c * s]: in class order, without the
       arg-max term */
    double acc = 0.0;
    for (Py_ssize_t i = 0; i < n; i++) {
        double e = exp(x[i * s] - m);
        if (y) y[i * ys] = cx_exp_st_d(x[i * s], m, e);
        if (i != am) acc += e;
    }
    return acc;
}
static double cx_sumexp_d_portable(const double *x, Py_ssize_t n, double m, Py_ssize_t am,
                                   double *y) {
    return cx_rowsum_d_portable(x, 1, n, m, am, y, 1);
}
static void cx_col_long_d_portable(const double *x, Py_ssize_t cs, Py_ssize_t n, const double *m,
                                   const double *am, double *resto, double *lno, double *y,
                                   Py_ssize_t ycs) {
    for (int j = 0; j < CX_LANES; j++) { /* as cx_col_long_portable */
        resto[j] = cx_rowsum_d_portable(x + j, cs, n, m[j], (Py_ssize_t)am[j], y ? y + j : NULL, ycs)
                   + (m[j] - m[j]);
        lno[j] = log1p(resto[j]);
    }
}
static void cx_affine_d_portable(double *g, Py_ssize_t n, double a, double k, const double *w) {
    for (Py_ssize_t i = 0; i < n; i++) g[i] = a * g[i] - k * (w ? w[i] : 1.0);
}
/* BCE over a span (bce_probs, _simd_api.h), torch's BCELoss: the loss ((y - 1) l1 - y l) w with
   l = log p and l1 = log1p(-p) in double, each clamped at -100 (0 * -inf never occurs); the
   gradient ((gs w) (p - y)) / max(p (1 - p), eps), gs = gsc (times gout), torch's eps = float
   1e-12 for both types; element i's loss into partial i % 8, the partials added by cx_sum8. */
#define CX_BCE_EPS ((double)1e-12f)
static inline double cx_sum8(const double *a) {
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}
#define CX_DEFINE_BCE_PROBS_PORTABLE(T, NAME)                                                  \
static double NAME(const T *p, const T *y, Py_ssize_t n, const T *w, T wsc, T *out, T *g,     \
                   const T *gout, double gsc, Py_ssize_t *bad) {                              \
    double a[8] = {0.0};                                                                       \
    for (Py_ssize_t i = 0; i < n; i++) {                                                       \
        double pv = p[i], yv = y[i], wv = w ? w[i] : wsc;                                      \
        bad[0] += !(pv >= 0.0 && pv <= 1.0);                                                   \
        bad[1] += !(yv >= 0.0 && yv <= 1.0);                                                   \
        double l = fmax(log(pv), -100.0), l1 = fmax(log1p(-pv), -100.0);                       \
        double v = ((yv - 1.0) * l1 - yv * l) * wv;                                            \
        if (g) {                                                                               \
            double gs = gout ? gsc * gout[i] : gsc;                                            \
            g[i] = (T)(gs * wv * (pv - yv) / fmax(pv * (1.0 - pv), CX_BCE_EPS));               \
        }                                                                                      \
        if (out) out[i] = (T)v;                                                                \
        a[i % 8] += v;                                                                         \
    }                                                                                          \
    return cx_sum8(a);                                                                         \
}
CX_DEFINE_BCE_PROBS_PORTABLE(float, cx_bce_probs_f_portable)
CX_DEFINE_BCE_PROBS_PORTABLE(double, cx_bce_probs_d_portable)
#define CX_KL_LOGS_PORTABLE(T, NAME)                                                          \
    static void NAME(const T *t, Py_ssize_t n, int log_target, double *out) {                 \
        for (Py_ssize_t i = 0; i < n; i++)                                                     \
            out[i] = log_target ? exp((double)t[i]) : log((double)t[i]);                       \
    }
CX_KL_LOGS_PORTABLE(float, cx_kl_logs_f_portable)
CX_KL_LOGS_PORTABLE(double, cx_kl_logs_d_portable)
static void cx_sigmoid_d_portable(const double *x, Py_ssize_t n, double *y, int log_out) {
    for (Py_ssize_t i = 0; i < n; i++)
        y[i] = log_out ? fmin(x[i], 0.0) - log1p(exp(-fabs(x[i]))) : 1.0 / (1.0 + exp(-x[i]));
}
static void cx_softmax_bwd_d_portable(const double *g, const double *y, Py_ssize_t n, double *out,
                                      int log_out) {
    /* softmax: y (g - sum g y); log_softmax: g - exp(y) sum g; out may be g */
    double acc = 0.0;
    for (Py_ssize_t i = 0; i < n; i++) acc += log_out ? g[i] : g[i] * y[i];
    for (Py_ssize_t i = 0; i < n; i++) out[i] = log_out ? g[i] - exp(y[i]) * acc : y[i] * (g[i] - acc);
}
static double cx_wdot_d(const double *x, Py_ssize_t n, double m, const double *w) {
    /* sum_c w_c (x_c - m) (w NULL: 1), in order (both paths) */
    double acc = 0.0;
    for (Py_ssize_t i = 0; i < n; i++) acc += (w ? w[i] : 1.0) * (x[i] - m);
    return acc;
}
static void cx_logsoftmax_out_d(const double *x, Py_ssize_t n, double m, double lnorm, double *y) {
    for (Py_ssize_t i = 0; i < n; i++) y[i] = (x[i] - m) - lnorm; /* y may be x */
}
static void cx_col_lognorm_d_portable(const double *x, Py_ssize_t cs, Py_ssize_t n, double *mo,
                                      double *resto, double *lno, double *y, Py_ssize_t ycs) {
    /* the column arithmetic of cx_col_lognorm_portable in double, with libm */
    for (int j = 0; j < CX_LANES; j++) {
        double m = x[j], rest = 0.0, cnt = -1.0;
        for (Py_ssize_t c = 1; c < n; c++) m = x[c * cs + j] > m ? x[c * cs + j] : m;
        for (Py_ssize_t c = 0; c < n; c++) {
            double d = x[c * cs + j] - m, e = exp(d);
            if (y) y[c * ycs + j] = cx_exp_st_d(x[c * cs + j], m, e);
            rest += d == 0.0 ? 0.0 : e;
            cnt += d == 0.0 ? 1.0 : 0.0;
        }
        mo[j] = m;
        resto[j] = rest + cnt;
        lno[j] = log1p(rest + cnt);
    }
}
static void cx_col_map_d_portable(const double *x, Py_ssize_t cs, Py_ssize_t n, const double *m,
                                  const double *a, const double *k, const double *w, double *y,
                                  Py_ssize_t ycs, int mode) {
    for (Py_ssize_t c = 0; c < n; c++)
        for (int j = 0; j < CX_LANES; j++) {
            double v = x[c * cs + j], kw = k ? k[j] * (w ? w[c] : 1.0) : 0.0;
            y[c * ycs + j] = mode == CX_MAP_LOG ? (v - m[j]) - a[j]
                             : mode == CX_MAP_AFFINE ? a[j] * v - kw
                             : a[j] * cx_exp_st_d(v, m[j], exp(v - m[j])) - kw;
        }
}

/* BCE-with-logits in double over a span (the float32 kernel's contract): log1p(exp(-|x|)) by libm
   and sigmoid from the table's sigmoid kernel 256 at a time, then the float32 kernel's
   rearrangement of torch's formula element by element (x << 0 does not cancel), the loss of
   element i into partial i % 8 (added by cx_sum8; the AVX paths' order). */
#define CX_DEFINE_BCE_LOGITS_D(SUFFIX, SIGMOID)                                                \
static double cx_bce_logits_d_##SUFFIX(const double *x, const double *y, Py_ssize_t n,        \
        const double *w, double wsc, const double *pw, double pwsc, int has_pw, double *out,   \
        double *g, const double *gout, double gsc) {                                           \
    double ls[256], sg[256], a[8] = {0.0};                                                     \
    for (Py_ssize_t i0 = 0; i0 < n; i0 += 256) {                                               \
        Py_ssize_t m = n - i0 < 256 ? n - i0 : 256;                                            \
        for (Py_ssize_t j = 0; j < m; j++) ls[j] = log1p(exp(-fabs(x[i0 + j]))); /* log1p(e) */ \
        if (g) SIGMOID(x + i0, m, sg, 0);                                                      \
        for (Py_ssize_t j = 0; j < m; j++) {                                                   \
            double xv = x[i0 + j], yv = y[i0 + j];                                             \
            double pv = has_pw ? (pw ? pw[i0 + j] : pwsc) : 1.0, lw = 1.0 + (pv - 1.0) * yv;   \
            /* the float32 kernel's rearrangement (no cancellation for x << 0) */              \
            double lv = has_pw ? lw * ls[j] : ls[j], py = has_pw ? pv * yv : yv;               \
            double v = (xv < 0.0 ? -py * xv : (1.0 - yv) * xv) + lv;                           \
            v = xv == -INFINITY ? NAN : v;                                                     \
            double wv = w ? w[i0 + j] : wsc;                                                   \
            v = v * wv;                                                                        \
            if (g) {                                                                           \
                double gs = gout ? gsc * gout[i0 + j] : gsc;                                   \
                double gr = has_pw ? lw * sg[j] - pv * yv : sg[j] - yv; /* y = inf: -inf */   \
                g[i0 + j] = gs * wv * gr;                                                      \
            }                                                                                  \
            if (out) out[i0 + j] = v;                                                          \
            a[(i0 + j) % 8] += v;                                                              \
        }                                                                                      \
    }                                                                                          \
    return cx_sum8(a);                                                                         \
}
CX_DEFINE_BCE_LOGITS_D(portable, cx_sigmoid_d_portable)


/* Layout moves (_simd_api.h): a tile of 8 adjacent rows (x[c * cs + j]) to 8 unit-stride rows and
   back; plain copies, so they cannot change a value. */
#define CX_DEFINE_TRANSPOSE(T, SUFFIX)                                                         \
static void cx_tile_to_rows_##SUFFIX(const T *x, Py_ssize_t cs, Py_ssize_t n, int lanes,       \
                                     T *rows) {                                                \
    for (Py_ssize_t c = 0; c < n; c++)                                                         \
        for (int j = 0; j < lanes; j++) rows[j * n + c] = x[c * cs + j];                       \
}                                                                                              \
static void cx_rows_to_tile_##SUFFIX(const T *rows, Py_ssize_t n, int lanes, T *x,             \
                                     Py_ssize_t cs) {                                          \
    for (Py_ssize_t c = 0; c < n; c++)                                                         \
        for (int j = 0; j < lanes; j++) x[c * cs + j] = rows[j * n + c];                       \
}
/* `lanes` adjacent lanes of each class (x[c * cs + j]; a multiple of CX_LONG_TILE, at most
   CX_GROUP_LANES) copied, in one pass, to class-major column tiles of CX_LANES lanes: lane j of
   class c to out[(j / CX_LANES) * CX_LANES * n + c * CX_LANES + j % CX_LANES]; the same pass
   takes each lane's arg-max (the first index of its max, nan never winning, as cx_argmax; none:
   0) into am[j] (as a T) and m[j] = x[am[j]].  In the pass a later element wins only if it is
   larger, so a lane whose max is -inf (all -inf and nan) has no winner yet: cx_cols_finish then
   finds its first -inf in the copy.  Both halves of a class are read together (the
   adjacent-line prefetch fetches them as a pair), and CX_COPY_AHEAD classes ahead are
   prefetched: lines a power-of-two stride apart share a few cache sets, so a line fetched much
   earlier would be evicted again (F-ordered 4096x1000 cross_entropy on a 2-core Xeon with
   AVX-512, 1 thread: 2.1-2.2 ms with 4 classes ahead, 2.5-2.7 with 16; 0 to 8 measured alike,
   within the noise).  Portable: plain C, vectorised by the compiler; AVX2: the same
   loop with the max and arg-max in vector registers (compare, two blends). */
#ifndef CX_COPY_AHEAD
#define CX_COPY_AHEAD 4 /* classes */
#endif
#define CX_DEFINE_COLS_COPY(T, SUFFIX)                                                         \
static void cx_cols_finish_##SUFFIX(const T *x, const T *out, Py_ssize_t n, int lanes,        \
                                    const T *mm, const T *ai, T *m, T *am) {                   \
    for (int j = 0; j < lanes; j++) {                                                          \
        T a = ai[j];                                                                           \
        const T *o = out + (j / CX_LANES) * CX_LANES * n + j % CX_LANES;                       \
        for (Py_ssize_t c = 0; a < 0 && c < n; c++) /* max -inf: its first -inf */            \
            if (o[c * CX_LANES] == -INFINITY) a = (T)c;                                        \
        am[j] = a < 0 ? 0 : a;                                                                 \
        m[j] = a < 0 ? x[j] : mm[j];                                                           \
    }                                                                                          \
}                                                                                              \
static void cx_cols_copy_##SUFFIX(const T *x, Py_ssize_t cs, Py_ssize_t n, int lanes, T *out,  \
                                  T *m, T *am) {                                               \
    T mm[CX_GROUP_LANES], ai[CX_GROUP_LANES];                                                  \
    for (int j = 0; j < lanes; j++) {                                                          \
        mm[j] = -INFINITY;                                                                     \
        ai[j] = -1;                                                                            \
    }                                                                                          \
    for (Py_ssize_t c = 0; c < n; c++) {                                                       \
        const T *xc = x + c * cs, *ahead = x + (c + CX_COPY_AHEAD) * cs;                       \
        for (size_t b = 0; b < (size_t)lanes * sizeof(T); b += 64)                             \
            CX_PREFETCH((const char *)ahead + b);                                              \
        T fc = (T)c;                                                                           \
        for (int h = 0; h < lanes / CX_LANES; h++) {                                           \
            T *o = out + (h * n + c) * CX_LANES, *mh = mm + h * CX_LANES, *ah = ai + h * CX_LANES; \
            const T *xh = xc + h * CX_LANES;                                                   \
            for (int j = 0; j < CX_LANES; j++) {                                               \
                T v = xh[j];                                                                   \
                int take = v > mh[j];                                                          \
                ah[j] = take ? fc : ah[j];                                                     \
                mh[j] = take ? v : mh[j];                                                      \
                o[j] = v;                                                                      \
            }                                                                                  \
        }                                                                                      \
    }                                                                                          \
    cx_cols_finish_##SUFFIX(x, out, n, lanes, mm, ai, m, am);                                  \
}
/* The inverse move: column tiles laid out as cx_cols_copy's `out` written to `lanes` adjacent rows
   (x[c * cs + j]).  On AVX2, whole aligned 64-byte lines far apart are written with non-temporal
   stores (no read of each line before it is overwritten), as cx_rows_to_tile_avx2. */
#define CX_DEFINE_COLS_UNCOPY(T, SUFFIX)                                                       \
static void cx_cols_uncopy_##SUFFIX(const T *buf, Py_ssize_t n, int lanes, T *x,               \
                                    Py_ssize_t cs) {                                           \
    for (Py_ssize_t c = 0; c < n; c++)                                                         \
        for (int j = 0; j < lanes; j++)                                                        \
            x[c * cs + j] = buf[((j / CX_LANES) * n + c) * CX_LANES + j % CX_LANES];           \
}
CX_DEFINE_COLS_UNCOPY(float, f_portable)
CX_DEFINE_COLS_UNCOPY(double, d_portable)
CX_DEFINE_COLS_COPY(float, f_portable)
CX_DEFINE_COLS_COPY(double, d_portable)
CX_DEFINE_TRANSPOSE(float, f)
CX_DEFINE_TRANSPOSE(double, d)
/* Logit soft-capping (Gemma 2): t = tanh(q), q = x / c rounded to T, and y = c t in T.  Portable:
   libm's tanh, float32 through double and rounded once (correctly rounded but for a tie within
   libm's error); float64 libm's tanh itself (glibc: 2.09 ulp measured; the tests allow 3). */
static void cx_softcap_f_portable(const float *x, Py_ssize_t n, float c, float *y, float *t) {
    for (Py_ssize_t i = 0; i < n; i++) {
        float th = (float)tanh((double)(x[i] / c));
        t[i] = th;
        y[i] = c * th;
    }
}
static void cx_softcap_d(const double *x, Py_ssize_t n, double c, double *y, double *t) {
    for (Py_ssize_t i = 0; i < n; i++) {
        double th = tanh(x[i] / c);
        t[i] = th;
        y[i] = c * th;
    }
}

/* wq_sums (_simd_api.h), as _losses.pyx's loop did before it became a table member (the same
   bits).  No FMA on the AVX paths: there a product passes through CX_OPAQUE (an empty asm
   statement that the compiler must assume changes it) before it is added, so the two roundings
   are not contracted into one; the portable build (CX_KEEP) compiles the loop as the Cython one
   was, for the baseline ISA (no FMA on x86-64), and the compiler vectorises it. */
#define CX_KEEP(v) ((void)0)
#if defined(__GNUC__) || defined(__clang__)
#define CX_OPAQUE(v) __asm__("" : "+x"(v))
#define CX_OPAQUE_V(v) __asm__("" : "+v"(v))
#else
#define CX_OPAQUE(v) ((void)0) /* MSVC does not contract by default */
#define CX_OPAQUE_V(v) ((void)0)
#endif
#define CX_WQ_TERM(T, x, t, w, n, m, eps, c, k, pd, pq, exact_zero, OPAQUE)                    \
    {                                                                                          \
        double q = (t)[c];                                                                     \
        if ((eps) > 0.0) {                                                                     \
            double qa = q * (1.0 - (eps));                                                     \
            OPAQUE(qa);                                                                        \
            q = qa + (eps) / (double)(n);                                                      \
        }                                                                                      \
        q = ((w) ? (double)(w)[c] : 1.0) * q;                                                  \
        OPAQUE(q);                                                                             \
        T d_ = (x)[c] - (m);                                                                   \
        double qd = q * (double)d_;                                                            \
        OPAQUE(qd);                                                                            \
        (pd)[k] += (exact_zero) && d_ == 0 ? 0.0 : qd;                                         \
        (pq)[k] += q;                                                                          \
    }
#define CX_DEFINE_WQ_SUMS(T, SUFFIX, ATTR)                                                     \
ATTR static void cx_wq_sums_##SUFFIX(const T *x, const T *t, const T *w, Py_ssize_t n, T m,    \
                                     double eps, double *pd, double *pq, int exact_zero) {     \
    double a[8] = {0.0}, b[8] = {0.0}; /* class c into partial c % 8 */                        \
    for (Py_ssize_t c0 = 0; c0 < n; c0 += 8) {                                                 \
        int kn = n - c0 < 8 ? (int)(n - c0) : 8;                                               \
        for (int k = 0; k < kn; k++)                                                           \
            CX_WQ_TERM(T, x, t, w, n, m, eps, c0 + k, k, a, b, exact_zero, CX_KEEP)            \
    }                                                                                          \
    memcpy(pd, a, sizeof a);                                                                   \
    memcpy(pq, b, sizeof b);                                                                   \
}
CX_DEFINE_WQ_SUMS(float, f_portable, CX_UNUSED)
CX_DEFINE_WQ_SUMS(double, d_portable, CX_UNUSED)


#define CX_FMA_HW(a, b, c) __builtin_fmaf((a), (b), (c))
#define CX_FMA_SW(a, b, c) ((a) * (b) + (c))

CX_DEFINE_KERNELS(portable, CX_UNUSED, CX_FMA_SW)

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define CX_HAVE_V3 1
#include <immintrin.h>
#define CX_V3 __attribute__((target("avx2,fma")))
#define CX_V4 __attribute__((target("avx2,fma,avx512f,avx512vl,avx512dq,avx512bw")))
/* Width-generic vector code (W = 256: AVX2, 512: AVX-512, note G): a condition is a vector on
   AVX2 and a mask register on AVX-512, so comparisons, selections and masked memory go through
   these per-width helpers; SEL(c, a, b) is b where c holds, else a.  Suffix D: float64. */
#define CX_COND256 __m256
#define CX_COND512 __mmask16
#define CX_CONDD256 __m256d
#define CX_CONDD512 __mmask8
#define CX_CMP256(a, b, op) _mm256_cmp_ps((a), (b), (op))
#define CX_CMP512(a, b, op) _mm512_cmp_ps_mask((a), (b), (op))
#define CX_CMPD256(a, b, op) _mm256_cmp_pd((a), (b), (op))
#define CX_CMPD512(a, b, op) _mm512_cmp_pd_mask((a), (b), (op))
#define CX_SEL256(c, a, b) _mm256_blendv_ps((a), (b), (c))
#define CX_SEL512(c, a, b) _mm512_mask_blend_ps((c), (a), (b))
#define CX_SELD256(c, a, b) _mm256_blendv_pd((a), (b), (c))
#define CX_SELD512(c, a, b) _mm512_mask_blend_pd((c), (a), (b))
/* float64 conditions as lane bits (any lane: nonzero); k AND a AND b; every lane true */
#define CX_ANY256(c) _mm256_movemask_ps(c)
#define CX_ANY512(c) ((unsigned)(c))
#define CX_BITSD256(c) ((unsigned)_mm256_movemask_pd(c))
#define CX_BITSD512(c) ((unsigned)(c))
#define CX_ANDC256(k, a, b) _mm256_and_pd((k), _mm256_and_pd((a), (b)))
#define CX_ANDC512(k, a, b) ((__mmask8)((k) & (a) & (b)))
#define CX_ALLD256 _mm256_castsi256_pd(_mm256_set1_epi64x(-1))
#define CX_ALLD512 ((__mmask8)0xff)
#define CX_SET64_256(v) _mm256_set1_epi64x(v)
#define CX_SET64_512(v) _mm512_set1_epi64(v)
/* e - 1 (int32 lanes) where c */
#define CX_DEC256(e, c)                                                                        \
    _mm256_sub_epi32((e), _mm256_and_si256(_mm256_castps_si256(c), _mm256_set1_epi32(1)))
#define CX_DEC512(e, c) _mm512_mask_sub_epi32((e), (c), (e), _mm512_set1_epi32(1))
/* k + 1.0 where c (k + 0.0 elsewhere: k itself, k never -0) */
#define CX_INCD256(k, c) _mm256_add_pd((k), _mm256_and_pd((c), _mm256_set1_pd(1.0)))
#define CX_INCD512(k, c) _mm512_mask_add_pd((k), (c), (k), _mm512_set1_pd(1.0))
/* the first k lanes (float32) of a span's last vector: a mask, masked loads and stores, v with
   0 in the other lanes */
#define CX_MASK256 __m256i
#define CX_MASK512 __mmask16
#define CX_TAIL256(k) cx_tail_mask(k)
#define CX_TAIL512(k) ((__mmask16)((k) >= 16 ? 0xffffu : (1u << (k)) - 1u))
#define CX_LOADM256(p, m) _mm256_maskload_ps((p), (m))
#define CX_LOADM512(p, m) _mm512_maskz_loadu_ps((m), (p))
#define CX_STOREM256(p, m, v) _mm256_maskstore_ps((p), (m), (v))
#define CX_STOREM512(p, m, v) _mm512_mask_storeu_ps((p), (m), (v))
#define CX_ANDM256(v, m) _mm256_and_ps((v), _mm256_castsi256_ps(m))
#define CX_ANDM512(v, m) _mm512_maskz_mov_ps((m), (v))
/* b + v into an 8-lane float sum, 8 lanes at a time as AVX2 adds them (k: v's valid lanes) */
#define CX_ADD8_256(b, v, k) _mm256_add_ps((b), (v))
#define CX_ADD8_512(b, v, k)                                                                   \
    ((k) > 8 ? _mm256_add_ps(_mm256_add_ps((b), _mm512_castps512_ps256(v)),                   \
                             _mm512_extractf32x8_ps((v), 1))                                  \
             : _mm256_add_ps((b), _mm512_castps512_ps256(v)))
CX_DEFINE_KERNELS(avx2_fma, CX_V3 __attribute__((unused)), CX_FMA_HW)

/* Hand-written AVX2+FMA versions of the hottest loops (E): the same polynomial as cx_expf, for
   arguments d <= 0 (or nan), which is every exp in these kernels (x - max, -|x|).  One sequence
   of operations for W-bit vectors (NAME: cx_exp8_nonpos, 256; cx_exp16_nonpos, 512 (G)), so an
   element's exp has the same bits on either path; ZERO_LT(d, lo, v) is v with 0 where d < lo. */
#define CX_EXP_NONPOS_PS(NAME, W, ATTR, ZERO_LT)                                               \
ATTR static inline __m##W NAME##_poly(__m##W d, __m##W *tp, __m##W *plo) {                     \
    /* exp(r) for d = n ln2 + r, and t, whose low bits hold n; plo (if not NULL): the last      \
       step's rounding error (1 - p exact: p in [0.7, 1.42]) */                                \
    const __m##W magic = _mm##W##_set1_ps(12582912.0f); /* 1.5 * 2^23: t's low bits hold n */ \
    /* no clamp: below lo (and -inf) the garbage is masked to 0 at the end */                  \
    __m##W t = _mm##W##_fmadd_ps(d, _mm##W##_set1_ps(1.44269504088896341f), magic);           \
    __m##W n = _mm##W##_sub_ps(t, magic); /* round(d / ln2), from one rounding of the FMA */  \
    __m##W r = _mm##W##_fmadd_ps(n, _mm##W##_set1_ps(-0.693359375f), d);                      \
    r = _mm##W##_fmadd_ps(n, _mm##W##_set1_ps(2.12194440e-4f), r);                            \
    /* c2 + ... + c6 r^4 by Estrin's scheme (a short chain), then 1 + r (1 + r (...)) (the    \
       note above CX_EXP_C2) */                                                                \
    __m##W r2 = _mm##W##_mul_ps(r, r);                                                        \
    __m##W c45 = _mm##W##_fmadd_ps(_mm##W##_set1_ps(CX_EXP_C5), r, _mm##W##_set1_ps(CX_EXP_C4)); \
    __m##W c23 = _mm##W##_fmadd_ps(_mm##W##_set1_ps(CX_EXP_C3), r, _mm##W##_set1_ps(CX_EXP_C2)); \
    __m##W p = _mm##W##_fmadd_ps(_mm##W##_fmadd_ps(_mm##W##_set1_ps(CX_EXP_C6), r2, c45), r2, \
                                 c23);                                                         \
    p = _mm##W##_fmadd_ps(p, r, _mm##W##_set1_ps(1.0f));                                      \
    *tp = t;                                                                                   \
    __m##W q = _mm##W##_fmadd_ps(p, r, _mm##W##_set1_ps(1.0f));                               \
    if (plo) *plo = _mm##W##_fmadd_ps(p, r, _mm##W##_sub_ps(_mm##W##_set1_ps(1.0f), q));       \
    return q;                                                                                  \
}                                                                                              \
ATTR static inline __m##W NAME##_scale2(__m##W p, __m##W t) {                                 \
    /* p 2^n in two steps, so results below FLT_MIN round correctly */                         \
    const __m##W##i bias = _mm##W##_set1_epi32(127);                                          \
    __m##W##i ni = _mm##W##_sub_epi32(_mm##W##_castps_si##W(t),                               \
                                      _mm##W##_castps_si##W(_mm##W##_set1_ps(12582912.0f)));  \
    __m##W##i n1 = _mm##W##_srai_epi32(ni, 1), n2 = _mm##W##_sub_epi32(ni, n1);               \
    __m##W s1 = _mm##W##_castsi##W##_ps(_mm##W##_slli_epi32(_mm##W##_add_epi32(n1, bias), 23)); \
    __m##W s2 = _mm##W##_castsi##W##_ps(_mm##W##_slli_epi32(_mm##W##_add_epi32(n2, bias), 23)); \
    return _mm##W##_mul_ps(_mm##W##_mul_ps(p, s1), s2);                                       \
}                                                                                              \
ATTR static inline __m##W NAME##_scale1(__m##W p, __m##W t) {                                 \
    /* p 2^n in one step, for 2^n normal: (bits(t) + 127) << 23 = 2^n (the bits of 1.5 * 2^23   \
       above n shift out) */                                                                   \
    return _mm##W##_mul_ps(p, _mm##W##_castsi##W##_ps(_mm##W##_slli_epi32(                     \
                                  _mm##W##_add_epi32(_mm##W##_castps_si##W(t),                 \
                                                     _mm##W##_set1_epi32(127)), 23)));         \
}                                                                                              \
ATTR static inline __m##W NAME##_lo(__m##W d, int keep_subnormal, __m##W *lo) {              \
    /* NAME(d, keep_subnormal), and (lo not NULL) its last rounding's error, scaled alike (0    \
       where the result is 0; below FLT_MIN it underflows) */                                 \
    const __m##W flo = _mm##W##_set1_ps(-87.3365478515625f);                                  \
    __m##W t, plo, p = NAME##_poly(d, &t, lo ? &plo : NULL);                                  \
    if (!keep_subnormal) {                                                                     \
        if (lo) *lo = ZERO_LT(d, flo, NAME##_scale1(plo, t));                                  \
        return ZERO_LT(d, flo, NAME##_scale1(p, t)); /* below FLT_MIN: 0 */                    \
    }                                                                                          \
    if (CX_ANY##W(CX_CMP##W(d, flo, _CMP_LT_OQ))) { /* a lane below FLT_MIN: 2^n in two steps */ \
        const __m##W dlo = _mm##W##_set1_ps(-103.972084045410f);                              \
        if (lo) *lo = ZERO_LT(d, dlo, NAME##_scale2(plo, t));                                  \
        return ZERO_LT(d, dlo, NAME##_scale2(p, t));                                           \
    }                                                                                          \
    if (lo) *lo = NAME##_scale1(plo, t);                                                       \
    return NAME##_scale1(p, t); /* (or nan) one step, the same bits */                        \
}                                                                                              \
ATTR static inline __m##W NAME(__m##W d, int keep_subnormal) {                                \
    return NAME##_lo(d, keep_subnormal, NULL);                                                 \
}                                                                                              \
ATTR static inline __m##W NAME##_st(__m##W x, __m##W m, __m##W *esum) {                       \
    /* H: the stored exp(x - m) (subnormals kept), exp(d) (1 + lo) with lo d = x - m's rounding \
       error; *esum = NAME(d, 0)'s term of the row sum (the same bits as without the store) */  \
    const __m##W nm = _mm##W##_xor_ps(m, _mm##W##_set1_ps(-0.0f));                            \
    __m##W d = _mm##W##_add_ps(x, nm), t, p = NAME##_poly(d, &t, NULL);                       \
    __m##W lo = _mm##W##_sub_ps(_mm##W##_max_ps(x, nm),                                       \
                                _mm##W##_sub_ps(d, _mm##W##_min_ps(x, nm)));                  \
    const __m##W flo = _mm##W##_set1_ps(-87.3365478515625f);                                  \
    if (CX_ANY##W(CX_CMP##W(d, flo, _CMP_LT_OQ))) { /* a lane below FLT_MIN: 2^n in two steps */ \
        __m##W e = NAME##_scale2(p, t);                                                        \
        *esum = ZERO_LT(d, flo, e);                                                            \
        return ZERO_LT(d, _mm##W##_set1_ps(-103.972084045410f), _mm##W##_fmadd_ps(e, lo, e));  \
    }                                                                                          \
    /* else (or nan) one step, the same bits; e (1 + lo): p (1 + lo) 2^n rounded once */       \
    __m##W e = NAME##_scale1(p, t);                                                            \
    *esum = e;                                                                                 \
    return _mm##W##_fmadd_ps(e, lo, e);                                                        \
}
#define CX_ZERO_LT256(d, lo, v) _mm256_andnot_ps(_mm256_cmp_ps((d), (lo), _CMP_LT_OQ), (v))
CX_EXP_NONPOS_PS(cx_exp8_nonpos, 256, CX_V3, CX_ZERO_LT256)

CX_V3 static Py_ssize_t cx_argmax_avx2(const float *x, Py_ssize_t n) {
    /* cx_argmax: one max pass with four accumulators (max(v, a) returns a when v is nan), then
       a search for the first element equal to it; none (all nan) -> 0 */
    if (n < 32) return cx_argmax_row_avx2_fma(x, n);
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    __m256 a0 = ninf, a1 = ninf, a2 = ninf, a3 = ninf;
    Py_ssize_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_max_ps(_mm256_loadu_ps(x + i), a0);
        a1 = _mm256_max_ps(_mm256_loadu_ps(x + i + 8), a1);
        a2 = _mm256_max_ps(_mm256_loadu_ps(x + i + 16), a2);
        a3 = _mm256_max_ps(_mm256_loadu_ps(x + i + 24), a3);
    }
    a0 = _mm256_max_ps(_mm256_max_ps(a0, a1), _mm256_max_ps(a2, a3));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(a0), _mm256_extractf128_ps(a0, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
    float m = _mm_cvtss_f32(h);
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    const __m256 vm = _mm256_set1_ps(m);
    for (i = 0; i + 32 <= n; i += 32) {
        __m256 e = _mm256_or_ps(
            _mm256_or_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i), vm, _CMP_EQ_OQ),
                         _mm256_cmp_ps(_mm256_loadu_ps(x + i + 8), vm, _CMP_EQ_OQ)),
            _mm256_or_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i + 16), vm, _CMP_EQ_OQ),
                         _mm256_cmp_ps(_mm256_loadu_ps(x + i + 24), vm, _CMP_EQ_OQ)));
        if (_mm256_movemask_ps(e)) break;
    }
    for (; i < n; i++)
        if (x[i] == m) return i;
    return 0;
}

/* Rows of a C-contiguous batch follow each other: while a row's sum of exp runs from cache (compute
   bound), its 32-element steps prefetch the same span of the next row, x + n, so the next max pass
   finds it in L2 instead of waiting on L3/DRAM.  A prefetch past the end of the array is harmless
   (prefetches never fault), and for other layouts it only costs a cache line of bandwidth. */
#define CX_PREFETCH_NEXT_ROW(x, n, i)                                                          \
    do {                                                                                       \
        _mm_prefetch((const char *)((x) + (n) + (i)), _MM_HINT_T0);                            \
        _mm_prefetch((const char *)((x) + (n) + (i) + 16), _MM_HINT_T0);                       \
    } while (0)

CX_V3 static inline __m256i cx_tail_mask(Py_ssize_t k) { /* first k of 8 lanes */
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)k), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

CX_V3 static inline __m256d cx_add_pd8(__m256d acc, __m256 v) { /* acc += both halves of v */
    return _mm256_add_pd(acc, _mm256_add_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)),
                                            _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1))));
}

CX_V3 static inline double cx_hsum_pd(__m256d v) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

/* One term of the row arithmetic's sum, 8 wide (cx_term): exp(d) with d = x - m, 0 below
   FLT_MIN; with y, the stored exp (H: cx_exp8_nonpos_st) is stored there first. */
#define CX_TERM8(e, xv, vm, y)                                                                 \
    {                                                                                          \
        if (y) {                                                                               \
            _mm256_storeu_ps((y), cx_exp8_nonpos_st((xv), (vm), &e));                          \
        } else {                                                                               \
            e = cx_exp8_nonpos(_mm256_sub_ps((xv), (vm)), 0);                                  \
        }                                                                                      \
    }
/* e without lane k (k outside 0..7: unchanged) */
#define CX_SKIP_LANE(e, k)                                                                     \
    e = _mm256_andnot_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(                               \
            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32((int)(k)))), e)

CX_V3 static inline double cx_sumexp_tail_avx2(const float *x, Py_ssize_t i, Py_ssize_t n,
                                               float m, Py_ssize_t am, float *y, __m256d acc) {
    /* cx_sumexp's tail from class i (past its blocks of 32), masked groups of 8 added to acc
       (the lanes past n add 0); returns the row's sum */
    const __m256 vm = _mm256_set1_ps(m);
    for (; i < n; i += 8) {
        __m256i mask = cx_tail_mask(n - i);
        float yb[8];
        float *yt = y ? yb : NULL; /* the stored exps, then only the first n - i of them */
        __m256 e;
        CX_TERM8(e, _mm256_maskload_ps(x + i, mask), vm, yt)
        if (y) _mm256_maskstore_ps(y + i, mask, _mm256_loadu_ps(yb));
        if ((size_t)(am - i) < 8) CX_SKIP_LANE(e, am - i);
        acc = cx_add_pd8(acc, _mm256_and_ps(e, _mm256_castsi256_ps(mask)));
    }
    return cx_hsum_pd(acc);
}

CX_V3 static double cx_sumexp_avx2(const float *x, Py_ssize_t n, float m, Py_ssize_t am,
                                   float *y) {
    /* The row arithmetic's sum (cx_rowsum): float partial sums in two chains over blocks of
       256 (16 terms per lane), added in double; the arg-max term masked in the one group that
       holds it.  With y, also y = exp(x - m) (the same sum bit for bit). */
    const __m256 vm = _mm256_set1_ps(m);
    __m256d acc = _mm256_setzero_pd();
    Py_ssize_t i = 0;
    while (i + 32 <= n) {
        __m256 s0 = _mm256_setzero_ps(), s1 = s0, e0, e1, e2, e3;
        Py_ssize_t stop = i + 256 <= n ? i + 256 : n - (n - i) % 32;
        for (; i < stop; i += 32) {
            CX_PREFETCH_NEXT_ROW(x, n, i);
            CX_TERM8(e0, _mm256_loadu_ps(x + i), vm, y ? y + i : NULL)
            CX_TERM8(e1, _mm256_loadu_ps(x + i + 8), vm, y ? y + i + 8 : NULL)
            CX_TERM8(e2, _mm256_loadu_ps(x + i + 16), vm, y ? y + i + 16 : NULL)
            CX_TERM8(e3, _mm256_loadu_ps(x + i + 24), vm, y ? y + i + 24 : NULL)
            if ((size_t)(am - i) < 32) {
                CX_SKIP_LANE(e0, am - i);
                CX_SKIP_LANE(e1, am - i - 8);
                CX_SKIP_LANE(e2, am - i - 16);
                CX_SKIP_LANE(e3, am - i - 24);
            }
            s0 = _mm256_add_ps(s0, _mm256_add_ps(e0, e1));
            s1 = _mm256_add_ps(s1, _mm256_add_ps(e2, e3));
        }
        acc = cx_add_pd8(acc, _mm256_add_ps(s0, s1));
    }
    return cx_sumexp_tail_avx2(x, i, n, m, am, y, acc);
}

/* log(u) for normal u > 0 in double, table-driven, no division (NAME: cx_log4_pd, 256;
   cx_log8_pd, 512): u = 2^k z with z in [0.703125, 1.40625) (the bits of u minus
   0x3fe6800000000000), z's interval i of 16 (its top four mantissa bits) gives invc = 1 / c (c the
   interval's midpoint, exactly 1 for the one that holds 1) and log c (tools/log_table.py), and
   log u = k ln2 + log c + log1p(r) with r = z invc - 1, |r| < 2^-5, by log1p's series to r^11
   (truncation below 2^-58 relative).  r, k ln2 + log c and their sum are carried as hi + lo pairs
   (z invc's rounding error, log c to 106 bits, ln2 in two parts, two exact two-sums) and the
   small parts added before the one last rounding: within 0.52 ulp (tests/test_accuracy_bounds.py).
   The table is read with a two-register permutation on AVX-512 and a gather on AVX2: the same
   values, the same bits.  u = 0 (or subnormal) gives about -709: callers clamp far above that;
   inf and nan give finite values. */
static const double cx_log_invc[16] = {
    0x1.642c8590b2164p+0, 0x1.5555555555555p+0, 0x1.47ae147ae147bp+0, 0x1.3b13b13b13b14p+0,
    0x1.2f684bda12f68p+0, 0x1.2492492492492p+0, 0x1.1a7b9611a7b96p+0, 0x1.1111111111111p+0,
    0x1.0842108421084p+0, 0x1.0000000000000p+0, 0x1.e1e1e1e1e1e1ep-1, 0x1.c71c71c71c71cp-1,
    0x1.af286bca1af28p-1, 0x1.999999999999ap-1, 0x1.8618618618618p-1, 0x1.745d1745d1746p-1};
static const double cx_log_logc[16] = {
    -0x1.522ae0738a3d7p-2, -0x1.269621134db91p-2, -0x1.f991c6cb3b37ap-3, -0x1.a93ed3c8ad9e5p-3,
    -0x1.5bf406b543db0p-3, -0x1.1178e8227e47ap-3, -0x1.9335e5d594988p-4, -0x1.08598b59e3a06p-4,
    -0x1.0415d89e74440p-5, 0x0.0p+0, 0x1.f0a30c01162a8p-5, 0x1.e27076e2af2eap-4,
    0x1.5ff3070a793d6p-3, 0x1.c8ff7c79a9a20p-3, 0x1.1675cababa60fp-2, 0x1.4618bc21c5ec2p-2};
static const double cx_log_logc_lo[16] = {
    -0x1.3840b263acb43p-56, -0x1.e0efadd9db02ap-56, -0x1.ecca0cdf30143p-58, -0x1.bcafa9de97202p-57,
    0x1.1f5b44c0df7f7p-61, 0x1.0e63a5f01c693p-58, 0x1.478a85704ccb7p-58, 0x1.dd7009902bf32p-58,
    -0x1.c05cf1d753621p-59, 0x0.0p+0, 0x1.85f325c5bbacdp-59, -0x1.61578001e015ap-60,
    -0x1.bc60efafc6f6cp-58, -0x1.4f689f8434011p-57, 0x1.ce63eab883727p-61, -0x1.7a42642661c62p-61};
/* the 16-entry table t at int64 lane indices i (0..15) */
#define CX_TBL256(t, i) _mm256_i64gather_pd((t), (i), 8)
#define CX_TBL512(t, i) _mm512_permutex2var_pd(_mm512_loadu_pd(t), (i), _mm512_loadu_pd((t) + 8))
#define CX_LOG_PD(NAME, W, ATTR)                                                              \
ATTR static inline __m##W##d NAME##_lo(__m##W##d u, __m##W##d ulo, int has_lo) {              \
    const __m##W##i bits = _mm##W##_castpd_si##W(u);                                          \
    const __m##W##i tmp = _mm##W##_sub_epi64(bits, CX_SET64_##W(0x3fe6800000000000LL));       \
    const __m##W##i idx = _mm##W##_and_si##W(_mm##W##_srli_epi64(tmp, 48), CX_SET64_##W(15)); \
    /* k + 1023 = (bits - OFF + 1023 * 2^52) >> 52, positive; k as a double by 2^52's mantissa */ \
    __m##W##i kb = _mm##W##_srli_epi64(                                                       \
        _mm##W##_add_epi64(bits, CX_SET64_##W(0x3ff0000000000000LL - 0x3fe6800000000000LL)), 52); \
    __m##W##d k = _mm##W##_sub_pd(                                                            \
        _mm##W##_castsi##W##_pd(_mm##W##_or_si##W(kb, CX_SET64_##W(0x4330000000000000LL))),    \
        _mm##W##_set1_pd(4503599627370496.0 + 1023.0));                                       \
    __m##W##d z = _mm##W##_castsi##W##_pd(_mm##W##_sub_epi64(                                 \
        bits, _mm##W##_and_si##W(tmp, CX_SET64_##W((long long)0xfff0000000000000ULL))));      \
    __m##W##d invc = CX_TBL##W(cx_log_invc, idx), logc = CX_TBL##W(cx_log_logc, idx);          \
    /* r + rlo = z invc - 1 exactly (z invc in [0.96, 1.04]: p - 1 exact) */                  \
    __m##W##d p = _mm##W##_mul_pd(z, invc);                                                   \
    CX_OPAQUE_V(p);                                                                            \
    __m##W##d r = _mm##W##_sub_pd(p, _mm##W##_set1_pd(1.0));                                  \
    __m##W##d rlo = _mm##W##_fmsub_pd(z, invc, p);                                            \
    if (has_lo) /* log(u + ulo) = log(u (1 + s)), s = ulo / u = ulo 2^-k invc / (1 + r) */    \
        rlo = _mm##W##_add_pd(rlo, _mm##W##_mul_pd(_mm##W##_mul_pd(ulo, invc),                \
            _mm##W##_castsi##W##_pd(_mm##W##_slli_epi64(                                       \
                _mm##W##_sub_epi64(CX_SET64_##W(2046), kb), 52)))); /* 2^-k, k >= -1023 */    \
    /* log1p(r + rlo) = log1p(r) + rlo / (1 + r) (to rlo r^2, below 2^-64 of the result) */   \
    rlo = _mm##W##_fnmadd_pd(rlo, r, rlo);                                                    \
    /* k ln2hi exact (ln2hi: 42 bits); w + wlo = k ln2hi + log c (|k ln2hi| > |log c| or k = 0) */ \
    __m##W##d kh = _mm##W##_mul_pd(k, _mm##W##_set1_pd(0x1.62e42fefa3800p-1));               \
    CX_OPAQUE_V(kh);                                                                           \
    __m##W##d w = _mm##W##_add_pd(kh, logc);                                                  \
    __m##W##d wlo = _mm##W##_add_pd(_mm##W##_sub_pd(kh, w), logc);                            \
    /* hi + lo = w + r (|w| > |r| or w = 0) */                                                \
    __m##W##d hi = _mm##W##_add_pd(w, r);                                                     \
    __m##W##d lo = _mm##W##_add_pd(_mm##W##_sub_pd(w, hi), r);                                \
    lo = _mm##W##_add_pd(lo, _mm##W##_add_pd(wlo, rlo));                                      \
    lo = _mm##W##_add_pd(lo, _mm##W##_fmadd_pd(k, _mm##W##_set1_pd(0x1.ef35793c76730p-45),    \
                                               CX_TBL##W(cx_log_logc_lo, idx)));               \
    __m##W##d q = _mm##W##_set1_pd(-1.0 / 11);                                                \
    q = _mm##W##_fmadd_pd(q, r, _mm##W##_set1_pd(1.0 / 10));                                  \
    q = _mm##W##_fmadd_pd(q, r, _mm##W##_set1_pd(-1.0 / 9));                                  \
    q = _mm##W##_fmadd_pd(q, r, _mm##W##_set1_pd(1.0 / 8));                                   \
    q = _mm##W##_fmadd_pd(q, r, _mm##W##_set1_pd(-1.0 / 7));                                  \
    q = _mm##W##_fmadd_pd(q, r, _mm##W##_set1_pd(1.0 / 6));                                   \
    q = _mm##W##_fmadd_pd(q, r, _mm##W##_set1_pd(-1.0 / 5));                                  \
    q = _mm##W##_fmadd_pd(q, r, _mm##W##_set1_pd(1.0 / 4));                                   \
    q = _mm##W##_fmadd_pd(q, r, _mm##W##_set1_pd(-1.0 / 3));                                  \
    q = _mm##W##_fmadd_pd(q, r, _mm##W##_set1_pd(1.0 / 2));                                   \
    /* log1p(r) - r = -r^2 (1/2 - r / 3 + ...) */                                             \
    __m##W##d r2 = _mm##W##_mul_pd(r, r);                                                     \
    CX_OPAQUE_V(r2);                                                                           \
    return _mm##W##_add_pd(hi, _mm##W##_fnmadd_pd(r2, q, lo));                                \
}                                                                                              \
ATTR static inline __m##W##d NAME(__m##W##d u) {                                              \
    return NAME##_lo(u, _mm##W##_setzero_pd(), 0);                                            \
}
/* log1p(t) for t > -1 (or nan) (NAME: cx_log1p4_pd / cx_log1p8_pd, LOG: that width's log):
   log(u + c) with u = 1 + t and c = t - (u - 1), the rounding error of u, exact (u - 1 is exact:
   u >= 2^-53 on a grid of 2^-53).  No division; t itself (its sign of zero) where u - 1 = 0,
   which the sum gives anyway but for -0. */
#define CX_LOG1P_PD(NAME, W, ATTR, LOG)                                                        \
ATTR static inline __m##W##d NAME(__m##W##d t) {                                              \
    const __m##W##d one = _mm##W##_set1_pd(1.0);                                              \
    __m##W##d u = _mm##W##_add_pd(one, t);                                                    \
    __m##W##d um1 = _mm##W##_sub_pd(u, one);                                                  \
    __m##W##d res = LOG##_lo(u, _mm##W##_sub_pd(t, um1), 1);                                  \
    return CX_SELD##W(CX_CMPD##W(um1, _mm##W##_setzero_pd(), _CMP_EQ_OQ), res, t);            \
}
CX_LOG_PD(cx_log4_pd, 256, CX_V3)
CX_LOG1P_PD(cx_log1p4_pd, 256, CX_V3, cx_log4_pd)

CX_V3 static void cx_col_lognorm_avx2(const float *x, Py_ssize_t cs, Py_ssize_t n, float *mo,
                                     double *resto, double *lno, float *y, Py_ssize_t ycs) {
    /* cx_col_lognorm's column arithmetic, one lane per row, the 16 rows as two independent
       vectors: max(v, m) keeps m when v is nan; log1p in double, 4 wide */
    const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    __m256 m0 = _mm256_loadu_ps(x), m1 = _mm256_loadu_ps(x + 8);
    for (Py_ssize_t c = 1; c < n; c++) {
        m0 = _mm256_max_ps(_mm256_loadu_ps(x + c * cs), m0);
        m1 = _mm256_max_ps(_mm256_loadu_ps(x + c * cs + 8), m1);
    }
    __m256d r[2][2] = {{_mm256_setzero_pd(), _mm256_setzero_pd()},
                       {_mm256_setzero_pd(), _mm256_setzero_pd()}}; /* [vector][half] */
    __m256 c0 = _mm256_set1_ps(-1.0f), c1 = c0;
#define CX_COL_TERM(h, m, r, k)                                                                \
    {                                                                                          \
        __m256 v = _mm256_loadu_ps(x + c * cs + h), d = _mm256_sub_ps(v, m), e;              \
        __m256 eq = _mm256_cmp_ps(d, zero, _CMP_EQ_OQ);                                        \
        if (y) /* the stored exp (H); terms below FLT_MIN count 0 in the sum either way */     \
            _mm256_storeu_ps(y + c * ycs + h, cx_exp8_nonpos_st(v, m, &e));                    \
        else                                                                                   \
            e = cx_exp8_nonpos(d, 0);                                                          \
        r = _mm256_add_ps(r, _mm256_andnot_ps(eq, e));                                         \
        k = _mm256_add_ps(k, _mm256_and_ps(eq, one));                                          \
    }
    for (Py_ssize_t cb = 0; cb < n; cb += CX_COL_BLOCK) {
        __m256 rf0 = zero, rf1 = zero;
        for (Py_ssize_t c = cb; c < cb + CX_COL_BLOCK && c < n; c++) {
            CX_COL_TERM(0, m0, rf0, c0)
            CX_COL_TERM(8, m1, rf1, c1)
        }
        __m256 rf[2] = {rf0, rf1};
        for (int h = 0; h < 2; h++) {
            r[h][0] = _mm256_add_pd(r[h][0], _mm256_cvtps_pd(_mm256_castps256_ps128(rf[h])));
            r[h][1] = _mm256_add_pd(r[h][1], _mm256_cvtps_pd(_mm256_extractf128_ps(rf[h], 1)));
        }
    }
#undef CX_COL_TERM
    __m256 cn[2] = {c0, c1};
    for (int h = 0; h < 2; h++) {
        __m256d t0 = _mm256_add_pd(r[h][0], _mm256_cvtps_pd(_mm256_castps256_ps128(cn[h])));
        __m256d t1 = _mm256_add_pd(r[h][1], _mm256_cvtps_pd(_mm256_extractf128_ps(cn[h], 1)));
        _mm256_storeu_pd(resto + 8 * h, t0);
        _mm256_storeu_pd(resto + 8 * h + 4, t1);
        _mm256_storeu_pd(lno + 8 * h, cx_log1p4_pd(t0));
        _mm256_storeu_pd(lno + 8 * h + 4, cx_log1p4_pd(t1));
    }
    _mm256_storeu_ps(mo, m0);
    _mm256_storeu_ps(mo + 8, m1);
}

CX_V3 static void cx_col_map_avx2(const float *x, Py_ssize_t cs, Py_ssize_t n, const float *m,
                                 const float *a, const float *k, const float *w, float *y,
                                 Py_ssize_t ycs, int mode) {
    /* cx_col_map, one lane per row, the 16 rows as two vectors, class by class (a class's 64
       bytes are written at once, not half now and half after the other classes) */
    __m256 va[2], vm[2], nk[2], r[2];
    for (int h = 0; h < 2; h++) {
        va[h] = _mm256_loadu_ps(a + 8 * h);
        vm[h] = mode == CX_MAP_AFFINE ? _mm256_setzero_ps() : _mm256_loadu_ps(m + 8 * h);
        /* -k, or -0 without k: a x + (-0) is the plain product, its sign kept (as the row
           kernels' a * g) */
        nk[h] = k ? _mm256_sub_ps(_mm256_setzero_ps(), _mm256_loadu_ps(k + 8 * h)) : _mm256_set1_ps(-0.0f);
    }
    for (Py_ssize_t c = 0; c < n; c++) {
        for (int h = 0; h < 2; h++) {
            __m256 v = _mm256_loadu_ps(x + c * cs + 8 * h);
            if (mode == CX_MAP_LOG) {
                r[h] = _mm256_sub_ps(_mm256_sub_ps(v, vm[h]), va[h]);
            } else {
                __m256 e = v, es;
                if (mode == CX_MAP_EXP) e = cx_exp8_nonpos_st(v, vm[h], &es);
                __m256 nkw = w ? _mm256_mul_ps(nk[h], _mm256_set1_ps(w[c])) : nk[h];
                r[h] = _mm256_fmadd_ps(va[h], e, nkw);
            }
        }
        _mm256_storeu_ps(y + c * ycs, r[0]);
        _mm256_storeu_ps(y + c * ycs + 8, r[1]);
    }
}

/* A col_long member from its always-inline body NAME##_impl: two copies of the loops, with and
   without the store of y */
#define CX_COL_LONG_ENTRY(NAME, ATTR, T)                                                       \
ATTR static void NAME(const T *x, Py_ssize_t cs, Py_ssize_t n, const T *m, const T *am,        \
                     double *resto, double *lno, T *y, Py_ssize_t ycs) {                       \
    if (y)                                                                                     \
        NAME##_impl(x, cs, n, m, am, resto, lno, y, ycs);                                      \
    else                                                                                       \
        NAME##_impl(x, cs, n, m, am, resto, lno, NULL, 0);                                     \
}

CX_V3 static inline __attribute__((always_inline)) void cx_col_long_avx2_impl(
    const float *x, Py_ssize_t cs, Py_ssize_t n, const float *mi, const float *ami, double *resto,
    double *lno, float *y, Py_ssize_t ycs) {
    /* cx_col_long: the sums of cx_sumexp_avx2 for 16 rows side by side (two vectors per class),
       given each row's arg-max and max.  A lane of cx_sumexp_avx2's partial sums is an array
       index here: p[l] is the vector of every row's lane-l partial (classes i + l, i + l + 8 of
       each group of 32 in the first chain, i + l + 16, i + l + 24 in the second), acc[q] their
       double accumulators; each partial takes its terms in the same order, so the sums are each
       row's bit for bit.  A block's partials are taken one at a time, in registers, over its
       groups. */
    __m256 m[2] = {_mm256_loadu_ps(mi), _mm256_loadu_ps(mi + 8)}, p[16][2], e0, e1;
    __m256i am[2] = {_mm256_cvttps_epi32(_mm256_loadu_ps(ami)),
                     _mm256_cvttps_epi32(_mm256_loadu_ps(ami + 8))};
    __m256d acc[4][4];
    for (int q = 0; q < 4; q++)
        for (int g = 0; g < 4; g++) acc[q][g] = _mm256_setzero_pd();
#define CX_LTERM(e, c, h)                                                                      \
    CX_TERM8(e, _mm256_loadu_ps(x + (c) * cs + 8 * (h)), m[h], y ? y + (c) * ycs + 8 * (h) : NULL) \
    e = _mm256_andnot_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_set1_epi32((int)(c)), am[h])), e);
#define CX_LACC(q, h, a, b) /* acc[q] += (double)a + (double)b, per row */                    \
    {                                                                                          \
        acc[q][2 * (h)] = _mm256_add_pd(acc[q][2 * (h)],                                       \
            _mm256_add_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(a)),                          \
                          _mm256_cvtps_pd(_mm256_castps256_ps128(b))));                        \
        acc[q][2 * (h) + 1] = _mm256_add_pd(acc[q][2 * (h) + 1],                               \
            _mm256_add_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(a, 1)),                        \
                          _mm256_cvtps_pd(_mm256_extractf128_ps(b, 1))));                      \
    }
    Py_ssize_t i = 0;
    while (i + 32 <= n) {
        Py_ssize_t stop = i + 256 <= n ? i + 256 : n - (n - i) % 32;
        for (int l = 0; l < 8; l++) {
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, b0 = a0, b1 = a0;
            for (Py_ssize_t c = i + l; c < stop; c += 32) {
                CX_LTERM(e0, c, 0)
                CX_LTERM(e1, c + 8, 0)
                a0 = _mm256_add_ps(a0, _mm256_add_ps(e0, e1));
                CX_LTERM(e0, c, 1)
                CX_LTERM(e1, c + 8, 1)
                a1 = _mm256_add_ps(a1, _mm256_add_ps(e0, e1));
                CX_LTERM(e0, c + 16, 0)
                CX_LTERM(e1, c + 24, 0)
                b0 = _mm256_add_ps(b0, _mm256_add_ps(e0, e1));
                CX_LTERM(e0, c + 16, 1)
                CX_LTERM(e1, c + 24, 1)
                b1 = _mm256_add_ps(b1, _mm256_add_ps(e0, e1));
            }
            p[l][0] = a0;
            p[l][1] = a1;
            p[l + 8][0] = b0;
            p[l + 8][1] = b1;
        }
        i = stop;
        for (int q = 0; q < 4; q++)
            for (int h = 0; h < 2; h++) {
                __m256 a = _mm256_add_ps(p[q][h], p[q + 8][h]);
                __m256 b = _mm256_add_ps(p[q + 4][h], p[q + 12][h]);
                CX_LACC(q, h, a, b)
            }
    }
    for (; i < n; i += 8) /* the tail in groups of 8 classes, the missing ones 0 */
        for (int q = 0; q < 4; q++)
            for (int h = 0; h < 2; h++) {
                e0 = e1 = _mm256_setzero_ps();
                if (i + q < n) { CX_LTERM(e0, i + q, h) }
                if (i + q + 4 < n) { CX_LTERM(e1, i + q + 4, h) }
                CX_LACC(q, h, e0, e1)
            }
#undef CX_LTERM
#undef CX_LACC
    for (int g = 0; g < 4; g++) { /* rows 4g .. 4g + 3 */
        int h = g / 2;
        __m128 mh = g % 2 ? _mm256_extractf128_ps(m[h], 1) : _mm256_castps256_ps128(m[h]);
        __m256d r = _mm256_add_pd(_mm256_add_pd(acc[0][g], acc[2][g]),
                                  _mm256_add_pd(acc[1][g], acc[3][g]));
        r = _mm256_add_pd(r, _mm256_cvtps_pd(_mm_sub_ps(mh, mh)));
        _mm256_storeu_pd(resto + 4 * g, r);
    }
    for (int j = 0; j < CX_LANES; j++) lno[j] = log1p(resto[j]);
}

CX_COL_LONG_ENTRY(cx_col_long_avx2, CX_V3, float)

/* F. float64 on AVX2+FMA, 4 lanes.  exp: x = n ln2 + r (fdlibm's two-part ln2), exp(r) by its
   Taylor polynomial to r^13 (truncation 4e-18 relative on |r| <= ln2/2) summed as
   1 + (r + r^2 (...)), one rounding near 1: within 0.98 ulp on [-700, -37.5] (2e6 values; 1.24
   with (1 + r) rounded first), 2^n in two steps so subnormal results are right; below -745.2 (and -inf) 0, nan kept.  Argument d <= 0 or nan
   (or up to 710, where 2^n's two halves are still normal: above 709.78 the product is inf). */
/* The float64 exp of arguments <= 0 (or nan), for W-bit vectors (NAME: cx_exp4_nonpos, 256;
   cx_exp8_nonpos_pd, 512 (G)): one sequence of operations, the same bits on either path;
   FLOOR(v) rounds toward -inf. */
#define CX_EXP_NONPOS_PD(NAME, W, ATTR, ZERO_LT, FLOOR)                                        \
ATTR static inline __m##W##d NAME##_parts(__m##W##d d, __m##W##d *np) {                       \
    /* exp(r) for d = n ln2 + r, and n */                                                      \
    const __m##W##d magic = _mm##W##_set1_pd(6755399441055744.0); /* 1.5 * 2^52 */            \
    __m##W##d t = _mm##W##_fmadd_pd(d, _mm##W##_set1_pd(1.4426950408889634), magic);          \
    __m##W##d n = _mm##W##_sub_pd(t, magic);                                                  \
    __m##W##d r = _mm##W##_fmadd_pd(n, _mm##W##_set1_pd(-6.93147180369123816490e-01), d);     \
    r = _mm##W##_fmadd_pd(n, _mm##W##_set1_pd(-1.90821492927058770002e-10), r);               \
    __m##W##d p = _mm##W##_set1_pd(1.0 / 6227020800.0);                                       \
    p = _mm##W##_fmadd_pd(p, r, _mm##W##_set1_pd(1.0 / 479001600.0));                         \
    p = _mm##W##_fmadd_pd(p, r, _mm##W##_set1_pd(1.0 / 39916800.0));                          \
    p = _mm##W##_fmadd_pd(p, r, _mm##W##_set1_pd(1.0 / 3628800.0));                           \
    p = _mm##W##_fmadd_pd(p, r, _mm##W##_set1_pd(1.0 / 362880.0));                            \
    p = _mm##W##_fmadd_pd(p, r, _mm##W##_set1_pd(1.0 / 40320.0));                             \
    p = _mm##W##_fmadd_pd(p, r, _mm##W##_set1_pd(1.0 / 5040.0));                              \
    p = _mm##W##_fmadd_pd(p, r, _mm##W##_set1_pd(1.0 / 720.0));                               \
    p = _mm##W##_fmadd_pd(p, r, _mm##W##_set1_pd(1.0 / 120.0));                               \
    p = _mm##W##_fmadd_pd(p, r, _mm##W##_set1_pd(1.0 / 24.0));                                \
    p = _mm##W##_fmadd_pd(p, r, _mm##W##_set1_pd(1.0 / 6.0));                                 \
    p = _mm##W##_fmadd_pd(p, r, _mm##W##_set1_pd(0.5));                                       \
    /* 1 + (r + r^2 p): the small part rounded first, then one rounding near 1 */               \
    p = _mm##W##_add_pd(_mm##W##_set1_pd(1.0), _mm##W##_fmadd_pd(_mm##W##_mul_pd(p, r), r, r)); \
    *np = n;                                                                                   \
    return p;                                                                                  \
}                                                                                              \
ATTR static inline __m##W##d NAME##_scale2(__m##W##d p, __m##W##d n) {                        \
    /* p 2^n with n = n1 + n2, each >= -538: 2^k = (bits(k + magic) + 1023) << 52 */           \
    const __m##W##d magic = _mm##W##_set1_pd(6755399441055744.0);                             \
    __m##W##d n1 = FLOOR(_mm##W##_mul_pd(n, _mm##W##_set1_pd(0.5)));                         \
    __m##W##d n2 = _mm##W##_sub_pd(n, n1);                                                    \
    const __m##W##i bias = CX_SET64_##W(1023);                                                \
    __m##W##d s1 = _mm##W##_castsi##W##_pd(_mm##W##_slli_epi64(                               \
        _mm##W##_add_epi64(_mm##W##_castpd_si##W(_mm##W##_add_pd(n1, magic)), bias), 52));    \
    __m##W##d s2 = _mm##W##_castsi##W##_pd(_mm##W##_slli_epi64(                               \
        _mm##W##_add_epi64(_mm##W##_castpd_si##W(_mm##W##_add_pd(n2, magic)), bias), 52));    \
    return _mm##W##_mul_pd(_mm##W##_mul_pd(p, s1), s2);                                       \
}                                                                                              \
ATTR static inline __m##W##d NAME(__m##W##d d) {                                              \
    __m##W##d n, p = NAME##_parts(d, &n);                                                     \
    return ZERO_LT(d, _mm##W##_set1_pd(-745.2), NAME##_scale2(p, n));                         \
}                                                                                              \
ATTR static inline __m##W##d NAME##_st(__m##W##d x, __m##W##d m, __m##W##d *esum) {           \
    /* H: the stored exp(x - m), exp(d) (1 + lo) with lo d = x - m's rounding error (x <= m); \
       *esum = NAME(d), the row sum's term */                                                  \
    const __m##W##d nm = _mm##W##_xor_pd(m, _mm##W##_set1_pd(-0.0));                          \
    const __m##W##d lo = _mm##W##_set1_pd(-745.2);                                            \
    __m##W##d d = _mm##W##_add_pd(x, nm), n, p = NAME##_parts(d, &n);                         \
    __m##W##d t = _mm##W##_sub_pd(_mm##W##_max_pd(x, nm),                                     \
                                  _mm##W##_sub_pd(d, _mm##W##_min_pd(x, nm)));                \
    __m##W##d e;                                                                               \
    if (CX_BITSD##W(CX_CMPD##W(d, _mm##W##_set1_pd(-708.0), _CMP_LT_OQ))) {                   \
        e = ZERO_LT(d, lo, NAME##_scale2(p, n));                                               \
        *esum = e;                                                                             \
        return ZERO_LT(d, lo, _mm##W##_fmadd_pd(e, t, e)); /* t is nan at x = -inf */          \
    } else { /* every lane's 2^n normal (or d nan): one step, the same bits */                 \
        e = _mm##W##_mul_pd(p, _mm##W##_castsi##W##_pd(_mm##W##_slli_epi64(_mm##W##_add_epi64( \
            _mm##W##_castpd_si##W(_mm##W##_add_pd(n, _mm##W##_set1_pd(6755399441055744.0))),  \
            CX_SET64_##W(1023)), 52)));                                                        \
    }                                                                                          \
    *esum = e;                                                                                 \
    return _mm##W##_fmadd_pd(e, t, e); /* e (1 + lo) */                                       \
}
#define CX_ZERO_LT256D(d, lo, v) _mm256_andnot_pd(_mm256_cmp_pd((d), (lo), _CMP_LT_OQ), (v))
#define CX_FLOOR256D(v) _mm256_round_pd((v), _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC)
CX_EXP_NONPOS_PD(cx_exp4_nonpos, 256, CX_V3, CX_ZERO_LT256D, CX_FLOOR256D)

CX_V3 static void cx_softcap_f_avx2(const float *x, Py_ssize_t n, float c, float *y, float *t) {
    /* cx_softcap_f_portable's values, 4 lanes in double: tanh(a) = (1 - e) / (1 + e), a = |q|,
       e = exp(-2a) (its error, a few 2^-53, is a relative 2^-40 of tanh(a) for a >= 2^-12; below
       that tanh(q) rounds to q itself, which is returned); nan stays nan, +-inf gives +-1. */
    const __m128 cv = _mm_set1_ps(c);
    const __m256d one = _mm256_set1_pd(1.0), sign = _mm256_set1_pd(-0.0);
    const __m256d tiny = _mm256_set1_pd(0x1p-12), m2 = _mm256_set1_pd(-2.0);
    Py_ssize_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m128 q = _mm_div_ps(_mm_loadu_ps(x + i), cv);
        __m256d qd = _mm256_cvtps_pd(q), a = _mm256_andnot_pd(sign, qd);
        __m256d e = cx_exp4_nonpos(_mm256_mul_pd(m2, a));
        __m256d th = _mm256_div_pd(_mm256_sub_pd(one, e), _mm256_add_pd(one, e));
        th = _mm256_or_pd(th, _mm256_and_pd(sign, qd)); /* tanh is odd */
        th = _mm256_blendv_pd(th, qd, _mm256_cmp_pd(a, tiny, _CMP_LT_OQ));
        __m128 tf = _mm256_cvtpd_ps(th);
        _mm_storeu_ps(t + i, tf);
        _mm_storeu_ps(y + i, _mm_mul_ps(cv, tf));
    }
    if (i < n) {
        float xb[4] = {0.0f, 0.0f, 0.0f, 0.0f}, yb[4], tb[4];
        for (Py_ssize_t j = i; j < n; j++) xb[j - i] = x[j];
        cx_softcap_f_avx2(xb, 4, c, yb, tb);
        for (Py_ssize_t j = i; j < n; j++) {
            y[j] = yb[j - i];
            t[j] = tb[j - i];
        }
    }
}

CX_V3 static inline __m256i cx_tail_mask_pd(Py_ssize_t k) { /* first k of 4 lanes */
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(k), _mm256_setr_epi64x(0, 1, 2, 3));
}

CX_V3 static Py_ssize_t cx_argmax_d_avx2(const double *x, Py_ssize_t n) {
    /* as cx_argmax_avx2: a max pass (nan never wins), then the first index equal to it */
    if (n < 16) return cx_argmax_d_portable(x, n);
    const __m256d ninf = _mm256_set1_pd(-INFINITY);
    __m256d a0 = ninf, a1 = ninf, a2 = ninf, a3 = ninf;
    Py_ssize_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_max_pd(_mm256_loadu_pd(x + i), a0);
        a1 = _mm256_max_pd(_mm256_loadu_pd(x + i + 4), a1);
        a2 = _mm256_max_pd(_mm256_loadu_pd(x + i + 8), a2);
        a3 = _mm256_max_pd(_mm256_loadu_pd(x + i + 12), a3);
    }
    a0 = _mm256_max_pd(_mm256_max_pd(a0, a1), _mm256_max_pd(a2, a3));
    double b[4];
    _mm256_storeu_pd(b, a0);
    double m = b[0];
    for (int j = 1; j < 4; j++) m = b[j] > m ? b[j] : m;
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    const __m256d vm = _mm256_set1_pd(m);
    for (i = 0; i + 16 <= n; i += 16) {
        __m256d e = _mm256_or_pd(
            _mm256_or_pd(_mm256_cmp_pd(_mm256_loadu_pd(x + i), vm, _CMP_EQ_OQ),
                         _mm256_cmp_pd(_mm256_loadu_pd(x + i + 4), vm, _CMP_EQ_OQ)),
            _mm256_or_pd(_mm256_cmp_pd(_mm256_loadu_pd(x + i + 8), vm, _CMP_EQ_OQ),
                         _mm256_cmp_pd(_mm256_loadu_pd(x + i + 12), vm, _CMP_EQ_OQ)));
        if (_mm256_movemask_pd(e)) break;
    }
    for (; i < n; i++)
        if (x[i] == m) return i;
    return 0; /* every element nan */
}

/* e without lane k of 4 (k outside 0..3: unchanged) */
#define CX_SKIP_LANE4(e, k)                                                                    \
    e = _mm256_andnot_pd(_mm256_castsi256_pd(_mm256_cmpeq_epi64(                               \
            _mm256_setr_epi64x(0, 1, 2, 3), _mm256_set1_epi64x((long long)(k)))), e)

CX_V3 static inline double cx_sumexp_d_tail_avx2(const double *x, Py_ssize_t i, Py_ssize_t n,
                                                 double m, Py_ssize_t am, double *y, __m256d s0,
                                                 __m256d s1, __m256d s2, __m256d s3) {
    /* cx_sumexp_d's tail from class i (past its groups of 16), 4 at a time, masked, into the
       first chain; returns the row's sum */
    const __m256d vm = _mm256_set1_pd(m);
    for (; i < n; i += 4) {
        __m256i mask = cx_tail_mask_pd(n - i);
        __m256d v = _mm256_maskload_pd(x + i, mask), e;
        if (y)
            _mm256_maskstore_pd(y + i, mask, cx_exp4_nonpos_st(v, vm, &e));
        else
            e = cx_exp4_nonpos(_mm256_sub_pd(v, vm));
        if ((size_t)(am - i) < 4) CX_SKIP_LANE4(e, am - i);
        s0 = _mm256_add_pd(s0, _mm256_and_pd(e, _mm256_castsi256_pd(mask)));
    }
    return cx_hsum_pd(_mm256_add_pd(_mm256_add_pd(s0, s1), _mm256_add_pd(s2, s3)));
}

CX_V3 static double cx_sumexp_d_avx2(const double *x, Py_ssize_t n, double m, Py_ssize_t am,
                                     double *y) {
    /* the float64 row arithmetic's sum: four double chains over groups of 16, the tail (4 at a
       time, masked) into the first; the arg-max term masked in the group that holds it; with y,
       also y = exp(x - m) (cx_exp4_nonpos keeps subnormals: the same terms) */
    const __m256d vm = _mm256_set1_pd(m);
    __m256d s0 = _mm256_setzero_pd(), s1 = s0, s2 = s0, s3 = s0;
    Py_ssize_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256d e0, e1, e2, e3;
        if (y) { /* the stored exps (H) */
            _mm256_storeu_pd(y + i, cx_exp4_nonpos_st(_mm256_loadu_pd(x + i), vm, &e0));
            _mm256_storeu_pd(y + i + 4, cx_exp4_nonpos_st(_mm256_loadu_pd(x + i + 4), vm, &e1));
            _mm256_storeu_pd(y + i + 8, cx_exp4_nonpos_st(_mm256_loadu_pd(x + i + 8), vm, &e2));
            _mm256_storeu_pd(y + i + 12, cx_exp4_nonpos_st(_mm256_loadu_pd(x + i + 12), vm, &e3));
        } else {
            e0 = cx_exp4_nonpos(_mm256_sub_pd(_mm256_loadu_pd(x + i), vm));
            e1 = cx_exp4_nonpos(_mm256_sub_pd(_mm256_loadu_pd(x + i + 4), vm));
            e2 = cx_exp4_nonpos(_mm256_sub_pd(_mm256_loadu_pd(x + i + 8), vm));
            e3 = cx_exp4_nonpos(_mm256_sub_pd(_mm256_loadu_pd(x + i + 12), vm));
        }
        if ((size_t)(am - i) < 16) {
            CX_SKIP_LANE4(e0, am - i);
            CX_SKIP_LANE4(e1, am - i - 4);
            CX_SKIP_LANE4(e2, am - i - 8);
            CX_SKIP_LANE4(e3, am - i - 12);
        }
        s0 = _mm256_add_pd(s0, e0);
        s1 = _mm256_add_pd(s1, e1);
        s2 = _mm256_add_pd(s2, e2);
        s3 = _mm256_add_pd(s3, e3);
    }
    return cx_sumexp_d_tail_avx2(x, i, n, m, am, y, s0, s1, s2, s3);
}

CX_V3 static void cx_affine_d_avx2(double *g, Py_ssize_t n, double a, double k, const double *w) {
    /* g = a g - k w (w NULL: 1), as the portable loop: a*g rounded, then minus k*w rounded */
    const __m256d va = _mm256_set1_pd(a), vk = _mm256_set1_pd(k);
    Py_ssize_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m256d kw = w ? _mm256_mul_pd(vk, _mm256_loadu_pd(w + i)) : vk;
        _mm256_storeu_pd(g + i, _mm256_sub_pd(_mm256_mul_pd(va, _mm256_loadu_pd(g + i)), kw));
    }
    for (; i < n; i++) g[i] = a * g[i] - k * (w ? w[i] : 1.0);
}

/* BCE over a span (bce_probs, _simd_api.h), W / 64 lanes of double at a time: cx_bce_probs_
   portable's operations and sum order (element i into partial i % 8: on AVX2 two vectors of
   partials, on AVX-512 one), each product rounded on its own (CX_OPAQUE_V: no FMA contraction).
   log1p(-p) by CX_LOG1P_PD over that width's log.  The tail runs
   the same code on padded copies (p = y = 0.5, w = 0: a +0 loss that leaves the sums as they are).
   The range checks are AND-ed per lane over the span: bad[] counts lanes that met a value
   outside [0, 1] (or nan), nonzero exactly when the portable count is.
   float64 only (float32: cx_bce_probs_f_avx2, below).  NAME: cx_bce_probs_d_{avx2,avx512}; LOG /
   LOG1P: that width's. */
/* BCE's gradient ((gs w) (p - y)) / max(p (1 - p), eps) in W-bit double vectors */
#define CX_BCE_GRAD(W, pv, yv, wv, gs)                                                        \
    _mm##W##_div_pd(                                                                          \
        _mm##W##_mul_pd(_mm##W##_mul_pd((gs), (wv)), _mm##W##_sub_pd((pv), (yv))),            \
        _mm##W##_max_pd(_mm##W##_mul_pd((pv), _mm##W##_sub_pd(_mm##W##_set1_pd(1.0), (pv))),  \
                        _mm##W##_set1_pd(CX_BCE_EPS)))
#define CX_BCE_PROBS(NAME, W, ATTR, LOG, LOG1P)                                                 \
ATTR static inline void NAME##_block(const double *p, const double *y, const double *w,         \
        double wsc, const double *gout, double gsc, double *out, double *g, __m##W##d *acc,     \
        CX_CONDD##W *okp, CX_CONDD##W *oky) {                                                   \
    const __m##W##d zero = _mm##W##_setzero_pd(), one = _mm##W##_set1_pd(1.0);                  \
    const __m##W##d lim = _mm##W##_set1_pd(-100.0);                                             \
    for (int h = 0; h < 8; h += W / 64) {                                                       \
        __m##W##d pv = _mm##W##_loadu_pd(p + h), yv = _mm##W##_loadu_pd(y + h);                 \
        __m##W##d wv = w ? _mm##W##_loadu_pd(w + h) : _mm##W##_set1_pd(wsc);                    \
        okp[h / (W / 64)] = CX_ANDC##W(okp[h / (W / 64)], CX_CMPD##W(pv, zero, _CMP_GE_OQ),     \
                                       CX_CMPD##W(pv, one, _CMP_LE_OQ));                        \
        oky[h / (W / 64)] = CX_ANDC##W(oky[h / (W / 64)], CX_CMPD##W(yv, zero, _CMP_GE_OQ),     \
                                       CX_CMPD##W(yv, one, _CMP_LE_OQ));                        \
        __m##W##d lp = _mm##W##_max_pd(LOG(_mm##W##_andnot_pd(_mm##W##_set1_pd(-0.0), pv)), lim); \
        __m##W##d l1 = _mm##W##_max_pd(LOG1P(_mm##W##_sub_pd(zero, pv)), lim);                  \
        __m##W##d a = _mm##W##_mul_pd(_mm##W##_sub_pd(yv, one), l1), b = _mm##W##_mul_pd(yv, lp); \
        CX_OPAQUE_V(a);                                                                         \
        CX_OPAQUE_V(b);                                                                         \
        __m##W##d v = _mm##W##_mul_pd(_mm##W##_sub_pd(a, b), wv);                               \
        CX_OPAQUE_V(v);                                                                         \
        if (g) { /* each operand read before g is written */                                    \
            __m##W##d gs = _mm##W##_set1_pd(gsc);                                               \
            if (gout) gs = _mm##W##_mul_pd(gs, _mm##W##_loadu_pd(gout + h));                    \
            _mm##W##_storeu_pd(g + h, CX_BCE_GRAD(W, pv, yv, wv, gs));                          \
        }                                                                                       \
        if (out) _mm##W##_storeu_pd(out + h, v);                                                \
        acc[h / (W / 64)] = _mm##W##_add_pd(acc[h / (W / 64)], v);                              \
    }                                                                                           \
}                                                                                               \
ATTR static double NAME(const double *p, const double *y, Py_ssize_t n, const double *w,        \
                        double wsc, double *out, double *g,                                     \
                        const double *gout, double gsc, Py_ssize_t *bad) {                      \
    __m##W##d acc[8 / (W / 64)];                                                                \
    CX_CONDD##W okp[8 / (W / 64)], oky[8 / (W / 64)]; /* lanes whose values were all in [0, 1] */ \
    double a[8];                                                                                \
    for (int k = 0; k < 8 / (W / 64); k++) {                                                    \
        acc[k] = _mm##W##_setzero_pd();                                                         \
        okp[k] = oky[k] = CX_ALLD##W;                                                           \
    }                                                                                           \
    Py_ssize_t i = 0;                                                                           \
    for (; i + 8 <= n; i += 8)                                                                  \
        NAME##_block(p + i, y + i, w ? w + i : NULL, wsc, gout ? gout + i : NULL, gsc,          \
                     out ? out + i : NULL, g ? g + i : NULL, acc, okp, oky);                    \
    if (i < n) {                                                                                \
        double pb[8], yb[8], wb[8], ub[8], ob[8], gb[8];                                        \
        int r = (int)(n - i);                                                                   \
        for (int k = 0; k < 8; k++) {                                                           \
            pb[k] = k < r ? p[i + k] : 0.5;                                                     \
            yb[k] = k < r ? y[i + k] : 0.5;                                                     \
            wb[k] = k < r ? (w ? w[i + k] : wsc) : 0.0;                                         \
            ub[k] = k < r && gout ? gout[i + k] : 1.0;                                          \
        }                                                                                       \
        NAME##_block(pb, yb, wb, wsc, gout ? ub : NULL, gsc, ob, gb, acc, okp, oky);            \
        if (out) memcpy(out + i, ob, (size_t)r * sizeof(double));                               \
        if (g) memcpy(g + i, gb, (size_t)r * sizeof(double));                                   \
    }                                                                                           \
    for (int k = 0; k < 8 / (W / 64); k++) _mm##W##_storeu_pd(a + k * (W / 64), acc[k]);        \
    for (int k = 0; k < 8 / (W / 64); k++) {                                                    \
        bad[0] += (W / 64) - __builtin_popcount(CX_BITSD##W(okp[k]));                           \
        bad[1] += (W / 64) - __builtin_popcount(CX_BITSD##W(oky[k]));                           \
    }                                                                                           \
    return cx_sum8(a);                                                                          \
}

/* float32 BCE (bce_probs of the AVX2 table, and of the AVX-512 one, which takes this kernel:
   the same bits), 8 lanes of float arithmetic with each log carried as a pair hi + lo (note I),
   against 4 lanes of double in CX_BCE_PROBS (half the instructions per element, measured
   4096x1000: 23 -> 11 ms on one Zen 3 core).  The loss ((y - 1) l1 - y l) w as
   -(s w + t w) rounded once, with s + t = (1 - y) l1 + y l from exact products and an exact
   two-sum, 1 - y and 1 - p as exact pairs; the gradient in double, CX_BCE_GRAD's formula (the
   same bits as the portable loop).  Element i's loss, rounded to float32, into double partial
   i % 8, added by cx_sum8; the tail masked (lanes past n: p = y = 0, loss 0). */
static const float cx_logf_invc[8] = {
    0x1.5c9882p+0f, 0x1.414142p+0f, 0x1.29e412p+0f, 0x1.15b1e6p+0f,
    0x1p+0f, 0x1.d41d42p-1f, 0x1.a41a42p-1f, 0x1.7d05f4p-1f};
static const float cx_logf_logc_hi[8] = {
    -0x1.3c2526p-2f, -0x1.d10384p-3f, -0x1.365fc6p-3f, -0x1.4d3116p-4f,
    0x0p+0f, 0x1.6f0d28p-4f, 0x1.9525a8p-3f, 0x1.2e8e2cp-2f};
static const float cx_logf_logc_lo[8] = {
    0x1.5999d0p-27f, 0x1.9aa19cp-31f, -0x1.82b200p-28f, -0x1.481facp-30f,
    0x0p+0f, -0x1.a35296p-29f, 0x1.e8ad70p-32f, -0x1.1ee2d0p-30f};
CX_V3 static inline __m256 cx_log8_hl(__m256 u, __m256 ulo, int sub, int has_lo, __m256 *lo) {
    /* log(u + ulo) = hi + *lo (note I) for normal u in (0, 1], |ulo| <= ulp(u) / 2 (has_lo;
       else ulo = 0); with sub, also 0 and subnormal u (then ulo = 0 there): u scaled by 2^23, 0
       taken as 2^-149.  Normal u give the same bits with or without sub. */
    const __m256 one = _mm256_set1_ps(1.0f);
    __m256 kadj = _mm256_setzero_ps();
    if (sub) {
        __m256 s = _mm256_cmp_ps(u, _mm256_set1_ps(0x1p-126f), _CMP_LT_OQ);
        u = _mm256_max_ps(_mm256_blendv_ps(u, _mm256_mul_ps(u, _mm256_set1_ps(0x1p23f)), s),
                          _mm256_set1_ps(0x1p-126f));
        kadj = _mm256_and_ps(s, _mm256_set1_ps(-23.0f));
    }
    /* u = 2^k z, z in [0.703125, 1.40625): interval idx (permutevar8x32 reads its low 3 bits) */
    const __m256i bits = _mm256_castps_si256(u);
    const __m256i tmp = _mm256_sub_epi32(bits, _mm256_set1_epi32(0x3f340000));
    const __m256i idx = _mm256_srli_epi32(tmp, 20), ki = _mm256_srai_epi32(tmp, 23);
    __m256 z = _mm256_castsi256_ps(
        _mm256_sub_epi32(bits, _mm256_and_si256(tmp, _mm256_set1_epi32((int)0xff800000u))));
    __m256 k = _mm256_add_ps(_mm256_cvtepi32_ps(ki), kadj);
    __m256 invc = _mm256_permutevar8x32_ps(_mm256_loadu_ps(cx_logf_invc), idx);
    __m256 lch = _mm256_permutevar8x32_ps(_mm256_loadu_ps(cx_logf_logc_hi), idx);
    __m256 lcl = _mm256_permutevar8x32_ps(_mm256_loadu_ps(cx_logf_logc_lo), idx);
    /* z invc - 1 = r + tp exactly (z invc in [0.94, 1.06]: pz - 1 exact), ulo's share tu */
    __m256 pz = _mm256_mul_ps(z, invc);
    CX_OPAQUE_V(pz);
    __m256 r = _mm256_sub_ps(pz, one), tp = _mm256_fmsub_ps(z, invc, pz), tu = _mm256_setzero_ps();
    if (has_lo) /* ulo invc 2^-k, 2^-k from its bits (k in [-24, 0]; 0 times 2^126 where u = 0) */
        tu = _mm256_mul_ps(_mm256_mul_ps(ulo, invc), _mm256_castsi256_ps(_mm256_slli_epi32(
            _mm256_sub_epi32(_mm256_set1_epi32(127), ki), 23)));
    /* log1p(r + t) = log1p(r) + t - t (r - r^2 + t / 2) (to t r^3, t^2 r), t = tp + tu;
       log1p(r) - r = r^2 Q(r), the series to r^7 (truncation below 2^-30 of the result) */
    __m256 tt = _mm256_add_ps(tp, tu);
    __m256 corr = _mm256_mul_ps(tt, _mm256_fmadd_ps(tt, _mm256_set1_ps(0.5f),
                                                    _mm256_fnmadd_ps(r, r, r)));
    __m256 q = _mm256_set1_ps(1.0f / 7);
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(-1.0f / 6));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(1.0f / 5));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(-1.0f / 4));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(1.0f / 3));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(-1.0f / 2));
    __m256 r2 = _mm256_mul_ps(r, r);
    CX_OPAQUE_V(r2);
    /* k ln2hi exact (15 bits); w + wlo = k ln2hi + log c, hi + l = w + r: two Fast2Sums (|k ln2hi|
       > |log c| or k = 0; |log c| > |r| or log c = 0); then hi + tu, a third (|r| > |tu| where
       c = 1 and k = 0, else |hi| > 0.03): tu can be half of r there (u = 1 - p near 1) */
    __m256 kh = _mm256_mul_ps(k, _mm256_set1_ps(0x1.62e4p-1f));
    CX_OPAQUE_V(kh);
    __m256 w = _mm256_add_ps(kh, lch);
    __m256 wlo = _mm256_add_ps(_mm256_sub_ps(kh, w), lch);
    __m256 hi = _mm256_add_ps(w, r);
    __m256 l = _mm256_add_ps(_mm256_sub_ps(w, hi), r);
    if (has_lo) {
        __m256 h2 = _mm256_add_ps(hi, tu);
        l = _mm256_add_ps(l, _mm256_add_ps(_mm256_sub_ps(hi, h2), tu));
        hi = h2;
    }
    __m256 small = _mm256_fmadd_ps(k, _mm256_set1_ps(0x1.7f7d1cp-20f), lcl);
    small = _mm256_add_ps(_mm256_add_ps(small, wlo), _mm256_add_ps(_mm256_sub_ps(tp, corr), l));
    *lo = _mm256_fmadd_ps(r2, q, small);
    return hi;
}
CX_V3 static inline __attribute__((always_inline)) void cx_bce_f_block(
        const float *p, const float *y, const float *w, float wsc, const float *gout, double gsc,
        float *out, float *g, int full, __m256i mask, __m256d *acc, __m256i *rp, __m256i *ry) {
    /* elements [0, 8) of the span at p (full) or the first lanes of mask */
    const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    const __m256 lim = _mm256_set1_ps(-100.0f);
#define CX_LD8(q) (full ? _mm256_loadu_ps(q) : _mm256_maskload_ps((q), mask))
    __m256 pv = CX_LD8(p), yv = CX_LD8(y), wv = w ? CX_LD8(w) : _mm256_set1_ps(wsc);
    /* range: the bits of v + 0 (-0 -> +0) as unsigned are <= those of 1 exactly where v is in
       [0, 1] (negatives, nan above); their lane maximum over the span */
    *rp = _mm256_max_epu32(*rp, _mm256_castps_si256(_mm256_add_ps(pv, zero)));
    *ry = _mm256_max_epu32(*ry, _mm256_castps_si256(_mm256_add_ps(yv, zero)));
    /* l = log p, l1 = log(qv + ql) with 1 - p = qv + ql exactly; where some lane has p below
       FLT_MIN (0, subnormal) or p = 1 (q = 0), both logs take zero and subnormals and are clamped
       (hi -100, lo 0); elsewhere they are above -88, and the same bits come without that work */
    __m256 qv = _mm256_sub_ps(one, pv), ql = _mm256_sub_ps(_mm256_sub_ps(one, qv), pv);
    __m256 lpl, lph, l1l, l1h;
    if (_mm256_movemask_ps(_mm256_or_ps(_mm256_cmp_ps(pv, _mm256_set1_ps(0x1p-126f), _CMP_LT_OQ),
                                        _mm256_cmp_ps(pv, one, _CMP_EQ_OQ)))) {
        lph = cx_log8_hl(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), pv), zero, 1, 0, &lpl);
        l1h = cx_log8_hl(qv, ql, 1, 1, &l1l);
        lpl = _mm256_and_ps(lpl, _mm256_cmp_ps(lph, lim, _CMP_GT_OQ));
        l1l = _mm256_and_ps(l1l, _mm256_cmp_ps(l1h, lim, _CMP_GT_OQ));
        lph = _mm256_max_ps(lph, lim);
        l1h = _mm256_max_ps(l1h, lim);
    } else {
        lph = cx_log8_hl(pv, zero, 0, 0, &lpl);
        l1h = cx_log8_hl(qv, ql, 0, 1, &l1l);
    }
    /* s + t = (1 - y) l1 + y l, both terms <= 0 */
    __m256 oy = _mm256_sub_ps(one, yv), oyl = _mm256_sub_ps(_mm256_sub_ps(one, oy), yv);
    __m256 a = _mm256_mul_ps(oy, l1h), b = _mm256_mul_ps(yv, lph);
    CX_OPAQUE_V(a);
    CX_OPAQUE_V(b);
    __m256 al = _mm256_fmadd_ps(oyl, l1h, _mm256_fmadd_ps(oy, l1l, _mm256_fmsub_ps(oy, l1h, a)));
    __m256 bl = _mm256_fmadd_ps(yv, lpl, _mm256_fmsub_ps(yv, lph, b));
    __m256 big = _mm256_min_ps(a, b), sm = _mm256_max_ps(a, b);
    __m256 s = _mm256_add_ps(big, sm);
    __m256 t = _mm256_add_ps(_mm256_add_ps(_mm256_sub_ps(big, s), sm), _mm256_add_ps(al, bl));
    __m256 v = _mm256_fnmsub_ps(s, wv, _mm256_mul_ps(t, wv));
    if (g) { /* in double, 4 lanes at a time; each operand read before g is written */
        __m256 uv = gout ? CX_LD8(gout) : one;
        __m128 gh[2];
        for (int h = 0; h < 2; h++) {
#define CX_HALF(v) _mm256_cvtps_pd(h ? _mm256_extractf128_ps((v), 1) : _mm256_castps256_ps128(v))
            __m256d gs = _mm256_set1_pd(gsc);
            if (gout) gs = _mm256_mul_pd(gs, CX_HALF(uv));
            gh[h] = _mm256_cvtpd_ps(CX_BCE_GRAD(256, CX_HALF(pv), CX_HALF(yv), CX_HALF(wv), gs));
#undef CX_HALF
        }
        __m256 gr = _mm256_set_m128(gh[1], gh[0]);
        if (full) _mm256_storeu_ps(g, gr);
        else _mm256_maskstore_ps(g, mask, gr);
    }
#undef CX_LD8
    if (!full) v = _mm256_and_ps(v, _mm256_castsi256_ps(mask));
    if (out) {
        if (full) _mm256_storeu_ps(out, v);
        else _mm256_maskstore_ps(out, mask, v);
    }
    acc[0] = _mm256_add_pd(acc[0], _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
    acc[1] = _mm256_add_pd(acc[1], _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
}
CX_V3 static double cx_bce_probs_f_avx2(const float *p, const float *y, Py_ssize_t n,
                                        const float *w, float wsc, float *out, float *g,
                                        const float *gout, double gsc, Py_ssize_t *bad) {
    __m256d acc[2] = {_mm256_setzero_pd(), _mm256_setzero_pd()};
    __m256i rp = _mm256_setzero_si256(), ry = rp, all = _mm256_set1_epi32(-1);
    double a8[8];
    Py_ssize_t i = 0;
    if (g) /* the loops with and without the gradient apart, each with its own registers */
        for (; i + 8 <= n; i += 8)
            cx_bce_f_block(p + i, y + i, w ? w + i : NULL, wsc, gout ? gout + i : NULL, gsc,
                           out ? out + i : NULL, g + i, 1, all, acc, &rp, &ry);
    else
        for (; i + 8 <= n; i += 8)
            cx_bce_f_block(p + i, y + i, w ? w + i : NULL, wsc, NULL, gsc, out ? out + i : NULL,
                           NULL, 1, all, acc, &rp, &ry);
    if (i < n)
        cx_bce_f_block(p + i, y + i, w ? w + i : NULL, wsc, gout ? gout + i : NULL, gsc,
                       out ? out + i : NULL, g ? g + i : NULL, 0, cx_tail_mask(n - i), acc, &rp,
                       &ry);
    _mm256_storeu_pd(a8, acc[0]);
    _mm256_storeu_pd(a8 + 4, acc[1]);
    /* lanes whose maximum is above 1's bits */
    const __m256i onebits = _mm256_set1_epi32(0x3f800000);
    bad[0] += __builtin_popcount((unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(
        _mm256_xor_si256(_mm256_cmpeq_epi32(_mm256_max_epu32(rp, onebits), onebits), all))));
    bad[1] += __builtin_popcount((unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(
        _mm256_xor_si256(_mm256_cmpeq_epi32(_mm256_max_epu32(ry, onebits), onebits), all))));
    return cx_sum8(a8);
}
CX_BCE_PROBS(cx_bce_probs_d_avx2, 256, CX_V3, cx_log4_pd, cx_log1p4_pd)

/* exp(t) for t <= 700 (the float64 exp is exact to about 2 ulp there), or log(t) for normal
   t > 0; other lanes come out wrong and the caller recomputes them (NAME: cx_kl_logs4 /
   cx_kl_logs8) */
#define CX_KL_LOGS_PD(NAME, W, ATTR, EXP, LOG)                                                 \
ATTR static inline __m##W##d NAME(__m##W##d t, int log_target) {                              \
    if (log_target) return EXP(_mm##W##_min_pd(t, _mm##W##_set1_pd(700.0)));                  \
    return LOG(t);                                                                             \
}
CX_KL_LOGS_PD(cx_kl_logs4, 256, CX_V3, cx_exp4_nonpos, cx_log4_pd)

CX_V3 static void cx_kl_logs_f_avx2(const float *t, Py_ssize_t n, int log_target, double *out) {
    Py_ssize_t i = 0;
    for (; i + 4 <= n; i += 4)
        _mm256_storeu_pd(out + i, cx_kl_logs4(_mm256_cvtps_pd(_mm_loadu_ps(t + i)), log_target));
    if (i < n) { /* the tail through the same vector code, on a padded copy */
        float tb[4] = {1.0f, 1.0f, 1.0f, 1.0f};
        double ob[4];
        memcpy(tb, t + i, (size_t)(n - i) * sizeof(float));
        _mm256_storeu_pd(ob, cx_kl_logs4(_mm256_cvtps_pd(_mm_loadu_ps(tb)), log_target));
        memcpy(out + i, ob, (size_t)(n - i) * sizeof(double));
    }
}

CX_V3 static void cx_kl_logs_d_avx2(const double *t, Py_ssize_t n, int log_target, double *out) {
    Py_ssize_t i = 0;
    for (; i + 4 <= n; i += 4)
        _mm256_storeu_pd(out + i, cx_kl_logs4(_mm256_loadu_pd(t + i), log_target));
    if (i < n) {
        double tb[4] = {1.0, 1.0, 1.0, 1.0}, ob[4];
        memcpy(tb, t + i, (size_t)(n - i) * sizeof(double));
        _mm256_storeu_pd(ob, cx_kl_logs4(_mm256_loadu_pd(tb), log_target));
        memcpy(out + i, ob, (size_t)(n - i) * sizeof(double));
    }
}

/* as cx_sigmoid8: e = exp(-|x|); sigmoid = 1 / (1 + e) for x >= 0, e / (1 + e) below;
   log_sigmoid = min(x, 0) - log1p(e); nan propagates through e (NAME: cx_sigmoid4_pd /
   cx_sigmoid8_pd) */
#define CX_SIGMOID_PD(NAME, W, ATTR, EXP, LOG1P)                                               \
ATTR static inline __m##W##d NAME(__m##W##d v, int log_out) {                                 \
    const __m##W##d zero = _mm##W##_setzero_pd(), one = _mm##W##_set1_pd(1.0);                \
    __m##W##d e = EXP(_mm##W##_or_pd(v, _mm##W##_set1_pd(-0.0))); /* -|v| */                  \
    if (log_out) return _mm##W##_sub_pd(_mm##W##_min_pd(v, zero), LOG1P(e));                  \
    return _mm##W##_div_pd(CX_SELD##W(CX_CMPD##W(v, zero, _CMP_GE_OQ), e, one),               \
                           _mm##W##_add_pd(one, e)); /* one rounded division */               \
}
CX_SIGMOID_PD(cx_sigmoid4_pd, 256, CX_V3, cx_exp4_nonpos, cx_log1p4_pd)
CX_V3 static void cx_sigmoid_d_avx2(const double *x, Py_ssize_t n, double *y, int log_out) {
    Py_ssize_t i = 0; /* the tail through the same vector code (masked) */
    for (; i + 4 <= n; i += 4) _mm256_storeu_pd(y + i, cx_sigmoid4_pd(_mm256_loadu_pd(x + i), log_out));
    if (i < n) {
        __m256i mask = cx_tail_mask_pd(n - i);
        _mm256_maskstore_pd(y + i, mask, cx_sigmoid4_pd(_mm256_maskload_pd(x + i, mask), log_out));
    }
}

/* the sum's scalar tail of cx_softmax_bwd_d_avx2 / _avx512, one compiled copy for both (whether
   g y + acc is contracted to an FMA is the compiler's choice; it must be the same one) */
CX_V3 __attribute__((noinline)) static double cx_sum_tail_d(const double *g, const double *y,
                                                            Py_ssize_t i, Py_ssize_t n,
                                                            int log_out, double acc) {
    for (; i < n; i++) acc += log_out ? g[i] : g[i] * y[i];
    return acc;
}
CX_V3 static void cx_softmax_bwd_d_avx2(const double *g, const double *y, Py_ssize_t n,
                                        double *out, int log_out) {
    /* cx_softmax_bwd_d_portable with four sum chains; exp over its whole range (y is a
       log-probability, <= 0, for valid input; larger values overflow to inf as in libm) */
    __m256d a0 = _mm256_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
    Py_ssize_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256d g0 = _mm256_loadu_pd(g + i), g1 = _mm256_loadu_pd(g + i + 4);
        __m256d g2 = _mm256_loadu_pd(g + i + 8), g3 = _mm256_loadu_pd(g + i + 12);
        if (!log_out) {
            g0 = _mm256_mul_pd(g0, _mm256_loadu_pd(y + i));
            g1 = _mm256_mul_pd(g1, _mm256_loadu_pd(y + i + 4));
            g2 = _mm256_mul_pd(g2, _mm256_loadu_pd(y + i + 8));
            g3 = _mm256_mul_pd(g3, _mm256_loadu_pd(y + i + 12));
        }
        a0 = _mm256_add_pd(a0, g0);
        a1 = _mm256_add_pd(a1, g1);
        a2 = _mm256_add_pd(a2, g2);
        a3 = _mm256_add_pd(a3, g3);
    }
    __m256d a = _mm256_add_pd(_mm256_add_pd(a0, a1), _mm256_add_pd(a2, a3));
    double acc = cx_sum_tail_d(g, y, i, n, log_out, cx_hsum_pd(a));
    const __m256d vs = _mm256_set1_pd(acc), top = _mm256_set1_pd(710.0);
    for (i = 0; i + 4 <= n; i += 4) {
        __m256d gv = _mm256_loadu_pd(g + i), yv = _mm256_loadu_pd(y + i);
        __m256d r = log_out
            ? _mm256_sub_pd(gv, _mm256_mul_pd(cx_exp4_nonpos(_mm256_min_pd(top, yv)), vs))
            : _mm256_mul_pd(yv, _mm256_sub_pd(gv, vs));
        _mm256_storeu_pd(out + i, r);
    }
    for (; i < n; i++) out[i] = log_out ? g[i] - exp(y[i]) * acc : y[i] * (g[i] - acc);
}

CX_V3 static void cx_col_lognorm_d_avx2(const double *x, Py_ssize_t cs, Py_ssize_t n,
                                       double *mo, double *resto, double *lno, double *y,
                                       Py_ssize_t ycs) {
    /* the column arithmetic in double, lanes 4 at a time (the stored exps: H) */
    const __m256d one = _mm256_set1_pd(1.0), zero = _mm256_setzero_pd();
    for (int h = 0; h < CX_LANES; h += 4) {
        __m256d m = _mm256_loadu_pd(x + h);
        for (Py_ssize_t c = 1; c < n; c++) m = _mm256_max_pd(_mm256_loadu_pd(x + c * cs + h), m);
        __m256d rest = zero, cnt = _mm256_set1_pd(-1.0);
        for (Py_ssize_t c = 0; c < n; c++) {
            __m256d v = _mm256_loadu_pd(x + c * cs + h), d = _mm256_sub_pd(v, m), e;
            __m256d eq = _mm256_cmp_pd(d, zero, _CMP_EQ_OQ);
            if (y)
                _mm256_storeu_pd(y + c * ycs + h, cx_exp4_nonpos_st(v, m, &e));
            else
                e = cx_exp4_nonpos(d);
            rest = _mm256_add_pd(rest, _mm256_andnot_pd(eq, e));
            cnt = _mm256_add_pd(cnt, _mm256_and_pd(eq, one));
        }
        __m256d t = _mm256_add_pd(rest, cnt);
        _mm256_storeu_pd(resto + h, t);
        _mm256_storeu_pd(lno + h, cx_log1p4_pd(t));
        _mm256_storeu_pd(mo + h, m);
    }
}

CX_V3 static void cx_col_map_d_avx2(const double *x, Py_ssize_t cs, Py_ssize_t n, const double *m,
                                   const double *a, const double *k, const double *w, double *y,
                                   Py_ssize_t ycs, int mode) {
    /* class by class, the 16 lanes as four vectors (as cx_col_map_avx2) */
    __m256d va[4], vm[4], nk[4], r[4];
    for (int h = 0; h < 4; h++) {
        va[h] = _mm256_loadu_pd(a + 4 * h);
        vm[h] = mode == CX_MAP_AFFINE ? _mm256_setzero_pd() : _mm256_loadu_pd(m + 4 * h);
        nk[h] = k ? _mm256_sub_pd(_mm256_setzero_pd(), _mm256_loadu_pd(k + 4 * h)) : _mm256_set1_pd(-0.0);
    }
    for (Py_ssize_t c = 0; c < n; c++) {
        for (int h = 0; h < 4; h++) {
            __m256d v = _mm256_loadu_pd(x + c * cs + 4 * h);
            if (mode == CX_MAP_LOG) {
                r[h] = _mm256_sub_pd(_mm256_sub_pd(v, vm[h]), va[h]);
            } else {
                __m256d nkw = w ? _mm256_mul_pd(nk[h], _mm256_set1_pd(w[c])) : nk[h];
                __m256d e = v, es;
                if (mode == CX_MAP_EXP) e = cx_exp4_nonpos_st(v, vm[h], &es);
                r[h] = _mm256_fmadd_pd(va[h], e, nkw);
            }
        }
        for (int h = 0; h < 4; h++) _mm256_storeu_pd(y + c * ycs + 4 * h, r[h]);
    }
}

/* The sums of cx_sumexp_d for 16 rows side by side (CX_LANES / (W / 64) vectors per class: NAME
   cx_col_long_d_avx2, four of 4 rows; cx_col_long_d_avx512, two of 8), given each row's arg-max
   and max: p[l] holds every row's partial of chain l / 4, lane l % 4 (classes l, l + 16, ...),
   taken one at a time in registers; the tail's classes go to p[c % 4], after them.  Each lane
   (row) takes the same operations at either width.  SKIP(c, am, e): e with 0 where c == am. */
#define CX_LTERM_D(W, EXP, SKIP, c, g)                                                         \
    if (y)                                                                                     \
        _mm##W##_storeu_pd(y + (c) * ycs + (W / 64) * (g),                                     \
                           EXP##_st(_mm##W##_loadu_pd(x + (c) * cs + (W / 64) * (g)), m[g], &e)); \
    else                                                                                       \
        e = EXP(_mm##W##_sub_pd(_mm##W##_loadu_pd(x + (c) * cs + (W / 64) * (g)), m[g]));      \
    e = SKIP(_mm##W##_set1_pd((double)(c)), am[g], e);
#define CX_COL_LONG_D(NAME, W, ATTR, EXP, SKIP)                                                \
ATTR static inline __attribute__((always_inline)) void NAME##_impl(                            \
    const double *x, Py_ssize_t cs, Py_ssize_t n, const double *mi, const double *ami,         \
    double *resto, double *lno, double *y, Py_ssize_t ycs) {                                   \
    enum { G = CX_LANES / (W / 64) };                                                          \
    __m##W##d m[G], p[16][G], am[G], e;                                                        \
    for (int g = 0; g < G; g++) {                                                              \
        m[g] = _mm##W##_loadu_pd(mi + (W / 64) * g);                                           \
        am[g] = _mm##W##_loadu_pd(ami + (W / 64) * g);                                         \
    }                                                                                          \
    Py_ssize_t full = n - n % 16;                                                              \
    for (int l = 0; l < 16; l++) {                                                             \
        __m##W##d a[G];                                                                        \
        for (int g = 0; g < G; g++) a[g] = _mm##W##_setzero_pd();                              \
        for (Py_ssize_t c = l; c < full; c += 16)                                              \
            for (int g = 0; g < G; g++) {                                                      \
                CX_LTERM_D(W, EXP, SKIP, c, g)                                                 \
                a[g] = _mm##W##_add_pd(a[g], e);                                               \
            }                                                                                  \
        for (int g = 0; g < G; g++) p[l][g] = a[g];                                            \
    }                                                                                          \
    for (Py_ssize_t c = full; c < n; c++) /* the tail goes to the first chain */               \
        for (int g = 0; g < G; g++) {                                                          \
            CX_LTERM_D(W, EXP, SKIP, c, g)                                                     \
            p[c % 4][g] = _mm##W##_add_pd(p[c % 4][g], e);                                     \
        }                                                                                      \
    for (int g = 0; g < G; g++) {                                                              \
        __m##W##d v[4];                                                                        \
        for (int l = 0; l < 4; l++)                                                            \
            v[l] = _mm##W##_add_pd(_mm##W##_add_pd(p[l][g], p[l + 4][g]),                      \
                                   _mm##W##_add_pd(p[l + 8][g], p[l + 12][g]));                \
        __m##W##d r = _mm##W##_add_pd(_mm##W##_add_pd(v[0], v[2]),                             \
                                      _mm##W##_add_pd(v[1], v[3]));                            \
        r = _mm##W##_add_pd(r, _mm##W##_sub_pd(m[g], m[g]));                                   \
        _mm##W##_storeu_pd(resto + (W / 64) * g, r);                                           \
    }                                                                                          \
    for (int j = 0; j < CX_LANES; j++) lno[j] = log1p(resto[j]);                               \
}                                                                                              \
CX_COL_LONG_ENTRY(NAME, ATTR, double)
#define CX_SKIP_EQ256D(c, a, e) _mm256_andnot_pd(_mm256_cmp_pd((c), (a), _CMP_EQ_OQ), (e))
CX_COL_LONG_D(cx_col_long_d_avx2, 256, CX_V3, cx_exp4_nonpos, CX_SKIP_EQ256D)


/* BCE-with-logits in double (bce_logits, float64; cx_bce_logits_d_portable's contract and sum
   order: element i into partial i % 8), W / 64 lanes at a time: one exp per element serves
   log1p(exp(-|x|)) and sigmoid; each product rounded on its own (CX_OPAQUE_V).
   The tail on padded copies (x = y = w = 0, pos_weight 1: a +0 loss).
   NAME: cx_bce_logits_d_{avx2,avx512}; EXP / LOG1P: that width's. */
#define CX_BCE_LOGITS_PD(NAME, W, ATTR, EXP, LOG1P)                                            \
ATTR static inline void NAME##_block(const double *x, const double *y, const double *w,         \
        double wsc, const double *pw, double pwsc, int has_pw, const double *gout, double gsc,  \
        double *out, double *g, __m##W##d *acc) {                                              \
    const __m##W##d zero = _mm##W##_setzero_pd(), one = _mm##W##_set1_pd(1.0);                 \
    for (int h = 0; h < 8; h += W / 64) {                                                      \
        __m##W##d xv = _mm##W##_loadu_pd(x + h), yv = _mm##W##_loadu_pd(y + h);                \
        __m##W##d wv = w ? _mm##W##_loadu_pd(w + h) : _mm##W##_set1_pd(wsc);                   \
        __m##W##d pv = one, lw = one;                                                          \
        __m##W##d e = EXP(_mm##W##_or_pd(xv, _mm##W##_set1_pd(-0.0))); /* exp(-|x|) */        \
        __m##W##d ls = LOG1P(e), py = yv; /* log1p(e); pw y */                                 \
        if (has_pw) { /* lw = 1 + (pw - 1) y */                                                \
            pv = pw ? _mm##W##_loadu_pd(pw + h) : _mm##W##_set1_pd(pwsc);                      \
            __m##W##d q = _mm##W##_mul_pd(_mm##W##_sub_pd(pv, one), yv);                       \
            CX_OPAQUE_V(q);                                                                    \
            lw = _mm##W##_add_pd(one, q);                                                      \
            py = _mm##W##_mul_pd(pv, yv);                                                      \
            ls = _mm##W##_mul_pd(lw, ls);                                                      \
            CX_OPAQUE_V(py);                                                                   \
            CX_OPAQUE_V(ls);                                                                   \
        }                                                                                      \
        /* as the float32 kernel, without torch's cancellation for x << 0:  x < 0: -pw y x +   \
           lw log1p(e),  x >= 0: (1 - y) x + lw log1p(e);  x = -inf: nan */                    \
        __m##W##d a = _mm##W##_mul_pd(CX_SELD##W(CX_CMPD##W(xv, zero, _CMP_LT_OQ),            \
                                                 _mm##W##_sub_pd(one, yv),                     \
                                                 _mm##W##_sub_pd(zero, py)), xv);              \
        CX_OPAQUE_V(a);                                                                        \
        __m##W##d v = _mm##W##_add_pd(a, ls);                                                  \
        v = CX_SELD##W(CX_CMPD##W(xv, _mm##W##_set1_pd(-INFINITY), _CMP_EQ_OQ), v,            \
                       _mm##W##_set1_pd(NAN));                                                 \
        v = _mm##W##_mul_pd(v, wv);                                                            \
        CX_OPAQUE_V(v);                                                                        \
        if (g) { /* w [lw sigmoid(x) - pw y] times gsc (and gout); y = inf: -inf */             \
            __m##W##d gs = _mm##W##_set1_pd(gsc);                                              \
            if (gout) gs = _mm##W##_mul_pd(gs, _mm##W##_loadu_pd(gout + h));                   \
            __m##W##d sg = _mm##W##_div_pd(CX_SELD##W(CX_CMPD##W(xv, zero, _CMP_GE_OQ), e, one), \
                                           _mm##W##_add_pd(one, e));                           \
            __m##W##d gr = _mm##W##_sub_pd(sg, yv);                                            \
            if (has_pw) {                                                                      \
                __m##W##d c = _mm##W##_mul_pd(lw, sg), d = _mm##W##_mul_pd(pv, yv);            \
                CX_OPAQUE_V(c);                                                                \
                CX_OPAQUE_V(d);                                                                \
                gr = _mm##W##_sub_pd(c, d);                                                    \
            }                                                                                  \
            _mm##W##_storeu_pd(g + h, _mm##W##_mul_pd(_mm##W##_mul_pd(gs, wv), gr));           \
        }                                                                                      \
        if (out) _mm##W##_storeu_pd(out + h, v);                                               \
        acc[h / (W / 64)] = _mm##W##_add_pd(acc[h / (W / 64)], v);                             \
    }                                                                                          \
}                                                                                              \
ATTR static double NAME(const double *x, const double *y, Py_ssize_t n, const double *w,       \
        double wsc, const double *pw, double pwsc, int has_pw, double *out, double *g,         \
        const double *gout, double gsc) {                                                      \
    __m##W##d acc[8 / (W / 64)];                                                               \
    double a[8];                                                                               \
    for (int k = 0; k < 8 / (W / 64); k++) acc[k] = _mm##W##_setzero_pd();                     \
    Py_ssize_t i = 0;                                                                          \
    for (; i + 8 <= n; i += 8)                                                                 \
        NAME##_block(x + i, y + i, w ? w + i : NULL, wsc, pw ? pw + i : NULL, pwsc, has_pw,    \
                     gout ? gout + i : NULL, gsc, out ? out + i : NULL, g ? g + i : NULL, acc); \
    if (i < n) {                                                                               \
        double xb[8], yb[8], wb[8], pb[8], ub[8], ob[8], gb[8];                                \
        int r = (int)(n - i);                                                                  \
        for (int k = 0; k < 8; k++) {                                                          \
            xb[k] = k < r ? x[i + k] : 0.0;                                                    \
            yb[k] = k < r ? y[i + k] : 0.0;                                                    \
            wb[k] = k < r ? (w ? w[i + k] : wsc) : 0.0;                                        \
            pb[k] = k < r && pw ? pw[i + k] : 1.0;                                             \
            ub[k] = k < r && gout ? gout[i + k] : 1.0;                                         \
        }                                                                                      \
        NAME##_block(xb, yb, wb, wsc, pw ? pb : NULL, pwsc, has_pw, gout ? ub : NULL, gsc, ob,  \
                     gb, acc);                                                                 \
        if (out) memcpy(out + i, ob, (size_t)r * sizeof(double));                              \
        if (g) memcpy(g + i, gb, (size_t)r * sizeof(double));                                  \
    }                                                                                          \
    for (int k = 0; k < 8 / (W / 64); k++) _mm##W##_storeu_pd(a + k * (W / 64), acc[k]);       \
    return cx_sum8(a);                                                                         \
}
CX_BCE_LOGITS_PD(cx_bce_logits_d_avx2, 256, CX_V3, cx_exp4_nonpos, cx_log1p4_pd)

CX_V3 static inline void cx_tr8x8(__m256 *r) {
    /* r[k] = (a_k0 .. a_k7) -> r[j] = (a_0j .. a_7j) */
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 u1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 u2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 u3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 u4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 u5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 u6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 u7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
    r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
    r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
    r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
    r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
    r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

#ifndef CX_TR_AHEAD
#define CX_TR_AHEAD 8 /* classes */
#endif
CX_V3 static void cx_tile_to_rows_avx2(const float *x, Py_ssize_t cs, Py_ssize_t n, int lanes,
                                      float *rows) {
    /* 8 classes at a time: per group of 8 lanes, 8 vector loads (one per class), a transpose, 8
       stores.  All the lanes of a class are read at once: a power-of-two class stride maps every
       class to the same cache sets, so a line read for some lanes would be evicted before the
       other lanes came back for it. */
    Py_ssize_t c = 0;
    __m256 r[8];
    for (; c + 8 <= n; c += 8) {
        for (int k = 0; k < 8; k++) /* far apart: more streams than the hardware follows */
            _mm_prefetch((const char *)(x + (c + CX_TR_AHEAD + k) * cs), _MM_HINT_T0);
        for (int h = 0; h < lanes; h += 8) {
            for (int k = 0; k < 8; k++) r[k] = _mm256_loadu_ps(x + (c + k) * cs + h);
            cx_tr8x8(r);
            for (int j = 0; j < 8; j++) _mm256_storeu_ps(rows + (h + j) * n + c, r[j]);
        }
    }
    for (; c < n; c++)
        for (int j = 0; j < lanes; j++) rows[j * n + c] = x[c * cs + j];
}

CX_V3 static void cx_rows_to_tile_avx2(const float *rows, Py_ssize_t n, int lanes, float *x,
                                      Py_ssize_t cs) {
    Py_ssize_t c = 0;
    __m256 r[8];
    /* whole 64-byte lines far apart: non-temporal stores skip reading each line before it is
       overwritten (and keep the cache for the rows still to come) */
    int nt = lanes % 16 == 0 && ((uintptr_t)x % 64) == 0 && ((cs * sizeof(float)) % 64) == 0;
    for (; c + 8 <= n; c += 8) {
        for (int h = 0; h < lanes; h += 8) {
            for (int j = 0; j < 8; j++) r[j] = _mm256_loadu_ps(rows + (h + j) * n + c);
            cx_tr8x8(r);
            if (nt)
                for (int k = 0; k < 8; k++) _mm256_stream_ps(x + (c + k) * cs + h, r[k]);
            else
                for (int k = 0; k < 8; k++) _mm256_storeu_ps(x + (c + k) * cs + h, r[k]);
        }
    }
    if (nt) _mm_sfence();
    for (; c < n; c++)
        for (int j = 0; j < lanes; j++) x[c * cs + j] = rows[j * n + c];
}

/* cx_cols_copy on AVX2: the same pass, W lanes per vector, the max and arg-max of every lane
   in vectors (a block of lanes known at compile time, so they stay in registers). */
/* ISA: avx2 (ATTR CX_V3, VT a 256-bit vector, MT its compare result) or avx512 (G: CX_V4, MT a
   mask register); BLENDV(a, b, take) is b where take, else a */
#define CX_DEFINE_COLS_COPY_SIMD(T, SUFFIX, ISA, ATTR, VT, MT, W, LOADU, STOREU, SET1, CMPGT,  \
                                 BLENDV)                                                       \
ATTR static inline __attribute__((always_inline)) void cx_cols_copy_impl_##SUFFIX##_##ISA(   \
    const T *x, Py_ssize_t cs, Py_ssize_t n, const int lanes, T *out, T *m, T *am) {           \
    VT mh[CX_GROUP_LANES / W], ah[CX_GROUP_LANES / W];                                         \
    T mm[CX_GROUP_LANES], ai[CX_GROUP_LANES];                                                  \
    for (int v = 0; v < lanes / W; v++) {                                                      \
        mh[v] = SET1(-INFINITY);                                                               \
        ah[v] = SET1(-1);                                                                      \
    }                                                                                          \
    for (Py_ssize_t c = 0; c < n; c++) {                                                       \
        const T *xc = x + c * cs, *ahead = x + (c + CX_COPY_AHEAD) * cs;                       \
        for (size_t b = 0; b < (size_t)lanes * sizeof(T); b += 64)                             \
            _mm_prefetch((const char *)ahead + b, _MM_HINT_T0);                                \
        const VT fc = SET1((T)c);                                                              \
        for (int v = 0; v < lanes / W; v++) {                                                  \
            VT e = LOADU(xc + v * W);                                                          \
            MT take = CMPGT(e, mh[v]);                                                         \
            STOREU(out + ((v * W / CX_LANES) * n + c) * CX_LANES + v * W % CX_LANES, e);       \
            ah[v] = BLENDV(ah[v], fc, take);                                                   \
            mh[v] = BLENDV(mh[v], e, take);                                                    \
        }                                                                                      \
    }                                                                                          \
    for (int v = 0; v < lanes / W; v++) {                                                      \
        STOREU(mm + v * W, mh[v]);                                                             \
        STOREU(ai + v * W, ah[v]);                                                             \
    }                                                                                          \
    cx_cols_finish_##SUFFIX##_portable(x, out, n, lanes, mm, ai, m, am);                       \
}                                                                                              \
ATTR static void cx_cols_copy_##SUFFIX##_##ISA(const T *x, Py_ssize_t cs, Py_ssize_t n,        \
                                               int lanes, T *out, T *m, T *am) {               \
    if (lanes == CX_GROUP_LANES)                                                               \
        cx_cols_copy_impl_##SUFFIX##_##ISA(x, cs, n, CX_GROUP_LANES, out, m, am);              \
    else if (lanes == CX_LONG_TILE)                                                            \
        cx_cols_copy_impl_##SUFFIX##_##ISA(x, cs, n, CX_LONG_TILE, out, m, am);                \
    else                                                                                       \
        cx_cols_copy_##SUFFIX##_portable(x, cs, n, lanes, out, m, am);                         \
}
#define CX_GT_PS(a, b) _mm256_cmp_ps((a), (b), _CMP_GT_OQ)
#define CX_GT_PD(a, b) _mm256_cmp_pd((a), (b), _CMP_GT_OQ)
CX_DEFINE_COLS_COPY_SIMD(float, f, avx2, CX_V3, __m256, __m256, 8, _mm256_loadu_ps,
                         _mm256_storeu_ps, _mm256_set1_ps, CX_GT_PS, _mm256_blendv_ps)
CX_DEFINE_COLS_COPY_SIMD(double, d, avx2, CX_V3, __m256d, __m256d, 4, _mm256_loadu_pd,
                         _mm256_storeu_pd, _mm256_set1_pd, CX_GT_PD, _mm256_blendv_pd)
#define CX_DEFINE_COLS_UNCOPY_AVX2(T, SUFFIX, VT, LOAD, STORE, STREAM, W)                       \
CX_V3 static void cx_cols_uncopy_##SUFFIX(const T *buf, Py_ssize_t n, int lanes, T *x,         \
                                          Py_ssize_t cs) {                                     \
    int nt = ((uintptr_t)x % 64) == 0 && ((cs * sizeof(T)) % 64) == 0;                         \
    for (Py_ssize_t c = 0; c < n; c++)                                                         \
        for (int h = 0; h < lanes / CX_LANES; h++) {                                           \
            const T *b = buf + (h * n + c) * CX_LANES;                                         \
            T *o = x + c * cs + h * CX_LANES;                                                  \
            for (int k = 0; k < CX_LANES; k += W) {                                            \
                VT v = LOAD(b + k);                                                            \
                if (nt) STREAM(o + k, v); else STORE(o + k, v);                                \
            }                                                                                  \
        }                                                                                      \
    if (nt) _mm_sfence();                                                                      \
}
CX_DEFINE_COLS_UNCOPY_AVX2(float, f_avx2, __m256, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_stream_ps, 8)
CX_DEFINE_COLS_UNCOPY_AVX2(double, d_avx2, __m256d, _mm256_loadu_pd, _mm256_storeu_pd, _mm256_stream_pd, 4)

/* cx_log1pf, W / 32 wide (NAME: cx_log1p8_ps / cx_log1p16_ps): log1p(t + tlo) for t in [0, 1]
   (or nan) and a small tlo (the exp's rounding error, CX_EXP_NONPOS_PS's _lo): u = 1 + t, and
   c = (t - (u - 1)) + tlo, u's rounding error and tlo, enters as c / u among Cephes' small terms
   before the last rounding (log(u + c) = log u + c / u to c^2) */
#define CX_LOG1P_PS(NAME, W, ATTR)                                                             \
ATTR static inline __m##W NAME(__m##W t, __m##W tlo) {                                        \
    const __m##W one = _mm##W##_set1_ps(1.0f);                                                \
    __m##W u = _mm##W##_add_ps(one, t);                                                       \
    __m##W cu = _mm##W##_div_ps(_mm##W##_add_ps(_mm##W##_sub_ps(t, _mm##W##_sub_ps(u, one)), tlo), \
                                u);                                                            \
    __m##W##i bits = _mm##W##_castps_si##W(u);                                                \
    __m##W##i e = _mm##W##_sub_epi32(_mm##W##_and_si##W(_mm##W##_srli_epi32(bits, 23),        \
                                                       _mm##W##_set1_epi32(0xff)),            \
                                     _mm##W##_set1_epi32(126));                               \
    __m##W mant = _mm##W##_castsi##W##_ps(_mm##W##_or_si##W(                                  \
        _mm##W##_and_si##W(bits, _mm##W##_set1_epi32(0x007fffff)),                             \
        _mm##W##_set1_epi32(0x3f000000)));                                                     \
    CX_COND##W small = CX_CMP##W(mant, _mm##W##_set1_ps(0.707106781186547524f), _CMP_LT_OQ);   \
    e = CX_DEC##W(e, small);                                                                   \
    __m##W x = CX_SEL##W(small, _mm##W##_sub_ps(mant, one),                                   \
                         _mm##W##_sub_ps(_mm##W##_add_ps(mant, mant), one));                  \
    __m##W z = _mm##W##_mul_ps(x, x);                                                         \
    __m##W p = _mm##W##_set1_ps(7.0376836292E-2f);                                            \
    p = _mm##W##_fmadd_ps(p, x, _mm##W##_set1_ps(-1.1514610310E-1f));                         \
    p = _mm##W##_fmadd_ps(p, x, _mm##W##_set1_ps(1.1676998740E-1f));                          \
    p = _mm##W##_fmadd_ps(p, x, _mm##W##_set1_ps(-1.2420140846E-1f));                         \
    p = _mm##W##_fmadd_ps(p, x, _mm##W##_set1_ps(1.4249322787E-1f));                          \
    p = _mm##W##_fmadd_ps(p, x, _mm##W##_set1_ps(-1.6668057665E-1f));                         \
    p = _mm##W##_fmadd_ps(p, x, _mm##W##_set1_ps(2.0000714765E-1f));                          \
    p = _mm##W##_fmadd_ps(p, x, _mm##W##_set1_ps(-2.4999993993E-1f));                         \
    p = _mm##W##_fmadd_ps(p, x, _mm##W##_set1_ps(3.3333331174E-1f));                          \
    __m##W fe = _mm##W##_cvtepi32_ps(e);                                                      \
    __m##W r = _mm##W##_fmadd_ps(_mm##W##_mul_ps(p, x), z,                                    \
                                 _mm##W##_fmadd_ps(_mm##W##_set1_ps(-2.12194440e-4f), fe,     \
                                                   _mm##W##_mul_ps(_mm##W##_set1_ps(-0.5f), z))); \
    r = _mm##W##_add_ps(r, cu);                                                               \
    return _mm##W##_fmadd_ps(_mm##W##_set1_ps(0.693359375f), fe, _mm##W##_add_ps(x, r));     \
}
CX_LOG1P_PS(cx_log1p8_ps, 256, CX_V3)

/* e = exp(-|v|): sigmoid = 1 / (1 + e) for v >= 0, e / (1 + e) below (subnormals kept);
   log_sigmoid = min(v, 0) - log1p(e); nan propagates through e (NAME: cx_sigmoid8 /
   cx_sigmoid16) */
#define CX_SIGMOID_PS(NAME, W, ATTR, EXP, LOG1P)                                               \
ATTR static inline __m##W NAME(__m##W v, int log_out) {                                       \
    const __m##W one = _mm##W##_set1_ps(1.0f), zero = _mm##W##_setzero_ps();                  \
    const __m##W d = _mm##W##_or_ps(v, _mm##W##_set1_ps(-0.0f)); /* -|v| */                   \
    if (log_out) { /* log1p(e) with the exp's last rounding error */                           \
        __m##W elo, e = EXP##_lo(d, 1, &elo);                                                  \
        return _mm##W##_sub_ps(_mm##W##_min_ps(v, zero), LOG1P(e, elo));                      \
    }                                                                                          \
    __m##W e = EXP(d, 1);                                                                      \
    return _mm##W##_div_ps(CX_SEL##W(CX_CMP##W(v, zero, _CMP_GE_OQ), e, one),                 \
                           _mm##W##_add_ps(one, e)); /* one rounded division */               \
}
CX_SIGMOID_PS(cx_sigmoid8, 256, CX_V3, cx_exp8_nonpos, cx_log1p8_ps)

CX_V3 static void cx_sigmoid_avx2(const float *x, Py_ssize_t n, float *y, int log_out) {
    /* the tail through the same vector code (masked): an element's result does not depend on
       where it sits in the span */
    Py_ssize_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, cx_sigmoid8(_mm256_loadu_ps(x + i), log_out));
    if (i < n) {
        __m256i mask = cx_tail_mask(n - i);
        _mm256_maskstore_ps(y + i, mask, cx_sigmoid8(_mm256_maskload_ps(x + i, mask), log_out));
    }
}

/* cx_bce_logits's contract and formulas, W / 32 wide in registers (NAME: cx_bce_logits_avx2 /
   _avx512; the compiler's version of the portable loops took 1.6x as long, measured at
   4096x1000); each block of 256 elements summed in an 8-lane float vector, 8 lanes at a time
   (CX_ADD8), then in double.  Tails: masked, the lanes past n add 0. */
#define CX_LDW(W, p) (full ? _mm##W##_loadu_ps(p) : CX_LOADM##W((p), mask))
#define CX_BCE_LOGITS_PS(NAME, W, ATTR, EXP, LOG1P)                                            \
ATTR static double NAME(const float *x, const float *y, Py_ssize_t n, const float *w, float wsc, \
                       const float *pw, float pwsc, int has_pw, float *out, float *g,          \
                       const float *gout, float gsc) {                                         \
    const __m##W one = _mm##W##_set1_ps(1.0f), zero = _mm##W##_setzero_ps();                   \
    const __m##W ninf = _mm##W##_set1_ps(-INFINITY), nan = _mm##W##_set1_ps(NAN);              \
    const __m##W vwsc = _mm##W##_set1_ps(wsc), vpwsc = _mm##W##_set1_ps(pwsc);                 \
    const __m##W vgsc = _mm##W##_set1_ps(gsc);                                                 \
    double acc = 0.0;                                                                          \
    for (Py_ssize_t i0 = 0; i0 < n; i0 += 256) {                                               \
        Py_ssize_t stop = n - i0 < 256 ? n : i0 + 256;                                         \
        __m256 b = _mm256_setzero_ps();                                                        \
        for (Py_ssize_t i = i0; i < stop; i += W / 32) {                                       \
            CX_MASK##W mask = CX_TAIL##W(stop - i);                                            \
            int full = stop - i >= W / 32;                                                     \
            __m##W a = CX_LDW(W, x + i), yv = CX_LDW(W, y + i);                                \
            __m##W elo, e = EXP##_lo(_mm##W##_or_ps(a, _mm##W##_set1_ps(-0.0f)), 1, &elo);     \
            __m##W ls = LOG1P(e, elo);                                                         \
            CX_COND##W neg = CX_CMP##W(a, zero, _CMP_LT_OQ);                                   \
            __m##W pv = has_pw ? (pw ? CX_LDW(W, pw + i) : vpwsc) : one;                       \
            __m##W py = _mm##W##_mul_ps(pv, yv); /* pw y (y without pos_weight) */             \
            __m##W lw = has_pw                                                                 \
                ? _mm##W##_add_ps(one, _mm##W##_mul_ps(_mm##W##_sub_ps(pv, one), yv))          \
                : one;                                                                         \
            /* x < 0: -pw y x + lw ls;  x >= 0: (1 - y) x + lw ls;  x = -inf: nan */           \
            __m##W t = CX_SEL##W(neg, _mm##W##_mul_ps(_mm##W##_sub_ps(one, yv), a),            \
                                 _mm##W##_mul_ps(_mm##W##_sub_ps(zero, py), a));               \
            __m##W v = _mm##W##_add_ps(t, has_pw ? _mm##W##_mul_ps(lw, ls) : ls);              \
            v = CX_SEL##W(CX_CMP##W(a, ninf, _CMP_EQ_OQ), v, nan);                             \
            __m##W wv = w ? CX_LDW(W, w + i) : vwsc, gr = zero;                                \
            if (w || wsc != 1.0f) v = _mm##W##_mul_ps(v, wv);                                  \
            if (g) { /* w [lw sigmoid(x) - pw y] gsc (gout) */                                 \
                __m##W num = CX_SEL##W(CX_CMP##W(a, zero, _CMP_GE_OQ), e, one);                \
                /* sigmoid, as cx_sigmoid8 */                                                  \
                __m##W sg = _mm##W##_div_ps(num, _mm##W##_add_ps(one, e));                     \
                gr = has_pw ? _mm##W##_sub_ps(_mm##W##_mul_ps(lw, sg), py)                     \
                            : _mm##W##_sub_ps(sg, yv);                                         \
                if (w || wsc != 1.0f) gr = _mm##W##_mul_ps(gr, wv);                            \
                gr = _mm##W##_mul_ps(gr, vgsc);                                                \
                if (gout) gr = _mm##W##_mul_ps(gr, CX_LDW(W, gout + i));                       \
            }                                                                                  \
            if (full) {                                                                        \
                b = CX_ADD8_##W(b, v, stop - i);                                               \
                if (out) _mm##W##_storeu_ps(out + i, v);                                       \
                if (g) _mm##W##_storeu_ps(g + i, gr);                                          \
            } else {                                                                           \
                b = CX_ADD8_##W(b, CX_ANDM##W(v, mask), stop - i);                             \
                if (out) CX_STOREM##W(out + i, mask, v);                                       \
                if (g) CX_STOREM##W(g + i, mask, gr);                                          \
            }                                                                                  \
        }                                                                                      \
        acc = cx_hsum_pd(cx_add_pd8(_mm256_setzero_pd(), b)) + acc;                            \
    }                                                                                          \
    return acc;                                                                                \
}
CX_BCE_LOGITS_PS(cx_bce_logits_avx2, 256, CX_V3, cx_exp8_nonpos, cx_log1p8_ps)

/* wq_sums on AVX2: 8 classes a step as two 4-lane halves, class c in lane c % 8 of the pair,
   products and sums rounded separately (CX_OPAQUE_V); the last n % 8 classes through the
   class-by-class loop's term. */
#define CX_DEFINE_WQ_SUMS_AVX2(T, SUFFIX, LOAD4)                                               \
CX_V3 static void cx_wq_sums_##SUFFIX##_avx2(const T *x, const T *t, const T *w, Py_ssize_t n, \
                                            T m, double eps, double *pd, double *pq,           \
                                            int exact_zero) {                                  \
    __m256d vd[2] = {_mm256_setzero_pd(), _mm256_setzero_pd()}, vq[2] = {vd[0], vd[1]};        \
    const __m256d a = _mm256_set1_pd(1.0 - eps), b = _mm256_set1_pd(eps / (double)n);          \
    Py_ssize_t c = 0;                                                                          \
    for (; c + 8 <= n; c += 8)                                                                 \
        for (int h = 0; h < 2; h++) {                                                          \
            __m256d q = LOAD4(t + c + 4 * h);                                                  \
            if (eps > 0.0) {                                                                   \
                __m256d qa = _mm256_mul_pd(q, a);                                              \
                CX_OPAQUE_V(qa);                                                               \
                q = _mm256_add_pd(qa, b);                                                      \
            }                                                                                  \
            if (w) q = _mm256_mul_pd(LOAD4(w + c + 4 * h), q);                                 \
            CX_OPAQUE_V(q);                                                                    \
            T dt[4];                                                                           \
            for (int k = 0; k < 4; k++) dt[k] = x[c + 4 * h + k] - m; /* in T */               \
            __m256d d = LOAD4(dt);                                                             \
            __m256d qd = _mm256_mul_pd(q, d);                                                  \
            CX_OPAQUE_V(qd);                                                                   \
            if (exact_zero)                                                                    \
                qd = _mm256_andnot_pd(_mm256_cmp_pd(d, _mm256_setzero_pd(), _CMP_EQ_OQ), qd);  \
            vd[h] = _mm256_add_pd(vd[h], qd);                                                  \
            vq[h] = _mm256_add_pd(vq[h], q);                                                   \
        }                                                                                      \
    for (int h = 0; h < 2; h++) {                                                              \
        _mm256_storeu_pd(pd + 4 * h, vd[h]);                                                   \
        _mm256_storeu_pd(pq + 4 * h, vq[h]);                                                   \
    }                                                                                          \
    for (; c < n; c++)                                                                         \
        CX_WQ_TERM(T, x, t, w, n, m, eps, c, c % 8, pd, pq, exact_zero, CX_OPAQUE)             \
}
#define CX_LOAD4_F(p) _mm256_cvtps_pd(_mm_loadu_ps(p))
CX_DEFINE_WQ_SUMS_AVX2(float, f, CX_LOAD4_F)
CX_DEFINE_WQ_SUMS_AVX2(double, d, _mm256_loadu_pd)

/* G. The AVX-512 path (x86-64-v4: AVX-512 F, VL, DQ, BW; note G above).  Every element goes
   through the same operations as on AVX2 (cx_exp16_nonpos is cx_exp8_nonpos's sequence), and the
   wide lanes are paired back into AVX2's chains before each addition, so both paths give the same
   bits: the column kernels, which repeat the AVX2 row's order lane by lane, stay valid, and no
   result depends on which of the two paths runs.  Members without a 512-bit version (the
   reductions wdot and softmax_bwd, whose partial sums follow the vector width; the tile
   transposes, cols_uncopy and softcap; the arg-max, whose 16-lane version measured no faster:
   its first pass waits on the row's loads) are AVX2's. */
#define CX_ZERO_LT512(d, lo, v) _mm512_maskz_mov_ps(_mm512_cmp_ps_mask((d), (lo), _CMP_NLT_UQ), (v))
CX_EXP_NONPOS_PS(cx_exp16_nonpos, 512, CX_V4, CX_ZERO_LT512)



CX_V4 static double cx_sumexp_avx512(const float *x, Py_ssize_t n, float m, Py_ssize_t am,
                                     float *y) {
    /* cx_sumexp_avx2's sum bit for bit: a step of 32 classes is two 16-lane exps, E0 (classes
       0-15 of the step) and E1 (16-31); AVX2 adds classes 0-7 + 8-15 into chain s0 and 16-23 +
       24-31 into s1, so [E0 lo, E1 lo] + [E0 hi, E1 hi] is added to [s0 | s1] */
    const __m512 vm = _mm512_set1_ps(m);
    __m256d acc = _mm256_setzero_pd();
    Py_ssize_t i = 0;
    while (i + 32 <= n) {
        __m512 s = _mm512_setzero_ps();
        Py_ssize_t stop = i + 256 <= n ? i + 256 : n - (n - i) % 32;
        for (; i < stop; i += 32) {
            CX_PREFETCH_NEXT_ROW(x, n, i);
            __m512 x0 = _mm512_loadu_ps(x + i), x1 = _mm512_loadu_ps(x + i + 16), e0, e1;
            if (y) { /* the stored exps (H), summed without subnormals (CX_TERM8) */
                _mm512_storeu_ps(y + i, cx_exp16_nonpos_st(x0, vm, &e0));
                _mm512_storeu_ps(y + i + 16, cx_exp16_nonpos_st(x1, vm, &e1));
            } else {
                e0 = cx_exp16_nonpos(_mm512_sub_ps(x0, vm), 0);
                e1 = cx_exp16_nonpos(_mm512_sub_ps(x1, vm), 0);
            }
            if ((size_t)(am - i) < 32) { /* without the arg-max term */
                uint32_t keep = ~((uint32_t)1 << (am - i));
                e0 = _mm512_maskz_mov_ps((__mmask16)keep, e0);
                e1 = _mm512_maskz_mov_ps((__mmask16)(keep >> 16), e1);
            }
            s = _mm512_add_ps(s, _mm512_add_ps(_mm512_shuffle_f32x4(e0, e1, 0x44),
                                               _mm512_shuffle_f32x4(e0, e1, 0xEE)));
        }
        acc = cx_add_pd8(acc, _mm256_add_ps(_mm512_castps512_ps256(s),
                                            _mm512_extractf32x8_ps(s, 1)));
    }
    return cx_sumexp_tail_avx2(x, i, n, m, am, y, acc);
}

#define CX_ZERO_LT512D(d, lo, v)                                                               \
    _mm512_maskz_mov_pd(_mm512_cmp_pd_mask((d), (lo), _CMP_NLT_UQ), (v))
#define CX_FLOOR512D(v) _mm512_roundscale_pd((v), _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC)
CX_EXP_NONPOS_PD(cx_exp8_nonpos_pd, 512, CX_V4, CX_ZERO_LT512D, CX_FLOOR512D)

CX_V4 static double cx_sumexp_d_avx512(const double *x, Py_ssize_t n, double m, Py_ssize_t am,
                                       double *y) {
    /* cx_sumexp_d_avx2's sum bit for bit: its four 4-lane chains over groups of 16 are two
       8-lane vectors, [s0 | s1] and [s2 | s3] */
    const __m512d vm = _mm512_set1_pd(m);
    __m512d s01 = _mm512_setzero_pd(), s23 = s01;
    Py_ssize_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512d e01, e23;
        if (y) { /* the stored exps (H) */
            _mm512_storeu_pd(y + i, cx_exp8_nonpos_pd_st(_mm512_loadu_pd(x + i), vm, &e01));
            _mm512_storeu_pd(y + i + 8, cx_exp8_nonpos_pd_st(_mm512_loadu_pd(x + i + 8), vm, &e23));
        } else {
            e01 = cx_exp8_nonpos_pd(_mm512_sub_pd(_mm512_loadu_pd(x + i), vm));
            e23 = cx_exp8_nonpos_pd(_mm512_sub_pd(_mm512_loadu_pd(x + i + 8), vm));
        }
        if ((size_t)(am - i) < 16) { /* without the arg-max term */
            uint32_t keep = ~((uint32_t)1 << (am - i));
            e01 = _mm512_maskz_mov_pd((__mmask8)keep, e01);
            e23 = _mm512_maskz_mov_pd((__mmask8)(keep >> 8), e23);
        }
        s01 = _mm512_add_pd(s01, e01);
        s23 = _mm512_add_pd(s23, e23);
    }
    return cx_sumexp_d_tail_avx2(x, i, n, m, am, y, _mm512_castpd512_pd256(s01),
                                 _mm512_extractf64x4_pd(s01, 1), _mm512_castpd512_pd256(s23),
                                 _mm512_extractf64x4_pd(s23, 1));
}


CX_V4 static inline __attribute__((always_inline)) void cx_col_long_avx512_impl(
    const float *x, Py_ssize_t cs, Py_ssize_t n, const float *mi, const float *ami, double *resto,
    double *lno, float *y, Py_ssize_t ycs) {
    /* cx_col_long_avx2_impl with its two 8-row vectors per class as one 16-lane vector: each
       lane (row) takes the same operations in the same order, so each row's sum is the same */
    const __m512 m = _mm512_loadu_ps(mi);
    const __m512i am = _mm512_cvttps_epi32(_mm512_loadu_ps(ami));
    __m512 p[16], e0, e1;
    __m512d acc[4][2]; /* [q][rows 0-7, 8-15] */
    for (int q = 0; q < 4; q++) acc[q][0] = acc[q][1] = _mm512_setzero_pd();
#define CX_LTERM16(e, c)                                                                       \
    {                                                                                          \
        __m512 v_ = _mm512_loadu_ps(x + (c) * cs);                                             \
        if (y)                                                                                 \
            _mm512_storeu_ps(y + (c) * ycs, cx_exp16_nonpos_st(v_, m, &e));                    \
        else                                                                                   \
            e = cx_exp16_nonpos(_mm512_sub_ps(v_, m), 0);                                      \
        e = _mm512_maskz_mov_ps(_mm512_cmpneq_epi32_mask(_mm512_set1_epi32((int)(c)), am), e); \
    }
#define CX_LACC16(q, a, b) /* acc[q] += (double)a + (double)b, per row */                     \
    {                                                                                          \
        acc[q][0] = _mm512_add_pd(acc[q][0], _mm512_add_pd(                                    \
            _mm512_cvtps_pd(_mm512_castps512_ps256(a)),                                        \
            _mm512_cvtps_pd(_mm512_castps512_ps256(b))));                                      \
        acc[q][1] = _mm512_add_pd(acc[q][1], _mm512_add_pd(                                    \
            _mm512_cvtps_pd(_mm512_extractf32x8_ps(a, 1)),                                     \
            _mm512_cvtps_pd(_mm512_extractf32x8_ps(b, 1))));                                   \
    }
    Py_ssize_t i = 0;
    while (i + 32 <= n) {
        Py_ssize_t stop = i + 256 <= n ? i + 256 : n - (n - i) % 32;
        for (int l = 0; l < 8; l++) {
            __m512 a = _mm512_setzero_ps(), b = a;
            for (Py_ssize_t c = i + l; c < stop; c += 32) {
                CX_LTERM16(e0, c)
                CX_LTERM16(e1, c + 8)
                a = _mm512_add_ps(a, _mm512_add_ps(e0, e1));
                CX_LTERM16(e0, c + 16)
                CX_LTERM16(e1, c + 24)
                b = _mm512_add_ps(b, _mm512_add_ps(e0, e1));
            }
            p[l] = a;
            p[l + 8] = b;
        }
        i = stop;
        for (int q = 0; q < 4; q++) {
            __m512 a = _mm512_add_ps(p[q], p[q + 8]), b = _mm512_add_ps(p[q + 4], p[q + 12]);
            CX_LACC16(q, a, b)
        }
    }
    for (; i < n; i += 8) /* the tail in groups of 8 classes, the missing ones 0 */
        for (int q = 0; q < 4; q++) {
            e0 = e1 = _mm512_setzero_ps();
            if (i + q < n) { CX_LTERM16(e0, i + q) }
            if (i + q + 4 < n) { CX_LTERM16(e1, i + q + 4) }
            CX_LACC16(q, e0, e1)
        }
#undef CX_LTERM16
#undef CX_LACC16
    __m512 mm = _mm512_sub_ps(m, m); /* nan for an infinite max */
    for (int h = 0; h < 2; h++) {
        __m512d r = _mm512_add_pd(_mm512_add_pd(acc[0][h], acc[2][h]),
                                  _mm512_add_pd(acc[1][h], acc[3][h]));
        __m256 mh = h ? _mm512_extractf32x8_ps(mm, 1) : _mm512_castps512_ps256(mm);
        r = _mm512_add_pd(r, _mm512_cvtps_pd(mh));
        _mm512_storeu_pd(resto + 8 * h, r);
    }
    for (int j = 0; j < CX_LANES; j++) lno[j] = log1p(resto[j]);
}

CX_COL_LONG_ENTRY(cx_col_long_avx512, CX_V4, float)

#define CX_GT512_PS(a, b) _mm512_cmp_ps_mask((a), (b), _CMP_GT_OQ)
#define CX_GT512_PD(a, b) _mm512_cmp_pd_mask((a), (b), _CMP_GT_OQ)
#define CX_BLEND512_PS(a, b, k) _mm512_mask_blend_ps((k), (a), (b))
#define CX_BLEND512_PD(a, b, k) _mm512_mask_blend_pd((k), (a), (b))
CX_DEFINE_COLS_COPY_SIMD(float, f, avx512, CX_V4, __m512, __mmask16, 16, _mm512_loadu_ps,
                         _mm512_storeu_ps, _mm512_set1_ps, CX_GT512_PS, CX_BLEND512_PS)
CX_DEFINE_COLS_COPY_SIMD(double, d, avx512, CX_V4, __m512d, __mmask8, 8, _mm512_loadu_pd,
                         _mm512_storeu_pd, _mm512_set1_pd, CX_GT512_PD, CX_BLEND512_PD)

CX_LOG1P_PS(cx_log1p16_ps, 512, CX_V4)
CX_SIGMOID_PS(cx_sigmoid16, 512, CX_V4, cx_exp16_nonpos, cx_log1p16_ps)
CX_BCE_LOGITS_PS(cx_bce_logits_avx512, 512, CX_V4, cx_exp16_nonpos, cx_log1p16_ps)
CX_LOG_PD(cx_log8_pd, 512, CX_V4)
CX_LOG1P_PD(cx_log1p8_pd, 512, CX_V4, cx_log8_pd)
CX_SIGMOID_PD(cx_sigmoid8_pd, 512, CX_V4, cx_exp8_nonpos_pd, cx_log1p8_pd)

CX_V4 static void cx_sigmoid_avx512(const float *x, Py_ssize_t n, float *y, int log_out) {
    Py_ssize_t i = 0; /* as cx_sigmoid_avx2: the tail through the same vector code (masked) */
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, cx_sigmoid16(_mm512_loadu_ps(x + i), log_out));
    if (i < n) {
        __mmask16 mask = CX_TAIL512(n - i);
        __m512 v = _mm512_maskz_loadu_ps(mask, x + i);
        _mm512_mask_storeu_ps(y + i, mask, cx_sigmoid16(v, log_out));
    }
}

CX_V4 static void cx_sigmoid_d_avx512(const double *x, Py_ssize_t n, double *y, int log_out) {
    Py_ssize_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm512_storeu_pd(y + i, cx_sigmoid8_pd(_mm512_loadu_pd(x + i), log_out));
    if (i < n) {
        __mmask8 mask = (__mmask8)((1u << (n - i)) - 1u);
        __m512d v = _mm512_maskz_loadu_pd(mask, x + i);
        _mm512_mask_storeu_pd(y + i, mask, cx_sigmoid8_pd(v, log_out));
    }
}
CX_BCE_LOGITS_PD(cx_bce_logits_d_avx512, 512, CX_V4, cx_exp8_nonpos_pd, cx_log1p8_pd)

CX_V4 static void cx_col_lognorm_avx512(const float *x, Py_ssize_t cs, Py_ssize_t n, float *mo,
                                       double *resto, double *lno, float *y, Py_ssize_t ycs) {
    /* cx_col_lognorm_avx2 with its two 8-row vectors as one: the same operations per lane */
    const __m512 one = _mm512_set1_ps(1.0f), zero = _mm512_setzero_ps();
    __m512 m = _mm512_loadu_ps(x);
    for (Py_ssize_t c = 1; c < n; c++) m = _mm512_max_ps(_mm512_loadu_ps(x + c * cs), m);
    __m512d r0 = _mm512_setzero_pd(), r1 = r0; /* rows 0-7, 8-15 */
    __m512 k = _mm512_set1_ps(-1.0f);
    for (Py_ssize_t c0 = 0; c0 < n; c0 += CX_COL_BLOCK) {
        __m512 rf = zero;
        for (Py_ssize_t c = c0; c < c0 + CX_COL_BLOCK && c < n; c++) {
            __m512 v = _mm512_loadu_ps(x + c * cs), d = _mm512_sub_ps(v, m), e;
            __mmask16 eq = _mm512_cmp_ps_mask(d, zero, _CMP_EQ_OQ);
            if (y) /* the stored exp (H); terms below FLT_MIN count 0 in the sum either way */
                _mm512_storeu_ps(y + c * ycs, cx_exp16_nonpos_st(v, m, &e));
            else
                e = cx_exp16_nonpos(d, 0);
            rf = _mm512_add_ps(rf, _mm512_maskz_mov_ps((__mmask16)~eq, e));
            k = _mm512_add_ps(k, _mm512_maskz_mov_ps(eq, one));
        }
        r0 = _mm512_add_pd(r0, _mm512_cvtps_pd(_mm512_castps512_ps256(rf)));
        r1 = _mm512_add_pd(r1, _mm512_cvtps_pd(_mm512_extractf32x8_ps(rf, 1)));
    }
    for (int h = 0; h < 2; h++) {
        __m512d td = _mm512_add_pd(h ? r1 : r0, _mm512_cvtps_pd(h ? _mm512_extractf32x8_ps(k, 1)
                                                                   : _mm512_castps512_ps256(k)));
        _mm512_storeu_pd(resto + 8 * h, td);
        _mm512_storeu_pd(lno + 8 * h, cx_log1p8_pd(td));
    }
    _mm512_storeu_ps(mo, m);
}

CX_V4 static void cx_col_map_avx512(const float *x, Py_ssize_t cs, Py_ssize_t n, const float *m,
                                   const float *a, const float *k, const float *w, float *y,
                                   Py_ssize_t ycs, int mode) {
    /* cx_col_map_avx2 with its two 8-row vectors as one: the same operations per lane */
    __m512 va = _mm512_loadu_ps(a);
    __m512 vm = mode == CX_MAP_AFFINE ? _mm512_setzero_ps() : _mm512_loadu_ps(m);
    __m512 nk = k ? _mm512_sub_ps(_mm512_setzero_ps(), _mm512_loadu_ps(k)) : _mm512_set1_ps(-0.0f);
    for (Py_ssize_t c = 0; c < n; c++) {
        __m512 v = _mm512_loadu_ps(x + c * cs), r;
        if (mode == CX_MAP_LOG) {
            r = _mm512_sub_ps(_mm512_sub_ps(v, vm), va);
        } else {
            __m512 e = v, es;
            if (mode == CX_MAP_EXP) e = cx_exp16_nonpos_st(v, vm, &es);
            __m512 nkw = w ? _mm512_mul_ps(nk, _mm512_set1_ps(w[c])) : nk;
            r = _mm512_fmadd_ps(va, e, nkw);
        }
        _mm512_storeu_ps(y + c * ycs, r);
    }
}


CX_KL_LOGS_PD(cx_kl_logs8, 512, CX_V4, cx_exp8_nonpos_pd, cx_log8_pd)

CX_BCE_PROBS(cx_bce_probs_d_avx512, 512, CX_V4, cx_log8_pd, cx_log1p8_pd)

/* kl_div's logs, 8 lanes; the tail through the same vector code, masked (the other lanes'
   values are not stored) */
CX_V4 static void cx_kl_logs_f_avx512(const float *t, Py_ssize_t n, int log_target, double *out) {
    for (Py_ssize_t i = 0; i < n; i += 8) {
        __mmask8 k = (__mmask8)(n - i >= 8 ? 0xffu : (1u << (n - i)) - 1u);
        __m512d v = _mm512_cvtps_pd(_mm256_maskz_loadu_ps(k, t + i));
        _mm512_mask_storeu_pd(out + i, k, cx_kl_logs8(v, log_target));
    }
}
CX_V4 static void cx_kl_logs_d_avx512(const double *t, Py_ssize_t n, int log_target, double *out) {
    for (Py_ssize_t i = 0; i < n; i += 8) {
        __mmask8 k = (__mmask8)(n - i >= 8 ? 0xffu : (1u << (n - i)) - 1u);
        _mm512_mask_storeu_pd(out + i, k, cx_kl_logs8(_mm512_maskz_loadu_pd(k, t + i), log_target));
    }
}


CX_V4 static void cx_affine_d_avx512(double *g, Py_ssize_t n, double a, double k, const double *w) {
    /* cx_affine_d_avx2's values: 8 at a time, the last n % 8 through cx_affine_d_avx2 itself, so
       its scalar tail (the last n % 4) is the same */
    const __m512d va = _mm512_set1_pd(a), vk = _mm512_set1_pd(k);
    Py_ssize_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m512d kw = w ? _mm512_mul_pd(vk, _mm512_loadu_pd(w + i)) : vk;
        _mm512_storeu_pd(g + i, _mm512_sub_pd(_mm512_mul_pd(va, _mm512_loadu_pd(g + i)), kw));
    }
    cx_affine_d_avx2(g + i, n - i, a, k, w ? w + i : NULL);
}

CX_V4 static void cx_logsoftmax_out_d_avx512(const double *x, Py_ssize_t n, double m, double lnorm,
                                            double *y) {
    /* cx_logsoftmax_out_d, 8 wide: one subtraction after another per element, y may be x */
    const __m512d vm = _mm512_set1_pd(m), vl = _mm512_set1_pd(lnorm);
    for (Py_ssize_t i = 0; i < n; i += 8) {
        __mmask8 k = (__mmask8)(n - i >= 8 ? 0xffu : (1u << (n - i)) - 1u);
        __m512d v = _mm512_maskz_loadu_pd(k, x + i);
        _mm512_mask_storeu_pd(y + i, k, _mm512_sub_pd(_mm512_sub_pd(v, vm), vl));
    }
}

CX_V4 static void cx_col_lognorm_d_avx512(const double *x, Py_ssize_t cs, Py_ssize_t n,
                                         double *mo, double *resto, double *lno, double *y,
                                         Py_ssize_t ycs) {
    /* cx_col_lognorm_d_avx2, lanes 8 at a time: the same operations per lane */
    const __m512d one = _mm512_set1_pd(1.0), zero = _mm512_setzero_pd();
    for (int h = 0; h < CX_LANES; h += 8) {
        __m512d m = _mm512_loadu_pd(x + h);
        for (Py_ssize_t c = 1; c < n; c++) m = _mm512_max_pd(_mm512_loadu_pd(x + c * cs + h), m);
        __m512d rest = zero, cnt = _mm512_set1_pd(-1.0);
        for (Py_ssize_t c = 0; c < n; c++) {
            __m512d v = _mm512_loadu_pd(x + c * cs + h), d = _mm512_sub_pd(v, m), e;
            __mmask8 eq = _mm512_cmp_pd_mask(d, zero, _CMP_EQ_OQ);
            if (y)
                _mm512_storeu_pd(y + c * ycs + h, cx_exp8_nonpos_pd_st(v, m, &e));
            else
                e = cx_exp8_nonpos_pd(d);
            rest = _mm512_add_pd(rest, _mm512_maskz_mov_pd((__mmask8)~eq, e));
            cnt = _mm512_add_pd(cnt, _mm512_maskz_mov_pd(eq, one));
        }
        __m512d t = _mm512_add_pd(rest, cnt);
        _mm512_storeu_pd(resto + h, t);
        _mm512_storeu_pd(lno + h, cx_log1p8_pd(t));
        _mm512_storeu_pd(mo + h, m);
    }
}

CX_V4 static void cx_col_map_d_avx512(const double *x, Py_ssize_t cs, Py_ssize_t n,
                                     const double *m, const double *a, const double *k,
                                     const double *w, double *y, Py_ssize_t ycs, int mode) {
    /* cx_col_map_d_avx2 with the 16 lanes as two vectors: the same operations per lane */
    __m512d va[2], vm[2], nk[2], r[2];
    for (int h = 0; h < 2; h++) {
        va[h] = _mm512_loadu_pd(a + 8 * h);
        vm[h] = mode == CX_MAP_AFFINE ? _mm512_setzero_pd() : _mm512_loadu_pd(m + 8 * h);
        nk[h] = k ? _mm512_sub_pd(_mm512_setzero_pd(), _mm512_loadu_pd(k + 8 * h))
                  : _mm512_set1_pd(-0.0);
    }
    for (Py_ssize_t c = 0; c < n; c++) {
        for (int h = 0; h < 2; h++) {
            __m512d v = _mm512_loadu_pd(x + c * cs + 8 * h);
            if (mode == CX_MAP_LOG) {
                r[h] = _mm512_sub_pd(_mm512_sub_pd(v, vm[h]), va[h]);
            } else {
                __m512d nkw = w ? _mm512_mul_pd(nk[h], _mm512_set1_pd(w[c])) : nk[h];
                __m512d e = v, es;
                if (mode == CX_MAP_EXP) e = cx_exp8_nonpos_pd_st(v, vm[h], &es);
                r[h] = _mm512_fmadd_pd(va[h], e, nkw);
            }
        }
        for (int h = 0; h < 2; h++) _mm512_storeu_pd(y + c * ycs + 8 * h, r[h]);
    }
}

#define CX_SKIP_EQ512D(c, a, e)                                                                \
    _mm512_maskz_mov_pd(_mm512_cmp_pd_mask((c), (a), _CMP_NEQ_UQ), (e))
CX_COL_LONG_D(cx_col_long_d_avx512, 512, CX_V4, cx_exp8_nonpos_pd, CX_SKIP_EQ512D)

/* An element-wise pass over a float32 span y[0:n], 16 wide: OP(k, i) computes the 16 results of
   elements i.. (masked loads with k), stored under k.  A masked head first, so that the stores
   are aligned to 64 bytes: unaligned, every 64-byte store splits a cache line (512x32000 float32
   log_softmax(out=), 1 thread: 14.6 ms unaligned against 10.2-11.0 ms aligned, 12.2-14.8 ms on
   AVX2).  One operation sequence per element, so the split does not change any value. */
#define CX_SPAN16(y, n, OP)                                                                    \
    {                                                                                          \
        Py_ssize_t i = (Py_ssize_t)(((64 - ((uintptr_t)(y) & 63)) & 63) / sizeof(float));     \
        i = i < (n) ? i : (n);                                                                 \
        if (i) {                                                                               \
            __mmask16 k = CX_TAIL512(i);                                                       \
            _mm512_mask_storeu_ps((y), k, OP(k, 0));                                           \
        }                                                                                      \
        for (; i + 16 <= (n); i += 16) _mm512_storeu_ps((y) + i, OP((__mmask16)0xffff, i));    \
        if (i < (n)) {                                                                         \
            __mmask16 k = CX_TAIL512((n) - i);                                                 \
            _mm512_mask_storeu_ps((y) + i, k, OP(k, i));                                       \
        }                                                                                      \
    }

CX_V4 static void cx_logsoftmax_out_avx512(const float *x, Py_ssize_t n, float m, float lnorm,
                                          float *y) {
    /* cx_logsoftmax_out: (x - m) - lnorm per element (y may be x) */
    const __m512 vm = _mm512_set1_ps(m), vl = _mm512_set1_ps(lnorm);
#define CX_OP(k, i) _mm512_sub_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps((k), x + (i)), vm), vl)
    CX_SPAN16(y, n, CX_OP)
#undef CX_OP
}

CX_V4 static void cx_affine_avx512(float *g, Py_ssize_t n, float a, float k, const float *w) {
    /* cx_affine: g = a g (k = 0), fma(a, g, (-k) w), or fma(a, g, -k) without w */
    const __m512 va = _mm512_set1_ps(a), vnk = _mm512_set1_ps(-k);
#define CX_G(m, i) _mm512_maskz_loadu_ps((m), g + (i))
#define CX_MUL(m, i) _mm512_mul_ps(va, CX_G(m, i))
#define CX_FMW(m, i)                                                                           \
    _mm512_fmadd_ps(va, CX_G(m, i), _mm512_mul_ps(vnk, _mm512_maskz_loadu_ps((m), w + (i))))
#define CX_FMK(m, i) _mm512_fmadd_ps(va, CX_G(m, i), vnk)
    if (k == 0.0f)
        CX_SPAN16(g, n, CX_MUL)
    else if (w)
        CX_SPAN16(g, n, CX_FMW)
    else
        CX_SPAN16(g, n, CX_FMK)
#undef CX_G
#undef CX_MUL
#undef CX_FMW
#undef CX_FMK
}

/* The template's element-wise passes vectorised 16 wide by the compiler (one operation sequence
   per element: the same bits at any width); softmax_bwd's sum stays AVX2's (a reduction's
   partial sums follow the vector width) */
CX_DEFINE_KERNELS(avx512_fma, CX_V4 __attribute__((unused)), CX_FMA_HW)

CX_V4 static void cx_softmax_bwd_avx512(const float *g, const float *y, Py_ssize_t n, float *out,
                                       int log_out) {
    cx_softmax_bwd_out_avx512_fma(g, y, n, out, log_out,
                                  cx_softmax_bwd_sum_avx2_fma(g, y, n, log_out));
}

CX_V4 static void cx_softmax_bwd_d_avx512(const double *g, const double *y, Py_ssize_t n,
                                         double *out, int log_out) {
    /* cx_softmax_bwd_d_avx2's values: its four sum chains as two 8-lane vectors, the same scalar
       tails (the sum's past the groups of 16, libm's exp on the last n % 4 outputs) */
    __m512d a01 = _mm512_setzero_pd(), a23 = a01;
    Py_ssize_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512d g01 = _mm512_loadu_pd(g + i), g23 = _mm512_loadu_pd(g + i + 8);
        if (!log_out) {
            g01 = _mm512_mul_pd(g01, _mm512_loadu_pd(y + i));
            g23 = _mm512_mul_pd(g23, _mm512_loadu_pd(y + i + 8));
        }
        a01 = _mm512_add_pd(a01, g01);
        a23 = _mm512_add_pd(a23, g23);
    }
    double acc = cx_sum_tail_d(g, y, i, n, log_out, cx_hsum_pd(_mm256_add_pd(
        _mm256_add_pd(_mm512_castpd512_pd256(a01), _mm512_extractf64x4_pd(a01, 1)),
        _mm256_add_pd(_mm512_castpd512_pd256(a23), _mm512_extractf64x4_pd(a23, 1)))));
    const __m512d vs = _mm512_set1_pd(acc), top = _mm512_set1_pd(710.0);
    Py_ssize_t n4 = n - n % 4;
    for (i = 0; i + 8 <= n4; i += 8) {
        __m512d gv = _mm512_loadu_pd(g + i), yv = _mm512_loadu_pd(y + i);
        __m512d r = log_out
            ? _mm512_sub_pd(gv, _mm512_mul_pd(cx_exp8_nonpos_pd(_mm512_min_pd(top, yv)), vs))
            : _mm512_mul_pd(yv, _mm512_sub_pd(gv, vs));
        _mm512_storeu_pd(out + i, r);
    }
    if (i < n4) { /* one group of 4 left */
        __m256d gv = _mm256_loadu_pd(g + i), yv = _mm256_loadu_pd(y + i);
        __m256d v4 = _mm256_set1_pd(acc);
        __m256d r = log_out
            ? _mm256_sub_pd(gv, _mm256_mul_pd(
                  cx_exp4_nonpos(_mm256_min_pd(_mm256_set1_pd(710.0), yv)), v4))
            : _mm256_mul_pd(yv, _mm256_sub_pd(gv, v4));
        _mm256_storeu_pd(out + i, r);
    }
    for (i = n4; i < n; i++) out[i] = log_out ? g[i] - exp(y[i]) * acc : y[i] * (g[i] - acc);
}

/* wq_sums, 8 classes a vector, class c in lane c % 8 (the partial it goes to), products and sums
   rounded separately (CX_OPAQUE_V) as in the class-by-class loop; the last n % 8 classes through
   that loop's term. */
#define CX_DEFINE_WQ_SUMS_AVX512(T, SUFFIX, LOAD8)                                             \
CX_V4 static void cx_wq_sums_##SUFFIX##_avx512(const T *x, const T *t, const T *w, Py_ssize_t n,\
                                              T m, double eps, double *pd, double *pq,         \
                                              int exact_zero) {                                \
    __m512d vd = _mm512_setzero_pd(), vq = vd;                                                 \
    const __m512d a = _mm512_set1_pd(1.0 - eps), b = _mm512_set1_pd(eps / (double)n);          \
    Py_ssize_t c = 0;                                                                          \
    for (; c + 8 <= n; c += 8) {                                                               \
        __m512d q = LOAD8(t + c);                                                              \
        if (eps > 0.0) {                                                                       \
            __m512d qa = _mm512_mul_pd(q, a);                                                  \
            CX_OPAQUE_V(qa);                                                                   \
            q = _mm512_add_pd(qa, b);                                                          \
        }                                                                                      \
        if (w) q = _mm512_mul_pd(LOAD8(w + c), q);                                             \
        CX_OPAQUE_V(q);                                                                        \
        T dt[8];                                                                               \
        for (int k = 0; k < 8; k++) dt[k] = x[c + k] - m; /* in T */                           \
        __m512d d = LOAD8(dt);                                                                 \
        __m512d qd = _mm512_mul_pd(q, d);                                                      \
        CX_OPAQUE_V(qd);                                                                       \
        if (exact_zero)                                                                        \
            qd = _mm512_maskz_mov_pd(_mm512_cmp_pd_mask(d, _mm512_setzero_pd(), _CMP_NEQ_UQ), qd);\
        vd = _mm512_add_pd(vd, qd);                                                            \
        vq = _mm512_add_pd(vq, q);                                                             \
    }                                                                                          \
    _mm512_storeu_pd(pd, vd);                                                                  \
    _mm512_storeu_pd(pq, vq);                                                                  \
    for (; c < n; c++)                                                                         \
        CX_WQ_TERM(T, x, t, w, n, m, eps, c, c % 8, pd, pq, exact_zero, CX_OPAQUE)             \
}

#define CX_LOAD8_F(p) _mm512_cvtps_pd(_mm256_loadu_ps(p))
CX_DEFINE_WQ_SUMS_AVX512(float, f, CX_LOAD8_F)
CX_DEFINE_WQ_SUMS_AVX512(double, d, _mm512_loadu_pd)

static const cx_table_f cx_f32_avx512 = {
    "avx512", cx_argmax_avx2, cx_sumexp_avx512, cx_wdot_avx2_fma, cx_logsoftmax_out_avx512,
    cx_affine_avx512, cx_softmax_bwd_avx512, cx_col_lognorm_avx512, cx_col_long_avx512,
    cx_cols_copy_f_avx512, cx_cols_uncopy_f_avx2, cx_col_map_avx512, cx_tile_to_rows_avx2,
    cx_rows_to_tile_avx2, cx_sigmoid_avx512, cx_bce_probs_f_avx2, cx_bce_logits_avx512,
    cx_kl_logs_f_avx512, cx_softcap_f_avx2, cx_wq_sums_f_avx512};
static const cx_table_d cx_f64_avx512 = {
    "avx512", cx_argmax_d_avx2, cx_sumexp_d_avx512, cx_wdot_d, cx_logsoftmax_out_d_avx512,
    cx_affine_d_avx512, cx_softmax_bwd_d_avx512, cx_col_lognorm_d_avx512, cx_col_long_d_avx512,
    cx_cols_copy_d_avx512, cx_cols_uncopy_d_avx2, cx_col_map_d_avx512,
    cx_tile_to_rows_d, cx_rows_to_tile_d, cx_sigmoid_d_avx512, cx_bce_probs_d_avx512,
    cx_bce_logits_d_avx512, cx_kl_logs_d_avx512, cx_softcap_d, cx_wq_sums_d_avx512};

static const cx_table_f cx_f32_avx2 = {
    "avx2_fma", cx_argmax_avx2, cx_sumexp_avx2, cx_wdot_avx2_fma, cx_logsoftmax_out_avx2_fma,
    cx_affine_avx2_fma, cx_softmax_bwd_avx2_fma, cx_col_lognorm_avx2, cx_col_long_avx2, cx_cols_copy_f_avx2, cx_cols_uncopy_f_avx2,
    cx_col_map_avx2, cx_tile_to_rows_avx2, cx_rows_to_tile_avx2, cx_sigmoid_avx2,
    cx_bce_probs_f_avx2, cx_bce_logits_avx2, cx_kl_logs_f_avx2, cx_softcap_f_avx2,
    cx_wq_sums_f_avx2};
static const cx_table_d cx_f64_avx2 = {
    "avx2_fma", cx_argmax_d_avx2, cx_sumexp_d_avx2, cx_wdot_d, cx_logsoftmax_out_d, cx_affine_d_avx2,
    cx_softmax_bwd_d_avx2, cx_col_lognorm_d_avx2, cx_col_long_d_avx2, cx_cols_copy_d_avx2, cx_cols_uncopy_d_avx2, cx_col_map_d_avx2,
    cx_tile_to_rows_d, cx_rows_to_tile_d, cx_sigmoid_d_avx2, cx_bce_probs_d_avx2,
    cx_bce_logits_d_avx2, cx_kl_logs_d_avx2, cx_softcap_d, cx_wq_sums_d_avx2};
#endif

static const cx_table_f cx_f32_portable = {
    "portable", cx_argmax_row_portable, cx_sumexp_portable, cx_wdot_portable, cx_logsoftmax_out_portable,
    cx_affine_portable, cx_softmax_bwd_portable, cx_col_lognorm_portable, cx_col_long_portable, cx_cols_copy_f_portable, cx_cols_uncopy_f_portable,
    cx_col_map_portable, cx_tile_to_rows_f, cx_rows_to_tile_f, cx_sigmoid_portable,
    cx_bce_probs_f_portable, cx_bce_logits_portable, cx_kl_logs_f_portable, cx_softcap_f_portable,
    cx_wq_sums_f_portable};
static const cx_table_d cx_f64_portable = {
    "portable", cx_argmax_d_portable, cx_sumexp_d_portable, cx_wdot_d, cx_logsoftmax_out_d,
    cx_affine_d_portable, cx_softmax_bwd_d_portable, cx_col_lognorm_d_portable,
    cx_col_long_d_portable, cx_cols_copy_d_portable, cx_cols_uncopy_d_portable, cx_col_map_d_portable, cx_tile_to_rows_d, cx_rows_to_tile_d,
    cx_sigmoid_d_portable, cx_bce_probs_d_portable, cx_bce_logits_d_portable, cx_kl_logs_d_portable,
    cx_softcap_d, cx_wq_sums_d_portable};

static int cx_level = -1; /* B: chosen once; 0 portable, 1 AVX2+FMA, 2 AVX-512 */

static int cx_simd_level(void) {
    if (cx_level >= 0) return cx_level;
    const char *env = getenv("CXENT_SIMD");
    cx_level = 0;
#ifdef CX_HAVE_V3
    __builtin_cpu_init();
    if (!(env && strcmp(env, "portable") == 0) && __builtin_cpu_supports("avx2") &&
        __builtin_cpu_supports("fma")) {
        cx_level = 1;
        if (!(env && strcmp(env, "avx2") == 0) && __builtin_cpu_supports("avx512f") &&
            __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
            __builtin_cpu_supports("avx512bw"))
            cx_level = 2;
    }
#else
    (void)env;
#endif
    return cx_level;
}

static int cx_use_avx2(void) { return cx_simd_level() >= 1; }

static const cx_table_f *cx_table_f32(void) {
#ifdef CX_HAVE_V3
    if (cx_simd_level() == 2) return &cx_f32_avx512;
    if (cx_use_avx2()) return &cx_f32_avx2;
#endif
    return &cx_f32_portable;
}

static const cx_table_d *cx_table_f64(void) {
#ifdef CX_HAVE_V3
    if (cx_simd_level() == 2) return &cx_f64_avx512;
    if (cx_use_avx2()) return &cx_f64_avx2;
#endif
    return &cx_f64_portable;
}

#ifdef CX_HAVE_V3
CX_V3 static void cx_exp_span_avx2(const float *x, Py_ssize_t n, float *y) {
    Py_ssize_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, cx_exp8_nonpos(_mm256_loadu_ps(x + i), 1));
    for (; i < n; i++)
        _mm_store_ss(y + i, _mm256_castps256_ps128(cx_exp8_nonpos(_mm256_set1_ps(x[i]), 1)));
}
CX_V4 static void cx_exp_span_avx512(const float *x, Py_ssize_t n, float *y) {
    Py_ssize_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, cx_exp16_nonpos(_mm512_loadu_ps(x + i), 1));
    if (i < n) {
        __mmask16 mask = CX_TAIL512(n - i);
        __m512 v = _mm512_maskz_loadu_ps(mask, x + i);
        _mm512_mask_storeu_ps(y + i, mask, cx_exp16_nonpos(v, 1));
    }
}
#endif

/* exp of float32 values <= 0 as the active path's kernels compute the exps they store (the AVX2
   cx_exp8_nonpos, its 16-lane twin, or the portable cx_expf): the accuracy tests' hook
   (_rows.exp_values). */
static void cx_exp_f32(const float *x, Py_ssize_t n, float *y) {
#ifdef CX_HAVE_V3
    if (cx_simd_level() == 2) {
        cx_exp_span_avx512(x, n, y);
        return;
    }
    if (cx_use_avx2()) {
        cx_exp_span_avx2(x, n, y);
        return;
    }
#endif
    for (Py_ssize_t i = 0; i < n; i++) y[i] = cx_expf_portable(x[i]);
}

#endif
