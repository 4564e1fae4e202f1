# cython: language_level=3
"""The row engine: tiles of rows, their layouts, and the table of vectorised kernels.

A. The only module that compiles ``_simd.h`` (the kernels, AVX2+FMA and portable builds, chosen once
   at run time); ``_softmax``, ``_losses`` and ``_binary`` reach the tables through ``table_f`` /
   ``table_d`` (Cython's cross-module cdef functions).
B. One arithmetic per row length, for every layout.  Rows of C <= CX_SHORT (32) classes use the
   column arithmetic: CX_LANES (16) rows side by side, one per vector lane, each row's max and sum
   of exp taken in class order (``col_lognorm``, ``col_map``).  Longer rows use the row arithmetic
   (``row_lognorm``): the max, then the sum of exp(x - m) over the terms that are neither a
   maximum nor below FLT_MIN, in a fixed order of float partial sums over blocks accumulated in
   double (``_simd_api.h``), plus the number of maxima less one.  Its order is defined by class
   index only (full-row blocks from class 0, no split at the arg-max), so it is computed the same,
   bit for bit, one row at a time along a unit-stride row (``sumexp``) or 16 rows at a time down a
   column tile (``col_long``).  Which arithmetic runs depends on C only, and each row's values go
   through exactly the same operations wherever they sit in memory: results are bitwise identical
   for C- and F-ordered inputs, a class axis that is not last, sliced and negative-stride views
   and ``out=`` buffers of any layout.
C. Layout is only a matter of loading.  Column tiles: when the 16 rows are adjacent in memory (the
   inner axis of ``(N, C, H, W)``, the rows of an F-ordered ``(N, C)``) the kernels read them in
   place, 8 rows per vector load; otherwise ``cols_in`` gathers the tile into a class-major scratch
   block.  Long rows: unit-stride rows are read in place; a full tile of 32 adjacent rows with a
   class stride other than 1 is read in place as two column tiles (``long_cols``; the row
   arithmetic down the columns) by softmax, log_softmax, logsumexp and class-index cross-entropy
   without smoothing; anything else is gathered into per-thread scratch rows (``rows_in``; 32
   adjacent rows by 8x8 transposes, 128 bytes of each class at once).  Outputs mirror this
   (``cols_out``/``rows_out``, then ``*_flush``).
D. In place: a tile is read completely (or element by element before each write) before anything
   of it is written, so an output may be its input in the same layout.  Partially overlapping
   buffers are refused by the Python layer.
F. Rows of more than ONLINE_MIN classes (256 KiB of float32) are read from memory once for
   their statistics: blocks of ONLINE_BLOCK classes from class 0, each block's first arg-max m_b
   and rest s_b by the row arithmetic (the block's second read is from L1), combined in block
   order in double: a larger m_b rescales the total so far (the old maximum's own 1 included) by
   exp(m - m_b); an equal or smaller one adds (1 + s_b) exp(m_b - m).  The row's first arg-max
   and the "rest without the arg-max term" of note E follow, so a dominant logit keeps its tiny
   loss.  The order depends on class indices only: bits independent of the layout, as B.
E. Numerics of the log-normaliser (both arithmetics): shift by the row max ``m`` in the input dtype
   (pytorch#11752), ``L = log1p(rest)`` where ``rest`` is the sum of exp(x - m) without the maxima
   plus their number less one (exactly 0 for a single finite max), so a dominant logit keeps its
   tiny loss (scipy#19521); an infinite max gives nan as ``m - m`` (torch's inf/nan semantics).
"""

from libc.math cimport exp, log1p, INFINITY
from libc.stdlib cimport malloc, free
from cython.parallel cimport prange
from cython cimport floating
cimport numpy as cnp
import numpy as np

cnp.import_array()


cdef extern from "_simd.h" nogil:
    const cx_table_f* cx_table_f32()
    const cx_table_d* cx_table_f64()
    void cx_exp_f32(const float* x, Py_ssize_t n, float* y)


cdef extern from "_omp_shim.h":
    int cxent_max_threads() noexcept nogil


