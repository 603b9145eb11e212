"""Chapter 06 exercises, graded by nbgrader: the solutions score full marks, the release
scores zero and leaks nothing, and each realistic wrong solution below loses points on its
own exercise only (see ``exercise_harness.check_assignment``)."""

from exercise_harness import check_assignment

ASSIGNMENT = "06_training"

# Each fake student makes one common mistake per exercise; the code replaces the whole
# ``<ex>-solution`` cell.
MISTAKES = {
    "wrong_1": {
        # log(softmax) written naively: exp(1000) overflows to inf and the loss becomes nan.
        "cross_entropy": '''
def cross_entropy(logits, targets):
    probs = torch.exp(logits) / torch.exp(logits).sum(dim=-1, keepdim=True)
    return -torch.log(probs.gather(-1, targets[:, None])).mean()
''',
        # No bias correction: the first steps are scaled by (1 - beta1) / sqrt(1 - beta2).
        "adamw": '''
def adamw_step(p, g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01):
    p = p * (1 - lr * weight_decay)
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    return p - lr * m / (v.sqrt() + eps), m, v
''',
        # The warm-up starts from zero (step / W): the first update does nothing and the
        # ramp reaches max_lr one step late.
        "schedule": '''
def warmup_cosine(step, max_lr, min_lr, warmup_steps, total_steps):
    if step < warmup_steps:
        return max_lr * step / warmup_steps
    if step >= total_steps:
        return min_lr
    r = (step - warmup_steps) / (total_steps - warmup_steps)
    return min_lr + 0.5 * (max_lr - min_lr) * (1 + math.cos(math.pi * r))
''',
        # Clips each tensor on its own: changes the direction of the update.
        "clip": '''
def clip_global_norm(grads, max_norm):
    norm = torch.sqrt(sum((g ** 2).sum() for g in grads))
    return [g * min(1.0, max_norm / float(g.norm())) for g in grads], norm
''',
    },
    "wrong_2": {
        # Forgets the log-sum-exp (the normaliser): -z_y alone is not a log-probability.
        "cross_entropy": '''
def cross_entropy(logits, targets):
    return -logits.gather(-1, targets[:, None]).mean()
''',
        # Weight decay through the gradient (Adam + L2), not decoupled.
        "adamw": '''
def adamw_step(p, g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01):
    g = g + weight_decay * p
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
    return p - lr * m_hat / (v_hat.sqrt() + eps), m, v
''',
        # Cosine over the whole run instead of the part after the warm-up.
        "schedule": '''
def warmup_cosine(step, max_lr, min_lr, warmup_steps, total_steps):
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    if step >= total_steps:
        return min_lr
    r = step / total_steps
    return min_lr + 0.5 * (max_lr - min_lr) * (1 + math.cos(math.pi * r))
''',
        # Always rescales to max_norm, also blowing small gradients up.
        "clip": '''
def clip_global_norm(grads, max_norm):
    norm = torch.sqrt(sum((g ** 2).sum() for g in grads))
    return [g * (max_norm / norm) for g in grads], norm
''',
    },
    # The "initial values" class: right only while the moments sit at their initial zeros.
    "initial_values": {
        # Forgets the running averages (no beta1 * m, no beta2 * v): the moments are the
        # latest gradient's share only, which is right at step 1, when m and v are still 0.
        "adamw": '''
def adamw_step(p, g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01):
    p = p * (1 - lr * weight_decay)
    m = (1 - beta1) * g
    v = (1 - beta2) * g * g
    m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
    return p - lr * m_hat / (v_hat.sqrt() + eps), m, v
''',
    },
    # An axis of size one hides the mistake: right for a batch of one row.
    "size_one_axis": {
        # Picks the target logits with logits[:, targets], an (N, N) block, not one per row:
        # right only when N is 1.
        "cross_entropy": '''
def cross_entropy(logits, targets):
    top = logits.max(dim=-1, keepdim=True).values
    lse = top + torch.log(torch.exp(logits - top).sum(dim=-1, keepdim=True))
    return (lse - logits[:, targets]).mean()
''',
    },
    # A zero count hides behind counts that are all >= 1: no zero-length phase, no zero norm.
    "counts_at_least_one": {
        # Clamps the decay progress instead of a branch for the end: divides by zero when the
        # decay has no steps (warmup_steps == total_steps).
        "schedule": '''
def warmup_cosine(step, max_lr, min_lr, warmup_steps, total_steps):
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    r = min(1.0, (step - warmup_steps) / (total_steps - warmup_steps))
    return min_lr + 0.5 * (max_lr - min_lr) * (1 + math.cos(math.pi * r))
''',
        # Divides by the norm with no guard: ZeroDivisionError when every gradient is zero.
        "clip": '''
def clip_global_norm(grads, max_norm):
    norm = torch.sqrt(sum((g ** 2).sum() for g in grads))
    scale = min(1.0, max_norm / float(norm))
    return [g * scale for g in grads], norm
''',
    },
}


