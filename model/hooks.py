"""``hooked``: forward hooks that live only inside a ``with`` block, and see only their own thread.

The model is shared by every browser session, each in its own thread, so a hook keeps
only what its own thread computes: a second capture running at the same time fires the
same hook points but is ignored here and kept by its own hooks.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn


@contextmanager
def hooked(modules: dict[str, nn.Module], fn: Callable[[str, torch.Tensor], torch.Tensor | None], *,
           on_input: bool = False) -> Iterator[None]:
    """Call ``fn(name, output)`` for each named module's output, in this thread only, inside the block.

    ``fn`` may return a tensor to replace the output (an ablation) or None to leave it. With
    ``on_input``, ``fn`` sees (and may replace) the module's first input instead: a forward pre-hook,
    e.g. on an output projection whose input holds every head's output side by side.
    """
    owner = threading.get_ident()
    handles = []

    def make(name: str):
        def hook(module, args, output=None):
            if threading.get_ident() != owner:
                return None
            if not on_input:
                return fn(name, output)
            new = fn(name, args[0])
            return None if new is None else (new, *args[1:])
        return hook

    try:
        for name, module in modules.items():
            register = module.register_forward_pre_hook if on_input else module.register_forward_hook
            handles.append(register(make(name)))
        yield
    finally:
        for h in handles:
            h.remove()
