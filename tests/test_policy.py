"""What a graded solution may use: the rules are read from the code, never by running it."""

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from lm_course.tooling import grading
from lm_course.tooling.policy import check_code, locked_names

PROTECTED = locked_names(["import math\nimport torch\nimport torch.nn.functional as F\n"
                          "from collections import Counter\nSEED = 0"])
FORBIDDEN = ["torch.logsumexp", "torch.nn.functional.layer_norm", "torch.nn.LSTMCell"]


@pytest.mark.parametrize("code, kind, piece", [
    # sandbox: files, processes, the interpreter
    ("import os\nos._exit(0)", "sandbox", "os module"),
    ("from pathlib import Path\nsrc = Path('..').read_text()", "sandbox", "pathlib"),
    ("def f():\n    return open('/etc/passwd').read()", "sandbox", "uses open"),
    ("import subprocess", "sandbox", "subprocess"),
    ("exec('x = 1')", "sandbox", "uses exec"),
    ("def f(g):\n    return g.__globals__", "sandbox", "__globals__"),
    ("x = __builtins__", "sandbox", "__builtins__"),
    ("import sqlite3", "sandbox", "sqlite3"),
    ("def f(x):\n    return getattr(x, 'exec')", "sandbox", "'exec'"),
    ("import torch\nw = torch.load('ref.pt')", "sandbox", "torch.load"),
    # sandbox: patching what the tests use
    ("import torch\ntorch.allclose = lambda *a, **k: True", "sandbox", "changes torch.allclose"),
    ("import torch as _t\n_t.allclose = lambda *a, **k: True", "sandbox", "changes _t.allclose"),
    ("T = torch.Tensor\nT.__eq__ = lambda a, b: True", "sandbox", "changes T.__eq__"),
    ("def f(x):\n    type(x).__bool__ = lambda s: True", "sandbox", "__bool__"),
    ("math.isclose = lambda *a, **k: True", "sandbox", "changes math.isclose"),
    ("del math.isclose", "sandbox", "changes math.isclose"),
    ("math = None", "sandbox", "rebinds math"),
    ("import numpy as torch", "sandbox", "rebinds torch"),
    ("def Counter(xs):\n    return {}", "sandbox", "rebinds Counter"),
    ("def all(xs):\n    return True", "sandbox", "rebinds the built-in all"),
    ("for len in range(3):\n    pass", "sandbox", "rebinds the built-in len"),
    ("def f():\n    global torch\n    torch = None", "sandbox", "rebinds torch"),
    # library rules: through aliases, from-imports, methods and strings
    ("import torch\ny = torch.logsumexp(x, 1)", "library", "torch.logsumexp"),
    ("from torch import logsumexp as lse\ny = lse(x, 1)", "library", "torch.logsumexp"),
    ("def f(x):\n    return x.logsumexp(-1)", "library", ".logsumexp"),
    ("def f(x):\n    return getattr(x, 'logsumexp')(-1)", "library", "'logsumexp'"),
    ("def f(x, w, b):\n    return F.layer_norm(x, x.shape[-1:], w, b)", "library",
     "torch.nn.functional.layer_norm"),
    ("from torch import nn\ncell = nn.LSTMCell(3, 4)", "library", "torch.nn.LSTMCell"),
    ("from lm_course.rnn import LSTMCell", "library", "course package"),
    ("import lm_course.attention as A", "library", "course package"),
])
def test_rules_catch_the_ways_around_the_tests(code, kind, piece):
    found = check_code(code, forbidden=FORBIDDEN, protected=PROTECTED)
    assert any(v.kind == kind and piece in v.message for v in found), found


@pytest.mark.parametrize("code", [
    "import math\nimport torch\nimport torch.nn.functional as F",  # the same imports again
    "def layer_norm(x, w, b, eps=1e-5):\n    m = x.mean(-1, keepdim=True)\n"
    "    v = ((x - m) ** 2).mean(-1, keepdim=True)\n"
    "    return (x - m) / torch.sqrt(v + eps) * w + b",
    "class Block(torch.nn.Module):\n    def __init__(self):\n        super().__init__()\n"
    "        self.w = torch.nn.Parameter(torch.ones(3))",
    "def f(logits):\n    top = logits.max(-1, keepdim=True).values\n"
    "    return top + torch.log(torch.exp(logits - top).sum(-1, keepdim=True))",
    "def f(xs):\n    len = 3  # a local name is the function's own business\n    return len",
    "mode = 'open'\nnames = ['select', 'site', 'code']",
    "def f(x):\n    with torch.no_grad():\n        y = x.softmax(-1)\n    return y",
    "def broken(:\n    pass",  # a syntax error is the kernel's to report
])
def test_rules_leave_honest_code_alone(code):
    assert check_code(code, forbidden=FORBIDDEN, protected=PROTECTED) == []


def test_sandbox_false_keeps_only_the_library_rules():
    code = "import os\nimport torch\ny = torch.logsumexp(x, 1)"
    assert {v.kind for v in check_code(code, FORBIDDEN, sandbox=False)} == {"library"}


def _nb(*cells):
    out = []
    for source, gid, solution, extra in cells:
        cell = new_code_cell(source)
        if gid:
            cell.metadata["nbgrader"] = {"grade_id": gid, "solution": solution,
                                         "locked": not solution, "grade": "-test" in gid,
                                         "points": 1, "schema_version": 3}
        if extra:
            cell.metadata["lm_course"] = {"forbidden": extra}
        out.append(cell)
    return new_notebook(cells=out)


def test_policy_reads_student_cells_with_the_rules_of_the_source():
    source = _nb(("import math", "setup", False, None),
                 ("def f(x):\n    return x", "f-solution", True, ["statistics"]),
                 ("assert f(1) == 1", "f-test", False, None),
                 ("def g(x):\n    return x", "g-solution", True, []),
                 ("assert g(1) == 1", "g-test", False, None))
    assert grading.policy_violations(source, source) == ([], {})
    sub = nbformat.from_dict(source)
    sub.cells[0].source = "import os"          # a locked cell: reset before it runs, ignored
    sub.cells[1].source = "from statistics import mean as f"
    sub.cells[1].metadata["lm_course"] = {"forbidden": []}  # the student's metadata counts not
    sub.cells.append(new_code_cell("import numpy as math"))  # an added cell is student code
    sandbox, library = grading.policy_violations(sub, source)
    assert sandbox == ["added cell 1: rebinds math (line 1), which the notebook's locked cells "
                       "define and the tests use"]
    assert list(library) == ["f"] and "statistics.mean" in library["f"][0]
    # an alias imported in one cell and used in another is still seen
    sub = nbformat.from_dict(source)
    sub.cells.append(new_code_cell("import statistics as st"))
    sub.cells[3].source = "def g(x):\n    return x"
    sub.cells[1].source = "def f(x):\n    return st.mean(x)"
    assert list(grading.policy_violations(sub, source)[1]) == ["f"]
    assert [e.name for e in grading.exercise_table(source)] == ["f", "g"]
    assert grading.exercise_table(source)[0].forbidden == ("statistics",)
