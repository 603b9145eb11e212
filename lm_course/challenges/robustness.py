"""Robustness to messy input: seeded character noise, typos and casing changes at an exact
rate, what they do to a tokenizer (tokens per word, unknown tokens), and scores measured
under noise with bootstrap intervals.

A rate is the share of the text's ASCII letters that are edited: ``rate=0.05`` on a text with
200 letters makes exactly ``round(0.05 * 200) = 10`` edits, at positions drawn by a
``random.Random(seed)`` of its own (the global random state is untouched), so the same call
always gives the same text and a larger rate never makes fewer edits.

- ``"noise"``: a letter replaced by a random *other* letter (case kept);
- ``"typo"``: a keyboard slip, one of: a QWERTY neighbour typed instead (case kept), the
  letter dropped, or the letter swapped with the next one;
- ``"case"``: a letter's case flipped.

>>> corrupt("The cat sat on the mat", 0.25, kind="case", seed=0)
'the cAt sat on tHE mat'
"""

from __future__ import annotations

import math
import random
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from lm_course.metrics import bootstrap_ci
from lm_course.tokenizers import BPETokenizer, CharTokenizer, Tokenizer, WordTokenizer
from lm_course.training import evaluate_loss
from lm_course.utils import check_choice, check_float, check_int

__all__ = ["KINDS", "TYPO_OPS", "KEYBOARD_NEIGHBOURS", "n_edits", "corrupt", "tokens_per_word",
           "unknown_share", "char_ngrams", "NoisyScore", "score_under_noise", "bits_per_char"]

KINDS = ("noise", "typo", "case")
TYPO_OPS = ("substitute", "delete", "swap")

_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def _neighbours() -> dict[str, str]:
    """Each lower-case letter -> the letters touching it on a QWERTY keyboard (same row left
    and right, the row above and below shifted by half a key)."""
    where = {ch: (r, c) for r, row in enumerate(_ROWS) for c, ch in enumerate(row)}
    out = {}
    for ch, (r, c) in where.items():
        near = []
        for other, (r2, c2) in where.items():
            same_row = r2 == r and abs(c2 - c) == 1
            # each row sits half a key right of the row above it
            next_row = abs(r2 - r) == 1 and c2 - c in ((0, 1) if r2 < r else (-1, 0))
            if same_row or next_row:
                near.append(other)
        out[ch] = "".join(sorted(near))
    return out


KEYBOARD_NEIGHBOURS: dict[str, str] = _neighbours()


def _is_letter(ch: str) -> bool:
    return ch in string.ascii_letters


def _check_text(name: str, text: object) -> str:
    if not isinstance(text, str):
        raise TypeError(f"{name} must be a str, got {type(text).__name__}")
    return text


def n_edits(text: str, rate: float) -> int:
    """How many letters ``corrupt(text, rate)`` edits: ``round(rate * letters)``, halves
    rounded up (so a rate above zero on a long enough text always edits something).

    >>> n_edits("abcd efgh!", 0.25)
    2
    """
    text = _check_text("text", text)
    rate = check_float("rate", rate, low=0.0, high=1.0)
    letters = sum(_is_letter(ch) for ch in text)
    return int(math.floor(rate * letters + 0.5))


def _keep_case(new: str, old: str) -> str:
    return new.upper() if old.isupper() else new


def corrupt(text: str, rate: float, kind: str = "typo", seed: int = 0,
            ops: Sequence[str] = TYPO_OPS) -> str:
    """``text`` with exactly :func:`n_edits` of its ASCII letters edited by ``kind``.

    Positions are drawn without replacement; for ``kind="typo"`` each position gets one of
    ``ops`` at random. A swap whose partner is not a free letter that differs from it (the
    next character is a space, was drawn itself, or is the same letter) becomes a
    substitution, so that every drawn position changes the text.
    """
    text = _check_text("text", text)
    k = n_edits(text, rate)
    check_choice("kind", kind, KINDS)
    check_int("seed", seed, min_value=0)
    if isinstance(ops, str) or not isinstance(ops, (list, tuple)) or not ops:
        raise TypeError(f"ops must be a non-empty list or tuple drawn from {list(TYPO_OPS)}, "
                        f"got {ops!r}")
    for op in ops:
        check_choice("ops", op, TYPO_OPS)
    rng = random.Random(seed)
    letters = [i for i, ch in enumerate(text) if _is_letter(ch)]
    chosen = sorted(rng.sample(letters, k))
    out: list[str | None] = list(text)  # None = deleted
    taken = set(chosen)
    used: set[int] = set()  # right-hand partners of swaps (never drawn positions)
    for i in chosen:
        old = text[i]
        if kind == "case":
            out[i] = old.swapcase()
            continue
        if kind == "noise":
            out[i] = _keep_case(rng.choice([c for c in string.ascii_lowercase
                                            if c != old.lower()]), old)
            continue
        op = rng.choice(list(ops))
        j = i + 1
        if op == "swap" and not (j < len(text) and _is_letter(text[j]) and j not in taken
                                 and j not in used and text[j] != old):
            op = "substitute"
        if op == "swap":
            out[i], out[j] = text[j], old
            used.add(j)
        elif op == "delete":
            out[i] = None
        else:
            out[i] = _keep_case(rng.choice(KEYBOARD_NEIGHBOURS[old.lower()]), old)
    return "".join(ch for ch in out if ch is not None)


# ----------------------------------------------------------------------------- tokenizers


def _check_texts(texts: object) -> list[str]:
    if isinstance(texts, str) or not isinstance(texts, (list, tuple)) or not texts:
        raise TypeError(f"texts must be a non-empty list of strings, got "
                        f"{type(texts).__name__}")
    for t in texts:
        _check_text("texts[i]", t)
    return list(texts)


