"""The training loop: accumulation, schedules, NaN stops, bf16, checkpoints that resume
exactly in a fresh process and survive a crash mid-write, torchrun with two processes,
and the ``lm-course train`` command."""

from __future__ import annotations

import json
import math
import os
import runpy
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from lm_course.data import lm_windows
from lm_course.optim import warmup_cosine_lr
from lm_course.runtime import estimate_flops_per_token, load_checkpoint
from lm_course.training import History, TinyLM, TrainConfig, Trainer, evaluate_loss, train
from lm_course.transformer import GPT, GPTConfig

ROOT = Path(__file__).resolve().parents[1]


def sub_env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    env.pop("WORLD_SIZE", None)
    return env


def periodic_data(n: int = 3000, vocab: int = 7, seed: int = 0) -> torch.Tensor:
    """A learnable stream: a noisy cycle through the vocabulary."""
    gen = torch.Generator().manual_seed(seed)
    base = torch.arange(n) % vocab
    noise = torch.randint(vocab, (n,), generator=gen)
    keep = torch.rand(n, generator=gen) < 0.8
    return torch.where(keep, base, noise)


CFG = TrainConfig(max_steps=12, batch_size=8, block_size=16, lr=3e-2, min_lr=3e-3,
                  warmup_steps=3, eval_interval=4, eval_batches=2, progress=False,
                  peak_flops=1e9)


def tiny(seed: int = 0, dropout: float = 0.0, dtype=torch.float64) -> TinyLM:
    torch.manual_seed(seed)
    return TinyLM(vocab_size=7, n_embd=16, dropout=dropout).to(dtype)


# ----------------------------------------------------------------------------- the loop


def test_loss_goes_down_and_history_is_complete():
    data = periodic_data()
    calls = []
    trainer = Trainer(tiny(), data[:2500], data[2500:], replace(CFG, max_steps=40),
                      on_eval=lambda tr, m: calls.append(m))
    h = trainer.fit()
    assert h.step == list(range(1, 41))
    assert len(h.loss) == len(h.lr) == len(h.grad_norm) == len(h.time) == 40
    assert h.eval_step == [4, 8, 12, 16, 20, 24, 28, 32, 36, 40]
    assert h.val_loss[-1] < h.val_loss[0] - 0.2 and h.loss[-1] < h.loss[0]
    assert h.val_ppl == pytest.approx([math.exp(v) for v in h.val_loss])
    assert all(t > 0 for t in h.tokens_per_sec) and all(g > 0 for g in h.grad_norm)
    assert [m["step"] for m in calls] == h.eval_step
    # MFU = training FLOPs per token x tokens/s / peak
    assert h.mfu[-1] == pytest.approx(trainer.flops_per_token * h.tokens_per_sec[-1] / 1e9)
    # the learning rate follows warm-up + cosine, one value per step
    assert h.lr == pytest.approx([warmup_cosine_lr(s, max_lr=3e-2, min_lr=3e-3, warmup_steps=3,
                                                   total_steps=40) for s in range(40)])
    # a history survives to_dict/from_dict (what checkpoints store)
    assert History.from_dict(h.to_dict()) == h


def test_gradient_accumulation_and_split_give_the_same_steps():
    data = periodic_data()
    runs = []
    for accum in (1, 2, 4):
        model = tiny()
        h = Trainer(model, data, config=replace(CFG, grad_accum_steps=accum,
                                                eval_interval=0)).fit()
        runs.append((h.loss, [p.detach().clone() for p in model.parameters()]))
    for losses, params in runs[1:]:
        assert losses == pytest.approx(runs[0][0], rel=1e-12)
        for p, q in zip(params, runs[0][1], strict=True):
            torch.testing.assert_close(p, q, rtol=1e-10, atol=1e-12)


def test_clipping_bounds_the_update():
    data = periodic_data()
    base = replace(CFG, optimizer="sgd", lr=1.0, min_lr=0.0, warmup_steps=0,
                   schedule="constant", eval_interval=0, max_steps=1, weight_decay=0.0)
    for clip in (0.0, 0.01):
        model = tiny()
        before = [p.detach().clone() for p in model.parameters()]
        h = Trainer(model, data, config=replace(base, grad_clip=clip, momentum=0.0)).fit()
        step = torch.cat([(p.detach() - b).flatten()
                          for p, b in zip(model.parameters(), before, strict=True)])
        if clip:  # SGD with lr 1 moves the weights by exactly the clipped gradient
            assert step.norm().item() == pytest.approx(0.01, rel=1e-5)  # eps in the scale
            assert h.grad_norm[0] > 0.01
        else:
            assert step.norm().item() == pytest.approx(h.grad_norm[0], rel=1e-6)


