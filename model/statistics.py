"""What each head does, in numbers: pure numpy over attention tensors.

Every function takes weights shaped ``[..., queries, keys]`` (usually
``[layers, heads, queries, keys]`` from ``Capture.attentions``) and reduces the
last two axes. Nothing here runs a model; ``model.corpus`` does that.

Measures, per head, averaged over the query rows:

- entropy: ``-sum p log p`` of a row, in nats (uniform over n keys gives ``log n``);
- distance: mean ``|key - query|`` weighted by attention (self-attention only);
- share on [CLS]-like, [SEP]-like and punctuation keys;
- previous / same / next: the weight on key ``q-1``, ``q``, ``q+1``, averaged over
  the queries that have such a neighbour;
- first: the weight on the first key, whatever token it is (many heads park there, Xiao et al., 2023);
- confidence: the mean of each row's largest weight (Voita et al., 2019).

``clear_head`` picks, from these, the head worth opening a first visit on.
"""

from __future__ import annotations

import unicodedata

import numpy as np
import pandas as pd

from i18n import N_

FIRST_SPECIAL = frozenset({"[CLS]", "<s>", "<bos>", "[BOS]"})
LAST_SPECIAL = frozenset({"[SEP]", "</s>", "<eos>", "[EOS]"})
# Subword markers of WordPiece, byte-level BPE and SentencePiece, stripped before the punctuation test.
SUBWORD_MARKS = ("##", "Ġ", "▁")

# A head that puts at least half of its attention on the first token is flagged as a sink head: on a
# 531-token text that is 78 of SmolLM2's 270 heads and 7 of MiniLM's 72 (on [CLS]).
SINK_SHARE = 0.5

STAT_COLUMNS = ["entropy", "distance", "cls", "sep", "punct", "previous", "same", "next", "first", "confidence"]
STAT_LABELS = {
    "entropy": N_("entropy (nats)"),
    "distance": N_("mean distance"),
    "cls": N_("share on [CLS]"),
    "sep": N_("share on [SEP]"),
    "punct": N_("share on punctuation"),
    "previous": N_("share on previous"),
    "same": N_("share on itself"),
    "next": N_("share on next"),
    "first": N_("share on first token"),
    "confidence": N_("confidence"),
}


def as_weights(att: np.ndarray) -> np.ndarray:
    w = np.asarray(att, dtype=np.float32)
    if w.ndim < 2:
        raise ValueError(f"attention weights are at least 2-D [queries, keys], got shape {w.shape}")
    return w


def entropy(att: np.ndarray) -> np.ndarray:
    """Mean row entropy in nats, shape ``att.shape[:-2]``."""
    w = as_weights(att)
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(w > 0, w * np.log(np.where(w > 0, w, 1.0)), 0.0)
    return (-plogp.sum(-1)).mean(-1)


def mean_distance(att: np.ndarray) -> np.ndarray:
    """Attention-weighted ``|key - query|``, averaged over queries."""
    w = as_weights(att)
    q, k = w.shape[-2:]
    dist = np.abs(np.arange(k)[None, :] - np.arange(q)[:, None]).astype(np.float32)  # (Q, K)
    return (w * dist).sum(-1).mean(-1)


def confidence(att: np.ndarray) -> np.ndarray:
    """Mean of each row's largest weight (Voita et al., 2019)."""
    return as_weights(att).max(-1).mean(-1)


