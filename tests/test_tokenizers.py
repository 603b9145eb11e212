import json

import pytest

from lm_course.data import load_text
from lm_course.tokenizers import (
    GPT2_PATTERN,
    BPETokenizer,
    CharTokenizer,
    Tokenizer,
    WordTokenizer,
    _merge,
    textbook_bpe_merges,
)

UNICODE = ("Héllo, wörld! 你好，世界。Ünïcödé ✓ 🙂 naïve café — 日本語のテキスト"
           "\n\ttabs  and  spaces")


@pytest.fixture(scope="module")
def corpus():
    return load_text("lee", max_chars=200_000)


def test_known_answer_aaabdaaabac():
    tok = BPETokenizer().train("aaabdaaabac", vocab_size=259, pattern=None)
    # aa -> 256, then ab -> 257 (ties go to the smaller ids), then (aa)(ab) -> 258
    assert tok.merges == [(97, 97), (97, 98), (256, 257)]
    assert tok.encode("aaabdaaabac") == [258, 100, 258, 97, 99]
    assert tok.decode([258]) == "aaab"


def test_merges_are_learned_in_the_order_of_the_textbook_algorithm(corpus):
    text = corpus[:12_000]
    fast = BPETokenizer().train(text, vocab_size=256 + 50)
    assert fast.merges == textbook_bpe_merges(text, 50, GPT2_PATTERN)
    fast_raw = BPETokenizer().train(text[:3000], vocab_size=256 + 30, pattern=None)
    assert fast_raw.merges == textbook_bpe_merges(text[:3000], 30, None)


def test_merge_is_left_to_right_and_non_overlapping():
    assert _merge([1, 1, 1, 2], (1, 1), 9) == [9, 1, 2]
    assert _merge([1, 1, 1, 1], (1, 1), 9) == [9, 9]


@pytest.mark.parametrize("make", [
    lambda text: CharTokenizer().train(text + UNICODE),
    lambda text: BPETokenizer().train(text, vocab_size=400),
    lambda text: BPETokenizer().train(text[:20_000], vocab_size=300, pattern=None),
])
def test_round_trip_on_corpora_and_arbitrary_unicode(make, corpus):
    tok = make(corpus)
    wiki = load_text("wiki", max_chars=50_000)
    for text in [corpus[:50_000], UNICODE, ""] + ([wiki] if isinstance(tok, BPETokenizer) else []):
        assert tok.decode(tok.encode(text)) == text


def test_bpe_compresses_and_handles_any_bytes(corpus):
    tok = BPETokenizer().train(corpus, vocab_size=512)
    ids = tok.encode(corpus)
    assert len(ids) < 0.55 * len(corpus.encode())  # learned merges shorten real text
    assert max(ids) < tok.vocab_size == 512
    zh = "语言模型预测下一个词元。"
    assert tok.decode(tok.encode(zh)) == zh  # unseen script: falls back to bytes
    assert tok.decode(tok.encode(zh)[:1]) == "\ufffd"  # half a character decodes as U+FFFD


def test_special_tokens(corpus):
    tok = BPETokenizer().train(corpus, vocab_size=300, special_tokens=["<|endoftext|>"])
    eot = tok.special_tokens["<|endoftext|>"]
    assert eot == 299 and tok.vocab_size == 300
    ids = tok.encode("one.<|endoftext|>two")
    assert ids.count(eot) == 1 and tok.decode(ids) == "one.<|endoftext|>two"
    assert eot not in tok.encode("<|endoftext|>", allowed_special=False)


