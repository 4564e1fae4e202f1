"""The compiled gates of small calls give the general path's results bit for bit (they run the same
routines), and decline every other call.

* ``cross_entropy``'s small-call entry (``_lib._losses.xent_small``: plain C-contiguous 2-d input,
  int64 targets, default options, below the threading threshold) against the general path, reached
  through the same call with unit weights or through a copy in another memory order.
* The loss of ``cross_entropy_and_grad`` equals ``cross_entropy``'s bit for bit in float32 too, on
  both the short-row (row-batched) and the long-row (sum-of-exp stored) kernels.
  The long-row case checks that the sum of exp is the same with and without the stored
  exponentials (the gradient path stores them, the plain loss does not).
"""

import numpy as np
import pytest

import cxent
from cxent._lib import _losses as _k
from conftest import tol
from cxent import _reference as ref

SHAPES = [(1, 1), (1, 3), (7, 2), (64, 10), (9, 31), (8, 32), (5, 33), (13, 100), (3, 1000)]


def _case(rng, shape, dtype, scale=3.0):
    x = (rng.standard_normal(shape) * scale).astype(dtype)
    t = rng.integers(0, shape[1], shape[0])
    return x, t


@pytest.mark.parametrize("fn", ["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_small_entry_equals_general_path(fn, shape, reduction, dtype, rng):
    x, t = _case(rng, shape, dtype)
    logits = fn == "cross_entropy"
    fast = _k.xent_small(x, t, None, -100, reduction, 0.0, 0.0, logits)
    assert fast is not None  # the entry took this call
    assert type(fast) is dtype.type
    public = getattr(cxent, fn)
    general = public(x, t, weight=np.ones(shape[1], dtype), reduction=reduction)
    np.testing.assert_array_equal(fast, general)
    np.testing.assert_array_equal(public(x, t, reduction=reduction), fast)
    expected = getattr(ref, fn)(x, t, reduction=reduction)
    np.testing.assert_allclose(fast, expected, **tol(dtype))


def test_small_entry_nll_threshold_counts_rows(rng):
    # nll_loss reads one element per row: the compiled entry serves it up to the row threshold
    x, t = _case(rng, (64, 2000), np.float32)
    assert _k.xent_small(x, t, None, -100, "mean", 0.0, 0.0, False) is not None
    assert _k.xent_small(x, t, None, -100, "mean", 0.0, 0.0, True) is None


def test_small_entry_ignore_index_and_all_ignored(dtype, rng):
    x, t = _case(rng, (12, 5), dtype)
    t[::3] = 2
    for ign in (2, -100):
        fast = cxent.cross_entropy(x, t, ignore_index=ign)
        general = cxent.cross_entropy(x, t, ignore_index=ign, weight=np.ones(5))
        np.testing.assert_array_equal(fast, general)
        np.testing.assert_allclose(fast, ref.cross_entropy(x, t, ignore_index=ign), **tol(dtype))
    assert np.isnan(cxent.cross_entropy(x, np.full(12, 7), ignore_index=7))
    assert cxent.cross_entropy(x, np.full(12, 7), ignore_index=7, reduction="sum") == 0.0


@pytest.mark.parametrize("bad", [-1, 5, 2**40])
def test_small_entry_defers_bad_targets_to_the_general_path(bad, rng):
    x, t = _case(rng, (6, 5), np.float32)
    t[4] = bad
    assert _k.xent_small(x, t, None, -100, "mean", 0.0, 0.0) is None
    with pytest.raises(IndexError, match=str(bad)):
        cxent.cross_entropy(x, t)


@pytest.mark.parametrize("fn", ["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("opts", [dict(weight=True), dict(reduction="none"),
                                  dict(weight=True, reduction="none", ignore_index=2),
                                  dict(label_smoothing=0.2), dict(z_loss=1e-3),
                                  dict(weight=True, label_smoothing=0.1, z_loss=1e-4,
                                       reduction="sum"),
                                  dict(weight="zero", label_smoothing=0.3),
                                  dict(probs=True), dict(probs=True, weight=True, reduction="none"),
                                  dict(probs=True, label_smoothing=0.2, z_loss=1e-3,
                                       reduction="sum")], ids=str)
@pytest.mark.parametrize("shape", [(1, 1), (7, 2), (64, 10), (5, 33), (3, 1000)], ids=str)
def test_small_entry_with_options_equals_general_path(fn, opts, shape, dtype, rng):
    # weights, 'none', smoothing and z-loss go through the gate too; the general path is reached
    # through an F-ordered copy (the gate declines it), whose bits must be the same
    x, t = _case(rng, shape, dtype)
    t[::3] = 2 % shape[1]
    opts = dict(opts)
    if opts.get("weight") is True:
        opts["weight"] = rng.uniform(0.5, 2, shape[1]).astype(dtype)
    elif opts.get("weight") == "zero":  # every target's weight 0: the mean divides by 0
        opts["weight"] = np.zeros(shape[1], dtype)
    if opts.pop("probs", False):
        if fn == "nll_loss":
            pytest.skip("nll_loss takes class indices only")
        t = cxent.softmax(rng.standard_normal(shape).astype(dtype))
        t[0] = 0.0  # a row without mass
    if fn == "nll_loss":
        opts.pop("label_smoothing", None)
        opts.pop("z_loss", None)
    full = dict(weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0,
                z_loss=0.0)
    full.update(opts)
    fast = _k.xent_small(x, t, *full.values(), fn == "cross_entropy")
    assert fast is not None
    general = getattr(cxent, fn)(np.asfortranarray(x), t, **opts)
    np.testing.assert_array_equal(fast, general)
    assert np.asarray(fast).dtype == dtype and np.shape(fast) == np.shape(general)
    np.testing.assert_array_equal(getattr(cxent, fn)(x, t, **opts), fast)


GRAD_OPTS = [{}, {"weight": True}, {"reduction": "sum"}, {"label_smoothing": 0.1},
             {"ignore_index": 1}, {"z_loss": 1e-3}, {"weight": True, "ignore_index": 0}]


@pytest.mark.parametrize("fn", ["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("opts", GRAD_OPTS, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_xent_grad_gate_is_the_general_path(fn, opts, shape, dtype, rng):
    x, t = _case(rng, shape, dtype)
    opts = dict(opts)
    if fn == "nll_loss" and ("label_smoothing" in opts or "z_loss" in opts):
        pytest.skip("nll_loss takes neither label_smoothing nor z_loss")
    if opts.get("weight"):
        opts["weight"] = (rng.random(shape[1]) + 0.5).astype(dtype)
    if "ignore_index" in opts and shape[0] > 1:
        t[0] = opts["ignore_index"]
    full = dict(weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0, z_loss=0.0)
    full.update(opts)
    if fn == "nll_loss":
        fast = _k.nll_grad_small(x, t, full["weight"], full["ignore_index"], full["reduction"])
    else:
        fast = _k.xent_grad_small(x, t, *full.values())
    if full["reduction"] == "mean" and np.all(t == full["ignore_index"]):
        assert fast is None  # a zero denominator: the general path's nan
        return
    assert fast is not None and type(fast[0]) is dtype.type and fast[1].dtype == dtype
    # the general path: a scalar grad_output of 1 scales by exactly 1
    and_grad = getattr(cxent, fn + "_and_grad")
    general = and_grad(np.asfortranarray(x), t, grad_output=np.float64(1.0), **opts)
    np.testing.assert_array_equal(fast[0], general[0])
    np.testing.assert_array_equal(fast[1], general[1])
    loss, g = and_grad(x, t, **opts)  # the public call takes the gate
    np.testing.assert_array_equal(loss, fast[0])
    np.testing.assert_array_equal(g, fast[1])
    np.testing.assert_array_equal(loss, getattr(cxent, fn)(x, t, **opts))


@pytest.mark.parametrize("variant", ["none", "probs", "bad target", "all ignored", "nll", "3-d"])
def test_xent_grad_gate_declines_other_calls(variant, rng):
    x, t = _case(rng, (6, 5), np.float32)
    reduction, logits = "mean", True
    if variant == "none":
        reduction = "none"
    elif variant == "probs":
        t = cxent.softmax(x)
    elif variant == "bad target":
        t[2] = 5
    elif variant == "all ignored":
        t[:] = -100
    elif variant == "nll":
        logits = False
    elif variant == "3-d":
        x = x.reshape(6, 5, 1)
        t = t.reshape(6, 1)
    if logits:
        assert _k.xent_grad_small(x, t, None, -100, reduction, 0.0, 0.0) is None
        if variant != "probs":  # nll's gate declines the same calls
            assert _k.nll_grad_small(x, t, None, -100, reduction) is None
    else:  # the nll gate takes this call, the cross-entropy gate's logits flag stays
        assert _k.nll_grad_small(x, t, None, -100, reduction) is not None
        assert _k.xent_small(x, t, None, -100, reduction, 0.0, 0.0, False) is not None
    if variant == "bad target":
        with pytest.raises(IndexError):
            cxent.cross_entropy_and_grad(x, t)
    elif variant == "all ignored":
        loss, g = cxent.cross_entropy_and_grad(x, t)  # torch: nan, and a zero gradient
        assert np.isnan(loss) and not g.any() and not np.signbit(g).any()


@pytest.mark.parametrize("variant", ["int32 target", "F order", "strided rows", "weight list",
                                     "weight f64", "weight strided", "negative smoothing",
                                     "int smoothing", "inf z_loss", "bad reduction", "big",
                                     "list", "int ignore huge", "big-endian", "3-d"])
def test_small_entry_declines_other_calls(variant, rng):
    x, t = _case(rng, (6, 5), np.float32)
    kw = {}
    if variant == "int32 target":
        t = t.astype(np.int32)
    elif variant == "F order":
        x = np.asfortranarray(x)
    elif variant == "strided rows":
        x = np.repeat(x, 2, axis=0)[::2]
    elif variant == "weight list":
        kw["weight"] = [1.0] * 5
    elif variant == "weight f64":
        kw["weight"] = np.ones(5)
    elif variant == "weight strided":
        kw["weight"] = np.ones(10, np.float32)[::2]
    elif variant == "negative smoothing":
        kw["label_smoothing"] = -0.1
    elif variant == "int smoothing":
        kw["label_smoothing"] = 1
    elif variant == "inf z_loss":
        kw["z_loss"] = np.inf
    elif variant == "bad reduction":
        kw["reduction"] = "avg"
    elif variant == "big":
        x, t = _case(rng, (4000, 10), np.float32)
    elif variant == "list":
        x = x.tolist()
    elif variant == "int ignore huge":
        kw["ignore_index"] = 2**70
    elif variant == "big-endian":
        x = x.astype(">f4")
    elif variant == "3-d":
        x = x.reshape(6, 5, 1)
        t = t.reshape(6, 1)
    full = dict(weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0, z_loss=0.0)
    full.update(kw)
    assert _k.xent_small(x, t, *full.values()) is None
    if variant in ("inf z_loss", "bad reduction"):  # the general path reports these
        with pytest.raises(ValueError):
            cxent.cross_entropy(x, t, **kw)
        return
    # ...and the general path still gives the right answer for it
    xa = np.asarray(x, dtype=np.float64)
    np.testing.assert_allclose(cxent.cross_entropy(x, t, **kw),
                               ref.cross_entropy(xa, t, **kw), **tol(np.float32, 2))


@pytest.mark.parametrize("shape", SHAPES + [(4, 5000)], ids=str)
@pytest.mark.parametrize("opts", [{}, {"label_smoothing": 0.2}, {"z_loss": 1e-3},
                                  {"reduction": "none"}], ids=str)
def test_and_grad_loss_is_the_plain_loss_float32(shape, opts, rng):
    x, t = _case(rng, shape, np.float32, scale=8.0)
    if shape[1] > 2:
        x[0, 0] = -np.inf  # exp(-inf) = 0 in both paths
        x[:, 1] = x.max(axis=1) - 95.0  # exp below FLT_MIN: 0 in the sum, subnormal if stored
        x[-1] = -95.0  # a row whose terms besides the max are all below FLT_MIN
        x[-1, -1] = 0.0
        t[-1] = shape[1] - 1
    loss, g = cxent.cross_entropy_and_grad(x, t, **opts)
    np.testing.assert_array_equal(loss, cxent.cross_entropy(x, t, **opts))
    assert np.isfinite(g).all()


@pytest.mark.parametrize("name", ["sigmoid", "log_sigmoid"])
@pytest.mark.parametrize("shape", [(1,), (7,), (64, 10), (3, 5, 9)], ids=str)
def test_sigmoid_gate_is_the_general_path(name, shape, dtype, rng):
    # the compiled gate runs the same span routine: its result equals the general path's bits
    from cxent._lib._softmax import sigmoid_small
    x = (rng.standard_normal(shape) * 20).astype(dtype)
    x.flat[0] = np.nan
    fast = sigmoid_small(x, name == "log_sigmoid", cxent._config.PARALLEL_THRESHOLD)
    assert fast is not None and fast.dtype == dtype and fast.shape == x.shape
    general = getattr(cxent, name)(x, out=np.empty_like(x))  # out=: the general path
    np.testing.assert_array_equal(fast, general)
    np.testing.assert_array_equal(getattr(cxent, name)(x), fast)


@pytest.mark.parametrize("variant", ["list", "F order", "int", "empty", "big", "big-endian"])
def test_sigmoid_gate_declines_other_calls(variant, rng):
    from cxent._lib._softmax import sigmoid_small
    x = rng.standard_normal((6, 5)).astype(np.float32)
    if variant == "list":
        x = x.tolist()
    elif variant == "F order":
        x = np.asfortranarray(x)
    elif variant == "int":
        x = np.arange(30).reshape(6, 5)
    elif variant == "empty":
        x = np.zeros((0, 5), np.float32)
    elif variant == "big":
        x = rng.standard_normal(40000).astype(np.float32)
    elif variant == "big-endian":
        x = x.astype(">f4")
    assert sigmoid_small(x, False, cxent._config.PARALLEL_THRESHOLD) is None
    np.testing.assert_allclose(cxent.sigmoid(x), ref.sigmoid(np.asarray(x, np.float64)),
                               **tol(np.float32, 2))


ROW_KINDS = ["softmax", "log_softmax", "logsumexp", "softmax_backward", "log_softmax_backward"]


@pytest.mark.parametrize("fn", ROW_KINDS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_rows_gate_is_the_general_path(fn, shape, dtype, rng):
    from cxent._lib._softmax import rows_small
    x, _ = _case(rng, shape, dtype)
    x[0, 0] = np.inf if shape[1] > 2 else x[0, 0]  # a nan row, as torch
    kind = ROW_KINDS.index(fn)
    args = (x,)
    if kind >= 3:  # grad_output, and the forward's output
        fwd = cxent.log_softmax if kind == 4 else cxent.softmax
        args = (np.asarray(rng.standard_normal(shape), dtype), fwd(_case(rng, shape, dtype)[0]))
    fast = rows_small(kind, args[0], args[1] if kind >= 3 else None, -1,
                      cxent._config.PARALLEL_THRESHOLD)
    assert fast is not None and fast.dtype == dtype and fast.flags.c_contiguous
    general = getattr(cxent, fn)(*args, axis=np.int64(1))  # a NumPy integer axis: the general path
    np.testing.assert_array_equal(fast, general)
    np.testing.assert_array_equal(getattr(cxent, fn)(*args), fast)
    if kind < 3:
        np.testing.assert_allclose(fast, getattr(ref, fn)(x, axis=-1), **tol(dtype, 4))


@pytest.mark.parametrize("variant", ["backward shapes", "backward types"])
def test_rows_gate_declines_backward_mismatches(variant, rng):
    from cxent._lib._softmax import rows_small
    g, _ = _case(rng, (6, 5), np.float32)
    y = cxent.softmax(g)
    y = y[:, :4].copy() if variant == "backward shapes" else y.astype(np.float64)
    for kind in (3, 4):
        assert rows_small(kind, g, y, -1, cxent._config.PARALLEL_THRESHOLD) is None
        assert rows_small(kind, g, None, -1, cxent._config.PARALLEL_THRESHOLD) is None


@pytest.mark.parametrize("variant", ["axis 0", "F order", "3-d", "int", "big", "big-endian",
                                     "numpy axis", "empty"])
def test_rows_gate_declines_other_calls(variant, rng):
    from cxent._lib._softmax import rows_small
    x, _ = _case(rng, (6, 5), np.float32)
    axis = -1
    if variant == "axis 0":
        axis = 0
    elif variant == "F order":
        x = np.asfortranarray(x)
    elif variant == "3-d":
        x = x.reshape(6, 5, 1)
    elif variant == "int":
        x = np.arange(30).reshape(6, 5)
    elif variant == "big":
        x, _ = _case(rng, (4000, 10), np.float32)
    elif variant == "big-endian":
        x = x.astype(">f4")
    elif variant == "numpy axis":
        axis = np.int64(1)
    elif variant == "empty":
        x = np.zeros((0, 5), np.float32)
    for kind in range(5):
        assert rows_small(kind, x, x, axis, cxent._config.PARALLEL_THRESHOLD) is None
    np.testing.assert_allclose(cxent.softmax(x, axis=axis),
                               ref.softmax(np.asarray(x, np.float64), axis=int(axis)),
                               **tol(np.float32, 2))


@pytest.mark.parametrize("logits", [False, True], ids=["bce", "bce_with_logits"])
@pytest.mark.parametrize("shape", [(1,), (7,), (64, 10), (3, 5, 9), (8192,)], ids=str)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_bce_gate_is_the_general_path(logits, shape, reduction, dtype, rng):
    from cxent._lib._binary import bce_small
    x = (rng.standard_normal(shape) * 4).astype(dtype) if logits else rng.random(shape).astype(dtype)
    t = rng.random(shape).astype(dtype)
    x.flat[0] = 0.0  # BCE: log 0 clamped at -100
    fast = bce_small(x, t, None, None, logits, reduction, cxent._config.PARALLEL_THRESHOLD)
    assert fast is not None and type(fast) is dtype.type
    fn = cxent.binary_cross_entropy_with_logits if logits else cxent.binary_cross_entropy
    general = fn(x, t, weight=np.ones(shape[-1], dtype), reduction=reduction)  # the general path
    np.testing.assert_array_equal(fast, general)
    np.testing.assert_array_equal(fn(x, t, reduction=reduction), fast)
    expected = getattr(ref, fn.__name__)(x, t, reduction=reduction)
    np.testing.assert_allclose(fast, expected, **tol(dtype))


@pytest.mark.parametrize("logits", [False, True], ids=["bce", "bce_with_logits"])
@pytest.mark.parametrize("shape", [(1,), (64, 10), (3, 5, 9)], ids=str)
@pytest.mark.parametrize("wshape", ["last", "full"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_bce_gate_with_weights_is_the_general_path(logits, shape, wshape, reduction, dtype, rng):
    from cxent._lib._binary import bce_small
    x = (rng.standard_normal(shape) * 4).astype(dtype) if logits else rng.random(shape).astype(dtype)
    t = rng.random(shape).astype(dtype)
    ws = shape[-1:] if wshape == "last" else shape
    w = (rng.random(ws) * 2).astype(np.float32).astype(dtype)  # float32 values: exact either way
    pw = (rng.random(ws) * 3).astype(np.float32).astype(dtype) if logits else None
    fast = bce_small(x, t, w, pw, logits, reduction, cxent._config.PARALLEL_THRESHOLD)
    assert fast is not None and type(fast) is dtype.type

    def strided(a):  # the same values in the other dtype: the gate declines, the general path runs
        return None if a is None else a.astype(np.float64 if dtype == np.float32 else np.float32)

    fn = cxent.binary_cross_entropy_with_logits if logits else cxent.binary_cross_entropy
    kw = {"pos_weight": strided(pw)} if logits else {}
    assert bce_small(x, t, strided(w), None, logits, reduction, cxent._config.PARALLEL_THRESHOLD) is None
    general = fn(x, t, weight=strided(w), reduction=reduction, **kw)
    np.testing.assert_array_equal(fast, general)
    kw = {"pos_weight": pw} if logits else {}
    np.testing.assert_array_equal(fn(x, t, weight=w, reduction=reduction, **kw), fast)
    expected = getattr(ref, fn.__name__)(x, t, weight=w, reduction=reduction, **kw)
    np.testing.assert_allclose(fast, expected, **tol(dtype))


@pytest.mark.parametrize("variant", ["w f64", "w shape", "w list", "pw for bce"])
def test_bce_gate_declines_other_weights(variant, rng):
    from cxent._lib._binary import bce_small
    x = rng.random((6, 5)).astype(np.float32)
    t = rng.random((6, 5)).astype(np.float32)
    w, pw, logits = rng.random(5).astype(np.float32), None, False
    if variant == "w f64":
        w = w.astype(np.float64)
    elif variant == "w shape":
        w = rng.random((6, 1)).astype(np.float32)
    elif variant == "w list":
        w = w.tolist()
    else:
        pw = w
    assert bce_small(x, t, w, pw, logits, "mean", cxent._config.PARALLEL_THRESHOLD) is None


@pytest.mark.parametrize("variant", ["list", "F order", "int target", "f64 target", "empty",
                                     "big", "big-endian", "none", "bad input", "shape",
                                     "array reduction"])
def test_bce_gate_declines_other_calls(variant, rng):
    from cxent._lib._binary import bce_small
    x = rng.random((6, 5)).astype(np.float32)
    t = rng.random((6, 5)).astype(np.float32)
    reduction = "mean"
    if variant == "list":
        x = x.tolist()
    elif variant == "F order":
        x = np.asfortranarray(x)
    elif variant == "int target":
        t = (t > 0.5).astype(np.int64)
    elif variant == "f64 target":
        t = t.astype(np.float64)
    elif variant == "empty":
        x, t = x[:0], t[:0]
    elif variant == "big":
        x, t = rng.random(8193).astype(np.float32), rng.random(8193).astype(np.float32)
    elif variant == "big-endian":
        x = x.astype(">f4")
    elif variant == "none":
        reduction = "none"
    elif variant == "bad input":
        x[2, 3] = 1.5
    elif variant == "shape":
        t = t.reshape(5, 6)
    elif variant == "array reduction":
        reduction = np.array("mean")
    assert bce_small(x, t, None, None, False, reduction, cxent._config.PARALLEL_THRESHOLD) is None
    if variant == "bad input":
        with pytest.raises(ValueError, match="1.5"):
            cxent.binary_cross_entropy(x, t)
    elif variant not in ("shape", "array reduction", "empty"):
        xa, ta = np.asarray(x, np.float64), np.asarray(t, np.float64)
        np.testing.assert_allclose(cxent.binary_cross_entropy(x, t, reduction=reduction),
                                   ref.binary_cross_entropy(xa, ta, reduction=reduction),
                                   **tol(np.float32, 2))


@pytest.mark.parametrize("fn", ROW_KINDS[:2] + ROW_KINDS[3:])
def test_rows_gate_writes_out(fn, dtype, rng):
    # out= through the gate: the buffer itself returned, the general path's bits (in place too)
    from cxent._lib._softmax import rows_small
    x, _ = _case(rng, (7, 10), dtype)
    kind = ROW_KINDS.index(fn)
    args = (x,)
    if kind >= 3:
        fwd = cxent.log_softmax if kind == 4 else cxent.softmax
        args = (np.asarray(rng.standard_normal(x.shape), dtype), fwd(_case(rng, x.shape, dtype)[0]))
    f = getattr(cxent, fn)
    general = f(*args, axis=np.int64(1), out=np.empty_like(x))
    out = np.full_like(x, np.nan)
    assert rows_small(kind, args[0], args[1] if kind >= 3 else None, -1,
                      cxent._config.PARALLEL_THRESHOLD, out) is out
    np.testing.assert_array_equal(out, general)
    out2 = np.empty_like(x)
    assert f(*args, out=out2) is out2
    np.testing.assert_array_equal(out2, general)
    if kind <= 1:  # in place
        xc = x.copy()
        assert f(xc, out=xc) is xc
        np.testing.assert_array_equal(xc, general)


@pytest.mark.parametrize("variant", ["dtype", "shape", "F order", "read-only", "overlap x",
                                     "overlap y", "logsumexp", "in place backward"])
def test_rows_gate_declines_out(variant, rng):
    from cxent._lib._softmax import rows_small
    x, _ = _case(rng, (6, 5), np.float32)
    y = cxent.softmax(x)
    kind, a, b = 1, x, None
    out = np.empty_like(x)
    if variant == "dtype":
        out = out.astype(np.float64)
    elif variant == "shape":
        out = np.empty((6, 4), np.float32)
    elif variant == "F order":
        out = np.asfortranarray(out)
    elif variant == "read-only":
        out.flags.writeable = False
    elif variant == "overlap x":  # the same bytes, shifted by one row
        big = np.concatenate([x, x[:1]])
        a, out = big[:6], big[1:]
    elif variant == "overlap y":
        kind, a, b, out = 3, x, y, y
    elif variant == "logsumexp":
        kind, out = 2, np.empty(6, np.float32)
    else:
        kind, a, b, out = 4, x, cxent.log_softmax(x), x
    assert rows_small(kind, a, b, -1, cxent._config.PARALLEL_THRESHOLD, out) is None
    if variant == "overlap x":  # the Python layer takes it: refused or right, never wrong
        expect = cxent.log_softmax(a.copy())
        try:
            res = cxent.log_softmax(a, out=out)
        except ValueError:
            return
        np.testing.assert_array_equal(res, expect)