cdef const cx_table_f* table_f() noexcept nogil:
    return cx_table_f32()


cdef const cx_table_d* table_d() noexcept nogil:
    return cx_table_f64()


cx_table_f32()  # choose the path once, at import


cdef extern from "_pool.h":
    object cx_pool_capsule()
    void cx_pool_configure(size_t max_idle, double max_idle_s, int hugepage) nogil
    void cx_pool_stats(size_t* idle_bytes, int* idle_blocks, unsigned long long* hits,
                       unsigned long long* misses) nogil


cdef extern from "numpy/arrayobject.h":
    object PyDataMem_SetHandler(object handler)


_POOL = cx_pool_capsule()


def cached_empty(like, shape, dtype):
    """``np.empty_like(like, dtype=dtype)`` (or ``np.empty(shape, dtype)`` when ``like`` is None)
    whose memory comes from the cache of large outputs (``_pool.h``): cxent's handler is the
    current one only during this allocation."""
    old = PyDataMem_SetHandler(_POOL)
    try:
        return np.empty(shape, dtype) if like is None else np.empty_like(like, dtype=dtype)
    finally:
        PyDataMem_SetHandler(old)


def configure_cache(size_t max_idle, double max_idle_s, bint hugepage):
    """At most ``max_idle`` bytes of idle blocks (0: none, and every cached block is unmapped),
    each unmapped after ``max_idle_s`` seconds idle; advise new blocks MADV_HUGEPAGE or not."""
    cx_pool_configure(max_idle, max_idle_s, hugepage)


def cache_stats():
    """(idle bytes, idle blocks, allocations served from the cache, new mappings)."""
    cdef size_t b
    cdef int n
    cdef unsigned long long hits, misses
    cx_pool_stats(&b, &n, &hits, &misses)
    return b, n, hits, misses


def simd_path():
    """The kernel table in use: "avx2_fma" or "portable" (the same for float32 and float64)."""
    return cx_table_f32().name.decode()


def exp_values(x):
    """``exp(x)`` of a contiguous 1-d float32 array of values <= 0 as the active kernel table
    computes the exps it stores (softmax, gradients, sigmoid): for the accuracy tests."""
    cdef cnp.ndarray a = x
    if (cnp.PyArray_NDIM(a) != 1 or not cnp.PyArray_ISCARRAY_RO(a)
            or cnp.PyArray_TYPE(a) != cnp.NPY_FLOAT32):
        raise ValueError("exp_values: x must be a contiguous 1-d float32 array")
    cdef Py_ssize_t n = cnp.PyArray_DIM(a, 0)
    cdef cnp.ndarray y = cnp.PyArray_EMPTY(1, [n], cnp.NPY_FLOAT32, 0)
    with nogil:
        cx_exp_f32(<const float*>cnp.PyArray_DATA(a), n, <float*>cnp.PyArray_DATA(y))
    return y


def softcap_values(x, double c):
    """``(c * tanh(x / c), tanh(x / c))`` of a contiguous 1-d float32/float64 array, by the kernel
    table's ``softcap``: what the cross-entropy kernels compute of each row with ``softcap=c``
    (for the accuracy tests)."""
    cdef cnp.ndarray a = x
    if cnp.PyArray_NDIM(a) != 1 or not cnp.PyArray_ISCARRAY_RO(a):
        raise ValueError("softcap_values: x must be a contiguous 1-d array")
    cdef int tn = cnp.PyArray_TYPE(a)
    if tn != cnp.NPY_FLOAT32 and tn != cnp.NPY_FLOAT64:
        raise TypeError("softcap_values: x must be float32 or float64")
    cdef Py_ssize_t n = cnp.PyArray_DIM(a, 0)
    cdef cnp.ndarray y = cnp.PyArray_EMPTY(1, [n], tn, 0), t = cnp.PyArray_EMPTY(1, [n], tn, 0)
    with nogil:
        if tn == cnp.NPY_FLOAT32:
            cx_table_f32().softcap(<const float*>cnp.PyArray_DATA(a), n, <float>c,
                                   <float*>cnp.PyArray_DATA(y), <float*>cnp.PyArray_DATA(t))
        else:
            cx_table_f64().softcap(<const double*>cnp.PyArray_DATA(a), n, c,
                                   <double*>cnp.PyArray_DATA(y), <double*>cnp.PyArray_DATA(t))
    return y, t


