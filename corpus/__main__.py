"""``python -m corpus run FILE --model minilm --out DIR``: head statistics over a corpus, as Parquet.

Exit status 0 when the result is complete, 2 when the job cannot start (a missing or binary FILE, an
--out that is a file, an unknown model, Ray missing or a cluster unreachable) with one line saying
why, 130 after Ctrl-C (rerun the same command to continue from the finished shards).
"""

from __future__ import annotations

import argparse
import sys

import torch

from corpus.engines import EngineUnavailable, InProcessEngine, RayEngine
from corpus.job import JobError, JobSettings, run_job
from corpus.reading import CorpusFile, InputError
from corpus.shards import FolderError
from model.errors import ModelLoadError
from model.loading import load_model

USAGE_ERROR = 2
INTERRUPTED = 130


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m corpus", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="compute every head's statistics over FILE into DIR (resumable)")
    run.add_argument("file", metavar="FILE", help="text (one sentence a line), .jsonl (text field) or .parquet "
                                                  "(text column)")
    run.add_argument("--out", required=True, metavar="DIR", help="result folder; rerun to resume it")
    run.add_argument("--model", default="minilm", help="a model load_model takes (default: minilm)")
    run.add_argument("--engine", choices=["inprocess", "ray"], default="inprocess")
    run.add_argument("--workers", type=positive, default=1, help="Ray workers, each loading the model once")
    run.add_argument("--address", help="an existing Ray cluster (host:port, ray://host:port or auto); "
                                       "default: a local Ray started for the job")
    run.add_argument("--threads", type=positive,
                     help="torch threads: in-process, default all cores; per Ray worker, default 1 (workers "
                          "already share the cores)")
    run.add_argument("--shard-size", type=positive, default=1000, help="sentences per resumable shard")
    run.add_argument("--batch-size", type=positive, default=JobSettings.batch_size, help="sentences per forward pass")
    run.add_argument("--limit", type=positive, help="read only the first N sentences")
    run.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        corpus = CorpusFile(args.file)
        if args.engine == "ray":
            engine = RayEngine(args.model, args.workers, args.threads or 1, args.address)  # Ray checked first
        if args.threads:
            torch.set_num_threads(args.threads)
        model = load_model(args.model)
        if args.engine == "inprocess":
            engine = InProcessEngine(model)
        settings = JobSettings(model=args.model, shard_size=args.shard_size, batch_size=args.batch_size)
        with engine:
            result = run_job(corpus, args.out, settings, model, engine, limit=args.limit,
                             progress=not args.no_progress)
    except (InputError, FolderError, JobError, ModelLoadError, EngineUnavailable) as exc:
        print(f"python -m corpus: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        print(f"\nInterrupted: finished shards are kept in {args.out}; run the same command again to continue.",
              file=sys.stderr)
        return INTERRUPTED
    timing = f"{result.seconds:.1f} s"
    if result.steady_rate is not None:
        timing += f": first batch after {result.first_wait:.1f} s, then {result.steady_rate:.1f} sentences/s"
    print(f"{result.sentences:,} sentences in {result.shards} shards ({result.computed} computed now, "
          f"{timing}); {result.skipped} skipped, {result.empty} empty lines, "
          f"{result.truncated} truncated -> {result.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
