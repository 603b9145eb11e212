"""Tests for lm_course.apps.controlled: the diversity metrics against hand-computed values
and nltk, the windowed judge against one full pass, sampling against the package decoder,
the frontier, and bad inputs."""

import math

import pytest
import torch
from nltk.util import ngrams as nltk_ngrams

from lm_course.apps.controlled import (
    DECODING_GRID,
    Decoding,
    continuation_nll,
    distinct_n,
    ngrams,
    pareto_front,
    repetition_rate,
    sample_continuations,
    score_samples,
    speech_prompt,
    speeches,
    split_works,
    words,
)
from lm_course.generation import generate, generate_text, sequence_logprob
from lm_course.tokenizers import CharTokenizer
from lm_course.transformer import GPT, GPTConfig

TEXT = "\n\nHam.\nTo be, or not to be.\n\nHor.\nMy lord?\nMy good lord.\n\n"


@pytest.fixture(scope="module")
def tok():
    return CharTokenizer().train("abcdefgh .,\nHT")


def _model(vocab, block, seed=0):
    torch.manual_seed(seed)
    model = GPT(GPTConfig(vocab_size=vocab, block_size=block, n_layer=1, n_head=2, n_embd=16))
    with torch.no_grad():  # move every parameter off its initial value (LayerNorm 1, bias 0)
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model.eval()


# ----------------------------------------------------------------------------- text


def test_words_split_words_and_punctuation():
    assert words("Good night, sweet PRINCE! 'Tis o'er.") == \
        ["good", "night", ",", "sweet", "prince", "!", "'", "tis", "o'er", "."]


def test_speeches_parses_tags_and_skips_headings_and_directions():
    text = "\n\nACT I.\n\nScene II.\nA room.\n\n[Enter Ham.]\n\n" + TEXT[2:]
    assert speeches(text) == [("Ham.", "To be, or not to be."),
                              ("Hor.", "My lord?\nMy good lord.")]
    assert speeches("no layout here") == []


def test_speech_prompt_round_trips_through_speeches():
    text = speech_prompt("First Lord.") + "Who goes there?\n\n"
    assert speeches(text) == [("First Lord.", "Who goes there?")]


def test_split_works_keeps_whole_works_on_each_side():
    works = {"a": "A1\nA2\n", "b": "B1\n", "c": "C1\n", "d": "D1\n"}
    before = dict(works)
    train, held = split_works(works, held_out=["d", "b"])
    assert train == "A1\nA2\n\nC1\n" and held == "D1\n\nB1\n"
    assert works == before


# ----------------------------------------------------------------------------- diversity


@pytest.mark.parametrize("tokens, n, expected", [
    (["to", "be", "or", "not", "to", "be"], 1, 4 / 6),
    (["to", "be", "or", "not", "to", "be"], 2, 4 / 5),  # (to, be) twice among 5 bigrams
    (["to", "be", "or", "not", "to", "be"], 3, 1.0),
    (["a", "a", "a", "a"], 2, 1 / 3),
    (["x"], 2, 0.0),  # no bigram at all
    ([], 1, 0.0),
])
def test_distinct_n_hand_computed(tokens, n, expected):
    assert distinct_n(tokens, n) == pytest.approx(expected)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_ngrams_and_distinct_n_match_nltk(n):
    toks = words("O Romeo, Romeo! wherefore art thou Romeo? Deny thy father and refuse thy "
                 "name; or, if thou wilt not, be but sworn my love, and I'll no longer be a "
                 "Capulet. Romeo, Romeo!")
    before = list(toks)
    reference = list(nltk_ngrams(toks, n))
    assert ngrams(toks, n) == reference
    assert distinct_n(toks, n) == len(set(reference)) / len(reference)
    assert toks == before


@pytest.mark.parametrize("tokens, n, expected", [
    ("my lord , my lord , my lord".split(), 3, 5 / 8),  # from the 4th word on, a copy
    ("to be or not to be".split(), 2, 2 / 6),  # the second "to be"
    ("a b c d e f".split(), 2, 0.0),
    ("a a a a".split(), 1, 3 / 4),
    ("a b a b".split(), 3, 0.0),  # (a, b, a) and (b, a, b) differ
    ("x y".split(), 4, 0.0),  # shorter than n
])
def test_repetition_rate_hand_computed(tokens, n, expected):
    before = list(tokens)
    assert repetition_rate(tokens, n) == pytest.approx(expected)
    assert tokens == before


def test_repetition_rate_counts_overlapping_copies_once():
    # "a b c a b c a b c": every 3-gram from position 3 on was seen; words 3..8 are covered
    assert repetition_rate("a b c a b c a b c".split(), 3) == pytest.approx(6 / 9)


# ----------------------------------------------------------------------------- decoding


