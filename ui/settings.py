"""What the sidebar chose: the one object every view's ``render(cap, settings)`` receives."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    model_name: str
    text: str  # what the model reads: the prompt as typed, or wrapped in the model's chat format
    prompt: str = ""  # what the user typed
    max_new_tokens: int = 0  # a decoder continues the text by this many tokens (0: it only reads it)
    chat: bool = False  # the prompt went through the model's chat template
    hide_sink: bool = False  # drop the first token (where sink heads park) and renormalise rows
    hide_special: bool = False  # drop [CLS]/[SEP]-like tokens and renormalise rows
    combine: str = "head"  # "head" (one head), "mean" or "max" over the layer's heads
    colorscale: str = "Blues"
