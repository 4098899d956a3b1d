"""Tables of head statistics that fit the page: narrow columns, short headers, full names in the tooltips.

Ten statistics, a head's layer, head and key/value head and its sink flag fit a page ~1,000 px wide; a
corpus table shows every statistic's mean and the chosen statistic's spread, which its chart draws.
"""

from __future__ import annotations

import unicodedata

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
WIDE_CHAR_PX, HEADER_PAD_PX = 14, 20  # a CJK character of the header font, and the header's padding and sort icon
NUMBER_PX = 58  # what a value such as 0.123 needs


def header_width(label: str, width: int, least: int) -> int:
    """``width`` for a header in Latin letters; one of wide (CJK) characters, short or long, gets the room it
    takes, at least ``least``: two or three characters say what an English header needs 70 px for."""
    wide = sum(unicodedata.east_asian_width(ch) in "WF" for ch in label)
    if not wide:
        return width
    return max(least, wide * WIDE_CHAR_PX + (len(label) - wide) * 7 + HEADER_PAD_PX)


def number_column(label: str, width: int, least: int = NUMBER_PX, help: str | None = None) -> dict:
    return st.column_config.NumberColumn(label, width=header_width(label, width, least), help=help)


def index_config(index_cols: list[str]) -> dict:
    names = {c: _(INDEX_NAMES.get(c, c)) for c in index_cols}
    widths = {c: INDEX_WIDTH + 18 * (c == "sentences") for c in index_cols}
    return {c: number_column(names[c], widths[c], widths[c],
                             help=_("the key/value head it reads") if c == "kv_head" else None) for c in index_cols}


def head_table(table: pd.DataFrame, cols: list[str], index_cols: list[str], key: str, height: int = 380) -> None:
    """``table``: ``index_cols``, the statistics ``cols`` under their ``STAT_LABELS`` names, and ``sink``."""
    config = index_config(index_cols)
    config.update({STAT_LABELS[c]: number_column(_(SHORT[c]), STAT_WIDTH, help=_(STAT_LABELS[c])) for c in cols})
    config["sink"] = st.column_config.TextColumn(
        _("sink"), width=header_width(_("sink"), INDEX_WIDTH, INDEX_WIDTH),
        help=_("share on the first token at least {share} (full rows)").format(share=f"{SINK_SHARE:.0%}"))
    st.dataframe(colour_table(table, [STAT_LABELS[c] for c in cols]), hide_index=True, width="stretch",
                 height=height, key=key, column_config=config)


def corpus_table(frame: pd.DataFrame, cols: list[str], stat: str, key: str, height: int = 380) -> None:
    """Per head: sentences read, every statistic's mean, and the standard deviation of ``stat``."""
    means = [f"{c}_mean" for c in cols]
    table = frame[["layer", "head", "sentences", *means, f"{stat}_std"]]
    config = index_config(["layer", "head", "sentences"])
    config.update({f"{c}_mean": number_column(
        _(SHORT[c]), STAT_WIDTH, help=_("{statistic}: mean over the sentences").format(statistic=_(STAT_LABELS[c])))
        for c in cols})
    config[f"{stat}_std"] = number_column(
        _("{statistic} sd").format(statistic=_(SHORT[stat])), STAT_WIDTH,
        help=_("{statistic}: standard deviation over the sentences").format(statistic=_(STAT_LABELS[stat])))
    st.caption(_("Each statistic's mean over the sentences, and the spread of {statistic} (the chart's error bars). "
                 "Hover a header for its full name.").format(statistic=_(STAT_LABELS[stat])))
    st.dataframe(colour_table(table, means), hide_index=True, width="stretch", height=height, key=key,
                 column_config=config)
