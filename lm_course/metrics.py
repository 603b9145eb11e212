"""Evaluation metrics, each checked against a reference implementation in the tests.

This module holds the language-model metrics and the bootstrap intervals, and re-exports
the rest, so ``from lm_course.metrics import ...`` reaches every metric of the course:

- here: perplexity and friends; ``bootstrap_ci`` and ``paired_bootstrap``;
- ``metrics_classification``: accuracy, precision / recall / F1, BIO entity spans, span F1;
- ``metrics_text``: BLEU, chrF and ROUGE for generated text.

For a language model the metric is the held-out cross-entropy, usually reported as
perplexity ``exp(mean negative log-likelihood)``: the model is as uncertain as if it
picked uniformly among that many tokens. A model that predicts uniformly over ``V``
tokens has perplexity exactly ``V``; a perfect one has perplexity 1.

>>> round(perplexity(math.log(65)), 6)  # a uniform guess over 65 characters
65.0
>>> round(bits_per_token(math.log(2)), 6)  # one bit of surprise per token
1.0
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from lm_course.metrics_classification import (
    PRF,
    _as_list,
    accuracy,
    bio_spans,
    precision_recall_f1,
    span_f1,
    span_scores,
)
from lm_course.metrics_text import (
    BLEUResult,
    chrf,
    corpus_bleu,
    rouge,
    rouge_pair,
    sentence_bleu,
)
from lm_course.utils import check_float, check_int, check_tensor

__all__ = ["perplexity", "bits_per_token", "token_nll", "perplexity_from_logits",
           "bootstrap_ci", "paired_bootstrap",
           "PRF", "accuracy", "precision_recall_f1", "bio_spans", "span_scores", "span_f1",
           "BLEUResult", "corpus_bleu", "sentence_bleu", "chrf", "rouge", "rouge_pair"]


def perplexity(mean_nll: float | torch.Tensor) -> float:
    """``exp(mean_nll)``, with the mean negative log-likelihood in nats per token.

    ``inf`` (rather than an overflow error) for a hopeless model.
    """
    if isinstance(mean_nll, torch.Tensor):
        if mean_nll.numel() != 1:
            raise ValueError(f"mean_nll must be a single number, got shape "
                             f"{tuple(mean_nll.shape)}; average the per-token losses first")
        mean_nll = mean_nll.item()
    if isinstance(mean_nll, float) and math.isinf(mean_nll) and mean_nll > 0:
        return math.inf
    value = check_float("mean_nll", mean_nll, low=0.0)
    return math.exp(value) if value < 709.0 else math.inf


def bits_per_token(mean_nll: float | torch.Tensor) -> float:
    """Cross-entropy in bits instead of nats (``nll / ln 2``); for characters: bits per char."""
    if isinstance(mean_nll, torch.Tensor):
        mean_nll = mean_nll.item()
    return check_float("mean_nll", mean_nll, low=0.0) / math.log(2.0)


def token_nll(logits: torch.Tensor, targets: torch.Tensor,
              ignore_index: int = -100) -> tuple[torch.Tensor, int]:
    """Summed negative log-likelihood of ``targets`` under ``logits`` and the token count.

    ``logits`` (..., V) and ``targets`` (...) as a language model returns them; positions
    whose target is ``ignore_index`` are skipped. Summing (not averaging) lets you add up
    batches of different sizes exactly before dividing.
    """
    check_tensor("logits", logits, floating=True)
    check_tensor("targets", targets, integer=True)
    if logits.shape[:-1] != targets.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and targets {tuple(targets.shape)} "
                         "must agree on all but the last (vocabulary) dimension")
    check_int("ignore_index", ignore_index)
    scored = targets[targets != ignore_index]
    if scored.numel() and (int(scored.min()) < 0 or int(scored.max()) >= logits.size(-1)):
        raise ValueError(f"targets must be token ids in [0, {logits.size(-1) - 1}] (or "
                         f"ignore_index={ignore_index}), got ids from {int(scored.min())} "
                         f"to {int(scored.max())}")
    if torch.isnan(logits).any():
        raise ValueError("logits hold NaN: the model's output is broken (check the loss "
                         "during training)")
    flat_logits = logits.reshape(-1, logits.size(-1)).float()  # (N, V)
    flat_targets = targets.reshape(-1)  # (N,)
    total = F.cross_entropy(flat_logits, flat_targets, ignore_index=ignore_index,
                            reduction="sum")
    count = int((flat_targets != ignore_index).sum())
    return total, count


def perplexity_from_logits(logits: torch.Tensor, targets: torch.Tensor,
                           ignore_index: int = -100) -> float:
    """Perplexity of ``targets`` under ``logits`` (the exponent of the mean token NLL)."""
    total, count = token_nll(logits, targets, ignore_index)
    if count == 0:
        raise ValueError("every target equals ignore_index: there is nothing to score")
    return perplexity(total.item() / count)


# ----------------------------------------------------------------------------- bootstrap
# A score on a test set is an estimate: another test set of the same size would give another
# number. The bootstrap imitates "another test set" by redrawing the items (sentences,
# documents) with replacement and rescoring; the spread of the rescored values is the
# uncertainty. The metric is recomputed from scratch on every resample, so corpus-level
# metrics (BLEU, span F1) are resampled correctly -- not averaged per sentence.


def _score(metric: Callable[[Sequence, Sequence], float], y_true: list, y_pred: list) -> float:
    value = metric(y_true, y_pred)
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"metric must return a number, got {type(value).__name__}; wrap it, "
                        "e.g. lambda refs, hyps: corpus_bleu(hyps, refs).score")
    if math.isnan(value):
        raise ValueError("metric returned nan on a resample; use a metric defined on every "
                         "subset of the items (e.g. micro rather than macro F1)")
    return float(value)


def _resamples(n_items: int, n_resamples: int, seed: int) -> np.ndarray:
    """Row ``b`` holds the item indices of resample ``b``, drawn with replacement."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_items, size=(n_resamples, n_items))  # (R, N)


