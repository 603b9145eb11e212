"""Chapter 03 exercises, graded by nbgrader: the solutions score full marks, the release
scores zero and leaks nothing, and each realistic wrong solution below loses points on its
own exercise only (see ``exercise_harness.check_assignment``)."""

from exercise_harness import check_assignment

ASSIGNMENT = "03_lstm"

# Each fake student makes one common mistake per exercise; the code replaces the whole
# ``<ex>-solution`` cell.
MISTAKES = {
    "wrong_1": {
        # The source guide's rule 4.3.2: the forget gate on the candidate, 1 - f on the old cell.
        "lstm_step": '''
def lstm_step(x, h, c, W_ih, W_hh, b_ih, b_hh):
    pre = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh
    pre_i, pre_f, pre_g, pre_o = pre.chunk(4, dim=-1)
    f, o = torch.sigmoid(pre_f), torch.sigmoid(pre_o)
    g = torch.tanh(pre_g)
    c = f * g + (1 - f) * c
    h = o * torch.tanh(c)
    return h, c
''',
        # The update gate's roles swapped: z near 1 takes the candidate instead of keeping h.
        "gru_step": '''
def gru_step(x, h, W_ih, W_hh, b_ih, b_hh):
    x_r, x_z, x_n = (x @ W_ih.T + b_ih).chunk(3, dim=-1)
    h_r, h_z, h_n = (h @ W_hh.T + b_hh).chunk(3, dim=-1)
    r = torch.sigmoid(x_r + h_r)
    z = torch.sigmoid(x_z + h_z)
    n = torch.tanh(x_n + r * h_n)
    return z * n + (1 - z) * h
''',
        # Carries h but restarts the cell state from c0 at every step.
        "lstm_layer": '''
def lstm_layer(cell, xs, state=None, batch_first=False):
    if batch_first:
        xs = xs.transpose(0, 1)
    B = xs.shape[1]
    if state is None:
        h0 = xs.new_zeros(B, cell.hidden_size)
        c0 = xs.new_zeros(B, cell.hidden_size)
    else:
        h0, c0 = state[0][0], state[1][0]
    h, outputs = h0, []
    for x in xs:
        h, c = cell(x, (h, c0))
        outputs.append(h)
    outputs = torch.stack(outputs)
    if batch_first:
        outputs = outputs.transpose(0, 1)
    return outputs, (h.unsqueeze(0), c.unsqueeze(0))
''',
    },
    "wrong_2": {
        # The source guide's rule 4.3.1: one coupled input gate interpolating h, no cell update.
        "lstm_step": '''
def lstm_step(x, h, c, W_ih, W_hh, b_ih, b_hh):
    pre = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh
    pre_i, pre_f, pre_g, pre_o = pre.chunk(4, dim=-1)
    i = torch.sigmoid(pre_i)
    h_tilde = torch.tanh(pre_g)
    h = i * h_tilde + (1 - i) * h
    return h, c
''',
        # The original paper's reset placement, W_hn (r * h), instead of PyTorch's r * (W_hn h).
        "gru_step": '''
def gru_step(x, h, W_ih, W_hh, b_ih, b_hh):
    W_hr, W_hz, W_hn = W_hh.chunk(3)
    b_hr, b_hz, b_hn = b_hh.chunk(3)
    x_r, x_z, x_n = (x @ W_ih.T + b_ih).chunk(3, dim=-1)
    r = torch.sigmoid(x_r + h @ W_hr.T + b_hr)
    z = torch.sigmoid(x_z + h @ W_hz.T + b_hz)
    n = torch.tanh(x_n + (r * h) @ W_hn.T + b_hn)
    return (1 - z) * n + z * h
''',
        # Handles batch_first on the way in but forgets to transpose the outputs back.
        "lstm_layer": '''
def lstm_layer(cell, xs, state=None, batch_first=False):
    if batch_first:
        xs = xs.transpose(0, 1)
    B = xs.shape[1]
    if state is None:
        h = xs.new_zeros(B, cell.hidden_size)
        c = xs.new_zeros(B, cell.hidden_size)
    else:
        h, c = state[0][0], state[1][0]
    outputs = []
    for x in xs:
        h, c = cell(x, (h, c))
        outputs.append(h)
    return torch.stack(outputs), (h.unsqueeze(0), c.unsqueeze(0))
''',
    },
    # The "initial values" class: right only while the state or the biases sit at their
    # initial values.
    "initial_values": {
        # Drops the forget gate, c' = c + i g: right while the cell state is its initial zero
        # (or the forget gate is fully open).
        "lstm_step": '''
def lstm_step(x, h, c, W_ih, W_hh, b_ih, b_hh):
    pre = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh
    pre_i, pre_f, pre_g, pre_o = pre.chunk(4, dim=-1)
    i, o = torch.sigmoid(pre_i), torch.sigmoid(pre_o)
    g = torch.tanh(pre_g)
    c = c + i * g
    h = o * torch.tanh(c)
    return h, c
''',
        # Puts the recurrent bias b_hn outside the reset gate, r * (W_hn h) + b_hn: right while
        # the biases are zero.
        "gru_step": '''
def gru_step(x, h, W_ih, W_hh, b_ih, b_hh):
    W_hr, W_hz, W_hn = W_hh.chunk(3)
    b_hr, b_hz, b_hn = b_hh.chunk(3)
    x_r, x_z, x_n = (x @ W_ih.T + b_ih).chunk(3, dim=-1)
    r = torch.sigmoid(x_r + h @ W_hr.T + b_hr)
    z = torch.sigmoid(x_z + h @ W_hz.T + b_hz)
    n = torch.tanh(x_n + r * (h @ W_hn.T) + b_hn)
    return (1 - z) * n + z * h
''',
        # Ignores the state it is given and starts from zeros: right while the state is the
        # default zero.
        "lstm_layer": '''
def lstm_layer(cell, xs, state=None, batch_first=False):
    if batch_first:
        xs = xs.transpose(0, 1)
    B = xs.shape[1]
    h = xs.new_zeros(B, cell.hidden_size)
    c = xs.new_zeros(B, cell.hidden_size)
    outputs = []
    for x in xs:
        h, c = cell(x, (h, c))
        outputs.append(h)
    outputs = torch.stack(outputs)
    if batch_first:
        outputs = outputs.transpose(0, 1)
    return outputs, (h.unsqueeze(0), c.unsqueeze(0))
''',
    },
    # The "size one" class: right when an axis (hidden units, batch) has a single entry.
    "size_one_axis": {
        # Splits the gates with view(B, H, 4), interleaving them: gate k gets units k, k + 4,
        # ... instead of the k-th block of H; right only for H = 1.
        "lstm_step": '''
def lstm_step(x, h, c, W_ih, W_hh, b_ih, b_hh):
    pre = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh
    pre_i, pre_f, pre_g, pre_o = pre.view(pre.shape[0], -1, 4).unbind(-1)
    i, f, o = torch.sigmoid(pre_i), torch.sigmoid(pre_f), torch.sigmoid(pre_o)
    g = torch.tanh(pre_g)
    c = f * c + i * g
    h = o * torch.tanh(c)
    return h, c
''',
        # The same interleaved split for the three GRU blocks: right only for H = 1.
        "gru_step": '''
def gru_step(x, h, W_ih, W_hh, b_ih, b_hh):
    B = x.shape[0]
    x_r, x_z, x_n = (x @ W_ih.T + b_ih).view(B, -1, 3).unbind(-1)
    h_r, h_z, h_n = (h @ W_hh.T + b_hh).view(B, -1, 3).unbind(-1)
    r = torch.sigmoid(x_r + h_r)
    z = torch.sigmoid(x_z + h_z)
    n = torch.tanh(x_n + r * h_n)
    return (1 - z) * n + z * h
''',
        # batch_first handled with reshape instead of a transpose: (B, T, I) -> (T, B, I)
        # mixes examples and steps unless B = 1 or T = 1.
        "lstm_layer": '''
def lstm_layer(cell, xs, state=None, batch_first=False):
    if batch_first:
        xs = xs.reshape(xs.shape[1], xs.shape[0], -1)
    B = xs.shape[1]
    if state is None:
        h = xs.new_zeros(B, cell.hidden_size)
        c = xs.new_zeros(B, cell.hidden_size)
    else:
        h, c = state[0][0], state[1][0]
    outputs = []
    for x in xs:
        h, c = cell(x, (h, c))
        outputs.append(h)
    outputs = torch.stack(outputs)
    if batch_first:
        outputs = outputs.reshape(outputs.shape[1], outputs.shape[0], -1)
    return outputs, (h.unsqueeze(0), c.unsqueeze(0))
''',
    },
}


