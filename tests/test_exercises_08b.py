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
    },
}


def test_exercises_08b():
    check_assignment(ASSIGNMENT, MISTAKES)
