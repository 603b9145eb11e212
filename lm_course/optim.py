"""Optimisers written out, learning-rate schedules and gradient clipping.

Every optimiser here is a ``torch.optim.Optimizer`` subclass whose ``step`` spells out
its update rule in a few lines, and each one is tested to give the same parameters as
its PyTorch counterpart (``torch.optim.SGD``, ``Adam``, ``AdamW``) step for step.

The update rules (``g`` is the gradient, ``lr`` the learning rate, ``t`` the step count):

- SGD:            ``p <- p - lr * g``
- momentum:       ``b <- mu * b + g``;  ``p <- p - lr * b``
- Nesterov:       ``b <- mu * b + g``;  ``p <- p - lr * (g + mu * b)``
- Adam:           ``m <- b1 m + (1 - b1) g``;  ``v <- b2 v + (1 - b2) g^2``;
                  ``p <- p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)``
- AdamW:          Adam, plus ``p <- p - lr * wd * p`` applied to the weights directly
                  (decoupled), never added to the gradient.

Where PyTorch accepts a value that only ever hurts a learner, these classes refuse it
with a ``ValueError``: ``momentum >= 1`` (the velocity never forgets and blows up) and
``eps = 0`` (0/0 = NaN for a parameter with zero gradient). ``lr = 0`` stays allowed, as in
PyTorch: a schedule may start there, and the training loop itself (``TrainConfig``) needs
``lr > 0``.

>>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
>>> opt = SGD([w], lr=0.1)
>>> (w ** 2).sum().backward()
>>> opt.step()
>>> w.detach()
tensor([ 0.8000, -1.6000])
>>> round(warmup_cosine_lr(0, max_lr=1.0, min_lr=0.1, warmup_steps=10, total_steps=110), 3)
0.1
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from lm_course.utils import check_choice, check_float, check_int

__all__ = [
    "SGD", "Adam", "AdamW", "OPTIMIZERS", "make_optimizer", "weight_decay_groups",
    "warmup_cosine_lr", "constant_lr", "WarmupCosine", "ConstantLR", "make_scheduler",
    "global_grad_norm", "clip_grad_norm",
]


def _check_betas(betas: tuple[float, float]) -> tuple[float, float]:
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    b1 = check_float("betas[0]", betas[0], low=0.0, high=1.0, high_inclusive=False)
    b2 = check_float("betas[1]", betas[1], low=0.0, high=1.0, high_inclusive=False)
    return b1, b2


# ----------------------------------------------------------------------------- optimisers


class SGD(Optimizer):
    """Stochastic gradient descent, with optional (Nesterov) momentum and L2 weight decay.

    "Stochastic" because ``g`` is the gradient of a random mini-batch, not of the whole
    training set (that would be full-batch gradient descent). Same arguments and results
    as ``torch.optim.SGD``.
    """

    def __init__(self, params: Iterable, lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0,
                 nesterov: bool = False) -> None:
        check_float("lr", lr, low=0.0)
        # torch accepts momentum >= 1, but then old gradients never fade and the velocity
        # grows without bound: refused here (a learner's typo, not an experiment)
        check_float("momentum", momentum, low=0.0, high=1.0, high_inclusive=False)
        check_float("dampening", dampening, low=0.0, high=1.0)
        check_float("weight_decay", weight_decay, low=0.0)
        if nesterov and (momentum == 0 or dampening != 0):
            raise ValueError("nesterov=True needs momentum > 0 and dampening = 0, got "
                             f"momentum={momentum}, dampening={dampening}")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, mu, wd = group["lr"], group["momentum"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if wd != 0:
                    g = g.add(p, alpha=wd)  # L2 penalty: gradient of wd/2 * |p|^2
                if mu != 0:
                    state = self.state[p]
                    buf = state.get("momentum_buffer")
                    if buf is None:  # the first step starts the velocity at g
                        buf = state["momentum_buffer"] = g.clone()
                    else:
                        buf.mul_(mu).add_(g, alpha=1 - group["dampening"])
                    g = g.add(buf, alpha=mu) if group["nesterov"] else buf
                p.add_(g, alpha=-lr)
        return loss


class Adam(Optimizer):
    """Adam: momentum (first moment ``m``) times a per-parameter step size (second moment ``v``).

    Both moments start at zero, so early estimates are biased towards zero; dividing by
    ``1 - beta^t`` corrects that. ``weight_decay`` here is the classic L2 penalty added to
    the gradient (so it is rescaled by ``v`` like everything else); see :class:`AdamW`.
    Same arguments and results as ``torch.optim.Adam``.
    """

    decoupled = False

    def __init__(self, params: Iterable, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        check_float("lr", lr, low=0.0)
        # torch accepts eps=0, but a parameter whose gradient has been 0 then gets 0/0 = NaN:
        # refused here; eps exists precisely to keep that denominator away from zero
        check_float("eps", eps, low=0.0, low_inclusive=False)
        check_float("weight_decay", weight_decay, low=0.0)
        defaults = dict(lr=lr, betas=_check_betas(betas), eps=eps, weight_decay=weight_decay)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                state = self.state[p]
                if not state:
                    state["step"] = torch.tensor(0.0)
                    state["exp_avg"] = torch.zeros_like(p)  # m
                    state["exp_avg_sq"] = torch.zeros_like(p)  # v
                state["step"] += 1
                t = state["step"].item()
                if wd != 0:
                    if self.decoupled:
                        p.mul_(1 - lr * wd)  # AdamW: shrink the weights themselves
                    else:
                        g = g.add(p, alpha=wd)  # Adam: L2 term goes through the gradient
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m.lerp_(g, 1 - b1)  # m = b1 m + (1 - b1) g
                v.mul_(b2).addcmul_(g, g, value=1 - b2)  # v = b2 v + (1 - b2) g^2
                bias1, bias2 = 1 - b1**t, 1 - b2**t
                denom = (v.sqrt() / math.sqrt(bias2)).add_(eps)  # sqrt(v_hat) + eps
                p.addcdiv_(m, denom, value=-lr / bias1)  # p -= lr * m_hat / denom
        return loss


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): ``p <- p (1 - lr wd)`` each step.

    Decay applied to the weights is not rescaled by Adam's per-parameter step size, so
    every weight shrinks at the same relative rate. Same arguments, defaults and results
    as ``torch.optim.AdamW``.
    """

    decoupled = True

    def __init__(self, params: Iterable, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


OPTIMIZERS: dict[str, type[Optimizer]] = {"sgd": SGD, "adam": Adam, "adamw": AdamW}


def weight_decay_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Two parameter groups: matrices (decayed) and vectors such as biases and norms (not).

    Decaying a LayerNorm gain or a bias towards zero only hurts; decaying weight matrices
    and embeddings regularises. Tied parameters appear once.
    """
    check_float("weight_decay", weight_decay, low=0.0)
    seen: set[int] = set()
    decay, no_decay = [], []
    for p in model.parameters():
        if not p.requires_grad or id(p) in seen:
            continue
        seen.add(id(p))
        (decay if p.dim() >= 2 else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


def make_optimizer(model: torch.nn.Module, name: str = "adamw", lr: float = 1e-3,
                   weight_decay: float = 0.0, betas: tuple[float, float] = (0.9, 0.999),
                   momentum: float = 0.9, implementation: str = "course") -> Optimizer:
    """Build an optimiser by name (``"sgd"``, ``"adam"``, ``"adamw"``) for ``model``.

    Weight decay goes only to matrices (:func:`weight_decay_groups`). ``implementation``
    picks this module's written-out classes (``"course"``) or PyTorch's own (``"torch"``,
    with its fused kernel: one call updates every tensor, several times faster for small
    models; the same update up to rounding).
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    check_choice("name", name, OPTIMIZERS)
    check_choice("implementation", implementation, ["course", "torch"])
    check_float("lr", lr, low=0.0)
    check_float("weight_decay", weight_decay, low=0.0)
    check_float("momentum", momentum, low=0.0, high=1.0, high_inclusive=False)
    _check_betas(betas)
    groups = weight_decay_groups(model, weight_decay)
    if implementation == "course":
        cls, extra = OPTIMIZERS[name], {}
    else:
        cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[name]
        # one fused kernel for all tensors (CPU and CUDA, floating-point parameters)
        params = [p for g in groups for p in g["params"]]
        fusable = all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)
        extra = {"fused": True} if fusable else {}
    if name == "sgd":
        return cls(groups, lr=lr, momentum=momentum, **extra)
    return cls(groups, lr=lr, betas=tuple(betas), **extra)


