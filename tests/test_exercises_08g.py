"""Chapter 08g exercises, graded by nbgrader: the solutions score full marks, the release
scores zero and leaks nothing, and each realistic wrong solution below loses points on its
own exercise only (see ``exercise_harness.check_assignment``)."""

from exercise_harness import check_assignment

ASSIGNMENT = "08g_controlled_generation"

# Each fake student makes one common mistake per exercise; the code replaces the whole
# ``<ex>-solution`` cell.
MISTAKES = {
    "wrong_1": {
        # "Distinct" read as "occurs once": counts only the n-grams that are never repeated.
        "distinct": '''
from collections import Counter


def distinct_n(tokens, n):
    grams = [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
    if not grams:
        return 0.0
    counts = Counter(grams)
    return sum(1 for g in counts if counts[g] == 1) / len(grams)
''',
        # Off by one: matches the last n tokens (not n - 1) against earlier n-grams, so it
        # bans the token after a whole repeated n-gram instead of the one that would make it.
        "blocking": '''
def banned_next_tokens(previous, n):
    if len(previous) < n:
        return set()
    prefix = list(previous[len(previous) - n:])
    banned = set()
    for i in range(len(previous) - n):
        if list(previous[i:i + n]) == prefix:
            banned.add(previous[i + n])
    return banned
''',
    },
    "wrong_2": {
        # Divides by the number of tokens instead of the number of n-grams.
        "distinct": '''
def distinct_n(tokens, n):
    grams = [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
    return len(set(grams)) / len(tokens) if grams else 0.0
''',
        # Looks only at the last token, whatever n is: bigram blocking for every n.
        "blocking": '''
def banned_next_tokens(previous, n):
    if len(previous) < n:
        return set()
    if n == 1:
        return set(previous)
    last = previous[-1]
    return {previous[i + 1] for i in range(len(previous) - 1) if previous[i] == last}
''',
    },
}


def test_exercises_08g():
    check_assignment(ASSIGNMENT, MISTAKES, min_exercises=2,
                     spec={"mutates_inputs": ["distinct", "blocking"],
                           "tensor_for_float": ["distinct"]})
