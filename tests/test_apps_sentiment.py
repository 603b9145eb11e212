"""Tests for lm_course.apps.sentiment: pooling ignores padding on either side, every encoder
gives the same logits for a text alone or padded in a batch, gradients reach the encoder,
Naive Bayes equals scikit-learn's, training keeps the best validation epoch, bad input is
refused with a clear message."""

import math

import numpy as np
import pytest
import torch
from helpers import perturb
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.naive_bayes import MultinomialNB

from lm_course.apps.sentiment import (
    ClassifierTrainConfig,
    EmbeddingEncoder,
    EncoderConfig,
    GPTEncoder,
    LSTMEncoder,
    NaiveBayes,
    SequenceClassifier,
    TransformerEncoder,
    confident_mistakes,
    encode_texts,
    lm_stream,
    masked_pool,
    predict,
    train_classifier,
    vectors_for_vocab,
)
from lm_course.embeddings import WordVectors
from lm_course.tokenizers import WordTokenizer
from lm_course.transformer import GPT, GPTConfig

V = 23


def _encoders():
    torch.manual_seed(0)
    gpt = GPT(GPTConfig(vocab_size=V, block_size=16, n_layer=2, n_head=2, n_embd=8))
    return {
        "embedding": EmbeddingEncoder(V, 6),
        "lstm": LSTMEncoder(V, emb_dim=5, hidden_size=7, num_layers=2),
        "transformer": TransformerEncoder(EncoderConfig(vocab_size=V, max_len=16, n_layer=2,
                                                        n_head=2, n_embd=8, dropout=0.0)),
        "gpt": GPTEncoder(gpt),
    }


def _ragged_batch():
    """Three texts of lengths 5, 2, 4 (the shortest in the middle), right-padded with PAD 0."""
    texts = [[3, 7, 1, 9, 4], [5, 8], [2, 2, 6, 11]]
    ids = torch.zeros(3, 5, dtype=torch.long)
    mask = torch.zeros(3, 5, dtype=torch.bool)
    for i, t in enumerate(texts):
        ids[i, : len(t)] = torch.tensor(t)
        mask[i, : len(t)] = True
    return texts, ids, mask


# ----------------------------------------------------------------------------- pooling


@pytest.mark.parametrize("pool", ["mean", "last", "first", "max"])
@pytest.mark.parametrize("side", ["right", "left"])
def test_masked_pool_equals_pooling_the_unpadded_sequence(pool, side):
    g = torch.Generator().manual_seed(1)
    lengths = [4, 1, 6, 3]  # a one-token text, and the longest not first
    T = 7
    seqs = [torch.randn(n, 5, generator=g, dtype=torch.float64) for n in lengths]
    h = torch.randn(len(lengths), T, 5, generator=g, dtype=torch.float64) * 100  # junk pads
    mask = torch.zeros(len(lengths), T, dtype=torch.bool)
    for i, s in enumerate(seqs):
        where = slice(0, len(s)) if side == "right" else slice(T - len(s), T)
        h[i, where] = s
        mask[i, where] = True
    h_before = h.clone()
    got = masked_pool(h, mask, pool)
    want = torch.stack([{"mean": s.mean(0), "last": s[-1], "first": s[0],
                         "max": s.amax(0)}[pool] for s in seqs])
    torch.testing.assert_close(got, want)
    assert torch.equal(h, h_before), "pooling must not modify its input"


def test_masked_pool_passes_gradients_only_to_real_positions():
    h = torch.randn(2, 4, 3, requires_grad=True)
    mask = torch.tensor([[True, True, False, False], [False, True, True, True]])
    masked_pool(h, mask, "mean").sum().backward()
    assert torch.all(h.grad[~mask] == 0)
    torch.testing.assert_close(h.grad[0, :2], torch.full((2, 3), 0.5))
    torch.testing.assert_close(h.grad[1, 1:], torch.full((3, 3), 1 / 3))


