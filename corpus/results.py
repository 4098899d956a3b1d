"""What a finished corpus job adds to its rows: a summary per head and each head's strongest sentences.

Both are built from the shards one at a time, in shard order, so memory stays that of one shard and
a resumed job, which reads the same shards, gets the same numbers as an uninterrupted one. A shard's
rows become one ``(sentences, heads, statistics)`` array, and everything after is numpy over its
first axis: no long table of one row per value, which cost more than the rest of the job's driver
work together (3 s of 10,000 sentences). Means and spreads are merged with Chan et al.'s pairwise
update (count, mean, sum of squared deviations), which stays exact in float64 where a running sum of
squares would cancel. A NaN (a measure a head has not, e.g. distance in cross-attention) is left out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from corpus.batches import KIND_ORDER
from model.statistics import STAT_COLUMNS

TOP = 20  # strongest sentences kept per head and statistic
HEAD_KEYS = ["kind", "layer", "head", "statistic"]
GROUP_KEYS = ["kind", "layer", "head"]
N_STATS = len(STAT_COLUMNS)


def as_cube(rows: pd.DataFrame, heads: pd.MultiIndex) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A shard's rows as ``values (S, G, N_STATS)`` (NaN where a row is missing), the sentence ids ``(S,)``
    in order of first appearance, and the index of each sentence's first row ``(S,)``."""
    ids, first_row, sentence = np.unique(rows["sentence_id"].to_numpy(np.int64), return_index=True,
                                         return_inverse=True)
    head = heads.get_indexer(pd.MultiIndex.from_frame(rows[GROUP_KEYS]))
    if (head < 0).any():
        raise ValueError("a shard holds a head that the first shard did not")
    values = np.full((len(ids), len(heads), N_STATS), np.nan)
    values[sentence, head] = rows[STAT_COLUMNS].to_numpy(np.float64)
    return values, ids, first_row


