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
}


# Whole classes of wrong solution made from the reference (exercise_harness.SPEC_WRAPPERS).
SPEC = {"mutates_inputs": ["cross_entropy", "adamw", "clip"],
        "tensor_for_float": ["schedule"], "detached": ["cross_entropy"]}


def test_exercises_06():
    check_assignment(ASSIGNMENT, MISTAKES, spec=SPEC)
