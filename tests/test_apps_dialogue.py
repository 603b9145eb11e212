"""Chat template, loss mask, masked fine-tuning through the Trainer, per-role losses, replies."""

import copy

import pytest
import torch
import torch.nn.functional as F

from lm_course.apps.dialogue import (
    ChatStream,
    ChatTemplate,
    chat_reply,
    chat_stream,
    encode_chat,
    plain_text,
    render,
    reply_prompt,
    role_losses,
    train_chat_tokenizer,
)
from lm_course.generation import generate
from lm_course.training import TrainConfig, Trainer
from lm_course.transformer import GPT, GPTConfig

T = ChatTemplate()
# the odd turn (a user's) first and last, two-line texts, three assistant turns of other lengths
CHAT = [("A", "hi there"), ("B", "hello!"), ("A", "how are\nyou?"), ("B", "fine."),
        ("A", "and now?"), ("B", "bye, see you"), ("A", "ok")]
OTHER = [("B", "I start"), ("A", "do you?"), ("B", "yes")]  # the assistant first


@pytest.fixture(scope="module")
def tok():
    return train_chat_tokenizer([CHAT, OTHER], 300, T)


def _model(tok, seed=0, block=48):
    torch.manual_seed(seed)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=block, n_layer=2, n_head=2,
                          n_embd=32))
    with torch.no_grad():  # parameters away from their initial values
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


def test_render_and_template_roles():
    text = render(CHAT[:2], T)
    assert text == "<|user|>hi there<|end|><|assistant|>hello!<|end|>"
    assert render(OTHER, T).startswith("<|assistant|>I start<|end|><|user|>")
    assert T.role("A") == "user" and T.role("B") == "assistant" and T.role("user") == "user"
    swapped = ChatTemplate(speakers=("B", "A"))
    assert render(CHAT[:1], swapped) == "<|assistant|>hi there<|end|>"
    assert ChatTemplate.from_dict(T.to_dict()) == T


def test_mask_is_exactly_the_assistant_text_and_end(tok):
    ids, mask = encode_chat(CHAT, tok, T)
    assert tok.decode(ids) == render(CHAT, T)
    sp = tok.special_tokens
    expected_ids, expected_mask = [], []
    for speaker, text in CHAT:  # built independently, turn by turn
        body = tok.encode(text) + [sp["<|end|>"]]
        head = sp["<|assistant|>"] if speaker == "B" else sp["<|user|>"]
        expected_ids += [head] + body
        expected_mask += [0] + [int(speaker == "B")] * len(body)
    assert ids == expected_ids and mask == expected_mask
    assert mask[0] == 0 and mask[-1] == 0  # user first and last
    kept = tok.decode([i for i, m in zip(ids, mask, strict=True) if m])
    assert kept == "hello!<|end|>fine.<|end|>bye, see you<|end|>"
    ids2, mask2 = encode_chat(OTHER, tok, T)
    assert mask2[0] == 0 and mask2[1] == 1 and mask2[-1] == 1  # assistant first and last
    assert tok.decode([i for i, m in zip(ids2, mask2, strict=True) if m]) == \
        "I start<|end|>yes<|end|>"


def test_chat_stream_targets_and_roles(tok):
    chats = [CHAT, OTHER]
    before = copy.deepcopy(chats)
    s = chat_stream(chats, tok, T)
    u = chat_stream(chats, tok, T, masked=False)
    assert chats == before  # inputs unchanged
    ids1, m1 = encode_chat(CHAT, tok, T)
    ids2, m2 = encode_chat(OTHER, tok, T)
    assert s.ids.tolist() == ids1 + ids2 and torch.equal(u.ids, s.ids)
    mask = torch.tensor(m1 + m2, dtype=torch.bool)
    assert torch.equal(s.targets, s.ids.masked_fill(~mask, -100))
    assert torch.equal(u.targets, u.ids)
    assert torch.equal(s.roles == 1, mask)
    heads = torch.tensor([t in (tok.special_tokens["<|user|>"], tok.special_tokens["<|assistant|>"])
                          for t in s.ids.tolist()])
    assert torch.equal(s.roles == -1, heads)
    assert int((s.roles == 0).sum()) == len(s.ids) - int(mask.sum()) - int(heads.sum())


def test_plain_text():
    assert plain_text([CHAT[:2], OTHER[:1]]) == "hi there\nhello!\n\nI start"


