"""Forward parity with torch (CPU): every public forward function and the four loss classes.

Skipped when torch is not installed.  Tolerances follow ``spec/torch-semantics.md`` section 6.4:
torch's float32 path accumulates in float32 with SIMD-lane sums, so its own error is about
``2e-6 * max(1, |lse|)`` on log-probabilities; we allow ``4e-6 * max(1, |lse|)`` per
log-probability term (no rtol, since the relative error is unbounded near 0),
``rtol=1e-5, atol=1e-7`` on softmax and ``rtol=1e-6`` on batch reductions.  float64 comparisons
are tight (``1e-13 * max(1, |lse|)`` per term, ``rtol=1e-12``).
torch accepts only int64/uint8 class targets, so targets are handed to it as int64.
"""

import numpy as np
import pytest

import cxent

torch = pytest.importorskip("torch")
F = torch.nn.functional

SHAPES = [(7,), (6, 5), (3, 4, 5), (2, 3, 4, 3)]
REDUCTIONS = ["none", "mean", "sum"]

#: per log-probability term: |error| <= LSE_COEF * max(1, |lse|)
LSE_COEF = {np.dtype(np.float32): 4e-6, np.dtype(np.float64): 1e-13}
#: batch reductions (mean/sum) and element-wise relative slack
RTOL = {np.dtype(np.float32): 1e-6, np.dtype(np.float64): 1e-12}
SOFTMAX_TOL = {np.dtype(np.float32): dict(rtol=1e-5, atol=1e-7),
               np.dtype(np.float64): dict(rtol=1e-12, atol=1e-16)}
EPS = {np.dtype(np.float32): float(np.finfo(np.float32).eps),
       np.dtype(np.float64): float(np.finfo(np.float64).eps)}


def _t(a):
    # (np.ascontiguousarray would turn a 0-d array into shape (1,))
    return None if a is None else torch.from_numpy(np.array(a, order="C", copy=True))


def _tt(target):
    """A class-index target for torch: int64 (torch accepts only int64/uint8)."""
    return torch.from_numpy(np.asarray(target, dtype=np.int64).copy())


def _np(t):
    return t.detach().numpy()


def _class_axis(shape):
    return 0 if len(shape) == 1 else 1


