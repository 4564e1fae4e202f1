"""Property tests (hypothesis): mathematical identities every cxent result must satisfy.

Inputs are float32/float64 arrays of up to 3 dims with sides up to 12 and bounded finite elements
(|x| <= 1e4), so every identity holds up to rounding.  The bounds used below are a few ulp of the
result dtype, scaled by the magnitude of the quantities involved (see each test); the comparisons
with ``cxent._reference`` use the suite's one tolerance table (``conftest.TOL``).
"""

import warnings

import numpy as np
import pytest
from conftest import tol
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import cxent
from cxent import _reference as ref

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# On a failure, hypothesis's pytest plugin imports its patch writer (libcst), which can emit a
# DeprecationWarning (mypy_extensions.TypedDict) inside a report hook: under filterwarnings=error
# that becomes an INTERNALERROR that hides the falsifying example.  Import it once here, quietly.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import hypothesis.extra._patching  # noqa: F401
    except ImportError:  # pragma: no cover - libcst not installed: nothing is imported later either
        pass
DTYPES = st.sampled_from([np.dtype(np.float32), np.dtype(np.float64)])
REDUCTIONS = st.sampled_from(["none", "mean", "sum"])
BOUND = 1e4


def _eps(dtype):
    return float(np.finfo(dtype).eps)


def _elements(dtype, bound=BOUND):
    return st.floats(-bound, bound, allow_nan=False, allow_infinity=False,
                     width=32 if dtype == np.float32 else 64)


@st.composite
def arrays(draw, min_dims=1, max_dims=3, min_side=1, max_side=12, bound=BOUND, dtype=None):
    """A float32/float64 array of bounded finite values (``dtype`` drawn unless given)."""
    dtype = draw(DTYPES) if dtype is None else np.dtype(dtype)
    shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                                  max_side=max_side))
    return draw(hnp.arrays(dtype, shape, elements=_elements(dtype, bound)))


@st.composite
def with_axis(draw, **kwargs):
    x = draw(arrays(**kwargs))
    return x, draw(st.integers(-x.ndim, x.ndim - 1))


@st.composite
def exact_grid(draw):
    """Values on a 1/64 grid with |x| <= 1000 and an integer shift |c| <= 1000: ``x + c`` and
    ``x - max`` are exact in float32 and float64, so shift invariance can be checked tightly."""
    dtype = draw(DTYPES)
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=12))
    k = draw(hnp.arrays(np.int64, shape, elements=st.integers(-64000, 64000)))
    c = draw(st.integers(-1000, 1000))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    return (k / 64).astype(dtype), dtype.type(c), axis


@st.composite
def class_problem(draw, weighted=None, ignore=True, max_dims=3):
    """``(x, target, options)`` for nll_loss/cross_entropy: input (C,), (N, C) or (N, C, d)."""
    dtype = draw(DTYPES)
    ndim = draw(st.integers(1, max_dims))
    shape = tuple(draw(st.lists(st.integers(1, 12), min_size=ndim, max_size=ndim)))
    bound = draw(st.sampled_from([10.0, BOUND]))
    x = draw(hnp.arrays(dtype, shape, elements=_elements(dtype, bound)))
    n_classes = shape[0] if ndim == 1 else shape[1]
    tshape = () if ndim == 1 else (shape[0],) + shape[2:]
    t = draw(hnp.arrays(np.int64, tshape, elements=st.integers(0, n_classes - 1)))
    opts = {}
    if ignore and draw(st.booleans()):
        ignore_index = draw(st.sampled_from([-100, -1, 0, n_classes - 1]))
        mask = draw(hnp.arrays(np.bool_, tshape))
        t = np.where(mask, ignore_index, t)
        opts["ignore_index"] = ignore_index
    if weighted is None:
        weighted = draw(st.booleans())
    if weighted:
        opts["weight"] = draw(hnp.arrays(dtype, (n_classes,), elements=st.floats(
            0.125, 4.0, width=32 if dtype == np.float32 else 64)))
    return x, t, opts


def _class_axis(x):
    return 0 if x.ndim == 1 else 1


def _assert_close(actual, desired, dtype, scale=4.0, err_msg=""):
    np.testing.assert_allclose(actual, desired, **tol(dtype, scale), err_msg=err_msg)


