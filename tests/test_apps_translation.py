"""Tests for lm_course.apps.translation: baselines, greedy and beam decoding of both seq2seq
models (beam = brute force on tiny models), attention maps, scores = sacrebleu, bad input."""

import copy
import itertools
import math
import random
from collections import Counter

import pytest
import sacrebleu
import torch
import torch.nn.functional as F

from lm_course.apps.translation import (
    UNKNOWN_CHAR,
    DictionaryTranslator,
    SourceConditioned,
    beam_translate,
    char_tokenizer,
    copy_source,
    cross_attention,
    encode_corpus,
    known,
    languages,
    pair_texts,
    score_with_ci,
    token_lengths,
    translate_greedy,
)
from lm_course.attention import BOS, EOS, SPECIALS, LSTMSeq2Seq, Seq2SeqConfig, decode_ids
from lm_course.transformer import Transformer, TransformerConfig

PAIRS = [("the dog runs", "狗跑"), ("the cat runs", "猫跑"), ("a dog sleeps", "狗睡"),
         ("a cat sleeps", "猫睡"), ("the big dog", "大狗"), ("the big cat", "大猫")]
HYPS = ["起初，神创造天地。", "耶稣说：你们要彼此相爱。", "Moses went up, 40 days.", "神爱世人"]
REFS = ["起初神创造天地。", "耶稣对他们说：你们要相爱。", "摩西上山，四十天。",
        "神爱世人，甚至将他的独生子赐给他们"]


def _tiny(kind: str, src_vocab: int = 9, tgt_vocab: int = 6, seed: int = 0):
    torch.manual_seed(seed)
    if kind == "lstm":
        model = LSTMSeq2Seq(Seq2SeqConfig(src_vocab, tgt_vocab, emb_dim=8, hidden_size=8))
    else:
        model = Transformer(TransformerConfig(src_vocab, tgt_vocab, max_len=16, n_layer=1,
                                              n_head=2, d_model=8, d_ff=16))
    with torch.no_grad():  # move every parameter off its initial value (biases, LN weights)
        for p in model.parameters():
            p.add_(0.5 * torch.randn_like(p))
    return model.eval()


class _Ids:
    """A tokenizer over ids themselves: "3 4" <-> [3, 4] (no shift games in the tests)."""

    def encode(self, text):
        return [int(t) for t in text.split()]

    def decode(self, ids):
        return " ".join(str(i) for i in ids)


def _brute_force(model, src_ids, max_len, alpha):
    """Every target of 1..max_len tokens (ending at EOS, or cut at max_len), scored exactly
    by teacher forcing; returns the best (tokens, log p / length ** alpha)."""
    vocab = model.config.tgt_vocab_size
    best = None
    for n in range(1, max_len + 1):
        tails = [t for t in itertools.product(range(vocab), repeat=n)
                 if EOS not in t[:-1] and (n == max_len or t[-1] == EOS)]
        ys = torch.tensor(tails)  # (N, n)
        tgt_in = torch.cat([torch.full((len(tails), 1), BOS), ys[:, :-1]], dim=1)
        src = torch.tensor([src_ids]).expand(len(tails), -1)
        with torch.no_grad():
            logits, _ = model(src, torch.full((len(tails),), len(src_ids)), tgt_in)
        total = F.log_softmax(logits, -1).gather(2, ys[:, :, None]).sum((1, 2))  # (N,)
        scores = total / n ** alpha
        i = int(scores.argmax())
        if best is None or scores[i].item() > best[1]:
            best = (list(tails[i]), scores[i].item())
    return best


# ----------------------------------------------------------------------------- small pieces


def test_languages_and_pair_texts():
    assert languages("en-zh") == ("en", "zh")
    verses = [{"en": "In the beginning", "zh": "起初", "book": "Genesis"},
              {"en": "Jesus wept.", "zh": "耶稣哭了。", "book": "John"}]
    before = copy.deepcopy(verses)
    assert pair_texts(verses, "en-zh") == [("In the beginning", "起初"),
                                           ("Jesus wept.", "耶稣哭了。")]
    assert pair_texts(verses, "zh-en")[1] == ("耶稣哭了。", "Jesus wept.")
    assert verses == before


def test_char_tokenizer_maps_unseen_characters_to_the_placeholder():
    tok = char_tokenizer(["起初神创造天地"])
    assert known("神创造人", tok) == "神创造" + UNKNOWN_CHAR
    assert tok.decode(tok.encode(known("天地", tok))) == "天地"
    assert token_lengths(["神创造人", "天"], tok) == [4, 1]


