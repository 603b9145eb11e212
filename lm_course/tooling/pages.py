"""HTML pages and slide decks that work with no network: the assets come from installed packages.

nbconvert's templates load reveal.js, MathJax, Mermaid, jQuery, require.js and the widget
manager from CDNs, so an exported notebook opened offline is unstyled, with raw ``$$`` and
Mermaid source. The course instead copies what its pages need from packages that installed
with it into ``build/assets/`` and links them relatively, so the whole ``build/`` folder works
from a USB stick:

=============  ===========================  =========================================
asset          package (PyPI)               what is copied
=============  ===========================  =========================================
reveal.js 5    ``sphinx-revealjs``          ``dist/`` (core, white theme, fonts), notes
MathJax 2.7    ``jupyter-server-mathjax``   core, TeX input, HTML-CSS output, STIX fonts
Mermaid 9      ``chartstag``                ``mermaid.min.js`` (from the zip it ships)
=============  ===========================  =========================================

Saved Jupyter widgets (the tqdm progress bars) are drawn from the state the run saved, as
plain HTML (:func:`static_widgets`), instead of by the widget manager from a CDN.
:func:`off_machine_links` lists every address in a page that would need the network; the
tests assert it is empty for every page and deck the course writes.

>>> off_machine_links('<img src="a.png"><script src="https://x.org/a.js"></script>')
['https://x.org/a.js']
"""

from __future__ import annotations

