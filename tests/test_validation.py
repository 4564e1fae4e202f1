"""Every error branch of cxent's input funnel, and inputs that are never modified.

The contract (``spec/api.md``, ``style.md`` "The validation contract"): cxent raises only TypeError
(types, dtypes), ValueError (shapes, values, options) and IndexError (targets or axes out of range),
and every message names the offending argument (in backticks; we match the bare name).  Accepted but
unusual inputs (bool/integer/float16 arrays, any integer target dtype, huge ignore_index) must work,
and no call may write to an argument other than ``out=``.
"""

import math

import numpy as np
import pytest
from conftest import tol

import cxent

# The spec's shared fixtures (torch-semantics.md, top).
X = np.array([[1, 2, 3], [1, -1, 0.5], [0, 0, 0], [2, 1, -1]], dtype=np.float64)
Y = np.array([2, 0, 1, 1])
P = np.array([[0, 0, 1], [0.5, 0.5, 0], [0.2, 0.3, 0.5], [1, 0, 0]])
W = np.array([0.2, 1.0, 3.0])
PROB = np.array([[0.2, 0.9, 0.5], [0.1, 0.6, 0.4]])  # BCE probabilities
BIN_T = np.array([[0.0, 1.0, 0.3], [1.0, 0.0, 0.5]])  # BCE targets
LOGITS = np.array([[-1.0, 0.5, 2.0], [0.3, -2.0, 1.0]])

NORMALISERS = ["softmax", "log_softmax", "logsumexp"]
ELEMENTWISE = ["sigmoid", "log_sigmoid"]
UNARY = NORMALISERS + ELEMENTWISE
CLASS_LOSSES = ["nll_loss", "cross_entropy", "nll_loss_and_grad", "cross_entropy_and_grad"]
REDUCTIONS = ["none", "mean", "sum"]


def _loss(name):
    return getattr(cxent, name)


def _value(result):
    """The loss of a plain call or of an ``*_and_grad`` call."""
    return result[0] if isinstance(result, tuple) else result


# --------------------------------------------------------------------------- input dtypes

def _structured(shape):
    return np.zeros(shape, dtype=[("a", "f8"), ("b", "f8")])


BAD_INPUTS = {
    "complex": lambda a: a.astype(np.complex128),
    "complex64": lambda a: a.astype(np.complex64),
    "object": lambda a: a.astype(object),
    "structured": lambda a: _structured(a.shape),
    "masked": lambda a: np.ma.masked_array(a, mask=np.zeros(a.shape, bool)),
    "masked-some": lambda a: np.ma.masked_less(a, 0.5),
    "string": lambda a: a.astype(str),
    "datetime": lambda a: np.zeros(a.shape, "datetime64[s]"),
}


def _bad_input_calls():
    """(label, callable taking the bad array, argument name expected in the message)."""
    calls = []
    for name in UNARY:
        calls.append((name, lambda b, f=_loss(name): f(b), "x", X))
    calls.append(("softmax_backward-output",
                  lambda b: cxent.softmax_backward(np.ones(X.shape), b), "output", X))
    calls.append(("log_softmax_backward-grad_output",
                  lambda b: cxent.log_softmax_backward(b, np.zeros(X.shape)), "grad_output", X))
    for name in CLASS_LOSSES:
        calls.append((name, lambda b, f=_loss(name): f(b, Y), "input", X))
    calls.append(("NLLLoss", lambda b: cxent.NLLLoss()(b, Y), "input", X))
    calls.append(("CrossEntropyLoss", lambda b: cxent.CrossEntropyLoss()(b, Y), "input", X))
    calls.append(("cross_entropy-prob", lambda b: cxent.cross_entropy(b, P), "input", X))
    for name in ["binary_cross_entropy", "binary_cross_entropy_and_grad"]:
        calls.append((name, lambda b, f=_loss(name): f(b, BIN_T), "input", PROB))
    for name in ["binary_cross_entropy_with_logits", "binary_cross_entropy_with_logits_and_grad"]:
        calls.append((name, lambda b, f=_loss(name): f(b, BIN_T), "input", LOGITS))
    calls.append(("BCELoss", lambda b: cxent.BCELoss()(b, BIN_T), "input", PROB))
    calls.append(("BCEWithLogitsLoss", lambda b: cxent.BCEWithLogitsLoss()(b, BIN_T), "input",
                  LOGITS))
    return calls


BAD_INPUT_CALLS = _bad_input_calls()


@pytest.mark.parametrize("kind", list(BAD_INPUTS))
@pytest.mark.parametrize("call", BAD_INPUT_CALLS, ids=[c[0] for c in BAD_INPUT_CALLS])
def test_unsupported_input_dtype_raises_type_error(call, kind):
    _, fn, argname, base = call
    bad = BAD_INPUTS[kind](base)
    with pytest.raises(TypeError, match=argname):
        fn(bad)


@pytest.mark.parametrize("kind", ["complex", "object", "structured", "string"])
def test_unsupported_target_weight_dtypes_raise_type_error(kind):
    make = BAD_INPUTS[kind]
    with pytest.raises(TypeError, match="target"):
        cxent.binary_cross_entropy(PROB, make(BIN_T))
    with pytest.raises(TypeError, match="target"):
        cxent.binary_cross_entropy_with_logits(LOGITS, make(BIN_T))
    with pytest.raises(TypeError, match="target"):
        cxent.cross_entropy(X, make(P))  # the input's shape: probabilities, must be floating
    with pytest.raises(TypeError, match="weight"):
        cxent.cross_entropy(X, Y, weight=make(W))
    with pytest.raises(TypeError, match="weight"):
        cxent.nll_loss(X, Y, weight=make(W))
    with pytest.raises(TypeError, match="weight"):
        cxent.binary_cross_entropy(PROB, BIN_T, weight=make(BIN_T))
    with pytest.raises(TypeError, match="pos_weight"):
        cxent.binary_cross_entropy_with_logits(LOGITS, BIN_T, pos_weight=make(BIN_T))


@pytest.mark.parametrize("kind", ["complex", "object", "structured"])
def test_unsupported_index_target_dtypes_raise_type_error(kind):
    bad = BAD_INPUTS[kind](Y)
    for name in CLASS_LOSSES:
        with pytest.raises(TypeError, match="target"):
            _loss(name)(X, bad)


def test_masked_weights_raise_type_error():
    for kind in ["masked", "masked-some"]:
        make = BAD_INPUTS[kind]
        with pytest.raises(TypeError, match="weight"):
            cxent.cross_entropy(X, Y, weight=make(W))
        with pytest.raises(TypeError, match="weight"):
            cxent.binary_cross_entropy(PROB, BIN_T, weight=make(BIN_T))
        with pytest.raises(TypeError, match="pos_weight"):
            cxent.binary_cross_entropy_with_logits(LOGITS, BIN_T, pos_weight=make(BIN_T))


