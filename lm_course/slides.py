"""Lecture slides from the chapter notebooks: ``make slides`` / ``lm-course slides``.

A notebook has no slide breaks of its own, and exporting it as is gives one endless slide.
:func:`mark_slides` adds them from the structure every chapter already has: a ``#`` or
``##`` heading opens a new slide (left to right), every other Markdown cell a sub-slide
below it (top to bottom), and code cells stay with the text that introduces them. Breaks an
author set by hand (View > Cell Toolbar > Slideshow in Jupyter) are kept.

:func:`build_slides` prefers the executed copy that ``make run`` wrote to ``build/`` (so the
plots and printed numbers are on the slides) and falls back to the stored notebook, which
has no outputs. The decks are reveal.js pages; reveal.js itself is loaded from a CDN when
they are opened, so presenting needs a network, building them does not.

>>> from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
>>> nb = mark_slides(new_notebook(cells=[new_markdown_cell("# Title"), new_code_cell("1"),
...                                       new_markdown_cell("An idea."),
...                                       new_markdown_cell("## Next part")]))
>>> [c.metadata.slideshow.slide_type for c in nb.cells]
['slide', '-', 'subslide', 'slide']
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import nbformat

from lm_course.runner import NOTEBOOKS, ROOT, chapter_notebooks
from lm_course.utils import write_text_atomic


def slide_type(cell) -> str:
    """Where ``cell`` goes: ``"slide"``, ``"subslide"`` or ``"-"`` (continue the current one)."""
    if cell.cell_type != "markdown":
        return "-"
    first = cell.source.lstrip().split("\n", 1)[0]
    return "slide" if first.startswith(("# ", "## ")) else "subslide"


def mark_slides(nb):
    """A copy of ``nb`` with slide breaks on every cell that has none (see the module doc)."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        show = cell.metadata.setdefault("slideshow", nbformat.NotebookNode())
        show.setdefault("slide_type", slide_type(cell))
    return nb


def build_slides(out_dir: str | os.PathLike = ROOT / "build", only: list[str] | None = None,
                 folder: str | os.PathLike = NOTEBOOKS) -> list[Path]:
    """Write ``out_dir/slides/<chapter>.slides.html`` for every chapter; return the paths."""
    from nbconvert import SlidesExporter

    out_dir = Path(out_dir)
    exporter = SlidesExporter(reveal_scroll=True, reveal_number="c/t", reveal_transition="none")
    written = []
    for source in chapter_notebooks(folder, only):
        executed = out_dir / f"{source.stem}.ipynb"
        fresh = executed.exists() and executed.stat().st_mtime >= source.stat().st_mtime
        nb = nbformat.read(executed if fresh else source, as_version=4)
        if not fresh:
            print(f"{source.stem}: no up-to-date executed copy in {out_dir}, so the slides "
                  f"have no outputs (run `make run` first for plots and numbers)", flush=True)
        body, _ = exporter.from_notebook_node(mark_slides(nb))
        (out_dir / "slides").mkdir(parents=True, exist_ok=True)
        path = out_dir / "slides" / f"{source.stem}.slides.html"
        write_text_atomic(path, body)
        written.append(path)
        print(f"wrote {path}", flush=True)
    return written
