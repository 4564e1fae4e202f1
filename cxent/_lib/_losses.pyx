"""Kernels of nll_loss and cross_entropy (class-index and probability targets), with gradients.

A. Layout: logits/log-probabilities and the gradient as ``(N, C, inner)`` operands with any strides
   (class axis in the middle, ``inner`` = product of d1..dk); targets and per-row outputs as
   ``(N, inner)``.  Rows go through the row engine in tiles (``_rows.pyx`` notes B-D): the same bits
   for every layout, a gradient buffer of any layout, or the input itself (in place).
B. Per-row results only: each kernel writes the loss of every (n, i) position in double, plus (index
   targets) the weight w[y] that position adds to the mean's denominator.  The batch reduction happens
   once, in Python, in a fixed order: results are bitwise identical for any thread count.  The loss
   and the gradient come from the same row program, so ``*_and_grad`` returns the plain loss bit for
   bit.
C. Targets are range-checked here, before any read at ``x[y]``: a bad target is counted, its row is
   skipped (loss nan, gradient row 0), and the Python layer raises IndexError.  An ignored target is
   tested first, so an ignore_index outside [0, C) is fine (torch's order).  ``target_weights`` is
   the same check alone, run before a gradient kernel so that nothing is written for a bad target
   (the mean's denominator must be known before the gradient is written, too).
D. Cross-entropy never materialises log-probabilities: per row the log-normaliser L (``_rows.pyx``
   note E), then ``-lp[y] = L - (x[y] - m)``; label smoothing needs only ``sum_c w_c (x_c - m)``.
   Torch's smoothing weighting (pytorch#104776):
   ``row = (1-eps) w[y] (-lp[y]) + eps/C sum_c w_c (-lp[c])``, divided by sum w[y] for the mean.
   z-loss adds ``z w[y] lse^2``.  The gradient ``scale * [(1-eps) w[y] (p - onehot) + eps/C (W p - w)
   + 2 z w[y] lse p]`` (``W = sum_c w_c``) is ``a exp(x - m) - k w`` per element (one exp each), its
   target entry recomputed in double with expm1 (p_y - 1 without cancellation).
E. Probability targets (row arithmetic for every C): ``row = sum_c w_c q_c lp_c`` (+ ``z lse^2``,
   unweighted) with ``q = t (1-eps) + eps/C``, sums in class order in double; the sign and the mean
   over N*inner are applied in Python (torch's N=0 sum is -0.0).  Gradient: ``scale * [p sum_k w_k
   q_k - w q + 2 z lse p]``.  0 * -inf = nan as torch.
"""

from cython.parallel cimport prange, threadid
from cython cimport floating
import numpy as np
from libc.stdint cimport int64_t, uint64_t
from libc.math cimport INFINITY, NAN, copysign, exp, expm1, fabs, log1p
from libc.stdlib cimport malloc, free
cimport numpy as cnp

from cxent._lib._rows cimport (scratch, strided, table_f, table_d, CX_LANES, CX_LONG_TILE, CX_SHORT, CX_MAP_EXP, CX_MAP_AFFINE, operand,
                               array_operand, float_scalar, float_type, geometry, tile,
                               make_geometry, n_tiles, tile_at, lane_offset, cols_in, cols_out,
                               cols_flush, rows_in, rows_out, rows_flush, row_argmax, row_rest, row_max,
                               row_sum, row_norm, row_max_of, split_rows,
                               long_cols, long_cols_in, half_tile, group_of, long_group, long_group_in,
                               group_flush, CX_GROUP, CX_GROUP_LANES,
                               col_lognorm, col_map, row_wdot, row_affine)
from cxent import _config

cnp.import_array()


cdef enum:
    NLL_UNIT = 16  # nll tiles per call of _nll_tiles (and per parallel unit)


ctypedef struct index_opts:
    bint has_ignore
    int64_t ignore
    bint logits  # False: nll_loss (x holds log-probabilities)
    double eps
    double zloss
    double wtot  # sum of the class weights
    double scale
    const row_norm* pre  # split_rows' statistics of every row, or NULL
    double cap  # logit soft-capping: the loss of cap tanh(x / cap); 0: none
    Py_ssize_t capoff  # with cap: where in a thread's scratch its two rows (capped x, tanh) are


cdef inline operand _class_vector(object w, int tn) except *:
    """The class weights (None: absent, p NULL: every weight 1)."""
    cdef operand v = array_operand(w, 1, tn)
    if v.p != NULL and v.s1 != 1:
        raise ValueError("kernel operand: the class weights must be contiguous")
    return v


cdef inline double _wc(const floating* w, Py_ssize_t c) noexcept nogil:
    """The weight of class c (w NULL: no weights, 1)."""
    return w[c] if w != NULL else 1.0


def target_weights(target, weight, Py_ssize_t n_classes, bint has_ignore, int64_t ignore_index,
                   bint use_threads):
    """(count of targets out of range, sum of w[y] over the rows not ignored): the check alone
    (note C), summed over the same tiles and in the same order as ``class_index_rows``.
    ``target``: int64 ``(N, inner)``; ``weight``: contiguous ``(C,)`` float32/float64, or None."""
    cdef int tn = cnp.NPY_FLOAT64 if weight is None else float_type(weight)
    cdef operand to = array_operand(target, 2, cnp.NPY_INT64), wo = _class_vector(weight, tn)
    cdef cnp.ndarray t = target
    cdef geometry g = make_geometry(cnp.PyArray_DIM(t, 0), n_classes, cnp.PyArray_DIM(t, 1))
    cdef Py_ssize_t nt = n_tiles(&g), nbad
    cdef cnp.ndarray sums = cnp.PyArray_EMPTY(1, [max(nt, 1)], cnp.NPY_FLOAT64, 0)
    cdef double* sp = <double*>cnp.PyArray_DATA(sums)
    if tn == cnp.NPY_FLOAT32:
        nbad = _weights_run(to, <const float*>wo.p, has_ignore, ignore_index, &g, sp, use_threads)
    else:
        nbad = _weights_run(to, <const double*>wo.p, has_ignore, ignore_index, &g, sp, use_threads)
    return nbad, _pairwise(sp, nt, 1)


cdef Py_ssize_t _weights_run(operand to, const floating* w, bint has_ignore, int64_t ignore,
                             const geometry* g, double* sums, bint use_threads) noexcept nogil:
    cdef Py_ssize_t t, nbad = 0
    if use_threads:
        for t in prange(n_tiles(g), schedule="static"):
            nbad += _tile_weights(to, w, has_ignore, ignore, g, t, &sums[t])
    else:  # serial: no OpenMP region (it costs about a microsecond)
        for t in range(n_tiles(g)):
            nbad += _tile_weights(to, w, has_ignore, ignore, g, t, &sums[t])
    return nbad


cdef Py_ssize_t _tile_weights(operand tgt, const floating* w, bint has_ignore, int64_t ignore,
                              const geometry* g, Py_ssize_t t, double* wsum) noexcept nogil:
    cdef tile tl
    cdef int64_t y
    cdef Py_ssize_t nbad = 0
    cdef double s = 0.0
    cdef int j
    tile_at(g, t, &tl)
    for j in range(tl.nr):
        y = (<const int64_t*>tgt.p)[lane_offset(tgt, &tl, j)]
        if has_ignore and y == ignore:
            s += 0.0
        elif y < 0 or y >= g.n:
            nbad += 1
        else:
            s += _wc(w, y)
    wsum[0] = s
    return nbad


