"""The corpus job: read, plan shards, run batches on an engine, write shards and sum them up in order.

Shard ``k`` holds the ``k``-th ``shard_size`` readable-or-reported lines of the input in file order,
so which lines a shard holds depends only on the input and ``shard_size``. A rerun skips every
shard whose file is intact (``ResultFolder.is_done``), computes the rest, and builds the summary
from all shards in order (``ShardsInOrder``): after a crash or Ctrl-C it ends with the same files as
an uninterrupted run.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from corpus.batches import Skipped, plan_batches, sorted_rows, table_of
from corpus.engines import Work
from corpus.progress import Progress
from corpus.reading import CorpusFile, Line
from corpus.results import Summary
from corpus.shards import PARTS, ResultFolder, part_path, write_table
from model.corpus import MAX_BATCH_TOKENS
from model.types import LoadedModel

SUMMARY, TOP, SKIPPED = "summary.parquet", "top.parquet", "skipped.parquet"


class ShardsInOrder:
    """The summary and the totals, fed each shard as soon as every shard before it is in.

    In shard order, so a resumed job adds the same numbers in the same order as an uninterrupted one
    (a mean merged in another order can differ in its last bit), and while the engine still computes:
    the summary is no serial pass over every file after the last batch, which would grow with the
    corpus. A shard that comes back early is held until those before it are in; a shard an earlier run
    finished is read from its file when its turn comes.
    """

    def __init__(self, folder: ResultFolder) -> None:
        self.folder, self.summary = folder, Summary()
        self.next = self.sentences = self.truncated = 0
        self.held: dict[int, pa.Table | None] = {}

    def add(self, index: int, rows: pa.Table | None) -> None:
        """Shard ``index``'s rows, or None for a shard already on disk."""
        self.held[index] = rows
        while self.next in self.held:
            table = self.held.pop(self.next)
            frame = (pq.read_table(part_path(self.folder.out, self.next)) if table is None else table).to_pandas()
            self.summary.add(frame)
            self.sentences += frame["sentence_id"].nunique()
            self.truncated += frame.loc[frame["truncated"], "sentence_id"].nunique()
            self.next += 1


class JobError(ValueError):
    """The job cannot run as asked; the message says why, in one line."""


@dataclass(frozen=True)
class JobSettings:
    """What decides the result: a folder made with other settings is refused, not mixed."""

    model: str = "minilm"
    shard_size: int = 1000
    batch_size: int = 64
    max_batch_tokens: int = MAX_BATCH_TOKENS


@dataclass
class Shard:
    index: int
    lines: list[Line]
    batches: list[list[tuple[int, str]]] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        return {"lines": len(self.lines), "first_id": self.lines[0].sentence_id,
                "last_id": self.lines[-1].sentence_id, "sentences": sum(len(b) for b in self.batches),
                "skipped": [asdict(s) for s in self.skipped]}


@dataclass
class JobResult:
    out: Path
    shards: int
    computed: int  # shards computed by this run (the rest were already finished)
    sentences: int
    skipped: int
    empty: int
    truncated: int
    seconds: float
    first_wait: float | None = None  # seconds until the engine's first batch came back (its start-up)
    steady_rate: float | None = None  # sentences per second from that first batch to the last (Progress)


def shards_of(lines: Iterator[Line], size: int) -> Iterator[list[Line]]:
    while chunk := list(itertools.islice(lines, size)):
        yield chunk


SUMMARY_SCHEMA = pa.schema([("kind", pa.string()), ("layer", pa.int16()), ("head", pa.int16()),
                            ("statistic", pa.string()), ("mean", pa.float64()), ("std", pa.float64()),
                            ("count", pa.int64())])
TOP_SCHEMA = pa.schema([("kind", pa.string()), ("layer", pa.int16()), ("head", pa.int16()),
                        ("statistic", pa.string()), ("rank", pa.int16()), ("sentence_id", pa.int64()),
                        ("value", pa.float64()), ("tokens", pa.int32()), ("text", pa.string())])
SKIPPED_SCHEMA = pa.schema([("sentence_id", pa.int64()), ("reason", pa.string()), ("text", pa.string())])


