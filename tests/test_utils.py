import os
import random

import numpy as np
import pytest
import torch

from lm_course import utils


def test_set_seed_makes_all_generators_repeat():
    utils.set_seed(123)
    a = (random.random(), np.random.rand(), torch.rand(3))
    utils.set_seed(123)
    b = (random.random(), np.random.rand(), torch.rand(3))
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])
    utils.set_seed(124)
    assert random.random() != a[0]


def test_pick_device_defaults_to_what_exists():
    dev = utils.pick_device()
    assert dev.type in {"cpu", "cuda", "mps"}
    if not torch.cuda.is_available():
        assert utils.pick_device().type in {"cpu", "mps"}
        with pytest.raises(ValueError, match="no CUDA device"):
            utils.pick_device("cuda")
    with pytest.raises(ValueError, match="not a device name"):
        utils.pick_device("tpu-ish")


def test_count_parameters_counts_shared_and_frozen_correctly():
    emb = torch.nn.Embedding(10, 4)
    head = torch.nn.Linear(4, 10, bias=False)
    head.weight = emb.weight  # tied: counted once
    model = torch.nn.Sequential(emb, head)
    assert utils.count_parameters(model) == 40
    frozen = torch.nn.Linear(3, 3)
    frozen.requires_grad_(False)
    assert utils.count_parameters(frozen) == 0
    assert utils.count_parameters(frozen, trainable_only=False) == 12
    with pytest.raises(TypeError, match="nn.Module"):
        utils.count_parameters([1, 2])


def test_quick_mode_reads_the_environment(monkeypatch):
    monkeypatch.setenv("LM_COURSE_QUICK", "0")
    assert not utils.quick_mode() and utils.scaled(full=5, quick=1) == 5
    monkeypatch.setenv("LM_COURSE_QUICK", "1")
    assert utils.quick_mode() and utils.scaled(full=5, quick=1) == 1
    monkeypatch.delenv("LM_COURSE_QUICK")
    assert not utils.quick_mode()
    assert os.environ.get("LM_COURSE_QUICK") is None


@pytest.mark.parametrize("call, err, msg", [
    (lambda: utils.check_int("n", 1.5), TypeError, "n must be an int, got float 1.5"),
    (lambda: utils.check_int("n", True), TypeError, "n must be an int"),
    (lambda: utils.check_int("n", 0, min_value=1), ValueError, "n must be >= 1, got 0"),
    (lambda: utils.check_int("n", 9, max_value=8), ValueError, "n must be <= 8, got 9"),
    (lambda: utils.check_float("p", float("nan")), ValueError, "p must be finite"),
    (lambda: utils.check_float("p", "0.5"), TypeError, "p must be a number"),
    (lambda: utils.check_float("p", 1.0, high=1.0, high_inclusive=False), ValueError,
     r"p must be in \[-inf, 1.0\)"),
    (lambda: utils.check_choice("mode", "x", ["a", "b"]), ValueError,
     r"mode must be one of \['a', 'b'\], got 'x'"),
    (lambda: utils.check_tensor("x", [1, 2]), TypeError, "x must be a torch.Tensor"),
    (lambda: utils.check_tensor("x", torch.zeros(2), ndim=(2, 3)), ValueError,
     r"x must have 2 or 3 dimensions, got shape \(2,\)"),
    (lambda: utils.check_tensor("x", torch.zeros(2, dtype=torch.long), floating=True),
     TypeError, "floating-point"),
])
def test_checks_name_the_argument_the_value_and_the_expectation(call, err, msg):
    with pytest.raises(err, match=msg):
        call()


def test_write_text_atomic_replaces_whole_files_only(tmp_path):
    path = utils.write_text_atomic(tmp_path / "notes.txt", "first")
    assert path.read_text() == "first" and path.stat().st_mode & 0o777 == 0o644
    utils.write_text_atomic(path, "second, ünïcode 中文")
    assert path.read_text(encoding="utf-8") == "second, ünïcode 中文"
    with pytest.raises(TypeError):
        utils.write_text_atomic(path, b"bytes are not text")  # fails while writing
    assert path.read_text(encoding="utf-8") == "second, ünïcode 中文"
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]  # no temporary left behind
