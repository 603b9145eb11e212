"""Slide decks: breaks come from the chapter structure, the executed copy is used only when
it is up to date, and the source notebook is never modified."""

import os

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from lm_course import cli, slides


def _chapter(path):
    nb = new_notebook(cells=[
        new_markdown_cell("# 99 · A chapter\n\nIntro."),
        new_code_cell("print('hi')"),
        new_markdown_cell("The idea, explained."),
        new_markdown_cell("## Part two"),
        new_markdown_cell("A break chosen by hand.",
                          metadata={"slideshow": {"slide_type": "fragment"}}),
        new_markdown_cell("\n### A sub-heading"),
    ])
    nbformat.write(nb, path)
    return nb


def test_breaks_follow_the_headings_and_keep_the_authors_own(tmp_path):
    nb = _chapter(tmp_path / "99_x.ipynb")
    marked = slides.mark_slides(nb)
    assert [c.metadata.slideshow.slide_type for c in marked.cells] == \
        ["slide", "-", "subslide", "slide", "fragment", "subslide"]
    assert "slideshow" not in nb.cells[0].metadata  # the input is left alone


def test_decks_use_the_executed_copy_only_when_it_is_fresh(tmp_path, capsys):
    src, out = tmp_path / "nb", tmp_path / "build"
    src.mkdir()
    before = src / "99_x.ipynb"
    _chapter(before)
    stored = before.read_bytes()

    (path,) = slides.build_slides(out, folder=src)  # no executed copy yet
    assert path == out / "slides" / "99_x.slides.html"
    page = path.read_text(encoding="utf-8")
    assert "reveal" in page.lower() and "The idea, explained." in page
    assert "executed-marker" not in page
    assert "no up-to-date executed copy" in capsys.readouterr().out

    executed = nbformat.read(before, as_version=4)
    executed.cells[1].outputs = [new_output("stream", name="stdout", text="executed-marker\n")]
    nbformat.write(executed, out / "99_x.ipynb")
    slides.build_slides(out, folder=src)
    assert "executed-marker" in path.read_text(encoding="utf-8")

    old = before.stat().st_mtime - 60  # the executed copy predates an edit of the chapter
    os.utime(out / "99_x.ipynb", (old, old))
    slides.build_slides(out, folder=src)
    assert "executed-marker" not in path.read_text(encoding="utf-8")
    assert before.read_bytes() == stored  # the chapter itself is never rewritten


def test_cli_rejects_an_unknown_chapter(capsys):
    assert cli.main(["slides", "--only", "zz"]) == 2
    assert cli.main(["run", "--only", "zz"]) == 2
    assert "matches no notebook" in capsys.readouterr().err
