"""Recurrent networks written out one time step at a time: the plain (Elman) RNN, the GRU
and the LSTM, the multi-layer sequence wrappers, and a recurrent language model.

Chapter 02 (RNN) and chapter 03 (LSTM and GRU). Every cell keeps PyTorch's parameter
layout (``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``, gates stacked in PyTorch's
order), so weights move unchanged between these modules and ``nn.RNN`` / ``nn.GRU`` /
``nn.LSTM``; the tests check outputs, final states and gradients against them in float64.

>>> _ = torch.manual_seed(0)
>>> lstm = LSTM(input_size=3, hidden_size=5, num_layers=2, batch_first=True)
>>> out, (h, c) = lstm(torch.randn(4, 7, 3))                      # (B, T, input_size)
>>> tuple(out.shape), tuple(h.shape), tuple(c.shape)
((4, 7, 5), (2, 4, 5), (2, 4, 5))
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lm_course.utils import check_choice, check_float, check_int, check_tensor

State = Tensor | tuple[Tensor, Tensor]  # h for RNN/GRU, (h, c) for the LSTM

__all__ = [
    "RNNCell", "GRUCell", "LSTMCell", "Recurrent", "RNN", "GRU", "LSTM",
    "RNNLMConfig", "RNNLanguageModel", "detach_state", "stream_batches", "bptt_grad_norms",
]

# ----------------------------------------------------------------------------- cells

_ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid}


class _Cell(nn.Module):
    """What the three cells share: PyTorch's parameter layout and initialisation, and the
    argument checks. Subclasses write the maths in ``step`` (no checks, batched input)."""

    n_gates = 1   # H-sized blocks stacked in weight_ih / weight_hh
    n_states = 1  # 1: the state is h; 2: the state is the pair (h, c)

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__()
        self.input_size = check_int("input_size", input_size, min_value=1)
        self.hidden_size = check_int("hidden_size", hidden_size, min_value=1)
        rows = self.n_gates * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(rows, input_size))   # (G*H, I)
        self.weight_hh = nn.Parameter(torch.empty(rows, hidden_size))  # (G*H, H)
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(rows))             # (G*H,)
            self.bias_hh = nn.Parameter(torch.empty(rows))             # (G*H,)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's initialisation: every weight and bias uniform in ±1/sqrt(hidden_size)."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def step(self, x: Tensor, state: State) -> State:  # pragma: no cover - abstract
        raise NotImplementedError

    def init_state(self, batch_size: int, dtype=None, device=None) -> State:
        """The all-zero state that PyTorch uses when none is given."""
        w = self.weight_hh
        h = torch.zeros(batch_size, self.hidden_size, dtype=dtype or w.dtype,
                        device=device or w.device)
        return (h, h.clone()) if self.n_states == 2 else h

    def forward(self, x: Tensor, state: State | None = None) -> State:
        """One time step: ``x`` (B, input_size) or unbatched (input_size,) -> the new state."""
        _check_input(self, "input", x, ndims=(1, 2))
        unbatched = x.dim() == 1
        x = x.unsqueeze(0) if unbatched else x
        if state is None:
            state = self.init_state(x.shape[0], dtype=x.dtype, device=x.device)
        else:
            expected = tuple(x.shape[:-1]) + (self.hidden_size,)
            if unbatched:
                expected = expected[1:]
            state = _check_state(self, state, expected)
            if unbatched:
                state = _map_state(state, lambda s: s.unsqueeze(0))
        new = self.step(x, state)
        return _map_state(new, lambda s: s.squeeze(0)) if unbatched else new

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias_ih is not None}"


class RNNCell(_Cell):
    """Elman RNN step, as ``nn.RNNCell``: h' = act(W_ih x + b_ih + W_hh h + b_hh).

    ``nonlinearity`` is "tanh" (the usual choice) or "relu", like PyTorch, or "sigmoid",
    which ``nn.RNN`` does not offer and which is here only to reproduce the source guide's
    mistake (chapter 02's erratum box)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh") -> None:
        self.nonlinearity = check_choice("nonlinearity", nonlinearity, list(_ACTIVATIONS))
        super().__init__(input_size, hidden_size, bias)

    def step(self, x: Tensor, h: Tensor) -> Tensor:
        pre = F.linear(x, self.weight_ih, self.bias_ih) + F.linear(h, self.weight_hh, self.bias_hh)
        return _ACTIVATIONS[self.nonlinearity](pre)  # (B, H)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", nonlinearity={self.nonlinearity!r}"


class GRUCell(_Cell):
    """Gated recurrent unit step, as ``nn.GRUCell`` (gates stacked in the order r, z, n).

    r = σ(W_ir x + b_ir + W_hr h + b_hr)          reset gate
    z = σ(W_iz x + b_iz + W_hz h + b_hz)          update gate
    n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))  candidate
    h' = (1 − z) ⊙ n + z ⊙ h                       z near 1 keeps the old state
    """

    n_gates = 3

    def step(self, x: Tensor, h: Tensor) -> Tensor:
        x_r, x_z, x_n = F.linear(x, self.weight_ih, self.bias_ih).chunk(3, dim=-1)  # 3 x (B, H)
        h_r, h_z, h_n = F.linear(h, self.weight_hh, self.bias_hh).chunk(3, dim=-1)  # 3 x (B, H)
        r = torch.sigmoid(x_r + h_r)      # (B, H) how much of the old state the candidate sees
        z = torch.sigmoid(x_z + h_z)      # (B, H) how much of the old state to keep
        n = torch.tanh(x_n + r * h_n)     # (B, H) candidate; r multiplies W_hn h + b_hn
        return (1 - z) * n + z * h        # (B, H)


class LSTMCell(_Cell):
    """Long short-term memory step, as ``nn.LSTMCell`` (gates stacked in the order i, f, g, o).

    i = σ(...), f = σ(...), o = σ(...)      input, forget and output gates
    g = tanh(...)                           candidate values
    c' = f ⊙ c + i ⊙ g                      forget scales the OLD cell, input the NEW candidate
    h' = o ⊙ tanh(c')
    where each "..." is W_i* x + b_i* + W_h* h + b_h*. The state is the pair (h, c).
    """

    n_gates = 4
    n_states = 2

    def gates(self, x: Tensor, h: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """The four gate activations (i, f, g, o), each (B, H), for input x and hidden h."""
        pre = F.linear(x, self.weight_ih, self.bias_ih) + F.linear(h, self.weight_hh, self.bias_hh)
        pre_i, pre_f, pre_g, pre_o = pre.chunk(4, dim=-1)  # 4 x (B, H)
        i = torch.sigmoid(pre_i)  # input gate: how much of the candidate to write
        f = torch.sigmoid(pre_f)  # forget gate: how much of the old cell to keep
        g = torch.tanh(pre_g)     # candidate values, in (-1, 1)
        o = torch.sigmoid(pre_o)  # output gate: how much of the cell to expose as h
        return i, f, g, o

    def step(self, x: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        h, c = state
        i, f, g, o = self.gates(x, h)
        c = f * c + i * g          # (B, H) the cell state: an additive memory
        h = o * torch.tanh(c)      # (B, H)
        return h, c


_CELLS: dict[str, type[_Cell]] = {"rnn": RNNCell, "gru": GRUCell, "lstm": LSTMCell}
_TORCH: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}

# ----------------------------------------------------------------------------- sequences


class Recurrent(nn.Module):
    """A stack of cells run over a sequence, with the interface of ``nn.RNN``/``nn.GRU``/
    ``nn.LSTM``: ``output, final_state = module(x, state)``.

    x: (T, B, input_size), or (B, T, input_size) with ``batch_first=True``, or unbatched
    (T, input_size). state: h0 of shape (num_layers, B, H) (LSTM: the pair (h0, c0)),
    zeros if omitted. output: the last layer's h_t at every step; final state: every
    layer's state after the last step. ``cell`` is "rnn", "gru", "lstm" or a cell class
    (a subclass of one of the cells above, e.g. a variant with a different ``step``).
    """

    def __init__(self, cell: str | type[_Cell], input_size: int, hidden_size: int,
                 num_layers: int = 1, *, bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, **cell_kwargs) -> None:
        super().__init__()
        if isinstance(cell, str):
            self.kind = check_choice("cell", cell, list(_CELLS))
            cell_class = _CELLS[cell]
        elif isinstance(cell, type) and issubclass(cell, _Cell):
            self.kind, cell_class = None, cell
        else:
            raise TypeError(f"cell must be 'rnn', 'gru', 'lstm' or a cell class, got {cell!r}")
        self.input_size = check_int("input_size", input_size, min_value=1)
        self.hidden_size = check_int("hidden_size", hidden_size, min_value=1)
        self.num_layers = check_int("num_layers", num_layers, min_value=1)
        self.batch_first = bool(batch_first)
        self.dropout = check_float("dropout", dropout, low=0.0, high=1.0, high_inclusive=False)
        self.cells = nn.ModuleList(
            cell_class(input_size if layer == 0 else hidden_size, hidden_size, bias, **cell_kwargs)
            for layer in range(num_layers)
        )
        self.n_states = cell_class.n_states

    def forward(self, x: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        _check_input(self.cells[0], "input", x, ndims=(2, 3))
        if 0 in x.shape[:-1]:
            raise ValueError(f"input must hold at least one time step, got shape {tuple(x.shape)}")
        unbatched = x.dim() == 2
        if unbatched:
            x = x.unsqueeze(1)                             # (T, 1, I)
        elif self.batch_first:
            x = x.transpose(0, 1)                          # (T, B, I)
        T, B = x.shape[0], x.shape[1]
        if state is None:
            states = [c.init_state(B, dtype=x.dtype, device=x.device) for c in self.cells]
        else:
            expected = (self.num_layers, self.hidden_size) if unbatched else (
                self.num_layers, B, self.hidden_size)
            state = _check_state(self.cells[0], state, expected)
            if unbatched:
                state = _map_state(state, lambda s: s.unsqueeze(1))   # (L, 1, H)
            states = [_map_state(state, lambda s, i=i: s[i]) for i in range(self.num_layers)]

        layer_input = x                                    # (T, B, I)
        finals = []
        for layer, cell in enumerate(self.cells):
            s = states[layer]
            outputs = []
            for t in range(T):                             # the same cell at every step
                s = cell.step(layer_input[t], s)
                outputs.append(s[0] if self.n_states == 2 else s)  # h_t, (B, H)
            layer_input = torch.stack(outputs)             # (T, B, H)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout)
            finals.append(s)

        if self.n_states == 2:
            final: State = (torch.stack([s[0] for s in finals]),   # (L, B, H)
                            torch.stack([s[1] for s in finals]))   # (L, B, H)
        else:
            final = torch.stack(finals)                    # (L, B, H)
        output = layer_input                               # (T, B, H)
        if unbatched:
            return output.squeeze(1), _map_state(final, lambda s: s.squeeze(1))
        return (output.transpose(0, 1) if self.batch_first else output), final

    # --- moving weights to and from PyTorch's modules

    @staticmethod
    def from_torch(module: nn.RNNBase) -> Recurrent:
        """Our module with the same settings and a copy of ``module``'s weights."""
        kind = {nn.LSTM: "lstm", nn.GRU: "gru", nn.RNN: "rnn"}.get(type(module))
        if kind is None:
            raise TypeError("module must be nn.RNN, nn.GRU or nn.LSTM, "
                            f"got {type(module).__name__}")
        if module.bidirectional or getattr(module, "proj_size", 0):
            raise ValueError("bidirectional or projected (proj_size > 0) modules are not supported")
        extra = {"nonlinearity": module.nonlinearity} if kind == "rnn" else {}
        ours = {"rnn": RNN, "gru": GRU, "lstm": LSTM}[kind](
            module.input_size, module.hidden_size, module.num_layers, bias=module.bias,
            batch_first=module.batch_first, dropout=module.dropout, **extra)
        w = module.weight_ih_l0
        ours.to(dtype=w.dtype, device=w.device).load_torch_weights(module)
        return ours

    def to_torch(self) -> nn.RNNBase:
        """The PyTorch built-in with the same settings and a copy of our weights."""
        if self.kind is None:
            raise TypeError("a Recurrent built from a custom cell class has no PyTorch equivalent")
        cell0 = self.cells[0]
        extra = {"nonlinearity": cell0.nonlinearity} if self.kind == "rnn" else {}
        module = _TORCH[self.kind](self.input_size, self.hidden_size, self.num_layers,
                                   bias=cell0.bias_ih is not None, batch_first=self.batch_first,
                                   dropout=self.dropout, **extra)
        w = cell0.weight_ih
        module.to(dtype=w.dtype, device=w.device)
        with torch.no_grad():
            for name, p in self._torch_names():
                getattr(module, name).copy_(p)
        return module

    def load_torch_weights(self, module: nn.RNNBase) -> Recurrent:
        """Copy the weights of a matching ``nn.RNN``/``nn.GRU``/``nn.LSTM`` into this module."""
        with torch.no_grad():
            for name, p in self._torch_names():
                theirs = getattr(module, name, None)
                if theirs is None or theirs.shape != p.shape:
                    raise ValueError(f"module has no parameter {name} of shape {tuple(p.shape)}")
                p.copy_(theirs)
        return self

    def _torch_names(self) -> Iterator[tuple[str, nn.Parameter]]:
        for layer, cell in enumerate(self.cells):
            for name, p in cell.named_parameters():
                yield f"{name}_l{layer}", p                # weight_ih -> weight_ih_l0, ...

    def extra_repr(self) -> str:
        return f"num_layers={self.num_layers}, batch_first={self.batch_first}"


class RNN(Recurrent):
    """Multi-layer Elman RNN, a drop-in for ``nn.RNN`` (unidirectional)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0) -> None:
        super().__init__("rnn", input_size, hidden_size, num_layers, bias=bias,
                         batch_first=batch_first, dropout=dropout, nonlinearity=nonlinearity)


class GRU(Recurrent):
    """Multi-layer GRU, a drop-in for ``nn.GRU`` (unidirectional)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0) -> None:
        super().__init__("gru", input_size, hidden_size, num_layers, bias=bias,
                         batch_first=batch_first, dropout=dropout)


class LSTM(Recurrent):
    """Multi-layer LSTM, a drop-in for ``nn.LSTM`` (unidirectional, no projection)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0) -> None:
        super().__init__("lstm", input_size, hidden_size, num_layers, bias=bias,
                         batch_first=batch_first, dropout=dropout)


# ----------------------------------------------------------------------------- language model


@dataclass(frozen=True)
class RNNLMConfig:
    vocab_size: int = 65           # tokens in the vocabulary
    cell: str = "lstm"             # "rnn" | "gru" | "lstm"
    nonlinearity: str = "tanh"     # cell="rnn" only: "tanh" | "relu" | "sigmoid" (erratum 3)
    n_embd: int = 64               # size of the token embeddings fed to the first layer
    hidden_size: int = 256         # hidden (and LSTM cell) state size of every layer
    num_layers: int = 1            # stacked recurrent layers
    dropout: float = 0.0           # between layers and before the output layer
    fused: bool = False            # True: nn.RNN/nn.GRU/nn.LSTM (C++ loop); False: our cells

    def __post_init__(self) -> None:
        check_int("vocab_size", self.vocab_size, min_value=2)
        check_choice("cell", self.cell, list(_CELLS))
        check_choice("nonlinearity", self.nonlinearity, ["tanh", "relu", "sigmoid"])
        if self.fused and self.nonlinearity == "sigmoid":
            raise ValueError("nonlinearity='sigmoid' exists only in our cells; use fused=False")
        check_int("n_embd", self.n_embd, min_value=1)
        check_int("hidden_size", self.hidden_size, min_value=1)
        check_int("num_layers", self.num_layers, min_value=1)
        check_float("dropout", self.dropout, low=0.0, high=1.0, high_inclusive=False)


class RNNLanguageModel(nn.Module):
    """Embedding -> recurrent layers -> p(next token) = softmax(V h_t + c) over the vocabulary.

    ``forward(idx, targets)`` returns ``(logits, loss)`` like the chapter-05 GPT (loss is the
    mean cross-entropy, -100 in ``targets`` is ignored, None without targets). For truncated
    backpropagation through time pass ``return_state=True`` to also get the final state, and
    feed it (detached, see ``detach_state``) as ``state`` with the next chunk of text.
    """

    def __init__(self, config: RNNLMConfig) -> None:
        super().__init__()
        if not isinstance(config, RNNLMConfig):
            raise TypeError(f"config must be an RNNLMConfig, got {type(config).__name__}")
        self.config = c = config
        self.embed = nn.Embedding(c.vocab_size, c.n_embd)
        extra = {"nonlinearity": c.nonlinearity} if c.cell == "rnn" else {}
        if c.fused:
            self.rnn = _TORCH[c.cell](c.n_embd, c.hidden_size, c.num_layers, batch_first=True,
                                      dropout=c.dropout, **extra)
        else:
            self.rnn = Recurrent(c.cell, c.n_embd, c.hidden_size, c.num_layers, batch_first=True,
                                 dropout=c.dropout, **extra)
        self.drop = nn.Dropout(c.dropout)
        self.head = nn.Linear(c.hidden_size, c.vocab_size)  # V h_t + c

    def init_state(self, batch_size: int) -> State:
        """The zero state for ``batch_size`` sequences, on the model's device and dtype."""
        c, w = self.config, self.head.weight
        h = torch.zeros(c.num_layers, batch_size, c.hidden_size, dtype=w.dtype, device=w.device)
        return (h, h.clone()) if c.cell == "lstm" else h

    def forward(self, idx: Tensor, targets: Tensor | None = None, state: State | None = None,
                *, return_state: bool = False):
        V = self.config.vocab_size
        _check_ids("idx", idx, V)
        if targets is not None:
            check_tensor("targets", targets, integer=True)
            if targets.shape != idx.shape:
                raise ValueError(f"targets must have the shape of idx {tuple(idx.shape)}, "
                                 f"got {tuple(targets.shape)}")
            bad = (targets != -100) & ((targets < 0) | (targets >= V))
            if bad.any():
                raise ValueError(f"targets must be token ids in [0, {V}) or -100 (ignored), "
                                 f"got {targets[bad][0].item()}")
        x = self.embed(idx)                                 # (B, T, E)
        h, state = self.rnn(x, state)                       # (B, T, H), final state
        logits = self.head(self.drop(h))                    # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), ignore_index=-100)
        return (logits, loss, state) if return_state else (logits, loss)

    @torch.no_grad()
    def generate(self, idx: Tensor, max_new_tokens: int, temperature: float = 1.0,
                 top_k: int | None = None, generator: torch.Generator | None = None) -> Tensor:
        """Continue each row of ``idx`` (B, T) by sampling ``max_new_tokens`` tokens.

        The prompt is read once; after that each new token costs one recurrent step, because
        the hidden state carries everything the model keeps about the past."""
        check_int("max_new_tokens", max_new_tokens, min_value=0)
        check_float("temperature", temperature, low=0.0, low_inclusive=False)
        if top_k is not None:
            check_int("top_k", top_k, min_value=1)
        _check_ids("idx", idx, self.config.vocab_size)
        if idx.shape[1] == 0:
            raise ValueError("idx must hold at least one token to start from, got shape "
                             f"{tuple(idx.shape)}")
        was_training = self.training
        self.eval()
        out, inp, state = [idx], idx, None
        for _ in range(max_new_tokens):
            logits, _, state = self(inp, state=state, return_state=True)
            logits = logits[:, -1, :] / temperature         # (B, V)
            if top_k is not None:
                kth = torch.topk(logits, min(top_k, logits.shape[-1])).values[:, -1:]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            inp = torch.multinomial(F.softmax(logits, dim=-1), 1, generator=generator)  # (B, 1)
            out.append(inp)
        self.train(was_training)
        return torch.cat(out, dim=1)                        # (B, T + max_new_tokens)


# ----------------------------------------------------------------------------- training helpers


def detach_state(state: State | None) -> State | None:
    """Cut the graph behind a state (truncated BPTT): the values carry on, gradients stop here."""
    return None if state is None else _map_state(state, lambda s: s.detach())


def stream_batches(data: Tensor, batch_size: int,
                   block_size: int) -> Iterator[tuple[Tensor, Tensor]]:
    """One pass over ``data`` as ``batch_size`` parallel streams, for truncated BPTT.

    The 1-D token tensor is cut into ``batch_size`` contiguous streams; batch ``j`` holds
    window ``j`` of every stream, so row ``b`` of batch ``j + 1`` continues row ``b`` of batch
    ``j`` exactly, and the final state of one batch is the right initial state for the next.

    >>> xs = [x for x, _ in stream_batches(torch.arange(21), batch_size=2, block_size=3)]
    >>> xs[0].tolist(), xs[1].tolist()
    ([[0, 1, 2], [10, 11, 12]], [[3, 4, 5], [13, 14, 15]])
    """
    check_tensor("data", data, ndim=1, integer=True)
    check_int("batch_size", batch_size, min_value=1)
    check_int("block_size", block_size, min_value=1)
    length = (data.numel() - 1) // batch_size                  # each stream needs one extra target
    if length < block_size:
        raise ValueError(f"data has {data.numel()} tokens, too few for batch_size={batch_size} "
                         f"streams of at least block_size={block_size} + 1 tokens")
    inputs = data[: length * batch_size].view(batch_size, length)        # (B, L) stream b: row b
    targets = data[1: length * batch_size + 1].view(batch_size, length)  # (B, L) shifted by one
    for j in range(length // block_size):
        window = slice(j * block_size, (j + 1) * block_size)
        yield inputs[:, window], targets[:, window]                          # (B, T) each


def bptt_grad_norms(cell: _Cell, x: Tensor, state: State | None = None,
                    loss_fn: Callable[[Tensor], Tensor] | None = None) -> Tensor:
    """‖∂L/∂h_t‖ for every step t of running ``cell`` over ``x`` (T, B, input_size).

    L = ``loss_fn(h_T)``, by default ``h_T.sum()``, so ∂L/∂h_T is all ones and the curve
    shows the product of step Jacobians that backpropagation through time multiplies:
    the total derivative through every later step, not just the direct one. Returns (T,)
    norms over the whole batch, entry t for h after step t + 1 (a vanishing gradient makes
    the early entries tiny, an exploding one makes them huge).
    """
    if not isinstance(cell, _Cell):
        raise TypeError(f"cell must be an RNNCell, GRUCell or LSTMCell, got {type(cell).__name__}")
    check_tensor("x", x, ndim=3, floating=True)
    _check_input(cell, "x", x, ndims=(3,))
    s = state if state is not None else cell.init_state(x.shape[1], dtype=x.dtype, device=x.device)
    hiddens = []
    with torch.enable_grad():
        for t in range(x.shape[0]):
            s = cell.step(x[t], s)
            h = s[0] if cell.n_states == 2 else s
            h.retain_grad()                                  # keep ∂L/∂h_t after backward
            hiddens.append(h)
        loss = loss_fn(hiddens[-1]) if loss_fn is not None else hiddens[-1].sum()
        grads = torch.autograd.grad(loss, hiddens)           # total derivatives, one per step
    return torch.stack([g.norm() for g in grads]).detach()   # (T,)


# ----------------------------------------------------------------------------- checks


def _map_state(state: State, fn: Callable[[Tensor], Tensor]) -> State:
    return tuple(fn(s) for s in state) if isinstance(state, tuple) else fn(state)


def _check_input(cell: _Cell, name: str, x, ndims: tuple[int, ...]) -> None:
    check_tensor(name, x, ndim=ndims, floating=True)
    if x.shape[-1] != cell.input_size:
        raise ValueError(f"{name} must have input_size={cell.input_size} features in its last "
                         f"dimension, got shape {tuple(x.shape)}")
    if x.dtype != cell.weight_ih.dtype:
        raise TypeError(f"{name} has dtype {x.dtype} but the weights are {cell.weight_ih.dtype}; "
                        "convert one of them (e.g. module.double() or x.float())")


def _check_state(cell: _Cell, state, expected: tuple[int, ...]) -> State:
    names = ("h0", "c0") if cell.n_states == 2 else ("h0",)
    if cell.n_states == 2:
        if not (isinstance(state, (tuple, list)) and len(state) == 2):
            raise TypeError(f"the LSTM state must be a pair (h0, c0), got {type(state).__name__}")
        parts = tuple(state)
    else:
        if isinstance(state, (tuple, list)):
            raise TypeError("this cell's state is a single tensor h0, got a "
                            f"{type(state).__name__} of {len(state)}")
        parts = (state,)
    for name, s in zip(names, parts, strict=True):
        check_tensor(name, s, floating=True)
        if tuple(s.shape) != expected:
            raise ValueError(f"{name} must have shape {expected}, got {tuple(s.shape)}")
        if s.dtype != cell.weight_hh.dtype:
            raise TypeError(f"{name} has dtype {s.dtype}, the weights {cell.weight_hh.dtype}")
    return parts if cell.n_states == 2 else parts[0]


def _check_ids(name: str, idx, vocab_size: int) -> None:
    check_tensor(name, idx, ndim=2, integer=True)
    if idx.numel() and (idx.min() < 0 or idx.max() >= vocab_size):
        bad = idx[(idx < 0) | (idx >= vocab_size)][0].item()
        raise ValueError(f"{name} must hold token ids in [0, {vocab_size}), got {bad}")
