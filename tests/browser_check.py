"""Open the course's pages and decks in headless Chromium (Debian's build, driven by Playwright)
and report what a person would see wrong: a slide taller or wider than the screen, math left as
raw ``$$``, a Mermaid diagram not drawn, a request that leaves the machine.

Used by ``tests/test_browser.py``; also a script, for decks built with outputs::

    .venv/bin/python tests/browser_check.py build/slides/*.slides.html --shots build/screenshots
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def chromium_path() -> str | None:
    """Debian's chromium, or ``$LM_COURSE_CHROMIUM``; None when there is none."""
    for candidate in (os.environ.get("LM_COURSE_CHROMIUM"), shutil.which("chromium"),
                      shutil.which("chromium-browser"), "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


@dataclass
class SlideReport:
    index: str  # "h/v" as reveal.js numbers it
    height: int  # content height in slide pixels
    width: int
    problems: list[str] = field(default_factory=list)


@dataclass
class DeckReport:
    path: Path
    slides: list[SlideReport]
    off_machine: list[str]  # requests that tried to leave the machine
    seconds: float

    @property
    def overflowing(self) -> list[SlideReport]:
        return [s for s in self.slides if s.problems]


# Runs in the page: show every slide in turn, let math and diagrams draw, measure the slide
# in its own (unscaled) pixels.
_STEP_THROUGH = """
async () => {
  const settle = async (slide) => {
    await window.lmDrawMermaid(slide);
    if (window.MathJax && MathJax.Hub) await new Promise(r => MathJax.Hub.Queue(r));
    Reveal.layout();
  };
  const measure = (slide) => {
    const cfg = Reveal.getConfig(), problems = [];
    const h = slide.scrollHeight, w = slide.scrollWidth;
    if (h > cfg.height + 2) problems.push(`content ${h} px tall, slide ${cfg.height}`);
    if (w > cfg.width + 2) problems.push(`content ${w} px wide, slide ${cfg.width}`);
    const boxes = "pre, code, table, img, svg, p, li, .jp-OutputArea-output";
    for (const el of slide.querySelectorAll(boxes)) {
      const style = getComputedStyle(el);
      if (style.display === "none" || el.closest(".MathJax_Preview")) continue;
      if (["auto", "scroll"].includes(style.overflowX)) continue;  // it has a scrollbar
      if (el.scrollWidth > el.clientWidth + 2 && el.clientWidth > 0) {
        const tag = el.tagName.toLowerCase();
        problems.push(`${tag} cut off on the right (${el.scrollWidth} > ${el.clientWidth})`);
        break;
      }
    }
    if (/\\$\\$/.test(slide.innerText)) problems.push("raw $$ on the slide (math not rendered)");
    if (slide.querySelector(".lm-mermaid-error")) problems.push("Mermaid error");
    if (slide.querySelector(".jp-Mermaid pre.mermaid:not([data-lm-drawn])")) {
      problems.push("Mermaid not drawn");
    }
    const idx = Reveal.getIndices(slide);
    return {index: `${idx.h}/${idx.v || 0}`, height: h, width: w, problems,
            mermaid: !!slide.querySelector(".lm-mermaid svg"),
            plot: !!slide.querySelector(".jp-OutputArea-output img")};
  };
  const out = [];
  for (const slide of Reveal.getSlides()) {
    const k = Reveal.getIndices(slide);
    Reveal.slide(k.h, k.v);
    await settle(slide);
    out.push(measure(slide));
  }
  return out;
}
"""


def _block_network(page, tried: list[str]) -> None:
    def route(r):
        url = r.request.url
        if url.startswith(("file:", "data:", "about:", "blob:")):
            r.continue_()
        else:
            tried.append(url)
            r.abort()
    page.route("**/*", route)


def open_browser(playwright):
    path = chromium_path()
    if path is None:
        raise FileNotFoundError("no chromium found (apt-get install -y chromium)")
    return playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)


def check_deck(browser, path: Path, shots: Path | None = None,
               limit: int = 4) -> DeckReport:
    """Step through every slide of the deck at ``path``; screenshot the first slide and up to
    ``limit`` - 1 slides with a diagram or a plot (and any that overflows) into ``shots``."""
    start = time.perf_counter()
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    tried: list[str] = []
    _block_network(page, tried)
    page.goto(Path(path).resolve().as_uri())
    page.wait_for_function("window.Reveal && Reveal.isReady()", timeout=60_000)
    measured = page.evaluate(_STEP_THROUGH)
    reports = [SlideReport(m["index"], m["height"], m["width"], m["problems"])
               for m in measured]
    if shots is not None:
        shots.mkdir(parents=True, exist_ok=True)
        picked = [0] + [i for i, m in enumerate(measured) if m["mermaid"]][:1] + \
            [i for i, m in enumerate(measured) if m["plot"]][:limit - 2] + \
            [i for i, m in enumerate(measured) if m["problems"]][:limit]
        name = Path(path).name.replace(".slides.html", "")
        for i in dict.fromkeys(picked):
            h, v = (int(x) for x in measured[i]["index"].split("/"))
            page.evaluate(f"Reveal.slide({h}, {v})")
            page.evaluate("() => window.MathJax && MathJax.Hub && "
                          "new Promise(r => MathJax.Hub.Queue(r))")
            page.screenshot(path=str(shots / f"{name}-{measured[i]['index'].replace('/', '.')}"
                                                f".png"))
    page.close()
    return DeckReport(Path(path), reports, tried, time.perf_counter() - start)


@dataclass
class PageReport:
    path: Path
    raw_math: bool
    mermaid_drawn: int
    mermaid_errors: int
    math_rendered: int
    off_machine: list[str]


def check_page(browser, path: Path, shot: Path | None = None) -> PageReport:
    """Open a chapter page: is the math typeset, are the diagrams drawn, no request off-machine?"""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    tried: list[str] = []
    _block_network(page, tried)
    page.goto(Path(path).resolve().as_uri())
    page.wait_for_load_state("load")
    page.evaluate("() => window.MathJax && MathJax.Hub && "
                  "new Promise(r => MathJax.Hub.Queue(r))")
    page.evaluate("() => window.lmDrawMermaid && window.lmDrawMermaid(document)")
    info = page.evaluate("""() => ({
      raw: /\\$\\$/.test(Array.from(document.querySelectorAll('.jp-MarkdownOutput'))
                          .map(e => e.innerText).join('\\n')),
      drawn: document.querySelectorAll('.lm-mermaid svg').length,
      errors: document.querySelectorAll('.lm-mermaid-error').length,
      math: document.querySelectorAll('.MathJax, .MathJax_Display').length})""")
    if shot is not None:
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot))
    page.close()
    return PageReport(Path(path), info["raw"], info["drawn"], info["errors"], info["math"],
                      tried)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("decks", nargs="+", type=Path)
    parser.add_argument("--shots", type=Path, help="folder for screenshots")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    bad = 0
    with sync_playwright() as p:
        browser = open_browser(p)
        for deck in args.decks:
            r = check_deck(browser, deck, args.shots)
            bad += len(r.overflowing) + len(r.off_machine)
            print(f"{deck.name}: {len(r.slides)} slides, {len(r.overflowing)} with a problem, "
                  f"{len(r.off_machine)} requests off the machine ({r.seconds:.1f} s)")
            for url in r.off_machine:
                print(f"    off the machine: {url}")
            for s in r.overflowing:
                print(f"    slide {s.index}: {'; '.join(s.problems)}")
        browser.close()
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
