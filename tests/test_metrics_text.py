"""BLEU and chrF equal sacrebleu; ROUGE equals rouge-score, on hand-made edge cases and on
hundreds of random hypothesis/reference pairs."""

from __future__ import annotations

import copy
import random

import numpy as np
import pytest
import sacrebleu
from rouge_score.rouge_scorer import RougeScorer
from sacrebleu.metrics import BLEU, CHRF

from lm_course.metrics import (
    PRF,
    BLEUResult,
    bootstrap_ci,
    chrf,
    corpus_bleu,
    rouge,
    rouge_pair,
    sentence_bleu,
)

WORDS = ("the a cat cats dog dogs sat sits running runs ran on mat mats Mat The is was "
         "killed kill police gunman quickly 3 42 , . ! ? (hi) hello, 'quoted' don't "
         "e-mail U.S. &amp; <tag>").split()
CHINESE = "我们 今天 去 公园 散步 。 天气 很 好 ， 你 呢 ？ 猫 坐 在 垫子 上".split()


def sentence(rng: random.Random, n: int, vocab=WORDS, sep=" ") -> str:
    return sep.join(rng.choice(vocab) for _ in range(n))


def edit(rng: random.Random, text: str, vocab=WORDS, sep=" ") -> str:
    """A hypothesis made from a reference: drop, replace and insert some words."""
    out = []
    units = list(text) if sep == "" else text.split(sep)  # characters for space-less text
    for w in units if text else []:
        u = rng.random()
        if u < 0.15:
            continue
        out.append(rng.choice(vocab) if u < 0.3 else w)
        if rng.random() < 0.1:
            out.append(rng.choice(vocab))
    return sep.join(out)


def random_corpus(seed: int, n: int = 6, max_refs: int = 3, vocab=WORDS, sep=" "):
    """``n`` hypotheses, each with 1..max_refs references (lists of different lengths)."""
    rng = random.Random(seed)
    hyps, refs = [], []
    for _ in range(n):
        group = [sentence(rng, rng.randint(1, 14), vocab, sep)
                 for _ in range(rng.randint(1, max_refs))]
        hyps.append(edit(rng, group[0], vocab, sep) if rng.random() < 0.9 else "")
        refs.append(group)
    return hyps, refs


def streams(refs: list[list[str]]) -> list[list[str | None]]:
    """Our layout (references per hypothesis) -> sacrebleu's (reference streams), padding a
    missing reference with None as sacrebleu allows."""
    width = max(map(len, refs))
    return [[group[k] if k < len(group) else None for group in refs] for k in range(width)]


def assert_bleu(got: BLEUResult, want, *, raw_counts=True):
    assert got.score == pytest.approx(want.score, rel=1e-9, abs=1e-9)
    assert list(got.precisions) == pytest.approx(want.precisions, rel=1e-9, abs=1e-12)
    assert got.bp == pytest.approx(want.bp, rel=1e-12)
    assert (got.sys_len, got.ref_len) == (want.sys_len, want.ref_len)
    if raw_counts:
        assert list(got.counts) == list(want.counts)
        assert list(got.totals) == list(want.totals)


# ----------------------------------------------------------------------------- BLEU

BLEU_EDGE_CASES = [
    (["the cat sat on the mat"], [["the cat sat on the mat"]]),  # perfect
    ([""], [["the cat sat"]]),  # empty hypothesis: no n-grams, brevity penalty 0
    (["", "the cat sat on the mat"], [["a b"], ["the cat sat on the mat"]]),  # one empty
    (["the cat the cat sat on"], [["on the mat the cat sat"]]),  # no 4-gram match
    (["the the the the the the"], [["the cat is on the mat"]]),  # clipping: 2 of 6 count
    (["the cat sat on the mat today"], [["the cat sat"]]),  # reference shorter: BP = 1
    (["the cat"], [["the cat sat on the mat"]]),  # hypothesis shorter: BP < 1, no 3-grams
    (["dogs bark loudly"], [["the cat sat"]]),  # nothing matches at all
    (["a b c d e"], [["a b c x", "a b c d e f"]]),  # two references 1 token away: shorter
    (["a b c d"], [["a b", "a b c d e f", "b c d a"]]),  # closest reference length wins
    (["The Cat sat ."], [["the cat sat ."]]),  # case matters unless lowercase
    (["the cat sat on the mat", "a dog ran"], [["the cat sat on a mat"], ["one dog ran"]]),
]


