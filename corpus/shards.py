"""A result folder: finished shards, a manifest saying what they are, and atomic writes.

DIR/statistics/part-NNNNNN.parquet holds shard NNNNNN's rows (read the folder as one table with
``pyarrow.parquet.read_table(DIR / "statistics")``). Every file is written to a dot-named temporary
file beside it and renamed into place, so a crash never leaves half a file under a real name. The
manifest (DIR/manifest.json, written the same way after each shard) records the input's hash, the
model and the settings, and per finished shard its lines and the SHA-256 of its file: a shard
counts as done only if its file still has that hash, so a truncated or corrupt file is recomputed.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

MANIFEST = "manifest.json"
PARTS = "statistics"
FORMAT = 1  # bumped when the folder's layout or a column's meaning changes


class FolderError(ValueError):
    """The output folder cannot hold this job's result; the message says why, in one line."""


def part_path(out: Path, index: int) -> Path:
    return out / PARTS / f"part-{index:06d}.parquet"


def temporary(path: Path) -> Path:
    # dot-named: pyarrow's dataset discovery skips it, so a reader never sees a half-written part
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def write_table(table: pa.Table, path: Path) -> str:
    """Write ``table`` to ``path`` atomically; its SHA-256."""
    tmp = temporary(path)
    # dictionaries only for text: a float statistic rarely repeats, and a dictionary per float column
    # was most of a shard's write time
    strings = [f.name for f in table.schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
    pq.write_table(table, tmp, compression="zstd", use_dictionary=strings)
    with tmp.open("rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return digest


def write_json(data: dict[str, Any], path: Path) -> None:
    tmp = temporary(path)
    with tmp.open("w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, ensure_ascii=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def file_sha256(path: Path) -> str | None:
    try:
        with path.open("rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except OSError:
        return None


class ResultFolder:
    """DIR as this job sees it: opened for ``settings``, refusing a folder that holds anything else."""

    def __init__(self, out: str | Path, settings: dict[str, Any]) -> None:
        self.out = Path(out)
        if self.out.exists() and not self.out.is_dir():
            raise FolderError(f"--out {self.out} is a file, not a folder")
        manifest_path = self.out / MANIFEST
        self.manifest: dict[str, Any] = {"format": FORMAT, "settings": settings, "shards": {}}
        if manifest_path.exists():
            try:
                found = json.loads(manifest_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                raise FolderError(f"{manifest_path} is not a readable manifest: remove the folder or choose "
                                  "another --out") from None
            if found.get("format") != FORMAT or found.get("settings") != settings:
                differ = sorted(k for k in {**settings, **found.get("settings", {})}
                                if found.get("settings", {}).get(k) != settings.get(k))
                raise FolderError(f"{self.out} holds a result for another input or settings "
                                  f"({', '.join(differ) or 'format'} differ): choose another --out")
            self.manifest = found
        elif self.out.exists() and any(self.out.iterdir()):
            raise FolderError(f"{self.out} is not empty and holds no corpus result: choose an empty or new --out")
        try:
            (self.out / PARTS).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise FolderError(f"--out {self.out} cannot be created: {exc.strerror or type(exc).__name__}") from None

    @property
    def shards(self) -> dict[str, dict[str, Any]]:
        return self.manifest["shards"]

    def is_done(self, index: int, lines: int, first_id: int, last_id: int) -> bool:
        """Shard ``index`` is finished for these lines, and its file is the one that was written."""
        record = self.shards.get(str(index))
        if record is None or (record["lines"], record["first_id"], record["last_id"]) != (lines, first_id, last_id):
            return False
        return file_sha256(part_path(self.out, index)) == record["sha256"]

    def finish_shard(self, index: int, table: pa.Table, record: dict[str, Any]) -> None:
        """Write the shard's rows, then record it: a crash between the two only recomputes the shard."""
        record = {**record, "rows": table.num_rows, "sha256": write_table(table, part_path(self.out, index))}
        self.shards[str(index)] = record
        self.manifest.pop("result", None)
        self.save()

    def keep_only(self, n_shards: int) -> None:
        """Forget shards ``n_shards`` and above (a rerun with a smaller ``--limit``) and stray temporary files."""
        for key in [k for k in self.shards if int(k) >= n_shards]:
            del self.shards[key]
        for path in (self.out / PARTS).iterdir():
            stray = path.name.startswith(".") and path.name.endswith(".tmp")
            if stray or (path.name.startswith("part-") and int(path.stem.split("-")[1]) >= n_shards):
                path.unlink()

    def save(self) -> None:
        write_json(self.manifest, self.out / MANIFEST)