def class_index_rows(x, target, weight, bint has_ignore, int64_t ignore_index, bint logits,
                     double eps, double zloss, loss_out, grad_out, double scale, row_scale,
                     bint use_threads, double cap=0.0):
    """Loss of nll (``logits=False``: x holds log-probabilities) or cross-entropy, per row.

    ``x`` (and ``grad_out``): ``(N, C, inner)`` float32/float64, any strides; ``target``: int64
    ``(N, inner)``; ``weight``: contiguous ``(C,)`` or None (every weight 1: no array is made for
    it); ``loss_out``/``row_scale``: float64
    ``(N, inner)``.  Returns ``(bad, total, wtotal)``: the number of rows whose target is out of
    range, the sum of the row losses and the sum of w[y] over the rows not ignored (the mean's
    denominator), each summed per tile of rows, then pairwise over the tiles: a fixed order (note
    B).  Unless None, writes the row losses to ``loss_out[n, i]`` (0 for an ignored row, nan for a
    bad target) and the gradient times ``scale`` (times ``row_scale[n, i]`` unless None) to
    ``grad_out``.  ``cap`` > 0: the loss of ``cap * tanh(x / cap)`` (Gemma 2's soft-capping: each
    row capped into scratch, then the row program), the gradient times ``1 - tanh(x / cap)**2``.
    """
    cdef int tn = float_type(x)
    cdef operand xo = array_operand(x, 3, tn), to = array_operand(target, 2, cnp.NPY_INT64)
    cdef operand wo = _class_vector(weight, tn), lo = array_operand(loss_out, 2, cnp.NPY_FLOAT64)
    cdef operand go = array_operand(grad_out, 3, tn), ro = array_operand(row_scale, 2, cnp.NPY_FLOAT64)
    cdef index_opts op
    op.has_ignore = has_ignore
    op.ignore = ignore_index
    op.logits = logits
    op.eps = eps
    op.zloss = zloss
    op.scale = scale
    op.pre = NULL
    op.cap = cap
    cdef geometry g = make_geometry(cnp.PyArray_DIM(<cnp.ndarray>x, 0), cnp.PyArray_DIM(<cnp.ndarray>x, 1),
                                    cnp.PyArray_DIM(<cnp.ndarray>x, 2))
    if tn == cnp.NPY_FLOAT32:
        op.wtot = _wsum(<const float*>wo.p, g.n)
        return _index_run(xo, to, <const float*>wo.p, &op, lo, go, ro, &g, use_threads)
    op.wtot = _wsum(<const double*>wo.p, g.n)
    return _index_run(xo, to, <const double*>wo.p, &op, lo, go, ro, &g, use_threads)


cdef double _wsum(const floating* w, Py_ssize_t n) noexcept nogil:
    cdef double s = 0.0
    cdef Py_ssize_t c
    if w == NULL:
        return <double>n
    for c in range(n):
        s += w[c]
    return s


cdef tuple _index_run(operand x, operand tgt, const floating* w, const index_opts* op,
                      operand loss, operand grad, operand rsc, const geometry* g,
                      bint use_threads):
    cdef Py_ssize_t per, nt = n_tiles(g), u, nbad = 0
    cdef bint capped = op.cap != 0.0  # every row through the row program (_xent_rows)
    cdef Py_ssize_t k = (group_of(x, g) if op.logits and op.eps == 0.0 and not capped else
                         1 if op.logits else NLL_UNIT)
    cdef Py_ssize_t nu = (nt + k - 1) // k
    cdef void* scp
    cdef int blocks = ((CX_GROUP if k > 1 else 2)
                       if g.n > CX_SHORT and op.logits and strided(x, grad, grad) else 0)
    if capped:
        blocks = 1 if strided(x, grad, grad) else 0
    buf = scratch(g, blocks, cnp.NPY_FLOAT32 if floating is float else cnp.NPY_FLOAT64, use_threads,
                  &per, &scp, 2 if capped else 0)
    cdef floating* sc = <floating*>scp
    cdef cnp.ndarray sums_a = None
    cdef double small_sums[256]
    cdef double* sums = small_sums
    if 2 * nt > 256:
        sums_a = cnp.PyArray_EMPTY(1, [2 * nt], cnp.NPY_FLOAT64, 0)
        sums = <double*>cnp.PyArray_DATA(sums_a)
    cdef double total, wtotal
    cdef row_norm* pre = NULL
    cdef index_opts opp = op[0]
    opp.capoff = per - 2 * g.n
    with nogil:
        # fewer long rows than threads: their statistics in parallel (pre), then the tiles serially
        if op.logits and not capped:
            pre = split_rows(<const floating*>x.p, x, g, use_threads)
        opp.pre = pre
        if use_threads and pre == NULL:  # units of k tiles
            for u in prange(nu, schedule="static"):
                nbad += (_index_unit(x, tgt, w, &opp, loss, grad, rsc, g, u * k, k,
                                     sc + threadid() * per, sums) if op.logits else
                         _nll_tiles(&x, &tgt, w, &opp, &loss, &grad, &rsc, g, u * k,
                                    min(u * k + k, nt), &sums[2 * u * k]))
        else:  # serial: no OpenMP region (it costs about a microsecond)
            for u in range(nu):
                nbad += (_index_unit(x, tgt, w, &opp, loss, grad, rsc, g, u * k, k, sc, sums)
                         if op.logits else
                         _nll_tiles(&x, &tgt, w, &opp, &loss, &grad, &rsc, g, u * k,
                                    min(u * k + k, nt), &sums[2 * u * k]))
        free(pre)
        total = _pairwise(sums, nt, 2) + 0.0  # + 0.0: the sum starts from +0
        wtotal = _pairwise(sums + 1, nt, 2)
    return nbad, total, wtotal


