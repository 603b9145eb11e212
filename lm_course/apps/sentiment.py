"""Sentiment classification: one label per text, from a count-based baseline to a
pre-trained GPT with a classification head.

Every neural classifier here is the same three steps: an *encoder* turns token ids (B, T)
into one vector per position (B, T, C); a *pooling* step, which must ignore the padding,
turns those into one vector per text (B, C); a linear *head* gives class logits (B, K).
Only the encoder changes: frozen word vectors (chapter 01), an LSTM (chapter 03), a
bidirectional Transformer encoder (chapter 05) or the GPT of chapter 06.

>>> enc = EmbeddingEncoder(vocab_size=10, dim=4)
>>> clf = SequenceClassifier(enc, n_classes=2, pool="mean")
>>> ids = torch.tensor([[3, 4, 0], [5, 0, 0]])  # two texts, right-padded with id 0
>>> mask = torch.tensor([[True, True, False], [True, False, False]])
>>> logits, loss = clf(ids, mask, labels=torch.tensor([1, 0]))
>>> tuple(logits.shape), loss.dim()
((2, 2), 0)
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lm_course.optim import clip_grad_norm, make_optimizer, make_scheduler
from lm_course.rnn import LSTM
from lm_course.transformer import GPT, Block, LearnedPositionalEmbedding
from lm_course.utils import check_choice, check_float, check_int, check_tensor

__all__ = [
    "encode_texts", "lm_stream", "masked_pool", "EmbeddingEncoder", "LSTMEncoder",
    "EncoderConfig", "TransformerEncoder", "GPTEncoder", "SequenceClassifier",
    "ClassifierTrainConfig", "ClassifierHistory", "train_classifier", "predict",
    "NaiveBayes", "vectors_for_vocab", "confident_mistakes",
]

POOLS = ["mean", "last", "first", "max"]

# ----------------------------------------------------------------------------- data


def encode_texts(texts: Sequence[str], tokenizer, max_len: int, *, pad_id: int = 0,
                 keep: str = "head") -> tuple[Tensor, Tensor]:
    """Token ids (N, T) right-padded with ``pad_id`` and the padding mask (N, T), True = real.

    Texts longer than ``max_len`` tokens are cut: ``keep="head"`` keeps the first tokens,
    ``"tail"`` the last ones (a review's verdict is often at its end). T is the longest
    kept text, at most ``max_len``.

    >>> from lm_course.tokenizers import WordTokenizer
    >>> tok = WordTokenizer().train("a good film . a bad film .")
    >>> ids, mask = encode_texts(["a good film", "bad"], tok, max_len=8)
    >>> mask.sum(1).tolist()
    [3, 1]
    """
    if isinstance(texts, str) or not isinstance(texts, Sequence) or len(texts) == 0:
        raise TypeError(f"texts must be a non-empty list of strings, got {type(texts).__name__}")
    check_int("max_len", max_len, min_value=1)
    check_int("pad_id", pad_id, min_value=0)
    check_choice("keep", keep, ["head", "tail"])
    rows = []
    for i, text in enumerate(texts):
        ids = tokenizer.encode(text)
        if not ids:
            raise ValueError(f"texts[{i}] = {text!r} has no tokens; drop empty texts first")
        rows.append(ids[:max_len] if keep == "head" else ids[-max_len:])
    T = max(len(r) for r in rows)
    out = torch.full((len(rows), T), pad_id, dtype=torch.long)  # (N, T)
    mask = torch.zeros(len(rows), T, dtype=torch.bool)  # (N, T)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = True
    return out, mask


def lm_stream(texts: Sequence[str], tokenizer) -> Tensor:
    """All texts' token ids one after the other, (N_tokens,): what language-model
    pre-training (:class:`lm_course.training.Trainer`) reads."""
    if isinstance(texts, str) or not isinstance(texts, Sequence) or len(texts) == 0:
        raise TypeError(f"texts must be a non-empty list of strings, got {type(texts).__name__}")
    return torch.tensor([i for t in texts for i in tokenizer.encode(t)], dtype=torch.long)


# ----------------------------------------------------------------------------- pooling


def masked_pool(h: Tensor, mask: Tensor, pool: str = "mean") -> Tensor:
    """One vector per sequence (B, C) from states h (B, T, C), reading real positions only.

    ``mean``: average over real positions; ``max``: channel-wise maximum; ``last``/``first``:
    the state at the last/first real position. Padding may be on either side: the result
    is the same as for the unpadded sequence.

    >>> h = torch.tensor([[[1.0], [3.0], [100.0]]])  # the third position is padding
    >>> masked_pool(h, torch.tensor([[True, True, False]]), "mean")
    tensor([[2.]])
    """
    check_tensor("h", h, ndim=3, floating=True)
    check_tensor("mask", mask, ndim=2)
    check_choice("pool", pool, POOLS)
    if mask.dtype != torch.bool:
        raise TypeError(f"mask must be boolean (True = real token), got dtype {mask.dtype}")
    if mask.shape != h.shape[:2]:
        raise ValueError(f"mask {tuple(mask.shape)} must match h's first two dimensions "
                         f"{tuple(h.shape[:2])}")
    counts = mask.sum(dim=1)  # (B,)
    if bool((counts == 0).any()):
        raise ValueError(f"every sequence needs at least one real token; rows "
                         f"{(counts == 0).nonzero().flatten().tolist()} are all padding")
    if pool == "mean":
        m = mask.unsqueeze(-1).to(h.dtype)  # (B, T, 1)
        return (h * m).sum(dim=1) / counts.unsqueeze(-1).to(h.dtype)  # (B, C)
    if pool == "max":
        return h.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(dim=1)  # (B, C)
    pos = torch.arange(mask.size(1), device=mask.device).expand_as(mask)  # (B, T)
    if pool == "last":
        where = pos.masked_fill(~mask, -1).amax(dim=1)  # (B,) last real position
    else:
        where = pos.masked_fill(~mask, mask.size(1)).amin(dim=1)  # (B,) first real position
    return h[torch.arange(h.size(0), device=h.device), where]  # (B, C)


# ----------------------------------------------------------------------------- encoders
# Each maps ids (B, T) and mask (B, T) to states (B, T, dim). ``causal`` encoders see only
# the past, so padding must come after the text and pooling "first" would see one token.


class EmbeddingEncoder(nn.Module):
    """Each token's vector, nothing more: with frozen word2vec vectors and mean pooling the
    classifier is logistic regression on averaged word vectors."""

    causal = False

    def __init__(self, vocab_size: int, dim: int, vectors: Tensor | None = None,
                 freeze: bool = False) -> None:
        super().__init__()
        self.dim = check_int("dim", dim, min_value=1)
        self.embed = nn.Embedding(check_int("vocab_size", vocab_size, min_value=1), dim)
        if vectors is not None:
            check_tensor("vectors", vectors, ndim=2, floating=True)
            if tuple(vectors.shape) != (vocab_size, dim):
                raise ValueError(f"vectors must have shape (vocab_size, dim) = "
                                 f"({vocab_size}, {dim}), got {tuple(vectors.shape)}")
            self.embed.weight.data.copy_(vectors)
        self.embed.weight.requires_grad_(not freeze)

    def forward(self, ids: Tensor, mask: Tensor) -> Tensor:
        return self.embed(ids)  # (B, T, C)


class LSTMEncoder(nn.Module):
    """Embeddings into chapter 03's LSTM (written out, one step at a time); states (B, T, H)."""

    causal = True

    def __init__(self, vocab_size: int, emb_dim: int = 64, hidden_size: int = 128,
                 num_layers: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        self.dim = check_int("hidden_size", hidden_size, min_value=1)
        self.embed = nn.Embedding(check_int("vocab_size", vocab_size, min_value=1),
                                  check_int("emb_dim", emb_dim, min_value=1))
        self.drop = nn.Dropout(check_float("dropout", dropout, low=0.0, high=1.0,
                                           high_inclusive=False))
        self.lstm = LSTM(emb_dim, hidden_size, num_layers, batch_first=True, dropout=dropout)

    def forward(self, ids: Tensor, mask: Tensor) -> Tensor:
        out, _ = self.lstm(self.drop(self.embed(ids)))  # (B, T, H); pads come after the text
        return out


@dataclass(frozen=True)
class EncoderConfig:
    vocab_size: int = 10_000  # tokens in the vocabulary
    max_len: int = 128  # longest input (learned positions)
    n_layer: int = 2  # bidirectional Transformer blocks
    n_head: int = 4  # attention heads
    n_embd: int = 64  # width of the residual stream
    dropout: float = 0.1  # on embeddings, attention and residual branches

    def __post_init__(self) -> None:
        for name in ("vocab_size", "max_len", "n_layer", "n_head", "n_embd"):
            check_int(name, getattr(self, name), min_value=1)
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd={self.n_embd} must be divisible by n_head={self.n_head}")
        check_float("dropout", self.dropout, low=0.0, high=1.0, high_inclusive=False)


class TransformerEncoder(nn.Module):
    """Token + learned position embeddings, chapter 05's pre-LN blocks without a causal mask
    (every token sees every real token: padding is hidden by the key mask), a final LayerNorm."""

    causal = False

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        if not isinstance(config, EncoderConfig):
            raise TypeError(f"config must be an EncoderConfig, got {type(config).__name__}")
        self.config = c = config
        self.dim = c.n_embd
        self.tok_emb = nn.Embedding(c.vocab_size, c.n_embd)
        self.pos_emb = LearnedPositionalEmbedding(c.max_len, c.n_embd)
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(Block(c.n_embd, c.n_head, dropout=c.dropout)
                                    for _ in range(c.n_layer))
        self.ln_f = nn.LayerNorm(c.n_embd)

    def forward(self, ids: Tensor, mask: Tensor) -> Tensor:
        if ids.size(1) > self.config.max_len:
            raise ValueError(f"ids has {ids.size(1)} positions, more than "
                             f"max_len={self.config.max_len}")
        positions = torch.arange(ids.size(1), device=ids.device)  # (T,)
        x = self.drop(self.tok_emb(ids) + self.pos_emb(positions))  # (B, T, C)
        for block in self.blocks:
            x = block(x, key_padding_mask=mask)  # (B, T, C)
        return self.ln_f(x)


class GPTEncoder(nn.Module):
    """Chapter 06's GPT without its language-model head: the final states (B, T, C).

    Causal: position t sees tokens 0..t only, so right padding never reaches a real token,
    and the last real position is the only one that has read the whole text.
    """

    causal = True

    def __init__(self, gpt: GPT) -> None:
        super().__init__()
        if not isinstance(gpt, GPT):
            raise TypeError(f"gpt must be a lm_course.transformer.GPT, got {type(gpt).__name__}")
        self.gpt = gpt
        self.dim = gpt.config.n_embd

    def forward(self, ids: Tensor, mask: Tensor) -> Tensor:
        return self.gpt.hidden_states(ids)  # (B, T, C)


# ----------------------------------------------------------------------------- the classifier


class SequenceClassifier(nn.Module):
    """encoder -> masked pooling -> dropout -> Linear(dim, n_classes)."""

    def __init__(self, encoder: nn.Module, n_classes: int = 2, pool: str = "mean",
                 dropout: float = 0.0) -> None:
        super().__init__()
        if not isinstance(encoder, nn.Module) or not isinstance(getattr(encoder, "dim", None),
                                                                int):
            raise TypeError("encoder must be an nn.Module with an int attribute `dim` (the "
                            f"width of its states), got {type(encoder).__name__}")
        self.pool = check_choice("pool", pool, POOLS)
        if pool == "first" and getattr(encoder, "causal", False):
            raise ValueError(f"pool='first' with a causal encoder ({type(encoder).__name__}) "
                             "reads a state that has seen only the first token; use 'last' "
                             "or 'mean'")
        self.encoder = encoder
        self.n_classes = check_int("n_classes", n_classes, min_value=2)
        self.drop = nn.Dropout(check_float("dropout", dropout, low=0.0, high=1.0,
                                           high_inclusive=False))
        self.head = nn.Linear(encoder.dim, n_classes)

    def forward(self, ids: Tensor, mask: Tensor, labels: Tensor | None = None
                ) -> tuple[Tensor, Tensor | None]:
        """ids (B, T), mask (B, T) True = real token -> (logits (B, K), mean cross-entropy)."""
        check_tensor("ids", ids, ndim=2, integer=True)
        if mask.shape != ids.shape:
            raise ValueError(f"mask {tuple(mask.shape)} must have the shape of ids "
                             f"{tuple(ids.shape)}")
        h = self.encoder(ids, mask)  # (B, T, C)
        logits = self.head(self.drop(masked_pool(h, mask, self.pool)))  # (B, K)
        loss = None
        if labels is not None:
            check_tensor("labels", labels, ndim=1, integer=True)
            if len(labels) != len(ids) or int(labels.min()) < 0 or \
                    int(labels.max()) >= self.n_classes:
                raise ValueError(f"labels must be {len(ids)} class ids in [0, "
                                 f"{self.n_classes - 1}], got {labels.tolist()[:10]}")
            loss = F.cross_entropy(logits, labels)
        return logits, loss


# ----------------------------------------------------------------------------- training
# Why not lm_course.training.Trainer: it samples next-token windows from one token stream;
# a classifier needs padded batches of whole texts with one label each. The pieces it is
# built from (the optimiser, the warm-up + cosine schedule, gradient clipping) are reused.


@dataclass(frozen=True)
class ClassifierTrainConfig:
    epochs: int = 5  # passes over the training texts
    batch_size: int = 32  # texts per optimiser step
    lr: float = 1e-3  # peak learning rate
    min_lr_ratio: float = 0.1  # the cosine decays to lr * this
    warmup_steps: int = 20  # linear warm-up
    weight_decay: float = 0.01  # decoupled, on weight matrices only
    grad_clip: float = 1.0  # max global gradient norm; 0 = no clipping
    seed: int = 0  # shuffling order (the model is seeded by whoever builds it)

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            check_int(name, getattr(self, name), min_value=1)
        check_int("warmup_steps", self.warmup_steps, min_value=0)
        check_int("seed", self.seed, min_value=0)
        check_float("lr", self.lr, low=0.0, low_inclusive=False)
        check_float("min_lr_ratio", self.min_lr_ratio, low=0.0, high=1.0)
        check_float("weight_decay", self.weight_decay, low=0.0)
        check_float("grad_clip", self.grad_clip, low=0.0)


@dataclass
class ClassifierHistory:
    loss: list[float] = field(default_factory=list)  # training loss of every step
    val_accuracy: list[float] = field(default_factory=list)  # after every epoch
    best_epoch: int = 0  # 1-based epoch whose weights were kept (0 = last, no validation)
    seconds: float = 0.0  # training time, validation passes included


def _check_split(name: str, split) -> tuple[Tensor, Tensor, Tensor]:
    if not isinstance(split, (tuple, list)) or len(split) != 3:
        raise TypeError(f"{name} must be a tuple (ids, mask, labels), got {type(split).__name__}")
    ids, mask, labels = split
    check_tensor(f"{name} ids", ids, ndim=2, integer=True)
    check_tensor(f"{name} labels", labels, ndim=1, integer=True)
    if mask.shape != ids.shape or len(labels) != len(ids):
        raise ValueError(f"{name}: ids {tuple(ids.shape)}, mask {tuple(mask.shape)} and labels "
                         f"{tuple(labels.shape)} must describe the same texts")
    return ids, mask, labels


def _batch(ids: Tensor, mask: Tensor, rows: Tensor, device) -> tuple[Tensor, Tensor]:
    used = mask[rows].any(dim=0).nonzero()  # columns holding a real token of this batch
    width = int(used.max()) + 1 if len(used) else 1  # trim the padding it does not need
    return ids[rows, :width].to(device), mask[rows, :width].to(device)


def train_classifier(model: SequenceClassifier, train: tuple[Tensor, Tensor, Tensor],
                     val: tuple[Tensor, Tensor, Tensor] | None = None,
                     config: ClassifierTrainConfig | None = None) -> ClassifierHistory:
    """AdamW with warm-up + cosine decay and clipping, over shuffled mini-batches of texts.

    With ``val`` the accuracy is measured after each epoch and the best epoch's weights are
    kept (early stopping on the validation split, never on the test split).
    """
    if not isinstance(model, SequenceClassifier):
        raise TypeError(f"model must be a SequenceClassifier, got {type(model).__name__}")
    c = ClassifierTrainConfig() if config is None else config
    if not isinstance(c, ClassifierTrainConfig):
        raise TypeError(f"config must be a ClassifierTrainConfig, got {type(c).__name__}")
    ids, mask, labels = _check_split("train", train)
    if val is not None:
        val = _check_split("val", val)
    steps_per_epoch = math.ceil(len(ids) / c.batch_size)
    total = c.epochs * steps_per_epoch
    opt = make_optimizer(model, "adamw", lr=c.lr, weight_decay=c.weight_decay,
                         implementation="torch")
    sched = make_scheduler(opt, "cosine", max_lr=c.lr, min_lr=c.lr * c.min_lr_ratio,
                           warmup_steps=min(c.warmup_steps, total), total_steps=total)
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(c.seed)
    history, best, best_state = ClassifierHistory(), -1.0, None
    start = time.perf_counter()
    for epoch in range(1, c.epochs + 1):
        model.train()
        for rows in torch.randperm(len(ids), generator=gen).split(c.batch_size):
            x, m = _batch(ids, mask, rows, device)
            _, loss = model(x, m, labels[rows].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if c.grad_clip > 0:
                clip_grad_norm([p for p in model.parameters() if p.grad is not None],
                               c.grad_clip)
            opt.step()
            sched.step()
            history.loss.append(loss.item())
        if val is not None:
            pred, _ = predict(model, val[0], val[1])
            acc = (pred == val[2]).double().mean().item()
            history.val_accuracy.append(acc)
            if acc > best:
                best, history.best_epoch = acc, epoch
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    history.seconds = time.perf_counter() - start
    return history


@torch.no_grad()
def predict(model: SequenceClassifier, ids: Tensor, mask: Tensor, batch_size: int = 128
            ) -> tuple[Tensor, Tensor]:
    """Predicted classes (N,) and class probabilities (N, K), in eval mode (no dropout)."""
    check_tensor("ids", ids, ndim=2, integer=True)
    check_int("batch_size", batch_size, min_value=1)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    probs = []
    for rows in torch.arange(len(ids)).split(batch_size):
        logits, _ = model(*_batch(ids, mask, rows, device))
        probs.append(logits.float().softmax(-1).cpu())
    model.train(was_training)
    p = torch.cat(probs)  # (N, K)
    return p.argmax(-1), p


# ----------------------------------------------------------------------------- baselines


class NaiveBayes:
    """Multinomial Naive Bayes on word counts, with add-alpha (Laplace) smoothing, in log space.

    log P(y | doc) = log P(y) + sum over the doc's words w of count(w) * log P(w | y) + const,
    P(w | y) = (count of w in class y + alpha) / (words in class y + alpha * V). Words never
    seen in training are skipped. Equal to scikit-learn's ``MultinomialNB`` (tested).

    >>> nb = NaiveBayes().fit([["good", "fun"], ["bad", "dull"]], [1, 0])
    >>> nb.predict([["fun", "fun", "bad"], ["dull"]]).tolist()
    [1, 0]
    """

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = check_float("alpha", alpha, low=0.0, low_inclusive=False)

    def fit(self, docs: Sequence[Sequence[str]], labels: Sequence[int]) -> NaiveBayes:
        if len(docs) == 0 or len(docs) != len(labels):
            raise ValueError(f"docs and labels must be non-empty and as long as each other, "
                             f"got {len(docs)} docs and {len(labels)} labels")
        self.classes = sorted(set(int(y) for y in labels))
        if len(self.classes) < 2:
            raise ValueError(f"labels must hold at least two classes, got {self.classes}")
        self.vocab = {w: i for i, w in enumerate(sorted({w for d in docs for w in d}))}
        row = {y: k for k, y in enumerate(self.classes)}
        counts = self._count_matrix(docs, [row[int(y)] for y in labels], len(self.classes))
        prior = torch.tensor([sum(int(y) == c for y in labels) for c in self.classes],
                             dtype=torch.float64)
        self.log_prior = prior.log() - math.log(len(labels))  # (K,)
        smoothed = counts + self.alpha
        self.log_likelihood = smoothed.log() - smoothed.sum(1, keepdim=True).log()  # (K, V)
        return self

    def _count_matrix(self, docs: Sequence[Sequence[str]], rows: Sequence[int],
                      n_rows: int) -> Tensor:
        """(n_rows, V) counts: the words of docs[i] added to row rows[i] (unknown words skipped)."""
        r, c, n = [], [], []
        for i, doc in zip(rows, docs, strict=True):
            for w, k in Counter(doc).items():
                if w in self.vocab:
                    r.append(i)
                    c.append(self.vocab[w])
                    n.append(k)
        x = torch.zeros(n_rows, len(self.vocab), dtype=torch.float64)  # (n_rows, V)
        x.index_put_((torch.tensor(r, dtype=torch.long), torch.tensor(c, dtype=torch.long)),
                     torch.tensor(n, dtype=torch.float64), accumulate=True)
        return x

    def _counts(self, docs: Sequence[Sequence[str]]) -> Tensor:
        return self._count_matrix(docs, range(len(docs)), len(docs))  # (N, V)

    def joint_log_likelihood(self, docs: Sequence[Sequence[str]]) -> Tensor:
        """log P(y) + log P(doc | y) for every doc and class, (N, K)."""
        if not hasattr(self, "log_prior"):
            raise RuntimeError("call fit(docs, labels) before predicting")
        return self._counts(docs) @ self.log_likelihood.T + self.log_prior  # (N, K)

    def predict_proba(self, docs: Sequence[Sequence[str]]) -> Tensor:
        return self.joint_log_likelihood(docs).softmax(-1)  # (N, K)

    def predict(self, docs: Sequence[Sequence[str]]) -> Tensor:
        jll = self.joint_log_likelihood(docs)
        return torch.tensor(self.classes)[jll.argmax(-1)]  # (N,)

    def top_words(self, k: int = 10) -> dict[int, list[str]]:
        """The k words whose log P(w | y) most exceeds the other class's (two classes)."""
        check_int("k", k, min_value=1)
        if len(self.classes) != 2:
            raise ValueError("top_words compares two classes")
        words = sorted(self.vocab, key=self.vocab.get)
        ratio = self.log_likelihood[1] - self.log_likelihood[0]  # (V,)
        up, down = ratio.topk(k).indices.tolist(), (-ratio).topk(k).indices.tolist()
        return {self.classes[1]: [words[i] for i in up], self.classes[0]: [words[i] for i in down]}


def vectors_for_vocab(words: Sequence[str], wv) -> tuple[Tensor, float]:
    """A (len(words), dim) table with each word's vector from ``wv`` (a chapter 01
    ``WordVectors``), zeros for words it lacks; and the share of words found."""
    table = torch.zeros(len(words), wv.vectors.size(1))  # (V, D)
    found = 0
    for i, w in enumerate(words):
        if w in wv:
            table[i] = wv[w]
            found += 1
    return table, found / max(len(words), 1)


def confident_mistakes(y_true: Tensor, probs: Tensor, k: int = 8) -> list[int]:
    """Indices of the ``k`` wrong predictions made with the highest confidence."""
    check_tensor("probs", probs, ndim=2, floating=True)
    check_int("k", k, min_value=1)
    y_true = torch.as_tensor(y_true)
    pred = probs.argmax(-1)
    wrong = (pred != y_true).nonzero().flatten()
    conf = probs[wrong, pred[wrong]]
    return wrong[conf.argsort(descending=True)][:k].tolist()
