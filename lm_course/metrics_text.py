"""Metrics for generated text, written out: BLEU, chrF / chrF++ and ROUGE.

All three compare a system's output (the *hypothesis*) with one or more human *references* by
counting shared n-grams, and differ in what they count and how they turn counts into a score:

- **BLEU** (translation): clipped word n-gram *precision* for n = 1..4, geometric mean, times a
  *brevity penalty* so that a short output cannot score by saying little. Corpus-level:
  counts are pooled over all sentences before dividing.
- **chrF** (translation): an F-score over *character* n-grams (1..6), kinder to morphology
  and to languages without spaces; chrF++ adds word uni- and bigrams.
- **ROUGE** (summarisation): n-gram *recall*-oriented overlap (ROUGE-1, ROUGE-2) and the
  longest common subsequence (ROUGE-L; ROUGE-Lsum over sentences, split on newlines).

Each equals its reference library (sacrebleu, rouge-score) in the tests. Only tokenisation
is borrowed: sacrebleu's tokenizers for BLEU (``13a``, ``zh``, ``intl``, ``char``, ``none``)
and rouge-score's tokenizer with its Porter stemmer for ROUGE; the counting, clipping,
brevity penalty, smoothing and LCS are all here.

Reference layout: ``references[i]`` belongs to ``hypotheses[i]`` and is one string or a list
of strings (several references; the lists may differ in length). sacrebleu takes the
transpose, a list of reference *streams*.

>>> round(corpus_bleu(["the cat sat on the mat"], ["the cat sat on the mat"]).score, 6)
100.0
>>> rouge_pair("the cat sat", "the cat ran")["rouge1"].f1  # doctest: +ELLIPSIS
0.666...
"""

from __future__ import annotations

import importlib
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from lm_course.metrics_classification import PRF
from lm_course.utils import check_choice, check_float, check_int

__all__ = ["BLEUResult", "corpus_bleu", "sentence_bleu", "chrf", "rouge", "rouge_pair"]


# ----------------------------------------------------------------------------- inputs


def _check_corpus(hypotheses: Any, references: Any) -> tuple[list[str], list[list[str]]]:
    """Hypotheses as a list of str; references as one list of >= 1 str per hypothesis."""
    if isinstance(hypotheses, str) or not isinstance(hypotheses, Sequence):
        raise TypeError(f"hypotheses must be a list of strings, got {type(hypotheses).__name__}"
                        "; for one sentence pass [sentence]")
    if isinstance(references, str) or not isinstance(references, Sequence):
        raise TypeError(f"references must be a list (one entry per hypothesis), got "
                        f"{type(references).__name__}")
    if not hypotheses:
        raise ValueError("hypotheses is empty: there is nothing to score")
    if len(hypotheses) != len(references):
        raise ValueError(f"hypotheses and references must have the same length (references[i] "
                         f"belongs to hypotheses[i]), got {len(hypotheses)} and "
                         f"{len(references)}")
    for i, h in enumerate(hypotheses):
        if not isinstance(h, str):
            raise TypeError(f"hypotheses[{i}] must be a string, got {type(h).__name__} {h!r}")
    refs = []
    for i, r in enumerate(references):
        group = [r] if isinstance(r, str) else r
        if not isinstance(group, Sequence) or not group:
            raise ValueError(f"references[{i}] must be a string or a non-empty list of "
                             f"strings, got {r!r}")
        for j, one in enumerate(group):
            if not isinstance(one, str):
                raise TypeError(f"references[{i}][{j}] must be a string, got "
                                f"{type(one).__name__} {one!r}")
        refs.append(list(group))
    return list(hypotheses), refs


def _ngrams(tokens: Sequence[str], n: int) -> Counter:
    """Counts of the n-grams (tuples of n consecutive tokens) in ``tokens``."""
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def _overlap(hyp: Counter, ref: Counter) -> int:
    """Clipped matches: each hypothesis n-gram counts at most as often as the reference has it."""
    return sum(min(count, ref[gram]) for gram, count in hyp.items() if gram in ref)


# ----------------------------------------------------------------------------- BLEU

