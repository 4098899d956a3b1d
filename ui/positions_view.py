"""Positions view: the positional vectors, their similarity, offset profiles, and the ablation.

A model that rotates its queries and keys (RoPE) has no positional vectors: for it the view shows
instead how fast each dimension pair turns, one query's scores with and without the rotation, the
mean score by offset, and the head's pattern with the rotation taken out (``model.rope``).
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from i18n import N_, _
from model import Capture, rope
from model.ablation import align_shuffled, max_gap, reorder, shuffle_words
from model.statistics import offset_profile, position_similarity
from model.transformer import sinusoidal_table
from ui.controls import choose_kind, clamp_state, explain, layer_head, not_applied
from ui.figure import show
from ui.settings import Settings
from ui.state import get_capture, get_model
from ui.text import plain
from viz.compare import Panel, compare_figure
from viz.matrix_ops import block_factor, downsample
from viz.positional import (
    METRICS,
    SCALES,
    colour_range,
    dimension_curves,
    offset_profile_heatmap,
    positions_heatmap,
    similarity_heatmap,
)
from viz.rope import frequency_figure, offset_scores_figure, pair_contribution_figure, query_scores_figure

SECTIONS = ["Vectors", "Similarity", "Offsets", "Ablation"]
# A RoPE model has no vectors to draw: these take the place of Vectors and Similarity
ROPE_SECTIONS = ["Rotation speeds", "One query's scores", "Scores by offset", "Without rotation", "Offsets",
                 "Ablation"]
# what the segmented control shows for each section (the keys stay in session state and URLs)
SECTION_NAMES = {"Vectors": N_("Vectors"), "Similarity": N_("Similarity"), "Offsets": N_("Offsets"),
                 "Ablation": N_("Ablation"), "Rotation speeds": N_("Rotation speeds"),
                 "One query's scores": N_("One query's scores"), "Scores by offset": N_("Scores by offset"),
                 "Without rotation": N_("Without rotation")}
# how a model's positions were made (``Model.position_table``), as the vector source names it
POSITIONAL_NAMES = {"learned": N_("learned"), "sinusoidal": N_("sinusoidal")}
SIMILARITY_NAMES = {"cosine": N_("cosine"), "dot": N_("dot product")}
MAX_CELLS = 256  # a pattern wider than this is pooled into blocks (or cut to a window) before it is sent
ABLATION_CELLS = 512  # the ablation's four panels: MiniLM's whole length, every weight; longer texts pooled
WINDOW = 128  # tokens a window of a long pattern holds
SHOWN_CHARS = 400  # of the shuffled text in its caption: a long text's would fill the page
NO_ORDER = N_("Without positional vectors, self-attention cannot tell word order apart: shuffle the words and "
            "each weight moves with its word, nothing else changes.")
CAUSAL_ORDER = N_("A causal mask tells order apart by itself: each token sees only the tokens before it, so "
                "shuffling the words changes what every query can see, with or without positions.")
EXPLANATION = N_("""
A Transformer sees a sentence as a *set* of token vectors; the **positional vectors** added to the
token embeddings are its only clue to order.

- **Vectors**: one row per position, one column per dimension. Sinusoidal encodings are sines and
  cosines of many wavelengths; MiniLM learned its 512 vectors in training. A few dimensions can be
  far larger than the rest (MiniLM's dimension 99 reaches ±1.9 where almost every other value stays
  within ±0.1), so the colours are clipped at a robust range by default and the caption names the
  dimensions beyond it; *each dimension to its own range* scales every column to ±1 instead.
- **Similarity**: how alike the vectors of two positions are. Near positions look alike (a band
  along the diagonal).
- **Offsets**: each head's mean weight on the key at `key - query` positions away: a previous-token
  head peaks at -1, a self head at 0.
- **Ablation**: the same sentence with the positional vectors set to zero, and with its words shuffled.
""")
ROPE_INTRO = N_("""
**Why there are no position vectors here.** A model such as MiniLM adds a learned vector to each
token's embedding. RoPE (rotary position embedding) adds nothing to the embeddings. Inside every
attention layer it cuts each query and each key into {pairs} pairs of dimensions (dimension *i* with
*i* + {pairs}) and turns each pair like a clock hand, by an angle that grows with the token's position:
pair *i* turns `position × θ^(-2i/{d})` radians, with θ = {theta:,.0f} here.

