"""The corpus job: every head's statistics over a corpus file, one Parquet row per sentence and head.

``python -m corpus run FILE --model minilm --out DIR`` reads FILE (text, JSONL or Parquet),
computes ``model.statistics`` per batch in-process or on Ray (``corpus.engines``), writes the
rows in shards that a rerun resumes from (``corpus.shards``), then a summary per head and each
head's strongest sentences (``corpus.results``). The per-batch function is ``corpus.batches``.
"""

from corpus.job import JobError, JobSettings, run_job
from corpus.reading import InputError

__all__ = ["InputError", "JobError", "JobSettings", "run_job"]
