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
    """Counts lines done; the rate counts only the lines computed by this run, not those resumed."""

    def __init__(self, total: int, enabled: bool = True) -> None:
        self.total, self.enabled = total, enabled
        self.done = self.fresh = 0
        self.start = self.last = time.perf_counter()
        self.bar = tqdm(total=total, unit="sentence", file=sys.stderr, smoothing=0.1) \
            if enabled and tqdm is not None else None

    def update(self, n: int, fresh: bool = True) -> None:
        self.done += n
        if fresh:
            self.fresh += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.enabled and time.perf_counter() - self.last >= PLAIN_EVERY_S:
            self.last = time.perf_counter()
            self.draw()

    def rate(self) -> float:
        return self.fresh / max(time.perf_counter() - self.start, 1e-9)

    def draw(self) -> None:
        print(f"\r{self.done:,} of {self.total:,} sentences, {self.rate():.1f} sentences/s",
              end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.enabled:
            self.draw()
            print(file=sys.stderr, flush=True)
