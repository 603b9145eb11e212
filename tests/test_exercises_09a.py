"""Chapter 09a exercises, graded by nbgrader: the solutions score full marks, the release
scores zero and leaks nothing, and each realistic wrong solution below loses points on its
own exercise only (see ``exercise_harness.check_assignment``)."""

from exercise_harness import check_assignment

ASSIGNMENT = "09a_privacy"

# Each fake student makes one common mistake per exercise; the code replaces the whole
# ``<ex>-solution`` cell.
MISTAKES = {
    "wrong_1": {
        # Strict comparison: ties count for the secret, so a model that scores every
        # candidate alike is reported as having memorised it.
        "exposure": '''
def exposure(scores, true_index):
    rank = 1 + int((scores < scores[true_index]).sum())
    return math.log2(scores.numel()) - math.log2(rank)
''',
        # The plain mean: a client with 7 examples counts as much as one with 1000.
        "fedavg": '''
def fedavg(states, sizes):
    return {k: sum(s[k] for s in states) / len(states) for k in states[0]}
''',
        # Clips the summed batch gradient: one outlier still decides the update.
        "privatize": '''
def privatize(grads, clip_norm, noise_multiplier, generator):
    B, P = grads.shape
    total = grads.sum(dim=0)
    total = total * min(1.0, clip_norm / (total.norm().item() + 1e-12))
    noise = torch.randn(P, generator=generator)
    return (total + noise_multiplier * clip_norm * noise) / B
''',
    },
    "wrong_2": {
        # Treats the scores as likelihoods (higher = better): ranks the wrong way round.
        "exposure": '''
def exposure(scores, true_index):
    rank = int((scores >= scores[true_index]).sum())
    return math.log2(scores.numel()) - math.log2(rank)
''',
        # Integer division for the weights: every weight below 1 becomes 0.
        "fedavg": '''
def fedavg(states, sizes):
    total = sum(sizes)
    weights = [n // total for n in sizes]
    return {k: sum(s[k] * w for s, w in zip(states, weights)).to(states[0][k].dtype)
            for k in states[0]}
''',
        # Clamps every value to [-C, C] instead of scaling each example's whole gradient.
        "privatize": '''
def privatize(grads, clip_norm, noise_multiplier, generator):
    B, P = grads.shape
    clipped = grads.clamp(-clip_norm, clip_norm)
    noise = torch.randn(P, generator=generator)
    return (clipped.sum(dim=0) + noise_multiplier * clip_norm * noise) / B
''',
    },
    # One class of hiding test input each (exercise_harness.INPUT_CLASSES); the size-one class
    # is wrong_1 (the plain mean is right for one client, clipping the sum right for B = 1).
    "initial_values": {
        # Averages the weight matrices only and keeps the first client's 1-D and 0-D entries
        # (biases, norm weights): right while every client's biases are still at their
        # shared initial values.
        "fedavg": '''
def fedavg(states, sizes):
    total = sum(sizes)
    out = {}
    for key, ref in states[0].items():
        if ref.dim() < 2:
            out[key] = ref.clone()
        else:
            out[key] = sum(s[key].double() * (n / total)
                           for s, n in zip(states, sizes)).to(ref.dtype)
    return out
''',
        # Noise with std sigma instead of sigma * C: right while clip_norm sits at 1.
        "privatize": '''
def privatize(grads, clip_norm, noise_multiplier, generator):
    B, P = grads.shape
    norms = grads.norm(dim=1, keepdim=True)
    clipped = grads * torch.clamp(clip_norm / (norms + 1e-12), max=1.0)
    noise = torch.randn(P, generator=generator)
    return (clipped.sum(dim=0) + noise_multiplier * noise) / B
''',
    },
    "counts_at_least_one": {
        # Guards against empty clients by counting each as at least one example: a client
        # with no data still gets a weight (right while every client holds data).
        "fedavg": '''
def fedavg(states, sizes):
    sizes = [max(n, 1) for n in sizes]
    total = sum(sizes)
    out = {}
    for key, ref in states[0].items():
        out[key] = sum(s[key].double() * (n / total) for s, n in zip(states, sizes)).to(ref.dtype)
    return out
''',
        # Direction times clipped length, g / |g| * min(|g|, C): NaN for an all-zero row
        # (right while every example has a nonzero gradient).
        "privatize": '''
def privatize(grads, clip_norm, noise_multiplier, generator):
    B, P = grads.shape
    norms = grads.norm(dim=1, keepdim=True)
    clipped = grads / norms * norms.clamp(max=clip_norm)
    noise = torch.randn(P, generator=generator)
    return (clipped.sum(dim=0) + noise_multiplier * clip_norm * noise) / B
''',
    },
    "odd_item_last": {
        # Rank = place of the secret in the (stable) ascending sort: right only when the secret
        # comes last among the candidates that tie with it.
        "exposure": '''
def exposure(scores, true_index):
    order = torch.sort(scores, stable=True).indices
    rank = int((order == true_index).nonzero()[0, 0]) + 1
    return math.log2(scores.numel()) - math.log2(rank)
''',
    },
}


# Whole classes of wrong solution made from the reference (exercise_harness.SPEC_WRAPPERS).
SPEC = {"mutates_inputs": ["exposure", "fedavg", "privatize"],
        "tensor_for_float": ["exposure"]}

# Every exercise against every class of hiding input (exercise_harness.INPUT_CLASSES) and of
# spec mistake: the student who makes that mistake there, "spec", or why it cannot occur.
AUDIT = {
    "exposure": {
        "initial_values": "n/a: ranks given scores; no parameters or state",
        "size_one_axis": "n/a: scores is one 1-D vector; no axis is reduced or permuted",
        "counts_at_least_one": "n/a: the rank counts the secret itself, so it is >= 1 for "
                               "every input",
        "odd_item_last": "odd_item_last",
        "excluded_lowest": "n/a: no candidate is excluded; every one is counted or not by "
                           "its score",
        "mutates_inputs": "spec", "tensor_for_float": "spec",
        "detached": "n/a: a measurement returning a float, never differentiated",
    },
    "fedavg": {
        "initial_values": "initial_values",
        "size_one_axis": "wrong_1",
        "counts_at_least_one": "counts_at_least_one",
        "odd_item_last": "n/a: every client enters the same weighted sum; no client or key "
                         "is special",
        "excluded_lowest": "n/a: nothing is scored or excluded",
        "mutates_inputs": "spec",
        "tensor_for_float": "n/a: returns a dict of tensors, as promised",
        "detached": "n/a: averages finished client weights; never differentiated through",
    },
    "privatize": {
        "initial_values": "initial_values",
        "size_one_axis": "wrong_1",
        "counts_at_least_one": "counts_at_least_one",
        "odd_item_last": "n/a: every row goes through the same clip; the tests put the "
                         "overflowing row first (visible) and last (hidden, rows grow)",
        "excluded_lowest": "n/a: nothing is scored or excluded",
        "mutates_inputs": "spec",
        "tensor_for_float": "n/a: returns a (P,) tensor, as promised",
        "detached": "n/a: its input is gradients already computed; the update it returns is "
                    "never differentiated",
    },
}


def test_exercises_09a():
    check_assignment(ASSIGNMENT, MISTAKES, spec=SPEC, audit=AUDIT)
