"""Bad input through every public function: one table per module of
(call, expected error type, a substring the message must contain).

Each substring is the argument's name, the file's name or the wrong value, so that a learner
reading the message knows what to change. ``test_every_table_row_fails_for_its_reason``
runs every row; ``test_table_sizes`` keeps the count per module honest (the report of issue
12 quotes it).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from lm_course import (
    attention,
    data,
    embeddings,
    generation,
    metrics,
    optim,
    rnn,
    runtime,
    tokenizers,
    training,
    transformer,
    utils,
)

NAN = float("nan")
torch.manual_seed(0)
GPT_CFG = transformer.GPTConfig(vocab_size=12, block_size=8, n_layer=1, n_head=2, n_embd=8)
GPT = transformer.GPT(GPT_CFG)
CHAR = tokenizers.CharTokenizer().train("abcdefghijk ")
IDS = torch.tensor([[1, 2, 3], [4, 5, 6]])
Q = torch.randn(2, 3, 4)
LONGS = torch.arange(40) % 7


def _file(tmp: Path, name: str, content: str | bytes) -> Path:
    path = tmp / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


# ----------------------------------------------------------------------------- the tables
# Rows are (call, error type, substring). ``tmp`` is a fresh folder for rows that need files.

UTILS = [
    (lambda tmp: utils.set_seed(-1), ValueError, "seed"),
    (lambda tmp: utils.set_seed(1.5), TypeError, "seed"),
    (lambda tmp: utils.pick_device("banana"), ValueError, "'banana'"),
    (lambda tmp: utils.pick_device(3), TypeError, "prefer"),
    (lambda tmp: utils.count_parameters("model"), TypeError, "model"),
    (lambda tmp: utils.module_device("model", nn.Identity()), ValueError, "no parameters"),
    (lambda tmp: utils.check_choice("mode", "rleu", ["relu", "tanh"]), ValueError,
     "did you mean 'relu'"),
    (lambda tmp: utils.check_choice("mode", ["x"], {"a": 1}), ValueError, "mode"),
    (lambda tmp: utils.check_float("lr", NAN), ValueError, "lr must be finite"),
    (lambda tmp: utils.check_int("n", np.float32(2.0)), TypeError, "n must be an int"),
    (lambda tmp: utils.check_tensor("x", torch.zeros(2), ndim=2), ValueError, "x must have 2"),
    (lambda tmp: utils.check_mask("mask", torch.ones(2, 3, dtype=torch.long), 2, 3),
     TypeError, "mask.bool()"),
    (lambda tmp: utils.check_mask("mask", torch.ones(4, 3, dtype=torch.bool), 2, 3),
     ValueError, "T_q=2"),
    (lambda tmp: utils.check_mask("mask", torch.full((2, 3), NAN), 2, 3), ValueError, "NaN"),
    (lambda tmp: utils.check_mask("mask", [[True]], 1, 1), TypeError, "mask"),
    (lambda tmp: utils.check_out_dir("--out", _file(tmp, "f.txt", "x")), ValueError,
     "existing file"),
    (lambda tmp: utils.check_out_dir("--out", _file(tmp, "f.txt", "x") / "run"), ValueError,
     "f.txt is a file"),
    (lambda tmp: utils.check_out_dir("--out", 3), TypeError, "--out"),
    (lambda tmp: utils.check_out_dir("--out", ""), ValueError, "--out must not be empty"),
    (lambda tmp: utils.check_file("--checkpoint", tmp / "no.pt"), FileNotFoundError, "no.pt"),
    (lambda tmp: utils.check_file("--checkpoint", tmp), ValueError, "is not a file"),
    (lambda tmp: utils.write_text_atomic(tmp / "missing" / "a.txt", "x"), FileNotFoundError,
     "missing"),
]

DATA = [
    (lambda tmp: data.load_text("shakespear"), ValueError, "did you mean 'tinyshakespeare'"),
    (lambda tmp: data.load_text(3), TypeError, "name"),
    (lambda tmp: data.load_text("lee", max_chars=0), ValueError, "max_chars"),
    (lambda tmp: data.load_text("dates"), ValueError, "not a text corpus"),
    (lambda tmp: data.load_documents("dates"), ValueError, "no document structure"),
    (lambda tmp: data.load_sentences("dates"), ValueError, "no sentence view"),
    (lambda tmp: data.load_sentences("lee", max_sentences=0), ValueError, "max_sentences"),
    (lambda tmp: data.load_word_pairs("lee"), ValueError, "not a word-pair set"),
    (lambda tmp: data.load_labelled("lee"), ValueError, "not a labelled set"),
    (lambda tmp: data.load_pairs("lee"), ValueError, "'lee' is embedded, not generated"),
    (lambda tmp: data.load_pairs("copy", n=0), ValueError, "n must be >= 1"),
    (lambda tmp: data.load_pairs("copy", min_len=5, max_len=4), ValueError, "max_len"),
    (lambda tmp: data.load_pairs("copy", seed=-1), ValueError, "seed"),
    (lambda tmp: data.download("lee"), ValueError, "not download"),
    (lambda tmp: data.simple_words(None), TypeError, "text"),
    (lambda tmp: data.train_val_split(LONGS, 0.0), ValueError, "val_fraction"),
    (lambda tmp: data.train_val_split(LONGS, NAN), ValueError, "val_fraction"),
    (lambda tmp: data.train_val_split(torch.arange(3), 0.5), ValueError, "too few"),
    (lambda tmp: data.train_val_split(LONGS.view(4, 10), 0.1), ValueError, "data"),
    (lambda tmp: data.get_batch(LONGS.float(), 2, 4), TypeError, "data"),
    (lambda tmp: data.get_batch(LONGS, 0, 4), ValueError, "batch_size"),
    (lambda tmp: data.get_batch(LONGS, 2, 40), ValueError, "block_size + 1"),
    (lambda tmp: data.lm_windows(LONGS, 0), ValueError, "block_size"),
    (lambda tmp: data.lm_windows([1, 2, 3], 1), TypeError, "data"),
]

TOKENIZERS = [
    (lambda tmp: tokenizers.CharTokenizer().train(""), ValueError, "text is empty"),
    (lambda tmp: tokenizers.CharTokenizer().train(["a"]), TypeError, "text"),
    (lambda tmp: CHAR.encode("xyz"), ValueError, "'x'"),
    (lambda tmp: CHAR.decode([99]), ValueError, "id 99"),
    (lambda tmp: CHAR.decode("ab"), TypeError, "ids"),
    (lambda tmp: CHAR.decode([1.0]), TypeError, "ids must contain ints"),
    (lambda tmp: tokenizers.WordTokenizer().train("a b a", min_count=5), ValueError,
     "min_count=5 removes every word"),
    (lambda tmp: tokenizers.WordTokenizer().train("a b", min_count=0), ValueError, "min_count"),
    (lambda tmp: tokenizers.WordTokenizer().train("a b", max_vocab=1), ValueError, "max_vocab"),
    (lambda tmp: tokenizers.WordTokenizer().train("   "), ValueError, "no words"),
    (lambda tmp: tokenizers.BPETokenizer().train("abab", 300, special_tokens="<s>"),
     TypeError, "special_tokens must be a list"),
    (lambda tmp: tokenizers.BPETokenizer().train("abab", 300, special_tokens=["<s>", "<s>"]),
     ValueError, "['<s>'] more than once"),
    (lambda tmp: tokenizers.BPETokenizer().train("abab", 300, special_tokens=[""]),
     ValueError, "non-empty"),
    (lambda tmp: tokenizers.BPETokenizer().train("abab", 255), ValueError, "vocab_size"),
    (lambda tmp: tokenizers.BPETokenizer().train("abab", 256.0), TypeError, "vocab_size"),
    (lambda tmp: tokenizers.BPETokenizer().token_bytes(256), ValueError, "id 256"),
    (lambda tmp: tokenizers.textbook_bpe_merges("ab", -1), ValueError, "n_merges"),
    (lambda tmp: tokenizers.Tokenizer.load(tmp / "none.json"), FileNotFoundError, "none.json"),
    (lambda tmp: tokenizers.Tokenizer.load(_file(tmp, "t.json", "{not json")), ValueError,
     "t.json is not a tokenizer file (not valid JSON"),
    (lambda tmp: tokenizers.Tokenizer.load(_file(tmp, "t.json", b"\xff\xfe\x00")), ValueError,
     "t.json"),
    (lambda tmp: tokenizers.Tokenizer.load(_file(tmp, "t.json", "[1, 2]")), ValueError,
     "t.json is not a tokenizer file"),
    (lambda tmp: tokenizers.Tokenizer.load(_file(tmp, "t.json", '{"kind": "wordpiece"}')),
     ValueError, "kind='wordpiece'"),
    (lambda tmp: tokenizers.Tokenizer.load(_file(tmp, "t.json", '{"kind": "bpe"}')),
     ValueError, "t.json is a damaged bpe tokenizer file (missing field 'merges')"),
    (lambda tmp: tokenizers.Tokenizer.load(_file(tmp, "t.json",
                                                 '{"kind": "bpe", "merges": [[1, 999]]}')),
     ValueError, "merge 0"),
    (lambda tmp: tokenizers.Tokenizer.load(_file(tmp, "t.json",
                                                 '{"kind": "bpe", "merges": 5}')),
     ValueError, "t.json is a damaged bpe"),
    (lambda tmp: tokenizers.Tokenizer.load(_file(
        tmp, "t.json", '{"kind": "bpe", "merges": [], "pattern": "(("}')),
     ValueError, "pattern"),
    (lambda tmp: tokenizers.Tokenizer.load(_file(tmp, "t.json",
                                                 '{"kind": "char", "chars": ["ab"]}')),
     ValueError, "single characters"),
    (lambda tmp: tokenizers.Tokenizer.load(_file(tmp, "t.json",
                                                 '{"kind": "char", "chars": ["a", "a"]}')),
     ValueError, "twice"),
    (lambda tmp: tokenizers.Tokenizer.load(_file(tmp, "t.json", '{"kind": "word", "words": []}')),
     ValueError, "<unk>"),
    (lambda tmp: tokenizers.Tokenizer.load(_file(
        tmp, "t.json", '{"kind": "char", "chars": ["a"], "special_tokens": {"<s>": 7}}')),
     ValueError, "special token ids"),
    (lambda tmp: tokenizers.Tokenizer.load(_file(
        tmp, "t.json", '{"kind": "char", "chars": ["a"], "special_tokens": [1]}')),
     ValueError, "t.json is a damaged char"),
    (lambda tmp: tokenizers.CharTokenizer.load(_word_file(tmp)), ValueError,
     "holds a WordTokenizer, not a CharTokenizer"),
]


def _word_file(tmp: Path) -> Path:
    return tokenizers.WordTokenizer().train("the cat").save(tmp / "w.json")


EMBEDDINGS = [
    (lambda tmp: embeddings.Vocab.build("the cat sat"), ValueError, "sentences"),
    (lambda tmp: embeddings.Vocab.build(["the", "cat"]), TypeError, "list of token lists"),
    (lambda tmp: embeddings.Vocab.build([["a"]], min_count=5), ValueError, "min_count=5"),
    (lambda tmp: embeddings.Vocab.build([[]]), ValueError, "no words"),
    (lambda tmp: embeddings.Vocab(["a"], [1, 2]), ValueError, "equal length"),
    (lambda tmp: embeddings.Word2VecConfig(arch="skipgrm"), ValueError,
     "did you mean 'skipgram'"),
    (lambda tmp: embeddings.Word2VecConfig(window=0), ValueError, "window"),
    (lambda tmp: embeddings.Word2VecConfig(lr=NAN), ValueError, "lr"),
    (lambda tmp: embeddings.Word2VecConfig(min_lr=1.0), ValueError, "min_lr"),
    (lambda tmp: embeddings.train_word2vec([["a"], ["b"], ["a"]],
                                           embeddings.Word2VecConfig(min_count=1, dim=4),
                                           progress=False),
     ValueError, "no training pairs"),
    (lambda tmp: embeddings.GloVeConfig(x_max=0.0), ValueError, "x_max"),
    (lambda tmp: embeddings.train_glove([["a"], ["b"]], embeddings.GloVeConfig(min_count=1),
                                        progress=False),
     ValueError, "co-occurrence matrix is empty"),
    (lambda tmp: embeddings.WordVectors(torch.zeros(3, 2), ["a", "b"]), ValueError,
     "vectors must be"),
    (lambda tmp: embeddings.WordVectors(torch.ones(2, 2), ["a", "b"]).id("zebra"), ValueError,
     "'zebra'"),
    (lambda tmp: embeddings.WordVectors(torch.ones(2, 2), ["a", "b"]).most_similar("a", k=0),
     ValueError, "k must be >= 1"),
]

RNN = [
    (lambda tmp: rnn.Recurrent("lstn", 3, 4), ValueError, "did you mean 'lstm'"),
    (lambda tmp: rnn.Recurrent(nn.LSTM, 3, 4), TypeError, "cell"),
    (lambda tmp: rnn.Recurrent("gru", 0, 4), ValueError, "input_size"),
    (lambda tmp: rnn.Recurrent("gru", 3, 4, dropout=1.0), ValueError, "dropout"),
    (lambda tmp: rnn.LSTM(3, 4)(torch.zeros(2, 5, 7)), ValueError, "input"),
    (lambda tmp: rnn.LSTM(3, 4)(torch.zeros(2, 5, 3, dtype=torch.long)), TypeError, "input"),
    (lambda tmp: rnn.GRU(3, 4)(torch.zeros(5, 2, 3), torch.zeros(1, 3, 4)), ValueError,
     "h0 must have shape (1, 2, 4)"),
    (lambda tmp: rnn.RNNLMConfig(cell="transformer"), ValueError, "cell"),
    (lambda tmp: rnn.RNNLMConfig(vocab_size=1), ValueError, "vocab_size"),
    (lambda tmp: rnn.RNNLanguageModel(rnn.RNNLMConfig(vocab_size=5, hidden_size=4))(
        torch.tensor([[1, 9]])), ValueError, "idx"),
    (lambda tmp: list(rnn.stream_batches(torch.arange(10), 0, 2)), ValueError, "batch_size"),
]

ATTENTION = [
    (lambda tmp: attention.causal_mask(0), ValueError, "t_q"),
    (lambda tmp: attention.causal_mask(3, 2), ValueError, "t_k"),
    (lambda tmp: attention.padding_mask([2, -1]), ValueError, "lengths must be >= 0"),
    (lambda tmp: attention.padding_mask([2.0]), TypeError, "lengths"),
    (lambda tmp: attention.padding_mask([3], max_len=2), ValueError, "max_len"),
    (lambda tmp: attention.combine_masks(torch.ones(2, 2)), TypeError, "mask.bool()"),
    (lambda tmp: attention.combine_masks([[True]]), TypeError, "masks must be boolean"),
    (lambda tmp: attention.key_padding_to_attention(torch.ones(2, 3)), TypeError,
     "key_padding_mask"),
    # the integer 0/1 mask that used to be *added* to the scores (masking nothing)
    (lambda tmp: attention.scaled_dot_product_attention(Q, Q, Q, torch.ones(3, 3).long()),
     TypeError, "mask.bool()"),
    (lambda tmp: attention.scaled_dot_product_attention(Q, Q, Q, torch.ones(2, 2).bool()),
     ValueError, "T_q=3, T_k=3"),
    (lambda tmp: attention.scaled_dot_product_attention(Q, Q.double(), Q), TypeError,
     "one dtype"),
    (lambda tmp: attention.scaled_dot_product_attention(Q, torch.randn(2, 3, 5), Q), ValueError,
     "shapes do not fit"),
    (lambda tmp: attention.scaled_dot_product_attention(Q, Q.long(), Q), TypeError, "k must"),
    (lambda tmp: attention.scaled_dot_product_attention(torch.randn(4), Q, Q), ValueError, "q"),
    (lambda tmp: attention.scaled_dot_product_attention(Q, Q, Q, dropout_p=1.0), ValueError,
     "dropout_p"),
    (lambda tmp: attention.scaled_dot_product_attention(Q, Q, Q, scale=0.0), ValueError,
     "scale"),
    (lambda tmp: attention.split_heads(torch.zeros(2, 3, 5), 2), ValueError, "n_head=2"),
    (lambda tmp: attention.split_heads(torch.zeros(3, 4), 2), ValueError, "x must have 3"),
    (lambda tmp: attention.merge_heads(torch.zeros(2, 3, 4)), ValueError, "x must have 4"),
    (lambda tmp: attention.MultiHeadAttention(6, 4), ValueError, "divisible"),
    (lambda tmp: attention.MultiHeadAttention(4, 2, kdim=3), ValueError, "fused_qkv"),
    (lambda tmp: attention.MultiHeadAttention(4, 2)(Q, Q[:, :, :3]), ValueError, "key must be"),
    (lambda tmp: attention.MultiHeadAttention(4, 2)(Q, Q.double()), ValueError, "key must be"),
    (lambda tmp: attention.MultiHeadAttention(4, 2)(Q, Q, Q[:, :2]), ValueError,
     "same length"),
    (lambda tmp: attention.MultiHeadAttention(4, 2)(Q, attn_mask=torch.ones(3, 3)), TypeError,
     "attn_mask must be boolean"),
    (lambda tmp: attention.MultiHeadAttention(4, 2)(Q, attn_mask=torch.ones(2, 3).bool()),
     ValueError, "attn_mask must broadcast"),
    (lambda tmp: attention.MultiHeadAttention(4, 2)(
        Q, key_padding_mask=torch.ones(2, 4).bool()), ValueError, "key_padding_mask must be"),
    (lambda tmp: attention.MultiHeadAttention(4, 2)(Q[0]), ValueError, "query"),
    (lambda tmp: attention.Seq2SeqConfig(src_vocab_size=2), ValueError, "src_vocab_size"),
    (lambda tmp: attention.encode_pairs([], CHAR, CHAR), ValueError, "pairs"),
    (lambda tmp: attention.train_seq2seq(nn.Linear(1, 1), IDS, IDS[:, 0], IDS, steps=0),
     ValueError, "steps"),
]

TRANSFORMER = [
    (lambda tmp: transformer.GPTConfig(n_embd=10, n_head=4), ValueError, "divisible"),
    (lambda tmp: transformer.GPTConfig(pos_encoding="rotary"), ValueError, "pos_encoding"),
    (lambda tmp: transformer.GPTConfig(dropout=-0.1), ValueError, "dropout"),
    (lambda tmp: transformer.GPTConfig(vocab_size=0), ValueError, "vocab_size"),
    (lambda tmp: GPT(torch.tensor([[1, 12]])), ValueError, "token ids in [0, 11]"),
    (lambda tmp: GPT(torch.tensor([[1.0, 2.0]])), TypeError, "idx"),
    (lambda tmp: GPT(torch.tensor([1, 2])), ValueError, "idx"),
    (lambda tmp: GPT(IDS, targets=torch.tensor([[1, 2, 99], [0, 0, 0]])), ValueError,
     "targets"),
    (lambda tmp: transformer.sinusoidal_encoding(0, 4), ValueError, "n_positions"),
    (lambda tmp: transformer.flops_per_token(GPT_CFG, seq_len=0), ValueError, "seq_len"),
]

OPTIM = [
    (lambda tmp: optim.SGD(nn.Linear(2, 2).parameters(), lr=-1.0), ValueError, "lr"),
    (lambda tmp: optim.SGD(nn.Linear(2, 2).parameters(), momentum=1.5), ValueError,
     "momentum must be in [0.0, 1.0)"),
    (lambda tmp: optim.SGD(nn.Linear(2, 2).parameters(), momentum=NAN), ValueError,
     "momentum must be finite"),
    (lambda tmp: optim.SGD(nn.Linear(2, 2).parameters(), nesterov=True), ValueError,
     "nesterov"),
    (lambda tmp: optim.Adam(nn.Linear(2, 2).parameters(), eps=0.0), ValueError,
     "eps must be in (0.0"),
    (lambda tmp: optim.Adam(nn.Linear(2, 2).parameters(), betas=(0.9, 1.0)), ValueError,
     "betas[1]"),
    (lambda tmp: optim.AdamW(nn.Linear(2, 2).parameters(), betas=0.9), ValueError, "betas"),
    (lambda tmp: optim.AdamW(nn.Linear(2, 2).parameters(), weight_decay=-0.1), ValueError,
     "weight_decay"),
    (lambda tmp: optim.make_optimizer(nn.Linear(2, 2), "adamm"), ValueError,
     "did you mean 'adam'"),
    (lambda tmp: optim.make_optimizer(nn.Linear(2, 2), "sgd", momentum=1.0,
                                      implementation="torch"), ValueError, "momentum"),
    (lambda tmp: optim.make_optimizer("model"), TypeError, "model"),
    (lambda tmp: optim.warmup_cosine_lr(-1, max_lr=1.0, min_lr=0.0, warmup_steps=0,
                                        total_steps=10), ValueError, "step"),
    (lambda tmp: optim.warmup_cosine_lr(0, max_lr=1.0, min_lr=2.0, warmup_steps=0,
                                        total_steps=10), ValueError, "min_lr"),
    (lambda tmp: optim.make_scheduler(optim.SGD(nn.Linear(1, 1).parameters()), "cosin",
                                      max_lr=1.0), ValueError, "did you mean 'cosine'"),
    (lambda tmp: optim.clip_grad_norm(nn.Linear(1, 1).parameters(), -1.0), ValueError,
     "max_norm"),
]

METRICS = [
    (lambda tmp: metrics.perplexity(-1.0), ValueError, "mean_nll"),
    (lambda tmp: metrics.perplexity(NAN), ValueError, "mean_nll must be finite"),
    (lambda tmp: metrics.perplexity(torch.ones(3)), ValueError, "mean_nll must be a single"),
    (lambda tmp: metrics.bits_per_token("1.0"), TypeError, "mean_nll"),
    (lambda tmp: metrics.token_nll(torch.zeros(2, 5), torch.tensor([0, 5])), ValueError,
     "targets must be token ids in [0, 4]"),
    (lambda tmp: metrics.token_nll(torch.zeros(2, 5), torch.tensor([-3, 1])), ValueError,
     "from -3"),
    (lambda tmp: metrics.token_nll(torch.full((2, 5), NAN), torch.tensor([0, 1])), ValueError,
     "logits hold NaN"),
    (lambda tmp: metrics.token_nll(torch.zeros(2, 5), torch.zeros(3).long()), ValueError,
     "must agree"),
    (lambda tmp: metrics.token_nll(torch.zeros(2, 5).long(), torch.zeros(2).long()),
     TypeError, "logits"),
    (lambda tmp: metrics.perplexity_from_logits(torch.zeros(2, 5), torch.full((2,), -100)),
     ValueError, "ignore_index"),
]

GENERATION = [
    (lambda tmp: generation.apply_temperature(torch.zeros(1, 3), 0.0), ValueError,
     "temperature"),
    (lambda tmp: generation.top_k_filter(torch.zeros(1, 3), 0), ValueError, "top_k"),
    (lambda tmp: generation.top_p_filter(torch.zeros(1, 3), 1.5), ValueError, "top_p"),
    (lambda tmp: generation.apply_repetition_penalty(torch.zeros(1, 3), torch.zeros(1, 2), 2.0),
     TypeError, "previous"),
    (lambda tmp: generation.sample_next(torch.tensor([[0.0, NAN]])), ValueError,
     "logits hold NaN"),
    (lambda tmp: generation.sample_next(torch.tensor([[0.0, math.inf]])), ValueError, "+inf"),
    (lambda tmp: generation.sample_next(torch.zeros(3)), ValueError, "logits must have 2"),
    (lambda tmp: generation.sample_next(torch.zeros(1, 3), temperature=0), ValueError,
     "greedy=True"),
    (lambda tmp: generation.sample_next(torch.zeros(1, 3), greedy="yes"), TypeError, "greedy"),
    (lambda tmp: generation.generate(GPT, [1, 2], -1), ValueError, "max_new_tokens"),
    (lambda tmp: generation.generate(GPT, [1, 99], 2), ValueError, "vocabulary is [0, 11]"),
    (lambda tmp: generation.generate(GPT, [], 2), ValueError, "prompt 0 is empty"),
    (lambda tmp: generation.generate(GPT, "hello", 2), TypeError, "encode text"),
    (lambda tmp: generation.generate(GPT, [1], 2, stop_sequences=[[]]), ValueError,
     "stop_sequences"),
    (lambda tmp: generation.generate(nn.Identity(), [1], 2), ValueError, "no parameters"),
    (lambda tmp: generation.generate(nn.Linear(2, 2), [1], 2), ValueError, "new_kv_cache"),
    (lambda tmp: generation.beam_search(GPT, [1], 2, num_beams=0), ValueError, "num_beams"),
    (lambda tmp: generation.beam_search(GPT, [[1], [2]], 2), ValueError, "one prompt"),
    (lambda tmp: generation.beam_search(GPT, [1], 2, eos_token_id=-1), ValueError,
     "eos_token_id"),
    (lambda tmp: generation.sequence_logprob(GPT, [1], [2] * 20), ValueError, "context"),
    (lambda tmp: generation.generate_text(GPT, CHAR, "", 2), ValueError, "prompt is empty"),
    (lambda tmp: generation.generate_text(GPT, CHAR, 5, 2), TypeError, "prompt"),
    (lambda tmp: generation.generate_text(GPT, CHAR, "ab", 2, stop=[""]), ValueError, "stop"),
    (lambda tmp: generation.generate_text(GPT, CHAR, "ab", 2, num_beams=0), ValueError,
     "num_beams"),
    (lambda tmp: generation.generate_text(GPT, CHAR, ["ab", "c"], 2, num_beams=2), ValueError,
     "one prompt"),
    (lambda tmp: generation.generate_text(GPT, CHAR, "xyz", 2), ValueError, "'x'"),
]

TRAINING = [
    (lambda tmp: training.TrainConfig(lr=0.0), ValueError, "lr"),
    (lambda tmp: training.TrainConfig(batch_size=0), ValueError, "batch_size"),
    (lambda tmp: training.TrainConfig(momentum=1.0), ValueError, "momentum"),
    (lambda tmp: training.TrainConfig(optimizer="adamm"), ValueError, "did you mean 'adam'"),
    (lambda tmp: training.TrainConfig(dtype="float16"), ValueError, "dtype"),
    (lambda tmp: training.TrainConfig(batch_size=6, grad_accum_steps=4), ValueError,
     "divisible"),
    (lambda tmp: training.TrainConfig(max_steps=5, warmup_steps=10), ValueError,
     "warmup_steps"),
    (lambda tmp: training.TrainConfig(peak_flops=NAN), ValueError, "peak_flops"),
    (lambda tmp: training.TrainConfig.from_dict({"lr": 1e-3, "colour": 1}), ValueError,
     "colour"),
    (lambda tmp: training.Trainer(nn.Identity(), LONGS), ValueError, "no parameters"),
    (lambda tmp: training.Trainer("model", LONGS), TypeError, "model"),
    (lambda tmp: training.Trainer(training.TinyLM(7), LONGS, config={"lr": 1}), TypeError,
     "config must be a TrainConfig"),
    (lambda tmp: training.Trainer(training.TinyLM(7), LONGS.float()), TypeError, "train_data"),
    (lambda tmp: training.Trainer(training.TinyLM(7), LONGS[:5]), ValueError, "train_data has 5"),
    (lambda tmp: training.Trainer(training.TinyLM(7), LONGS, LONGS[:3],
                                  training.TrainConfig(block_size=4, batch_size=2)),
     ValueError, "val_data has 3"),
    (lambda tmp: training.Trainer(GPT, torch.arange(300) % 12, config=training.TrainConfig(
        block_size=16)), ValueError, "longer than the model's context"),
    (lambda tmp: training.Trainer(training.TinyLM(7), LONGS, config=training.TrainConfig(
        block_size=4, batch_size=2, max_steps=3, warmup_steps=0)).fit(until=9), ValueError,
     "until"),
    (lambda tmp: training.Trainer(training.TinyLM(7), LONGS, config=training.TrainConfig(
        block_size=4, batch_size=2, max_steps=3, warmup_steps=0)).fit(max_seconds=0),
     ValueError, "max_seconds"),
    (lambda tmp: training.Trainer(training.TinyLM(7), LONGS, config=training.TrainConfig(
        block_size=4, batch_size=2, max_steps=3, warmup_steps=0)).load(tmp / "no.pt"),
     FileNotFoundError, "no.pt"),
    (lambda tmp: training.evaluate_loss(nn.Identity(), LONGS, 4), ValueError, "no parameters"),
    (lambda tmp: training.evaluate_loss(training.TinyLM(7), LONGS, 0), ValueError,
     "block_size"),
    (lambda tmp: training.evaluate_loss(training.TinyLM(7), LONGS, 4, max_windows=0),
     ValueError, "max_windows"),
    (lambda tmp: training.train(training.TinyLM(7), LONGS, config=training.TrainConfig(
        block_size=4, batch_size=2, max_steps=3, warmup_steps=0), resume=True), ValueError,
     "resume=True needs out_dir"),
    (lambda tmp: training.TinyLM(0), ValueError, "vocab_size"),
    (lambda tmp: training.Trainer(training.TinyLM(7), LONGS, None, training.TrainConfig(
        block_size=4, batch_size=2, max_steps=3, warmup_steps=0), train_targets=LONGS[:5]),
     ValueError, "train_targets must have the shape of its data"),
    (lambda tmp: training.Trainer(training.TinyLM(7), LONGS, None, training.TrainConfig(
        block_size=4, batch_size=2, max_steps=3, warmup_steps=0),
        train_targets=torch.full_like(LONGS, -100)), ValueError, "-100 everywhere"),
]

RUNTIME = [
    (lambda tmp: runtime.load_checkpoint(tmp / "none.pt"), FileNotFoundError, "none.pt"),
    (lambda tmp: runtime.load_checkpoint(_file(tmp, "text.pt", "hello")), ValueError,
     "text.pt is not a readable checkpoint"),
    (lambda tmp: runtime.load_checkpoint(_truncated(tmp)), ValueError,
     "half.pt is not a readable checkpoint"),
    (lambda tmp: runtime.load_checkpoint(_evil(tmp)), ValueError, "evil.pt was refused"),
    (lambda tmp: runtime.load_checkpoint(_foreign(tmp)), ValueError,
     "foreign.pt is not an lm_course checkpoint"),
    (lambda tmp: runtime.set_rng_state({"torch": torch.get_rng_state()}), ValueError,
     "get_rng_state"),
    (lambda tmp: runtime.set_rng_state(None), ValueError, "state must be a dict"),
    (lambda tmp: runtime.measure_matmul_flops(dtype="float16"), ValueError, "dtype"),
    (lambda tmp: runtime.measure_matmul_flops(size=0), ValueError, "size"),
    (lambda tmp: runtime.measure_matmul_flops(seconds=0.0), ValueError, "seconds"),
    (lambda tmp: runtime.measure_matmul_flops("banana"), ValueError, "'banana'"),
    (lambda tmp: runtime.estimate_flops_per_token("gpt", 8), TypeError, "model"),
    (lambda tmp: runtime.estimate_flops_per_token(GPT, 0), ValueError, "block_size"),
    (lambda tmp: runtime.save_checkpoint(_file(tmp, "f.txt", "x") / "ckpt.pt", {}),
     FileExistsError, "f.txt"),
]


class _Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def _evil(tmp: Path) -> Path:
    torch.save({"format": runtime.CHECKPOINT_FORMAT, "x": _Evil()}, tmp / "evil.pt")
    return tmp / "evil.pt"


def _truncated(tmp: Path) -> Path:
    full = runtime.save_checkpoint(tmp / "full.pt", {"format": runtime.CHECKPOINT_FORMAT,
                                                     "w": torch.randn(1000)})
    return _file(tmp, "half.pt", full.read_bytes()[: full.stat().st_size // 2])


def _foreign(tmp: Path) -> Path:
    torch.save({"weights": torch.zeros(2)}, tmp / "foreign.pt")
    return tmp / "foreign.pt"


TABLES = {
    "utils": UTILS, "data": DATA, "tokenizers": TOKENIZERS, "embeddings": EMBEDDINGS,
    "rnn": RNN, "attention": ATTENTION, "transformer": TRANSFORMER, "optim": OPTIM,
    "metrics": METRICS, "generation": GENERATION, "training": TRAINING, "runtime": RUNTIME,
}
ROWS = [pytest.param(call, err, text, id=f"{module}-{i}")
        for module, table in TABLES.items() for i, (call, err, text) in enumerate(table)]


@pytest.mark.parametrize("call, err, text", ROWS)
def test_every_table_row_fails_for_its_reason(call, err, text, tmp_path):
    with pytest.raises(err) as info:
        call(tmp_path)
    assert type(info.value) is err or err is OSError, f"{type(info.value)} is not {err}"
    assert text in str(info.value), f"{text!r} not in {str(info.value)!r}"


def test_table_sizes():
    sizes = {module: len(table) for module, table in TABLES.items()}
    assert all(n >= 10 for n in sizes.values()), sizes
    assert sum(sizes.values()) >= 230, sizes


# ----------------------------------------------------------------------------- silent no more
# What used to be accepted and give a wrong result now either errors (above) or is right.


def test_a_single_stop_string_is_one_stop_sequence():
    """``stop="ab"`` once meant "stop at a or at b"; it is now the string "ab"."""
    torch.manual_seed(0)
    tok = tokenizers.CharTokenizer().train("abc")
    model = transformer.GPT(transformer.GPTConfig(vocab_size=3, block_size=16, n_layer=1,
                                                  n_head=1, n_embd=8))
    outs = [generation.generate_text(model, tok, "c", 12, greedy=True, stop=s)
            for s in ("ab", ["ab"], ["a", "b"])]
    assert outs[0] == outs[1]
    full = generation.generate_text(model, tok, "c", 12, greedy=True)
    cont = full[1:]
    assert outs[0] == "c" + (cont[:cont.index("ab")] if "ab" in cont else cont)
    first = min((cont.index(ch) for ch in "ab" if ch in cont), default=len(cont))
    assert outs[2] == "c" + cont[:first]


def test_word_tokenizer_min_count_keeping_some_words_still_works():
    tok = tokenizers.WordTokenizer().train("a a b", min_count=2)
    assert tok.words == ["<unk>", "a"] and tok.encode("a b") == [1, 0]


def test_bpe_special_tokens_get_distinct_ids_below_vocab_size(tmp_path):
    tok = tokenizers.BPETokenizer().train("abab abab", 262, special_tokens=["<s>", "</s>"])
    ids = sorted(tok.special_tokens.values())
    assert ids == [tok.vocab_size - 2, tok.vocab_size - 1]
    again = tokenizers.Tokenizer.load(tok.save(tmp_path / "t.json"))
    assert again.special_tokens == tok.special_tokens


def test_a_float_mask_is_still_an_additive_bias():
    q = torch.randn(1, 2, 4)
    bias = torch.tensor([[0.0, -math.inf], [0.0, 0.0]])
    out, w = attention.scaled_dot_product_attention(q, q, q, bias)
    out_b, w_b = attention.scaled_dot_product_attention(q, q, q, bias == 0)
    torch.testing.assert_close(w, w_b)
    torch.testing.assert_close(out, out_b)
    assert w[0, 0, 1] == 0


def test_content_length_garbage_is_treated_as_unknown(tmp_path, monkeypatch):
    payload = b"hello course"

    class Response:
        headers = {"Content-Length": "12abc"}

        def __init__(self):
            self._chunks = [payload, b""]

        def read(self, n):
            return self._chunks.pop(0)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    import hashlib

    monkeypatch.setattr(data.urllib.request, "urlopen", lambda url, timeout: Response())
    path = data.download("tinyshakespeare", url="http://example.invalid/x",
                         sha256=hashlib.sha256(payload).hexdigest(), directory=tmp_path,
                         progress=False)
    assert path.read_bytes() == payload


def test_a_damaged_cached_download_is_not_called_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("LM_COURSE_DATA", str(tmp_path))
    (tmp_path / "tinyshakespeare.txt").write_text("not the real file")
    with pytest.raises(ValueError, match="tinyshakespeare.txt of dataset 'tinyshakespeare' "
                                         "is damaged"):
        data.load_text("tinyshakespeare")
    (tmp_path / "tinyshakespeare.txt").unlink()
    with pytest.raises(FileNotFoundError, match="not downloaded yet"):
        data.load_text("tinyshakespeare")


def test_damaged_tokenizer_file_keeps_the_file_untouched(tmp_path):
    path = _file(tmp_path, "t.json", json.dumps({"kind": "bpe", "merges": [[1, 999]]}))
    before = path.read_bytes()
    with pytest.raises(ValueError, match="t.json"):
        tokenizers.Tokenizer.load(path)
    assert path.read_bytes() == before
