"""Helpers shared by the benchmarks: texts of an exact token length, medians, tables."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

WORDS = ("the quick brown fox jumps over the lazy dog while a small bird sings in the old tree "
         "near the river bank and children play with a red ball").split()


def text_of_tokens(codec, n_tokens: int) -> str:
    """A sentence that the codec turns into exactly ``n_tokens`` tokens, [CLS] and [SEP] included."""
    words: list[str] = []
    i = 0
    while len(codec.encode(" ".join(words)).ids) < n_tokens:
        words.append(WORDS[i % len(WORDS)])
        i += 1
    text = " ".join(words)
    if len(codec.encode(text).ids) != n_tokens:
        raise RuntimeError(f"could not make a text of exactly {n_tokens} tokens")
    return text


def median_time(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in seconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
