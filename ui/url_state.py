"""The page's state in its URL: model, sentence, view, layer and head, the sidebar's options,
the sub-tab of a view and the query token.

``restore`` reads ``st.query_params`` once, when a browser session opens the page, into
``st.session_state`` (before any widget is drawn, so the widgets start from it);
``publish`` writes the current choice back on every run, so the address bar is always
a bookmark of what is on screen. Options at their default stay out of the address. A value
the page cannot use is ignored, and ``notes`` says which and why.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import streamlit as st

from i18n import DEFAULT, LANGUAGES, N_, _
from model.capture import MAX_NEW_TOKENS
from model.folders import MAX_PATH_CHARS
from ui.compare_view import MODES as COMPARE_MODES
from ui.positions_view import ROPE_SECTIONS
from ui.positions_view import SECTIONS as POSITION_SECTIONS
from ui.sidebar import COLOURSCALES, COMBINE, DEFAULT_NEW_TOKENS
from ui.state import LOCAL
from ui.statistics_view import SECTIONS as STATISTICS_SECTIONS

URL_KEYS = ("model", "text", "view", "layer", "head")
# Widget values that must survive while the view owning them is not drawn: Streamlit
# forgets a widget's state after a run that did not draw it, but keeps plain state. Writing a
# widget's key makes that run send the value back to the browser, so the widgets a held key steps
# through (the layer, head and generation-step sliders, top k / share, the long view's window) keep
# theirs with ``persist_state`` instead: a run still busy with an earlier press of a held arrow key
# would otherwise pull the widget back to that press.
KEEP = ("kind", "query", "highlight", "filter_mode", "lines_heads", "lines_token", "grid_layer", "grid_head",
        "head_range")
RESTORED = "_url_restored"
NOTES = "_url_notes"
# A note is kept as its message and values, and written in the session's language when shown (the language
# is itself one of the values restored).
Note = tuple[str, dict[str, object]]
NOT_A_NUMBER = N_("{key}={value} is not a number.")
# Options kept in the URL, with their defaults: on/off flags as 1/0, choices by name, numbers.
FLAGS = {"hide_special": False, "hide_sink": False, "generate": True, "as_chat": False}
CHOICES = {"lang": (list(LANGUAGES), DEFAULT), "combine": (list(COMBINE), "head"),
           "colorscale": (COLOURSCALES, COLOURSCALES[0]),
           "pos_section": ([*POSITION_SECTIONS, *ROPE_SECTIONS], None),
           "stats_section": (STATISTICS_SECTIONS, None), "cmp_mode": (COMPARE_MODES, None)}
NUMBERS = {"new_tokens": (1, MAX_NEW_TOKENS, DEFAULT_NEW_TOKENS), "query": (0, 9999, None)}
OPTIONS = (*FLAGS, *CHOICES, *NUMBERS)
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
    from an older version still opens the page, and ``notes`` lists what was left out.
    """
    ss = st.session_state
    if not ss.get(RESTORED):
        ss[RESTORED] = True
        params = st.query_params.to_dict()
        notes: list[Note] = []
        model = params.get("model")
        if model in models:
            ss["model"] = model
        elif model == LOCAL and params.get("folder", "").strip():
            # The folder still has to pass the server's roots when it loads; a bookmark outside them gets the
            # same refusal as typing it.
            ss["model"] = LOCAL
            ss["checkpoint_folder"] = params["folder"][:MAX_PATH_CHARS]
        elif model == LOCAL:
            notes.append((N_("model=local without folder=...: the link names no checkpoint folder, so the "
                            "default model opened."), {}))
        elif model is not None:
            notes.append((N_("model={value} is not a model here ({models} or local)."),
                          {"value": repr(model), "models": ", ".join(models)}))
        if params.get("text", "").strip():
            ss["text"] = params["text"]
        if params.get("view") in views:
            ss["view"] = params["view"]
        elif "view" in params:
            notes.append((N_("view={value} is not a view here."), {"value": repr(params["view"])}))
        for key in ("layer", "head"):
            if key not in params:
                continue
            index = parse_index(params[key])
            if index is None:
                notes.append((NOT_A_NUMBER, {"key": key, "value": repr(params[key])}))
            else:
                ss[key] = index
        for key in OPTIONS:
            if key in params:
                value, note = parse_option(key, params[key])
                if value is not None:
                    ss[key] = value
                if note:
                    notes.append(note)
        ss[NOTES] = notes
    if ss.get("view") not in views:
        ss["view"] = views[0]
    for key in (*KEEP, *OPTIONS):
        if key in ss:
            ss[key] = ss[key]


def parse_option(key: str, raw: str) -> tuple[object, Note | None]:
    """An option's value from the URL (None: ignored) and a note when it was ignored or changed."""
    if key in FLAGS:
        if raw in ("0", "1"):
            return raw == "1", None
        return None, (N_("{key}={value} is not 0 or 1."), {"key": key, "value": repr(raw)})
    if key in CHOICES:
        allowed = CHOICES[key][0]
        if raw in allowed:
            return raw, None
        return None, (N_("{key}={value} is not one of {allowed}."),
                      {"key": key, "value": repr(raw), "allowed": ", ".join(allowed)})
    low, high, _ = NUMBERS[key]
    number = parse_index(raw)
    if number is None:
        return None, (NOT_A_NUMBER, {"key": key, "value": repr(raw)})
    clamped = min(max(number, low), high)
    if clamped == number:
        return clamped, None
    return clamped, (N_("{key}={value} is outside {low}-{high}: {used} is used."),
                     {"key": key, "value": number, "low": low, "high": high, "used": clamped})


def notes() -> list[str]:
    """What the URL asked for that the page could not use, in the session's language, once: the session's
    first run only shows them."""
    return [_(message).format(**values) for message, values in st.session_state.pop(NOTES, [])]


def options_params() -> dict[str, str]:
    """The options that differ from their defaults, as URL parameters."""
    ss, out = st.session_state, {}
    for key, default in FLAGS.items():
        if key in ss and bool(ss[key]) != default:
            out[key] = "1" if ss[key] else "0"
    for key, (_allowed, default) in CHOICES.items():
        if ss.get(key) is not None and ss[key] != default:
            out[key] = str(ss[key])
    for key, (_low, _high, default) in NUMBERS.items():
        if isinstance(ss.get(key), int) and ss[key] != default:
            out[key] = str(ss[key])
    return out


def url_params(model: str, text: str, view: str, layer: object, head: object) -> dict[str, str]:
    """The URL's parameters for this choice; ``text`` is left out when longer than ``MAX_URL_TEXT``."""
    want = {"model": model, "text": text, "view": view, "layer": str(layer), "head": str(head)}
    if len(text) > MAX_URL_TEXT:
        del want["text"]
    return want


def publish(model: str, text: str, view: str) -> None:
    """Write the current model, sentence, view, layer, head and options to the URL (only when they changed)."""
    ss = st.session_state
    want = {**url_params(model, text, view, ss.get("layer", 0), ss.get("head", 0)), **options_params()}
    if model == LOCAL and ss.get("checkpoint_folder", "").strip():
        want["folder"] = ss["checkpoint_folder"].strip()
    if st.query_params.to_dict() != want:
        st.query_params.from_dict(want)
