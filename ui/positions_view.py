"""Positions view: the positional vectors, their similarity, offset profiles, and the ablation."""

from __future__ import annotations

import numpy as np
import streamlit as st

from model import Capture
from model.ablation import align_shuffled, max_gap, reorder, shuffle_words
from model.statistics import offset_profile, position_similarity
from model.transformer import sinusoidal_table
from ui.controls import choose_kind, explain, layer_head
from ui.figure import show
from ui.settings import Settings
from ui.state import get_capture, get_model
from viz.compare import Panel, compare_figure
from viz.positional import dimension_curves, offset_profile_heatmap, positions_heatmap, similarity_heatmap

SECTIONS = ["Vectors", "Similarity", "Offsets", "Ablation"]
NO_ORDER = ("Without positional vectors, self-attention cannot tell word order apart: shuffle the words and "
            "each weight moves with its word, nothing else changes.")
EXPLANATION = """
A Transformer sees a sentence as a *set* of token vectors; the **positional vectors** added to the
token embeddings are its only clue to order.

- **Vectors**: one row per position, one column per dimension. Sinusoidal encodings are sines and
  cosines of many wavelengths; MiniLM learned its 512 vectors in training.
- **Similarity**: how alike the vectors of two positions are. Near positions look alike (a band
  along the diagonal).
- **Offsets**: each head's mean weight on the key at `key - query` positions away: a previous-token
  head peaks at -1, a self head at 0.
- **Ablation**: the same sentence with the positional vectors set to zero, and with its words shuffled.
"""


@st.cache_data(max_entries=8, show_spinner=False)
def model_table(model_name: str) -> tuple[np.ndarray | None, str]:
    """The model's positional vectors over every position it has (None without a table), and how they were made."""
    return get_model(model_name).position_table()


def vectors_source(cap: Capture, settings: Settings) -> tuple[object, list[str] | None, str]:
    """The positional vectors to draw, their token labels (None for a whole table), and a title."""
    table, positional = model_table(settings.model_name)
    sources = {"sentence": f"this sentence ({len(cap.tokens)} positions)"}
    if table is not None:
        sources["table"] = f"the model's whole table ({table.shape[0]} positions, {positional})"
    sources["sinusoidal"] = "the sinusoidal formula (Vaswani et al. 2017), for reference"
    source = st.radio("Vectors of", list(sources), format_func=sources.get, horizontal=True, key="pos_source")
    if source == "table":
        return table, None, f"{cap.model_name}: {positional} positional vectors, all positions"
    if source == "sinusoidal":
        n = table.shape[0] if table is not None else max(len(cap.tokens), 128)
        d = cap.positions.shape[1] if cap.positions is not None else 384
        return sinusoidal_table(n, d).numpy(), None, f"sinusoidal encoding, {n} positions x {d} dims"
    return cap.positions, cap.tokens, f"{cap.model_name}: positional vectors added to this sentence"