cdef Py_ssize_t _nll_tiles(const operand* x, const operand* tgt, const floating* w,
                           const index_opts* op, const operand* loss, const operand* grad,
                           const operand* rsc, const geometry* g, Py_ssize_t t0, Py_ssize_t t1,
                           double* sums) noexcept nogil:
    # Tiles t0 .. t1 - 1 of nll (class_index_rows with logits False): one element per row, the
    # gradient -w[y] at the target only; rows walked as tile_at walks them, each tile's sums in
    # row order into sums[2 (t - t0)], [2 (t - t0) + 1].  A function of its own: none of the
    # cross-entropy tile's buffers on its stack.
    cdef Py_ssize_t nbad = 0, n = g.n, r0 = t0 * g.height, o, i, o0, i0, inner = g.inner, seg, k
    cdef Py_ssize_t t
    cdef const floating* xp = <const floating*>x.p
    cdef const int64_t* tp = <const int64_t*>tgt.p
    cdef double* lp = <double*>loss.p
    cdef const double* rp = <const double*>rsc.p
    # Operands' pointers and strides in locals (nothing the loop stores can change them).  (N, C)
    # (inner 1) walks its rows as one run of the inner index, and the loss loop writes only its
    # sums and lv[]: each row's offsets are sums, not products, and the optional outputs are
    # written in a second walk; one call takes several tiles (4096 x 10 float32: 20.8 -> 8.1 us; the
    # loop had been bound by its five multiplications and the unused outputs' offsets a row)
    cdef Py_ssize_t xs0 = x.s0, xs1 = x.s1, xs2 = x.s2, ts0 = tgt.s0, ts2 = tgt.s2
    cdef Py_ssize_t ls0 = loss.s0, ls2 = loss.s2, gs0 = grad.s0, gs2 = grad.s2, rs0 = rsc.s0
    cdef Py_ssize_t rs2 = rsc.s2
    if inner == 1:
        xs2, ts2, ls2, gs2, rs2, inner = xs0, ts0, ls0, gs0, rs0, g.nrows
    cdef bint has_ignore = op.has_ignore
    cdef int64_t ignore = op.ignore
    cdef double ls, ws, wy
    cdef double lv[CX_LONG_TILE]
    cdef int64_t yj
    cdef int nr, j
    cdef const floating* xr
    cdef const int64_t* tr
    o = r0 // inner if r0 >= inner else 0
    i = r0 - o * inner
    for t in range(t0, t1):
        nr = <int>min(<Py_ssize_t>g.height, g.nrows - t * g.height)
        o0, i0 = o, i
        ls = ws = 0.0
        j = 0
        while j < nr:  # rows (o, i), (o, i + 1), ... as tile_at; then (o + 1, 0), ...
            seg = min(inner - i, <Py_ssize_t>(nr - j))
            xr = xp + o * xs0 + i * xs2
            tr = tp + o * ts0 + i * ts2
            for k in range(seg):
                yj = tr[k * ts2]
                if has_ignore and yj == ignore:
                    lv[j + k] = 0.0
                elif <uint64_t>yj >= <uint64_t>n:  # yj < 0 or yj >= n
                    lv[j + k] = NAN
                    nbad += 1
                else:
                    wy = _wc(w, yj)
                    lv[j + k] = -(wy * <double>xr[k * xs2 + yj * xs1])
                    ws += wy
                ls += lv[j + k]
            j += <int>seg
            i += seg
            if i == inner:
                i = 0
                o += 1
        sums[2 * (t - t0)] = ls
        sums[2 * (t - t0) + 1] = ws
        if lp != NULL or grad.p != NULL:
            _nll_outputs(lv, nr, o0, i0, inner, tp, ts0, ts2, lp, ls0, ls2,
                         <floating*>grad.p, gs0, grad.s1, gs2, rp, rs0, rs2, w, op, n)
    return nbad


cdef void _nll_outputs(const double* lv, int nr, Py_ssize_t o, Py_ssize_t i, Py_ssize_t inner,
                       const int64_t* tp, Py_ssize_t ts0, Py_ssize_t ts2, double* lp,
                       Py_ssize_t ls0, Py_ssize_t ls2, floating* gp, Py_ssize_t gs0,
                       Py_ssize_t gs1, Py_ssize_t gs2, const double* rp, Py_ssize_t rs0,
                       Py_ssize_t rs2, const floating* w, const index_opts* op,
                       Py_ssize_t n) noexcept nogil:
    # a tile's optional outputs from (o, i) on: the row losses lv, and the gradient rows (0 but
    # -scale w[y] at a valid, not ignored target)
    cdef int j
    cdef int64_t yj
    cdef Py_ssize_t c
    cdef floating* gr
    cdef double sc
    for j in range(nr):
        yj = tp[o * ts0 + i * ts2]
        if lp != NULL:
            lp[o * ls0 + i * ls2] = lv[j]
        if gp != NULL:
            gr = gp + o * gs0 + i * gs2
            for c in range(n):
                gr[c * gs1] = 0.0
            if <uint64_t>yj < <uint64_t>n and not (op.has_ignore and yj == op.ignore):
                sc = op.scale * rp[o * rs0 + i * rs2] if rp != NULL else op.scale
                gr[yj * gs1] = <floating>(-sc * _wc(w, yj))
        i += 1
        if i == inner:
            i = 0
            o += 1


cdef Py_ssize_t _index_unit(operand x, operand tgt, const floating* w, const index_opts* op,
                            operand loss, operand grad, operand rsc, const geometry* g,
                            Py_ssize_t t0, Py_ssize_t k, floating* scratch,
                            double* sums) noexcept nogil:
    # k tiles from t0 (sums: every tile's pair): copied at once (long_group; no smoothing) and
    # computed down the copy, the gradient written into the copy and then flushed, or tile by tile
    cdef floating m[CX_GROUP_LANES]
    cdef floating am[CX_GROUP_LANES]
    cdef operand nowhere
    cdef Py_ssize_t t, nbad = 0, c
    if k > 1 and long_group(x, g, t0):
        long_group_in(x, g, t0, scratch, m, am)
        nowhere.p = NULL
        for t in range(k):
            c = t * CX_LONG_TILE
            nbad += _index_tile(x, tgt, w, op, loss, grad, rsc, g, t0 + t, scratch,
                                &sums[2 * (t0 + t)], scratch + c * g.n, m + c, am + c, nowhere)
        if grad.p != NULL:
            group_flush(grad, g, t0, scratch)
        return nbad
    for t in range(t0, min(t0 + k, n_tiles(g))):
        nbad += _index_tile(x, tgt, w, op, loss, grad, rsc, g, t, scratch, &sums[2 * t], NULL, NULL,
                            NULL, grad)
    return nbad


cdef Py_ssize_t _index_tile(operand x, operand tgt, const floating* w, const index_opts* op,
                            operand loss, operand grad, operand rsc, const geometry* g,
                            Py_ssize_t t, floating* scratch, double* sums, floating* copied,
                            const floating* cm, const floating* cam, operand gdst) noexcept nogil:
    # One tile of cross-entropy rows (class_index_rows): targets checked per row (note C), then
    # the column program (C <= CX_SHORT) or the row program; the tile's loss and weight sums (in
    # row order) go to sums[0], sums[1].  Returns the count of bad targets.  copied: the tile's
    # copy made by _index_unit (with its rows' max cm and arg-max cam), into which the gradient
    # goes (gdst absent); else NULL (gdst: grad).
    cdef tile tl, sub
    cdef int64_t y[CX_LONG_TILE]
    cdef double rs[CX_LONG_TILE]
    cdef double lrow[CX_LONG_TILE]
    cdef int state[CX_LONG_TILE]  # 0: compute, 1: ignored, 2: out of range
    cdef floating xs[CX_LANES * CX_SHORT]
    cdef floating gs[CX_LANES * CX_SHORT]
    cdef floating m[CX_LONG_TILE]
    cdef floating am[CX_LONG_TILE]
    cdef Py_ssize_t nbad = 0, c, cs, n = g.n
    cdef const floating* xt
    cdef double ls = 0.0, ws = 0.0
    cdef int j
    tile_at(g, t, &tl)
    for j in range(tl.nr):
        y[j] = (<const int64_t*>tgt.p)[lane_offset(tgt, &tl, j)]
        rs[j] = op.scale * (<const double*>rsc.p)[lane_offset(rsc, &tl, j)] if rsc.p != NULL else op.scale
        if op.has_ignore and y[j] == op.ignore:
            state[j] = 1
            lrow[j] = 0.0
        elif y[j] < 0 or y[j] >= n:
            state[j] = 2
            lrow[j] = NAN
            nbad += 1
        else:
            state[j] = 0
    if op.cap != 0.0:  # capped rows: the row program, on each row's capped copy
        _xent_rows(x, w, op, lrow, grad, g, &tl, y, rs, state, scratch)
    elif n <= CX_SHORT:
        xt = cols_in(x, g, &tl, xs, &cs)
        _xent_cols(xt, cs, xt == xs, m, NULL, w, op, lrow, grad, grad, g, &tl, y, rs, state, gs)
    elif copied != NULL:  # the row arithmetic down the columns of the unit's copy
        for j in range(2):
            half_tile(&tl, j, &sub)
            c = j * CX_LANES
            _xent_cols(copied + c * n, CX_LANES, True, cm + c, cam + c, w, op, lrow + c, grad,
                       gdst, g, &sub, y + c, rs + c, state + c, copied + c * n)
    elif op.eps == 0.0 and long_cols(x, g, &tl, grad.p == NULL, sizeof(floating)):
        # the row arithmetic down the columns of a copy
        long_cols_in(x, g, &tl, scratch, m, am)
        for j in range(2):
            half_tile(&tl, j, &sub)
            c = j * CX_LANES
            _xent_cols(scratch + c * n, CX_LANES, True, m + c, am + c, w, op, lrow + c, grad, grad,
                       g, &sub, y + c, rs + c, state + c, scratch + CX_LONG_TILE * n)
    else:
        _xent_rows(x, w, op, lrow, grad, g, &tl, y, rs, state, scratch)
    for j in range(tl.nr):  # the tile's sums, in row order
        if loss.p != NULL:
            (<double*>loss.p)[lane_offset(loss, &tl, j)] = lrow[j]
        ls += lrow[j]
        if state[j] == 0:
            ws += _wc(w, y[j])
    sums[0] = ls
    sums[1] = ws
    return nbad


