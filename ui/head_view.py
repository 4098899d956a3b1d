"""Head view: one head (or the heads of a layer combined) as a heatmap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from i18n import N_, _
from model import Capture
from model.readable import character_names
from model.statistics import confidence
from ui.controls import (
    chart_name,
    choose_kind,
    clamp_state,
    combined_name,
    explain,
    hidden_tokens,
    kind_word,
    layer_head,
)
from ui.figure import show
from ui.landing import is_landing
from ui.settings import Settings
from viz.heatmaps import attention_heatmap, overview_heatmap
from viz.matrix_ops import (
    group_label,
    keep_indices,
    merge_groups,
    span_groups,
    strongest_in_blocks,
    top_k_rows,
    top_p_rows,
    value_weighted,
    view_matrix,
    word_groups,
)

EXPLANATION = N_("""
Each row is a **query** token, each column a **key** token; a cell is how much of the query's
attention goes to that key, so every row sums to 1. Dark cells are strong links.
Repeated tokens keep their own row and column (hover shows position, token and weight).

- **Highlight** outlines a token's row (what it attends to) and column (what attends to it).
- **Strongest links** keeps the *k* largest weights of each row, or the fewest keys that
  together hold a chosen share of it (e.g. 70%), and blanks the rest.
- **weight × |value|** scales each key's column by the length of its value vector: a key that
  takes much weight but carries a tiny value moves the output little (Kobayashi et al. 2020,
  "Attention is not only a weight"). The colour range is then this head's own.
- **Words** merges the pieces of a word (`##ing`, or pieces without a word-start mark) and a
  **span** merges the tokens you pick: their columns are summed (what a query gives them all)
  and their rows averaged (so rows still sum to 1).
- The sidebar can hide [CLS]/[SEP] (rows are rescaled to sum to 1 again: many heads park
  their attention on [SEP] as a "no-op") and combine the heads of a layer by mean or max.