@pytest.mark.parametrize("kind", ["masked", "masked-some"])
def test_masked_targets_raise_type_error(kind):
    """The API's policy rejects masked arrays (``spec/api.md`` Conventions, ``style.md`` validation
    step 1) rather than silently using the hidden values: a masked target is no exception, and the
    weights are already rejected."""
    make = BAD_INPUTS[kind]
    calls = [lambda: cxent.cross_entropy(X, make(Y)),
             lambda: cxent.nll_loss(X, make(Y)),
             lambda: cxent.cross_entropy(X, make(P)),
             lambda: cxent.binary_cross_entropy(PROB, make(BIN_T)),
             lambda: cxent.binary_cross_entropy_with_logits(LOGITS, make(BIN_T))]
    for call in calls:
        with pytest.raises(TypeError, match="target"):
            call()


@pytest.mark.parametrize("in_dtype, result_dtype", [
    (np.bool_, np.float64), (np.int8, np.float64), (np.uint8, np.float64), (np.int32, np.float64),
    (np.int64, np.float64), (np.uint64, np.float64), (np.float16, np.float32),
], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", UNARY)
def test_bool_integer_float16_inputs_are_accepted(name, in_dtype, result_dtype):
    x = (X > 0.7) if in_dtype == np.bool_ else np.abs(X * 2).astype(in_dtype)
    got = _loss(name)(x)
    assert got.dtype == result_dtype
    expected = _loss(name)(x.astype(result_dtype))
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("in_dtype, result_dtype", [
    (np.bool_, np.float64), (np.int16, np.float64), (np.int64, np.float64),
    (np.uint32, np.float64), (np.float16, np.float32),
], ids=lambda d: np.dtype(d).name)
def test_bool_integer_float16_loss_inputs_are_accepted(in_dtype, result_dtype):
    x = (X > 0.7) if in_dtype == np.bool_ else np.abs(X * 2).astype(in_dtype)
    for name in ["nll_loss", "cross_entropy"]:
        for red in REDUCTIONS:
            got = _loss(name)(x, Y, reduction=red)
            assert np.asarray(got).dtype == result_dtype, (name, red)
            expected = _loss(name)(x.astype(result_dtype), Y, reduction=red)
            np.testing.assert_array_equal(got, expected)
        loss, grad = _loss(name + "_and_grad")(x, Y)
        assert np.asarray(loss).dtype == result_dtype and grad.dtype == result_dtype
    p = (PROB > 0.5) if in_dtype == np.bool_ else (PROB > 0.5).astype(in_dtype)
    got = cxent.binary_cross_entropy(p, BIN_T.astype(result_dtype), reduction="none")
    assert got.dtype == result_dtype
    got = cxent.binary_cross_entropy_with_logits(x[:2], BIN_T.astype(result_dtype))
    assert np.asarray(got).dtype == result_dtype


# --------------------------------------------------------------------------- target dtypes

INT_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
              np.intp, np.uintp, np.longlong]


