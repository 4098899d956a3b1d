"""Model view: every layer x head of one attention kind as thumbnails in one figure.

The grid is a single heatmap image: head ``h`` spans x in ``[h - 0.5, h + 0.5]`` and
layer ``l`` spans y in ``[l - 0.5, l + 0.5]``, so the axes' integer ticks label
panels L0.. and H0.. and hover rounds to the panel under the pointer. Each
thumbnail is pooled to at most ``max_cells`` cells a side (or arrives pooled, as
``Capture.thumbnails`` keeps them) (a thumbnail about
100 px wide cannot show more) and sent as 8-bit values, which Plotly serialises
as a base64 typed array: ~220 kB for 6 x 12 heads, whatever the sentence length.
One image with drawn gaps was measured lighter than 72 subplots (fewer bytes,
no per-panel axes, ~50x faster to build).
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from viz.heatmaps import title_style
from viz.matrix_ops import downsample, quantise_u8

MAX_CELLS = 48
GAP_COLOUR = "white"


def thumbnails(attentions: np.ndarray, max_cells: int = MAX_CELLS, pool: str = "max") -> np.ndarray:
    """``[layers, heads, q, k]`` float weights -> ``[layers, heads, q', k']`` uint8, q', k' <= max_cells."""
    att = np.asarray(attentions, dtype=np.float32)
    if att.ndim != 4:
        raise ValueError(f"attentions are [layers, heads, queries, keys], got shape {att.shape}")
    if att.size == 0:
        raise ValueError("there is no attention to draw")
    return quantise_u8(downsample(att, max_cells, pool))


def tile(thumbs: np.ndarray) -> np.ndarray:
    """``[L, H, cq, ck]`` -> one ``[L * cq, H * ck]`` image, layer rows and head columns."""
    n_layers, n_heads, cq, ck = thumbs.shape
    return thumbs.transpose(0, 2, 1, 3).reshape(n_layers * cq, n_heads * ck)  # (L*cq, H*ck)


def model_view_figure(attentions: np.ndarray, *, title: str = "", colorscale: str = "Blues",
                      max_cells: int = MAX_CELLS, pool: str = "max",
                      selected: tuple[int, int] | None = None) -> go.Figure:
    """Every head of every layer as a thumbnail sharing one colour scale (0..1 of attention).

    ``attentions`` is float weights ``[layers, heads, queries, keys]``, pooled here, or thumbnails
    already pooled and quantised (uint8, 255 = weight 1, e.g. ``Capture.thumbnails``), drawn as they are.
    ``selected`` = ``(layer, head)`` outlines that panel.
    """
    att = np.asarray(attentions)
    if att.dtype == np.uint8:
        if att.ndim != 4 or att.size == 0:
            raise ValueError(f"thumbnails are a non-empty [layers, heads, q, k], got shape {att.shape}")
        thumbs = att
    else:
        thumbs = thumbnails(att, max_cells, pool)
    n_layers, n_heads, cq, ck = thumbs.shape
    fig = go.Figure(go.Heatmap(
        z=tile(thumbs),
        # cell j of head h is centred at h - 0.5 + (j + 0.5) / ck, so rounding x gives h
        x0=-0.5 + 0.5 / ck, dx=1.0 / ck, y0=-0.5 + 0.5 / cq, dy=1.0 / cq,
        zmin=0, zmax=255, colorscale=colorscale,
        colorbar={"title": {"text": "attention"}, "tickvals": [0, 64, 128, 191, 255],
                  "ticktext": ["0", "0.25", "0.5", "0.75", "1"]},
        hovertemplate="L%{y:.0f} H%{x:.0f}<br>strongest weight here: %{z}/255<extra></extra>",
    ))
    shapes = [
        {"type": "line", "x0": h - 0.5, "x1": h - 0.5, "y0": -0.5, "y1": n_layers - 0.5}
        for h in range(1, n_heads)
    ] + [
        {"type": "line", "x0": -0.5, "x1": n_heads - 0.5, "y0": lay - 0.5, "y1": lay - 0.5}
        for lay in range(1, n_layers)
    ]
    for s in shapes:
        s["line"] = {"color": GAP_COLOUR, "width": 3}
    if selected is not None:
        lay, h = selected
        shapes.append({"type": "rect", "x0": h - 0.5, "x1": h + 0.5, "y0": lay - 0.5, "y1": lay + 0.5,
                       "line": {"color": "crimson", "width": 3}})
    fig.update_layout(
        title=title_style(title),
        shapes=shapes,
        xaxis={"tickmode": "array", "tickvals": list(range(n_heads)), "ticktext": [f"H{h}" for h in range(n_heads)],
               "side": "top", "showgrid": False, "zeroline": False, "range": [-0.5, n_heads - 0.5]},
        yaxis={"tickmode": "array", "tickvals": list(range(n_layers)),
               "ticktext": [f"L{lay}" for lay in range(n_layers)], "autorange": "reversed", "showgrid": False,
               "zeroline": False},
        margin={"l": 50, "r": 20, "t": 90 if title else 50, "b": 10},
        # near-square panels on a plot about 900 px wide, at most 150 px a panel
        height=round(n_layers * min(150.0, 900.0 / n_heads)) + (130 if title else 90),
        plot_bgcolor=GAP_COLOUR,
    )
    return fig
