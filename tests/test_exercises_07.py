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
    # An axis of size one hides the mistake: right for a single row of logits.
    "size_one_axis": {
        # Softmax over the first axis: right only for one 1-D row of logits.
        "temperature": '''
def temperature_probs(logits, temperature):
    return torch.softmax(logits / temperature, dim=0)
''',
        # Drops the kept axis of the k-th value ([..., -1], not [..., -1:]): it broadcasts
        # against the vocabulary axis, which is right only for one 1-D row.
        "top_k": '''
def top_k_filter(logits, k):
    kth = torch.topk(logits, min(k, logits.size(-1)), dim=-1).values[..., -1]
    return logits.masked_fill(logits < kth, float("-inf"))
''',
        # One cut-off for the whole batch: counts the tokens to keep over every row at once
        # (.sum() with no dim), which is right only for a single row.
        "top_p": '''
def top_p_filter(logits, p):
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = torch.softmax(sorted_logits, dim=-1)
    n_keep = int((probs.cumsum(dim=-1) - probs < p).sum())
    keep = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, order[..., :n_keep], True)
    return logits.masked_fill(~keep, float("-inf"))
''',
    },
    # The odd item always in the same place: right while the first beam holds every winner.
    "odd_item_last": {
        # Takes each beam's k best and keeps the first k in beam order, without ranking them
        # across beams: right only when beam 0 holds all k best extensions.
        "beam_step": '''
def beam_step(beam_scores, next_log_probs, k):
    B = beam_scores.size(0)
    total = beam_scores[:, None] + next_log_probs
    scores, tokens = torch.topk(total, min(k, total.size(-1)), dim=-1)
    beams = torch.arange(B)[:, None].expand_as(tokens)
    return scores.flatten()[:k], beams.flatten()[:k], tokens.flatten()[:k]
''',
    },
    # Removed candidates that score lowest anyway: a finite penalty instead of -inf.
    "excluded_lowest": {
        # Pushes removed tokens down to -1e4 instead of -inf: they look removed while the kept
        # logits are far above -1e4, but they still get probability when the kept ones are
        # lower, and a caller's isinf() test no longer finds them.
        "top_p": '''
def top_p_filter(logits, p):
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = torch.softmax(sorted_logits, dim=-1)
    drop_sorted = probs.cumsum(dim=-1) - probs >= p
    drop = drop_sorted.scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, -1e4)
''',
    },
    # A tie the random tests never hit: drops a token only when the mass ranked above it is
    # strictly more than p, so with exactly p above it a token too many is kept.
    "tie_at_p": {
        "top_p": '''
def top_p_filter(logits, p):
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = torch.softmax(sorted_logits, dim=-1)
    drop_sorted = probs.cumsum(dim=-1) - probs > p
    drop = drop_sorted.scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))
''',
    },
}


# Whole classes of wrong solution made from the reference (exercise_harness.SPEC_WRAPPERS).
SPEC = {"mutates_inputs": ["temperature", "top_k", "top_p", "beam_step"]}


# Every exercise against every class of hiding input (exercise_harness.INPUT_CLASSES) and of
# spec mistake: the student who makes that mistake there, "spec", or why it cannot occur.
AUDIT = {
    "temperature": {
        "initial_values": "n/a: a function of the logits given; no parameters or state",
        "size_one_axis": "size_one_axis",
        "counts_at_least_one": "n/a: nothing is counted",
        "odd_item_last": "n/a: every token is scaled the same way; none is special",
        "excluded_lowest": "n/a: no token is excluded; every token keeps some probability",
        "mutates_inputs": "spec", "tensor_for_float": "n/a: returns a tensor, as promised",
        "detached": "n/a: a sampling distribution; nothing is trained through it",
    },
    "top_k": {
        "initial_values": "n/a: a function of the logits given; no parameters or state",
        "size_one_axis": "size_one_axis",
        "counts_at_least_one": "n/a: nothing is counted; k = 1 and k above the vocabulary "
                               "size are both tested",
        "odd_item_last": "n/a: tokens are kept by value, not by position; the rows are random "
                         "and the ties sit in the middle",
        "excluded_lowest": "wrong_2",  # removed logits set to 0: right while the kept are high
        "mutates_inputs": "spec", "tensor_for_float": "n/a: returns a tensor, as promised",
        "detached": "n/a: a sampling filter; nothing is trained through it",
    },
    "top_p": {
        "initial_values": "n/a: a function of the logits given; no parameters or state",
        "size_one_axis": "size_one_axis",
        "counts_at_least_one": "n/a: nothing is counted",
        "odd_item_last": "n/a: tokens are kept by probability, not position; the visible test "
                         "puts the top token second and the hidden rows are random",
        "excluded_lowest": "excluded_lowest",
        "mutates_inputs": "spec", "tensor_for_float": "n/a: returns a tensor, as promised",
        "detached": "n/a: a sampling filter; nothing is trained through it",
    },
    "beam_step": {
        "initial_values": "wrong_2",  # ignores the beam scores: right while they are all 0
        "size_one_axis": "wrong_1",  # per-beam top-k: right with one beam
        "counts_at_least_one": "n/a: nothing is counted",
        "odd_item_last": "odd_item_last",
        "excluded_lowest": "n/a: no candidate is excluded; all B x V extensions compete",
        "mutates_inputs": "spec",
        "tensor_for_float": "n/a: returns tensors of scores and indices, as promised",
        "detached": "n/a: a search step over fixed scores; nothing is trained through it",
    },
}


def test_exercises_07():
    check_assignment(ASSIGNMENT, MISTAKES, spec=SPEC, audit=AUDIT)
