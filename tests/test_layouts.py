"""Bits independent of memory layout, for outputs and gradients too.

Every row goes through the same arithmetic wherever it sits in memory (``_lib/_rows.pyx`` note B),
and element-wise losses walk the logical flat index (``_lib/_binary.pyx`` note B).  So: an input in
C order, F order, with the class axis not last, sliced or reversed; ``out=``/``grad_out=`` buffers of
any layout; the gradient written in place over an input of any layout -- all give exactly the bits
of the C-contiguous call.  Shapes cover both arithmetics (C <= 32 and C > 32), tiles that cross the
outer axis and partial tiles, and long rows whose full tiles of 32 adjacent rows are computed down
columns while the rest of the same call gathers rows ((70, 40) in F order, (2, 40, 37)), and groups
of four such tiles (128 adjacent rows) copied at once, next to groups that cross the outer axis or
are partial and go tile by tile ((300, 40) in F order, (2, 40, 130), (1, 300, 256): a reduction's
group copy only while it stays in L2, so float32 and float64 take different paths there).
"""

import numpy as np
import pytest
from conftest import tol
from test_forward_matrix import _data, layouts, same

import cxent
from cxent import _reference as ref

ROW_SHAPES = [(13, 7), (9, 40), (2, 21, 5, 11), (3, 40, 3, 7), (2, 5, 16), (1, 100), (17, 3),
              (70, 40), (2, 40, 37), (300, 40), (2, 40, 130), (1, 300, 256)]


def buffers(shape, dtype):
    """Empty arrays of ``shape`` in several layouts."""
    yield "C", np.empty(shape, dtype)
    yield "F", np.empty(shape, dtype, order="F")
    yield "step", np.empty(shape[:-1] + (2 * shape[-1],), dtype)[..., ::2]
    yield "neg", np.empty(shape, dtype)[::-1]
    if len(shape) >= 3:
        perm = (0, 2, 1) + tuple(range(3, len(shape)))
        yield "perm", np.empty([shape[p] for p in perm], dtype).transpose(perm)


def _x(rng, shape, dtype, scale=3.0):
    x = np.asarray(rng.standard_normal(shape) * scale, dtype=dtype)
    x.flat[::11] = -np.inf  # exp(-inf) = 0 in every arithmetic
    x.flat[5] = 40.0  # a dominant logit
    return x


@pytest.mark.parametrize("shape", ROW_SHAPES, ids=str)
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_normaliser_out_buffers(name, shape, dtype, rng):
    x = _x(rng, shape, dtype)
    f = getattr(cxent, name)
    for axis in range(x.ndim):
        base = f(x, axis=axis)
        np.testing.assert_allclose(base, getattr(ref, name)(x, axis=axis), **tol(dtype, 4))
        for label, buf in buffers(shape, dtype):
            assert f(x, axis=axis, out=buf) is buf
            same(buf, base, dtype, err_msg=f"out {label} axis={axis}")
        for label, xv in layouts(x):
            xv = xv.copy(order="K")
            same(f(xv, axis=axis, out=xv), base, dtype, err_msg=f"in place {label} axis={axis}")


@pytest.mark.parametrize("shape", ROW_SHAPES, ids=str)
def test_logsumexp_out_buffers(shape, dtype, rng):
    x = _x(rng, shape, dtype)
    for axis in range(x.ndim):
        base = cxent.logsumexp(x, axis=axis)
        for label, xv in layouts(x):
            same(cxent.logsumexp(xv, axis=axis), base, dtype, err_msg=label)
        for label, buf in buffers(base.shape, dtype) if base.ndim else ():
            same(cxent.logsumexp(x, axis=axis, out=buf), base, dtype, err_msg=label)


@pytest.mark.parametrize("shape", [(5, 3), (3, 7, 100), (2, 600)], ids=str)
@pytest.mark.parametrize("name", ["sigmoid", "log_sigmoid"])
def test_elementwise_out_buffers(name, shape, dtype, rng):
    x = _x(rng, shape, dtype, scale=30.0)
    f = getattr(cxent, name)
    base = f(x)
    for label, buf in buffers(shape, dtype):
        same(f(x, out=buf), base, dtype, err_msg=label)
    for label, xv in layouts(x):
        xv = xv.copy(order="K")
        same(f(xv, out=xv), base, dtype, err_msg=f"in place {label}")