# Whole classes of wrong solution made from the reference (exercise_harness.SPEC_WRAPPERS).
SPEC = {"mutates_inputs": ["cross_entropy", "adamw", "clip"],
        "tensor_for_float": ["schedule"], "detached": ["cross_entropy"]}


# Every exercise against every class of hiding input (exercise_harness.INPUT_CLASSES) and of
# spec mistake: the student who makes that mistake there, "spec", or why it cannot occur.
AUDIT = {
    "cross_entropy": {
        "initial_values": "n/a: a loss of given logits, with no parameters or state",
        "size_one_axis": "size_one_axis",
        "counts_at_least_one": "n/a: nothing is counted",
        "odd_item_last": "n/a: no item is special: every row's target is gathered the same way, "
                         "and the tests use the first, the last and random classes",
        "excluded_lowest": "n/a: no candidate is excluded",
        "mutates_inputs": "spec",
        "tensor_for_float": "n/a: a 0-dim tensor is what is promised (the gradient flows)",
        "detached": "spec",
    },
    "adamw": {
        "initial_values": "initial_values",
        "size_one_axis": "n/a: the update is element by element; no axis is reduced or permuted",
        "counts_at_least_one": "n/a: the step t starts at 1 by the spec; no zero-count branch",
        "odd_item_last": "n/a: element by element; no element or step is special",
        "excluded_lowest": "n/a: nothing is scored or excluded",
        "mutates_inputs": "spec", "tensor_for_float": "n/a: returns tensors, as promised",
        "detached": "n/a: an optimiser step is not differentiated through (AdamW runs under "
                    "no_grad)",
    },
    "schedule": {
        "initial_values": "n/a: a pure function of the step; no parameters or state",
        "size_one_axis": "n/a: numbers in, a number out; no axis",
        "counts_at_least_one": "counts_at_least_one",
        "odd_item_last": "n/a: no sequence of items; each boundary step (first and last of the "
                         "warm-up, start and end of the decay, after the end) is tested",
        "excluded_lowest": "n/a: nothing is scored or excluded",
        "mutates_inputs": "n/a: its inputs are ints and floats",
        "tensor_for_float": "spec",
        "detached": "n/a: returns a Python float; nothing is trained through it",
    },
    "clip": {
        "initial_values": "n/a: a function of the gradients given; no parameters or state",
        "size_one_axis": "wrong_1",  # clips each tensor on its own: right for one tensor
        "counts_at_least_one": "counts_at_least_one",
        "odd_item_last": "n/a: every gradient tensor is treated alike; none is special",
        "excluded_lowest": "n/a: nothing is scored or excluded",
        "mutates_inputs": "spec",
        "tensor_for_float": "n/a: the clipped gradients are tensors, and the spec allows the "
                            "norm as a float or a 0-dim tensor",
        "detached": "n/a: gradients are clipped outside the graph; nothing is differentiated "
                    "through the clipping",
    },
}


def test_exercises_06():
    check_assignment(ASSIGNMENT, MISTAKES, spec=SPEC, audit=AUDIT)