import copy
import html
import importlib.util
import re
import shutil
import zipfile
from html.parser import HTMLParser
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent / "templates"
ASSETS = "assets"  # folder inside build/ that holds the copied assets
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def _package_dir(name: str, pip_name: str) -> Path:
    """The folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the package {pip_name!r} is not installed; the offline pages "
                                f"take their assets from it (pip install {pip_name})")
    return Path(next(iter(spec.submodule_search_locations)))


def _copy_tree(src: Path, dst: Path, skip: tuple[str, ...] = (), only: str = "",
               kept: set[Path] | None = None) -> None:
    """Copy ``src`` (or just its file ``only``) into ``dst``, leaving out the paths that start
    with one of ``skip``; files already there with the same size are left alone. Every
    target is added to ``kept``."""
    for path in [src / only] if only else sorted(src.rglob("*")):
        rel = path.relative_to(src).as_posix()
        if path.is_dir() or any(rel.startswith(s) for s in skip) or rel.endswith(".map"):
            continue
        target = dst / rel
        if kept is not None:
            kept.add(target)
        if target.exists() and target.stat().st_size == path.stat().st_size:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)


def copy_assets(out_dir: str | Path) -> Path:
    """Copy reveal.js, MathJax and Mermaid into ``out_dir/assets/``; return that folder.

    Only what the pages use is copied (about 10 MB); a second call copies nothing new, and
    files in that folder that the pages do not use (say, from an older version) are removed.
    """
    dest = Path(out_dir) / ASSETS
    kept: set[Path] = set()
    reveal = _package_dir("sphinx_revealjs", "sphinx-revealjs") / "_static" / "revealjs"
    for name in ("reveal.js", "reveal.css", "reset.css", "theme/white.css"):
        _copy_tree(reveal / "dist", dest / "reveal" / "dist", only=name, kept=kept)
    _copy_tree(reveal / "dist" / "theme" / "fonts" / "source-sans-pro",
               dest / "reveal" / "dist" / "theme" / "fonts" / "source-sans-pro", kept=kept)
    _copy_tree(reveal / "plugin" / "notes", dest / "reveal" / "plugin" / "notes", kept=kept)
    _copy_tree(reveal, dest / "reveal", only="LICENSE", kept=kept)

    mathjax = _package_dir("jupyter_server_mathjax", "jupyter-server-mathjax") / "static"
    # the SVG output and the screen-reader maps are large and unused by the HTML-CSS output
    _copy_tree(mathjax, dest / "mathjax", skip=("jax/output/SVG", "extensions/a11y"),
               kept=kept)

    mermaid = dest / "mermaid" / "mermaid.min.js"
    archive = _package_dir("chartstag", "chartstag") / "mermaid" / "data" / "mermaid_min.zip"
    with zipfile.ZipFile(archive) as zf:
        info = zf.getinfo("mermaid.min.js")
        if not mermaid.exists() or mermaid.stat().st_size != info.file_size:
            mermaid.parent.mkdir(parents=True, exist_ok=True)
            mermaid.write_bytes(zf.read(info))
    readme = (
        "Copied by the LM Course from installed packages, so the pages work offline:\n"
        "reveal/   reveal.js (MIT), from the PyPI package sphinx-revealjs\n"
        "mathjax/  MathJax 2.7 (Apache-2.0), from the PyPI package jupyter-server-mathjax\n"
        "mermaid/  Mermaid (MIT), from the PyPI package chartstag\n")
    if not (dest / "README.txt").exists() or (dest / "README.txt").read_text() != readme:
        (dest / "README.txt").write_text(readme, encoding="utf-8")
    kept |= {mermaid, dest / "README.txt"}
    for path in sorted(dest.rglob("*"), reverse=True):  # files first, then emptied folders
        if path.is_file() and path not in kept:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    return dest


# -- saved widgets as static HTML ---------------------------------------------------------------

def _widget_html(model_id: str, models: dict) -> str | None:
    """HTML for one saved widget model (boxes, HTML, labels, progress bars) or None."""
    model = models.get(model_id)
    if model is None:
        return None
    name, state = model.get("model_name", ""), model.get("state", {})
    if name in ("HBoxModel", "VBoxModel"):
        parts = [_widget_html(str(c).removeprefix("IPY_MODEL_"), models)
                 for c in state.get("children", [])]
        if any(p is None for p in parts):
            return None
        direction = "row" if name == "HBoxModel" else "column"
        return (f'<div class="lm-widget" style="display:flex;flex-direction:{direction};'
                f'gap:.5em;align-items:center">{"".join(parts)}</div>')
    if name == "HTMLModel":
        return f"<span>{state.get('value', '')}</span>"  # widget HTML, as the kernel set it
    if name in ("LabelModel", "TextModel"):
        return f"<span>{html.escape(str(state.get('value', '')))}</span>"
    if name in ("FloatProgressModel", "IntProgressModel"):
        style = state.get("bar_style") or ""
        return (f'<progress class="lm-progress {html.escape(style)}" '
                f'value="{state.get("value", 0)}" max="{state.get("max", 100)}"></progress>')
    return None


def static_widgets(nb):
    """A copy of ``nb`` whose widget outputs are HTML drawn from the saved widget state.

    A widget the state does not describe keeps its text fallback; the saved state itself is
    dropped, so no page asks for the widget manager.
    """
    nb = copy.deepcopy(nb)
    saved = nb.metadata.pop("widgets", {}).get(WIDGET_STATE, {})
    models = saved.get("state", {})
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            view = out.get("data", {}).pop(WIDGET_VIEW, None)
            if view is None:
                continue
            drawn = _widget_html(view.get("model_id", ""), models)
            if drawn is not None:
                out["data"]["text/html"] = drawn
    return nb


# -- exporting -----------------------------------------------------------------------------------

def export_html(nb, title: str, *, slides: bool = False, prefix: str = ASSETS,
                **reveal) -> str:
    """The page (or, with ``slides=True``, the reveal.js deck) of ``nb`` as one HTML string.

    ``prefix`` is the relative address of the assets folder seen from where the page is
    written (``"assets"`` beside it, ``"../assets"`` from ``slides/``).
    """
    from nbconvert import HTMLExporter, SlidesExporter

    if not isinstance(title, str) or not title.strip():
        raise TypeError(f"title must be a non-empty string (the page's <title>), got {title!r}")
    nb = static_widgets(nb)
    nb.metadata["title"] = title
    common = dict(extra_template_basedirs=[str(TEMPLATES)],
                  extra_template_paths=[str(TEMPLATES / "shared")],
                  mathjax_url=f"{prefix}/mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full",
                  mermaid_js_url=f"{prefix}/mermaid/mermaid.min.js",
                  require_js_url="", jquery_url="", widget_renderer_url="")
    if slides:
        exporter = SlidesExporter(template_name="lm_reveal", reveal_theme="white",
                                  reveal_url_prefix=f"{prefix}/reveal", **common, **reveal)
    else:
        exporter = HTMLExporter(template_name="lm_lab", **common)
    body, _ = exporter.from_notebook_node(nb)
    return body


# -- checking ------------------------------------------------------------------------------------

_CSS_URL = re.compile(r"""url\(\s*['"]?([^'")]+)""")
_IMPORT = re.compile(r"""(?:\bimport\s*\(\s*|\bfrom\s+|@import\s+)['"]([^'"]+)['"]""")


def _off_machine(url: str) -> bool:
    url = url.strip()
    if not url or url.startswith(("#", "data:", "file:", "about:", "javascript:")):
        return False
    return bool(re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*:|//", url))  # a scheme or a host


class _Links(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.urls: list[str] = []
        self._in = ""

    def handle_starttag(self, tag, attrs):
        for key, value in attrs:
            if value and key in ("src", "href", "data", "poster", "action", "formaction"):
                self.urls.append(value)
            elif value and key == "srcset":
                self.urls += [part.split()[0] for part in value.split(",") if part.strip()]
            elif value and key == "style":
                self.urls += _CSS_URL.findall(value)
        self._in = tag if tag in ("script", "style") else ""

    def handle_endtag(self, tag):
        self._in = ""

    def handle_data(self, data):
        if self._in == "style":
            self.urls += _CSS_URL.findall(data) + _IMPORT.findall(data)
        elif self._in == "script":
            self.urls += _IMPORT.findall(data)


def off_machine_links(page: str) -> list[str]:
    """Every address in the HTML ``page`` that points off the machine (http, https, //host):
    ``src``/``href``/``srcset``, CSS ``url()`` and ``@import``, and script ``import``s.
    Relative paths, ``file:``, ``data:`` and ``#anchors`` are fine."""
    parser = _Links()
    parser.feed(page)
    return [u for u in parser.urls if _off_machine(u)]


def off_machine_files(folder: str | Path) -> dict[str, list[str]]:
    """:func:`off_machine_links` of every ``.html`` and ``.css`` file under ``folder``
    (only the files that have some)."""
    found = {}
    for path in sorted(Path(folder).rglob("*")):
        if path.suffix in (".html", ".css") and path.is_file():
            links = off_machine_links(path.read_text(encoding="utf-8", errors="replace")
                                      if path.suffix == ".html" else
                                      f"<style>{path.read_text(encoding='utf-8')}</style>")
            if links:
                found[str(path.relative_to(folder))] = links
    return found
