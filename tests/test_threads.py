"""Results are bitwise identical for any thread count (kernels write per-row values; the batch
reduction runs once, in a fixed order)."""

import os
import subprocess
import sys

import numpy as np
import pytest

import cxent

SCRIPT = r"""
import sys, numpy as np, cxent
from cxent._lib._softmax import openmp_info
rng = np.random.default_rng(7)
x = (rng.standard_normal((3000, 37)) * 4).astype(np.float32)
t = rng.integers(0, 37, 3000)
p = rng.uniform(0, 1, (700, 300))
y = rng.uniform(0, 1, (700, 300))
vals = [
    cxent.cross_entropy(x, t), cxent.cross_entropy(x, t, label_smoothing=0.1, reduction="sum"),
    cxent.cross_entropy(x, cxent.softmax(x[::-1].copy(), axis=1)),
    cxent.nll_loss(cxent.log_softmax(x, axis=1), t), cxent.logsumexp(x, axis=None),
    cxent.binary_cross_entropy(p, y), cxent.binary_cross_entropy_with_logits(p * 10 - 5, y),
]
arrays = [cxent.softmax(x, axis=0), cxent.log_softmax(x, axis=1), cxent.sigmoid(p),
          cxent.cross_entropy_and_grad(x, t, softcap=3.0, reduction="none")[1]]
h = b"".join(np.asarray(v).tobytes() for v in vals + arrays)
import hashlib
print(openmp_info()[1], hashlib.sha256(h).hexdigest())
"""


def _run(threads):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True,
                         check=True)
    n, digest = out.stdout.split()
    return int(n), digest


def test_bitwise_identical_for_any_thread_count():
    results = {threads: _run(threads) for threads in (1, 2, 3, 4)}
    if not cxent._config._HAS_OPENMP:
        pytest.skip("built without OpenMP")
    assert {n for n, _ in results.values()} == {1, 2, 3, 4}  # the setting took effect
    digests = {d for _, d in results.values()}
    assert len(digests) == 1, results


def test_large_input_runs_parallel_path():
    # above the threshold the kernels open a parallel region; the values still equal the serial path
    rng = np.random.default_rng(3)
    x = rng.standard_normal((cxent._config.PARALLEL_THRESHOLD // 10 + 7, 10))
    t = rng.integers(0, 10, x.shape[0])
    whole = cxent.cross_entropy(x, t, reduction="none")
    parts = np.concatenate([cxent.cross_entropy(x[i:i + 100], t[i:i + 100], reduction="none")
                            for i in range(0, x.shape[0], 100)])
    np.testing.assert_array_equal(whole, parts)


def test_threadpoolctl_limits_reach_the_kernels():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    if not cxent._config._HAS_OPENMP:
        pytest.skip("built without OpenMP")
    from cxent._lib._softmax import openmp_info
    x = np.random.default_rng(3).standard_normal((5000, 40)).astype(np.float32)
    t = np.arange(5000) % 40
    before = cxent.cross_entropy(x, t, reduction="none")
    infos = threadpoolctl.threadpool_info()
    assert any(i["user_api"] == "openmp" for i in infos), infos  # cxent's runtime is seen
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert openmp_info()[1] == 1
        np.testing.assert_array_equal(cxent.cross_entropy(x, t, reduction="none"), before)
    assert openmp_info()[1] == max(i["num_threads"] for i in infos if i["user_api"] == "openmp")