cdef enum:
    COPY_L1 = 32768  # bytes: a reduction's copied tile of long rows stays in L1
    GATHER_MAX = 65536  # rows longer than this are gathered one at a time (scratch: 32 rows of C)
    GROUP_MAX = 8192  # classes: a group's copy (CX_GROUP_LANES rows) is at most 4 MiB of float32
    ONLINE_MIN = 65536  # classes: longer rows take the blockwise single pass (row_max, note F)
    ONLINE_BLOCK = 8192  # elements per block of that pass (32 KiB of float32)


cdef geometry make_geometry(Py_ssize_t outer, Py_ssize_t n, Py_ssize_t inner) noexcept nogil:
    cdef geometry g
    g.n = n
    g.inner = inner
    g.nrows = outer * inner
    g.height = CX_LANES if n <= CX_SHORT else (CX_LONG_TILE if n <= GATHER_MAX else 1)
    return g


cdef object scratch(const geometry* g, int operands, int typenum, bint use_threads,
                    Py_ssize_t* per, void** data, int rows=0):
    """Per-thread scratch for gathered rows: ``operands`` blocks of a tile's rows and ``rows``
    more rows for each thread (``per[0]`` elements; thread k's at ``data[0] + k * per[0]``).
    None and NULL when that is nothing (short rows use the stack).  The caller keeps the
    returned array alive."""
    per[0] = (operands * g.height + rows) * g.n
    data[0] = NULL
    if per[0] == 0:
        return None
    cdef cnp.ndarray buf = cnp.PyArray_EMPTY(
        1, [per[0] * (cxent_max_threads() if use_threads else 1)], typenum, 0)
    data[0] = cnp.PyArray_DATA(buf)
    return buf


cdef Py_ssize_t n_tiles(const geometry* g) noexcept nogil:
    return (g.nrows + g.height - 1) // g.height


cdef void tile_at(const geometry* g, Py_ssize_t t, tile* tl) noexcept nogil:
    cdef Py_ssize_t r0 = t * g.height, o = r0 // g.inner, i = r0 - o * g.inner
    cdef int j
    tl.nr = <int>min(<Py_ssize_t>g.height, g.nrows - r0)
    for j in range(tl.nr):
        tl.o[j] = o
        tl.i[j] = i
        i += 1
        if i == g.inner:
            i = 0
            o += 1


cdef bint lanes_adjacent(operand a, const tile* tl) noexcept nogil:
    """The tile's rows of ``a`` are consecutive elements, a full tile of them (vector loads per
    class)."""
    cdef Py_ssize_t base
    cdef int j
    if tl.nr != CX_LANES and tl.nr != CX_LONG_TILE:
        return False
    base = lane_offset(a, tl, 0)
    for j in range(1, tl.nr):
        if lane_offset(a, tl, j) != base + j:
            return False
    return True


cdef const floating* cols_in(operand a, const geometry* g, const tile* tl, floating* scratch,
                             Py_ssize_t* cs) noexcept nogil:
    """The tile of ``a`` class-major (element (j, c) at ``[c * cs + j]``): in place when its rows
    are adjacent, else gathered into ``scratch`` (the spare lanes of a short tile repeat its last
    row)."""
    cdef const floating* p = <const floating*>a.p
    cdef Py_ssize_t c
    cdef Py_ssize_t off[CX_LANES]
    cdef int j
    if lanes_adjacent(a, tl):
        cs[0] = a.s1
        return p + lane_offset(a, tl, 0)
    for j in range(CX_LANES):
        off[j] = lane_offset(a, tl, j if j < tl.nr else tl.nr - 1)
    for c in range(g.n):
        for j in range(CX_LANES):
            scratch[c * CX_LANES + j] = p[off[j] + c * a.s1]
    cs[0] = CX_LANES
    return scratch


