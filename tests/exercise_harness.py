"""Grade an assignment's notebooks with nbgrader itself, the way an instructor would.

``check_assignment(name, MISTAKES)`` copies ``exercises/source/<name>`` into a temporary
nbgrader course, releases it, and autogrades in one run: the source notebook (must score
full marks), the released notebook (must score zero) and one submission per key of
``MISTAKES`` - a fake student whose ``<ex>-solution`` cells are replaced by realistic wrong
code (each must lose points on that exercise, and only there). Two more students get only
half the exercises wrong, alternately (the first student's mistakes on exercises 1, 3, ...,
the second's on 2, 4, ...): every exercise is then graded once with the others wrong, so a
mistake that costs points on a *different* exercise is caught. It also checks that the
release leaks no solution code, no hidden-test code and no outputs, and that every solution
cell declares what its exercise forbids and the reference solutions break no rule of
:mod:`lm_course.tooling.policy`. With ``spec=``, whole classes of wrong solution are made from the
reference (inputs changed in place, tensors returned for floats, results cut off from the
autograd graph: ``SPEC_WRAPPERS``) and each
listed exercise must catch them. "detached" is the gradient class: the tests of an exercise
that builds something trainable compare the gradients reaching its inputs and parameters with
torch's built-in. The "initial values" class (a mistake hidden while the parameters sit at their
initial values: zero biases, LayerNorm weight 1 and bias 0) cannot be made mechanically from the
reference; test files add it as a hand-written student ``init_values`` in ``MISTAKES``.

All fake students of an assignment are graded in one nbgrader run (``grading.autograde``).
"""

from __future__ import annotations

import atexit
import functools
import json
import re
import shutil
import tempfile
from pathlib import Path

import nbformat

from lm_course.tooling import grading

ROOT = Path(__file__).resolve().parent.parent
COURSE = ROOT / "exercises"
_REGION = re.compile(r"### BEGIN (SOLUTION|HIDDEN TESTS)\n(.*?)### END \1", re.S)


def _grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _notebook(folder: Path) -> Path:
    nbs = sorted(folder.glob("*.ipynb"))
    if len(nbs) != 1:
        raise AssertionError(f"{folder} must hold exactly one notebook, found {len(nbs)}")
    return nbs[0]


def exercises_of(nb) -> list[str]:
    """Exercise names, from the ``<ex>-solution`` grade ids, in notebook order."""
    return [_grade_id(c)[: -len("-solution")] for c in nb.cells
            if (_grade_id(c) or "").endswith("-solution")]


