"""lm_course.rnn against PyTorch's nn.RNN / nn.GRU / nn.LSTM (and their cells) in float64:
outputs, final states and gradients; the language model; truncated-BPTT helpers; errors."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lm_course.rnn import (
    GRU,
    LSTM,
    RNN,
    GRUCell,
    LSTMCell,
    Recurrent,
    RNNCell,
    RNNLanguageModel,
    RNNLMConfig,
    bptt_grad_norms,
    detach_state,
    stream_batches,
)

KINDS = {  # name -> (PyTorch sequence module, extra kwargs)
    "rnn_tanh": (nn.RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": (nn.RNN, {"nonlinearity": "relu"}),
    "gru": (nn.GRU, {}),
    "lstm": (nn.LSTM, {}),
}
CELLS = {
    "rnn_tanh": (nn.RNNCell, RNNCell, {"nonlinearity": "tanh"}),
    "rnn_relu": (nn.RNNCell, RNNCell, {"nonlinearity": "relu"}),
    "gru": (nn.GRUCell, GRUCell, {}),
    "lstm": (nn.LSTMCell, LSTMCell, {}),
}
I, H, B, T = 3, 5, 4, 6


def _as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


def _close(a, b, what):
    assert a.shape == b.shape, f"{what}: shape {tuple(a.shape)} != {tuple(b.shape)}"
    torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12, msg=f"{what} differs")


def _random_like_state(kind, *shape, gen):
    h = torch.randn(*shape, generator=gen, dtype=torch.float64)
    if kind == "lstm":
        return (h.requires_grad_(), torch.randn(*shape, generator=gen,
                                                dtype=torch.float64).requires_grad_())
    return h.requires_grad_()


def _loss(output, state, gen):
    """A loss that reaches every output and every final state with different weights."""
    loss = (output * torch.randn(output.shape, generator=gen, dtype=output.dtype)).sum()
    for s in _as_tuple(state):
        loss = loss + (s * torch.randn(s.shape, generator=gen, dtype=s.dtype)).sum()
    return loss


# ----------------------------------------------------------------------------- sequence modules


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("with_state", [False, True])
def test_sequence_matches_torch(kind, num_layers, batch_first, with_state):
    torch.manual_seed(0)
    torch_cls, extra = KINDS[kind]
    ref = torch_cls(I, H, num_layers, batch_first=batch_first, **extra).double()
    ours = Recurrent.from_torch(ref)
    assert isinstance(ours, {nn.RNN: RNN, nn.GRU: GRU, nn.LSTM: LSTM}[torch_cls])
    assert ours.batch_first == batch_first and ours.num_layers == num_layers

    gen = torch.Generator().manual_seed(1)
    shape = (B, T, I) if batch_first else (T, B, I)
    x_ref = torch.randn(shape, generator=gen, dtype=torch.float64).requires_grad_()
    x_ours = x_ref.detach().clone().requires_grad_()
    s_ref = _random_like_state(kind, num_layers, B, H, gen=gen) if with_state else None
    s_ours = None
    if with_state:
        s_ours = tuple(s.detach().clone().requires_grad_() for s in _as_tuple(s_ref))
        s_ours = s_ours if kind == "lstm" else s_ours[0]

    out_ref, fin_ref = ref(x_ref, s_ref)
    out_ours, fin_ours = ours(x_ours, s_ours)
    _close(out_ours, out_ref, "output")
    for a, b in zip(_as_tuple(fin_ours), _as_tuple(fin_ref), strict=True):
        _close(a, b, "final state")

    seed = torch.Generator().manual_seed(2)
    _loss(out_ref, fin_ref, seed).backward()
    seed = torch.Generator().manual_seed(2)
    _loss(out_ours, fin_ours, seed).backward()
    _close(x_ours.grad, x_ref.grad, "input gradient")
    if with_state:
        for a, b in zip(_as_tuple(s_ours), _as_tuple(s_ref), strict=True):
            _close(a.grad, b.grad, "initial-state gradient")
    theirs = dict(ref.named_parameters())
    names = list(ours._torch_names())
    assert len(names) == len(theirs) == 4 * num_layers
    for name, p in names:
        _close(p.grad, theirs[name].grad, f"gradient of {name}")


@pytest.mark.parametrize("kind", list(KINDS))
def test_unbatched_and_no_bias_match_torch(kind):
    torch.manual_seed(0)
    torch_cls, extra = KINDS[kind]
    ref = torch_cls(I, H, 2, bias=False, **extra).double()
    ours = Recurrent.from_torch(ref)
    assert all(c.bias_ih is None and c.bias_hh is None for c in ours.cells)
    x = torch.randn(T, I, dtype=torch.float64)                       # unbatched (T, I)
    out_ref, fin_ref = ref(x)
    out_ours, fin_ours = ours(x)
    _close(out_ours, out_ref, "unbatched output")
    for a, b in zip(_as_tuple(fin_ours), _as_tuple(fin_ref), strict=True):
        _close(a, b, "unbatched final state")
    state = tuple(torch.randn(2, H, dtype=torch.float64) for _ in _as_tuple(fin_ref))
    state = state if kind == "lstm" else state[0]
    _close(ours(x, state)[0], ref(x, state)[0], "unbatched output from a given state")


@pytest.mark.parametrize("kind", list(KINDS))
def test_to_torch_round_trip(kind):
    torch.manual_seed(0)
    _, extra = KINDS[kind]
    cell = {"rnn_tanh": "rnn", "rnn_relu": "rnn"}.get(kind, kind)
    ours = Recurrent(cell, I, H, 2, batch_first=True, **extra).double()
    ref = ours.to_torch()
    assert ref.batch_first and ref.num_layers == 2 and ref.weight_ih_l0.dtype == torch.float64
    x = torch.randn(B, T, I, dtype=torch.float64)
    _close(ours(x)[0], ref(x)[0], "output after to_torch")
    state_keys = set(ref.state_dict())
    assert state_keys == {name for name, _ in ours._torch_names()}


def test_dropout_between_layers_matches_torch_in_eval_and_acts_in_train():
    torch.manual_seed(0)
    ref = nn.LSTM(I, H, 3, dropout=0.5).double()
    ours = Recurrent.from_torch(ref)
    assert ours.dropout == 0.5
    x = torch.randn(T, B, I, dtype=torch.float64)
    ours.eval()
    ref.eval()
    _close(ours(x)[0], ref(x)[0], "eval-mode output with dropout")
    ours.train()
    torch.manual_seed(3)
    a = ours(x)[0]
    torch.manual_seed(4)
    b = ours(x)[0]
    assert not torch.allclose(a, b), "dropout between layers had no effect in training mode"


def test_initialisation_follows_pytorch():
    torch.manual_seed(0)
    lstm = LSTM(10, 400)
    bound = 1 / math.sqrt(400)
    for p in lstm.parameters():
        assert p.abs().max() <= bound
        assert p.abs().max() > 0.95 * bound                      # uniform over the whole range
    assert lstm.cells[0].weight_ih.shape == (1600, 10)
    assert lstm.cells[0].weight_hh.shape == (1600, 400)
    assert GRU(10, 7).cells[0].weight_hh.shape == (21, 7)


# ----------------------------------------------------------------------------- cells


@pytest.mark.parametrize("kind", list(CELLS))
@pytest.mark.parametrize("bias", [True, False])
def test_cell_matches_torch_cell(kind, bias):
    torch.manual_seed(0)
    torch_cls, our_cls, extra = CELLS[kind]
    ref = torch_cls(I, H, bias=bias, **extra).double()
    ours = our_cls(I, H, bias=bias, **extra).double()
    ours.load_state_dict(ref.state_dict())                        # same parameter names
    x = torch.randn(B, I, dtype=torch.float64, requires_grad=True)
    x2 = x.detach().clone().requires_grad_()
    state = tuple(torch.randn(B, H, dtype=torch.float64) for _ in range(ours.n_states))
    state = state if kind == "lstm" else state[0]
    new_ref, new_ours = ref(x, state), ours(x2, state)
    for a, b in zip(_as_tuple(new_ours), _as_tuple(new_ref), strict=True):
        _close(a, b, "cell output")
    sum(s.sum() * (k + 1) for k, s in enumerate(_as_tuple(new_ref))).backward()
    sum(s.sum() * (k + 1) for k, s in enumerate(_as_tuple(new_ours))).backward()
    _close(x2.grad, x.grad, "cell input gradient")
    for (name, p), q in zip(ours.named_parameters(), ref.parameters(), strict=True):
        _close(p.grad, q.grad, f"cell gradient of {name}")
    # unbatched input and the default zero state
    xu = torch.randn(I, dtype=torch.float64)
    for a, b in zip(_as_tuple(ours(xu)), _as_tuple(ref(xu)), strict=True):
        assert a.shape == (H,)
        _close(a, b, "unbatched cell output")


def test_lstm_gates_and_update_rule():
    torch.manual_seed(0)
    cell = LSTMCell(I, H).double()
    x, h, c = (torch.randn(B, n, dtype=torch.float64) for n in (I, H, H))
    i, f, g, o = cell.gates(x, h)
    for gate in (i, f, o):
        assert gate.shape == (B, H) and 0 < gate.min() and gate.max() < 1
    assert g.min() > -1 and g.max() < 1
    h2, c2 = cell(x, (h, c))
    _close(c2, f * c + i * g, "cell state")
    _close(h2, o * torch.tanh(c2), "hidden state")
    # the guide's rule (forget gate on the candidate) is a different function
    assert not torch.allclose(c2, f * g + (1 - f) * c)


def test_sigmoid_rnn_cell_is_the_formula():
    torch.manual_seed(0)
    cell = RNNCell(I, H, nonlinearity="sigmoid").double()
    x, h = torch.randn(B, I, dtype=torch.float64), torch.randn(B, H, dtype=torch.float64)
    expected = torch.sigmoid(x @ cell.weight_ih.T + cell.bias_ih + h @ cell.weight_hh.T
                             + cell.bias_hh)
    _close(cell(x, h), expected, "sigmoid RNN step")
    with pytest.raises(ValueError, match="nonlinearity"):
        RNNCell(I, H, nonlinearity="gelu")


def test_custom_cell_class_runs_in_the_wrapper():
    class Coupled(LSTMCell):  # a variant: the forget gate moved onto the candidate
        def step(self, x, state):
            h, c = state
            i, f, g, o = self.gates(x, h)
            c = f * g + (1 - f) * c
            return o * torch.tanh(c), c

    torch.manual_seed(0)
    ours = Recurrent(Coupled, I, H, 2, batch_first=True).double()
    ref = LSTM(I, H, 2, batch_first=True).double()
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(B, T, I, dtype=torch.float64)
    out, (h, c) = ours(x)
    assert out.shape == (B, T, H) and h.shape == c.shape == (2, B, H)
    assert not torch.allclose(out, ref(x)[0])
    with pytest.raises(TypeError, match="no PyTorch equivalent"):
        ours.to_torch()


# ----------------------------------------------------------------------------- errors


def test_bad_input_gives_clear_errors():
    lstm, gru, cell = LSTM(I, H), GRU(I, H, num_layers=2), LSTMCell(I, H)
    with pytest.raises(ValueError, match="input_size=3"):
        lstm(torch.randn(T, B, I + 1))
    with pytest.raises(TypeError, match="floating-point"):
        lstm(torch.ones(T, B, I, dtype=torch.long))
    with pytest.raises(ValueError, match="dimensions"):
        lstm(torch.randn(T, B, 1, I))
    with pytest.raises(TypeError, match="dtype"):
        lstm(torch.randn(T, B, I, dtype=torch.float64))
    with pytest.raises(ValueError, match="at least one time step"):
        lstm(torch.randn(0, B, I))
    with pytest.raises(ValueError, match=r"h0 must have shape \(2, 4, 5\)"):
        gru(torch.randn(T, B, I), torch.zeros(1, B, H))
    with pytest.raises(TypeError, match="pair"):
        lstm(torch.randn(T, B, I), torch.zeros(1, B, H))
    with pytest.raises(ValueError, match="c0 must have shape"):
        lstm(torch.randn(T, B, I), (torch.zeros(1, B, H), torch.zeros(1, B, H + 1)))
    with pytest.raises(TypeError, match="single tensor"):
        gru(torch.randn(T, B, I), (torch.zeros(2, B, H), torch.zeros(2, B, H)))
    with pytest.raises(ValueError, match="input_size=3"):
        cell(torch.randn(B, 4))
    with pytest.raises(ValueError, match=r"h0 must have shape \(4, 5\)"):
        cell(torch.randn(B, I), (torch.zeros(B + 1, H), torch.zeros(B, H)))
    with pytest.raises(TypeError, match="torch.Tensor"):
        cell([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="hidden_size must be >= 1"):
        LSTM(I, 0)
    with pytest.raises(ValueError, match="cell must be one of"):
        Recurrent("transformer", I, H)
    with pytest.raises(TypeError, match="nn.RNN, nn.GRU or nn.LSTM"):
        Recurrent.from_torch(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="bidirectional"):
        Recurrent.from_torch(nn.LSTM(I, H, bidirectional=True))


# ----------------------------------------------------------------------------- language model


def _copy_into_fused(ours: RNNLanguageModel, fused: RNNLanguageModel) -> None:
    sd = {}
    for key, value in ours.state_dict().items():
        if key.startswith("rnn.cells."):
            _, _, layer, name = key.split(".")
            key = f"rnn.{name}_l{layer}"
        sd[key] = value
    fused.load_state_dict(sd)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_language_model_matches_fused_version_and_cross_entropy(cell):
    torch.manual_seed(0)
    cfg = RNNLMConfig(vocab_size=11, cell=cell, n_embd=6, hidden_size=8, num_layers=2)
    ours = RNNLanguageModel(cfg).double()
    fused = RNNLanguageModel(RNNLMConfig(**{**cfg.__dict__, "fused": True})).double()
    _copy_into_fused(ours, fused)
    idx = torch.randint(0, 11, (3, 7))
    targets = torch.randint(0, 11, (3, 7))
    targets[0, :3] = -100
    logits, loss = ours(idx, targets)
    assert logits.shape == (3, 7, 11)
    expected = F.cross_entropy(logits[targets != -100], targets[targets != -100])
    _close(loss, expected, "loss with ignored targets")
    logits_f, loss_f = fused(idx, targets)
    _close(logits, logits_f, "logits (ours vs fused)")
    _close(loss, loss_f, "loss (ours vs fused)")
    loss.backward()
    loss_f.backward()
    _close(ours.embed.weight.grad, fused.embed.weight.grad, "embedding gradient")
    assert ours(idx)[1] is None


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_carrying_state_equals_one_long_sequence(cell):
    torch.manual_seed(0)
    model = RNNLanguageModel(RNNLMConfig(vocab_size=9, cell=cell, n_embd=4, hidden_size=6,
                                         num_layers=2)).double()
    idx = torch.randint(0, 9, (2, 10))
    whole, _ = model(idx)
    first, _, state = model(idx[:, :4], return_state=True)
    second, _, state2 = model(idx[:, 4:], state=detach_state(state), return_state=True)
    _close(torch.cat([first, second], dim=1), whole, "logits with carried state")
    zero = model.init_state(2)
    _close(model(idx[:, 4:], state=zero)[0], model(idx[:, 4:])[0], "explicit zero state")
    for s in _as_tuple(detach_state(state2)):
        assert s.grad_fn is None and not s.requires_grad
    assert detach_state(None) is None


def test_language_model_learns_and_generates():
    torch.manual_seed(0)
    text = "abcdefgh" * 40
    data = torch.tensor([ord(ch) - ord("a") for ch in text])
    model = RNNLanguageModel(RNNLMConfig(vocab_size=8, cell="gru", n_embd=8, hidden_size=16))
    opt = torch.optim.Adam(model.parameters(), lr=0.03)
    losses = []
    for _ in range(60):
        start = torch.randint(0, len(data) - 17, (8,))
        x = torch.stack([data[s:s + 16] for s in start])
        y = torch.stack([data[s + 1:s + 17] for s in start])
        _, loss = model(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[0] > 1.8 and losses[-1] < 0.2, (losses[0], losses[-1])
    out = model.generate(torch.tensor([[0]]), 15, top_k=1)
    assert out.shape == (1, 16)
    assert out[0].tolist() == [i % 8 for i in range(16)]        # greedy continues the cycle
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert torch.equal(model.generate(torch.tensor([[0, 1]]), 10, generator=g1),
                       model.generate(torch.tensor([[0, 1]]), 10, generator=g2))
    assert model.training                                        # generate restores the mode


def test_language_model_errors():
    model = RNNLanguageModel(RNNLMConfig(vocab_size=5, hidden_size=4, n_embd=3))
    with pytest.raises(TypeError, match="integer tensor"):
        model(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"token ids in \[0, 5\)"):
        model(torch.tensor([[1, 5]]))
    with pytest.raises(ValueError, match="dimensions"):
        model(torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="shape of idx"):
        model(torch.tensor([[1, 2]]), torch.tensor([[1, 2, 3]]))
    with pytest.raises(ValueError, match="or -100"):
        model(torch.tensor([[1, 2]]), torch.tensor([[1, -1]]))
    with pytest.raises(ValueError, match="at least one token"):
        model.generate(torch.zeros(1, 0, dtype=torch.long), 3)
    with pytest.raises(ValueError, match="temperature"):
        model.generate(torch.tensor([[1]]), 3, temperature=0.0)
    with pytest.raises(ValueError, match="cell must be one of"):
        RNNLMConfig(cell="transformer")
    with pytest.raises(ValueError, match="sigmoid"):
        RNNLMConfig(cell="rnn", nonlinearity="sigmoid", fused=True)
    with pytest.raises(TypeError, match="RNNLMConfig"):
        RNNLanguageModel({"vocab_size": 5})
    with pytest.raises(ValueError, match=r"h0 must have shape \(1, 1, 4\)"):
        model(torch.tensor([[1, 2]]), state=(torch.zeros(1, 2, 4), torch.zeros(1, 2, 4)))


# ----------------------------------------------------------------------------- BPTT helpers


def test_stream_batches_continue_each_row():
    data = torch.arange(103)
    batches = list(stream_batches(data, batch_size=4, block_size=5))
    length = 102 // 4
    assert len(batches) == length // 5
    for x, y in batches:
        assert x.shape == y.shape == (4, 5)
        assert torch.equal(y, x + 1)                              # targets are the next tokens
    for (x0, _), (x1, _) in zip(batches, batches[1:], strict=False):
        assert torch.equal(x1[:, 0], x0[:, -1] + 1)               # row b continues row b
    assert torch.equal(batches[0][0][:, 0], torch.arange(4) * length)
    with pytest.raises(ValueError, match="too few"):
        next(stream_batches(torch.arange(10), batch_size=4, block_size=5))
    with pytest.raises(TypeError, match="integer"):
        next(stream_batches(torch.zeros(10), batch_size=1, block_size=2))


def test_bptt_grad_norms_match_the_jacobian_product():
    torch.manual_seed(0)
    cell = RNNCell(I, H).double()
    x = torch.randn(T, 1, I, dtype=torch.float64)
    norms = bptt_grad_norms(cell, x)
    assert norms.shape == (T,)
    # by hand: h_t = tanh(a_t); dL/dh_{t-1} = dL/dh_t diag(1 - h_t^2) W_hh
    with torch.no_grad():
        hs, h = [], torch.zeros(1, H, dtype=torch.float64)
        for t in range(T):
            h = cell(x[t], h)
            hs.append(h)
        g = torch.ones(1, H, dtype=torch.float64)
        expected = [g.norm()]
        for t in range(T - 1, 0, -1):
            g = (g * (1 - hs[t] ** 2)) @ cell.weight_hh
            expected.append(g.norm())
    _close(norms, torch.stack(expected[::-1]), "BPTT gradient norms")
    # LSTM: the last entry is the norm of the all-ones gradient
    lstm_norms = bptt_grad_norms(LSTMCell(I, H).double(), torch.randn(T, 3, I,
                                                                        dtype=torch.float64))
    assert lstm_norms[-1].item() == pytest.approx(math.sqrt(3 * H))
    with pytest.raises(TypeError, match="RNNCell, GRUCell or LSTMCell"):
        bptt_grad_norms(nn.RNNCell(I, H), x.float())


def test_bptt_grad_norms_vanish_and_explode():
    torch.manual_seed(0)
    x = torch.randn(40, 8, 4)
    small, large = RNNCell(4, 32), RNNCell(4, 32, nonlinearity="relu")
    with torch.no_grad():
        small.weight_hh.mul_(0.3)
        large.weight_hh.copy_(2.0 * torch.linalg.qr(torch.randn(32, 32))[0])   # all |λ| = 2
    n_small, n_large = bptt_grad_norms(small, x), bptt_grad_norms(large, x)
    assert n_small[0] < 1e-6 * n_small[-1]
    assert n_large[0] > 1e3 * n_large[-1]