@pytest.mark.parametrize("tokenize", ["13a", "none", "char", "intl"])
@pytest.mark.parametrize("smooth", [("exp", None), ("floor", None), ("floor", 0.3),
                                    ("add-k", None), ("add-k", 0.5), ("none", None)])
@pytest.mark.parametrize("case", range(len(BLEU_EDGE_CASES)))
def test_corpus_bleu_edge_cases_equal_sacrebleu(case, smooth, tokenize):
    hyps, refs = BLEU_EDGE_CASES[case]
    method, value = smooth
    for lowercase in (False, True):
        want = sacrebleu.corpus_bleu(hyps, streams(refs), smooth_method=method,
                                     smooth_value=value, tokenize=tokenize,
                                     lowercase=lowercase)
        got = corpus_bleu(hyps, refs, smooth_method=method, smooth_value=value,
                          tokenize=tokenize, lowercase=lowercase)
        assert_bleu(got, want, raw_counts=method != "add-k")  # sacrebleu adds k into counts


def test_bleu_edge_case_values_by_hand():
    assert corpus_bleu([""], ["the cat sat"]).score == 0.0
    assert corpus_bleu([""], ["the cat sat"]).bp == 0.0
    r = corpus_bleu(["the the the the the the"], ["the cat is on the mat"])
    assert r.counts[0] == 2 and r.totals[0] == 6  # "the" is clipped to its 2 reference uses
    r = corpus_bleu(["the cat sat on the mat today"], ["the cat sat"])
    assert r.bp == 1.0 and r.counts == (3, 2, 1, 0)
    # no 4-gram match: exp smoothing gives half a match to the zero order; none gives 0
    hyp, ref = ["the cat the cat sat on"], ["on the mat the cat sat"]
    assert corpus_bleu(hyp, ref).counts[3] == 0 and corpus_bleu(hyp, ref).score > 0
    assert corpus_bleu(hyp, ref, smooth_method="none").score == 0.0
    assert corpus_bleu(hyp, ref).precisions[3] == pytest.approx(100 / (2 * 3))
    # the brevity penalty of a 2-token output against a 6-token reference
    assert corpus_bleu(["the cat"], ["the cat sat on the mat"]).bp == pytest.approx(
        2.718281828459045 ** (1 - 6 / 2))


@pytest.mark.parametrize("seed", range(40))
def test_corpus_bleu_random_corpora_equal_sacrebleu(seed):
    hyps, refs = random_corpus(seed)
    before = copy.deepcopy((hyps, refs))
    for method in ["exp", "floor", "add-k", "none"]:
        for tokenize in ["13a", "intl", "char", "none"]:
            want = sacrebleu.corpus_bleu(hyps, streams(refs), smooth_method=method,
                                         tokenize=tokenize)
            got = corpus_bleu(hyps, refs, smooth_method=method, tokenize=tokenize)
            assert_bleu(got, want, raw_counts=method != "add-k")
    for order in [1, 2, 6]:
        want = BLEU(max_ngram_order=order, lowercase=True).corpus_score(hyps, streams(refs))
        assert_bleu(corpus_bleu(hyps, refs, max_ngram_order=order, lowercase=True), want)
    assert (hyps, refs) == before


@pytest.mark.parametrize("seed", range(15))
def test_bleu_chinese_equals_sacrebleu(seed):
    # Chinese text without spaces: the zh tokenizer splits it into characters
    hyps, refs = random_corpus(seed, vocab=CHINESE, sep="")
    for method in ["exp", "floor", "add-k", "none"]:
        for tokenize in ["zh", "char"]:
            want = sacrebleu.corpus_bleu(hyps, streams(refs), smooth_method=method,
                                         tokenize=tokenize)
            got = corpus_bleu(hyps, refs, smooth_method=method, tokenize=tokenize)
            assert_bleu(got, want, raw_counts=method != "add-k")
    # with the default 13a tokenizer a space-less sentence is one "word": BLEU collapses
    assert corpus_bleu(["我们今天去公园"], ["我们今天去公园散步"], tokenize="zh").score > 30
    assert corpus_bleu(["我们今天去公园"], ["我们今天去公园散步"]).score == 0.0