@functools.cache
def _grade(assignment: str, mistakes_json: str) -> dict:
    mistakes: dict[str, dict[str, str]] = json.loads(mistakes_json)
    tmp = Path(tempfile.mkdtemp(prefix=f"grade-{assignment}-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    shutil.copy(COURSE / "nbgrader_config.py", tmp)
    shutil.copytree(COURSE / "source" / assignment, tmp / "source" / assignment)
    grading.release(tmp, [assignment])
    src_path = _notebook(tmp / "source" / assignment)
    rel_path = tmp / "release" / assignment / src_path.name
    source = nbformat.read(src_path, as_version=4)

    def submit(student: str, nb) -> None:
        folder = tmp / "submitted" / student / assignment
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / src_path.name)

    submit("source", source)
    submit("release", nbformat.read(rel_path, as_version=4))
    for student, wrong in mistakes.items():
        nb = nbformat.read(src_path, as_version=4)
        ids = {_grade_id(c): c for c in nb.cells}
        for ex, code in wrong.items():
            if f"{ex}-solution" not in ids:
                raise AssertionError(f"MISTAKES[{student!r}] names exercise {ex!r}, but the "
                                     f"notebook has no '{ex}-solution' cell")
            ids[f"{ex}-solution"].source = code
        submit(student, nb)
    grading.autograde(assignment, tmp)
    return {"scores": grading.scores(assignment, tmp), "source": source,
            "release": nbformat.read(rel_path, as_version=4), "dir": str(tmp)}


def grade_assignment(assignment: str, mistakes: dict[str, dict[str, str]]) -> dict:
    """Run (once per session, cached) the grading of ``assignment``; see the module doc."""
    return _grade(assignment, json.dumps(mistakes, sort_keys=True))


def with_half_wrong_students(exercises: list[str], mistakes: dict[str, dict[str, str]]
                             ) -> dict[str, dict[str, str]]:
    """``mistakes`` plus ``half_odd`` (the first student's mistakes on exercises 1, 3, ...) and
    ``half_even`` (the second student's, or the first's, on exercises 2, 4, ...)."""
    students = list(mistakes.values())
    first, second = students[0], students[min(1, len(students) - 1)]
    odd = {ex: first[ex] for ex in exercises[0::2] if ex in first}
    even = {ex: second[ex] for ex in exercises[1::2] if ex in second}
    return {**mistakes, "half_odd": odd, "half_even": even}


# Wrong solutions of a whole class, made from the reference: the right answer, but a spec
# broken in a way equal values hide. ``_spec_wrap`` wraps every function the solution cell
# defines; the harness checks the exercise's tests notice.
SPEC_WRAPPERS = {
    # computes the right answer, then changes its inputs in place (``logits.masked_fill_``,
    # ``merges.append``, clipping the caller's gradients): tests must check inputs unchanged
    "mutates_inputs": '''
def _spec_wrap(_f):
    def _wrapped(*args, **kwargs):
        _out = _f(*args, **kwargs)
        for _a in [*args, *kwargs.values()]:
            _items = _a if isinstance(_a, (list, tuple)) else [_a]
            for _t in _items:
                if isinstance(_t, torch.Tensor) and _t.numel() and not _t.requires_grad:
                    if _t.dtype == torch.bool:
                        _t.logical_not_()
                    else:
                        _t.add_(1)
            if isinstance(_a, list) and _a and not isinstance(_a[0], torch.Tensor):
                _a.append(_a[0])
            elif isinstance(_a, dict) and _a:
                _a.pop(next(iter(_a)))
        return _out
    return _wrapped
''',
    # returns 0-dim tensors where Python floats are promised (``torch.cos`` for ``math.cos``):
    # equal values, so only a type check catches it
    "tensor_for_float": '''
def _spec_wrap(_f):
    def _tensor(v):
        return torch.tensor(v) if isinstance(v, float) else v

    def _wrapped(*args, **kwargs):
        _out = _f(*args, **kwargs)
        if isinstance(_out, tuple):
            return tuple(_tensor(v) for v in _out)
        if isinstance(_out, list):
            return [tuple(_tensor(x) for x in v) if isinstance(v, tuple) else _tensor(v)
                    for v in _out]
        return _tensor(_out)
    return _wrapped
''',
    # right values cut off from the graph (``torch.tensor(x)``, ``.item()``, ``no_grad``): only
    # a test that the gradient reaches the inputs it was given catches it
    "detached": '''
def _spec_wrap(_f):
    def _cut(v):
        return v.detach() if isinstance(v, torch.Tensor) else v

    def _wrapped(*args, **kwargs):
        _out = _f(*args, **kwargs)
        if isinstance(_out, tuple):
            return tuple(_cut(v) for v in _out)
        return _cut(_out)
    return _wrapped
''',
}


def spec_mistakes(source, spec: dict[str, list[str]]) -> dict[str, dict[str, str]]:
    """One fake student per class of ``spec`` (``{class: [exercises]}``, classes from
    ``SPEC_WRAPPERS``): each listed exercise's reference solution, wrapped."""
    import ast

    out: dict[str, dict[str, str]] = {}
    cells = {_grade_id(c): c for c in source.cells}
    for kind, exercises in spec.items():
        if kind not in SPEC_WRAPPERS:
            raise AssertionError(f"spec class {kind!r} is not one of {sorted(SPEC_WRAPPERS)}")
        wrong = {}
        for ex in exercises:
            code = "\n".join(line for line in cells[f"{ex}-solution"].source.splitlines()
                             if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))
            names = [n.name for n in ast.parse(code).body if isinstance(n, ast.FunctionDef)]
            wrong[ex] = (code + "\n" + SPEC_WRAPPERS[kind] + "\n"
                         + "\n".join(f"{n} = _spec_wrap({n})" for n in names) + "\n")
        out[f"spec_{kind}"] = wrong
    return out


