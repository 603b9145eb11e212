"""Static word embeddings (chapter 01): word2vec (skip-gram with negative sampling, CBOW) and
GloVe, trained from scratch, and the standard ways to evaluate them.

The pipeline reads top to bottom: sentences of word tokens -> ``Vocab`` (min-count) -> ids ->
training examples (subsampled, windowed (center, context) pairs with noise words, or a
co-occurrence matrix) -> a model with two embedding tables -> ``WordVectors`` -> word-similarity
and analogy scores.

>>> vocab = Vocab.build([["a", "b", "a"], ["b", "a", "c"]], min_count=2)
>>> vocab.words, vocab.counts.tolist()
(['a', 'b'], [3, 2])
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from lm_course.utils import check_choice, check_float, check_int

Sentences = Sequence[Sequence[str]]

# ----------------------------------------------------------------------------- vocabulary


class Vocab:
    """Words seen at least ``min_count`` times, most frequent first, with their counts."""

    def __init__(self, words: Sequence[str], counts: Sequence[int]) -> None:
        if len(words) != len(counts) or not words:
            raise ValueError(f"words and counts must be non-empty and of equal length, got "
                             f"{len(words)} and {len(counts)}")
        self.words = list(words)
        self.counts = np.asarray(counts, dtype=np.int64)
        self.index = {w: i for i, w in enumerate(self.words)}

    @classmethod
    def build(cls, sentences: Sentences, min_count: int = 5,
              max_size: int | None = None) -> Vocab:
        check_int("min_count", min_count, min_value=1)
        if max_size is not None:
            check_int("max_size", max_size, min_value=1)
        if isinstance(sentences, str) or len(sentences) == 0:
            raise ValueError("sentences must be a non-empty list of token lists, got "
                             f"{type(sentences).__name__} of length {len(sentences)}")
        if isinstance(sentences[0], str):
            raise TypeError("sentences must be a list of token lists such as [['the', 'cat']], "
                            f"got a list of strings starting with {sentences[0]!r}")
        counter = Counter(w for s in sentences for w in s)
        if not counter:
            raise ValueError("sentences contain no words: the corpus is empty")
        kept = sorted((wc for wc in counter.items() if wc[1] >= min_count),
                      key=lambda wc: (-wc[1], wc[0]))[:max_size]
        if not kept:
            raise ValueError(f"no word occurs at least min_count={min_count} times "
                             f"(the most frequent, {counter.most_common(1)[0]}); lower min_count")
        return cls([w for w, _ in kept], [c for _, c in kept])

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    def __getitem__(self, word: str) -> int:
        if word not in self.index:
            raise ValueError(f"word {word!r} is not in the vocabulary ({len(self)} words)")
        return self.index[word]

    def encode(self, sentences: Sentences) -> tuple[np.ndarray, np.ndarray]:
        """All in-vocabulary tokens as one id array, and the sentence each token came from.

        Out-of-vocabulary words are dropped (as word2vec and GloVe do), so windows close up.
        """
        get = self.index.get
        ids = np.fromiter((get(w, -1) for s in sentences for w in s), dtype=np.int64)
        sent = np.repeat(np.arange(len(sentences)), [len(s) for s in sentences])
        keep = ids >= 0
        return ids[keep], sent[keep]


# ----------------------------------------------------------------------------- training examples


def keep_probabilities(counts: np.ndarray, sample: float = 1e-3) -> np.ndarray:
    """P(keep) of each word under frequent-word subsampling with threshold ``t = sample``.

    With f the word's share of the corpus, word2vec's code (and gensim) keep a word with
    probability min(1, sqrt(t/f) + t/f); the paper's rule, sqrt(t/f), lacks the small t/f term.
    ``sample=0`` keeps everything.

    >>> keep_probabilities(np.array([990, 10]), sample=0.01).round(3).tolist()
    [0.111, 1.0]
    """
    check_float("sample", sample, low=0.0)
    counts = np.asarray(counts, dtype=np.float64)
    if sample == 0:
        return np.ones_like(counts)
    ratio = sample / (counts / counts.sum())  # t / f
    return np.minimum(1.0, np.sqrt(ratio) + ratio)


def _subsample_and_shrink(ids: np.ndarray, sent: np.ndarray, window: int, keep: np.ndarray | None,
                          rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Drop frequent words at random, then draw each position's window size in 1..window."""
    check_int("window", window, min_value=1)
    if keep is not None:
        mask = rng.random(len(ids)) < keep[ids]
        ids, sent = ids[mask], sent[mask]
    return ids, sent, rng.integers(1, window + 1, size=len(ids))


