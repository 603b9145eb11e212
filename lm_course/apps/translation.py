"""Machine translation English <-> Chinese (chapter 08e): baselines, decoding and scoring
around the seq2seq models of chapters 04 and 05.

Nothing here is a second model, loop or decoder. The models are
:class:`lm_course.attention.LSTMSeq2Seq` and :class:`lm_course.transformer.Transformer`,
trained with :func:`lm_course.attention.train_seq2seq`; beam search is
:func:`lm_course.generation.beam_search`, which was written for decoder-only language
models. :class:`SourceConditioned` turns an encoder-decoder with one fixed source sentence
into exactly such a model (target prefix in, next-token logits out), so the same beam search
with its end token and length normalisation decodes translations. This module adds what is
specific to translation: the two baselines (copy the source; a word-by-word dictionary from
co-occurrence counts), batched greedy translation of strings, cross-attention maps of real
sentence pairs, and BLEU / chrF with bootstrap intervals.

>>> pairs = [("the dog", "狗"), ("the cat", "猫"), ("a dog", "狗"), ("a cat", "猫")]
>>> model = DictionaryTranslator("en-zh", min_count=1, min_dice=0.6).fit(pairs)
>>> model.translate(["the cat", "a dog"])  # 'the', 'a' have Dice 0.5 with each: dropped
['猫', '狗']
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import torch
from scipy import sparse
from torch import Tensor, nn

from lm_course.attention import BOS, EOS, PAD, SPECIALS, LSTMSeq2Seq, decode_ids, padding_mask
from lm_course.generation import beam_search
from lm_course.metrics import bootstrap_ci
from lm_course.metrics_text import chrf, corpus_bleu
from lm_course.tokenizers import CharTokenizer
from lm_course.transformer import Transformer
from lm_course.utils import check_choice, check_float, check_int, check_tensor

DIRECTIONS = ("en-zh", "zh-en")
UNKNOWN_CHAR = "\u25a1"  # "□": stands in for a character the character tokenizer never saw


def languages(direction: str) -> tuple[str, str]:
    """``"en-zh"`` -> ``("en", "zh")``: (source language, target language).

    >>> languages("zh-en")
    ('zh', 'en')
    """
    check_choice("direction", direction, DIRECTIONS)
    src, tgt = direction.split("-")
    return src, tgt


def bleu_tokenize(lang: str) -> str:
    """sacrebleu's tokenisation for a target language: ``zh`` (one word per Chinese character)
    for Chinese, the default ``13a`` for English."""
    return {"zh": "zh", "en": "13a"}[check_choice("lang", lang, ["en", "zh"])]


def _check_texts(name: str, texts: object) -> list[str]:
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise TypeError(f"{name} must be a list of strings, got {type(texts).__name__}")
    if not texts:
        raise ValueError(f"{name} is empty: give at least one sentence")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"{name}[{i}] must be a string, got {type(t).__name__}")
    return list(texts)


def _check_pairs(pairs: object) -> list[tuple[str, str]]:
    if isinstance(pairs, str) or not isinstance(pairs, Sequence) or not pairs:
        raise ValueError(f"pairs must be a non-empty list of (source, target) strings, got "
                         f"{type(pairs).__name__} {pairs!r:.40}")
    for i, p in enumerate(pairs):
        if not (isinstance(p, (tuple, list)) and len(p) == 2
                and all(isinstance(s, str) for s in p)):
            raise TypeError(f"pairs[{i}] must be a (source, target) pair of strings, got {p!r}")
    return [(s, t) for s, t in pairs]


def pair_texts(pairs: Sequence[dict], direction: str) -> list[tuple[str, str]]:
    """Verse dicts of :func:`lm_course.app_data.load_bible_pairs` -> (source, target) strings.

    >>> pair_texts([{"en": "In the beginning", "zh": "起初"}], "zh-en")
    [('起初', 'In the beginning')]
    """
    src, tgt = languages(direction)
    if isinstance(pairs, (str, dict)) or not isinstance(pairs, Sequence) or not pairs:
        raise ValueError("pairs must be a non-empty list of verse dicts with 'en' and 'zh'")
    for i, p in enumerate(pairs):
        if not isinstance(p, dict) or not isinstance(p.get("en"), str) \
                or not isinstance(p.get("zh"), str):
            raise TypeError(f"pairs[{i}] must be a dict with string 'en' and 'zh', got {p!r:.60}")
    return [(p[src], p[tgt]) for p in pairs]


# ----------------------------------------------------------------------------- tokens


def char_tokenizer(texts: Sequence[str]) -> CharTokenizer:
    """A character tokenizer over ``texts`` plus :data:`UNKNOWN_CHAR` (see :func:`known`)."""
    texts = _check_texts("texts", texts)
    return CharTokenizer().train("".join(texts) + UNKNOWN_CHAR)


def known(text: str, tokenizer) -> str:
    """``text`` with the characters a :class:`CharTokenizer` has not seen replaced by
    :data:`UNKNOWN_CHAR` (a byte-level BPE encodes anything: returned unchanged)."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}")
    index = getattr(tokenizer, "_index", None)
    if index is None:
        return text
    return "".join(c if c in index else UNKNOWN_CHAR for c in text)


