"""kl_div, kl_div_and_grad and KLDivLoss: torch's semantics (a table checked against torch 2.13,
and live parity when torch is installed), an exact float64 reference, layouts, gradients."""

import math
import warnings

import numpy as np
import pytest

import cxent

# (case, input, target, log_target, loss ('sum'), d loss / d input): torch 2.13, float64
TORCH_TABLE = [
    ("zero target", -1.0, 0.0, False, 0.0, -0.0),
    ("zero target, -inf input", -math.inf, 0.0, False, math.nan, -0.0),
    ("negative target", -1.0, -0.5, False, math.nan, 0.5),
    ("nan target", -1.0, math.nan, False, math.nan, math.nan),
    ("target > 1 (unnormalised)", -1.0, 2.0, False, 3.386294361119891, -2.0),
    ("+inf input", math.inf, 0.5, False, -math.inf, -0.5),
    ("log target", -1.0, -0.5, True, 0.3032653298563167, -0.6065306597126334),
    ("log target -inf (probability 0)", -1.0, -math.inf, True, math.nan, -0.0),
    ("log target, -inf input", -math.inf, 0.0, True, math.inf, -1.0),
]
# log_softmax([[1, 2, 3], [0.5, -1, 2]]) against [[.2, .3, .5], [.6, .4, 0]], float64, torch 2.13
LP = np.log(np.exp([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]]) /
            np.exp([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]]).sum(1, keepdims=True))
P = np.array([[0.2, 0.3, 0.5], [0.6, 0.4, 0.0]])
REDUCED = {"none": [[0.15963361040205604, 0.061089948035533304, -0.14277060805778244],
                    [0.7382914037346999, 0.9300082259132009, 0.0]],
           "sum": 1.7462525800277078, "mean": 0.2910420966712846,
           "batchmean": 0.8731262900138539}


