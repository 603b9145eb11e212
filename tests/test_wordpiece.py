"""WordPiece: the algorithm on small vocabularies, bad input, and token-for-token equality with
Hugging Face's tokenizer for all-MiniLM-L6-v2 on the course's real corpora."""

import os
import zipfile

import pytest
import torch

from lm_course.tokenizers import WordPieceTokenizer as ReExported
from lm_course.wordpiece import (
    MINILM_MODEL_DIR,
    WordPieceTokenizer,
    basic_tokenize,
    load_minilm_tokenizer,
    wordpiece_split,
)

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##aff", "##able", "##a", "a",
         "play", "##ing", "##in", "p", "##l", "!", ",", "语", "言", "cafe", "x", "##x"]


@pytest.fixture(scope="module")
def small():
    return WordPieceTokenizer.from_vocab(VOCAB)


def test_reexported_from_tokenizers():
    assert ReExported is WordPieceTokenizer


@pytest.mark.parametrize("word, pieces", [
    ("playing", ["play", "##ing"]),  # longest first: "##ing", not "##in" + ...
    ("unaffable", ["un", "##aff", "##able"]),
    ("aaa", ["a", "##a", "##a"]),
    ("ply", ["[UNK]"]),  # "p", "##l", then nothing for "y" as a continuation -> whole word
    ("xx", ["x", "##x"]),
    ("zzz", ["[UNK]"]),
])
def test_greedy_longest_match(word, pieces):
    assert wordpiece_split(word, set(VOCAB)) == pieces


def test_long_word_is_unknown():
    vocab = {"x", "##x"}
    assert wordpiece_split("x" * 100, vocab) == ["x"] + ["##x"] * 99
    assert wordpiece_split("x" * 101, vocab) == ["[UNK]"]
    assert wordpiece_split("xxx", vocab, max_chars=2) == ["[UNK]"]


@pytest.mark.parametrize("text, words", [
    ("Héllo,\u00a0Wörld!", ["hello", ",", "world", "!"]),
    ("a\tb\nc\r\nd", ["a", "b", "c", "d"]),
    ("zero\u200bwidth\x00x\ufffd", ["zerowidthx"]),  # format / NUL / U+FFFD dropped
    ("语言model", ["语", "言", "model"]),
    ("$5+3", ["$", "5", "+", "3"]),  # ASCII symbols split like punctuation
    ("", []),
    ("  ", []),
])
def test_basic_tokenize(text, words):
    assert basic_tokenize(text) == words


def test_cased_keeps_accents_and_case():
    assert basic_tokenize("Héllo", lowercase=False) == ["Héllo"]
    assert basic_tokenize("Héllo", lowercase=False, strip_accents=True) == ["Hello"]


def test_encode_batch_and_decode(small):
    assert small.tokenize("Unaffable, café!") == ["un", "##aff", "##able", ",", "cafe", "!"]
    texts = ["play", "unaffable playing 语言 !", "a"]  # the odd (long) one in the middle
    enc = small.batch(texts, max_length=None)
    assert enc["input_ids"].shape == (3, 10)
    assert enc["input_ids"][0].tolist() == [2, 10, 3] + [0] * 7
    assert enc["attention_mask"].sum(1).tolist() == [3, 10, 3]
    assert enc["token_type_ids"].sum().item() == 0
    assert small.decode(enc["input_ids"][1].tolist()) == "unaffable playing 语 言 !"
    for i, t in enumerate(texts):
        n = int(enc["attention_mask"][i].sum())
        assert enc["input_ids"][i, :n].tolist() == small.encode(t)


def test_pairs_and_truncation(small):
    enc = small.batch(["play", "a a a a"], pairs=["a", "un"], max_length=6)
    assert enc["input_ids"][0].tolist() == [2, 10, 3, 9, 3, 0]
    assert enc["token_type_ids"][0].tolist() == [0, 0, 0, 1, 1, 0]
    assert enc["input_ids"][1].tolist() == [2, 9, 9, 3, 5, 3]  # the longer side is cut first
    assert small.encode("a a a a", max_length=4) == [2, 9, 9, 3]


def test_save_load_roundtrip(small, tmp_path):
    small.save(tmp_path / "wp.json")
    again = WordPieceTokenizer.load(tmp_path / "wp.json")
    assert again.encode("unaffable playing") == small.encode("unaffable playing")
    assert again.vocab_size == len(VOCAB)


