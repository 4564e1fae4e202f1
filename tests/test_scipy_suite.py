"""SciPy's own tests of logsumexp, softmax and log_softmax (``scipy/special/tests/
test_logsumexp.py``, shipped with SciPy) run against cxent through a small adapter
(``tests/scipy_suite/cxent_scipy_adapter.py``): the file is copied with its
``from scipy.special import ...`` line pointed at the adapter and run by pytest in a subprocess.
Every test that uses a feature cxent has must pass; the others skip with a named reason."""

import pathlib
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

scipy = pytest.importorskip("scipy", reason="SciPy's test file ships with SciPy")

HERE = pathlib.Path(__file__).parent / "scipy_suite"
SOURCE = pathlib.Path(scipy.__file__).parent / "special" / "tests" / "test_logsumexp.py"


def _rewrite(text):
    text, n = re.subn(r"^from scipy\.special import .*$",
                      "from cxent_scipy_adapter import log_softmax, logsumexp, softmax", text,
                      flags=re.MULTILINE)
    assert n == 1, "SciPy's test file no longer imports the functions in one line"
    return re.sub(r"^@make_xp_test_case\(.*\)\n", "", text, flags=re.MULTILINE)  # SciPy's own table


@pytest.mark.skipif(not SOURCE.exists(), reason="this SciPy ships without its test files")
def test_scipy_logsumexp_suite(tmp_path):
    shutil.copy(HERE / "cxent_scipy_adapter.py", tmp_path)
    shutil.copy(HERE / "conftest_template.py", tmp_path / "conftest.py")
    (tmp_path / "test_logsumexp.py").write_text(_rewrite(SOURCE.read_text()))
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # none of cxent's own options
    report = tmp_path / "report.xml"
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "-c", str(tmp_path / "pytest.ini"), "--rootdir", str(tmp_path),
                        f"--junitxml={report}", str(tmp_path)],
                       capture_output=True, text=True, cwd=tmp_path, check=False)
    assert report.exists(), r.stdout[-4000:] + r.stderr[-4000:]
    cases = ET.parse(report).getroot().iter("testcase")
    passed, skipped, failed = [], {}, []
    for c in cases:
        name = c.get("name")
        if c.find("failure") is not None or c.find("error") is not None:
            failed.append(name)
        elif c.find("skipped") is not None:
            reason = c.find("skipped").get("message", "").removeprefix("Skipped: ")
            skipped.setdefault(reason, []).append(name)
        else:
            passed.append(name)
    summary = "\n".join([f"SciPy {scipy.__version__} test_logsumexp.py against cxent: "
                         f"{len(passed)} passed, {sum(map(len, skipped.values()))} skipped, "
                         f"{len(failed)} failed"] +
                        [f"  skipped ({len(v)}): {k}" for k, v in sorted(skipped.items())])
    print(summary + "\n  passed: " + ", ".join(passed))
    assert not failed, summary + "\nfailed: " + ", ".join(failed) + "\n" + r.stdout[-4000:]
    assert len(passed) >= 30, summary  # 30 with SciPy 1.17.1