""")

LANDED = N_("Opened at a head with a clear pattern, not at layer 0, head 0: of all heads, the most confident "
            "one that does not rest on [CLS], [SEP] or the first token (here each row gives its strongest key "
            "{share} on average). The sliders reach every other head.")
FILTERS = {"all": N_("all links"), "top-k": N_("top k per row"), "top-p": N_("share of each row")}
CELLS = {"weight": N_("weight"), "value": N_("weight × |value|")}
PIECES = {"pieces": N_("token pieces"), "words": N_("words")}
RANGES = {"fixed": "0-1", "head": N_("this head's range")}
LONG_FROM = 512  # beyond this many queries or keys, an overview of blocks and a window at full resolution
WINDOW = 128  # tokens a side the window draws, each with its label
OVERVIEW_CELLS = 128  # blocks a side of the overview: a 2,048-token head in 16 x 16 blocks


def regroup(w, q_tokens: list[str], k_tokens: list[str], cap: Capture, kind: str, settings: Settings):
    """The matrix with word pieces and a chosen span merged, and the labels of what is left."""
    col1, col2 = st.columns([1, 3])
    pieces = col1.radio(_("Tokens as"), list(PIECES), format_func=lambda k: _(PIECES[k]), horizontal=True,
                        key="pieces")
    same = q_tokens == k_tokens
    groups = word_groups(k_tokens, cap.special_labels) if pieces == "words" else [[i] for i in range(len(k_tokens))]
    labels = [group_label(k_tokens, g) for g in groups]
    if not same:  # cross-attention: words of the source only
        return merge_groups(w, [[i] for i in range(len(q_tokens))], groups), q_tokens, labels
    options = list(range(len(groups)))
    st.session_state["span"] = [i for i in st.session_state.get("span", []) if i in options]
    span = col2.multiselect(_("Span: tokens to count as one"), options, key="span", placeholder=_("Choose options"),
                            format_func=lambda i: f"{i} {labels[i]}")
    if len(span) > 1:
        merged = span_groups(len(groups), span)
        groups = [[i for g in merged_group for i in groups[g]] for merged_group in merged]
        labels = [" ".join(labels[g] for g in merged_group) for merged_group in merged]
    if len(groups) == len(k_tokens):
        return w, q_tokens, k_tokens
    return merge_groups(w, groups, groups), labels, labels


def render(cap: Capture, settings: Settings) -> None:
    kind = choose_kind(cap)
    combined = settings.combine != "head"
    n_heads = cap.n_heads(kind)
    layer, head = layer_head(cap.shape(kind), head_disabled=combined)
    # one head's weights, or the layer's heads when they are combined: only what is drawn is built
    weights = cap.layer(kind, layer) if combined else cap.head(kind, layer, head)[None]  # (heads or 1, Q, K)
    if not combined and is_landing(kind, layer, head):
        st.caption(_(LANDED).format(share=f"{float(confidence(weights[0])):.0%}"))
    w, q_tokens, k_tokens = view_matrix(weights, cap.query_labels(kind), cap.key_labels(kind), head=0,
                                        combine=settings.combine, hide=hidden_tokens(cap, settings),
                                        first=settings.hide_sink)

    cells = st.radio(_("Cells show"), list(CELLS), format_func=lambda k: _(CELLS[k]), horizontal=True, key="cells",
                     disabled=combined, help=_("One head at a time.") if combined else None)
    zmax: float | None = 1.0  # None: weight × |value|, whose range is the head's own
    if cells == "value" and not combined:
        norms = np.linalg.norm(cap.v[kind][layer, cap.kv_head(kind, head)], axis=-1)  # (keys,): |v_j|
        kept = keep_indices(cap.key_labels(kind), hidden_tokens(cap, settings), drop_first=settings.hide_sink)
        w = value_weighted(w, norms[kept])
        zmax = None
    w, q_tokens, k_tokens = regroup(w, q_tokens, k_tokens, cap, kind, settings)

    col1, col2, col3 = st.columns([2, 2, 1])
    options = [None, *range(len(q_tokens))]
    if st.session_state.get("highlight") not in options:
        st.session_state["highlight"] = None
    highlight = col1.selectbox(_("Highlight a token"), options, key="highlight", placeholder=_("none"),
                               format_func=lambda i: _("none") if i is None else f"{i} {q_tokens[i]}")
    mode = col2.radio(_("Strongest links"), list(FILTERS), format_func=lambda k: _(FILTERS[k]), horizontal=True,
                      key="filter_mode")
    if mode == "top-k":
        st.session_state.setdefault("top_k", 3)
        clamp_state("top_k", 1, len(k_tokens))  # a k kept from a longer sentence
        k = col3.number_input("k", 1, len(k_tokens), key="top_k", persist_state="session")
        w = top_k_rows(w, int(k))
    elif mode == "top-p":
        st.session_state.setdefault("top_p", 0.7)
        p = col3.slider(_("share"), 0.05, 1.0, step=0.05, key="top_p", persist_state="session")
        w = top_p_rows(w, float(p))

    what = f"H{head}" if not combined else f"{settings.combine}_of_heads"
    if combined:
        title = _("{model} {kind} layer {layer} {combined}").format(
            model=cap.model_name, kind=kind_word(kind), layer=layer, combined=combined_name(settings.combine, n_heads))
    else:
        title = _("{model} {kind} layer {layer} head {head}").format(model=cap.model_name, kind=kind_word(kind),
                                                                     layer=layer, head=head)
    if not combined and cap.kv_heads[kind] < n_heads:  # grouped-query attention: say which keys it reads
        title = _("{title} (key/value head {kv_head}, shared by {n})").format(
            title=title, kv_head=cap.kv_head(kind, head), n=n_heads // cap.kv_heads[kind])
    if zmax is None:
        title = _("{title}: weight × |value|").format(title=title)
    own_range = choose_range() if zmax is not None else False
    if max(w.shape) > LONG_FROM:
        render_long(w, q_tokens, k_tokens, title, own_range, zmax is None, highlight, settings,
                    chart_name(cap, kind, layer, what))
    else:
        top, value = colour_top(w, own_range, zmax is None)
        fig = attention_heatmap(w, q_tokens, k_tokens, title=title, colorscale=settings.colorscale,
                                highlight=highlight, zmax=top, value=value)
        show(fig, chart_name(cap, kind, layer, what), key="head_view_chart")
    with st.expander(_("The tokens, character by character")):
        st.dataframe(token_table(cap, kind), hide_index=True, width="stretch")
    explain(EXPLANATION)


def token_table(cap: Capture, kind: str) -> pd.DataFrame:
    """Each query token: its position, how it is shown, the tokenizer's own spelling and its characters named."""
    labels, raw = cap.query_labels(kind), cap.query_tokens(kind)
    return pd.DataFrame({_("position"): range(len(labels)), _("shown as"): labels, _("token"): raw,
                         _("characters"): [character_names(label) for label in labels]})


