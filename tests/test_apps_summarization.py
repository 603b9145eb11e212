"""Tests for lm_course.apps.summarization: selection, the oracle, the scorers, bad input."""

import pytest

from lm_course.app_data import load_aclsum
from lm_course.apps.summarization import (
    ScorerConfig,
    SentenceScorer,
    TfidfCentroid,
    extract_papers,
    greedy_oracle,
    join_extract,
    lead_k,
    paper_labels,
    paper_sections,
    paper_sentences,
    rouge_with_ci,
    top_k,
)
from lm_course.metrics import bootstrap_ci, rouge, rouge_pair

SENTS = ["Odd opening remark about weather .", "We propose a neural parser .",
         "It is trained on treebanks .", "The parser outperforms all baselines .",
         "Odd closing remark about lunch ."]


@pytest.fixture(scope="module")
def data():
    return load_aclsum()


@pytest.fixture(scope="module")
def centroid(data):
    return TfidfCentroid([s for p in data["train"] for s in paper_sentences(p)])


def test_lead_k_is_the_first_k_sentences():
    assert lead_k(SENTS, 1) == [0]
    assert lead_k(SENTS, 3) == [0, 1, 2]
    assert lead_k(SENTS, 99) == list(range(len(SENTS)))


def test_top_k_orders_by_score_and_breaks_ties_early():
    assert top_k([0.1, 0.5, 0.9, 0.5, 0.2], 3) == [2, 1, 3]
    assert top_k([3.0, 1.0], 5) == [0, 1]


def test_join_extract_is_in_document_order_and_leaves_input_unchanged():
    before = list(SENTS)
    assert join_extract(SENTS, [4, 0]) == SENTS[0] + " " + SENTS[4]
    assert SENTS == before


def test_oracle_finds_the_matching_sentence_and_stops_when_nothing_helps():
    ref = "the parser outperforms the baselines"
    assert greedy_oracle(SENTS, ref, max_sentences=1) == [3]
    picks = greedy_oracle(SENTS, ref, max_sentences=5)
    assert picks[0] == 3 and 0 not in picks and 4 not in picks  # noise only lowers F1
    assert greedy_oracle(SENTS, "zzz qqq", max_sentences=3) == []  # no overlap: nothing


def test_oracle_1_beats_every_single_sentence(data):
    for p in data["test"][:3]:
        sents, ref = paper_sentences(p), p["summaries"]["outcome"]
        best = greedy_oracle(sents, ref, max_sentences=1)
        score = rouge_pair(sents[best[0]], ref, types=("rouge1", "rouge2"), use_stemmer=True)
        mean = (score["rouge1"].f1 + score["rouge2"].f1) / 2
        for s in sents:
            other = rouge_pair(s, ref, types=("rouge1", "rouge2"), use_stemmer=True)
            assert mean >= (other["rouge1"].f1 + other["rouge2"].f1) / 2 - 1e-12


def test_paper_helpers_line_up(data):
    p = data["train"][0]
    sents, secs = paper_sentences(p), paper_sections(p)
    assert len(sents) == len(secs) == len(paper_labels(p, "approach"))
    assert sents[0] == p["sentences"]["abstract"][0]
    assert sents[-1] == p["sentences"]["conclusion"][-1] and secs[-1] == "conclusion"


def test_centroid_prefers_on_topic_sentences(centroid):
    s = centroid.scores(["the parser parses trees with a parser",
                         "parser trees parsing", "lunch was good"])
    assert s[0] > s[2] and s[1] > s[2] and s.shape == (3,)


