"""Statistics view: what every head does in numbers, heads alike, attention rollout, a corpus."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from model import Capture
from model.corpus import MAX_BYTES, MAX_SENTENCES, corpus_statistics, parse_corpus
from model.statistics import (
    STAT_COLUMNS,
    STAT_LABELS,
    attention_rollout,
    cluster_heads,
    cluster_order,
    head_similarity,
    head_statistics,
    similar_heads,
)
from ui.controls import KIND_NAMES, choose_kind, explain, index_slider
from ui.corpus_view import render_result
from ui.figure import show
from ui.settings import Settings
from ui.state import get_capture, get_model
from viz.heatmaps import attention_heatmap
from viz.statistics import colour_table, head_grid, head_name, head_scatter, mean_spread, similarity_matrix

SECTIONS = ["This sentence", "Heads like this one", "Rollout", "Corpus"]
POSITIONAL = ("distance", "previous", "same", "next")  # compare query and key positions: self-attention only
EXPLANATION = """
One row per head, averaged over the query tokens:
**entropy** (nats; spread-out heads are high, focused heads near 0; uniform over *n* keys is log *n*),
**mean distance** in tokens between query and attended key, the share of attention on **[CLS]**,
**[SEP]** and **punctuation**, on the **previous**, **same** and **next** token, and **confidence**:
the mean of each row's largest weight (Voita et al., 2019). Click a column header to sort.