def _assert_loss_close(actual, desired, dtype, magnitude, reduction, err_msg=""):
    """Like ``_assert_close``, plus a few ulp of ``magnitude``: the float64 size of the terms that
    cancel in the loss formula (per element for 'none'; summed, or averaged for 'mean').  Element
    math may run in the input dtype (torch's does), and there a cancellation loses that much."""
    magnitude = np.asarray(magnitude, dtype=np.float64)
    if reduction == "sum":
        magnitude = magnitude.sum()
    elif reduction == "mean":
        magnitude = magnitude.mean() if magnitude.size else 0.0
    t = tol(dtype, 4)
    actual64 = np.asarray(actual, dtype=np.float64)
    desired64 = np.asarray(desired, dtype=np.float64)
    assert actual64.shape == desired64.shape, err_msg
    both_nan = np.isnan(actual64) & np.isnan(desired64)
    bound = t["atol"] + t["rtol"] * (np.abs(desired64) + magnitude)
    ok = both_nan | (np.abs(actual64 - desired64) <= bound)
    assert np.all(ok), (f"{err_msg}\nactual={actual64[~ok]}\ndesired={desired64[~ok]}"
                        f"\nbound={np.broadcast_to(bound, ok.shape)[~ok]}")


# --------------------------------------------------------------------------- softmax family

@SETTINGS
@given(with_axis())
def test_softmax_is_a_distribution(xa):
    x, axis = xa
    p = cxent.softmax(x, axis=axis)
    assert p.dtype == x.dtype and p.shape == x.shape
    assert np.all((p >= 0) & (p <= 1))
    n = x.shape[axis]
    np.testing.assert_allclose(p.sum(axis=axis, dtype=np.float64), 1.0,
                               rtol=0, atol=2 * (n + 1) * _eps(x.dtype))
    # the arg-max entry is the largest probability, and it is at least 1/C
    assert np.all(np.max(p, axis=axis) >= 1 / n - 2 * _eps(x.dtype))


@SETTINGS
@given(exact_grid())
def test_softmax_and_log_softmax_are_shift_invariant(case):
    x, c, axis = case
    for f in (cxent.softmax, cxent.log_softmax):
        _assert_close(f(x + c, axis=axis), f(x, axis=axis), x.dtype, scale=1)


@SETTINGS
@given(exact_grid())
def test_logsumexp_shifts_by_the_constant(case):
    x, c, axis = case
    lse = cxent.logsumexp(x, axis=axis)
    shifted = cxent.logsumexp(x + c, axis=axis)
    # both are rounded results near |lse| + |c|: allow a few ulp of that magnitude
    bound = 4 * _eps(x.dtype) * (np.abs(lse.astype(np.float64)) + abs(float(c)) + 1)
    assert np.all(np.abs(shifted.astype(np.float64) - (lse.astype(np.float64) + float(c)))
                  <= bound)


@SETTINGS
@given(with_axis(), st.booleans())
def test_logsumexp_is_between_max_and_max_plus_log_n(xa, keepdims):
    x, axis = xa
    lse = cxent.logsumexp(x, axis=axis, keepdims=keepdims)
    m = np.max(x, axis=axis, keepdims=keepdims)
    assert lse.dtype == x.dtype and lse.shape == m.shape
    assert np.all(lse >= m)  # log(s) >= 0 exactly, since s >= 1 (the max term is exactly 1)
    upper = m.astype(np.float64) + np.log(x.shape[axis])
    assert np.all(lse <= upper + 2 * _eps(x.dtype) * (np.abs(upper) + 1))


@SETTINGS
@given(arrays(min_dims=2, max_dims=3), st.data())
def test_logsumexp_over_several_axes(x, data):
    axes = tuple(data.draw(st.sets(st.integers(0, x.ndim - 1), min_size=1)))
    lse = cxent.logsumexp(x, axis=axes)
    _assert_close(lse, ref.logsumexp(x, axis=axes), x.dtype)
    # reducing axis by axis (in float64) gives the same value
    step = x.astype(np.float64)
    for ax in sorted(axes, reverse=True):
        step = cxent.logsumexp(step, axis=ax)
    _assert_close(lse, step, x.dtype)


