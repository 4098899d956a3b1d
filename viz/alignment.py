"""Cross-attention of an encoder-decoder as an alignment: output tokens down, source tokens across.

The decoder reads its own previous token and writes the next one, so row ``i``
of the cross-attention (decoder input ``target_tokens[i]``) is the step that
wrote ``target_tokens[i + 1]``. These figures label each row by the token it
wrote, which is what a reader of an alignment expects; the row whose input is
the last token wrote nothing that was kept, and is left out.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from i18n import _
from viz.heatmaps import (
    heatmap_figure,
    heatmap_height,
    heatmap_trace,
    title_style,
    token_axis,
    top_margin,
    validate_matrix,
)
from viz.labels import axis_ticks, position_labels
from viz.matrix_ops import combine_heads


def written_tokens(target_tokens: list[str]) -> list[str]:
    """The token each decoding step wrote: ``target_tokens[1:]`` (the first input is ``<s>``)."""
    if len(target_tokens) < 2:
        raise ValueError("a decoded target has at least a start token and one written token")
    return list(target_tokens[1:])


def alignment_rows(cross: np.ndarray, target_tokens: list[str]) -> np.ndarray:
    """``[..., target, source]`` cross-attention -> ``[..., steps, source]``, one row per written token."""
    a = np.asarray(cross, dtype=np.float32)
    if a.ndim < 2 or a.shape[-2] != len(target_tokens):
        raise ValueError(f"cross-attention {a.shape} does not have one row per target token ({len(target_tokens)})")
    return a[..., : len(target_tokens) - 1, :]


def head_mean(cross_layer: np.ndarray) -> np.ndarray:
    """``[heads, steps, source]`` -> ``[steps, source]``; rows still sum to 1."""
    return combine_heads(cross_layer, "mean")


def _trace(w: np.ndarray, source_tokens: list[str], output_tokens: list[str], colorscale: str,
           showscale: bool) -> go.Heatmap:
    return heatmap_trace(w, output_tokens, source_tokens, rows=_("writing"), cols=_("looks at"),
                         colorscale=colorscale, zmin=0.0, zmax=1.0, showscale=showscale,
                         colorbar_title=_("attention") if showscale else None)


def alignment_heatmap(weights: np.ndarray, source_tokens: list[str], output_tokens: list[str], *,
                      title: str = "", colorscale: str = "Blues", highlight: int | None = None) -> go.Figure:
    """One ``[steps, source]`` alignment; ``highlight`` outlines one step's row."""
    w = validate_matrix(weights, output_tokens, source_tokens)
    n_steps, n_source = w.shape
    fig = heatmap_figure(
        _trace(w, source_tokens, output_tokens, colorscale, showscale=True), title=title, ticks_on_top=True,
        xaxis=token_axis(source_tokens, _("source token"), tickangle=-60),
        yaxis=token_axis(output_tokens, _("output token written")),
    )
    if highlight is not None:
        if not 0 <= highlight < n_steps:
            raise ValueError(f"step {highlight} is outside 0..{n_steps - 1}")
        fig.add_shape(type="rect", x0=-0.5, x1=n_source - 0.5, y0=highlight - 0.5, y1=highlight + 0.5,
                      line={"color": "crimson", "width": 3})
    return fig


def alignment_grid(cross_layer: np.ndarray, source_tokens: list[str], output_tokens: list[str], *,
                   title: str = "", colorscale: str = "Blues") -> go.Figure:
    """Each head's ``[steps, source]`` alignment side by side, on one shared colour scale."""
    a = np.asarray(cross_layer, dtype=np.float32)
    if a.ndim != 3:
        raise ValueError(f"expected [heads, steps, source], got shape {a.shape}")
    n_heads = a.shape[0]
    fig = make_subplots(rows=1, cols=n_heads, subplot_titles=[_("head {head}").format(head=h) for h in range(n_heads)],
                        horizontal_spacing=0.03)
    for h in range(n_heads):
        w = validate_matrix(a[h], output_tokens, source_tokens)
        fig.add_trace(_trace(w, source_tokens, output_tokens, colorscale, showscale=h == n_heads - 1),
                      row=1, col=h + 1)
        fig.update_xaxes(token_axis(source_tokens, tickangle=-60), row=1, col=h + 1)
        fig.update_yaxes(token_axis(output_tokens, autorange="reversed", showticklabels=h == 0), row=1, col=h + 1)
    fig.update_layout(
        title=title_style(title),
        margin={"l": 60, "r": 20, "t": top_margin(title, subplot_titles=True), "b": 60},
        height=heatmap_height(a.shape[1]),
    )
    return fig


def step_bars(weights: np.ndarray, source_tokens: list[str], written: str, step: int, *,
              title: str = "") -> go.Figure:
    """Where one decoding step looked: its cross-attention over the source tokens, the largest in red."""
    w = np.asarray(weights, dtype=np.float32)
    if w.shape != (len(source_tokens),):
        raise ValueError(f"one step's weights {w.shape} do not match {len(source_tokens)} source tokens")
    top = int(w.argmax()) if w.size else -1
    colors = ["crimson" if i == top else "steelblue" for i in range(len(source_tokens))]
    fig = go.Figure(go.Bar(
        x=position_labels(source_tokens), y=w, marker={"color": colors},
        hovertemplate="%{x}<br>" + _("weight") + " %{y:.3f}<extra></extra>",
    ))
    fig.update_layout(
        title=title_style(title or _("step {step}: writing '{token}'").format(step=step, token=written)),
        xaxis={"title": {"text": _("source token")}, "tickangle": -60, **axis_ticks(source_tokens)},
        yaxis={"title": {"text": _("attention")}, "range": [0, 1]},
        margin={"l": 60, "r": 20, "t": 60, "b": 20},
        height=320,
    )
    return fig
