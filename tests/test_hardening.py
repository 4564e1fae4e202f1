"""Regression tests of what hostile inputs found (issue 9's table, one test per row)."""

import tracemalloc

import numpy as np
import pytest
from conftest import tol

import cxent
from cxent import _reference as ref


def test_row1_in_place_gradient_of_a_view_that_does_not_merge(dtype, rng):
    # a strided 4-d view cannot be viewed as (N, C, inner): the input is copied for the kernel
    # and the gradient written back into the view itself
    for fn, t in (
        (cxent.cross_entropy_and_grad, np.zeros((2, 2, 2), np.int64)),
        (cxent.nll_loss_and_grad, np.ones((2, 2, 2), np.int64)),
        (cxent.cross_entropy_and_grad, None),
    ):
        for view in (
            lambda b: b[::2, ::2, ::2, ::2],
            lambda b: b[::2, ::2, ::2, ::2].swapaxes(0, -1),
        ):
            base = rng.standard_normal((4, 6, 4, 4)).astype(dtype)
            x = view(base)
            if t is None:
                tt = cxent.softmax(rng.standard_normal(x.shape).astype(dtype), axis=1)
            else:
                tt = t if x.shape[0] == 2 else np.zeros((x.shape[0],) + x.shape[2:], np.int64)
            expected = fn(x.copy(), tt)
            before = base.copy()
            loss, g = fn(x, tt, grad_out=x)
            assert g is x
            np.testing.assert_array_equal(loss, expected[0])
            np.testing.assert_array_equal(g, expected[1])
            untouched = np.ones(base.shape, bool)
            untouched[::2, ::2, ::2, ::2] = False
            np.testing.assert_array_equal(base[untouched], before[untouched])


@pytest.mark.parametrize("pos", range(9))
def test_row2_bce_of_negative_zero_is_the_clamped_log_of_zero(pos, dtype):
    # -0.0 is 0, so -log(-0.0) clamps to 100 (torch), in a vector lane or a tail
    p = np.full(9, 0.5, dtype)
    p[pos] = -0.0
    y = np.ones(9, dtype)
    loss = cxent.binary_cross_entropy(p, y, reduction="none")
    assert loss[pos] == 100.0
    np.testing.assert_allclose(np.delete(loss, pos), np.log(2.0), **tol(dtype))
    assert cxent.binary_cross_entropy(p, y, reduction="sum") == pytest.approx(100 + 8 * np.log(2))


def test_row3_out_overlapping_the_input_is_refused(rng):
    buf = rng.standard_normal((4, 7))
    for fn in (cxent.softmax, cxent.log_softmax, cxent.sigmoid, cxent.log_sigmoid):
        for out in (buf[:, 1:], buf[:, :6][:, ::-1]):
            with pytest.raises(ValueError, match="`out` overlaps"):
                fn(buf[:, :6], out=out)
    y = cxent.softmax(buf[:, :6])
    for fn in (cxent.softmax_backward, cxent.log_softmax_backward):
        with pytest.raises(ValueError, match="`out` overlaps"):
            fn(buf[:, :6], y, out=buf[:, 1:])
    # the same input itself is in place, and correct
    x = buf[:, :6].copy()
    expected = cxent.softmax(x)
    assert cxent.softmax(x, out=x) is x
    np.testing.assert_array_equal(x, expected)


def test_row4_grad_out_overlapping_weight_or_target_is_refused(rng):
    x, t = rng.standard_normal((5, 6)), rng.integers(0, 6, 5)
    with pytest.raises(ValueError, match="`grad_out` overlaps `weight`"):
        cxent.cross_entropy_and_grad(x, t, weight=x[0], grad_out=x)
    q = cxent.softmax(rng.standard_normal((5, 6)))
    with pytest.raises(ValueError, match="`grad_out` overlaps `target`"):
        cxent.cross_entropy_and_grad(x, q, grad_out=q)


def test_row5_interleaved_buffers_without_a_shared_element_are_accepted(rng):
    pb = rng.uniform(0.1, 0.9, (4, 8))
    p, y = pb[:, ::2], pb[:, 1::2]
    expected = cxent.binary_cross_entropy_and_grad(p.copy(), y.copy())
    loss, g = cxent.binary_cross_entropy_and_grad(p, y, grad_out=p)
    assert g is p
    np.testing.assert_array_equal(loss, expected[0])
    np.testing.assert_array_equal(g, expected[1])


