"""Attention dashboard: type a sentence, see what every head of the model attends to.

Wiring only: sidebar -> cached model and Capture -> the chosen view's figures.
Run with ``streamlit run dashboard.py``.
"""

from __future__ import annotations

import streamlit as st

from model import ModelLoadError
from ui import head_view, sidebar
from ui.state import get_capture

st.set_page_config(page_title="Attention dashboard", layout="wide")
st.title("Attention dashboard")

# Each view is ``render(cap, settings)``; only the chosen one runs on a rerun.
VIEWS = {
    "Head view": head_view.render,
}

settings = sidebar.render()
try:
    cap = get_capture(settings.model_name, settings.text)
except ModelLoadError as exc:
    st.error(f"The model could not be loaded: {exc}")
    st.stop()
except ValueError as exc:
    st.info(str(exc))
    st.stop()

if cap.notice:
    st.warning(cap.notice)
view = st.segmented_control("View", list(VIEWS), default=next(iter(VIEWS)), key="view") or next(iter(VIEWS))
VIEWS[view](cap, settings)
