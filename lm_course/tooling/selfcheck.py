"""``lm-course check NN``: a learner's own run of an exercise notebook's visible tests.

It executes a copy of the notebook (your file is not changed), then prints one line per
exercise: whether its visible test cell passed, the points that cell is worth, and how many
more points the hidden tests add when the notebook is graded. It also reads your code the way
the grader does (:mod:`lm_course.tooling.policy`) and warns about anything that would score 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from lm_course.tooling import grading
from lm_course.utils import check_float

HIDDEN_MARK = "BEGIN HIDDEN TESTS"


@dataclass
class ExerciseCheck:
    """One exercise: its visible tests' result and points, and the hidden tests' points."""

    name: str
    passed: bool
    points: float          # of the visible test cells
    hidden_points: float   # checked only at grading
    error: str = ""        # the first error of a visible test cell
    policy: list[str] = field(default_factory=list)  # rules its code breaks


@dataclass
class CheckResult:
    notebook: Path
    exercises: list[ExerciseCheck]
    sandbox: list[str]     # rules that would stop the whole notebook from being graded

    @property
    def all_passed(self) -> bool:
        return not self.sandbox and all(e.passed and not e.policy for e in self.exercises)


def find_assignment(chapter: str, course: Path) -> str:
    """The assignment a chapter number (``"03"``) or name (``"03_lstm"``) refers to."""
    if not isinstance(chapter, str) or not chapter.strip():
        raise ValueError(f"chapter={chapter!r} is not a chapter; expected a number such as '03'")
    names = sorted({p.name for kind in ("source", "release") if (course / kind).is_dir()
                    for p in (course / kind).iterdir() if p.is_dir()
                    and not p.name.startswith(".")})
    hits = [n for n in names if n == chapter or n.split("_")[0] == chapter]
    if len(hits) != 1:
        raise ValueError(f"chapter={chapter!r} matches {len(hits)} assignments; expected one "
                         f"of {names}")
    return hits[0]


def check(chapter: str, notebook: str | Path | None = None, course_dir=None,
          timeout: float = 60.0) -> CheckResult:
    """Execute the visible tests of ``notebook`` (default: the released notebook)."""
    from nbclient import NotebookClient

    check_float("timeout", timeout, low=1.0)
    course = grading._course(course_dir)
    assignment = find_assignment(chapter, course)
    if notebook is None:
        folder = course / "release" / assignment
        found = sorted(folder.glob("*.ipynb")) if folder.is_dir() else []
        if len(found) != 1:
            raise FileNotFoundError(f"{folder} does not hold one notebook ({len(found)} found): "
                                    f"run `lm-course release` first, or pass --notebook with "
                                    f"your copy of the exercises")
        path = found[0]
    else:
        path = Path(notebook)
        if not path.is_file():
            raise FileNotFoundError(f"notebook={str(path)!r} does not exist")
    nb, why = grading._read_submission(path)
    if nb is None:
        raise ValueError(why)
    # the rules and the points come from the notebook the learner was given
    reference = path if notebook is None else course / "release" / assignment / path.name
    rules_nb = nbformat.read(reference, as_version=4) if reference.exists() else nb
    sandbox, library = grading.policy_violations(nb, rules_nb)
    exercises = grading.exercise_table(rules_nb)

    run = nbformat.from_dict(nb)
    client = NotebookClient(run, timeout=int(timeout), allow_errors=True,
                            kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent.resolve())}})
    if not sandbox:
        client.execute()
    results = []
    cells = {grading._nbg(c).get("grade_id"): c for c in run.cells}
    hidden_ids = {grading._nbg(c).get("grade_id") for c in rules_nb.cells
                  if HIDDEN_MARK in c.source or not c.source.strip()}
    for ex in exercises:
        visible = [g for g in ex.grade_ids if g not in hidden_ids]
        points = {grading._nbg(c).get("grade_id"): float(grading._nbg(c).get("points", 0))
                  for c in rules_nb.cells if grading._nbg(c).get("grade_id") in ex.grade_ids}
        error = ""
        for gid in visible:
            cell = cells.get(gid)
            if cell is None:
                error = error or f"{gid}: the test cell is missing from your notebook"
                continue
            if sandbox:
                error = error or "not run"
                continue
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error" and not error:
                    msg = str(out.get("evalue", "")).strip().splitlines()
                    error = f"{out.get('ename')}" + (f": {msg[0][:150]}" if msg else "")
            if not cell.get("outputs") and cell.get("execution_count") is None and not error:
                error = f"{gid}: did not run"
        results.append(ExerciseCheck(
            ex.name, passed=not error, points=sum(points.get(g, 0.0) for g in visible),
            hidden_points=sum(points.get(g, 0.0) for g in ex.grade_ids if g in hidden_ids),
            error=error, policy=library.get(ex.name, [])))
    return CheckResult(path, results, sandbox)


def summary(result: CheckResult) -> str:
    """The table a learner reads."""
    lines = [f"{result.notebook}: visible tests", ""]
    width = max([len(e.name) for e in result.exercises] + [8])
    lines.append(f"{'exercise':{width}}  {'visible tests':16}  hidden tests (at grading)")
    for e in result.exercises:
        got = e.points if e.passed and not e.policy else 0.0
        state = "passed" if e.passed else "FAILED"
        lines.append(f"{e.name:{width}}  {state:6} {got:g}/{e.points:g} pts{'':3}  "
                     f"{e.hidden_points:g} more pts")
        if e.error:
            lines.append(f"{'':{width}}    {e.error}")
        for p in e.policy:
            lines.append(f"{'':{width}}    scores 0 when graded: {p}")
    passed = [e for e in result.exercises if e.passed and not e.policy]
    lines.append("")
    for s in result.sandbox:
        lines.append(f"not run, and would score 0 when graded: {s}")
    vis = sum(e.points for e in result.exercises)
    hid = sum(e.hidden_points for e in result.exercises)
    lines.append(f"{len(passed)} of {len(result.exercises)} exercises pass their visible tests: "
                 f"{sum(e.points for e in passed):g}/{vis:g} points; the hidden tests are worth "
                 f"{hid:g} more when graded (passing the visible tests is necessary, not "
                 f"sufficient).")
    return "\n".join(lines) + "\n"
