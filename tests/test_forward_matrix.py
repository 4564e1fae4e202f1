"""cxent against its float64/longdouble reference twin over the array zoo.

Every public forward function is compared with ``cxent._reference`` over float32/float64, odd shapes
(C = 1, N = 1, primes), every class axis, and memory layouts: C order, F order, transposes, negative
and step slices, broadcast (zero-stride) views.  Layout never changes a result: every row goes
through the same arithmetic wherever it sits in memory, so ``same`` demands equal bits.
"""

import numpy as np
import pytest
from conftest import tol

import cxent
from cxent import _reference as ref

SHAPES = [(7,), (1, 1), (5, 1), (1, 9), (13, 7), (3, 5, 4), (2, 3, 4, 5), (2, 1, 3, 1), (9, 37),
          (3, 40, 5), (11, 33, 2)]


def layouts(x):
    """Views of ``x``'s values in different memory layouts (all equal to ``x``)."""
    yield "C", np.array(x, order="C")
    yield "F", np.array(x, order="F")
    if x.ndim >= 2:
        yield "T", np.ascontiguousarray(x.T).T
        # a step slice in the last axis and a reversed first axis
        big = np.repeat(x, 2, axis=-1)[..., ::2]
        yield "step", big
        yield "neg", np.ascontiguousarray(x[::-1])[::-1]
    if x.ndim >= 3:
        perm = (1, 0) + tuple(range(2, x.ndim))
        yield "perm", np.ascontiguousarray(x.transpose(perm)).transpose(perm)
        big = np.zeros(tuple(2 * n for n in x.shape), x.dtype)
        big[tuple(slice(None, None, 2) for _ in x.shape)] = x
        yield "every-2nd", big[tuple(slice(None, None, 2) for _ in x.shape)]


def same(actual, desired, dtype, err_msg=""):
    """Bitwise equal (nan where nan, and the sign of every zero), and of the same dtype: the
    layout never changes a result."""
    a, d = np.asarray(actual), np.asarray(desired)
    assert a.dtype == d.dtype == dtype, err_msg
    np.testing.assert_array_equal(a, d, err_msg=err_msg, strict=True)
    num = ~np.isnan(a)  # nan payloads and signs are not compared
    np.testing.assert_array_equal(np.signbit(a[num]), np.signbit(d[num]),
                                  err_msg=f"{err_msg} (sign bits)")


def _data(rng, shape, dtype, scale=3.0):
    return np.asarray(rng.standard_normal(shape) * scale, dtype=dtype)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp"])
def test_normalisers_every_axis_and_layout(name, shape, dtype, rng):
    x = _data(rng, shape, dtype)
    f, g = getattr(cxent, name), getattr(ref, name)
    for axis in range(-x.ndim, x.ndim):
        expected = g(x, axis=axis)
        base = f(x, axis=axis)
        assert base.dtype == dtype and base.shape == expected.shape
        np.testing.assert_allclose(base, expected, **tol(dtype, 4))
        for label, xv in layouts(x):
            same(f(xv, axis=axis), base, dtype, err_msg=f"{label} axis={axis}")