@pytest.mark.parametrize("h, mask, pool, err, match", [
    (torch.zeros(2, 3, 4), torch.ones(2, 3), "mean", TypeError, "mask must be boolean"),
    (torch.zeros(2, 3, 4), torch.ones(2, 4, dtype=torch.bool), "mean", ValueError,
     "must match h's first two"),
    (torch.zeros(2, 3, 4), torch.tensor([[True, False, False], [False] * 3]), "last",
     ValueError, r"rows \[1\] are all padding"),
    (torch.zeros(2, 3, 4), torch.ones(2, 3, dtype=torch.bool), "cls", ValueError,
     "pool must be one of"),
    (torch.zeros(2, 3, dtype=torch.long), torch.ones(2, 3, dtype=torch.bool), "mean",
     ValueError, "h must have 3 dimensions"),
    (torch.zeros(2, 3, 4, dtype=torch.long), torch.ones(2, 3, dtype=torch.bool), "mean",
     TypeError, "h must be a floating-point"),
    ([[0.0]], torch.ones(1, 1, dtype=torch.bool), "mean", TypeError, "h must be a torch.Tensor"),
])
def test_masked_pool_rejects_bad_input(h, mask, pool, err, match):
    with pytest.raises(err, match=match):
        masked_pool(h, mask, pool)


# ----------------------------------------------------------------------------- classifiers


@pytest.mark.parametrize("name, pool", [("embedding", "mean"), ("embedding", "max"),
                                        ("lstm", "last"), ("lstm", "mean"),
                                        ("transformer", "mean"), ("transformer", "first"),
                                        ("gpt", "last"), ("gpt", "mean")])
def test_padding_does_not_change_the_logits(name, pool):
    encoder = _encoders()[name]
    clf = perturb(SequenceClassifier(encoder, n_classes=3, pool=pool)).eval()
    assert clf.head.bias.abs().min() > 0
    texts, ids, mask = _ragged_batch()
    ids_before = ids.clone()
    logits, _ = clf(ids, mask)
    for i, t in enumerate(texts):
        alone, _ = clf(torch.tensor([t]), torch.ones(1, len(t), dtype=torch.bool))
        torch.testing.assert_close(logits[i], alone[0], atol=1e-5, rtol=1e-5)
    assert torch.equal(ids, ids_before)
    # and the padding id itself is irrelevant
    other = ids.masked_fill(~mask, 13)
    torch.testing.assert_close(clf(other, mask)[0], logits, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ["embedding", "lstm", "transformer", "gpt"])
def test_gradients_reach_every_encoder_parameter(name):
    encoder = _encoders()[name]
    clf = perturb(SequenceClassifier(encoder, n_classes=2, pool="mean"))
    _, ids, mask = _ragged_batch()
    _, loss = clf(ids, mask, torch.tensor([1, 0, 1]))
    loss.backward()
    for pname, p in clf.named_parameters():
        assert p.grad is not None, f"{pname} got no gradient"
        if "emb" not in pname and "embed" not in pname:  # embeddings: only used rows
            assert p.grad.abs().sum() > 0, f"{pname} got a zero gradient"
    used = torch.unique(ids[mask])
    emb = next(p for n, p in clf.named_parameters() if "emb" in n)
    assert emb.grad[used].abs().sum(1).min() > 0


def test_frozen_word_vectors_stay_fixed_and_the_head_learns():
    vectors = torch.randn(V, 6)
    clf = SequenceClassifier(EmbeddingEncoder(V, 6, vectors=vectors, freeze=True))
    torch.testing.assert_close(clf.encoder.embed.weight, vectors)
    _, ids, mask = _ragged_batch()
    clf(ids, mask, torch.tensor([1, 0, 1]))[1].backward()
    assert clf.encoder.embed.weight.grad is None
    assert clf.head.weight.grad.abs().sum() > 0


def test_gpt_hidden_states_are_what_the_lm_head_reads():
    gpt = perturb(GPT(GPTConfig(vocab_size=V, block_size=8, n_layer=2, n_head=2, n_embd=8)))
    idx = torch.randint(0, V, (3, 6))
    logits, _ = gpt(idx)
    torch.testing.assert_close(gpt.lm_head(gpt.hidden_states(idx)), logits)