def skipgram_pairs(ids: np.ndarray, sent: np.ndarray, window: int, keep: np.ndarray | None,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(center, context) id pairs: every word within a random window (1..``window``) of the
    center, inside one sentence, after subsampling. Vectorised over one offset at a time.

    >>> c, o = skipgram_pairs(np.array([0, 1, 2]), np.zeros(3, int), 1, None,
    ...                       np.random.default_rng(0))
    >>> sorted(zip(c.tolist(), o.tolist()))
    [(0, 1), (1, 0), (1, 2), (2, 1)]
    """
    ids, sent, shrunk = _subsample_and_shrink(ids, sent, window, keep, rng)
    centers, contexts = [], []
    for d in range(1, window + 1):
        same = sent[d:] == sent[:-d]  # positions i and i + d share a sentence
        right = np.flatnonzero(same & (shrunk[:-d] >= d))  # center i sees i + d
        left = np.flatnonzero(same & (shrunk[d:] >= d))  # center i + d sees i
        centers += [ids[right], ids[left + d]]
        contexts += [ids[right + d], ids[left]]
    return np.concatenate(centers), np.concatenate(contexts)


def cbow_windows(ids: np.ndarray, sent: np.ndarray, window: int, keep: np.ndarray | None,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CBOW examples: context ids (N, 2*window), a 0/1 mask of the slots actually filled, and
    the center word each window predicts (N,); centers with no context word are dropped."""
    ids, sent, shrunk = _subsample_and_shrink(ids, sent, window, keep, rng)
    n = len(ids)
    contexts = np.zeros((n, 2 * window), dtype=np.int64)
    mask = np.zeros((n, 2 * window), dtype=np.float32)
    for d in range(1, window + 1):
        ok = (sent[d:] == sent[:-d]) & (shrunk[d:] >= d)  # center i + d sees i (on its left)
        contexts[d:, window - d], mask[d:, window - d] = np.where(ok, ids[:-d], 0), ok
        ok = (sent[:-d] == sent[d:]) & (shrunk[:-d] >= d)  # center i sees i + d (on its right)
        contexts[:-d, window + d - 1], mask[:-d, window + d - 1] = np.where(ok, ids[d:], 0), ok
    rows = mask.any(axis=1)
    return contexts[rows], mask[rows], ids[rows]


class NegativeSampler:
    """Draws noise words from the unigram distribution raised to ``power`` (3/4 in word2vec),
    in O(1) per draw with Walker's alias method: pick a column uniformly, then either keep it
    or jump to its alias."""

    def __init__(self, counts: np.ndarray, power: float = 0.75) -> None:
        check_float("power", power, low=0.0)
        weights = np.asarray(counts, dtype=np.float64) ** power
        self.probs = weights / weights.sum()
        n = len(self.probs)
        scaled_p = self.probs * n  # each column holds total mass 1 after the construction
        accept, alias = np.ones(n), np.arange(n)
        small = [i for i in range(n) if scaled_p[i] < 1.0]
        large = [i for i in range(n) if scaled_p[i] >= 1.0]
        while small and large:
            s, g = small.pop(), large.pop()
            accept[s], alias[s] = scaled_p[s], g
            scaled_p[g] -= 1.0 - scaled_p[s]
            (small if scaled_p[g] < 1.0 else large).append(g)
        self.accept, self.alias = accept.astype(np.float32), alias.astype(np.int32)

    def sample(self, shape: int | tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        column = rng.integers(0, len(self.probs), size=shape, dtype=np.int32)
        coin = rng.random(shape, dtype=np.float32)
        return np.where(coin < self.accept[column], column, self.alias[column])


# ----------------------------------------------------------------------------- word2vec


def sgns_loss(v_c: torch.Tensor, u_o: torch.Tensor, u_neg: torch.Tensor) -> torch.Tensor:
    """Skip-gram negative-sampling loss per example: -log σ(u_oᵀv_c) - Σ_k log σ(-u_kᵀv_c).

    v_c: (B, D) center (input) vectors, u_o: (B, D) true context (output) vectors,
    u_neg: (B, K, D) output vectors of the K noise words. Returns (B,).
    """
    pos = (u_o * v_c).sum(-1)  # (B,)
    neg = torch.bmm(u_neg, v_c.unsqueeze(2)).squeeze(2)  # (B, K)
    return -F.logsigmoid(pos) - F.logsigmoid(-neg).sum(-1)


def softmax_loss(v_c: torch.Tensor, u_all: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
    """Full-softmax skip-gram loss per example: -log p(o|c) with
    p(o|c) = exp(u_oᵀv_c) / Σ_w exp(u_wᵀv_c).

    Costs O(vocabulary) per example, which is why word2vec approximates it with SGNS.
    """
    scores = v_c @ u_all.T  # (B, V)
    return torch.logsumexp(scores, dim=1) - scores.gather(1, context.unsqueeze(1)).squeeze(1)


def _negative_sampling_update(out_weight: torch.Tensor, v: torch.Tensor, target: torch.Tensor,
                              negatives: torch.Tensor, lr: float) -> tuple[torch.Tensor, float]:
    """SGD on the output rows of ``sgns_loss`` summed over the batch; returns the step for v
    (-lr dL/dv) and the loss. The gradient is written out (and tested against autograd): for a
    score s = uᵀv, dL/ds is σ(s) - 1 for the true word and σ(s) for a noise word."""
    B, K = negatives.shape
    rows = torch.cat([target.unsqueeze(1), negatives], dim=1).reshape(-1)  # (B*(K+1),)
    u = out_weight.index_select(0, rows).view(B, K + 1, -1)  # (B, K+1, D)
    scores = torch.bmm(v.unsqueeze(1), u.transpose(1, 2)).squeeze(1)  # (B, K+1)
    loss = -(F.logsigmoid(scores[:, 0]).sum() + F.logsigmoid(-scores[:, 1:]).sum())
    g = torch.sigmoid(scores)  # (B, K+1) dL/ds
    g[:, 0] -= 1.0
    g *= -lr  # SGD step per score (folding lr in here is faster than index_add_'s alpha)
    step_v = torch.bmm(g.unsqueeze(1), u).squeeze(1)  # (B, D), uses u before its update
    step_u = torch.mul(g.unsqueeze(2), v.unsqueeze(1), out=u)  # (B, K+1, D), reuses u's memory
    out_weight.index_add_(0, rows, step_u.view(B * (K + 1), -1))
    return step_v, float(loss)


class _TwoTables(nn.Module):
    """word2vec's parameters: an input and an output vector per word, two (V, D) tables."""

    def __init__(self, vocab_size: int, dim: int, generator: torch.Generator | None = None):
        super().__init__()
        check_int("vocab_size", vocab_size, min_value=1)
        check_int("dim", dim, min_value=1)
        self.in_embed = nn.Embedding(vocab_size, dim)  # v: the word vectors we keep
        self.out_embed = nn.Embedding(vocab_size, dim)  # u: "as a context" vectors
        with torch.no_grad():  # word2vec's init: small random inputs, zero outputs
            self.in_embed.weight.uniform_(-0.5 / dim, 0.5 / dim, generator=generator)
            self.out_embed.weight.zero_()


class SkipGramNS(_TwoTables):
    """Skip-gram: a center word's input vector v_c predicts each context word's output vector."""

    def forward(self, center: torch.Tensor, context: torch.Tensor,
                negatives: torch.Tensor) -> torch.Tensor:
        """SGNS loss per pair, (B,): center, context (B,), negatives (B, K)."""
        return sgns_loss(self.in_embed(center), self.out_embed(context), self.out_embed(negatives))

    def full_softmax_loss(self, center: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """-log p(context | center) with the exact softmax over the whole vocabulary, (B,)."""
        return softmax_loss(self.in_embed(center), self.out_embed.weight, context)

    @torch.no_grad()
    def sgd_step(self, center: torch.Tensor, context: torch.Tensor, negatives: torch.Tensor,
                 lr: float) -> float:
        """One plain-SGD step on ``self(...).sum()`` touching only the rows used; returns that
        loss."""
        v = self.in_embed.weight.index_select(0, center)  # (B, D)
        step_v, loss = _negative_sampling_update(self.out_embed.weight, v, context, negatives, lr)
        self.in_embed.weight.index_add_(0, center, step_v)
        return loss


class CBOW(_TwoTables):
    """Continuous bag of words: the mean h of the context words' input vectors predicts the
    center word."""

    def forward(self, contexts: torch.Tensor, mask: torch.Tensor, center: torch.Tensor,
                negatives: torch.Tensor) -> torch.Tensor:
        """Loss per example, (B,): contexts (B, C) ids, mask (B, C) 0/1, center (B,),
        negatives (B, K)."""
        h = (self.in_embed(contexts) * mask.unsqueeze(2)).sum(1) / mask.sum(1, keepdim=True)
        return sgns_loss(h, self.out_embed(center), self.out_embed(negatives))  # h: (B, D)

    @torch.no_grad()
    def sgd_step(self, contexts: torch.Tensor, mask: torch.Tensor, center: torch.Tensor,
                 negatives: torch.Tensor, lr: float) -> float:
        """One SGD step; returns the summed loss. As in word2vec's C code and gensim, every
        context word receives the whole step of h, not the 1/n share that the mean's exact
        gradient would give it: the input vectors learn n times faster (tested)."""
        B, C = contexts.shape
        n = mask.sum(1, keepdim=True)  # (B, 1) context words per example
        e = self.in_embed.weight.index_select(0, contexts.reshape(-1)).view(B, C, -1)  # (B, C, D)
        h = torch.bmm(mask.unsqueeze(1), e).squeeze(1) / n  # (B, D)
        step_h, loss = _negative_sampling_update(self.out_embed.weight, h, center, negatives, lr)
        step_e = step_h.unsqueeze(1) * mask.unsqueeze(2)  # (B, C, D), zero on empty slots
        self.in_embed.weight.index_add_(0, contexts.reshape(-1), step_e.view(B * C, -1))
        return loss


@dataclass(frozen=True)
class Word2VecConfig:
    arch: str = "skipgram"  # "skipgram" (SGNS) or "cbow"
    dim: int = 100  # embedding size
    window: int = 5  # largest distance between center and context; each center draws 1..window
    negatives: int = 5  # noise words per positive example
    min_count: int = 5  # rarer words are dropped before training
    sample: float = 1e-3  # subsampling threshold t (0 = keep every word)
    ns_power: float = 0.75  # noise distribution ∝ count ** ns_power
    epochs: int = 5  # passes over the corpus
    lr: float = 0.025  # SGD step, decayed linearly to min_lr over training (as word2vec does)
    min_lr: float = 1e-4  # final SGD step
    batch_size: int = 1024  # examples per vectorised SGD step
    chunk_words: int = 100_000  # corpus words turned into examples at a time (bounds memory)
    workers: int = 1  # parallel threads (Hogwild); > 1 is faster, not bit-for-bit reproducible
    log_every: int = 50  # SGD steps per point of the loss curve
    seed: int = 0  # initialisation, subsampling, windows, noise words and shuffling

    def __post_init__(self) -> None:
        check_choice("arch", self.arch, ["skipgram", "cbow"])
        for name in ("dim", "window", "negatives", "min_count", "epochs", "batch_size",
                     "chunk_words", "workers", "log_every"):
            check_int(name, getattr(self, name), min_value=1)
        check_int("seed", self.seed, min_value=0)
        check_float("sample", self.sample, low=0.0)
        check_float("ns_power", self.ns_power, low=0.0)
        check_float("lr", self.lr, low=0.0, low_inclusive=False)
        check_float("min_lr", self.min_lr, low=0.0, high=self.lr)


@dataclass
class TrainResult:
    """What training returns: the model, its vocabulary, the word vectors and a loss curve
    (mean loss per example, ``words_seen`` corpus words after each point)."""

    model: nn.Module
    vocab: Vocab
    wv: WordVectors
    losses: list[float] = field(default_factory=list)
    words_seen: list[int] = field(default_factory=list)
    seconds: float = 0.0
    words_per_second: float = 0.0  # raw corpus words x epochs / seconds (gensim's convention)
    chunk_starts: list[int] = field(default_factory=list)  # words seen when each chunk began


@contextmanager
def _one_torch_thread() -> Iterator[None]:
    """Run small tensor ops single-threaded (restored afterwards). On batches this size an
    OpenMP team gains little, and on a busy machine its barriers make each op 10-100x slower;
    parallelism comes from ``workers`` instead."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _chunks(sent: np.ndarray, chunk_words: int) -> list[slice]:
    """Split the token stream into slices of about ``chunk_words``, at sentence boundaries."""
    starts = np.flatnonzero(np.r_[True, sent[1:] != sent[:-1]])
    cuts = np.unique(starts[np.searchsorted(starts, np.arange(0, len(sent), chunk_words))])
    bounds = np.r_[cuts, len(sent)]
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def train_word2vec(sentences: Sentences, config: Word2VecConfig | None = None, *,
                   vocab: Vocab | None = None, progress: bool = True) -> TrainResult:
    """Train SGNS or CBOW with vectorised mini-batch SGD over pre-generated examples.

    The corpus is cut into jobs (one chunk of one epoch). Per job: subsample, draw windows,
    build the examples, draw K noise words each, shuffle, then take SGD steps of
    ``batch_size`` examples (sparse row updates). With ``workers > 1`` jobs run in parallel
    threads that update the same tables without locks ("Hogwild", as word2vec and gensim do).
    """
    cfg = config or Word2VecConfig()
    start = time.perf_counter()
    vocab = vocab or Vocab.build(sentences, cfg.min_count)
    ids, sent = vocab.encode(sentences)
    if len(ids) == 0 or np.bincount(sent).max() < 2:
        raise ValueError("sentences give no training pairs: no sentence has two words of the "
                         f"vocabulary ({len(vocab)} words); use longer sentences, a bigger "
                         "corpus or a lower min_count")
    gen = torch.Generator().manual_seed(cfg.seed)
    model = (SkipGramNS if cfg.arch == "skipgram" else CBOW)(len(vocab), cfg.dim, gen)
    keep = keep_probabilities(vocab.counts, cfg.sample) if cfg.sample > 0 else None
    sampler = NegativeSampler(vocab.counts, cfg.ns_power)
    make_examples = skipgram_pairs if cfg.arch == "skipgram" else cbow_windows
    raw_words = sum(len(s) for s in sentences)  # progress is counted in raw words, like gensim
    total = cfg.epochs * raw_words
    jobs = [part for _ in range(cfg.epochs) for part in _chunks(sent, cfg.chunk_words)]
    job_words = np.array([p.stop - p.start for p in jobs]) * raw_words / len(ids)
    job_start = np.cumsum(job_words) - job_words  # raw words processed before each job
    # whole-word progress marks that end exactly at ``total`` (rounding each job's own share
    # would overshoot it, and tqdm shows an overshot total as "?")
    marks = np.round(np.r_[job_start, total]).astype(np.int64)
    marks[-1] = total
    bar = tqdm(total=total, unit="word", unit_scale=True, disable=not progress, desc=cfg.arch)

    def run(job: int) -> list[tuple[float, float]]:
        """One job; returns (words seen, mean loss) points for the loss curve."""
        rng = np.random.default_rng([cfg.seed, job])  # same examples whatever the thread
        part = jobs[job]
        examples = make_examples(ids[part], sent[part], cfg.window, keep, rng)
        n = len(examples[0])
        order = rng.permutation(n)
        tensors = [torch.from_numpy(np.ascontiguousarray(a[order])) for a in examples]
        noise = torch.from_numpy(sampler.sample((n, cfg.negatives), rng))
        points, loss_sum, count = [], 0.0, 0
        for step, b in enumerate(range(0, n, cfg.batch_size)):
            seen = job_start[job] + job_words[job] * b / n
            lr = cfg.lr - (cfg.lr - cfg.min_lr) * seen / total  # linear decay
            batch = [t[b:b + cfg.batch_size] for t in tensors]
            loss_sum += model.sgd_step(*batch, noise[b:b + cfg.batch_size], lr=lr)
            count += len(batch[0])
            if (step + 1) % cfg.log_every == 0 or b + cfg.batch_size >= n:
                end = job_start[job] + job_words[job] * min(b + cfg.batch_size, n) / n
                points.append((float(end), loss_sum / count))
                loss_sum, count = 0.0, 0
        bar.update(int(marks[job + 1] - marks[job]))
        return points

    with _one_torch_thread(), ThreadPoolExecutor(cfg.workers) as pool:
        results = list(pool.map(run, range(len(jobs))))
    bar.close()
    points = sorted(p for r in results for p in r)
    if not points:
        raise ValueError(f"no training pairs survived subsampling (sample={cfg.sample}); "
                         "use a bigger corpus or sample=0")
    seconds = time.perf_counter() - start
    wv = WordVectors(model.in_embed.weight.detach().clone(), vocab.words)
    return TrainResult(model, vocab, wv, [loss for _, loss in points],
                       [round(w) for w, _ in points], seconds, total / seconds,
                       [int(m) for m in marks[:-1]])


# ----------------------------------------------------------------------------- GloVe


def cooccurrence_matrix(ids: np.ndarray, sent: np.ndarray, vocab_size: int, window: int = 10,
                        chunk_words: int = 500_000) -> scipy.sparse.csr_matrix:
    """Symmetric sparse counts X[i, j]: each time j occurs d <= ``window`` words from i in the
    same sentence it adds 1/d (GloVe's distance weighting). Built chunk by chunk.

    >>> cooccurrence_matrix(np.array([0, 1, 0]), np.zeros(3, int), 2, window=2).toarray()
    array([[1., 2.],
           [2., 0.]])
    """
    check_int("window", window, min_value=1)
    check_int("vocab_size", vocab_size, min_value=1)
    X = scipy.sparse.csr_matrix((vocab_size, vocab_size))
    for part in _chunks(sent, chunk_words):
        p_ids, p_sent = ids[part], sent[part]
        rows, cols, vals = [], [], []
        for d in range(1, window + 1):
            at = np.flatnonzero(p_sent[d:] == p_sent[:-d])  # pairs (at, at + d) in one sentence
            rows += [p_ids[at], p_ids[at + d]]
            cols += [p_ids[at + d], p_ids[at]]
            vals.append(np.full(2 * len(at), 1.0 / d))
        X = X + scipy.sparse.coo_matrix(  # duplicates are summed
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
            shape=(vocab_size, vocab_size)).tocsr()
    return X


def glove_weight(x: torch.Tensor, x_max: float = 100.0, alpha: float = 0.75) -> torch.Tensor:
    """GloVe's weighting f(x) = min(1, (x / x_max) ** alpha): rare pairs count less, and no
    pair counts more than 1 (so "the, of" cannot dominate).

    >>> glove_weight(torch.tensor([0.0, 50.0, 100.0, 1e4]), x_max=100.0, alpha=1.0).tolist()
    [0.0, 0.5, 1.0, 1.0]
    """
    return torch.clamp((x / x_max) ** alpha, max=1.0)


def glove_loss(w_i: torch.Tensor, w_j: torch.Tensor, b_i: torch.Tensor, b_j: torch.Tensor,
               log_x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Σ f(X_ij) (w_iᵀw̃_j + b_i + b̃_j - log X_ij)², over a batch of non-zero entries.

    w_i, w_j: (B, D) word and context vectors; b_i, b_j, log_x, weight: (B,). Returns a scalar.
    """
    error = (w_i * w_j).sum(-1) + b_i + b_j - log_x  # (B,)
    return (weight * error**2).sum()


class GloVe(nn.Module):
    """Word vectors W, context vectors W̃ and their biases; the final vectors are W + W̃."""

    def __init__(self, vocab_size: int, dim: int, generator: torch.Generator | None = None):
        super().__init__()
        check_int("vocab_size", vocab_size, min_value=1)
        check_int("dim", dim, min_value=1)
        self.w = nn.Parameter(torch.empty(vocab_size, dim))  # w_i
        self.w_tilde = nn.Parameter(torch.empty(vocab_size, dim))  # w̃_j
        self.b = nn.Parameter(torch.empty(vocab_size))  # b_i
        self.b_tilde = nn.Parameter(torch.empty(vocab_size))  # b̃_j
        with torch.no_grad():  # the reference code's init: uniform in ±0.5/dim
            for p in self.parameters():
                p.uniform_(-0.5 / dim, 0.5 / dim, generator=generator)
        for name, p in self.named_parameters():  # AdaGrad's sums of squared gradients
            self.register_buffer(f"{name}_g2", torch.ones_like(p))  # start at 1, as GloVe does

    def forward(self, i: torch.Tensor, j: torch.Tensor, x: torch.Tensor,
                x_max: float = 100.0, alpha: float = 0.75) -> torch.Tensor:
        """The GloVe loss summed over entries (i, j) with counts x > 0, all (B,)."""
        return glove_loss(self.w[i], self.w_tilde[j], self.b[i], self.b_tilde[j],
                          torch.log(x), glove_weight(x, x_max, alpha))

    @torch.no_grad()
    def adagrad_step(self, i: torch.Tensor, j: torch.Tensor, x: torch.Tensor, lr: float,
                     x_max: float = 100.0, alpha: float = 0.75, eps: float = 1e-10) -> float:
        """One AdaGrad step on ``self(i, j, x)`` that touches only the rows used; returns the loss.

        The gradient is written out (tested against autograd): with e the error inside the
        square, dJ/dw_i = 2 f e w̃_j, dJ/dw̃_j = 2 f e w_i and dJ/db_i = dJ/db̃_j = 2 f e. Each
        entry adds its own squared gradient to the sums, as in the reference code; with no
        repeated row in the batch this is exactly ``torch.optim.Adagrad`` (tested).
        """
        w_i, w_j = self.w.index_select(0, i), self.w_tilde.index_select(0, j)  # (B, D)
        err = (w_i * w_j).sum(1) + self.b[i] + self.b_tilde[j] - torch.log(x)  # (B,)
        d = 2 * glove_weight(x, x_max, alpha) * err  # (B,) dJ/de
        for p, g2, rows, grad in ((self.w, self.w_g2, i, d[:, None] * w_j),
                                  (self.w_tilde, self.w_tilde_g2, j, d[:, None] * w_i),
                                  (self.b, self.b_g2, i, d), (self.b_tilde, self.b_tilde_g2, j, d)):
            g2.index_add_(0, rows, grad * grad)
            p.index_add_(0, rows, grad / g2.index_select(0, rows).sqrt_().add_(eps), alpha=-lr)
        return float((d * err).sum()) / 2

    def vectors(self) -> torch.Tensor:
        return (self.w + self.w_tilde).detach()  # (V, D)


@dataclass(frozen=True)
class GloVeConfig:
    dim: int = 100  # embedding size
    window: int = 10  # co-occurrence window (each neighbour at distance d counts 1/d)
    min_count: int = 5  # rarer words are dropped before counting
    x_max: float = 100.0  # counts at or above x_max get full weight
    alpha: float = 0.75  # exponent of the weighting function
    epochs: int = 25  # passes over the non-zero entries
    lr: float = 0.05  # AdaGrad step, as in the GloVe paper
    batch_size: int = 4096  # non-zero entries per AdaGrad step
    seed: int = 0  # initialisation and shuffling

    def __post_init__(self) -> None:
        for name in ("dim", "window", "min_count", "epochs", "batch_size"):
            check_int(name, getattr(self, name), min_value=1)
        check_int("seed", self.seed, min_value=0)
        check_float("x_max", self.x_max, low=0.0, low_inclusive=False)
        check_float("alpha", self.alpha, low=0.0)
        check_float("lr", self.lr, low=0.0, low_inclusive=False)


def train_glove(sentences: Sentences, config: GloVeConfig | None = None, *,
                vocab: Vocab | None = None, cooc: scipy.sparse.spmatrix | None = None,
                progress: bool = True) -> TrainResult:
    """Count co-occurrences, then fit GloVe with AdaGrad over shuffled non-zero entries."""
    cfg = config or GloVeConfig()
    start = time.perf_counter()
    vocab = vocab or Vocab.build(sentences, cfg.min_count)
    if cooc is None:
        cooc = cooccurrence_matrix(*vocab.encode(sentences), len(vocab), cfg.window)
    X = scipy.sparse.coo_matrix(cooc)
    if X.nnz == 0:
        raise ValueError("the co-occurrence matrix is empty: no two vocabulary words share a "
                         "sentence; use a bigger corpus or a lower min_count")
    i, j = torch.from_numpy(X.row.astype(np.int64)), torch.from_numpy(X.col.astype(np.int64))
    x = torch.from_numpy(X.data.astype(np.float32))
    gen = torch.Generator().manual_seed(cfg.seed)
    model = GloVe(len(vocab), cfg.dim, gen)
    losses = []
    with _one_torch_thread():
        for _ in tqdm(range(cfg.epochs), desc="glove", unit="epoch", disable=not progress):
            order = torch.randperm(X.nnz, generator=gen)
            total = 0.0
            for b in range(0, X.nnz, cfg.batch_size):
                idx = order[b:b + cfg.batch_size]
                total += model.adagrad_step(i[idx], j[idx], x[idx], cfg.lr, cfg.x_max, cfg.alpha)
            losses.append(total / X.nnz)
    seconds = time.perf_counter() - start
    raw_words = sum(len(s) for s in sentences)
    return TrainResult(model, vocab, WordVectors(model.vectors(), vocab.words), losses,
                       [raw_words * (e + 1) for e in range(cfg.epochs)], seconds,
                       raw_words * cfg.epochs / seconds)


# ----------------------------------------------------------------------------- evaluation


class WordVectors:
    """A table of word vectors with cosine look-ups (what gensim calls KeyedVectors)."""

    def __init__(self, vectors: torch.Tensor | np.ndarray, words: Sequence[str]) -> None:
        self.vectors = torch.as_tensor(vectors, dtype=torch.float32)  # (V, D)
        if self.vectors.dim() != 2 or self.vectors.shape[0] != len(words):
            raise ValueError(f"vectors must be (len(words), dim) = ({len(words)}, dim), got "
                             f"shape {tuple(self.vectors.shape)}")
        self.words = list(words)
        self.index = {w: i for i, w in enumerate(self.words)}
        self.unit = F.normalize(self.vectors, dim=1)  # (V, D) rows of length 1

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    def id(self, word: str) -> int:
        if word not in self.index:
            raise ValueError(f"word {word!r} is not in the vocabulary ({len(self)} words); "
                             "check `word in wv` first")
        return self.index[word]

    def __getitem__(self, word: str) -> torch.Tensor:
        return self.vectors[self.id(word)]

    def similarity(self, a: str, b: str) -> float:
        return float(self.unit[self.id(a)] @ self.unit[self.id(b)])

    def most_similar(self, query: str | torch.Tensor, k: int = 10,
                     exclude: Sequence[str] = ()) -> list[tuple[str, float]]:
        """The ``k`` words of highest cosine similarity to a word (itself excluded) or vector."""
        check_int("k", k, min_value=1)
        skip = [self.id(w) for w in exclude]
        if isinstance(query, str):
            skip.append(self.id(query))
            query = self.vectors[self.id(query)]
        scores, idx = cosine_top_k(query.reshape(1, -1), self.unit, k, [skip])
        pairs = zip(idx[0].tolist(), scores[0].tolist(), strict=True)
        return [(self.words[i], s) for i, s in pairs]

    def analogy(self, a: str, b: str, c: str, k: int = 1) -> list[tuple[str, float]]:
        """a is to b as c is to ?  (3CosAdd: the word nearest to b̂ - â + ĉ, a, b, c excluded)."""
        query = self.unit[self.id(b)] - self.unit[self.id(a)] + self.unit[self.id(c)]
        return self.most_similar(query, k, exclude=[a, b, c])


def cosine_top_k(queries: torch.Tensor, unit_keys: torch.Tensor, k: int,
                 exclude: Sequence[Sequence[int]] | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k cosine similarities of each query (Q, D) against unit-length keys (V, D), with
    ``exclude[q]`` key ids never returned for query q. Returns scores and ids, (Q, k)."""
    scores = F.normalize(queries.float(), dim=1) @ unit_keys.T  # (Q, V)
    for q, ids in enumerate(exclude or []):
        scores[q, list(ids)] = -torch.inf
    return scores.topk(min(k, scores.shape[1]), dim=1)


def rank_average(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n, tied values sharing the mean of their ranks: [10, 20, 20] -> [1, 2.5, 2.5]."""
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(1, len(x) + 1)
    _, group = np.unique(x, return_inverse=True)
    return (np.bincount(group, ranks) / np.bincount(group))[group]


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's ρ: the Pearson correlation of the (tie-averaged) ranks."""
    if len(x) != len(y) or len(x) < 2:
        raise ValueError(f"x and y must have the same length >= 2, got {len(x)} and {len(y)}")
    return float(np.corrcoef(rank_average(x), rank_average(y))[0, 1])


@dataclass(frozen=True)
class SimilarityScore:
    rho: float  # Spearman correlation between cosine similarity and human scores
    used: int  # pairs with both words in the vocabulary
    total: int  # pairs in the benchmark

    @property
    def coverage(self) -> float:
        return self.used / self.total


def evaluate_word_pairs(wv: WordVectors, pairs: Sequence[tuple[str, str, float]],
                        lowercase: bool = True) -> SimilarityScore:
    """Spearman ρ between cosine similarities and human judgements (WordSim-353, SimLex-999),
    over the pairs whose two words are both known; ``used``/``total`` says how many that was."""
    norm = str.lower if lowercase else str
    known = [(norm(a), norm(b), s) for a, b, s in pairs if norm(a) in wv and norm(b) in wv]
    if len(known) < 2:
        raise ValueError(f"only {len(known)} of {len(pairs)} pairs have both words in the "
                         "vocabulary; at least 2 are needed for a correlation")
    cos = [wv.similarity(a, b) for a, b, _ in known]
    return SimilarityScore(spearman(cos, [s for _, _, s in known]), len(known), len(pairs))


@dataclass(frozen=True)
class AnalogyScore:
    sections: dict[str, tuple[int, int, int]]  # name -> (correct, covered, total)

    @property
    def correct(self) -> int:
        return sum(c for c, _, _ in self.sections.values())

    @property
    def covered(self) -> int:
        return sum(n for _, n, _ in self.sections.values())

    @property
    def total(self) -> int:
        return sum(t for _, _, t in self.sections.values())

    @property
    def accuracy(self) -> float:
        """Correct answers over the questions covered (0 when none is)."""
        return self.correct / max(self.covered, 1)

    @property
    def coverage(self) -> float:
        return self.covered / max(self.total, 1)

    def part(self, kind: str) -> AnalogyScore:
        """Only the "semantic" sections or only the "syntactic" ones (named gram*)."""
        check_choice("kind", kind, ["semantic", "syntactic"])
        return AnalogyScore({s: v for s, v in self.sections.items()
                             if s.startswith("gram") == (kind == "syntactic")})


def evaluate_analogies(wv: WordVectors, analogies: dict[str, Sequence[tuple[str, str, str, str]]],
                       lowercase: bool = True, restrict_vocab: int | None = None,
                       batch_size: int = 512) -> AnalogyScore:
    """3CosAdd accuracy by section on questions a : b :: c : d (Google's questions-words.txt).

    A question counts (is covered) when all four words are among the first ``restrict_vocab``
    words; the answer is the nearest word to b̂ - â + ĉ other than a, b and c.
    """
    n_keys = len(wv) if restrict_vocab is None else min(check_int(
        "restrict_vocab", restrict_vocab, min_value=1), len(wv))
    keys = wv.unit[:n_keys]
    norm = str.lower if lowercase else str
    result = {}
    for section, questions in analogies.items():
        ok = [[wv.index[norm(w)] for w in q] for q in questions
              if all(wv.index.get(norm(w), n_keys) < n_keys for w in q)]
        correct = 0
        for s in range(0, len(ok), batch_size):
            q = torch.tensor(ok[s:s + batch_size])  # (Q, 4) ids of a, b, c, d
            query = keys[q[:, 1]] - keys[q[:, 0]] + keys[q[:, 2]]  # (Q, D)
            _, best = cosine_top_k(query, keys, 1, q[:, :3].tolist())
            correct += int((best[:, 0] == q[:, 3]).sum())
        result[section] = (correct, len(ok), len(questions))
    return AnalogyScore(result)
