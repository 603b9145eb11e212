"""lm_course.embeddings: example generation, the SGNS / softmax / GloVe losses and their
hand-written gradients against autograd and PyTorch built-ins, learning on toy corpora, and the
evaluation (Spearman ρ, word pairs, 3CosAdd analogies) against scipy and gensim."""

import itertools
import math
from collections import Counter

import numpy as np
import pytest
import scipy.sparse
import scipy.stats
import torch
import torch.nn.functional as F

from lm_course.data import load_analogies, load_word_pairs
from lm_course.embeddings import (
    CBOW,
    GloVe,
    GloVeConfig,
    NegativeSampler,
    SkipGramNS,
    Vocab,
    Word2VecConfig,
    WordVectors,
    cbow_windows,
    cooccurrence_matrix,
    cosine_top_k,
    evaluate_analogies,
    evaluate_word_pairs,
    glove_loss,
    glove_weight,
    keep_probabilities,
    rank_average,
    sgns_loss,
    skipgram_pairs,
    softmax_loss,
    spearman,
    train_glove,
    train_word2vec,
)


def _rng(seed=0):
    return np.random.default_rng(seed)


def _topic_corpus(n_sentences=600, seed=0):
    """Two topics that never share a sentence: words of a topic co-occur only with each other."""
    rng = _rng(seed)
    topics = [[f"a{i}" for i in range(8)], [f"b{i}" for i in range(8)]]
    return [list(rng.choice(topics[s % 2], size=10)) for s in range(n_sentences)], topics


def _group_gap(wv, topics):
    """Mean cosine within a topic minus mean cosine across topics."""
    within = [wv.similarity(x, y) for t in topics for x, y in itertools.combinations(t, 2)]
    across = [wv.similarity(x, y) for x in topics[0] for y in topics[1]]
    return np.mean(within) - np.mean(across)


# ----------------------------------------------------------------------------- vocabulary


def test_vocab_counts_order_min_count_and_encode():
    sents = [["the", "cat", "sat"], ["the", "dog"], ["a", "cat", "the"]]
    vocab = Vocab.build(sents, min_count=2)
    assert vocab.words == ["the", "cat"] and vocab.counts.tolist() == [3, 2]
    assert "dog" not in vocab and vocab["cat"] == 1
    ids, sent = vocab.encode(sents)
    assert ids.tolist() == [0, 1, 0, 1, 0]  # out-of-vocabulary words dropped
    assert sent.tolist() == [0, 0, 1, 2, 2]
    assert len(Vocab.build(sents, min_count=1, max_size=3)) == 3


@pytest.mark.parametrize("bad, error, match", [
    ([], ValueError, "non-empty"),
    ([[], []], ValueError, "empty"),
    ("the cat sat", ValueError, "list of token lists"),
    (["the", "cat"], TypeError, "list of token lists"),
])
def test_vocab_rejects_bad_corpora(bad, error, match):
    with pytest.raises(error, match=match):
        Vocab.build(bad, min_count=1)


def test_vocab_errors_name_the_problem():
    with pytest.raises(ValueError, match="min_count=5"):
        Vocab.build([["rare", "words"]], min_count=5)
    with pytest.raises(ValueError, match="'zebra' is not in the vocabulary"):
        Vocab.build([["a", "b"]], min_count=1)["zebra"]


# ----------------------------------------------------------------------------- training examples


def test_keep_probabilities_formula():
    counts = np.array([9000, 900, 90, 10])
    f = counts / counts.sum()
    t = 1e-2
    expected = np.minimum(1, np.sqrt(t / f) + t / f)
    np.testing.assert_allclose(keep_probabilities(counts, t), expected)
    assert keep_probabilities(counts, 0.0).tolist() == [1, 1, 1, 1]
    assert np.all(np.diff(keep_probabilities(counts, 1e-3)) >= 0)  # frequent words kept less


