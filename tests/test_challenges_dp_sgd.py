"""Tests for lm_course.challenges.dp_sgd: per-example gradients by a loop equal torch.func's
vmap and average to the batch gradient, clipping bounds every example's norm and keeps its
direction, the noise is sigma*C*N(0, I) from the given generator, the RDP epsilon is an upper
bound close to the exact epsilon of the Gaussian mechanism, DP training still learns, and bad
input is refused clearly."""

import math

import pytest
import torch
from scipy.optimize import brentq
from scipy.stats import norm

from lm_course.challenges.dp_sgd import (
    DPConfig,
    clip_per_example,
    epsilon,
    noisy_mean,
    per_example_grads,
    train_dp,
)
from lm_course.data import lm_windows
from lm_course.training import TinyLM, evaluate_loss
from lm_course.transformer import GPT, GPTConfig


def _perturb(model, seed=1):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=g))
    return model


def _batch(vocab=7, B=5, T=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(vocab, (B, T), generator=g), torch.randint(vocab, (B, T), generator=g)


def test_loop_equals_vmap_and_averages_to_the_batch_gradient():
    torch.manual_seed(0)
    model = _perturb(TinyLM(7, n_embd=5))  # biases != 0
    x, y = _batch()
    x0, y0 = x.clone(), y.clone()
    loop = per_example_grads(model, x, y, "loop")
    vmapped = per_example_grads(model, x, y, "vmap")
    model.zero_grad()
    model(x, y)[1].backward()  # the mean over equal-length windows = mean of their means
    for name, p in model.named_parameters():
        assert loop[name].shape == (5, *p.shape)
        assert torch.allclose(loop[name], vmapped[name], atol=1e-6), name
        assert torch.allclose(loop[name].mean(0), p.grad, atol=1e-6), name
    assert not torch.allclose(loop["head.bias"][0], loop["head.bias"][-1])  # really per example
    assert torch.equal(x, x0) and torch.equal(y, y0)


def test_per_example_grads_of_a_gpt_with_tied_weights():
    torch.manual_seed(0)
    model = _perturb(GPT(GPTConfig(vocab_size=7, block_size=8, n_layer=1, n_head=2, n_embd=8)))
    x, y = _batch(B=3)
    grads = per_example_grads(model, x, y)
    assert "lm_head.weight" not in grads  # tied to tok_emb: one parameter, one gradient
    for i in (0, 2):
        model.zero_grad()
        model(x[i:i + 1], y[i:i + 1])[1].backward()
        for name, p in model.named_parameters():
            assert torch.allclose(grads[name][i], p.grad, atol=1e-6), (i, name)


def test_clipping_bounds_each_norm_and_keeps_direction():
    g = torch.Generator().manual_seed(0)
    grads = {"a": torch.randn(4, 3, 2, generator=g), "b": torch.randn(4, 5, generator=g)}
    grads["a"][1] *= 1e-3  # one small example: left alone
    grads["b"][1] *= 1e-3
    before = {k: v.clone() for k, v in grads.items()}
    out = clip_per_example(grads, clip_norm=0.5)
    norms_in = torch.sqrt(sum(v.flatten(1).pow(2).sum(1) for v in grads.values()))
    norms_out = torch.sqrt(sum(v.flatten(1).pow(2).sum(1) for v in out.values()))
    assert torch.allclose(norms_out, norms_in.clamp(max=0.5), atol=1e-6)
    for k in grads:
        assert torch.equal(grads[k], before[k])  # inputs unchanged
        assert torch.allclose(out[k][1], grads[k][1])
        scale = (0.5 / norms_in).clamp(max=1.0).view(-1, *[1] * (grads[k].dim() - 1))
        assert torch.allclose(out[k], grads[k] * scale)  # same direction, one factor per example


def test_noisy_mean_adds_sigma_c_gaussian_from_the_generator():
    g = torch.Generator().manual_seed(0)
    grads = {"w": torch.randn(6, 3, 4, generator=g) * 5, "b": torch.randn(6, 4, generator=g)}
    clipped = clip_per_example(grads, 1.0)
    exact = noisy_mean(grads, 1.0, 0.0, torch.Generator().manual_seed(1))
    for k in grads:
        assert torch.allclose(exact[k], clipped[k].mean(0))
    got = noisy_mean(grads, 1.0, 2.5, torch.Generator().manual_seed(7), expected_batch_size=4)
    ref = torch.Generator().manual_seed(7)
    for k in ("w", "b"):  # drawn in the dict's order
        z = torch.randn(grads[k].shape[1:], generator=ref)
        assert torch.allclose(got[k], (clipped[k].sum(0) + 2.5 * 1.0 * z) / 4)


def _exact_gaussian_epsilon(sigma: float, delta: float) -> float:
    """Balle & Wang (2018): the exact (epsilon, delta) curve of one Gaussian mechanism."""
    def gap(eps):
        return (norm.cdf(1 / (2 * sigma) - eps * sigma)
                - math.exp(eps) * norm.cdf(-1 / (2 * sigma) - eps * sigma) - delta)
    return brentq(gap, 0.0, 100.0)


@pytest.mark.parametrize("sigma", [0.8, 1.5, 4.0])
def test_rdp_epsilon_is_a_tight_upper_bound_for_one_gaussian_step(sigma):
    exact = _exact_gaussian_epsilon(sigma, 1e-5)
    got = epsilon(sigma, sample_rate=1.0, steps=1, delta=1e-5)
    assert exact <= got <= 1.6 * exact


def test_epsilon_grows_with_steps_and_rate_and_falls_with_noise():
    base = epsilon(1.0, 0.01, 100, 1e-5)
    assert epsilon(1.0, 0.01, 400, 1e-5) > base
    assert epsilon(1.0, 0.05, 100, 1e-5) > base
    assert epsilon(2.0, 0.01, 100, 1e-5) < base
    assert epsilon(0.0, 0.01, 100, 1e-5) == math.inf


def test_train_dp_learns_and_is_reproducible():
    data = torch.tensor([0, 1, 2, 3, 4] * 80)
    X, Y = lm_windows(data, 8)  # (49, 8)
    results = []
    for sigma in (0.3, 0.3, 5.0):
        torch.manual_seed(0)
        model = TinyLM(5, n_embd=8)
        start = evaluate_loss(model, data, 8)
        cfg = DPConfig(noise_multiplier=sigma, clip_norm=1.0, batch_size=8, steps=40, lr=0.05)
        hist = train_dp(model, (X, Y), cfg, val_data=data)
        results.append((start, hist))
    (start, h1), (_, h2), (_, h3) = results
    assert h1.val_loss < 0.5 * start  # little noise: it learns the cycle
    assert h1.loss == h2.loss and h1.val_loss == h2.val_loss  # same seed, same run
    assert h3.val_loss > h1.val_loss  # much more noise: worse model
    assert h3.epsilon < h1.epsilon < math.inf
    assert len(h1.batch) == 40 and 3 < sum(h1.batch) / 40 < 13  # Poisson around 8


@pytest.mark.parametrize("call, exc, message", [
    (lambda: DPConfig(noise_multiplier=-1.0), ValueError, "noise_multiplier must be in"),
    (lambda: DPConfig(clip_norm=0.0), ValueError, "clip_norm must be in"),
    (lambda: DPConfig(batch_size=0), ValueError, "batch_size must be >= 1"),
    (lambda: DPConfig(delta=1.0), ValueError, "delta must be in"),
    (lambda: DPConfig(method="jacobian"), ValueError, "method must be one of"),
    (lambda: DPConfig(steps=2.5), TypeError, "steps must be an int"),
    (lambda: per_example_grads(TinyLM(3), torch.zeros(2, 3), torch.zeros(2, 3)), TypeError,
     "x must be an integer tensor"),
    (lambda: per_example_grads(TinyLM(3), torch.zeros(2, 3).long(), torch.zeros(2, 4).long()),
     ValueError, "same shape"),
    (lambda: per_example_grads(TinyLM(3), torch.zeros(3).long(), torch.zeros(3).long()),
     ValueError, "x must have 2 dimensions"),
    (lambda: clip_per_example({}, 1.0), TypeError, "non-empty dict"),
    (lambda: clip_per_example({"w": torch.ones(2, 3)}, -1.0), ValueError, "clip_norm must be"),
    (lambda: clip_per_example({"w": torch.ones(2, 3), "b": torch.ones(3)}, 1.0), ValueError,
     "same batch size"),
    (lambda: clip_per_example({"w": torch.ones(2).long()}, 1.0), TypeError, "floating-point"),
    (lambda: noisy_mean({"w": torch.ones(2, 3)}, 1.0, 1.0, 0), TypeError,
     "generator must be a torch.Generator"),
    (lambda: noisy_mean({"w": torch.ones(0, 3)}, 1.0, 1.0, torch.Generator()), ValueError,
     "empty batch needs expected_batch_size"),
    (lambda: epsilon(1.0, 0.0, 10, 1e-5), ValueError, "sample_rate must be in"),
    (lambda: epsilon(1.0, 0.1, 0, 1e-5), ValueError, "steps must be >= 1"),
    (lambda: train_dp(TinyLM(3), torch.zeros(4, 3).long()), TypeError, "windows must be a tuple"),
    (lambda: train_dp(TinyLM(3), (torch.zeros(4, 3).long(),) * 2, DPConfig(batch_size=5)),
     ValueError, "batch_size=5 is larger than the 4 training windows"),
    (lambda: train_dp(TinyLM(3), (torch.zeros(4, 3).long(),) * 2, {"steps": 1}), TypeError,
     "config must be a DPConfig"),
])
def test_bad_inputs(call, exc, message):
    with pytest.raises(exc, match=message.replace("(", r"\(").replace("[", r"\[")):
        call()
