"""The suite fuzzes itself (hypothesis): every public function on random shapes (0-size dims
anywhere), dtypes, layouts (C, F, sliced, negative strides, broadcast zero strides, read-only,
byte-swapped, unaligned), axes, options and values (nan, +-inf, +-0, huge, subnormal; targets out of
range and negative), with out=/grad_out= that alias or partly overlap an argument.

Each call must give the result of ``cxent._reference`` (float64/long double) or raise TypeError,
ValueError or IndexError; never anything else, and never modify an input.  A result is also
checked bit for bit against the same call on C-contiguous copies (layouts never change bits).

``CXENT_FUZZ_EXAMPLES`` sets the examples per test (default 500: about 5,000 calls in CI, with
the harness smoke test), ``CXENT_FUZZ_RANDOM=1`` a fresh random seed (the default is derandomised).
"""

import os
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cxent
from cxent import _reference as ref

# as tests/test_properties.py: hypothesis's patch writer must be imported quietly once
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import hypothesis.extra._patching  # noqa: F401
    except ImportError:  # pragma: no cover
        pass

EXAMPLES = int(os.environ.get("CXENT_FUZZ_EXAMPLES", "500"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not os.environ.get("CXENT_FUZZ_RANDOM"),
    suppress_health_check=list(HealthCheck),
)
ALLOWED = (TypeError, ValueError, IndexError)
SPECIAL = [0.0, -0.0, np.nan, np.inf, -np.inf, 1e-40, -1e-310, 3e38, -3e38, 1e300, 88.7, -103.9]


@st.composite
def values(draw, shape, dtype, low=-30.0, high=30.0, special=True):
    """An array of ``shape``: moderate values, some special ones."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    a = np.asarray(rng.uniform(low, high, shape))
    if special and a.size and draw(st.booleans()):
        k = draw(st.integers(1, max(1, a.size // 3)))
        idx = rng.integers(0, a.size, k)
        a.flat[idx] = rng.choice(SPECIAL, k)
    with np.errstate(over="ignore"):
        return np.asarray(a.astype(dtype))


@st.composite
def layout(draw, a):
    """``a`` (C-contiguous) presented in another memory layout with the same logical values."""
    a = np.asarray(a)  # a NumPy scalar (a 0-d result) as a 0-d array
    kind = draw(
        st.sampled_from(
            ["C", "F", "sliced", "reversed", "readonly", "byteswapped", "unaligned", "transposed"]
        )
    )
    if a.ndim == 0 and kind not in ("readonly", "byteswapped", "unaligned"):
        return a.copy()
    if kind == "F":
        return np.array(a, order="F", copy=True)  # never ``a`` itself (1-d: already F)
    if kind == "sliced":
        big = np.empty(tuple(2 * n for n in a.shape), a.dtype)
        view = big[tuple(slice(None, None, 2) for _ in a.shape)]
        view[...] = a
        return view
    if kind == "reversed":
        flip = tuple(slice(None, None, -1) for _ in a.shape)
        return a[flip].copy(order="C")[flip]  # a copy: never a view of ``a`` itself
    if kind == "readonly":
        b = a.copy()
        b.flags.writeable = False
        return b
    if kind == "byteswapped":
        return a.astype(a.dtype.newbyteorder())
    if kind == "unaligned" and a.dtype.itemsize > 1:
        raw = np.empty(a.nbytes + 1, np.uint8)[1:]
        b = raw.view(a.dtype).reshape(a.shape)
        b[...] = a
        return b
    if kind == "transposed" and a.ndim >= 2:
        return (
            np.moveaxis(a, 0, -1)
            .copy(order="C")
            .transpose((a.ndim - 1,) + tuple(range(a.ndim - 1)))
        )
    return a.copy()


shapes = st.lists(st.integers(0, 5), min_size=0, max_size=4).map(tuple)
class_shapes = st.lists(st.integers(0, 5), min_size=1, max_size=4).map(tuple)
float_dtypes = st.sampled_from([np.float32, np.float64])


def _same_or_close(got, expected, dtype):
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.shape == expected.shape
    assert got.dtype == np.dtype(dtype), (got.dtype, dtype)
    e = expected.astype(np.float64)
    g = got.astype(np.float64)
    np.testing.assert_array_equal(np.isnan(g), np.isnan(e))
    fin = np.isfinite(e)
    np.testing.assert_array_equal(g[~fin & ~np.isnan(e)], e[~fin & ~np.isnan(e)])
    if fin.any():
        eps = np.finfo(dtype).eps
        scale = max(1.0, float(np.abs(e[fin]).max()))
        # near an overflow threshold the reference may round to inf where cxent stays finite
        finite_g = np.isfinite(g[fin])
        np.testing.assert_allclose(
            g[fin][finite_g], e[fin][finite_g], rtol=64 * eps, atol=64 * eps * scale
        )


def _call(fn, args, kwargs):
    """(result, exception): the call on the given arrays, which must stay unmodified."""
    copies = [np.array(a, copy=True) if isinstance(a, np.ndarray) else a for a in args]
    try:
        res = fn(*args, **kwargs)
        exc = None
    except ALLOWED as e:
        res, exc = None, e
    for a, c in zip(args, copies):
        if isinstance(a, np.ndarray) and not any(a is v for v in kwargs.values()):
            np.testing.assert_array_equal(a, c)  # inputs never modified
    return res, exc


def _check(name, args, kwargs, contiguous_args, dtype):
    fn, rfn = getattr(cxent, name), getattr(ref, name.replace("_and_grad", ""))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            expected = rfn(
                *contiguous_args,
                **{k: v for k, v in kwargs.items() if k not in ("out", "grad_out", "grad_output")},
            )
            ref_exc = None
        except ALLOWED as e:
            expected, ref_exc = None, e
    res, exc = _call(fn, args, kwargs)
    if ref_exc is not None or exc is not None:
        assert exc is not None, f"{name}: the reference raised {ref_exc!r}, cxent did not"
        return
    loss = res[0] if name.endswith("_and_grad") else res
    _same_or_close(loss, expected, dtype)
    base = fn(*contiguous_args, **{k: v for k, v in kwargs.items() if k not in ("out", "grad_out")})
    for r, b in zip(
        res if isinstance(res, tuple) else (res,), base if isinstance(base, tuple) else (base,)
    ):
        np.testing.assert_array_equal(r, b)  # bits independent of the layout


@SETTINGS
@given(
    data=st.data(),
    shape=shapes,
    dtype=float_dtypes,
    name=st.sampled_from(["softmax", "log_softmax", "logsumexp", "sigmoid", "log_sigmoid"]),
)
def test_fuzz_softmax_family(data, shape, dtype, name):
    a = data.draw(values(shape, dtype))
    x = data.draw(layout(a))
    kwargs = {}
    if name not in ("sigmoid", "log_sigmoid"):
        ndim = max(len(shape), 1)
        kwargs["axis"] = data.draw(
            st.one_of(
                st.integers(-ndim - 1, ndim),
                st.none(),
                st.lists(st.integers(-ndim, ndim - 1), max_size=3).map(tuple),
            )
        )
    if data.draw(st.booleans()) and name != "logsumexp":
        out_kind = data.draw(st.sampled_from(["fresh F", "input", "overlap"]))
        if out_kind == "fresh F":
            kwargs["out"] = np.asfortranarray(np.empty(shape, dtype))
        elif out_kind == "input" and x.flags.writeable and x.dtype.isnative and x.flags.aligned:
            kwargs["out"] = x
        elif out_kind == "overlap" and a.ndim and a.shape[-1] > 1:
            buf = np.empty(shape[:-1] + (shape[-1] + 1,), dtype)
            kwargs["out"] = buf[..., 1:]
            x = buf[..., :-1]
            x[...] = a
    if "out" in kwargs and kwargs["out"] is x:  # in place: compare with a copy's result
        try:
            expected = getattr(cxent, name)(
                a.copy(), **{k: v for k, v in kwargs.items() if k != "out"}
            )
        except ALLOWED:
            with pytest.raises(ALLOWED):
                getattr(cxent, name)(x, **kwargs)
            return
        res = getattr(cxent, name)(x, **kwargs)
        assert res is x
        np.testing.assert_array_equal(res, expected)
        return
    _check(name, [x], kwargs, [a], dtype)


@SETTINGS
@given(
    data=st.data(),
    shape=class_shapes,
    dtype=float_dtypes,
    name=st.sampled_from(
        ["cross_entropy", "nll_loss", "cross_entropy_and_grad", "nll_loss_and_grad"]
    ),
)
def test_fuzz_class_losses(data, shape, dtype, name):
    a = data.draw(values(shape, dtype, special=name.startswith("cross")))
    x = data.draw(layout(a))
    n_classes = shape[0] if len(shape) == 1 else shape[1]
    tshape = () if len(shape) == 1 else (shape[0],) + shape[2:]
    kwargs = {"reduction": data.draw(st.sampled_from(["mean", "sum", "none"]))}
    probs = name.startswith("cross") and data.draw(st.booleans())
    if probs:
        t = ref.softmax(
            data.draw(values(shape, dtype, special=False)), axis=0 if len(shape) == 1 else 1
        )
        t = t.astype(dtype)
    else:
        t = data.draw(
            st.lists(
                st.integers(-2, n_classes + 1),
                min_size=int(np.prod(tshape)),
                max_size=int(np.prod(tshape)),
            )
        ).copy()
        t = np.array(t, np.int64).reshape(tshape)
        if data.draw(st.booleans()):
            kwargs["ignore_index"] = data.draw(st.sampled_from([-100, -1, 0, n_classes]))
    if data.draw(st.booleans()):
        kwargs["weight"] = data.draw(values((n_classes,), dtype, 0.0, 3.0, special=False))
    if name.startswith("cross") and data.draw(st.booleans()):
        kwargs["label_smoothing"] = data.draw(st.sampled_from([0.0, 0.1, 1.0, -0.5]))
    if name.startswith("cross") and data.draw(st.booleans()):
        kwargs["z_loss"] = data.draw(st.sampled_from([0.0, 1e-4]))
    in_place_ok = x.flags.writeable and x.dtype.isnative and x.flags.aligned
    if name.endswith("_and_grad") and data.draw(st.booleans()) and in_place_ok:
        kwargs["grad_out"] = x  # in place
    grad_in_place = kwargs.get("grad_out") is x
    if grad_in_place:
        try:
            loss, g = getattr(cxent, name)(x, t, **kwargs)
        except ALLOWED:
            return
        el, eg = getattr(cxent, name)(
            a.copy(), t, **{k: v for k, v in kwargs.items() if k != "grad_out"}
        )
        assert g is x
        np.testing.assert_array_equal(loss, el)
        np.testing.assert_array_equal(g, eg)
        return
    _check(name, [x, t], kwargs, [a, t], dtype)


@SETTINGS
@given(
    data=st.data(),
    shape=shapes,
    dtype=float_dtypes,
    name=st.sampled_from(
        [
            "binary_cross_entropy",
            "binary_cross_entropy_with_logits",
            "binary_cross_entropy_and_grad",
            "binary_cross_entropy_with_logits_and_grad",
        ]
    ),
)
def test_fuzz_binary_losses(data, shape, dtype, name):
    logits = "logits" in name
    a = data.draw(values(shape, dtype, *((-30.0, 30.0) if logits else (-0.2, 1.2)), special=True))
    if not logits and data.draw(st.booleans()):
        a = np.asarray(np.clip(a, 0, 1), dtype)  # (NumPy 1.x: a 0-d clip by ints is float64)
    x = data.draw(layout(a))
    y = data.draw(values(shape, dtype, 0.0, 1.0, special=False))
    kwargs = {"reduction": data.draw(st.sampled_from(["mean", "sum", "none"]))}
    if data.draw(st.booleans()) and shape:
        kwargs["weight"] = np.broadcast_to(
            data.draw(values(shape[-1:], dtype, 0.0, 2.0, special=False)), shape
        )
    if logits and data.draw(st.booleans()) and shape:
        kwargs["pos_weight"] = data.draw(values(shape[-1:], dtype, 0.0, 3.0, special=False))
    _check(name, [x, y], kwargs, [a, y], dtype)


@SETTINGS
@given(
    data=st.data(),
    shape=shapes,
    dtype=st.sampled_from([np.float16, np.int32, np.uint8, np.bool_, np.complex64, object, "U2"]),
)
def test_fuzz_other_dtypes_compute_or_raise(data, shape, dtype):
    a = np.zeros(shape, dtype) if dtype != object else np.empty(shape, object)
    for name in ("softmax", "log_softmax", "logsumexp", "sigmoid", "log_sigmoid"):
        res, exc = _call(getattr(cxent, name), [a], {})
        if np.dtype(dtype).kind in "biuf":
            assert exc is None or isinstance(exc, ValueError), (name, exc)
            if res is not None:
                assert res.dtype == (np.float32 if np.dtype(dtype).kind == "f" else np.float64)
        else:
            assert isinstance(exc, TypeError), (name, exc)


def test_atheris_harness_runs_on_random_bytes():
    # tests/fuzz/fuzz_cxent.py (the libFuzzer harness) needs no atheris for one input: feed it
    # random byte strings, so that the harness itself stays correct
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).parent / "fuzz" / "fuzz_cxent.py"
    spec = importlib.util.spec_from_file_location("fuzz_cxent", path)
    harness = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(harness)
    rng = np.random.default_rng(0)
    for _ in range(EXAMPLES * 4):
        harness.one_input(rng.integers(0, 256, rng.integers(0, 200)).astype(np.uint8).tobytes())


def _backward_reference(name, g, y, axis):
    """float64 twin of the backward functions (not in _reference.py): softmax
    ``y (g - sum g y)``, log_softmax ``g - exp(y) sum g``."""
    gw, yw = g.astype(np.float64), y.astype(np.float64)
    if name == "softmax_backward":
        return yw * (gw - np.sum(gw * yw, axis=axis, keepdims=True))
    return gw - np.exp(yw) * np.sum(gw, axis=axis, keepdims=True)


@SETTINGS
@given(
    data=st.data(),
    shape=shapes,
    dtype=float_dtypes,
    name=st.sampled_from(["softmax_backward", "log_softmax_backward"]),
)
def test_fuzz_backward(data, shape, dtype, name):
    ndim = max(len(shape), 1)
    axis = data.draw(st.integers(-ndim - 1, ndim))
    x = data.draw(values(shape, dtype, special=False))
    g0 = data.draw(values(shape, dtype, -3.0, 3.0, special=False))
    forward = cxent.softmax if name == "softmax_backward" else cxent.log_softmax
    try:
        y0 = forward(x, axis=axis)
    except ALLOWED:
        with pytest.raises(ALLOWED):
            getattr(cxent, name)(g0, x, axis=axis)
        return
    g, y = data.draw(layout(g0)), data.draw(layout(y0))
    kwargs = {"axis": axis}
    if data.draw(st.booleans()) and g.flags.writeable and g.dtype.isnative and g.flags.aligned:
        kwargs["out"] = g  # in place into grad_output
    base = getattr(cxent, name)(g0, y0, axis=axis)
    res, exc = _call(getattr(cxent, name), [g, y], kwargs)
    assert exc is None, exc
    np.testing.assert_array_equal(res, base)  # bits independent of layout (and in place)
    ax = axis % ndim if len(shape) else None
    if len(shape):
        _same_or_close(base, _backward_reference(name, g0, y0, ax), dtype)
