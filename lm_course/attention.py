"""Attention, written out: masks, scaled dot-product attention, additive (Bahdanau)
attention, multi-head attention, and the LSTM encoder-decoder it was invented for.

**One mask convention everywhere in the package:** a boolean mask is ``True`` where a
query *may attend* to a key and ``False`` where it may not. This is the convention of
``torch.nn.functional.scaled_dot_product_attention``; ``torch.nn.MultiheadAttention``
uses the opposite one (``True`` = blocked), so pass ``~mask`` to it.

A query row whose mask is all ``False`` has nothing to look at: its attention weights
are all zero and its output is the zero vector (with zero gradient), never NaN. That is
what ``F.scaled_dot_product_attention`` does too.

>>> causal_mask(3).int()
tensor([[1, 0, 0],
        [1, 1, 0],
        [1, 1, 1]], dtype=torch.int32)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lm_course.utils import check_float, check_int, check_mask, check_tensor

# ----------------------------------------------------------------------------- masks


def causal_mask(t_q: int, t_k: int | None = None, *, device: torch.device | str | None = None
                ) -> Tensor:
    """(t_q, t_k) boolean mask: query i may attend to key j when j <= i + (t_k - t_q).

    With ``t_k > t_q`` the queries are the *last* ``t_q`` positions of a ``t_k``-long
    sequence (the situation with a KV cache), so the diagonal is shifted right.

    >>> causal_mask(2, 4).int()
    tensor([[1, 1, 1, 0],
            [1, 1, 1, 1]], dtype=torch.int32)
    """
    t_q = check_int("t_q", t_q, min_value=1)
    t_k = t_q if t_k is None else check_int("t_k", t_k, min_value=t_q)
    return torch.ones(t_q, t_k, dtype=torch.bool, device=device).tril(diagonal=t_k - t_q)


def padding_mask(lengths: Tensor | list[int], max_len: int | None = None) -> Tensor:
    """(B, max_len) boolean mask, True at the real (non-padding) positions of each sequence.

    >>> padding_mask([3, 1], max_len=4).int()
    tensor([[1, 1, 1, 0],
            [1, 0, 0, 0]], dtype=torch.int32)
    """
    lengths = torch.as_tensor(lengths)
    check_tensor("lengths", lengths, ndim=1, integer=True)
    longest = int(lengths.max()) if lengths.numel() else 0
    max_len = longest if max_len is None else check_int("max_len", max_len, min_value=longest)
    if lengths.numel() and int(lengths.min()) < 0:
        raise ValueError(f"lengths must be >= 0, got {lengths.tolist()}")
    return torch.arange(max_len, device=lengths.device) < lengths[:, None]


def combine_masks(*masks: Tensor | None) -> Tensor | None:
    """Logical AND of boolean masks that broadcast together; ``None`` entries are skipped.

    Shapes used in this package: a (T_q, T_k) causal mask, a (B, T_k) key padding mask
    (reshaped here to (B, 1, 1, T_k)), or a full (B, H, T_q, T_k) mask.
    """
    out = None
    for m in masks:
        if m is None:
            continue
        if not isinstance(m, Tensor) or m.dtype != torch.bool:
            what = f"dtype {m.dtype}" if isinstance(m, Tensor) else type(m).__name__
            raise TypeError(f"masks must be boolean tensors (True = may attend), got {what}; "
                            f"convert a 0/1 mask with mask.bool()")
        out = m if out is None else out & m
    return out


def key_padding_to_attention(key_padding_mask: Tensor) -> Tensor:
    """(B, T_k) key padding mask -> (B, 1, 1, T_k), ready to broadcast over heads and queries."""
    check_tensor("key_padding_mask", key_padding_mask, ndim=2)
    if key_padding_mask.dtype != torch.bool:
        raise TypeError("key_padding_mask must be boolean (True = real token), "
                        f"got dtype {key_padding_mask.dtype}")
    return key_padding_mask[:, None, None, :]


# ----------------------------------------------------------------------------- scaled dot product


def safe_softmax(scores: Tensor, dim: int = -1) -> Tensor:
    """Softmax that subtracts the row maximum (so logits x1000 do not overflow) and returns
    an all-zero row, not NaN, when every score in the row is -inf (a fully masked row)."""
    row_max = scores.amax(dim=dim, keepdim=True).detach()
    row_max = torch.where(torch.isfinite(row_max), row_max, torch.zeros_like(row_max))
    e = torch.exp(scores - row_max)  # exp(-inf) = 0: masked keys get exactly zero weight
    total = e.sum(dim=dim, keepdim=True)
    return e / torch.where(total > 0, total, torch.ones_like(total))


def _check_qkv(q: Tensor, k: Tensor, v: Tensor) -> None:
    """Queries, keys and values: floating tensors of one dtype whose shapes fit together."""
    for name, t in (("q", q), ("k", k), ("v", v)):
        check_tensor(name, t, floating=True)
        if t.dim() < 2:
            raise ValueError(f"{name} must have shape (..., T, d), got {tuple(t.shape)}")
    if not q.dtype == k.dtype == v.dtype:
        raise TypeError(f"q, k and v must share one dtype, got {q.dtype}, {k.dtype}, {v.dtype}")
    if q.size(-1) != k.size(-1) or k.size(-2) != v.size(-2):
        raise ValueError(f"shapes do not fit: q {tuple(q.shape)}, k {tuple(k.shape)}, "
                         f"v {tuple(v.shape)}; need q[-1] == k[-1] and k[-2] == v[-2]")


def scaled_dot_product_attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None,
                                 *, dropout_p: float = 0.0, scale: float | None = None
                                 ) -> tuple[Tensor, Tensor]:
    """softmax(q kᵀ / √d_k + mask) v, written out; returns ``(output, weights)``.

    q: (..., T_q, d_k), k: (..., T_k, d_k), v: (..., T_k, d_v). ``mask`` broadcasts to
    (..., T_q, T_k): boolean (True = may attend) or float (added to the scores, e.g. 0/-inf).
    ``dropout_p`` drops attention weights (and rescales the rest) — pass 0 at evaluation.
    The returned weights are those before dropout.
    """
    _check_qkv(q, k, v)
    check_mask("mask", mask, q.size(-2), k.size(-2))
    dropout_p = check_float("dropout_p", dropout_p, low=0.0, high=1.0, high_inclusive=False)
    scale = 1.0 / math.sqrt(q.size(-1)) if scale is None else check_float(
        "scale", scale, low=0.0, low_inclusive=False)
    scores = (q @ k.transpose(-2, -1)) * scale  # (..., T_q, T_k)
    if mask is not None:
        if mask.dtype == torch.bool:
            scores = scores.masked_fill(~mask, float("-inf"))
        else:
            scores = scores + mask
    weights = safe_softmax(scores, dim=-1)  # (..., T_q, T_k), rows sum to 1 (or 0 if masked)
    dropped = F.dropout(weights, p=dropout_p) if dropout_p > 0 else weights
    return dropped @ v, weights  # (..., T_q, d_v)


# ----------------------------------------------------------------------------- additive attention


class AdditiveAttention(nn.Module):
    """Bahdanau's additive attention: score(s, h) = vᵀ tanh(W_q s + W_k h).

    ``query``: (B, d_q) — one decoder state — or (B, T_q, d_q); ``keys``: (B, T_k, d_k);
    ``values`` default to the keys; ``mask``: (B, T_k) boolean, True = real token.
    Returns ``(context, weights)`` with shapes (B[, T_q], d_v) and (B[, T_q], T_k).
    """

    def __init__(self, query_dim: int, key_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.w_query = nn.Linear(check_int("query_dim", query_dim, min_value=1),
                                 check_int("hidden_dim", hidden_dim, min_value=1), bias=False)
        self.w_key = nn.Linear(check_int("key_dim", key_dim, min_value=1), hidden_dim)
        self.v = nn.Linear(hidden_dim, 1, bias=False)

    def project_keys(self, keys: Tensor) -> Tensor:
        """W_k h for all keys; compute once per source sentence, reuse at every decoder step."""
        return self.w_key(keys)  # (B, T_k, hidden)

    def forward(self, query: Tensor, keys: Tensor, values: Tensor | None = None,
                mask: Tensor | None = None, projected_keys: Tensor | None = None
                ) -> tuple[Tensor, Tensor]:
        values = keys if values is None else values
        single = query.dim() == 2
        q = self.w_query(query[:, None, :] if single else query)  # (B, T_q, hidden)
        pk = self.project_keys(keys) if projected_keys is None else projected_keys
        scores = self.v(torch.tanh(q[:, :, None, :] + pk[:, None, :, :])).squeeze(-1)  # (B,T_q,T_k)
        if mask is not None:
            scores = scores.masked_fill(~mask[:, None, :], float("-inf"))
        weights = safe_softmax(scores, dim=-1)  # (B, T_q, T_k)
        context = weights @ values  # (B, T_q, d_v)
        if single:
            return context[:, 0], weights[:, 0]
        return context, weights


# ----------------------------------------------------------------------------- multi-head


def split_heads(x: Tensor, n_head: int) -> Tensor:
    """(B, T, H*D) -> (B, H, T, D): each head gets its own slice of the channels."""
    check_tensor("x", x, ndim=3)
    check_int("n_head", n_head, min_value=1)
    if x.size(-1) % n_head:
        raise ValueError(f"x has {x.size(-1)} channels, not divisible by n_head={n_head}")
    return rearrange(x, "b t (h d) -> b h t d", h=n_head)


def merge_heads(x: Tensor) -> Tensor:
    """(B, H, T, D) -> (B, T, H*D), the inverse of :func:`split_heads`."""
    check_tensor("x", x, ndim=4)
    return rearrange(x, "b h t d -> b t (h d)")


class MultiHeadAttention(nn.Module):
    """Multi-head attention: H scaled dot-product attentions on learned projections, concatenated
    and mixed by an output projection — the same computation as ``nn.MultiheadAttention``.

    ``fused_qkv=True`` keeps the three input projections in one (3E, E) weight (one matmul in
    self-attention, like ``in_proj_weight``); ``False`` keeps three separate ``nn.Linear`` (needed
    when keys/values have other sizes, ``kdim``/``vdim``). ``fused_kernel=True`` computes
    attention with ``F.scaled_dot_product_attention``; ``False`` (or ``need_weights=True``)
    uses the written-out :func:`scaled_dot_product_attention` — the two are tested equal.
    Inputs are batch-first: (B, T, E).
    """

    def __init__(self, embed_dim: int, num_heads: int, *, dropout: float = 0.0,
                 bias: bool = True, kdim: int | None = None, vdim: int | None = None,
                 fused_qkv: bool = True, fused_kernel: bool = True) -> None:
        super().__init__()
        embed_dim = check_int("embed_dim", embed_dim, min_value=1)
        num_heads = check_int("num_heads", num_heads, min_value=1)
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim={embed_dim} must be divisible by num_heads={num_heads}")
        kdim = embed_dim if kdim is None else check_int("kdim", kdim, min_value=1)
        vdim = embed_dim if vdim is None else check_int("vdim", vdim, min_value=1)
        if fused_qkv and (kdim != embed_dim or vdim != embed_dim):
            raise ValueError("fused_qkv=True needs kdim == vdim == embed_dim; "
                             f"got kdim={kdim}, vdim={vdim}, embed_dim={embed_dim}")
        self.embed_dim, self.num_heads, self.head_dim = embed_dim, num_heads, embed_dim // num_heads
        self.dropout = check_float("dropout", dropout, low=0.0, high=1.0, high_inclusive=False)
        self.fused_qkv, self.fused_kernel = fused_qkv, fused_kernel
        if fused_qkv:
            self.in_proj = nn.Linear(embed_dim, 3 * embed_dim, bias=bias)
        else:
            self.q_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
            self.k_proj = nn.Linear(kdim, embed_dim, bias=bias)
            self.v_proj = nn.Linear(vdim, embed_dim, bias=bias)
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias)

    def project(self, query: Tensor, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Input projections and head split: three tensors of shape (B, H, T, D)."""
        if not self.fused_qkv:
            q, k, v = self.q_proj(query), self.k_proj(key), self.v_proj(value)
        elif key is query and value is query:  # self-attention: one (E -> 3E) matmul
            q, k, v = self.in_proj(query).chunk(3, dim=-1)  # 3 x (B, T, E)
        else:  # cross-attention with the fused weight: use its three slices
            w = self.in_proj.weight.chunk(3, dim=0)
            b = self.in_proj.bias.chunk(3) if self.in_proj.bias is not None else (None,) * 3
            q, k, v = F.linear(query, w[0], b[0]), F.linear(key, w[1], b[1]), \
                F.linear(value, w[2], b[2])
        return split_heads(q, self.num_heads), split_heads(k, self.num_heads), \
            split_heads(v, self.num_heads)

    def attend(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None,
               is_causal: bool = False, need_weights: bool = False
               ) -> tuple[Tensor, Tensor | None]:
        """Attention on projected heads (B, H, T, D); ``mask`` boolean, broadcast to
        (B, H, T_q, T_k). Returns the (B, H, T_q, D) output and the weights if asked."""
        t_q, t_k = q.size(-2), k.size(-2)
        if is_causal and t_q == 1:  # one query at the last position: every key is in its past
            is_causal = False
        if is_causal and (mask is not None or t_q != t_k or need_weights or not self.fused_kernel):
            mask = combine_masks(mask, causal_mask(t_q, t_k, device=q.device))
            is_causal = False
        p = self.dropout if self.training else 0.0
        if self.fused_kernel and not need_weights:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p,
                                                 is_causal=is_causal)
            return out, None
        out, weights = scaled_dot_product_attention(q, k, v, mask, dropout_p=p)
        return out, (weights if need_weights else None)

    def forward(self, query: Tensor, key: Tensor | None = None, value: Tensor | None = None, *,
                attn_mask: Tensor | None = None, key_padding_mask: Tensor | None = None,
                is_causal: bool = False, need_weights: bool = False,
                average_attn_weights: bool = True) -> tuple[Tensor, Tensor | None]:
        """query (B, T_q, E); key/value (B, T_k, ·), default: the query (self-attention).

        ``attn_mask``: boolean (T_q, T_k) or (B, H, T_q, T_k), True = may attend;
        ``key_padding_mask``: boolean (B, T_k), True = real token; ``is_causal`` adds the
        causal mask (with T_q < T_k the queries are the *last* T_q positions, as with a KV
        cache — see :func:`causal_mask`). Returns ``(output (B, T_q, E), weights)``; the
        weights are (B, T_q, T_k) averaged over heads, (B, H, T_q, T_k) per head, or None
        unless ``need_weights``.
        """
        check_tensor("query", query, ndim=3, floating=True)
        key = query if key is None else key
        value = key if value is None else value
        if query.size(-1) != self.embed_dim:
            raise ValueError(f"query must have {self.embed_dim} features, got shape "
                             f"{tuple(query.shape)}")
        kdim = self.embed_dim if self.fused_qkv else self.k_proj.in_features
        vdim = self.embed_dim if self.fused_qkv else self.v_proj.in_features
        for name, t, dim in (("key", key, kdim), ("value", value, vdim)):
            check_tensor(name, t, ndim=3, floating=True)
            if t.dtype != query.dtype or t.size(0) != query.size(0) or t.size(-1) != dim:
                raise ValueError(f"{name} must be (B={query.size(0)}, T_k, {dim}) of dtype "
                                 f"{query.dtype}, got shape {tuple(t.shape)} of {t.dtype}")
        if key.size(1) != value.size(1):
            raise ValueError(f"key and value must have the same length T_k, got shapes "
                             f"{tuple(key.shape)} and {tuple(value.shape)}")
        if attn_mask is not None and attn_mask.dtype != torch.bool:
            raise TypeError(f"attn_mask must be boolean (True = may attend), got dtype "
                            f"{attn_mask.dtype}; convert a 0/1 mask with mask.bool()")
        check_mask("attn_mask", attn_mask, query.size(1), key.size(1))
        if key_padding_mask is not None:
            check_tensor("key_padding_mask", key_padding_mask, ndim=2)
            if tuple(key_padding_mask.shape) != (key.size(0), key.size(1)):
                raise ValueError(f"key_padding_mask must be (B, T_k) = "
                                 f"({key.size(0)}, {key.size(1)}), got shape "
                                 f"{tuple(key_padding_mask.shape)}")
        pad = None if key_padding_mask is None else key_padding_to_attention(key_padding_mask)
        mask = combine_masks(attn_mask, pad)  # (B | 1, 1, T_q, T_k) or None
        q, k, v = self.project(query, key, value)  # (B, H, T, D) each
        out, weights = self.attend(q, k, v, mask, is_causal=is_causal, need_weights=need_weights)
        out = self.out_proj(merge_heads(out))  # (B, T_q, E)
        if weights is not None and average_attn_weights:
            weights = weights.mean(dim=1)  # (B, T_q, T_k)
        return out, weights


