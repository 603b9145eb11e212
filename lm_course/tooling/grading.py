"""Graded exercises: thin wrappers around nbgrader, plus what it does not do for us.

nbgrader does the real work (stripping solutions, hiding tests, executing submissions,
the gradebook). This module runs it the same way every time - from the course folder,
with this environment's ``bin`` on PATH (nbgrader shells out to ``alembic``) - reads scores
back from the gradebook (``nbgrader validate`` exits 0 even when tests fail, so never trust
exit codes alone), and makes grading a class safe:

* **One submission at a time.** Each student x assignment is autograded by its own nbgrader
  process under a whole-submission time limit (``time_limit``, 5 minutes by default; the
  process and its kernel are killed past it) and a per-cell limit (``cell_timeout``). A
  renamed, empty or broken notebook, a kernel that dies (``os._exit``), an endless loop that
  swallows the interrupt: that submission scores 0 with a reason, and the rest of the class
  is graded as usual. ``grades.csv`` and feedback are always written for everyone gradable.
* **Away from the answers.** Grading happens in a fresh course folder in the system's temp
  folder: the assignment is generated there from a copy of ``source/``, then ``source/`` and
  ``release/`` are deleted before any student code runs, and each student's notebook is
  alone in ``submitted/`` while it runs. A solution that walks up from its folder finds no
  reference solution. Results (gradebook, graded notebooks, feedback) are copied back.
* **By the rules.** Before anything runs, the student's code cells are read with
  :mod:`lm_course.tooling.policy`: a submission that reaches for files, processes or the
  interpreter, patches a module or rebinds a name the tests use is not run (0, status
  ``rejected``); an exercise solved by calling the library function it asks for (the
  instructor's list in the source notebook's solution-cell metadata) scores 0 (status
  ``forbidden``).
* **Tests restored.** Locked cells are reset from the gradebook and deleted test cells are
  put back (nbgrader's ``OverwriteCells.add_missing_cells``); nbgrader's warnings about
  them reach the report.
* **What students see.** The feedback page shows each test cell's score; a hidden-test cell
  shows only the error's type and message, not its code, traceback or printed output
  (``grading_hooks.HiddenTestResults`` then nbgrader's ``ClearHiddenTests``). Every output is
  cut to ``max_output`` characters (``grading_hooks.CapOutputs``).

Instructor workflow (``make release`` / ``make grade`` call these):

1. ``release(course)``: ``exercises/release/<assignment>/`` for every assignment.
2. collect submissions into ``exercises/submitted/<student>/<assignment>/``.
3. ``grade_all(course)``: autograde, feedback HTML, ``exercises/grades.csv`` (one row per
   student x assignment x exercise, with ``status`` and ``reason``) and
   ``exercises/grading-report.txt`` (the same, per submission, with nbgrader's warnings).
"""

from __future__ import annotations

import ast
import csv
import html
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from lm_course.tooling import policy
from lm_course.utils import check_float, write_text_atomic

DEFAULT_COURSE = Path(__file__).resolve().parents[2] / "exercises"


def _course(course_dir: str | os.PathLike | None) -> Path:
    course = Path(course_dir) if course_dir is not None else DEFAULT_COURSE
    if not (course / "nbgrader_config.py").exists():
        raise FileNotFoundError(f"course_dir={str(course)!r} is not an nbgrader course folder "
                                f"(no nbgrader_config.py in it)")
    return course.resolve()


def _kill_tree(pid: int) -> None:
    """Kill a process and every descendant (a kernel runs in its own session, so killing the
    process group would leave it spinning)."""
    import psutil  # a dependency of ipykernel

    try:
        parent = psutil.Process(pid)
        procs = [*parent.children(recursive=True), parent]
    except psutil.NoSuchProcess:
        return
    for p in procs:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=10)