def moments(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Count, mean and sum of squared deviations over axis 0, NaNs left out: each ``values.shape[1:]``."""
    count = (~np.isnan(values)).sum(0).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nansum(values, 0) / count
    m2 = np.nansum((values - mean) ** 2, 0)
    return count, np.where(count > 0, mean, 0.0), m2


def strongest_first(values: np.ndarray, ids: np.ndarray, top: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``top`` highest of ``values (C, G, N_STATS)`` along axis 0 and their ``ids`` (same shape):
    strongest first, the smaller id first among equal values, NaN past the end; ``min(C, top)`` deep.

    Sorting every candidate along axis 0 cost most of a shard's summary (46 ms of 71 for 1,000 sentences of
    72 heads); a partition finds each cell's ``top``-th value, and only the candidates at or above it, ties
    included, are sorted."""
    c, g, s = values.shape
    depth = min(c, top)
    nan = np.isnan(values).reshape(c, g * s).T  # (K, C), K = G * N_STATS cells
    key = np.where(nan, np.inf, -values.reshape(c, g * s).T)  # (K, C): ascending key = strongest first
    keep = ~nan
    if c > depth:
        keep &= key <= np.partition(key, depth - 1, axis=1)[:, depth - 1:depth]
    cell, row = np.nonzero(keep)  # (N,) each
    cand_ids = ids.reshape(c, g * s).T[cell, row]
    order = np.lexsort((cand_ids, key[cell, row], cell))
    cell, row, cand_ids = cell[order], row[order], cand_ids[order]
    rank = np.arange(len(cell)) - np.searchsorted(cell, cell)  # place within its cell, 0 = strongest
    cell, row, cand_ids, rank = cell[rank < depth], row[rank < depth], cand_ids[rank < depth], rank[rank < depth]
    top_values = np.full((depth, g * s), np.nan)
    top_ids = np.zeros((depth, g * s), dtype=np.int64)
    top_values[rank, cell] = -key[cell, row]
    top_ids[rank, cell] = cand_ids
    return top_values.reshape(depth, g, s), top_ids.reshape(depth, g, s)


class Summary:
    """Running count, mean and spread, and the ``TOP`` strongest sentences, per head and statistic."""

    def __init__(self) -> None:
        self.heads: pd.MultiIndex | None = None  # (kind, layer, head), the G heads in first-seen order
        self.count = self.mean = self.m2 = np.zeros((0, N_STATS))  # each (G, N_STATS)
        self.top_values = np.zeros((0, 0, N_STATS))  # (<= TOP, G, N_STATS), strongest first, NaN past the end
        self.top_ids = np.zeros((0, 0, N_STATS), dtype=np.int64)
        self.sentences: dict[int, tuple[int, str]] = {}  # (tokens, text) of the sentences in the top

    def add(self, rows: pd.DataFrame) -> None:
        if rows.empty:
            return
        if self.heads is None:
            self.heads = pd.MultiIndex.from_frame(rows[GROUP_KEYS].drop_duplicates())
            g = len(self.heads)
            self.count, self.mean, self.m2 = (np.zeros((g, N_STATS)) for _ in range(3))
            self.top_values = np.zeros((0, g, N_STATS))
            self.top_ids = np.zeros((0, g, N_STATS), dtype=np.int64)
        values, ids, first_row = as_cube(rows, self.heads)
        self.merge(*moments(values))
        # strongest first; among equal values the earlier sentence, so ties never depend on batch order
        cand_values = np.concatenate([self.top_values, values])  # (C, G, N_STATS)
        cand_ids = np.concatenate([self.top_ids, np.broadcast_to(ids[:, None, None], values.shape)])
        self.top_values, self.top_ids = strongest_first(cand_values, cand_ids, TOP)
        kept = set(np.unique(self.top_ids[~np.isnan(self.top_values)]).tolist())
        # only the kept sentences' first rows: turning every row's text into a Python string cost more
        # than the rest of this method
        held = [(int(i), int(r)) for i, r in zip(ids, first_row, strict=True) if int(i) in kept]
        tokens, texts = rows["tokens"].iloc[[r for _i, r in held]], rows["text"].iloc[[r for _i, r in held]]
        new = {i: (int(n), t) for (i, _r), n, t in zip(held, tokens, texts, strict=True)}
        self.sentences = {i: s for i, s in {**self.sentences, **new}.items() if i in kept}

    def merge(self, count: np.ndarray, mean: np.ndarray, m2: np.ndarray) -> None:
        """Chan et al.'s update of (count, mean, m2) for the union of the values so far and a new group's."""
        n = self.count + count
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(n > 0, count / n, 0.0)
        delta = mean - self.mean
        self.m2 = self.m2 + m2 + delta * delta * self.count * share
        self.mean = self.mean + delta * share
        self.count = n

    def cells(self, depth: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Head, statistic and rank (< ``depth``) indices of every cell, ordered by kind (encoder, decoder,
        cross), layer, head, ``STAT_COLUMNS``, then rank."""
        heads = self.heads if self.heads is not None else pd.MultiIndex.from_tuples([], names=GROUP_KEYS)
        kinds = np.array([KIND_ORDER[k] for k in heads.get_level_values("kind")], dtype=np.int64)
        order = np.lexsort((heads.get_level_values("head"), heads.get_level_values("layer"), kinds))
        n = N_STATS * depth
        g = np.repeat(order, n)
        s = np.tile(np.repeat(np.arange(N_STATS), depth), len(order))
        r = np.tile(np.arange(depth), len(order) * N_STATS)
        return g, s, r

    def keys(self, g: np.ndarray, s: np.ndarray) -> dict[str, np.ndarray]:
        """The kind, layer, head and statistic columns of cells ``(g, s)``."""
        heads = self.heads if self.heads is not None else pd.MultiIndex.from_tuples([], names=GROUP_KEYS)
        return {**{k: heads.get_level_values(k).to_numpy()[g] for k in GROUP_KEYS},
                "statistic": np.array(STAT_COLUMNS, dtype=object)[s]}

    def summary(self) -> pd.DataFrame:
        """kind, layer, head, statistic, mean, std (sample; NaN under 2 sentences), count."""
        g, s, _r = self.cells()
        g, s = g[self.count[g, s] > 0], s[self.count[g, s] > 0]
        count = self.count[g, s]
        with np.errstate(invalid="ignore", divide="ignore"):
            std = np.where(count > 1, np.sqrt(self.m2[g, s] / (count - 1)), np.nan)
        return pd.DataFrame({**self.keys(g, s), "mean": self.mean[g, s], "std": std,
                             "count": count.astype(np.int64)})

    def strongest(self) -> pd.DataFrame:
        """kind, layer, head, statistic, rank (1 = strongest), sentence_id, value, tokens, text."""
        g, s, r = self.cells(self.top_values.shape[0])
        held = ~np.isnan(self.top_values[r, g, s]) if len(g) else np.zeros(0, dtype=bool)
        g, s, r = g[held], s[held], r[held]
        ids = self.top_ids[r, g, s]
        return pd.DataFrame({**self.keys(g, s), "rank": r + 1, "sentence_id": ids, "value": self.top_values[r, g, s],
                             "tokens": np.array([self.sentences[int(i)][0] for i in ids], dtype=np.int64),
                             "text": pd.Series([self.sentences[int(i)][1] for i in ids], dtype=object)})
