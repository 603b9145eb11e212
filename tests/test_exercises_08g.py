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
    # One class of hiding test input each (exercise_harness.INPUT_CLASSES); the size-one class
    # is wrong_2 (dividing by the tokens is right for n = 1; the last token alone is the
    # prefix for n = 2).
    "counts_at_least_one": {
        # "No n-gram, so nothing repeats": 1.0 instead of 0.0 for a text shorter than n.
        "distinct": '''
def distinct_n(tokens, n):
    grams = [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 1.0
''',
        # previous[-(n - 1):] is previous[-0:], the whole list, for n = 1: nothing is banned
        # (right while the prefix has at least one token, n >= 2).
        "blocking": '''
def banned_next_tokens(previous, n):
    if len(previous) < n:
        return set()
    prefix = list(previous[-(n - 1):])
    banned = set()
    for i in range(len(previous) - n + 1):
        if list(previous[i:i + n - 1]) == prefix:
            banned.add(previous[i + n - 1])
    return banned
''',
    },
    "odd_item_last": {
        # Slides the window to the very end: the last n - 1 windows are short partial
        # n-grams, counted as (usually distinct) n-grams.
        "distinct": '''
def distinct_n(tokens, n):
    grams = [tuple(tokens[i:i + n]) for i in range(len(tokens))]
    return len(set(grams)) / len(grams) if grams else 0.0
''',
        # Off by one: skips the last window, the n-gram ending on the newest token.
        "blocking": '''
def banned_next_tokens(previous, n):
    if len(previous) < n:
        return set()
    prefix = list(previous[len(previous) - (n - 1):]) if n > 1 else []
    banned = set()
    for i in range(len(previous) - n):
        if list(previous[i:i + n - 1]) == prefix:
            banned.add(previous[i + n - 1])
    return banned
''',
    },
}

# Whole classes of wrong solution made from the reference (exercise_harness.SPEC_WRAPPERS).
SPEC = {"mutates_inputs": ["distinct", "blocking"], "tensor_for_float": ["distinct"]}

# Every exercise against every class of hiding input (exercise_harness.INPUT_CLASSES) and of
# spec mistake: the student who makes that mistake there, "spec", or why it cannot occur.
AUDIT = {
    "distinct": {
        "initial_values": "n/a: counts n-grams of a token list; no parameters or state",
        "size_one_axis": "wrong_2",
        "counts_at_least_one": "counts_at_least_one",
        "odd_item_last": "odd_item_last",
        "excluded_lowest": "n/a: nothing is scored or excluded",
        "mutates_inputs": "spec", "tensor_for_float": "spec",
        "detached": "n/a: a count over token lists, nothing trainable",
    },
    "blocking": {
        "initial_values": "n/a: reads a list of ids; no parameters or state",
        "size_one_axis": "wrong_2",
        "counts_at_least_one": "counts_at_least_one",
        "odd_item_last": "odd_item_last",
        "excluded_lowest": "n/a: returns the banned set; applying it to the scores is the "
                           "decoder's job, not this exercise's",
        "mutates_inputs": "spec",
        "tensor_for_float": "n/a: returns a set of ints; no float is promised",
        "detached": "n/a: a set of token ids, nothing trainable",
    },
}


def test_exercises_08g():
    check_assignment(ASSIGNMENT, MISTAKES, min_exercises=2, spec=SPEC, audit=AUDIT)
