"""BPE training speed on 1 MB of text: our incremental trainer vs the textbook recount loop.

The textbook loop (recount every adjacent pair in the whole corpus after every merge, as in
minbpe's BasicTokenizer over pre-split chunks) is what most tutorials write; ours counts
each distinct chunk once, weights it by frequency and updates only the pairs a merge touches.
Both learn identical merges (checked here and in tests/test_tokenizers.py).

    python benchmarks/bench_bpe.py                 # 1 MB of the embedded Wikipedia sample
    python benchmarks/bench_bpe.py --data FILE --mb 1 --vocab 512 1024
"""

from __future__ import annotations

import argparse
import statistics
import time

from lm_course.data import load_text
from lm_course.tokenizers import BPETokenizer, textbook_bpe_merges


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="a UTF-8 text file (default: the embedded Wikipedia sample)")
    ap.add_argument("--mb", type=float, default=1.0, help="megabytes of text to train on")
    ap.add_argument("--vocab", type=int, nargs="+", default=[512, 1024])
    ap.add_argument("--compare-merges", type=int, default=10,
                    help="merges for the side-by-side ratio (the textbook loop is slow)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    n_bytes = int(args.mb * 1_000_000)
    if args.data:
        with open(args.data, encoding="utf-8") as f:
            text = f.read()[:n_bytes]
    else:
        text = load_text("wiki", max_chars=n_bytes)
    print(f"text: {len(text.encode()):,} bytes, {len(text):,} characters")

    k = args.compare_merges
    ours_t, book_t = [], []
    for _ in range(args.repeats):  # interleaved, so both see the same machine load
        t = time.perf_counter()
        ours = BPETokenizer().train(text, vocab_size=256 + k).merges
        ours_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        book = textbook_bpe_merges(text, k)
        book_t.append(time.perf_counter() - t)
        assert ours == book, "the two trainers disagree"
    o, b = statistics.median(ours_t), statistics.median(book_t)
    print(f"{k} merges, median of {args.repeats}: ours {o:.2f} s, textbook {b:.2f} s "
          f"-> ours is {b / o:.1f}x faster (identical merges)")

    for vocab in args.vocab:
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            tok = BPETokenizer().train(text, vocab_size=vocab)
            times.append(time.perf_counter() - t)
        t = time.perf_counter()
        ids = tok.encode(text)
        enc = time.perf_counter() - t
        assert tok.decode(ids) == text
        print(f"vocab {vocab}: train {statistics.median(times):.2f} s (median of {args.repeats}),"
              f" encode {enc:.2f} s ({len(text.encode()) / enc / 1e6:.1f} MB/s), "
              f"{len(text.encode()) / len(ids):.2f} bytes/token")


if __name__ == "__main__":
    main()
