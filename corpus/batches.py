"""The per-batch function every engine runs, and how a shard's lines become its batches.

``batch_statistics(model, items)`` is a pure function of the model and ``(sentence_id, text)`` pairs:
one padded forward pass that measures every head as it goes (``model.pass_statistics``). It returns
numbers per head, never attention matrices, so a worker ships a few kilobytes a batch.
``plan_batches`` tokenises a shard once in the driver: lines the tokenizer cannot read are reported
there, and the batches (``model.corpus.batches_by_length``) are fixed before any engine sees them, so
every engine and every rerun computes exactly the same batches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from corpus.reading import Line
from model.capture import encode_checked
from model.corpus import MAX_BATCH_TOKENS, batches_by_length
from model.pass_statistics import batch_head_statistics, statistics_rows
from model.statistics import STAT_COLUMNS
from model.types import LoadedModel

ID_COLUMNS = ["sentence_id", "kind", "layer", "head", "tokens", "truncated", "text"]
COLUMNS = [*ID_COLUMNS, *STAT_COLUMNS]
KIND_ORDER = {"encoder": 0, "decoder": 1, "cross": 2}
ROW_SCHEMA = pa.schema([("sentence_id", pa.int64()), ("kind", pa.string()), ("layer", pa.int16()),
                        ("head", pa.int16()), ("tokens", pa.int32()), ("truncated", pa.bool_()),
                        ("text", pa.string()), *[(name, pa.float64()) for name in STAT_COLUMNS]])
QUOTED_CHARS = 200  # of a skipped line, kept in the report


@dataclass(frozen=True)
class Skipped:
    sentence_id: int
    reason: str
    text: str


def quoted(text: str) -> str:
    """The start of ``text`` as a report can store it (unpaired surrogates shown as U+FFFD)."""
    return text[:QUOTED_CHARS].encode("utf-8", errors="replace").decode("utf-8")


def plan_batches(model: LoadedModel, lines: list[Line], batch_size: int,
                 max_tokens: int = MAX_BATCH_TOKENS) -> tuple[list[list[tuple[int, str]]], list[Skipped]]:
    """``lines`` as batches of ``(sentence_id, text)`` of similar token length, and the lines left out."""
    readable: list[tuple[int, str]] = []
    lengths: list[int] = []
    skipped: list[Skipped] = []
    for line in lines:
        if line.problem is not None:
            skipped.append(Skipped(line.sentence_id, line.problem, quoted(line.text)))
            continue
        try:
            enc = encode_checked(model, line.text)
        except Exception as exc:  # any tokenizer failure is one line's problem, not the job's
            skipped.append(Skipped(line.sentence_id, str(exc) or type(exc).__name__, quoted(line.text)))
            continue
        readable.append((line.sentence_id, line.text))
        lengths.append(len(enc.ids))
    batches = [[readable[i] for i in batch] for batch in batches_by_length(lengths, batch_size, max_tokens)]
    return batches, skipped


def batch_statistics(model: LoadedModel, items: list[tuple[int, str]]) -> pd.DataFrame:
    """One row per (sentence, kind, layer, head) of ``items`` in one forward pass, columns ``COLUMNS``.

    Sentences longer than the model reads are truncated as ``capture`` truncates them, flagged in
    ``truncated``; ``tokens`` counts the tokens read.
    """
    encoded = [encode_checked(model, text) for _, text in items]
    frame = statistics_rows(batch_head_statistics(model, encoded))
    row = frame.pop("row").to_numpy()
    frame["sentence_id"] = np.array([i for i, _text in items], dtype=np.int64)[row]
    frame["tokens"] = np.array([len(e.ids) for e in encoded], dtype=np.int64)[row]
    frame["truncated"] = np.array([e.truncated or e.cut for e in encoded], dtype=bool)[row]
    frame["text"] = pd.Series([text for _i, text in items], dtype=object).to_numpy()[row]
    return frame[COLUMNS]


def table_of(frame: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    """``frame`` with fixed column types and no pandas metadata, the same whether it has rows or none."""
    return pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False).replace_schema_metadata(None)


def batch_table(model: LoadedModel, items: list[tuple[int, str]]) -> pa.Table:
    """``batch_statistics`` as Arrow rows of ``ROW_SCHEMA``: what an engine hands back for a batch."""
    return table_of(batch_statistics(model, items), ROW_SCHEMA)


def sorted_rows(tables: list[pa.Table]) -> pa.Table:
    """A shard's batches as one table in one order whatever order they came back in: sentence, kind, layer,
    head. Sorted in Arrow: the rows never pass through pandas in the job's process."""
    if not tables:
        return ROW_SCHEMA.empty_table()
    rows = pa.concat_tables(tables)
    kind = pc.index_in(rows["kind"], value_set=pa.array(list(KIND_ORDER)))  # 0, 1, 2 in KIND_ORDER's order
    order = pc.sort_indices(rows.append_column("_kind", kind),
                            sort_keys=[(k, "ascending") for k in ("sentence_id", "_kind", "layer", "head")])
    return rows.take(order)
