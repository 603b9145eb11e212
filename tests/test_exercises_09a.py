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
}


# Whole classes of wrong solution made from the reference (exercise_harness.SPEC_WRAPPERS).
SPEC = {"mutates_inputs": ["exposure", "fedavg", "privatize"],
        "tensor_for_float": ["exposure"]}


def test_exercises_09a():
    check_assignment(ASSIGNMENT, MISTAKES, spec=SPEC)
