"""The ``lm-course`` command never prints a traceback and never loses a run.

A table of (arguments, exit code, a substring of the one ``error:`` line) over every
subcommand and flag, then the fault tests: a refused overwrite, a disk that fails mid-run,
an interrupted run, stale temporary files of killed writers, and kill-and-resume with
dropout on and the default (measured) ``peak_flops``.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lm_course import runtime, training, utils
from lm_course.runtime import CHECKPOINT_FORMAT, load_checkpoint, save_checkpoint
from lm_course.tooling import cli

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ["train", "--config", "tiny", "--data", "lee", "--max-chars", "6000", "--steps", "4",
         "--no-progress", "--sample-chars", "0"]


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``lm-course ARGV`` run in this process."""
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as stop:  # argparse: a flag it rejects itself
        code = stop.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A tiny finished run: ckpt.pt + tokenizer.json (about a second)."""
    out = tmp_path_factory.mktemp("run") / "run"
    assert cli.main(TRAIN + ["--out", str(out)]) == 0
    return out


def _copy_run(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    for name in ("ckpt.pt", "tokenizer.json"):
        (dst / name).write_bytes((src / name).read_bytes())
    return dst


# ----------------------------------------------------------------------------- files the rows use


class _Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def _prepare(kind: str, tmp: Path, run: Path) -> Path:
    """A folder (or file) of the given kind of damage, built from the finished run."""
    if kind == "file":
        (tmp / "notes.txt").write_text("a file, not a folder")
        return tmp / "notes.txt"
    if kind == "empty-dir":
        (tmp / "empty").mkdir()
        return tmp / "empty"
    folder = _copy_run(run, tmp / kind)
    ckpt, tok = folder / "ckpt.pt", folder / "tokenizer.json"
    if kind == "no-tokenizer":
        tok.unlink()
    elif kind == "bad-tokenizer":
        tok.write_text('{"kind": "char", "chars": ')
    elif kind == "truncated":
        ckpt.write_bytes(ckpt.read_bytes()[:4000])
    elif kind == "text":
        ckpt.write_text("hello")
    elif kind == "evil":
        torch.save({"format": CHECKPOINT_FORMAT, "x": _Evil()}, ckpt)
    elif kind == "foreign":  # an RNN language model's checkpoint, say
        save_checkpoint(ckpt, {"format": CHECKPOINT_FORMAT, "model": {}, "extra": {},
                               "model_config": {"vocab_size": 5, "cell": "lstm"}})
    elif kind == "no-config":
        save_checkpoint(ckpt, {"format": CHECKPOINT_FORMAT, "model": {}, "extra": {},
                               "model_config": None})
    elif kind == "wrong-weights":
        state = load_checkpoint(ckpt)
        state["model"] = {k: v[..., :1] for k, v in state["model"].items()}
        save_checkpoint(ckpt, state)
    return folder


# (arguments with {out}/{run}/{ckpt}/{file} placeholders, damage to prepare, exit code, text)
TRAIN_ROWS = [
    (["--lr", "0"], None, 2, "argument --lr: must be > 0, got 0"),
    (["--lr", "-1e-3"], None, 2, "argument --lr"),
    (["--lr", "nan"], None, 2, "argument --lr: must be a finite number"),
    (["--lr", "fast"], None, 2, "argument --lr: expected a number, got 'fast'"),
    (["--batch-size", "0"], None, 2, "argument --batch-size: must be >= 1, got 0"),
    (["--batch-size", "2.5"], None, 2, "argument --batch-size: expected an integer"),
    (["--steps", "0"], None, 2, "argument --steps: must be >= 1"),
    (["--until", "0"], None, 2, "argument --until: must be >= 1"),
    (["--until", "9"], None, 2, "--until 9 is past the end of the run (--steps 4)"),
    (["--sample-chars", "-5"], None, 2, "argument --sample-chars: must be >= 0, got -5"),
    (["--max-chars", "0"], None, 2, "argument --max-chars"),
    (["--vocab-size", "100"], None, 2, "argument --vocab-size: must be >= 257"),
    (["--val-fraction", "1"], None, 2, "argument --val-fraction: must be > 0 and < 1"),
    (["--val-fraction", "0"], None, 2, "argument --val-fraction"),
    (["--seed", "-1"], None, 2, "argument --seed: must be >= 0"),
    (["--checkpoint-interval", "-2"], None, 2, "argument --checkpoint-interval"),
    (["--device", "banana"], None, 2, "argument --device: 'banana' is not a device name"),
    (["--config", "char_cpu"], None, 2, "unknown config 'char_cpu' (did you mean 'char-cpu'?)"),
    (["--data", "Lee"], None, 2, "unknown text corpus 'Lee' (did you mean 'lee'?)"),
    (["--data", "dates"], None, 2, "unknown text corpus 'dates'"),
    (["--tokenizer", "wordpiece"], None, 2, "argument --tokenizer: invalid choice"),
    (["--dtype", "float16"], None, 2, "argument --dtype: invalid choice"),
    (["--colour", "blue"], None, 2, "unrecognized arguments: --colour blue"),
    (["--resume", "--force"], None, 2, "argument --force: not allowed with argument --resume"),
    (["--out", "{file}"], "file", 2, "notes.txt is an existing file, not a folder"),
    (["--out", "{file}/run"], "file", 2, "notes.txt is a file"),
    (["--out", "{out}"], "ok", 2, "already holds a run (ckpt.pt, tokenizer.json); continue it "
                                  "with --resume, or start over with --force"),
    (["--out", "{out}", "--resume"], "no-tokenizer", 1,
     "tokenizer.json is missing: --resume needs the tokenizer.json"),
    (["--out", "{out}", "--resume"], "bad-tokenizer", 1, "tokenizer.json is not a tokenizer file"),
    (["--out", "{out}", "--resume"], "truncated", 1, "ckpt.pt is not a readable checkpoint"),
    (["--out", "{out}", "--resume"], "text", 1, "ckpt.pt is not a readable checkpoint"),
    (["--out", "{out}", "--resume"], "evil", 1, "ckpt.pt was refused"),
    (["--out", "{out}", "--resume"], "foreign", 1, "ckpt.pt is a checkpoint of another model"),
    (["--out", "{out}", "--resume"], "no-config", 1, "ckpt.pt holds no GPT config"),
    (["--out", "{out}", "--resume", "--data", "wiki"], "ok", 2,
     "was trained on --data lee; resume it with --data lee"),
    (["--out", "{out}", "--resume", "--lr", "0.5"], "ok", 1,
     "was trained with a different config"),
]
if not torch.cuda.is_available():
    TRAIN_ROWS.append((["--device", "cuda"], None, 2, "no CUDA device is available"))

GENERATE_ROWS = [
    (["--checkpoint", "{tmp}/nowhere"], None, 1, "--checkpoint", "does not exist"),
    (["--checkpoint", "{out}"], "empty-dir", 1, "--checkpoint", "is a folder without ckpt.pt"),
    (["--checkpoint", "{out}"], "truncated", 1, "ckpt.pt", "is not a readable checkpoint"),
    (["--checkpoint", "{out}/ckpt.pt"], "text", 1, "ckpt.pt", "is not a readable checkpoint"),
    (["--checkpoint", "{out}"], "evil", 1, "ckpt.pt", "was refused"),
    (["--checkpoint", "{out}"], "foreign", 1, "ckpt.pt", "checkpoint of another model"),
    (["--checkpoint", "{out}"], "wrong-weights", 1, "ckpt.pt", "weights do not fit"),
    (["--checkpoint", "{out}"], "no-tokenizer", 1, "tokenizer.json", "is missing"),
    (["--checkpoint", "{out}"], "bad-tokenizer", 1, "tokenizer.json", "not valid JSON"),
    (["--checkpoint", "{out}", "--beams", "0"], "ok", 2, "--beams", "must be >= 1, got 0"),
    (["--checkpoint", "{out}", "--beams", "2", "--top-k", "3"], "ok", 2, "--beams 2",
     "drop --top-k"),
    (["--checkpoint", "{out}", "--beams", "2", "--num-samples", "3"], "ok", 2, "--beams 2",
     "drop --num-samples"),
    (["--checkpoint", "{out}", "--temperature", "0"], "ok", 2, "--temperature", "must be > 0"),
    (["--checkpoint", "{out}", "--top-p", "0"], "ok", 2, "--top-p", "must be > 0 and <= 1"),
    (["--checkpoint", "{out}", "--top-p", "1.5"], "ok", 2, "--top-p", "got 1.5"),
    (["--checkpoint", "{out}", "--top-k", "0"], "ok", 2, "--top-k", "must be >= 1"),
    (["--checkpoint", "{out}", "--max-new-tokens", "-1"], "ok", 2, "--max-new-tokens",
     "must be >= 0"),
    (["--checkpoint", "{out}", "--num-samples", "0"], "ok", 2, "--num-samples", "must be >= 1"),
    (["--checkpoint", "{out}", "--repetition-penalty", "0"], "ok", 2, "--repetition-penalty",
     "must be > 0"),
    (["--checkpoint", "{out}", "--seed", "-3"], "ok", 2, "--seed", "must be >= 0"),
    (["--checkpoint", "{out}", "--device", "banana"], "ok", 2, "--device", "'banana'"),
    (["--checkpoint", "{out}", "--stop", ""], "ok", 1, "stop", "non-empty strings"),
    (["--checkpoint", "{out}", "--prompt", "€uro"], "ok", 1, "'€'", "not in the training text"),
    (["--checkpoint", "{out}", "--prompt", ""], "ok", 1, "prompt", "is empty"),
]

OTHER_ROWS = [
    (["run", "--out", "{file}"], "file", 2, "--out", "existing file"),
    (["run", "--only", "zz", "--out", "{tmp}/b"], None, 2, "only=['zz']", "matches no notebook"),
    (["slides", "--out", "{file}/x"], "file", 2, "--out", "is a file"),
    (["data", "download", "nope"], None, 2, "'nope'", "did you mean"),
    (["data", "fetch"], None, 2, "data_command", "invalid choice"),
    (["grade", "--course", "{tmp}/nowhere"], None, 1, "nowhere", "not an nbgrader course"),
    (["release", "--course", "{tmp}/nowhere"], None, 1, "nowhere", "not an nbgrader course"),
    (["bake"], None, 2, "argument command", "invalid choice: 'bake'"),
    ([], None, 2, "command", "required"),
]


def _fill(argv: list[str], tmp: Path, target: Path | None) -> list[str]:
    out = str(target) if target is not None else str(tmp / "fresh")
    return [a.replace("{out}", out).replace("{file}", str(tmp / "notes.txt"))
            .replace("{tmp}", str(tmp)) for a in argv]


def _check_one_line(code: int, err: str, want_code: int, texts: list[str]) -> None:
    assert code == want_code, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one error line, got:\n{err}"
    assert "error:" in lines[0] and "Traceback" not in err
    for text in texts:
        assert text in lines[0], f"{text!r} not in {lines[0]!r}"


@pytest.mark.parametrize("argv, damage, code, text", TRAIN_ROWS,
                         ids=[f"train-{i}" for i in range(len(TRAIN_ROWS))])
def test_train_flags(argv, damage, code, text, tmp_path, finished_run, capsys):
    target = _prepare(damage, tmp_path, finished_run) if damage else None
    if damage == "file":
        target = None
    before = {p.name: p.read_bytes() for p in target.iterdir()} if target and \
        target.is_dir() else {}
    argv = argv if "--out" in argv else [*argv, "--out", "{out}"]
    got, _, err = run_cli(TRAIN + _fill(argv, tmp_path, target), capsys)
    _check_one_line(got, err, code, [text])
    assert not (tmp_path / "fresh").exists()  # nothing was created by a refused command
    if before:  # a refused command leaves the run exactly as it was
        assert {p.name: p.read_bytes() for p in target.iterdir()} == before


@pytest.mark.parametrize("argv, damage, code, flag, text", GENERATE_ROWS,
                         ids=[f"generate-{i}" for i in range(len(GENERATE_ROWS))])
def test_generate_flags(argv, damage, code, flag, text, tmp_path, finished_run, capsys):
    target = _prepare(damage, tmp_path, finished_run) if damage else None
    got, _, err = run_cli(["generate", "--max-new-tokens", "3"] +
                          _fill(argv, tmp_path, target), capsys)
    _check_one_line(got, err, code, [flag, text])


@pytest.mark.parametrize("argv, damage, code, flag, text", OTHER_ROWS,
                         ids=[f"other-{i}" for i in range(len(OTHER_ROWS))])
def test_other_subcommands(argv, damage, code, flag, text, tmp_path, finished_run, capsys):
    if damage:
        _prepare(damage, tmp_path, finished_run)
    got, _, err = run_cli(_fill(argv, tmp_path, None), capsys)
    _check_one_line(got, err, code, [flag, text])


def test_table_sizes():
    sizes = {"train": len(TRAIN_ROWS), "generate": len(GENERATE_ROWS), "other": len(OTHER_ROWS)}
    assert sizes["train"] >= 30 and sizes["generate"] >= 20 and sizes["other"] >= 8, sizes


def test_generate_and_beams_still_work(finished_run, capsys):
    code, out, err = run_cli(["generate", "--checkpoint", finished_run, "--prompt", "The",
                              "--max-new-tokens", "5", "--beams", "2"], capsys)
    assert code == 0 and out.startswith("The") and not err
    code, out, _ = run_cli(["generate", "--checkpoint", finished_run, "--prompt", "The",
                            "--max-new-tokens", "0"], capsys)
    assert code == 0 and out.strip() == "The"


def test_a_read_only_out_folder_is_named(tmp_path, monkeypatch, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == locked
                        else real(p, mode))  # root ignores chmod, so pretend
    code, _, err = run_cli(TRAIN + ["--out", locked / "run"], capsys)
    _check_one_line(code, err, 2, ["--out", "permission denied"])


# ----------------------------------------------------------------------------- lost work


def test_an_existing_run_is_never_overwritten_without_force(finished_run, tmp_path, capsys):
    run = _copy_run(finished_run, tmp_path / "run")
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    code, _, err = run_cli(TRAIN + ["--out", run, "--steps", "2"], capsys)
    assert code == 2 and "--resume" in err and "--force" in err
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before
    # a folder holding only the tokenizer (killed before the first checkpoint) counts too
    (run / "ckpt.pt").unlink()
    code, _, err = run_cli(TRAIN + ["--out", run], capsys)
    assert code == 2 and "(tokenizer.json)" in err
    # --force starts over: a new run of 2 steps replaces the old one of 4
    code, _, _ = run_cli(TRAIN + ["--out", run, "--steps", "2", "--force"], capsys)
    assert code == 0 and load_checkpoint(run / "ckpt.pt")["step"] == 2
    # --resume on a folder without a checkpoint starts a new run there, and says so
    fresh = tmp_path / "fresh"
    code, out, _ = run_cli(TRAIN + ["--out", fresh, "--resume"], capsys)
    assert code == 0 and "starting a new run" in out
    assert load_checkpoint(fresh / "ckpt.pt")["step"] == 4


def test_a_disk_that_fails_mid_run_keeps_the_last_checkpoint(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    real_save = torch.save
    calls = []

    def flaky_save(obj, f, *args, **kwargs):
        calls.append(1)
        if len(calls) >= 2:  # the first checkpoint (step 2) is written, the next one fails
            f.write(b"half a checkpoint")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), f.name)
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(runtime.torch, "save", flaky_save)
    code, _, err = run_cli(TRAIN + ["--out", out, "--checkpoint-interval", "2"], capsys)
    _check_one_line(code, err, 1, ["No space left on device", "ckpt.pt (step 2) is intact",
                                   "--resume"])
    assert load_checkpoint(out / "ckpt.pt")["step"] == 2
    assert sorted(p.name for p in out.iterdir()) == ["ckpt.pt", "tokenizer.json"]  # no .tmp
    monkeypatch.setattr(runtime.torch, "save", real_save)  # space freed: continue
    code, _, _ = run_cli(TRAIN + ["--out", out, "--resume"], capsys)
    assert code == 0 and load_checkpoint(out / "ckpt.pt")["step"] == 4


def test_a_file_too_large_error_is_one_line(tmp_path, monkeypatch, capsys):
    def too_large(obj, f, *args, **kwargs):
        raise OSError(errno.EFBIG, os.strerror(errno.EFBIG), f.name)

    monkeypatch.setattr(runtime.torch, "save", too_large)
    code, _, err = run_cli(TRAIN + ["--out", tmp_path / "run"], capsys)
    _check_one_line(code, err, 1, ["File too large", "no checkpoint was written"])


def test_ctrl_c_names_the_checkpoint_to_resume_from(tmp_path, monkeypatch, capsys):
    real_step = training.Trainer.train_step

    def step(self):
        if self.step == 3:
            raise KeyboardInterrupt
        return real_step(self)

    monkeypatch.setattr(training.Trainer, "train_step", step)
    out = tmp_path / "run"
    code, _, err = run_cli(TRAIN + ["--out", out, "--checkpoint-interval", "2"], capsys)
    _check_one_line(code, err, 130, ["interrupted at step 3", "(step 2) is intact", "--resume"])


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temporary_files_of_killed_writers_are_removed(tmp_path):
    dead = _dead_pid()
    stale_ckpt = tmp_path / f".ckpt.pt.tmp-{dead}"
    stale_text = tmp_path / f".tokenizer.json.tmp-{dead}-x1y2"
    live = tmp_path / f".ckpt.pt.tmp-{os.getppid()}"  # a writer that is still running
    other = tmp_path / f".other.pt.tmp-{dead}"  # another file's: not this save's business
    for p in (stale_ckpt, stale_text, live, other):
        p.write_bytes(b"\0" * 1000)
    save_checkpoint(tmp_path / "ckpt.pt", {"format": CHECKPOINT_FORMAT, "step": 1})
    assert not stale_ckpt.exists() and live.exists() and other.exists()
    utils.write_text_atomic(tmp_path / "tokenizer.json", "{}")
    assert not stale_text.exists()
    assert utils.pid_alive(os.getpid()) and not utils.pid_alive(dead)


# ----------------------------------------------------------------------------- kill and resume

KILL_SCRIPT = '''
import json, os, signal, sys
import torch
from lm_course.training import TinyLM, Trainer, TrainConfig
torch.set_num_threads(1)
# dropout on and peak_flops left at its default (None: the matmul peak is measured at the
# first evaluation of every process), so the global random state matters
CFG = TrainConfig(max_steps=10, batch_size=8, block_size=16, lr=3e-2, min_lr=3e-3,
                  warmup_steps=3, eval_interval=3, eval_batches=2, progress=False,
                  checkpoint_interval=5)
gen = torch.Generator().manual_seed(0)
data = torch.where(torch.rand(3000, generator=gen) < 0.8, torch.arange(3000) % 7,
                   torch.randint(7, (3000,), generator=gen))
torch.manual_seed(0)
model = TinyLM(vocab_size=7, dropout=0.3)
mode, out = sys.argv[1], sys.argv[2]

def die_at_six(trainer, metrics):
    if mode == "killed" and trainer.step == 6:  # after the checkpoint at step 5
        os.kill(os.getpid(), signal.SIGKILL)

tr = Trainer(model, data[:2500], data[2500:], CFG, out_dir=out, on_eval=die_at_six)
if mode == "resume":
    tr.load(os.path.join(out, "ckpt.pt"))
h = tr.fit()
json.dump({"loss": h.loss, "val_loss": h.val_loss}, open(os.path.join(out, mode + ".json"), "w"))
'''


def test_kill_and_resume_with_dropout_and_measured_peak_is_exact(tmp_path):
    script = tmp_path / "kill_script.py"
    script.write_text(KILL_SCRIPT)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    env.pop("WORLD_SIZE", None)

    def run(mode: str, out: Path) -> subprocess.CompletedProcess:
        out.mkdir(exist_ok=True)
        return subprocess.run([sys.executable, str(script), mode, str(out)], env=env,
                              capture_output=True, text=True, timeout=300)

    straight = run("straight", tmp_path / "a")
    assert straight.returncode == 0, straight.stderr
    killed = run("killed", tmp_path / "b")
    assert killed.returncode == -9, killed.stderr  # SIGKILL at step 6
    assert load_checkpoint(tmp_path / "b" / "ckpt.pt")["step"] == 5
    resumed = run("resume", tmp_path / "b")
    assert resumed.returncode == 0, resumed.stderr
    a = json.loads((tmp_path / "a" / "straight.json").read_text())
    b = json.loads((tmp_path / "b" / "resume.json").read_text())
    assert b["loss"] == a["loss"]  # bit for bit, dropout masks included
    assert b["val_loss"] == a["val_loss"]


def test_measuring_the_matmul_peak_leaves_the_global_generator_alone():
    runtime._PEAK_CACHE.clear()
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    runtime.measure_matmul_flops("cpu", size=64, seconds=0.01)
    assert torch.equal(torch.rand(3), expected)
