"""Lines view: the tokens in two columns and a line from each query to each key, one colour per head."""

from __future__ import annotations

import streamlit as st

from i18n import N_, _
from model import Capture
from ui.controls import chart_name, choose_kind, combined_name, explain, hidden_tokens, index_slider, kind_word
from ui.figure import show
from ui.settings import Settings
from viz.lines import COMPACT_FROM, lines_figure
from viz.matrix_ops import combine_heads, hide_tokens

EXPLANATION = N_("""
Queries on the left, keys on the right. A line from a query to a key means the query attends
to it; the stronger the weight, the more opaque and thick the line. Each head has its own colour:
it starts with the head chosen in the other views; add heads to compare them (all of a layer at
once blur together), or pick a token to keep only its lines. Lines under 2% are not drawn.
Clicking a head in the legend hides it too. With the sidebar's "mean of layer" or "max of layer",
the lines are those of the layer's heads combined.
""")

# Beyond this many tokens every-token lines are a blur: a token is picked for the user.
MAX_ALL_LINES = COMPACT_FROM


def all_heads(n_heads: int) -> None:
    st.session_state["lines_heads"] = list(range(n_heads))


def render(cap: Capture, settings: Settings) -> None:
    kind = choose_kind(cap)
    n_layers, n_heads = cap.shape(kind)[:2]
    hide = hidden_tokens(cap, settings)
    combined = settings.combine != "head"
    col1, col2, col3 = st.columns([2, 4, 1], vertical_alignment="bottom")
    layer = index_slider(col1, _("Layer"), n_layers, "layer")
    chosen = min(st.session_state.get("head", 0), n_heads - 1)
    if "lines_heads" not in st.session_state or any(h >= n_heads for h in st.session_state["lines_heads"]):
        st.session_state["lines_heads"] = [chosen]  # the head in focus, not a hairball of every head
    heads = col2.multiselect(_("Heads"), list(range(n_heads)), key="lines_heads", format_func=lambda h: f"H{h}",
                             placeholder=_("Choose options"), disabled=combined,
                             help=_("Off while the heads of a layer are combined (sidebar).")
                             if combined else None)
    col3.button(_("All heads"), on_click=all_heads, args=(n_heads,), disabled=combined, key="lines_all")

    weights, q_tokens, k_tokens = hide_tokens(cap.layer(kind, layer), cap.query_labels(kind), cap.key_labels(kind),
                                              hide, first=settings.hide_sink)  # (heads, Q, K): the one layer drawn
    names = None
    if combined:
        weights = combine_heads(weights, settings.combine)[None]  # (1, Q, K)
        heads, names = [0], [combined_name(settings.combine, n_heads)]
    many = max(len(q_tokens), len(k_tokens)) > MAX_ALL_LINES
    options = list(range(len(q_tokens))) if many else [None, *range(len(q_tokens))]
    if st.session_state.get("lines_token") not in options:
        st.session_state["lines_token"] = options[min(1, len(options) - 1)] if many else None  # a word, not [CLS]
    token = st.selectbox(_("Only the lines of token"), options, key="lines_token", placeholder=_("all tokens"),
                         format_func=lambda i: _("all tokens") if i is None else f"{i} {q_tokens[i]}")
    if many:
        st.caption(_("{n} tokens: one token's lines at a time, to the keys they reach.").format(
            n=max(len(q_tokens), len(k_tokens))))
    if not heads:
        st.info(_("Pick at least one head."))
        return
    title = _("{model} {kind} layer {layer}").format(model=cap.model_name, kind=kind_word(kind), layer=layer)
    if names:
        title = _("{title}, {combined}").format(title=title, combined=names[0])
    fig = lines_figure(weights, q_tokens, k_tokens, heads=heads, token=token, title=title, names=names)
    show(fig, chart_name(cap, kind, layer, settings.combine if combined else "lines"), key="lines_chart")
    explain(EXPLANATION)
