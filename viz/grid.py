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

from i18n import _
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
                      selected: tuple[int, int] | None = None, head_labels: list[str] | None = None,
                      first_share: np.ndarray | None = None, sinks: np.ndarray | None = None) -> go.Figure:
    """Every head of every layer as a thumbnail sharing one colour scale (0..1 of attention).

    ``attentions`` is float weights ``[layers, heads, queries, keys]``, pooled here, or thumbnails
    already pooled and quantised (uint8, 255 = weight 1, e.g. ``Capture.thumbnails``), drawn as they are.
    ``selected`` = ``(layer, head)`` outlines that panel. ``head_labels`` name the columns (e.g. the
    key/value head a query head shares). ``first_share`` ``[layers, heads]`` is each head's share on the
    first token, named in the hover; ``sinks`` (bool, same shape) marks the heads flagged as sinks.

    An invisible point sits on each panel: Streamlit reports clicks on scatter points, not on
    heatmap cells, so clicking a panel selects its point (trace 1, index ``layer * heads + head``).
    """
    att = np.asarray(attentions)
    if att.dtype == np.uint8:
        if att.ndim != 4 or att.size == 0:
            raise ValueError(f"thumbnails are a non-empty [layers, heads, q, k], got shape {att.shape}")
        thumbs = att
    else:
        thumbs = thumbnails(att, max_cells, pool)
    n_layers, n_heads, cq, ck = thumbs.shape
    for name, grid in (("first_share", first_share), ("sinks", sinks)):
        if grid is not None and np.shape(grid) != (n_layers, n_heads):
            raise ValueError(f"{name} is [layers, heads] = {(n_layers, n_heads)}, got {np.shape(grid)}")
    labels = head_labels or [f"H{h}" for h in range(n_heads)]
    if len(labels) != n_heads:
        raise ValueError(f"{len(labels)} head labels for {n_heads} heads")
    fig = go.Figure(go.Heatmap(
        z=tile(thumbs),
        # cell j of head h is centred at h - 0.5 + (j + 0.5) / ck, so rounding x gives h
        x0=-0.5 + 0.5 / ck, dx=1.0 / ck, y0=-0.5 + 0.5 / cq, dy=1.0 / cq,
        zmin=0, zmax=255, colorscale=colorscale,
        colorbar={"title": {"text": _("attention")}, "tickvals": [0, 64, 128, 191, 255],
                  "ticktext": ["0", "0.25", "0.5", "0.75", "1"]},
        hoverinfo="skip",
    ))
    layer_ix, head_ix = np.meshgrid(np.arange(n_layers), np.arange(n_heads), indexing="ij")
    share = np.full((n_layers, n_heads), np.nan) if first_share is None else np.asarray(first_share, dtype=float)
    names = np.array([[f"L{lay} {labels[h]}" for h in range(n_heads)] for lay in range(n_layers)])
    fig.add_trace(go.Scatter(  # the points carry the hover too: a point that skips hover cannot be clicked
        x=head_ix.ravel(), y=layer_ix.ravel(), mode="markers", showlegend=False, name="open",
        marker={"size": max(8, min(40, round(900 / n_heads * 0.6))), "opacity": 0.0, "symbol": "square"},
        customdata=np.stack([names.ravel(), np.round(share.ravel(), 3)], axis=1),
        hovertemplate=("%{customdata[0]}<br>" + ("" if first_share is None else
                                                  _("share on the first token: %{customdata[1]}") + "<br>")
                       + _("click to open it in the head view") + "<extra></extra>"),
    ))
    if sinks is not None and np.any(sinks):
        lay, h = np.nonzero(np.asarray(sinks, dtype=bool))
        fig.add_trace(go.Scatter(
            x=h + 0.38, y=lay - 0.36, mode="markers", name="sink head", hoverinfo="skip", showlegend=False,
            marker={"symbol": "triangle-down", "size": 9, "color": "darkorange", "line": {"width": 0}},
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
        clickmode="event+select",
        xaxis={"tickmode": "array", "tickvals": list(range(n_heads)), "ticktext": labels,
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