@pytest.mark.parametrize("seed", range(60))
def test_sentence_bleu_equals_sacrebleu(seed):
    rng = random.Random(100 + seed)
    refs = [sentence(rng, rng.randint(1, 10)) for _ in range(rng.randint(1, 3))]
    hyp = edit(rng, refs[0])
    for method in ["exp", "floor", "add-k", "none"]:
        want = sacrebleu.sentence_bleu(hyp, refs, smooth_method=method)
        assert_bleu(sentence_bleu(hyp, refs, smooth_method=method), want,
                    raw_counts=method != "add-k")
    # effective order: a 2-word exact match is perfect at sentence level, not at corpus level
    assert sentence_bleu("a cat", "a cat").score == pytest.approx(100.0)
    assert corpus_bleu(["a cat"], ["a cat"]).score == 0.0


# ----------------------------------------------------------------------------- chrF


@pytest.mark.parametrize("seed", range(40))
def test_chrf_equals_sacrebleu(seed):
    hyps, refs = random_corpus(200 + seed)
    before = copy.deepcopy((hyps, refs))
    options = [dict(), dict(word_order=2), dict(char_order=3, word_order=1, beta=1),
               dict(beta=3), dict(eps_smoothing=True), dict(word_order=2, eps_smoothing=True),
               dict(lowercase=True), dict(whitespace=True)]
    for kw in options:
        want = CHRF(**kw).corpus_score(hyps, streams(refs)).score
        assert chrf(hyps, refs, **kw) == pytest.approx(want, rel=1e-9, abs=1e-9), kw
    assert (hyps, refs) == before


CHRF_EDGE_CASES = [
    (["the cat sat"], ["the cat sat"]),
    ([""], ["the cat sat"]),  # empty hypothesis
    (["the cat sat"], [""]),  # empty reference
    ([""], [""]),
    (["a"], ["a b c"]),  # shorter than every n-gram order past 1
    (["(hi) there, you."], ["hi there you"]),  # punctuation split off for chrF++ words
    (["the cat sat on the mat"], [["a cat", "the cat sat on a mat", "the cat sat on the mat"]]),
    (["猫坐在垫子上", "今天天气很好"], ["猫在垫子上", ["天气很好", "今天天气不好"]]),
]


@pytest.mark.parametrize("case", range(len(CHRF_EDGE_CASES)))
@pytest.mark.parametrize("word_order", [0, 2])
def test_chrf_edge_cases_equal_sacrebleu(case, word_order):
    hyps, refs = CHRF_EDGE_CASES[case]
    groups = [[r] if isinstance(r, str) else r for r in refs]
    for eps in (False, True):
        want = CHRF(word_order=word_order, eps_smoothing=eps).corpus_score(hyps, streams(groups))
        got = chrf(hyps, refs, word_order=word_order, eps_smoothing=eps)
        assert got == pytest.approx(want.score, rel=1e-9, abs=1e-9)
    if case == 0:
        assert chrf(hyps, refs, word_order=word_order) == pytest.approx(100.0)
    if case == 1:
        assert chrf(hyps, refs, word_order=word_order) == 0.0


# ----------------------------------------------------------------------------- ROUGE

TYPES = ["rouge1", "rouge2", "rouge3", "rougeL", "rougeLsum"]


def assert_rouge(got: dict[str, PRF], want: dict):
    assert list(got) == list(want)
    for kind, score in want.items():
        assert got[kind].precision == pytest.approx(score.precision, rel=1e-12, abs=1e-15)
        assert got[kind].recall == pytest.approx(score.recall, rel=1e-12, abs=1e-15)
        assert got[kind].f1 == pytest.approx(score.fmeasure, rel=1e-12, abs=1e-15)


def summary(rng: random.Random, n_sents: int) -> str:
    return "\n".join(sentence(rng, rng.randint(1, 8)) for _ in range(n_sents))


