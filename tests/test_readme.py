"""Every ```python block of README.md runs, and prints what its comments promise."""

import contextlib
import io
import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_readme_examples_run():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks, "README.md has no python examples"
    for block in blocks:
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            exec(compile(block, str(README), "exec"), {})
        lines = buf.getvalue().splitlines()
        assert lines[0] == "1.4658507 float32"
        assert lines[1] == "0.7034"
        assert lines[2].startswith("0.62882792067991")


def test_readme_commands():
    text = README.read_text()
    assert 'pip install -e ".[test]" && python -m pytest' in text
    assert "python bench/run.py" in text
