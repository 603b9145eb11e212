"""Looking inside a trained GPT: what its attention heads do, what its hidden states encode,
what each layer would predict, and which heads the model cannot do without.

Everything here reads the course's own :class:`lm_course.transformer.GPT` through what it
exposes (``need_weights`` keeps each block's attention weights) and through forward hooks
(the residual stream after every block, each head's output before the output projection);
the model is never copied or rewritten.

- **Head scores.** A *previous-token head* puts its weight on position t - 1. An *induction
  head* completes a repeat: on a random sequence shown twice, the query at position t of the
  second copy attends to the token *after* the earlier occurrence of its own token, position
  t - n + 1 for a copy of length n. Random tokens make the repeat the only usable clue.
- **Logit lens.** Decode the residual stream after each block with the final LayerNorm and
  the unembedding, as if the model stopped there.
- **Linear probe.** A logistic regression on frozen hidden states: if a property can be read
  off linearly, the states encode it (compare with a control before believing it).
- **Ablation.** Replace one head's output with zero or its mean and measure what breaks.

>>> attn = torch.zeros(1, 1, 1, 4, 4)  # (L, B, H, T, T): every query on its previous token
>>> attn[..., 0, 0] = 1.0
>>> attn[..., [1, 2, 3], [0, 1, 2]] = 1.0
>>> previous_token_scores(attn)
tensor([[1.]])
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from lm_course.transformer import GPT, check_token_ids
from lm_course.utils import check_choice, check_float, check_int, check_tensor

__all__ = ["attention_maps", "previous_token_scores", "repeated_random_tokens",
           "induction_scores", "residual_stream", "LogitLens", "logit_lens", "token_losses",
           "head_means", "ablate_heads", "ProbeResult", "fit_probe", "letters_since_boundary"]


def _check_model(model: object) -> GPT:
    if not isinstance(model, GPT):
        raise TypeError(f"model must be a lm_course.transformer.GPT, got {type(model).__name__}")
    return model


def _check_idx(model: GPT, idx: object) -> Tensor:
    check_token_ids("idx", idx, model.config.vocab_size)
    if idx.size(1) > model.config.block_size:
        raise ValueError(f"idx holds {idx.size(1)} tokens per row, more than the model's "
                         f"block_size={model.config.block_size}")
    return idx


# ----------------------------------------------------------------------------- attention heads


@torch.no_grad()
def attention_maps(model: GPT, idx: Tensor) -> Tensor:
    """Every head's attention probabilities on ``idx`` (B, T): a (L, B, H, T, T) tensor
    (query positions on the second-to-last axis, keys on the last), in eval mode."""
    model, idx = _check_model(model), _check_idx(model, idx)
    was_training = model.training
    model.eval()
    try:
        model(idx, need_weights=True)
        maps = [block.attn_weights for block in model.blocks]  # each (B, H, T, T)
    finally:
        model.train(was_training)
    return torch.stack(maps)  # (L, B, H, T, T)


def _check_attn(attn: object) -> Tensor:
    check_tensor("attn", attn, ndim=5, floating=True)
    if attn.size(-1) != attn.size(-2):
        raise ValueError(f"attn must be (L, B, H, T, T) self-attention maps, got shape "
                         f"{tuple(attn.shape)}")
    return attn


def previous_token_scores(attn: Tensor) -> Tensor:
    """(L, H): each head's mean attention from position t to t - 1, over t >= 1 and the batch.

    1.0 is a perfect previous-token head; a head spreading its weight evenly over the causal
    past scores about the harmonic mean 1/t, small for long sequences.
    """
    attn = _check_attn(attn)
    T = attn.size(-1)
    if T < 2:
        raise ValueError(f"attn needs at least 2 positions, got T={T}")
    t = torch.arange(1, T, device=attn.device)
    return attn[..., t, t - 1].mean(dim=(1, 3))  # (L, B, H, T-1) -> (L, H)


def repeated_random_tokens(n_seq: int, half_len: int, token_ids: int | Sequence[int],
                           seed: int = 0) -> Tensor:
    """(n_seq, 2 * half_len): random tokens, then the same tokens again.

    ``token_ids``: an int V (draw from 0..V-1) or the ids to draw from (e.g. only letters).
    Uses its own generator, so the global random state is untouched.

    >>> x = repeated_random_tokens(2, 5, 10, seed=1)
    >>> x.shape, bool((x[:, :5] == x[:, 5:]).all())
    (torch.Size([2, 10]), True)
    """
    check_int("n_seq", n_seq, min_value=1)
    check_int("half_len", half_len, min_value=2)
    check_int("seed", seed, min_value=0)
    if isinstance(token_ids, (int, np.integer)) and not isinstance(token_ids, bool):
        pool = torch.arange(check_int("token_ids", token_ids, min_value=2))
    elif isinstance(token_ids, (list, tuple, range, Tensor)):
        pool = torch.as_tensor(list(token_ids) if not isinstance(token_ids, Tensor)
                               else token_ids, dtype=torch.long).flatten()
        if pool.numel() < 2 or len(set(pool.tolist())) != pool.numel() or int(pool.min()) < 0:
            raise ValueError(f"token_ids must hold at least 2 distinct non-negative ids, got "
                             f"{pool.tolist()[:10]}")
    else:
        raise TypeError(f"token_ids must be an int or a sequence of ids, got "
                        f"{type(token_ids).__name__}")
    gen = torch.Generator().manual_seed(seed)
    half = pool[torch.randint(len(pool), (n_seq, half_len), generator=gen)]  # (N, n)
    return torch.cat([half, half], dim=1)  # (N, 2n)


def induction_scores(attn: Tensor, half_len: int) -> Tensor:
    """(L, H): mean attention from each query t of the second copy (t >= half_len) to
    t - half_len + 1, the token that followed this token's earlier occurrence.

    ``attn`` must come from sequences built by :func:`repeated_random_tokens` with the same
    ``half_len``. Scores near 1 mark an induction head; the first query of the second copy is
    included (it attends to position 1, which follows the first copy of its token).
    """
    attn = _check_attn(attn)
    check_int("half_len", half_len, min_value=2)
    if attn.size(-1) != 2 * half_len:
        raise ValueError(f"attn covers T={attn.size(-1)} positions; sequences made with "
                         f"half_len={half_len} have {2 * half_len}")
    t = torch.arange(half_len, 2 * half_len, device=attn.device)
    return attn[..., t, t - half_len + 1].mean(dim=(1, 3))  # (L, H)


# ----------------------------------------------------------------------------- residual stream


@torch.no_grad()
def _run_with_hooks(model: GPT, idx: Tensor, hooks: list) -> None:
    """One forward pass in eval mode with the given hooks attached; then the hooks are removed
    and the model's train/eval mode restored, whatever happens."""
    was_training = model.training
    model.eval()
    try:
        model(idx)
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()


