"""The cache of large outputs (cxent/_lib/_pool.h): reuse, bounds, isolation from the user's own
allocations, and results that never depend on what a reused block held before."""

import importlib
import os
import pickle
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import cxent
from cxent import _config
from cxent._lib._rows import cache_stats

BIG = (8, 21, 128, 128)  # 11 MiB of float32: above OUTPUT_CACHE_MIN


def _handler_name(a):
    for name in ("numpy._core.multiarray", "numpy.core.multiarray"):
        try:
            return importlib.import_module(name).get_handler_name(a)
        except (ImportError, AttributeError):
            continue
    pytest.skip("NumPy without get_handler_name")


@pytest.fixture(autouse=True)
def default_cache():
    _config.set_output_cache(1 << 30)
    yield
    _config.set_output_cache(1 << 30)


def _logits(shape, seed=0, dtype=np.float32):
    return (3 * np.random.default_rng(seed).standard_normal(shape)).astype(dtype)


def test_a_dropped_output_is_reused():
    x = _logits(BIG)
    y = cxent.log_softmax(x, axis=1)
    p = y.ctypes.data
    hits = cache_stats()[2]
    del y
    assert cache_stats()[1] >= 1  # the block waits in the cache
    z = cxent.log_softmax(x, axis=1)
    assert z.ctypes.data == p and cache_stats()[2] == hits + 1
    assert _handler_name(z) == "cxent_output_cache" and z.flags.owndata
    assert z.ctypes.data % 64 == 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_reused_blocks_give_the_same_bits_as_fresh_memory(dtype):
    x1, x2 = _logits(BIG, 1, dtype), _logits(BIG, 2, dtype)
    t = np.random.default_rng(3).integers(0, BIG[1], (BIG[0],) + BIG[2:])
    _config.set_output_cache(0)
    want = [cxent.softmax(x2, axis=1), cxent.cross_entropy_and_grad(x2, t)[1],
            cxent.sigmoid(x2), cxent.binary_cross_entropy_with_logits(x2, 1 / (1 + np.exp(-x1)),
                                                                      reduction="none")]
    _config.set_output_cache(1 << 30)
    for k in range(2):  # the second round runs in blocks the first left with other values
        got = [cxent.softmax(x2, axis=1), cxent.cross_entropy_and_grad(x2, t)[1],
               cxent.sigmoid(x2), cxent.binary_cross_entropy_with_logits(x2, 1 / (1 + np.exp(-x1)),
                                                                         reduction="none")]
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)
        garbage = [cxent.log_softmax(x1, axis=1) for _ in range(3)]
        for a in garbage:
            a.fill(np.nan)
        del garbage, got
    assert cache_stats()[2] > 0


def test_outputs_behave_as_numpy_arrays():
    y = cxent.softmax(_logits(BIG), axis=1)
    c = y.copy()
    assert np.array_equal(pickle.loads(pickle.dumps(y)), c)
    y.resize((3, 7), refcheck=False)  # realloc through the handler keeps the first values
    np.testing.assert_array_equal(y.ravel(), c.ravel()[:21])
    y.resize(BIG, refcheck=False)
    np.testing.assert_array_equal(y.ravel()[:21], c.ravel()[:21])


def test_only_cxent_outputs_use_the_cache():
    x = _logits(BIG)
    cxent.softmax(x, axis=1)
    assert _handler_name(np.empty(BIG, np.float32)) == _handler_name(np.empty(3))
    assert _handler_name(np.empty(BIG, np.float32)) != "cxent_output_cache"
    small = cxent.softmax(_logits((64, 10)))
    assert _handler_name(small) != "cxent_output_cache"  # below OUTPUT_CACHE_MIN
    assert _handler_name(cxent.softmax(x, axis=1)) == "cxent_output_cache"


def test_bounds_of_the_cache():
    x = _logits(BIG)
    _config.set_output_cache(8 << 20)  # smaller than one block: nothing is kept
    y = cxent.softmax(x, axis=1)
    del y
    assert cache_stats()[:2] == (0, 0)
    _config.set_output_cache(1 << 30)
    ys = [cxent.softmax(x, axis=1) for _ in range(20)]
    del ys
    idle, blocks = cache_stats()[:2]
    assert blocks == 16 and idle == 16 * 12 << 20  # at most 16 blocks, each 11 MiB rounded to 2 MiB
    _config.set_output_cache(0)
    assert cache_stats()[:2] == (0, 0)
    y = cxent.softmax(x, axis=1)
    assert _handler_name(y) != "cxent_output_cache"


def test_idle_blocks_are_released():
    x = _logits(BIG)
    _config.set_output_cache(1 << 30, max_idle_s=0.05)
    y = cxent.softmax(x, axis=1)
    del y
    assert cache_stats()[1] == 1
    time.sleep(0.2)
    z = cxent.softmax(_logits((8, 21, 160, 160)), axis=1)  # another size: the old block goes
    assert cache_stats()[1] == 0
    del z
    assert cache_stats()[1] == 1


def test_threads_share_the_cache():
    errors = []
    shapes = [(8, 21, 128, 128), (8, 21, 96, 128), (4, 21, 256, 128)]

    def work(seed):
        rng = np.random.default_rng(seed)
        try:
            for _ in range(30):
                x = _logits(shapes[rng.integers(3)], int(rng.integers(1 << 30)))
                y = cxent.log_softmax(x, axis=1)
                if not np.isfinite(y).all() or not np.allclose(np.exp(y).sum(axis=1), 1, atol=1e-4):
                    errors.append("wrong")
        except Exception as e:  # pragma: no cover - reported below
            errors.append(repr(e))

    ts = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors
    idle, blocks = cache_stats()[:2]
    assert blocks <= 16 and idle <= 1 << 30


def _run(env_value, code):
    env = dict(os.environ, CXENT_OUTPUT_CACHE=env_value)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)


def test_environment_variable():
    r = _run("512M", "import cxent; cxent.show_config()")
    assert r.returncode == 0 and "up to 512 MiB of freed outputs" in r.stdout
    r = _run("0", "import cxent; cxent.show_config()")
    assert r.returncode == 0 and "off (CXENT_OUTPUT_CACHE=0)" in r.stdout
    r = _run("lots", "import cxent")
    assert r.returncode != 0 and "CXENT_OUTPUT_CACHE: expected a size in bytes" in r.stderr
    assert "'lots'" in r.stderr
