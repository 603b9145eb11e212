"""Federated learning with FedAvg (McMahan et al. 2017): the data stays with its owners.

Each round the server sends the global weights to every client; each client trains a copy
for a few steps on its own text (with the course's :class:`~lm_course.training.Trainer`)
and sends the weights back; the server averages them, weighted by how much data each
client holds:

    w_global = sum_k (n_k / n) * w_k

Only weights travel, never text -- but they travel every round, in both directions.

>>> a = {"w": torch.tensor([0.0, 2.0])}
>>> b = {"w": torch.tensor([4.0, 6.0])}
>>> fedavg([a, b], weights=[3, 1])["w"]  # three quarters of a, one quarter of b
tensor([1., 3.])
"""

from __future__ import annotations

import bisect
import copy
import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from lm_course.training import TrainConfig, Trainer, evaluate_loss
from lm_course.utils import (
    check_choice,
    check_float,
    check_int,
    check_tensor,
    count_parameters,
    module_device,
)

__all__ = ["FedConfig", "FedHistory", "fedavg", "client_train_config", "run_fedavg",
           "train_rounds", "split_iid", "bytes_per_round"]


@dataclass(frozen=True)
class FedConfig:
    """A FedAvg run: ``rounds`` x (every client trains ``local_steps``, the server averages)."""

    rounds: int = 20  # communication rounds
    local_steps: int = 20  # optimiser steps each client takes per round
    batch_size: int = 16  # windows per local step
    block_size: int = 64  # tokens per window
    lr: float = 3e-3  # constant learning rate of the local optimiser
    optimizer: str = "adamw"  # local optimiser; its state starts afresh every round
    eval_windows: int | None = None  # held-out windows per evaluation (None = all)
    seed: int = 0  # local batches of round r are drawn with seed + r

    def __post_init__(self) -> None:
        for name in ("rounds", "local_steps", "batch_size", "block_size"):
            check_int(name, getattr(self, name), min_value=1)
        check_float("lr", self.lr, low=0.0, low_inclusive=False)
        check_choice("optimizer", self.optimizer, ["adamw", "adam", "sgd"])
        if self.eval_windows is not None:
            check_int("eval_windows", self.eval_windows, min_value=1)
        check_int("seed", self.seed, min_value=0)


@dataclass
class FedHistory:
    """One entry per round: held-out loss of the global model, bytes sent so far."""

    round: list[int] = field(default_factory=list)  # 1-based
    val_loss: list[float] = field(default_factory=list)  # global model on the held-out text
    bytes_sent: list[int] = field(default_factory=list)  # cumulative, both directions


def fedavg(states: Sequence[dict[str, Tensor]], weights: Sequence[float]) -> dict[str, Tensor]:
    """The weighted average of state dicts (weights need not sum to 1: they are normalised).

    Floating-point entries are averaged (in float64, returned in their own dtype); other
    entries (integer counters) must agree across clients and are copied. Inputs are unchanged.
    """
    if not isinstance(states, Sequence) or not states:
        raise TypeError("states must be a non-empty list of state dicts")
    if len(weights) != len(states):
        raise ValueError(f"weights must have one entry per state, got {len(weights)} for "
                         f"{len(states)} states")
    w = [check_float(f"weights[{i}]", v, low=0.0) for i, v in enumerate(weights)]
    total = sum(w)
    if total <= 0:
        raise ValueError(f"weights must not all be 0, got {list(weights)}")
    keys = list(states[0])
    for i, s in enumerate(states):
        if not isinstance(s, dict):
            raise TypeError(f"states[{i}] must be a dict, got {type(s).__name__}")
        if list(s) != keys:
            raise ValueError(f"states[{i}] has different keys from states[0]")
    out: dict[str, Tensor] = {}
    for key in keys:
        ref = states[0][key]
        check_tensor(f"states[0][{key!r}]", ref)
        for i, s in enumerate(states):
            if s[key].shape != ref.shape:
                raise ValueError(f"states[{i}][{key!r}] has shape {tuple(s[key].shape)}, "
                                 f"states[0] has {tuple(ref.shape)}")
        if ref.is_floating_point():
            acc = sum(s[key].double() * (wk / total) for s, wk in zip(states, w, strict=True))
            out[key] = acc.to(ref.dtype)
        else:
            if any(not torch.equal(s[key], ref) for s in states):
                raise ValueError(f"non-float entry {key!r} differs between clients")
            out[key] = ref.clone()
    return out


def client_train_config(config: FedConfig, round_index: int) -> TrainConfig:
    """The :class:`TrainConfig` of one client's local training in round ``round_index``."""
    return TrainConfig(max_steps=config.local_steps, batch_size=config.batch_size,
                       block_size=config.block_size, optimizer=config.optimizer, lr=config.lr,
                       min_lr=config.lr, schedule="constant", warmup_steps=0, weight_decay=0.0,
                       eval_interval=0, eval_batches=1, eval_train=False, progress=False,
                       peak_flops=0, seed=config.seed + round_index)


