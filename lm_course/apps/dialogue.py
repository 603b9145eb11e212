"""Dialogue: a chat template, fine-tuning on the assistant's turns only, and chatting.

A chat model is an ordinary language model that reads conversations written in a fixed
format, the *chat template*. Every turn opens with a role token and closes with an
end-of-turn token::

    <|user|>Hi! How are you?<|end|><|assistant|>Good, and you?<|end|><|user|>...

Supervised fine-tuning (SFT) trains next-token prediction on such text, with the loss
*masked* to the assistant's tokens: the model learns to write the replies, not to imitate
the user. At chat time the prompt is the history followed by ``<|assistant|>``, and decoding
stops at ``<|end|>``.

The chit-chat data has two human speakers, ``"A"`` (who opened the chat) and ``"B"`` (who
answered); :class:`ChatTemplate` maps A to the user and B to the assistant, so the model
learns to answer an opening, as a chat assistant does.

>>> t = ChatTemplate()
>>> render([("A", "Hi!"), ("B", "Hello.")], t)
'<|user|>Hi!<|end|><|assistant|>Hello.<|end|>'
>>> from lm_course.tokenizers import BPETokenizer
>>> tok = BPETokenizer().train("Hi! Hello.", 260, special_tokens=t.special_tokens)
>>> ids, mask = encode_chat([("A", "Hi!"), ("B", "Hello.")], tok, t)
>>> [tok.decode([i]) for i, m in zip(ids, mask) if m]
['H', 'e', 'l', 'l', 'o', '.', '<|end|>']
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lm_course.data import lm_windows
from lm_course.generation import generate
from lm_course.runtime import CHECKPOINT_FORMAT, save_checkpoint
from lm_course.tokenizers import BPETokenizer
from lm_course.utils import check_int, module_device

__all__ = [
    "ROLES", "ChatTemplate", "render", "encode_chat", "ChatStream", "chat_stream",
    "plain_text", "train_chat_tokenizer", "role_losses", "reply_prompt", "Reply", "chat_reply",
    "save_chat_model",
]

ROLES = ("user", "assistant")
USER, ASSISTANT, HEADER = 0, 1, -1  # what each token of a ChatStream belongs to


# ----------------------------------------------------------------------------- the template


@dataclass(frozen=True)
class ChatTemplate:
    """The role and end-of-turn tokens, and which dataset speaker plays which role."""

    user: str = "<|user|>"  # opens a user turn
    assistant: str = "<|assistant|>"  # opens an assistant turn
    end: str = "<|end|>"  # closes every turn (the assistant learns to emit it)
    speakers: tuple[str, str] = ("A", "B")  # dataset speakers playing (user, assistant)

    def __post_init__(self) -> None:
        for name in ("user", "assistant", "end"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} must be a non-empty string, got {value!r}")
        if len(set(self.special_tokens)) != 3:
            raise ValueError(f"user, assistant and end must be three different tokens, got "
                             f"{self.special_tokens}")
        if (not isinstance(self.speakers, tuple) or len(self.speakers) != 2
                or not all(isinstance(s, str) for s in self.speakers)
                or self.speakers[0] == self.speakers[1]):
            raise ValueError(f"speakers must be a tuple of two different strings (user, "
                             f"assistant), got {self.speakers!r}")

    @property
    def special_tokens(self) -> list[str]:
        """The three tokens, for ``BPETokenizer.train(..., special_tokens=...)``."""
        return [self.user, self.assistant, self.end]

    def role(self, speaker: str) -> str:
        """``"user"`` or ``"assistant"`` for a dataset speaker or a role name."""
        if speaker in ROLES:
            return speaker
        if speaker in self.speakers:
            return ROLES[self.speakers.index(speaker)]
        raise ValueError(f"speaker must be one of {list(self.speakers) + list(ROLES)}, got "
                         f"{speaker!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain data for a checkpoint's ``extra`` (see :meth:`from_dict`)."""
        return {**asdict(self), "speakers": list(self.speakers)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ChatTemplate:
        if not isinstance(d, dict):
            raise TypeError(f"a chat template must be a dict, got {type(d).__name__}")
        d = dict(d)
        if "speakers" in d:
            d["speakers"] = tuple(d["speakers"])
        unknown = set(d) - {"user", "assistant", "end", "speakers"}
        if unknown:
            raise ValueError(f"unknown chat template fields {sorted(unknown)}")
        return cls(**d)


def _check_chat(chat: object, template: ChatTemplate) -> list[tuple[str, str]]:
    """A list of (role, text) pairs, or a clear error naming the turn."""
    if not isinstance(template, ChatTemplate):
        raise TypeError(f"template must be a ChatTemplate, got {type(template).__name__}")
    if isinstance(chat, (str, bytes)) or not isinstance(chat, Sequence):
        raise TypeError(f"chat must be a list of (speaker, text) turns, got "
                        f"{type(chat).__name__}")
    if len(chat) == 0:
        raise ValueError("chat is empty: give at least one (speaker, text) turn")
    turns = []
    for i, turn in enumerate(chat):
        if (isinstance(turn, (str, bytes)) or not isinstance(turn, Sequence) or len(turn) != 2
                or not all(isinstance(x, str) for x in turn)):
            raise TypeError(f"chat[{i}] must be a (speaker, text) pair of strings, got {turn!r}")
        speaker, text = turn
        if not text:
            raise ValueError(f"chat[{i}] has an empty text; drop the turn or write something")
        for special in template.special_tokens:
            if special in text:
                raise ValueError(f"chat[{i}] contains the template token {special!r}; a turn's "
                                 f"text may not hold role or end-of-turn tokens")
        turns.append((template.role(speaker), text))
    return turns


def render(chat: Sequence[tuple[str, str]], template: ChatTemplate | None = None) -> str:
    """The chat as template text: role token, text, end token, for every turn."""
    t = ChatTemplate() if template is None else template
    turns = _check_chat(chat, t)
    return "".join(f"{getattr(t, role)}{text}{t.end}" for role, text in turns)


def _special_ids(tokenizer: Any, template: ChatTemplate) -> dict[str, int]:
    specials = getattr(tokenizer, "special_tokens", None)
    if not isinstance(specials, dict):
        raise TypeError(f"tokenizer must be a trained tokenizer with special tokens, got "
                        f"{type(tokenizer).__name__}")
    missing = [s for s in template.special_tokens if s not in specials]
    if missing:
        raise ValueError(f"the tokenizer has no special token(s) {missing}; train it with "
                         f"special_tokens={template.special_tokens} (train_chat_tokenizer)")
    return {name: specials[getattr(template, name)] for name in ("user", "assistant", "end")}


def encode_chat(chat: Sequence[tuple[str, str]], tokenizer: Any,
                template: ChatTemplate | None = None) -> tuple[list[int], list[int]]:
    """Token ids of ``render(chat)`` and a loss mask: 1 on each assistant turn's text tokens
    and its end token, 0 on every role token and on the user's turns.

    Each text is encoded on its own, so no token spans a role boundary and the mask lines
    up with the turns exactly.
    """
    t = ChatTemplate() if template is None else template
    turns = _check_chat(chat, t)
    special = _special_ids(tokenizer, t)
    ids: list[int] = []
    mask: list[int] = []
    for role, text in turns:
        body = tokenizer.encode(text) + [special["end"]]
        ids += [special[role]] + body
        mask += [0] + [int(role == "assistant")] * len(body)
    return ids, mask


class ChatStream(NamedTuple):
    """Many chats as one token stream, what :class:`lm_course.training.Trainer` reads."""

    ids: Tensor  # (N,) token ids of the rendered chats, one after another
    targets: Tensor  # (N,) what to predict at each position: the id, or -100 (not trained)
    roles: Tensor  # (N,) 1 assistant text/end, 0 user text/end, -1 role tokens


def chat_stream(chats: Sequence[Sequence[tuple[str, str]]], tokenizer: Any,
                template: ChatTemplate | None = None, *, masked: bool = True) -> ChatStream:
    """Encode and concatenate ``chats``; ``masked=False`` trains on every token (the
    ablation), ``masked=True`` only on the assistant's (:func:`encode_chat`)."""
    if not isinstance(masked, bool):
        raise TypeError(f"masked must be True or False, got {masked!r}")
    if isinstance(chats, (str, bytes)) or not isinstance(chats, Sequence) or not chats:
        raise ValueError(f"chats must be a non-empty list of chats, got {chats!r:.60}")
    t = ChatTemplate() if template is None else template
    special = _special_ids(tokenizer, t)
    role_ids = {special["user"], special["assistant"]}
    ids: list[int] = []
    roles: list[int] = []
    for i, chat in enumerate(chats):
        try:
            chat_ids, mask = encode_chat(chat, tokenizer, t)
        except (TypeError, ValueError) as err:
            raise type(err)(f"chats[{i}]: {err}") from None
        ids += chat_ids
        roles += [HEADER if tok in role_ids else (ASSISTANT if m else USER)
                  for tok, m in zip(chat_ids, mask, strict=True)]
    ids_t = torch.tensor(ids, dtype=torch.long)  # (N,)
    roles_t = torch.tensor(roles, dtype=torch.long)  # (N,)
    targets = ids_t.masked_fill(roles_t != ASSISTANT, -100) if masked else ids_t.clone()
    return ChatStream(ids_t, targets, roles_t)


def plain_text(chats: Sequence[Sequence[tuple[str, str]]]) -> str:
    """The chats without any template: turns on their own lines, a blank line between
    chats. What the model is pre-trained on before it meets role tokens."""
    return "\n\n".join("\n".join(text for _, text in chat) for chat in chats)


def train_chat_tokenizer(chats: Sequence[Sequence[tuple[str, str]]], vocab_size: int = 512,
                         template: ChatTemplate | None = None, max_chars: int | None = None
                         ) -> BPETokenizer:
    """A byte-level BPE learned on the chats' plain text, with the template's three tokens
    as special tokens (the last three ids)."""
    t = ChatTemplate() if template is None else template
    text = plain_text(chats)
    if max_chars is not None:
        text = text[:check_int("max_chars", max_chars, min_value=1)]
    return BPETokenizer().train(text, vocab_size, special_tokens=t.special_tokens)


# ----------------------------------------------------------------------------- evaluation


@torch.no_grad()
def role_losses(model: nn.Module, stream: ChatStream, block_size: int, batch_size: int = 64,
                max_windows: int | None = None) -> dict[str, float]:
    """Mean next-token loss (nats) on the user's and on the assistant's tokens.

    Non-overlapping ``block_size`` windows of ``stream.ids``; each token is predicted once and
    counted for the role it belongs to (text and end token of its turn; role tokens count for
    neither). ``exp`` of a value is that role's perplexity. Returns ``{"user": ...,
    "assistant": ..., "user_tokens": n, "assistant_tokens": n}``.
    """
    if not isinstance(stream, ChatStream):
        raise TypeError(f"stream must be a ChatStream (chat_stream(...)), got "
                        f"{type(stream).__name__}")
    check_int("block_size", block_size, min_value=1)
    check_int("batch_size", batch_size, min_value=1)
    x_all, y_all = lm_windows(stream.ids, block_size)  # (N, T), (N, T)
    _, r_all = lm_windows(stream.roles, block_size)  # (N, T) role of each target
    if max_windows is not None:
        n = check_int("max_windows", max_windows, min_value=1)
        x_all, y_all, r_all = x_all[:n], y_all[:n], r_all[:n]
    device = module_device("model", model)
    was_training = model.training
    model.eval()
    sums = torch.zeros(2, dtype=torch.float64)  # summed loss: user, assistant
    counts = torch.zeros(2, dtype=torch.long)
    for i in range(0, len(x_all), batch_size):
        x, y = x_all[i:i + batch_size].to(device), y_all[i:i + batch_size].to(device)
        logits, _ = model(x)  # (b, T, V)
        nll = F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), reduction="none")
        r = r_all[i:i + batch_size].flatten().to(device)  # (b * T,)
        for role in (USER, ASSISTANT):
            sums[role] += nll[r == role].double().sum().cpu()
            counts[role] += int((r == role).sum())
    model.train(was_training)
    out: dict[str, float] = {}
    for role in (USER, ASSISTANT):
        name = ROLES[role]
        out[name] = (sums[role] / counts[role]).item() if counts[role] else float("nan")
        out[f"{name}_tokens"] = int(counts[role])
    return out


