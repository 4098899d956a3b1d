"""Positional encodings as figures: the vectors, their similarity, chosen dimensions, offset profiles.

Positions are numeric coordinates; tokens, when given, are tick text on a
category axis of unique ``position_labels`` so that repeated tokens stay apart.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from viz.labels import axis_ticks, escape, position_labels


def _position_axis(n: int, tokens: list[str] | None) -> tuple[list | np.ndarray, dict]:
    """Coordinates and axis settings: token labels when given, else plain position numbers."""
    if tokens is None:
        return np.arange(n), {"title": {"text": "position"}}
    if len(tokens) != n:
        raise ValueError(f"{len(tokens)} tokens for {n} positions")
    return position_labels(tokens), {"title": {"text": "position"}, **axis_ticks(tokens)}


def positions_heatmap(positions: np.ndarray, tokens: list[str] | None = None, *, title: str = "") -> go.Figure:
    """The positional vectors ``[positions, dims]``: one row per position, one column per dimension."""
    p = np.asarray(positions, dtype=np.float32)
    if p.ndim != 2:
        raise ValueError(f"positional vectors are [positions, dims], got shape {p.shape}")
    y, yaxis = _position_axis(p.shape[0], tokens)
    fig = go.Figure(go.Heatmap(
        z=p, x=np.arange(p.shape[1]), y=y, colorscale="RdBu", zmid=0.0, reversescale=True,
        colorbar={"title": {"text": "value"}},
        hovertemplate="position %{y}<br>dimension %{x}<br>value %{z:.3f}<extra></extra>",
    ))
    fig.update_layout(
        title={"text": escape(title)} if title else None,
        xaxis={"title": {"text": "dimension"}},
        yaxis={**yaxis, "autorange": "reversed"},
        height=max(350, min(800, 14 * p.shape[0] + 150)),
        margin={"l": 80, "r": 20, "t": 60 if title else 30, "b": 40},
    )
    return fig


def similarity_heatmap(sim: np.ndarray, tokens: list[str] | None = None, *, metric: str = "cosine",
                       title: str = "") -> go.Figure:
    """A ``[P, P]`` position-to-position similarity on a diverging scale centred on 0."""
    s = np.asarray(sim, dtype=np.float32)
    if s.ndim != 2 or s.shape[0] != s.shape[1]:
        raise ValueError(f"a similarity matrix is square, got shape {s.shape}")
    axis, ticks = _position_axis(s.shape[0], tokens)
    bounds = {"zmin": -1.0, "zmax": 1.0} if metric == "cosine" else {"zmid": 0.0}
    fig = go.Figure(go.Heatmap(
        z=s, x=axis, y=axis, colorscale="RdBu", reversescale=True, **bounds,
        colorbar={"title": {"text": metric}},
        hovertemplate="position %{y}<br>position %{x}<br>" + metric + " %{z:.3f}<extra></extra>",
    ))
    fig.update_layout(
        title={"text": escape(title)} if title else None,
        xaxis={**ticks, "scaleanchor": "y", "constrain": "domain"},
        yaxis={**ticks, "autorange": "reversed", "constrain": "domain"},
        height=600, margin={"l": 80, "r": 20, "t": 60 if title else 30, "b": 40},
    )
    return fig


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
        title={"text": escape(title)} if title else None,
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
    fig = go.Figure(go.Heatmap(
        z=prof.reshape(L * H, -1), x=offs, y=rows, colorscale=colorscale, zmin=0.0,  # (L*H, offsets)
        colorbar={"title": {"text": "mean weight"}},
        hovertemplate="%{y}<br>offset %{x}<br>mean weight %{z:.3f}<extra></extra>",
    ))
    fig.update_layout(
        title={"text": escape(title)} if title else None,
        xaxis={"title": {"text": "offset (key - query)"}, "dtick": 1 if len(offs) <= 21 else None},
        yaxis={"title": {"text": "head"}, "autorange": "reversed", "type": "category"},
        height=max(350, min(1200, 12 * L * H + 120)),
        margin={"l": 80, "r": 20, "t": 60 if title else 30, "b": 40},
    )
    return fig
