"""Every ```python block of README.md runs, and prints what its comments promise."""

import contextlib
import importlib.util
import io
import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_readme_examples_run():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks, "README.md has no python examples"
    printed = []
    for block in blocks:
        needs = [m for m in ("torch", "dask") if f"import {m}" in block]
        if any(importlib.util.find_spec(m) is None for m in needs):
            printed.append([])  # an example of an optional extra that is not installed here
            continue
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            exec(compile(block, str(README), "exec"), {})
        printed.append(buf.getvalue().splitlines())
    lines = printed[0]  # the first example's promises
    assert lines[0] == "1.4658507 float32"
    assert lines[1] == "0.7034"
    assert lines[2].startswith("0.62882792067991")
    for block, out in zip(blocks, printed):  # a comment of True/False/None words is the output
        prints = [b for b in block.splitlines() if b.startswith("print(")]
        for code, line in zip(prints, out):
            comment = code.rpartition("#")[2].strip()
            if comment and set(comment.split()) <= {"True", "False", "None"}:
                assert line == comment, (code, line)


def test_readme_commands():
    text = README.read_text()
    assert 'pip install -e ".[test]" && python -m pytest' in text
    assert "python bench/run.py" in text