def _exercise_score(cells: dict[str, tuple[float, float]], ex: str) -> tuple[float, float]:
    got = [v for k, v in cells.items() if k.rsplit("-", 1)[0] == ex]
    return sum(s for s, _ in got), sum(m for _, m in got)


def check_assignment(assignment: str, mistakes: dict[str, dict[str, str]],
                     min_exercises: int = 3, min_mistakes: int = 2,
                     spec: dict[str, list[str]] | None = None) -> dict:
    """Assert the whole contract of an assignment (see the module doc); return the report.

    ``spec``: ``{class: [exercises]}``, whole classes of wrong solution made from the reference
    (see ``SPEC_WRAPPERS``) that each listed exercise's tests must catch.
    """
    source_nb = nbformat.read(_notebook(COURSE / "source" / assignment), as_version=4)
    exs = exercises_of(source_nb)
    generated = spec_mistakes(source_nb, spec or {})
    everyone = with_half_wrong_students(exs, mistakes)
    report = grade_assignment(assignment, {**everyone, **generated})
    source, release, scores = report["source"], report["release"], report["scores"]
    assert len(exs) >= min_exercises, f"{assignment}: {len(exs)} exercises, want >= {min_exercises}"
    ids = [_grade_id(c) for c in source.cells]
    for ex in exs:
        for role in ("visible", "hidden"):
            assert f"{ex}-{role}" in ids, f"{assignment}: exercise {ex!r} has no '{ex}-{role}' cell"

    # the reference solutions keep the rules the grader checks before it runs a submission
    # (lm_course.tooling.policy): no sandbox rule broken, no library function the exercise forbids
    sandbox, library = grading.policy_violations(source, source)
    assert not sandbox and not library, f"{assignment}: the solutions break the rules: " \
                                        f"{sandbox} {library}"
    for ex in exs:
        cell = next(c for c in source.cells if _grade_id(c) == f"{ex}-solution")
        assert "forbidden" in cell.metadata.get("lm_course", {}), \
            f"{assignment}: {ex}-solution has no metadata lm_course.forbidden (a list, maybe empty)"

    # the source scores full marks, the release zero
    for gid, (score, max_score) in scores["source"].items():
        assert max_score > 0 and score == max_score, \
            f"{assignment}: solution scores {score}/{max_score} on {gid}"
    release_total = sum(s for s, _ in scores["release"].values())
    assert release_total == 0, f"{assignment}: the released notebook scores {release_total}, not 0"

    # the release leaks nothing
    src_text = "\n".join(c.source for c in source.cells)
    rel_text = "\n".join(c.source for c in release.cells)
    outside = _REGION.sub("", src_text)
    assert "### BEGIN" not in rel_text, f"{assignment}: markers left in the release"
    for cell in release.cells:
        assert not cell.get("outputs"), f"{assignment}: the release has stored outputs"
    for _, body in _REGION.findall(src_text):
        for line in body.splitlines():
            line = line.strip()
            if len(line) >= 12 and line not in outside:
                assert line not in rel_text, f"{assignment}: the release leaks {line!r}"

    # every mistake loses points on its exercise, and only there
    covered = dict.fromkeys(exs, 0)
    for student, wrong in {**everyone, **generated}.items():
        for ex in exs:
            score, max_score = _exercise_score(scores[student], ex)
            if ex in wrong:
                covered[ex] += student in mistakes  # the half-wrong students add no variety
                assert score < max_score, (f"{assignment}: the wrong solution {student}/{ex} "
                                           f"still scores {score}/{max_score}")
            else:
                assert score == max_score, (f"{assignment}: {student}'s mistakes elsewhere cost "
                                            f"points on {ex} ({score}/{max_score}): exercises "
                                            f"must be independent")
    for ex, n in covered.items():
        assert n >= min_mistakes, f"{assignment}: exercise {ex!r} has {n} wrong solutions " \
                                  f"in MISTAKES, want >= {min_mistakes}"
    return report
