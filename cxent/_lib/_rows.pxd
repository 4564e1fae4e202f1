# cython: language_level=3
"""The row engine shared by the kernel modules (declarations; the code is in ``_rows.pyx``).

Operands of the class-axis functions are ``(outer, C, inner)`` views, each with its own element
strides (``operand``); row ``r`` is position ``(r // inner, r % inner)``.  Rows are processed in tiles
of 16 (short rows) or 32 consecutive rows (``tile``).  The arithmetic of a row depends only on C
(``_rows.pyx`` note B), never on where the row sits in memory: that is what makes results bitwise
independent of the layout.
"""

from cython cimport floating
cimport numpy as cnp

cdef extern from "_simd_api.h" nogil:
    enum:
        CX_LANES
        CX_LONG_TILE
        CX_SHORT
        CX_GROUP
        CX_GROUP_LANES
        CX_MAP_EXP
        CX_MAP_LOG
        CX_MAP_AFFINE
    ctypedef struct cx_table_f:
        const char* name
        Py_ssize_t (*argmax)(const float* x, Py_ssize_t n) noexcept nogil
        double (*sumexp)(const float* x, Py_ssize_t n, float m, Py_ssize_t am, float* y) noexcept nogil
        double (*wdot)(const float* x, Py_ssize_t n, float m, const float* w) noexcept nogil
        void (*logsoftmax_out)(const float* x, Py_ssize_t n, float m, float lnorm,
                               float* y) noexcept nogil
        void (*affine)(float* g, Py_ssize_t n, float a, float k, const float* w) noexcept nogil
        void (*softmax_bwd)(const float* g, const float* y, Py_ssize_t n, float* out,
                            int log_out) noexcept nogil
        void (*col_lognorm)(const float* x, Py_ssize_t cs, Py_ssize_t n, float* m,
                            double* rest, double* lnorm, float* y, Py_ssize_t ycs) noexcept nogil
        void (*col_long)(const float* x, Py_ssize_t cs, Py_ssize_t n, const float* m,
                         const float* am, double* rest, double* lnorm, float* y,
                         Py_ssize_t ycs) noexcept nogil
        void (*cols_copy)(const float* x, Py_ssize_t cs, Py_ssize_t n, int lanes, float* out,
                          float* m, float* am) noexcept nogil
        void (*cols_uncopy)(const float* buf, Py_ssize_t n, int lanes, float* x,
                            Py_ssize_t cs) noexcept nogil
        void (*col_map)(const float* x, Py_ssize_t cs, Py_ssize_t n, const float* m,
                        const float* a, const float* k, const float* w, float* y, Py_ssize_t ycs,
                        int mode) noexcept nogil
        void (*tile_to_rows)(const float* x, Py_ssize_t cs, Py_ssize_t n, int lanes,
                             float* rows) noexcept nogil
        void (*rows_to_tile)(const float* rows, Py_ssize_t n, int lanes, float* x,
                             Py_ssize_t cs) noexcept nogil
        void (*sigmoid)(const float* x, Py_ssize_t n, float* y, int log_out) noexcept nogil
        double (*bce_probs)(const float* p, const float* y, Py_ssize_t n, const float* w, float wsc,
                            float* out, float* g, const float* gout, double gsc,
                            Py_ssize_t* bad) noexcept nogil
        double (*bce_logits)(const float* x, const float* y, Py_ssize_t n, const float* w,
                             float wsc, const float* pw, float pwsc, int has_pw, float* out,
                             float* g, const float* gout, float gsc) noexcept nogil
        void (*kl_logs)(const float* t, Py_ssize_t n, int log_target, double* out) noexcept nogil
        void (*softcap)(const float* x, Py_ssize_t n, float c, float* y, float* t) noexcept nogil
        void (*wq_sums)(const float* x, const float* t, const float* w, Py_ssize_t n, float m,
                        double eps, double* pd, double* pq, int exact_zero) noexcept nogil
    ctypedef struct cx_table_d:
        const char* name
        Py_ssize_t (*argmax)(const double* x, Py_ssize_t n) noexcept nogil
        double (*sumexp)(const double* x, Py_ssize_t n, double m, Py_ssize_t am, double* y) noexcept nogil
        double (*wdot)(const double* x, Py_ssize_t n, double m, const double* w) noexcept nogil
        void (*logsoftmax_out)(const double* x, Py_ssize_t n, double m, double lnorm,
                               double* y) noexcept nogil
        void (*affine)(double* g, Py_ssize_t n, double a, double k, const double* w) noexcept nogil
        void (*softmax_bwd)(const double* g, const double* y, Py_ssize_t n, double* out,
                            int log_out) noexcept nogil
        void (*col_lognorm)(const double* x, Py_ssize_t cs, Py_ssize_t n, double* m,
                            double* rest, double* lnorm, double* y, Py_ssize_t ycs) noexcept nogil
        void (*col_long)(const double* x, Py_ssize_t cs, Py_ssize_t n, const double* m,
                         const double* am, double* rest, double* lnorm, double* y,
                         Py_ssize_t ycs) noexcept nogil
        void (*cols_copy)(const double* x, Py_ssize_t cs, Py_ssize_t n, int lanes, double* out,
                          double* m, double* am) noexcept nogil
        void (*cols_uncopy)(const double* buf, Py_ssize_t n, int lanes, double* x,
                            Py_ssize_t cs) noexcept nogil
        void (*col_map)(const double* x, Py_ssize_t cs, Py_ssize_t n, const double* m,
                        const double* a, const double* k, const double* w, double* y,
                        Py_ssize_t ycs, int mode) noexcept nogil
        void (*tile_to_rows)(const double* x, Py_ssize_t cs, Py_ssize_t n, int lanes,
                             double* rows) noexcept nogil
        void (*rows_to_tile)(const double* rows, Py_ssize_t n, int lanes, double* x,
                             Py_ssize_t cs) noexcept nogil
        void (*sigmoid)(const double* x, Py_ssize_t n, double* y, int log_out) noexcept nogil
        double (*bce_probs)(const double* p, const double* y, Py_ssize_t n, const double* w, double wsc,
                            double* out, double* g, const double* gout, double gsc,
                            Py_ssize_t* bad) noexcept nogil
        double (*bce_logits)(const double* x, const double* y, Py_ssize_t n, const double* w,
                             double wsc, const double* pw, double pwsc, int has_pw, double* out,
                             double* g, const double* gout, double gsc) noexcept nogil
        void (*kl_logs)(const double* t, Py_ssize_t n, int log_target, double* out) noexcept nogil
        void (*softcap)(const double* x, Py_ssize_t n, double c, double* y, double* t) noexcept nogil
        void (*wq_sums)(const double* x, const double* t, const double* w, Py_ssize_t n, double m,
                        double eps, double* pd, double* pq, int exact_zero) noexcept nogil