@pytest.mark.parametrize("tdtype", INT_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", ["nll_loss", "cross_entropy"])
def test_any_integer_target_dtype_is_accepted(name, tdtype):
    for red in REDUCTIONS:
        expected = _loss(name)(X, Y, weight=W, reduction=red)
        got = _loss(name)(X, Y.astype(tdtype), weight=W, reduction=red)
        np.testing.assert_array_equal(got, expected)
    # a byte-swapped target of that dtype
    got = _loss(name)(X, Y.astype(np.dtype(tdtype).newbyteorder(">")), ignore_index=1)
    np.testing.assert_array_equal(got, _loss(name)(X, Y, ignore_index=1))


@pytest.mark.parametrize("name", CLASS_LOSSES)
def test_bool_target_raises_type_error(name):
    with pytest.raises(TypeError, match="target"):
        _loss(name)(X, np.array([True, False, True, True]))
    with pytest.raises(TypeError, match="target"):
        _loss(name)(X, X > 0)  # the input's shape: not floating probabilities either


@pytest.mark.parametrize("tdtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("tshape", [(4,), (4, 1), (3,), (4, 3, 1), (3, 4), ()], ids=str)
@pytest.mark.parametrize("name", ["cross_entropy", "cross_entropy_and_grad"])
def test_float_target_of_another_shape_raises_type_error(name, tshape, tdtype):
    t = np.zeros(tshape, dtype=tdtype)
    with pytest.raises(TypeError, match="target"):
        _loss(name)(X, t)


def test_float_target_of_another_shape_1d_input():
    with pytest.raises(TypeError, match="target"):
        cxent.cross_entropy(X[0], np.array([2.0]))
    with pytest.raises(TypeError, match="target"):
        cxent.cross_entropy(X[0], np.float64(2.0))
    with pytest.raises(TypeError, match="target"):
        cxent.cross_entropy(X[:, :, None], P)  # (N, C, 1) input, (N, C) float target


@pytest.mark.parametrize("tdtype", [np.int64, np.int32, np.uint8])
@pytest.mark.parametrize("name", ["cross_entropy", "cross_entropy_and_grad"])
def test_integer_target_with_input_shape_raises_type_error(name, tdtype):
    with pytest.raises(TypeError, match="target"):
        _loss(name)(X, np.zeros(X.shape, tdtype))
    with pytest.raises(TypeError, match="target"):
        _loss(name)(X[0], np.array([0, 1, 2], tdtype))  # 1-d input, 1-d target of length C
    with pytest.raises(TypeError, match="target"):
        cxent.CrossEntropyLoss()(X, np.ones(X.shape, tdtype))


@pytest.mark.parametrize("name", ["nll_loss", "nll_loss_and_grad"])
def test_nll_float_target_raises_type_error(name):
    with pytest.raises(TypeError, match="target"):
        _loss(name)(X, P)  # probabilities are a cross_entropy feature
    with pytest.raises(TypeError, match="target"):
        _loss(name)(X, Y.astype(np.float64))


# --------------------------------------------------------------------------- target range

def _class_cases():
    """(input, good target) for each supported shape."""
    rng = np.random.default_rng(5)
    return {
        "1d-0d": (X[0], np.array(2)),
        "1d-(1,)": (X[0], np.array([1])),
        "2d": (X, Y.copy()),
        "3d": (rng.standard_normal((2, 3, 4)), rng.integers(0, 3, (2, 4))),
        "4d": (rng.standard_normal((2, 3, 4, 5)), rng.integers(0, 3, (2, 4, 5))),
        "3d-F": (np.asfortranarray(rng.standard_normal((2, 3, 4))), rng.integers(0, 3, (2, 4))),
        "2d-T": (np.ascontiguousarray(X.T).T, Y.copy()),
    }


CLASS_CASES = _class_cases()


def _put(t, value, where):
    t = np.array(t, dtype=np.int64)
    if t.ndim == 0:
        return np.array(value, dtype=np.int64)
    t.flat[where] = value
    return t


@pytest.mark.parametrize("where", [0, -1])
@pytest.mark.parametrize("bad", [3, 4, -1, -2, -99, -101, 2**31, 2**40, -2**62, 2**62, 2**63 - 1,
                                 -2**63])
@pytest.mark.parametrize("case", list(CLASS_CASES))
def test_target_out_of_range_raises_index_error(case, bad, where):
    x, t = CLASS_CASES[case]
    t = _put(t, bad, where)
    for name in CLASS_LOSSES:
        for red in REDUCTIONS:
            for opts in (dict(), dict(weight=W), dict(ignore_index=1)):
                with pytest.raises(IndexError, match="target"):
                    _loss(name)(x, t, reduction=red, **opts)
    for red in REDUCTIONS:
        with pytest.raises(IndexError, match="target"):
            cxent.cross_entropy(x, t, reduction=red, label_smoothing=0.1, weight=W)
        with pytest.raises(IndexError, match="target"):
            cxent.cross_entropy(x, t, reduction=red, z_loss=1e-3)
        with pytest.raises(IndexError, match="target"):
            cxent.CrossEntropyLoss(reduction=red)(x, t)
        with pytest.raises(IndexError, match="target"):
            cxent.NLLLoss(reduction=red)(x, t)


@pytest.mark.parametrize("tdtype", [np.uint8, np.uint16, np.uint32, np.uint64])
def test_unsigned_target_out_of_range(tdtype):
    big = np.iinfo(tdtype).max  # 255 for uint8: never equals the default ignore_index -100
    t = np.array([0, 1, big, 2], dtype=tdtype)
    for name in CLASS_LOSSES:
        for red in REDUCTIONS:
            with pytest.raises(IndexError, match="target"):
                _loss(name)(X, t, reduction=red)
    # ... but it is ignored when it is the ignore_index
    got = cxent.cross_entropy(X, t, ignore_index=int(big), reduction="none")
    assert got[2] == 0.0
    np.testing.assert_array_equal(got[[0, 1, 3]],
                                  cxent.cross_entropy(X, [0, 1, 0, 2], reduction="none")[[0, 1, 3]])


def test_uint64_target_beyond_int64_raises_index_error():
    t = np.array([0, 1, 2**63 + 5, 2], dtype=np.uint64)
    for name in CLASS_LOSSES:
        with pytest.raises(IndexError, match="target"):
            _loss(name)(X, t)


@pytest.mark.parametrize("ignore", [-100, -1, 3, 255, 2**40, -2**63, 2**63 - 1])
def test_ignore_index_outside_classes_is_checked_before_range(ignore):
    """torch runs the ignore check before the bounds check (spec 2.4)."""
    t = np.array([0, 1, ignore, 0])
    got = cxent.nll_loss(X, t, ignore_index=ignore, reduction="none")
    assert got[2] == 0.0 and not np.signbit(got[2])
    for name in CLASS_LOSSES:
        for red in REDUCTIONS:
            assert np.all(np.isfinite(_value(_loss(name)(X, t, ignore_index=ignore,
                                                         reduction=red))))


def test_negative_target_equal_to_default_ignore_only():
    t = np.array([0, -100, 1, 2])
    with pytest.raises(IndexError, match="target"):
        cxent.cross_entropy(X, t, ignore_index=-1)  # -100 is then out of range
    cxent.cross_entropy(X, t)  # default: ignored


def test_zero_classes():
    x = np.zeros((2, 0))
    for name in CLASS_LOSSES:
        with pytest.raises(IndexError, match="target"):
            _loss(name)(x, np.array([0, 0]))
    got = cxent.cross_entropy(x, np.array([-100, -100]), reduction="none")
    np.testing.assert_array_equal(got, [0.0, 0.0])
    assert math.isnan(cxent.nll_loss(x, np.array([-100, -100])))
    assert math.isnan(cxent.cross_entropy(np.zeros((0, 0)), np.zeros(0, np.int64)))


def test_bad_target_is_found_before_an_in_place_gradient_write():
    x = X.copy()
    before = x.copy()
    with pytest.raises(IndexError, match="target"):
        cxent.cross_entropy_and_grad(x, np.array([0, 1, 2, 3]), grad_out=x)
    np.testing.assert_array_equal(x, before)
    with pytest.raises(IndexError, match="target"):
        cxent.nll_loss_and_grad(x, np.array([-1, 1, 2, 0]), grad_out=x)
    np.testing.assert_array_equal(x, before)


# --------------------------------------------------------------------------- shapes

def _shape_mismatches():
    rng = np.random.default_rng(1)
    x4 = rng.standard_normal((2, 3, 4, 5))
    x3 = rng.standard_normal((2, 3, 4))
    return {
        "batch": (X, np.array([0, 1, 2])),
        "batch-larger": (X, np.array([0, 1, 2, 0, 1])),
        "(1,C)-0d": (X[:1], np.array(0)),
        "(N,C)-(N,1)": (X, Y[:, None]),
        "(N,C)-(1,N)": (X, Y[None, :]),
        "(N,C)-(N,C')": (X, np.zeros((4, 2), np.int64)),
        "4d-spatial": (x4, np.zeros((2, 4, 4), np.int64)),
        "4d-spatial-swap": (x4, np.zeros((2, 5, 4), np.int64)),
        "4d-(N,H)": (x4, np.zeros((2, 4), np.int64)),
        "4d-batch": (x4, np.zeros((3, 4, 5), np.int64)),
        "3d-(N,d')": (x3, np.zeros((2, 3), np.int64)),
        "3d-(N,)": (x3, np.zeros((2,), np.int64)),
        "3d-(N,d,1)": (x3, np.zeros((2, 4, 1), np.int64)),
        "1d-(k,)": (X[0], np.array([0, 1])),
        "1d-(1,1)": (X[0], np.array([[0]])),
        "2d-empty-target": (X, np.zeros(0, np.int64)),
    }


SHAPE_MISMATCHES = _shape_mismatches()


@pytest.mark.parametrize("case", list(SHAPE_MISMATCHES))
def test_target_shape_mismatch_raises_value_error(case):
    x, t = SHAPE_MISMATCHES[case]
    for name in CLASS_LOSSES:
        for red in REDUCTIONS:
            with pytest.raises(ValueError, match="target"):
                _loss(name)(x, t, reduction=red)
    with pytest.raises(ValueError, match="target"):
        cxent.cross_entropy(x, t, label_smoothing=0.2, weight=np.ones(x.shape[1 if x.ndim > 1
                                                                                   else 0]))
    with pytest.raises(ValueError, match="target"):
        cxent.CrossEntropyLoss()(x, t)


@pytest.mark.parametrize("name", CLASS_LOSSES)
def test_0d_input_raises_value_error(name):
    for t in (np.array(0), np.array(0.5), np.array([0])):
        with pytest.raises(ValueError, match="input"):
            _loss(name)(np.array(3.0), t)
    with pytest.raises(ValueError, match="input"):
        _loss(name)(3.0, 0)


@pytest.mark.parametrize("weight", [np.ones(2), np.ones(4), np.ones((1, 3)), np.ones((3, 1)),
                                    np.array(1.0), np.ones(0)], ids=lambda w: str(w.shape))
@pytest.mark.parametrize("target", ["index", "prob", "smooth"])
def test_bad_class_weight_shape_raises_value_error(weight, target):
    t = P if target == "prob" else Y
    ls = 0.1 if target == "smooth" else 0.0
    for name in ["cross_entropy", "cross_entropy_and_grad"]:
        for red in REDUCTIONS:
            with pytest.raises(ValueError, match="weight"):
                _loss(name)(X, t, weight=weight, reduction=red, label_smoothing=ls)
    with pytest.raises(ValueError, match="weight"):
        cxent.CrossEntropyLoss(weight=weight)(X, t)
    if target == "index":
        for name in ["nll_loss", "nll_loss_and_grad"]:
            with pytest.raises(ValueError, match="weight"):
                _loss(name)(X, Y, weight=weight)
        with pytest.raises(ValueError, match="weight"):
            cxent.NLLLoss(weight=weight)(X, Y)
        with pytest.raises(ValueError, match="weight"):  # K-dim input
            cxent.cross_entropy(X[:, :, None], Y[:, None], weight=weight)


# --------------------------------------------------------------------------- options

BAD_REDUCTIONS = ["avg", "MEAN", "", "mean ", None, 0, "elementwise_mean", "batchmean"]


@pytest.mark.parametrize("reduction", BAD_REDUCTIONS, ids=repr)
def test_bad_reduction_raises_value_error(reduction):
    calls = [
        lambda: cxent.nll_loss(X, Y, reduction=reduction),
        lambda: cxent.cross_entropy(X, Y, reduction=reduction),
        lambda: cxent.cross_entropy(X, P, reduction=reduction),
        lambda: cxent.nll_loss_and_grad(X, Y, reduction=reduction),
        lambda: cxent.cross_entropy_and_grad(X, Y, reduction=reduction),
        lambda: cxent.binary_cross_entropy(PROB, BIN_T, reduction=reduction),
        lambda: cxent.binary_cross_entropy_and_grad(PROB, BIN_T, reduction=reduction),
        lambda: cxent.binary_cross_entropy_with_logits(LOGITS, BIN_T, reduction=reduction),
        lambda: cxent.binary_cross_entropy_with_logits_and_grad(LOGITS, BIN_T,
                                                                reduction=reduction),
        lambda: cxent.CrossEntropyLoss(reduction=reduction)(X, Y),
        lambda: cxent.NLLLoss(reduction=reduction)(X, Y),
        lambda: cxent.BCELoss(reduction=reduction)(PROB, BIN_T),
        lambda: cxent.BCEWithLogitsLoss(reduction=reduction)(LOGITS, BIN_T),
        # the option is checked even when the data would be empty
        lambda: cxent.cross_entropy(np.zeros((0, 3)), np.zeros(0, np.int64), reduction=reduction),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="reduction"):
            call()


@pytest.mark.parametrize("eps", [1.0000001, 1.1, 2, np.inf, np.nan], ids=repr)
def test_label_smoothing_above_one_raises_value_error(eps):
    for t in (Y, P):
        for name in ["cross_entropy", "cross_entropy_and_grad"]:
            with pytest.raises(ValueError, match="label_smoothing"):
                _loss(name)(X, t, label_smoothing=eps)
        with pytest.raises(ValueError, match="label_smoothing"):
            cxent.CrossEntropyLoss(label_smoothing=eps)(X, t)


@pytest.mark.parametrize("eps", [-0.1, -1.0, -5, -np.inf], ids=repr)
def test_negative_label_smoothing_is_silently_zero(eps):
    for t in (Y, P):
        for red in REDUCTIONS:
            got = cxent.cross_entropy(X, t, weight=W, reduction=red, label_smoothing=eps)
            np.testing.assert_array_equal(got, cxent.cross_entropy(X, t, weight=W, reduction=red))
    np.testing.assert_allclose(cxent.cross_entropy(X.astype(np.float32), [2, 0, 1, -100],
                                                   label_smoothing=-0.1),
                               0.6870583892, rtol=1e-6)  # spec 3.1: the unsmoothed mean


@pytest.mark.parametrize("ignore", [0, 1, 2, 3, 100, 2**40])
def test_probability_targets_reject_nonnegative_ignore_index(ignore):
    for name in ["cross_entropy", "cross_entropy_and_grad"]:
        with pytest.raises(ValueError, match="ignore_index"):
            _loss(name)(X, P, ignore_index=ignore)
    with pytest.raises(ValueError, match="ignore_index"):
        cxent.CrossEntropyLoss(ignore_index=ignore)(X, P)


@pytest.mark.parametrize("ignore", [-1, -5, -100, -2**40])
def test_probability_targets_accept_negative_ignore_index(ignore):
    np.testing.assert_array_equal(cxent.cross_entropy(X, P, ignore_index=ignore),
                                  cxent.cross_entropy(X, P))


@pytest.mark.parametrize("ignore", [1.5, "1", None], ids=repr)
def test_non_integer_ignore_index_raises_type_error(ignore):
    with pytest.raises(TypeError, match="ignore_index"):
        cxent.cross_entropy(X, Y, ignore_index=ignore)
    with pytest.raises(TypeError, match="ignore_index"):
        cxent.nll_loss(X, Y, ignore_index=ignore)


# --------------------------------------------------------------------------- binary losses

@pytest.mark.parametrize("bad", [-0.1, 1.1, np.nan, np.inf, -np.inf, -1e-30, 1 + 2**-52],
                         ids=repr)
@pytest.mark.parametrize("where", [0, -1])
def test_bce_input_outside_unit_interval_raises(bad, where):
    p = PROB.copy()
    p.flat[where] = bad
    for red in REDUCTIONS:
        with pytest.raises(ValueError, match="input"):
            cxent.binary_cross_entropy(p, BIN_T, reduction=red)
        with pytest.raises(ValueError, match="input"):
            cxent.binary_cross_entropy_and_grad(p, BIN_T, reduction=red)
        with pytest.raises(ValueError, match="input"):
            cxent.BCELoss(reduction=red)(p, BIN_T)
    with pytest.raises(ValueError, match="input"):
        cxent.binary_cross_entropy(np.asfortranarray(p), BIN_T, weight=np.ones(3))
    p32 = p.astype(np.float32)
    if not 0 <= p32.flat[where] <= 1:  # 1 + 2**-52 rounds to 1 in float32
        with pytest.raises(ValueError, match="input"):
            cxent.binary_cross_entropy(p32[:, ::-1], BIN_T[:, ::-1])
    with pytest.raises(ValueError, match="input"):
        cxent.binary_cross_entropy(np.float64(p.flat[where]), np.float64(0.5))


def test_bce_float32_just_above_one_raises():
    p = np.nextafter(np.float32(1), np.float32(2))
    with pytest.raises(ValueError, match="input"):
        cxent.binary_cross_entropy(np.array([p]), np.array([1.0], np.float32))


def test_bce_in_place_gradient_checks_before_writing():
    p = PROB.copy()
    p[1, 1] = 1.5
    before = p.copy()
    with pytest.raises(ValueError, match="input"):
        cxent.binary_cross_entropy_and_grad(p, BIN_T, grad_out=p)
    np.testing.assert_array_equal(p, before)
    t = BIN_T.copy()
    t[0, 0] = -0.5
    p = PROB.copy()
    with pytest.raises(ValueError, match="target"):
        cxent.binary_cross_entropy_and_grad(p, t, grad_out=p)
    np.testing.assert_array_equal(p, PROB)


@pytest.mark.parametrize("bad", [-0.1, 1.1, np.nan, np.inf, -np.inf, 2], ids=repr)
def test_bce_target_outside_unit_interval_raises(bad):
    t = BIN_T.copy()
    t[1, 2] = bad
    for red in REDUCTIONS:
        with pytest.raises(ValueError, match="target"):
            cxent.binary_cross_entropy(PROB, t, reduction=red)
        with pytest.raises(ValueError, match="target"):
            cxent.binary_cross_entropy_and_grad(PROB, t, reduction=red)
    with pytest.raises(ValueError, match="target"):
        cxent.binary_cross_entropy(PROB, t.T.copy().T)
    if np.isfinite(bad):  # with logits the target is not checked (spec 4.2)
        assert np.isfinite(cxent.binary_cross_entropy_with_logits(LOGITS, t))


def test_bce_edges_of_unit_interval_are_accepted():
    p = np.array([0.0, -0.0, 1.0, 0.0, 1.0])
    y = np.array([1.0, 0.0, 0.0, 0.0, 1.0])
    np.testing.assert_array_equal(cxent.binary_cross_entropy(p, y, reduction="none"),
                                  [100.0, 0.0, 100.0, 0.0, 0.0])


@pytest.mark.parametrize("tshape", [(1, 3), (3,), (2, 1), (3, 2), (2, 3, 1), (6,), ()], ids=str)
def test_binary_target_shape_mismatch_raises(tshape):
    t = np.full(tshape, 0.5)
    calls = [cxent.binary_cross_entropy, cxent.binary_cross_entropy_and_grad,
             cxent.binary_cross_entropy_with_logits,
             cxent.binary_cross_entropy_with_logits_and_grad, cxent.BCELoss(),
             cxent.BCEWithLogitsLoss()]
    for call in calls:
        x = PROB if call in (cxent.binary_cross_entropy, cxent.binary_cross_entropy_and_grad) or \
            isinstance(call, cxent.BCELoss) else LOGITS
        for red in REDUCTIONS:
            if isinstance(call, (cxent.BCELoss, cxent.BCEWithLogitsLoss)):
                call = type(call)(reduction=red)
                with pytest.raises(ValueError, match="target"):
                    call(x, t)
            else:
                with pytest.raises(ValueError, match="target"):
                    call(x, t, reduction=red)
    with pytest.raises(ValueError, match="target"):  # a 0-d input with a (1,) target
        cxent.binary_cross_entropy_with_logits(np.float64(0.3), np.array([1.0]))


@pytest.mark.parametrize("wshape", [(2,), (4,), (4, 3), (1, 2, 3), (3, 3), (2, 2)], ids=str)
def test_binary_weight_not_broadcastable_raises(wshape):
    w = np.ones(wshape)
    with pytest.raises(ValueError, match="weight"):
        cxent.binary_cross_entropy(PROB, BIN_T, weight=w)
    with pytest.raises(ValueError, match="weight"):
        cxent.binary_cross_entropy_and_grad(PROB, BIN_T, weight=w)
    with pytest.raises(ValueError, match="weight"):
        cxent.BCELoss(weight=w)(PROB, BIN_T)
    with pytest.raises(ValueError, match="weight"):
        cxent.binary_cross_entropy_with_logits(LOGITS, BIN_T, weight=w, reduction="none")
    with pytest.raises(ValueError, match="pos_weight"):
        cxent.binary_cross_entropy_with_logits(LOGITS, BIN_T, pos_weight=w)
    with pytest.raises(ValueError, match="pos_weight"):
        cxent.binary_cross_entropy_with_logits_and_grad(LOGITS, BIN_T, pos_weight=w)
    with pytest.raises(ValueError, match="pos_weight"):
        cxent.BCEWithLogitsLoss(pos_weight=w)(LOGITS, BIN_T)


def test_binary_weight_enlarging_a_1d_input_raises():
    x, y = LOGITS[0], BIN_T[0]
    with pytest.raises(ValueError, match="pos_weight"):
        cxent.binary_cross_entropy_with_logits(x, y, pos_weight=np.ones((4, 3)))
    with pytest.raises(ValueError, match="weight"):
        cxent.binary_cross_entropy_with_logits(x, y, weight=np.ones((2, 3)))
    with pytest.raises(ValueError, match="weight"):
        cxent.binary_cross_entropy(PROB[0], y, weight=np.ones((2, 1)))
    with pytest.raises(ValueError, match="weight"):  # a 0-d input: any non-scalar weight enlarges
        cxent.binary_cross_entropy(np.float64(0.2), np.float64(1.0), weight=np.ones(2))


@pytest.mark.parametrize("wshape", [(), (1,), (3,), (2, 1), (1, 3), (2, 3), (1, 1)], ids=str)
def test_binary_broadcastable_weights_are_accepted(wshape):
    w = np.full(wshape, 2.0)
    np.testing.assert_allclose(cxent.binary_cross_entropy(PROB, BIN_T, weight=w, reduction="sum"),
                               2 * cxent.binary_cross_entropy(PROB, BIN_T, reduction="sum"),
                               rtol=1e-15)
    got = cxent.binary_cross_entropy_with_logits(LOGITS, BIN_T, pos_weight=w, reduction="none")
    assert got.shape == LOGITS.shape


def test_binary_integer_targets_are_accepted():
    y = np.array([[0, 1, 1], [1, 0, 0]])
    for t in (y, y.astype(np.uint8), y.astype(bool)):
        np.testing.assert_array_equal(cxent.binary_cross_entropy(PROB, t),
                                      cxent.binary_cross_entropy(PROB, y.astype(np.float64)))
        np.testing.assert_array_equal(
            cxent.binary_cross_entropy_with_logits(LOGITS, t),
            cxent.binary_cross_entropy_with_logits(LOGITS, y.astype(np.float64)))


# --------------------------------------------------------------------------- axis

@pytest.mark.parametrize("name", NORMALISERS)
def test_axis_out_of_range_raises_index_error(name):
    f = _loss(name)
    for x, axis in [(X, 2), (X, -3), (X, 100), (np.array(3.0), 1), (np.array(3.0), -2),
                    (np.zeros((0, 3)), 2), (X[0], 1)]:
        with pytest.raises(IndexError, match="axis"):
            f(x, axis=axis)
    if name != "logsumexp":
        with pytest.raises(IndexError, match="axis"):
            f(np.asfortranarray(X), axis=5)


@pytest.mark.parametrize("name", NORMALISERS)
def test_axis_tuple_out_of_range_raises_index_error(name):
    with pytest.raises(IndexError, match="axis"):
        _loss(name)(X, axis=(0, 2))
    with pytest.raises(IndexError, match="axis"):
        _loss(name)(X, axis=(-3,))


def test_backward_axis_out_of_range_raises_index_error():
    y = cxent.softmax(X)
    for name in ["softmax_backward", "log_softmax_backward"]:
        with pytest.raises(IndexError, match="axis"):
            _loss(name)(np.ones_like(y), y, axis=2)


@pytest.mark.parametrize("axis", [(0, 0), (1, -1), (0, 1, 0), [1, 1]], ids=str)
@pytest.mark.parametrize("name", NORMALISERS)
def test_duplicate_axes_raise_value_error(name, axis):
    with pytest.raises(ValueError, match="axis"):
        _loss(name)(X, axis=axis)
    if name == "logsumexp":
        with pytest.raises(ValueError, match="axis"):
            cxent.logsumexp(X, axis=axis, keepdims=True)


@pytest.mark.parametrize("axis", [1.0, 1.5, "1", True, np.float64(0.0), (0, 1.0), object()],
                         ids=repr)
@pytest.mark.parametrize("name", NORMALISERS)
def test_non_integer_axis_raises_type_error(name, axis):
    with pytest.raises(TypeError, match="axis"):
        _loss(name)(X, axis=axis)
    with pytest.raises(TypeError, match="axis"):
        _loss(name)(np.asfortranarray(X), axis=axis)


@pytest.mark.parametrize("name", NORMALISERS)
def test_numpy_integer_axes_are_accepted(name):
    f = _loss(name)
    for axis in (np.int64(1), np.intp(-1), np.uint8(1), np.int32(0)):
        np.testing.assert_array_equal(f(X, axis=axis), f(X, axis=int(axis)))


# --------------------------------------------------------------------------- out=

def _unary_out_cases():
    return [
        ("softmax", lambda out, x=X: cxent.softmax(x, out=out), X.shape),
        ("log_softmax", lambda out, x=X: cxent.log_softmax(x, axis=0, out=out), X.shape),
        ("logsumexp", lambda out, x=X: cxent.logsumexp(x, axis=1, out=out), (4,)),
        ("logsumexp-keepdims",
         lambda out, x=X: cxent.logsumexp(x, axis=1, keepdims=True, out=out), (4, 1)),
        ("logsumexp-all", lambda out, x=X: cxent.logsumexp(x, axis=None, out=out), ()),
        ("sigmoid", lambda out, x=X: cxent.sigmoid(x, out=out), X.shape),
        ("log_sigmoid", lambda out, x=X: cxent.log_sigmoid(x, out=out), X.shape),
        ("softmax_backward",
         lambda out, x=X: cxent.softmax_backward(np.ones_like(x), cxent.softmax(x), out=out),
         X.shape),
        ("log_softmax_backward",
         lambda out, x=X: cxent.log_softmax_backward(np.ones_like(x), cxent.log_softmax(x),
                                                     out=out), X.shape),
    ]


OUT_CASES = _unary_out_cases()
OUT_IDS = [c[0] for c in OUT_CASES]


@pytest.mark.parametrize("case", OUT_CASES, ids=OUT_IDS)
def test_out_wrong_shape_raises_value_error(case):
    _, call, shape = case
    for bad in [shape + (1,), (1,) + shape, (5,), (4, 2), (3, 4), ()]:
        if bad == shape:
            continue
        out = np.zeros(bad)
        with pytest.raises(ValueError, match="out"):
            call(out)
        assert not out.any()


@pytest.mark.parametrize("case", OUT_CASES, ids=OUT_IDS)
def test_out_wrong_dtype_raises_type_error(case):
    _, call, shape = case
    for dt in [np.float32, np.float16, np.int64, np.complex128, np.longdouble, ">f8"]:
        if np.dtype(dt) == np.float64:
            continue
        with pytest.raises(TypeError, match="out"):
            call(np.zeros(shape, dt))
    with pytest.raises(TypeError, match="out"):
        call(np.zeros(shape).tolist())


def test_out_dtype_follows_the_result_dtype():
    with pytest.raises(TypeError, match="out"):
        cxent.softmax(X.astype(np.float32), out=np.zeros(X.shape))
    with pytest.raises(TypeError, match="out"):
        cxent.sigmoid(np.arange(3), out=np.zeros(3, np.int64))  # the result is float64
    out = np.zeros(3)
    assert cxent.sigmoid(np.arange(3), out=out) is out
    out = np.zeros(3, np.float32)
    assert cxent.log_sigmoid(np.arange(3, dtype=np.float16), out=out) is out


@pytest.mark.parametrize("case", OUT_CASES, ids=OUT_IDS)
def test_read_only_out_raises_value_error(case):
    _, call, shape = case
    out = np.zeros(shape)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="out"):
        call(out)
    assert not out.any()
    view = np.broadcast_to(np.zeros(1), shape) if shape else np.broadcast_to(np.zeros(()), shape)
    with pytest.raises(ValueError, match="out"):
        call(view)


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "sigmoid", "log_sigmoid"])
def test_out_may_be_the_input_itself(name, dtype):
    """An explicit ``out=x`` is the one array a call may overwrite; the values are unchanged."""
    x = (X * 3).astype(dtype)
    expected = _loss(name)(x)
    for xv in (x.copy(), np.asfortranarray(x), np.repeat(x, 2, axis=1)[:, ::2]):
        assert _loss(name)(xv, out=xv) is xv
        np.testing.assert_allclose(xv, expected, **tol(dtype, 4))


