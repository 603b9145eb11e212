"""The written-out optimisers, schedules and clipping equal PyTorch's, number for number."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from lm_course.optim import (
    SGD,
    Adam,
    AdamW,
    ConstantLR,
    WarmupCosine,
    clip_grad_norm,
    constant_lr,
    global_grad_norm,
    make_optimizer,
    make_scheduler,
    warmup_cosine_lr,
    weight_decay_groups,
)


def small_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.LayerNorm(16),
                         nn.Linear(16, 3)).double()


def run(model: nn.Module, opt: torch.optim.Optimizer, steps: int = 200) -> list[float]:
    """Train ``model`` on a fixed stream of random regression batches; return the losses."""
    gen = torch.Generator().manual_seed(123)
    losses = []
    for _ in range(steps):
        x = torch.randn(8, 6, generator=gen, dtype=torch.float64)
        y = torch.randn(8, 3, generator=gen, dtype=torch.float64)
        loss = ((model(x) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


CASES = [
    (SGD, torch.optim.SGD, dict(lr=0.05)),
    (SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9)),
    (SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    (SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    (Adam, torch.optim.Adam, dict(lr=1e-2)),
    (Adam, torch.optim.Adam, dict(lr=1e-2, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1)),
    (AdamW, torch.optim.AdamW, dict(lr=1e-2)),
    (AdamW, torch.optim.AdamW, dict(lr=1e-2, betas=(0.9, 0.99), weight_decay=0.3)),
]


@pytest.mark.parametrize("ours, theirs, kwargs", CASES,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(CASES)])
def test_optimizer_equals_pytorch_for_200_steps(ours, theirs, kwargs):
    a, b = small_model(), small_model()
    losses_a = run(a, ours(a.parameters(), **kwargs))
    losses_b = run(b, theirs(b.parameters(), foreach=False, **kwargs))
    assert losses_a[-1] < losses_a[0]  # it trained
    # Same operations in the same order as PyTorch's single-tensor kernels: bit-for-bit equal.
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb), (pa - pb).abs().max()
    assert losses_a == losses_b
    # PyTorch's default (multi-tensor) kernels differ only in rounding.
    c = small_model()
    run(c, theirs(c.parameters(), **kwargs))
    for pa, pc in zip(a.parameters(), c.parameters(), strict=True):
        torch.testing.assert_close(pa, pc, rtol=1e-10, atol=1e-12)


def test_param_groups_and_state_dict_round_trip():
    a, b = small_model(), small_model()
    groups_a = [{"params": a[0].parameters(), "lr": 1e-3}, {"params": a[3].parameters()}]
    groups_b = [{"params": b[0].parameters(), "lr": 1e-3}, {"params": b[3].parameters()}]
    # parameters not in any group are frozen by both
    opt_a, opt_b = AdamW(groups_a, lr=3e-2), torch.optim.AdamW(groups_b, lr=3e-2, foreach=False)
    run(a, opt_a, 50)
    run(b, opt_b, 50)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    # a fresh optimiser loaded from the state dict continues exactly
    c = small_model()
    c.load_state_dict(a.state_dict())
    opt_c = AdamW([{"params": c[0].parameters(), "lr": 1e-3}, {"params": c[3].parameters()}],
                  lr=3e-2)
    # (deep copy: load_state_dict may keep references to the tensors it is given)
    opt_c.load_state_dict(copy.deepcopy(opt_a.state_dict()))
    assert run(a, opt_a, 20) == run(c, opt_c, 20)


def test_adamw_decay_is_decoupled_from_adam_l2():
    """With zero gradient, AdamW shrinks weights by (1 - lr wd); Adam's L2 moves them by ~lr."""
    w1 = nn.Parameter(torch.full((3,), 2.0, dtype=torch.float64))
    w2 = nn.Parameter(torch.full((3,), 2.0, dtype=torch.float64))
    opt1, opt2 = AdamW([w1], lr=0.1, weight_decay=0.5), Adam([w2], lr=0.1, weight_decay=0.5)
    w1.grad, w2.grad = torch.zeros_like(w1), torch.zeros_like(w2)
    opt1.step()
    opt2.step()
    torch.testing.assert_close(w1.detach(), torch.full((3,), 2.0 * (1 - 0.1 * 0.5),
                                                       dtype=torch.float64))
    # Adam's normalised step of the L2 gradient is lr * sign(g) on the first step
    torch.testing.assert_close(w2.detach(), torch.full((3,), 2.0 - 0.1, dtype=torch.float64))


def test_bad_optimizer_arguments():
    p = [nn.Parameter(torch.zeros(2))]
    with pytest.raises(ValueError, match="lr"):
        SGD(p, lr=-1.0)
    with pytest.raises(ValueError, match="nesterov"):
        SGD(p, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="betas"):
        Adam(p, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="betas"):
        AdamW(p, betas=(0.9,))
    with pytest.raises(TypeError, match="weight_decay"):
        AdamW(p, weight_decay="0.1")


def test_weight_decay_groups_and_make_optimizer():
    emb = nn.Embedding(10, 4)
    head = nn.Linear(4, 10)
    head.weight = emb.weight  # tied: must appear once
    model = nn.ModuleDict({"emb": emb, "norm": nn.LayerNorm(4), "head": head})
    groups = weight_decay_groups(model, 0.1)
    assert [g["weight_decay"] for g in groups] == [0.1, 0.0]
    assert [len(g["params"]) for g in groups] == [1, 3]  # matrix; LN weight, LN bias, head bias
    a, b = small_model(), small_model()
    opt_a = make_optimizer(a, "adamw", lr=1e-2, weight_decay=0.1, implementation="course")
    opt_b = make_optimizer(b, "adamw", lr=1e-2, weight_decay=0.1, implementation="torch")
    assert isinstance(opt_a, AdamW) and isinstance(opt_b, torch.optim.AdamW)
    run(a, opt_a, 30)
    run(b, opt_b, 30)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="name"):
        make_optimizer(a, "lion")