def _lse64(x, axis):
    """logsumexp in float64 (a magnitude for the error bound)."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        m = np.max(x, axis=axis, keepdims=True)
        return np.squeeze(np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m, axis=axis)


def _assert_bounded(got, expected, bound, rtol, err_msg=""):
    """|got - expected| <= bound + rtol |expected| elementwise, nan/inf at the same places."""
    got64 = np.asarray(got, dtype=np.float64)
    exp64 = np.asarray(expected, dtype=np.float64)
    assert got64.shape == exp64.shape, f"{err_msg}: shape {got64.shape} != {exp64.shape}"
    same_special = (np.isnan(got64) & np.isnan(exp64)) | (np.isinf(exp64) & (got64 == exp64))
    with np.errstate(invalid="ignore"):
        close = np.abs(got64 - exp64) <= bound + rtol * np.abs(exp64)
    ok = same_special | (np.isfinite(exp64) & close)
    assert np.all(ok), (f"{err_msg}\ncxent={got64[~ok]}\ntorch={exp64[~ok]}\n"
                        f"bound={np.broadcast_to(bound + rtol * np.abs(exp64), ok.shape)[~ok]}")


def _reduce_bound(per_elem, reduction, denominator):
    """Error bound of a reduction of elements each within ``per_elem``."""
    if reduction == "none":
        return per_elem
    total = float(np.sum(per_elem))
    if reduction == "sum":
        return total
    return total / denominator if denominator else 0.0


def _data(rng, shape, dtype, scale=3.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


# --------------------------------------------------------------------------- normalisers

@pytest.mark.parametrize("scale", [3.0, 30.0])
@pytest.mark.parametrize("shape", SHAPES + [(2, 1000)], ids=str)
def test_softmax_log_softmax_logsumexp(shape, scale, dtype, rng):
    x = _data(rng, shape, dtype, scale)
    tx = _t(x)
    for axis in range(-len(shape), len(shape)):
        lse = _lse64(x, axis)
        bound = LSE_COEF[dtype] * np.maximum(1, np.abs(lse))
        msg = f"axis={axis}"
        np.testing.assert_allclose(cxent.softmax(x, axis=axis), _np(torch.softmax(tx, dim=axis)),
                                   **SOFTMAX_TOL[dtype], err_msg=msg)
        _assert_bounded(cxent.log_softmax(x, axis=axis), _np(torch.log_softmax(tx, dim=axis)),
                        np.expand_dims(bound, axis), 0, msg)
        _assert_bounded(cxent.logsumexp(x, axis=axis), _np(torch.logsumexp(tx, dim=axis)),
                        bound, 0, msg)
        got = cxent.logsumexp(x, axis=axis, keepdims=True)
        expected = _np(torch.logsumexp(tx, dim=axis, keepdim=True))
        assert got.dtype == dtype and got.shape == expected.shape
        _assert_bounded(got, expected, np.expand_dims(bound, axis), 0, msg)


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axes", [(0, 1), (1, 3), (0, 2), (2, 3), (0, 1, 2, 3), (3, 0)], ids=str)
def test_logsumexp_several_axes(axes, keepdims, dtype, rng):
    x = _data(rng, (3, 4, 5, 2), dtype)
    got = cxent.logsumexp(x, axis=axes, keepdims=keepdims)
    expected = _np(torch.logsumexp(_t(x), dim=axes, keepdim=keepdims))
    assert got.shape == expected.shape and got.dtype == dtype
    bound = LSE_COEF[dtype] * np.maximum(1, np.abs(expected.astype(np.float64)))
    _assert_bounded(got, expected, bound, 0)
    # axis=None: torch spells "all" as every dim
    got = cxent.logsumexp(x, axis=None)
    expected = _np(torch.logsumexp(_t(x), dim=tuple(range(x.ndim))))
    _assert_bounded(got, expected, LSE_COEF[dtype] * max(1, abs(float(expected))), 0)


def test_0d_and_empty_normalisers(dtype):
    x = np.array(3.0, dtype)
    for name, tfn in [("softmax", torch.softmax), ("log_softmax", torch.log_softmax),
                      ("logsumexp", torch.logsumexp)]:
        got = getattr(cxent, name)(x, axis=0)
        expected = _np(tfn(_t(x), 0))
        assert got.shape == expected.shape == () and got.dtype == dtype
        np.testing.assert_array_equal(got, expected)
    for shape, axis in [((0,), 0), ((2, 0), 1), ((0, 3), 1), ((0, 3), 0)]:
        x = np.zeros(shape, dtype)
        np.testing.assert_array_equal(cxent.softmax(x, axis=axis),
                                      _np(torch.softmax(_t(x), axis)))
        got, expected = cxent.logsumexp(x, axis=axis), _np(torch.logsumexp(_t(x), axis))
        assert got.shape == expected.shape
        np.testing.assert_array_equal(got, expected)


SPECIAL_ROWS = [
    [-np.inf, -np.inf, -np.inf], [1, np.inf, 2], [np.inf, np.inf, 2], [np.inf, -np.inf, 2],
    [-np.inf, 0, 1], [np.nan, 0, 1], [np.nan, np.inf, 1], [np.nan, -np.inf, 0],
    [1e30, 0, -1e30], [1e30, 1e30, 0], [-1e30, -1e30, -1e30], [3.4e38, -3.4e38, 0],
    [3.4e38, 3.4e38, 3.4e38], [100, 0, 0], [104, 0, 0], [1e8, 1e8 + 8, 1e8], [89, 89, 89],
    [0, 0, 0], [20, 0, 0],
]


@pytest.mark.parametrize("layout", ["rows", "columns"])
def test_non_finite_and_extreme_rows(layout, dtype):
    """Spec 1.4/1.5: inf/nan rows are nan (softmax, log_softmax) and follow torch's |m| = inf rule
    (logsumexp); rows are independent."""
    with np.errstate(over="ignore"):
        x = np.array(SPECIAL_ROWS, dtype=dtype)
    axis = 1
    if layout == "columns":  # the class axis is not last
        x, axis = np.ascontiguousarray(x.T), 0
    tx = _t(x)
    with np.errstate(invalid="ignore", over="ignore"):
        lse = _lse64(x, axis)
    bound = LSE_COEF[dtype] * np.where(np.isfinite(lse), np.maximum(1, np.abs(lse)), 1)
    _assert_bounded(cxent.softmax(x, axis=axis), _np(torch.softmax(tx, axis)),
                    SOFTMAX_TOL[dtype]["atol"], SOFTMAX_TOL[dtype]["rtol"])
    _assert_bounded(cxent.log_softmax(x, axis=axis), _np(torch.log_softmax(tx, axis)),
                    np.expand_dims(bound, axis), 0)
    _assert_bounded(cxent.logsumexp(x, axis=axis), _np(torch.logsumexp(tx, axis)), bound, 0)


@pytest.mark.parametrize("shape", [(), (7,), (4, 5), (2, 3, 4)], ids=str)
def test_sigmoid_log_sigmoid(shape, dtype, rng):
    x = _data(rng, shape, dtype, scale=10.0)
    _sigmoid_pair(x, dtype)


def test_sigmoid_log_sigmoid_extremes(dtype):
    with np.errstate(over="ignore"):
        x = np.array([-3.4e38, -1e30, -200, -100, -89, -88.7, -88, -20, -1, 0, 1, 16, 16.7, 17, 20,
                      40, 88, 100, 1e30, np.inf, -np.inf, np.nan, -0.0, 1e-30, -1e-30], dtype=dtype)
    _sigmoid_pair(x, dtype)


def _sigmoid_pair(x, dtype):
    tiny = float(np.finfo(dtype).tiny)  # torch's float32 sigmoid flushes below -88.7 (spec 4.3)
    rtol = 4 * EPS[dtype]
    _assert_bounded(cxent.sigmoid(x), _np(torch.sigmoid(_t(x))), tiny, rtol)
    _assert_bounded(cxent.log_sigmoid(x), _np(F.logsigmoid(_t(x))), tiny, rtol)
    assert cxent.sigmoid(x).dtype == dtype and cxent.log_sigmoid(x).dtype == dtype


# --------------------------------------------------------------------------- class-index losses

def _targets(rng, shape, ignore=None):
    n_classes = shape[_class_axis(shape)]
    tshape = () if len(shape) == 1 else (shape[0],) + shape[2:]
    t = rng.integers(0, n_classes, size=tshape)
    if ignore is not None and t.ndim:
        t.flat[::3] = ignore
    return t


def _ce_bound(x, t, weight, ignore_index, label_smoothing, reduction, dtype):
    """Error bound of torch's float32 cross-entropy: every log-probability term within
    ``LSE_COEF * max(1, |lse|)``, weighted as the loss weights it (spec 3.1)."""
    axis = _class_axis(x.shape)
    n_classes = x.shape[axis]
    w = np.ones(n_classes) if weight is None else np.abs(weight.astype(np.float64))
    e = LSE_COEF[dtype] * np.maximum(1, np.abs(_lse64(x, axis)))
    kept = t != ignore_index
    wy = np.where(kept, w[np.where(kept, t, 0)], 0.0)
    per = e * ((1 - label_smoothing) * wy + label_smoothing / n_classes * w.sum() * kept)
    return _reduce_bound(per, reduction, float(np.sum(wy)))


CE_OPTIONS = [dict(weight=w, ignore=ig, label_smoothing=ls)
              for w in (False, True) for ig in (None, -100, 1) for ls in (0.0, 0.1, 1.0)]


@pytest.mark.parametrize("scale", [3.0, 20.0])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_cross_entropy_index_targets(shape, scale, dtype, rng):
    x = _data(rng, shape, dtype, scale)
    n_classes = shape[_class_axis(shape)]
    for opts in CE_OPTIONS:
        ignore = opts["ignore"]
        t = _targets(rng, shape, ignore)
        w = rng.uniform(0.2, 3.0, n_classes).astype(dtype) if opts["weight"] else None
        kw = dict(weight=w, label_smoothing=opts["label_smoothing"])
        if ignore is not None:
            kw["ignore_index"] = ignore
        ignore_index = kw.get("ignore_index", -100)
        for reduction in REDUCTIONS:
            msg = f"{opts} {reduction}"
            got = cxent.cross_entropy(x, t, reduction=reduction, **kw)
            expected = _np(F.cross_entropy(_t(x), _tt(t), weight=_t(w), reduction=reduction,
                                           ignore_index=ignore_index,
                                           label_smoothing=opts["label_smoothing"]))
            assert np.asarray(got).dtype == dtype and np.shape(got) == expected.shape, msg
            bound = _ce_bound(x, t, w, ignore_index, opts["label_smoothing"], reduction, dtype)
            _assert_bounded(got, expected, bound, RTOL[dtype], msg)
            # the class form
            loss = cxent.CrossEntropyLoss(weight=w, ignore_index=ignore_index,
                                          reduction=reduction,
                                          label_smoothing=opts["label_smoothing"])
            tloss = torch.nn.CrossEntropyLoss(weight=_t(w), ignore_index=ignore_index,
                                              reduction=reduction,
                                              label_smoothing=opts["label_smoothing"])
            _assert_bounded(loss(x, t), _np(tloss(_t(x), _tt(t))), bound, RTOL[dtype], msg)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_nll_loss(shape, dtype, rng):
    x = cxent.log_softmax(_data(rng, shape, dtype), axis=_class_axis(shape))
    raw = _data(rng, shape, dtype)  # nll does not check that its input is log-probabilities
    n_classes = shape[_class_axis(shape)]
    for inp in (x, raw):
        for weighted in (False, True):
            for ignore in (None, -100, 2):
                t = _targets(rng, shape, ignore)
                w = rng.uniform(0.2, 3.0, n_classes).astype(dtype) if weighted else None
                ignore_index = -100 if ignore is None else ignore
                kept = t != ignore_index
                wf = np.ones(n_classes) if w is None else w.astype(np.float64)
                wy = np.where(kept, wf[np.where(kept, t, 0)], 0.0)
                picked = np.take_along_axis(np.moveaxis(inp, _class_axis(shape), -1),
                                            np.where(kept, t, 0)[..., None], -1)[..., 0]
                terms = np.abs(wy * picked)  # the summands: one rounding each in torch
                for reduction in REDUCTIONS:
                    msg = f"weight={weighted} ignore={ignore} {reduction}"
                    got = cxent.nll_loss(inp, t, weight=w, ignore_index=ignore_index,
                                         reduction=reduction)
                    expected = _np(F.nll_loss(_t(inp), _tt(t), weight=_t(w),
                                              ignore_index=ignore_index, reduction=reduction))
                    assert np.asarray(got).dtype == dtype and np.shape(got) == expected.shape
                    bound = _reduce_bound(4 * EPS[dtype] * terms, reduction, float(np.sum(wy)))
                    _assert_bounded(got, expected, bound, RTOL[dtype], msg)
                    loss = cxent.NLLLoss(weight=w, ignore_index=ignore_index, reduction=reduction)
                    tloss = torch.nn.NLLLoss(weight=_t(w), ignore_index=ignore_index,
                                             reduction=reduction)
                    _assert_bounded(loss(inp, t), _np(tloss(_t(inp), _tt(t))), bound,
                                    RTOL[dtype], msg)


@pytest.mark.parametrize("tdtype", [np.uint8, np.int32, np.int16, np.uint64])
def test_narrow_integer_targets(tdtype, rng):
    """cxent accepts any integer target dtype (torch only int64/uint8): same values as int64."""
    x = _data(rng, (6, 5), np.float32)
    t = _targets(rng, (6, 5))
    expected = _np(F.cross_entropy(_t(x), _tt(t), reduction="none"))
    got = cxent.cross_entropy(x, t.astype(tdtype), reduction="none")
    _assert_bounded(got, expected, LSE_COEF[np.dtype(np.float32)] *
                    np.maximum(1, np.abs(_lse64(x, 1))), 0)


def test_1d_input_with_size_one_target(dtype, rng):
    """Spec 2.2: a (C,) input takes a 0-d target or a (1,) target, and gives a 0-d loss."""
    x = _data(rng, (5,), dtype)
    for t in (np.array(3), np.array([3])):
        for reduction in REDUCTIONS:
            got = cxent.cross_entropy(x, t, reduction=reduction)
            expected = _np(F.cross_entropy(_t(x), _tt(t), reduction=reduction))
            assert np.shape(got) == expected.shape == ()
            _assert_bounded(got, expected, LSE_COEF[dtype] * max(1, abs(_lse64(x, 0))),
                            RTOL[dtype])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_degenerate_reductions(reduction, dtype):
    """Spec 2.5: all ignored -> nan mean, 0 sum; empty batch; sum of w[y] = 0."""
    x = np.array([[1, 2, 3], [1, -1, 0.5], [0, 0, 0], [2, 1, -1]], dtype=dtype)
    cases = [
        (x, np.full(4, -100), None, 0.0),
        (x, np.full(4, -100), np.array([0.2, 1, 3], dtype), 0.1),
        (x, np.array([0, 1, 0, 1]), np.array([0, 0, 1], dtype), 0.0),
        (x, np.array([0, 1, 2, 0]), np.array([-1, 1, 1], dtype), 0.0),
        (np.zeros((0, 3), dtype), np.zeros(0, np.int64), None, 0.0),
        (np.zeros((2, 3, 0), dtype), np.zeros((2, 0), np.int64), None, 0.2),
        (np.array([[3.0], [4.0]], dtype), np.array([0, 0]), None, 0.0),  # C = 1
    ]
    for inp, t, w, ls in cases:
        got = cxent.cross_entropy(inp, t, weight=w, reduction=reduction, label_smoothing=ls)
        expected = _np(F.cross_entropy(_t(inp), _tt(t), weight=_t(w), reduction=reduction,
                                       label_smoothing=ls))
        _assert_bounded(got, expected, 1e-6, RTOL[dtype], f"{inp.shape} {t} {w}")


def test_special_logits_in_cross_entropy(dtype):
    """Spec 2.4/2.6: +inf at the target -> nan, -inf at the target -> inf, -inf elsewhere -> 0;
    a nan in an ignored row does not propagate."""
    x = np.array([[np.inf, 0, 1], [-np.inf, 0, 1], [0, -np.inf, 1], [np.nan, 1, 0],
                  [1e30, 0, 0], [0, 1e30, 0], [20, 0, 0]], dtype=dtype)
    t = np.array([0, 0, 2, -100, 0, 0, 0])
    for reduction in REDUCTIONS:
        got = cxent.cross_entropy(x, t, reduction=reduction)
        expected = _np(F.cross_entropy(_t(x), _tt(t), reduction=reduction))
        _assert_bounded(got, expected, 4e-6, RTOL[dtype], reduction)
    # nan only in an ignored row, and a -inf logit at a non-target
    keep = [2, 3, 6]
    for reduction in REDUCTIONS:
        got = cxent.cross_entropy(x[keep], t[keep], reduction=reduction)
        expected = _np(F.cross_entropy(_t(x[keep]), _tt(t[keep]), reduction=reduction))
        assert np.all(np.isfinite(got))
        _assert_bounded(got, expected, 4e-6, RTOL[dtype], reduction)
    # nll: +inf at the target -> -inf; a nan at a non-target position is not read
    lp = np.array([[np.inf, 0], [np.nan, -1.0], [-np.inf, 0]], dtype=dtype)
    t = np.array([0, 1, 0])
    for reduction in REDUCTIONS:
        _assert_bounded(cxent.nll_loss(lp, t, reduction=reduction),
                        _np(F.nll_loss(_t(lp), _tt(t), reduction=reduction)), 0, 0, reduction)


# --------------------------------------------------------------------------- probability targets

def _prob_bound(x, q, weight, reduction, dtype):
    axis = _class_axis(x.shape)
    n_classes = x.shape[axis]
    w = np.ones(n_classes) if weight is None else np.abs(weight.astype(np.float64))
    e = LSE_COEF[dtype] * np.maximum(1, np.abs(_lse64(x, axis)))
    wq = np.sum(np.moveaxis(np.abs(q.astype(np.float64)), axis, -1) * w, axis=-1)
    per = e * wq
    return _reduce_bound(per, reduction, float(per.size))


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_cross_entropy_probability_targets(shape, dtype, rng):
    x = _data(rng, shape, dtype)
    axis = _class_axis(shape)
    n_classes = shape[axis]
    targets = {
        "softmax": cxent.softmax(_data(rng, shape, dtype), axis=axis),
        "unnormalised": rng.uniform(0, 3, shape).astype(dtype),
        "signed": rng.uniform(-1, 1, shape).astype(dtype),
    }
    for name, p in targets.items():
        for weighted in (False, True):
            w = rng.uniform(0.2, 3.0, n_classes).astype(dtype) if weighted else None
            for ls in (0.0, 0.25):
                q = p * (1 - ls) + ls / n_classes
                for reduction in REDUCTIONS:
                    msg = f"{name} weight={weighted} ls={ls} {reduction}"
                    got = cxent.cross_entropy(x, p, weight=w, reduction=reduction,
                                              label_smoothing=ls)
                    expected = _np(F.cross_entropy(_t(x), _t(p), weight=_t(w),
                                                   reduction=reduction, label_smoothing=ls))
                    assert np.asarray(got).dtype == dtype and np.shape(got) == expected.shape
                    bound = _prob_bound(x, q, w, reduction, dtype)
                    _assert_bounded(got, expected, bound, RTOL[dtype], msg)
                    loss = cxent.CrossEntropyLoss(weight=w, reduction=reduction,
                                                  label_smoothing=ls)
                    tloss = torch.nn.CrossEntropyLoss(weight=_t(w), reduction=reduction,
                                                      label_smoothing=ls)
                    _assert_bounded(loss(x, p), _np(tloss(_t(x), _t(p))), bound, RTOL[dtype],
                                    msg)


def test_probability_target_promotion_and_specials(rng):
    """Spec 3.2: a float64 target with float32 input promotes; -inf logit with probability 0 is
    nan (0 * -inf); N = 0 gives nan mean and -0.0 sum."""
    x = _data(rng, (4, 3), np.float32)
    p = cxent.softmax(_data(rng, (4, 3), np.float64), axis=1)
    got = cxent.cross_entropy(x, p)
    expected = _np(F.cross_entropy(_t(x), _t(p)))
    assert got.dtype == expected.dtype == np.float64
    # torch computes log_softmax(x) in float32 and promotes afterwards: float32 accuracy
    _assert_bounded(got, expected, _prob_bound(x, p, None, "mean", np.dtype(np.float32)), 1e-6)
    x = np.array([[0, 1, -np.inf]], np.float32)
    p = np.array([[0.5, 0.5, 0.0]], np.float32)
    for reduction in REDUCTIONS:
        _assert_bounded(cxent.cross_entropy(x, p, reduction=reduction),
                        _np(F.cross_entropy(_t(x), _t(p), reduction=reduction)), 0, 0)
    e = np.zeros((0, 3), np.float32)
    for reduction in REDUCTIONS:
        got = cxent.cross_entropy(e, e, reduction=reduction)
        expected = _np(F.cross_entropy(_t(e), _t(e), reduction=reduction))
        _assert_bounded(got, expected, 0, 0, reduction)
        if reduction == "sum":
            assert np.signbit(got) == np.signbit(expected)


# --------------------------------------------------------------------------- binary losses

BIN_SHAPES = [(), (7,), (4, 3), (2, 3, 4)]


def _bin_weights(shape, rng, dtype):
    """Weights broadcasting against ``shape`` (never enlarging it)."""
    out = {"none": None, "scalar": np.array(1.7, dtype)}
    if shape:
        out["last"] = rng.uniform(0.2, 3, shape[-1:]).astype(dtype)
        out["full"] = rng.uniform(0.2, 3, shape).astype(dtype)
    if len(shape) >= 2:
        out["col"] = rng.uniform(0.2, 3, shape[:-1] + (1,)).astype(dtype)
        out["row"] = rng.uniform(0.2, 3, (1,) + shape[1:]).astype(dtype)
    if len(shape) >= 3:
        out["mid"] = rng.uniform(0.2, 3, (shape[1], 1)).astype(dtype)
    return out


@pytest.mark.parametrize("shape", BIN_SHAPES, ids=str)
def test_binary_cross_entropy(shape, dtype, rng):
    p = rng.uniform(0, 1, shape).astype(dtype)
    y = rng.uniform(0, 1, shape).astype(dtype)
    if p.size:
        p.flat[:2] = [0.0, 1.0][: min(2, p.size)]
        y.flat[:1] = 1.0
    with np.errstate(divide="ignore"):  # per element: within 1 ulp-ish of each clamped log
        terms = np.abs(y * np.maximum(np.log(p.astype(np.float64)), -100)) + \
            np.abs((1 - y) * np.maximum(np.log1p(-p.astype(np.float64)), -100))
    for wname, w in _bin_weights(shape, rng, dtype).items():
        wabs = 1.0 if w is None else np.broadcast_to(np.abs(w.astype(np.float64)), shape)
        per = 16 * EPS[dtype] * terms * wabs  # torch: SLEEF log, up to 4.8e-7 abs (spec 6.4)
        for reduction in REDUCTIONS:
            msg = f"weight={wname} {reduction}"
            got = cxent.binary_cross_entropy(p, y, weight=w, reduction=reduction)
            expected = _np(F.binary_cross_entropy(_t(p), _t(y), weight=_t(w),
                                                  reduction=reduction))
            assert np.asarray(got).dtype == dtype and np.shape(got) == expected.shape
            bound = _reduce_bound(per, reduction, float(p.size))
            _assert_bounded(got, expected, bound, RTOL[dtype], msg)
            _assert_bounded(cxent.BCELoss(weight=w, reduction=reduction)(p, y),
                            _np(torch.nn.BCELoss(weight=_t(w), reduction=reduction)(_t(p),
                                                                                    _t(y))),
                            bound, RTOL[dtype], msg)


@pytest.mark.parametrize("shape", BIN_SHAPES, ids=str)
def test_binary_cross_entropy_with_logits(shape, dtype, rng):
    x = _data(rng, shape, dtype, scale=8.0)
    y = rng.uniform(0, 1, shape).astype(dtype)
    if y.size > 2:
        y.flat[:2] = [0.0, 1.0]
    weights = _bin_weights(shape, rng, dtype)
    pos_weights = dict(_bin_weights(shape, rng, dtype))
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    logsig = np.minimum(x64, 0) - np.log1p(np.exp(-np.abs(x64)))
    for wname, w in weights.items():
        for pname, pw in pos_weights.items():
            lw = 1 if pw is None else 1 + (pw.astype(np.float64) - 1) * y64
            # torch's formula (1 - y) x - lw log_sigmoid(x) cancels for large |x|: a few ulp of
            # the terms, not of the result
            terms = np.abs((1 - y64) * x64) + np.abs(lw * logsig) + 1
            wabs = 1.0 if w is None else np.abs(w.astype(np.float64))
            per = np.broadcast_to(8 * EPS[dtype] * terms * wabs, shape)
            for reduction in REDUCTIONS:
                msg = f"weight={wname} pos_weight={pname} {reduction}"
                got = cxent.binary_cross_entropy_with_logits(x, y, weight=w, pos_weight=pw,
                                                             reduction=reduction)
                expected = _np(F.binary_cross_entropy_with_logits(
                    _t(x), _t(y), weight=_t(w), pos_weight=_t(pw), reduction=reduction))
                assert np.asarray(got).dtype == dtype and np.shape(got) == expected.shape, msg
                bound = _reduce_bound(per, reduction, float(x.size))
                _assert_bounded(got, expected, bound, RTOL[dtype], msg)
                loss = cxent.BCEWithLogitsLoss(weight=w, pos_weight=pw, reduction=reduction)
                tloss = torch.nn.BCEWithLogitsLoss(weight=_t(w), pos_weight=_t(pw),
                                                   reduction=reduction)
                _assert_bounded(loss(x, y), _np(tloss(_t(x), _t(y))), bound, RTOL[dtype], msg)


def test_binary_special_values(dtype):
    """Spec 4.1/4.2: BCE's clamp at -100; BCE-with-logits at +-inf is nan/inf where torch's is."""
    p = np.array([0, 1, 0, 1, 0, 1e-8, 0.5], dtype)
    y = np.array([1, 0, 0, 1, 0.5, 0, 1], dtype)
    for reduction in REDUCTIONS:
        _assert_bounded(cxent.binary_cross_entropy(p, y, reduction=reduction),
                        _np(F.binary_cross_entropy(_t(p), _t(y), reduction=reduction)),
                        1e-6, RTOL[dtype], reduction)
    with np.errstate(over="ignore"):
        x = np.array([np.inf, np.inf, -np.inf, -np.inf, np.nan, 100, -100, 1e30, 1e30, -1e30,
                      3.4e38, 20, 40, 0.5, 0.5], dtype)
    y = np.array([1, 0, 0, 1, 0, 0, 1, 0, 1, 0, 0.5, 1, 1, 2, -1], dtype)
    for reduction in REDUCTIONS:
        got = cxent.binary_cross_entropy_with_logits(x, y, reduction=reduction)
        expected = _np(F.binary_cross_entropy_with_logits(_t(x), _t(y), reduction=reduction))
        with np.errstate(invalid="ignore", over="ignore"):
            bound = 8 * EPS[dtype] * np.where(np.isfinite(x), np.abs(x.astype(np.float64)) + 1,
                                              0)
        _assert_bounded(got, expected, _reduce_bound(bound, reduction, x.size), RTOL[dtype],
                        reduction)


def test_binary_target_promotion(rng):
    """Spec 4.2: with logits, a float64 target and float32 input give a float64 result."""
    x = _data(rng, (4, 3), np.float32)
    y = rng.uniform(0, 1, (4, 3))
    got = cxent.binary_cross_entropy_with_logits(x, y)
    expected = _np(F.binary_cross_entropy_with_logits(_t(x), _t(y)))
    assert got.dtype == expected.dtype == np.float64
    # torch evaluates log_sigmoid(x) in float32 before promoting: float32 accuracy
    _assert_bounded(got, expected, 8 * EPS[np.dtype(np.float32)] * (np.abs(x).max() + 1), 1e-6)


@pytest.mark.parametrize("shape", SHAPES[1:], ids=str)
def test_memory_layouts_match_torch(shape, dtype, rng):
    """F-ordered, transposed and strided inputs give torch's values (torch sees a C copy)."""
    x = _data(rng, shape, dtype)
    t = _targets(rng, shape, -100)
    w = rng.uniform(0.2, 3.0, shape[1]).astype(dtype)
    views = {"F": np.asfortranarray(x), "T": np.ascontiguousarray(x.T).T,
             "step": np.repeat(x, 2, axis=-1)[..., ::2], "neg": np.ascontiguousarray(x[::-1])[::-1]}
    lse = _lse64(x, 1)
    expected_ce = _np(F.cross_entropy(_t(x), _tt(t), weight=_t(w), reduction="none",
                                      label_smoothing=0.1))
    expected_ls = _np(torch.log_softmax(_t(x), 1))
    expected_sm = _np(torch.softmax(_t(x), 1))
    for label, xv in views.items():
        got = cxent.cross_entropy(xv, np.asfortranarray(t), weight=w, reduction="none",
                                  label_smoothing=0.1)
        _assert_bounded(got, expected_ce, _ce_bound(x, t, w, -100, 0.1, "none", dtype), 0, label)
        _assert_bounded(cxent.log_softmax(xv, axis=1), expected_ls,
                        np.expand_dims(LSE_COEF[dtype] * np.maximum(1, np.abs(lse)), 1), 0, label)
        np.testing.assert_allclose(cxent.softmax(xv, axis=1), expected_sm, **SOFTMAX_TOL[dtype],
                                   err_msg=label)
