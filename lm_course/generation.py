"""From logits to text: greedy decoding, temperature, top-k and top-p sampling, repetition
penalty, n-gram blocking, stop sequences, length-normalised beam search, batches, and the KV
cache.

A language model gives, at each step, logits over the vocabulary for the next token.
Decoding turns them into one token, appends it, and asks again. The filters below reshape
the distribution first (each returns new logits, with ``-inf`` for removed tokens):

>>> logits = torch.tensor([[2.0, 1.0, 0.0, -1.0]])
>>> top_k_filter(logits, 2)
tensor([[2., 1., -inf, -inf]])
>>> top_p_filter(logits, 0.7)  # p = 0.64, 0.24, ...: the first two reach 0.7
tensor([[2., 1., -inf, -inf]])
>>> apply_repetition_penalty(logits, torch.tensor([[0, 3]]), 2.0)
tensor([[ 1.,  1.,  0., -2.]])

With a KV cache (:class:`lm_course.transformer.KVCache`), each new token runs the model on
*one* position instead of on the whole sequence so far; its query still attends to every
cached key, so attention work per step grows with the length, but the projections and MLPs of
earlier positions are never recomputed. Inside the model's context (``block_size`` tokens,
prompt included) cached and uncached decoding give the same logits. Past it they are two
different approximations and may choose different tokens: without the cache every step sees the
last ``block_size`` tokens; with it, a full cache is rebuilt from the last ``block_size // 2``
tokens and then grows again (see :class:`_Stepper`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lm_course.utils import check_float, check_int, check_tensor, module_device

__all__ = [
    "apply_temperature", "top_k_filter", "top_p_filter", "apply_repetition_penalty",
    "block_repeated_ngrams", "sample_next", "generate", "beam_search", "generate_text",
    "sequence_logprob",
]


# ----------------------------------------------------------------------------- logit filters


def apply_temperature(logits: Tensor, temperature: float) -> Tensor:
    """Divide the logits by ``temperature`` (before the softmax, never after).

    ``T < 1`` sharpens the distribution towards the argmax, ``T > 1`` flattens it
    towards uniform; ``T = 1`` leaves it as the model learned it.
    """
    check_float("temperature", temperature, low=0.0, low_inclusive=False)
    return logits / temperature


def top_k_filter(logits: Tensor, k: int) -> Tensor:
    """Keep the ``k`` largest logits of each row (ties with the k-th are kept), ``-inf`` the rest.

    ``k`` larger than the vocabulary keeps everything.
    """
    check_int("top_k", k, min_value=1)
    k = min(k, logits.size(-1))
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]  # (..., 1) the k-th largest
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: Tensor, p: float) -> Tensor:
    """Nucleus filter: keep the smallest set of most likely tokens whose probability reaches ``p``.

    Sort by probability; a token is kept if the probability mass *before* it is still
    below ``p``, so the token that crosses the threshold is kept too (and the top token
    always is). ``p = 1`` keeps every token: it is answered before any sum, because a
    float32 cumulative sum can round up to 1 while tokens of the tail are still to come.
    """
    check_float("top_p", p, low=0.0, high=1.0, low_inclusive=False)
    if p == 1.0:
        return logits.clone()
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)  # (..., V)
    probs = F.softmax(sorted_logits.float(), dim=-1)
    mass_before = torch.cumsum(probs, dim=-1) - probs  # exclusive cumulative sum
    remove_sorted = mass_before >= p  # already reached p without this token
    remove = remove_sorted.scatter(-1, order, remove_sorted)  # back to vocabulary order
    return logits.masked_fill(remove, float("-inf"))


def apply_repetition_penalty(logits: Tensor, previous: Tensor, penalty: float) -> Tensor:
    """Make tokens in ``previous`` (B, S) less likely (CTRL, Keskar et al. 2019).

    A seen token's logit is divided by ``penalty`` if positive and multiplied by it if
    negative, so its probability drops either way for ``penalty > 1``. Each token is
    penalised once however often it occurred.
    """
    check_float("repetition_penalty", penalty, low=0.0, low_inclusive=False)
    check_tensor("previous", previous, ndim=2, integer=True)
    if penalty == 1.0 or previous.size(1) == 0:
        return logits
    seen = logits.gather(-1, previous)  # (B, S)
    seen = torch.where(seen > 0, seen / penalty, seen * penalty)
    return logits.scatter(-1, previous, seen)


def block_repeated_ngrams(logits: Tensor, previous: Tensor, n: int) -> Tensor:
    """Forbid (``-inf``) every token that would repeat an ``n``-gram already in ``previous``.

    For each row, the last ``n - 1`` tokens of ``previous`` (B, S) are looked up in the row;
    every token that followed them before is banned, so no ``n``-gram can occur twice. Unlike
    a repetition penalty, this bans *sequences*, not single tokens, so it also works when
    the tokens are characters (all of which are "seen" after a few words). ``n = 0``
    disables it. A row whose every token is banned is left as it was.

    >>> block_repeated_ngrams(torch.zeros(1, 4), torch.tensor([[1, 2, 3, 1, 2]]), 3)
    tensor([[0., 0., 0., -inf]])
    """
    check_int("no_repeat_ngram_size", n, min_value=0)
    check_tensor("previous", previous, ndim=2, integer=True)
    if n == 0 or previous.size(1) < n:
        return logits
    grams = previous.unfold(1, n, 1)  # (B, S - n + 1, n) every n-gram so far
    prefix = previous[:, previous.size(1) - (n - 1):]  # (B, n - 1) what a new token would extend
    match = (grams[:, :, :-1] == prefix[:, None, :]).all(-1)  # (B, S - n + 1)
    banned = torch.zeros_like(logits, dtype=torch.float32)  # (B, V)
    banned.scatter_add_(-1, grams[:, :, -1], match.float())  # count, so duplicates stay banned
    banned = banned > 0
    banned &= ~banned.all(-1, keepdim=True)  # never ban everything
    return logits.masked_fill(banned, float("-inf"))


def _check_sampling(temperature: float, top_k: int | None, top_p: float | None,
                    repetition_penalty: float, greedy: bool,
                    no_repeat_ngram_size: int = 0) -> None:
    if not isinstance(greedy, bool):
        raise TypeError(f"greedy must be True or False, got {greedy!r}")
    if not greedy:
        if isinstance(temperature, (int, float)) and not isinstance(temperature, bool) \
                and temperature <= 0:
            raise ValueError(f"temperature must be > 0 when sampling, got {temperature}; "
                             "for deterministic decoding use greedy=True")
        check_float("temperature", temperature, low=0.0, low_inclusive=False)
    if top_k is not None:
        check_int("top_k", top_k, min_value=1)
    if top_p is not None:
        check_float("top_p", top_p, low=0.0, high=1.0, low_inclusive=False)
    check_float("repetition_penalty", repetition_penalty, low=0.0, low_inclusive=False)
    check_int("no_repeat_ngram_size", no_repeat_ngram_size, min_value=0)


def sample_next(logits: Tensor, *, temperature: float = 1.0, top_k: int | None = None,
                top_p: float | None = None, greedy: bool = False,
                previous: Tensor | None = None, repetition_penalty: float = 1.0,
                no_repeat_ngram_size: int = 0,
                generator: torch.Generator | None = None) -> Tensor:
    """One next token per row of ``logits`` (B, V) -> (B,).

    Order: repetition penalty and n-gram blocking (both need ``previous``), then greedy
    argmax, or temperature -> top-k -> top-p -> softmax -> draw.
    """
    _check_sampling(temperature, top_k, top_p, repetition_penalty, greedy, no_repeat_ngram_size)
    check_tensor("logits", logits, ndim=2, floating=True)
    if torch.isnan(logits).any() or torch.isposinf(logits).any():
        raise ValueError("logits hold NaN or +inf: the model's output is broken (check the "
                         "loss during training, or train in float32)")
    logits = logits.float()
    if previous is not None:
        logits = apply_repetition_penalty(logits, previous, repetition_penalty)
        logits = block_repeated_ngrams(logits, previous, no_repeat_ngram_size)
    if greedy:
        return logits.argmax(dim=-1)
    logits = apply_temperature(logits, temperature)
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    probs = F.softmax(logits, dim=-1)  # (B, V)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)  # (B,)


# ----------------------------------------------------------------------------- helpers


def _context(model: nn.Module) -> int | None:
    return getattr(getattr(model, "config", None), "block_size", None)


def _vocab(model: nn.Module) -> int | None:
    return getattr(getattr(model, "config", None), "vocab_size", None)


def _as_prompts(prompt: Any) -> tuple[list[list[int]], bool]:
    """Normalise a prompt or a batch of prompts to a list of id lists; say if it was one."""
    if isinstance(prompt, Tensor):
        check_tensor("prompt", prompt, ndim=(1, 2), integer=True)
        single = prompt.dim() == 1
        rows = [prompt.tolist()] if single else prompt.tolist()
    elif isinstance(prompt, Sequence) and not isinstance(prompt, str):
        single = len(prompt) == 0 or not isinstance(prompt[0], (Sequence, Tensor))
        rows = [list(prompt)] if single else [list(r.tolist() if isinstance(r, Tensor) else r)
                                              for r in prompt]
    else:
        raise TypeError("prompt must be a list of token ids, a batch (list of lists) or a "
                        f"LongTensor (T,) or (B, T), got {type(prompt).__name__}; encode text "
                        "with a tokenizer first (or use generate_text)")
    if not rows:
        raise ValueError("prompt batch is empty: give at least one prompt")
    for i, r in enumerate(rows):
        if len(r) == 0:
            raise ValueError(f"prompt {i} is empty: the model needs at least one token to "
                             "condition on (e.g. a newline or a start token)")
        if not all(isinstance(t, int) and not isinstance(t, bool) for t in r):
            raise TypeError(f"prompt {i} must hold integer token ids")
    return rows, single


def _check_ids(rows: list[list[int]], vocab: int | None) -> None:
    if vocab is None:
        return
    for i, r in enumerate(rows):
        lo, hi = min(r), max(r)
        if lo < 0 or hi >= vocab:
            raise ValueError(f"prompt {i} has token ids from {lo} to {hi}; the model's "
                             f"vocabulary is [0, {vocab - 1}]")


def _check_stops(stop_sequences: Sequence[Sequence[int]] | None) -> list[list[int]]:
    if stop_sequences is None:
        return []
    stops = [list(s) for s in stop_sequences]
    if any(len(s) == 0 for s in stops):
        raise ValueError("stop_sequences must not contain an empty sequence")
    return stops


class _Stepper:
    """Feeds tokens to the model and returns next-token logits, with or without a cache.

    Without a cache, every call runs the whole sequence (cropped to the last
    ``block_size`` tokens). With one, only the new tokens run; when the cache is full it
    is rebuilt from the last ``block_size // 2`` tokens and grows again, so decoding can go
    on past the context length at a fraction of the cost. The two agree exactly while the
    sequence fits in the context; past it they condition on different windows (and, with
    learned positions, on different position numbers), so their tokens can diverge.
    """

    def __init__(self, model: nn.Module, use_cache: bool, batch_size: int) -> None:
        self.model, self.block = model, _context(model)
        self.cache = None
        if use_cache:
            if not hasattr(model, "new_kv_cache"):
                raise ValueError(f"use_cache=True needs a model with new_kv_cache() (such as "
                                 f"GPT); {type(model).__name__} has none: use use_cache=False")
            self.cache = model.new_kv_cache(batch_size)

    def _window(self, seq: Tensor, keep: int | None) -> Tensor:
        return seq if keep is None or seq.size(1) <= keep else seq[:, -keep:]

    def start(self, seq: Tensor) -> Tensor:
        """Process a whole (B, T) sequence; logits for the next token (B, V)."""
        if self.cache is None:
            return self.model(self._window(seq, self.block))[0][:, -1]
        self.cache.crop(0)
        return self.model(self._window(seq, self.block), kv_cache=self.cache)[0][:, -1]

    def next(self, seq: Tensor) -> Tensor:
        """``seq`` (B, T) grew by one token since the last call; logits for the next (B, V)."""
        if self.cache is None:
            return self.model(self._window(seq, self.block))[0][:, -1]
        if self.block is not None and self.cache.length >= self.block:  # full: slide
            self.cache.crop(0)
            return self.model(self._window(seq, max(1, self.block // 2)),
                              kv_cache=self.cache)[0][:, -1]
        return self.model(seq[:, -1:], kv_cache=self.cache)[0][:, -1]


# ----------------------------------------------------------------------------- sampling loop


@torch.no_grad()
def generate(model: nn.Module, prompt: Any, max_new_tokens: int, *, temperature: float = 1.0,
             top_k: int | None = None, top_p: float | None = None, greedy: bool = False,
             repetition_penalty: float = 1.0, no_repeat_ngram_size: int = 0,
             stop_sequences: Sequence[Sequence[int]] | None = None, use_cache: bool = True,
             generator: torch.Generator | None = None) -> list[int] | list[list[int]]:
    """Continue ``prompt`` by up to ``max_new_tokens`` tokens; return prompt + continuation.

    ``prompt``: a list of ids or 1-D tensor (returns one list), or a batch: a (B, T)
    tensor or a list of id lists of *different lengths* (returns a list of lists). A batch
    runs as one (B, ·) forward pass per step, starting at the length of the shortest
    prompt: while the shortest rows already generate, the longer prompts are fed their own
    remaining prompt tokens one at a time, so no padding is needed and every row gets
    exactly what it would get alone (inside the context; see :class:`_Stepper` for
    decoding past it). Prompts longer than the model's context are cropped to their last
    ``block_size`` tokens for the model (the returned sequence keeps them all).
    Generation stops at ``max_new_tokens`` or just before a stop sequence (which is not
    included in the output). ``no_repeat_ngram_size = n > 0`` never lets an ``n``-gram of
    the row (prompt included) occur twice (:func:`block_repeated_ngrams`).
    ``use_cache=False`` recomputes every step (slow, for checking). ``generator`` makes
    sampling reproducible.
    """
    check_int("max_new_tokens", max_new_tokens, min_value=0)
    _check_sampling(temperature, top_k, top_p, repetition_penalty, greedy, no_repeat_ngram_size)
    rows, single = _as_prompts(prompt)
    _check_ids(rows, _vocab(model))
    stops = _check_stops(stop_sequences)
    if max_new_tokens == 0:
        return rows[0] if single else rows
    was_training = model.training
    model.eval()
    device = module_device("model", model)
    lengths = [len(r) for r in rows]
    B, start = len(rows), min(lengths)
    total = max(lengths) + max_new_tokens  # every row is done by this length
    seq = torch.tensor([r[:start] for r in rows], dtype=torch.long, device=device)  # (B, t)
    new_counts = [0] * B
    generated: list[list[int]] = [[] for _ in range(B)]
    done = [False] * B
    cut = [None] * B  # where a row's output ends (before its stop sequence)
    stepper = _Stepper(model, use_cache, B)
    logits = stepper.start(seq)  # (B, V)
    for t in range(start, total):
        sampled = sample_next(logits, temperature=temperature, top_k=top_k, top_p=top_p,
                              greedy=greedy, previous=seq, repetition_penalty=repetition_penalty,
                              no_repeat_ngram_size=no_repeat_ngram_size,
                              generator=generator)  # (B,)
        column = sampled.clone()
        for b in range(B):
            if t < lengths[b]:  # still inside this row's prompt: force its own token
                column[b] = rows[b][t]
            elif not done[b]:
                new_counts[b] += 1
                gen = generated[b]
                gen.append(int(sampled[b]))
                for s in stops:
                    if len(gen) >= len(s) and gen[-len(s):] == s:
                        done[b], cut[b] = True, lengths[b] + len(gen) - len(s)
                        break
                if new_counts[b] == max_new_tokens:
                    done[b] = True
        seq = torch.cat([seq, column[:, None]], dim=1)  # (B, t + 1)
        if all(done):
            break
        logits = stepper.next(seq)
    model.train(was_training)
    out = []
    for b in range(B):
        end = cut[b] if cut[b] is not None else lengths[b] + new_counts[b]
        out.append(rows[b] + seq[b, lengths[b]:end].tolist())
    return out[0] if single else out


# ----------------------------------------------------------------------------- beam search


@torch.no_grad()
def sequence_logprob(model: nn.Module, prompt: Sequence[int], continuation: Sequence[int]
                     ) -> float:
    """log p(continuation | prompt) under ``model``, summed over the continuation's tokens."""
    rows, _ = _as_prompts(list(prompt))
    if not continuation:
        return 0.0
    block = _context(model)
    if block is not None and len(rows[0]) + len(continuation) - 1 > block:
        raise ValueError(f"prompt ({len(rows[0])} tokens) + continuation ({len(continuation)}) "
                         f"must fit in the model's context of {block} + 1 tokens to be scored")
    device = module_device("model", model)
    ids = torch.tensor([rows[0] + list(continuation)], device=device)  # (1, T)
    was_training = model.training
    model.eval()
    logits = model(ids[:, :-1])[0].float()  # (1, T-1, V)
    model.train(was_training)
    logp = F.log_softmax(logits[0, len(rows[0]) - 1:], dim=-1)  # (len(cont), V)
    target = torch.tensor(list(continuation), device=device)
    return logp.gather(1, target[:, None]).sum().item()