@pytest.mark.parametrize("shape", ROW_SHAPES, ids=str)
@pytest.mark.parametrize("name", ["softmax_backward", "log_softmax_backward"])
def test_backward_layouts(name, shape, dtype, rng):
    fwd = cxent.softmax if name == "softmax_backward" else cxent.log_softmax
    f = getattr(cxent, name)
    for axis in sorted({1, len(shape) - 1}):
        y = fwd(_x(rng, shape, dtype), axis=axis)
        g = np.asarray(rng.standard_normal(shape), dtype=dtype)
        base = f(g, y, axis=axis)
        for label, yv in layouts(y):
            for glabel, gv in layouts(g):
                same(f(gv, yv, axis=axis), base, dtype, err_msg=f"{label}/{glabel}")
        for label, buf in buffers(shape, dtype):
            same(f(g, y, axis=axis, out=buf), base, dtype, err_msg=f"out {label}")
        for label, gv in layouts(g):
            gv = gv.copy(order="K")
            same(f(gv, y, axis=axis, out=gv), base, dtype, err_msg=f"in place {label}")


LOSS_OPTS = [dict(), dict(weight=True, label_smoothing=0.2, z_loss=1e-3),
             dict(reduction="none", grad_output=True), dict(ignore_index=1, reduction="sum"),
             dict(softcap=2.5, label_smoothing=0.1), dict(softcap=4.0, reduction="none",
                                                          grad_output=True)]


def _loss_kw(rng, opts, n_classes, loss_shape, dtype):
    kw = dict(opts)
    if kw.pop("weight", False):
        kw["weight"] = rng.uniform(0.2, 2.0, n_classes).astype(dtype)
    if kw.pop("grad_output", False):
        kw["grad_output"] = rng.standard_normal(loss_shape)
    return kw


@pytest.mark.parametrize("opts", LOSS_OPTS, ids=str)
@pytest.mark.parametrize("shape", ROW_SHAPES, ids=str)
@pytest.mark.parametrize("fn", ["cross_entropy", "nll_loss", "cross_entropy(probs)"])
def test_loss_and_grad_layouts(fn, shape, opts, dtype, rng):
    x = _x(rng, shape, dtype)
    if fn == "nll_loss":
        x = ref.log_softmax(x, axis=1).astype(dtype)
        x[np.isinf(x)] = -50.0
    n_classes, loss_shape = shape[1], (shape[0],) + shape[2:]
    if fn == "cross_entropy(probs)":
        t = ref.softmax(_x(rng, shape, dtype), axis=1).astype(dtype)
        opts = {k: v for k, v in opts.items() if k != "ignore_index"}
    else:
        t = rng.integers(0, n_classes, loss_shape)
    kw = _loss_kw(rng, {k: v for k, v in opts.items() if not (fn == "nll_loss" and k in
                                                                ("label_smoothing", "z_loss",
                                                                 "softcap"))},
                  n_classes, loss_shape, dtype)
    plain = getattr(cxent, "cross_entropy" if fn.startswith("cross") else fn)
    with_grad = getattr(cxent, ("cross_entropy" if fn.startswith("cross") else fn) + "_and_grad")
    fkw = {k: v for k, v in kw.items() if k != "grad_output"}
    base_loss, base_g = with_grad(x, t, **kw)
    same(base_loss, plain(x, t, **fkw), dtype, err_msg="and_grad loss = plain loss")
    for label, xv in layouts(x):
        same(plain(xv, t, **fkw), base_loss, dtype, err_msg=f"loss {label}")
        loss, g = with_grad(xv, t, **kw)
        same(loss, base_loss, dtype, err_msg=f"and_grad loss {label}")
        same(g, base_g, dtype, err_msg=f"grad {label}")
        xi = xv.copy(order="K")
        loss, g = with_grad(xi, t, grad_out=xi, **kw)
        assert g is xi
        same(g, base_g, dtype, err_msg=f"in place {label}")
    for label, buf in buffers(shape, dtype):
        loss, g = with_grad(x, t, grad_out=buf, **kw)
        assert g is buf
        same(g, base_g, dtype, err_msg=f"grad_out {label}")


