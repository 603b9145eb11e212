"""Markdown cells that nbconvert (HTML pages, slides) would render differently from Jupyter:
a wrapped line of inline math that starts with ``+ ``, ``- `` or ``* `` becomes a list item."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]*_*.ipynb"))
BULLET = re.compile(r"^\s*[-+*]\s")


def math_lines_that_start_a_list(source: str) -> list[str]:
    """Lines that begin with a bullet marker while a ``$`` or ``$$`` math span is still open."""
    bad, in_fence, dollars = [], False, 0
    for line in source.split("\n"):
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        if not line.strip():  # a blank line ends a paragraph (and any unclosed inline math)
            dollars = 0
            continue
        if dollars % 2 == 1 and BULLET.match(line):
            bad.append(line)
        dollars += len(re.findall(r"(?<!\\)\$", line.replace("$$", "$")))
    return bad


@pytest.mark.parametrize("source, expected", [
    ("a $x\n+ y$ b", ["+ y$ b"]),
    ("a $$x\n - y$$ b", [" - y$$ b"]),
    ("$x$ and\n- a real list item", []),
    ("text\n\n+ a list after a blank line", []),
    ("```\n$x\n+ code\n```", []),
    ("costs \\$5 and\n+ more", []),
])
def test_the_detector(source, expected):
    assert math_lines_that_start_a_list(source) == expected


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_wrapped_math_line_starts_a_list(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    bad = [(k, line) for k, cell in enumerate(cells) if cell["cell_type"] == "markdown"
           for line in math_lines_that_start_a_list("".join(cell["source"]))]
    assert not bad, f"{path.name}: move the operator to the end of the previous line: {bad}"
