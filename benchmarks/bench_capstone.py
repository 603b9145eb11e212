"""Capstone benchmark: our CPU recipe for a character-level GPT, against the clock.

Trains the ``char-cpu`` recipe on a text file (90 % train / 10 % validation, split like
nanoGPT's ``shakespeare_char``) for a wall-clock budget and prints validation loss over
training time, tokens/s and MFU, and when the curve first reaches each target loss.

    python benchmarks/bench_capstone.py --data ../shared/data/tinyshakespeare.txt --seconds 105

With ``--nanogpt DIR`` (a checkout of karpathy/nanoGPT that you provide; nothing of it is
part of this project), it also runs nanoGPT's README CPU recipe on the same file,
alternating with ours ``--repeats`` times, and prints medians and ratios:

    python benchmarks/bench_capstone.py --data ... --seconds 105 --nanogpt /tmp/nanogpt --repeats 3

Clocks: "training time" excludes evaluations on both sides (ours evaluates the whole
validation split every ``--eval-seconds``; nanoGPT's per-iteration times are summed
without the iterations that ran its evaluation). Both final models are also scored by the
same evaluator: mean loss over every non-overlapping window of the validation split.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pickle
import re
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from lm_course.data import DATASETS, cache_dir
from lm_course.optim import warmup_cosine_lr
from lm_course.tokenizers import CharTokenizer
from lm_course.training import RECIPES, Trainer, evaluate_loss
from lm_course.transformer import GPT, GPTConfig

NANOGPT_FLAGS = ["config/train_shakespeare_char.py", "--device=cpu", "--compile=False",
                 "--eval_iters=20", "--log_interval=1", "--block_size=64", "--batch_size=12",
                 "--n_layer=4", "--n_head=4", "--n_embd=128", "--max_iters=2000",
                 "--lr_decay_iters=2000", "--dropout=0.0"]  # the README's CPU command


def load_split(path: str) -> tuple[CharTokenizer, torch.Tensor, torch.Tensor]:
    text = Path(path).read_text(encoding="utf-8")
    tok = CharTokenizer().train(text)  # the vocabulary of the whole file, as nanoGPT does
    n = int(len(text) * 0.9)
    train = torch.tensor(tok.encode(text[:n]), dtype=torch.long)
    val = torch.tensor(tok.encode(text[n:]), dtype=torch.long)
    return tok, train, val


def time_cosine(step: int, seconds_done: float, budget: float, *, max_lr: float, min_lr: float,
                warmup_steps: int, warmup_seconds: float) -> float:
    """Warm up over the first steps, then a cosine decay over the remaining *time*: the
    schedule ends exactly when the budget does, whatever the speed of the machine."""
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    ratio = min(1.0, (seconds_done - warmup_seconds) / max(budget - warmup_seconds, 1e-9))
    return min_lr + (max_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * ratio))


def _parse(value: str, like: object) -> object:
    if isinstance(like, bool):
        return value.lower() in ("1", "true", "yes")
    if isinstance(like, float):
        return float(value)
    return type(like)(value)


def run_ours(args: argparse.Namespace, train: torch.Tensor, val: torch.Tensor,
             vocab: int) -> dict:
    recipe = RECIPES[args.recipe]
    model_kw = dict(recipe.model)
    cfg = replace(recipe.train, progress=False, eval_interval=0, eval_train=False,
                  max_steps=10**9, warmup_steps=recipe.train.warmup_steps)
    for item in args.set or []:  # --set lr=3e-3 --set n_layer=6 --set block_size=32 ...
        key, value = item.split("=", 1)
        if key == "block_size":  # the training windows and the model's context
            cfg = replace(cfg, block_size=int(value))
            model_kw["block_size"] = int(value)
        elif key in GPTConfig.__dataclass_fields__:
            model_kw[key] = _parse(value, getattr(GPTConfig(), key))
        else:
            cfg = replace(cfg, **{key: _parse(value, getattr(cfg, key))})
    if model_kw["block_size"] < cfg.block_size:
        model_kw["block_size"] = cfg.block_size
    torch.manual_seed(args.seed)
    model = GPT(GPTConfig(vocab_size=vocab, **model_kw))
    cfg = replace(cfg, seed=args.seed)
    trainer = Trainer(model, train, None, cfg)
    n_params = sum(p.numel() for p in model.parameters())
    curve = [(0.0, 0, evaluate_loss(model, val, cfg.block_size, batch_size=64))]
    next_eval = args.eval_seconds
    warmup_seconds = 0.0
    wall0 = time.perf_counter()
    while True:
        if args.steps:  # step-based schedule (for tuning on a busy machine)
            lr = warmup_cosine_lr(trainer.step, max_lr=cfg.lr, min_lr=cfg.min_lr,
                                  warmup_steps=cfg.warmup_steps, total_steps=args.steps)
        else:
            lr = time_cosine(trainer.step, trainer.train_seconds, args.seconds, max_lr=cfg.lr,
                             min_lr=cfg.min_lr, warmup_steps=cfg.warmup_steps,
                             warmup_seconds=warmup_seconds)
        for group in trainer.optimizer.param_groups:
            group["lr"] = lr
        t0 = time.perf_counter()
        trainer.train_step()
        trainer.train_seconds += time.perf_counter() - t0
        if trainer.step == cfg.warmup_steps:
            warmup_seconds = trainer.train_seconds
        if args.steps:
            finished = trainer.step >= args.steps
            due = trainer.step % args.eval_steps == 0
        else:
            finished = trainer.train_seconds >= args.seconds
            due = trainer.train_seconds >= next_eval
        if due or finished:
            loss = evaluate_loss(model, val, cfg.block_size, batch_size=64)
            curve.append((trainer.train_seconds, trainer.step, loss))
            print(f"  ours  t={trainer.train_seconds:6.1f}s step {trainer.step:5d}  "
                  f"val {loss:.4f}  lr {lr:.2e}", flush=True)
            next_eval += args.eval_seconds
        if finished:
            break
    wall = time.perf_counter() - wall0
    tokens = trainer.step * trainer.tokens_per_step
    tok_s = tokens / trainer.train_seconds
    return {"curve": curve, "params": n_params, "steps": trainer.step,
            "train_seconds": trainer.train_seconds, "wall_seconds": wall,
            "tokens_per_sec": tok_s, "mfu": trainer.mfu(tok_s),
            "flops_per_token": trainer.flops_per_token,
            "final_val": curve[-1][2], "model": model_kw,
            "config": {k: getattr(cfg, k) for k in ("batch_size", "block_size", "lr", "min_lr",
                                                     "warmup_steps", "dtype", "beta2",
                                                     "weight_decay", "optimizer_impl")}}


def first_crossing(curve: list[tuple[float, int, float]], target: float) -> float | None:
    """Training time at which the curve first reaches ``target`` (linear interpolation)."""
    for (t0, _, l0), (t1, _, l1) in zip(curve, curve[1:], strict=False):
        if l1 <= target:
            if l0 <= target:
                return t0
            return t0 + (t1 - t0) * (l0 - target) / (l0 - l1)
    return None


# ----------------------------------------------------------------------------- nanoGPT


def prepare_nanogpt_data(nanogpt: Path, text_path: str) -> None:
    """Write nanoGPT's shakespeare_char files from the given text (its prepare.py would
    download the same file; this machine may be offline)."""
    folder = nanogpt / "data" / "shakespeare_char"
    folder.mkdir(parents=True, exist_ok=True)
    text = Path(text_path).read_text(encoding="utf-8")
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    n = int(len(text) * 0.9)
    np.array([stoi[c] for c in text[:n]], dtype=np.uint16).tofile(folder / "train.bin")
    np.array([stoi[c] for c in text[n:]], dtype=np.uint16).tofile(folder / "val.bin")
    with open(folder / "meta.pkl", "wb") as f:
        pickle.dump({"vocab_size": len(chars), "itos": dict(enumerate(chars)), "stoi": stoi}, f)


def run_nanogpt(nanogpt: Path, out_dir: Path, val: torch.Tensor, threads: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    cmd = [sys.executable, "train.py", *NANOGPT_FLAGS, f"--out_dir={out_dir}"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=nanogpt, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"nanoGPT failed:\n{proc.stderr[-3000:]}")
    log = proc.stdout
    dts = {int(m.group(1)): float(m.group(2)) / 1000
           for m in re.finditer(r"iter (\d+): loss [\d.]+, time ([\d.]+)ms", log)}
    evals = {int(m.group(1)): float(m.group(2))
             for m in re.finditer(r"step (\d+): train loss [\d.]+, val loss ([\d.]+)", log)}
    plain = [dt for it, dt in dts.items() if it % 250 != 0]
    med = statistics.median(plain)
    # iterations that also ran an evaluation count at the median iteration time
    train_seconds = sum(plain) + med * sum(1 for it in dts if it % 250 == 0)
    result = {"wall_seconds": wall, "train_seconds": train_seconds, "iter_ms": med * 1000,
              "tokens_per_sec": 12 * 64 / med, "evals": evals,
              "final_val_nanogpt_estimate": evals.get(2000)}
    ckpt = out_dir / "ckpt.pt"
    if ckpt.is_file():  # score its final model with our evaluator (all validation windows)
        sys.path.insert(0, str(nanogpt))
        from model import GPT as NanoGPT  # the user's nanoGPT checkout
        from model import GPTConfig as NanoConfig

        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        model = NanoGPT(NanoConfig(**state["model_args"]))
        model.load_state_dict({k.removeprefix("_orig_mod."): v
                               for k, v in state["model"].items()})
        result["final_val_full"] = evaluate_loss(model, val, 64, batch_size=64)
        result["ckpt_iter"] = state["iter_num"]
    return result


# ----------------------------------------------------------------------------- main


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=None,
                   help="text file (default: Tiny Shakespeare, if downloaded with "
                        "`lm-course data download tinyshakespeare`)")
    p.add_argument("--seconds", type=float, default=105.0, help="training-time budget")
    p.add_argument("--targets", type=float, nargs="*", default=[1.886, 1.75])
    p.add_argument("--recipe", default="char-cpu", choices=sorted(RECIPES))
    p.add_argument("--set", action="append", help="override: --set lr=3e-3 --set n_layer=6")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--eval-seconds", type=float, default=5.0)
    p.add_argument("--steps", type=int, default=None,
                   help="train this many steps with a step-based schedule instead of a budget")
    p.add_argument("--eval-steps", type=int, default=100, help="with --steps")
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--nanogpt", type=Path, default=None, help="a nanoGPT checkout to compare")
    p.add_argument("--json", type=Path, default=None, help="write all results here")
    args = p.parse_args()
    if args.data is None:
        cached = cache_dir() / (DATASETS["tinyshakespeare"].filename or "")
        if not cached.is_file():
            print("bench_capstone: no --data given and Tiny Shakespeare is not downloaded "
                  "(`lm-course data download tinyshakespeare`); skipped")
            return
        args.data = str(cached)
    torch.set_num_threads(args.threads)
    tok, train, val = load_split(args.data)
    print(f"{args.data}: vocab {tok.vocab_size}, {len(train):,} train / {len(val):,} val "
          f"tokens; {args.threads} threads; load average {os.getloadavg()[0]:.2f}")
    if args.nanogpt:
        prepare_nanogpt_data(args.nanogpt, args.data)
    ours, theirs = [], []
    for r in range(args.repeats):
        if args.nanogpt:
            print(f"[{r + 1}/{args.repeats}] nanoGPT README CPU recipe ...", flush=True)
            res = run_nanogpt(args.nanogpt, Path(f"/tmp/nanogpt-out-{os.getpid()}-{r}"), val,
                              args.threads)
            print(f"  nanoGPT: {res['train_seconds']:.1f}s training ({res['wall_seconds']:.1f}s "
                  f"wall), {res['tokens_per_sec']:,.0f} tok/s, val {res['evals'].get(2000)} "
                  f"(its estimate), {res.get('final_val_full', float('nan')):.4f} (all windows)",
                  flush=True)
            theirs.append(res)
        print(f"[{r + 1}/{args.repeats}] ours ({args.recipe}) for {args.seconds:.0f}s ...",
              flush=True)
        res = run_ours(args, train, val, tok.vocab_size)
        res["crossings"] = {str(t): first_crossing(res["curve"], t) for t in args.targets}
        print(f"  ours: {res['params']:,} params, {res['steps']} steps, "
              f"{res['tokens_per_sec']:,.0f} tok/s, MFU {100 * res['mfu']:.1f}% of a measured "
              f"matmul, final val {res['final_val']:.4f}, reached "
              + ", ".join(f"{t}: {'-' if v is None else f'{v:.1f}s'}"
                          for t, v in res["crossings"].items()), flush=True)
        ours.append(res)
    print(f"\nsummary over {args.repeats} run(s) (medians); peak RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    for t in args.targets:
        times = [r["crossings"][str(t)] for r in ours]
        reached = [x for x in times if x is not None]
        line = (f"  ours reaches {t}: {len(reached)}/{len(times)} runs"
                + (f", median {statistics.median(reached):.1f}s" if reached else ""))
        print(line)
    print(f"  ours final val {statistics.median(r['final_val'] for r in ours):.4f} after "
          f"{args.seconds:.0f}s; {statistics.median(r['tokens_per_sec'] for r in ours):,.0f} "
          f"tok/s")
    if theirs:
        ref = statistics.median(r["train_seconds"] for r in theirs)
        full = [r["final_val_full"] for r in theirs if "final_val_full" in r]
        print(f"  nanoGPT: {ref:.1f}s training (median), its final val estimate "
              f"{statistics.median(r['evals'].get(2000, math.nan) for r in theirs):.4f}"
              + (f", all-window val {statistics.median(full):.4f}" if full else ""))
        first = [r["crossings"][str(args.targets[0])] for r in ours]
        if all(x is not None for x in first):
            print(f"  ratio ours-to-{args.targets[0]} / nanoGPT run: "
                  f"{statistics.median(first) / ref:.2f}")
    if args.json:
        args.json.write_text(json.dumps({"ours": ours, "nanogpt": theirs}, indent=1))


if __name__ == "__main__":
    main()