When a query at position *t* meets a key at position *s*, turning both changes their dot product only
through the *difference* of their angles, `(t − s) × θ^(-2i/{d})`: the score depends on how far apart
the two tokens are, not on where they stand.
""")
ROPE_EXPLANATIONS = {
    "Rotation speeds": N_("""
- **Left**: how far each pair turns per token. Pair 0 turns 1 radian (57°) a token; pair {last}
  turns {slowest:.2g} radians.
- **Right**: the wavelength, how many tokens a pair takes for one full turn (2π / turn per token),
  from {fast:.1f} tokens for pair 0 to {slow:,.0f} for pair {last}. Both axes are logarithmic: the
  speeds fall by the same factor from one pair to the next.
- **Low pairs turn fast**: their part of a score changes from one token to the next, so they can
  tell a neighbour from the token two places away (local position). **High pairs turn slowly**: across a
  whole text they barely move, so their part of a score is nearly the same at any distance; they
  carry content, and reach far.
- The dashed lines are this text's length and the longest input read here: a pair whose wavelength
  is above a line does not complete one turn over that many tokens.
"""),
    "One query's scores": N_("""
The score of a query on a key is `q · k × {scale:.4g}` (1/√d_head), before the softmax turns a
row of scores into weights.

- **Top**, over the keys this query can see (the causal mask hides the tokens after it):
  *with rotation* is what the model used; its softmax is the head's row of weights. *Without
  rotation* is the same query and keys before they were turned: content alone.
- **Bottom**: the difference, what position adds. At the query itself it is exactly zero: query
  and key turn by the same angle, so nothing changes between them.
- **Below**: one score taken apart over the {pairs} pairs; the bars of either colour add up to
  that score. The fast pairs (left) move most when the key is far; the slow pairs (right) hardly
  change it.
- **The first token.** Many heads put most of their weight on the first token, whatever it is
  (an *attention sink*: a place to put attention when nothing else is wanted). {first}
  Open such a head (the caption names the strongest sink of this text) with the first token as
  the key: its score is high with and without the rotation, and nearly all of it sits in the slow
  pairs on the right, which turn less than a degree per token. The rotation cannot take that score
  away, so the first token gets it from every distance; the fast pairs, which do turn, add almost
  nothing to it.
"""),
    "Scores by offset": N_("""
For every query and every key it sees, the offset is `key − query`: 0 is the query itself, −1 the
token before. Each point is a mean over all the queries of this head:

- *without rotation* (content only): what the queries and keys favour before any turning;
- *what the rotation adds*: the mean of (with − without) at that distance;
- *with rotation*: their sum, the mean score the model used.

A head that looks at the previous token has a peak at −1; if the peak comes from the green line, its
preference is positional. The rotation adds exactly 0 at offset 0. The farthest offsets are means over
few pairs (the hover says how many): the last one is a single pair, the last query and the first token.
"""),
    "Without rotation": N_("""
- **Left**: the weights this head would give if its queries and keys were not turned: the same
  queries and keys, the same causal mask, content alone.
- **Middle**: the weights it really gave (with rotation).
- **Right**: real − without: red where the rotation draws attention to a key, blue where it takes
  attention away. A strong diagonal in red is position at work (the token itself, the one before).
- The model was trained with the rotation: the left panel is what content alone favours, not
  something the model would ever produce. Without RoPE a decoder still knows order in part: the causal
  mask lets each token see only the ones before it.
- Long texts are pooled into blocks (each cell the largest weight of its block), or shown as a
  window: every cell of 2,048 × 2,048 would be more than a screen can show.
"""),
}


@st.cache_data(max_entries=8, show_spinner=False)
def model_table(model_name: str) -> tuple[np.ndarray | None, str]:
    """The model's positional vectors over every position it has (None without a table), and how they were made."""
    return get_model(model_name).position_table()