ctypedef struct operand:
    void* p  # NULL: absent (an optional operand)
    Py_ssize_t s0, s1, s2  # element strides of (outer, C, inner)

ctypedef struct geometry:
    Py_ssize_t n  # classes
    Py_ssize_t inner
    Py_ssize_t nrows  # outer * inner
    int height  # rows per tile: CX_LANES (16) for short rows, CX_LONG_TILE (32) for long ones, 1 beyond GATHER_MAX

ctypedef struct row_norm:  # the row arithmetic's first step (row_max)
    Py_ssize_t am  # the first index of the maximum
    double rest  # rows longer than ONLINE_MIN: their rest, from the blockwise single pass

ctypedef struct tile:
    int nr  # rows in this tile (<= height)
    Py_ssize_t o[CX_LONG_TILE]
    Py_ssize_t i[CX_LONG_TILE]

cdef const cx_table_f* table_f() noexcept nogil
cdef const cx_table_d* table_d() noexcept nogil
cdef geometry make_geometry(Py_ssize_t outer, Py_ssize_t n, Py_ssize_t inner) noexcept nogil
cdef object scratch(const geometry* g, int operands, int typenum, bint use_threads,
                    Py_ssize_t* per, void** data, int rows=*)
cdef Py_ssize_t n_tiles(const geometry* g) noexcept nogil
cdef void tile_at(const geometry* g, Py_ssize_t t, tile* tl) noexcept nogil
cdef bint lanes_adjacent(operand a, const tile* tl) noexcept nogil
cdef const floating* cols_in(operand a, const geometry* g, const tile* tl, floating* scratch,
                             Py_ssize_t* cs) noexcept nogil
