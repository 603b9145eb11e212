"""Offline pages: assets copied from installed packages, saved widgets drawn as HTML, the
chapter title on every page, and no address that leaves the machine."""

import struct
import zlib

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from lm_course.tooling import pages

VIEW = pages.WIDGET_VIEW


def _png(width: int, height: int) -> str:
    """A real (grey) PNG of the given size, base64 as notebooks store it."""
    import base64

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    raw = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0,
                                                             0, 0, 0))
           + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    return base64.b64encode(raw).decode()


def _widget_state():
    """What nbclient saves for a finished tqdm bar: HBox(HTML, FloatProgress, HTML)."""
    models = {
        "box": {"model_name": "HBoxModel", "state": {
            "children": ["IPY_MODEL_left", "IPY_MODEL_bar", "IPY_MODEL_right"]}},
        "left": {"model_name": "HTMLModel", "state": {"value": "train: 100%"}},
        "bar": {"model_name": "FloatProgressModel", "state": {"value": 40.0, "max": 40.0,
                                                               "bar_style": "success"}},
        "right": {"model_name": "HTMLModel", "state": {"value": " 40/40 [00:02&lt;00:00]"}},
        "slider": {"model_name": "IntSliderModel", "state": {"value": 3}},
    }
    return {pages.WIDGET_STATE: {"state": models, "version_major": 2, "version_minor": 0}}


def chapter():
    """A small executed chapter: math, a diagram, a plot, a progress bar, an odd widget."""
    bar = new_output("display_data", data={VIEW: {"model_id": "box", "version_major": 2},
                                           "text/plain": "  0%|          | 0/40"})
    odd = new_output("display_data", data={VIEW: {"model_id": "slider", "version_major": 2},
                                           "text/plain": "IntSlider(value=3)"})
    plot = new_output("display_data", data={"image/png": _png(64, 48), "text/plain": "<Figure>"})
    return new_notebook(cells=[
        new_markdown_cell("# 99 · A chapter\n\nThe loss is $$\\mathcal{L} = -\\log p(x)$$"),
        new_markdown_cell("```mermaid\nflowchart LR\n    A[text] --> B[tokens]\n```"),
        new_code_cell("train()", outputs=[bar, odd, plot]),
    ], metadata={"widgets": _widget_state()})


@pytest.mark.parametrize("page, expected", [
    ('<script src="https://cdn.example/a.js"></script>', ["https://cdn.example/a.js"]),
    ('<link rel="stylesheet" href="//fonts.example/css">', ["//fonts.example/css"]),
    ('<img srcset="a.png 1x, http://x.example/b.png 2x">', ["http://x.example/b.png"]),
    ("<style>@import url(https://fonts.example/x.css);</style>", ["https://fonts.example/x.css"]),
    ('<div style="background: url(\'http://x.example/i.png\')"></div>', ["http://x.example/i.png"]),
    ("<script type='module'>import m from 'https://cdn.example/m.mjs';</script>",
     ["https://cdn.example/m.mjs"]),
    ("<script>const m = await import(\"https://cdn.example/m.mjs\");</script>",
     ["https://cdn.example/m.mjs"]),
    ('<a href="#part-2">x</a><img src="data:image/png;base64,AA"><a href="file:///tmp/a">',
     []),
    ('<script src="../assets/reveal/dist/reveal.js"></script><a href="01_x.html">next</a>', []),
])
def test_off_machine_links_finds_every_kind_of_address(page, expected):
    assert pages.off_machine_links(page) == expected


def test_saved_widgets_become_html_and_the_state_is_dropped():
    nb = chapter()
    before = nbformat.writes(nb)
    out = pages.static_widgets(nb)
    bar, odd, plot = out.cells[2].outputs
    html = bar["data"]["text/html"]
    assert VIEW not in bar["data"] and "widgets" not in out.metadata
    assert 'value="40.0" max="40.0"' in html and "success" in html
    assert html.index("train: 100%") < html.index("<progress") < html.index("40/40")
    assert "text/html" not in odd["data"] and odd["data"]["text/plain"] == "IntSlider(value=3)"
    assert VIEW not in odd["data"]  # no widget manager will be asked for it
    assert plot["data"]["image/png"] == nb.cells[2].outputs[2]["data"]["image/png"]
    assert nbformat.writes(nb) == before  # the input is left alone


def test_copy_assets_copies_what_the_pages_load_once(tmp_path):
    dest = pages.copy_assets(tmp_path)
    for rel in ["reveal/dist/reveal.js", "reveal/dist/reveal.css", "reveal/dist/theme/white.css",
                "reveal/plugin/notes/notes.js", "reveal/LICENSE", "mathjax/MathJax.js",
                "mathjax/config/TeX-AMS-MML_HTMLorMML-full.js", "mermaid/mermaid.min.js"]:
        assert (dest / rel).stat().st_size > 1000 or rel.endswith("LICENSE"), rel
    assert not (dest / "reveal/dist/theme/simple.css").exists()  # it loads Google Fonts
    assert pages.off_machine_files(dest) == {}  # not even a font from the network
    stamps = {p: p.stat().st_mtime_ns for p in dest.rglob("*") if p.is_file()}
    (dest / "reveal/dist/theme/old.css").write_text("@import url(https://x.example/f.css);")
    pages.copy_assets(tmp_path)
    assert not (dest / "reveal/dist/theme/old.css").exists()  # left over from before: removed
    assert {p: p.stat().st_mtime_ns for p in dest.rglob("*") if p.is_file()} == stamps


@pytest.mark.parametrize("slides, prefix, title", [
    (False, "assets", "<title>99 · A chapter</title>"),
    (True, "../assets", "<title>99 · A chapter slides</title>"),
])
def test_pages_and_decks_load_only_local_files_and_carry_the_title(slides, prefix, title):
    page = pages.export_html(chapter(), "99 · A chapter", slides=slides, prefix=prefix)
    assert pages.off_machine_links(page) == []
    assert title in page and "<title>Notebook" not in page
    assert f'src="{prefix}/mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full"' in page
    assert f'src="{prefix}/mermaid/mermaid.min.js"' in page
    assert '<pre class="mermaid">' in page and "<progress" in page
    assert "require.js" not in page and "embed-amd" not in page
    assert (f'src="{prefix}/reveal/dist/reveal.js"' in page) == slides


@pytest.mark.parametrize("title", ["", "   ", None, 3])
def test_export_html_wants_a_title(title):
    with pytest.raises(TypeError, match="title must be a non-empty string"):
        pages.export_html(chapter(), title)


def test_a_missing_asset_package_is_named(monkeypatch):
    monkeypatch.setattr(pages.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match=r"'sphinx-revealjs' is not installed.*pip "
                                                r"install sphinx-revealjs"):
        pages.copy_assets("unused")
