"""Statistics view: what every head does in numbers, heads alike, attention rollout, a corpus.

The sentence's statistics honour the sidebar's hiding of special tokens and of the first token: they are
computed on the weights the other views draw, rows renormalised over the tokens left. Where grouped-query
attention shares key/value heads, heads are named with theirs and can be grouped by them.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import streamlit as st

from i18n import N_, _
from model import Capture
from model.corpus import MAX_BYTES, MAX_SENTENCES, corpus_statistics, parse_corpus
from model.statistics import (
    FIRST_SPECIAL,
    LAST_SPECIAL,
    SINK_SHARE,
    STAT_COLUMNS,
    STAT_LABELS,
    attention_rollout,
    cluster_heads,
    cluster_order,
    head_similarity,
    head_statistics,
    similar_heads,
    sink_heads,
)
from ui.controls import choose_kind, explain, hidden_tokens, index_slider, kind_name, kind_word
from ui.corpus_view import render_result
from ui.figure import show
from ui.settings import Settings
from ui.stat_tables import corpus_table, head_table
from ui.state import get_model
from viz.heatmaps import attention_heatmap
from viz.matrix_ops import hide_and_renormalise, keep_indices
from viz.statistics import head_grid, head_name, head_scatter, mean_spread, similarity_matrix

SECTIONS = ["This sentence", "Heads like this one", "Rollout", "Corpus"]
SECTION_NAMES = {"This sentence": N_("This sentence"), "Heads like this one": N_("Heads like this one"),
                 "Rollout": N_("Rollout"), "Corpus": N_("Corpus")}
POSITIONAL = ("distance", "previous", "same", "next")  # compare query and key positions: self-attention only
SPECIAL_SHARES = ("cls", "sep")  # shares on tokens the sidebar can hide: 0 for every head once they are gone
MAX_LISTED = 12  # sink heads named in the caption; the table flags every one
SINK_WHY = N_(
    "Why: softmax makes each row of weights sum to 1, so a head must put its attention somewhere even when it "
    "has nothing to add to a token. Many heads park it on the first token, which every query can see (in a "
    "decoder it is the one token every position attends to), and the model learns to make what that token "
    "passes on nearly harmless. Xiao et al. 2023, *Efficient Streaming Language Models with Attention Sinks*."
)
EXPLANATION = N_("""
One row per head, averaged over the query tokens:
**entropy** (nats; spread-out heads are high, focused heads near 0; uniform over *n* keys is log *n*),
**mean distance** in tokens between query and attended key, the share of attention on **[CLS]**,
**[SEP]** and **punctuation**, on the **previous**, **same** and **next** token, on the **first** token
(whatever it is), and **confidence**: the mean of each row's largest weight (Voita et al., 2019).
Hover a column header for its full name; click it to sort. A head is flagged as an **attention sink** when
at least {share} of its attention falls on the first token of the sentence.

With **Hide special tokens** or **Hide the first token** (sidebar) the statistics are computed on what
the other views draw: those tokens dropped and each row renormalised to sum to 1. The shares on [CLS]
and [SEP] are then left out, as they are for a sentence without such tokens (SmolLM2's prompts); the
sink flag always reads the full rows.
Models with grouped-query attention name each head's key/value head (`L5 H4 (KV1)`: query head 4 of
layer 5 reads key/value head 1), and can show one row per key/value head, the mean of the query heads
that share it.