@torch.no_grad()
def beam_search(model: nn.Module, prompt: Any, max_new_tokens: int, num_beams: int = 4, *,
                length_penalty: float = 1.0, eos_token_id: int | None = None,
                use_cache: bool = True) -> list[tuple[list[int], float]]:
    """Keep the ``num_beams`` most likely continuations at every step; return them, best first.

    Each hypothesis is scored by its log-probability divided by ``length ** length_penalty``
    (length = generated tokens): without it, beam search favours stopping early, since every
    extra token can only lower a sum of log-probabilities. A hypothesis ends at
    ``eos_token_id`` (kept in its output) or after ``max_new_tokens``. Returns
    ``[(prompt + continuation, score), ...]``. Long prompts are cropped and long
    continuations slide over the context as in :func:`generate`.
    """
    check_int("max_new_tokens", max_new_tokens, min_value=1)
    check_int("num_beams", num_beams, min_value=1)
    check_float("length_penalty", length_penalty)
    rows, single = _as_prompts(prompt)
    if not single:
        raise ValueError("beam_search takes one prompt (a list of ids or a 1-D tensor)")
    _check_ids(rows, _vocab(model))
    if eos_token_id is not None:
        check_int("eos_token_id", eos_token_id, min_value=0)
    was_training = model.training
    model.eval()
    device = module_device("model", model)
    prompt_ids = rows[0]
    seqs = torch.tensor([prompt_ids], device=device)  # (K, T) alive hypotheses, K = 1 first
    scores = torch.zeros(1, device=device)  # summed log-probabilities of the alive ones
    stepper = _Stepper(model, use_cache, 1)
    logits = stepper.start(seqs)  # (K, V)
    finished: list[tuple[list[int], float]] = []

    def norm(total: float, n: int) -> float:
        return total / (n ** length_penalty)

    for step in range(1, max_new_tokens + 1):
        logp = F.log_softmax(logits.float(), dim=-1)  # (K, V)
        cand = (scores[:, None] + logp).flatten()  # (K * V,)
        V = logp.size(1)
        top = torch.topk(cand, min(2 * num_beams, cand.numel()))
        keep_beam, keep_tok, keep_score = [], [], []
        for value, flat in zip(top.values.tolist(), top.indices.tolist(), strict=True):
            beam, tok = divmod(flat, V)
            if eos_token_id is not None and tok == eos_token_id:
                finished.append((seqs[beam].tolist() + [tok], norm(value, step)))
            else:
                keep_beam.append(beam)
                keep_tok.append(tok)
                keep_score.append(value)
            if len(keep_beam) == num_beams:
                break
        if not keep_beam:
            break
        index = torch.tensor(keep_beam, device=device)
        seqs = torch.cat([seqs[index], torch.tensor(keep_tok, device=device)[:, None]], dim=1)
        scores = torch.tensor(keep_score, device=device)
        # stop once num_beams hypotheses ended and no alive one can still beat the worst of
        # them: log-probabilities only fall as tokens are added, and the normaliser is at
        # most max_new_tokens ** length_penalty
        if len(finished) >= num_beams:
            worst = sorted(s for _, s in finished)[-num_beams]
            best = scores.max().item()
            reach = norm(best, max_new_tokens) if length_penalty > 0 else norm(best, step)
            if reach <= worst:
                break
        if step == max_new_tokens:
            break
        if stepper.cache is not None:
            stepper.cache.reorder(index)  # each surviving hypothesis keeps its parent's past
        logits = stepper.next(seqs)
    alive_len = seqs.size(1) - len(prompt_ids)
    for row, total in zip(seqs.tolist(), scores.tolist(), strict=True):
        finished.append((row, norm(total, alive_len)))
    model.train(was_training)
    finished.sort(key=lambda h: h[1], reverse=True)
    return finished[:num_beams]