@pytest.mark.parametrize("call, exc, message", [
    (lambda t: t.encode(3), TypeError, "text must be str"),
    (lambda t: t.batch("one string"), TypeError, "texts must be a non-empty list"),
    (lambda t: t.batch([]), TypeError, "texts must be a non-empty list"),
    (lambda t: t.batch(["a", 1]), TypeError, "texts item must be str"),
    (lambda t: t.batch(["a"], pairs=["a", "b"]), ValueError, "pairs must have one item"),
    (lambda t: t.encode("a", max_length=2), ValueError, "max_length"),
    (lambda t: t.decode([99]), ValueError, "id 99 is not in the vocabulary"),
    (lambda t: WordPieceTokenizer.from_vocab(["a", "b"]), ValueError, "missing the special"),
    (lambda t: WordPieceTokenizer.from_vocab([]), ValueError, "non-empty list"),
    (lambda t: WordPieceTokenizer.from_vocab("/no/such/vocab.txt"), ValueError,
     "is not a vocab.txt file"),
    (lambda t: WordPieceTokenizer.from_vocab(3), TypeError, "source must be a path"),
    (lambda t: WordPieceTokenizer(VOCAB, max_chars_per_word=0), ValueError,
     "max_chars_per_word"),
])
def test_bad_input(small, call, exc, message):
    with pytest.raises(exc, match=message):
        call(small)


def test_minilm_vocab_from_wheel():
    tok = load_minilm_tokenizer()
    assert tok.vocab_size == 30522
    assert (tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id) == (0, 100, 101, 102)
    assert tok.tokenize("Tokenization!") == ["token", "##ization", "!"]


# ----------------------------------------------------------------------------- vs Hugging Face

transformers = pytest.importorskip(
    "transformers", reason="transformers (dev extra) is needed to compare with Hugging Face")

EDGE_CASES = [
    "Ünïcödé façade naïve café", "İstanbul ǅemal Ωμέγα Привет, мир!", "ß ẞ ﬁ ligature ½ ² Ⅻ",
    "tabs\tand\nnewlines\r\n  x", "zero\u200bwidth joiner\u200d", "nbsp\u00a0and\u3000ideographic",
    "emoji 😀🎉 👍🏽 ❤️ 🇫🇷 👩‍👩‍👧", "हिन्दी भाषा", "日本語のテキスト、カタカナ", "한국어 문장",
    "中文句子，标点。“引号”", "x" * 101, "a" * 100,
    "\x1c\x1f\x0b\x0c\x85 control", "$5+3=8^2 ~|`q`",
    "", "   ", "don't stop-me now... (please)",
]


def _minilm_dir(root):
    from lm_course.package_data import fetch

    with zipfile.ZipFile(fetch("minilm")[0]) as z:
        z.extractall(root, [n for n in z.namelist() if n.startswith(MINILM_MODEL_DIR)])
    return root / MINILM_MODEL_DIR


@pytest.fixture(scope="module")
def hf_tokenizer(tmp_path_factory):
    os.environ["HF_HUB_OFFLINE"] = "1"
    path = _minilm_dir(tmp_path_factory.mktemp("minilm"))
    return transformers.AutoTokenizer.from_pretrained(str(path))


def _corpus_texts() -> dict[str, list[str]]:
    from lm_course import data

    texts = {"lee": data.load_documents("lee")}
    texts["pang_lee"] = [t for split in data.load_polarity("sentences").values()
                         for t, _ in split]
    texts["wnut16"] = [" ".join(toks) for split in data.load_wnut16().values()
                       for toks, _ in split]
    try:
        from lm_course.app_data import load_bible_pairs

        pairs = load_bible_pairs()["test"][:300]
        texts["bible_zh"] = [p["zh"] for p in pairs]
        texts["bible_en"] = [p["en"] for p in pairs]
    except Exception:  # the Bible files are optional here; the written Chinese below is not
        pass
    texts["written_zh"] = ["语言模型把文字变成数字。", "我今天在北京吃了烤鸭，很好吃！",
                           "Transformer 模型（2017年）改变了自然语言处理。"]
    texts["edge"] = EDGE_CASES
    return texts


def test_equal_to_hugging_face_on_course_corpora(hf_tokenizer):
    ours = load_minilm_tokenizer()
    counts, mismatches = {}, []
    for name, texts in _corpus_texts().items():
        counts[name] = len(texts)
        for t in texts:
            expected = hf_tokenizer(t, truncation=True, max_length=512)["input_ids"]
            if ours.encode(t, max_length=512) != expected:
                mismatches.append((name, t[:60]))
    print(f"compared {sum(counts.values())} texts {counts}: {len(mismatches)} mismatches")
    assert sum(counts.values()) > 6000 and "bible_zh" in counts
    assert mismatches == []


def test_batch_equal_to_hugging_face(hf_tokenizer):
    texts = ["Short one.", "A much longer sentence, with commas; and unusual words: zyxwv!", "x"]
    ours = load_minilm_tokenizer().batch(texts, pairs=["b", "second part", "ß"])
    ref = hf_tokenizer(texts, ["b", "second part", "ß"], padding=True, return_tensors="pt")
    for key in ("input_ids", "attention_mask", "token_type_ids"):
        assert torch.equal(ours[key], ref[key]), key
