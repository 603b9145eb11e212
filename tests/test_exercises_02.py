"""Chapter 02 exercises, graded by nbgrader: the solutions score full marks, the release
scores zero and leaks nothing, and each realistic wrong solution below loses points on its
own exercise only (see ``exercise_harness.check_assignment``)."""

from exercise_harness import check_assignment

ASSIGNMENT = "02_rnn"

# Each fake student makes one common mistake per exercise; the code replaces the whole
# ``<ex>-solution`` cell.
MISTAKES = {
    "wrong_1": {
        # The source guide's sigmoid as the hidden non-linearity (erratum 3).
        "rnn_step": '''
def rnn_step(x, h, W_ih, W_hh, b_ih, b_hh):
    return torch.sigmoid(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh)
''',
        # The state is not carried: every step starts again from h0.
        "rnn_forward": '''
def rnn_forward(xs, h0, W_ih, W_hh, b_ih, b_hh):
    outputs = []
    for x in xs:
        h = torch.tanh(x @ W_ih.T + b_ih + h0 @ W_hh.T + b_hh)
        outputs.append(h)
    return torch.stack(outputs), outputs[-1]
''',
        # Reads the gradient of the stacked outputs: only the direct part, so every step but
        # the last gets zero (the path through later steps is missed).
        "hidden_grad_norms": '''
def hidden_grad_norms(cell, xs):
    h = torch.zeros(xs.shape[1], cell.hidden_size, dtype=xs.dtype)
    states = []
    for x in xs:
        h = cell(x, h)
        states.append(h)
    stacked = torch.stack(states)
    stacked.retain_grad()
    stacked[-1].sum().backward()
    return torch.stack([g.norm() for g in stacked.grad])
''',
        # Clips each parameter's gradient separately, which changes the update's direction.
        "clip_grad_global_norm": '''
def clip_grad_global_norm(parameters, max_norm):
    grads = [p.grad for p in parameters if p.grad is not None]
    total = torch.sqrt(sum((g ** 2).sum() for g in grads))
    for g in grads:
        n = g.norm()
        if n > max_norm:
            g.mul_(max_norm / (n + 1e-6))
    return total
''',
    },
    "wrong_2": {
        # Forgets the recurrent bias b_hh (the guide's formula has no biases at all).
        "rnn_step": '''
def rnn_step(x, h, W_ih, W_hh, b_ih, b_hh):
    return torch.tanh(x @ W_ih.T + b_ih + h @ W_hh.T)
''',
        # Off by one: stores the state *before* each update, so outputs start with h0 and
        # miss the last state.
        "rnn_forward": '''
def rnn_forward(xs, h0, W_ih, W_hh, b_ih, b_hh):
    h = h0
    outputs = []
    for x in xs:
        outputs.append(h)
        h = torch.tanh(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh)
    return torch.stack(outputs), h
''',
        # Puts the loss on every step (sum of all states) instead of the last one only.
        "hidden_grad_norms": '''
def hidden_grad_norms(cell, xs):
    h = torch.zeros(xs.shape[1], cell.hidden_size, dtype=xs.dtype)
    states = []
    for x in xs:
        h = cell(x, h)
        states.append(h)
    loss = sum(s.sum() for s in states)
    grads = torch.autograd.grad(loss, states)
    return torch.stack([g.norm() for g in grads])
''',
        # Always rescales to max_norm, which also blows small gradients up.
        "clip_grad_global_norm": '''
def clip_grad_global_norm(parameters, max_norm):
    grads = [p.grad for p in parameters if p.grad is not None]
    total = torch.sqrt(sum((g ** 2).sum() for g in grads))
    for g in grads:
        g.mul_(max_norm / (total + 1e-6))
    return total
''',
    },
}


# Whole classes of wrong solution made from the reference (exercise_harness.SPEC_WRAPPERS);
# "detached" is the gradient class (the hidden tests backpropagate to x and h0). The clipping
# exercise changes the gradients in place by design, so it is not in "mutates_inputs".
SPEC = {"mutates_inputs": ["rnn_step", "rnn_forward"], "detached": ["rnn_step", "rnn_forward"]}


def test_exercises_02():
    check_assignment(ASSIGNMENT, MISTAKES, spec=SPEC)