# ----------------------------------------------------------------------------- chatting


def reply_prompt(history: Sequence[tuple[str, str]], tokenizer: Any,
                 template: ChatTemplate | None = None) -> list[int]:
    """The ids the model continues to answer: the history, then the assistant's role token."""
    t = ChatTemplate() if template is None else template
    ids, _ = encode_chat(history, tokenizer, t)
    return ids + [_special_ids(tokenizer, t)["assistant"]]


class Reply(NamedTuple):
    text: str  # the reply, without its end token
    ids: list[int]  # its token ids (end token excluded)
    ended: bool  # True if the model closed its turn; False if max_new_tokens cut it


def chat_reply(model: nn.Module, tokenizer: Any, history: Sequence[tuple[str, str]],
               template: ChatTemplate | None = None, max_new_tokens: int = 120,
               **sampling: Any) -> Reply:
    """The model's next turn after ``history``: decode from :func:`reply_prompt` until the
    end-of-turn token (or a role token: the model tried to open a new turn itself).

    ``sampling`` goes to :func:`lm_course.generation.generate` (``greedy``, ``temperature``,
    ``top_k``, ``top_p``, ``use_cache``, ``generator``, ...). With the KV cache (the default)
    each new token runs one position through the model.
    """
    t = ChatTemplate() if template is None else template
    check_int("max_new_tokens", max_new_tokens, min_value=1)
    if "stop_sequences" in sampling:
        raise TypeError("chat_reply stops at the template's tokens; stop_sequences is not "
                        "an option here")
    prompt = reply_prompt(history, tokenizer, t)
    special = _special_ids(tokenizer, t)
    stops = [[special["end"]], [special["user"]], [special["assistant"]]]
    out = generate(model, prompt, max_new_tokens, stop_sequences=stops, **sampling)
    ids = out[len(prompt):]
    ended = len(ids) < max_new_tokens  # a stop token was drawn (and dropped) before the limit
    return Reply(tokenizer.decode(ids), ids, ended)


def save_chat_model(out_dir: str | os.PathLike, model: nn.Module, tokenizer: Any,
                    template: ChatTemplate | None = None, **extra: Any) -> Path:
    """Write ``ckpt.pt`` (weights, GPT config, chat template) and ``tokenizer.json`` into
    ``out_dir``, atomically: what ``lm-course chat OUT_DIR`` opens. Returns the folder."""
    t = ChatTemplate() if template is None else template
    _special_ids(tokenizer, t)  # the tokenizer must know the template's tokens
    config = getattr(model, "config", None)
    if config is None or not hasattr(config, "__dataclass_fields__"):
        raise TypeError(f"model must be a GPT (with a dataclass config), got "
                        f"{type(model).__name__}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer.save(out / "tokenizer.json")
    save_checkpoint(out / "ckpt.pt", {
        "format": CHECKPOINT_FORMAT, "model": model.state_dict(), "model_config": asdict(config),
        "extra": {**extra, "tokenizer": "tokenizer.json", "chat_template": t.to_dict()}})
    return out