cdef void _xent_cols(const floating* xt, Py_ssize_t cs, bint private, floating* m,
                     const floating* am, const floating* w,
                     const index_opts* op, double* lrow, operand grad, operand gdst,
                     const geometry* g,
                     const tile* tl, const int64_t* y, const double* rs, const int* state,
                     floating* gs) noexcept nogil:
    # cross-entropy of a column tile xt, 16 rows, 8 per vector (note D): short rows, or half a
    # tile of long rows given their arg-max am and max m (no smoothing: its sum is the row
    # arithmetic's wdot); private: xt is a
    # copy, which may be overwritten.  With a gradient and no smoothing, the sum pass stores
    # exp(x - m) (one exp per element; into the private copy if there is one, else into the
    # gradient tile) and a pass from cache scales it into the gradient; x[y] is read before
    # that, so the gradient may overwrite x.  gs: room for a gradient tile that is not in place;
    # gdst: where the gradient goes (grad, or absent: gs, which the caller flushes).
    cdef floating a[CX_LANES]
    cdef floating k[CX_LANES]
    cdef floating xy[CX_LANES]
    cdef floating ey[CX_LANES]
    cdef double rest[CX_LANES]
    cdef double lnorm[CX_LANES]
    cdef double lse[CX_LANES]
    cdef double inv[CX_LANES]
    cdef Py_ssize_t gcs = 0, ecs = 0, c, n = g.n
    cdef floating* gt = NULL
    cdef floating* et = NULL
    cdef double wy, lv, wd, coef, py, pm1, gy, d, eps = op.eps, z = op.zloss
    cdef bint store = grad.p != NULL and eps == 0.0
    cdef int j
    for j in range(CX_LANES):
        xy[j] = xt[y[j] * cs + j] if (j < tl.nr and state[j] == 0) else 0.0
    if grad.p != NULL:
        gt = cols_out(gdst, tl, gs, &gcs)
        et, ecs = (<floating*>xt, cs) if private else (gt, gcs)
    col_lognorm(xt, cs, n, m, am, rest, lnorm, et if store else NULL, ecs)
    for j in range(CX_LANES):
        a[j] = 0.0
        k[j] = 0.0
        if j >= tl.nr or state[j] != 0:
            continue
        d = <double>xy[j] - <double>m[j]  # exact: x[y] - m is not rounded to float32
        wy = _wc(w, y[j])
        lse[j] = <double>m[j] + lnorm[j]
        lv = -(wy * (d - lnorm[j]))
        if eps > 0.0:  # x is intact: no store without a gradient or with smoothing
            wd = 0.0
            for c in range(n):
                wd += _wc(w, c) * <double>(xt[c * cs + j] - m[j])
            lv = (1.0 - eps) * lv + (eps / n) * (lnorm[j] * op.wtot - wd)
        if z != 0.0:
            lv = lv + z * wy * lse[j] * lse[j]
        lrow[j] = lv
        if grad.p != NULL:
            coef = _grad_coef(wy, eps, n, op.wtot, z, lse[j])
            inv[j] = 1.0 / (1.0 + rest[j])  # exp(-L)
            a[j] = <floating>(rs[j] * coef * inv[j])
            k[j] = <floating>(rs[j] * eps / n)
            if store:
                ey[j] = et[y[j] * ecs + j]  # exp(x[y] - m), before the scaling pass
    if grad.p == NULL:
        return
    if store:  # et holds exp(x - m); no other class's weight enters (not even a nan one, times 0)
        col_map(et, ecs, n, m, a, NULL, NULL, gt, gcs, CX_MAP_AFFINE)
    else:  # x is intact: no store with smoothing
        col_map(xt, cs, n, m, a, k, w, gt, gcs, CX_MAP_EXP)
    for j in range(tl.nr):
        if state[j] != 0:
            for c in range(n):
                gt[c * gcs + j] = 0.0
            continue
        wy = _wc(w, y[j])
        d = <double>xy[j] - <double>m[j]  # exact: x[y] - m is not rounded to float32
        if store:
            py, pm1 = _target_prob(ey[j], d, rest[j], inv[j])
        else:
            py = exp(d - lnorm[j])
            pm1 = expm1(d - lnorm[j])
        gy = (1.0 - eps) * wy * pm1
        if eps > 0.0:
            gy = gy + (eps / n) * (op.wtot * py - wy)
        if z != 0.0:
            gy = gy + 2.0 * z * wy * lse[j] * py
        gt[y[j] * gcs + j] = <floating>(rs[j] * gy)
    cols_flush(gdst, g, tl, gt)


