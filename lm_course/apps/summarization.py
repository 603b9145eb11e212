"""Extractive summarisation: pick whole sentences of a paper so that they read like a human
summary, scored with ROUGE against that *reference* summary.

Every method here is a sentence scorer followed by the same selection: score each sentence,
keep the ``k`` best, print them in document order. Only the scorer changes:

- ``lead``: earlier is better (position alone, the classic news baseline);
- ``centroid``: closeness of the sentence's TF-IDF vector to the paper's mean vector;
- ``supervised``: a logistic regression trained on the sentences annotators highlighted;
- ``oracle``: the sentences that maximise ROUGE against the reference itself, found
  greedily — it cheats by reading the answer, so it is the ceiling (exact for one sentence;
  for more, greedy is the standard approximation of the best extract).

>>> sents = ["We study parsing .", "Parsing is hard .", "Our parser wins ."]
>>> lead_k(sents, 2)
[0, 1]
>>> join_extract(sents, [2, 0])          # always in document order
'We study parsing . Our parser wins .'
>>> greedy_oracle(sents, "the parser wins", max_sentences=1)
[2]
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lm_course.app_data import ACLSUM_ASPECTS, ACLSUM_SECTIONS
from lm_course.metrics import bootstrap_ci, rouge_pair
from lm_course.utils import check_choice, check_float, check_int

__all__ = [
    "paper_sentences", "paper_sections", "paper_labels", "lead_k", "top_k", "join_extract",
    "greedy_oracle", "TfidfCentroid", "SentenceScorer", "ScorerConfig", "extract_papers",
    "rouge_with_ci", "METHODS",
]

OBJECTIVE_TYPES = ("rouge1", "rouge2")  # the oracle maximises the mean of these F1s

# ----------------------------------------------------------------------------- data


def _check_paper(paper) -> dict:
    if not isinstance(paper, dict) or "sentences" not in paper:
        raise TypeError(f"paper must be a dict from load_aclsum() with a 'sentences' key, got "
                        f"{type(paper).__name__}")
    return paper


def paper_sentences(paper: dict) -> list[str]:
    """All sentences of a paper in reading order: abstract, introduction, conclusion."""
    _check_paper(paper)
    return [s for sec in ACLSUM_SECTIONS for s in paper["sentences"][sec]]


def paper_sections(paper: dict) -> list[str]:
    """The section of each sentence of ``paper_sentences(paper)``."""
    _check_paper(paper)
    return [sec for sec in ACLSUM_SECTIONS for _ in paper["sentences"][sec]]


def paper_labels(paper: dict, aspect: str) -> list[int]:
    """The 0/1 highlight label of each sentence for ``aspect`` (challenge/approach/outcome)."""
    _check_paper(paper)
    check_choice("aspect", aspect, ACLSUM_ASPECTS)
    return [v for sec in ACLSUM_SECTIONS for v in paper["highlights"][aspect][sec]]


def _check_sentences(sentences) -> list[str]:
    if isinstance(sentences, str) or not isinstance(sentences, Sequence):
        raise TypeError(f"sentences must be a list of strings, got {type(sentences).__name__}")
    if len(sentences) == 0:
        raise ValueError("sentences must hold at least one sentence, got an empty list")
    for i, s in enumerate(sentences):
        if not isinstance(s, str):
            raise TypeError(f"sentences[{i}] must be a string, got {type(s).__name__}")
    return list(sentences)


# ----------------------------------------------------------------------------- selection


def lead_k(sentences: Sequence[str], k: int) -> list[int]:
    """Indices of the first ``k`` sentences (all of them if there are fewer).

    >>> lead_k(["a .", "b ."], 5)
    [0, 1]
    """
    sentences = _check_sentences(sentences)
    check_int("k", k, min_value=1)
    return list(range(min(k, len(sentences))))


def top_k(scores: Sequence[float], k: int) -> list[int]:
    """Indices of the ``k`` highest scores, best first; a tie goes to the earlier sentence.

    >>> top_k([0.2, 0.9, 0.9, 0.1], 2)
    [1, 2]
    """
    scores = np.asarray(scores, dtype=float)
    if scores.ndim != 1 or scores.size == 0:
        raise ValueError(f"scores must be a non-empty 1-D sequence, got shape {scores.shape}")
    if not np.isfinite(scores).all():
        raise ValueError("scores must be finite numbers, got NaN or inf")
    check_int("k", k, min_value=1)
    order = np.lexsort((np.arange(scores.size), -scores))  # by score desc, then position
    return [int(i) for i in order[:k]]


def join_extract(sentences: Sequence[str], picks: Sequence[int]) -> str:
    """The picked sentences joined in document order (an extract reads top to bottom)."""
    sentences = _check_sentences(sentences)
    picks = list(picks)
    for p in picks:
        check_int("picks[i]", p, min_value=0, max_value=len(sentences) - 1)
    if len(set(picks)) != len(picks):
        raise ValueError(f"picks must not repeat a sentence, got {picks}")
    return " ".join(sentences[i] for i in sorted(picks))


def _objective(text: str, reference: str, use_stemmer: bool) -> float:
    s = rouge_pair(text, reference, types=OBJECTIVE_TYPES, use_stemmer=use_stemmer)
    return sum(s[t].f1 for t in OBJECTIVE_TYPES) / len(OBJECTIVE_TYPES)


def greedy_oracle(sentences: Sequence[str], reference: str, *, max_sentences: int,
                  use_stemmer: bool = True) -> list[int]:
    """The extract that best matches ``reference``, built greedily (the standard oracle).

    Adds, one at a time, the sentence that most raises the mean of ROUGE-1 and ROUGE-2 F1
    of the extract against the reference; stops at ``max_sentences`` or when no sentence
    helps (F1 punishes extra words, so a longer extract can score lower). With
    ``max_sentences=1`` it is exact: the best single sentence. Indices come in pick order.
    """
    sentences = _check_sentences(sentences)
    if not isinstance(reference, str):
        raise TypeError(f"reference must be a string, got {type(reference).__name__}")
    check_int("max_sentences", max_sentences, min_value=1)
    picked: list[int] = []
    best = 0.0
    while len(picked) < min(max_sentences, len(sentences)):
        gains = [(_objective(join_extract(sentences, picked + [i]), reference, use_stemmer), -i)
                 for i in range(len(sentences)) if i not in picked]
        score, neg_i = max(gains)  # ties: the earlier sentence
        if score <= best:
            break
        picked.append(-neg_i)
        best = score
    return picked


# ----------------------------------------------------------------------------- scorers


class TfidfCentroid:
    """Cosine similarity of each sentence's TF-IDF vector to the mean vector of its paper.

    The IDF weights are fitted once on training sentences, so words that occur in every paper
    ("we", "paper") count for little; the centroid is then the paper's main topic.
    """

    def __init__(self, train_sentences: Sequence[str]):
        from sklearn.feature_extraction.text import TfidfVectorizer

        train_sentences = _check_sentences(train_sentences)
        self.vectorizer = TfidfVectorizer(lowercase=True, sublinear_tf=True,
                                          stop_words="english").fit(train_sentences)

    def scores(self, sentences: Sequence[str]) -> np.ndarray:
        """(N,) similarities in [0, 1]; a sentence with no known word scores 0."""
        sentences = _check_sentences(sentences)
        X = self.vectorizer.transform(sentences)  # (N, V) sparse, rows L2-normalised
        centroid = np.asarray(X.mean(axis=0)).ravel()  # (V,)
        norm = np.linalg.norm(centroid)
        if norm == 0:
            return np.zeros(len(sentences))
        return np.asarray(X @ (centroid / norm)).ravel()  # (N,)


@dataclass(frozen=True)
class ScorerConfig:
    C: float = 1.0                 # inverse L2 strength of the logistic regression
    balanced: bool = True          # reweight classes: only about 1 sentence in 8 is highlighted
    use_words: bool = True         # add the sentence's TF-IDF word features to the layout ones
    max_iter: int = 2000           # solver iterations (lbfgs converges well before)


class SentenceScorer:
    """Logistic regression on sentence features, trained on one aspect's highlight labels.

    Features: the section (one-hot), relative position in the section, first / last in the
    section, log length, centroid similarity, and (``use_words``) the sentence's TF-IDF words,
    which let the model learn cue phrases ("we propose" -> approach, "outperforms" ->
    outcome). Why not an LSTM from chapter 03: 100 papers give ~3,800 labelled sentences, too
    few to learn word meaning from scratch, and this trains in well under a second.
    """

    def __init__(self, centroid: TfidfCentroid, config: ScorerConfig = ScorerConfig()):
        if not isinstance(centroid, TfidfCentroid):
            raise TypeError(f"centroid must be a TfidfCentroid, got {type(centroid).__name__}")
        if not isinstance(config, ScorerConfig):
            raise TypeError(f"config must be a ScorerConfig, got {type(config).__name__}")
        check_float("config.C", config.C, low=0.0, low_inclusive=False)
        check_int("config.max_iter", config.max_iter, min_value=1)
        self.centroid, self.config = centroid, config
        self.model = None
        self.train_seconds = 0.0

    def features(self, paper: dict):
        """(N, F) sparse feature matrix of one paper's sentences."""
        from scipy import sparse

        sents = paper_sentences(paper)
        rows = []
        for sec in ACLSUM_SECTIONS:
            n = len(paper["sentences"][sec])
            for j in range(n):
                rows.append([sec == s for s in ACLSUM_SECTIONS]
                            + [j / max(n - 1, 1), j == 0, j == n - 1])
        layout = np.array(rows, dtype=float).reshape(len(sents), -1)  # (N, 6)
        length = np.log1p([len(s.split()) for s in sents])[:, None]  # (N, 1)
        sim = self.centroid.scores(sents)[:, None]  # (N, 1)
        dense = sparse.csr_matrix(np.hstack([layout, length, sim]))  # (N, 8)
        if not self.config.use_words:
            return dense
        return sparse.hstack([dense, self.centroid.vectorizer.transform(sents)]).tocsr()

    def fit(self, papers: Sequence[dict], aspect: str) -> SentenceScorer:
        """Train on every sentence of ``papers`` with its ``aspect`` highlight label."""
        from scipy import sparse
        from sklearn.linear_model import LogisticRegression

        check_choice("aspect", aspect, ACLSUM_ASPECTS)
        if isinstance(papers, dict) or len(papers) == 0:
            raise ValueError("papers must be a non-empty list of papers from load_aclsum()")
        start = time.perf_counter()
        X = sparse.vstack([self.features(p) for p in papers]).tocsr()  # (sum N, F)
        y = np.concatenate([paper_labels(p, aspect) for p in papers])  # (sum N,)
        if len(set(y.tolist())) < 2:
            raise ValueError(f"the {aspect} labels of these papers are all {y[0]}: need both")
        self.model = LogisticRegression(
            C=self.config.C, max_iter=self.config.max_iter,
            class_weight="balanced" if self.config.balanced else None).fit(X, y)
        self.aspect = aspect
        self.train_seconds = time.perf_counter() - start
        return self

    def scores(self, paper: dict) -> np.ndarray:
        """(N,) probability that each sentence is highlighted for the trained aspect."""
        if self.model is None:
            raise RuntimeError("call fit(papers, aspect) before scores()")
        return self.model.predict_proba(self.features(_check_paper(paper)))[:, 1]


