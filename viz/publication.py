"""Figures for papers: a title that says what is shown, a labelled colour bar, readable fonts.

``head_figure`` is the one-head heatmap the export command and the all-heads ZIP
draw; ``for_print`` restyles any figure for a static image without touching the
figure the page shows.
"""

from __future__ import annotations

import plotly.graph_objects as go

from model import Capture
from viz.heatmaps import attention_heatmap
from viz.images import min_size
from viz.labels import escape

KIND_NAMES = {"encoder": "encoder self-attention", "decoder": "decoder self-attention",
              "cross": "cross-attention (decoder over encoder)"}
TITLE_ROOM = 40  # px added above a titled figure's top margin in print
FONT = {"family": "Arial, Helvetica, sans-serif", "size": 16, "color": "#111111"}


def file_stem(model_name: str, kind: str, layer: int | None = None, head: int | None = None) -> str:
    """``minilm_L2_H5_encoder``: what a file holds, in its name."""
    parts = [model_name or "model"]
    if layer is not None:
        parts.append(f"L{layer}")
    if head is not None:
        parts.append(f"H{head}")
    parts.append(kind)
    return "_".join(p.replace("/", "-").replace(" ", "-") for p in parts)


def head_title(model_name: str, kind: str, layer: int, head: int) -> str:
    return f"{model_name} · {KIND_NAMES.get(kind, kind)} · layer {layer} · head {head}"


def check_head(cap: Capture, kind: str, layer: int, head: int) -> None:
    """A readable error for a kind, layer or head the model does not have."""
    if kind not in cap.attentions:
        raise ValueError(f"{cap.model_name or 'this model'} has no {kind} attention; it has: {', '.join(cap.kinds)}")
    n_layers, n_heads = cap.attentions[kind].shape[:2]
    if not 0 <= layer < n_layers:
        raise ValueError(f"layer {layer} is out of range: {cap.model_name} has layers 0 to {n_layers - 1}")
    if not 0 <= head < n_heads:
        raise ValueError(f"head {head} is out of range: {cap.model_name} has heads 0 to {n_heads - 1}")


def head_figure(cap: Capture, kind: str, layer: int, head: int, *, colorscale: str = "Blues") -> go.Figure:
    """One head of ``cap`` as a heatmap titled with model, kind, layer and head."""
    check_head(cap, kind, layer, head)
    fig = attention_heatmap(
        cap.attentions[kind][layer, head], cap.query_tokens(kind), cap.key_tokens(kind),
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
    unless its own function already named what it shows.
    """
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
            trace.colorbar.title.text = title if title and title != "attention" else "attention weight"
            trace.colorbar.title.side = "right"
            trace.colorbar.tickfont.size = font_size - 2
    return out


def titled(fig: go.Figure, title: str) -> go.Figure:
    """``fig`` with ``title`` (escaped) when it has none of its own."""
    if not (fig.layout.title and fig.layout.title.text):
        fig.update_layout(title={"text": escape(title)})
    return fig