def test_skipgram_pairs_respect_windows_and_sentences():
    sent = np.repeat(np.arange(40), 25)  # 40 sentences of 25 words
    ids = np.arange(len(sent))  # every token unique, so a pair tells its positions
    centers, contexts = skipgram_pairs(ids, sent, 3, None, _rng())
    dist = np.abs(contexts - centers)
    assert dist.min() >= 1 and dist.max() <= 3
    assert np.all(sent[centers] == sent[contexts])  # never across a sentence boundary
    # Each center draws its window b in 1..3 uniformly, so a context at distance d is kept
    # with probability (3 - d + 1) / 3: the counts fall as 3 : 2 : 1.
    share = np.bincount(dist, minlength=4)[1:] / len(dist)
    np.testing.assert_allclose(share, [3 / 6, 2 / 6, 1 / 6], atol=0.02)
    # The same center uses one window on both sides: its pairs are symmetric in distance.
    for c in range(104, 121):  # at least 3 words from either end of sentence 4
        d = dist[centers == c]
        assert sorted(Counter(d).values()) == [2] * len(set(d.tolist()))


def test_skipgram_pairs_full_window_without_subsampling_is_exhaustive():
    ids, sent = np.arange(6), np.zeros(6, int)
    # With window 1 every draw is 1: all neighbours, both directions.
    c, o = skipgram_pairs(ids, sent, 1, None, _rng())
    assert sorted(zip(c.tolist(), o.tolist(), strict=True)) == sorted(
        [(i, i + 1) for i in range(5)] + [(i + 1, i) for i in range(5)])


def test_subsampling_drops_frequent_words_at_the_right_rate():
    counts = np.array([90_000, 10_000])
    keep = keep_probabilities(counts, 1e-2)
    ids = _rng(1).permutation(np.r_[np.zeros(90_000, int), np.ones(10_000, int)])
    c, _ = skipgram_pairs(ids, np.zeros(len(ids), int), 1, keep, _rng())
    # 9 : 1 in the corpus; among the centers (one sentence, window 1: two pairs per kept word)
    # it becomes 9 keep[0] : keep[1], about 2.5 : 1.
    kept_ratio = (c == 0).sum() / (c == 1).sum()
    assert abs(kept_ratio / (9 * keep[0] / keep[1]) - 1) < 0.05


def test_cbow_windows_hold_exactly_the_skipgram_pairs():
    rng_ids = _rng(1)
    ids = rng_ids.integers(0, 50, size=500)
    sent = np.arange(500) // 37
    keep = np.full(50, 0.7)
    c, o = skipgram_pairs(ids, sent, 4, keep, _rng(5))
    ctx, mask, centers = cbow_windows(ids, sent, 4, keep, _rng(5))  # same random draws
    from_cbow = Counter((int(cc), int(w)) for cc, row, m in zip(centers, ctx, mask, strict=True)
                        for w, on in zip(row, m, strict=True) if on)
    assert from_cbow == Counter(zip(c.tolist(), o.tolist(), strict=True))
    assert mask.shape == (len(centers), 8) and mask.sum(1).min() >= 1


def test_negative_sampler_is_the_unigram_distribution_to_the_three_quarters():
    counts = np.array([1000, 300, 50, 5, 1])
    sampler = NegativeSampler(counts, 0.75)
    expected = counts**0.75 / (counts**0.75).sum()
    np.testing.assert_allclose(sampler.probs, expected)
    # The alias table encodes the distribution exactly: column k keeps itself with
    # probability accept[k] and hands the rest to alias[k].
    V = len(counts)
    implied = sampler.accept.astype(np.float64) / V
    np.add.at(implied, sampler.alias, (1 - sampler.accept.astype(np.float64)) / V)
    np.testing.assert_allclose(implied, expected, atol=1e-6)
    draws = sampler.sample((200_000,), _rng())
    np.testing.assert_allclose(np.bincount(draws, minlength=V) / len(draws), expected,
                               atol=0.004)


# ----------------------------------------------------------------------------- word2vec losses


def test_sgns_loss_is_the_written_out_formula_and_binary_cross_entropy():
    g = torch.Generator().manual_seed(0)
    v, u_o, u_neg = (torch.randn(*s, generator=g, dtype=torch.float64)
                     for s in [(4, 3), (4, 3), (4, 5, 3)])
    loss = sgns_loss(v, u_o, u_neg)
    by_hand = torch.stack([
        -torch.log(torch.sigmoid(u_o[b] @ v[b]))
        - sum(torch.log(torch.sigmoid(-(u_neg[b, k] @ v[b]))) for k in range(5))
        for b in range(4)])
    torch.testing.assert_close(loss, by_hand)
    scores = torch.cat([(u_o * v).sum(1, keepdim=True), torch.einsum("bkd,bd->bk", u_neg, v)], 1)
    labels = torch.zeros_like(scores)
    labels[:, 0] = 1  # one true context, five noise words
    bce = F.binary_cross_entropy_with_logits(scores, labels, reduction="none").sum(1)
    torch.testing.assert_close(loss, bce)


