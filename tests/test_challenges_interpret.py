"""Tests for lm_course.challenges.interpret: attention maps are the model's own, the head
scores match a loop over positions, the residual stream and the logit lens agree with the
model's forward pass, ablation by hook equals ablation by editing the weights, a probe finds
what is linearly there and not what is not, and bad input is refused with a clear message."""

import copy

import pytest
import torch
import torch.nn.functional as F
from helpers import perturb

from lm_course.challenges.interpret import (
    ablate_heads,
    attention_maps,
    fit_probe,
    head_means,
    induction_scores,
    letters_since_boundary,
    logit_lens,
    previous_token_scores,
    repeated_random_tokens,
    residual_stream,
    token_losses,
)
from lm_course.transformer import GPT, GPTConfig

V = 13


@pytest.fixture(scope="module")
def model() -> GPT:
    torch.manual_seed(0)
    m = GPT(GPTConfig(vocab_size=V, block_size=16, n_layer=2, n_head=2, n_embd=8, dropout=0.1))
    return perturb(m).double()


def _idx(b: int = 3, t: int = 10, seed: int = 1) -> torch.Tensor:
    return torch.randint(V, (b, t), generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------- attention


def test_attention_maps_are_the_models_weights_causal_and_normalised(model):
    idx = _idx()
    before = idx.clone()
    model.train()
    attn = attention_maps(model, idx)
    assert attn.shape == (2, 3, 2, 10, 10)
    assert model.training  # the mode is restored
    assert torch.equal(idx, before)
    torch.testing.assert_close(attn.sum(-1), torch.ones(2, 3, 2, 10, dtype=attn.dtype))
    assert (attn.triu(1) == 0).all()  # nothing from the future
    model.eval()
    model(idx, need_weights=True)
    for layer, block in enumerate(model.blocks):
        torch.testing.assert_close(attn[layer], block.attn_weights)
    model.train()


def test_head_scores_match_a_loop_over_positions():
    g = torch.Generator().manual_seed(0)
    L, B, H, n = 2, 3, 4, 5
    attn = torch.rand(L, B, H, 2 * n, 2 * n, generator=g).tril()
    attn = attn / attn.sum(-1, keepdim=True)
    prev = previous_token_scores(attn)
    ind = induction_scores(attn, n)
    for layer in range(L):
        for h in range(H):
            p = [attn[layer, b, h, t, t - 1] for b in range(B) for t in range(1, 2 * n)]
            i = [attn[layer, b, h, t, t - n + 1] for b in range(B) for t in range(n, 2 * n)]
            assert prev[layer, h] == pytest.approx(float(sum(p) / len(p)), rel=1e-6)
            assert ind[layer, h] == pytest.approx(float(sum(i) / len(i)), rel=1e-6)


def test_planted_heads_score_one_and_a_uniform_head_scores_low():
    n, T = 6, 12
    prev = torch.zeros(T, T)
    prev[0, 0] = 1.0
    prev[torch.arange(1, T), torch.arange(T - 1)] = 1.0
    ind = torch.eye(T)  # first copy: attend to itself
    ind[torch.arange(n, T)] = 0.0
    ind[torch.arange(n, T), torch.arange(n, T) - n + 1] = 1.0
    uniform = torch.ones(T, T).tril()
    uniform = uniform / uniform.sum(-1, keepdim=True)
    attn = torch.stack([prev, ind, uniform])[None, None].expand(1, 2, 3, T, T)  # (L, B, H, T, T)
    p, i = previous_token_scores(attn)[0], induction_scores(attn, n)[0]
    assert p[0] == 1.0 and i[1] == 1.0
    assert i[0] == 0.0 and p[1] < 0.2  # each planted head scores only on its own pattern
    assert p[2] < 0.3 and i[2] < 0.15


def test_repeated_random_tokens_repeat_stay_in_the_pool_and_leave_global_rng_alone():
    state = torch.random.get_rng_state()
    x = repeated_random_tokens(4, 7, [3, 5, 9], seed=2)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert x.shape == (4, 14) and torch.equal(x[:, :7], x[:, 7:])
    assert set(x.unique().tolist()) <= {3, 5, 9}
    assert torch.equal(x, repeated_random_tokens(4, 7, [3, 5, 9], seed=2))
    assert not torch.equal(x, repeated_random_tokens(4, 7, [3, 5, 9], seed=3))
    assert int(repeated_random_tokens(50, 5, 4).max()) == 3


# ----------------------------------------------------------------------------- residual stream


def test_residual_stream_starts_at_the_embeddings_and_ends_at_the_models_states(model):
    idx = _idx()
    states = residual_stream(model, idx)
    assert states.shape == (3, 3, 10, 8)
    model.eval()
    emb = model.tok_emb(idx) + model.pos_emb(torch.arange(10))
    torch.testing.assert_close(states[0], emb)
    torch.testing.assert_close(model.ln_f(states[-1]), model.hidden_states(idx))
    torch.testing.assert_close(states[1], model.blocks[0](emb, is_causal=True,
                                                         positions=torch.arange(10)))
    model.train()
    # the hooks are gone: another forward pass adds nothing
    assert not model.blocks[0]._forward_pre_hooks and not model.blocks[1]._forward_hooks


def test_logit_lens_last_layer_is_the_models_loss_and_skips_minus_100(model):
    idx = _idx()
    targets = _idx(seed=2)
    targets[0, :4] = -100  # the odd item first
    lens = logit_lens(model, idx, targets)
    assert len(lens.loss) == len(lens.accuracy) == 3
    model.eval()
    logits, loss = model(idx, targets)
    keep = targets != -100
    acc = (logits[keep].argmax(-1) == targets[keep]).double().mean().item()
    assert lens.loss[-1] == pytest.approx(loss.item(), rel=1e-9)
    assert lens.accuracy[-1] == pytest.approx(acc)
    first = F.cross_entropy(model.lm_head(model.ln_f(residual_stream(model, idx)[0]))[keep],
                            targets[keep])
    assert lens.loss[0] == pytest.approx(first.item(), rel=1e-9)
    assert lens.loss[0] != pytest.approx(lens.loss[-1])
    model.train()


def test_token_losses_average_to_the_models_loss(model):
    idx = _idx()
    tl = token_losses(model, idx)
    assert tl.shape == (3, 9)
    model.eval()
    _, loss = model(idx[:, :-1], idx[:, 1:])
    model.train()
    assert tl.mean().item() == pytest.approx(loss.item(), rel=1e-9)


# ----------------------------------------------------------------------------- ablation


def _columns_zeroed(model: GPT, layer: int, head: int) -> GPT:
    ref = copy.deepcopy(model)
    D = model.config.n_embd // model.config.n_head
    with torch.no_grad():
        ref.blocks[layer].attn.out_proj.weight[:, head * D:(head + 1) * D] = 0.0
    return ref


@pytest.mark.parametrize("layer, head", [(0, 0), (1, 1)])
def test_zero_ablation_equals_zeroing_the_heads_output_columns(model, layer, head):
    idx = _idx()
    model.eval()
    clean, _ = model(idx)
    with ablate_heads(model, [(layer, head)]):
        ablated, _ = model(idx)
    after, _ = model(idx)
    expected, _ = _columns_zeroed(model, layer, head).eval()(idx)
    model.train()
    torch.testing.assert_close(ablated, expected)
    torch.testing.assert_close(after, clean)  # hooks removed on exit
    assert not torch.allclose(ablated, clean)


def test_mean_ablation_equals_moving_the_mean_into_the_bias(model):
    idx = _idx()
    means = head_means(model, idx)
    assert means.shape == (2, 2, 4)
    layer, head, D = 1, 0, 4
    ref = _columns_zeroed(model, layer, head)
    w = model.blocks[layer].attn.out_proj.weight[:, head * D:(head + 1) * D]
    with torch.no_grad():
        ref.blocks[layer].attn.out_proj.bias += w @ means[layer, head]
    model.eval()
    with ablate_heads(model, [(layer, head)], mode="mean", means=means):
        ablated, _ = model(idx)
    model.train()
    torch.testing.assert_close(ablated, ref.eval()(idx)[0])


def test_head_means_of_a_single_token_are_its_value_vectors(model):
    idx = torch.tensor([[5]])
    model.eval()
    x = model.tok_emb(idx) + model.pos_emb(torch.arange(1))
    _, _, v = model.blocks[0].attn.project(*(model.blocks[0].ln_1(x),) * 3)  # (1, H, 1, D)
    model.train()
    torch.testing.assert_close(head_means(model, idx)[0], v[0, :, 0])


def test_hooks_are_removed_after_an_error(model):
    with pytest.raises(RuntimeError, match="inside"):
        with ablate_heads(model, [(0, 1)]):
            raise RuntimeError("inside")
    assert all(not b.attn.out_proj._forward_pre_hooks for b in model.blocks)


def test_ablation_gradients_skip_the_ablated_head(model):
    idx = _idx()
    model.zero_grad()
    with ablate_heads(model, [(0, 1)]):
        _, loss = model(idx, _idx(seed=3))
        loss.backward()
    g = model.blocks[0].attn.out_proj.weight.grad
    assert (g[:, 4:] == 0).all() and (g[:, :4] != 0).any()
    model.zero_grad()


# ----------------------------------------------------------------------------- probes


def test_probe_reads_a_linear_label_and_not_a_shuffled_one():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(600, 6, generator=g, dtype=torch.float64)
    y = (x[:, 2] - 0.5 * x[:, 4] > 0.1).long()
    y[0], y[-1] = 1 - y[0], 1 - y[-1]  # two label errors, first and last
    before = x.clone()
    res = fit_probe(x, y, seed=0)
    assert torch.equal(x, before)
    assert res.test_accuracy > 0.95 and res.train_accuracy > 0.95
    assert 0.4 < res.majority_accuracy < 0.7
    control = fit_probe(x, y, shuffle_labels=True, seed=0)
    assert control.test_accuracy < 0.7
    noise = fit_probe(torch.randn(600, 6, generator=g), y, seed=0)
    assert noise.test_accuracy < 0.7


def test_probe_majority_is_the_held_out_share_of_the_most_frequent_training_label():
    x = torch.randn(40, 2, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0] * 30 + [1] * 6 + [2] * 4)
    res = fit_probe(x, y, test_fraction=0.5, seed=3)
    order = torch.from_numpy(__import__("numpy").random.default_rng(3).permutation(40))
    assert res.majority_accuracy == pytest.approx((y[order[:20]] == 0).double().mean().item())