def vectors_source(cap: Capture, settings: Settings) -> tuple[object, list[str] | None, str]:
    """The positional vectors to draw, their token labels (None for a whole table), and a title."""
    table, positional = model_table(settings.model_name)
    made = _(POSITIONAL_NAMES[positional]) if positional in POSITIONAL_NAMES else positional
    sources = {"sentence": _("this sentence ({n} positions)").format(n=len(cap.tokens))}
    if table is not None:
        sources["table"] = _("the model's whole table ({n} positions, {made})").format(n=table.shape[0], made=made)
    sources["sinusoidal"] = _("the sinusoidal formula (Vaswani et al. 2017), for reference")
    source = st.radio(_("Vectors of"), list(sources), format_func=sources.get, horizontal=True, key="pos_source")
    if source == "table":
        return table, None, _("{model}: {made} positional vectors, all positions").format(model=cap.model_name,
                                                                                           made=made)
    if source == "sinusoidal":
        n = table.shape[0] if table is not None else max(len(cap.tokens), 128)
        d = cap.positions.shape[1] if cap.positions is not None else 384
        return sinusoidal_table(n, d).numpy(), None, _("sinusoidal encoding, {n} positions x {d} dims").format(n=n, d=d)
    return cap.positions, cap.labels, _("{model}: positional vectors added to this sentence").format(
        model=cap.model_name)