**Heads like this one** groups heads whose patterns on this sentence are alike (cosine similarity
of the whole matrix, average-linkage clustering). **Rollout** (Abnar & Zuidema, 2020) follows attention
through the layers: each layer's heads averaged, the residual connection added as 0.5 A + 0.5 I.
""")
# what the sidebar hides, by (special tokens, first token)
SOURCES = {"sentences": N_("sentences typed here"), "result": N_("a finished corpus job's folder")}
HIDING = {(True, False): N_("special tokens"), (False, True): N_("the first token"),
          (True, True): N_("special tokens and the first token")}


def stat_label(column: str) -> str:
    """A statistic's full name, in the session's language."""
    return _(STAT_LABELS[column])


def capture_key(settings: Settings) -> tuple[str, str, int]:
    """What names the capture the view was given, for the caches: model, text, tokens the decoder wrote."""
    return settings.model_name, settings.text, settings.max_new_tokens


def kept_positions(cap: Capture, kind: str, hidden: frozenset[str], first: bool
                   ) -> tuple[np.ndarray, np.ndarray] | None:
    """Query and key positions left once the sidebar's hidden tokens (and with ``first`` the first token)
    go, as the other views drop them; None when nothing is hidden."""
    if not hidden and not first:
        return None
    qi, ki = keep_indices(cap.query_labels(kind), hidden), keep_indices(cap.key_labels(kind), hidden)
    if first:
        ki = without_first(ki)
        if kind != "cross":  # self-attention: the first query is the first key
            qi = without_first(qi)
    return qi, ki


def without_first(positions: np.ndarray) -> np.ndarray:
    """``positions`` without position 0, unless nothing would be left (as ``keep_indices`` keeps all then)."""
    rest = positions[positions != 0]
    return rest if rest.size else positions


def layer_weights(cap: Capture, kind: str, keep: tuple[np.ndarray, np.ndarray] | None) -> Iterator[np.ndarray]:
    """Each layer's ``(heads, Q, K)`` weights, hidden tokens dropped and rows renormalised when ``keep``."""
    for att in cap.layers(kind):
        yield att if keep is None else hide_and_renormalise(att, *keep)


def kept_tokens(tokens: list[str], keep: np.ndarray | None) -> list[str]:
    return tokens if keep is None else [tokens[i] for i in keep]


@st.cache_data(max_entries=16, show_spinner=False)
def sentence_statistics(key: tuple, kind: str, hidden: frozenset[str], first: bool, _cap: Capture) -> pd.DataFrame:
    """One row per head (with its ``kv_head``), computed one layer at a time: each head's measures need
    only its own weights. ``key`` names ``_cap`` for the cache."""
    keep = kept_positions(_cap, kind, hidden, first)
    q_tokens = kept_tokens(_cap.query_tokens(kind), None if keep is None else keep[0])
    k_tokens = kept_tokens(_cap.key_tokens(kind), None if keep is None else keep[1])
    frames = [head_statistics(att[None], q_tokens, k_tokens, self_attention=kind != "cross").assign(layer=layer)
              for layer, att in enumerate(layer_weights(_cap, kind, keep))]  # att: (heads, Q, K)
    stats = pd.concat(frames, ignore_index=True)
    stats.insert(2, "kv_head", [_cap.kv_head(kind, int(h)) for h in stats["head"]])
    return stats


# Shared, not copied (st.cache_resource): the result is read-only. The similarity of every pair of heads needs
# every head's weights at once, the one place this view stacks them: [layers, heads, Q, K], once per sentence.
@st.cache_resource(max_entries=8, ttl=3600, show_spinner=False)
def sentence_similarity(key: tuple, kind: str, hidden: frozenset[str], first: bool, _cap: Capture) -> np.ndarray:
    sim = head_similarity(np.stack(list(layer_weights(_cap, kind, kept_positions(_cap, kind, hidden, first)))))
    sim.flags.writeable = False
    return sim


@st.cache_resource(max_entries=8, ttl=3600, show_spinner=False)
def sentence_rollout(key: tuple, kind: str, hidden: frozenset[str], first: bool, _cap: Capture) -> np.ndarray:
    """Rollout after every layer, computed once per sentence: moving the layer slider only picks one.

    Rollout reads only each layer's mean over heads, taken one layer at a time.
    """
    keep = kept_positions(_cap, kind, hidden, first)
    means = np.stack([att.mean(axis=0) for att in layer_weights(_cap, kind, keep)])  # (L, T, T)
    rollout = attention_rollout(means[:, None])  # one "head" a layer: the mean
    rollout.flags.writeable = False
    return rollout


