"""The corpus job's progress: the rate counts only lines this run computed, and the steady rate starts
at the first batch back, so a worker's start-up is in the first wait and not in the rate."""

from __future__ import annotations

import pytest

import corpus.progress as progress
from corpus.progress import Progress


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(progress.time, "perf_counter", clock)
    return clock


def test_steady_rate_runs_from_the_first_batch_back_to_the_last(clock):
    bar = Progress(1000, enabled=False)
    clock.now = 101.0
    bar.update(300, fresh=False)  # resumed shards: neither rate counts them
    clock.now = 105.0
    bar.update(64)  # the first batch, after 5 s of start-up
    clock.now = 106.0
    bar.update(7, computed=False)  # lines skipped while planning: no engine time
    clock.now = 107.0
    bar.update(64)
    clock.now = 109.0
    bar.update(32)
    clock.now = 120.0  # writing the summary after the last batch is not engine time either
    assert bar.first_wait() == pytest.approx(5.0)
    assert bar.steady_rate() == pytest.approx((64 + 32) / 4.0)
    assert bar.rate() == pytest.approx((64 + 7 + 64 + 32) / 20.0)
    assert bar.done == 300 + 64 + 7 + 64 + 32


def test_no_steady_rate_until_two_batches_are_back(clock):
    bar = Progress(100, enabled=False)
    assert bar.first_wait() is None and bar.steady_rate() is None
    bar.update(5, computed=False)
    assert bar.first_wait() is None and bar.steady_rate() is None
    clock.now = 103.0
    bar.update(64)
    assert bar.first_wait() == pytest.approx(3.0) and bar.steady_rate() is None
