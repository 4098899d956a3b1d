"""Reading a corpus file: plain text (one sentence per line), JSONL with a ``text`` field, Parquet with
a ``text`` column.

Each record becomes a ``Line`` with its position in the file as ``sentence_id``, so ids stay the same
whatever is skipped. Blank records are counted, never yielded; a record that cannot be read (a JSONL
line that is not an object with a text string) is yielded with its ``problem``, to be reported.
Text lines are decoded with ``surrogateescape``: a line with invalid UTF-8 bytes reaches the
tokenizer check as unpaired surrogates and is reported there, instead of stopping the job.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

SNIFF_BYTES = 65536  # a NUL byte in the first 64 KiB marks a file as binary, not text
PARQUET_ROWS = 4096  # rows read from a Parquet file at a time


class InputError(ValueError):
    """The corpus file cannot be read at all; the message says why, in one line."""


@dataclass(frozen=True)
class Line:
    sentence_id: int  # the record's position in the file, from 0
    text: str
    problem: str | None = None  # why the record cannot be read, where it cannot


def format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    return {".jsonl": "jsonl", ".parquet": "parquet"}.get(suffix, "text")


class CorpusFile:
    """One corpus file, checked on opening; iterate it for its ``Line``s (``empty`` counts blank ones)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise InputError(f"{self.path}: no such file")
        if not self.path.is_file():
            raise InputError(f"{self.path} is not a file")
        self.format = format_of(self.path)
        try:
            if self.format == "parquet":
                self._check_parquet()
            else:
                self._check_text()
        except OSError as exc:
            raise InputError(f"{self.path} could not be read: {exc.strerror or type(exc).__name__}") from None
        self.empty = 0

    def _check_text(self) -> None:
        with self.path.open("rb") as f:
            head = f.read(SNIFF_BYTES)
        if b"\x00" in head:
            raise InputError(f"{self.path} is a binary file, not text: give one sentence per line "
                             "(or .jsonl with a text field, .parquet with a text column)")

    def _check_parquet(self) -> None:
        try:
            schema = pq.read_schema(self.path)
        except (pa.ArrowException, ValueError) as exc:
            raise InputError(f"{self.path} is not a readable Parquet file: {str(exc).splitlines()[0]}") from None
        if "text" not in schema.names:
            raise InputError(f"{self.path} has no 'text' column (it has: {', '.join(schema.names)})")
        field = schema.field("text")
        if not (pa.types.is_string(field.type) or pa.types.is_large_string(field.type)):
            raise InputError(f"{self.path}: the 'text' column holds {field.type}, not strings")

    def sha256(self) -> str:
        with self.path.open("rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()

    def __iter__(self) -> Iterator[Line]:
        self.empty = 0
        records = self._parquet_records() if self.format == "parquet" else self._text_records()
        for sentence_id, text, problem in records:
            if problem is None and not text.strip():
                self.empty += 1
                continue
            yield Line(sentence_id, text.strip(), problem)

    def _text_records(self) -> Iterator[tuple[int, str, str | None]]:
        with self.path.open("rb") as f:
            for i, raw in enumerate(f):
                text = raw.decode("utf-8", errors="surrogateescape").rstrip("\r\n")
                if self.format == "jsonl":
                    yield (i, *json_text(text))
                else:
                    yield i, text, None

    def _parquet_records(self) -> Iterator[tuple[int, str, str | None]]:
        i = 0
        for batch in pq.ParquetFile(self.path).iter_batches(batch_size=PARQUET_ROWS, columns=["text"]):
            for value in batch.column(0).to_pylist():
                yield i, value or "", None  # a null is a blank record
                i += 1


def json_text(line: str) -> tuple[str, str | None]:
    """The ``text`` of one JSONL line, or ("", the reason it has none); a blank line is blank text."""
    if not line.strip():
        return "", None
    try:
        record = json.loads(line)
    except ValueError as exc:
        return line, f"not valid JSON: {exc}"
    if not isinstance(record, dict) or not isinstance(record.get("text"), str):
        return line, "not a JSON object with a 'text' string"
    return record["text"], None
