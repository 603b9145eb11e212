"""Chapter 05 exercises, graded by nbgrader: the solutions score full marks, the release
scores zero and leaks nothing, and each realistic wrong solution below loses points on its
own exercise only (see ``exercise_harness.check_assignment``)."""

from exercise_harness import check_assignment

ASSIGNMENT = "05_transformer"

# Each fake student makes one common mistake per exercise; the code replaces the whole
# ``<ex>-solution`` cell.
MISTAKES = {
    "wrong_1": {
        # Uses the channel index i instead of 2i in the exponent: the frequencies fall off
        # half as fast as they should.
        "sinusoidal": '''
def sinusoidal_encoding(n_positions, d_model):
    pos = torch.arange(n_positions, dtype=torch.float64)[:, None]
    i = torch.arange(d_model // 2, dtype=torch.float64)
    angle = pos / 10000 ** (i / d_model)
    table = torch.zeros(n_positions, d_model, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angle)
    table[:, 1::2] = torch.cos(angle)
    return table.float()
''',
        # torch.var is unbiased by default (divides by C - 1), LayerNorm's variance is not.
        "layer_norm": '''
def layer_norm(x, weight, bias, eps=1e-5):
    mean = x.mean(dim=-1, keepdim=True)
    var = x.var(dim=-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * weight + bias
''',
        # Post-LN where pre-LN was asked: LayerNorm after the residual add.
        "pre_ln": '''
def pre_ln_block(x, ln_1, attn, ln_2, mlp):
    x = ln_1(x + attn(x))
    x = ln_2(x + mlp(x))
    return x
''',
        # Counts the tied output head a second time.
        "gpt_params": '''
def gpt_parameter_count(vocab_size, block_size, n_layer, n_embd, tied=True):
    C = n_embd
    per_block = 4 * C + (3 * C * C + 3 * C) + (C * C + C) + (C * 4 * C + 4 * C) + (4 * C * C + C)
    return 2 * vocab_size * C + block_size * C + n_layer * per_block + 2 * C
''',
    },
    "wrong_2": {
        # Sine and cosine swapped (cosines in the even channels).
        "sinusoidal": '''
def sinusoidal_encoding(n_positions, d_model):
    pos = torch.arange(n_positions, dtype=torch.float64)[:, None]
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)
    angle = pos / 10000 ** (two_i / d_model)
    table = torch.zeros(n_positions, d_model, dtype=torch.float64)
    table[:, 0::2] = torch.cos(angle)
    table[:, 1::2] = torch.sin(angle)
    return table.float()
''',
        # Normalises over the wrong axis (the batch, as BatchNorm would).
        "layer_norm": '''
def layer_norm(x, weight, bias, eps=1e-5):
    mean = x.mean(dim=0, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=0, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * weight + bias
''',
        # Normalises the residual stream itself: the stream carries LN(x), not x.
        "pre_ln": '''
def pre_ln_block(x, ln_1, attn, ln_2, mlp):
    x = ln_1(x)
    x = x + attn(x)
    x = ln_2(x)
    x = x + mlp(x)
    return x
''',
        # Forgets the biases of the Linear layers.
        "gpt_params": '''
def gpt_parameter_count(vocab_size, block_size, n_layer, n_embd, tied=True):
    C = n_embd
    per_block = 4 * C + 3 * C * C + C * C + C * 4 * C + 4 * C * C
    total = vocab_size * C + block_size * C + n_layer * per_block + 2 * C
    return total + (0 if tied else vocab_size * C)
''',
    },
    "wrong_3": {
        # Sines in the first half of the channels, cosines in the second (a real variant,
        # but not the interleaved layout asked for).
        "sinusoidal": '''
def sinusoidal_encoding(n_positions, d_model):
    pos = torch.arange(n_positions, dtype=torch.float64)[:, None]
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)
    angle = pos / 10000 ** (two_i / d_model)
    return torch.cat([torch.sin(angle), torch.cos(angle)], dim=-1).float()
''',
        # Epsilon outside the square root.
        "layer_norm": '''
def layer_norm(x, weight, bias, eps=1e-5):
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
    return (x - mean) / (torch.sqrt(var) + eps) * weight + bias
''',
        # Forgets the residual connection around the MLP.
        "pre_ln": '''
def pre_ln_block(x, ln_1, attn, ln_2, mlp):
    x = x + attn(ln_1(x))
    return mlp(ln_2(x))
''',
        # MLP hidden width C instead of 4C.
        "gpt_params": '''
def gpt_parameter_count(vocab_size, block_size, n_layer, n_embd, tied=True):
    C = n_embd
    per_block = 4 * C + (3 * C * C + 3 * C) + (C * C + C) + (C * C + C) + (C * C + C)
    total = vocab_size * C + block_size * C + n_layer * per_block + 2 * C
    return total + (0 if tied else vocab_size * C)
''',
    },
    # The "initial values" class: right only while the parameters sit at their initial values.
    "initial_values": {
        # Forgets the affine step (scale by weight, shift by bias): the same as the reference
        # while the weight is 1 and the bias 0, as nn.LayerNorm initialises them.
        "layer_norm": '''
def layer_norm(x, weight, bias, eps=1e-5):
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps)
''',
        # Normalises with F.layer_norm and no affine, skipping the modules' own weight and bias:
        # the same as ln_1(x) while LayerNorm's weight is 1 and its bias 0.
        "pre_ln": '''
def pre_ln_block(x, ln_1, attn, ln_2, mlp):
    C = x.shape[-1]
    x = x + attn(F.layer_norm(x, (C,)))
    return x + mlp(F.layer_norm(x, (C,)))
''',
    },
    # An axis of size one hides the mistake: right for a single row, or a single layer.
    "size_one_axis": {
        # Mean and variance over the whole tensor (no dim=): right only when x is one row.
        "layer_norm": '''
def layer_norm(x, weight, bias, eps=1e-5):
    mean = x.mean()
    var = ((x - mean) ** 2).mean()
    return (x - mean) / torch.sqrt(var + eps) * weight + bias
''',
        # Counts the final LayerNorm inside every block: right only for a 1-layer model.
        "gpt_params": '''
def gpt_parameter_count(vocab_size, block_size, n_layer, n_embd, tied=True):
    C = n_embd
    per_block = 4 * C + (3 * C * C + 3 * C) + (C * C + C) + (C * 4 * C + 4 * C) + (4 * C * C + C)
    total = vocab_size * C + block_size * C + n_layer * (per_block + 2 * C)
    return total + (0 if tied else vocab_size * C)
''',
    },
}