cdef void long_cols_in(operand a, const geometry* g, const tile* tl, floating* scratch,
                       floating* m, floating* am) noexcept nogil:
    """A ``long_cols`` tile copied into ``scratch`` as two column tiles (half h at ``scratch + h *
    CX_LANES * C``, class stride CX_LANES), in one pass that also takes each row's arg-max
    ``am`` (as a float) and max ``m`` (CX_LONG_TILE of each): the passes of the row arithmetic
    then read a compact block instead of lines a power-of-two stride apart, which share cache
    sets."""
    if floating is float:
        table_f().cols_copy(<const float*>a.p + lane_offset(a, tl, 0), a.s1, g.n, CX_LONG_TILE,
                            scratch, m, am)
    else:
        table_d().cols_copy(<const double*>a.p + lane_offset(a, tl, 0), a.s1, g.n, CX_LONG_TILE,
                            scratch, m, am)


cdef int group_of(operand a, const geometry* g) noexcept nogil:
    """Tiles per unit of work: CX_GROUP for long rows with a class stride other than 1 (up to
    GROUP_MAX classes: the copy is CX_GROUP_LANES rows), else 1."""
    return CX_GROUP if (CX_SHORT < g.n <= GROUP_MAX and a.s1 != 1) else 1


cdef bint _run_adjacent(operand a, const geometry* g, Py_ssize_t r0, Py_ssize_t nr) noexcept nogil:
    # rows r0 .. r0 + nr - 1 of a are consecutive elements
    cdef Py_ssize_t o = r0 // g.inner, i = r0 - o * g.inner, base = o * a.s0 + i * a.s2, j
    if r0 + nr > g.nrows:
        return False
    for j in range(nr):
        if o * a.s0 + i * a.s2 != base + j:
            return False
        i += 1
        if i == g.inner:
            i = 0
            o += 1
    return True


cdef bint long_group(operand a, const geometry* g, Py_ssize_t t0) noexcept nogil:
    """Whether the CX_GROUP tiles from tile ``t0`` are copied at once (``long_group_in``): full
    tiles of long rows whose CX_GROUP_LANES rows are adjacent in ``a``.  Each class is then read
    as one run of CX_GROUP_LANES elements (512 bytes of float32) instead of four runs of 128
    bytes, one tile apart: the hardware prefetchers follow runs of that length, and lines a
    power-of-two stride apart are not kept waiting in the few cache sets they share."""
    return g.n > CX_SHORT and a.s1 != 1 and _run_adjacent(a, g, t0 * CX_LONG_TILE, CX_GROUP_LANES)


cdef void long_group_in(operand a, const geometry* g, Py_ssize_t t0, floating* scratch, floating* m,
                        floating* am) noexcept nogil:
    """``long_cols_in`` of the CX_GROUP tiles from ``t0`` in one pass: tile k's two column tiles
    at ``scratch + k * CX_LONG_TILE * C``, its rows' max and arg-max at ``m, am + k *
    CX_LONG_TILE``."""
    cdef Py_ssize_t r0 = t0 * CX_LONG_TILE, o = r0 // g.inner
    cdef Py_ssize_t off = o * a.s0 + (r0 - o * g.inner) * a.s2
    if floating is float:
        table_f().cols_copy(<const float*>a.p + off, a.s1, g.n, CX_GROUP_LANES, scratch, m, am)
    else:
        table_d().cols_copy(<const double*>a.p + off, a.s1, g.n, CX_GROUP_LANES, scratch, m, am)