def residual_stream(model: GPT, idx: Tensor) -> Tensor:
    """(L + 1, B, T, C): the residual stream after the embeddings (row 0) and after each of the
    L blocks, before the final LayerNorm; read with forward hooks, in eval mode."""
    model, idx = _check_model(model), _check_idx(model, idx)
    states: list[Tensor] = []
    hooks = [model.blocks[0].register_forward_pre_hook(lambda m, args: states.append(args[0]))]
    hooks += [b.register_forward_hook(lambda m, args, out: states.append(out))
              for b in model.blocks]
    _run_with_hooks(model, idx, hooks)
    return torch.stack(states)  # (L+1, B, T, C)


@dataclass(frozen=True)
class LogitLens:
    """Next-token loss (nats) and top-1 accuracy of decoding each layer's residual stream;
    index 0 = the embeddings alone, index L = the model's own output."""

    loss: list[float]
    accuracy: list[float]


@torch.no_grad()
def logit_lens(model: GPT, idx: Tensor, targets: Tensor) -> LogitLens:
    """Decode the residual stream after every block through ``ln_f`` and ``lm_head``.

    ``targets`` (B, T) are the next tokens (-100 = skip). The last entry equals the model's
    own loss, which the tests check.
    """
    states = residual_stream(model, idx)  # (L+1, B, T, C)
    check_token_ids("targets", targets, model.config.vocab_size, allow=-100)
    if targets.shape != idx.shape:
        raise ValueError(f"targets must have the shape of idx {tuple(idx.shape)}, got "
                         f"{tuple(targets.shape)}")
    keep = targets != -100  # (B, T)
    if not keep.any():
        raise ValueError("every target is -100: there is nothing to score")
    losses, accs = [], []
    with torch.no_grad():
        for h in states:
            logits = model.lm_head(model.ln_f(h))  # (B, T, V)
            losses.append(F.cross_entropy(logits[keep], targets[keep]).item())
            accs.append((logits[keep].argmax(-1) == targets[keep]).double().mean().item())
    return LogitLens(losses, accs)