def test_full_softmax_loss_equals_cross_entropy_values_and_gradients():
    g = torch.Generator().manual_seed(1)
    model = SkipGramNS(12, 4, generator=g).double()
    torch.nn.init.normal_(model.out_embed.weight, generator=g)
    center, context = torch.tensor([0, 3, 3, 11]), torch.tensor([5, 5, 0, 11])
    ours = model.full_softmax_loss(center, context)
    ours.sum().backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    scores = model.in_embed(center) @ model.out_embed.weight.T  # (B, V)
    ref = F.cross_entropy(scores, context, reduction="none")
    ref.sum().backward()
    torch.testing.assert_close(ours, ref)
    for a, b in zip(grads, [p.grad for p in model.parameters()], strict=True):
        torch.testing.assert_close(a, b)
    v = torch.randn(3, 4, dtype=torch.float64, generator=g)
    U = torch.randn(7, 4, dtype=torch.float64, generator=g)
    o = torch.tensor([1, 6, 1])
    torch.testing.assert_close(softmax_loss(v, U, o), F.cross_entropy(v @ U.T, o, reduction="none"))


def _randomised(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.5)
    return model


class _Word2VecRuleCBOW(CBOW):
    """CBOW whose mean hands the whole gradient of h to every context word: word2vec's rule."""

    def forward(self, contexts, mask, center, negatives):
        total = (self.in_embed(contexts) * mask.unsqueeze(2)).sum(1)  # (B, D)
        h = total.detach() / mask.sum(1, keepdim=True) + (total - total.detach())  # value: mean
        return sgns_loss(h, self.out_embed(center), self.out_embed(negatives))


def _autograd_sgd(model, ref_class, lr, *batch):
    ref = ref_class(*model.in_embed.weight.shape).double()
    ref.load_state_dict(model.state_dict())
    assert torch.allclose(ref(*batch), model(*batch))  # same loss values
    loss = ref(*batch).sum()
    loss.backward()
    with torch.no_grad():
        for p in ref.parameters():
            p -= lr * p.grad
    return ref, loss.item()


@pytest.mark.parametrize("arch", ["skipgram", "cbow"])
def test_sgd_step_equals_autograd_sgd_with_repeated_rows(arch):
    """The hand-written gradient (with rows repeated inside the batch) = autograd's; for CBOW,
    with word2vec's rule of passing the whole gradient of the mean to each context word."""
    V, D, B, K, lr = 10, 6, 32, 4, 0.1
    model = _randomised((SkipGramNS if arch == "skipgram" else CBOW)(V, D).double(), 0)
    g = torch.Generator().manual_seed(3)
    center = torch.randint(0, V, (B,), generator=g)
    noise = torch.randint(0, V, (B, K), generator=g)
    if arch == "skipgram":
        batch = (center, torch.randint(0, V, (B,), generator=g))
    else:
        mask = (torch.rand(B, 6, generator=g) < 0.6).double()
        mask[:, 0] = 1
        batch = (torch.randint(0, V, (B, 6), generator=g), mask, center)
    ref_class = SkipGramNS if arch == "skipgram" else _Word2VecRuleCBOW
    ref, ref_loss = _autograd_sgd(model, ref_class, lr, *batch, noise)
    loss = model.sgd_step(*batch, noise, lr=lr)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    for name, p in model.named_parameters():
        torch.testing.assert_close(p, dict(ref.named_parameters())[name], msg=name)


@pytest.mark.parametrize("arch", ["skipgram", "cbow"])
def test_word2vec_learns_topics_and_is_reproducible(arch):
    sents, topics = _topic_corpus()
    # A 16-word vocabulary: small batches, or each row would get ~100 summed updates per step.
    cfg = Word2VecConfig(arch=arch, dim=16, window=3, min_count=1, epochs=3, sample=0,
                         batch_size=32, seed=7)
    result = train_word2vec(sents, cfg, progress=False)
    assert _group_gap(result.wv, topics) > 0.5
    assert result.losses[-1] < 0.8 * result.losses[0]  # the SGNS loss went down
    again = train_word2vec(sents, cfg, progress=False)
    torch.testing.assert_close(result.wv.vectors, again.wv.vectors, rtol=0, atol=0)
    other = train_word2vec(sents, Word2VecConfig(**{**cfg.__dict__, "seed": 8}), progress=False)
    assert not torch.equal(result.wv.vectors, other.wv.vectors)


