"""Tests for lm_course.challenges.federated: the weighted average equals a hand computation
and leaves its inputs alone, FedAvg of identical clients equals one client (and one round of
it equals the course's Trainer), FedAvg learns, the IID split keeps every character and the
sizes, bytes are counted both ways, and bad input is refused clearly."""

import copy

import pytest
import torch

from lm_course.challenges.federated import (
    FedConfig,
    bytes_per_round,
    client_train_config,
    fedavg,
    run_fedavg,
    split_iid,
    train_rounds,
)
from lm_course.training import TinyLM, Trainer, evaluate_loss
from lm_course.utils import count_parameters


def _states():
    g = torch.Generator().manual_seed(0)
    return [{"w": torch.randn(2, 3, generator=g), "h": torch.randn(4, generator=g).half(),
             "n": torch.tensor(5)} for _ in range(3)]


def test_fedavg_is_the_size_weighted_average():
    states = _states()
    before = copy.deepcopy(states)
    out = fedavg(states, [10, 30, 60])
    want = 0.1 * states[0]["w"] + 0.3 * states[1]["w"] + 0.6 * states[2]["w"]
    assert torch.allclose(out["w"], want)
    assert out["h"].dtype == torch.float16
    assert torch.allclose(out["h"].float(), sum(w * s["h"].double() for w, s in
                                                zip([0.1, 0.3, 0.6], states, strict=True)
                                                ).float(), atol=1e-3)
    assert torch.equal(out["n"], torch.tensor(5))  # integer entries copied
    scaled = fedavg(states, [1, 3, 6])  # only the proportions matter
    assert torch.allclose(scaled["w"], out["w"])
    for s, b in zip(states, before, strict=True):  # inputs unchanged
        assert all(torch.equal(s[k], b[k]) for k in s)
    assert out["w"] is not states[0]["w"]
    only = fedavg(states, [0, 1, 0])
    assert torch.equal(only["w"], states[1]["w"])


def _cycle(n=400, offset=0):
    return torch.tensor([(i + offset) % 5 for i in range(n)])


CFG = FedConfig(rounds=2, local_steps=5, batch_size=4, block_size=8, lr=0.05)


def test_identical_clients_equal_one_client_and_the_trainer():
    data = _cycle()
    val = _cycle(100, 2)
    torch.manual_seed(0)
    one = TinyLM(5, n_embd=8)
    many, plain = copy.deepcopy(one), copy.deepcopy(one)
    h1 = run_fedavg(one, [data], val, CFG)
    h3 = run_fedavg(many, [data, data.clone(), data.clone()], val, CFG)
    for a, b in zip(one.state_dict().values(), many.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)
    assert h1.val_loss == pytest.approx(h3.val_loss, abs=1e-5)
    for r in range(CFG.rounds):  # what each round does: a fresh Trainer from the global weights
        Trainer(plain, data, None, client_train_config(CFG, r)).fit()
    for a, b in zip(one.state_dict().values(), plain.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)
    assert h3.bytes_sent == [bytes_per_round(many, 3), 2 * bytes_per_round(many, 3)]


def test_fedavg_learns_from_clients_with_different_data():
    clients = [_cycle(300, 0), _cycle(200, 1)[:150], torch.tensor([0, 1, 2, 3, 4, 0] * 40)]
    val = _cycle(200, 3)
    torch.manual_seed(0)
    model = TinyLM(5, n_embd=8)
    start = evaluate_loss(model, val, 8)
    hist = run_fedavg(model, clients, val, FedConfig(rounds=4, local_steps=10, batch_size=4,
                                                     block_size=8, lr=0.05))
    assert hist.round == [1, 2, 3, 4]
    assert hist.val_loss[-1] < 0.6 * start
    assert hist.val_loss[-1] == pytest.approx(evaluate_loss(model, val, 8))


def test_train_rounds_reports_each_round():
    torch.manual_seed(0)
    model = TinyLM(5, n_embd=8)
    hist = train_rounds(model, _cycle(), _cycle(100, 1), CFG, batch_size=8)
    assert hist.round == [1, 2] and hist.bytes_sent == [0, 0]
    assert hist.val_loss[1] < hist.val_loss[0]


def test_bytes_per_round_counts_parameters_both_ways():
    model = TinyLM(5, n_embd=8)
    assert bytes_per_round(model, 3) == count_parameters(model) * 4 * 3 * 2
    assert bytes_per_round(model, 1, bytes_per_value=2) == count_parameters(model) * 2 * 2


def test_split_iid_keeps_sizes_and_characters():
    texts = ["a" * 5000, "b" * 2000, "c" * 3000]
    out = split_iid(texts, chunk_chars=100, seed=0)
    assert "".join(sorted("".join(out))) == "".join(sorted("".join(texts)))
    assert [len(t) for t in out] == [5000, 2000, 3000]  # chunks of 100 divide the sizes
    for t in out:  # every client now holds every source
        assert {"a", "b", "c"} <= set(t)
    assert split_iid(texts, 100, seed=0) == out != split_iid(texts, 100, seed=1)


@pytest.mark.parametrize("call, exc, message", [
    (lambda: fedavg([], []), TypeError, "non-empty list of state dicts"),
    (lambda: fedavg(_states(), [1, 2]), ValueError, "one entry per state"),
    (lambda: fedavg(_states(), [1, -2, 1]), ValueError, r"weights\[1\] must be in"),
    (lambda: fedavg(_states(), [0, 0, 0]), ValueError, "must not all be 0"),
    (lambda: fedavg([{"w": torch.ones(2)}, {"v": torch.ones(2)}], [1, 1]), ValueError,
     "different keys"),
    (lambda: fedavg([{"w": torch.ones(2)}, {"w": torch.ones(3)}], [1, 1]), ValueError,
     "has shape"),
    (lambda: fedavg([{"n": torch.tensor(1)}, {"n": torch.tensor(2)}], [1, 1]), ValueError,
     "differs between clients"),
    (lambda: fedavg([{"w": [1.0]}], [1]), TypeError, "must be a torch.Tensor"),
    (lambda: FedConfig(rounds=0), ValueError, "rounds must be >= 1"),
    (lambda: FedConfig(lr=0.0), ValueError, "lr must be in"),
    (lambda: FedConfig(optimizer="adagrad"), ValueError, "optimizer must be one of"),
    (lambda: run_fedavg(TinyLM(5), [], _cycle(), CFG), TypeError, "non-empty list"),
    (lambda: run_fedavg(TinyLM(5), [_cycle(5)], _cycle(), CFG), ValueError,
     r"clients\[0\] has 5 tokens"),
    (lambda: run_fedavg(TinyLM(5), [_cycle().float()], _cycle(), CFG), TypeError,
     r"clients\[0\] must be an integer tensor"),
    (lambda: run_fedavg(TinyLM(5), [_cycle()], _cycle(), {"rounds": 1}), TypeError,
     "config must be a FedConfig"),
    (lambda: train_rounds(TinyLM(5), _cycle(), _cycle(3), CFG), ValueError,
     "val_data has 3 tokens"),
    (lambda: bytes_per_round(TinyLM(5), 0), ValueError, "n_clients must be >= 1"),
    (lambda: split_iid(["a", 3]), TypeError, "non-empty list of str"),
    (lambda: split_iid(["abc"], chunk_chars=0), ValueError, "chunk_chars must be >= 1"),
])
def test_bad_inputs(call, exc, message):
    with pytest.raises(exc, match=message):
        call()