def _check_bootstrap(metric: Any, n_resamples: Any, seed: Any, **named: Any) -> list[list]:
    if not callable(metric):
        raise TypeError(f"metric must be a function metric(y_true, y_pred) -> float, got "
                        f"{type(metric).__name__}")
    check_int("n_resamples", n_resamples, min_value=1)
    check_int("seed", seed, min_value=0)
    items = [_as_list(name, values, "of items (one per example)")
             for name, values in named.items()]
    names = list(named)
    if not items[0]:
        raise ValueError(f"{names[0]} is empty: there is nothing to resample")
    for name, seq in zip(names[1:], items[1:], strict=True):
        if len(seq) != len(items[0]):
            raise ValueError(f"{names[0]} and {name} must have the same length, got "
                             f"{len(items[0])} and {len(seq)}")
    return items


def bootstrap_ci(metric: Callable[[Sequence, Sequence], float], y_true: Sequence,
                 y_pred: Sequence, *, n_resamples: int = 1000, confidence: float = 0.95,
                 seed: int = 0) -> tuple[float, float, float]:
    """``(point, low, high)``: the metric on the data and a percentile-bootstrap interval.

    Draws ``n_resamples`` resamples of the items (the pairs ``y_true[i], y_pred[i]``) with
    replacement, scores each, and returns the ``(1 - confidence) / 2`` and
    ``(1 + confidence) / 2`` quantiles of those scores; the same as
    ``scipy.stats.bootstrap(..., paired=True, method="percentile")`` with the same generator.
    Deterministic for a given ``seed``. Cost: ``n_resamples + 1`` calls of ``metric`` (span
    F1, BLEU, chrF and ROUGE cache their per-sentence statistics, so a resample mostly
    re-pools counts).

    >>> truth = [1, 0, 1, 1, 0, 1, 0, 0, 1, 1] * 5
    >>> guess = [1, 0, 0, 1, 0, 1, 1, 0, 1, 1] * 5
    >>> point, low, high = bootstrap_ci(accuracy, truth, guess, n_resamples=200)
    >>> point, low < point < high
    (0.8, True)
    """
    y_true, y_pred = _check_bootstrap(metric, n_resamples, seed, y_true=y_true, y_pred=y_pred)
    check_float("confidence", confidence, low=0.0, high=1.0, low_inclusive=False,
                high_inclusive=False)
    point = _score(metric, y_true, y_pred)
    values = np.array([_score(metric, [y_true[i] for i in rows], [y_pred[i] for i in rows])
                       for rows in _resamples(len(y_true), n_resamples, seed)])  # (R,)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(values, [alpha, 1.0 - alpha])
    return point, float(low), float(high)


def paired_bootstrap(metric: Callable[[Sequence, Sequence], float], y_true: Sequence,
                     pred_a: Sequence, pred_b: Sequence, *, n_resamples: int = 1000,
                     seed: int = 0) -> float:
    """The fraction of resamples in which system A does *not* score above system B.

    Both systems are scored on the same resampled items each time (paired), so the test sees
    only their difference. A small value (say < 0.05) says A's lead is unlikely to be luck
    of the test set: it is a one-sided p-value for "A is better than B".

    >>> truth = [1, 0, 1, 1, 0, 1, 0, 0, 1, 1] * 5
    >>> good = [1, 0, 1, 1, 0, 1, 1, 0, 1, 1] * 5  # 90% right
    >>> poor = [1, 1, 0, 1, 0, 0, 1, 0, 1, 1] * 5  # 60% right
    >>> paired_bootstrap(accuracy, truth, good, poor, n_resamples=200)
    0.0
    >>> paired_bootstrap(accuracy, truth, poor, good, n_resamples=200)
    1.0
    """
    y_true, pred_a, pred_b = _check_bootstrap(metric, n_resamples, seed, y_true=y_true,
                                              pred_a=pred_a, pred_b=pred_b)
    not_better = 0
    for rows in _resamples(len(y_true), n_resamples, seed):
        truth = [y_true[i] for i in rows]
        a = _score(metric, truth, [pred_a[i] for i in rows])
        b = _score(metric, truth, [pred_b[i] for i in rows])
        not_better += a <= b
    return not_better / n_resamples