def test_word2vec_with_two_worker_threads_learns_too():
    sents, topics = _topic_corpus()
    cfg = Word2VecConfig(dim=16, window=3, min_count=1, epochs=3, sample=0, batch_size=32,
                         chunk_words=1000, workers=2)
    threads = torch.get_num_threads()
    result = train_word2vec(sents, cfg, progress=False)
    assert torch.get_num_threads() == threads  # restored
    assert _group_gap(result.wv, topics) > 0.5
    assert result.words_seen == sorted(result.words_seen)
    assert result.words_seen[-1] == pytest.approx(3 * 6000, rel=0.01)
    # chunks of ~1000 words (cut at sentence ends), 6 per epoch, in order, starting at 0
    starts = result.chunk_starts
    assert len(starts) == 18 and starts[0] == 0 and starts == sorted(set(starts))
    assert all(900 <= b - a <= 1100 for a, b in zip(starts, starts[1:], strict=False))


def test_word2vec_progress_bar_ends_exactly_at_its_total(monkeypatch):
    # min_count drops words, so each job's share of the raw words is fractional: rounded
    # per-job updates used to overshoot the total (tqdm then prints "2.29M/?")
    class Bar:
        bars = []

        def __init__(self, total, **kwargs):
            self.total, self.n = total, 0
            Bar.bars.append(self)

        def update(self, n):
            assert n >= 0
            self.n += n

        def close(self):
            pass

    monkeypatch.setattr("lm_course.embeddings.tqdm", Bar)
    sents, _ = _topic_corpus(n_sentences=90)
    sents = [s + ["rare" + str(k)] * (k % 3) for k, s in enumerate(sents)]  # dropped words
    cfg = Word2VecConfig(dim=8, window=2, min_count=2, epochs=3, chunk_words=37, sample=0,
                         workers=2)
    train_word2vec(sents, cfg, progress=True)
    (bar,) = Bar.bars
    assert bar.total == 3 * sum(len(s) for s in sents)
    assert bar.n == bar.total


@pytest.mark.parametrize("field, value, error", [
    ("window", 0, ValueError), ("negatives", 0, ValueError), ("dim", 0, ValueError),
    ("arch", "glove", ValueError), ("window", 2.5, TypeError), ("sample", -1e-3, ValueError),
    ("lr", 0.0, ValueError),
])
def test_word2vec_config_rejects_bad_values(field, value, error):
    with pytest.raises(error, match=field):
        Word2VecConfig(**{field: value})


@pytest.mark.parametrize("kwargs, match", [
    ({"window": 0}, "window"), ({"x_max": 0.0}, "x_max"), ({"epochs": 0}, "epochs"),
    ({"lr": -0.1}, "lr"),
])
def test_glove_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GloVeConfig(**kwargs)


def test_example_builders_reject_bad_windows():
    ids, sent = np.arange(5), np.zeros(5, int)
    for make in (skipgram_pairs, cbow_windows):
        with pytest.raises(ValueError, match="window must be >= 1, got 0"):
            make(ids, sent, 0, None, _rng())
    with pytest.raises(ValueError, match="window"):
        cooccurrence_matrix(ids, sent, 5, window=0)


def test_training_rejects_an_empty_corpus():
    for bad in ([], [[]]):
        with pytest.raises(ValueError, match="empty"):
            train_word2vec(bad, progress=False)
        with pytest.raises(ValueError, match="empty"):
            train_glove(bad, progress=False)


# ----------------------------------------------------------------------------- GloVe


def test_cooccurrence_matrix_equals_a_brute_force_count():
    rng = _rng(2)
    sents = [list(rng.integers(0, 6, size=n)) for n in (1, 7, 12, 3)]
    ids, sent = np.concatenate(sents), np.repeat(np.arange(4), [len(s) for s in sents])
    X = cooccurrence_matrix(ids, sent, 6, window=3, chunk_words=8).toarray()
    expected = np.zeros((6, 6))
    for s in sents:
        for a, b in itertools.combinations(range(len(s)), 2):
            if b - a <= 3:
                expected[s[a], s[b]] += 1 / (b - a)
                expected[s[b], s[a]] += 1 / (b - a)
    np.testing.assert_allclose(X, expected)


