"""Handing the memory a forward pass freed back to the operating system (glibc only; elsewhere a no-op).

A 2,048-token SmolLM2 capture allocates and frees a few GB of tensors of 1-150 MB. glibc raises its
mmap threshold to the largest block it has freed (up to 32 MB), so most of those land in its heaps,
where free space between live blocks stays resident: one capture left about 700 MB that nothing used
(RSS 2.0 GB against 1.3 GB after ``malloc_trim``). A fixed threshold keeps blocks of 1 MB and more in
their own mappings, returned on free; a trim after each capture returns what the heaps still hold.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

M_MMAP_THRESHOLD = -3  # mallopt's parameter number (glibc malloc.h)
MMAP_THRESHOLD = 1 << 20  # blocks from 1 MB are mapped alone: a 2,048-token layer's q is 4.7 MB


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


def fix_mmap_threshold(nbytes: int = MMAP_THRESHOLD) -> bool:
    """Map every block of ``nbytes`` or more on its own, for good (this also stops glibc moving it); True if set."""
    libc = _libc()
    return bool(libc is not None and libc.mallopt(M_MMAP_THRESHOLD, nbytes))


def release_freed() -> bool:
    """Return the free memory of every glibc heap to the operating system; True if any was returned."""
    libc = _libc()
    return bool(libc is not None and libc.malloc_trim(0))