cdef void group_flush(operand a, const geometry* g, Py_ssize_t t0,
                      const floating* buf) noexcept nogil:
    """Write a group's output, computed in the layout of ``long_group_in``'s copy, into ``a``: one
    run of CX_GROUP_LANES elements per class where the rows are adjacent, else tile by tile."""
    cdef floating* p = <floating*>a.p
    cdef Py_ssize_t c, n = g.n, r0 = t0 * CX_LONG_TILE, o = r0 // g.inner
    cdef Py_ssize_t off = o * a.s0 + (r0 - o * g.inner) * a.s2
    cdef tile tl, sub
    cdef int h, j, k
    if _run_adjacent(a, g, r0, CX_GROUP_LANES):
        if floating is float:
            table_f().cols_uncopy(buf, n, CX_GROUP_LANES, p + off, a.s1)
        else:
            table_d().cols_uncopy(buf, n, CX_GROUP_LANES, p + off, a.s1)
        return
    for k in range(CX_GROUP):
        tile_at(g, t0 + k, &tl)
        for h in range(2):
            half_tile(&tl, h, &sub)
            cols_flush(a, g, &sub, buf + (2 * k + h) * CX_LANES * n)


cdef floating* cols_out(operand a, const tile* tl, floating* scratch, Py_ssize_t* cs) noexcept nogil:
    """Where a class-major output tile goes: ``a`` itself when its rows are adjacent, else
    ``scratch`` (then ``cols_flush`` scatters it; an absent ``a``: the caller's own tile)."""
    if a.p != NULL and lanes_adjacent(a, tl):
        cs[0] = a.s1
        return <floating*>a.p + lane_offset(a, tl, 0)
    cs[0] = CX_LANES
    return scratch


cdef void cols_flush(operand a, const geometry* g, const tile* tl, const floating* buf) noexcept nogil:
    cdef floating* p = <floating*>a.p
    cdef Py_ssize_t c, off
    cdef int j
    if p == NULL or buf == p + lane_offset(a, tl, 0):  # an absent operand (the caller flushes
        return  # the tile itself), or cols_out gave the tile in place: nothing to scatter
    for j in range(tl.nr):
        off = lane_offset(a, tl, j)
        for c in range(g.n):
            p[off + c * a.s1] = buf[c * CX_LANES + j]


cdef void rows_in(operand a, const geometry* g, const tile* tl, floating* scratch,
                  const floating** rows) noexcept nogil:
    """Unit-stride rows of the tile: in place when the class stride is 1, else gathered into
    ``scratch`` (row j at ``scratch + j * C``)."""
    cdef const floating* p = <const floating*>a.p
    cdef Py_ssize_t c, n = g.n
    cdef Py_ssize_t off[CX_LONG_TILE]
    cdef int j
    for j in range(tl.nr):
        off[j] = lane_offset(a, tl, j)
    if a.s1 == 1:
        for j in range(tl.nr):
            rows[j] = p + off[j]
        return
    if lanes_adjacent(a, tl):  # one vector per class, transposed 8 classes at a time
        if floating is float:
            table_f().tile_to_rows(p + off[0], a.s1, n, tl.nr, scratch)
        else:
            table_d().tile_to_rows(p + off[0], a.s1, n, tl.nr, scratch)
    else:
        for c in range(n):  # class-major walk: nearby rows share cache lines
            for j in range(tl.nr):
                scratch[j * n + c] = p[off[j] + c * a.s1]
    for j in range(tl.nr):
        rows[j] = scratch + j * n


cdef void rows_out(operand a, const geometry* g, const tile* tl, floating* scratch,
                   floating** rows) noexcept nogil:
    cdef int j
    for j in range(tl.nr):
        rows[j] = <floating*>a.p + lane_offset(a, tl, j) if a.s1 == 1 else scratch + j * g.n


cdef void rows_flush(operand a, const geometry* g, const tile* tl, const floating* scratch) noexcept nogil:
    cdef floating* p = <floating*>a.p
    cdef Py_ssize_t c, n = g.n
    cdef Py_ssize_t off[CX_LONG_TILE]
    cdef int j
    if a.s1 == 1:
        return
    for j in range(tl.nr):
        off[j] = lane_offset(a, tl, j)
    if lanes_adjacent(a, tl):
        if floating is float:
            table_f().rows_to_tile(scratch, n, tl.nr, p + off[0], a.s1)
        else:
            table_d().rows_to_tile(scratch, n, tl.nr, p + off[0], a.s1)
        return
    for c in range(n):
        for j in range(tl.nr):
            p[off[j] + c * a.s1] = scratch[j * n + c]