def test_glove_weight():
    x = torch.tensor([0.5, 10.0, 100.0, 5000.0])
    torch.testing.assert_close(glove_weight(x), torch.tensor([0.005**0.75, 0.1**0.75, 1, 1]))
    torch.testing.assert_close(glove_weight(x, x_max=10.0, alpha=0.5),
                               torch.tensor([0.05**0.5, 1, 1, 1]))


def _set_glove(model, w, w_tilde, b, b_tilde):
    with torch.no_grad():
        for p, value in zip((model.w, model.w_tilde, model.b, model.b_tilde),
                            (w, w_tilde, b, b_tilde), strict=True):
            p.copy_(torch.tensor(value, dtype=p.dtype))


def test_glove_loss_known_answer_on_a_3x3_matrix():
    """Σ over the six non-zero entries of f(X_ij)(w_iᵀw̃_j + b_i + b̃_j - log X_ij)², by hand."""
    X = scipy.sparse.coo_matrix(np.array([[0, 1, math.e**2], [1, 0, 0.5],
                                          [math.e**2, 0.5, 0]]))
    model = GloVe(3, 2).double()
    _set_glove(model, [[1, 0], [0, 1], [1, 1]], [[0, 1], [1, 0], [1, -1]],
               [0, 0.5, 0], [0.5, 0, 0])
    # x_max = 1: counts >= 1 weigh 1, the count 0.5 weighs 0.5 ** 0.75.
    # (0,1): 1 + 0 + 0 - 0 = 1 -> 1        (1,0): 1 + 0.5 + 0.5 - 0 = 2 -> 4
    # (0,2): 1 + 0 + 0 - 2 = -1 -> 1       (2,0): 1 + 0 + 0.5 - 2 = -0.5 -> 0.25
    # (1,2): -1 + 0.5 + 0 - log 0.5        (2,1): 1 + 0 + 0 - log 0.5
    expected = 1 + 4 + 1 + 0.25 + 0.5**0.75 * ((math.log(2) - 0.5) ** 2 + (1 + math.log(2)) ** 2)
    i, j = torch.from_numpy(X.row).long(), torch.from_numpy(X.col).long()
    x = torch.from_numpy(X.data)
    assert X.nnz == 6  # the zeros (here the diagonal) are never part of the sum
    assert model(i, j, x, x_max=1.0, alpha=0.75).item() == pytest.approx(expected, rel=1e-12)
    args = (model.w[i], model.w_tilde[j], model.b[i], model.b_tilde[j], torch.log(x),
            glove_weight(x, 1.0, 0.75))
    assert glove_loss(*args).item() == pytest.approx(expected, rel=1e-12)
    assert model.adagrad_step(i, j, x, lr=0.0, x_max=1.0) == pytest.approx(expected, rel=1e-12)


def test_glove_adagrad_step_equals_torch_adagrad():
    V, D = 9, 4
    model = GloVe(V, D, generator=torch.Generator().manual_seed(0)).double()
    ref = GloVe(V, D).double()
    ref.load_state_dict(model.state_dict())
    opt = torch.optim.Adagrad(ref.parameters(), lr=0.1, initial_accumulator_value=1.0)
    g = torch.Generator().manual_seed(1)
    for _ in range(3):  # three steps: the squared-gradient sums carry over
        i, j = torch.randperm(V, generator=g)[:5], torch.randperm(V, generator=g)[:5]
        x = torch.rand(5, generator=g, dtype=torch.float64) * 20 + 0.5
        loss = model.adagrad_step(i, j, x, lr=0.1, x_max=10.0)
        opt.zero_grad()
        ref_loss = ref(i, j, x, x_max=10.0)
        ref_loss.backward()
        opt.step()
        assert loss == pytest.approx(ref_loss.item(), rel=1e-12)
        for name, p in model.named_parameters():
            torch.testing.assert_close(p, dict(ref.named_parameters())[name], msg=name)