def token_lengths(texts: Sequence[str], tokenizer) -> list[int]:
    """Tokens per text under ``tokenizer`` (what a model pays in sequence length)."""
    return [len(tokenizer.encode(known(t, tokenizer))) for t in _check_texts("texts", texts)]


def encode_corpus(pairs: Sequence[tuple[str, str]], src_tokenizer, tgt_tokenizer,
                  max_src: int, max_tgt: int) -> tuple[Tensor, Tensor, Tensor, list[int]]:
    """Encode (source, target) pairs with :func:`lm_course.attention.encode_pairs`' layout,
    keeping only pairs of at most ``max_src`` source tokens and ``max_tgt`` target tokens
    (BOS and EOS not counted). Returns ``src`` (N, S), ``src_lengths`` (N,), ``tgt`` (N, T)
    and the indices of the kept pairs."""
    pairs = _check_pairs(pairs)
    check_int("max_src", max_src, min_value=1)
    check_int("max_tgt", max_tgt, min_value=1)
    srcs, tgts, kept = [], [], []
    for i, (s, t) in enumerate(pairs):
        a = src_tokenizer.encode(known(s, src_tokenizer))
        b = tgt_tokenizer.encode(known(t, tgt_tokenizer))
        if 0 < len(a) <= max_src and len(b) <= max_tgt:
            srcs.append([x + SPECIALS for x in a])
            tgts.append([BOS] + [x + SPECIALS for x in b] + [EOS])
            kept.append(i)
    if not kept:
        raise ValueError(f"no pair fits max_src={max_src} and max_tgt={max_tgt} tokens")
    src = torch.full((len(kept), max(map(len, srcs))), PAD, dtype=torch.long)
    tgt = torch.full((len(kept), max(map(len, tgts))), PAD, dtype=torch.long)
    for row, (s, t) in enumerate(zip(srcs, tgts, strict=True)):
        src[row, : len(s)] = torch.tensor(s)
        tgt[row, : len(t)] = torch.tensor(t)
    return src, torch.tensor([len(s) for s in srcs]), tgt, kept


def _source_ids(sources: list[str], tokenizer, max_src: int) -> list[list[int]]:
    """Shifted source ids, cut to ``max_src`` tokens (a longer verse keeps its beginning)."""
    out = []
    for s in sources:
        ids = [x + SPECIALS for x in tokenizer.encode(known(s, tokenizer))][:max_src]
        out.append(ids or [SPECIALS])  # an empty source still needs one position
    return out


def _check_model(model: object) -> nn.Module:
    if not isinstance(model, (LSTMSeq2Seq, Transformer)):
        raise TypeError(f"model must be an LSTMSeq2Seq or a Transformer, got "
                        f"{type(model).__name__}")
    return model


# ----------------------------------------------------------------------------- baselines


def copy_source(sources: Sequence[str]) -> list[str]:
    """The copy baseline: the "translation" is the source itself. It scores above zero only
    where the two languages share strings (names in Latin letters, digits, punctuation)."""
    return list(_check_texts("sources", sources))