cdef void _xent_rows(operand x, const floating* w, const index_opts* op, double* lrow,
                     operand grad, const geometry* g, const tile* tl, const int64_t* y,
                     const double* rs, const int* state, floating* scratch) noexcept nogil:
    # cross-entropy of a tile of long rows, row by row on unit-stride rows (note D).  With a
    # gradient the sum-of-exp pass stores exp(x - m) into it and a pass from cache scales it; what
    # the loss needs of x is read before that store, so the gradient may overwrite x.  With
    # op.cap (rows of any length), each row is first capped into the thread's two rows at
    # scratch + op.capoff (cap tanh(x / cap) and the tanh), on which the row program then runs;
    # the gradient is last multiplied by 1 - tanh^2, in the row's dtype.
    cdef const floating* xr[CX_LONG_TILE]
    cdef floating* gr[CX_LONG_TILE]
    cdef const floating* xj
    cdef floating* yc = scratch + op.capoff if op.cap != 0.0 else NULL
    cdef floating* th = yc + g.n if op.cap != 0.0 else NULL
    cdef Py_ssize_t am, c, n = g.n
    cdef row_norm rn
    cdef floating mv
    cdef double d, lnorm, rest, lse, wy, lv, wd = 0.0, coef, py, pm1, gy, inv, eps = op.eps
    cdef double z = op.zloss
    cdef int j
    rows_in(x, g, tl, scratch, xr)
    if grad.p != NULL:
        rows_out(grad, g, tl, scratch, gr)  # a gathered row is overwritten by its gradient
    for j in range(tl.nr):
        if state[j] != 0:
            if grad.p != NULL:
                for c in range(n):
                    gr[j][c] = 0.0
            continue
        xj = _capped(xr[j], n, op.cap, yc, th)
        row_max_of(xj, n, op.pre, tl.o[j] * g.inner + tl.i[j], &rn)
        am = rn.am
        mv = xj[am]
        d = <double>xj[y[j]] - <double>mv  # exact
        wy = _wc(w, y[j])
        if eps > 0.0:
            wd = row_wdot(xj, n, mv, w)
        rest = row_sum(xj, n, &rn, gr[j] if grad.p != NULL else NULL)
        lnorm = log1p(rest)
        lse = <double>mv + lnorm
        lv = -(wy * (d - lnorm))
        if eps > 0.0:
            lv = (1.0 - eps) * lv + (eps / n) * (lnorm * op.wtot - wd)
        if z != 0.0:
            lv = lv + z * wy * lse * lse
        lrow[j] = lv
        if grad.p == NULL:
            continue
        coef = _grad_coef(wy, eps, n, op.wtot, z, lse)
        inv = 1.0 / (1.0 + rest)  # exp(-L)
        py, pm1 = _target_prob(gr[j][y[j]], d, rest, inv)  # gr holds exp(x - m)
        # k = +0 without smoothing (rs eps / n would be -0 for a negative scale, flipping the
        # sign of a zero gradient: a g - (-0)), as the column kernels' plain product
        row_affine(gr[j], n, rs[j] * coef * inv, rs[j] * eps / n if eps > 0.0 else 0.0,
                   w if eps > 0.0 else NULL)
        gy = (1.0 - eps) * wy * pm1
        if eps > 0.0:
            gy = gy + (eps / n) * (op.wtot * py - wy)
        if z != 0.0:
            gy = gy + 2.0 * z * wy * lse * py
        gr[j][y[j]] = <floating>(rs[j] * gy)
        if op.cap != 0.0:
            _cap_grad(gr[j], n, th)
    if grad.p != NULL:
        rows_flush(grad, g, tl, scratch)


cdef inline const floating* _capped(const floating* x, Py_ssize_t n, double cap, floating* y,
                                    floating* th) noexcept nogil:
    """x itself without a cap (0); else y = cap tanh(x / cap) and th = tanh(x / cap) (the
    table's softcap), and y."""
    if cap == 0.0:
        return x
    if floating is float:
        table_f().softcap(x, n, <float>cap, y, th)
    else:
        table_d().softcap(x, n, cap, y, th)
    return y


cdef inline void _cap_grad(floating* g, Py_ssize_t n, const floating* th) noexcept nogil:
    """g *= 1 - th^2 (d/dx [cap tanh(x / cap)]), in the row's dtype."""
    cdef Py_ssize_t c
    for c in range(n):
        g[c] = g[c] * (<floating>1.0 - th[c] * th[c])


cdef inline double _grad_coef(double wy, double eps, Py_ssize_t n, double wtot, double z,
                              double lse) noexcept nogil:
    """The factor of p_c in a row's gradient, (1 - eps) w_y + (eps / n) sum w + 2 z w_y lse; the
    terms of a zero eps or z are left out, so the weights of other classes (even nan ones) do not
    enter without smoothing (torch)."""
    cdef double coef = (1.0 - eps) * wy
    if eps > 0.0:
        coef = coef + (eps / n) * wtot
    if z != 0.0:
        coef = coef + 2.0 * z * wy * lse
    return coef


cdef inline (double, double) _target_prob(double e, double d, double rest,
                                         double inv) noexcept nogil:
    """(p_y, p_y - 1) from e = exp(x[y] - m), d = x[y] - m, the row's rest and
    inv = 1 / (1 + rest): p_y = e inv.  At a maximum (d = 0) p_y - 1 = -rest inv, without
    cancellation; elsewhere p_y <= 1/2 (the maximum's 1 is in the sum), so p_y - 1 loses
    nothing."""
    if d == 0.0:
        return inv, -rest * inv
    return e * inv, e * inv - 1.0


def xent_small(input, target, weight, ignore_index, reduction, label_smoothing, z_loss,
               bint logits=True):
    """The gate of the common small call of ``cross_entropy`` (``logits=False``: ``nll_loss``): a
    plain C-contiguous ``(N, C)`` float32/float64 ``ndarray`` in native byte order, int64 targets
    of shape ``(N,)``, no weight or a contiguous ``(C,)`` one of the input's type, any reduction, a
    float ``label_smoothing`` in [0, 1] and a finite float ``z_loss`` >= 0, fewer than
    ``_config.PARALLEL_THRESHOLD`` elements read.  It checks that much in C and runs the same tile
    program and the same pairwise reduction as the general path, serially, skipping the Python
    layer's set-up.  Returns the loss (a NumPy scalar, or the row losses for 'none'), or None for
    any other call (and for a target out of range, which the general path reports)."""
    return _xent_gate(input, target, weight, ignore_index, reduction, label_smoothing, z_loss,
                      logits, False)


def xent_grad_small(input, target, weight, ignore_index, reduction, label_smoothing, z_loss):
    """The gate of ``cross_entropy_and_grad``'s common small call: ``xent_small``'s conditions,
    class-index targets, reduction 'mean' or 'sum', no ``grad_output``/``grad_out``.  Returns
    ``(loss, gradient)`` from the same check of the targets and the mean's denominator
    (``target_weights``'s tiles) and the same tile program as the general path, or None (also for
    a zero denominator, whose nan the general path gives)."""
    return _xent_gate(input, target, weight, ignore_index, reduction, label_smoothing, z_loss,
                      True, True)


def nll_grad_small(input, target, weight, ignore_index, reduction):
    """The gate of ``nll_loss_and_grad``'s common small call: ``xent_grad_small``'s conditions and
    steps with the nll tile program (``_nll_tiles``)."""
    return _xent_gate(input, target, weight, ignore_index, reduction, 0.0, 0.0, False, True)


