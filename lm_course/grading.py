"""Graded exercises: thin wrappers around nbgrader, plus what it does not do for us.

nbgrader does the real work (stripping solutions, hiding tests, executing submissions,
the gradebook). This module only runs it the same way every time - from the course folder,
with this environment's ``bin`` on PATH (nbgrader shells out to ``alembic``) - reads scores
back from the gradebook (``nbgrader validate`` exits 0 even when tests fail, so never trust
exit codes alone), and writes the grade table atomically.

Instructor workflow (``make release`` / ``make grade`` call these):

1. ``release(course)``: ``exercises/release/<assignment>/`` for every assignment.
2. collect submissions into ``exercises/submitted/<student>/<assignment>/``.
3. ``grade_all(course)``: autograde, feedback HTML, ``exercises/grades.csv``.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

from lm_course.utils import write_text_atomic

DEFAULT_COURSE = Path(__file__).resolve().parent.parent / "exercises"


def _course(course_dir: str | os.PathLike | None) -> Path:
    course = Path(course_dir) if course_dir is not None else DEFAULT_COURSE
    if not (course / "nbgrader_config.py").exists():
        raise FileNotFoundError(f"course_dir={str(course)!r} is not an nbgrader course folder "
                                f"(no nbgrader_config.py in it)")
    return course.resolve()


def nbgrader(args: list[str], course_dir: str | os.PathLike | None = None,
             timeout: float = 1800) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` in the course folder; raise with its log if it fails."""
    course = _course(course_dir)
    bindir = Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    exe = bindir / "nbgrader"
    cmd = [str(exe) if exe.exists() else "nbgrader", *args, "--CourseDirectory.root=" + str(course)]
    proc = subprocess.run(cmd, cwd=course, env=env, capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"`nbgrader {' '.join(args)}` failed (exit {proc.returncode}):\n"
                           f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def assignments(course_dir: str | os.PathLike | None = None) -> list[str]:
    """Names of the assignments in ``source/``, sorted."""
    course = _course(course_dir)
    return sorted(p.name for p in (course / "source").iterdir()
                  if p.is_dir() and not p.name.startswith("."))


def release(course_dir: str | os.PathLike | None = None,
            names: list[str] | None = None) -> list[Path]:
    """Generate the student version of each assignment into ``release/``."""
    course = _course(course_dir)
    known = assignments(course)
    names = known if names is None else names
    for name in names:
        if name not in known:
            raise ValueError(f"assignment {name!r} is not in {course / 'source'}; "
                             f"expected one of {known}")
        nbgrader(["generate_assignment", name, "--force"], course)
    return [course / "release" / n for n in names]


def submitted(course_dir: str | os.PathLike | None = None) -> dict[str, list[str]]:
    """``{assignment: [students]}`` for everything under ``submitted/``."""
    course = _course(course_dir)
    out: dict[str, list[str]] = {}
    root = course / "submitted"
    if root.exists():
        for student in sorted(p for p in root.iterdir() if p.is_dir()):
            for assignment in sorted(p for p in student.iterdir() if p.is_dir()):
                out.setdefault(assignment.name, []).append(student.name)
    return out


def autograde(assignment: str, course_dir: str | os.PathLike | None = None,
              student: str | None = None) -> None:
    """Execute and score the submissions of one assignment (all students, or one)."""
    args = ["autograde", assignment, "--force"]
    if student is not None:
        args.append(f"--student={student}")
    nbgrader(args, course_dir)


def scores(assignment: str, course_dir: str | os.PathLike | None = None
           ) -> dict[str, dict[str, tuple[float, float]]]:
    """``{student: {grade_id: (score, max_score)}}`` for every graded cell, from the gradebook."""
    from nbgrader.api import Gradebook

    course = _course(course_dir)
    out: dict[str, dict[str, tuple[float, float]]] = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for sub in gb.assignment_submissions(assignment):
            cells = out.setdefault(sub.student_id, {})
            for nb in sub.notebooks:
                for grade in nb.grades:
                    cells[grade.name] = (float(grade.score), float(grade.max_score))
    return out


def write_grades_csv(path: str | os.PathLike, course_dir: str | os.PathLike | None = None
                     ) -> Path:
    """One row per (student, assignment, exercise) with score and max, written atomically."""
    course = _course(course_dir)
    path = Path(path)
    rows = []
    for assignment in assignments(course):
        for student, cells in sorted(scores(assignment, course).items()):
            by_ex: dict[str, list[float]] = {}
            for grade_id, (score, max_score) in cells.items():
                ex = grade_id.rsplit("-", 1)[0]
                acc = by_ex.setdefault(ex, [0.0, 0.0])
                acc[0] += score
                acc[1] += max_score
            for ex, (score, max_score) in sorted(by_ex.items()):
                rows.append([student, assignment, ex, score, max_score])
    buf = io.StringIO(newline="")
    writer = csv.writer(buf)
    writer.writerow(["student", "assignment", "exercise", "score", "max_score"])
    writer.writerows(rows)
    return write_text_atomic(path, buf.getvalue(), newline="")


def grade_all(course_dir: str | os.PathLike | None = None) -> Path:
    """Autograde every submission, write feedback HTML and ``grades.csv``; return its path."""
    course = _course(course_dir)
    todo = submitted(course)
    if not todo:
        raise FileNotFoundError(f"nothing to grade: put submissions in "
                                f"{course / 'submitted'}/<student>/<assignment>/")
    for assignment in todo:
        if assignment not in assignments(course):
            raise ValueError(f"submitted/*/{assignment} has no source assignment of that name; "
                             f"expected one of {assignments(course)}")
        autograde(assignment, course)
        nbgrader(["generate_feedback", assignment, "--force"], course)
    return write_grades_csv(course / "grades.csv", course)
