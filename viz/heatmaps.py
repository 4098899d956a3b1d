"""The one heatmap factory every matrix figure is built with, and the head view's attention heatmap.

Every heatmap of tokens draws the same way:

- positions are the coordinates (one unique category per position, ``"3 the"``), so repeated
  tokens ("the ... the") keep their own rows and columns;
- the escaped tokens are the tick text, a readable subset of them when there are too many
  (``viz.labels.MAX_TICKS``), while the hover names every cell's tokens;
- one height rule, ``heatmap_height(rows)``, and one title style, ``title_style(title)``.

``heatmap_trace`` builds the trace (also for subplots: compare, alignment grid), ``token_axis``
an axis, ``heatmap_figure`` a whole single-heatmap figure.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from i18n import _
from viz.labels import axis_ticks, escape, position_labels

ROW_PX = 22  # pixels a row gets while they fit between the bounds below
FRAME_PX = 150  # title, ticks and margins around the rows
MIN_HEIGHT, MAX_HEIGHT = 400, 900
TOP_TICKS_PX = 110  # top margin that holds angled key ticks drawn above the plot
TITLE_PX = 40  # what a title adds to the top margin
SUBPLOT_TITLES_PX = 20  # what a row of subplot titles adds to it


def heatmap_height(n_rows: int) -> int:
    """The height in pixels of every heatmap figure with ``n_rows`` rows."""
    return int(max(MIN_HEIGHT, min(MAX_HEIGHT, ROW_PX * n_rows + FRAME_PX)))


def title_style(title: str) -> dict | None:
    """Every figure's title: escaped, at the very top of the figure, above ticks drawn on top."""
    if not title:
        return None
    return {"text": escape(title), "y": 1.0, "yref": "container", "yanchor": "top", "pad": {"t": 10}}


def top_margin(title: str, ticks_on_top: bool = False, subplot_titles: bool = False) -> int:
    """Room above the plot for the ticks drawn there, the subplot titles and the title, where there are any."""
    return ((TOP_TICKS_PX if ticks_on_top else 30) + (TITLE_PX if title else 0)
            + (SUBPLOT_TITLES_PX if subplot_titles else 0))


def validate_matrix(weights: np.ndarray, query_tokens: Sequence[str], key_tokens: Sequence[str]) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float32)
    if w.ndim != 2:
        raise ValueError(f"an attention matrix is 2-D, got shape {w.shape}")
    if w.shape != (len(query_tokens), len(key_tokens)):
        raise ValueError(f"matrix {w.shape} does not match {len(query_tokens)} queries x {len(key_tokens)} keys")
    return w


def coordinates(tokens: Sequence[str] | None, n: int) -> list[str] | np.ndarray:
    """An axis's coordinates: unique position labels of ``tokens``, or plain positions 0..n-1 without tokens."""
    if tokens is None:
        return np.arange(n)
    if len(tokens) != n:
        raise ValueError(f"{len(tokens)} tokens for {n} positions")
    return position_labels(list(tokens))


def token_axis(tokens: Sequence[str] | None = None, title: str = "", **extra) -> dict:
    """Axis settings: escaped tokens as tick text (a readable subset when many), then ``extra``."""
    axis: dict = {"title": {"text": escape(title)}} if title else {}
    if tokens is not None:
        axis.update(axis_ticks(list(tokens)))
    axis.update(extra)
    return axis


