"""`make release` / `make grade` end to end on a tiny, torch-free course made on the fly: an
honest class, then a class of broken and hostile submissions next to honest ones."""

import csv
import json
import os
import shutil
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from lm_course.tooling import cli, grading

ROOT = Path(__file__).resolve().parent.parent
CELL_TIMEOUT, TIME_LIMIT = 8, 20  # small, so that the endless loops cost little


def _cell(source, grade_id, grade, solution, points=None, forbidden=None):
    cell = new_code_cell(source)
    meta = {"grade": grade, "solution": solution, "locked": not solution,
            "grade_id": grade_id, "schema_version": 3}
    if points:
        meta["points"] = points
    cell.metadata["nbgrader"] = meta
    if forbidden:
        cell.metadata["lm_course"] = {"forbidden": forbidden}
    return cell


def _course(tmp_path: Path) -> Path:
    """Assignment ``hw``: ``double`` (1 + 2 points) and ``mean`` (1 + 2, may not use
    ``statistics``); assignment ``hw2``: ``half`` (1 + 1)."""
    course = tmp_path / "course"
    (course / "source" / "hw").mkdir(parents=True)
    (course / "source" / "hw2").mkdir(parents=True)
    shutil.copy(ROOT / "exercises" / "nbgrader_config.py", course)
    kernel = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    setup = new_code_cell("import math")
    setup.metadata["nbgrader"] = {"grade": False, "solution": False, "locked": True,
                                  "grade_id": "setup", "schema_version": 3}
    nb = new_notebook(cells=[
        new_markdown_cell("Write `double(x)` and `mean(xs)` (without `statistics`)."),
        setup,
        _cell("def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION",
              "double-solution", False, True),
        _cell("assert double(2) == 4, 'double(2) should be 4'", "double-visible", True, False, 1),
        _cell("### BEGIN HIDDEN TESTS\nassert double(-3) == -6, 'negative numbers too'\n"
              "### END HIDDEN TESTS", "double-hidden", True, False, 2),
        _cell("def mean(xs):\n    ### BEGIN SOLUTION\n    return sum(xs) / len(xs)\n"
              "    ### END SOLUTION", "mean-solution", False, True,
              forbidden=["statistics", "numpy.mean"]),
        _cell("assert math.isclose(mean([1, 2, 3]), 2.0)", "mean-visible", True, False, 1),
        _cell("### BEGIN HIDDEN TESTS\nassert math.isclose(mean([0.5, 1.5, 4.0]), 2.0)\n"
              "assert mean([-1]) == -1\n### END HIDDEN TESTS", "mean-hidden", True, False, 2),
    ], metadata=kernel)
    nbformat.write(nb, course / "source" / "hw" / "hw.ipynb")
    nb2 = new_notebook(cells=[
        _cell("def half(x):\n    ### BEGIN SOLUTION\n    return x / 2\n    ### END SOLUTION",
              "half-solution", False, True),
        _cell("assert half(4) == 2", "half-visible", True, False, 1),
        _cell("### BEGIN HIDDEN TESTS\nassert half(-1) == -0.5\n### END HIDDEN TESTS",
              "half-hidden", True, False, 1),
    ], metadata=kernel)
    nbformat.write(nb2, course / "source" / "hw2" / "hw2.ipynb")
    return course


def _submit(course: Path, student: str, assignment: str = "hw", edit=None, name=None,
            raw: bytes | None = None) -> Path:
    """Hand in the released notebook; ``edit(nb)`` changes it first (cells by grade id)."""
    folder = course / "submitted" / student / assignment
    folder.mkdir(parents=True)
    path = folder / (name or f"{assignment}.ipynb")
    if raw is not None:
        path.write_bytes(raw)
        return path
    nb = nbformat.read(course / "release" / assignment / f"{assignment}.ipynb", as_version=4)
    if edit is not None:
        edit(nb)
    nbformat.write(nb, path)
    return path


def _set(**codes):
    """An edit that replaces the given exercises' solution cells."""
    def edit(nb):
        for cell in nb.cells:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id", "")
            ex = gid.removesuffix("-solution")
            if gid.endswith("-solution") and ex in codes:
                cell.source = codes[ex]
    return edit


RIGHT = {"double": "def double(x):\n    return x + x",
         "mean": "def mean(xs):\n    total = 0.0\n    for x in xs:\n        total += x\n"
                 "    return total / len(xs)"}


def _rows(course: Path) -> dict[tuple[str, str], list[dict]]:
    with open(course / "grades.csv") as f:
        out: dict[tuple[str, str], list[dict]] = {}
        for r in csv.DictReader(f):
            out.setdefault((r["student"], r["assignment"]), []).append(r)
    return out


