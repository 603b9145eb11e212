"""Tests for lm_course.challenges.memorization: exposure follows Carlini's rank (ties count
against the secret), log-perplexities equal a per-sequence log-softmax sum, canaries are
inserted exactly k times without disturbing the text, deduplication keeps one copy, a model
trained on a canary ranks its secret first, and bad input is refused clearly."""

import math

import pytest
import torch
import torch.nn.functional as F

from lm_course.challenges.memorization import (
    Canary,
    all_secrets,
    canary_exposure,
    deduplicate_lines,
    exposure,
    insert_canaries,
    log_perplexities,
    make_canaries,
    secret_scores,
)
from lm_course.tokenizers import CharTokenizer
from lm_course.training import TinyLM, TrainConfig, train
from lm_course.transformer import GPT, GPTConfig


@pytest.mark.parametrize("scores, index, rank", [
    ([3.0, 1.0, 2.0, 5.0], 1, 1),  # the lowest log-perplexity: ranked first
    ([3.0, 1.0, 2.0, 5.0], 3, 4),  # the highest: last
    ([3.0, 1.0, 2.0, 5.0], 0, 3),
    ([2.0, 2.0, 2.0, 2.0], 2, 4),  # all tied: rank |R|, exposure 0
    ([1.0, 2.0, 1.0, 0.5, 9.0], 0, 3),  # a tie with another candidate counts against it
    ([4.0], 0, 1),
])
def test_exposure_is_log2_size_minus_log2_rank(scores, index, rank):
    s = torch.tensor(scores, dtype=torch.float64)
    before = s.clone()
    assert exposure(s, index) == pytest.approx(math.log2(len(s)) - math.log2(rank))
    assert torch.equal(s, before)


def test_exposure_of_a_random_rank_averages_log2_e():
    # Carlini et al.: a secret the model knows nothing about has expected exposure ~ 1/ln 2
    g = torch.Generator().manual_seed(0)
    values = [exposure(torch.rand(1000, generator=g), 0) for _ in range(400)]
    assert sum(values) / len(values) == pytest.approx(1 / math.log(2), abs=0.2)


def _perturbed_gpt(vocab: int) -> GPT:
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=vocab, block_size=16, n_layer=2, n_head=2, n_embd=8))
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=g))
    return model


def test_log_perplexities_equal_a_log_softmax_sum_per_sequence():
    model = _perturbed_gpt(7)
    seqs = [[1, 2, 3], [4], [6, 5, 4, 3, 2], [0, 0]]  # different lengths, odd ones first/last
    context = [5, 1]
    got = log_perplexities(model, seqs, context, batch_size=3)  # chunks of 3 and 1
    for s, value in zip(seqs, got, strict=True):
        ids = torch.tensor([context + s])  # (1, T)
        logp = F.log_softmax(model(ids)[0][0].double(), -1)  # (T, V)
        want = -sum(logp[len(context) - 1 + t, tok] for t, tok in enumerate(s)) / math.log(2)
        assert value.item() == pytest.approx(want.item(), rel=1e-5)  # float32 forward
    assert model.training  # left as it was found


def test_tree_scores_equal_scoring_every_candidate():
    canary = Canary("pin of x: ", "07")
    tok = CharTokenizer().train("pin of x: 0123456789\n")
    model = _perturbed_gpt(tok.vocab_size)
    tree = secret_scores(model, tok, canary, batch_size=7)
    brute = log_perplexities(model, [tok.encode(canary.prefix + s) for s in all_secrets(2)],
                             tok.encode("\n"))
    assert tree.shape == (100,)
    assert torch.allclose(tree, brute, rtol=1e-5)
    assert exposure(tree, 7) == canary_exposure(model, tok, canary)


def test_uniform_model_gives_zero_exposure_and_trained_model_full_exposure():
    canary = Canary("pin ", "471")
    text = ("\n" + canary.text) * 40 + "\n" + "".join(all_secrets(1)) + " pinx\n"
    tok = CharTokenizer().train(text)
    torch.manual_seed(0)
    uniform = TinyLM(tok.vocab_size)
    with torch.no_grad():
        uniform.head.weight.zero_()
        uniform.head.bias.zero_()
    assert canary_exposure(uniform, tok, canary) == 0.0  # every candidate tied
    model = TinyLM(tok.vocab_size, n_embd=32)
    cfg = TrainConfig(max_steps=60, batch_size=8, block_size=8, lr=0.05, warmup_steps=0,
                      eval_interval=0, progress=False, peak_flops=0)
    train(model, torch.tensor(tok.encode(text)), config=cfg)
    # a bigram model that saw only "4"->"7"->"1" after "pin " ranks the secret first of 1000
    assert canary_exposure(model, tok, canary) == pytest.approx(math.log2(1000))


