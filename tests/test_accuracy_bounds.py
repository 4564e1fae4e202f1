"""The accuracy bounds the docstrings state, proven on many values (both SIMD paths run this file:
CI runs the suite once more with CXENT_SIMD=portable).

Bounds are in ulps of the input dtype, against a long-double reference (``np.longdouble``, 64-bit
mantissa on x86-64), on logits 3 N(0, 1) (rows) and 6 N(0, 1) (element-wise):

* sigmoid <= 4 ulp, log_sigmoid <= 5 ulp of the result (10^7 float32 values, 2 10^6 float64);
* softmax <= 40 ulp of the result: ``x - m`` is rounded to the input dtype before the exp;
* log_softmax, logsumexp and cross_entropy(reduction='none') <= 8 ulp of max(|result|, |m|, L)
  (m the row max, L the log-normaliser): the value is formed as ``(x - m) - L`` / ``m + L``, so
  where it cancels to near 0 the error is that of m or L, not of the small result.
"""

import numpy as np
import pytest

import cxent

ROW_C = [3, 10, 32, 33, 1000]


def _ulp(v, dtype):
    return np.spacing(np.abs(np.asarray(v, np.longdouble)).astype(dtype)).astype(np.longdouble)


def _err(got, exact, scale, dtype):
    return float((np.abs(np.asarray(got, np.longdouble) - exact) / _ulp(scale, dtype)).max())


@pytest.mark.parametrize("name, bound", [("sigmoid", 4.0), ("log_sigmoid", 5.0)])
def test_elementwise_bound(name, bound, dtype):
    rng = np.random.default_rng(11)
    n = 10**7 if dtype == np.float32 else 2 * 10**6
    x = np.concatenate([rng.standard_normal(n) * 6, np.linspace(-100, 30, 10**5)]).astype(dtype)
    xl = x.astype(np.longdouble)
    e = np.exp(-np.abs(xl))
    exact = np.where(xl >= 0, 1 / (1 + e), e / (1 + e)) if name == "sigmoid" else \
        np.minimum(xl, 0) - np.log1p(e)
    got = getattr(cxent, name)(x)
    keep = exact != 0
    assert _err(got[keep], exact[keep], exact[keep], dtype) <= bound


@pytest.mark.parametrize("n_classes", ROW_C)
def test_row_bounds(n_classes, dtype):
    rng = np.random.default_rng(12)
    n = 2 * 10**6 // n_classes
    x = (rng.standard_normal((n, n_classes)) * 3).astype(dtype)
    t = rng.integers(0, n_classes, n)
    xl = x.astype(np.longdouble)
    m = xl.max(axis=1, keepdims=True)
    lnorm = np.log(np.exp(xl - m).sum(axis=1, keepdims=True))
    ls = (xl - m) - lnorm
    scale = np.maximum(np.abs(ls), np.maximum(np.abs(m), lnorm))
    assert _err(cxent.log_softmax(x, axis=1), ls, scale, dtype) <= 8
    assert _err(cxent.softmax(x, axis=1), np.exp(ls), np.exp(ls), dtype) <= 40
    lse = (m + lnorm)[:, 0]
    assert _err(cxent.logsumexp(x, axis=1), lse, np.maximum(np.abs(lse), np.abs(m[:, 0])),
                dtype) <= 8
    rows = np.arange(n)
    assert _err(cxent.cross_entropy(x, t, reduction="none"), -ls[rows, t], scale[rows, t],
                dtype) <= 8