# ----------------------------------------------------------------------------- schedules


def test_warmup_cosine_values():
    kw = dict(max_lr=1e-3, min_lr=1e-4, warmup_steps=4, total_steps=12)
    got = [warmup_cosine_lr(s, **kw) for s in range(14)]
    mid = 1e-4 + 0.9e-3 * 0.5  # half way through the decay
    want = [2.5e-4, 5e-4, 7.5e-4, 1e-3,  # linear warm-up, reaching max_lr at the last step
            1e-3,  # decay starts from max_lr
            1e-4 + 0.9e-3 * (1 + math.cos(math.pi / 8)) / 2,
            1e-4 + 0.9e-3 * (1 + math.cos(math.pi / 4)) / 2,
            1e-4 + 0.9e-3 * (1 + math.cos(3 * math.pi / 8)) / 2,
            mid,
            1e-4 + 0.9e-3 * (1 + math.cos(5 * math.pi / 8)) / 2,
            1e-4 + 0.9e-3 * (1 + math.cos(3 * math.pi / 4)) / 2,
            1e-4 + 0.9e-3 * (1 + math.cos(7 * math.pi / 8)) / 2,
            1e-4, 1e-4]  # then flat at min_lr
    assert got == pytest.approx(want, rel=1e-12)
    assert got[8] == pytest.approx(5.5e-4)
    assert max(got) == 1e-3 and min(got) == 1e-4


def test_cosine_without_warmup_equals_pytorch_cosine_annealing():
    p = [nn.Parameter(torch.zeros(1))]
    opt = torch.optim.SGD(p, lr=0.3)
    ref = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=50, eta_min=0.01)
    want = []
    for _ in range(50):
        want.append(opt.param_groups[0]["lr"])
        opt.step()
        ref.step()
    got = [warmup_cosine_lr(s, max_lr=0.3, min_lr=0.01, warmup_steps=0, total_steps=50)
           for s in range(50)]
    assert got == pytest.approx(want, rel=1e-9)


def test_scheduler_classes_follow_the_functions_and_resume():
    p = [nn.Parameter(torch.zeros(1))]
    opt = SGD(p, lr=123.0)  # the scheduler overwrites the lr from step 0
    sched = WarmupCosine(opt, max_lr=1.0, min_lr=0.1, warmup_steps=3, total_steps=10)
    seen = []
    for _ in range(12):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen == [warmup_cosine_lr(s, max_lr=1.0, min_lr=0.1, warmup_steps=3, total_steps=10)
                    for s in range(12)]
    # a new scheduler loaded from the state dict continues the same curve
    opt2 = SGD(p, lr=1.0)
    sched2 = WarmupCosine(opt2, max_lr=1.0, min_lr=0.1, warmup_steps=3, total_steps=10)
    sched.load_state_dict(sched.state_dict())
    sched2.load_state_dict(sched.state_dict())
    sched2.step()
    sched.step()
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    opt3 = SGD(p, lr=1.0)
    const = ConstantLR(opt3, max_lr=0.5, warmup_steps=2)
    lrs = []
    for _ in range(4):
        lrs.append(opt3.param_groups[0]["lr"])
        opt3.step()
        const.step()
    assert lrs == [0.25, 0.5, 0.5, 0.5] == [constant_lr(s, max_lr=0.5, warmup_steps=2)
                                             for s in range(4)]
    assert isinstance(make_scheduler(opt3, "constant", max_lr=0.1), ConstantLR)


def test_bad_schedule_arguments():
    with pytest.raises(ValueError, match="warmup_steps"):
        warmup_cosine_lr(0, max_lr=1.0, min_lr=0.0, warmup_steps=20, total_steps=10)
    with pytest.raises(ValueError, match="min_lr"):
        warmup_cosine_lr(0, max_lr=1.0, min_lr=2.0, warmup_steps=0, total_steps=10)
    with pytest.raises(ValueError, match="step"):
        warmup_cosine_lr(-1, max_lr=1.0, min_lr=0.0, warmup_steps=0, total_steps=10)
    with pytest.raises(ValueError, match="name"):
        make_scheduler(SGD([nn.Parameter(torch.zeros(1))]), "linear", max_lr=1.0)


# ----------------------------------------------------------------------------- clipping


@pytest.mark.parametrize("max_norm", [0.01, 1.0, 1e6])
def test_clip_grad_norm_equals_pytorch(max_norm):
    a, b = small_model(), small_model()
    x = torch.randn(5, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    a(x).pow(2).sum().backward()
    b(x).pow(2).sum().backward()
    norm_a = clip_grad_norm(a.parameters(), max_norm)
    norm_b = torch.nn.utils.clip_grad_norm_(b.parameters(), max_norm)
    torch.testing.assert_close(norm_a, norm_b)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pa.grad, pb.grad, rtol=1e-12, atol=0.0)
    after = global_grad_norm(a.parameters())
    assert after <= max_norm * (1 + 1e-9) or max_norm > norm_a
    if max_norm > norm_a:  # no clipping when already small
        torch.testing.assert_close(after, norm_a)


def test_clip_bad_input_and_no_grads():
    p = nn.Parameter(torch.zeros(3))
    assert clip_grad_norm([p], 1.0).item() == 0.0
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm([p], 0.0)
