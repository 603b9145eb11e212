"""Tests for lm_course.challenges.robustness: every corruption makes exactly the promised
number of edits and only the promised kind, is reproducible from its seed without touching
the global random state, the tokenizer measures count what they say, scores under noise use
the per-text seeds, bits per character agree with the training loop's loss, and bad input is
refused with a clear message."""

import math
import random
import string

import pytest
import torch

from lm_course.challenges.robustness import (
    KEYBOARD_NEIGHBOURS,
    KINDS,
    bits_per_char,
    char_ngrams,
    corrupt,
    n_edits,
    score_under_noise,
    tokens_per_word,
    unknown_share,
)
from lm_course.metrics import accuracy
from lm_course.tokenizers import BPETokenizer, CharTokenizer, WordTokenizer
from lm_course.training import evaluate_loss
from lm_course.transformer import GPT, GPTConfig

TEXT = ("Now is the winter of our discontent, made glorious summer by this sun of York; "
        "and all the clouds that lour'd upon our house in the deep bosom of the ocean buried.")
LETTERS = sum(ch in string.ascii_letters for ch in TEXT)


def _diff(a: str, b: str) -> list[int]:
    assert len(a) == len(b)
    return [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]


@pytest.mark.parametrize("rate", [0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 1.0])
def test_n_edits_is_the_rounded_share_of_letters(rate):
    assert n_edits(TEXT, rate) == math.floor(rate * LETTERS + 0.5)
    assert n_edits("a b", 0.25) == 1  # 0.5 rounds up: a small rate still edits


@pytest.mark.parametrize("rate", [0.01, 0.05, 0.2, 1.0])
@pytest.mark.parametrize("seed", [0, 7])
def test_noise_and_case_change_exactly_k_letters_and_nothing_else(rate, seed):
    k = n_edits(TEXT, rate)
    noisy = corrupt(TEXT, rate, "noise", seed)
    cased = corrupt(TEXT, rate, "case", seed)
    for out in (noisy, cased):
        changed = _diff(TEXT, out)
        assert len(changed) == k
        assert all(TEXT[i] in string.ascii_letters for i in changed)
    assert all(noisy[i] in string.ascii_letters and noisy[i].isupper() == TEXT[i].isupper()
               for i in _diff(TEXT, noisy))
    assert all(cased[i] == TEXT[i].swapcase() for i in _diff(TEXT, cased))
    # the same positions for both kinds: the seed decides where, the kind decides what
    assert _diff(TEXT, noisy) == _diff(TEXT, cased)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_substitution_typos_are_keyboard_neighbours(seed):
    out = corrupt(TEXT, 0.2, "typo", seed, ops=("substitute",))
    changed = _diff(TEXT, out)
    assert len(changed) == n_edits(TEXT, 0.2)
    for i in changed:
        assert out[i].lower() in KEYBOARD_NEIGHBOURS[TEXT[i].lower()]
        assert out[i].isupper() == TEXT[i].isupper()


def test_deletion_typos_remove_exactly_k_letters():
    k = n_edits(TEXT, 0.1)
    out = corrupt(TEXT, 0.1, "typo", 3, ops=("delete",))
    assert len(out) == len(TEXT) - k
    it = iter(TEXT)
    assert all(ch in it for ch in out)  # out is TEXT with k characters left out
    assert [c for c in TEXT if c not in string.ascii_letters] == \
        [c for c in out if c not in string.ascii_letters]


def test_swap_typos_swap_with_the_next_letter_or_fall_back_to_a_substitution():
    seen = set()
    for seed in range(40):
        out = corrupt("ab", 0.5, "typo", seed, ops=("swap",))  # one edit
        if out == "ba":
            seen.add("swap")
        else:  # 'b' was drawn: nothing to swap with, so a neighbour of 'b' is typed
            assert out[0] == "a" and out[1] in KEYBOARD_NEIGHBOURS["b"]
            seen.add("substitute")
    assert seen == {"swap", "substitute"}
    assert corrupt("aa", 0.5, "typo", 0, ops=("swap",)) != "aa"  # equal letters: substitute