@pytest.mark.parametrize("axis", [None, (0, 2), (1, 3), (0, 1), (2, 3), (0, 1, 2, 3), (3, 0), ()],
                         ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
def test_logsumexp_axes(axis, keepdims, dtype, rng):
    x = _data(rng, (3, 4, 5, 2), dtype)
    expected = ref.logsumexp(x, axis=axis, keepdims=keepdims)
    for label, xv in layouts(x):
        got = cxent.logsumexp(xv, axis=axis, keepdims=keepdims)
        assert got.shape == expected.shape and got.dtype == dtype, label
        np.testing.assert_allclose(got, expected, **tol(dtype, 4), err_msg=label)


@pytest.mark.parametrize("axis", [None, (0, 2), (1, 3), (2, 3)], ids=str)
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_axes_tuple(name, axis, dtype, rng):
    x = _data(rng, (3, 4, 5, 2), dtype)
    expected = getattr(ref, name)(x, axis=axis)
    for label, xv in layouts(x):
        np.testing.assert_allclose(getattr(cxent, name)(xv, axis=axis), expected, **tol(dtype, 4),
                                   err_msg=label)


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp", "sigmoid", "log_sigmoid"])
def test_out_argument(name, dtype, rng):
    x = _data(rng, (6, 5), dtype)
    f = getattr(cxent, name)
    expected = f(x)
    for order in "CF":
        out = np.empty(expected.shape, dtype, order=order)
        assert f(x, out=out) is out
        same(out, expected, dtype)
    strided = np.empty((expected.shape[0], 2 * expected.shape[-1]), dtype)[:, ::2] if \
        expected.ndim == 2 else np.empty(2 * expected.shape[0], dtype)[::2]
    assert f(x, out=strided) is strided
    same(strided, expected, dtype)


def test_logsumexp_out_keepdims(rng):
    x = _data(rng, (4, 3), np.float64)
    out = np.empty((4, 1))
    assert cxent.logsumexp(x, axis=1, keepdims=True, out=out) is out
    np.testing.assert_allclose(out[:, 0], ref.logsumexp(x, axis=1), **tol(np.float64))


@pytest.mark.parametrize("shape", SHAPES + [(), (0,), (3, 0)], ids=str)
@pytest.mark.parametrize("name", ["sigmoid", "log_sigmoid"])
def test_elementwise_layouts(name, shape, dtype, rng):
    x = _data(rng, shape, dtype, scale=20.0)
    expected = getattr(ref, name)(x)
    for label, xv in layouts(x):
        got = getattr(cxent, name)(xv)
        assert got.shape == x.shape and got.dtype == dtype
        np.testing.assert_allclose(got, expected, **tol(dtype), err_msg=label)
        same(got, getattr(cxent, name)(x), dtype, err_msg=label)
    wide = np.broadcast_to(x, (2,) + x.shape)  # zero stride
    same(getattr(cxent, name)(wide)[1], getattr(cxent, name)(x), dtype)


# ------------------------------------------------------------------ class losses
LOSS_SHAPES = [(5,), (1, 1), (9, 1), (8, 7), (1, 6), (4, 3, 5), (2, 4, 3, 5), (3, 2, 1, 2, 2),
               (10, 37), (3, 34, 5), (2, 33, 3, 3)]


def _targets(rng, shape, ignore=None):
    n_classes = shape[0] if len(shape) == 1 else shape[1]
    tshape = () if len(shape) == 1 else (shape[0],) + shape[2:]
    t = rng.integers(0, n_classes, size=tshape)
    if ignore is not None and t.ndim:
        t.flat[::3] = ignore
    return t


OPTIONS = [
    dict(),
    dict(reduction="sum"),
    dict(reduction="none"),
    dict(weight=True),
    dict(weight=True, reduction="none"),
    dict(ignore_index=-100, ignore=-100),
    dict(ignore_index=1, ignore=1, weight=True),
    dict(label_smoothing=0.2),
    dict(label_smoothing=0.3, weight=True, ignore_index=-1, ignore=-1, reduction="sum"),
    dict(label_smoothing=1.0, reduction="none"),
]


def _loss_args(rng, shape, dtype, opts):
    opts = dict(opts)
    ignore = opts.pop("ignore", None)
    n_classes = shape[0] if len(shape) == 1 else shape[1]
    if opts.pop("weight", False):
        opts["weight"] = rng.uniform(0.1, 2.0, n_classes).astype(dtype)
    return _targets(rng, shape, ignore), opts


@pytest.mark.parametrize("opts", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items())
                         or "default")
@pytest.mark.parametrize("shape", LOSS_SHAPES, ids=str)
def test_cross_entropy_index(shape, opts, dtype, rng):
    x = _data(rng, shape, dtype)
    t, kw = _loss_args(rng, shape, dtype, opts)
    if "label_smoothing" in kw and "ignore_index" not in kw and len(shape) == 1:
        pass
    expected = ref.cross_entropy(x, t, **kw)
    base = cxent.cross_entropy(x, t, **kw)
    assert np.asarray(base).dtype == dtype and np.shape(base) == np.shape(expected)
    np.testing.assert_allclose(base, expected, **tol(dtype, 4))
    for label, xv in layouts(x):
        for tv in (t, np.asfortranarray(t), t.astype(np.int32)):
            same(cxent.cross_entropy(xv, tv, **kw), base, dtype, err_msg=label)