def test_encode_corpus_filters_by_length_and_keeps_the_layout():
    src_tok, tgt_tok = char_tokenizer([s for s, _ in PAIRS]), char_tokenizer([t for _, t in PAIRS])
    src, lengths, tgt, kept = encode_corpus(PAIRS, src_tok, tgt_tok, max_src=11, max_tgt=2)
    assert kept == [4, 5]  # the other sources have 12 characters
    assert lengths.tolist() == [11, 11]
    assert (tgt[:, 0] == BOS).all() and (tgt[:, 3] == EOS).all()
    assert decode_ids(tgt[0, 1:], tgt_tok) == "大狗"
    assert decode_ids(src[1], src_tok) == "the big cat"
    _, _, _, every = encode_corpus(PAIRS, src_tok, tgt_tok, max_src=12, max_tgt=2)
    assert every == list(range(len(PAIRS)))


# ----------------------------------------------------------------------------- baselines


def test_copy_source_returns_a_new_list_equal_to_the_input():
    srcs = ["a", "b"]
    out = copy_source(srcs)
    assert out == srcs and out is not srcs


def test_dictionary_learns_the_hidden_word_table_and_ignores_function_words():
    model = DictionaryTranslator("en-zh", min_count=1, min_dice=0.7).fit(PAIRS)
    assert model.table["dog"] == "狗" and model.table["cat"] == "猫"
    assert model.table["runs"] == "跑" and model.table["big"] == "大"
    assert "the" not in model.table  # 'the' is in 4 of 6 pairs: its best Dice is 2*2/6 < 0.7
    assert model.table["a"] == "睡"  # a spurious pair: here 'a' only occurs with 'sleeps'
    assert model.translate(["the big cat runs", "dog dog runs"]) == ["大猫跑", "狗跑"]
    back = DictionaryTranslator("zh-en", min_count=1, min_dice=0.7).fit(
        [(t, s) for s, t in PAIRS])
    assert back.translate(["猫睡"]) == ["cat sleeps"]


def test_dictionary_counts_a_unit_once_per_pair():
    # 'dog' twice in one pair must not outweigh the real association of 'cat'
    pairs = [("dog dog dog", "猫"), ("cat", "猫"), ("cat", "猫"), ("dog", "狗"), ("dog", "狗")]
    model = DictionaryTranslator("en-zh", min_count=1).fit(pairs)
    assert model.table == {"dog": "狗", "cat": "猫"}


@pytest.mark.parametrize("min_count, min_dice", [(1, 0.0), (2, 0.05), (3, 0.4)])
def test_dictionary_equals_dice_counted_pair_by_pair(min_count, min_dice):
    # the sparse-matrix fit against the definition, counted with Counters; a tiny vocabulary
    # makes ties in Dice common (the rule: the last target unit in sorted order wins)
    rng = random.Random(min_count)
    en, zh = ["a", "b", "c", "d", "e", "f"], list("甲乙丙丁戊")
    pairs = [(" ".join(rng.choices(en, k=rng.randint(1, 5))),
              "".join(rng.choices(zh, k=rng.randint(0, 4)))) for _ in range(40)]
    src_df, tgt_df, joint = Counter(), Counter(), Counter()
    for s, t in pairs:
        su, tu = set(s.split()), set(t)
        src_df.update(su)
        tgt_df.update(tu)
        joint.update((x, y) for x in su for y in tu)
    want = {}
    for x in src_df:
        best = max(((2 * joint[x, y] / (src_df[x] + tgt_df[y]), y) for y in tgt_df
                    if joint[x, y]), default=None)
        if best and src_df[x] >= min_count and best[0] >= min_dice:
            want[x] = best[1]
    got = DictionaryTranslator("en-zh", min_count=min_count, min_dice=min_dice).fit(pairs).table
    assert got == want and len(want) >= 3


def test_bleu_of_the_copy_baseline_equals_sacrebleu():
    from lm_course.metrics_text import corpus_bleu

    srcs = ["Moses went up, 40 days.", "神爱世人", "Jesus wept.", "起初"]
    out = copy_source(srcs)
    ours = corpus_bleu(out, REFS, tokenize="zh")
    theirs = sacrebleu.corpus_bleu(out, [REFS], tokenize="zh")
    assert ours.score == pytest.approx(theirs.score, abs=1e-9) and ours.score > 0
    assert list(ours.counts) == list(theirs.counts)


