"""Step by step: how one head turns one query into its attention weights and output.

With the terms a Capture gives for one head (``Capture.score_terms``: the scaled q . k, a
relative-position bias where the family has one, a causal mask) and its value vectors:

1. scores  ``s_j = scale * q . k_j + bias_j`` (masked keys ``-inf``)
2. weights ``a = softmax(s)``
3. output  ``o = sum_j a_j v_j``
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from i18n import _
from viz.labels import axis_ticks, escape, position_labels


@dataclass(frozen=True)
class Step:
    """The numbers of one query in one head."""

    content: np.ndarray  # [keys]: scale * q . k
    bias: np.ndarray | None  # [keys]: the position bias added to it, where the family has one
    scores: np.ndarray  # [keys]: content + bias, -inf where masked
    weights: np.ndarray  # [keys], softmax of scores, sums to 1
    contributions: np.ndarray  # [keys, d_head]: weights[j] * v[j]
    output: np.ndarray  # [d_head]: the sum of the contributions

    @property
    def d_head(self) -> int:
        return self.output.shape[0]

    @property
    def output_norm(self) -> float:
        return float(np.linalg.norm(self.output))


def compute_step(terms: dict[str, np.ndarray], values: np.ndarray) -> Step:
    """One query's score ``terms`` (``content``, optional ``bias`` and ``mask``, each [keys]) and
    the head's ``values`` [keys, d_head]."""
    if "content" not in terms:
        raise ValueError("a step needs the content term q . k of its scores")
    content = np.asarray(terms["content"], dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if content.ndim != 1 or v.ndim != 2 or v.shape[0] != content.shape[0]:
        raise ValueError(f"need terms [n] and values [n, d]; got {content.shape}, {v.shape}")
    bias = None if "bias" not in terms else np.asarray(terms["bias"], dtype=np.float64)
    scores = content + (0.0 if bias is None else bias)
    if "mask" in terms:
        scores = scores + np.asarray(terms["mask"], dtype=np.float64)
    shifted = np.exp(scores - scores[np.isfinite(scores)].max())  # stable softmax
    weights = shifted / shifted.sum()
    contributions = weights[:, None] * v  # (n_keys, d)
    return Step(content=content, bias=bias, scores=scores, weights=weights, contributions=contributions,
                output=contributions.sum(axis=0))


def _bars(values: np.ndarray, key_tokens: list[str], title: str, axis_title: str, colour: str,
          hover: str) -> go.Figure:
    fig = go.Figure(go.Bar(
        x=position_labels(key_tokens), y=np.asarray(values, dtype=np.float32), marker_color=colour,
        hovertemplate=_("key %{x}") + f"<br>{hover} %{{y:.4f}}<extra></extra>",
    ))
    fig.update_layout(
        title={"text": escape(title)},
        xaxis={"tickangle": -60, **axis_ticks(key_tokens)},
        yaxis={"title": {"text": axis_title}},
        height=320, margin={"l": 60, "r": 20, "t": 50, "b": 80},
    )
    return fig


def scores_figure(step: Step, key_tokens: list[str], query_token: str, formula: str) -> go.Figure:
    """Bar per key: the score before the softmax (masked keys left out); with a position bias,
    its two terms stacked and their sum marked."""
    visible = np.isfinite(step.scores)
    title = _("1. scores of \u201c{token}\u201d: {formula}").format(token=query_token, formula=formula)
    score = _("score")
    if step.bias is None:
        return _bars(np.where(visible, step.scores, np.nan), key_tokens, title, score, "#7f7f7f", score)
    fig = _bars(np.where(visible, step.content, np.nan), key_tokens, title, score, "#7f7f7f", "q · k")
    fig.data[0].name = _("q · k (content)")
    x = fig.data[0].x
    bias = _("position bias")
    fig.add_bar(x=x, y=np.where(visible, step.bias, np.nan).astype(np.float32), name=bias,
                marker_color="#ff7f0e", hovertemplate=_("key %{x}") + f"<br>{bias} %{{y:.4f}}<extra></extra>")
    fig.add_scatter(x=x, y=np.where(visible, step.scores, np.nan).astype(np.float32), mode="markers",
                    name=_("score (sum)"), marker={"color": "#111111", "symbol": "line-ew-open", "size": 14},
                    hovertemplate=_("key %{x}") + f"<br>{score} %{{y:.4f}}<extra></extra>")
    fig.update_layout(barmode="relative", showlegend=True, legend={"orientation": "h", "y": 1.12, "x": 1,
                                                                   "xanchor": "right"})
    return fig


def weights_figure(step: Step, key_tokens: list[str], query_token: str) -> go.Figure:
    """Bar per key: the softmax weights, the row of the attention pattern."""
    weight = _("weight")
    fig = _bars(step.weights, key_tokens, _("2. softmax: the weights of \u201c{token}\u201d").format(token=query_token),
                weight, "#1f77b4", weight)
    fig.update_yaxes(range=[0, max(1e-9, float(step.weights.max())) * 1.05])
    return fig


def contributions_table(step: Step, key_tokens: list[str], top: int = 8) -> pd.DataFrame:
    """The keys whose weighted value vectors add most to the output, largest first (columns named in the
    session's language)."""
    norms = np.linalg.norm(step.contributions, axis=1)  # (n_keys,)
    value_norms = np.divide(norms, step.weights, out=np.zeros_like(norms), where=step.weights > 0)
    order = np.argsort(-norms, kind="stable")[:top]
    return pd.DataFrame({
        _("key"): order,
        _("token"): [key_tokens[j] for j in order],
        _("weight"): step.weights[order],
        "|v|": value_norms[order],
        _("|weight \u00b7 v|"): norms[order],
    })