@pytest.mark.parametrize("shape", [(2, 21, 5, 11), (3, 40, 3, 7), (2, 5, 16), (4, 3, 9)], ids=str)
@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_class_axis_not_last_is_the_2d_call(shape, reduction, dtype, rng):
    # (N, C, d...) gives the bits of the same rows as a C-contiguous (N * d..., C) array
    x = _x(rng, shape, dtype)
    t = rng.integers(0, shape[1], (shape[0],) + shape[2:])
    x2 = np.ascontiguousarray(np.moveaxis(x, 1, -1)).reshape(-1, shape[1])
    loss, g = cxent.cross_entropy_and_grad(x, t, reduction=reduction)
    loss2, g2 = cxent.cross_entropy_and_grad(x2, t.reshape(-1), reduction=reduction)
    same(np.reshape(loss, -1), np.reshape(loss2, -1), dtype)
    same(np.moveaxis(g, 1, -1).reshape(-1, shape[1]), g2, dtype)
    same(np.moveaxis(cxent.log_softmax(x, axis=1), 1, -1).reshape(-1, shape[1]),
         cxent.log_softmax(x2, axis=1), dtype)
    same(np.moveaxis(cxent.softmax(x, axis=1), 1, -1).reshape(-1, shape[1]),
         cxent.softmax(x2, axis=1), dtype)
    same(cxent.logsumexp(x, axis=1).reshape(-1), cxent.logsumexp(x2, axis=1), dtype)


@pytest.mark.parametrize("shape", [(5, 3), (40, 333), (3, 7, 100)], ids=str)
@pytest.mark.parametrize("logits", [False, True])
def test_binary_grad_layouts(shape, logits, dtype, rng):
    if logits:
        x = np.asarray(rng.standard_normal(shape) * 4, dtype=dtype)
        f = cxent.binary_cross_entropy_with_logits_and_grad
        kw = dict(pos_weight=rng.uniform(0.5, 2, shape[-1]).astype(dtype))
    else:
        x = rng.uniform(0, 1, shape).astype(dtype)
        f = cxent.binary_cross_entropy_and_grad
        kw = {}
    y = rng.uniform(0, 1, shape).astype(dtype)
    for red in ("mean", "none"):
        base_loss, base_g = f(x, y, reduction=red, **kw)
        for label, xv in layouts(x):
            loss, g = f(xv, np.asfortranarray(y), reduction=red, **kw)
            same(loss, base_loss, dtype, err_msg=label)
            same(g, base_g, dtype, err_msg=label)
            xi = xv.copy(order="K")
            same(f(xi, y, reduction=red, grad_out=xi, **kw)[1], base_g, dtype, err_msg=label)
        for label, buf in buffers(shape, dtype):
            same(f(x, y, reduction=red, grad_out=buf, **kw)[1], base_g, dtype, err_msg=label)


@pytest.mark.parametrize("shape", [(5, 3), (2, 3, 4), (3, 1, 4, 2), (4, 5, 6, 7)], ids=str)
def test_layout_views_are_views(shape):
    # merged() and flat_2d() reshape once mergeability is decided: the result must be a view (an
    # output written into a copy would be lost), or None
    from cxent import _layout
    base = np.arange(np.prod(shape) * 8, dtype=np.float64)
    candidates = [base[:np.prod(shape)].reshape(shape), np.asfortranarray(base[:np.prod(shape)].reshape(shape)),
                  base.reshape(shape[:-1] + (shape[-1] * 8,))[..., ::8],
                  base[:np.prod(shape)].reshape(shape)[::-1],
                  np.broadcast_to(base[:shape[-1]], shape)]
    if len(shape) >= 3:
        candidates.append(base[:np.prod(shape)].reshape(shape).transpose(0, 2, 1, *range(3, len(shape))))
    for a in candidates:
        nd = a.ndim
        for groups in ([list(range(nd))], [[0], list(range(1, nd))], [list(range(nd - 1)), [nd - 1]],
                       [[0], [1], list(range(2, nd))]):
            v = _layout.merged(a, groups)
            if v is not None:
                assert np.shares_memory(v, a) and v.size == a.size
                np.testing.assert_array_equal(v.reshape(a.shape), a)
        for views in (_layout.flat_2d(a), _layout.flat_2d(a, np.empty_like(a))):
            if views is not None:
                assert np.shares_memory(views[0], a)
                np.testing.assert_array_equal(views[0].reshape(a.shape), a)


