"""Named entities on WNUT-16 tweets: every system of chapter 08b side by side, in one run.

Trains the BiLSTM and the Transformer tagger with the chapter's full-mode settings, runs the
two baselines (all-O, memorising), decodes each tagger by argmax and by constrained Viterbi,
and prints one table: span F1 (micro) with a 95 % bootstrap interval over test tweets,
strict-mode F1, token accuracy, invalid BIO outputs, training seconds and parameters. The
published reference (WNUT-16 official test set, a different and harder test set) is printed
under it.

    python benchmarks/bench_ner.py
    python benchmarks/bench_ner.py --epochs-scale 0.5 --resamples 200   # faster
"""

from __future__ import annotations

import argparse
import time

import torch

from lm_course.apps.ner import (
    Featurizer,
    MemorisingTagger,
    Tagger,
    TaggerConfig,
    TagTrainConfig,
    all_o_tagger,
    compare_systems,
    format_results,
    predict,
    train_tagger,
)
from lm_course.data import load_wnut16
from lm_course.metrics import bio_spans
from lm_course.utils import count_parameters, set_seed

PUBLISHED = ("WNUT-16 shared task, official test set (3,856 tweets of a later period): best "
             "system CambridgeLTL (Limsopatham & Collier, 2016) F1 = 52.41")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs-scale", type=float, default=1.0,
                        help="multiply the chapter's epoch counts (default 1)")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    data = load_wnut16()
    train, val, test = data["train"], data["validation"], data["test"]
    types = sorted({s[0] for _, tags in train for s in bio_spans(tags)})
    feat = Featurizer(train, types, min_count=2)
    words, gold = [w for w, _ in test], [t for _, t in test]
    print(f"train {len(train)} / validation {len(val)} / test {len(test)} tweets, "
          f"{len(types)} types, {args.threads} thread(s)")

    systems = {"all-O": all_o_tagger(words), "memorising": MemorisingTagger(train).predict(words)}
    settings = {  # the notebook's full-mode settings
        "BiLSTM": (dict(encoder="bilstm"), 12, 1e-2),
        "Transformer": (dict(encoder="transformer", n_layer=2), 15, 2e-3),
    }
    extra = {}
    for name, (arch, epochs, lr) in settings.items():
        set_seed(0)
        model = Tagger(TaggerConfig(len(feat.words), len(feat.chars), len(feat.tags),
                                    hidden=64, word_dim=64, dropout=0.2, **arch))
        start = time.perf_counter()
        cfg = TagTrainConfig(epochs=max(1, round(epochs * args.epochs_scale)), batch_size=16,
                             lr=lr)
        train_tagger(model, feat, train, val, cfg)
        seconds = time.perf_counter() - start
        extra[name] = {"train s": f"{seconds:.0f}", "params": f"{count_parameters(model):,}"}
        for decode in ("argmax", "viterbi"):
            systems[f"{name} ({decode})"] = predict(model, feat, words, decode=decode)
        print(f"trained {name} in {seconds:.0f} s", flush=True)

    rows = compare_systems(gold, systems, n_resamples=args.resamples, seed=0)
    print()
    print(format_results(rows, extra))
    print()
    print(PUBLISHED + "; our test set is a slice of the official training split, so the "
          "comparison is indirect.")


if __name__ == "__main__":
    main()