# --------------------------------------------------------------------------- never a crash

def test_huge_and_odd_values_raise_or_work():
    for t in [np.array([2**62, 0, 0, 0]), np.array([0, -2**62, 0, 0]),
              np.array([0, 0, np.iinfo(np.int64).min, 0]),
              np.array([0, 0, 0, np.iinfo(np.int64).max])]:
        for name in CLASS_LOSSES:
            with pytest.raises(IndexError, match="target"):
                _loss(name)(X, t)
            with pytest.raises(IndexError, match="target"):
                _loss(name)(X, t, ignore_index=2**40)
    # an ignore_index far outside the classes, present or not, and one beyond int64
    for ignore in (2**40, -2**40, 2**63 - 1, 2**64, -2**70, np.int64(2**40), np.uint64(2**63)):
        for name in ["nll_loss", "cross_entropy"]:
            got = _loss(name)(X, Y, ignore_index=ignore)
            assert got == _loss(name)(X, Y)
    t = np.array([0, 2**40, 1, 2**40])
    got = cxent.cross_entropy(X, t, ignore_index=2**40, reduction="none")
    assert got[1] == 0.0 and got[3] == 0.0
    # extreme but valid numbers
    for x in [np.full((2, 3), 1e308), np.full((2, 3), -1e308), np.array([[np.inf, -np.inf, 0.0]]),
              np.array([[np.nan, 1, 2]]), np.array([[5e-324, 0, -5e-324]])]:
        t = np.zeros(x.shape[0], np.int64)
        for name in ["nll_loss", "cross_entropy"]:
            for red in REDUCTIONS:
                _loss(name)(x, t, reduction=red, weight=[1e308, 1e-308, 0])
                _loss(name + "_and_grad")(x, t, reduction=red)
        cxent.cross_entropy_and_grad(x, t, label_smoothing=1.0, weight=[1e308, 1e-308, 0])
        for f in (cxent.softmax, cxent.log_softmax, cxent.logsumexp, cxent.sigmoid,
                  cxent.log_sigmoid):
            f(x)
        cxent.binary_cross_entropy_with_logits(x, np.ones_like(x), pos_weight=1e300,
                                               reduction="none")
    assert math.isnan(cxent.cross_entropy(X, np.full(4, -100)))
    assert cxent.cross_entropy(X, np.full(4, -100), reduction="sum") == 0.0


