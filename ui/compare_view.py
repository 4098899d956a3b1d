"""Compare view: two heads, two sentences, two models, or with and without positions."""

from __future__ import annotations

import streamlit as st

from i18n import N_, _
from model import Capture, ModelLoadError
from model.statistics import largest_changes
from ui.controls import (
    choose_kind,
    combined_name,
    explain,
    hidden_tokens,
    index_slider,
    kind_word,
    layer_head,
    not_applied,
)
from ui.figure import show
from ui.settings import Settings
from ui.state import MODELS, get_capture, get_model
from ui.text import plain
from viz.compare import Panel, compare_figure
from viz.matrix_ops import view_matrix

MODES = ["Two heads", "Two sentences", "Two models", "With / without positions"]
MODE_NAMES = {"Two heads": N_("Two heads"), "Two sentences": N_("Two sentences"), "Two models": N_("Two models"),
              "With / without positions": N_("With / without positions")}
PAIR = ("The animal didn't cross the street because it was too tired.",
        "The animal didn't cross the street because it was too wide.")
DATE_PAIR = ("the third of march 1998", "the fourth of march 1998")  # for the translator, which reads dates
# the largest-changes table's columns, as shown
CHANGE_COLUMNS = {"query": N_("query"), "query token": N_("query token"), "key": N_("key"),
                  "key token": N_("key token"), "change (B - A)": N_("change (B - A)")}
EXPLANATION = N_("""
Panels share one colour scale, so equal colours mean equal weights. The difference panel shows
**B - A** on a diverging scale centred on 0: red where B attends more, blue where it attends less;
the table lists the cells that changed most. A difference needs the same tokens on both sides;
otherwise the two are shown side by side.

Try the *tired* / *wide* pair under **Two sentences**: in some heads "it" attends to "animal" when
the animal is tired and to "street" when the street is wide.
""")


def other_head(shape: tuple[int, ...], prefix: str, default_head: int) -> tuple[int, int]:
    """Layer and head sliders of the second panel, on their own state; ``shape`` starts (layers, heads)."""
    n_layers, n_heads = shape[:2]
    col1, col2 = st.columns(2)
    st.session_state.setdefault(f"{prefix}_head", min(default_head, n_heads - 1))
    layer = index_slider(col1, _("Layer (B)"), n_layers, f"{prefix}_layer")
    head = index_slider(col2, _("Head (B)"), n_heads, f"{prefix}_head")
    return layer, head


def show_pair(a: Panel, b: Panel, settings: Settings, name: str, title: str) -> None:
    """A and B on one scale, with their difference and largest changes when their tokens match."""
    same = a.weights.shape == b.weights.shape and a.query_tokens == b.query_tokens and a.key_tokens == b.key_tokens
    aligned = a.weights.shape == b.weights.shape
    if not aligned:
        st.caption(_("A has {a_rows} x {a_cols} cells and B {b_rows} x {b_cols}: shown side by side; a difference "
                     "needs the same number of tokens.").format(a_rows=a.weights.shape[0], a_cols=a.weights.shape[1],
                                                                b_rows=b.weights.shape[0], b_cols=b.weights.shape[1]))
    elif not same:
        st.caption(_("The tokens differ but their number is the same: cells are compared position by position."))
    fig = compare_figure([a, b], difference=aligned, colorscale=settings.colorscale, title=title)
    show(fig, name, key=f"compare_{name}")
    if aligned:
        st.caption(_("Largest changes (B - A)"))
        changes = largest_changes(a.weights, b.weights, a.query_tokens, a.key_tokens, n=10)
        st.dataframe(changes, hide_index=True, width="stretch",
                     column_config={c: _(name) for c, name in CHANGE_COLUMNS.items()})


def panel(c: Capture, kind: str, layer: int, head: int, title: str, settings: Settings, *,
          combine: bool = True) -> Panel:
    """One panel as the sidebar asks: a head (or, with ``combine``, the layer's heads combined), its hidden
    tokens dropped and rows renormalised, labelled with the tokens as text. ``title`` may name ``{heads}``:
    ``H5``, or the heads combined."""
    how = settings.combine if combine else "head"
    weights = c.layer(kind, layer) if how != "head" else c.head(kind, layer, head)[None]  # (heads or 1, Q, K)
    w, q, k = view_matrix(weights, c.query_labels(kind), c.key_labels(kind), head=0, combine=how,
                          hide=hidden_tokens(c, settings), first=settings.hide_sink)
    heads = f"H{head}" if how == "head" else combined_name(how, c.n_heads(kind))
    return Panel(w, q, k, title.replace("{heads}", heads))


