"""Chapter 00 exercises, graded by nbgrader: the solutions score full marks, the release
scores zero and leaks nothing, and each realistic wrong solution below loses points on its
own exercise only (see ``exercise_harness.check_assignment``)."""

from exercise_harness import check_assignment

ASSIGNMENT = "00_text_and_tokens"

# Each fake student makes one common mistake per exercise; the code replaces the whole
# ``<ex>-solution`` cell.
MISTAKES = {
    "wrong_1": {
        # Finds every occurrence of the pair first, overlapping ones included, then replaces
        # them from the right: 'aaa' with the merge (a, a) collapses to one token, not [aa, a].
        "bpe_encode": '''
def bpe_encode(text, merges):
    ids = list(text.encode("utf-8"))
    for rank, pair in enumerate(merges):
        hits = [i for i in range(len(ids) - 1) if (ids[i], ids[i + 1]) == tuple(pair)]
        for i in reversed(hits):
            ids[i:i + 2] = [256 + rank]
    return ids
''',
        # Unknown characters silently become id 0 instead of raising ValueError.
        "char_codec": '''
def build_vocab(text):
    itos = sorted(set(text))
    return {c: i for i, c in enumerate(itos)}, itos


def encode(text, stoi):
    return [stoi.get(c, 0) for c in text]


def decode(ids, itos):
    return "".join(itos[i] for i in ids)
''',
        # Smoothing adds k to the denominator once instead of k * V: rows no longer sum to 1.
        "bigram": '''
def bigram_probs(tokens, vocab, k):
    pair_counts = Counter(zip(tokens, tokens[1:]))
    row_totals = Counter(tokens[:-1])
    return {a: {b: (pair_counts[(a, b)] + k) / (row_totals[a] + k) for b in vocab}
            for a in vocab}


def perplexity(tokens, P):
    total = 0.0
    for a, b in zip(tokens, tokens[1:]):
        if P[a][b] == 0:
            return math.inf
        total -= math.log(P[a][b])
    return math.exp(total / (len(tokens) - 1))
''',
        # Off by one in the number of windows: counts a last window whose target runs past the
        # end of the data (len // T instead of (len - 1) // T).
        "windows": '''
def make_windows(ids, block_size):
    data = torch.as_tensor(ids, dtype=torch.long)
    n = len(data) // block_size
    if n < 1:
        raise ValueError("too few ids for one window")
    X = data[: n * block_size].view(n, block_size)
    Y = data[1 : n * block_size + 1].view(n, block_size)
    return X, Y
''',
    },
    "wrong_2": {
        # Code points instead of UTF-8 bytes: right for ASCII, wrong for 'é' or '東'.
        "bpe_encode": '''
def bpe_encode(text, merges):
    ids = [ord(c) for c in text]
    for rank, (a, b) in enumerate(merges):
        out, i = [], 0
        while i < len(ids):
            if i + 1 < len(ids) and ids[i] == a and ids[i + 1] == b:
                out.append(256 + rank)
                i += 2
            else:
                out.append(ids[i])
                i += 1
        ids = out
    return ids
''',
        # Ids start at 1 ("keep 0 for padding") but itos is not shifted: decode is off by one.
        "char_codec": '''
def build_vocab(text):
    itos = sorted(set(text))
    stoi = {c: i + 1 for i, c in enumerate(itos)}
    return stoi, itos


def encode(text, stoi):
    for c in text:
        if c not in stoi:
            raise ValueError(f"unknown character {c!r}")
    return [stoi[c] for c in text]


def decode(ids, itos):
    return "".join(itos[i] for i in ids)
''',
        # Perplexity with the log bases mixed up: natural logs, then 2 ** instead of exp.
        "bigram": '''
def bigram_probs(tokens, vocab, k):
    pair_counts = Counter(zip(tokens, tokens[1:]))
    row_totals = Counter(tokens[:-1])
    V = len(vocab)
    return {a: {b: (pair_counts[(a, b)] + k) / (row_totals[a] + k * V) for b in vocab}
            for a in vocab}


def perplexity(tokens, P):
    total = 0.0
    for a, b in zip(tokens, tokens[1:]):
        if P[a][b] == 0:
            return math.inf
        total -= math.log(P[a][b])
    return 2 ** (total / (len(tokens) - 1))
''',
        # Targets not shifted: Y is a copy of X, so the model would learn to copy its input.
        "windows": '''
def make_windows(ids, block_size):
    data = torch.as_tensor(ids, dtype=torch.long)
    n = (len(data) - 1) // block_size
    if n < 1:
        raise ValueError("too few ids for one window")
    X = data[: n * block_size].view(n, block_size)
    Y = data[: n * block_size].view(n, block_size)
    return X, Y
''',
    },
    # The "initial values" class: right only while a parameter sits at its usual value.
    "initial_values": {
        # Add-one smoothing learned as "+1 on top, +V below": (C(a, b) + k) / (C(a) + V) is
        # right only at the usual k = 1.
        "bigram": '''
def bigram_probs(tokens, vocab, k):
    pair_counts = Counter(zip(tokens, tokens[1:]))
    row_totals = Counter(tokens[:-1])
    V = len(vocab)
    return {a: {b: (pair_counts[(a, b)] + k) / (row_totals[a] + V) for b in vocab}
            for a in vocab}


def perplexity(tokens, P):
    total = 0.0
    for a, b in zip(tokens, tokens[1:]):
        if P[a][b] == 0:
            return math.inf
        total -= math.log(P[a][b])
    return math.exp(total / (len(tokens) - 1))
''',
    },
    # The "size one" class: right when an axis (merges, pairs, windows) has a single entry.
    "size_one_axis": {
        # One pass over the text that tries every merge at each position: right with a single
        # merge, but merges are neither applied in the order learned nor to ids made by earlier
        # merges.
        "bpe_encode": '''
def bpe_encode(text, merges):
    ids = list(text.encode("utf-8"))
    rank_of = {tuple(pair): rank for rank, pair in enumerate(merges)}
    out, i = [], 0
    while i < len(ids):
        pair = tuple(ids[i:i + 2])
        if len(pair) == 2 and pair in rank_of:
            out.append(256 + rank_of[pair])
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out
''',
        # Forgets the mean over the pairs (exp of the summed negative log-probability): right
        # for a text of one pair.
        "bigram": '''
def bigram_probs(tokens, vocab, k):
    pair_counts = Counter(zip(tokens, tokens[1:]))
    row_totals = Counter(tokens[:-1])
    V = len(vocab)
    return {a: {b: (pair_counts[(a, b)] + k) / (row_totals[a] + k * V) for b in vocab}
            for a in vocab}


def perplexity(tokens, P):
    total = 0.0
    for a, b in zip(tokens, tokens[1:]):
        if P[a][b] == 0:
            return math.inf
        total -= math.log(P[a][b])
    return math.exp(total)
''',
        # Windows start at 0, 1, 2, ... (stride 1) instead of 0, T, 2T: right with one window
        # or with block_size 1.
        "windows": '''
def make_windows(ids, block_size):
    data = torch.as_tensor(ids, dtype=torch.long)
    n = (len(data) - 1) // block_size
    if n < 1:
        raise ValueError("too few ids for one window")
    X = torch.stack([data[i:i + block_size] for i in range(n)])
    Y = torch.stack([data[i + 1:i + block_size + 1] for i in range(n)])
    return X, Y
''',
    },
    # The "counts >= 1" class: right while nothing is absent, repeated or empty.
    "counts_at_least_one": {
        # Stops at the first merge whose pair does not occur ("no more merges apply"): right
        # while every merge occurs in the text.
        "bpe_encode": '''
def bpe_encode(text, merges):
    ids = list(text.encode("utf-8"))
    for rank, (a, b) in enumerate(merges):
        if not any(ids[i] == a and ids[i + 1] == b for i in range(len(ids) - 1)):
            break
        out, i = [], 0
        while i < len(ids):
            if i + 1 < len(ids) and ids[i] == a and ids[i + 1] == b:
                out.append(256 + rank)
                i += 2
            else:
                out.append(ids[i])
                i += 1
        ids = out
    return ids
''',
        # Forgets set(): itos lists a repeated character several times, right only when no
        # character repeats.
        "char_codec": '''
def build_vocab(text):
    itos = sorted(text)
    return {c: i for i, c in enumerate(itos)}, itos


def encode(text, stoi):
    ids = []
    for c in text:
        if c not in stoi:
            raise ValueError(f"character {c!r} is not in the vocabulary")
        ids.append(stoi[c])
    return ids


def decode(ids, itos):
    return "".join(itos[i] for i in ids)
''',
        # Skips the pairs of probability zero instead of returning inf: right while every
        # pair of the text was seen.
        "bigram": '''
def bigram_probs(tokens, vocab, k):
    pair_counts = Counter(zip(tokens, tokens[1:]))
    row_totals = Counter(tokens[:-1])
    V = len(vocab)
    return {a: {b: (pair_counts[(a, b)] + k) / (row_totals[a] + k * V) for b in vocab}
            for a in vocab}


def perplexity(tokens, P):
    total = 0.0
    for a, b in zip(tokens, tokens[1:]):
        if P[a][b] > 0:
            total -= math.log(P[a][b])
    return math.exp(total / (len(tokens) - 1))
''',
        # The zero-window check forgets the target's extra id (len < T instead of
        # len < T + 1): returns empty tensors where no window fits instead of raising.
        "windows": '''
def make_windows(ids, block_size):
    data = torch.as_tensor(ids, dtype=torch.long)
    if len(data) < block_size:
        raise ValueError("too few ids for one window")
    n = (len(data) - 1) // block_size
    X = data[: n * block_size].view(n, block_size)
    Y = data[1 : n * block_size + 1].view(n, block_size)
    return X, Y
''',
    },
    # The "odd item last" class: right while the special item sits at the end.
    "odd_item_last": {
        # Handles the last id outside the loop and appends it even when it was just merged:
        # right unless a merged pair ends the text.
        "bpe_encode": '''
def bpe_encode(text, merges):
    ids = list(text.encode("utf-8"))
    for rank, (a, b) in enumerate(merges):
        out, i = [], 0
        while i < len(ids) - 1:
            if ids[i] == a and ids[i + 1] == b:
                out.append(256 + rank)
                i += 2
            else:
                out.append(ids[i])
                i += 1
        if ids:
            out.append(ids[-1])
        ids = out
    return ids
''',
        # The error message names text[-1], not the unknown character: right only when the
        # unknown character is the last one.
        "char_codec": '''
def build_vocab(text):
    itos = sorted(set(text))
    return {c: i for i, c in enumerate(itos)}, itos


def encode(text, stoi):
    try:
        return [stoi[c] for c in text]
    except KeyError:
        raise ValueError(f"character {text[-1]!r} is not in the vocabulary") from None


def decode(ids, itos):
    return "".join(itos[i] for i in ids)
''',
        # Counts the final token as a context (Counter(tokens), not tokens[:-1]) although
        # nothing follows it: wrong only in the row of the last token.
        "bigram": '''
def bigram_probs(tokens, vocab, k):
    pair_counts = Counter(zip(tokens, tokens[1:]))
    row_totals = Counter(tokens)
    V = len(vocab)
    return {a: {b: (pair_counts[(a, b)] + k) / (row_totals[a] + k * V) for b in vocab}
            for a in vocab}


def perplexity(tokens, P):
    total = 0.0
    for a, b in zip(tokens, tokens[1:]):
        if P[a][b] == 0:
            return math.inf
        total -= math.log(P[a][b])
    return math.exp(total / (len(tokens) - 1))
''',
        # Cuts the leftover ids (the partial window) from the front instead of the end:
        # right only when no partial window is left.
        "windows": '''
def make_windows(ids, block_size):
    data = torch.as_tensor(ids, dtype=torch.long)
    n = (len(data) - 1) // block_size
    if n < 1:
        raise ValueError("too few ids for one window")
    data = data[len(data) - (n * block_size + 1):]
    X = data[:-1].view(n, block_size)
    Y = data[1:].view(n, block_size)
    return X, Y
''',
    },
}


