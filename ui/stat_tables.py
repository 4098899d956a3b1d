"""Tables of head statistics that fit the page: narrow columns, short headers, full names in the tooltips.

Ten statistics, a head's layer, head and key/value head and its sink flag fit a page ~1,000 px wide; a
corpus table shows every statistic's mean and the chosen statistic's spread, which its chart draws.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from i18n import N_, _
from model.statistics import SINK_SHARE, STAT_LABELS
from viz.statistics import colour_table

SHORT = {"entropy": N_("entropy"), "distance": N_("distance"), "cls": "[CLS]", "sep": "[SEP]", "punct": N_("punct."),
         "previous": N_("previous"), "same": N_("itself"), "next": N_("next"), "first": N_("first"),
         "confidence": N_("confidence")}
STAT_WIDTH, INDEX_WIDTH = 70, 48  # px: 14 columns in ~940 px (a 1,400 px window with the sidebar)
INDEX_NAMES = {"layer": N_("layer"), "head": N_("head"), "kv_head": "KV", "sentences": N_("sentences")}


def index_config(index_cols: list[str]) -> dict:
    return {c: st.column_config.NumberColumn(_(INDEX_NAMES.get(c, c)), width=INDEX_WIDTH + 18 * (c == "sentences"),
                                             help=_("the key/value head it reads") if c == "kv_head" else None)
            for c in index_cols}


def head_table(table: pd.DataFrame, cols: list[str], index_cols: list[str], key: str, height: int = 380) -> None:
    """``table``: ``index_cols``, the statistics ``cols`` under their ``STAT_LABELS`` names, and ``sink``."""
    config = index_config(index_cols)
    config.update({STAT_LABELS[c]: st.column_config.NumberColumn(_(SHORT[c]), width=STAT_WIDTH,
                                                                 help=_(STAT_LABELS[c])) for c in cols})
    config["sink"] = st.column_config.TextColumn(
        _("sink"), width=INDEX_WIDTH,
        help=_("share on the first token at least {share} (full rows)").format(share=f"{SINK_SHARE:.0%}"))
    st.dataframe(colour_table(table, [STAT_LABELS[c] for c in cols]), hide_index=True, width="stretch",
                 height=height, key=key, column_config=config)


def corpus_table(frame: pd.DataFrame, cols: list[str], stat: str, key: str, height: int = 380) -> None:
    """Per head: sentences read, every statistic's mean, and the standard deviation of ``stat``."""
    means = [f"{c}_mean" for c in cols]
    table = frame[["layer", "head", "sentences", *means, f"{stat}_std"]]
    config = index_config(["layer", "head", "sentences"])
    config.update({f"{c}_mean": st.column_config.NumberColumn(
        _(SHORT[c]), width=STAT_WIDTH,
        help=_("{statistic}: mean over the sentences").format(statistic=_(STAT_LABELS[c]))) for c in cols})
    config[f"{stat}_std"] = st.column_config.NumberColumn(
        _("{statistic} sd").format(statistic=_(SHORT[stat])), width=STAT_WIDTH,
        help=_("{statistic}: standard deviation over the sentences").format(statistic=_(STAT_LABELS[stat])))
    st.caption(_("Each statistic's mean over the sentences, and the spread of {statistic} (the chart's error bars). "
                 "Hover a header for its full name.").format(statistic=_(STAT_LABELS[stat])))
    st.dataframe(colour_table(table, means), hide_index=True, width="stretch", height=height, key=key,
                 column_config=config)
