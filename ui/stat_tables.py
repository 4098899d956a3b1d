"""Tables of head statistics that fit the page: narrow columns, short headers, full names in the tooltips.

Ten statistics, a head's layer, head and key/value head and its sink flag fit a page ~1,000 px wide; a
corpus table shows every statistic's mean and the chosen statistic's spread, which its chart draws.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from model.statistics import SINK_SHARE, STAT_LABELS
from viz.statistics import colour_table

SHORT = {"entropy": "entropy", "distance": "distance", "cls": "[CLS]", "sep": "[SEP]", "punct": "punct.",
         "previous": "previous", "same": "itself", "next": "next", "first": "first", "confidence": "confidence"}
STAT_WIDTH, INDEX_WIDTH = 70, 48  # px: 14 columns in ~940 px (a 1,400 px window with the sidebar)
INDEX_NAMES = {"layer": "layer", "head": "head", "kv_head": "KV", "sentences": "sentences"}


def index_config(index_cols: list[str]) -> dict:
    return {c: st.column_config.NumberColumn(INDEX_NAMES.get(c, c), width=INDEX_WIDTH + 18 * (c == "sentences"),
                                             help="the key/value head it reads" if c == "kv_head" else None)
            for c in index_cols}


def head_table(table: pd.DataFrame, cols: list[str], index_cols: list[str], key: str, height: int = 380) -> None:
    """``table``: ``index_cols``, the statistics ``cols`` under their ``STAT_LABELS`` names, and ``sink``."""
    config = index_config(index_cols)
    config.update({STAT_LABELS[c]: st.column_config.NumberColumn(SHORT[c], width=STAT_WIDTH, help=STAT_LABELS[c])
                   for c in cols})
    config["sink"] = st.column_config.TextColumn(
        "sink", width=INDEX_WIDTH, help=f"share on the first token at least {SINK_SHARE:.0%} (full rows)")
    st.dataframe(colour_table(table, [STAT_LABELS[c] for c in cols]), hide_index=True, width="stretch",
                 height=height, key=key, column_config=config)


def corpus_table(frame: pd.DataFrame, cols: list[str], stat: str, key: str, height: int = 380) -> None:
    """Per head: sentences read, every statistic's mean, and the standard deviation of ``stat``."""
    means = [f"{c}_mean" for c in cols]
    table = frame[["layer", "head", "sentences", *means, f"{stat}_std"]]
    config = index_config(["layer", "head", "sentences"])
    config.update({f"{c}_mean": st.column_config.NumberColumn(SHORT[c], width=STAT_WIDTH,
                                                             help=f"{STAT_LABELS[c]}: mean over the sentences")
                   for c in cols})
    config[f"{stat}_std"] = st.column_config.NumberColumn(
        f"{SHORT[stat]} sd", width=STAT_WIDTH, help=f"{STAT_LABELS[stat]}: standard deviation over the sentences")
    st.caption(f"Each statistic's mean over the sentences, and the spread of {STAT_LABELS[stat]} (the chart's "
               "error bars). Hover a header for its full name.")
    st.dataframe(colour_table(table, means), hide_index=True, width="stretch", height=height, key=key,
                 column_config=config)