cdef object _xent_gate(input, target, weight, ignore_index, reduction, label_smoothing, z_loss,
                       bint logits, bint with_grad):

    if (type(input) is not cnp.ndarray or type(target) is not cnp.ndarray
            or type(ignore_index) is not int or type(label_smoothing) is not float
            or not 0.0 <= label_smoothing <= 1.0 or type(z_loss) is not float
            or not 0.0 <= z_loss < INFINITY or type(reduction) is not str
            or (reduction != "mean" and reduction != "sum" and reduction != "none")):
        return None
    cdef cnp.ndarray xa = input, ta = target, wa
    if cnp.PyArray_NDIM(xa) != 2:
        return None
    cdef int xtype = cnp.PyArray_TYPE(xa)
    cdef bint probs = logits and cnp.PyArray_NDIM(ta) == 2  # probability targets
    if probs and cnp.PyArray_TYPE(ta) == xtype and cnp.PyArray_ISCARRAY_RO(ta) \
            and cnp.PyArray_ISNOTSWAPPED(ta) and cnp.PyArray_SAMESHAPE(xa, ta) \
            and ignore_index == -100:
        pass
    elif probs or cnp.PyArray_NDIM(ta) != 1 or cnp.PyArray_TYPE(ta) != cnp.NPY_INT64 \
            or not cnp.PyArray_ISALIGNED(ta) or not cnp.PyArray_ISNOTSWAPPED(ta):
        return None
    if ((xtype != cnp.NPY_FLOAT32 and xtype != cnp.NPY_FLOAT64)
            or not cnp.PyArray_ISCARRAY_RO(xa) or not cnp.PyArray_ISNOTSWAPPED(xa)):
        return None
    cdef Py_ssize_t nrows = cnp.PyArray_DIM(xa, 0), n = cnp.PyArray_DIM(xa, 1)
    if (nrows == 0 or n == 0 or cnp.PyArray_DIM(ta, 0) != nrows
            or (nrows * n if logits or with_grad else nrows) >= _config.PARALLEL_THRESHOLD
            or not (-9223372036854775807 - 1 <= ignore_index <= 9223372036854775807)):
        return None
    cdef void* wp = NULL
    if weight is not None:
        if type(weight) is not cnp.ndarray:
            return None
        wa = weight
        if (cnp.PyArray_NDIM(wa) != 1 or cnp.PyArray_DIM(wa, 0) != n
                or cnp.PyArray_TYPE(wa) != xtype or not cnp.PyArray_ISCARRAY_RO(wa)
                or not cnp.PyArray_ISNOTSWAPPED(wa)):
            return None
        wp = cnp.PyArray_DATA(wa)
    cdef index_opts op
    op.has_ignore = True
    op.ignore = ignore_index
    op.logits = logits
    op.eps = label_smoothing if logits else 0.0
    op.zloss = z_loss if logits else 0.0
    op.scale = 1.0
    op.pre = NULL
    op.cap = 0.0
    cdef geometry g = make_geometry(nrows, n, 1)
    cdef operand xo, to, lo, none
    xo.p = cnp.PyArray_DATA(xa)
    xo.s0, xo.s1, xo.s2 = n, 1, 0
    to.p = cnp.PyArray_DATA(ta)
    to.s0, to.s1, to.s2 = cnp.PyArray_STRIDE(ta, 0) // 8, 0, 0
    none.p = NULL
    lo.p = NULL
    cdef cnp.ndarray rows = None
    if with_grad:
        if probs or reduction == "none":
            return None
        return _xent_grad_small(xo, to, wp, &op, &g, xtype, reduction == "mean", xa)
    if probs:  # the probability program of class_prob_rows; Python's sign and reductions
        return _prob_small(xo, ta, wp, &op, &g, xtype, reduction)
    if reduction == "none":
        rows = cnp.PyArray_EMPTY(1, [nrows], cnp.NPY_FLOAT64, 0)
        lo.p, lo.s0, lo.s1, lo.s2 = cnp.PyArray_DATA(rows), 1, 0, 0
    if xtype == cnp.NPY_FLOAT32:
        op.wtot = _wsum(<const float*>wp, n)
        nbad, total, count = _index_run(xo, to, <const float*>wp, &op, lo, none, none, &g, False)
    else:
        op.wtot = _wsum(<const double*>wp, n)
        nbad, total, count = _index_run(xo, to, <const double*>wp, &op, lo, none, none, &g, False)
    if nbad:
        return None
    if rows is not None:
        return _rows_as(rows, xtype, False)
    if reduction == "mean":  # IEEE division: 0 / 0 (all rows ignored) is nan, x / 0 is +-inf
        total = total / count if count else (NAN if total == 0.0 or total != total
                                              else copysign(INFINITY, total))
    return float_scalar(total, xtype)


def class_prob_rows(x, target, weight, double eps, double zloss, loss_out, grad_out, double scale,
                    row_scale, bint use_threads, double cap=0.0):
    """loss_out[n, i] = sum_c w_c q_c lp_c - z lse^2 (not negated; note E), and, unless
    ``grad_out`` is None, the gradient of the negated value times ``scale`` (times ``row_scale``
    unless None); arrays as ``class_index_rows``, ``target`` like ``x``; ``cap`` as there."""
    cdef int tn = float_type(x)
    cdef operand xo = array_operand(x, 3, tn), to = array_operand(target, 3, tn)
    cdef operand wo = _class_vector(weight, tn), go = array_operand(grad_out, 3, tn)
    cdef operand lo = array_operand(loss_out, 2, cnp.NPY_FLOAT64)
    cdef operand ro = array_operand(row_scale, 2, cnp.NPY_FLOAT64)
    cdef geometry g = make_geometry(cnp.PyArray_DIM(<cnp.ndarray>x, 0), cnp.PyArray_DIM(<cnp.ndarray>x, 1),
                                    cnp.PyArray_DIM(<cnp.ndarray>x, 2))
    cdef Py_ssize_t per
    cdef void* sc
    buf = scratch(&g, 2 if strided(xo, to, go) else 0, tn, use_threads, &per, &sc,
                  2 if cap != 0.0 else 0)
    if tn == cnp.NPY_FLOAT32:
        _prob_run(xo, to, <const float*>wo.p, eps, zloss, cap, lo, go, scale, ro, &g, <float*>sc,
                  per, use_threads)
    else:
        _prob_run(xo, to, <const double*>wo.p, eps, zloss, cap, lo, go, scale, ro, &g,
                  <double*>sc, per, use_threads)


cdef object _xent_grad_small(operand xo, operand to, const void* wp, index_opts* op,
                            const geometry* g, int xtype, bint mean, cnp.ndarray xa):
    # xent_small's gradient call (cross_entropy or nll, op.logits): _index_rows's steps (targets
    # and denominator, scale, one sweep)
    cdef geometry gw = make_geometry(g.nrows, g.n, 1)
    cdef Py_ssize_t nt = n_tiles(&gw), nbad
    cdef double small_sums[256]
    cdef double* sp = small_sums
    cdef cnp.ndarray sums_a = None
    cdef double denom
    cdef operand go, none
    if nt > 256:
        sums_a = cnp.PyArray_EMPTY(1, [nt], cnp.NPY_FLOAT64, 0)
        sp = <double*>cnp.PyArray_DATA(sums_a)
    if xtype == cnp.NPY_FLOAT32:
        nbad = _weights_run(to, <const float*>wp, True, op.ignore, &gw, sp, False)
    else:
        nbad = _weights_run(to, <const double*>wp, True, op.ignore, &gw, sp, False)
    denom = _pairwise(sp, nt, 1)
    if nbad or (mean and denom == 0.0):
        return None
    op.scale = 1.0 / denom if mean else 1.0
    cdef cnp.ndarray grad = cnp.PyArray_EMPTY(2, cnp.PyArray_DIMS(xa), xtype, 0)
    go.p, go.s0, go.s1, go.s2 = cnp.PyArray_DATA(grad), g.n, 1, 0
    none.p = NULL
    if xtype == cnp.NPY_FLOAT32:
        op.wtot = _wsum(<const float*>wp, g.n)
        nbad, total, count = _index_run(xo, to, <const float*>wp, op, none, go, none, g, False)
    else:
        op.wtot = _wsum(<const double*>wp, g.n)
        nbad, total, count = _index_run(xo, to, <const double*>wp, op, none, go, none, g, False)
    if mean:  # count: the same sum of w[y] as denom (the same tiles and order)
        total = total / count
    return float_scalar(total, xtype), grad


