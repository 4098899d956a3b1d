"""Lines view: queries in a left column, keys in a right one, a line per link weighted by attention.

One colour per head. Plotly gives one opacity per trace, so each head's lines are
grouped into a few opacity levels, one trace per level, segments separated by
``None``: a dozen heads cost at most a hundred traces however many lines they hold.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from i18n import _
from viz.heatmaps import title_style, validate_matrix
from viz.labels import escape

HEAD_COLOURS = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
    "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#ad494a",
]
LEVELS = 8  # opacity steps per head
MIN_WEIGHT = 0.02  # fainter lines are invisible at any opacity a screen shows
MAX_SEGMENTS = 20_000  # beyond this the browser slows and the picture is a blur anyway
X_QUERY, X_KEY = 0.0, 1.0
GAP = 0.03  # lines stop short of the columns, so no line end sits on a label
COMPACT_FROM = 80  # with more tokens, one token's lines show only the keys they reach


def head_colour(head: int) -> str:
    return HEAD_COLOURS[head % len(HEAD_COLOURS)]


def rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha:.2f})"


def link_segments(weights: np.ndarray, token: int | None = None, min_weight: float = MIN_WEIGHT,
                  max_segments: int = MAX_SEGMENTS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The links worth drawing of one ``[queries, keys]`` matrix: (query, key, weight) arrays.

    ``token`` keeps only that query's links. When more than ``max_segments`` remain,
    the strongest are kept.
    """
    w = np.asarray(weights, dtype=np.float32)
    mask = w >= min_weight
    if token is not None:
        row = np.zeros_like(mask)
        row[token] = True
        mask &= row
    q, k = np.nonzero(mask)
    vals = w[q, k]
    if vals.size > max_segments:
        strongest = np.argsort(-vals, kind="stable")[:max_segments]
        q, k, vals = q[strongest], k[strongest], vals[strongest]
    return q, k, vals


def lines_figure(weights: np.ndarray, query_tokens: list[str], key_tokens: list[str] | None = None, *,
                 heads: Sequence[int] | None = None, token: int | None = None, title: str = "",
                 min_weight: float = MIN_WEIGHT, names: Sequence[str] | None = None) -> go.Figure:
    """``weights`` is ``[heads, queries, keys]``; ``heads`` picks which to draw (all by default).

    ``token`` keeps only the lines leaving that query position; in a text of more than
    ``COMPACT_FROM`` tokens the columns then hold only that token and the keys its lines reach.
    ``names`` label the legend, one per row of ``weights`` (``H0``, ``H1``... by default), e.g.
    ``["mean of 12 heads"]`` for a layer's heads combined into one matrix.
    """
    key_tokens = query_tokens if key_tokens is None else key_tokens
    w = np.asarray(weights, dtype=np.float32)
    if w.ndim != 3:
        raise ValueError(f"the lines view takes [heads, queries, keys], got shape {w.shape}")
    for h in range(w.shape[0]):
        validate_matrix(w[h], query_tokens, key_tokens)
    heads = list(range(w.shape[0])) if heads is None else list(heads)
    names = [f"H{h}" for h in range(w.shape[0])] if names is None else list(names)
    if len(names) != w.shape[0]:
        raise ValueError(f"{len(names)} names for {w.shape[0]} heads")
    if any(not 0 <= h < w.shape[0] for h in heads):
        raise ValueError(f"heads {heads} out of range: there are {w.shape[0]}")
    if token is not None and not 0 <= token < len(query_tokens):
        raise ValueError(f"token {token} out of range: there are {len(query_tokens)} queries")

    budget = MAX_SEGMENTS // max(1, len(heads))
    links = {h: link_segments(w[h], token, min_weight, budget) for h in heads}
    n_q, n_k = len(query_tokens), len(key_tokens)
    q_shown, k_shown = np.arange(n_q), np.arange(n_k)
    if token is not None and max(n_q, n_k) > COMPACT_FROM:
        # one token of a long text: its row and the keys it reaches, not a page of unlinked tokens
        q_shown = np.array([token])
        reached = np.unique(np.concatenate([k for _q, k, _w in links.values()] + [np.array([], dtype=np.int64)]))
        k_shown = reached if reached.size else np.array([min(token, n_k - 1)])
    q_y = np.full(n_q, np.nan)  # layout y of each query position (NaN: not shown)
    k_y = np.full(n_k, np.nan)
    k_y[k_shown] = np.arange(k_shown.size)
    q_y[q_shown] = np.arange(q_shown.size) if q_shown.size > 1 else (k_shown.size - 1) / 2

    fig = go.Figure()
    for h in heads:
        # the legend entry: one full-colour sample per head, whatever opacity its lines have
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=escape(names[h]), legendgroup=f"H{h}",
                                 line={"color": head_colour(h), "width": 4}, hoverinfo="skip"))
        q, k, vals = links[h]
        level = np.minimum(LEVELS - 1, (vals * LEVELS).astype(int))  # 0..LEVELS-1
        for lv in range(LEVELS):
            sel = level == lv
            if not sel.any():
                continue
            n = int(sel.sum())
            xs = np.tile([X_QUERY + GAP, X_KEY - GAP, np.nan], n)  # (3n,): start, end, break
            ys = np.column_stack([q_y[q[sel]], k_y[k[sel]], np.full(n, np.nan)]).ravel()  # (3n,)
            fig.add_trace(go.Scatter(
                x=xs, y=ys, mode="lines", hoverinfo="skip",
                line={"color": rgba(head_colour(h), (lv + 1) / LEVELS), "width": 1.5 + lv / 2},
                name=escape(names[h]), legendgroup=f"H{h}", showlegend=False,
            ))
    fig.add_trace(go.Scatter(
        x=np.full(q_shown.size, X_QUERY), y=q_y[q_shown], mode="text", customdata=q_shown,
        text=[escape(query_tokens[i]) for i in q_shown], textposition="middle left",
        textfont={"color": ["crimson" if i == token else "#222" for i in q_shown]}, showlegend=False,
        hovertemplate=_("query %{customdata}: %{text}") + "<extra></extra>",
    ))
    fig.add_trace(go.Scatter(
        x=np.full(k_shown.size, X_KEY), y=k_y[k_shown], mode="text", customdata=k_shown,
        text=[escape(key_tokens[j]) for j in k_shown], textposition="middle right",
        textfont={"color": "#222"}, showlegend=False, hovertemplate=_("key %{customdata}: %{text}") + "<extra></extra>",
    ))
    n = max(q_shown.size, k_shown.size)
    for x, text, anchor in ((X_QUERY, _("query"), "right"), (X_KEY, _("key"), "left")):
        fig.add_annotation(x=x, y=1.0, yref="paper", yanchor="bottom", xanchor=anchor, showarrow=False,
                           text=f"<b>{text}</b>", font={"size": 13})
    fig.update_layout(
        title=title_style(title),
        xaxis={"visible": False, "range": [-0.6, 1.6]},
        yaxis={"visible": False, "autorange": "reversed"},
        legend={"title": {"text": _("heads")}},
        plot_bgcolor="white",
        height=max(300, 20 * n + 120),
        margin={"l": 10, "r": 10, "t": 80 if title else 40, "b": 10},
    )
    return fig