def test_role_losses_match_a_direct_computation(tok):
    model = _model(tok)
    s = chat_stream([CHAT, OTHER] * 3, tok, T)
    out = role_losses(model, s, block_size=8, batch_size=3)
    n = (len(s.ids) - 1) // 8 * 8
    x, y, r = s.ids[:n].view(-1, 8), s.ids[1:n + 1].view(-1, 8), s.roles[1:n + 1]
    with torch.no_grad():
        nll = F.cross_entropy(model(x)[0].flatten(0, 1), y.flatten(), reduction="none")
    assert out["assistant"] == pytest.approx(nll[r == 1].mean().item(), rel=1e-5)
    assert out["user"] == pytest.approx(nll[r == 0].mean().item(), rel=1e-5)
    assert out["assistant_tokens"] == int((r == 1).sum()) and out["user_tokens"] == int((r == 0)
                                                                                        .sum())
    assert out["user"] != pytest.approx(out["assistant"])


def test_masked_sft_trains_only_the_assistant_tokens(tok):
    """With every target -100 except the assistant's, a user token's logits get no
    gradient; the Trainer's masked loss equals the hand-computed masked mean."""
    model = _model(tok)
    s = chat_stream([CHAT, OTHER] * 4, tok, T)
    cfg = TrainConfig(max_steps=1, batch_size=4, block_size=16, warmup_steps=0,
                      eval_interval=0, eval_batches=1, progress=False)
    trainer = Trainer(model, s.ids, s.ids, cfg, train_targets=s.targets, val_targets=s.targets)
    x, y = trainer._val_windows
    assert x.shape == y.shape == (4, 16)
    for b in range(4):  # each window's targets are the target stream at the same place
        starts = [i for i in range(len(s.ids) - 16) if torch.equal(s.ids[i:i + 16], x[b])]
        assert any(torch.equal(y[b], s.targets[i + 1:i + 17]) for i in starts)
    with torch.no_grad():
        logits = model(x)[0]
        keep = y != -100
        expected = F.cross_entropy(logits[keep], y[keep]).item()
    assert trainer.evaluate()["val_loss"] == pytest.approx(expected, rel=1e-5)
    assert keep.any() and (~keep).any()
    before = copy.deepcopy(model.state_dict())
    loss = trainer.train_step()["loss"]
    assert torch.isfinite(torch.tensor(loss))
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_masked_loss_ignores_what_the_user_says(tok):
    """Changing a *user* token that is only a target (never context for an assistant token
    of the window) leaves the masked loss unchanged; the unmasked loss moves."""
    model = _model(tok, block=96)
    ids, mask = encode_chat(CHAT, tok, T)
    x = torch.tensor([ids[:-1]])
    y = torch.tensor([ids[1:]])
    y_masked = y.masked_fill(torch.tensor([mask[1:]]) == 0, -100)
    last_user = len(ids) - 3  # a text token of the final user turn: after it, no assistant
    assert mask[last_user] == 0
    y2 = y.clone()
    y2[0, last_user - 1] = (y2[0, last_user - 1] + 1) % (tok.vocab_size - 3)
    y2_masked = y2.masked_fill(torch.tensor([mask[1:]]) == 0, -100)
    with torch.no_grad():
        assert model(x, y_masked)[1].item() == pytest.approx(model(x, y2_masked)[1].item())
        assert model(x, y)[1].item() != pytest.approx(model(x, y2)[1].item())


def test_reply_stops_at_end_and_cache_matches_no_cache(tok):
    model = _model(tok, seed=3)
    end = tok.special_tokens["<|end|>"]
    history = CHAT[:3]
    prompt = reply_prompt(history, tok, T)
    assert prompt[-1] == tok.special_tokens["<|assistant|>"]
    assert tok.decode(prompt) == render(history, T) + "<|assistant|>"
    with torch.no_grad():  # make the end token likely after a few steps
        model.lm_head.weight[end] += 0.3 * model.lm_head.weight.mean(0)
    room = model.config.block_size - len(prompt)
    a = chat_reply(model, tok, history, T, max_new_tokens=room, greedy=True)
    b = chat_reply(model, tok, history, T, max_new_tokens=room, greedy=True, use_cache=False)
    assert a == b
    full = generate(model, prompt, room, greedy=True)
    cont = full[len(prompt):]
    specials = set(tok.special_tokens.values())
    first_stop = next((i for i, t in enumerate(cont) if t in specials), None)
    if first_stop is None:
        assert a.ids == cont and not a.ended
    else:
        assert a.ids == cont[:first_stop] and a.ended
    assert a.text == tok.decode(a.ids)