@torch.no_grad()
def token_losses(model: GPT, idx: Tensor) -> Tensor:
    """(B, T - 1): the loss of predicting ``idx[:, t + 1]`` from ``idx[:, :t + 1]``, in eval
    mode, so that a behaviour can be scored on the positions where it applies."""
    model, idx = _check_model(model), _check_idx(model, idx)
    if idx.size(1) < 2:
        raise ValueError(f"idx needs at least 2 tokens per row, got {idx.size(1)}")
    was_training = model.training
    model.eval()
    try:
        logits, _ = model(idx)  # (B, T, V)
    finally:
        model.train(was_training)
    return F.cross_entropy(logits[:, :-1].transpose(1, 2), idx[:, 1:], reduction="none")


# ----------------------------------------------------------------------------- ablation


def _check_heads(model: GPT, heads: object) -> list[tuple[int, int]]:
    c = model.config
    if not isinstance(heads, (list, tuple)) or not heads:
        raise TypeError(f"heads must be a non-empty list of (layer, head) pairs, got {heads!r}")
    out = []
    for pair in heads:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise TypeError(f"heads must hold (layer, head) pairs, got {pair!r}")
        out.append((check_int("layer", pair[0], min_value=0, max_value=c.n_layer - 1),
                    check_int("head", pair[1], min_value=0, max_value=c.n_head - 1)))
    return out


