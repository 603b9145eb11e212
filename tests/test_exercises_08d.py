"""Chapter 08d exercises, graded by nbgrader: the solutions score full marks, the release
scores zero and leaks nothing, and each realistic wrong solution below loses points on its
own exercise only (see ``exercise_harness.check_assignment``)."""

from exercise_harness import check_assignment

ASSIGNMENT = "08d_summarization"

# Each fake student makes one common mistake per exercise; the code replaces the whole
# ``<ex>-solution`` cell.
MISTAKES = {
    "wrong_1": {
        # Longest common *substring* (contiguous run) instead of subsequence.
        "lcs": '''
def lcs_length(a, b):
    best = 0
    prev = [0] * (len(b) + 1)
    for x in a:
        row = [0]
        for j, y in enumerate(b, start=1):
            row.append(prev[j - 1] + 1 if x == y else 0)
        best = max(best, max(row))
        prev = row
    return best
''',
        # Cuts the text at exactly max_words words, in the middle of a sentence.
        "lead": '''
def lead_words(sentences, max_words):
    words = " ".join(sentences).split()[:max_words]
    return [" ".join(words)]
''',
        # Takes the k best sentences scored one by one: blind to redundancy, never stops.
        "oracle": '''
def greedy_oracle(sentences, reference, k):
    ref = tokens(reference)
    scores = [rouge1_f1(tokens(s), ref) for s in sentences]
    order = sorted(range(len(sentences)), key=lambda i: (-scores[i], i))
    return [i for i in order[:k] if scores[i] > 0]
''',
    },
    "wrong_2": {
        # Counts shared tokens regardless of order (a bag-of-words overlap, like ROUGE-1).
        "lcs": '''
def lcs_length(a, b):
    return sum((Counter(a) & Counter(b)).values())
''',
        # Off by one: keeps the sentence that crosses the budget.
        "lead": '''
def lead_words(sentences, max_words):
    out, used = [], 0
    for s in sentences:
        out.append(s)
        used += len(s.split())
        if used >= max_words:
            break
    return out
''',
        # Greedy, but always adds k sentences even when the score falls.
        "oracle": '''
def greedy_oracle(sentences, reference, k):
    ref = tokens(reference)
    picked = []
    while len(picked) < min(k, len(sentences)):
        cand = []
        for i in range(len(sentences)):
            if i not in picked:
                hyp = [t for j in sorted(picked + [i]) for t in tokens(sentences[j])]
                cand.append((rouge1_f1(hyp, ref), -i))
        picked.append(-max(cand)[1])
    return picked
''',
    },
    # The "initial values" class: right while a running state still has its initial value.
    "initial_values": {
        # Never updates the best score after a pick: every addition is compared with the
        # empty extract's 0, which is right for the first pick only.
        "oracle": '''
def greedy_oracle(sentences, reference, k):
    ref = tokens(reference)
    picked, best = [], 0.0
    while len(picked) < min(k, len(sentences)):
        cand = []
        for i in range(len(sentences)):
            if i in picked:
                continue
            hyp = [t for j in sorted(picked + [i]) for t in tokens(sentences[j])]
            cand.append((rouge1_f1(hyp, ref), -i))
        score, neg_i = max(cand)
        if score <= best:
            break
        picked.append(-neg_i)
    return picked
''',
    },
    # The "size one axis" class: right while an axis has a single entry.
    "size_one_axis": {
        # Takes L[i][j-1] from the previous row too (prev[j - 1] for row[j - 1]): right while
        # b has one token, where L[i][0] = 0 either way.
        "lcs": '''
def lcs_length(a, b):
    prev = [0] * (len(b) + 1)
    for x in a:
        row = [0]
        for j, y in enumerate(b, start=1):
            row.append(prev[j - 1] + 1 if x == y else max(prev[j], prev[j - 1]))
        prev = row
    return prev[-1]
''',
    },
    # The "counts at least one" class: right while no token (or overlap) count is special.
    "counts_at_least_one": {
        # On a match, adds one to the best neighbour instead of to L[i-1][j-1]: a token is
        # then matched twice, which only a repeated token shows.
        "lcs": '''
def lcs_length(a, b):
    prev = [0] * (len(b) + 1)
    for x in a:
        row = [0]
        for j, y in enumerate(b, start=1):
            row.append(max(prev[j], row[j - 1]) + 1 if x == y else max(prev[j], row[j - 1]))
        prev = row
    return prev[-1]
''',
        # Starts from a best score of -1: always picks a first sentence, even one that shares
        # no word with the reference (right while some sentence overlaps).
        "oracle": '''
def greedy_oracle(sentences, reference, k):
    ref = tokens(reference)
    picked, best = [], -1.0
    while len(picked) < min(k, len(sentences)):
        cand = []
        for i in range(len(sentences)):
            if i in picked:
                continue
            hyp = [t for j in sorted(picked + [i]) for t in tokens(sentences[j])]
            cand.append((rouge1_f1(hyp, ref), -i))
        score, neg_i = max(cand)
        if score <= best:
            break
        picked.append(-neg_i)
        best = score
    return picked
''',
    },
    # The "odd item last" class: right while the odd item sits at the end.
    "odd_item_last": {
        # Skips a sentence that does not fit and goes on with the next ones: right while the
        # sentence over the budget is the last (or only longer ones follow it).
        "lead": '''
def lead_words(sentences, max_words):
    out, used = [], 0
    for s in sentences:
        n = len(s.split())
        if not out and n > max_words:
            return [s]
        if used + n > max_words:
            continue
        out.append(s)
        used += n
    return out
''',
    },
    # The "excluded lowest" class: right while the excluded candidates would lose anyway.
    "excluded_lowest": {
        # Does not leave out the sentences already picked: right while adding a sentence twice
        # never raises F1 (it can, when the reference repeats its words).
        "oracle": '''
def greedy_oracle(sentences, reference, k):
    ref = tokens(reference)
    picked, best = [], 0.0
    while len(picked) < min(k, len(sentences)):
        cand = []
        for i in range(len(sentences)):
            hyp = [t for j in sorted(picked + [i]) for t in tokens(sentences[j])]
            cand.append((rouge1_f1(hyp, ref), -i))
        score, neg_i = max(cand)
        if score <= best:
            break
        picked.append(-neg_i)
        best = score
    return picked
''',
    },
}