def _run_limited(cmd: list[str], cwd: Path, env: dict, timeout: float
                 ) -> subprocess.CompletedProcess:
    """``subprocess.run`` that kills the whole process tree at ``timeout`` (returncode -9)."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, errors="replace",
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        _kill_tree(proc.pid)
        out, err = proc.communicate()
        code = -9
    finally:
        _kill_tree(proc.pid)  # a kernel left behind by a crashed nbgrader
    return subprocess.CompletedProcess(cmd, code, out, err)


def _nbgrader_cmd(args: list[str], course: Path) -> tuple[list[str], dict]:
    bindir = Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    exe = bindir / "nbgrader"
    cmd = [str(exe) if exe.exists() else "nbgrader", *args, "--CourseDirectory.root=" + str(course)]
    return cmd, env


def nbgrader(args: list[str], course_dir: str | os.PathLike | None = None,
             timeout: float = 1800) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` in the course folder; raise with its log if it fails."""
    course = _course(course_dir)
    cmd, env = _nbgrader_cmd(args, course)
    proc = _run_limited(cmd, course, env, timeout)
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
                    cells[grade.name] = (float(grade.score or 0.0), float(grade.max_score))
    return out




# ----------------------------------------------------------------------------- the exercises


@dataclass(frozen=True)
class Exercise:
    """One exercise of a source notebook: its graded cells, points and library rules."""

    name: str
    notebook: str              # the notebook's file name, e.g. "02_rnn_exercises.ipynb"
    max_score: float
    grade_ids: tuple[str, ...]  # its test cells
    forbidden: tuple[str, ...]  # dotted names it may not use (besides policy.ALWAYS_FORBIDDEN)


