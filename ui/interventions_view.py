"""Interventions: which heads the model needs. Knock heads out or patch them, see the output change."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from i18n import N_, _
from model import Capture, capture
from model.interventions import (
    MODES,
    Outcome,
    agreement,
    attribution,
    head_importance,
    intervene,
    intervening,
    measure_name,
    patch_source,
    plan_of,
)
from ui.compare_view import show_pair
from ui.controls import choose_kind, explain, kind_word, layer_head
from ui.figure import show
from ui.settings import Settings
from ui.state import get_model
from ui.text import plain
from viz.compare import Panel
from viz.importance import effect_grid, importance_figure

MODE_NAMES = {"zero": N_("zero its output"), "mean": N_("its mean over positions"),
              "patch": N_("patch from a second sentence")}

EXPLANATION = N_("""
A heatmap shows where a head looks, not whether the model needs it. Here a head's **output**
(its slice of the attention output, before the output projection mixes the heads) is replaced,
and the change in what the model produces is measured:

- **zero**: the head contributes nothing (Michel et al. 2019, "Are Sixteen Heads Really Better than One?");
- **mean**: the head gives the same output at every position, its average over this sentence;
- **patch**: the head gives what it gave on a second sentence of the same token length (activation
  patching: a clean and a corrupted sentence, e.g. "The Eiffel Tower is in" / "The Colosseum is in").

