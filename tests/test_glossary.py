"""The bilingual glossary (docs/glossary.md): well-formed, and it covers every term the
chapter notebooks put in bold.

A bold span counts as a *term* unless it is a label or a sentence (it ends in ``.``, ``:``,
``?`` or ``!``), code or maths (backticks, ``$``, ``=``), a number, longer than three words,
or one of the words below that the notebooks bold for emphasis only. Terms are compared
normalised: lower case, hyphens and runs of spaces as one space, a final plural ``s`` dropped.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GLOSSARY = ROOT / "docs" / "glossary.md"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))

# bold used for emphasis in running text, not for a technical term
EMPHASIS = {
    "a character codec", "abstracts", "adjacent pair", "always with coverage", "before",
    "carrying", "check", "checkpoints everything", "chunks", "closed", "contiguously",
    "counting", "enough", "evaluation", "extracts", "generation", "independent", "infinite",
    "is", "jointly", "last", "learned linear projections", "log", "loop", "loops",
    "memorising", "merged", "model", "no warm-up", "not", "not directly comparable", "one",
    "opposite", "output", "over the keys", "positions", "previous position", "resetting",
    "reviews", "rotation", "sentences", "shifted by one", "split", "summary", "three",
    "training", "scored on spans", "with attention", "without attention", "words", "characters",
    "the marker, wherever it is", "all", "alone", "brittle", "mean", "measure", "word",
    "continuing a word", "one training window", "human", "real text it was not fitted on",
    "two different loops",
}

ROW = re.compile(r"^\|(?P<cells>.+)\|\s*$")
TERM = re.compile(r"^\*\*(?P<term>[^*]+)\*\*(?: \(also: (?P<also>[^)]+)\))?$")
CHAPTER_LINK = re.compile(r"\[(?P<label>[^\]]+)\]\((?P<target>[^)]+)\)")
CJK = re.compile(r"[\u4e00-\u9fff]")


def normalise(term: str) -> str:
    """'Causal masks' -> 'causal mask'; 'warm-up' and 'warm up' compare equal."""
    t = re.sub(r"[\s\-]+", " ", term.strip().lower())
    words = t.split(" ")
    last = words[-1]
    if last.endswith("ies") and len(last) > 4:
        last = last[:-3] + "y"
    elif last.endswith(("xes", "ches", "shes", "sses")):
        last = last[:-2]  # boxes -> box, classes -> class
    elif last.endswith("s") and not last.endswith("ss") and len(last) > 3:
        last = last[:-1]
    return " ".join(words[:-1] + [last])


def glossary_rows() -> list[dict]:
    rows = []
    for lineno, line in enumerate(GLOSSARY.read_text(encoding="utf-8").splitlines(), 1):
        m = ROW.match(line)
        if not m:
            continue
        cells = [c.strip() for c in m["cells"].split("|")]
        if cells[0] in ("English", "") or set(cells[0]) <= set("-: "):
            continue  # a header or separator row
        rows.append({"line": lineno, "cells": cells})
    return rows


def parsed_entries() -> list[dict]:
    out = []
    for row in glossary_rows():
        cells = row["cells"]
        assert len(cells) == 4, f"glossary line {row['line']}: want 4 cells, got {cells}"
        english, chinese, definition, chapter = cells
        m = TERM.match(english)
        assert m, f"glossary line {row['line']}: English cell {english!r} is not **term**"
        names = [m["term"]] + ([a.strip() for a in m["also"].split(";")] if m["also"] else [])
        out.append({"line": row["line"], "names": names, "chinese": chinese,
                    "definition": definition, "chapter": chapter})
    return out


def bold_terms() -> dict[str, set[str]]:
    _emphasis = {normalise(e) for e in EMPHASIS}
    """normalised term -> notebooks that bold it."""
    found: dict[str, set[str]] = {}
    for path in NOTEBOOKS:
        nb = json.loads(path.read_text(encoding="utf-8"))
        for cell in nb["cells"]:
            if cell["cell_type"] != "markdown":
                continue
            text = "".join(cell["source"])
            for span in re.findall(r"\*\*(.+?)\*\*", text, flags=re.S):
                span = re.sub(r"\s*\(.*?\)", "", span)  # "rotary (RoPE)" -> "rotary"
                span = " ".join(span.replace(">", " ").split())
                if (not span or span[-1] in ".:?!" or any(ch in span for ch in "`$=")
                        or span[0].isdigit() or span.startswith("(")
                        or len(span.split()) > 3 or normalise(span) in _emphasis):
                    continue
                found.setdefault(normalise(span), set()).add(path.name)
    return found


def test_glossary_is_well_formed():
    entries = parsed_entries()
    assert len(entries) >= 150
    seen: dict[str, int] = {}
    for e in entries:
        for name in e["names"]:
            key = normalise(name)
            assert key not in seen, (f"glossary line {e['line']}: {name!r} already defined "
                                     f"on line {seen[key]}")
            seen[key] = e["line"]
        assert CJK.search(e["chinese"]), f"line {e['line']}: no Chinese term in {e['chinese']!r}"
        words = e["definition"].split()
        assert 4 <= len(words) <= 45, f"line {e['line']}: definition should be one line"
        assert e["definition"][-1] == ".", f"line {e['line']}: definition should end in '.'"


def test_every_chapter_reference_exists():
    names = {p.name for p in NOTEBOOKS}
    for e in parsed_entries():
        links = CHAPTER_LINK.findall(e["chapter"])
        if e["chapter"].startswith("guide"):
            assert not links  # the guide mentions it; no chapter of the course teaches it
            continue
        assert links, f"line {e['line']}: chapter cell {e['chapter']!r} has no link"
        for label, target in links:
            assert target.startswith("../notebooks/"), target
            name = target.removeprefix("../notebooks/")
            assert name in names, f"line {e['line']}: {target} does not exist"
            assert name.startswith(label + "_"), f"line {e['line']}: label {label} vs {name}"


def test_every_bold_term_in_the_notebooks_is_in_the_glossary():
    defined = {normalise(n) for e in parsed_entries() for n in e["names"]}
    missing = {t: sorted(nbs) for t, nbs in bold_terms().items() if t not in defined}
    assert not missing, f"bold terms missing from docs/glossary.md: {missing}"


def test_the_guides_own_terms_are_used():
    chinese = " ".join(e["chinese"] for e in parsed_entries())
    for term in ("词嵌入", "循环神经网络", "长短时记忆网络", "自注意力", "多头注意力",
                 "前馈神经网络", "交叉熵损失", "随机梯度下降", "联邦学习", "梯度消失"):
        assert term in chinese, term


@pytest.mark.parametrize("term, expected", [
    ("Causal masks", "causal mask"), ("warm-up", "warm up"), ("Loss", "loss"),
    ("top-p", "top p"), ("probabilities", "probability"), ("LSTMs", "lstm"),
    ("black boxes", "black box"), ("classes", "class"),
])
def test_normalise(term, expected):
    assert normalise(term) == expected