_BLEU_TOKENIZERS = {  # name -> (sacrebleu module, class)
    "13a": ("tokenizer_13a", "Tokenizer13a"),  # mteval-v13a: splits punctuation (the default)
    "zh": ("tokenizer_zh", "TokenizerZh"),  # each Chinese character is a word, 13a otherwise
    "intl": ("tokenizer_intl", "TokenizerV14International"),  # Unicode-aware punctuation
    "char": ("tokenizer_char", "TokenizerChar"),  # every character is a word
    "none": ("tokenizer_none", "NoneTokenizer"),  # the text is already tokenised
}
_SMOOTH_DEFAULTS = {"exp": None, "floor": 0.1, "add-k": 1.0, "none": None}


@cache
def _bleu_tokenizer(name: str):
    module, cls = _BLEU_TOKENIZERS[name]
    return getattr(importlib.import_module(f"sacrebleu.tokenizers.{module}"), cls)()


@dataclass(frozen=True)
class BLEUResult:
    """A BLEU score with the statistics it was computed from."""

    score: float  # 0-100, like sacrebleu
    precisions: tuple[float, ...]  # modified n-gram precision of each order, in percent
    bp: float  # brevity penalty, exp(1 - ref_len / sys_len) when the output is too short
    sys_len: int  # hypothesis tokens, summed over the corpus
    ref_len: int  # reference tokens (the closest reference for each sentence), summed
    counts: tuple[int, ...]  # clipped n-gram matches of each order (before any add-k)
    totals: tuple[int, ...]  # hypothesis n-grams of each order


def _bleu_stats(hyp: list[str], refs: list[list[str]], order: int) -> list[int]:
    """``[hyp_len, ref_len, matches_1..order, totals_1..order]`` for one sentence."""
    ref_counts: Counter = Counter()  # for each n-gram, the most any one reference has
    for ref in refs:
        for n in range(1, order + 1):
            for gram, count in _ngrams(ref, n).items():
                ref_counts[gram] = max(ref_counts[gram], count)
    # the reference length closest to the hypothesis length; the shorter one on a tie
    ref_len = min((abs(len(r) - len(hyp)), len(r)) for r in refs)[1]
    matches, totals = [], []
    for n in range(1, order + 1):
        grams = _ngrams(hyp, n)
        matches.append(_overlap(grams, ref_counts))
        totals.append(sum(grams.values()))
    return [len(hyp), ref_len, *matches, *totals]


def _bleu_from_stats(stats: list[int], order: int, smooth_method: str,
                     smooth_value: float | None, effective_order: bool) -> BLEUResult:
    sys_len, ref_len = stats[0], stats[1]
    counts, totals = stats[2:2 + order], stats[2 + order:]
    bp = 1.0 if sys_len >= ref_len else (math.exp(1 - ref_len / sys_len) if sys_len else 0.0)
    precisions = [0.0] * order
    result = dict(bp=bp, sys_len=sys_len, ref_len=ref_len, counts=tuple(counts),
                  totals=tuple(totals))
    if not any(counts):  # nothing matched at all: 0 whatever the smoothing
        return BLEUResult(score=0.0, precisions=tuple(precisions), **result)
    k = _SMOOTH_DEFAULTS[smooth_method] if smooth_value is None else smooth_value
    used = order  # effective order: stop at the last order the hypothesis has n-grams for
    halvings = 1.0  # 'exp' smoothing: 1/2, 1/4, ... of a match for each zero precision
    for n in range(order):
        matched, total = counts[n], totals[n]
        if smooth_method == "add-k" and n > 0:  # add k to matches and totals beyond unigrams
            matched, total = matched + k, total + k
        if total == 0:
            break
        if effective_order:
            used = n + 1
        if matched > 0:
            precisions[n] = 100.0 * matched / total
        elif smooth_method == "exp":
            halvings *= 2
            precisions[n] = 100.0 / (halvings * total)
        elif smooth_method == "floor":
            precisions[n] = 100.0 * k / total
    if any(p == 0.0 for p in precisions[:used]):  # a zero precision zeroes the geometric mean
        score = 0.0
    else:
        score = bp * math.exp(sum(math.log(p) for p in precisions[:used]) / used)
    return BLEUResult(score=score, precisions=tuple(precisions), **result)


