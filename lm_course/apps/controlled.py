"""Controlled generation: steer a trained language model with a prompt and the decoding knobs
of chapter 07, and measure what each knob does to real output.

A play is a good test bed because its layout is a control signal the model learns for free:
a speech starts after a blank line with the speaker's tag (``"Ham."``) and ends at the next
blank line. So a prompt ``"\\n\\nHam.\\n"`` asks for a speech by Hamlet, and the stop sequence
``"\\n\\n"`` ends it where a speech ends. What the knobs change is then measured on the
samples, each per sample so that a bootstrap over samples gives intervals:

- **distinct-n**: the share of a sample's word n-grams that are different (1 = no n-gram
  twice; low = the text loops), as in chapter 07 but on words;
- **repetition rate**: the share of a sample's words that lie inside a word n-gram already
  written earlier in the same sample (the part of the text that copies itself);
- **bits per character** under a *judge* language model: how likely the text is. A
  tokenizer-free unit, so a character model can judge a BPE model's text.

>>> words("Good night, sweet prince!")
['good', 'night', ',', 'sweet', 'prince', '!']
>>> distinct_n(["to", "be", "or", "not", "to", "be"], 2)  # (to, be) twice in 5 bigrams
0.8
>>> repetition_rate(["to", "be", "or", "not", "to", "be"], 2)  # the 2nd "to be": 2 of 6 words
0.3333333333333333
"""

from __future__ import annotations

import math
import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lm_course.generation import generate, generate_text
from lm_course.metrics import bootstrap_ci
from lm_course.utils import check_float, check_int, module_device

__all__ = [
    "HELD_OUT_WORKS", "split_works", "speeches", "speech_prompt", "words", "ngrams",
    "distinct_n", "repetition_rate", "Decoding", "DECODING_GRID", "sample_continuations",
    "continuation_nll", "SampleScores", "score_samples", "pareto_front",
]

# ----------------------------------------------------------------------------- data

# Whole works held out, one per genre: tragedy, comedy, history, romance. No line of them is
# seen in training, so the judge's bits per character on them is an honest reference.
HELD_OUT_WORKS = ("julius_caesar", "much_ado_about_nothing", "richard_ii", "winters_tale")


def split_works(works: dict[str, str], held_out: Sequence[str] = HELD_OUT_WORKS
                ) -> tuple[str, str]:
    """``(train_text, held_out_text)``: whole works on each side, each side joined by a newline.

    >>> split_works({"a": "A.\\n", "b": "B.\\n", "c": "C.\\n"}, held_out=["b"])
    ('A.\\n\\nC.\\n', 'B.\\n')
    """
    if not isinstance(works, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                              for k, v in works.items()):
        raise TypeError("works must be a dict work name -> text (load_shakespeare_works()), "
                        f"got {type(works).__name__}")
    if isinstance(held_out, str) or not isinstance(held_out, Sequence) or not held_out:
        raise TypeError(f"held_out must be a non-empty list of work names, got {held_out!r}")
    missing = [w for w in held_out if w not in works]
    if missing:
        raise ValueError(f"held_out names works that are not in works: {missing}; "
                         f"known: {sorted(works)[:5]}...")
    if len(set(held_out)) == len(works):
        raise ValueError("held_out holds every work: nothing is left to train on")
    train = "\n".join(t for name, t in works.items() if name not in held_out)
    held = "\n".join(works[name] for name in held_out)
    return train, held


# A speaker's tag stands alone on a line after a blank line ("Ham.", "First Lord.", "Lady M."),
# and the speech follows on the next line; act and scene headings look alike and are skipped.
_SPEECH = re.compile(r"(?<=\n\n)([A-Z][A-Za-z'\- .]{0,28}\.)\n(.+?)(?=\n\n|\Z)", re.S)
_HEADING = re.compile(r"(?i)^(act|scene|epilogue|prologue)\b")


def speeches(text: str) -> list[tuple[str, str]]:
    """Every ``(speaker tag, speech)`` of a play text, in order; a speech ends at a blank line.

    >>> speeches("\\n\\nHam.\\nTo be, or not to be.\\n\\nHor.\\nMy lord?\\n\\n")
    [('Ham.', 'To be, or not to be.'), ('Hor.', 'My lord?')]
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}")
    return [(m.group(1), m.group(2).strip()) for m in _SPEECH.finditer(text)
            if not _HEADING.match(m.group(1)) and m.group(2).strip()]


def speech_prompt(speaker: str) -> str:
    """The prompt that asks for a speech by ``speaker``: a blank line, the tag, a newline.

    >>> speech_prompt("Ham.")
    '\\n\\nHam.\\n'
    """
    if not isinstance(speaker, str) or not speaker.strip() or "\n" in speaker:
        raise ValueError(f"speaker must be a one-line tag such as 'Ham.', got {speaker!r}")
    return f"\n\n{speaker.strip()}\n"


# ----------------------------------------------------------------------------- diversity

_WORD = re.compile(r"\w+(?:'\w+)*|[^\w\s]")


def words(text: str) -> list[str]:
    """Lower-cased words and punctuation marks, the units distinct-n and repetition count."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}")
    return _WORD.findall(text.lower())


