"""Execute the course notebooks top to bottom and publish them to ``build/``.

``run_course()`` (``make run`` / ``lm-course run``) executes every ``notebooks/NN_*.ipynb`` on
a fresh kernel, writes the executed copy and an HTML page per chapter (its reveal.js, MathJax
and Mermaid copied into ``build/assets/`` from installed packages, see
:mod:`lm_course.tooling.pages`, so the folder works offline), and an ``index.html``
listing the chapters with their one-line summary, status and run time. A failing chapter is
published too (with its error, so you can read where it stopped), the others still run, and
the function reports the failure at the end.
"""

from __future__ import annotations

import html
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from tqdm.auto import tqdm

from lm_course.tooling.pages import copy_assets, export_html
from lm_course.utils import write_text_atomic

ROOT = Path(__file__).resolve().parents[2]  # the repository: lm_course/tooling/runner.py
NOTEBOOKS = ROOT / "notebooks"


@dataclass(frozen=True)
class ChapterResult:
    """What happened when one notebook ran."""

    name: str  # file stem, e.g. "00_text_and_tokens"
    title: str  # the first Markdown heading
    summary: str  # the first sentence of prose after it
    seconds: float  # wall time of the execution
    error: str | None  # None when every cell ran


def chapter_notebooks(folder: str | os.PathLike = NOTEBOOKS,
                      only: list[str] | None = None) -> list[Path]:
    """``NN_*.ipynb`` files in chapter order; ``only`` keeps those whose name starts with one
    of the given prefixes (``["00", "03"]``)."""
    paths = sorted(Path(folder).glob("[0-9][0-9]*_*.ipynb"))
    if only:
        paths = [p for p in paths if any(p.stem.startswith(o) for o in only)]
        if not paths:
            raise ValueError(f"only={only!r} matches no notebook in {folder}")
    return paths


def describe(nb, min_chars: int = 60) -> tuple[str, str]:
    """(title, one-line summary) of a notebook, from its first Markdown cell.

    The summary is the opening sentence of the first prose paragraph (hard-wrapped lines are
    joined first), extended by the next sentence while it is shorter than ``min_chars``.
    """
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        lines = [ln.strip() for ln in cell.source.splitlines()]
        title = next((ln.lstrip("# ").strip() for ln in lines if ln.startswith("#")), "")
        paragraph: list[str] = []
        for ln in lines:
            if re.match(r"(#|\||[-*+] |>|<|\d+\. )", ln) or not ln:
                if paragraph:
                    break  # the first prose paragraph has ended
                continue
            paragraph.append(ln)
        prose = re.sub(r"[*_`$]", "", " ".join(paragraph))
        summary = ""
        for sentence in re.split(r"(?<=[.!?])\s+", prose):
            summary = f"{summary} {sentence}".strip()
            if len(summary) >= min_chars:
                break
        return title, summary
    return "", ""


def run_notebook(path: Path, out_dir: Path, quick: bool = False,
                 timeout: int = 1800) -> ChapterResult:
    """Execute one notebook in its own folder; write ``out_dir/<name>.ipynb`` and ``.html``."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    title, summary = describe(nb)
    n_code = sum(c.cell_type == "code" for c in nb.cells)
    bar = tqdm(total=n_code, desc=path.stem, unit="cell", leave=True)
    env_quick = os.environ.get("LM_COURSE_QUICK")
    os.environ["LM_COURSE_QUICK"] = "1" if quick else "0"
    # The kernel's own log (e.g. a notice that it talks to us over local TCP) would break up
    # the progress bars; the notebook's warnings still land in its outputs as usual.
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}},
                            extra_arguments=["--IPKernelApp.log_level=ERROR"],
                            on_cell_executed=lambda **_: bar.update(1))
    error = None
    start = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as err:
        error = f"{err.ename}: {err.evalue}"
    except Exception as err:  # kernel died, timeout, ...: still publish what ran
        error = f"{type(err).__name__}: {err}"
    finally:
        seconds = time.perf_counter() - start
        bar.close()
        if env_quick is None:
            os.environ.pop("LM_COURSE_QUICK", None)
        else:
            os.environ["LM_COURSE_QUICK"] = env_quick
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out_dir / f"{path.stem}.ipynb", nbformat.writes(nb))
    copy_assets(out_dir)
    write_text_atomic(out_dir / f"{path.stem}.html", export_html(nb, title or path.stem))
    return ChapterResult(path.stem, title, summary, seconds, error)


def write_index(results: list[ChapterResult], out_dir: Path, quick: bool) -> Path:
    """``index.html``: one row per chapter with a link, summary, status and run time."""
    rows = []
    for r in results:
        status = "ok" if r.error is None else f"failed: {html.escape(r.error)}"
        rows.append(f"<tr><td><a href='{r.name}.html'>{html.escape(r.title or r.name)}</a></td>"
                    f"<td>{html.escape(r.summary)}</td><td>{status}</td>"
                    f"<td style='text-align:right'>{r.seconds:.0f} s</td></tr>")
    total = sum(r.seconds for r in results)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>LM Course</title>
<style>body{{font-family:system-ui,sans-serif;max-width:70em;margin:2em auto;padding:0 1em}}
table{{border-collapse:collapse;width:100%}}td,th{{border-bottom:1px solid #ddd;padding:.5em;
text-align:left;vertical-align:top}}</style></head><body>
<h1>LM Course: how language models work</h1>
<p>Executed notebooks ({"quick" if quick else "full"} mode), {time.strftime("%Y-%m-%d %H:%M")},
{total:.0f} s in all.</p>
<table><tr><th>chapter</th><th>what it covers</th><th>status</th><th>run time</th></tr>
{chr(10).join(rows)}
</table></body></html>
"""
    out = out_dir / "index.html"
    write_text_atomic(out, page)
    return out


def run_course(out_dir: str | os.PathLike = ROOT / "build", quick: bool = False,
               only: list[str] | None = None,
               folder: str | os.PathLike = NOTEBOOKS) -> list[ChapterResult]:
    """Execute every chapter notebook and publish ``out_dir/index.html``; see the module doc."""
    out_dir = Path(out_dir)
    paths = chapter_notebooks(folder, only)
    results = []
    for i, path in enumerate(paths, 1):
        print(f"[{i}/{len(paths)}] {path.name}", flush=True)
        r = run_notebook(path, out_dir, quick=quick)
        results.append(r)
        print(f"    {'ok' if r.error is None else 'FAILED: ' + r.error} ({r.seconds:.0f} s)",
              flush=True)
        write_index(results, out_dir, quick)  # an up-to-date index even if interrupted
    return results
