"""Chapter 04 exercises, graded by nbgrader: the solutions score full marks, the release
scores zero and leaks nothing, and each realistic wrong solution below loses points on its
own exercise only (see ``exercise_harness.check_assignment``)."""

from exercise_harness import check_assignment

ASSIGNMENT = "04_attention"

# Each fake student makes one common mistake per exercise; the code replaces the whole
# ``<ex>-solution`` cell.
MISTAKES = {
    "wrong_1": {
        # Forgets to divide by sqrt(d_k): the softmax saturates as d_k grows.
        "attention": '''
def attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights
''',
        # Off by one: the diagonal is excluded, so a token cannot attend to itself (and the
        # first row is fully masked).
        "causal": '''
def causal_mask(T):
    return torch.ones(T, T, dtype=torch.bool).tril(diagonal=-1)
''',
        # Heads split along the wrong axis: a plain view to (B, H, T, D) without moving the
        # time axis mixes tokens and channels.
        "heads": '''
def split_heads(x, n_head):
    B, T, C = x.shape
    return x.reshape(B, n_head, T, C // n_head)


def merge_heads(x):
    B, H, T, D = x.shape
    return x.reshape(B, T, H * D)
''',
        # Scales by the model width C instead of the head size D.
        "mha": '''
def self_attention(x, w_in, b_in, w_out, b_out, n_head):
    B, T, C = x.shape
    D = C // n_head
    q, k, v = F.linear(x, w_in, b_in).split(C, dim=-1)
    q, k, v = (t.view(B, T, n_head, D).transpose(1, 2) for t in (q, k, v))
    weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(C), dim=-1)
    out = (weights @ v).transpose(1, 2).reshape(B, T, C)
    return F.linear(out, w_out, b_out)
''',
    },
    "wrong_2": {
        # Softmax over the wrong axis: normalises over the queries, not the keys.
        "attention": '''
def attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-2)
    return weights @ v, weights
''',
        # Upper triangle: every query looks at the future and not at the past.
        "causal": '''
def causal_mask(T):
    return torch.ones(T, T, dtype=torch.bool).triu()
''',
        # Interleaved channels: head h gets channels h, h + H, h + 2H, ... (not consecutive).
        "heads": '''
def split_heads(x, n_head):
    B, T, C = x.shape
    return x.view(B, T, C // n_head, n_head).permute(0, 3, 1, 2)


def merge_heads(x):
    B, H, T, D = x.shape
    return x.permute(0, 2, 3, 1).reshape(B, T, H * D)
''',
        # Forgets the output projection.
        "mha": '''
def self_attention(x, w_in, b_in, w_out, b_out, n_head):
    B, T, C = x.shape
    D = C // n_head
    q, k, v = F.linear(x, w_in, b_in).split(C, dim=-1)
    q, k, v = (t.view(B, T, n_head, D).transpose(1, 2) for t in (q, k, v))
    weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(D), dim=-1)
    return (weights @ v).transpose(1, 2).reshape(B, T, C)
''',
    },
    "wrong_3": {
        # Applies the mask after the softmax: masked weights are zeroed, but the rows no
        # longer sum to one (the masked keys still took their share of the normalisation).
        "attention": '''
def attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
    weights = torch.softmax(scores, dim=-1)
    if mask is not None:
        weights = weights.masked_fill(~mask, 0.0)
    return weights @ v, weights
''',
        # A float 0/1 mask instead of a boolean one (F.scaled_dot_product_attention would
        # *add* it to the scores instead of masking).
        "causal": '''
def causal_mask(T):
    return torch.ones(T, T).tril()
''',
        # Takes the q, k, v blocks in the wrong order (k, q, v).
        "mha": '''
def self_attention(x, w_in, b_in, w_out, b_out, n_head):
    B, T, C = x.shape
    D = C // n_head
    k, q, v = F.linear(x, w_in, b_in).split(C, dim=-1)
    q, k, v = (t.view(B, T, n_head, D).transpose(1, 2) for t in (q, k, v))
    weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(D), dim=-1)
    out = (weights @ v).transpose(1, 2).reshape(B, T, C)
    return F.linear(out, w_out, b_out)
''',
    },
    # The "initial values" class: right only while the parameters sit at their initial values.
    "initial_values": {
        # Drops both biases, which nn.MultiheadAttention initialises to zero: equal to the
        # reference until the biases have been trained away from zero.
        "mha": '''
def self_attention(x, w_in, b_in, w_out, b_out, n_head):
    B, T, C = x.shape
    D = C // n_head
    q, k, v = (x @ w_in.T).split(C, dim=-1)
    q, k, v = (t.view(B, T, n_head, D).transpose(1, 2) for t in (q, k, v))
    weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(D), dim=-1)
    out = (weights @ v).transpose(1, 2).reshape(B, T, C)
    return out @ w_out.T
''',
    },
    # An axis of size one hides the mistake: right only for one query (and a batch of one).
    "size_one_axis": {
        # A hand-written softmax that divides by the row sums without keepdim=True: the sums
        # (..., T_q) broadcast against the keys axis, which is right only when T_q is 1.
        "attention": '''
def attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    e = torch.exp(scores - scores.amax(dim=-1, keepdim=True))
    weights = e / e.sum(dim=-1)
    return weights @ v, weights
''',
    },
    # The odd item always last: right only while the masked keys are a tail of padding.
    "odd_item_last": {
        # Reads the mask as a padding length (how many keys are valid) and keeps the first
        # that many keys: right for padding at the end and for a causal mask, wrong for a mask
        # with holes in the middle or at the front.
        "attention": '''
def attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
    if mask is not None:
        n_valid = mask.sum(dim=-1, keepdim=True)
        scores = scores.masked_fill(torch.arange(scores.size(-1)) >= n_valid, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights
''',
    },
    # Excluded keys that score lowest anyway: a finite penalty instead of removing them.
    "excluded_lowest": {
        # Masks with a finite penalty (-1e4, as older libraries did) instead of -inf: the
        # masked keys look excluded while every other score is far above -1e4, but take all
        # the weight when the other scores are lower still.
        "attention": '''
def attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
    if mask is not None:
        scores = scores.masked_fill(~mask, -1e4)
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights
''',
    },
}

