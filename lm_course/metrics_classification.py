"""Classification metrics written out: accuracy, precision / recall / F1, and entity-level F1.

Every score here is built from three counts per class: true positives ``tp`` (predicted the
class and right), the number of predictions of the class ``n_pred`` and the number of true
items of the class ``n_true`` (its *support*)::

    precision = tp / n_pred      recall = tp / n_true      F1 = 2 tp / (n_pred + n_true)

(F1, the harmonic mean of precision and recall, simplifies to the last form.) A ratio whose
denominator is zero is defined as 0, like scikit-learn's and seqeval's ``zero_division=0``.

For named-entity recognition the unit is not a token but an *entity*: a typed span read off a
BIO tag sequence (``B-PER I-PER O B-LOC`` holds a 2-token PER and a 1-token LOC). A predicted
entity counts only if its type, start and end all match a true one. The tests check every
function here against scikit-learn and seqeval on hundreds of random cases.

>>> accuracy([1, 0, 1, 1], [1, 1, 1, 0])
0.5
>>> bio_spans(["B-PER", "I-PER", "O", "B-LOC"])
[('PER', 0, 2), ('LOC', 3, 4)]
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence
from functools import lru_cache
from typing import Any, NamedTuple

from lm_course.utils import check_choice

__all__ = ["PRF", "accuracy", "precision_recall_f1", "bio_spans", "span_scores", "span_f1"]


class PRF(NamedTuple):
    """Precision, recall and F1 of one class (or an average over classes), with its support.

    ``support`` is the number of true items counted: examples of the class, or gold entities
    of the type; for an average, the total over the classes averaged. (scikit-learn returns
    ``None`` as the support of an average; seqeval returns this total.)
    """

    precision: float
    recall: float
    f1: float
    support: int


def _prf(tp: int, n_pred: int, n_true: int) -> PRF:
    """The three ratios from the three counts; 0 wherever a denominator is 0."""
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_true if n_true else 0.0
    f1 = 2 * tp / (n_pred + n_true) if n_pred + n_true else 0.0
    return PRF(precision, recall, f1, n_true)


def _mean_prf(scores: list[PRF], weights: list[int] | None = None) -> PRF:
    """Average the ratios of several classes (macro, or weighted by support)."""
    support = sum(s.support for s in scores)
    if not scores:
        return PRF(math.nan, math.nan, math.nan, 0)  # nothing to average over
    if weights is None or sum(weights) == 0:  # all-zero weights: fall back to a plain mean
        weights = [1] * len(scores)
    total = sum(weights)
    pairs = list(zip(weights, scores, strict=True))
    p, r, f = (sum(w * s[k] for w, s in pairs) / total for k in range(3))
    return PRF(p, r, f, support)


# ----------------------------------------------------------------------------- class labels


def _as_list(name: str, values: Any, what: str = "(list, tuple, array) of labels") -> list:
    """A list from a list, tuple, NumPy array or tensor; a clear error for anything else."""
    if hasattr(values, "tolist") and not isinstance(values, (str, bytes)):
        values = values.tolist()  # NumPy arrays and torch tensors
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f"{name} must be a sequence {what}, got {type(values).__name__}")
    return list(values)


def _check_labels(y_true: Any, y_pred: Any) -> tuple[list, list]:
    """Both label sequences as lists: same non-zero length, ints/strings of one kind."""
    t, p = _as_list("y_true", y_true), _as_list("y_pred", y_pred)
    if not t:
        raise ValueError("y_true is empty: there is nothing to score")
    if len(t) != len(p):
        raise ValueError(f"y_true and y_pred must have the same length, got {len(t)} and "
                         f"{len(p)}")
    kinds = set()
    for name, seq in (("y_true", t), ("y_pred", p)):
        for i, label in enumerate(seq):
            if not isinstance(label, (int, str)):  # bool is an int
                raise TypeError(f"{name}[{i}] must be a class label (an int or a string), got "
                                f"{type(label).__name__} {label!r}")
            kinds.add(str if isinstance(label, str) else int)
    if len(kinds) > 1:
        raise TypeError("y_true and y_pred mix string and integer labels; use one kind")
    return t, p


def accuracy(y_true: Sequence, y_pred: Sequence) -> float:
    """The fraction of items whose predicted label equals the true one.

    >>> accuracy(["pos", "neg", "neg"], ["pos", "pos", "neg"])  # doctest: +ELLIPSIS
    0.666...
    """
    t, p = _check_labels(y_true, y_pred)
    return sum(a == b for a, b in zip(t, p, strict=True)) / len(t)


def precision_recall_f1(y_true: Sequence, y_pred: Sequence, *, average: str | None = "binary",
                        pos_label: Hashable = 1,
                        labels: Sequence | None = None) -> PRF | dict[Any, PRF]:
    """Precision, recall, F1 and support, equal to scikit-learn's
    ``precision_recall_fscore_support(..., zero_division=0)``.

    - ``average="binary"``: the scores of the class ``pos_label`` (at most two classes).
    - ``average=None``: a dict ``{label: PRF}`` for every label.
    - ``"macro"``: the unweighted mean over labels, so a rare class counts as much as a
      common one; ``"weighted"``: the mean weighted by support.
    - ``"micro"``: pool the counts of all labels first; over all labels of a single-label
      task every error is one false positive and one false negative, so it equals accuracy.

    ``labels`` picks which classes (and in which order) are scored; by default every label
    seen in ``y_true`` or ``y_pred``, sorted. A label with no predictions has precision 0,
    one with no true items recall 0 (scikit-learn's ``zero_division=0``).

    >>> precision_recall_f1([1, 1, 0, 0], [1, 0, 1, 0])
    PRF(precision=0.5, recall=0.5, f1=0.5, support=2)
    >>> precision_recall_f1(["a", "b", "b"], ["a", "a", "b"], average=None)["a"]
    PRF(precision=0.5, recall=1.0, f1=0.6666666666666666, support=1)
    """
    t, p = _check_labels(y_true, y_pred)
    check_choice("average", average, ["binary", "macro", "micro", "weighted", None])
    present = sorted(set(t) | set(p))
    if average != "binary" and pos_label not in (None, 1):
        raise ValueError(f"pos_label={pos_label!r} is only used with average='binary'; to "
                         f"score one class with average={average!r} pass labels=[{pos_label!r}]")
    if average == "binary":
        if labels is not None:
            raise ValueError("labels is not used with average='binary' (the scored class is "
                             "pos_label); pass average='macro', 'micro', 'weighted' or None")
        if len(present) > 2:
            raise ValueError(f"average='binary' needs at most two classes, got {len(present)}: "
                             f"{present}; use average='macro', 'micro', 'weighted' or None")
        if pos_label not in present and len(present) == 2:
            raise ValueError(f"pos_label={pos_label!r} is not one of the labels {present}")
        labels = [pos_label]
    elif labels is None:
        labels = present
    else:
        labels = _as_list("labels", labels)
        if not labels or len(set(labels)) != len(labels):
            raise ValueError(f"labels must be a non-empty list of distinct labels, got {labels}")

    # the three counts per label
    n_true, n_pred = Counter(t), Counter(p)
    tp = Counter(a for a, b in zip(t, p, strict=True) if a == b)
    if average == "micro":
        return _prf(sum(tp[c] for c in labels), sum(n_pred[c] for c in labels),
                    sum(n_true[c] for c in labels))
    per_class = {c: _prf(tp[c], n_pred[c], n_true[c]) for c in labels}
    if average is None:
        return per_class
    if average == "binary":
        return per_class[pos_label]
    scores = list(per_class.values())
    return _mean_prf(scores, [s.support for s in scores] if average == "weighted" else None)


# ----------------------------------------------------------------------------- entity spans

_SCORE_KEYS = ("micro", "macro", "weighted")


@lru_cache(maxsize=1024)
def _parse_tag(tag: str) -> tuple[str, str] | None:
    """``"B-PER"`` -> ``("B", "PER")``, ``"O"`` -> ``("O", "")``; ``None`` if not a BIO tag."""
    if tag == "O":
        return "O", ""
    prefix, dash, kind = tag.partition("-")
    return (prefix, kind) if prefix in ("B", "I") and dash and kind else None


def _bad_tag(tag: Any, where: str) -> Exception:
    if not isinstance(tag, str):
        return TypeError(f"{where} must be a tag string, got {type(tag).__name__} {tag!r}")
    return ValueError(f"{where}={tag!r} is not a BIO tag: expected 'O', 'B-<type>' or "
                      "'I-<type>' (other schemes such as IOBES are not supported)")


def _spans(tags: Sequence[str], mode: str, where: str) -> list[tuple[str, int, int]]:
    spans: list[tuple[str, int, int]] = []
    start, kind = None, ""  # the entity being read, if any
    for i, tag in enumerate(tags):
        parsed = _parse_tag(tag) if isinstance(tag, str) else None
        if parsed is None:
            raise _bad_tag(tag, f"{where}[{i}]")
        prefix, tag_kind = parsed
        continues = prefix == "I" and start is not None and tag_kind == kind
        if start is not None and not continues:  # O, B-, or an I- of another type ends it
            spans.append((kind, start, i))
            start = None
        # B- always starts an entity; an I- that continues nothing starts one only in the
        # lenient (conlleval) reading, and is ignored in strict IOB2
        if prefix == "B" or (prefix == "I" and not continues and mode == "default"):
            start, kind = i, tag_kind
    if start is not None:
        spans.append((kind, start, len(tags)))
    return spans


@lru_cache(maxsize=2**16)  # a bootstrap rescores the same sentences many times
def _cached_spans(tags: tuple, mode: str) -> tuple[tuple[str, int, int], ...]:
    return tuple(_spans(tags, mode, "tags"))


def _sentence_spans(tags: Sequence[str], mode: str, where: str) -> tuple:
    try:
        return _cached_spans(tuple(tags), mode)
    except (TypeError, ValueError):
        _spans(tags, mode, where)  # raise the error again, naming the sentence
        raise


def bio_spans(tags: Sequence[str], *, mode: str = "default") -> list[tuple[str, int, int]]:
    """The entities in one BIO-tagged sentence as ``(type, start, end)``, ``end`` exclusive.

    An entity starts at ``B-X`` and runs over the ``I-X`` tags that follow. The modes differ
    on an ``I-X`` that continues nothing (after ``O``, or after another type):

    - ``"default"`` reads it as the start of an entity, like conlleval and seqeval's default;
    - ``"strict"`` ignores it, like seqeval's ``mode="strict", scheme=IOB2``.

    >>> bio_spans(["O", "I-PER", "I-PER", "B-PER", "I-LOC"])
    [('PER', 1, 3), ('PER', 3, 4), ('LOC', 4, 5)]
    >>> bio_spans(["O", "I-PER", "I-PER", "B-PER", "I-LOC"], mode="strict")
    [('PER', 3, 4)]
    """
    check_choice("mode", mode, ["default", "strict"])
    return _spans(_check_sentence("tags", tags), mode, "tags")


def _check_sentence(where: str, tags: Any) -> list:
    if isinstance(tags, (str, bytes)) or not isinstance(tags, Sequence):
        raise TypeError(f"{where} must be a list of tag strings, got {type(tags).__name__}")
    return list(tags)


def span_scores(y_true: Sequence[Sequence[str]], y_pred: Sequence[Sequence[str]], *,
                mode: str = "default") -> dict[str, PRF]:
    """Entity-level precision, recall and F1 per entity type, plus ``"micro"``, ``"macro"``
    and ``"weighted"`` averages; equal to seqeval's ``classification_report`` (its
    ``mode="strict", scheme=IOB2`` for ``mode="strict"``).

    ``y_true`` and ``y_pred`` are lists of sentences, each a list of BIO tags; entities never
    cross sentences. Types are the sorted types seen on either side. With no entity on either
    side, micro and weighted scores are 0 and macro ones ``nan`` (no type to average), as in
    seqeval.

    >>> gold = [["B-PER", "I-PER", "O"], ["B-LOC", "O", "B-ORG"]]
    >>> pred = [["B-PER", "O", "O"], ["B-LOC", "O", "B-ORG"]]
    >>> s = span_scores(gold, pred)
    >>> s["PER"], round(s["micro"].f1, 4)
    (PRF(precision=0.0, recall=0.0, f1=0.0, support=1), 0.6667)
    """
    check_choice("mode", mode, ["default", "strict"])
    true_sents = _check_sentence("y_true", y_true)
    pred_sents = _check_sentence("y_pred", y_pred)
    if not true_sents:
        raise ValueError("y_true is empty: there is nothing to score")
    if len(true_sents) != len(pred_sents):
        raise ValueError(f"y_true and y_pred must hold the same number of sentences, got "
                         f"{len(true_sents)} and {len(pred_sents)}")
    gold: set[tuple[int, str, int, int]] = set()
    found: set[tuple[int, str, int, int]] = set()
    for s, (t, p) in enumerate(zip(true_sents, pred_sents, strict=True)):
        t, p = _check_sentence(f"y_true[{s}]", t), _check_sentence(f"y_pred[{s}]", p)
        if len(t) != len(p):
            raise ValueError(f"sentence {s} has {len(t)} tags in y_true but {len(p)} in y_pred")
        gold.update((s, *span) for span in _sentence_spans(t, mode, f"y_true[{s}]"))
        found.update((s, *span) for span in _sentence_spans(p, mode, f"y_pred[{s}]"))

    types = sorted({e[1] for e in gold | found})
    clash = set(types) & set(_SCORE_KEYS)
    if clash:
        raise ValueError(f"entity type(s) {sorted(clash)} clash with the average keys "
                         f"{list(_SCORE_KEYS)}; rename them")
    # an entity is found only if sentence, type, start and end all match
    n_true, n_pred, n_hit = (Counter(e[1] for e in group) for group in (gold, found,
                                                                        gold & found))
    scores = {kind: _prf(n_hit[kind], n_pred[kind], n_true[kind]) for kind in types}
    per_type = list(scores.values())
    scores["micro"] = _prf(len(gold & found), len(found), len(gold))
    scores["macro"] = _mean_prf(per_type)
    scores["weighted"] = (_mean_prf(per_type, [s.support for s in per_type]) if per_type
                          else PRF(0.0, 0.0, 0.0, 0))  # seqeval's value when there is no type
    return scores


def span_f1(y_true: Sequence[Sequence[str]], y_pred: Sequence[Sequence[str]], *,
            mode: str = "default") -> float:
    """Micro-averaged entity F1 (the number NER papers report), = ``seqeval.metrics.f1_score``.

    >>> span_f1([["B-PER", "I-PER", "O"]], [["B-PER", "I-PER", "O"]])
    1.0
    """
    return span_scores(y_true, y_pred, mode=mode)["micro"].f1
