"""The decks and pages in a real browser: headless Chromium (Debian's) driven by Playwright.

Every slide of every chapter deck is shown in turn and must fit the slide (no content taller
or wider than it, no line cut off on the right); a deck and a page with real outputs (a plot,
a progress bar, a long listing, math, a Mermaid diagram) must render all of them; and no
request may leave the machine (every one that tries is refused and counted). Screenshots
of a few slides go to ``build/screenshots/`` for the record, with ``browser-report.txt``.

Without chromium or playwright the tests skip and say why; ``.ci/run`` installs chromium and
sets ``LM_COURSE_REQUIRE_BROWSER=1``, which turns the skip into a failure.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_output

from lm_course.tooling import pages, runner, slides

sys.path.insert(0, str(Path(__file__).parent))
import browser_check  # noqa: E402
from test_pages import _png, chapter  # noqa: E402

SHOTS = runner.ROOT / "build" / "screenshots"


def _why_not() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[dev]')"
    if browser_check.chromium_path() is None:
        return "no chromium on this machine (Debian: apt-get install -y chromium)"
    return None


@pytest.fixture(scope="module")
def browser():
    reason = _why_not()
    if reason:
        if os.environ.get("LM_COURSE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"LM_COURSE_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = browser_check.open_browser(p)
        yield b
        b.close()


def test_every_slide_of_every_chapter_deck_fits(browser, tmp_path):
    start = time.perf_counter()
    decks = slides.build_slides(tmp_path)  # the stored chapters: text, code, math, diagrams
    lines, bad = [], []
    for deck in decks:
        r = browser_check.check_deck(browser, deck, SHOTS, limit=2)
        lines.append(f"{deck.name}: {len(r.slides)} slides, {len(r.overflowing)} overflowing, "
                     f"{len(r.off_machine)} requests off the machine, {r.seconds:.1f} s")
        bad += [f"{deck.name} slide {s.index}: {'; '.join(s.problems)}" for s in r.overflowing]
        bad += [f"{deck.name} asked for {url}" for url in r.off_machine]
    lines.append(f"all {len(decks)} decks (built and checked): {time.perf_counter() - start:.0f} s")
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / "browser-report.txt").write_text("\n".join(lines + bad) + "\n", encoding="utf-8")
    print("\n".join(lines))
    assert len(decks) == len(runner.chapter_notebooks())
    assert not bad, "\n".join(bad)


def _executed_chapter():
    """``chapter()`` plus what overflowed before: a long listing, a big plot, a long log."""
    nb = chapter()
    listing = "\n\n".join("\n".join(f"step_{i}_{j} = model(batch_{j})  # (B, T, V)"
                                    for j in range(8)) for i in range(6))
    log = "".join(f"step {i:4d}  loss {2.5 - i / 100:.3f}\n" for i in range(60))
    wide = "x = " + " + ".join(f"term_{i}" for i in range(40))  # longer than a slide is wide
    nb.cells += [
        new_markdown_cell("## Training\n\n" + "Long prose about the loop. " * 60),
        new_code_cell(listing, outputs=[new_output("stream", name="stdout", text=log)]),
        new_code_cell(wide, outputs=[new_output("display_data", data={
            "image/png": _png(1000, 800), "text/plain": "<Figure size 1000x800>"})]),
    ]
    return nb


def test_a_deck_and_a_page_with_outputs_render_everything_offline(browser, tmp_path):
    src, out = tmp_path / "notebooks", tmp_path / "build"
    src.mkdir()
    out.mkdir()
    nb = _executed_chapter()
    nbformat.write(nb, src / "99_demo.ipynb")
    nbformat.write(nb, out / "99_demo.ipynb")  # the executed copy, newer than the source
    (deck,) = slides.build_slides(out, folder=src)
    r = browser_check.check_deck(browser, deck, SHOTS)
    assert r.off_machine == [] and len(r.slides) >= 5
    assert not r.overflowing, [(s.index, s.problems) for s in r.overflowing]

    pages.copy_assets(out)
    page = out / "99_demo.html"
    page.write_text(pages.export_html(nb, "99 · A chapter"), encoding="utf-8")
    p = browser_check.check_page(browser, page, SHOTS / "99_demo-page.png")
    assert p.off_machine == [] and not p.raw_math and p.math_rendered >= 1
    assert p.mermaid_drawn == 1 and p.mermaid_errors == 0


def test_the_check_fails_a_deck_that_does_not_fit(browser, tmp_path):
    # the same chapter as one slide, as nbconvert makes it without the splitter
    nb = _executed_chapter()
    for cell in nb.cells:
        cell.metadata["slideshow"] = {"slide_type": "-"}
    pages.copy_assets(tmp_path)
    (tmp_path / "slides").mkdir()
    deck = tmp_path / "slides" / "one.slides.html"
    deck.write_text(pages.export_html(nb, "one", slides=True, prefix="../assets",
                                      reveal_width=str(slides.WIDTH),
                                      reveal_height=str(slides.HEIGHT)), encoding="utf-8")
    r = browser_check.check_deck(browser, deck)
    assert len(r.slides) == 1 and r.overflowing
    assert "px tall" in r.overflowing[0].problems[0]