def test_training_splits_at_special_tokens_like_encode():
    # "x <|endoftext|>y": the text holds "x", " " and "y", never the chunk " y"; replacing the
    # special token by a space (the old behaviour) made BPE learn " y" from text that is not there
    eot = "<|endoftext|>"
    text = ("x " + eot + "y") * 50
    tok = BPETokenizer().train(text, vocab_size=300, special_tokens=[eot])
    learned = [tok.token_bytes(256 + k) for k in range(len(tok.merges))]
    assert learned, "some merge should be learned ('yx' occurs 49 times)"
    assert all(b" y" not in t and b"<" not in t and b"|" not in t for t in learned), learned
    # with no pre-tokeniser the special token is the only boundary: same merges as BPE on the
    # pieces between the special tokens (the textbook trainer, the pieces as its chunks)
    pieces = ["aab ab", "ab", "b aab", "aab ab"]
    tok = BPETokenizer().train(eot.join(pieces), vocab_size=270, special_tokens=[eot],
                               pattern=None)
    assert tok.merges == textbook_bpe_merges("|".join(pieces), 14, pattern=r"[^|]+")
    spaced = BPETokenizer().train(" ".join(pieces), vocab_size=270, pattern=None)
    assert tok.merges != spaced.merges  # the old rule (a space for each special) differs here
    # training and encoding agree: the training text encodes with no merge across eot
    ids = tok.encode(eot.join(pieces))
    assert ids.count(tok.special_tokens[eot]) == len(pieces) - 1
    assert tok.decode(ids) == eot.join(pieces)


def test_word_tokenizer_unknowns_and_limits(corpus):
    tok = WordTokenizer().train(corpus, min_count=3)
    assert tok.words[0] == "<unk>"
    ids = tok.encode("The government said xyzzyq.")
    assert tok.decode(ids) == "the government said <unk> ."
    small = WordTokenizer().train(corpus, max_vocab=50)
    assert small.vocab_size == 50
    assert small.words[1] == "the"  # most frequent first


@pytest.mark.parametrize("tok", [
    CharTokenizer().train("abc"),
    WordTokenizer().train("a b c"),
    BPETokenizer().train("abcabc abcabc", vocab_size=260, special_tokens=["<pad>"]),
])
def test_save_load_is_plain_json_and_exact(tok, tmp_path):
    path = tok.save(tmp_path / "tok.json")
    payload = json.loads(path.read_text())
    assert payload["kind"] == tok.kind
    loaded = Tokenizer.load(path)
    assert type(loaded) is type(tok) and loaded.vocab_size == tok.vocab_size
    text = "abc cab <pad> a"
    if isinstance(tok, CharTokenizer):
        text = "cab"
    assert loaded.encode(text) == tok.encode(text)
    other = CharTokenizer if not isinstance(tok, CharTokenizer) else WordTokenizer
    with pytest.raises(ValueError, match="holds a"):
        other.load(path)
    assert list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize("call, err, msg", [
    (lambda: BPETokenizer().train("abc", vocab_size=255), ValueError, "vocab_size must be >= 256"),
    (lambda: BPETokenizer().train("abc", vocab_size=256, special_tokens=["<s>"]), ValueError,
     "vocab_size must be >= 257"),
    (lambda: BPETokenizer().train(b"abc", vocab_size=300), TypeError, "text must be str"),
    (lambda: BPETokenizer().train("abc", vocab_size=300, special_tokens="<s>"), TypeError,
     "special_tokens must be a list of strings such as"),
    (lambda: BPETokenizer().train("abc", vocab_size=300, special_tokens=[""]), ValueError,
     "special_tokens must hold non-empty strings, got ''"),
    (lambda: BPETokenizer().train("abc", vocab_size=300, special_tokens=["<s>", 3]), TypeError,
     "special_tokens must hold strings, got int 3"),
    (lambda: BPETokenizer().train("abc", vocab_size=300, special_tokens=["<s>", "<s>"]),
     ValueError, r"special_tokens lists \['<s>'\] more than once"),
    (lambda: BPETokenizer().encode(None), TypeError, "text must be str"),
    (lambda: BPETokenizer().decode([256]), ValueError, r"id 256 is not in the vocabulary"),
    (lambda: BPETokenizer().decode([-1]), ValueError, "not in the vocabulary"),
    (lambda: BPETokenizer().decode("abc"), TypeError, "sequence of ints"),
    (lambda: BPETokenizer().decode([1.0]), TypeError, "must contain ints"),
    (lambda: CharTokenizer().train(""), ValueError, "text is empty"),
    (lambda: CharTokenizer().train("ab").encode("abc"), ValueError, "character 'c'"),
    (lambda: WordTokenizer().train("a", min_count=0), ValueError, "min_count must be >= 1"),
])
def test_bad_input_is_a_clear_error(call, err, msg):
    with pytest.raises(err, match=msg):
        call()
