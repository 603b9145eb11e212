"""Conventions every chapter notebook and exercise notebook keeps (their execution is nbval's
and the exercise pipeline's job)."""

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]*_*.ipynb"))
EXERCISES = sorted((ROOT / "exercises" / "source").glob("*/*.ipynb"))


def _load(path):
    return json.loads(path.read_text(encoding="utf-8"))


def test_there_are_chapters_and_each_has_graded_exercises():
    assert CHAPTERS, "no chapter notebooks found"
    assignments = {p.parent.name for p in EXERCISES}
    for nb in CHAPTERS:
        assert nb.stem in assignments, f"{nb.name} has no exercises/source/{nb.stem}/"


@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.name)
def test_exercise_notebook_name_differs_from_the_chapter(path):
    # the folder is the chapter's stem; the notebook is <stem>_exercises.ipynb, so a learner
    # with both open in JupyterLab does not see two tabs with the same name
    assert path.name == f"{path.parent.name}_exercises.ipynb", \
        f"rename {path} to {path.parent / (path.parent.name + '_exercises.ipynb')}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_points_to_the_released_exercises(path):
    # learners work in the released notebook; exercises/source holds solutions and hidden tests
    text = "\n".join("".join(c["source"]) for c in _load(path)["cells"])
    want = f"exercises/release/{path.stem}/{path.stem}_exercises.ipynb"
    assert want in text, f"{path.name}: no pointer to {want}"
    assert f"exercises/source/{path.stem}/{path.stem}" not in text, \
        f"{path.name}: points learners to the source notebook (solutions and hidden tests)"


@pytest.mark.parametrize("path", CHAPTERS + EXERCISES, ids=lambda p: p.name)
def test_stored_without_outputs(path):
    for cell in _load(path)["cells"]:
        if cell["cell_type"] == "code":
            assert not cell.get("outputs"), f"{path.name}: a cell has stored outputs"
            assert cell.get("execution_count") is None, f"{path.name}: execution counts stored"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_shape(path):
    nb = _load(path)
    cells = nb["cells"]
    first = "".join(cells[0]["source"]).lower()
    assert cells[0]["cell_type"] == "markdown" and first.startswith("#")
    for word in ["objective", "prerequisite", "time", "guide"]:
        assert word in first, f"{path.name}: the title cell does not mention {word!r}"
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    assert "lm_course" in code and "set_seed(" in code and "quick_mode()" in code
    assert "assert " in code, f"{path.name}: no check cell"
    text = "\n".join("".join(c["source"]) for c in cells)
    assert "Common mistake" in text, f"{path.name}: no 'Common mistake' box"
    assert "exercises/" in text, f"{path.name}: no pointer to the graded exercises"
    assert nb["metadata"]["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.name)
def test_exercise_markup(path):
    cells = _load(path)["cells"]
    meta = [c["metadata"].get("nbgrader", {}) for c in cells]
    ids = [m.get("grade_id") for m in meta if m]
    assert len(ids) == len(set(ids)), f"{path.name}: duplicate grade ids"
    for m, cell in zip(meta, cells, strict=True):
        gid = m.get("grade_id", "")
        src = "".join(cell["source"])
        if gid.endswith("-solution"):
            assert m["solution"] and not m["grade"] and "### BEGIN SOLUTION" in src
        elif gid.endswith("-visible"):
            assert m["grade"] and m["locked"] and m["points"] > 0 and "assert" in src
            assert "HIDDEN" not in src
        elif gid.endswith("-hidden"):
            assert m["grade"] and m["locked"] and m["points"] > 0
            assert src.strip().startswith("### BEGIN HIDDEN TESTS")
            assert src.strip().endswith("### END HIDDEN TESTS")
