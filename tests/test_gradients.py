"""Gradients: every ``*_and_grad`` against 4th-order central differences (float64), the loss it
returns equal to the plain loss bit for bit, ``grad_out``/in-place equal to the allocating call,
inputs untouched, the fused call's memory, and the verified values of torch-semantics section 5."""

import tracemalloc

import numpy as np
import pytest

import cxent


def central_diff(f, x, h=1e-4):
    """4th-order central differences of the scalar f at x (float64)."""
    g = np.zeros_like(x, dtype=np.float64)
    for idx in np.ndindex(x.shape):
        def at(d, idx=idx):
            xx = x.copy()
            xx[idx] += d
            return float(f(xx))
        g[idx] = (-at(2 * h) + 8 * at(h) - 8 * at(-h) + at(-2 * h)) / (12 * h)
    return g


def _upstream(rng, reduction, loss_shape):
    return rng.standard_normal(loss_shape) if reduction == "none" else 1.7


def _scalarise(value, go):
    return float(np.sum(np.asarray(value, dtype=np.float64) * go))


CLASS_SHAPES = [(4,), (5, 3), (3, 4, 2), (2, 3, 2, 2)]
CE_OPTIONS = [
    dict(),
    dict(reduction="sum"),
    dict(reduction="none"),
    dict(weight=True),
    dict(weight=True, label_smoothing=0.2),
    dict(weight=True, ignore_index=1, reduction="none"),
    dict(label_smoothing=0.1, ignore_index=0),
    dict(z_loss=0.1, weight=True),
    dict(z_loss=0.05, label_smoothing=0.3, reduction="sum"),
]


def _ids(o):
    return ",".join(f"{k}={v}" for k, v in o.items()) or "default"


def _class_case(rng, shape, opts):
    opts = dict(opts)
    n_classes = shape[0] if len(shape) == 1 else shape[1]
    tshape = () if len(shape) == 1 else (shape[0],) + shape[2:]
    x = rng.standard_normal(shape) * 2
    t = rng.integers(0, n_classes, tshape)
    ignore = opts.get("ignore_index", -100)
    if np.all(t == ignore):  # keep one element, or the mean is nan and so is every difference
        t = np.asarray(t)
        t.flat[0] = (ignore + 1) % n_classes
    if opts.pop("weight", False):
        opts["weight"] = rng.uniform(0.2, 2.0, n_classes)
    return x, t, opts, tshape


@pytest.mark.parametrize("opts", CE_OPTIONS, ids=_ids)
@pytest.mark.parametrize("shape", CLASS_SHAPES, ids=str)
def test_cross_entropy_grad_finite_differences(shape, opts, rng):
    x, t, kw, tshape = _class_case(rng, shape, opts)
    go = _upstream(rng, kw.get("reduction", "mean"), tshape)
    loss, g = cxent.cross_entropy_and_grad(x, t, grad_output=go, **kw)
    np.testing.assert_array_equal(loss, cxent.cross_entropy(x, t, **kw))
    num = central_diff(lambda xx: _scalarise(cxent.cross_entropy(xx, t, **kw), go), x)
    np.testing.assert_allclose(g, num, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("opts", [dict(), dict(weight=True, reduction="sum"),
                                  dict(label_smoothing=0.25, weight=True),
                                  dict(z_loss=0.2, reduction="none")], ids=_ids)
@pytest.mark.parametrize("shape", CLASS_SHAPES, ids=str)
def test_cross_entropy_prob_grad_finite_differences(shape, opts, rng):
    x, _, kw, tshape = _class_case(rng, shape, opts)
    p = rng.uniform(0, 1, shape)
    go = _upstream(rng, kw.get("reduction", "mean"), tshape)
    loss, g = cxent.cross_entropy_and_grad(x, p, grad_output=go, **kw)
    np.testing.assert_array_equal(loss, cxent.cross_entropy(x, p, **kw))
    num = central_diff(lambda xx: _scalarise(cxent.cross_entropy(xx, p, **kw), go), x)
    np.testing.assert_allclose(g, num, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("opts", [o for o in CE_OPTIONS if not {"label_smoothing", "z_loss"} & set(o)],
                         ids=_ids)
@pytest.mark.parametrize("shape", CLASS_SHAPES, ids=str)
def test_nll_grad_finite_differences(shape, opts, rng):
    x, t, kw, tshape = _class_case(rng, shape, opts)
    go = _upstream(rng, kw.get("reduction", "mean"), tshape)
    loss, g = cxent.nll_loss_and_grad(x, t, grad_output=go, **kw)
    np.testing.assert_array_equal(loss, cxent.nll_loss(x, t, **kw))
    num = central_diff(lambda xx: _scalarise(cxent.nll_loss(xx, t, **kw), go), x)
    np.testing.assert_allclose(g, num, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(), (5,), (3, 4), (2, 3, 2)], ids=str)
def test_binary_grads_finite_differences(shape, reduction, rng):
    p = np.asarray(rng.uniform(0.05, 0.95, shape))
    y = np.asarray(rng.uniform(0, 1, shape))
    x = np.asarray(rng.standard_normal(shape) * 3)
    w = rng.uniform(0.5, 2, shape[-1:]) if shape else None
    pw = rng.uniform(0.5, 3, shape[-1:]) if shape else None
    go = _upstream(rng, reduction, shape)
    loss, g = cxent.binary_cross_entropy_and_grad(p, y, weight=w, reduction=reduction,
                                                  grad_output=go)
    np.testing.assert_array_equal(loss, cxent.binary_cross_entropy(p, y, w, reduction))
    num = central_diff(lambda pp: _scalarise(cxent.binary_cross_entropy(pp, y, w, reduction), go),
                       p, h=1e-5)
    np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-8)
    kw = dict(weight=w, reduction=reduction, pos_weight=pw)
    loss, g = cxent.binary_cross_entropy_with_logits_and_grad(x, y, grad_output=go, **kw)
    np.testing.assert_array_equal(loss, cxent.binary_cross_entropy_with_logits(x, y, **kw))
    num = central_diff(
        lambda xx: _scalarise(cxent.binary_cross_entropy_with_logits(xx, y, **kw), go), x)
    np.testing.assert_allclose(g, num, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("axis", [0, 1, -1, (0, 2), None], ids=str)
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_backward_finite_differences(name, axis, rng):
    x = rng.standard_normal((3, 4, 2))
    go = rng.standard_normal(x.shape)
    f = getattr(cxent, name)
    g = getattr(cxent, name + "_backward")(go, f(x, axis=axis), axis=axis)
    num = central_diff(lambda xx: _scalarise(f(xx, axis=axis), go), x)
    np.testing.assert_allclose(g, num, rtol=1e-7, atol=1e-9)


# ------------------------------------------------------------------ buffers, in place, memory
def _layouts(x):
    yield np.array(x, order="C")
    yield np.array(x, order="F")
    if x.ndim == 4:
        yield np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)  # channels-last


