"""Speed of our written-out LSTM against PyTorch's nn.LSTM, forward + backward.

For each shape, ``lm_course.rnn.LSTM`` (one Python-level step per time step, the cell's
gates written out) and ``nn.LSTM`` get the same weights and the same input, and are timed
interleaved (A, B, C, A, B, C, ...) so that every variant sees the same machine load. Two
attempts to speed ours up are timed alongside:

* ``torch.jit.script``: our module itself is not scriptable (argument checks, a state that is
  a tensor or a pair); the same loop written as a TorchScript-friendly module (sharing the
  very same parameters, checked equal) is scripted and timed instead;
* ``torch.compile`` of our module (TorchInductor on the CPU needs a C++ compiler; the first
  call, which compiles, is timed separately).

The run is repeated for each thread count in ``--threads`` (the notebooks pin PyTorch to one
thread; this shows what that costs or saves). Every variant is checked equal to nn.LSTM
before it is timed. Printed: median milliseconds per forward + backward, and the ratio to
nn.LSTM (ratio of medians).

    python benchmarks/bench_rnn.py
    python benchmarks/bench_rnn.py --repeats 30 --threads 1 2 4 --no-compile
    python benchmarks/bench_rnn.py --device cuda
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lm_course.rnn import LSTMCell, Recurrent
from lm_course.utils import pick_device, set_seed

SHAPES = [  # (T, B, I, H): the char-LM of chapters 02-03 (full run), and a wider layer
    (64, 32, 32, 128),
    (64, 32, 256, 512),
]


class ScriptableLoop(nn.Module):
    """The LSTMCell step and the loop over time of ``Recurrent``, in TorchScript's subset.

    It holds the *same* Parameter objects as the cell it is built from, so gradients land in
    the original module."""

    def __init__(self, cell: LSTMCell) -> None:
        super().__init__()
        self.weight_ih, self.weight_hh = cell.weight_ih, cell.weight_hh
        self.bias_ih, self.bias_hh = cell.bias_ih, cell.bias_hh

    def forward(self, x: Tensor) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        h = x.new_zeros(x.shape[1], self.weight_hh.shape[1])          # (B, H)
        c = x.new_zeros(x.shape[1], self.weight_hh.shape[1])          # (B, H)
        outputs: list[Tensor] = []
        for t in range(x.shape[0]):
            pre = F.linear(x[t], self.weight_ih, self.bias_ih) + F.linear(
                h, self.weight_hh, self.bias_hh)                       # (B, 4H)
            i, f, g, o = pre.chunk(4, 1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            outputs.append(h)
        return torch.stack(outputs), (h.unsqueeze(0), c.unsqueeze(0))


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def forward_backward(module: Callable, x: Tensor) -> Tensor:
    out, (h, c) = module(x)
    (out.sum() + c.sum()).backward()
    return out


def graph_nodes(out: Tensor) -> tuple[int, str]:
    """Autograd nodes recorded by one forward pass, and the name of the last one."""
    seen, stack = set(), [out.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        stack.extend(next_node for next_node, _ in node.next_functions)
    return len(seen), type(out.grad_fn).__name__


def build(T: int, B: int, I: int, H: int, device: torch.device, compile_: bool) -> tuple:
    set_seed(0)
    ref = nn.LSTM(I, H).to(device)
    ours = Recurrent.from_torch(ref)
    x = torch.randn(T, B, I, device=device)
    variants: dict[str, Callable] = {"nn.LSTM": ref, "ours (eager)": ours}
    notes = []
    try:
        torch.jit.script(ours)
        notes.append("torch.jit.script(ours) works as is")
    except Exception as err:  # noqa: BLE001 - we report whatever TorchScript rejects
        first = str(err).strip().splitlines()[0][:110]
        notes.append(f"torch.jit.script(ours) fails: {type(err).__name__}: {first}")
    variants["ours, loop in TorchScript"] = torch.jit.script(ScriptableLoop(ours.cells[0]))
    if compile_:
        compiled = torch.compile(ours)
        start = time.perf_counter()
        try:
            forward_backward(compiled, x)
            sync(device)
            notes.append(f"torch.compile(ours): first call (compiling) "
                         f"{time.perf_counter() - start:.1f} s")
            variants["ours, torch.compile"] = compiled
        except Exception as err:  # noqa: BLE001
            first = str(err).strip().splitlines()[0][:110]
            notes.append(f"torch.compile(ours) fails: {type(err).__name__}: {first}")

    want = ref(x)[0]
    for name, module in variants.items():
        got = module(x)[0]
        if not torch.allclose(got, want, atol=1e-5, rtol=1e-4):
            raise AssertionError(f"{name} differs from nn.LSTM by {(got - want).abs().max():.2e}")
        nodes, last = graph_nodes(got)
        notes.append(f"{name}: {nodes} autograd nodes per forward (last: {last})")
    return variants, x, notes


def time_interleaved(variants: dict[str, Callable], x: Tensor, repeats: int,
                     device: torch.device) -> dict[str, list[float]]:
    names = list(variants)
    for _ in range(3):                                         # warm-up (TorchScript profiles
        for name in names:                                     # its first runs, then optimises)
            forward_backward(variants[name], x)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names):] + names[: r % len(names)]:   # rotate the order
            sync(device)
            start = time.perf_counter()
            forward_backward(variants[name], x)
            sync(device)
            times[name].append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--device", default=None, help="cpu (default if no GPU), cuda, mps")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    args = parser.parse_args()
    device = pick_device(args.device)
    torch.backends.cudnn.allow_tf32 = False  # cuDNN's LSTM would use TF32: keep float32

    print(f"torch {torch.__version__}, device {device}, {args.repeats} interleaved repeats; "
          "time per forward + backward (median)")
    for T, B, I, H in SHAPES:
        print(f"\nLSTM T={T} B={B} input={I} hidden={H}, float32")
        torch.set_num_threads(args.threads[0])
        variants, x, notes = build(T, B, I, H, device, compile_=not args.no_compile)
        for note in notes:
            print(f"  note: {note}")
        for threads in args.threads:
            torch.set_num_threads(threads)
            times = time_interleaved(variants, x, args.repeats, device)
            base = statistics.median(times["nn.LSTM"])
            for name, ts in times.items():
                med = statistics.median(ts)
                print(f"  threads={threads}  {name:28s} {1000 * med:9.2f} ms   "
                      f"x{med / base:5.2f} vs nn.LSTM")


if __name__ == "__main__":
    main()
