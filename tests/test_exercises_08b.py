"""Chapter 08b exercises, graded by nbgrader: the solutions score full marks, the release
scores zero and leaks nothing, and each realistic wrong solution below loses points on its
own exercise only (see ``exercise_harness.check_assignment``)."""

from exercise_harness import check_assignment

ASSIGNMENT = "08b_entities"

# Each fake student makes one common mistake per exercise; the code replaces the whole
# ``<ex>-solution`` cell.
MISTAKES = {
    "wrong_1": {
        # Never closes the entity that is still open when the tags run out: an entity at
        # the end of the sentence is lost.
        "bio_to_spans": '''
def bio_to_spans(tags):
    spans, typ, begin = [], None, 0
    for i, tag in enumerate(tags):
        prefix, _, name = tag.partition("-")
        continues = prefix == "I" and name == typ
        if typ is not None and not continues:
            spans.append((typ, begin, i))
            typ = None
        if prefix in ("B", "I") and not continues:
            typ, begin = name, i
    return spans
''',
        # Greedy: the best tag per token, then each invalid I-X patched into B-X. Always
        # valid, but not the best valid sequence.
        "viterbi": '''
def constrained_viterbi(log_probs, allowed, start):
    path = log_probs.argmax(dim=-1).tolist()
    for t, tag in enumerate(path):
        ok = start[tag] if t == 0 else allowed[path[t - 1], tag]
        if not ok:
            cands = start if t == 0 else allowed[path[t - 1]]
            path[t] = int(log_probs[t].masked_fill(~cands, float("-inf")).argmax())
    return path
''',
        # Pools the spans of all sentences into one set: a span then "matches" a gold span
        # of another sentence that happens to sit at the same position.
        "span_prf": '''
def span_prf(gold, pred):
    g = {s for sent in gold for s in sent}
    p = {s for sent in pred for s in sent}
    correct = len(g & p)
    precision = correct / len(p) if p else 0.0
    recall = correct / len(g) if g else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1
''',
    },
    "wrong_2": {
        # Only B- starts an entity; an I- that continues nothing is dropped, and an I- of
        # another type is glued onto the open entity.
        "bio_to_spans": '''
def bio_to_spans(tags):
    spans, typ, begin = [], None, 0
    for i, tag in enumerate(list(tags) + ["O"]):
        if tag.startswith("I-") and typ is not None:
            continue
        if typ is not None:
            spans.append((typ, begin, i))
            typ = None
        if tag.startswith("B-"):
            typ, begin = tag[2:], i
    return spans
''',
        # Forgets the start constraint: the sentence may open with an I- tag.
        "viterbi": '''
def constrained_viterbi(log_probs, allowed, start):
    T, K = log_probs.shape
    trans = torch.zeros(K, K).masked_fill(~allowed, float("-inf"))
    delta = log_probs[0].clone()
    back = []
    for t in range(1, T):
        best, arg = (delta[:, None] + trans).max(dim=0)
        delta = best + log_probs[t]
        back.append(arg)
    path = [int(delta.argmax())]
    for arg in reversed(back):
        path.append(int(arg[path[-1]]))
    return path[::-1]
''',
        # Averages per-sentence scores instead of pooling the counts (and gives a sentence
        # without gold or predictions a perfect score).
        "span_prf": '''
def span_prf(gold, pred):
    ps, rs = [], []
    for g, p in zip(gold, pred):
        correct = len(set(g) & set(p))
        ps.append(correct / len(p) if p else 1.0)
        rs.append(correct / len(g) if g else 1.0)
    precision, recall = sum(ps) / len(ps), sum(rs) / len(rs)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1
''',
    },
    # The "size one axis" class: right while an axis has a single entry.
    "size_one_axis": {
        # Takes the max over the next tag (dim=1) instead of the previous one: right for a
        # one-token sentence, where no step is taken.
        "viterbi": '''
def constrained_viterbi(log_probs, allowed, start):
    T, K = log_probs.shape
    trans = torch.zeros(K, K).masked_fill(~allowed, float("-inf"))
    delta = log_probs[0].masked_fill(~start, float("-inf"))
    back = []
    for t in range(1, T):
        best, arg = (delta[:, None] + trans).max(dim=1)
        delta = best + log_probs[t]
        back.append(arg)
    path = [int(delta.argmax())]
    for arg in reversed(back):
        path.append(int(arg[path[-1]]))
    return path[::-1]
''',
    },
    # The "counts at least one" class: right while no denominator is zero.
    "counts_at_least_one": {
        # No gold span means "nothing was missed": recall 1.0 instead of 0 for a zero
        # denominator.
        "span_prf": '''
def span_prf(gold, pred):
    correct = sum(len(set(g) & set(p)) for g, p in zip(gold, pred))
    n_pred = sum(len(set(p)) for p in pred)
    n_gold = sum(len(set(g)) for g in gold)
    precision = correct / n_pred if n_pred else 0.0
    recall = correct / n_gold if n_gold else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1
''',
    },
    # The "odd item last" class: right while the odd item sits at the end.
    "odd_item_last": {
        # Counts the tag that closes an entity into it (end one too far): only an entity that
        # runs to the end of the sentence comes out right.
        "bio_to_spans": '''
def bio_to_spans(tags):
    spans, typ, begin = [], None, 0
    for i, tag in enumerate(tags):
        prefix, _, name = tag.partition("-")
        continues = prefix == "I" and name == typ
        if typ is not None and not continues:
            spans.append((typ, begin, i + 1))
            typ = None
        if prefix in ("B", "I") and not continues:
            typ, begin = name, i
    if typ is not None:
        spans.append((typ, begin, len(tags)))
    return spans
''',
    },
    # The "excluded lowest" class: right while the forbidden paths score low anyway.
    "excluded_lowest": {
        # Forbids with log(mask + 1e-10), a finite penalty of -23: right until the model is
        # surer than that of a forbidden tag.
        "viterbi": '''
def constrained_viterbi(log_probs, allowed, start):
    T, K = log_probs.shape
    trans = torch.log(allowed.float() + 1e-10)
    delta = log_probs[0] + torch.log(start.float() + 1e-10)
    back = []
    for t in range(1, T):
        best, arg = (delta[:, None] + trans).max(dim=0)
        delta = best + log_probs[t]
        back.append(arg)
    path = [int(delta.argmax())]
    for arg in reversed(back):
        path.append(int(arg[path[-1]]))
    return path[::-1]
''',
    },
}