@pytest.mark.parametrize("shape", [(6,), (7, 5), (3, 4, 5), (2, 5, 3, 3)], ids=str)
@pytest.mark.parametrize("opts", [dict(), dict(label_smoothing=0.1, weight=True, z_loss=0.01),
                                  dict(reduction="none")], ids=_ids)
def test_grad_out_and_in_place_equal_allocating_call(shape, opts, dtype, rng):
    x, t, kw, _ = _class_case(rng, shape, opts)
    x = x.astype(dtype)
    if "weight" in kw:
        kw["weight"] = kw["weight"].astype(dtype)
    loss0, g0 = cxent.cross_entropy_and_grad(x, t, **kw)
    assert g0.dtype == dtype and g0.shape == x.shape
    for xv in _layouts(x):
        # layouts may take different (vectorised or strided) paths: equal to rounding ...
        loss, g = cxent.cross_entropy_and_grad(xv, t, **kw)
        np.testing.assert_allclose(g, g0, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(loss, loss0, rtol=1e-6)
        # ... and, within one layout, buffer and in-place calls equal the allocating call exactly
        before = xv.copy()
        buf = np.full_like(xv, np.nan)
        loss2, g2 = cxent.cross_entropy_and_grad(xv, t, grad_out=buf, **kw)
        assert g2 is buf
        np.testing.assert_array_equal(xv, before)  # input untouched
        np.testing.assert_array_equal(g2, g)
        np.testing.assert_array_equal(loss2, loss)
        xi = xv.copy(order="K")
        loss3, g3 = cxent.cross_entropy_and_grad(xi, t, grad_out=xi, **kw)  # in place
        assert g3 is xi
        np.testing.assert_array_equal(g3, g)
        np.testing.assert_array_equal(loss3, loss)


def test_in_place_variants_of_every_loss(rng):
    x = rng.standard_normal((6, 4))
    t = rng.integers(0, 4, 6)
    for fn, args in [(cxent.nll_loss_and_grad, (t,)),
                     (cxent.cross_entropy_and_grad, (cxent.softmax(x[::-1], axis=1),)),
                     (cxent.binary_cross_entropy_with_logits_and_grad, (rng.uniform(0, 1, x.shape),))]:
        loss, g = fn(x, *args)
        xc = x.copy()
        loss2, g2 = fn(xc, *args, grad_out=xc)
        assert g2 is xc
        np.testing.assert_array_equal(g2, g)
        np.testing.assert_array_equal(loss2, loss)
    p = rng.uniform(0.1, 0.9, (5, 3))
    y = rng.uniform(0, 1, (5, 3))
    loss, g = cxent.binary_cross_entropy_and_grad(p, y)
    pc = p.copy()
    assert cxent.binary_cross_entropy_and_grad(pc, y, grad_out=pc)[1] is pc
    np.testing.assert_array_equal(pc, g)


def test_in_place_bce_validates_before_writing():
    p = np.array([0.5, 1.5])
    with pytest.raises(ValueError, match="input"):
        cxent.binary_cross_entropy_and_grad(p, np.array([0.0, 1.0]), grad_out=p)
    np.testing.assert_array_equal(p, [0.5, 1.5])


def test_bad_target_leaves_in_place_input_untouched(rng):
    x = rng.standard_normal((4, 3))
    before = x.copy()
    with pytest.raises(IndexError, match="target"):
        cxent.cross_entropy_and_grad(x, np.array([0, 1, 3, 0]), grad_out=x)
    np.testing.assert_array_equal(x, before)


def test_grad_out_validation(rng):
    x = rng.standard_normal((4, 3))
    t = np.array([0, 1, 2, 0])
    with pytest.raises(TypeError, match="grad_out"):
        cxent.cross_entropy_and_grad(x, t, grad_out=np.empty((4, 3), np.float32))
    with pytest.raises(ValueError, match="grad_out"):
        cxent.cross_entropy_and_grad(x, t, grad_out=np.empty((3, 4)))
    with pytest.raises(ValueError, match="grad_out"):
        cxent.cross_entropy_and_grad(x, t, grad_out=x[::-1])  # overlaps, but is not `input`
    ro = np.empty((4, 3))
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="grad_out"):
        cxent.cross_entropy_and_grad(x, t, grad_out=ro)
    with pytest.raises(ValueError, match="grad_output"):
        cxent.cross_entropy_and_grad(x, t, grad_output=np.ones(4))  # mean needs a scalar
    with pytest.raises(ValueError, match="grad_output"):
        cxent.cross_entropy_and_grad(x, t, reduction="none", grad_output=np.ones(3))


