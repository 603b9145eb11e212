"""Differentially private SGD (Abadi et al. 2016), written out: per-example gradients,
clipping, Gaussian noise, and the privacy spent, computed by Google's ``dp-accounting``.

One DP-SGD step on a batch drawn by Poisson sampling (each example joins with probability
``q``, independently):

    g_i  = grad of example i's loss                   (per example, not the batch mean)
    g~_i = g_i * min(1, C / ||g_i||)                  (every example moves the model <= C)
    g    = (sum_i g~_i + N(0, sigma^2 C^2 I)) / (q N)  (noise hides any one example)

The guarantee is about one *example* -- here one training window. A secret copied into
``k`` windows is protected only at ``k`` times the epsilon (group privacy).

>>> g = {"w": torch.tensor([[3.0, 4.0], [0.3, 0.4]])}  # two examples, norms 5 and 0.5
>>> clip_per_example(g, clip_norm=1.0)["w"]
tensor([[0.6000, 0.8000],
        [0.3000, 0.4000]])
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap

from lm_course.optim import make_optimizer
from lm_course.training import evaluate_loss
from lm_course.utils import check_choice, check_float, check_int, check_tensor, module_device

__all__ = ["DPConfig", "DPHistory", "per_example_grads", "clip_per_example", "noisy_mean",
           "epsilon", "train_dp"]


@dataclass(frozen=True)
class DPConfig:
    """A DP-SGD run over a fixed set of training windows."""

    noise_multiplier: float = 1.0  # sigma: the noise's std is sigma * clip_norm
    clip_norm: float = 1.0  # C: the largest gradient norm one example may have
    batch_size: int = 32  # expected windows per step (the sample rate is batch_size / N)
    steps: int = 200  # optimiser steps
    lr: float = 3e-3  # Adam's learning rate (constant)
    delta: float = 1e-5  # the delta of (epsilon, delta)-DP; keep it well below 1 / N
    method: str = "loop"  # per-example gradients: "loop" (any model) | "vmap" (torch.func)
    seed: int = 0  # seeds the Poisson sampling and the noise

    def __post_init__(self) -> None:
        check_float("noise_multiplier", self.noise_multiplier, low=0.0)
        check_float("clip_norm", self.clip_norm, low=0.0, low_inclusive=False)
        check_int("batch_size", self.batch_size, min_value=1)
        check_int("steps", self.steps, min_value=1)
        check_float("lr", self.lr, low=0.0, low_inclusive=False)
        check_float("delta", self.delta, low=0.0, high=1.0, low_inclusive=False,
                    high_inclusive=False)
        check_choice("method", self.method, ["loop", "vmap"])
        check_int("seed", self.seed, min_value=0)


def per_example_grads(model: nn.Module, x: Tensor, y: Tensor, method: str = "loop"
                      ) -> dict[str, Tensor]:
    """The gradient of each example's mean loss: ``{name: (B, *param.shape)}``.

    ``"loop"`` runs one backward pass per example and works for any model. ``"vmap"`` is
    ``torch.func.vmap(grad(loss))``, one vectorised pass; it needs a forward without
    data-dependent Python control flow (the course's ``GPT`` checks its token ids with an
    ``if``, so it takes the loop).
    """
    module_device("model", model)
    check_tensor("x", x, ndim=2, integer=True)
    check_tensor("y", y, ndim=2, integer=True)
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {tuple(x.shape)} and "
                         f"{tuple(y.shape)}")
    check_choice("method", method, ["loop", "vmap"])
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    if method == "vmap":
        detached = {n: p.detach() for n, p in params.items()}

        def loss_one(p: dict[str, Tensor], xi: Tensor, yi: Tensor) -> Tensor:
            return functional_call(model, p, (xi[None], yi[None]))[1]  # one window, (1, T)

        return vmap(grad(loss_one), in_dims=(None, 0, 0))(detached, x, y)
    out = {n: torch.zeros(len(x), *p.shape, dtype=p.dtype, device=p.device)
           for n, p in params.items()}
    names, tensors = list(params), list(params.values())
    for i in range(len(x)):
        _, loss = model(x[i:i + 1], y[i:i + 1])  # (1, T) -> scalar
        for n, g in zip(names, torch.autograd.grad(loss, tensors, allow_unused=True),
                        strict=True):
            if g is not None:
                out[n][i] = g
    return out


def clip_per_example(grads: dict[str, Tensor], clip_norm: float) -> dict[str, Tensor]:
    """Scale each example's gradient (over all parameters together) to norm <= ``clip_norm``."""
    check_float("clip_norm", clip_norm, low=0.0, low_inclusive=False)
    if not isinstance(grads, dict) or not grads:
        raise TypeError("grads must be a non-empty dict {name: (B, ...) tensor}")
    for name, g in grads.items():
        check_tensor(f"grads[{name!r}]", g, floating=True)
        if g.dim() < 1:
            raise ValueError(f"grads[{name!r}] must have a batch dimension, got a scalar")
    sizes = {g.shape[0] for g in grads.values()}
    if len(sizes) != 1:
        raise ValueError(f"every gradient must have the same batch size, got {sorted(sizes)}")
    sq = sum(g.flatten(1).pow(2).sum(dim=1) for g in grads.values())  # (B,)
    factor = (clip_norm / (sq.sqrt() + 1e-12)).clamp(max=1.0)  # (B,)
    return {n: g * factor.view(-1, *[1] * (g.dim() - 1)) for n, g in grads.items()}