def test_pool_first_with_a_causal_encoder_is_refused():
    with pytest.raises(ValueError, match="pool='first' with a causal encoder"):
        SequenceClassifier(_encoders()["lstm"], pool="first")


@pytest.mark.parametrize("kwargs, err, match", [
    (dict(encoder=torch.nn.Linear(2, 2)), TypeError, "int attribute `dim`"),
    (dict(n_classes=1), ValueError, "n_classes must be >= 2"),
    (dict(pool="sum"), ValueError, "pool must be one of"),
    (dict(dropout=1.0), ValueError, r"dropout must be in \[0.0, 1.0\)"),
])
def test_classifier_rejects_bad_arguments(kwargs, err, match):
    kwargs = {"encoder": EmbeddingEncoder(V, 4), **kwargs}
    with pytest.raises(err, match=match):
        SequenceClassifier(**kwargs)


@pytest.mark.parametrize("ids, mask, labels, err, match", [
    (torch.zeros(2, 3), torch.ones(2, 3, dtype=torch.bool), None, TypeError, "ids must be an "
     "integer tensor"),
    (torch.zeros(2, 3, dtype=torch.long), torch.ones(2, 4, dtype=torch.bool), None, ValueError,
     "must have the shape of ids"),
    (torch.zeros(2, 3, dtype=torch.long), torch.ones(2, 3, dtype=torch.bool),
     torch.tensor([0, 2]), ValueError, r"labels must be 2 class ids in \[0, 1\]"),
    (torch.zeros(2, 3, dtype=torch.long), torch.ones(2, 3, dtype=torch.bool),
     torch.tensor([0.0, 1.0]), TypeError, "labels must be an integer tensor"),
])
def test_classifier_forward_rejects_bad_input(ids, mask, labels, err, match):
    with pytest.raises(err, match=match):
        SequenceClassifier(EmbeddingEncoder(V, 4))(ids, mask, labels)


def test_transformer_encoder_refuses_inputs_longer_than_max_len():
    enc = TransformerEncoder(EncoderConfig(vocab_size=V, max_len=4, n_embd=8, n_head=2))
    with pytest.raises(ValueError, match="more than max_len=4"):
        enc(torch.zeros(1, 5, dtype=torch.long), torch.ones(1, 5, dtype=torch.bool))


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_embd=10, n_head=4), "divisible"),
    (dict(max_len=0), "max_len must be >= 1"),
    (dict(dropout=-0.1), "dropout must be in"),
])
def test_encoder_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EncoderConfig(**kwargs)


# ----------------------------------------------------------------------------- data helpers


def test_encode_texts_pads_truncates_and_masks():
    tok = WordTokenizer().train("a b c d e f g")
    ids, mask = encode_texts(["a b c d e", "f", "g a"], tok, max_len=3)
    assert ids.shape == (3, 3) and mask.sum(1).tolist() == [3, 1, 2]
    assert tok.decode(ids[0].tolist()) == "a b c"
    assert ids[1, 1:].tolist() == [0, 0]
    tail, _ = encode_texts(["a b c d e", "f"], tok, max_len=3, keep="tail", pad_id=5)
    assert tok.decode(tail[0].tolist()) == "c d e" and tail[1, 1:].tolist() == [5, 5]
    stream = lm_stream(["a b", "c"], tok)
    assert stream.tolist() == tok.encode("a b c")


@pytest.mark.parametrize("texts, kwargs, err, match", [
    ("a b", {}, TypeError, "texts must be a non-empty list"),
    ([], {}, TypeError, "texts must be a non-empty list"),
    (["a", "!!"], {}, ValueError, r"texts\[1\] = '!!' has no tokens"),
    (["a"], dict(max_len=0), ValueError, "max_len must be >= 1"),
    (["a"], dict(keep="middle"), ValueError, "keep must be one of"),
    (["a"], dict(pad_id=-1), ValueError, "pad_id must be >= 0"),
])
def test_encode_texts_rejects_bad_input(texts, kwargs, err, match):
    tok = WordTokenizer().train("a b")
    tok.encode = lambda t: [1] * len(t.split()) if t.isalpha() else []  # "!!" has no tokens
    kwargs = {"max_len": 4, **kwargs}
    with pytest.raises(err, match=match):
        encode_texts(texts, tok, **kwargs)


