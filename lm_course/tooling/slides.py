"""Lecture slides from the chapter notebooks: ``make slides`` / ``lm-course slides``.

A notebook has no slide breaks of its own, and exporting it as is gives one endless slide.
:func:`mark_slides` adds them from the structure every chapter already has: a ``#`` or
``##`` heading opens a new slide (left to right), every other Markdown cell a sub-slide
below it (top to bottom), and code cells stay with the text that introduces them. Breaks an
author set by hand (View > Cell Toolbar > Slideshow in Jupyter) are kept.

A slide must fit on the screen, so the same pass measures what it places. Heights are
estimated in CSS pixels of a ``WIDTH`` x ``HEIGHT`` slide from the sizes the deck's style
sheet sets (``templates/lm_reveal``): lines of wrapped text and code, table rows, display
math, the pixel size of a plot. What would not fit goes on to a new sub-slide: a code cell
that follows text, the later paragraphs of a long Markdown cell, the rest of a long code
listing (cut at a blank line) or a cell's outputs (shown below its code on the next
sub-slide). The browser test (``tests/test_browser.py``) steps through every slide in
Chromium and checks that nothing overflows.

:func:`build_slides` prefers the executed copy that ``make run`` wrote to ``build/`` (so the
plots and printed numbers are on the slides) and falls back to the stored notebook, which
has no outputs. The decks load reveal.js, MathJax and Mermaid from ``build/assets/``
(see :mod:`lm_course.tooling.pages`), so presenting needs no network.

>>> from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
>>> nb = mark_slides(new_notebook(cells=[new_markdown_cell("# Title"), new_code_cell("1"),
...                                       new_markdown_cell("An idea."),
...                                       new_markdown_cell("## Next part")]))
>>> [c.metadata.slideshow.slide_type for c in nb.cells]
['slide', '-', 'subslide', 'slide']
>>> long = mark_slides(new_notebook(cells=[new_code_cell("x = 1\\n" * 70)]))
>>> [c.metadata.slideshow.slide_type for c in long.cells]  # 70 lines: three slides of code
['-', 'subslide', 'subslide']
"""

from __future__ import annotations

import base64
import copy
import math
import os
import re
import struct
from pathlib import Path

import nbformat
from nbformat.corpus.words import generate_corpus_id as random_cell_id

from lm_course.tooling.pages import copy_assets, export_html
from lm_course.tooling.runner import NOTEBOOKS, ROOT, chapter_notebooks, describe
from lm_course.utils import check_int, write_text_atomic

# The slide and the sizes the deck's style sheet gives things, in CSS pixels.
WIDTH, HEIGHT = 1280, 720  # logical slide size; reveal.js scales it to the screen
BUDGET = 660  # height a slide's content may use (the rest: slide number, rounding)
TEXT_LINE, TEXT_CHARS = 27, 118  # 18 px prose, line height 1.5; characters per line
CODE_LINE, CODE_CHARS = 22, 130  # 15 px code, line height 1.4 (+ rounding); characters per line
IMAGE_MAX = 440  # max-height of a plot
BOX_MAX = 600  # max-height of a cell's code or outputs (longer ones scroll inside)


def slide_type(cell) -> str:
    """Where ``cell`` goes: ``"slide"``, ``"subslide"`` or ``"-"`` (continue the current one)."""
    if cell.cell_type != "markdown":
        return "-"
    first = cell.source.lstrip().split("\n", 1)[0]
    return "slide" if first.startswith(("# ", "## ")) else "subslide"


# -- how tall things are ------------------------------------------------------------------------

def _wrapped(lines: list[str], width: int) -> int:
    """Screen lines that ``lines`` take when wrapped at ``width`` characters."""
    return sum(max(1, math.ceil(len(ln.expandtabs(4)) / width)) for ln in lines)


def _block_height(block: str) -> int:
    """Estimated height of one Markdown block (a paragraph, list, table, formula, fence)."""
    lines = block.strip("\n").split("\n")
    first = lines[0].lstrip()
    if first.startswith("```"):
        if first[3:].strip().startswith("mermaid"):
            return BOX_MAX
        return _wrapped(lines[1:-1], CODE_CHARS) * CODE_LINE + 24
    if first.startswith("$$"):
        fracs = block.count("\\frac") + block.count("\\sum") + block.count("\\begin")
        return 56 + 22 * (len(lines) - 1) + 8 * fracs
    heading = re.match(r"(#{1,6}) ", first)
    if heading:
        size = {1: 34, 2: 28, 3: 22.5}.get(len(heading.group(1)), 19) * 1.25
        return int(math.ceil(len(first) / (TEXT_CHARS * 18 / size)) * size + size * 0.4) + 4
    if first.startswith("|"):
        rows = [ln for ln in lines if not re.match(r"\s*\|[\s:|-]+\|\s*$", ln)]
        return sum(max(1, math.ceil(len(r) / (TEXT_CHARS * 1.1))) for r in rows) * 30 + 16
    if first.startswith("<img") or first.startswith("!["):
        return IMAGE_MAX
    extra = 24 if first.startswith(">") else 0
    items = sum(bool(re.match(r"\s*([-*+]|\d+\.) ", ln)) for ln in lines)
    inline_math = block.count("$") // 2
    return (_wrapped(lines, TEXT_CHARS) * TEXT_LINE + 11 + 4 * items + extra
            + 2 * inline_math)


