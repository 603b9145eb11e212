"""``lm-course chat CHECKPOINT``: talk to a chat model in the terminal, turn by turn.

    lm-course chat notebooks/runs/08f_dialogue --temperature 0.8 --top-k 20

CHECKPOINT is a ``ckpt.pt`` written with a chat template in its ``extra`` (chapter 08f
saves one), or the folder holding it with its ``tokenizer.json``. Each line you type is a
user turn; the model answers until its end-of-turn token (or ``--max-new-tokens``). The
whole conversation so far is the prompt of every answer (cropped to the model's context).
``/reset`` starts a new conversation, ``/quit`` (or Ctrl-D) leaves with exit code 0,
Ctrl-C with 130. A bad checkpoint or flag ends with one ``error:`` line (exit code 1 or 2),
never a traceback; the sampling flags mean what they mean for ``lm-course generate``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from lm_course.apps.dialogue import ChatTemplate, chat_reply, reply_prompt
from lm_course.runtime import load_checkpoint
from lm_course.tooling.cli_lm import (
    _NONNEG_INT,
    _POS_FLOAT,
    _POS_INT,
    _device,
    _gpt_config,
    _load_model,
    _load_tokenizer,
    _number,
    _one_line,
    _UserError,
)
from lm_course.utils import pick_device

COMMANDS = ("/reset", "/quit")


def load_chat_model(path: str | Path, device: torch.device | None = None):
    """(model, tokenizer, template) of a chat checkpoint, or a one-line ``_UserError``."""
    path = Path(path)
    if not path.exists():
        raise _UserError(f"CHECKPOINT {path} does not exist; give the ckpt.pt of a chat model "
                         f"(chapter 08f saves one) or its folder")
    ckpt = path / "ckpt.pt" if path.is_dir() else path
    if not ckpt.is_file():
        raise _UserError(f"CHECKPOINT {path} is a folder without ckpt.pt")
    state = load_checkpoint(ckpt)
    extra = state.get("extra") if isinstance(state.get("extra"), dict) else {}
    _gpt_config(state, ckpt)
    if "chat_template" not in extra:
        raise _UserError(f"{ckpt} has no chat template: it is a plain language model (use "
                         f"lm-course generate), not a chat model fine-tuned as in chapter 08f")
    try:
        template = ChatTemplate.from_dict(extra["chat_template"])
    except (TypeError, ValueError) as err:
        raise _UserError(f"{ckpt} has a damaged chat template ({err})") from None
    tokenizer = _load_tokenizer(ckpt.parent / str(extra.get("tokenizer", "tokenizer.json")),
                                "CHECKPOINT")
    missing = [s for s in template.special_tokens if s not in tokenizer.special_tokens]
    if missing:
        raise _UserError(f"the tokenizer beside {ckpt} lacks the chat tokens {missing}; it "
                         f"does not belong to this chat model")
    device = pick_device() if device is None else device
    model = _load_model(state, ckpt, device)
    model.eval()
    return model, tokenizer, template


def _read(prompt: str) -> str:
    """One line from the user (``input`` shows the prompt only on a terminal)."""
    if sys.stdin.isatty():
        return input(prompt)
    line = sys.stdin.readline()
    if not line:
        raise EOFError
    return line.rstrip("\n")


@_one_line
def _chat(args: argparse.Namespace) -> int:
    device = args.device if args.device is not None else pick_device()
    model, tokenizer, template = load_chat_model(args.checkpoint, device)
    generator = torch.Generator(device=device).manual_seed(args.seed)
    sampling = dict(greedy=args.greedy, temperature=args.temperature, top_k=args.top_k,
                    top_p=args.top_p, repetition_penalty=args.repetition_penalty,
                    use_cache=not args.no_cache, generator=generator)
    context = model.config.block_size
    print(f"chatting with {args.checkpoint} ({context} tokens of context); type a message, "
          f"/reset for a new conversation, /quit or Ctrl-D to leave")
    history: list[tuple[str, str]] = []
    try:
        while True:
            try:
                line = _read("you> ")
            except EOFError:
                print()
                return 0
            text = line.strip()
            if not text:
                continue
            if text == "/quit":
                return 0
            if text == "/reset":
                history = []
                print("(new conversation)")
                continue
            if text.startswith("/"):
                print(f"unknown command {text.split()[0]!r}; the commands are "
                      f"{', '.join(COMMANDS)}")
                continue
            turn = [*history, ("user", line)]
            try:
                prompt_len = len(reply_prompt(turn, tokenizer, template))
                reply = chat_reply(model, tokenizer, turn, template, args.max_new_tokens,
                                   **sampling)
            except ValueError as err:  # e.g. a character the tokenizer cannot encode
                print(f"error: {err}; this message was not sent", file=sys.stderr)
                continue
            cut = "" if reply.ended else f" [cut at --max-new-tokens {args.max_new_tokens}]"
            print(f"bot> {reply.text}{cut}", flush=True)
            history = [*turn, ("assistant", reply.text or " ")]
            if prompt_len + len(reply.ids) > context:
                print(f"(the conversation is longer than the model's {context}-token context; "
                      f"it now sees only the most recent part: /reset to start again)")
    except KeyboardInterrupt:
        print()
        return 130


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``chat`` to the ``lm-course`` command."""
    p = subparsers.add_parser("chat", help="talk to a chat model (chapter 08f) in the terminal")
    p.add_argument("checkpoint", metavar="CHECKPOINT",
                   help="ckpt.pt of a chat model, or the folder holding it")
    p.add_argument("--max-new-tokens", type=_POS_INT, default=120,
                   help="longest reply in tokens")
    p.add_argument("--temperature", type=_POS_FLOAT, default=0.8,
                   help="default 0.8 (generate's is 1.0: a small chat model rambles at 1.0)")
    p.add_argument("--top-k", type=_POS_INT, default=20,
                   help="default 20 (generate's is none)")
    p.add_argument("--top-p", type=_number(float, low=0.0, high=1.0, low_open=True),
                   default=None)
    p.add_argument("--repetition-penalty", type=_POS_FLOAT, default=1.0)
    p.add_argument("--greedy", action="store_true", help="always take the most likely token")
    p.add_argument("--seed", type=_NONNEG_INT, default=0)
    p.add_argument("--no-cache", action="store_true", help="recompute every step (slow)")
    p.add_argument("--device", type=_device, default=None)
    p.set_defaults(func=_chat)