def test_reply_of_a_trained_model_ends_its_turn(tok):
    """After a little masked SFT on a chat that always answers 'ok', greedy replies say
    'ok' and stop at the end token."""
    chats = [[("A", "hi there"), ("B", "ok"), ("A", "how are you?"), ("B", "ok")]] * 30
    model = _model(tok, block=32)
    s = chat_stream(chats, tok, T)
    cfg = TrainConfig(max_steps=80, batch_size=8, block_size=32, lr=3e-3, warmup_steps=5,
                      eval_interval=0, eval_batches=1, progress=False)
    Trainer(model, s.ids, s.ids, cfg, train_targets=s.targets, val_targets=s.targets).fit()
    r = chat_reply(model, tok, [("A", "how are you?")], T, max_new_tokens=10, greedy=True)
    assert r.text == "ok" and r.ended


BAD = [
    (dict(chat=[]), ValueError, "chat is empty"),
    (dict(chat="hi"), TypeError, "chat must be a list"),
    (dict(chat=[("A",)]), TypeError, r"chat\[0\] must be a \(speaker, text\) pair"),
    (dict(chat=[("A", "hi"), ("C", "yo")]), ValueError, r"speaker must be one of .*'C'"),
    (dict(chat=[("A", "")]), ValueError, r"chat\[0\] has an empty text"),
    (dict(chat=[("A", "x<|end|>y")]), ValueError, r"contains the template token '<\|end\|>'"),
    (dict(template="chatml"), TypeError, "template must be a ChatTemplate"),
]


@pytest.mark.parametrize("kwargs, err, msg", BAD)
def test_bad_chat_inputs(tok, kwargs, err, msg):
    args = dict(chat=CHAT[:2], tokenizer=tok, template=T) | kwargs
    with pytest.raises(err, match=msg):
        encode_chat(**args)


@pytest.mark.parametrize("kwargs, err, msg", [
    (dict(user=""), ValueError, "user must be a non-empty string"),
    (dict(end="<|user|>"), ValueError, "three different tokens"),
    (dict(speakers=("A", "A")), ValueError, "speakers must be a tuple of two different"),
    (dict(speakers=["A", "B"]), ValueError, "speakers must be a tuple"),
])
def test_bad_templates(kwargs, err, msg):
    with pytest.raises(err, match=msg):
        ChatTemplate(**kwargs)


def test_bad_tokenizer_stream_and_reply_inputs(tok):
    from lm_course.tokenizers import CharTokenizer
    with pytest.raises(ValueError, match=r"no special token\(s\) \['<\|user\|>'"):
        encode_chat(CHAT, CharTokenizer().train("hi there"), T)
    with pytest.raises(ValueError, match=r"chats\[1\]: chat is empty"):
        chat_stream([CHAT, []], tok, T)
    with pytest.raises(ValueError, match="chats must be a non-empty list"):
        chat_stream([], tok, T)
    with pytest.raises(TypeError, match="masked must be True or False"):
        chat_stream([CHAT], tok, T, masked=1)
    with pytest.raises(TypeError, match="stream must be a ChatStream"):
        role_losses(_model(tok), torch.arange(10), 4)
    with pytest.raises(ValueError, match="block_size must be"):
        role_losses(_model(tok), chat_stream([CHAT], tok, T), 0)
    with pytest.raises(ValueError, match="max_new_tokens must be"):
        chat_reply(_model(tok), tok, CHAT[:1], T, max_new_tokens=0)
    with pytest.raises(TypeError, match="stop_sequences is not an option"):
        chat_reply(_model(tok), tok, CHAT[:1], T, stop_sequences=[[1]])
    assert isinstance(chat_stream([CHAT], tok, T), ChatStream)


@pytest.mark.parametrize("kwargs, msg", [
    (dict(train_targets=torch.zeros(5, dtype=torch.long)), "train_targets must have the shape"),
    (dict(train_targets=torch.full((200,), -100)), "train_targets is -100 everywhere"),
    (dict(train_targets=torch.zeros(200)), "train_targets must"),
    (dict(val_targets=torch.arange(200) % 5), "val_targets needs the data"),
])
def test_trainer_rejects_bad_targets(kwargs, msg):
    from lm_course.training import TinyLM
    cfg = TrainConfig(max_steps=1, batch_size=2, block_size=4, warmup_steps=0,
                      eval_interval=0, eval_batches=1, progress=False)
    with pytest.raises((TypeError, ValueError), match=msg):
        Trainer(TinyLM(5), torch.arange(200) % 5, None, cfg, **kwargs)
