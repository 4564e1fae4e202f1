"""What PyTorch users (and NumPy/SciPy users) expect at the API: ``dim=`` for ``axis=``,
softmax's ``dtype=``, NumPy scalars from full reductions."""

import inspect

import numpy as np
import pytest

import cxent

RNG = np.random.default_rng(15)
X = RNG.normal(size=(4, 5, 3))

AXIS_FUNCS = ["softmax", "log_softmax", "logsumexp"]


@pytest.mark.parametrize("name", AXIS_FUNCS)
@pytest.mark.parametrize("axis", [0, 1, -1, (0, 2)])
def test_dim_is_axis(name, axis):
    f = getattr(cxent, name)
    np.testing.assert_array_equal(f(X, dim=axis), f(X, axis=axis))
    np.testing.assert_array_equal(f(X, dim=axis), f(X, axis))


@pytest.mark.parametrize("name", ["softmax_backward", "log_softmax_backward"])
def test_dim_in_backward(name):
    f = getattr(cxent, name)
    y, g = cxent.softmax(X, axis=1), RNG.normal(size=X.shape)
    np.testing.assert_array_equal(f(g, y, dim=1), f(g, y, axis=1))


@pytest.mark.parametrize("name", AXIS_FUNCS + ["softmax_backward", "log_softmax_backward"])
def test_axis_and_dim_together_raise(name):
    f = getattr(cxent, name)
    args = (X,) if name in AXIS_FUNCS else (X, X)
    with pytest.raises(TypeError, match="not both"):
        f(*args, axis=0, dim=1)
    with pytest.raises(TypeError, match="not both"):
        f(*args, -1, dim=1)  # an explicit -1 is still an axis
    default = inspect.signature(f).parameters["axis"].default
    assert default == -1 and repr(default) == "-1"


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_dtype_casts_first(name):
    f = getattr(cxent, name)
    h = X.astype(np.float16)
    got = f(h, dim=1, dtype=np.float32)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, f(h.astype(np.float32), axis=1))
    got = f(X.astype(np.float32), dim=1, dtype="float64")
    np.testing.assert_array_equal(got, f(X.astype(np.float32).astype(np.float64), axis=1))
    with pytest.raises(TypeError, match="`dtype` must be float32, float64 or None"):
        f(X, dtype=np.int64)
    with pytest.raises(TypeError, match="`x` has dtype complex128"):
        f(X.astype(complex), dtype=np.float64)


SCALAR_CALLS = [
    lambda: cxent.logsumexp(np.array([1000.0, 1000.0]), axis=None),
    lambda: cxent.logsumexp(X.astype(np.float32), axis=(0, 1, 2)),
    lambda: cxent.logsumexp(np.float32(2.0)),
    lambda: cxent.softmax(np.float32(2.0)),
    lambda: cxent.log_softmax(np.float64(2.0)),
    lambda: cxent.sigmoid(np.float32(0.5)),
    lambda: cxent.log_sigmoid(0.5),
    lambda: cxent.softmax_backward(np.float64(1.0), np.float64(1.0)),
    lambda: cxent.cross_entropy(np.array([1.0, 2.0, 3.0], np.float32), 1, reduction="none"),
    lambda: cxent.nll_loss(np.array([1.0, 2.0, 3.0]), 1, reduction="none"),
    lambda: cxent.cross_entropy_and_grad(np.array([1.0, 2.0], np.float32), 0,
                                         reduction="none")[0],
    lambda: cxent.binary_cross_entropy_with_logits(np.float32(1.0), np.float32(1.0),
                                                   reduction="none"),
    lambda: cxent.cross_entropy(X[:, :, 0], [0, 1, 2, 3]),
    lambda: cxent.binary_cross_entropy(np.full(3, 0.5), np.ones(3), reduction="sum"),
]


@pytest.mark.parametrize("k", range(len(SCALAR_CALLS)))
def test_full_reductions_are_numpy_scalars(k):
    r = SCALAR_CALLS[k]()
    assert isinstance(r, np.floating) and not isinstance(r, np.ndarray), type(r)


def test_out_still_returns_out():
    out = np.empty((), np.float64)
    assert cxent.logsumexp(np.array([1.0, 2.0]), axis=None, out=out) is out
    out = np.empty((), np.float32)
    assert cxent.softmax(np.float32(1.0), out=out) is out
    assert cxent.sigmoid(np.float32(1.0), out=out) is out
