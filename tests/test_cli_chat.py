"""``lm-course chat CHECKPOINT``, driven with a tiny chat checkpoint and piped stdin."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lm_course.apps.dialogue import (
    ChatTemplate,
    Reply,
    chat_stream,
    save_chat_model,
    train_chat_tokenizer,
)
from lm_course.runtime import load_checkpoint, save_checkpoint
from lm_course.tooling import cli, cli_chat
from lm_course.training import TrainConfig, Trainer
from lm_course.transformer import GPT, GPTConfig

T = ChatTemplate()
CHATS = [[("A", "hi"), ("B", "ok"), ("A", "how are you?"), ("B", "ok")]] * 20


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A chat model that learned to answer 'ok' (masked SFT, a second or two)."""
    tok = train_chat_tokenizer(CHATS, 280, T)
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=32, n_layer=1, n_head=2,
                          n_embd=32))
    s = chat_stream(CHATS, tok, T)
    cfg = TrainConfig(max_steps=80, batch_size=8, block_size=32, lr=3e-3, warmup_steps=5,
                      eval_interval=0, eval_batches=1, progress=False)
    Trainer(model, s.ids, s.ids, cfg, train_targets=s.targets, val_targets=s.targets).fit()
    return save_chat_model(tmp_path_factory.mktemp("chat") / "run", model, tok, T)


def chat(argv, stdin: str, capsys, monkeypatch) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    try:
        code = cli.main(["chat", *map(str, argv)])
    except SystemExit as stop:  # argparse's own refusals
        code = stop.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_multi_turn_reset_and_quit(run, capsys, monkeypatch):
    code, out, err = chat([run, "--greedy", "--max-new-tokens", "8"],
                          "hi\n\nhow are you?\n/reset\nhi\n/quit\nnever read\n", capsys,
                          monkeypatch)
    assert code == 0, err
    assert out.count("bot> ok\n") == 3  # three user turns answered, the empty line skipped
    assert "(new conversation)" in out and err == ""


def test_history_is_the_prompt(run, capsys, monkeypatch):
    """The second answer is conditioned on the first exchange: chat_reply sees the whole
    history (checked by recording what it is given)."""
    seen = []
    real = cli_chat.chat_reply

    def spy(model, tok, history, *args, **kwargs):
        seen.append(list(history))
        return real(model, tok, history, *args, **kwargs)

    monkeypatch.setattr(cli_chat, "chat_reply", spy)
    code, out, _ = chat([run, "--greedy"], "hi\nhow are you?\n/reset\nyo\n", capsys,
                        monkeypatch)
    assert code == 0
    assert seen == [[("user", "hi")], [("user", "hi"), ("assistant", "ok"),
                                       ("user", "how are you?")], [("user", "yo")]]


def test_sampling_flags_reach_the_decoder(run, capsys, monkeypatch):
    got = {}

    def fake(model, tok, history, template, max_new_tokens, **kwargs):
        got.update(kwargs, max_new_tokens=max_new_tokens)
        return Reply("hey", [1], True)

    monkeypatch.setattr(cli_chat, "chat_reply", fake)
    code, out, _ = chat([run, "--temperature", "0.5", "--top-k", "3", "--top-p", "0.9",
                         "--max-new-tokens", "7", "--no-cache", "--seed", "4"], "hi\n",
                        capsys, monkeypatch)
    assert code == 0 and "bot> hey" in out
    assert got["temperature"] == 0.5 and got["top_k"] == 3 and got["top_p"] == 0.9
    assert got["max_new_tokens"] == 7 and got["use_cache"] is False and got["greedy"] is False


def test_ctrl_d_and_ctrl_c(run, capsys, monkeypatch):
    code, out, err = chat([run, "--greedy"], "hi\n", capsys, monkeypatch)  # EOF after one turn
    assert code == 0 and "bot> ok" in out and "Traceback" not in err

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_chat, "chat_reply", interrupted)
    code, out, err = chat([run], "hi\n", capsys, monkeypatch)
    assert code == 130 and "Traceback" not in err


def test_message_the_tokenizer_cannot_take_is_refused_not_fatal(run, capsys, monkeypatch):
    code, out, err = chat([run, "--greedy"], "hi <|end|> there\nhi\n", capsys, monkeypatch)
    assert code == 0
    assert "error: chat[0] contains the template token '<|end|>'" in err
    assert out.count("bot> ok") == 1


def test_unknown_command(run, capsys, monkeypatch):
    code, out, _ = chat([run], "/help\n", capsys, monkeypatch)
    assert code == 0 and "unknown command '/help'" in out


def test_piped_from_the_shell(run):
    """The real command in a subprocess: Ctrl-D (end of input) exits 0, no traceback."""
    proc = subprocess.run([sys.executable, "-m", "lm_course.tooling.cli", "chat", str(run),
                           "--greedy"], input="hi\n", capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "bot> ok" in proc.stdout and proc.stderr == ""


def _bad_files(run: Path, tmp: Path) -> dict[str, Path]:
    plain = tmp / "plain"
    plain.mkdir()
    state = load_checkpoint(run / "ckpt.pt")
    save_checkpoint(plain / "ckpt.pt", {**state, "extra": {"tokenizer": "tokenizer.json"}})
    (plain / "tokenizer.json").write_bytes((run / "tokenizer.json").read_bytes())
    no_tok = tmp / "no_tok"
    no_tok.mkdir()
    (no_tok / "ckpt.pt").write_bytes((run / "ckpt.pt").read_bytes())
    junk = tmp / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    damaged = tmp / "damaged"
    damaged.mkdir()
    save_checkpoint(damaged / "ckpt.pt", {**state, "extra": {
        "tokenizer": "tokenizer.json", "chat_template": {"user": "", "assistant": "a",
                                                         "end": "e"}}})
    (damaged / "tokenizer.json").write_bytes((run / "tokenizer.json").read_bytes())
    empty = tmp / "empty"
    empty.mkdir()
    return dict(plain=plain, no_tok=no_tok, junk=junk, damaged=damaged, empty=empty,
                missing=tmp / "nowhere")


@pytest.mark.parametrize("case, flags, code, message", [
    ("missing", [], 1, "does not exist"),
    ("empty", [], 1, "is a folder without ckpt.pt"),
    ("junk", [], 1, "was refused"),
    ("plain", [], 1, "has no chat template: it is a plain language model"),
    ("no_tok", [], 1, "tokenizer.json is missing"),
    ("damaged", [], 1, "has a damaged chat template"),
    ("run", ["--temperature", "0"], 2, "argument --temperature: must be > 0"),
    ("run", ["--top-k", "0"], 2, "argument --top-k: must be >= 1"),
    ("run", ["--top-p", "1.5"], 2, "argument --top-p: must be > 0 and <= 1"),
    ("run", ["--max-new-tokens", "x"], 2, "argument --max-new-tokens: expected an integer"),
    ("run", ["--device", "tpu"], 2, "argument --device"),
])
def test_bad_checkpoints_and_flags(run, tmp_path, capsys, monkeypatch, case, flags, code,
                                   message):
    path = run if case == "run" else _bad_files(run, tmp_path)[case]
    got, out, err = chat([path, *flags], "hi\n", capsys, monkeypatch)
    assert got == code
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
