"""Reading a finished corpus result, for the dashboard: open a folder the server allows, then read the
summary, the strongest sentences, and one head's values over the corpus.

A visitor types the folder's path into the page, so it is checked as checkpoint folders are
(``model.folders.resolve_checkpoint``: inside the allowed roots after every symlink is resolved),
and every refusal gets one answer that tells nothing about the server's files. Only the files the
job writes are read; one head's values are read column by column with a filter on the head, so a
large corpus costs one column's scan, not the whole table in memory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from corpus.job import SKIPPED, SUMMARY, TOP
from corpus.shards import MANIFEST, PARTS
from model.errors import ModelLoadError
from model.folders import resolve_checkpoint
from model.statistics import STAT_COLUMNS

REFUSED = ("No finished corpus result by that name is available on this server. Result folders must lie inside "
           "the folders that whoever runs the server allows, and hold a finished `python -m corpus run`.")


class ResultError(ValueError):
    """A result folder cannot be opened; the message is safe to show a visitor."""


@dataclass(frozen=True)
class CorpusResult:
    folder: Path
    manifest: dict[str, Any]
    summary: pd.DataFrame  # kind, layer, head, statistic, mean, std, count
    top: pd.DataFrame  # kind, layer, head, statistic, rank, sentence_id, value, tokens, text
    skipped: pd.DataFrame  # sentence_id, reason, text

    @property
    def model(self) -> str:
        return self.manifest["settings"]["model"]

    def wide(self, kind: str) -> pd.DataFrame:
        """One row per head of ``kind``: layer, head, sentences, ``<stat>_mean`` and ``<stat>_std``."""
        part = self.summary[self.summary["kind"] == kind]
        wide = part.pivot_table(index=["layer", "head"], columns="statistic", values=["mean", "std"],
                                dropna=False)
        wide.columns = [f"{stat}_{what}" for what, stat in wide.columns]
        wide["sentences"] = part.groupby(["layer", "head"])["count"].max()
        return wide.reset_index()

    def strongest(self, kind: str, layer: int, head: int, stat: str) -> pd.DataFrame:
        t = self.top
        return t[(t["kind"] == kind) & (t["layer"] == layer) & (t["head"] == head) & (t["statistic"] == stat)]

    def values(self, kind: str, layer: int, head: int, stat: str) -> np.ndarray:
        """``stat`` of one head for every sentence of the corpus (NaN dropped)."""
        if stat not in STAT_COLUMNS:
            raise ValueError(f"no statistic {stat!r}")
        data = ds.dataset(self.folder / PARTS, format="parquet")
        head_filter = (ds.field("kind") == kind) & (ds.field("layer") == layer) & (ds.field("head") == head)
        column = data.to_table(columns=[stat], filter=head_filter).column(0)
        values = column.to_numpy(zero_copy_only=False).astype(np.float64)
        return values[~np.isnan(values)]


def open_result(text: str, roots: list[Path]) -> CorpusResult:
    """The finished result at ``text``, if it lies inside ``roots``; else ``ResultError``."""
    try:
        folder = resolve_checkpoint(text, roots)
    except ModelLoadError as exc:
        raise ResultError(REFUSED if roots else str(exc).replace("checkpoint folders", "result folders")) from None
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        if "result" not in manifest:
            raise ResultError("That corpus result is not finished yet: run the same `python -m corpus run` "
                              "command again to complete it.")
        tables = {name: ds.dataset(folder / name, format="parquet").to_table().to_pandas()
                  for name in (SUMMARY, TOP, SKIPPED)}
    except (OSError, ValueError, KeyError, pa.ArrowException) as exc:
        if isinstance(exc, ResultError):
            raise
        raise ResultError(REFUSED) from None
    return CorpusResult(folder, manifest, tables[SUMMARY], tables[TOP], tables[SKIPPED])