def columns_for(kind: str, hide_special: bool = False, hide_first: bool = False,
                key_tokens: list[str] | None = None) -> list[str]:
    """The statistics that mean something for ``kind`` with what the sidebar hides; with ``key_tokens``,
    not the shares on [CLS]- or [SEP]-like tokens the sentence does not have (0 for every head)."""
    absent = set()
    if key_tokens is not None:
        absent = {c for c, marks in (("cls", FIRST_SPECIAL), ("sep", LAST_SPECIAL))
                  if not any(t in marks for t in key_tokens)}
    return [c for c in STAT_COLUMNS if not (kind == "cross" and c in POSITIONAL) and c not in absent
            and not (hide_special and c in SPECIAL_SHARES) and not (hide_first and c == "first")]


def shares_kv(cap: Capture, kind: str) -> bool:
    """Grouped-query attention: fewer key/value heads than query heads."""
    return cap.kv_heads[kind] < cap.n_heads(kind)


def head_names(cap: Capture, kind: str) -> list[str]:
    """Every query head's name, layer-major, with its key/value head where heads share them."""
    n_layers, n_heads = cap.shape(kind)[:2]
    kv = shares_kv(cap, kind)
    return [head_name(layer, head, cap.kv_head(kind, head) if kv else None)
            for layer in range(n_layers) for head in range(n_heads)]


def kv_group_name(layer: int, kv: int, per_kv: int) -> str:
    """``L5 KV1 (H3-H5)``: a key/value head and the query heads that read it."""
    return f"L{layer} KV{kv} (H{kv * per_kv}-H{kv * per_kv + per_kv - 1})"