@pytest.mark.parametrize("shape", [(70, 100), (3, 100, 40)], ids=str)
def test_signed_zeros_independent_of_layout(shape, dtype, rng):
    # probabilities that underflow to 0 times a negative upstream gradient: -0 in the gradient,
    # the same sign in every layout (the column kernels add -0, not +0, to a plain product)
    x = _data(rng, shape, dtype, scale=60.0)
    t = rng.integers(0, shape[1], (shape[0],) + shape[2:])
    go = -np.ones(t.shape)
    _, base = cxent.cross_entropy_and_grad(x, t, reduction="none", grad_output=go)
    if dtype == np.float32:
        assert (np.signbit(base) & (base == 0)).any()  # the case is there to be tested
    for label, xv in layouts(x):
        _, g = cxent.cross_entropy_and_grad(xv, t, reduction="none", grad_output=go)
        same(g, base, dtype, err_msg=label)
        same(cxent.softmax(xv, axis=1), cxent.softmax(x, axis=1), dtype, err_msg=label)


def _special_rows(rng, n_rows, n_classes, dtype):
    """Rows whose arg-max is an edge case of the copying passes (first index of the max, nan never
    winning, a max of -inf), cycling through eight kinds."""
    x = np.asarray(rng.standard_normal((n_rows, n_classes)) * 3.0, dtype=dtype)
    k = n_classes // 2
    for r in range(n_rows):
        kind = r % 8
        if kind == 0:
            x[r] = -np.inf
        elif kind == 1:  # nan first, then -inf only
            x[r] = -np.inf
            x[r, 0] = np.nan
        elif kind == 2:  # nan first, a finite max later
            x[r, 0] = np.nan
        elif kind == 3:
            x[r] = np.nan
        elif kind == 4:  # -inf, then a nan
            x[r] = -np.inf
            x[r, k] = np.nan
        elif kind == 5:
            x[r, k] = np.inf
        elif kind == 6:  # a tie for the max: the first wins
            x[r, 1] = x[r, k] = 50.0
        else:
            x[r, -1] = 50.0
    return x


@pytest.mark.parametrize("n_rows, n_classes", [(256, 40), (256, 300), (256, 1000), (40, 300)],
                         ids=str)
def test_special_rows_independent_of_layout(n_rows, n_classes, dtype, rng):
    # F order puts each class's rows side by side: the row arithmetic then runs down copies
    # of 32 or 128 adjacent rows (long_cols, long_group), whose copying pass takes the arg-max
    x = _special_rows(rng, n_rows, n_classes, dtype)
    y = rng.integers(0, n_classes, n_rows)
    xf = np.asfortranarray(x)
    with np.errstate(all="ignore"):
        for name in ["softmax", "log_softmax", "logsumexp"]:
            f = getattr(cxent, name)
            same(f(xf, axis=1), f(x, axis=1), dtype, err_msg=name)
        same(cxent.cross_entropy(xf, y, reduction="none"),
             cxent.cross_entropy(x, y, reduction="none"), dtype)
        (lf, gf), (lc, gc) = (cxent.cross_entropy_and_grad(a, y, reduction="none") for a in (xf, x))
        same(lf, lc, dtype)
        same(gf, gc, dtype)
    lse = cxent.logsumexp(x, axis=1)
    assert np.isnan(lse[1::8]).all() and np.isnan(lse[3::8]).all() and np.isnan(lse[4::8]).all()
    assert (lse[0::8] == -np.inf).all() and (lse[5::8] == np.inf).all()