def render_vectors(vectors, tokens: list[str] | None, title: str, name: str) -> None:
    scale = st.radio(_("Colours"), list(SCALES), format_func=lambda k: _(SCALES[k]), horizontal=True,
                     key="pos_scale")
    show(positions_heatmap(vectors, tokens, title=title, scale=scale), f"{name}_positions", key="pos_vectors_chart")
    st.caption(_("{description}.").format(description=colour_range(vectors, scale).describe().capitalize()))
    d = vectors.shape[1]
    defaults = sorted({0, 1, min(d - 1, d // 4), min(d - 1, d // 2)})
    dims = st.multiselect(_("Dimensions as curves"), list(range(d)), default=defaults, key="pos_dims",
                          max_selections=8)
    if dims:
        show(dimension_curves(vectors, dims, title=_("chosen dimensions over position")), f"{name}_dimensions",
             key="pos_curves_chart")


def render_similarity(vectors, tokens: list[str] | None, title: str, name: str) -> None:
    metric = st.radio(_("Similarity"), list(SIMILARITY_NAMES), horizontal=True, key="pos_metric",
                      format_func=lambda k: _(SIMILARITY_NAMES[k]))
    sim = position_similarity(vectors, metric)
    heading = _("{title}: {metric} similarity").format(title=title, metric=_(METRICS[metric]))
    show(similarity_heatmap(sim, tokens, metric=metric, title=heading),
         f"{name}_position_{metric}", key="pos_similarity_chart")


@st.cache_data(max_entries=16, show_spinner=False)  # the caller's spinner speaks the session's language
def offset_profiles(_cap: Capture, model_name: str, text: str, kind: str, width: int,
                    keep: tuple[bool, ...] | None) -> tuple[np.ndarray, np.ndarray]:
    """Every head's mean weight by offset, ``(offsets, profile [layers, heads, offsets])``, for the capture of
    ``model_name`` on ``text``: at 2,048 tokens it reads 270 heads of 4M weights, worth keeping across reruns."""
    mask = None if keep is None else np.array(keep)
    # one layer at a time: each gives its heads' profiles [heads, offsets]
    profiles = [offset_profile(layer, width, mask) for layer in _cap.layers(kind)]
    return profiles[0][0], np.stack([p for _, p in profiles])  # (layers, heads, offsets)


def render_offsets(cap: Capture, settings: Settings, kind: str) -> None:
    n_queries, n_keys = cap.shape(kind)[2:]
    longest = max(1, max(n_queries, n_keys) - 1)
    width = (st.slider(_("Offsets shown (±)"), 1, longest, min(10, longest), key="pos_offset_width")
             if longest > 1 else 1)
    keep = None
    if n_queries == n_keys and cap.special_tokens:
        drop = st.checkbox(_("Leave out special tokens ([CLS], [SEP]): at the far offsets they are all there is"),
                           value=True, key="pos_offset_specials")
        keep = [not (drop and t in cap.special_tokens) for t in cap.query_tokens(kind)]
        if all(keep) or not any(keep):
            keep = None
    with st.spinner(_("Averaging every head by offset...")):
        offsets, profile = offset_profiles(cap, settings.model_name, settings.text, kind, width,
                                           None if keep is None else tuple(keep))
    fig = offset_profile_heatmap(offsets, profile, colorscale=settings.colorscale,
                                 title=_("{model} {kind}: mean weight by offset key - query").format(
                                     model=cap.model_name, kind=_(kind)))
    show(fig, f"{cap.model_name}_offsets_{kind}", key="pos_offsets_chart")


def block_labels(tokens: list[str], n_cells: int) -> list[str]:
    """Labels of ``tokens`` pooled into ``n_cells`` blocks (as ``downsample`` pools them): ``[48-55] cat``."""
    step = block_factor(len(tokens), n_cells)
    return [f"[{s}-{min(s + step, len(tokens)) - 1}] {tokens[s]}" for s in range(0, len(tokens), step)]


def pooled_panels(panels: list[Panel], max_cells: int = MAX_CELLS) -> tuple[list[Panel], bool]:
    """Panels wider than ``max_cells`` pooled into blocks, each cell its block's largest weight; and whether any was."""
    out, pooled = [], False
    for p in panels:
        if max(p.weights.shape) <= max_cells:
            out.append(p)
            continue
        pooled = True
        w = downsample(p.weights, max_cells, "max")  # (<= max_cells, <= max_cells)
        out.append(Panel(w, block_labels(p.query_tokens, max_cells), block_labels(p.key_tokens, max_cells), p.title))
    return out, pooled


def render_ablation(cap: Capture, settings: Settings) -> None:
    kind = "decoder" if "encoder" not in cap.kinds else "encoder"
    causal = cap.score_forms[kind].causal
    st.info(_(CAUSAL_ORDER if causal else NO_ORDER))
    if cap.positions is None:
        st.caption((cap.positions_note or _("{model} adds no positional vectors.").format(model=cap.model_name))
                   + _(" Zeroing them changes nothing here."))
    if cap.n_generated:
        # a shuffled prompt would be continued differently: the ablation compares what the prompt alone gives
        cap = get_capture(settings.model_name, settings.text)
        st.caption(_("The ablation reads the prompt alone ({n} tokens), without the tokens the model "
                     "wrote after it.").format(n=len(cap.tokens)))
    layer, head = layer_head(cap.shape(kind))
    seed = st.number_input(_("Shuffle seed"), 0, 10_000, 0, key="pos_seed")
    # in chat mode only the words typed move: a shuffled template is no longer the model's chat format
    start = settings.text.find(settings.prompt) if settings.chat and settings.prompt else -1
    span = (start, start + len(settings.prompt)) if start >= 0 else (0, len(settings.text))
    shuffled, order = shuffle_words(settings.text, int(seed), within=span)
    typed = shuffled[span[0]:span[1]]  # the same words and gaps, so the same length
    shown = typed if len(typed) <= SHOWN_CHARS else typed[:SHOWN_CHARS] + " …"
    st.caption(_("Shuffled words (seed {seed}): {words}").format(seed=seed, words=plain(shown)))
    if start >= 0:
        st.caption(_("Only the words typed are shuffled; the chat template's stay in place."))
    # with no positional vectors to zero, the zeroed captures are the plain ones: no forward pass for them
    zeroed = get_capture(settings.model_name, settings.text, zero_positions=True) if cap.positions is not None else cap
    mixed = get_capture(settings.model_name, shuffled)
    idx = align_shuffled(get_model(settings.model_name).codec, settings.text, shuffled, order)
    tokens = cap.query_labels(kind)  # as text: byte-level tokens read as what they spell
    panels = [Panel(cap.head(kind, layer, head), tokens, tokens, _("original")),
              Panel(zeroed.head(kind, layer, head), tokens, tokens, _("positions zeroed"))]
    if idx is None:
        st.caption(_("The shuffled sentence does not tokenise word for word like the original "
                     "(e.g. it was cut at the model's length), so it is shown in its own order."))
        shuffled_tokens = mixed.query_labels(kind)
        panels.append(Panel(mixed.head(kind, layer, head), shuffled_tokens, shuffled_tokens, _("words shuffled")))
    else:
        panels.append(Panel(reorder(mixed.head(kind, layer, head), idx), tokens, tokens,
                            _("words shuffled, put back in order")))
    panels, pooled = pooled_panels(panels, ABLATION_CELLS)
    if pooled:
        st.caption(_("Over {n} tokens each cell is the largest weight of a block of tokens, and the "
                     "difference is between those block maxima.").format(n=ABLATION_CELLS))
    name = f"{cap.model_name}_L{layer}_H{head}_{kind}"
    show(compare_figure(panels, colorscale=settings.colorscale,
                        title=_("{model} {kind} layer {layer} head {head}").format(
                            model=cap.model_name, kind=_(kind), layer=layer, head=head)),
         f"{name}_ablation", key="pos_ablation_chart")
    if idx is not None and not causal:
        both = get_capture(settings.model_name, shuffled, zero_positions=True) if cap.positions is not None else mixed
        # every layer and head, one layer of each at a time
        gap = max(max_gap(a, reorder(b, idx)) for a, b in zip(zeroed.layers(kind), both.layers(kind), strict=True))
        st.caption(_("With positions zeroed, the shuffled sentence's attention put back in order differs from the "
                     "unshuffled one by at most {gap} over every layer and head: the same pattern, permuted.").format(
                         gap=f"{gap:.1e}"))


# --- RoPE: no vectors, a rotation ------------------------------------------------------------------

def rope_kind(cap: Capture) -> str | None:
    """The attention kind whose queries and keys are rotated (the shared kind when several are), or None."""
    kinds = [k for k in cap.kinds if rope.uses_rope(cap, k)]
    if not kinds:
        return None
    return st.session_state.get("kind") if st.session_state.get("kind") in kinds else kinds[0]


def choose_query(cap: Capture, kind: str) -> int:
    """The query token, on the shared ``query`` state (the last token, which sees every key, at first)."""
    tokens = cap.query_labels(kind)
    if "query" not in st.session_state:
        st.session_state["query"] = len(tokens) - 1
    clamp_state("query", 0, len(tokens) - 1)
    return st.selectbox(_("Query token"), range(len(tokens)), key="query",
                        format_func=lambda i: f"{i} {tokens[i]}",
                        help=_("The token whose scores are taken apart; it sees itself and the tokens before it."))


def rope_text(cap: Capture, kind: str, section: str) -> str:
    """A section's explanation with this model's numbers in it."""
    d = cap.q[kind].shape[-1]
    freq = rope.frequencies(d, cap.rope_theta)
    wave = rope.wavelengths(freq)
    first = cap.key_labels(kind)[0]
    first_note = (_("Here the first token is “{first}”, a start token the model puts before the text.")
                  if cap.key_tokens(kind)[0] in cap.special_tokens else
                  _("This model puts no start token before the text, so the sink is its first word, “{first}”.")
                  ).format(first=plain(first))
    numbers = {"pairs": d // 2, "d": d, "theta": cap.rope_theta, "last": d // 2 - 1, "slowest": freq[-1],
               "fast": wave[0], "slow": wave[-1], "scale": cap.score_forms[kind].scale, "first": first_note}
    return _(ROPE_INTRO).format(**numbers) + _(ROPE_EXPLANATIONS[section]).format(**numbers)


def render_rotation(cap: Capture, settings: Settings, kind: str) -> None:
    st.info(cap.positions_note or _("{model} adds no positional vectors: it rotates queries and keys.").format(
        model=cap.model_name))
    d = cap.q[kind].shape[-1]
    freq = rope.frequencies(d, cap.rope_theta)
    fig = frequency_figure(freq, n_tokens=len(cap.tokens), max_positions=get_model(settings.model_name).max_tokens,
                           title=_("{model}: RoPE turns {pairs} dimension pairs, θ = {theta}").format(
                               model=cap.model_name, pairs=d // 2, theta=f"{cap.rope_theta:,.0f}"))
    show(fig, f"{cap.model_name}_rope_frequencies", key="pos_rope_freq_chart")
    turned = int(np.sum(rope.wavelengths(freq) <= len(cap.tokens)))
    st.caption(_("Over this text's {n} tokens, {turned} of the {pairs} pairs turn at least once; "
                 "the other {rest} turn less than a full circle.").format(n=len(cap.tokens), turned=turned,
                                                                          pairs=d // 2, rest=d // 2 - turned))


def render_query_scores(cap: Capture, kind: str) -> None:
    layer, head = layer_head(cap.shape(kind))
    query = choose_query(cap, kind)
    tokens = cap.key_labels(kind)
    split = rope.query_scores(cap, kind, layer, head, query)
    where = _("layer {layer} head {head}, query {query} {token}").format(layer=layer, head=head, query=query,
                                                                        token=cap.query_labels(kind)[query])
    show(query_scores_figure(split.keys, split.rotated, split.content, tokens,
                             title=_("{model}: scores with and without the rotation, {where}").format(
                                 model=cap.model_name, where=where)),
         f"{cap.model_name}_L{layer}_H{head}_q{query}_rope_scores", key="pos_rope_scores_chart")
    weights = cap.head(kind, layer, head)[query, split.keys]
    top = split.keys[int(np.argmax(weights))]
    st.caption(_("The softmax of the *with rotation* line is this head's row: it puts {share} of the "
                 "weight on {top} “{token}”. The first token's score is {rotated} with the "
                 "rotation and {content} without.").format(share=f"{weights.max():.0%}", top=top,
                                                           token=plain(tokens[top]),
                                                           rotated=f"{split.rotated[0]:.2f}",
                                                           content=f"{split.content[0]:.2f}"))
    keys = [int(k) for k in split.keys]
    if st.session_state.get("pos_rope_key") not in keys:
        st.session_state["pos_rope_key"] = 0  # the first token: where attention sinks are
    share = rope.first_token_share(cap, kind)  # (layers, heads)
    sink_layer, sink_head = (int(i) for i in np.unravel_index(int(np.argmax(share)), share.shape))
    st.caption(_("Strongest attention sink of this text: layer {layer} head {head}, whose last 32 queries "
                 "put on average {share} of their weight on the first token "
                 "({sinks} of {heads} heads put at least half there).").format(
                     layer=sink_layer, head=sink_head, share=f"{share[sink_layer, sink_head]:.0%}",
                     sinks=int(np.sum(share >= 0.5)), heads=share.size))
    key = st.selectbox(_("Key to take apart over the pairs"), keys, key="pos_rope_key",
                       format_func=lambda i: f"{i} {tokens[i]}" + (_(" (the first token)") if i == 0 else ""))
    rotated, content = rope.pair_contributions(cap, kind, layer, head, query, int(key))
    freq = rope.frequencies(cap.q[kind].shape[-1], cap.rope_theta)
    show(pair_contribution_figure(rotated, content, freq,
                                  title=_("score of query {query} on key {key}, pair by pair (offset {offset})").format(
                                      query=query, key=key, offset=key - query)),
         f"{cap.model_name}_L{layer}_H{head}_q{query}_k{key}_rope_pairs", key="pos_rope_pairs_chart")


def render_offset_scores(cap: Capture, kind: str) -> None:
    layer, head = layer_head(cap.shape(kind))
    offsets, content, position, counts = rope.offset_means(cap, kind, layer, head)
    longest = int(-offsets.min()) if offsets.size else 0
    width = (st.slider(_("Offsets shown (how far back)"), 1, longest, min(64, longest), key="pos_rope_offset_width")
             if longest > 1 else max(longest, 1))
    keep = offsets >= -width
    fig = offset_scores_figure(offsets[keep], content[keep], position[keep], counts[keep],
                               title=_("{model} layer {layer} head {head}: mean score by offset, "
                                       "from content and from the rotation").format(model=cap.model_name, layer=layer,
                                                                                    head=head))
    show(fig, f"{cap.model_name}_L{layer}_H{head}_rope_offsets", key="pos_rope_offsets_chart")


def render_unrotated(cap: Capture, settings: Settings, kind: str) -> None:
    layer, head = layer_head(cap.shape(kind))
    q_tokens, k_tokens = cap.query_labels(kind), cap.key_labels(kind)
    panels = [Panel(rope.unrotated_pattern(cap, kind, layer, head), q_tokens, k_tokens, _("without rotation")),
              Panel(cap.head(kind, layer, head), q_tokens, k_tokens, _("with rotation (what the model used)"))]
    if max(len(q_tokens), len(k_tokens)) > MAX_CELLS:
        views = {"pooled": _("the whole text, pooled to {n} blocks a side").format(n=MAX_CELLS),
                 "window": _("{n} tokens up to the query token, every weight").format(n=WINDOW)}
        how = st.radio(_("Long text"), list(views), format_func=views.get, horizontal=True, key="pos_rope_long")
        if how == "window":
            query = choose_query(cap, kind)
            lo = max(0, query + 1 - WINDOW)
            rows = slice(lo, lo + WINDOW)
            panels = [Panel(p.weights[rows, rows], q_tokens[rows], k_tokens[rows], p.title) for p in panels]
            st.caption(_("Queries and keys {first}..{last}: weight on keys before the "
                         "window (often the first token) is not drawn, so rows here need not sum to 1.").format(
                             first=lo, last=lo + len(panels[0].query_tokens) - 1))
        else:
            panels, _pooled = pooled_panels(panels)
            st.caption(_("Each cell is the largest weight in its block of queries and keys; the difference is "
                         "between those block maxima."))
    show(compare_figure(panels, colorscale=settings.colorscale,
                        title=_("{model} {kind} layer {layer} head {head}: the rotation taken out").format(
                            model=cap.model_name, kind=_(kind), layer=layer, head=head)),
         f"{cap.model_name}_L{layer}_H{head}_{kind}_unrotated", key="pos_rope_pattern_chart")


def render_rope(cap: Capture, settings: Settings, kind: str) -> None:
    section = (st.segmented_control(_("Show"), ROPE_SECTIONS, format_func=lambda k: _(SECTION_NAMES[k]),
                                    default=ROPE_SECTIONS[0], key="pos_section",
                                    required=True) or ROPE_SECTIONS[0])
    if section not in ROPE_SECTIONS:  # a section of the vector-based view, kept from another model
        section = ROPE_SECTIONS[0]
    ignored = not_applied(settings)
    if ignored and section != "Rotation speeds":
        st.caption(_("Not applied here ({settings}): these are the scores and weights of one real head, "
                     "every token included.").format(settings=", ".join(ignored)))
    if section == "Rotation speeds":
        render_rotation(cap, settings, kind)
    elif section == "One query's scores":
        render_query_scores(cap, kind)
    elif section == "Scores by offset":
        render_offset_scores(cap, kind)
    elif section == "Without rotation":
        render_unrotated(cap, settings, kind)
    elif section == "Offsets":
        render_offsets(cap, settings, kind)
        explain(EXPLANATION)
        return
    else:
        render_ablation(cap, settings)
        explain(EXPLANATION)
        return
    explain(rope_text(cap, kind, section))


def render(cap: Capture, settings: Settings) -> None:
    kind = rope_kind(cap)
    if kind is not None:
        render_rope(cap, settings, kind)
        return
    section = st.segmented_control(_("Show"), SECTIONS, format_func=lambda k: _(SECTION_NAMES[k]),
                                   default=SECTIONS[0], key="pos_section", required=True) or SECTIONS[0]
    if section not in SECTIONS:  # a RoPE section, kept from another model
        section = SECTIONS[0]
    if section in ("Vectors", "Similarity"):
        if cap.positions is None:
            st.info(cap.positions_note or _("{model} adds no positional vectors.").format(model=cap.model_name))
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