# Whole classes of wrong solution made from the reference (exercise_harness.SPEC_WRAPPERS).
SPEC = {"mutates_inputs": ["bio_to_spans", "viterbi", "span_prf"],
        "tensor_for_float": ["span_prf"]}


# Every exercise against every class of hiding input (exercise_harness.INPUT_CLASSES) and of
# spec mistake: the student who makes that mistake there, "spec", or why it cannot occur.
AUDIT = {
    "bio_to_spans": {
        "initial_values": "n/a: bio_to_spans has no parameters or state",
        "size_one_axis": "n/a: one flat list of tags in, spans out: no axis is reduced over "
                         "or permuted",
        "counts_at_least_one": "n/a: nothing is counted or divided",
        "odd_item_last": "odd_item_last",
        "excluded_lowest": "n/a: nothing is scored or excluded",
        "mutates_inputs": "spec",
        "tensor_for_float": "n/a: returns (str, int, int) tuples; no float is promised",
        "detached": "n/a: string processing, nothing is trained",
    },
    "viterbi": {
        "initial_values": "n/a: Viterbi has no parameters or state: emissions and masks "
                          "are inputs",
        "size_one_axis": "size_one_axis",
        "counts_at_least_one": "n/a: nothing is counted or divided",
        "odd_item_last": "n/a: no tag or token is special by place: the start mask is at "
                         "position 0 by definition, and every later step is the same",
        "excluded_lowest": "excluded_lowest",
        "mutates_inputs": "spec",
        "tensor_for_float": "n/a: returns a list of ints; no float is promised",
        "detached": "n/a: a decoder returning tag ids, not trained",
    },
    "span_prf": {
        "initial_values": "n/a: span_prf has no parameters or state",
        "size_one_axis": "wrong_1",  # pools all sentences' spans: right with one sentence
        "counts_at_least_one": "counts_at_least_one",
        "odd_item_last": "n/a: all sentences and spans are pooled alike; none is special by "
                         "place",
        "excluded_lowest": "n/a: nothing is scored or excluded",
        "mutates_inputs": "spec",
        "tensor_for_float": "spec",
        "detached": "n/a: a metric over span sets, not trained",
    },
}


def test_exercises_08b():
    check_assignment(ASSIGNMENT, MISTAKES, spec=SPEC, audit=AUDIT)