# Whole classes of wrong solution made from the reference (exercise_harness.SPEC_WRAPPERS);
# "detached" is the gradient class: the hidden tests compare gradients with nn.LSTMCell's,
# nn.GRUCell's and nn.LSTM's.
SPEC = {"mutates_inputs": ["lstm_step", "gru_step", "lstm_layer"],
        "detached": ["lstm_step", "gru_step", "lstm_layer"]}


# Every exercise against every class of hiding input (exercise_harness.INPUT_CLASSES) and of
# spec mistake: the student who makes that mistake there, "spec", or why it cannot occur.
AUDIT = {
    "lstm_step": {
        "initial_values": "initial_values",
        "size_one_axis": "size_one_axis",
        "counts_at_least_one": "n/a: nothing is counted",
        "odd_item_last": "n/a: one step; no example or unit is special",
        "excluded_lowest": "n/a: nothing is scored or excluded",
        "mutates_inputs": "spec",
        "tensor_for_float": "n/a: returns tensors, as promised",
        "detached": "spec",
    },
    "gru_step": {
        "initial_values": "initial_values",
        "size_one_axis": "size_one_axis",
        "counts_at_least_one": "n/a: nothing is counted",
        "odd_item_last": "n/a: one step; no example or unit is special",
        "excluded_lowest": "n/a: nothing is scored or excluded",
        "mutates_inputs": "spec",
        "tensor_for_float": "n/a: returns a tensor, as promised",
        "detached": "spec",
    },
    "lstm_layer": {
        "initial_values": "initial_values",
        "size_one_axis": "size_one_axis",
        "counts_at_least_one": "n/a: nothing is counted",
        "odd_item_last": "n/a: every time step gets the same update; the last one is checked "
                         "as h_n against nn.LSTM for T = 1 to 12",
        "excluded_lowest": "n/a: nothing is scored or excluded",
        "mutates_inputs": "spec",
        "tensor_for_float": "n/a: returns tensors, as promised",
        "detached": "spec",
    },
}


def test_exercises_03():
    check_assignment(ASSIGNMENT, MISTAKES, spec=SPEC, audit=AUDIT)
