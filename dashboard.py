"""Attention dashboard: type a sentence, see what every head of the model attends to.

Wiring only: widgets -> cached model and Capture -> figure functions in ``viz``.
Run with ``streamlit run dashboard.py``.
"""

from __future__ import annotations

import streamlit as st

from ui import head_view
from ui.state import MODELS, get_capture

st.set_page_config(page_title="Attention dashboard", layout="wide")
st.title("Attention dashboard")

with st.sidebar:
    model_name = st.selectbox("Model", list(MODELS), format_func=MODELS.get, key="model")
    text = st.text_area("Sentence", "The cat sat on the mat.", key="text")

try:
    cap = get_capture(model_name, text)
except ValueError as exc:
    st.info(str(exc))
    st.stop()

if cap.notice:
    st.warning(cap.notice)
head_view.render(cap)