def test_glove_learns_topics():
    sents, topics = _topic_corpus(400)
    result = train_glove(sents, GloVeConfig(dim=8, window=3, min_count=1, epochs=20, lr=0.1,
                                            x_max=10.0), progress=False)
    assert result.losses[-1] < 0.2 * result.losses[0]
    assert _group_gap(result.wv, topics) > 0.5


def test_glove_recovers_log_counts_of_low_rank_structure():
    """Counts made from known vectors, X_ij = exp(w_iᵀw̃_j + b_i + b̃_j), about half of them
    zeroed out: AdaGrad on the non-zero entries alone reproduces log X."""
    V, D = 30, 3
    g = torch.Generator().manual_seed(0)
    log_x = (torch.randn(V, D, generator=g) @ torch.randn(D, V, generator=g)
             + torch.randn(V, 1, generator=g) + torch.randn(1, V, generator=g) + 2)
    i, j = torch.nonzero(torch.rand(V, V, generator=g) < 0.5, as_tuple=True)
    x = log_x[i, j].exp()
    model = GloVe(V, 2 * D, generator=g)  # spare dimensions: no poor local minimum
    losses = []
    for _ in range(300):
        order = torch.randperm(len(i), generator=g)
        losses.append(sum(model.adagrad_step(i[b], j[b], x[b], lr=0.2, x_max=1.0)
                          for b in order.split(64)))
    with torch.no_grad():
        fit = (model.w[i] * model.w_tilde[j]).sum(1) + model.b[i] + model.b_tilde[j]
    assert losses[-1] < 1e-3 * losses[0]
    assert np.corrcoef(fit.numpy(), log_x[i, j].numpy())[0, 1] > 0.999


# ----------------------------------------------------------------------------- evaluation


def _fixture():
    """Four words on the unit circle: cos(cat, dog) = cos(car, van) = 0.8, cos(dog, van) =
    0.96, cos(cat, van) = 0.6, cos(cat, car) = 0."""
    vectors = [[1, 0], [0.8, 0.6], [0, 1], [0.6, 0.8]]
    return WordVectors(torch.tensor(vectors) * torch.tensor([[1.0], [2.0], [3.0], [0.5]]),
                       ["cat", "dog", "car", "van"])


def test_word_pair_evaluation_on_a_fixture_with_known_rho():
    pairs = [("cat", "dog", 9.0), ("Car", "van", 8.0), ("dog", "van", 3.0),
             ("cat", "car", 1.0), ("cat", "van", 2.0), ("cat", "zebra", 5.0)]
    score = evaluate_word_pairs(_fixture(), pairs)
    # cosine ranks [3.5, 3.5, 5, 1, 2] (a tie at 0.8), human ranks [5, 4, 3, 1, 2]:
    # Σ dx dy = 6.5, Σ dx² = 9.5, Σ dy² = 10.
    assert score.rho == pytest.approx(6.5 / math.sqrt(95), abs=1e-6)
    assert (score.used, score.total, score.coverage) == (5, 6, pytest.approx(5 / 6))
    with pytest.raises(ValueError, match="at least 2"):
        evaluate_word_pairs(_fixture(), [("cat", "zebra", 1.0), ("dog", "emu", 2.0)])


def test_spearman_and_ranks_equal_scipy():
    rng = _rng(3)
    for _ in range(20):
        x = rng.integers(0, 6, size=30).astype(float)  # many ties
        y = x + rng.normal(0, 2, size=30)
        assert spearman(x, y) == pytest.approx(scipy.stats.spearmanr(x, y).statistic, abs=1e-12)
        np.testing.assert_allclose(rank_average(x), scipy.stats.rankdata(x))


def _gensim_vectors(words, vectors):
    from gensim.models import KeyedVectors

    kv = KeyedVectors(vectors.shape[1])
    kv.add_vectors(words, vectors.numpy())
    return kv


def test_word_pair_evaluation_equals_gensim():
    from gensim.test.utils import datapath

    pairs = load_word_pairs("wordsim353")
    words = sorted({w for a, b, _ in pairs for w in (a, b)})[::3]  # about a third of the words
    vectors = torch.randn(len(words), 10, generator=torch.Generator().manual_seed(0))
    ours = evaluate_word_pairs(WordVectors(vectors, words), pairs)
    _, spearman_ref, oov_percent = _gensim_vectors(words, vectors).evaluate_word_pairs(
        datapath("wordsim353.tsv"))
    assert ours.rho == pytest.approx(spearman_ref.statistic, abs=1e-5)
    assert 100 * (1 - ours.coverage) == pytest.approx(oov_percent)