@pytest.mark.parametrize("shape, axis", [
    ((1, 2, 3), (0, 2)), ((1, 2, 1), (0, 2)), ((3, 2, 1), (0, 2)), ((2, 1, 3, 1), (1, 3)),
    ((2, 3, 1, 4), (0, 2)), ((1, 4, 1, 1), (0, 2, 3))], ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
def test_logsumexp_axes_tuple_with_unit_axes(shape, axis, keepdims):
    """Regression (found by the property above): reduced axes that are not adjacent but merge
    (because some have size 1) with kept axes that are not leading."""
    x = np.random.default_rng(3).standard_normal(shape)
    got = cxent.logsumexp(x, axis=axis, keepdims=keepdims)
    _assert_close(got, ref.logsumexp(x, axis=axis, keepdims=keepdims), x.dtype)


@SETTINGS
@given(with_axis())
def test_log_softmax_is_log_of_softmax(xa):
    x, axis = xa
    lp = cxent.log_softmax(x, axis=axis).astype(np.float64)
    p = cxent.softmax(x, axis=axis).astype(np.float64)
    eps = _eps(x.dtype)
    big = p > np.finfo(x.dtype).tiny * 1e6  # not tiny: log(p) keeps p's relative accuracy
    with np.errstate(divide="ignore"):
        logp = np.log(p)
    err = np.abs(lp - logp)[big]
    assert np.all(err <= 8 * eps * (1 + np.abs(lp[big])))
    # exp(log_softmax) is softmax, to the relative accuracy of the log-probability
    subnormal = float(np.finfo(x.dtype).smallest_subnormal)
    np.testing.assert_array_less(np.abs(np.exp(lp) - p),
                                 8 * eps * (1 + np.abs(lp)) * p + 2 * subnormal + 1e-300)
    # and log_softmax = x - logsumexp
    lse = np.expand_dims(cxent.logsumexp(x, axis=axis).astype(np.float64), axis)
    assert np.all(np.abs(lp - (x - lse)) <= 4 * eps * (np.abs(x) + np.abs(lse) + 1))
    assert np.all(lp <= 0)


@SETTINGS
@given(arrays(bound=1e3))
def test_sigmoid_symmetry_and_log_sigmoid(x):
    s = cxent.sigmoid(x)
    assert s.dtype == x.dtype and np.all((s >= 0) & (s <= 1))
    eps = _eps(x.dtype)
    np.testing.assert_allclose(s.astype(np.float64) + cxent.sigmoid(-x), 1.0, rtol=0, atol=2 * eps)
    ls = cxent.log_sigmoid(x).astype(np.float64)
    assert np.all(ls <= 0)
    s64 = s.astype(np.float64)
    big = s64 > np.finfo(x.dtype).tiny * 1e6
    err = np.abs(ls[big] - np.log(s64[big]))
    assert np.all(err <= 4 * eps * (1 + np.abs(ls[big])))
    # log_sigmoid(x) - log_sigmoid(-x) = x
    diff = ls - cxent.log_sigmoid(-x).astype(np.float64)
    assert np.all(np.abs(diff - x) <= 4 * eps * (np.abs(x) + 1))


# --------------------------------------------------------------------------- class losses

@SETTINGS
@given(class_problem(weighted=False, ignore=False))
def test_cross_entropy_none_is_minus_log_softmax_at_target(problem):
    x, t, _ = problem
    loss = cxent.cross_entropy(x, t, reduction="none")
    assert loss.dtype == x.dtype and loss.shape == t.shape
    lp = np.moveaxis(cxent.log_softmax(x, axis=_class_axis(x)), _class_axis(x), -1)
    picked = np.take_along_axis(lp, t[..., None], axis=-1)[..., 0]
    _assert_close(loss, -picked, x.dtype)
    assert np.all(loss >= 0)


@SETTINGS
@given(class_problem(), REDUCTIONS)
def test_cross_entropy_is_nll_of_log_softmax(problem, reduction):
    x, t, opts = problem
    ce = cxent.cross_entropy(x, t, reduction=reduction, **opts)
    lp = cxent.log_softmax(x, axis=_class_axis(x))
    nll = cxent.nll_loss(lp, t, reduction=reduction, **opts)
    assert np.asarray(ce).dtype == x.dtype and np.shape(ce) == np.shape(nll)
    _assert_close(ce, nll, x.dtype, err_msg=str(opts))


def _nll_magnitude(x, t, opts, reduction):
    """|w[y] x[y]| per element (0 where ignored), divided by the weight total for 'mean'."""
    axis = _class_axis(x)
    n_classes = x.shape[axis]
    per = np.abs(ref.nll_loss(x.astype(np.float64), t, reduction="none",
                              **{k: (v.astype(np.float64) if k == "weight" else v)
                                 for k, v in opts.items()}))
    if reduction == "mean":
        denom = _denominator(t, opts, n_classes)
        return per / denom if denom else per
    return per


def _denominator(t, opts, n_classes):
    """Sum of w[y] over the non-ignored elements (float64)."""
    kept = t != opts.get("ignore_index", -100)
    w = np.ones(n_classes) if "weight" not in opts else opts["weight"].astype(np.float64)
    return float(np.sum(w[t[kept]]))


@SETTINGS
@given(class_problem(), st.floats(0, 1), st.booleans())
def test_mean_is_sum_over_weight_total(problem, eps, use_ce):
    x, t, opts = problem
    f = cxent.cross_entropy if use_ce else cxent.nll_loss
    kw = dict(label_smoothing=eps) if use_ce else {}
    total = f(x, t, reduction="sum", **opts, **kw)
    mean = f(x, t, reduction="mean", **opts, **kw)
    per = f(x, t, reduction="none", **opts, **kw)
    denom = _denominator(t, opts, x.shape[_class_axis(x)])
    assert np.shape(total) == () and np.asarray(total).dtype == x.dtype
    _assert_close(total, per.astype(np.float64).sum(), x.dtype,
                  scale=4 * max(1.0, np.abs(per).sum() / max(abs(float(total)), 1e-30)))
    if denom == 0:
        assert np.isnan(mean) and total == 0
    else:
        _assert_close(mean, float(total) / denom, x.dtype)


@SETTINGS
@given(class_problem(weighted=False), REDUCTIONS, st.floats(0, 1))
def test_one_hot_probabilities_equal_index_targets(problem, reduction, eps):
    x, t, opts = problem
    axis = _class_axis(x)
    n_classes = x.shape[axis]
    ignore = opts.get("ignore_index", -100)
    kept = t != ignore
    t = np.where(kept, t, 0)  # probability targets have no ignored rows
    onehot = np.moveaxis(np.eye(n_classes, dtype=x.dtype)[t], -1, axis)
    got = cxent.cross_entropy(x, onehot, reduction=reduction, label_smoothing=eps)
    expected = cxent.cross_entropy(x, t, reduction=reduction, label_smoothing=eps)
    assert np.asarray(got).dtype == x.dtype and np.shape(got) == np.shape(expected)
    _assert_close(got, expected, x.dtype)


@SETTINGS
@given(class_problem(), REDUCTIONS, st.floats(0, 1))
def test_label_smoothing_formula(problem, reduction, eps):
    """Spec 3.1: loss = (1-eps) * nll_red + (eps/C) * S, S_i = m_i * sum_c w_c * (-lp_ic),
    S reduced with nll's own denominator (sum of w[y] over kept elements)."""
    x, t, opts = problem
    axis = _class_axis(x)
    n_classes = x.shape[axis]
    got = cxent.cross_entropy(x, t, reduction=reduction, label_smoothing=eps, **opts)
    x64 = x.astype(np.float64)
    lp = np.moveaxis(ref.log_softmax(x64, axis=axis), axis, -1)
    w = opts.get("weight", np.ones(n_classes, x.dtype)).astype(np.float64)
    kept = t != opts.get("ignore_index", -100)
    nll = ref.nll_loss(np.moveaxis(lp, -1, axis), t, reduction=reduction,
                       **{k: v for k, v in opts.items()})
    smooth = np.where(kept, -(lp * w).sum(axis=-1), 0.0)
    if reduction == "sum":
        smooth = smooth.sum()
    elif reduction == "mean":
        denom = _denominator(t, opts, n_classes)
        smooth = smooth.sum() / denom if denom else np.nan
    expected = (1 - eps) * nll + (eps / n_classes) * smooth
    _assert_close(got, expected, x.dtype, err_msg=str(opts))
    _assert_close(got, ref.cross_entropy(x, t, reduction=reduction, label_smoothing=eps, **opts),
                  x.dtype)


@SETTINGS
@given(class_problem(ignore=False), REDUCTIONS, st.floats(0, 1), st.data())
def test_probability_targets_match_reference(problem, reduction, eps, data):
    x, _, opts = problem
    axis = _class_axis(x)
    raw = data.draw(hnp.arrays(x.dtype, x.shape, elements=st.floats(
        0, 1, width=32 if x.dtype == np.float32 else 64)))
    prob = raw if data.draw(st.booleans()) else ref.softmax(raw * 5, axis=axis)
    got = cxent.cross_entropy(x, prob, reduction=reduction, label_smoothing=eps, **opts)
    expected = ref.cross_entropy(x, prob, reduction=reduction, label_smoothing=eps, **opts)
    assert np.asarray(got).dtype == x.dtype and np.shape(got) == np.shape(expected)
    # sums of terms of mixed sign are not needed here: lp <= 0 and q, w >= 0
    _assert_close(got, expected, x.dtype)


@SETTINGS
@given(class_problem(), REDUCTIONS, st.floats(0, 1))
def test_class_losses_match_reference(problem, reduction, eps):
    x, t, opts = problem
    _assert_close(cxent.cross_entropy(x, t, reduction=reduction, label_smoothing=eps, **opts),
                  ref.cross_entropy(x, t, reduction=reduction, label_smoothing=eps, **opts),
                  x.dtype, err_msg=str(opts))
    expected = ref.nll_loss(x, t, reduction=reduction, **opts)
    magnitude = _nll_magnitude(x, t, opts, reduction)
    _assert_loss_close(cxent.nll_loss(x, t, reduction=reduction, **opts), expected, x.dtype,
                       magnitude, "none" if reduction == "none" else "sum", str(opts))


# --------------------------------------------------------------------------- binary losses

@st.composite
def binary_problem(draw, bound=BOUND):
    dtype = draw(DTYPES)
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=12))
    width = 32 if dtype == np.float32 else 64
    x = draw(hnp.arrays(dtype, shape, elements=_elements(dtype, bound)))
    y = draw(hnp.arrays(dtype, shape, elements=st.floats(0, 1, width=width)))
    return x, y


