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
        # Normalises with F.layer_norm and no affine, skipping the modules' own weight and bias:
        # the same as ln_1(x) while LayerNorm's weight is 1 and its bias 0.
        "pre_ln": '''
def pre_ln_block(x, ln_1, attn, ln_2, mlp):
    C = x.shape[-1]
    x = x + attn(F.layer_norm(x, (C,)))
    return x + mlp(F.layer_norm(x, (C,)))
''',
    },
}

# Whole classes of wrong solution made from the reference (exercise_harness.SPEC_WRAPPERS);
# "detached" is the gradient class: the hidden tests compare gradients with PyTorch's.
SPEC = {"mutates_inputs": ["layer_norm", "pre_ln"], "detached": ["layer_norm", "pre_ln"]}


def test_exercises_05():
    check_assignment(ASSIGNMENT, MISTAKES, spec=SPEC)
