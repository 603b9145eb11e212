"""Perplexity equals its definition computed independently (probabilities, NumPy, SciPy)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import log_softmax as scipy_log_softmax

from lm_course.metrics import bits_per_token, perplexity, perplexity_from_logits, token_nll


def test_perplexity_is_inverse_geometric_mean_of_probabilities():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 7, 11, generator=gen, dtype=torch.float64)  # (B, T, V)
    targets = torch.randint(11, (3, 7), generator=gen)
    # independent reference: SciPy's log-softmax, then (prod p_i)^(-1/N) in NumPy
    logp = scipy_log_softmax(logits.numpy(), axis=-1)
    picked = np.take_along_axis(logp, targets.numpy()[..., None], axis=-1)[..., 0]
    want = float(np.exp(-picked.mean()))
    assert perplexity_from_logits(logits, targets) == pytest.approx(want, rel=1e-6)
    probs = np.exp(picked).ravel()
    assert want == pytest.approx(float(np.prod(probs) ** (-1.0 / probs.size)), rel=1e-9)


def test_uniform_model_has_perplexity_vocab_size_and_ignore_index():
    logits = torch.zeros(2, 5, 65)
    targets = torch.randint(65, (2, 5), generator=torch.Generator().manual_seed(1))
    assert perplexity_from_logits(logits, targets) == pytest.approx(65.0, rel=1e-5)
    # confident and right on the kept positions; the ignored position would be wrong
    sharp = torch.full((1, 3, 4), -30.0)
    sharp[0, 0, 1] = sharp[0, 1, 2] = sharp[0, 2, 0] = 30.0
    t = torch.tensor([[1, 2, 3]])
    t_ignored = torch.tensor([[1, 2, -100]])
    assert perplexity_from_logits(sharp, t_ignored) == pytest.approx(1.0)
    assert perplexity_from_logits(sharp, t) > 1e5
    total, count = token_nll(sharp, t_ignored)
    assert count == 2 and total.item() == pytest.approx(0.0, abs=1e-6)


def test_scalars_and_bad_input():
    assert perplexity(0.0) == 1.0
    assert perplexity(torch.tensor(math.log(10.0))) == pytest.approx(10.0)
    assert perplexity(1e6) == math.inf
    assert perplexity(math.inf) == math.inf
    assert bits_per_token(math.log(4.0)) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="mean_nll"):
        perplexity(-0.1)
    with pytest.raises(ValueError, match="mean_nll"):
        perplexity(math.nan)
    with pytest.raises(ValueError, match="single number"):
        perplexity(torch.ones(3))
    with pytest.raises(ValueError, match="agree"):
        perplexity_from_logits(torch.zeros(2, 3, 5), torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(TypeError, match="targets"):
        perplexity_from_logits(torch.zeros(2, 5), torch.zeros(2))
    with pytest.raises(ValueError, match="nothing to score"):
        perplexity_from_logits(torch.zeros(1, 5), torch.tensor([-100]))