def test_make_canaries_distinct_and_reproducible():
    a = make_canaries(8, n_digits=2, seed=3)
    assert [c.text for c in a] == [c.text for c in make_canaries(8, n_digits=2, seed=3)]
    assert len({c.secret for c in a}) == 8 and len({c.prefix for c in a}) == 8
    assert all(len(c.secret) == 2 and c.secret.isdigit() for c in a)
    assert [c.secret for c in make_canaries(8, n_digits=2, seed=4)] != [c.secret for c in a]


def test_insert_canaries_k_times_and_keeps_the_text():
    text = "\n".join(f"line {i}" for i in range(50))
    canaries = make_canaries(3, seed=0)
    out = insert_canaries(text, canaries, [1, 0, 7], seed=5)
    lines = out.split("\n")
    assert [lines.count(c.text) for c in canaries] == [1, 0, 7]
    assert [x for x in lines if not x.startswith("the PIN")] == text.split("\n")
    assert out == insert_canaries(text, canaries, [1, 0, 7], seed=5)
    assert out != insert_canaries(text, canaries, [1, 0, 7], seed=6)


def test_deduplication_keeps_one_copy_of_long_lines_only():
    text = "\n".join(["HAMLET.", "To be, or not to be, that is the question", "HAMLET.",
                      "To be, or not to be, that is the question  ", "end"])
    out, dropped = deduplicate_lines(text, min_chars=20)
    assert dropped == 1
    assert out.split("\n") == ["HAMLET.", "To be, or not to be, that is the question",
                               "HAMLET.", "end"]
    canaries = make_canaries(2, seed=1)
    planted = insert_canaries(text, canaries, [16, 3], seed=0)
    clean, dropped = deduplicate_lines(planted, min_chars=20)
    assert [clean.split("\n").count(c.text) for c in canaries] == [1, 1]
    assert dropped == 15 + 2 + 1


@pytest.mark.parametrize("call, exc, message", [
    (lambda: exposure(torch.tensor([1, 2]), 0), TypeError, "scores must be a floating-point"),
    (lambda: exposure(torch.ones(2, 2), 0), ValueError, "scores must have 1 dimensions"),
    (lambda: exposure(torch.ones(3), 3), ValueError, "true_index must be <= 2, got 3"),
    (lambda: exposure(torch.tensor([1.0, math.nan]), 0), ValueError, "must not contain NaN"),
    (lambda: exposure([1.0, 2.0], 0), TypeError, "scores must be a torch.Tensor"),
    (lambda: make_canaries(0), ValueError, "n must be >= 1, got 0"),
    (lambda: make_canaries(11, n_digits=1), ValueError, "need n_digits >= 2"),
    (lambda: make_canaries(2, n_digits=2.0), TypeError, "n_digits must be an int"),
    (lambda: insert_canaries("a\nb", make_canaries(2), [1]), ValueError, "same length"),
    (lambda: insert_canaries("a\nb", ["x"], [1]), TypeError, "canaries[0] must be a Canary"),
    (lambda: insert_canaries("a\nb", make_canaries(1), [-1]), ValueError,
     "repeats[0] must be >= 0, got -1"),
    (lambda: insert_canaries("", make_canaries(1), [1]), TypeError, "text must be a non-empty"),
    (lambda: deduplicate_lines(b"abc"), TypeError, "text must be a str"),
    (lambda: deduplicate_lines("abc", min_chars=0), ValueError, "min_chars must be >= 1"),
    (lambda: all_secrets(0), ValueError, "n_digits must be >= 1"),
    (lambda: log_perplexities(TinyLM(3), [[1]], []), ValueError, "context must hold"),
    (lambda: log_perplexities(TinyLM(3), [], [0]), ValueError, "sequences is empty"),
    (lambda: log_perplexities("model", [[1]], [0]), TypeError, "model"),
    (lambda: canary_exposure(TinyLM(3), None, "1234"), TypeError, "canary must be a Canary"),
])
def test_bad_inputs(call, exc, message):
    with pytest.raises(exc, match=message.replace("[", r"\[").replace("(", r"\(")):
        call()
