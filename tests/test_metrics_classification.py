"""Accuracy / precision / recall / F1 equal scikit-learn; BIO spans and span F1 equal seqeval."""

from __future__ import annotations

import copy
import math
import random
import warnings

import numpy as np
import pytest
import torch
from seqeval.metrics import classification_report, f1_score
from seqeval.metrics.sequence_labeling import get_entities
from seqeval.scheme import IOB2, Tokens
from sklearn.metrics import accuracy_score, precision_recall_fscore_support

from lm_course.metrics import (
    PRF,
    accuracy,
    bio_spans,
    precision_recall_f1,
    span_f1,
    span_scores,
)

# ----------------------------------------------------------------------------- scikit-learn


def sk_prf(y_true, y_pred, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return precision_recall_fscore_support(y_true, y_pred, zero_division=0, **kwargs)


def assert_prf(got: PRF, precision, recall, f1, support=None):
    assert isinstance(got, PRF)
    assert got.precision == pytest.approx(precision, abs=1e-12)
    assert got.recall == pytest.approx(recall, abs=1e-12)
    assert got.f1 == pytest.approx(f1, abs=1e-12)
    if support is not None:
        assert got.support == support


def random_label_cases(n_cases=150, seed=0):
    rng = random.Random(seed)
    cases = []
    for _ in range(n_cases):
        n_classes = rng.choice([2, 2, 3, 4, 5])
        names = rng.choice([list(range(n_classes)), [f"c{i}" for i in range(n_classes)]])
        n = rng.randint(1, 30)
        y_true = [rng.choice(names) for _ in range(n)]
        # a classifier that is right about 60% of the time, else guesses
        y_pred = [t if rng.random() < 0.6 else rng.choice(names) for t in y_true]
        cases.append((y_true, y_pred))
    return cases


HAND_CASES = [
    ([1, 1, 0, 0], [1, 0, 1, 0]),  # one of each outcome
    ([0, 0, 0, 0], [0, 0, 0, 0]),  # a single class, never positive: everything 0
    ([1, 0, 1, 0], [0, 0, 0, 0]),  # no positive predictions: precision 0 (zero_division)
    ([0, 0, 0, 0], [1, 0, 1, 0]),  # no true positives in the data: recall 0
    ([1, 1, 1], [1, 1, 1]),  # perfect
    (["pos", "neg", "neg", "pos", "neu"], ["neu", "neg", "pos", "pos", "neu"]),
    ([2, 0, 1, 2, 2, 0], [2, 2, 1, 0, 2, 1]),
    ([0, 1, 2, 3], [3, 3, 3, 3]),  # three classes never predicted, one only predicted once right
]


@pytest.mark.parametrize("y_true, y_pred", HAND_CASES + random_label_cases())
def test_precision_recall_f1_equals_sklearn(y_true, y_pred):
    before = (copy.deepcopy(y_true), copy.deepcopy(y_pred))
    present = sorted(set(y_true) | set(y_pred))
    assert accuracy(y_true, y_pred) == pytest.approx(accuracy_score(y_true, y_pred), abs=1e-15)
    for average in ["macro", "micro", "weighted"]:
        p, r, f, _ = sk_prf(y_true, y_pred, average=average)
        support = len(y_true)
        assert_prf(precision_recall_f1(y_true, y_pred, average=average), p, r, f, support)
    p, r, f, s = sk_prf(y_true, y_pred, average=None, labels=present)
    per_class = precision_recall_f1(y_true, y_pred, average=None)
    assert list(per_class) == present
    for k, label in enumerate(present):
        assert_prf(per_class[label], p[k], r[k], f[k], int(s[k]))
    if len(present) <= 2:  # binary: each present class in turn as the positive one
        for pos in present:
            p, r, f, _ = sk_prf(y_true, y_pred, average="binary", pos_label=pos)
            got = precision_recall_f1(y_true, y_pred, average="binary", pos_label=pos)
            assert_prf(got, p, r, f, sum(t == pos for t in y_true))
    # micro over all labels of a single-label task is accuracy
    micro = precision_recall_f1(y_true, y_pred, average="micro")
    assert micro.f1 == pytest.approx(accuracy(y_true, y_pred), abs=1e-12)
    assert (y_true, y_pred) == before  # inputs untouched


@pytest.mark.parametrize("labels", [[2, 0], [1], [0, 1, 2, 7], [7]])
@pytest.mark.parametrize("average", ["macro", "micro", "weighted", None])
def test_labels_argument_equals_sklearn(labels, average):
    y_true, y_pred = [2, 0, 1, 2, 2, 0, 1, 1], [2, 2, 1, 0, 2, 1, 1, 0]
    p, r, f, s = sk_prf(y_true, y_pred, average=average, labels=labels)
    got = precision_recall_f1(y_true, y_pred, average=average, labels=labels)
    if average is None:
        assert list(got) == labels  # in the order asked for, absent label 7 included
        for k, label in enumerate(labels):
            assert_prf(got[label], p[k], r[k], f[k], int(s[k]))
    else:
        assert_prf(got, p, r, f, sum(t in labels for t in y_true))


def test_binary_defaults_and_array_inputs():
    y_true, y_pred = np.array([1, 0, 1, 1, 0]), torch.tensor([1, 1, 1, 0, 0])
    p, r, f, _ = sk_prf(y_true, y_pred.numpy(), average="binary")
    assert_prf(precision_recall_f1(y_true, y_pred), p, r, f, 3)
    assert precision_recall_f1([True, False], [True, True]) == PRF(0.5, 1.0, 2 / 3, 1)
    assert accuracy(torch.tensor([3, 1, 2]), np.array([3, 1, 0])) == pytest.approx(2 / 3)
    # a binary problem whose only class is not pos_label: nothing to find, all zero
    assert precision_recall_f1([0, 0], [0, 0]) == PRF(0.0, 0.0, 0.0, 0)


@pytest.mark.parametrize("call, error, words", [
    (lambda: accuracy([1, 0], [1]), ValueError, ["y_true", "y_pred", "same length", "2", "1"]),
    (lambda: accuracy([], []), ValueError, ["y_true", "empty"]),
    (lambda: accuracy("101", "100"), TypeError, ["y_true", "sequence"]),
    (lambda: accuracy([1, 0], 5), TypeError, ["y_pred", "sequence"]),
    (lambda: accuracy([0.5, 1.0], [1, 0]), TypeError, ["y_true[0]", "float", "0.5"]),
    (lambda: accuracy([1, 0], [1, None]), TypeError, ["y_pred[1]", "NoneType"]),
    (lambda: accuracy(["a", "b"], [0, 1]), TypeError, ["mix", "string", "integer"]),
    (lambda: precision_recall_f1([0, 1, 2], [0, 1, 1]), ValueError,
     ["average='binary'", "3", "macro"]),
    (lambda: precision_recall_f1(["a", "b"], ["b", "a"]), ValueError,
     ["pos_label=1", "['a', 'b']"]),
    (lambda: precision_recall_f1([0, 1], [1, 1], average="mean"), ValueError,
     ["average", "'mean'", "macro"]),
    (lambda: precision_recall_f1([0, 1], [1, 1], labels=[0]), ValueError,
     ["labels", "binary", "pos_label"]),
    (lambda: precision_recall_f1([0, 1], [1, 1], average="macro", labels=[]), ValueError,
     ["labels", "non-empty"]),
    (lambda: precision_recall_f1([0, 1], [1, 1], average="macro", labels=[1, 1]), ValueError,
     ["labels", "distinct"]),
    (lambda: precision_recall_f1([0, 1], [1], average="micro"), ValueError, ["same length"]),
    (lambda: precision_recall_f1(["a", "b"], ["a", "a"], average="macro", pos_label="a"),
     ValueError, ["pos_label='a'", "binary", "labels=['a']"]),
])
def test_label_metrics_bad_input(call, error, words):
    with pytest.raises(error) as info:
        call()
    for word in words:
        assert word in str(info.value)


# ----------------------------------------------------------------------------- seqeval

TYPES = ["PER", "LOC", "ORG"]


def random_tags(rng: random.Random, n: int) -> list[str]:
    tags = []
    for _ in range(n):
        u = rng.random()
        if u < 0.45:
            tags.append("O")
        elif u < 0.7:
            tags.append("B-" + rng.choice(TYPES))
        else:  # I- tags, often continuing, sometimes orphan or switching type
            prev = tags[-1] if tags else "O"
            kind = prev[2:] if prev != "O" and rng.random() < 0.7 else rng.choice(TYPES)
            tags.append("I-" + kind)
    return tags


def perturb(rng: random.Random, tags: list[str]) -> list[str]:
    """A prediction: mostly the gold tags, with some tokens re-drawn."""
    redraw = random_tags(rng, len(tags))
    return [r if rng.random() < 0.25 else t for t, r in zip(tags, redraw, strict=True)]


def random_corpora(n_cases=200, seed=0):
    rng = random.Random(seed)
    cases = []
    for _ in range(n_cases):
        lengths = [rng.randint(0, 12) for _ in range(rng.randint(1, 4))]
        gold = [random_tags(rng, n) for n in lengths]
        cases.append((gold, [perturb(rng, s) for s in gold]))
    return cases


def seqeval_spans(tags, mode):
    if mode == "default":
        return [(t, start, end + 1) for t, start, end in get_entities(list(tags))]
    return [(e.tag, e.start, e.end) for e in Tokens(list(tags), IOB2).entities]


def seqeval_report(gold, pred, mode):
    kwargs = {"mode": "strict", "scheme": IOB2} if mode == "strict" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = classification_report(gold, pred, output_dict=True, **kwargs)
        f1 = f1_score(gold, pred, **kwargs)
    return report, f1


SPAN_CASES = [
    (["B-PER", "I-PER", "O", "B-LOC"], [("PER", 0, 2), ("LOC", 3, 4)]),
    (["O", "O", "O"], []),  # all O
    ([], []),
    (["B-PER"], [("PER", 0, 1)]),  # a one-token entity that is the whole sentence
    (["B-LOC", "O", "B-ORG"], [("LOC", 0, 1), ("ORG", 2, 3)]),  # first and last token
    (["B-PER", "B-PER", "I-PER"], [("PER", 0, 1), ("PER", 1, 3)]),  # B- splits same type
    (["B-PER", "I-LOC", "I-LOC"], [("PER", 0, 1), ("LOC", 1, 3)]),  # type switch mid-entity
    (["I-PER", "I-PER", "O", "I-ORG"], [("PER", 0, 2), ("ORG", 3, 4)]),  # orphans (IOB1 style)
    (["B-MISC-X", "I-MISC-X"], [("MISC-X", 0, 2)]),  # a type containing a dash
]
STRICT = {  # where the strict IOB2 reading differs: an orphan I- is no entity
    5: [("PER", 0, 1), ("PER", 1, 3)],
    6: [("PER", 0, 1)],
    7: [],
}


@pytest.mark.parametrize("k", range(len(SPAN_CASES)))
def test_bio_spans_hand_cases_and_seqeval(k):
    tags, want = SPAN_CASES[k]
    assert bio_spans(tags) == want == seqeval_spans(tags, "default")
    strict = STRICT.get(k, want)
    assert bio_spans(tags, mode="strict") == strict == seqeval_spans(tags, "strict")


@pytest.mark.parametrize("mode", ["default", "strict"])
def test_bio_spans_equal_seqeval_on_random_sequences(mode):
    rng = random.Random(1)
    differ = 0
    for _ in range(300):
        tags = random_tags(rng, rng.randint(1, 15))
        assert bio_spans(tags, mode=mode) == seqeval_spans(tags, mode), tags
        differ += bio_spans(tags, mode="default") != bio_spans(tags, mode="strict")
    assert differ > 30  # the random sequences do exercise the orphan-I rule


@pytest.mark.parametrize("mode", ["default", "strict"])
@pytest.mark.parametrize("gold, pred", random_corpora())
def test_span_scores_equal_seqeval(gold, pred, mode):
    before = copy.deepcopy((gold, pred))
    report, f1 = seqeval_report(gold, pred, mode)
    got = span_scores(gold, pred, mode=mode)
    assert set(got) == {k for k in report if not k.endswith(" avg")} | {
        "micro", "macro", "weighted"}
    for key, row in report.items():
        name = key[:-4] if key.endswith(" avg") else key
        want = [row["precision"], row["recall"], row["f1-score"]]
        if any(math.isnan(x) for x in want):  # macro over no entity type at all
            assert all(math.isnan(x) for x in got[name][:3])
        else:
            assert_prf(got[name], *want, int(row["support"]))
    assert span_f1(gold, pred, mode=mode) == pytest.approx(f1, abs=1e-12)
    assert (gold, pred) == before


def test_span_scores_edge_cases():
    # all-O on both sides: nothing to find, nothing found
    s = span_scores([["O", "O"], ["O"]], [["O", "O"], ["O"]])
    assert s["micro"] == PRF(0.0, 0.0, 0.0, 0) and math.isnan(s["macro"].f1)
    assert seqeval_report([["O", "O"], ["O"]], [["O", "O"], ["O"]], "default")[1] == 0.0
    # entities never cross a sentence boundary: B-PER | I-PER is two entities
    gold, pred = [["O", "B-PER"], ["I-PER", "O"]], [["O", "B-PER"], ["B-PER", "O"]]
    assert span_f1(gold, pred) == 1.0
    assert span_f1(gold, pred, mode="strict") == pytest.approx(2 / 3)
    # a type only predicted: support 0, precision 0; a boundary error scores nothing
    s = span_scores([["B-PER", "I-PER", "O"]], [["B-PER", "O", "B-LOC"]])
    assert s["LOC"] == PRF(0.0, 0.0, 0.0, 0) and s["PER"] == PRF(0.0, 0.0, 0.0, 1)
    # tuples and a perfect tagger
    assert span_f1((("B-ORG", "I-ORG"),), (("B-ORG", "I-ORG"),)) == 1.0


@pytest.mark.parametrize("call, error, words", [
    (lambda: bio_spans(["O", "E-PER"]), ValueError, ["tags[1]", "'E-PER'", "BIO"]),
    (lambda: bio_spans(["B-"]), ValueError, ["tags[0]", "'B-'"]),
    (lambda: bio_spans(["PER"]), ValueError, ["tags[0]", "'PER'"]),
    (lambda: bio_spans(["O", 3]), TypeError, ["tags[1]", "int"]),
    (lambda: bio_spans("B-PER"), TypeError, ["tags", "list"]),
    (lambda: bio_spans(["O"], mode="iobes"), ValueError, ["mode", "'iobes'", "strict"]),
    (lambda: span_scores([["O"]], [["O"]], mode="lenient"), ValueError, ["mode", "'lenient'"]),
    (lambda: span_scores([], []), ValueError, ["y_true", "empty"]),
    (lambda: span_scores([["O"]], [["O"], ["O"]]), ValueError, ["y_true", "y_pred", "1", "2"]),
    (lambda: span_scores([["O", "O"]], [["O"]]), ValueError, ["sentence 0", "2", "1"]),
    (lambda: span_scores([["O"], ["S-LOC"]], [["O"], ["O"]]), ValueError,
     ["y_true[1][0]", "'S-LOC'"]),
    (lambda: span_scores([["O"]], [["B_PER"]]), ValueError, ["y_pred[0][0]", "'B_PER'"]),
    (lambda: span_scores(["O", "O"], [["O"], ["O"]]), TypeError, ["y_true[0]", "str"]),
    (lambda: span_f1([["B-micro"]], [["O"]]), ValueError, ["micro", "rename"]),
])
def test_span_metrics_bad_input(call, error, words):
    with pytest.raises(error) as info:
        call()
    for word in words:
        assert word in str(info.value)
