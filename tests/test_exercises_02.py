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
    # The "initial values" class: right only while the state sits at its initial value.
    "initial_values": {
        # Ignores the h0 it is given and starts from zeros: right while h0 is the usual zero.
        "rnn_forward": '''
def rnn_forward(xs, h0, W_ih, W_hh, b_ih, b_hh):
    h = torch.zeros_like(h0)
    outputs = []
    for x in xs:
        h = torch.tanh(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh)
        outputs.append(h)
    return torch.stack(outputs), h
''',
    },
    # The "size one" class: right when the batch has a single example.
    "size_one_axis": {
        # The textbook's column vectors W x + b, turned back with reshape instead of a
        # transpose: (H, B) -> (B, H) mixes examples and units unless B = 1.
        "rnn_step": '''
def rnn_step(x, h, W_ih, W_hh, b_ih, b_hh):
    B = x.shape[0]
    z = W_ih @ x.T + b_ih[:, None] + W_hh @ h.T + b_hh[:, None]
    return torch.tanh(z).reshape(B, -1)
''',
        # Averages the per-example norms over the batch instead of taking the norm of the
        # whole (B, H) gradient: right for B = 1.
        "hidden_grad_norms": '''
def hidden_grad_norms(cell, xs):
    h = torch.zeros(xs.shape[1], cell.hidden_size, dtype=xs.dtype)
    states = []
    for x in xs:
        h = cell(x, h)
        states.append(h)
    grads = torch.autograd.grad(states[-1].sum(), states)
    return torch.stack([g.norm(dim=-1).mean() for g in grads])
''',
    },
    # The "counts >= 1" class: right while every parameter has a gradient.
    "counts_at_least_one": {
        # Skips parameters without a gradient when measuring the norm but not when scaling:
        # crashes on p.grad = None whenever it clips.
        "clip_grad_global_norm": '''
def clip_grad_global_norm(parameters, max_norm):
    grads = [p.grad for p in parameters if p.grad is not None]
    total = torch.sqrt(sum((g.detach() ** 2).sum() for g in grads))
    if total > max_norm:
        scale = max_norm / (total + 1e-6)
        for p in parameters:
            p.grad.mul_(scale)
    return total
''',
    },
    # The "odd item last" class: right while the parameter without a gradient comes last.
    "odd_item_last": {
        # break instead of continue at a parameter without a gradient: every parameter after
        # it is left out of the norm and of the clipping.
        "clip_grad_global_norm": '''
def clip_grad_global_norm(parameters, max_norm):
    grads = []
    for p in parameters:
        if p.grad is None:
            break
        grads.append(p.grad)
    total = torch.sqrt(sum((g.detach() ** 2).sum() for g in grads))
    if total > max_norm:
        scale = max_norm / (total + 1e-6)
        for g in grads:
            g.mul_(scale)
    return total
''',
    },
}


# Whole classes of wrong solution made from the reference (exercise_harness.SPEC_WRAPPERS);
# "detached" is the gradient class (the hidden tests backpropagate to x and h0). The clipping
# exercise changes the gradients in place by design, so it is not in "mutates_inputs".
SPEC = {"mutates_inputs": ["rnn_step", "rnn_forward", "hidden_grad_norms"],
        "detached": ["rnn_step", "rnn_forward"]}


# Every exercise against every class of hiding input (exercise_harness.INPUT_CLASSES) and of
# spec mistake: the student who makes that mistake there, "spec", or why it cannot occur.
AUDIT = {
    "rnn_step": {
        "initial_values": "wrong_2",  # forgetting b_hh is right while b_hh is zero
        "size_one_axis": "size_one_axis",
        "counts_at_least_one": "n/a: nothing is counted",
        "odd_item_last": "n/a: one step; no example or unit is special",
        "excluded_lowest": "n/a: nothing is scored or excluded",
        "mutates_inputs": "spec",
        "tensor_for_float": "n/a: returns a tensor, as promised",
        "detached": "spec",
    },
    "rnn_forward": {
        "initial_values": "initial_values",
        "size_one_axis": "wrong_1",  # not carrying the state is right for T = 1
        "counts_at_least_one": "n/a: nothing is counted",
        "odd_item_last": "n/a: every time step gets the same update; no item is special",
        "excluded_lowest": "n/a: nothing is scored or excluded",
        "mutates_inputs": "spec",
        "tensor_for_float": "n/a: returns tensors, as promised",
        "detached": "spec",
    },
    "hidden_grad_norms": {
        "initial_values": "n/a: runs the given cell from the zero state the exercise fixes; "
                          "it adds no term of its own that a parameter value could hide",
        "size_one_axis": "size_one_axis",
        "counts_at_least_one": "n/a: nothing is counted",
        "odd_item_last": "n/a: the loss sits on the last state by definition; all T states "
                         "are treated alike",
        "excluded_lowest": "n/a: nothing is scored or excluded",
        "mutates_inputs": "spec",
        "tensor_for_float": "n/a: returns a (T,) tensor, as promised",
        "detached": "n/a: returns gradient norms to look at; nothing is trained through them",
    },
    "clip_grad_global_norm": {
        "initial_values": "n/a: no parameters or state of its own; it scales the gradients "
                          "it is given",
        "size_one_axis": "wrong_1",  # clipping each gradient alone is right for one parameter
        "counts_at_least_one": "counts_at_least_one",
        "odd_item_last": "odd_item_last",
        "excluded_lowest": "n/a: nothing is scored or excluded",
        "mutates_inputs": "n/a: scaling the caller's gradients in place is the exercise; its "
                          "other inputs are leaf parameters and a float",
        "tensor_for_float": "n/a: returns the norm as a tensor, like clip_grad_norm_ "
                            "(the visible test asks for a tensor)",
        "detached": "n/a: clipping acts on gradients outside autograd; nothing is trained "
                    "through its result",
    },
}


def test_exercises_02():
    check_assignment(ASSIGNMENT, MISTAKES, spec=SPEC, audit=AUDIT)