def run_job(corpus: CorpusFile, out: str | Path, settings: JobSettings, model: LoadedModel, engine: Any, *,
            limit: int | None = None, progress: bool = True) -> JobResult:
    """Compute every pending shard of ``corpus`` on ``engine``, then the summary; see the module docstring."""
    if settings.shard_size < 1 or settings.batch_size < 1:
        raise JobError("--shard-size and --batch-size are at least 1")
    start = time.perf_counter()
    total = sum(1 for _ in itertools.islice(corpus, limit))
    if total == 0:
        raise JobError(f"{corpus.path} holds no sentence ({corpus.empty} blank lines): give one sentence per line")
    folder = ResultFolder(out, {"input_sha256": corpus.sha256(), "input_format": corpus.format,
                                **asdict(settings)})
    bar = Progress(total, enabled=progress)
    in_order = ShardsInOrder(folder)
    lines = itertools.islice(iter(corpus), limit)
    n_shards = computed = 0
    stop = threading.Event()
    steps = planned(lines, settings, model, folder, engine.wave_sentences, stop)
    # the next step is planned in a thread while this one runs: a wave's tokenising overlaps the wave
    # before it instead of leaving the workers idle between the two
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="corpus-plan") as planner:
        ahead = planner.submit(next, steps, None)
        try:
            while (step := ahead.result()) is not None:
                ahead = planner.submit(next, steps, None)
                if isinstance(step, Kept):
                    bar.update(step.lines, fresh=False)
                    in_order.add(step.index, None)
                    n_shards = max(n_shards, step.index + 1)
                else:
                    computed += run_wave(step, engine, folder, bar, in_order)
                    n_shards = max([n_shards, *(s.index + 1 for s in step)])
        finally:
            stop.set()  # after an error or Ctrl-C the planner ends at its next shard
            bar.close()
    folder.keep_only(n_shards)
    result = finish(folder, n_shards, computed, corpus.empty, in_order, time.perf_counter() - start)
    result.first_wait, result.steady_rate = bar.first_wait(), bar.steady_rate()
    return result


@dataclass(frozen=True)
class Kept:
    """A shard an earlier run finished, whose file is intact."""

    index: int
    lines: int


def planned(lines: Iterator[Line], settings: JobSettings, model: LoadedModel, folder: ResultFolder,
            wave_sentences: int, stop: threading.Event) -> Iterator[Kept | list[Shard]]:
    """The job's steps in shard order: each kept shard, and waves of planned shards of at least
    ``wave_sentences`` lines (the last one shorter); ends early once ``stop`` is set."""
    pending: list[Shard] = []
    for index, chunk in enumerate(shards_of(lines, settings.shard_size)):
        if stop.is_set():
            return
        if folder.is_done(index, len(chunk), chunk[0].sentence_id, chunk[-1].sentence_id):
            yield Kept(index, len(chunk))
            continue
        shard = Shard(index, chunk)
        shard.batches, shard.skipped = plan_batches(model, chunk, settings.batch_size, settings.max_batch_tokens)
        pending.append(shard)
        if sum(len(s.lines) for s in pending) >= wave_sentences:
            yield pending
            pending = []
    if pending:
        yield pending


def run_wave(shards: list[Shard], engine: Any, folder: ResultFolder, bar: Progress, in_order: ShardsInOrder) -> int:
    """Run ``shards``' batches on ``engine``; each shard is written, and given to the summary, as soon as
    its last batch is back."""
    waiting = {s.index: s for s in shards}
    tables: dict[int, list[pa.Table]] = {s.index: [] for s in shards}
    left = {s.index: len(s.batches) for s in shards}

    def finish_if_complete(index: int) -> None:
        if left[index] == 0:
            shard, rows = waiting.pop(index), sorted_rows(tables.pop(index))
            folder.finish_shard(index, rows, shard.record())
            in_order.add(index, rows)
            bar.update(len(shard.skipped), computed=False)

    for s in shards:
        finish_if_complete(s.index)  # a shard whose every line was skipped has nothing to run
    work = [Work(s.index, j, batch) for s in shards for j, batch in enumerate(s.batches)]
    for shard, batch, rows in engine.run(work):
        tables[shard].append(rows)
        left[shard] -= 1
        bar.update(len(waiting[shard].batches[batch]))
        finish_if_complete(shard)
    if waiting:
        raise RuntimeError(f"the engine returned no rows for shards {sorted(waiting)}")
    return len(shards)


def finish(folder: ResultFolder, n_shards: int, computed: int, empty: int, in_order: ShardsInOrder,
           seconds: float) -> JobResult:
    """Summary, strongest sentences and the skipped lines of every shard; the manifest's result."""
    if in_order.next != n_shards or in_order.held:
        raise RuntimeError(f"the summary holds shards up to {in_order.next} of {n_shards}")
    summary, sentences, truncated = in_order.summary, in_order.sentences, in_order.truncated
    skipped = [s for index in range(n_shards) for s in folder.shards[str(index)]["skipped"]]
    write_table(table_of(summary.summary(), SUMMARY_SCHEMA), folder.out / SUMMARY)
    write_table(table_of(summary.strongest(), TOP_SCHEMA), folder.out / TOP)
    write_table(table_of(pd.DataFrame(skipped, columns=["sentence_id", "reason", "text"]), SKIPPED_SCHEMA),
                folder.out / SKIPPED)
    result = JobResult(folder.out, n_shards, computed, sentences, len(skipped), empty, truncated, seconds)
    folder.manifest["result"] = {"shards": n_shards, "sentences": sentences, "skipped": len(skipped),
                                 "empty_lines": empty, "truncated": truncated,
                                 "files": [PARTS + "/", SUMMARY, TOP, SKIPPED]}
    folder.save()
    return result
