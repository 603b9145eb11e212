"""Perplexity equals its definition computed independently (probabilities, NumPy, SciPy);
the bootstrap interval equals SciPy's percentile bootstrap and behaves as an interval should."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import log_softmax as scipy_log_softmax
from scipy.stats import bootstrap as scipy_bootstrap

from lm_course.metrics import (
    accuracy,
    bits_per_token,
    bootstrap_ci,
    paired_bootstrap,
    perplexity,
    perplexity_from_logits,
    span_f1,
    token_nll,
)


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


# ----------------------------------------------------------------------------- bootstrap


def accuracy_stat(y_true, y_pred):
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


def test_bootstrap_ci_equals_scipy_percentile_bootstrap():
    rng = np.random.default_rng(3)
    y_true = rng.integers(0, 3, 60)
    y_pred = np.where(rng.random(60) < 0.7, y_true, rng.integers(0, 3, 60))
    for confidence in [0.95, 0.8]:
        point, low, high = bootstrap_ci(accuracy_stat, y_true, y_pred, n_resamples=500,
                                        confidence=confidence, seed=7)
        res = scipy_bootstrap((y_true, y_pred), lambda t, p, axis=-1: np.mean(t == p, axis=axis),
                              paired=True, vectorized=True, n_resamples=500,
                              confidence_level=confidence, method="percentile",
                              rng=np.random.default_rng(7))
        assert point == pytest.approx(accuracy(y_true.tolist(), y_pred.tolist()))
        assert low == pytest.approx(res.confidence_interval.low, abs=1e-12)
        assert high == pytest.approx(res.confidence_interval.high, abs=1e-12)
        assert low < point < high


def test_bootstrap_ci_properties():
    rng = np.random.default_rng(0)
    widths = []
    for n in [40, 400]:
        y_true = rng.integers(0, 2, n).tolist()
        y_pred = [t if rng.random() < 0.75 else 1 - t for t in y_true]
        before = list(y_true), list(y_pred)
        point, low, high = bootstrap_ci(accuracy, y_true, y_pred, n_resamples=300, seed=1)
        assert low <= point <= high and 0.0 <= low and high <= 1.0
        assert bootstrap_ci(accuracy, y_true, y_pred, n_resamples=300, seed=1) == (
            point, low, high)  # deterministic under a seed
        assert bootstrap_ci(accuracy, y_true, y_pred, n_resamples=300, seed=2) != (
            point, low, high)
        narrow = bootstrap_ci(accuracy, y_true, y_pred, n_resamples=300, seed=1,
                              confidence=0.5)
        assert low <= narrow[1] <= narrow[2] <= high  # a lower confidence, a narrower interval
        assert (y_true, y_pred) == before
        widths.append(high - low)
    assert widths[1] < 0.5 * widths[0]  # ten times the data: about a third of the width
    # a perfect system has no spread at all
    assert bootstrap_ci(accuracy, [1, 0, 1], [1, 0, 1], n_resamples=50) == (1.0, 1.0, 1.0)


def test_bootstrap_of_a_corpus_level_metric_resamples_items():
    # span F1 pools counts over sentences; the resampled items are whole sentences
    gold = [["B-PER", "O"], ["O", "B-LOC"], ["B-ORG", "I-ORG"], ["O", "O"]] * 5
    pred = [["B-PER", "O"], ["O", "O"], ["B-ORG", "I-ORG"], ["B-LOC", "O"]] * 5
    point, low, high = bootstrap_ci(span_f1, gold, pred, n_resamples=200, seed=0)
    assert point == pytest.approx(span_f1(gold, pred)) and low < point < high


def test_paired_bootstrap():
    rng = np.random.default_rng(5)
    y_true = rng.integers(0, 2, 200).tolist()
    good = [t if rng.random() < 0.9 else 1 - t for t in y_true]
    poor = [t if rng.random() < 0.6 else 1 - t for t in y_true]
    assert paired_bootstrap(accuracy, y_true, good, poor, n_resamples=300) < 0.01
    assert paired_bootstrap(accuracy, y_true, poor, good, n_resamples=300) > 0.99
    # a system against itself never wins: A does not beat B in every resample
    assert paired_bootstrap(accuracy, y_true, good, good, n_resamples=50) == 1.0
    # two systems differing on a single item: no clear winner
    close = list(good)
    close[0] = 1 - close[0]
    p = paired_bootstrap(accuracy, y_true, good, close, n_resamples=300, seed=3)
    assert 0.2 < p <= 1.0
    # the same index draws as bootstrap_ci: deterministic under a seed
    assert p == paired_bootstrap(accuracy, y_true, good, close, n_resamples=300, seed=3)


@pytest.mark.parametrize("call, error, words", [
    (lambda: bootstrap_ci(accuracy, [1, 0], [1]), ValueError, ["y_true", "y_pred", "2", "1"]),
    (lambda: bootstrap_ci(accuracy, [], []), ValueError, ["y_true", "empty"]),
    (lambda: bootstrap_ci("accuracy", [1], [1]), TypeError, ["metric", "str"]),
    (lambda: bootstrap_ci(accuracy, [1], [1], n_resamples=0), ValueError, ["n_resamples"]),
    (lambda: bootstrap_ci(accuracy, [1], [1], n_resamples=2.5), TypeError, ["n_resamples"]),
    (lambda: bootstrap_ci(accuracy, [1], [1], confidence=1.0), ValueError, ["confidence"]),
    (lambda: bootstrap_ci(accuracy, [1], [1], confidence=95), ValueError, ["confidence"]),
    (lambda: bootstrap_ci(accuracy, [1], [1], seed=-1), ValueError, ["seed"]),
    (lambda: bootstrap_ci(accuracy, "10", "10"), TypeError, ["y_true", "sequence"]),
    (lambda: bootstrap_ci(lambda t, p: "high", [1], [1]), TypeError,
     ["metric", "number", "str"]),
    (lambda: bootstrap_ci(lambda t, p: math.nan, [1], [1]), ValueError, ["nan"]),
    (lambda: paired_bootstrap(accuracy, [1, 0], [1, 0], [1]), ValueError,
     ["y_true", "pred_b", "2", "1"]),
    (lambda: paired_bootstrap(accuracy, [1, 0], [1], [1, 0]), ValueError, ["pred_a"]),
    (lambda: paired_bootstrap(accuracy, [1], [1], [1], n_resamples=-3), ValueError,
     ["n_resamples"]),
])
def test_bootstrap_bad_input(call, error, words):
    with pytest.raises(error) as info:
        call()
    for word in words:
        assert word in str(info.value)