def by_kv_head(stats: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    """One row per (layer, key/value head): each statistic's mean over the query heads that share it.

    ``head`` then numbers the key/value head, so the figures of heads draw the groups as they are.
    """
    grouped = stats.groupby(["layer", "kv_head"], sort=True)[cols].mean().reset_index()
    return grouped.assign(head=grouped["kv_head"])


def open_head(layer: int, head: int, kind: str) -> None:
    """Callback: focus the head view on one head (runs before the next rerun draws any widget)."""
    st.session_state.update(layer=layer, head=head, kind=kind, view="Head view")


def choose_head(shape: tuple[int, ...], kind: str, names: list[str]) -> tuple[int, int]:
    """A head picker on the shared layer / head state, with a button that opens it in the head view.

    ``shape`` starts ``(layers, heads)``; ``names`` are the heads', layer-major.
    """
    n_layers, n_heads = shape[:2]
    current = st.session_state.get("layer", 0) * n_heads + st.session_state.get("head", 0)
    options = list(range(n_layers * n_heads))
    if st.session_state.get("stats_head") not in options:
        st.session_state["stats_head"] = current if current in options else 0
    col1, col2 = st.columns([2, 1])
    index = col1.selectbox(_("Head"), options, key="stats_head", format_func=names.__getitem__)
    layer, head = divmod(index, n_heads)
    col2.button(_("Open {head} in the head view").format(head=head_name(layer, head)), on_click=open_head,
                args=(layer, head, kind), key="stats_open")
    return layer, head


def hidden_note(settings: Settings, applies: bool = True) -> None:
    """Say what the sidebar's hiding does to the numbers shown (or that it does not apply)."""
    hiding = HIDING.get((settings.hide_special, settings.hide_sink))
    if hiding is None:
        return
    if applies:
        st.caption(_("Hidden (sidebar): {hidden}. These numbers are computed on the weights that are left, each row "
                     "renormalised to sum to 1, as the other views draw them.").format(hidden=_(hiding)))
    else:
        st.caption(_("Hiding {hidden} (sidebar) does not apply here: each sentence's statistics are computed on "
                     "every token.").format(hidden=_(hiding)))


def uniform_first_share(n_queries: int, n_keys: int, causal: bool) -> float:
    """The share on the first token a head spreading each row evenly would have: ``1 / K``, or in a decoder
    ``mean(1 / (q + 1))``, since its early queries see few tokens (a short sentence starts high)."""
    if causal:
        return float(np.mean(1.0 / np.arange(1, n_queries + 1)))
    return 1.0 / max(n_keys, 1)


def render_sinks(names: list[str], sinks: np.ndarray, what: str, first_token: str, uniform: float) -> None:
    n = int(sinks.sum())
    st.markdown(_("**Attention sinks: {n} of {total} {what}** put at least {share} of their attention on the first "
                  "token (`{token}`); attention spread evenly would put {uniform} there on this sentence.").format(
        n=n, total=len(sinks), what=what, share=f"{SINK_SHARE:.0%}", token=first_token, uniform=f"{uniform:.1%}"))
    if n:
        listed = ", ".join(names[i] for i in np.flatnonzero(sinks)[:MAX_LISTED])
        st.caption(_("{heads} and {n} more (flagged *sink* in the table).").format(heads=listed, n=n - MAX_LISTED)
                   if n > MAX_LISTED else _("{heads} (flagged *sink* in the table).").format(heads=listed))
    st.caption(_(SINK_WHY))


def render_table(cap: Capture, settings: Settings, kind: str) -> None:
    key, hidden, first = capture_key(settings), hidden_tokens(cap, settings), settings.hide_sink
    stats = sentence_statistics(key, kind, hidden, first, cap)
    # the sink flag reads the first token of the full rows, whatever the sidebar hides
    full = sentence_statistics(key, kind, frozenset(), False, cap) if hidden or first else stats
    cols = columns_for(kind, bool(hidden), first, cap.key_tokens(kind))
    hidden_note(settings)
    names = head_names(cap, kind)
    grouped = False
    if shares_kv(cap, kind):
        per_kv = cap.n_heads(kind) // cap.kv_heads[kind]
        grouped = st.toggle(_("One row per key/value head (the mean of the {n} query heads that share it)").format(
                                n=per_kv),
                            key="stats_by_kv",
                            help=_("{model} has {n_heads} query heads and {n_kv} key/value heads a layer: query "
                                   "head h reads key/value head h // {per_kv}.").format(
                                model=cap.model_name, n_heads=cap.n_heads(kind), n_kv=cap.kv_heads[kind],
                                per_kv=per_kv))
    if grouped:
        shown, full = by_kv_head(stats, cols), by_kv_head(full, ["first"])
        shown_names = [kv_group_name(int(lay), int(kv), per_kv) for lay, kv in zip(shown["layer"], shown["kv_head"],
                                                                                  strict=True)]
        index_cols, what = ["layer", "kv_head"], _("key/value heads (group means)")
    else:
        shown, shown_names, what = stats, names, _("heads")
        index_cols = ["layer", "head", "kv_head"] if shares_kv(cap, kind) else ["layer", "head"]
    sinks = sink_heads(full["first"].to_numpy())
    table = shown[[*index_cols, *cols]].rename(columns=STAT_LABELS).assign(sink=np.where(sinks, _("sink"), ""))
    head_table(table, cols, index_cols, key="stats_table")
    n_queries, n_keys = cap.shape(kind)[2:]
    render_sinks(shown_names, sinks, what, cap.key_labels(kind)[0],
                 uniform_first_share(n_queries, n_keys, causal=kind == "decoder"))
    layer, head = choose_head(cap.shape(kind), kind, names)
    col1, col2 = st.columns(2)
    x = col1.selectbox("x", cols, index=cols.index("distance") if "distance" in cols else cols.index("confidence"),
                       format_func=stat_label, key="stats_x")
    y = col2.selectbox("y", cols, index=cols.index("entropy"), format_func=stat_label, key="stats_y")
    selected = (layer, cap.kv_head(kind, head)) if grouped else (layer, head)
    title = _("{model} {kind}: every key/value head") if grouped else _("{model} {kind}: every head")
    fig = head_scatter(shown, x, y, x_label=stat_label(x), y_label=stat_label(y), selected=selected,
                       names=shown_names, title=title.format(model=cap.model_name, kind=kind_word(kind)))
    show(fig, f"{cap.model_name}_{kind}_{'kv_' if grouped else ''}heads_{x}_{y}", key="stats_scatter_chart")


def render_alike(cap: Capture, settings: Settings, kind: str) -> None:
    n_layers, n_heads = cap.shape(kind)[:2]
    names = head_names(cap, kind)
    hidden_note(settings)
    layer, head = choose_head(cap.shape(kind), kind, names)
    sim = sentence_similarity(capture_key(settings), kind, hidden_tokens(cap, settings), settings.hide_sink, cap)
    n_clusters = st.slider(_("Clusters"), 1, min(20, n_layers * n_heads), min(8, n_layers * n_heads),
                           key="stats_clusters")
    labels = cluster_heads(sim, n_clusters)
    alike = similar_heads(sim, layer * n_heads + head, k=min(8, n_layers * n_heads - 1))
    st.caption(_("Heads most like {head} on this sentence").format(head=names[layer * n_heads + head]))
    st.dataframe(pd.DataFrame({"head": [names[i] for i, _sim in alike],
                               "cosine": [s for _i, s in alike],
                               "cluster": [int(labels[i]) for i, _sim in alike]}),
                 hide_index=True, key="stats_alike",
                 column_config={"head": _("head"), "cosine": _("cosine"), "cluster": _("cluster")})
    show(head_grid(labels.reshape(n_layers, n_heads), title=_("cluster of each head"), colorbar=_("cluster"),
                   colorscale="Turbo", text_format=".0f"), f"{cap.model_name}_{kind}_clusters",
         key="stats_clusters_chart")
    order = cluster_order(labels)
    show(similarity_matrix(sim, n_heads, order, names=names, clusters=labels,
                           title=_("pattern similarity, heads grouped by cluster (white lines between clusters; "
                                   "every head named in the hover)")),
         f"{cap.model_name}_{kind}_head_similarity", key="stats_similarity_chart")


def render_rollout(cap: Capture, settings: Settings, kind: str) -> None:
    n_layers, _heads, n_queries, n_keys = cap.shape(kind)
    if n_queries != n_keys:
        st.info(_("Rollout follows self-attention through the layers of one stack: choose encoder or decoder "
                  "self-attention."))
        return
    hidden, first = hidden_tokens(cap, settings), settings.hide_sink
    hidden_note(settings)
    rollout = sentence_rollout(capture_key(settings), kind, hidden, first, cap)
    st.session_state.setdefault("stats_rollout_layer", n_layers - 1)
    layer = index_slider(st, _("After layer"), n_layers, "stats_rollout_layer")
    keep = kept_positions(cap, kind, hidden, first)
    tokens = kept_tokens(cap.query_labels(kind), None if keep is None else keep[0])
    fig = attention_heatmap(rollout[layer], tokens, tokens, colorscale=settings.colorscale, zmax=None,
                            title=_("{model} {kind}: attention rollout through layers 0..{layer}").format(
                                model=cap.model_name, kind=kind_word(kind), layer=layer))
    show(fig, f"{cap.model_name}_{kind}_rollout_L{layer}", key="stats_rollout_chart")


def corpus_text(pasted: str) -> str | None:
    """The corpus the user gave: an uploaded .txt file, else the pasted text."""
    upload = st.file_uploader(_("or upload a .txt file, one sentence per line"), type=["txt"], key="stats_upload")
    if upload is None:
        # The browser itself refuses a file over the upload limit, and then nothing arrives here: say which
        # corpus "Compute" will read, so a refused upload is not silently replaced by the pasted sentences.
        st.caption(_("No file uploaded (files over {limit} MB are refused by the page): Compute reads the sentences "
                     "pasted above.").format(limit=f"{MAX_BYTES / 1e6:.0f}"))
        return pasted
    if upload.size > MAX_BYTES:
        st.error(_("{name} is {size} MB; at most {limit} MB is read.").format(
            name=upload.name, size=f"{upload.size / 1e6:.1f}", limit=f"{MAX_BYTES / 1e6:.0f}"))
        return None
    try:
        return upload.getvalue().decode("utf-8")
    except UnicodeDecodeError:
        st.error(_("{name} is not UTF-8 text.").format(name=upload.name))
        return None


def run_corpus(settings: Settings, text: str, batch_size: int) -> None:
    try:
        sentences = parse_corpus(text)
    except ValueError as exc:
        st.error(str(exc))
        return
    bar = st.progress(0.0, text=_("{done} of {total} sentences").format(done=0, total=len(sentences)))

    def progress(done: int, total: int) -> None:
        bar.progress(done / total, text=_("{done} of {total} sentences").format(done=done, total=total))

    try:
        frame = corpus_statistics(get_model(settings.model_name), sentences, batch_size, progress)
    except ValueError as exc:
        st.error(str(exc))
        return
    st.session_state["stats_corpus_result"] = {"model": settings.model_name, "frame": frame}


def render_corpus(cap: Capture, settings: Settings, kind: str) -> None:
    if st.radio(_("Corpus"), list(SOURCES), format_func=lambda k: _(SOURCES[k]), horizontal=True,
                key="stats_corpus_source") == "result":
        render_result(settings, kind)
        return
    hidden_note(settings, applies=False)
    pasted = st.text_area(_("Sentences, one per line (at most {n} sentences, {limit} MB)").format(
                              n=MAX_SENTENCES, limit=f"{MAX_BYTES / 1e6:.0f}"),
                 "\n".join(["The cat sat on the mat.", "The animal didn't cross the street because it was too tired.",
                            "She went to the bank to deposit money."]), key="stats_corpus_text", height=150)
    text = corpus_text(pasted)
    batch_size = st.number_input(_("Batch size"), 1, 64, 16, key="stats_batch")
    if st.button(_("Compute over the corpus"), key="stats_run", disabled=text is None) and text is not None:
        run_corpus(settings, text, int(batch_size))
    result = st.session_state.get("stats_corpus_result")
    if not result or result["model"] != settings.model_name:
        st.caption(_("Statistics over the corpus appear here once computed."))
        return
    frame = result["frame"]
    shown = kind if kind in set(frame["kind"]) else frame["kind"].iloc[0]
    frame = frame[frame["kind"] == shown]
    cols = columns_for(kind)
    stat = st.selectbox(_("Statistic"), cols, format_func=stat_label, key="stats_corpus_stat")
    n = int(frame["sentences"].max())
    names = [head_name(int(lay), int(h), cap.kv_head(shown, int(h)) if shares_kv(cap, shown) else None)
             for lay, h in zip(frame["layer"], frame["head"], strict=True)]
    show(mean_spread(frame, stat, label=stat_label(stat), names=names,
                     title=_("{statistic}: mean and standard deviation over {n} sentences").format(
                         statistic=stat_label(stat), n=n)),
         f"{settings.model_name}_{kind}_corpus_{stat}", key="stats_corpus_chart")
    corpus_table(frame, cols, stat, key="stats_corpus_table")


def render(cap: Capture, settings: Settings) -> None:
    section = st.segmented_control(_("Show"), SECTIONS, format_func=lambda k: _(SECTION_NAMES[k]),
                                   default=SECTIONS[0], key="stats_section", required=True) or SECTIONS[0]
    kind = choose_kind(cap)
    if len(cap.kinds) > 1:
        st.caption(kind_name(kind))
    {"This sentence": render_table, "Heads like this one": render_alike, "Rollout": render_rollout,
     "Corpus": render_corpus}[section](cap, settings, kind)
    explain(_(EXPLANATION).format(share=f"{SINK_SHARE:.0%}"))
