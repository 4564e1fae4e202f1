"""The OpenMP runtime that cxent's kernels call is the one threadpoolctl reports and limits; in a
wheel (``tools/build_wheels.sh``) it is the runtime vendored under ``cxent.libs/``.

CI runs the suite once more from outside the source tree against the installed wheel, with
``CXENT_TEST_WHEEL=1``: then the package must come from site-packages, not the checkout, and the
vendored runtime must be the one loaded.
"""

import os

import numpy as np
import pytest

import cxent
from cxent._lib import _rows
from cxent._lib._softmax import openmp_info

threadpoolctl = pytest.importorskip("threadpoolctl")
WHEEL = os.environ.get("CXENT_TEST_WHEEL") == "1"
built_with_openmp = openmp_info()[0]


def _openmp_libs():
    return [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "openmp"]


@pytest.mark.skipif(not built_with_openmp, reason="built without OpenMP")
def test_threadpoolctl_limits_the_runtime_cxent_calls():
    assert _openmp_libs(), threadpoolctl.threadpool_info()
    with threadpoolctl.threadpool_limits(1):
        assert openmp_info()[1] == 1  # cxent's own runtime now runs one thread
        x = np.ones((5000, 7), np.float32)
        assert cxent.log_softmax(x, axis=1).shape == x.shape
    with threadpoolctl.threadpool_limits(2, user_api="openmp"):
        assert openmp_info()[1] == 2


@pytest.mark.skipif(not WHEEL, reason="only for the installed wheel (CXENT_TEST_WHEEL=1)")
def test_the_installed_wheel_and_its_vendored_runtime():
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    pkg = os.path.dirname(os.path.abspath(cxent.__file__))
    assert pkg != os.path.join(here, "cxent"), f"cxent imported from the checkout: {pkg}"
    assert os.path.basename(os.path.dirname(pkg)) == "site-packages", pkg
    assert built_with_openmp
    vendored = os.path.join(os.path.dirname(pkg), "cxent.libs")
    libs = _openmp_libs()
    assert any(i["filepath"].startswith(vendored) and "libgomp" in i["filepath"] for i in libs), libs
    with open("/proc/self/maps") as f:  # the vendored runtime is mapped (other packages, torch
        gomps = {line.split()[-1] for line in f if "libgomp" in line}  # say, may map their own)
    assert any(p.startswith(vendored) for p in gomps), gomps
    needed = _needed(os.path.join(pkg, "_lib", os.path.basename(_rows.__file__)))
    assert any(n.startswith("libgomp-") for n in needed), needed  # the repaired, renamed runtime
    assert all(os.path.exists(os.path.join(vendored, n)) for n in needed if "gomp" in n), needed


def _needed(path):
    """The DT_NEEDED entries of an ELF shared object (64-bit little-endian), read directly."""
    import struct
    with open(path, "rb") as f:
        data = f.read()
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + k * shentsize) for k in range(shnum)]
    dyn = next(s for s in sections if s[1] == 6)  # SHT_DYNAMIC
    strtab = sections[dyn[6]]  # its sh_link: the string table
    out = []
    for off in range(dyn[4], dyn[4] + dyn[5], 16):
        tag, val = struct.unpack_from("<qQ", data, off)
        if tag == 1:  # DT_NEEDED
            start = strtab[4] + val
            out.append(data[start:data.index(b"\0", start)].decode())
    return out
