"""``lm-course train`` and ``lm-course generate``: train a GPT on a registry corpus, then
sample from the checkpoint.

    lm-course train --config char-cpu --data wiki --out runs/wiki
    lm-course train --config char-cpu --data wiki --out runs/wiki --resume
    lm-course generate --checkpoint runs/wiki --prompt "The " --temperature 0.8 --top-k 40

``train`` writes ``ckpt.pt`` (weights, optimiser, schedule, random states, history) and
``tokenizer.json`` into ``--out``; ``--resume`` continues from them exactly. ``torchrun
--nproc_per_node=N -m lm_course.cli train ...`` trains data-parallel.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import torch

from lm_course import data
from lm_course.generation import generate_text
from lm_course.runtime import cleanup_distributed, load_checkpoint, setup_distributed
from lm_course.tokenizers import BPETokenizer, CharTokenizer, Tokenizer
from lm_course.training import RECIPES, Trainer
from lm_course.transformer import GPT, GPTConfig
from lm_course.utils import pick_device, set_seed

TEXT_CORPORA = ("lee", "wiki", "tinyshakespeare", "text8")


def _error(message: str, code: int = 2) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


# ----------------------------------------------------------------------------- train


def _train(args: argparse.Namespace) -> int:
    if args.config not in RECIPES:
        return _error(f"unknown config {args.config!r}; choose from {sorted(RECIPES)}")
    if args.data not in TEXT_CORPORA:
        return _error(f"unknown text corpus {args.data!r}; choose from {list(TEXT_CORPORA)}")
    recipe = RECIPES[args.config]
    out = Path(args.out)
    ckpt_path = out / "ckpt.pt"
    resuming = args.resume and ckpt_path.is_file()
    try:
        text = data.load_text(args.data, max_chars=args.max_chars, download=args.download)
    except (ValueError, FileNotFoundError, OSError, ConnectionError) as err:
        return _error(str(err), 1)
    info = setup_distributed()
    rank0 = info.rank == 0
    device = pick_device(args.device) if info.world_size == 1 else info.device
    tok_path = out / "tokenizer.json"
    try:
        if resuming:
            tokenizer = Tokenizer.load(tok_path)
            state = load_checkpoint(ckpt_path)
            model_config = GPTConfig(**state["model_config"])
        else:
            tokenizer = (CharTokenizer().train(text) if args.tokenizer == "char"
                         else BPETokenizer().train(text, args.vocab_size))
            model_config = GPTConfig(vocab_size=tokenizer.vocab_size, **recipe.model)
        ids = torch.tensor(tokenizer.encode(text), dtype=torch.long)
        train_ids, val_ids = data.train_val_split(ids, args.val_fraction)
        cfg = recipe.train
        steps = args.steps if args.steps is not None else cfg.max_steps
        cfg = replace(cfg, max_steps=steps, warmup_steps=min(cfg.warmup_steps, steps),
                      progress=not args.no_progress, seed=args.seed,
                      **({"dtype": args.dtype} if args.dtype else {}),
                      **({"lr": args.lr, "min_lr": args.lr / 10} if args.lr else {}),
                      **({"batch_size": args.batch_size} if args.batch_size else {}))
        set_seed(args.seed)
        model = GPT(model_config).to(device)
        trainer = Trainer(model, train_ids, val_ids, cfg, out_dir=out,
                          extra={"data": args.data, "tokenizer": tok_path.name})
        if resuming:
            trainer.load(ckpt_path)
            if rank0:
                print(f"resuming {ckpt_path} at step {trainer.step} of {cfg.max_steps}")
        elif rank0:
            out.mkdir(parents=True, exist_ok=True)
            tokenizer.save(tok_path)
        until = cfg.max_steps if args.until is None else min(args.until, cfg.max_steps)
        if rank0:
            print(f"{args.config}: {sum(p.numel() for p in model.parameters()):,} parameters, "
                  f"{len(train_ids):,} training tokens, {cfg.max_steps} steps of "
                  f"{cfg.batch_size} x {cfg.block_size} tokens")
        history = trainer.fit(until=until)
    except (ValueError, TypeError) as err:
        cleanup_distributed()
        return _error(str(err))
    if rank0:
        if history.val_loss:
            print(f"step {trainer.step}: val loss {history.val_loss[-1]:.4f} "
                  f"(perplexity {history.val_ppl[-1]:.2f}); checkpoint {ckpt_path}")
        if args.sample_chars > 0:
            prompt = text[: max(1, min(16, len(text)))]
            sample = generate_text(model, tokenizer, prompt, args.sample_chars,
                                   temperature=0.8, top_k=40,
                                   generator=torch.Generator().manual_seed(args.seed))
            print("sample:\n" + sample)
    cleanup_distributed()
    return 0


# ----------------------------------------------------------------------------- generate


def _generate(args: argparse.Namespace) -> int:
    path = Path(args.checkpoint)
    ckpt = path / "ckpt.pt" if path.is_dir() else path
    try:
        state = load_checkpoint(ckpt)
        tokenizer = Tokenizer.load(ckpt.parent / state["extra"].get("tokenizer",
                                                                   "tokenizer.json"))
    except (FileNotFoundError, ValueError, KeyError) as err:
        return _error(f"cannot load {ckpt}: {err}", 1)
    if state.get("model_config") is None:
        return _error(f"{ckpt} holds no GPT config; was it written by lm-course train?", 1)
    device = pick_device(args.device)
    model = GPT(GPTConfig(**state["model_config"])).to(device)
    model.load_state_dict(state["model"])
    model.eval()
    generator = torch.Generator(device=device).manual_seed(args.seed)
    try:
        prompts = [args.prompt] * args.num_samples
        if args.beams > 1:
            texts = [generate_text(model, tokenizer, args.prompt, args.max_new_tokens,
                                   num_beams=args.beams, stop=args.stop,
                                   use_cache=not args.no_cache)]
        else:
            texts = generate_text(model, tokenizer, prompts, args.max_new_tokens,
                                  stop=args.stop, greedy=args.greedy,
                                  temperature=args.temperature, top_k=args.top_k,
                                  top_p=args.top_p,
                                  repetition_penalty=args.repetition_penalty,
                                  use_cache=not args.no_cache, generator=generator)
    except (ValueError, TypeError) as err:
        return _error(str(err))
    print("\n-----\n".join(texts))
    return 0


# ----------------------------------------------------------------------------- wiring


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``train`` and ``generate`` to the ``lm-course`` command."""
    p = subparsers.add_parser("train", help="train a GPT language model on a corpus")
    recipes = "; ".join(f"{k}: {v.description}" for k, v in RECIPES.items())
    p.add_argument("--config", default="char-cpu", help=f"named recipe ({recipes})")
    p.add_argument("--data", default="wiki", help=f"text corpus: {', '.join(TEXT_CORPORA)}")
    p.add_argument("--download", action="store_true", help="download the corpus if needed")
    p.add_argument("--max-chars", type=int, default=None, help="use only the first N characters")
    p.add_argument("--tokenizer", choices=["char", "bpe"], default="char")
    p.add_argument("--vocab-size", type=int, default=512, help="BPE vocabulary size")
    p.add_argument("--val-fraction", type=float, default=0.1,
                   help="last part of the text held out for validation")
    p.add_argument("--out", required=True, help="folder for ckpt.pt and tokenizer.json")
    p.add_argument("--resume", action="store_true", help="continue from OUT/ckpt.pt if present")
    p.add_argument("--steps", type=int, default=None, help="total optimiser steps of the run")
    p.add_argument("--until", type=int, default=None,
                   help="stop after this step (resume later with --resume)")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None, help="peak learning rate")
    p.add_argument("--dtype", choices=["float32", "bfloat16"], default=None)
    p.add_argument("--device", default=None, help="cpu, cuda or mps (default: best available)")
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--sample-chars", type=int, default=200,
                   help="print a sample of this many tokens at the end (0: none)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_train)

    p = subparsers.add_parser("generate", help="sample text from a trained checkpoint")
    p.add_argument("--checkpoint", required=True, help="ckpt.pt or the folder holding it")
    p.add_argument("--prompt", default="\n", help="text to continue")
    p.add_argument("--max-new-tokens", type=int, default=200)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--top-p", type=float, default=None)
    p.add_argument("--repetition-penalty", type=float, default=1.0)
    p.add_argument("--greedy", action="store_true", help="always take the most likely token")
    p.add_argument("--beams", type=int, default=1, help="beam search with this many beams")
    p.add_argument("--stop", action="append", default=None,
                   help="stop before this string (repeatable)")
    p.add_argument("--num-samples", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-cache", action="store_true", help="recompute every step (slow)")
    p.add_argument("--device", default=None)
    p.set_defaults(func=_generate)
