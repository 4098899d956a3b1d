"""The Statistics view's Corpus tab, for a finished ``python -m corpus run`` result folder.

Per-head means and spreads over the whole corpus, how one head's statistic is distributed over its
sentences, and that head's strongest sentences, each of which opens at that head in the head view.
The folder is a path on the server, opened only inside the roots the server allows (``corpus.browse``).
"""

from __future__ import annotations

import math
import os

import numpy as np
import pandas as pd
import streamlit as st

from corpus.browse import CorpusResult, ResultError, open_result
from i18n import N_, _
from model.folders import allowed_roots
from model.statistics import STAT_COLUMNS, STAT_LABELS
from ui.controls import explain, kind_name
from ui.figure import show
from ui.settings import Settings
from ui.stat_tables import corpus_table
from ui.state import LOCAL, MODELS
from viz.statistics import mean_spread

POSITIONAL = ("distance", "previous", "same", "next")  # NaN for cross-attention: no shared positions
BINS = 40
TOP_COLUMNS = {"rank": N_("rank"), "value": N_("value"), "tokens": N_("tokens"), "text": N_("text")}
ABOUT = N_("What does a corpus result hold?")
EXPLANATION = N_("""
A result folder is what `python -m corpus run FILE --model minilm --out DIR` writes (see the README):
every head's statistics for every sentence, a summary per head, and each head's 20 strongest sentences
(the highest values of the chosen statistic). **Open in the head view** puts that sentence in the sidebar
and shows it at that head.
""")


@st.cache_resource(max_entries=4, ttl=3600, show_spinner=False)  # the caller's spinner speaks the session's language
def cached_result(folder: str, _stamp: int) -> CorpusResult:
    """Shared and read-only; ``_stamp`` (the manifest's mtime, in the key) reloads a folder a rerun finished."""
    return open_result(folder, allowed_roots(st.get_option("server.address")))


@st.cache_resource(max_entries=32, ttl=3600, show_spinner=False)
def head_values(folder: str, _stamp: int, kind: str, layer: int, head: int, stat: str,
                _result: CorpusResult) -> np.ndarray:
    values = _result.values(kind, layer, head, stat)
    values.flags.writeable = False
    return values


def open_sentence(model: str, text: str, kind: str, layer: int, head: int) -> None:
    """Callback: the sentence in the sidebar, the result's model chosen, the head view at that head."""
    ss = st.session_state
    if model in MODELS:
        ss["model"] = model
    else:
        ss["model"], ss["checkpoint_folder"] = LOCAL, model
    ss.update(text=text, kind=kind, layer=layer, head=head, view="Head view")


def load(path: str) -> CorpusResult | None:
    try:
        stamp = os.stat(os.path.join(path, "manifest.json")).st_mtime_ns
    except (OSError, ValueError):
        stamp = 0  # open_result gives the refusal
    try:
        with st.spinner(_("Reading the corpus result...")):
            return cached_result(path, stamp)
    except ResultError as exc:
        st.error(str(exc))
        return None


def bin_centres(edges: np.ndarray) -> np.ndarray:
    """Histogram bin centres to as many decimals as tell neighbouring bins apart (one more than the
    width's first digit): ``2.066``, not ``2.0659``, for bins 0.037 wide."""
    width = float(np.min(np.diff(edges))) if len(edges) > 1 else 0.0
    decimals = max(0, 1 - math.floor(math.log10(width))) if width > 0 else 4
    return np.round((edges[:-1] + edges[1:]) / 2, decimals)


def render_result(settings: Settings, kind: str) -> None:
    path = st.text_input(_("Result folder on the server"), key="corpus_result_path",
                         placeholder=_("/path/to/DIR of python -m corpus run")).strip()
    if not path:
        st.caption(_("Give the folder a `python -m corpus run ... --out DIR` wrote."))
        explain(EXPLANATION, ABOUT)
        return
    result = load(path)
    if result is None:
        return
    done = result.manifest["result"]
    st.caption(_("{model}: {sentences} sentences ({skipped} skipped, {empty} empty lines, {truncated} "
                 "truncated).").format(model=result.model, sentences=f"{done['sentences']:,}",
                                       skipped=f"{done['skipped']:,}", empty=f"{done['empty_lines']:,}",
                                       truncated=f"{done['truncated']:,}"))
    kinds = list(dict.fromkeys(result.summary["kind"]))
    if len(kinds) > 1:
        kind = st.radio(_("Attention"), kinds, index=kinds.index(kind) if kind in kinds else 0,
                        format_func=kind_name, horizontal=True, key="corpus_result_kind")
    else:
        kind = kinds[0]
    cols = [c for c in STAT_COLUMNS if kind != "cross" or c not in POSITIONAL]
    if settings.hide_special or settings.hide_sink:
        st.caption(_("Hiding tokens (sidebar) does not apply to a corpus result: the job computed each sentence's "
                     "statistics on every token."))
    stat = st.selectbox(_("Statistic"), cols, format_func=lambda c: _(STAT_LABELS[c]), key="corpus_result_stat")
    label = _(STAT_LABELS[stat])
    wide = result.wide(kind)
    stamp = os.stat(os.path.join(path, "manifest.json")).st_mtime_ns
    show(mean_spread(wide, stat, label=label,
                     title=_("{statistic}: mean and standard deviation over {n} sentences").format(
                         statistic=label, n=f"{int(wide['sentences'].max()):,}")),
         f"{result.model}_{kind}_corpus_result_{stat}", key="corpus_result_chart")
    corpus_table(wide, cols, stat, key="corpus_result_table", height=300)

    n_layers, n_heads = int(wide["layer"].max()) + 1, int(wide["head"].max()) + 1
    c1, c2 = st.columns(2)
    layer = c1.selectbox(_("Layer"), range(n_layers), format_func=lambda i: f"L{i}", key="corpus_result_layer")
    head = c2.selectbox(_("Head"), range(n_heads), format_func=lambda i: f"H{i}", key="corpus_result_head")
    values = head_values(path, stamp, kind, layer, head, stat, result)
    st.markdown(_("**L{layer} H{head}: {statistic} over the corpus** ({n} sentences)").format(
        layer=layer, head=head, statistic=label, n=f"{len(values):,}"))
    if len(values):
        counts, edges = np.histogram(values, bins=BINS)
        sentences = _("sentences")
        st.bar_chart(pd.DataFrame({sentences: counts}, index=bin_centres(edges)),
                     x_label=label, y_label=sentences, height=240)

    top = result.strongest(kind, layer, head, stat)
    st.markdown(_("**Strongest sentences of L{layer} H{head}** (highest {statistic})").format(
        layer=layer, head=head, statistic=label))
    st.dataframe(top[["rank", "value", "tokens", "text"]], hide_index=True, width="stretch",
                 key="corpus_result_top", column_config={c: _(name) for c, name in TOP_COLUMNS.items()})
    if not top.empty:
        ranks = list(top["rank"])
        rank = st.selectbox(_("Sentence"), ranks, key="corpus_result_rank",
                            format_func=lambda r: f"#{r}: {top.loc[top['rank'] == r, 'text'].iloc[0][:80]}")
        row = top[top["rank"] == rank].iloc[0]
        st.button(_("Open #{rank} in the head view at L{layer} H{head}").format(rank=rank, layer=layer, head=head),
                  key="corpus_result_open",
                  on_click=open_sentence, args=(result.model, str(row["text"]), kind, layer, head))
    explain(EXPLANATION, ABOUT)
