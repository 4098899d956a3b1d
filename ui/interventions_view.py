"""Interventions: which heads the model needs. Knock heads out or patch them, see the output change."""

from __future__ import annotations

import pandas as pd
import streamlit as st

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
from ui.controls import choose_kind, explain, layer_head
from ui.figure import show
from ui.settings import Settings
from ui.state import get_model
from ui.text import plain
from viz.compare import Panel
from viz.importance import effect_grid, importance_figure

MODE_NAMES = {"zero": "zero its output", "mean": "its mean over positions", "patch": "patch from a second sentence"}

EXPLANATION = """
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
"""


@st.cache_resource(max_entries=16, ttl=3600, show_spinner="Running the model once per head...")
def exact_importance(model_name: str, text: str, mode: str, corrupted: str | None,
                     continuation: str | None) -> pd.DataFrame:
    return head_importance(get_model(model_name), text, mode, corrupted, continuation)


@st.cache_resource(max_entries=16, ttl=3600, show_spinner="One backward pass...")
def estimated_importance(model_name: str, text: str, mode: str, corrupted: str | None,
                         continuation: str | None) -> pd.DataFrame:
    return attribution(get_model(model_name), text, mode, corrupted, continuation)


@st.cache_resource(max_entries=16, ttl=3600, show_spinner="Running the model with the heads replaced...")
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
    return f"{kind} L{layer} H{h}"


def inputs(cap: Capture) -> tuple[str, str | None, str | None]:
    """The replacement mode, the patch's second sentence and a decoder's continuation, from widgets."""
    col1, col2 = st.columns([1, 2])
    mode = col1.radio("Replace each head's output by", MODES, format_func=MODE_NAMES.get, key="iv_mode")
    corrupted = continuation = None
    if mode == "patch":
        corrupted = col2.text_input("Second sentence (same number of tokens)", key="iv_corrupted",
                                    placeholder="e.g. the same sentence with one name changed")
    if cap.architecture == "decoder":
        continuation = col2.text_input("Score a continuation instead of the next token (optional)",
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
        st.info("Type a second sentence with the same number of tokens to patch the heads from.")
        return
    model_name, text = settings.model_name, settings.text
    measure = measure_name(get_model(model_name), continuation)
    try:
        estimate = estimated_importance(model_name, text, mode, corrupted, continuation)
        exact = None
        if st.toggle("Exact ranking (one run per head)", value=len(cap.tokens) <= 64, key="iv_exact"):
            exact = exact_importance(model_name, text, mode, corrupted, continuation)
    except ValueError as exc:
        st.info(plain(str(exc)))
        return
    st.caption(f"Effect: {plain(measure)}. Positive: the model does worse without the head.")
    if settings.hide_special or settings.combine != "head":
        st.caption("Hiding special tokens and combining heads (sidebar) do not apply to the map: each cell "
                   "is one real head knocked out of the whole model; the attention below is drawn in full.")
    kind = choose_kind(cap)
    shown, column = (exact, "effect") if exact is not None else (estimate, "estimate")
    take_clicked_head(kind, cap.n_heads(kind))
    selected = [(lay, h) for k, lay, h in st.session_state.get("iv_heads", []) if k == kind]
    fig = importance_figure(effect_grid(shown, kind, column), selected=selected, measure=measure,
                            title=f"{cap.model_name} {kind}: {'exact effect' if exact is not None else 'estimate'}"
                                  f" of each head alone ({MODE_NAMES[mode]})")
    show(fig, f"{cap.model_name}_{kind}_head_importance_{mode}", key="iv_map", select=True)
    if exact is not None:
        st.caption(f"The one-pass estimate ranks the heads with Spearman correlation "
                   f"{agreement(exact, estimate):.2f} to the exact effects on this input.")
    every = [(k, lay, h) for k, lay, h in shown[["kind", "layer", "head"]].itertuples(index=False)]
    heads = st.multiselect("Heads to knock out together", every, format_func=head_label, key="iv_heads")
    if not heads:
        st.info("Click heads in the map, or choose them above, to see the output without them.")
        explain(EXPLANATION)
        return
    outcome, changed = outcome_of(model_name, text, tuple(heads), mode, corrupted, continuation)
    st.metric("Effect of this head" if len(heads) == 1 else f"Effect of the {len(heads)} heads together",
              f"{outcome.effect:.4g}")
    col1, col2 = st.columns(2)
    col1.markdown(f"**Unchanged model:** {plain(outcome.before)}")
    col2.markdown(f"**Without them:** {plain(outcome.after)}")
    first = min(layer for k, layer, _ in heads if k == kind) if any(k == kind for k, _, _ in heads) else None
    st.caption("Attention of the remaining heads, before and after"
               + (f": layers up to L{first} read the same input, so changes start after it." if first is not None
                  else "."))
    layer, head = layer_head(cap.shape(kind))
    q, k = cap.query_tokens(kind), cap.key_tokens(kind)
    qc, kc = changed.query_tokens(kind), changed.key_tokens(kind)
    without = head_label(heads[0]) if len(heads) == 1 else f"{len(heads)} heads"
    show_pair(Panel(cap.head(kind, layer, head), q, k, "A: unchanged"),
              Panel(changed.head(kind, layer, head), qc, kc, f"B: without {without}"), settings,
              f"{cap.model_name}_{kind}_L{layer}H{head}_intervened", f"{cap.model_name} {kind} L{layer} H{head}")
    explain(EXPLANATION)
