"""Every sentiment model of chapter 08a on both tasks, side by side, over several seeds.

The notebook trains each model once; this script repeats the neural ones over ``--seeds``
(initialisation and batch order), so the spread that comes from the seed can be set against
the spread that comes from the test set (the bootstrap interval). Printed per task and
model: test accuracy (mean and standard deviation over seeds), the 95 % bootstrap interval
of the first seed, F1 of the positive class, and training seconds (mean). The GPT is
pre-trained once per seed on the training texts (language modelling), then fine-tuned.

    python benchmarks/bench_sentiment.py                 # 3 seeds, the notebook's full sizes
    python benchmarks/bench_sentiment.py --seeds 1 --pretrain-steps 50 --epochs-scale 0.5
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression

from lm_course.apps.sentiment import (
    ClassifierTrainConfig,
    EmbeddingEncoder,
    EncoderConfig,
    GPTEncoder,
    LSTMEncoder,
    NaiveBayes,
    SequenceClassifier,
    TransformerEncoder,
    encode_texts,
    lm_stream,
    predict,
    train_classifier,
    vectors_for_vocab,
)
from lm_course.data import load_polarity
from lm_course.embeddings import Word2VecConfig, train_word2vec
from lm_course.metrics import accuracy, bootstrap_ci, precision_recall_f1
from lm_course.tokenizers import WordTokenizer
from lm_course.training import TrainConfig, Trainer
from lm_course.transformer import GPT, GPTConfig
from lm_course.utils import set_seed

MAX_LEN = {"sentences": 64, "reviews": 128}
KEEP = {"sentences": "head", "reviews": "tail"}
EPOCHS = {"sentences": 4, "reviews": 3}


def build(name: str, vocab_size: int, max_len: int, table: torch.Tensor, gpt_cfg: GPTConfig,
          pretrained: dict) -> SequenceClassifier:
    """The notebook's classifier called ``name``, freshly initialised."""
    if name == "averaged word2vec":
        return SequenceClassifier(EmbeddingEncoder(vocab_size, 64, table, freeze=True))
    if name == "LSTM":
        return SequenceClassifier(LSTMEncoder(vocab_size, 64, 64), pool="last", dropout=0.2)
    if name == "Transformer encoder":
        return SequenceClassifier(TransformerEncoder(EncoderConfig(
            vocab_size=vocab_size, max_len=max_len)), dropout=0.1)
    model = GPT(gpt_cfg)
    if name.startswith("GPT pre"):
        model.load_state_dict(pretrained)
    return SequenceClassifier(GPTEncoder(model), dropout=0.1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--pretrain-steps", type=int, default=200)
    ap.add_argument("--epochs-scale", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    data = {kind: load_polarity(kind) for kind in MAX_LEN}
    train_text = [t for d in data.values() for t, _ in d["train"]]
    tok = WordTokenizer().train(" ".join(train_text), min_count=2, max_vocab=5000)
    enc = {}
    for kind, d in data.items():
        for split, rows in d.items():
            ids, mask = encode_texts([t for t, _ in rows], tok, MAX_LEN[kind], keep=KEEP[kind])
            enc[kind, split] = (ids, mask, torch.tensor([y for _, y in rows]))
    words = {(k, s): [WordTokenizer.split(t) for t, _ in rows]
             for k, d in data.items() for s, rows in d.items()}
    results: dict[tuple[str, str], list[tuple[list[int], float]]] = {}

    def add(task: str, model: str, pred, seconds: float) -> None:
        results.setdefault((task, model), []).append(([int(p) for p in pred], seconds))

    for task in data:  # deterministic baselines: once
        y_train = enc[task, "train"][2].tolist()
        t0 = time.perf_counter()
        nb = NaiveBayes().fit(words[task, "train"], y_train)
        add(task, "naive Bayes", nb.predict(words[task, "test"]), time.perf_counter() - t0)
        t0 = time.perf_counter()
        vec = CountVectorizer(analyzer=lambda d: d, binary=True)
        lr = LogisticRegression(C=1.0, max_iter=2000).fit(
            vec.fit_transform(words[task, "train"]), y_train)
        add(task, "logistic regression BoW", lr.predict(vec.transform(words[task, "test"])),
            time.perf_counter() - t0)

    gpt_cfg = GPTConfig(vocab_size=tok.vocab_size, block_size=max(MAX_LEN.values()), n_layer=2,
                        n_head=4, n_embd=64)
    stream = lm_stream(train_text, tok)
    for seed in range(args.seeds):
        w2v = train_word2vec([WordTokenizer.split(t) for t in train_text],
                             Word2VecConfig(dim=64, epochs=1, min_count=2, seed=seed),
                             progress=False)
        table, _ = vectors_for_vocab(tok.words, w2v.wv)
        set_seed(seed)
        gpt = GPT(gpt_cfg)
        Trainer(gpt, stream, None, TrainConfig(
            max_steps=args.pretrain_steps, batch_size=8, block_size=gpt_cfg.block_size,
            lr=3e-3, min_lr=3e-4,
            warmup_steps=min(20, args.pretrain_steps), eval_interval=0, eval_batches=1,
            eval_train=False, progress=False, peak_flops=0, optimizer_impl="torch",
            seed=seed)).fit()
        pretrained = {k: v.clone() for k, v in gpt.state_dict().items()}
        for task in data:
            epochs = max(1, round(EPOCHS[task] * args.epochs_scale))
            cfg = ClassifierTrainConfig(epochs=epochs, batch_size=32, lr=2e-3, seed=seed)

            for name in ("averaged word2vec", "LSTM", "Transformer encoder", "GPT from scratch",
                         "GPT pre-trained + fine-tuned"):
                set_seed(seed)
                clf = build(name, tok.vocab_size, MAX_LEN[task], table, gpt_cfg, pretrained)
                run_cfg = cfg
                if name == "averaged word2vec":
                    run_cfg = ClassifierTrainConfig(epochs=max(1, round(20 * args.epochs_scale)),
                                                    lr=1e-2, seed=seed)
                elif name.startswith("GPT"):  # the notebook's gentler fine-tuning rate
                    run_cfg = ClassifierTrainConfig(epochs=epochs, batch_size=32, lr=1e-3,
                                                    seed=seed)
                hist = train_classifier(clf, enc[task, "train"], enc[task, "validation"],
                                        run_cfg)
                add(task, name, predict(clf, *enc[task, "test"][:2])[0], hist.seconds)
                print(f"seed {seed} {task:9s} {name:28s} done in {hist.seconds:.0f} s",
                      flush=True)

    print(f"\n{'task':9s}  {'model':28s} {'acc mean':>8s} {'sd':>6s} {'95% CI (seed 0)':>16s} "
          f"{'F1':>6s} {'train s':>8s}  seeds")
    for (task, model), runs in results.items():
        y = enc[task, "test"][2].tolist()
        accs = [accuracy(y, p) for p, _ in runs]
        _, low, high = bootstrap_ci(accuracy, y, runs[0][0], n_resamples=1000)
        f1 = statistics.mean(precision_recall_f1(y, p).f1 for p, _ in runs)
        sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
        print(f"{task:9s}  {model:28s} {statistics.mean(accs):8.3f} {sd:6.3f} "
              f"[{low:.3f}, {high:.3f}] {f1:6.3f} {statistics.mean(s for _, s in runs):8.1f}"
              f"  {len(runs)}")


if __name__ == "__main__":
    main()
