"""The Transformer, assembled from chapter 04's attention: positional encodings, pre-LN and
post-LN blocks, a GPT decoder with a KV cache, and an encoder-decoder for seq2seq tasks.

A block is attention then an MLP, each wrapped in a residual connection and a LayerNorm.
*Pre-LN* (GPT-2 onwards) normalises the input of each sub-layer, ``x + f(LN(x))``; *post-LN*
(the 2017 paper) normalises after the residual add, ``LN(x + f(x))``.

>>> cfg = GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8)
>>> logits, loss = GPT(cfg)(torch.zeros(2, 5, dtype=torch.long))
>>> tuple(logits.shape), loss is None
((2, 5, 11), True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lm_course.attention import (
    BOS,
    PAD,
    MultiHeadAttention,
    key_padding_to_attention,
    merge_heads,
    padding_mask,
)
from lm_course.utils import check_choice, check_float, check_int, check_tensor

# ----------------------------------------------------------------------------- positions


def sinusoidal_encoding(n_positions: int, d_model: int, base: float = 10000.0) -> Tensor:
    """(n_positions, d_model) table: PE[p, 2i] = sin(p / base^(2i/d)), PE[p, 2i+1] = cos(same).

    >>> sinusoidal_encoding(2, 4)[0]  # position 0: sin 0 = 0, cos 0 = 1
    tensor([0., 1., 0., 1.])
    >>> round(sinusoidal_encoding(2, 4)[1, 0].item(), 6) == round(math.sin(1.0), 6)
    True
    """
    check_int("n_positions", n_positions, min_value=1)
    check_int("d_model", d_model, min_value=1)
    pos = torch.arange(n_positions, dtype=torch.float64)[:, None]  # (P, 1)
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)  # (ceil(d/2),)
    angle = pos / base ** (two_i / d_model)  # (P, ceil(d/2))
    table = torch.zeros(n_positions, d_model, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angle)
    table[:, 1::2] = torch.cos(angle[:, : d_model // 2])
    return table.float()


class SinusoidalPositionalEncoding(nn.Module):
    """Fixed sinusoidal encodings (Vaswani et al., 2017), looked up by position."""

    def __init__(self, max_positions: int, d_model: int) -> None:
        super().__init__()
        self.register_buffer("table", sinusoidal_encoding(max_positions, d_model),
                             persistent=False)

    def forward(self, positions: Tensor) -> Tensor:
        return self.table[positions]  # (T, C)


class LearnedPositionalEmbedding(nn.Module):
    """One trained vector per position (GPT-2); cannot go past ``max_positions``."""

    def __init__(self, max_positions: int, d_model: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(max_positions, d_model))
        nn.init.normal_(self.weight, std=0.02)

    def forward(self, positions: Tensor) -> Tensor:
        return self.weight[positions]  # (T, C)


class RotaryEmbedding(nn.Module):
    """Rotary position embedding (RoPE, Su et al. 2021) for one attention head.

    Channels (2i, 2i+1) of a query or key at position p are rotated by the angle
    p·θ_i, θ_i = base^(-2i/D). A rotation by p·θ on q and n·θ on k leaves
    ``q_pᵀ k_n`` depending on the offset p − n only: relative position for free.
    """

    def __init__(self, head_dim: int, max_positions: int, base: float = 10000.0) -> None:
        super().__init__()
        check_int("head_dim", head_dim, min_value=2)
        if head_dim % 2:
            raise ValueError(f"RoPE needs an even head dimension, got head_dim={head_dim}")
        check_int("max_positions", max_positions, min_value=1)
        theta = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
        angle = torch.arange(max_positions, dtype=torch.float64)[:, None] * theta  # (P, D/2)
        # kept in float64 and cast per call, so a float64 model gets float64-exact angles
        self.register_buffer("cos", angle.cos(), persistent=False)
        self.register_buffer("sin", angle.sin(), persistent=False)

    def forward(self, x: Tensor, positions: Tensor) -> Tensor:
        """Rotate x (..., T, D) whose rows sit at ``positions`` (T,)."""
        cos, sin = self.cos[positions].to(x.dtype), self.sin[positions].to(x.dtype)  # (T, D/2)
        x1, x2 = x[..., 0::2], x[..., 1::2]  # even and odd channels, (..., T, D/2)
        rotated = torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)
        return rotated.flatten(-2)  # (..., T, D), pairs back in place


# ----------------------------------------------------------------------------- blocks


class KVCache:
    """Keys and values of every layer for the tokens seen so far, preallocated to
    ``max_len`` so that decoding one more token costs one write, not a concatenation.

    Shapes: ``keys``/``values`` are (n_layer, B, H, max_len, D); ``length`` tokens are filled.
    """

    def __init__(self, n_layer: int, batch_size: int, n_head: int, max_len: int,
                 head_dim: int, *, dtype: torch.dtype = torch.float32,
                 device: torch.device | str | None = None) -> None:
        shape = (n_layer, check_int("batch_size", batch_size, min_value=1), n_head, max_len,
                 head_dim)
        self.keys = torch.zeros(shape, dtype=dtype, device=device)
        self.values = torch.zeros(shape, dtype=dtype, device=device)
        self.max_len = max_len
        self._length = 0

    @property
    def length(self) -> int:
        """Number of tokens cached so far (the position of the next token)."""
        return self._length

    @property
    def batch_size(self) -> int:
        return self.keys.size(1)

    def update(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Write the new (B, H, T, D) keys/values of ``layer`` after the cached ones and return
        all of them, (B, H, length + T, D). ``advance`` moves ``length`` once all layers ran."""
        end = self._length + k.size(2)
        if end > self.max_len:
            raise ValueError(f"KV cache holds at most {self.max_len} tokens; "
                             f"{self._length} cached + {k.size(2)} new is too many")
        self.keys[layer, :, :, self._length: end] = k
        self.values[layer, :, :, self._length: end] = v
        return self.keys[layer, :, :, :end], self.values[layer, :, :, :end]

    def advance(self, n: int) -> None:
        self._length += n

    def crop(self, length: int) -> None:
        """Forget everything after the first ``length`` tokens (e.g. to retry a step)."""
        self._length = check_int("length", length, min_value=0, max_value=self._length)

    def reorder(self, index: Tensor) -> None:
        """Keep batch rows ``index`` (B',): beam search reorders its hypotheses this way."""
        self.keys = self.keys.index_select(1, index)
        self.values = self.values.index_select(1, index)