_EN_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
_ZH_CHAR = re.compile(r"[\u3400-\u9fff]")


def _units(text: str, lang: str) -> list[str]:
    """Lowercased English words, or Chinese characters (punctuation dropped on both sides)."""
    return _EN_WORD.findall(text.lower()) if lang == "en" else _ZH_CHAR.findall(text)


def _presence(docs: list[list[str]]):
    """A sparse 0/1 matrix (documents x units) of which units each document contains, and the
    units in sorted order (column j is ``units[j]``)."""
    units = sorted({u for d in docs for u in d})
    index = {u: j for j, u in enumerate(units)}
    rows, cols = [], []
    for i, d in enumerate(docs):
        js = {index[u] for u in d}
        rows += [i] * len(js)
        cols += js
    matrix = sparse.csr_matrix((np.ones(len(rows), dtype=np.int64), (rows, cols)),
                               shape=(len(docs), len(units)))
    return matrix, units


class DictionaryTranslator:
    """Word-by-word baseline: every source unit is replaced by the target unit it co-occurs
    with most strongly in the training pairs, in source order.

    Units are lowercased English words and Chinese characters. Strength is the Dice
    coefficient of sentence co-occurrence, ``2 c(s, t) / (c(s) + c(t))`` with ``c`` counting
    the training pairs that contain a unit (or both): raw co-occurrence counts would pair
    every word with the most common target unit (``的``, ``the``); Dice divides that out.
    A source unit seen in fewer than ``min_count`` pairs, or whose best Dice is below
    ``min_dice``, is dropped. Word order, inflection and one-to-many translations are
    ignored: that is the baseline a model has to beat.
    """

    def __init__(self, direction: str, *, min_count: int = 2, min_dice: float = 0.05) -> None:
        self.src, self.tgt = languages(direction)
        self.min_count = check_int("min_count", min_count, min_value=1)
        self.min_dice = check_float("min_dice", min_dice, low=0.0, high=1.0)
        self.table: dict[str, str] = {}

    def fit(self, pairs: Sequence[tuple[str, str]]) -> DictionaryTranslator:
        """Count co-occurrences in (source, target) pairs and keep each unit's best match
        (the highest Dice; on a tie, the last target unit in sorted order)."""
        pairs = _check_pairs(pairs)
        S, src_units = _presence([_units(s, self.src) for s, _ in pairs])  # (N, Vs) 0/1
        T, tgt_units = _presence([_units(t, self.tgt) for _, t in pairs])  # (N, Vt) 0/1
        src_df = np.asarray(S.sum(0)).ravel()  # (Vs,) pairs containing each source unit
        tgt_df = np.asarray(T.sum(0)).ravel()  # (Vt,)
        joint = (S.T @ T).tocoo()  # (Vs, Vt) pairs containing both, only the nonzero counts
        self.table = {}
        if joint.nnz == 0:
            return self
        a, b, c = joint.row, joint.col, joint.data.astype(np.float64)
        dice = 2 * c / (src_df[a] + tgt_df[b])
        # per source unit the best (dice, target unit): sort by unit, then dice, then target
        order = np.lexsort((b, dice, a))  # target ids follow sorted order: ties go to the last
        last = order[np.r_[a[order][1:] != a[order][:-1], True]]  # last entry of each unit
        for i, j, d in zip(a[last], b[last], dice[last], strict=True):
            if src_df[i] >= self.min_count and d >= self.min_dice:
                self.table[src_units[i]] = tgt_units[j]
        return self

    def translate(self, sources: Sequence[str]) -> list[str]:
        """Translate unit by unit; a unit repeated right after itself is written once."""
        sources = _check_texts("sources", sources)
        if not self.table:
            raise ValueError("DictionaryTranslator is not fitted: call fit(pairs) first")
        joiner = "" if self.tgt == "zh" else " "
        out = []
        for s in sources:
            words: list[str] = []
            for u in _units(s, self.src):
                w = self.table.get(u)
                if w is not None and (not words or words[-1] != w):
                    words.append(w)
            out.append(joiner.join(words))
        return out


# ----------------------------------------------------------------------------- decoding


