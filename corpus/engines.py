"""Where the per-batch function runs: in this process, or on Ray Data.

An engine takes ``Work`` items (one planned batch each) and yields ``(shard, batch, rows)`` as each
batch finishes, in any order, the rows an Arrow table of ``ROW_SCHEMA``; the job puts rows back in
order. Both engines call ``corpus.batches.batch_table`` on the same batches, so they write the same
Parquet.

The Ray engine is the batch-inference pattern: ``ray.data.from_items(work).map_batches(ModelActor,
concurrency=workers)``, where each actor loads the model once and then runs batch after batch. Ray
is imported only inside it, so the in-process engine, the dashboard and the tests never need Ray.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import torch

import model as model_package
from corpus.batches import ROW_SCHEMA, batch_table
from model.loading import load_model
from model.types import LoadedModel

RAY_HINT = "pip install 'ray[data]==2.60.0'"
CONNECT_TIMEOUT_S = 5.0
LOCAL_OBJECT_STORE_BYTES = 256 * 1024**2  # rows per batch are kilobytes: a small store leaves memory to the model


class EngineUnavailable(RuntimeError):
    """The engine cannot start (Ray missing, a cluster unreachable); the message says why, in one line."""


@dataclass(frozen=True)
class Work:
    shard: int
    batch: int
    items: list[tuple[int, str]]  # (sentence_id, text)


Done = tuple[int, int, pa.Table]  # (shard, batch, rows)


class InProcessEngine:
    """Runs every batch here, one after another, on the job's own model."""

    name = "in-process"
    wave_sentences = 1  # one shard at a time: nothing is held beyond the shard being computed

    def __init__(self, model: LoadedModel) -> None:
        self.model = model

    def __enter__(self) -> InProcessEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def run(self, work: Iterable[Work]) -> Iterator[Done]:
        for w in work:
            yield w.shard, w.batch, batch_table(self.model, w.items)


class ModelActor:
    """A Ray Data worker: loads the model once, then turns each block of ``Work`` rows into statistics rows."""

    def __init__(self, model_name: str, threads: int) -> None:
        torch.set_num_threads(threads)  # workers share the machine's cores: one thread each unless told
        self.model = load_model(model_name)

    def __call__(self, block: pd.DataFrame) -> pa.Table:
        tables = []
        for shard, batch, items in zip(block["shard"], block["batch"], block["items"], strict=True):
            # the driver has the texts: sending each back once per head would be most of the bytes
            rows = batch_table(self.model, [(int(i), t) for i, t in json.loads(items)]).drop_columns("text")
            n = rows.num_rows  # how many rows this batch has, so the driver knows when all have come back
            tables.append(rows.append_column("shard", pa.array(np.full(n, int(shard), dtype=np.int64)))
                          .append_column("batch", pa.array(np.full(n, int(batch), dtype=np.int64)))
                          .append_column("batch_rows", pa.array(np.full(n, n, dtype=np.int64))))
        return pa.concat_tables(tables)


def check_reachable(address: str) -> None:
    """A quick TCP check of ``host:port`` (or ``ray://host:port``): Ray itself retries for minutes."""
    if address == "auto":
        return
    hostport = address.removeprefix("ray://").rsplit(":", 1)
    if len(hostport) != 2 or not hostport[1].isdigit():
        raise EngineUnavailable(f"--address {address!r} is not host:port, ray://host:port or auto")
    try:
        socket.create_connection((hostport[0], int(hostport[1])), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise EngineUnavailable(f"no Ray cluster answers at {address}: {exc.strerror or exc}") from None


@contextmanager
def pythonpath_first(folder: Path) -> Iterator[None]:
    """``PYTHONPATH`` with ``folder`` first while the block runs (processes started in it inherit it)."""
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(folder), *([before] if before else [])])
    try:
        yield
    finally:
        if before is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = before