def test_decoding_kwargs_feed_generate(tok):
    d = Decoding("x", temperature=0.7, top_k=3, top_p=0.9, repetition_penalty=1.2,
                 no_repeat_ngram_size=2)
    assert d.kwargs() == dict(temperature=0.7, top_k=3, top_p=0.9, greedy=False,
                              repetition_penalty=1.2, no_repeat_ngram_size=2)
    assert len({g.name for g in DECODING_GRID}) == len(DECODING_GRID)


def test_sample_continuations_equals_generate_text_per_prompt(tok):
    model = _model(tok.vocab_size, 16)
    prompts = ["ab", "h", "ba cd"]  # different lengths: one batch, no padding
    d = Decoding("block", greedy=True, no_repeat_ngram_size=2)
    outs = sample_continuations(model, tok, prompts, d, 12, stop=["."])
    for p, o in zip(prompts, outs, strict=True):
        alone = generate_text(model, tok, p, 12, stop=["."], greedy=True,
                              no_repeat_ngram_size=2)
        assert o == alone[len(p):] and "." not in o
    sampled = [sample_continuations(model, tok, prompts, Decoding("T", temperature=1.5), 10,
                                    seed=s) for s in (0, 0, 1)]
    assert sampled[0] == sampled[1] != sampled[2]  # the seed decides, and only the seed


def test_sample_continuations_return_ids_are_what_generate_chose(tok):
    model = _model(tok.vocab_size, 16)
    prompts = ["ab", "hh c"]
    d = Decoding("T", temperature=1.2, top_k=5)
    texts, ids = sample_continuations(model, tok, prompts, d, 9, seed=4, return_ids=True)
    rows = generate(model, [tok.encode(p) for p in prompts], 9, temperature=1.2, top_k=5,
                    generator=torch.Generator().manual_seed(4))
    assert ids == [r[len(tok.encode(p)):] for p, r in zip(prompts, rows, strict=True)]
    assert texts == [tok.decode(i) for i in ids]
    assert texts == sample_continuations(model, tok, prompts, d, 9, seed=4)
    with pytest.raises(ValueError, match="stop"):
        sample_continuations(model, tok, prompts, d, 9, return_ids=True, stop=["."])


# ----------------------------------------------------------------------------- judge


def test_continuation_nll_takes_token_ids_without_a_tokenizer(tok):
    model = _model(tok.vocab_size, 8)
    prompts, conts = ["ab", "h"], ["cdefgabc hh", "a."]
    by_text = continuation_nll(model, tok, prompts, conts)
    by_ids = continuation_nll(model, None, [tok.encode(p) for p in prompts],
                              [tok.encode(c) for c in conts])
    assert by_ids == pytest.approx(by_text, rel=1e-6)


def test_continuation_nll_equals_one_pass_inside_the_context(tok):
    model = _model(tok.vocab_size, 64)
    prompts = ["h", "ab", "ba cd", "T"]
    conts = ["cdefgabc", "a", "hh . ,\nab", "aaaa bb ccc dddd eeee"]
    got = continuation_nll(model, tok, prompts, conts, batch_size=3)
    want = [-sequence_logprob(model, tok.encode(p), tok.encode(c))
            for p, c in zip(prompts, conts, strict=True)]
    assert got == pytest.approx(want, rel=1e-5)
    assert not model.training