ROUGE_EDGE_CASES = [
    ("the cat sat", "the cat sat"),
    ("", "the cat sat"),  # empty hypothesis
    ("the cat sat", ""),  # empty reference
    ("!!! ...", "the cat"),  # a hypothesis with no tokens after tokenisation
    ("b a", "a b"),  # a tie in the LCS: two LCS of length 1
    ("b a", "a\na b"),  # the tie decides ROUGE-Lsum (see the hand test below)
    ("a b c\nb a c a", "a c b\nc a\nb"),
    ("police killed the gunman", "police kill the gunman"),  # stemming makes these equal
    ("The running dogs ran.\nCats sit!", "a dog runs\nthe cats sat on mats"),
    ("the the the the", "the cat the"),  # clipped unigram counts
    ("我们 今天", "我们 今天"),  # non-ASCII is dropped by rouge-score's tokenizer: all 0
]


@pytest.mark.parametrize("use_stemmer", [False, True])
@pytest.mark.parametrize("case", range(len(ROUGE_EDGE_CASES)))
def test_rouge_edge_cases_equal_rouge_score(case, use_stemmer):
    hyp, ref = ROUGE_EDGE_CASES[case]
    want = RougeScorer(TYPES, use_stemmer=use_stemmer).score(ref, hyp)
    assert_rouge(rouge_pair(hyp, ref, types=TYPES, use_stemmer=use_stemmer), want)


def test_rouge_lcs_ties_and_stemming_by_hand():
    # LCS("a b", "b a") has length 1 either way
    assert rouge_pair("b a", "a b", types=["rougeL"])["rougeL"] == PRF(0.5, 0.5, 0.5, 2)
    # Lsum: reference sentences "a" and "a b", hypothesis "b a". The first sentence uses up
    # the hypothesis' "a"; for "a b" the LCS tie is read back as "a" (not "b"), which is
    # already used, so only 1 of the 3 reference tokens is a hit.
    s = rouge_pair("b a", "a\na b", types=["rougeLsum"])["rougeLsum"]
    assert (s.precision, s.recall) == pytest.approx((1 / 2, 1 / 3))
    s = rouge_pair("police killed the gunman", "police kill the gunman", use_stemmer=True)
    assert s["rouge1"].f1 == 1.0 and s["rouge2"].f1 == 1.0
    s = rouge_pair("police killed the gunman", "police kill the gunman")
    assert s["rouge1"].f1 == 0.75 and s["rouge1"].support == 4


@pytest.mark.parametrize("seed", range(60))
def test_rouge_random_pairs_equal_rouge_score(seed):
    rng = random.Random(300 + seed)
    ref = summary(rng, rng.randint(1, 4))
    hyp = "\n".join(edit(rng, line) for line in ref.split("\n"))
    if rng.random() < 0.5:  # hypotheses with a different sentence split
        hyp = hyp.replace("\n", " ").replace(" . ", " .\n")
    for use_stemmer in (False, True):
        want = RougeScorer(TYPES, use_stemmer=use_stemmer).score(ref, hyp)
        assert_rouge(rouge_pair(hyp, ref, types=TYPES, use_stemmer=use_stemmer), want)


@pytest.mark.parametrize("seed", range(20))
def test_rouge_multi_reference_and_corpus_mean(seed):
    rng = random.Random(400 + seed)
    hyps, refs = [], []
    for _ in range(5):
        group = [summary(rng, rng.randint(1, 3)) for _ in range(rng.randint(1, 3))]
        refs.append(group)
        hyps.append(edit(rng, group[-1]))
    before = copy.deepcopy((hyps, refs))
    scorer = RougeScorer(TYPES, use_stemmer=True)
    wants = [scorer.score_multi(group, h) for h, group in zip(hyps, refs, strict=True)]
    for h, group, want in zip(hyps, refs, wants, strict=True):
        assert_rouge(rouge_pair(h, group, types=TYPES, use_stemmer=True), want)
    corpus = rouge(hyps, refs, types=TYPES, use_stemmer=True)
    for kind in TYPES:
        assert corpus[kind].f1 == pytest.approx(sum(w[kind].fmeasure for w in wants) / 5)
        assert corpus[kind].recall == pytest.approx(sum(w[kind].recall for w in wants) / 5)
        assert corpus[kind].precision == pytest.approx(
            sum(w[kind].precision for w in wants) / 5)
    assert (hyps, refs) == before


# ----------------------------------------------------------------------------- bootstrap


