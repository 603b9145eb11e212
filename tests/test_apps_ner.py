"""Chapter 08b: BIO tags, constrained Viterbi, the features, the two taggers, the baselines
and the error report."""

import itertools

import pytest
import torch

from lm_course.apps.ner import (
    IGNORE,
    Featurizer,
    MemorisingTagger,
    Tagger,
    TaggerConfig,
    TagTrainConfig,
    _length_batches,
    all_o_tagger,
    argmax_decode,
    compare_systems,
    count_invalid,
    format_results,
    is_valid_bio,
    predict,
    span_errors,
    tag_set,
    train_tagger,
    transition_mask,
    viterbi_decode,
)

TYPES = ["person", "geo-loc"]
TAGS = tag_set(TYPES)  # O B-person I-person B-geo-loc I-geo-loc

# Entities at the start and at the end, one-token entities, different lengths.
DATA = [
    (["Obama", "visits", "New", "York"], ["B-person", "O", "B-geo-loc", "I-geo-loc"]),
    (["Paris"], ["B-geo-loc"]),
    (["I", "met", "Barack", "Obama", "in", "Paris"],
     ["O", "O", "B-person", "I-person", "O", "B-geo-loc"]),
    (["lol", "@someone", "http://t.co/x", "!!"], ["O", "O", "O", "O"]),
    (["London", "calling", "Obama"], ["B-geo-loc", "O", "B-person"]),
]


def brute_force(scores, allowed, start):
    """Best valid path by trying all K^T sequences."""
    T, K = scores.shape
    best, best_path = float("-inf"), None
    for path in itertools.product(range(K), repeat=T):
        if not start[path[0]] or any(not allowed[a, b] for a, b in itertools.pairwise(path)):
            continue
        s = sum(scores[t, k].item() for t, k in enumerate(path))
        if s > best:
            best, best_path = s, list(path)
    return best_path, best


# ----------------------------------------------------------------------------- tags


def test_tag_set_and_transitions():
    assert TAGS == ["O", "B-person", "I-person", "B-geo-loc", "I-geo-loc"]
    allowed, start = transition_mask(TAGS)
    assert start.tolist() == [True, True, False, True, False]
    # I-person only after B-person or I-person
    assert allowed[:, 2].tolist() == [False, True, True, False, False]
    assert allowed[:, 4].tolist() == [False, False, False, True, True]
    # O and B-* may follow anything
    assert allowed[:, [0, 1, 3]].all()


@pytest.mark.parametrize("tags, valid", [
    (["B-person", "I-person", "O"], True),
    (["O", "I-person"], False),
    (["I-person"], False),
    (["B-person", "I-geo-loc"], False),
    (["B-person", "B-person", "I-person"], True),
    (["O", "O"], True),
])
def test_is_valid_bio(tags, valid):
    assert is_valid_bio(tags) is valid
    assert count_invalid([tags, ["O"], tags]) == (0 if valid else 2)


# ----------------------------------------------------------------------------- decoding


def test_viterbi_equals_brute_force_batch_with_padding():
    g = torch.Generator().manual_seed(0)
    allowed, start = transition_mask(TAGS)
    for trial in range(30):
        lengths = torch.tensor([1 + trial % 5, 5, 3, 1])
        scores = torch.randn(4, 5, len(TAGS), generator=g, dtype=torch.float64) * 2
        scores[:, :, 2] += 1.0  # make I-person tempting, so the constraints bite
        before = scores.clone()
        paths = viterbi_decode(scores, allowed, start, lengths)
        assert torch.equal(scores, before), "viterbi must not change its input"
        for b, n in enumerate(lengths.tolist()):
            want, best = brute_force(scores[b, :n], allowed, start)
            assert paths[b] == want
            got = sum(scores[b, t, k].item() for t, k in enumerate(paths[b]))
            assert got == pytest.approx(best)


def test_viterbi_ignores_padding_scores():
    g = torch.Generator().manual_seed(1)
    allowed, start = transition_mask(TAGS)
    scores = torch.randn(2, 6, len(TAGS), generator=g)
    noisy = scores.clone()
    noisy[0, 3:] = 100 * torch.randn(3, len(TAGS), generator=g)
    lengths = [3, 6]
    assert viterbi_decode(scores, allowed, start, lengths) == \
        viterbi_decode(noisy, allowed, start, lengths)
    assert [len(p) for p in viterbi_decode(scores, allowed, start, lengths)] == lengths


