"""Generation: the tokens a decoder wrote, one step at a time, and what it attended to when writing each."""

from __future__ import annotations

import numpy as np
import streamlit as st

from export.names import file_name
from i18n import N_, _
from model import Capture
from ui.controls import chart_name, clamp_state, explain, hidden_tokens, index_slider, not_applied
from ui.figure import show
from ui.settings import Settings
from ui.text import plain
from viz.heatmaps import named_rows_heatmap
from viz.matrix_ops import hide_tokens

KIND = "decoder"
EXPLANATION = N_("""
A decoder writes one token at a time. At each step it reads the whole text so far, and the
**last** token's query attends over every earlier token (never a later one: the causal mask);
what comes out of the last layer there is turned into the next token (here the most likely
one, greedy decoding). The written token is appended and the model goes on.

So the token written at step *t* was chosen from the attention row of the token just before it.
Because the mask hides the future, that row is the same in the capture of the whole text as it
was at the moment of writing: nothing written later can change it.

- **At this step, each head**: one row per head of the chosen layer, the keys it attended to.
  Query heads that share a key/value head (grouped-query attention) are labelled with it (KV).
- **At this step, each layer**: the mean over a layer's heads, one row per layer.
- **Every step**: one row per written token, the chosen head's attention when it was written.

Many heads put much of each row on the very first token whatever it is: an *attention sink*
(Xiao et al. 2023). Softmax has to give its weight somewhere; a head with nothing useful to add
parks it on a token every query can see. The sidebar can hide it and renormalise rows.
""")


def head_names(cap: Capture) -> list[str]:
    """``H4 (KV1)`` where query heads share key/value heads, else ``H4``."""
    n, kv = cap.n_heads(KIND), cap.kv_heads[KIND]
    return [f"H{h} (KV{cap.kv_head(KIND, h)})" if kv < n else f"H{h}" for h in range(n)]


def not_generated(cap: Capture) -> bool:
    if cap.n_generated:
        return False
    if cap.architecture == "decoder":
        st.info(_("The model only read the prompt. Tick **Continue the text** in the sidebar to have it write, "
                  "then step through what it wrote here."))
    else:
        st.info(_("{model} does not continue a text: this view is for a decoder such as SmolLM2 (pick it in "
                  "the sidebar's Model menu). The translator's output is in the Translation view.").format(
                      model=cap.model_name))
    return True


def render(cap: Capture, settings: Settings) -> None:
    if not_generated(cap):
        return
    labels = cap.query_labels(KIND)
    n, first_written = len(labels), len(labels) - cap.n_generated
    st.markdown(_("What {model} **wrote** after the {n_prompt} tokens of the prompt ({n} tokens, marked ✎ on every "
                  "axis):").format(model=plain(cap.model_name), n_prompt=first_written, n=cap.n_generated))
    st.code(cap.output_text or "", language=None, wrap_lines=True)
    clamp_state("gen_step", 1, cap.n_generated)
    step = st.slider(_("Step"), 1, cap.n_generated, key="gen_step", persist_state="session",
                     help=_("Step t wrote the t-th token of the continuation."))
    written = first_written + step - 1  # the position of the token this step wrote
    query = written - 1  # the token whose attention row chose it
    st.markdown(_("Step {step} wrote **{token}** (position {position}), from the attention of **{query_token}** "
                  "(position {query}) over the {n} tokens before it.").format(
                      step=step, token=plain(labels[written]), position=written, query_token=plain(labels[query]),
                      query=query, n=query + 1))

    n_layers = cap.n_layers(KIND)
    layer = index_slider(st, _("Layer"), n_layers, "layer")
    ignored = not_applied(settings, sink=False, special=False)
    if ignored:
        st.caption(_("Not applied here ({settings}): the figures show every head of the layer.").format(
            settings=", ".join(ignored)))
    hide, first = hidden_tokens(cap, settings), settings.hide_sink
    keys = labels[:query + 1]

    def row_of(at_layer: int) -> tuple[np.ndarray, list[str]]:
        """Every head's row of the query at a layer over the keys it saw, the hidden keys dropped: ``[H, keys]``.
        Only that row is computed (``Capture.rows``), never the layer's whole matrices."""
        sub = cap.rows(KIND, at_layer, np.array([query]))[..., :query + 1]  # (H, 1, keys)
        w, _rows, kept = hide_tokens(sub, [labels[query]], keys, hide, first=first)
        return w[..., 0, :], kept

    heads, kept = row_of(layer)  # (H, keys)
    title = _("step {step}: each head of layer {layer} writing {token}").format(step=step, layer=layer,
                                                                               token=labels[written])
    show(named_rows_heatmap(heads, head_names(cap), kept, rows=_("head"), title=title,
                            colorscale=settings.colorscale),
         chart_name(cap, KIND, layer, f"step{step}_heads"), key="gen_heads_chart")

    layers = np.stack([row_of(i)[0].mean(axis=0) for i in range(n_layers)])  # (L, keys)
    show(named_rows_heatmap(layers, [f"L{i}" for i in range(n_layers)], kept, rows=_("layer"),
                            title=_("step {step}: mean of each layer's heads").format(step=step),
                            colorscale=settings.colorscale),
         file_name(cap.model_name, "all_layers", f"step{step}", KIND), key="gen_layers_chart")

    head = index_slider(st, _("Head"), cap.n_heads(KIND), "head")
    att = cap.rows(KIND, layer, np.arange(first_written - 1, n - 1), head=head)  # (written, n): the rows that chose
    names = [f"{i + 1} {labels[first_written + i]}" for i in range(cap.n_generated)]  # unique, never hidden
    steps, _rows, kept_all = hide_tokens(att, names, labels, hide, first=first)
    title = _("every step: {head} of layer {layer}").format(head=head_names(cap)[head], layer=layer)
    show(named_rows_heatmap(steps, names, kept_all, rows=_("step (token written)"), title=title,
                            colorscale=settings.colorscale),
         chart_name(cap, KIND, layer, f"H{head}_steps"), key="gen_steps_chart")
    explain(EXPLANATION)