def _same(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert np.array_equal(np.isnan(a), np.isnan(b)), (a, b)
    ok = ~np.isnan(b)
    np.testing.assert_array_equal(a[ok], b[ok])
    assert np.array_equal(np.signbit(a[ok]), np.signbit(b[ok])), (a, b)


@pytest.mark.parametrize("case", TORCH_TABLE, ids=[c[0] for c in TORCH_TABLE])
def test_torch_table(case):
    _, x, t, log_target, loss, grad = case
    got, g = cxent.kl_div_and_grad(np.array([x]), np.array([t]), reduction="sum",
                                   log_target=log_target)
    _same(got, loss)
    _same(g, [grad])
    _same(cxent.kl_div(np.array([x]), np.array([t]), reduction="sum", log_target=log_target), loss)


@pytest.mark.parametrize("reduction", list(REDUCED))
def test_reductions_table(reduction):
    np.testing.assert_allclose(cxent.kl_div(LP, P, reduction=reduction), REDUCED[reduction],
                               rtol=4e-16, atol=1e-16)
    np.testing.assert_allclose(cxent.kl_div(LP, np.log(np.where(P > 0, P, 1e-300)),
                                            reduction=reduction, log_target=True),
                               REDUCED[reduction], rtol=1e-14, atol=1e-15)


def test_empty_and_0d():
    e = np.zeros((0, 3))
    assert math.isnan(cxent.kl_div(e, e, reduction="batchmean"))
    assert math.isnan(cxent.kl_div(e, e, reduction="mean"))
    assert cxent.kl_div(e, e, reduction="sum") == 0.0
    assert cxent.kl_div(e, e, reduction="none").shape == (0, 3)
    r = cxent.kl_div(np.float64(-1.0), 0.5, reduction="batchmean")  # 0-d: the sum (torch)
    assert isinstance(r, np.float64) and r == cxent.kl_div(np.float64(-1.0), 0.5, reduction="sum")
    assert isinstance(cxent.kl_div(np.float32(-1.0), np.float32(0.5), reduction="none"),
                      np.float32)


RNG = np.random.default_rng(13)


def _exact(x, t, log_target):
    """float64 / longdouble reference, element by element (xlogy(t, t) - t x)."""
    x, t = np.asarray(x, np.longdouble), np.asarray(t, np.longdouble)
    with np.errstate(all="ignore"):
        if log_target:
            return np.exp(t) * (t - x)
        return np.where(t == 0, 0, t * np.log(np.where(t == 0, 1, t))) - t * x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("log_target", [False, True])
@pytest.mark.parametrize("shape", [(7,), (33, 10), (4, 5, 6), (3, 8193)])
def test_against_exact(dtype, log_target, shape):
    x = cxent.log_softmax(RNG.normal(size=shape) * 2, axis=-1).astype(dtype)
    p = cxent.softmax(RNG.normal(size=shape) * 2, axis=-1).astype(dtype)
    t = np.log(p) if log_target else p
    ref = _exact(x, t, log_target)
    got = cxent.kl_div(x, t, reduction="none", log_target=log_target)
    assert got.dtype == dtype
    # float32: each element in double, rounded once (half an ulp of the result, plus the double
    # steps); float64: a few double roundings, bounded by the terms' size
    tl, xl = np.asarray(t, np.longdouble), np.asarray(x, np.longdouble)
    terms = (np.abs(np.exp(tl) * (np.abs(tl) + np.abs(xl))) if log_target else
             np.abs(tl * np.log(np.where(tl > 0, tl, 1))) + np.abs(tl * xl))
    eps = np.finfo(dtype).eps
    tol = (0.5 * eps * np.abs(ref) + 4 * 2.0 ** -53 * terms if dtype == np.float32 else
           2 * eps * terms)
    assert np.all(np.abs(got - ref) <= tol)
    for red, div in (("sum", 1), ("mean", x.size), ("batchmean", shape[0])):
        got = cxent.kl_div(x, t, reduction=red, log_target=log_target)
        assert got.dtype == dtype
        want = float(np.sum(ref)) / div
        np.testing.assert_allclose(float(got), want, rtol=4 * np.finfo(dtype).eps,
                                   atol=np.finfo(dtype).eps * float(np.abs(ref).sum()) / div)
        loss, g = cxent.kl_div_and_grad(x, t, reduction=red, log_target=log_target,
                                        grad_output=2.0)
        assert loss == got
        gref = -(np.exp(np.asarray(t, np.float64)) if log_target else t.astype(np.float64)) \
            * 2.0 / div
        np.testing.assert_allclose(g, gref, rtol=2 * np.finfo(dtype).eps)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layouts_bitwise(dtype):
    x = cxent.log_softmax(RNG.normal(size=(40, 30)), axis=1).astype(dtype)
    t = cxent.softmax(RNG.normal(size=(40, 30)), axis=1).astype(dtype)
    base = [cxent.kl_div(x, t, reduction=r) for r in ("none", "sum", "mean", "batchmean")]
    gb = cxent.kl_div_and_grad(x, t, reduction="mean")[1]
    for xv, tv in ((np.asfortranarray(x), t), (x, np.asfortranarray(t)),
                   (x.T.copy().T, t[::-1].copy()[::-1])):
        for r, b in zip(("none", "sum", "mean", "batchmean"), base):
            np.testing.assert_array_equal(cxent.kl_div(xv, tv, reduction=r), b)
        np.testing.assert_array_equal(cxent.kl_div_and_grad(xv, tv, reduction="mean")[1], gb)
    # the target broadcast along the batch (one distribution for every row)
    np.testing.assert_array_equal(cxent.kl_div(x, t[0], reduction="none"),
                                  cxent.kl_div(x, np.broadcast_to(t[0], x.shape).copy(),
                                               reduction="none"))


def test_grad_out_in_place_and_grad_output_array():
    x = np.log(cxent.softmax(RNG.normal(size=(5, 4)), axis=1))
    t = cxent.softmax(RNG.normal(size=(5, 4)), axis=1)
    go = RNG.normal(size=x.shape)
    loss, g = cxent.kl_div_and_grad(x, t, reduction="none", grad_output=go)
    np.testing.assert_array_equal(loss, cxent.kl_div(x, t, reduction="none"))
    np.testing.assert_array_equal(g, -t * go)
    xc = x.copy()
    _, g2 = cxent.kl_div_and_grad(xc, t, reduction="sum", grad_out=xc)
    assert g2 is xc
    np.testing.assert_array_equal(g2, -t)


def test_errors():
    x = np.zeros((2, 3))
    with pytest.raises(ValueError, match="'batchmean'"):
        cxent.kl_div(x, x, reduction="avg")
    with pytest.raises(TypeError, match="`log_target` must be a bool"):
        cxent.kl_div(x, x, log_target="yes")
    with pytest.raises(ValueError, match="cannot be broadcast to the input's shape"):
        cxent.kl_div(x[:, :1], x)
    with pytest.raises(TypeError, match="`target` has dtype"):
        cxent.kl_div(x, x.astype(complex))
    with pytest.raises(TypeError, match="`input` has dtype"):
        cxent.kl_div(x.astype(object), x)
    with pytest.raises(ValueError, match="reduction"):
        cxent.KLDivLoss(reduction="avg")


def test_class():
    x = np.log(cxent.softmax(RNG.normal(size=(5, 4)), axis=1))
    t = cxent.softmax(RNG.normal(size=(5, 4)), axis=1)
    m = cxent.KLDivLoss(reduction="batchmean")
    assert m(x, t) == cxent.kl_div(x, t, reduction="batchmean")
    np.testing.assert_array_equal(m.and_grad(x, t)[1],
                                  cxent.kl_div_and_grad(x, t, reduction="batchmean")[1])
    assert "batchmean" in repr(m)


torch = pytest.importorskip("torch", reason="the live parity checks need torch")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean", "batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_torch_parity(dtype, reduction, log_target):
    x = cxent.log_softmax(RNG.normal(size=(16, 50)) * 3, axis=1).astype(dtype)
    p = cxent.softmax(RNG.normal(size=(16, 50)) * 3, axis=1).astype(dtype)
    p[0, :5] = 0
    with np.errstate(divide="ignore"):
        t = np.log(p) if log_target else p
    if log_target:
        t[0, :5] = -np.inf
    xt = torch.tensor(x, requires_grad=True)
    with warnings.catch_warnings():  # torch's warning about 'mean'
        warnings.simplefilter("ignore", UserWarning)
        want = torch.nn.functional.kl_div(xt, torch.tensor(t), reduction=reduction,
                                          log_target=log_target)
    want.backward(torch.ones_like(want))
    loss, g = cxent.kl_div_and_grad(x, t, reduction=reduction, log_target=log_target)
    w = want.detach().numpy()
    eps = np.finfo(dtype).eps
    assert np.array_equal(np.isnan(loss), np.isnan(w))
    ok = ~np.isnan(w)
    np.testing.assert_allclose(np.asarray(loss)[ok], w[ok], rtol=8 * eps,
                               atol=8 * eps * float(np.abs(w[ok]).max(initial=1.0)))
    np.testing.assert_allclose(g, xt.grad.numpy(), rtol=2 * eps, atol=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,axis", [((6, 5), -1), ((6, 5), 0), ((3, 5, 4), 1), ((5,), 0)])
@pytest.mark.parametrize("reduction", ["batchmean", "mean", "sum", "none"])
@pytest.mark.parametrize("temperature", [1.0, 2.5])
@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides:UserWarning")
def test_softmax_kl_div_against_torch(dtype, shape, axis, reduction, temperature):
    s = (RNG.normal(size=shape) * 2).astype(dtype)
    t = (RNG.normal(size=shape) * 2).astype(dtype)
    S = torch.tensor(s, requires_grad=True)
    ref = torch.nn.functional.kl_div(torch.log_softmax(S / temperature, axis),
                                     torch.log_softmax(torch.tensor(t) / temperature, axis),
                                     reduction=reduction, log_target=True)
    go = torch.ones_like(ref) * 1.5 if reduction != "none" else torch.tensor(
        RNG.normal(size=shape).astype(dtype))
    (gref,) = torch.autograd.grad(ref, S, go)
    loss, g = cxent.softmax_kl_div_and_grad(s, t, temperature, dim=axis, reduction=reduction,
                                            grad_output=go.numpy() if reduction == "none"
                                            else 1.5)
    assert np.asarray(loss).dtype == dtype and g.dtype == dtype and g.shape == s.shape
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(loss, ref.detach().numpy(), rtol=64 * eps, atol=64 * eps)
    np.testing.assert_allclose(g, gref.numpy(), rtol=64 * eps,
                               atol=64 * eps * float(np.abs(gref.numpy()).max()))
    np.testing.assert_array_equal(cxent.softmax_kl_div(s, t, temperature, axis,
                                                       reduction=reduction), loss)


def test_softmax_kl_div_errors():
    x = np.zeros((2, 3))
    with pytest.raises(ValueError, match="temperature"):
        cxent.softmax_kl_div(x, x, temperature=0.0)
    with pytest.raises(ValueError, match="shape"):
        cxent.softmax_kl_div(x, x[:, :2])
    with pytest.raises(TypeError, match="not both"):
        cxent.softmax_kl_div(x, x, 1.0, 0, dim=1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_kl_div_edges_against_torch(dtype):
    s = RNG.normal(size=(5, 6)).astype(dtype)
    t = RNG.normal(size=(5, 6)).astype(dtype)
    t[0, 2] = -np.inf  # q = 0: the term is 0 (xlogy(0, 0) - 0 log p)
    s[1, 3] = t[1, 3] = -np.inf  # q = 0 and log p = -inf: 0 * -inf = nan, as torch
    s[2, 0] = np.inf  # the student's log-softmax is nan there
    t[3, :] = -np.inf  # the teacher's softmax is nan
    ref = torch.nn.functional.kl_div(torch.log_softmax(torch.tensor(s), 1),
                                     torch.softmax(torch.tensor(t), 1), reduction="none").numpy()
    got = cxent.softmax_kl_div(s, t, reduction="none")
    assert np.array_equal(np.isnan(got), np.isnan(ref)), (got, ref)
    ok = ~np.isnan(ref)
    np.testing.assert_allclose(got[ok], ref[ok], rtol=64 * np.finfo(dtype).eps,
                               atol=64 * np.finfo(dtype).eps)
    assert np.isnan(cxent.softmax_kl_div(s, t, reduction="sum"))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_kl_div_layouts_and_threads_bitwise(dtype):
    from threadpoolctl import threadpool_limits
    s = RNG.normal(size=(300, 70)).astype(dtype) * 3
    t = RNG.normal(size=(300, 70)).astype(dtype) * 3
    base = cxent.softmax_kl_div_and_grad(s, t, 2.0, reduction="sum")  # (batchmean: axis 0's size)
    none = cxent.softmax_kl_div(s, t, 2.0, reduction="none")
    for sv, tv, ax in ((np.asfortranarray(s), np.asfortranarray(t), -1),
                       (s.T.copy(), t.T.copy(), 0), (s[::-1].copy()[::-1], t, 1)):
        loss, g = cxent.softmax_kl_div_and_grad(sv, tv, 2.0, ax, reduction="sum")
        assert loss == base[0]
        np.testing.assert_array_equal(g if ax != 0 else g.T, base[1])
        e = cxent.softmax_kl_div(sv, tv, 2.0, ax, reduction="none")
        np.testing.assert_array_equal(e if ax != 0 else e.T, none)
    for k in (1, 2):
        with threadpool_limits(k):
            loss, g = cxent.softmax_kl_div_and_grad(s, t, 2.0, reduction="sum")
        assert loss == base[0]
        np.testing.assert_array_equal(g, base[1])
    # a 4-d (N, C, H, W) input with the class axis 1
    s4 = RNG.normal(size=(2, 5, 3, 4)).astype(dtype)
    t4 = RNG.normal(size=(2, 5, 3, 4)).astype(dtype)
    ref = cxent.kl_div(cxent.log_softmax(s4, axis=1), cxent.softmax(t4, axis=1), "sum")
    np.testing.assert_allclose(cxent.softmax_kl_div(s4, t4, dim=1, reduction="sum"), ref,
                               rtol=32 * np.finfo(dtype).eps)