def test_viterbi_never_invalid_while_argmax_is():
    tags = tag_set([f"t{i}" for i in range(10)])
    allowed, start = transition_mask(tags)
    g = torch.Generator().manual_seed(2)
    scores = torch.randn(200, 12, len(tags), generator=g).log_softmax(-1)
    lengths = torch.randint(1, 13, (200,), generator=g)
    vit = [[tags[i] for i in p] for p in viterbi_decode(scores, allowed, start, lengths)]
    arg = [[tags[i] for i in p] for p in argmax_decode(scores, lengths)]
    assert count_invalid(vit) == 0
    assert count_invalid(arg) > 50  # random scores: most argmax paths break BIO
    # where argmax is already valid, Viterbi returns it unchanged
    for v, a in zip(vit, arg, strict=True):
        if is_valid_bio(a):
            assert v == a


def test_unbatched_scores():
    allowed, start = transition_mask(TAGS)
    s = torch.randn(4, len(TAGS))
    assert viterbi_decode(s, allowed, start) == [brute_force(s, allowed, start)[0]]
    assert argmax_decode(s) == [s.argmax(-1).tolist()]


# ----------------------------------------------------------------------------- features


def test_featurizer():
    f = Featurizer(DATA, TYPES, min_count=2)
    # only "obama" (3 times) and "paris" (2 times) are frequent enough
    assert f.words == ["<pad>", "<unk>", "obama", "paris"]
    b = f.batch(DATA[:3])
    assert b.words.shape == (3, 6) and b.lengths.tolist() == [4, 1, 6]
    assert b.words[0].tolist() == [2, 1, 1, 1, 0, 0]
    assert b.tags[1].tolist() == [3] + [IGNORE] * 5
    assert b.chars.shape[2] == 6  # longest word ("visits", "Barack", "Obama"...) <= 6 chars
    assert (b.chars[0, 0, :5] != 0).all() and b.chars[0, 0, 5] == 0  # "Obama" + padding
    assert (b.chars[1, 1:] == 0).all()  # padding tokens have no characters
    # @users and URLs share one word id each; unseen characters map to <unk> (1)
    f1 = Featurizer(DATA, TYPES, min_count=1)
    b1 = f1.batch([["@other", "https://x.y", "Zürich"]])
    assert b1.words[0, 0] == f1.word_index["<user>"]
    assert b1.words[0, 1] == f1.word_index["<url>"]
    assert b1.chars[0, 2, 1] == 1
    assert b1.tags is None


# ----------------------------------------------------------------------------- taggers


def _model(encoder, seed=0):
    torch.manual_seed(seed)
    f = Featurizer(DATA, TYPES, min_count=1)
    cfg = TaggerConfig(len(f.words), len(f.chars), len(f.tags), encoder=encoder, word_dim=8,
                       char_dim=4, char_channels=6, hidden=8, n_layer=2, n_head=2, dropout=0.1)
    model = Tagger(cfg)
    with torch.no_grad():  # move every parameter away from its initial value (biases != 0)
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return f, model


@pytest.mark.parametrize("encoder", ["bilstm", "transformer"])
def test_padding_does_not_change_real_tokens(encoder):
    f, model = _model(encoder)
    model.eval()
    b = f.batch(DATA)  # odd lengths first and last: 4, 1, 6, 4, 3
    with torch.no_grad():
        out = model(b.words, b.chars, b.lengths)
        assert out.shape == (5, 6, len(TAGS))
        for i, sent in enumerate(DATA):
            one = f.batch([sent])
            alone = model(one.words, one.chars, one.lengths)[0]
            assert torch.allclose(out[i, : len(sent[0])], alone, atol=1e-5)


@pytest.mark.parametrize("encoder", ["bilstm", "transformer"])
def test_every_token_sees_both_sides(encoder):
    f, model = _model(encoder)
    model.eval()
    toks = ["Obama", "visits", "New", "York"]
    with torch.no_grad():
        a, b = f.batch([toks]), f.batch([toks[:-1] + ["Paris"]])
        first_a = model(a.words, a.chars, a.lengths)[0, 0]
        first_b = model(b.words, b.chars, b.lengths)[0, 0]
    assert not torch.allclose(first_a, first_b), "the first token must see the last one"


@pytest.mark.parametrize("encoder", ["bilstm", "transformer"])
def test_gradients_reach_every_parameter(encoder):
    f, model = _model(encoder)
    model.train()
    model.loss(f.batch(DATA)).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, f"no gradient for {name}"