def test_bootstrap_of_corpus_bleu_and_chrf():
    # the items are (references, hypothesis) pairs; BLEU is re-pooled on every resample,
    # which is not the mean of sentence scores
    hyps, refs = random_corpus(7, n=30)
    for name, metric in [("bleu", lambda r, h: corpus_bleu(h, r).score),
                         ("chrf", lambda r, h: chrf(h, r)),
                         ("rougeL", lambda r, h: rouge(h, r, types=["rougeL"])["rougeL"].f1)]:
        point, low, high = bootstrap_ci(metric, refs, hyps, n_resamples=100, seed=0)
        assert point == pytest.approx(metric(refs, hyps)), name
        assert low < point < high, name
    # one resample by hand: pooled statistics of the drawn sentences
    rows = np.random.default_rng(0).integers(0, 30, size=(100, 30))[0]
    pick_h, pick_r = [hyps[i] for i in rows], [refs[i] for i in rows]
    want = sacrebleu.corpus_bleu(pick_h, streams(pick_r)).score
    assert corpus_bleu(pick_h, pick_r).score == pytest.approx(want, rel=1e-9, abs=1e-9)


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("call, error, words", [
    (lambda: corpus_bleu(["a", "b"], ["a"]), ValueError, ["hypotheses", "references", "2", "1"]),
    (lambda: corpus_bleu([], []), ValueError, ["hypotheses", "empty"]),
    (lambda: corpus_bleu("a cat", ["a cat"]), TypeError, ["hypotheses", "list"]),
    (lambda: corpus_bleu(["a"], "a"), TypeError, ["references"]),
    (lambda: corpus_bleu([3], ["a"]), TypeError, ["hypotheses[0]", "int"]),
    (lambda: corpus_bleu(["a"], [[]]), ValueError, ["references[0]", "non-empty"]),
    (lambda: corpus_bleu(["a"], [["a", None]]), TypeError, ["references[0][1]", "NoneType"]),
    (lambda: corpus_bleu(["a"], ["a"], tokenize="moses"), ValueError, ["tokenize", "'moses'"]),
    (lambda: corpus_bleu(["a"], ["a"], smooth_method="add-one"), ValueError,
     ["smooth_method", "'add-one'", "add-k"]),
    (lambda: corpus_bleu(["a"], ["a"], smooth_value=0.1), ValueError,
     ["smooth_value", "'exp'"]),
    (lambda: corpus_bleu(["a"], ["a"], smooth_method="floor", smooth_value=-1), ValueError,
     ["smooth_value"]),
    (lambda: corpus_bleu(["a"], ["a"], max_ngram_order=0), ValueError, ["max_ngram_order"]),
    (lambda: corpus_bleu(["a"], ["a"], lowercase="yes"), TypeError, ["lowercase"]),
    (lambda: sentence_bleu(["a"], "a"), TypeError, ["hypothesis", "list"]),
    (lambda: chrf(["a"], ["a", "b"]), ValueError, ["hypotheses", "references", "1", "2"]),
    (lambda: chrf([], []), ValueError, ["empty"]),
    (lambda: chrf(["a"], ["a"], char_order=0), ValueError, ["char_order"]),
    (lambda: chrf(["a"], ["a"], word_order=-1), ValueError, ["word_order"]),
    (lambda: chrf(["a"], ["a"], beta=0), ValueError, ["beta"]),
    (lambda: chrf(["a"], ["a"], whitespace=1), TypeError, ["whitespace"]),
    (lambda: rouge(["a"], ["a", "b"]), ValueError, ["hypotheses", "references"]),
    (lambda: rouge([], []), ValueError, ["empty"]),
    (lambda: rouge(["a"], ["a"], types=["rougeW"]), ValueError, ["types", "'rougeW'"]),
    (lambda: rouge(["a"], ["a"], types=["rouge0"]), ValueError, ["types", "'rouge0'"]),
    (lambda: rouge(["a"], ["a"], types="rouge1"), TypeError, ["types"]),
    (lambda: rouge(["a"], ["a"], types=["rouge1", "rouge1"]), ValueError, ["repeated"]),
    (lambda: rouge(["a"], ["a"], use_stemmer="porter"), TypeError, ["use_stemmer"]),
    (lambda: rouge_pair(["a"], "a"), TypeError, ["hypothesis", "rouge()"]),
    (lambda: rouge_pair("a", [5]), TypeError, ["references[0][0]", "int"]),
])
def test_text_metrics_bad_input(call, error, words):
    with pytest.raises(error) as info:
        call()
    for word in words:
        assert word in str(info.value)