cdef cnp.ndarray _rows_as(cnp.ndarray rows, int xtype, bint negate):
    """The float64 row losses of a gate (negated: a sign flip, as NumPy's, also of a nan), rounded
    once to the input's type."""
    cdef Py_ssize_t j, n = cnp.PyArray_DIM(rows, 0)
    cdef const double* rp = <const double*>cnp.PyArray_DATA(rows)
    cdef cnp.ndarray res = cnp.PyArray_EMPTY(1, [n], xtype, 0)
    cdef double v
    for j in range(n):
        v = -rp[j] if negate else rp[j]
        if xtype == cnp.NPY_FLOAT32:
            (<float*>cnp.PyArray_DATA(res))[j] = <float>v
        else:
            (<double*>cnp.PyArray_DATA(res))[j] = v
    return res


cdef object _prob_small(operand xo, cnp.ndarray ta, void* wp, const index_opts* op,
                        const geometry* g, int xtype, str reduction):
    # xent_small's probability targets: the row values of class_prob_rows (not negated), then
    # what _losses._prob_loss does with them: -rows ('none'), -(pairwise sum), / N for the mean
    cdef operand to, lo, none
    to.p, to.s0, to.s1, to.s2 = cnp.PyArray_DATA(ta), g.n, 1, 0
    none.p = NULL
    cdef cnp.ndarray rows = cnp.PyArray_EMPTY(1, [g.nrows], cnp.NPY_FLOAT64, 0)
    lo.p, lo.s0, lo.s1, lo.s2 = cnp.PyArray_DATA(rows), 1, 0, 0
    cdef double* rp = <double*>cnp.PyArray_DATA(rows)
    cdef double total
    if xtype == cnp.NPY_FLOAT32:
        _prob_run(xo, to, <const float*>wp, op.eps, op.zloss, 0.0, lo, none, 1.0, none, g,
                  <float*>NULL, 0, False)
    else:
        _prob_run(xo, to, <const double*>wp, op.eps, op.zloss, 0.0, lo, none, 1.0, none, g,
                  <double*>NULL, 0, False)
    if reduction == "none":
        return _rows_as(rows, xtype, True)
    total = -_pairwise(rp, g.nrows, 1)  # torch negates the sum
    if reduction == "mean":
        total = total / g.nrows
    return float_scalar(total, xtype)


cdef void _prob_run(operand x, operand tg, const floating* w, double eps, double zloss, double cap,
                    operand loss, operand grad, double scale, operand rsc, const geometry* g,
                    floating* sc, Py_ssize_t per, bint use_threads) noexcept nogil:
    cdef Py_ssize_t t
    if use_threads:
        for t in prange(n_tiles(g), schedule="static"):
            _prob_tile(x, tg, w, eps, zloss, cap, loss, grad, scale, rsc, g, t,
                       sc + threadid() * per, per)
    else:  # serial: no OpenMP region (it costs about a microsecond)
        for t in range(n_tiles(g)):
            _prob_tile(x, tg, w, eps, zloss, cap, loss, grad, scale, rsc, g, t, sc, per)


cdef void _prob_tile(operand x, operand tg, const floating* w, double eps, double zloss,
                     double cap, operand loss, operand grad, double scale, operand rsc,
                     const geometry* g, Py_ssize_t t, floating* scratch,
                     Py_ssize_t per) noexcept nogil:
    # with cap, each row capped into the scratch's last two rows (_capped), the gradient then
    # multiplied by 1 - tanh^2 (as _xent_rows)
    cdef tile tl
    cdef const floating* xr[CX_LONG_TILE]
    cdef const floating* tr[CX_LONG_TILE]
    cdef floating* gr[CX_LONG_TILE]
    cdef floating* yc = scratch + per - 2 * g.n if cap != 0.0 else NULL
    cdef floating* th = yc + g.n if cap != 0.0 else NULL
    cdef double rs
    cdef int j
    tile_at(g, t, &tl)
    rows_in(x, g, &tl, scratch, xr)
    rows_in(tg, g, &tl, scratch + g.height * g.n, tr)
    if grad.p != NULL:
        rows_out(grad, g, &tl, scratch, gr)
    for j in range(tl.nr):
        rs = scale * (<const double*>rsc.p)[lane_offset(rsc, &tl, j)] if rsc.p != NULL else scale
        (<double*>loss.p)[lane_offset(loss, &tl, j)] = _prob_row(
            _capped(xr[j], g.n, cap, yc, th), g.n, tr[j], w, eps, zloss,
            gr[j] if grad.p != NULL else NULL, rs)
        if cap != 0.0 and grad.p != NULL:
            _cap_grad(gr[j], g.n, th)
    if grad.p != NULL:
        rows_flush(grad, g, &tl, scratch)


cdef inline void _wq_sums(const floating* x, const floating* t, const floating* w, Py_ssize_t n,
                          floating m, double eps, double* pd, double* pq,
                          bint exact_zero) noexcept nogil:
    # pd[c % 8] += w_c q_c (x_c - m), pq[c % 8] += w_c q_c (q smoothed), from 0 (the kernel table's
    # wq_sums, _simd_api.h).  With finite w q the maximum's term is q * 0 = 0 as it stands;
    # ``exact_zero`` makes it 0 also for an infinite w q (which then enters only as -inf L w q):
    # the same sums otherwise, bit for bit.
    if floating is float:
        table_f().wq_sums(x, t, w, n, m, eps, pd, pq, exact_zero)
    else:
        table_d().wq_sums(x, t, w, n, m, eps, pd, pq, exact_zero)


cdef double _prob_row(const floating* x, Py_ssize_t n, const floating* t, const floating* w,
                      double eps, double zloss, floating* g, double scale) noexcept nogil:
    # sum_c w_c q_c ((x_c - m) - L) = sum_c w_c q_c (x_c - m) - L sum_c w_c q_c; unit-stride rows.
    # Both sums in double, class c into partial c % 8, the partials added pairwise.  Everything
    # read from x is read before the store pass, so g may be x.
    cdef row_norm rn
    row_max(x, n, &rn)
    cdef Py_ssize_t c, am = rn.am
    cdef floating m = x[am]
    cdef double lnorm, q, wqd, wq, inv, lse, pcoef
    cdef double pd[8]
    cdef double pq[8]
    _wq_sums(x, t, w, n, m, eps, pd, pq, False)
    wq = ((pq[0] + pq[1]) + (pq[2] + pq[3])) + ((pq[4] + pq[5]) + (pq[6] + pq[7]))
    if not fabs(wq) < INFINITY:  # an infinite w q: its maximum's term must be 0, not inf * 0
        _wq_sums(x, t, w, n, m, eps, pd, pq, True)
    wqd = ((pd[0] + pd[1]) + (pd[2] + pd[3])) + ((pd[4] + pd[5]) + (pd[6] + pd[7]))
    lnorm = log1p(row_sum(x, n, &rn, g))  # g (if any) now holds exp(x - m)
    lse = <double>m + lnorm
    if g != NULL:  # d(-row)/dx_c = p_c sum_k w_k q_k - w_c q_c (+ 2 z lse p_c)
        inv = exp(-lnorm)
        pcoef = wq + 2.0 * zloss * lse if zloss != 0.0 else wq
        for c in range(n):
            q = t[c]
            if eps > 0.0:
                q = q * (1.0 - eps) + eps / n
            g[c] = <floating>(scale * (g[c] * inv * pcoef - _wc(w, c) * q))
    if zloss != 0.0:
        return wqd - lnorm * wq - zloss * lse * lse
    return wqd - lnorm * wq