def test_score_with_ci_points_equal_sacrebleu_and_bracket_them():
    before = list(HYPS), list(REFS)
    res = score_with_ci(HYPS, REFS, "zh", n_resamples=200)
    bleu = sacrebleu.corpus_bleu(HYPS, [REFS], tokenize="zh").score
    chrf = sacrebleu.corpus_chrf(HYPS, [REFS]).score
    assert res["bleu"][0] == pytest.approx(bleu, abs=1e-9)
    assert res["chrf"][0] == pytest.approx(chrf, abs=1e-9)
    for point, low, high in res.values():
        assert low <= point <= high and low < high
    assert (list(HYPS), list(REFS)) == before
    en = score_with_ci(["the cat sat on the mat"], ["the cat sat on a mat"], "en", n_resamples=5)
    assert en["bleu"][0] == pytest.approx(
        sacrebleu.corpus_bleu(["the cat sat on the mat"], [["the cat sat on a mat"]]).score)


# ----------------------------------------------------------------------------- decoding


@pytest.mark.parametrize("kind", ["lstm", "transformer"])
def test_source_conditioned_logits_equal_teacher_forcing(kind):
    model = _tiny(kind)
    src = [5, 3, 8, 4]
    tgt_in = torch.tensor([[BOS, 4, 3, 5, 3]])
    full, _ = model(torch.tensor([src]), torch.tensor([4]), tgt_in)  # (1, 5, V)
    lm = SourceConditioned(model, src)
    for t in range(1, tgt_in.size(1) + 1):  # prefixes one token longer each time, as in beam
        step = lm(tgt_in[:, :t].repeat(3, 1))[0]  # (3, 1, V), batch of 3 identical prefixes
        for k in range(3):
            torch.testing.assert_close(step[k, -1], full[0, t - 1], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", ["lstm", "transformer"])
@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_wide_beam_equals_brute_force(kind, alpha):
    model = _tiny(kind)
    tok = _Ids()
    for src in ("0 5 2", "4 1 1 3 0"):  # unshifted ids; the module adds SPECIALS
        shifted = [int(x) + SPECIALS for x in src.split()]
        want_ids, want_score = _brute_force(model, shifted, max_len=3, alpha=alpha)
        hyps = beam_translate(model, src, tok, tok, max_src=8, max_len=3, num_beams=6 ** 3,
                              length_penalty=alpha)
        assert hyps[0][1] == pytest.approx(want_score, abs=1e-5)
        assert hyps[0][0] == decode_ids(want_ids, tok)
        narrow = beam_translate(model, src, tok, tok, max_src=8, max_len=3, num_beams=2,
                                length_penalty=alpha)
        assert narrow[0][1] <= want_score + 1e-6  # a narrow beam can only do worse


@pytest.mark.parametrize("kind", ["lstm", "transformer"])
@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_one_beam_scores_at_least_the_greedy_translation(kind, alpha):
    # the greedy path is always among the hypotheses a one-wide beam finishes
    model = _tiny(kind, tgt_vocab=7, seed=3)
    tok = _Ids()
    for s in ["5 0 3", "1 2", "4 4 4 0 1 2"]:
        src = [int(x) + SPECIALS for x in s.split()]
        ids, _ = model.generate(torch.tensor([src]), torch.tensor([len(src)]), 6)
        ids = ids[0].tolist()
        ids = ids[: ids.index(EOS) + 1] if EOS in ids else ids
        with torch.no_grad():
            logits, _ = model(torch.tensor([src]), torch.tensor([len(src)]),
                              torch.tensor([[BOS] + ids[:-1]]))
        logp = F.log_softmax(logits[0], -1).gather(1, torch.tensor(ids)[:, None]).sum().item()
        (_, best), = beam_translate(model, s, tok, tok, max_src=8, max_len=6, num_beams=1,
                                    length_penalty=alpha)
        assert best >= logp / len(ids) ** alpha - 1e-6


@pytest.mark.parametrize("kind", ["lstm", "transformer"])
def test_greedy_batch_equals_one_by_one_and_keeps_order(kind):
    model = _tiny(kind, tgt_vocab=7, seed=1)
    tok = _Ids()
    sources = ["5 0 3 1 2 4", "1", "2 2 0", "4 4 4 0 1 2 5 5"]  # odd lengths first and last
    before = list(sources)
    state = copy.deepcopy(model.state_dict())
    batch = translate_greedy(model, sources, tok, tok, max_src=8, max_len=5, batch_size=3)
    alone = [translate_greedy(model, [s], tok, tok, max_src=8, max_len=5)[0] for s in sources]
    assert batch == alone
    assert len(set(batch)) > 1  # the sources do not all give one output
    assert sources == before
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k])


@pytest.mark.parametrize("kind", ["lstm", "transformer"])
def test_cross_attention_rows_are_distributions_over_the_source(kind):
    model = _tiny(kind)
    maps = cross_attention(model, [5, 3, 8, 4], [4, 3, 5])
    assert maps.shape == (4, 4)
    torch.testing.assert_close(maps.sum(-1), torch.ones(4))
    assert not torch.allclose(maps[0], maps[-1])  # attention moves as the target grows