def _nbg(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _exercise_of(grade_id: str) -> str:
    return grade_id.rsplit("-", 1)[0]


def exercise_table(source_nb, notebook: str = "") -> list[Exercise]:
    """The exercises of an (instructor's) source notebook, in order.

    The library rules come from ``metadata.lm_course.forbidden`` of the ``<ex>-solution``
    cells; the points from the test cells.
    """
    order: list[str] = []
    points: dict[str, float] = {}
    gids: dict[str, list[str]] = {}
    forbidden: dict[str, list[str]] = {}
    for cell in source_nb.cells:
        meta = _nbg(cell)
        gid = meta.get("grade_id")
        if not gid:
            continue
        ex = _exercise_of(gid)
        if meta.get("solution") or meta.get("grade"):
            if ex not in order:
                order.append(ex)
        if meta.get("solution"):
            forbidden.setdefault(ex, []).extend(
                cell.get("metadata", {}).get("lm_course", {}).get("forbidden", []))
        if meta.get("grade"):
            points[ex] = points.get(ex, 0.0) + float(meta.get("points", 0))
            gids.setdefault(ex, []).append(gid)
    return [Exercise(ex, notebook, points.get(ex, 0.0), tuple(gids.get(ex, ())),
                     tuple(forbidden.get(ex, ()))) for ex in order if ex in points]


def policy_violations(submission_nb, source_nb, sandbox: bool = True
                      ) -> tuple[list[str], dict[str, list[str]]]:
    """``(sandbox problems, {exercise: library problems})`` of the student's code cells.

    Student code is every code cell that the grader does not reset from the source: the
    ``<ex>-solution`` cells and cells the student added. Rules come from ``source_nb``.
    """
    src_cells = {_nbg(c).get("grade_id"): c for c in source_nb.cells if _nbg(c).get("grade_id")}
    locked = {gid for gid, c in src_cells.items() if _nbg(c).get("locked")}
    protected = policy.locked_names(
        c.source for c in source_nb.cells
        if c.cell_type == "code" and _nbg(c).get("locked") and not _nbg(c).get("grade"))
    for c in source_nb.cells:  # what the test cells import is theirs too
        if c.cell_type == "code" and _nbg(c).get("grade"):
            protected.update({k: v for k, v in policy.locked_names([c.source]).items()
                              if v and k not in protected})
    rules = {e.name: e.forbidden for e in exercise_table(source_nb)}
    own: dict[str, str] = {}   # exercise -> its solution code
    extra: list[str] = []      # cells the student added (or unmarked)
    for cell in submission_nb.cells:
        if cell.get("cell_type") != "code":
            continue
        gid = _nbg(cell).get("grade_id")
        if gid in locked:
            continue  # replaced by the source's version before it runs
        if gid in src_cells and _nbg(src_cells[gid]).get("solution"):
            ex = _exercise_of(gid)
            own[ex] = own.get(ex, "") + "\n" + cell.source
        else:
            extra.append(cell.source)
    imports: dict[str, str] = {}
    for code in [*own.values(), *extra]:
        try:
            imports.update(policy.imported_names(ast.parse(code)))
        except SyntaxError:
            pass
    broken: list[str] = []
    for where, code in [*((f"solution of {ex}", c) for ex, c in own.items()),
                        *((f"added cell {i + 1}", c) for i, c in enumerate(extra))]:
        for v in policy.check_code(code, protected=protected, sandbox=sandbox):
            if v.kind == "sandbox":
                broken.append(f"{where}: {v.message}")
    library: dict[str, list[str]] = {}
    for ex, forbidden in rules.items():
        codes = [(f"solution of {ex}", own.get(ex, ""))]
        codes += [(f"added cell {i + 1}", c) for i, c in enumerate(extra)]
        for where, code in codes:
            hits = policy.check_code(code, forbidden=forbidden, sandbox=False,
                                     protected={k: v for k, v in imports.items()})
            library.setdefault(ex, []).extend(f"{where}: {v.message}" for v in hits
                                              if v.kind == "library")
    return broken, {ex: msgs for ex, msgs in library.items() if msgs}


# ----------------------------------------------------------------------------- one submission


@dataclass
class Outcome:
    """How one student's assignment was graded.

    ``status``: ``graded``; or, scoring 0 on every exercise, ``missing`` (no notebook of the
    expected name), ``unreadable`` (empty or not a notebook), ``rejected`` (broke a sandbox
    rule, not run), ``timeout`` (past the whole-submission limit), ``error`` (nbgrader could
    not grade it, e.g. the kernel died). ``notes`` says per exercise why points were lost.
    """

    student: str
    assignment: str
    status: str
    reason: str = ""
    scores: dict[str, tuple[float, float]] = field(default_factory=dict)  # exercise -> (s, max)
    notes: dict[str, str] = field(default_factory=dict)      # exercise -> why points were lost
    forbidden: dict[str, str] = field(default_factory=dict)  # exercise -> library rule broken
    warnings: list[str] = field(default_factory=list)        # nbgrader's, for the instructor
    seconds: float = 0.0

    @property
    def total(self) -> tuple[float, float]:
        return (sum(s for s, _ in self.scores.values()), sum(m for _, m in self.scores.values()))


def _read_submission(path: Path) -> tuple[object | None, str]:
    """``(notebook, "")`` or ``(None, why it cannot be graded)``."""
    size = path.stat().st_size
    if size == 0:
        return None, f"{path.name} is an empty file (0 bytes)"
    try:
        raw = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        return None, f"{path.name} is not a notebook: not valid JSON ({err})"
    if not isinstance(raw, dict) or "cells" not in raw:
        return None, f"{path.name} is not a notebook: JSON without a list of cells"
    try:
        nb = nbformat.reads(json.dumps(raw), as_version=4)
        nbformat.validate(nb)
    except Exception as err:  # nbformat raises several kinds
        first = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        return None, f"{path.name} is not a valid notebook: {first}"
    return nb, ""


_NOISE = ("is not absolute, standardizing it", "Attribute 'checksum' for cell")


def _log_warnings(log: str, limit: int = 20) -> list[str]:
    """nbgrader's WARNING / ERROR lines, without the timestamps, de-duplicated. Checksum
    warnings are left out: :func:`edited_cells` says which locked cells were really edited
    (nbgrader also warns about every hidden-test cell, which the release leaves empty)."""
    out: list[str] = []
    for line in log.splitlines():
        if ("| WARNING]" in line or "| ERROR]" in line) and not any(n in line for n in _NOISE):
            text = line.split("]", 1)[1].strip() if "]" in line else line.strip()
            level = "warning" if "| WARNING]" in line else "error"
            item = f"{level}: {text}"[:300]
            if item not in out and "traceback" not in text.lower():
                out.append(item)
    return out[:limit]


def _failure_reason(log: str) -> str:
    low = log.lower()
    if "deadkernelerror" in low or "kernel died" in low or "kernel has died" in low:
        return ("the kernel died while running the notebook (os._exit, a crash, or out of "
                "memory)")
    if "unresponsivekernelerror" in low or "kernel didn't respond" in low:
        return "the kernel stopped responding (a loop that ignores interrupts?)"
    errors = [w for w in _log_warnings(log) if w.startswith("error:")]
    return ("nbgrader could not grade it: " + errors[-1][7:]) if errors else \
        "nbgrader could not grade it (see the log in the report)"


def _released_source(cell) -> str:
    """What the release shows of a source cell: hidden-test regions removed."""
    lines, hidden = [], False
    for line in cell.source.split("\n"):
        if "BEGIN HIDDEN TESTS" in line:
            hidden = True
        elif "END HIDDEN TESTS" in line:
            hidden = False
        elif not hidden:
            lines.append(line)
    return "\n".join(lines).strip()


def edited_cells(submission_nb, source_nb) -> list[str]:
    """Warnings for the locked cells a student changed or deleted (the grader resets them)."""
    src = {_nbg(c).get("grade_id"): c for c in source_nb.cells
           if _nbg(c).get("locked") and _nbg(c).get("grade_id")}
    seen: dict[str, str] = {}
    for c in submission_nb.cells:
        gid = _nbg(c).get("grade_id")
        if gid in src:
            seen[gid] = c.source.strip()
    out = []
    for gid, cell in src.items():
        if gid not in seen:
            if cell.cell_type == "code":
                out.append(f"locked cell {gid} was deleted; it was put back and run")
        elif seen[gid] != _released_source(cell):
            out.append(f"locked cell {gid} was edited; the original was run instead")
    return out


def _cell_notes(autograded: Path, exercises: list[Exercise], cell_timeout: float
                ) -> dict[str, str]:
    """Per exercise, the first error of its test cells in the graded notebook."""
    notes: dict[str, str] = {}
    try:
        nb = nbformat.read(autograded, as_version=4)
    except Exception:  # a graded notebook nbgrader wrote but we cannot read: no notes
        return notes
    mine = {gid: ex.name for ex in exercises for gid in ex.grade_ids}
    for cell in nb.cells:
        gid = _nbg(cell).get("grade_id")
        if gid not in mine or mine[gid] in notes:
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                if out.get("ename") in ("CellTimeoutError", "KeyboardInterrupt"):
                    notes[mine[gid]] = (f"{gid}: ran past the {cell_timeout:g} s per-cell limit "
                                        f"(an endless loop?)")
                else:
                    msg = str(out.get("evalue", "")).strip().splitlines()
                    notes[mine[gid]] = f"{gid}: {out.get('ename')}" + (
                        f": {msg[0][:150]}" if msg else "")
                break
    return notes


def _time_limit_message(autograded: Path) -> str | None:
    """Why ``grading_hooks.TimedExecute`` stopped running the notebook, or None."""
    try:
        nb = nbformat.read(autograded, as_version=4)
    except Exception:  # unreadable: it did not finish properly
        return "the graded notebook cannot be read"
    for c in nb.cells:
        for out in c.get("outputs", []):
            if out.get("ename") == "SubmissionTimeLimit":  # grading_hooks.TIME_LIMIT_ERROR
                return str(out.get("evalue", ""))
    return None


def _set_zero(db: Path, assignment: str, student: str, grade_ids: set[str]) -> None:
    """Record 0 in the gradebook for these cells (a library rule was broken)."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{db}") as gb:
        sub = gb.find_submission(assignment, student)
        for nb in sub.notebooks:
            for grade in nb.grades:
                if grade.name in grade_ids:
                    grade.manual_score = 0.0
        gb.db.commit()


def _read_scores(db: Path, assignment: str, student: str) -> dict[str, tuple[float, float]]:
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{db}") as gb:
        try:
            sub = gb.find_submission(assignment, student)
        except MissingEntry:
            return {}
        return {g.name: (float(g.score or 0.0), float(g.max_score))
                for nb in sub.notebooks for g in nb.grades}


# ----------------------------------------------------------------------------- a class

_GRADING_CONFIG = '''

# ---- added by lm_course.tooling.grading for this grading folder
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearHiddenTests,
                                    GetGrades, IgnorePattern, LimitOutput, SaveAutoGrades)
from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from lm_course.tooling.grading_hooks import CapOutputs, HiddenTestResults, TimedExecute

c.Execute.timeout = {cell_timeout}
c.TimedExecute.timeout = {cell_timeout}
c.TimedExecute.notebook_timeout = {time_limit}
c.OverwriteCells.add_missing_cells = True
c.CapOutputs.max_chars = {max_output}
c.Autograde.autograde_preprocessors = [TimedExecute, IgnorePattern, ClearMetadataPreprocessor,
                                       LimitOutput, CapOutputs, SaveAutoGrades,
                                       AssignLatePenalties, CheckCellMetadata]
c.GenerateFeedback.preprocessors = [GetGrades, HiddenTestResults, ClearHiddenTests, CapOutputs,
                                    CSSHTMLHeaderPreprocessor]
'''


_STARTUP = 180.0  # seconds allowed on top of the time limit: nbgrader's start, kernel, clean-up


def _reachable_sources(folder: Path, assignment: str) -> list[Path]:
    """``source/<assignment>`` folders a program in ``folder`` finds by walking up."""
    return [p / "source" / assignment for p in [folder, *folder.parents]
            if (p / "source" / assignment).exists()]


class _GradingFolder:
    """A course folder in the temp directory holding one assignment's gradebook, no sources."""

    def __init__(self, course: Path, assignment: str, cell_timeout: float, time_limit: float,
                 max_output: int):
        self.course, self.assignment = course, assignment
        self.root = Path(tempfile.mkdtemp(prefix="lm-grade-")).resolve()
        self.held = Path(tempfile.mkdtemp(prefix="lm-graded-")).resolve()  # graded, set aside
        config = (course / "nbgrader_config.py").read_text()
        config += _GRADING_CONFIG.format(cell_timeout=int(max(1, cell_timeout)),
                                         time_limit=float(time_limit), max_output=int(max_output))
        (self.root / "nbgrader_config.py").write_text(config)
        if (course / "gradebook.db").exists():
            shutil.copy2(course / "gradebook.db", self.root / "gradebook.db")
        shutil.copytree(course / "source" / assignment, self.root / "source" / assignment)
        nbgrader(["generate_assignment", assignment, "--force"], self.root)
        shutil.rmtree(self.root / "source")
        shutil.rmtree(self.root / "release", ignore_errors=True)
        (self.root / "submitted").mkdir()
        leak = _reachable_sources(self.root / "submitted", assignment)
        if leak:
            self.close()
            raise RuntimeError(f"grading folder {self.root} can reach the sources {leak[0]}; "
                               f"set TMPDIR to a folder outside the course")

    def autograde(self, student: str, notebooks: list[Path], time_limit: float
                  ) -> subprocess.CompletedProcess:
        """nbgrader stops running the notebook after ``time_limit`` s of cells; its process
        (and kernel) are killed if it is still alive ``_STARTUP`` s after that."""
        folder = self.root / "submitted" / student / self.assignment
        folder.mkdir(parents=True)
        for nb in notebooks:
            shutil.copyfile(nb, folder / nb.name)
        cmd, env = _nbgrader_cmd(["autograde", self.assignment, f"--student={student}",
                                  "--force"], self.root)
        try:
            return _run_limited(cmd, self.root, env, time_limit + _STARTUP)
        finally:
            shutil.rmtree(self.root / "submitted" / student, ignore_errors=True)

    def set_aside(self, student: str) -> None:
        """Move a graded notebook out of reach of the next student's code."""
        src = self.root / "autograded" / student
        if src.exists():
            shutil.move(str(src), str(self.held / student))

    def feedback(self, students: list[str], time_limit: float) -> list[str]:
        """Feedback HTML for the graded students, copied back with their graded notebooks."""
        problems: list[str] = []
        graded = [s for s in students if (self.held / s).exists()]
        for s in graded:
            shutil.move(str(self.held / s), str(self.root / "autograded" / s))
        if graded:
            cmd, env = _nbgrader_cmd(["generate_feedback", self.assignment, "--force"], self.root)
            proc = _run_limited(cmd, self.root, env, time_limit)
            if proc.returncode != 0:
                problems += [f"feedback: {w}" for w in _log_warnings(proc.stdout + proc.stderr)]
        for kind in ("autograded", "feedback"):
            for s in graded:
                src = self.root / kind / s / self.assignment
                if src.exists():
                    dest = self.course / kind / s / self.assignment
                    shutil.rmtree(dest, ignore_errors=True)
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copytree(src, dest)
        return problems

    def save_gradebook(self) -> None:
        tmp = self.course / ".gradebook.db.tmp"
        shutil.copy2(self.root / "gradebook.db", tmp)
        os.replace(tmp, self.course / "gradebook.db")

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.rmtree(self.held, ignore_errors=True)


def _grade_one(folder: _GradingFolder, student: str, sources: dict[str, object],
               time_limit: float, cell_timeout: float, sandbox: bool = True) -> Outcome:
    course, assignment = folder.course, folder.assignment
    exercises = [e for name, nb in sources.items() for e in exercise_table(nb, name)]
    out = Outcome(student, assignment, "graded",
                  scores={e.name: (0.0, e.max_score) for e in exercises})
    where = course / "submitted" / student / assignment
    paths, broken, library = [], [], {}
    for name, source_nb in sources.items():
        path = where / name
        if not path.is_file():
            others = sorted(p.name for p in where.glob("*.ipynb"))
            out.status = "missing"
            out.reason = (f"no {name} in submitted/{student}/{assignment}/"
                          + (f" (found {', '.join(others)}: the notebook must keep its name)"
                             if others else ""))
            return out
        nb, why = _read_submission(path)
        if nb is None:
            out.status, out.reason = "unreadable", why
            return out
        box, lib = policy_violations(nb, source_nb, sandbox=sandbox)
        out.warnings += edited_cells(nb, source_nb)
        broken += box
        library.update(lib)
        paths.append(path)
    if broken:
        out.status = "rejected"
        out.reason = "not run, it breaks the rules for solutions: " + "; ".join(broken[:3]) + (
            f" (and {len(broken) - 3} more)" if len(broken) > 3 else "")
        return out

    proc = folder.autograde(student, paths, time_limit)
    log = proc.stdout + proc.stderr
    out.warnings += _log_warnings(log)
    graded = [folder.root / "autograded" / student / assignment / p.name for p in paths]
    if proc.returncode == -9:
        out.status = "timeout"
        out.reason = (f"killed: nbgrader was still running {time_limit + _STARTUP:g} s after "
                      f"it started")
        return out
    if proc.returncode != 0 or not all(g.exists() for g in graded):
        out.status, out.reason = "error", _failure_reason(log)
        shutil.rmtree(folder.root / "autograded" / student, ignore_errors=True)
        return out

    db = folder.root / "gradebook.db"
    if library:
        zero = {gid for e in exercises if e.name in library for gid in e.grade_ids}
        _set_zero(db, assignment, student, zero)
        for ex, msgs in library.items():
            out.forbidden[ex] = "; ".join(msgs[:2])
    cells = _read_scores(db, assignment, student)
    for e in exercises:
        got = [cells[g] for g in e.grade_ids if g in cells]
        out.scores[e.name] = (sum(s for s, _ in got), e.max_score)
    for g in graded:
        out.notes.update(_cell_notes(g, exercises, cell_timeout))
        stopped = _time_limit_message(g)
        if stopped is not None:
            out.status = "timeout"
            out.reason = f"stopped ({stopped}); it scores 0"
    if out.status == "timeout":  # 0 in the gradebook too, like the other ungradable ones
        _set_zero(db, assignment, student, {gid for e in exercises for gid in e.grade_ids})
    folder.set_aside(student)
    return out


def _fallback_feedback(course: Path, out: Outcome, notebooks: list[str]) -> None:
    """A one-paragraph feedback page for a submission nbgrader could not grade."""
    for name in notebooks:
        page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(name)}"
                f"</title></head><body><h1>{html.escape(out.assignment)}: not graded</h1>"
                f"<p>Score: 0 / {out.total[1]:g}.</p><p>{html.escape(out.reason)}</p></body>"
                f"</html>\n")
        dest = course / "feedback" / out.student / out.assignment
        dest.mkdir(parents=True, exist_ok=True)
        write_text_atomic(dest / (Path(name).stem + ".html"), page)