# ----------------------------------------------------------------------------- seq2seq with LSTMs
# Token ids for the sequence-to-sequence models: 0 = padding, 1 = start, 2 = end; a
# tokenizer's ids are shifted up by SPECIALS.

PAD, BOS, EOS = 0, 1, 2
SPECIALS = 3


def encode_pairs(pairs: list[tuple[str, str]], src_tokenizer, tgt_tokenizer
                 ) -> tuple[Tensor, Tensor, Tensor]:
    """Encode (source, target) string pairs to padded id tensors for seq2seq training.

    Returns ``src`` (N, S) with PAD after each sentence, ``src_lengths`` (N,), and ``tgt``
    (N, T) = BOS, target ids, EOS, PAD...; ``tgt[:, :-1]`` is the decoder input and
    ``tgt[:, 1:]`` its targets.
    """
    if not pairs:
        raise ValueError("pairs must be a non-empty list of (source, target) strings")
    srcs = [[i + SPECIALS for i in src_tokenizer.encode(s)] for s, _ in pairs]
    tgts = [[BOS] + [i + SPECIALS for i in tgt_tokenizer.encode(t)] + [EOS] for _, t in pairs]
    src = torch.full((len(pairs), max(map(len, srcs))), PAD, dtype=torch.long)
    tgt = torch.full((len(pairs), max(map(len, tgts))), PAD, dtype=torch.long)
    for i, (s, t) in enumerate(zip(srcs, tgts, strict=True)):
        src[i, : len(s)] = torch.tensor(s)
        tgt[i, : len(t)] = torch.tensor(t)
    return src, torch.tensor([len(s) for s in srcs]), tgt


