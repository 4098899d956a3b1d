"""A plain numpy reading of every head measure, one formula per measure: what the tests hold
``model.statistics.padded_statistics`` (torch, padded batches) to."""

from __future__ import annotations

import numpy as np

from model.statistics import FIRST_SPECIAL, LAST_SPECIAL, STAT_COLUMNS, is_punctuation


def reference_measures(att: np.ndarray, query_tokens: list[str], key_tokens: list[str] | None = None, *,
                       self_attention: bool = True) -> np.ndarray:
    """``att [L, H, Q, K]`` -> ``(L * H, len(STAT_COLUMNS))`` in layer-major order, float64."""
    w = np.asarray(att, dtype=np.float64)
    keys = query_tokens if key_tokens is None else key_tokens
    L, H, Q, K = w.shape
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(w > 0, w * np.log(np.where(w > 0, w, 1.0)), 0.0)
    share = {name: w[..., np.array([test(t) for t in keys], dtype=bool)].sum(-1).mean(-1)
             for name, test in (("cls", lambda t: t in FIRST_SPECIAL), ("sep", lambda t: t in LAST_SPECIAL),
                                ("punct", is_punctuation))}
    nan = np.full((L, H), np.nan)

    def neighbour(offset: int) -> np.ndarray:
        diag = np.diagonal(w, offset=offset, axis1=-2, axis2=-1)
        return diag.mean(-1) if diag.shape[-1] else nan

    dist = np.abs(np.arange(K)[None, :] - np.arange(Q)[:, None])
    stats = {
        "entropy": (-plogp.sum(-1)).mean(-1),
        "distance": (w * dist).sum(-1).mean(-1) if self_attention else nan,
        **share,
        "previous": neighbour(-1) if self_attention else nan,
        "same": neighbour(0) if self_attention else nan,
        "next": neighbour(1) if self_attention else nan,
        "first": w[..., 0].mean(-1),
        "confidence": w.max(-1).mean(-1),
    }
    return np.stack([stats[name].reshape(L * H) for name in STAT_COLUMNS], axis=1)