def bytes_per_round(model: nn.Module, n_clients: int, bytes_per_value: int = 4) -> int:
    """Weights sent in one round: parameters x bytes x clients x 2 (down and up)."""
    check_int("n_clients", n_clients, min_value=1)
    check_int("bytes_per_value", bytes_per_value, min_value=1)
    return count_parameters(model) * bytes_per_value * n_clients * 2


def _held_out(model: nn.Module, val_data: Tensor, config: FedConfig) -> float:
    return evaluate_loss(model, val_data, config.block_size, max_windows=config.eval_windows)


def _check_data(name: str, data: Tensor, block_size: int) -> None:
    check_tensor(name, data, ndim=1, integer=True)
    if len(data) < block_size + 1:
        raise ValueError(f"{name} has {len(data)} tokens, fewer than block_size + 1 = "
                         f"{block_size + 1}")


def run_fedavg(model: nn.Module, clients: Sequence[Tensor], val_data: Tensor,
               config: FedConfig | None = None, weights: Sequence[float] | None = None
               ) -> FedHistory:
    """FedAvg: ``model`` holds the global weights (updated in place). ``clients`` are the
    clients' token tensors; their sizes weight the average unless ``weights`` are given."""
    c = FedConfig() if config is None else config
    if not isinstance(c, FedConfig):
        raise TypeError(f"config must be a FedConfig, got {type(c).__name__}")
    module_device("model", model)
    if not isinstance(clients, Sequence) or not clients:
        raise TypeError("clients must be a non-empty list of 1-D token tensors")
    for k, data in enumerate(clients):
        _check_data(f"clients[{k}]", data, c.block_size)
    _check_data("val_data", val_data, c.block_size)
    weights = [len(d) for d in clients] if weights is None else list(weights)
    hist = FedHistory()
    sent = 0
    for r in range(c.rounds):
        global_state = copy.deepcopy(model.state_dict())
        local_states = []
        for data in clients:
            model.load_state_dict(global_state)
            Trainer(model, data, None, client_train_config(c, r)).fit()
            local_states.append(copy.deepcopy(model.state_dict()))
        model.load_state_dict(fedavg(local_states, weights))
        sent += bytes_per_round(model, len(clients))
        hist.round.append(r + 1)
        hist.val_loss.append(_held_out(model, val_data, c))
        hist.bytes_sent.append(sent)
    return hist


def train_rounds(model: nn.Module, data: Tensor, val_data: Tensor, config: FedConfig | None = None,
                 batch_size: int | None = None) -> FedHistory:
    """The baselines on FedAvg's clock: one ordinary run on ``data`` (all clients' text =
    centralised, one client's = local-only), evaluated after every ``local_steps`` steps.
    Nothing is communicated (``bytes_sent`` stays 0)."""
    c = FedConfig() if config is None else config
    if not isinstance(c, FedConfig):
        raise TypeError(f"config must be a FedConfig, got {type(c).__name__}")
    _check_data("data", data, c.block_size)
    _check_data("val_data", val_data, c.block_size)
    b = c.batch_size if batch_size is None else check_int("batch_size", batch_size, min_value=1)
    base = client_train_config(c, 0)
    cfg = TrainConfig(**{**base.__dict__, "max_steps": c.rounds * c.local_steps,
                         "batch_size": b})
    trainer = Trainer(model, data, None, cfg)
    hist = FedHistory()
    for r in range(c.rounds):
        trainer.fit(until=(r + 1) * c.local_steps)
        hist.round.append(r + 1)
        hist.val_loss.append(_held_out(model, val_data, c))
        hist.bytes_sent.append(0)
    return hist


def split_iid(texts: Sequence[str], chunk_chars: int = 1000, seed: int = 0) -> list[str]:
    """The same text, dealt out IID: cut every text into ``chunk_chars`` chunks, shuffle them
    all together, and give client ``k`` chunks until it holds about ``len(texts[k])``
    characters -- the sizes of the non-IID split, the mixture of all its sources."""
    if not isinstance(texts, Sequence) or not texts or not all(isinstance(t, str) for t in texts):
        raise TypeError("texts must be a non-empty list of str")
    check_int("chunk_chars", chunk_chars, min_value=1)
    chunks = [t[i:i + chunk_chars] for t in texts for i in range(0, len(t), chunk_chars)]
    random.Random(seed).shuffle(chunks)
    ends = list(itertools.accumulate(len(x) for x in chunks))  # characters up to chunk i
    out, start, target = [], 0, 0
    for k, t in enumerate(texts):
        target += len(t)
        stop = (len(chunks) if k == len(texts) - 1
                else max(start + 1, bisect.bisect_right(ends, target)))
        out.append("".join(chunks[start:stop]))
        start = stop
    return out
