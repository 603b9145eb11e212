"""Slide decks: breaks come from the chapter structure, the executed copy is used only when
it is up to date, and the source notebook is never modified."""

import os

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from lm_course.tooling import cli, pages, runner, slides


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
    live = nbformat.read(out / "slides" / "99_x.ipynb", as_version=4)  # for RISE
    assert [c.metadata.slideshow.slide_type for c in live.cells] == \
        ["slide", "-", "subslide", "slide", "fragment", "subslide"]
    page = path.read_text(encoding="utf-8")
    assert "reveal" in page.lower() and "The idea, explained." in page
    assert "<title>99 · A chapter slides</title>" in page  # the chapter's title
    assert pages.off_machine_links(page) == [] and pages.off_machine_files(out) == {}
    assert (out / "assets" / "reveal" / "dist" / "reveal.js").is_file()
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


def _slides_of(nb):
    """Cells of a marked notebook grouped by the (sub-)slide they land on."""
    groups = []
    for cell in nb.cells:
        if cell.metadata.slideshow.slide_type in ("slide", "subslide") or not groups:
            groups.append([])
        groups[-1].append(cell)
    return groups


def _height(cell):
    if cell.cell_type == "markdown":
        return slides.markdown_height(cell.source)
    shown = 0 if cell.metadata.get("transient", {}).get("remove_source") else \
        slides.code_height(cell.source)
    return shown + slides.outputs_height(cell)


def test_a_long_listing_is_cut_at_blank_lines_and_keeps_its_outputs_last():
    source = "\n\n".join("\n".join(f"x{i}_{j} = {j}" for j in range(9)) for i in range(8))
    out = new_output("stream", name="stdout", text="done\n")
    nb = new_notebook(cells=[new_markdown_cell("## Code"), new_code_cell(source, outputs=[out])])
    marked = slides.mark_slides(nb)
    parts = marked.cells[1:]
    assert len(parts) >= 3 and [p.metadata.slideshow.slide_type for p in parts[1:]] == \
        ["subslide"] * (len(parts) - 1)
    assert "\n\n".join(p.source for p in parts) == source  # nothing lost, cut between blocks
    assert all(p.source.split("\n")[0].endswith("_0 = 0") for p in parts)
    assert [len(p.outputs) for p in parts] == [0] * (len(parts) - 1) + [1]
    assert len({p.id for p in marked.cells}) == len(marked.cells)  # ids stay unique
    assert all(sum(map(_height, s)) <= slides.BUDGET for s in _slides_of(marked))
    assert nb.cells[1].source == source and len(nb.cells) == 2  # the input is left alone


def test_a_long_text_is_cut_between_paragraphs_but_never_inside_a_formula_or_fence():
    para = "A sentence that is long enough to wrap on the slide, said twice over. " * 6
    formula = "$$\nx = 1\n\n+ 2\n$$"  # a blank line inside: still one block
    fence = "```python\na = 1\n\nb = 2\n```"
    text = "\n\n".join(["### A long idea", para, formula, para, fence] + [para] * 4)
    marked = slides.mark_slides(new_notebook(cells=[new_markdown_cell(text)]))
    parts = [c.source for c in marked.cells]
    assert len(parts) >= 2 and "\n\n".join(parts) == text
    assert sum(formula in p for p in parts) == 1 and sum(fence in p for p in parts) == 1
    assert all(slides.markdown_height(p) <= slides.BUDGET for p in parts)


def test_a_tall_plot_goes_below_its_code_on_the_next_slide():
    import base64

    head = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + (900).to_bytes(4, "big") * 2
    png = base64.b64encode(head + b"\x08\x06\x00\x00\x00").decode()
    plot = new_output("display_data", data={"image/png": png, "text/plain": "<Figure>"})
    code = "\n".join(f"line_{i} = {i}" for i in range(20))
    marked = slides.mark_slides(new_notebook(cells=[new_code_cell(code, outputs=[plot])]))
    first, second = marked.cells
    assert first.source == code and first.outputs == []
    assert second.metadata.transient.remove_source and second.outputs[0]["data"]["image/png"]
    assert second.metadata.slideshow.slide_type == "subslide"
    assert slides.output_height(plot) == slides.IMAGE_MAX + 10  # 900 px tall, shown at 440


def test_every_chapter_is_cut_into_slides_that_fit():
    for path in runner.chapter_notebooks():
        marked = slides.mark_slides(nbformat.read(path, as_version=4))
        for i, group in enumerate(_slides_of(marked)):
            total = sum(map(_height, group))
            assert total <= slides.BUDGET or len(group) == 1, (path.name, i, total)


@pytest.mark.parametrize("budget, error, match", [
    (100, ValueError, "budget"), (10_000, ValueError, "budget"), ("600", TypeError, "budget"),
    (600.0, TypeError, "budget"), (True, TypeError, "budget"),
])
def test_mark_slides_rejects_a_bad_budget(budget, error, match):
    with pytest.raises(error, match=match):
        slides.mark_slides(new_notebook(), budget=budget)


@pytest.mark.parametrize("fit", [None, 0, "no"])
def test_mark_slides_rejects_a_fit_that_is_not_a_bool(fit):
    with pytest.raises(TypeError, match="fit must be True or False"):
        slides.mark_slides(new_notebook(), fit=fit)


def test_the_live_copy_has_the_breaks_and_cuts_nothing():
    source = "class A:\n    x = 1\n\n" + "    y = 2\n" * 60  # a cut would not run
    nb = new_notebook(cells=[new_markdown_cell("## Part"), new_code_cell(source)])
    live = slides.mark_slides(nb, fit=False)
    assert [c.source for c in live.cells] == ["## Part", source]
    assert [c.metadata.slideshow.slide_type for c in live.cells] == ["slide", "-"]
    assert len(slides.mark_slides(nb).cells) > 2  # the deck does cut it