# Whole classes of wrong solution made from the reference (exercise_harness.SPEC_WRAPPERS);
# "detached" is the gradient class: the hidden tests compare gradients with PyTorch's.
SPEC = {"mutates_inputs": ["attention", "heads", "mha"],
        "detached": ["attention", "heads", "mha"]}


# Every exercise against every class of hiding input (exercise_harness.INPUT_CLASSES) and of
# spec mistake: the student who makes that mistake there, "spec", or why it cannot occur.
AUDIT = {
    "attention": {
        "initial_values": "n/a: attention has no parameters or state",
        "size_one_axis": "size_one_axis",
        "counts_at_least_one": "n/a: nothing is counted",
        "odd_item_last": "odd_item_last",
        "excluded_lowest": "excluded_lowest",
        "mutates_inputs": "spec", "tensor_for_float": "n/a: returns tensors, as promised",
        "detached": "spec",
    },
    "causal": {
        "initial_values": "n/a: a mask has no parameters",
        "size_one_axis": "wrong_2",  # triu() is tril() transposed: equal for T = 1
        "counts_at_least_one": "n/a: nothing is counted",
        "odd_item_last": "n/a: no entry is special: every entry follows j <= i, and the hidden "
                         "test checks each entry for T = 1, 2, 5 and 17",
        "excluded_lowest": "n/a: builds the mask; nothing is scored",
        "mutates_inputs": "n/a: its only input is an int", "tensor_for_float": "n/a: "
        "returns a tensor, as promised", "detached": "n/a: a boolean mask is not trained",
    },
    "heads": {
        "initial_values": "n/a: a reshape has no parameters",
        "size_one_axis": "wrong_1",  # a view without moving the time axis: equal for T or H = 1
        "counts_at_least_one": "n/a: nothing is counted",
        "odd_item_last": "n/a: every position and head is moved the same way",
        "excluded_lowest": "n/a: nothing is scored or excluded",
        "mutates_inputs": "spec", "tensor_for_float": "n/a: returns tensors, as promised",
        "detached": "spec",
    },
    "mha": {
        "initial_values": "initial_values",
        "size_one_axis": "wrong_1",  # scaled by sqrt(C), not sqrt(D): equal with one head
        "counts_at_least_one": "n/a: nothing is counted",
        "odd_item_last": "n/a: no position is special in self-attention without a mask",
        "excluded_lowest": "n/a: no mask, nothing excluded",
        "mutates_inputs": "spec", "tensor_for_float": "n/a: returns a tensor, as promised",
        "detached": "spec",
    },
}


def test_exercises_04():
    check_assignment(ASSIGNMENT, MISTAKES, spec=SPEC, audit=AUDIT)