def choose_range() -> bool:
    """Whether the colour scale spans this head's own range rather than 0-1."""
    scale = st.radio(_("Colour range"), list(RANGES), format_func=lambda k: _(RANGES[k]), horizontal=True,
                     key="head_range",
                     help=_("0-1 compares heads by colour; a head's own range shows the pattern of a diffuse head, "
                            "or of a long input whose weights are all small."))
    return scale == "head"


def colour_top(w: np.ndarray, own_range: bool, value_weighted: bool) -> tuple[float | None, str]:
    """The colour scale's top for ``w`` and the colour bar's title, which says what the range is."""
    if value_weighted:
        return None, _("weight × |v|")
    top = float(np.max(w)) if w.size else 0.0
    if own_range and top > 0:
        return top, _("attention (0-{top}, this head's range)").format(top=f"{top:.3g}")
    return 1.0, _("attention (0-1)")


def render_long(w: np.ndarray, q_tokens: list[str], k_tokens: list[str], title: str, own_range: bool,
                value_weighted: bool, highlight: int | None, settings: Settings, name: str) -> None:
    """A long input: every cell pooled into an overview, and a window of it at full resolution, token by token.
    With the head's own range, each figure's colour scale spans what that figure holds."""
    n_q, n_k = w.shape
    size_q, size_k = min(WINDOW, n_q), min(WINDOW, n_k)
    st.session_state.setdefault("win_q", n_q - size_q)  # the last queries (a decoder's newest tokens)
    st.session_state.setdefault("win_k", max(n_k - size_k, 0) if n_q == n_k else 0)
    clamp_state("win_q", 0, n_q - size_q)
    clamp_state("win_k", 0, n_k - size_k)
    col1, col2 = st.columns(2)
    q0 = col1.number_input(_("Window: queries from (of {n})").format(n=n_q), 0, n_q - size_q, step=size_q // 2,
                           key="win_q", persist_state="session")
    k0 = col2.number_input(_("keys from (of {n})").format(n=n_k), 0, n_k - size_k, step=size_k // 2, key="win_k",
                           persist_state="session")
    q1, k1 = q0 + size_q, k0 + size_k
    st.caption(_("{n} tokens: the overview pools each block of cells into its strongest weight (hover names that "
                 "cell); the outlined {rows} x {cols} window is drawn below at full resolution.").format(
                     n=max(n_q, n_k), rows=size_q, cols=size_k))
    pooled, query_at, key_at = strongest_in_blocks(w, OVERVIEW_CELLS)
    top, value = colour_top(pooled, own_range, value_weighted)
    show(overview_heatmap(pooled, query_at, key_at, n_q, n_k, window=(q0, q1, k0, k1),
                          title=_("{title}: overview").format(title=title),
                          colorscale=settings.colorscale, zmax=top, value=value), f"{name}_overview",
         key="head_view_overview")
    window = w[q0:q1, k0:k1]
    top, value = colour_top(window, own_range, value_weighted)
    shown = highlight - q0 if highlight is not None and q0 <= highlight < q1 else None
    window_title = _("{title}: queries {first_query}-{last_query}, keys {first_key}-{last_key}").format(
        title=title, first_query=q0, last_query=q1 - 1, first_key=k0, last_key=k1 - 1)
    fig = attention_heatmap(window, q_tokens[q0:q1], k_tokens[k0:k1], title=window_title,
                            colorscale=settings.colorscale, highlight=shown, zmax=top, value=value,
                            first_query=q0, first_key=k0)
    show(fig, f"{name}_q{q0}_k{k0}", key="head_view_chart")
