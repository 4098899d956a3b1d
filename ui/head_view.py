"""Head view: one head (or the heads of a layer combined) as a heatmap."""

from __future__ import annotations

import streamlit as st

from model import Capture
from ui.figure import show
from ui.settings import Settings
from viz.heatmaps import attention_heatmap


def render(cap: Capture, settings: Settings, kind: str = "encoder") -> None:
    att = cap.attentions[kind]
    n_layers, n_heads = att.shape[:2]
    col1, col2 = st.columns(2)
    layer = col1.slider("Layer", 0, n_layers - 1, 0, key="layer")
    head = col2.slider("Head", 0, n_heads - 1, 0, key="head")
    fig = attention_heatmap(
        att[layer, head], cap.query_tokens(kind), cap.key_tokens(kind),
        title=f"{cap.model_name} {kind} layer {layer} head {head}", colorscale=settings.colorscale,
    )
    show(fig, f"{cap.model_name}_L{layer}_H{head}_{kind}", key="head_view_chart")
