"""Tokenizers: text <-> integer ids, at three granularities.

* ``CharTokenizer`` - one id per character: tiny vocabulary, long sequences.
* ``WordTokenizer`` - one id per word or punctuation mark, rare words become ``<unk>``:
  short sequences, huge vocabulary, and it cannot spell a word it has not seen.
* ``BPETokenizer`` - byte-level byte-pair encoding (as in GPT-2): starts from the 256 byte
  values, so *any* Unicode text is encodable, then learns merges of frequent adjacent pairs.

All three share ``train(...)`` (returns self), ``encode``, ``decode``, ``vocab_size`` and
``save``/``load`` to plain JSON (no pickle: a tokenizer file can be read and trusted).

>>> tok = BPETokenizer().train("aaabdaaabac", vocab_size=259, pattern=None)
>>> [tok.decode([i]) for i in range(256, 259)]
['aa', 'ab', 'aaab']
>>> tok.encode("aaabdaaabac")
[258, 100, 258, 97, 99]
"""

from __future__ import annotations

import heapq
import json
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import regex

from lm_course.utils import check_int, write_text_atomic

# GPT-2's pre-tokenisation: contractions, letter runs, digit runs, punctuation runs and
# whitespace, each optionally led by one space. Merges never cross these chunk borders.
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


def _check_text(name: str, text: object) -> str:
    if not isinstance(text, str):
        raise TypeError(f"{name} must be str, got {type(text).__name__}")
    return text


def _check_ids(ids: object, vocab_size: int) -> list[int]:
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable):
        raise TypeError(f"ids must be a sequence of ints, got {type(ids).__name__}")
    out = []
    for i in ids:
        if hasattr(i, "item"):  # numpy / torch scalars
            i = i.item()
        if isinstance(i, bool) or not isinstance(i, int):
            raise TypeError(f"ids must contain ints, got {type(i).__name__} {i!r}")
        if not 0 <= i < vocab_size:
            raise ValueError(f"id {i} is not in the vocabulary (ids must be in [0, {vocab_size}))")
        out.append(i)
    return out


def _check_specials(special_tokens: object) -> list[str]:
    """A list of distinct, non-empty special-token strings (a lone string is a mistake:
    ``"<s>"`` would become three one-character specials)."""
    if isinstance(special_tokens, (str, bytes)) or not isinstance(special_tokens, Iterable):
        raise TypeError(f"special_tokens must be a list of strings such as ['<s>'], got "
                        f"{type(special_tokens).__name__} {special_tokens!r}")
    specials = list(special_tokens)
    for s in specials:
        if not isinstance(s, str):
            raise TypeError(f"special_tokens must hold strings, got {type(s).__name__} {s!r}")
        if not s:
            raise ValueError(f"special_tokens must hold non-empty strings, got {s!r}")
    repeated = sorted({s for s in specials if specials.count(s) > 1})
    if repeated:
        raise ValueError(f"special_tokens lists {repeated} more than once; each special "
                         f"token needs exactly one id")
    return specials