def heatmap_trace(z: np.ndarray, row_tokens: Sequence[str] | None = None, col_tokens: Sequence[str] | None = None,
                  *, rows: str | None = None, cols: str | None = None, value: str | None = None, x=None, y=None,
                  hovertemplate: str | None = None, colorbar_title: str | None = None, **style) -> go.Heatmap:
    """One heatmap trace of a 2-D ``z``: rows down, columns across.

    Rows and columns are token positions (``row_tokens`` / ``col_tokens``; plain positions when
    None) unless explicit coordinates ``x`` / ``y`` are given (head names, offsets). The hover reads
    ``{rows} <row>``, ``{cols} <column>``, ``{value} <z>`` ("query", "key", "weight" in the session's
    language unless given). ``style`` goes to the trace as it is
    (colorscale, zmin, zmax, zmid, coloraxis, showscale...); ``colorbar_title`` titles its colour bar.
    """
    m = np.asarray(z)
    if m.ndim != 2:
        raise ValueError(f"a heatmap is 2-D, got shape {m.shape}")
    if hovertemplate is None:
        rows = _("query") if rows is None else rows
        cols = _("key") if cols is None else cols
        value = _("weight") if value is None else value
        hovertemplate = f"{rows} %{{y}}<br>{cols} %{{x}}<br>{value} %{{z:.3f}}<extra></extra>"
    if colorbar_title is not None:
        style["colorbar"] = {"title": {"text": escape(colorbar_title)}}
    return go.Heatmap(
        z=m,
        x=coordinates(col_tokens, m.shape[1]) if x is None else x,
        y=coordinates(row_tokens, m.shape[0]) if y is None else y,
        hovertemplate=hovertemplate, **style,
    )


def heatmap_figure(trace: go.Heatmap, *, title: str = "", xaxis: dict | None = None, yaxis: dict | None = None,
                   ticks_on_top: bool = False, margin: dict | None = None) -> go.Figure:
    """A figure of one heatmap trace, rows top-down, in the shared title style and height rule."""
    n_rows = np.asarray(trace.z).shape[0]
    fig = go.Figure(trace)
    fig.update_layout(
        title=title_style(title),
        xaxis={**(xaxis or {}), **({"side": "top"} if ticks_on_top else {})},
        yaxis={"autorange": "reversed", **(yaxis or {})},
        margin={"l": 80, "r": 20, "t": top_margin(title, ticks_on_top), "b": 20 if ticks_on_top else 60,
                **(margin or {})},
        height=heatmap_height(n_rows),
    )
    return fig


def attention_heatmap(weights: np.ndarray, query_tokens: list[str], key_tokens: list[str] | None = None, *,
                      title: str = "", colorscale: str = "Blues", zmax: float | None = 1.0,
                      highlight: int | None = None, value: str | None = None,
                      first_query: int = 0, first_key: int = 0) -> go.Figure:
    """A ``[queries, keys]`` attention matrix with one tick per token.

    ``highlight`` outlines one query's row (what it attends to) and, when queries and keys are the
    same tokens, its column (what attends to it). A window of a longer matrix says where it starts
    (``first_query``, ``first_key``), so every label keeps its position in the whole text.
    ``value`` titles the colour bar ("attention" in the session's language unless given).
    """
    key_tokens = query_tokens if key_tokens is None else key_tokens
    value = _("attention") if value is None else value
    w = validate_matrix(weights, query_tokens, key_tokens)
    nq, nk = w.shape
    fig = heatmap_figure(
        heatmap_trace(w, x=position_labels(list(key_tokens), first_key), y=position_labels(list(query_tokens),
                      first_query), rows=_("query"), cols=_("key"), colorscale=colorscale, zmin=0.0, zmax=zmax,
                      colorbar_title=value),
        title=title, ticks_on_top=True,
        xaxis={"title": {"text": _("key")}, "tickangle": -60, **axis_ticks(list(key_tokens), first=first_key)},
        yaxis={"title": {"text": _("query")}, **axis_ticks(list(query_tokens), first=first_query)},
    )
    if highlight is not None:
        if not 0 <= highlight < nq:
            raise ValueError(f"highlight {highlight} is out of range: there are {nq} queries")
        shapes = [{"x0": -0.5, "x1": nk - 0.5, "y0": highlight - 0.5, "y1": highlight + 0.5}]
        if list(query_tokens) == list(key_tokens) and first_query == first_key:
            # self-attention: the same token is also a key, its column is what attends to it
            shapes.append({"x0": highlight - 0.5, "x1": highlight + 0.5, "y0": -0.5, "y1": nq - 0.5})
        for shape in shapes:
            fig.add_shape(type="rect", line={"color": "crimson", "width": 2}, **shape)
    return fig