def test_bilstm_equals_torch_bidirectional_lstm():
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    f, model = _model("bilstm")
    model.eval()
    ref = torch.nn.LSTM(model.fwd[0].input_size, 8, num_layers=2, batch_first=True,
                        bidirectional=True)
    with torch.no_grad():
        for layer in range(2):
            for direction, ours in (("", model.fwd), ("_reverse", model.bwd)):
                for name, p in ours[layer].cells[0].named_parameters():
                    getattr(ref, f"{name}_l{layer}{direction}").copy_(p)
        b = f.batch(DATA)
        x = model.embed(b.words, b.chars)  # (B, T, d_in)
        packed = pack_padded_sequence(x, b.lengths, batch_first=True, enforce_sorted=False)
        want, _ = pad_packed_sequence(ref(packed)[0], batch_first=True)
        # the model's hidden states, taken just before its output layer
        seen = {}
        hook = model.head.register_forward_hook(lambda m, inp, out: seen.update(h=inp[0]))
        model(b.words, b.chars, b.lengths)
        hook.remove()
    for i, n in enumerate(b.lengths.tolist()):
        assert torch.allclose(seen["h"][i, :n], want[i, :n], atol=1e-5)


def test_training_fits_a_small_set_and_predicts_valid_tags():
    f, model = _model("bilstm")
    hist = train_tagger(model, f, DATA, DATA, TagTrainConfig(epochs=40, batch_size=2, lr=2e-2))
    assert hist["loss"][-1] < 0.3 * hist["loss"][0]
    assert max(hist["val_f1"]) == 1.0  # five tweets can be learned by heart
    pred = predict(model, f, [w for w, _ in DATA])
    assert pred == [t for _, t in DATA]
    assert not model.training


# ----------------------------------------------------------------------------- baselines, errors


def test_baselines():
    sents = [w for w, _ in DATA]
    assert all_o_tagger(sents)[1] == ["O"]
    m = MemorisingTagger(DATA + [(["Paris", "Hilton"], ["B-person", "I-person"])])
    out = m.predict([["paris", "hilton", "in", "Paris"], ["New", "York", "Obama"], ["xyz"]])
    # longest match first; "paris" alone is geo-loc twice, person never
    assert out[0] == ["B-person", "I-person", "O", "B-geo-loc"]
    assert out[1] == ["B-geo-loc", "I-geo-loc", "B-person"]
    assert out[2] == ["O"]


def test_span_errors():
    toks = ["Barack", "Obama", "in", "New", "York", "and", "Paris", "now"]
    gold = ["B-person", "I-person", "O", "B-geo-loc", "I-geo-loc", "O", "B-geo-loc", "O"]
    pred = ["B-person", "O", "O", "B-company", "I-company", "O", "O", "B-person"]
    rows = span_errors([toks], [gold], [pred])
    kinds = [(r["kind"], r["gold"], r["predicted"]) for r in rows]
    assert kinds == [
        ("boundary", "Barack Obama (person)", "Barack (person)"),
        ("type", "New York (geo-loc)", "New York (company)"),
        ("missed", "Paris (geo-loc)", ""),
        ("spurious", "", "now (person)"),
    ]
    assert span_errors([toks], [gold], [gold]) == []


def test_length_batches_cover_every_tweet_once():
    data = [(["w"] * n, ["O"] * n) for n in [5, 1, 9, 3, 7, 2, 8, 4, 6, 10, 1]]
    batches = _length_batches(data, 3, torch.Generator().manual_seed(0))
    assert sorted(i for b in batches for i in b) == list(range(len(data)))
    assert all(1 <= len(b) <= 3 for b in batches)
    # within a batch the tweets were sorted by length
    assert all([len(data[i][0]) for i in b] == sorted(len(data[i][0]) for i in b)
               for b in batches)