def _total(rows: list[dict]) -> float:
    return sum(float(r["score"]) for r in rows)


def test_release_then_grade_writes_feedback_and_a_grade_table(tmp_path, capsys):
    course = _course(tmp_path)
    assert cli.main(["release", "--course", str(course)]) == 0
    released = nbformat.read(course / "release" / "hw" / "hw.ipynb", as_version=4)
    text = "\n".join(c.source for c in released.cells)
    assert "return 2 * x" not in text and "double(-3)" not in text
    assert "raise NotImplementedError()" in text

    _submit(course, "ada", edit=_set(**RIGHT))
    _submit(course, "bob", edit=_set(double="def double(x):\n    return x * x", mean=RIGHT["mean"]))
    _submit(course, "cy")  # handed in the stub
    assert cli.main(["grade", "--course", str(course)]) == 0
    printed = capsys.readouterr().out
    assert "graded 3 of 3 submissions" in printed and "grading-report.txt" in printed
    rows = _rows(course)
    assert {k[0]: _total(v) for k, v in rows.items()} == {"ada": 6.0, "bob": 4.0, "cy": 0.0}
    assert all(r["max_score"] == "3.0" and r["status"] == "graded"
               for v in rows.values() for r in v)
    bob = {r["exercise"]: r for r in rows[("bob", "hw")]}
    assert bob["double"]["score"] == "1.0" and "negative numbers too" in bob["double"]["reason"]
    assert bob["mean"]["reason"] == ""
    assert (course / "feedback" / "bob" / "hw" / "hw.html").exists()
    assert (course / "autograded" / "bob" / "hw" / "hw.ipynb").exists()
    assert sorted(p.name for p in course.iterdir() if p.suffix == ".tmp") == []
    # the gradebook is the record: scores read back per graded cell
    assert grading.scores("hw", course)["bob"] == {"double-visible": (1.0, 1.0),
                                                   "double-hidden": (0.0, 2.0),
                                                   "mean-visible": (1.0, 1.0),
                                                   "mean-hidden": (2.0, 2.0)}
    # students see their hidden tests' results, not their code or traceback
    page = (course / "feedback" / "bob" / "hw" / "hw.html").read_text()
    assert "negative numbers too" in page and "double(-3)" not in page
    assert "math.isclose(mean([0.5" not in page


# The class: (student, what they handed in, expected total on hw, expected status, and a piece
# of the reason the table must give).
LOOP_ON_NEGATIVE = "def double(x):\n    while x < 0:\n        pass\n    return 2 * x"
# Runs when the cell runs, and catches the interrupt sent at the cell's timeout: the kernel
# never answers again, and the grader runs no more cells.
SWALLOW_INTERRUPT = '''while True:
    try:
        while True:
            pass
    except KeyboardInterrupt:
        pass'''
PATCH_ISCLOSE = "import math\nmath.isclose = lambda *a, **k: True\ndef mean(xs):\n    return 0"
SHADOW_MATH = ('class _Yes:\n    def isclose(self, *a, **k):\n        return True\n'
               'math = _Yes()\ndef mean(xs):\n    return 0')
WALK_UP = '''from pathlib import Path
import json
for _d in [Path.cwd(), *Path.cwd().parents]:
    _src = _d / "source" / "hw" / "hw.ipynb"
    if _src.exists():
        for _c in json.loads(_src.read_text())["cells"]:
            if _c["metadata"].get("nbgrader", {}).get("solution"):
                exec("".join(_c["source"]))
        break
else:
    def double(x):
        raise NotImplementedError("no reference solution found")
'''
HOSTILE = {
    "ada": (_set(**RIGHT), 6.0, "graded", ""),
    "renamed": (dict(name="hw (1).ipynb"), 0.0, "missing", "found hw (1).ipynb"),
    "empty": (dict(raw=b""), 0.0, "unreadable", "empty file"),
    "garbage": (dict(raw=b"PK\x03\x04 this is a zip"), 0.0, "unreadable", "not valid JSON"),
    "exiter": (_set(double="import os\nos._exit(0)", mean=RIGHT["mean"]), 0.0, "rejected",
               "os module"),
    # loops on the hidden test's input, and uses what the exercise forbids in the other one
    "looper": (_set(double=LOOP_ON_NEGATIVE,
                    mean="from statistics import fmean\ndef mean(xs):\n    return fmean(xs)"),
               1.0, "forbidden", "double-hidden: ran past the 8 s per-cell limit"),
    "stubborn": (_set(double=SWALLOW_INTERRUPT, mean=RIGHT["mean"]), 0.0, "timeout",
                 "catches KeyboardInterrupt"),
    # every cell under the per-cell limit, all of them together past the whole-submission one
    "slow": (_set(double="import time\ntime.sleep(7)\ndef double(x):\n    time.sleep(7)\n"
                         "    return 2 * x", mean=RIGHT["mean"]), 0.0, "timeout",
             "whole-submission limit"),
    "walker": (_set(double=WALK_UP), 0.0, "rejected", "pathlib"),
    "patcher": (_set(double=RIGHT["double"], mean=PATCH_ISCLOSE), 0.0, "rejected",
                "changes math.isclose"),
    "shadow": (_set(double=RIGHT["double"], mean=SHADOW_MATH), 0.0, "rejected", "rebinds math"),
    # the course package for one exercise, a 3 MB line of output in the other (still right)
    "pkg": (_set(double="def double(x):\n    from lm_course import policy\n    return 2 * x",
                 mean="def mean(xs):\n    print('x' * 3_000_000)\n    return sum(xs) / len(xs)"),
            3.0, "forbidden", "course package"),
}