def grade_class(course_dir: str | os.PathLike | None = None, time_limit: float = 300.0,
                cell_timeout: float = 60.0, max_output: int = 10_000,
                progress=None, sandbox: bool = True) -> list[Outcome]:
    """Grade every submitted student x assignment on its own; one :class:`Outcome` each.

    ``time_limit``: seconds for one whole submission; ``cell_timeout``: seconds per cell;
    ``max_output``: characters kept per output. ``progress(outcome)`` is called after each.
    ``sandbox=False`` turns the sandbox rules off (to test the other defences alone).
    """
    check_float("time_limit", time_limit, low=1.0)
    check_float("cell_timeout", cell_timeout, low=1.0)
    check_float("max_output", max_output, low=100)
    course = _course(course_dir)
    todo = submitted(course)
    if not todo:
        raise FileNotFoundError(f"nothing to grade: put submissions in "
                                f"{course / 'submitted'}/<student>/<assignment>/")
    known = assignments(course)
    outcomes: list[Outcome] = []
    for assignment, students in todo.items():
        if assignment not in known:
            for student in students:
                outcomes.append(Outcome(student, assignment, "unknown", (
                    f"submitted/{student}/{assignment} is not an assignment; expected one of "
                    f"{known}")))
            continue
        sources = {p.name: nbformat.read(p, as_version=4)
                   for p in sorted((course / "source" / assignment).glob("*.ipynb"))}
        try:
            folder = _GradingFolder(course, assignment, cell_timeout, time_limit, max_output)
        except RuntimeError as err:  # the assignment itself cannot be generated
            first = str(err).strip().splitlines()[0][:300]
            for student in students:
                outcomes.append(Outcome(student, assignment, "error",
                                        f"the assignment could not be prepared: {first}"))
            continue
        try:
            done: list[Outcome] = []
            for student in students:
                start = time.perf_counter()
                out = _grade_one(folder, student, sources, time_limit, cell_timeout, sandbox)
                out.seconds = time.perf_counter() - start
                done.append(out)
                if progress is not None:
                    progress(out)
            problems = folder.feedback([o.student for o in done if o.status == "graded"],
                                       time_limit=max(time_limit, 120.0))
            for o in done:
                if o.status == "graded":
                    o.warnings += problems
                else:
                    _fallback_feedback(course, o, list(sources))
            folder.save_gradebook()
        finally:
            folder.close()
        outcomes += done
    return outcomes


