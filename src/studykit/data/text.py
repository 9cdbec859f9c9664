"""Turning reviews into fixed-length rows of word ids: lower-case word tokens, a frequency vocabulary,
padding and truncation at the front (as Keras' `pad_sequences`, which the studies used)."""

import re
from collections import Counter
from collections.abc import Iterable

import numpy as np

PAD, UNKNOWN = "<pad>", "<unk>"
RESERVED = [PAD, UNKNOWN]  # ids 0 and 1
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_LINE_BREAK = re.compile(r"<br\s*/?>")


def tokenize(text: str) -> list[str]:
    return _WORD.findall(_LINE_BREAK.sub(" ", text.lower()))


def build_vocabulary(token_lists: Iterable[list[str]], size: int) -> list[str]:
    """The reserved tokens, then the `size - 2` most frequent words (ties: first seen first)."""
    counts = Counter()
    for tokens in token_lists:
        counts.update(tokens)
    return RESERVED + [word for word, _ in counts.most_common(size - len(RESERVED))]


def encode(token_lists: Iterable[list[str]], vocabulary: list[str], max_len: int) -> np.ndarray:
    """`(N, max_len)` ids; words outside the vocabulary become `<unk>`, short texts are padded in front,
    long ones keep their last `max_len` words."""
    ids = {word: index for index, word in enumerate(vocabulary)}
    unknown = ids[UNKNOWN]
    rows = []
    for tokens in token_lists:
        row = np.zeros(max_len, dtype=np.int32)
        kept = [ids.get(word, unknown) for word in tokens[-max_len:]]
        if kept:
            row[-len(kept) :] = kept
        rows.append(row)
    return np.stack(rows) if rows else np.zeros((0, max_len), dtype=np.int32)