# ----------------------------------------------------------------------------- evaluation

METHODS = ("lead", "centroid", "supervised", "oracle")


def extract_papers(papers: Sequence[dict], aspect: str, method: str, k: int, *,
                   centroid: TfidfCentroid | None = None,
                   scorer: SentenceScorer | None = None) -> list[list[int]]:
    """The picked sentence indices of each paper for one aspect and method (see the module)."""
    check_choice("aspect", aspect, ACLSUM_ASPECTS)
    check_choice("method", method, METHODS)
    check_int("k", k, min_value=1)
    if method == "centroid" and centroid is None:
        raise ValueError("method='centroid' needs centroid=TfidfCentroid(train sentences)")
    if method == "supervised" and (scorer is None or getattr(scorer, "aspect", None) != aspect):
        raise ValueError(f"method='supervised' needs scorer=SentenceScorer(...).fit(papers, "
                         f"{aspect!r})")
    out = []
    for p in papers:
        sents = paper_sentences(p)
        if method == "lead":
            out.append(lead_k(sents, k))
        elif method == "centroid":
            out.append(top_k(centroid.scores(sents), k))
        elif method == "supervised":
            out.append(top_k(scorer.scores(p), k))
        else:
            out.append(greedy_oracle(sents, p["summaries"][aspect], max_sentences=k))
    return out