def test_analogy_evaluation_equals_gensim_by_section():
    from gensim.test.utils import datapath

    analogies = load_analogies()
    sections = ["capital-common-countries", "currency", "gram2-opposite"]
    pairs = {(q[0], q[1]) for s in sections for q in analogies[s]}
    pairs |= {(q[2], q[3]) for s in sections for q in analogies[s]}
    g = torch.Generator().manual_seed(0)
    offsets = {s: torch.randn(20, generator=g) for s in sections}
    vec = {}
    for s in sections:  # plant a b - a offset per section, plus noise: some answers right
        for a, b, _, _ in analogies[s]:
            vec.setdefault(a, torch.randn(20, generator=g))
            vec.setdefault(b, vec[a] + offsets[s] + 0.8 * torch.randn(20, generator=g))
    words = sorted(vec)[:-15]  # leave a few words out: some questions are not covered
    vectors = torch.stack([vec[w] for w in words])
    ours = evaluate_analogies(WordVectors(vectors, words), analogies)
    _, ref = _gensim_vectors(words, vectors).evaluate_word_analogies(
        datapath("questions-words.txt"), restrict_vocab=len(words))
    ref = {r["section"]: (len(r["correct"]), len(r["correct"]) + len(r["incorrect"]))
           for r in ref}
    for s in sections:
        correct, covered, total = ours.sections[s]
        assert (correct, covered) == ref[s], s
        assert total == len(analogies[s]) and 0 < correct < covered < total
    assert ours.accuracy == pytest.approx(ref["Total accuracy"][0] / ref["Total accuracy"][1])
    assert ours.part("syntactic").sections.keys() == {
        s for s in analogies if s.startswith("gram")}
    assert len(pairs) > 0


def test_word_vectors_lookups_and_errors():
    wv = _fixture()
    assert [w for w, _ in wv.most_similar("dog", k=3)] == ["van", "cat", "car"]
    assert wv.most_similar("dog", k=1)[0][1] == pytest.approx(0.96)
    assert wv.similarity("cat", "car") == pytest.approx(0.0, abs=1e-7)
    assert [w for w, _ in wv.most_similar(torch.tensor([1.0, 0.1]), k=2)] == ["cat", "dog"]
    # cat : dog :: car : ?  ->  ĉar + d̂og - ĉat = (-0.2, 1.6), nearest of the rest: van
    assert wv.analogy("cat", "dog", "car")[0][0] == "van"
    with pytest.raises(ValueError, match="'zebra' is not in the vocabulary"):
        wv.most_similar("zebra")
    with pytest.raises(ValueError, match="'emu'"):
        wv.analogy("cat", "emu", "car")
    with pytest.raises(ValueError, match="shape"):
        WordVectors(torch.zeros(3, 2), ["a", "b"])


def test_analogy_coverage_follows_restrict_vocab():
    wv = _fixture()  # words in frequency order: cat, dog, car, van
    questions = {"pets": [("cat", "dog", "car", "van")], "gram-x": [("cat", "dog", "emu", "van")]}
    full = evaluate_analogies(wv, questions)
    assert full.sections == {"pets": (1, 1, 1), "gram-x": (0, 0, 1)}
    assert (full.accuracy, full.coverage) == (1.0, 0.5)
    small = evaluate_analogies(wv, questions, restrict_vocab=3)  # van is not among the first 3
    assert small.sections["pets"] == (0, 0, 1) and small.accuracy == 0.0


def test_cosine_top_k_equals_a_full_sort():
    g = torch.Generator().manual_seed(0)
    keys = F.normalize(torch.randn(50, 8, generator=g), dim=1)
    queries = torch.randn(4, 8, generator=g)
    scores, idx = cosine_top_k(queries, keys, 5, exclude=[[0, 1], [], [7], []])
    full = F.normalize(queries, dim=1) @ keys.T
    full[0, [0, 1]] = -math.inf
    full[2, 7] = -math.inf
    ref_scores, ref_idx = full.sort(dim=1, descending=True)
    torch.testing.assert_close(scores, ref_scores[:, :5])
    assert torch.equal(idx, ref_idx[:, :5])
