"""Attention matrices side by side, on one colour scale, with their difference.

Compared panels share one colour axis (``coloraxis``), so equal colours mean
equal weights across panels. A difference ``B - A`` gets its own diverging
colour axis centred on 0 (``coloraxis2``, ``cmid=0``): red where B attends
more, blue where it attends less.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from viz.heatmaps import heatmap_height, heatmap_trace, title_style, token_axis, top_margin, validate_matrix
from viz.labels import escape


@dataclass(frozen=True)
class Panel:
    """One attention matrix ``[queries, keys]`` with its tokens and a title."""

    weights: np.ndarray
    query_tokens: list[str]
    key_tokens: list[str]
    title: str


def _trace(z: np.ndarray, q_tokens: list[str], k_tokens: list[str], coloraxis: str, what: str) -> go.Heatmap:
    return heatmap_trace(z, q_tokens, k_tokens, value=what, coloraxis=coloraxis)


def compare_figure(panels: list[Panel], *, difference: bool = True, colorscale: str = "Blues",
                   title: str = "") -> go.Figure:
    """Panels side by side on one colour scale; with ``difference`` a last panel shows
    ``panels[1] - panels[0]`` (which must have one shape) on a diverging scale centred on 0."""
    if not panels:
        raise ValueError("nothing to compare")
    mats = [validate_matrix(p.weights, p.query_tokens, p.key_tokens) for p in panels]
    if difference and (len(mats) < 2 or mats[0].shape != mats[1].shape):
        raise ValueError("a difference needs the first two matrices of one shape")
    titles = [escape(p.title) for p in panels]
    if difference:
        titles.append(escape(f"difference: {panels[1].title} - {panels[0].title}"))
    fig = make_subplots(rows=1, cols=len(titles), subplot_titles=titles, horizontal_spacing=0.06)
    for i, (p, z) in enumerate(zip(panels, mats, strict=True)):
        fig.add_trace(_trace(z, p.query_tokens, p.key_tokens, "coloraxis", "weight"), row=1, col=i + 1)
    if difference:
        diff = mats[1] - mats[0]
        fig.add_trace(_trace(diff, panels[0].query_tokens, panels[0].key_tokens, "coloraxis2", "change"),
                      row=1, col=len(titles))
    for i, p in enumerate(panels + ([panels[0]] if difference else [])):
        fig.update_xaxes(token_axis(p.key_tokens, side="bottom", tickangle=-60), row=1, col=i + 1)
        fig.update_yaxes(token_axis(p.query_tokens, autorange="reversed"), row=1, col=i + 1)
    cmax = max(float(z.max()) for z in mats) if any(z.size for z in mats) else 1.0
    bar = {"title": {"text": "weight"}, "x": 1.0}
    fig.update_layout(
        coloraxis={"colorscale": colorscale, "cmin": 0.0, "cmax": cmax or 1.0,
                   "colorbar": {**bar, "len": 0.45, "y": 0.75} if difference else bar},
        title=title_style(title),
        height=heatmap_height(max(len(p.query_tokens) for p in panels)),
        margin={"l": 70, "r": 20, "t": top_margin(title, subplot_titles=True), "b": 80},
    )
    if difference:
        fig.update_layout(coloraxis2={
            "colorscale": "RdBu", "reversescale": True, "cmid": 0.0,
            "colorbar": {"title": {"text": "B - A"}, "x": 1.0, "len": 0.45, "y": 0.22},
        })
    return fig