def key_share(att: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Mean over queries of the weight that falls on the keys where ``keys`` is True."""
    w = as_weights(att)
    mask = np.asarray(keys, dtype=bool)
    if mask.shape != (w.shape[-1],):
        raise ValueError(f"key mask of shape {mask.shape} does not match {w.shape[-1]} keys")
    return w[..., mask].sum(-1).mean(-1)


def offset_share(att: np.ndarray, offset: int) -> np.ndarray:
    """Mean weight on key ``q + offset`` over the queries that have one; NaN where none has."""
    w = as_weights(att)
    diag = np.diagonal(w, offset=offset, axis1=-2, axis2=-1)  # (..., n valid queries)
    if diag.shape[-1] == 0:
        return np.full(w.shape[:-2], np.nan, dtype=np.float32)
    return diag.mean(-1)


def offset_profile(att: np.ndarray, max_offset: int | None = None,
                   keep: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean weight by relative offset ``key - query``: ``(offsets, profile [..., n_offsets])``.

    ``keep`` (self-attention only) is a boolean mask of the positions to count, as queries and
    as keys; offsets are then taken between the kept positions in order.
    """
    w = as_weights(att)
    if keep is not None:
        mask = np.asarray(keep, dtype=bool)
        if w.shape[-1] != w.shape[-2] or mask.shape != (w.shape[-1],):
            raise ValueError(f"a keep mask of shape {mask.shape} needs square weights over as many positions")
        w = w[..., mask, :][..., :, mask]  # (..., kept, kept)
    q, k = w.shape[-2:]
    lo, hi = -(q - 1), k - 1
    if max_offset is not None:
        lo, hi = max(lo, -max_offset), min(hi, max_offset)
    offsets = np.arange(lo, hi + 1)
    profile = np.stack([offset_share(w, int(o)) for o in offsets], axis=-1)
    return offsets, profile.astype(np.float32)


def is_punctuation(token: str) -> bool:
    """A token made only of Unicode punctuation once subword marks are stripped."""
    t = token
    for mark in SUBWORD_MARKS:
        t = t.removeprefix(mark)
    return bool(t) and all(unicodedata.category(c).startswith("P") for c in t)


def head_statistics(att: np.ndarray, query_tokens: list[str], key_tokens: list[str] | None = None, *,
                    self_attention: bool = True) -> pd.DataFrame:
    """One row per (layer, head) of ``att [L, H, Q, K]`` with every measure in ``STAT_COLUMNS``.

    Distance and the previous / same / next shares compare query and key positions
    of one sequence: for cross-attention (``self_attention=False``) they are NaN.
    """
    w = as_weights(att)
    if w.ndim != 4:
        raise ValueError(f"expected [layers, heads, queries, keys], got shape {w.shape}")
    key_tokens = query_tokens if key_tokens is None else key_tokens
    L, H, Q, K = w.shape
    if (Q, K) != (len(query_tokens), len(key_tokens)):
        raise ValueError(f"weights {Q} x {K} do not match {len(query_tokens)} queries x {len(key_tokens)} keys")
    nan = np.full((L, H), np.nan, dtype=np.float32)
    stats = {
        "entropy": entropy(w),
        "distance": mean_distance(w) if self_attention else nan,
        "cls": key_share(w, np.array([t in FIRST_SPECIAL for t in key_tokens], dtype=bool)),
        "sep": key_share(w, np.array([t in LAST_SPECIAL for t in key_tokens], dtype=bool)),
        "punct": key_share(w, np.array([is_punctuation(t) for t in key_tokens], dtype=bool)),
        "previous": offset_share(w, -1) if self_attention else nan,
        "same": offset_share(w, 0) if self_attention else nan,
        "next": offset_share(w, 1) if self_attention else nan,
        "first": w[..., 0].mean(-1),  # a model without [CLS] still has a first token heads can park on
        "confidence": confidence(w),
    }
    layer, head = np.meshgrid(np.arange(L), np.arange(H), indexing="ij")
    frame = pd.DataFrame({"layer": layer.ravel(), "head": head.ravel()})
    for name in STAT_COLUMNS:
        frame[name] = np.asarray(stats[name], dtype=np.float64).ravel()  # (L*H,) in layer-major order
    return frame


def sink_heads(first_share: np.ndarray, threshold: float = SINK_SHARE) -> np.ndarray:
    """Which heads are attention sinks: their share on the first token (the ``first`` statistic) >= threshold."""
    return np.asarray(first_share, dtype=np.float64) >= threshold


def clear_head(stats: pd.DataFrame, threshold: float = SINK_SHARE) -> tuple[int, int]:
    """The (layer, head) whose pattern is clearest at first sight: the most confident head that does not
    park its attention on a resting place.

    ``stats`` holds one row per head with ``layer``, ``head``, ``confidence``, ``first``, ``cls`` and ``sep``
    (``head_statistics`` gives them). Confidence (the mean of each row's largest weight) says how sharply
    every query picks one key: a head near 1 draws one dark cell a row, a diffuse head a grey blur. The most
    confident heads, though, are often sinks, every row on [CLS], [SEP] or the first token: one dark column
    that says only "nothing to do here". A head whose share on the first token, or on [CLS]-like and
    [SEP]-like keys together, reaches ``threshold`` is passed over, so what is left sends each query
    somewhere of its own (in MiniLM's layer 0, head 2: each token to the one before it). Ties go to the
    lowest layer, then head. When every head rests so, the most confident one is returned.
    """
    missing = {"layer", "head", "confidence", "first", "cls", "sep"} - set(stats.columns)
    if missing:
        raise ValueError(f"head statistics without {', '.join(sorted(missing))}")
    if stats.empty:
        raise ValueError("no heads to choose from")
    resting = np.maximum(stats["first"].to_numpy(np.float64), (stats["cls"] + stats["sep"]).to_numpy(np.float64))
    eligible = stats[resting < threshold]
    pool = eligible if not eligible.empty else stats
    best = pool.sort_values(["confidence", "layer", "head"], ascending=[False, True, True], kind="stable").iloc[0]
    return int(best["layer"]), int(best["head"])


def attention_rollout(att: np.ndarray, residual: float = 0.5) -> np.ndarray:
    """Attention rollout (Abnar & Zuidema, 2020) after each layer, ``[L, T, T]``.

    Each layer's heads are averaged and the residual connection added as
    ``residual * I + (1 - residual) * A``, rows renormalised; layer ``l``'s rollout
    is that matrix times the rollout of layer ``l - 1``.
    """
    w = as_weights(att)
    if w.ndim != 4 or w.shape[-1] != w.shape[-2]:
        raise ValueError(f"rollout needs square self-attention [layers, heads, T, T], got shape {w.shape}")
    L, _heads, T, _keys = w.shape
    eye = np.eye(T, dtype=np.float64)
    mixed = residual * eye + (1.0 - residual) * w.mean(1, dtype=np.float64)  # (L, T, T), no float64 copy of w
    mixed /= mixed.sum(-1, keepdims=True)
    out = np.empty((L, T, T), dtype=np.float32)
    flow = eye
    for layer in range(L):
        flow = mixed[layer] @ flow
        out[layer] = flow
    return out


def head_similarity(att: np.ndarray) -> np.ndarray:
    """Cosine similarity of every pair of heads' patterns, ``[L*H, L*H]`` in layer-major order."""
    w = as_weights(att)
    if w.ndim != 4:
        raise ValueError(f"expected [layers, heads, queries, keys], got shape {w.shape}")
    flat = w.reshape(w.shape[0] * w.shape[1], -1)  # (L*H, Q*K)
    norms = np.linalg.norm(flat, axis=1, keepdims=True)
    unit = flat / np.where(norms > 0, norms, 1.0)
    sim = unit @ unit.T
    return np.clip(sim, -1.0, 1.0).astype(np.float32)


def cluster_heads(sim: np.ndarray, n_clusters: int) -> np.ndarray:
    """Average-linkage agglomerative clustering on a similarity matrix; labels 0..n_clusters-1.

    Labels are numbered in the order their first head appears, so they are stable.
    """
    s = np.asarray(sim, dtype=np.float64)
    n = s.shape[0]
    if s.shape != (n, n):
        raise ValueError(f"a similarity matrix is square, got shape {s.shape}")
    n_clusters = max(1, min(int(n_clusters), n))
    clusters: list[list[int]] = [[i] for i in range(n)]
    link = s.copy()  # average similarity between current clusters
    np.fill_diagonal(link, -np.inf)
    while len(clusters) > n_clusters:
        a, b = np.unravel_index(np.argmax(link), link.shape)
        a, b = min(a, b), max(a, b)
        na, nb = len(clusters[a]), len(clusters[b])
        merged = (link[a] * na + link[b] * nb) / (na + nb)
        link[a], link[:, a] = merged, merged
        link[a, a] = -np.inf
        link = np.delete(np.delete(link, b, axis=0), b, axis=1)
        clusters[a] = clusters[a] + clusters[b]
        del clusters[b]
    labels = np.empty(n, dtype=np.int64)
    for c, members in enumerate(sorted(clusters, key=min)):
        labels[members] = c
    return labels


def cluster_order(labels: np.ndarray) -> np.ndarray:
    """Head indices grouped by cluster label, in index order within a cluster (for a similarity heatmap)."""
    return np.lexsort((np.arange(len(labels)), np.asarray(labels)))


def similar_heads(sim: np.ndarray, index: int, k: int = 5) -> list[tuple[int, float]]:
    """The ``k`` heads most similar to head ``index`` (itself excluded): ``[(index, similarity)]``."""
    row = np.asarray(sim[index], dtype=np.float64).copy()
    row[index] = -np.inf
    best = np.argsort(-row, kind="stable")[:k]
    return [(int(i), float(row[i])) for i in best]


def position_similarity(vectors: np.ndarray, metric: str = "cosine") -> np.ndarray:
    """``[P, P]`` similarity of positional vectors ``[P, d]``: ``"cosine"`` or ``"dot"``."""
    v = np.asarray(vectors, dtype=np.float32)
    if v.ndim != 2:
        raise ValueError(f"positional vectors are [positions, dims], got shape {v.shape}")
    if metric == "cosine":
        norms = np.linalg.norm(v, axis=1, keepdims=True)
        v = v / np.where(norms > 0, norms, 1.0)
    elif metric != "dot":
        raise ValueError(f"metric is 'cosine' or 'dot', not {metric!r}")
    return (v @ v.T).astype(np.float32)


def largest_changes(a: np.ndarray, b: np.ndarray, query_tokens: list[str], key_tokens: list[str] | None = None,
                    n: int = 10) -> pd.DataFrame:
    """The ``n`` cells where ``b - a`` is largest in size: query, key, tokens, both weights, change."""
    key_tokens = query_tokens if key_tokens is None else key_tokens
    a, b = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
    if a.shape != b.shape or a.shape != (len(query_tokens), len(key_tokens)):
        raise ValueError(f"cannot compare {a.shape} with {b.shape} over {len(query_tokens)} x {len(key_tokens)}")
    diff = (b - a).ravel()
    top = np.argsort(-np.abs(diff), kind="stable")[:n]
    q, k = np.unravel_index(top, a.shape)
    return pd.DataFrame({
        "query": q, "query token": [query_tokens[i] for i in q],
        "key": k, "key token": [key_tokens[i] for i in k],
        "A": a[q, k], "B": b[q, k], "change (B - A)": diff[top],
    })
