"""Positional encodings as figures: the vectors, their similarity, chosen dimensions, offset profiles.

Heatmaps come from ``viz.heatmaps``' one factory: tokens, when given, are tick text on a category
axis of unique position labels so that repeated tokens stay apart; without tokens (a model's whole
table) the positions are plain numbers.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from viz.heatmaps import heatmap_figure, heatmap_trace, title_style, token_axis


def positions_heatmap(positions: np.ndarray, tokens: list[str] | None = None, *, title: str = "") -> go.Figure:
    """The positional vectors ``[positions, dims]``: one row per position, one column per dimension."""
    p = np.asarray(positions, dtype=np.float32)
    if p.ndim != 2:
        raise ValueError(f"positional vectors are [positions, dims], got shape {p.shape}")
    trace = heatmap_trace(p, tokens, rows="position", cols="dimension", value="value",
                          colorscale="RdBu", zmid=0.0, reversescale=True, colorbar_title="value")
    return heatmap_figure(trace, title=title, xaxis=token_axis(None, "dimension"),
                          yaxis=token_axis(tokens, "position"))


def similarity_heatmap(sim: np.ndarray, tokens: list[str] | None = None, *, metric: str = "cosine",
                       title: str = "") -> go.Figure:
    """A ``[P, P]`` position-to-position similarity on a diverging scale centred on 0."""
    s = np.asarray(sim, dtype=np.float32)
    if s.ndim != 2 or s.shape[0] != s.shape[1]:
        raise ValueError(f"a similarity matrix is square, got shape {s.shape}")
    bounds = {"zmin": -1.0, "zmax": 1.0} if metric == "cosine" else {"zmid": 0.0}
    trace = heatmap_trace(s, tokens, tokens, rows="position", cols="position", value=metric,
                          colorscale="RdBu", reversescale=True, colorbar_title=metric, **bounds)
    return heatmap_figure(trace, title=title,
                          xaxis=token_axis(tokens, scaleanchor="y", constrain="domain"),
                          yaxis=token_axis(tokens, constrain="domain"))


def dimension_curves(positions: np.ndarray, dims: list[int], *, title: str = "") -> go.Figure:
    """Chosen dimensions as curves over position: one line per dimension."""
    p = np.asarray(positions, dtype=np.float32)
    if p.ndim != 2:
        raise ValueError(f"positional vectors are [positions, dims], got shape {p.shape}")
    bad = [d for d in dims if not 0 <= d < p.shape[1]]
    if bad:
        raise ValueError(f"dimensions {bad} are outside 0..{p.shape[1] - 1}")
    x = np.arange(p.shape[0])
    fig = go.Figure([
        go.Scatter(x=x, y=p[:, d], mode="lines", name=f"dim {d}",
                   hovertemplate=f"dim {d}<br>position %{{x}}<br>value %{{y:.3f}}<extra></extra>")
        for d in dims
    ])
    fig.update_layout(
        title=title_style(title),
        xaxis={"title": {"text": "position"}}, yaxis={"title": {"text": "value"}},
        height=350, margin={"l": 60, "r": 20, "t": 60 if title else 30, "b": 40},
    )
    return fig


def offset_profile_heatmap(offsets: np.ndarray, profile: np.ndarray, *, title: str = "",
                           colorscale: str = "Blues") -> go.Figure:
    """Mean attention by relative offset ``key - query`` for every head: ``profile [L, H, offsets]``.

    One row per head (``L2 H5``), one column per offset: a previous-token head
    lights up at -1, a self head at 0, a next-token head at +1.
    """
    prof = np.asarray(profile, dtype=np.float32)
    offs = np.asarray(offsets)
    if prof.ndim != 3 or prof.shape[-1] != offs.shape[0]:
        raise ValueError(f"profile {prof.shape} does not match {offs.shape[0]} offsets")
    L, H, _ = prof.shape
    rows = [f"L{layer} H{head}" for layer in range(L) for head in range(H)]
    trace = heatmap_trace(prof.reshape(L * H, -1), rows="head", cols="offset", value="mean weight", x=offs, y=rows,
                          colorscale=colorscale, zmin=0.0, colorbar_title="mean weight")  # (L*H, offsets)
    return heatmap_figure(trace, title=title,
                          xaxis=token_axis(None, "offset (key - query)", dtick=1 if len(offs) <= 21 else None),
                          yaxis=token_axis(None, "head", type="category"))
