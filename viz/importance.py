"""Head importance: every head's effect on the output as a layers x heads map, each cell clickable.

Streamlit returns selections for scatter points, not heatmap cells, so an invisible marker sits
on every cell: clicking a cell selects its point, whose ``customdata`` is ``(layer, head)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from i18n import _
from viz.heatmaps import heatmap_figure, heatmap_trace, token_axis


def effect_grid(frame: pd.DataFrame, kind: str, column: str = "effect") -> np.ndarray:
    """``[layers, heads]`` of ``column`` for one kind of attention, from rows (kind, layer, head, ...)."""
    rows = frame[frame["kind"] == kind]
    if rows.empty:
        raise ValueError(f"there are no {kind} heads in this table")
    grid = np.full((int(rows["layer"].max()) + 1, int(rows["head"].max()) + 1), np.nan, dtype=np.float32)
    grid[rows["layer"].to_numpy(int), rows["head"].to_numpy(int)] = rows[column].to_numpy(np.float32)
    return grid


def importance_figure(grid: np.ndarray, *, title: str = "", measure: str | None = None,
                      selected: list[tuple[int, int]] | None = None) -> go.Figure:
    """``grid [layers, heads]`` of effects; ``selected`` (layer, head) cells are outlined."""
    g = np.asarray(grid, dtype=np.float32)
    measure = _("effect") if measure is None else measure
    if g.ndim != 2 or g.size == 0:
        raise ValueError(f"head importance is a non-empty [layers, heads] grid, got shape {g.shape}")
    n_layers, n_heads = g.shape
    heads, layers = [f"H{h}" for h in range(n_heads)], [f"L{lay}" for lay in range(n_layers)]
    top = float(np.nanmax(np.abs(g))) if np.isfinite(g).any() else 1.0
    fig = heatmap_figure(
        heatmap_trace(g, x=heads, y=layers, rows=_("layer"), cols=_("head"), value=measure,
                      hovertemplate=f"%{{y}} %{{x}}<br>{measure}: %{{z:.4g}}<extra></extra>",
                      colorscale="RdBu_r", zmid=0.0, zmin=-top, zmax=top or 1.0, colorbar_title=_("effect")),
        title=title, xaxis=token_axis(None, _("head")), yaxis=token_axis(None, _("layer")),
    )
    layer_ix, head_ix = np.meshgrid(np.arange(n_layers), np.arange(n_heads), indexing="ij")
    # the points carry the hover too: a point that skips hover cannot be clicked
    fig.add_trace(go.Scatter(
        x=[heads[h] for h in head_ix.ravel()], y=[layers[lay] for lay in layer_ix.ravel()], mode="markers",
        marker={"size": 24, "opacity": 0.0, "symbol": "square"},
        customdata=np.stack([layer_ix.ravel(), head_ix.ravel(), g.ravel()], axis=1),
        hovertemplate=f"L%{{customdata[0]}} H%{{customdata[1]}}<br>{measure}: %{{customdata[2]:.4g}}<extra></extra>",
        showlegend=False, name="select",
    ))
    fig.update_layout(clickmode="event+select")
    for lay, h in selected or []:
        fig.add_shape(type="rect", x0=h - 0.5, x1=h + 0.5, y0=lay - 0.5, y1=lay + 0.5,
                      line={"color": "black", "width": 2})
    return fig
