"""``lm-course train`` and ``lm-course generate``: train a GPT on a registry corpus, then
sample from the checkpoint.

    lm-course train --config char-cpu --data wiki --out runs/wiki
    lm-course train --config char-cpu --data wiki --out runs/wiki --resume
    lm-course generate --checkpoint runs/wiki --prompt "The " --temperature 0.8 --top-k 40

``train`` writes ``ckpt.pt`` (weights, optimiser, schedule, random states, history) and
``tokenizer.json`` into ``--out``; ``--resume`` continues from them exactly. A folder that
already holds a run is never overwritten silently: continue it with ``--resume`` or start
over with ``--force``. ``torchrun --nproc_per_node=N -m lm_course.tooling.cli train ...`` trains
data-parallel.

Every user error (a bad flag value, a missing, corrupt or foreign file, a failing disk)
ends with one ``error: ...`` line that names the flag or file, says what was wrong and
what to do, and a non-zero exit code; never a traceback.
"""

from __future__ import annotations

import argparse
import math
import pickle
import sys
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import torch

from lm_course import data
from lm_course.generation import generate_text
from lm_course.runtime import cleanup_distributed, load_checkpoint, setup_distributed
from lm_course.tokenizers import BPETokenizer, CharTokenizer, Tokenizer
from lm_course.training import RECIPES, Trainer
from lm_course.transformer import GPT, GPTConfig
from lm_course.utils import check_out_dir, pick_device, set_seed, suggest

TEXT_CORPORA = ("lee", "wiki", "tinyshakespeare", "text8")
RUN_FILES = ("ckpt.pt", "tokenizer.json")


def _error(message: str, code: int = 2) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


class _UserError(Exception):
    """A problem the user can fix; becomes one ``error:`` line and exit code ``code``."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


# ----------------------------------------------------------------------------- flag types
# argparse calls these on the text of a flag; a wrong value ends as
# "lm-course train: error: argument --lr: must be > 0, got 0.0" (exit code 2).


def _number(kind: type, low: float | None = None, high: float | None = None,
            low_open: bool = False, high_open: bool = False, what: str = ""):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'an integer' if kind is int else 'a number'}, got {text!r}"
            ) from None
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
        bad_low = low is not None and (value <= low if low_open else value < low)
        bad_high = high is not None and (value >= high if high_open else value > high)
        if bad_low or bad_high:
            left = "" if low is None else f"{'>' if low_open else '>='} {low:g}"
            right = "" if high is None else f"{'<' if high_open else '<='} {high:g}"
            rule = " and ".join(x for x in (left, right) if x)
            raise argparse.ArgumentTypeError(f"must be {rule}{what}, got {text}")
        return value
    parse.__name__ = kind.__name__  # argparse names the type in some messages
    return parse


_POS_INT = _number(int, low=1)
_NONNEG_INT = _number(int, low=0)
_POS_FLOAT = _number(float, low=0.0, low_open=True)


def _device(text: str) -> torch.device:
    try:
        return pick_device(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err).replace("prefer=", "")) from None


def _gpt_config(state: dict[str, Any], path: Path) -> GPTConfig:
    """The checkpoint's GPTConfig, or a one-line reason why it is not a GPT checkpoint."""
    cfg = state.get("model_config")
    if not isinstance(cfg, dict):
        raise _UserError(f"{path} holds no GPT config; was it written by lm-course train?")
    names = {f.name for f in fields(GPTConfig)}
    foreign = sorted(set(cfg) - names)
    if foreign:
        raise _UserError(f"{path} is a checkpoint of another model (its config has "
                         f"{foreign}, which GPTConfig has not); lm-course generate and "
                         f"train --resume need a checkpoint written by lm-course train")
    try:
        return GPTConfig(**cfg)
    except (TypeError, ValueError) as err:
        raise _UserError(f"{path} has an invalid GPT config: {err}") from None


def _load_tokenizer(path: Path, flag: str) -> Tokenizer:
    if not path.is_file():
        raise _UserError(f"{path} is missing: {flag} needs the tokenizer.json that "
                         f"lm-course train wrote beside ckpt.pt")
    try:
        return Tokenizer.load(path)
    except (ValueError, TypeError) as err:
        raise _UserError(str(err)) from None


def _load_model(state: dict[str, Any], path: Path, device: torch.device) -> GPT:
    model = GPT(_gpt_config(state, path)).to(device)
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, KeyError, TypeError) as err:
        first = str(err).strip().splitlines()[0][:160]
        raise _UserError(f"{path}: the weights do not fit its own GPT config ({first}); "
                         f"the file is damaged, train again") from None
    return model