class SelfAttention(MultiHeadAttention):
    """Multi-head self-attention with the extras a Transformer needs: RoPE on queries and
    keys, and a KV cache (queries are then the new tokens, keys all tokens so far)."""

    def forward(self, x: Tensor, *, key_padding_mask: Tensor | None = None,
                is_causal: bool = False, rope: RotaryEmbedding | None = None,
                positions: Tensor | None = None, kv_cache: KVCache | None = None,
                layer: int = 0, need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        q, k, v = self.project(x, x, x)  # (B, H, T, D) each
        if rope is not None:
            q, k = rope(q, positions), rope(k, positions)
        if kv_cache is not None:
            k, v = kv_cache.update(layer, k, v)  # (B, H, S, D), S = cached + T
        mask = None if key_padding_mask is None else key_padding_to_attention(key_padding_mask)
        out, weights = self.attend(q, k, v, mask, is_causal=is_causal, need_weights=need_weights)
        return self.out_proj(merge_heads(out)), weights  # (B, T, C)


class MLP(nn.Module):
    """Position-wise feed-forward network: Linear(C, d_ff) -> activation -> Linear(d_ff, C)."""

    def __init__(self, d_model: int, d_ff: int, bias: bool = True,
                 activation: str = "gelu") -> None:
        super().__init__()
        check_choice("activation", activation, ["gelu", "relu"])
        self.fc = nn.Linear(d_model, d_ff, bias=bias)
        self.act = nn.GELU() if activation == "gelu" else nn.ReLU()
        self.proj = nn.Linear(d_ff, d_model, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(self.act(self.fc(x)))  # (B, T, d_ff) inside, (B, T, C) out


class Block(nn.Module):
    """Self-attention + MLP with residuals and LayerNorm, pre-LN or post-LN.

    Used bidirectionally (a Transformer encoder layer, equal to ``nn.TransformerEncoderLayer``)
    or causally (a GPT block). With ``need_weights=True`` the attention weights of the last
    call are kept in ``self.attn_weights`` (B, H, T_q, T_k) for plots.
    """

    def __init__(self, d_model: int, n_head: int, d_ff: int | None = None, *,
                 dropout: float = 0.0, bias: bool = True, norm_first: bool = True,
                 activation: str = "gelu", layer_norm_eps: float = 1e-5,
                 fused_attention: bool = True) -> None:
        super().__init__()
        d_ff = 4 * d_model if d_ff is None else check_int("d_ff", d_ff, min_value=1)
        self.norm_first = norm_first
        self.ln_1 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.attn = SelfAttention(d_model, n_head, dropout=dropout, bias=bias,
                                  fused_kernel=fused_attention)
        self.ln_2 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.mlp = MLP(d_model, d_ff, bias=bias, activation=activation)
        self.drop = nn.Dropout(dropout)
        self.attn_weights: Tensor | None = None

    def forward(self, x: Tensor, *, need_weights: bool = False, **attn_kwargs) -> Tensor:
        """x (B, T, C) -> (B, T, C); ``attn_kwargs`` go to :class:`SelfAttention`."""
        if self.norm_first:
            a, w = self.attn(self.ln_1(x), need_weights=need_weights, **attn_kwargs)
            x = x + self.drop(a)  # residual stream += attention's contribution
            x = x + self.drop(self.mlp(self.ln_2(x)))  # residual stream += MLP's contribution
        else:
            a, w = self.attn(x, need_weights=need_weights, **attn_kwargs)
            x = self.ln_1(x + self.drop(a))
            x = self.ln_2(x + self.drop(self.mlp(x)))
        self.attn_weights = w
        return x


class DecoderBlock(nn.Module):
    """Causal self-attention, cross-attention to the encoder's output, MLP; pre- or post-LN.
    Equal to ``nn.TransformerDecoderLayer``. ``cross_weights`` keeps the last cross-attention
    weights (B, H, T, S) when called with ``need_weights=True``."""

    def __init__(self, d_model: int, n_head: int, d_ff: int | None = None, *,
                 dropout: float = 0.0, bias: bool = True, norm_first: bool = True,
                 activation: str = "gelu", layer_norm_eps: float = 1e-5) -> None:
        super().__init__()
        d_ff = 4 * d_model if d_ff is None else d_ff
        self.norm_first = norm_first
        self.self_attn = SelfAttention(d_model, n_head, dropout=dropout, bias=bias)
        self.cross_attn = MultiHeadAttention(d_model, n_head, dropout=dropout, bias=bias)
        self.mlp = MLP(d_model, d_ff, bias=bias, activation=activation)
        self.ln_1, self.ln_2, self.ln_3 = (nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
                                           for _ in range(3))
        self.drop = nn.Dropout(dropout)
        self.cross_weights: Tensor | None = None

    def _cross(self, x: Tensor, memory: Tensor, memory_mask: Tensor | None, need: bool) -> Tensor:
        out, self.cross_weights = self.cross_attn(
            x, memory, memory, key_padding_mask=memory_mask, need_weights=need,
            average_attn_weights=False)
        return self.drop(out)

    def forward(self, x: Tensor, memory: Tensor, memory_mask: Tensor | None = None,
                need_weights: bool = False) -> Tensor:
        """x (B, T, C) target side, memory (B, S, C) encoder output, memory_mask (B, S) True =
        real source token."""
        if self.norm_first:
            x = x + self.drop(self.self_attn(self.ln_1(x), is_causal=True)[0])
            x = x + self._cross(self.ln_2(x), memory, memory_mask, need_weights)
            x = x + self.drop(self.mlp(self.ln_3(x)))
        else:
            x = self.ln_1(x + self.drop(self.self_attn(x, is_causal=True)[0]))
            x = self.ln_2(x + self._cross(x, memory, memory_mask, need_weights))
            x = self.ln_3(x + self.drop(self.mlp(x)))
        return x


# ----------------------------------------------------------------------------- GPT


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int = 65  # tokens in the vocabulary
    block_size: int = 128  # maximum context length
    n_layer: int = 4  # Transformer blocks
    n_head: int = 4  # attention heads per block
    n_embd: int = 128  # width of the residual stream
    dropout: float = 0.0  # on embeddings, attention weights and residual branches
    bias: bool = True  # biases in Linear and LayerNorm
    pos_encoding: str = "learned"  # "learned" | "sinusoidal" | "rope"
    norm_first: bool = True  # pre-LN (True) or post-LN blocks
    tie_weights: bool = True  # share token embedding and output head
    fused_attention: bool = True  # F.scaled_dot_product_attention; False = written out

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            check_int(name, getattr(self, name), min_value=1)
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd={self.n_embd} must be divisible by n_head={self.n_head}")
        check_float("dropout", self.dropout, low=0.0, high=1.0, high_inclusive=False)
        check_choice("pos_encoding", self.pos_encoding, ["learned", "sinusoidal", "rope"])
        if self.pos_encoding == "rope" and (self.n_embd // self.n_head) % 2:
            raise ValueError(f"pos_encoding='rope' needs an even head size, got n_embd/n_head = "
                             f"{self.n_embd // self.n_head}")


def check_token_ids(name: str, idx: Tensor, vocab_size: int, allow: int | None = None) -> None:
    """Raise unless ``idx`` is an integer tensor of ids in [0, vocab_size) (or == ``allow``)."""
    check_tensor(name, idx, ndim=2, integer=True)
    if idx.numel() == 0:
        raise ValueError(f"{name} must hold at least one token, got shape {tuple(idx.shape)}")
    ok = idx if allow is None else idx.masked_fill(idx == allow, 0)
    lo, hi = torch.aminmax(ok)
    if lo < 0 or hi >= vocab_size:
        raise ValueError(f"{name} must hold token ids in [0, {vocab_size - 1}], "
                         f"got values from {int(lo)} to {int(hi)}")


class GPT(nn.Module):
    """A decoder-only Transformer language model: token (+ position) embeddings, ``n_layer``
    causal blocks, a final LayerNorm (pre-LN) and a linear head to next-token logits."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        if not isinstance(config, GPTConfig):
            raise TypeError(f"config must be a GPTConfig, got {type(config).__name__}")
        self.config = c = config
        self.tok_emb = nn.Embedding(c.vocab_size, c.n_embd)
        self.pos_emb: nn.Module | None = {
            "learned": lambda: LearnedPositionalEmbedding(c.block_size, c.n_embd),
            "sinusoidal": lambda: SinusoidalPositionalEncoding(c.block_size, c.n_embd),
            "rope": lambda: None,
        }[c.pos_encoding]()
        self.rope = (RotaryEmbedding(c.n_embd // c.n_head, c.block_size)
                     if c.pos_encoding == "rope" else None)
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(
            Block(c.n_embd, c.n_head, 4 * c.n_embd, dropout=c.dropout, bias=c.bias,
                  norm_first=c.norm_first, fused_attention=c.fused_attention)
            for _ in range(c.n_layer))
        self.ln_f = nn.LayerNorm(c.n_embd, bias=c.bias) if c.norm_first else nn.Identity()
        self.lm_head = nn.Linear(c.n_embd, c.vocab_size, bias=False)
        if c.tie_weights:
            self.lm_head.weight = self.tok_emb.weight  # one (V, C) matrix, used twice
        self.apply(self._init_weights)
        # Scaled residual init (GPT-2): each block adds two branches to the residual stream,
        # so shrink their output projections by 1/sqrt(2 n_layer) to keep its variance ~flat.
        for block in self.blocks:
            for proj in (block.attn.out_proj, block.mlp.proj):
                nn.init.normal_(proj.weight, std=0.02 / math.sqrt(2 * c.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def new_kv_cache(self, batch_size: int) -> KVCache:
        """An empty cache for ``batch_size`` sequences, on this model's device and dtype."""
        c, p = self.config, self.tok_emb.weight
        return KVCache(c.n_layer, batch_size, c.n_head, c.block_size, c.n_embd // c.n_head,
                       dtype=p.dtype, device=p.device)

    def hidden_states(self, idx: Tensor, kv_cache: KVCache | None = None,
                      need_weights: bool = False) -> Tensor:
        """idx (B, T) token ids -> the last layer's (normalised) states (B, T, C): what the
        head turns into logits, and what a classification head reads (chapter 08)."""
        c = self.config
        check_token_ids("idx", idx, c.vocab_size)
        B, T = idx.shape
        start = 0 if kv_cache is None else kv_cache.length
        if start + T > c.block_size:
            raise ValueError(f"sequence of {start + T} tokens ({start} cached + {T} new) is "
                             f"longer than block_size={c.block_size}")
        if kv_cache is not None and kv_cache.batch_size != B:
            raise ValueError(f"kv_cache was made for batch_size={kv_cache.batch_size}, "
                             f"idx has batch size {B}")
        positions = torch.arange(start, start + T, device=idx.device)  # (T,)
        x = self.tok_emb(idx)  # (B, T, C)
        if self.pos_emb is not None:
            x = x + self.pos_emb(positions)  # (T, C) broadcast over the batch
        x = self.drop(x)
        for layer, block in enumerate(self.blocks):
            x = block(x, is_causal=True, rope=self.rope, positions=positions,
                      kv_cache=kv_cache, layer=layer, need_weights=need_weights)
        if kv_cache is not None:
            kv_cache.advance(T)
        return self.ln_f(x)  # (B, T, C)

    def forward(self, idx: Tensor, targets: Tensor | None = None,
                kv_cache: KVCache | None = None, need_weights: bool = False
                ) -> tuple[Tensor, Tensor | None]:
        """idx (B, T) token ids -> (logits (B, T, V), mean cross-entropy or None).

        ``targets`` (B, T) may use -100 to skip a position. With ``kv_cache``, ``idx`` holds
        only the new tokens; they sit at positions ``kv_cache.length ...`` and the cache grows.
        ``need_weights`` keeps each block's attention weights in ``block.attn_weights``.
        """
        c = self.config
        logits = self.lm_head(self.hidden_states(idx, kv_cache, need_weights))  # (B, T, V)
        loss = None
        if targets is not None:
            if targets.shape != idx.shape:
                raise ValueError(f"targets must have the shape of idx {tuple(idx.shape)}, "
                                 f"got {tuple(targets.shape)}")
            check_token_ids("targets", targets, c.vocab_size, allow=-100)
            loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100)
        return logits, loss


def parameter_counts(model: GPT) -> dict[str, int]:
    """Parameters of a GPT by component (shared tensors counted once, where first met)."""
    groups = {"token embedding": 0, "position embedding": 0, "attention": 0, "mlp": 0,
              "layer norm": 0, "output head": 0}
    seen: set[int] = set()
    for name, p in model.named_parameters():  # named_parameters already skips shared ones
        if id(p) in seen:
            continue
        seen.add(id(p))
        key = ("token embedding" if name.startswith("tok_emb") else
               "position embedding" if name.startswith("pos_emb") else
               "attention" if ".attn." in name else
               "mlp" if ".mlp." in name else
               "layer norm" if ".ln_" in name or name.startswith("ln_f") else
               "output head")
        groups[key] += p.numel()
    groups["total"] = sum(groups.values())
    return groups


def flops_per_token(config: GPTConfig, seq_len: int | None = None) -> dict[str, int]:
    """Matrix-multiply FLOPs (2 per multiply-add) to process one token of a ``seq_len``
    sequence (default ``block_size``). The attention terms count the full T×T score
    matrix; ``training`` = 3 × forward (the backward pass costs about twice the forward)."""
    c = config
    t = c.block_size if seq_len is None else check_int("seq_len", seq_len, min_value=1)
    L, C, V = c.n_layer, c.n_embd, c.vocab_size
    out = {
        "attention projections": L * 2 * 4 * C * C,  # q, k, v and output: four C x C
        "attention scores": L * 2 * 2 * t * C,  # q·k for T keys, then weights·v
        "mlp": L * 2 * 2 * 4 * C * C,  # C -> 4C -> C
        "output head": 2 * C * V,
    }
    out["forward"] = sum(out.values())
    out["training"] = 3 * out["forward"]
    return out


# ----------------------------------------------------------------------------- encoder-decoder


@dataclass(frozen=True)
class TransformerConfig:
    src_vocab_size: int = 64  # source tokens, specials (PAD, BOS, EOS) included
    tgt_vocab_size: int = 16  # target tokens, specials included
    max_len: int = 64  # longest source or target sequence
    n_layer: int = 2  # encoder blocks, and as many decoder blocks
    n_head: int = 4  # attention heads
    d_model: int = 64  # width of the residual stream
    d_ff: int = 256  # MLP hidden width
    dropout: float = 0.0  # dropout everywhere (embeddings, attention, residual branches)
    norm_first: bool = True  # pre-LN (True) or post-LN blocks
    pos_encoding: str = "sinusoidal"  # "sinusoidal" | "learned"

    def __post_init__(self) -> None:
        for name in ("src_vocab_size", "tgt_vocab_size", "max_len", "n_layer", "n_head",
                     "d_model", "d_ff"):
            check_int(name, getattr(self, name), min_value=1)
        if self.d_model % self.n_head:
            raise ValueError(f"d_model={self.d_model} must be divisible by n_head={self.n_head}")
        check_float("dropout", self.dropout, low=0.0, high=1.0, high_inclusive=False)
        check_choice("pos_encoding", self.pos_encoding, ["sinusoidal", "learned"])


class Transformer(nn.Module):
    """The encoder-decoder Transformer for sequence-to-sequence tasks, with the same
    interface as :class:`lm_course.attention.LSTMSeq2Seq` (so one training loop serves both)."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.config = c = config
        self.src_emb = nn.Embedding(c.src_vocab_size, c.d_model)
        self.tgt_emb = nn.Embedding(c.tgt_vocab_size, c.d_model)
        pos = SinusoidalPositionalEncoding if c.pos_encoding == "sinusoidal" else \
            LearnedPositionalEmbedding
        self.src_pos, self.tgt_pos = pos(c.max_len, c.d_model), pos(c.max_len, c.d_model)
        kw = dict(dropout=c.dropout, norm_first=c.norm_first)
        self.encoder = nn.ModuleList(Block(c.d_model, c.n_head, c.d_ff, **kw)
                                     for _ in range(c.n_layer))
        self.decoder = nn.ModuleList(DecoderBlock(c.d_model, c.n_head, c.d_ff, **kw)
                                     for _ in range(c.n_layer))
        self.ln_enc = nn.LayerNorm(c.d_model) if c.norm_first else nn.Identity()
        self.ln_dec = nn.LayerNorm(c.d_model) if c.norm_first else nn.Identity()
        self.drop = nn.Dropout(c.dropout)
        self.head = nn.Linear(c.d_model, c.tgt_vocab_size)

    def _embed(self, ids: Tensor, emb: nn.Embedding, pos: nn.Module, name: str) -> Tensor:
        check_token_ids(name, ids, emb.num_embeddings)
        if ids.size(1) > self.config.max_len:
            raise ValueError(f"{name} has {ids.size(1)} tokens, more than "
                             f"max_len={self.config.max_len}")
        positions = torch.arange(ids.size(1), device=ids.device)
        return self.drop(emb(ids) + pos(positions))  # (B, T, C)

    def encode(self, src: Tensor, src_lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Encoder output (B, S, C) and the source padding mask (B, S), True = real token."""
        mask = padding_mask(src_lengths.to(src.device), src.size(1))
        x = self._embed(src, self.src_emb, self.src_pos, "src")
        for block in self.encoder:
            x = block(x, key_padding_mask=mask)
        return self.ln_enc(x), mask

    def decode(self, tgt_in: Tensor, memory: Tensor, memory_mask: Tensor,
               need_weights: bool = False) -> Tensor:
        """Logits (B, T, V) for decoder inputs (B, T) given the encoder output."""
        x = self._embed(tgt_in, self.tgt_emb, self.tgt_pos, "tgt_in")
        for block in self.decoder:
            x = block(x, memory, memory_mask, need_weights=need_weights)
        return self.head(self.ln_dec(x))

    def forward(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor,
                targets: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        memory, mask = self.encode(src, src_lengths)
        logits = self.decode(tgt_in, memory, mask)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=PAD)
        return logits, loss

    @torch.no_grad()
    def generate(self, src: Tensor, src_lengths: Tensor, max_len: int) -> tuple[Tensor, Tensor]:
        """Greedy decoding: ids (B, max_len) and the last decoder layer's cross-attention
        (B, max_len, S), averaged over heads."""
        memory, mask = self.encode(src, src_lengths)
        ys = torch.full((src.size(0), 1), BOS, dtype=torch.long, device=src.device)
        for _ in range(max_len):
            logits = self.decode(ys, memory, mask)
            ys = torch.cat([ys, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
        self.decode(ys[:, :-1], memory, mask, need_weights=True)  # causal: same as step by step
        return ys[:, 1:], self.decoder[-1].cross_weights.mean(dim=1)