def markdown_blocks(source: str) -> list[str]:
    """``source`` cut at blank lines, keeping fenced code and ``$$`` formulas whole."""
    blocks, current, fence, math_open = [], [], False, False
    for line in source.split("\n"):
        stripped = line.strip()
        if stripped.startswith("```"):
            fence = not fence
        elif not fence and stripped.count("$$") % 2 == 1:
            math_open = not math_open
        if not stripped and not fence and not math_open:
            if current:
                blocks.append("\n".join(current))
                current = []
            continue
        current.append(line)
    if current:
        blocks.append("\n".join(current))
    return blocks


def markdown_height(source: str) -> int:
    """Estimated height of a Markdown cell on a slide."""
    return sum(_block_height(b) for b in markdown_blocks(source)) + 8


def _png_height(data: str) -> int:
    """Displayed height of a base64 PNG (its pixel size, scaled to the slide's limits)."""
    try:
        head = base64.b64decode(data[:64])
        w, h = struct.unpack(">II", head[16:24])
    except (ValueError, struct.error):
        return IMAGE_MAX
    h = h * min(1.0, (WIDTH - 20) / max(w, 1))
    return int(min(h, IMAGE_MAX)) + 10


def output_height(out) -> int:
    """Estimated height of one output of a code cell."""
    kind = out.get("output_type")
    if kind == "stream":
        return _wrapped(str(out.get("text", "")).rstrip("\n").split("\n"), CODE_CHARS) \
            * CODE_LINE + 10
    if kind == "error":
        return min(BOX_MAX, len(out.get("traceback", [])) * 3 * CODE_LINE + 10)
    data = out.get("data", {})
    if "image/png" in data:
        meta = out.get("metadata", {}).get("image/png", {})
        if "height" in meta:
            return int(min(meta["height"], IMAGE_MAX)) + 10
        return _png_height(data["image/png"])
    if "image/svg+xml" in data or "image/jpeg" in data:
        return IMAGE_MAX + 10
    if "application/vnd.jupyter.widget-view+json" in data:
        return 34
    if "text/html" in data:
        page = str(data["text/html"])
        rows = page.count("<tr")
        if rows:
            return rows * 30 + 20
        text = re.sub(r"<[^>]+>", "", page)
        return _wrapped(text.strip().split("\n"), TEXT_CHARS) * TEXT_LINE + 10
    if "text/markdown" in data:
        return markdown_height(str(data["text/markdown"]))
    text = str(data.get("text/plain", ""))
    return _wrapped(text.rstrip("\n").split("\n"), CODE_CHARS) * CODE_LINE + 10


def code_height(source: str) -> int:
    """Estimated height of a code cell's input (past ``BOX_MAX`` it scrolls inside; the
    splitter keeps pieces below that)."""
    return _wrapped(source.split("\n"), CODE_CHARS) * CODE_LINE + 22


def outputs_height(cell) -> int:
    """Estimated height of all outputs of a code cell (the area scrolls past ``BOX_MAX``)."""
    outs = cell.get("outputs", [])
    return min(BOX_MAX, sum(output_height(o) for o in outs) + 8) if outs else 0


# -- cutting what does not fit -------------------------------------------------------------------