def _check_tokens(tokens: Any) -> list[Hashable]:
    if isinstance(tokens, str):
        raise TypeError("tokens must be a list of tokens, not a string (a string would count "
                        "characters); split it first, e.g. words(text)")
    if not isinstance(tokens, Sequence):
        raise TypeError(f"tokens must be a list of tokens, got {type(tokens).__name__}")
    return list(tokens)


def ngrams(tokens: Sequence[Hashable], n: int) -> list[tuple]:
    """Every run of ``n`` consecutive tokens, in order (none if there are fewer than ``n``).

    >>> ngrams(["a", "b", "c"], 2)
    [('a', 'b'), ('b', 'c')]
    """
    tokens = _check_tokens(tokens)
    check_int("n", n, min_value=1)
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


def distinct_n(tokens: Sequence[Hashable], n: int) -> float:
    """Share of the sequence's ``n``-grams that are different: ``unique / total``.

    1.0 when no n-gram occurs twice; 0.0 when there is no n-gram at all (fewer than ``n``
    tokens: nothing was written that could be diverse).
    """
    grams = ngrams(tokens, n)
    return len(set(grams)) / len(grams) if grams else 0.0


def repetition_rate(tokens: Sequence[Hashable], n: int = 4) -> float:
    """Share of the tokens that lie inside an ``n``-gram that already started earlier.

    It reads as "how much of the text copies itself": a loop that repeats one phrase scores
    near 1, ordinary prose near 0. 0.0 for fewer than ``n`` tokens.
    """
    tokens = _check_tokens(tokens)
    check_int("n", n, min_value=1)
    seen: set[tuple] = set()
    covered = [False] * len(tokens)
    for i, gram in enumerate(ngrams(tokens, n)):
        if gram in seen:
            covered[i:i + n] = [True] * n
        seen.add(gram)
    return sum(covered) / len(tokens) if tokens else 0.0


# ----------------------------------------------------------------------------- decoding


@dataclass(frozen=True)
class Decoding:
    """One setting of chapter 07's knobs, by name; ``kwargs()`` feeds ``generate``."""

    name: str  # how tables and plots call it
    temperature: float = 1.0  # divide the logits by it (sampling only)
    top_k: int | None = None  # keep the k most likely tokens; None = all
    top_p: float | None = None  # keep the nucleus of mass p; None = all
    greedy: bool = False  # argmax instead of sampling
    repetition_penalty: float = 1.0  # CTRL's penalty on tokens already written; 1 = off
    no_repeat_ngram_size: int = 0  # ban a token that would repeat an n-gram; 0 = off

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty string, got {self.name!r}")
        check_float("temperature", self.temperature, low=0.0, low_inclusive=False)
        if self.top_k is not None:
            check_int("top_k", self.top_k, min_value=1)
        if self.top_p is not None:
            check_float("top_p", self.top_p, low=0.0, high=1.0, low_inclusive=False)
        if not isinstance(self.greedy, bool):
            raise TypeError(f"greedy must be True or False, got {self.greedy!r}")
        check_float("repetition_penalty", self.repetition_penalty, low=0.0, low_inclusive=False)
        check_int("no_repeat_ngram_size", self.no_repeat_ngram_size, min_value=0)

    def kwargs(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "name"}


DECODING_GRID = (
    Decoding("greedy", greedy=True),
    Decoding("greedy, no repeated 3-gram", greedy=True, no_repeat_ngram_size=3),
    Decoding("T = 0.5", temperature=0.5),
    Decoding("T = 0.7", temperature=0.7),
    Decoding("T = 1.0", temperature=1.0),
    Decoding("T = 1.3", temperature=1.3),
    Decoding("top-k = 5", top_k=5),
    Decoding("top-k = 40", top_k=40),
    Decoding("top-p = 0.5", top_p=0.5),
    Decoding("top-p = 0.9", top_p=0.9),
    Decoding("T = 0.7, penalty 1.2", temperature=0.7, repetition_penalty=1.2),
    Decoding("T = 0.7, penalty 1.5", temperature=0.7, repetition_penalty=1.5),
    Decoding("T = 0.7, no repeated 3-gram", temperature=0.7, no_repeat_ngram_size=3),
)
"""The settings the chapter measures: temperature, top-k, top-p, repetition penalty and
n-gram blocking, each moved on its own from plain sampling (T = 1) or from T = 0.7."""


