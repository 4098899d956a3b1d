"""ui.memory: blocks of 1 MB and more are mapped on their own, and freed heap memory goes back to the system."""

from __future__ import annotations

import platform
from pathlib import Path

import numpy as np
import pytest

from ui.memory import fix_mmap_threshold, release_freed

glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt and malloc_trim are glibc's")


def resident_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@glibc
def test_freed_blocks_between_live_ones_go_back_after_a_trim():
    assert fix_mmap_threshold()
    blocks = [np.ones(64 * 1024, dtype=np.float32) for _ in range(400)]  # 400 x 256 kB, in the heap
    keep = blocks[-1]  # a live block above the others keeps the heap's top from shrinking by itself
    before = resident_mb()
    del blocks
    freed = resident_mb()
    assert release_freed()
    after = resident_mb()
    assert freed > before - 50  # glibc kept the 100 MB freed below a live block
    assert after < freed - 80  # the trim gave it back
    assert keep.sum() == 64 * 1024


@glibc
def test_large_blocks_are_returned_on_free():
    assert fix_mmap_threshold()
    start = resident_mb()
    block = np.ones(50 * 1024 * 1024 // 4, dtype=np.float32)  # 50 MB: its own mapping
    assert resident_mb() > start + 45
    del block
    assert resident_mb() < start + 5
