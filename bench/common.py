"""Helpers shared by the benchmarks: texts of an exact token length, medians, tables and
a process's memory, with its children, now and sampled for the peak (the server and browser come
from tests/live_server.py)."""

from __future__ import annotations

import statistics
import threading
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
    start: list[str] = [str(variant)] if variant else []

    def text(n_words: int) -> str:
        return " ".join(start + [WORDS[i % len(WORDS)] for i in range(n_words)])

    def count(n_words: int) -> int:
        return len(codec.encode(text(n_words)).ids)

    # The fewest words that reach n_tokens, by bisection: adding a word never removes a token, and one
    # encode per step keeps a 2,048-token text to a dozen encodes instead of two thousand.
    high = 1
    while count(high) < n_tokens:
        high *= 2
    low = 0
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if count(mid) < n_tokens else (low, mid)
    if count(high) != n_tokens:
        raise RuntimeError(f"could not make a text of exactly {n_tokens} tokens")
    return text(high)


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
    """Median wall time (s) of each of ``fns``, timed in turns so that drift hits all of them alike.

    Each turn starts one function later than the last: what runs first in a turn follows what freed
    the most memory in the turn before (allocations then come from pages already mapped; at 2,048
    SmolLM2 tokens that made the same forward pass 25% faster), and no function keeps that place.
    """
    for _ in range(warmup):
        for fn in fns:
            fn()
    times: list[list[float]] = [[] for _ in fns]
    for turn in range(repeats):
        for i in (*range(turn % len(fns), len(fns)), *range(turn % len(fns))):
            start = time.perf_counter()
            fns[i]()
            times[i].append(time.perf_counter() - start)
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


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it, read from ``/proc/<pid>/task/*/children``."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            try:
                todo += [int(c) for c in task.read_text().split()]
            except OSError:  # the task ended while we looked
                pass
    return out


def tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its children together, in MB (a child that just ended counts 0)."""
    total = 0.0
    for p in descendants(pid):
        try:
            total += process_memory_mb(p)["VmRSS"]
        except (OSError, KeyError):
            pass
    return total


class PeakSampler:
    """Samples ``tree_rss_mb(pid)`` every ``interval`` seconds in a thread: ``peak`` is the highest seen.

    The kernel's ``VmHWM`` is one process's peak; children's peaks do not add up, so the tree's is sampled.
    """

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid, self.interval = pid, interval
        self.peak = tree_rss_mb(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.peak = max(self.peak, tree_rss_mb(self.pid))
            except OSError:  # the server ended
                return

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
