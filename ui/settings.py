"""What the sidebar chose: the one object every view's ``render(cap, settings)`` receives."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    model_name: str
    text: str
    hide_special: bool = False  # drop [CLS]/[SEP]-like tokens and renormalise rows
    combine: str = "head"  # "head" (one head), "mean" or "max" over the layer's heads
    colorscale: str = "Blues"
