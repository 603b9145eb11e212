"""Named-entity recognition as sequence tagging: BIO tags, two taggers (a BiLSTM built from
chapter 03's LSTM, a Transformer encoder built from chapter 05's blocks), decoding that never
emits an invalid tag sequence, two baselines and an error report.

A tagger gives every token a score for every tag; the entities are the *spans* the tags
spell out (``B-X`` opens an entity of type X, ``I-X`` continues it, ``O`` is outside). Not every
tag sequence spells spans: ``O I-person`` or ``B-person I-company`` are invalid. Constrained
Viterbi decoding finds the best *valid* sequence under the tagger's scores.

>>> tags = tag_set(["person"])
>>> tags
['O', 'B-person', 'I-person']
>>> allowed, start = transition_mask(tags)
>>> scores = torch.log(torch.tensor([[0.1, 0.3, 0.6], [0.2, 0.2, 0.6]]))  # (T, K)
>>> [tags[i] for i in argmax_decode(scores)[0]]                 # I- at the start: invalid
['I-person', 'I-person']
>>> [tags[i] for i in viterbi_decode(scores, allowed, start)[0]]
['B-person', 'I-person']
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lm_course.attention import padding_mask
from lm_course.metrics import bio_spans, span_f1
from lm_course.optim import clip_grad_norm, make_optimizer
from lm_course.rnn import LSTM
from lm_course.transformer import Block, LearnedPositionalEmbedding
from lm_course.utils import check_choice, check_float, check_int, check_tensor

Sentence = tuple[list[str], list[str]]  # (tokens, BIO tags) of one tweet
IGNORE = -100  # target id at padded positions: cross-entropy skips it

__all__ = [
    "tag_set", "transition_mask", "is_valid_bio", "count_invalid", "viterbi_decode",
    "argmax_decode", "Featurizer", "Batch", "TaggerConfig", "Tagger", "TagTrainConfig",
    "train_tagger", "predict", "all_o_tagger", "MemorisingTagger", "span_errors",
    "compare_systems", "format_results",
]

# ----------------------------------------------------------------------------- BIO tags


def tag_set(types: Sequence[str]) -> list[str]:
    """``["O", "B-t1", "I-t1", "B-t2", ...]`` for the entity types, in the given order."""
    if isinstance(types, str) or not all(isinstance(t, str) and t for t in types):
        raise TypeError(f"types must be a sequence of non-empty strings, got {types!r}")
    if len(set(types)) != len(types):
        raise ValueError(f"types must be distinct, got {list(types)}")
    return ["O"] + [f"{p}-{t}" for t in types for p in ("B", "I")]


def transition_mask(tags: Sequence[str]) -> tuple[Tensor, Tensor]:
    """Which tag may follow which: ``allowed`` (K, K) with ``allowed[i, j]`` True when tag j
    may come right after tag i, and ``start`` (K,) True for tags a sentence may begin with.

    ``I-X`` may only follow ``B-X`` or ``I-X``; every other tag may follow anything.
    """
    for t in tags:
        if not (t == "O" or (t[:2] in ("B-", "I-") and len(t) > 2)):
            raise ValueError(f"tags must be 'O', 'B-<type>' or 'I-<type>', got {t!r}")
    K = len(tags)
    allowed = torch.ones(K, K, dtype=torch.bool)
    start = torch.ones(K, dtype=torch.bool)
    for j, t in enumerate(tags):
        if t.startswith("I-"):
            start[j] = False
            allowed[:, j] = torch.tensor([p in (f"B-{t[2:]}", t) for p in tags])
    return allowed, start


def is_valid_bio(tags: Sequence[str]) -> bool:
    """True when every ``I-X`` continues a ``B-X`` or ``I-X`` (strict BIO).

    >>> is_valid_bio(["B-geo-loc", "I-geo-loc", "O"]), is_valid_bio(["O", "I-geo-loc"])
    (True, False)
    """
    prev = "O"
    for t in tags:
        if t.startswith("I-") and prev not in (f"B-{t[2:]}", t):
            return False
        prev = t
    return True


def count_invalid(sequences: Sequence[Sequence[str]]) -> int:
    """How many tag sequences are not valid BIO."""
    return sum(not is_valid_bio(s) for s in sequences)


# ----------------------------------------------------------------------------- decoding


def _scores_and_lengths(scores: Tensor, lengths) -> tuple[Tensor, Tensor]:
    check_tensor("scores", scores, ndim=(2, 3), floating=True)
    if scores.dim() == 2:
        scores = scores.unsqueeze(0)                       # (1, T, K)
    B, T, _ = scores.shape
    if T == 0:
        raise ValueError(f"scores must hold at least one position, got shape {tuple(scores.shape)}")
    if lengths is None:
        lengths = torch.full((B,), T)
    lengths = torch.as_tensor(lengths)
    check_tensor("lengths", lengths, ndim=1, integer=True)
    if lengths.numel() != B or int(lengths.min()) < 1 or int(lengths.max()) > T:
        raise ValueError(f"lengths must hold {B} values in [1, {T}], got {lengths.tolist()}")
    return scores, lengths


def argmax_decode(scores: Tensor, lengths: Tensor | Sequence[int] | None = None
                  ) -> list[list[int]]:
    """The highest-scoring tag at each position, independently (may be invalid BIO).

    scores: (B, T, K) or (T, K) per-token log-probabilities; lengths: (B,) real lengths.
    """
    scores, lengths = _scores_and_lengths(scores, lengths)
    best = scores.argmax(dim=-1)                           # (B, T)
    return [best[b, : int(n)].tolist() for b, n in enumerate(lengths)]


def viterbi_decode(scores: Tensor, allowed: Tensor, start: Tensor,
                   lengths: Tensor | Sequence[int] | None = None) -> list[list[int]]:
    """The tag sequence with the highest total score among those the masks allow.

    delta_t(j) = scores_t(j) + max_{i: allowed[i, j]} delta_{t-1}(i), delta_0(j) = scores_0(j)
    for start tags; keep the arg-max as a back-pointer and follow it back from the best last
    tag. Exact (it equals a search over all K^T sequences, tested) in O(T K^2).
    scores: (B, T, K) or (T, K); allowed (K, K); start (K,); lengths (B,). Padded positions
    beyond a sequence's length are ignored.
    """
    scores, lengths = _scores_and_lengths(scores, lengths)
    B, T, K = scores.shape
    check_tensor("allowed", allowed, ndim=2)
    check_tensor("start", start, ndim=1)
    if allowed.shape != (K, K) or start.shape != (K,) or allowed.dtype != torch.bool \
            or start.dtype != torch.bool:
        raise ValueError(f"allowed must be a ({K}, {K}) and start a ({K},) boolean tensor, got "
                         f"{tuple(allowed.shape)} {allowed.dtype} and {tuple(start.shape)} "
                         f"{start.dtype}")
    neg = torch.tensor(float("-inf"), dtype=scores.dtype)
    trans = torch.where(allowed, torch.zeros((), dtype=scores.dtype), neg)   # (K, K)
    delta = torch.where(start, scores[:, 0], neg)          # (B, K) best score ending in tag j
    back = []
    for t in range(1, T):
        cand = delta[:, :, None] + trans                   # (B, K_prev, K_next)
        best, arg = cand.max(dim=1)                        # (B, K) each
        active = (t < lengths)[:, None]                    # (B, 1) still inside the sentence?
        delta = torch.where(active, best + scores[:, t], delta)
        back.append(arg)
    paths = []
    for b in range(B):
        n = int(lengths[b])
        tag = int(delta[b].argmax())
        path = [tag]
        for t in range(n - 1, 0, -1):                      # follow the back-pointers
            tag = int(back[t - 1][b, tag])
            path.append(tag)
        paths.append(path[::-1])
    return paths


# ----------------------------------------------------------------------------- features

_URL = re.compile(r"^(https?://|www\.)", re.I)


def _normalise(token: str) -> str:
    """Word-vocabulary key: lowercase, digits -> 0, every URL and @user the same symbol."""
    if _URL.match(token):
        return "<url>"
    if token.startswith("@") and len(token) > 1:
        return "<user>"
    return re.sub(r"\d", "0", token.lower())


@dataclass
class Batch:
    """A padded batch: words (B, T), chars (B, T, L), lengths (B,), tags (B, T) or None."""

    words: Tensor
    chars: Tensor
    lengths: Tensor
    tags: Tensor | None


class Featurizer:
    """Ids for words (normalised, rare ones -> ``<unk>``), characters (with case) and tags.

    The word vocabulary comes from the training tweets only; characters keep the capital
    letters the word ids lose, so a name never seen in training still looks like a name.

    >>> f = Featurizer([(["Paris", "rocks"], ["B-geo-loc", "O"])], ["geo-loc"], min_count=1)
    >>> b = f.batch([(["Paris", "!"], ["B-geo-loc", "O"])])
    >>> b.words.tolist(), b.tags.tolist(), tuple(b.chars.shape)
    ([[2, 1]], [[1, 0]], (1, 2, 5))
    """

    PAD, UNK = "<pad>", "<unk>"

    def __init__(self, train: Sequence[Sentence], types: Sequence[str], min_count: int = 2,
                 max_word_len: int = 20) -> None:
        check_int("min_count", min_count, min_value=1)
        self.max_word_len = check_int("max_word_len", max_word_len, min_value=1)
        _check_sentences("train", train)
        self.tags = tag_set(types)
        self.tag_index = {t: i for i, t in enumerate(self.tags)}
        words = Counter(_normalise(w) for toks, _ in train for w in toks)
        chars = Counter(c for toks, _ in train for w in toks for c in w)
        self.words = [self.PAD, self.UNK] + sorted(w for w, c in words.items() if c >= min_count)
        self.chars = [self.PAD, self.UNK] + sorted(chars)
        self.word_index = {w: i for i, w in enumerate(self.words)}
        self.char_index = {c: i for i, c in enumerate(self.chars)}

    def batch(self, sentences: Sequence[Sentence] | Sequence[list[str]]) -> Batch:
        """Pad a list of (tokens, tags) pairs, or of bare token lists, into one batch."""
        if not sentences:
            raise ValueError("sentences is empty: a batch needs at least one sentence")
        with_tags = isinstance(sentences[0], tuple)
        toks = [s[0] if with_tags else s for s in sentences]
        if any(not t for t in toks):
            raise ValueError("every sentence needs at least one token")
        B, T = len(toks), max(len(t) for t in toks)
        L = min(self.max_word_len, max(len(w) for t in toks for w in t))
        words = torch.zeros(B, T, dtype=torch.long)        # 0 = <pad>
        chars = torch.zeros(B, T, L, dtype=torch.long)
        tags = torch.full((B, T), IGNORE, dtype=torch.long) if with_tags else None
        for b, sent in enumerate(toks):
            for t, w in enumerate(sent):
                words[b, t] = self.word_index.get(_normalise(w), 1)
                ids = [self.char_index.get(c, 1) for c in w[:L]]
                chars[b, t, : len(ids)] = torch.tensor(ids)
            if with_tags:
                unknown = [g for g in sentences[b][1] if g not in self.tag_index]
                if unknown:
                    raise ValueError(f"tag {unknown[0]!r} is not one of {self.tags}")
                tags[b, : len(sent)] = torch.tensor([self.tag_index[g] for g in sentences[b][1]])
        return Batch(words, chars, torch.tensor([len(t) for t in toks]), tags)


def _check_sentences(name: str, data) -> None:
    if not isinstance(data, (list, tuple)) or not data:
        raise ValueError(f"{name} must be a non-empty list of (tokens, tags) pairs, got {data!r}")
    for toks, tags in data:
        if len(toks) != len(tags) or not toks:
            raise ValueError(f"{name}: every sentence needs as many tags as tokens (and >= 1), "
                             f"got {len(toks)} tokens and {len(tags)} tags")


# ----------------------------------------------------------------------------- the taggers


@dataclass(frozen=True)
class TaggerConfig:
    n_words: int                 # word vocabulary size (Featurizer.words)
    n_chars: int                 # character vocabulary size (Featurizer.chars)
    n_tags: int                  # number of BIO tags (Featurizer.tags)
    encoder: str = "bilstm"      # "bilstm" (two course LSTMs) | "transformer" (course blocks)
    word_dim: int = 64           # word embedding size
    char_dim: int = 16           # character embedding size
    char_channels: int = 32      # filters of the character CNN (its output size per word)
    hidden: int = 64             # LSTM size per direction; the Transformer's width is 2x this
    n_layer: int = 1             # LSTM layers per direction, or Transformer blocks
    n_head: int = 4              # attention heads (Transformer only)
    max_len: int = 128           # longest sentence the learned positions cover (Transformer)
    dropout: float = 0.3         # on the embeddings and before the output layer

    def __post_init__(self) -> None:
        for name in ("n_words", "n_chars", "n_tags", "word_dim", "char_dim", "char_channels",
                     "hidden", "n_layer", "n_head", "max_len"):
            check_int(name, getattr(self, name), min_value=1)
        check_choice("encoder", self.encoder, ["bilstm", "transformer"])
        check_float("dropout", self.dropout, low=0.0, high=1.0, high_inclusive=False)
        if self.encoder == "transformer" and (2 * self.hidden) % self.n_head:
            raise ValueError(f"2 * hidden ({2 * self.hidden}) must be divisible by n_head "
                             f"({self.n_head})")


class Tagger(nn.Module):
    """Word embedding + character CNN -> a bidirectional encoder -> one score per tag.

    Every token sees the whole tweet: the BiLSTM reads it left-to-right and right-to-left
    (the backward LSTM gets each sentence reversed *within its own length*, so padding never
    leaks into the real tokens); the Transformer's blocks attend without a causal mask, with
    a key-padding mask.
    """

    def __init__(self, config: TaggerConfig) -> None:
        super().__init__()
        c = self.config = config
        self.word_emb = nn.Embedding(c.n_words, c.word_dim, padding_idx=0)
        self.char_emb = nn.Embedding(c.n_chars, c.char_dim, padding_idx=0)
        self.char_cnn = nn.Conv1d(c.char_dim, c.char_channels, kernel_size=3, padding=1)
        d_in = c.word_dim + c.char_channels
        self.drop = nn.Dropout(c.dropout)
        if c.encoder == "bilstm":
            # layer l of each direction reads both directions of layer l - 1 (as nn.LSTM)
            sizes = [d_in] + [2 * c.hidden] * (c.n_layer - 1)
            self.fwd = nn.ModuleList(LSTM(d, c.hidden, batch_first=True) for d in sizes)
            self.bwd = nn.ModuleList(LSTM(d, c.hidden, batch_first=True) for d in sizes)
        else:
            d = 2 * c.hidden
            self.proj = nn.Linear(d_in, d)
            self.pos = LearnedPositionalEmbedding(c.max_len, d)
            self.blocks = nn.ModuleList(Block(d, c.n_head, dropout=c.dropout)
                                        for _ in range(c.n_layer))
            self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(2 * c.hidden, c.n_tags)

    def embed(self, words: Tensor, chars: Tensor) -> Tensor:
        B, T, L = chars.shape
        real = (chars.view(B * T, 1, L) != 0)                         # (B*T, 1, L)
        e = self.char_emb(chars.view(B * T, L)).transpose(1, 2)       # (B*T, char_dim, L)
        h = self.char_cnn(e * real)                                   # (B*T, channels, L)
        h = h.masked_fill(~real, float("-inf")).amax(dim=-1)          # (B*T, channels)
        h = torch.where(torch.isfinite(h), h, torch.zeros_like(h))    # padding words -> 0
        return torch.cat([self.word_emb(words), h.view(B, T, -1)], dim=-1)  # (B, T, d_in)

    def forward(self, words: Tensor, chars: Tensor, lengths: Tensor) -> Tensor:
        """words (B, T), chars (B, T, L), lengths (B,) -> tag scores (B, T, n_tags)."""
        check_tensor("words", words, ndim=2, integer=True)
        check_tensor("chars", chars, ndim=3, integer=True)
        B, T = words.shape
        if chars.shape[:2] != (B, T) or tuple(lengths.shape) != (B,):
            raise ValueError(f"shapes do not fit: words {tuple(words.shape)}, chars "
                             f"{tuple(chars.shape)}, lengths {tuple(lengths.shape)}")
        if self.config.encoder == "transformer" and T > self.config.max_len:
            raise ValueError(f"sentences have {T} tokens, more than max_len={self.config.max_len}")
        x = self.drop(self.embed(words, chars))                       # (B, T, d_in)
        mask = padding_mask(lengths, max_len=T)                       # (B, T) True = real
        if self.config.encoder == "bilstm":
            t = torch.arange(T)
            rev = torch.where(mask, lengths[:, None] - 1 - t, t)[..., None]  # (B, T, 1)
            h = x
            for fwd, bwd in zip(self.fwd, self.bwd, strict=True):
                h_f, _ = fwd(h)                                       # (B, T, H)
                h_b, _ = bwd(h.gather(1, rev.expand_as(h)))           # reversed in-length
                h_b = h_b.gather(1, rev.expand_as(h_b))               # back to original order
                h = torch.cat([h_f, h_b], dim=-1)                     # (B, T, 2H)
        else:
            h = self.proj(x) + self.pos(torch.arange(T))              # (B, T, 2H)
            for block in self.blocks:
                h = block(h, key_padding_mask=mask)                   # no causal mask
            h = self.ln_f(h)
        return self.head(self.drop(h))                                # (B, T, n_tags)

    def loss(self, batch: Batch) -> Tensor:
        """Mean cross-entropy over the real tokens of the batch."""
        logits = self(batch.words, batch.chars, batch.lengths)        # (B, T, K)
        return F.cross_entropy(logits.flatten(0, 1), batch.tags.flatten(), ignore_index=IGNORE)


# ----------------------------------------------------------------------------- train, predict


@dataclass(frozen=True)
class TagTrainConfig:
    epochs: int = 20             # passes over the training tweets
    batch_size: int = 32         # tweets per step
    lr: float = 3e-3             # AdamW learning rate (constant)
    weight_decay: float = 0.01   # AdamW weight decay on the matrices
    clip: float = 5.0            # global gradient-norm clip
    seed: int = 0                # shuffling order
    max_seconds: float | None = None  # stop early after this much training time

    def __post_init__(self) -> None:
        check_int("epochs", self.epochs, min_value=1)
        check_int("batch_size", self.batch_size, min_value=1)
        check_float("lr", self.lr, low=0.0, low_inclusive=False)
        check_float("weight_decay", self.weight_decay, low=0.0)
        check_float("clip", self.clip, low=0.0, low_inclusive=False)
        check_int("seed", self.seed, min_value=0)
        if self.max_seconds is not None:
            check_float("max_seconds", self.max_seconds, low=0.0, low_inclusive=False)


def train_tagger(model: Tagger, featurizer: Featurizer, train: Sequence[Sentence],
                 val: Sequence[Sentence] | None = None,
                 config: TagTrainConfig = TagTrainConfig()) -> dict[str, list[float]]:
    """Train with AdamW and clipping; after each epoch measure validation span F1 (Viterbi)
    and keep the weights of the best epoch (early stopping). Returns the history:
    ``loss`` (mean per epoch), ``val_f1``, ``seconds`` (cumulative training time)."""
    _check_sentences("train", train)
    opt = make_optimizer(model, "adamw", lr=config.lr, weight_decay=config.weight_decay,
                         implementation="torch")
    gen = torch.Generator().manual_seed(config.seed)
    history: dict[str, list[float]] = {"loss": [], "val_f1": [], "seconds": []}
    best, best_state, elapsed = -1.0, None, 0.0
    for _ in range(config.epochs):
        start = time.perf_counter()
        model.train()
        losses = []
        for idx in _length_batches(train, config.batch_size, gen):
            batch = featurizer.batch([train[j] for j in idx])
            loss = model.loss(batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            clip_grad_norm(model.parameters(), config.clip)
            opt.step()
            losses.append(loss.item())
        elapsed += time.perf_counter() - start
        history["loss"].append(sum(losses) / len(losses))
        history["seconds"].append(elapsed)
        if val:
            f1 = span_f1([t for _, t in val], predict(model, featurizer, [w for w, _ in val]))
            history["val_f1"].append(f1)
            if f1 > best:
                best = f1
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if config.max_seconds is not None and elapsed > config.max_seconds:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return history


def _length_batches(data: Sequence[Sentence], batch_size: int,
                    gen: torch.Generator) -> list[list[int]]:
    """Shuffled batches of similar-length tweets: shuffle, sort each window of 8 batches by
    length, cut it into batches, shuffle the batches. Less padding, so fewer LSTM steps."""
    order = torch.randperm(len(data), generator=gen).tolist()
    window = 8 * batch_size
    batches = []
    for i in range(0, len(order), window):
        chunk = sorted(order[i: i + window], key=lambda j: len(data[j][0]))
        batches += [chunk[k: k + batch_size] for k in range(0, len(chunk), batch_size)]
    return [batches[k] for k in torch.randperm(len(batches), generator=gen).tolist()]


@torch.no_grad()
def predict(model: Tagger, featurizer: Featurizer, sentences: Sequence[list[str]], *,
            decode: str = "viterbi", batch_size: int = 128) -> list[list[str]]:
    """BIO tags for each token list, by constrained Viterbi (``"viterbi"``) or by the
    per-token argmax (``"argmax"``, which can produce invalid sequences)."""
    check_choice("decode", decode, ["viterbi", "argmax"])
    was_training = model.training
    model.eval()
    allowed, start = transition_mask(featurizer.tags)
    out: list[list[str]] = []
    for i in range(0, len(sentences), batch_size):
        b = featurizer.batch(list(sentences[i: i + batch_size]))
        logp = F.log_softmax(model(b.words, b.chars, b.lengths), dim=-1)   # (B, T, K)
        paths = (viterbi_decode(logp, allowed, start, b.lengths) if decode == "viterbi"
                 else argmax_decode(logp, b.lengths))
        out.extend([featurizer.tags[j] for j in p] for p in paths)
    model.train(was_training)
    return out


# ----------------------------------------------------------------------------- baselines


def all_o_tagger(sentences: Sequence[list[str]]) -> list[list[str]]:
    """The laziest tagger: every token is outside every entity."""
    return [["O"] * len(s) for s in sentences]


class MemorisingTagger:
    """Tags every string that was an entity in training with its most frequent type
    (lower-cased, longest match first, left to right); everything else is ``O``.

    >>> m = MemorisingTagger([(["New", "York", "is", "big"], ["B-geo-loc", "I-geo-loc", "O", "O"])])
    >>> m.predict([["i", "love", "new", "york"]])
    [['O', 'O', 'B-geo-loc', 'I-geo-loc']]
    """

    def __init__(self, train: Sequence[Sentence]) -> None:
        _check_sentences("train", train)
        votes: dict[tuple[str, ...], Counter] = {}
        for toks, tags in train:
            for typ, s, e in bio_spans(tags):
                key = tuple(w.lower() for w in toks[s:e])
                votes.setdefault(key, Counter())[typ] += 1
        self.entities = {k: c.most_common(1)[0][0] for k, c in votes.items()}
        self.longest = max((len(k) for k in self.entities), default=0)

    def predict(self, sentences: Sequence[list[str]]) -> list[list[str]]:
        out = []
        for toks in sentences:
            low, tags, i = [w.lower() for w in toks], ["O"] * len(toks), 0
            while i < len(toks):
                for n in range(min(self.longest, len(toks) - i), 0, -1):
                    typ = self.entities.get(tuple(low[i: i + n]))
                    if typ is not None:
                        tags[i: i + n] = [f"B-{typ}"] + [f"I-{typ}"] * (n - 1)
                        i += n
                        break
                else:
                    i += 1
            out.append(tags)
        return out


# ----------------------------------------------------------------------------- error analysis


def span_errors(sentences: Sequence[list[str]], y_true: Sequence[Sequence[str]],
                y_pred: Sequence[Sequence[str]]) -> list[dict[str, str]]:
    """Every gold or predicted span that is not an exact match, classified as ``type``
    (same tokens, wrong type), ``boundary`` (overlaps a gold span, not the same tokens),
    ``missed`` (no predicted span overlaps the gold one) or ``spurious`` (no gold span
    overlaps the predicted one). Rows: kind, gold, predicted, tweet."""
    if not len(sentences) == len(y_true) == len(y_pred):
        raise ValueError(f"sentences, y_true and y_pred must have the same length, got "
                         f"{len(sentences)}, {len(y_true)}, {len(y_pred)}")
    rows = []
    for toks, gold_tags, pred_tags in zip(sentences, y_true, y_pred, strict=True):
        gold, pred = set(bio_spans(list(gold_tags))), set(bio_spans(list(pred_tags)))

        def show(span, toks=toks):
            return f"{' '.join(toks[span[1]:span[2]])} ({span[0]})"

        def overlaps(a, b):
            return a[1] < b[2] and b[1] < a[2]

        tweet = " ".join(toks)
        for g in sorted(gold - pred, key=lambda s: s[1]):
            hits = [p for p in pred - gold if overlaps(g, p)]
            if not hits:
                rows.append({"kind": "missed", "gold": show(g), "predicted": "", "tweet": tweet})
            for p in hits:
                kind = "type" if (p[1], p[2]) == (g[1], g[2]) else "boundary"
                rows.append({"kind": kind, "gold": show(g), "predicted": show(p), "tweet": tweet})
        for p in sorted(pred - gold, key=lambda s: s[1]):
            if not any(overlaps(p, g) for g in gold - pred) and not any(
                    overlaps(p, g) for g in gold & pred):
                rows.append({"kind": "spurious", "gold": "", "predicted": show(p),
                             "tweet": tweet})
    return rows


# ----------------------------------------------------------------------------- the results table


def compare_systems(y_true: Sequence[Sequence[str]], systems: dict[str, list[list[str]]], *,
                    n_resamples: int = 1000, seed: int = 0) -> list[dict[str, float]]:
    """One row per system: micro span F1 with a 95 % bootstrap interval over sentences,
    strict-mode F1, token accuracy and the number of invalid BIO outputs."""
    from lm_course.metrics import accuracy, bootstrap_ci

    gold_tokens = [t for s in y_true for t in s]
    rows = []
    for name, pred in systems.items():
        f1, low, high = bootstrap_ci(span_f1, list(y_true), pred, n_resamples=n_resamples,
                                     seed=seed)
        rows.append({"system": name, "f1": f1, "low": low, "high": high,
                     "strict_f1": span_f1(y_true, pred, mode="strict"),
                     "token_acc": accuracy(gold_tokens, [t for s in pred for t in s]),
                     "invalid": count_invalid(pred)})
    return rows


def format_results(rows: Sequence[dict], extra: dict[str, dict[str, str]] | None = None) -> str:
    """The rows of :func:`compare_systems` as a fixed-width text table; ``extra`` adds
    columns per system (e.g. training time), missing entries shown as ``-``."""
    extra = extra or {}
    cols = sorted({k for v in extra.values() for k in v})
    head = (f"{'system':<24} {'span F1':>7} {'95% interval':>15} {'strict F1':>9} "
            f"{'token acc':>9} {'invalid':>7}" + "".join(f" {c:>10}" for c in cols))
    lines = [head, "-" * len(head)]
    for r in rows:
        more = extra.get(r["system"].split(" (")[0], {})
        lines.append(f"{r['system']:<24} {r['f1']:7.3f} [{r['low']:.3f}, {r['high']:.3f}] "
                     f"{r['strict_f1']:9.3f} {r['token_acc']:9.3f} {r['invalid']:7d}"
                     + "".join(f" {more.get(c, '-'):>10}" for c in cols))
    return "\n".join(lines)