def _check_bleu_options(tokenize: str, smooth_method: str, smooth_value: Any, lowercase: Any,
                        max_ngram_order: Any) -> None:
    check_choice("tokenize", tokenize, list(_BLEU_TOKENIZERS))
    check_choice("smooth_method", smooth_method, list(_SMOOTH_DEFAULTS))
    if smooth_value is not None:
        if _SMOOTH_DEFAULTS[smooth_method] is None:
            raise ValueError(f"smooth_value is only used by smooth_method 'floor' and 'add-k', "
                             f"got smooth_value={smooth_value!r} with {smooth_method!r}")
        check_float("smooth_value", smooth_value, low=0.0, low_inclusive=False)
    if not isinstance(lowercase, bool):
        raise TypeError(f"lowercase must be True or False, got {lowercase!r}")
    check_int("max_ngram_order", max_ngram_order, min_value=1)


def _bleu(hypotheses: Any, references: Any, tokenize: str, smooth_method: str,
          smooth_value: Any, lowercase: bool, max_ngram_order: int,
          effective_order: bool) -> BLEUResult:
    _check_bleu_options(tokenize, smooth_method, smooth_value, lowercase, max_ngram_order)
    hyps, refs = _check_corpus(hypotheses, references)
    total = [0] * (2 + 2 * max_ngram_order)
    for hyp, group in zip(hyps, refs, strict=True):
        stats = _bleu_sentence(hyp, tuple(group), tokenize, lowercase, max_ngram_order)
        total = [a + b for a, b in zip(total, stats, strict=True)]  # pool over the corpus
    return _bleu_from_stats(total, max_ngram_order, smooth_method, smooth_value,
                            effective_order)


@lru_cache(maxsize=2**16)  # a bootstrap rescores the same sentences many times
def _bleu_sentence(hyp: str, refs: tuple[str, ...], tokenize: str, lowercase: bool,
                   order: int) -> tuple[int, ...]:
    tokenizer = _bleu_tokenizer(tokenize)

    def words(text: str) -> list[str]:
        return tokenizer((text.lower() if lowercase else text).rstrip()).split()

    return tuple(_bleu_stats(words(hyp), [words(r) for r in refs], order))


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str] | Sequence[Sequence[str]],
                *, tokenize: str = "13a", smooth_method: str = "exp",
                smooth_value: float | None = None, lowercase: bool = False,
                max_ngram_order: int = 4) -> BLEUResult:
    """Corpus BLEU, equal to ``sacrebleu.corpus_bleu`` (which takes transposed references).

    ``BLEU = BP * exp(mean_n log p_n)`` with ``p_n`` the clipped n-gram precision pooled over
    the corpus (each hypothesis n-gram matches at most as often as it occurs in one of its
    references) and ``BP = exp(1 - r / c)`` when the output length ``c`` is below the
    reference length ``r`` (for each sentence the closest reference length, the shorter on
    a tie), else 1. A zero ``p_n`` would zero the score; ``smooth_method`` softens that:
    ``"exp"`` (sacrebleu's default) uses ``1 / (2^k total)`` for the k-th zero precision,
    ``"floor"`` uses ``smooth_value / total`` (default 0.1), ``"add-k"`` adds
    ``smooth_value`` (default 1) to the matches and totals of orders 2 and up, ``"none"``
    leaves it at zero. Without any match at all the score is 0.

    >>> r = corpus_bleu(["the cat is on the mat"], [["the cat is on a mat", "a cat sat"]])
    >>> round(r.score, 2), r.counts, r.totals
    (53.73, (5, 3, 2, 1), (6, 5, 4, 3))
    """
    return _bleu(hypotheses, references, tokenize, smooth_method, smooth_value, lowercase,
                 max_ngram_order, effective_order=False)


def sentence_bleu(hypothesis: str, references: str | Sequence[str], *, tokenize: str = "13a",
                  smooth_method: str = "exp", smooth_value: float | None = None,
                  lowercase: bool = False, max_ngram_order: int = 4) -> BLEUResult:
    """BLEU of one sentence, = ``sacrebleu.sentence_bleu``: the mean runs only over the
    orders the hypothesis has n-grams of (*effective order*), so a 3-word output is not 0 for
    lacking 4-grams. BLEU is meant for corpora; per sentence it is noisy.

    >>> round(sentence_bleu("a cat", "a cat").score, 6)
    100.0
    """
    if not isinstance(hypothesis, str):
        raise TypeError(f"hypothesis must be a string, got {type(hypothesis).__name__}")
    return _bleu([hypothesis], [references], tokenize, smooth_method, smooth_value, lowercase,
                 max_ngram_order, effective_order=True)