class ExplodingLM(TinyLM):
    """Returns a NaN loss from its third call on."""

    def __init__(self) -> None:
        super().__init__(vocab_size=7)
        self.calls = 0

    def forward(self, idx, targets=None):
        logits, loss = super().forward(idx, targets)
        self.calls += 1
        if self.calls >= 3 and loss is not None:
            loss = loss * float("nan")
        return logits, loss


def test_nan_loss_stops_with_a_clear_message():
    trainer = Trainer(ExplodingLM(), periodic_data(), config=replace(CFG, eval_interval=0))
    with pytest.raises(FloatingPointError, match=r"loss became nan at step 3 .*learning rate"):
        trainer.fit()
    assert trainer.step == 2  # the bad step never reached the optimiser


def test_bfloat16_autocast_trains():
    seen = []

    class Spy(TinyLM):
        def forward(self, idx, targets=None):
            logits, loss = super().forward(idx, targets)
            seen.append(logits.dtype)
            return logits, loss

    torch.manual_seed(0)
    model = Spy(vocab_size=7)
    h = Trainer(model, periodic_data(), periodic_data(seed=1)[:500],
                replace(CFG, dtype="bfloat16", max_steps=30, eval_train=False)).fit()
    assert seen[0] == torch.bfloat16  # the matmuls ran in bfloat16
    assert next(model.parameters()).dtype == torch.float32  # the weights stayed float32
    assert h.val_loss[-1] < h.val_loss[0]


def test_max_seconds_stops_early():
    trainer = Trainer(tiny(), periodic_data(), config=replace(CFG, max_steps=10_000,
                                                              warmup_steps=0, eval_interval=0))
    h = trainer.fit(max_seconds=0.05)
    assert 0 < trainer.step < 10_000 and h.time[-1] >= 0.05  # stopped by time, not steps
    assert h.eval_step == [trainer.step]  # a final evaluation at the stop


def test_evaluate_loss_covers_every_window():
    data = periodic_data(500)
    model = tiny()
    x, y = lm_windows(data, 16)
    with torch.no_grad():
        want = torch.stack([model(x[i:i + 1], y[i:i + 1])[1] for i in range(len(x))]).mean()
    assert evaluate_loss(model, data, 16, batch_size=7) == pytest.approx(want.item(), rel=1e-9)


def test_gpt_trains_and_flops_use_the_transformer_formula():
    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=7, block_size=16, n_layer=1, n_head=2, n_embd=16)
    model = GPT(cfg)
    data = periodic_data()
    h = Trainer(model, data[:2500], data[2500:], replace(CFG, max_steps=25, eval_interval=0)).fit()
    assert h.val_loss[-1] < math.log(7) - 0.3
    from lm_course.transformer import flops_per_token

    assert estimate_flops_per_token(model, 16) == flops_per_token(cfg, 16)["training"]
    assert estimate_flops_per_token(tiny(), 16) == 6 * sum(p.numel() for p in tiny().parameters())


def test_bad_configuration():
    with pytest.raises(ValueError, match="divisible by grad_accum_steps"):
        TrainConfig(batch_size=6, grad_accum_steps=4)
    with pytest.raises(ValueError, match="warmup_steps"):
        TrainConfig(max_steps=10, warmup_steps=20)
    with pytest.raises(ValueError, match="dtype"):
        TrainConfig(dtype="float16")
    with pytest.raises(ValueError, match="min_lr"):
        TrainConfig(lr=1e-3, min_lr=1e-2)
    gpt = GPT(GPTConfig(vocab_size=7, block_size=8, n_layer=1, n_head=1, n_embd=8))
    with pytest.raises(ValueError, match="longer than the model's context"):
        Trainer(gpt, periodic_data(), config=CFG)
    with pytest.raises(ValueError, match="fewer than block_size"):
        Trainer(tiny(), torch.arange(10), config=CFG)
    with pytest.raises(TypeError, match="train_data"):
        Trainer(tiny(), periodic_data().float(), config=CFG)
    with pytest.raises(ValueError, match="until"):
        Trainer(tiny(), periodic_data(), config=CFG).fit(until=CFG.max_steps + 1)


