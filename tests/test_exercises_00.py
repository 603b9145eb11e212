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
}


# Whole classes of wrong solution made from the reference (exercise_harness.SPEC_WRAPPERS):
# the tests of these exercises catch inputs changed in place and tensors returned for floats.
SPEC = {"mutates_inputs": ["bpe_encode", "char_codec", "bigram", "windows"],
        "tensor_for_float": ["bigram"]}


def test_exercises_00():
    check_assignment(ASSIGNMENT, MISTAKES, spec=SPEC)
