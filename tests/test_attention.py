"""Tests for lm_course.attention: masks, scaled dot-product attention against
F.scaled_dot_product_attention, MultiHeadAttention against nn.MultiheadAttention (outputs and
gradients), numerical stability, additive attention, and the LSTM seq2seq models."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lm_course.attention import (
    BOS,
    EOS,
    PAD,
    SPECIALS,
    AdditiveAttention,
    LSTMSeq2Seq,
    MultiHeadAttention,
    Seq2SeqConfig,
    causal_mask,
    combine_masks,
    decode_ids,
    encode_pairs,
    exact_match,
    merge_heads,
    padding_mask,
    safe_softmax,
    scaled_dot_product_attention,
    split_heads,
    train_seq2seq,
)
from lm_course.utils import set_seed

D64 = dict(dtype=torch.float64)


def qkv(b=2, h=3, t_q=5, t_k=7, d=4, dv=6):
    set_seed(0)
    return (torch.randn(b, h, t_q, d, **D64, requires_grad=True),
            torch.randn(b, h, t_k, d, **D64, requires_grad=True),
            torch.randn(b, h, t_k, dv, **D64, requires_grad=True))


def assert_same_with_grads(fn_a, fn_b, tensors):
    out_a, out_b = fn_a(*tensors), fn_b(*tensors)
    torch.testing.assert_close(out_a, out_b)
    w = torch.randn_like(out_a)
    ga = torch.autograd.grad((out_a * w).sum(), tensors)
    gb = torch.autograd.grad((out_b * w).sum(), tensors)
    for x, y in zip(ga, gb, strict=True):
        torch.testing.assert_close(x, y)


# ----------------------------------------------------------------------------- masks


def test_masks():
    assert torch.equal(causal_mask(3), torch.tensor([[1, 0, 0], [1, 1, 0], [1, 1, 1]]).bool())
    # queries are the last positions of a longer sequence (KV cache)
    assert torch.equal(causal_mask(1, 4), torch.ones(1, 4, dtype=torch.bool))
    assert torch.equal(causal_mask(2, 3), torch.tensor([[1, 1, 0], [1, 1, 1]]).bool())
    assert torch.equal(padding_mask(torch.tensor([2, 0, 3])),
                       torch.tensor([[1, 1, 0], [0, 0, 0], [1, 1, 1]]).bool())
    both = combine_masks(causal_mask(3), padding_mask([2, 3])[:, None, :])
    assert both.shape == (2, 3, 3)
    assert torch.equal(both[0], torch.tensor([[1, 0, 0], [1, 1, 0], [1, 1, 0]]).bool())
    assert combine_masks(None, None) is None
    with pytest.raises(TypeError, match="boolean"):
        combine_masks(torch.zeros(2, 2))
    with pytest.raises(ValueError, match="max_len"):
        padding_mask([4], max_len=3)
    with pytest.raises(ValueError, match="t_k"):
        causal_mask(3, 2)


# ----------------------------------------------------------------------------- scaled dot product


def ours(mask=None):
    return lambda q, k, v: scaled_dot_product_attention(q, k, v, mask)[0]


def torchs(mask=None, **kw):
    return lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=mask, **kw)


def test_sdpa_equals_torch_without_and_with_masks():
    tensors = qkv()
    assert_same_with_grads(ours(), torchs(), tensors)
    sq = qkv(t_q=6, t_k=6)
    assert_same_with_grads(ours(causal_mask(6)), torchs(is_causal=True), sq)
    set_seed(1)
    boolean = torch.rand(2, 3, 5, 7) > 0.4
    boolean[..., 0] = True  # every query keeps at least one key here
    assert_same_with_grads(ours(boolean), torchs(boolean), tensors)
    additive = torch.randn(5, 7, **D64)  # a float mask is added to the scores (e.g. ALiBi)
    additive[1, 3:] = float("-inf")
    assert_same_with_grads(ours(additive), torchs(additive), tensors)


def test_sdpa_weights_and_scale():
    q, k, v = qkv()
    out, w = scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 3, 5, **D64))
    torch.testing.assert_close(w, torch.softmax(q @ k.transpose(-1, -2) / 2.0, -1))  # √4 = 2
    torch.testing.assert_close(out, w @ v)
    out1, _ = scaled_dot_product_attention(q, k, v, scale=1.0)
    torch.testing.assert_close(out1, F.scaled_dot_product_attention(q, k, v, scale=1.0))
    with pytest.raises(ValueError, match="shapes"):
        scaled_dot_product_attention(q, k[..., :3], v)


def test_fully_masked_rows_give_zeros_not_nan():
    q, k, v = qkv()
    mask = torch.ones(5, 7, dtype=torch.bool)
    mask[2] = False  # query 2 may attend to nothing
    out, w = scaled_dot_product_attention(q, k, v, mask)
    assert torch.all(out[..., 2, :] == 0) and torch.all(w[..., 2, :] == 0)
    assert_same_with_grads(ours(mask), torchs(mask), (q, k, v))  # torch also returns zeros
    gq, = torch.autograd.grad(out.sum(), q)
    assert torch.isfinite(gq).all() and torch.all(gq[..., 2, :] == 0)
    neg_inf = torch.zeros(5, 7, **D64)
    neg_inf[2] = float("-inf")
    out2, _ = scaled_dot_product_attention(q, k, v, neg_inf)
    assert torch.isfinite(out2).all() and torch.all(out2[..., 2, :] == 0)
    # the textbook softmax would have produced NaN on that row
    assert torch.isnan(torch.softmax(torch.full((3,), float("-inf")), -1)).all()
    torch.testing.assert_close(safe_softmax(torch.full((2, 3), float("-inf"))), torch.zeros(2, 3))


def test_huge_logits_are_stable():
    q, k, v = qkv()
    big_q = (q * 1000).detach().requires_grad_()
    out, w = scaled_dot_product_attention(big_q, k, v)
    assert torch.isfinite(out).all() and torch.isfinite(w).all()
    assert (w.amax(-1) > 0.999).float().mean() > 0.9  # saturated: (nearly) one-hot rows
    torch.testing.assert_close(out, F.scaled_dot_product_attention(big_q, k, v))
    g, = torch.autograd.grad(out.sum(), big_q)
    assert torch.isfinite(g).all()
    naive = torch.exp(torch.tensor([1000.0, 999.0]))  # what subtracting the max avoids
    assert torch.isinf(naive).all()


def test_sdpa_dropout_drops_weights_reproducibly():
    q, k, v = qkv()
    torch.manual_seed(5)
    out, w = scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    torch.manual_seed(5)
    kept = F.dropout(w, p=0.5)
    torch.testing.assert_close(out, kept @ v)
    assert (kept == 0).float().mean().item() == pytest.approx(0.5, abs=0.15)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 3, 5, **D64))  # weights: pre-dropout
    with pytest.raises(ValueError, match="dropout_p"):
        scaled_dot_product_attention(q, k, v, dropout_p=1.0)


# ----------------------------------------------------------------------------- multi-head


def test_split_and_merge_heads():
    x = torch.randn(2, 5, 12)
    h = split_heads(x, 3)
    assert h.shape == (2, 3, 5, 4)
    torch.testing.assert_close(h[:, 1], x[..., 4:8])  # head 1 owns channels 4..7
    torch.testing.assert_close(merge_heads(h), x)
    torch.testing.assert_close(h, x.view(2, 5, 3, 4).transpose(1, 2))


def copy_into_torch(mine: MultiHeadAttention, ref: nn.MultiheadAttention) -> None:
    with torch.no_grad():
        if mine.fused_qkv:
            ref.in_proj_weight.copy_(mine.in_proj.weight)
            ref.in_proj_bias.copy_(mine.in_proj.bias)
        elif ref.in_proj_weight is not None:  # torch keeps one (3E, E) weight when it can
            ref.in_proj_weight.copy_(torch.cat([mine.q_proj.weight, mine.k_proj.weight,
                                                mine.v_proj.weight]))
            ref.in_proj_bias.copy_(torch.cat([mine.q_proj.bias, mine.k_proj.bias,
                                              mine.v_proj.bias]))
        else:
            ref.q_proj_weight.copy_(mine.q_proj.weight)
            ref.k_proj_weight.copy_(mine.k_proj.weight)
            ref.v_proj_weight.copy_(mine.v_proj.weight)
            ref.in_proj_bias.copy_(torch.cat([mine.q_proj.bias, mine.k_proj.bias,
                                              mine.v_proj.bias]))
        ref.out_proj.weight.copy_(mine.out_proj.weight)
        ref.out_proj.bias.copy_(mine.out_proj.bias)


@pytest.mark.parametrize("fused_qkv", [True, False])
@pytest.mark.parametrize("fused_kernel", [True, False])
def test_mha_equals_torch_self_attention(fused_qkv, fused_kernel):
    set_seed(2)
    E, H = 12, 3
    mine = MultiHeadAttention(E, H, fused_qkv=fused_qkv, fused_kernel=fused_kernel).double()
    ref = nn.MultiheadAttention(E, H, batch_first=True).double()
    copy_into_torch(mine, ref)
    x = torch.randn(3, 6, E, **D64, requires_grad=True)
    keep = padding_mask([6, 4, 5], 6)
    causal = causal_mask(6)
    want, _ = ref(x, x, x, key_padding_mask=~keep, attn_mask=~causal, need_weights=False)
    got, none = mine(x, key_padding_mask=keep, attn_mask=causal)
    assert none is None
    torch.testing.assert_close(got, want)
    w = torch.randn_like(got)
    g_ref = torch.autograd.grad((want * w).sum(), [x, ref.out_proj.weight, ref.in_proj_bias])
    g = torch.autograd.grad((got * w).sum(), [x, mine.out_proj.weight,
                                              mine.in_proj.bias if fused_qkv else mine.v_proj.bias])
    torch.testing.assert_close(g[0], g_ref[0])
    torch.testing.assert_close(g[1], g_ref[1])
    torch.testing.assert_close(g[2], g_ref[2][2 * E:] if not fused_qkv else g_ref[2])
    # is_causal=True is the same as passing the causal mask
    torch.testing.assert_close(mine(x, key_padding_mask=keep, is_causal=True)[0], got)


def test_mha_weights_equal_torch_per_head_and_averaged():
    set_seed(3)
    E, H = 8, 2
    mine = MultiHeadAttention(E, H).double()
    ref = nn.MultiheadAttention(E, H, batch_first=True).double()
    copy_into_torch(mine, ref)
    x = torch.randn(2, 5, E, **D64)
    keep = padding_mask([5, 3], 5)
    for average in (True, False):
        want_out, want_w = ref(x, x, x, key_padding_mask=~keep, need_weights=True,
                               average_attn_weights=average)
        got_out, got_w = mine(x, key_padding_mask=keep, need_weights=True,
                              average_attn_weights=average)
        torch.testing.assert_close(got_out, want_out)
        torch.testing.assert_close(got_w, want_w)
    assert got_w.shape == (2, H, 5, 5)


def test_mha_cross_attention_with_other_key_sizes():
    set_seed(4)
    E, H, kd, vd = 8, 4, 5, 7
    mine = MultiHeadAttention(E, H, kdim=kd, vdim=vd, fused_qkv=False).double()
    ref = nn.MultiheadAttention(E, H, kdim=kd, vdim=vd, batch_first=True).double()
    copy_into_torch(mine, ref)
    q = torch.randn(2, 3, E, **D64, requires_grad=True)
    k = torch.randn(2, 9, kd, **D64, requires_grad=True)
    v = torch.randn(2, 9, vd, **D64, requires_grad=True)
    assert_same_with_grads(lambda a, b, c: mine(a, b, c)[0], lambda a, b, c: ref(a, b, c)[0],
                           (q, k, v))
    fused = MultiHeadAttention(E, H).double()  # fused weight, used by slices for cross-attention
    ref2 = nn.MultiheadAttention(E, H, batch_first=True).double()
    copy_into_torch(fused, ref2)
    mem = torch.randn(2, 9, E, **D64, requires_grad=True)
    assert_same_with_grads(lambda a, b: fused(a, b, b)[0], lambda a, b: ref2(a, b, b)[0],
                           (q, mem))
    with pytest.raises(ValueError, match="fused_qkv"):
        MultiHeadAttention(E, H, kdim=kd)


def test_mha_errors():
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadAttention(10, 3)
    with pytest.raises(ValueError, match="features"):
        MultiHeadAttention(8, 2)(torch.randn(1, 3, 6))
    with pytest.raises(ValueError, match="dimensions"):
        MultiHeadAttention(8, 2)(torch.randn(3, 8))


# ----------------------------------------------------------------------------- additive attention


def test_additive_attention_equals_formula():
    set_seed(5)
    attn = AdditiveAttention(query_dim=3, key_dim=4, hidden_dim=5).double()
    s = torch.randn(2, 3, **D64)  # decoder states
    h = torch.randn(2, 6, 4, **D64)  # encoder outputs
    mask = padding_mask([6, 4], 6)
    ctx, w = attn(s, h, mask=mask)
    for b in range(2):
        scores = torch.stack([attn.v.weight[0] @ torch.tanh(attn.w_query.weight @ s[b]
                                                            + attn.w_key.weight @ h[b, j]
                                                            + attn.w_key.bias)
                              for j in range(6)])
        scores[mask[b].logical_not()] = float("-inf")
        want = torch.softmax(scores, 0)
        torch.testing.assert_close(w[b], want)
        torch.testing.assert_close(ctx[b], want @ h[b])
    assert torch.all(w[1, 4:] == 0)
    many, w_many = attn(s[:, None].expand(2, 3, 3), h, mask=mask)  # several queries at once
    torch.testing.assert_close(many[:, 1], ctx)
    torch.testing.assert_close(w_many[:, 2], w)


# ----------------------------------------------------------------------------- seq2seq


class Chars:
    """A tiny character tokenizer for these tests (ids 0..n-1)."""

    def __init__(self, alphabet):
        self.alphabet = alphabet

    def encode(self, s):
        return [self.alphabet.index(c) for c in s]

    def decode(self, ids):
        return "".join(self.alphabet[i] for i in ids)


def copy_task(n=400, seed=0):
    g = torch.Generator().manual_seed(seed)
    alphabet = "abcdef"
    pairs = []
    for _ in range(n):
        length = int(torch.randint(2, 7, (1,), generator=g))
        s = "".join(alphabet[i] for i in torch.randint(6, (length,), generator=g).tolist())
        pairs.append((s, s[::-1]))
    return pairs, Chars(alphabet)


def test_encode_and_decode_pairs():
    pairs, tok = copy_task(5)
    src, lengths, tgt = encode_pairs(pairs, tok, tok)
    for i, (s, t) in enumerate(pairs):
        assert lengths[i] == len(s)
        assert torch.all(src[i, len(s):] == PAD)
        assert tgt[i, 0] == BOS and tgt[i, len(t) + 1] == EOS
        assert decode_ids(src[i], tok) == s and decode_ids(tgt[i, 1:], tok) == t
    assert decode_ids([5, EOS, 6], tok) == tok.decode([5 - SPECIALS])
    with pytest.raises(ValueError, match="non-empty"):
        encode_pairs([], tok, tok)


@pytest.mark.parametrize("attention", [True, False])
def test_lstm_seq2seq_shapes_padding_and_greedy(attention):
    pairs, tok = copy_task(6)
    src, lengths, tgt = encode_pairs(pairs, tok, tok)
    set_seed(6)
    model = LSTMSeq2Seq(Seq2SeqConfig(src_vocab_size=9, tgt_vocab_size=9, emb_dim=8,
                                      hidden_size=12, attention=attention)).eval()
    logits, loss = model(src, lengths, tgt[:, :-1], tgt[:, 1:])
    assert logits.shape == (6, tgt.size(1) - 1, 9) and loss.ndim == 0
    padded = torch.cat([src, torch.full((6, 4), PAD)], 1)  # extra padding changes nothing
    torch.testing.assert_close(model(padded, lengths, tgt[:, :-1])[0], logits)
    ids, maps = model.generate(src, lengths, max_len=7)
    assert ids.shape == (6, 7)
    if attention:
        assert maps.shape == (6, 7, src.size(1))
        torch.testing.assert_close(maps.sum(-1), torch.ones(6, 7))
        short = int(lengths.argmin())
        assert torch.all(maps[short, :, lengths[short]:] == 0)
    else:
        assert maps is None
    tf, _ = model(src, lengths, torch.cat([torch.full((6, 1), BOS), ids[:, :-1]], 1))
    assert torch.equal(tf.argmax(-1), ids)  # greedy = argmax of teacher forcing on its output


def test_attention_model_learns_to_reverse():
    pairs, tok = copy_task(600)
    src, lengths, tgt = encode_pairs(pairs, tok, tok)
    set_seed(7)
    model = LSTMSeq2Seq(Seq2SeqConfig(src_vocab_size=9, tgt_vocab_size=9, emb_dim=16,
                                      hidden_size=32, attention=True))
    before = exact_match(model, src[:200], lengths[:200], tgt[:200]).float().mean().item()
    losses = train_seq2seq(model, src, lengths, tgt, steps=150, batch_size=32, lr=1e-2)
    after = exact_match(model, src[:200], lengths[:200], tgt[:200]).float().mean().item()
    assert sum(losses[-10:]) / 10 < 0.3 * sum(losses[:10]) / 10
    assert before < 0.05 and after > 0.5


def test_exact_match_needs_every_token_and_eos():
    tgt = torch.tensor([[BOS, 5, 6, EOS, PAD], [BOS, 7, EOS, PAD, PAD]])

    class Fixed(nn.Module):
        def __init__(self, out):
            super().__init__()
            self.out = out

        def generate(self, src, lengths, max_len):
            return self.out[:, :max_len], None

    right = torch.tensor([[5, 6, EOS, 9], [7, EOS, 3, 3]])  # after EOS anything goes
    wrong = torch.tensor([[5, 6, 8, EOS], [7, 7, EOS, 3]])  # missing EOS / extra token
    src, lengths = torch.ones(2, 3, dtype=torch.long), torch.tensor([3, 3])
    assert exact_match(Fixed(right), src, lengths, tgt).tolist() == [True, True]
    assert exact_match(Fixed(wrong), src, lengths, tgt).tolist() == [False, False]
