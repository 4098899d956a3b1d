"""Widgets several views share: which attention, which layer and head, which tokens to hide.

Layer and head live in ``st.session_state["layer"]`` / ``["head"]`` for every view, so
moving from one view to another keeps the head in focus.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import streamlit as st

from export.names import file_name
from model import Capture
from ui.settings import Settings

KIND_NAMES = {"encoder": "encoder self-attention", "decoder": "decoder self-attention",
              "cross": "cross-attention (decoder -> encoder)"}


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
    return st.radio("Attention", kinds, format_func=KIND_NAMES.get, horizontal=True, key="kind")


def index_slider(container, label: str, n: int, key: str, **kwargs) -> int:
    """A 0..n-1 slider on shared state; with one choice there is nothing to slide."""
    clamp_state(key, 0, n - 1)
    if n == 1:
        container.caption(f"{label}: 0 (the only one)")
        return 0
    return container.slider(label, 0, n - 1, key=key, **kwargs)


def layer_head(shape: Sequence[int] | np.ndarray, *, head_disabled: bool = False) -> tuple[int, int]:
    """Layer and head sliders bound to the shared ``layer`` / ``head`` state.

    ``shape`` starts ``(layers, heads)``: ``cap.shape(kind)``, or an array shaped so.
    """
    n_layers, n_heads = tuple(getattr(shape, "shape", shape))[:2]
    col1, col2 = st.columns(2)
    layer = index_slider(col1, "Layer", n_layers, "layer")
    head = index_slider(col2, "Head", n_heads, "head", disabled=head_disabled,
                        help="Off while the heads of a layer are combined (sidebar)." if head_disabled else None)
    return layer, head


def hidden_tokens(cap: Capture, settings: Settings) -> frozenset[str]:
    """The labels (``Capture.query_labels``) of special tokens to drop when the sidebar asks to hide them."""
    if not settings.hide_special:
        return frozenset()
    return cap.special_labels


def not_applied(settings: Settings, *, sink: bool = True, special: bool = True, combine: bool = True) -> list[str]:
    """The sidebar's display settings that are on but a view does not apply (the flags say which it cannot)."""
    names = [("hide special tokens", special and settings.hide_special),
             ("hide the first token", sink and settings.hide_sink),
             (f"{settings.combine} of layer", combine and settings.combine != "head")]
    return [name for name, on in names if on]


def explain(text: str) -> None:
    """What a view shows and how to read it, folded away until asked for."""
    with st.expander("What am I looking at?", expanded=False):
        st.markdown(text)


def chart_name(cap: Capture, kind: str, layer: int, what: str) -> str:
    """File name of a chart's exports, e.g. ``minilm_L2_H5_encoder``: ``export.names.file_name``'s rule."""
    return file_name(cap.model_name, f"L{layer}", what, kind)
