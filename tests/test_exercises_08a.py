"""Chapter 08a exercises, graded by nbgrader: the solutions score full marks, the release
scores zero and leaks nothing, and each realistic wrong solution below loses points on its
own exercise only (see ``exercise_harness.check_assignment``). Chapter 08's first part has
two graded exercises here (08b has the others)."""

from exercise_harness import check_assignment

ASSIGNMENT = "08a_sentiment"

# Each fake student makes one common mistake per exercise; the code replaces the whole
# ``<ex>-solution`` cell.
MISTAKES = {
    "wrong_1": {
        # Multiplies the probabilities and takes the log at the end: right on short
        # documents, but a long one underflows to log(0) = -inf for every class.
        "naive_bayes": '''
def naive_bayes_scores(X_train, y_train, X_test, n_classes, alpha=1.0):
    X_train, X_test = X_train.double(), X_test.double()
    onehot = torch.nn.functional.one_hot(y_train, n_classes).double()
    counts = onehot.T @ X_train + alpha
    probs = counts / counts.sum(dim=1, keepdim=True)
    prior = onehot.mean(dim=0)
    likelihood = torch.prod(probs[None] ** X_test[:, None], dim=-1)
    return torch.log(prior * likelihood)
''',
        # Divides by the padded length T: short texts are pulled towards zero.
        "masked_mean": '''
def masked_mean(h, mask):
    m = mask.unsqueeze(-1).to(h.dtype)
    return (h * m).sum(dim=1) / h.size(1)
''',
    },
    "wrong_2": {
        # Smoothing with + alpha on top but not + alpha * V below: the "probabilities" of a
        # class no longer sum to one, and classes with few words are favoured.
        "naive_bayes": '''
def naive_bayes_scores(X_train, y_train, X_test, n_classes, alpha=1.0):
    X_train, X_test = X_train.double(), X_test.double()
    onehot = torch.nn.functional.one_hot(y_train, n_classes).double()
    counts = onehot.T @ X_train
    log_lik = (counts + alpha).log() - (counts.sum(dim=1, keepdim=True) + alpha).log()
    return X_test @ log_lik.T + onehot.mean(dim=0).log()
''',
        # Assumes the padding comes after the text (the first n positions are real): right
        # for right padding, wrong as soon as a batch is left-padded.
        "masked_mean": '''
def masked_mean(h, mask):
    lengths = mask.sum(dim=1)
    return torch.stack([h[b, :n].mean(dim=0) for b, n in enumerate(lengths.tolist())])
''',
    },
    "wrong_3": {
        # Forgets the prior log P(y): fine on balanced data, wrong on unbalanced classes.
        "naive_bayes": '''
def naive_bayes_scores(X_train, y_train, X_test, n_classes, alpha=1.0):
    X_train, X_test = X_train.double(), X_test.double()
    onehot = torch.nn.functional.one_hot(y_train, n_classes).double()
    smoothed = onehot.T @ X_train + alpha
    log_lik = smoothed.log() - smoothed.sum(dim=1, keepdim=True).log()
    return X_test @ log_lik.T
''',
        # Divides by the number of real tokens in the whole batch, not in each sequence.
        "masked_mean": '''
def masked_mean(h, mask):
    m = mask.unsqueeze(-1).to(h.dtype)
    return (h * m).sum(dim=1) / m.sum()
''',
    },
    # The "initial values" class: right only at the default alpha = 1.
    "initial_values": {
        # Remembers add-one smoothing as "+ V below": right at the default alpha = 1 only.
        "naive_bayes": '''
def naive_bayes_scores(X_train, y_train, X_test, n_classes, alpha=1.0):
    X_train, X_test = X_train.double(), X_test.double()
    onehot = torch.nn.functional.one_hot(y_train, n_classes).double()
    counts = onehot.T @ X_train
    V = X_train.size(1)
    log_lik = (counts + alpha).log() - (counts.sum(dim=1, keepdim=True) + V).log()
    return X_test @ log_lik.T + onehot.mean(dim=0).log()
''',
    },
    # The "size one axis" class: right while an axis has a single entry.
    "size_one_axis": {
        # Divides by the word total of all classes together, not of each class: right with
        # one class only.
        "naive_bayes": '''
def naive_bayes_scores(X_train, y_train, X_test, n_classes, alpha=1.0):
    X_train, X_test = X_train.double(), X_test.double()
    onehot = torch.nn.functional.one_hot(y_train, n_classes).double()
    smoothed = onehot.T @ X_train + alpha
    log_lik = smoothed.log() - smoothed.sum().log()
    return X_test @ log_lik.T + onehot.mean(dim=0).log()
''',
    },
    # The "counts at least one" class: right while no count is zero.
    "counts_at_least_one": {
        # Takes V as the number of words seen in training: right while every word of the
        # vocabulary occurs in some training document.
        "naive_bayes": '''
def naive_bayes_scores(X_train, y_train, X_test, n_classes, alpha=1.0):
    X_train, X_test = X_train.double(), X_test.double()
    onehot = torch.nn.functional.one_hot(y_train, n_classes).double()
    counts = onehot.T @ X_train
    V = int((X_train.sum(dim=0) > 0).sum())
    log_lik = (counts + alpha).log() - (counts.sum(dim=1, keepdim=True) + alpha * V).log()
    return X_test @ log_lik.T + onehot.mean(dim=0).log()
''',
        # Takes each text's length as the position of its first padding (argmin of the
        # mask): right while every row is right-padded and has at least one pad.
        "masked_mean": '''
def masked_mean(h, mask):
    lengths = mask.int().argmin(dim=1)
    m = mask.unsqueeze(-1).to(h.dtype)
    return (h * m).sum(dim=1) / lengths.unsqueeze(-1).to(h.dtype)
''',
    },
}


# Whole classes of wrong solution made from the reference (exercise_harness.SPEC_WRAPPERS).
SPEC = {"mutates_inputs": ["naive_bayes", "masked_mean"], "detached": ["masked_mean"]}


# Every exercise against every class of hiding input (exercise_harness.INPUT_CLASSES) and of
# spec mistake: the student who makes that mistake there, "spec", or why it cannot occur.
AUDIT = {
    "naive_bayes": {
        "initial_values": "initial_values",
        "size_one_axis": "size_one_axis",
        "counts_at_least_one": "counts_at_least_one",
        "odd_item_last": "n/a: no word, class or document has a special place: every column "
                         "and label is handled alike and documents are scored independently",
        "excluded_lowest": "n/a: nothing is excluded or masked: every class gets its score",
        "mutates_inputs": "spec",
        "tensor_for_float": "n/a: returns a tensor, as promised",
        "detached": "n/a: fitted by counting; nothing is trained by gradient",
    },
    "masked_mean": {
        "initial_values": "n/a: masked_mean has no parameters or state",
        "size_one_axis": "wrong_3",  # the whole batch's token count: right with one sequence
        "counts_at_least_one": "counts_at_least_one",
        "odd_item_last": "wrong_2",  # assumes the padding comes last (after the text)
        "excluded_lowest": "n/a: a mean, not a max or a softmax: padding is removed exactly "
                           "by its weight 0",
        "mutates_inputs": "spec",
        "tensor_for_float": "n/a: returns a tensor, as promised",
        "detached": "spec",
    },
}


def test_exercises_08a():
    check_assignment(ASSIGNMENT, MISTAKES, min_exercises=2, spec=SPEC, audit=AUDIT)