def test_in_place_call_allocates_no_n_by_c_array(rng):
    n, c = 4000, 1000
    x = rng.standard_normal((n, c)).astype(np.float32)
    t = rng.integers(0, c, n)
    cxent.cross_entropy_and_grad(x[:10], t[:10], grad_out=x[:10])  # warm up
    tracemalloc.start()
    cxent.cross_entropy_and_grad(x, t, grad_out=x, label_smoothing=0.1)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < x.nbytes / 20, f"peak {peak} bytes vs N x C = {x.nbytes} bytes"


def test_class_and_grad_methods(rng):
    x = rng.standard_normal((5, 3))
    t = rng.integers(0, 3, 5)
    w = np.array([0.2, 1.0, 3.0])
    for obj, fn, target in [
        (cxent.CrossEntropyLoss(weight=w, label_smoothing=0.1), cxent.cross_entropy_and_grad, t),
        (cxent.NLLLoss(weight=w, reduction="sum"), cxent.nll_loss_and_grad, t),
        (cxent.BCELoss(), cxent.binary_cross_entropy_and_grad, rng.uniform(0, 1, (5, 3))),
        (cxent.BCEWithLogitsLoss(pos_weight=w), cxent.binary_cross_entropy_with_logits_and_grad,
         rng.uniform(0, 1, (5, 3))),
    ]:
        inp = cxent.sigmoid(x) if isinstance(obj, cxent.BCELoss) else x
        loss, g = obj.and_grad(inp, target, grad_output=2.0)
        kw = {k: getattr(obj, k) for k in obj._options}
        loss2, g2 = fn(inp, target, grad_output=2.0, **kw)
        np.testing.assert_array_equal(loss, loss2)
        np.testing.assert_array_equal(g, g2)
        np.testing.assert_array_equal(loss, obj(inp, target))


# ------------------------------------------------------------------ torch-semantics section 5
X = np.array([[1, 2, 3], [1, -1, 0.5], [0, 0, 0], [2, 1, -1]], dtype=np.float64)
W = np.array([0.2, 1.0, 3.0])
Y = np.array([2, 0, -100, 1])


