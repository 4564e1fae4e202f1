"""SciPy's ``logsumexp``/``softmax``/``log_softmax`` signatures on top of cxent, for running SciPy's
own test file against cxent (``tests/test_scipy_suite.py``).  What cxent does not offer skips the
test that asks for it, with the reason."""

import numpy as np
import pytest

import cxent


def _real(a):
    a = np.asarray(a)
    if a.dtype.kind == "c":
        pytest.skip("complex input: cxent computes real float32/float64 (a TypeError by design, "
                    "spec/api.md)")
    return a


def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
    if b is not None:
        pytest.skip("`b=` (SciPy's weights of the exponentials): not in cxent's API")
    if return_sign:
        pytest.skip("`return_sign=`: not in cxent's API (without weights the sign is always +1)")
    return cxent.logsumexp(_real(a), axis=axis, keepdims=keepdims)


def softmax(x, axis=None):
    return cxent.softmax(_real(x), axis=axis)


def log_softmax(x, axis=None):
    return cxent.log_softmax(_real(x), axis=axis)