@pytest.mark.parametrize("n_classes", [3, 40], ids=["column tiles", "row tiles"])
def test_row6_nonfinite_weight_of_an_untargeted_class_does_not_enter(n_classes, dtype, rng):
    # torch: without label smoothing only w[y] enters a row's loss and gradient
    x = rng.standard_normal((2, n_classes)).astype(dtype)
    t = np.array([1, 2])
    w = np.ones(n_classes)
    w[0] = np.nan
    for red in ("sum", "mean", "none"):
        loss, g = cxent.cross_entropy_and_grad(x, t, weight=w, reduction=red)
        w1 = np.where(np.isnan(w), 1.0, w)  # class 0's weight is never used
        el, eg = cxent.cross_entropy_and_grad(x, t, weight=w1, reduction=red)
        np.testing.assert_array_equal(loss, el)
        np.testing.assert_array_equal(g, eg)
        assert np.isfinite(g).all()
    # with smoothing every weight enters: nan, as torch
    assert np.isnan(cxent.cross_entropy_and_grad(x, t, weight=w, label_smoothing=0.1)[1]).all()


def test_row6_golden_values_of_torch():
    x = np.array([[3.0, 1.0, 0.5], [1.0, 2.0, 3.0]])
    loss, g = cxent.cross_entropy_and_grad(x, [1, 2], weight=[np.nan, 1, 1], reduction="sum")
    # torch 2.13: F.cross_entropy(x, [1, 2], weight=[nan, 1, 1], reduction="sum") and its grad
    np.testing.assert_allclose(loss, 2.6043400613639975, rtol=1e-14)
    np.testing.assert_allclose(
        g,
        [
            [0.8214090194651259, -0.8888343776975789, 0.06742535823245294],
            [0.09003057317038043, 0.24472847105479764, -0.3347590442251782],
        ],
        rtol=1e-14,
    )


def test_row7_infinite_weight_and_target_give_torchs_infinities(dtype):
    x = np.array([[3.0, 1.0, 0.5]], dtype)
    q = np.array([[0.2, 0.3, 0.5]], dtype)
    assert cxent.cross_entropy(x, q, weight=[np.inf, 1, 1]) == np.inf
    assert cxent.cross_entropy_and_grad(x, q, weight=[np.inf, 1, 1])[0] == np.inf
    loss, g = cxent.binary_cross_entropy_with_logits_and_grad(
        np.array([0.5], dtype), np.array([np.inf], dtype), reduction="sum"
    )
    assert loss == -np.inf
    np.testing.assert_array_equal(g, [-np.inf])


def test_row8_masked_grad_output_raises():
    m = np.ma.masked_array([5.0, 5.0, 5.0], mask=[True] * 3)
    x, t = np.zeros((3, 2)), np.array([0, 1, 0])
    calls = [
        lambda: cxent.cross_entropy_and_grad(x, t, reduction="none", grad_output=m),
        lambda: cxent.nll_loss_and_grad(x, t, reduction="none", grad_output=m),
        lambda: cxent.binary_cross_entropy_with_logits_and_grad(
            np.zeros(3), np.ones(3), reduction="none", grad_output=m
        ),
        lambda: cxent.softmax_backward(m, np.full(3, 1 / 3)),
    ]
    for call in calls:
        with pytest.raises(TypeError, match="grad_output.*masked"):
            call()


@pytest.mark.parametrize("name", ["label_smoothing", "z_loss"])
@pytest.mark.parametrize("bad", ["0.1", b"1", np.array([0.1]), None, [0.1]], ids=repr)
def test_row9_non_numeric_options_raise_type_error(name, bad):
    x, t = np.zeros((3, 2)), np.array([0, 1, 0])
    with pytest.raises(TypeError, match=name):
        cxent.cross_entropy(x, t, **{name: bad})
    with pytest.raises(TypeError, match=name):
        cxent.cross_entropy_and_grad(x, t, **{name: bad})
    # what torch accepts: Python and NumPy reals, bool included
    for ok in (0.1, 0, True, np.float32(0.25), np.int64(0)):
        np.testing.assert_allclose(
            cxent.cross_entropy(x, t, **{name: ok}),
            ref.cross_entropy(x, t, **{name: float(ok)}),
            rtol=1e-12,
        )


