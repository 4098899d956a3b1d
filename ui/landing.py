"""Where a first visit opens: a head with a clear pattern, chosen from the capture, not layer 0, head 0.

Layer 0, head 0 is only the first index: in MiniLM it is a grey blur (no weight above 0.36 on the
example sentence) while layer 0, head 2 sends every token to the one before it. So the session's first
capture picks its clearest head (``model.statistics.clear_head``) and puts the shared ``layer`` and
``head`` there. It does so only while nobody has chosen a head: a link that names a layer or head, or a
slider moved away from the landing, ends it for the session. A new sentence keeps the head in view; a
new model, while the landing stands, opens at its own clearest head.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from model import Capture
from model.statistics import FIRST_SPECIAL, LAST_SPECIAL, clear_head, confidence, key_share

# Query rows read per layer: every row of a short input; evenly spaced ones of a long one, which the
# measures (each a mean over rows) need no more of to rank the heads.
SAMPLE_QUERIES = 128
OFF = "_landing_off"  # True once a link (or anything before) named a head, or the user chose one: never moved again
LANDED = "_landing"  # {"model", "kind", "layer", "head"}: where the page opened


def landing_statistics(cap: Capture, kind: str, sample: int = SAMPLE_QUERIES) -> pd.DataFrame:
    """Each head's ``confidence`` and its ``first``, ``cls`` and ``sep`` shares (as ``head_statistics`` has
    them), over at most ``sample`` evenly spaced query rows of every layer: only those rows are computed."""
    n_queries = len(cap.query_tokens(kind))
    queries = np.unique(np.linspace(0, n_queries - 1, min(n_queries, sample)).round().astype(int))
    keys = cap.key_tokens(kind)
    cls = np.array([t in FIRST_SPECIAL for t in keys], dtype=bool)
    sep = np.array([t in LAST_SPECIAL for t in keys], dtype=bool)
    frames = []
    for layer in range(cap.n_layers(kind)):
        rows = cap.rows(kind, layer, queries)  # (heads, sampled queries, keys)
        frames.append(pd.DataFrame({"layer": layer, "head": np.arange(rows.shape[0]), "confidence": confidence(rows),
                                    "first": rows[..., 0].mean(-1), "cls": key_share(rows, cls),
                                    "sep": key_share(rows, sep)}))
    return pd.concat(frames, ignore_index=True)


def land(cap: Capture, model_name: str) -> None:
    """Before the views draw: open the first capture (and a new model's, while nobody has chosen a head)
    at its clearest head of the kind shown first."""
    ss = st.session_state
    if ss.get(OFF):
        return
    landed = ss.get(LANDED)
    if landed is None and ("layer" in ss or "head" in ss):
        ss[OFF] = True  # chosen before the first capture, as a link's layer= and head= are
        return
    if landed is not None:
        if (ss.get("layer"), ss.get("head")) != (landed["layer"], landed["head"]):
            ss[OFF] = True  # the user moved a slider (or opened a head elsewhere): theirs from now on
            return
        if landed["model"] == model_name:
            return
    kind = cap.kinds[0]
    layer, head = clear_head(landing_statistics(cap, kind))
    ss["layer"], ss["head"] = layer, head
    ss[LANDED] = {"model": model_name, "kind": kind, "layer": layer, "head": head}


def is_landing(kind: str, layer: int, head: int) -> bool:
    """Whether ``kind`` / ``layer`` / ``head`` is where the page opened, and nobody has moved since."""
    landed = st.session_state.get(LANDED)
    return (not st.session_state.get(OFF) and landed is not None
            and (landed["kind"], landed["layer"], landed["head"]) == (kind, layer, head))
