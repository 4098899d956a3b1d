"""What each head does, in numbers, over attention tensors.

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

``padded_statistics`` is the one place they are computed, in torch, on a padded batch ``(B, H, Q, K)``:
a corpus batch inside the forward pass (``model.pass_statistics``), or one capture's layers as the
batch (``head_statistics``, which the Statistics view and the exports read). ``clear_head`` picks,
from them, the head worth opening a first visit on.
"""

from __future__ import annotations

import unicodedata
import warnings

import numpy as np
import pandas as pd
import torch

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


N_STATS = len(STAT_COLUMNS)
SHARED = ("cls", "sep", "punct")  # the statistics that are shares on flagged keys, in flag order


def key_flags(tokens: list[str], width: int) -> torch.Tensor:
    """(width, 3) floats: 1 where a key is [CLS]-like, [SEP]-like, punctuation; padding keys 0."""
    flags = torch.zeros((width, len(SHARED)))
    for i, t in enumerate(tokens):
        flags[i] = torch.tensor([t in FIRST_SPECIAL, t in LAST_SPECIAL, is_punctuation(t)], dtype=torch.float32)
    return flags


def _mean_over(values: torch.Tensor, valid: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """Mean of ``values (B, H, n)`` over the positions where ``valid (B, n)``; NaN where ``count`` is 0."""
    total = (values * valid[:, None, :]).sum(-1)  # (B, H)
    return torch.where(count[:, None] > 0, total / count.clamp(min=1)[:, None], torch.nan)


def padded_statistics(w: torch.Tensor, q_len: torch.Tensor, k_len: torch.Tensor, flags: torch.Tensor,
                      self_attention: bool) -> torch.Tensor:
    """Every measure in ``STAT_COLUMNS`` for padded weights ``w (B, H, Q, K)``: ``(B, H, N_STATS)`` float64.

    Row ``b`` holds ``q_len[b]`` real queries and ``k_len[b]`` real keys; the weight on padding keys is
    zero (the mask), and padding queries are left out of every mean. ``flags (B, K, 3)`` marks the
    keys the shares count. Distance and the neighbour shares are NaN unless ``self_attention``.
    Products stay float32 (exact per element, so no thread count can change them) and every sum runs
    in float64: no float64 copy of the weights, which at 2,048 tokens is 300 MB a layer.
    """
    w = w.float()
    B, H, Q, K = w.shape
    q_pos = torch.arange(Q)
    q_valid = (q_pos[None, :] < q_len[:, None]).double()  # (B, Q)
    n_q = q_len.double()
    out = torch.full((B, H, N_STATS), torch.nan, dtype=torch.float64)
    column = STAT_COLUMNS.index

    def per_query(values: torch.Tensor) -> torch.Tensor:  # (B, H, Q) -> (B, H)
        return _mean_over(values.double(), q_valid, n_q)

    def row_sum(values: torch.Tensor) -> torch.Tensor:  # (B, H, Q, K) -> (B, H, Q), in float64
        return values.sum(-1, dtype=torch.float64)

    out[..., column("entropy")] = per_query(-row_sum(torch.special.xlogy(w, w)))
    out[..., column("confidence")] = per_query(w.amax(-1))
    out[..., column("first")] = per_query(w[..., 0])
    for i, name in enumerate(SHARED):
        out[..., column(name)] = per_query(row_sum(w * flags[:, None, None, :, i].float()))
    if self_attention:
        dist = (torch.arange(K)[None, :] - q_pos[:, None]).abs().float()  # (Q, K), whole numbers: exact
        out[..., column("distance")] = per_query(row_sum(w * dist))
        for name, offset in (("previous", -1), ("same", 0), ("next", 1)):
            diag = torch.diagonal(w, offset=offset, dim1=-2, dim2=-1).double()  # (B, H, Q - |offset|)
            n = (q_len - abs(offset)).clamp(min=0)  # queries with such a neighbour
            valid = (torch.arange(diag.shape[-1])[None, :] < n[:, None]).double()  # (B, Q - |offset|)
            out[..., column(name)] = _mean_over(diag, valid, n.double())
    return out


def head_measures(att: np.ndarray, query_tokens: list[str], key_tokens: list[str] | None = None, *,
                  self_attention: bool = True) -> np.ndarray:
    """``padded_statistics`` of ``att [L, H, Q, K]``, the layers as the batch: ``(L, H, N_STATS)`` float64."""
    w = as_weights(att)
    if w.ndim != 4:
        raise ValueError(f"expected [layers, heads, queries, keys], got shape {w.shape}")
    key_tokens = query_tokens if key_tokens is None else key_tokens
    L, H, Q, K = w.shape
    if (Q, K) != (len(query_tokens), len(key_tokens)):
        raise ValueError(f"weights {Q} x {K} do not match {len(query_tokens)} queries x {len(key_tokens)} keys")
    flags = key_flags(key_tokens, K).expand(L, K, len(SHARED))
    with warnings.catch_warnings():  # a capture's arrays are read-only; nothing here writes to them
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        weights = torch.from_numpy(w)
    q_len, k_len = torch.full((L,), Q), torch.full((L,), K)
    # a head at a time: the kernel's temporaries are then one head's weights (17 MB at 2,048 tokens), not 9
    return torch.cat([padded_statistics(weights[:, h:h + 1], q_len, k_len, flags, self_attention)
                      for h in range(H)], dim=1).numpy()


def head_statistics(att: np.ndarray, query_tokens: list[str], key_tokens: list[str] | None = None, *,
                    self_attention: bool = True) -> pd.DataFrame:
    """One row per (layer, head) of ``att [L, H, Q, K]`` with every measure in ``STAT_COLUMNS``.

    Distance and the previous / same / next shares compare query and key positions
    of one sequence: for cross-attention (``self_attention=False``) they are NaN.
    """
    values = head_measures(att, query_tokens, key_tokens, self_attention=self_attention)  # (L, H, N_STATS)
    L, H, _n = values.shape
    layer, head = np.meshgrid(np.arange(L), np.arange(H), indexing="ij")
    frame = pd.DataFrame({"layer": layer.ravel(), "head": head.ravel()})
    for i, name in enumerate(STAT_COLUMNS):
        frame[name] = values[..., i].ravel()  # (L*H,) in layer-major order
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
