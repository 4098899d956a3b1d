"""Figures for papers: a title that says what is shown, a labelled colour bar, readable fonts.

``head_figure`` is the one-head heatmap the export command and the all-heads ZIP
draw; ``for_print`` restyles any figure for a static image without touching the
figure the page shows.
"""

from __future__ import annotations

import plotly.graph_objects as go

from i18n import N_, _
from model import Capture
from viz.heatmaps import attention_heatmap

KIND_NAMES = {"encoder": N_("encoder self-attention"), "decoder": N_("decoder self-attention"),
              "cross": N_("cross-attention (decoder over encoder)")}
TITLE_ROOM = 40  # px added above a titled figure's top margin in print
FONT = {"family": "Arial, Helvetica, sans-serif", "size": 16, "color": "#111111"}


# Plotly's default margins, and the least plot area (px) an image keeps inside them.
DEFAULT_MARGIN = 80
MIN_PLOT_PX = 50


def min_size(fig: go.Figure | dict) -> tuple[int, int]:
    """The smallest width and height that leave ``fig`` a plot area inside its margins.

    Smaller, plotly.js fails with "axis scaling" (kaleido error 525) instead of drawing.
    """
    if isinstance(fig, go.Figure):  # read the layout only: to_dict() would copy every array
        set_margin = {side: getattr(fig.layout.margin, side) for side in "lrtb"}
    else:
        set_margin = fig.get("layout", {}).get("margin") or {}
    margin = {side: DEFAULT_MARGIN for side in "lrtb"} | {
        k: v for k, v in set_margin.items() if k in "lrtb" and v is not None}
    return int(margin["l"] + margin["r"] + MIN_PLOT_PX), int(margin["t"] + margin["b"] + MIN_PLOT_PX)


def head_title(model_name: str, kind: str, layer: int, head: int) -> str:
    return _("{model} · {kind} · layer {layer} · head {head}").format(model=model_name,
                                                                      kind=_(KIND_NAMES.get(kind, kind)),
                                                                      layer=layer, head=head)


def check_head(cap: Capture, kind: str, layer: int, head: int) -> None:
    """A readable error for a kind, layer or head the model does not have."""
    if kind not in cap.kinds:
        raise ValueError(f"{cap.model_name or 'this model'} has no {kind} attention; it has: {', '.join(cap.kinds)}")
    n_layers, n_heads = cap.shape(kind)[:2]
    if not 0 <= layer < n_layers:
        raise ValueError(f"layer {layer} is out of range: {cap.model_name} has layers 0 to {n_layers - 1}")
    if not 0 <= head < n_heads:
        raise ValueError(f"head {head} is out of range: {cap.model_name} has heads 0 to {n_heads - 1}")


def head_figure(cap: Capture, kind: str, layer: int, head: int, *, colorscale: str = "Blues") -> go.Figure:
    """One head of ``cap`` as a heatmap titled with model, kind, layer and head."""
    check_head(cap, kind, layer, head)
    fig = attention_heatmap(
        cap.head(kind, layer, head), cap.query_tokens(kind), cap.key_tokens(kind),
        title=head_title(cap.model_name, kind, layer, head), colorscale=colorscale,
    )
    return for_print(fig)


def print_min_size(fig: go.Figure) -> tuple[int, int]:
    """The smallest image of ``for_print(fig)`` that still has a plot area, without copying ``fig``."""
    width, height = min_size(fig)
    return width, height + (TITLE_ROOM if fig.layout.title.text else 0)


def for_print(fig: go.Figure, *, font_size: int = 16) -> go.Figure:
    """A copy of ``fig`` on white with larger type and every colour bar titled.

    Colour bars left untitled get "attention weight": every heatmap here shows weights in [0, 1]
    unless its own function already named what it shows. Titles are in the session's language.
    """
    plain_title, print_title = _("attention"), _("attention weight")
    out = go.Figure(fig)
    out.update_layout(
        template="plotly_white",
        font={**FONT, "size": font_size},
        title={"font": {"size": font_size + 4}, "x": 0.5, "xanchor": "center",
               "y": 0.99, "yref": "container", "yanchor": "top"},
        paper_bgcolor="white", plot_bgcolor="white",
    )
    if out.layout.title.text:
        # Room for the title above a top key axis and its title.
        out.update_layout(margin={"t": (out.layout.margin.t or 80) + TITLE_ROOM})
    for trace in out.data:
        if hasattr(trace, "colorbar") and getattr(trace, "showscale", None) is not False:
            title = trace.colorbar.title.text
            trace.colorbar.title.text = title if title and title != plain_title else print_title
            trace.colorbar.title.side = "right"
            trace.colorbar.tickfont.size = font_size - 2
    return out