def noisy_mean(grads: dict[str, Tensor], clip_norm: float, noise_multiplier: float,
               generator: torch.Generator, expected_batch_size: float | None = None
               ) -> dict[str, Tensor]:
    """Clip each example, add ``N(0, (sigma C)^2)`` to the sum, divide by the (expected)
    batch size. Noise is drawn parameter by parameter in the dict's order."""
    clipped = clip_per_example(grads, clip_norm)
    check_float("noise_multiplier", noise_multiplier, low=0.0)
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    n = next(iter(grads.values())).shape[0]
    denom = n if expected_batch_size is None else check_float(
        "expected_batch_size", expected_batch_size, low=0.0, low_inclusive=False)
    if denom == 0:
        raise ValueError("an empty batch needs expected_batch_size (Poisson sampling)")
    out = {}
    for name, g in clipped.items():
        noise = torch.randn(g.shape[1:], generator=generator, dtype=g.dtype)
        out[name] = (g.sum(dim=0) + noise_multiplier * clip_norm * noise.to(g.device)) / denom
    return out


def epsilon(noise_multiplier: float, sample_rate: float, steps: int, delta: float) -> float:
    """The epsilon of ``steps`` Poisson-sampled Gaussian steps at ``delta``, from the RDP
    accountant of ``dp-accounting`` (inf without noise)."""
    import dp_accounting
    from dp_accounting import rdp

    check_float("noise_multiplier", noise_multiplier, low=0.0)
    check_float("sample_rate", sample_rate, low=0.0, high=1.0, low_inclusive=False)
    check_int("steps", steps, min_value=1)
    check_float("delta", delta, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    if noise_multiplier == 0:
        return math.inf
    event = dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(sample_rate,
                                            dp_accounting.GaussianDpEvent(noise_multiplier)),
        steps)
    accountant = rdp.RdpAccountant()
    accountant.compose(event)
    return float(accountant.get_epsilon(delta))


@dataclass
class DPHistory:
    """One entry per step (loss of the sampled batch, its size) and the privacy spent."""

    loss: list[float] = field(default_factory=list)  # mean loss of the step's windows
    batch: list[int] = field(default_factory=list)  # how many windows Poisson sampling drew
    clipped: list[float] = field(default_factory=list)  # fraction of them that were clipped
    epsilon: float = math.nan  # at config.delta, after all the steps
    val_loss: float = math.nan  # held-out loss at the end (if val_data was given)


def train_dp(model: nn.Module, windows: tuple[Tensor, Tensor], config: DPConfig | None = None,
             val_data: Tensor | None = None,
             on_step: Callable[[int, nn.Module], None] | None = None) -> DPHistory:
    """Train ``model`` with DP-SGD on ``windows = (X, Y)`` (``(N, T)`` each, e.g. from
    :func:`lm_course.data.lm_windows`): Poisson sampling, per-example clipping, noise, Adam.

    The optimiser is the course's Adam (``lm_course.optim``) without weight decay; it only
    post-processes the privatised gradient, so it costs no privacy.
    """
    c = DPConfig() if config is None else config
    if not isinstance(c, DPConfig):
        raise TypeError(f"config must be a DPConfig, got {type(c).__name__}")
    if not isinstance(windows, tuple) or len(windows) != 2:
        raise TypeError("windows must be a tuple (X, Y) of (N, T) token tensors")
    X, Y = windows
    check_tensor("X", X, ndim=2, integer=True)
    check_tensor("Y", Y, ndim=2, integer=True)
    N = len(X)
    if c.batch_size > N:
        raise ValueError(f"batch_size={c.batch_size} is larger than the {N} training windows")
    q = c.batch_size / N
    device = module_device("model", model)
    gen = torch.Generator().manual_seed(c.seed)
    opt = make_optimizer(model, "adam", lr=c.lr)
    hist = DPHistory()
    model.train()
    for step in range(c.steps):
        chosen = torch.nonzero(torch.rand(N, generator=gen) < q).flatten()  # Poisson sample
        if len(chosen):
            x, y = X[chosen].to(device), Y[chosen].to(device)  # (b, T)
            grads = per_example_grads(model, x, y, c.method)
            norms = sum(g.flatten(1).pow(2).sum(1) for g in grads.values()).sqrt()  # (b,)
            hist.clipped.append((norms > c.clip_norm).float().mean().item())
            with torch.no_grad():
                _, loss = model(x, y)
            hist.loss.append(loss.item())
        else:  # nothing sampled: the step still adds noise, as the analysis assumes
            grads = {n: torch.zeros(0, *p.shape, device=device)
                     for n, p in model.named_parameters() if p.requires_grad}
            hist.clipped.append(math.nan)
            hist.loss.append(math.nan)
        hist.batch.append(len(chosen))
        noisy = noisy_mean(grads, c.clip_norm, c.noise_multiplier, gen, c.batch_size)
        for n, p in model.named_parameters():
            if n in noisy:
                p.grad = noisy[n]
        opt.step()
        opt.zero_grad(set_to_none=True)
        if on_step is not None:
            on_step(step + 1, model)
    hist.epsilon = epsilon(c.noise_multiplier, q, c.steps, c.delta)
    if val_data is not None:
        hist.val_loss = evaluate_loss(model, val_data, X.shape[1])
    return hist
