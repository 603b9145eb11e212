"""Chapter 07 exercises, graded by nbgrader: the solutions score full marks, the release
scores zero and leaks nothing, and each realistic wrong solution below loses points on its
own exercise only (see ``exercise_harness.check_assignment``)."""

from exercise_harness import check_assignment

ASSIGNMENT = "07_inference"

# Each fake student makes one common mistake per exercise; the code replaces the whole
# ``<ex>-solution`` cell.
MISTAKES = {
    "wrong_1": {
        # Temperature applied after the softmax: dividing probabilities by T and
        # renormalising cancels out, so T has no effect at all.
        "temperature": '''
def temperature_probs(logits, temperature):
    probs = torch.softmax(logits, dim=-1) / temperature
    return probs / probs.sum(dim=-1, keepdim=True)
''',
        # Strict comparison with the k-th value: keeps only k - 1 tokens.
        "top_k": '''
def top_k_filter(logits, k):
    kth = torch.topk(logits, min(k, logits.size(-1)), dim=-1).values[..., -1:]
    return logits.masked_fill(logits <= kth, float("-inf"))
''',
        # Drops the token that crosses the threshold (cumulative mass > p): the kept set has
        # less than p of the mass, and can be empty.
        "top_p": '''
def top_p_filter(logits, p):
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    drop_sorted = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1) > p
    drop = drop_sorted.scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))
''',
        # Each beam keeps only its own best tokens, instead of competing over all B x V.
        "beam_step": '''
def beam_step(beam_scores, next_log_probs, k):
    B = beam_scores.size(0)
    per_beam = max(1, k // B)
    total = beam_scores[:, None] + next_log_probs
    scores, tokens = torch.topk(total, per_beam, dim=-1)
    beams = torch.arange(B)[:, None].expand_as(tokens)
    order = torch.argsort(scores.flatten(), descending=True)[:k]
    return scores.flatten()[order], beams.flatten()[order], tokens.flatten()[order]
''',
    },
    "wrong_2": {
        # Multiplies by the temperature: T > 1 sharpens instead of flattening.
        "temperature": '''
def temperature_probs(logits, temperature):
    return torch.softmax(logits * temperature, dim=-1)
''',
        # Sets removed logits to 0 instead of -inf: they still get probability after softmax.
        "top_k": '''
def top_k_filter(logits, k):
    kth = torch.topk(logits, min(k, logits.size(-1)), dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, 0.0)
''',
        # Accumulates probability in vocabulary order, without sorting first.
        "top_p": '''
def top_p_filter(logits, p):
    probs = torch.softmax(logits, dim=-1)
    mass_before = probs.cumsum(dim=-1) - probs
    return logits.masked_fill(mass_before >= p, float("-inf"))
''',
        # Ignores the beams' scores so far: ranks extensions by the next token alone.
        "beam_step": '''
def beam_step(beam_scores, next_log_probs, k):
    V = next_log_probs.size(-1)
    scores, flat = torch.topk(next_log_probs.flatten(), k)
    return scores, flat // V, flat % V
''',
    },
}


# Whole classes of wrong solution made from the reference (exercise_harness.SPEC_WRAPPERS).
SPEC = {"mutates_inputs": ["temperature", "top_k", "top_p", "beam_step"]}


def test_exercises_07():
    check_assignment(ASSIGNMENT, MISTAKES, spec=SPEC)