**Heads like this one** groups heads whose patterns on this sentence are alike (cosine similarity
of the whole matrix, average-linkage clustering). **Rollout** (Abnar & Zuidema, 2020) follows attention
through the layers: each layer's heads averaged, the residual connection added as 0.5 A + 0.5 I.
"""


@st.cache_data(max_entries=16, show_spinner=False)
def sentence_statistics(model_name: str, text: str, kind: str) -> pd.DataFrame:
    """One row per head, computed one layer at a time (each head's measures need only its own weights)."""
    cap = get_capture(model_name, text)
    q_tokens, k_tokens = cap.query_tokens(kind), cap.key_tokens(kind)
    frames = [head_statistics(att[None], q_tokens, k_tokens, self_attention=kind != "cross").assign(layer=layer)
              for layer, att in enumerate(cap.layers(kind))]  # att: (heads, Q, K)
    return pd.concat(frames, ignore_index=True)


# Shared, not copied (st.cache_resource): the result is read-only. The similarity of every pair of heads needs
# every head's weights at once, the one place this view stacks them: [layers, heads, Q, K], once per sentence.
@st.cache_resource(max_entries=8, ttl=3600, show_spinner=False)
def sentence_similarity(model_name: str, text: str, kind: str) -> np.ndarray:
    sim = head_similarity(np.stack(list(get_capture(model_name, text).layers(kind))))
    sim.flags.writeable = False
    return sim


@st.cache_resource(max_entries=8, ttl=3600, show_spinner=False)
def sentence_rollout(model_name: str, text: str, kind: str) -> np.ndarray:
    """Rollout after every layer, computed once per sentence: moving the layer slider only picks one.

    Rollout reads only each layer's mean over heads, taken one layer at a time.
    """
    means = np.stack([att.mean(axis=0) for att in get_capture(model_name, text).layers(kind)])  # (L, T, T)
    rollout = attention_rollout(means[:, None])  # one "head" a layer: the mean
    rollout.flags.writeable = False
    return rollout


def columns_for(kind: str) -> list[str]:
    return [c for c in STAT_COLUMNS if kind != "cross" or c not in POSITIONAL]


def open_head(layer: int, head: int, kind: str) -> None:
    """Callback: focus the head view on one head (runs before the next rerun draws any widget)."""
    st.session_state.update(layer=layer, head=head, kind=kind, view="Head view")


def choose_head(shape: tuple[int, ...], kind: str) -> tuple[int, int]:
    """A head picker on the shared layer / head state, with a button that opens it in the head view.

    ``shape`` starts ``(layers, heads)``.
    """
    n_layers, n_heads = shape[:2]
    current = st.session_state.get("layer", 0) * n_heads + st.session_state.get("head", 0)
    options = list(range(n_layers * n_heads))
    if st.session_state.get("stats_head") not in options:
        st.session_state["stats_head"] = current if current in options else 0
    col1, col2 = st.columns([2, 1])
    index = col1.selectbox("Head", options, key="stats_head", format_func=lambda i: head_name(*divmod(i, n_heads)))
    layer, head = divmod(index, n_heads)
    col2.button(f"Open {head_name(layer, head)} in the head view", on_click=open_head, args=(layer, head, kind),
                key="stats_open")
    return layer, head


def render_table(cap: Capture, settings: Settings, kind: str) -> None:
    stats = sentence_statistics(settings.model_name, settings.text, kind)
    cols = columns_for(kind)
    table = stats[["layer", "head", *cols]].rename(columns=STAT_LABELS)
    st.dataframe(colour_table(table, [STAT_LABELS[c] for c in cols]), hide_index=True, width="stretch",
                 height=380, key="stats_table")
    layer, head = choose_head(cap.shape(kind), kind)
    col1, col2 = st.columns(2)
    x = col1.selectbox("x", cols, index=cols.index("distance") if "distance" in cols else cols.index("confidence"),
                       format_func=STAT_LABELS.get, key="stats_x")
    y = col2.selectbox("y", cols, index=cols.index("entropy"), format_func=STAT_LABELS.get, key="stats_y")
    fig = head_scatter(stats, x, y, x_label=STAT_LABELS[x], y_label=STAT_LABELS[y], selected=(layer, head),
                       title=f"{cap.model_name} {kind}: every head")
    show(fig, f"{cap.model_name}_{kind}_heads_{x}_{y}", key="stats_scatter_chart")


def render_alike(cap: Capture, settings: Settings, kind: str) -> None:
    n_layers, n_heads = cap.shape(kind)[:2]
    layer, head = choose_head(cap.shape(kind), kind)
    sim = sentence_similarity(settings.model_name, settings.text, kind)
    n_clusters = st.slider("Clusters", 1, min(20, n_layers * n_heads), min(8, n_layers * n_heads),
                           key="stats_clusters")
    labels = cluster_heads(sim, n_clusters)
    alike = similar_heads(sim, layer * n_heads + head, k=min(8, n_layers * n_heads - 1))
    st.caption(f"Heads most like {head_name(layer, head)} on this sentence")
    st.dataframe(pd.DataFrame({"head": [head_name(*divmod(i, n_heads)) for i, _ in alike],
                               "cosine": [s for _, s in alike],
                               "cluster": [int(labels[i]) for i, _ in alike]}),
                 hide_index=True, key="stats_alike")
    show(head_grid(labels.reshape(n_layers, n_heads), title="cluster of each head", colorbar="cluster",
                   colorscale="Turbo", text_format=".0f"), f"{cap.model_name}_{kind}_clusters",
         key="stats_clusters_chart")
    order = cluster_order(labels)
    show(similarity_matrix(sim, n_heads, order, title="pattern similarity, heads grouped by cluster"),
         f"{cap.model_name}_{kind}_head_similarity", key="stats_similarity_chart")


def render_rollout(cap: Capture, settings: Settings, kind: str) -> None:
    n_layers, _, n_queries, n_keys = cap.shape(kind)
    if n_queries != n_keys:
        st.info("Rollout follows self-attention through the layers of one stack: choose encoder or decoder "
                "self-attention.")
        return
    rollout = sentence_rollout(settings.model_name, settings.text, kind)
    st.session_state.setdefault("stats_rollout_layer", n_layers - 1)
    layer = index_slider(st, "After layer", n_layers, "stats_rollout_layer")
    tokens = cap.query_tokens(kind)
    fig = attention_heatmap(rollout[layer], tokens, tokens, colorscale=settings.colorscale, zmax=None,
                            title=f"{cap.model_name} {kind}: attention rollout through layers 0..{layer}")
    show(fig, f"{cap.model_name}_{kind}_rollout_L{layer}", key="stats_rollout_chart")


def corpus_text(pasted: str) -> str | None:
    """The corpus the user gave: an uploaded .txt file, else the pasted text."""
    upload = st.file_uploader("or upload a .txt file, one sentence per line", type=["txt"], key="stats_upload")
    if upload is None:
        # The browser itself refuses a file over the upload limit, and then nothing arrives here: say which
        # corpus "Compute" will read, so a refused upload is not silently replaced by the pasted sentences.
        st.caption(f"No file uploaded (files over {MAX_BYTES / 1e6:.0f} MB are refused by the page): "
                   "Compute reads the sentences pasted above.")
        return pasted
    if upload.size > MAX_BYTES:
        st.error(f"{upload.name} is {upload.size / 1e6:.1f} MB; at most {MAX_BYTES / 1e6:.0f} MB is read.")
        return None
    try:
        return upload.getvalue().decode("utf-8")
    except UnicodeDecodeError:
        st.error(f"{upload.name} is not UTF-8 text.")
        return None


def run_corpus(settings: Settings, text: str, batch_size: int) -> None:
    try:
        sentences = parse_corpus(text)
    except ValueError as exc:
        st.error(str(exc))
        return
    bar = st.progress(0.0, text=f"0 of {len(sentences)} sentences")

    def progress(done: int, total: int) -> None:
        bar.progress(done / total, text=f"{done} of {total} sentences")

    try:
        frame = corpus_statistics(get_model(settings.model_name), sentences, batch_size, progress)
    except ValueError as exc:
        st.error(str(exc))
        return
    st.session_state["stats_corpus_result"] = {"model": settings.model_name, "frame": frame}


def render_corpus(cap: Capture, settings: Settings, kind: str) -> None:
    sources = {"sentences": "sentences typed here", "result": "a finished corpus job's folder"}
    if st.radio("Corpus", list(sources), format_func=sources.get, horizontal=True,
                key="stats_corpus_source") == "result":
        render_result(settings, kind)
        return
    pasted = st.text_area(f"Sentences, one per line (at most {MAX_SENTENCES} sentences, {MAX_BYTES / 1e6:.0f} MB)",
                 "\n".join(["The cat sat on the mat.", "The animal didn't cross the street because it was too tired.",
                            "She went to the bank to deposit money."]), key="stats_corpus_text", height=150)
    text = corpus_text(pasted)
    batch_size = st.number_input("Batch size", 1, 64, 16, key="stats_batch")
    if st.button("Compute over the corpus", key="stats_run", disabled=text is None) and text is not None:
        run_corpus(settings, text, int(batch_size))
    result = st.session_state.get("stats_corpus_result")
    if not result or result["model"] != settings.model_name:
        st.caption("Statistics over the corpus appear here once computed.")
        return
    frame = result["frame"]
    shown = kind if kind in set(frame["kind"]) else frame["kind"].iloc[0]
    frame = frame[frame["kind"] == shown]
    cols = columns_for(kind)
    stat = st.selectbox("Statistic", cols, format_func=STAT_LABELS.get, key="stats_corpus_stat")
    n = int(frame["sentences"].max())
    show(mean_spread(frame, stat, label=STAT_LABELS[stat],
                     title=f"{STAT_LABELS[stat]}: mean and standard deviation over {n} sentences"),
         f"{settings.model_name}_{kind}_corpus_{stat}", key="stats_corpus_chart")
    table = frame[["layer", "head", "sentences", *[f"{c}_{s}" for c in cols for s in ("mean", "std")]]]
    st.dataframe(colour_table(table, [f"{c}_mean" for c in cols]), hide_index=True, width="stretch",
                 height=380, key="stats_corpus_table")


def render(cap: Capture, settings: Settings) -> None:
    section = st.segmented_control("Show", SECTIONS, default=SECTIONS[0], key="stats_section") or SECTIONS[0]
    kind = choose_kind(cap)
    if len(cap.kinds) > 1:
        st.caption(KIND_NAMES.get(kind, kind))
    {"This sentence": render_table, "Heads like this one": render_alike, "Rollout": render_rollout,
     "Corpus": render_corpus}[section](cap, settings, kind)
    explain(EXPLANATION)