def test_compare_systems_and_table():
    gold = [t for _, t in DATA]
    half = [list(t) for t in gold]
    half[2] = ["O"] * len(half[2])        # misses both entities of tweet 2
    half[0][2:4] = ["I-geo-loc"] * 2      # stray I-: an entity in default mode, none in strict
    rows = compare_systems(gold, {"all-O": all_o_tagger([w for w, _ in DATA]), "half": half},
                           n_resamples=50)
    assert [r["system"] for r in rows] == ["all-O", "half"]
    o, h = rows
    assert o["f1"] == 0.0 and o["invalid"] == 0
    assert o["token_acc"] == pytest.approx(9 / 18)  # 18 tokens, 9 of them inside entities
    assert h["invalid"] == 1 and h["strict_f1"] < h["f1"]
    assert h["low"] <= h["f1"] <= h["high"] and 0 < h["f1"] < 1
    table = format_results(rows, {"half": {"train s": "12"}})
    lines = table.splitlines()
    assert "train s" in lines[0] and lines[2].startswith("all-O") and lines[3].endswith("12")
    assert lines[2].rstrip().endswith("-")


# ----------------------------------------------------------------------------- bad input

ALLOWED, START = transition_mask(TAGS)


@pytest.mark.parametrize("call, err, msg", [
    (lambda: tag_set("person"), TypeError, "types must be"),
    (lambda: tag_set(["a", "a"]), ValueError, "distinct"),
    (lambda: transition_mask(["O", "X-person"]), ValueError, "'X-person'"),
    (lambda: viterbi_decode(torch.zeros(2, 3, 5, dtype=torch.long), ALLOWED, START),
     TypeError, "scores must be a floating-point"),
    (lambda: viterbi_decode(torch.zeros(5), ALLOWED, START), ValueError, "scores must have"),
    (lambda: viterbi_decode(torch.zeros(2, 3, 5), ALLOWED, START, [3, 4]), ValueError,
     "lengths must hold 2 values in [1, 3], got [3, 4]"),
    (lambda: viterbi_decode(torch.zeros(2, 3, 5), ALLOWED, START, [3]), ValueError,
     "lengths must hold 2"),
    (lambda: viterbi_decode(torch.zeros(2, 3, 4), ALLOWED, START), ValueError,
     "allowed must be a (4, 4)"),
    (lambda: viterbi_decode(torch.zeros(3, 5), ALLOWED.int(), START), ValueError, "boolean"),
    (lambda: argmax_decode(torch.zeros(2, 0, 5)), ValueError, "at least one position"),
    (lambda: Featurizer([], TYPES), ValueError, "train must be a non-empty list"),
    (lambda: Featurizer([(["a", "b"], ["O"])], TYPES), ValueError, "2 tokens and 1 tags"),
    (lambda: Featurizer(DATA, TYPES, min_count=0), ValueError, "min_count must be >= 1"),
    (lambda: Featurizer(DATA, TYPES).batch([]), ValueError, "sentences is empty"),
    (lambda: Featurizer(DATA, TYPES).batch([(["a"], ["B-company"])]), ValueError,
     "'B-company' is not one of"),
    (lambda: TaggerConfig(5, 5, 5, encoder="gru"), ValueError, "encoder must be one of"),
    (lambda: TaggerConfig(5, 5, 5, encoder="transformer", hidden=5, n_head=4), ValueError,
     "divisible by n_head"),
    (lambda: TaggerConfig(0, 5, 5), ValueError, "n_words must be >= 1"),
    (lambda: TaggerConfig(5, 5, 5, dropout=1.0), ValueError, "dropout must be in"),
    (lambda: TagTrainConfig(epochs=0), ValueError, "epochs must be >= 1"),
    (lambda: TagTrainConfig(lr=0.0), ValueError, "lr must be in"),
    (lambda: Tagger(TaggerConfig(5, 5, 5))(torch.zeros(2, 3), torch.zeros(2, 3, 4),
                                             torch.tensor([3, 3])),
     TypeError, "words must be an integer tensor"),
    (lambda: Tagger(TaggerConfig(5, 5, 5))(torch.zeros(2, 3, dtype=torch.long),
                                             torch.zeros(2, 4, 4, dtype=torch.long),
                                             torch.tensor([3, 3])),
     ValueError, "shapes do not fit"),
    (lambda: Tagger(TaggerConfig(5, 5, 5, encoder="transformer", max_len=2))(
        torch.zeros(1, 3, dtype=torch.long), torch.zeros(1, 3, 2, dtype=torch.long),
        torch.tensor([3])), ValueError, "more than max_len=2"),
    (lambda: predict(_model("bilstm")[1], _model("bilstm")[0], [["a"]], decode="beam"),
     ValueError, "decode must be one of"),
    (lambda: span_errors([["a"]], [["O"]], []), ValueError, "same length"),
])
def test_bad_input(call, err, msg):
    with pytest.raises(err) as info:
        call()
    assert msg in str(info.value)