def _check_tokenizer(tokenizer: object) -> Tokenizer:
    if not isinstance(tokenizer, Tokenizer):
        raise TypeError(f"tokenizer must be a lm_course.tokenizers Tokenizer, got "
                        f"{type(tokenizer).__name__}")
    return tokenizer


def tokens_per_word(tokenizer: Tokenizer, texts: Sequence[str]) -> float:
    """Tokens the tokenizer makes per whitespace-separated word, over all ``texts``: how
    finely noise fragments the text (a BPE word broken by a typo falls into pieces).

    >>> tok = CharTokenizer().train("ab ba")
    >>> tokens_per_word(tok, ["ab ba"])  # 5 characters, 2 words
    2.5
    """
    tokenizer, texts = _check_tokenizer(tokenizer), _check_texts(texts)
    words = sum(len(t.split()) for t in texts)
    if words == 0:
        raise ValueError("texts hold no words")
    return sum(len(tokenizer.encode(t)) for t in texts) / words


def unknown_share(tokenizer: Tokenizer, texts: Sequence[str]) -> float:
    """Share of the tokens that are ``<unk>`` (a word tokenizer's id 0). A byte-level BPE
    has no unknown token (0.0 by construction); a character tokenizer raises on a character
    it never saw, so the share is that of such characters."""
    tokenizer, texts = _check_tokenizer(tokenizer), _check_texts(texts)
    if isinstance(tokenizer, BPETokenizer):
        return 0.0
    if isinstance(tokenizer, CharTokenizer):
        chars = "".join(texts)
        if not chars:
            raise ValueError("texts are empty")
        return sum(ch not in tokenizer._index for ch in chars) / len(chars)
    if not isinstance(tokenizer, WordTokenizer):
        raise TypeError(f"unknown_share does not know {type(tokenizer).__name__}")
    ids = [i for t in texts for i in tokenizer.encode(t)]
    if not ids:
        raise ValueError("texts hold no tokens")
    return sum(i == 0 for i in ids) / len(ids)


def char_ngrams(text: str, n: int = 3) -> list[str]:
    """The character n-grams of each word, with ``<`` and ``>`` marking the word's ends:
    features for a bag-of-character-n-grams classifier, which a typo only partly breaks.

    >>> char_ngrams("Good film", 3)
    ['<go', 'goo', 'ood', 'od>', '<fi', 'fil', 'ilm', 'lm>']
    """
    text = _check_text("text", text)
    check_int("n", n, min_value=1)
    grams = []
    for word in WordTokenizer.split(text):
        w = f"<{word}>"
        grams += [w[i:i + n] for i in range(max(len(w) - n + 1, 1))]
    return grams


# ----------------------------------------------------------------------------- scores


@dataclass(frozen=True)
class NoisyScore:
    """A score at one noise rate: point estimate and 95 % bootstrap interval."""

    kind: str
    rate: float
    score: float
    low: float
    high: float


def score_under_noise(predict: Callable[[list[str]], Sequence], texts: Sequence[str],
                      labels: Sequence, metric: Callable[[Sequence, Sequence], float], *,
                      kind: str, rates: Sequence[float], seed: int = 0,
                      n_resamples: int = 1000) -> list[NoisyScore]:
    """Corrupt every text at each rate (text i with seed ``seed + i``, so a text's noise does
    not depend on its neighbours), predict, and score with a bootstrap interval."""
    if not callable(predict) or not callable(metric):
        raise TypeError("predict and metric must be callables")
    texts = _check_texts(texts)
    if len(labels) != len(texts):
        raise ValueError(f"labels has {len(labels)} items but texts has {len(texts)}")
    check_choice("kind", kind, KINDS)
    if isinstance(rates, str) or not isinstance(rates, (list, tuple)) or not rates:
        raise TypeError(f"rates must be a non-empty list of numbers in [0, 1], got {rates!r}")
    rates = [check_float("rates[i]", r, low=0.0, high=1.0) for r in rates]
    check_int("seed", seed, min_value=0)
    out = []
    for rate in rates:
        noisy = [corrupt(t, rate, kind, seed + i) for i, t in enumerate(texts)]
        pred = list(predict(noisy))
        point, low, high = bootstrap_ci(metric, list(labels), pred, n_resamples=n_resamples,
                                        seed=seed)
        out.append(NoisyScore(kind, rate, point, low, high))
    return out


def bits_per_char(model: torch.nn.Module, tokenizer: Tokenizer, text: str, block_size: int,
                  batch_size: int = 64) -> float:
    """The model's cross-entropy on ``text`` in bits per *character*: the loss per token
    times tokens per character, so models with different tokenizers are comparable."""
    tokenizer, text = _check_tokenizer(tokenizer), _check_text("text", text)
    if isinstance(tokenizer, WordTokenizer):
        raise TypeError("bits_per_char needs a lossless tokenizer (characters or BPE); a word "
                        "tokenizer drops unknown words and spaces")
    check_int("block_size", block_size, min_value=1)
    if not text:
        raise ValueError("text is empty")
    ids = torch.tensor(tokenizer.encode(text))
    if len(ids) < block_size + 1:
        raise ValueError(f"text makes {len(ids)} tokens; need at least block_size + 1 = "
                         f"{block_size + 1}")
    scored = (len(ids) - 1) // block_size * block_size  # evaluate_loss scores whole windows
    nats = evaluate_loss(model, ids, block_size, batch_size=batch_size)
    chars = len(tokenizer.decode(ids[1:scored + 1].tolist()))  # the characters predicted
    return nats * scored / chars / math.log(2.0)