The map ranks every head alone: each cell is one run of the model with only that head replaced
(exact). The **estimate** is one backward pass: the gradient of the measure times the change of
each head's output, a fast first look; its agreement with the exact ranking (Spearman's rank
correlation) is given beside it. It is weakest for a sentence embedding, whose 1 − cosine is flat
where nothing has changed yet. Click a cell to add that head to the ones knocked out below.
""")


# spinners are shown by the callers, in the session's language
@st.cache_resource(max_entries=16, ttl=3600, show_spinner=False)
def exact_importance(model_name: str, text: str, mode: str, corrupted: str | None,
                     continuation: str | None) -> pd.DataFrame:
    return head_importance(get_model(model_name), text, mode, corrupted, continuation)


@st.cache_resource(max_entries=16, ttl=3600, show_spinner=False)
def estimated_importance(model_name: str, text: str, mode: str, corrupted: str | None,
                         continuation: str | None) -> pd.DataFrame:
    return attribution(get_model(model_name), text, mode, corrupted, continuation)


@st.cache_resource(max_entries=16, ttl=3600, show_spinner=False)
def outcome_of(model_name: str, text: str, heads: tuple, mode: str, corrupted: str | None,
               continuation: str | None) -> tuple[Outcome, Capture]:
    """The measured effect of replacing ``heads`` at once, and the capture the model makes without them."""
    model = get_model(model_name)
    outcome = intervene(model, text, heads, mode, corrupted, continuation)
    with intervening(model, plan_of(heads), mode, patch_source(model, text, corrupted, mode)):
        changed = capture(model, text)
    return outcome, changed


def head_label(head: tuple[str, int, int]) -> str:
    kind, layer, h = head
    return f"{kind_word(kind)} L{layer} H{h}"


def inputs(cap: Capture) -> tuple[str, str | None, str | None]:
    """The replacement mode, the patch's second sentence and a decoder's continuation, from widgets."""
    col1, col2 = st.columns([1, 2])
    mode = col1.radio(_("Replace each head's output by"), MODES, format_func=lambda m: _(MODE_NAMES[m]),
                      key="iv_mode")
    corrupted = continuation = None
    if mode == "patch":
        corrupted = col2.text_input(_("Second sentence (same number of tokens)"), key="iv_corrupted",
                                    placeholder=_("e.g. the same sentence with one name changed"))
    if cap.architecture == "decoder":
        continuation = col2.text_input(_("Score a continuation instead of the next token (optional)"),
                                       key="iv_continuation") or None
    return mode, corrupted or None, continuation


def take_clicked_head(kind: str, n_heads: int) -> None:
    """Add the head whose cell was clicked in the map to the heads knocked out, once per click.

    Read from the chart's state before the chart and the head picker are drawn, so both show it.
    """
    state = st.session_state.get("iv_map")
    points = state.get("selection", {}).get("points", []) if state else []
    cells = [p for p in points if p.get("curve_number") == 1]  # the invisible points, one per cell, row by row
    click = (kind, cells[-1]["point_index"]) if cells else None
    if click is None or click == st.session_state.get("iv_last_click"):
        return
    st.session_state["iv_last_click"] = click
    layer, head = divmod(int(click[1]), n_heads)
    chosen = list(st.session_state.get("iv_heads", []))
    if (kind, layer, head) not in chosen:
        st.session_state["iv_heads"] = [*chosen, (kind, layer, head)]


def render(cap: Capture, settings: Settings) -> None:
    mode, corrupted, continuation = inputs(cap)
    if mode == "patch" and not corrupted:
        st.info(_("Type a second sentence with the same number of tokens to patch the heads from."))
        return
    model_name, text = settings.model_name, settings.text
    measure = measure_name(get_model(model_name), continuation)
    try:
        with st.spinner(_("One backward pass...")):
            estimate = estimated_importance(model_name, text, mode, corrupted, continuation)
        exact = None
        if st.toggle(_("Exact ranking (one run per head)"), value=len(cap.tokens) <= 64, key="iv_exact"):
            with st.spinner(_("Running the model once per head...")):
                exact = exact_importance(model_name, text, mode, corrupted, continuation)
    except ValueError as exc:
        st.info(plain(str(exc)))
        return
    st.caption(_("Effect: {measure}. Positive: the model does worse without the head.").format(measure=plain(measure)))
    if settings.hide_special or settings.hide_sink or settings.combine != "head":
        st.caption(_("Hiding special tokens, hiding the first token and combining heads (sidebar) do not apply to "
                     "the map: each cell is one real head knocked out of the whole model; the attention below is "
                     "drawn in full."))
    kind = choose_kind(cap)
    shown, column = (exact, "effect") if exact is not None else (estimate, "estimate")
    take_clicked_head(kind, cap.n_heads(kind))
    selected = [(lay, h) for k, lay, h in st.session_state.get("iv_heads", []) if k == kind]
    fig = importance_figure(effect_grid(shown, kind, column), selected=selected, measure=measure,
                            title=(_("{model} {kind}: exact effect of each head alone ({mode})") if exact is not None
                                   else _("{model} {kind}: estimate of each head alone ({mode})")).format(
                                model=cap.model_name, kind=kind_word(kind), mode=_(MODE_NAMES[mode])))
    show(fig, f"{cap.model_name}_{kind}_head_importance_{mode}", key="iv_map", select=True)
    if exact is not None:
        st.caption(_("The one-pass estimate ranks the heads with Spearman correlation {rho} to the exact effects "
                     "on this input.").format(rho=f"{agreement(exact, estimate):.2f}"))
    every = [(k, lay, h) for k, lay, h in shown[["kind", "layer", "head"]].itertuples(index=False)]
    heads = st.multiselect(_("Heads to knock out together"), every, format_func=head_label, key="iv_heads",
                           placeholder=_("Choose options"))
    if not heads:
        st.info(_("Click heads in the map, or choose them above, to see the output without them."))
        explain(EXPLANATION)
        return
    with st.spinner(_("Running the model with the heads replaced...")):
        outcome, changed = outcome_of(model_name, text, tuple(heads), mode, corrupted, continuation)
    st.metric(_("Effect of this head") if len(heads) == 1
              else _("Effect of the {n} heads together").format(n=len(heads)), f"{outcome.effect:.4g}")
    col1, col2 = st.columns(2)
    col1.markdown(_("**Unchanged model:** {text}").format(text=plain(outcome.before)))
    col2.markdown(_("**Without them:** {text}").format(text=plain(outcome.after)))
    layers = [layer for k, layer, _head in heads if k == kind]
    first = min(layers) if layers else None
    st.caption(_("Attention of the remaining heads, before and after: layers up to L{layer} read the same input, "
                 "so changes start after it.").format(layer=first) if first is not None
               else _("Attention of the remaining heads, before and after."))
    layer, head = layer_head(cap.shape(kind))
    q, k = cap.query_tokens(kind), cap.key_tokens(kind)
    qc, kc = changed.query_tokens(kind), changed.key_tokens(kind)
    without = head_label(heads[0]) if len(heads) == 1 else _("{n} heads").format(n=len(heads))
    show_pair(Panel(cap.head(kind, layer, head), q, k, _("A: unchanged")),
              Panel(changed.head(kind, layer, head), qc, kc, _("B: without {heads}").format(heads=without)), settings,
              f"{cap.model_name}_{kind}_L{layer}H{head}_intervened",
              _("{model} {kind} L{layer} H{head}").format(model=cap.model_name, kind=kind_word(kind), layer=layer,
                                                          head=head))
    explain(EXPLANATION)
