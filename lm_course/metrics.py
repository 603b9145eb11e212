"""Evaluation metrics, each checked against a reference implementation in the tests.

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

import torch
import torch.nn.functional as F

from lm_course.utils import check_float, check_int, check_tensor

__all__ = ["perplexity", "bits_per_token", "token_nll", "perplexity_from_logits"]


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
