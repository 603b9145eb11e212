"""What training costs, and how the loss falls as the model and the data grow.

Training a Transformer costs about ``6 · N · D`` floating-point operations (FLOPs): ``N``
parameters, ``D`` training tokens, 2 FLOPs per multiply-add in the forward pass and twice
that again in the backward pass. Divide by what a machine *achieves* per second (not its
peak) and you have the training time. The loss, measured over many runs, falls as a power
law in ``N``, ``D`` and the compute ``C ≈ 6ND`` (Kaplan et al. 2020; Hoffmann et al. 2022):

    L(N, D) = E + A / N**alpha + B / D**beta

This module counts FLOPs and parameters, times a short run of the course's own training
loop, sweeps a few tiny model sizes and token budgets, and fits those power laws.

>>> f"{training_flops(175e9, 300e9):.3g}"  # GPT-3: 175B parameters on 300B tokens
'3.15e+23'
>>> law = fit_power_law([1.0, 10.0, 100.0], [8.0, 4.0, 2.0])
>>> round(law.exponent, 4), round(law.coefficient, 4)
(0.301, 8.0)
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares
from torch import Tensor

from lm_course.runtime import measure_matmul_flops
from lm_course.training import TrainConfig, Trainer
from lm_course.transformer import GPT, GPTConfig, parameter_counts
from lm_course.utils import check_float, check_int, check_tensor

__all__ = [
    "training_flops", "training_seconds", "format_duration", "gpt_parameter_count",
    "non_embedding_parameters", "ModelCard", "MODEL_CARDS", "RunCost", "measure_run",
    "SweepConfig", "SweepPoint", "scaling_sweep", "PowerLaw", "fit_power_law",
    "SaturatingPowerLaw", "fit_saturating_power_law", "LossSurface", "fit_loss_surface",
    "compute_optimal",
]


# ----------------------------------------------------------------------------- counting


def _positive(name: str, value: object) -> float:
    return check_float(name, value, low=0.0, low_inclusive=False)


def training_flops(n_params: float, n_tokens: float) -> float:
    """FLOPs to train ``n_params`` parameters on ``n_tokens`` tokens: ``6 · N · D``."""
    return 6.0 * _positive("n_params", n_params) * _positive("n_tokens", n_tokens)


def training_seconds(flops: float, flops_per_second: float) -> float:
    """Seconds to do ``flops`` at a sustained (achieved, not peak) ``flops_per_second``."""
    return _positive("flops", flops) / _positive("flops_per_second", flops_per_second)


def format_duration(seconds: float) -> str:
    """A duration in the largest unit that keeps it readable.

    >>> format_duration(90), format_duration(3 * 86400), format_duration(3.2e9)
    ('1.5 minutes', '3.0 days', '101.4 years')
    """
    s = check_float("seconds", seconds, low=0.0)
    for unit, size in (("years", 365.25 * 86400), ("days", 86400), ("hours", 3600),
                       ("minutes", 60)):
        if s >= size:
            return f"{s / size:.1f} {unit}"
    return f"{s:.1f} seconds"


def gpt_parameter_count(config: GPTConfig) -> int:
    """Parameters of ``GPT(config)`` counted on paper (no model is built, so 1.5B is free).

    Per block: two LayerNorms (``2C`` each with bias), attention ``4C² + 4C``, MLP
    ``8C² + 5C``; plus the token table ``VC``, learned positions ``TC``, the final LayerNorm,
    and an untied output head ``VC`` (+``V`` bias-free here, as in the course's GPT).
    """
    if not isinstance(config, GPTConfig):
        raise TypeError(f"config must be a GPTConfig, got {type(config).__name__}")
    c, L, V, T = config.n_embd, config.n_layer, config.vocab_size, config.block_size
    b = 1 if config.bias else 0
    norm = c + b * c
    block = 2 * norm + (4 * c * c + b * 4 * c) + (8 * c * c + b * 5 * c)
    total = L * block + V * c + norm
    if config.pos_encoding == "learned":
        total += T * c
    if not config.tie_weights:
        total += V * c
    return total


def non_embedding_parameters(model: GPT) -> int:
    """Parameters minus the token and position tables: the ``N`` of Kaplan et al. (2020)."""
    if not isinstance(model, GPT):
        raise TypeError(f"model must be a lm_course.transformer.GPT, got {type(model).__name__}")
    counts = parameter_counts(model)
    return counts["total"] - counts["token embedding"] - counts["position embedding"]


@dataclass(frozen=True)
class ModelCard:
    """A published model's size and training tokens, with where the numbers come from."""

    name: str
    n_params: float  # parameters
    n_tokens: float  # training tokens
    source: str  # the paper that states them

    @property
    def flops(self) -> float:
        return training_flops(self.n_params, self.n_tokens)


_GPT2 = "Radford et al. 2019 (sizes; counted with gpt_parameter_count, vocab 50257, context 1024)"
_CHINCHILLA_RULE = "; tokens: 20 per parameter, the compute-optimal rule of Hoffmann et al. 2022"
MODEL_CARDS: tuple[ModelCard, ...] = (
    ModelCard("GPT-2 small", 124_439_808, 20 * 124_439_808, _GPT2 + _CHINCHILLA_RULE),
    ModelCard("GPT-2 medium", 354_823_168, 20 * 354_823_168, _GPT2 + _CHINCHILLA_RULE),
    ModelCard("GPT-2 large", 774_030_080, 20 * 774_030_080, _GPT2 + _CHINCHILLA_RULE),
    ModelCard("GPT-2 XL", 1_557_611_200, 20 * 1_557_611_200, _GPT2 + _CHINCHILLA_RULE),
    ModelCard("GPT-3", 175e9, 300e9, "Brown et al. 2020, arXiv:2005.14165 (Table D.1)"),
    ModelCard("Chinchilla", 70e9, 1.4e12, "Hoffmann et al. 2022, arXiv:2203.15556"),
)


# ----------------------------------------------------------------------------- measuring


@dataclass(frozen=True)
class RunCost:
    """What one short training run did and what it cost on this machine."""

    n_params: int  # non-embedding parameters
    n_tokens: int  # tokens the optimiser saw
    seconds: float  # training time (evaluations excluded)
    flops_6nd: float  # 6 · N · D
    flops_counted: float  # the per-layer count of lm_course.transformer.flops_per_token
    peak_flops_per_second: float  # a square matmul on this machine

    @property
    def achieved_flops_per_second(self) -> float:
        return self.flops_counted / self.seconds

    @property
    def mfu(self) -> float:
        """Model FLOPs utilisation: achieved / peak."""
        return self.achieved_flops_per_second / self.peak_flops_per_second

    @property
    def predicted_seconds(self) -> float:
        """Time 6ND predicts at the machine's matmul peak (always an underestimate)."""
        return self.flops_6nd / self.peak_flops_per_second


def measure_run(model: GPT, train_data: Tensor, config: TrainConfig,
                peak_flops_per_second: float | None = None) -> RunCost:
    """Train ``model`` for ``config.max_steps`` steps with the course's loop and time it."""
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    n_params = non_embedding_parameters(model)
    peak = (measure_matmul_flops("cpu") if peak_flops_per_second is None
            else _positive("peak_flops_per_second", peak_flops_per_second))
    trainer = Trainer(model, train_data, None, config)
    trainer.fit()
    tokens = trainer.step * trainer.tokens_per_step
    return RunCost(n_params=n_params, n_tokens=tokens, seconds=trainer.train_seconds,
                   flops_6nd=training_flops(n_params, tokens),
                   flops_counted=trainer.flops_per_token * tokens,
                   peak_flops_per_second=peak)


@dataclass(frozen=True)
class SweepConfig:
    """A grid of tiny GPTs × token budgets, each run trained from scratch to its budget."""

    widths: tuple[int, ...] = (16, 32, 64, 96)  # n_embd of each model size
    n_layer: int = 2  # blocks in every model
    n_head: int = 2  # heads in every model
    token_budgets: tuple[int, ...] = (25_600, 51_200, 102_400)  # training tokens per run
    batch_size: int = 16  # windows per step
    block_size: int = 64  # tokens per window
    lr: float = 3e-3  # peak learning rate (cosine decay to lr / 10 over each run)
    eval_batches: int = 8  # validation batches for the final loss
    seed: int = 0  # model initialisation and batch order

    def __post_init__(self) -> None:
        for name in ("widths", "token_budgets"):
            values = getattr(self, name)
            if not isinstance(values, tuple) or not values:
                raise TypeError(f"{name} must be a non-empty tuple of ints, got {values!r}")
            for v in values:
                check_int(f"{name} entry", v, min_value=1)
        for name in ("n_layer", "n_head", "batch_size", "block_size", "eval_batches"):
            check_int(name, getattr(self, name), min_value=1)
        check_int("seed", self.seed, min_value=0)
        check_float("lr", self.lr, low=0.0, low_inclusive=False)
        bad = [w for w in self.widths if w % self.n_head]
        if bad:
            raise ValueError(f"widths {bad} are not divisible by n_head={self.n_head}")
        small = [d for d in self.token_budgets if d < self.batch_size * self.block_size]
        if small:
            raise ValueError(f"token_budgets {small} are below one step "
                             f"(batch_size * block_size = {self.batch_size * self.block_size})")


@dataclass(frozen=True)
class SweepPoint:
    """One run of the sweep."""

    n_embd: int
    n_params: int  # non-embedding parameters
    n_tokens: int  # tokens trained on
    val_loss: float  # held-out cross-entropy (nats per token) at the end
    seconds: float  # training time

    @property
    def flops(self) -> float:
        return training_flops(self.n_params, self.n_tokens)


def scaling_sweep(train_data: Tensor, val_data: Tensor, vocab_size: int,
                  config: SweepConfig = SweepConfig()) -> list[SweepPoint]:
    """Train every (width, budget) pair once; return the final held-out losses."""
    import torch

    check_tensor("train_data", train_data, ndim=1, integer=True)
    check_tensor("val_data", val_data, ndim=1, integer=True)
    check_int("vocab_size", vocab_size, min_value=2)
    if not isinstance(config, SweepConfig):
        raise TypeError(f"config must be a SweepConfig, got {type(config).__name__}")
    c = config
    points = []
    for width in c.widths:
        for budget in c.token_budgets:
            steps = budget // (c.batch_size * c.block_size)
            torch.manual_seed(c.seed)
            model = GPT(GPTConfig(vocab_size=vocab_size, block_size=c.block_size,
                                  n_layer=c.n_layer, n_head=c.n_head, n_embd=width))
            tc = TrainConfig(max_steps=steps, batch_size=c.batch_size, block_size=c.block_size,
                             lr=c.lr, min_lr=c.lr / 10, warmup_steps=max(1, steps // 10),
                             eval_interval=0, eval_batches=c.eval_batches, eval_train=False,
                             seed=c.seed, progress=False, peak_flops=0)
            trainer = Trainer(model, train_data, val_data, tc)
            start = time.perf_counter()
            history = trainer.fit()
            points.append(SweepPoint(n_embd=width, n_params=non_embedding_parameters(model),
                                     n_tokens=steps * c.batch_size * c.block_size,
                                     val_loss=history.val_loss[-1],
                                     seconds=time.perf_counter() - start))
    return points


# ----------------------------------------------------------------------------- fitting


def _xy(x: Sequence[float], y: Sequence[float], min_points: int) -> tuple[np.ndarray, np.ndarray]:
    xa = np.asarray(x, dtype=float)
    ya = np.asarray(y, dtype=float)
    if xa.ndim != 1 or ya.ndim != 1 or len(xa) != len(ya):
        raise ValueError(f"x and y must be 1-D of the same length, got shapes {xa.shape} "
                         f"and {ya.shape}")
    if len(xa) < min_points:
        raise ValueError(f"need at least {min_points} points, got {len(xa)}")
    if not (np.all(np.isfinite(xa)) and np.all(xa > 0)):
        raise ValueError(f"x must be finite and > 0, got {xa.tolist()}")
    if not (np.all(np.isfinite(ya)) and np.all(ya > 0)):
        raise ValueError(f"y must be finite and > 0, got {ya.tolist()}")
    return xa, ya


@dataclass(frozen=True)
class PowerLaw:
    """``y = coefficient · x ** (-exponent)``: a straight line of slope -exponent in log-log."""

    coefficient: float
    exponent: float
    r2: float  # of the straight-line fit in log space

    def __call__(self, x: float | np.ndarray) -> float | np.ndarray:
        return self.coefficient * np.asarray(x, dtype=float) ** (-self.exponent)


def fit_power_law(x: Sequence[float], y: Sequence[float]) -> PowerLaw:
    """Least squares of ``log y = log a - alpha · log x`` (no irreducible term)."""
    xa, ya = _xy(x, y, 2)
    lx, ly = np.log(xa), np.log(ya)
    slope, intercept = np.polyfit(lx, ly, 1)
    resid = ly - (intercept + slope * lx)
    total = float(np.sum((ly - ly.mean()) ** 2))
    r2 = 1.0 - float(np.sum(resid**2)) / total if total > 0 else 1.0
    return PowerLaw(coefficient=float(np.exp(intercept)), exponent=float(-slope), r2=r2)


@dataclass(frozen=True)
class SaturatingPowerLaw:
    """``y = floor + coefficient · x ** (-exponent)``: a power law above an irreducible loss."""

    floor: float
    coefficient: float
    exponent: float

    def __call__(self, x: float | np.ndarray) -> float | np.ndarray:
        return self.floor + self.coefficient * np.asarray(x, dtype=float) ** (-self.exponent)


def _scale(x: np.ndarray) -> float:
    """A reference value that brings x near 1, so the optimiser works on tame numbers."""
    return float(np.exp(np.mean(np.log(x))))


def fit_saturating_power_law(x: Sequence[float], y: Sequence[float]) -> SaturatingPowerLaw:
    """Nonlinear least squares for ``floor + a · x^-alpha`` (floor >= 0), several starts."""
    xa, ya = _xy(x, y, 4)
    s = _scale(xa)
    u = xa / s

    def resid(p: np.ndarray) -> np.ndarray:
        floor, log_a, alpha = p
        return floor + np.exp(log_a) * u ** (-alpha) - ya

    best = None
    for alpha0 in (0.1, 0.3, 0.7, 1.5):
        for frac in (0.0, 0.5, 0.9):
            floor0 = frac * ya.min()
            p0 = [floor0, math.log(max(ya.mean() - floor0, 1e-6)), alpha0]
            r = least_squares(resid, p0, bounds=([0.0, -50.0, 1e-4], [ya.min(), 50.0, 10.0]))
            if best is None or r.cost < best.cost:
                best = r
    floor, log_a, alpha = best.x
    # back to the caller's x: a · (x/s)^-alpha = (a · s^alpha) · x^-alpha
    return SaturatingPowerLaw(floor=float(floor), coefficient=float(np.exp(log_a) * s**alpha),
                              exponent=float(alpha))


@dataclass(frozen=True)
class LossSurface:
    """``L(N, D) = E + A / N**alpha + B / D**beta`` (the form of Hoffmann et al. 2022)."""

    E: float
    A: float
    alpha: float
    B: float
    beta: float

    def __call__(self, n: float | np.ndarray, d: float | np.ndarray) -> float | np.ndarray:
        n, d = np.asarray(n, dtype=float), np.asarray(d, dtype=float)
        return self.E + self.A * n ** (-self.alpha) + self.B * d ** (-self.beta)


def fit_loss_surface(n: Sequence[float], d: Sequence[float], loss: Sequence[float]
                     ) -> LossSurface:
    """Fit :class:`LossSurface` to runs of size ``n`` trained on ``d`` tokens."""
    na, la = _xy(n, loss, 5)
    da, _ = _xy(d, loss, 5)
    if len(np.unique(na)) < 2 or len(np.unique(da)) < 2:
        raise ValueError("need at least two distinct model sizes and two distinct token counts")
    sn, sd = _scale(na), _scale(da)
    un, ud = na / sn, da / sd

    def resid(p: np.ndarray) -> np.ndarray:
        e, log_a, alpha, log_b, beta = p
        return e + np.exp(log_a) * un ** (-alpha) + np.exp(log_b) * ud ** (-beta) - la

    best = None
    spread = max(la.max() - la.min(), 1e-3)
    for alpha0 in (0.2, 0.5, 1.0):
        for beta0 in (0.2, 0.5, 1.0):
            for frac in (0.0, 0.8):
                e0 = frac * la.min()
                p0 = [e0, math.log(spread), alpha0, math.log(spread), beta0]
                r = least_squares(resid, p0, bounds=([0.0, -50, 1e-4, -50, 1e-4],
                                                     [la.min(), 50, 5.0, 50, 5.0]))
                if best is None or r.cost < best.cost:
                    best = r
    e, log_a, alpha, log_b, beta = best.x
    return LossSurface(E=float(e), A=float(np.exp(log_a) * sn**alpha), alpha=float(alpha),
                       B=float(np.exp(log_b) * sd**beta), beta=float(beta))


def compute_optimal(surface: LossSurface, flops: float) -> tuple[float, float]:
    """The (N, D) with ``6ND = flops`` that minimises ``surface``, in closed form.

    Setting the derivative along ``D = C / 6N`` to zero gives
    ``N* = G · (C/6)^(beta/(alpha+beta))`` with ``G = (alpha·A / (beta·B))^(1/(alpha+beta))``.
    """
    if not isinstance(surface, LossSurface):
        raise TypeError(f"surface must be a LossSurface, got {type(surface).__name__}")
    c = _positive("flops", flops) / 6.0
    a, b = surface.alpha, surface.beta
    g = (a * surface.A / (b * surface.B)) ** (1.0 / (a + b))
    n_opt = g * c ** (b / (a + b))
    return n_opt, c / n_opt
