"""Gradient parity with torch autograd (skipped when torch is not installed)."""

import numpy as np
import pytest

import cxent

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _ids(o):
    return ",".join(f"{k}={v}" for k, v in o.items()) or "default"


def _tol(dtype):
    return dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)


def _torch_grad(fn, x, go, **kw):
    tx = torch.tensor(x, requires_grad=True)
    loss = fn(tx, **kw)
    loss.backward(torch.as_tensor(go, dtype=tx.dtype) if np.ndim(go) else
                  torch.tensor(go, dtype=tx.dtype))
    return loss.detach().numpy(), tx.grad.numpy()


SHAPES = [(5,), (6, 4), (3, 4, 5), (2, 3, 2, 3)]
OPTIONS = [dict(), dict(reduction="sum"), dict(reduction="none"), dict(weight=True),
           dict(weight=True, ignore_index=1), dict(label_smoothing=0.15, weight=True),
           dict(label_smoothing=0.2, ignore_index=-100, reduction="none")]


@pytest.mark.parametrize("opts", OPTIONS, ids=_ids)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_cross_entropy_grad_matches_autograd(shape, opts, dtype, rng):
    opts = dict(opts)
    n_classes = shape[0] if len(shape) == 1 else shape[1]
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    t = rng.integers(0, n_classes, () if len(shape) == 1 else (shape[0],) + shape[2:])
    if t.ndim:
        t.flat[::4] = opts.get("ignore_index", -100)
        t.flat[1] = 0
    w = rng.uniform(0.2, 2, n_classes).astype(dtype) if opts.pop("weight", False) else None
    red = opts.get("reduction", "mean")
    go = rng.standard_normal(t.shape).astype(dtype) if red == "none" else 1.5
    loss, g = cxent.cross_entropy_and_grad(x, t, weight=w, grad_output=go, **opts)
    tl, tg = _torch_grad(F.cross_entropy, x, go, target=torch.as_tensor(t, dtype=torch.int64),
                         weight=None if w is None else torch.as_tensor(w), **opts)
    np.testing.assert_allclose(loss, tl, **_tol(dtype))
    np.testing.assert_allclose(g, tg, **_tol(dtype))
    # nll on log-probabilities
    lp = cxent.log_softmax(x, axis=0 if x.ndim == 1 else 1)
    nopts = {k: v for k, v in opts.items() if k != "label_smoothing"}
    loss, g = cxent.nll_loss_and_grad(lp, t, weight=w, grad_output=go, **nopts)
    tl, tg = _torch_grad(F.nll_loss, lp, go, target=torch.as_tensor(t, dtype=torch.int64),
                         weight=None if w is None else torch.as_tensor(w), **nopts)
    np.testing.assert_allclose(loss, tl, **_tol(dtype))
    np.testing.assert_allclose(g, tg, **_tol(dtype))


@pytest.mark.parametrize("opts", [dict(), dict(weight=True, label_smoothing=0.1),
                                  dict(reduction="none")], ids=_ids)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_cross_entropy_prob_grad_matches_autograd(shape, opts, dtype, rng):
    opts = dict(opts)
    axis = 0 if len(shape) == 1 else 1
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    p = cxent.softmax(rng.standard_normal(shape).astype(dtype), axis=axis)
    w = rng.uniform(0.2, 2, shape[axis]).astype(dtype) if opts.pop("weight", False) else None
    red = opts.get("reduction", "mean")
    lshape = () if len(shape) == 1 else (shape[0],) + shape[2:]
    go = rng.standard_normal(lshape).astype(dtype) if red == "none" else 0.5
    loss, g = cxent.cross_entropy_and_grad(x, p, weight=w, grad_output=go, **opts)
    tl, tg = _torch_grad(F.cross_entropy, x, go, target=torch.as_tensor(p),
                         weight=None if w is None else torch.as_tensor(w), **opts)
    np.testing.assert_allclose(loss, tl, **_tol(dtype))
    np.testing.assert_allclose(g, tg, **_tol(dtype))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_grads_match_autograd(reduction, dtype, rng):
    shape = (4, 5)
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    y = rng.uniform(0, 1, shape).astype(dtype)
    w = rng.uniform(0.5, 2, (4, 1)).astype(dtype)
    pw = rng.uniform(0.5, 3, (5,)).astype(dtype)
    go = rng.standard_normal(shape).astype(dtype) if reduction == "none" else 2.0
    loss, g = cxent.binary_cross_entropy_with_logits_and_grad(
        x, y, weight=w, pos_weight=pw, reduction=reduction, grad_output=go)
    tl, tg = _torch_grad(F.binary_cross_entropy_with_logits, x, go, target=torch.as_tensor(y),
                         weight=torch.as_tensor(w), pos_weight=torch.as_tensor(pw),
                         reduction=reduction)
    np.testing.assert_allclose(loss, tl, **_tol(dtype))
    np.testing.assert_allclose(g, tg, **_tol(dtype))
    p = cxent.sigmoid(x)
    loss, g = cxent.binary_cross_entropy_and_grad(p, y, weight=w, reduction=reduction,
                                                  grad_output=go)
    tl, tg = _torch_grad(F.binary_cross_entropy, p, go, target=torch.as_tensor(y),
                         weight=torch.as_tensor(w), reduction=reduction)
    np.testing.assert_allclose(loss, tl, rtol=2e-5 if dtype == np.float32 else 1e-10)
    np.testing.assert_allclose(g, tg, rtol=2e-5 if dtype == np.float32 else 1e-10, atol=1e-6)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_softmax_backward_matches_autograd(axis, dtype, rng):
    x = rng.standard_normal((3, 4, 5)).astype(dtype)
    go = rng.standard_normal(x.shape).astype(dtype)
    for name in ("softmax", "log_softmax"):
        tx = torch.tensor(x, requires_grad=True)
        out = getattr(torch, name)(tx, axis)
        out.backward(torch.tensor(go))
        g = getattr(cxent, name + "_backward")(go, getattr(cxent, name)(x, axis=axis), axis=axis)
        np.testing.assert_allclose(g, tx.grad.numpy(), **_tol(dtype))