@torch.no_grad()
def translate_greedy(model: nn.Module, sources: Sequence[str], src_tokenizer, tgt_tokenizer,
                     *, max_src: int, max_len: int, batch_size: int = 256) -> list[str]:
    """Greedy translations of ``sources`` with the model's own ``generate``, in batches
    (sorted by length, so little padding; the output keeps the input order)."""
    _check_model(model)
    sources = _check_texts("sources", sources)
    check_int("max_src", max_src, min_value=1)
    check_int("max_len", max_len, min_value=1)
    check_int("batch_size", batch_size, min_value=1)
    ids = _source_ids(sources, src_tokenizer, max_src)
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    out: list[str] = [""] * len(ids)
    was_training = model.training
    model.eval()
    for start in range(0, len(order), batch_size):
        rows = order[start: start + batch_size]
        lengths = torch.tensor([len(ids[i]) for i in rows])
        src = torch.full((len(rows), int(lengths.max())), PAD, dtype=torch.long)
        for r, i in enumerate(rows):
            src[r, : len(ids[i])] = torch.tensor(ids[i])
        gen, _ = model.generate(src, lengths, max_len)  # (b, max_len)
        for r, i in enumerate(rows):
            out[i] = decode_ids(gen[r], tgt_tokenizer)
    model.train(was_training)
    return out


class SourceConditioned(nn.Module):
    """An encoder-decoder with one source sentence fixed, seen as a language model over the
    target: ``forward(prefixes (K, T))`` -> ``(logits (K, 1, V), None)``, the next-token
    logits after each target prefix (prefixes start with BOS). That is the interface
    :func:`lm_course.generation.beam_search` decodes, with ``use_cache=False``.

    The source is encoded once. The LSTM decoder keeps the state after each prefix it has
    seen, so a prefix one token longer than a known one costs one decoder step; the
    Transformer decoder reruns its (short) prefixes, which is exact by causality.
    """

    def __init__(self, model: nn.Module, src_ids: Sequence[int]) -> None:
        super().__init__()
        self.model = _check_model(model)
        src_ids = list(src_ids)
        if not src_ids or not all(isinstance(i, int) and i >= SPECIALS for i in src_ids):
            raise ValueError(f"src_ids must be a non-empty list of shifted token ids (>= "
                             f"{SPECIALS}), got {src_ids!r:.60}")
        device = next(model.parameters()).device
        src = torch.tensor([src_ids], device=device)  # (1, S)
        lengths = torch.tensor([len(src_ids)])
        self.mask = padding_mask(lengths.to(device), src.size(1))  # (1, S)
        if isinstance(model, Transformer):
            self.memory, _ = model.encode(src, lengths)  # (1, S, C)
            self.keys = None
        else:
            self.memory, state = model.encode(src, lengths)  # (1, S, 2h), ((1, h), (1, h))
            self.keys = model.attn.project_keys(self.memory) if model.attn is not None else None
            self._states: dict[tuple[int, ...], tuple[Tensor, Tensor]] = {(): state}

    def _lstm_logits(self, row: list[int]) -> Tensor:
        known_len = len(row) - 1
        while tuple(row[:known_len]) not in self._states:
            known_len -= 1
        state = self._states[tuple(row[:known_len])]
        for t in range(known_len, len(row)):
            y = torch.tensor([row[t]], device=self.memory.device)
            logits, state, _ = self.model._step(y, state, self.memory, self.keys, self.mask)
            self._states[tuple(row[: t + 1])] = state
        return logits[0]  # (V,)

    def forward(self, prefixes: Tensor) -> tuple[Tensor, None]:
        check_tensor("prefixes", prefixes, ndim=2, integer=True)
        if isinstance(self.model, Transformer):
            k = prefixes.size(0)
            logits = self.model.decode(prefixes, self.memory.expand(k, -1, -1),
                                       self.mask.expand(k, -1))  # (K, T, V)
            return logits[:, -1:], None
        rows = [self._lstm_logits(r) for r in prefixes.tolist()]
        return torch.stack(rows)[:, None], None  # (K, 1, V)