@SETTINGS
@given(binary_problem(bound=10.0), REDUCTIONS)
def test_bce_with_logits_is_bce_of_sigmoid(problem, reduction):
    x, y = problem
    got = cxent.binary_cross_entropy_with_logits(x, y, reduction=reduction)
    # the probability computed in float64, so that BCE does not see the rounding of sigmoid(x)
    expected = cxent.binary_cross_entropy(cxent.sigmoid(x.astype(np.float64)), y.astype(np.float64),
                                          reduction=reduction)
    assert np.asarray(got).dtype == x.dtype
    # the rounding of got, plus the float64 rounding of p = sigmoid(x) amplified by log(1 - p)'s
    # condition number p / (1 - p) ~ e^x (and log(p)'s, ~ e^-x)
    ax = np.abs(x.astype(np.float64))
    atol = 8 * _eps(x.dtype) * (1 + ax) + 4 * _eps(np.float64) * np.exp(ax)
    rtol = 4 * _eps(x.dtype)
    if reduction != "none":
        atol = atol.sum() if reduction == "sum" else atol.mean()
        # the two sums add the same terms in different orders (the kernel's partials, BCE's):
        # each a few eps per halving level of the pairwise sum (a case at 4e-14 seen in CI)
        rtol = (4 + 2 * np.log2(max(x.size, 2))) * _eps(x.dtype)
    err = np.abs(got.astype(np.float64) - expected)
    assert np.all(err <= atol + rtol * np.abs(expected)), (err, atol)


