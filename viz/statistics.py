"""Head statistics as figures: a scatter of heads, a layer x head grid, mean and spread, similarity.

The grid and the similarity matrix are heatmaps of ``viz.heatmaps``' one factory.

Heads are named ``L{layer} H{head}`` everywhere, ``L{layer} H{head} (KV{kv})`` where grouped-query
attention shares key/value heads, so a reader sees which query heads read the same keys.

Colours go to Plotly as colour strings, never as numeric arrays: plotly.py sends a numpy array as a
typed array (``Int8Array`` for small ints) and plotly.js then takes it for one invalid colour where it
derives the error bars' colour from the marker's, drawing them black with a console warning per bar.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from i18n import _
from viz.heatmaps import heatmap_figure, heatmap_trace, title_style, token_axis
from viz.labels import escape

ERROR_BAR_COLOUR = "rgb(70, 70, 70)"  # dark grey: visible above light and dark bars alike
LAYER_SCALE = "Viridis"
MAX_BAR_TICKS = 60  # vertical labels at least ~14 px apart on a chart 850 px across; more heads label a subset
MANY_BARS = 100  # beyond this many heads a bar is a few pixels wide: error bars lose their caps
MAX_MATRIX_TICKS = 30  # similarity matrix labels at 12 px with room between them on a 900 px figure
TICK_FONT = 12


def head_name(layer: int, head: int, kv: int | None = None) -> str:
    """``L5 H4``, or ``L5 H4 (KV1)`` when the head reads key/value head ``kv``."""
    return f"L{layer} H{head}" if kv is None else f"L{layer} H{head} (KV{kv})"


def layer_colours(layers: np.ndarray) -> list[str]:
    """One ``rgb(...)`` string per entry of ``layers``, along the Viridis scale from layer 0 to the last."""
    lay = np.asarray(layers, dtype=np.float64)
    top = float(lay.max()) if lay.size else 0.0
    return sample_colorscale(LAYER_SCALE, list(lay / top) if top > 0 else [0.0] * lay.size)


def subset_ticks(names: list[str], max_ticks: int) -> dict:
    """Category-axis ticks: every name when they fit, else an evenly spaced subset (all stay in the hover)."""
    step = max(1, -(-len(names) // max_ticks))
    shown = names[::step]
    return {"type": "category", "tickmode": "array", "tickvals": shown, "ticktext": shown}


def head_scatter(stats: pd.DataFrame, x: str, y: str, *, x_label: str | None = None, y_label: str | None = None,
                 selected: tuple[int, int] | None = None, title: str = "", names: list[str] | None = None
                 ) -> go.Figure:
    """One marker per head at (``stats[x]``, ``stats[y]``), coloured by layer; ``selected`` ringed in red.

    ``names`` (one per row) name the heads in the hover, ``L{layer} H{head}`` by default.
    """
    for col in ("layer", "head", x, y):
        if col not in stats:
            raise ValueError(f"the statistics have no column {col!r}")
    layers = stats["layer"].to_numpy()
    heads = stats["head"].to_numpy()
    if names is None:
        names = [head_name(int(lay), int(h)) for lay, h in zip(layers, heads, strict=True)]
    if len(names) != len(stats):
        raise ValueError(f"{len(names)} head names for {len(stats)} heads")
    names = [escape(n) for n in names]
    fig = go.Figure(go.Scatter(
        x=stats[x].to_numpy(dtype=float), y=stats[y].to_numpy(dtype=float), mode="markers",
        marker={"size": 9, "color": layers, "colorscale": LAYER_SCALE, "showscale": True,
                "colorbar": {"title": {"text": _("layer")}}},
        text=names,
        hovertemplate="%{text}<br>" + escape(x_label or x) + " %{x:.3f}<br>"
                      + escape(y_label or y) + " %{y:.3f}<extra></extra>",
        name="heads",
    ))
    if selected is not None:
        chosen = np.flatnonzero((layers == selected[0]) & (heads == selected[1]))
        if chosen.size:
            row = stats.iloc[chosen[:1]]
            fig.add_trace(go.Scatter(
                x=row[x].to_numpy(dtype=float), y=row[y].to_numpy(dtype=float), mode="markers+text",
                marker={"size": 18, "color": "rgba(0,0,0,0)", "line": {"color": "crimson", "width": 3}},
                text=[names[int(chosen[0])]], textposition="top center", name="chosen", hoverinfo="skip",
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
    trace = heatmap_trace(v, rows=_("layer"), cols=_("head"), value=escape(colorbar) or _("value"),
                          x=np.arange(v.shape[1]), y=np.arange(v.shape[0]), colorscale=colorscale,
                          texttemplate="%{z:" + text_format + "}", colorbar_title=colorbar)
    return heatmap_figure(trace, title=title, xaxis=token_axis(None, _("head"), dtick=1),
                          yaxis=token_axis(None, _("layer"), dtick=1), margin={"l": 60})


def mean_spread(frame: pd.DataFrame, stat: str, *, label: str | None = None, title: str = "",
                names: list[str] | None = None) -> go.Figure:
    """Per-head mean of ``stat`` with one standard deviation as error bars (``<stat>_mean``, ``<stat>_std``).

    Bars are coloured by layer; ``names`` (one per row) label the heads, ``L{layer} H{head}`` by default.
    """
    for col in ("layer", "head", f"{stat}_mean", f"{stat}_std"):
        if col not in frame:
            raise ValueError(f"the corpus statistics have no column {col!r}")
    if names is None:
        names = [head_name(int(layer), int(head)) for layer, head in zip(frame["layer"], frame["head"], strict=True)]
    if len(names) != len(frame):
        raise ValueError(f"{len(names)} head names for {len(frame)} heads")
    names = [escape(n) for n in names]
    fig = go.Figure(go.Bar(
        x=names, y=frame[f"{stat}_mean"].to_numpy(dtype=float),
        error_y={"type": "data", "array": frame[f"{stat}_std"].fillna(0.0).to_numpy(dtype=float),
                 "color": ERROR_BAR_COLOUR, "thickness": 1.0 if len(frame) > MANY_BARS else 1.5,
                 "width": 0 if len(frame) > MANY_BARS else 3},
        marker={"color": layer_colours(frame["layer"].to_numpy())},
        hovertemplate=_("%{x}<br>mean %{y:.3f} ± %{error_y.array:.3f}<extra></extra>"),
    ))
    fig.update_layout(
        title=title_style(title),
        xaxis={"title": {"text": _("head")}, **subset_ticks(names, MAX_BAR_TICKS), "tickangle": -90,
               "tickfont": {"size": 11}},
        yaxis={"title": {"text": escape(label or stat)}},
        height=420, margin={"l": 60, "r": 20, "t": 60 if title else 30, "b": 100},
    )
    return fig


def similarity_matrix(sim: np.ndarray, n_heads: int, order: np.ndarray | None = None, *, title: str = "",
                      names: list[str] | None = None, clusters: np.ndarray | None = None) -> go.Figure:
    """Head-by-head pattern similarity ``[L*H, L*H]``, rows and columns in ``order`` (e.g. by cluster).

    ``names`` (one per head, layer-major) label the heads; at most ``MAX_MATRIX_TICKS`` of them are
    tick labels, every one is in the hover. ``clusters`` (a label per head) draws a line between groups.
    """
    s = np.asarray(sim, dtype=np.float32)
    if s.ndim != 2 or s.shape[0] != s.shape[1] or s.shape[0] % n_heads:
        raise ValueError(f"expected a square [layers*heads, layers*heads] matrix, got shape {s.shape}")
    n = s.shape[0]
    idx = np.arange(n) if order is None else np.asarray(order)
    if names is None:
        names = [head_name(i // n_heads, i % n_heads) for i in range(n)]
    if len(names) != n:
        raise ValueError(f"{len(names)} head names for {n} heads")
    ordered = [escape(names[int(i)]) for i in idx]
    trace = heatmap_trace(s[np.ix_(idx, idx)], x=ordered, y=ordered, colorscale="Viridis", zmin=0.0, zmax=1.0,
                          hovertemplate=_("%{y} ~ %{x}<br>cosine %{z:.3f}<extra></extra>"),
                          colorbar_title=_("cosine"))
    ticks = {**subset_ticks(ordered, MAX_MATRIX_TICKS), "tickfont": {"size": TICK_FONT}}
    fig = heatmap_figure(trace, title=title, xaxis={**ticks, "tickangle": -90}, yaxis=ticks,
                         margin={"l": 110, "b": 110})
    if clusters is not None:
        grouped = np.asarray(clusters)[idx]
        for edge in np.flatnonzero(grouped[1:] != grouped[:-1]) + 0.5:  # between the last of one and the next
            for line in ({"x0": -0.5, "x1": n - 0.5, "y0": edge, "y1": edge},
                         {"x0": edge, "x1": edge, "y0": -0.5, "y1": n - 0.5}):
                fig.add_shape(type="line", line={"color": "white", "width": 1}, **line)
    return fig


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