class Tokenizer:
    """The shared interface; subclasses fill in ``train``, ``encode``, ``decode``."""

    kind = "base"

    def __init__(self) -> None:
        self.special_tokens: dict[str, int] = {}

    @property
    def vocab_size(self) -> int:
        raise NotImplementedError

    def _state(self) -> dict:
        raise NotImplementedError

    def _set_state(self, state: dict) -> None:
        raise NotImplementedError

    def __len__(self) -> int:
        return self.vocab_size

    def save(self, path: str | os.PathLike) -> Path:
        """Write the tokenizer as JSON, atomically (a crash never leaves half a file)."""
        path = Path(path)
        payload = {"kind": self.kind, "version": 1, "special_tokens": self.special_tokens,
                   **self._state()}
        return write_text_atomic(path, json.dumps(payload, ensure_ascii=False))

    @classmethod
    def load(cls, path: str | os.PathLike) -> Tokenizer:
        """Read a tokenizer written by ``save``; ``Tokenizer.load`` picks the right class.

        A file that is not one (not JSON, another kind, damaged fields) raises a
        ``ValueError`` that names the file.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no tokenizer file at {path}")
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"{path} is not a tokenizer file (not valid JSON: {err})") from None
        kinds = {c.kind: c for c in (CharTokenizer, WordTokenizer, BPETokenizer)}
        kind = payload.get("kind") if isinstance(payload, dict) else None
        if kind not in kinds:
            raise ValueError(f"{path} is not a tokenizer file (kind={kind!r}; expected one of "
                             f"{sorted(kinds)})")
        target = kinds[kind]
        if cls is not Tokenizer and cls is not target:
            raise ValueError(f"{path} holds a {target.__name__}, not a {cls.__name__}")
        tok = target()
        try:
            specials = payload.get("special_tokens", {})
            tok.special_tokens = {str(k): int(v) for k, v in specials.items()}
            tok._set_state(payload)
            tok._validate()
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as err:
            what = f"missing field {err}" if isinstance(err, KeyError) else str(err)
            raise ValueError(f"{path} is a damaged {kind} tokenizer file ({what}); "
                             f"train and save the tokenizer again") from None
        return tok

    def _validate(self) -> None:
        """Raise ``ValueError`` if the loaded state cannot be a trained tokenizer."""
        ids = sorted(self.special_tokens.values())
        first = self.vocab_size - len(ids)
        if ids != list(range(first, self.vocab_size)):
            raise ValueError(f"special token ids {ids} must be the last {len(ids)} ids "
                             f"of the vocabulary")


# ----------------------------------------------------------------------------- characters


class CharTokenizer(Tokenizer):
    """One id per distinct character seen in training, sorted by code point.

    >>> tok = CharTokenizer().train("hello")
    >>> tok.encode("hell"), tok.decode([3, 2]), tok.vocab_size
    ([1, 0, 2, 2], 'ol', 4)
    """

    kind = "char"

    def __init__(self) -> None:
        super().__init__()
        self.chars: list[str] = []
        self._index: dict[str, int] = {}

    def train(self, text: str) -> CharTokenizer:
        _check_text("text", text)
        if not text:
            raise ValueError("text is empty: a character vocabulary needs at least one character")
        self._set_state({"chars": sorted(set(text))})
        return self

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        _check_text("text", text)
        try:
            return [self._index[c] for c in text]
        except KeyError as err:
            raise ValueError(f"character {err.args[0]!r} was not in the training text; "
                             f"the vocabulary has {self.vocab_size} characters") from None

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self.chars[i] for i in _check_ids(ids, self.vocab_size))

    def _state(self) -> dict:
        return {"chars": self.chars}

    def _set_state(self, state: dict) -> None:
        chars = state["chars"]
        if not isinstance(chars, list) or not all(isinstance(c, str) and len(c) == 1
                                                  for c in chars):
            raise ValueError("chars must be a list of single characters")
        if len(set(chars)) != len(chars):
            raise ValueError("chars holds a character twice")
        self.chars = list(chars)
        self._index = {c: i for i, c in enumerate(self.chars)}


# ----------------------------------------------------------------------------- words

_WORD_SPLIT = re.compile(r"\w+(?:'\w+)?|[^\w\s]")


class WordTokenizer(Tokenizer):
    """Words and punctuation marks; words seen fewer than ``min_count`` times become ``<unk>``.

    Lossy by design: ``decode`` joins tokens with single spaces, and unknown words are gone.

    >>> tok = WordTokenizer().train("the cat sat on the mat . the end", min_count=2)
    >>> tok.decode(tok.encode("the dog sat"))
    'the <unk> <unk>'
    """

    kind = "word"
    UNK = "<unk>"

    def __init__(self) -> None:
        super().__init__()
        self.words: list[str] = []
        self.lowercase = True
        self._index: dict[str, int] = {}

    @staticmethod
    def split(text: str, lowercase: bool = True) -> list[str]:
        """The word/punctuation tokens of ``text`` (before mapping to ids)."""
        _check_text("text", text)
        return _WORD_SPLIT.findall(text.lower() if lowercase else text)

    def train(self, text: str, min_count: int = 1, max_vocab: int | None = None,
              lowercase: bool = True) -> WordTokenizer:
        _check_text("text", text)
        check_int("min_count", min_count, min_value=1)
        if max_vocab is not None:
            check_int("max_vocab", max_vocab, min_value=2)
        counts = Counter(self.split(text, lowercase))
        if not counts:
            raise ValueError("text has no words to build a vocabulary from")
        kept = [w for w, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
                if c >= min_count]
        if not kept:
            raise ValueError(f"min_count={min_count} removes every word (the most frequent "
                             f"word occurs {max(counts.values())} times); lower min_count")
        if max_vocab is not None:
            kept = kept[: max_vocab - 1]
        self._set_state({"words": [self.UNK, *kept], "lowercase": lowercase})
        return self

    @property
    def vocab_size(self) -> int:
        return len(self.words)

    def encode(self, text: str) -> list[int]:
        return [self._index.get(w, 0) for w in self.split(text, self.lowercase)]

    def decode(self, ids: Sequence[int]) -> str:
        return " ".join(self.words[i] for i in _check_ids(ids, self.vocab_size))

    def _state(self) -> dict:
        return {"words": self.words, "lowercase": self.lowercase}

    def _set_state(self, state: dict) -> None:
        words = state["words"]
        if not isinstance(words, list) or not words or words[0] != self.UNK or \
                not all(isinstance(w, str) for w in words) or len(set(words)) != len(words):
            raise ValueError(f"words must be a list of distinct strings starting with {self.UNK}")
        self.words = list(words)
        self.lowercase = bool(state.get("lowercase", True))
        self._index = {w: i for i, w in enumerate(self.words)}


# ----------------------------------------------------------------------------- byte-level BPE


def _merge(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Replace every non-overlapping occurrence of ``pair`` in ``ids``, left to right."""
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def textbook_bpe_merges(text: str, n_merges: int,
                        pattern: str | None = GPT2_PATTERN) -> list[tuple[int, int]]:
    """The merges BPE learns, by the slow, obvious algorithm: recount every pair after every merge.

    A reference for ``BPETokenizer.train`` (same merges, same tie-break) and for the benchmark.

    >>> textbook_bpe_merges("aaabdaaabac", 3, pattern=None)
    [(97, 97), (97, 98), (256, 257)]
    """
    _check_text("text", text)
    check_int("n_merges", n_merges, min_value=0)
    pieces = regex.findall(pattern, text) if pattern else [text]
    chunks = [list(c.encode("utf-8")) for c in pieces]
    merges: list[tuple[int, int]] = []
    for k in range(n_merges):
        counts: Counter[tuple[int, int]] = Counter()
        for c in chunks:
            counts.update(zip(c, c[1:], strict=False))
        if not counts:
            break
        best = min(counts, key=lambda p: (-counts[p], p))  # most frequent, then smallest ids
        if counts[best] < 2:
            break
        merges.append(best)
        chunks = [_merge(c, best, 256 + k) for c in chunks]
    return merges