# ----------------------------------------------------------------------------- schedules


def warmup_cosine_lr(step: int, *, max_lr: float, min_lr: float, warmup_steps: int,
                     total_steps: int) -> float:
    """Learning rate at ``step``: linear warm-up to ``max_lr``, then cosine decay to ``min_lr``.

    Warm-up: ``max_lr * (step + 1) / warmup_steps`` for ``step < warmup_steps`` (never zero,
    so the first update already moves). Then, with ``r = (step - warmup) / (total - warmup)``
    going from 0 to 1: ``min_lr + (max_lr - min_lr) * (1 + cos(pi r)) / 2``. After
    ``total_steps``: ``min_lr``.

    >>> [round(warmup_cosine_lr(s, max_lr=1.0, min_lr=0.0, warmup_steps=2, total_steps=6), 3)
    ...  for s in range(8)]
    [0.5, 1.0, 1.0, 0.854, 0.5, 0.146, 0.0, 0.0]
    """
    check_int("step", step, min_value=0)
    check_int("warmup_steps", warmup_steps, min_value=0)
    check_int("total_steps", total_steps, min_value=1)
    check_float("max_lr", max_lr, low=0.0)
    check_float("min_lr", min_lr, low=0.0, high=max_lr)
    if warmup_steps > total_steps:
        raise ValueError(f"warmup_steps must be <= total_steps = {total_steps}, "
                         f"got {warmup_steps}")
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    if step >= total_steps:
        return min_lr
    ratio = (step - warmup_steps) / (total_steps - warmup_steps)  # 0 -> 1
    return min_lr + (max_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * ratio))


