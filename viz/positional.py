"""Positional encodings as figures: the vectors, their similarity, chosen dimensions, offset profiles.

The vectors' colour range is robust by default (``colour_range``): MiniLM's table has one dimension
reaching ±1.9 while almost every other value is within ±0.1, and a full range would draw it alone.

Heatmaps come from ``viz.heatmaps``' one factory: tokens, when given, are tick text on a category
axis of unique position labels so that repeated tokens stay apart; without tokens (a model's whole
table) the positions are plain numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from i18n import N_, _
from viz.heatmaps import heatmap_figure, heatmap_trace, title_style, token_axis

SCALES = {"robust": N_("robust range (outliers clipped)"), "full": N_("full range"),
          "dimension": N_("each dimension to its own range")}
METRICS = {"cosine": N_("cosine"), "dot": N_("dot")}  # a similarity's name on its colour bar and hover
ROBUST_PERCENTILE = 99.5  # of |value|: a few outlier dimensions no longer wash every other one out


@dataclass(frozen=True)
class ColourRange:
    """The colour range a positions heatmap uses: ``±limit``, and which dimensions go beyond it."""

    limit: float
    how: str  # a key of SCALES
    clipped: dict[int, float]  # dimension -> its largest |value|, for the dimensions beyond ±limit, largest first
    share_beyond: float = 0.0  # of all values, the share outside ±limit

    def describe(self, most: int = 5) -> str:
        """What a caption says of the range, e.g. ``colours clipped at ±0.073 ...; beyond: dim 99 (1.87) ...``."""
        if self.how == "dimension":
            return _("each dimension divided by its own largest |value|, so every column spans -1..1")
        limit = f"{self.limit:.3g}"
        if self.how == "full":
            return _("colours span the full range ±{limit}").format(limit=limit)
        text = _("colours clipped at ±{limit} (the {percentile}th percentile of |value|), symmetric about 0").format(
            limit=limit, percentile=f"{ROBUST_PERCENTILE:g}")
        if not self.clipped:
            return _("{range}; no dimension goes beyond it").format(range=text)
        dims = list(self.clipped.items())
        shown = _(", ").join(_("dim {dim} ({peak})").format(dim=d, peak=f"{v:.3g}") for d, v in dims[:most])
        more = _(" and {n} more").format(n=len(dims) - most) if len(dims) > most else ""
        return _("{range}; {share} of the values lie beyond it and are drawn at the ends of the "
                 "scale, in {n} dimensions: {dims}{more}").format(range=text, share=f"{self.share_beyond:.1%}",
                                                                 n=len(dims), dims=shown, more=more)


def colour_range(positions: np.ndarray, how: str = "robust") -> ColourRange:
    """The symmetric range to colour ``[positions, dims]`` with: ``robust`` (a high percentile of |value|),
    ``full`` (the largest |value|) or ``dimension`` (each column scaled to ±1)."""
    if how not in SCALES:
        raise ValueError(f"scale by one of {list(SCALES)}, not {how!r}")
    a = np.abs(np.asarray(positions, dtype=np.float32))
    top = float(a.max()) if a.size else 0.0
    if how == "dimension":
        return ColourRange(1.0, how, {})
    limit = float(np.percentile(a, ROBUST_PERCENTILE)) if how == "robust" and a.size else top
    limit = limit if limit > 0 else (top or 1.0)
    peaks = a.max(axis=0) if a.size else np.zeros(0)  # (dims,)
    beyond = [int(d) for d in np.argsort(-peaks) if peaks[d] > limit * (1 + 1e-6)]
    share = float(np.mean(a > limit * (1 + 1e-6))) if a.size else 0.0
    return ColourRange(limit, how, {d: float(peaks[d]) for d in beyond}, share)


def positions_heatmap(positions: np.ndarray, tokens: list[str] | None = None, *, title: str = "",
                      scale: str = "robust") -> go.Figure:
    """The positional vectors ``[positions, dims]``: one row per position, one column per dimension.

    ``scale`` picks the colour range (``colour_range``): by default a robust one, so that one outlier
    dimension does not wash out the rest; the colour bar says where the colours are clipped. With
    ``dimension`` each column is divided by its largest |value| and the hover still gives the value.
    """
    p = np.asarray(positions, dtype=np.float32)
    if p.ndim != 2:
        raise ValueError(f"positional vectors are [positions, dims], got shape {p.shape}")
    rng = colour_range(p, scale)
    if scale == "dimension":
        peaks = np.abs(p).max(axis=0)  # (dims,)
        z = p / np.where(peaks > 0, peaks, 1.0)[None, :]  # (positions, dims): each column within ±1
        style = {"customdata": p, "colorbar": {"title": {"text": _("value /<br>dim's max")}},
                 "hovertemplate": _("position %{y}<br>dimension %{x}<br>value %{customdata:.3f}"
                                    "<br>scaled %{z:.2f}") + "<extra></extra>"}
    else:
        z = p
        note = _("<br>clipped at<br>±{limit}").format(limit=f"{rng.limit:.3g}") if rng.clipped else ""
        style = {"colorbar": {"title": {"text": _("value") + note}}}
    trace = heatmap_trace(z, tokens, rows=_("position"), cols=_("dimension"), value=_("value"),
                          colorscale="RdBu", zmin=-rng.limit, zmax=rng.limit, reversescale=True, **style)
    return heatmap_figure(trace, title=title, xaxis=token_axis(None, _("dimension")),
                          yaxis=token_axis(tokens, _("position")))


def similarity_heatmap(sim: np.ndarray, tokens: list[str] | None = None, *, metric: str = "cosine",
                       title: str = "") -> go.Figure:
    """A ``[P, P]`` position-to-position similarity on a diverging scale centred on 0."""
    s = np.asarray(sim, dtype=np.float32)
    if s.ndim != 2 or s.shape[0] != s.shape[1]:
        raise ValueError(f"a similarity matrix is square, got shape {s.shape}")
    bounds = {"zmin": -1.0, "zmax": 1.0} if metric == "cosine" else {"zmid": 0.0}
    name = _(METRICS[metric]) if metric in METRICS else metric
    trace = heatmap_trace(s, tokens, tokens, rows=_("position"), cols=_("position"), value=name,
                          colorscale="RdBu", reversescale=True, colorbar_title=name, **bounds)
    return heatmap_figure(trace, title=title,
                          xaxis=token_axis(tokens, scaleanchor="y", constrain="domain"),
                          yaxis=token_axis(tokens, constrain="domain"))


def dimension_curves(positions: np.ndarray, dims: list[int], *, title: str = "") -> go.Figure:
    """Chosen dimensions as curves over position: one line per dimension."""
    p = np.asarray(positions, dtype=np.float32)
    if p.ndim != 2:
        raise ValueError(f"positional vectors are [positions, dims], got shape {p.shape}")
    bad = [d for d in dims if not 0 <= d < p.shape[1]]
    if bad:
        raise ValueError(f"dimensions {bad} are outside 0..{p.shape[1] - 1}")
    x = np.arange(p.shape[0])
    fig = go.Figure([
        go.Scatter(x=x, y=p[:, d], mode="lines", name=_("dim {dim}").format(dim=d),
                   hovertemplate=_("dim {dim}").format(dim=d) + "<br>" + _("position %{x}<br>value %{y:.3f}")
                   + "<extra></extra>")
        for d in dims
    ])
    fig.update_layout(
        title=title_style(title),
        xaxis={"title": {"text": _("position")}}, yaxis={"title": {"text": _("value")}},
        height=350, margin={"l": 60, "r": 20, "t": 60 if title else 30, "b": 40},
    )
    return fig


def offset_profile_heatmap(offsets: np.ndarray, profile: np.ndarray, *, title: str = "",
                           colorscale: str = "Blues") -> go.Figure:
    """Mean attention by relative offset ``key - query`` for every head: ``profile [L, H, offsets]``.

    One row per head (``L2 H5``), one column per offset: a previous-token head
    lights up at -1, a self head at 0, a next-token head at +1.
    """
    prof = np.asarray(profile, dtype=np.float32)
    offs = np.asarray(offsets)
    if prof.ndim != 3 or prof.shape[-1] != offs.shape[0]:
        raise ValueError(f"profile {prof.shape} does not match {offs.shape[0]} offsets")
    L, H, _n_offsets = prof.shape
    rows = [f"L{layer} H{head}" for layer in range(L) for head in range(H)]
    trace = heatmap_trace(prof.reshape(L * H, -1), rows=_("head"), cols=_("offset"), value=_("mean weight"), x=offs,
                          y=rows, colorscale=colorscale, zmin=0.0, colorbar_title=_("mean weight"))  # (L*H, offsets)
    return heatmap_figure(trace, title=title,
                          xaxis=token_axis(None, _("offset (key - query)"), dtick=1 if len(offs) <= 21 else None),
                          yaxis=token_axis(None, _("head"), type="category"))
