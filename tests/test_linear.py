"""linear_cross_entropy: equal to the unfused ``cross_entropy(hidden @ weight.T + bias)`` and its
gradients (cxent's own, torch autograd, finite differences), for every chunking, with bounded memory,
inputs untouched and clear errors."""

import tracemalloc

import numpy as np
import pytest
from conftest import tol

import cxent


def _case(rng, n=37, d=8, v=50, dtype=np.float64, ignored=(3,)):
    h = rng.standard_normal((n, d)).astype(dtype)
    w = (rng.standard_normal((v, d)) * 0.7).astype(dtype)
    b = rng.standard_normal(v).astype(dtype)
    t = rng.integers(0, v, n)
    t[list(ignored)] = -100
    return h, w, b, t


def _unfused(h, w, b, t, softcap=None, **kw):
    """The unfused reference: logits, then cxent's cross_entropy_and_grad, then the chain rule
    (soft-capping written out here, independently of cross_entropy's softcap=)."""
    z = h @ w.T + (0 if b is None else b)
    if softcap is not None:
        th = np.tanh(z / softcap)
        z = softcap * th
    loss, g = cxent.cross_entropy_and_grad(z, t, **kw)
    if softcap is not None:
        g = g * (1 - th * th)
    return loss, g @ w, g.T @ h, None if b is None else g.sum(axis=0)


OPTS = [dict(), dict(reduction="sum"), dict(reduction="none"), dict(label_smoothing=0.2),
        dict(z_loss=1e-3, reduction="sum"), dict(softcap=3.0), dict(ignore_index=7)]


@pytest.mark.parametrize("opts", OPTS, ids=str)
@pytest.mark.parametrize("chunk_size", [1, 4, 37, 500, None])
@pytest.mark.parametrize("with_bias", [True, False])
def test_equals_unfused(opts, chunk_size, with_bias, dtype, rng):
    h, w, b, t = _case(rng, dtype=dtype)
    if "ignore_index" in opts:
        t[t == -100] = opts["ignore_index"]
    b = b if with_bias else None
    loss, gh, gw, gb = cxent.linear_cross_entropy_and_grad(h, w, t, b, chunk_size=chunk_size,
                                                           **opts)
    el, egh, egw, egb = _unfused(h, w, b, t, **opts)
    k = tol(dtype, 50)
    np.testing.assert_allclose(loss, el, **k)
    np.testing.assert_allclose(gh, egh, **k)
    np.testing.assert_allclose(gw, egw, **k)
    if with_bias:
        np.testing.assert_allclose(gb, egb, **k)
    else:
        assert gb is None
    plain = cxent.linear_cross_entropy(h, w, t, b, chunk_size=chunk_size, **opts)
    np.testing.assert_array_equal(plain, loss)  # the same per-row values, the same sum
    for x in (loss, gh, gw):
        assert np.asarray(x).dtype == dtype
    if opts.get("reduction", "mean") == "none":
        assert isinstance(loss, np.ndarray) and loss.shape == (len(t),)
    else:
        assert isinstance(loss, np.generic)


def test_grad_output_and_all_ignored(rng):
    h, w, b, t = _case(rng)
    go = rng.standard_normal(len(t))
    got = cxent.linear_cross_entropy_and_grad(h, w, t, b, reduction="none", grad_output=go,
                                              chunk_size=5)
    exp = _unfused(h, w, b, t, reduction="none", grad_output=go)
    for a, e in zip(got, exp):
        np.testing.assert_allclose(a, e, rtol=1e-12, atol=1e-13)
    got = cxent.linear_cross_entropy_and_grad(h, w, t, b, grad_output=2.5, chunk_size=5)
    exp = _unfused(h, w, b, t, grad_output=2.5)
    for a, e in zip(got, exp):
        np.testing.assert_allclose(a, e, rtol=1e-12, atol=1e-13)
    t_all = np.full_like(t, -100)
    loss, gh, gw, _ = cxent.linear_cross_entropy_and_grad(h, w, t_all, b, chunk_size=5)
    el, egh, egw, _ = _unfused(h, w, b, t_all)
    assert np.isnan(loss) and np.isnan(el)  # the mean over no rows (torch)
    np.testing.assert_array_equal(gh, egh)
    np.testing.assert_array_equal(gw, egw)


