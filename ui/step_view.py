"""Step by step: the scores, softmax and weighted sum of one query in one head, with this sentence's numbers."""

from __future__ import annotations

import streamlit as st

from i18n import N_, _
from model import Capture
from ui.controls import chart_name, choose_kind, clamp_state, explain, layer_head, not_applied
from ui.figure import show
from ui.settings import Settings
from ui.text import plain
from viz.steps import compute_step, contributions_table, scores_figure, weights_figure

EXPLANATION = N_("""
Self-attention, for one query token in one head, is three steps:

1. **Scores.** The query vector *q* of the chosen token is compared with the key vector *k* of
   every token by a dot product. Most models divide it by sqrt(d_head) so the scores do not grow
   with the vector size; T5 does not, and adds a learned bias for how far each key is from the
   query (shown as its own term). A decoder's query cannot see later keys (a causal mask).
2. **Softmax.** exp(score) / sum of exp(scores): the scores become weights that are positive and
   sum to 1. This row is exactly the row of the head view's heatmap.
3. **Weighted sum.** The head's output for this token is sum of weight x value vector *v*.
   The table lists the keys whose weighted values add most to it.

The vectors are the model's own, read through the q/k/v hook points during the same forward pass.
Hidden special tokens and combined heads (sidebar) do not apply here: this is one real head.
""")


def render(cap: Capture, settings: Settings) -> None:
    kind = choose_kind(cap)
    layer, head = layer_head(cap.q[kind])  # its shape starts (layers, heads)
    q_tokens, k_tokens = cap.query_labels(kind), cap.key_labels(kind)
    if "query" not in st.session_state:
        st.session_state["query"] = min(1, len(q_tokens) - 1)  # the first word rather than [CLS]
    clamp_state("query", 0, len(q_tokens) - 1)
    query = st.selectbox(_("Query token"), range(len(q_tokens)), key="query",
                         format_func=lambda i: f"{i} {q_tokens[i]}")
    ignored = not_applied(settings)
    if ignored:
        st.caption(_("Not applied here ({settings}): these are the numbers of one real head, every token "
                     "included.").format(settings=", ".join(ignored)))

    form = cap.score_forms[kind]
    terms = cap.score_terms(kind, layer, head)
    row = {name: t[min(query, t.shape[0] - 1)] for name, t in terms.items()}  # the mask may be one shared row
    step = compute_step(row, cap.v[kind][layer, cap.kv_head(kind, head)])
    token = q_tokens[query]
    shown = plain(token)
    name = chart_name(cap, kind, layer, f"H{head}_q{query}")

    formula = form.describe()
    scale = "" if form.scale == 1.0 else _(" (× {scale}, one over √{d_head})").format(scale=f"{form.scale:.4f}",
                                                                                      d_head=step.d_head)
    bias = (_(" plus a learned bias for the key's distance from the query, its own bars")
            if step.bias is not None else "")
    st.markdown(_("**1. Scores.** How well the query of *{token}* matches each key: {formula}{scale}{bias}.").format(
        token=shown, formula=plain(formula), scale=scale, bias=bias))
    show(scores_figure(step, k_tokens, token, formula), f"{name}_scores", key="step_scores_chart")
    st.markdown(_("**2. Softmax.** exp of each score over the sum of them all: positive weights summing to 1, "
                  "the same numbers as this row of the head view when nothing is hidden there."))
    show(weights_figure(step, k_tokens, token), f"{name}_weights", key="step_weights_chart")
    st.markdown(_("**3. Weighted sum.** The head's output for *{token}* is \u03a3 weight \u00b7 v over all keys, "
                  "a vector of {d_head} numbers with length |output| = {norm}. The keys that add most:").format(
                      token=shown, d_head=step.d_head, norm=f"{step.output_norm:.3f}"))
    st.dataframe(contributions_table(step, k_tokens), hide_index=True,
                 column_config={c: st.column_config.NumberColumn(format="%.3f")
                                for c in (_("weight"), "|v|", _("|weight \u00b7 v|"))})
    explain(EXPLANATION)
