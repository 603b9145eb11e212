"""Chapter 01 exercises, graded by nbgrader: the solutions score full marks, the release
scores zero and leaks nothing, and each realistic wrong solution below loses points on its
own exercise only (see ``exercise_harness.check_assignment``)."""

from exercise_harness import check_assignment

ASSIGNMENT = "01_embeddings"

# Each fake student makes one common mistake per exercise; the code replaces the whole
# ``<ex>-solution`` cell.
MISTAKES = {
    "wrong_1": {
        # Forgets the minus sign inside the noise term: rewards noise words for scoring high.
        "sgns_loss": '''
def sgns_loss(v_c, u_o, u_neg):
    pos = (u_o * v_c).sum(-1)
    neg = torch.einsum("bkd,bd->bk", u_neg, v_c)
    return -F.logsigmoid(pos) - F.logsigmoid(neg).sum(-1)
''',
        # Sums over every pair, zeros included, and dodges log 0 with log(1 + X).
        "glove": '''
def glove_weight(x, x_max=100.0, alpha=0.75):
    return torch.clamp((x / x_max) ** alpha, max=1.0)


def glove_loss(W, W_tilde, b, b_tilde, X, x_max=100.0, alpha=0.75):
    error = W @ W_tilde.T + b[:, None] + b_tilde[None, :] - torch.log1p(X)
    return (glove_weight(X, x_max, alpha) * error**2).sum()
''',
        # Ranks by the raw dot product: long (frequent) vectors become everyone's neighbour.
        "neighbours": '''
def most_similar(word, words, vectors, k):
    query = words.index(word)
    scores = vectors @ vectors[query]
    scores[query] = -math.inf
    best = scores.topk(k)
    return [(words[i], float(c)) for i, c in zip(best.indices.tolist(), best.values)]
''',
        # Does not exclude the question words: the answer is often b or c itself.
        "analogy": '''
def analogy(a, b, c, words, vectors):
    unit = F.normalize(vectors, dim=1)
    target = unit[words.index(b)] - unit[words.index(a)] + unit[words.index(c)]
    return words[int((unit @ target).argmax())]
''',
    },
    "wrong_2": {
        # log(sigmoid(x)) instead of logsigmoid: right for small scores, -inf for large ones.
        "sgns_loss": '''
def sgns_loss(v_c, u_o, u_neg):
    pos = (u_o * v_c).sum(-1)
    neg = torch.einsum("bkd,bd->bk", u_neg, v_c)
    return -torch.log(torch.sigmoid(pos)) - torch.log(torch.sigmoid(-neg)).sum(-1)
''',
        # Fits the raw counts instead of their logarithm (and caps nothing: f is fine).
        "glove": '''
def glove_weight(x, x_max=100.0, alpha=0.75):
    return torch.clamp((x / x_max) ** alpha, max=1.0)


def glove_loss(W, W_tilde, b, b_tilde, X, x_max=100.0, alpha=0.75):
    i, j = torch.nonzero(X > 0, as_tuple=True)
    x = X[i, j]
    error = (W[i] * W_tilde[j]).sum(-1) + b[i] + b_tilde[j] - x
    return (glove_weight(x, x_max, alpha) * error**2).sum()
''',
        # Keeps the word itself: it is always its own nearest neighbour (cosine 1).
        "neighbours": '''
def most_similar(word, words, vectors, k):
    unit = F.normalize(vectors, dim=1)
    cos = unit @ unit[words.index(word)]
    best = cos.topk(k)
    return [(words[i], float(c)) for i, c in zip(best.indices.tolist(), best.values)]
''',
        # Skips the normalisation: b - a + c on raw vectors, so long vectors dominate.
        "analogy": '''
def analogy(a, b, c, words, vectors):
    ia, ib, ic = words.index(a), words.index(b), words.index(c)
    target = vectors[ib] - vectors[ia] + vectors[ic]
    cos = F.normalize(vectors, dim=1) @ F.normalize(target, dim=0)
    cos[[ia, ib, ic]] = -math.inf
    return words[int(cos.argmax())]
''',
    },
    "wrong_3": {
        # Averages the noise terms instead of summing them: the K noise words weigh as one.
        "sgns_loss": '''
def sgns_loss(v_c, u_o, u_neg):
    pos = (u_o * v_c).sum(-1)
    neg = torch.einsum("bkd,bd->bk", u_neg, v_c)
    return -F.logsigmoid(pos) - F.logsigmoid(-neg).mean(-1)
''',
        # Forgets the cap of the weighting function: frequent pairs weigh more than 1.
        "glove": '''
def glove_weight(x, x_max=100.0, alpha=0.75):
    return (x / x_max) ** alpha


def glove_loss(W, W_tilde, b, b_tilde, X, x_max=100.0, alpha=0.75):
    i, j = torch.nonzero(X > 0, as_tuple=True)
    x = X[i, j]
    error = (W[i] * W_tilde[j]).sum(-1) + b[i] + b_tilde[j] - torch.log(x)
    return (glove_weight(x, x_max, alpha) * error**2).sum()
''',
    },
    # The "initial values" class: right only while the parameters sit at their initial values.
    "initial_values": {
        # Forgets the context bias b_tilde: right while the biases sit at their initial zero.
        "glove": '''
def glove_weight(x, x_max=100.0, alpha=0.75):
    return torch.clamp((x / x_max) ** alpha, max=1.0)


def glove_loss(W, W_tilde, b, b_tilde, X, x_max=100.0, alpha=0.75):
    i, j = torch.nonzero(X > 0, as_tuple=True)
    x = X[i, j]
    error = (W[i] * W_tilde[j]).sum(-1) + b[i] - torch.log(x)
    return (glove_weight(x, x_max, alpha) * error**2).sum()
''',
    },
    # The "size one" class: right when an axis (pairs, neighbours) has a single entry.
    "size_one_axis": {
        # Averages the loss over the non-zero pairs instead of summing it: right with one pair.
        "glove": '''
def glove_weight(x, x_max=100.0, alpha=0.75):
    return torch.clamp((x / x_max) ** alpha, max=1.0)


def glove_loss(W, W_tilde, b, b_tilde, X, x_max=100.0, alpha=0.75):
    i, j = torch.nonzero(X > 0, as_tuple=True)
    x = X[i, j]
    error = (W[i] * W_tilde[j]).sum(-1) + b[i] + b_tilde[j] - torch.log(x)
    return (glove_weight(x, x_max, alpha) * error**2).mean()
''',
        # Takes the last k of an ascending argsort without reversing it: the neighbours come
        # worst first, right only for k = 1.
        "neighbours": '''
def most_similar(word, words, vectors, k):
    unit = F.normalize(vectors, dim=1)
    query = words.index(word)
    cos = unit @ unit[query]
    cos[query] = -math.inf
    best = cos.argsort()[-k:]
    return [(words[i], float(cos[i])) for i in best.tolist()]
''',
    },
    # The "counts >= 1" class: right while no co-occurrence count is zero.
    "counts_at_least_one": {
        # Sums over the whole matrix, counting on f(0) = 0 to drop the empty pairs: but
        # 0 * (log 0)^2 is nan, so it is right only while every count is >= 1.
        "glove": '''
def glove_weight(x, x_max=100.0, alpha=0.75):
    return torch.clamp((x / x_max) ** alpha, max=1.0)


def glove_loss(W, W_tilde, b, b_tilde, X, x_max=100.0, alpha=0.75):
    error = W @ W_tilde.T + b[:, None] + b_tilde[None, :] - torch.log(X)
    return (glove_weight(X, x_max, alpha) * error**2).sum()
''',
    },
    # The "odd item last" class: right while the excluded words come last in the vocabulary.
    "odd_item_last": {
        # Drops the query's row, then maps the positions back through the full word list:
        # every neighbour after the query is named one word too early (right if it is last).
        "neighbours": '''
def most_similar(word, words, vectors, k):
    query = words.index(word)
    others = torch.cat([vectors[:query], vectors[query + 1:]])
    cos = F.normalize(others, dim=1) @ F.normalize(vectors[query], dim=0)
    best = cos.topk(k)
    return [(words[i], float(c)) for i, c in zip(best.indices.tolist(), best.values)]
''',
        # The same with the three question words: right only when none comes before the
        # answer in the word list.
        "analogy": '''
def analogy(a, b, c, words, vectors):
    unit = F.normalize(vectors, dim=1)
    ia, ib, ic = words.index(a), words.index(b), words.index(c)
    target = unit[ib] - unit[ia] + unit[ic]
    keep = [i for i in range(len(words)) if i not in (ia, ib, ic)]
    cos = unit[keep] @ F.normalize(target, dim=0)
    return words[int(cos.argmax())]
''',
    },
    # The "excluded lowest" class: right while every other candidate scores above 0.
    "excluded_lowest": {
        # Excludes the query word by setting its cosine to 0 instead of -inf: it comes back
        # as soon as k reaches the words of negative cosine.
        "neighbours": '''
def most_similar(word, words, vectors, k):
    unit = F.normalize(vectors, dim=1)
    query = words.index(word)
    cos = unit @ unit[query]
    cos[query] = 0.0
    best = cos.topk(k)
    return [(words[i], float(c)) for i, c in zip(best.indices.tolist(), best.values)]
''',
        # Excludes the question words with a cosine of 0: one of them is the answer whenever
        # every other word has a negative cosine with b - a + c.
        "analogy": '''
def analogy(a, b, c, words, vectors):
    unit = F.normalize(vectors, dim=1)
    ia, ib, ic = words.index(a), words.index(b), words.index(c)
    target = unit[ib] - unit[ia] + unit[ic]
    cos = unit @ F.normalize(target, dim=0)
    cos[[ia, ib, ic]] = 0.0
    return words[int(cos.argmax())]
''',
    },
}