def test_overflowing_reduction_is_inf_without_warning():
    """Per-row losses are finite but their float64 sum overflows: torch returns inf silently, and
    cxent's 'none' path does too; 'sum'/'mean' must not leak a NumPy RuntimeWarning (an error under
    this suite's ``filterwarnings=error``)."""
    x = np.full((2, 3), -1e308)
    np.testing.assert_array_equal(cxent.nll_loss(x, [0, 0], reduction="none"), [1e308, 1e308])
    assert cxent.nll_loss(x, [0, 0], reduction="sum") == np.inf
    assert cxent.nll_loss(x, [0, 0], reduction="mean") == np.inf
    y = np.full((2, 3), 1e308)
    assert cxent.binary_cross_entropy_with_logits(y, np.zeros((2, 3)), reduction="sum") == np.inf


def test_empty_and_0d_inputs_work():
    assert cxent.softmax(np.array(3.0)).shape == ()
    assert cxent.softmax(np.array(3.0)) == 1.0
    assert cxent.log_softmax(np.array(3.0)) == 0.0
    assert cxent.logsumexp(np.array(3.0)) == 3.0
    assert cxent.logsumexp(np.zeros(0)) == -np.inf
    assert cxent.softmax(np.zeros((0, 3))).shape == (0, 3)
    np.testing.assert_array_equal(cxent.logsumexp(np.zeros((2, 0)), axis=1), [-np.inf, -np.inf])
    assert cxent.sigmoid(np.zeros((0, 2))).shape == (0, 2)
    for name in ["nll_loss", "cross_entropy"]:
        assert math.isnan(_loss(name)(np.zeros((0, 3)), np.zeros(0, np.int64)))
        assert _loss(name)(np.zeros((0, 3)), np.zeros(0, np.int64), reduction="sum") == 0.0
        assert _loss(name)(np.zeros((2, 3, 0)), np.zeros((2, 0), np.int64),
                           reduction="none").shape == (2, 0)
    assert math.isnan(cxent.binary_cross_entropy(np.zeros(0), np.zeros(0)))
    assert math.isnan(cxent.binary_cross_entropy_with_logits(np.zeros((0, 4)), np.zeros((0, 4))))
    assert cxent.binary_cross_entropy_with_logits(np.zeros((0, 4)), np.zeros((0, 4)),
                                                  reduction="sum") == 0.0


