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
}


# Whole classes of wrong solution made from the reference (exercise_harness.SPEC_WRAPPERS).
SPEC = {"mutates_inputs": ["lcs", "lead", "oracle"]}


def test_exercises_08d():
    check_assignment(ASSIGNMENT, MISTAKES, spec=SPEC)
