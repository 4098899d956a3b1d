"""Widgets several views share: which attention, which layer and head, which tokens to hide.

Layer and head live in ``st.session_state["layer"]`` / ``["head"]`` for every view, so
moving from one view to another keeps the head in focus.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import streamlit as st

from export.names import file_name
from i18n import N_, _
from model import Capture
from ui.settings import Settings

KIND_NAMES = {"encoder": N_("encoder self-attention"), "decoder": N_("decoder self-attention"),
              "cross": N_("cross-attention (decoder -> encoder)")}
# the kind as one word in a chart's title ("minilm encoder layer 2 head 5")
KIND_WORDS = {"encoder": N_("encoder"), "decoder": N_("decoder"), "cross": N_("cross")}
COMBINED = {"mean": N_("mean of {n} heads"), "max": N_("max of {n} heads")}
COMBINED_LAYER = {"mean": N_("mean of layer"), "max": N_("max of layer")}


def kind_name(kind: str) -> str:
    """An attention kind as the page names it ("encoder self-attention"), in the session's language."""
    return _(KIND_NAMES.get(kind, kind))


def kind_word(kind: str) -> str:
    """An attention kind as one word of a title ("encoder"), in the session's language."""
    return _(KIND_WORDS.get(kind, kind))


def combined_name(combine: str, n_heads: int) -> str:
    """The heads of a layer combined ("mean of 12 heads"), in the session's language."""
    return _(COMBINED[combine]).format(n=n_heads)


def clamp_state(key: str, low: int, high: int) -> None:
    """Keep a shared index inside this model's range before its widget is drawn."""
    value = st.session_state.get(key)
    clamped = min(max(value, low), high) if isinstance(value, int) else low
    if value != clamped:
        st.session_state[key] = clamped


def choose_kind(cap: Capture) -> str:
    """The attention kind to show: a selector only when the model has more than one."""
    kinds = cap.kinds
    if len(kinds) == 1:
        return kinds[0]
    if st.session_state.get("kind") not in kinds:
        st.session_state["kind"] = kinds[0]
    return st.radio(_("Attention"), kinds, format_func=kind_name, horizontal=True, key="kind")


def index_slider(container, label: str, n: int, key: str, **kwargs) -> int:
    """A 0..n-1 slider on shared state; with one choice there is nothing to slide."""
    clamp_state(key, 0, n - 1)
    if n == 1:
        container.caption(_("{label}: 0 (the only one)").format(label=label))
        return 0
    # persist_state keeps the value while no view draws this slider, without writing the key on every run
    return container.slider(label, 0, n - 1, key=key, persist_state="session", **kwargs)


def layer_head(shape: Sequence[int] | np.ndarray, *, head_disabled: bool = False) -> tuple[int, int]:
    """Layer and head sliders bound to the shared ``layer`` / ``head`` state.

    ``shape`` starts ``(layers, heads)``: ``cap.shape(kind)``, or an array shaped so.
    """
    n_layers, n_heads = tuple(getattr(shape, "shape", shape))[:2]
    col1, col2 = st.columns(2)
    layer = index_slider(col1, _("Layer"), n_layers, "layer")
    head = index_slider(col2, _("Head"), n_heads, "head", disabled=head_disabled,
                        help=_("Off while the heads of a layer are combined (sidebar).") if head_disabled else None)
    return layer, head


def hidden_tokens(cap: Capture, settings: Settings) -> frozenset[str]:
    """The labels (``Capture.query_labels``) of special tokens to drop when the sidebar asks to hide them."""
    if not settings.hide_special:
        return frozenset()
    return cap.special_labels


def not_applied(settings: Settings, *, sink: bool = True, special: bool = True, combine: bool = True) -> list[str]:
    """The sidebar's display settings that are on but a view does not apply (the flags say which it cannot),
    named in the session's language."""
    names = [(N_("hide special tokens"), special and settings.hide_special),
             (N_("hide the first token"), sink and settings.hide_sink),
             (COMBINED_LAYER.get(settings.combine, ""), combine and settings.combine != "head")]
    return [_(name) for name, on in names if on]


def explain(text: str, title: str = N_("What am I looking at?")) -> None:
    """What a view shows and how to read it, folded away until asked for.

    ``text`` and ``title`` are catalogue messages (marked ``N_`` where they are defined), shown in the
    session's language. A section inside a view gives its own ``title``, so the page never shows two
    expanders of the same name.
    """
    with st.expander(_(title), expanded=False):
        st.markdown(_(text))


def chart_name(cap: Capture, kind: str, layer: int, what: str) -> str:
    """File name of a chart's exports, e.g. ``minilm_L2_H5_encoder``: ``export.names.file_name``'s rule."""
    return file_name(cap.model_name, f"L{layer}", what, kind)
