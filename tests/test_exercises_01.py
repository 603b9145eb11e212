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
}


# Whole classes of wrong solution made from the reference (exercise_harness.SPEC_WRAPPERS).
# (sgns_loss takes tensors that require grad, which cannot be changed in place.)
SPEC = {"mutates_inputs": ["glove", "neighbours", "analogy"],
        "tensor_for_float": ["neighbours"], "detached": ["sgns_loss", "glove"]}


def test_exercises_01():
    check_assignment(ASSIGNMENT, MISTAKES, spec=SPEC)
