"""Head statistics as figures: a scatter of heads, a layer x head grid, mean and spread, similarity.

The grid and the similarity matrix are heatmaps of ``viz.heatmaps``' one factory.

Heads are named ``L{layer} H{head}`` everywhere.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from viz.heatmaps import heatmap_figure, heatmap_trace, title_style, token_axis
from viz.labels import escape


def head_name(layer: int, head: int) -> str:
    return f"L{layer} H{head}"


def head_scatter(stats: pd.DataFrame, x: str, y: str, *, x_label: str | None = None, y_label: str | None = None,
                 selected: tuple[int, int] | None = None, title: str = "") -> go.Figure:
    """One marker per head at (``stats[x]``, ``stats[y]``), coloured by layer; ``selected`` ringed in red."""
    for col in ("layer", "head", x, y):
        if col not in stats:
            raise ValueError(f"the statistics have no column {col!r}")
    layers = stats["layer"].to_numpy()
    heads = stats["head"].to_numpy()
    fig = go.Figure(go.Scatter(
        x=stats[x].to_numpy(dtype=float), y=stats[y].to_numpy(dtype=float), mode="markers",
        marker={"size": 9, "color": layers, "colorscale": "Viridis", "showscale": True,
                "colorbar": {"title": {"text": "layer"}, "dtick": 1}},
        customdata=np.stack([layers, heads], axis=1),  # (heads, 2): layer and head per marker
        hovertemplate="L%{customdata[0]} H%{customdata[1]}<br>" + escape(x_label or x) + " %{x:.3f}<br>"
                      + escape(y_label or y) + " %{y:.3f}<extra></extra>",
        name="heads",
    ))
    if selected is not None:
        row = stats[(stats["layer"] == selected[0]) & (stats["head"] == selected[1])]
        if not row.empty:
            fig.add_trace(go.Scatter(
                x=row[x].to_numpy(dtype=float), y=row[y].to_numpy(dtype=float), mode="markers+text",
                marker={"size": 18, "color": "rgba(0,0,0,0)", "line": {"color": "crimson", "width": 3}},
                text=[head_name(*selected)], textposition="top center", name="chosen", hoverinfo="skip",
            ))
    fig.update_layout(
        title=title_style(title), showlegend=False,
        xaxis={"title": {"text": escape(x_label or x)}}, yaxis={"title": {"text": escape(y_label or y)}},
        height=450, margin={"l": 60, "r": 20, "t": 60 if title else 30, "b": 50},
    )
    return fig


def head_grid(values: np.ndarray, *, title: str = "", colorbar: str = "", colorscale: str = "Blues",
              text_format: str = ".2f") -> go.Figure:
    """A ``[layers, heads]`` value per head as a grid, each cell labelled with its value."""
    v = np.asarray(values, dtype=np.float32)
    if v.ndim != 2:
        raise ValueError(f"expected [layers, heads], got shape {v.shape}")
    trace = heatmap_trace(v, rows="layer", cols="head", value=escape(colorbar) or "value",
                          x=np.arange(v.shape[1]), y=np.arange(v.shape[0]), colorscale=colorscale,
                          texttemplate="%{z:" + text_format + "}", colorbar_title=colorbar)
    return heatmap_figure(trace, title=title, xaxis=token_axis(None, "head", dtick=1),
                          yaxis=token_axis(None, "layer", dtick=1), margin={"l": 60})


def mean_spread(frame: pd.DataFrame, stat: str, *, label: str | None = None, title: str = "") -> go.Figure:
    """Per-head mean of ``stat`` with one standard deviation as error bars (``<stat>_mean``, ``<stat>_std``)."""
    for col in ("layer", "head", f"{stat}_mean", f"{stat}_std"):
        if col not in frame:
            raise ValueError(f"the corpus statistics have no column {col!r}")
    names = [head_name(int(layer), int(head)) for layer, head in zip(frame["layer"], frame["head"], strict=True)]
    fig = go.Figure(go.Bar(
        x=names, y=frame[f"{stat}_mean"].to_numpy(dtype=float),
        error_y={"type": "data", "array": frame[f"{stat}_std"].fillna(0.0).to_numpy(dtype=float)},
        marker={"color": frame["layer"].to_numpy(), "colorscale": "Viridis"},
        hovertemplate="%{x}<br>mean %{y:.3f}<extra></extra>",
    ))
    fig.update_layout(
        title=title_style(title),
        xaxis={"title": {"text": "head"}, "type": "category", "tickangle": -90},
        yaxis={"title": {"text": escape(label or stat)}},
        height=400, margin={"l": 60, "r": 20, "t": 60 if title else 30, "b": 80},
    )
    return fig


def similarity_matrix(sim: np.ndarray, n_heads: int, order: np.ndarray | None = None, *, title: str = "") -> go.Figure:
    """Head-by-head pattern similarity ``[L*H, L*H]``, rows and columns in ``order`` (e.g. by cluster)."""
    s = np.asarray(sim, dtype=np.float32)
    if s.ndim != 2 or s.shape[0] != s.shape[1] or s.shape[0] % n_heads:
        raise ValueError(f"expected a square [layers*heads, layers*heads] matrix, got shape {s.shape}")
    idx = np.arange(s.shape[0]) if order is None else np.asarray(order)
    names = [head_name(int(i) // n_heads, int(i) % n_heads) for i in idx]
    trace = heatmap_trace(s[np.ix_(idx, idx)], x=names, y=names, colorscale="Viridis", zmin=0.0, zmax=1.0,
                          hovertemplate="%{y} ~ %{x}<br>cosine %{z:.3f}<extra></extra>", colorbar_title="cosine")
    ticks = {"type": "category", "tickfont": {"size": 8}}
    return heatmap_figure(trace, title=title, xaxis={**ticks, "tickangle": -90}, yaxis=ticks,
                          margin={"l": 70, "b": 70})


def colour_table(frame: pd.DataFrame, columns: list[str], *, rgb: tuple[int, int, int] = (33, 113, 181),
                 digits: int = 3):
    """A pandas ``Styler``: each of ``columns`` shaded from white (its lowest) to ``rgb`` (its highest).

    Plain CSS per cell, so it needs no plotting library; NaN cells stay white.
    """
    def shade(col: pd.Series) -> list[str]:
        values = col.to_numpy(dtype=float)
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            return [""] * len(values)
        lo, hi = float(finite.min()), float(finite.max())
        scaled = (values - lo) / (hi - lo) if hi > lo else np.zeros_like(values)
        return ["" if not np.isfinite(s) else
                f"background-color: rgba({rgb[0]}, {rgb[1]}, {rgb[2]}, {0.08 + 0.72 * s:.2f}); "
                f"color: {'white' if s > 0.6 else 'black'}" for s in scaled]

    missing = [c for c in columns if c not in frame]
    if missing:
        raise ValueError(f"the table has no columns {missing}")
    return frame.style.apply(shade, subset=columns).format(precision=digits, subset=columns, na_rep="")
