"""Translation: what the encoder-decoder wrote, and where each output token looked in the source."""

from __future__ import annotations

import streamlit as st

from i18n import N_, _
from model import Capture
from ui.controls import clamp_state, explain
from ui.figure import show
from ui.settings import Settings
from viz.alignment import alignment_grid, alignment_heatmap, alignment_rows, head_mean, step_bars, written_tokens

SCOPE = N_("The translator learned complete English dates, such as \u201cthe third of march nineteen ninety "
         "eight\u201d or \u201cdecember 31st, 1999\u201d (years 1900-2099), and nothing else: for other text "
         "its output is a guess.")
EXPLANATION = N_("""
An encoder-decoder, such as the translator trained in this repository to turn English dates into ISO
dates ("the third of march nineteen ninety eight" -> 1998-03-03), has two stacks. The **encoder** reads the source;
the **decoder** writes the output one token at a time, each step reading the tokens it already wrote
(decoder self-attention, causal) and the encoded source (**cross-attention**).

A row of the alignment is one decoding step, labelled by the token that step wrote; its columns are
the source tokens and the row sums to 1. Because ISO dates start with the year, the first rows look at
the end of the source: the alignment is not a diagonal. The stepper walks through the steps one by one.
Encoder and decoder self-attention are in the other views (pick the attention kind there).
""")


def not_a_translation(cap: Capture) -> bool:
    if "cross" in cap.kinds and cap.target_tokens is not None and len(cap.target_tokens) >= 2:
        return False
    st.info(_("{model} writes no output: this view is for an encoder-decoder. "
              "Pick the translator in the sidebar's Model menu.").format(model=cap.model_name))
    return True


def render(cap: Capture, settings: Settings) -> None:
    if not_a_translation(cap):
        return
    out_tokens = written_tokens(cap.target_tokens)
    n_layers, n_heads = cap.shape("cross")[:2]
    n_steps = len(out_tokens)

    st.markdown(_("**Output**"))
    st.code(cap.output_text or "", language=None)
    if cap.model_name == "translator":
        st.caption(_(SCOPE))

    clamp_state("translation_layer", 0, n_layers - 1)
    layer = st.select_slider(_("Decoder layer"), list(range(n_layers)), key="translation_layer",
                             help=_("Cross-attention of this decoder layer."))
    clamp_state("translation_step", 1, n_steps)
    if n_steps == 1:  # a slider needs two ends
        step = 1
    else:
        step = st.slider(_("Output step"), 1, n_steps, key="translation_step",
                         help=_("Which output token to follow: the row outlined in the alignment."))
    row = step - 1
    cross = alignment_rows(cap.layer("cross", layer), cap.target_tokens)  # (H, steps, S): the layer shown
    mean = head_mean(cross)  # (steps, S)
    written = out_tokens[row]
    so_far = "".join(out_tokens[:row])
    st.markdown(_("Step {step} of {n}: after `{so_far}` the decoder writes **`{written}`**.").format(
        step=step, n=n_steps, so_far=so_far or "<s>", written=written))

    left, right = st.columns(2)
    with left:
        fig = alignment_heatmap(mean, cap.tokens, out_tokens, colorscale=settings.colorscale, highlight=row,
                                title=_("Cross-attention, layer {layer}, mean of {n} heads").format(
                                    layer=layer, n=n_heads))
        show(fig, f"{cap.model_name}_L{layer}_mean_cross_alignment", key="translation_alignment_chart")
    with right:
        bars = step_bars(mean[row], cap.tokens, written, step,
                         title=_("Step {step}: writing '{token}' looks at (layer {layer}, mean of heads)").format(
                             step=step, token=written, layer=layer))
        show(bars, f"{cap.model_name}_L{layer}_step{step}_cross", key="translation_step_chart")

    grid = alignment_grid(cross, cap.tokens, out_tokens, colorscale=settings.colorscale,
                          title=_("Each head of layer {layer}").format(layer=layer))
    show(grid, f"{cap.model_name}_L{layer}_heads_cross_alignment", key="translation_heads_chart")
    explain(EXPLANATION)
