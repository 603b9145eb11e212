"""Tests for lm_course.transformer: positional encodings against their formulas, blocks against
nn.TransformerEncoderLayer / nn.TransformerDecoderLayer, the GPT (KV cache, fused vs written-out
attention, errors), parameter and FLOP accounting, and the encoder-decoder Transformer."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lm_course.attention import BOS, PAD
from lm_course.transformer import (
    GPT,
    Block,
    DecoderBlock,
    GPTConfig,
    KVCache,
    RotaryEmbedding,
    Transformer,
    TransformerConfig,
    flops_per_token,
    parameter_counts,
    sinusoidal_encoding,
)
from lm_course.utils import count_parameters, set_seed

SMALL = dict(vocab_size=23, block_size=16, n_layer=2, n_head=4, n_embd=32)


def small_gpt(**overrides) -> GPT:
    set_seed(0)
    return GPT(GPTConfig(**{**SMALL, **overrides}))


# ----------------------------------------------------------------------------- positions


def test_sinusoidal_matches_formula():
    table = sinusoidal_encoding(50, 16)
    for pos in (0, 1, 7, 49):
        for i in range(8):
            angle = pos / 10000 ** (2 * i / 16)
            assert table[pos, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-6)
            assert table[pos, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-6)
    assert sinusoidal_encoding(4, 5).shape == (4, 5)  # odd width: last sine column kept


def test_rope_equals_complex_rotation():
    rope = RotaryEmbedding(8, 32)
    x = torch.randn(2, 3, 5, 8, dtype=torch.float64)
    pos = torch.tensor([0, 3, 4, 10, 31])
    got = rope.to(torch.float64)(x, pos)
    theta = 10000.0 ** (-torch.arange(0, 8, 2, dtype=torch.float64) / 8)
    z = torch.view_as_complex(x.reshape(2, 3, 5, 4, 2).contiguous())
    want = torch.view_as_real(z * torch.polar(torch.ones(5, 4, dtype=torch.float64),
                                              pos[:, None] * theta)).reshape(2, 3, 5, 8)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(got[..., 0, :], x[..., 0, :])  # position 0: no rotation
    torch.testing.assert_close(got.norm(dim=-1), x.norm(dim=-1))  # rotations keep length


def test_rope_scores_depend_only_on_relative_position():
    rope = RotaryEmbedding(16, 64).to(torch.float64)
    q, k = torch.randn(16, dtype=torch.float64), torch.randn(16, dtype=torch.float64)

    def score(m, n):
        return rope(q[None], torch.tensor([m])) @ rope(k[None], torch.tensor([n])).T

    for m, n in [(5, 2), (9, 9), (3, 12)]:
        for shift in (1, 7, 40):
            torch.testing.assert_close(score(m, n), score(m + shift, n + shift))
    assert not torch.allclose(score(5, 2), score(5, 3))  # but it does depend on m - n


def test_rope_rejects_odd_head_dim():
    with pytest.raises(ValueError, match="even"):
        RotaryEmbedding(7, 10)
    with pytest.raises(ValueError, match="even head size"):
        GPTConfig(n_embd=12, n_head=4, pos_encoding="rope")


# ----------------------------------------------------------------------------- blocks


def copy_mha(ours, theirs: nn.MultiheadAttention) -> None:
    ours.in_proj.weight.data.copy_(theirs.in_proj_weight.data)
    ours.in_proj.bias.data.copy_(theirs.in_proj_bias.data)
    ours.out_proj.weight.data.copy_(theirs.out_proj.weight.data)
    ours.out_proj.bias.data.copy_(theirs.out_proj.bias.data)


def copy_mlp_norms(ours, theirs, norms) -> None:
    ours.mlp.fc.load_state_dict(theirs.linear1.state_dict())
    ours.mlp.proj.load_state_dict(theirs.linear2.state_dict())
    for mine, ref in norms:
        mine.load_state_dict(ref.state_dict())


def grads(module):
    return [p.grad.clone() for p in module.parameters()]


@pytest.mark.parametrize("norm_first", [True, False])
def test_encoder_block_equals_torch_encoder_layer(norm_first):
    set_seed(1)
    d, h, ff = 16, 4, 40
    ref = nn.TransformerEncoderLayer(d, h, ff, dropout=0.0, activation="gelu", batch_first=True,
                                     norm_first=norm_first).double()
    ours = Block(d, h, ff, norm_first=norm_first).double()
    copy_mha(ours.attn, ref.self_attn)
    copy_mlp_norms(ours, ref, [(ours.ln_1, ref.norm1), (ours.ln_2, ref.norm2)])
    x = torch.randn(3, 7, d, dtype=torch.float64, requires_grad=True)
    keep = torch.tensor([[True] * 7, [True] * 4 + [False] * 3, [True] * 6 + [False]])
    ref.train()  # the training path: no fast-path kernels, exact comparison
    want = ref(x, src_key_padding_mask=~keep)
    got = ours(x, key_padding_mask=keep)
    torch.testing.assert_close(got, want)
    w = torch.randn_like(want)
    gx_ref, = torch.autograd.grad((want * w).sum(), x, retain_graph=True)
    (want * w).sum().backward()
    (got * w).sum().backward()
    gx, = torch.autograd.grad((ours(x, key_padding_mask=keep) * w).sum(), x)
    torch.testing.assert_close(gx, gx_ref)
    torch.testing.assert_close(ours.attn.in_proj.weight.grad, ref.self_attn.in_proj_weight.grad)
    torch.testing.assert_close(ours.mlp.fc.weight.grad, ref.linear1.weight.grad)
    torch.testing.assert_close(ours.ln_2.weight.grad, ref.norm2.weight.grad)


@pytest.mark.parametrize("norm_first", [True, False])
def test_decoder_block_equals_torch_decoder_layer(norm_first):
    set_seed(2)
    d, h, ff = 16, 2, 24
    ref = nn.TransformerDecoderLayer(d, h, ff, dropout=0.0, activation="gelu", batch_first=True,
                                     norm_first=norm_first).double()
    ours = DecoderBlock(d, h, ff, norm_first=norm_first).double()
    copy_mha(ours.self_attn, ref.self_attn)
    copy_mha(ours.cross_attn, ref.multihead_attn)
    copy_mlp_norms(ours, ref, [(ours.ln_1, ref.norm1), (ours.ln_2, ref.norm2),
                               (ours.ln_3, ref.norm3)])
    x = torch.randn(2, 5, d, dtype=torch.float64)
    mem = torch.randn(2, 6, d, dtype=torch.float64, requires_grad=True)
    keep = torch.tensor([[True] * 6, [True] * 3 + [False] * 3])
    causal = nn.Transformer.generate_square_subsequent_mask(5, dtype=torch.float64)
    want = ref(x, mem, tgt_mask=causal, memory_key_padding_mask=~keep, tgt_is_causal=True)
    got = ours(x, mem, keep, need_weights=True)
    torch.testing.assert_close(got, want)
    g_ref, = torch.autograd.grad(want.square().sum(), mem)
    g, = torch.autograd.grad(got.square().sum(), mem)
    torch.testing.assert_close(g, g_ref)
    assert ours.cross_weights.shape == (2, h, 5, 6)
    assert torch.all(ours.cross_weights[1, :, :, 3:] == 0)  # padding gets no attention


# ----------------------------------------------------------------------------- GPT


@pytest.mark.parametrize("pos_encoding", ["learned", "sinusoidal", "rope"])
@pytest.mark.parametrize("fused", [True, False])
def test_kv_cache_logits_equal_uncached_at_every_step(pos_encoding, fused):
    model = small_gpt(pos_encoding=pos_encoding, fused_attention=fused).eval()
    idx = torch.randint(SMALL["vocab_size"], (3, SMALL["block_size"]))
    full, _ = model(idx)
    cache = model.new_kv_cache(batch_size=3)
    assert cache.length == 0
    prefill, _ = model(idx[:, :5], kv_cache=cache)  # a prompt of 5 tokens in one go
    torch.testing.assert_close(prefill, full[:, :5])
    for t in range(5, SMALL["block_size"]):
        step, _ = model(idx[:, t: t + 1], kv_cache=cache)  # then one token at a time
        assert cache.length == t + 1
        torch.testing.assert_close(step[:, 0], full[:, t], rtol=1e-5, atol=1e-5)
        # and the step equals running the model on the whole prefix without a cache
        prefix, _ = model(idx[:, : t + 1])
        torch.testing.assert_close(step[:, 0], prefix[:, -1], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="block_size"):
        model(idx[:, :1], kv_cache=cache)


def test_kv_cache_chunks_crop_and_reorder():
    model = small_gpt(pos_encoding="rope").eval()
    idx = torch.randint(SMALL["vocab_size"], (2, 12))
    full, _ = model(idx)
    cache = model.new_kv_cache(2)
    outs = [model(idx[:, a:b], kv_cache=cache)[0] for a, b in [(0, 3), (3, 7), (7, 12)]]
    torch.testing.assert_close(torch.cat(outs, 1), full, rtol=1e-5, atol=1e-5)
    cache.crop(7)  # forget the last chunk, recompute it
    again, _ = model(idx[:, 7:12], kv_cache=cache)
    torch.testing.assert_close(again, full[:, 7:], rtol=1e-5, atol=1e-5)
    cache.crop(7)
    cache.reorder(torch.tensor([1, 1]))  # both rows now continue sequence 1
    nxt, _ = model(idx[1:2, 7:8].repeat(2, 1), kv_cache=cache)
    torch.testing.assert_close(nxt[:, 0], full[[1, 1], 7], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="batch size"):
        model(idx[:1, 8:9], kv_cache=cache)
    assert isinstance(cache, KVCache)


@pytest.mark.parametrize("pos_encoding", ["learned", "rope"])
@pytest.mark.parametrize("norm_first", [True, False])
def test_fused_attention_equals_written_out(pos_encoding, norm_first):
    fused = small_gpt(pos_encoding=pos_encoding, norm_first=norm_first).double()
    plain = small_gpt(pos_encoding=pos_encoding, norm_first=norm_first,
                      fused_attention=False).double()
    plain.load_state_dict(fused.state_dict())
    idx = torch.randint(SMALL["vocab_size"], (4, 16))
    tgt = torch.randint(SMALL["vocab_size"], (4, 16))
    (lf, loss_f), (lp, loss_p) = fused(idx, tgt), plain(idx, tgt)
    torch.testing.assert_close(lf, lp)
    loss_f.backward()
    loss_p.backward()
    for (name, a), b in zip(fused.named_parameters(), plain.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad, msg=name)


def test_gpt_is_causal_and_loss_is_cross_entropy():
    model = small_gpt().eval()
    idx = torch.randint(SMALL["vocab_size"], (2, 10))
    changed = idx.clone()
    changed[:, 6:] = (changed[:, 6:] + 1) % SMALL["vocab_size"]
    a, _ = model(idx)
    b, _ = model(changed)
    torch.testing.assert_close(a[:, :6], b[:, :6])  # the future cannot leak into the past
    assert not torch.allclose(a[:, 6:], b[:, 6:])
    tgt = torch.randint(SMALL["vocab_size"], (2, 10))
    tgt[0, :4] = -100
    logits, loss = model(idx, tgt)
    keep = tgt != -100
    want = -F.log_softmax(logits, -1).gather(-1, tgt.clamp(min=0)[..., None])[..., 0][keep].mean()
    torch.testing.assert_close(loss, want)
    # at initialisation the prediction is close to uniform: loss ~ ln(V)
    assert abs(loss.item() - math.log(SMALL["vocab_size"])) < 0.1


def test_weight_tying_and_scaled_init():
    tied, untied = small_gpt(), small_gpt(tie_weights=False)
    assert tied.lm_head.weight is tied.tok_emb.weight
    V, C = SMALL["vocab_size"], SMALL["n_embd"]
    assert count_parameters(untied) - count_parameters(tied) == V * C
    set_seed(0)
    big = GPT(GPTConfig(vocab_size=50, block_size=8, n_layer=8, n_head=4, n_embd=256))
    std_resid = big.blocks[0].mlp.proj.weight.std().item()
    std_plain = big.blocks[0].mlp.fc.weight.std().item()
    assert std_plain == pytest.approx(0.02, rel=0.05)
    assert std_resid == pytest.approx(0.02 / math.sqrt(2 * 8), rel=0.05)
    assert not any("rope" in k or "table" in k for k in small_gpt(pos_encoding="rope")
                   .state_dict())  # fixed tables are rebuilt, not saved


def test_post_ln_gpt_has_no_final_norm_and_trains():
    model = small_gpt(norm_first=False)
    assert isinstance(model.ln_f, nn.Identity)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    idx = torch.arange(16).repeat(8, 1) % SMALL["vocab_size"]  # a pattern easy to learn
    first = None
    for _ in range(30):
        _, loss = model(idx[:, :-1], idx[:, 1:])
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first


def test_bad_input_gives_clear_errors():
    model = small_gpt()
    V, T = SMALL["vocab_size"], SMALL["block_size"]
    with pytest.raises(ValueError, match="block_size=16"):
        model(torch.zeros(1, T + 1, dtype=torch.long))
    with pytest.raises(ValueError, match=r"token ids in \[0, 22\]"):
        model(torch.full((1, 3), V))
    with pytest.raises(ValueError, match="from -1"):
        model(torch.tensor([[0, -1]]))
    with pytest.raises(TypeError, match="integer tensor"):
        model(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="dimensions"):
        model(torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="targets"):
        model(torch.zeros(1, 3, dtype=torch.long), torch.full((1, 3), V))
    with pytest.raises(ValueError, match="shape of idx"):
        model(torch.zeros(1, 3, dtype=torch.long), torch.zeros(1, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="divisible"):
        GPTConfig(n_embd=30, n_head=4)
    with pytest.raises(ValueError, match="pos_encoding"):
        GPTConfig(pos_encoding="alibi")
    with pytest.raises(TypeError, match="GPTConfig"):
        GPT({"vocab_size": 3})


# ----------------------------------------------------------------------------- accounting


def test_parameter_counts_by_hand():
    V, P, L, C = 23, 16, 2, 32
    hand = {
        "token embedding": V * C,
        "position embedding": P * C,
        "attention": L * (3 * C * C + 3 * C + C * C + C),
        "mlp": L * (C * 4 * C + 4 * C + 4 * C * C + C),
        "layer norm": (2 * L + 1) * 2 * C,
        "output head": 0,  # tied with the token embedding
    }
    hand["total"] = sum(hand.values())
    model = small_gpt()
    assert parameter_counts(model) == hand
    assert hand["total"] == count_parameters(model)
    no_bias = parameter_counts(small_gpt(bias=False, tie_weights=False, pos_encoding="rope"))
    assert no_bias["attention"] == L * 4 * C * C
    assert no_bias["layer norm"] == (2 * L + 1) * C
    assert no_bias["output head"] == V * C and no_bias["position embedding"] == 0


def test_flops_per_token_by_hand():
    cfg = GPTConfig(**SMALL)
    L, C, V, T = 2, 32, 23, 16
    per_layer = 2 * (3 * C * C) + 2 * T * C + 2 * T * C + 2 * C * C + 2 * (2 * 4 * C * C)
    want_fwd = L * per_layer + 2 * C * V
    got = flops_per_token(cfg)
    assert got["forward"] == want_fwd
    assert got["training"] == 3 * want_fwd
    # the classic approximation: forward ~ 2 x non-embedding parameters + attention term
    n_matmul_params = L * 12 * C * C
    assert got["forward"] == 2 * n_matmul_params + 4 * L * T * C + 2 * C * V
    assert flops_per_token(cfg, seq_len=4)["attention scores"] == L * 4 * 4 * C


# ----------------------------------------------------------------------------- encoder-decoder


def toy_batch():
    src = torch.tensor([[5, 6, 7, 8], [9, 4, PAD, PAD]])
    lengths = torch.tensor([4, 2])
    tgt = torch.tensor([[BOS, 5, 6, 2], [BOS, 9, 2, PAD]])
    return src, lengths, tgt


def test_seq2seq_transformer_padding_and_generation():
    set_seed(3)
    model = Transformer(TransformerConfig(src_vocab_size=12, tgt_vocab_size=12, max_len=10,
                                          d_model=16, d_ff=32, n_head=2)).eval()
    src, lengths, tgt = toy_batch()
    logits, loss = model(src, lengths, tgt[:, :-1], tgt[:, 1:])
    assert logits.shape == (2, 3, 12) and loss.item() > 0
    # more padding on the source changes nothing: padded keys are masked out
    padded = torch.cat([src, torch.full((2, 3), PAD)], 1)
    torch.testing.assert_close(model(padded, lengths, tgt[:, :-1])[0], logits)
    ids, attn = model.generate(src, lengths, max_len=5)
    assert ids.shape == (2, 5) and attn.shape == (2, 5, 4)
    torch.testing.assert_close(attn.sum(-1), torch.ones(2, 5))
    assert torch.all(attn[1, :, 2:] == 0)
    # greedy ids are the argmax of teacher-forced logits on the generated prefix
    tf, _ = model(src, lengths, torch.cat([torch.full((2, 1), BOS), ids[:, :-1]], 1))
    assert torch.equal(tf.argmax(-1), ids)
    with pytest.raises(ValueError, match="max_len=10"):
        model(torch.full((1, 11), 5), torch.tensor([11]), tgt[:1])
