"""What RoPE's rotation does to one head's scores, read from a Capture's rotated and unrotated queries and keys.

RoPE adds no vector to the embeddings: it turns each pair of dimensions ``(i, i + d/2)`` of every
query and key by ``position * theta^(-2i/d)`` radians just before the dot product. The score of
query ``t`` on key ``s`` then depends on ``t - s`` through the angle between them. A Capture of a
RoPE model keeps the rotated ``q`` / ``k`` (what the scores use) and the angles they were turned by,
which give back the queries and keys before the rotation (``Capture.unrotated``, one head at a time),
so each score splits exactly into

- **content**: ``scale * q_raw . k_raw``, what the score would be without any rotation, and
- **position**: ``rotated - content``, what the rotation adds. At offset 0 the query and key turn
  by the same angle, so it is exactly zero there.

Everything here is numpy over one head at a time: ``[queries, keys]`` at most.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.types import Capture, softmax


def uses_rope(cap: Capture, kind: str) -> bool:
    """Whether ``kind``'s queries and keys were rotated by plain RoPE and the capture kept the angles."""
    return cap.rope_theta is not None and kind in cap.rope_angles


def frequencies(d_head: int, theta: float) -> np.ndarray:
    """float64 ``[d_head / 2]``: radians a token that pair ``i`` of dimensions turns, ``theta^(-2i / d_head)``."""
    if d_head < 2 or d_head % 2:
        raise ValueError(f"RoPE turns pairs of dimensions: d_head must be even and at least 2, got {d_head}")
    if not theta > 1:
        raise ValueError(f"RoPE's base theta must be above 1, got {theta}")
    return theta ** (-2.0 * np.arange(d_head // 2) / d_head)


def wavelengths(freq: np.ndarray) -> np.ndarray:
    """Tokens a pair takes to turn once all the way round: ``2 pi / frequency``."""
    return 2 * np.pi / np.asarray(freq, dtype=np.float64)


def _check(cap: Capture, kind: str, layer: int, head: int) -> None:
    if not uses_rope(cap, kind):
        raise ValueError(f"{cap.model_name or 'this model'} does not rotate its {kind} queries and keys (no RoPE)")
    cap._check(kind, layer, head)


def _qk(cap: Capture, kind: str, layer: int, head: int, raw: bool) -> tuple[np.ndarray, np.ndarray]:
    """One head's queries ``[Q, dh]`` and the keys it reads ``[K, dh]`` (query head h reads key head h // group)."""
    group = cap.q[kind].shape[1] // cap.k[kind].shape[1]
    if raw:
        return cap.unrotated(kind, "q", layer, head), cap.unrotated(kind, "k", layer, head // group)
    return cap.q[kind][layer, head], cap.k[kind][layer, head // group]


def visible(cap: Capture, kind: str, n_queries: int, n_keys: int) -> np.ndarray:
    """bool ``[Q, K]``: which keys each query sees (all, or those at or before it under a causal mask)."""
    if cap.score_forms[kind].causal:
        return np.arange(n_keys)[None, :] <= np.arange(n_queries)[:, None]
    return np.ones((n_queries, n_keys), dtype=bool)


def score_matrices(cap: Capture, kind: str, layer: int, head: int) -> tuple[np.ndarray, np.ndarray]:
    """float32 ``(rotated, content)``, each ``[Q, K]`` before any mask: ``scale * q . k`` with and without
    the rotation."""
    _check(cap, kind, layer, head)
    scale = np.float32(cap.score_forms[kind].scale)
    q, k = _qk(cap, kind, layer, head, raw=False)
    q_raw, k_raw = _qk(cap, kind, layer, head, raw=True)
    return (q @ k.T) * scale, (q_raw @ k_raw.T) * scale  # (Q, K) each


@dataclass(frozen=True)
class QueryScores:
    """One query's scores over the keys it sees, with and without the rotation."""

    keys: np.ndarray  # int ``[n]``: positions of the keys the query sees
    rotated: np.ndarray  # float32 ``[n]``: the scores the model used (rotated q . rotated k, scaled)
    content: np.ndarray  # float32 ``[n]``: the same without the rotation (q_raw . k_raw, scaled)

    @property
    def position(self) -> np.ndarray:
        """What the rotation adds to each score."""
        return self.rotated - self.content


def query_scores(cap: Capture, kind: str, layer: int, head: int, query: int) -> QueryScores:
    """Query ``query``'s scores on every key it sees, split into content and what the rotation adds."""
    _check(cap, kind, layer, head)
    n_q, n_k = cap.shape(kind)[2:]
    if not 0 <= query < n_q:
        raise IndexError(f"query {query} is outside 0..{n_q - 1}")
    keys = np.flatnonzero(visible(cap, kind, n_q, n_k)[query])
    scale = np.float32(cap.score_forms[kind].scale)
    q, k = _qk(cap, kind, layer, head, raw=False)
    q_raw, k_raw = _qk(cap, kind, layer, head, raw=True)
    return QueryScores(keys=keys, rotated=(k[keys] @ q[query]) * scale, content=(k_raw[keys] @ q_raw[query]) * scale)


def pair_contributions(cap: Capture, kind: str, layer: int, head: int, query: int, key: int
                       ) -> tuple[np.ndarray, np.ndarray]:
    """float32 ``(rotated, content)``, each ``[d_head / 2]``: what each dimension pair adds to one score.

    The score is the sum of either over the pairs. Pair ``i`` is dimensions ``i`` and ``i + d/2``,
    turned by ``(query - key) * theta^(-2i/d)`` relative to each other.
    """
    _check(cap, kind, layer, head)
    n_q, n_k = cap.shape(kind)[2:]
    if not (0 <= query < n_q and 0 <= key < n_k):
        raise IndexError(f"query {query} / key {key} outside 0..{n_q - 1} / 0..{n_k - 1}")
    scale = np.float32(cap.score_forms[kind].scale)
    out = []
    for raw in (False, True):
        q, k = _qk(cap, kind, layer, head, raw=raw)
        prod = q[query] * k[key] * scale  # (dh,)
        half = prod.shape[0] // 2
        out.append(prod[:half] + prod[half:])  # (dh/2,): pair i is dims i and i + dh/2
    return out[0], out[1]


def offset_means(cap: Capture, kind: str, layer: int, head: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean score by offset ``key - query`` over every visible (query, key) pair of one head.

    Returns ``(offsets, content, position, counts)``: the offsets present, the mean content score
    and the mean of what the rotation adds at each, and how many pairs each mean is over.
    """
    rotated, content = score_matrices(cap, kind, layer, head)
    n_q, n_k = content.shape
    seen = visible(cap, kind, n_q, n_k)
    offset = (np.arange(n_k)[None, :] - np.arange(n_q)[:, None])[seen] + (n_q - 1)  # (pairs,): shifted to >= 0
    n_bins = n_q + n_k - 1
    counts = np.bincount(offset, minlength=n_bins)
    sum_content = np.bincount(offset, weights=content[seen], minlength=n_bins)
    sum_position = np.bincount(offset, weights=(rotated - content)[seen], minlength=n_bins)
    present = counts > 0
    offsets = np.arange(n_bins)[present] - (n_q - 1)
    n = counts[present]
    return (offsets, (sum_content[present] / n).astype(np.float32), (sum_position[present] / n).astype(np.float32),
            n)


def unrotated_pattern(cap: Capture, kind: str, layer: int, head: int) -> np.ndarray:
    """float32 ``[Q, K]``: the head's weights had its queries and keys not been rotated.

    The same score as the model's with its content term taken from ``q_raw . k_raw``; every other
    term (the causal mask, a bias where there is one) stays, so rows still sum to 1.
    """
    _, content = score_matrices(cap, kind, layer, head)
    terms = cap.score_terms(kind, layer, head)
    terms["content"] = content
    total = sum(terms.values())  # (Q, K)
    return softmax(np.asarray(total, dtype=np.float32))


def first_token_share(cap: Capture, kind: str, last: int = 32) -> np.ndarray:
    """float32 ``[layers, heads]``: the mean weight the ``last`` queries put on the first key.

    A cheap way to find the attention sinks of a long text: ``last`` rows of every head, not every weight.
    """
    if not uses_rope(cap, kind):
        raise ValueError(f"{cap.model_name or 'this model'} does not rotate its {kind} queries and keys (no RoPE)")
    n_layers, n_heads, n_q, n_k = cap.shape(kind)
    rows = np.arange(max(0, n_q - last), n_q)
    seen = visible(cap, kind, n_q, n_k)[rows]  # (rows, K)
    group = n_heads // cap.k[kind].shape[1]
    scale = np.float32(cap.score_forms[kind].scale)
    n_kv = n_heads // group
    # query head h reads key head h // group: heads kv * group .. kv * group + group - 1 share one key head
    q = cap.q[kind][:, :, rows].reshape(n_layers, n_kv, group * rows.size, -1)  # (L, KV, group * rows, dh)
    dots = np.matmul(cap.k[kind], q.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2) * scale  # (L, KV, group*rows, K)
    scores = np.where(seen, dots.reshape(n_layers, n_heads, rows.size, n_k), -np.inf)  # (L, H, rows, K)
    return softmax(scores.astype(np.float32))[..., 0].mean(axis=-1)