@torch.no_grad()
def beam_translate(model: nn.Module, source: str, src_tokenizer, tgt_tokenizer, *,
                   max_src: int, max_len: int, num_beams: int = 4, length_penalty: float = 1.0
                   ) -> list[tuple[str, float]]:
    """Beam search (:func:`lm_course.generation.beam_search`, end token EOS, score = summed
    log-probability / length ** ``length_penalty``) for one source; the ``num_beams`` best
    (translation, score) pairs, best first."""
    if not isinstance(source, str):
        raise TypeError(f"source must be a string, got {type(source).__name__}")
    check_int("max_src", max_src, min_value=1)
    check_int("max_len", max_len, min_value=1)
    was_training = model.training
    model.eval()
    lm = SourceConditioned(model, _source_ids([source], src_tokenizer, max_src)[0])
    hyps = beam_search(lm, [BOS], max_len, num_beams, length_penalty=length_penalty,
                       eos_token_id=EOS, use_cache=False)
    model.train(was_training)
    return [(decode_ids(ids[1:], tgt_tokenizer), score) for ids, score in hyps]


@torch.no_grad()
def cross_attention(model: nn.Module, src_ids: Sequence[int], tgt_ids: Sequence[int]
                    ) -> Tensor:
    """Attention of each target position over the source, with the target teacher-forced:
    (T + 1, S) for shifted ``tgt_ids`` of length T (the decoder reads BOS + target and
    predicts target + EOS). Rows sum to 1. The Transformer's map is its last decoder layer's
    cross-attention averaged over heads; the LSTM's is its additive attention."""
    lm = SourceConditioned(model, src_ids)
    tgt_ids = list(tgt_ids)
    if not all(isinstance(i, int) and i >= SPECIALS for i in tgt_ids):
        raise ValueError("tgt_ids must be shifted target token ids (>= 3)")
    model.eval()
    device = lm.memory.device
    tgt_in = torch.tensor([[BOS] + tgt_ids], device=device)  # (1, T + 1)
    if isinstance(model, Transformer):
        model.decode(tgt_in, lm.memory, lm.mask, need_weights=True)
        return model.decoder[-1].cross_weights.mean(dim=1)[0]  # (T + 1, S)
    if model.attn is None:
        raise ValueError("this LSTMSeq2Seq has no attention (config.attention=False)")
    state, maps = lm._states[()], []
    for t in range(tgt_in.size(1)):
        _, state, weights = model._step(tgt_in[:, t], state, lm.memory, lm.keys, lm.mask)
        maps.append(weights[0])
    return torch.stack(maps)  # (T + 1, S)


# ----------------------------------------------------------------------------- scores


def score_with_ci(hypotheses: Sequence[str], references: Sequence[str], target_lang: str, *,
                  n_resamples: int = 1000, seed: int = 0) -> dict[str, tuple[float, float, float]]:
    """Corpus BLEU (sacrebleu's ``zh`` tokenisation for Chinese targets) and chrF, each as
    ``(point, low, high)`` with a 95% percentile bootstrap over sentences."""
    hypotheses = _check_texts("hypotheses", hypotheses)
    references = _check_texts("references", references)
    if len(hypotheses) != len(references):
        raise ValueError(f"hypotheses and references must have the same length, got "
                         f"{len(hypotheses)} and {len(references)}")
    tok = bleu_tokenize(target_lang)

    def bleu(refs: list[str], hyps: list[str]) -> float:
        return corpus_bleu(hyps, refs, tokenize=tok).score

    def chrf_score(refs: list[str], hyps: list[str]) -> float:
        return chrf(hyps, refs)

    return {name: bootstrap_ci(f, references, hypotheses, n_resamples=n_resamples, seed=seed)
            for name, f in (("bleu", bleu), ("chrf", chrf_score))}


__all__ = [
    "DIRECTIONS", "UNKNOWN_CHAR", "DictionaryTranslator", "SourceConditioned", "beam_translate",
    "bleu_tokenize", "char_tokenizer", "copy_source", "cross_attention", "encode_corpus",
    "known", "languages", "pair_texts", "score_with_ci", "token_lengths", "translate_greedy",
]
