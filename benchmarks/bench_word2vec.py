"""Skip-gram with negative sampling: lm_course.embeddings vs gensim's Word2Vec, same settings.

Same corpus, vocabulary threshold, dimensions, window, noise words, subsampling, learning
rates and epochs; both with two threads (gensim: ``workers=2``; ours: ``workers=2``, two
Hogwild threads each running single-threaded PyTorch ops). The runs are interleaved, so both
see the same machine load. Words/s counts raw corpus words x epochs over the
whole fit (vocabulary + training), as gensim's log does; quality is WordSim-353 Spearman ρ
(plus SimLex-999 and analogy accuracy), one seed per repeat.

    python benchmarks/bench_word2vec.py                    # the embedded Wikipedia sample
    python benchmarks/bench_word2vec.py --corpus lee --epochs 10 --repeats 5
    python benchmarks/bench_word2vec.py --data FILE        # any plain-text file

Target (issue 3): ours >= 0.5x gensim's words/s, with ρ within 0.05 of gensim's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from lm_course.data import load_analogies, load_sentences, load_word_pairs, simple_words
from lm_course.embeddings import (
    Word2VecConfig,
    WordVectors,
    evaluate_analogies,
    evaluate_word_pairs,
    train_word2vec,
)


def gensim_run(sentences, cfg: Word2VecConfig, threads: int) -> tuple[float, WordVectors]:
    from gensim.models import Word2Vec

    start = time.perf_counter()
    model = Word2Vec(sentences, sg=1, hs=0, vector_size=cfg.dim, window=cfg.window,
                     negative=cfg.negatives, ns_exponent=cfg.ns_power, min_count=cfg.min_count,
                     sample=cfg.sample, epochs=cfg.epochs, alpha=cfg.lr, min_alpha=cfg.min_lr,
                     workers=threads, seed=cfg.seed)
    seconds = time.perf_counter() - start
    return seconds, WordVectors(model.wv.vectors, model.wv.index_to_key)


def ours_run(sentences, cfg: Word2VecConfig, workers: int) -> tuple[float, WordVectors]:
    result = train_word2vec(sentences, Word2VecConfig(**{**cfg.__dict__, "workers": workers}),
                            progress=False)
    return result.seconds, result.wv


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default="wiki", choices=["lee", "wiki", "text8"])
    ap.add_argument("--data", help="a plain-text file instead (cut into 1,000-word sentences)")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    if args.data:
        with open(args.data, encoding="utf-8") as f:
            words = simple_words(f.read())
        sentences = [words[i:i + 1000] for i in range(0, len(words), 1000)]
    else:
        sentences = load_sentences(args.corpus, download=args.corpus == "text8")
    n_words = sum(len(s) for s in sentences)
    wordsim, simlex, analogies = (load_word_pairs("wordsim353"), load_word_pairs("simlex999"),
                                  load_analogies())
    T = args.threads
    runners = {
        "gensim": lambda cfg: gensim_run(sentences, cfg, T),
        f"ours, {T} worker threads": lambda cfg: ours_run(sentences, cfg, T),
    }
    print(f"corpus: {args.data or args.corpus}, {len(sentences):,} sentences, {n_words:,} words; "
          f"skip-gram, dim 100, window 5, 5 noise words, min_count 5, sample 1e-3, "
          f"{args.epochs} epochs, lr 0.025 -> 1e-4, {T} threads each")
    print(f"machine: {os.cpu_count()} CPUs, load average before {os.getloadavg()[0]:.2f}")

    speed = {name: [] for name in runners}
    quality = {name: [] for name in runners}
    for rep in range(args.repeats):
        cfg = Word2VecConfig(epochs=args.epochs, seed=rep)
        names = list(runners)
        for name in names[rep % len(names):] + names[:rep % len(names)]:  # rotate the order
            seconds, wv = runners[name](cfg)
            ws, sl = evaluate_word_pairs(wv, wordsim), evaluate_word_pairs(wv, simlex)
            an = evaluate_analogies(wv, analogies)
            speed[name].append(n_words * args.epochs / seconds)
            quality[name].append((ws.rho, sl.rho, an.accuracy))
            print(f"  repeat {rep}  {name:34s} {seconds:6.1f} s  {speed[name][-1]:>9,.0f} words/s"
                  f"  WordSim ρ {ws.rho:.3f} ({ws.used}/{ws.total})  SimLex ρ {sl.rho:.3f}"
                  f"  analogies {an.accuracy:.1%} of {an.covered:,}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")

    ref_speed = statistics.median(speed["gensim"])
    ref_rho = float(np.mean([q[0] for q in quality["gensim"]]))
    print(f"\n{'':38s} {'words/s (median)':>17s} {'vs gensim':>10s} {'WordSim ρ mean ± sd':>21s}"
          f" {'Δρ':>7s}")
    for name in runners:
        rhos = [q[0] for q in quality[name]]
        med = statistics.median(speed[name])
        sd = statistics.stdev(rhos) if len(rhos) > 1 else 0.0
        print(f"{name:38s} {med:>17,.0f} {med / ref_speed:>9.2f}x "
              f"{np.mean(rhos):>13.3f} ± {sd:.3f} {np.mean(rhos) - ref_rho:>+7.3f}")
    for name in list(runners)[1:]:
        ratio = statistics.median(speed[name]) / ref_speed
        gap = abs(float(np.mean([q[0] for q in quality[name]])) - ref_rho)
        verdict = "meets" if ratio >= 0.5 and gap <= 0.05 else "misses"
        print(f"{name}: {ratio:.2f}x gensim's words/s, |Δρ| = {gap:.3f} -> {verdict} the target "
              f"(>= 0.5x, |Δρ| <= 0.05)")


if __name__ == "__main__":
    main()