def constant_lr(step: int, *, max_lr: float, warmup_steps: int = 0) -> float:
    """A constant learning rate, after an optional linear warm-up (same ramp as above).

    >>> [constant_lr(s, max_lr=1.0, warmup_steps=4) for s in range(6)]
    [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    """
    check_int("step", step, min_value=0)
    check_int("warmup_steps", warmup_steps, min_value=0)
    check_float("max_lr", max_lr, low=0.0)
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    return max_lr


class _FunctionLR(LRScheduler):
    """An ``LRScheduler`` whose learning rate is a pure function of the step count.

    The group's ``lr`` is overwritten at construction (step 0) and after every
    ``scheduler.step()``; ``state_dict`` holds the step, so resuming continues the curve.
    """

    def lr_at(self, step: int) -> float:  # pragma: no cover - overridden
        raise NotImplementedError

    def get_lr(self) -> list[float]:
        return [self.lr_at(max(self.last_epoch, 0)) for _ in self.optimizer.param_groups]


class WarmupCosine(_FunctionLR):
    """:func:`warmup_cosine_lr` as a PyTorch scheduler: call ``scheduler.step()`` after
    each ``optimizer.step()``."""

    def __init__(self, optimizer: Optimizer, *, max_lr: float, min_lr: float,
                 warmup_steps: int, total_steps: int) -> None:
        warmup_cosine_lr(0, max_lr=max_lr, min_lr=min_lr, warmup_steps=warmup_steps,
                         total_steps=total_steps)  # validates the arguments
        self.max_lr, self.min_lr = float(max_lr), float(min_lr)
        self.warmup_steps, self.total_steps = int(warmup_steps), int(total_steps)
        super().__init__(optimizer)

    def lr_at(self, step: int) -> float:
        return warmup_cosine_lr(step, max_lr=self.max_lr, min_lr=self.min_lr,
                                warmup_steps=self.warmup_steps, total_steps=self.total_steps)


class ConstantLR(_FunctionLR):
    """:func:`constant_lr` as a PyTorch scheduler."""

    def __init__(self, optimizer: Optimizer, *, max_lr: float, warmup_steps: int = 0) -> None:
        constant_lr(0, max_lr=max_lr, warmup_steps=warmup_steps)  # validates the arguments
        self.max_lr, self.warmup_steps = float(max_lr), int(warmup_steps)
        super().__init__(optimizer)

    def lr_at(self, step: int) -> float:
        return constant_lr(step, max_lr=self.max_lr, warmup_steps=self.warmup_steps)


def make_scheduler(optimizer: Optimizer, name: str, *, max_lr: float, min_lr: float = 0.0,
                   warmup_steps: int = 0, total_steps: int = 1) -> LRScheduler:
    """``"cosine"`` (warm-up + cosine decay) or ``"constant"`` (warm-up + flat)."""
    check_choice("name", name, ["cosine", "constant"])
    if name == "cosine":
        return WarmupCosine(optimizer, max_lr=max_lr, min_lr=min_lr,
                            warmup_steps=warmup_steps, total_steps=total_steps)
    return ConstantLR(optimizer, max_lr=max_lr, warmup_steps=warmup_steps)


# ----------------------------------------------------------------------------- clipping


def _grads(parameters: Iterable[torch.Tensor] | torch.Tensor) -> list[torch.Tensor]:
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def global_grad_norm(parameters: Iterable[torch.Tensor] | torch.Tensor) -> torch.Tensor:
    """The L2 norm of all gradients taken together, as if concatenated into one vector."""
    grads = _grads(parameters)
    if not grads:
        return torch.tensor(0.0)
    norms = torch.stack([g.detach().norm(2.0).to(grads[0].device) for g in grads])  # (P,)
    return norms.norm(2.0)


def clip_grad_norm(parameters: Iterable[torch.Tensor] | torch.Tensor,
                   max_norm: float) -> torch.Tensor:
    """Rescale all gradients together so their global norm is at most ``max_norm``.

    Keeps the direction of the update and bounds its length: one bad batch cannot throw
    the weights far away. Returns the norm *before* clipping (log it: spikes are a
    warning sign). Same result as ``torch.nn.utils.clip_grad_norm_``.

    >>> w = torch.nn.Parameter(torch.zeros(2)); w.grad = torch.tensor([3.0, 4.0])
    >>> clip_grad_norm([w], max_norm=1.0)
    tensor(5.)
    >>> w.grad
    tensor([0.6000, 0.8000])
    """
    check_float("max_norm", max_norm, low=0.0, low_inclusive=False)
    parameters = list(parameters) if not isinstance(parameters, torch.Tensor) else [parameters]
    total = global_grad_norm(parameters)
    scale = torch.clamp(max_norm / (total + 1e-6), max=1.0)  # never scales up
    for g in _grads(parameters):
        g.detach().mul_(scale.to(g.device))
    return total
