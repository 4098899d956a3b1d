"""Helpers shared by the benchmarks: texts of an exact token length, medians, tables and
a process's memory (the server and browser come from tests/live_server.py)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

WORDS = ("the quick brown fox jumps over the lazy dog while a small bird sings in the old tree "
         "near the river bank and children play with a red ball").split()


def text_of_tokens(codec, n_tokens: int, variant: int = 0) -> str:
    """A sentence that the codec turns into exactly ``n_tokens`` tokens, [CLS] and [SEP] included.

    Each ``variant`` gives a different text of the same length (it starts with the
    number), so a benchmark can defeat the dashboard's caches on purpose.
    """
    words: list[str] = [str(variant)] if variant else []
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


def interleaved_medians(fns: list[Callable[[], object]], repeats: int = 9, warmup: int = 2) -> list[float]:
    """Median wall time (s) of each of ``fns``, timed in turns so that drift hits all of them alike."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, out in zip(fns, times, strict=True):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def process_memory_mb(pid: int) -> dict[str, float]:
    """``VmRSS`` (now) and ``VmHWM`` (peak resident) of a process, in MB, from ``/proc/<pid>/status``."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            out[name] = int(value.split()[0]) / 1024  # the kernel reports kB
    return out
