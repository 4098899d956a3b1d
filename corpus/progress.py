"""A progress bar on stderr with sentences per second: tqdm where it is installed, else one plain line."""

from __future__ import annotations

import sys
import time

try:
    from tqdm import tqdm
except ImportError:  # tqdm is optional: a plain line does the same job
    tqdm = None

PLAIN_EVERY_S = 1.0


class Progress:
    """Counts lines done; the rate counts only the lines computed by this run, not those resumed.

    It also keeps when the first computed lines came back and the last did: ``steady_rate`` is the
    rate between the two, without the start-up (loading the model on each worker) that the first wait
    holds, which a longer corpus spreads ever thinner.
    """

    def __init__(self, total: int, enabled: bool = True) -> None:
        self.total, self.enabled = total, enabled
        self.done = self.fresh = 0
        self.start = self.last = time.perf_counter()
        self.computed = self.computed_at_first = 0  # lines the engine computed: all of them, and the first batch
        self.first_at: float | None = None  # when the first computed lines came back
        self.last_at = self.start
        self.bar = tqdm(total=total, unit="sentence", file=sys.stderr, smoothing=0.1) \
            if enabled and tqdm is not None else None

    def update(self, n: int, fresh: bool = True, computed: bool = True) -> None:
        """``n`` more lines done: ``fresh`` by this run (not resumed), ``computed`` by the engine (not
        skipped while planning, which takes no engine time)."""
        self.done += n
        if fresh:
            self.fresh += n
        if fresh and computed and n:
            self.computed += n
            self.last_at = time.perf_counter()
            if self.first_at is None:
                self.first_at, self.computed_at_first = self.last_at, self.computed
        if self.bar is not None:
            self.bar.update(n)
        elif self.enabled and time.perf_counter() - self.last >= PLAIN_EVERY_S:
            self.last = time.perf_counter()
            self.draw()

    def rate(self) -> float:
        return self.fresh / max(time.perf_counter() - self.start, 1e-9)

    def first_wait(self) -> float | None:
        """Seconds until the first computed lines came back; None if none were computed."""
        return None if self.first_at is None else self.first_at - self.start

    def steady_rate(self) -> float | None:
        """Lines per second after the first computed ones came back; None until two batches have."""
        if self.first_at is None or self.last_at <= self.first_at:
            return None
        return (self.computed - self.computed_at_first) / (self.last_at - self.first_at)

    def draw(self) -> None:
        print(f"\r{self.done:,} of {self.total:,} sentences, {self.rate():.1f} sentences/s",
              end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.enabled:
            self.draw()
            print(file=sys.stderr, flush=True)
