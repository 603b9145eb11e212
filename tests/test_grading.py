"""`make release` / `make grade` end to end on a tiny, torch-free course made on the fly."""

import csv
import shutil
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from lm_course import cli, grading

ROOT = Path(__file__).resolve().parent.parent


def _cell(source, grade_id, grade, solution, points=None):
    cell = new_code_cell(source)
    meta = {"grade": grade, "solution": solution, "locked": not solution,
            "grade_id": grade_id, "schema_version": 3}
    if points:
        meta["points"] = points
    cell.metadata["nbgrader"] = meta
    return cell


def _course(tmp_path: Path) -> Path:
    course = tmp_path / "course"
    (course / "source" / "hw").mkdir(parents=True)
    shutil.copy(ROOT / "exercises" / "nbgrader_config.py", course)
    nb = new_notebook(cells=[
        new_markdown_cell("Write `double(x)`."),
        _cell("def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION",
              "double-solution", False, True),
        _cell("assert double(2) == 4, 'double(2) should be 4'", "double-visible", True, False, 1),
        _cell("### BEGIN HIDDEN TESTS\nassert double(-3) == -6\n### END HIDDEN TESTS",
              "double-hidden", True, False, 2),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                "language": "python"}})
    nbformat.write(nb, course / "source" / "hw" / "hw.ipynb")
    return course


def test_release_then_grade_writes_feedback_and_a_grade_table(tmp_path):
    course = _course(tmp_path)
    assert cli.main(["release", "--course", str(course)]) == 0
    released = nbformat.read(course / "release" / "hw" / "hw.ipynb", as_version=4)
    text = "\n".join(c.source for c in released.cells)
    assert "return 2 * x" not in text and "double(-3)" not in text
    assert "raise NotImplementedError()" in text

    answers = {"ada": "def double(x):\n    return x + x",      # right
               "bob": "def double(x):\n    return x * x",      # right on 2, wrong on -3
               "cy": None}                                      # handed in the stub
    for student, code in answers.items():
        nb = nbformat.read(course / "release" / "hw" / "hw.ipynb", as_version=4)
        if code:
            nb.cells[1].source = code
        folder = course / "submitted" / student / "hw"
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / "hw.ipynb")

    assert cli.main(["grade", "--course", str(course)]) == 0
    with open(course / "grades.csv") as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    assert {s: float(r["score"]) for s, r in rows.items()} == {"ada": 3.0, "bob": 1.0, "cy": 0.0}
    assert all(r["max_score"] == "3.0" and r["exercise"] == "double" for r in rows.values())
    assert (course / "feedback" / "bob" / "hw" / "hw.html").exists()
    assert sorted(p.name for p in course.iterdir() if p.suffix == ".tmp") == []
    # the gradebook is the record: scores read back per graded cell
    assert grading.scores("hw", course)["bob"] == {"double-visible": (1.0, 1.0),
                                                   "double-hidden": (0.0, 2.0)}