def decode_ids(ids: Tensor | list[int], tokenizer) -> str:
    """Model output ids -> text: stop at the first EOS, drop specials, undo the shift."""
    out = []
    for i in ids.tolist() if isinstance(ids, Tensor) else ids:
        if i == EOS:
            break
        if i >= SPECIALS:
            out.append(i - SPECIALS)
    return tokenizer.decode(out)


@dataclass(frozen=True)
class Seq2SeqConfig:
    src_vocab_size: int = 64  # source tokens, specials included
    tgt_vocab_size: int = 16  # target tokens, specials included
    emb_dim: int = 32  # token embedding size (encoder and decoder)
    hidden_size: int = 64  # LSTM state size (the encoder is bidirectional: 2 x this)
    attention: bool = True  # Bahdanau attention (True) or the fixed-vector bottleneck (False)
    dropout: float = 0.0  # dropout on embeddings and decoder outputs

    def __post_init__(self) -> None:
        for name in ("src_vocab_size", "tgt_vocab_size"):
            check_int(name, getattr(self, name), min_value=SPECIALS + 1)
        check_int("emb_dim", self.emb_dim, min_value=1)
        check_int("hidden_size", self.hidden_size, min_value=1)
        check_float("dropout", self.dropout, low=0.0, high=1.0, high_inclusive=False)


