"""Attention matrices side by side, on one colour scale, with their difference.

Compared panels share one colour axis (``coloraxis``), so equal colours mean
equal weights across panels. A difference ``B - A`` gets its own diverging
colour axis centred on 0 (``coloraxis2``, ``cmid=0``): red where B attends
more, blue where it attends less.

The figure is laid out for the width a chart gets in a 1,400 px window (``PLOT_PX``): panel titles
wrap to their panel's width, the gap between panels holds the next panel's row labels, and each axis
labels only as many tokens as fit it (every token stays in the hover).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from i18n import _
from viz.heatmaps import heatmap_height, heatmap_trace, title_style, top_margin, validate_matrix
from viz.labels import axis_ticks, escape

PLOT_PX = 860  # plot area across: a 1,400 px window less the sidebar, margins and colour bars
TITLE_FONT, TICK_FONT = 13, 11
TITLE_CHAR_PX, TICK_CHAR_PX = 7.0, 6.2  # an average character of those fonts
ANGLED_TICK_PX = 15  # along the axis, what one label tilted by 60 degrees needs to clear the next
ROW_TICK_PX = 15  # one row label's height with room to the next
LINE_PX = 17  # one more line of a wrapped panel title
MIN_GAP_PX = 24  # between panels whose rows are labelled once, on the first
SIN_60 = 0.87  # a key label tilted by 60 degrees reaches down this share of its length


@dataclass(frozen=True)
class Panel:
    """One attention matrix ``[queries, keys]`` with its tokens and a title."""

    weights: np.ndarray
    query_tokens: list[str]
    key_tokens: list[str]
    title: str


def _trace(z: np.ndarray, q_tokens: list[str], k_tokens: list[str], coloraxis: str, what: str) -> go.Heatmap:
    return heatmap_trace(z, q_tokens, k_tokens, value=what, coloraxis=coloraxis)


def wrap(title: str, width_px: float) -> str:
    """``title`` escaped and broken into lines (``<br>``) that fit ``width_px``."""
    chars = max(8, int(width_px // TITLE_CHAR_PX))
    return "<br>".join(escape(line) for line in textwrap.wrap(title, chars, break_on_hyphens=False) or [""])


def spaced_ticks(tokens: list[str], max_ticks: int) -> dict:
    """``axis_ticks`` of at most ``max_ticks`` labels, none crowding the last one it always keeps."""
    ticks = axis_ticks(tokens, max_ticks)
    vals, text = list(ticks["tickvals"]), list(ticks["ticktext"])
    if len(vals) < len(tokens) and len(vals) > 2:
        step = -(-len(tokens) // max_ticks)
        before = int(vals[-2].split(" ", 1)[0])  # position labels read "<position> <token>"
        if len(tokens) - 1 - before < step:
            del vals[-2], text[-2]
    return {**ticks, "tickvals": vals, "ticktext": text}


def tick_room(tokens: list[str], max_ticks: int) -> float:
    """Pixels the longest of an axis's tick labels takes along itself."""
    return max((len(t) for t in spaced_ticks(tokens, max_ticks)["ticktext"]), default=1) * TICK_CHAR_PX


def compare_figure(panels: list[Panel], *, difference: bool = True, colorscale: str = "Blues",
                   title: str = "") -> go.Figure:
    """Panels side by side on one colour scale; with ``difference`` a last panel shows
    ``panels[1] - panels[0]`` (which must have one shape) on a diverging scale centred on 0."""
    if not panels:
        raise ValueError("nothing to compare")
    mats = [validate_matrix(p.weights, p.query_tokens, p.key_tokens) for p in panels]
    if difference and (len(mats) < 2 or mats[0].shape != mats[1].shape):
        raise ValueError("a difference needs the first two matrices of one shape")
    titles = [p.title for p in panels] + ([_("difference: {b} - {a}").format(b=panels[1].title, a=panels[0].title)]
                                          if difference else [])
    drawn = panels + ([panels[0]] if difference else [])  # the difference is drawn on A's tokens
    n = len(titles)
    height = heatmap_height(max(len(p.query_tokens) for p in panels))
    max_rows = max(2, int((height - 200) // ROW_TICK_PX))
    # rows labelled once when every panel has the first one's query tokens; else each panel's labels sit in the
    # gap before it, which must hold the longest of them
    rows_once = all(p.query_tokens == panels[0].query_tokens for p in drawn)
    gap_px = MIN_GAP_PX if rows_once else max(tick_room(p.query_tokens, max_rows) for p in drawn[1:]) + 20
    spacing = min(0.2, gap_px / PLOT_PX) if n > 1 else 0.0
    panel_px = PLOT_PX * (1 - spacing * (n - 1)) / n
    max_cols = max(2, int(panel_px // ANGLED_TICK_PX))
    wrapped = [wrap(t, panel_px) for t in titles]
    lines = max(w.count("<br>") + 1 for w in wrapped)

    fig = make_subplots(rows=1, cols=n, subplot_titles=wrapped, horizontal_spacing=spacing)
    fig.update_annotations(font={"size": TITLE_FONT})
    for i, (p, z) in enumerate(zip(panels, mats, strict=True)):
        fig.add_trace(_trace(z, p.query_tokens, p.key_tokens, "coloraxis", _("weight")), row=1, col=i + 1)
    if difference:
        diff = mats[1] - mats[0]
        fig.add_trace(_trace(diff, panels[0].query_tokens, panels[0].key_tokens, "coloraxis2", _("change")),
                      row=1, col=n)
    for i, p in enumerate(drawn):
        fig.update_xaxes(side="bottom", tickangle=-60, tickfont={"size": TICK_FONT},
                         **spaced_ticks(list(p.key_tokens), max_cols), row=1, col=i + 1)
        labelled = i == 0 or not rows_once
        fig.update_yaxes(autorange="reversed", tickfont={"size": TICK_FONT}, showticklabels=labelled,
                         ticks="outside" if labelled else "", **spaced_ticks(list(p.query_tokens), max_rows),
                         row=1, col=i + 1)
    cmax = max(float(z.max()) for z in mats) if any(z.size for z in mats) else 1.0
    bar = {"title": {"text": _("weight")}, "x": 1.0}
    fig.update_layout(
        coloraxis={"colorscale": colorscale, "cmin": 0.0, "cmax": cmax or 1.0,
                   "colorbar": {**bar, "len": 0.45, "y": 0.75} if difference else bar},
        title=title_style(title),
        height=height + LINE_PX * (lines - 1),
        margin={"l": max(70, int(tick_room(panels[0].query_tokens, max_rows)) + 16), "r": 20,
                "t": top_margin(title, subplot_titles=True) + LINE_PX * (lines - 1),
                "b": int(max(tick_room(p.key_tokens, max_cols) for p in drawn) * SIN_60) + 30},
    )
    if difference:
        fig.update_layout(coloraxis2={
            "colorscale": "RdBu", "reversescale": True, "cmid": 0.0,
            "colorbar": {"title": {"text": "B - A"}, "x": 1.0, "len": 0.45, "y": 0.22},
        })
    return fig