def _delete_hidden_and_edit_visible(nb):
    _set(**RIGHT)(nb)
    nb.cells = [c for c in nb.cells if not c.metadata.get("nbgrader", {}).get(
        "grade_id", "").endswith("-hidden")]
    for c in nb.cells:
        if c.metadata.get("nbgrader", {}).get("grade_id") == "mean-visible":
            c.source = "pass  # no test here"


def test_one_bad_submission_never_stops_the_grading_of_the_class(tmp_path):
    course = _course(tmp_path)
    grading.release(course)
    for student, (edit, *_rest) in HOSTILE.items():
        if isinstance(edit, dict):
            _submit(course, student, **edit)
        else:
            _submit(course, student, edit=edit)
    # an honest student who deleted the (empty-looking) hidden tests and emptied a visible one
    _submit(course, "dee", edit=_delete_hidden_and_edit_visible)
    # the second assignment is graded even though `renamed` misnamed the first
    _submit(course, "renamed", "hw2", edit=_set(half="def half(x):\n    return x * 0.5"))
    _submit(course, "ada", "hw2", edit=_set(half="def half(x):\n    return x // 2"))
    (course / "submitted" / "ada" / "hw9").mkdir()  # no such assignment

    start = time.perf_counter()
    csv_path = grading.grade_all(course, time_limit=TIME_LIMIT, cell_timeout=CELL_TIMEOUT)
    seconds = time.perf_counter() - start
    rows = _rows(course)
    report = (course / "grading-report.txt").read_text()
    print(report)
    for student, (_, total, status, reason) in HOSTILE.items():
        got = rows[(student, "hw")]
        assert _total(got) == total, (student, got)
        assert {r["max_score"] for r in got} == {"3.0"} and len(got) == 2, (student, got)
        statuses = {r["status"] for r in got}
        assert status in statuses, (student, got)
        assert reason in " ".join(r["reason"] for r in got), (student, got)
        feedback = course / "feedback" / student / "hw" / "hw.html"
        assert feedback.exists(), student
        assert feedback.stat().st_size < 300_000, (student, feedback.stat().st_size)
        line = [x for x in report.splitlines() if x.startswith(student + " ")
                and " hw " in x][0]
        assert status in line or status == "forbidden", line
    assert _total(rows[("dee", "hw")]) == 6.0  # the deleted tests were put back and run
    assert "Missing grade cell mean-hidden" in report
    assert "dee/hw: locked cell mean-visible was edited" in report
    assert "dee/hw: locked cell double-hidden was deleted" in report
    assert "ada/hw:" not in report  # an untouched notebook raises no warning
    assert "statistics.fmean" in report
    assert _total(rows[("renamed", "hw2")]) == 2.0 and _total(rows[("ada", "hw2")]) == 1.0
    assert rows[("ada", "hw9")][0]["status"] == "unknown"
    assert csv_path == course / "grades.csv"
    # a huge output is cut in the graded notebook too
    graded = course / "autograded" / "pkg" / "hw" / "hw.ipynb"
    assert graded.stat().st_size < 200_000
    assert "output cut" in graded.read_text()
    # one bounded run: the endless loops cost at most their limits
    assert seconds < 600, seconds
    # no grading folder left behind, nothing running
    assert not list((course / "submitted").glob("*/*/.ipynb_checkpoints"))