class LSTMSeq2Seq(nn.Module):
    """A bidirectional-LSTM encoder and an LSTM decoder, with or without Bahdanau attention.

    Without attention the decoder only sees the encoder's final states: the whole source
    must squeeze through one fixed-size vector. With attention, at each step the decoder's
    previous state scores every encoder output, and the weighted sum (the *context*) is fed
    to the decoder and to the output layer.
    """

    def __init__(self, config: Seq2SeqConfig) -> None:
        super().__init__()
        self.config = c = config
        h = c.hidden_size
        self.src_emb = nn.Embedding(c.src_vocab_size, c.emb_dim, padding_idx=PAD)
        self.tgt_emb = nn.Embedding(c.tgt_vocab_size, c.emb_dim, padding_idx=PAD)
        self.encoder = nn.LSTM(c.emb_dim, h, batch_first=True, bidirectional=True)
        self.bridge_h, self.bridge_c = nn.Linear(2 * h, h), nn.Linear(2 * h, h)
        ctx = 2 * h if c.attention else 0
        self.decoder = nn.LSTMCell(c.emb_dim + ctx, h)
        self.attn = AdditiveAttention(h, 2 * h, h) if c.attention else None
        self.drop = nn.Dropout(c.dropout)
        self.out = nn.Linear(h + ctx, c.tgt_vocab_size)

    def encode(self, src: Tensor, src_lengths: Tensor) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """Encoder outputs (B, S, 2h) and the decoder's initial state from the final states."""
        emb = self.drop(self.src_emb(src))  # (B, S, emb)
        packed = pack_padded_sequence(emb, src_lengths.cpu(), batch_first=True,
                                      enforce_sorted=False)
        out, (h_n, c_n) = self.encoder(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=src.size(1))  # (B,S,2h)
        h0 = torch.tanh(self.bridge_h(torch.cat([h_n[0], h_n[1]], dim=-1)))  # (B, h)
        c0 = self.bridge_c(torch.cat([c_n[0], c_n[1]], dim=-1))  # (B, h)
        return out, (h0, c0)

    def _step(self, y_prev: Tensor, state: tuple[Tensor, Tensor], memory: Tensor,
              keys: Tensor | None, mask: Tensor) -> tuple[Tensor, tuple[Tensor, Tensor], Tensor]:
        emb = self.drop(self.tgt_emb(y_prev))  # (B, emb)
        if self.attn is None:
            h, c = self.decoder(emb, state)
            return self.out(self.drop(h)), (h, c), None
        context, weights = self.attn(state[0], memory, mask=mask, projected_keys=keys)  # (B,2h)
        h, c = self.decoder(torch.cat([emb, context], dim=-1), state)
        logits = self.out(self.drop(torch.cat([h, context], dim=-1)))  # (B, V)
        return logits, (h, c), weights

    def forward(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor,
                targets: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """Teacher forcing: logits (B, T, V) for decoder inputs ``tgt_in`` (B, T), and the
        mean cross-entropy against ``targets`` (PAD ignored) when given."""
        memory, state = self.encode(src, src_lengths)
        mask = padding_mask(src_lengths.to(src.device), src.size(1))
        keys = self.attn.project_keys(memory) if self.attn is not None else None
        logits = []
        for t in range(tgt_in.size(1)):
            step_logits, state, _ = self._step(tgt_in[:, t], state, memory, keys, mask)
            logits.append(step_logits)
        logits = torch.stack(logits, dim=1)  # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=PAD)
        return logits, loss

    @torch.no_grad()
    def generate(self, src: Tensor, src_lengths: Tensor, max_len: int
                 ) -> tuple[Tensor, Tensor | None]:
        """Greedy decoding: ids (B, max_len) and attention weights (B, max_len, S) or None."""
        memory, state = self.encode(src, src_lengths)
        mask = padding_mask(src_lengths.to(src.device), src.size(1))
        keys = self.attn.project_keys(memory) if self.attn is not None else None
        y = torch.full((src.size(0),), BOS, dtype=torch.long, device=src.device)
        ids, maps = [], []
        for _ in range(max_len):
            logits, state, weights = self._step(y, state, memory, keys, mask)
            y = logits.argmax(-1)
            ids.append(y)
            maps.append(weights)
        return torch.stack(ids, 1), (torch.stack(maps, 1) if self.attn is not None else None)


def train_seq2seq(model: nn.Module, src: Tensor, src_lengths: Tensor, tgt: Tensor, *,
                  steps: int, batch_size: int = 64, lr: float = 3e-3, clip: float = 1.0,
                  seed: int = 0, optimizer: torch.optim.Optimizer | None = None) -> list[float]:
    """Train any seq2seq model of this package (``forward(src, src_lengths, tgt_in, targets)``)
    on random mini-batches; returns the loss of every step.

    Uses Adam(lr) unless ``optimizer`` is given (pass the same one to continue training in
    several calls, e.g. to evaluate in between); gradients are clipped to norm ``clip``.
    """
    check_int("steps", steps, min_value=1)
    check_int("batch_size", batch_size, min_value=1)
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr) if optimizer is None else optimizer
    model.train()
    losses = []
    for _ in range(steps):
        idx = torch.randint(len(src), (batch_size,), generator=g)
        s_len = src_lengths[idx]
        s = src[idx, : int(s_len.max())]
        t = tgt[idx]
        t = t[:, : int((t != PAD).sum(1).max())]
        _, loss = model(s, s_len, t[:, :-1], t[:, 1:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        losses.append(loss.item())
    model.eval()
    return losses


def exact_match(model: nn.Module, src: Tensor, src_lengths: Tensor, tgt: Tensor,
                batch_size: int = 500) -> Tensor:
    """Greedy-decode every source; (N,) boolean, True where the output equals the target
    exactly (up to and including EOS)."""
    model.eval()
    hits = []
    max_len = tgt.size(1) - 1
    for i in range(0, len(src), batch_size):
        s_len = src_lengths[i: i + batch_size]
        ids, _ = model.generate(src[i: i + batch_size, : int(s_len.max())], s_len, max_len)
        want = tgt[i: i + batch_size, 1:]  # (b, max_len)
        real = want != PAD
        hits.append(((ids == want) | ~real).all(dim=1))
    return torch.cat(hits)


__all__ = [
    "BOS", "EOS", "PAD", "SPECIALS", "AdditiveAttention", "LSTMSeq2Seq", "MultiHeadAttention",
    "Seq2SeqConfig", "causal_mask", "combine_masks", "decode_ids",
    "encode_pairs", "exact_match", "key_padding_to_attention", "merge_heads", "padding_mask",
    "safe_softmax", "scaled_dot_product_attention", "split_heads", "train_seq2seq",
]