def _one_line(run) -> Any:
    """Turn every user error of a subcommand into one line on stderr and an exit code."""
    def wrapped(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except _UserError as err:
            return _error(str(err), err.code)
        except FileNotFoundError as err:
            return _error(f"{err}", 1)
        except (ValueError, TypeError, FloatingPointError) as err:
            return _error(str(err), 1)
        except pickle.UnpicklingError as err:
            return _error(f"refused to load a file: {err}", 1)
        except ConnectionError as err:  # a download that could not be made
            return _error(str(err), 1)
        except OSError as err:  # permission denied, disk full, file too large ...
            if err.filename and err.strerror:
                return _error(f"could not write or read {err.filename}: {err.strerror}", 1)
            return _error(str(err), 1)
        finally:
            cleanup_distributed()
    wrapped.__name__ = run.__name__
    return wrapped


# ----------------------------------------------------------------------------- train


def _existing_run(out: Path) -> list[str]:
    return [name for name in RUN_FILES if (out / name).exists()]


@_one_line
def _train(args: argparse.Namespace) -> int:
    if args.config not in RECIPES:
        return _error(f"unknown config {args.config!r}{suggest(args.config, RECIPES)}; "
                      f"choose from {sorted(RECIPES)}")
    if args.data not in TEXT_CORPORA:
        return _error(f"unknown text corpus {args.data!r}{suggest(args.data, TEXT_CORPORA)}; "
                      f"choose from {list(TEXT_CORPORA)}")
    recipe = RECIPES[args.config]
    try:
        out = check_out_dir("--out", args.out)
    except ValueError as err:  # a wrong flag: exit code 2, like argparse's own
        return _error(str(err))
    ckpt_path, tok_path = out / "ckpt.pt", out / "tokenizer.json"
    found = _existing_run(out)
    if found and not (args.resume or args.force):
        return _error(f"--out {out} already holds a run ({', '.join(found)}); continue it "
                      f"with --resume, or start over with --force (replaces it)")
    resuming = args.resume and ckpt_path.is_file()
    if args.resume and not resuming:
        print(f"no checkpoint in {out} yet: starting a new run there")
    if resuming:  # read what the run needs before loading any text
        state = load_checkpoint(ckpt_path)
        tokenizer = _load_tokenizer(tok_path, "--resume")
        model_config = _gpt_config(state, ckpt_path)
        trained_on = (state.get("extra") or {}).get("data")
        if trained_on is not None and trained_on != args.data:
            return _error(f"{ckpt_path} was trained on --data {trained_on}; resume it with "
                          f"--data {trained_on} (or start over with --force)")
    text = data.load_text(args.data, max_chars=args.max_chars, download=args.download)
    info = setup_distributed()
    rank0 = info.rank == 0
    device = info.device if info.world_size > 1 else (
        args.device if args.device is not None else pick_device())
    if not resuming:
        tokenizer = (CharTokenizer().train(text) if args.tokenizer == "char"
                     else BPETokenizer().train(text, args.vocab_size))
        model_config = GPTConfig(vocab_size=tokenizer.vocab_size, **recipe.model)
    ids = torch.tensor(tokenizer.encode(text), dtype=torch.long)
    train_ids, val_ids = data.train_val_split(ids, args.val_fraction)
    cfg = recipe.train
    steps = args.steps if args.steps is not None else cfg.max_steps
    every = (args.checkpoint_interval if args.checkpoint_interval is not None
             else cfg.eval_interval)
    overrides: dict[str, Any] = {}
    if args.dtype is not None:
        overrides["dtype"] = args.dtype
    if args.lr is not None:
        overrides.update(lr=args.lr, min_lr=args.lr / 10)
    if args.batch_size is not None:
        overrides["batch_size"] = args.batch_size
    cfg = replace(cfg, max_steps=steps, warmup_steps=min(cfg.warmup_steps, steps),
                  progress=not args.no_progress, seed=args.seed, checkpoint_interval=every,
                  **overrides)
    if args.until is not None and args.until > cfg.max_steps:
        return _error(f"--until {args.until} is past the end of the run "
                      f"(--steps {cfg.max_steps})")
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
        if args.force:
            (out / "ckpt.pt").unlink(missing_ok=True)  # the old run is replaced, not mixed
        tokenizer.save(tok_path)
    until = cfg.max_steps if args.until is None else args.until
    if rank0:
        print(f"{args.config}: {sum(p.numel() for p in model.parameters()):,} parameters, "
              f"{len(train_ids):,} training tokens, {cfg.max_steps} steps of "
              f"{cfg.batch_size} x {cfg.block_size} tokens")
    try:
        history = trainer.fit(until=until)
    except OSError as err:  # the disk filled up or became read-only mid-run
        kept = (f"the last checkpoint {ckpt_path} (step {load_checkpoint(ckpt_path)['step']}) "
                f"is intact; free space and continue with --resume"
                if ckpt_path.is_file() else "no checkpoint was written")
        raise _UserError(f"could not write {err.filename or out}: {err.strerror or err}; "
                         f"{kept}") from None
    except KeyboardInterrupt:
        kept = (f"the last checkpoint {ckpt_path} (step {load_checkpoint(ckpt_path)['step']}) "
                f"is intact; continue with --resume" if ckpt_path.is_file()
                else "no checkpoint was written yet")
        raise _UserError(f"interrupted at step {trainer.step}; {kept}", 130) from None
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
    return 0


# ----------------------------------------------------------------------------- generate


@_one_line
def _generate(args: argparse.Namespace) -> int:
    path = Path(args.checkpoint)
    if not path.exists():
        return _error(f"--checkpoint {path} does not exist; give the ckpt.pt that "
                      f"lm-course train wrote, or its folder", 1)
    ckpt = path / "ckpt.pt" if path.is_dir() else path
    if not ckpt.is_file():
        return _error(f"--checkpoint {path} is a folder without ckpt.pt; give the --out "
                      f"folder of a finished lm-course train", 1)
    state = load_checkpoint(ckpt)
    extra = state.get("extra") if isinstance(state.get("extra"), dict) else {}
    _gpt_config(state, ckpt)
    tokenizer = _load_tokenizer(ckpt.parent / str(extra.get("tokenizer", "tokenizer.json")),
                                "--checkpoint")
    if args.beams > 1:
        sampling = [flag for flag, used in [
            ("--greedy", args.greedy), ("--temperature", args.temperature != 1.0),
            ("--top-k", args.top_k is not None), ("--top-p", args.top_p is not None),
            ("--repetition-penalty", args.repetition_penalty != 1.0),
            ("--num-samples", args.num_samples != 1)] if used]
        if sampling:
            return _error(f"--beams {args.beams} (beam search) is deterministic and gives one "
                          f"text; drop {', '.join(sampling)} or use --beams 1 to sample")
    device = args.device if args.device is not None else pick_device()
    model = _load_model(state, ckpt, device)
    model.eval()
    generator = torch.Generator(device=device).manual_seed(args.seed)
    if args.beams > 1:
        texts = [generate_text(model, tokenizer, args.prompt, args.max_new_tokens,
                               num_beams=args.beams, stop=args.stop,
                               use_cache=not args.no_cache)]
    else:
        texts = generate_text(model, tokenizer, [args.prompt] * args.num_samples,
                              args.max_new_tokens, stop=args.stop, greedy=args.greedy,
                              temperature=args.temperature, top_k=args.top_k,
                              top_p=args.top_p, repetition_penalty=args.repetition_penalty,
                              use_cache=not args.no_cache, generator=generator)
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
    p.add_argument("--max-chars", type=_POS_INT, default=None,
                   help="use only the first N characters")
    p.add_argument("--tokenizer", choices=["char", "bpe"], default="char")
    p.add_argument("--vocab-size", type=_number(int, low=257, what=" (256 bytes + merges)"),
                   default=512, help="BPE vocabulary size")
    p.add_argument("--val-fraction", type=_number(float, low=0.0, high=1.0, low_open=True,
                                                  high_open=True),
                   default=0.1, help="last part of the text held out for validation")
    p.add_argument("--out", required=True, help="folder for ckpt.pt and tokenizer.json")
    again = p.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true",
                       help="continue the run in OUT (from OUT/ckpt.pt if present)")
    again.add_argument("--force", action="store_true",
                       help="start a new run in OUT even if it holds one (replaces it)")
    p.add_argument("--steps", type=_POS_INT, default=None, help="total optimiser steps of the run")
    p.add_argument("--until", type=_POS_INT, default=None,
                   help="stop after this step (resume later with --resume)")
    p.add_argument("--checkpoint-interval", type=_NONNEG_INT, default=None,
                   help="steps between checkpoints (default: every evaluation; 0: at the end)")
    p.add_argument("--batch-size", type=_POS_INT, default=None)
    p.add_argument("--lr", type=_POS_FLOAT, default=None, help="peak learning rate")
    p.add_argument("--dtype", choices=["float32", "bfloat16"], default=None)
    p.add_argument("--device", type=_device, default=None,
                   help="cpu, cuda or mps (default: best available)")
    p.add_argument("--seed", type=_NONNEG_INT, default=1337)
    p.add_argument("--sample-chars", type=_NONNEG_INT, default=200,
                   help="print a sample of this many tokens at the end (0: none)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_train)

    p = subparsers.add_parser("generate", help="sample text from a trained checkpoint")
    p.add_argument("--checkpoint", required=True, help="ckpt.pt or the folder holding it")
    p.add_argument("--prompt", default="\n", help="text to continue")
    p.add_argument("--max-new-tokens", type=_NONNEG_INT, default=200)
    p.add_argument("--temperature", type=_POS_FLOAT, default=1.0)
    p.add_argument("--top-k", type=_POS_INT, default=None)
    p.add_argument("--top-p", type=_number(float, low=0.0, high=1.0, low_open=True),
                   default=None)
    p.add_argument("--repetition-penalty", type=_POS_FLOAT, default=1.0)
    p.add_argument("--greedy", action="store_true", help="always take the most likely token")
    p.add_argument("--beams", type=_POS_INT, default=1, help="beam search with this many beams")
    p.add_argument("--stop", action="append", default=None,
                   help="stop before this string (repeatable)")
    p.add_argument("--num-samples", type=_POS_INT, default=1)
    p.add_argument("--seed", type=_NONNEG_INT, default=0)
    p.add_argument("--no-cache", action="store_true", help="recompute every step (slow)")
    p.add_argument("--device", type=_device, default=None)
    p.set_defaults(func=_generate)