def test_without_the_sandbox_rules_isolation_alone_stops_the_walk_up_and_a_dead_kernel_is_0(
        tmp_path, monkeypatch):
    course = _course(tmp_path)
    grading.release(course)
    walker = _submit(course, "walker", edit=_set(double=WALK_UP))
    _submit(course, "exiter", edit=_set(double=RIGHT["double"],
                                        mean="import os\nos._exit(0)"))
    # the attack is real: run where the submission lies, it finds and runs the solution
    monkeypatch.chdir(walker.parent)
    scope: dict = {}
    exec(WALK_UP, scope)
    assert scope["double"](-3) == -6
    monkeypatch.chdir(tmp_path)

    outcomes = {o.student: o for o in grading.grade_class(
        course, time_limit=TIME_LIMIT, cell_timeout=CELL_TIMEOUT, sandbox=False)}
    walked = outcomes["walker"]
    assert walked.status == "graded" and walked.scores["double"] == (0.0, 3.0)
    assert "no reference solution found" in walked.notes["double"]
    assert outcomes["exiter"].status == "error" and outcomes["exiter"].total[0] == 0
    assert "kernel died" in outcomes["exiter"].reason
    assert (course / "feedback" / "exiter" / "hw" / "hw.html").exists()


@pytest.mark.parametrize("kwargs, message", [
    (dict(time_limit=0), "time_limit"),
    (dict(cell_timeout="5"), "cell_timeout"),
    (dict(max_output=10), "max_output"),
])
def test_grade_class_rejects_bad_limits(tmp_path, kwargs, message):
    course = _course(tmp_path)
    with pytest.raises((ValueError, TypeError), match=message):
        grading.grade_class(course, **kwargs)


def test_unreadable_submissions_are_named_and_explained(tmp_path):
    for raw, why in [(b"", "empty file"), (b"{not json", "not valid JSON"),
                     (json.dumps({"a": 1}).encode(), "without a list of cells"),
                     (json.dumps({"cells": "x", "nbformat": 4}).encode(),
                      "not a valid notebook")]:
        path = tmp_path / "hw.ipynb"
        path.write_bytes(raw)
        nb, reason = grading._read_submission(path)
        assert nb is None and why in reason and "hw.ipynb" in reason, (raw, reason)


def test_check_runs_the_visible_tests_and_prints_points_per_exercise(tmp_path, capsys):
    course = _course(tmp_path)
    grading.release(course)
    mine = tmp_path / "mine.ipynb"
    nb = nbformat.read(course / "release" / "hw" / "hw.ipynb", as_version=4)
    _set(double=RIGHT["double"], mean="def mean(xs):\n    return sum(xs) / (len(xs) + 1)")(nb)
    nbformat.write(nb, mine)
    before = mine.read_bytes()
    assert cli.main(["check", "hw", "--course", str(course), "--notebook", str(mine)]) == 1
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert "passed 1/1 pts" in lines["double"] and "2 more pts" in lines["double"]
    assert "FAILED 0/1 pts" in lines["mean"]
    assert "1 of 2 exercises pass their visible tests: 1/2 points" in out
    assert "AssertionError" in out
    assert mine.read_bytes() == before  # the learner's file is not touched

    _set(**RIGHT)(nb)
    nbformat.write(nb, mine)
    assert cli.main(["check", "hw", "--course", str(course), "--notebook", str(mine)]) == 0
    assert "2 of 2 exercises pass" in capsys.readouterr().out

    # what the grader would refuse is said before anything runs
    _set(mean="from statistics import fmean\nmean = fmean", double="import os\ndef double(x):"
         "\n    return 2 * x")(nb)
    nbformat.write(nb, mine)
    assert cli.main(["check", "hw", "--course", str(course), "--notebook", str(mine)]) == 1
    out = capsys.readouterr().out
    assert "not run, and would score 0 when graded" in out and "os module" in out
    assert "scores 0 when graded" in out and "statistics.fmean" in out


@pytest.mark.parametrize("argv, message", [
    (["check", "99"], "matches 0 assignments"),
    (["check", "hw", "--notebook", "/nonexistent/x.ipynb"], "does not exist"),
    (["check", "hw2"], "run `lm-course release` first"),
])
def test_check_explains_what_it_cannot_check(tmp_path, capsys, argv, message):
    course = _course(tmp_path)
    assert cli.main([*argv, "--course", str(course)]) == 2
    assert message in capsys.readouterr().err


def test_a_process_past_its_limit_is_killed_with_its_children():
    import sys

    import psutil

    child = ("import subprocess, sys, time; "
             "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'], "
             "start_new_session=True); print(p.pid, flush=True); time.sleep(120)")
    start = time.perf_counter()
    proc = grading._run_limited([sys.executable, "-c", child], Path.cwd(), dict(os.environ), 5)
    assert proc.returncode == -9 and time.perf_counter() - start < 60
    grandchild = int(proc.stdout.split()[0])  # in its own session, like a kernel
    assert not psutil.pid_exists(grandchild) or psutil.Process(grandchild).status() == "zombie"
    assert grading._run_limited([sys.executable, "-c", "print(1)"], Path.cwd(),
                                dict(os.environ), 60).returncode == 0