# Whole classes of wrong solution made from the reference (exercise_harness.SPEC_WRAPPERS):
# the tests of these exercises catch inputs changed in place and tensors returned for floats.
SPEC = {"mutates_inputs": ["bpe_encode", "char_codec", "bigram", "windows"],
        "tensor_for_float": ["bigram"]}


NO_TERMS = "n/a: no parameters, state or smoothing constant: the output is fixed by the input"

# Every exercise against every class of hiding input (exercise_harness.INPUT_CLASSES) and of
# spec mistake: the student who makes that mistake there, "spec", or why it cannot occur.
AUDIT = {
    "bpe_encode": {
        "initial_values": NO_TERMS,
        "size_one_axis": "size_one_axis",
        "counts_at_least_one": "counts_at_least_one",
        "odd_item_last": "odd_item_last",
        "excluded_lowest": "n/a: nothing is scored; merges are applied by rank, none excluded",
        "mutates_inputs": "spec",
        "tensor_for_float": "n/a: returns a list of ints, no float is promised",
        "detached": "n/a: integer ids, nothing is trained through it",
    },
    "char_codec": {
        "initial_values": NO_TERMS,
        "size_one_axis": "n/a: each character is mapped on its own; nothing is reduced, "
                         "stacked or permuted over an axis",
        "counts_at_least_one": "counts_at_least_one",
        "odd_item_last": "odd_item_last",
        "excluded_lowest": "n/a: nothing is scored or ranked",
        "mutates_inputs": "spec",
        "tensor_for_float": "n/a: returns dicts, lists of ints and strings, no float",
        "detached": "n/a: integer ids and strings, nothing is trained",
    },
    "bigram": {
        "initial_values": "initial_values",
        "size_one_axis": "size_one_axis",
        "counts_at_least_one": "counts_at_least_one",
        "odd_item_last": "odd_item_last",
        "excluded_lowest": "n/a: probabilities are estimated, no candidate is excluded",
        "mutates_inputs": "spec",
        "tensor_for_float": "spec",
        "detached": "n/a: Python floats from counts, nothing is trained by gradient",
    },
    "windows": {
        "initial_values": NO_TERMS,
        "size_one_axis": "size_one_axis",
        "counts_at_least_one": "counts_at_least_one",
        "odd_item_last": "odd_item_last",
        "excluded_lowest": "n/a: nothing is scored or excluded",
        "mutates_inputs": "spec",
        "tensor_for_float": "n/a: returns long tensors, as promised",
        "detached": "n/a: integer ids, nothing is trained through them",
    },
}


def test_exercises_00():
    check_assignment(ASSIGNMENT, MISTAKES, spec=SPEC, audit=AUDIT)
