"""The stubs and annotations tell the truth.

* ``mypy.stubtest`` checks every compiled module's ``.pyi`` against the module itself (names,
  arguments, defaults); Cython's own module attributes are in ``stubtest_allowlist.txt``.
* ``mypy`` checks the package's annotations, and ``mypy --strict`` a user's script
  (``typing_user.py``) that calls every public function: ``py.typed`` promises typed calls.
"""

import os
import subprocess
import sys

import pytest

pytest.importorskip("mypy")

HERE = os.path.dirname(__file__)
ROOT = os.path.dirname(HERE)
MODULES = ["cxent._lib._rows", "cxent._lib._softmax", "cxent._lib._losses", "cxent._lib._binary"]


def _run(*args):
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True)


def test_stubtest_compiled_modules():
    r = _run("mypy.stubtest", *MODULES, "--allowlist",
             os.path.join(HERE, "stubtest_allowlist.txt"),
             "--mypy-config-file", os.path.join(HERE, "..", "pyproject.toml"))
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_compiled_module_has_a_stub():
    import cxent._lib as lib
    libdir = os.path.dirname(lib.__file__)
    compiled = {f.split(".")[0] for f in os.listdir(libdir) if f.endswith((".so", ".pyd"))}
    stubs = {f[:-4] for f in os.listdir(libdir) if f.endswith(".pyi")}
    assert compiled <= stubs
    assert {m.rsplit(".", 1)[1] for m in MODULES} == compiled


def test_mypy_package():
    r = _run("mypy", "--no-incremental")
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_strict_user_code():
    # errors inside cxent are the package check's business: only the user's file is strict here
    r = _run("mypy", "--strict", "--no-incremental", "--follow-imports=silent",
             os.path.join(HERE, "typing_user.py"))
    assert r.returncode == 0, r.stdout + r.stderr
