"""The page's state in its URL: model, sentence, view, layer and head.

``restore`` reads ``st.query_params`` once, when a browser session opens the page, into
``st.session_state`` (before any widget is drawn, so the widgets start from it);
``publish`` writes the current choice back on every run, so the address bar is always
a bookmark of what is on screen.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import streamlit as st

from model.folders import MAX_PATH_CHARS
from ui.state import LOCAL

URL_KEYS = ("model", "text", "view", "layer", "head")
# Widget values that must survive while the view owning them is not drawn: Streamlit
# forgets a widget's state after a run that did not draw it, but keeps plain state.
KEEP = ("layer", "head", "kind", "query", "highlight", "filter_mode", "top_k", "top_p",
        "lines_heads", "lines_token", "grid_layer", "grid_head", "head_range", "win_q", "win_k", "gen_step")
RESTORED = "_url_restored"
# Longer text is left out of the URL, so that a shared link stays short enough to open.
MAX_URL_TEXT = 2_000


def parse_index(value: object) -> int | None:
    """A layer or head number from the URL, or None for anything else (``-1``, ``x``, ``1e9``)."""
    if isinstance(value, str) and 0 < len(value) <= 4 and value.isascii() and value.isdigit():
        return int(value)
    return None


def restore(models: Collection[str], views: Sequence[str]) -> None:
    """Fill session state from the URL on a session's first run; give unset keys their defaults.

    Values the app cannot use (an unknown model or view) are ignored, not errors: a shared link
    from an older version still opens the page.
    """
    ss = st.session_state
    if not ss.get(RESTORED):
        ss[RESTORED] = True
        params = st.query_params
        if params.get("model") in models:
            ss["model"] = params["model"]
        if params.get("model") == LOCAL and params.get("folder", "").strip():
            # The folder still has to pass the server's roots when it loads; a bookmark outside them gets the
            # same refusal as typing it.
            ss["model"] = LOCAL
            ss["checkpoint_folder"] = params["folder"][:MAX_PATH_CHARS]
        if params.get("text", "").strip():
            ss["text"] = params["text"]
        if params.get("view") in views:
            ss["view"] = params["view"]
        for key in ("layer", "head"):
            index = parse_index(params.get(key))
            if index is not None:
                ss[key] = index
    if ss.get("view") not in views:
        ss["view"] = views[0]
    for key in KEEP:
        if key in ss:
            ss[key] = ss[key]


def url_params(model: str, text: str, view: str, layer: object, head: object) -> dict[str, str]:
    """The URL's parameters for this choice; ``text`` is left out when longer than ``MAX_URL_TEXT``."""
    want = {"model": model, "text": text, "view": view, "layer": str(layer), "head": str(head)}
    if len(text) > MAX_URL_TEXT:
        del want["text"]
    return want


def publish(model: str, text: str, view: str) -> None:
    """Write the current model, sentence, view, layer and head to the URL (only when they changed)."""
    ss = st.session_state
    want = url_params(model, text, view, ss.get("layer", 0), ss.get("head", 0))
    if model == LOCAL and ss.get("checkpoint_folder", "").strip():
        want["folder"] = ss["checkpoint_folder"].strip()
    if st.query_params.to_dict() != want:
        st.query_params.from_dict(want)