def rouge_with_ci(hypotheses: Sequence[str], references: Sequence[str], *,
                  types: Sequence[str] = ("rouge1", "rouge2", "rougeL"), n_resamples: int = 1000,
                  seed: int = 0, use_stemmer: bool = True) -> dict[str, tuple[float, float, float]]:
    """Per ROUGE type, ``(F1, low, high)``: the corpus F1 (= ``rouge(...)[type].f1``) and its
    95% percentile-bootstrap interval over papers (``lm_course.metrics.bootstrap_ci``).

    Corpus ROUGE is the plain mean of the per-pair scores, so each pair is scored once and
    the bootstrap resamples those F1s: the same numbers as rescoring every resample, faster.
    """
    hyps, refs = list(hypotheses), list(references)
    if len(hyps) != len(refs) or not hyps:
        raise ValueError(f"hypotheses and references must be non-empty and of equal length, "
                         f"got {len(hyps)} and {len(refs)}")
    pairs = [rouge_pair(h, r, types=types, use_stemmer=use_stemmer)
             for h, r in zip(hyps, refs, strict=True)]
    out = {}
    for t in types:
        f1s = [p[t].f1 for p in pairs]  # (N,) one score per paper
        out[t] = bootstrap_ci(_mean_of_first, f1s, f1s, n_resamples=n_resamples, seed=seed)
    return out


def _mean_of_first(scores: Sequence[float], _same: Sequence[float]) -> float:
    return float(np.mean(scores))