def named_rows_heatmap(weights: np.ndarray, row_names: Sequence[str], key_tokens: Sequence[str], *,
                       rows: str | None = None, title: str = "", colorscale: str = "Blues",
                       zmax: float | None = 1.0, value: str | None = None) -> go.Figure:
    """``[rows, keys]`` weights whose rows are named things (heads, layers, decoding steps), not tokens.

    What several heads, or one head at several steps, give each key; rows top-down as named. ``rows`` names
    them ("head") and ``value`` titles the colour bar ("attention"), in the session's language unless given.
    """
    rows = _("head") if rows is None else rows
    value = _("attention") if value is None else value
    w = np.asarray(weights, dtype=np.float32)
    if w.ndim != 2 or w.shape != (len(row_names), len(key_tokens)):
        raise ValueError(f"weights {w.shape} do not match {len(row_names)} rows x {len(key_tokens)} keys")
    names = [escape(n) for n in row_names]
    return heatmap_figure(
        heatmap_trace(w, None, key_tokens, y=names, rows=rows, cols=_("key"), value=_("weight"),
                      colorscale=colorscale, zmin=0.0, zmax=zmax, colorbar_title=value),
        title=title, ticks_on_top=True,
        xaxis=token_axis(key_tokens, _("key"), tickangle=-60),
        yaxis={"type": "category", "title": {"text": escape(rows)}},
    )


def overview_heatmap(pooled: np.ndarray, query_at: np.ndarray, key_at: np.ndarray, n_queries: int, n_keys: int, *,
                     window: tuple[int, int, int, int] | None = None, title: str = "", colorscale: str = "Blues",
                     zmax: float | None = 1.0, value: str | None = None) -> go.Figure:
    """A long matrix pooled into blocks (``matrix_ops.strongest_in_blocks``), on position axes.

    Each cell is a block's strongest weight; its hover names that cell's query and key position and
    exact weight. ``window`` ``(q0, q1, k0, k1)`` outlines the part drawn at full resolution elsewhere.
    ``value`` titles the colour bar ("attention" in the session's language unless given).
    """
    value = _("attention") if value is None else value
    z = np.asarray(pooled, dtype=np.float32)
    if z.ndim != 2 or np.shape(query_at) != z.shape or np.shape(key_at) != z.shape:
        raise ValueError("pooled weights and their query / key positions must be 2-D and the same shape")
    fq, fk = -(-n_queries // z.shape[0]), -(-n_keys // z.shape[1])
    # a block's centre, so it covers positions start - 0.5 .. start + size - 0.5 on the axis
    y = np.arange(z.shape[0]) * fq + (fq - 1) / 2
    x = np.arange(z.shape[1]) * fk + (fk - 1) / 2
    trace = heatmap_trace(
        z, x=x, y=y, customdata=np.stack([query_at, key_at], axis=-1).astype(np.int32),
        hovertemplate=_("strongest in this block: query %{customdata[0]}, key %{customdata[1]}")
        + f"<br>{value} %{{z:.4f}}<extra></extra>",
        colorscale=colorscale, zmin=0.0, zmax=zmax, colorbar_title=value,
    )
    fig = heatmap_figure(trace, title=title, ticks_on_top=True,
                         xaxis={"title": {"text": _("key position")}, "autorange": False,
                                "range": [-0.5, n_keys - 0.5]},
                         yaxis={"title": {"text": _("query position")}, "autorange": False,
                                "range": [n_queries - 0.5, -0.5]})
    if window is not None:
        q0, q1, k0, k1 = window
        fig.add_shape(type="rect", x0=k0 - 0.5, x1=k1 - 0.5, y0=q0 - 0.5, y1=q1 - 0.5,
                      line={"color": "crimson", "width": 2})
    return fig