def test_methods_on_real_papers(data, centroid):
    test = data["test"][:8]
    scorer = SentenceScorer(centroid).fit(data["train"], "outcome")
    assert scorer.train_seconds > 0
    refs = [p["summaries"]["outcome"] for p in test]
    f1 = {}
    for m in ("lead", "centroid", "supervised", "oracle"):
        picks = extract_papers(test, "outcome", m, 1, centroid=centroid, scorer=scorer)
        assert all(len(x) == 1 for x in picks)
        hyps = [join_extract(paper_sentences(p), x) for p, x in zip(test, picks, strict=True)]
        f1[m] = [rouge_pair(h, r, types=("rouge1", "rouge2"), use_stemmer=True)
                 for h, r in zip(hyps, refs, strict=True)]
    for m in ("lead", "centroid", "supervised"):
        for o, x in zip(f1["oracle"], f1[m], strict=True):  # per paper: the oracle is the ceiling
            assert o["rouge1"].f1 + o["rouge2"].f1 >= x["rouge1"].f1 + x["rouge2"].f1 - 1e-12
    lead = extract_papers(test, "outcome", "lead", 2)
    assert lead == [[0, 1]] * len(test)
    # the supervised scorer beats lead-1 on outcome (cue words, conclusion position)
    assert sum(x["rouge1"].f1 for x in f1["supervised"]) > sum(x["rouge1"].f1 for x in f1["lead"])


def test_rouge_with_ci_brackets_the_point():
    hyps = ["the cat sat", "a dog ran far", "birds sing", "we eat"] * 3
    refs = ["the cat sat down", "a dog barked", "birds sing loudly", "they eat"] * 3
    out = rouge_with_ci(hyps, refs, n_resamples=200)
    for t, (point, low, high) in out.items():
        assert low <= point <= high and low < high, t

        def corpus_f1(r, h, t=t):
            return rouge(h, r, types=(t,), use_stemmer=True)[t].f1

        # resampling per-pair F1s = rescoring each resample with corpus ROUGE
        slow = bootstrap_ci(corpus_f1, refs, hyps, n_resamples=200)
        assert (point, low, high) == pytest.approx(slow, abs=1e-12), t
    assert out["rouge1"][0] == pytest.approx(
        sum(rouge_pair(h, r, use_stemmer=True)["rouge1"].f1
            for h, r in zip(hyps, refs, strict=True)) / 12)


@pytest.mark.parametrize("call, exc, match", [
    (lambda: lead_k(SENTS, 0), ValueError, "k must be >= 1, got 0"),
    (lambda: lead_k(SENTS, 1.5), TypeError, "k must be an int"),
    (lambda: lead_k("one sentence", 1), TypeError, "sentences must be a list of strings"),
    (lambda: lead_k([], 1), ValueError, "at least one sentence"),
    (lambda: lead_k(["a", 3], 1), TypeError, r"sentences\[1\] must be a string"),
    (lambda: top_k([], 1), ValueError, "scores must be a non-empty 1-D"),
    (lambda: top_k([0.1, float("nan")], 1), ValueError, "finite"),
    (lambda: join_extract(SENTS, [5]), ValueError, r"picks\[i\] must be <= 4, got 5"),
    (lambda: join_extract(SENTS, [1, 1]), ValueError, "must not repeat"),
    (lambda: greedy_oracle(SENTS, 3, max_sentences=1), TypeError, "reference must be a string"),
    (lambda: greedy_oracle(SENTS, "x", max_sentences=0), ValueError, "max_sentences must be >= 1"),
    (lambda: paper_sentences(["not", "a", "paper"]), TypeError, "paper must be a dict"),
    (lambda: paper_labels({"sentences": {}}, "method"), ValueError, "aspect must be one of"),
    (lambda: TfidfCentroid("text"), TypeError, "sentences must be a list"),
    (lambda: SentenceScorer("c"), TypeError, "centroid must be a TfidfCentroid"),
    (lambda: extract_papers([], "outcome", "best", 1), ValueError, "method must be one of"),
    (lambda: extract_papers([], "outcome", "centroid", 1), ValueError, "needs centroid"),
    (lambda: extract_papers([], "outcome", "supervised", 1), ValueError, "needs scorer"),
    (lambda: rouge_with_ci(["a b"], ["a", "b"]), ValueError, "equal length, got 1 and 2"),
])
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_bad_scorer_config(centroid):
    with pytest.raises(ValueError, match=r"config.C must be in \(0.0, inf\], got 0.0"):
        SentenceScorer(centroid, ScorerConfig(C=0.0))
    with pytest.raises(RuntimeError, match="call fit"):
        SentenceScorer(centroid).scores({"sentences": {}})