class BPETokenizer(Tokenizer):
    """Byte-level BPE: ids 0-255 are raw bytes, then one id per learned merge, then specials.

    Training repeats: count adjacent pairs (weighted by how often each chunk occurs), merge
    the most frequent pair everywhere into a new token. Ties go to the pair with the smaller
    ids, so training is deterministic.
    """

    kind = "bpe"

    def __init__(self) -> None:
        super().__init__()
        self.merges: list[tuple[int, int]] = []
        self.pattern: str | None = GPT2_PATTERN
        self._rebuild()

    def _rebuild(self) -> None:
        self._ranks = {pair: i for i, pair in enumerate(self.merges)}
        self._vocab = [bytes([i]) for i in range(256)]
        for a, b in self.merges:
            self._vocab.append(self._vocab[a] + self._vocab[b])
        self._split = regex.compile(self.pattern) if self.pattern else None
        specials = sorted(self.special_tokens, key=len, reverse=True)
        self._special_split = (re.compile("(" + "|".join(map(re.escape, specials)) + ")")
                               if specials else None)
        self._cache: dict[bytes, list[int]] = {}

    @property
    def vocab_size(self) -> int:
        return 256 + len(self.merges) + len(self.special_tokens)

    def _chunks(self, text: str) -> list[str]:
        return self._split.findall(text) if self._split else [text]

    def train(self, text: str, vocab_size: int, special_tokens: Sequence[str] = (),
              pattern: str | None = GPT2_PATTERN, verbose: bool = False) -> BPETokenizer:
        """Learn ``vocab_size - 256 - len(special_tokens)`` merges from ``text``.

        Stops early (with fewer merges) if no pair occurs twice any more.
        """
        _check_text("text", text)
        specials = _check_specials(special_tokens)
        check_int("vocab_size", vocab_size, min_value=256 + len(specials))
        self.pattern, self.merges, self.special_tokens = pattern, [], {}
        self._rebuild()
        # Split at the special tokens exactly as ``encode`` does, and pre-tokenise each piece
        # on its own: no merge is learned across (or inside) a special token, and none from
        # text that is not there (replacing them by a space would invent " y" in "x<s>y").
        longest_first = sorted(specials, key=len, reverse=True)
        parts = re.split("|".join(map(re.escape, longest_first)), text) if specials else [text]

        # unique chunks with their counts: BPE over 30k distinct words, not 1M characters
        chunk_counts = Counter(c for part in parts for c in self._chunks(part) if c)
        words = [list(w.encode("utf-8")) for w in chunk_counts]  # (unique chunks) as byte ids
        freq = list(chunk_counts.values())
        pair_count: Counter[tuple[int, int]] = Counter()
        where: dict[tuple[int, int], set[int]] = {}  # pair -> the words that contain it
        for wi, w in enumerate(words):
            for pair in zip(w, w[1:], strict=False):
                pair_count[pair] += freq[wi]
                where.setdefault(pair, set()).add(wi)
        heap = [(-c, p) for p, c in pair_count.items()]  # max-heap on count, then small ids
        heapq.heapify(heap)

        for new_id in range(256, vocab_size - len(specials)):
            while heap:  # lazy deletion: skip entries whose count is out of date
                neg, pair = heapq.heappop(heap)
                if pair_count.get(pair, 0) == -neg:
                    break
            else:
                break
            if -neg < 2:
                break
            self.merges.append(pair)
            changed: set[tuple[int, int]] = set()
            for wi in where.pop(pair, ()):
                w, f = words[wi], freq[wi]
                for p in zip(w, w[1:], strict=False):  # remove the word's old pairs
                    pair_count[p] -= f
                    changed.add(p)
                new = _merge(w, pair, new_id)
                words[wi] = new
                for p in zip(new, new[1:], strict=False):  # add its new pairs
                    pair_count[p] += f
                    where.setdefault(p, set()).add(wi)
                    changed.add(p)
            for p in changed:
                if pair_count[p] > 0:
                    heapq.heappush(heap, (-pair_count[p], p))
                else:
                    del pair_count[p]
            if verbose:
                print(f"merge {new_id - 255}: {pair} -> {new_id} ({-neg} occurrences)")
        self.special_tokens = {s: 256 + len(self.merges) + i for i, s in enumerate(specials)}
        self._rebuild()
        return self

    def _encode_chunk(self, data: bytes) -> list[int]:
        if data in self._cache:
            return self._cache[data]
        ids = list(data)
        while len(ids) >= 2:  # apply the earliest-learned merge present, as in training
            pair = min(zip(ids, ids[1:], strict=False),
                       key=lambda p: self._ranks.get(p, len(self._ranks)))
            if pair not in self._ranks:
                break
            ids = _merge(ids, pair, 256 + self._ranks[pair])
        if len(self._cache) < 100_000:
            self._cache[data] = ids
        return ids

    def encode(self, text: str, allowed_special: bool = True) -> list[int]:
        """Ids for ``text``; special-token strings map to their ids if ``allowed_special``."""
        _check_text("text", text)
        parts = (self._special_split.split(text) if self._special_split and allowed_special
                 else [text])
        out: list[int] = []
        for part in parts:
            if part in self.special_tokens and allowed_special:
                out.append(self.special_tokens[part])
                continue
            for chunk in self._chunks(part):
                out.extend(self._encode_chunk(chunk.encode("utf-8")))
        return out

    def decode(self, ids: Sequence[int]) -> str:
        """Text for ``ids``; a byte sequence cut mid-character decodes with U+FFFD."""
        inverse = {i: s.encode("utf-8") for s, i in self.special_tokens.items()}
        data = b"".join(inverse[i] if i in inverse else self._vocab[i]
                        for i in _check_ids(ids, self.vocab_size))
        return data.decode("utf-8", errors="replace")

    def token_bytes(self, i: int) -> bytes:
        """The bytes token ``i`` stands for (handy for printing the merge table)."""
        (i,) = _check_ids([i], 256 + len(self.merges))
        return self._vocab[i]

    def _state(self) -> dict:
        return {"merges": [list(p) for p in self.merges], "pattern": self.pattern}

    def _set_state(self, state: dict) -> None:
        merges = [tuple(p) for p in state["merges"]]
        for k, pair in enumerate(merges):  # merge k may only use bytes and earlier merges
            if len(pair) != 2 or not all(isinstance(i, int) and 0 <= i < 256 + k for i in pair):
                raise ValueError(f"merge {k} is {list(pair)}; expected two ids below {256 + k}")
        pattern = state.get("pattern")
        if pattern is not None:
            try:  # a damaged pattern fails here, not at the first encode
                regex.compile(pattern)
            except (regex.error, TypeError) as err:
                raise ValueError(f"pattern {pattern!r} is not a regular expression: {err}"
                                 ) from None
        self.merges, self.pattern = merges, pattern
        self._rebuild()


# ----------------------------------------------------------------------------- word pieces

_WORDPIECE_NAMES = ("WordPieceTokenizer", "basic_tokenize", "wordpiece_split",
                    "load_minilm_tokenizer")


def __getattr__(name: str):
    """BERT's WordPiece lives in :mod:`lm_course.wordpiece`; it is re-exported here lazily
    (that module builds on :class:`Tokenizer`, so a plain import would be circular)."""
    if name in _WORDPIECE_NAMES:
        from lm_course import wordpiece

        return getattr(wordpiece, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