def _rows(outcomes: list[Outcome]) -> list[list]:
    rows = []
    for o in sorted(outcomes, key=lambda o: (o.assignment, o.student)):
        if not o.scores:
            rows.append([o.student, o.assignment, "", 0.0, 0.0, o.status, o.reason])
        for ex, (score, max_score) in o.scores.items():
            if o.status != "graded":
                rows.append([o.student, o.assignment, ex, 0.0, max_score, o.status, o.reason])
            elif ex in o.forbidden:
                rows.append([o.student, o.assignment, ex, 0.0, max_score, "forbidden",
                             o.forbidden[ex]])
            else:
                rows.append([o.student, o.assignment, ex, score, max_score, "graded",
                             o.notes.get(ex, "") if score < max_score else ""])
    return rows


def write_outcomes_csv(path: str | os.PathLike, outcomes: list[Outcome]) -> Path:
    """``grades.csv``: one row per student x assignment x exercise, with status and reason."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf)
    writer.writerow(["student", "assignment", "exercise", "score", "max_score", "status",
                     "reason"])
    writer.writerows(_rows(outcomes))
    return write_text_atomic(Path(path), buf.getvalue(), newline="")


def report(outcomes: list[Outcome], seconds: float | None = None) -> str:
    """The instructor's summary: one line per submission, then reasons and warnings."""
    bad = [o for o in outcomes if o.status != "graded"]
    lines = [f"graded {len(outcomes) - len(bad)} of {len(outcomes)} submissions"
             + (f" in {seconds:.0f} s" if seconds is not None else "")
             + (f"; {len(bad)} scored 0 because they could not be graded" if bad else "")]
    lines.append(f"{'student':16} {'assignment':22} {'score':>11}  {'status':10} "
                 f"{'time':>6}  reason")
    for o in sorted(outcomes, key=lambda o: (o.assignment, o.student)):
        s, m = o.total
        if o.status != "graded":
            s = 0.0
        reason = o.reason
        if o.status == "graded":
            lost = [f"{ex} 0 (forbidden: {why})" for ex, why in o.forbidden.items()]
            lost += [f"{ex}: {n}" for ex, n in o.notes.items()
                     if ex not in o.forbidden and o.scores[ex][0] < o.scores[ex][1]]
            reason = "; ".join(lost)
        lines.append(f"{o.student:16} {o.assignment:22} {s:5g} / {m:<4g}  {o.status:10} "
                     f"{o.seconds:4.0f} s  {reason}")
    warned = [o for o in outcomes if o.warnings]
    if warned:
        lines.append("")
        lines.append("warnings (edited or deleted locked cells are reset from the source; the "
                     "rest is nbgrader's log):")
        for o in warned:
            for w in o.warnings:
                lines.append(f"  {o.student}/{o.assignment}: {w}")
    return "\n".join(lines) + "\n"


def grade_all(course_dir: str | os.PathLike | None = None, time_limit: float = 300.0,
              cell_timeout: float = 60.0, max_output: int = 10_000, progress=None,
              sandbox: bool = True) -> Path:
    """Grade the class (:func:`grade_class`), write ``grades.csv`` and ``grading-report.txt``
    in the course folder; return the CSV's path."""
    course = _course(course_dir)
    start = time.perf_counter()
    outcomes = grade_class(course, time_limit=time_limit, cell_timeout=cell_timeout,
                           max_output=max_output, progress=progress, sandbox=sandbox)
    write_text_atomic(course / "grading-report.txt",
                      report(outcomes, time.perf_counter() - start))
    return write_outcomes_csv(course / "grades.csv", outcomes)