def test_vectors_for_vocab_copies_known_words_and_zeros_the_rest():
    wv = WordVectors(torch.arange(6.0).reshape(3, 2), ["good", "bad", "film"])
    table, coverage = vectors_for_vocab(["<unk>", "bad", "good", "meh"], wv)
    assert table.tolist() == [[0, 0], [2, 3], [0, 1], [0, 0]]
    assert coverage == 0.5


def test_confident_mistakes_orders_wrong_predictions_by_confidence():
    probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.05, 0.95], [0.7, 0.3]])
    y = torch.tensor([1, 1, 0, 0, 0])  # wrong: 0 (0.9), 2 (0.6), 3 (0.95)
    assert confident_mistakes(y, probs, k=2) == [3, 0]
    assert confident_mistakes(y, probs, k=10) == [3, 0, 2]


# ----------------------------------------------------------------------------- Naive Bayes


@pytest.mark.parametrize("alpha", [1.0, 0.3])
def test_naive_bayes_equals_scikit_learn(alpha):
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(30)]
    docs, labels = [], []
    for i in range(60):
        y = int(i % 3 == 0)  # unbalanced classes: the prior matters
        weights = np.linspace(1, 3, 30) ** (2 if y else -2)
        docs.append(list(rng.choice(words, size=rng.integers(1, 12), p=weights / weights.sum())))
        labels.append(y)
    test = [list(rng.choice(words, size=5)) + ["unseen"] for _ in range(20)]
    ours = NaiveBayes(alpha).fit(docs, labels)
    vec = CountVectorizer(analyzer=lambda d: d)
    ref = MultinomialNB(alpha=alpha).fit(vec.fit_transform(docs), labels)
    x_test = vec.transform(test)
    np.testing.assert_allclose(ours.predict_proba(test).numpy(), ref.predict_proba(x_test),
                               rtol=1e-10)
    assert ours.predict(test).tolist() == ref.predict(x_test).tolist()
    top = ours.top_words(3)
    assert set(top) == {0, 1} and all(w.startswith("w") for w in top[1])


def test_naive_bayes_smoothing_and_log_space():
    nb = NaiveBayes(alpha=1.0).fit([["good", "good", "fun"], ["bad"]], [1, 0])
    # class 1: counts good 2, fun 1, bad 0 -> (3, 2, 1) / 6; V = 3
    torch.testing.assert_close(nb.log_likelihood[1].exp(),
                               torch.tensor([1, 2, 3], dtype=torch.float64) / 6)  # bad fun good
    long_doc = ["good"] * 2000  # products of 2000 probabilities underflow; log sums do not
    assert nb.predict([long_doc]).tolist() == [1]
    assert math.isfinite(nb.joint_log_likelihood([long_doc]).min().item())


@pytest.mark.parametrize("docs, labels, err, match", [
    ([], [], ValueError, "must be non-empty"),
    ([["a"]], [1, 0], ValueError, "as long as each other"),
    ([["a"], ["b"]], [1, 1], ValueError, "at least two classes"),
])
def test_naive_bayes_rejects_bad_input(docs, labels, err, match):
    with pytest.raises(err, match=match):
        NaiveBayes().fit(docs, labels)


def test_naive_bayes_rejects_bad_alpha_and_predicting_before_fit():
    with pytest.raises(ValueError, match=r"alpha must be in \(0.0, inf\]"):
        NaiveBayes(alpha=0.0)
    with pytest.raises(RuntimeError, match="call fit"):
        NaiveBayes().predict([["a"]])


# ----------------------------------------------------------------------------- training