@pytest.mark.parametrize(
    "call", ["cross_entropy", "nll_loss", "label_smoothing", "and_grad", "probs", "probs_and_grad"]
)
def test_row10_no_weight_array_without_weights(call):
    # one row of 2**21 classes: a weight of ones would be 8 MiB (float32)
    n = 1 << 21
    x = np.zeros((1, n), np.float32)
    t = np.array([3])
    q = np.full((1, n), 1.0 / n, np.float32) if call.startswith("probs") else None
    fns = {
        "cross_entropy": lambda: cxent.cross_entropy(x, t),
        "nll_loss": lambda: cxent.nll_loss(x, t),
        "label_smoothing": lambda: cxent.cross_entropy(x, t, label_smoothing=0.1),
        "and_grad": lambda: cxent.cross_entropy_and_grad(x, t),
        "probs": lambda: cxent.cross_entropy(x, q),
        "probs_and_grad": lambda: cxent.cross_entropy_and_grad(x, q),
    }
    fns[call]()  # warm-up: imports and caches
    tracemalloc.start()
    try:
        fns[call]()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    result = x.nbytes if "grad" in call else 0  # the gradient itself
    assert peak < result + x.nbytes // 8, peak


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_fuzz_found_smoothing_with_no_classes_is_nan(reduction):
    # found by tests/test_fuzz.py: with C = 0 torch's smoothing weight eps / C is inf, so every
    # row's (empty) smoothing term is 0 * inf = nan (torch 2.13); without smoothing 0 (sum, none)
    for x, t in ((np.zeros((2, 0)), np.array([-100, -100])), (np.zeros((0, 0)), np.zeros(0, int))):
        for fn in (cxent.cross_entropy, lambda *a, **k: cxent.cross_entropy_and_grad(*a, **k)[0]):
            assert np.isnan(fn(x, t, label_smoothing=0.1, reduction=reduction)).all()
            plain = fn(x, t, reduction=reduction)
            assert np.isnan(plain) if reduction == "mean" else (np.asarray(plain) == 0).all()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_fuzz_found_float32_overflow_is_inf_without_a_warning(reduction):
    # found by tests/test_fuzz.py: z * lse**2 of a 3e38 logit overflows float32; the result is
    # inf (as torch), not NumPy's "overflow encountered in cast" (an error under -W error)
    x = np.array([3e38], np.float32)
    for fn in (cxent.cross_entropy, lambda *a, **k: cxent.cross_entropy_and_grad(*a, **k)[0]):
        with np.errstate(all="raise"):
            assert (
                np.asarray(fn(x, np.array(0), z_loss=1e-4, reduction=reduction)) == np.inf
            ).all()


def test_fuzz_found_float64_weight_beyond_float32_is_inf_without_a_warning():
    # found by tests/fuzz/fuzz_cxent.py (atheris): a float64 weight of 1e300 with float32 input
    # leaked NumPy's "overflow encountered in cast"; it is inf in the input's dtype
    x = np.zeros((2, 3), np.float32)
    with np.errstate(all="raise"):
        assert (
            cxent.cross_entropy(
                x, np.array([0, 1]), weight=np.array([1e300, 1, 1]), reduction="sum"
            )
            == np.inf
        )
        p = np.full(3, 0.5, np.float32)
        loss = cxent.binary_cross_entropy_and_grad(
            p, p, weight=np.array([1e300, 1.0, 1.0]), reduction="none"
        )[0]
        assert loss[0] == np.inf


def _openmp_probe():
    """setup.py's ``_openmp_flags``, without running setup(): the function alone, from its
    source."""
    import ast
    import pathlib

    src = (pathlib.Path(__file__).parents[1] / "setup.py").read_text()
    fn = next(
        n
        for n in ast.parse(src).body
        if isinstance(n, ast.FunctionDef) and n.name == "_openmp_flags"
    )
    namespace = {}
    exec("import os, shlex, sys, tempfile\n" + ast.unparse(fn), namespace)  # noqa: S102 - our setup.py
    return namespace["_openmp_flags"]


class _FakeCompiler:
    compiler_type = "unix"

    def __init__(self, link_ok):
        self.link_ok, self.links = link_ok, []

    def compile(self, sources, output_dir, extra_postargs):
        return [s + ".o" for s in sources]

    def link_executable(self, objs, name, output_dir, extra_postargs):
        self.links.append(extra_postargs)
        if not self.link_ok(extra_postargs):
            raise RuntimeError("undefined reference to __asan_init")


def test_row11_openmp_probe_links_with_the_build_flags(monkeypatch, capsys):
    # CFLAGS=-fsanitize=address (not in CC): the extensions link with it (distutils' LDSHARED gets
    # CFLAGS), so the probe must too; otherwise it fails and the build silently loses OpenMP
    probe = _openmp_probe()
    monkeypatch.setenv("CFLAGS", "-O1 -fsanitize=address")
    monkeypatch.setenv("LDFLAGS", "-L/opt/lib")
    monkeypatch.delenv("CXENT_OPENMP", raising=False)
    cc = _FakeCompiler(link_ok=lambda args: "-fsanitize=address" in args)
    assert probe(cc) == (["-fopenmp"], ["-fopenmp"])
    assert cc.links[0] == ["-fopenmp", "-O1", "-fsanitize=address", "-L/opt/lib"]
    # a probe that fails says so on stderr (and the build goes on without OpenMP)
    cc = _FakeCompiler(link_ok=lambda args: False)
    assert probe(cc) == ([], [])
    err = capsys.readouterr().err
    assert "OpenMP probe failed" in err and "__asan_init" in err
