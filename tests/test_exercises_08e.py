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
    # The "size one axis" class: right while an axis has a single entry.
    "size_one_axis": {
        # Keeps the num_beams best continuations of each hypothesis, not the num_beams best
        # of all together: right with one beam (and with a beam wider than everything).
        "beam": '''
def beam_search(step, max_len, num_beams, eos, alpha):
    alive, finished = [((), 0.0)], []
    for _ in range(max_len):
        new_alive = []
        for prefix, total in alive:
            candidates = []
            for token, logp in enumerate(step(prefix)):
                seq, s = prefix + (token,), total + float(logp)
                if token == eos:
                    finished.append((seq, s / len(seq) ** alpha))
                else:
                    candidates.append((seq, s))
            candidates.sort(key=lambda c: c[1], reverse=True)
            new_alive += candidates[:num_beams]
        alive = new_alive
        if not alive:
            break
    finished += [(seq, s / len(seq) ** alpha) for seq, s in alive]
    seq, score = max(finished, key=lambda f: f[1])
    return list(seq), float(score)
''',
    },
    # The "odd item last" class: right while the odd item sits at the end.
    "odd_item_last": {
        # Off by one: range(len - n) misses the last n-gram of every token list.
        "precision": '''
def modified_precision(hypothesis, references, n):
    def grams(tokens):
        return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n))
    hyp = grams(hypothesis)
    most = Counter()
    for ref in references:
        for gram, count in grams(ref).items():
            most[gram] = max(most[gram], count)
    return sum(min(c, most[g]) for g, c in hyp.items()), sum(hyp.values())
''',
        # Takes the last token id as the end token, whatever eos says: right while eos is
        # the last id of the vocabulary.
        "beam": '''
def beam_search(step, max_len, num_beams, eos, alpha):
    alive, finished = [((), 0.0)], []
    for _ in range(max_len):
        candidates = []
        for prefix, total in alive:
            logps = step(prefix)
            for token, logp in enumerate(logps):
                seq, s = prefix + (token,), total + float(logp)
                if token == len(logps) - 1:
                    finished.append((seq, s / len(seq) ** alpha))
                else:
                    candidates.append((seq, s))
        candidates.sort(key=lambda c: c[1], reverse=True)
        alive = candidates[:num_beams]
        if not alive:
            break
    finished += [(seq, s / len(seq) ** alpha) for seq, s in alive]
    seq, score = max(finished, key=lambda f: f[1])
    return list(seq), float(score)
''',
    },
}

# Whole classes of wrong solution made from the reference (exercise_harness.SPEC_WRAPPERS).
SPEC = {"mutates_inputs": ["precision"], "tensor_for_float": ["beam"]}


# Every exercise against every class of hiding input (exercise_harness.INPUT_CLASSES) and of
# spec mistake: the student who makes that mistake there, "spec", or why it cannot occur.
AUDIT = {
    "precision": {
        "initial_values": "n/a: modified_precision has no parameters or state",
        "size_one_axis": "wrong_2",  # clips by the sum over references: right with one
        "counts_at_least_one": "wrong_1",  # no clipping: right while no n-gram repeats
        "odd_item_last": "odd_item_last",
        "excluded_lowest": "n/a: nothing is scored or excluded",
        "mutates_inputs": "spec",
        "tensor_for_float": "n/a: returns a pair of ints (counts); no float is promised",
        "detached": "n/a: counts n-grams, nothing is trained",
    },
    "beam": {
        "initial_values": "n/a: beam_search has no parameters; the model is the step "
                          "function the tests give",
        "size_one_axis": "size_one_axis",
        "counts_at_least_one": "n/a: nothing is counted or divided by a count (|y| >= 1)",
        "odd_item_last": "odd_item_last",
        "excluded_lowest": "n/a: finished hypotheses leave the beam by rule, not by a score "
                           "or a penalty",
        "mutates_inputs": "n/a: its inputs are a function and numbers; nothing to change "
                          "in place",
        "tensor_for_float": "spec",
        "detached": "n/a: a search over a given model, nothing is trained",
    },
}


def test_exercises_08e():
    check_assignment(ASSIGNMENT, MISTAKES, min_exercises=2, spec=SPEC, audit=AUDIT)
