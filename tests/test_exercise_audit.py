"""The wrong-solution audit of every assignment, checked in a second (no grading): each test file's
``AUDIT`` names, for every exercise and every class of hiding input or spec mistake, the fake
student that makes that mistake there, ``"spec"``, or why the class cannot occur
(``exercise_harness.check_audit``). The grading itself (does the student lose points?) runs in
``test_exercises_*.py``."""

import importlib
from pathlib import Path

import nbformat
import pytest
from exercise_harness import COURSE, INPUT_CLASSES, SPEC_WRAPPERS, check_audit, exercises_of

TESTS = sorted(p.stem for p in Path(__file__).parent.glob("test_exercises_*.py"))


def _exercises(assignment: str) -> list[str]:
    (nb,) = (COURSE / "source" / assignment).glob("*.ipynb")
    return exercises_of(nbformat.read(nb, as_version=4))


@pytest.mark.parametrize("test", TESTS)
def test_every_exercise_is_audited_for_every_class(test):
    mod = importlib.import_module(test)
    assert hasattr(mod, "AUDIT"), f"{test} declares no AUDIT"
    check_audit(mod.ASSIGNMENT, _exercises(mod.ASSIGNMENT), mod.MISTAKES,
                getattr(mod, "SPEC", {}), mod.AUDIT)


def test_every_assignment_has_an_audited_test_file():
    audited = {importlib.import_module(t).ASSIGNMENT for t in TESTS}
    assert audited == {p.name for p in (COURSE / "source").iterdir() if p.is_dir()}


def _good():
    every = {c: "n/a: cannot occur in this toy exercise" for c in [*INPUT_CLASSES, *SPEC_WRAPPERS]}
    return ["ex"], {"wrong": {"ex": "code"}}, {"detached": ["ex"]}, \
        {"ex": {**every, "size_one_axis": "wrong", "detached": "spec"}}


def _drop(audit, cls):
    return {"ex": {k: v for k, v in audit["ex"].items() if k != cls}}


@pytest.mark.parametrize("change, message", [
    (lambda e, m, s, a: (e + ["other"], m, s, a), "missing ['other']"),
    (lambda e, m, s, a: (e, m, s, {**a, "gone": a["ex"]}), "unknown ['gone']"),
    (lambda e, m, s, a: (e, m, s, _drop(a, "odd_item_last")), "'odd_item_last'] is missing"),
    (lambda e, m, s, a: (e, m, s, {"ex": {**a["ex"], "typo": "n/a: x" * 3}}),
     "unknown classes ['typo']"),
    (lambda e, m, s, a: (e, {}, s, a), "not a student with a mistake on 'ex'"),
    (lambda e, m, s, a: (e, m, {}, a), "SPEC['detached'] does not list 'ex'"),
    (lambda e, m, s, a: (e, m, {**s, "mutates_inputs": ["ex"]}, a), "says n/a, but SPEC"),
    (lambda e, m, s, a: (e, m, s, {"ex": {**a["ex"], "excluded_lowest": "n/a: no"}}),
     "say why"),
    (lambda e, m, s, a: (e, m, s, {"ex": {**a["ex"], "excluded_lowest": "TODO"}}),
     "not a student"),
])
def test_the_audit_check_refuses_a_gap(change, message):
    check_audit("toy", *_good())  # the unchanged audit passes
    with pytest.raises(AssertionError, match=message.replace("[", r"\[").replace("]", r"\]")):
        check_audit("toy", *change(*_good()))


def test_packing_keeps_every_mistake_once_and_one_per_exercise_per_submission():
    from exercise_harness import pack_students, right_elsewhere

    students = {"wrong_1": {"a": "1a", "b": "1b", "c": "1c"}, "wrong_2": {"a": "2a", "c": "2c"},
                "size_one_axis": {"b": "sb"}, "spec_detached": {"c": "dc"}}
    packed = pack_students(students)
    items = sorted((st, ex, code) for sub in packed.values() for ex, (st, code) in sub.items())
    assert items == sorted((st, ex, code) for st, w in students.items() for ex, code in w.items())
    # exercise c has the most mistakes (3): 3 submissions, c wrong in each of them
    assert list(packed) == ["pack_1", "pack_2", "pack_3"]
    assert all("c" in sub for sub in packed.values())
    # so one more submission grades c right while the others are wrong
    assert right_elsewhere(["a", "b", "c"], packed, students) == {
        "others_wrong": {"a": ("wrong_1", "1a"), "b": ("wrong_1", "1b")}}
    # when every exercise is wrong in every submission: two halves
    both = {"wrong_1": {"a": "1a", "b": "1b"}}
    assert right_elsewhere(["a", "b"], pack_students(both), both) == {
        "odd_wrong": {"a": ("wrong_1", "1a")}, "even_wrong": {"b": ("wrong_1", "1b")}}
    # nothing extra when every exercise is already right somewhere
    some = {"w": {"a": "x"}, "v": {"b": "y", "a": "z"}}
    assert right_elsewhere(["a", "b"], {"pack_1": {"a": 1}, "pack_2": {"b": 2}}, some) == {}