class RayEngine:
    """Runs batches on Ray Data: a local Ray started for the job, or the cluster at ``address``."""

    name = "ray"
    # sentences per Ray dataset. Each wave starts its actors afresh (3.3 s on a 2-core machine, under 1% of
    # a wave's work), and the job plans the next wave while this one runs: the driver holds two waves'
    # texts and batches (about 30 MB a wave)
    wave_sentences = 100_000

    def __init__(self, model_name: str, workers: int = 1, threads: int = 1, address: str | None = None) -> None:
        try:
            import ray  # lazy: only this engine needs Ray, which is an optional install
        except ImportError:
            raise EngineUnavailable(f"--engine ray needs Ray, which is not installed: {RAY_HINT}") from None
        self.ray = ray
        self.model_name, self.workers, self.threads, self.address = model_name, workers, threads, address
        if address:
            check_reachable(address)

    def __enter__(self) -> RayEngine:
        ray = self.ray
        repo = Path(model_package.__file__).resolve().parent.parent
        try:
            if self.address:
                # the project's packages travel with the job, so a cluster's workers need only its requirements
                runtime_env = {"py_modules": [str(repo / "model"), str(repo / "corpus")]}
                ray.init(address=self.address, runtime_env=runtime_env, logging_level="ERROR",
                         log_to_driver=False)
            else:
                # local workers import the packages from this checkout, beside the assets they read. They
                # inherit it through the environment Ray starts with rather than a runtime_env: a
                # runtime_env's workers are started afresh, not taken from the ones Ray has started already
                with pythonpath_first(repo):
                    ray.init(num_cpus=self.workers, include_dashboard=False,
                             object_store_memory=LOCAL_OBJECT_STORE_BYTES, logging_level="ERROR",
                             log_to_driver=False)
        except Exception as exc:  # ConnectionError, RuntimeError, ValueError: all mean no cluster to run on
            raise EngineUnavailable(f"Ray could not start: {str(exc).splitlines()[0] if str(exc) else exc!r}") \
                from None
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # the job draws its own bar
        context.print_on_execution_start = False
        logging.getLogger("ray.data").setLevel(logging.ERROR)  # its notes would break the job's bar
        return self

    def __exit__(self, *exc: object) -> None:
        self.ray.shutdown()

    def run(self, work: Iterable[Work]) -> Iterator[Done]:
        work = list(work)
        texts = {sentence_id: text for w in work for sentence_id, text in w.items}
        items = [{"shard": w.shard, "batch": w.batch, "items": json.dumps(w.items)} for w in work]
        if not items:
            return
        # max_restarts=0: a lost worker fails the job (the rerun resumes it) rather than restarting from
        # constructor arguments Ray may have dropped, which Ray 2.60 warns about on every start; it has no
        # named parameter for it yet, and warns that the generic one is deprecated
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated")
            ds = self.ray.data.from_items(items).map_batches(
                ModelActor, fn_constructor_kwargs={"model_name": self.model_name, "threads": self.threads},
                batch_size=1, batch_format="pandas", compute=self.ray.data.ActorPoolStrategy(size=self.workers),
                num_cpus=1, max_restarts=0)
        partial: dict[int, list[pa.Table]] = {}  # rows of batches not all back yet, by shard << 32 | batch
        # Arrow blocks all the way: a batch's rows are never turned into pandas in the job's process, whose
        # CPU time the workers share on a small machine
        for block in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
            keys = block["shard"].to_numpy() << 32 | block["batch"].to_numpy()  # one int64 per (shard, batch)
            for key in np.unique(keys).tolist():
                same = keys == key
                partial.setdefault(key, []).append(block if same.all() else block.filter(pa.array(same)))
                got = pa.concat_tables(partial[key])
                if got.num_rows == got["batch_rows"][0].as_py():
                    del partial[key]
                    # a batch's few sentences looked up once each, then spread over their rows
                    ids, row = np.unique(got["sentence_id"].to_numpy(), return_inverse=True)
                    text = pa.array([texts[int(i)] for i in ids], pa.string()).take(pa.array(row))
                    yield key >> 32, key & 0xFFFFFFFF, \
                        got.append_column("text", text).select(ROW_SCHEMA.names).cast(ROW_SCHEMA)