# ----------------------------------------------------------------------------- chrF

_PUNCTUATION = set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


def _chrf_words(text: str) -> list[str]:
    """Whitespace words with one punctuation mark split off the end (else the start)."""
    words = []
    for w in text.split():
        if len(w) > 1 and w[-1] in _PUNCTUATION:
            words += [w[:-1], w[-1]]
        elif len(w) > 1 and w[0] in _PUNCTUATION:
            words += [w[0], w[1:]]
        else:
            words.append(w)
    return words


def _chrf_grams(text: str, char_order: int, word_order: int, whitespace: bool) -> list[Counter]:
    """Character n-gram counts for n = 1..char_order, then word n-grams for 1..word_order."""
    chars = text if whitespace else "".join(text.split())
    grams = [_ngrams(chars, n) for n in range(1, char_order + 1)]
    words = _chrf_words(text)
    return grams + [_ngrams(words, n) for n in range(1, word_order + 1)]


def _chrf_stats(hyp: list[Counter], ref: list[Counter]) -> list[int]:
    """``[hyp n-grams, ref n-grams, matches]`` per order; an order the reference lacks
    contributes no hypothesis n-grams."""
    stats = []
    for h, r in zip(hyp, ref, strict=True):
        stats += [sum(h.values()) if r else 0, sum(r.values()), _overlap(h, r)]
    return stats