# Whole classes of wrong solution made from the reference (exercise_harness.SPEC_WRAPPERS).
# (sgns_loss's hidden tests also call it on tensors that do not require grad, which a
# solution could change in place.)
SPEC = {"mutates_inputs": ["sgns_loss", "glove", "neighbours", "analogy"],
        "tensor_for_float": ["neighbours"], "detached": ["sgns_loss", "glove"]}


# Every exercise against every class of hiding input (exercise_harness.INPUT_CLASSES) and of
# spec mistake: the student who makes that mistake there, "spec", or why it cannot occur.
AUDIT = {
    "sgns_loss": {
        "initial_values": "wrong_1",  # a flipped noise sign is right while u = 0 (word2vec init)
        "size_one_axis": "wrong_3",  # the mean over the K noise words is right for K = 1
        "counts_at_least_one": "n/a: nothing is counted; the K noise vectors are given",
        "odd_item_last": "n/a: every example and noise word is scored the same way",
        "excluded_lowest": "n/a: nothing is ranked or excluded",
        "mutates_inputs": "spec",
        "tensor_for_float": "n/a: returns a (B,) tensor, as promised",
        "detached": "spec",
    },
    "glove": {
        "initial_values": "initial_values",
        "size_one_axis": "size_one_axis",
        "counts_at_least_one": "counts_at_least_one",
        "odd_item_last": "n/a: every non-zero pair is treated the same, wherever it sits",
        "excluded_lowest": "n/a: nothing is ranked; leaving out X_ij = 0 is the counts class",
        "mutates_inputs": "spec",
        "tensor_for_float": "n/a: returns a 0-dim tensor, as promised (it is trained)",
        "detached": "spec",
    },
    "neighbours": {
        "initial_values": "n/a: no parameters or state; it ranks the vectors it is given",
        "size_one_axis": "size_one_axis",
        "counts_at_least_one": "n/a: nothing is counted",
        "odd_item_last": "odd_item_last",
        "excluded_lowest": "excluded_lowest",
        "mutates_inputs": "spec",
        "tensor_for_float": "spec",
        "detached": "n/a: returns words and Python floats; nothing is trained through it",
    },
    "analogy": {
        "initial_values": "n/a: no parameters or state; it ranks the vectors it is given",
        "size_one_axis": "n/a: one query, one argmax over the words; no reduction or "
                         "permutation an axis of size one could hide",
        "counts_at_least_one": "n/a: nothing is counted",
        "odd_item_last": "odd_item_last",
        "excluded_lowest": "excluded_lowest",
        "mutates_inputs": "spec",
        "tensor_for_float": "n/a: returns a word (str)",
        "detached": "n/a: returns a word; nothing is trained through it",
    },
}


def test_exercises_01():
    check_assignment(ASSIGNMENT, MISTAKES, spec=SPEC, audit=AUDIT)
