"""One attention head as a heatmap: queries down, keys across.

Positions are the coordinates and tokens the tick text, so repeated tokens
("the ... the") keep their own rows and columns.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from viz.labels import axis_ticks, escape, position_labels


def validate_matrix(weights: np.ndarray, query_tokens: list[str], key_tokens: list[str]) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float32)
    if w.ndim != 2:
        raise ValueError(f"an attention matrix is 2-D, got shape {w.shape}")
    if w.shape != (len(query_tokens), len(key_tokens)):
        raise ValueError(f"matrix {w.shape} does not match {len(query_tokens)} queries x {len(key_tokens)} keys")
    return w


def attention_heatmap(weights: np.ndarray, query_tokens: list[str], key_tokens: list[str] | None = None, *,
                      title: str = "", colorscale: str = "Blues", zmax: float | None = 1.0,
                      highlight: int | None = None) -> go.Figure:
    """A ``[queries, keys]`` attention matrix with one tick per token.

    ``highlight`` outlines one query's row (what it attends to) and, when queries and keys are the
    same tokens, its column (what attends to it).
    """
    key_tokens = query_tokens if key_tokens is None else key_tokens
    w = validate_matrix(weights, query_tokens, key_tokens)
    nq, nk = w.shape
    fig = go.Figure(go.Heatmap(
        z=w,
        x=position_labels(key_tokens), y=position_labels(query_tokens),
        colorscale=colorscale, zmin=0.0, zmax=zmax,
        colorbar={"title": {"text": "attention"}},
        hovertemplate="query %{y}<br>key %{x}<br>weight %{z:.3f}<extra></extra>",
    ))
    fig.update_layout(
        # the title sits at the very top, above the key ticks, which are drawn on top too
        title={"text": escape(title), "y": 1.0, "yref": "container", "yanchor": "top", "pad": {"t": 10}}
        if title else None,
        xaxis={"title": {"text": "key"}, "side": "top", "tickangle": -60, **axis_ticks(key_tokens)},
        yaxis={"title": {"text": "query"}, "autorange": "reversed", **axis_ticks(query_tokens)},
        margin={"l": 80, "r": 20, "t": 150 if title else 110, "b": 20},
        height=max(400, min(900, 22 * nq + 150)),
    )
    if highlight is not None:
        if not 0 <= highlight < nq:
            raise ValueError(f"highlight {highlight} is out of range: there are {nq} queries")
        shapes = [{"x0": -0.5, "x1": nk - 0.5, "y0": highlight - 0.5, "y1": highlight + 0.5}]
        if list(query_tokens) == list(key_tokens):
            # self-attention: the same token is also a key, its column is what attends to it
            shapes.append({"x0": highlight - 0.5, "x1": highlight + 0.5, "y0": -0.5, "y1": nq - 0.5})
        for shape in shapes:
            fig.add_shape(type="rect", line={"color": "crimson", "width": 2}, **shape)
    return fig