cdef bint long_cols(operand a, const geometry* g, const tile* tl, bint reduce_only,
                    Py_ssize_t itemsize) noexcept nogil:
    """Whether a tile of long rows is copied into two column tiles and computed down them (note
    C): a class stride other than 1 and the tile's rows adjacent, a full tile of them.  A call
    that writes no per-class output (a reduction) does so only while the copy fits in L1
    (COPY_L1 bytes); a larger one gathers rows instead (``rows_in``), which is quicker there
    (the bits are the same either way)."""
    if g.n <= CX_SHORT or a.s1 == 1 or tl.nr != CX_LONG_TILE or not lanes_adjacent(a, tl):
        return False
    return not reduce_only or g.n * CX_LONG_TILE * itemsize <= COPY_L1


cdef void half_tile(const tile* tl, int h, tile* sub) noexcept nogil:
    """Rows ``[h * CX_LANES, (h + 1) * CX_LANES)`` of a full tile of long rows, as a tile."""
    cdef int j
    sub.nr = CX_LANES
    for j in range(CX_LANES):
        sub.o[j] = tl.o[h * CX_LANES + j]
        sub.i[j] = tl.i[h * CX_LANES + j]


cdef Py_ssize_t row_argmax(const floating* x, Py_ssize_t n) noexcept nogil:
    """The first index of the maximum of a unit-stride row (nan never wins; all nan: 0)."""
    if floating is float:
        return table_f().argmax(x, n)
    else:
        return table_d().argmax(x, n)


cdef double row_rest(const floating* x, Py_ssize_t n, Py_ssize_t am, floating* y) noexcept nogil:
    """Row arithmetic: ``rest`` of a unit-stride row with its first maximum at ``am`` (note E:
    ``L = log1p(rest)``; m = x[am]); with ``y``, also ``y = exp(x - m)``, the same rest bit for
    bit (y may be x: each element is read before it is overwritten)."""
    cdef floating m = x[am]
    cdef floating d = m - m  # 0, or nan when the maximum is infinite (note E)
    cdef double rest
    if floating is float:
        rest = table_f().sumexp(x, n, m, am, y)
    else:
        rest = table_d().sumexp(x, n, m, am, y)
    return rest + <double>d


cdef double row_lognorm(const floating* x, Py_ssize_t n, floating* m) noexcept nogil:
    """Row arithmetic: the max ``m`` of a unit-stride row and ``L = log(sum exp(x - m))``."""
    cdef row_norm r
    row_max(x, n, &r)
    m[0] = x[r.am]
    return log1p(row_sum(x, n, &r, NULL))


cdef inline double _block_rest(const floating* x, Py_ssize_t nb, Py_ssize_t* a,
                               floating* mb) noexcept nogil:
    # one block of the single pass (note F): its first arg-max, max and rest (0 for -inf)
    a[0] = row_argmax(x, nb)
    mb[0] = x[a[0]]
    if mb[0] == -INFINITY:
        return 0.0
    if floating is float:
        return table_f().sumexp(x, nb, mb[0], a[0], NULL)
    else:
        return table_d().sumexp(x, nb, mb[0], a[0], NULL)


cdef inline void _block_add(row_norm* r, floating* mx, double* tot, Py_ssize_t a, floating mb,
                            double sb) noexcept nogil:
    # the single pass's combination of the next block (in block order)
    if r.am < 0:
        r.am, mx[0], tot[0] = a, mb, sb
    elif mb == -INFINITY:  # a block of -inf adds nothing (an all -inf row: nan, note E)
        pass
    elif mb > mx[0]:  # a new maximum: the terms so far (the old maximum's 1 too) rescaled
        tot[0] = (tot[0] + 1.0) * exp(<double>mx[0] - <double>mb) + sb
        r.am, mx[0] = a, mb
    else:  # an equal maximum counts 1, as in the two-pass sum; nan propagates
        tot[0] = tot[0] + (1.0 + sb) * exp(<double>mb - <double>mx[0])