def test_letters_since_boundary_counts_and_caps():
    assert letters_since_boundary("Hamlet's", cap=3) == [0, 1, 2, 3, 3, 3, -1, 0]
    assert letters_since_boundary("") == []


# ----------------------------------------------------------------------------- bad inputs


_OK = _idx()
_ATTN = torch.rand(2, 3, 2, 10, 10)

BAD_CALLS = [
    (lambda model: attention_maps("gpt", _OK), TypeError, "model must be a lm_course"),
    (lambda model: attention_maps(model, _OK.float()), TypeError, "idx must be an integer"),
    (lambda model: attention_maps(model, _OK + V), ValueError, "idx must hold token ids"),
    (lambda model: attention_maps(model, torch.zeros(1, 17, dtype=torch.long)), ValueError,
     "block_size=16"),
    (lambda model: previous_token_scores(_ATTN[0]), ValueError, "attn must have 5 dimensions"),
    (lambda model: previous_token_scores(_ATTN[..., :1, :1]), ValueError,
     "at least 2 positions"),
    (lambda model: previous_token_scores(_ATTN[..., :3]), ValueError, "self-attention maps"),
    (lambda model: induction_scores(_ATTN, 4), ValueError, "half_len=4 have 8"),
    (lambda model: induction_scores(_ATTN, 1), ValueError, "half_len must be >= 2"),
    (lambda model: repeated_random_tokens(0, 5, 10), ValueError, "n_seq must be >= 1"),
    (lambda model: repeated_random_tokens(2, 5, 1), ValueError, "token_ids must be >= 2"),
    (lambda model: repeated_random_tokens(2, 5, [3, 3]), ValueError, "2 distinct"),
    (lambda model: repeated_random_tokens(2, 5, "abc"), TypeError, "token_ids must be an int"),
    (lambda model: logit_lens(model, _OK, _OK[:, :-1]), ValueError,
     "targets must have the shape"),
    (lambda model: logit_lens(model, _OK, torch.full_like(_OK, -100)), ValueError, "nothing"),
    (lambda model: token_losses(model, _OK[:, :1]), ValueError, "at least 2 tokens"),
    (lambda model: ablate_heads(model, [(2, 0)]).__enter__(), ValueError, "layer must be <= 1"),
    (lambda model: ablate_heads(model, [(0, 2)]).__enter__(), ValueError, "head must be <= 1"),
    (lambda model: ablate_heads(model, []).__enter__(), TypeError, "non-empty list"),
    (lambda model: ablate_heads(model, [0]).__enter__(), TypeError, r"hold \(layer, head\) pairs"),
    (lambda model: ablate_heads(model, [(0, 0)], mode="mean").__enter__(), TypeError,
     "means must be a torch.Tensor"),
    (lambda model: ablate_heads(model, [(0, 0)], mode="mean",
                                means=torch.zeros(2, 2, 3)).__enter__(), ValueError,
     r"means must have shape \(2, 2, 4\)"),
    (lambda model: ablate_heads(model, [(0, 0)], mode="avg").__enter__(), ValueError,
     "mode must be one of"),
    (lambda model: ablate_heads(model, [(0, 0)], means=torch.zeros(2, 2, 4)).__enter__(),
     ValueError, "only used with mode='mean'"),
    (lambda model: fit_probe(torch.zeros(5, 2), torch.zeros(4, dtype=torch.long)), ValueError,
     "features has 5 rows but labels has 4"),
    (lambda model: fit_probe(torch.zeros(5, 2), torch.zeros(5)), TypeError,
     "labels must be an integer tensor"),
    (lambda model: fit_probe(torch.zeros(5, 2), torch.zeros(5, dtype=torch.long),
                             test_fraction=1.0), ValueError, r"test_fraction must be in \(0.0"),
    (lambda model: fit_probe(torch.zeros(8, 2), torch.zeros(8, dtype=torch.long)), ValueError,
     "single label"),
    (lambda model: fit_probe(torch.zeros(2, 2), torch.tensor([0, 1])), ValueError,
     "cannot be split"),
    (lambda model: letters_since_boundary(3), TypeError, "text must be a str"),
    (lambda model: letters_since_boundary("ab", cap=0), ValueError, "cap must be >= 1"),
]


@pytest.mark.parametrize("call, err, msg", BAD_CALLS)
def test_bad_inputs_are_refused_with_a_clear_message(model, call, err, msg):
    with pytest.raises(err, match=msg):
        call(model)
    assert all(not b.attn.out_proj._forward_pre_hooks for b in model.blocks)  # no leaked hook