@torch.no_grad()
def head_means(model: GPT, idx: Tensor) -> Tensor:
    """(L, H, D): each head's output (before the output projection) averaged over the batch and
    positions of ``idx``; what mean-ablation puts in its place."""
    model, idx = _check_model(model), _check_idx(model, idx)
    c = model.config
    seen: list[Tensor] = []
    hooks = [b.attn.out_proj.register_forward_pre_hook(
        lambda m, args: seen.append(args[0].mean(dim=(0, 1)))) for b in model.blocks]
    _run_with_hooks(model, idx, hooks)
    return torch.stack(seen).view(c.n_layer, c.n_head, c.n_embd // c.n_head)  # (L, H, D)


@contextmanager
def ablate_heads(model: GPT, heads: Sequence[tuple[int, int]], mode: str = "zero",
                 means: Tensor | None = None) -> Iterator[GPT]:
    """Inside the ``with`` block, the listed heads' outputs are replaced by zeros
    (``mode="zero"``) or by ``means`` from :func:`head_means` (``mode="mean"``).

    The heads' outputs are concatenated along the channels before the output projection,
    head h owning channels ``h*D:(h+1)*D``; a forward pre-hook on that projection overwrites
    them. The hooks are removed on exit, even after an error.
    """
    model = _check_model(model)
    pairs = _check_heads(model, heads)
    check_choice("mode", mode, ["zero", "mean"])
    c = model.config
    D = c.n_embd // c.n_head
    if mode == "mean":
        check_tensor("means", means, ndim=3, floating=True)
        if tuple(means.shape) != (c.n_layer, c.n_head, D):
            raise ValueError(f"means must have shape {(c.n_layer, c.n_head, D)} (from "
                             f"head_means), got {tuple(means.shape)}")
    elif means is not None:
        raise ValueError("means is only used with mode='mean'")
    by_layer: dict[int, list[int]] = {}
    for layer, head in pairs:
        by_layer.setdefault(layer, []).append(head)

    def make_hook(layer: int):
        def hook(module, args):
            x = args[0].clone()  # (B, T, C): the heads side by side
            for h in by_layer[layer]:
                x[..., h * D:(h + 1) * D] = 0.0 if mode == "zero" else means[layer, h]
            return (x, *args[1:])
        return hook

    hooks = [model.blocks[layer].attn.out_proj.register_forward_pre_hook(make_hook(layer))
             for layer in by_layer]
    try:
        yield model
    finally:
        for h in hooks:
            h.remove()


# ----------------------------------------------------------------------------- linear probes


@dataclass(frozen=True)
class ProbeResult:
    """Accuracy of a linear probe on its training and held-out rows, and of always guessing
    the most frequent training label on the held-out rows (the floor to beat)."""

    train_accuracy: float
    test_accuracy: float
    majority_accuracy: float


def fit_probe(features: Tensor, labels: Tensor, *, test_fraction: float = 0.25,
              shuffle_labels: bool = False, C: float = 1.0, seed: int = 0) -> ProbeResult:
    """Fit a multinomial logistic regression (scikit-learn) from ``features`` (N, C) to
    integer ``labels`` (N,) on a random split and score it on the held-out rows.

    ``shuffle_labels=True`` permutes the training labels first: the control that says how much
    a probe of this size can fit by memorising noise. Features are standardised with the
    training rows' statistics.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    check_tensor("features", features, ndim=2, floating=True)
    check_tensor("labels", labels, ndim=1, integer=True)
    if len(features) != len(labels):
        raise ValueError(f"features has {len(features)} rows but labels has {len(labels)}")
    check_float("test_fraction", test_fraction, low=0.0, high=1.0, low_inclusive=False,
                high_inclusive=False)
    check_float("C", C, low=0.0, low_inclusive=False)
    check_int("seed", seed, min_value=0)
    n_test = int(round(len(labels) * test_fraction))
    if n_test < 1 or len(labels) - n_test < 2:
        raise ValueError(f"{len(labels)} rows cannot be split with test_fraction="
                         f"{test_fraction}: need at least 2 training rows and 1 test row")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(labels))
    test, train = order[:n_test], order[n_test:]
    x, y = features.detach().double().cpu().numpy(), labels.cpu().numpy()
    y_train = rng.permutation(y[train]) if shuffle_labels else y[train]
    if len(set(y_train.tolist())) < 2:
        raise ValueError("the training rows hold a single label: a probe needs two classes")
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000))
    probe.fit(x[train], y_train)
    values, counts = np.unique(y_train, return_counts=True)
    majority = values[counts.argmax()]
    return ProbeResult(train_accuracy=float(probe.score(x[train], y_train)),
                       test_accuracy=float(probe.score(x[test], y[test])),
                       majority_accuracy=float((y[test] == majority).mean()))


def letters_since_boundary(text: str, cap: int = 4) -> list[int]:
    """For each character, how many letters precede it in the current word, capped at
    ``cap``; -1 for a character that is not a letter. A character model must count back
    through its context to know this: the character itself does not say it.

    >>> letters_since_boundary("To be, or", cap=2)
    [0, 1, -1, 0, 1, -1, -1, 0, 1]
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    check_int("cap", cap, min_value=1)
    out, run = [], 0
    for ch in text:
        if ch.isalpha():
            out.append(min(run, cap))
            run += 1
        else:
            out.append(-1)
            run = 0
    return out
