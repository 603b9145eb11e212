"""Chapter 08e exercises, graded by nbgrader: the solutions score full marks, the release
scores zero and leaks nothing, and each realistic wrong solution below loses points on its
own exercise only (see ``exercise_harness.check_assignment``)."""

from exercise_harness import check_assignment

ASSIGNMENT = "08e_translation"

# Each fake student makes one common mistake per exercise; the code replaces the whole
# ``<ex>-solution`` cell.
MISTAKES = {
    "wrong_1": {
        # No clipping: every hypothesis n-gram found in some reference counts as a match.
        "precision": '''
def modified_precision(hypothesis, references, n):
    grams = [tuple(hypothesis[i:i + n]) for i in range(len(hypothesis) - n + 1)]
    seen = {tuple(r[i:i + n]) for r in references for i in range(len(r) - n + 1)}
    return sum(g in seen for g in grams), len(grams)
''',
        # Forgets length normalisation: ranks finished hypotheses by the summed log-prob.
        "beam": '''
def beam_search(step, max_len, num_beams, eos, alpha):
    alive, finished = [((), 0.0)], []
    for _ in range(max_len):
        candidates = []
        for prefix, total in alive:
            for token, logp in enumerate(step(prefix)):
                seq, s = prefix + (token,), total + float(logp)
                (finished if token == eos else candidates).append((seq, s))
        candidates.sort(key=lambda c: c[1], reverse=True)
        alive = candidates[:num_beams]
    seq, score = max(finished + alive, key=lambda f: f[1])
    return list(seq), float(score)
''',
    },
    "wrong_2": {
        # Clips by the counts of all references added together, not by the best single one.
        "precision": '''
def modified_precision(hypothesis, references, n):
    def grams(tokens):
        return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))
    hyp, pooled = grams(hypothesis), Counter()
    for ref in references:
        pooled += grams(ref)
    return sum(min(c, pooled[g]) for g, c in hyp.items()), sum(hyp.values())
''',
        # The end token does not end a hypothesis: every hypothesis runs to max_len, and the
        # best one is cut after its first eos.
        "beam": '''
def beam_search(step, max_len, num_beams, eos, alpha):
    alive = [((), 0.0)]
    for _ in range(max_len):
        candidates = [(prefix + (token,), total + float(logp))
                      for prefix, total in alive for token, logp in enumerate(step(prefix))]
        candidates.sort(key=lambda c: c[1] / len(c[0]) ** alpha, reverse=True)
        alive = candidates[:num_beams]
    seq, score = alive[0]
    seq = list(seq)
    if eos in seq:
        seq = seq[: seq.index(eos) + 1]
    return seq, float(score / len(alive[0][0]) ** alpha)
''',
    },
}


def test_exercises_08e():
    check_assignment(ASSIGNMENT, MISTAKES, min_exercises=2,
                     spec={"mutates_inputs": ["precision"], "tensor_for_float": ["beam"]})
