"""torch tensors and JAX arrays in, the same type out (``cxent._interop``), and ``cxent.torch``'s
autograd functions against ``torch.nn.functional`` (values and gradients)."""

import subprocess
import sys

import numpy as np
import pytest

import cxent

torch = pytest.importorskip("torch", reason="these checks need torch")
F = torch.nn.functional
import cxent.torch as ct

RNG = np.random.default_rng(7)


def test_numpy_calls_import_neither_torch_nor_jax():
    code = ("import sys, numpy as np, cxent; cxent.softmax(np.ones(3)); "
            "cxent.cross_entropy(np.ones((2, 3)), [0, 1]); cxent.kl_div(np.zeros(2), np.ones(2)); "
            "print('torch' in sys.modules, 'jax' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.split() == ["False", "False"]


def test_torch_tensors_in_and_out():
    x = torch.randn(6, 5)
    y = torch.randint(0, 5, (6,))
    s = cxent.softmax(x, dim=1)
    assert isinstance(s, torch.Tensor) and s.dtype == torch.float32
    np.testing.assert_array_equal(s.numpy(), cxent.softmax(x.numpy(), axis=1))
    loss = cxent.cross_entropy(x, y)
    assert isinstance(loss, torch.Tensor) and loss.ndim == 0
    assert float(loss) == float(cxent.cross_entropy(x.numpy(), y.numpy()))
    loss, g = cxent.cross_entropy_and_grad(x, y, reduction="none")
    assert isinstance(loss, torch.Tensor) and isinstance(g, torch.Tensor) and loss.shape == (6,)
    out = torch.empty(6, 5)
    assert cxent.log_softmax(x, dim=1, out=out) is out  # written in place, the same object back
    torch.testing.assert_close(out, torch.log_softmax(x, 1))
    xc = x.clone()
    _, g = cxent.cross_entropy_and_grad(xc, y, grad_out=xc)
    assert g is xc
    assert isinstance(cxent.CrossEntropyLoss()(x, y), torch.Tensor)
    assert isinstance(cxent.kl_div(torch.log_softmax(x, 1), torch.softmax(x, 1)), torch.Tensor)


def test_torch_views_without_a_copy():
    x = torch.randn(8, 3)
    s = cxent.sigmoid(x)
    r = cxent.sigmoid(x, out=x)  # in place through the NumPy view: no copy of x was made
    assert r is x
    torch.testing.assert_close(x, s)


def test_torch_tensors_refused_with_a_pointer():
    x = torch.randn(4, 3, requires_grad=True)
    with pytest.raises(TypeError, match="requires grad.*cxent.torch"):
        cxent.cross_entropy(x, torch.tensor([0, 1, 2, 0]))
    with pytest.raises(TypeError, match=r"bfloat16.*\.float\(\)"):
        cxent.softmax(torch.ones(3, dtype=torch.bfloat16))


def test_jax_arrays_in_and_out():
    jnp = pytest.importorskip("jax.numpy", reason="needs jax")
    x = jnp.asarray(RNG.normal(size=(4, 6)).astype(np.float32))
    s = cxent.softmax(x, axis=1)
    assert type(s).__module__.startswith("jax")
    np.testing.assert_array_equal(np.asarray(s), cxent.softmax(np.asarray(x), axis=1))
    loss = cxent.cross_entropy(x, jnp.asarray([0, 1, 2, 3]))
    assert type(loss).__module__.startswith("jax") and loss.shape == ()
    view = cxent._interop._to_numpy(x, "jax", "x")  # what the functions read: JAX's buffer
    assert view.ctypes.data == x.unsafe_buffer_pointer() and not view.flags.writeable


def test_torch_read_without_a_copy():
    x = torch.randn(5, 4)
    assert cxent._interop._to_numpy(x, "torch", "x").ctypes.data == x.data_ptr()
    xt = x.t()  # a transposed view: still read in place (cxent takes any strides)
    v = cxent._interop._to_numpy(xt, "torch", "x")
    assert v.ctypes.data == xt.data_ptr() and v.strides == (4, 16)


def _check(loss, want, inputs, grad_like=None, atol=1e-6):
    torch.testing.assert_close(loss, want, rtol=1e-6, atol=atol)
    g = torch.randn_like(want) if grad_like is None else grad_like
    got = torch.autograd.grad(loss, inputs, g)
    ref = torch.autograd.grad(want, inputs, g)
    for a, b in zip(got, ref):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=atol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("opts", [{}, {"weight": True}, {"ignore_index": 1},
                                  {"label_smoothing": 0.2, "weight": True}])
@pytest.mark.parametrize("shape", [(9, 5), (3, 5, 4, 2), (5,)])
def test_cross_entropy_and_nll(dtype, reduction, opts, shape):
    x = torch.tensor(RNG.normal(size=shape) * 2, dtype=dtype, requires_grad=True)
    tshape = () if len(shape) == 1 else (shape[0],) + shape[2:]
    y = torch.tensor(RNG.integers(0, 5, tshape))
    kw = dict(opts)
    if kw.pop("weight", False):
        kw["weight"] = torch.tensor(RNG.random(5) + 0.5, dtype=dtype)
    _check(ct.cross_entropy(x, y, reduction=reduction, **kw),
           F.cross_entropy(x, y, reduction=reduction, **kw), [x])
    kw.pop("label_smoothing", None)
    lp = torch.log_softmax(x.detach(), 0 if len(shape) == 1 else 1).requires_grad_(True)
    _check(ct.nll_loss(lp, y, reduction=reduction, **kw),
           F.nll_loss(lp, y, reduction=reduction, **kw), [lp])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_probability_targets(reduction):
    x = torch.tensor(RNG.normal(size=(7, 4)), requires_grad=True)
    p = torch.softmax(torch.tensor(RNG.normal(size=(7, 4))), 1)
    _check(ct.cross_entropy(x, p, reduction=reduction, label_smoothing=0.1),
           F.cross_entropy(x, p, reduction=reduction, label_smoothing=0.1), [x])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_with_logits(reduction):
    x = torch.tensor(RNG.normal(size=(6, 3)) * 3, requires_grad=True)
    y = torch.tensor(RNG.random((6, 3)))
    w, pw = torch.tensor(RNG.random(3)), torch.tensor(RNG.random(3) * 3)
    _check(ct.binary_cross_entropy_with_logits(x, y, w, reduction=reduction, pos_weight=pw),
           F.binary_cross_entropy_with_logits(x, y, w, reduction=reduction, pos_weight=pw), [x])


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_linear_cross_entropy(bias, reduction):
    h = torch.tensor(RNG.normal(size=(10, 6)), requires_grad=True)
    w = torch.tensor(RNG.normal(size=(9, 6)), requires_grad=True)
    b = torch.tensor(RNG.normal(size=9), requires_grad=True) if bias else None
    t = torch.tensor(RNG.integers(0, 9, 10))
    t[2] = -100
    inputs = [h, w] + ([b] if bias else [])
    _check(ct.linear_cross_entropy(h, w, t, b, reduction=reduction, chunk_size=3),
           F.cross_entropy(F.linear(h, w, b), t, reduction=reduction), inputs)


def test_training_step_and_no_grad():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 5))
    x, y = torch.randn(32, 8), torch.randint(0, 5, (32,))
    ref = [p.detach().clone() for p in model.parameters()]
    loss = ct.cross_entropy(model(x), y, label_smoothing=0.1)
    loss.backward()
    got = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    F.cross_entropy(model(x), y, label_smoothing=0.1).backward()
    for a, b in zip(got, [p.grad for p in model.parameters()]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), ref))
    with torch.no_grad():
        v = ct.cross_entropy(model(x), y)
    assert not v.requires_grad
    with pytest.raises(TypeError, match="size_average"):
        ct.cross_entropy(model(x), y, size_average=True)
