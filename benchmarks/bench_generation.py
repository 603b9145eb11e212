"""KV-cache benchmark: generate ``--new-tokens`` tokens with and without the cache.

Each measurement runs in its own process (so that its peak memory is its own), the two
modes alternate ``--repeats`` times, and the script prints median times, the speed-up and
the memory: the size of the KV cache and each process's peak resident memory. The model is
a GPT of the capstone's shape with a context long enough for the whole generation (random
weights: the speed does not depend on what the weights learned), or ``--checkpoint``.

    python benchmarks/bench_generation.py --new-tokens 512 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch

from lm_course.generation import generate
from lm_course.runtime import load_checkpoint
from lm_course.transformer import GPT, GPTConfig


def build(args: argparse.Namespace) -> GPT:
    if args.checkpoint:
        state = load_checkpoint(args.checkpoint)
        model = GPT(GPTConfig(**state["model_config"]))
        model.load_state_dict(state["model"])
    else:
        torch.manual_seed(0)
        model = GPT(GPTConfig(vocab_size=65, block_size=args.prompt_len + args.new_tokens,
                              n_layer=args.n_layer, n_head=args.n_head, n_embd=args.n_embd))
    return model.eval()


def child(args: argparse.Namespace) -> None:
    """One timed generation in this process; prints a JSON line."""
    torch.set_num_threads(args.threads)
    model = build(args)
    prompt = torch.randint(model.config.vocab_size, (args.batch, args.prompt_len),
                           generator=torch.Generator().manual_seed(1))
    use_cache = args.mode == "cached"
    generate(model, prompt[:, :4], 8, greedy=True, use_cache=use_cache)  # warm-up
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    out = generate(model, prompt, args.new_tokens, greedy=True, use_cache=use_cache)
    seconds = time.perf_counter() - start
    cache = model.new_kv_cache(args.batch)
    print(json.dumps({
        "mode": args.mode, "seconds": seconds, "tokens": len(out[0]) - args.prompt_len,
        "first": out[0][args.prompt_len:args.prompt_len + 32],
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_before_mib": rss_before / 1024,
        "cache_mib": 2 * cache.keys.numel() * cache.keys.element_size() / 2**20,
        "params": sum(p.numel() for p in model.parameters()),
        "block_size": model.config.block_size}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--new-tokens", type=int, default=512)
    p.add_argument("--prompt-len", type=int, default=16)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--n-layer", type=int, default=4)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--n-embd", type=int, default=128)
    p.add_argument("--checkpoint", default=None, help="a ckpt.pt from lm-course train")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--mode", choices=["cached", "uncached"], default=None,
                   help=argparse.SUPPRESS)  # internal: one measurement
    args = p.parse_args()
    if args.mode:
        child(args)
        return
    print(f"{args.new_tokens} new tokens after a {args.prompt_len}-token prompt, batch "
          f"{args.batch}, {args.threads} threads, load average {os.getloadavg()[0]:.2f}")
    results: dict[str, list[dict]] = {"uncached": [], "cached": []}
    for r in range(args.repeats):
        for mode in ("uncached", "cached"):  # alternate, so that noise hits both
            cmd = [sys.executable, __file__, *sys.argv[1:], "--mode", mode]
            line = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            res = json.loads(line.strip().splitlines()[-1])
            results[mode].append(res)
            print(f"  [{r + 1}] {mode:8s} {res['seconds']:7.2f} s  "
                  f"({res['tokens'] / res['seconds']:7.1f} tokens/s, peak RSS "
                  f"{res['peak_rss_mib']:.0f} MiB)", flush=True)
    same = results["cached"][0]["first"] == results["uncached"][0]["first"]
    med = {m: statistics.median(r["seconds"] for r in v) for m, v in results.items()}
    rss = {m: statistics.median(r["peak_rss_mib"] for r in v) for m, v in results.items()}
    info = results["cached"][0]
    print(f"\nmodel: {info['params']:,} parameters, context {info['block_size']}")
    print(f"median: {med['uncached']:.2f} s without the cache, {med['cached']:.2f} s with it: "
          f"speed-up {med['uncached'] / med['cached']:.1f}x")
    print(f"KV cache: {info['cache_mib']:.2f} MiB (keys + values, all layers, full context); "
          f"peak RSS {rss['uncached']:.0f} MiB without, {rss['cached']:.0f} MiB with")
    print(f"same greedy tokens with and without the cache: {same}")


if __name__ == "__main__":
    main()