# ----------------------------------------------------------------------------- checkpoints

RESUME_SCRIPT = '''
import json, sys
import torch
from dataclasses import replace
from lm_course.training import TinyLM, Trainer, TrainConfig
torch.set_num_threads(1)

CFG = TrainConfig(max_steps=10, batch_size=8, block_size=16, lr=3e-2, min_lr=3e-3,
                  warmup_steps=3, eval_interval=5, eval_batches=2, progress=False,
                  peak_flops=0)

def data():
    gen = torch.Generator().manual_seed(0)
    base = torch.arange(3000) % 7
    noise = torch.randint(7, (3000,), generator=gen)
    return torch.where(torch.rand(3000, generator=gen) < 0.8, base, noise)

def trainer(out_dir=None):
    torch.manual_seed(0)
    model = TinyLM(vocab_size=7, dropout=0.2)  # dropout: the global RNG state matters
    d = data()
    return Trainer(model, d[:2500], d[2500:], CFG, out_dir=out_dir)

if __name__ == "__main__":
    mode, path = sys.argv[1], sys.argv[2]
    if mode == "resume":  # a fresh process: build, load, finish
        tr = trainer().load(path)
        h = tr.fit()
        with open(path + ".json", "w") as f:
            json.dump({"loss": h.loss, "val_loss": h.val_loss, "step": tr.step}, f)
    elif mode == "crash":  # write one checkpoint, then die in the middle of the next one
        import os, signal
        tr = trainer()
        tr.fit(until=2)
        tr.save(path)
        tr.fit(until=4)
        real_save = torch.save
        def dying_save(obj, f):
            real_save(obj, f)
            f.truncate(f.tell() // 2)  # half the bytes are on disk ...
            f.flush()
            os.kill(os.getpid(), signal.SIGKILL)  # ... when the process is killed
        torch.save = dying_save
        tr.save(path)
'''


@pytest.fixture
def resume_script(tmp_path):
    path = tmp_path / "resume_script.py"
    path.write_text(RESUME_SCRIPT)
    return path


