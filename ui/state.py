"""The cached model and captures every view reads from.

The model is one shared object per server (``st.cache_resource``); a Capture is
computed once per (model, text, options) and reused on every rerun
(``st.cache_data``), so moving a slider never runs the network again.
"""

from __future__ import annotations

import streamlit as st

from model import Capture, LoadedModel, capture, load_model

MODELS = {"minilm": "MiniLM (all-MiniLM-L6-v2, pretrained encoder)"}
# The picker's last entry: a local Hugging Face checkpoint folder the user types in (not in MODELS,
# which lists only models that load by name).
LOCAL = "local"
LOCAL_LABEL = "Local checkpoint folder"


@st.cache_resource(max_entries=4, show_spinner="Loading the model...")
def get_model(name: str) -> LoadedModel:
    return load_model(name)


@st.cache_data(max_entries=16, show_spinner="Running the model...")
def get_capture(name: str, text: str, target: str | None = None, zero_positions: bool = False) -> Capture:
    return capture(get_model(name), text, target, zero_positions=zero_positions)