cdef void row_max(const floating* x, Py_ssize_t n, row_norm* r) noexcept nogil:
    """The row arithmetic's first step on a unit-stride row: its first arg-max ``r.am``.  A row
    of more than ONLINE_MIN classes (256 KiB of float32) is read once, in blocks of
    ONLINE_BLOCK (note F): each block's arg-max and rest (from L1), combined in block order into
    the row's arg-max and ``r.rest``."""
    cdef Py_ssize_t b0 = 0, nb, a
    cdef floating mb, mx = 0
    cdef double sb, tot = 0.0
    if n <= ONLINE_MIN:
        r.am = row_argmax(x, n)
        return
    r.am = -1
    while b0 < n:
        nb = min(<Py_ssize_t>ONLINE_BLOCK, n - b0)
        sb = _block_rest(x + b0, nb, &a, &mb)
        _block_add(r, &mx, &tot, b0 + a, mb, sb)
        b0 += nb
    r.rest = tot


cdef row_norm* split_rows(const floating* xp, operand x, const geometry* g,
                          bint use_threads) noexcept nogil:
    """``row_max`` of every row, each row's blocks spread over the threads, when the rows are
    fewer than the threads and long (ONLINE_MIN) and unit-stride in ``x``: the tiles alone would
    leave threads idle.  The blocks are combined in block order, so each row's values are
    ``row_max``'s bit for bit (``xp``: ``x``'s data).  NULL otherwise (or without memory); the
    caller frees it."""
    cdef Py_ssize_t nblk = (g.n + ONLINE_BLOCK - 1) // ONLINE_BLOCK, row, k, o, i
    cdef row_norm* out
    cdef Py_ssize_t* ab
    cdef floating* mb
    cdef double* sb
    cdef floating mx
    cdef double tot
    cdef const floating* xr
    if (not use_threads or g.n <= ONLINE_MIN or x.s1 != 1 or g.nrows >= cxent_max_threads()):
        return NULL
    out = <row_norm*>malloc(g.nrows * sizeof(row_norm))
    ab = <Py_ssize_t*>malloc(nblk * sizeof(Py_ssize_t))
    mb = <floating*>malloc(nblk * sizeof(floating))
    sb = <double*>malloc(nblk * sizeof(double))
    if out == NULL or ab == NULL or mb == NULL or sb == NULL:
        free(out)
        out = NULL
    else:
        for row in range(g.nrows):
            o = row // g.inner
            i = row - o * g.inner
            xr = xp + o * x.s0 + i * x.s2
            for k in prange(nblk, schedule="static"):
                sb[k] = _block_rest(xr + k * ONLINE_BLOCK, min(<Py_ssize_t>ONLINE_BLOCK,
                                    g.n - k * ONLINE_BLOCK), &ab[k], &mb[k])
            out[row].am = -1
            mx = 0
            tot = 0.0
            for k in range(nblk):
                _block_add(&out[row], &mx, &tot, k * ONLINE_BLOCK + ab[k], mb[k], sb[k])
            out[row].rest = tot
    free(ab)
    free(mb)
    free(sb)
    return out


cdef double row_sum(const floating* x, Py_ssize_t n, const row_norm* r, floating* y) noexcept nogil:
    """The row arithmetic's second step: ``rest`` (``row_rest`` with m = x[r.am]); with ``y``,
    also ``y = exp(x - m)``.  Rows longer than ONLINE_MIN take the single pass's rest (the store
    pass, if any, recomputes nothing else)."""
    cdef floating d
    if n <= ONLINE_MIN:
        return row_rest(x, n, r.am, y)
    if y != NULL:
        row_rest(x, n, r.am, y)  # the exps stored; their sum is the two-pass one, not used
    d = x[r.am] - x[r.am]  # 0, or nan when the maximum is infinite (note E)
    return r.rest + <double>d