cdef floating* cols_out(operand a, const tile* tl, floating* scratch, Py_ssize_t* cs) noexcept nogil
cdef void cols_flush(operand a, const geometry* g, const tile* tl, const floating* buf) noexcept nogil
cdef void rows_in(operand a, const geometry* g, const tile* tl, floating* scratch,
                  const floating** rows) noexcept nogil
cdef void rows_out(operand a, const geometry* g, const tile* tl, floating* scratch,
                   floating** rows) noexcept nogil
cdef void rows_flush(operand a, const geometry* g, const tile* tl, const floating* scratch) noexcept nogil
cdef bint long_cols(operand a, const geometry* g, const tile* tl, bint reduce_only,
                    Py_ssize_t itemsize) noexcept nogil
cdef void long_cols_in(operand a, const geometry* g, const tile* tl, floating* scratch,
                       floating* m, floating* am) noexcept nogil
cdef void half_tile(const tile* tl, int h, tile* sub) noexcept nogil
cdef int group_of(operand a, const geometry* g) noexcept nogil
cdef bint long_group(operand a, const geometry* g, Py_ssize_t t0) noexcept nogil
cdef void long_group_in(operand a, const geometry* g, Py_ssize_t t0, floating* scratch, floating* m,
                        floating* am) noexcept nogil
cdef void group_flush(operand a, const geometry* g, Py_ssize_t t0,
                      const floating* buf) noexcept nogil
cdef Py_ssize_t row_argmax(const floating* x, Py_ssize_t n) noexcept nogil
cdef double row_rest(const floating* x, Py_ssize_t n, Py_ssize_t am, floating* y) noexcept nogil
cdef double row_lognorm(const floating* x, Py_ssize_t n, floating* m) noexcept nogil
cdef void row_max(const floating* x, Py_ssize_t n, row_norm* r) noexcept nogil
cdef row_norm* split_rows(const floating* xp, operand x, const geometry* g,
                          bint use_threads) noexcept nogil


cdef inline void row_max_of(const floating* x, Py_ssize_t n, const row_norm* pre, Py_ssize_t row,
                            row_norm* r) noexcept nogil:
    """``row_max`` of row ``row`` (at ``x``), or its value from ``split_rows`` (``pre``)."""
    if pre != NULL:
        r[0] = pre[row]
    else:
        row_max(x, n, r)
cdef double row_sum(const floating* x, Py_ssize_t n, const row_norm* r, floating* y) noexcept nogil


cdef inline operand array_operand(object a, int ndim, int typenum) except *:
    """The operand of an aligned ndarray of ``ndim`` dims and exact type ``typenum``: 3 dims are
    ``(outer, C, inner)``, 2 dims a per-row ``(outer, inner)`` array (s1 = 0), 1 dim a class vector
    (s1); None is an absent operand (p = NULL).  Plain C reads of the array header: no buffer
    acquisition, no fused-type dispatch per call (the Python layer has validated everything; this
    only guards the kernel against a wrong dtype or rank)."""
    cdef operand v
    cdef cnp.ndarray arr
    cdef Py_ssize_t isz
    v.p = NULL
    v.s0 = v.s1 = v.s2 = 0
    if a is None:
        return v
    arr = a
    if cnp.PyArray_NDIM(arr) != ndim or not cnp.PyArray_EquivTypenums(cnp.PyArray_TYPE(arr), typenum):
        raise TypeError(f"kernel operand: expected a {ndim}-d array of type number {typenum}, got "
                        f"{cnp.PyArray_NDIM(arr)}-d {arr.dtype}")
    isz = cnp.PyArray_ITEMSIZE(arr)
    v.p = cnp.PyArray_DATA(arr)
    if ndim == 3:
        v.s0 = cnp.PyArray_STRIDE(arr, 0) // isz
        v.s1 = cnp.PyArray_STRIDE(arr, 1) // isz
        v.s2 = cnp.PyArray_STRIDE(arr, 2) // isz
    elif ndim == 2:
        v.s0 = cnp.PyArray_STRIDE(arr, 0) // isz
        v.s2 = cnp.PyArray_STRIDE(arr, 1) // isz
    else:
        v.s1 = cnp.PyArray_STRIDE(arr, 0) // isz
    return v