def two_heads(cap: Capture, settings: Settings, kind: str) -> None:
    if settings.combine != "head":
        st.caption(_("Not applied here ({settings}): two heads are compared one by one.").format(
            settings=", ".join(not_applied(settings, sink=False, special=False))))
    st.caption("A")
    layer, head = layer_head(cap.shape(kind))
    st.caption("B")
    layer_b, head_b = other_head(cap.shape(kind), "cmp_b", 1)
    show_pair(panel(cap, kind, layer, head, f"A: L{layer} {{heads}}", settings, combine=False),
              panel(cap, kind, layer_b, head_b, f"B: L{layer_b} {{heads}}", settings, combine=False), settings,
              f"{cap.model_name}_{kind}_L{layer}H{head}_vs_L{layer_b}H{head_b}",
              _("{model} {kind}").format(model=cap.model_name, kind=kind_word(kind)))


def two_sentences(cap: Capture, settings: Settings, kind: str) -> None:
    pair = DATE_PAIR if get_model(settings.model_name).arch == "encoder-decoder" else PAIR
    col1, col2 = st.columns(2)
    # Keys per model: each model starts from a pair it can read.
    text_a = col1.text_input(_("Sentence A"), pair[0], key=f"cmp_text_a_{settings.model_name}")
    text_b = col2.text_input(_("Sentence B"), pair[1], key=f"cmp_text_b_{settings.model_name}")
    try:
        cap_a = get_capture(settings.model_name, text_a)
        cap_b = get_capture(settings.model_name, text_b)
    except ValueError as exc:
        st.info(str(exc))
        return
    for c in (cap_a, cap_b):
        if c.notice:
            st.warning(plain(c.notice))
    layer, head = layer_head(cap.shape(kind), head_disabled=settings.combine != "head")
    combined = "" if settings.combine == "head" else ": {heads}"  # the figure's title names the one head
    panels = [panel(c, kind, layer, head, label + combined, settings) for c, label in ((cap_a, "A"), (cap_b, "B"))]
    show_pair(*panels, settings, f"{cap.model_name}_{kind}_L{layer}_H{head}_two_sentences",
              _("{model} {kind} layer {layer} head {head}").format(model=cap.model_name, kind=kind_word(kind),
                                                                   layer=layer, head=head))


def two_models(cap: Capture, settings: Settings, kind: str) -> None:
    others = [m for m in MODELS if m != settings.model_name]
    if not others:
        st.info(_("Only one model is available ({model}): there is no second model to compare with.").format(
            model=_(MODELS.get(settings.model_name, settings.model_name))))
        return
    other = st.selectbox(_("Model B"), others, format_func=lambda m: _(MODELS[m]), key="cmp_model_b")
    try:
        cap_b = get_capture(other, settings.text)
    except ModelLoadError as exc:
        st.warning(_("{model} could not be loaded: {error}").format(model=other, error=exc))
        return
    except ValueError as exc:
        st.info(str(exc))
        return
    if kind not in cap_b.kinds:
        st.info(_("{model} has no {kind} attention; it has {kinds}.").format(
            model=other, kind=kind_word(kind), kinds=", ".join(kind_word(k) for k in cap_b.kinds)))
        return
    st.caption(f"A: {cap.model_name}")
    layer, head = layer_head(cap.shape(kind))
    st.caption(f"B: {other}")
    layer_b, head_b = other_head(cap_b.shape(kind), "cmp_model", head)
    show_pair(panel(cap, kind, layer, head, f"A: {cap.model_name} L{layer} {{heads}}", settings),
              panel(cap_b, kind, layer_b, head_b, f"B: {other} L{layer_b} {{heads}}", settings),
              settings, f"{cap.model_name}_vs_{other}_{kind}", _("one sentence, two models"))


def with_without_positions(cap: Capture, settings: Settings, kind: str) -> None:
    if cap.positions is None:
        st.info(cap.positions_note or _("{model} adds no positional vectors: there is nothing to zero.").format(
            model=cap.model_name))
        return
    zeroed = get_capture(settings.model_name, settings.text, zero_positions=True)
    layer, head = layer_head(cap.shape(kind), head_disabled=settings.combine != "head")
    if zeroed.shape(kind) != cap.shape(kind):
        st.caption(_("Without positions the model wrote another output, so the decoder side differs."))
    combined = "" if settings.combine == "head" else " ({heads})"
    show_pair(panel(cap, kind, layer, head, _("A: with positions") + combined, settings),
              panel(zeroed, kind, layer, head, _("B: positions zeroed") + combined, settings), settings,
              f"{cap.model_name}_{kind}_L{layer}_H{head}_positions",
              _("{model} {kind} layer {layer} head {head}").format(model=cap.model_name, kind=kind_word(kind),
                                                                   layer=layer, head=head))


def render(cap: Capture, settings: Settings) -> None:
    mode = st.radio(_("Compare"), MODES, format_func=lambda m: _(MODE_NAMES[m]), horizontal=True, key="cmp_mode")
    kind = choose_kind(cap)
    {"Two heads": two_heads, "Two sentences": two_sentences, "Two models": two_models,
     "With / without positions": with_without_positions}[mode](cap, settings, kind)
    explain(EXPLANATION)