def test_resume_in_a_fresh_process_gives_identical_losses(resume_script, tmp_path):
    mod = runpy.run_path(str(resume_script))
    straight = mod["trainer"]()
    h = straight.fit()
    assert h.loss[-1] < h.loss[0]
    half = mod["trainer"](out_dir=tmp_path / "run")
    half.fit(until=5)
    ckpt = half.save(tmp_path / "run" / "ckpt.pt")
    state = load_checkpoint(ckpt)
    assert state["step"] == 5 and set(state) >= {"model", "optimizer", "scheduler", "rng",
                                                  "batch_rng", "history", "train_config"}
    proc = subprocess.run([sys.executable, str(resume_script), "resume", str(ckpt)],
                          env=sub_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    resumed = json.loads(Path(str(ckpt) + ".json").read_text())
    assert resumed["step"] == 10
    assert resumed["loss"] == h.loss  # bit-for-bit: same batches, dropout masks, moments
    assert resumed["val_loss"] == h.val_loss


def test_a_write_killed_midway_leaves_the_previous_checkpoint(resume_script, tmp_path):
    ckpt = tmp_path / "ckpt.pt"
    proc = subprocess.run([sys.executable, str(resume_script), "crash", str(ckpt)],
                          env=sub_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == -9, proc.stderr  # SIGKILL
    leftovers = [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name]
    assert leftovers, "the half-written temporary file should be there"
    state = load_checkpoint(ckpt)  # the published file is the complete earlier one
    assert state["step"] == 2
    tr = runpy.run_path(str(tmp_path / "resume_script.py"))["trainer"]().load(ckpt)
    assert tr.step == 2
    tr.save(ckpt)  # the next save removes the dead writer's leftover
    assert not [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_a_checkpoint_from_another_config_is_refused(tmp_path):
    tr = Trainer(tiny(), periodic_data(), config=CFG)
    tr.fit(until=2)
    tr.save(tmp_path / "ok.pt")
    other = Trainer(tiny(), periodic_data(), config=replace(CFG, lr=0.1))
    with pytest.raises(ValueError, match=r"different config \(fields \['lr'\]\)"):
        other.load(tmp_path / "ok.pt")
    # checkpoints are plain data: loading executes nothing (weights_only=True)
    torch.load(tmp_path / "ok.pt", weights_only=True)


def test_train_function_resumes_from_out_dir(tmp_path):
    data = periodic_data()
    cfg = replace(CFG, max_steps=6, eval_interval=0)
    h1 = train(tiny(), data, config=replace(cfg), out_dir=tmp_path)
    assert load_checkpoint(tmp_path / "ckpt.pt")["step"] == 6
    h2 = train(tiny(), data, config=cfg, out_dir=tmp_path, resume=True)  # nothing left to do
    assert h2.loss == h1.loss


# ----------------------------------------------------------------------------- distributed

DDP_SCRIPT = '''
import json, sys
import torch
from lm_course.runtime import cleanup_distributed, setup_distributed
from lm_course.training import TinyLM, Trainer, TrainConfig
torch.set_num_threads(1)
info = setup_distributed()
gen = torch.Generator().manual_seed(0)
data = torch.where(torch.rand(3000, generator=gen) < 0.8, torch.arange(3000) % 7,
                   torch.randint(7, (3000,), generator=gen))
torch.manual_seed(info.rank)  # different initial weights: DDP must broadcast rank 0's
model = TinyLM(vocab_size=7).double()
cfg = TrainConfig(max_steps=8, batch_size=8, block_size=16, lr=3e-2, min_lr=3e-3, warmup_steps=2,
                  eval_interval=4, eval_batches=2, progress=False, peak_flops=0,
                  grad_accum_steps=int(sys.argv[2]))
h = Trainer(model, data[:2500], data[2500:], cfg).fit()
if info.rank == 0:
    json.dump({"world": info.world_size, "loss": h.loss, "val_loss": h.val_loss,
               "params": [p.detach().flatten().tolist() for p in model.parameters()]},
              open(sys.argv[1], "w"))
cleanup_distributed()
'''


@pytest.mark.slow
def test_torchrun_two_processes_match_one_process(tmp_path):
    script = tmp_path / "ddp_script.py"
    script.write_text(DDP_SCRIPT)
    torchrun = Path(sys.executable).parent / "torchrun"
    out = tmp_path / "ddp.json"
    proc = subprocess.run([str(torchrun), "--standalone", "--nproc_per_node=2", str(script),
                           str(out), "2"], env=sub_env(), capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ddp = json.loads(out.read_text())
    assert ddp["world"] == 2
    # one process, same global batch of 8 windows (and no accumulation)
    gen = torch.Generator().manual_seed(0)
    data = torch.where(torch.rand(3000, generator=gen) < 0.8, torch.arange(3000) % 7,
                       torch.randint(7, (3000,), generator=gen))
    torch.manual_seed(0)
    model = TinyLM(vocab_size=7).double()
    cfg = TrainConfig(max_steps=8, batch_size=8, block_size=16, lr=3e-2, min_lr=3e-3,
                      warmup_steps=2, eval_interval=4, eval_batches=2, progress=False,
                      peak_flops=0)
    h = Trainer(model, data[:2500], data[2500:], cfg).fit()
    assert ddp["loss"] == pytest.approx(h.loss, rel=1e-10)
    assert ddp["val_loss"] == pytest.approx(h.val_loss, rel=1e-10)
    for p, q in zip(model.parameters(), ddp["params"], strict=True):
        torch.testing.assert_close(p.detach().flatten(), torch.tensor(q, dtype=torch.float64),
                                   rtol=1e-9, atol=1e-12)


# ----------------------------------------------------------------------------- the CLI


def test_cli_train_and_resume(tmp_path, capsys):
    from lm_course.tooling.cli import main

    out = tmp_path / "run"
    args = ["train", "--config", "tiny", "--data", "lee", "--max-chars", "20000",
            "--out", str(out), "--steps", "10", "--no-progress"]
    assert main(args + ["--until", "6"]) == 0  # stop early, as if interrupted
    state = load_checkpoint(out / "ckpt.pt")
    assert state["step"] == 6 and (out / "tokenizer.json").is_file()
    assert state["model_config"]["vocab_size"] > 20
    printed = capsys.readouterr().out
    assert "val loss" in printed
    # resume and continue to 10 steps: the history continues from step 6
    assert main(args + ["--resume"]) == 0
    state = load_checkpoint(out / "ckpt.pt")
    assert state["step"] == 10 and state["history"]["step"] == list(range(1, 11))
    # errors are reported as exit codes with a message, not tracebacks
    assert main(["train", "--config", "nope", "--out", str(tmp_path / "x")]) == 2
    assert "unknown config" in capsys.readouterr().err