# --------------------------------------------------------------------------- inputs not modified

def _root(a):
    """The ndarray that owns ``a``'s memory (so that writes outside the view are seen too)."""
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def _unaligned(a):
    buf = np.zeros(a.nbytes + a.itemsize + 1, np.uint8)
    u = buf[1:1 + a.nbytes].view(a.dtype).reshape(a.shape)
    u[...] = a
    return u


def _read_only(a):
    a = a.copy()
    a.flags.writeable = False
    return a


def _layouts(a):
    """The array zoo: ``a``'s values in many memory layouts (all with equal values)."""
    a = np.asarray(a)
    zoo = {
        "C": a.copy(order="C"),  # (np.ascontiguousarray would make a 0-d array 1-d)
        "F": a.copy(order="F"),
        "read-only": _read_only(a),
        "swapped": a.astype(a.dtype.newbyteorder(">" if a.dtype.byteorder != ">" else "<")),
    }
    if a.dtype.kind == "f":
        zoo["unaligned"] = _unaligned(a)
    if a.ndim >= 1 and a.size:
        zoo["strided"] = np.repeat(a, 2, axis=-1)[..., ::2]
        zoo["reversed"] = np.ascontiguousarray(a[::-1])[::-1]
        zoo["read-only-strided"] = _read_only(np.repeat(a, 3, axis=0))[::3]
    if a.ndim >= 2:
        zoo["transposed"] = np.ascontiguousarray(a.T).T
    if a.ndim >= 3:
        perm = (1, 0) + tuple(range(2, a.ndim))
        zoo["permuted"] = np.ascontiguousarray(a.transpose(perm)).transpose(perm)
    for v in zoo.values():
        np.testing.assert_array_equal(v, a)
    return zoo


