"""Many Python threads at once: every public function, called from 8 threads concurrently (each
kernel releases the GIL; large calls open their own OpenMP teams), gives the bits of a serial call.
And offsets beyond 2**31 bytes: strides and row offsets are Py_ssize_t everywhere."""

import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import cxent


def _cases():
    rng = np.random.default_rng(11)
    small = (rng.standard_normal((64, 10)) * 3).astype(np.float32)
    big = (rng.standard_normal((600, 70)) * 3).astype(np.float32)  # above the parallel threshold
    nchw = (rng.standard_normal((2, 5, 40, 50)) * 3).astype(np.float64)
    t_small, t_big = rng.integers(0, 10, 64), rng.integers(0, 70, 600)
    t_nchw = rng.integers(0, 5, (2, 40, 50))
    q = cxent.softmax(rng.standard_normal(big.shape).astype(np.float32))
    p = rng.uniform(0, 1, big.shape).astype(np.float32)
    y = rng.uniform(0, 1, big.shape).astype(np.float32)
    w = rng.uniform(0.5, 2, 70).astype(np.float32)
    cases = []
    for x, t in ((small, t_small), (big, t_big), (nchw, t_nchw)):
        cases += [
            ("softmax", lambda x=x: cxent.softmax(x, axis=1)),
            ("log_softmax", lambda x=x: cxent.log_softmax(x, axis=1)),
            ("logsumexp", lambda x=x: cxent.logsumexp(x, axis=1)),
            ("sigmoid", lambda x=x: cxent.sigmoid(x)),
            ("log_sigmoid", lambda x=x: cxent.log_sigmoid(x)),
            (
                "softmax_backward",
                lambda x=x: cxent.softmax_backward(x, cxent.softmax(x, axis=1), 1),
            ),
            (
                "log_softmax_backward",
                lambda x=x: cxent.log_softmax_backward(x, cxent.log_softmax(x, axis=1), 1),
            ),
            ("nll_loss", lambda x=x, t=t: cxent.nll_loss(x, t, reduction="none")),
            ("nll_loss_and_grad", lambda x=x, t=t: cxent.nll_loss_and_grad(x, t)),
            ("cross_entropy", lambda x=x, t=t: cxent.cross_entropy(x, t, label_smoothing=0.1)),
            ("cross_entropy_and_grad", lambda x=x, t=t: cxent.cross_entropy_and_grad(x, t)),
        ]
    cases += [
        ("cross_entropy(weight)", lambda: cxent.cross_entropy(big, t_big, weight=w)),
        ("cross_entropy(probs)", lambda: cxent.cross_entropy_and_grad(big, q)),
        ("binary_cross_entropy", lambda: cxent.binary_cross_entropy(p, y)),
        ("binary_cross_entropy_and_grad", lambda: cxent.binary_cross_entropy_and_grad(p, y)),
        ("bce_with_logits", lambda: cxent.binary_cross_entropy_with_logits(big, y, pos_weight=w)),
        (
            "bce_with_logits_and_grad",
            lambda: cxent.binary_cross_entropy_with_logits_and_grad(big, y, reduction="none"),
        ),
    ]
    return cases


def _bytes(result):
    parts = result if isinstance(result, tuple) else (result,)
    return b"".join(np.asarray(r).tobytes() for r in parts)


def test_eight_threads_at_once_give_the_serial_bits():
    cases = _cases()
    expected = [_bytes(f()) for _, f in cases]
    jobs = [k for k in range(len(cases)) for _ in range(8)]
    np.random.default_rng(5).shuffle(jobs)
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            got = list(pool.map(lambda k: _bytes(cases[k][1]()), jobs))
    finally:
        sys.setswitchinterval(old)
    for k, b in zip(jobs, got):
        assert b == expected[k], cases[k][0]


def test_offsets_beyond_two_gib():
    # two rows 2**31 + 4096 bytes apart in one lazily zeroed allocation (only touched pages are
    # backed): row offsets and strides must not pass through 32-bit integers
    gap = 2**31 + 4096
    try:
        raw = np.zeros(gap + 4096, np.uint8)
    except MemoryError:  # pragma: no cover - a machine without 2 GiB of address space to spare
        pytest.skip("cannot reserve 2 GiB of address space")
    rows = np.lib.stride_tricks.as_strided(raw.view(np.float32)[:8], shape=(2, 8), strides=(gap, 4))
    rows[0] = np.arange(8, dtype=np.float32)
    rows[1] = -np.arange(8, dtype=np.float32)
    x = rows.copy()
    np.testing.assert_array_equal(cxent.log_softmax(rows, axis=1), cxent.log_softmax(x, axis=1))
    np.testing.assert_array_equal(cxent.log_softmax(rows.T, axis=0), cxent.log_softmax(x.T, axis=0))
    t = np.array([3, 5])
    np.testing.assert_array_equal(
        cxent.cross_entropy_and_grad(rows, t)[1], cxent.cross_entropy_and_grad(x, t)[1]
    )
    np.testing.assert_array_equal(cxent.sigmoid(rows), cxent.sigmoid(x))
    out = np.lib.stride_tricks.as_strided(
        raw[4096:].view(np.float32)[:8], shape=(2, 8), strides=(gap - 4096, 4)
    )
    cxent.softmax(x, axis=1, out=out)
    np.testing.assert_array_equal(out, cxent.softmax(x, axis=1))
