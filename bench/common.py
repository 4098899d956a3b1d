"""Helpers shared by the benchmarks: texts of an exact token length, medians, tables,
a dashboard server on a free port, a headless Chromium, a process's memory."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import CHROMIUM, CHROMIUM_ARGS, ROOT, free_port

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


@contextmanager
def serve_dashboard(script: Path = ROOT / "dashboard.py", env: dict[str, str] | None = None
                    ) -> Iterator[tuple[str, subprocess.Popen]]:
    """``streamlit run`` on a free localhost port: yields its URL and its process (whose pid is the server's).

    ``env`` adds environment variables for the server, e.g. ``{"OMP_NUM_THREADS": "1"}``.
    """
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **(env or {})},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the dashboard did not answer /_stcore/health within 60 s") from None
                time.sleep(0.3)
        yield url, proc
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@contextmanager
def chromium():
    """Debian's Chromium, headless, with the flags the browser tests use."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def process_memory_mb(pid: int) -> dict[str, float]:
    """``VmRSS`` (now) and ``VmHWM`` (peak resident) of a process, in MB, from ``/proc/<pid>/status``."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            out[name] = int(value.split()[0]) / 1024  # the kernel reports kB
    return out