def test_spec_verified_gradients():
    g = cxent.cross_entropy_and_grad(X, Y)[1]
    np.testing.assert_allclose(g[0], [0.030010191056793478, 0.08157615701826587,
                                      -0.1115863480750594], rtol=1e-14)
    g = cxent.cross_entropy_and_grad(X, Y, weight=W)[1]
    np.testing.assert_allclose(g[0], [0.06430755226455745, 0.17480605075342687,
                                      -0.2391136030179844], rtol=1e-14)
    g = cxent.cross_entropy_and_grad(X, Y, weight=W, label_smoothing=0.1)[1]
    np.testing.assert_allclose(g[0], [0.05929051455647946, 0.15754655344340282,
                                      -0.21683706799988242], rtol=1e-13)
    assert not g[2].any()  # the ignored row
    P = np.array([[0, 0, 1], [0.5, 0.5, 0], [0.2, 0.3, 0.5], [1, 0, 0]])
    g = cxent.cross_entropy_and_grad(X, P, weight=W)[1]
    np.testing.assert_allclose(g[1], [0.06111454894515418, -0.11334566312771441,
                                      0.05223111418256022], rtol=1e-13)
    lp = cxent.log_softmax(X, axis=1)
    g = cxent.nll_loss_and_grad(lp, Y, weight=W)[1]
    np.testing.assert_allclose(g, [[0, 0, -0.7142857143], [-0.0476190476, 0, 0], [0, 0, 0],
                                   [0, -0.2380952381, 0]], rtol=1e-9)
    g = cxent.nll_loss_and_grad(lp[:2], np.array([2, -100]), weight=W, reduction="none",
                                grad_output=np.array([2.0, 5.0]))[1]
    np.testing.assert_array_equal(g, [[0, 0, -6], [0, 0, 0]])


def test_spec_binary_gradients():
    x = np.array([-3, -0.5, 0, 2, 10.0])
    y = np.array([0, 1, 0.5, 1, 0])
    g = cxent.binary_cross_entropy_with_logits_and_grad(
        x, y, weight=np.array([1, 2, 1, 0.5, 1.0]), pos_weight=np.array([2, 3, 0.5, 1, 4.0]))[1]
    np.testing.assert_allclose(g, [0.009485174635513356, -0.7469511974422256, 0.025,
                                   -0.011920292202211769, 0.19999092042625952], rtol=1e-13)
    g = cxent.binary_cross_entropy_with_logits_and_grad(np.array([-np.inf, np.inf]),
                                                        np.array([1.0, 0.0]), reduction="sum")[1]
    np.testing.assert_array_equal(g, [-1.0, 1.0])  # finite where the loss is nan / inf
    g = cxent.binary_cross_entropy_and_grad(np.array([0.2, 0.9, 0.5]), np.array([0, 1, 0.3]),
                                            reduction="sum")[1]
    np.testing.assert_allclose(g, [1.25, -1.1111111111, 0.8], rtol=1e-10)
    g = cxent.binary_cross_entropy_and_grad(np.array([0, 1, 0.3], np.float32),
                                            np.array([1, 0, 0.3], np.float32), reduction="sum")[1]
    np.testing.assert_array_equal(g, np.array([-999999995904.0, 999999995904.0, 0], np.float32))
    g = cxent.binary_cross_entropy_and_grad(np.array([0.0, 1.0]), np.array([1.0, 0.0]),
                                            reduction="sum")[1]  # EPS is float32(1e-12) in f64 too
    np.testing.assert_allclose(g, [-1 / np.float64(np.float32(1e-12)), 1 / np.float64(np.float32(1e-12))])


@pytest.mark.parametrize("extra", [dict(), dict(weight=W), dict(label_smoothing=0.2)], ids=_ids)
def test_all_ignored_mean_has_zero_gradient(extra):
    loss, g = cxent.cross_entropy_and_grad(X, np.full(4, -100), **extra)
    assert np.isnan(loss)
    np.testing.assert_array_equal(g, np.zeros_like(X))
    loss, g = cxent.nll_loss_and_grad(X, np.full(4, -100))
    assert np.isnan(loss) and not g.any()


def test_zero_weight_sum_gradient_is_nan():
    w = np.array([0.0, 0.0, 1.0])
    y = np.array([0, 1, 0, 1])
    loss, g = cxent.cross_entropy_and_grad(X, y, weight=w)  # torch: nan everywhere
    assert np.isnan(loss) and np.isnan(g).all()
    loss, g = cxent.nll_loss_and_grad(X, y, weight=w)  # torch: nan at the targets only
    assert np.isnan(g[np.arange(4), y]).all()
    mask = np.ones_like(g, bool)
    mask[np.arange(4), y] = False
    assert not g[mask].any()


def test_non_finite_rows():
    g = cxent.cross_entropy_and_grad(np.array([[-np.inf, -np.inf], [np.inf, 0], [-np.inf, 0]]),
                                     np.array([1, 1, 1]), reduction="sum")[1]
    assert np.isnan(g[:2]).all()
    np.testing.assert_array_equal(g[2], [0, 0])
    y = cxent.softmax(np.array([-np.inf, 0, 1], np.float32))
    g = cxent.softmax_backward(np.array([0, 0, 1], np.float32), y)
    np.testing.assert_allclose(g, [0, -0.1966119409, 0.1966119260], rtol=1e-6)
    assert np.signbit(g[0])


def test_empty_batch_gradient():
    loss, g = cxent.cross_entropy_and_grad(np.zeros((0, 3)), np.zeros(0, np.int64))
    assert np.isnan(loss) and g.shape == (0, 3)