def sample_continuations(model: nn.Module, tokenizer: Any, prompts: Sequence[str],
                         decoding: Decoding, max_new_tokens: int, *, seed: int = 0,
                         stop: Sequence[str] | None = None, return_ids: bool = False
                         ) -> list[str] | tuple[list[str], list[list[int]]]:
    """One continuation (without its prompt) per prompt, all prompts decoded as one batch.

    Reuses :func:`lm_course.generation.generate_text` (or, with ``return_ids=True`` and no
    ``stop``, :func:`~lm_course.generation.generate`, returning ``(texts, token ids)``: the
    ids the model chose, which re-encoding the text need not give back). ``seed`` makes the
    draw reproducible.
    """
    if not isinstance(decoding, Decoding):
        raise TypeError(f"decoding must be a Decoding, got {type(decoding).__name__}")
    if isinstance(prompts, str) or not isinstance(prompts, Sequence) or not prompts:
        raise TypeError(f"prompts must be a non-empty list of strings, got {prompts!r:.60}")
    check_int("max_new_tokens", max_new_tokens, min_value=1)
    check_int("seed", seed, min_value=0)
    if not isinstance(return_ids, bool):
        raise TypeError(f"return_ids must be True or False, got {return_ids!r}")
    if return_ids:
        if stop:
            raise ValueError("return_ids=True cannot be combined with stop (a stop string may "
                             "end inside a token)")
        encoded = [tokenizer.encode(p) for p in prompts]
        rows = generate(model, encoded, max_new_tokens,
                        generator=torch.Generator().manual_seed(seed), **decoding.kwargs())
        ids = [r[len(e):] for e, r in zip(encoded, rows, strict=True)]
        return [tokenizer.decode(i) for i in ids], ids
    outs = generate_text(model, tokenizer, list(prompts), max_new_tokens, stop=stop,
                         generator=torch.Generator().manual_seed(seed), **decoding.kwargs())
    return [o[len(p):] for p, o in zip(prompts, outs, strict=True)]


# ----------------------------------------------------------------------------- quality