cdef double _pairwise(const double* a, Py_ssize_t n, Py_ssize_t s) noexcept nogil:
    cdef Py_ssize_t i, h
    cdef double acc = 0.0
    if n <= 128:
        for i in range(n):
            acc += a[i * s]
        return acc
    h = n // 2
    return _pairwise(a, h, s) + _pairwise(a + h * s, n - h, s)


def row_total(const double[::1] rows, Py_ssize_t n_classes):
    """The sum of per-row losses (or weights) in ``class_index_rows``' order for rows of
    ``n_classes`` classes: per tile of rows in row order from +0, then pairwise over the tiles, +0.
    ``cxent.dask`` totals the rows of its blocks with it, so its sums equal the NumPy call's."""
    cdef geometry g = make_geometry(1, n_classes, rows.shape[0])
    cdef Py_ssize_t nt = n_tiles(&g), t, j, j1
    cdef cnp.ndarray sums_a = cnp.PyArray_EMPTY(1, [max(nt, 1)], cnp.NPY_FLOAT64, 0)
    cdef double* sums = <double*>cnp.PyArray_DATA(sums_a)
    cdef double s
    with nogil:
        for t in range(nt):
            s = 0.0
            j1 = min((t + 1) * g.height, g.nrows)
            for j in range(t * g.height, j1):
                s += rows[j]
            sums[t] = s
        s = _pairwise(sums, nt, 1) + 0.0
    return s


def pairwise_sum(const double[::1] a):
    """Sum of ``a`` by pairwise recursion over blocks of 128 (deterministic, O(log n) error)."""
    cdef double s
    with nogil:
        s = _pairwise(&a[0], a.shape[0], 1)
    return s


cdef extern from "_omp_shim.h":
    int cxent_max_threads() noexcept nogil


def softmax_kl_rows(s, t, double temperature, loss_out, elem_out, grad_out, double scale,
                    bint use_threads):
    """The distillation KL divergence ``kl_div(log_softmax(s / T), softmax(t / T))`` along axis 1
    of same-shaped ``(outer, C, inner)`` float32/float64 student and teacher logits (any strides),
    in one sweep: each row of both gathered (divided by T) into per-thread scratch, its max,
    sum of exp and exps by the vectorised row arithmetic, then the terms
    ``q (log q - log p)`` (0 where q = 0, torch's ``xlogy``) in double.  Writes the row sums into
    float64 ``loss_out`` ``(outer, inner)``, the terms into ``elem_out`` unless None, and unless
    ``grad_out`` is None the gradient ``scale (p - q)`` with respect to ``s / T`` (the caller's
    ``scale`` includes 1 / T)."""
    cdef int tn = float_type(s)
    cdef operand so = array_operand(s, 3, tn), to = array_operand(t, 3, tn)
    cdef operand lo = array_operand(loss_out, 2, cnp.NPY_FLOAT64)
    cdef operand eo = array_operand(elem_out, 3, tn), go = array_operand(grad_out, 3, tn)
    cdef cnp.ndarray sa = s
    cdef Py_ssize_t outer = cnp.PyArray_DIM(sa, 0), n = cnp.PyArray_DIM(sa, 1)
    cdef Py_ssize_t inner = cnp.PyArray_DIM(sa, 2)
    cdef int threads = cxent_max_threads() if use_threads else 1
    buf = cnp.PyArray_EMPTY(1, [4 * n * max(threads, 1)], tn, 0)
    if tn == cnp.NPY_FLOAT32:
        _skl_run(so, to, lo, eo, go, outer, n, inner, <float>temperature, scale,
                 <float*>cnp.PyArray_DATA(buf), use_threads)
    else:
        _skl_run(so, to, lo, eo, go, outer, n, inner, temperature, scale,
                 <double*>cnp.PyArray_DATA(buf), use_threads)


cdef void _skl_run(operand s, operand t, operand loss, operand elem, operand grad,
                   Py_ssize_t outer, Py_ssize_t n, Py_ssize_t inner, floating temp, double scale,
                   floating* sc, bint use_threads) noexcept nogil:
    cdef Py_ssize_t r, nrows = outer * inner
    if use_threads:
        for r in prange(nrows, schedule="static"):
            _skl_row(&s, &t, &loss, &elem, &grad, r // inner, r % inner, n, temp, scale,
                     sc + 4 * n * threadid())
    else:
        for r in range(nrows):
            _skl_row(&s, &t, &loss, &elem, &grad, r // inner, r % inner, n, temp, scale, sc)


cdef void _skl_row(const operand* s, const operand* t, const operand* loss, const operand* elem,
                   const operand* grad, Py_ssize_t o, Py_ssize_t i, Py_ssize_t n, floating temp,
                   double scale, floating* sc) noexcept nogil:
    cdef floating* ss = sc
    cdef floating* tt = sc + n
    cdef floating* ys = sc + 2 * n
    cdef floating* yt = sc + 3 * n
    cdef const floating* sp = <const floating*>s.p + o * s.s0 + i * s.s2
    cdef const floating* tp = <const floating*>t.p + o * t.s0 + i * t.s2
    cdef Py_ssize_t c, ams, amt
    cdef row_norm rns, rnt
    cdef double rs, rt, ls_norm, lt_norm, inv_ss, inv_st, q, lsc, v, acc = 0.0
    cdef floating ms, mt
    for c in range(n):  # the rows divided by T, as torch's s / T
        ss[c] = sp[c * s.s1] / temp
        tt[c] = tp[c * t.s1] / temp
    row_max(ss, n, &rns)
    row_max(tt, n, &rnt)
    ams, amt = rns.am, rnt.am
    ms = ss[ams]
    mt = tt[amt]
    rs = row_sum(ss, n, &rns, ys)  # nan for an infinite max (all nan: as log_softmax)
    rt = row_sum(tt, n, &rnt, yt)
    ls_norm = log1p(rs)
    lt_norm = log1p(rt)
    inv_ss = 1.0 / (1.0 + rs)
    inv_st = 1.0 / (1.0 + rt)
    for c in range(n):
        q = <double>yt[c] * inv_st
        lsc = (<double>ss[c] - <double>ms) - ls_norm
        if q > 0.0:
            v = q * (((<double>tt[c] - <double>mt) - lt_norm) - lsc)
        else:  # xlogy(0, 0) = 0, minus 0 * log p (nan for log p = -inf, as torch); nan stays
            v = (0.0 if q == 0.0 else q) - q * lsc
        acc = acc + v
        if elem.p != NULL:
            (<floating*>elem.p)[o * elem.s0 + c * elem.s1 + i * elem.s2] = <floating>v
        if grad.p != NULL:
            (<floating*>grad.p)[o * grad.s0 + c * grad.s1 + i * grad.s2] = \
                <floating>(scale * (<double>ys[c] * inv_ss - q))
    (<double*>loss.p)[o * loss.s0 + i * loss.s2] = acc
