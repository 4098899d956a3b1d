"""Model view: every layer x head as a thumbnail; pick one to open it in the head view."""

from __future__ import annotations

import numpy as np
import streamlit as st

from i18n import N_, _
from model import Capture
from model.statistics import SINK_SHARE, sink_heads
from ui.controls import choose_kind, clamp_state, explain, hidden_tokens, kind_word
from ui.figure import show
from ui.settings import Settings
from ui.text import plain
from viz.grid import MAX_CELLS, model_view_figure, thumbnails
from viz.matrix_ops import hide_tokens

EXPLANATION = N_("""
Every head of every layer at once: rows are layers (L0 at the top), columns are heads.
Each thumbnail is that head's attention matrix, queries down and keys across, on one shared
colour scale from 0 to 1, so heads can be compared at a glance: a diagonal looks at the token
itself, a line just off it at the neighbour, a bright column at one token every query parks on
(often [SEP] or a full stop).

Long sentences are pooled to at most {max_cells} x {max_cells} cells a thumbnail, each cell showing
the strongest weight of the tokens it covers, which is what a thumbnail this small can show.
Choose a layer and head below and open it in the head view to read it token by token.
""")


def open_in_head_view() -> None:
    """Runs before the next rerun, so the head view's widgets are drawn with these values."""
    st.session_state["layer"] = st.session_state["grid_layer"]
    st.session_state["head"] = st.session_state["grid_head"]
    st.session_state["view"] = "Head view"


def open_clicked_panel() -> None:
    """A click on a thumbnail (its invisible point, trace 1) opens that head in the head view.

    The chart's ``on_select``: it runs before the rerun, so the head view is drawn with that head.
    """
    state = st.session_state.get("model_view_chart")
    points = state.get("selection", {}).get("points", []) if state else []
    panels = [p for p in points if p.get("curve_number") == 1]
    if not panels:
        return
    layer, head = divmod(int(panels[-1]["point_index"]), st.session_state["grid_heads"])
    st.session_state["grid_layer"], st.session_state["grid_head"] = layer, head
    open_in_head_view()


@st.cache_resource(max_entries=8, ttl=3600, show_spinner=False)
def hidden_thumbnails(model_name: str, text: str, new_tokens: int, kind: str, hide: frozenset[str], first: bool,
                      _cap: Capture) -> np.ndarray:
    """Thumbnails without the ``hide`` tokens (and the ``first``; rows renormalised), pooled a layer at a time.

    Keyed like ``get_capture`` (``_cap`` is that capture), so moving a widget does not pool them again.
    """
    q_tokens, k_tokens = _cap.query_labels(kind), _cap.key_labels(kind)
    thumbs = np.concatenate([thumbnails(hide_tokens(layer, q_tokens, k_tokens, hide, first=first)[0][None], MAX_CELLS)
                             for layer in _cap.layers(kind)])  # (L, H, q', k')
    thumbs.flags.writeable = False  # shared by every session
    return thumbs


def view_thumbnails(cap: Capture, settings: Settings, kind: str) -> np.ndarray:
    """uint8 ``[layers, heads, q, k]`` thumbnails: the capture's own, or pooled without the hidden tokens."""
    hide = hidden_tokens(cap, settings)
    if not hide and not settings.hide_sink:
        return cap.thumbnails(kind)
    return hidden_thumbnails(settings.model_name, settings.text, settings.max_new_tokens, kind, hide,
                             settings.hide_sink, cap)


def render(cap: Capture, settings: Settings) -> None:
    kind = choose_kind(cap)
    n_layers, n_heads = cap.shape(kind)[:2]
    clamp_state("layer", 0, n_layers - 1)
    clamp_state("head", 0, n_heads - 1)
    st.session_state["grid_heads"] = n_heads  # how the click handler reads a panel's index
    if "grid_layer" not in st.session_state or st.session_state["grid_layer"] >= n_layers:
        st.session_state["grid_layer"] = st.session_state["layer"]
    if "grid_head" not in st.session_state or st.session_state["grid_head"] >= n_heads:
        st.session_state["grid_head"] = st.session_state["head"]

    col1, col2, col3 = st.columns([1, 1, 2], vertical_alignment="bottom")
    layer = col1.selectbox(_("Layer"), range(n_layers), key="grid_layer", format_func=lambda i: f"L{i}")
    head = col2.selectbox(_("Head"), range(n_heads), key="grid_head", format_func=lambda i: f"H{i}")
    col3.button(_("Open L{layer} H{head} in the head view").format(layer=layer, head=head),
                on_click=open_in_head_view, key="grid_open")

    share = cap.first_share(kind)
    sinks = sink_heads(share)
    n_kv = cap.kv_heads[kind]
    labels = [f"H{h}<br>KV{cap.kv_head(kind, h)}" if n_kv < n_heads else f"H{h}" for h in range(n_heads)]
    title = _("{model} {kind}: {layers} layers x {heads} heads").format(
        model=cap.model_name, kind=kind_word(kind), layers=n_layers, heads=n_heads)
    if n_kv < n_heads:
        title = _("{title} sharing {n} key/value heads").format(title=title, n=n_kv)
    fig = model_view_figure(view_thumbnails(cap, settings, kind), title=title, colorscale=settings.colorscale,
                            selected=(layer, head), head_labels=labels, first_share=share, sinks=sinks)
    show(fig, f"{cap.model_name}_model_view_{kind}", key="model_view_chart",
         select=open_clicked_panel)
    if sinks.any():
        st.caption(_("▼ {n} of {total} heads are attention sinks: they put at least {share} of their attention on "
                     "the first token ({token}), whatever it is. Hide it in the sidebar to see how the rest is "
                     "shared.").format(n=int(sinks.sum()), total=sinks.size, share=f"{SINK_SHARE:.0%}",
                                       token=plain(cap.key_labels(kind)[0])))
    explain(_(EXPLANATION).format(max_cells=MAX_CELLS))
