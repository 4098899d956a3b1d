"""Attention dashboard: type a sentence, see what every head of the model attends to.

Wiring only: sidebar -> cached model and Capture -> the chosen view's figures.
Run with ``streamlit run dashboard.py``.
"""

from __future__ import annotations

import streamlit as st

from model import ModelLoadError
from ui import (
    compare_view,
    export_view,
    head_view,
    interventions_view,
    lines_view,
    model_view,
    positions_view,
    sidebar,
    statistics_view,
    step_view,
    translation_view,
    url_state,
)
from ui.state import LOCAL, MODELS, get_capture
from ui.text import plain

st.set_page_config(page_title="Attention dashboard", layout="wide")
st.title("Attention dashboard")

# Each view is ``render(cap, settings)``; only the chosen one runs on a rerun.
VIEWS = {
    "Head view": head_view.render,
    "Lines": lines_view.render,
    "Model view": model_view.render,
    "Step by step": step_view.render,
    "Positions": positions_view.render,
    "Compare": compare_view.render,
    "Interventions": interventions_view.render,
    "Statistics": statistics_view.render,
    "Export": export_view.render,
    "Translation": translation_view.render,
}

url_state.restore(MODELS, list(VIEWS))
settings = sidebar.render()
view = st.segmented_control("View", list(VIEWS), key="view") or next(iter(VIEWS))
url_state.publish(st.session_state.get("model", ""), settings.text, view)
if st.session_state.get("model") == LOCAL and not settings.model_name:
    st.info("Type the path of a checkpoint folder in the sidebar: one with config.json, model.safetensors "
            "and tokenizer.json.")
    st.stop()
try:
    cap = get_capture(settings.model_name, settings.text)
except ModelLoadError as exc:
    st.error(f"The model could not be loaded: {plain(str(exc))}")
    st.stop()
except ValueError as exc:
    st.info(plain(str(exc)))
    st.stop()

if cap.notice:
    st.warning(plain(cap.notice))
VIEWS[view](cap, settings)
url_state.publish(st.session_state.get("model", ""), settings.text, view)
