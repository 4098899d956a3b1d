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
def hooked(modules: dict[str, nn.Module], fn: Callable[[str, torch.Tensor], torch.Tensor | None]) -> Iterator[None]:
    """Call ``fn(name, output)`` for each named module's output, in this thread only, inside the block.

    ``fn`` may return a tensor to replace the output (an ablation) or None to leave it.
    """
    owner = threading.get_ident()
    handles = []

    def make(name: str):
        def hook(module, args, output):
            if threading.get_ident() == owner:
                return fn(name, output)
            return None
        return hook

    try:
        for name, module in modules.items():
            handles.append(module.register_forward_hook(make(name)))
        yield
    finally:
        for h in handles:
            h.remove()


@contextmanager
def pre_hooked(modules: dict[str, nn.Module],
               fn: Callable[[str, torch.Tensor], torch.Tensor | None]) -> Iterator[None]:
    """Call ``fn(name, input)`` on each named module's first input, in this thread only, inside the block.

    ``fn`` may return a tensor to replace that input (a head knocked out at the output projection's
    input) or None to leave it.
    """
    owner = threading.get_ident()
    handles = []

    def make(name: str):
        def hook(module, args):
            if threading.get_ident() == owner:
                new = fn(name, args[0])
                if new is not None:
                    return (new, *args[1:])
            return None
        return hook

    try:
        for name, module in modules.items():
            handles.append(module.register_forward_pre_hook(make(name)))
        yield
    finally:
        for h in handles:
            h.remove()