@SETTINGS
@given(binary_problem(), REDUCTIONS, st.data())
def test_binary_losses_match_reference(problem, reduction, data):
    x, y = problem
    width = 32 if x.dtype == np.float32 else 64
    p = data.draw(hnp.arrays(x.dtype, x.shape, elements=st.floats(0, 1, width=width)))
    wshape = data.draw(st.sampled_from([(), x.shape[-1:], x.shape]))
    w = data.draw(hnp.arrays(x.dtype, wshape, elements=st.floats(0.125, 4, width=width)))
    pw = data.draw(hnp.arrays(x.dtype, wshape, elements=st.floats(0.125, 4, width=width)))
    _assert_close(cxent.binary_cross_entropy(p, y, weight=w, reduction=reduction),
                  ref.binary_cross_entropy(p, y, weight=w, reduction=reduction), x.dtype)
    # torch's formula (1 - y) x - lw log_sigmoid(x) cancels for x << 0 (both terms ~ |x|) even
    # where the loss is small (-x pw y): element math in the input dtype loses ulp(|x|) there
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    lw = 1 + (pw.astype(np.float64) - 1) * y64
    magnitude = w.astype(np.float64) * (np.abs((1 - y64) * x64)
                                        + np.abs(lw * ref.log_sigmoid(x64)))
    _assert_loss_close(cxent.binary_cross_entropy_with_logits(x, y, weight=w, reduction=reduction,
                                                              pos_weight=pw),
                       ref.binary_cross_entropy_with_logits(x, y, weight=w, reduction=reduction,
                                                            pos_weight=pw),
                       x.dtype, np.broadcast_to(magnitude, x.shape), reduction)
    assert np.all(cxent.binary_cross_entropy(p, y, reduction="none") >= 0)