# Whole classes of wrong solution made from the reference (exercise_harness.SPEC_WRAPPERS).
SPEC = {"mutates_inputs": ["lcs", "lead", "oracle"]}


# Every exercise against every class of hiding input (exercise_harness.INPUT_CLASSES) and of
# spec mistake: the student who makes that mistake there, "spec", or why it cannot occur.
AUDIT = {
    "lcs": {
        "initial_values": "n/a: no parameters or state: the table's border is 0 by definition",
        "size_one_axis": "size_one_axis",
        "counts_at_least_one": "counts_at_least_one",
        "odd_item_last": "n/a: no token or position is special: every pair goes through the "
                         "same recurrence",
        "excluded_lowest": "n/a: nothing is scored or excluded",
        "mutates_inputs": "spec",
        "tensor_for_float": "n/a: returns an int (a length); no float is promised",
        "detached": "n/a: counts tokens, nothing is trained",
    },
    "lead": {
        "initial_values": "n/a: lead_words has no parameters or state",
        "size_one_axis": "n/a: a flat list of sentences in and out: no axis is reduced over "
                         "or permuted",
        "counts_at_least_one": "n/a: nothing is divided or clipped: word counts are only "
                               "added up and compared with the budget",
        "odd_item_last": "odd_item_last",
        "excluded_lowest": "n/a: nothing is scored: sentences are taken in order",
        "mutates_inputs": "spec",
        "tensor_for_float": "n/a: returns a list of strings; no float is promised",
        "detached": "n/a: string processing, nothing is trained",
    },
    "oracle": {
        "initial_values": "initial_values",
        "size_one_axis": "wrong_1",  # k best sentences one by one: right for k = 1
        "counts_at_least_one": "counts_at_least_one",
        "odd_item_last": "n/a: every sentence is tried at every step, none is special by "
                         "place (the tie rule is tested with the tied pair first)",
        "excluded_lowest": "excluded_lowest",
        "mutates_inputs": "spec",
        "tensor_for_float": "n/a: returns a list of ints; no float is promised",
        "detached": "n/a: a search over sentences, nothing is trained",
    },
}


def test_exercises_08d():
    check_assignment(ASSIGNMENT, MISTAKES, spec=SPEC, audit=AUDIT)
