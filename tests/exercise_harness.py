"""Grade an assignment's notebooks with nbgrader itself, the way an instructor would.

``check_assignment(name, MISTAKES)`` copies ``exercises/source/<name>`` into a temporary
nbgrader course, releases it, and autogrades in one run: the source notebook (must score
full marks), the released notebook (must score zero) and one submission per key of
``MISTAKES`` - a fake student whose ``<ex>-solution`` cells are replaced by realistic wrong
code (each must lose points on that exercise, and only there). Every exercise is also graded
right at least once in a submission where other exercises are wrong (``right_elsewhere``), so a
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
reference, nor can the other classes of test input that hide a mistake (``INPUT_CLASSES``):
test files add them as hand-written students in ``MISTAKES``.

Every test file declares an ``AUDIT``: for every exercise and every class of ``INPUT_CLASSES``
and ``SPEC_WRAPPERS``, either the fake student that makes that class of mistake on that exercise
(a key of ``MISTAKES``; ``"spec"`` for a spec class made from the reference) or ``"n/a: why"``
when the class cannot occur there. ``check_assignment`` refuses a missing or unknown entry, so
an exercise cannot be added without being audited; ``python tests/exercise_harness.py`` prints
the audit of every assignment as a table.

All fake students of an assignment are graded in one nbgrader run (``grading.autograde``), their
wrong solutions packed into as few submissions as possible (``pack_students``).
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


# Classes of test input under which a wrong solution gives the right numbers (issue 13). A test
# built only from such inputs cannot fail for that mistake; each class is audited per exercise
# (``AUDIT`` in every test file) with a hand-written wrong solution, or "n/a: why".
INPUT_CLASSES = {
    "initial_values": "parameters or state at their initial values (zero biases, LayerNorm "
                      "weight 1 and bias 0, optimiser moments 0 at step 1) hide a missing or "
                      "misplaced term",
    "size_one_axis": "an axis of size one (one negative sample, one head, one beam, one "
                     "sequence, n = 1) hides a reduction or permutation over the wrong axis",
    "counts_at_least_one": "counts that are all >= 1 (every pair seen, no n-gram repeated, no "
                           "empty row) hide a wrong zero-count or clipping branch",
    "odd_item_last": "the odd item (unknown symbol, end token, span, short sentence, partial "
                     "window) always in the same place, last, hides an off-by-one or an index -1",
    "excluded_lowest": "excluded candidates that already score lowest (all scores positive, "
                       "banned items unlikely anyway) hide excluding by 0 or by a finite "
                       "penalty instead of removing them",
}


def check_audit(assignment: str, exercises: list[str], mistakes: dict[str, dict[str, str]],
                spec: dict[str, list[str]], audit: dict[str, dict[str, str]]) -> None:
    """Every exercise audited for every class: a fake student that makes that mistake there
    (caught by the grading), ``"spec"`` for a class in ``spec``, or ``"n/a: <why>"``."""
    missing = sorted(set(exercises) - set(audit))
    extra = sorted(set(audit) - set(exercises))
    assert not missing and not extra, (f"{assignment}: AUDIT must list exactly the exercises "
                                       f"{exercises}; missing {missing}, unknown {extra}")
    for ex in exercises:
        entry = audit[ex]
        unknown = sorted(set(entry) - set(AUDIT_CLASSES))
        assert not unknown, f"{assignment}: AUDIT[{ex!r}] names unknown classes {unknown}"
        for cls in AUDIT_CLASSES:
            value = entry.get(cls)
            where = f"{assignment}: AUDIT[{ex!r}][{cls!r}]"
            assert value is not None, f"{where} is missing (a student, 'spec' or 'n/a: why')"
            if value.startswith("n/a:"):
                assert len(value[4:].strip()) >= 10, f"{where}: say why it cannot occur"
                assert ex not in spec.get(cls, []), f"{where} says n/a, but SPEC lists it"
            elif value == "spec":
                assert cls in SPEC_WRAPPERS and ex in spec.get(cls, []), \
                    f"{where} is 'spec', but SPEC[{cls!r}] does not list {ex!r}"
            else:
                assert ex in mistakes.get(value, {}), \
                    f"{where} names {value!r}, which is not a student with a mistake on {ex!r}"


def audit_rows(assignment: str, audit: dict[str, dict[str, str]]) -> list[list[str]]:
    """One table row per exercise: the student (or 'spec', or 'n/a') per class."""
    return [[assignment, ex, *("n/a" if audit[ex][c].startswith("n/a:") else audit[ex][c]
                               for c in AUDIT_CLASSES)] for ex in audit]


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


# every class an exercise's AUDIT entry must name
AUDIT_CLASSES = [*INPUT_CLASSES, *SPEC_WRAPPERS]


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


def pack_students(students: dict[str, dict[str, str]]) -> dict[str, dict[str, tuple[str, str]]]:
    """The submissions to grade: ``{submission: {exercise: (student, code)}}``.

    Every kernel start costs seconds, so the fake students' wrong solutions are packed into as
    few submissions as possible: each submission holds at most one wrong solution per
    exercise, since exercises are scored on their own (the check that a mistake costs points
    only on its own exercise is what makes that safe, and it still runs per submission).
    """
    packed: list[dict[str, tuple[str, str]]] = []
    for student, wrong in students.items():
        for ex, code in wrong.items():
            room = next((sub for sub in packed if ex not in sub), None)
            if room is None:
                room = {}
                packed.append(room)
            room[ex] = (student, code)
    return {f"pack_{i + 1}": sub for i, sub in enumerate(packed)}


def right_elsewhere(exercises: list[str], packed: dict[str, dict[str, tuple[str, str]]],
                    students: dict[str, dict[str, str]]
                    ) -> dict[str, dict[str, tuple[str, str]]]:
    """The extra submissions that grade every exercise right at least once while another
    exercise is wrong: one with the exercises that are wrong in every packed submission right
    and the others wrong; two halves (odd and even exercises wrong) when that is all of them."""
    def wrong(exs: list[str]) -> dict[str, tuple[str, str]]:  # the first mistake on each
        return {ex: next((st, w[ex]) for st, w in students.items() if ex in w) for ex in exs
                if any(ex in w for w in students.values())}

    always = [ex for ex in exercises if all(ex in sub for sub in packed.values())]
    if not always:
        return {}
    rest = [ex for ex in exercises if ex not in always]
    if others := wrong(rest):
        return {"others_wrong": others}
    return {"odd_wrong": wrong(exercises[0::2]), "even_wrong": wrong(exercises[1::2])}


def _exercise_score(cells: dict[str, tuple[float, float]], ex: str) -> tuple[float, float]:
    got = [v for k, v in cells.items() if k.rsplit("-", 1)[0] == ex]
    return sum(s for s, _ in got), sum(m for _, m in got)


def check_assignment(assignment: str, mistakes: dict[str, dict[str, str]],
                     min_exercises: int = 3, min_mistakes: int = 2,
                     spec: dict[str, list[str]] | None = None,
                     audit: dict[str, dict[str, str]] | None = None) -> dict:
    """Assert the whole contract of an assignment (see the module doc); return the report.

    ``spec``: ``{class: [exercises]}``, whole classes of wrong solution made from the reference
    (see ``SPEC_WRAPPERS``) that each listed exercise's tests must catch. ``audit``: see
    ``check_audit`` (required).
    """
    source_nb = nbformat.read(_notebook(COURSE / "source" / assignment), as_version=4)
    exs = exercises_of(source_nb)
    assert audit is not None, f"{assignment}: the test file declares no AUDIT"
    check_audit(assignment, exs, mistakes, spec or {}, audit)
    generated = spec_mistakes(source_nb, spec or {})
    everyone = {**mistakes, **generated}
    packed = pack_students(everyone)
    packed.update(right_elsewhere(exs, packed, everyone))
    report = grade_assignment(assignment, {sub: {ex: code for ex, (_, code) in items.items()}
                                           for sub, items in packed.items()})
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

    # every mistake loses points on its exercise, and only there (checked per submission:
    # a submission packs several students' mistakes, at most one per exercise)
    for sub, items in packed.items():
        for ex in exs:
            score, max_score = _exercise_score(scores[sub], ex)
            if ex in items:
                assert score < max_score, (f"{assignment}: the wrong solution {items[ex][0]}/{ex} "
                                           f"still scores {score}/{max_score} (submission {sub})")
            else:
                others = ", ".join(f"{st}/{e}" for e, (st, _) in items.items())
                assert score == max_score, (f"{assignment}: the mistakes {others} (submission "
                                            f"{sub}) cost points on {ex} ({score}/{max_score}): "
                                            f"exercises must be independent")
    covered = {ex: sum(ex in wrong for wrong in mistakes.values()) for ex in exs}
    for ex, n in covered.items():
        assert n >= min_mistakes, f"{assignment}: exercise {ex!r} has {n} wrong solutions " \
                                  f"in MISTAKES, want >= {min_mistakes}"
    REPORTS[assignment] = {**report, "packed": packed, "exercises": exs}
    return REPORTS[assignment]


REPORTS: dict[str, dict] = {}  # the last check_assignment report of each assignment


def score_rows(report: dict) -> list[list[str]]:
    """Per exercise: its points, the reference's, the release's, and each wrong solution's."""
    scores, rows = report["scores"], []
    for ex in report["exercises"]:
        got, points = _exercise_score(scores["source"], ex)
        wrong = [f"{items[ex][0]} {_exercise_score(scores[sub], ex)[0]:g}"
                 for sub, items in report["packed"].items()
                 if ex in items and sub.startswith("pack_")]  # right_elsewhere repeats them
        rows.append([ex, f"{points:g}", f"{got:g}",
                     f"{_exercise_score(scores['release'], ex)[0]:g}", ", ".join(wrong)])
    return rows


if __name__ == "__main__":
    # python tests/exercise_harness.py            the audit of every assignment, as a table
    # python tests/exercise_harness.py 08d 08e    grade them and print every solution's points
    import importlib
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    if len(sys.argv) == 1:
        head = ["assignment", "exercise", *AUDIT_CLASSES]
        print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
        for test in sorted(Path(__file__).parent.glob("test_exercises_*.py")):
            mod = importlib.import_module(test.stem)
            for row in audit_rows(mod.ASSIGNMENT, mod.AUDIT):
                print("| " + " | ".join(row) + " |")
    harness = importlib.import_module("exercise_harness")  # the module the tests use
    for nn in sys.argv[1:]:
        mod = importlib.import_module(f"test_exercises_{nn}")
        getattr(mod, f"test_exercises_{nn}")()  # the test itself: asserts the whole contract
        report = harness.REPORTS[mod.ASSIGNMENT]
        print(f"\n{mod.ASSIGNMENT}: {len(report['packed'])} graded submissions besides the "
              f"source and the release\n| exercise | points | reference | release | wrong "
              f"solutions (points each) |\n|---|---|---|---|---|")
        for row in score_rows(report):
            print("| " + " | ".join(row) + " |")
