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
    # The "size one axis" class: right while an axis has a single entry.
    "size_one_axis": {
        # Divides by the norm of the whole batch (no dim=): right for a batch of one.
        "pooling": '''
def masked_mean(hidden, mask):
    w = mask.to(hidden.dtype).unsqueeze(-1)
    mean = (hidden * w).sum(1) / w.sum(1)
    return mean / mean.norm()
''',
    },
    # The "odd item last" class: right while the odd item sits at the end.
    "odd_item_last": {
        # Takes a piece even when nothing matches and checks only the last piece against the
        # vocabulary: [UNK] only when the unknown character is at the end of the word.
        "wordpiece": '''
def wordpiece(word, vocab):
    if len(word) > 100:
        return ["[UNK]"]
    pieces, start = [], 0
    while start < len(word):
        end = len(word)
        while end > start + 1:
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in vocab:
                break
            end -= 1
        pieces.append(word[start:end] if start == 0 else "##" + word[start:end])
        start = end
    if pieces and pieces[-1] not in vocab:
        return ["[UNK]"]
    return pieces
''',
        # Averages the first n = mask.sum() positions: right while the padding comes last.
        "pooling": '''
def masked_mean(hidden, mask):
    lengths = mask.sum(1).tolist()
    mean = torch.stack([hidden[b, :int(n)].mean(0) for b, n in enumerate(lengths)])
    return mean / mean.norm(dim=-1, keepdim=True)
''',
    },
}


# Whole classes of wrong solution made from the reference (exercise_harness.SPEC_WRAPPERS).
SPEC = {"mutates_inputs": ["wordpiece", "pooling"], "detached": ["pooling"]}


# Every exercise against every class of hiding input (exercise_harness.INPUT_CLASSES) and of
# spec mistake: the student who makes that mistake there, "spec", or why it cannot occur.
AUDIT = {
    "wordpiece": {
        "initial_values": "n/a: wordpiece has no parameters or state",
        "size_one_axis": "n/a: one word in, a flat list of pieces out: no axis is reduced "
                         "over or permuted",
        "counts_at_least_one": "n/a: nothing is counted or divided",
        "odd_item_last": "odd_item_last",
        "excluded_lowest": "n/a: nothing is scored: the longest piece in vocab is taken",
        "mutates_inputs": "spec",
        "tensor_for_float": "n/a: returns a list of strings; no float is promised",
        "detached": "n/a: string processing, nothing is trained",
    },
    "pooling": {
        "initial_values": "n/a: masked_mean has no parameters or state",
        "size_one_axis": "size_one_axis",
        "counts_at_least_one": "n/a: every row is a sentence with at least one real token "
                               "(the mean of none is undefined); a row without padding is "
                               "tested",
        "odd_item_last": "odd_item_last",
        "excluded_lowest": "n/a: a mean, not a max or a softmax: padding is removed exactly "
                           "by its weight 0",
        "mutates_inputs": "spec",
        "tensor_for_float": "n/a: returns a tensor, as promised",
        "detached": "spec",
    },
}


def test_exercises_08c():
    check_assignment(ASSIGNMENT, MISTAKES, min_exercises=2, spec=SPEC, audit=AUDIT)