def test_finite_differences_float64(rng):
    h, w, b, t = _case(rng, n=6, d=3, v=5, ignored=(1,))
    kw = dict(label_smoothing=0.1, z_loss=0.01, softcap=2.0)
    _, gh, gw, gb = cxent.linear_cross_entropy_and_grad(h, w, t, b, chunk_size=2, **kw)

    def f(hh, ww, bb):
        return float(cxent.linear_cross_entropy(hh, ww, t, bb, chunk_size=2, **kw))

    eps = 1e-3
    for arr, grad, k in ((h, gh, 0), (w, gw, 1), (b, gb, 2)):
        num = np.empty_like(arr)
        for idx in np.ndindex(arr.shape):
            vals = []
            for s in (-2, -1, 1, 2):
                a = arr.copy()
                a[idx] += s * eps
                args = [h, w, b]
                args[k] = a
                vals.append(f(*args))
            num[idx] = (vals[0] - 8 * vals[1] + 8 * vals[2] - vals[3]) / (12 * eps)
        np.testing.assert_allclose(grad, num, rtol=1e-7, atol=1e-9)


def test_torch_autograd(rng):
    torch = pytest.importorskip("torch")
    h, w, b, t = _case(rng, n=29, d=6, v=40)
    for kw in (dict(label_smoothing=0.1), dict(softcap=2.5), dict(reduction="sum")):
        softcap = kw.pop("softcap", None)
        th, tw, tb = (torch.tensor(a, requires_grad=True) for a in (h, w, b))
        z = torch.nn.functional.linear(th, tw, tb)
        if softcap is not None:
            z = softcap * torch.tanh(z / softcap)
        loss = torch.nn.functional.cross_entropy(z, torch.tensor(t), **kw)
        loss.backward()
        got = cxent.linear_cross_entropy_and_grad(h, w, t, b, softcap=softcap, chunk_size=8, **kw)
        np.testing.assert_allclose(got[0], loss.item(), rtol=1e-12)
        for a, e in zip(got[1:], (th.grad, tw.grad, tb.grad)):
            np.testing.assert_allclose(a, e.numpy(), rtol=1e-10, atol=1e-12)


def test_float32_against_float64_large_vocabulary(rng):
    n, d, v = 64, 32, 128256
    h = rng.standard_normal((n, d)).astype(np.float32)
    w = (rng.standard_normal((v, d)) * 0.3).astype(np.float32)
    t = rng.integers(0, v, n)
    got = cxent.linear_cross_entropy(h, w, t, reduction="none")
    z = h.astype(np.float64) @ w.astype(np.float64).T
    m = z.max(axis=1, keepdims=True)
    exact = (np.log(np.exp(z - m).sum(axis=1)) + m[:, 0]) - z[np.arange(n), t]
    # float32 logits from BLAS (rounding of a D-term dot product) dominate: relative 1e-5
    np.testing.assert_allclose(got, exact, rtol=2e-5, atol=2e-5)


def test_memory_is_bounded(rng):
    n, d, v = 2000, 16, 3000  # the logits would be 48 MB in float64
    h, w, b, t = _case(rng, n=n, d=d, v=v, ignored=())
    chunk = 100
    for softcap in (None, 5.0):  # the cap adds two rows of V per thread, no chunk
        tracemalloc.start()
        try:
            cxent.linear_cross_entropy_and_grad(h, w, t, b, chunk_size=chunk, softcap=softcap)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        outputs = (n * d + v * d + v) * 8
        extra = peak - outputs
        assert extra < 0.1 * n * v * 8, (peak, outputs)  # under 10 % of the logits
        # what the docstring lists
        assert extra < chunk * v * 8 + 4 * 2**20 + 16 * n * 8 + (0 if softcap is None else
                                                               2 * 64 * v * 8), (softcap, extra)


def test_inputs_never_modified(rng):
    h, w, b, t = _case(rng)
    copies = [a.copy() for a in (h, w, b, t)]
    cxent.linear_cross_entropy_and_grad(h, w, t, b, softcap=2.0, chunk_size=3)
    cxent.linear_cross_entropy(h, w, t, b, chunk_size=3)
    for a, c in zip((h, w, b, t), copies):
        np.testing.assert_array_equal(a, c)


def test_mixed_dtypes_promote(rng):
    h, w, b, t = _case(rng, dtype=np.float32)
    loss = cxent.linear_cross_entropy(h, w.astype(np.float64), t, b)
    assert loss.dtype == np.float64  # np.result_type of hidden, weight, bias
    assert cxent.linear_cross_entropy(h, w, t, b).dtype == np.float32


