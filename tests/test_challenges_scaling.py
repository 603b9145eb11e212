"""Chapter 09c, compute: FLOP and parameter counts against the real model, a timed run, the
sweep, and power-law fits that must recover exponents planted in synthetic data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lm_course.challenges.scaling import (
    MODEL_CARDS,
    LossSurface,
    SweepConfig,
    compute_optimal,
    fit_loss_surface,
    fit_power_law,
    fit_saturating_power_law,
    format_duration,
    gpt_parameter_count,
    measure_run,
    non_embedding_parameters,
    scaling_sweep,
    training_flops,
    training_seconds,
)
from lm_course.training import TrainConfig
from lm_course.transformer import GPT, GPTConfig, flops_per_token, parameter_counts


def test_gpt3_training_compute():
    # Brown et al. (2020), Table D.1: 3.14e23 FLOPs for GPT-3 175B; 6ND gives the same
    assert training_flops(175e9, 300e9) == pytest.approx(3.15e23)
    gpt3 = next(m for m in MODEL_CARDS if m.name == "GPT-3")
    assert gpt3.flops == pytest.approx(3.15e23)
    assert training_seconds(3.15e23, 1e12) == pytest.approx(3.15e11)


@pytest.mark.parametrize("config", [
    GPTConfig(vocab_size=11, block_size=7, n_layer=2, n_head=2, n_embd=8),
    GPTConfig(vocab_size=13, block_size=5, n_layer=3, n_head=1, n_embd=6, bias=False,
              tie_weights=False),
    GPTConfig(vocab_size=9, block_size=6, n_layer=1, n_head=2, n_embd=4, pos_encoding="rope"),
    GPTConfig(vocab_size=9, block_size=6, n_layer=2, n_head=2, n_embd=4,
              pos_encoding="sinusoidal", tie_weights=False),
])
def test_parameter_count_on_paper_matches_the_model(config):
    model = GPT(config)
    assert gpt_parameter_count(config) == sum(p.numel() for p in model.parameters())
    counts = parameter_counts(model)
    assert non_embedding_parameters(model) == (counts["total"] - counts["token embedding"]
                                               - counts["position embedding"])


def test_gpt2_sizes():
    # the four released GPT-2 checkpoints: 124M, 355M, 774M, 1558M parameters
    shapes = {"GPT-2 small": (12, 768), "GPT-2 medium": (24, 1024), "GPT-2 large": (36, 1280),
              "GPT-2 XL": (48, 1600)}
    cards = {m.name: m for m in MODEL_CARDS}
    for name, (n_layer, width) in shapes.items():
        cfg = GPTConfig(vocab_size=50257, block_size=1024, n_layer=n_layer, n_head=16,
                        n_embd=width)
        assert cards[name].n_params == gpt_parameter_count(cfg)
        assert cards[name].n_tokens == 20 * cards[name].n_params
    assert cards["GPT-2 small"].n_params == 124_439_808


def test_format_duration():
    assert format_duration(30) == "30.0 seconds"
    assert format_duration(7200) == "2.0 hours"
    assert format_duration(365.25 * 86400 * 2) == "2.0 years"


def test_measure_run_counts_what_the_loop_did():
    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=7, block_size=8, n_layer=1, n_head=2, n_embd=8)
    model = GPT(cfg)
    data = torch.randint(0, 7, (200,))
    before = data.clone()
    tc = TrainConfig(max_steps=3, batch_size=4, block_size=8, warmup_steps=1, eval_interval=0,
                     eval_train=False, progress=False, peak_flops=0)
    cost = measure_run(model, data, tc, peak_flops_per_second=1e9)
    assert torch.equal(data, before)
    assert cost.n_tokens == 3 * 4 * 8
    assert cost.n_params == non_embedding_parameters(model)
    assert cost.flops_6nd == 6 * cost.n_params * cost.n_tokens
    assert cost.flops_counted == flops_per_token(cfg, seq_len=8)["training"] * cost.n_tokens
    assert cost.seconds > 0
    assert cost.mfu == pytest.approx(cost.flops_counted / cost.seconds / 1e9)
    assert cost.predicted_seconds == pytest.approx(cost.flops_6nd / 1e9)


def test_sweep_trains_every_pair_and_more_data_helps():
    torch.manual_seed(0)
    # a repeating pattern: learnable, so more tokens must give a lower loss
    data = torch.tensor([0, 1, 2, 3, 4, 5, 4, 3, 2, 1] * 60)
    cfg = SweepConfig(widths=(8, 16), n_layer=1, n_head=2, token_budgets=(128, 1024),
                      batch_size=8, block_size=16, lr=1e-2, eval_batches=1)
    points = scaling_sweep(data[:500], data[500:], 6, cfg)
    assert [(p.n_embd, p.n_tokens) for p in points] == [(8, 128), (8, 1024), (16, 128),
                                                       (16, 1024)]
    assert points[0].n_params < points[2].n_params
    for small, big in ((points[0], points[1]), (points[2], points[3])):
        assert big.val_loss < small.val_loss
        assert big.flops == 6 * big.n_params * big.n_tokens


def test_power_law_fit_recovers_planted_exponent():
    rng = np.random.default_rng(0)
    x = np.logspace(3, 9, 12)
    y = 7.0 * x ** -0.076 * np.exp(rng.normal(0, 0.002, len(x)))
    law = fit_power_law(x, y)
    assert law.exponent == pytest.approx(0.076, abs=0.002)
    assert law.coefficient == pytest.approx(7.0, rel=0.05)
    assert law.r2 > 0.99
    assert law(1e6) == pytest.approx(7.0 * 1e6 ** -0.076, rel=0.01)


def test_saturating_fit_recovers_floor_and_exponent():
    x = np.logspace(8, 14, 15)
    y = 1.7 + 40.0 * x ** -0.15
    law = fit_saturating_power_law(x, y)
    assert law.floor == pytest.approx(1.7, abs=0.02)
    assert law.exponent == pytest.approx(0.15, abs=0.01)
    assert law(x[3]) == pytest.approx(y[3], rel=1e-3)
    # a plain power law cannot represent the floor: its fit is visibly worse
    plain = fit_power_law(x, y)
    assert np.max(np.abs(plain(x) - y)) > 10 * np.max(np.abs(law(x) - y))


def test_loss_surface_fit_recovers_chinchilla_like_exponents():
    truth = LossSurface(E=1.69, A=406.4, alpha=0.34, B=410.7, beta=0.28)  # Hoffmann et al.
    n, d = np.meshgrid(np.logspace(6, 9, 4), np.logspace(8, 11, 4))
    n, d = n.ravel(), d.ravel()
    fit = fit_loss_surface(n, d, truth(n, d))
    assert fit.alpha == pytest.approx(0.34, abs=0.02)
    assert fit.beta == pytest.approx(0.28, abs=0.02)
    assert fit.E == pytest.approx(1.69, abs=0.03)
    assert np.allclose(fit(n, d), truth(n, d), rtol=1e-3)


def test_compute_optimal_is_the_minimum_along_the_budget():
    surface = LossSurface(E=1.69, A=406.4, alpha=0.34, B=410.7, beta=0.28)
    c = 5.76e23  # Chinchilla's budget
    n_opt, d_opt = compute_optimal(surface, c)
    assert 6 * n_opt * d_opt == pytest.approx(c)
    ns = np.logspace(9, 12, 3001)
    brute = ns[np.argmin(surface(ns, c / (6 * ns)))]
    assert n_opt == pytest.approx(brute, rel=0.01)
    assert 1e10 < n_opt < 1e11  # tens of billions of parameters, as the paper found


@pytest.mark.parametrize("call, exc, match", [
    (lambda: training_flops(0, 10), ValueError, "n_params must be in"),
    (lambda: training_flops(10, "many"), TypeError, "n_tokens must be a number"),
    (lambda: training_seconds(1e9, 0.0), ValueError, "flops_per_second must be in"),
    (lambda: format_duration(-1), ValueError, "seconds must be in"),
    (lambda: gpt_parameter_count({"n_embd": 8}), TypeError, "config must be a GPTConfig"),
    (lambda: non_embedding_parameters(torch.nn.Linear(2, 2)), TypeError, "model must be"),
    (lambda: fit_power_law([1, 2, 3], [1, 2]), ValueError, "same length"),
    (lambda: fit_power_law([1], [1]), ValueError, "at least 2 points"),
    (lambda: fit_power_law([1, -2], [1, 2]), ValueError, "x must be finite and > 0"),
    (lambda: fit_power_law([1, 2], [1, float("nan")]), ValueError, "y must be finite"),
    (lambda: fit_saturating_power_law([1, 2, 3], [3, 2, 1]), ValueError, "at least 4"),
    (lambda: fit_loss_surface([1, 1, 1, 1, 1], [1, 2, 3, 4, 5], [5, 4, 3, 2, 1]), ValueError,
     "two distinct model sizes"),
    (lambda: compute_optimal("surface", 1e20), TypeError, "surface must be a LossSurface"),
    (lambda: compute_optimal(LossSurface(1, 1, 0.3, 1, 0.3), -1), ValueError, "flops must be"),
    (lambda: SweepConfig(widths=()), TypeError, "widths must be a non-empty tuple"),
    (lambda: SweepConfig(widths=[16]), TypeError, "widths must be a non-empty tuple"),
    (lambda: SweepConfig(widths=(15,), n_head=2), ValueError, "not divisible by n_head=2"),
    (lambda: SweepConfig(token_budgets=(10,)), ValueError, "below one step"),
    (lambda: SweepConfig(lr=0.0), ValueError, "lr must be in"),
    (lambda: scaling_sweep(torch.zeros(100), torch.zeros(100, dtype=torch.long), 5),
     TypeError, "train_data"),
    (lambda: scaling_sweep(torch.zeros(100, dtype=torch.long),
                           torch.zeros(100, dtype=torch.long), 5, {"widths": (8,)}),
     TypeError, "config must be a SweepConfig"),
    (lambda: measure_run(GPT(GPTConfig(vocab_size=5, n_layer=1, n_embd=8, n_head=2)),
                         torch.zeros(100, dtype=torch.long), {"max_steps": 1}),
     TypeError, "config must be a TrainConfig"),
])
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
