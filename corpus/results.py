"""What a finished corpus job adds to its rows: a summary per head and each head's strongest sentences.

Both are built from the shards one at a time, in shard order, so memory stays that of one shard and
a resumed job, which reads the same shards, gets the same numbers as an uninterrupted one. Means and
spreads are merged with Chan et al.'s pairwise update (count, mean, sum of squared deviations), which
stays exact in float64 where a running sum of squares would cancel.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from corpus.batches import KIND_ORDER
from model.statistics import STAT_COLUMNS

TOP = 20  # strongest sentences kept per head and statistic
HEAD_KEYS = ["kind", "layer", "head", "statistic"]


def long_form(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per (sentence, head, statistic) with a value; NaN (a measure a head has not) dropped.

    Without the text: a shard's rows times ten statistics would copy every sentence 720 times.
    """
    long = rows.melt(id_vars=["sentence_id", "kind", "layer", "head"], value_vars=STAT_COLUMNS,
                     var_name="statistic", value_name="value")
    return long[long["value"].notna()]


class Summary:
    """Running count, mean and spread, and the ``TOP`` strongest sentences, per head and statistic."""

    def __init__(self) -> None:
        self.moments: pd.DataFrame | None = None  # index HEAD_KEYS; count, mean, m2
        self.top: pd.DataFrame | None = None
        self.sentences = pd.DataFrame(columns=["tokens", "text"])  # of the sentences in ``top``, by id

    def add(self, rows: pd.DataFrame) -> None:
        long = long_form(rows)
        if long.empty:
            return
        grouped = long.groupby(HEAD_KEYS, sort=False)["value"]
        b = pd.DataFrame({"count": grouped.count().astype(np.float64), "mean": grouped.mean()})
        b["m2"] = grouped.var(ddof=0) * b["count"]
        self.moments = b if self.moments is None else merge_moments(self.moments, b)
        # strongest first; among equal values the earlier sentence, so ties never depend on batch order
        both = long if self.top is None else pd.concat([self.top, long], ignore_index=True)
        both = both.sort_values([*HEAD_KEYS, "value", "sentence_id"], ascending=[True] * 4 + [False, True],
                                kind="stable")
        self.top = both.groupby(HEAD_KEYS, sort=False).head(TOP).reset_index(drop=True)
        new = rows.drop_duplicates("sentence_id").set_index("sentence_id")[["tokens", "text"]]
        kept = self.top["sentence_id"].unique()
        self.sentences = pd.concat([self.sentences, new]).reindex(kept)

    def summary(self) -> pd.DataFrame:
        """kind, layer, head, statistic, mean, std (sample; NaN under 2 sentences), count."""
        if self.moments is None:
            return pd.DataFrame({c: [] for c in [*HEAD_KEYS, "mean", "std", "count"]})
        m = self.moments.reset_index()
        with np.errstate(invalid="ignore", divide="ignore"):
            std = np.sqrt(m["m2"] / (m["count"] - 1)).where(m["count"] > 1)
        out = pd.DataFrame({**{k: m[k] for k in HEAD_KEYS}, "mean": m["mean"], "std": std,
                            "count": m["count"].astype(np.int64)})
        return head_order(out)

    def strongest(self) -> pd.DataFrame:
        """kind, layer, head, statistic, rank (1 = strongest), sentence_id, value, tokens, text."""
        if self.top is None:
            return pd.DataFrame({c: [] for c in [*HEAD_KEYS, "rank", "sentence_id", "value", "tokens", "text"]})
        top = head_order(self.top)
        top.insert(4, "rank", top.groupby(HEAD_KEYS, sort=False).cumcount() + 1)
        top["tokens"] = self.sentences["tokens"].reindex(top["sentence_id"]).to_numpy().astype(np.int64)
        top["text"] = self.sentences["text"].reindex(top["sentence_id"]).to_numpy()
        return top[[*HEAD_KEYS, "rank", "sentence_id", "value", "tokens", "text"]]


def merge_moments(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Chan et al.'s update of (count, mean, m2) for the union of two groups of values, per index."""
    index = a.index.union(b.index, sort=False)
    a, b = a.reindex(index).fillna(0.0), b.reindex(index).fillna(0.0)
    n = a["count"] + b["count"]
    delta = b["mean"] - a["mean"]
    out = pd.DataFrame(index=index)
    out["count"] = n
    out["mean"] = a["mean"] + delta * (b["count"] / n)
    out["m2"] = a["m2"] + b["m2"] + delta * delta * (a["count"] * b["count"] / n)
    return out


def head_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows by kind (encoder, decoder, cross), layer, head, statistic in ``STAT_COLUMNS`` order; stable."""
    rank = {name: i for i, name in enumerate(STAT_COLUMNS)}
    keyed = frame.assign(_kind=frame["kind"].map(KIND_ORDER), _stat=frame["statistic"].map(rank))
    keyed = keyed.sort_values(["_kind", "layer", "head", "_stat"], kind="stable")
    return keyed.drop(columns=["_kind", "_stat"]).reset_index(drop=True)
