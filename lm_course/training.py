"""The training loop for language models: batches, accumulation, clipping, schedules,
evaluation, checkpoints that resume exactly, and data-parallel training with ``torchrun``.

Works with any ``nn.Module`` whose ``forward(idx, targets)`` returns ``(logits, loss)``,
such as :class:`lm_course.transformer.GPT`. One optimiser step sees ``batch_size``
windows of ``block_size`` tokens, however they are split: into ``grad_accum_steps``
micro-batches, and across the processes of a distributed run. The same config gives the
same loss curve on one process or on several (tested).

>>> model = TinyLM(vocab_size=5)
>>> data = torch.arange(200) % 5
>>> cfg = TrainConfig(max_steps=30, batch_size=4, block_size=8, lr=0.05, warmup_steps=0,
...                   eval_interval=0, progress=False)
>>> history = train(model, data, config=cfg)
>>> history.loss[-1] < history.loss[0]
True
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from lm_course.data import get_batch, lm_windows
from lm_course.metrics import perplexity
from lm_course.optim import clip_grad_norm, global_grad_norm, make_optimizer, make_scheduler
from lm_course.runtime import (
    CHECKPOINT_FORMAT,
    estimate_flops_per_token,
    get_rng_state,
    load_checkpoint,
    measure_matmul_flops,
    native_bf16,
    save_checkpoint,
    set_rng_state,
    world,
)
from lm_course.utils import check_choice, check_float, check_int, check_tensor, module_device

__all__ = ["TrainConfig", "History", "Trainer", "train", "evaluate_loss", "TinyLM", "RECIPES",
           "Recipe"]


# ----------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (the model has its own config)."""

    max_steps: int = 1000  # optimiser steps in the whole run
    batch_size: int = 32  # windows per optimiser step, over all micro-batches and processes
    block_size: int = 128  # tokens per window (at most the model's context)
    grad_accum_steps: int = 1  # micro-batches per step: same maths, less memory
    optimizer: str = "adamw"  # "adamw" | "adam" | "sgd"
    optimizer_impl: str = "course"  # "course" (lm_course.optim) | "torch" (torch.optim)
    lr: float = 1e-3  # peak learning rate
    min_lr: float = 1e-4  # end of the cosine decay
    schedule: str = "cosine"  # "cosine" (warm-up + cosine) | "constant" (warm-up + flat)
    warmup_steps: int = 100  # linear warm-up
    weight_decay: float = 0.1  # decoupled decay on weight matrices only
    beta1: float = 0.9  # Adam's first-moment decay
    beta2: float = 0.99  # Adam's second-moment decay
    momentum: float = 0.9  # SGD only
    grad_clip: float = 1.0  # max global gradient norm; 0 = no clipping
    dtype: str = "float32"  # "float32" | "bfloat16" (autocast of the forward pass)
    eval_interval: int = 100  # steps between evaluations; 0 = only at the end
    eval_batches: int = 20  # batches of batch_size windows per evaluation (fixed sample)
    eval_train: bool = True  # also measure the loss on a fixed sample of training windows
    log_interval: int = 10  # steps between progress-bar updates
    checkpoint_interval: int = 0  # steps between checkpoints (needs out_dir); 0 = at the end
    seed: int = 1337  # seeds the batch sampler (the model is seeded by whoever builds it)
    progress: bool = True  # show a progress bar (rank 0 only)
    peak_flops: float | None = None  # for MFU; None = measure a matmul once; 0 = skip MFU

    def __post_init__(self) -> None:
        for name in ("max_steps", "batch_size", "block_size", "grad_accum_steps"):
            check_int(name, getattr(self, name), min_value=1)
        for name in ("warmup_steps", "eval_interval", "checkpoint_interval", "seed"):
            check_int(name, getattr(self, name), min_value=0)
        check_int("eval_batches", self.eval_batches, min_value=1)
        check_int("log_interval", self.log_interval, min_value=1)
        check_choice("optimizer", self.optimizer, ["adamw", "adam", "sgd"])
        check_choice("optimizer_impl", self.optimizer_impl, ["course", "torch"])
        check_choice("schedule", self.schedule, ["cosine", "constant"])
        check_choice("dtype", self.dtype, ["float32", "bfloat16"])
        check_float("lr", self.lr, low=0.0, low_inclusive=False)
        check_float("min_lr", self.min_lr, low=0.0, high=self.lr)
        check_float("weight_decay", self.weight_decay, low=0.0)
        check_float("beta1", self.beta1, low=0.0, high=1.0, high_inclusive=False)
        check_float("beta2", self.beta2, low=0.0, high=1.0, high_inclusive=False)
        check_float("momentum", self.momentum, low=0.0, high=1.0, high_inclusive=False)
        check_float("grad_clip", self.grad_clip, low=0.0)
        if self.peak_flops is not None:
            check_float("peak_flops", self.peak_flops, low=0.0)
        if self.warmup_steps > self.max_steps:
            raise ValueError(f"warmup_steps must be <= max_steps = {self.max_steps}, "
                             f"got {self.warmup_steps}")
        if self.batch_size % self.grad_accum_steps:
            raise ValueError(f"batch_size={self.batch_size} must be divisible by "
                             f"grad_accum_steps={self.grad_accum_steps}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Rebuild from ``asdict(config)`` (as stored in a checkpoint); unknown keys are errors."""
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown TrainConfig fields: {sorted(unknown)}")
        return cls(**d)


@dataclass
class History:
    """What happened during training, for plots: one entry per step, one per evaluation."""

    step: list[int] = field(default_factory=list)  # optimiser step (1-based)
    loss: list[float] = field(default_factory=list)  # mean training loss of that step
    lr: list[float] = field(default_factory=list)  # learning rate used by that step
    grad_norm: list[float] = field(default_factory=list)  # global norm before clipping
    time: list[float] = field(default_factory=list)  # training seconds so far (no evals)
    eval_step: list[int] = field(default_factory=list)
    eval_time: list[float] = field(default_factory=list)  # training seconds at the evaluation
    val_loss: list[float] = field(default_factory=list)
    val_ppl: list[float] = field(default_factory=list)
    train_eval_loss: list[float] = field(default_factory=list)
    tokens_per_sec: list[float] = field(default_factory=list)  # at each evaluation
    mfu: list[float] = field(default_factory=list)  # at each evaluation (nan if unknown)

    def to_dict(self) -> dict[str, list]:
        return {k: list(v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, list]) -> History:
        return cls(**{k: list(v) for k, v in d.items() if k in {f.name for f in fields(cls)}})


# ----------------------------------------------------------------------------- a tiny model


class TinyLM(nn.Module):
    """The smallest model the loop accepts: embedding -> one hidden layer -> logits.

    It sees one token (a bigram model with a hidden layer). Used by the tests and doctests
    so that the loop is checked without any Transformer.
    """

    def __init__(self, vocab_size: int, n_embd: int = 16, dropout: float = 0.0) -> None:
        super().__init__()
        self.emb = nn.Embedding(check_int("vocab_size", vocab_size, min_value=1), n_embd)
        self.hidden = nn.Linear(n_embd, n_embd)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(n_embd, vocab_size)

    def forward(self, idx: Tensor, targets: Tensor | None = None
                ) -> tuple[Tensor, Tensor | None]:
        h = self.drop(torch.tanh(self.hidden(self.emb(idx))))  # (B, T, C)
        logits = self.head(h)  # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100)
        return logits, loss


# ----------------------------------------------------------------------------- evaluation


@torch.no_grad()
def evaluate_loss(model: nn.Module, data: Tensor, block_size: int, batch_size: int = 64,
                  max_windows: int | None = None, dtype: str = "float32") -> float:
    """Mean next-token loss over non-overlapping ``block_size`` windows of ``data``.

    The honest held-out number: every token of ``data`` (up to ``max_windows`` windows) is
    predicted once, not a random sample. ``exp`` of it is the perplexity.
    """
    check_tensor("data", data, ndim=1, integer=True)
    check_int("block_size", block_size, min_value=1)
    check_int("batch_size", batch_size, min_value=1)
    x_all, y_all = lm_windows(data, block_size)  # (N, T), (N, T)
    if max_windows is not None:
        x_all, y_all = x_all[:check_int("max_windows", max_windows, min_value=1)], \
            y_all[:max_windows]
    device = module_device("model", model)
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(x_all), batch_size):
        x, y = x_all[i:i + batch_size].to(device), y_all[i:i + batch_size].to(device)
        with _autocast(device, dtype):
            _, loss = model(x, y)
        total += loss.item() * y.numel()
        count += y.numel()
    model.train(was_training)
    return total / count