def render_vectors(vectors, tokens: list[str] | None, title: str, name: str) -> None:
    show(positions_heatmap(vectors, tokens, title=title), f"{name}_positions", key="pos_vectors_chart")
    d = vectors.shape[1]
    defaults = sorted({0, 1, min(d - 1, d // 4), min(d - 1, d // 2)})
    dims = st.multiselect("Dimensions as curves", list(range(d)), default=defaults, key="pos_dims",
                          max_selections=8)
    if dims:
        show(dimension_curves(vectors, dims, title="chosen dimensions over position"), f"{name}_dimensions",
             key="pos_curves_chart")


def render_similarity(vectors, tokens: list[str] | None, title: str, name: str) -> None:
    metric = st.radio("Similarity", ["cosine", "dot"], horizontal=True, key="pos_metric",
                      format_func={"cosine": "cosine", "dot": "dot product"}.get)
    sim = position_similarity(vectors, metric)
    show(similarity_heatmap(sim, tokens, metric=metric, title=f"{title}: {metric} similarity"),
         f"{name}_position_{metric}", key="pos_similarity_chart")


def render_offsets(cap: Capture, settings: Settings, kind: str) -> None:
    n_queries, n_keys = cap.shape(kind)[2:]
    longest = max(1, max(n_queries, n_keys) - 1)
    width = st.slider("Offsets shown (±)", 1, longest, min(10, longest), key="pos_offset_width") if longest > 1 else 1
    keep = None
    if n_queries == n_keys:
        drop = st.checkbox("Leave out special tokens ([CLS], [SEP]): at the far offsets they are all there is",
                           value=True, key="pos_offset_specials")
        keep = [not (drop and t in cap.special_tokens) for t in cap.query_tokens(kind)]
        if not any(keep):
            keep = None
    # one layer at a time: each gives its heads' profiles [heads, offsets]
    profiles = [offset_profile(layer, width, keep) for layer in cap.layers(kind)]
    offsets, profile = profiles[0][0], np.stack([p for _, p in profiles])  # (layers, heads, offsets)
    fig = offset_profile_heatmap(offsets, profile, colorscale=settings.colorscale,
                                 title=f"{cap.model_name} {kind}: mean weight by offset key - query")
    show(fig, f"{cap.model_name}_offsets_{kind}", key="pos_offsets_chart")


def render_ablation(cap: Capture, settings: Settings) -> None:
    st.info(NO_ORDER)
    if cap.positions is None:
        st.caption((cap.positions_note or f"{cap.model_name} adds no positional vectors.")
                   + " Zeroing them changes nothing here.")
    kind = "decoder" if "encoder" not in cap.kinds else "encoder"
    layer, head = layer_head(cap.shape(kind))
    seed = st.number_input("Shuffle seed", 0, 10_000, 0, key="pos_seed")
    shuffled, order = shuffle_words(settings.text, int(seed))
    st.caption(f"Shuffled words (seed {seed}): {shuffled}")
    zeroed = get_capture(settings.model_name, settings.text, zero_positions=True)
    mixed = get_capture(settings.model_name, shuffled)
    idx = align_shuffled(get_model(settings.model_name).codec, settings.text, shuffled, order)
    tokens = cap.tokens
    panels = [Panel(cap.head(kind, layer, head), tokens, tokens, "original"),
              Panel(zeroed.head(kind, layer, head), tokens, tokens, "positions zeroed")]
    if idx is None:
        st.caption("The shuffled sentence does not tokenise word for word like the original "
                   "(e.g. it was cut at the model's length), so it is shown in its own order.")
        panels.append(Panel(mixed.head(kind, layer, head), mixed.tokens, mixed.tokens, "words shuffled"))
    else:
        panels.append(Panel(reorder(mixed.head(kind, layer, head), idx), tokens, tokens,
                            "words shuffled, put back in order"))
    name = f"{cap.model_name}_L{layer}_H{head}_{kind}"
    show(compare_figure(panels, colorscale=settings.colorscale,
                        title=f"{cap.model_name} {kind} layer {layer} head {head}"),
         f"{name}_ablation", key="pos_ablation_chart")
    if idx is not None:
        both = get_capture(settings.model_name, shuffled, zero_positions=True)
        # every layer and head, one layer of each at a time
        gap = max(max_gap(a, reorder(b, idx)) for a, b in zip(zeroed.layers(kind), both.layers(kind), strict=True))
        st.caption(f"With positions zeroed, the shuffled sentence's attention put back in order differs from the "
                   f"unshuffled one by at most {gap:.1e} over every layer and head: the same pattern, permuted.")


def render(cap: Capture, settings: Settings) -> None:
    section = st.segmented_control("Show", SECTIONS, default=SECTIONS[0], key="pos_section") or SECTIONS[0]
    if section in ("Vectors", "Similarity"):
        if cap.positions is None:
            st.info(cap.positions_note or f"{cap.model_name} adds no positional vectors.")
        vectors, tokens, title = vectors_source(cap, settings)
        if vectors is not None:
            name = f"{cap.model_name}_{'sentence' if tokens else st.session_state.get('pos_source', 'table')}"
            if section == "Vectors":
                render_vectors(vectors, tokens, title, name)
            else:
                render_similarity(vectors, tokens, title, name)
    elif section == "Offsets":
        render_offsets(cap, settings, choose_kind(cap))
    else:
        render_ablation(cap, settings)
    explain(EXPLANATION)
