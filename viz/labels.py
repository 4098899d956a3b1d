"""Token labels that are safe to put in Plotly text and readable when there are many."""

from __future__ import annotations

import html

# Beyond this many ticks on an axis the browser spends seconds laying out labels
# that overlap anyway; label a readable subset and keep every token in the hover.
MAX_TICKS = 64


def escape(token: str) -> str:
    """Plotly renders a subset of HTML in labels; show tokens as the text they are."""
    return html.escape(token, quote=False)


def position_labels(tokens: list[str], first: int = 0) -> list[str]:
    """One unique category per position ("3 the"), so equal tokens never merge into one; ``first`` is the
    position of ``tokens[0]`` in the whole text (a window of it)."""
    return [f"{i} {escape(t)}" for i, t in enumerate(tokens, start=first)]


def tick_positions(n: int, max_ticks: int = MAX_TICKS) -> list[int]:
    """Every position when they fit, else an evenly spaced subset that keeps the last one."""
    if n <= max_ticks:
        return list(range(n))
    step = -(-n // max_ticks)
    ticks = list(range(0, n, step))
    if ticks[-1] != n - 1:
        ticks.append(n - 1)
    return ticks


def axis_ticks(tokens: list[str], max_ticks: int = MAX_TICKS, first: int = 0) -> dict:
    """Plotly axis settings for a category axis of ``position_labels``: the token as tick text."""
    labels = position_labels(tokens, first)
    ticks = tick_positions(len(tokens), max_ticks)
    return {
        "type": "category",
        "tickmode": "array",
        "tickvals": [labels[i] for i in ticks],
        "ticktext": [escape(tokens[i]) for i in ticks],
    }