# Whole classes of wrong solution made from the reference (exercise_harness.SPEC_WRAPPERS);
# "detached" is the gradient class: the hidden tests compare gradients with PyTorch's.
SPEC = {"mutates_inputs": ["layer_norm", "pre_ln"], "detached": ["layer_norm", "pre_ln"]}


# Every exercise against every class of hiding input (exercise_harness.INPUT_CLASSES) and of
# spec mistake: the student who makes that mistake there, "spec", or why it cannot occur.
AUDIT = {
    "sinusoidal": {
        "initial_values": "n/a: a fixed table made from two ints, with no parameters or state",
        "size_one_axis": "wrong_3",  # sines then cosines: equal to interleaved for d_model = 2
        "counts_at_least_one": "n/a: nothing is counted",
        "odd_item_last": "n/a: every position and channel follows one formula, and the hidden "
                         "test compares whole tables, position 0 to the last",
        "excluded_lowest": "n/a: nothing is scored or excluded",
        "mutates_inputs": "n/a: its only inputs are two ints",
        "tensor_for_float": "n/a: returns a tensor, as promised",
        "detached": "n/a: a fixed table with no inputs to differentiate",
    },
    "layer_norm": {
        "initial_values": "initial_values",
        "size_one_axis": "size_one_axis",
        "counts_at_least_one": "n/a: nothing is counted",
        "odd_item_last": "n/a: every row is normalised the same way; no row or channel is special",
        "excluded_lowest": "n/a: nothing is scored or excluded",
        "mutates_inputs": "spec", "tensor_for_float": "n/a: returns a tensor, as promised",
        "detached": "spec",
    },
    "pre_ln": {
        "initial_values": "initial_values",
        "size_one_axis": "n/a: the block only adds the outputs of the modules it is given, "
                         "element by element; it reduces or permutes no axis itself",
        "counts_at_least_one": "n/a: nothing is counted",
        "odd_item_last": "n/a: every position goes through the same modules; none is special",
        "excluded_lowest": "n/a: nothing is scored or excluded",
        "mutates_inputs": "spec", "tensor_for_float": "n/a: returns a tensor, as promised",
        "detached": "spec",
    },
    "gpt_params": {
        "initial_values": "n/a: a formula of ints; no parameters or state",
        "size_one_axis": "size_one_axis",
        "counts_at_least_one": "n/a: counts parameters by formula; there is no zero-count branch",
        "odd_item_last": "n/a: no sequence of items; a sum of per-part counts",
        "excluded_lowest": "n/a: nothing is scored or excluded",
        "mutates_inputs": "n/a: its inputs are ints and a bool",
        "tensor_for_float": "n/a: returns an int, which the visible test checks with isinstance",
        "detached": "n/a: counts parameters; no tensor is computed",
    },
}


def test_exercises_05():
    check_assignment(ASSIGNMENT, MISTAKES, spec=SPEC, audit=AUDIT)