@pytest.mark.parametrize("opts", [o for o in OPTIONS if "label_smoothing" not in o],
                         ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default")
@pytest.mark.parametrize("shape", LOSS_SHAPES, ids=str)
def test_nll_loss(shape, opts, dtype, rng):
    x = ref.log_softmax(_data(rng, shape, dtype), axis=0 if len(shape) == 1 else 1)
    t, kw = _loss_args(rng, shape, dtype, opts)
    base = cxent.nll_loss(x, t, **kw)
    np.testing.assert_allclose(base, ref.nll_loss(x, t, **kw), **tol(dtype, 4))
    for label, xv in layouts(x):
        same(cxent.nll_loss(xv, t, **kw), base, dtype, err_msg=label)


@pytest.mark.parametrize("opts", [dict(), dict(reduction="sum"), dict(reduction="none"),
                                  dict(weight=True), dict(label_smoothing=0.25, weight=True)],
                         ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default")
@pytest.mark.parametrize("shape", LOSS_SHAPES, ids=str)
def test_cross_entropy_probabilities(shape, opts, dtype, rng):
    x = _data(rng, shape, dtype)
    axis = 0 if len(shape) == 1 else 1
    p = ref.softmax(_data(rng, shape, dtype), axis=axis)
    _, kw = _loss_args(rng, shape, dtype, opts)
    base = cxent.cross_entropy(x, p, **kw)
    np.testing.assert_allclose(base, ref.cross_entropy(x, p, **kw), **tol(dtype, 4))
    for label, xv in layouts(x):
        for plabel, pv in layouts(p):
            same(cxent.cross_entropy(xv, pv, **kw), base, dtype, err_msg=f"{label}/{plabel}")


def test_probability_target_promotes(rng):
    x = _data(rng, (4, 3), np.float32)
    p = ref.softmax(_data(rng, (4, 3), np.float64), axis=1)
    got = cxent.cross_entropy(x, p)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, ref.cross_entropy(x.astype(np.float64), p), **tol(np.float64))


# ------------------------------------------------------------------ binary losses
BIN_SHAPES = [(), (1,), (7,), (5, 3), (2, 3, 4), (3, 1, 2, 2), (50, 333), (3, 7, 1000)]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", BIN_SHAPES, ids=str)
def test_binary_cross_entropy(shape, reduction, dtype, rng):
    p = rng.uniform(0, 1, shape).astype(dtype)
    y = rng.uniform(0, 1, shape).astype(dtype)
    w = rng.uniform(0.5, 2, shape[-1:]).astype(dtype) if shape else None
    base = cxent.binary_cross_entropy(p, y, weight=w, reduction=reduction)
    np.testing.assert_allclose(base, ref.binary_cross_entropy(p, y, weight=w, reduction=reduction),
                               **tol(dtype, 4))
    for label, pv in layouts(p):
        got = cxent.binary_cross_entropy(pv, np.array(y, order="F"), weight=w, reduction=reduction)
        same(got, base, dtype, err_msg=label)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", BIN_SHAPES, ids=str)
def test_bce_with_logits(shape, reduction, dtype, rng):
    x = _data(rng, shape, dtype, scale=5)
    y = rng.uniform(0, 1, shape).astype(dtype)
    kw = dict(reduction=reduction)
    if len(shape) >= 2:
        kw["weight"] = rng.uniform(0.5, 2, shape[:1] + (1,) * (len(shape) - 1)).astype(dtype)
        kw["pos_weight"] = rng.uniform(0.5, 3, shape[-1:]).astype(dtype)
    base = cxent.binary_cross_entropy_with_logits(x, y, **kw)
    np.testing.assert_allclose(base, ref.binary_cross_entropy_with_logits(x, y, **kw),
                               **tol(dtype, 4))
    for label, xv in layouts(x):
        got = cxent.binary_cross_entropy_with_logits(xv, y, **kw)
        same(got, base, dtype, err_msg=label)


def test_bce_weight_broadcast_that_does_not_coalesce(rng):
    # a (N, 1, D) weight on (N, M, D) input cannot be walked as 2-d: it is materialised once
    x = _data(rng, (3, 4, 5), np.float64)
    y = rng.uniform(0, 1, (3, 4, 5))
    w = rng.uniform(0.5, 2, (3, 1, 5))
    for red in ["mean", "none"]:
        np.testing.assert_allclose(
            cxent.binary_cross_entropy_with_logits(x, y, weight=w, reduction=red),
            ref.binary_cross_entropy_with_logits(x, y, weight=w, reduction=red), **tol(np.float64))


# ------------------------------------------------------------------ accuracy of float32
def test_float32_million_classes_accuracy(rng):
    """float32 row sums accumulate in double: C = 1e6 keeps float32 accuracy (torch: 1.7e-4)."""
    x = (rng.standard_normal(1_000_000) * 3).astype(np.float32)
    x64 = x.astype(np.float64)
    m = x64.max()
    lse64 = m + np.log(np.sum(np.exp(x64 - m)))
    assert abs(float(cxent.logsumexp(x)) - lse64) <= 2e-6 * abs(lse64)
    lsm = cxent.log_softmax(x)
    np.testing.assert_allclose(x64 - lsm.astype(np.float64), lse64, rtol=0, atol=4e-6)
    assert abs(np.sum(cxent.softmax(x).astype(np.float64)) - 1) < 1e-5
    ce = float(cxent.cross_entropy(x, np.array(12345)))
    assert abs(ce - (lse64 - x64[12345])) <= 2e-7 * abs(lse64 - x64[12345]) + 1e-6
    # along a non-last axis too (torch: 2e-3 there)
    col = np.ascontiguousarray(np.stack([x, x[::-1]], axis=1))
    np.testing.assert_allclose(cxent.logsumexp(col, axis=0), [lse64, lse64], rtol=2e-7)


def test_float32_batch_mean_accuracy(rng):
    x = (rng.standard_normal((200_000, 10)) * 3).astype(np.float32)
    t = rng.integers(0, 10, 200_000)
    exact = ref.cross_entropy(x.astype(np.float64), t)
    assert abs(float(cxent.cross_entropy(x, t)) - exact) <= 2e-7 * exact


def test_dominant_logit_keeps_its_tiny_loss():
    # torch's float32 gives 0.0; cxent keeps exp(-20) (the log1p form)
    got = cxent.cross_entropy(np.array([[20.0, 0.0]], np.float32), np.array([0]))
    np.testing.assert_allclose(got, 2.0611536900e-09, rtol=1e-6)
    got64 = cxent.cross_entropy(np.array([[40.0, 0.0]]), np.array([0]))
    np.testing.assert_allclose(got64, np.exp(-40.0), rtol=1e-14)