def _code_chunks(source: str, budget: int) -> list[str]:
    """``source`` cut into pieces of at most ``budget`` pixels, at a blank line if there is
    one in the second half of a piece, else at the last line that fits."""
    lines, chunks = source.split("\n"), []
    while lines:
        n = 0
        while n < len(lines) and code_height("\n".join(lines[:n + 1])) <= budget:
            n += 1
        n = max(n, 1)
        if n < len(lines):
            blanks = [i for i in range(n // 2, n) if not lines[i].strip()]
            if blanks:
                n = blanks[-1] + 1
        chunk = "\n".join(lines[:n]).strip("\n")
        if chunk:
            chunks.append(chunk)
        lines = lines[n:]
    return chunks


def _pack(blocks: list[str], budget: int) -> list[list[str]]:
    """Markdown blocks grouped greedily into runs that fit in ``budget``."""
    groups: list[list[str]] = [[]]
    used = 0
    for block in blocks:
        h = _block_height(block)
        if groups[-1] and used + h > budget:
            groups.append([])
            used = 0
        groups[-1].append(block)
        used += h
    return groups


def _part(cell):
    """A copy of ``cell`` to hold part of it, with an id of its own."""
    part = copy.deepcopy(cell)
    if "id" in part:
        part.id = random_cell_id()
    return part


def _with_type(cell, kind: str):
    cell.metadata.setdefault("slideshow", nbformat.NotebookNode())["slide_type"] = kind
    return cell


def mark_slides(nb, budget: int = BUDGET, fit: bool = True):
    """A copy of ``nb`` with slide breaks on every cell that has none, and long cells cut so
    that every slide fits in ``budget`` pixels (see the module doc). ``nb`` is unchanged.

    ``fit=False`` only adds the breaks and cuts nothing: a copy to run live (RISE), where a
    listing cut at a blank line inside a function would not run.
    """
    check_int("budget", budget, min_value=200, max_value=HEIGHT)
    if not isinstance(fit, bool):
        raise TypeError(f"fit must be True or False, got {fit!r}")
    nb = copy.deepcopy(nb)
    if not fit:
        for cell in nb.cells:
            show = cell.metadata.setdefault("slideshow", nbformat.NotebookNode())
            show.setdefault("slide_type", slide_type(cell))
        return nb
    cells, used = [], 0
    for cell in nb.cells:
        show = cell.metadata.get("slideshow", {})
        kind = show.get("slide_type") or slide_type(cell)
        if kind in ("skip", "notes"):
            cells.append(_with_type(cell, kind))
            continue
        new_slide = kind in ("slide", "subslide")
        if cell.cell_type == "markdown":
            groups = _pack(markdown_blocks(cell.source), budget - 8)
            for i, group in enumerate(groups):
                part = _part(cell) if i else cell
                part.source = "\n\n".join(group)
                height = markdown_height(part.source)
                if i == 0 and not new_slide and used + height > budget and used > 0:
                    kind, new_slide = "subslide", True
                cells.append(_with_type(part, kind if i == 0 else "subslide"))
                used = height if (new_slide or i) else used + height
            continue
        if cell.cell_type != "code":
            cells.append(_with_type(cell, kind))
            used = 0 if new_slide else used + 40
            continue
        h_in, h_out = code_height(cell.source), outputs_height(cell)
        if not new_slide and used > 0 and used + h_in + h_out > budget:
            kind, new_slide = "subslide", True
        if h_in + h_out <= budget:
            cells.append(_with_type(cell, kind))
            used = h_in + h_out if new_slide else used + h_in + h_out
            continue
        # too tall on its own: the code in pieces, then the outputs below the last piece
        room = budget - (used if not new_slide else 0)
        pieces = _code_chunks(cell.source, min(BOX_MAX, max(room, budget // 3)))
        if len(pieces) > 1 and code_height(pieces[0]) > room:
            kind = "subslide"
        rest = _code_chunks("\n\n".join(pieces[1:]), min(BOX_MAX, budget)) if pieces[1:] \
            else []
        pieces = pieces[:1] + rest
        for i, piece in enumerate(pieces):
            part = _part(cell)
            part.source = piece
            last = i == len(pieces) - 1
            if not last:
                part.outputs = []
            cells.append(_with_type(part, kind if i == 0 else "subslide"))
            used = code_height(piece) + (outputs_height(part) if last else 0)
        if used > budget and cell.get("outputs"):  # the outputs on the next sub-slide
            cells[-1].outputs = []
            shown = _part(cell)
            shown.metadata.setdefault("transient", nbformat.NotebookNode())["remove_source"] = True
            cells.append(_with_type(shown, "subslide"))
            used = outputs_height(shown)
    nb.cells = cells
    return nb


def build_slides(out_dir: str | os.PathLike = ROOT / "build", only: list[str] | None = None,
                 folder: str | os.PathLike = NOTEBOOKS) -> list[Path]:
    """Write ``out_dir/slides/<chapter>.slides.html`` for every chapter; return the paths.

    Beside each deck goes ``<chapter>.ipynb``: the chapter (no outputs) with the same slide
    breaks in its metadata, to present live with RISE in JupyterLab (``docs/teaching.md``).
    """
    out_dir = Path(out_dir)
    written = []
    sources = chapter_notebooks(folder, only)
    copy_assets(out_dir)
    for source in sources:
        executed = out_dir / f"{source.stem}.ipynb"
        fresh = executed.exists() and executed.stat().st_mtime >= source.stat().st_mtime
        nb = nbformat.read(executed if fresh else source, as_version=4)
        if not fresh:
            print(f"{source.stem}: no up-to-date executed copy in {out_dir}, so the slides "
                  f"have no outputs (run `make run` first for plots and numbers)", flush=True)
        title = describe(nb)[0] or source.stem
        body = export_html(mark_slides(nb), title, slides=True, prefix="../assets",
                           reveal_number="c/t", reveal_transition="none",
                           reveal_width=str(WIDTH), reveal_height=str(HEIGHT))
        (out_dir / "slides").mkdir(parents=True, exist_ok=True)
        path = out_dir / "slides" / f"{source.stem}.slides.html"
        write_text_atomic(path, body)
        live = mark_slides(nbformat.read(source, as_version=4), fit=False)
        write_text_atomic(out_dir / "slides" / f"{source.stem}.ipynb", nbformat.writes(live))
        written.append(path)
        print(f"wrote {path}", flush=True)
    return written