def test_lstm_cross_attention_equals_the_weights_of_greedy_generation():
    model = _tiny("lstm")
    src = torch.tensor([[5, 3, 8, 4]])
    ids, weights = model.generate(src, torch.tensor([4]), 4)  # (1, 4), (1, 4, 4)
    maps = cross_attention(model, [5, 3, 8, 4], [int(i) for i in ids[0, :3]])
    torch.testing.assert_close(maps, weights[0])


def test_beam_scores_are_sorted_and_length_normalised():
    model = _tiny("transformer", tgt_vocab=7)
    tok = _Ids()
    hyps = beam_translate(model, "2 0 1", tok, tok, max_src=8, max_len=5, num_beams=3)
    scores = [s for _, s in hyps]
    assert scores == sorted(scores, reverse=True) and len(hyps) == 3
    assert all(s < 0 for s in scores) and all(math.isfinite(s) for s in scores)


# ----------------------------------------------------------------------------- bad input


def _m():
    return _tiny("lstm")


BAD = [
    (lambda: languages("en-fr"), ValueError, "direction"),
    (lambda: pair_texts([], "en-zh"), ValueError, "pairs"),
    (lambda: pair_texts([{"en": "a"}], "en-zh"), TypeError, "pairs[0]"),
    (lambda: char_tokenizer("abc"), TypeError, "texts"),
    (lambda: char_tokenizer([]), ValueError, "texts"),
    (lambda: known(3, None), TypeError, "text"),
    (lambda: encode_corpus([("a", 1)], None, None, 4, 4), TypeError, "pairs[0]"),
    (lambda: encode_corpus("ab", None, None, 4, 4), ValueError, "pairs"),
    (lambda: encode_corpus(PAIRS, char_tokenizer(["the"]), char_tokenizer(["狗"]), 0, 4),
     ValueError, "max_src"),
    (lambda: encode_corpus(PAIRS, char_tokenizer(["the"]), char_tokenizer(["狗"]), 1, 1),
     ValueError, "no pair fits"),
    (lambda: copy_source("abc"), TypeError, "sources"),
    (lambda: copy_source(["a", None]), TypeError, "sources[1]"),
    (lambda: DictionaryTranslator("en-zh", min_count=0), ValueError, "min_count"),
    (lambda: DictionaryTranslator("en-zh", min_dice=1.5), ValueError, "min_dice"),
    (lambda: DictionaryTranslator("zh_en"), ValueError, "direction"),
    (lambda: DictionaryTranslator("en-zh").translate(["a"]), ValueError, "not fitted"),
    (lambda: translate_greedy(torch.nn.Linear(2, 2), ["1"], _Ids(), _Ids(), max_src=4,
                              max_len=4), TypeError, "model"),
    (lambda: translate_greedy(_m(), ["1"], _Ids(), _Ids(), max_src=4, max_len=0),
     ValueError, "max_len"),
    (lambda: translate_greedy(_m(), ["1"], _Ids(), _Ids(), max_src=4, max_len=4,
                              batch_size=0), ValueError, "batch_size"),
    (lambda: beam_translate(_m(), ["1"], _Ids(), _Ids(), max_src=4, max_len=4), TypeError,
     "source"),
    (lambda: beam_translate(_m(), "1", _Ids(), _Ids(), max_src=4, max_len=4, num_beams=0),
     ValueError, "num_beams"),
    (lambda: beam_translate(_m(), "1", _Ids(), _Ids(), max_src=4, max_len=4,
                            length_penalty=float("nan")), ValueError, "length_penalty"),
    (lambda: SourceConditioned(_m(), []), ValueError, "src_ids"),
    (lambda: SourceConditioned(_m(), [1, 4]), ValueError, "src_ids"),
    (lambda: SourceConditioned(_m(), [4])(torch.zeros(1, 2)), TypeError, "prefixes"),
    (lambda: cross_attention(_m(), [4], [0]), ValueError, "tgt_ids"),
    (lambda: score_with_ci(["a"], ["a", "b"], "zh"), ValueError, "same length"),
    (lambda: score_with_ci(["a"], ["a"], "fr"), ValueError, "lang"),
    (lambda: score_with_ci(["a"], "a", "zh"), TypeError, "references"),
]


@pytest.mark.parametrize(("call", "error", "message"), BAD)
def test_bad_inputs_raise_clear_errors(call, error, message):
    with pytest.raises(error, match=message.replace("[", r"\[").replace("]", r"\]")):
        call()