cdef extern from "numpy/arrayobject.h":
    object PyArray_Scalar(void* data, cnp.dtype descr, object base)


cdef inline object float_scalar(double v, int typenum):
    """``v`` as a NumPy float32 (rounded once) or float64 scalar (quicker than ``np.float32(v)``)."""
    cdef float f = <float>v
    return PyArray_Scalar(<void*>&f if typenum == cnp.NPY_FLOAT32 else <void*>&v,
                          cnp.PyArray_DescrFromType(typenum), None)


cdef inline int float_type(object a) except -1:
    """NPY_FLOAT32 or NPY_FLOAT64: the dtype of a kernel call (TypeError for anything else)."""
    cdef cnp.ndarray arr = a
    cdef int t = cnp.PyArray_TYPE(arr)
    if t != cnp.NPY_FLOAT32 and t != cnp.NPY_FLOAT64:
        raise TypeError(f"kernel operand: expected float32 or float64, got {arr.dtype}")
    return t


cdef inline bint strided(operand a, operand b, operand c) noexcept nogil:
    """Whether any of the present operands has a class stride other than 1 (so that its rows
    are gathered into scratch: without one, no scratch is allocated)."""
    return ((a.p != NULL and a.s1 != 1) or (b.p != NULL and b.s1 != 1)
            or (c.p != NULL and c.s1 != 1))


cdef inline Py_ssize_t lane_offset(operand a, const tile* tl, int j) noexcept nogil:
    return tl.o[j] * a.s0 + tl.i[j] * a.s2


cdef inline void col_lognorm(const floating* x, Py_ssize_t cs, Py_ssize_t n, floating* m,
                             const floating* am, double* rest, double* lnorm, floating* y,
                             Py_ssize_t ycs) noexcept nogil:
    """rest and L = log1p(rest) of a column tile's CX_LANES rows (with y: y = exp(x - m)): the
    column arithmetic for n <= CX_SHORT (m is an output, am unused), the row arithmetic's
    values (``row_rest``) for longer rows given their arg-max ``am`` and max ``m``
    (``long_cols_in``)."""
    if floating is float:
        if n <= CX_SHORT:
            table_f().col_lognorm(x, cs, n, m, rest, lnorm, y, ycs)
        else:
            table_f().col_long(x, cs, n, m, am, rest, lnorm, y, ycs)
    else:
        if n <= CX_SHORT:
            table_d().col_lognorm(x, cs, n, m, rest, lnorm, y, ycs)
        else:
            table_d().col_long(x, cs, n, m, am, rest, lnorm, y, ycs)


cdef inline void col_map(const floating* x, Py_ssize_t cs, Py_ssize_t n, const floating* m,
                         const floating* a, const floating* k, const floating* w, floating* y,
                         Py_ssize_t ycs, int mode) noexcept nogil:
    if floating is float:
        table_f().col_map(x, cs, n, m, a, k, w, y, ycs, mode)
    else:
        table_d().col_map(x, cs, n, m, a, k, w, y, ycs, mode)


cdef inline double row_wdot(const floating* x, Py_ssize_t n, floating m,
                            const floating* w) noexcept nogil:
    if floating is float:
        return table_f().wdot(x, n, m, w)
    else:
        return table_d().wdot(x, n, m, w)


cdef inline void row_affine(floating* g, Py_ssize_t n, double a, double k,
                            const floating* w) noexcept nogil:
    """g = a g - k w over a unit-stride row (w NULL: 1); a and k rounded to the row's dtype."""
    if floating is float:
        table_f().affine(g, n, <float>a, <float>k, w)
    else:
        table_d().affine(g, n, a, k, w)


cdef inline void row_logsoftmax_out(const floating* x, Py_ssize_t n, floating m, floating lnorm,
                                    floating* y) noexcept nogil:
    if floating is float:
        table_f().logsoftmax_out(x, n, m, lnorm, y)
    else:
        table_d().logsoftmax_out(x, n, m, lnorm, y)


cdef inline void row_softmax_bwd(const floating* g, const floating* y, Py_ssize_t n, floating* out,
                                 bint log_out) noexcept nogil:
    if floating is float:
        table_f().softmax_bwd(g, y, n, out, log_out)
    else:
        table_d().softmax_bwd(g, y, n, out, log_out)
