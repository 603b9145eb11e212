"""Chapter 08c exercises, graded by nbgrader: the solutions score full marks, the release
scores zero and leaks nothing, and each realistic wrong solution below loses points on its
own exercise only (see ``exercise_harness.check_assignment``)."""

from exercise_harness import check_assignment

ASSIGNMENT = "08c_pretrained"

# Each fake student makes one common mistake per exercise; the code replaces the whole
# ``<ex>-solution`` cell.
MISTAKES = {
    "wrong_1": {
        # Shortest match first: "playing" becomes "p", "##l", "##a", ... whenever the single
        # letters are in the vocabulary.
        "wordpiece": '''
def wordpiece(word, vocab):
    if len(word) > 100:
        return ["[UNK]"]
    pieces, start = [], 0
    while start < len(word):
        end = start + 1
        while end <= len(word):
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in vocab:
                break
            end += 1
        if end > len(word):
            return ["[UNK]"]
        pieces.append(piece)
        start = end
    return pieces
''',
        # Mean over every position, padding included.
        "pooling": '''
def masked_mean(hidden, mask):
    mean = hidden.mean(1)
    return mean / mean.norm(dim=-1, keepdim=True)
''',
    },
    "wrong_2": {
        # Forgets the "##" prefix: continuations are looked up as if they started a word.
        "wordpiece": '''
def wordpiece(word, vocab):
    if len(word) > 100:
        return ["[UNK]"]
    pieces, start = [], 0
    while start < len(word):
        end = len(word)
        while end > start and word[start:end] not in vocab:
            end -= 1
        if end == start:
            return ["[UNK]"]
        pieces.append(word[start:end] if start == 0 else "##" + word[start:end])
        start = end
    return pieces
''',
        # Normalises every token vector first, then averages (the mean of unit vectors is
        # neither the mean direction nor of length 1).
        "pooling": '''
def masked_mean(hidden, mask):
    unit = hidden / hidden.norm(dim=-1, keepdim=True)
    w = mask.to(hidden.dtype).unsqueeze(-1)
    return (unit * w).sum(1) / w.sum(1)
''',
    },
    "wrong_3": {
        # No [UNK]: keeps the pieces found so far and skips the character nothing matches.
        "wordpiece": '''
def wordpiece(word, vocab):
    pieces, start = [], 0
    while start < len(word):
        end = len(word)
        while end > start:
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in vocab:
                break
            end -= 1
        if end == start:
            start += 1
            continue
        pieces.append(piece)
        start = end
    return pieces or ["[UNK]"]
''',
        # Forgets the L2 normalisation.
        "pooling": '''
def masked_mean(hidden, mask):
    w = mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * w).sum(1) / w.sum(1)
''',
    },
}


# Whole classes of wrong solution made from the reference (exercise_harness.SPEC_WRAPPERS).
SPEC = {"mutates_inputs": ["wordpiece", "pooling"], "detached": ["pooling"]}


def test_exercises_08c():
    check_assignment(ASSIGNMENT, MISTAKES, min_exercises=2, spec=SPEC)