def _toy_task(n: int, seed: int):
    """Label 1 iff token 5 occurs, at a random place (first, last or middle)."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(2, 9, (n,), generator=g)
    ids = torch.randint(6, V, (n, 8), generator=g)
    labels = torch.randint(0, 2, (n,), generator=g)
    for i in range(n):
        if labels[i]:
            ids[i, torch.randint(0, int(lengths[i]), (1,), generator=g)] = 5
    mask = torch.arange(8) < lengths[:, None]
    return ids.masked_fill(~mask, 0), mask, labels


def test_train_classifier_learns_and_keeps_the_best_validation_epoch():
    torch.manual_seed(0)
    clf = SequenceClassifier(EmbeddingEncoder(V, 8), pool="max")
    train, val = _toy_task(256, 0), _toy_task(128, 1)
    before = [t.clone() for t in train]
    cfg = ClassifierTrainConfig(epochs=6, batch_size=16, lr=0.03, warmup_steps=4)
    history = train_classifier(clf, train, val, cfg)
    assert len(history.loss) == 6 * 16 and len(history.val_accuracy) == 6
    assert np.mean(history.loss[-16:]) < 0.5 * np.mean(history.loss[:16])
    assert history.val_accuracy[history.best_epoch - 1] == max(history.val_accuracy)
    pred, probs = predict(clf, val[0], val[1])
    assert (pred == val[2]).double().mean().item() == max(history.val_accuracy)
    assert max(history.val_accuracy) > 0.9
    torch.testing.assert_close(probs.sum(1), torch.ones(len(pred)))
    assert all(torch.equal(a, b) for a, b in zip(train, before, strict=True))
    assert history.seconds > 0 and not clf.training


def test_predict_restores_training_mode():
    clf = SequenceClassifier(EmbeddingEncoder(V, 4), dropout=0.5).train()
    ids, mask, _ = _toy_task(10, 2)
    predict(clf, ids, mask, batch_size=3)
    assert clf.training


@pytest.mark.parametrize("kwargs, err, match", [
    (dict(model=torch.nn.Linear(2, 2)), TypeError, "model must be a SequenceClassifier"),
    (dict(train=(torch.zeros(2, 3, dtype=torch.long),)), TypeError, "train must be a tuple"),
    (dict(train=(torch.zeros(2, 3, dtype=torch.long), torch.ones(2, 3, dtype=torch.bool),
                 torch.tensor([0, 1, 1]))), ValueError, "must describe the same texts"),
    (dict(config=dict(epochs=2)), TypeError, "config must be a ClassifierTrainConfig"),
])
def test_train_classifier_rejects_bad_input(kwargs, err, match):
    kwargs = {"model": SequenceClassifier(EmbeddingEncoder(V, 4)), "train": _toy_task(8, 0),
              **kwargs}
    with pytest.raises(err, match=match):
        train_classifier(**kwargs)


@pytest.mark.parametrize("kwargs, match", [
    (dict(epochs=0), "epochs must be >= 1"),
    (dict(lr=0.0), "lr must be in"),
    (dict(min_lr_ratio=1.5), "min_lr_ratio must be in"),
    (dict(grad_clip=-1.0), "grad_clip must be in"),
])
def test_train_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ClassifierTrainConfig(**kwargs)


def test_predict_handles_left_padding_and_odd_batch_sizes():
    torch.manual_seed(0)
    clf = perturb(SequenceClassifier(EmbeddingEncoder(V, 6), pool="mean")).eval()
    texts, ids, mask = _ragged_batch()
    left_ids, left_mask = torch.zeros_like(ids), torch.zeros_like(mask)
    for i, t in enumerate(texts):  # the same texts, padded on the left
        left_ids[i, 5 - len(t):] = torch.tensor(t)
        left_mask[i, 5 - len(t):] = True
    _, p_right = predict(clf, ids, mask, batch_size=2)
    _, p_left = predict(clf, left_ids, left_mask, batch_size=2)
    torch.testing.assert_close(p_left, p_right)