def test_mixed_typos_change_the_text_at_every_drawn_letter():
    for seed in range(10):
        out = corrupt(TEXT, 0.05, "typo", seed)
        assert out != TEXT
        assert abs(len(out) - len(TEXT)) <= n_edits(TEXT, 0.05)


def test_corruption_is_seeded_and_leaves_the_global_random_state_alone():
    state = random.getstate()
    a = corrupt(TEXT, 0.1, "typo", 5)
    assert random.getstate() == state
    assert a == corrupt(TEXT, 0.1, "typo", 5)
    assert a != corrupt(TEXT, 0.1, "typo", 6)
    for kind in KINDS:
        assert corrupt(TEXT, 0.0, kind, 5) == TEXT
    assert corrupt("123 ... !", 1.0, "noise") == "123 ... !"  # no letters, nothing to edit


def test_keyboard_neighbours_are_symmetric_and_cover_the_alphabet():
    assert set(KEYBOARD_NEIGHBOURS) == set(string.ascii_lowercase)
    for a, near in KEYBOARD_NEIGHBOURS.items():
        assert near and a not in near
        assert all(a in KEYBOARD_NEIGHBOURS[b] for b in near)
    assert set(KEYBOARD_NEIGHBOURS["s"]) == set("awedxz")


# ----------------------------------------------------------------------------- tokenizers


def test_tokens_per_word_and_unknown_share_as_noise_grows():
    words = WordTokenizer().train(TEXT * 3)
    bpe = BPETokenizer().train(TEXT * 20, vocab_size=320)
    chars = CharTokenizer().train(string.printable)
    texts = [TEXT, TEXT.upper()[:60]]
    assert tokens_per_word(chars, texts) == pytest.approx(
        sum(map(len, texts)) / sum(len(t.split()) for t in texts))
    assert unknown_share(words, [TEXT]) == 0.0
    assert unknown_share(bpe, [TEXT]) == 0.0
    noisy = [corrupt(TEXT, 0.2, "noise", s) for s in range(5)]
    share = unknown_share(words, noisy)
    ids = [i for t in noisy for i in words.encode(t)]
    assert share == pytest.approx(sum(i == 0 for i in ids) / len(ids)) and share > 0.2
    assert unknown_share(bpe, noisy) == 0.0
    assert tokens_per_word(bpe, noisy) > tokens_per_word(bpe, [TEXT]) * 1.3  # fragmentation
    assert tokens_per_word(words, noisy) == pytest.approx(tokens_per_word(words, [TEXT] * 5))
    lower_chars = CharTokenizer().train(TEXT)
    assert unknown_share(lower_chars, ["Now,", "zzzz"]) == pytest.approx(4 / 8)


def test_char_ngrams_mark_word_ends():
    assert char_ngrams("ab", 1) == ["<", "a", "b", ">"]
    assert char_ngrams("I am", 3) == ["<i>", "<am", "am>"]
    assert char_ngrams("a", 5) == ["<a>"]


# ----------------------------------------------------------------------------- scores


def test_score_under_noise_uses_per_text_seeds_and_a_bootstrap_interval():
    texts = [f"review number {i} was good" if i % 2 else f"number {i} was bad" for i in range(30)]
    labels = [i % 2 for i in range(30)]
    calls = []

    def predict(batch):
        calls.append(list(batch))
        return [int("good" in t) for t in batch]

    rows = score_under_noise(predict, texts, labels, accuracy, kind="noise",
                             rates=[0.0, 0.5], seed=4, n_resamples=200)
    assert [r.rate for r in rows] == [0.0, 0.5] and rows[0].kind == "noise"
    assert rows[0].score == 1.0 and rows[0].low == rows[0].high == 1.0
    assert calls[0] == texts
    assert calls[1] == [corrupt(t, 0.5, "noise", 4 + i) for i, t in enumerate(texts)]
    assert rows[1].score < 1.0 and rows[1].low <= rows[1].score <= rows[1].high
    assert rows[1].low < rows[1].high


