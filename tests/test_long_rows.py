"""Rows of more than ONLINE_MIN (65536) classes: one read from memory for their statistics
(``_lib/_rows.pyx`` note F).  Accuracy against a long-double reference, torch's special values
across blocks, bits independent of layout and thread count."""

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import cxent

ONLINE_MIN, BLOCK = 65536, 8192
LENGTHS = [ONLINE_MIN + 1, 3 * BLOCK * 4 + 77, 2**18 + 3]


def _lse(x):
    """log-sum-exp of the last axis in long double."""
    x = np.asarray(x, np.longdouble)
    m = np.max(x, axis=-1, keepdims=True)
    return (m + np.log(np.sum(np.exp(x - m), axis=-1, keepdims=True)))[..., 0]


def _rows(rng, n, dtype, k=3, scale=3.0):
    return (rng.standard_normal((k, n)) * scale).astype(dtype)


def _ulps(got, want, dtype, scale=None):
    """|got - want| in ulps of ``scale`` (default: of ``want``) in ``dtype``."""
    want = np.asarray(want, np.longdouble)
    scale = np.abs(want) if scale is None else scale
    return np.abs(np.asarray(got, np.longdouble) - want) / np.spacing(
        np.asarray(scale).astype(dtype)).astype(np.longdouble)


@pytest.mark.parametrize("n", LENGTHS)
def test_long_row_accuracy(n, dtype, rng):
    # float32 (sums in double): within 1 ulp of the value (log_softmax: 2); float64: the
    # docstrings' bounds, 8 ulp of max(|result|, |m|, L) (the portable float64 kernels sum in
    # class order, whose error grows with C)
    x = _rows(rng, n, dtype)
    t = rng.integers(0, n, 3)
    lse = _lse(x)
    m = np.max(x, axis=1).astype(np.longdouble)
    f32 = dtype == np.float32
    got = cxent.logsumexp(x, axis=1)
    scale = np.abs(lse) if f32 else np.maximum(np.abs(lse), np.abs(m))
    assert _ulps(got, lse, dtype, scale).max() <= (1.0 if f32 else 8.0)
    loss = cxent.cross_entropy(x, t, reduction="none")
    want = lse - x[np.arange(3), t].astype(np.longdouble)
    scale = np.abs(want) if f32 else np.maximum(np.abs(want), np.abs(lse - m))
    assert _ulps(loss, want, dtype, scale).max() <= (1.0 if f32 else 8.0)
    ls = cxent.log_softmax(x, axis=1)
    exact = x.astype(np.longdouble) - lse[:, None]
    scale = np.abs(exact) if f32 else np.maximum(np.abs(exact), np.abs(lse - m)[:, None])
    assert _ulps(ls, exact, dtype, scale).max() <= (2.0 if f32 else 8.0)
    sm = cxent.softmax(x, axis=1).astype(np.longdouble)
    np.testing.assert_allclose(sm.sum(axis=1), 1.0, rtol=0, atol=n * np.finfo(dtype).eps / 8)
    _, g = cxent.cross_entropy_and_grad(x, t, reduction="sum")
    gw = np.exp(exact)
    gw[np.arange(3), t] -= 1
    np.testing.assert_allclose(g, gw.astype(np.float64), rtol=0,
                               atol=8 * np.finfo(dtype).eps * np.abs(gw).max())


def test_long_row_special_values(dtype):
    n = 9 * BLOCK + 11
    assert n > ONLINE_MIN
    x = np.full((7, n), -3.0, dtype)
    x[0, 4 * BLOCK + 5] = 30.0  # the maximum in a late block, after smaller block maxima
    x[0, 7] = 2.0
    x[1, :] = 0.0  # equal maxima in every block: L = log(n)
    x[2, 3 * BLOCK] = np.inf  # +inf in a later block
    x[3, 2 * BLOCK:3 * BLOCK] = -np.inf  # a block of -inf
    x[4, 4 * BLOCK + 1] = np.nan
    x[5, :] = -np.inf
    x[6, :BLOCK] = np.nan  # a first block of nan, then finite values
    lse = cxent.logsumexp(x, axis=1)
    with np.errstate(all="ignore"):
        want = _lse(x[[0, 1, 3]]).astype(np.float64)
    np.testing.assert_allclose(lse[[0, 1, 3]], want, rtol=2 * np.finfo(dtype).eps)
    assert lse[1] == dtype.type(np.log(np.float64(n)))
    assert lse[2] == np.inf and np.isnan(lse[4]) and lse[5] == -np.inf and np.isnan(lse[6])
    # the dominant logit keeps its tiny loss (rest without the arg-max term)
    loss = cxent.cross_entropy(x[:1], np.array([4 * BLOCK + 5]), reduction="none")
    tiny = np.exp(np.longdouble(2.0) - 30) + (n - 2) * np.exp(np.longdouble(-33.0))
    # float32: terms summed in double; float64: the n-term double sum's rounding
    rtol = 4 * np.finfo(dtype).eps if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(loss[0], float(np.log1p(tiny)), rtol=rtol)
    assert loss[0] > 0
    with np.errstate(all="ignore"):
        ls = cxent.log_softmax(x, axis=1)
    assert np.isnan(ls[2]).all() and np.isnan(ls[4]).all() and np.isnan(ls[5]).all()
    assert np.isnan(ls[6]).all()


@pytest.mark.parametrize("fn", ["log_softmax", "softmax", "logsumexp", "cross_entropy",
                                "cross_entropy_and_grad", "cross_entropy(ls)"])
@pytest.mark.parametrize("k", [1, 3])  # 1: fewer rows than threads, each row's blocks split
def test_long_rows_bits_independent_of_layout_and_threads(fn, k, dtype, rng):
    n = ONLINE_MIN + 1000 if k > 1 else 7 * BLOCK * 2 + 3
    x = _rows(rng, n, dtype, k=k)
    t = rng.integers(0, n, k)

    def call(a, axis):
        if fn in ("log_softmax", "softmax", "logsumexp"):
            return getattr(cxent, fn)(a, axis=axis)
        tt = t if a.ndim == 2 else t[:, None]
        if fn == "cross_entropy":
            return cxent.cross_entropy(a, tt, reduction="none")
        if fn == "cross_entropy(ls)":
            return cxent.cross_entropy(a, tt, reduction="none", label_smoothing=0.1)
        return cxent.cross_entropy_and_grad(a, tt, reduction="none")

    def flat(r):
        return [np.asarray(v) for v in (r if isinstance(r, tuple) else (r,))]

    base = flat(call(x, 1))
    with threadpool_limits(1):
        serial = flat(call(x, 1))
    views = {"F": np.asfortranarray(x), "reversed": x[::-1][::-1],
             "strided": np.repeat(x, 2, axis=1)[:, ::2]}
    for label, v in views.items():
        for a, b in zip(flat(call(v, 1)), base):
            np.testing.assert_array_equal(a, b, err_msg=label)
    # the class axis not last: (N, C, 1) whose class stride is 1 row apart
    nc1 = np.ascontiguousarray(x[:, :, None].transpose(0, 2, 1)).transpose(0, 2, 1)
    for a, b in zip(flat(call(nc1, 1)), base):
        np.testing.assert_array_equal(a.reshape(b.shape), b, err_msg="(N, C, 1)")
    for a, b in zip(serial, base):
        np.testing.assert_array_equal(a, b, err_msg="1 thread")
    if fn == "logsumexp":  # and the values are right (the split's combination in block order)
        np.testing.assert_allclose(base[0], _lse(x).astype(np.float64),
                                   rtol=2 * np.finfo(dtype).eps)