def test_continuation_nll_windows_score_each_token_once_with_enough_context(tok):
    block = 6
    model = _model(tok.vocab_size, block, seed=1)
    p, c = "ab", "cdefgh abc, defg.\nhabcdefgh"
    ids = tok.encode(p) + tok.encode(c)
    stride = block // 2
    want = 0.0
    for t in range(len(tok.encode(p)), len(ids)):  # the documented rule, token by token
        chunk_end = min(len(tok.encode(p)) + ((t - len(tok.encode(p))) // stride + 1) * stride,
                        len(ids))
        start = max(0, chunk_end - 1 - block)
        assert t - start >= block - stride or start == 0
        want -= sequence_logprob(model, ids[start:t], [ids[t]])
    got = continuation_nll(model, tok, [p, "h"], [c, "ab"], batch_size=1)
    assert got[0] == pytest.approx(want, rel=1e-5)
    assert continuation_nll(model, tok, ["h"], ["ab"])[0] == pytest.approx(got[1], rel=1e-6)


def test_score_samples_per_sample_values_and_intervals(tok):
    model = _model(tok.vocab_size, 16)
    samples = ["ab ab ab ab", "a b c d e f g h", "hh.", "abc abc, abc abc."]
    prompts = ["h", "T", "ab", "c"]
    before = list(samples)
    sc = score_samples(samples, prompts, model, tok, n_resamples=100)
    assert sc.distinct[2] == [distinct_n(words(s), 2) for s in samples]
    assert sc.repetition == [repetition_rate(words(s), 4) for s in samples]
    assert sc.nll == pytest.approx(continuation_nll(model, tok, prompts, samples))
    bpc = sum(sc.nll) / sum(map(len, samples)) / math.log(2)
    assert sc.intervals["bits/char"][0] == pytest.approx(bpc)
    assert sc.intervals["distinct-2"][0] == pytest.approx(sum(sc.distinct[2]) / 4)
    for point, low, high in sc.intervals.values():
        assert low <= point <= high
    assert samples == before


def test_pareto_front():
    assert pareto_front([0.2, 0.5, 0.4, 0.9], [1.0, 1.5, 2.0, 3.0]) == [0, 1, 3]
    assert pareto_front([0.5, 0.5], [1.0, 1.0]) == [0, 1]  # equal points beat neither
    assert pareto_front([0.1, 0.9, 0.3], [0.5, 0.5, 0.2]) == [2, 1]


# ----------------------------------------------------------------------------- bad inputs


BAD = [
    (lambda: distinct_n("to be or", 2), TypeError, "not a string"),
    (lambda: distinct_n(["a"], 0), ValueError, "n"),
    (lambda: repetition_rate(["a"], n=1.5), TypeError, "n"),
    (lambda: ngrams(None, 2), TypeError, "tokens"),
    (lambda: words(3), TypeError, "text"),
    (lambda: speeches(None), TypeError, "text"),
    (lambda: speech_prompt("Ham.\nHor."), ValueError, "speaker"),
    (lambda: speech_prompt(""), ValueError, "speaker"),
    (lambda: split_works(["a"]), TypeError, "works"),
    (lambda: split_works({"a": "x", "b": "y"}, held_out=["c"]), ValueError, "held_out"),
    (lambda: split_works({"a": "x"}, held_out=["a"]), ValueError, "nothing is left"),
    (lambda: split_works({"a": "x", "b": "y"}, held_out="a"), TypeError, "held_out"),
    (lambda: Decoding("t", temperature=0), ValueError, "temperature"),
    (lambda: Decoding("t", top_k=0), ValueError, "top_k"),
    (lambda: Decoding("t", top_p=1.5), ValueError, "top_p"),
    (lambda: Decoding("t", greedy=1), TypeError, "greedy"),
    (lambda: Decoding("t", no_repeat_ngram_size=-1), ValueError, "no_repeat_ngram_size"),
    (lambda: Decoding("", temperature=1.0), ValueError, "name"),
    (lambda: pareto_front([0.1], [0.1, 0.2]), ValueError, "same length"),
    (lambda: pareto_front([], []), ValueError, "non-empty"),
    (lambda: pareto_front(["a"], [0.1]), TypeError, "diversity"),
]


@pytest.mark.parametrize("call, error, text", BAD)
def test_bad_inputs(call, error, text):
    with pytest.raises(error, match=text):
        call()


@pytest.mark.parametrize("kwargs, error, text", [
    (dict(prompts="ab", continuations=["c"]), TypeError, "lists of strings"),
    (dict(prompts=["ab"], continuations=["c", "d"]), ValueError, "same length"),
    (dict(prompts=[""], continuations=["c"]), ValueError, "prompt"),
    (dict(prompts=["a"], continuations=["c"], batch_size=0), ValueError, "batch_size"),
])
def test_continuation_nll_bad_inputs(tok, kwargs, error, text):
    with pytest.raises(error, match=text):
        continuation_nll(_model(tok.vocab_size, 8), tok, **kwargs)


@pytest.mark.parametrize("args, kwargs, error, text", [
    (("ab", Decoding("g", greedy=True), 4), {}, TypeError, "prompts"),
    ((["ab"], dict(greedy=True), 4), {}, TypeError, "Decoding"),
    ((["ab"], Decoding("g", greedy=True), 0), {}, ValueError, "max_new_tokens"),
    ((["ab"], Decoding("g", greedy=True), 4), dict(seed=-1), ValueError, "seed"),
    ((["ab"], Decoding("g", greedy=True), 4), dict(return_ids=1), TypeError, "return_ids"),
])
def test_sample_continuations_bad_inputs(tok, args, kwargs, error, text):
    with pytest.raises(error, match=text):
        sample_continuations(_model(tok.vocab_size, 8), tok, *args, **kwargs)


@pytest.mark.parametrize("samples, error, text", [
    ("abc", TypeError, "samples"),
    ([], TypeError, "samples"),
    (["ab", ""], ValueError, "empty"),
    (["ab", 3], TypeError, "strings"),
])
def test_score_samples_bad_inputs(tok, samples, error, text):
    prompts = ["a"] * (len(samples) if isinstance(samples, list) else 1)
    with pytest.raises(error, match=text):
        score_samples(samples, prompts, _model(tok.vocab_size, 8), tok, n_resamples=10)