@pytest.fixture(scope="module")
def char_model():
    tok = CharTokenizer().train(TEXT)
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=16, n_layer=1, n_head=2,
                          n_embd=8))
    return model, tok


def test_bits_per_char_of_a_char_model_is_its_loss_in_bits(char_model):
    model, tok = char_model
    expected = evaluate_loss(model, torch.tensor(tok.encode(TEXT)), 16) / math.log(2)
    assert bits_per_char(model, tok, TEXT, 16) == pytest.approx(expected, rel=1e-9)


def test_bits_per_char_of_a_bpe_model_divides_by_the_characters_predicted():
    bpe = BPETokenizer().train(TEXT * 5, vocab_size=280)
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=bpe.vocab_size, block_size=8, n_layer=1, n_head=2,
                          n_embd=8))
    ids = torch.tensor(bpe.encode(TEXT))
    scored = (len(ids) - 1) // 8 * 8
    chars = len(bpe.decode(ids[1:scored + 1].tolist()))
    assert chars > scored  # BPE tokens hold more than one character each
    expected = evaluate_loss(model, ids, 8) * scored / chars / math.log(2)
    assert bits_per_char(model, bpe, TEXT, 8) == pytest.approx(expected, rel=1e-9)


# ----------------------------------------------------------------------------- bad inputs


BAD_CALLS = [
    (lambda: corrupt(3, 0.1), TypeError, "text must be a str"),
    (lambda: corrupt(TEXT, 1.5), ValueError, r"rate must be in \[0.0, 1.0\], got 1.5"),
    (lambda: corrupt(TEXT, "0.1"), TypeError, "rate must be a number"),
    (lambda: corrupt(TEXT, 0.1, "typos"), ValueError, "did you mean 'typo'"),
    (lambda: corrupt(TEXT, 0.1, seed=-1), ValueError, "seed must be >= 0"),
    (lambda: corrupt(TEXT, 0.1, ops="swap"), TypeError, "ops must be a non-empty list"),
    (lambda: corrupt(TEXT, 0.1, ops=("swop",)), ValueError, "did you mean 'swap'"),
    (lambda: n_edits(TEXT, -0.1), ValueError, "rate must be in"),
    (lambda: tokens_per_word("tok", [TEXT]), TypeError, "tokenizer must be a lm_course"),
    (lambda: tokens_per_word(CharTokenizer().train(TEXT), TEXT), TypeError,
     "texts must be a non-empty list"),
    (lambda: tokens_per_word(CharTokenizer().train(TEXT), ["   "]), ValueError, "no words"),
    (lambda: char_ngrams(TEXT, 0), ValueError, "n must be >= 1"),
    (lambda: score_under_noise(len, [TEXT], [1, 0], accuracy, kind="case", rates=[0.1]),
     ValueError, "labels has 2 items but texts has 1"),
    (lambda: score_under_noise(len, [TEXT], [1], accuracy, kind="case", rates=0.1), TypeError,
     "rates must be a non-empty list"),
    (lambda: score_under_noise(len, [TEXT], [1], accuracy, kind="case", rates=[2.0]),
     ValueError, r"rates\[i\] must be in"),
    (lambda: score_under_noise(None, [TEXT], [1], accuracy, kind="case", rates=[0.1]),
     TypeError, "predict and metric must be callables"),
    (lambda: bits_per_char(GPT(GPTConfig(vocab_size=50, block_size=8)),
                           WordTokenizer().train(TEXT), TEXT, 8), TypeError,
     "lossless tokenizer"),
    (lambda: bits_per_char(GPT(GPTConfig(vocab_size=50, block_size=8)),
                           CharTokenizer().train(TEXT), "Now is", 8), ValueError,
     "need at least block_size \\+ 1 = 9"),
]


@pytest.mark.parametrize("call, err, msg", BAD_CALLS)
def test_bad_inputs_are_refused_with_a_clear_message(call, err, msg):
    with pytest.raises(err, match=msg):
        call()
