"""Around the training loop: atomic checkpoints, RNG capture, the process group outside
``torchrun``, FLOP accounting. (Resuming a whole run and a killed write are tested end to
end in ``test_training.py``.)"""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from lm_course import runtime
from lm_course.runtime import (
    CHECKPOINT_FORMAT,
    get_rng_state,
    load_checkpoint,
    save_checkpoint,
    set_rng_state,
)


def test_checkpoint_round_trip_and_validation(tmp_path):
    payload = {"format": CHECKPOINT_FORMAT, "step": 7, "w": torch.arange(6.0).view(2, 3)}
    path = save_checkpoint(tmp_path / "deep" / "ckpt.pt", payload)  # folders are created
    back = load_checkpoint(path)
    assert back["step"] == 7 and torch.equal(back["w"], payload["w"])
    assert [p.name for p in path.parent.iterdir()] == ["ckpt.pt"]  # no temporary left
    other = save_checkpoint(tmp_path / "x.pt", {"format": "something else"})
    with pytest.raises(ValueError, match="not an lm_course checkpoint"):
        load_checkpoint(other)
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "missing.pt")


def test_a_failed_save_keeps_the_previous_checkpoint(tmp_path):
    path = save_checkpoint(tmp_path / "ckpt.pt", {"format": CHECKPOINT_FORMAT, "step": 1})
    with pytest.raises((AttributeError, TypeError, ValueError), match="pickle"):
        # a lambda cannot be pickled: torch.save fails midway through writing
        save_checkpoint(path, {"format": CHECKPOINT_FORMAT, "step": 2, "bad": lambda: 0})
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]


def test_checkpoints_execute_no_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("this would run on load",))

    path = save_checkpoint(tmp_path / "evil.pt", {"format": CHECKPOINT_FORMAT, "x": Evil()})
    with pytest.raises(Exception, match="Weights only load failed|Unsupported global"):
        load_checkpoint(path)


def test_rng_state_round_trip_through_a_checkpoint(tmp_path):
    torch.manual_seed(0), np.random.seed(0), random.seed(0)
    torch.rand(3), np.random.rand(3), random.random()  # move every generator along
    save_checkpoint(tmp_path / "rng.pt", {"format": CHECKPOINT_FORMAT, "rng": get_rng_state()})
    expected = (torch.rand(4), np.random.rand(4), [random.random() for _ in range(4)])
    torch.manual_seed(99), np.random.seed(99), random.seed(99)  # somewhere else entirely
    set_rng_state(load_checkpoint(tmp_path / "rng.pt")["rng"])
    got = (torch.rand(4), np.random.rand(4), [random.random() for _ in range(4)])
    assert torch.equal(got[0], expected[0])
    assert np.array_equal(got[1], expected[1]) and got[2] == expected[2]


def test_without_torchrun_there_is_one_process(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    info = runtime.setup_distributed()
    assert (info.rank, info.world_size, info.local_rank) == (0, 1, 0)
    assert runtime.world() == (0, 1)
    runtime.cleanup_distributed()  # nothing to leave: must not fail


def test_flops_of_a_plain_model_and_the_matmul_peak():
    model = torch.nn.Sequential(torch.nn.Embedding(10, 4), torch.nn.Linear(4, 10))
    n_params = 10 * 4 + 4 * 10 + 10
    assert runtime.estimate_flops_per_token(model, block_size=8) == 6 * n_params
    runtime._PEAK_CACHE.clear()
    peak = runtime.measure_matmul_flops("cpu", size=128, seconds=0.02)
    assert peak > 1e6  # any CPU does more than a megaflop per second
    assert runtime.measure_matmul_flops("cpu", size=128) == peak  # measured once per process
    assert isinstance(runtime.native_bf16(), bool)