@torch.no_grad()
def continuation_nll(model: nn.Module, tokenizer: Any, prompts: Sequence[str],
                     continuations: Sequence[str], *, batch_size: int = 256) -> list[float]:
    """Negative log-likelihood (nats, summed) of each continuation given its prompt.

    Prompt and continuation are encoded separately, so the continuation's tokens are the
    same whatever the prompt; with ``tokenizer=None`` they are lists of token ids already.
    Each window of up to ``block_size`` tokens scores the next ``block_size // 2`` targets,
    so every token is scored exactly once and, past the start, from at least
    ``block_size - block_size // 2`` tokens before it (the usual strided evaluation; inside
    the context it equals one full pass). Divide by ``len(continuation)`` for nats per
    character, by ``ln 2`` as well for bits per character.
    """
    if isinstance(prompts, str) or isinstance(continuations, str):
        raise TypeError("prompts and continuations must be lists of strings (or of id lists "
                        "with tokenizer=None), not one string")
    prompts, continuations = list(prompts), list(continuations)
    if len(prompts) != len(continuations) or not prompts:
        raise ValueError(f"prompts and continuations must be non-empty and of the same "
                         f"length, got {len(prompts)} and {len(continuations)}")
    if any(len(p) == 0 for p in prompts):
        raise ValueError("every prompt needs at least one character to condition on")
    encode = (lambda x: list(x)) if tokenizer is None else tokenizer.encode
    check_int("batch_size", batch_size, min_value=1)
    block = getattr(getattr(model, "config", None), "block_size", None)
    if block is None:
        raise TypeError(f"model must have config.block_size (such as GPT), got "
                        f"{type(model).__name__}")
    device = module_device("model", model)
    stride = max(1, block // 2)
    windows, owners = [], []  # (input ids, targets with -100 where not scored), sample index
    for i, (p, c) in enumerate(zip(prompts, continuations, strict=True)):
        head = encode(p)
        ids = head + encode(c)
        for t in range(len(head), len(ids), stride):  # score targets ids[t:e] in one window
            e = min(t + stride, len(ids))
            a = max(0, e - 1 - block)  # inputs ids[a:e-1] predict ids[a+1:e]
            targets = [tok if a + 1 + j >= t else -100 for j, tok in enumerate(ids[a + 1:e])]
            windows.append((ids[a:e - 1], targets))
            owners.append(i)
    totals = [0.0] * len(prompts)
    was_training = model.training
    model.eval()
    for b in range(0, len(windows), batch_size):
        chunk = windows[b:b + batch_size]
        width = max(len(x) for x, _ in chunk)
        X = torch.zeros(len(chunk), width, dtype=torch.long)  # (B, T), right-padded
        Y = torch.full((len(chunk), width), -100, dtype=torch.long)  # (B, T)
        for r, (x, y) in enumerate(chunk):
            X[r, :len(x)] = torch.tensor(x)
            Y[r, :len(y)] = torch.tensor(y)
        logits = model(X.to(device))[0].float()  # (B, T, V): causal, so padding is harmless
        nll = F.cross_entropy(logits.transpose(1, 2), Y.to(device), ignore_index=-100,
                              reduction="none")  # (B, T)
        for r, row in enumerate(nll.sum(dim=1).tolist()):
            totals[owners[b + r]] += row
    model.train(was_training)
    return totals


# ----------------------------------------------------------------------------- scoring


@dataclass(frozen=True)
class SampleScores:
    """Per-sample numbers for one set of samples, plus the intervals over samples."""

    distinct: dict[int, list[float]]  # n -> distinct-n of each sample
    repetition: list[float]  # repetition rate of each sample
    nll: list[float]  # judge's summed NLL (nats) of each sample
    chars: list[int]  # characters of each sample
    intervals: dict[str, tuple[float, float, float]]  # metric -> (point, low, high)


def score_samples(samples: Sequence[str], prompts: Sequence[str], judge: nn.Module,
                  judge_tokenizer: Any, *, ns: Sequence[int] = (1, 2, 3), repeat_n: int = 4,
                  n_resamples: int = 1000, seed: int = 0) -> SampleScores:
    """Distinct-n, repetition rate and the judge's bits per character, with 95% intervals.

    Distinct-n and repetition are means over samples; bits per character pools all samples
    (summed NLL / summed characters, so long samples weigh more). Intervals: percentile
    bootstrap over samples (:func:`lm_course.metrics.bootstrap_ci`), the same resamples for
    every metric.
    """
    if isinstance(samples, str) or not isinstance(samples, Sequence) or not samples:
        raise TypeError("samples must be a non-empty list of strings")
    if any(not isinstance(s, str) for s in samples):
        raise TypeError("samples must be a list of strings")
    if any(s == "" for s in samples):
        raise ValueError("a sample is empty: bits per character are undefined for it")
    if isinstance(ns, int) or not ns:
        raise TypeError(f"ns must be a non-empty list of n-gram sizes, got {ns!r}")
    for n in ns:
        check_int("ns[i]", n, min_value=1)
    check_int("repeat_n", repeat_n, min_value=1)
    toks = [words(s) for s in samples]
    distinct = {n: [distinct_n(t, n) for t in toks] for n in ns}
    repetition = [repetition_rate(t, repeat_n) for t in toks]
    nll = continuation_nll(judge, judge_tokenizer, prompts, samples)
    chars = [len(s) for s in samples]
    index = list(range(len(samples)))

    def mean_of(values: list[float]):
        return lambda _, rows: sum(values[i] for i in rows) / len(rows)

    def bits_per_char(_, rows):
        return sum(nll[i] for i in rows) / sum(chars[i] for i in rows) / math.log(2)

    metrics = {f"distinct-{n}": mean_of(distinct[n]) for n in ns}
    metrics["repetition"] = mean_of(repetition)
    metrics["bits/char"] = bits_per_char
    intervals = {name: bootstrap_ci(f, index, index, n_resamples=n_resamples, seed=seed)
                 for name, f in metrics.items()}
    return SampleScores(distinct, repetition, nll, chars, intervals)


def pareto_front(diversity: Sequence[float], cost: Sequence[float]) -> list[int]:
    """Indices of the points no other point beats on both axes (more diverse, less costly).

    A point is dominated if another is at least as diverse *and* at most as costly, and
    strictly better on one of the two. Returned by increasing cost.

    >>> pareto_front([0.2, 0.5, 0.4, 0.9], [1.0, 1.5, 2.0, 3.0])
    [0, 1, 3]
    """
    d = [check_float("diversity[i]", x) for x in diversity]
    c = [check_float("cost[i]", x) for x in cost]
    if len(d) != len(c) or not d:
        raise ValueError(f"diversity and cost must be non-empty and of the same length, got "
                         f"{len(d)} and {len(c)}")
    keep = [i for i in range(len(d))
            if not any(d[j] >= d[i] and c[j] <= c[i] and (d[j] > d[i] or c[j] < c[i])
                       for j in range(len(d)))]
    return sorted(keep, key=lambda i: (c[i], -d[i]))
