"""Attention speed and memory: our MultiHeadAttention vs torch.nn.MultiheadAttention, and the
cost of attention as the sequence grows.

Part 1 times forward + backward of ``lm_course.attention.MultiHeadAttention`` (fused q/k/v
projection, ``F.scaled_dot_product_attention``) against ``nn.MultiheadAttention`` with the same
weights, at (B=16, T=256, C=256, 8 heads) and (B=32, T=64, C=128, 4 heads), bidirectional and
causal. The two are run interleaved (A, B, A, B, ...) so both see the same machine load; the
ratio of medians is printed (target: ours / torch <= 1.2). The written-out attention
(``fused_kernel=False``, which materialises the T x T weights) is timed too.

Part 2 measures one attention layer's forward + backward time and the activation memory it
keeps for the backward pass (bytes of tensors saved by autograd) for T = 64 ... 1024, fused
kernel vs written out: the written-out version keeps the (B, H, T, T) weights, O(T^2).

    python benchmarks/bench_attention.py
    python benchmarks/bench_attention.py --repeats 30 --lengths 64 128 256 512 1024 2048
    python benchmarks/bench_attention.py --device cuda
"""

from __future__ import annotations

import argparse
import statistics
import time
from functools import partial

import torch
from torch import nn

from lm_course.attention import MultiHeadAttention, causal_mask
from lm_course.utils import pick_device, set_seed


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def copy_weights(ours: MultiHeadAttention, ref: nn.MultiheadAttention) -> None:
    with torch.no_grad():
        ref.in_proj_weight.copy_(ours.in_proj.weight)
        ref.in_proj_bias.copy_(ours.in_proj.bias)
        ref.out_proj.weight.copy_(ours.out_proj.weight)
        ref.out_proj.bias.copy_(ours.out_proj.bias)


def timed(fn, device: torch.device) -> float:
    sync(device)
    t = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t


def compare_mha(B: int, T: int, C: int, H: int, causal: bool, repeats: int,
                device: torch.device) -> None:
    set_seed(0)
    ours = MultiHeadAttention(C, H).to(device)
    plain = MultiHeadAttention(C, H, fused_kernel=False).to(device)
    plain.load_state_dict(ours.state_dict())
    ref = nn.MultiheadAttention(C, H, batch_first=True).to(device)
    copy_weights(ours, ref)
    x = torch.randn(B, T, C, device=device, requires_grad=True)
    blocked = ~causal_mask(T, device=device) if causal else None  # torch: True = blocked

    def run_ours():
        ours(x, is_causal=causal)[0].sum().backward()

    def run_plain():
        plain(x, is_causal=causal)[0].sum().backward()

    def run_ref():
        ref(x, x, x, attn_mask=blocked, is_causal=causal, need_weights=False)[0].sum().backward()

    with torch.no_grad():  # same numbers before timing anything
        a = ours(x, is_causal=causal)[0]
        b = ref(x, x, x, attn_mask=blocked, is_causal=causal, need_weights=False)[0]
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    times = {"ours": [], "torch": [], "written-out": []}
    for _ in range(3):  # warm-up
        run_ours(), run_ref(), run_plain()
    for _ in range(repeats):  # interleaved
        times["ours"].append(timed(run_ours, device))
        times["torch"].append(timed(run_ref, device))
        times["written-out"].append(timed(run_plain, device))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"B={B:3d} T={T:4d} C={C:4d} H={H:2d} {'causal' if causal else 'full  '} | "
          f"ours {med['ours'] * 1e3:8.2f} ms  torch {med['torch'] * 1e3:8.2f} ms  "
          f"ratio {med['ours'] / med['torch']:.3f}  | written-out {med['written-out'] * 1e3:8.2f}"
          f" ms ({med['written-out'] / med['torch']:.2f}x torch)")


def saved_bytes(fn) -> int:
    """Bytes of the distinct tensors autograd saves for the backward pass while ``fn`` runs."""
    seen: dict[tuple[int, int], int] = {}

    def pack(t: torch.Tensor):
        key = (t.untyped_storage().data_ptr(), t.untyped_storage().nbytes())
        seen[key] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(seen.values())


def forward_backward(module: MultiHeadAttention, x: torch.Tensor) -> None:
    module(x, is_causal=True)[0].sum().backward()


def scaling(lengths: list[int], repeats: int, device: torch.device) -> None:
    B, C, H = 4, 256, 8
    print(f"\nattention layer forward+backward vs T (B={B}, C={C}, H={H}, causal)")
    print(f"{'T':>5} | {'fused ms':>9} {'written ms':>11} | {'fused saved':>12} "
          f"{'written saved':>14} | {'T x T weights':>13}")
    for T in lengths:
        set_seed(0)
        fused = MultiHeadAttention(C, H).to(device)
        plain = MultiHeadAttention(C, H, fused_kernel=False).to(device)
        plain.load_state_dict(fused.state_dict())
        x = torch.randn(B, T, C, device=device, requires_grad=True)
        mem, t = {}, {"fused": [], "plain": []}
        for name, m in (("fused", fused), ("plain", plain)):
            mem[name] = saved_bytes(partial(forward_backward, m, x))
        for _ in range(repeats):
            for name, m in (("fused", fused), ("plain", plain)):
                t[name].append(timed(partial(forward_backward, m, x), device))
        weights_mb = B * H * T * T * 4 / 2**20
        print(f"{T:5d} | {statistics.median(t['fused']) * 1e3:9.2f} "
              f"{statistics.median(t['plain']) * 1e3:11.2f} | {mem['fused'] / 2**20:9.1f} MB "
              f"{mem['plain'] / 2**20:11.1f} MB | {weights_mb:10.1f} MB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--lengths", type=int, nargs="+", default=[64, 128, 256, 512, 1024])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    print(f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} threads")
    print("our MultiHeadAttention vs nn.MultiheadAttention, forward + backward (median)")
    for B, T, C, H in [(16, 256, 256, 8), (32, 64, 128, 4)]:
        for causal in (False, True):
            compare_mha(B, T, C, H, causal, args.repeats, device)
    scaling(args.lengths, max(3, args.repeats // 3), device)


if __name__ == "__main__":
    main()
