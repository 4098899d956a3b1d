"""Step by step: how one head turns one query into its attention weights and output.

With the real per-head vectors of a Capture (``qkv[kind][q|k|v]``, ``[layers, heads, tokens, d_head]``):

1. scores  ``s_j = q . k_j / sqrt(d_head)``
2. weights ``a = softmax(s)`` (keys a decoder may not see yet get ``-inf``, so weight 0)
3. output  ``o = sum_j a_j v_j``
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from viz.labels import axis_ticks, escape, position_labels


@dataclass(frozen=True)
class Step:
    """The numbers of one query in one head."""

    scores: np.ndarray  # [keys], scaled, -inf where masked
    weights: np.ndarray  # [keys], softmax of scores, sums to 1
    contributions: np.ndarray  # [keys, d_head]: weights[j] * v[j]
    output: np.ndarray  # [d_head]: the sum of the contributions
    d_head: int

    @property
    def output_norm(self) -> float:
        return float(np.linalg.norm(self.output))


def compute_step(q: np.ndarray, keys: np.ndarray, values: np.ndarray, causal: bool = False,
                 query: int | None = None) -> Step:
    """``q`` [d_head], ``keys`` and ``values`` [n_keys, d_head].

    ``causal`` masks the keys after ``query`` (decoder self-attention).
    """
    q = np.asarray(q, dtype=np.float64)
    k = np.asarray(keys, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if q.ndim != 1 or k.ndim != 2 or v.shape != k.shape or k.shape[1] != q.shape[0]:
        raise ValueError(f"need q [d], keys and values [n, d]; got {q.shape}, {k.shape}, {v.shape}")
    d = q.shape[0]
    scores = k @ q / np.sqrt(d)  # (n_keys,)
    if causal:
        if query is None:
            raise ValueError("a causal step needs the query's position")
        scores = np.where(np.arange(k.shape[0]) > query, -np.inf, scores)
    shifted = np.exp(scores - scores[np.isfinite(scores)].max())  # stable softmax
    weights = shifted / shifted.sum()
    contributions = weights[:, None] * v  # (n_keys, d)
    return Step(scores=scores, weights=weights, contributions=contributions,
                output=contributions.sum(axis=0), d_head=d)


def _bars(values: np.ndarray, key_tokens: list[str], title: str, axis_title: str, colour: str,
          hover: str) -> go.Figure:
    fig = go.Figure(go.Bar(
        x=position_labels(key_tokens), y=np.asarray(values, dtype=np.float32), marker_color=colour,
        hovertemplate=f"key %{{x}}<br>{hover} %{{y:.4f}}<extra></extra>",
    ))
    fig.update_layout(
        title={"text": escape(title)},
        xaxis={"tickangle": -60, **axis_ticks(key_tokens)},
        yaxis={"title": {"text": axis_title}},
        height=320, margin={"l": 60, "r": 20, "t": 50, "b": 80},
    )
    return fig


def scores_figure(step: Step, key_tokens: list[str], query_token: str) -> go.Figure:
    """Bar per key: the scaled dot product, before the softmax (masked keys are left out)."""
    shown = np.where(np.isfinite(step.scores), step.scores, np.nan)
    return _bars(shown, key_tokens, f"1. scores of \u201c{query_token}\u201d: q \u00b7 k / \u221a{step.d_head}",
                 "score", "#7f7f7f", "score")


def weights_figure(step: Step, key_tokens: list[str], query_token: str) -> go.Figure:
    """Bar per key: the softmax weights, the row of the attention pattern."""
    fig = _bars(step.weights, key_tokens, f"2. softmax: the weights of \u201c{query_token}\u201d",
                "weight", "#1f77b4", "weight")
    fig.update_yaxes(range=[0, max(1e-9, float(step.weights.max())) * 1.05])
    return fig


def contributions_table(step: Step, key_tokens: list[str], top: int = 8) -> pd.DataFrame:
    """The keys whose weighted value vectors add most to the output, largest first."""
    norms = np.linalg.norm(step.contributions, axis=1)  # (n_keys,)
    value_norms = np.divide(norms, step.weights, out=np.zeros_like(norms), where=step.weights > 0)
    order = np.argsort(-norms, kind="stable")[:top]
    return pd.DataFrame({
        "key": order,
        "token": [key_tokens[j] for j in order],
        "weight": step.weights[order],
        "|v|": value_norms[order],
        "|weight \u00b7 v|": norms[order],
    })