def _data(shape, dtype, seed=0, scale=3.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


def _class_target(shape, seed=1, ignore=None):
    n_classes = shape[0] if len(shape) == 1 else shape[1]
    t = np.random.default_rng(seed).integers(0, n_classes, () if len(shape) == 1 else
                                             (shape[0],) + shape[2:])
    if ignore is not None and t.size > 2:
        t.flat[1] = ignore
    return t


def _prob(shape, dtype, seed=2):
    axis = 0 if len(shape) == 1 else 1
    return cxent.softmax(_data(shape, dtype, seed), axis=axis) if shape[axis] else \
        np.zeros(shape, dtype)


def _zoo_cases(dtype):
    """(label, function, args, kwargs): every public function with representative arguments."""
    cases = []
    for shape in [(4, 3), (2, 3, 4), (), (0, 3), (5,)]:
        x = _data(shape, dtype)
        for name in ["softmax", "log_softmax", "logsumexp"]:
            cases.append((f"{name}{shape}", _loss(name), (x,), {}))
            if x.ndim >= 2:
                cases.append((f"{name}{shape}-axis0", _loss(name), (x,), dict(axis=0)))
        cases.append((f"logsumexp{shape}-all", cxent.logsumexp, (x,), dict(axis=None,
                                                                          keepdims=True)))
        for name in ["sigmoid", "log_sigmoid"]:
            cases.append((f"{name}{shape}", _loss(name), (x,), {}))
        g = _data(shape, dtype, seed=3)
        cases.append((f"softmax_backward{shape}", cxent.softmax_backward,
                      (g, cxent.softmax(x)), {}))
        cases.append((f"log_softmax_backward{shape}", cxent.log_softmax_backward,
                      (g, cxent.log_softmax(x)), {}))
        # binary losses (any shape)
        p = np.random.default_rng(4).uniform(0, 1, shape).astype(dtype)
        y = np.random.default_rng(5).uniform(0, 1, shape).astype(dtype)
        w = np.random.default_rng(6).uniform(0.5, 2, shape[-1:]).astype(dtype)
        for red in REDUCTIONS:
            for name in ["binary_cross_entropy", "binary_cross_entropy_and_grad"]:
                cases.append((f"{name}{shape}-{red}", _loss(name), (p, y),
                              dict(weight=w, reduction=red)))
            for name in ["binary_cross_entropy_with_logits",
                         "binary_cross_entropy_with_logits_and_grad"]:
                cases.append((f"{name}{shape}-{red}", _loss(name), (x, y),
                              dict(weight=w, pos_weight=w[::-1].copy() if w.ndim else w * 2,
                                   reduction=red)))
        cases.append((f"BCELoss{shape}", cxent.BCELoss(weight=w), (p, y), {}))
        cases.append((f"BCEWithLogitsLoss{shape}", cxent.BCEWithLogitsLoss(pos_weight=w),
                      (x, y), {}))
    # class losses: 0-d makes no sense for them; (C,) with a 0-d target, and an empty batch
    for shape in [(4, 3), (2, 3, 4), (5,), (0, 3), (2, 3, 0)]:
        x = _data(shape, dtype)
        n_classes = shape[0] if len(shape) == 1 else shape[1]
        w = np.random.default_rng(7).uniform(0.5, 2, n_classes).astype(dtype)
        t = _class_target(shape, ignore=-100)
        lp = cxent.log_softmax(x, axis=0 if len(shape) == 1 else 1)
        prob = _prob(shape, dtype)
        for red in REDUCTIONS:
            for suffix in ["", "_and_grad"]:
                cases.append((f"nll_loss{suffix}{shape}-{red}", _loss("nll_loss" + suffix),
                              (lp, t), dict(weight=w, reduction=red)))
                cases.append((f"cross_entropy{suffix}{shape}-{red}",
                              _loss("cross_entropy" + suffix), (x, t),
                              dict(weight=w, reduction=red, label_smoothing=0.1)))
                cases.append((f"cross_entropy{suffix}{shape}-prob-{red}",
                              _loss("cross_entropy" + suffix), (x, prob),
                              dict(weight=w, reduction=red, label_smoothing=0.1)))
        cases.append((f"CrossEntropyLoss{shape}", cxent.CrossEntropyLoss(weight=w), (x, t), {}))
        cases.append((f"NLLLoss{shape}", cxent.NLLLoss(weight=w), (lp, t), {}))
    return cases


ARRAY_KWARGS = ("weight", "pos_weight")


def _snapshot(args):
    return [(_root(a), _root(a).tobytes()) for a in args]


def _assert_unchanged(snap, label):
    for root, raw in snap:
        assert root.tobytes() == raw, f"{label}: an argument was modified"


def _flatten(result):
    return result if isinstance(result, tuple) else (result,)


@pytest.mark.parametrize("layout", ["C", "F", "read-only", "swapped", "unaligned", "strided",
                                    "reversed", "read-only-strided", "transposed", "permuted",
                                    "mixed"])
def test_inputs_are_never_modified(layout, dtype):
    for label, fn, args, kwargs in _zoo_cases(dtype):
        arrays = list(args) + [kwargs[k] for k in ARRAY_KWARGS if kwargs.get(k) is not None]
        for k in ARRAY_KWARGS:  # weights held by a loss object
            if getattr(fn, k, None) is not None:
                arrays.append(getattr(fn, k))

        def pick(a, i):
            zoo = _layouts(a)
            if layout == "mixed":  # a different layout per argument
                keys = sorted(zoo)
                return zoo[keys[i % len(keys)]]
            return zoo.get(layout, zoo["C"])

        new_args = tuple(pick(a, i) for i, a in enumerate(args))
        new_kwargs = dict(kwargs)
        for j, k in enumerate(ARRAY_KWARGS):
            if kwargs.get(k) is not None:
                new_kwargs[k] = pick(kwargs[k], len(args) + j)
        if isinstance(fn, (cxent.CrossEntropyLoss, cxent.NLLLoss, cxent.BCELoss,
                           cxent.BCEWithLogitsLoss)):
            for k in ARRAY_KWARGS:
                if getattr(fn, k, None) is not None:
                    setattr(fn, k, pick(getattr(fn, k), 2))
        snap = _snapshot(list(new_args) + [new_kwargs[k] for k in ARRAY_KWARGS
                                           if new_kwargs.get(k) is not None]
                         + [getattr(fn, k) for k in ARRAY_KWARGS
                            if getattr(fn, k, None) is not None])
        expected = _flatten(fn(*args, **kwargs))
        got = _flatten(fn(*new_args, **new_kwargs))
        _assert_unchanged(snap, f"{label} [{layout}]")
        assert len(got) == len(expected)
        for g, e in zip(got, expected):
            assert np.shape(g) == np.shape(e), label
            assert np.asarray(g).dtype == np.asarray(e).dtype, label
            np.testing.assert_allclose(g, e, equal_nan=True, err_msg=f"{label} [{layout}]",
                                       **tol(np.asarray(e).dtype, 4))
        # the result never aliases an input
        for r in got:
            if isinstance(r, np.ndarray) and r.size:
                for a in new_args:
                    assert not np.shares_memory(r, a), label


def test_results_are_writeable_new_arrays():
    x = _read_only(X)
    for name in ["softmax", "log_softmax", "sigmoid", "log_sigmoid"]:
        r = _loss(name)(x)
        assert r.flags.writeable and not np.shares_memory(r, x)
    r = cxent.cross_entropy(x, Y, reduction="none")
    assert r.flags.writeable
    loss, g = cxent.cross_entropy_and_grad(x, Y)
    assert g.flags.writeable and not np.shares_memory(g, x)