@pytest.mark.parametrize("args, kwargs, exc, match", [
    ((np.ones((4, 512)), np.ones((10, 256)), np.zeros(4, int)), {}, ValueError,
     r"`hidden` has D=512 but `weight` has D=256"),
    ((np.ones((4, 3)), np.ones((10, 3)), np.zeros(4, int), np.ones(9)), {}, ValueError,
     r"`bias` must be 1-d of length V=10"),
    ((np.ones((4, 3)), np.ones((10, 3)), np.zeros(5, int)), {}, ValueError,
     r"`target` must be 1-d of length N=4"),
    ((np.ones((4, 3)), np.ones((10, 3)), np.array([0, 1, 10, 2])), {}, IndexError,
     r"`target` value 10 at index 2 is out of bounds for V=10"),
    ((np.ones((4, 3)), np.ones((10, 3)), np.zeros(4)), {}, TypeError, r"`target` has dtype"),
    ((np.ones(3), np.ones((10, 3)), np.zeros(1, int)), {}, ValueError, r"`hidden` must be 2-d"),
    ((np.ones((4, 3)), np.ones(3), np.zeros(4, int)), {}, ValueError, r"`weight` must be 2-d"),
    ((np.ones((4, 3)), np.ones((10, 3)), np.zeros(4, int)), {"chunk_size": 0}, ValueError,
     r"`chunk_size` must be a positive integer"),
    ((np.ones((4, 3)), np.ones((10, 3)), np.zeros(4, int)), {"chunk_size": 2.5}, TypeError,
     r"`chunk_size`"),
    ((np.ones((4, 3)), np.ones((10, 3)), np.zeros(4, int)), {"softcap": 0.0}, ValueError,
     r"`softcap` must be a finite number > 0"),
    ((np.ones((4, 3)), np.ones((10, 3)), np.zeros(4, int)), {"reduction": "avg"}, ValueError,
     r"`reduction`"),
    ((np.ones((4, 3), complex), np.ones((10, 3)), np.zeros(4, int)), {}, TypeError, r"`hidden`"),
])
def test_errors_name_the_argument(args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        cxent.linear_cross_entropy(*args, **kwargs)
    with pytest.raises(exc, match=match):
        cxent.linear_cross_entropy_and_grad(*args, **kwargs)


def test_grad_output_shape_is_checked(rng):
    h, w, b, t = _case(rng)
    with pytest.raises(ValueError, match="grad_output"):
        cxent.linear_cross_entropy_and_grad(h, w, t, b, grad_output=np.ones(3))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_softcap(reduction, dtype, rng):
    x = (rng.standard_normal((30, 9)) * 6).astype(dtype)
    t = rng.integers(0, 9, 30)
    t[4] = -100
    c = 2.5
    th = np.tanh(x.astype(np.float64) / c)
    el, eg = cxent.cross_entropy_and_grad((c * th).astype(dtype), t, reduction=reduction)
    loss = cxent.cross_entropy(x, t, reduction=reduction, softcap=c)
    got_l, got_g = cxent.cross_entropy_and_grad(x, t, reduction=reduction, softcap=c)
    k = tol(dtype, 20)
    np.testing.assert_allclose(loss, el, **k)
    np.testing.assert_array_equal(got_l, loss)
    np.testing.assert_allclose(got_g, eg * (1 - th * th), **k)
    xi = x.copy()
    _, g = cxent.cross_entropy_and_grad(xi, t, reduction=reduction, softcap=c, grad_out=xi)
    assert g is xi
    np.testing.assert_array_equal(g, got_g)
    with pytest.raises(ValueError, match="`softcap`"):
        cxent.cross_entropy(x, t, softcap=-1.0)
    with pytest.raises(TypeError, match="`softcap`"):
        cxent.cross_entropy(x, t, softcap="2")


def test_cross_entropy_softcap_torch(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((4, 6, 3, 2)) * 5  # (N, C, d1, d2)
    t = rng.integers(0, 6, (4, 3, 2))
    tx = torch.tensor(x, requires_grad=True)
    loss = torch.nn.functional.cross_entropy(3.0 * torch.tanh(tx / 3.0), torch.tensor(t),
                                             label_smoothing=0.1)
    loss.backward()
    got, g = cxent.cross_entropy_and_grad(x, t, label_smoothing=0.1, softcap=3.0)
    np.testing.assert_allclose(got, loss.item(), rtol=1e-12)
    np.testing.assert_allclose(g, tx.grad.numpy(), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("n, d, v", [(0, 4, 5), (3, 0, 5), (3, 4, 1)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_empty_and_degenerate_shapes(n, d, v, reduction, rng):
    h, w = rng.standard_normal((n, d)), rng.standard_normal((v, d))
    b, t = rng.standard_normal(v), rng.integers(0, v, n)
    loss, gh, gw, gb = cxent.linear_cross_entropy_and_grad(h, w, t, b, reduction=reduction)
    el, egh, egw, egb = _unfused(h, w, b, t, reduction=reduction)  # no batch: mean nan (torch)
    np.testing.assert_allclose(loss, el, rtol=1e-13)
    assert gh.shape == (n, d) and gw.shape == (v, d) and gb.shape == (v,)
    np.testing.assert_allclose(gh, egh, atol=1e-14)
    np.testing.assert_allclose(gw, egw, atol=1e-14)
    np.testing.assert_allclose(gb, egb, atol=1e-14)
