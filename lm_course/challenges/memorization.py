"""Memorisation: how much a language model gives away about a secret in its training text.

Following Carlini et al. (2019, "The Secret Sharer"), we plant *canaries* -- sentences
with a random secret, ``"the PIN of anna is 4821"`` -- ``k`` times into the training text,
train, and ask how the true secret ranks among every possible secret by the model's
log-perplexity of the whole canary. The **exposure** of a canary is

    exposure = log2 |R| - log2 rank,   rank = |{r in R : logppl(r) <= logppl(true)}|

where ``R`` is the space of secrets (10^4 four-digit PINs). A model that never saw the
canary ranks it about in the middle (exposure near 1); a model that memorised it ranks it
first (exposure = log2 |R|, 13.3 bits for four digits).

>>> exposure(torch.tensor([3.0, 1.0, 2.0, 5.0]), true_index=1)  # ranked first of 4
2.0
>>> deduplicate_lines("a long repeated line\\nshort\\na long repeated line\\nshort\\n", 10)
('a long repeated line\\nshort\\nshort\\n', 1)
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lm_course.utils import check_int, check_tensor, module_device

__all__ = ["Canary", "make_canaries", "insert_canaries", "deduplicate_lines", "all_secrets",
           "log_perplexities", "secret_scores", "exposure", "canary_exposure"]

NAMES = ("anna", "boris", "chen", "dara", "emil", "fatima", "goran", "hana", "ivan", "jun",
         "kofi", "lena", "mateo", "nadia", "omar", "priya", "quinn", "rosa", "sven", "tomas")


@dataclass(frozen=True)
class Canary:
    """A sentence with a secret: ``prefix + secret``, e.g. ``"the PIN of anna is " + "4821"``."""

    prefix: str  # the public part, the same for every candidate secret
    secret: str  # the private part: a string of digits

    @property
    def text(self) -> str:
        return self.prefix + self.secret


def make_canaries(n: int, n_digits: int = 4, seed: int = 0) -> list[Canary]:
    """``n`` canaries with distinct names and distinct random ``n_digits``-digit secrets.

    >>> [c.text for c in make_canaries(2, n_digits=3, seed=1)]
    ['the PIN of anna is 137', 'the PIN of boris is 582']
    """
    check_int("n", n, min_value=1, max_value=len(NAMES))
    check_int("n_digits", n_digits, min_value=1, max_value=9)
    check_int("seed", seed, min_value=0)
    if n > 10 ** n_digits:
        raise ValueError(f"n={n} distinct secrets need n_digits >= {math.ceil(math.log10(n))}, "
                         f"got n_digits={n_digits}")
    rng = random.Random(seed)
    values = rng.sample(range(10 ** n_digits), n)
    return [Canary(f"the PIN of {name} is ", f"{v:0{n_digits}d}")
            for name, v in zip(NAMES, values, strict=False)]


def insert_canaries(text: str, canaries: Sequence[Canary], repeats: Sequence[int],
                    seed: int = 0) -> str:
    """``text`` with canary ``i`` inserted ``repeats[i]`` times, each copy as a line of its own
    at a random line break (the original lines keep their order)."""
    if not isinstance(text, str) or not text:
        raise TypeError(f"text must be a non-empty str, got {type(text).__name__}")
    if len(canaries) != len(repeats):
        raise ValueError(f"canaries and repeats must have the same length, got "
                         f"{len(canaries)} and {len(repeats)}")
    for i, (c, k) in enumerate(zip(canaries, repeats, strict=True)):
        if not isinstance(c, Canary):
            raise TypeError(f"canaries[{i}] must be a Canary, got {type(c).__name__}")
        check_int(f"repeats[{i}]", k, min_value=0)
    lines = text.split("\n")
    copies = [c.text for c, k in zip(canaries, repeats, strict=True) for _ in range(k)]
    rng = random.Random(seed)
    slots = sorted((rng.randrange(len(lines) + 1), rng.random(), s) for s in copies)
    out: list[str] = []
    j = 0
    for i, line in enumerate(lines):
        while j < len(slots) and slots[j][0] == i:
            out.append(slots[j][2])
            j += 1
        out.append(line)
    out.extend(s for _, _, s in slots[j:])
    return "\n".join(out)


def deduplicate_lines(text: str, min_chars: int = 20) -> tuple[str, int]:
    """Drop every repeat of a line (compared stripped) of at least ``min_chars`` characters;
    return the new text and how many lines were dropped. Short lines (speaker names, stage
    directions) may repeat; a sentence copied many times is kept once."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    check_int("min_chars", min_chars, min_value=1)
    seen: set[str] = set()
    kept: list[str] = []
    dropped = 0
    for line in text.split("\n"):
        key = line.strip()
        if len(key) >= min_chars:
            if key in seen:
                dropped += 1
                continue
            seen.add(key)
        kept.append(line)
    return "\n".join(kept), dropped


def all_secrets(n_digits: int) -> list[str]:
    """Every secret in the randomness space: ``['000', '001', ..., '999']`` for 3 digits."""
    check_int("n_digits", n_digits, min_value=1, max_value=6)
    return [f"{v:0{n_digits}d}" for v in range(10 ** n_digits)]