def _autocast(device: torch.device, dtype: str):
    if dtype == "bfloat16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return nullcontext()


# ----------------------------------------------------------------------------- the trainer


def _windows(data: Tensor, targets: Tensor | None, n: int, block_size: int,
             generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """``n`` random windows of ``data`` (``get_batch``); with ``targets``, the targets come
    from that stream at the same places (the sampler is replayed from the same state)."""
    if targets is None:
        return get_batch(data, n, block_size, generator=generator)
    state = generator.get_state()
    x, _ = get_batch(data, n, block_size, generator=generator)
    after = generator.get_state()
    generator.set_state(state)
    _, y = get_batch(targets, n, block_size, generator=generator)  # (n, T) may hold -100
    generator.set_state(after)
    return x, y


class Trainer:
    """Trains ``model`` on a 1-D tensor of token ids; see :class:`TrainConfig`.

    ``train_targets`` / ``val_targets`` (optional, 1-D, the length of their data) say what
    to predict at each position instead of the data itself; ``-100`` there drops the
    position from the loss. Fine-tuning a chat model on its assistant's turns only passes
    the token stream with its user tokens set to ``-100``
    (:func:`lm_course.apps.dialogue.chat_stream`).

    ``fit()`` runs to ``config.max_steps`` (or to ``until``), ``evaluate()`` measures the
    held-out loss, ``save(path)``/``load(path)`` checkpoint everything needed to continue
    exactly: weights, optimiser moments, schedule position, step, history and every random
    generator. Under ``torchrun`` the model is wrapped in ``DistributedDataParallel``; rank 0
    shows progress and writes checkpoints. ``on_eval(trainer, metrics)`` is called after each
    evaluation (to print a sample, for instance).
    """

    def __init__(self, model: nn.Module, train_data: Tensor, val_data: Tensor | None = None,
                 config: TrainConfig | None = None, *, out_dir: str | os.PathLike | None = None,
                 on_eval: Callable[[Trainer, dict[str, float]], None] | None = None,
                 extra: dict[str, Any] | None = None, train_targets: Tensor | None = None,
                 val_targets: Tensor | None = None) -> None:
        module_device("model", model)  # a module with parameters, or a clear error
        self.config = c = TrainConfig() if config is None else config
        if not isinstance(c, TrainConfig):
            raise TypeError(f"config must be a TrainConfig, got {type(c).__name__}")
        check_tensor("train_data", train_data, ndim=1, integer=True)
        if len(train_data) < c.block_size + 1:
            raise ValueError(f"train_data has {len(train_data)} tokens, fewer than "
                             f"block_size + 1 = {c.block_size + 1}")
        if val_data is not None:
            check_tensor("val_data", val_data, ndim=1, integer=True)
            if len(val_data) < c.block_size + 1:
                raise ValueError(f"val_data has {len(val_data)} tokens, fewer than "
                                 f"block_size + 1 = {c.block_size + 1}")
        for name, targets, data in (("train_targets", train_targets, train_data),
                                    ("val_targets", val_targets, val_data)):
            if targets is None:
                continue
            if data is None:
                raise ValueError(f"{name} needs the data it belongs to; got no val_data")
            check_tensor(name, targets, ndim=1, integer=True)
            if targets.shape != data.shape:
                raise ValueError(f"{name} must have the shape of its data {tuple(data.shape)}, "
                                 f"got {tuple(targets.shape)}")
            if not bool((targets != -100).any()):
                raise ValueError(f"{name} is -100 everywhere: no position is left to learn "
                                 f"from or to measure")
        model_block = getattr(getattr(model, "config", None), "block_size", None)
        if model_block is not None and c.block_size > model_block:
            raise ValueError(f"block_size={c.block_size} is longer than the model's context "
                             f"({model_block})")
        self.rank, self.world_size = world()
        per_step = c.batch_size // c.grad_accum_steps
        if per_step % self.world_size:
            raise ValueError(f"batch_size / grad_accum_steps = {per_step} windows per micro-step "
                             f"must be divisible by the number of processes ({self.world_size})")
        self.micro_batch = per_step // self.world_size
        self.device = module_device("model", model)
        self.model = model  # the plain model: what checkpoints and generation use
        self.ddp_model: nn.Module = model
        if self.world_size > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.ddp_model = nn.parallel.DistributedDataParallel(model, device_ids=ids)
        self.train_data, self.val_data = train_data, val_data
        self.train_targets, self.val_targets = train_targets, val_targets
        self.out_dir = None if out_dir is None else Path(out_dir)
        self.on_eval = on_eval
        self.extra = dict(extra or {})
        self.optimizer = make_optimizer(model, c.optimizer, lr=c.lr, weight_decay=c.weight_decay,
                                        betas=(c.beta1, c.beta2), momentum=c.momentum,
                                        implementation=c.optimizer_impl)
        self.scheduler = make_scheduler(self.optimizer, c.schedule, max_lr=c.lr, min_lr=c.min_lr,
                                        warmup_steps=c.warmup_steps, total_steps=c.max_steps)
        self.generator = torch.Generator().manual_seed(c.seed)  # the same on every rank
        self.step = 0
        self.history = History()
        self.train_seconds = 0.0
        self.flops_per_token = estimate_flops_per_token(model, c.block_size)
        self._peak: float | None = c.peak_flops if c.peak_flops else None
        eval_gen = torch.Generator().manual_seed(c.seed + 1)  # a fixed evaluation sample
        n_eval = c.eval_batches * c.batch_size
        self._val_windows = (None if val_data is None else
                             _windows(val_data, val_targets, n_eval, c.block_size, eval_gen))
        self._train_windows = (_windows(train_data, train_targets, n_eval, c.block_size,
                                        eval_gen) if c.eval_train else None)

    # -------------------------------------------------------------- one step

    @property
    def tokens_per_step(self) -> int:
        return self.config.batch_size * self.config.block_size

    def _batch(self) -> tuple[Tensor, Tensor]:
        """This step's global batch (identical on every rank), (batch_size, block_size)."""
        return _windows(self.train_data, self.train_targets, self.config.batch_size,
                        self.config.block_size, self.generator)

    def train_step(self) -> dict[str, float]:
        """One optimiser step over ``batch_size`` windows; returns loss, lr and grad norm."""
        c = self.config
        x_all, y_all = self._batch()
        self.model.train()
        lr = self.optimizer.param_groups[0]["lr"]
        total = torch.zeros((), dtype=torch.float64)
        for micro in range(c.grad_accum_steps):
            # rows of this (micro-step, rank) pair: the global batch cut into equal slices
            start = (micro * self.world_size + self.rank) * self.micro_batch
            x = x_all[start:start + self.micro_batch].to(self.device)  # (b, T)
            y = y_all[start:start + self.micro_batch].to(self.device)  # (b, T)
            if self.train_targets is not None and not bool((y != -100).any()):
                raise ValueError(f"step {self.step + 1}: every target of a micro-batch is -100 "
                                 f"(nothing to learn from); use longer windows (block_size) "
                                 f"or more windows per micro-batch")
            last = micro == c.grad_accum_steps - 1
            sync = nullcontext() if last or self.world_size == 1 else self.ddp_model.no_sync()
            with sync:
                with _autocast(self.device, c.dtype):
                    _, loss = self.ddp_model(x, y)
                if loss is None:
                    raise ValueError("the model returned no loss: forward(idx, targets) must "
                                     "return (logits, loss)")
                if not torch.isfinite(loss):
                    raise FloatingPointError(
                        f"training loss became {loss.item()} at step {self.step + 1} "
                        f"(lr={lr:.3g}); stopping. Lower the learning rate, keep gradient "
                        f"clipping on (grad_clip > 0), or train in float32.")
                (loss / c.grad_accum_steps).backward()  # gradients add up over micro-steps
            total += loss.detach().double()
        mean_loss = total / c.grad_accum_steps
        if self.world_size > 1:  # report the loss of the whole global batch
            dist.all_reduce(mean_loss)
            mean_loss /= self.world_size
        params = [p for p in self.model.parameters() if p.grad is not None]
        norm = (clip_grad_norm(params, c.grad_clip) if c.grad_clip > 0
                else global_grad_norm(params))
        if not torch.isfinite(norm):
            raise FloatingPointError(
                f"gradient norm became {norm.item()} at step {self.step + 1} (lr={lr:.3g}); "
                f"stopping before the weights are ruined. Lower the learning rate.")
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        self.step += 1
        return {"loss": mean_loss.item(), "lr": lr, "grad_norm": norm.item()}

    # -------------------------------------------------------------- evaluation

    @torch.no_grad()
    def _windows_loss(self, windows: tuple[Tensor, Tensor]) -> float:
        x_all, y_all = windows
        n = len(x_all)
        lo, hi = n * self.rank // self.world_size, n * (self.rank + 1) // self.world_size
        sums = torch.zeros(2, dtype=torch.float64)  # loss * tokens, tokens
        self.model.eval()
        for i in range(lo, hi, self.config.batch_size):
            j = min(i + self.config.batch_size, hi)
            x, y = x_all[i:j].to(self.device), y_all[i:j].to(self.device)
            counted = int((y != -100).sum())  # positions the loss averages over
            if counted == 0:
                continue
            with _autocast(self.device, self.config.dtype):
                _, loss = self.model(x, y)
            sums += torch.tensor([loss.item() * counted, counted], dtype=torch.float64)
        self.model.train()
        if self.world_size > 1:
            dist.all_reduce(sums)
        return (sums[0] / sums[1]).item()

    def evaluate(self) -> dict[str, float]:
        """Loss and perplexity on the fixed validation sample (and training sample)."""
        out: dict[str, float] = {}
        if self._val_windows is not None:
            out["val_loss"] = self._windows_loss(self._val_windows)
            out["val_ppl"] = perplexity(out["val_loss"])
        if self._train_windows is not None:
            out["train_loss"] = self._windows_loss(self._train_windows)
        return out

    def _record_eval(self, tokens_per_sec: float) -> dict[str, float]:
        metrics = self.evaluate()
        h = self.history
        h.eval_step.append(self.step)
        h.eval_time.append(self.train_seconds)
        h.val_loss.append(metrics.get("val_loss", math.nan))
        h.val_ppl.append(metrics.get("val_ppl", math.nan))
        h.train_eval_loss.append(metrics.get("train_loss", math.nan))
        h.tokens_per_sec.append(tokens_per_sec)
        h.mfu.append(self.mfu(tokens_per_sec))
        metrics.update(step=self.step, tokens_per_sec=tokens_per_sec, mfu=h.mfu[-1])
        return metrics

    def mfu(self, tokens_per_sec: float) -> float:
        """Model FLOPs utilisation: training FLOP/s achieved / peak FLOP/s (nan if unknown)."""
        if self.config.peak_flops == 0 or not tokens_per_sec or math.isnan(tokens_per_sec):
            return math.nan
        if self._peak is None:
            self._peak = measure_matmul_flops(self.device, self.config.dtype)
        return self.flops_per_token * tokens_per_sec / self._peak

    # -------------------------------------------------------------- the loop

    def fit(self, until: int | None = None, max_seconds: float | None = None) -> History:
        """Train from the current step to ``until`` (default ``max_steps``); return the history.

        ``max_seconds`` stops earlier once that much training time (evaluations excluded)
        has passed. Evaluates every ``eval_interval`` steps and at the end; checkpoints to
        ``out_dir/ckpt.pt`` every ``checkpoint_interval`` steps and at the end.
        """
        c = self.config
        until = c.max_steps if until is None else check_int("until", until, min_value=0,
                                                            max_value=c.max_steps)
        if max_seconds is not None:
            check_float("max_seconds", max_seconds, low=0.0, low_inclusive=False)
        show = c.progress and self.rank == 0
        bar = tqdm(total=until, initial=self.step, disable=not show, unit="step",
                   dynamic_ncols=True, desc="train")
        log_tokens, log_time = 0, 0.0  # since the last progress update
        eval_tokens, eval_time = 0, 0.0  # since the last evaluation
        start_seconds = self.train_seconds
        try:
            while self.step < until:
                t0 = time.perf_counter()
                stats = self.train_step()
                dt = time.perf_counter() - t0
                self.train_seconds += dt
                log_tokens += self.tokens_per_step
                log_time += dt
                eval_tokens += self.tokens_per_step
                eval_time += dt
                h = self.history
                h.step.append(self.step)
                h.loss.append(stats["loss"])
                h.lr.append(stats["lr"])
                h.grad_norm.append(stats["grad_norm"])
                h.time.append(self.train_seconds)
                bar.update(1)
                if self.step % c.log_interval == 0 or self.step == until:
                    bar.set_postfix(loss=f"{stats['loss']:.3f}", lr=f"{stats['lr']:.2e}",
                                    tok_s=f"{log_tokens / log_time:,.0f}")
                    log_tokens, log_time = 0, 0.0
                out_of_time = (max_seconds is not None
                               and self.train_seconds - start_seconds >= max_seconds)
                done = self.step == until or out_of_time
                if (c.eval_interval and self.step % c.eval_interval == 0) or done:
                    metrics = self._record_eval(eval_tokens / eval_time)
                    eval_tokens, eval_time = 0, 0.0
                    if show and "val_loss" in metrics:
                        bar.write(f"step {self.step}: val loss {metrics['val_loss']:.4f} "
                                  f"(ppl {metrics['val_ppl']:.2f}), "
                                  f"{metrics['tokens_per_sec']:,.0f} tok/s, "
                                  f"MFU {100 * metrics['mfu']:.1f}%")
                    if self.on_eval is not None:
                        self.on_eval(self, metrics)
                if self.out_dir is not None and (
                        (c.checkpoint_interval and self.step % c.checkpoint_interval == 0)
                        or done):
                    self.save(self.out_dir / "ckpt.pt")
                if out_of_time:
                    break
        finally:
            bar.close()
        return self.history

    # -------------------------------------------------------------- checkpoints

    def state_dict(self) -> dict[str, Any]:
        """Everything :meth:`load_state_dict` needs to continue this run exactly."""
        model_config = getattr(self.model, "config", None)
        return {
            "format": CHECKPOINT_FORMAT,
            "step": self.step,
            "train_seconds": self.train_seconds,
            "model": self.model.state_dict(),
            "model_config": asdict(model_config) if model_config is not None and
            hasattr(model_config, "__dataclass_fields__") else None,
            "train_config": asdict(self.config),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "batch_rng": self.generator.get_state(),
            "rng": get_rng_state(),
            "history": self.history.to_dict(),
            "extra": self.extra,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.generator.set_state(state["batch_rng"])
        set_rng_state(state["rng"])
        self.step = int(state["step"])
        self.train_seconds = float(state.get("train_seconds", 0.0))
        self.history = History.from_dict(state["history"])
        self.extra.update(state.get("extra") or {})

    def save(self, path: str | os.PathLike) -> Path | None:
        """Write a checkpoint atomically (rank 0 writes; the others wait for it)."""
        written = save_checkpoint(path, self.state_dict()) if self.rank == 0 else None
        if self.world_size > 1:
            dist.barrier()
        return written

    def load(self, path: str | os.PathLike) -> Trainer:
        """Restore a checkpoint written by :meth:`save`; training continues where it stopped."""
        state = load_checkpoint(path, map_location=self.device)
        saved = TrainConfig.from_dict(state["train_config"])
        if saved != self.config:
            changed = [f.name for f in fields(TrainConfig)
                       if getattr(saved, f.name) != getattr(self.config, f.name)]
            if any(name not in {"progress", "eval_interval", "log_interval",
                                "checkpoint_interval"} for name in changed):
                raise ValueError(f"checkpoint {path} was trained with a different config "
                                 f"(fields {changed}); resume with the same TrainConfig")
        self.load_state_dict(state)
        return self


def train(model: nn.Module, train_data: Tensor, val_data: Tensor | None = None,
          config: TrainConfig | None = None, *, out_dir: str | os.PathLike | None = None,
          resume: bool = False, **kwargs: Any) -> History:
    """Build a :class:`Trainer`, optionally resume from ``out_dir/ckpt.pt``, and fit."""
    trainer = Trainer(model, train_data, val_data, config, out_dir=out_dir, **kwargs)
    if resume:
        if out_dir is None:
            raise ValueError("resume=True needs out_dir (where ckpt.pt lives)")
        ckpt = Path(out_dir) / "ckpt.pt"
        if ckpt.is_file():
            trainer.load(ckpt)
    return trainer.fit()


# ----------------------------------------------------------------------------- named recipes


@dataclass(frozen=True)
class Recipe:
    """A named model shape + training config; the vocabulary size comes from the data."""

    description: str
    model: dict[str, Any]  # GPTConfig fields except vocab_size
    train: TrainConfig


_BF16 = native_bf16()

RECIPES: dict[str, Recipe] = {
    "tiny": Recipe(
        "a few seconds: checks that everything runs (tests, smoke runs)",
        dict(block_size=32, n_layer=1, n_head=2, n_embd=32),
        TrainConfig(max_steps=50, batch_size=8, block_size=32, lr=3e-3, min_lr=3e-4,
                    warmup_steps=5, eval_interval=25, eval_batches=2, log_interval=5)),
    # Tuned on a 2-core x86 CPU against nanoGPT's CPU recipe (benchmarks/bench_capstone.py):
    # many small batches of short windows with a high learning rate learn the most per
    # second (per token, 24 x 32 beat 12 x 64, 24 x 64 and 48 x 32); with native bfloat16 the
    # written-out attention beats the fused kernel, whose bfloat16 backward is slow on CPUs.
    "char-cpu": Recipe(
        "the capstone: a character-level GPT tuned for a 2-core CPU (about 2 minutes)",
        dict(block_size=32, n_layer=4, n_head=4, n_embd=128, fused_attention=not _BF16),
        TrainConfig(max_steps=3000, batch_size=24, block_size=32, lr=6e-3, min_lr=1e-4,
                    warmup_steps=50, beta2=0.99, weight_decay=0.1, optimizer_impl="torch",
                    eval_interval=250, eval_batches=8, eval_train=False,
                    dtype="bfloat16" if _BF16 else "float32")),
    "char-medium": Recipe(
        "a bigger character-level GPT for a longer run (tens of minutes on a CPU)",
        dict(block_size=128, n_layer=6, n_head=6, n_embd=192, dropout=0.1),
        TrainConfig(max_steps=5000, batch_size=32, block_size=128, lr=1e-3, min_lr=1e-4,
                    warmup_steps=100, eval_interval=500, eval_batches=10,
                    dtype="bfloat16" if _BF16 else "float32")),
}