# --------------------------------------------------------------------------- oracle agreement

UNARY = ["softmax", "log_softmax", "logsumexp", "sigmoid", "log_sigmoid"]


@SETTINGS
@given(with_axis(), st.sampled_from(UNARY))
def test_unary_functions_match_reference(xa, name):
    x, axis = xa
    kw = {} if name in ("sigmoid", "log_sigmoid") else dict(axis=axis)
    got = getattr(cxent, name)(x, **kw)
    expected = getattr(ref, name)(x, **kw)
    assert got.dtype == expected.dtype == x.dtype and got.shape == expected.shape
    _assert_close(got, expected, x.dtype)


@SETTINGS
@given(with_axis(dtype=np.float32), st.sampled_from(UNARY))
def test_float32_matches_float64_computation(xa, name):
    """cxent's float32 results are the float64 results to float32 accuracy (double accumulation)."""
    x, axis = xa
    kw = {} if name in ("sigmoid", "log_sigmoid") else dict(axis=axis)
    f = getattr(cxent, name)
    _assert_close(f(x, **kw), f(x.astype(np.float64), **kw), np.float32)


@SETTINGS
@given(class_problem(), REDUCTIONS, st.floats(0, 1))
def test_float32_losses_match_float64_computation(problem, reduction, eps):
    x, t, opts = problem
    x32 = x.astype(np.float32)
    o32 = {k: (v.astype(np.float32) if k == "weight" else v) for k, v in opts.items()}
    o64 = {k: (v.astype(np.float64) if k == "weight" else v) for k, v in o32.items()}
    got = cxent.cross_entropy(x32, t, reduction=reduction, label_smoothing=eps, **o32)
    assert np.asarray(got).dtype == np.float32
    _assert_close(got, cxent.cross_entropy(x32.astype(np.float64), t, reduction=reduction,
                                           label_smoothing=eps, **o64), np.float32)
    got = cxent.nll_loss(x32, t, reduction=reduction, **o32)
    assert np.asarray(got).dtype == np.float32
    _assert_loss_close(got, cxent.nll_loss(x32.astype(np.float64), t, reduction=reduction, **o64),
                       np.float32, _nll_magnitude(x32, t, o32, reduction),
                       "none" if reduction == "none" else "sum")


@pytest.mark.parametrize("name", UNARY)
def test_property_strategies_cover_extremes(name):
    """The identities above also hold at the strategy's bounds (a deterministic spot check)."""
    x = np.array([[BOUND, -BOUND, 0.0], [BOUND, BOUND, -BOUND]], dtype=np.float32)
    kw = {} if name in ("sigmoid", "log_sigmoid") else dict(axis=1)
    _assert_close(getattr(cxent, name)(x, **kw), getattr(ref, name)(x, **kw), np.float32)