@torch.no_grad()
def log_perplexities(model: nn.Module, sequences: Sequence[Sequence[int]], context: Sequence[int],
                     batch_size: int = 1024) -> Tensor:
    """Log-perplexity in bits, ``-sum_t log2 p(x_t | context, x_<t)``, of each token sequence.

    ``context`` (e.g. the id of a newline) is fed first and not scored; sequences may differ
    in length. Returns a float64 tensor ``(len(sequences),)``.
    """
    device = module_device("model", model)
    check_int("batch_size", batch_size, min_value=1)
    context = list(context)
    if not context:
        raise ValueError("context must hold at least one token id (the first token of a "
                         "canary needs something to be predicted from)")
    if len(sequences) == 0:
        raise ValueError("sequences is empty")
    was_training = model.training
    model.eval()
    out = []
    for i in range(0, len(sequences), batch_size):
        chunk = [context + list(s) for s in sequences[i:i + batch_size]]
        T = max(len(s) for s in chunk) - 1
        x = torch.zeros(len(chunk), T, dtype=torch.long)  # (B, T), padded with id 0
        y = torch.full((len(chunk), T), -100, dtype=torch.long)  # (B, T), -100 = not scored
        for b, s in enumerate(chunk):
            x[b, :len(s) - 1] = torch.tensor(s[:-1])
            y[b, len(context) - 1:len(s) - 1] = torch.tensor(s[len(context):])
        logits, _ = model(x.to(device))  # (B, T, V)
        nll = F.cross_entropy(logits.flatten(0, 1).double(), y.flatten().to(device),
                              ignore_index=-100, reduction="none").view(len(chunk), T)
        out.append(nll.sum(dim=1).cpu() / math.log(2))  # (B,) nats -> bits
    model.train(was_training)
    return torch.cat(out)


def exposure(scores: Tensor, true_index: int) -> float:
    """``log2 |R| - log2 rank`` of candidate ``true_index`` among ``scores`` (log-perplexities
    of every candidate, lower = more likely). Ties count against the secret (Carlini's rank:
    the number of candidates scoring ``<=`` it, itself included)."""
    check_tensor("scores", scores, ndim=1, floating=True)
    check_int("true_index", true_index, min_value=0, max_value=len(scores) - 1)
    if torch.isnan(scores).any():
        raise ValueError("scores must not contain NaN")
    rank = int((scores <= scores[true_index]).sum())
    return math.log2(len(scores)) - math.log2(rank)


@torch.no_grad()
def secret_scores(model: nn.Module, tokenizer: Any, canary: Canary, context: str = "\n",
                  batch_size: int = 1024) -> Tensor:
    """Log-perplexity (bits) of ``prefix + s`` for every secret ``s`` of the canary's length,
    in the order of :func:`all_secrets`.

    With a character tokenizer each digit is one token, so the scores are read off a tree:
    one forward pass per shorter secret gives the next digit's distribution, 1 + 10 + ...
    + 10^(n-1) passes instead of 10^n (the same numbers, tested). Otherwise every
    candidate is scored on its own with :func:`log_perplexities`.
    """
    if not isinstance(canary, Canary):
        raise TypeError(f"canary must be a Canary, got {type(canary).__name__}")
    n = len(canary.secret)
    secrets = all_secrets(n)
    ctx = tokenizer.encode(context)
    prefix = tokenizer.encode(canary.prefix)
    digits = [tokenizer.encode(str(d)) for d in range(10)]
    one_token = all(len(d) == 1 for d in digits) and all(
        tokenizer.encode(canary.prefix + s) == prefix + [digits[int(c)][0] for c in s]
        for s in (secrets[0], secrets[-1], canary.secret))
    if not one_token:
        seqs = [tokenizer.encode(canary.prefix + s) for s in secrets]
        return log_perplexities(model, seqs, ctx, batch_size)
    check_int("batch_size", batch_size, min_value=1)
    device = module_device("model", model)
    was_training = model.training
    model.eval()
    digit_ids = torch.tensor([d[0] for d in digits], device=device)  # (10,)
    scores = log_perplexities(model, [prefix], ctx, batch_size).to(device)  # (1,) the prefix
    seqs = torch.tensor([ctx + prefix], device=device)  # (1, L) every secret of length 0
    for _ in range(n):
        parts = []
        for i in range(0, len(seqs), batch_size):
            logits, _ = model(seqs[i:i + batch_size])  # (b, L, V)
            logp = torch.log_softmax(logits[:, -1].double(), dim=-1)  # (b, V)
            parts.append(-logp[:, digit_ids] / math.log(2))  # (b, 10) bits for each next digit
        scores = (scores[:, None] + torch.cat(parts)).flatten()  # (10 M,) in value order
        nxt = digit_ids.repeat(len(seqs))[:, None]  # (10 M, 1)
        seqs = torch.cat([seqs.repeat_interleave(10, dim=0), nxt], dim=1)  # (10 M, L + 1)
    model.train(was_training)
    return scores.cpu()


def canary_exposure(model: nn.Module, tokenizer: Any, canary: Canary, context: str = "\n",
                    batch_size: int = 1024) -> float:
    """The exposure of ``canary`` under ``model``: its secret's rank among all
    ``10**len(secret)`` candidates (see :func:`secret_scores`)."""
    scores = secret_scores(model, tokenizer, canary, context, batch_size)
    return exposure(scores, int(canary.secret))
