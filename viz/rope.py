"""RoPE as figures: how fast each dimension pair turns, and what the rotation does to one head's scores.

Inputs are the arrays ``model.rope`` computes; nothing here reads a Capture. Keys and offsets are
numeric x coordinates (a token is in the hover and, where they fit, in the tick text), so repeated
tokens never merge and a 2,048-token sequence is one line of 2,048 points, not a matrix. The
attention patterns with and without the rotation are drawn by ``viz.compare.compare_figure``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from i18n import N_, _
from viz.heatmaps import title_style, top_margin
from viz.labels import escape, tick_positions

ROTATED, CONTENT, POSITION = "#1f4e9c", "#e07b00", "#2a9d4b"  # with rotation, without it, what it adds
LINE_LABELS = {"rotated": N_("with rotation (what the model used)"), "content": N_("without rotation (content only)"),
               "position": N_("what the rotation adds (with - without)")}
MARKERS_UP_TO = 80  # points drawn with markers while a line has at most this many


def _vector(a, name: str) -> np.ndarray:
    v = np.asarray(a, dtype=np.float64)
    if v.ndim != 1:
        raise ValueError(f"{name} is one value per point, got shape {v.shape}")
    return v


def _same_length(**arrays: np.ndarray) -> None:
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"these should be as long as each other: {lengths}")


def _mode(n: int) -> str:
    return "lines+markers" if n <= MARKERS_UP_TO else "lines"


def frequency_figure(freq: np.ndarray, *, n_tokens: int | None = None, max_positions: int | None = None,
                     title: str = "") -> go.Figure:
    """Each dimension pair's turn per token (radians) and wavelength (tokens for one full turn), log axes.

    ``n_tokens`` (this text's length) and ``max_positions`` (the model's) are drawn as dashed lines on
    the wavelength panel: pairs below a line turn at least once over that many tokens.
    """
    f = _vector(freq, "freq")
    if not f.size or np.any(f <= 0):
        raise ValueError("frequencies are positive, one per dimension pair")
    wave = 2 * np.pi / f
    pairs = np.arange(f.size)
    d = 2 * f.size
    line = _("pair {pair}: dims {pair} and {other}<br>turns {radians} rad ({degrees}°) a token"
             "<br>one full turn every {wavelength} tokens")
    hover = [line.format(pair=i, other=i + f.size, radians=f"{f[i]:.3g}", degrees=f"{np.degrees(f[i]):.3g}",
                         wavelength=f"{wave[i]:,.4g}") for i in pairs]
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1,
                        subplot_titles=[_("how far each pair turns per token (radians)"),
                                        _("wavelength: tokens for one full turn")])
    common = {"x": pairs, "mode": "lines+markers", "hovertext": hover, "hovertemplate": "%{hovertext}<extra></extra>",
              "showlegend": False}
    fig.add_trace(go.Scatter(y=f, marker={"color": ROTATED}, name=_("turn per token"), **common), row=1, col=1)
    fig.add_trace(go.Scatter(y=wave, marker={"color": CONTENT}, name=_("wavelength"), **common), row=1, col=2)
    for n, label in ((n_tokens, _("this text")), (max_positions, _("the longest input read here"))):
        if n:  # a trace, not add_hline: on a log axis its annotation would stretch the range to 10^n
            words = escape(_("{label}: {n} tokens").format(label=label, n=f"{n:,}"))
            fig.add_trace(go.Scatter(x=[0, f.size - 1], y=[n, n], mode="lines+text", name=label,
                                     text=["", words], textposition="bottom left",
                                     line={"dash": "dash", "color": "grey", "width": 1}, showlegend=False,
                                     hovertemplate=words + "<extra></extra>"),
                          row=1, col=2)
    for col in (1, 2):
        fig.update_xaxes(title_text=_("dimension pair i (of {pairs}; d_head {d})").format(pairs=f.size, d=d),
                         row=1, col=col)
    fig.update_yaxes(type="log", title_text=_("radians per token"), exponentformat="power", row=1, col=1)
    decades = 10.0 ** np.arange(0, np.ceil(np.log10(wave.max())) + 1)
    fig.update_yaxes(type="log", title_text=_("tokens"), tickvals=decades, ticktext=[f"{v:,.0f}" for v in decades],
                     row=1, col=2)
    fig.update_layout(title=title_style(title), height=420,
                      margin={"l": 70, "r": 20, "t": top_margin(title, subplot_titles=True), "b": 50})
    return fig


def _key_axis(positions: np.ndarray, tokens: Sequence[str] | None) -> dict:
    """A numeric axis of positions, labelled with their tokens where they fit (a subset when many)."""
    if tokens is None:
        return {}
    ticks = [int(positions[i]) for i in tick_positions(len(positions))]
    return {"tickmode": "array", "tickvals": ticks, "ticktext": [escape(tokens[t]) for t in ticks],
            "tickangle": -60 if len(ticks) > 8 else 0}


def query_scores_figure(keys: np.ndarray, rotated: np.ndarray, content: np.ndarray, tokens: Sequence[str], *,
                        title: str = "") -> go.Figure:
    """One query's scores over the keys it sees: with and without the rotation (top), their difference (bottom).

    ``keys`` are the key positions, ``tokens`` every token of the sequence (indexed by position).
    """
    x = np.asarray(keys, dtype=np.int64)
    r, c = _vector(rotated, "rotated"), _vector(content, "content")
    _same_length(keys=x, rotated=r, content=c)
    if x.size and (x.min() < 0 or x.max() >= len(tokens)):
        raise ValueError(f"key positions must lie in 0..{len(tokens) - 1}")
    text = [f"{i} {escape(tokens[i])}" for i in x]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08, row_heights=[0.6, 0.4])
    hover = _("key %{hovertext}") + "<br>%{fullData.name}: %{y:.3f}<extra></extra>"
    # the content line dashed over a wider rotated one: where the rotation changes little both stay visible
    for values, kind, line in ((r, "rotated", {"color": ROTATED, "width": 4}),
                               (c, "content", {"color": CONTENT, "width": 2, "dash": "dash"})):
        fig.add_trace(go.Scatter(x=x, y=values, mode=_mode(x.size), name=_(LINE_LABELS[kind]), line=line,
                                 hovertext=text, hovertemplate=hover), row=1, col=1)
    fig.add_trace(go.Bar(x=x, y=r - c, name=_(LINE_LABELS["position"]), marker={"color": POSITION},
                         hovertext=text, hovertemplate=hover), row=2, col=1)
    fig.update_yaxes(title_text=_("score"), row=1, col=1)
    fig.update_yaxes(title_text=_("rotation adds"), zeroline=True, row=2, col=1)
    fig.update_xaxes(_key_axis(x, tokens), row=2, col=1)
    fig.update_xaxes(title_text=_("key"), row=2, col=1)
    fig.update_layout(title=title_style(title), height=520, bargap=0.1,
                      legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
                      margin={"l": 70, "r": 20, "t": top_margin(title) + 30, "b": 90})
    return fig


def pair_contribution_figure(rotated: np.ndarray, content: np.ndarray, freq: np.ndarray, *,
                             title: str = "") -> go.Figure:
    """What each dimension pair adds to one score, with and without the rotation (bars over the pairs).

    Summed over the pairs, the bars give the score with and without the rotation.
    """
    r, c, f = _vector(rotated, "rotated"), _vector(content, "content"), _vector(freq, "freq")
    _same_length(rotated=r, content=c, freq=f)
    pairs = np.arange(r.size)
    line = _("pair {pair} (dims {pair}, {other}): one turn every {wavelength} tokens")
    wave = [line.format(pair=i, other=i + r.size, wavelength=f"{2 * np.pi / f[i]:,.4g}") for i in pairs]
    hover = "%{hovertext}<br>%{fullData.name}: %{y:.3f}<extra></extra>"
    total = _("{label}: sum {total}")
    fig = go.Figure([
        go.Bar(x=pairs, y=r, name=total.format(label=_(LINE_LABELS["rotated"]), total=f"{r.sum():.3f}"),
               marker={"color": ROTATED}, hovertext=wave, hovertemplate=hover),
        go.Bar(x=pairs, y=c, name=total.format(label=_(LINE_LABELS["content"]), total=f"{c.sum():.3f}"),
               marker={"color": CONTENT}, hovertext=wave, hovertemplate=hover),
    ])
    fig.update_layout(
        title=title_style(title), barmode="group", height=380,
        xaxis={"title": {"text": _("dimension pair i (fast turning on the left, slow on the right)")}},
        yaxis={"title": {"text": _("share of the score")}},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
        margin={"l": 70, "r": 20, "t": top_margin(title) + 30, "b": 50},
    )
    return fig


def offset_scores_figure(offsets: np.ndarray, content: np.ndarray, position: np.ndarray,
                         counts: np.ndarray | None = None, *, title: str = "") -> go.Figure:
    """Mean score by offset ``key - query``: from content, from the rotation, and their sum (what was used)."""
    x = np.asarray(offsets, dtype=np.int64)
    c, p = _vector(content, "content"), _vector(position, "position")
    _same_length(offsets=x, content=c, position=p)
    n = np.ones_like(x) if counts is None else np.asarray(counts, dtype=np.int64)
    _same_length(offsets=x, counts=n)
    hover = (_("offset %{x}") + "<br>%{fullData.name}: %{y:.3f}<br>" + _("mean over %{customdata:,} pairs")
             + "<extra></extra>")
    fig = go.Figure([
        go.Scatter(x=x, y=c + p, mode=_mode(x.size), name=_(LINE_LABELS["rotated"]),
                   line={"color": ROTATED, "width": 4}, customdata=n, hovertemplate=hover),
        go.Scatter(x=x, y=c, mode=_mode(x.size), name=_(LINE_LABELS["content"]),
                   line={"color": CONTENT, "width": 2, "dash": "dash"}, customdata=n, hovertemplate=hover),
        go.Scatter(x=x, y=p, mode=_mode(x.size), name=_(LINE_LABELS["position"]), line={"color": POSITION},
                   customdata=n, hovertemplate=hover),
    ])
    fig.add_hline(y=0, line={"color": "lightgrey"})
    fig.update_layout(
        title=title_style(title), height=420,
        xaxis={"title": {"text": _("offset key - query (0: the query itself, -1: the token before)")},
               **({"dtick": 1} if x.size <= 21 else {})},
        yaxis={"title": {"text": _("mean score")}},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
        margin={"l": 70, "r": 20, "t": top_margin(title) + 30, "b": 50},
    )
    return fig
