"""No memory grows with use: 10**5 calls of every public function (after a warm-up) leave the
resident set within 1 MB; and inputs of more than 2**31 elements run (when the machine has room)."""

import os

import numpy as np
import pytest

import cxent

pytestmark = pytest.mark.slow


def _rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _calls():
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((64, 10)) * 3).astype(np.float32)
    t = rng.integers(0, 10, 64)
    q = cxent.softmax(x)
    p, y = (
        rng.uniform(0, 1, x.shape).astype(np.float32),
        rng.uniform(0, 1, x.shape).astype(np.float32),
    )
    w = np.ones(10, np.float32)
    out = np.empty_like(x)
    bad = t.copy()
    bad[3] = 99

    def raises():  # the error paths too: exceptions must not leak their arrays
        for call in (
            lambda: cxent.cross_entropy(x, bad),
            lambda: cxent.binary_cross_entropy(y * 2, p),
            lambda: cxent.softmax(x, axis=5),
        ):
            try:
                call()
            except (IndexError, ValueError):
                pass

    return {
        "softmax": lambda: cxent.softmax(x),
        "log_softmax": lambda: cxent.log_softmax(x, out=out),
        "logsumexp": lambda: cxent.logsumexp(x, axis=1),
        "sigmoid": lambda: cxent.sigmoid(x),
        "log_sigmoid": lambda: cxent.log_sigmoid(x),
        "softmax_backward": lambda: cxent.softmax_backward(x, q),
        "log_softmax_backward": lambda: cxent.log_softmax_backward(x, q),
        "nll_loss": lambda: cxent.nll_loss(x, t),
        "nll_loss_and_grad": lambda: cxent.nll_loss_and_grad(x, t),
        "cross_entropy": lambda: cxent.cross_entropy(x, t, weight=w, reduction="none"),
        "cross_entropy(probs)": lambda: cxent.cross_entropy(x, q),
        "cross_entropy_and_grad": lambda: cxent.cross_entropy_and_grad(x, t, label_smoothing=0.1),
        "binary_cross_entropy": lambda: cxent.binary_cross_entropy(p, y),
        "binary_cross_entropy_and_grad": lambda: cxent.binary_cross_entropy_and_grad(p, y, w),
        "bce_with_logits": lambda: cxent.binary_cross_entropy_with_logits(x, y, pos_weight=w),
        "bce_with_logits_and_grad": lambda: cxent.binary_cross_entropy_with_logits_and_grad(x, y),
        "CrossEntropyLoss": lambda: cxent.CrossEntropyLoss()(x, t),
        "errors": raises,
    }


@pytest.mark.parametrize("name", list(_calls()))
def test_no_growth_over_many_calls(name):
    call = _calls()[name]
    for _ in range(2000):  # warm-up: caches, allocator pools
        call()
    before = _rss()
    for _ in range(100_000 if name != "errors" else 20_000):
        call()
    grown = _rss() - before
    assert grown < 1 << 20, f"{name}: resident set grew by {grown} bytes"


def _free_bytes():
    with open("/proc/meminfo") as f:
        info = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in f}
    return info.get("MemAvailable", 0)


@pytest.mark.skipif(_free_bytes() < 16 * 2**30, reason="needs 16 GiB of free memory")
def test_more_than_two_to_the_31_elements():
    n = 2**31 + 17
    x = np.zeros(n, np.float32)  # 8 GiB
    x[:5] = [1.0, -2.0, 3.0, 0.5, 100.0]
    x[-3:] = [7.0, -7.0, 2.0]
    # one row of n classes: the max is at the start, the target at the end
    lse = cxent.logsumexp(x)
    others = np.array([1, -2, 3, 0.5, 7, -7, 2]) - 100.0
    expected = 100.0 + np.log1p((n - 8) * np.exp(-100.0) + np.exp(others).sum())
    np.testing.assert_allclose(lse, expected, rtol=1e-6)
    loss = cxent.cross_entropy(x, np.array(n - 1))
    np.testing.assert_allclose(loss, lse - 2.0, rtol=1e-6)
    cxent.sigmoid(x, out=x)  # in place over all of it
    np.testing.assert_allclose(
        x[:5], 1 / (1 + np.exp(-np.array([1.0, -2.0, 3.0, 0.5, 100.0]))), rtol=1e-6
    )
    np.testing.assert_allclose(x[-3:], 1 / (1 + np.exp(-np.array([7.0, -7.0, 2.0]))), rtol=1e-6)
    assert x[n // 2] == 0.5
