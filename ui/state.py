"""The cached model and captures every view reads from.

The model is one shared object per server (``st.cache_resource``); a Capture is
computed once per (model, text, options) and reused, read-only, by every rerun of
every session (``st.cache_resource`` too), so moving a slider never runs the network again.
"""

from __future__ import annotations

import gc
import threading

import streamlit as st

from i18n import N_, _, language
from model import Capture, LoadedModel, capture, load_model
from model.folders import allowed_roots, resolve_checkpoint
from ui.memory import fix_mmap_threshold, release_freed
from ui.settings import Settings

MODELS = {"minilm": N_("MiniLM (all-MiniLM-L6-v2, pretrained encoder)"),
          "translator": N_("Translator (trained here: English dates -> ISO, encoder-decoder)"),
          "smollm2": N_("SmolLM2-135M-Instruct (pretrained Llama-style decoder: RoPE, grouped-query attention)")}
# The picker's last entry: a local Hugging Face checkpoint folder the user types in (not in MODELS,
# which lists only models that load by name).
LOCAL = "local"
LOCAL_LABEL = N_("Local checkpoint folder")


def get_model(name: str) -> LoadedModel:
    """A built-in model by name, or a checkpoint folder inside the roots this server allows."""
    # the spinner in the session's language; Streamlit shows it only if the call takes over half a second
    with st.spinner(_("Loading the model...")):
        return cached_model(name)


@st.cache_resource(max_entries=4, show_spinner=False)
def cached_model(name: str) -> LoadedModel:
    if name.strip().lower() in MODELS:
        model = load_model(name)
    else:
        model = load_model(str(resolve_checkpoint(name, allowed_roots(st.get_option("server.address")))))
    # Streamlit runs a full gc.collect() after every script run (runner.postScriptGC). With torch,
    # plotly and a model loaded that pass walks ~250k long-lived objects: 0.1-0.6 s a rerun on 2 cores,
    # more than a 128-token forward pass. The collector skips frozen objects, so it then costs ~1 ms.
    gc.collect()
    gc.freeze()
    fix_mmap_threshold()  # before any forward pass: its large blocks then go back to the system when freed
    return model


# Shared, not copied: st.cache_data would pickle a Capture on a miss and unpickle a private copy on
# every rerun of every session. A Capture keeps its arrays read-only itself, so no view can change what
# another session sees, and keeps per-head queries, keys and values (plus 8-bit thumbnails), not every
# weight: a 510-token MiniLM capture is ~15 MB, so 8 entries stay near 120 MB; an hour idle frees them.
@st.cache_resource(max_entries=8, ttl=3600, show_spinner=False)
def cached_capture(name: str, text: str, target: str | None, zero_positions: bool, max_new_tokens: int | None,
                   lang: str) -> Capture:
    """``lang`` keys the cache by the session's language: a capture's notice is written in it.

    One forward pass of a model at a time: at 2,048 tokens each pass holds about 0.5 GB of scores and
    weights while it runs, and on a few cores passes side by side are no faster than in turn.
    """
    with forward_lock(name):
        cap = capture(get_model(name), text, target, zero_positions=zero_positions, max_new_tokens=max_new_tokens)
        release_freed()  # what the pass freed in glibc's heaps, returned now rather than kept per session
        return cap


_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def forward_lock(name: str) -> threading.Lock:
    """The lock that lets one capture of model ``name`` run at a time, across every session."""
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(name, threading.Lock())


def get_capture(name: str, text: str, target: str | None = None, zero_positions: bool = False,
                max_new_tokens: int | None = None) -> Capture:
    with st.spinner(_("Running the model...")):
        return cached_capture(name, text, target, zero_positions, max_new_tokens, language())


def current_capture(settings: Settings) -> Capture:
    """The capture the sidebar chose: its text, continued by the decoder when it was asked to."""
    return get_capture(settings.model_name, settings.text, max_new_tokens=settings.max_new_tokens or None)