def _chrf_score(stats: list[int], beta: float, eps_smoothing: bool) -> float:
    """F-beta from per-order statistics: precision and recall averaged over the orders that
    both sides have (``eps_smoothing=False``), or the mean of per-order F-scores with a
    tiny epsilon for empty orders (chrF++.py / NLTK style)."""
    b2, eps = beta ** 2, 1e-16
    mean_f, precisions, recalls = 0.0, [], []
    for i in range(0, len(stats), 3):
        n_hyp, n_ref, matched = stats[i:i + 3]
        p = matched / n_hyp if n_hyp > 0 else eps
        r = matched / n_ref if n_ref > 0 else eps
        mean_f += (1 + b2) * p * r / (b2 * p + r) if b2 * p + r > 0 else eps
        if n_hyp > 0 and n_ref > 0:
            precisions.append(p)
            recalls.append(r)
    if eps_smoothing:
        return 100 * mean_f / (len(stats) // 3)
    p = sum(precisions) / len(precisions) if precisions else 0.0
    r = sum(recalls) / len(recalls) if recalls else 0.0
    return 100 * (1 + b2) * p * r / (b2 * p + r) if p + r else 0.0


def chrf(hypotheses: Sequence[str], references: Sequence[str] | Sequence[Sequence[str]], *,
         char_order: int = 6, word_order: int = 0, beta: float = 2, lowercase: bool = False,
         whitespace: bool = False, eps_smoothing: bool = False) -> float:
    """Corpus chrF (0-100), equal to sacrebleu's ``CHRF``; ``word_order=2`` gives chrF++.

    Character n-grams (spaces removed unless ``whitespace``) of orders 1..``char_order``,
    plus word n-grams up to ``word_order``; per order, clipped matches give precision and
    recall, pooled over the corpus; these are averaged over orders and combined into
    ``F_beta = (1 + b^2) P R / (b^2 P + R)`` (``beta=2``: recall weighs twice as much).
    With several references a sentence uses the one with its best sentence-level chrF.

    >>> round(chrf(["the cat sat"], ["the cat sat"]), 6)
    100.0
    >>> round(chrf(["the cats sat"], ["the cat sat"]), 2)
    74.78
    """
    check_int("char_order", char_order, min_value=1)
    check_int("word_order", word_order, min_value=0)
    check_float("beta", beta, low=0.0, low_inclusive=False)
    for name, flag in (("lowercase", lowercase), ("whitespace", whitespace),
                       ("eps_smoothing", eps_smoothing)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be True or False, got {flag!r}")
    hyps, refs = _check_corpus(hypotheses, references)
    options = (char_order, word_order, float(beta), lowercase, whitespace, eps_smoothing)
    total = [0] * (3 * (char_order + word_order))
    for hyp, group in zip(hyps, refs, strict=True):
        best = _chrf_sentence(hyp, tuple(group), *options)
        total = [a + b for a, b in zip(total, best, strict=True)]  # pool over the corpus
    return _chrf_score(total, beta, eps_smoothing)


@lru_cache(maxsize=2**16)  # a bootstrap rescores the same sentences many times
def _chrf_sentence(hyp: str, refs: tuple[str, ...], char_order: int, word_order: int,
                   beta: float, lowercase: bool, whitespace: bool,
                   eps_smoothing: bool) -> tuple[int, ...]:
    """The statistics of ``hyp`` against the reference it scores best on (the first if tied)."""
    def grams(text: str) -> list[Counter]:
        return _chrf_grams(text.lower() if lowercase else text, char_order, word_order,
                           whitespace)

    h = grams(hyp)
    candidates = [_chrf_stats(h, grams(r)) for r in refs]
    scores = [_chrf_score(c, beta, eps_smoothing) for c in candidates]
    return tuple(candidates[scores.index(max(scores))])


# ----------------------------------------------------------------------------- ROUGE

_ROUGE_N = re.compile(r"rouge([1-9])$")


@lru_cache(maxsize=2)
def _rouge_tokenizer(use_stemmer: bool):
    from rouge_score.tokenizers import DefaultTokenizer  # imports nltk: only when needed

    return DefaultTokenizer(use_stemmer)


def _lcs_table(a: Sequence[str], b: Sequence[str]) -> list[list[int]]:
    """``t[i][j]`` = length of the longest common subsequence of ``a[:i]`` and ``b[:j]``."""
    t = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            if a[i - 1] == b[j - 1]:
                t[i][j] = t[i - 1][j - 1] + 1
            else:
                t[i][j] = max(t[i - 1][j], t[i][j - 1])
    return t


def _lcs_positions(ref: Sequence[str], hyp: Sequence[str]) -> list[int]:
    """Positions in ``ref`` of one longest common subsequence, read back from the table.

    When both moves keep the length, step back in ``ref`` (rouge-score's choice): which LCS
    is picked matters for ROUGE-Lsum, which takes the union over hypothesis sentences.
    """
    t = _lcs_table(ref, hyp)
    i, j, positions = len(ref), len(hyp), []
    while i > 0 and j > 0:
        if ref[i - 1] == hyp[j - 1]:
            positions.append(i - 1)
            i, j = i - 1, j - 1
        elif t[i][j - 1] > t[i - 1][j]:
            j -= 1
        else:
            i -= 1
    return positions[::-1]


def _pair_prf(overlap: int, n_hyp: int, n_ref: int) -> PRF:
    p = overlap / n_hyp if n_hyp else 0.0
    r = overlap / n_ref if n_ref else 0.0
    return PRF(p, r, 2 * p * r / (p + r) if p + r > 0 else 0.0, n_ref)


def _rouge_lsum(ref_sents: list[list[str]], hyp_sents: list[list[str]]) -> PRF:
    """Summary-level LCS: for each reference sentence, the union of its LCS with every
    hypothesis sentence; each token is credited at most as often as both summaries have it."""
    n_ref, n_hyp = sum(map(len, ref_sents)), sum(map(len, hyp_sents))
    if not n_ref or not n_hyp:
        return PRF(0.0, 0.0, 0.0, n_ref)
    # each reference position is credited at most once, so only the hypothesis can run out
    left_hyp = Counter(tok for s in hyp_sents for tok in s)
    hits = 0
    for ref in ref_sents:
        union = set().union(*(_lcs_positions(ref, hyp) for hyp in hyp_sents))
        for tok in (ref[i] for i in sorted(union)):
            if left_hyp[tok] > 0:
                hits += 1
                left_hyp[tok] -= 1
    return _pair_prf(hits, n_hyp, n_ref)


@lru_cache(maxsize=2**14)  # a bootstrap rescores the same pairs many times
def _rouge_one(hyp: str, ref: str, types: tuple[str, ...],
               use_stemmer: bool) -> dict[str, PRF]:
    tokenize = _rouge_tokenizer(use_stemmer).tokenize
    h, r = tokenize(hyp), tokenize(ref)
    out = {}
    for kind in types:
        if kind == "rougeL":
            lcs = _lcs_table(r, h)[-1][-1] if h and r else 0
            out[kind] = _pair_prf(lcs, len(h), len(r))
        elif kind == "rougeLsum":  # sentences are the lines of the text
            def lines(text: str) -> list[list[str]]:
                return [tokenize(s) for s in text.split("\n") if s]
            out[kind] = _rouge_lsum(lines(ref), lines(hyp))
        else:
            n = int(_ROUGE_N.match(kind).group(1))
            hg, rg = _ngrams(h, n), _ngrams(r, n)
            out[kind] = _pair_prf(_overlap(hg, rg), sum(hg.values()), sum(rg.values()))
    return out


def _check_rouge_types(types: Any, use_stemmer: Any) -> list[str]:
    if isinstance(types, str) or not isinstance(types, Sequence) or not types:
        raise TypeError(f"types must be a non-empty list such as ['rouge1', 'rougeL'], got "
                        f"{types!r}")
    for kind in types:
        if kind not in ("rougeL", "rougeLsum") and not (isinstance(kind, str)
                                                        and _ROUGE_N.match(kind)):
            raise ValueError(f"types has {kind!r}; expected 'rouge1'..'rouge9', 'rougeL' or "
                             "'rougeLsum'")
    if len(set(types)) != len(types):
        raise ValueError(f"types has repeated entries: {list(types)}")
    if not isinstance(use_stemmer, bool):
        raise TypeError(f"use_stemmer must be True or False, got {use_stemmer!r}")
    return list(types)


def rouge_pair(hypothesis: str, reference: str | Sequence[str], *,
               types: Sequence[str] = ("rouge1", "rouge2", "rougeL", "rougeLsum"),
               use_stemmer: bool = False) -> dict[str, PRF]:
    """ROUGE of one hypothesis against one or several references, = rouge-score's
    ``RougeScorer(types, use_stemmer).score(reference, hypothesis)`` (note its order: the
    target first), or ``score_multi`` for a list: per type, the reference with the best F1.

    Tokens are lowercased ASCII letters and digits (rouge-score's tokenizer; anything else,
    Chinese included, is dropped), optionally Porter-stemmed. ROUGE-N: clipped n-gram
    overlap over the hypothesis (precision) and the reference (recall); ROUGE-L: the longest
    common subsequence instead; ROUGE-Lsum: a summary-level LCS over sentences, one per line.
    ``support`` is the reference size: its n-grams for ROUGE-N, its tokens for ROUGE-L.

    >>> s = rouge_pair("police killed the gunman", "police kill the gunman", use_stemmer=True)
    >>> s["rouge1"].f1, s["rouge2"].recall
    (1.0, 1.0)
    """
    types = _check_rouge_types(types, use_stemmer)
    if not isinstance(hypothesis, str):
        raise TypeError(f"hypothesis must be a string (use rouge() for a corpus), got "
                        f"{type(hypothesis).__name__}")
    _, refs = _check_corpus([hypothesis], [reference])
    scored = [_rouge_one(hypothesis, ref, tuple(types), use_stemmer) for ref in refs[0]]
    best = {}
    for kind in types:
        f1s = [s[kind].f1 for s in scored]
        best[kind] = scored[f1s.index(max(f1s))][kind]  # the first reference with the best F1
    return best


def rouge(hypotheses: Sequence[str], references: Sequence[str] | Sequence[Sequence[str]], *,
          types: Sequence[str] = ("rouge1", "rouge2", "rougeL", "rougeLsum"),
          use_stemmer: bool = False) -> dict[str, PRF]:
    """Corpus ROUGE: precision, recall and F1 of ``rouge_pair`` averaged over the pairs (a
    plain mean, as reported for summarisation; ``support`` is summed).

    >>> s = rouge(["the cat sat", "a dog"], ["the cat sat down", "a dog barked"])
    >>> round(s["rouge1"].recall, 4), round(s["rouge1"].precision, 4)
    (0.7083, 1.0)
    """
    types = _check_rouge_types(types, use_stemmer)
    hyps, refs = _check_corpus(hypotheses, references)
    pairs = [rouge_pair(h, r, types=types, use_stemmer=use_stemmer)
             for h, r in zip(hyps, refs, strict=True)]
    out = {}
    for kind in types:
        rows = [p[kind] for p in pairs]
        out[kind] = PRF(*(sum(row[k] for row in rows) / len(rows) for k in range(3)),
                        sum(row.support for row in rows))
    return out
