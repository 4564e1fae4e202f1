"""Shared fixtures and the one tolerance table of the test suite.

Tolerances are relative to a float64/longdouble reference (``cxent._reference``).  cxent accumulates
row sums in double for float32 inputs, so its float32 error is the rounding of the final value plus a
few ulp of element-wise math: the float32 bounds below are a small multiple of eps(float32)=1.19e-7.
"""

import numpy as np
import pytest

#: (rtol, atol) per result dtype, used against the float64/longdouble reference.
TOL = {
    np.dtype(np.float32): dict(rtol=2e-6, atol=2e-7),
    np.dtype(np.float64): dict(rtol=1e-12, atol=1e-14),
}


def tol(dtype, scale=1.0):
    """Tolerance kwargs for ``np.testing.assert_allclose`` for ``dtype`` (optionally widened)."""
    t = TOL[np.dtype(dtype)]
    return dict(rtol=t["rtol"] * scale, atol=t["atol"] * scale)


@pytest.fixture(params=[np.float32, np.float64], ids=["f32", "f64"])
def dtype(request):
    return np.dtype(request.param)


@pytest.fixture
def rng():
    return np.random.default_rng(20261122)