# ----------------------------------------------------------------------------- text in, text out


def generate_text(model: nn.Module, tokenizer: Any, prompt: str | Sequence[str],
                  max_new_tokens: int = 200, *, stop: Sequence[str] | None = None,
                  num_beams: int = 1, **kwargs: Any) -> str | list[str]:
    """Encode ``prompt`` (or a list of prompts), generate, decode: prompt + continuation.

    ``stop`` strings (or one string) end a continuation before they appear.
    ``num_beams > 1`` uses beam
    search (one prompt); other keyword arguments go to :func:`generate`.
    """
    if not isinstance(prompt, (str, Sequence)):
        raise TypeError(f"prompt must be a string or a non-empty list of strings, got "
                        f"{type(prompt).__name__}")
    prompts = [prompt] if isinstance(prompt, str) else list(prompt)
    if not prompts or not all(isinstance(p, str) for p in prompts):
        raise TypeError("prompt must be a string or a non-empty list of strings")
    if any(p == "" for p in prompts):
        raise ValueError("prompt is empty: give at least one character to condition on")
    if isinstance(stop, str):  # one stop string, not one stop per character
        stop = [stop]
    stops = list(stop or [])
    if any(not isinstance(s, str) or s == "" for s in stops):
        raise ValueError(f"stop must be a list of non-empty strings, got {stop!r}")
    check_int("num_beams", num_beams, min_value=1)
    encoded = [tokenizer.encode(p) for p in prompts]
    if num_beams > 1:
        if len(encoded) != 1:
            raise ValueError("beam search takes one prompt")
        ids = beam_search(model, encoded[0], max_new_tokens, num_beams,
                          use_cache=kwargs.get("use_cache", True))[0][0]
        outs = [ids]
    else:
        stop_ids = [tokenizer.encode(s) for s in stops]
        outs = generate(model, encoded, max_new_tokens, stop_sequences=stop_ids or None,
                        **kwargs)
    texts = []
    for p, e, ids in zip(prompts, encoded, outs, strict=True):
        continuation = tokenizer.decode(ids[len(e):])
        for s in stops:  # a stop string may also appear across token boundaries
            if s in continuation:
                continuation = continuation[:continuation.index(s)]
        texts.append(p + continuation)
    return texts[0] if isinstance(prompt, str) else texts

